//! File transfers through the client service (`hush_client_core::service`) against a real
//! relay process: transfers run on the service's tasks, so other calls are served while a
//! large upload is under way; files recorded offline go out after connecting; a changed source
//! fails cleanly; shutting down cancels a running upload, which stays recorded.

use hush_client_core::service::ServiceEvent;
use hush_client_core::{Client, Direction, Event, FileState, Status, StorageKey};
use hush_tests::service::{PATIENCE, STORE_KEY, befriend, connected, stored, until, user};
use hush_tests::{RelayProcess, pseudo_random_file};

fn file_state(message: &hush_client_core::Message) -> FileState {
    message.file.as_ref().expect("a file message").state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_run_beside_other_calls_and_resume_after_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start_in(dir.path()).unwrap();
    let alice = user(dir.path(), "alice", &relay).await;
    let bob = user(dir.path(), "bob", &relay).await;
    befriend(&alice, "alice", &bob, "bob").await;

    // Offline: sending records the file and returns the message at once.
    let early_path = pseudo_random_file(dir.path(), "early.bin", 100 * 1024 + 7, 1);
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
    let doomed_path = pseudo_random_file(dir.path(), "doomed.bin", 70 * 1024, 2);
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
    let big_path = pseudo_random_file(dir.path(), "big.bin", 1024 * 1024 + 123, 3);
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
    let reopened =
        Client::open_with_key(&dir.path().join("alice"), StorageKey::from_bytes(STORE_KEY))
            .expect("the home is released");
    assert_eq!(reopened.recorded_uploads().unwrap(), [last.id]);
    bob.shutdown().await;
}
