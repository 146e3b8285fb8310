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

/// `count` members, each of whom has added all the others to its group.
fn members(rng: &mut StdRng, count: usize) -> Vec<Member> {
    let mut members: Vec<Member> = (0..count)
        .map(|_| {
            let identity = IdentityKeyPair::generate(rng);
            let prekeys = LocalPreKeys::new(&identity, rng, 0);
            Member {
                identity,
                prekeys,
                group: GroupSession::new(rng, GROUP),
            }
        })
        .collect();
    let identities: Vec<PublicIdentity> = members.iter().map(|m| m.identity.public()).collect();
    for (at, member) in members.iter_mut().enumerate() {
        for (other, identity) in identities.iter().enumerate() {
            if other != at {
                member.group.add_member(identity);
            }
        }
    }
    members
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
        .encrypt(rng, &distribution.to_bytes())
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
        .encrypt(&mut rng, b"hello, 99 friends")
        .unwrap()
        .to_bytes();
    let alice = members[0].identity.public();
    for member in &mut members[1..] {
        let message = GroupMessage::from_bytes(&wire).unwrap();
        let read = member.group.decrypt(&alice, &message).unwrap();
        assert_eq!(read.plaintext, b"hello, 99 friends");
        assert_eq!(read.sender, alice);
    }

    // Member 99 is removed: every remaining member forgets it, rotates, and sends its new
    // distribution to the remaining members only.
    let removed = members.pop().unwrap();
    let removed_identity = removed.identity.public();
    let mut removed_copy = GroupSession::from_pickle(&removed.group.pickle()).unwrap();
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
            .encrypt(&mut rng, text.as_bytes())
            .unwrap()
            .to_bytes();
        let message = GroupMessage::from_bytes(&wire).unwrap();
        let sender = members[from].identity.public();
        assert_eq!(
            removed_copy.decrypt(&sender, &message),
            Err(GroupError::DecryptionFailed)
        );
        for (to, member) in members.iter_mut().enumerate().filter(|(to, _)| *to != from) {
            let read = member.group.decrypt(&sender, &message).unwrap();
            assert_eq!(read.plaintext, text.as_bytes(), "{from} -> {to}");
        }
    }
    // The removed member's own chain is no longer accepted either.
    let mut removed_group = removed.group;
    let from_removed = removed_group.encrypt(&mut rng, b"still here?").unwrap();
    for member in &mut members {
        assert_eq!(
            member.group.decrypt(&removed_identity, &from_removed),
            Err(GroupError::DecryptionFailed)
        );
    }
    // Nor can it sneak back in with a fresh distribution: it is no longer a member.
    let comeback = removed_group.rotate(&mut rng);
    assert_eq!(
        members[0]
            .group
            .add_distribution(&removed_identity, &comeback),
        Err(GroupError::UnknownMember)
    );

    // A non-member's messages are rejected: its own chain is unknown, and re-labelling a
    // member's chain id fails that chain's signature check.
    let outsider_identity = IdentityKeyPair::generate(&mut rng).public();
    let mut outsider = OutboundSenderKey::new(&mut rng, GROUP);
    let forged = outsider.encrypt(&mut rng, b"I am not a member").unwrap();
    assert_eq!(
        members[1].group.decrypt(&outsider_identity, &forged),
        Err(GroupError::DecryptionFailed)
    );
    let mut bytes = forged.to_bytes();
    bytes[18..34].copy_from_slice(&members[0].group.own_distribution().chain_id());
    let relabelled = GroupMessage::from_bytes(&bytes).unwrap();
    let first_member = members[0].identity.public();
    for member in &mut members[1..] {
        assert_eq!(
            member.group.decrypt(&first_member, &relabelled),
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
            .encrypt(&mut rng, format!("from {from}").as_bytes())
            .unwrap();
        let sender = members[from].identity.public();
        for to in (0..4).filter(|&to| to != from) {
            let read = members[to].group.decrypt(&sender, &message).unwrap();
            assert_eq!(read.sender, sender);
        }
    }
    // Pickle every member's group state mid-conversation; restored state carries on.
    for member in &mut members {
        let restored = GroupSession::from_pickle(&member.group.pickle()).unwrap();
        assert!(restored == member.group);
        member.group = restored;
    }
    let message = members[2]
        .group
        .encrypt(&mut rng, b"after restore")
        .unwrap();
    let sender = members[2].identity.public();
    assert_eq!(
        members[0]
            .group
            .decrypt(&sender, &message)
            .unwrap()
            .plaintext,
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
    let early = sender.encrypt(&mut rng, b"before you joined").unwrap();
    let distribution = sender.distribution();
    let mut receiver = InboundSenderKey::from_distribution(&distribution).unwrap();

    // A distribution carries the chain from its current position: earlier messages stay
    // unreadable to a late joiner.
    assert_eq!(receiver.decrypt(&early), Err(GroupError::DecryptionFailed));

    let mut messages: Vec<(usize, GroupMessage)> = (0..200)
        .map(|i| {
            (
                i,
                sender.encrypt(&mut rng, format!("{i}").as_bytes()).unwrap(),
            )
        })
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
    let wire = sender.encrypt(&mut rng, b"integrity").unwrap().to_bytes();
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
    let mut new_receiver = InboundSenderKey::from_distribution(&rotated.distribution()).unwrap();
    let after = rotated.encrypt(&mut rng, b"rotated").unwrap();
    assert_ne!(after.chain_id(), distribution.chain_id());
    assert_eq!(receiver.decrypt(&after), Err(GroupError::DecryptionFailed));
    assert_eq!(new_receiver.decrypt(&after).unwrap(), b"rotated");

    // A jump ahead on the new chain: the message after the gap decrypts first, then each
    // skipped one from its stored key, once; the old chain's state reads none of them.
    let jump = rng.random_range(1..10);
    let skipped: Vec<GroupMessage> = (0..jump)
        .map(|i| {
            rotated
                .encrypt(&mut rng, format!("skip {i}").as_bytes())
                .unwrap()
        })
        .collect();
    let landing = rotated.encrypt(&mut rng, b"after the jump").unwrap();
    assert_eq!(new_receiver.decrypt(&landing).unwrap(), b"after the jump");
    for (i, message) in skipped.iter().enumerate().rev() {
        assert_eq!(receiver.decrypt(message), Err(GroupError::DecryptionFailed));
        assert_eq!(
            new_receiver.decrypt(message).unwrap(),
            format!("skip {i}").as_bytes()
        );
        assert_eq!(
            new_receiver.decrypt(message),
            Err(GroupError::DecryptionFailed),
            "replay of skipped message {i}"
        );
    }
    assert_eq!(
        new_receiver.decrypt(&landing),
        Err(GroupError::DecryptionFailed),
        "replay after the jump"
    );
}

/// Three members of one group as seen by `victim`: `honest`, `mallory` (a member who turns
/// against the others) and the victim itself; each has its own group state.
struct Trio {
    honest: PublicIdentity,
    honest_group: GroupSession,
    mallory: PublicIdentity,
    mallory_group: GroupSession,
    victim: GroupSession,
}

fn trio(rng: &mut StdRng) -> Trio {
    let honest = IdentityKeyPair::generate(rng).public();
    let mallory = IdentityKeyPair::generate(rng).public();
    let mut victim = GroupSession::new(rng, GROUP);
    victim.add_member(&honest);
    victim.add_member(&mallory);
    Trio {
        honest,
        honest_group: GroupSession::new(rng, GROUP),
        mallory,
        mallory_group: GroupSession::new(rng, GROUP),
        victim,
    }
}

/// A member who forwards another member's distribution as its own is refused, and the other
/// member's messages are never attributed to it.
#[test]
fn forwarded_distribution_cannot_claim_another_members_messages() {
    let mut rng = StdRng::seed_from_u64(103);
    let mut t = trio(&mut rng);
    let honest_distribution = t.honest_group.own_distribution();
    t.victim
        .add_distribution(&t.honest, &honest_distribution)
        .unwrap();
    t.victim
        .add_distribution(&t.mallory, &t.mallory_group.own_distribution())
        .unwrap();

    // Mallory (a member, so it holds honest's distribution) passes it on as its own.
    let before = t.victim.pickle();
    assert_eq!(
        t.victim.add_distribution(&t.mallory, &honest_distribution),
        Err(GroupError::DistributionConflict)
    );
    assert_eq!(
        t.victim.pickle(),
        before,
        "a refused distribution changed state"
    );

    let message = t.honest_group.encrypt(&mut rng, b"from honest").unwrap();
    // Re-sent by Mallory under its own name: Mallory's chains do not include honest's.
    assert_eq!(
        t.victim.decrypt(&t.mallory, &message),
        Err(GroupError::DecryptionFailed)
    );
    let read = t.victim.decrypt(&t.honest, &message).unwrap();
    assert_eq!(read.sender, t.honest);
    assert_eq!(read.plaintext, b"from honest");
}

/// If Mallory's forwarded copy arrives first, the genuine owner's distribution is not silently
/// dropped: it fails with a conflict the app can show.
#[test]
fn forwarded_distribution_arriving_first_is_reported_not_silent() {
    let mut rng = StdRng::seed_from_u64(104);
    let mut t = trio(&mut rng);
    let honest_distribution = t.honest_group.own_distribution();
    t.victim
        .add_distribution(&t.mallory, &honest_distribution)
        .unwrap();
    assert_eq!(
        t.victim.add_distribution(&t.honest, &honest_distribution),
        Err(GroupError::DistributionConflict)
    );
}

/// Registering a chain under another member's chain id (with one's own signing key) is refused,
/// so the owner's messages keep decrypting.
#[test]
fn chain_id_hijack_is_refused_and_owner_still_decrypts() {
    let mut rng = StdRng::seed_from_u64(105);
    let mut t = trio(&mut rng);
    let honest_distribution = t.honest_group.own_distribution();
    t.victim
        .add_distribution(&t.honest, &honest_distribution)
        .unwrap();

    // Mallory's own chain relabelled with honest's chain id (bytes 18..34 of a distribution).
    let mut bytes = t.mallory_group.own_distribution().to_bytes().to_vec();
    bytes[18..34].copy_from_slice(&honest_distribution.chain_id());
    let hijack = SenderKeyDistribution::from_bytes(&bytes).unwrap();
    assert_eq!(
        t.victim.add_distribution(&t.mallory, &hijack),
        Err(GroupError::DistributionConflict)
    );
    // Honest's own key re-registered under a fresh chain id by Mallory: refused too.
    let mut bytes = honest_distribution.to_bytes().to_vec();
    bytes[18..34].copy_from_slice(&[0x42; 16]);
    let rekeyed = SenderKeyDistribution::from_bytes(&bytes).unwrap();
    assert_eq!(
        t.victim.add_distribution(&t.mallory, &rekeyed),
        Err(GroupError::DistributionConflict)
    );
    // Nobody may claim our own chain either.
    assert_eq!(
        t.victim
            .add_distribution(&t.mallory, &t.victim.own_distribution()),
        Err(GroupError::DistributionConflict)
    );

    let message = t.honest_group.encrypt(&mut rng, b"still heard").unwrap();
    assert_eq!(
        t.victim.decrypt(&t.honest, &message).unwrap().plaintext,
        b"still heard"
    );
}

/// Only members added with `add_member` may install chains.
#[test]
fn distributions_from_non_members_are_refused() {
    let mut rng = StdRng::seed_from_u64(106);
    let mut t = trio(&mut rng);
    let stranger = IdentityKeyPair::generate(&mut rng).public();
    let mut stranger_group = GroupSession::new(&mut rng, GROUP);
    assert_eq!(
        t.victim
            .add_distribution(&stranger, &stranger_group.own_distribution()),
        Err(GroupError::UnknownMember)
    );
    assert_eq!(t.victim.members().len(), 2, "no member was created");
    let message = stranger_group.encrypt(&mut rng, b"let me in").unwrap();
    assert_eq!(
        t.victim.decrypt(&stranger, &message),
        Err(GroupError::DecryptionFailed)
    );

    t.victim.add_member(&stranger);
    t.victim.add_member(&stranger);
    assert_eq!(t.victim.members().len(), 3, "adding twice adds once");
    let message = stranger_group.encrypt(&mut rng, b"welcome").unwrap();
    t.victim
        .add_distribution(&stranger, &stranger_group.own_distribution())
        .unwrap();
    // Sent before the distribution's position: unreadable (as for any late joiner).
    assert!(t.victim.decrypt(&stranger, &message).is_err());
    let message = stranger_group.encrypt(&mut rng, b"welcome").unwrap();
    assert_eq!(
        t.victim.decrypt(&stranger, &message).unwrap().plaintext,
        b"welcome"
    );
}

/// Receiving a chain again (a repeat, or an old copy arriving late) keeps the existing state:
/// the chain does not move backwards and stored skipped keys survive, so a relay cannot
/// replay old group messages through it.
#[test]
fn repeated_distribution_does_not_rewind_the_chain() {
    let mut rng = StdRng::seed_from_u64(107);
    let mut t = trio(&mut rng);
    let old_copy = t.honest_group.own_distribution();
    t.victim.add_distribution(&t.honest, &old_copy).unwrap();
    let messages: Vec<GroupMessage> = (0..4)
        .map(|i| {
            t.honest_group
                .encrypt(&mut rng, format!("{i}").as_bytes())
                .unwrap()
        })
        .collect();
    assert_eq!(
        t.victim.decrypt(&t.honest, &messages[2]).unwrap().plaintext,
        b"2"
    );
    let newer_copy = t.honest_group.own_distribution();

    for copy in [&old_copy, &newer_copy, &old_copy] {
        let before = t.victim.pickle();
        t.victim.add_distribution(&t.honest, copy).unwrap();
        assert_eq!(
            t.victim.pickle(),
            before,
            "a repeated distribution changed state"
        );
    }
    assert_eq!(
        t.victim.decrypt(&t.honest, &messages[2]),
        Err(GroupError::DecryptionFailed),
        "replay accepted after a repeated distribution"
    );
    // The keys skipped before the repeat are still there.
    assert_eq!(
        t.victim.decrypt(&t.honest, &messages[0]).unwrap().plaintext,
        b"0"
    );
    assert_eq!(
        t.victim.decrypt(&t.honest, &messages[1]).unwrap().plaintext,
        b"1"
    );
    assert_eq!(
        t.victim.decrypt(&t.honest, &messages[3]).unwrap().plaintext,
        b"3"
    );

    // A chain id with another signing key is not "the same chain": refused.
    let mut bytes = old_copy.to_bytes().to_vec();
    bytes[70..102].copy_from_slice(&t.mallory_group.own_distribution().to_bytes()[70..102]);
    let swapped_key = SenderKeyDistribution::from_bytes(&bytes).unwrap();
    assert_eq!(
        t.victim.add_distribution(&t.honest, &swapped_key),
        Err(GroupError::DistributionConflict)
    );
}

/// Every way `GroupSession::decrypt` can fail leaves the group state exactly as it was.
#[test]
fn failed_group_decryption_leaves_state_unchanged() {
    let mut rng = StdRng::seed_from_u64(108);
    let mut t = trio(&mut rng);
    t.victim
        .add_distribution(&t.honest, &t.honest_group.own_distribution())
        .unwrap();
    t.victim
        .add_distribution(&t.mallory, &t.mallory_group.own_distribution())
        .unwrap();
    let skipped = t.honest_group.encrypt(&mut rng, b"skipped").unwrap();
    let read = t.honest_group.encrypt(&mut rng, b"read").unwrap();
    t.victim.decrypt(&t.honest, &read).unwrap();
    let ahead = t.honest_group.encrypt(&mut rng, b"ahead").unwrap();
    let mut tampered = ahead.to_bytes();
    let last = tampered.len() - 70;
    tampered[last] ^= 1;
    let tampered = GroupMessage::from_bytes(&tampered).unwrap();
    let stranger = IdentityKeyPair::generate(&mut rng).public();
    let other_group = GroupSession::new(&mut rng, [7; 16])
        .encrypt(&mut rng, b"x")
        .unwrap();

    let snapshot = t.victim.pickle();
    let attempts: [(&PublicIdentity, &GroupMessage); 5] = [
        (&t.honest, &read),        // replay
        (&t.mallory, &ahead),      // wrong claimed sender
        (&stranger, &ahead),       // non-member
        (&t.honest, &tampered),    // one flipped bit in the tag
        (&t.honest, &other_group), // unknown chain of another group
    ];
    for (sender, message) in attempts {
        assert_eq!(
            t.victim.decrypt(sender, message),
            Err(GroupError::DecryptionFailed)
        );
        assert_eq!(
            t.victim.pickle(),
            snapshot,
            "a failed decryption changed state"
        );
    }
    assert_eq!(
        t.victim.decrypt(&t.honest, &ahead).unwrap().plaintext,
        b"ahead"
    );
    assert_eq!(
        t.victim.decrypt(&t.honest, &skipped).unwrap().plaintext,
        b"skipped"
    );
}

/// A group chain restored from an old pickle encrypts again under an iteration it already
/// used; the random nonce keeps that from reusing the keystream.
#[test]
fn rolled_back_sender_key_does_not_reuse_the_keystream() {
    let mut rng = StdRng::seed_from_u64(109);
    let mut sender = OutboundSenderKey::new(&mut rng, GROUP);
    let saved = sender.pickle();
    let first = sender
        .encrypt(&mut rng, b"attack at dawn")
        .unwrap()
        .to_bytes();
    let mut restored = OutboundSenderKey::from_pickle(&saved).unwrap();
    let second = restored
        .encrypt(&mut rng, b"retreat at six")
        .unwrap()
        .to_bytes();
    // Same 38-byte header (same chain and iteration), then nonce (24), ciphertext, tag, signature.
    assert_eq!(first[..38], second[..38]);
    assert_ne!(
        first[38..62],
        second[38..62],
        "a restored chain must draw a fresh nonce"
    );
    let xor = |a: &[u8], b: &[u8]| -> Vec<u8> { a.iter().zip(b).map(|(x, y)| x ^ y).collect() };
    let padded = |m: &[u8]| {
        let mut p = m.to_vec();
        p.push(0x80);
        p.resize(64, 0);
        p
    };
    assert_ne!(
        xor(&first[62..126], &second[62..126]),
        xor(&padded(b"attack at dawn"), &padded(b"retreat at six")),
        "keystream reused"
    );
}
