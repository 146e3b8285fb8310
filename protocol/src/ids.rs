//! Opaque 128-bit identifiers.
//!
//! All are random: a [`MailboxId`] is chosen by the relay when a mailbox is created, an
//! [`EnvelopeId`] by the sender (so a retry of the same envelope is recognised and stored once),
//! a [`BlobId`] by the uploader (so an interrupted upload can be resumed). None says anything
//! about who owns it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name([u8; 16]);

        impl $name {
            /// Length of the identifier in bytes.
            pub const LEN: usize = 16;

            /// Wraps raw bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// The raw bytes, by value.
            pub const fn to_bytes(self) -> [u8; 16] {
                self.0
            }

            /// Reads an identifier from exactly 16 bytes.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; 16]>::try_from(bytes).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex::encode(self.0))
            }
        }

        impl FromStr for $name {
            type Err = hex::FromHexError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0u8; 16];
                hex::decode_to_slice(s, &mut bytes)?;
                Ok(Self(bytes))
            }
        }
    };
}

id_type!(
    /// A mailbox on a relay: where envelopes for one client device wait to be fetched.
    MailboxId
);
id_type!(
    /// One envelope, chosen at random by its sender.
    EnvelopeId
);
id_type!(
    /// One blob (an encrypted file), chosen at random by its uploader.
    BlobId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = MailboxId::from_bytes([0xab; 16]);
        assert_eq!(id.to_string(), "ab".repeat(16));
        assert_eq!(id.to_string().parse::<MailboxId>().unwrap(), id);
        assert!("zz".parse::<MailboxId>().is_err());
        assert!(MailboxId::from_slice(&[0; 15]).is_none());
    }
}
