//! The relay as a running service: endpoint, accept loop, sweeper, graceful shutdown.
//!
//! [`Relay::bind`] opens everything from a [`Config`]; [`Relay::from_parts`] takes an already
//! built store and socket, which is how tests run a relay on `127.0.0.1:0` with the in-memory
//! store. Blob files always go to `config.server.data_dir/blobs` (set `data_dir` to a temporary
//! directory in tests that upload blobs). [`Relay::run`] serves until its shutdown token is cancelled, then stops accepting,
//! lets in-flight requests finish briefly, closes connections, and makes everything durable.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hush_protocol::RelayAddress;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::blob::BlobRules;
use crate::blob_files::{BLOBS_DIR, BlobFiles};
use crate::blobroom::Blobroom;
use crate::config::Config;
use crate::durability::GroupCommit;
use crate::mailroom::{Mailroom, Rules};
use crate::store::{RelayStore, SledStore, StoreError};
use crate::subscribers::Subscribers;
use crate::tls::{RelayIdentity, TlsError};

/// Subdirectory of the data dir that holds the sled database.
pub const STORE_DIR: &str = "store";
/// File in the data dir that holds the relay address.
pub const ADDRESS_FILE: &str = "relay-address";
/// Most request streams a connection may have open at once.
pub const MAX_REQUEST_STREAMS: u32 = 64;
/// How long shutdown waits for in-flight requests before closing connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Envelopes deleted per sweeper batch.
pub const SWEEP_BATCH: usize = 1_000;

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The TLS identity could not be loaded or created.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    /// The UDP socket could not be bound or used.
    #[error("listening on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The data dir could not be written.
    #[error("writing {path}: {source}")]
    DataDir {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) mailroom: Mailroom,
    pub(crate) blobroom: Blobroom,
    pub(crate) subscribers: Subscribers,
    pub(crate) commit: GroupCommit,
    pub(crate) relay_pin: [u8; 32],
    pub(crate) config: Config,
    next_connection: AtomicU64,
}

impl Shared {
    pub(crate) fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn store(&self) -> &Arc<dyn RelayStore> {
        self.mailroom.store()
    }
}

/// A bound relay, ready to [`run`](Relay::run).
pub struct Relay {
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    address: RelayAddress,
    committer: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Opens the data dir (TLS key, sled store) and binds the listen address from `config`.
    /// Must be called inside a Tokio runtime.
    pub fn bind(config: Config) -> Result<Self, StartError> {
        let data_dir = config.server.data_dir.clone();
        let identity = RelayIdentity::load_or_create(&data_dir)?;
        let store = Arc::new(SledStore::open(&data_dir.join(STORE_DIR))?);
        let socket = UdpSocket::bind(config.server.listen).map_err(|source| StartError::Bind {
            address: config.server.listen,
            source,
        })?;
        Self::from_parts(config, store, &identity, socket)
    }

    /// Builds a relay from a store, an identity and a bound socket. Must be called inside a
    /// Tokio runtime.
    ///
    /// Blob files live in `config.server.data_dir/blobs`; files there that the store has no
    /// metadata for are deleted now (start-up reconciliation), so every relay needs a data dir
    /// of its own.
    pub fn from_parts(
        config: Config,
        store: Arc<dyn RelayStore>,
        identity: &RelayIdentity,
        socket: UdpSocket,
    ) -> Result<Self, StartError> {
        let listen = socket.local_addr().map_err(|source| StartError::Bind {
            address: config.server.listen,
            source,
        })?;
        let server_config = identity.server_config(
            Duration::from_secs(config.server.idle_timeout_secs),
            MAX_REQUEST_STREAMS,
        )?;
        let runtime = Arc::new(quinn::TokioRuntime);
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server_config),
            socket,
            runtime,
        )
        .map_err(|source| StartError::Bind {
            address: listen,
            source,
        })?;
        let host = match &config.server.public_host {
            Some(host) => host.clone(),
            None => listen.ip().to_string(),
        };
        let address = RelayAddress {
            host,
            port: listen.port(),
            pin: identity.pin(),
        };
        let files = Arc::new(BlobFiles::new(config.server.data_dir.join(BLOBS_DIR)));
        let blobroom = Blobroom::new(store.clone(), files, BlobRules::from_config(&config));
        let reconciled = blobroom.reconcile()?;
        if reconciled.records_dropped + reconciled.files_deleted + reconciled.files_truncated > 0 {
            tracing::warn!(
                dropped = reconciled.records_dropped,
                deleted = reconciled.files_deleted,
                truncated = reconciled.files_truncated,
                "blob files reconciled with their metadata"
            );
        }
        let (commit, committer) = GroupCommit::start(store.clone());
        crate::metrics::record_pending(store.pending());
        let shared = Arc::new(Shared {
            blobroom,
            mailroom: Mailroom::new(store, Rules::from_config(&config)),
            subscribers: Subscribers::default(),
            commit,
            relay_pin: identity.pin(),
            config,
            next_connection: AtomicU64::new(1),
        });
        Ok(Self {
            shared,
            endpoint,
            address,
            committer,
        })
    }

    /// The relay address clients use.
    pub fn address(&self) -> &RelayAddress {
        &self.address
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Writes the relay address to `DIR/relay-address` (atomically).
    pub fn write_address_file(&self, data_dir: &Path) -> Result<(), StartError> {
        let path = data_dir.join(ADDRESS_FILE);
        let temp = data_dir.join(format!("{ADDRESS_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            std::fs::write(&temp, format!("{}\n", self.address))?;
            std::fs::rename(&temp, &path)
        };
        write().map_err(|source| StartError::DataDir { path, source })
    }

    /// Serves until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run(self, shutdown: CancellationToken) {
        let Self {
            shared,
            endpoint,
            committer,
            ..
        } = self;
        let mut background = JoinSet::new();
        background.spawn(sweeper(shared.clone(), shutdown.clone()));
        let slots = Arc::new(Semaphore::new(shared.config.server.max_connections));
        let mut connections = JoinSet::new();
        tracing::info!("relay serving");
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                incoming = endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    match slots.clone().try_acquire_owned() {
                        Ok(slot) => {
                            let shared = shared.clone();
                            let token = shutdown.child_token();
                            connections.spawn(async move {
                                crate::connection::serve(incoming, shared, token).await;
                                drop(slot);
                            });
                        }
                        Err(_) => {
                            metrics::counter!(crate::metrics::CONNECTIONS_REFUSED_TOTAL).increment(1);
                            incoming.refuse();
                        }
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        tracing::info!("relay shutting down: no longer accepting connections");
        endpoint.set_server_config(None);
        // Connections see the cancelled token, finish in-flight requests and close.
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE * 2, drain)
            .await
            .is_err()
        {
            connections.abort_all();
        }
        background.abort_all();
        endpoint.close(0u32.into(), b"relay shutting down");
        if let Err(error) = shared.commit.commit().await {
            tracing::error!(%error, "final flush failed");
        }
        drop(shared);
        let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        let _ = committer.await;
        tracing::info!("relay stopped");
    }
}

async fn sweeper(shared: Arc<Shared>, shutdown: CancellationToken) {
    let period = Duration::from_secs(shared.config.retention.sweep_interval_secs);
    let mut ticks = tokio::time::interval(period);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let mailroom = shared.mailroom.clone();
        let swept =
            tokio::task::spawn_blocking(move || mailroom.sweep(unix_now(), SWEEP_BATCH)).await;
        match swept {
            Ok(Ok(outcome)) => {
                metrics::counter!(crate::metrics::ENVELOPES_EXPIRED_TOTAL)
                    .increment(outcome.expired);
                crate::metrics::record_pending(shared.store().pending());
                if outcome.expired > 0 {
                    tracing::info!(
                        expired = outcome.expired,
                        "deleted envelopes past their TTL"
                    );
                }
            }
            Ok(Err(error)) => tracing::error!(%error, "sweep failed"),
            Err(error) => tracing::error!(%error, "sweep task failed"),
        }
        let blobroom = shared.blobroom.clone();
        let swept =
            tokio::task::spawn_blocking(move || blobroom.sweep(unix_now(), SWEEP_BATCH)).await;
        match swept {
            Ok(Ok(expired)) if expired > 0 => {
                tracing::info!(expired, "deleted blobs past their TTL");
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(%error, "blob sweep failed"),
            Err(error) => tracing::error!(%error, "blob sweep task failed"),
        }
    }
}
