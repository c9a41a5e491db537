//! Certificates bound to registered AEs: an AE with one registered
//! (`yunying ae add … --cert-sha256 HEX`) is recognised only on an
//! association over TLS whose client certificate has that SHA-256. Kept
//! beside the AE's registry row (`remote_aes.cert_sha256`), so removing the
//! AE removes it; registering the AE again leaves it as it is.

use crate::{Index, Result};

impl Index {
    /// Bind a certificate (its SHA-256) to a registered AE, or (None) drop
    /// the binding; false when no AE has that title.
    pub async fn set_ae_certificate(&self, ae_title: &str, sha256: Option<[u8; 32]>) -> Result<bool> {
        let hex = sha256.map(|d| d.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let done =
            sqlx::query("UPDATE remote_aes SET cert_sha256 = $2 WHERE ae_title = $1").bind(ae_title).bind(hex).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// The certificate a registered AE must present, if one is bound to it.
    /// A value this version cannot read binds a certificate nobody has.
    pub async fn ae_certificate(&self, ae_title: &str) -> Result<Option<[u8; 32]>> {
        let hex: Option<Option<String>> =
            sqlx::query_scalar("SELECT cert_sha256 FROM remote_aes WHERE ae_title = $1").bind(ae_title).fetch_optional(&self.pool).await?;
        Ok(hex.flatten().map(|h| parse_hex(&h).unwrap_or([0; 32])))
    }

    /// Every AE with a certificate bound to it: (title, SHA-256).
    pub async fn ae_certificates(&self) -> Result<Vec<(String, [u8; 32])>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT ae_title, cert_sha256 FROM remote_aes WHERE cert_sha256 IS NOT NULL ORDER BY ae_title")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(title, hex)| (title, parse_hex(&hex).unwrap_or([0; 32]))).collect())
    }
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use crate::{AeRights, Index, RemoteAe};

    #[tokio::test]
    async fn a_certificate_binds_to_an_ae_and_survives_registering_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open_sqlite(&dir.path().join("i.sqlite")).await.unwrap();
        let ae = RemoteAe { ae_title: "CT1".into(), host: "10.0.0.1".into(), port: 104, institution: String::new(), rights: AeRights::ALL };
        assert!(!index.set_ae_certificate("CT1", Some([7; 32])).await.unwrap(), "no such AE yet");
        index.put_remote_ae(&ae).await.unwrap();
        assert_eq!(index.ae_certificate("CT1").await.unwrap(), None);
        assert!(index.set_ae_certificate("CT1", Some([7; 32])).await.unwrap());
        index.put_remote_ae(&ae).await.unwrap();
        assert_eq!(index.ae_certificate("CT1").await.unwrap(), Some([7; 32]));
        assert_eq!(index.ae_certificates().await.unwrap(), vec![("CT1".to_string(), [7; 32])]);
        assert!(index.set_ae_certificate("CT1", None).await.unwrap());
        assert_eq!(index.ae_certificate("CT1").await.unwrap(), None);
        assert_eq!(index.ae_certificate("NOBODY").await.unwrap(), None);
    }
}
