//! Property tests of the codec: every frame round-trips, and no input makes the decoder panic.

mod samples;

use hush_protocol::codec::{
    CodecError, LENGTH_PREFIX_LEN, body_len, decode_body, decode_frame, encode_frame,
};
use hush_protocol::limits::MAX_FRAME_LEN;
use hush_protocol::{
    BlobId, ClientFrame, Delivery, Envelope, EnvelopeId, ErrorCode, ErrorFrame, MailboxId,
    RelayFrame,
};
use proptest::prelude::*;

fn mailbox_id() -> impl Strategy<Value = MailboxId> {
    any::<[u8; 16]>().prop_map(MailboxId::from_bytes)
}

fn envelope_id() -> impl Strategy<Value = EnvelopeId> {
    any::<[u8; 16]>().prop_map(EnvelopeId::from_bytes)
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        envelope_id(),
        prop::collection::vec(mailbox_id(), 0..20),
        any::<u32>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_map(|(id, recipients, ttl_secs, ephemeral, payload)| Envelope {
            id,
            recipients,
            ttl_secs,
            ephemeral,
            payload,
        })
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        any::<u16>().prop_map(|version| ClientFrame::Hello { version }),
        envelope().prop_map(ClientFrame::Send),
        prop::collection::vec(envelope_id(), 0..64).prop_map(|ids| ClientFrame::Ack { ids }),
        mailbox_id().prop_map(|mailbox| ClientFrame::FetchPrekeys { mailbox }),
        ".{0,40}".prop_map(|username| ClientFrame::LookupUsername { username }),
        (".{0,40}", any::<[u8; 32]>()).prop_map(|(username, identity_key)| {
            ClientFrame::ClaimUsername {
                username,
                identity_key,
            }
        }),
        (
            any::<[u8; 16]>(),
            any::<u64>(),
            prop::collection::vec(mailbox_id(), 0..20),
            any::<u32>()
        )
            .prop_map(|(id, size, recipients, ttl_secs)| ClientFrame::CreateBlob {
                id: BlobId::from_bytes(id),
                size,
                recipients,
                ttl_secs,
            }),
        prop::collection::vec(any::<u8>(), 0..4096)
            .prop_map(|data| ClientFrame::BlobChunk { data }),
    ]
}

fn relay_frame() -> impl Strategy<Value = RelayFrame> {
    let delivery = || {
        (
            envelope_id(),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..2048),
        )
            .prop_map(|(id, stored_at, payload)| Delivery {
                id,
                stored_at,
                payload,
            })
    };
    prop_oneof![
        (any::<[u8; 16]>(), any::<u64>(), any::<u32>(), any::<bool>()).prop_map(
            |(id, size, chunks_stored, complete)| RelayFrame::BlobStatus {
                id: BlobId::from_bytes(id),
                size,
                chunks_stored,
                complete,
            }
        ),
        (any::<u16>(), any::<[u8; 32]>())
            .prop_map(|(version, nonce)| RelayFrame::Challenge { version, nonce }),
        delivery().prop_map(RelayFrame::Deliver),
        delivery().prop_map(RelayFrame::Ephemeral),
        envelope_id().prop_map(|id| RelayFrame::Stored { id }),
        mailbox_id().prop_map(|mailbox| RelayFrame::Authenticated { mailbox }),
        (any::<u16>(), ".{0,100}").prop_map(|(code, message)| RelayFrame::Error(ErrorFrame::new(
            ErrorCode::from(code),
            message
        ))),
    ]
}

proptest! {
    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        let bytes = encode_frame(&frame).unwrap();
        let (decoded, used) = decode_frame::<ClientFrame>(&bytes).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(decoded, frame);
    }

    #[test]
    fn relay_frames_round_trip(frame in relay_frame()) {
        let bytes = encode_frame(&frame).unwrap();
        let (decoded, used) = decode_frame::<RelayFrame>(&bytes).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(decoded, frame);
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_body::<ClientFrame>(&body);
        let _ = decode_body::<RelayFrame>(&body);
    }

    #[test]
    fn mutated_frames_never_panic(index in any::<prop::sample::Index>(), flip in 1u8..=255) {
        for (_, frame) in samples::client_frames() {
            let mut bytes = encode_frame(&frame).unwrap();
            let i = index.index(bytes.len());
            bytes[i] ^= flip;
            let _ = decode_frame::<ClientFrame>(&bytes);
        }
    }

    #[test]
    fn every_prefix_of_a_frame_asks_for_more(cut in any::<prop::sample::Index>()) {
        for (_, frame) in samples::relay_frames() {
            let bytes = encode_frame(&frame).unwrap();
            let cut = cut.index(bytes.len());
            prop_assert_eq!(decode_frame::<RelayFrame>(&bytes[..cut]).unwrap(), None);
        }
    }
}

#[test]
fn an_oversize_length_prefix_is_refused_before_reading_the_body() {
    let prefix = u32::try_from(MAX_FRAME_LEN + 1).unwrap().to_be_bytes();
    assert!(matches!(body_len(prefix), Err(CodecError::TooLarge { .. })));
    assert!(matches!(
        decode_frame::<ClientFrame>(&[0xff, 0xff, 0xff, 0xff]),
        Err(CodecError::TooLarge { .. })
    ));
}

#[test]
fn trailing_bytes_in_a_body_are_malformed() {
    let mut bytes = encode_frame(&ClientFrame::Subscribe).unwrap();
    bytes.push(0);
    let body = &bytes[LENGTH_PREFIX_LEN..];
    assert!(matches!(
        decode_body::<ClientFrame>(body),
        Err(CodecError::Malformed(_))
    ));
}

#[test]
fn an_unknown_variant_is_malformed() {
    assert!(matches!(
        decode_body::<ClientFrame>(&[200]),
        Err(CodecError::Malformed(_))
    ));
}

#[test]
fn a_huge_announced_vector_length_does_not_allocate() {
    // Send { id, recipients: len = u64::MAX ... } — must fail cleanly, not try to allocate.
    let mut body = vec![5u8];
    body.extend_from_slice(&[0x22; 16]);
    body.push(0xff);
    body.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(decode_body::<ClientFrame>(&body).is_err());
}

#[test]
fn an_oversize_payload_cannot_be_encoded() {
    let frame = ClientFrame::Send(Envelope {
        id: EnvelopeId::from_bytes([0; 16]),
        recipients: vec![],
        ttl_secs: 0,
        ephemeral: false,
        payload: vec![0; MAX_FRAME_LEN + 1],
    });
    assert!(matches!(
        encode_frame(&frame),
        Err(CodecError::TooLarge { .. })
    ));
}
