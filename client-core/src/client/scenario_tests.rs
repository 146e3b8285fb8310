//! Client scenarios against an in-process relay (whose store the tests can inspect).

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use hush_relay::store::{MemoryStore, RelayStore};
use hush_relay::tls::RelayIdentity;
use tokio_util::sync::CancellationToken;

use super::groups::{GroupAction, GroupOp, GroupUpdate, sign};
use super::records::ConversationId;
use super::{Client, Event, SyncReport};
use crate::content::Body;
use crate::storage_key::KdfParams;
use crate::transport::Push;

struct Relay {
    address: hush_protocol::RelayAddress,
    store: Arc<dyn RelayStore>,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

fn relay() -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn RelayStore> = Arc::new(MemoryStore::new());
    let identity = RelayIdentity::load_or_create(dir.path()).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = hush_relay::Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    let relay = hush_relay::Relay::from_parts(config, store.clone(), &identity, socket).unwrap();
    let address = relay.address().clone();
    let stop = CancellationToken::new();
    tokio::spawn(relay.run(stop.clone()));
    Relay {
        address,
        store,
        stop,
        _dir: dir,
    }
}

async fn user(relay: &Relay, dir: &tempfile::TempDir, name: &str) -> Client {
    let mut client =
        Client::create(&dir.path().join(name), b"pass", KdfParams::INSECURE_FAST).unwrap();
    client
        .init_account(relay.address.clone(), Some(name.to_owned()))
        .await
        .unwrap();
    client
}

async fn befriend(a: &mut Client, a_name: &str, b: &mut Client, b_name: &str) {
    let a_code = a.invite().unwrap().encode();
    let b_code = b.invite().unwrap().encode();
    a.add_contact(&b_code, Some(b_name)).await.unwrap();
    b.add_contact(&a_code, Some(a_name)).await.unwrap();
}

async fn sync(client: &mut Client) -> Vec<Event> {
    let mut events = Vec::new();
    client
        .sync(Duration::ZERO, |_, e| events.push(e.clone()))
        .await
        .unwrap();
    events
}

fn texts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

/// Alice (owner), Bob and Mallory in #team, all keys exchanged.
async fn team(relay: &Relay, dir: &tempfile::TempDir) -> (Client, Client, Client) {
    let mut alice = user(relay, dir, "alice").await;
    let mut bob = user(relay, dir, "bob").await;
    let mut mallory = user(relay, dir, "mallory").await;
    befriend(&mut alice, "alice", &mut bob, "bob").await;
    befriend(&mut alice, "alice", &mut mallory, "mallory").await;
    alice
        .create_group("team", &["bob".into(), "mallory".into()])
        .await
        .unwrap();
    sync(&mut bob).await;
    sync(&mut mallory).await;
    sync(&mut alice).await;
    sync(&mut bob).await;
    sync(&mut mallory).await;
    (alice, bob, mallory)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kicked_member_cannot_read_what_follows_even_when_handed_the_envelope() {
    let relay = relay();
    let dir = tempfile::tempdir().unwrap();
    let (mut alice, mut bob, mut mallory) = team(&relay, &dir).await;
    alice.send_text("#team", "before the kick").await.unwrap();
    assert_eq!(texts(&sync(&mut mallory).await), vec!["before the kick"]);
    assert_eq!(texts(&sync(&mut bob).await), vec!["before the kick"]);

    alice.group_remove("#team", "mallory").await.unwrap();
    let events = sync(&mut mallory).await;
    assert!(
        events.iter().any(
            |e| matches!(e, Event::GroupChanged { change, .. } if change.contains("no longer"))
        ),
        "{events:?}"
    );
    sync(&mut bob).await; // applies the removal, rotates, sends its new key
    sync(&mut alice).await;

    alice.send_text("#team", "after the kick").await.unwrap();
    // Hand Mallory the envelope Bob is about to receive.
    let bob_mailbox = bob.whoami().unwrap().mailbox;
    let queued = relay.store.queue(&bob_mailbox, 10).unwrap();
    let envelope = queued.last().unwrap().delivery.clone();
    let mut report = SyncReport::default();
    let handed = mallory.receive_envelope(&envelope, &mut report).unwrap();
    assert!(
        texts(&handed).is_empty(),
        "Mallory must not read it: {handed:?}"
    );
    assert!(
        texts(&sync(&mut mallory).await).is_empty(),
        "and the relay sends her nothing"
    );
    assert_eq!(texts(&sync(&mut bob).await), vec!["after the kick"]);
    assert!(mallory.groups().unwrap().is_empty());
    relay.stop.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_admin_operation_is_refused_by_everyone() {
    let relay = relay();
    let dir = tempfile::tempdir().unwrap();
    let (mut alice, mut bob, mut mallory) = team(&relay, &dir).await;
    // Mallory (a plain member) signs "remove Bob" herself and sends it to everyone, bypassing
    // her own client's check.
    let group = alice.groups().unwrap()[0].id;
    let record = mallory.group_record(&group).unwrap();
    let op = GroupOp {
        group,
        version: record.state.version + 1,
        author: mallory.whoami().unwrap().mailbox,
        action: GroupAction::Remove {
            mailbox: bob.whoami().unwrap().mailbox,
        },
    };
    let signed = sign(&mallory.account().unwrap().identity, &op).unwrap();
    let mut batch = mallory.store.batch();
    for to in [
        alice.whoami().unwrap().mailbox,
        bob.whoami().unwrap().mailbox,
    ] {
        let update = GroupUpdate {
            group,
            op: Some(signed.clone()),
            sender_key: None,
            snapshot: None,
        };
        mallory
            .queue_pairwise(&mut batch, to, Body::Group(update))
            .unwrap();
    }
    mallory.store.commit(batch).unwrap();
    sync(&mut mallory).await;
    for client in [&mut alice, &mut bob] {
        let events = sync(client).await;
        assert!(
            events.iter().any(|e| matches!(e, Event::GroupChangeRefused { reason, .. } if reason.contains("admin"))),
            "{events:?}"
        );
        let info = client.group_info("#team").unwrap();
        assert_eq!(info.members.len(), 3, "Bob is still in the group");
    }
    relay.stop.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_and_presence_reach_only_connected_contacts_and_are_never_stored() {
    let relay = relay();
    let dir = tempfile::tempdir().unwrap();
    let mut alice = user(&relay, &dir, "alice").await;
    let mut bob = user(&relay, &dir, "bob").await;
    befriend(&mut alice, "alice", &mut bob, "bob").await;
    alice.send_text("bob", "hi").await.unwrap();
    sync(&mut bob).await;
    sync(&mut alice).await;
    let stored_before = relay.store.pending();

    // Bob online: he sees Alice typing and her presence.
    let mut bob_connection = bob.connect().await.unwrap();
    bob_connection.subscribe().await.unwrap();
    assert_eq!(bob_connection.next_push().await.unwrap(), Push::Drained);
    let mut prefs = alice.preferences().unwrap();
    prefs.presence = true;
    alice.set_preferences(&prefs).unwrap();
    let alice_connection = alice.connect().await.unwrap();
    alice
        .send_typing(&alice_connection, "bob", true)
        .await
        .unwrap();
    alice.announce_presence(&alice_connection, true).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        match tokio::time::timeout(Duration::from_secs(10), bob_connection.next_push())
            .await
            .unwrap()
            .unwrap()
        {
            Push::Ephemeral(delivery) => seen.extend(bob.handle_ephemeral(&delivery).unwrap()),
            other => panic!("expected an ephemeral push, got {other:?}"),
        }
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Typing { active: true, .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Presence { online: true, .. })),
        "{seen:?}"
    );
    let alice_mailbox = alice.whoami().unwrap().mailbox;
    let contact = bob.resolve("alice").unwrap();
    assert!(super::is_online(&contact, super::now_ms()));
    assert_eq!(contact.mailbox, alice_mailbox);
    bob_connection.close().await;

    // Bob offline: typing goes nowhere, and is not waiting for him later.
    alice
        .send_typing(&alice_connection, "bob", true)
        .await
        .unwrap();
    alice_connection.close().await;
    assert_eq!(
        relay.store.pending(),
        stored_before,
        "nothing ephemeral was stored"
    );
    let later = sync(&mut bob).await;
    assert!(
        !later.iter().any(|e| matches!(e, Event::Typing { .. })),
        "no stale typing: {later:?}"
    );
    // The sessions survived the ephemeral traffic: a normal message still decrypts.
    alice.send_text("bob", "still in sync").await.unwrap();
    assert_eq!(texts(&sync(&mut bob).await), vec!["still in sync"]);
    let _ = ConversationId::Direct(alice_mailbox);
    relay.stop.cancel();
}
