//! The passphrase that unlocks the local store: `HUSH_PASSPHRASE`, or a prompt on the terminal.

use anyhow::{Context, bail};
use hush_client_core::KdfParams;
use zeroize::Zeroizing;

/// Environment variable holding the passphrase (for scripts and tests).
pub(crate) const PASSPHRASE_ENV: &str = "HUSH_PASSPHRASE";
/// Environment variable choosing the key-derivation cost at `hush init`: `insecure-fast` makes
/// a cheap key (for tests and throwaway accounts only).
pub(crate) const KDF_ENV: &str = "HUSH_KDF";

/// The passphrase for an existing home.
pub(crate) fn passphrase() -> anyhow::Result<Zeroizing<String>> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(value));
    }
    let value = rpassword::prompt_password("Passphrase: ")
        .context("no passphrase: set HUSH_PASSPHRASE or run hush on a terminal")?;
    Ok(Zeroizing::new(value))
}

/// A new passphrase (asked twice on a terminal).
pub(crate) fn new_passphrase() -> anyhow::Result<Zeroizing<String>> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        if value.is_empty() {
            bail!("HUSH_PASSPHRASE is empty");
        }
        return Ok(Zeroizing::new(value));
    }
    let first = rpassword::prompt_password("New passphrase: ")
        .context("no passphrase: set HUSH_PASSPHRASE or run hush on a terminal")?;
    let second = rpassword::prompt_password("Repeat passphrase: ")?;
    if first != second {
        bail!("the passphrases differ");
    }
    if first.chars().count() < 8 {
        bail!("use a passphrase of at least 8 characters");
    }
    Ok(Zeroizing::new(first))
}

/// The key-derivation cost for a new home.
pub(crate) fn kdf_params() -> anyhow::Result<KdfParams> {
    match std::env::var(KDF_ENV).as_deref() {
        Err(_) | Ok("") | Ok("default") => Ok(KdfParams::INTERACTIVE),
        Ok("insecure-fast") => {
            eprintln!(
                "hush: warning: HUSH_KDF=insecure-fast makes the passphrase cheap to guess; for tests only"
            );
            Ok(KdfParams::INSECURE_FAST)
        }
        Ok(other) => bail!("unknown HUSH_KDF value {other:?} (use `default` or `insecure-fast`)"),
    }
}
