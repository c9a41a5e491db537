//! `yunying key`: API keys for systems (a HIS, a PACS, an OHIF deployment),
//! from the server's own command line: how the first keys exist before a
//! security administrator signs in.

use clap::Subcommand;
use yunying_access::Access;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a key and print it once (it is stored only as a digest).
    Add {
        /// What the key is for ("OHIF at hospital B").
        name: String,
        /// Institution code the key speaks for (its studies, its grants).
        #[arg(long, required_unless_present = "platform")]
        institution: Option<String>,
        /// The key speaks for the whole platform (every study).
        #[arg(long, conflicts_with = "institution")]
        platform: bool,
        /// Comma-separated: dicomweb:read, stow, films:create, empi, recognition, reading.
        #[arg(long)]
        scopes: String,
    },
    /// List keys (their public parts).
    List,
    /// Revoke a key by its id (the part after `yk_`); it stops working on
    /// its next request.
    Revoke { key_id: String },
}

pub async fn run(access: &Access, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Add { name, institution, platform: _, scopes } => {
            let (key, info) = access.create_key(None, &name, institution.as_deref(), &scopes, "cli").await?;
            eprintln!(
                "created key {} for {} ({}); it is shown only now:",
                info.key_id,
                info.institution.as_deref().unwrap_or("the platform"),
                info.scopes
            );
            println!("{key}");
        }
        KeyCommand::List => {
            let keys = access.index().api_keys().await?;
            println!("{:<16}  {:<24}  {:<12}  {:<30}  {:<8}  last used", "id", "name", "institution", "scopes", "state");
            for k in keys {
                let state = if k.revoked_ms.is_some() { "revoked" } else { "live" };
                let last = k.last_used_ms.map_or("never".to_string(), |t| format!("{t}"));
                println!(
                    "{:<16}  {:<24}  {:<12}  {:<30}  {:<8}  {last}",
                    k.key_id,
                    k.name,
                    k.institution.as_deref().unwrap_or("(platform)"),
                    k.scopes,
                    state
                );
            }
        }
        KeyCommand::Revoke { key_id } => {
            access.revoke_key(None, key_id.trim(), "cli").await?;
            println!("revoked {}", key_id.trim());
        }
    }
    Ok(())
}
