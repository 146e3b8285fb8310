//! The workloads against a Hush relay, over client-core's transport.
//!
//! Every sender and receiver is its own authenticated QUIC connection (a fresh mailbox key
//! each); connections share UDP sockets, [`CONNECTIONS_PER_SOCKET`] to one, so 10,000 idle
//! connections need 40 sockets, not 10,000. Receivers acknowledge every delivery on arrival,
//! as a real client does after storing it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use hush_client_core::transport::{Login, Push, RelayConnection, TransportError};
use hush_protocol::{
    ClientFrame, Envelope, EnvelopeId, ErrorCode, MailboxId, RelayAddress, RelayFrame,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::pace::{self, Pace, SendOutcome, SendTally};
use super::probe::{self, Clock};
use super::process;
use super::report::Report;
use super::tally::{Tally, Totals};
use super::{BenchArgs, Workload};

/// QUIC connections sharing one client UDP socket.
pub(crate) const CONNECTIONS_PER_SOCKET: usize = 250;
/// Connection handshakes in progress at once.
const CONNECT_CONCURRENCY: usize = 64;
/// Once every sender is done, a receiver that hears nothing for this long stops waiting.
pub(crate) const QUIET: Duration = Duration::from_secs(5);
/// Wait before resending after a transient refusal (rate limit, overload).
const RETRY_DELAY: Duration = Duration::from_millis(20);
/// How long the relay's memory is left to settle before the idle measurement.
const SETTLE: Duration = Duration::from_secs(2);

/// Runs `workload` against the relay at `address`.
pub(crate) async fn run(
    address: &RelayAddress,
    workload: Workload,
    args: &BenchArgs,
) -> anyhow::Result<Report> {
    let mut report = Report::new("hush", workload, args);
    let mut sockets = Sockets::new(address).await?;
    match workload {
        Workload::OneToOne => online(address, &mut sockets, args, &mut report, None).await?,
        Workload::Group(members) => {
            online(address, &mut sockets, args, &mut report, Some(members)).await?;
        }
        Workload::Offline => offline(address, &mut sockets, args, &mut report).await?,
        Workload::Idle(n) => idle(address, &mut sockets, args, &mut report, n).await?,
    }
    if let Some(pid) = args.relay_pid {
        report.relay_rss_bytes = Some(process::sample(pid)?.rss_bytes);
    }
    if let Some(dir) = &args.disk_usage {
        report.disk_bytes =
            Some(process::disk_usage(dir).with_context(|| format!("measuring {}", dir.display()))?);
    }
    Ok(report)
}

/// Client UDP sockets (quinn endpoints), each shared by up to [`CONNECTIONS_PER_SOCKET`]
/// connections.
struct Sockets {
    bind: SocketAddr,
    current: Option<quinn::Endpoint>,
    used: usize,
}

impl Sockets {
    async fn new(address: &RelayAddress) -> anyhow::Result<Self> {
        let target = tokio::net::lookup_host((address.host.as_str(), address.port))
            .await?
            .next()
            .context("the relay's host resolves to nothing")?;
        let bind = if target.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        Ok(Self {
            bind,
            current: None,
            used: 0,
        })
    }

    fn next(&mut self) -> anyhow::Result<quinn::Endpoint> {
        if self.used.is_multiple_of(CONNECTIONS_PER_SOCKET) || self.current.is_none() {
            self.current = Some(quinn::Endpoint::client(self.bind)?);
        }
        self.used += 1;
        self.current.clone().context("no client socket")
    }
}

/// A mailbox the benchmark made: its key and id.
struct Peer {
    key: SigningKey,
    mailbox: MailboxId,
}

fn fresh_key() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn fresh_id() -> anyhow::Result<EnvelopeId> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(EnvelopeId::from_bytes(id))
}

/// Opens `count` connections, each for a new mailbox, `CONNECT_CONCURRENCY` at a time.
/// Returns the connections that opened and how many failed (with the first error).
async fn open_new(
    address: &RelayAddress,
    sockets: &mut Sockets,
    count: usize,
) -> anyhow::Result<(Vec<(RelayConnection, Peer)>, u64, Option<String>)> {
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for index in 0..count {
        let endpoint = sockets.next()?;
        let address = address.clone();
        let key = fresh_key()?;
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let connection =
                RelayConnection::connect_on(&endpoint, &address, Login::Create(&key)).await?;
            let mailbox = connection.mailbox();
            Ok::<_, TransportError>((index, connection, Peer { key, mailbox }))
        });
    }
    let mut opened = Vec::with_capacity(count);
    let mut failed = 0;
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(item)) => opened.push(item),
            Ok(Err(error)) => {
                failed += 1;
                first_error.get_or_insert(error.to_string());
            }
            Err(error) => {
                failed += 1;
                first_error.get_or_insert(error.to_string());
            }
        }
    }
    opened.sort_by_key(|(index, _, _)| *index);
    Ok((
        opened.into_iter().map(|(_, c, p)| (c, p)).collect(),
        failed,
        first_error,
    ))
}

/// Opens `count` connections for new mailboxes, or fails.
async fn open_all(
    address: &RelayAddress,
    sockets: &mut Sockets,
    count: usize,
) -> anyhow::Result<Vec<(RelayConnection, Peer)>> {
    let (opened, failed, first_error) = open_new(address, sockets, count).await?;
    if failed > 0 {
        bail!(
            "{failed} of {count} connections failed: {}",
            first_error.unwrap_or_default()
        );
    }
    Ok(opened)
}

/// Subscribes and waits for the first `Drained` (the mailbox is empty and live).
async fn subscribe_live(connection: &mut RelayConnection) -> anyhow::Result<()> {
    connection.subscribe().await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), connection.next_push()).await {
            Ok(Ok(Push::Drained)) => return Ok(()),
            Ok(Ok(_)) => continue,
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => bail!("the relay did not confirm the subscription in time"),
        }
    }
}

/// `n` envelopes split over `parts` as evenly as possible.
fn split(n: u64, parts: usize) -> Vec<u64> {
    let parts_u64 = parts as u64;
    (0..parts_u64)
        .map(|i| n / parts_u64 + u64::from(i < n % parts_u64))
        .collect()
}

/// Envelopes from `sender` to `recipients`, prepared before the clock starts.
fn envelopes(
    count: u64,
    size: usize,
    sender: u32,
    recipients: &[MailboxId],
) -> anyhow::Result<Vec<Envelope>> {
    (0..count)
        .map(|seq| {
            Ok(Envelope {
                id: fresh_id()?,
                recipients: recipients.to_vec(),
                ttl_secs: 0,
                ephemeral: false,
                payload: probe::payload(size, sender, seq),
            })
        })
        .collect()
}

/// One send: stamp, request, retry on a transient refusal until `deadline`.
async fn send_one(
    connection: Arc<RelayConnection>,
    mut envelope: Envelope,
    sent_ns: u64,
    deadline: Instant,
) -> SendOutcome {
    probe::stamp(&mut envelope.payload, sent_ns);
    let id = envelope.id;
    let frame = ClientFrame::Send(envelope);
    let mut retries = 0;
    loop {
        let error = match connection.request(&frame).await {
            Ok(RelayFrame::Stored { id: stored }) if stored == id => {
                return SendOutcome {
                    stored: true,
                    retries,
                    error: None,
                };
            }
            Ok(_) => "the relay answered something other than Stored".to_owned(),
            Err(TransportError::Refused(frame))
                if matches!(frame.code, ErrorCode::RateLimited | ErrorCode::Unavailable)
                    && Instant::now() < deadline =>
            {
                retries += 1;
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
            Err(error) => error.to_string(),
        };
        return SendOutcome {
            stored: false,
            retries,
            error: Some(error),
        };
    }
}

/// Sends `envelopes` over `connection`, paced.
fn spawn_sender(
    connection: Arc<RelayConnection>,
    envelopes: Vec<Envelope>,
    pace: Pace,
) -> tokio::task::JoinHandle<SendTally> {
    tokio::spawn(async move {
        let deadline = pace.deadline;
        pace::drive(envelopes, pace, move |envelope, sent_ns| {
            send_one(connection.clone(), envelope, sent_ns, deadline)
        })
        .await
    })
}

/// Set once every sender has finished.
#[derive(Default)]
struct SendersDone(AtomicBool);

/// What one receiver needs to know.
#[derive(Clone, Copy)]
struct Expect {
    count: u64,
    clock: Clock,
    origin_ns: Option<u64>,
    deadline: Instant,
}

/// Receives and acknowledges until `expect.count` distinct messages arrived, the deadline
/// passed, or the senders are done and nothing came for [`QUIET`].
async fn receive(
    mut connection: RelayConnection,
    expect: Expect,
    done: Arc<SendersDone>,
) -> (Tally, Option<String>) {
    let mut tally = Tally::default();
    let mut quiet_since = Instant::now();
    let mut error = None;
    while tally.unique() < expect.count && Instant::now() < expect.deadline {
        match tokio::time::timeout(Duration::from_millis(500), connection.next_push()).await {
            Ok(Ok(Push::Deliver(delivery))) => {
                let now_ns = expect.clock.now_ns();
                if tally.record(&delivery.payload, now_ns, expect.origin_ns) {
                    quiet_since = Instant::now();
                }
                if let Err(e) = connection.ack(&[delivery.id]).await {
                    error = Some(e.to_string());
                    break;
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                error = Some(e.to_string());
                break;
            }
            Err(_) => {
                if done.0.load(Ordering::SeqCst) && quiet_since.elapsed() > QUIET {
                    break;
                }
            }
        }
    }
    connection.close().await;
    (tally, error)
}

async fn collect(receivers: Vec<tokio::task::JoinHandle<(Tally, Option<String>)>>) -> Totals {
    let mut totals = Totals::default();
    for receiver in receivers {
        if let Ok((tally, error)) = receiver.await {
            if let Some(error) = error {
                eprintln!("hush bench: a receiver stopped: {error}");
            }
            totals.add(tally);
        }
    }
    totals
}

fn cpu_now(pid: Option<u32>) -> anyhow::Result<Option<u64>> {
    pid.map(|pid| {
        process::sample(pid)
            .map(|s| s.cpu_us)
            .with_context(|| format!("reading /proc/{pid}"))
    })
    .transpose()
}

fn cpu_since(pid: Option<u32>, before: Option<u64>) -> anyhow::Result<Option<u64>> {
    Ok(match (cpu_now(pid)?, before) {
        (Some(after), Some(before)) => Some(after.saturating_sub(before)),
        _ => None,
    })
}

/// 1:1 pairs (`members: None`) or one sender to a group, receivers online.
async fn online(
    address: &RelayAddress,
    sockets: &mut Sockets,
    args: &BenchArgs,
    report: &mut Report,
    members: Option<usize>,
) -> anyhow::Result<()> {
    let receivers_n = members.unwrap_or(args.pairs);
    let senders_n = if members.is_some() { 1 } else { args.pairs };
    let mut receivers = open_all(address, sockets, receivers_n).await?;
    for (connection, _) in &mut receivers {
        subscribe_live(connection).await?;
    }
    let senders = open_all(address, sockets, senders_n).await?;
    let mailboxes: Vec<MailboxId> = receivers.iter().map(|(_, p)| p.mailbox).collect();
    let (counts, expected): (Vec<u64>, Vec<u64>) = match members {
        Some(_) => (vec![args.messages], vec![args.messages; receivers_n]),
        None => {
            let counts = split(args.messages, args.pairs);
            (counts.clone(), counts)
        }
    };
    let mut batches = Vec::with_capacity(senders_n);
    for (index, count) in counts.iter().enumerate() {
        let recipients = match members {
            Some(_) => mailboxes.clone(),
            None => vec![mailboxes[index]],
        };
        batches.push(envelopes(
            *count,
            args.payload_size(),
            index as u32,
            &recipients,
        )?);
    }
    let clock = Clock::start();
    let deadline = Instant::now() + args.time_limit();
    let cpu_before = cpu_now(args.relay_pid)?;
    let done = Arc::new(SendersDone::default());
    let receiving: Vec<_> = receivers
        .into_iter()
        .zip(expected)
        .map(|((connection, _), count)| {
            let expect = Expect {
                count,
                clock,
                origin_ns: None,
                deadline,
            };
            tokio::spawn(receive(connection, expect, done.clone()))
        })
        .collect();
    let pace = Pace::new(args.rate, senders_n, args.window, clock, deadline);
    let sending: Vec<_> = senders
        .into_iter()
        .zip(batches)
        .map(|((connection, _), batch)| spawn_sender(Arc::new(connection), batch, pace))
        .collect();
    for sender in sending {
        report.sends.add(sender.await?);
    }
    done.0.store(true, Ordering::SeqCst);
    let totals = collect(receiving).await;
    let fanout = members.map_or(1, |m| m as u64);
    report.deliveries(totals, fanout, 0);
    report.set_cpu(cpu_since(args.relay_pid, cpu_before)?);
    Ok(())
}

/// Store everything, then connect the receivers and time the drain.
async fn offline(
    address: &RelayAddress,
    sockets: &mut Sockets,
    args: &BenchArgs,
    report: &mut Report,
) -> anyhow::Result<()> {
    let receivers = open_all(address, sockets, args.pairs).await?;
    let mut peers = Vec::with_capacity(receivers.len());
    for (connection, peer) in receivers {
        connection.close().await;
        peers.push(peer);
    }
    let senders = open_all(address, sockets, args.pairs).await?;
    let counts = split(args.messages, args.pairs);
    let mut batches = Vec::with_capacity(args.pairs);
    for (index, (count, peer)) in counts.iter().zip(&peers).enumerate() {
        batches.push(envelopes(
            *count,
            args.payload_size(),
            index as u32,
            &[peer.mailbox],
        )?);
    }
    let clock = Clock::start();
    let deadline = Instant::now() + args.time_limit();
    let cpu_before = cpu_now(args.relay_pid)?;
    let pace = Pace::new(args.rate, args.pairs, args.window, clock, deadline);
    let sending: Vec<_> = senders
        .into_iter()
        .zip(batches)
        .map(|((connection, _), batch)| spawn_sender(Arc::new(connection), batch, pace))
        .collect();
    for sender in sending {
        report.sends.add(sender.await?);
    }
    let drain_start = clock.now_ns();
    report.store_secs = Some(drain_start as f64 / 1e9);
    let done = Arc::new(SendersDone(AtomicBool::new(true)));
    let mut receiving = Vec::with_capacity(peers.len());
    for (peer, count) in peers.into_iter().zip(counts) {
        let endpoint = sockets.next()?;
        let address = address.clone();
        let done = done.clone();
        let expect = Expect {
            count,
            clock,
            origin_ns: Some(drain_start),
            deadline,
        };
        receiving.push(tokio::spawn(async move {
            let login = Login::Existing(peer.mailbox, &peer.key);
            let mut connection = match RelayConnection::connect_on(&endpoint, &address, login).await
            {
                Ok(connection) => connection,
                Err(error) => return (Tally::default(), Some(error.to_string())),
            };
            if let Err(error) = connection.subscribe().await {
                return (Tally::default(), Some(error.to_string()));
            }
            receive(connection, expect, done).await
        }));
    }
    let totals = collect(receiving).await;
    report.latency_from = "drain start";
    report.deliveries(totals, 1, drain_start);
    report.set_cpu(cpu_since(args.relay_pid, cpu_before)?);
    Ok(())
}

/// N authenticated idle connections; the relay's RSS growth per connection.
async fn idle(
    address: &RelayAddress,
    sockets: &mut Sockets,
    args: &BenchArgs,
    report: &mut Report,
    count: usize,
) -> anyhow::Result<()> {
    let rss = |pid: Option<u32>| -> anyhow::Result<Option<u64>> {
        pid.map(|pid| process::sample(pid).map(|s| s.rss_bytes))
            .transpose()
            .map_err(Into::into)
    };
    report.messages = 0;
    let before = rss(args.relay_pid)?;
    let (opened, failed, first_error) = open_new(address, sockets, count).await?;
    tokio::time::sleep(SETTLE).await;
    let after = rss(args.relay_pid)?;
    let open = opened.len() as u64;
    report.connections = Some(open);
    report.connect_failures = failed;
    report.sends.first_error = first_error;
    if let (Some(before), Some(after)) = (before, after)
        && open > 0
    {
        report.rss_per_connection_bytes = Some(after.saturating_sub(before) as f64 / open as f64);
    }
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let mut closing = JoinSet::new();
    for (connection, _) in opened {
        closing.spawn(connection.close());
    }
    while closing.join_next().await.is_some() {}
    Ok(())
}
