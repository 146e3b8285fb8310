//! One function per subcommand.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use hush_client_core::{Client, ClientError, MessageId, SendOutcome};
use hush_protocol::RelayAddress;
use serde_json::json;

use crate::args::{Cli, Command, GroupCommand};
use crate::output::{contact_json, contact_line, message_json, print_event, print_message};
use crate::secrets;

/// The home directory: `--home`, `HUSH_HOME`, or `$XDG_DATA_HOME/hush`.
fn home_dir(home: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(home) = home {
        return Ok(home);
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(data).join("hush"));
    }
    let home = std::env::var_os("HOME").context("set --home, HUSH_HOME or HOME")?;
    Ok(PathBuf::from(home).join(".local/share/hush"))
}

fn open(home: &std::path::Path) -> anyhow::Result<Client> {
    if !Client::exists(home) {
        return Err(ClientError::NoAccount.into());
    }
    let passphrase = secrets::passphrase()?;
    Ok(Client::open(home, passphrase.as_bytes())?)
}

fn read_text(text: String) -> anyhow::Result<String> {
    if text != "-" {
        return Ok(text);
    }
    let mut buffer = String::new();
    std::io::stdin()
        .read_to_string(&mut buffer)
        .context("reading the message from stdin")?;
    let trimmed = buffer.strip_suffix('\n').unwrap_or(&buffer);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
}

/// Runs a parsed command line.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let home = home_dir(cli.home)?;
    let json = cli.json;
    match cli.command {
        Command::Init { relay, name } => init(&home, &relay, name, json).await,
        Command::Whoami => {
            let client = open(&home)?;
            let me = client.whoami()?;
            if json {
                println!(
                    "{}",
                    json!({"fingerprint": me.fingerprint, "relay": me.relay, "mailbox": me.mailbox.to_string(),
                           "name": me.name, "username": me.username, "invite": me.invite})
                );
            } else {
                println!("fingerprint: {}", me.fingerprint);
                println!("relay:       {}", me.relay);
                println!("name:        {}", me.name.as_deref().unwrap_or("-"));
                println!(
                    "username:    {}",
                    me.username
                        .map(|u| format!("@{u}"))
                        .as_deref()
                        .unwrap_or("-")
                );
                println!("invite:      {}", me.invite);
            }
            Ok(())
        }
        Command::Register { username } => {
            let mut client = open(&home)?;
            let claimed = client.register(&username).await?;
            if json {
                println!("{}", json!({"username": claimed}));
            } else {
                println!("you are @{claimed} on your relay");
            }
            Ok(())
        }
        Command::Invite => {
            let client = open(&home)?;
            let code = client.invite()?.encode();
            if json {
                println!("{}", json!({"invite": code}));
            } else {
                println!("{code}");
            }
            Ok(())
        }
        Command::Add { code, alias } => {
            let mut client = open(&home)?;
            let contact = client.add_contact(&code, alias.as_deref()).await?;
            if json {
                println!("{}", contact_json(&contact));
            } else {
                println!("added {}", contact_line(&contact));
                if contact.key_changed {
                    eprintln!(
                        "hush: WARNING: {}'s identity key differs from before; compare safety numbers with `hush verify {}`",
                        contact.alias, contact.alias
                    );
                }
            }
            Ok(())
        }
        Command::Contacts => {
            let client = open(&home)?;
            for contact in client.contacts()? {
                if json {
                    println!("{}", contact_json(&contact));
                } else {
                    println!("{}", contact_line(&contact));
                }
            }
            Ok(())
        }
        Command::Send { to, text, reply } => {
            let text = read_text(text)?;
            let reply = reply.as_deref().map(message_id).transpose()?;
            let mut client = open(&home)?;
            match client.send_reply(&to, &text, reply).await? {
                SendOutcome::Stored(message) => {
                    if json {
                        let mut object = message_json(&client, &message);
                        object["delivery"] = json!("stored");
                        println!("{object}");
                    } else {
                        println!("sent: stored by the relay");
                    }
                }
                SendOutcome::Queued { message, reason } => {
                    if json {
                        let mut object = message_json(&client, &message);
                        object["delivery"] = json!("queued");
                        object["reason"] = json!(reason);
                        println!("{object}");
                    } else {
                        println!("queued: {reason}; it goes out with the next `hush sync`");
                    }
                }
            }
            Ok(())
        }
        Command::Sync { wait, limit_rate } => {
            let mut client = open(&home)?;
            client.set_rate_limit(limit_rate);
            crate::files::show_progress(&mut client, json);
            let report = client
                .sync(Duration::from_secs(wait), |client, event| {
                    print_event(client, event, json)
                })
                .await?;
            crate::files::print_uploads(&report.uploads, json);
            if let Some(error) = &report.upload_error {
                eprintln!(
                    "hush: a file upload did not finish: {error} ({} file(s) still waiting)",
                    report.pending_uploads
                );
            }
            if let Some(error) = &report.send_error {
                eprintln!("hush: {} message(s) still queued: {error}", report.queued);
            }
            if !json {
                eprintln!(
                    "hush: {} new, {} sent, {} queued",
                    report.received, report.sent, report.queued
                );
            }
            Ok(())
        }
        Command::Listen => {
            let mut client = open(&home)?;
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            client
                .listen(
                    stop,
                    |client, event| print_event(client, event, json),
                    |state| match state {
                        Ok(()) => eprintln!("hush: connected"),
                        Err(error) => eprintln!("hush: {error}; reconnecting"),
                    },
                )
                .await?;
            Ok(())
        }
        Command::History { to, limit, before } => {
            let client = open(&home)?;
            let before = match before {
                Some(id) => Some(id.parse::<MessageId>().map_err(|_| {
                    ClientError::InvalidInput(format!("{id:?} is not a message id"))
                })?),
                None => None,
            };
            let mut client = client;
            for message in client.history(&to, limit, before)? {
                print_message(&client, &message, json);
            }
            // Showing a conversation reads it: read receipts go out with the next connection.
            let conversation = client.resolve_conversation(&to)?;
            client.mark_read(&conversation)?;
            Ok(())
        }
        Command::Search { text } => {
            let client = open(&home)?;
            for message in client.search(&text)? {
                print_message(&client, &message, json);
            }
            Ok(())
        }
        Command::Chat { to } => {
            let mut client = open(&home)?;
            crate::chat::run(&mut client, &to, json).await
        }
        Command::Bench(args) => crate::bench::run(args, json).await,
        Command::Group(command) => group(&home, command, json).await,
        Command::Groups => {
            let client = open(&home)?;
            for info in client.groups()? {
                print_group(&info, json);
            }
            Ok(())
        }
        Command::Delete { id, for_everyone } => {
            let mut client = open(&home)?;
            client
                .delete_message(&message_id(&id)?, for_everyone)
                .await?;
            if !json {
                println!("deleted{}", if for_everyone { " for everyone" } else { "" });
            }
            Ok(())
        }
        Command::Edit { id, text } => {
            let mut client = open(&home)?;
            let message = client.edit_message(&message_id(&id)?, &text).await?;
            print_message(&client, &message, json);
            Ok(())
        }
        Command::React { id, emoji } => {
            let mut client = open(&home)?;
            let message = client.react(&message_id(&id)?, &emoji).await?;
            print_message(&client, &message, json);
            Ok(())
        }
        Command::Disappear { to, duration } => {
            let seconds = match duration.as_str() {
                "off" | "0" => None,
                text => {
                    let parsed = humantime::parse_duration(text).map_err(|e| {
                        ClientError::InvalidInput(format!(
                            "{text:?} is not a duration like 30s, 10m, 1h or 7d: {e}"
                        ))
                    })?;
                    if parsed.as_secs() == 0 {
                        return Err(ClientError::InvalidInput(
                            "use at least one second, or off".into(),
                        )
                        .into());
                    }
                    Some(parsed.as_secs())
                }
            };
            let mut client = open(&home)?;
            client.set_timer(&to, seconds).await?;
            if !json {
                match seconds {
                    Some(s) => println!("messages in {to} now disappear after {s}s"),
                    None => println!("disappearing messages off in {to}"),
                }
            }
            Ok(())
        }
        Command::Receipts { setting } => {
            let client = open(&home)?;
            let mut preferences = client.preferences()?;
            preferences.receipts = on_off(&setting)?;
            client.set_preferences(&preferences)?;
            Ok(())
        }
        Command::Presence { setting } => {
            let client = open(&home)?;
            let mut preferences = client.preferences()?;
            preferences.presence = on_off(&setting)?;
            client.set_preferences(&preferences)?;
            Ok(())
        }
        Command::SendFile {
            to,
            path,
            caption,
            limit_rate,
        } => {
            let mut client = open(&home)?;
            client.set_rate_limit(limit_rate);
            crate::files::send_file(&mut client, &to, &path, caption.as_deref(), json).await
        }
        Command::Files { to } => {
            let client = open(&home)?;
            crate::files::list(&client, to.as_deref(), json)
        }
        Command::Save {
            id,
            path,
            limit_rate,
        } => {
            let mut client = open(&home)?;
            client.set_rate_limit(limit_rate);
            crate::files::save(&mut client, &id, path.as_deref(), json).await
        }
        Command::Verify { to, mark_verified } => {
            let client = open(&home)?;
            let (contact, number) = client.safety_number(&to)?;
            let contact = if mark_verified {
                client.mark_verified(&to)?
            } else {
                contact
            };
            if json {
                println!(
                    "{}",
                    json!({"contact": contact.alias, "safety_number": number.displayable(),
                           "verified": contact.verified, "key_changed": contact.key_changed})
                );
            } else {
                println!("safety number with {}:", contact.alias);
                println!("  {}", number.displayable());
                if mark_verified {
                    println!("marked verified");
                } else {
                    println!(
                        "compare it with theirs (in person or on a call); if it matches: hush verify {} --mark-verified",
                        contact.alias
                    );
                }
            }
            Ok(())
        }
    }
}

async fn init(
    home: &std::path::Path,
    relay: &str,
    name: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let relay: RelayAddress = relay
        .parse()
        .map_err(|e| ClientError::InvalidInput(format!("{relay:?} is not a relay address: {e}")))?;
    let mut client = if Client::exists(home) {
        // A previous init may have created the store but not reached the relay.
        let passphrase = secrets::passphrase()?;
        let client = Client::open(home, passphrase.as_bytes())?;
        if client.whoami().is_ok() {
            return Err(ClientError::AccountExists.into());
        }
        client
    } else {
        let passphrase = secrets::new_passphrase()?;
        std::fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
        Client::create(home, passphrase.as_bytes(), secrets::kdf_params()?)?
    };
    let me = client.init_account(relay, name).await?;
    if json {
        println!(
            "{}",
            json!({"fingerprint": me.fingerprint, "relay": me.relay, "mailbox": me.mailbox.to_string(), "invite": me.invite})
        );
    } else {
        println!("account created on {}", me.relay);
        println!("fingerprint: {}", me.fingerprint);
        println!("invite:      {}", me.invite);
    }
    if home.as_os_str().is_empty() {
        bail!("empty home");
    }
    Ok(())
}

fn message_id(text: &str) -> anyhow::Result<MessageId> {
    Ok(text
        .parse::<MessageId>()
        .map_err(|_| ClientError::InvalidInput(format!("{text:?} is not a message id")))?)
}

fn on_off(setting: &str) -> anyhow::Result<bool> {
    match setting {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(ClientError::InvalidInput(format!("use on or off, not {other:?}")).into()),
    }
}

fn print_group(info: &hush_client_core::GroupInfo, json: bool) {
    if json {
        let members: Vec<serde_json::Value> = info
            .members
            .iter()
            .map(|(alias, role)| json!({"member": alias, "role": role.as_str()}))
            .collect();
        println!(
            "{}",
            json!({"group": format!("#{}", info.name), "members": members})
        );
    } else {
        let members: Vec<String> = info
            .members
            .iter()
            .map(|(alias, role)| format!("{alias} ({})", role.as_str()))
            .collect();
        println!("#{}: {}", info.name, members.join(", "));
    }
}

async fn group(home: &std::path::Path, command: GroupCommand, json: bool) -> anyhow::Result<()> {
    let mut client = open(home)?;
    let info = match command {
        GroupCommand::Create { name, members } => client.create_group(&name, &members).await?,
        GroupCommand::Add { name, member } => client.group_add(&name, &member).await?,
        GroupCommand::Remove { name, member } => client.group_remove(&name, &member).await?,
        GroupCommand::Leave { name } => {
            client.group_leave(&name).await?;
            if !json {
                println!("you left {name}");
            }
            return Ok(());
        }
        GroupCommand::Rename { name, new } => client.group_rename(&name, &new).await?,
        GroupCommand::Promote { name, member } => client.group_promote(&name, &member).await?,
        GroupCommand::Info { name } => client.group_info(&name)?,
    };
    print_group(&info, json);
    Ok(())
}
