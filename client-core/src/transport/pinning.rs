//! The rustls verifier that accepts exactly the pinned relay key.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// Accepts a relay whose certificate's SubjectPublicKeyInfo hashes (SHA-256) to the pin, and
/// checks the TLS 1.3 handshake signature against that key. Names and dates in the
/// certificate are not used: the pin is the whole trust decision.
#[derive(Debug)]
pub struct PinnedKey {
    pin: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
    mismatch: Arc<AtomicBool>,
}

impl PinnedKey {
    /// A verifier for `pin`, and a flag it raises when a relay presents another key.
    pub fn new(pin: [u8; 32]) -> (Self, Arc<AtomicBool>) {
        let mismatch = Arc::new(AtomicBool::new(false));
        let verifier = Self {
            pin,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            mismatch: mismatch.clone(),
        };
        (verifier, mismatch)
    }
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo.
pub fn spki_pin(cert: &CertificateDer<'_>) -> Result<[u8; 32], rustls::Error> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
    Ok(Sha256::digest(parsed.subject_public_key_info().as_ref()).into())
}

impl ServerCertVerifier for PinnedKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if spki_pin(end_entity)? == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            self.mismatch.store(true, Ordering::SeqCst);
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
