//! `yunying ae`: the AE registry from the command line. The registry's
//! rules (titles, hosts, ports) are the index's, shared with the
//! administration API; the command line also refuses an institution code
//! nothing knows, the likely typo.

use clap::Subcommand;
use yunying_index::{Index, RemoteAe};

use crate::config::Config;
use crate::recorder;

#[derive(Subcommand)]
pub enum AeCommand {
    /// List the registered AEs.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Register an AE (or change the one with the same title).
    Add {
        /// AE title (1-16 characters).
        title: String,
        /// Host name or address.
        host: String,
        /// DICOM port.
        port: u16,
        /// Institution code the AE belongs to: its queries and retrievals
        /// reach that institution's studies (and its grants), what it
        /// stores is that institution's.
        #[arg(long, required_unless_present = "platform")]
        institution: Option<String>,
        /// The AE speaks for the whole platform (a regional PACS): its
        /// queries and retrievals reach every study.
        #[arg(long, conflicts_with = "institution")]
        platform: bool,
        /// The institution is new: no configuration, account, key, AE or
        /// stored patient names it yet (without this, an unknown code is
        /// refused as a likely typo).
        #[arg(long, requires = "institution")]
        new_institution: bool,
        /// What the AE may do when it calls from HOST: a comma-separated
        /// subset of store, find, move, get, commit; `none` for a
        /// destination only.
        #[arg(long, default_value = "all", value_parser = parse_rights)]
        allow: yunying_index::AeRights,
        /// SHA-256 of the TLS client certificate the AE must present (hex,
        /// colons allowed: `openssl x509 -noout -fingerprint -sha256`);
        /// without it the AE is treated as unregistered. `none` removes
        /// the binding; not given: the binding stays as it is.
        #[arg(long, value_name = "HEX", value_parser = parse_cert_sha256)]
        cert_sha256: Option<CertBinding>,
    },
    /// Remove an AE.
    Remove { title: String },
}

pub async fn run(config: &Config, index: &Index, audit: &yunying_audit::Audit, command: AeCommand) -> anyhow::Result<()> {
    match command {
        AeCommand::List { json } => {
            let aes = index.remote_aes().await?;
            let certs: std::collections::HashMap<String, String> =
                index.ae_certificates().await?.into_iter().map(|(title, d)| (title, hex::encode(d))).collect();
            if json {
                let mut list = serde_json::to_value(&aes)?;
                for ae in list.as_array_mut().into_iter().flatten() {
                    let cert = ae["ae_title"].as_str().and_then(|t| certs.get(t)).cloned();
                    ae["cert_sha256"] = cert.map_or(serde_json::Value::Null, serde_json::Value::String);
                }
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if aes.is_empty() {
                println!("no AEs registered (add one with `yunying ae add TITLE HOST PORT`)");
            } else {
                println!("{:<16}  {:<32}  {:>5}  {:<26}  institution", "AE title", "host", "port", "allowed");
                for ae in aes {
                    println!("{:<16}  {:<32}  {:>5}  {:<26}  {}", ae.ae_title, ae.host, ae.port, ae.rights.to_string(), ae.institution);
                    if let Some(cert) = certs.get(&ae.ae_title) {
                        println!("{:<16}  certificate SHA-256 {cert}", "");
                    }
                }
            }
        }
        AeCommand::Add { title, host, port, institution, platform: _, new_institution, allow, cert_sha256 } => {
            let institution = institution.unwrap_or_default();
            let ae = RemoteAe { ae_title: title.trim().to_string(), host: host.trim().to_string(), port, institution, rights: allow };
            ae.validate().map_err(anyhow::Error::msg)?;
            if !ae.institution.is_empty() && !new_institution && !institution_known(config, index, &ae.institution).await? {
                anyhow::bail!(
                    "no institution {:?} is configured or in use (accounts, keys, AEs, stored patients): check the code, or add --new-institution",
                    ae.institution
                );
            }
            let title = ae.ae_title.clone();
            let detail = format!("AE {title} at {}:{port} for {:?} may {allow}", ae.host, ae.institution);
            index.put_remote_ae(&ae).await?;
            recorder::cli_event(audit, "ae-registered", &detail).await?;
            if let Some(CertBinding(cert)) = cert_sha256 {
                index.set_ae_certificate(&title, cert).await?;
                let bound = cert.map_or("no certificate".to_string(), |c| format!("certificate SHA-256 {}", hex::encode(c)));
                recorder::cli_event(audit, "ae-certificate-set", &format!("AE {title}: {bound}")).await?;
            }
            println!("registered {title} (allowed: {allow})");
        }
        AeCommand::Remove { title } => {
            if !index.remove_remote_ae(title.trim()).await? {
                anyhow::bail!("no AE titled {:?} is registered", title.trim());
            }
            recorder::cli_event(audit, "ae-removed", &format!("AE {}", title.trim())).await?;
            println!("removed {}", title.trim());
        }
    }
    Ok(())
}

/// `--cert-sha256`: a certificate's SHA-256, or none.
#[derive(Clone, Copy)]
pub struct CertBinding(Option<[u8; 32]>);

fn parse_cert_sha256(text: &str) -> Result<CertBinding, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(CertBinding(None));
    }
    yunying_tls::parse_sha256(text).map(|d| CertBinding(Some(d)))
}

fn parse_rights(text: &str) -> Result<yunying_index::AeRights, String> {
    yunying_index::AeRights::parse(text)
}

/// Whether `code` names an institution: configured, the default one, or
/// in use in the index.
async fn institution_known(config: &Config, index: &Index, code: &str) -> anyhow::Result<bool> {
    let archive = &config.archive;
    if archive.default_institution == code || archive.institutions.iter().any(|i| i.code == code) {
        return Ok(true);
    }
    Ok(index.institution_in_use(code).await?)
}
