//! Reading and writing length-prefixed frames on QUIC streams.

use hush_protocol::codec::{self, CodecError, LENGTH_PREFIX_LEN};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::AsyncReadExt;

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The length prefix announced more than the protocol allows.
    TooLarge(usize),
    /// The bytes are not a frame of the expected type, or the stream ended mid-frame.
    Malformed(String),
    /// The stream or connection failed.
    Gone,
}

/// Reads one frame; `Ok(None)` when the peer finished the stream cleanly before a new frame.
///
/// The body buffer grows only as bytes arrive, so a peer that announces a large frame and
/// sends nothing costs no memory.
pub(crate) async fn read_frame<T: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
) -> Result<Option<T>, ReadFailure> {
    let mut prefix = [0u8; LENGTH_PREFIX_LEN];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(_)) => {
            return Err(ReadFailure::Malformed(
                "stream ended inside a length prefix".into(),
            ));
        }
        Err(quinn::ReadExactError::ReadError(_)) => return Err(ReadFailure::Gone),
    }
    let len = match codec::body_len(prefix) {
        Ok(len) => len,
        Err(CodecError::TooLarge { len, .. }) => return Err(ReadFailure::TooLarge(len)),
        Err(other) => return Err(ReadFailure::Malformed(other.to_string())),
    };
    let mut body = Vec::with_capacity(len.min(64 * 1024));
    let read = (&mut *recv).take(len as u64).read_to_end(&mut body).await;
    if read.is_err() {
        return Err(ReadFailure::Gone);
    }
    if body.len() != len {
        return Err(ReadFailure::Malformed("stream ended inside a frame".into()));
    }
    codec::decode_body(&body)
        .map(Some)
        .map_err(|e| ReadFailure::Malformed(e.to_string()))
}

/// Writes one frame. `false` when the stream is gone.
pub(crate) async fn write_frame<T: Serialize>(send: &mut quinn::SendStream, frame: &T) -> bool {
    match codec::encode_frame(frame) {
        Ok(bytes) => send.write_all(&bytes).await.is_ok(),
        Err(error) => {
            tracing::error!(%error, "could not encode an outgoing frame");
            false
        }
    }
}
