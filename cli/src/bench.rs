//! `hush bench`: a load generator that measures a running relay (or NATS JetStream, the same
//! way), like `nats bench`.
//!
//! Workloads (one per run):
//! - 1:1 (default): `--pairs N` sender/receiver pairs, receivers online, `--messages M` in
//!   total split evenly over the pairs, at `--rate R` envelopes per second in total (or as
//!   fast as `--window` sends in flight per sender allow).
//! - `--offline`: store the M envelopes first, then connect the receivers and time the drain.
//! - `--group MEMBERS`: one sender, M envelopes each addressed to all members (online).
//! - `--idle N`: N authenticated idle connections; reports the relay's memory per connection.
//!
//! Envelopes are built before the clock starts (the relay's cost is measured, not the
//! client's crypto); each payload carries its sender, sequence number and send time
//! ([`probe`]), so receivers measure latency and detect loss and duplicates ([`tally`]).
//! With `--relay-pid PID` the relay's CPU time and memory are read from `/proc/PID`
//! ([`process`]). The benches are tools, not tests: CI only checks that a tiny run reports
//! nothing lost and nothing duplicated.
//!
//! # Layout
//! - [`probe`]: the payload layout (sender, sequence, send time).
//! - [`tally`]: what receivers saw: unique, duplicated, latencies; percentiles.
//! - [`pace`]: drives sends at a rate or with a window of sends in flight.
//! - [`process`]: CPU time and RSS of a process from `/proc`; disk usage of a directory.
//! - [`hush`]: the workloads against a Hush relay.
//! - [`nats`]: the 1:1 and offline workloads against NATS JetStream.
//! - [`report`]: the result, as a table or one JSON object.

mod hush;
mod nats;
mod pace;
mod probe;
mod process;
mod report;
mod tally;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

/// `hush bench` options.
#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// The relay under test (hush://HOST:PORT#PIN).
    #[arg(long, required_unless_present = "nats", conflicts_with = "nats")]
    pub(crate) relay: Option<String>,
    /// Run the 1:1 or offline workload against NATS JetStream at this URL
    /// (e.g. nats://127.0.0.1:4222) instead of a Hush relay.
    #[arg(long, value_name = "URL")]
    pub(crate) nats: Option<String>,
    /// Sender/receiver pairs (1:1 and offline workloads).
    #[arg(long, default_value_t = 1)]
    pub(crate) pairs: usize,
    /// Payload bytes per envelope (at least the 20-byte probe header).
    #[arg(long, default_value_t = 256)]
    pub(crate) size: usize,
    /// Envelopes in total (split evenly over the pairs; per member for --group).
    #[arg(long, default_value_t = 1000)]
    pub(crate) messages: u64,
    /// Total send rate in envelopes per second over all senders; default: as fast as the
    /// window allows.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Store all envelopes first, then connect the receivers and time the drain.
    #[arg(long, conflicts_with_all = ["group", "idle"])]
    pub(crate) offline: bool,
    /// One sender to a group of this many online members.
    #[arg(long, value_name = "MEMBERS", conflicts_with_all = ["idle", "nats"])]
    pub(crate) group: Option<usize>,
    /// Open this many authenticated idle connections and report the relay's memory per
    /// connection.
    #[arg(long, value_name = "N", conflicts_with = "nats")]
    pub(crate) idle: Option<usize>,
    /// The relay's (or nats-server's) process id: its CPU time and RSS are read from /proc.
    #[arg(long, value_name = "PID")]
    pub(crate) relay_pid: Option<u32>,
    /// Report the disk usage of this directory (the relay's data dir, or the JetStream store
    /// dir) at the end.
    #[arg(long, value_name = "DIR")]
    pub(crate) disk_usage: Option<PathBuf>,
    /// Sends in flight per sender.
    #[arg(long, default_value_t = 32)]
    pub(crate) window: usize,
    /// Give up after this many seconds (whatever has not arrived by then counts as lost).
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout: u64,
    /// Seconds to hold the idle connections open before closing them.
    #[arg(long, default_value_t = 2)]
    pub(crate) hold: u64,
}

/// The workload a command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    /// N pairs, receivers online.
    OneToOne,
    /// Store first, then drain.
    Offline,
    /// One sender, many online members.
    Group(usize),
    /// Idle authenticated connections.
    Idle(usize),
}

impl Workload {
    /// The name used in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::OneToOne => "1:1",
            Self::Offline => "offline",
            Self::Group(_) => "group",
            Self::Idle(_) => "idle",
        }
    }
}

impl BenchArgs {
    fn workload(&self) -> Workload {
        if let Some(n) = self.idle {
            Workload::Idle(n)
        } else if let Some(members) = self.group {
            Workload::Group(members)
        } else if self.offline {
            Workload::Offline
        } else {
            Workload::OneToOne
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.pairs == 0 || self.window == 0 {
            bail!("--pairs and --window must be at least 1");
        }
        if self.group == Some(0) || self.idle == Some(0) {
            bail!("--group and --idle need at least 1");
        }
        if self.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            bail!("--rate must be a positive number");
        }
        if self.size > hush_protocol::limits::MAX_PAYLOAD_LEN {
            bail!(
                "--size is over the protocol's {}-byte limit",
                hush_protocol::limits::MAX_PAYLOAD_LEN
            );
        }
        Ok(())
    }

    /// Payload size actually used (the probe header needs 20 bytes).
    pub(crate) fn payload_size(&self) -> usize {
        self.size.max(probe::HEADER_LEN)
    }

    /// The overall time limit.
    pub(crate) fn time_limit(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }
}

/// Runs `hush bench` and prints the report.
pub(crate) async fn run(args: BenchArgs, json: bool) -> anyhow::Result<()> {
    args.check()?;
    let workload = args.workload();
    let report = match (&args.nats, &args.relay) {
        (Some(url), _) => nats::run(url, workload, &args).await?,
        (None, Some(relay)) => {
            let address = relay
                .parse()
                .with_context(|| format!("not a relay address: {relay}"))?;
            hush::run(&address, workload, &args).await?
        }
        (None, None) => bail!("give --relay ADDRESS or --nats URL"),
    };
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
