//! Test support for Hush: a small, honest relay client and a harness for the relay binary.
//!
//! The client speaks `hush/1` exactly as a real client must (pinned key via client-core's
//! verifier, challenge signed with the connection's TLS exporter) but adds no logic of its own, so tests can also make it
//! misbehave on purpose through [`RawConnection`].
//!
//! # Layout
//! - [`RawConnection`]: a connected QUIC session with its control stream, nothing more.
//! - [`TestClient`]: an authenticated mailbox: send, subscribe, receive, ack, directory calls.
//! - [`RelayProcess`]: runs the real `hush-relay` binary on 127.0.0.1 and stops it.
//! - [`Hush`]: runs the real `hush` binary against one home directory.
//! - [`target_binary`]: finds a workspace binary built by `cargo test --workspace`.
//! - [`pseudo_random_file`]: test files with reproducible contents.
//! - [`service`]: client services (`hush_client_core::service`) on a relay, and waiting for
//!   their events.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

pub mod service;
use ed25519_dalek::{Signer, SigningKey};
use hush_client_core::transport::PinnedKey;
use hush_protocol::auth::{EXPORTER_LABEL, EXPORTER_LEN, auth_message};
use hush_protocol::codec::{body_len, decode_body, encode_frame};
use hush_protocol::version::{ALPN, PROTOCOL_VERSION};
use hush_protocol::{
    ClientFrame, Delivery, Envelope, EnvelopeId, MailboxId, RelayAddress, RelayFrame, Signature,
};

/// How long tests wait for anything from the relay before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// A QUIC connection to a relay with its control stream open, before any frame.
pub struct RawConnection {
    /// The QUIC connection.
    pub connection: quinn::Connection,
    /// Sending half of the control stream.
    pub control_send: quinn::SendStream,
    /// Receiving half of the control stream.
    pub control_recv: quinn::RecvStream,
    /// The relay's pin.
    pub pin: [u8; 32],
    _endpoint: quinn::Endpoint,
}

impl RawConnection {
    /// Connects to `address`, verifying its pin, and opens the control stream.
    pub async fn connect(address: &RelayAddress) -> anyhow::Result<Self> {
        let target: SocketAddr = tokio::net::lookup_host((address.host.as_str(), address.port))
            .await?
            .next()
            .context("relay host resolves to nothing")?;
        let bind: SocketAddr = if target.is_ipv4() {
            "127.0.0.1:0".parse()?
        } else {
            "[::1]:0".parse()?
        };
        let endpoint = quinn::Endpoint::client(bind)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedKey::new(address.pin).0))
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(Duration::from_secs(5)));
        config.transport_config(Arc::new(transport));
        let connection = endpoint.connect_with(config, target, "hush-relay")?.await?;
        let (control_send, control_recv) = connection.open_bi().await?;
        Ok(Self {
            connection,
            control_send,
            control_recv,
            pin: address.pin,
            _endpoint: endpoint,
        })
    }

    /// Writes one frame on the control stream.
    pub async fn write(&mut self, frame: &ClientFrame) -> anyhow::Result<()> {
        self.control_send.write_all(&encode_frame(frame)?).await?;
        Ok(())
    }

    /// Reads one frame from the control stream (within [`WAIT`]).
    pub async fn read(&mut self) -> anyhow::Result<RelayFrame> {
        tokio::time::timeout(WAIT, read_frame(&mut self.control_recv))
            .await
            .context("timed out waiting for a control frame")?
    }

    /// Sends `Hello` and returns the challenge nonce.
    pub async fn hello(&mut self) -> anyhow::Result<[u8; 32]> {
        self.write(&ClientFrame::Hello {
            version: PROTOCOL_VERSION,
        })
        .await?;
        match self.read().await? {
            RelayFrame::Challenge { nonce, .. } => Ok(nonce),
            other => bail!("expected a challenge, got {other:?}"),
        }
    }

    /// This connection's TLS exporter value.
    pub fn binding(&self) -> anyhow::Result<[u8; EXPORTER_LEN]> {
        let mut binding = [0u8; EXPORTER_LEN];
        self.connection
            .export_keying_material(&mut binding, EXPORTER_LABEL, b"")
            .map_err(|_| anyhow!("no exporter"))?;
        Ok(binding)
    }

    /// The signature proving `key` on this connection, for this challenge.
    pub fn sign(&self, key: &SigningKey, nonce: &[u8; 32]) -> anyhow::Result<Signature> {
        let message = auth_message(
            &self.pin,
            &self.binding()?,
            nonce,
            &key.verifying_key().to_bytes(),
        );
        Ok(Signature(key.sign(&message).to_bytes()))
    }

    /// One request on its own stream: writes `frame`, reads the response.
    pub async fn request(&self, frame: &ClientFrame) -> anyhow::Result<RelayFrame> {
        let (mut send, mut recv) = self.connection.open_bi().await?;
        send.write_all(&encode_frame(frame)?).await?;
        send.finish()?;
        tokio::time::timeout(WAIT, read_frame(&mut recv))
            .await
            .context("request timed out")?
    }

    /// Waits until the relay closes the connection and returns its application close code
    /// and reason.
    pub async fn closed_with(&self) -> anyhow::Result<(u64, String)> {
        let error = tokio::time::timeout(WAIT, self.connection.closed())
            .await
            .context("relay did not close the connection")?;
        match error {
            quinn::ConnectionError::ApplicationClosed(close) => Ok((
                close.error_code.into_inner(),
                String::from_utf8_lossy(&close.reason).into(),
            )),
            other => bail!("connection ended otherwise: {other}"),
        }
    }
}

/// Reads one length-prefixed frame from a stream.
pub async fn read_frame(recv: &mut quinn::RecvStream) -> anyhow::Result<RelayFrame> {
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; body_len(prefix)?];
    recv.read_exact(&mut body).await?;
    Ok(decode_body(&body)?)
}

/// A fresh random Ed25519 key.
pub fn random_key() -> SigningKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("randomness");
    SigningKey::from_bytes(&seed)
}

/// A fresh random envelope id.
pub fn random_id() -> EnvelopeId {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("randomness");
    EnvelopeId::from_bytes(id)
}

/// An authenticated mailbox.
pub struct TestClient {
    /// The underlying connection.
    pub raw: RawConnection,
    /// The mailbox this client acts for.
    pub mailbox: MailboxId,
    /// Its key.
    pub key: SigningKey,
}

impl TestClient {
    /// Creates a new mailbox with a fresh key.
    pub async fn create(address: &RelayAddress) -> anyhow::Result<Self> {
        Self::create_with(address, random_key()).await
    }

    /// Creates (or finds) the mailbox of `key`.
    pub async fn create_with(address: &RelayAddress, key: SigningKey) -> anyhow::Result<Self> {
        let mut raw = RawConnection::connect(address).await?;
        let nonce = raw.hello().await?;
        let signature = raw.sign(&key, &nonce)?;
        raw.write(&ClientFrame::CreateMailbox {
            key: key.verifying_key().to_bytes(),
            signature,
        })
        .await?;
        match raw.read().await? {
            RelayFrame::Authenticated { mailbox } => Ok(Self { raw, mailbox, key }),
            other => bail!("expected Authenticated, got {other:?}"),
        }
    }

    /// Logs in to an existing mailbox.
    pub async fn login(
        address: &RelayAddress,
        mailbox: MailboxId,
        key: SigningKey,
    ) -> anyhow::Result<Self> {
        let mut raw = RawConnection::connect(address).await?;
        let nonce = raw.hello().await?;
        let signature = raw.sign(&key, &nonce)?;
        raw.write(&ClientFrame::Authenticate { mailbox, signature })
            .await?;
        match raw.read().await? {
            RelayFrame::Authenticated { mailbox: got } if got == mailbox => {
                Ok(Self { raw, mailbox, key })
            }
            other => bail!("expected Authenticated, got {other:?}"),
        }
    }

    /// A second connection of the same mailbox.
    pub async fn reconnect(&self, address: &RelayAddress) -> anyhow::Result<Self> {
        Self::login(address, self.mailbox, self.key.clone()).await
    }

    /// Sends an envelope and returns the relay's answer.
    pub async fn send(&self, envelope: Envelope) -> anyhow::Result<RelayFrame> {
        self.raw.request(&ClientFrame::Send(envelope)).await
    }

    /// Sends `payload` to `recipients` and insists on `Stored`.
    pub async fn send_stored(
        &self,
        recipients: &[MailboxId],
        payload: &[u8],
    ) -> anyhow::Result<EnvelopeId> {
        let id = random_id();
        let envelope = Envelope {
            id,
            recipients: recipients.to_vec(),
            ttl_secs: 0,
            ephemeral: false,
            payload: payload.to_vec(),
        };
        match self.send(envelope).await? {
            RelayFrame::Stored { id: stored } if stored == id => Ok(id),
            other => bail!("expected Stored, got {other:?}"),
        }
    }

    /// Starts receiving this mailbox's envelopes on this connection.
    pub async fn subscribe(&mut self) -> anyhow::Result<()> {
        self.raw.write(&ClientFrame::Subscribe).await
    }

    /// The next pushed frame.
    pub async fn next(&mut self) -> anyhow::Result<RelayFrame> {
        self.raw.read().await
    }

    /// The next stored delivery (skipping `Drained`).
    pub async fn next_delivery(&mut self) -> anyhow::Result<Delivery> {
        loop {
            match self.next().await? {
                RelayFrame::Deliver(delivery) => return Ok(delivery),
                RelayFrame::Drained => continue,
                other => bail!("expected a delivery, got {other:?}"),
            }
        }
    }

    /// Receives deliveries until the relay says the queue is drained, acking each.
    pub async fn drain(&mut self) -> anyhow::Result<Vec<Delivery>> {
        let mut received = Vec::new();
        loop {
            match self.next().await? {
                RelayFrame::Deliver(delivery) => {
                    self.ack(&[delivery.id]).await?;
                    received.push(delivery);
                }
                RelayFrame::Drained => return Ok(received),
                other => bail!("unexpected frame while draining: {other:?}"),
            }
        }
    }

    /// Acknowledges deliveries.
    pub async fn ack(&mut self, ids: &[EnvelopeId]) -> anyhow::Result<()> {
        self.raw
            .write(&ClientFrame::Ack { ids: ids.to_vec() })
            .await
    }
}

/// The real `hush-relay` binary, running on 127.0.0.1 with its own data dir.
pub struct RelayProcess {
    /// The child process.
    pub child: Child,
    /// Its relay address (parsed from its first stdout line).
    pub address: RelayAddress,
    /// Its data dir.
    pub data_dir: PathBuf,
    /// Where its stderr (the log) goes.
    pub log: PathBuf,
}

impl RelayProcess {
    /// Starts `binary serve --data-dir DATA_DIR --listen LISTEN` plus `extra` arguments and
    /// waits for its `relay address:` line.
    pub fn start(
        binary: &Path,
        data_dir: &Path,
        listen: &str,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        use std::io::BufRead;
        let log = data_dir.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(listen)
            .args(extra)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = match rx.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("relay printed no address; log:\n{log}");
            }
        };
        let address = line
            .strip_prefix("relay address: ")
            .with_context(|| format!("unexpected first line: {line}"))?
            .parse()?;
        Ok(Self {
            child,
            address,
            data_dir: data_dir.to_path_buf(),
            log,
        })
    }

    /// Starts this workspace's `hush-relay` on a free 127.0.0.1 port with its data in
    /// `dir/relay` and the default configuration.
    pub fn start_in(dir: &Path) -> anyhow::Result<Self> {
        let listen = format!("127.0.0.1:{}", free_udp_port()?);
        Self::start(
            &target_binary("hush-relay"),
            &dir.join("relay"),
            &listen,
            &[],
        )
    }

    /// Sends a signal (`-KILL`, `-TERM`) with the system `kill` command.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()?;
        if !status.success() {
            bail!("kill {signal} failed");
        }
        Ok(())
    }

    /// SIGKILL, and reap the process.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        self.signal("-KILL")?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, and wait for the exit status (within [`WAIT`]).
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        self.signal("-TERM")?;
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("relay did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free UDP port on 127.0.0.1 (bound and released; good enough for a test that starts a
/// child process on it right away).
pub fn free_udp_port() -> anyhow::Result<u16> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    Ok(socket.local_addr()?.port())
}

/// Fetches `http://ADDR/metrics` with a plain HTTP/1.0 request.
pub fn scrape_metrics(address: SocketAddr) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&address, WAIT)?;
    stream.set_read_timeout(Some(WAIT))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The value of an unlabelled metric in Prometheus text, if present.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (metric, value) = line.rsplit_once(' ')?;
            (metric == name).then(|| value.parse().ok()).flatten()
        })
}

/// A binary of this workspace, next to the running test executable's `deps/` directory.
///
/// `cargo test --workspace` builds the `hush` and `hush-relay` binaries before running any test
/// (both packages have integration tests). Running only this package's tests needs them built
/// first: `cargo build --bins`.
pub fn target_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` (cargo test --workspace does it)",
        path.display()
    );
    path
}

/// What one `hush` invocation did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// The stdout lines parsed as JSON objects.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// The `hush` CLI bound to one home directory, with a passphrase in the environment and the
/// cheap key-derivation setting (tests only).
#[derive(Debug, Clone)]
pub struct Hush {
    /// The binary.
    pub binary: PathBuf,
    /// The home directory.
    pub home: PathBuf,
    /// The passphrase it uses.
    pub passphrase: String,
}

impl Hush {
    /// A user whose home is `home`.
    pub fn new(home: PathBuf) -> Self {
        Self {
            binary: target_binary("hush"),
            home,
            passphrase: "correct horse battery".into(),
        }
    }

    /// Runs `hush --home HOME ARGS…`, with `stdin` as standard input.
    pub fn run_with_input(&self, args: &[&str], stdin: &[u8]) -> Outcome {
        use std::io::Write;
        let mut child = Command::new(&self.binary)
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .env("HUSH_PASSPHRASE", &self.passphrase)
            .env("HUSH_KDF", "insecure-fast")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hush runs");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin);
        }
        let output = child.wait_with_output().expect("hush finishes");
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `hush --home HOME ARGS…`.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_input(args, b"")
    }

    /// Runs and insists on exit code 0.
    pub fn ok(&self, args: &[&str]) -> Outcome {
        let outcome = self.run(args);
        assert_eq!(outcome.code, 0, "hush {args:?} failed: {outcome:?}");
        outcome
    }
}

/// Writes `len` pseudo-random bytes (a fixed sequence per `seed`) to `dir/name`.
pub fn pseudo_random_file(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&path, bytes).expect("writing a test file");
    path
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
        {
            found.push(path);
        }
    }
    found
}
