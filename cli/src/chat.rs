//! `hush chat`: type lines to send them; incoming messages print as they arrive. `/file PATH`
//! sends a file: it is read and uploaded on tasks of their own while the chat goes on.

use std::path::PathBuf;

use anyhow::Context;
use hush_client_core::client::{PreparedFile, PushOutcome, UploadJob, UploadReport};
use hush_client_core::transport::{Backoff, BlobChannel};
use hush_client_core::{Client, ClientError, MessageId, SendOutcome, SyncReport};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinSet;

use crate::output::{human_size, print_event, print_message};

/// What a file task of the chat hands back.
enum FileStep {
    /// Checked with the relay and read: record it, then upload it.
    Read(Result<Box<PreparedFile>, ClientError>),
    /// An upload ended.
    Uploaded(MessageId, Result<UploadReport, ClientError>),
}

/// Checks a file with the relay and reads it (hash, thumbnail) off the chat loop.
async fn read_file(draft: hush_client_core::client::FileDraft, blobs: BlobChannel) -> FileStep {
    if let Err(error) = draft.check(&blobs).await {
        return FileStep::Read(Err(error));
    }
    let blob = draft.blob();
    let read = tokio::task::spawn_blocking(move || draft.read().map(Box::new))
        .await
        .unwrap_or_else(|_| Err(ClientError::File("reading the file failed".into())));
    if read.is_err() {
        // Announced but never to be sent: give the relay its quota back.
        let _ = blobs.abandon_blob(blob).await;
    }
    FileStep::Read(read)
}

async fn upload(job: UploadJob, blobs: BlobChannel, rate: Option<u64>) -> FileStep {
    let id = job.message_id();
    let mut quiet = |_: &hush_client_core::TransferProgress| {};
    FileStep::Uploaded(id, job.run(&blobs, &mut quiet, rate).await)
}

/// Runs the chat until end of input or Ctrl-C. Lines typed while the relay is unreachable are
/// queued and go out when the connection is back.
pub(crate) async fn run(client: &mut Client, to: &str, json: bool) -> anyhow::Result<()> {
    let conversation = client.resolve_conversation(to)?;
    let name = client.conversation_name(&conversation)?;
    if !json {
        eprintln!(
            "hush: chatting with {name} — type a message and press Enter; `/file PATH` sends a file; Ctrl-D or Ctrl-C to leave"
        );
    }
    let mut files: JoinSet<FileStep> = JoinSet::new();
    let mut closing = false;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut backoff = Backoff::default();
    loop {
        let mut connection = match client.connect().await {
            Ok(connection) => connection,
            Err(ClientError::Transport(error)) if error.is_transient() => {
                eprintln!("hush: {error}; retrying");
                let delay = hush_client_core::client::reconnect_delay(&mut backoff);
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                    () = tokio::time::sleep(delay) => continue,
                }
            }
            Err(error) => return Err(error.into()),
        };
        backoff.reset();
        let mut report = SyncReport::default();
        connection.subscribe().await?;
        client.announce_presence(&connection, true).await;
        let outcome: anyhow::Result<bool> = async {
            loop {
                if closing && files.is_empty() {
                    return Ok(true);
                }
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return Ok(true),
                    line = lines.next_line(), if !closing => {
                        let Some(line) = line.context("reading the terminal")? else {
                            // End of input: leave once the files on their way are sent.
                            if !files.is_empty() && !json {
                                eprintln!("hush: finishing {} file transfer(s)…", files.len());
                            }
                            closing = true;
                            continue;
                        };
                        if line.trim().is_empty() {
                            continue;
                        }
                        if let Some(path) = line.strip_prefix("/file ") {
                            let path = PathBuf::from(path.trim());
                            match client.draft_file(to, &path, None) {
                                Ok(draft) => {
                                    if !json {
                                        eprintln!("hush: sending {} ({})…", draft.name(), human_size(draft.size()));
                                    }
                                    files.spawn(read_file(draft, connection.blobs()));
                                }
                                Err(error) => eprintln!("hush: {error}"),
                            }
                            continue;
                        }
                        // Reading the conversation while replying: what arrived is read.
                        client.mark_read(&conversation)?;
                        match client.send_text_on(&connection, to, &line).await? {
                            SendOutcome::Stored(message) if json => print_message(client, &message, json),
                            SendOutcome::Stored(_) => {}
                            SendOutcome::Queued { reason, .. } => eprintln!("hush: queued: {reason}"),
                        }
                    }
                    Some(step) = files.join_next(), if !files.is_empty() => {
                        match step {
                            Ok(FileStep::Read(Ok(file))) => {
                                let (_, job) = client.record_upload(*file)?;
                                files.spawn(upload(job, connection.blobs(), client.rate_limit()));
                            }
                            Ok(FileStep::Read(Err(error))) => eprintln!("hush: {error}"),
                            Ok(FileStep::Uploaded(id, Ok(report))) => {
                                let message = client.queue_file_message(&id)?;
                                client.flush_pending(&connection).await?;
                                let message = client.message(&message.id)?.unwrap_or(message);
                                if json {
                                    print_message(client, &message, json);
                                } else {
                                    eprintln!("hush: sent {} ({})", report.name, human_size(report.size));
                                }
                            }
                            Ok(FileStep::Uploaded(_, Err(error))) => {
                                // Recorded: `hush sync` resumes it.
                                eprintln!("hush: {error}; `hush sync` resumes the upload");
                            }
                            Err(_) => eprintln!("hush: a file transfer stopped; `hush sync` resumes it"),
                        }
                    }
                    push = connection.next_push() => {
                        let mut show = |client: &Client, event: &hush_client_core::Event| print_event(client, event, json);
                        match client.handle_push(&mut connection, push?, &mut report, &mut show).await? {
                            PushOutcome::Continue => {}
                            PushOutcome::Drained => {
                                client.mark_read(&conversation)?;
                                client.flush_pending(&connection).await?;
                            }
                            PushOutcome::Unsubscribed => {
                                return Err(ClientError::InvalidInput(
                                    "another hush session took over receiving for this account".into(),
                                ).into());
                            }
                        }
                    }
                }
            }
        }
        .await;
        match outcome {
            Ok(true) => {
                client.announce_presence(&connection, false).await;
                client.mark_read(&conversation)?;
                client.flush_pending(&connection).await?;
                connection.close().await;
                return Ok(());
            }
            Ok(false) => {}
            Err(error) => match error.downcast_ref::<ClientError>() {
                Some(ClientError::Transport(transport)) if transport.is_transient() => {
                    eprintln!("hush: {transport}; reconnecting");
                }
                _ => return Err(error),
            },
        }
    }
}
