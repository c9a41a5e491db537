//! The film policy (`[http.film]` in the configuration file: the table
//! keeps its place under `[http]`, where it was before films had a crate of
//! their own) and where SMS codes go.

use serde::{Deserialize, Serialize};

use crate::mask::mask_phone;

/// Policy for cloud films (`[http.film]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilmConfig {
    /// Lifetime of a patient's own film (the retention period), in days.
    pub patient_days: u64,
    /// Default lifetime of a share to a third party, in hours.
    pub share_hours: u64,
    /// Longest lifetime of a share, in hours.
    pub share_max_hours: u64,
    /// Failed verifications that lock a film.
    pub max_failures: i64,
    /// Failed verifications from one client address, over all films, that
    /// block it for `client_window_minutes`.
    pub client_max_failures: i64,
    pub client_window_minutes: u64,
    /// Lifetime of a verified session, in minutes.
    pub session_minutes: u64,
    /// Lifetime of an SMS code, in minutes; least time between two codes, in seconds.
    pub code_minutes: u64,
    pub code_interval_seconds: u64,
    /// Imports of one film into other archives per hour (an import sends
    /// every original: allowed only when the film allows download).
    pub imports_per_hour: i64,
    /// DICOMweb endpoints films can be imported into by STOW-RS (DICOM
    /// destinations are the AE registry: `yunying ae add`).
    pub stow_destinations: Vec<StowDestination>,
    /// Our AE title on imports by C-STORE: the DICOM service's (`dicom.aet`),
    /// set by the binary.
    #[serde(skip)]
    pub calling_aet: String,
    /// The SM4 key (32 hex digits) that phone numbers for SMS codes are
    /// encrypted with (also `YUNYING_FILM_KEY`; unset, the binary keeps one
    /// in the data directory: several nodes must share one). Never printed.
    #[serde(skip_serializing)]
    pub data_key: Option<String>,
}

/// A hospital's STOW-RS endpoint films can be imported into.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StowDestination {
    /// Name shown to the doctor.
    pub name: String,
    /// The DICOMweb root (`http://pacs.hospital-b.cn/dicom-web`); `/studies` is appended.
    pub url: String,
    #[serde(default)]
    pub institution: String,
    /// Bearer token the endpoint requires. Never logged or printed.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
    /// For an `https://` endpoint: a PEM file of the CA certificates that
    /// sign its certificate, trusted instead of the system's roots (a
    /// hospital's own CA). Unset: the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<std::path::PathBuf>,
}

impl Default for FilmConfig {
    fn default() -> Self {
        FilmConfig {
            patient_days: 15 * 365,
            share_hours: 72,
            share_max_hours: 30 * 24,
            max_failures: 5,
            client_max_failures: 20,
            client_window_minutes: 15,
            session_minutes: 30,
            code_minutes: 5,
            code_interval_seconds: 60,
            imports_per_hour: 3,
            stow_destinations: Vec::new(),
            calling_aet: "YUNYING".into(),
            data_key: None,
        }
    }
}

impl FilmConfig {
    /// Refuse a policy that would lock nothing, open films that cannot be
    /// reached, or fail only when the first SMS film is made (a key that
    /// is not 128 bits of hex).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_failures < 1 || self.client_max_failures < 1 || self.client_window_minutes == 0 {
            return Err("http.film.max_failures, client_max_failures and client_window_minutes must be at least 1".into());
        }
        if self.patient_days == 0 || self.share_hours == 0 || self.session_minutes == 0 || self.code_minutes == 0 {
            return Err("http.film.patient_days, share_hours, session_minutes and code_minutes must be at least 1".into());
        }
        if self.share_hours > self.share_max_hours {
            return Err("http.film.share_hours (the default share) must not exceed share_max_hours".into());
        }
        if self.imports_per_hour < 0 {
            return Err("http.film.imports_per_hour must not be negative (0: no imports)".into());
        }
        if let Some(key) = self.data_key.as_deref().filter(|k| !k.is_empty()) {
            let key = key.trim();
            if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("http.film.data_key must be 128 bits: 32 hex digits".into());
            }
        }
        Ok(())
    }
}

/// Where SMS verification codes go. The embedded sender writes them to the
/// log (the only secret the log ever holds, by design of the embedded mode).
pub trait SmsSender: Send + Sync {
    fn send(&self, film_id: &str, phone: &str, code: &str) -> Result<(), String>;
}

/// The embedded mode's sender: the code goes to the log.
pub struct LogSender;

impl SmsSender for LogSender {
    fn send(&self, film_id: &str, phone: &str, code: &str) -> Result<(), String> {
        tracing::info!(film = film_id, to = %mask_phone(phone), code, "SMS verification code (embedded sender: written to the log)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid_and_nonsense_is_refused() {
        assert!(FilmConfig::default().validate().is_ok());
        let with = |f: fn(&mut FilmConfig)| {
            let mut c = FilmConfig::default();
            f(&mut c);
            c.validate()
        };
        assert!(with(|c| c.max_failures = 0).is_err(), "a film that never locks");
        assert!(with(|c| c.share_hours = c.share_max_hours + 1).is_err());
        assert!(with(|c| c.data_key = Some("abc".into())).is_err());
        assert!(with(|c| c.data_key = Some("0123456789abcdeffedcba9876543210".into())).is_ok());
        assert!(with(|c| c.imports_per_hour = 0).is_ok(), "imports may be switched off");
    }

    #[test]
    fn the_toml_keys_are_the_same() {
        let c: FilmConfig = serde_json::from_value(serde_json::json!({
            "patient_days": 10, "client_max_failures": 3, "imports_per_hour": 2,
            "stow_destinations": [{"name": "b", "url": "http://b/dicom-web", "institution": "B"}],
        }))
        .unwrap();
        assert_eq!((c.patient_days, c.client_max_failures, c.imports_per_hour, c.max_failures), (10, 3, 2, 5));
        assert!(serde_json::from_value::<FilmConfig>(serde_json::json!({"unknown": 1})).is_err());
        assert!(!serde_json::to_string(&FilmConfig { data_key: Some("secret".into()), ..c }).unwrap().contains("secret"));
    }
}
