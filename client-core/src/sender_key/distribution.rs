//! The sender key distribution message, sent to each member over a pairwise session.
//!
//! ```text
//! SenderKeyDistribution = WIRE_VERSION (u8) || KIND_DISTRIBUTION (u8) || distribution_id (16)
//!                         || chain_id (16) || iteration (u32) || chain_key (32)
//!                         || signing_public (32)
//! ```
//! It carries a secret chain key: send it only inside a [`crate::Session`] message.

use core::fmt;

use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::GroupError;
use crate::codec::{DecodeError, Reader, Writer};
use crate::message::WIRE_VERSION;
use crate::secret::{Secret32, public_prefix};

/// Kind byte of a sender key distribution.
pub(crate) const KIND_DISTRIBUTION: u8 = 3;
/// Encoded length of a distribution.
const DISTRIBUTION_LEN: usize = 2 + 16 + 16 + 4 + 32 + 32;

/// A member's sender chain at one iteration, plus the chain's public signing key. Wiped on
/// drop; `Debug` shows no chain key.
#[derive(Clone, PartialEq)]
pub struct SenderKeyDistribution {
    pub(crate) distribution_id: [u8; 16],
    pub(crate) chain_id: [u8; 16],
    pub(crate) iteration: u32,
    pub(crate) chain_key: Secret32,
    pub(crate) signing_public: [u8; 32],
}

impl ZeroizeOnDrop for SenderKeyDistribution {}

impl SenderKeyDistribution {
    /// The group (distribution) it belongs to.
    #[must_use]
    pub fn distribution_id(&self) -> [u8; 16] {
        self.distribution_id
    }

    /// The sender chain it describes.
    #[must_use]
    pub fn chain_id(&self) -> [u8; 16] {
        self.chain_id
    }

    /// The wire bytes (secret: encrypt them with a pairwise session straight away).
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::with_capacity(DISTRIBUTION_LEN);
        w.u8(WIRE_VERSION)
            .u8(KIND_DISTRIBUTION)
            .bytes(&self.distribution_id)
            .bytes(&self.chain_id)
            .u32(self.iteration)
            .bytes(self.chain_key.as_bytes())
            .bytes(&self.signing_public);
        w.finish_secret()
    }

    /// Parses wire bytes (as decrypted from a pairwise session).
    ///
    /// # Errors
    /// [`GroupError::InvalidDistribution`] if malformed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GroupError> {
        Self::decode(bytes).map_err(|_| GroupError::InvalidDistribution)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.u8()? != WIRE_VERSION || r.u8()? != KIND_DISTRIBUTION {
            return Err(DecodeError::Unknown);
        }
        let distribution = Self {
            distribution_id: r.array()?,
            chain_id: r.array()?,
            iteration: r.u32()?,
            chain_key: Secret32::from_bytes(r.array()?),
            signing_public: r.array()?,
        };
        r.finish()?;
        Ok(distribution)
    }
}

impl fmt::Debug for SenderKeyDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyDistribution")
            .field("chain_id", &public_prefix(&self.chain_id))
            .field("iteration", &self.iteration)
            .field("signing_public", &public_prefix(&self.signing_public))
            .finish_non_exhaustive()
    }
}
