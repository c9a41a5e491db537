//! Effective configuration: typed defaults → TOML file → `YUNYING_*`
//! environment variables → command-line flags (each layer overrides the one
//! before). `yunying serve --print-config` shows the result.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use yunying_access::AccessConfig;
use yunying_archive::ArchiveConfig;
use yunying_audit::AuditConfig;
use yunying_dimse::DimseConfig;
use yunying_http::HttpConfig;
use yunying_renditions::RenditionConfig;
use yunying_store::StoreConfig;

/// Everything `yunying` can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded index, the filesystem object store and the spool live.
    pub data_dir: PathBuf,
    /// Index database URL; empty means the embedded SQLite index under `data_dir`.
    pub index_url: String,
    /// DICOM port (C-ECHO, C-STORE, query/retrieve, storage commitment).
    pub dicom_port: u16,
    /// Address the DICOM port binds to.
    pub dicom_bind: std::net::IpAddr,
    /// DICOM over TLS port, served only when `[dicom.tls]` is configured
    /// (2762, the port registered for DICOM over TLS).
    pub dicom_tls_port: u16,
    /// Address the DICOM TLS port binds to; unset: `dicom_bind`.
    pub dicom_tls_bind: Option<std::net::IpAddr>,
    /// HTTP port (health, metrics; DICOMweb later).
    pub http_port: u16,
    pub dicom: DimseConfig,
    pub http: HttpConfig,
    /// Who may do what: anonymous access, accounts, sessions, identity
    /// providers, grants.
    pub access: AccessConfig,
    pub archive: ArchiveConfig,
    pub renditions: RenditionConfig,
    /// The object store: the filesystem under `data_dir` (default) or S3.
    pub store: StoreConfig,
    /// The audit record and ledger: patient digests, batching, the
    /// ledger's name, hash, signing key, checkpoints, ATNA export.
    pub audit: AuditConfig,
    /// Retention defaults, deletion requests' lifetime, purge and scan
    /// intervals.
    pub retention: yunying_retention::RetentionConfig,
    /// One patient across institutions: linking thresholds, the HL7 ADT
    /// listener, where institutions put national IDs.
    pub empi: yunying_persons::EmpiConfig,
    /// Mutual recognition of exams (检查互认): the region, its items,
    /// local reasons and quality marks; absent: not served.
    pub recognition: Option<yunying_recognition::RecognitionConfig>,
    /// Remote reading (基层检查、上级诊断): which institution reads for
    /// which, templates, the report font; absent: not served.
    pub reading: Option<yunying_reading::ReadingConfig>,
    /// Log format and level (`YUNYING_LOG` adds to the level).
    pub log: crate::logging::LogConfig,
    /// OpenTelemetry traces exported over OTLP/HTTP; absent: off.
    pub tracing: Option<crate::telemetry::TracingConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("yunying-data"),
            index_url: String::new(),
            dicom_port: 11112,
            dicom_bind: std::net::IpAddr::from([0, 0, 0, 0]),
            dicom_tls_port: 2762,
            dicom_tls_bind: None,
            http_port: 8042,
            dicom: DimseConfig::default(),
            http: HttpConfig::default(),
            access: AccessConfig::default(),
            archive: ArchiveConfig::default(),
            renditions: RenditionConfig::default(),
            store: StoreConfig::default(),
            audit: AuditConfig::default(),
            retention: Default::default(),
            empi: Default::default(),
            recognition: None,
            reading: None,
            log: Default::default(),
            tracing: None,
        }
    }
}

/// Values from flags or the environment (clap folds `env` into the flag).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, env = "YUNYING_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (index, objects, spool).
    #[arg(long, env = "YUNYING_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// DICOM port [default: 11112].
    #[arg(long, env = "YUNYING_DICOM_PORT", global = true)]
    pub dicom_port: Option<u16>,
    /// DICOM TLS port, when `[dicom.tls]` is configured [default: 2762].
    #[arg(long, env = "YUNYING_DICOM_TLS_PORT", global = true)]
    pub dicom_tls_port: Option<u16>,
    /// HTTP port [default: 8042].
    #[arg(long, env = "YUNYING_HTTP_PORT", global = true)]
    pub http_port: Option<u16>,
    /// Our AE title [default: YUNYING].
    #[arg(long, env = "YUNYING_AET", global = true)]
    pub aet: Option<String>,
    /// Index database URL (sqlite://… or postgres://…).
    #[arg(long, env = "YUNYING_INDEX_URL", global = true)]
    pub index_url: Option<String>,
}

impl Config {
    /// Build the effective configuration from all layers.
    pub fn load(o: &Overrides) -> anyhow::Result<Config> {
        let mut config = match &o.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = &o.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = o.dicom_port {
            config.dicom_port = v;
        }
        if let Some(v) = o.dicom_tls_port {
            config.dicom_tls_port = v;
        }
        if let Some(v) = o.http_port {
            config.http_port = v;
        }
        if let Some(v) = &o.aet {
            config.dicom.aet = v.clone();
        }
        if let Some(v) = &o.index_url {
            config.index_url = v.clone();
        }
        // A secret: from the environment (or the file), never a flag, so it
        // stays out of process listings.
        if let Some(dir) = std::env::var_os("YUNYING_VIEWER_DIR").filter(|d| !d.is_empty()) {
            config.http.viewer_dir = Some(dir.into());
        }
        if let Ok(token) = std::env::var("YUNYING_HTTP_TOKEN") {
            config.http.bearer_token = Some(token).filter(|t| !t.is_empty());
        }
        if let Ok(token) = std::env::var("YUNYING_API_TOKEN") {
            config.http.api_token = Some(token).filter(|t| !t.is_empty());
        }
        if let Ok(key) = std::env::var("YUNYING_FILM_KEY") {
            config.http.film.data_key = Some(key).filter(|k| !k.is_empty());
        }
        config.http.film.calling_aet = config.dicom.aet.clone();
        for p in &mut config.access.oidc {
            if let Ok(secret) = std::env::var(p.secret_env_var()).map(|s| s.trim().to_string())
                && !secret.is_empty()
            {
                p.client_secret = Some(secret);
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    fn validate(&self) -> anyhow::Result<()> {
        yunying_index::check_ae_title(&self.dicom.aet).map_err(|e| anyhow::anyhow!("dicom.aet (--aet): {e}"))?;
        anyhow::ensure!((4096..=16 << 20).contains(&self.dicom.max_pdu_length), "dicom.max_pdu_length must be between 4096 and 16777216");
        anyhow::ensure!(self.dicom.max_associations > 0, "dicom.max_associations must be at least 1");
        anyhow::ensure!(self.dicom.max_associations_per_address > 0, "dicom.max_associations_per_address must be at least 1");
        anyhow::ensure!(
            self.access.anonymous != yunying_access::Anonymous::Loopback || self.http.bind.is_loopback(),
            "access.anonymous = \"loopback\" lets requests without credentials in from this machine: bind http to loopback too (http.bind = {} is not)",
            self.http.bind
        );
        yunying_access::people::validate(&self.access).map_err(anyhow::Error::msg)?;
        self.retention.validate().map_err(anyhow::Error::msg)?;
        if let Some(traces) = &self.tracing {
            traces.validate().map_err(anyhow::Error::msg)?;
        }
        for inst in &self.archive.institutions {
            anyhow::ensure!(!inst.code.is_empty(), "every institution needs a code");
        }
        Ok(())
    }

    /// The configuration as TOML, secrets masked (it is printed).
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        shown.index_url = redact_url_password(&shown.index_url);
        if !shown.store.s3.secret_access_key.is_empty() {
            shown.store.s3.secret_access_key = "(set; not shown)".into();
        }
        toml::to_string_pretty(&shown).expect("config serialises")
    }

    pub fn index_url(&self) -> String {
        if self.index_url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data_dir.join("index.sqlite").display())
        } else {
            self.index_url.clone()
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("y.toml");
        std::fs::write(&file, "dicom_port = 2000\nhttp_port = 3000\n[dicom]\naet = \"FILE\"\n").unwrap();
        let o = Overrides { config: Some(file), http_port: Some(4000), ..Default::default() };
        let c = Config::load(&o).unwrap();
        assert_eq!((c.dicom_port, c.http_port, c.dicom.aet.as_str()), (2000, 4000, "FILE"));
    }

    #[test]
    fn printed_config_parses_back_and_example_is_valid() {
        let c = Config::default();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back.to_toml(), c.to_toml());
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/yunying.example.toml");
        Config::from_file(Path::new(example)).unwrap().validate().unwrap();
    }

    #[test]
    fn printed_config_shows_no_secrets() {
        let mut c = Config { index_url: "postgres://yunying:pg-pass-123@db.example:5432/yunying".into(), ..Default::default() };
        c.store.kind = yunying_store::StoreKind::S3;
        c.store.s3.secret_access_key = "s3-secret-456".into();
        c.http.bearer_token = Some("bearer-secret-789".into());
        c.http.api_token = Some("api-secret-012".into());
        c.http.film.data_key = Some("0123456789abcdeffedcba9876543210".into());
        c.access.oidc = toml::from_str::<yunying_access::AccessConfig>(
            "[[oidc]]\nname = \"corp\"\nissuer = \"https://idp.example\"\nclient_id = \"y\"\nclient_secret = \"oidc-secret-345\"\n",
        )
        .unwrap()
        .oidc;
        let shown = c.to_toml();
        for secret in
            ["pg-pass-123", "s3-secret-456", "bearer-secret-789", "api-secret-012", "0123456789abcdeffedcba9876543210", "oidc-secret-345"]
        {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("postgres://yunying:***@db.example:5432/yunying"), "{shown}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("dicom_prot = 1").is_err());
    }
}
