//! Group commit: concurrent sends share one durability barrier.
//!
//! A request that needs its writes durable calls [`GroupCommit::commit`] after writing. One
//! task runs barriers back to back; every request that arrived while a barrier was running is
//! answered by the next one. Under load one `fsync` covers a whole batch of envelopes; alone,
//! a request waits for exactly one barrier that started after its write.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::RelayStore;

type Waiter = oneshot::Sender<Result<(), String>>;

/// Handle to the committer task.
#[derive(Clone)]
pub struct GroupCommit {
    requests: mpsc::UnboundedSender<Waiter>,
}

impl GroupCommit {
    /// Starts the committer on the current runtime. It ends when every handle is dropped.
    pub fn start(store: Arc<dyn RelayStore>) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waiters = vec![first];
                while let Ok(more) = rx.try_recv() {
                    waiters.push(more);
                }
                let store = store.clone();
                let result = tokio::task::spawn_blocking(move || store.flush())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                if let Err(error) = &result {
                    tracing::error!(%error, "durability barrier failed");
                }
                metrics::counter!(crate::metrics::FLUSHES_TOTAL).increment(1);
                metrics::histogram!(crate::metrics::FLUSH_BATCH_SIZE).record(waiters.len() as f64);
                for waiter in waiters {
                    let _ = waiter.send(result.clone());
                }
            }
        });
        (Self { requests: tx }, task)
    }

    /// Waits until everything written before this call is durable.
    pub async fn commit(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(tx)
            .map_err(|_| "committer stopped".to_owned())?;
        rx.await.map_err(|_| "committer stopped".to_owned())?
    }
}
