//! Driving one sender: sends at a fixed rate (open loop) or as fast as a window of sends in
//! flight allows (closed loop), the same way for Hush and for JetStream.
//!
//! Paced sends are stamped with their *scheduled* time, so when the target falls behind the
//! queueing shows up as latency instead of being hidden (no coordinated omission).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::probe::Clock;

/// How one send ended.
#[derive(Debug)]
pub(crate) struct SendOutcome {
    /// Whether the target confirmed it durable (`Stored` / a JetStream publish ack).
    pub(crate) stored: bool,
    /// Times it was sent again after a transient refusal.
    pub(crate) retries: u32,
    /// Why it failed, if it did.
    pub(crate) error: Option<String>,
}

/// One sender's (or a run's) send record.
#[derive(Debug, Default, Clone)]
pub(crate) struct SendTally {
    /// Confirmed durable.
    pub(crate) stored: u64,
    /// Not confirmed (error, or not sent before the deadline).
    pub(crate) failed: u64,
    /// Retries after transient refusals (rate limit, overload).
    pub(crate) retries: u64,
    /// The first error, for the report.
    pub(crate) first_error: Option<String>,
}

impl SendTally {
    fn add_outcome(&mut self, outcome: SendOutcome) {
        self.retries += u64::from(outcome.retries);
        if outcome.stored {
            self.stored += 1;
        } else {
            self.failed += 1;
        }
        if self.first_error.is_none() {
            self.first_error = outcome.error;
        }
    }

    /// Adds another sender's record.
    pub(crate) fn add(&mut self, other: SendTally) {
        self.stored += other.stored;
        self.failed += other.failed;
        self.retries += other.retries;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// How to pace one sender.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// Time between sends; `None`: closed loop.
    pub(crate) interval: Option<Duration>,
    /// Sends in flight at most.
    pub(crate) window: usize,
    /// The run's clock.
    pub(crate) clock: Clock,
    /// No new send starts after this.
    pub(crate) deadline: Instant,
}

impl Pace {
    /// Pacing for one of `senders` senders sharing a total `rate` (per second).
    pub(crate) fn new(
        rate: Option<f64>,
        senders: usize,
        window: usize,
        clock: Clock,
        deadline: Instant,
    ) -> Self {
        Self {
            interval: rate.map(|r| Duration::from_secs_f64(senders as f64 / r)),
            window: window.max(1),
            clock,
            deadline,
        }
    }
}

/// Sends every item through `send(item, send_time_ns)`, paced, and waits for all answers.
pub(crate) async fn drive<T, F, Fut>(items: Vec<T>, pace: Pace, send: F) -> SendTally
where
    F: Fn(T, u64) -> Fut,
    Fut: Future<Output = SendOutcome> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(pace.window));
    let mut tasks = JoinSet::new();
    let mut tally = SendTally::default();
    let total = items.len();
    let start = Instant::now();
    for (index, item) in items.into_iter().enumerate() {
        let scheduled = pace
            .interval
            .map(|interval| start + interval.mul_f64(index as f64));
        if let Some(at) = scheduled {
            tokio::time::sleep_until(at.into()).await;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        if Instant::now() > pace.deadline {
            tally.failed += (total - index) as u64;
            tally
                .first_error
                .get_or_insert_with(|| "time limit reached before every send started".into());
            break;
        }
        let sent_ns = match scheduled {
            Some(at) => pace.clock.ns_at(at),
            None => pace.clock.now_ns(),
        };
        let request = send(item, sent_ns);
        tasks.spawn(async move {
            let outcome = request.await;
            drop(permit);
            outcome
        });
        while let Some(done) = tasks.try_join_next() {
            record(&mut tally, done);
        }
    }
    while let Some(done) = tasks.join_next().await {
        record(&mut tally, done);
    }
    tally
}

fn record(tally: &mut SendTally, done: Result<SendOutcome, tokio::task::JoinError>) {
    match done {
        Ok(outcome) => tally.add_outcome(outcome),
        Err(error) => tally.add_outcome(SendOutcome {
            stored: false,
            retries: 0,
            error: Some(error.to_string()),
        }),
    }
}
