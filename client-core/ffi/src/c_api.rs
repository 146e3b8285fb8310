//! The C ABI: opaque handles, `hush_`-prefixed functions, error codes with a per-thread
//! last-error message, UTF-8 strings, JSON for structured results.
//!
//! The header `include/hush.h` is generated from this file by cbindgen (the
//! `c_header_is_up_to_date` test checks it; `HUSH_BLESS=1 cargo test -p hush-ffi --test
//! c_header` rewrites it). Its opening comment, in `cbindgen.toml`, states the threading and
//! lifetime rules.
//!
//! This is the only module of the workspace with `unsafe` code: it dereferences the pointers C
//! passes in, which the header's rules make valid.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_void};
use std::time::Duration;

use serde::Serialize;

use crate::core::{Core, Deliver, Open, guard};
use crate::model::{HushError, HushEvent};
use crate::ops;

/// Success.
pub const HUSH_OK: i32 = 0;
/// An argument is not acceptable (also: a NULL pointer or a string that is not UTF-8).
pub const HUSH_ERR_INVALID_INPUT: i32 = 1;
/// No contact by that name.
pub const HUSH_ERR_UNKNOWN_CONTACT: i32 = 2;
/// The home has no account yet: call `hush_client_init_account`.
pub const HUSH_ERR_NO_ACCOUNT: i32 = 3;
/// The home already has an account (or a store, when creating one).
pub const HUSH_ERR_ACCOUNT_EXISTS: i32 = 4;
/// The passphrase or storage key does not open this home.
pub const HUSH_ERR_WRONG_PASSPHRASE: i32 = 5;
/// Another process or client is using this home.
pub const HUSH_ERR_BUSY: i32 = 6;
/// The local store is missing or damaged, or the disk failed.
pub const HUSH_ERR_STORAGE: i32 = 7;
/// The relay could not be reached or refused the request.
pub const HUSH_ERR_NETWORK: i32 = 8;
/// The relay's key does not match the pin in its address.
pub const HUSH_ERR_RELAY_KEY_MISMATCH: i32 = 9;
/// A contact's keys did not verify, or changed and must be verified again.
pub const HUSH_ERR_VERIFICATION: i32 = 10;
/// The client was closed.
pub const HUSH_ERR_CLOSED: i32 = 11;
/// A bug: the library panicked (the panic was caught; nothing crashed).
pub const HUSH_ERR_PANIC: i32 = 12;

/// An open Hush home. Create with `hush_client_create`/`hush_client_open` (or the `_with_key`
/// forms), release with `hush_client_free`.
pub struct HushClient {
    core: Core,
}

/// Receives one event: `event_json` is a UTF-8 JSON object (see `docs/ffi.md`), valid only
/// during the call; `user_data` is what was passed to `hush_client_set_event_callback`.
/// Called on a thread the library owns, one event at a time.
pub type HushEventCallback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char)>;

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn code(error: &HushError) -> i32 {
    match error {
        HushError::InvalidInput(_) => HUSH_ERR_INVALID_INPUT,
        HushError::UnknownContact(_) => HUSH_ERR_UNKNOWN_CONTACT,
        HushError::NoAccount(_) => HUSH_ERR_NO_ACCOUNT,
        HushError::AccountExists(_) => HUSH_ERR_ACCOUNT_EXISTS,
        HushError::WrongPassphrase(_) => HUSH_ERR_WRONG_PASSPHRASE,
        HushError::Busy(_) => HUSH_ERR_BUSY,
        HushError::Storage(_) => HUSH_ERR_STORAGE,
        HushError::Network(_) => HUSH_ERR_NETWORK,
        HushError::RelayKeyMismatch(_) => HUSH_ERR_RELAY_KEY_MISMATCH,
        HushError::Verification(_) => HUSH_ERR_VERIFICATION,
        HushError::Closed(_) => HUSH_ERR_CLOSED,
        HushError::Panic(_) => HUSH_ERR_PANIC,
    }
}

fn set_last_error(message: Option<String>) {
    let message = message.map(|m| CString::new(m.replace('\0', " ")).unwrap_or_default());
    LAST_ERROR.with(|slot| *slot.borrow_mut() = message);
}

/// Turns a result into a code, remembering the error's message for `hush_last_error_message`.
fn finish(result: Result<(), HushError>) -> i32 {
    match result {
        Ok(()) => {
            set_last_error(None);
            HUSH_OK
        }
        Err(error) => {
            let code = code(&error);
            set_last_error(Some(error.to_string()));
            code
        }
    }
}

/// Runs `work` with panics caught, and turns its result into a code.
fn call(work: impl FnOnce() -> Result<(), HushError>) -> i32 {
    finish(guard(work))
}

fn to_c_string(text: String) -> Result<*mut c_char, HushError> {
    CString::new(text)
        .map(CString::into_raw)
        .map_err(|_| HushError::InvalidInput("the result contains a NUL character".into()))
}

fn json(value: &impl Serialize) -> Result<String, HushError> {
    serde_json::to_string(value)
        .map_err(|error| HushError::Panic(format!("could not encode the result: {error}")))
}

/// Writes `value` to `*out`, which was checked non-NULL and set to NULL.
///
/// # Safety
/// `out` must be valid for writes.
unsafe fn put(out: *mut *mut c_char, value: String) -> Result<(), HushError> {
    let pointer = to_c_string(value)?;
    // SAFETY: the caller checked `out` is non-NULL; the header requires it to point to a
    // writable `char *`.
    unsafe { *out = pointer };
    Ok(())
}

/// Checks an out-parameter and sets it to NULL.
///
/// # Safety
/// `out` must be NULL or valid for writes.
unsafe fn clear<T>(out: *mut *mut T) -> Result<(), HushError> {
    if out.is_null() {
        return Err(HushError::InvalidInput("the out-parameter is NULL".into()));
    }
    // SAFETY: non-NULL, and the header requires it to point to a writable pointer.
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}

/// A required string argument.
///
/// # Safety
/// `text` must be NULL or a NUL-terminated string valid for reads.
unsafe fn text(text: *const c_char, what: &str) -> Result<String, HushError> {
    if text.is_null() {
        return Err(HushError::InvalidInput(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL; the header requires NUL-terminated strings that stay valid during the
    // call.
    let text = unsafe { CStr::from_ptr(text) };
    text.to_str()
        .map(str::to_owned)
        .map_err(|_| HushError::InvalidInput(format!("{what} is not UTF-8")))
}

/// An optional string argument (NULL: none).
///
/// # Safety
/// As [`text`].
unsafe fn optional_text(value: *const c_char, what: &str) -> Result<Option<String>, HushError> {
    if value.is_null() {
        return Ok(None);
    }
    // SAFETY: as the caller's contract.
    unsafe { text(value, what) }.map(Some)
}

/// The client behind a handle.
///
/// # Safety
/// `client` must be NULL or a handle from `hush_client_*` not yet freed.
unsafe fn client<'a>(client: *const HushClient) -> Result<&'a HushClient, HushError> {
    // SAFETY: the header requires a live handle; `as_ref` handles NULL.
    unsafe { client.as_ref() }
        .ok_or_else(|| HushError::InvalidInput("the client handle is NULL".into()))
}

/// A list of strings: `len` pointers at `items` (`items` may be NULL when `len` is 0).
///
/// # Safety
/// `items` must be NULL or point to `len` readable pointers, each NULL or NUL-terminated.
unsafe fn text_array(
    items: *const *const c_char,
    len: usize,
    what: &str,
) -> Result<Vec<String>, HushError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if items.is_null() {
        return Err(HushError::InvalidInput(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the header requires `len` readable pointers.
    let items = unsafe { std::slice::from_raw_parts(items, len) };
    items
        .iter()
        .enumerate()
        // SAFETY: each is NULL or NUL-terminated, under the header's contract.
        .map(|(index, item)| unsafe { text(*item, &format!("{what}[{index}]")) })
        .collect()
}

/// Runs an operation on a live handle that returns no string.
///
/// # Safety
/// `client` is NULL or live.
unsafe fn with_core(
    client: *const HushClient,
    operation: impl FnOnce(&Core) -> Result<(), HushError>,
) -> i32 {
    call(|| {
        // SAFETY: under the caller's contract.
        let client = unsafe { self::client(client)? };
        operation(&client.core)
    })
}

/// Opens a home and writes the handle to `*out`.
///
/// # Safety
/// As the public functions that call it.
unsafe fn open(
    home: *const c_char,
    how: impl FnOnce() -> Result<Open, HushError>,
    out: *mut *mut HushClient,
) -> i32 {
    call(|| {
        // SAFETY: the caller passes the C caller's pointers through.
        unsafe { clear(out)? };
        // SAFETY: as above.
        let home = unsafe { text(home, "home")? };
        let core = Core::open(&home, how()?)?;
        let handle = Box::into_raw(Box::new(HushClient { core }));
        // SAFETY: `out` was checked non-NULL by `clear`.
        unsafe { *out = handle };
        Ok(())
    })
}

/// Creates a new home in the directory `home`, protected by `passphrase` (Argon2id, 64 MiB:
/// takes a moment). Writes the handle to `*out`.
///
/// # Safety
/// `home` and `passphrase` are NUL-terminated UTF-8; `out` points to a writable
/// `HushClient *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_create(
    home: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut HushClient,
) -> i32 {
    // SAFETY: the pointers are the caller's, under this function's contract.
    unsafe {
        open(
            home,
            || Ok(Open::CreatePassphrase(text(passphrase, "passphrase")?)),
            out,
        )
    }
}

/// Opens a home created with `hush_client_create`.
///
/// # Safety
/// As `hush_client_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_open(
    home: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut HushClient,
) -> i32 {
    // SAFETY: the pointers are the caller's, under this function's contract.
    unsafe {
        open(
            home,
            || Ok(Open::Passphrase(text(passphrase, "passphrase")?)),
            out,
        )
    }
}

/// Reads a key argument.
///
/// # Safety
/// `key` must be NULL or valid for reads of `key_len` bytes.
unsafe fn key_bytes(key: *const u8, key_len: usize) -> Result<Vec<u8>, HushError> {
    if key.is_null() {
        return Err(HushError::InvalidInput("the key is NULL".into()));
    }
    // SAFETY: non-NULL, and the header requires `key_len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(key, key_len) }.to_vec())
}

/// Creates a new home encrypted under a 32-byte key the app keeps (platform keystore).
///
/// # Safety
/// `home` is NUL-terminated UTF-8; `key` points to `key_len` (32) readable bytes; `out` points
/// to a writable `HushClient *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_create_with_key(
    home: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut HushClient,
) -> i32 {
    // SAFETY: the pointers are the caller's, under this function's contract.
    unsafe { open(home, || Ok(Open::CreateKey(key_bytes(key, key_len)?)), out) }
}

/// Opens a home created with `hush_client_create_with_key`.
///
/// # Safety
/// As `hush_client_create_with_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_open_with_key(
    home: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut HushClient,
) -> i32 {
    // SAFETY: the pointers are the caller's, under this function's contract.
    unsafe { open(home, || Ok(Open::Key(key_bytes(key, key_len)?)), out) }
}

/// Disconnects, stops the event callback and releases the home; the handle stays valid (later
/// calls fail with `HUSH_ERR_CLOSED`) until `hush_client_free`.
///
/// # Safety
/// `client` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_close(client: *const HushClient) -> i32 {
    // SAFETY: under this function's contract.
    call(|| unsafe { self::client(client) }?.core.close())
}

/// Closes (if needed) and frees a handle. NULL is ignored. The handle must not be used again,
/// and no other thread may be using it.
///
/// # Safety
/// `client` is NULL or a live handle, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_free(client: *mut HushClient) {
    if client.is_null() {
        return;
    }
    // SAFETY: the handle came from `Box::into_raw` in `open` and is freed once.
    let boxed = unsafe { Box::from_raw(client) };
    let _ = guard(move || {
        drop(boxed);
        Ok(())
    });
}

/// Runs an operation on a live handle and writes its result as JSON (or as a plain string for
/// `String` results) to `*out`.
///
/// # Safety
/// `client` is NULL or live; `out` is NULL or writable.
unsafe fn with_client<T: Serialize>(
    client: *const HushClient,
    out: *mut *mut c_char,
    plain: bool,
    operation: impl FnOnce(&Core) -> Result<T, HushError>,
) -> i32 {
    call(|| {
        // SAFETY: under the caller's contract.
        unsafe { clear(out)? };
        // SAFETY: under the caller's contract.
        let client = unsafe { self::client(client)? };
        let value = operation(&client.core)?;
        let text = match (plain, serde_json::to_value(&value)) {
            (true, Ok(serde_json::Value::String(text))) => text,
            _ => json(&value)?,
        };
        // SAFETY: `out` was checked by `clear`.
        unsafe { put(out, text) }
    })
}

/// Creates the account on `relay` (`hush://host:port#pin`) with display name `name` (may be
/// NULL). Talks to the relay. `*out`: the account as JSON.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8 (or NULL where allowed); `out` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_init_account(
    client: *const HushClient,
    relay: *const c_char,
    name: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let relay = text(relay, "relay")?;
            let name = optional_text(name, "name")?;
            core.blocking(ops::init_account(core.handle(), relay, name))
        })
    }
}

/// The own account as JSON: `relay`, `mailbox`, `name`, `username`, `fingerprint`, `invite`.
///
/// # Safety
/// `client` is live; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_whoami(
    client: *const HushClient,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            core.blocking(ops::whoami(core.handle()))
        })
    }
}

/// The own invite code (`hush1:…`, plain text).
///
/// # Safety
/// `client` is live; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_invite(
    client: *const HushClient,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, true, |core| {
            core.blocking(ops::invite(core.handle()))
        })
    }
}

/// Claims `@username` on the relay; `*out`: the claimed name (plain text). Talks to the relay.
///
/// # Safety
/// `client` is live; `username` is NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_register(
    client: *const HushClient,
    username: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, true, |core| {
            let username = text(username, "username")?;
            core.blocking(ops::register(core.handle(), username))
        })
    }
}

/// Adds a contact from an invite code or `@username` (looked up on the relay), as `alias`
/// (NULL: the name they chose). `*out`: the contact as JSON.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8 (or NULL where allowed); `out` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_add_contact(
    client: *const HushClient,
    code: *const c_char,
    alias: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let code = text(code, "code")?;
            let alias = optional_text(alias, "alias")?;
            core.blocking(ops::add_contact(core.handle(), code, alias))
        })
    }
}

/// All contacts as a JSON array, by alias.
///
/// # Safety
/// `client` is live; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_contacts(
    client: *const HushClient,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            core.blocking(ops::contacts(core.handle()))
        })
    }
}

/// Conversations as a JSON array of `{contact, last_message}`, most recent first.
///
/// # Safety
/// `client` is live; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_conversations(
    client: *const HushClient,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            core.blocking(ops::conversations(core.handle()))
        })
    }
}

/// Sends the text `body` to `to` (alias, `@username` or mailbox id). Returns once the message is in the
/// local history and outbox; `*out`: the message as JSON (status `queued`). While online it
/// goes out at once and a `message_status` event reports `stored`.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_send_text(
    client: *const HushClient,
    to: *const c_char,
    body: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let to = text(to, "to")?;
            let body = text(body, "text")?;
            core.blocking(ops::send_text(core.handle(), to, body))
        })
    }
}

/// A page of the conversation with `with`, newest first, as a JSON array: at most `limit`
/// messages older than message id `before` (NULL: the newest).
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8 (or NULL where allowed); `out` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_history(
    client: *const HushClient,
    with: *const c_char,
    limit: u32,
    before: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let with = text(with, "with")?;
            let before = optional_text(before, "before")?;
            core.blocking(ops::history(core.handle(), with, limit, before))
        })
    }
}

/// Messages containing `needle` (case-insensitive), newest first, as a JSON array.
///
/// # Safety
/// `client` is live; `needle` is NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_search(
    client: *const HushClient,
    needle: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let needle = text(needle, "text")?;
            core.blocking(ops::search(core.handle(), needle))
        })
    }
}

/// The safety number with `with` as JSON: `{contact, digits}`.
///
/// # Safety
/// `client` is live; `with` is NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_safety_number(
    client: *const HushClient,
    with: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let with = text(with, "with")?;
            core.blocking(ops::safety_number(core.handle(), with))
        })
    }
}

/// Marks `with` verified (safety numbers matched); `*out`: the contact as JSON.
///
/// # Safety
/// `client` is live; `with` is NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_mark_verified(
    client: *const HushClient,
    with: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let with = text(with, "with")?;
            core.blocking(ops::mark_verified(core.handle(), with))
        })
    }
}

/// Offline: connects, sends the outbox, receives everything pending (as events), waits
/// `wait_ms` more, disconnects. Online: only sends the outbox. `*out`: a report as JSON.
/// Talks to the relay.
///
/// # Safety
/// `client` is live; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_sync(
    client: *const HushClient,
    wait_ms: u32,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            core.blocking(ops::sync(core.handle(), wait_ms))
        })
    }
}

/// Goes online (`online` true): connects in the background, receives as messages arrive,
/// sends queued ones, reconnects after network problems. Or disconnects (`false`). Returns at
/// once; `connection` events report the state.
///
/// # Safety
/// `client` is live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_set_online(client: *const HushClient, online: bool) -> i32 {
    call(|| {
        // SAFETY: under this function's contract.
        let client = unsafe { self::client(client)? };
        client
            .core
            .blocking(ops::set_online(client.core.handle(), online))
    })
}

/// Sends the text `body` to `to` (a contact, `#group` or conversation id) as a reply to
/// (quoting) the message with id `reply_to`. As `hush_client_send_text`: `*out` is the
/// message as JSON (status `queued`).
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_send_reply(
    client: *const HushClient,
    to: *const c_char,
    body: *const c_char,
    reply_to: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let to = text(to, "to")?;
            let body = text(body, "text")?;
            let reply_to = text(reply_to, "reply_to")?;
            core.blocking(ops::send_reply(core.handle(), to, body, reply_to))
        })
    }
}

/// Replaces the text of one of this account's messages (by id) with `body`, here and on every
/// recipient's device. `*out`: the message as JSON. Talks to the relay.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_edit_message(
    client: *const HushClient,
    message_id: *const c_char,
    body: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let id = text(message_id, "message_id")?;
            let body = text(body, "text")?;
            core.blocking(ops::edit_message(core.handle(), id, body))
        })
    }
}

/// Deletes a message (by id) from the history; with `for_everyone` also on every
/// recipient's device (own messages; any message for a group admin). Talks to the relay when
/// `for_everyone`.
///
/// # Safety
/// `client` is live; `message_id` is NUL-terminated UTF-8.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_delete_message(
    client: *const HushClient,
    message_id: *const c_char,
    for_everyone: bool,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_core(client, |core| {
            let id = text(message_id, "message_id")?;
            core.blocking(ops::delete_message(core.handle(), id, for_everyone))
        })
    }
}

/// Reacts to a message (by id) with `emoji`; an empty `emoji` takes the reaction back.
/// `*out`: the message as JSON, with its `reactions`. Talks to the relay.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_react(
    client: *const HushClient,
    message_id: *const c_char,
    emoji: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let id = text(message_id, "message_id")?;
            let emoji = text(emoji, "emoji")?;
            core.blocking(ops::react(core.handle(), id, emoji))
        })
    }
}

/// Marks the conversation `with` read (call it when the user sees it); `*out_unread` (if not
/// NULL) is how many messages were unread. Read receipts go out to their senders.
///
/// # Safety
/// `client` is live; `with` is NUL-terminated UTF-8; `out_unread` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_mark_read(
    client: *const HushClient,
    with: *const c_char,
    out_unread: *mut u64,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_core(client, |core| {
            let with = text(with, "with")?;
            let unread = core.blocking(ops::mark_read(core.handle(), with))?;
            // SAFETY: NULL or writable, under this function's contract.
            if let Some(out) = out_unread.as_mut() {
                *out = unread;
            }
            Ok(())
        })
    }
}

/// Tells the conversation `with` that this account is typing (`active`) or stopped.
/// Ephemeral and best effort: only members online now see it; offline it is dropped.
///
/// # Safety
/// `client` is live; `with` is NUL-terminated UTF-8.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_send_typing(
    client: *const HushClient,
    with: *const c_char,
    active: bool,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_core(client, |core| {
            let with = text(with, "with")?;
            core.blocking(ops::send_typing(core.handle(), with, active))
        })
    }
}

/// The disappearing-message timer of the conversation `with`: `*out_seconds` is the number of
/// seconds, 0 when it is off.
///
/// # Safety
/// `client` is live; `with` is NUL-terminated UTF-8; `out_seconds` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_timer(
    client: *const HushClient,
    with: *const c_char,
    out_seconds: *mut u64,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_core(client, |core| {
            if out_seconds.is_null() {
                return Err(HushError::InvalidInput("the out-parameter is NULL".into()));
            }
            let with = text(with, "with")?;
            let seconds = core.blocking(ops::timer(core.handle(), with))?;
            // SAFETY: checked non-NULL; writable under this function's contract.
            *out_seconds = seconds.unwrap_or(0);
            Ok(())
        })
    }
}

/// Makes messages in the conversation `with` disappear `seconds` after they are stored, for
/// everyone in it; 0 turns the timer off. Talks to the relay.
///
/// # Safety
/// `client` is live; `with` is NUL-terminated UTF-8.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_set_timer(
    client: *const HushClient,
    with: *const c_char,
    seconds: u64,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_core(client, |core| {
            let with = text(with, "with")?;
            let seconds = (seconds > 0).then_some(seconds);
            core.blocking(ops::set_timer(core.handle(), with, seconds))
        })
    }
}

/// The account's preferences as JSON: `receipts`, `presence`, `receipts_group_limit`,
/// `max_group_size`.
///
/// # Safety
/// `client` is live; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_preferences(
    client: *const HushClient,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            core.blocking(ops::preferences(core.handle()))
        })
    }
}

/// Changes the preferences named in `preferences_json`, an object with some of the fields
/// `hush_client_preferences` returns (e.g. `{"receipts":false}`); the others keep their
/// values. `*out`: all preferences as saved, as JSON.
///
/// # Safety
/// `client` is live; `preferences_json` is NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_set_preferences(
    client: *const HushClient,
    preferences_json: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let patch = text(preferences_json, "preferences_json")?;
            core.blocking(ops::patch_preferences(core.handle(), patch))
        })
    }
}

/// The groups this account is in, as a JSON array of groups: `{"conversation":"group:<hex>",
/// "name","members":[{"alias","role"}],"my_role"}` (roles `owner`, `admin`, `member`).
///
/// # Safety
/// `client` is live; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_groups(
    client: *const HushClient,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            core.blocking(ops::groups(core.handle()))
        })
    }
}

/// One group as JSON (see `hush_client_groups`). `group` is `#name` or the group's
/// conversation id (`group:<hex>`), as in every group function.
///
/// # Safety
/// `client` is live; `group` is NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_group_info(
    client: *const HushClient,
    group: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let group = text(group, "group")?;
            core.blocking(ops::group_info(core.handle(), group))
        })
    }
}

/// Creates a group named `name` with the `members_len` contacts in `members` (aliases,
/// `@usernames` or mailbox ids); this account is its owner. `*out`: the group as JSON. Send to
/// it with `hush_client_send_text(client, "#name", …)`. Talks to the relay.
///
/// # Safety
/// `client` is live; `name` is NUL-terminated UTF-8; `members` points to `members_len`
/// NUL-terminated UTF-8 strings (or is NULL when `members_len` is 0); `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_group_create(
    client: *const HushClient,
    name: *const c_char,
    members: *const *const c_char,
    members_len: usize,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let name = text(name, "name")?;
            let members = text_array(members, members_len, "members")?;
            core.blocking(ops::create_group(core.handle(), name, members))
        })
    }
}

/// Adds the contact `member` to a group (admins). `*out`: the group as JSON. Talks to the relay.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_group_add(
    client: *const HushClient,
    group: *const c_char,
    member: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let group = text(group, "group")?;
            let member = text(member, "member")?;
            core.blocking(ops::group_add(core.handle(), group, member))
        })
    }
}

/// Removes `member` from a group (admins); everyone's keys rotate. `*out`: the group as JSON. Talks to the relay.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_group_remove(
    client: *const HushClient,
    group: *const c_char,
    member: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let group = text(group, "group")?;
            let member = text(member, "member")?;
            core.blocking(ops::group_remove(core.handle(), group, member))
        })
    }
}

/// Makes `member` a group admin (admins). `*out`: the group as JSON. Talks to the relay.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_group_promote(
    client: *const HushClient,
    group: *const c_char,
    member: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let group = text(group, "group")?;
            let member = text(member, "member")?;
            core.blocking(ops::group_promote(core.handle(), group, member))
        })
    }
}

/// Leaves a group (its history stays). `*out`: the group as JSON (`my_role` null). Talks to
/// the relay.
///
/// # Safety
/// `client` is live; `group` is NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_group_leave(
    client: *const HushClient,
    group: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let group = text(group, "group")?;
            core.blocking(ops::group_leave(core.handle(), group))
        })
    }
}

/// Renames a group to `new_name` (admins). `*out`: the group as JSON. Talks to the relay.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_group_rename(
    client: *const HushClient,
    group: *const c_char,
    new_name: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let group = text(group, "group")?;
            let new_name = text(new_name, "new_name")?;
            core.blocking(ops::group_rename(core.handle(), group, new_name))
        })
    }
}

/// Sends the file at `path` to `to` (a contact, `#group` or conversation id) with `caption`
/// (may be NULL). Checks the relay's limits (when online) and hashes the file, then returns
/// the recorded message as JSON (`status` `queued`, `file.state` `uploading`); the upload runs
/// on the library's threads (`transfer` events) and the message goes out when it is complete
/// (`message_status` event). Offline, it uploads after connecting. Reads the whole file before
/// returning: call it from a worker thread.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8 (or NULL where allowed); `out` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_send_file(
    client: *const HushClient,
    to: *const c_char,
    path: *const c_char,
    caption: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let to = text(to, "to")?;
            let path = text(path, "path")?;
            let caption = optional_text(caption, "caption")?;
            core.blocking(ops::send_file(core.handle(), to, path, caption))
        })
    }
}

/// Received files as a JSON array of messages (each with a `file`), oldest first; only those
/// of the conversation `with` unless it is NULL.
///
/// # Safety
/// `client` is live; `with` is NULL or NUL-terminated UTF-8; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_files(
    client: *const HushClient,
    with: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let with = optional_text(with, "with")?;
            core.blocking(ops::files(core.handle(), with))
        })
    }
}

/// Downloads, checks and saves the received file of message `id` (or a unique prefix of at
/// least 4 hex digits) to `dest`: a file path or a directory (NULL: the current directory).
/// Never overwrites; resumes an interrupted download. Returns when the file is saved; `*out`:
/// `{path, size, sha256, resumed_from, downloaded_bytes}`. Other calls are served meanwhile;
/// call it from a worker thread.
///
/// # Safety
/// `client` is live; strings are NUL-terminated UTF-8 (or NULL where allowed); `out` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_save_file(
    client: *const HushClient,
    id: *const c_char,
    dest: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    // SAFETY: under this function's contract.
    unsafe {
        with_client(client, out, false, |core| {
            let id = text(id, "id")?;
            let dest = optional_text(dest, "dest")?;
            core.blocking(ops::save_file(core.handle(), id, dest))
        })
    }
}

/// The next event as JSON, waiting at most `timeout_ms`; `*out` stays NULL if none came.
/// Refused while an event callback is set.
///
/// # Safety
/// `client` is live; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_poll_event(
    client: *const HushClient,
    timeout_ms: u32,
    out: *mut *mut c_char,
) -> i32 {
    call(|| {
        // SAFETY: under this function's contract.
        unsafe { clear(out)? };
        // SAFETY: under this function's contract.
        let client = unsafe { self::client(client)? };
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        match client.core.poll_event(timeout)? {
            // SAFETY: `out` was checked by `clear`.
            Some(event) => unsafe { put(out, json(&event)?) },
            None => Ok(()),
        }
    })
}

/// The app's pointer, handed back to its callback on the event thread.
struct UserData(*mut c_void);

// SAFETY: the header requires `user_data` to be usable from the library's event thread; the
// library never dereferences it.
unsafe impl Send for UserData {}

impl UserData {
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// Calls `callback(user_data, event_json)` for every event, on a thread the library owns
/// (replacing an earlier callback), or stops (`callback` NULL). The callback may call other
/// `hush_` functions, except `hush_client_free` on this client. When this returns, the
/// earlier callback is no longer running (unless this is called from inside it).
///
/// # Safety
/// `client` is live; `callback` and `user_data` stay valid until the callback is replaced,
/// removed, or the client closed; `user_data` may be used from another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_client_set_event_callback(
    client: *const HushClient,
    callback: HushEventCallback,
    user_data: *mut c_void,
) -> i32 {
    call(|| {
        // SAFETY: under this function's contract.
        let client = unsafe { self::client(client)? };
        let deliver = callback.map(|callback| {
            let user_data = UserData(user_data);
            Box::new(move |event: HushEvent| {
                let Ok(text) = json(&event).and_then(|text| {
                    CString::new(text).map_err(|_| HushError::InvalidInput("NUL".into()))
                }) else {
                    return;
                };
                // SAFETY: the app promised `callback` and `user_data` stay valid while set;
                // `text` lives until after the call.
                unsafe { callback(user_data.get(), text.as_ptr()) };
            }) as Deliver
        });
        client.core.set_listener(deliver)
    })
}

/// The message of the last failed `hush_` call on this thread (UTF-8), or NULL. Owned by the
/// library: valid until the next `hush_` call on this thread; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn hush_last_error_message() -> *const c_char {
    LAST_ERROR.with(|slot| {
        slot.borrow()
            .as_ref()
            .map_or(std::ptr::null(), |message| message.as_ptr())
    })
}

/// Frees a string the library returned through an out-parameter. NULL is ignored.
///
/// # Safety
/// `text` is NULL or a string from a `hush_` out-parameter, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: it came from `CString::into_raw` in `put` and is freed once.
        drop(unsafe { CString::from_raw(text) });
    }
}

/// Whether the directory `home` holds a Hush home (1) or not (0; also for a NULL or non-UTF-8
/// path).
///
/// # Safety
/// `home` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hush_home_exists(home: *const c_char) -> bool {
    // SAFETY: under this function's contract.
    guard(|| unsafe { text(home, "home") })
        .map(crate::uniffi_api::home_exists)
        .unwrap_or(false)
}

/// The library version, e.g. "0.1.0". Static: do not free.
#[unsafe(no_mangle)]
pub extern "C" fn hush_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(version) => version,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}
