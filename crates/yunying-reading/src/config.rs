//! `[reading]`: remote reading's settings and the relationships and
//! templates it starts with.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ReadingError;
use crate::model::{Relationship, Template};

/// Settings of remote reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadingConfig {
    /// Relationships stored when none is (the API replaces them).
    pub relationships: Vec<Relationship>,
    /// Templates stored when none is; the built-in zh-CN set when empty.
    pub templates: Vec<Template>,
    /// How long a request's grant lasts, in days.
    pub grant_days: u32,
    /// Most priors (the patient's other studies, across institutions)
    /// opened to the reading institution with a request.
    pub max_priors: u32,
    /// A study is routed this long after its last instance arrived.
    pub settle_secs: u32,
    /// The font the report PDF is set in (a TrueType/OpenType file or
    /// collection with Chinese glyphs); searched for when not set.
    pub font: Option<PathBuf>,
    /// The local time of reports (minutes east of UTC; China: 480).
    pub utc_offset_minutes: i32,
    /// The shared secret each requesting institution's webhook checks
    /// (`X-Yunying-Signature`, as the recognition webhooks sign).
    pub webhook_secrets: Vec<WebhookSecret>,
}

/// `[[reading.webhook_secrets]]`: the webhooks of `institution`'s
/// relationships are signed with the secret in `secret_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSecret {
    pub institution: String,
    pub secret_file: PathBuf,
}

impl ReadingConfig {
    /// The webhook secrets by institution, read from their files (at
    /// start: a missing or empty file stops the server, it does not send
    /// unsigned).
    pub fn read_webhook_secrets(&self) -> Result<std::collections::BTreeMap<String, Vec<u8>>, ReadingError> {
        let mut out = std::collections::BTreeMap::new();
        for w in &self.webhook_secrets {
            let text = std::fs::read_to_string(&w.secret_file)
                .map_err(|e| ReadingError::Invalid(format!("[[reading.webhook_secrets]] {}: {e}", w.secret_file.display())))?;
            let secret = text.trim().as_bytes().to_vec();
            if secret.len() < 16 {
                return Err(ReadingError::Invalid(format!(
                    "[[reading.webhook_secrets]] {}: a secret of at least 16 characters",
                    w.secret_file.display()
                )));
            }
            out.insert(w.institution.clone(), secret);
        }
        Ok(out)
    }
}

impl Default for ReadingConfig {
    fn default() -> Self {
        ReadingConfig {
            relationships: Vec::new(),
            templates: Vec::new(),
            grant_days: 30,
            max_priors: 10,
            settle_secs: 10,
            font: None,
            utc_offset_minutes: 480,
            webhook_secrets: Vec::new(),
        }
    }
}

impl ReadingConfig {
    pub fn check(&self) -> Result<(), ReadingError> {
        for r in &self.relationships {
            r.check()?;
        }
        for t in &self.templates {
            t.check()?;
        }
        if self.grant_days == 0 || self.grant_days > 3650 {
            return Err(ReadingError::Invalid("[reading] grant_days is 1 to 3650".into()));
        }
        if self.max_priors > 100 {
            return Err(ReadingError::Invalid("[reading] max_priors is at most 100".into()));
        }
        if self.settle_secs > 3600 {
            return Err(ReadingError::Invalid("[reading] settle_secs is at most 3600".into()));
        }
        if self.utc_offset_minutes.abs() > 14 * 60 {
            return Err(ReadingError::Invalid("[reading] utc_offset_minutes is -840 to 840".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for w in &self.webhook_secrets {
            if w.institution.is_empty() || w.institution.len() > 64 || !seen.insert(w.institution.as_str()) {
                return Err(ReadingError::Invalid(format!(
                    "[[reading.webhook_secrets]]: one secret per institution, named ({:?})",
                    w.institution
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(secrets: Vec<WebhookSecret>) -> ReadingConfig {
        ReadingConfig { webhook_secrets: secrets, ..Default::default() }
    }

    #[test]
    fn a_webhook_secret_is_read_trimmed_and_refused_when_missing_short_or_twice() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "  a-shared-secret-of-24-ch\n").unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "too-short\n").unwrap();
        let town = |file: &std::path::Path| WebhookSecret { institution: "TOWN".into(), secret_file: file.to_path_buf() };

        let read = with(vec![town(&good)]).read_webhook_secrets().unwrap();
        assert_eq!(read.get("TOWN").map(Vec::as_slice), Some(&b"a-shared-secret-of-24-ch"[..]));
        assert!(with(vec![town(&short)]).read_webhook_secrets().is_err(), "a secret under 16 characters");
        assert!(with(vec![town(&dir.path().join("absent"))]).read_webhook_secrets().is_err(), "a missing file");
        assert!(with(vec![town(&good), town(&good)]).check().is_err(), "one secret per institution");
        let unnamed = WebhookSecret { institution: String::new(), secret_file: good.clone() };
        assert!(with(vec![unnamed]).check().is_err(), "an institution named");
        assert!(with(vec![town(&good)]).check().is_ok());
    }
}
