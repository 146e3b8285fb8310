//! Invite codes: one line that tells someone how to reach you.
//!
//! `hush1:` followed by unpadded base64url of a versioned record holding the relay address,
//! the mailbox id, the public identity (128 bytes) and an optional display name. Whoever
//! adds the code can message you; the identity key in it is what they trust on first use,
//! and the safety number lets you both check it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hush_protocol::codec::{decode_value, encode_value};
use hush_protocol::{IdentityKeys, MailboxId, RelayAddress};
use serde::{Deserialize, Serialize};

use crate::directory::{identity_from_wire, identity_to_wire};
use crate::identity::PublicIdentity;

/// Prefix of every invite code.
pub const INVITE_PREFIX: &str = "hush1:";
/// Longest display name carried in an invite.
pub const MAX_NAME_LEN: usize = 64;

/// What an invite code says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteCode {
    /// The inviter's relay.
    pub relay: RelayAddress,
    /// The inviter's mailbox on it.
    pub mailbox: MailboxId,
    /// The inviter's public identity.
    pub identity: PublicIdentity,
    /// The inviter's display name, if they set one.
    pub name: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct InviteRecord {
    version: u8,
    relay: String,
    mailbox: MailboxId,
    identity: IdentityKeys,
    name: Option<String>,
}

/// Why a string is not an invite code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    /// It does not start with `hush1:` or is not valid base64url.
    #[error("not a Hush invite code (they start with {INVITE_PREFIX})")]
    Format,
    /// It decodes, but its contents are invalid (damaged or from a newer version).
    #[error("the invite code is damaged or from a newer version of Hush")]
    Contents,
    /// The identity in it does not verify.
    #[error("the invite code's identity key does not verify")]
    Identity,
}

impl InviteCode {
    /// The one-line code.
    pub fn encode(&self) -> String {
        let record = InviteRecord {
            version: 1,
            relay: self.relay.to_string(),
            mailbox: self.mailbox,
            identity: identity_to_wire(&self.identity),
            name: self.name.clone(),
        };
        // A record of this shape always encodes; fall back to an empty body if it ever did not.
        let bytes = encode_value(&record).unwrap_or_default();
        format!("{INVITE_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Parses and checks a code (the identity's self-signature is verified).
    pub fn parse(text: &str) -> Result<Self, InviteError> {
        let body = text
            .trim()
            .strip_prefix(INVITE_PREFIX)
            .ok_or(InviteError::Format)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| InviteError::Format)?;
        let record: InviteRecord = decode_value(&bytes).map_err(|_| InviteError::Contents)?;
        if record.version != 1 {
            return Err(InviteError::Contents);
        }
        let relay = record.relay.parse().map_err(|_| InviteError::Contents)?;
        let identity = identity_from_wire(&record.identity);
        identity.verify().map_err(|_| InviteError::Identity)?;
        let name = record
            .name
            .filter(|n| !n.is_empty() && n.chars().count() <= MAX_NAME_LEN);
        Ok(Self {
            relay,
            mailbox: record.mailbox,
            identity,
            name,
        })
    }
}
