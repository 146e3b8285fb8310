//! The client's local store: sled on disk, every value sealed with the [`StorageKey`].
//!
//! Keys (the location of a value) are not encrypted; they are random ids, counters and
//! mailbox ids, never names or text. Values — identity and session pickles, contacts,
//! messages, the outbox — are sealed with the value's location as associated data.
//! Several values change together through [`WriteBatch`], one sled transaction across trees.
//!
//! The `meta` tree is the one unencrypted tree: the format version, the Argon2id salt and
//! parameters, and a sealed check value that tells a wrong passphrase from a damaged store.

use std::path::Path;

use hush_protocol::codec::{decode_value, encode_value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::storage_key::{KdfParams, StorageKey, StorageKeyError};

const FORMAT_VERSION: u8 = 1;
const META_VERSION: &[u8] = b"version";
const META_SALT: &[u8] = b"salt";
const META_KDF: &[u8] = b"kdf";
const META_CHECK: &[u8] = b"check";
const CHECK_PLAINTEXT: &[u8] = b"hush local store";

/// The encrypted trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Slot {
    /// The account (one record).
    Account = 0,
    /// Contacts by mailbox id.
    Contacts = 1,
    /// 1:1 session pickles by contact mailbox id.
    Sessions = 2,
    /// Messages by conversation ‖ local sequence number.
    Messages = 3,
    /// Message id → its key in `Messages`.
    MessageIndex = 4,
    /// Envelope ids already processed (duplicate deliveries are dropped).
    Seen = 5,
    /// Messages waiting for the relay's `Stored`, by local sequence number.
    Outbox = 6,
    /// Groups: state and sender keys, by group id.
    Groups = 7,
    /// Deliveries that arrived before what they depend on (a group not yet known), by group
    /// id ‖ sequence number.
    Stash = 8,
    /// Per-conversation settings (disappearing timer).
    Conversations = 9,
    /// Files being uploaded, by message id, until the message sharing them is queued.
    Uploads = 10,
    /// Received files' keys and download state, by message id.
    Files = 11,
}

const SLOT_NAMES: [&str; 12] = [
    "account",
    "contacts",
    "sessions",
    "messages",
    "message_index",
    "seen",
    "outbox",
    "groups",
    "stash",
    "conversations",
    "uploads",
    "files",
];

impl Slot {
    fn name(self) -> &'static str {
        SLOT_NAMES.get(self as usize).copied().unwrap_or("unknown")
    }
}

/// Why the local store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalStoreError {
    /// The passphrase (or app key) does not open this store.
    #[error("wrong passphrase for this Hush home")]
    WrongPassphrase,
    /// Another process has the store open.
    #[error(
        "another hush process is using this home (close it, or use `hush chat` for sending and receiving at once)"
    )]
    Busy,
    /// No store exists there.
    #[error("no Hush account here yet (run `hush init`)")]
    Missing,
    /// A store already exists there.
    #[error("a Hush account already exists here")]
    Exists,
    /// A value could not be decrypted or decoded: the store is damaged.
    #[error("the local store is damaged: {0}")]
    Corrupt(String),
    /// The disk or the storage engine failed.
    #[error("local storage failure: {0}")]
    Io(String),
}

fn io(error: impl std::fmt::Display) -> LocalStoreError {
    LocalStoreError::Io(error.to_string())
}

/// The open store.
pub struct LocalStore {
    db: sled::Db,
    key: StorageKey,
    trees: Vec<sled::Tree>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore").finish_non_exhaustive()
    }
}

/// Changes applied together, atomically.
#[derive(Default)]
pub struct WriteBatch {
    ops: Vec<(Slot, Vec<u8>, Option<Vec<u8>>)>,
}

impl LocalStore {
    fn open_db(dir: &Path) -> Result<sled::Db, LocalStoreError> {
        std::fs::create_dir_all(dir).map_err(io)?;
        sled::Config::new().path(dir).open().map_err(|e| match e {
            sled::Error::Io(ref inner) if inner.kind() == std::io::ErrorKind::WouldBlock => {
                LocalStoreError::Busy
            }
            other if other.to_string().contains("lock") => LocalStoreError::Busy,
            other => io(other),
        })
    }

    fn with_key(db: sled::Db, key: StorageKey) -> Result<Self, LocalStoreError> {
        let trees = SLOT_NAMES
            .iter()
            .map(|name| db.open_tree(name).map_err(io))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { db, key, trees })
    }

    /// Whether a store exists in `dir`.
    pub fn exists(dir: &Path) -> bool {
        dir.join("conf").exists() || dir.join("db").exists()
    }

    /// Creates a new store protected by a passphrase.
    pub fn create(
        dir: &Path,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<Self, LocalStoreError> {
        if Self::exists(dir) {
            return Err(LocalStoreError::Exists);
        }
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| io("no randomness"))?;
        let key = StorageKey::from_passphrase(passphrase, &salt, params)
            .map_err(|e| io(e.to_string()))?;
        let db = Self::open_db(dir)?;
        let meta = db.open_tree("meta").map_err(io)?;
        meta.insert(META_VERSION, &[FORMAT_VERSION]).map_err(io)?;
        meta.insert(META_SALT, &salt).map_err(io)?;
        meta.insert(META_KDF, encode_value(&params).map_err(io)?)
            .map_err(io)?;
        let check = key
            .seal(META_CHECK, CHECK_PLAINTEXT)
            .map_err(|e| io(e.to_string()))?;
        meta.insert(META_CHECK, check).map_err(io)?;
        let store = Self::with_key(db, key)?;
        store.flush()?;
        Ok(store)
    }

    /// Creates a new store under a key the app keeps (e.g. in the platform keystore).
    pub fn create_with_key(dir: &Path, key: StorageKey) -> Result<Self, LocalStoreError> {
        if Self::exists(dir) {
            return Err(LocalStoreError::Exists);
        }
        let db = Self::open_db(dir)?;
        let meta = db.open_tree("meta").map_err(io)?;
        meta.insert(META_VERSION, &[FORMAT_VERSION]).map_err(io)?;
        let check = key
            .seal(META_CHECK, CHECK_PLAINTEXT)
            .map_err(|e| io(e.to_string()))?;
        meta.insert(META_CHECK, check).map_err(io)?;
        let store = Self::with_key(db, key)?;
        store.flush()?;
        Ok(store)
    }

    /// Opens a store created with [`LocalStore::create_with_key`].
    pub fn open_with_key(dir: &Path, key: StorageKey) -> Result<Self, LocalStoreError> {
        if !Self::exists(dir) {
            return Err(LocalStoreError::Missing);
        }
        let db = Self::open_db(dir)?;
        let meta = db.open_tree("meta").map_err(io)?;
        let check = meta
            .get(META_CHECK)
            .map_err(io)?
            .ok_or(LocalStoreError::Missing)?;
        match key.open(META_CHECK, &check) {
            Ok(plain) if plain == CHECK_PLAINTEXT => Self::with_key(db, key),
            Ok(_) => Err(LocalStoreError::Corrupt("check value".into())),
            Err(StorageKeyError::Open) => Err(LocalStoreError::WrongPassphrase),
            Err(other) => Err(io(other)),
        }
    }

    /// Opens an existing store with its passphrase.
    pub fn open(dir: &Path, passphrase: &[u8]) -> Result<Self, LocalStoreError> {
        if !Self::exists(dir) {
            return Err(LocalStoreError::Missing);
        }
        let db = Self::open_db(dir)?;
        let meta = db.open_tree("meta").map_err(io)?;
        let get = |name: &[u8]| -> Result<sled::IVec, LocalStoreError> {
            meta.get(name).map_err(io)?.ok_or(LocalStoreError::Missing)
        };
        if get(META_VERSION)?.as_ref() != [FORMAT_VERSION] {
            return Err(LocalStoreError::Corrupt(
                "unknown local store version".into(),
            ));
        }
        if meta.get(META_SALT).map_err(io)?.is_none() {
            return Err(LocalStoreError::Corrupt(
                "this store is protected by an app key, not a passphrase".into(),
            ));
        }
        let salt: [u8; 16] = get(META_SALT)?
            .as_ref()
            .try_into()
            .map_err(|_| LocalStoreError::Corrupt("salt".into()))?;
        let params: KdfParams = decode_value(&get(META_KDF)?)
            .map_err(|_| LocalStoreError::Corrupt("kdf parameters".into()))?;
        let key = StorageKey::from_passphrase(passphrase, &salt, params)
            .map_err(|e| LocalStoreError::Corrupt(e.to_string()))?;
        match key.open(META_CHECK, &get(META_CHECK)?) {
            Ok(check) if check == CHECK_PLAINTEXT => Self::with_key(db, key),
            Ok(_) => Err(LocalStoreError::Corrupt("check value".into())),
            Err(StorageKeyError::Open) => Err(LocalStoreError::WrongPassphrase),
            Err(other) => Err(io(other)),
        }
    }

    fn tree(&self, slot: Slot) -> Result<&sled::Tree, LocalStoreError> {
        self.trees
            .get(slot as usize)
            .ok_or_else(|| io("unknown tree"))
    }

    fn aad(slot: Slot, key: &[u8]) -> Vec<u8> {
        [slot.name().as_bytes(), b"/", key].concat()
    }

    /// Seals a value for a slot.
    fn seal<T: Serialize>(
        &self,
        slot: Slot,
        key: &[u8],
        value: &T,
    ) -> Result<Vec<u8>, LocalStoreError> {
        let plain = zeroize::Zeroizing::new(encode_value(value).map_err(io)?);
        self.key
            .seal(&Self::aad(slot, key), &plain)
            .map_err(|e| io(e.to_string()))
    }

    fn unseal<T: DeserializeOwned>(
        &self,
        slot: Slot,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<T, LocalStoreError> {
        let plain = zeroize::Zeroizing::new(
            self.key
                .open(&Self::aad(slot, key), sealed)
                .map_err(|_| LocalStoreError::Corrupt(format!("a value in {}", slot.name())))?,
        );
        decode_value(&plain).map_err(|e| LocalStoreError::Corrupt(e.to_string()))
    }

    /// Reads one value.
    pub fn get<T: DeserializeOwned>(
        &self,
        slot: Slot,
        key: &[u8],
    ) -> Result<Option<T>, LocalStoreError> {
        match self.tree(slot)?.get(key).map_err(io)? {
            Some(sealed) => Ok(Some(self.unseal(slot, key, &sealed)?)),
            None => Ok(None),
        }
    }

    /// Whether a key is present.
    pub fn contains(&self, slot: Slot, key: &[u8]) -> Result<bool, LocalStoreError> {
        self.tree(slot)?.contains_key(key).map_err(io)
    }

    /// All values whose key starts with `prefix`, in key order (`reverse`: newest first).
    pub fn scan<T: DeserializeOwned>(
        &self,
        slot: Slot,
        prefix: &[u8],
        reverse: bool,
    ) -> Result<Vec<(Vec<u8>, T)>, LocalStoreError> {
        let iter = self.tree(slot)?.scan_prefix(prefix);
        let mut out = Vec::new();
        let mut push = |item: Result<(sled::IVec, sled::IVec), sled::Error>| {
            let (key, sealed) = item.map_err(io)?;
            out.push((key.to_vec(), self.unseal(slot, &key, &sealed)?));
            Ok::<(), LocalStoreError>(())
        };
        if reverse {
            for item in iter.rev() {
                push(item)?;
            }
        } else {
            for item in iter {
                push(item)?;
            }
        }
        Ok(out)
    }

    /// Keys in `[start, end)` of a slot, newest first, at most `limit`, with their values.
    pub fn range_rev<T: DeserializeOwned>(
        &self,
        slot: Slot,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, T)>, LocalStoreError> {
        let mut out = Vec::new();
        for item in self.tree(slot)?.range(start..end).rev().take(limit) {
            let (key, sealed) = item.map_err(io)?;
            out.push((key.to_vec(), self.unseal(slot, &key, &sealed)?));
        }
        Ok(out)
    }

    /// A fresh, increasing number (unique within this store, across restarts).
    pub fn next_seq(&self) -> Result<u64, LocalStoreError> {
        self.db.generate_id().map_err(io)
    }

    /// Starts a batch of changes.
    pub fn batch(&self) -> WriteBatch {
        WriteBatch::default()
    }

    /// Adds a put to a batch.
    pub fn put_in<T: Serialize>(
        &self,
        batch: &mut WriteBatch,
        slot: Slot,
        key: &[u8],
        value: &T,
    ) -> Result<(), LocalStoreError> {
        let sealed = self.seal(slot, key, value)?;
        batch.ops.push((slot, key.to_vec(), Some(sealed)));
        Ok(())
    }

    /// A value this batch puts (the last put of it), if it puts one.
    pub fn staged<T: DeserializeOwned>(
        &self,
        batch: &WriteBatch,
        slot: Slot,
        key: &[u8],
    ) -> Result<Option<T>, LocalStoreError> {
        for (s, k, value) in batch.ops.iter().rev() {
            if *s == slot && k == key {
                return match value {
                    Some(sealed) => Ok(Some(self.unseal(slot, key, sealed)?)),
                    None => Ok(None),
                };
            }
        }
        Ok(None)
    }

    /// Adds a removal to a batch.
    pub fn remove_in(&self, batch: &mut WriteBatch, slot: Slot, key: &[u8]) {
        batch.ops.push((slot, key.to_vec(), None));
    }

    /// Applies a batch atomically and makes it durable.
    pub fn commit(&self, batch: WriteBatch) -> Result<(), LocalStoreError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let result: Result<(), TransactionError<()>> = self.trees.as_slice().transaction(|trees| {
            for (slot, key, value) in &batch.ops {
                let Some(tree) = trees.get(*slot as usize) else {
                    return Err(ConflictableTransactionError::Abort(()));
                };
                match value {
                    Some(value) => tree.insert(key.as_slice(), value.as_slice())?,
                    None => tree.remove(key.as_slice())?,
                };
            }
            Ok(())
        });
        result.map_err(|e| io(format!("{e:?}")))?;
        self.flush()
    }

    /// Puts one value and makes it durable.
    pub fn put<T: Serialize>(
        &self,
        slot: Slot,
        key: &[u8],
        value: &T,
    ) -> Result<(), LocalStoreError> {
        let mut batch = self.batch();
        self.put_in(&mut batch, slot, key, value)?;
        self.commit(batch)
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), LocalStoreError> {
        self.db.flush().map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_sealed_and_the_passphrase_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let store = LocalStore::create(&path, b"pass", KdfParams::INSECURE_FAST).unwrap();
            store
                .put(Slot::Contacts, b"k1", &"SECRET-MARKER-123".to_string())
                .unwrap();
            let mut batch = store.batch();
            store
                .put_in(&mut batch, Slot::Messages, b"a", &1u32)
                .unwrap();
            store
                .put_in(&mut batch, Slot::Messages, b"b", &2u32)
                .unwrap();
            store.remove_in(&mut batch, Slot::Contacts, b"k1");
            store.commit(batch).unwrap();
            assert!(matches!(
                LocalStore::create(&path, b"x", KdfParams::INSECURE_FAST),
                Err(LocalStoreError::Exists)
            ));
        }
        assert!(matches!(
            LocalStore::open(&path, b"nope"),
            Err(LocalStoreError::WrongPassphrase)
        ));
        let store = LocalStore::open(&path, b"pass").unwrap();
        assert_eq!(store.get::<String>(Slot::Contacts, b"k1").unwrap(), None);
        let values: Vec<u32> = store
            .scan(Slot::Messages, b"", true)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(values, vec![2, 1]);
        assert!(matches!(
            LocalStore::open(&dir.path().join("none"), b"pass"),
            Err(LocalStoreError::Missing)
        ));
    }

    #[test]
    fn an_app_key_opens_only_its_own_store() {
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::from_bytes([7; 32]);
        let store = LocalStore::create_with_key(dir.path(), key.clone()).unwrap();
        store.put(Slot::Contacts, b"k", &5u8).unwrap();
        drop(store);
        let wrong = LocalStore::open_with_key(dir.path(), StorageKey::from_bytes([8; 32]));
        assert!(matches!(wrong, Err(LocalStoreError::WrongPassphrase)));
        assert!(matches!(
            LocalStore::open(dir.path(), b"x"),
            Err(LocalStoreError::Corrupt(_))
        ));
        let store = LocalStore::open_with_key(dir.path(), key).unwrap();
        assert_eq!(store.get::<u8>(Slot::Contacts, b"k").unwrap(), Some(5));
    }

    #[test]
    fn nothing_readable_reaches_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(dir.path(), b"pass", KdfParams::INSECURE_FAST).unwrap();
        store
            .put(Slot::Messages, b"m", &"PLAINTEXT-MARKER-987".to_string())
            .unwrap();
        drop(store);
        for entry in walk(dir.path()) {
            let bytes = std::fs::read(&entry).unwrap();
            assert!(
                !bytes.windows(20).any(|w| w == b"PLAINTEXT-MARKER-987"),
                "plaintext in {}",
                entry.display()
            );
        }
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
