//! The real `hush-relay` binary: its command-line contract, restarts, SIGKILL, metrics.

use std::path::Path;
use std::process::Command;

use hush_relay::metrics as names;
use hush_tests::{RelayProcess, TestClient, free_udp_port, metric_value, scrape_metrics};

const BINARY: &str = env!("CARGO_BIN_EXE_hush-relay");

fn listen() -> String {
    format!("127.0.0.1:{}", free_udp_port().unwrap())
}

fn start(data_dir: &Path, listen: &str, extra: &[&str]) -> RelayProcess {
    RelayProcess::start(Path::new(BINARY), data_dir, listen, extra).unwrap()
}

#[tokio::test]
async fn serve_prints_and_writes_the_address_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let relay = start(&data, &listen(), &[]);
    assert_eq!(relay.address.host, "127.0.0.1");
    let written = std::fs::read_to_string(data.join("relay-address")).unwrap();
    assert_eq!(written.trim(), relay.address.to_string());
    let printed = Command::new(BINARY)
        .arg("address")
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap().trim(),
        relay.address.to_string()
    );
    // A client works against it.
    let alice = TestClient::create(&relay.address).await.unwrap();
    alice.send_stored(&[alice.mailbox], b"hi").await.unwrap();
    let status = relay.terminate().unwrap();
    assert!(status.success(), "SIGTERM exits 0, got {status}");
}

#[tokio::test]
async fn a_restart_keeps_pending_envelopes_and_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let addr = listen();
    let relay = start(&data, &addr, &[]);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let mut sent = Vec::new();
    for n in 0..10u8 {
        sent.push(alice.send_stored(&[bob.mailbox], &[n]).await.unwrap());
    }
    let (bob_mailbox, bob_key) = (bob.mailbox, bob.key.clone());
    drop((alice, bob));
    let first_address = relay.address.clone();
    assert!(relay.terminate().unwrap().success());

    let relay = start(&data, &addr, &[]);
    assert_eq!(
        relay.address, first_address,
        "same key, same pin, same address"
    );
    let mut bob = TestClient::login(&relay.address, bob_mailbox, bob_key)
        .await
        .unwrap();
    bob.subscribe().await.unwrap();
    let received: Vec<_> = bob
        .drain()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(received, sent);
}

#[tokio::test]
async fn sigkill_right_after_stored_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let addr = listen();
    let relay = start(&data, &addr, &[]);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let (bob_mailbox, bob_key) = (bob.mailbox, bob.key.clone());
    // Concurrent sends (they share durability barriers), then SIGKILL the moment the last
    // `Stored` arrives.
    let mut sends = tokio::task::JoinSet::new();
    let alice = std::sync::Arc::new(alice);
    for n in 0..40u8 {
        let alice = alice.clone();
        sends.spawn(async move { alice.send_stored(&[bob_mailbox], &[n; 100]).await.unwrap() });
    }
    let mut stored = Vec::new();
    while let Some(id) = sends.join_next().await {
        stored.push(id.unwrap());
    }
    relay.kill9().unwrap();
    drop(bob);

    let relay = start(&data, &addr, &[]);
    let mut bob = TestClient::login(&relay.address, bob_mailbox, bob_key)
        .await
        .unwrap();
    bob.subscribe().await.unwrap();
    let mut received: Vec<_> = bob
        .drain()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    received.sort();
    stored.sort();
    assert_eq!(
        received, stored,
        "every envelope confirmed as stored survived SIGKILL"
    );
}

#[tokio::test]
async fn metrics_follow_store_deliver_and_ack() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let metrics_arg = metrics_port.to_string();
    let relay = start(
        &dir.path().join("data"),
        &listen(),
        &["--metrics", &metrics_arg],
    );
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(TestClient::create(&relay.address).await.unwrap());
    }
    let mailboxes: Vec<_> = members.iter().map(|m| m.mailbox).collect();
    let marker = b"METRIC-MARKER-4242";
    alice.send_stored(&mailboxes, marker).await.unwrap();
    alice.send_stored(&mailboxes[..1], marker).await.unwrap();
    let text = scrape_metrics(metrics_port).unwrap();
    assert_eq!(
        metric_value(&text, names::ENVELOPES_STORED_TOTAL),
        Some(2.0),
        "{text}"
    );
    assert_eq!(metric_value(&text, names::ENVELOPES_PENDING), Some(2.0));
    assert_eq!(
        metric_value(&text, names::ENVELOPE_BYTES_PENDING),
        Some(2.0 * marker.len() as f64)
    );
    assert_eq!(metric_value(&text, names::CONNECTIONS), Some(4.0));
    for member in &mut members {
        member.subscribe().await.unwrap();
        member.drain().await.unwrap();
    }
    // Acks are processed in order on each control stream; one more round trip makes sure
    // the last ack was handled before scraping.
    for member in &members {
        member
            .raw
            .request(&hush_protocol::ClientFrame::PrekeyCount)
            .await
            .unwrap();
    }
    let text = scrape_metrics(metrics_port).unwrap();
    assert_eq!(
        metric_value(&text, names::ENVELOPES_PENDING),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, names::ENVELOPE_BYTES_PENDING),
        Some(0.0)
    );
    assert_eq!(metric_value(&text, names::DELIVERIES_TOTAL), Some(4.0));
    assert_eq!(metric_value(&text, names::ACKS_TOTAL), Some(4.0));
    assert_eq!(
        metric_value(&text, names::ENVELOPES_EXPIRED_TOTAL),
        Some(0.0)
    );
    let log = std::fs::read_to_string(&relay.log).unwrap_or_default();
    drop(relay);
    // The relay logs no mailbox ids at info or above (the test runs it at debug).
    for member in &members {
        let id = member.mailbox.to_string();
        for line in log
            .lines()
            .filter(|l| l.contains(" INFO ") || l.contains(" WARN ") || l.contains(" ERROR "))
        {
            assert!(
                !line.contains(&id),
                "mailbox id in an info+ log line: {line}"
            );
            assert!(
                !line.contains("127.0.0.1:"),
                "an address in an info+ log line: {line}"
            );
        }
    }
}

#[test]
fn check_config_accepts_good_files_and_explains_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[server]\nlisten = \"127.0.0.1:5000\"\n[limits]\nmax_envelope_bytes = 65536\n",
    )
    .unwrap();
    let out = Command::new(BINARY)
        .args(["check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[limits]\nmax_envelope_byte = 65536\n").unwrap();
    let out = Command::new(BINARY)
        .args(["check-config", "--config"])
        .arg(&typo)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max_envelope_byte"), "{stderr}");

    let range = dir.path().join("range.toml");
    std::fs::write(&range, "[limits]\nmax_envelope_bytes = 0\n").unwrap();
    let out = Command::new(BINARY)
        .args(["check-config", "--config"])
        .arg(&range)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("limits.max_envelope_bytes"));

    let missing = Command::new(BINARY)
        .args(["check-config", "--config"])
        .arg(dir.path().join("nope.toml"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[tokio::test]
async fn serve_uses_the_config_file_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("relay.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:1\"\npublic_host = \"localhost\"\n",
            data.display()
        ),
    )
    .unwrap();
    let addr = listen();
    let port: u16 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
    let relay = RelayProcess::start(
        Path::new(BINARY),
        &data,
        &addr,
        &["--config", config.to_str().unwrap()],
    )
    .unwrap();
    assert_eq!(
        (relay.address.host.as_str(), relay.address.port),
        ("localhost", port)
    );
    let alice = TestClient::create(&relay.address).await.unwrap();
    alice
        .send_stored(&[alice.mailbox], b"via localhost")
        .await
        .unwrap();
}

#[test]
fn a_busy_listen_address_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = Command::new(BINARY)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &address])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("hush-relay: listening on {address}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn under_journald_log_lines_carry_syslog_priorities() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = data.with_extension("log");
    let mut child = Command::new(BINARY)
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &listen()])
        .env("HUSH_LOG_FORMAT", "journal")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Wait for the address line, then stop it.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.starts_with("relay address: "), "{line}");
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        assert!(
            line.starts_with("<6>") || line.starts_with("<4>") || line.starts_with("<3>"),
            "{line}"
        );
    }
    assert!(text.contains("<6>relay serving"), "{text}");
}
