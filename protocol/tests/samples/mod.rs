//! One fixed example of every frame variant, shared by the wire-format tests.
#![allow(dead_code)] // each test binary uses a different part

use hush_protocol::{
    BlobId, ClientFrame, Delivery, Envelope, EnvelopeId, ErrorCode, ErrorFrame, IdentityKeys,
    MailboxId, OneTimePrekey, PrekeyBundle, PrekeyUpload, RelayFrame, Signature, SignedPrekey,
    UsernameRecord,
};

pub(crate) fn mailbox() -> MailboxId {
    MailboxId::from_bytes([0x11; 16])
}

pub(crate) fn blob_id() -> BlobId {
    BlobId::from_bytes([0xb1; 16])
}

pub(crate) fn envelope_id() -> EnvelopeId {
    EnvelopeId::from_bytes([0x22; 16])
}

fn identity() -> IdentityKeys {
    IdentityKeys {
        signing: [0x33; 32],
        dh: [0x44; 32],
        dh_signature: Signature([0x55; 64]),
    }
}

fn signed_prekey() -> SignedPrekey {
    SignedPrekey {
        id: 7,
        public: [0x66; 32],
        signature: Signature([0x77; 64]),
    }
}

pub(crate) fn client_frames() -> Vec<(&'static str, ClientFrame)> {
    vec![
        ("hello", ClientFrame::Hello { version: 1 }),
        (
            "authenticate",
            ClientFrame::Authenticate {
                mailbox: mailbox(),
                signature: Signature([0x99; 64]),
            },
        ),
        (
            "create_mailbox",
            ClientFrame::CreateMailbox {
                key: [0x33; 32],
                signature: Signature([0x99; 64]),
            },
        ),
        ("subscribe", ClientFrame::Subscribe),
        (
            "ack",
            ClientFrame::Ack {
                ids: vec![envelope_id(), EnvelopeId::from_bytes([0; 16])],
            },
        ),
        (
            "send",
            ClientFrame::Send(Envelope {
                id: envelope_id(),
                recipients: vec![mailbox(), MailboxId::from_bytes([0x12; 16])],
                ttl_secs: 86_400,
                ephemeral: false,
                payload: b"ciphertext".to_vec(),
            }),
        ),
        (
            "publish_prekeys",
            ClientFrame::PublishPrekeys(PrekeyUpload {
                identity: identity(),
                signed_prekey: signed_prekey(),
                one_time: vec![OneTimePrekey {
                    id: 1,
                    public: [0x88; 32],
                }],
            }),
        ),
        ("prekey_count", ClientFrame::PrekeyCount),
        (
            "fetch_prekeys",
            ClientFrame::FetchPrekeys { mailbox: mailbox() },
        ),
        (
            "claim_username",
            ClientFrame::ClaimUsername {
                username: "alice".into(),
                identity_key: [0x33; 32],
            },
        ),
        (
            "lookup_username",
            ClientFrame::LookupUsername {
                username: "bob".into(),
            },
        ),
        (
            "create_blob",
            ClientFrame::CreateBlob {
                id: blob_id(),
                size: 65_577,
                recipients: vec![mailbox()],
                ttl_secs: 604_800,
            },
        ),
        (
            "upload_blob",
            ClientFrame::UploadBlob {
                id: blob_id(),
                first_chunk: 3,
            },
        ),
        (
            "blob_chunk",
            ClientFrame::BlobChunk {
                data: b"chunk".to_vec(),
            },
        ),
        (
            "download_blob",
            ClientFrame::DownloadBlob {
                id: blob_id(),
                first_chunk: 0,
            },
        ),
        ("blob_fetched", ClientFrame::BlobFetched { id: blob_id() }),
        ("abandon_blob", ClientFrame::AbandonBlob { id: blob_id() }),
    ]
}

pub(crate) fn relay_frames() -> Vec<(&'static str, RelayFrame)> {
    let delivery = Delivery {
        id: envelope_id(),
        stored_at: 1_700_000_000,
        payload: b"ciphertext".to_vec(),
    };
    vec![
        (
            "challenge",
            RelayFrame::Challenge {
                version: 1,
                nonce: [0xcc; 32],
            },
        ),
        (
            "authenticated",
            RelayFrame::Authenticated { mailbox: mailbox() },
        ),
        ("deliver", RelayFrame::Deliver(delivery.clone())),
        ("ephemeral", RelayFrame::Ephemeral(delivery)),
        ("drained", RelayFrame::Drained),
        ("unsubscribed", RelayFrame::Unsubscribed),
        ("stored", RelayFrame::Stored { id: envelope_id() }),
        ("relayed", RelayFrame::Relayed { id: envelope_id() }),
        (
            "prekey_count",
            RelayFrame::PrekeyCount {
                one_time_remaining: 42,
            },
        ),
        (
            "prekey_bundle",
            RelayFrame::PrekeyBundle(Box::new(PrekeyBundle {
                mailbox: mailbox(),
                identity: identity(),
                signed_prekey: signed_prekey(),
                one_time: Some(OneTimePrekey {
                    id: 1,
                    public: [0x88; 32],
                }),
            })),
        ),
        (
            "username_claimed",
            RelayFrame::UsernameClaimed {
                username: "alice".into(),
            },
        ),
        (
            "username_found",
            RelayFrame::UsernameFound(UsernameRecord {
                username: "bob".into(),
                mailbox: mailbox(),
                identity_key: [0x33; 32],
            }),
        ),
        (
            "error",
            RelayFrame::Error(ErrorFrame::new(ErrorCode::QuotaExceeded, "mailbox full")),
        ),
        (
            "blob_status",
            RelayFrame::BlobStatus {
                id: blob_id(),
                size: 65_577,
                chunks_stored: 1,
                complete: false,
            },
        ),
        (
            "blob_chunk",
            RelayFrame::BlobChunk {
                data: b"chunk".to_vec(),
            },
        ),
        ("blob_released", RelayFrame::BlobReleased { id: blob_id() }),
    ]
}
