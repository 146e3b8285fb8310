//! The blob store on 127.0.0.1 with real QUIC clients: uploads, downloads, resumes, takeover,
//! release, expiry and the checks `CreateBlob` makes — against the files on disk.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hush_protocol::codec::{body_len, decode_body, encode_frame};
use hush_protocol::limits::BLOB_CHUNK_LEN;
use hush_protocol::{BlobId, ClientFrame, ErrorCode, MailboxId, RelayAddress, RelayFrame};
use hush_relay::Relay;
use hush_relay::config::Config;
use hush_relay::store::{RelayStore, SledStore};
use hush_relay::tls::RelayIdentity;
use hush_tests::TestClient;
use tokio_util::sync::CancellationToken;

const FULL: u64 = BLOB_CHUNK_LEN as u64;
const WAIT: Duration = Duration::from_secs(10);

struct Running {
    address: RelayAddress,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    data: PathBuf,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .unwrap()
            .unwrap();
    }

    fn blob_file(&self, id: &BlobId) -> PathBuf {
        self.data.join("blobs").join(id.to_string())
    }

    fn blob_files(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.data.join("blobs")) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A relay with a sled store in `data`.
fn start_in(data: &Path, mut config: Config) -> Running {
    config.server.data_dir = data.to_path_buf();
    let store: Arc<dyn RelayStore> = Arc::new(SledStore::open(&data.join("store")).unwrap());
    let identity = RelayIdentity::load_or_create(data).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay = Relay::from_parts(config, store, &identity, socket).unwrap();
    let address = relay.address().clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(relay.run(shutdown.clone()));
    Running {
        address,
        shutdown,
        task,
        data: data.to_path_buf(),
    }
}

fn blob_id() -> BlobId {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).unwrap();
    BlobId::from_bytes(id)
}

/// The chunks of a blob of `size` bytes, each byte depending on its position.
fn chunks_of(size: u64, seed: u8) -> Vec<Vec<u8>> {
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 16) as u8)
        .collect();
    bytes.chunks(BLOB_CHUNK_LEN).map(<[u8]>::to_vec).collect()
}

fn code(frame: &RelayFrame) -> Option<ErrorCode> {
    match frame {
        RelayFrame::Error(error) => Some(error.code),
        _ => None,
    }
}

fn message(frame: &RelayFrame) -> String {
    match frame {
        RelayFrame::Error(error) => error.message.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

async fn create(
    client: &TestClient,
    id: BlobId,
    size: u64,
    recipients: &[MailboxId],
    ttl_secs: u32,
) -> RelayFrame {
    client
        .raw
        .request(&ClientFrame::CreateBlob {
            id,
            size,
            recipients: recipients.to_vec(),
            ttl_secs,
        })
        .await
        .unwrap()
}

fn status(id: BlobId, size: u64, chunks_stored: u32, complete: bool) -> RelayFrame {
    RelayFrame::BlobStatus {
        id,
        size,
        chunks_stored,
        complete,
    }
}

/// Reads one frame, or `None` when the stream finished cleanly.
async fn read_opt(recv: &mut quinn::RecvStream) -> Option<RelayFrame> {
    let mut prefix = [0u8; 4];
    match tokio::time::timeout(WAIT, recv.read_exact(&mut prefix))
        .await
        .expect("relay answers in time")
    {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return None,
        Err(other) => panic!("stream failed: {other}"),
    }
    let mut body = vec![0u8; body_len(prefix).unwrap()];
    recv.read_exact(&mut body).await.unwrap();
    Some(decode_body(&body).unwrap())
}

/// An upload stream with its first frame and `chunks` written, not finished.
async fn start_upload(
    client: &TestClient,
    id: BlobId,
    first_chunk: u32,
    chunks: &[Vec<u8>],
) -> (quinn::SendStream, quinn::RecvStream) {
    let (mut send, recv) = client.raw.connection.open_bi().await.unwrap();
    let first = ClientFrame::UploadBlob { id, first_chunk };
    send.write_all(&encode_frame(&first).unwrap())
        .await
        .unwrap();
    for chunk in chunks {
        let frame = ClientFrame::BlobChunk {
            data: chunk.clone(),
        };
        send.write_all(&encode_frame(&frame).unwrap())
            .await
            .unwrap();
    }
    (send, recv)
}

/// Uploads `chunks` from `first_chunk`, finishes, and returns the relay's answer.
async fn upload(
    client: &TestClient,
    id: BlobId,
    first_chunk: u32,
    chunks: &[Vec<u8>],
) -> RelayFrame {
    let (mut send, mut recv) = start_upload(client, id, first_chunk, chunks).await;
    let _ = send.finish();
    read_opt(&mut recv).await.expect("an answer")
}

/// Downloads from `first_chunk`: the first frame, then the chunks until the stream finishes.
async fn download(client: &TestClient, id: BlobId, first_chunk: u32) -> (RelayFrame, Vec<Vec<u8>>) {
    let (mut send, mut recv) = client.raw.connection.open_bi().await.unwrap();
    let frame = ClientFrame::DownloadBlob { id, first_chunk };
    send.write_all(&encode_frame(&frame).unwrap())
        .await
        .unwrap();
    send.finish().unwrap();
    let first = read_opt(&mut recv).await.expect("a first frame");
    let mut chunks = Vec::new();
    while let Some(frame) = read_opt(&mut recv).await {
        match frame {
            RelayFrame::BlobChunk { data } => chunks.push(data),
            other => panic!("expected a chunk, got {other:?}"),
        }
    }
    (first, chunks)
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn upload_and_download_round_trip_with_an_odd_last_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let id = blob_id();
    let size = 2 * FULL + 1234;
    let chunks = chunks_of(size, 1);
    assert_eq!(chunks.len(), 3);
    assert_eq!(
        create(&alice, id, size, &[bob.mailbox], 0).await,
        status(id, size, 0, false)
    );
    assert_eq!(
        upload(&alice, id, 0, &chunks).await,
        status(id, size, 3, true)
    );
    assert_eq!(
        std::fs::read(relay.blob_file(&id)).unwrap(),
        chunks.concat(),
        "the file holds the chunks back to back"
    );
    let (first, got) = download(&bob, id, 0).await;
    assert_eq!(first, status(id, size, 3, true));
    assert_eq!(got, chunks);
    // CreateBlob again answers that it is complete.
    assert_eq!(
        create(&alice, id, size, &[bob.mailbox], 0).await,
        status(id, size, 3, true)
    );
    relay.stop().await;
}

#[tokio::test]
async fn a_cut_off_upload_resumes_at_chunks_stored() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let id = blob_id();
    let size = 4 * FULL + 99;
    let chunks = chunks_of(size, 2);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    // Two chunks, then the client dies: its connection goes away mid-stream.
    let (mut send, _recv) = start_upload(&alice, id, 0, &chunks[..2]).await;
    // Make sure the relay has the bytes before the connection is cut.
    wait_for("two chunks on disk", || {
        std::fs::metadata(relay.blob_file(&id)).is_ok_and(|m| m.len() == 2 * FULL)
    })
    .await;
    let _ = send.reset(0u32.into());
    alice.raw.connection.close(0u32.into(), b"killed");
    let alice = alice.reconnect(&relay.address).await.unwrap();
    // The relay syncs the file once it notices the stream broke; poll until it reports it.
    let mut resumed = None;
    let deadline = Instant::now() + WAIT;
    while resumed.is_none() {
        match create(&alice, id, size, &[bob.mailbox], 0).await {
            RelayFrame::BlobStatus {
                chunks_stored: 2, ..
            } => resumed = Some(2u32),
            RelayFrame::BlobStatus { .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("expected chunks_stored 2, got {other:?}"),
        }
    }
    // Starting past what is stored is refused.
    assert_eq!(
        code(&upload(&alice, id, 3, &chunks[3..]).await),
        Some(ErrorCode::InvalidRequest)
    );
    assert_eq!(
        upload(&alice, id, 2, &chunks[2..]).await,
        status(id, size, 5, true)
    );
    assert_eq!(
        std::fs::read(relay.blob_file(&id)).unwrap(),
        chunks.concat()
    );
    let (_, got) = download(&bob, id, 0).await;
    assert_eq!(got.concat(), chunks.concat(), "byte-identical");
    relay.stop().await;
}

#[tokio::test]
async fn a_newer_upload_stream_takes_over_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let id = blob_id();
    let size = 3 * FULL;
    let chunks = chunks_of(size, 3);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    // The old stream stays open on a live connection (idle timeout: 60 s).
    let (_old_send, mut old_recv) = start_upload(&alice, id, 0, &chunks[..1]).await;
    wait_for("one chunk on disk", || {
        std::fs::metadata(relay.blob_file(&id)).is_ok_and(|m| m.len() == FULL)
    })
    .await;
    let second = alice.reconnect(&relay.address).await.unwrap();
    let started = Instant::now();
    let answer = upload(&second, id, 0, &chunks).await;
    assert_eq!(answer, status(id, size, 3, true));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not wait for the old connection"
    );
    let old = read_opt(&mut old_recv)
        .await
        .expect("the old stream is told");
    assert_eq!(code(&old), Some(ErrorCode::Unavailable), "{old:?}");
    assert!(message(&old).contains("took over"));
    let (_, got) = download(&bob, id, 0).await;
    assert_eq!(got, chunks);
    relay.stop().await;
}

#[tokio::test]
async fn a_chunk_of_the_wrong_length_is_refused_and_earlier_chunks_stay() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let id = blob_id();
    let size = 3 * FULL;
    let chunks = chunks_of(size, 4);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    let bad = vec![chunks[0].clone(), vec![0u8; 100]];
    let answer = upload(&alice, id, 0, &bad).await;
    assert_eq!(code(&answer), Some(ErrorCode::InvalidRequest), "{answer:?}");
    assert_eq!(
        create(&alice, id, size, &[bob.mailbox], 0).await,
        status(id, size, 1, false),
        "the good chunk before it stays"
    );
    // Past the end is refused too.
    let mut too_many = chunks[1..].to_vec();
    too_many.push(chunks[0].clone());
    let answer = upload(&alice, id, 1, &too_many).await;
    assert_eq!(
        answer,
        status(id, size, 3, true),
        "complete at the last chunk"
    );
    // The connection is still usable.
    alice
        .send_stored(&[bob.mailbox], b"still here")
        .await
        .unwrap();
    relay.stop().await;
}

#[tokio::test]
async fn only_recipients_download_and_only_complete_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let eve = TestClient::create(&relay.address).await.unwrap();
    let id = blob_id();
    let size = FULL + 1;
    let chunks = chunks_of(size, 5);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    upload(&alice, id, 0, &chunks[..1]).await;
    let (first, got) = download(&bob, id, 0).await;
    assert_eq!(code(&first), Some(ErrorCode::UnknownBlob), "incomplete");
    assert!(got.is_empty());
    upload(&alice, id, 1, &chunks[1..]).await;
    for who in [&alice, &eve] {
        let (first, got) = download(who, id, 0).await;
        assert_eq!(
            code(&first),
            Some(ErrorCode::UnknownBlob),
            "not a recipient"
        );
        assert!(got.is_empty());
    }
    let (first, _) = download(&bob, blob_id(), 0).await;
    assert_eq!(code(&first), Some(ErrorCode::UnknownBlob), "never created");
    // Nor may anyone but the uploader upload, or learn the id exists.
    assert_eq!(
        code(&upload(&eve, id, 0, &chunks).await),
        Some(ErrorCode::UnknownBlob)
    );
    assert_eq!(
        code(&create(&eve, id, size, &[bob.mailbox], 0).await),
        Some(ErrorCode::UnknownBlob)
    );
    let (first, got) = download(&bob, id, 0).await;
    assert_eq!(first, status(id, size, 2, true));
    assert_eq!(got, chunks);
    relay.stop().await;
}

#[tokio::test]
async fn a_download_resumes_from_first_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let id = blob_id();
    let size = 3 * FULL + 7;
    let chunks = chunks_of(size, 6);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    upload(&alice, id, 0, &chunks).await;
    let (first, got) = download(&bob, id, 2).await;
    assert_eq!(first, status(id, size, 4, true));
    assert_eq!(got, chunks[2..].to_vec());
    let (_, got) = download(&bob, id, 4).await;
    assert!(got.is_empty(), "nothing after the end");
    let (first, _) = download(&bob, id, 5).await;
    assert_eq!(code(&first), Some(ErrorCode::InvalidRequest));
    relay.stop().await;
}

#[tokio::test]
async fn release_by_every_recipient_deletes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let carol = TestClient::create(&relay.address).await.unwrap();
    let id = blob_id();
    let size = FULL + 10;
    let chunks = chunks_of(size, 7);
    create(&alice, id, size, &[bob.mailbox, carol.mailbox], 0).await;
    upload(&alice, id, 0, &chunks).await;
    assert_eq!(relay.blob_files(), vec![relay.blob_file(&id)]);
    let fetched = ClientFrame::BlobFetched { id };
    assert_eq!(
        bob.raw.request(&fetched).await.unwrap(),
        RelayFrame::BlobReleased { id }
    );
    assert_eq!(
        code(&bob.raw.request(&fetched).await.unwrap()),
        Some(ErrorCode::UnknownBlob),
        "twice"
    );
    let (first, _) = download(&bob, id, 0).await;
    assert_eq!(code(&first), Some(ErrorCode::UnknownBlob), "released");
    assert!(relay.blob_file(&id).exists(), "carol still needs it");
    let (_, got) = download(&carol, id, 0).await;
    assert_eq!(got, chunks);
    assert_eq!(
        carol.raw.request(&fetched).await.unwrap(),
        RelayFrame::BlobReleased { id }
    );
    assert!(
        relay.blob_files().is_empty(),
        "the last release deletes the file"
    );
    assert_eq!(
        code(&create(&alice, blob_id(), 10, &[bob.mailbox], 0).await),
        None,
        "quota was given back"
    );
    relay.stop().await;
}

#[tokio::test]
async fn expired_blobs_are_deleted_complete_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.retention.sweep_interval_secs = 1;
    let relay = start_in(dir.path(), config);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let (short, partial, long) = (blob_id(), blob_id(), blob_id());
    let size = 2 * FULL;
    let chunks = chunks_of(size, 8);
    create(&alice, short, size, &[bob.mailbox], 1).await;
    create(&alice, partial, size, &[bob.mailbox], 1).await;
    create(&alice, long, size, &[bob.mailbox], 0).await;
    upload(&alice, short, 0, &chunks).await;
    upload(&alice, partial, 0, &chunks[..1]).await;
    upload(&alice, long, 0, &chunks).await;
    assert_eq!(relay.blob_files().len(), 3);
    wait_for("expired blob files to be deleted", || {
        relay.blob_files() == vec![relay.blob_file(&long)]
    })
    .await;
    let (first, _) = download(&bob, short, 0).await;
    assert_eq!(code(&first), Some(ErrorCode::UnknownBlob));
    let (_, got) = download(&bob, long, 0).await;
    assert_eq!(got, chunks);
    relay.stop().await;
}

#[tokio::test]
async fn create_refuses_too_large_blobs_and_full_quotas() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.limits.max_blob_bytes = 10 * FULL;
    config.limits.mailbox_max_blob_bytes = 15 * FULL;
    let relay = start_in(dir.path(), config);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let carol = TestClient::create(&relay.address).await.unwrap();
    let to_bob = [bob.mailbox];
    assert_eq!(
        code(&create(&alice, blob_id(), 10 * FULL + 1, &to_bob, 0).await),
        Some(ErrorCode::TooLarge)
    );
    assert_eq!(
        code(&create(&alice, blob_id(), 0, &to_bob, 0).await),
        Some(ErrorCode::TooLarge)
    );
    assert_eq!(
        code(&create(&alice, blob_id(), 5, &[bob.mailbox, bob.mailbox], 0).await),
        Some(ErrorCode::InvalidRequest)
    );
    assert_eq!(
        code(&create(&alice, blob_id(), 5, &[MailboxId::from_bytes([9; 16])], 0).await),
        Some(ErrorCode::UnknownMailbox)
    );
    let id = blob_id();
    assert_eq!(code(&create(&alice, id, 10 * FULL, &to_bob, 0).await), None);
    assert_eq!(
        code(&create(&alice, id, 9 * FULL, &to_bob, 0).await),
        Some(ErrorCode::Conflict)
    );
    // Alice holds 10 of her 15: 6 more do not fit her quota.
    let mine = create(&alice, blob_id(), 6 * FULL, &[carol.mailbox], 0).await;
    assert_eq!(code(&mine), Some(ErrorCode::QuotaExceeded));
    assert!(message(&mine).contains("your blob quota"), "{mine:?}");
    assert!(!message(&mine).contains(&alice.mailbox.to_string()));
    // Recipients are not charged: 10 waiting for Bob do not stop Carol's 10 to him.
    assert_eq!(
        code(&create(&carol, blob_id(), 10 * FULL, &to_bob, 0).await),
        None
    );
    relay.stop().await;
}

#[tokio::test]
async fn a_restart_reconciles_files_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let (alice_mailbox, alice_key, bob_mailbox) = (alice.mailbox, alice.key.clone(), bob.mailbox);
    let id = blob_id();
    let size = 3 * FULL;
    let chunks = chunks_of(size, 9);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    upload(&alice, id, 0, &chunks[..2]).await;
    drop((alice, bob));
    relay.stop().await;
    // Half a chunk more (a crash mid-write) and a stray file.
    let mut torn = chunks[..2].concat();
    torn.extend_from_slice(&chunks[2][..100]);
    std::fs::write(dir.path().join("blobs").join(id.to_string()), &torn).unwrap();
    let stray = dir.path().join("blobs").join(blob_id().to_string());
    std::fs::write(&stray, b"nobody's").unwrap();

    let relay = start_in(dir.path(), Config::default());
    assert!(!stray.exists(), "a file without metadata is deleted");
    assert_eq!(
        std::fs::metadata(relay.blob_file(&id)).unwrap().len(),
        2 * FULL,
        "cut back to whole chunks"
    );
    let alice = TestClient::login(&relay.address, alice_mailbox, alice_key)
        .await
        .unwrap();
    assert_eq!(
        create(&alice, id, size, &[bob_mailbox], 0).await,
        status(id, size, 2, false),
        "metadata and whole chunks survive"
    );
    assert_eq!(
        upload(&alice, id, 2, &chunks[2..]).await,
        status(id, size, 3, true)
    );
    assert_eq!(
        std::fs::read(relay.blob_file(&id)).unwrap(),
        chunks.concat()
    );
    relay.stop().await;
}

#[tokio::test]
async fn the_uploader_abandons_a_blob_and_gets_its_quota_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.limits.max_blob_bytes = 4 * FULL;
    config.limits.mailbox_max_blob_bytes = 4 * FULL;
    let relay = start_in(dir.path(), config);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let (id, size) = (blob_id(), 3 * FULL);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    upload(&alice, id, 0, &chunks_of(size, 2)[..1]).await;
    assert_eq!(relay.blob_files().len(), 1);
    // The quota is taken: another 3 chunks do not fit.
    assert_eq!(
        code(&create(&alice, blob_id(), size, &[bob.mailbox], 0).await),
        Some(ErrorCode::QuotaExceeded)
    );
    let abandon = ClientFrame::AbandonBlob { id };
    assert_eq!(
        code(&bob.raw.request(&abandon).await.unwrap()),
        Some(ErrorCode::UnknownBlob),
        "only the uploader"
    );
    assert_eq!(
        alice.raw.request(&abandon).await.unwrap(),
        RelayFrame::BlobReleased { id }
    );
    assert!(relay.blob_files().is_empty(), "the file is gone");
    assert_eq!(
        code(&alice.raw.request(&abandon).await.unwrap()),
        Some(ErrorCode::UnknownBlob),
        "twice"
    );
    let (head, _) = download(&bob, id, 0).await;
    assert_eq!(code(&head), Some(ErrorCode::UnknownBlob));
    // The quota is back.
    assert_eq!(
        code(&create(&alice, blob_id(), size, &[bob.mailbox], 0).await),
        None
    );
    relay.stop().await;
}

/// The relay stopped after the last chunk was durable but before the blob was recorded
/// complete: the uploader's resume finds every chunk stored, and an upload stream with no
/// chunks completes it (what client-core's resume does).
#[tokio::test]
async fn an_upload_with_every_chunk_stored_is_completed_by_an_empty_stream() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let (alice_mailbox, alice_key, bob_mailbox) = (alice.mailbox, alice.key.clone(), bob.mailbox);
    let (bob_key, id, size) = (bob.key.clone(), blob_id(), 2 * FULL + 7);
    let chunks = chunks_of(size, 4);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    drop((alice, bob));
    relay.stop().await;
    std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
    std::fs::write(
        dir.path().join("blobs").join(id.to_string()),
        chunks.concat(),
    )
    .unwrap();

    let relay = start_in(dir.path(), Config::default());
    let alice = TestClient::login(&relay.address, alice_mailbox, alice_key)
        .await
        .unwrap();
    assert_eq!(
        create(&alice, id, size, &[bob_mailbox], 0).await,
        status(id, size, 3, false),
        "every chunk stored, not complete"
    );
    assert_eq!(upload(&alice, id, 3, &[]).await, status(id, size, 3, true));
    let bob = TestClient::login(&relay.address, bob_mailbox, bob_key)
        .await
        .unwrap();
    let (head, got) = download(&bob, id, 0).await;
    assert_eq!(head, status(id, size, 3, true));
    assert_eq!(got, chunks);
    relay.stop().await;
}

#[tokio::test]
async fn blob_streams_count_once_against_the_request_rate_and_do_not_block_chat() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.limits.requests_per_second = 1;
    config.limits.request_burst = 4;
    let relay = start_in(dir.path(), config);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let id = blob_id();
    let size = 20 * FULL;
    let chunks = chunks_of(size, 10);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    // An upload stream open and half done does not hold up a message.
    let (mut send, mut recv) = start_upload(&alice, id, 0, &chunks[..10]).await;
    alice.send_stored(&[bob.mailbox], b"chat").await.unwrap();
    for chunk in &chunks[10..] {
        let frame = ClientFrame::BlobChunk {
            data: chunk.clone(),
        };
        send.write_all(&encode_frame(&frame).unwrap())
            .await
            .unwrap();
    }
    let _ = send.finish();
    assert_eq!(
        read_opt(&mut recv).await.unwrap(),
        status(id, size, 20, true),
        "20 chunks, one request"
    );
    relay.stop().await;
}

#[tokio::test]
async fn metrics_count_only_accepted_chunk_bytes() {
    use hush_relay::metrics as names;
    use hush_tests::{RelayProcess, free_udp_port, metric_value, scrape_metrics};
    let dir = tempfile::tempdir().unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let relay = RelayProcess::start(
        Path::new(env!("CARGO_BIN_EXE_hush-relay")),
        &dir.path().join("data"),
        &format!("127.0.0.1:{}", free_udp_port().unwrap()),
        &["--metrics", &metrics.to_string()],
    )
    .unwrap();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let id = blob_id();
    let size = 2 * FULL + 5;
    let chunks = chunks_of(size, 11);
    create(&alice, id, size, &[bob.mailbox], 0).await;
    // A wrong chunk is not counted.
    let bad = upload(&alice, id, 0, &[chunks[0].clone(), vec![1; 3]]).await;
    assert_eq!(code(&bad), Some(ErrorCode::InvalidRequest));
    assert_eq!(
        upload(&alice, id, 1, &chunks[1..2]).await,
        status(id, size, 2, false),
        "finished early: how far it got"
    );
    assert_eq!(
        upload(&alice, id, 2, &chunks[2..]).await,
        status(id, size, 3, true)
    );
    let text = scrape_metrics(metrics).unwrap();
    let value = |name: &str| metric_value(&text, name);
    assert_eq!(
        value(names::BLOB_BYTES_RECEIVED_TOTAL),
        Some(size as f64),
        "each chunk once: {text}"
    );
    assert_eq!(value(names::BLOBS), Some(1.0));
    assert_eq!(value(names::BLOB_BYTES), Some(size as f64));
    let (_, got) = download(&bob, id, 1).await;
    assert_eq!(got, chunks[1..].to_vec());
    bob.raw
        .request(&ClientFrame::BlobFetched { id })
        .await
        .unwrap();
    let text = scrape_metrics(metrics).unwrap();
    let value = |name: &str| metric_value(&text, name);
    assert_eq!(
        value(names::BLOB_BYTES_SENT_TOTAL),
        Some((size - FULL) as f64),
        "{text}"
    );
    assert_eq!(value(names::BLOBS), Some(0.0));
    assert_eq!(value(names::BLOB_BYTES), Some(0.0));
    let deleted = |reason: &str| {
        value(&format!(
            "{}{{reason=\"{reason}\"}}",
            names::BLOBS_DELETED_TOTAL
        ))
    };
    assert_eq!(deleted("fetched"), Some(1.0));
    assert_eq!(deleted("expired"), Some(0.0));
    let log = std::fs::read_to_string(&relay.log).unwrap_or_default();
    drop(relay);
    for line in log
        .lines()
        .filter(|l| l.contains(" INFO ") || l.contains(" WARN ") || l.contains(" ERROR "))
    {
        for secret in [
            id.to_string(),
            alice.mailbox.to_string(),
            bob.mailbox.to_string(),
        ] {
            assert!(
                !line.contains(&secret),
                "an id in an info+ log line: {line}"
            );
        }
    }
}
