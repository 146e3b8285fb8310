//! Criterion benchmarks of the client crypto: the Double Ratchet, X3DH and Sender Keys.
//!
//! Run: `cargo bench -p hush-client-core --bench crypto -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hush_client_core::{
    GroupMessage, GroupSession, IdentityKeyPair, LocalPreKeys, PreKeyBundle, Session,
    SessionMessage,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const MESSAGE: [u8; 256] = [0x42; 256];

fn established(rng: &mut StdRng) -> (Session, Session) {
    let bob = IdentityKeyPair::generate(rng);
    let mut prekeys = LocalPreKeys::new(&bob, rng, 0);
    let bundle = PreKeyBundle {
        identity: bob.public(),
        signed_prekey: prekeys.signed_prekey(),
        one_time_prekey: None,
    }
    .verify()
    .unwrap();
    let alice = IdentityKeyPair::generate(rng);
    let mut alice_session = Session::new_outbound(&alice, &bundle, rng).unwrap();
    let SessionMessage::PreKey(first) = alice_session.encrypt(rng, b"hi").unwrap() else {
        unreachable!()
    };
    let mut bob_session = Session::new_inbound(&bob, &mut prekeys, &first, rng)
        .unwrap()
        .session;
    let reply = bob_session.encrypt(rng, b"hello").unwrap();
    alice_session.decrypt(rng, &reply).unwrap();
    (alice_session, bob_session)
}

fn ratchet(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let (mut alice, mut bob) = established(&mut rng);
    c.bench_function("ratchet encrypt+decrypt 256 B (same chain)", |b| {
        b.iter(|| {
            let wire = alice
                .encrypt(&mut rng, black_box(&MESSAGE))
                .unwrap()
                .to_bytes();
            let message = SessionMessage::from_bytes(&wire).unwrap();
            black_box(bob.decrypt(&mut rng, &message).unwrap())
        });
    });
    c.bench_function(
        "ratchet encrypt+decrypt 256 B (new DH step each message)",
        |b| {
            let mut to_bob = true;
            b.iter(|| {
                let (from, to) = if to_bob {
                    (&mut alice, &mut bob)
                } else {
                    (&mut bob, &mut alice)
                };
                to_bob = !to_bob;
                let wire = from
                    .encrypt(&mut rng, black_box(&MESSAGE))
                    .unwrap()
                    .to_bytes();
                let message = SessionMessage::from_bytes(&wire).unwrap();
                black_box(to.decrypt(&mut rng, &message).unwrap())
            });
        },
    );
}

fn x3dh(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = LocalPreKeys::new(&bob, &mut rng, 0);
    let one_time = prekeys.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let bundle = PreKeyBundle {
        identity: bob.public(),
        signed_prekey: prekeys.signed_prekey(),
        one_time_prekey: one_time.first().cloned(),
    };
    let alice = IdentityKeyPair::generate(&mut rng);
    c.bench_function("x3dh initiate (verify bundle + new_outbound)", |b| {
        b.iter(|| {
            let verified = bundle.clone().verify().unwrap();
            black_box(Session::new_outbound(&alice, &verified, &mut rng).unwrap())
        });
    });
    c.bench_function(
        "x3dh full handshake (initiate + first message + new_inbound)",
        |b| {
            b.iter_batched(
                || prekeys.clone(),
                |mut prekeys| {
                    let verified = bundle.clone().verify().unwrap();
                    let mut session = Session::new_outbound(&alice, &verified, &mut rng).unwrap();
                    let SessionMessage::PreKey(first) =
                        session.encrypt(&mut rng, &MESSAGE).unwrap()
                    else {
                        unreachable!()
                    };
                    black_box(Session::new_inbound(&bob, &mut prekeys, &first, &mut rng).unwrap())
                },
                BatchSize::SmallInput,
            );
        },
    );
}

/// A sender's group session with `members - 1` other members (each with a chain installed).
fn sender_with(rng: &mut StdRng, id: [u8; 16], members: usize) -> GroupSession {
    let mut sender = GroupSession::new(rng, id);
    for _ in 1..members {
        let member = IdentityKeyPair::generate(rng).public();
        let other = GroupSession::new(rng, id);
        sender.add_member(&member);
        sender
            .add_distribution(&member, &other.own_distribution())
            .unwrap();
    }
    sender
}

fn group(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(3);
    let id = [7u8; 16];
    // One ciphertext for the whole group: the cost must not grow with the member count.
    let mut large = sender_with(&mut rng, id, 1000);
    c.bench_function(
        "group encrypt 256 B for 1000 members (one ciphertext)",
        |b| {
            b.iter(|| {
                black_box(
                    large
                        .encrypt(&mut rng, black_box(&MESSAGE))
                        .unwrap()
                        .to_bytes(),
                )
            });
        },
    );
    drop(large);
    let mut sender = sender_with(&mut rng, id, 100);
    let mut receiver = GroupSession::new(&mut rng, id);
    let sender_identity = IdentityKeyPair::generate(&mut rng).public();
    receiver.add_member(&sender_identity);
    receiver
        .add_distribution(&sender_identity, &sender.own_distribution())
        .unwrap();
    c.bench_function(
        "group encrypt 256 B for 100 members (one ciphertext)",
        |b| {
            b.iter(|| {
                black_box(
                    sender
                        .encrypt(&mut rng, black_box(&MESSAGE))
                        .unwrap()
                        .to_bytes(),
                )
            });
        },
    );
    // Resynchronise: the receiver joins at the sender's current position.
    let mut receiver_fresh = GroupSession::new(&mut rng, id);
    receiver_fresh.add_member(&sender_identity);
    receiver_fresh
        .add_distribution(&sender_identity, &sender.own_distribution())
        .unwrap();
    drop(receiver);
    c.bench_function("group decrypt 256 B (one member)", |b| {
        b.iter(|| {
            let wire = sender.encrypt(&mut rng, &MESSAGE).unwrap().to_bytes();
            let message = GroupMessage::from_bytes(&wire).unwrap();
            black_box(receiver_fresh.decrypt(&sender_identity, &message).unwrap())
        });
    });
}

criterion_group!(benches, ratchet, x3dh, group);
criterion_main!(benches);
