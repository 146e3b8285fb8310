//! hush-relay
pub mod store;
