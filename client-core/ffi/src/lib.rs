//! Hush for apps: the whole client of `hush-client-core`, for Kotlin, Swift and Python (UniFFI)
//! and for C and C++ (a C ABI with a generated header, `include/hush.h`).
//!
//! This crate holds no logic. The client runs as a [`ClientHandle`] service (see
//! `hush_client_core::service`) on a tokio runtime this crate owns, one per open home; the
//! bindings only convert types, block or await on the service's answers, and turn errors and
//! panics into [`HushError`]. How apps link it, and its threading and lifetime rules:
//! `docs/ffi.md`.
//!
//! # Layout
//!
//! - [`model`]: the records, enums and the one flat [`HushError`] both bindings share (the C
//!   ABI hands them out as JSON).
//! - `ops`: one async function per operation, over a [`ClientHandle`].
//! - `core`: the runtime, the service handle, the event listener thread; blocking and panic
//!   guards.
//! - [`uniffi_api`]: the UniFFI [`HushClient`] object and the [`HushListener`] callback trait.
//! - [`c_api`]: the `hush_`-prefixed C functions (the only `unsafe` code of the workspace).
//!
//! [`ClientHandle`]: hush_client_core::service::ClientHandle

pub mod c_api;
mod core;
pub mod model;
mod ops;
pub mod uniffi_api;

pub use model::{
    HushAccount, HushConnectionState, HushContact, HushConversation, HushDirection, HushError,
    HushEvent, HushFile, HushFileState, HushGroup, HushGroupMember, HushMessage, HushPreferences,
    HushReaction, HushRecipient, HushRole, HushSafetyNumber, HushSavedFile, HushStatus,
    HushSyncReport,
};
pub use uniffi_api::{HushClient, HushListener};

uniffi::setup_scaffolding!();
