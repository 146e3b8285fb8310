//! The result of one run: a human table, or one JSON object (`--json`).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::Workload;
use super::pace::SendTally;
use super::tally::{Percentiles, Totals, percentiles};

/// What one run measured.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// `hush` or `nats`.
    pub(crate) target: &'static str,
    /// The workload.
    pub(crate) workload: Workload,
    /// Sender/receiver pairs (1:1, offline).
    pub(crate) pairs: usize,
    /// Payload bytes per envelope.
    pub(crate) size: usize,
    /// Envelopes planned.
    pub(crate) messages: u64,
    /// Requested total rate.
    pub(crate) rate: Option<f64>,
    /// Send results.
    pub(crate) sends: SendTally,
    /// Distinct deliveries received.
    pub(crate) delivered: u64,
    /// Deliveries owed for confirmed envelopes that never arrived.
    pub(crate) lost: u64,
    /// Deliveries of a message the receiver already had.
    pub(crate) duplicated: u64,
    /// Seconds of the timed phase (first send, or drain start, to last first arrival).
    pub(crate) elapsed_secs: f64,
    /// Latency percentiles.
    pub(crate) latency: Percentiles,
    /// What latency is measured from: `send` or `drain start`.
    pub(crate) latency_from: &'static str,
    /// Offline: seconds it took to store everything.
    pub(crate) store_secs: Option<f64>,
    /// Server CPU per delivered message, microseconds (needs `--relay-pid`).
    pub(crate) relay_cpu_us_per_msg: Option<f64>,
    /// Server RSS at the end, bytes (needs `--relay-pid`).
    pub(crate) relay_rss_bytes: Option<u64>,
    /// Idle: connections open at the measurement.
    pub(crate) connections: Option<u64>,
    /// Idle: connections that failed to open.
    pub(crate) connect_failures: u64,
    /// Idle: server RSS growth per connection, bytes (needs `--relay-pid`).
    pub(crate) rss_per_connection_bytes: Option<f64>,
    /// Disk usage of `--disk-usage DIR` at the end, bytes.
    pub(crate) disk_bytes: Option<u64>,
    /// Payloads that were not benchmark probes.
    pub(crate) foreign: u64,
}

impl Report {
    /// An empty report for a workload; the runner fills it in.
    pub(crate) fn new(target: &'static str, workload: Workload, args: &super::BenchArgs) -> Self {
        Self {
            target,
            workload,
            pairs: args.pairs,
            size: args.payload_size(),
            messages: args.messages,
            rate: args.rate,
            sends: SendTally::default(),
            delivered: 0,
            lost: 0,
            duplicated: 0,
            elapsed_secs: 0.0,
            latency: Percentiles::default(),
            latency_from: "send",
            store_secs: None,
            relay_cpu_us_per_msg: None,
            relay_rss_bytes: None,
            connections: None,
            connect_failures: 0,
            rss_per_connection_bytes: None,
            disk_bytes: None,
            foreign: 0,
        }
    }

    /// Fills in delivery figures: `fanout` deliveries are owed per confirmed envelope;
    /// `start_ns` is the start of the timed phase on the run's clock.
    pub(crate) fn deliveries(&mut self, totals: Totals, fanout: u64, start_ns: u64) {
        let owed = self.sends.stored * fanout;
        self.delivered = totals.unique;
        self.lost = owed.saturating_sub(totals.unique);
        self.duplicated = totals.duplicated;
        self.foreign = totals.foreign;
        self.elapsed_secs = totals.last_ns.saturating_sub(start_ns) as f64 / 1e9;
        self.latency = percentiles(totals.latencies_ns);
    }

    /// Deliveries per second over the timed phase.
    pub(crate) fn msgs_per_sec(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.delivered as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }

    /// Server CPU per delivery from two CPU readings (microseconds).
    pub(crate) fn set_cpu(&mut self, cpu_us: Option<u64>) {
        self.relay_cpu_us_per_msg = cpu_us
            .filter(|_| self.delivered > 0)
            .map(|us| us as f64 / self.delivered as f64);
    }

    /// The one-line JSON object.
    pub(crate) fn to_json(&self) -> Value {
        let members = match self.workload {
            Workload::Group(n) => Some(n),
            _ => None,
        };
        json!({
            "target": self.target,
            "workload": self.workload.name(),
            "pairs": self.pairs,
            "members": members,
            "size": self.size,
            "messages": self.messages,
            "rate": self.rate,
            "stored": self.sends.stored,
            "failed_sends": self.sends.failed,
            "retries": self.sends.retries,
            "first_error": self.sends.first_error,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "foreign": self.foreign,
            "elapsed_secs": round3(self.elapsed_secs),
            "store_secs": self.store_secs.map(round3),
            "msgs_per_sec": round3(self.msgs_per_sec()),
            "latency_from": self.latency_from,
            "p50_us": round3(self.latency.p50_us),
            "p90_us": round3(self.latency.p90_us),
            "p99_us": round3(self.latency.p99_us),
            "p999_us": round3(self.latency.p999_us),
            "max_us": round3(self.latency.max_us),
            "relay_cpu_us_per_msg": self.relay_cpu_us_per_msg.map(round3),
            "relay_rss_bytes": self.relay_rss_bytes,
            "connections": self.connections,
            "connect_failures": self.connect_failures,
            "rss_per_connection_bytes": self.rss_per_connection_bytes.map(round3),
            "disk_bytes": self.disk_bytes,
        })
    }

    /// The human table.
    pub(crate) fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("target", self.target.to_owned()),
            ("workload", self.workload.name().to_owned()),
        ];
        match self.workload {
            Workload::Idle(n) => {
                rows.push(("connections asked", n.to_string()));
                rows.push((
                    "connections open",
                    self.connections.unwrap_or(0).to_string(),
                ));
                rows.push(("connect failures", self.connect_failures.to_string()));
                rows.push((
                    "relay RSS / connection",
                    opt(self.rss_per_connection_bytes, |b| format!("{b:.0} B")),
                ));
            }
            workload => {
                if let Workload::Group(members) = workload {
                    rows.push(("members", members.to_string()));
                } else {
                    rows.push(("pairs", self.pairs.to_string()));
                }
                rows.push(("payload", format!("{} B", self.size)));
                rows.push((
                    "rate",
                    self.rate
                        .map_or_else(|| "max".to_owned(), |r| format!("{r:.0}/s")),
                ));
                rows.push(("stored", self.sends.stored.to_string()));
                rows.push(("failed sends", self.sends.failed.to_string()));
                rows.push(("retries", self.sends.retries.to_string()));
                rows.push(("delivered", self.delivered.to_string()));
                rows.push(("lost", self.lost.to_string()));
                rows.push(("duplicated", self.duplicated.to_string()));
                if let Some(secs) = self.store_secs {
                    rows.push(("store phase", format!("{secs:.3} s")));
                }
                rows.push(("timed phase", format!("{:.3} s", self.elapsed_secs)));
                rows.push(("deliveries/s", format!("{:.0}", self.msgs_per_sec())));
                let l = self.latency;
                rows.push(("latency from", self.latency_from.to_owned()));
                for (name, us) in [
                    ("p50", l.p50_us),
                    ("p90", l.p90_us),
                    ("p99", l.p99_us),
                    ("p99.9", l.p999_us),
                    ("max", l.max_us),
                ] {
                    rows.push((name, format!("{us:.0} µs")));
                }
                rows.push((
                    "relay CPU / delivery",
                    opt(self.relay_cpu_us_per_msg, |us| format!("{us:.1} µs")),
                ));
            }
        }
        rows.push((
            "relay RSS",
            opt(self.relay_rss_bytes, |b| {
                format!("{:.1} MiB", b as f64 / 1048576.0)
            }),
        ));
        if let Some(bytes) = self.disk_bytes {
            rows.push(("disk usage", format!("{:.1} MiB", bytes as f64 / 1048576.0)));
        }
        if let Some(error) = &self.sends.first_error {
            rows.push(("first error", error.clone()));
        }
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            let _ = writeln!(out, "{key:<width$}  {value}");
        }
        out
    }
}

fn opt<T: Copy>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), show)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
