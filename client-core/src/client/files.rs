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
//! Saving a file: chunks are downloaded, opened and written to `<destination>.hush-part` as they
//! arrive (never the whole file in memory). An interrupted download resumes from the whole
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

/// Maps a relay refusal at `CreateBlob` to an error the sender understands.
fn create_refusal(error: TransportError, size: u64) -> ClientError {
    match &error {
        TransportError::Refused(frame) if frame.code == ErrorCode::TooLarge => {
            ClientError::InvalidInput(format!(
                "the file is too large for the relay ({size} bytes): {}",
                frame.message
            ))
        }
        TransportError::Refused(frame) if frame.code == ErrorCode::QuotaExceeded => {
            ClientError::InvalidInput(format!(
                "no room on the relay for this file: {}",
                frame.message
            ))
        }
        _ => error.into(),
    }
}

/// The relay no longer has a blob (expired, or released by everyone).
fn is_unknown_blob(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Transport(TransportError::Refused(frame)) if frame.code == ErrorCode::UnknownBlob
    )
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

/// A file about to be sent, checked locally (a regular file, a conversation with someone in
/// it) but not read yet. From [`Client::draft_file`].
#[derive(Debug)]
pub struct FileDraft {
    conversation: ConversationId,
    recipients: Vec<MailboxId>,
    path: PathBuf,
    name: String,
    size: u64,
    blob: BlobId,
    caption: Option<String>,
}

impl FileDraft {
    /// The name the file is sent under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The blob it will be (to abandon it on the relay if reading fails after the check).
    pub fn blob(&self) -> BlobId {
        self.blob
    }

    /// Asks the relay whether it takes the file (`CreateBlob`): a file over its size limit or
    /// a blob quota is refused here, before anything is read.
    pub async fn check(&self, blobs: &BlobChannel) -> Result<(), ClientError> {
        blobs
            .create_blob(
                self.blob,
                ChunkLayout::new(self.size).blob_len(),
                self.recipients.clone(),
            )
            .await
            .map(drop)
            .map_err(|error| create_refusal(error, self.size))
    }

    /// Reads the file: its SHA-256 and, for an image, a thumbnail; draws the file's key.
    /// Blocking I/O over the whole file (in async code, run it on a blocking thread).
    pub fn read(self) -> Result<PreparedFile, ClientError> {
        let sha256: [u8; 32] = hash_prefix(&self.path, self.size)?.finalize().into();
        let mime = preview::mime_for(&self.name);
        let thumbnail = if mime.starts_with("image/") {
            File::open(&self.path).ok().and_then(preview::thumbnail)
        } else {
            None
        };
        let attachment = FileAttachment {
            blob: self.blob,
            key: FileKey::generate(&mut rng()),
            size: self.size,
            sha256,
            name: self.name.clone(),
            mime,
            thumbnail,
        };
        Ok(PreparedFile {
            draft: self,
            attachment,
        })
    }
}

/// A file read and ready to be recorded ([`Client::record_upload`]). Holds the file's key
/// (never shown by `Debug`).
#[derive(Debug)]
pub struct PreparedFile {
    draft: FileDraft,
    attachment: FileAttachment,
}

/// Uploading one recorded file (what the relay does not hold yet), without the [`Client`]:
/// from [`Client::record_upload`] or [`Client::upload_job`]; run with [`UploadJob::run`].
pub struct UploadJob {
    message: MessageId,
    path: PathBuf,
    attachment: FileAttachment,
    recipients: Vec<MailboxId>,
    /// A resumed upload checks the source is still the file that was hashed.
    verify_source: bool,
}

impl std::fmt::Debug for UploadJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadJob")
            .field("message", &self.message)
            .field("size", &self.attachment.size)
            .finish_non_exhaustive()
    }
}

impl UploadJob {
    /// The message sharing the file.
    pub fn message_id(&self) -> MessageId {
        self.message
    }

    /// The file's name.
    pub fn name(&self) -> &str {
        &self.attachment.name
    }

    /// Asks the relay how far the upload got, then seals and sends the remaining chunks,
    /// reporting `progress`, at most `rate` bytes per second. A source file that changed or
    /// vanished since it was hashed is [`ClientError::File`] (give up:
    /// [`Client::fail_upload`]); a transient transport error means "resume later".
    pub async fn run(
        self,
        blobs: &BlobChannel,
        progress: Progress<'_>,
        rate: Option<u64>,
    ) -> Result<UploadReport, ClientError> {
        let attachment = &self.attachment;
        let layout = ChunkLayout::new(attachment.size);
        let status = blobs
            .create_blob(attachment.blob, layout.blob_len(), self.recipients.clone())
            .await
            .map_err(|e| create_refusal(e, attachment.size))?;
        if status.size != layout.blob_len() {
            return Err(
                TransportError::Protocol("the relay reports another blob size".into()).into(),
            );
        }
        let chunks = layout.chunks();
        let first = if status.complete {
            chunks
        } else {
            u64::from(status.chunks_stored).min(chunks)
        };
        let path = self.path.clone();
        let mut report = UploadReport {
            message: self.message,
            name: attachment.name.clone(),
            resumed_from: layout.plaintext_offset(first).min(attachment.size),
            sent_bytes: 0,
            size: attachment.size,
        };
        if status.complete {
            return Ok(report);
        }
        if first >= chunks {
            // Every chunk is on the relay but the blob is not marked complete (the relay
            // stopped between the last chunk and its record): an upload stream with no chunks
            // makes it complete.
            let status = blobs
                .upload_blob(attachment.blob, status.chunks_stored)
                .await?
                .finish()
                .await?;
            if !status.complete {
                return Err(
                    TransportError::Closed("the relay did not complete the upload".into()).into(),
                );
            }
            return Ok(report);
        }
        if self.verify_source {
            // The chunks already on the relay were sealed from the file as it was when it was
            // hashed; the rest must come from the same bytes.
            let (source, size, sha256) = (path.clone(), attachment.size, attachment.sha256);
            let same = off_thread(move || {
                let same_size = std::fs::metadata(&source)
                    .map(|m| m.len() == size)
                    .unwrap_or(false);
                Ok(same_size && <[u8; 32]>::from(hash_prefix(&source, size)?.finalize()) == sha256)
            })
            .await?;
            if !same {
                return Err(ClientError::File(format!(
                    "{} changed or disappeared since it was sent; send it again",
                    path.display()
                )));
            }
        }
        let cipher = ChunkCipher::new(&attachment.key, attachment.blob, attachment.size);
        let mut file = File::open(&path).map_err(|e| file_error(&path, e))?;
        file.seek(SeekFrom::Start(layout.plaintext_offset(first)))
            .map_err(|e| file_error(&path, e))?;
        let first_chunk =
            u32::try_from(first).map_err(|_| ClientError::InvalidInput("file too large".into()))?;
        let mut upload = blobs.upload_blob(attachment.blob, first_chunk).await?;
        let mut buf = Zeroizing::new(vec![0u8; BLOB_CHUNK_PLAINTEXT_LEN]);
        let mut pace = Pace::new(rate);
        for index in first..chunks {
            let len = layout
                .plaintext_chunk_len(index)
                .map_err(attachment_error)?;
            let slice = buf
                .get_mut(..len)
                .ok_or_else(|| ClientError::InvalidInput("chunk too large".into()))?;
            file.read_exact(slice).map_err(|e| file_error(&path, e))?;
            let sealed = cipher
                .seal(&mut rng(), index, slice)
                .map_err(attachment_error)?;
            report.sent_bytes += sealed.len() as u64;
            let sealed_len = sealed.len() as u64;
            upload.send_chunk(sealed).await?;
            pace.after(sealed_len).await;
            progress(&TransferProgress {
                name: attachment.name.clone(),
                direction: Direction::Outgoing,
                done: layout.plaintext_offset(index) + len as u64,
                total: attachment.size,
            });
        }
        let status = upload.finish().await?;
        if !status.complete {
            return Err(
                TransportError::Closed("the relay did not complete the upload".into()).into(),
            );
        }
        Ok(report)
    }
}

/// Downloading and saving one received file, without the [`Client`]: from
/// [`Client::prepare_save`]; run with [`SaveJob::run`], then hand the result to
/// [`Client::finish_save`].
pub struct SaveJob {
    message: MessageId,
    attachment: FileAttachment,
    target: PathBuf,
    part: PathBuf,
    /// The first chunk to download (those before it are in the part file).
    first: u64,
    resumed_from: u64,
}

impl std::fmt::Debug for SaveJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaveJob")
            .field("message", &self.message)
            .field("size", &self.attachment.size)
            .field("resumed_from", &self.resumed_from)
            .finish_non_exhaustive()
    }
}

/// What a [`SaveJob`] did; [`Client::finish_save`] records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveDone {
    /// Where the file is now (canonical).
    pub path: PathBuf,
    /// Plaintext bytes already downloaded before this run.
    pub resumed_from: u64,
    /// Ciphertext bytes downloaded this time.
    pub downloaded_bytes: u64,
    /// The relay was told the file is fetched (`BlobFetched`); if not, a later
    /// [`Client::release_job`] retries.
    pub released: bool,
}

impl SaveJob {
    /// The message sharing the file.
    pub fn message_id(&self) -> MessageId {
        self.message
    }

    /// The file's name.
    pub fn name(&self) -> &str {
        &self.attachment.name
    }

    /// Downloads the chunks the part file lacks, checking each, writes and syncs them, checks
    /// the SHA-256, renames the part file to the destination and tells the relay the file is
    /// fetched. A refused file ([`ClientError::FileCorrupt`], or an expired blob) loses its
    /// part file; [`Client::finish_save`] records the outcome either way.
    pub async fn run(
        self,
        blobs: &BlobChannel,
        progress: Progress<'_>,
        rate: Option<u64>,
    ) -> Result<SaveDone, ClientError> {
        let (part, resumed_from, fresh) = (self.part.clone(), self.resumed_from, self.first == 0);
        // Resume from the whole chunks a previous run wrote (hashing them again).
        let (mut out, mut hasher) = off_thread(move || {
            let mut out = open_part(&part, fresh)?;
            out.set_len(resumed_from)
                .map_err(|e| file_error(&part, e))?;
            out.seek(SeekFrom::Start(resumed_from))
                .map_err(|e| file_error(&part, e))?;
            let hasher = hash_prefix(&part, resumed_from)?;
            Ok((out, hasher))
        })
        .await?;
        let mut downloaded = 0u64;
        let result = download(
            blobs,
            &self.attachment,
            self.first,
            &mut out,
            &mut hasher,
            &mut downloaded,
            progress,
            rate,
        )
        .await;
        if let Err(error) = result {
            if matches!(error, ClientError::FileCorrupt(_)) || is_unknown_blob(&error) {
                // Nothing more will come of this part file.
                drop(out);
                let _ = std::fs::remove_file(&self.part);
            }
            return Err(error);
        }
        out.sync_all().map_err(|e| file_error(&self.part, e))?;
        drop(out);
        let digest: [u8; 32] = hasher.finalize().into();
        if digest != self.attachment.sha256 {
            let _ = std::fs::remove_file(&self.part);
            return Err(ClientError::FileCorrupt(
                "the file's SHA-256 does not match what the sender said: refused".into(),
            ));
        }
        let appeared = || {
            ClientError::File(format!(
                "{} appeared meanwhile; the download stays in {}",
                self.target.display(),
                self.part.display()
            ))
        };
        // Never replace a file that appeared at the destination meanwhile: a hard link fails if
        // the name exists (a file system without hard links falls back to a checked rename).
        match std::fs::hard_link(&self.part, &self.target) {
            Ok(()) => {
                let _ = std::fs::remove_file(&self.part);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(appeared());
            }
            Err(_) => {
                if self.target.exists() {
                    return Err(appeared());
                }
                std::fs::rename(&self.part, &self.target)
                    .map_err(|e| file_error(&self.target, e))?;
            }
        }
        // The new name must survive a crash before the relay may delete its copy.
        if let Some(parent) = self.target.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        let path = std::fs::canonicalize(&self.target).unwrap_or_else(|_| self.target.clone());
        let released = release(blobs, self.attachment.blob).await;
        Ok(SaveDone {
            path,
            resumed_from,
            downloaded_bytes: downloaded,
            released,
        })
    }
}

/// Tells the relay this mailbox has a blob; `false` if it could not be told (retry later).
async fn release(blobs: &BlobChannel, blob: BlobId) -> bool {
    match blobs.release_blob(blob).await {
        Ok(()) => true,
        Err(TransportError::Refused(frame)) if frame.code == ErrorCode::UnknownBlob => true,
        Err(_) => false,
    }
}

/// Telling the relay about saved files it was not told about yet: from
/// [`Client::release_job`]; the ids [`ReleaseJob::run`] returns go to
/// [`Client::mark_released`].
#[derive(Debug, Default)]
pub struct ReleaseJob {
    pending: Vec<(MessageId, BlobId)>,
}

impl ReleaseJob {
    /// Nothing to tell.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Sends `BlobFetched` for each file; returns those the relay now knows about.
    pub async fn run(self, blobs: &BlobChannel) -> Vec<MessageId> {
        let mut released = Vec::new();
        for (id, blob) in self.pending {
            if release(blobs, blob).await {
                released.push(id);
            }
        }
        released
    }
}

/// Downloads chunks `first..` into `out`, checking each.
#[allow(clippy::too_many_arguments)]
async fn download(
    blobs: &BlobChannel,
    attachment: &FileAttachment,
    first: u64,
    out: &mut File,
    hasher: &mut Sha256,
    downloaded: &mut u64,
    progress: Progress<'_>,
    rate: Option<u64>,
) -> Result<(), ClientError> {
    let layout = ChunkLayout::new(attachment.size);
    let chunks = layout.chunks();
    if first >= chunks {
        return Ok(());
    }
    let first_chunk =
        u32::try_from(first).map_err(|_| ClientError::InvalidInput("file too large".into()))?;
    let mut download = blobs.download_blob(attachment.blob, first_chunk).await?;
    let status = download.status();
    if status.size != layout.blob_len() || !status.complete {
        return Err(ClientError::FileCorrupt(
            "the relay's copy does not have the size the sender said: refused".into(),
        ));
    }
    let cipher = ChunkCipher::new(&attachment.key, attachment.blob, attachment.size);
    let mut pace = Pace::new(rate);
    for index in first..chunks {
        let Some(chunk) = download.next_chunk().await? else {
            return Err(TransportError::Closed("the download was cut off".into()).into());
        };
        *downloaded += chunk.len() as u64;
        let plain = cipher.open(index, &chunk).map_err(|error| match error {
            AttachmentError::Corrupt { index } | AttachmentError::WrongLength { index } => {
                ClientError::FileCorrupt(format!(
                    "chunk {index} of the file failed authentication (altered on the relay or on the way): refused"
                ))
            }
            other => attachment_error(other),
        })?;
        out.write_all(&plain)
            .map_err(|e| ClientError::File(format!("writing the download: {e}")))?;
        hasher.update(&*plain);
        pace.after(chunk.len() as u64).await;
        progress(&TransferProgress {
            name: attachment.name.clone(),
            direction: Direction::Incoming,
            done: layout.plaintext_offset(index) + plain.len() as u64,
            total: attachment.size,
        });
    }
    if download.next_chunk().await?.is_some() {
        return Err(ClientError::FileCorrupt(
            "the relay sent more chunks than the file has: refused".into(),
        ));
    }
    Ok(())
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

    /// Runs an upload job with this client's progress sink and rate limit.
    async fn run_upload(
        &mut self,
        job: UploadJob,
        blobs: &BlobChannel,
    ) -> Result<UploadReport, ClientError> {
        let rate = self.rate_limit;
        let sink = &mut self.progress;
        let mut progress = |p: &TransferProgress| {
            if let Some(sink) = sink.as_mut() {
                sink(p);
            }
        };
        job.run(blobs, &mut progress, rate).await
    }

    /// Sends a file to a contact or `#group`, with an optional caption.
    ///
    /// The relay's size and quota limits are checked before the file is read. When the relay
    /// cannot be reached, or the upload is cut off, the file waits (as an upload record) for
    /// the next `sync`, which resumes where the relay's copy ends.
    pub async fn send_file(
        &mut self,
        who: &str,
        path: &Path,
        caption: Option<&str>,
    ) -> Result<FileSendOutcome, ClientError> {
        let draft = self.draft_file(who, path, caption)?;

        // Limits first: a sender learns the file is too large before anything is read.
        let connection = match self.connect().await {
            Ok(connection) => Some(connection),
            Err(ClientError::Transport(error)) if error.is_transient() => None,
            Err(error) => return Err(error),
        };
        let refusal = match &connection {
            Some(connection) => draft.check(&connection.blobs()).await.err(),
            None => None,
        };
        if let Some(error) = refusal {
            if let Some(connection) = connection {
                connection.close().await;
            }
            return Err(error);
        }

        let blob = draft.blob();
        let file = match draft.read() {
            Ok(file) => file,
            Err(error) => {
                if let Some(connection) = connection {
                    // Announced but never to be sent: give the relay its quota back.
                    let _ = connection.blobs().abandon_blob(blob).await;
                    connection.close().await;
                }
                return Err(error);
            }
        };
        let (message, job) = self.record_upload(file)?;
        let Some(connection) = connection else {
            return Ok(FileSendOutcome::Queued {
                message,
                reason: "the relay is unreachable".into(),
            });
        };
        let outcome = self.finish_one(&connection, job).await;
        connection.close().await;
        outcome
    }

    /// Checks a file can be sent to `who` (a contact or `#group`): a regular file, and someone
    /// to send it to. Local only: nothing is read yet.
    pub fn draft_file(
        &self,
        who: &str,
        path: &Path,
        caption: Option<&str>,
    ) -> Result<FileDraft, ClientError> {
        let conversation = self.resolve_conversation(who)?;
        let (recipients, _) = self.conversation_recipients(&conversation)?;
        if recipients.is_empty() {
            return Err(ClientError::InvalidInput(
                "nobody else is in that group".into(),
            ));
        }
        let metadata = std::fs::metadata(path).map_err(|e| file_error(path, e))?;
        if !metadata.is_file() {
            return Err(ClientError::File(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let path = std::fs::canonicalize(path).map_err(|e| file_error(path, e))?;
        let name = safe_file_name(&path.file_name().unwrap_or_default().to_string_lossy());
        Ok(FileDraft {
            conversation,
            recipients,
            path,
            name,
            size: metadata.len(),
            blob: random_blob_id()?,
            caption: caption.map(str::to_owned),
        })
    }

    /// Saves the history entry (file state `uploading`, status `queued`) and the upload record
    /// of a new file, atomically; returns the message and the job that uploads it.
    pub fn record_upload(&self, file: PreparedFile) -> Result<(Message, UploadJob), ClientError> {
        let PreparedFile { draft, attachment } = file;
        let id =
            MessageId::random().ok_or_else(|| ClientError::InvalidInput("no randomness".into()))?;
        let now = now_ms();
        let conversation = draft.conversation;
        let key = message_key(&conversation, self.store.next_seq()?);
        let message = Message {
            id,
            conversation,
            direction: Direction::Outgoing,
            sender: None,
            text: draft.caption.clone().unwrap_or_default(),
            reply_to: None,
            sent_at_ms: now,
            received_at_ms: now,
            edited_at_ms: None,
            expires_at_ms: self.expiry_for(&conversation, now)?,
            status: Status::Queued,
            recipients: draft
                .recipients
                .iter()
                .map(|r| (*r, Status::Queued))
                .collect(),
            reactions: Vec::new(),
            file: Some(file_info(&attachment, FileState::Uploading)),
        };
        let record = UploadRecord {
            message_key: key.clone(),
            conversation,
            path: draft.path.to_string_lossy().into_owned(),
            attachment: attachment.clone(),
            caption: draft.caption,
            recipients: draft.recipients.clone(),
            sent_at_ms: now,
        };
        let mut batch = self.store.batch();
        self.store
            .put_in(&mut batch, Slot::Messages, &key, &message)?;
        self.store
            .put_in(&mut batch, Slot::MessageIndex, &id.0, &key)?;
        self.store
            .put_in(&mut batch, Slot::Uploads, &id.0, &record)?;
        self.store.commit(batch)?;
        let job = UploadJob {
            message: id,
            path: draft.path,
            attachment,
            recipients: draft.recipients,
            verify_source: false,
        };
        Ok((message, job))
    }

    /// The job that resumes a recorded upload (checking first that the source file is still
    /// the one that was hashed).
    pub fn upload_job(&self, id: &MessageId) -> Result<UploadJob, ClientError> {
        let record = self
            .store
            .get::<UploadRecord>(Slot::Uploads, &id.0)?
            .ok_or_else(|| ClientError::InvalidInput("no such upload".into()))?;
        Ok(UploadJob {
            message: *id,
            path: PathBuf::from(&record.path),
            attachment: record.attachment,
            recipients: record.recipients,
            verify_source: true,
        })
    }

    /// The messages whose files wait to be uploaded (or to finish uploading).
    pub fn recorded_uploads(&self) -> Result<Vec<MessageId>, ClientError> {
        Ok(self
            .store
            .scan::<UploadRecord>(Slot::Uploads, b"", false)?
            .into_iter()
            .filter_map(|(key, _)| message_id_of(&key))
            .collect())
    }

    /// Uploads one recorded file (the rest of it) and queues and sends its message.
    async fn finish_one(
        &mut self,
        connection: &RelayConnection,
        job: UploadJob,
    ) -> Result<FileSendOutcome, ClientError> {
        let id = job.message_id();
        let upload = match self.run_upload(job, &connection.blobs()).await {
            Ok(upload) => upload,
            Err(ClientError::Transport(error)) if error.is_transient() => {
                let message = self.message(&id)?.ok_or(ClientError::NoAccount)?;
                return Ok(FileSendOutcome::Queued {
                    message,
                    reason: error.to_string(),
                });
            }
            Err(error) => return Err(error),
        };
        let message = self.queue_file_message(&id)?;
        match self.send_queued(connection, message).await? {
            SendOutcome::Stored(message) => Ok(FileSendOutcome::Sent { message, upload }),
            SendOutcome::Queued { message, reason } => {
                Ok(FileSendOutcome::Queued { message, reason })
            }
        }
    }

    /// Resumes every recorded upload over `connection` and queues their messages (the caller
    /// flushes the outbox). Stops at the first error that retrying later may fix. Does nothing
    /// when uploads are deferred to the caller's jobs ([`Client::defer_uploads`]).
    pub async fn resume_uploads(
        &mut self,
        connection: &RelayConnection,
    ) -> (Vec<UploadReport>, Option<ClientError>) {
        let mut reports = Vec::new();
        if self.uploads_deferred {
            return (reports, None);
        }
        let ids = match self.recorded_uploads() {
            Ok(ids) => ids,
            Err(error) => return (reports, Some(error)),
        };
        let blobs = connection.blobs();
        let mut skipped = None;
        for id in ids {
            let result = match self.upload_job(&id) {
                Ok(job) => self.run_upload(job, &blobs).await,
                Err(error) => Err(error),
            };
            let result = result.and_then(|report| self.queue_file_message(&id).map(|_| report));
            match result {
                Ok(report) => reports.push(report),
                Err(error @ ClientError::File(_)) => {
                    // The source is gone or changed, or the message was deleted: this file
                    // cannot be sent as recorded (its blob goes too); the others still can.
                    let blob = self.upload_blob_id(&id).ok().flatten();
                    if let Err(error) = self.fail_upload(&id) {
                        return (reports, Some(error));
                    }
                    if let Some(blob) = blob {
                        let _ = blobs.abandon_blob(blob).await;
                    }
                    skipped.get_or_insert(error);
                }
                // Refused by the relay (size, quota): the others may still fit.
                Err(error @ ClientError::InvalidInput(_)) => {
                    skipped.get_or_insert(error);
                }
                Err(error) => return (reports, Some(error)),
            }
        }
        (reports, skipped)
    }

    /// The blob of a recorded upload (to abandon it on the relay after [`Client::fail_upload`]).
    pub fn upload_blob_id(&self, id: &MessageId) -> Result<Option<BlobId>, ClientError> {
        Ok(self
            .store
            .get::<UploadRecord>(Slot::Uploads, &id.0)?
            .map(|record| record.attachment.blob))
    }

    /// Gives up on an upload whose source file is gone or changed: its message becomes
    /// `Failed` (returned) and the record goes away.
    pub fn fail_upload(&self, id: &MessageId) -> Result<Option<Message>, ClientError> {
        let Some(record) = self.store.get::<UploadRecord>(Slot::Uploads, &id.0)? else {
            return Ok(None);
        };
        let mut batch = self.store.batch();
        let mut failed = None;
        if let Some(mut message) = self
            .store
            .get::<Message>(Slot::Messages, &record.message_key)?
        {
            message.status = Status::Failed;
            for (_, state) in &mut message.recipients {
                *state = Status::Failed;
            }
            self.store
                .put_in(&mut batch, Slot::Messages, &record.message_key, &message)?;
            failed = Some(message);
        }
        self.store.remove_in(&mut batch, Slot::Uploads, &id.0);
        self.store.commit(batch)?;
        Ok(failed)
    }

    /// The upload is complete: the message sharing the file goes into the outbox (state
    /// `uploaded`), and the upload record goes away, atomically. Flush the outbox next.
    pub fn queue_file_message(&self, id: &MessageId) -> Result<Message, ClientError> {
        let record = self
            .store
            .get::<UploadRecord>(Slot::Uploads, &id.0)?
            .ok_or_else(|| ClientError::InvalidInput("no such upload".into()))?;
        let Some(mut message) = self
            .store
            .get::<Message>(Slot::Messages, &record.message_key)?
        else {
            // Deleted (or disappeared) while it was uploading: nothing to send any more (the
            // caller gives the upload up: `fail_upload`, then `AbandonBlob`).
            return Err(ClientError::File(
                "the message of this upload was deleted; it is not sent".into(),
            ));
        };
        let (recipients, channel) = self.conversation_recipients(&record.conversation)?;
        let (_, bytes) = self.content_with_id(
            *id,
            record.sent_at_ms,
            Body::File {
                file: record.attachment.clone(),
                caption: record.caption.clone(),
            },
        )?;
        if let Some(file) = message.file.as_mut() {
            file.state = FileState::Uploaded;
        }
        let mut batch = self.store.batch();
        self.store
            .put_in(&mut batch, Slot::Messages, &record.message_key, &message)?;
        self.store.remove_in(&mut batch, Slot::Uploads, &id.0);
        self.enqueue(
            &mut batch,
            recipients,
            channel,
            bytes,
            Some(record.message_key.clone()),
        )?;
        self.store.commit(batch)?;
        Ok(message)
    }

    /// Files waiting to be uploaded.
    pub fn pending_uploads(&self) -> Result<usize, ClientError> {
        Ok(self
            .store
            .scan::<UploadRecord>(Slot::Uploads, b"", false)?
            .len())
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

    /// Downloads, checks and saves a received file to `dest` (a file path, or a directory to
    /// put it in; default: the current directory), resuming an interrupted download. The file
    /// appears at its destination only once its hash is checked.
    pub async fn save_file(
        &mut self,
        id: &str,
        dest: Option<&Path>,
    ) -> Result<SaveReport, ClientError> {
        let job = self.prepare_save(id, dest)?;
        let id = job.message_id();
        let connection = self.connect().await?;
        let rate = self.rate_limit;
        let sink = &mut self.progress;
        let mut progress = |p: &TransferProgress| {
            if let Some(sink) = sink.as_mut() {
                sink(p);
            }
        };
        let result = job.run(&connection.blobs(), &mut progress, rate).await;
        connection.close().await;
        self.finish_save(&id, result)
    }

    /// Prepares saving a received file (by id or a unique prefix) to `dest` (a file path, or
    /// a directory to put it in; default: the current directory): refuses an existing
    /// destination, finds how much of an earlier download to resume, and marks the file
    /// `partial`. Local only.
    pub fn prepare_save(&self, id: &str, dest: Option<&Path>) -> Result<SaveJob, ClientError> {
        let message = self.file_message(id)?;
        let mut record = self
            .store
            .get::<FileRecord>(Slot::Files, &message.id.0)?
            .ok_or_else(|| ClientError::InvalidInput("no such file".into()))?;
        let attachment = record.attachment.clone();
        let layout = ChunkLayout::new(attachment.size);
        let name = safe_file_name(&attachment.name);
        let target = match dest {
            None => PathBuf::from(&name),
            Some(dest) if dest.is_dir() => dest.join(&name),
            Some(dest) => dest.to_path_buf(),
        };
        if target.exists() {
            return Err(ClientError::File(format!(
                "{} already exists; choose another path",
                target.display()
            )));
        }
        // One part file per message: two files of the same name saved to one place at once
        // never share one.
        let tag = message.id.to_string();
        let part = PathBuf::from(format!(
            "{}.{}{PART_SUFFIX}",
            target.display(),
            tag.get(..8).unwrap_or(&tag)
        ));
        let part_key = (
            part.to_string_lossy().into_owned(),
            target.to_string_lossy().into_owned(),
        );

        // Resume from the whole chunks a previous run wrote to the same part file.
        let chunk = BLOB_CHUNK_PLAINTEXT_LEN as u64;
        let mut first = 0u64;
        if record.partial.as_ref() == Some(&part_key)
            && let Ok(meta) = std::fs::symlink_metadata(&part)
            && meta.file_type().is_file()
        {
            first = (meta.len() / chunk).min(layout.chunks());
            if layout.plaintext_offset(first) > attachment.size {
                first = attachment.size / chunk;
            }
        }
        let resumed_from = layout.plaintext_offset(first).min(attachment.size);
        record.partial = Some(part_key);
        self.set_file_state(&message.id, &record, FileState::Partial, None)?;
        Ok(SaveJob {
            message: message.id,
            attachment,
            target,
            part,
            first,
            resumed_from,
        })
    }

    /// Records how a [`SaveJob`] ended: `saved` (and whether the relay still has to be told),
    /// `corrupt` (a chunk or the hash was wrong), `expired` (the relay no longer has it), or
    /// still `partial` (cut off: saving again resumes). Returns the job's error, phrased for
    /// the user, if it failed.
    pub fn finish_save(
        &self,
        id: &MessageId,
        result: Result<SaveDone, ClientError>,
    ) -> Result<SaveReport, ClientError> {
        let mut record = self
            .store
            .get::<FileRecord>(Slot::Files, &id.0)?
            .ok_or_else(|| ClientError::InvalidInput("no such file".into()))?;
        let done = match result {
            Ok(done) => done,
            Err(error) => {
                let state = if matches!(error, ClientError::FileCorrupt(_)) {
                    Some(FileState::Corrupt)
                } else if is_unknown_blob(&error) {
                    Some(FileState::Expired)
                } else {
                    None
                };
                if let Some(state) = state {
                    record.partial = None;
                    self.set_file_state(id, &record, state, None)?;
                }
                return Err(match error {
                    error if is_unknown_blob(&error) => ClientError::File(
                        "the file is no longer on the relay (it expired); ask the sender to send it again"
                            .into(),
                    ),
                    ClientError::Transport(error) if error.is_transient() => {
                        ClientError::Transport(TransportError::Closed(format!(
                            "{error}; save it again to resume"
                        )))
                    }
                    other => other,
                });
            }
        };
        record.partial = None;
        record.release_pending = !done.released;
        let message = self.set_file_state(
            id,
            &record,
            FileState::Saved,
            Some(done.path.to_string_lossy().into_owned()),
        )?;
        Ok(SaveReport {
            message,
            path: done.path,
            resumed_from: done.resumed_from,
            downloaded_bytes: done.downloaded_bytes,
        })
    }

    /// Updates a received file's record and its message's file state, atomically.
    fn set_file_state(
        &self,
        id: &MessageId,
        record: &FileRecord,
        state: FileState,
        saved_to: Option<String>,
    ) -> Result<Message, ClientError> {
        let key = self
            .store
            .get::<Vec<u8>>(Slot::MessageIndex, &id.0)?
            .ok_or_else(|| ClientError::InvalidInput("the file's message is gone".into()))?;
        let mut message = self
            .store
            .get::<Message>(Slot::Messages, &key)?
            .ok_or_else(|| ClientError::InvalidInput("the file's message is gone".into()))?;
        if let Some(file) = message.file.as_mut() {
            file.state = state;
            if saved_to.is_some() {
                file.saved_to = saved_to;
            }
        }
        let mut batch = self.store.batch();
        self.store
            .put_in(&mut batch, Slot::Messages, &key, &message)?;
        self.store.put_in(&mut batch, Slot::Files, &id.0, record)?;
        self.store.commit(batch)?;
        Ok(message)
    }

    /// Saved files the relay was not told about yet (the job that tells it).
    pub fn release_job(&self) -> Result<ReleaseJob, ClientError> {
        let pending = self
            .store
            .scan::<FileRecord>(Slot::Files, b"", false)?
            .into_iter()
            .filter(|(_, record)| record.release_pending)
            .filter_map(|(key, record)| Some((message_id_of(&key)?, record.attachment.blob)))
            .collect();
        Ok(ReleaseJob { pending })
    }

    /// Records that the relay was told these saved files are fetched.
    pub fn mark_released(&self, ids: &[MessageId]) -> Result<(), ClientError> {
        for id in ids {
            if let Some(mut record) = self.store.get::<FileRecord>(Slot::Files, &id.0)? {
                record.release_pending = false;
                self.store.put(Slot::Files, &id.0, &record)?;
            }
        }
        Ok(())
    }

    /// Retries telling the relay about saved files it was not told about yet.
    pub async fn release_saved(&mut self, connection: &RelayConnection) -> usize {
        let Ok(job) = self.release_job() else {
            return 0;
        };
        let released = job.run(&connection.blobs()).await;
        match self.mark_released(&released) {
            Ok(()) => released.len(),
            Err(_) => 0,
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

/// Opens a part file: `fresh`, a new one (readable by the owner only; a stale regular file
/// of that name is replaced); otherwise the existing one to resume. Never through a symbolic
/// link: a link planted at that name in a shared directory must not redirect the download.
fn open_part(part: &Path, fresh: bool) -> Result<File, ClientError> {
    let existing = std::fs::symlink_metadata(part).ok();
    if existing
        .as_ref()
        .is_some_and(|meta| !meta.file_type().is_file())
    {
        return Err(ClientError::File(format!(
            "{} exists and is not a regular file; refusing to write there",
            part.display()
        )));
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if fresh {
        if existing.is_some() {
            std::fs::remove_file(part).map_err(|e| file_error(part, e))?;
        }
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(part).map_err(|e| file_error(part, e))
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

    #[cfg(unix)]
    #[test]
    fn part_files_are_never_opened_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let part = dir.path().join("photo.jpg.0123abcd.hush-part");
        std::os::unix::fs::symlink(&victim, &part).unwrap();
        assert!(matches!(open_part(&part, true), Err(ClientError::File(_))));
        assert!(matches!(open_part(&part, false), Err(ClientError::File(_))));
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");

        // A stale regular file of that name is replaced by a fresh, private one.
        std::fs::remove_file(&part).unwrap();
        std::fs::write(&part, b"stale").unwrap();
        let fresh = open_part(&part, true).unwrap();
        assert_eq!(fresh.metadata().unwrap().len(), 0);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fresh.metadata().unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
