//! Protocol identification: the ALPN token and the version number.
//!
//! Versioning rule: the bytes of a `hush/1` frame never change meaning. A change that an old
//! peer could misread (a new variant, a new field, a different limit that shrinks) gets a new
//! ALPN token (`hush/2`); a relay may offer several and picks per connection.

/// The ALPN protocol identifier both sides offer in the TLS handshake.
pub const ALPN: &[u8] = b"hush/1";

/// The protocol version carried in [`crate::ClientFrame::Hello`] and
/// [`crate::RelayFrame::Challenge`].
pub const PROTOCOL_VERSION: u16 = 1;
