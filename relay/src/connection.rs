//! One client connection: the control stream (handshake, subscription, pushes, acks) and the
//! request streams.
//!
//! The session runs one `select!` loop that owns the control stream's sending half; a small
//! reader task turns the control stream's receiving half into a channel of frames, so every
//! branch of the loop is cancel-safe. Each request stream is served by its own task; so is
//! each blob stream (told apart from a request stream by its first frame), which counts once
//! against the request rate however many chunks it carries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hush_protocol::auth::{EXPORTER_LABEL, EXPORTER_LEN};
use hush_protocol::directory::normalize_username;
use hush_protocol::limits::{CHALLENGE_LEN, MAX_ACK_BATCH, MAX_PREKEYS_PER_UPLOAD};
use hush_protocol::version::PROTOCOL_VERSION;
use hush_protocol::{ClientFrame, Delivery, ErrorCode, ErrorFrame, MailboxId, RelayFrame};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Authenticated, ConnectionContext};
use crate::blob_stream::{self, StreamEnd};
use crate::delivery::DeliveryWindow;
use crate::error::RelayError;
use crate::mailroom::Accepted;
use crate::rate_limit::TokenBucket;
use crate::server::{Shared, unix_now};
use crate::store::ClaimOutcome;
use crate::wire::{ReadFailure, read_frame, write_frame};

/// How long the relay waits for the peer to read a final error frame before closing.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Control frames buffered between the reader task and the session.
const CONTROL_QUEUE: usize = 64;

/// Why a session ends with a close (code and a reason the peer sees).
struct Close {
    code: ErrorCode,
    reason: String,
}

impl Close {
    fn from_error(error: &RelayError) -> Self {
        Self {
            code: error.code(),
            reason: error.to_string(),
        }
    }
}

/// Keeps the connection gauge right however the session ends.
struct ConnectionGauge;

impl ConnectionGauge {
    fn open() -> Self {
        metrics::gauge!(crate::metrics::CONNECTIONS).increment(1.0);
        Self
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::CONNECTIONS).decrement(1.0);
    }
}

enum State {
    AwaitingHello,
    Challenged(ConnectionContext),
    Ready(Authenticated),
}

struct Subscribed {
    mailbox: MailboxId,
    wake: Arc<Notify>,
    ephemeral: mpsc::Receiver<Delivery>,
    replaced: CancellationToken,
    window: DeliveryWindow,
}

enum Event {
    Shutdown,
    Control(Option<Result<ClientFrame, ReadFailure>>),
    Replaced,
    Wake,
    Ephemeral(Option<Delivery>),
    Request(Result<(quinn::SendStream, quinn::RecvStream), quinn::ConnectionError>),
    RequestDone(Option<Close>),
}

/// Serves one incoming connection until it ends.
pub(crate) async fn serve(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let connecting = match incoming.accept() {
        Ok(connecting) => connecting,
        Err(error) => {
            tracing::debug!(%error, "incoming connection failed");
            return;
        }
    };
    let connection = match connecting.await {
        Ok(connection) => connection,
        Err(error) => {
            tracing::debug!(%error, "handshake failed");
            return;
        }
    };
    let _gauge = ConnectionGauge::open();
    let id = shared.next_connection_id();
    let mut session = Session {
        shared: shared.clone(),
        connection: connection.clone(),
        id,
        state: State::AwaitingHello,
        subscribed: None,
        bucket: TokenBucket::new(
            shared.config.limits.requests_per_second,
            shared.config.limits.request_burst,
            Instant::now(),
        ),
        requests: JoinSet::new(),
        streams: shutdown.child_token(),
    };
    let outcome = session.run(&shutdown).await;
    if let Some(subscribed) = &session.subscribed {
        shared.subscribers.unsubscribe(&subscribed.mailbox, id);
    }
    match outcome {
        Ok(()) => connection.close(0u32.into(), b"bye"),
        Err(close) => {
            metrics::counter!(crate::metrics::ERRORS_TOTAL, "code" => format!("{:?}", close.code))
                .increment(1);
            tracing::debug!(code = ?close.code, reason = %close.reason, "closing connection");
            connection.close(close.code.close_code().into(), close.reason.as_bytes());
        }
    }
}

struct Session {
    shared: Arc<Shared>,
    connection: quinn::Connection,
    id: u64,
    state: State,
    subscribed: Option<Subscribed>,
    bucket: TokenBucket,
    requests: JoinSet<Option<Close>>,
    /// Cancelled when the session ends: blob streams stop and make their files durable.
    streams: CancellationToken,
}

impl Session {
    async fn run(&mut self, shutdown: &CancellationToken) -> Result<(), Close> {
        let handshake = Duration::from_secs(self.shared.config.server.handshake_timeout_secs);
        let (mut control, recv) = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            opened = tokio::time::timeout(handshake, self.connection.accept_bi()) => match opened {
                Ok(Ok(streams)) => streams,
                _ => return Ok(()),
            },
        };
        let (frames_tx, mut frames) = mpsc::channel(CONTROL_QUEUE);
        let reader = tokio::spawn(read_control(recv, frames_tx));
        let deadline = tokio::time::sleep(handshake);
        tokio::pin!(deadline);
        let result = loop {
            if !matches!(self.state, State::Ready(_)) && deadline.is_elapsed() {
                break Err(Close::from_error(&RelayError::Unauthorized(
                    "authentication timed out",
                )));
            }
            if let Err(close) = self.pump(&mut control).await {
                break Err(close);
            }
            let event = self.next_event(shutdown, &mut frames, &mut deadline).await;
            match self.handle(event, &mut control).await {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(close) => break Err(close),
            }
        };
        reader.abort();
        self.streams.cancel();
        // Let requests already being served answer (a send waiting for durability gets its
        // `Stored`), briefly, then leave.
        let drain = async { while self.requests.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(crate::server::SHUTDOWN_GRACE, drain).await;
        if let Err(close) = &result {
            let frame = RelayFrame::Error(ErrorFrame::new(close.code, close.reason.clone()));
            if write_frame(&mut control, &frame).await {
                let _ = control.finish();
                let _ = tokio::time::timeout(CLOSE_LINGER, control.stopped()).await;
            }
        }
        result
    }

    async fn next_event(
        &mut self,
        shutdown: &CancellationToken,
        frames: &mut mpsc::Receiver<Result<ClientFrame, ReadFailure>>,
        deadline: &mut std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Event {
        let ready = matches!(self.state, State::Ready(_));
        let (wake, replaced, ephemeral) = match &mut self.subscribed {
            Some(s) => (
                Some(s.wake.clone()),
                Some(s.replaced.clone()),
                Some(&mut s.ephemeral),
            ),
            None => (None, None, None),
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => Event::Shutdown,
            () = deadline.as_mut(), if !ready => Event::Wake,
            frame = frames.recv() => Event::Control(frame),
            () = wait_cancelled(replaced) => Event::Replaced,
            () = wait_notified(wake) => Event::Wake,
            delivery = recv_ephemeral(ephemeral) => Event::Ephemeral(delivery),
            Some(done) = self.requests.join_next(), if !self.requests.is_empty() => {
                Event::RequestDone(done.ok().flatten())
            }
            stream = self.connection.accept_bi() => Event::Request(stream),
        }
    }

    /// Handles one event; `Ok(false)` ends the session cleanly.
    async fn handle(
        &mut self,
        event: Event,
        control: &mut quinn::SendStream,
    ) -> Result<bool, Close> {
        match event {
            Event::Shutdown => Ok(false),
            Event::Control(None) => Ok(false),
            Event::Control(Some(Err(failure))) => Err(read_failure_close(failure)),
            Event::Control(Some(Ok(frame))) => self.on_control(frame, control).await,
            Event::Replaced => {
                if let Some(subscribed) = self.subscribed.take() {
                    self.shared
                        .subscribers
                        .unsubscribe(&subscribed.mailbox, self.id);
                }
                Ok(write_frame(control, &RelayFrame::Unsubscribed).await)
            }
            Event::Wake => {
                if let Some(subscribed) = &mut self.subscribed {
                    subscribed.window.woken();
                }
                Ok(true)
            }
            Event::Ephemeral(Some(delivery)) => {
                Ok(write_frame(control, &RelayFrame::Ephemeral(delivery)).await)
            }
            Event::Ephemeral(None) => Ok(true),
            Event::Request(Ok((send, recv))) => {
                let allowed = self.bucket.try_take(Instant::now());
                let who = match self.state {
                    State::Ready(who) => Some(who),
                    _ => None,
                };
                let shared = self.shared.clone();
                let stop = self.streams.clone();
                self.requests
                    .spawn(serve_request(shared, who, allowed, send, recv, stop));
                Ok(true)
            }
            Event::Request(Err(_)) => Ok(false),
            Event::RequestDone(Some(close)) => Err(close),
            Event::RequestDone(None) => Ok(true),
        }
    }

    async fn on_control(
        &mut self,
        frame: ClientFrame,
        control: &mut quinn::SendStream,
    ) -> Result<bool, Close> {
        let now = unix_now();
        match (&self.state, frame) {
            (State::AwaitingHello, ClientFrame::Hello { version }) => {
                if version != PROTOCOL_VERSION {
                    return Err(Close::from_error(&RelayError::UnsupportedVersion(version)));
                }
                let mut challenge = [0u8; CHALLENGE_LEN];
                let mut binding = [0u8; EXPORTER_LEN];
                getrandom::fill(&mut challenge).map_err(|_| unavailable("no randomness"))?;
                self.connection
                    .export_keying_material(&mut binding, EXPORTER_LABEL, b"")
                    .map_err(|_| unavailable("no TLS exporter"))?;
                self.state = State::Challenged(ConnectionContext {
                    relay_pin: self.shared.relay_pin,
                    binding,
                    challenge,
                });
                let frame = RelayFrame::Challenge {
                    version: PROTOCOL_VERSION,
                    nonce: challenge,
                };
                Ok(write_frame(control, &frame).await)
            }
            (State::Challenged(context), ClientFrame::Authenticate { mailbox, signature }) => {
                let key = self
                    .shared
                    .store()
                    .mailbox_key(&mailbox)
                    .map_err(|e| Close::from_error(&RelayError::from(e)))?
                    .ok_or_else(|| Close::from_error(&RelayError::UnknownMailbox))?;
                let verified =
                    auth::verify(context, &key, &signature.0).map_err(|e| Close::from_error(&e))?;
                self.state = State::Ready(verified.owns(mailbox));
                Ok(write_frame(control, &RelayFrame::Authenticated { mailbox }).await)
            }
            (State::Challenged(context), ClientFrame::CreateMailbox { key, signature }) => {
                // Verify before touching the directory: only a key holder creates a mailbox.
                let verified =
                    auth::verify(context, &key, &signature.0).map_err(|e| Close::from_error(&e))?;
                let mut new_id = [0u8; 16];
                getrandom::fill(&mut new_id).map_err(|_| unavailable("no randomness"))?;
                let mailbox = self
                    .shared
                    .store()
                    .create_mailbox(verified.key(), MailboxId::from_bytes(new_id), now)
                    .map_err(|e| Close::from_error(&RelayError::from(e)))?;
                self.shared
                    .commit
                    .commit()
                    .await
                    .map_err(|e| unavailable(&e))?;
                self.state = State::Ready(verified.owns(mailbox));
                Ok(write_frame(control, &RelayFrame::Authenticated { mailbox }).await)
            }
            (State::Ready(who), ClientFrame::Subscribe) => {
                let mailbox = who.mailbox();
                let subscription = self.shared.subscribers.subscribe(mailbox, self.id);
                self.subscribed = Some(Subscribed {
                    mailbox,
                    wake: subscription.wake,
                    ephemeral: subscription.ephemeral,
                    replaced: subscription.replaced,
                    window: DeliveryWindow::new(self.shared.config.limits.delivery_window),
                });
                Ok(true)
            }
            (State::Ready(who), ClientFrame::Ack { ids }) => {
                if ids.len() > MAX_ACK_BATCH {
                    return Err(Close::from_error(&RelayError::Malformed(format!(
                        "at most {MAX_ACK_BATCH} ids per ack"
                    ))));
                }
                let mailbox = who.mailbox();
                let mut refused = 0usize;
                for id in &ids {
                    match self.shared.mailroom.ack(now, &mailbox, id) {
                        Ok(_) => {
                            metrics::counter!(crate::metrics::ACKS_TOTAL).increment(1);
                        }
                        Err(RelayError::UnknownEnvelope) => refused += 1,
                        Err(error) => return Err(Close::from_error(&error)),
                    }
                    if let Some(subscribed) = &mut self.subscribed {
                        subscribed.window.acked(id);
                    }
                }
                crate::metrics::record_pending(self.shared.store().pending());
                if refused > 0 {
                    let frame = RelayFrame::Error(RelayError::UnknownEnvelope.to_frame());
                    return Ok(write_frame(control, &frame).await);
                }
                Ok(true)
            }
            (State::Ready(_), ClientFrame::Hello { .. })
            | (State::Ready(_), ClientFrame::Authenticate { .. })
            | (State::Ready(_), ClientFrame::CreateMailbox { .. }) => Err(Close::from_error(
                &RelayError::Malformed("already authenticated".into()),
            )),
            (State::AwaitingHello, _) => Err(Close::from_error(&RelayError::Malformed(
                "expected Hello".into(),
            ))),
            (State::Challenged(_), ClientFrame::Subscribe | ClientFrame::Ack { .. }) => Err(
                Close::from_error(&RelayError::Unauthorized("authenticate first")),
            ),
            (_, _) => Err(Close::from_error(&RelayError::Malformed(
                "request frame on the control stream".into(),
            ))),
        }
    }

    /// Sends whatever the subscribed mailbox has queued and the window has room for. Reads
    /// the store only when the window says something changed (a wake-up or an ack), and then
    /// queue entries without payloads; payloads are loaded for what is sent.
    async fn pump(&mut self, control: &mut quinn::SendStream) -> Result<(), Close> {
        let Some(subscribed) = &mut self.subscribed else {
            return Ok(());
        };
        let store = self.shared.store();
        let storage = |e| Close::from_error(&RelayError::from(e));
        let gone = || Close {
            code: ErrorCode::Unavailable,
            reason: "stream gone".into(),
        };
        // Loops only when a chosen entry vanished before its payload was read.
        while let Some(fetch) = subscribed.window.fetch() {
            let entries = store
                .queue_entries(&subscribed.mailbox, fetch.after, fetch.limit)
                .map_err(storage)?;
            let pump = subscribed.window.pump(fetch, entries);
            for entry in pump.deliveries {
                // Acked elsewhere or expired between the scan and this read: not in flight.
                let Some(delivery) = store.delivery(&entry.id).map_err(storage)? else {
                    subscribed.window.vanished(&entry.id);
                    continue;
                };
                if !write_frame(control, &RelayFrame::Deliver(delivery)).await {
                    return Err(gone());
                }
                metrics::counter!(crate::metrics::DELIVERIES_TOTAL).increment(1);
            }
            if pump.drained && !write_frame(control, &RelayFrame::Drained).await {
                return Err(gone());
            }
        }
        Ok(())
    }
}

fn unavailable(what: &str) -> Close {
    Close::from_error(&RelayError::Unavailable(what.to_owned()))
}

fn read_failure_close(failure: ReadFailure) -> Close {
    match failure {
        ReadFailure::TooLarge(len) => Close {
            code: ErrorCode::TooLarge,
            reason: format!(
                "frame of {len} bytes is over the {}-byte limit",
                hush_protocol::limits::MAX_FRAME_LEN
            ),
        },
        ReadFailure::Malformed(reason) => Close::from_error(&RelayError::Malformed(reason)),
        ReadFailure::Gone => Close {
            code: ErrorCode::Unavailable,
            reason: "stream gone".into(),
        },
    }
}

async fn read_control(
    mut recv: quinn::RecvStream,
    frames: mpsc::Sender<Result<ClientFrame, ReadFailure>>,
) {
    loop {
        match read_frame::<ClientFrame>(&mut recv).await {
            Ok(Some(frame)) => {
                if frames.send(Ok(frame)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(failure) => {
                let _ = frames.send(Err(failure)).await;
                return;
            }
        }
    }
}

async fn wait_cancelled(token: Option<CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

async fn wait_notified(wake: Option<Arc<Notify>>) {
    match wake {
        Some(wake) => wake.notified().await,
        None => std::future::pending().await,
    }
}

async fn recv_ephemeral(rx: Option<&mut mpsc::Receiver<Delivery>>) -> Option<Delivery> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Serves one request stream: one frame in, one frame out — or a blob stream, when the first
/// frame is `UploadBlob` or `DownloadBlob`. Returns a close when the peer broke the protocol
/// (the whole connection ends).
async fn serve_request(
    shared: Arc<Shared>,
    who: Option<Authenticated>,
    allowed: bool,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    stop: CancellationToken,
) -> Option<Close> {
    let frame = match read_frame::<ClientFrame>(&mut recv).await {
        Ok(Some(frame)) => frame,
        Ok(None) | Err(ReadFailure::Gone) => return None,
        Err(failure) => {
            let close = read_failure_close(failure);
            let frame = RelayFrame::Error(ErrorFrame::new(close.code, close.reason.clone()));
            if write_frame(&mut send, &frame).await {
                let _ = send.finish();
                let _ = tokio::time::timeout(CLOSE_LINGER, send.stopped()).await;
            }
            return Some(close);
        }
    };
    if let ClientFrame::UploadBlob { .. } | ClientFrame::DownloadBlob { .. } = frame {
        let end = if !allowed {
            StreamEnd::Refused(RelayError::RateLimited)
        } else {
            match (who, frame) {
                (None, _) => StreamEnd::Refused(RelayError::Unauthorized(
                    "authenticate on the control stream first",
                )),
                (Some(who), ClientFrame::UploadBlob { id, first_chunk }) => {
                    blob_stream::upload(&shared, who.mailbox(), id, first_chunk, &mut recv, &stop)
                        .await
                }
                (Some(who), ClientFrame::DownloadBlob { id, first_chunk }) => {
                    blob_stream::download(&shared, who.mailbox(), id, first_chunk, &mut send, &stop)
                        .await
                }
                (Some(_), _) => StreamEnd::Finished,
            }
        };
        return finish_blob_stream(end, send).await;
    }
    let result = if !allowed {
        Err(RelayError::RateLimited)
    } else {
        match who {
            None => Err(RelayError::Unauthorized(
                "authenticate on the control stream first",
            )),
            Some(who) => answer(&shared, who, frame).await,
        }
    };
    let (response, close) = match result {
        Ok(frame) => (frame, None),
        Err(error) => {
            metrics::counter!(crate::metrics::ERRORS_TOTAL, "code" => format!("{:?}", error.code()))
                .increment(1);
            let close = error.closes_connection().then(|| Close::from_error(&error));
            (RelayFrame::Error(error.to_frame()), close)
        }
    };
    if write_frame(&mut send, &response).await {
        let _ = send.finish();
        if close.is_some() {
            let _ = tokio::time::timeout(CLOSE_LINGER, send.stopped()).await;
        }
    }
    close
}

/// Writes a blob stream's last frame and ends the stream.
async fn finish_blob_stream(end: StreamEnd, mut send: quinn::SendStream) -> Option<Close> {
    let (frame, close) = match end {
        StreamEnd::Answer(frame) => (Some(frame), None),
        StreamEnd::Refused(error) => {
            metrics::counter!(crate::metrics::ERRORS_TOTAL, "code" => format!("{:?}", error.code()))
                .increment(1);
            let close = error.closes_connection().then(|| Close::from_error(&error));
            (Some(RelayFrame::Error(error.to_frame())), close)
        }
        StreamEnd::Broken(ReadFailure::Gone) => return None,
        StreamEnd::Broken(failure) => {
            let close = read_failure_close(failure);
            let frame = RelayFrame::Error(ErrorFrame::new(close.code, close.reason.clone()));
            (Some(frame), Some(close))
        }
        StreamEnd::Finished => (None, None),
        StreamEnd::Reset => {
            let _ = send.reset(ErrorCode::Unavailable.close_code().into());
            return None;
        }
    };
    if let Some(frame) = frame
        && !write_frame(&mut send, &frame).await
    {
        return close;
    }
    let _ = send.finish();
    if close.is_some() {
        let _ = tokio::time::timeout(CLOSE_LINGER, send.stopped()).await;
    }
    close
}

async fn answer(
    shared: &Shared,
    who: Authenticated,
    frame: ClientFrame,
) -> Result<RelayFrame, RelayError> {
    let store = shared.store();
    let mailbox = who.mailbox();
    let durable = || async {
        shared
            .commit
            .commit()
            .await
            .map_err(|_| RelayError::Unavailable("storage failure".into()))
    };
    match frame {
        ClientFrame::Send(envelope) => {
            let id = envelope.id;
            match shared.mailroom.send(unix_now(), envelope)? {
                Accepted::Stored {
                    recipients,
                    newly_stored,
                } => {
                    durable().await?;
                    if newly_stored {
                        metrics::counter!(crate::metrics::ENVELOPES_STORED_TOTAL).increment(1);
                        crate::metrics::record_pending(store.pending());
                    }
                    shared.subscribers.wake(&recipients);
                    Ok(RelayFrame::Stored { id })
                }
                Accepted::Ephemeral {
                    recipients,
                    delivery,
                } => {
                    let pushed = shared.subscribers.push_ephemeral(&recipients, &delivery);
                    metrics::counter!(crate::metrics::EPHEMERAL_PUSHED_TOTAL)
                        .increment(pushed as u64);
                    Ok(RelayFrame::Relayed { id })
                }
            }
        }
        ClientFrame::PublishPrekeys(upload) => {
            if upload.one_time.len() > MAX_PREKEYS_PER_UPLOAD {
                return Err(RelayError::InvalidRequest(format!(
                    "at most {MAX_PREKEYS_PER_UPLOAD} one-time prekeys per upload"
                )));
            }
            let remaining =
                store.publish_prekeys(&mailbox, upload, shared.config.limits.max_prekeys)?;
            durable().await?;
            Ok(RelayFrame::PrekeyCount {
                one_time_remaining: remaining,
            })
        }
        ClientFrame::PrekeyCount => Ok(RelayFrame::PrekeyCount {
            one_time_remaining: store.prekey_count(&mailbox)?,
        }),
        ClientFrame::FetchPrekeys { mailbox: owner } => {
            if store.mailbox_key(&owner)?.is_none() {
                return Err(RelayError::UnknownMailbox);
            }
            let bundle = store
                .take_prekey_bundle(&owner)?
                .ok_or(RelayError::NoPrekeys)?;
            // A one-time prekey must never be handed out twice, even across a crash.
            durable().await?;
            Ok(RelayFrame::PrekeyBundle(Box::new(bundle)))
        }
        ClientFrame::ClaimUsername {
            username,
            identity_key,
        } => {
            let username = normalize_username(&username)
                .map_err(|e| RelayError::InvalidRequest(e.to_string()))?;
            match store.claim_username(&mailbox, &username, identity_key)? {
                ClaimOutcome::Claimed => {
                    durable().await?;
                    Ok(RelayFrame::UsernameClaimed { username })
                }
                ClaimOutcome::Taken => Err(RelayError::UsernameTaken),
            }
        }
        ClientFrame::LookupUsername { username } => {
            let username =
                normalize_username(&username).map_err(|_| RelayError::UnknownUsername)?;
            let record = store
                .lookup_username(&username)?
                .ok_or(RelayError::UnknownUsername)?;
            Ok(RelayFrame::UsernameFound(record))
        }
        ClientFrame::CreateBlob {
            id,
            size,
            recipients,
            ttl_secs,
        } => {
            let mut status = shared.blobroom.create(
                unix_now(),
                mailbox,
                id,
                size,
                recipients.clone(),
                ttl_secs,
            )?;
            if matches!(
                status,
                RelayFrame::BlobStatus {
                    complete: false,
                    ..
                }
            ) {
                shared.blobroom.stop_upload(id).await;
                status =
                    shared
                        .blobroom
                        .create(unix_now(), mailbox, id, size, recipients, ttl_secs)?;
            }
            durable().await?;
            Ok(status)
        }
        ClientFrame::BlobFetched { id } => {
            let blobroom = shared.blobroom.clone();
            let released = tokio::task::spawn_blocking(move || blobroom.release(&mailbox, &id))
                .await
                .map_err(|_| RelayError::Unavailable("storage failure".into()))??;
            durable().await?;
            Ok(released)
        }
        ClientFrame::AbandonBlob { id } => {
            let blobroom = shared.blobroom.clone();
            let abandoned = tokio::task::spawn_blocking(move || blobroom.abandon(&mailbox, &id))
                .await
                .map_err(|_| RelayError::Unavailable("storage failure".into()))??;
            durable().await?;
            Ok(abandoned)
        }
        ClientFrame::BlobChunk { .. } => Err(RelayError::Malformed(
            "a BlobChunk must follow UploadBlob on its stream".into(),
        )),
        ClientFrame::Hello { .. }
        | ClientFrame::Authenticate { .. }
        | ClientFrame::CreateMailbox { .. }
        | ClientFrame::Subscribe
        | ClientFrame::Ack { .. } => Err(RelayError::Malformed(
            "control frame on a request stream".into(),
        )),
        _ => Err(RelayError::Malformed("unknown request".into())),
    }
}
