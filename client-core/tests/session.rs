//! 1:1 sessions end to end: X3DH, the Double Ratchet, ordering, tampering, secrecy, pickles.

use hush_client_core::limits::MAX_SKIP;
use hush_client_core::{
    IdentityKeyPair, LocalPreKeys, Pickle, PreKeyBundle, PreKeyMessage, Session, SessionError,
    SessionMessage,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const NOW: u64 = 1_700_000_000;

struct Bob {
    identity: IdentityKeyPair,
    prekeys: LocalPreKeys,
    bundle: PreKeyBundle,
}

fn bob(rng: &mut StdRng, with_one_time: bool) -> Bob {
    let identity = IdentityKeyPair::generate(rng);
    let mut prekeys = LocalPreKeys::new(&identity, rng, NOW);
    let one_time = prekeys.generate_one_time_prekeys(rng, 5).unwrap();
    let bundle = PreKeyBundle {
        identity: identity.public(),
        signed_prekey: prekeys.signed_prekey(),
        one_time_prekey: with_one_time.then(|| one_time[2].clone()),
    };
    Bob {
        identity,
        prekeys,
        bundle,
    }
}

fn prekey_message(message: SessionMessage) -> PreKeyMessage {
    match message {
        SessionMessage::PreKey(m) => m,
        SessionMessage::Ratchet(_) => panic!("expected an initial message"),
    }
}

/// Alice starts, Bob accepts, Bob replies, Alice reads the reply.
fn established(rng: &mut StdRng) -> (Session, Session) {
    let mut bob = bob(rng, true);
    let alice_id = IdentityKeyPair::generate(rng);
    let mut alice =
        Session::new_outbound(&alice_id, &bob.bundle.clone().verify().unwrap(), rng).unwrap();
    let first = prekey_message(alice.encrypt(rng, b"hi").unwrap());
    let inbound = Session::new_inbound(&bob.identity, &mut bob.prekeys, &first, rng).unwrap();
    let mut bob_session = inbound.session;
    let reply = bob_session.encrypt(rng, b"hello").unwrap();
    assert_eq!(alice.decrypt(rng, &reply).unwrap(), b"hello");
    (alice, bob_session)
}

fn roundtrip(rng: &mut StdRng, from: &mut Session, to: &mut Session, text: &[u8]) {
    let wire = from.encrypt(rng, text).unwrap().to_bytes();
    let message = SessionMessage::from_bytes(&wire).unwrap();
    assert_eq!(to.decrypt(rng, &message).unwrap(), text);
}

#[test]
fn x3dh_with_and_without_one_time_prekey() {
    for with_one_time in [true, false] {
        let mut rng = StdRng::seed_from_u64(u64::from(with_one_time));
        let mut bob = bob(&mut rng, with_one_time);
        let alice_id = IdentityKeyPair::generate(&mut rng);
        let bundle = bob.bundle.clone().verify().unwrap();
        let mut alice = Session::new_outbound(&alice_id, &bundle, &mut rng).unwrap();
        let first = prekey_message(alice.encrypt(&mut rng, b"first").unwrap());
        assert_eq!(first.signed_prekey_id(), bob.bundle.signed_prekey.id);
        assert_eq!(
            first.one_time_prekey_id(),
            bob.bundle.one_time_prekey.as_ref().map(|k| k.id)
        );
        assert_eq!(first.sender_identity(), &alice_id.public());

        let before = bob.prekeys.one_time_prekey_count();
        let inbound =
            Session::new_inbound(&bob.identity, &mut bob.prekeys, &first, &mut rng).unwrap();
        assert_eq!(inbound.plaintext, b"first");
        let consumed = usize::from(with_one_time);
        assert_eq!(bob.prekeys.one_time_prekey_count(), before - consumed);
        let mut bob_session = inbound.session;
        assert_eq!(bob_session.remote_identity(), &alice_id.public());
        assert_eq!(bob_session.session_id(), alice.session_id());
        assert!(bob_session.matches(&first));

        // Alice keeps sending initial messages until she hears back.
        let second = alice.encrypt(&mut rng, b"second").unwrap();
        assert!(matches!(second, SessionMessage::PreKey(_)));
        assert_eq!(bob_session.decrypt(&mut rng, &second).unwrap(), b"second");
        roundtrip(&mut rng, &mut bob_session, &mut alice, b"reply");
        assert!(alice.has_received_message());
        assert!(matches!(
            alice.encrypt(&mut rng, b"third").unwrap(),
            SessionMessage::Ratchet(_)
        ));

        // Replaying the initial message cannot start a second session when it used a one-time
        // prekey (it was deleted); either way the existing session rejects the replay.
        let again = Session::new_inbound(&bob.identity, &mut bob.prekeys, &first, &mut rng);
        if with_one_time {
            assert_eq!(again.err(), Some(SessionError::DecryptionFailed));
        }
        assert_eq!(
            bob_session.decrypt(&mut rng, &SessionMessage::PreKey(first)),
            Err(SessionError::DecryptionFailed)
        );
    }
}

#[test]
fn initial_message_survives_one_signed_prekey_rotation_but_not_two() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut bob = bob(&mut rng, false);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bundle = bob.bundle.clone().verify().unwrap();
    let mut alice = Session::new_outbound(&alice_id, &bundle, &mut rng).unwrap();
    let first = prekey_message(alice.encrypt(&mut rng, b"in flight").unwrap());

    bob.prekeys
        .rotate_signed_prekey(&bob.identity, &mut rng, NOW + 1);
    let mut once = bob.prekeys.clone();
    let inbound = Session::new_inbound(&bob.identity, &mut once, &first, &mut rng).unwrap();
    assert_eq!(inbound.plaintext, b"in flight");

    bob.prekeys
        .rotate_signed_prekey(&bob.identity, &mut rng, NOW + 2);
    let result = Session::new_inbound(&bob.identity, &mut bob.prekeys, &first, &mut rng);
    assert_eq!(result.err(), Some(SessionError::DecryptionFailed));
}

/// The acceptance case: 1,000 messages both ways, delivered in random order, some dropped,
/// all the rest decrypt; replays of delivered messages are rejected.
#[test]
fn thousand_messages_random_order_with_drops_all_decrypt() {
    let mut rng = StdRng::seed_from_u64(1000);
    let (mut alice, mut bob) = established(&mut rng);
    struct InFlight {
        to_bob: bool,
        seq: usize,
        bytes: Vec<u8>,
    }
    let mut in_flight: Vec<InFlight> = Vec::new();
    let mut delivered: Vec<InFlight> = Vec::new();
    let (mut sent, mut dropped, mut out_of_order) = (0usize, 0usize, 0usize);
    let mut highest_seen = [0usize; 2];
    while sent < 1000 || !in_flight.is_empty() {
        let send = sent < 1000 && (in_flight.is_empty() || rng.random_bool(0.5));
        if send {
            let to_bob = rng.random_bool(0.5);
            let text = format!("message {sent}");
            let from = if to_bob { &mut alice } else { &mut bob };
            let bytes = from.encrypt(&mut rng, text.as_bytes()).unwrap().to_bytes();
            if rng.random_bool(0.05) {
                dropped += 1;
            } else {
                in_flight.push(InFlight {
                    to_bob,
                    seq: sent,
                    bytes,
                });
            }
            sent += 1;
        } else {
            let pick = rng.random_range(0..in_flight.len());
            let message = in_flight.swap_remove(pick);
            let to = if message.to_bob { &mut bob } else { &mut alice };
            let parsed = SessionMessage::from_bytes(&message.bytes).unwrap();
            let plaintext = to.decrypt(&mut rng, &parsed).unwrap();
            assert_eq!(plaintext, format!("message {}", message.seq).as_bytes());
            let lane = usize::from(message.to_bob);
            if message.seq < highest_seen[lane] {
                out_of_order += 1;
            }
            highest_seen[lane] = highest_seen[lane].max(message.seq);
            delivered.push(message);
        }
    }
    assert_eq!(sent, 1000);
    assert_eq!(delivered.len() + dropped, 1000);
    assert!(dropped > 20, "some messages were dropped ({dropped})");
    assert!(
        out_of_order > 200,
        "many arrived out of order ({out_of_order})"
    );
    // Dropped messages leave their keys behind, bounded by the skip store.
    assert!(bob.skipped_message_keys() + alice.skipped_message_keys() >= dropped);

    for message in delivered.iter().step_by(50) {
        let to = if message.to_bob { &mut bob } else { &mut alice };
        let parsed = SessionMessage::from_bytes(&message.bytes).unwrap();
        assert_eq!(
            to.decrypt(&mut rng, &parsed),
            Err(SessionError::DecryptionFailed)
        );
    }
    // And the session still works both ways.
    roundtrip(&mut rng, &mut alice, &mut bob, b"still here");
    roundtrip(&mut rng, &mut bob, &mut alice, b"me too");
}

#[test]
fn skip_window_is_enforced() {
    let mut rng = StdRng::seed_from_u64(12);
    let (mut alice, mut bob) = established(&mut rng);
    roundtrip(&mut rng, &mut alice, &mut bob, b"index 0");
    let later: Vec<SessionMessage> = (0..MAX_SKIP + 2)
        .map(|i| alice.encrypt(&mut rng, format!("{i}").as_bytes()).unwrap())
        .collect();
    // Next expected index is 1; the last message is MAX_SKIP + 1 keys ahead of it.
    let too_far = later.last().unwrap();
    assert_eq!(
        bob.decrypt(&mut rng, too_far),
        Err(SessionError::DecryptionFailed)
    );
    let at_limit = &later[later.len() - 2];
    assert_eq!(
        bob.decrypt(&mut rng, at_limit).unwrap(),
        format!("{}", MAX_SKIP).as_bytes()
    );
    assert_eq!(bob.decrypt(&mut rng, &later[0]).unwrap(), b"0");
    assert_eq!(
        bob.decrypt(&mut rng, too_far).unwrap(),
        format!("{}", MAX_SKIP + 1).as_bytes()
    );
}

/// Flips every bit of an initial message and of a normal message: each is rejected with the
/// one opaque error, the receiver's state is unchanged, and the untouched message still works.
#[test]
fn every_flipped_bit_is_rejected_opaquely() {
    let mut rng = StdRng::seed_from_u64(13);
    let mut bob = bob(&mut rng, true);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bundle = bob.bundle.clone().verify().unwrap();
    let mut alice = Session::new_outbound(&alice_id, &bundle, &mut rng).unwrap();
    let first = alice.encrypt(&mut rng, b"initial").unwrap().to_bytes();
    let one_time_before = bob.prekeys.one_time_prekey_count();
    for bit in 0..first.len() * 8 {
        let mut bytes = first.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let result = SessionMessage::from_bytes(&bytes).and_then(|m| match m {
            SessionMessage::PreKey(m) => {
                Session::new_inbound(&bob.identity, &mut bob.prekeys, &m, &mut rng).map(|_| ())
            }
            SessionMessage::Ratchet(_) => Err(SessionError::DecryptionFailed),
        });
        assert_eq!(
            result,
            Err(SessionError::DecryptionFailed),
            "bit {bit} of initial message"
        );
    }
    assert_eq!(bob.prekeys.one_time_prekey_count(), one_time_before);
    let first = prekey_message(SessionMessage::from_bytes(&first).unwrap());
    let mut bob_session = Session::new_inbound(&bob.identity, &mut bob.prekeys, &first, &mut rng)
        .unwrap()
        .session;
    roundtrip(&mut rng, &mut bob_session, &mut alice, b"reply");

    // One message in the current chain, one that starts a new DH ratchet step.
    let same_chain = alice.encrypt(&mut rng, b"same chain").unwrap().to_bytes();
    roundtrip(&mut rng, &mut bob_session, &mut alice, b"ratchet");
    let new_step = alice.encrypt(&mut rng, b"new step").unwrap().to_bytes();
    for wire in [&new_step, &same_chain] {
        let snapshot = bob_session.pickle();
        for bit in 0..wire.len() * 8 {
            let mut bytes = wire.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let result =
                SessionMessage::from_bytes(&bytes).and_then(|m| bob_session.decrypt(&mut rng, &m));
            assert_eq!(result, Err(SessionError::DecryptionFailed), "bit {bit}");
        }
        assert_eq!(
            bob_session.pickle(),
            snapshot,
            "failed decryptions changed the state"
        );
    }
    for wire in [&same_chain, &new_step] {
        let message = SessionMessage::from_bytes(wire).unwrap();
        bob_session.decrypt(&mut rng, &message).unwrap();
    }
    // Truncation and extension are tampering too.
    let last = alice.encrypt(&mut rng, b"last").unwrap().to_bytes();
    for bytes in [
        &last[..last.len() - 1],
        &[last.as_slice(), &[0]].concat()[..],
        &[][..],
    ] {
        let result =
            SessionMessage::from_bytes(bytes).and_then(|m| bob_session.decrypt(&mut rng, &m));
        assert_eq!(result, Err(SessionError::DecryptionFailed));
    }
}

/// Forward secrecy and post-compromise security against a copy of Bob's state.
#[test]
fn stolen_state_reads_neither_the_past_nor_the_healed_future() {
    let mut rng = StdRng::seed_from_u64(14);
    let (mut alice, mut bob) = established(&mut rng);
    let past: Vec<SessionMessage> = (0..3)
        .map(|i| {
            alice
                .encrypt(&mut rng, format!("past {i}").as_bytes())
                .unwrap()
        })
        .collect();
    for message in &past {
        bob.decrypt(&mut rng, message).unwrap();
    }
    let stolen_pickle = bob.pickle();
    let stolen = Session::from_pickle(&stolen_pickle).unwrap();

    // Forward secrecy: the keys of messages Bob already read are gone from the copy.
    for message in &past {
        let mut copy = Session::from_pickle(&stolen_pickle).unwrap();
        assert_eq!(
            copy.decrypt(&mut rng, message),
            Err(SessionError::DecryptionFailed)
        );
    }

    // The compromise is real: the copy reads Alice's next message in the same chain.
    let mut attacker = stolen;
    let exposed = alice.encrypt(&mut rng, b"exposed").unwrap();
    assert_eq!(attacker.decrypt(&mut rng, &exposed).unwrap(), b"exposed");
    bob.decrypt(&mut rng, &exposed).unwrap();

    // Bob's current ratchet key was in the copy, so the next exchange is still exposed.
    let from_bob = bob.encrypt(&mut rng, b"bob's stolen ratchet key").unwrap();
    alice.decrypt(&mut rng, &from_bob).unwrap();
    let from_alice = alice.encrypt(&mut rng, b"alice's new ratchet key").unwrap();
    assert!(attacker.decrypt(&mut rng, &from_alice).is_ok());
    bob.decrypt(&mut rng, &from_alice).unwrap();

    // Bob's reply uses a ratchet key made from fresh randomness the attacker lacks; once Alice
    // answers it, both sides have completed a new DH ratchet round and the session is healed.
    let bob_fresh = bob.encrypt(&mut rng, b"bob's fresh ratchet key").unwrap();
    alice.decrypt(&mut rng, &bob_fresh).unwrap();
    let healed: Vec<SessionMessage> = (0..3)
        .map(|i| {
            alice
                .encrypt(&mut rng, format!("healed {i}").as_bytes())
                .unwrap()
        })
        .collect();
    for message in &healed {
        assert_eq!(
            attacker.decrypt(&mut rng, message),
            Err(SessionError::DecryptionFailed)
        );
        bob.decrypt(&mut rng, message).unwrap();
    }
    let reply = bob.encrypt(&mut rng, b"healed reply").unwrap();
    let mut attacker_as_bob = Session::from_pickle(&attacker.pickle()).unwrap();
    // The attacker cannot even impersonate Bob's new chain: Alice rejects forged replies.
    let forged = attacker_as_bob.encrypt(&mut rng, b"forged").unwrap();
    assert_eq!(
        alice.decrypt(&mut rng, &forged),
        Err(SessionError::DecryptionFailed)
    );
    alice.decrypt(&mut rng, &reply).unwrap();
}

#[test]
fn pickled_session_continues_both_ways() {
    let mut rng = StdRng::seed_from_u64(15);
    let (mut alice, mut bob) = established(&mut rng);
    roundtrip(&mut rng, &mut alice, &mut bob, b"one");
    roundtrip(&mut rng, &mut bob, &mut alice, b"two");
    let late = alice.encrypt(&mut rng, b"late").unwrap();
    roundtrip(&mut rng, &mut alice, &mut bob, b"three");

    let alice_pickle = Pickle::from_bytes(alice.pickle().as_bytes().to_vec());
    let bob_pickle = Pickle::from_bytes(bob.pickle().as_bytes().to_vec());
    let mut alice2 = Session::from_pickle(&alice_pickle).unwrap();
    let mut bob2 = Session::from_pickle(&bob_pickle).unwrap();
    assert!(alice2 == alice && bob2 == bob, "restore is exact");
    drop((alice, bob));

    assert_eq!(bob2.decrypt(&mut rng, &late).unwrap(), b"late");
    roundtrip(&mut rng, &mut bob2, &mut alice2, b"four");
    roundtrip(&mut rng, &mut alice2, &mut bob2, b"five");
    roundtrip(&mut rng, &mut alice2, &mut bob2, b"six");
    roundtrip(&mut rng, &mut bob2, &mut alice2, b"seven");

    // Pickles of one kind are not accepted as another, and junk is rejected.
    assert!(Session::from_pickle(&Pickle::from_bytes(vec![1, 4, 0])).is_err());
    let mut cut = bob_pickle.as_bytes().to_vec();
    cut.truncate(cut.len() / 2);
    assert!(Session::from_pickle(&Pickle::from_bytes(cut)).is_err());
}

#[test]
fn padding_hides_lengths_within_a_bucket() {
    let mut rng = StdRng::seed_from_u64(16);
    let (mut alice, _bob) = established(&mut rng);
    let short = alice.encrypt(&mut rng, b"k").unwrap().to_bytes().len();
    let longer = alice
        .encrypt(&mut rng, &[b'x'; 60])
        .unwrap()
        .to_bytes()
        .len();
    let next_bucket = alice
        .encrypt(&mut rng, &[b'x'; 64])
        .unwrap()
        .to_bytes()
        .len();
    assert_eq!(short, longer);
    assert!(next_bucket > longer);
    let too_long = vec![0u8; hush_client_core::limits::MAX_PLAINTEXT_LEN + 1];
    assert_eq!(
        alice.encrypt(&mut rng, &too_long).err(),
        Some(SessionError::PlaintextTooLong)
    );
}

/// XOR of two byte strings (as long as the shorter).
fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// `plaintext` padded to the 64-byte bucket, as the ratchet encrypts it.
fn padded_64(plaintext: &[u8]) -> Vec<u8> {
    let mut padded = plaintext.to_vec();
    padded.push(0x80);
    padded.resize(64, 0);
    padded
}

/// A state restored from an old pickle (crash before saving, backup) encrypts again under a
/// message key it already used. With the random nonce that is not a two-time pad: the XOR of
/// the two ciphertexts is not the XOR of the two plaintexts, and the nonces differ.
#[test]
fn rolled_back_session_does_not_reuse_the_keystream() {
    let mut rng = StdRng::seed_from_u64(17);
    let (mut alice, mut bob) = established(&mut rng);
    let saved = alice.pickle();
    let SessionMessage::Ratchet(first) = alice.encrypt(&mut rng, b"attack at dawn").unwrap() else {
        panic!("established sessions send ratchet messages");
    };
    let mut restored = Session::from_pickle(&saved).unwrap();
    let SessionMessage::Ratchet(second) = restored.encrypt(&mut rng, b"retreat at six").unwrap()
    else {
        panic!("established sessions send ratchet messages");
    };
    let (first, second) = (
        SessionMessage::Ratchet(first).to_bytes(),
        SessionMessage::Ratchet(second).to_bytes(),
    );
    // Same header (same ratchet key and index): the same message key was used twice.
    assert_eq!(first[..42], second[..42]);
    let (nonce1, body1) = first[42..].split_at(24);
    let (nonce2, body2) = second[42..].split_at(24);
    assert_ne!(nonce1, nonce2, "a restored state must draw a fresh nonce");
    assert_ne!(
        xor(&body1[..64], &body2[..64]),
        xor(&padded_64(b"attack at dawn"), &padded_64(b"retreat at six")),
        "keystream reused"
    );
    // The receiver reads the first; the second reuses its index and is rejected as a replay.
    let first = SessionMessage::from_bytes(&first).unwrap();
    assert_eq!(bob.decrypt(&mut rng, &first).unwrap(), b"attack at dawn");
    let second = SessionMessage::from_bytes(&second).unwrap();
    assert_eq!(
        bob.decrypt(&mut rng, &second),
        Err(SessionError::DecryptionFailed)
    );
}
