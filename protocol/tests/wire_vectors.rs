//! The wire format, pinned: one hex vector per frame variant.
//!
//! If one of these fails, the bytes on the wire changed. That is a protocol change: it needs a
//! new ALPN version (see `docs/protocol.md`), not an updated vector.

mod samples;

use hush_protocol::codec::{decode_frame, encode_frame};
use hush_protocol::{ClientFrame, RelayFrame};

const CLIENT_VECTORS: &[(&str, &str)] = &[
    ("hello", "000000020001"),
    (
        "authenticate",
        concat!(
            "00000051011111111111111111111111111111111199999999999999999999999999999999999999",
            "99999999999999999999999999999999999999999999999999999999999999999999999999999999",
            "9999999999",
        ),
    ),
    (
        "create_mailbox",
        concat!(
            "00000061023333333333333333333333333333333333333333333333333333333333333333999999",
            "99999999999999999999999999999999999999999999999999999999999999999999999999999999",
            "999999999999999999999999999999999999999999",
        ),
    ),
    ("subscribe", "0000000103"),
    (
        "ack",
        "0000002204022222222222222222222222222222222200000000000000000000000000000000",
    ),
    (
        "send",
        concat!(
            "00000043052222222222222222222222222222222202111111111111111111111111111111111212",
            "1212121212121212121212121212fc80510100000a63697068657274657874",
        ),
    ),
    (
        "publish_prekeys",
        concat!(
            "00000104063333333333333333333333333333333333333333333333333333333333333333444444",
            "44444444444444444444444444444444444444444444444444444444445555555555555555555555",
            "55555555555555555555555555555555555555555555555555555555555555555555555555555555",
            "55555555555555555555555555076666666666666666666666666666666666666666666666666666",
            "66666666666677777777777777777777777777777777777777777777777777777777777777777777",
            "77777777777777777777777777777777777777777777777777777777777701018888888888888888",
            "888888888888888888888888888888888888888888888888",
        ),
    ),
    ("prekey_count", "0000000107"),
    (
        "fetch_prekeys",
        "000000110811111111111111111111111111111111",
    ),
    (
        "claim_username",
        concat!(
            "000000270905616c6963653333333333333333333333333333333333333333333333333333333333",
            "333333",
        ),
    ),
    ("lookup_username", "000000050a03626f62"),
    (
        "create_blob",
        concat!(
            "0000002c0bb1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1fc290001000111111111111111111111111111",
            "111111fc803a0900",
        ),
    ),
    (
        "upload_blob",
        "000000120cb1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b103",
    ),
    ("blob_chunk", "000000070d056368756e6b"),
    (
        "download_blob",
        "000000120eb1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b100",
    ),
    ("blob_fetched", "000000110fb1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1"),
    ("abandon_blob", "0000001110b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1"),
];

const RELAY_VECTORS: &[(&str, &str)] = &[
    (
        "challenge",
        "000000220001cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
    ),
    (
        "authenticated",
        "000000110111111111111111111111111111111111",
    ),
    (
        "deliver",
        "000000210222222222222222222222222222222222fc00f153650a63697068657274657874",
    ),
    (
        "ephemeral",
        "000000210322222222222222222222222222222222fc00f153650a63697068657274657874",
    ),
    ("drained", "0000000104"),
    ("unsubscribed", "0000000105"),
    ("stored", "000000110622222222222222222222222222222222"),
    ("relayed", "000000110722222222222222222222222222222222"),
    ("prekey_count", "00000002082a"),
    (
        "prekey_bundle",
        concat!(
            "00000114091111111111111111111111111111111133333333333333333333333333333333333333",
            "33333333333333333333333333444444444444444444444444444444444444444444444444444444",
            "44444444445555555555555555555555555555555555555555555555555555555555555555555555",
            "55555555555555555555555555555555555555555555555555555555550766666666666666666666",
            "66666666666666666666666666666666666666666666777777777777777777777777777777777777",
            "77777777777777777777777777777777777777777777777777777777777777777777777777777777",
            "77777777777701018888888888888888888888888888888888888888888888888888888888888888",
        ),
    ),
    ("username_claimed", "000000070a05616c696365"),
    (
        "username_found",
        concat!(
            "000000350b03626f6211111111111111111111111111111111333333333333333333333333333333",
            "3333333333333333333333333333333333",
        ),
    ),
    ("error", "0000000f0c030c6d61696c626f782066756c6c"),
    (
        "blob_status",
        "000000180db1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1fc290001000100",
    ),
    ("blob_chunk", "000000070e056368756e6b"),
    (
        "blob_released",
        "000000110fb1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1",
    ),
];

fn check<T>(samples: Vec<(&'static str, T)>, vectors: &[(&str, &str)])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(samples.len(), vectors.len(), "every variant has a vector");
    for ((name, frame), (vector_name, vector)) in samples.into_iter().zip(vectors) {
        assert_eq!(name, *vector_name);
        let bytes = encode_frame(&frame).unwrap();
        assert_eq!(hex::encode(&bytes), *vector, "encoding of {name} changed");
        let (decoded, used) = decode_frame::<T>(&hex::decode(vector).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(decoded, frame, "decoding of {name} changed");
    }
}

#[test]
fn client_frames_match_their_vectors() {
    check::<ClientFrame>(samples::client_frames(), CLIENT_VECTORS);
}

#[test]
fn relay_frames_match_their_vectors() {
    check::<RelayFrame>(samples::relay_frames(), RELAY_VECTORS);
}
