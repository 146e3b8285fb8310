//! The client service (`hush_client_core::service`) against a real relay process: two services
//! send while they receive, and both ride out a relay restart.

use std::time::Duration;

use hush_client_core::service::{ConnectionState, ServiceEvent};
use hush_client_core::{Event, Status};
use hush_tests::service::{at_least_stored, befriend, connected, until, user};
use hush_tests::{RelayProcess, free_udp_port, target_binary};

fn received_texts(events: &[ServiceEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            ServiceEvent::Received(Event::Message(message)) => Some(message.text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_send_while_receiving_and_survive_a_relay_restart() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_udp_port().unwrap());
    let relay_dir = dir.path().join("relay");
    let relay =
        RelayProcess::start(&target_binary("hush-relay"), &relay_dir, &listen, &[]).unwrap();
    let alice = user(dir.path(), "alice", &relay).await;
    let bob = user(dir.path(), "bob", &relay).await;
    befriend(&alice, "alice", &bob, "bob").await;

    // Commands are served while offline, and going online needs no waiting.
    alice.set_online(true).await.unwrap();
    bob.set_online(true).await.unwrap();
    until(&alice, connected).await;
    until(&bob, connected).await;

    // Both send while receiving: interleaved, each side's messages arrive complete and in
    // order, and each sender hears that the relay stored its own.
    const N: usize = 15;
    for n in 0..N {
        let sent = alice
            .send_text("bob".into(), format!("a{n}"))
            .await
            .unwrap();
        assert_eq!(sent.status, Status::Queued, "send returns once queued");
        bob.send_text("alice".into(), format!("b{n}"))
            .await
            .unwrap();
    }
    for (me, prefix) in [(&alice, "b"), (&bob, "a")] {
        let mut stored = std::collections::HashSet::new();
        let mut texts = Vec::new();
        until(me, |event| {
            match event {
                ServiceEvent::MessageStatus(message) if at_least_stored(message.status) => {
                    stored.insert(message.id);
                }
                ServiceEvent::Received(Event::Message(message)) => texts.push(message.text.clone()),
                _ => {}
            }
            stored.len() == N && texts.len() == N
        })
        .await;
        let expected: Vec<String> = (0..N).map(|n| format!("{prefix}{n}")).collect();
        assert_eq!(texts, expected);
    }
    let history = bob.history("alice".into(), 100, None).await.unwrap();
    assert_eq!(history.len(), 2 * N);

    // The relay goes away: the services keep retrying, a message sent meanwhile waits in the
    // outbox, and everything flows again once the relay is back.
    let status = relay.terminate().unwrap();
    assert!(status.success());
    until(&alice, |event| {
        matches!(
            event,
            ServiceEvent::Connection(ConnectionState::Retrying { .. })
        )
    })
    .await;
    let queued = alice
        .send_text("bob".into(), "while the relay was down".into())
        .await
        .unwrap();
    assert_eq!(queued.status, Status::Queued);
    // It waits in the outbox (maybe beside receipts that had not gone out yet).
    assert!(alice.outbox_len().await.unwrap() >= 1);
    let _relay =
        RelayProcess::start(&target_binary("hush-relay"), &relay_dir, &listen, &[]).unwrap();
    until(&alice, |event| {
        matches!(event, ServiceEvent::MessageStatus(m) if m.id == queued.id && at_least_stored(m.status))
    })
    .await;
    let events = until(&bob, |event| {
        received_texts(std::slice::from_ref(event)) == ["while the relay was down"]
    })
    .await;
    assert!(events.iter().any(connected), "bob reconnected: {events:#?}");

    // Going offline is reported; shutting down ends the event stream and later commands fail.
    alice.set_online(false).await.unwrap();
    until(&alice, |event| {
        matches!(
            event,
            ServiceEvent::Connection(ConnectionState::Offline { reason: None })
        )
    })
    .await;
    alice.shutdown().await;
    assert!(alice.contacts().await.is_err());
    bob.shutdown().await;
}

/// Sending runs beside the service: with the relay frozen (SIGSTOP) after a message was
/// queued, other calls — including an edit that must reach the relay too — are still served,
/// and everything goes out once the relay runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_served_while_the_relay_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start_in(dir.path()).unwrap();
    let alice = user(dir.path(), "alice", &relay).await;
    let bob = user(dir.path(), "bob", &relay).await;
    befriend(&alice, "alice", &bob, "bob").await;
    alice.set_online(true).await.unwrap();
    bob.set_online(true).await.unwrap();
    until(&alice, connected).await;
    until(&bob, connected).await;
    let first = alice.send_text("bob".into(), "hello".into()).await.unwrap();
    until(&alice, |event| {
        matches!(event, ServiceEvent::MessageStatus(m) if m.id == first.id && at_least_stored(m.status))
    })
    .await;

    relay.signal("-STOP").unwrap();
    let frozen = alice
        .send_text("bob".into(), "while frozen".into())
        .await
        .unwrap();
    // Before the outbox flush was split, each of these waited behind the send of the message
    // above until the transport's 15 s request timeout; the bound only detects that wait.
    let served = tokio::time::timeout(Duration::from_secs(10), async {
        let edited = alice
            .edit_message(frozen.id, "while frozen (edited)".into())
            .await
            .unwrap();
        let history = alice.history("bob".into(), 10, None).await.unwrap();
        let contacts = alice.contacts().await.unwrap();
        (edited, history, contacts)
    })
    .await;
    relay.signal("-CONT").unwrap();
    let (edited, history, contacts) = served.expect("calls were served while the relay was frozen");
    assert_eq!(edited.text, "while frozen (edited)");
    assert_eq!(history[0].id, frozen.id);
    assert_eq!(history[0].status, Status::Queued, "not answered yet");
    assert_eq!(contacts.len(), 1);

    until(&alice, |event| {
        matches!(event, ServiceEvent::MessageStatus(m) if m.id == frozen.id && at_least_stored(m.status))
    })
    .await;
    until(&bob, |event| {
        matches!(event, ServiceEvent::Received(Event::Edited(m)) if m.text == "while frozen (edited)")
    })
    .await;
    alice.shutdown().await;
    bob.shutdown().await;
}
