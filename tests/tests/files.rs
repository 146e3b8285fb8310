//! End to end: files through a real `hush-relay` process with real `hush` processes —
//! resumable uploads and downloads, tamper detection, one blob for a group, deletion after the
//! last fetch and at the TTL, and limits refused before an upload starts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hush_protocol::limits::blob_len_for_plaintext;
use hush_tests::{
    Hush, RelayProcess, free_udp_port, metric_value, pseudo_random_file, scrape_metrics,
    target_binary,
};
use sha2::{Digest, Sha256};

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

    fn relay_dir(&self) -> PathBuf {
        self.dir.path().join("relay")
    }

    /// Starts the relay with `config` (TOML) as its configuration file.
    fn start_relay(&self, config: &str) -> RelayProcess {
        let metrics = self.metrics.to_string();
        let config_path = self.dir.path().join("relay.toml");
        std::fs::write(&config_path, config).unwrap();
        let config_path = config_path.to_string_lossy().into_owned();
        RelayProcess::start(
            &target_binary("hush-relay"),
            &self.relay_dir(),
            &self.listen,
            &["--metrics", &metrics, "--config", &config_path],
        )
        .unwrap()
    }

    fn user(&self, name: &str) -> Hush {
        Hush::new(self.dir.path().join(name))
    }

    fn metric(&self, name: &str) -> f64 {
        let text = scrape_metrics(self.metrics).unwrap();
        metric_value(&text, name).unwrap_or(0.0)
    }

    /// The blob files on the relay's disk.
    fn blobs_on_disk(&self) -> Vec<PathBuf> {
        let dir = self.relay_dir().join("blobs");
        match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// A file of `len` pseudo-random bytes.
    fn file(&self, name: &str, len: usize, seed: u8) -> PathBuf {
        pseudo_random_file(self.dir.path(), name, len, u64::from(seed))
    }
}

fn befriend(a: &Hush, a_name: &str, b: &Hush, b_name: &str) {
    let a_invite = a.ok(&["invite"]).stdout.trim().to_owned();
    let b_invite = b.ok(&["invite"]).stdout.trim().to_owned();
    a.ok(&["add", &b_invite, "--as", b_name]);
    b.ok(&["add", &a_invite, "--as", a_name]);
}

fn account(world: &World, relay: &RelayProcess, name: &str) -> Hush {
    let user = world.user(name);
    user.ok(&[
        "init",
        "--relay",
        &relay.address.to_string(),
        "--name",
        name,
    ]);
    user
}

/// Starts `hush ARGS…` without waiting for it.
fn spawn(user: &Hush, args: &[&str]) -> Child {
    Command::new(&user.binary)
        .arg("--home")
        .arg(&user.home)
        .args(args)
        .env("HUSH_PASSPHRASE", &user.passphrase)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (up to 60 s) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The received files `user` knows of, as `hush files --json` lists them.
fn files(user: &Hush) -> Vec<serde_json::Value> {
    user.ok(&["files", "--json"]).json_lines()
}

const RELAY: &str = "";

#[test]
fn a_file_arrives_byte_identical_and_interrupted_uploads_and_downloads_resume() {
    let world = World::new();
    let relay = world.start_relay(RELAY);
    let alice = account(&world, &relay, "alice");
    let bob = account(&world, &relay, "bob");
    befriend(&alice, "alice", &bob, "bob");

    const LEN: usize = 8 * 1024 * 1024 + 12_345;
    let source = world.file("video.mp4", LEN, 1);
    let blob_len = blob_len_for_plaintext(LEN as u64) as f64;
    let received = "hush_relay_blob_bytes_received_total";

    // Upload at 2 MiB/s and kill the client once the relay holds about a third.
    let mut upload = spawn(
        &alice,
        &[
            "send-file",
            "bob",
            source.to_str().unwrap(),
            "--caption",
            "our holiday",
            "--limit-rate",
            "2M",
        ],
    );
    wait_for("a third of the upload", || {
        world.metric(received) > blob_len / 3.0
    });
    upload.kill().unwrap();
    upload.wait().unwrap();
    let before_resume = world.metric(received);
    assert!(
        before_resume < blob_len,
        "the upload finished before it was killed"
    );

    // The next sync resumes it: only the missing chunks go up.
    let sync = alice.ok(&["sync", "--json"]);
    let report = sync
        .json_lines()
        .into_iter()
        .find(|l| l["type"] == "upload")
        .expect("an upload line");
    let resumed_from = report["resumed_from"].as_u64().unwrap();
    let sent_bytes = report["sent_bytes"].as_u64().unwrap() as f64;
    assert!(resumed_from > 0, "{report}");
    assert!(sent_bytes < blob_len * 0.8, "{report}");
    let total = world.metric(received);
    assert_eq!(
        total, blob_len,
        "every chunk reached the relay exactly once (resumed at {resumed_from})"
    );
    assert_eq!(world.blobs_on_disk().len(), 1);
    let history = alice.ok(&["history", "bob", "--json"]).json_lines();
    assert_eq!(history[0]["file"]["state"], "uploaded");
    assert_eq!(history[0]["status"], "stored");

    // Bob receives the message; the file waits on the relay until he saves it.
    let synced = bob.ok(&["sync", "--json"]).json_lines();
    let message = synced
        .iter()
        .find(|l| l["type"] == "message")
        .expect("the file's message");
    assert_eq!(message["text"], "our holiday");
    assert_eq!(message["file"]["name"], "video.mp4");
    assert_eq!(message["file"]["size"], LEN as u64);
    assert_eq!(message["file"]["mime"], "video/mp4");
    assert_eq!(message["file"]["sha256"], sha256_of(&source));
    assert_eq!(message["file"]["state"], "available");
    let listed = files(&bob);
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["state"], "available");

    // Download at 2 MiB/s, kill it a third of the way, then resume.
    let target = world.dir.path().join("saved.mp4");
    let part = world
        .dir
        .path()
        .join(format!("saved.mp4.{}.hush-part", &id[..8]));
    let mut download = spawn(
        &bob,
        &["save", &id, target.to_str().unwrap(), "--limit-rate", "2M"],
    );
    wait_for("a third of the download", || {
        std::fs::metadata(&part).is_ok_and(|m| m.len() > LEN as u64 / 3)
    });
    download.kill().unwrap();
    download.wait().unwrap();
    assert!(
        !target.exists(),
        "nothing at the destination before the check"
    );
    assert_eq!(files(&bob)[0]["state"], "partial");
    let sent_before = world.metric("hush_relay_blob_bytes_sent_total");

    let saved = bob.ok(&["save", &id, target.to_str().unwrap(), "--json"]);
    let saved = &saved.json_lines()[0];
    assert!(saved["resumed_from"].as_u64().unwrap() > 0, "{saved}");
    let downloaded = saved["downloaded_bytes"].as_u64().unwrap() as f64;
    assert!(downloaded < blob_len * 0.8, "{saved}");
    let sent_after = world.metric("hush_relay_blob_bytes_sent_total");
    assert_eq!(sent_after - sent_before, downloaded);
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(&source).unwrap()
    );
    assert!(!part.exists());
    assert_eq!(files(&bob)[0]["state"], "saved");

    // Bob was the only recipient: the relay has deleted the blob.
    wait_for("the blob to leave the relay's disk", || {
        world.blobs_on_disk().is_empty()
    });
    assert_eq!(world.metric("hush_relay_blobs"), 0.0);
}

#[test]
fn a_byte_flipped_on_the_relay_makes_the_file_refused() {
    let world = World::new();
    let relay = world.start_relay(RELAY);
    let alice = account(&world, &relay, "alice");
    let bob = account(&world, &relay, "bob");
    befriend(&alice, "alice", &bob, "bob");

    let source = world.file("report.pdf", 300_000, 2);
    alice.ok(&["send-file", "bob", source.to_str().unwrap()]);
    let blobs = world.blobs_on_disk();
    assert_eq!(blobs.len(), 1);
    let mut bytes = std::fs::read(&blobs[0]).unwrap();
    bytes[200_000] ^= 0x01;
    std::fs::write(&blobs[0], bytes).unwrap();

    bob.ok(&["sync"]);
    let id = files(&bob)[0]["id"].as_str().unwrap().to_owned();
    let target = world.dir.path().join("report-copy.pdf");
    let outcome = bob.run(&["save", &id, target.to_str().unwrap()]);
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(outcome.stderr.contains("refused"), "{outcome:?}");
    assert!(!target.exists());
    assert!(
        std::fs::read_dir(world.dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".hush-part")),
        "the part file is gone"
    );
    assert_eq!(files(&bob)[0]["state"], "corrupt");
}

#[test]
fn a_group_of_five_shares_one_blob_which_leaves_after_the_last_fetch() {
    let world = World::new();
    let relay = world.start_relay(RELAY);
    let alice = account(&world, &relay, "alice");
    let members: Vec<(String, Hush)> = (1..=5)
        .map(|n| {
            let name = format!("m{n}");
            let user = account(&world, &relay, &name);
            befriend(&alice, "alice", &user, &name);
            (name, user)
        })
        .collect();
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    alice.ok(&["group", "create", "trip", "--members", &names.join(",")]);
    for (_, member) in &members {
        member.ok(&["sync"]);
    }

    // A real picture, so the message carries a thumbnail.
    let source = world.dir.path().join("photo.png");
    image::RgbImage::from_fn(800, 600, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
    .save(&source)
    .unwrap();
    let stored_before = world.metric("hush_relay_envelopes_stored_total");
    let sent = alice.ok(&["send-file", "#trip", source.to_str().unwrap(), "--json"]);
    assert_eq!(sent.json_lines()[0]["delivery"], "stored");
    assert_eq!(world.blobs_on_disk().len(), 1, "one blob for the group");
    assert_eq!(world.metric("hush_relay_blobs"), 1.0);
    assert_eq!(
        world.metric("hush_relay_envelopes_stored_total") - stored_before,
        1.0,
        "one envelope shares it with the group"
    );

    for (n, (name, member)) in members.iter().enumerate() {
        member.ok(&["sync"]);
        let listed = files(member);
        assert_eq!(listed.len(), 1, "{name}");
        assert_eq!(listed[0]["conversation"], "#trip");
        assert_eq!(listed[0]["mime"], "image/png");
        assert_eq!(listed[0]["thumbnail"], true, "images come with a thumbnail");
        let target = world.dir.path().join(format!("{name}.png"));
        member.ok(&[
            "save",
            listed[0]["id"].as_str().unwrap(),
            target.to_str().unwrap(),
        ]);
        assert_eq!(sha256_of(&target), sha256_of(&source), "{name}");
        if n < members.len() - 1 {
            assert_eq!(world.blobs_on_disk().len(), 1, "still needed after {name}");
        }
    }
    wait_for("the blob to leave the relay's disk", || {
        world.blobs_on_disk().is_empty()
    });
    assert_eq!(
        world.metric("hush_relay_blobs_deleted_total{reason=\"fetched\"}"),
        1.0
    );
}

#[test]
fn an_unfetched_blob_is_deleted_at_its_ttl() {
    let world = World::new();
    let relay = world.start_relay("[retention]\nblob_ttl_secs = 2\nsweep_interval_secs = 1\n");
    let alice = account(&world, &relay, "alice");
    let bob = account(&world, &relay, "bob");
    befriend(&alice, "alice", &bob, "bob");

    let source = world.file("notes.txt", 1000, 4);
    alice.ok(&["send-file", "bob", source.to_str().unwrap()]);
    assert_eq!(world.blobs_on_disk().len(), 1);
    wait_for("the blob to expire", || world.blobs_on_disk().is_empty());
    assert_eq!(
        world.metric("hush_relay_blobs_deleted_total{reason=\"expired\"}"),
        1.0
    );

    // The message itself (30-day TTL) still arrives; the file is gone.
    bob.ok(&["sync"]);
    let id = files(&bob)[0]["id"].as_str().unwrap().to_owned();
    let outcome = bob.run(&[
        "save",
        &id,
        world.dir.path().join("n.txt").to_str().unwrap(),
    ]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(
        outcome.stderr.contains("no longer on the relay"),
        "{outcome:?}"
    );
    assert_eq!(files(&bob)[0]["state"], "expired");
}

#[test]
fn size_and_quota_limits_are_refused_before_the_upload_starts() {
    let world = World::new();
    let relay =
        world.start_relay("[limits]\nmax_blob_bytes = 1100000\nmailbox_max_blob_bytes = 1500000\n");
    let alice = account(&world, &relay, "alice");
    let bob = account(&world, &relay, "bob");
    befriend(&alice, "alice", &bob, "bob");

    let big = world.file("big.iso", 2_000_000, 5);
    let outcome = alice.run(&["send-file", "bob", big.to_str().unwrap()]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(outcome.stderr.contains("too large"), "{outcome:?}");
    assert_eq!(world.metric("hush_relay_blob_bytes_received_total"), 0.0);

    let first = world.file("one.bin", 1_000_000, 6);
    alice.ok(&["send-file", "bob", first.to_str().unwrap()]);
    let second = world.file("two.bin", 1_000_000, 7);
    let outcome = alice.run(&["send-file", "bob", second.to_str().unwrap()]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(outcome.stderr.contains("no room"), "{outcome:?}");
    let received = world.metric("hush_relay_blob_bytes_received_total");
    assert_eq!(received, blob_len_for_plaintext(1_000_000) as f64);
    // Nothing of the refused file is waiting to be retried.
    let history = alice.ok(&["history", "bob", "--json"]).json_lines();
    assert_eq!(history.len(), 1);
}

#[test]
fn a_file_sent_from_chat_goes_up_beside_the_conversation() {
    let world = World::new();
    let relay = world.start_relay(RELAY);
    let alice = account(&world, &relay, "alice");
    let bob = account(&world, &relay, "bob");
    befriend(&alice, "alice", &bob, "bob");

    let source = world.file("slides.pdf", 3 * 1024 * 1024 + 7, 8);
    let input = format!(
        "/file {}\nhere are the slides\n/file {}\n",
        source.display(),
        world.dir.path().join("missing.pdf").display()
    );
    let chat = alice.run_with_input(&["chat", "bob"], input.as_bytes());
    assert_eq!(chat.code, 0, "{chat:?}");
    assert!(chat.stderr.contains("sent slides.pdf"), "{chat:?}");
    assert!(
        chat.stderr.contains("missing.pdf"),
        "a clear error: {chat:?}"
    );

    let synced = bob.ok(&["sync", "--json"]).json_lines();
    let texts: Vec<&str> = synced
        .iter()
        .filter(|l| l["type"] == "message")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"here are the slides"), "{synced:?}");
    let listed = files(&bob);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "slides.pdf");
    let target = world.dir.path().join("slides-copy.pdf");
    bob.ok(&[
        "save",
        listed[0]["id"].as_str().unwrap(),
        target.to_str().unwrap(),
    ]);
    assert_eq!(sha256_of(&target), sha256_of(&source));
}

#[test]
fn a_file_changed_before_its_upload_resumed_is_given_up_and_its_blob_freed() {
    let world = World::new();
    let relay = world.start_relay(RELAY);
    let alice = account(&world, &relay, "alice");
    let bob = account(&world, &relay, "bob");
    befriend(&alice, "alice", &bob, "bob");

    const LEN: usize = 4 * 1024 * 1024;
    let source = world.file("draft.docx", LEN, 9);
    let mut upload = spawn(
        &alice,
        &[
            "send-file",
            "bob",
            source.to_str().unwrap(),
            "--limit-rate",
            "1M",
        ],
    );
    let received = "hush_relay_blob_bytes_received_total";
    wait_for("part of the upload", || world.metric(received) > 0.0);
    upload.kill().unwrap();
    upload.wait().unwrap();
    assert_eq!(world.blobs_on_disk().len(), 1);

    // The user edits the file before the upload resumes: its chunks on the relay no longer
    // match, so it is not sent — and its blob does not hold the quota until the TTL.
    world.file("draft.docx", LEN, 10);
    let sync = alice.run(&["sync"]);
    assert_eq!(sync.code, 0, "{sync:?}");
    assert!(sync.stderr.contains("changed"), "{sync:?}");
    wait_for("the blob to leave the relay's disk", || {
        world.blobs_on_disk().is_empty()
    });
    assert_eq!(
        world.metric("hush_relay_blobs_deleted_total{reason=\"abandoned\"}"),
        1.0
    );
    let history = alice.ok(&["history", "bob", "--json"]).json_lines();
    assert_eq!(history[0]["status"], "failed");
    // Nothing reaches Bob.
    bob.ok(&["sync"]);
    assert!(files(&bob).is_empty());
}
