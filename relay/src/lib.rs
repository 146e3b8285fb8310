//! hush-relay
