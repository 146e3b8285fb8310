//! One async function per operation: parse the arguments, ask the service, convert the answer.
//! The UniFFI methods (sync and async) and the C functions all call these.

use std::time::Duration;

use hush_client_core::MessageId;
use hush_client_core::service::ClientHandle;
use hush_protocol::RelayAddress;

use crate::model::{
    HushAccount, HushContact, HushConversation, HushError, HushMessage, HushSafetyNumber,
    HushSyncReport,
};

type Result<T> = std::result::Result<T, HushError>;

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
    let before = match before {
        Some(id) => Some(
            id.parse::<MessageId>()
                .map_err(|_| HushError::InvalidInput(format!("{id:?} is not a message id")))?,
        ),
        None => None,
    };
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
