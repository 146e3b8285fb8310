//! The relay's TLS identity: a key created on first start and kept in the data dir, a
//! self-signed certificate made from it at every start, and the pin clients check.
//!
//! The pin is the SHA-256 of the key's SubjectPublicKeyInfo, so it stays the same as long as
//! the key file does; rotating the key means handing users a new relay address.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hush_protocol::version::ALPN;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

/// File name of the TLS private key (PKCS#8 DER, mode 0600) in the data dir.
pub const KEY_FILE: &str = "tls-key.der";

/// Why the TLS identity could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Reading or writing the key file failed.
    #[error("TLS key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file is not a usable key, or certificate generation failed.
    #[error("TLS key: {0}")]
    Key(String),
    /// rustls or quinn refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The relay's key, certificate and pin.
pub struct RelayIdentity {
    key_der: Vec<u8>,
    cert: CertificateDer<'static>,
    pin: [u8; 32],
}

impl std::fmt::Debug for RelayIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayIdentity")
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl RelayIdentity {
    /// Loads the key from `data_dir`, creating it on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, TlsError> {
        let path = data_dir.join(KEY_FILE);
        let io = |source| TlsError::Io {
            path: path.clone(),
            source,
        };
        let key_der = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Key(e.to_string()))?;
                let der = key.serialize_der();
                write_private(&path, &der).map_err(io)?;
                der
            }
            Err(e) => return Err(io(e)),
        };
        Self::from_key_der(key_der)
    }

    /// Builds the identity from a PKCS#8 key.
    pub fn from_key_der(key_der: Vec<u8>) -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::try_from(key_der.as_slice())
            .map_err(|e| TlsError::Key(e.to_string()))?;
        let params = rcgen::CertificateParams::new(vec!["hush-relay".to_owned()])
            .map_err(|e| TlsError::Key(e.to_string()))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsError::Key(e.to_string()))?;
        let cert = cert.der().clone();
        let pin = spki_pin(&cert).map_err(TlsError::Key)?;
        Ok(Self { key_der, cert, pin })
    }

    /// SHA-256 of the SubjectPublicKeyInfo: what a relay address pins.
    pub fn pin(&self) -> [u8; 32] {
        self.pin
    }

    /// The QUIC server configuration: TLS 1.3 only, ALPN `hush/1`, no client certificates.
    pub fn server_config(
        &self,
        idle_timeout: Duration,
        max_request_streams: u32,
    ) -> Result<quinn::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(idle_timeout)
                    .map_err(|e| TlsError::Config(e.to_string()))?,
            ))
            .max_concurrent_bidi_streams(max_request_streams.into())
            .max_concurrent_uni_streams(0u32.into());
        config.transport_config(Arc::new(transport));
        Ok(config)
    }
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo.
pub fn spki_pin(cert: &CertificateDer<'_>) -> Result<[u8; 32], String> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert).map_err(|e| e.to_string())?;
    let spki = parsed.subject_public_key_info();
    Ok(Sha256::digest(spki.as_ref()).into())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_and_the_pin_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = RelayIdentity::load_or_create(dir.path()).unwrap();
        let second = RelayIdentity::load_or_create(dir.path()).unwrap();
        assert_eq!(first.pin(), second.pin());
        let other = RelayIdentity::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert_ne!(first.pin(), other.pin());
        assert!(!format!("{first:?}").contains(&format!("{:?}", &first.key_der[..8])));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"not a key").unwrap();
        let err = RelayIdentity::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, TlsError::Key(_)), "{err}");
    }
}
