//! Every size bound of the wire protocol, as named constants.
//!
//! The relay may configure tighter limits (for example its maximum envelope size), never looser.

/// Largest encoded frame body (after the 4-byte length prefix) either side accepts.
pub const MAX_FRAME_LEN: usize = 1024 * 1024 + 64 * 1024;

/// Largest envelope payload the protocol can carry. A relay's own limit is at most this.
pub const MAX_PAYLOAD_LEN: usize = 1024 * 1024;

/// Default largest envelope payload a relay accepts (larger text goes as an attachment).
pub const DEFAULT_MAX_ENVELOPE_LEN: usize = 256 * 1024;

/// Most recipients one envelope may name (a group of this many members is one envelope).
pub const MAX_RECIPIENTS: usize = 4096;

/// Most envelope ids one [`crate::ClientFrame::Ack`] may carry.
pub const MAX_ACK_BATCH: usize = 512;

/// Most one-time prekeys one upload may carry.
pub const MAX_PREKEYS_PER_UPLOAD: usize = 200;

/// Most one-time prekeys the relay holds for one mailbox.
pub const MAX_PREKEYS_STORED: usize = 1000;

/// Shortest username, in characters.
pub const MIN_USERNAME_LEN: usize = 3;

/// Longest username, in characters.
pub const MAX_USERNAME_LEN: usize = 32;

/// Longest human-readable message in an [`crate::ErrorFrame`], in bytes.
pub const MAX_ERROR_MESSAGE_LEN: usize = 512;

/// Length of the random challenge a relay sends before authentication.
pub const CHALLENGE_LEN: usize = 32;

/// Plaintext bytes in one chunk of an encrypted file (every chunk but the last is this full).
pub const BLOB_CHUNK_PLAINTEXT_LEN: usize = 64 * 1024;

/// Bytes one encrypted chunk adds to its plaintext: a 24-byte nonce and a 16-byte tag.
pub const BLOB_CHUNK_OVERHEAD: usize = 24 + 16;

/// Bytes of one chunk of a blob on the wire and on the relay's disk. Every chunk of a blob but
/// the last is exactly this long; the last is 1 to this many bytes.
pub const BLOB_CHUNK_LEN: usize = BLOB_CHUNK_PLAINTEXT_LEN + BLOB_CHUNK_OVERHEAD;

/// Largest blob (ciphertext bytes) the protocol can describe. A relay's own limit is at most
/// this (default 1 GiB plus chunk overhead).
pub const MAX_BLOB_LEN: u64 = 16 * 1024 * 1024 * 1024;

/// The blob size (ciphertext bytes) of a file of `plaintext_len` bytes: one chunk per started
/// 64 KiB (at least one, so an empty file is one 40-byte chunk), each with its overhead.
pub const fn blob_len_for_plaintext(plaintext_len: u64) -> u64 {
    let chunks = plaintext_len.div_ceil(BLOB_CHUNK_PLAINTEXT_LEN as u64);
    let chunks = if chunks == 0 { 1 } else { chunks };
    // Saturating: a length a peer made up near `u64::MAX` gives a size no relay accepts, never
    // an overflow.
    plaintext_len.saturating_add(chunks.saturating_mul(BLOB_CHUNK_OVERHEAD as u64))
}

/// How many chunks a blob of `size` ciphertext bytes has (`0` for an empty blob, which is not
/// a valid blob).
pub const fn blob_chunk_count(size: u64) -> u64 {
    size.div_ceil(BLOB_CHUNK_LEN as u64)
}

/// The length chunk `index` of a blob of `size` bytes must have, or `None` if the blob has no
/// such chunk.
pub const fn blob_chunk_len(size: u64, index: u64) -> Option<usize> {
    let chunks = blob_chunk_count(size);
    if index >= chunks {
        return None;
    }
    if index + 1 < chunks {
        return Some(BLOB_CHUNK_LEN);
    }
    Some((size - index * BLOB_CHUNK_LEN as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_arithmetic() {
        let full = BLOB_CHUNK_LEN as u64;
        assert_eq!(blob_chunk_count(0), 0);
        assert_eq!(blob_chunk_count(1), 1);
        assert_eq!(blob_chunk_count(full), 1);
        assert_eq!(blob_chunk_count(full + 1), 2);
        assert_eq!(blob_chunk_len(full + 1, 0), Some(BLOB_CHUNK_LEN));
        assert_eq!(blob_chunk_len(full + 1, 1), Some(1));
        assert_eq!(blob_chunk_len(full + 1, 2), None);
        assert_eq!(blob_chunk_len(2 * full, 1), Some(BLOB_CHUNK_LEN));
        assert_eq!(blob_chunk_len(0, 0), None);
        let plain = BLOB_CHUNK_PLAINTEXT_LEN as u64;
        assert_eq!(blob_len_for_plaintext(0), 40);
        assert_eq!(blob_len_for_plaintext(plain), full);
        assert_eq!(blob_len_for_plaintext(plain + 1), full + 41);
        assert_eq!(blob_chunk_count(blob_len_for_plaintext(3 * plain)), 3);
        assert_eq!(blob_len_for_plaintext(u64::MAX), u64::MAX);
    }
}
