//! Rendering for people (plain lines) and for machines (`--json`: one object per line).

use std::time::{Duration, UNIX_EPOCH};

use hush_client_core::{Client, Contact, Direction, Event, Message, Status};
use serde_json::{Value, json};

/// RFC 3339 (UTC, milliseconds) of a time in ms since the epoch.
pub(crate) fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Queued => "queued",
        Status::Stored => "stored",
        Status::Failed => "failed",
        Status::Received => "received",
        _ => "unknown",
    }
}

/// The JSON object of a message.
pub(crate) fn message_json(client: &Client, message: &Message) -> Value {
    let alias = client
        .alias_of(&message.conversation)
        .unwrap_or_else(|_| "?".into());
    let from = match message.direction {
        Direction::Outgoing => "me".to_owned(),
        Direction::Incoming => alias.clone(),
    };
    json!({
        "type": "message",
        "id": message.id.to_string(),
        "conversation": alias,
        "from": from,
        "text": message.text,
        "sent_at": rfc3339(message.sent_at_ms),
        "received_at": rfc3339(message.received_at_ms),
        "direction": match message.direction { Direction::Incoming => "in", Direction::Outgoing => "out" },
        "status": status_name(message.status),
    })
}

/// One human line for a message.
pub(crate) fn message_line(client: &Client, message: &Message) -> String {
    let alias = client
        .alias_of(&message.conversation)
        .unwrap_or_else(|_| "?".into());
    let when = rfc3339(message.sent_at_ms);
    let when = when.get(..16).unwrap_or(&when).replace('T', " ");
    match message.direction {
        Direction::Incoming => format!("[{when}] {alias}: {}", message.text),
        Direction::Outgoing => {
            let mark = match message.status {
                Status::Queued => " (queued)",
                Status::Failed => " (failed)",
                _ => "",
            };
            format!("[{when}] me → {alias}: {}{mark}", message.text)
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

/// Prints an event: messages on stdout; warnings about contacts on stderr (and as JSON
/// objects in JSON mode).
pub(crate) fn print_event(client: &Client, event: &Event, json: bool) {
    match event {
        Event::Message(message) => print_message(client, message, json),
        Event::NewContact(contact) if json => {
            println!(
                "{}",
                json!({"type": "new_contact", "contact": contact.alias})
            );
        }
        Event::NewContact(contact) => eprintln!(
            "hush: new contact {:?} wrote to you (they have your invite); check `hush verify {}`",
            contact.alias, contact.alias
        ),
        Event::IdentityChanged(contact) if json => {
            println!(
                "{}",
                json!({"type": "identity_changed", "contact": contact.alias})
            );
        }
        Event::IdentityChanged(contact) => eprintln!(
            "hush: WARNING: {}'s identity key changed. Compare safety numbers: hush verify {}",
            contact.alias, contact.alias
        ),
        Event::Undecryptable => eprintln!("hush: a message arrived that could not be decrypted"),
        _ => {}
    }
}

/// The JSON object of a contact.
pub(crate) fn contact_json(contact: &Contact) -> Value {
    json!({
        "alias": contact.alias,
        "username": contact.username,
        "mailbox": contact.mailbox.to_string(),
        "verified": contact.verified,
        "key_changed": contact.key_changed,
    })
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
    format!("{}{username} ({trust})", contact.alias)
}
