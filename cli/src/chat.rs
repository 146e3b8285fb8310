//! `hush chat`: type lines to send them; incoming messages print as they arrive.

use anyhow::Context;
use hush_client_core::client::PushOutcome;
use hush_client_core::transport::Backoff;
use hush_client_core::{Client, ClientError, SendOutcome, SyncReport};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::output::{print_event, print_message};

/// Runs the chat until end of input or Ctrl-C. Lines typed while the relay is unreachable are
/// queued and go out when the connection is back.
pub(crate) async fn run(client: &mut Client, to: &str, json: bool) -> anyhow::Result<()> {
    let conversation = client.resolve_conversation(to)?;
    let name = client.conversation_name(&conversation)?;
    if !json {
        eprintln!(
            "hush: chatting with {name} — type a message and press Enter; Ctrl-D or Ctrl-C to leave"
        );
    }
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
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return Ok(true),
                    line = lines.next_line() => {
                        let Some(line) = line.context("reading the terminal")? else {
                            return Ok(true);
                        };
                        if line.trim().is_empty() {
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
