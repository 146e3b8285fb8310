//! One async function per operation: parse the arguments, ask the service, convert the answer.
//! The UniFFI methods (sync and async) and the C functions all call these.

use std::time::Duration;

use hush_client_core::MessageId;
use hush_client_core::service::ClientHandle;
use hush_protocol::RelayAddress;

use crate::model::{
    HushAccount, HushContact, HushConversation, HushError, HushGroup, HushMessage, HushPreferences,
    HushSafetyNumber, HushSavedFile, HushSyncReport,
};

type Result<T> = std::result::Result<T, HushError>;

fn message_id(id: &str) -> Result<MessageId> {
    id.parse()
        .map_err(|_| HushError::InvalidInput(format!("{id:?} is not a message id")))
}

pub(crate) async fn init_account(
    handle: ClientHandle,
    relay: String,
    name: Option<String>,
) -> Result<HushAccount> {
    let relay: RelayAddress = relay.parse().map_err(|error| {
        HushError::InvalidInput(format!("{relay:?} is not a relay address: {error}"))
    })?;
    Ok(handle.init_account(relay, name).await?.into())
}

pub(crate) async fn whoami(handle: ClientHandle) -> Result<HushAccount> {
    Ok(handle.whoami().await?.into())
}

pub(crate) async fn invite(handle: ClientHandle) -> Result<String> {
    Ok(handle.invite().await?)
}

pub(crate) async fn register(handle: ClientHandle, username: String) -> Result<String> {
    Ok(handle.register(username).await?)
}

pub(crate) async fn add_contact(
    handle: ClientHandle,
    code: String,
    alias: Option<String>,
) -> Result<HushContact> {
    Ok(handle.add_contact(code, alias).await?.into())
}

pub(crate) async fn contacts(handle: ClientHandle) -> Result<Vec<HushContact>> {
    Ok(handle
        .contacts()
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn conversations(handle: ClientHandle) -> Result<Vec<HushConversation>> {
    Ok(handle
        .conversations()
        .await?
        .into_iter()
        .map(|(id, name, last)| HushConversation {
            conversation: crate::model::conversation_id(&id),
            name,
            is_group: matches!(id, hush_client_core::ConversationId::Group(_)),
            last_message: last.map(Into::into),
        })
        .collect())
}

pub(crate) async fn send_text(
    handle: ClientHandle,
    to: String,
    text: String,
) -> Result<HushMessage> {
    Ok(handle.send_text(to, text).await?.into())
}

pub(crate) async fn history(
    handle: ClientHandle,
    with: String,
    limit: u32,
    before: Option<String>,
) -> Result<Vec<HushMessage>> {
    let before = before.as_deref().map(message_id).transpose()?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    Ok(handle
        .history(with, limit, before)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn search(handle: ClientHandle, text: String) -> Result<Vec<HushMessage>> {
    Ok(handle
        .search(text)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn safety_number(handle: ClientHandle, with: String) -> Result<HushSafetyNumber> {
    let (contact, number) = handle.safety_number(with).await?;
    Ok(HushSafetyNumber {
        contact: contact.into(),
        digits: number.displayable(),
    })
}

pub(crate) async fn mark_verified(handle: ClientHandle, with: String) -> Result<HushContact> {
    Ok(handle.mark_verified(with).await?.into())
}

pub(crate) async fn sync(handle: ClientHandle, wait_ms: u32) -> Result<HushSyncReport> {
    Ok(handle
        .sync(Duration::from_millis(u64::from(wait_ms)))
        .await?
        .into())
}

pub(crate) async fn set_online(handle: ClientHandle, online: bool) -> Result<()> {
    Ok(handle.set_online(online).await?)
}

pub(crate) async fn send_reply(
    handle: ClientHandle,
    to: String,
    text: String,
    reply_to: String,
) -> Result<HushMessage> {
    let reply_to = message_id(&reply_to)?;
    Ok(handle.send_reply(to, text, Some(reply_to)).await?.into())
}

pub(crate) async fn edit_message(
    handle: ClientHandle,
    id: String,
    text: String,
) -> Result<HushMessage> {
    Ok(handle.edit_message(message_id(&id)?, text).await?.into())
}

pub(crate) async fn delete_message(
    handle: ClientHandle,
    id: String,
    for_everyone: bool,
) -> Result<()> {
    Ok(handle
        .delete_message(message_id(&id)?, for_everyone)
        .await?)
}

pub(crate) async fn react(handle: ClientHandle, id: String, emoji: String) -> Result<HushMessage> {
    Ok(handle.react(message_id(&id)?, emoji).await?.into())
}

pub(crate) async fn mark_read(handle: ClientHandle, conversation: String) -> Result<u64> {
    let count = handle.mark_read(conversation).await?;
    Ok(u64::try_from(count).unwrap_or(u64::MAX))
}

pub(crate) async fn send_typing(
    handle: ClientHandle,
    conversation: String,
    active: bool,
) -> Result<()> {
    Ok(handle.send_typing(conversation, active).await?)
}

pub(crate) async fn timer(handle: ClientHandle, conversation: String) -> Result<Option<u64>> {
    Ok(handle.timer(conversation).await?)
}

pub(crate) async fn set_timer(
    handle: ClientHandle,
    conversation: String,
    seconds: Option<u64>,
) -> Result<()> {
    Ok(handle.set_timer(conversation, seconds).await?)
}

pub(crate) async fn preferences(handle: ClientHandle) -> Result<HushPreferences> {
    Ok(handle.preferences().await?.into())
}

pub(crate) async fn set_preferences(
    handle: ClientHandle,
    preferences: HushPreferences,
) -> Result<HushPreferences> {
    Ok(handle
        .update_preferences(move |current| {
            preferences.apply_to(current);
            Ok(())
        })
        .await?
        .into())
}

/// Changes the preferences named in `patch`, a JSON object with some of the fields of
/// [`HushPreferences`]; the others keep their values.
pub(crate) async fn patch_preferences(
    handle: ClientHandle,
    patch: String,
) -> Result<HushPreferences> {
    let patch: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&patch).map_err(|error| {
            HushError::InvalidInput(format!("the preferences are not a JSON object: {error}"))
        })?;
    let invalid = |error: serde_json::Error| {
        hush_client_core::ClientError::InvalidInput(format!("bad preferences: {error}"))
    };
    Ok(handle
        .update_preferences(move |current| {
            let mut merged =
                serde_json::to_value(HushPreferences::from(current.clone())).map_err(invalid)?;
            if let serde_json::Value::Object(fields) = &mut merged {
                fields.extend(patch);
            }
            let wanted: HushPreferences = serde_json::from_value(merged).map_err(invalid)?;
            wanted.apply_to(current);
            Ok(())
        })
        .await?
        .into())
}

pub(crate) async fn groups(handle: ClientHandle) -> Result<Vec<HushGroup>> {
    Ok(handle.groups().await?.into_iter().map(Into::into).collect())
}

pub(crate) async fn group_info(handle: ClientHandle, group: String) -> Result<HushGroup> {
    Ok(handle.group_info(group).await?.into())
}

pub(crate) async fn create_group(
    handle: ClientHandle,
    name: String,
    members: Vec<String>,
) -> Result<HushGroup> {
    Ok(handle.create_group(name, members).await?.into())
}

pub(crate) async fn group_add(
    handle: ClientHandle,
    group: String,
    member: String,
) -> Result<HushGroup> {
    Ok(handle.group_add(group, member).await?.into())
}

pub(crate) async fn group_remove(
    handle: ClientHandle,
    group: String,
    member: String,
) -> Result<HushGroup> {
    Ok(handle.group_remove(group, member).await?.into())
}

pub(crate) async fn group_leave(handle: ClientHandle, group: String) -> Result<HushGroup> {
    Ok(handle.group_leave(group).await?.into())
}

pub(crate) async fn group_rename(
    handle: ClientHandle,
    group: String,
    new_name: String,
) -> Result<HushGroup> {
    Ok(handle.group_rename(group, new_name).await?.into())
}

pub(crate) async fn group_promote(
    handle: ClientHandle,
    group: String,
    member: String,
) -> Result<HushGroup> {
    Ok(handle.group_promote(group, member).await?.into())
}

pub(crate) async fn send_file(
    handle: ClientHandle,
    to: String,
    path: String,
    caption: Option<String>,
) -> Result<HushMessage> {
    if path.is_empty() {
        return Err(HushError::InvalidInput("the file path is empty".into()));
    }
    Ok(handle.send_file(to, path.into(), caption).await?.into())
}

pub(crate) async fn files(handle: ClientHandle, to: Option<String>) -> Result<Vec<HushMessage>> {
    Ok(handle
        .files(to)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn save_file(
    handle: ClientHandle,
    id: String,
    dest: Option<String>,
) -> Result<HushSavedFile> {
    let dest = dest.filter(|dest| !dest.is_empty()).map(Into::into);
    Ok(handle.save_file(id, dest).await?.into())
}
