//! Blob streams: one QUIC stream per upload or download, beside the control and request
//! streams, so a file never holds up chat.

use hush_protocol::{BlobId, ClientFrame, RelayFrame};

use super::{REQUEST_TIMEOUT, TransportError, closed, read_frame, request_on, write_frame};

/// What the relay holds of a blob (its `BlobStatus` answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobStatus {
    /// Total ciphertext bytes.
    pub size: u64,
    /// Chunks, from the first, stored durably.
    pub chunks_stored: u32,
    /// Every chunk is stored.
    pub complete: bool,
}

fn status_of(frame: Option<RelayFrame>, id: BlobId) -> Result<BlobStatus, TransportError> {
    match frame {
        Some(RelayFrame::BlobStatus {
            id: got,
            size,
            chunks_stored,
            complete,
        }) if got == id => Ok(BlobStatus {
            size,
            chunks_stored,
            complete,
        }),
        Some(RelayFrame::Error(error)) => Err(TransportError::Refused(error)),
        Some(other) => Err(TransportError::Protocol(format!(
            "unexpected answer {other:?}"
        ))),
        None => Err(TransportError::Closed("the relay ended the stream".into())),
    }
}

async fn timed<T>(
    what: &str,
    future: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    tokio::time::timeout(REQUEST_TIMEOUT, future)
        .await
        .map_err(|_| TransportError::Unreachable(format!("the relay stalled during {what}")))?
}

/// An upload in progress: send chunks in order, then [`BlobUpload::finish`].
#[derive(Debug)]
pub struct BlobUpload {
    id: BlobId,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl BlobUpload {
    /// Sends the next chunk. If the relay refused the stream, its error is returned.
    pub async fn send_chunk(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        let frame = ClientFrame::BlobChunk { data };
        match timed("an upload", write_frame(&mut self.send, &frame)).await {
            Ok(()) => Ok(()),
            Err(error) => Err(self.refusal().await.unwrap_or(error)),
        }
    }

    /// After a failed write: the relay's reason, if it sent one.
    async fn refusal(&mut self) -> Option<TransportError> {
        let frame = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            read_frame(&mut self.recv),
        )
        .await
        .ok()?;
        match frame {
            Ok(Some(RelayFrame::Error(error))) => Some(TransportError::Refused(error)),
            _ => None,
        }
    }

    /// Ends the upload and waits for the relay's status (complete once every chunk is
    /// durable).
    pub async fn finish(mut self) -> Result<BlobStatus, TransportError> {
        self.send.finish().map_err(closed)?;
        let id = self.id;
        timed("an upload", async move {
            status_of(read_frame(&mut self.recv).await?, id)
        })
        .await
    }
}

/// A download in progress: the relay's status, then chunks in order.
#[derive(Debug)]
pub struct BlobDownload {
    status: BlobStatus,
    recv: quinn::RecvStream,
    _send: quinn::SendStream,
}

impl BlobDownload {
    /// What the relay holds of the blob.
    pub fn status(&self) -> BlobStatus {
        self.status
    }

    /// The next chunk, or `None` when the relay finished the stream.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        match timed("a download", read_frame(&mut self.recv)).await? {
            Some(RelayFrame::BlobChunk { data }) => Ok(Some(data)),
            Some(RelayFrame::Error(error)) => Err(TransportError::Refused(error)),
            Some(other) => Err(TransportError::Protocol(format!(
                "unexpected frame in a download: {other:?}"
            ))),
            None => Ok(None),
        }
    }
}

/// Requests and file transfers over a relay connection, usable from any task: a clone of the
/// connection's handle, so a long upload, a download or a batch of sends never holds the
/// [`super::RelayConnection`] (or the client state around it) while it runs.
#[derive(Clone, Debug)]
pub struct BlobChannel {
    pub(super) connection: quinn::Connection,
}

impl BlobChannel {
    /// One request on its own stream (like [`super::RelayConnection::request`]).
    pub async fn request(&self, frame: &ClientFrame) -> Result<RelayFrame, TransportError> {
        request_on(&self.connection, frame).await
    }

    /// Announces a blob (or asks how far its upload got).
    pub async fn create_blob(
        &self,
        id: BlobId,
        size: u64,
        recipients: Vec<hush_protocol::MailboxId>,
    ) -> Result<BlobStatus, TransportError> {
        let frame = ClientFrame::CreateBlob {
            id,
            size,
            recipients,
            ttl_secs: 0,
        };
        status_of(Some(self.request(&frame).await?), id)
    }

    /// Opens an upload stream starting at chunk `first_chunk`.
    pub async fn upload_blob(
        &self,
        id: BlobId,
        first_chunk: u32,
    ) -> Result<BlobUpload, TransportError> {
        timed("an upload", async {
            let (mut send, recv) = self
                .connection
                .open_bi()
                .await
                .map_err(super::close_reason)?;
            write_frame(&mut send, &ClientFrame::UploadBlob { id, first_chunk }).await?;
            Ok(BlobUpload { id, send, recv })
        })
        .await
    }

    /// Opens a download stream from chunk `first_chunk`.
    pub async fn download_blob(
        &self,
        id: BlobId,
        first_chunk: u32,
    ) -> Result<BlobDownload, TransportError> {
        timed("a download", async {
            let (mut send, mut recv) = self
                .connection
                .open_bi()
                .await
                .map_err(super::close_reason)?;
            write_frame(&mut send, &ClientFrame::DownloadBlob { id, first_chunk }).await?;
            send.finish().map_err(closed)?;
            let status = status_of(read_frame(&mut recv).await?, id)?;
            Ok(BlobDownload {
                status,
                recv,
                _send: send,
            })
        })
        .await
    }

    /// Gives up a blob this mailbox uploaded (complete or not): the relay deletes it and gives
    /// back its quota.
    pub async fn abandon_blob(&self, id: BlobId) -> Result<(), TransportError> {
        match self.request(&ClientFrame::AbandonBlob { id }).await? {
            RelayFrame::BlobReleased { id: got } if got == id => Ok(()),
            other => Err(TransportError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// Tells the relay this mailbox has the whole blob.
    pub async fn release_blob(&self, id: BlobId) -> Result<(), TransportError> {
        match self.request(&ClientFrame::BlobFetched { id }).await? {
            RelayFrame::BlobReleased { id: got } if got == id => Ok(()),
            other => Err(TransportError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }
}
