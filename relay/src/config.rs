//! Relay configuration: a TOML file, every default a named constant.
//!
//! ```toml
//! [server]
//! listen = "0.0.0.0:4433"
//! public_host = "relay.example.org"   # the host written into the relay address
//! data_dir = "/var/lib/hush-relay"
//! metrics = "127.0.0.1:9464"          # Prometheus endpoint; omit to turn metrics off
//!
//! [limits]
//! max_envelope_bytes = 262144
//! mailbox_max_envelopes = 10000
//! ```
//!
//! Every key is optional; unknown keys are an error (a typo should not silently fall back to a
//! default). Command-line flags override the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hush_protocol::limits;
use serde::Deserialize;

/// Default UDP address to listen on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4433";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./hush-relay-data";
/// Default most simultaneous connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default QUIC idle timeout (clients send keep-alives well within it).
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default time a client has to authenticate after connecting.
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;
/// Default largest envelope payload.
pub const DEFAULT_MAX_ENVELOPE_BYTES: usize = limits::DEFAULT_MAX_ENVELOPE_LEN;
/// Default most recipients per envelope.
pub const DEFAULT_MAX_RECIPIENTS: usize = limits::MAX_RECIPIENTS;
/// Default most envelopes waiting in one mailbox.
pub const DEFAULT_MAILBOX_MAX_ENVELOPES: u64 = 10_000;
/// Default most payload bytes waiting in one mailbox (512 MiB).
pub const DEFAULT_MAILBOX_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Default sustained requests per second per connection.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 500;
/// Default request burst per connection.
pub const DEFAULT_REQUEST_BURST: u32 = 1_000;
/// Default deliveries in flight (sent, not yet acked) per subscribed connection.
pub const DEFAULT_DELIVERY_WINDOW: usize = 256;
/// Default most one-time prekeys kept per mailbox.
pub const DEFAULT_MAX_PREKEYS: usize = limits::MAX_PREKEYS_STORED;
/// Default envelope TTL when the sender asks for none: 30 days.
pub const DEFAULT_TTL_SECS: u64 = 30 * 24 * 3600;
/// Default longest TTL a sender may ask for: 30 days.
pub const DEFAULT_MAX_TTL_SECS: u64 = 30 * 24 * 3600;
/// Default time a fully delivered envelope id is remembered, so a late retry is not stored
/// again: 2 days.
pub const DEFAULT_REMEMBER_DELIVERED_SECS: u64 = 2 * 24 * 3600;
/// Default interval of the TTL sweeper.
pub const DEFAULT_SWEEP_INTERVAL_SECS: u64 = 60;
/// Default largest blob: an encrypted file of 1 GiB of plaintext (1 GiB + chunk overhead).
pub const DEFAULT_MAX_BLOB_BYTES: u64 = limits::blob_len_for_plaintext(1024 * 1024 * 1024);
/// Default blob quota per mailbox: bytes of blobs held for it as uploader or recipient
/// (2 GiB of plaintext + chunk overhead).
pub const DEFAULT_MAILBOX_MAX_BLOB_BYTES: u64 =
    limits::blob_len_for_plaintext(2 * 1024 * 1024 * 1024);
/// Default blob TTL when the uploader asks for none: 7 days.
pub const DEFAULT_BLOB_TTL_SECS: u64 = 7 * 24 * 3600;
/// Default longest blob TTL an uploader may ask for: 7 days.
pub const DEFAULT_BLOB_MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Network, storage location, metrics.
    pub server: ServerConfig,
    /// Sizes, quotas and rates.
    pub limits: LimitsConfig,
    /// How long things are kept.
    pub retention: RetentionConfig,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Host name written into the relay address (defaults to the listen IP).
    pub public_host: Option<String>,
    /// Where the store, the TLS key and the address file live.
    pub data_dir: PathBuf,
    /// Address of the Prometheus endpoint; `None` turns metrics off.
    pub metrics: Option<SocketAddr>,
    /// Most simultaneous connections; more are refused.
    pub max_connections: usize,
    /// QUIC idle timeout, in seconds.
    pub idle_timeout_secs: u64,
    /// Seconds a client has to authenticate after connecting.
    pub handshake_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 4433))),
            public_host: None,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            metrics: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            handshake_timeout_secs: DEFAULT_HANDSHAKE_TIMEOUT_SECS,
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest envelope payload, in bytes (at most the protocol's 1 MiB).
    pub max_envelope_bytes: usize,
    /// Most recipients per envelope.
    pub max_recipients: usize,
    /// Most envelopes waiting in one mailbox.
    pub mailbox_max_envelopes: u64,
    /// Most payload bytes waiting in one mailbox.
    pub mailbox_max_bytes: u64,
    /// Sustained requests per second per connection.
    pub requests_per_second: u32,
    /// Requests a connection may make in a burst.
    pub request_burst: u32,
    /// Deliveries in flight per subscribed connection.
    pub delivery_window: usize,
    /// One-time prekeys kept per mailbox.
    pub max_prekeys: usize,
    /// Largest blob, in ciphertext bytes (at most the protocol's `MAX_BLOB_LEN`).
    pub max_blob_bytes: u64,
    /// Bytes of blobs held for one mailbox, as uploader or recipient.
    pub mailbox_max_blob_bytes: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_envelope_bytes: DEFAULT_MAX_ENVELOPE_BYTES,
            max_recipients: DEFAULT_MAX_RECIPIENTS,
            mailbox_max_envelopes: DEFAULT_MAILBOX_MAX_ENVELOPES,
            mailbox_max_bytes: DEFAULT_MAILBOX_MAX_BYTES,
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            request_burst: DEFAULT_REQUEST_BURST,
            delivery_window: DEFAULT_DELIVERY_WINDOW,
            max_prekeys: DEFAULT_MAX_PREKEYS,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            mailbox_max_blob_bytes: DEFAULT_MAILBOX_MAX_BLOB_BYTES,
        }
    }
}

/// `[retention]`
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// TTL for envelopes that ask for none, in seconds.
    pub default_ttl_secs: u64,
    /// Longest TTL a sender may ask for, in seconds.
    pub max_ttl_secs: u64,
    /// How long a fully delivered id is remembered to recognise late retries, in seconds.
    pub remember_delivered_secs: u64,
    /// Interval of the TTL sweeper (envelopes and blobs), in seconds.
    pub sweep_interval_secs: u64,
    /// TTL for blobs whose uploader asks for none, in seconds.
    pub blob_ttl_secs: u64,
    /// Longest blob TTL an uploader may ask for, in seconds.
    pub blob_max_ttl_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            default_ttl_secs: DEFAULT_TTL_SECS,
            max_ttl_secs: DEFAULT_MAX_TTL_SECS,
            remember_delivered_secs: DEFAULT_REMEMBER_DELIVERED_SECS,
            sweep_interval_secs: DEFAULT_SWEEP_INTERVAL_SECS,
            blob_ttl_secs: DEFAULT_BLOB_TTL_SECS,
            blob_max_ttl_secs: DEFAULT_BLOB_MAX_TTL_SECS,
        }
    }
}

/// Why a configuration is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type, …).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid setting {key}: {reason}")]
    Invalid {
        /// The dotted key, e.g. `limits.max_envelope_bytes`.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text (without validating values).
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks that every value is in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, reason: impl Into<String>) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key,
                reason: reason.into(),
            })
        }
        let l = &self.limits;
        let r = &self.retention;
        let s = &self.server;
        if l.max_envelope_bytes == 0 || l.max_envelope_bytes > limits::MAX_PAYLOAD_LEN {
            return invalid(
                "limits.max_envelope_bytes",
                format!(
                    "must be 1 to {} (the protocol's limit)",
                    limits::MAX_PAYLOAD_LEN
                ),
            );
        }
        if l.max_recipients == 0 || l.max_recipients > limits::MAX_RECIPIENTS {
            return invalid(
                "limits.max_recipients",
                format!("must be 1 to {}", limits::MAX_RECIPIENTS),
            );
        }
        if l.mailbox_max_envelopes == 0 {
            return invalid("limits.mailbox_max_envelopes", "must be at least 1");
        }
        if l.mailbox_max_bytes < l.max_envelope_bytes as u64 {
            return invalid(
                "limits.mailbox_max_bytes",
                "must be at least limits.max_envelope_bytes, or no envelope of the largest size fits",
            );
        }
        if l.requests_per_second == 0 || l.request_burst == 0 {
            return invalid(
                "limits.requests_per_second",
                "rate and burst must be at least 1",
            );
        }
        if l.delivery_window == 0 || l.delivery_window > 10_000 {
            return invalid("limits.delivery_window", "must be 1 to 10000");
        }
        if l.max_prekeys == 0 {
            return invalid("limits.max_prekeys", "must be at least 1");
        }
        if r.default_ttl_secs == 0 || r.default_ttl_secs > r.max_ttl_secs {
            return invalid(
                "retention.default_ttl_secs",
                "must be at least 1 and at most retention.max_ttl_secs",
            );
        }
        if l.max_blob_bytes == 0 || l.max_blob_bytes > limits::MAX_BLOB_LEN {
            return invalid(
                "limits.max_blob_bytes",
                format!(
                    "must be 1 to {} (the protocol's limit)",
                    limits::MAX_BLOB_LEN
                ),
            );
        }
        if l.mailbox_max_blob_bytes < l.max_blob_bytes {
            return invalid(
                "limits.mailbox_max_blob_bytes",
                "must be at least limits.max_blob_bytes, or no blob of the largest size fits",
            );
        }
        if r.blob_ttl_secs == 0 || r.blob_ttl_secs > r.blob_max_ttl_secs {
            return invalid(
                "retention.blob_ttl_secs",
                "must be at least 1 and at most retention.blob_max_ttl_secs",
            );
        }
        if r.sweep_interval_secs == 0 {
            return invalid("retention.sweep_interval_secs", "must be at least 1");
        }
        if s.max_connections == 0 {
            return invalid("server.max_connections", "must be at least 1");
        }
        if s.idle_timeout_secs == 0 || s.handshake_timeout_secs == 0 {
            return invalid(
                "server.idle_timeout_secs",
                "timeouts must be at least 1 second",
            );
        }
        if let Some(host) = &s.public_host
            && (host.is_empty() || host.contains(['/', '#', ' ', '@']))
        {
            return invalid(
                "server.public_host",
                "must be a bare host name or IP address",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let config = Config::parse("").unwrap();
        assert_eq!(config, Config::default());
        config.validate().unwrap();
        assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.retention.default_ttl_secs, 30 * 24 * 3600);
        assert_eq!(config.limits.max_envelope_bytes, 256 * 1024);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err = Config::parse("[limits]\nmax_envelope_byte = 5\n").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
        let config = Config::parse("[limits]\nmax_envelope_bytes = 5000000\n").unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("limits.max_envelope_bytes"), "{err}");
        let config = Config::parse("[retention]\ndefault_ttl_secs = 99999999\n").unwrap();
        assert!(config.validate().is_err());
    }

    #[test]
    fn blob_settings_have_defaults_and_bounds() {
        let config = Config::default();
        assert_eq!(
            config.limits.max_blob_bytes,
            limits::blob_len_for_plaintext(1 << 30)
        );
        assert!(config.limits.mailbox_max_blob_bytes >= 2 * config.limits.max_blob_bytes - 64);
        assert_eq!(config.retention.blob_ttl_secs, 7 * 24 * 3600);
        assert!(config.retention.blob_ttl_secs < config.retention.default_ttl_secs);
        let too_big = format!("[limits]\nmax_blob_bytes = {}\n", limits::MAX_BLOB_LEN + 1);
        let err = Config::parse(&too_big).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("limits.max_blob_bytes"), "{err}");
        let small_quota = "[limits]\nmailbox_max_blob_bytes = 1000\n";
        let err = Config::parse(small_quota).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("mailbox_max_blob_bytes"), "{err}");
        let ttl = "[retention]\nblob_ttl_secs = 10\nblob_max_ttl_secs = 5\n";
        let err = Config::parse(ttl).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("retention.blob_ttl_secs"), "{err}");
        let ok = "[limits]\nmax_blob_bytes = 1000\nmailbox_max_blob_bytes = 5000\n[retention]\nblob_ttl_secs = 1\n";
        Config::parse(ok).unwrap().validate().unwrap();
    }
}
