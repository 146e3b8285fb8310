//! Rendering for people (plain lines) and for machines (`--json`: one object per line).

use std::time::{Duration, UNIX_EPOCH};

use hush_client_core::{
    Client, Contact, ConversationId, Direction, Event, FileInfo, Message, Status,
};
use serde_json::{Value, json};

/// RFC 3339 (UTC, milliseconds) of a time in ms since the epoch.
pub(crate) fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

pub(crate) fn status_name(status: Status) -> &'static str {
    match status {
        Status::Queued => "queued",
        Status::Stored => "stored",
        Status::Delivered => "delivered",
        Status::Read => "read",
        Status::Failed => "failed",
        Status::Received => "received",
        _ => "unknown",
    }
}

fn name_of(client: &Client, conversation: &ConversationId) -> String {
    client
        .conversation_name(conversation)
        .unwrap_or_else(|_| "?".into())
}

fn sender_name(client: &Client, message: &Message) -> String {
    match message.sender {
        None => "me".to_owned(),
        Some(mailbox) => client.alias_of(&mailbox).unwrap_or_else(|_| "?".into()),
    }
}

/// The JSON object of a message.
pub(crate) fn message_json(client: &Client, message: &Message) -> Value {
    let status = match (message.direction, message.conversation) {
        (Direction::Outgoing, ConversationId::Group(_)) => {
            let per: serde_json::Map<String, Value> = message
                .recipients
                .iter()
                .map(|(who, state)| {
                    (
                        client.alias_of(who).unwrap_or_else(|_| who.to_string()),
                        json!(status_name(*state)),
                    )
                })
                .collect();
            Value::Object(per)
        }
        _ => json!(status_name(message.status)),
    };
    let reactions: Vec<Value> = message
        .reactions
        .iter()
        .map(|(who, emoji)| {
            let who = who.map_or_else(
                || "me".to_owned(),
                |w| client.alias_of(&w).unwrap_or_default(),
            );
            json!({"from": who, "emoji": emoji})
        })
        .collect();
    json!({
        "type": "message",
        "id": message.id.to_string(),
        "conversation": name_of(client, &message.conversation),
        "from": sender_name(client, message),
        "text": message.text,
        "sent_at": rfc3339(message.sent_at_ms),
        "received_at": rfc3339(message.received_at_ms),
        "direction": match message.direction { Direction::Incoming => "in", Direction::Outgoing => "out" },
        "status": status,
        "reply_to": message.reply_to.map(|id| id.to_string()),
        "edited": message.edited_at_ms.is_some(),
        "expires_at": message.expires_at_ms.map(rfc3339),
        "reactions": reactions,
        "file": message.file.as_ref().map(file_json),
    })
}

/// The `"file"` object of a message that shares a file.
pub(crate) fn file_json(file: &FileInfo) -> Value {
    json!({
        "name": file.name,
        "size": file.size,
        "mime": file.mime,
        "sha256": file.sha256,
        "state": file.state.as_str(),
        "saved_to": file.saved_to,
        "thumbnail": file.thumbnail.is_some(),
    })
}

/// A byte count for people: `1.5 MiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("B"))
    }
}

/// How a message shows its text: the caption, and the file it shares.
fn shown_text(message: &Message) -> String {
    match &message.file {
        None => message.text.clone(),
        Some(file) => {
            let caption = if message.text.is_empty() {
                String::new()
            } else {
                format!(" {}", message.text)
            };
            format!(
                "[file {} ({}, {}) id {}]{caption}",
                file.name,
                human_size(file.size),
                file.state.as_str(),
                message.id.to_string().get(..12).unwrap_or_default(),
            )
        }
    }
}

/// One human line for a message.
pub(crate) fn message_line(client: &Client, message: &Message) -> String {
    let conversation = name_of(client, &message.conversation);
    let when = rfc3339(message.sent_at_ms);
    let when = when.get(..16).unwrap_or(&when).replace('T', " ");
    let edited = if message.edited_at_ms.is_some() {
        " (edited)"
    } else {
        ""
    };
    let reactions: String = message
        .reactions
        .iter()
        .map(|(_, e)| format!(" {e}"))
        .collect();
    let reply = message
        .reply_to
        .map(|id| format!("↪{} ", id.to_string().get(..8).unwrap_or_default()))
        .unwrap_or_default();
    match message.direction {
        Direction::Incoming => {
            let from = sender_name(client, message);
            let place = if conversation.starts_with('#') {
                format!("{conversation} ")
            } else {
                String::new()
            };
            format!(
                "[{when}] {place}{from}: {reply}{}{edited}{reactions}",
                shown_text(message)
            )
        }
        Direction::Outgoing => {
            let mark = match message.status {
                Status::Queued => " (queued)",
                Status::Failed => " (failed)",
                Status::Delivered => " ✓✓",
                Status::Read => " ✓✓ read",
                _ => " ✓",
            };
            format!(
                "[{when}] me → {conversation}: {reply}{}{edited}{reactions}{mark}",
                shown_text(message)
            )
        }
    }
}

/// Prints a message in the chosen format.
pub(crate) fn print_message(client: &Client, message: &Message, json: bool) {
    if json {
        println!("{}", message_json(client, message));
    } else {
        println!("{}", message_line(client, message));
    }
}

/// Prints an event: messages on stdout; notices on stderr (and as JSON objects in JSON mode).
pub(crate) fn print_event(client: &Client, event: &Event, json: bool) {
    let notice = |kind: &str, fields: Value, human: String| {
        if json {
            let mut object = fields;
            object["type"] = json!(kind);
            println!("{object}");
        } else {
            eprintln!("hush: {human}");
        }
    };
    match event {
        Event::Message(message) => print_message(client, message, json),
        Event::Edited(message) => notice(
            "edited",
            json!({"id": message.id.to_string(), "text": message.text, "conversation": name_of(client, &message.conversation)}),
            format!(
                "{} edited a message: {}",
                sender_name(client, message),
                message.text
            ),
        ),
        Event::Deleted { conversation, id } => notice(
            "deleted",
            json!({"id": id.to_string(), "conversation": name_of(client, conversation)}),
            format!(
                "a message in {} was deleted for everyone",
                name_of(client, conversation)
            ),
        ),
        Event::Reacted(message) => notice(
            "reaction",
            json!({"id": message.id.to_string(), "reactions": message.reactions.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>()}),
            format!(
                "reactions on \"{}\": {}",
                message.text,
                message
                    .reactions
                    .iter()
                    .map(|(_, e)| e.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        Event::Receipt {
            message,
            from,
            read,
        } => {
            let who = client.alias_of(from).unwrap_or_default();
            notice(
                "receipt",
                json!({"id": message.id.to_string(), "from": who, "state": if *read { "read" } else { "delivered" }}),
                format!(
                    "{who} {} \"{}\"",
                    if *read { "read" } else { "received" },
                    message.text
                ),
            );
        }
        Event::NewContact(contact) => notice(
            "new_contact",
            json!({"contact": contact.alias}),
            format!(
                "new contact {:?} wrote to you; check `hush verify {}`",
                contact.alias, contact.alias
            ),
        ),
        Event::IdentityChanged(contact) => notice(
            "identity_changed",
            json!({"contact": contact.alias}),
            format!(
                "WARNING: {}'s identity key changed. Compare safety numbers: hush verify {}",
                contact.alias, contact.alias
            ),
        ),
        Event::GroupChanged { group, change } => notice(
            "group_changed",
            json!({"group": group, "change": change}),
            format!("{group}: {change}"),
        ),
        Event::GroupChangeRefused { group, reason } => notice(
            "group_change_refused",
            json!({"group": group, "reason": reason}),
            format!("{group}: refused a group change: {reason}"),
        ),
        Event::TimerChanged {
            conversation,
            seconds,
        } => notice(
            "timer",
            json!({"conversation": name_of(client, conversation), "seconds": seconds}),
            match seconds {
                Some(s) => format!(
                    "messages in {} now disappear after {s}s",
                    name_of(client, conversation)
                ),
                None => format!(
                    "disappearing messages off in {}",
                    name_of(client, conversation)
                ),
            },
        ),
        Event::Typing {
            contact,
            conversation,
            active,
        } => {
            let who = client.alias_of(contact).unwrap_or_default();
            notice(
                "typing",
                json!({"from": who, "conversation": name_of(client, conversation), "active": active}),
                if *active {
                    format!("{who} is typing…")
                } else {
                    format!("{who} stopped typing")
                },
            );
        }
        Event::Presence { contact, online } => {
            let who = client.alias_of(contact).unwrap_or_default();
            notice(
                "presence",
                json!({"contact": who, "online": online}),
                format!("{who} is {}", if *online { "online" } else { "offline" }),
            );
        }
        Event::Undecryptable => eprintln!("hush: a message arrived that could not be decrypted"),
        _ => {}
    }
}

/// The JSON object of a contact.
pub(crate) fn contact_json(contact: &Contact) -> Value {
    let now = now_ms();
    json!({
        "alias": contact.alias,
        "username": contact.username,
        "mailbox": contact.mailbox.to_string(),
        "verified": contact.verified,
        "key_changed": contact.key_changed,
        "online": hush_client_core::client::is_online(contact, now),
        "last_seen": contact.last_seen_ms.map(rfc3339),
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One human line for a contact.
pub(crate) fn contact_line(contact: &Contact) -> String {
    let username = contact
        .username
        .as_ref()
        .map(|u| format!(" @{u}"))
        .unwrap_or_default();
    let trust = if contact.key_changed {
        "KEY CHANGED — verify"
    } else if contact.verified {
        "verified"
    } else {
        "unverified"
    };
    let presence = if hush_client_core::client::is_online(contact, now_ms()) {
        " — online".to_owned()
    } else {
        contact
            .last_seen_ms
            .map(|ms| {
                format!(
                    " — last seen {}",
                    rfc3339(ms).get(..16).unwrap_or_default().replace('T', " ")
                )
            })
            .unwrap_or_default()
    };
    format!("{}{username} ({trust}){presence}", contact.alias)
}
