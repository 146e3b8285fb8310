//! Property tests: untrusted bytes never panic, wire forms round-trip, and any delivery order
//! with drops decrypts.

use hush_client_core::padding::{pad, unpad};
use hush_client_core::{
    GroupMessage, GroupSession, IdentityKeyPair, InboundSenderKey, LocalPreKeys, OutboundSenderKey,
    Pickle, PreKeyBundle, SenderKeyDistribution, Session, SessionMessage,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn established(seed: u64) -> (StdRng, Session, Session) {
    let mut rng = StdRng::seed_from_u64(seed);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = LocalPreKeys::new(&bob, &mut rng, 0);
    let bundle = PreKeyBundle {
        identity: bob.public(),
        signed_prekey: prekeys.signed_prekey(),
        one_time_prekey: None,
    }
    .verify()
    .unwrap();
    let alice = IdentityKeyPair::generate(&mut rng);
    let mut alice_session = Session::new_outbound(&alice, &bundle, &mut rng).unwrap();
    let SessionMessage::PreKey(first) = alice_session.encrypt(&mut rng, b"hi").unwrap() else {
        panic!("initial message expected");
    };
    let bob_session = Session::new_inbound(&bob, &mut prekeys, &first, &mut rng)
        .unwrap()
        .session;
    (rng, alice_session, bob_session)
}

/// Every parser and pickle loader on the same bytes: must return, never panic.
fn parse_everything(bytes: &[u8]) {
    let _ = SessionMessage::from_bytes(bytes);
    let _ = GroupMessage::from_bytes(bytes);
    let _ = SenderKeyDistribution::from_bytes(bytes);
    let pickle = Pickle::from_bytes(bytes.to_vec());
    let _ = Session::from_pickle(&pickle);
    let _ = IdentityKeyPair::from_pickle(&pickle);
    let _ = LocalPreKeys::from_pickle(&pickle);
    let _ = OutboundSenderKey::from_pickle(&pickle);
    let _ = InboundSenderKey::from_pickle(&pickle);
    let _ = GroupSession::from_pickle(&pickle);
    let _ = unpad(bytes.to_vec());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        parse_everything(&bytes);
        // Also with valid-looking version/kind prefixes, to get past the first checks.
        for prefix in [[1u8, 1], [1, 2], [1, 3], [1, 4], [1, 5], [1, 6]] {
            parse_everything(&[&prefix[..], &bytes].concat());
        }
    }

    #[test]
    fn padding_round_trips(msg in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let padded = pad(&msg).unwrap();
        prop_assert!(padded.len() > msg.len());
        prop_assert_eq!(unpad(padded).unwrap(), msg);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any permutation of a batch from each side, with any subset dropped, decrypts.
    #[test]
    fn any_order_with_drops_decrypts(
        seed in any::<u64>(),
        order in Just((0..40usize).collect::<Vec<_>>()).prop_shuffle(),
        drops in proptest::collection::vec(any::<bool>(), 40),
    ) {
        let (mut rng, mut alice, mut bob) = established(seed);
        // Even indices go Alice -> Bob, odd Bob -> Alice, all encrypted before any delivery.
        let wires: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                let from = if i % 2 == 0 { &mut alice } else { &mut bob };
                from.encrypt(&mut rng, format!("{i}").as_bytes()).unwrap().to_bytes()
            })
            .collect();
        for i in order {
            if drops[i] && i > 1 {
                continue;
            }
            let to = if i % 2 == 0 { &mut bob } else { &mut alice };
            let message = SessionMessage::from_bytes(&wires[i]).unwrap();
            prop_assert_eq!(message.to_bytes(), wires[i].clone());
            prop_assert_eq!(to.decrypt(&mut rng, &message).unwrap(), format!("{i}").into_bytes());
        }
    }

    /// Truncated or extended pickles are rejected, never panic.
    #[test]
    fn damaged_pickles_are_rejected(seed in any::<u64>(), cut in 0usize..600) {
        let (_, alice, _) = established(seed);
        let bytes = alice.pickle().as_bytes().to_vec();
        let cut = cut.min(bytes.len() - 1);
        prop_assert!(Session::from_pickle(&Pickle::from_bytes(bytes[..cut].to_vec())).is_err());
        let longer = [bytes.as_slice(), &[0]].concat();
        prop_assert!(Session::from_pickle(&Pickle::from_bytes(longer)).is_err());
    }
}
