//! Attachments: a file encrypted in chunks under a fresh random key, uploaded as an opaque
//! blob.
//!
//! Every file gets its own [`FileKey`]. The plaintext is cut into chunks of
//! [`BLOB_CHUNK_PLAINTEXT_LEN`] bytes (the last one shorter, an empty file is one empty chunk),
//! and each chunk is sealed with XChaCha20-Poly1305 under a key derived from the file key, with a
//! fresh random 24-byte nonce: `chunk = nonce (24) ‖ ciphertext ‖ tag (16)`. The associated
//! data binds the chunk to its place:
//!
//! ```text
//! "hush/1 attachment chunk\0" ‖ blob id (16) ‖ plaintext length (u64 BE) ‖ index (u64 BE) ‖ last (u8)
//! ```
//!
//! so a chunk moved to another index, another file, or made to look like the last one fails
//! authentication; the recipient knows the plaintext length (from the message that shares the
//! file), hence the number of chunks, and requires every one of them, so dropped or truncated
//! chunks are noticed too. The SHA-256 of the whole plaintext, also in the message, is checked
//! before a file is handed to the user.
//!
//! Random nonces (rather than the index as nonce) mean an upload that is resumed after the
//! source file changed never encrypts two different plaintexts under one key and nonce.
//!
//! The message that shares a file ([`FileAttachment`]) travels inside the end-to-end payload;
//! the relay only ever sees the blob id, the ciphertext size and who may fetch it.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hush_protocol::BlobId;
use hush_protocol::limits::{
    BLOB_CHUNK_OVERHEAD, BLOB_CHUNK_PLAINTEXT_LEN, blob_len_for_plaintext,
};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::kdf;

pub mod preview;

/// Domain separation of the chunk AEAD key and associated data.
const CHUNK_LABEL: &[u8] = b"hush/1 attachment chunk\0";
const NONCE_LEN: usize = 24;

/// Why a chunk could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The chunk index is past the end of the file.
    #[error("chunk {index} is past the end of the file ({chunks} chunks)")]
    NoSuchChunk {
        /// The index asked for.
        index: u64,
        /// How many chunks the file has.
        chunks: u64,
    },
    /// The plaintext or ciphertext does not have the length this chunk must have.
    #[error("chunk {index} has the wrong length")]
    WrongLength {
        /// The chunk.
        index: u64,
    },
    /// The chunk failed authentication: it was altered, moved, or belongs to another file.
    #[error("chunk {index} failed authentication: the file was altered")]
    Corrupt {
        /// The chunk.
        index: u64,
    },
}

/// The random key of one file. Wiped on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct FileKey([u8; 32]);

impl FileKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(<redacted>)")
    }
}

/// What the message sharing a file says about it (inside the end-to-end payload).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileAttachment {
    /// The blob on the sender's relay.
    pub blob: BlobId,
    /// The key the chunks are sealed with.
    pub key: FileKey,
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
    /// The file's name as the sender had it (a hint: never used as a path unchecked).
    pub name: String,
    /// Its MIME type.
    pub mime: String,
    /// For images: a small JPEG preview.
    pub thumbnail: Option<Vec<u8>>,
}

impl std::fmt::Debug for FileAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAttachment")
            .field("blob", &self.blob)
            .field("size", &self.size)
            .field("mime", &self.mime)
            .field("thumbnail_len", &self.thumbnail.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

/// The chunk layout of a file of a given plaintext length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLayout {
    plaintext_len: u64,
}

impl ChunkLayout {
    /// The layout of a file of `plaintext_len` bytes.
    pub fn new(plaintext_len: u64) -> Self {
        Self { plaintext_len }
    }

    /// Plaintext bytes.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// How many chunks (at least one).
    pub fn chunks(&self) -> u64 {
        self.plaintext_len
            .div_ceil(BLOB_CHUNK_PLAINTEXT_LEN as u64)
            .max(1)
    }

    /// Ciphertext bytes: the blob size.
    pub fn blob_len(&self) -> u64 {
        blob_len_for_plaintext(self.plaintext_len)
    }

    /// Plaintext bytes of chunk `index`.
    pub fn plaintext_chunk_len(&self, index: u64) -> Result<usize, AttachmentError> {
        let chunks = self.chunks();
        if index >= chunks {
            return Err(AttachmentError::NoSuchChunk { index, chunks });
        }
        let start = index * BLOB_CHUNK_PLAINTEXT_LEN as u64;
        let len = (self.plaintext_len - start).min(BLOB_CHUNK_PLAINTEXT_LEN as u64);
        Ok(len as usize)
    }

    /// Byte offset of chunk `index` in the plaintext.
    pub fn plaintext_offset(&self, index: u64) -> u64 {
        index.saturating_mul(BLOB_CHUNK_PLAINTEXT_LEN as u64)
    }
}

/// Seals and opens the chunks of one file.
pub struct ChunkCipher {
    cipher: XChaCha20Poly1305,
    blob: BlobId,
    layout: ChunkLayout,
}

impl std::fmt::Debug for ChunkCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkCipher")
            .field("blob", &self.blob)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl ChunkCipher {
    /// The cipher for the file with this key, blob id and plaintext length.
    pub fn new(key: &FileKey, blob: BlobId, plaintext_len: u64) -> Self {
        let okm = kdf::hkdf::<32>(&[0u8; 32], &key.0, CHUNK_LABEL);
        let mut aead_key = Key::from(*okm);
        let cipher = XChaCha20Poly1305::new(&aead_key);
        aead_key.as_mut_slice().zeroize();
        Self {
            cipher,
            blob,
            layout: ChunkLayout::new(plaintext_len),
        }
    }

    /// The file's chunk layout.
    pub fn layout(&self) -> ChunkLayout {
        self.layout
    }

    fn aad(&self, index: u64) -> Vec<u8> {
        let last = u8::from(index + 1 == self.layout.chunks());
        [
            CHUNK_LABEL,
            self.blob.as_bytes(),
            &self.layout.plaintext_len.to_be_bytes(),
            &index.to_be_bytes(),
            &[last],
        ]
        .concat()
    }

    /// Seals chunk `index`, whose plaintext must have exactly the length the layout says.
    pub fn seal(
        &self,
        rng: &mut impl CryptoRng,
        index: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, AttachmentError> {
        if plaintext.len() != self.layout.plaintext_chunk_len(index)? {
            return Err(AttachmentError::WrongLength { index });
        }
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let aad = self.aad(index);
        // Encryption only fails for inputs over 256 GiB; a chunk is 64 KiB.
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| AttachmentError::WrongLength { index })?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens chunk `index`; fails if it was altered, moved or cut.
    pub fn open(&self, index: u64, chunk: &[u8]) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
        let expected = self.layout.plaintext_chunk_len(index)? + BLOB_CHUNK_OVERHEAD;
        if chunk.len() != expected {
            return Err(AttachmentError::WrongLength { index });
        }
        let (nonce, ciphertext) = chunk
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(AttachmentError::WrongLength { index })?;
        let aad = self.aad(index);
        self.cipher
            .decrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| AttachmentError::Corrupt { index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_protocol::limits::{BLOB_CHUNK_LEN, blob_chunk_count, blob_chunk_len};
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(9)
    }

    fn file(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn seal_all(cipher: &ChunkCipher, data: &[u8]) -> Vec<Vec<u8>> {
        let mut rng = rng();
        data.chunks(BLOB_CHUNK_PLAINTEXT_LEN)
            .chain(data.is_empty().then_some(&[][..]))
            .enumerate()
            .map(|(i, chunk)| cipher.seal(&mut rng, i as u64, chunk).unwrap())
            .collect()
    }

    #[test]
    fn chunks_round_trip_and_match_the_wire_layout() {
        for len in [
            0,
            1,
            BLOB_CHUNK_PLAINTEXT_LEN,
            BLOB_CHUNK_PLAINTEXT_LEN * 2 + 5,
        ] {
            let data = file(len);
            let key = FileKey::generate(&mut rng());
            let cipher = ChunkCipher::new(&key, BlobId::from_bytes([1; 16]), len as u64);
            let sealed = seal_all(&cipher, &data);
            let size = cipher.layout().blob_len();
            assert_eq!(sealed.len() as u64, blob_chunk_count(size));
            assert_eq!(sealed.iter().map(Vec::len).sum::<usize>() as u64, size);
            let mut out = Vec::new();
            for (i, chunk) in sealed.iter().enumerate() {
                assert_eq!(blob_chunk_len(size, i as u64), Some(chunk.len()));
                assert!(chunk.len() <= BLOB_CHUNK_LEN);
                out.extend_from_slice(&cipher.open(i as u64, chunk).unwrap());
            }
            assert_eq!(out, data);
        }
    }

    #[test]
    fn altered_moved_cut_or_foreign_chunks_are_refused() {
        let len = BLOB_CHUNK_PLAINTEXT_LEN * 2 + 100;
        let data = file(len);
        let key = FileKey::generate(&mut rng());
        let blob = BlobId::from_bytes([1; 16]);
        let cipher = ChunkCipher::new(&key, blob, len as u64);
        let sealed = seal_all(&cipher, &data);

        let mut flipped = sealed[1].clone();
        flipped[1000] ^= 1;
        assert_eq!(
            cipher.open(1, &flipped),
            Err(AttachmentError::Corrupt { index: 1 })
        );
        // Swapping two full chunks: each fails at the other's index.
        assert!(cipher.open(0, &sealed[1]).is_err());
        assert!(cipher.open(1, &sealed[0]).is_err());
        // The same chunk under another blob id or another key.
        let other_blob = ChunkCipher::new(&key, BlobId::from_bytes([2; 16]), len as u64);
        assert!(other_blob.open(0, &sealed[0]).is_err());
        let other = FileKey::generate(&mut rand::rngs::StdRng::seed_from_u64(10));
        assert_ne!(other, key);
        let other_key = ChunkCipher::new(&other, blob, len as u64);
        assert!(other_key.open(0, &sealed[0]).is_err());
        // Truncation: claiming the file ends after chunk 1 (a shorter length) makes chunk 1
        // the "last" one, which it was not sealed as.
        let truncated = ChunkCipher::new(&key, blob, (BLOB_CHUNK_PLAINTEXT_LEN * 2) as u64);
        assert!(truncated.open(1, &sealed[1]).is_err());
        assert!(matches!(
            cipher.open(3, &sealed[2]),
            Err(AttachmentError::NoSuchChunk { .. })
        ));
        assert!(cipher.open(2, &sealed[2][..50]).is_err());
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces_and_checks_lengths() {
        let key = FileKey::generate(&mut rng());
        let cipher = ChunkCipher::new(&key, BlobId::from_bytes([1; 16]), 10);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let a = cipher.seal(&mut rng, 0, &[5; 10]).unwrap();
        let b = cipher.seal(&mut rng, 0, &[5; 10]).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            cipher.seal(&mut rng, 0, &[5; 9]),
            Err(AttachmentError::WrongLength { index: 0 })
        );
        assert!(format!("{key:?}").contains("redacted"));
    }
}
