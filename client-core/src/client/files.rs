//! Files: encrypted, chunked, resumable uploads and checked, resumable downloads.
//!
//! Sending a file: the relay is asked first (`CreateBlob`: size and quota limits answer before
//! anything is read), then the file is hashed, the history entry and an upload record are saved
//! together, and the chunks are sealed and uploaded straight from the file. Once the relay holds
//! every chunk, the message sharing the file (blob id, key, size, hash, name, type, thumbnail)
//! goes into the outbox like any other. An interrupted upload stays recorded; the next
//! [`Client::resume_uploads`] (every `sync`) asks the relay how far it got and sends only the
//! rest.
//!
//! Saving a file: chunks are downloaded, opened and written to `<destination>.<id8>.hush-part` as
//! they arrive (never the whole file in memory). An interrupted download resumes from the whole
//! chunks already written. The SHA-256 is checked before the part file is renamed to its
//! destination; any chunk that fails authentication, or a wrong hash, refuses the file. Then the
//! relay is told (`BlobFetched`), so it can delete the blob once every recipient has it.
//!
//! # Local steps and transfer jobs
//!
//! Every transfer is split into short **local steps** on the [`Client`] (store reads and writes)
//! and a **job** that owns what it needs, borrows no `Client`, and talks to the relay over a
//! [`BlobChannel`] — so a service can run the job on a task of its own while it keeps serving
//! other calls:
//!
//! - sending: [`Client::draft_file`] → [`FileDraft::check`] (the relay's limits) →
//!   [`FileDraft::read`] (hash, thumbnail; reads the whole file) → [`Client::record_upload`] →
//!   [`UploadJob::run`] → [`Client::queue_file_message`] (then flush the outbox);
//!   [`Client::upload_job`] rebuilds the job of a recorded upload to resume it, and
//!   [`Client::fail_upload`] gives up on one whose source changed;
//! - saving: [`Client::prepare_save`] (marks the file `partial`) → [`SaveJob::run`] →
//!   [`Client::finish_save`] (`saved`, `corrupt` or `expired`);
//! - telling the relay about saved files it missed: [`Client::release_job`] →
//!   [`ReleaseJob::run`] → [`Client::mark_released`].
//!
//! [`Client::send_file`], [`Client::save_file`], [`Client::resume_uploads`] and
//! [`Client::release_saved`] chain those steps on one connection, for the CLI.
//!
//! # Layout
//! - this file: what both directions share — progress, reports, the rate pace, peer file
//!   names, listing received files, recording an incoming one;
//! - `upload`: sending ([`FileDraft`], [`UploadJob`], resuming and giving up);
//! - `save`: saving ([`SaveJob`], part files, [`ReleaseJob`]).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use hush_protocol::limits::BLOB_CHUNK_PLAINTEXT_LEN;
use hush_protocol::{BlobId, ErrorCode, MailboxId};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::records::{
    ConversationId, Direction, FileInfo, FileRecord, FileState, Message, Status, UploadRecord,
    message_key,
};
use super::send::SendOutcome;
use super::{Client, ClientError, now_ms, rng};
use crate::attachment::preview;
use crate::attachment::{AttachmentError, ChunkCipher, ChunkLayout, FileAttachment, FileKey};
use crate::content::{Body, MessageId};
use crate::local_store::Slot;
use crate::transport::{BlobChannel, RelayConnection, TransportError};

mod save;
mod upload;

pub use save::{ReleaseJob, SaveDone, SaveJob};
pub use upload::{FileDraft, PreparedFile, UploadJob};

/// How far a transfer got, for progress displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferProgress {
    /// The file's name.
    pub name: String,
    /// Upload or download.
    pub direction: Direction,
    /// Plaintext bytes done, including those done before a resume.
    pub done: u64,
    /// Plaintext bytes in all.
    pub total: u64,
}

/// Where progress reports go (set with [`Client::set_progress`]).
pub type ProgressSink = Box<dyn FnMut(&TransferProgress) + Send + Sync>;

/// Where a job reports its progress while it runs.
pub type Progress<'a> = &'a mut (dyn FnMut(&TransferProgress) + Send);

/// What one upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadReport {
    /// The message sharing the file.
    pub message: MessageId,
    /// The file's name.
    pub name: String,
    /// Plaintext bytes the relay already had when this upload (re)started.
    pub resumed_from: u64,
    /// Ciphertext bytes sent this time.
    pub sent_bytes: u64,
    /// Plaintext bytes of the file.
    pub size: u64,
}

/// What [`Client::send_file`] did.
#[derive(Debug)]
pub enum FileSendOutcome {
    /// Uploaded, and the message sharing it handed to the relay (or queued behind others).
    Sent {
        /// The message, as in the history.
        message: Message,
        /// The upload.
        upload: UploadReport,
    },
    /// Not sent now (the relay is unreachable, or the upload was cut off); `hush sync`
    /// resumes it.
    Queued {
        /// The message, as in the history.
        message: Message,
        /// Why.
        reason: String,
    },
}

/// What [`Client::save_file`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveReport {
    /// The message sharing the file (updated: state `Saved`).
    pub message: Message,
    /// Where the file is now.
    pub path: PathBuf,
    /// Plaintext bytes already downloaded before this run.
    pub resumed_from: u64,
    /// Ciphertext bytes downloaded this time.
    pub downloaded_bytes: u64,
}

/// Extension of a partial download next to its destination.
pub const PART_SUFFIX: &str = ".hush-part";

fn file_error(path: &Path, error: std::io::Error) -> ClientError {
    ClientError::File(format!("{}: {error}", path.display()))
}

fn random_blob_id() -> Result<BlobId, ClientError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| ClientError::InvalidInput("no randomness".into()))?;
    Ok(BlobId::from_bytes(bytes))
}

/// SHA-256 of the first `len` bytes of `path`; an error if it has fewer.
fn hash_prefix(path: &Path, len: u64) -> Result<Sha256, ClientError> {
    let mut file = File::open(path).map_err(|e| file_error(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = Zeroizing::new(vec![0u8; 1 << 20]);
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let Some(slice) = buf.get_mut(..want) else {
            break;
        };
        file.read_exact(slice).map_err(|e| file_error(path, e))?;
        hasher.update(&*slice);
        left -= want as u64;
    }
    Ok(hasher)
}

/// Runs blocking file work (hashing a whole file) on tokio's blocking threads, so a transfer
/// never holds up the runtime's workers.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ClientError::File(format!("file work was interrupted: {error}")))?
}

/// A file name from a peer made safe to use as one path component, on every platform: no
/// directories, no leading dots, no control or invisible formatting characters (a
/// right-to-left override could disguise `gpj.exe` as `exe.jpg`), none of `:<>"|?*` (Windows
/// drive and stream syntax), and no reserved Windows device names.
pub fn safe_file_name(name: &str) -> String {
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{061c}' | '\u{feff}');
    let cleaned: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && !invisible(*c))
        .map(|c| {
            if matches!(c, ':' | '<' | '>' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' '])
        .to_owned();
    let mut cleaned = if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned
    };
    let stem = cleaned
        .split('.')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes().get(3).is_some_and(u8::is_ascii_digit));
    if reserved {
        cleaned.insert(0, '_');
    }
    while cleaned.len() > 200 {
        cleaned.pop();
    }
    cleaned
}

/// Keeps a transfer at or under a rate: after each chunk, waits until the bytes so far are due.
struct Pace {
    start: tokio::time::Instant,
    bytes: u64,
    rate: Option<u64>,
}

impl Pace {
    fn new(rate: Option<u64>) -> Self {
        Self {
            start: tokio::time::Instant::now(),
            bytes: 0,
            rate: rate.filter(|r| *r > 0),
        }
    }

    async fn after(&mut self, bytes: u64) {
        self.bytes += bytes;
        if let Some(rate) = self.rate {
            let due = std::time::Duration::from_secs_f64(self.bytes as f64 / rate as f64);
            tokio::time::sleep_until(self.start + due).await;
        }
    }
}

fn message_id_of(key: &[u8]) -> Option<MessageId> {
    <[u8; 16]>::try_from(key).ok().map(MessageId)
}

impl Client {
    /// Limits file transfers to about `bytes_per_sec` (`None`: as fast as the link allows).
    pub fn set_rate_limit(&mut self, bytes_per_sec: Option<u64>) {
        self.rate_limit = bytes_per_sec;
    }

    /// The transfer rate limit, bytes per second (`None`: none).
    pub fn rate_limit(&self) -> Option<u64> {
        self.rate_limit
    }

    /// Leaves recorded uploads to the caller, who runs them as [`UploadJob`]s
    /// ([`Client::upload_job`]): [`Client::resume_uploads`], and so [`Client::sync`], no longer
    /// upload (so they never hold the client for a transfer's duration).
    pub fn defer_uploads(&mut self, deferred: bool) {
        self.uploads_deferred = deferred;
    }

    /// Where transfer progress is reported (`None`: nowhere).
    pub fn set_progress(&mut self, sink: Option<ProgressSink>) {
        self.progress = sink;
    }

    /// Received files, oldest first; only those of one conversation if `who` is given.
    pub fn files(&self, who: Option<&str>) -> Result<Vec<Message>, ClientError> {
        let conversation = who.map(|w| self.resolve_conversation(w)).transpose()?;
        let mut files = Vec::new();
        for (key, _) in self.store.scan::<FileRecord>(Slot::Files, b"", false)? {
            let Some(id) = message_id_of(&key) else {
                continue;
            };
            if let Some(message) = self.message(&id)?
                && conversation.is_none_or(|c| c == message.conversation)
            {
                files.push(message);
            }
        }
        files.sort_by_key(|m| (m.received_at_ms, m.id));
        Ok(files)
    }

    /// A received file by its message id, or a unique prefix of it (at least 4 hex digits).
    pub fn file_message(&self, id: &str) -> Result<Message, ClientError> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 4 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::InvalidInput(format!(
                "{id:?} is not a file id (see `hush files`)"
            )));
        }
        let mut found = self
            .files(None)?
            .into_iter()
            .filter(|m| m.id.to_string().starts_with(&id));
        match (found.next(), found.next()) {
            (Some(message), None) => Ok(message),
            (None, _) => Err(ClientError::InvalidInput(format!(
                "no received file with id {id} (see `hush files`)"
            ))),
            (Some(_), Some(_)) => Err(ClientError::InvalidInput(format!(
                "{id} matches several files; give more of the id"
            ))),
        }
    }

    /// A received file message: the history entry and the file's record, staged in `batch`.
    pub(crate) fn incoming_file_message(
        &self,
        batch: &mut crate::local_store::WriteBatch,
        message: &mut Message,
        attachment: FileAttachment,
    ) -> Result<(), ClientError> {
        message.file = Some(file_info(&attachment, FileState::Available));
        let record = FileRecord {
            attachment,
            partial: None,
            release_pending: false,
        };
        self.store
            .put_in(batch, Slot::Files, &message.id.0, &record)?;
        Ok(())
    }
}

fn attachment_error(error: AttachmentError) -> ClientError {
    ClientError::FileCorrupt(error.to_string())
}

/// What the user sees of an attachment.
fn file_info(attachment: &FileAttachment, state: FileState) -> FileInfo {
    FileInfo {
        name: safe_file_name(&attachment.name),
        size: attachment.size,
        mime: attachment.mime.clone(),
        sha256: hex::encode(attachment.sha256),
        state,
        // A peer's thumbnail is shown only if it looks like what senders make: a small JPEG.
        thumbnail: attachment.thumbnail.clone().filter(|t| {
            t.len() <= preview::MAX_THUMBNAIL_LEN && t.starts_with(&[0xff, 0xd8, 0xff])
        }),
        saved_to: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_file_names_become_one_safe_component() {
        assert_eq!(safe_file_name("photo.jpg"), "photo.jpg");
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name("a\u{1b}[31mred"), "a[31mred");
        assert_eq!(safe_file_name(""), "file");
        assert_eq!(safe_file_name(".."), "file");
        assert!(safe_file_name(&"x".repeat(500)).len() <= 200);
        assert_eq!(safe_file_name("photo\u{202e}gpj.exe"), "photogpj.exe");
        assert_eq!(safe_file_name("C:evil"), "C_evil");
        assert_eq!(safe_file_name("a:b|c?.txt"), "a_b_c_.txt");
        assert_eq!(safe_file_name("CON.txt"), "_CON.txt");
        assert_eq!(safe_file_name("com1"), "_com1");
        assert_eq!(safe_file_name("console.log"), "console.log");
        assert_eq!(safe_file_name("name. "), "name");
    }
}
