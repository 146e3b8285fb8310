//! Blob bytes on disk: one file per blob, `DATA_DIR/blobs/<hex id>`, chunks back to back.
//!
//! [`BlobFiles`] owns the directory and what the relay knows about each file without asking
//! the disk: its length (for the `hush_relay_blob_bytes` gauge), how many whole chunks are
//! durable (what `BlobStatus.chunks_stored` reports), and which upload stream writes it now.
//!
//! - **One writer per blob.** [`BlobFiles::claim_upload`] cancels the blob's current upload
//!   (a newer stream takes over: a client killed mid-upload does not wait for its old
//!   connection's idle timeout) and waits until that upload has closed its file.
//! - **Durable when a stream ends.** An [`UploadFile`] is closed with `fdatasync` (and an
//!   `fsync` of the directory when the file was created) however its stream ended — also when
//!   its task is dropped, on the blocking pool. Only then do its chunks count as stored.
//! - Every method here does file I/O except the `claim`/bookkeeping ones; callers run them on
//!   the blocking pool.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use hush_protocol::BlobId;
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

use crate::blob::{chunks_in_file, file_len_for_chunks};
use crate::store::{BlobStore, StoreError};

/// Subdirectory of the data dir that holds blob files.
pub const BLOBS_DIR: &str = "blobs";

/// The blob files and what is known about them.
pub struct BlobFiles {
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<BlobId, Entry>,
    bytes: u64,
    next_upload: u64,
}

struct Entry {
    len: u64,
    durable_chunks: u32,
    upload: Option<(u64, CancellationToken)>,
    slot: Arc<tokio::sync::Mutex<()>>,
}

impl Entry {
    fn new() -> Self {
        Self {
            len: 0,
            durable_chunks: 0,
            upload: None,
            slot: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

/// What start-up reconciliation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Blobs kept (with or without a file).
    pub kept: u64,
    /// Metadata records dropped: complete blobs whose file is missing or has the wrong length.
    pub records_dropped: u64,
    /// Files deleted because no metadata names them.
    pub files_deleted: u64,
    /// Incomplete files cut back to whole chunks.
    pub files_truncated: u64,
}

/// The right to write one blob's file: held by one upload stream at a time.
pub struct UploadClaim {
    id: BlobId,
    generation: u64,
    /// Cancelled when a newer upload of the same blob takes over, or the blob is deleted.
    pub cancelled: CancellationToken,
    slot: OwnedMutexGuard<()>,
}

impl BlobFiles {
    /// The files under `dir` (created on the first upload).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            state: Mutex::new(State::default()),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a blob's bytes live.
    pub fn path(&self, id: &BlobId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bytes of blob files on disk.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Whether an upload stream is writing a blob's file now.
    pub fn uploading(&self, id: &BlobId) -> bool {
        self.lock()
            .entries
            .get(id)
            .is_some_and(|e| e.upload.is_some())
    }

    /// Whole chunks, from the first, durably in a blob's file.
    pub fn durable_chunks(&self, id: &BlobId) -> u32 {
        self.lock().entries.get(id).map_or(0, |e| e.durable_chunks)
    }

    /// Matches files with metadata at start-up (blocking): files nobody names are deleted;
    /// complete blobs whose file is missing or of the wrong length are dropped; incomplete
    /// files are cut back to whole chunks.
    pub fn reconcile(&self, store: &dyn BlobStore) -> Result<Reconciled, StoreError> {
        let io = |e: std::io::Error| StoreError::Backend(format!("blob files: {e}"));
        let mut outcome = Reconciled::default();
        let mut files: HashMap<BlobId, PathBuf> = HashMap::new();
        match std::fs::read_dir(&self.dir) {
            Ok(listing) => {
                for entry in listing {
                    let entry = entry.map_err(io)?;
                    if !entry.file_type().map_err(io)?.is_file() {
                        continue;
                    }
                    let name = entry.file_name();
                    match name.to_str().and_then(|n| n.parse::<BlobId>().ok()) {
                        Some(id) => {
                            files.insert(id, entry.path());
                        }
                        None => {
                            std::fs::remove_file(entry.path()).map_err(io)?;
                            outcome.files_deleted += 1;
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let mut state = self.lock();
        for id in store.blob_ids()? {
            let Some(record) = store.blob(&id)? else {
                continue;
            };
            let path = files.remove(&id);
            let len = match &path {
                Some(path) => std::fs::metadata(path).map_err(io)?.len(),
                None => 0,
            };
            if record.complete && len != record.size {
                tracing::warn!("dropping a complete blob whose file is missing or damaged");
                store.remove_blob(&id)?;
                if let Some(path) = path {
                    std::fs::remove_file(path).map_err(io)?;
                }
                outcome.records_dropped += 1;
                continue;
            }
            let chunks = chunks_in_file(record.size, len);
            let keep = file_len_for_chunks(record.size, chunks);
            if let Some(path) = &path
                && keep != len
            {
                let file = OpenOptions::new().write(true).open(path).map_err(io)?;
                file.set_len(keep).map_err(io)?;
                file.sync_data().map_err(io)?;
                outcome.files_truncated += 1;
            }
            let mut entry = Entry::new();
            entry.len = keep;
            entry.durable_chunks = chunks;
            state.bytes += keep;
            state.entries.insert(id, entry);
            outcome.kept += 1;
        }
        drop(state);
        for (_, path) in files {
            std::fs::remove_file(path).map_err(io)?;
            outcome.files_deleted += 1;
        }
        Ok(outcome)
    }

    /// Takes over writing a blob: cancels the upload that writes it now, and waits until that
    /// one has closed (and synced) its file. Check [`UploadClaim::cancelled`] afterwards: an
    /// even newer upload may have taken over meanwhile.
    pub async fn claim_upload(&self, id: BlobId) -> UploadClaim {
        let (generation, cancelled, slot) = {
            let mut state = self.lock();
            state.next_upload += 1;
            let generation = state.next_upload;
            let entry = state.entries.entry(id).or_insert_with(Entry::new);
            let cancelled = CancellationToken::new();
            if let Some((_, older)) = entry.upload.replace((generation, cancelled.clone())) {
                older.cancel();
            }
            (generation, cancelled, entry.slot.clone())
        };
        let slot = slot.lock_owned().await;
        UploadClaim {
            id,
            generation,
            cancelled,
            slot,
        }
    }

    /// Opens a blob's file for an upload that resumes at `first_chunk` of a blob of `size`
    /// (blocking): creates the directory and the file if needed, cuts the file back to the
    /// first `first_chunk` chunks and positions it there.
    pub fn open_upload(
        self: &Arc<Self>,
        claim: UploadClaim,
        size: u64,
        first_chunk: u32,
    ) -> std::io::Result<UploadFile> {
        let mut dir_created = false;
        if !self.dir.exists() {
            std::fs::create_dir_all(&self.dir)?;
            dir_created = true;
        }
        let path = self.path(&claim.id);
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let offset = file_len_for_chunks(size, first_chunk);
        file.set_len(offset)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut state = self.lock();
        if let Some(entry) = state.entries.get_mut(&claim.id) {
            let old = entry.len;
            entry.len = offset;
            entry.durable_chunks = entry.durable_chunks.min(first_chunk);
            state.bytes = state.bytes.saturating_sub(old).saturating_add(offset);
        }
        drop(state);
        Ok(UploadFile {
            open: Some(Open {
                files: self.clone(),
                claim,
                file: Arc::new(file),
                created,
                dir_created,
                chunks: first_chunk,
                len: offset,
            }),
        })
    }

    /// Deletes a blob's file and forgets it (blocking); cancels an upload writing it.
    /// Returns the bytes freed.
    pub fn delete(&self, id: &BlobId) -> std::io::Result<u64> {
        let freed = {
            let mut state = self.lock();
            match state.entries.remove(id) {
                Some(entry) => {
                    if let Some((_, upload)) = entry.upload {
                        upload.cancel();
                    }
                    state.bytes = state.bytes.saturating_sub(entry.len);
                    entry.len
                }
                None => 0,
            }
        };
        match std::fs::remove_file(self.path(id)) {
            Ok(()) => Ok(freed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(freed),
            Err(e) => Err(e),
        }
    }

    fn sync_dir(path: &Path) -> std::io::Result<()> {
        File::open(path)?.sync_all()
    }
}

/// A blob file open for one upload stream. Closing it ([`UploadFile::close`], or dropping it)
/// makes what was written durable and records the whole chunks as stored.
pub struct UploadFile {
    open: Option<Open>,
}

struct Open {
    files: Arc<BlobFiles>,
    claim: UploadClaim,
    file: Arc<File>,
    created: bool,
    dir_created: bool,
    chunks: u32,
    len: u64,
}

impl Open {
    /// fdatasync, the directory on creation, then the bookkeeping; releases the claim.
    fn close(self) -> std::io::Result<u32> {
        let result = self.file.sync_data().and_then(|()| {
            if self.dir_created
                && let Some(parent) = self.files.dir.parent()
            {
                BlobFiles::sync_dir(parent)?;
            }
            if self.created {
                BlobFiles::sync_dir(&self.files.dir)?;
            }
            Ok(())
        });
        let mut state = self.files.lock();
        if let Some(entry) = state.entries.get_mut(&self.claim.id) {
            if result.is_ok() {
                entry.durable_chunks = self.chunks;
            }
            if entry
                .upload
                .as_ref()
                .is_some_and(|(generation, _)| *generation == self.claim.generation)
            {
                entry.upload = None;
            }
        }
        drop(state);
        drop(self.claim.slot);
        result.map(|()| self.chunks)
    }
}

impl UploadFile {
    /// A handle to write the next chunk with (on the blocking pool): chunks are written in
    /// order at the file's position.
    pub fn writer(&self) -> Option<Arc<File>> {
        self.open.as_ref().map(|o| o.file.clone())
    }

    /// Records that a chunk of `len` bytes was written.
    pub fn wrote_chunk(&mut self, len: usize) {
        let Some(open) = &mut self.open else { return };
        open.chunks += 1;
        open.len += len as u64;
        let mut state = open.files.lock();
        if let Some(entry) = state.entries.get_mut(&open.claim.id) {
            let old = entry.len;
            entry.len = open.len;
            state.bytes = state.bytes.saturating_sub(old).saturating_add(open.len);
        }
    }

    /// Whether a newer upload took over or the blob was deleted.
    pub fn cancelled(&self) -> Option<CancellationToken> {
        self.open.as_ref().map(|o| o.claim.cancelled.clone())
    }

    /// Makes the written chunks durable; returns how many whole chunks the file holds.
    pub async fn close(mut self) -> std::io::Result<u32> {
        let Some(open) = self.open.take() else {
            return Ok(0);
        };
        tokio::task::spawn_blocking(move || open.close())
            .await
            .map_err(std::io::Error::other)?
    }
}

impl Drop for UploadFile {
    fn drop(&mut self) {
        // The task was dropped mid-stream (connection or relay shutting down): still make what
        // was written durable, on the blocking pool, before the next upload may start.
        if let Some(open) = self.open.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn_blocking(move || {
                if let Err(error) = open.close() {
                    tracing::error!(%error, "syncing a blob file failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use hush_protocol::MailboxId;
    use hush_protocol::limits::BLOB_CHUNK_LEN;

    use super::*;
    use crate::blob::{BlobRecord, NewBlob};
    use crate::store::{Directory, MemoryStore};

    const FULL: u64 = BLOB_CHUNK_LEN as u64;

    fn create(store: &MemoryStore, n: u8, size: u64, complete: bool) -> BlobId {
        let a = store
            .create_mailbox([1; 32], MailboxId::from_bytes([1; 16]), 0)
            .unwrap();
        let id = BlobId::from_bytes([n; 16]);
        let blob = NewBlob {
            id,
            record: BlobRecord {
                uploader: a,
                size,
                recipients: vec![a],
                ttl_secs: 0,
                remaining: vec![a],
                created_at: 0,
                expires_at: 100,
                complete: false,
            },
        };
        store.create_blob(&blob, u64::MAX).unwrap();
        if complete {
            store.complete_blob(&id).unwrap();
        }
        id
    }

    fn write(path: &Path, len: u64) {
        let mut file = File::create(path).unwrap();
        file.write_all(&vec![7u8; len as usize]).unwrap();
    }

    #[test]
    fn reconcile_matches_files_with_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let files = BlobFiles::new(dir.path().join(BLOBS_DIR));
        std::fs::create_dir_all(files.dir()).unwrap();
        let store = MemoryStore::new();
        let partial = create(&store, 1, 3 * FULL, false);
        let whole = create(&store, 2, FULL + 5, true);
        let lost = create(&store, 3, 10, true);
        let empty = create(&store, 4, 10, false);
        let damaged = create(&store, 6, 10, true);
        write(&files.path(&partial), FULL + 100);
        write(&files.path(&whole), FULL + 5);
        write(&files.path(&damaged), 9);
        write(&files.path(&BlobId::from_bytes([5; 16])), 10);
        write(&files.dir().join("stray.tmp"), 10);
        let outcome = files.reconcile(&store).unwrap();
        assert_eq!(
            outcome,
            Reconciled {
                kept: 3,
                records_dropped: 2,
                files_deleted: 2,
                files_truncated: 1,
            }
        );
        assert_eq!(std::fs::metadata(files.path(&partial)).unwrap().len(), FULL);
        assert_eq!(files.durable_chunks(&partial), 1);
        assert_eq!(files.durable_chunks(&whole), 2);
        assert_eq!(files.durable_chunks(&empty), 0);
        assert!(store.blob(&lost).unwrap().is_none());
        assert!(store.blob(&damaged).unwrap().is_none());
        assert!(!files.path(&damaged).exists());
        assert!(!files.path(&BlobId::from_bytes([5; 16])).exists());
        assert!(!files.dir().join("stray.tmp").exists());
        assert_eq!(files.bytes(), FULL + FULL + 5);
    }

    #[tokio::test]
    async fn a_newer_claim_cancels_and_waits_for_the_older_upload() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(BlobFiles::new(dir.path().join(BLOBS_DIR)));
        let id = BlobId::from_bytes([1; 16]);
        let first = files.claim_upload(id).await;
        let token = first.cancelled.clone();
        let mut upload = files.open_upload(first, 2 * FULL, 0).unwrap();
        (&*upload.writer().unwrap())
            .write_all(&vec![1u8; BLOB_CHUNK_LEN])
            .unwrap();
        upload.wrote_chunk(BLOB_CHUNK_LEN);
        assert_eq!(files.durable_chunks(&id), 0, "not durable before close");
        let newer = {
            let files = files.clone();
            tokio::spawn(async move { files.claim_upload(id).await })
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), token.cancelled())
            .await
            .unwrap();
        assert!(!newer.is_finished(), "waits for the older upload to close");
        assert_eq!(upload.close().await.unwrap(), 1);
        let second = newer.await.unwrap();
        assert!(!second.cancelled.is_cancelled());
        assert_eq!(files.durable_chunks(&id), 1);
        assert_eq!(files.bytes(), FULL);
        // Resuming at 0 cuts the file back.
        let upload = files.open_upload(second, 2 * FULL, 0).unwrap();
        assert_eq!(files.bytes(), 0);
        drop(upload); // closes on the blocking pool
        assert_eq!(files.delete(&id).unwrap(), 0);
        assert!(!files.path(&id).exists());
    }
}
