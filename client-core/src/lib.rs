//! Hush client core: the one library every Hush client links.
//!
//! Built out by the client-core issue; empty until then.
#![forbid(unsafe_code)]
