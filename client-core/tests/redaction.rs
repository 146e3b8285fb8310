//! `Debug` of every secret-bearing type shows no key bytes, and of every type holding a
//! decrypted message, no plaintext.
//!
//! Secrets are read back out of the documented pickle layouts, then every 4-byte window of
//! each is searched for in the `Debug` and `{:#?}` output, as hex and as a decimal list.

use hush_client_core::{
    GroupSession, IdentityKeyPair, InboundSenderKey, LocalPreKeys, OutboundSenderKey, Pickle,
    PreKeyBundle, Session, SessionMessage,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn assert_no_secret(value: &impl std::fmt::Debug, secrets: &[&[u8]]) {
    for rendered in [format!("{value:?}"), format!("{value:#?}")] {
        let compact: String = rendered.chars().filter(|c| !c.is_whitespace()).collect();
        for secret in secrets {
            assert_eq!(secret.len(), 32, "test reads whole 32-byte secrets");
            for window in secret.windows(4) {
                let lower: String = window.iter().map(|b| format!("{b:02x}")).collect();
                let upper = lower.to_uppercase();
                let decimal = window
                    .iter()
                    .map(u8::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                for needle in [lower, upper, decimal] {
                    assert!(!compact.contains(&needle), "{rendered} leaks {needle}");
                }
            }
        }
    }
}

fn slice(pickle: &Pickle, at: usize) -> &[u8] {
    &pickle.as_bytes()[at..at + 32]
}

#[test]
fn debug_of_secret_bearing_types_shows_no_key_bytes() {
    let mut rng = StdRng::seed_from_u64(42);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);

    // Identity: version, kind, signing seed, X25519 secret.
    let p = alice.pickle();
    assert_no_secret(&alice, &[slice(&p, 2), slice(&p, 34)]);
    assert_no_secret(&p, &[slice(&p, 2), slice(&p, 34)]);

    // Prekeys: version, kind, signed prekey id (4), signed prekey secret.
    let mut prekeys = LocalPreKeys::new(&bob, &mut rng, 0);
    let one_time = prekeys.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let p = prekeys.pickle();
    let one_time_secret_at = p.as_bytes().len() - 32;
    assert_no_secret(&prekeys, &[slice(&p, 6), slice(&p, one_time_secret_at)]);

    // Session (responder, no pending prekey): identities 256, initiator 1, base key 32,
    // pending flag 1, then root key and ratchet secret.
    let bundle = PreKeyBundle {
        identity: bob.public(),
        signed_prekey: prekeys.signed_prekey(),
        one_time_prekey: one_time.first().cloned(),
    }
    .verify()
    .unwrap();
    let mut alice_session = Session::new_outbound(&alice, &bundle, &mut rng).unwrap();
    let SessionMessage::PreKey(first) = alice_session.encrypt(&mut rng, PLAINTEXT).unwrap() else {
        panic!("initial message expected");
    };
    let inbound = Session::new_inbound(&bob, &mut prekeys, &first, &mut rng).unwrap();
    // The first plaintext is not shown either.
    assert_no_secret(&inbound, &[PLAINTEXT]);
    assert_no_text(&inbound, &[PLAINTEXT]);
    let bob_session = inbound.session;
    let p = bob_session.pickle();
    let root_at = 2 + 256 + 1 + 32 + 1;
    assert_no_secret(&bob_session, &[slice(&p, root_at), slice(&p, root_at + 32)]);
    // Its sending chain key follows the peer key flag and key: root, ours, flag, theirs, flag.
    let sending_at = root_at + 32 + 32 + 1 + 32 + 1;
    assert_no_secret(&bob_session, &[slice(&p, sending_at)]);

    // Sender keys: ids (32) and iteration (4), then chain key and signing seed.
    let outbound = OutboundSenderKey::new(&mut rng, [1; 16]);
    let p = outbound.pickle();
    assert_no_secret(&outbound, &[slice(&p, 38), slice(&p, 70)]);
    let distribution = outbound.distribution();
    let bytes = distribution.to_bytes();
    let chain_key: &[u8] = &bytes[38..70];
    assert_no_secret(&distribution, &[chain_key]);
    let inbound = InboundSenderKey::from_distribution(&distribution).unwrap();
    assert_no_secret(&inbound, &[chain_key]);

    let mut group = GroupSession::new(&mut rng, [1; 16]);
    group.add_member(&alice.public());
    group
        .add_distribution(&alice.public(), &distribution)
        .unwrap();
    let p = group.pickle();
    assert_no_secret(&group, &[slice(&p, 38), slice(&p, 70), chain_key]);

    // A decrypted group message: sender shown, plaintext not.
    let mut outbound = outbound;
    let message = outbound.encrypt(&mut rng, PLAINTEXT).unwrap();
    let read = group.decrypt(&alice.public(), &message).unwrap();
    assert_eq!(read.plaintext, PLAINTEXT);
    assert_no_secret(&read, &[PLAINTEXT]);
    assert_no_text(&read, &[PLAINTEXT]);
}

/// 32 bytes of "plaintext", so the 32-byte window search above applies to it too.
const PLAINTEXT: &[u8] = b"meet me at the old mill at nine!";

/// `Debug` output contains no 4-byte window of any of `texts` as text.
fn assert_no_text(value: &impl std::fmt::Debug, texts: &[&[u8]]) {
    for rendered in [format!("{value:?}"), format!("{value:#?}")] {
        for text in texts {
            for window in text.windows(4) {
                let needle = String::from_utf8_lossy(window);
                assert!(
                    !window.is_ascii() || !rendered.contains(needle.as_ref()),
                    "{rendered} shows {needle}"
                );
            }
        }
    }
}
