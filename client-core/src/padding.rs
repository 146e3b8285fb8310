//! Length hiding: plaintexts are padded to size buckets before encryption.
//!
//! The padded form is `plaintext || 0x80 || 0x00*` (ISO/IEC 7816-4), grown to the smallest
//! bucket that fits: powers of two from [`MIN_PADDED_LEN`] up to [`PADDING_STEP`], then
//! multiples of [`PADDING_STEP`], up to [`MAX_PADDED_LEN`]. An observer learns only the bucket.

use crate::limits::{MAX_PADDED_LEN, MAX_PLAINTEXT_LEN, MIN_PADDED_LEN, PADDING_STEP};

/// Why a plaintext could not be padded or a padded buffer could not be unpadded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaddingError {
    /// The plaintext is longer than [`MAX_PLAINTEXT_LEN`].
    #[error("plaintext is longer than {MAX_PLAINTEXT_LEN} bytes")]
    TooLong,
    /// The padded buffer has no `0x80` marker after its zero bytes.
    #[error("padding is malformed")]
    Malformed,
}

/// The bucket a plaintext of `len` bytes is padded to, or `None` if it is too long.
#[must_use]
pub fn padded_len(len: usize) -> Option<usize> {
    if len > MAX_PLAINTEXT_LEN {
        return None;
    }
    let needed = len + 1;
    let bucket = if needed <= PADDING_STEP {
        needed.next_power_of_two().max(MIN_PADDED_LEN)
    } else {
        needed.div_ceil(PADDING_STEP) * PADDING_STEP
    };
    Some(bucket.min(MAX_PADDED_LEN))
}

/// Pads `plaintext` to its bucket.
///
/// # Errors
/// [`PaddingError::TooLong`] past [`MAX_PLAINTEXT_LEN`].
pub fn pad(plaintext: &[u8]) -> Result<Vec<u8>, PaddingError> {
    let bucket = padded_len(plaintext.len()).ok_or(PaddingError::TooLong)?;
    let mut out = Vec::with_capacity(bucket);
    out.extend_from_slice(plaintext);
    out.push(0x80);
    out.resize(bucket, 0);
    Ok(out)
}

/// Removes the padding added by [`pad`], in place.
///
/// # Errors
/// [`PaddingError::Malformed`] if no `0x80` marker ends the content.
pub fn unpad(mut padded: Vec<u8>) -> Result<Vec<u8>, PaddingError> {
    let content_len = padded
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(PaddingError::Malformed)?;
    if padded.get(content_len) != Some(&0x80) {
        return Err(PaddingError::Malformed);
    }
    padded.truncate(content_len);
    Ok(padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_then_steps() {
        assert_eq!(padded_len(0), Some(64));
        assert_eq!(padded_len(63), Some(64));
        assert_eq!(padded_len(64), Some(128));
        assert_eq!(padded_len(256), Some(512));
        assert_eq!(padded_len(PADDING_STEP - 1), Some(PADDING_STEP));
        assert_eq!(padded_len(PADDING_STEP), Some(2 * PADDING_STEP));
        assert_eq!(padded_len(MAX_PLAINTEXT_LEN), Some(MAX_PADDED_LEN));
        assert_eq!(padded_len(MAX_PLAINTEXT_LEN + 1), None);
    }

    #[test]
    fn pad_unpad_round_trip_including_trailing_zeros() {
        for len in [0usize, 1, 62, 63, 64, 1000, 20_000] {
            let msg: Vec<u8> = (0..len)
                .map(|i| if i % 3 == 0 { 0 } else { i as u8 })
                .collect();
            let padded = pad(&msg).unwrap();
            assert_eq!(Some(padded.len()), padded_len(len));
            assert_eq!(unpad(padded).unwrap(), msg);
        }
        let zeros = vec![0u8; 10];
        assert_eq!(unpad(pad(&zeros).unwrap()).unwrap(), zeros);
    }

    #[test]
    fn unpad_rejects_garbage_and_pad_rejects_oversize() {
        assert_eq!(unpad(vec![0; 64]), Err(PaddingError::Malformed));
        assert_eq!(unpad(vec![1, 2, 3]), Err(PaddingError::Malformed));
        assert_eq!(unpad(Vec::new()), Err(PaddingError::Malformed));
        assert_eq!(
            pad(&vec![0; MAX_PLAINTEXT_LEN + 1]),
            Err(PaddingError::TooLong)
        );
    }
}
