//! The 1:1 and offline workloads against NATS JetStream, measured the way the Hush ones are.
//!
//! JetStream plays the relay's store: one file-backed stream `HUSHBENCH` over the subjects
//! `hushbench.mbox.<recipient>` (one copy per recipient subject), work-queue retention (the
//! consumer's ack deletes the message), one replica. One durable pull consumer, `relay`,
//! reads every recipient subject — the role a stateless Hush relay would play in front of
//! JetStream (no consumer per recipient); it routes each message to its recipient's tally by
//! subject and acks it. Publishers are one NATS connection each, wait for the publish ack
//! (the equivalent of `Stored`) and set `Nats-Msg-Id`, so a retry is stored once, as a Hush
//! envelope id is. Whether the publish ack means "fsynced" is the server's `sync_interval`
//! setting (`always` for a like-for-like comparison); see docs/benchmarks.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config as StreamConfig, RetentionPolicy, StorageType};
use futures_util::StreamExt;

use super::hush::QUIET;
use super::pace::{self, Pace, SendOutcome};
use super::probe::{self, Clock};
use super::process;
use super::report::Report;
use super::tally::{Tally, Totals};
use super::{BenchArgs, Workload};

/// The stream the benchmark creates (and deletes first if it exists).
pub(crate) const STREAM: &str = "HUSHBENCH";
/// Subject prefix; recipient `i` is `hushbench.mbox.i`.
const SUBJECTS: &str = "hushbench.mbox";
/// The single consumer.
const CONSUMER: &str = "relay";
/// Unacknowledged messages per recipient the consumer may hold (Hush's delivery window).
const WINDOW_PER_RECIPIENT: i64 = 256;

/// One message to publish.
struct Outgoing {
    subject: String,
    payload: Vec<u8>,
    id: String,
}

fn message_id() -> anyhow::Result<String> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(id.iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs `workload` against the NATS server at `url`.
pub(crate) async fn run(url: &str, workload: Workload, args: &BenchArgs) -> anyhow::Result<Report> {
    let offline = match workload {
        Workload::OneToOne => false,
        Workload::Offline => true,
        _ => bail!("--nats runs the 1:1 and --offline workloads only"),
    };
    let mut report = Report::new("nats", workload, args);
    let admin = async_nats::connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let jetstream = async_nats::jetstream::new(admin);
    let _ = jetstream.delete_stream(STREAM).await;
    let stream = jetstream
        .create_stream(StreamConfig {
            name: STREAM.to_owned(),
            subjects: vec![format!("{SUBJECTS}.>")],
            storage: StorageType::File,
            retention: RetentionPolicy::WorkQueue,
            num_replicas: 1,
            ..Default::default()
        })
        .await
        .context("creating the stream")?;
    let consumer_config = pull::Config {
        durable_name: Some(CONSUMER.to_owned()),
        ack_policy: AckPolicy::Explicit,
        max_ack_pending: WINDOW_PER_RECIPIENT * args.pairs as i64,
        ..Default::default()
    };
    let mut publishers = Vec::with_capacity(args.pairs);
    for _ in 0..args.pairs {
        let client = async_nats::connect(url).await?;
        publishers.push(async_nats::jetstream::new(client));
    }
    let counts: Vec<u64> = {
        let n = args.pairs as u64;
        (0..n)
            .map(|i| args.messages / n + u64::from(i < args.messages % n))
            .collect()
    };
    let mut batches = Vec::with_capacity(args.pairs);
    for (index, count) in counts.iter().enumerate() {
        let subject = format!("{SUBJECTS}.{index}");
        let mut batch = Vec::with_capacity(*count as usize);
        for seq in 0..*count {
            batch.push(Outgoing {
                subject: subject.clone(),
                payload: probe::payload(args.payload_size(), index as u32, seq),
                id: message_id()?,
            });
        }
        batches.push(batch);
    }
    let expected: u64 = counts.iter().sum();
    let online_consumer = if offline {
        None
    } else {
        let consumer = stream.create_consumer(consumer_config.clone()).await?;
        Some(consumer.messages().await?)
    };
    let clock = Clock::start();
    let deadline = Instant::now() + args.time_limit();
    let cpu_before = cpu_now(args.relay_pid)?;
    let pace = Pace::new(args.rate, args.pairs, args.window, clock, deadline);
    let mut sending = Vec::with_capacity(args.pairs);
    for (publisher, batch) in publishers.into_iter().zip(batches) {
        sending.push(tokio::spawn(pace::drive(
            batch,
            pace,
            move |outgoing, sent_ns| publish(publisher.clone(), outgoing, sent_ns),
        )));
    }
    let (totals, start_ns) = match online_consumer {
        Some(messages) => {
            let done = Arc::new(AtomicBool::new(false));
            let consuming = tokio::spawn(consume(
                messages,
                Expect {
                    recipients: args.pairs,
                    count: expected,
                    clock,
                    origin_ns: None,
                    deadline,
                },
                done.clone(),
            ));
            for sender in sending {
                report.sends.add(sender.await?);
            }
            done.store(true, Ordering::SeqCst);
            (consuming.await??, 0)
        }
        None => {
            for sender in sending {
                report.sends.add(sender.await?);
            }
            let drain_start = clock.now_ns();
            report.store_secs = Some(drain_start as f64 / 1e9);
            report.latency_from = "drain start";
            let consumer = stream.create_consumer(consumer_config).await?;
            let messages = consumer.messages().await?;
            let expect = Expect {
                recipients: args.pairs,
                count: report.sends.stored,
                clock,
                origin_ns: Some(drain_start),
                deadline,
            };
            let totals = consume(messages, expect, Arc::new(AtomicBool::new(true))).await?;
            (totals, drain_start)
        }
    };
    report.deliveries(totals, 1, start_ns);
    if let Some(before) = cpu_before {
        report.set_cpu(cpu_now(args.relay_pid)?.map(|after| after.saturating_sub(before)));
    }
    if let Some(pid) = args.relay_pid {
        report.relay_rss_bytes = Some(process::sample(pid)?.rss_bytes);
    }
    if let Some(dir) = &args.disk_usage {
        report.disk_bytes = Some(process::disk_usage(dir)?);
    }
    Ok(report)
}

fn cpu_now(pid: Option<u32>) -> anyhow::Result<Option<u64>> {
    pid.map(|pid| process::sample(pid).map(|s| s.cpu_us))
        .transpose()
        .map_err(Into::into)
}

async fn publish(
    jetstream: async_nats::jetstream::Context,
    mut outgoing: Outgoing,
    sent_ns: u64,
) -> SendOutcome {
    probe::stamp(&mut outgoing.payload, sent_ns);
    let message = PublishMessage::build()
        .payload(outgoing.payload.into())
        .message_id(outgoing.id);
    let acked = match jetstream.send_publish(outgoing.subject, message).await {
        Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    SendOutcome {
        stored: acked.is_ok(),
        retries: 0,
        error: acked.err(),
    }
}

/// What the consumer waits for.
struct Expect {
    recipients: usize,
    count: u64,
    clock: Clock,
    origin_ns: Option<u64>,
    deadline: Instant,
}

/// Reads from the consumer, routes by subject, acks, until `expect.count` distinct messages
/// arrived, the deadline passed, or publishing is `done` and nothing came for [`QUIET`].
async fn consume(
    mut messages: pull::Stream,
    expect: Expect,
    done: Arc<AtomicBool>,
) -> anyhow::Result<Totals> {
    let Expect {
        recipients,
        count: expected,
        clock,
        origin_ns,
        deadline,
    } = expect;
    let mut tallies: Vec<Tally> = (0..recipients).map(|_| Tally::default()).collect();
    let mut unique = 0u64;
    let mut quiet_since = Instant::now();
    while unique < expected && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), messages.next()).await {
            Ok(Some(Ok(message))) => {
                let now_ns = clock.now_ns();
                let index = message
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|i| *i < recipients);
                if let Some(tally) = index.and_then(|i| tallies.get_mut(i))
                    && tally.record(&message.payload, now_ns, origin_ns)
                {
                    unique += 1;
                    quiet_since = Instant::now();
                }
                message
                    .ack()
                    .await
                    .map_err(|e| anyhow::anyhow!("ack failed: {e}"))?;
            }
            Ok(Some(Err(error))) => eprintln!("hush bench: consumer: {error}"),
            Ok(None) => break,
            Err(_) => {
                if done.load(Ordering::SeqCst) && quiet_since.elapsed() > QUIET {
                    break;
                }
            }
        }
    }
    let mut totals = Totals::default();
    for tally in tallies {
        totals.add(tally);
    }
    Ok(totals)
}
