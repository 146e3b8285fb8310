//! The one module of client-core that opens sockets: a QUIC connection to a relay.
//!
//! [`RelayConnection::connect`] resolves the relay address, connects over QUIC (TLS 1.3,
//! ALPN `hush/1`), accepts only the pinned key ([`PinnedKey`]; a mismatch is
//! [`TransportError::PinMismatch`], never retried), and authenticates the mailbox by signing
//! the relay's challenge. Requests then run on their own streams; pushes arrive through
//! [`RelayConnection::next_push`], which is cancel-safe. Files go up and down on blob streams
//! of their own ([`BlobUpload`], [`BlobDownload`]).

mod blob_stream;
mod pinning;

pub use blob_stream::{BlobChannel, BlobDownload, BlobStatus, BlobUpload};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use hush_protocol::auth::{EXPORTER_LABEL, EXPORTER_LEN, auth_message};
use hush_protocol::codec::{self, LENGTH_PREFIX_LEN};
use hush_protocol::version::{ALPN, PROTOCOL_VERSION};
use hush_protocol::{
    ClientFrame, Delivery, EnvelopeId, ErrorCode, ErrorFrame, MailboxId, RelayAddress, RelayFrame,
    Signature,
};
use tokio::sync::mpsc;

pub use pinning::{PinnedKey, spki_pin};

/// How long a connection attempt may take before the relay counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// QUIC keep-alive interval (well inside the relay's idle timeout).
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Pushes buffered between the reader task and the caller.
const PUSH_QUEUE: usize = 256;

/// Why talking to the relay failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The relay presented a key other than the pinned one. Never retried: either the address
    /// is wrong or someone is in the middle.
    #[error(
        "the relay's key does not match the pin in its address: wrong address, or someone is intercepting the connection"
    )]
    PinMismatch,
    /// The relay could not be reached.
    #[error("relay unreachable: {0}")]
    Unreachable(String),
    /// The relay refused the request.
    #[error("relay refused: {0}")]
    Refused(ErrorFrame),
    /// The connection ended.
    #[error("connection to the relay lost: {0}")]
    Closed(String),
    /// The relay sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl TransportError {
    /// Whether retrying later (on a new connection) can help.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable(_) | Self::Closed(_) => true,
            Self::Refused(frame) => matches!(
                frame.code,
                ErrorCode::RateLimited | ErrorCode::Unavailable | ErrorCode::QuotaExceeded
            ),
            Self::PinMismatch | Self::Protocol(_) => false,
        }
    }
}

/// What the relay pushes on the control stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Push {
    /// A stored envelope: store it, then ack it.
    Deliver(Delivery),
    /// An ephemeral envelope: no ack.
    Ephemeral(Delivery),
    /// Everything queued has been delivered and acknowledged.
    Drained,
    /// Another connection took over this mailbox's deliveries.
    Unsubscribed,
    /// The relay reported an error on the control stream (e.g. an ack it did not know).
    Error(ErrorFrame),
}

/// How to authenticate.
#[derive(Debug)]
pub enum Login<'a> {
    /// Create the mailbox owned by this key (or find the one it owns).
    Create(&'a SigningKey),
    /// Act as an existing mailbox.
    Existing(MailboxId, &'a SigningKey),
}

/// An authenticated connection to a relay.
pub struct RelayConnection {
    connection: quinn::Connection,
    control: quinn::SendStream,
    pushes: mpsc::Receiver<Result<RelayFrame, TransportError>>,
    reader: tokio::task::JoinHandle<()>,
    mailbox: MailboxId,
    _endpoint: quinn::Endpoint,
}

impl std::fmt::Debug for RelayConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConnection").finish_non_exhaustive()
    }
}

fn closed(error: impl std::fmt::Display) -> TransportError {
    TransportError::Closed(error.to_string())
}

async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Option<RelayFrame>, TransportError> {
    let mut prefix = [0u8; LENGTH_PREFIX_LEN];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(closed(e)),
    }
    let len = codec::body_len(prefix).map_err(|e| TransportError::Protocol(e.to_string()))?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await.map_err(closed)?;
    codec::decode_body(&body)
        .map(Some)
        .map_err(|e| TransportError::Protocol(e.to_string()))
}

async fn write_frame(
    send: &mut quinn::SendStream,
    frame: &ClientFrame,
) -> Result<(), TransportError> {
    let bytes = codec::encode_frame(frame).map_err(|e| TransportError::Protocol(e.to_string()))?;
    send.write_all(&bytes).await.map_err(closed)
}

/// One request on its own stream of `connection`.
async fn request_on(
    connection: &quinn::Connection,
    frame: &ClientFrame,
) -> Result<RelayFrame, TransportError> {
    let exchange = async {
        let (mut send, mut recv) = connection.open_bi().await.map_err(close_reason)?;
        write_frame(&mut send, frame).await?;
        send.finish().map_err(closed)?;
        match read_frame(&mut recv).await? {
            Some(RelayFrame::Error(error)) => Err(TransportError::Refused(error)),
            Some(frame) => Ok(frame),
            None => Err(TransportError::Protocol("empty response".into())),
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| TransportError::Unreachable("the relay did not answer in time".into()))?
}

fn close_reason(error: quinn::ConnectionError) -> TransportError {
    match error {
        quinn::ConnectionError::ApplicationClosed(close) => {
            let code = u16::try_from(close.error_code.into_inner()).unwrap_or(0);
            let message = String::from_utf8_lossy(&close.reason).into_owned();
            if code == 0 {
                TransportError::Closed(message)
            } else {
                TransportError::Refused(ErrorFrame::new(ErrorCode::from(code), message))
            }
        }
        other => closed(other),
    }
}

async fn resolve(address: &RelayAddress) -> Result<SocketAddr, TransportError> {
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::lookup_host((address.host.as_str(), address.port)),
    )
    .await
    .map_err(|_| TransportError::Unreachable(format!("resolving {} timed out", address.host)))?
    .map_err(|e| TransportError::Unreachable(format!("resolving {}: {e}", address.host)))?
    .next()
    .ok_or_else(|| TransportError::Unreachable(format!("{} has no address", address.host)))
}

impl RelayConnection {
    /// Connects to `address` and authenticates.
    pub async fn connect(address: &RelayAddress, login: Login<'_>) -> Result<Self, TransportError> {
        let target = resolve(address).await?;
        let bind: SocketAddr = if target.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let endpoint = quinn::Endpoint::client(bind)
            .map_err(|e| TransportError::Unreachable(e.to_string()))?;
        Self::establish(endpoint, target, address, login).await
    }

    /// Connects to `address` through a caller-provided client `endpoint` (one UDP socket) and
    /// authenticates. Many connections can share one endpoint — a load generator holding
    /// thousands of connections needs this to stay within file-descriptor limits. The
    /// endpoint must be able to reach the relay (same address family).
    pub async fn connect_on(
        endpoint: &quinn::Endpoint,
        address: &RelayAddress,
        login: Login<'_>,
    ) -> Result<Self, TransportError> {
        let target = resolve(address).await?;
        Self::establish(endpoint.clone(), target, address, login).await
    }

    async fn establish(
        endpoint: quinn::Endpoint,
        target: SocketAddr,
        address: &RelayAddress,
        login: Login<'_>,
    ) -> Result<Self, TransportError> {
        let (verifier, mismatch) = PinnedKey::new(address.pin);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TransportError::Protocol(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| TransportError::Protocol(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(KEEP_ALIVE));
        config.transport_config(Arc::new(transport));
        let connecting = endpoint
            .connect_with(config, target, "hush-relay")
            .map_err(|e| TransportError::Unreachable(e.to_string()))?;
        let connection = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(_)) if mismatch.load(Ordering::SeqCst) => {
                return Err(TransportError::PinMismatch);
            }
            Ok(Err(e)) => return Err(TransportError::Unreachable(e.to_string())),
            Err(_) => {
                return Err(TransportError::Unreachable(format!(
                    "no answer from {}:{} within {}s",
                    address.host,
                    address.port,
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        };
        let within = |what: &'static str| {
            move |_| TransportError::Unreachable(format!("relay did not answer {what} in time"))
        };
        let (mut control, mut recv) = connection.open_bi().await.map_err(close_reason)?;
        write_frame(
            &mut control,
            &ClientFrame::Hello {
                version: PROTOCOL_VERSION,
            },
        )
        .await?;
        let nonce = match tokio::time::timeout(REQUEST_TIMEOUT, read_frame(&mut recv))
            .await
            .map_err(within("hello"))??
        {
            Some(RelayFrame::Challenge { nonce, .. }) => nonce,
            Some(RelayFrame::Error(error)) => return Err(TransportError::Refused(error)),
            other => {
                return Err(TransportError::Protocol(format!(
                    "expected a challenge, got {other:?}"
                )));
            }
        };
        let mut binding = [0u8; EXPORTER_LEN];
        connection
            .export_keying_material(&mut binding, EXPORTER_LABEL, b"")
            .map_err(|_| TransportError::Protocol("no TLS exporter".into()))?;
        let key = match &login {
            Login::Create(key) | Login::Existing(_, key) => key,
        };
        let public = key.verifying_key().to_bytes();
        let message = auth_message(&address.pin, &binding, &nonce, &public);
        let signature = Signature(key.sign(&message).to_bytes());
        let frame = match login {
            Login::Create(_) => ClientFrame::CreateMailbox {
                key: public,
                signature,
            },
            Login::Existing(mailbox, _) => ClientFrame::Authenticate { mailbox, signature },
        };
        write_frame(&mut control, &frame).await?;
        let mailbox = match tokio::time::timeout(REQUEST_TIMEOUT, read_frame(&mut recv))
            .await
            .map_err(within("authentication"))??
        {
            Some(RelayFrame::Authenticated { mailbox }) => mailbox,
            Some(RelayFrame::Error(error)) => return Err(TransportError::Refused(error)),
            other => {
                return Err(TransportError::Protocol(format!(
                    "expected Authenticated, got {other:?}"
                )));
            }
        };
        let (tx, pushes) = mpsc::channel(PUSH_QUEUE);
        let watcher = connection.clone();
        let reader = tokio::spawn(async move {
            loop {
                let next = read_frame(&mut recv).await;
                let end = !matches!(next, Ok(Some(_)));
                let item = match next {
                    Ok(Some(frame)) => Ok(frame),
                    Ok(None) => Err(TransportError::Closed(
                        "relay ended the control stream".into(),
                    )),
                    Err(_) => Err(close_reason(watcher.closed().await)),
                };
                if tx.send(item).await.is_err() || end {
                    return;
                }
            }
        });
        Ok(Self {
            connection,
            control,
            pushes,
            reader,
            mailbox,
            _endpoint: endpoint,
        })
    }

    /// The mailbox this connection acts for.
    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    /// One request on its own stream. A relay `Error` answer is [`TransportError::Refused`].
    pub async fn request(&self, frame: &ClientFrame) -> Result<RelayFrame, TransportError> {
        request_on(&self.connection, frame).await
    }

    /// A handle for file transfers on this connection that can move to another task (blob
    /// streams run beside the control stream; see [`BlobChannel`]).
    pub fn blobs(&self) -> BlobChannel {
        BlobChannel {
            connection: self.connection.clone(),
        }
    }

    /// Starts receiving this mailbox's envelopes.
    pub async fn subscribe(&mut self) -> Result<(), TransportError> {
        write_frame(&mut self.control, &ClientFrame::Subscribe).await
    }

    /// The next push. Cancel-safe.
    pub async fn next_push(&mut self) -> Result<Push, TransportError> {
        match self.pushes.recv().await {
            None => Err(TransportError::Closed("connection ended".into())),
            Some(Err(error)) => Err(error),
            Some(Ok(RelayFrame::Deliver(delivery))) => Ok(Push::Deliver(delivery)),
            Some(Ok(RelayFrame::Ephemeral(delivery))) => Ok(Push::Ephemeral(delivery)),
            Some(Ok(RelayFrame::Drained)) => Ok(Push::Drained),
            Some(Ok(RelayFrame::Unsubscribed)) => Ok(Push::Unsubscribed),
            Some(Ok(RelayFrame::Error(error))) => Ok(Push::Error(error)),
            Some(Ok(other)) => Err(TransportError::Protocol(format!(
                "unexpected push {other:?}"
            ))),
        }
    }

    /// Acknowledges stored deliveries (the caller has stored them durably).
    pub async fn ack(&mut self, ids: &[EnvelopeId]) -> Result<(), TransportError> {
        for chunk in ids.chunks(hush_protocol::limits::MAX_ACK_BATCH) {
            write_frame(
                &mut self.control,
                &ClientFrame::Ack {
                    ids: chunk.to_vec(),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Closes the connection politely, letting the relay process what was written.
    pub async fn close(mut self) {
        let _ = self.control.finish();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.control.stopped()).await;
        self.connection.close(0u32.into(), b"bye");
        self.reader.abort();
    }
}

/// Exponential backoff with jitter for reconnecting: 0.5 s, 1 s, 2 s, … up to 30 s, each
/// scaled by a random factor in [0.5, 1.0]. Plain data; the caller sleeps.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// Shortest delay.
    pub const BASE: Duration = Duration::from_millis(500);
    /// Longest delay.
    pub const MAX: Duration = Duration::from_secs(30);

    /// The delay before the next attempt, given a random `jitter` in `[0, 1]`.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let factor = 1u32 << self.attempt.min(6);
        self.attempt = self.attempt.saturating_add(1);
        let full = (Self::BASE * factor).min(Self::MAX);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// Back to the shortest delay after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<_> = (0..10).map(|_| backoff.next_delay(1.0)).collect();
        assert_eq!(delays[0], Duration::from_millis(500));
        assert_eq!(delays[1], Duration::from_secs(1));
        assert_eq!(delays[9], Backoff::MAX);
        assert!(backoff.next_delay(0.0) >= Backoff::MAX / 2);
        backoff.reset();
        assert_eq!(backoff.next_delay(1.0), Backoff::BASE);
    }
}
