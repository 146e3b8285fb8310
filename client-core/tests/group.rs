//! Sender Keys end to end: one ciphertext for all, removal with rotation, forgery, ordering.

use hush_client_core::{
    GroupError, GroupMessage, GroupSession, IdentityKeyPair, InboundSenderKey, LocalPreKeys,
    OutboundSenderKey, PreKeyBundle, PublicIdentity, SenderKeyDistribution, Session,
    SessionMessage,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

const GROUP: [u8; 16] = *b"hush-test-group!";

struct Member {
    identity: IdentityKeyPair,
    prekeys: LocalPreKeys,
    group: GroupSession,
}

fn members(rng: &mut StdRng, count: usize) -> Vec<Member> {
    (0..count)
        .map(|_| {
            let identity = IdentityKeyPair::generate(rng);
            let prekeys = LocalPreKeys::new(&identity, rng, 0);
            Member {
                identity,
                prekeys,
                group: GroupSession::new(rng, GROUP),
            }
        })
        .collect()
}

/// Sends `distribution` from member `from` to member `to` over a fresh pairwise session
/// (X3DH + Double Ratchet), as the app would, and installs it at `to`.
fn send_over_session(
    rng: &mut StdRng,
    members: &mut [Member],
    from: usize,
    to: usize,
    distribution: &SenderKeyDistribution,
) {
    let bundle = PreKeyBundle {
        identity: members[to].identity.public(),
        signed_prekey: members[to].prekeys.signed_prekey(),
        one_time_prekey: None,
    }
    .verify()
    .unwrap();
    let mut session = Session::new_outbound(&members[from].identity, &bundle, rng).unwrap();
    let wire = session
        .encrypt(&distribution.to_bytes())
        .unwrap()
        .to_bytes();
    let SessionMessage::PreKey(initial) = SessionMessage::from_bytes(&wire).unwrap() else {
        panic!("expected an initial message");
    };
    let receiver = &mut members[to];
    let inbound =
        Session::new_inbound(&receiver.identity, &mut receiver.prekeys, &initial, rng).unwrap();
    let received = SenderKeyDistribution::from_bytes(&inbound.plaintext).unwrap();
    let sender = inbound.session.remote_identity().clone();
    receiver.group.add_distribution(&sender, &received).unwrap();
}

/// Installs `distribution` (already carried by a pairwise session) at member `to`.
fn install(members: &mut [Member], from: &PublicIdentity, to: usize, d: &SenderKeyDistribution) {
    let received = SenderKeyDistribution::from_bytes(&d.to_bytes()).unwrap();
    members[to].group.add_distribution(from, &received).unwrap();
}

/// The acceptance case: a group of 100.
#[test]
fn group_of_100_removal_rotation_and_forgery() {
    let mut rng = StdRng::seed_from_u64(100);
    let mut members = members(&mut rng, 100);

    // Member 0 distributes its sender key over real pairwise sessions; the others' keys are
    // installed directly (the pairwise transport is exercised above and in the session tests).
    let first = members[0].group.own_distribution();
    for to in 1..100 {
        send_over_session(&mut rng, &mut members, 0, to, &first);
    }
    for from in 1..100 {
        let d = members[from].group.own_distribution();
        let sender = members[from].identity.public();
        for to in (0..100).filter(|&to| to != from) {
            install(&mut members, &sender, to, &d);
        }
    }

    // One encryption; all 99 others decrypt the same bytes.
    let wire = members[0]
        .group
        .encrypt(b"hello, 99 friends")
        .unwrap()
        .to_bytes();
    let alice = members[0].identity.public();
    for member in &mut members[1..] {
        let message = GroupMessage::from_bytes(&wire).unwrap();
        let read = member.group.decrypt(&message).unwrap();
        assert_eq!(read.plaintext, b"hello, 99 friends");
        assert_eq!(read.sender, alice);
    }

    // Member 99 is removed: every remaining member forgets it, rotates, and sends its new
    // distribution to the remaining members only.
    let removed = members.pop().unwrap();
    let removed_identity = removed.identity.public();
    let mut removed_copy = removed.group.clone();
    let new_keys: Vec<(PublicIdentity, SenderKeyDistribution)> = members
        .iter_mut()
        .map(|m| {
            (
                m.identity.public(),
                m.group.remove_member(&removed_identity, &mut rng),
            )
        })
        .collect();
    for (from, (sender, d)) in new_keys.iter().enumerate() {
        for to in (0..members.len()).filter(|&to| to != from) {
            install(&mut members, sender, to, d);
        }
    }
    for member in &members {
        assert!(
            !member
                .group
                .members()
                .iter()
                .any(|m| m.same_keys(&removed_identity))
        );
        assert_eq!(member.group.members().len(), 98);
    }

    // Everyone rotated: a message from each remaining member decrypts at every other remaining
    // member and at nobody holding the removed member's (old) sender keys.
    for from in 0..members.len() {
        let text = format!("after removal from {from}");
        let wire = members[from]
            .group
            .encrypt(text.as_bytes())
            .unwrap()
            .to_bytes();
        let message = GroupMessage::from_bytes(&wire).unwrap();
        assert_eq!(
            removed_copy.decrypt(&message),
            Err(GroupError::DecryptionFailed)
        );
        for (to, member) in members.iter_mut().enumerate().filter(|(to, _)| *to != from) {
            let read = member.group.decrypt(&message).unwrap();
            assert_eq!(read.plaintext, text.as_bytes(), "{from} -> {to}");
        }
    }
    // The removed member's own chain is no longer accepted either.
    let mut removed_group = removed.group;
    let from_removed = removed_group.encrypt(b"still here?").unwrap();
    for member in &mut members {
        assert_eq!(
            member.group.decrypt(&from_removed),
            Err(GroupError::DecryptionFailed)
        );
    }

    // A non-member's messages are rejected: its own chain is unknown, and re-labelling a
    // member's chain id fails that chain's signature check.
    let mut outsider = OutboundSenderKey::new(&mut rng, GROUP);
    let forged = outsider.encrypt(b"I am not a member").unwrap();
    assert_eq!(
        members[1].group.decrypt(&forged),
        Err(GroupError::DecryptionFailed)
    );
    let mut bytes = forged.to_bytes();
    bytes[18..34].copy_from_slice(&members[0].group.own_distribution().chain_id());
    let relabelled = GroupMessage::from_bytes(&bytes).unwrap();
    for member in &mut members[1..] {
        assert_eq!(
            member.group.decrypt(&relabelled),
            Err(GroupError::DecryptionFailed)
        );
    }
}

#[test]
fn distribution_over_pairwise_sessions_and_group_pickles() {
    let mut rng = StdRng::seed_from_u64(101);
    let mut members = members(&mut rng, 4);
    for from in 0..4 {
        let d = members[from].group.own_distribution();
        for to in (0..4).filter(|&to| to != from) {
            send_over_session(&mut rng, &mut members, from, to, &d);
        }
    }
    for from in 0..4 {
        let message = members[from]
            .group
            .encrypt(format!("from {from}").as_bytes())
            .unwrap();
        for to in (0..4).filter(|&to| to != from) {
            let read = members[to].group.decrypt(&message).unwrap();
            assert_eq!(read.sender, members[from].identity.public());
        }
    }
    // Pickle every member's group state mid-conversation; restored state carries on.
    for member in &mut members {
        let restored = GroupSession::from_pickle(&member.group.pickle()).unwrap();
        assert!(restored == member.group);
        member.group = restored;
    }
    let message = members[2].group.encrypt(b"after restore").unwrap();
    assert_eq!(
        members[0].group.decrypt(&message).unwrap().plaintext,
        b"after restore"
    );

    // A distribution for another group is refused.
    let other = GroupSession::new(&mut rng, [9; 16]).own_distribution();
    let sender = members[1].identity.public();
    assert_eq!(
        members[0].group.add_distribution(&sender, &other),
        Err(GroupError::InvalidDistribution)
    );
    assert_eq!(
        SenderKeyDistribution::from_bytes(&[1, 3, 0]).err(),
        Some(GroupError::InvalidDistribution)
    );
}

#[test]
fn group_messages_out_of_order_replayed_tampered_and_late_joiners() {
    let mut rng = StdRng::seed_from_u64(102);
    let mut sender = OutboundSenderKey::new(&mut rng, GROUP);
    let early = sender.encrypt(b"before you joined").unwrap();
    let distribution = sender.distribution();
    let mut receiver = InboundSenderKey::from_distribution(&distribution).unwrap();

    // A distribution carries the chain from its current position: earlier messages stay
    // unreadable to a late joiner.
    assert_eq!(receiver.decrypt(&early), Err(GroupError::DecryptionFailed));

    let mut messages: Vec<(usize, GroupMessage)> = (0..200)
        .map(|i| (i, sender.encrypt(format!("{i}").as_bytes()).unwrap()))
        .collect();
    messages.shuffle(&mut rng);
    let (delivered, dropped) = messages.split_at(190);
    for (i, message) in delivered {
        assert_eq!(
            receiver.decrypt(message).unwrap(),
            format!("{i}").as_bytes()
        );
    }
    assert_eq!(dropped.len(), 10);
    for (_, message) in delivered.iter().take(20) {
        assert_eq!(
            receiver.decrypt(message),
            Err(GroupError::DecryptionFailed),
            "replay"
        );
    }

    // Every flipped bit of a fresh message is rejected and changes nothing.
    let wire = sender.encrypt(b"integrity").unwrap().to_bytes();
    let snapshot = receiver.pickle();
    for bit in 0..wire.len() * 8 {
        let mut bytes = wire.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let result = GroupMessage::from_bytes(&bytes).and_then(|m| receiver.decrypt(&m));
        assert_eq!(result, Err(GroupError::DecryptionFailed), "bit {bit}");
    }
    assert_eq!(receiver.pickle(), snapshot);
    let mut receiver = InboundSenderKey::from_pickle(&snapshot).unwrap();
    assert_eq!(
        receiver
            .decrypt(&GroupMessage::from_bytes(&wire).unwrap())
            .unwrap(),
        b"integrity"
    );

    // The dropped messages' keys are still held; the outbound chain pickles exactly.
    let (i, message) = &dropped[0];
    assert_eq!(
        receiver.decrypt(message).unwrap(),
        format!("{i}").as_bytes()
    );
    let restored = OutboundSenderKey::from_pickle(&sender.pickle()).unwrap();
    assert!(restored == sender);

    // Rotation consumes the old chain; the old receiver state cannot read the new one.
    let mut rotated = sender.rotate(&mut rng);
    let after = rotated.encrypt(b"rotated").unwrap();
    assert_ne!(after.chain_id(), distribution.chain_id());
    assert_eq!(receiver.decrypt(&after), Err(GroupError::DecryptionFailed));
    let jump = rng.random_range(0..10);
    for _ in 0..jump {
        rotated.encrypt(b"skip").unwrap();
    }
}
