//! What receivers saw: each (sender, sequence) once, duplicates counted, one latency sample per
//! first arrival.

use std::collections::HashSet;

use super::probe;

/// One receiver's (or a whole run's) record.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    seen: HashSet<(u32, u64)>,
    /// Deliveries of a message already seen.
    pub(crate) duplicated: u64,
    /// Payloads that were not benchmark probes.
    pub(crate) foreign: u64,
    /// Latency of each first arrival, in nanoseconds.
    pub(crate) latencies_ns: Vec<u64>,
    /// Clock time of the last first arrival.
    pub(crate) last_ns: u64,
}

impl Tally {
    /// Records a delivery received at `now_ns`. Latency runs from the payload's send time, or
    /// from `origin_ns` when given (offline drains: from the moment receivers connect).
    /// Returns whether it was new.
    pub(crate) fn record(&mut self, payload: &[u8], now_ns: u64, origin_ns: Option<u64>) -> bool {
        let Some(probe) = probe::parse(payload) else {
            self.foreign += 1;
            return false;
        };
        if !self.seen.insert((probe.sender, probe.seq)) {
            self.duplicated += 1;
            return false;
        }
        let from = origin_ns.unwrap_or(probe.sent_ns);
        self.latencies_ns.push(now_ns.saturating_sub(from));
        self.last_ns = self.last_ns.max(now_ns);
        true
    }

    /// Distinct messages received.
    pub(crate) fn unique(&self) -> u64 {
        self.seen.len() as u64
    }
}

/// Totals over several receivers.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    /// Distinct (receiver, message) arrivals.
    pub(crate) unique: u64,
    /// Duplicate arrivals.
    pub(crate) duplicated: u64,
    /// Non-probe payloads.
    pub(crate) foreign: u64,
    /// All latency samples, nanoseconds.
    pub(crate) latencies_ns: Vec<u64>,
    /// Last first arrival, clock nanoseconds.
    pub(crate) last_ns: u64,
}

impl Totals {
    /// Adds one receiver's record.
    pub(crate) fn add(&mut self, tally: Tally) {
        self.unique += tally.unique();
        self.duplicated += tally.duplicated;
        self.foreign += tally.foreign;
        self.last_ns = self.last_ns.max(tally.last_ns);
        self.latencies_ns.extend(tally.latencies_ns);
    }
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Percentiles {
    /// Median.
    pub(crate) p50_us: f64,
    /// 90th.
    pub(crate) p90_us: f64,
    /// 99th.
    pub(crate) p99_us: f64,
    /// 99.9th.
    pub(crate) p999_us: f64,
    /// Largest.
    pub(crate) max_us: f64,
}

/// Percentiles of `samples` (nanoseconds); nearest-rank. All zero when empty.
pub(crate) fn percentiles(mut samples: Vec<u64>) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let rank = (q * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1] as f64 / 1_000.0
    };
    Percentiles {
        p50_us: at(0.50),
        p90_us: at(0.90),
        p99_us: at(0.99),
        p999_us: at(0.999),
        max_us: at(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_counted_once_and_not_sampled() {
        let mut tally = Tally::default();
        let mut bytes = probe::payload(32, 1, 5);
        probe::stamp(&mut bytes, 1_000);
        assert!(tally.record(&bytes, 3_000, None));
        assert!(!tally.record(&bytes, 4_000, None));
        assert!(!tally.record(b"junk", 4_000, None));
        assert_eq!((tally.unique(), tally.duplicated, tally.foreign), (1, 1, 1));
        assert_eq!(tally.latencies_ns, vec![2_000]);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let p = percentiles((1..=1000).map(|us| us * 1_000).collect());
        assert_eq!(p.p50_us, 500.0);
        assert_eq!(p.p99_us, 990.0);
        assert_eq!(p.p999_us, 999.0);
        assert_eq!(p.max_us, 1000.0);
        assert_eq!(percentiles(vec![]), Percentiles::default());
    }
}
