//! Length-prefixed framing over bincode.
//!
//! A frame is a `u32` big-endian length `n` followed by `n` bytes of bincode (standard
//! configuration: little-endian, variable-length integers) encoding one value. `n` is at most
//! [`MAX_FRAME_LEN`]; the decoder checks the prefix before it reads or allocates the body, and
//! requires the body to be consumed exactly.
//!
//! This is the only module in the workspace that names bincode: bincode 2.0.1 is pinned and
//! unmaintained (RUSTSEC-2025-0141), so replacing it means changing this file alone.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::limits::MAX_FRAME_LEN;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The frame's length is over the limit.
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The announced or encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a valid encoding of the expected type.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_LEN>()
}

/// Encodes a value with no length prefix (for storage records); at most [`MAX_FRAME_LEN`] bytes.
pub fn encode_value<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::serde::encode_to_vec(value, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: MAX_FRAME_LEN,
        });
    }
    Ok(bytes)
}

/// Decodes a value written by [`encode_value`]; every byte must be used.
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let (value, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::Malformed(format!(
            "{} trailing bytes",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// Encodes one frame: length prefix, then body.
pub fn encode_frame<T: Serialize>(frame: &T) -> Result<Vec<u8>, CodecError> {
    let body = encode_value(frame)?;
    if body.len() > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge {
            len: body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let len = u32::try_from(body.len()).map_err(|_| CodecError::TooLarge {
        len: body.len(),
        max: MAX_FRAME_LEN,
    })?;
    let mut out = Vec::with_capacity(LENGTH_PREFIX_LEN + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads a length prefix and checks it against [`MAX_FRAME_LEN`].
pub fn body_len(prefix: [u8; LENGTH_PREFIX_LEN]) -> Result<usize, CodecError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

/// Decodes a frame body (the bytes after the prefix).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    decode_value(body)
}

/// Decodes the first frame in `buf`, if `buf` holds a whole one: the frame and the number of
/// bytes it took. `Ok(None)` means more bytes are needed.
pub fn decode_frame<T: DeserializeOwned>(buf: &[u8]) -> Result<Option<(T, usize)>, CodecError> {
    let Some(prefix) = buf.get(..LENGTH_PREFIX_LEN) else {
        return Ok(None);
    };
    let mut prefix_bytes = [0u8; LENGTH_PREFIX_LEN];
    prefix_bytes.copy_from_slice(prefix);
    let len = body_len(prefix_bytes)?;
    let Some(body) = buf.get(LENGTH_PREFIX_LEN..LENGTH_PREFIX_LEN + len) else {
        return Ok(None);
    };
    Ok(Some((decode_body(body)?, LENGTH_PREFIX_LEN + len)))
}
