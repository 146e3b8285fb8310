//! Saving received files: resumable, checked downloads into a part file of their own, then
//! telling the relay (`BlobFetched`).

use super::*;

/// The relay no longer has a blob (expired, or released by everyone).
fn is_unknown_blob(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Transport(TransportError::Refused(frame)) if frame.code == ErrorCode::UnknownBlob
    )
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

impl Client {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
