//! Named limits: every bound the crypto layer enforces, in one place.
//!
//! These are part of the protocol: both ends must agree on them, so changing one is a wire
//! change and belongs in `docs/crypto.md`.

/// The furthest a received message may jump ahead of its chain in one step (Double Ratchet
/// `MAX_SKIP`): a message whose index is more than this many keys past the next expected one is
/// rejected, so a forged header cannot make the receiver derive unbounded keys.
pub const MAX_SKIP: u32 = 1000;

/// The most skipped message keys one 1:1 session keeps for late messages, over all its
/// receiving chains; past this the oldest are deleted first.
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// The furthest a group message may jump ahead of its sender chain in one step.
pub const MAX_GROUP_SKIP: u32 = 1000;

/// The most skipped message keys one inbound sender chain keeps for late group messages.
pub const MAX_GROUP_SKIPPED_KEYS: usize = 2000;

/// The most sender chains kept per group member: the current one and the one it replaced, so
/// messages sent just before a rotation still decrypt.
pub const MAX_SENDER_CHAINS_PER_MEMBER: usize = 2;

/// The largest padded plaintext: 192 KiB, which with headers, tag and signature stays well
/// inside the relay's 256 KiB envelope limit.
pub const MAX_PADDED_LEN: usize = 192 * 1024;

/// The largest plaintext that can be encrypted (one byte is always spent on the padding marker).
pub const MAX_PLAINTEXT_LEN: usize = MAX_PADDED_LEN - 1;

/// The smallest padding bucket: every padded plaintext is at least this long.
pub const MIN_PADDED_LEN: usize = 64;

/// Above this size buckets stop doubling and grow in steps of this size instead.
pub const PADDING_STEP: usize = 16 * 1024;

/// How old (seconds) the current signed prekey may get before it should be rotated: 7 days.
pub const SIGNED_PREKEY_ROTATION_SECS: u64 = 7 * 24 * 60 * 60;

/// The most one-time prekeys generated in one batch.
pub const MAX_ONE_TIME_PREKEY_BATCH: u32 = 100;

/// The most unused one-time prekey secrets an account keeps at once.
pub const MAX_ONE_TIME_PREKEYS: usize = 1000;

/// Hash iterations per side when computing a safety number (as in Signal's fingerprints).
pub const SAFETY_NUMBER_ITERATIONS: u32 = 5200;
