//! Sending files: the relay's limits first, then hash and thumbnail, the upload record, and
//! the chunks sealed straight from the file; resuming and giving up recorded uploads.

use super::*;

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

impl Client {
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
}
