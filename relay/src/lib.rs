//! The Hush relay: a QUIC store-and-forward daemon for opaque, end-to-end encrypted envelopes.
//!
//! Clients connect over QUIC (TLS 1.3, ALPN `hush/1`), authenticate as a mailbox by signing a
//! per-connection challenge, send envelopes to other mailboxes, and receive their own. The
//! relay stores each envelope once for all recipients, answers `Stored` only once it is
//! durable, pushes it to connected recipients (or queues it for later), and deletes it when the
//! last recipient acknowledged it or its TTL ran out. It never sees plaintext and logs no
//! mailbox ids, usernames or IP addresses at info level or above.
//!
//! # Layout
//! - [`config`]: the TOML configuration and its defaults.
//! - [`server`]: [`Relay`] — endpoint, accept loop, sweeper, graceful shutdown.
//! - `connection` (private): one client connection's control and request streams.
//! - [`mailroom`]: the store-and-forward rules without I/O (send, ack, sweep).
//! - [`delivery`]: per-connection flow control of deliveries, without I/O.
//! - [`blob`]: the blob rules without I/O (create, quota, upload cursor, release).
//! - [`blobroom`]: the blob store — metadata and files under the rules; sweep, reconcile.
//! - [`blob_files`]: blob bytes on disk, one file per blob; one writer per blob.
//! - `blob_stream` (private): serving upload and download streams chunk by chunk.
//! - [`store`]: the storage traits, the sled store and the in-memory store.
//! - [`durability`]: group commit — concurrent sends share one fsync.
//! - [`subscribers`]: which connection receives each mailbox's deliveries now.
//! - [`auth`]: verifying a mailbox's signature over the connection's challenge.
//! - [`tls`]: the relay's TLS key, certificate and pin.
//! - [`rate_limit`]: a per-connection token bucket.
//! - [`metrics`]: metric names and the Prometheus exporter.
//! - [`notify`]: systemd readiness notifications (`READY=1`, `STOPPING=1`).
//! - [`error`]: [`RelayError`], the typed errors clients see.
//! - [`cli`]: the `hush-relay` command line.
#![forbid(unsafe_code)]

pub mod auth;
pub mod blob;
pub mod blob_files;
mod blob_stream;
pub mod blobroom;
pub mod cli;
pub mod config;
mod connection;
pub mod delivery;
pub mod durability;
pub mod error;
pub mod mailroom;
pub mod metrics;
#[cfg(unix)]
pub mod notify;
pub mod rate_limit;
pub mod server;
pub mod store;
pub mod subscribers;
pub mod tls;
mod wire;

pub use config::Config;
pub use error::RelayError;
pub use server::Relay;
