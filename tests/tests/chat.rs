//! End to end: a real `hush-relay` process on 127.0.0.1 and real `hush` processes.

use hush_tests::{
    Hush, RelayProcess, files_containing, free_udp_port, metric_value, scrape_metrics,
    target_binary,
};

struct World {
    dir: tempfile::TempDir,
    listen: String,
    metrics: std::net::SocketAddr,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{}", free_udp_port().unwrap());
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        Self {
            dir,
            listen,
            metrics,
        }
    }

    fn relay_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("relay")
    }

    fn start_relay(&self) -> RelayProcess {
        let metrics = self.metrics.to_string();
        RelayProcess::start(
            &target_binary("hush-relay"),
            &self.relay_dir(),
            &self.listen,
            &["--metrics", &metrics],
        )
        .unwrap()
    }

    fn user(&self, name: &str) -> Hush {
        Hush::new(self.dir.path().join(name))
    }
}

/// Two accounts on the relay that have exchanged invites.
fn pair(world: &World, relay: &RelayProcess) -> (Hush, Hush) {
    let address = relay.address.to_string();
    let alice = world.user("alice");
    let bob = world.user("bob");
    alice.ok(&["init", "--relay", &address, "--name", "Alice"]);
    bob.ok(&["init", "--relay", &address, "--name", "Bob"]);
    let alice_invite = alice.ok(&["invite"]).stdout.trim().to_owned();
    let bob_invite = bob.ok(&["invite"]).stdout.trim().to_owned();
    assert!(alice_invite.starts_with("hush1:") && !alice_invite.contains('\n'));
    alice.ok(&["add", &bob_invite, "--as", "bob"]);
    bob.ok(&["add", &alice_invite, "--as", "alice"]);
    (alice, bob)
}

fn texts(outcome: &hush_tests::Outcome) -> Vec<String> {
    outcome
        .json_lines()
        .into_iter()
        .filter(|m| m["type"] == "message")
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn offline_recipient_gets_100_messages_in_order_and_the_relay_keeps_nothing() {
    let world = World::new();
    let relay = world.start_relay();
    let (alice, bob) = pair(&world, &relay);
    const MARKER: &str = "MARKER-7f3a9c-plaintext";
    let sent: Vec<String> = (0..100)
        .map(|n| format!("{MARKER} message {n:03}"))
        .collect();
    for text in &sent {
        let outcome = alice.ok(&["--json", "send", "bob", text]);
        assert_eq!(outcome.json_lines()[0]["delivery"], "stored");
    }
    let text = scrape_metrics(world.metrics).unwrap();
    assert_eq!(
        metric_value(&text, "hush_relay_envelopes_pending"),
        Some(100.0)
    );

    let synced = bob.ok(&["--json", "sync"]);
    assert_eq!(texts(&synced), sent, "all 100, in order, once");
    let first = &synced.json_lines()[0];
    for field in [
        "id",
        "conversation",
        "from",
        "text",
        "sent_at",
        "received_at",
    ] {
        assert!(
            first.get(field).is_some(),
            "message JSON has {field}: {first}"
        );
    }
    assert_eq!(first["from"], "alice");
    assert!(
        first["sent_at"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC"
    );

    // Alice's 100 envelopes are gone; what waits is Bob's one batched delivery receipt.
    let text = scrape_metrics(world.metrics).unwrap();
    assert_eq!(
        metric_value(&text, "hush_relay_envelopes_pending"),
        Some(1.0),
        "{text}"
    );
    alice.ok(&["sync"]);
    let text = scrape_metrics(world.metrics).unwrap();
    assert_eq!(
        metric_value(&text, "hush_relay_envelopes_pending"),
        Some(0.0),
        "{text}"
    );
    let delivered = alice
        .ok(&["--json", "history", "bob", "--limit", "100"])
        .json_lines();
    assert!(
        delivered.iter().all(|m| m["status"] == "delivered"),
        "receipts reached Alice"
    );
    // The plaintext never reached the relay.
    assert_eq!(
        files_containing(&world.relay_dir(), MARKER.as_bytes()),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(files_containing(&relay.log, MARKER.as_bytes()).is_empty());
    let log = std::fs::read_to_string(&relay.log).unwrap();
    assert!(!log.is_empty(), "the relay did log (at debug)");

    // A second sync shows nothing again.
    assert!(texts(&bob.ok(&["--json", "sync"])).is_empty());

    // History pages newest first: 100 → pages of 30, 30, 30, 10.
    let mut paged = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut args = vec!["--json", "history", "alice", "--limit", "30"];
        if let Some(id) = &before {
            args.extend(["--before", id]);
        }
        let page = bob.ok(&args).json_lines();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 30);
        before = Some(page.last().unwrap()["id"].as_str().unwrap().to_owned());
        paged.extend(
            page.into_iter()
                .map(|m| m["text"].as_str().unwrap().to_owned()),
        );
    }
    let mut newest_first = sent.clone();
    newest_first.reverse();
    assert_eq!(paged, newest_first);

    // Search finds across the history; the sender's own history has them too.
    let found = bob.ok(&["--json", "search", "message 042"]).json_lines();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["text"], format!("{MARKER} message 042"));
    let mine = alice
        .ok(&["--json", "history", "bob", "--limit", "1"])
        .json_lines();
    assert_eq!(mine[0]["from"], "me");
    assert_eq!(mine[0]["status"], "delivered");
}

#[test]
fn a_relay_killed_between_send_and_sync_loses_and_duplicates_nothing() {
    let world = World::new();
    let relay = world.start_relay();
    let (alice, bob) = pair(&world, &relay);
    for n in 0..10 {
        alice.ok(&["send", "bob", &format!("before the crash {n}")]);
    }
    relay.kill9().unwrap();
    let relay = world.start_relay();
    let received = texts(&bob.ok(&["--json", "sync"]));
    let expected: Vec<String> = (0..10).map(|n| format!("before the crash {n}")).collect();
    assert_eq!(received, expected);
    // Bob replies; Alice gets it once.
    bob.ok(&["send", "alice", "got all ten"]);
    assert_eq!(texts(&alice.ok(&["--json", "sync"])), vec!["got all ten"]);
    drop(relay);
}

#[test]
fn sending_while_the_relay_is_down_queues_and_sync_delivers_later() {
    let world = World::new();
    let relay = world.start_relay();
    let (alice, bob) = pair(&world, &relay);
    alice.ok(&["send", "bob", "while up"]);
    assert!(relay.terminate().unwrap().success());

    let queued = alice.ok(&["--json", "send", "bob", "while down"]);
    assert_eq!(queued.json_lines()[0]["delivery"], "queued");
    let human = alice.ok(&["send", "bob", "also while down"]);
    assert!(human.stdout.starts_with("queued:"), "{human:?}");
    let status = alice
        .ok(&["--json", "history", "bob", "--limit", "1"])
        .json_lines();
    assert_eq!(status[0]["status"], "queued");
    // Syncing with the relay down is a network error (exit 2), and loses nothing.
    let down = alice.run(&["sync"]);
    assert_eq!(down.code, 2, "{down:?}");

    let _relay = world.start_relay();
    alice.ok(&["sync"]);
    assert_eq!(
        texts(&bob.ok(&["--json", "sync"])),
        vec!["while up", "while down", "also while down"]
    );
    let status = alice
        .ok(&["--json", "history", "bob", "--limit", "1"])
        .json_lines();
    assert_eq!(status[0]["status"], "stored");
}

#[test]
fn wrong_pin_wrong_passphrase_and_unknown_contact_fail_clearly_and_lose_nothing() {
    let world = World::new();
    let relay = world.start_relay();
    let (alice, bob) = pair(&world, &relay);

    // Wrong passphrase: exit 3, one clear line.
    let mut wrong = alice.clone();
    wrong.passphrase = "not the passphrase".into();
    let outcome = wrong.run(&["history", "bob"]);
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(outcome.stderr.contains("wrong passphrase"), "{outcome:?}");

    // Unknown contact: exit 1.
    let outcome = alice.run(&["send", "carol", "hi"]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(
        outcome.stderr.contains("no contact called \"carol\""),
        "{outcome:?}"
    );

    // A relay address with a wrong pin: exit 3 at init.
    let mut bad = relay.address.clone();
    bad.pin[0] ^= 0xff;
    let carol = world.user("carol");
    let outcome = carol.run(&["init", "--relay", &bad.to_string()]);
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome.stderr.contains("does not match the pin"),
        "{outcome:?}"
    );

    // The relay's key changes under an existing account (someone else answers on its port):
    // sending fails with exit 3 and the message waits in the outbox.
    relay.terminate().unwrap();
    let impostor = RelayProcess::start(
        &target_binary("hush-relay"),
        &world.dir.path().join("impostor"),
        &world.listen,
        &[],
    )
    .unwrap();
    let outcome = alice.run(&["send", "bob", "kept safe"]);
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome.stderr.contains("does not match the pin"),
        "{outcome:?}"
    );
    drop(impostor);
    let _relay = world.start_relay();
    alice.ok(&["sync"]);
    assert_eq!(texts(&bob.ok(&["--json", "sync"])), vec!["kept safe"]);
}

#[test]
fn long_messages_stdin_usernames_and_safety_numbers() {
    let world = World::new();
    let relay = world.start_relay();
    let (alice, bob) = pair(&world, &relay);
    // 100,000 characters through stdin.
    let long: String = "0123456789".repeat(10_000);
    let outcome = alice.run_with_input(&["send", "bob", "-"], long.as_bytes());
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let received = texts(&bob.ok(&["--json", "sync"]));
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].chars().count(), 100_000);
    assert_eq!(received[0], long);

    // Usernames: claim, find, add by @name.
    bob.ok(&["register", "Bob_the_Builder"]);
    let carol = world.user("carol");
    carol.ok(&[
        "init",
        "--relay",
        &relay.address.to_string(),
        "--name",
        "Carol",
    ]);
    let added = carol
        .ok(&["--json", "add", "@bob_the_builder"])
        .json_lines();
    assert_eq!(added[0]["alias"], "bob_the_builder");
    carol.ok(&["send", "@bob_the_builder", "hi from carol"]);
    let synced = bob.ok(&["--json", "sync"]).json_lines();
    let new_contact: Vec<_> = synced
        .iter()
        .filter(|e| e["type"] == "new_contact")
        .collect();
    assert_eq!(new_contact.len(), 1, "Carol was unknown to Bob: {synced:?}");
    assert_eq!(new_contact[0]["contact"], "Carol");
    assert!(
        synced
            .iter()
            .any(|e| e["text"] == "hi from carol" && e["from"] == "Carol")
    );
    let taken = carol.run(&["register", "bob_the_builder"]);
    assert_eq!(taken.code, 1, "{taken:?}");

    // Safety numbers agree on both sides; marking verified sticks.
    let a = alice.ok(&["--json", "verify", "bob"]).json_lines();
    let b = bob.ok(&["--json", "verify", "alice"]).json_lines();
    assert_eq!(a[0]["safety_number"], b[0]["safety_number"]);
    assert_eq!(a[0]["verified"], false);
    alice.ok(&["verify", "bob", "--mark-verified"]);
    let contacts = alice.ok(&["--json", "contacts"]).json_lines();
    assert_eq!(contacts[0]["verified"], true);
}

/// A `hush` child process whose stdout lines arrive on a channel.
struct Live {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Live {
    fn start(user: &Hush, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(&user.binary)
            .arg("--home")
            .arg(&user.home)
            .args(args)
            .env("HUSH_PASSPHRASE", &user.passphrase)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The next message line (receipts and other notices are skipped).
    fn next_json(&self) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(hush_tests::WAIT)
                .expect("a line from hush in time");
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            if value["type"] == "message" {
                return value;
            }
        }
    }

    fn type_line(&mut self, text: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) -> i32 {
        drop(self.child.stdin.take());
        let deadline = std::time::Instant::now() + hush_tests::WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(std::time::Instant::now() < deadline, "hush did not exit");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn chat_sends_typed_lines_and_shows_replies_as_they_arrive() {
    let world = World::new();
    let relay = world.start_relay();
    let (alice, bob) = pair(&world, &relay);
    alice.ok(&["send", "bob", "waiting for you"]);

    let mut chat = Live::start(&bob, &["--json", "chat", "alice"]);
    // What was pending arrives first.
    assert_eq!(chat.next_json()["text"], "waiting for you");
    chat.type_line("hello from the chat");
    let echoed = chat.next_json();
    assert_eq!(
        (echoed["from"].as_str(), echoed["text"].as_str()),
        (Some("me"), Some("hello from the chat"))
    );
    // Alice's reply shows up in the running chat.
    assert_eq!(
        texts(&alice.ok(&["--json", "sync"])),
        vec!["hello from the chat"]
    );
    alice.ok(&["send", "bob", "live reply"]);
    let live = chat.next_json();
    assert_eq!(
        (live["from"].as_str(), live["text"].as_str()),
        (Some("alice"), Some("live reply"))
    );
    assert_eq!(chat.finish(), 0, "end of input ends the chat");
}

#[test]
fn listen_prints_messages_as_they_arrive() {
    let world = World::new();
    let relay = world.start_relay();
    let (alice, bob) = pair(&world, &relay);
    let listen = Live::start(&bob, &["--json", "listen"]);
    for n in 0..3 {
        alice.ok(&["send", "bob", &format!("live {n}")]);
        assert_eq!(listen.next_json()["text"], format!("live {n}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_time_prekeys_are_refilled_when_the_relay_runs_low() {
    use hush_protocol::{ClientFrame, MailboxId, RelayFrame};
    let world = World::new();
    let relay = world.start_relay();
    let (_alice, bob) = pair(&world, &relay);
    let whoami = bob.ok(&["--json", "whoami"]).json_lines();
    let bob_mailbox: MailboxId = whoami[0]["mailbox"].as_str().unwrap().parse().unwrap();
    let fetcher = hush_tests::TestClient::create(&relay.address)
        .await
        .unwrap();
    let fetch = ClientFrame::FetchPrekeys {
        mailbox: bob_mailbox,
    };
    let mut taken = 0;
    loop {
        match fetcher.raw.request(&fetch).await.unwrap() {
            RelayFrame::PrekeyBundle(bundle) if bundle.one_time.is_some() => taken += 1,
            RelayFrame::PrekeyBundle(_) => break,
            other => panic!("expected a bundle, got {other:?}"),
        }
    }
    assert_eq!(taken, 50, "50 one-time prekeys published at init");
    bob.ok(&["sync"]);
    match fetcher.raw.request(&fetch).await.unwrap() {
        RelayFrame::PrekeyBundle(bundle) => assert!(bundle.one_time.is_some(), "refilled"),
        other => panic!("expected a bundle, got {other:?}"),
    }
}

#[test]
fn a_changed_identity_key_is_flagged_and_sending_waits_for_verification() {
    use hush_client_core::invite::InviteCode;
    let world = World::new();
    let relay = world.start_relay();
    let (alice, bob) = pair(&world, &relay);
    let mallory = world.user("mallory");
    mallory.ok(&[
        "init",
        "--relay",
        &relay.address.to_string(),
        "--name",
        "Mallory",
    ]);
    // An invite that names Alice's mailbox with Mallory's identity key.
    let alice_invite = InviteCode::parse(alice.ok(&["invite"]).stdout.trim()).unwrap();
    let mallory_invite = InviteCode::parse(mallory.ok(&["invite"]).stdout.trim()).unwrap();
    let forged = InviteCode {
        identity: mallory_invite.identity,
        ..alice_invite
    }
    .encode();
    let added = bob.ok(&["add", &forged, "--as", "alice"]);
    assert!(added.stderr.contains("identity key differs"), "{added:?}");
    let contacts = bob.ok(&["--json", "contacts"]).json_lines();
    assert_eq!(contacts[0]["key_changed"], true);
    assert_eq!(contacts[0]["verified"], false);
    // The relay publishes Alice's real keys, which no longer match what Bob trusts: refused.
    let outcome = bob.run(&["send", "alice", "are you really alice?"]);
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome.stderr.contains("not the one you trust"),
        "{outcome:?}"
    );
    let history = bob.ok(&["--json", "history", "alice"]).json_lines();
    assert_eq!(history[0]["status"], "queued", "kept, not lost");
}
