//! Blob streams: an upload (`UploadBlob`, then `BlobChunk`s) or a download (`DownloadBlob`)
//! on a QUIC stream of its own, served chunk by chunk.
//!
//! Each stream runs in its own task (one of its connection's request tasks), so a 1 GiB file
//! never holds up chat. File I/O runs on the blocking pool, one chunk at a time: memory per
//! stream is a few chunks, whatever the file size. The rules are in [`crate::blob`]; this
//! module only carries chunks between the stream and the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use hush_protocol::limits::{BLOB_CHUNK_LEN, blob_chunk_len};
use hush_protocol::{BlobId, ClientFrame, ErrorCode, MailboxId, RelayFrame};
use tokio_util::sync::CancellationToken;

use crate::blob::UploadCursor;
use crate::error::RelayError;
use crate::server::Shared;
use crate::wire::{ReadFailure, read_frame, write_frame};

/// How a blob stream ends; the connection writes the last frame.
pub(crate) enum StreamEnd {
    /// Write this frame, then finish the stream.
    Answer(RelayFrame),
    /// Write this error, then finish the stream.
    Refused(RelayError),
    /// The client's side broke: nothing to write (or, for a malformed frame, close).
    Broken(ReadFailure),
    /// Everything was sent: finish the stream.
    Finished,
    /// Stop mid-download: reset the stream so the client does not mistake it for the end.
    Reset,
}

fn unavailable(what: &str) -> RelayError {
    RelayError::Unavailable(what.to_owned())
}

fn relay_closing() -> RelayError {
    unavailable("relay or connection closing")
}

/// Serves an upload stream after its first frame, `UploadBlob { id, first_chunk }`.
pub(crate) async fn upload(
    shared: &Shared,
    uploader: MailboxId,
    id: BlobId,
    first_chunk: u32,
    recv: &mut quinn::RecvStream,
    stop: &CancellationToken,
) -> StreamEnd {
    let room = &shared.blobroom;
    let record = match room.for_upload(&uploader, &id) {
        Ok(record) => record,
        Err(error) => return StreamEnd::Refused(error),
    };
    if record.complete {
        return StreamEnd::Answer(room.status(id, &record));
    }
    let claim = tokio::select! {
        biased;
        () = stop.cancelled() => return StreamEnd::Refused(relay_closing()),
        claim = room.files().claim_upload(id) => claim,
    };
    let taken_over = || unavailable("a newer upload stream of this blob took over");
    if claim.cancelled.is_cancelled() {
        return StreamEnd::Refused(taken_over());
    }
    // The upload this one took over from may have completed the blob, or it may be gone.
    let record = match room.for_upload(&uploader, &id) {
        Ok(record) => record,
        Err(error) => return StreamEnd::Refused(error),
    };
    if record.complete {
        return StreamEnd::Answer(room.status(id, &record));
    }
    let mut cursor =
        match UploadCursor::start(record.size, room.files().durable_chunks(&id), first_chunk) {
            Ok(cursor) => cursor,
            Err(error) => return StreamEnd::Refused(error),
        };
    let files = room.files().clone();
    let size = record.size;
    let opened =
        tokio::task::spawn_blocking(move || files.open_upload(claim, size, first_chunk)).await;
    let mut file = match opened {
        Ok(Ok(file)) => file,
        Ok(Err(error)) => {
            tracing::error!(%error, "opening a blob file failed");
            return StreamEnd::Refused(unavailable("storage failure"));
        }
        Err(_) => return StreamEnd::Refused(unavailable("storage failure")),
    };
    room.record_gauges();
    let cancelled = file.cancelled().unwrap_or_default();
    let ended: Result<(), StreamEnd> = loop {
        if cursor.is_complete() {
            break Ok(());
        }
        let frame = tokio::select! {
            biased;
            () = stop.cancelled() => break Err(StreamEnd::Refused(relay_closing())),
            () = cancelled.cancelled() => break Err(StreamEnd::Refused(taken_over())),
            frame = read_frame::<ClientFrame>(recv) => frame,
        };
        match frame {
            Ok(Some(ClientFrame::BlobChunk { data })) => {
                if let Err(error) = cursor.accept(data.len()) {
                    let _ = recv.stop(ErrorCode::InvalidRequest.close_code().into());
                    break Err(StreamEnd::Refused(error));
                }
                let Some(writer) = file.writer() else {
                    break Err(StreamEnd::Refused(unavailable("storage failure")));
                };
                let len = data.len();
                let written =
                    tokio::task::spawn_blocking(move || (&*writer).write_all(&data)).await;
                if !matches!(written, Ok(Ok(()))) {
                    tracing::error!("writing a blob chunk failed");
                    break Err(StreamEnd::Refused(unavailable("storage failure")));
                }
                file.wrote_chunk(len);
                metrics::counter!(crate::metrics::BLOB_BYTES_RECEIVED_TOTAL).increment(len as u64);
            }
            Ok(Some(_)) => {
                break Err(StreamEnd::Refused(RelayError::Malformed(
                    "only BlobChunk frames may follow UploadBlob".into(),
                )));
            }
            Ok(None) => break Ok(()),
            Err(failure) => break Err(StreamEnd::Broken(failure)),
        }
    };
    // Durable before anything else: the chunks received count only once synced.
    let closed = file.close().await;
    room.record_gauges();
    if let Err(error) = &closed {
        tracing::error!(%error, "syncing a blob file failed");
    }
    let record = match room.store().blob(&id) {
        Ok(Some(record)) => record,
        Ok(None) => {
            // Released or expired while uploading: make sure no file is left behind.
            let files = room.files().clone();
            let _ = tokio::task::spawn_blocking(move || files.delete(&id)).await;
            room.record_gauges();
            return StreamEnd::Refused(RelayError::UnknownBlob);
        }
        Err(error) => return StreamEnd::Refused(error.into()),
    };
    if let Err(end) = ended {
        return end;
    }
    if closed.is_err() {
        return StreamEnd::Refused(unavailable("storage failure"));
    }
    if cursor.is_complete() && !record.complete {
        match room.store().complete_blob(&id) {
            Ok(true) => {}
            Ok(false) => return StreamEnd::Refused(RelayError::UnknownBlob),
            Err(error) => return StreamEnd::Refused(error.into()),
        }
        if shared.commit.commit().await.is_err() {
            return StreamEnd::Refused(unavailable("storage failure"));
        }
        let mut complete = record;
        complete.complete = true;
        return StreamEnd::Answer(room.status(id, &complete));
    }
    // The client finished before the last chunk: say how far it got.
    StreamEnd::Answer(room.status(id, &record))
}

/// Serves a download stream: `BlobStatus`, then chunks `first_chunk..`, read as they are sent.
pub(crate) async fn download(
    shared: &Shared,
    mailbox: MailboxId,
    id: BlobId,
    first_chunk: u32,
    send: &mut quinn::SendStream,
    stop: &CancellationToken,
) -> StreamEnd {
    let room = &shared.blobroom;
    let record = match room.for_download(&mailbox, &id) {
        Ok(record) => record,
        Err(error) => return StreamEnd::Refused(error),
    };
    let count = record.chunk_count();
    if first_chunk > count {
        return StreamEnd::Refused(RelayError::InvalidRequest(format!(
            "the blob has {count} chunks"
        )));
    }
    let path = room.files().path(&id);
    let file = match tokio::task::spawn_blocking(move || File::open(path)).await {
        Ok(Ok(file)) => Arc::new(file),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            // Deleted (released by others, or expired) since the metadata was read.
            return StreamEnd::Refused(RelayError::UnknownBlob);
        }
        _ => return StreamEnd::Refused(unavailable("storage failure")),
    };
    if !write_frame(send, &room.status(id, &record)).await {
        return StreamEnd::Reset;
    }
    for index in first_chunk..count {
        let Some(len) = blob_chunk_len(record.size, u64::from(index)) else {
            break;
        };
        let offset = u64::from(index) * BLOB_CHUNK_LEN as u64;
        let reader = file.clone();
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut data = vec![0u8; len];
            let mut reader: &File = &reader;
            reader.seek(SeekFrom::Start(offset))?;
            reader.read_exact(&mut data)?;
            Ok(data)
        });
        let data = tokio::select! {
            biased;
            () = stop.cancelled() => return StreamEnd::Reset,
            read = read => match read {
                Ok(Ok(data)) => data,
                _ => {
                    tracing::error!("reading a blob chunk failed");
                    return StreamEnd::Reset;
                }
            },
        };
        let frame = RelayFrame::BlobChunk { data };
        let sent = tokio::select! {
            biased;
            () = stop.cancelled() => return StreamEnd::Reset,
            sent = write_frame(send, &frame) => sent,
        };
        if !sent {
            return StreamEnd::Reset;
        }
        metrics::counter!(crate::metrics::BLOB_BYTES_SENT_TOTAL).increment(len as u64);
    }
    StreamEnd::Finished
}
