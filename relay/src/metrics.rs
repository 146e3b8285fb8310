//! Metric names (Prometheus) and the exporter.
//!
//! The names listed in the relay's contract are stable; others may be added.

use std::net::SocketAddr;

/// Counter: envelopes newly stored (retries not counted).
pub const ENVELOPES_STORED_TOTAL: &str = "hush_relay_envelopes_stored_total";
/// Gauge: envelopes stored and not yet deleted.
pub const ENVELOPES_PENDING: &str = "hush_relay_envelopes_pending";
/// Gauge: payload bytes of those envelopes (one copy each).
pub const ENVELOPE_BYTES_PENDING: &str = "hush_relay_envelope_bytes_pending";
/// Counter: deliveries sent to subscribed clients (stored envelopes; redeliveries count).
pub const DELIVERIES_TOTAL: &str = "hush_relay_deliveries_total";
/// Counter: acknowledgements accepted.
pub const ACKS_TOTAL: &str = "hush_relay_acks_total";
/// Counter: envelopes deleted by the TTL sweeper.
pub const ENVELOPES_EXPIRED_TOTAL: &str = "hush_relay_envelopes_expired_total";
/// Gauge: open connections.
pub const CONNECTIONS: &str = "hush_relay_connections";
/// Counter: ephemeral envelopes pushed (per connected recipient).
pub const EPHEMERAL_PUSHED_TOTAL: &str = "hush_relay_ephemeral_pushed_total";
/// Counter: requests refused, labelled by error `code`.
pub const ERRORS_TOTAL: &str = "hush_relay_errors_total";
/// Counter: connections refused because the relay was at its connection cap.
pub const CONNECTIONS_REFUSED_TOTAL: &str = "hush_relay_connections_refused_total";
/// Counter: durability barriers (fsync batches).
pub const FLUSHES_TOTAL: &str = "hush_relay_flushes_total";
/// Histogram: requests answered per durability barrier.
pub const FLUSH_BATCH_SIZE: &str = "hush_relay_flush_batch_size";

/// Gauge: blobs held (metadata records, complete or not).
pub const BLOBS: &str = "hush_relay_blobs";
/// Gauge: bytes of blob files on disk.
pub const BLOB_BYTES: &str = "hush_relay_blob_bytes";
/// Counter: blob chunk bytes accepted from uploaders (a resumed upload counts only what it
/// sent again).
pub const BLOB_BYTES_RECEIVED_TOTAL: &str = "hush_relay_blob_bytes_received_total";
/// Counter: blob chunk bytes sent to downloaders.
pub const BLOB_BYTES_SENT_TOTAL: &str = "hush_relay_blob_bytes_sent_total";
/// Counter: blobs deleted, labelled by `reason`: `fetched` (every recipient released it) or
/// `expired` (TTL).
pub const BLOBS_DELETED_TOTAL: &str = "hush_relay_blobs_deleted_total";

/// Sets the blob gauges.
pub fn record_blobs(blobs: u64, bytes: u64) {
    metrics::gauge!(BLOBS).set(blobs as f64);
    metrics::gauge!(BLOB_BYTES).set(bytes as f64);
}

/// Sets the pending gauges from the store's totals.
pub fn record_pending(totals: crate::store::PendingTotals) {
    metrics::gauge!(ENVELOPES_PENDING).set(totals.envelopes as f64);
    metrics::gauge!(ENVELOPE_BYTES_PENDING).set(totals.bytes as f64);
}

/// Installs the Prometheus recorder and returns the HTTP exporter to run.
pub fn install_exporter(
    address: SocketAddr,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, String> {
    let (recorder, exporter) = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(address)
        .build()
        .map_err(|e| e.to_string())?;
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    for name in [
        ENVELOPES_STORED_TOTAL,
        DELIVERIES_TOTAL,
        ACKS_TOTAL,
        ENVELOPES_EXPIRED_TOTAL,
        BLOB_BYTES_RECEIVED_TOTAL,
        BLOB_BYTES_SENT_TOTAL,
    ] {
        metrics::counter!(name).absolute(0);
    }
    for reason in ["fetched", "expired"] {
        metrics::counter!(BLOBS_DELETED_TOTAL, "reason" => reason).absolute(0);
    }
    metrics::gauge!(CONNECTIONS).set(0.0);
    Ok(async move {
        if let Err(error) = exporter.await {
            tracing::error!(?error, "metrics exporter stopped");
        }
    })
}
