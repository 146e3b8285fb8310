//! `hush send-file`, `hush files` and `hush save`: files, with progress bars on a terminal.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use hush_client_core::{Client, Direction, FileSendOutcome, TransferProgress, UploadReport};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::output::{file_json, human_size, message_json, rfc3339};

/// Shows transfers as progress bars with rate and ETA, on a terminal and without `--json`.
pub(crate) fn show_progress(client: &mut Client, json: bool) {
    if json || !std::io::stderr().is_terminal() {
        return;
    }
    let style = ProgressStyle::with_template(
        "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let mut current: Option<(String, ProgressBar)> = None;
    client.set_progress(Some(Box::new(move |progress: &TransferProgress| {
        let label = match progress.direction {
            Direction::Outgoing => format!("↑ {}", progress.name),
            Direction::Incoming => format!("↓ {}", progress.name),
        };
        let bar = match &current {
            Some((name, bar)) if *name == label => bar.clone(),
            _ => {
                if let Some((_, old)) = current.take() {
                    old.finish_and_clear();
                }
                let bar = ProgressBar::with_draw_target(
                    Some(progress.total),
                    ProgressDrawTarget::stderr_with_hz(10),
                );
                bar.set_style(style.clone());
                bar.set_message(label.clone());
                bar.enable_steady_tick(Duration::from_millis(250));
                current = Some((label, bar.clone()));
                bar
            }
        };
        bar.set_position(progress.done);
        if progress.done >= progress.total {
            bar.finish_and_clear();
        }
    })));
}

fn upload_json(upload: &UploadReport) -> serde_json::Value {
    json!({
        "size": upload.size,
        "resumed_from": upload.resumed_from,
        "sent_bytes": upload.sent_bytes,
    })
}

/// `hush send-file TO PATH [--caption TEXT]`.
pub(crate) async fn send_file(
    client: &mut Client,
    to: &str,
    path: &Path,
    caption: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    show_progress(client, json);
    match client.send_file(to, path, caption).await? {
        FileSendOutcome::Sent { message, upload } => {
            if json {
                let mut object = message_json(client, &message);
                object["delivery"] = json!("stored");
                object["upload"] = upload_json(&upload);
                println!("{object}");
            } else {
                let resumed = if upload.resumed_from > 0 {
                    format!(", resumed at {}", human_size(upload.resumed_from))
                } else {
                    String::new()
                };
                println!(
                    "sent {} ({}{resumed}): stored by the relay",
                    upload.name,
                    human_size(upload.size)
                );
            }
        }
        FileSendOutcome::Queued { message, reason } => {
            if json {
                let mut object = message_json(client, &message);
                object["delivery"] = json!("queued");
                object["reason"] = json!(reason);
                println!("{object}");
            } else {
                println!("queued: {reason}; `hush sync` resumes it");
            }
        }
    }
    Ok(())
}

/// Prints what a sync uploaded.
pub(crate) fn print_uploads(uploads: &[UploadReport], json: bool) {
    for upload in uploads {
        if json {
            let mut object = upload_json(upload);
            object["type"] = json!("upload");
            object["id"] = json!(upload.message.to_string());
            object["name"] = json!(upload.name);
            println!("{object}");
        } else {
            eprintln!(
                "hush: uploaded {} ({}, resumed at {})",
                upload.name,
                human_size(upload.size),
                human_size(upload.resumed_from)
            );
        }
    }
}

/// `hush files [TO]`.
pub(crate) fn list(client: &Client, to: Option<&str>, json: bool) -> anyhow::Result<()> {
    for message in client.files(to)? {
        let Some(file) = &message.file else {
            continue;
        };
        let from = message
            .sender
            .and_then(|s| client.alias_of(&s).ok())
            .unwrap_or_else(|| "?".into());
        let conversation = client
            .conversation_name(&message.conversation)
            .unwrap_or_else(|_| "?".into());
        if json {
            let mut object = file_json(file);
            object["id"] = json!(message.id.to_string());
            object["from"] = json!(from);
            object["conversation"] = json!(conversation);
            object["caption"] = json!(message.text);
            object["received_at"] = json!(rfc3339(message.received_at_ms));
            println!("{object}");
        } else {
            println!(
                "{}  {}  {}  {}  from {from}{}",
                message.id,
                file.name,
                human_size(file.size),
                file.state.as_str(),
                if conversation.starts_with('#') {
                    format!(" in {conversation}")
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

/// `hush save ID [PATH]`.
pub(crate) async fn save(
    client: &mut Client,
    id: &str,
    path: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    show_progress(client, json);
    let report = client.save_file(id, path).await?;
    let file = report.message.file.as_ref();
    if json {
        let mut object = file.map(file_json).unwrap_or_else(|| json!({}));
        object["id"] = json!(report.message.id.to_string());
        object["path"] = json!(report.path.display().to_string());
        object["resumed_from"] = json!(report.resumed_from);
        object["downloaded_bytes"] = json!(report.downloaded_bytes);
        println!("{object}");
    } else {
        let size = file.map(|f| human_size(f.size)).unwrap_or_default();
        let resumed = if report.resumed_from > 0 {
            format!(", resumed at {}", human_size(report.resumed_from))
        } else {
            String::new()
        };
        println!("saved {} ({size}{resumed}; checked)", report.path.display());
    }
    Ok(())
}
