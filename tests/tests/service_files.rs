//! File transfers through the client service (`hush_client_core::service`) against a real
//! relay process: transfers run on the service's tasks, so other calls are served while a
//! large upload is under way; files recorded offline go out after connecting; a changed source
//! fails cleanly; shutting down cancels a running upload, which stays recorded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hush_client_core::service::{ClientHandle, ConnectionState, ServiceEvent};
use hush_client_core::{Client, Direction, Event, FileState, MessageId, Status, StorageKey};
use hush_tests::{RelayProcess, free_udp_port, target_binary};

const PATIENCE: Duration = Duration::from_secs(30);
const KEY: [u8; 32] = [9; 32];

async fn user(dir: &Path, name: &str, relay: &RelayProcess) -> ClientHandle {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    let client = Client::create_with_key(&home, StorageKey::from_bytes(KEY)).unwrap();
    let handle = ClientHandle::spawn(client, &tokio::runtime::Handle::current());
    handle
        .init_account(relay.address.clone(), Some(name.into()))
        .await
        .unwrap();
    handle
}

/// Reads events until `want` matches one; returns everything read.
async fn until(
    handle: &ClientHandle,
    mut want: impl FnMut(&ServiceEvent) -> bool,
) -> Vec<ServiceEvent> {
    let mut seen = Vec::new();
    let outcome = tokio::time::timeout(PATIENCE, async {
        while let Some(event) = handle.next_event().await {
            let done = want(&event);
            seen.push(event);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "timed out; events so far: {seen:#?}");
    seen
}

/// The relay stored it (a delivery receipt may be recorded before the relay's own answer, so
/// the first status reported can already be `Delivered`).
fn at_least_stored(status: Status) -> bool {
    matches!(status, Status::Stored | Status::Delivered | Status::Read)
}

fn connected(event: &ServiceEvent) -> bool {
    matches!(event, ServiceEvent::Connection(ConnectionState::Connected))
}

fn stored(id: MessageId) -> impl Fn(&ServiceEvent) -> bool {
    move |event| matches!(event, ServiceEvent::MessageStatus(m) if m.id == id && at_least_stored(m.status))
}

/// A file of `len` pseudo-random bytes.
fn file(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn file_state(message: &hush_client_core::Message) -> FileState {
    message.file.as_ref().expect("a file message").state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_run_beside_other_calls_and_resume_after_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_udp_port().unwrap());
    let relay = RelayProcess::start(
        &target_binary("hush-relay"),
        &dir.path().join("relay"),
        &listen,
        &[],
    )
    .unwrap();
    let alice = user(dir.path(), "alice", &relay).await;
    let bob = user(dir.path(), "bob", &relay).await;
    alice
        .add_contact(bob.invite().await.unwrap(), Some("bob".into()))
        .await
        .unwrap();
    bob.add_contact(alice.invite().await.unwrap(), Some("alice".into()))
        .await
        .unwrap();

    // Offline: sending records the file and returns the message at once.
    let early_path = file(dir.path(), "early.bin", 100 * 1024 + 7, 1);
    let early = alice
        .send_file(
            "bob".into(),
            early_path.clone(),
            Some("sent offline".into()),
        )
        .await
        .unwrap();
    assert_eq!(early.status, Status::Queued);
    assert_eq!(file_state(&early), FileState::Uploading);
    assert_eq!(early.text, "sent offline");
    // A second one whose source changes before it can be uploaded.
    let doomed_path = file(dir.path(), "doomed.bin", 70 * 1024, 2);
    let doomed = alice
        .send_file("bob".into(), doomed_path.clone(), None)
        .await
        .unwrap();
    std::fs::write(&doomed_path, b"something else").unwrap();

    // Online: both recorded uploads are taken up after connecting.
    alice.set_online(true).await.unwrap();
    bob.set_online(true).await.unwrap();
    until(&bob, connected).await;
    let (mut early_stored, mut doomed_failed) = (false, false);
    let events = until(&alice, |event| {
        early_stored |= stored(early.id)(event);
        doomed_failed |= matches!(event, ServiceEvent::TransferFailed { message_id, .. }
            if *message_id == doomed.id);
        early_stored && doomed_failed
    })
    .await;
    assert!(events.iter().any(connected), "{events:#?}");
    let history = alice.history("bob".into(), 10, None).await.unwrap();
    let doomed_now = history.iter().find(|m| m.id == doomed.id).unwrap();
    assert_eq!(doomed_now.status, Status::Failed, "{doomed_now:?}");

    // A large upload, slowed down so that it is surely under way while other calls come in.
    alice.set_rate_limit(Some(256 * 1024)).await.unwrap();
    let big_path = file(dir.path(), "big.bin", 1024 * 1024 + 123, 3);
    let big = alice
        .send_file("bob".into(), big_path.clone(), Some("big one".into()))
        .await
        .unwrap();
    assert_eq!(file_state(&big), FileState::Uploading);
    until(&alice, |event| {
        matches!(event, ServiceEvent::Transfer { message_id, direction: Direction::Outgoing, done, total, .. }
            if *message_id == big.id && done < total)
    })
    .await;
    // While it runs: the history answers (the upload is not finished: still `Uploading`) and
    // a text goes out.
    let history = alice.history("bob".into(), 10, None).await.unwrap();
    let big_now = history.iter().find(|m| m.id == big.id).unwrap();
    assert_eq!(file_state(big_now), FileState::Uploading);
    let text = alice
        .send_text("bob".into(), "while uploading".into())
        .await
        .unwrap();
    let events = until(&alice, stored(big.id)).await;
    let text_stored = events.iter().position(stored(text.id));
    let upload_done = events.iter().position(|event| {
        matches!(event, ServiceEvent::Transfer { message_id, done, total, .. }
            if *message_id == big.id && done == total)
    });
    assert!(
        matches!((text_stored, upload_done), (Some(t), Some(u)) if t < u),
        "the text was stored before the upload finished: {events:#?}"
    );
    let progress = events
        .iter()
        .filter(|event| matches!(event, ServiceEvent::Transfer { message_id, .. } if *message_id == big.id))
        .count();
    assert!(
        progress < 40,
        "progress is rate-limited: {progress} reports"
    );

    // Bob gets both files and saves them byte-identical; the text arrived first.
    let mut got = Vec::new();
    until(&bob, |event| {
        if let ServiceEvent::Received(Event::Message(message)) = event {
            got.push(message.clone());
        }
        got.iter().any(|m| m.id == big.id)
    })
    .await;
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["sent offline", "while uploading", "big one"]);
    assert_eq!(file_state(&got[2]), FileState::Available);
    let files = bob.files(Some("alice".into())).await.unwrap();
    assert_eq!(
        files.iter().map(|m| m.id).collect::<Vec<_>>(),
        [early.id, big.id]
    );
    let saved_dir = dir.path().join("saved");
    std::fs::create_dir_all(&saved_dir).unwrap();
    for (id, source) in [(big.id, &big_path), (early.id, &early_path)] {
        let report = bob
            .save_file(id.to_string(), Some(saved_dir.clone()))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(&report.path).unwrap(),
            std::fs::read(source).unwrap()
        );
        assert_eq!(file_state(&report.message), FileState::Saved);
    }
    let events = until(&bob, |event| {
        matches!(event, ServiceEvent::Transfer { message_id, direction: Direction::Incoming, done, total, .. }
            if *message_id == early.id && done == total)
    })
    .await;
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, ServiceEvent::TransferFailed { .. }))
    );
    // Saving again is refused: the file exists.
    assert!(
        bob.save_file(big.id.to_string(), Some(saved_dir))
            .await
            .is_err()
    );

    // Shutting down cancels a running upload; it stays recorded for next time.
    alice.set_rate_limit(Some(64 * 1024)).await.unwrap();
    let last = alice
        .send_file("bob".into(), big_path.clone(), None)
        .await
        .unwrap();
    until(&alice, |event| {
        matches!(event, ServiceEvent::Transfer { message_id, .. } if *message_id == last.id)
    })
    .await;
    tokio::time::timeout(PATIENCE, alice.shutdown())
        .await
        .expect("shutdown does not wait for the upload");
    assert!(alice.contacts().await.is_err());
    let reopened = Client::open_with_key(&dir.path().join("alice"), StorageKey::from_bytes(KEY))
        .expect("the home is released");
    assert_eq!(reopened.recorded_uploads().unwrap(), [last.id]);
    bob.shutdown().await;
}
