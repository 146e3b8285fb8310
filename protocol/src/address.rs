//! Relay addresses: one pasteable token that names a relay and pins its key.
//!
//! Format: `hush://HOST:PORT#PIN`, where `PIN` is the unpadded base64url SHA-256 of the relay's
//! TLS SubjectPublicKeyInfo (DER). IPv6 hosts are written in brackets: `hush://[::1]:4433#…`.
//! Clients connect to HOST:PORT and accept only a certificate whose key hashes to PIN, so no
//! certificate authority is involved.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// URI scheme of a relay address.
pub const SCHEME: &str = "hush://";

/// A relay's host, port and key pin.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RelayAddress {
    /// DNS name or IP address (without brackets).
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// SHA-256 of the relay's SubjectPublicKeyInfo.
    pub pin: [u8; 32],
}

/// Why a string is not a relay address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// It does not start with `hush://`.
    #[error("a relay address starts with hush://")]
    Scheme,
    /// The `#PIN` part is missing or is not 32 bytes of base64url.
    #[error("a relay address ends with #PIN, the relay's 43-character key pin")]
    Pin,
    /// HOST:PORT is missing or malformed.
    #[error("a relay address has HOST:PORT after hush://")]
    HostPort,
}

impl fmt::Display for RelayAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pin = URL_SAFE_NO_PAD.encode(self.pin);
        if self.host.contains(':') {
            write!(f, "{SCHEME}[{}]:{}#{pin}", self.host, self.port)
        } else {
            write!(f, "{SCHEME}{}:{}#{pin}", self.host, self.port)
        }
    }
}

impl FromStr for RelayAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.trim().strip_prefix(SCHEME).ok_or(AddressError::Scheme)?;
        let (authority, pin) = rest.split_once('#').ok_or(AddressError::Pin)?;
        let pin_bytes = URL_SAFE_NO_PAD.decode(pin).map_err(|_| AddressError::Pin)?;
        let pin = <[u8; 32]>::try_from(pin_bytes.as_slice()).map_err(|_| AddressError::Pin)?;
        let authority = authority.trim_end_matches('/');
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, port) = bracketed.split_once("]:").ok_or(AddressError::HostPort)?;
            (host, port)
        } else {
            authority.rsplit_once(':').ok_or(AddressError::HostPort)?
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(AddressError::HostPort);
        }
        let port = port.parse::<u16>().map_err(|_| AddressError::HostPort)?;
        if port == 0 {
            return Err(AddressError::HostPort);
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            pin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_names_and_ipv6() {
        for host in ["relay.example.org", "127.0.0.1", "::1"] {
            let address = RelayAddress {
                host: host.into(),
                port: 4433,
                pin: [9; 32],
            };
            let text = address.to_string();
            assert!(text.starts_with("hush://"));
            assert_eq!(text.parse::<RelayAddress>().unwrap(), address);
        }
        let v6 = RelayAddress {
            host: "::1".into(),
            port: 1,
            pin: [0; 32],
        };
        assert!(v6.to_string().starts_with("hush://[::1]:1#"));
    }

    #[test]
    fn rejects_broken_addresses() {
        let pin = URL_SAFE_NO_PAD.encode([1u8; 32]);
        assert_eq!(
            "http://a:1#x".parse::<RelayAddress>(),
            Err(AddressError::Scheme)
        );
        assert_eq!("hush://a:1".parse::<RelayAddress>(), Err(AddressError::Pin));
        assert_eq!(
            "hush://a:1#AAAA".parse::<RelayAddress>(),
            Err(AddressError::Pin)
        );
        assert_eq!(
            format!("hush://a#{pin}").parse::<RelayAddress>(),
            Err(AddressError::HostPort)
        );
        assert_eq!(
            format!("hush://a:0#{pin}").parse::<RelayAddress>(),
            Err(AddressError::HostPort)
        );
        assert_eq!(
            format!("hush://:7#{pin}").parse::<RelayAddress>(),
            Err(AddressError::HostPort)
        );
    }
}
