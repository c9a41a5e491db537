//! `yunying empi`: a person's identities and studies across institutions,
//! and undoing a merge (an unmerge puts back exactly what it moved).

use clap::Subcommand;
use yunying_persons::Persons;

#[derive(Subcommand, Debug)]
pub enum EmpiCommand {
    /// The person an identity belongs to: every linked identity (national
    /// IDs masked) and every study of each, newest first, as JSON.
    Person {
        /// The institution that issued the Patient ID.
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        patient_id: String,
    },
    /// Merge the prior identity's person into the survivor's (prints the
    /// operation id).
    Merge {
        /// Prior identity, `ISSUER/PATIENTID`.
        prior: String,
        /// Surviving identity, `ISSUER/PATIENTID`.
        survivor: String,
    },
    /// Undo an operation (a merge, a link, an unlink) by its id.
    Unmerge { operation: String },
    /// Link the identities waiting for a decision now (the server's linker
    /// does this on its own).
    Link,
}

fn split(identity: &str) -> anyhow::Result<(&str, &str)> {
    identity.split_once('/').ok_or_else(|| anyhow::anyhow!("an identity is ISSUER/PATIENTID"))
}

pub async fn run(persons: &Persons, command: EmpiCommand) -> anyhow::Result<()> {
    match command {
        EmpiCommand::Person { issuer, patient_id } => {
            let Some(person) = persons.person_of(&issuer, &patient_id).await? else {
                anyhow::bail!("that identity is not linked to a person (yet)");
            };
            println!("{}", serde_json::to_string_pretty(&persons.person(person).await?)?);
        }
        EmpiCommand::Merge { prior, survivor } => {
            let op = persons.merge(split(&prior)?, split(&survivor)?, "cli", "cli").await?;
            println!("{op}");
        }
        EmpiCommand::Unmerge { operation } => {
            let op = persons.unmerge(&operation, "cli").await?;
            println!("{op}");
        }
        EmpiCommand::Link => {
            let holder = format!("cli:{}", std::process::id());
            loop {
                match persons.link_pending(&holder).await? {
                    None => anyhow::bail!("a server holds the linker's lease; it links on its own"),
                    Some(round) if round == Default::default() => break,
                    Some(round) => println!("{round:?}"),
                }
            }
        }
    }
    Ok(())
}
