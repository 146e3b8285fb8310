//! Client services (`hush_client_core::service`) against a relay, for end-to-end tests.

use std::path::Path;
use std::time::Duration;

use hush_client_core::service::{ClientHandle, ConnectionState, ServiceEvent};
use hush_client_core::{Client, MessageId, Status, StorageKey};

use crate::RelayProcess;

/// How long a test waits for an event before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The app key every [`user`]'s store is opened with (to reopen one in a test).
pub const STORE_KEY: [u8; 32] = [7; 32];

/// A new account `name` in `dir/name` on `relay`, run as a service (offline until
/// `set_online`).
pub async fn user(dir: &Path, name: &str, relay: &RelayProcess) -> ClientHandle {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).expect("creating a home");
    let client = Client::create_with_key(&home, StorageKey::from_bytes(STORE_KEY))
        .expect("creating a store");
    let handle = ClientHandle::spawn(client, &tokio::runtime::Handle::current());
    handle
        .init_account(relay.address.clone(), Some(name.into()))
        .await
        .expect("creating the account");
    handle
}

/// Makes two service accounts contacts of each other, under the given aliases.
pub async fn befriend(a: &ClientHandle, a_name: &str, b: &ClientHandle, b_name: &str) {
    let a_invite = a.invite().await.expect("an invite");
    let b_invite = b.invite().await.expect("an invite");
    a.add_contact(b_invite, Some(b_name.into()))
        .await
        .expect("adding a contact");
    b.add_contact(a_invite, Some(a_name.into()))
        .await
        .expect("adding a contact");
}

/// Reads events until `want` matches one; returns everything read. Fails the test after
/// [`PATIENCE`].
pub async fn until(
    handle: &ClientHandle,
    mut want: impl FnMut(&ServiceEvent) -> bool,
) -> Vec<ServiceEvent> {
    let mut seen = Vec::new();
    let outcome = tokio::time::timeout(PATIENCE, async {
        while let Some(event) = handle.next_event().await {
            let done = want(&event);
            seen.push(event);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "timed out; events so far: {seen:#?}");
    seen
}

/// The service is connected.
pub fn connected(event: &ServiceEvent) -> bool {
    matches!(event, ServiceEvent::Connection(ConnectionState::Connected))
}

/// The relay stored it (a delivery receipt may be recorded before the relay's own answer, so
/// the first status reported can already be `Delivered`).
pub fn at_least_stored(status: Status) -> bool {
    matches!(status, Status::Stored | Status::Delivered | Status::Read)
}

/// A status event saying the relay stored message `id`.
pub fn stored(id: MessageId) -> impl Fn(&ServiceEvent) -> bool {
    move |event| matches!(event, ServiceEvent::MessageStatus(m) if m.id == id && at_least_stored(m.status))
}
