//! The sender's configuration (`[atna]` in Yunying's file): where the
//! audit record repository listens, how to reach it, and how much to keep
//! while it cannot be reached.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::AtnaError;

/// How messages travel to the collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// RFC 5425: TLS, octet-counting frames (the ATNA default, port 6514).
    #[default]
    Tls,
    /// RFC 6587 octet counting on plain TCP (inside a trusted network only).
    Tcp,
    /// RFC 5426: one message a datagram (lossy; ATNA's legacy option).
    Udp,
}

/// What happens to a new message when the queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Drop the oldest queued message (keep the most recent events).
    #[default]
    DropOldest,
    /// Drop the new message (keep the earliest events, e.g. what led up to
    /// an outage).
    DropNewest,
}

/// The queue between callers and the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Messages held while the collector is slow or away (1 to 1,000,000).
    pub capacity: usize,
    /// Which message a full queue drops.
    pub overflow: Overflow,
    /// Seconds between WARN lines counting dropped messages (at least 1).
    pub warn_interval_secs: u64,
    /// Longest wait between reconnection attempts, in seconds (the wait
    /// doubles from half a second up to this).
    pub max_backoff_secs: u64,
}

impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig { capacity: 10_000, overflow: Overflow::DropOldest, warn_interval_secs: 60, max_backoff_secs: 60 }
    }
}

/// The ATNA sender's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtnaConfig {
    /// The collector (audit record repository): `host:port`, `[v6]:port`.
    pub collector: String,
    /// `tls` (default), `tcp` or `udp`.
    #[serde(default)]
    pub transport: Transport,
    /// PEM: the certificate authorities the collector's certificate must
    /// chain to (required for `tls`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM: this node's certificate chain, when the collector asks for one.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM: the key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// The name the collector's certificate must carry; default the host
    /// part of `collector`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Syslog APP-NAME (1 to 48 printable ASCII characters).
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// Syslog HOSTNAME; default the machine's name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The queue.
    #[serde(default)]
    pub queue: QueueConfig,
    /// The largest syslog message sent, in bytes (1 KiB to 1 MiB; default
    /// 64 KiB; over UDP at most 65,507, one datagram). A larger message is
    /// refused by `send`: cutting it would break its XML.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
}

fn default_app_name() -> String {
    "yunying".to_string()
}

fn default_max_message_bytes() -> usize {
    64 * 1024
}

impl AtnaConfig {
    /// A configuration with defaults for everything but the collector.
    pub fn new(collector: impl Into<String>, transport: Transport) -> AtnaConfig {
        AtnaConfig {
            collector: collector.into(),
            transport,
            ca_file: None,
            client_cert: None,
            client_key: None,
            server_name: None,
            app_name: default_app_name(),
            hostname: None,
            queue: QueueConfig::default(),
            max_message_bytes: default_max_message_bytes(),
        }
    }

    /// Checks what can be checked without the network; an error says which
    /// setting is wrong.
    pub fn validate(&self) -> Result<(), AtnaError> {
        let bad = |s: &str| Err(AtnaError::Config(s.to_string()));
        let (host, _) = self.host_port()?;
        if self.transport == Transport::Tls && self.ca_file.is_none() {
            return bad("atna: transport tls needs ca_file (the collector's certificate authority)");
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            return bad("atna: client_cert and client_key go together");
        }
        if self.transport != Transport::Tls && (self.client_cert.is_some() || self.ca_file.is_some()) {
            return bad("atna: ca_file, client_cert and client_key apply to transport tls only");
        }
        if self.app_name.is_empty() || self.app_name.len() > 48 || !self.app_name.bytes().all(|b| b.is_ascii_graphic()) {
            return bad("atna: app_name is 1 to 48 printable ASCII characters");
        }
        if !(1..=1_000_000).contains(&self.queue.capacity) {
            return bad("atna: queue.capacity is 1 to 1000000");
        }
        if self.queue.warn_interval_secs == 0 || self.queue.max_backoff_secs == 0 {
            return bad("atna: queue.warn_interval_secs and queue.max_backoff_secs are at least 1");
        }
        if !(1024..=1024 * 1024).contains(&self.max_message_bytes) {
            return bad("atna: max_message_bytes is 1024 to 1048576");
        }
        if host.is_empty() {
            return bad("atna: collector has no host");
        }
        Ok(())
    }

    /// The largest message this transport sends.
    pub fn effective_max_message_bytes(&self) -> usize {
        match self.transport {
            Transport::Udp => self.max_message_bytes.min(65_507),
            Transport::Tls | Transport::Tcp => self.max_message_bytes,
        }
    }

    /// The collector's host (brackets of an IPv6 literal removed) and port.
    pub fn host_port(&self) -> Result<(String, u16), AtnaError> {
        let wrong = || AtnaError::Config(format!("atna: collector {:?} is not host:port", self.collector));
        let (host, port) = self.collector.rsplit_once(':').ok_or_else(wrong)?;
        let port: u16 = port.parse().map_err(|_| wrong())?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        Ok((host.to_string(), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape_with_defaults() {
        let c: AtnaConfig = toml::from_str(
            r#"
            collector = "arr.hospital.example:6514"
            ca_file = "/etc/yunying/arr-ca.pem"
            [queue]
            overflow = "drop_newest"
            "#,
        )
        .unwrap();
        assert_eq!(c.transport, Transport::Tls);
        assert_eq!(c.app_name, "yunying");
        assert_eq!(c.queue.overflow, Overflow::DropNewest);
        assert_eq!(c.queue.capacity, 10_000);
        c.validate().unwrap();
        assert_eq!(c.host_port().unwrap(), ("arr.hospital.example".to_string(), 6514));
    }

    #[test]
    fn refuses_what_cannot_work() {
        let tls_without_ca = AtnaConfig::new("arr:6514", Transport::Tls);
        assert!(tls_without_ca.validate().is_err());
        assert!(AtnaConfig::new("arr", Transport::Tcp).validate().is_err());
        assert!(AtnaConfig::new("arr:99999", Transport::Tcp).validate().is_err());
        let mut c = AtnaConfig::new("[::1]:514", Transport::Udp);
        c.validate().unwrap();
        assert_eq!(c.host_port().unwrap().0, "::1");
        c.app_name = "云影".into();
        assert!(c.validate().is_err());
        assert!(toml::from_str::<AtnaConfig>("collector = \"a:1\"\ncolector = 2").is_err(), "unknown keys are refused");
    }
}
