//! The AE registry: remote DICOM applications by AE title: where we open
//! associations to (C-MOVE destinations, storage commitment requesters,
//! film imports) and what each may ask of us when it calls (its rights).
//!
//! It lives in the index so that every node of a cluster sees the same
//! registry and `yunying ae add` works while the server runs: the DICOM
//! service reads an AE's entry afresh for every association it accepts.

use crate::{Index, Result};

/// A remote application entity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteAe {
    pub ae_title: String,
    pub host: String,
    pub port: u16,
    /// Institution code the AE belongs to ('' when not set).
    pub institution: String,
    /// What the AE may do when it calls us (C-ECHO needs no right).
    pub rights: AeRights,
}

impl RemoteAe {
    /// The registry's rules for an entry, whoever registers it (command
    /// line or administration API): a valid AE title, a host name or
    /// address, a non-zero port.
    pub fn validate(&self) -> std::result::Result<(), String> {
        check_ae_title(&self.ae_title)?;
        check_host(&self.host)?;
        if self.port == 0 {
            return Err("the AE needs a non-zero port".into());
        }
        Ok(())
    }
}

/// An AE title (PS3.5 AE): 1 to 16 printable ASCII characters, no
/// backslash (it separates values), not only spaces.
pub fn check_ae_title(title: &str) -> std::result::Result<(), String> {
    let ok = !title.trim().is_empty() && title.len() <= 16 && title.bytes().all(|b| (0x20..0x7F).contains(&b) && b != b'\\');
    if ok { Ok(()) } else { Err(format!("an AE title is 1 to 16 printable ASCII characters without backslash: {title:?}")) }
}

/// A host to open associations to: an IP address, or a DNS name (labels of
/// letters, digits and hyphens, at most 63 characters each and 253 in all,
/// no hyphen at either end of a label).
pub fn check_host(host: &str) -> std::result::Result<(), String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !l.starts_with('-') && !l.ends_with('-')
    };
    if !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("{host:?} is neither an IP address nor a host name"))
    }
}

/// Services a calling AE may use: a subset of store (C-STORE), find
/// (C-FIND), move (C-MOVE), get (C-GET) and commit (storage commitment).
/// Written as a comma-separated list of those names ("none" for the empty
/// set, as for an AE that is only a destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AeRights(u8);

impl AeRights {
    pub const STORE: AeRights = AeRights(1);
    pub const FIND: AeRights = AeRights(2);
    pub const MOVE: AeRights = AeRights(4);
    pub const GET: AeRights = AeRights(8);
    pub const COMMIT: AeRights = AeRights(16);
    pub const NONE: AeRights = AeRights(0);
    pub const ALL: AeRights = AeRights(31);
    const NAMES: [(&'static str, AeRights); 5] =
        [("store", Self::STORE), ("find", Self::FIND), ("move", Self::MOVE), ("get", Self::GET), ("commit", Self::COMMIT)];

    /// Whether every right of `other` is in `self`.
    pub fn contains(self, other: AeRights) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: AeRights) -> AeRights {
        AeRights(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parse "store,find" (spaces allowed), "all" or "none".
    pub fn parse(text: &str) -> std::result::Result<AeRights, String> {
        let mut rights = AeRights::NONE;
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            rights = match word.to_ascii_lowercase().as_str() {
                "none" => rights,
                "all" => AeRights::ALL,
                w => match Self::NAMES.iter().find(|(n, _)| *n == w) {
                    Some((_, r)) => rights.union(*r),
                    None => return Err(format!("unknown right {word:?} (expected store, find, move, get, commit, all or none)")),
                },
            };
        }
        Ok(rights)
    }
}

impl std::fmt::Display for AeRights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = Self::NAMES.iter().filter(|(_, r)| self.contains(*r)).map(|(n, _)| *n).collect();
        f.write_str(if names.is_empty() { "none" } else { "" })?;
        f.write_str(&names.join(","))
    }
}

impl serde::Serialize for AeRights {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(Self::NAMES.iter().filter(|(_, r)| self.contains(*r)).map(|(n, _)| *n))
    }
}

impl Index {
    /// Add an AE, or replace the entry with the same title.
    pub async fn put_remote_ae(&self, ae: &RemoteAe) -> Result<()> {
        let now = time_now();
        sqlx::query(
            "INSERT INTO remote_aes (ae_title, host, port, institution, added_at, rights) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (ae_title) DO UPDATE SET host = excluded.host, port = excluded.port,
                 institution = excluded.institution, added_at = excluded.added_at, rights = excluded.rights",
        )
        .bind(ae.ae_title.as_str())
        .bind(ae.host.as_str())
        .bind(ae.port as i64)
        .bind(ae.institution.as_str())
        .bind(now)
        .bind(ae.rights.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Remove an AE; false when there was none with that title.
    pub async fn remove_remote_ae(&self, ae_title: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM remote_aes WHERE ae_title = $1").bind(ae_title).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// The AE registered under a title.
    pub async fn remote_ae(&self, ae_title: &str) -> Result<Option<RemoteAe>> {
        let row: Option<Row> = sqlx::query_as("SELECT ae_title, host, port, institution, rights FROM remote_aes WHERE ae_title = $1")
            .bind(ae_title)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(into_ae))
    }

    /// Whether an institution code is in use anywhere in the index: an
    /// issuer of stored patients, an account's, an API key's or a
    /// registered AE's institution. (Configured institutions are known to
    /// the configuration, not here.)
    pub async fn institution_in_use(&self, code: &str) -> Result<bool> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT CAST(1 AS BIGINT) FROM patients WHERE issuer = $1
             UNION ALL SELECT CAST(1 AS BIGINT) FROM users WHERE institution = $1
             UNION ALL SELECT CAST(1 AS BIGINT) FROM api_keys WHERE institution = $1
             UNION ALL SELECT CAST(1 AS BIGINT) FROM remote_aes WHERE institution = $1
             LIMIT 1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Every registered AE, by title.
    pub async fn remote_aes(&self) -> Result<Vec<RemoteAe>> {
        let rows: Vec<Row> = sqlx::query_as("SELECT ae_title, host, port, institution, rights FROM remote_aes ORDER BY ae_title")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(into_ae).collect())
    }
}

type Row = (String, String, i64, String, String);

fn into_ae((ae_title, host, port, institution, rights): Row) -> RemoteAe {
    // A value this version cannot read grants nothing.
    let rights = AeRights::parse(&rights).unwrap_or(AeRights::NONE);
    RemoteAe { ae_title, host, port: port.clamp(0, u16::MAX as i64) as u16, institution, rights }
}

fn time_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    secs.to_string()
}

#[cfg(test)]
mod tests {
    use super::{AeRights, RemoteAe};
    use crate::Index;

    #[tokio::test]
    async fn rights_are_stored_and_rows_without_them_keep_every_right() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open_sqlite(&dir.path().join("i.sqlite")).await.unwrap();
        let ae = |title: &str, rights| RemoteAe {
            ae_title: title.into(),
            host: "10.0.0.1".into(),
            port: 104,
            institution: String::new(),
            rights,
        };
        index.put_remote_ae(&ae("FINDER", AeRights::FIND)).await.unwrap();
        index.put_remote_ae(&ae("DEST", AeRights::NONE)).await.unwrap();
        assert_eq!(index.remote_ae("FINDER").await.unwrap().unwrap().rights, AeRights::FIND);
        assert_eq!(index.remote_ae("DEST").await.unwrap().unwrap().rights, AeRights::NONE);
        index.put_remote_ae(&ae("FINDER", AeRights::ALL)).await.unwrap();
        assert_eq!(index.remote_ae("FINDER").await.unwrap().unwrap().rights, AeRights::ALL);
        // A row written as before the rights column (an AE registered
        // before this version) keeps every right it had.
        sqlx::query("INSERT INTO remote_aes (ae_title, host, port) VALUES ('OLD', 'h', 104)").execute(&index.pool).await.unwrap();
        assert_eq!(index.remote_ae("OLD").await.unwrap().unwrap().rights, AeRights::ALL);
    }

    #[test]
    fn rights_parse_and_print() {
        let r = AeRights::parse("find, move").unwrap();
        assert!(r.contains(AeRights::FIND) && r.contains(AeRights::MOVE) && !r.contains(AeRights::STORE));
        assert_eq!(r.to_string(), "find,move");
        assert_eq!(AeRights::parse("all").unwrap(), AeRights::ALL);
        assert_eq!(AeRights::ALL.to_string(), "store,find,move,get,commit");
        assert_eq!(AeRights::parse("none").unwrap().to_string(), "none");
        assert_eq!(AeRights::parse("").unwrap(), AeRights::NONE);
        assert!(AeRights::parse("find,delete").is_err());
    }
}
