//! What every binding holds for one open home: a tokio runtime, the client service's handle,
//! and the thread that hands events to a listener. Also the guards: panics become
//! [`HushError::Panic`], blocking calls from inside an async runtime are refused.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use hush_client_core::service::ClientHandle;
use hush_client_core::{Client, KdfParams, StorageKey};
use tokio::sync::watch;
use zeroize::Zeroize;

use crate::model::{HushError, HushEvent};

/// How long closing waits for the service to disconnect and close the store.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How to open a home.
pub(crate) enum Open {
    /// Create a new home protected by a passphrase (Argon2id, 64 MiB).
    CreatePassphrase(String),
    /// Open a home created with a passphrase.
    Passphrase(String),
    /// Create a new home encrypted under a 32-byte key the app keeps.
    CreateKey(Vec<u8>),
    /// Open a home created with a key.
    Key(Vec<u8>),
}

impl Drop for Open {
    fn drop(&mut self) {
        match self {
            Self::CreatePassphrase(secret) | Self::Passphrase(secret) => secret.zeroize(),
            Self::CreateKey(key) | Self::Key(key) => key.zeroize(),
        }
    }
}

fn storage_key(bytes: &[u8]) -> Result<StorageKey, HushError> {
    let mut key: [u8; 32] = bytes.try_into().map_err(|_| {
        HushError::InvalidInput(format!("a storage key is 32 bytes, not {}", bytes.len()))
    })?;
    let storage = StorageKey::from_bytes(key);
    key.zeroize();
    Ok(storage)
}

/// Something that receives events on the listener thread.
pub(crate) type Deliver = Box<dyn Fn(HushEvent) + Send + 'static>;

struct Listener {
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<()>,
}

impl Listener {
    /// Stops the thread and waits until it is out of the app's callback (unless this is that
    /// thread: a listener may replace itself), so the app may free what the callback uses.
    fn stop(self) {
        let _ = self.stop.send(true);
        if self.thread.thread().id() != std::thread::current().id() {
            let _ = self.thread.join();
        }
    }
}

/// One open home.
pub(crate) struct Core {
    runtime: Option<tokio::runtime::Runtime>,
    handle: ClientHandle,
    listener: Mutex<Option<Listener>>,
}

impl Core {
    /// Opens (or creates) the home and starts its service (offline).
    pub(crate) fn open(home: &str, how: Open) -> Result<Self, HushError> {
        guard(|| {
            let home = Path::new(home);
            if home.as_os_str().is_empty() {
                return Err(HushError::InvalidInput(
                    "the home directory is empty".into(),
                ));
            }
            let creating = matches!(how, Open::CreatePassphrase(_) | Open::CreateKey(_));
            if creating {
                std::fs::create_dir_all(home).map_err(|error| {
                    HushError::Storage(format!("creating {}: {error}", home.display()))
                })?;
            } else if !Client::exists(home) {
                return Err(HushError::Storage(format!(
                    "no Hush home at {} (create one first)",
                    home.display()
                )));
            }
            let client = match &how {
                Open::CreatePassphrase(passphrase) => {
                    Client::create(home, passphrase.as_bytes(), KdfParams::INTERACTIVE)
                }
                Open::Passphrase(passphrase) => Client::open(home, passphrase.as_bytes()),
                Open::CreateKey(key) => Client::create_with_key(home, storage_key(key)?),
                Open::Key(key) => Client::open_with_key(home, storage_key(key)?),
            }?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("hush-client")
                .enable_all()
                .build()
                .map_err(|error| HushError::Storage(format!("starting threads: {error}")))?;
            let handle = ClientHandle::spawn(client, runtime.handle());
            Ok(Self {
                runtime: Some(runtime),
                handle,
                listener: Mutex::new(None),
            })
        })
    }

    /// The service handle, for an operation.
    pub(crate) fn handle(&self) -> ClientHandle {
        self.handle.clone()
    }

    /// Runs an operation to completion on the calling thread.
    pub(crate) fn blocking<T>(
        &self,
        operation: impl Future<Output = Result<T, HushError>>,
    ) -> Result<T, HushError> {
        guard(|| {
            if tokio::runtime::Handle::try_current().is_ok() {
                return Err(HushError::InvalidInput(
                    "a blocking Hush call was made from inside an async runtime; use the async variant".into(),
                ));
            }
            let runtime = self
                .runtime
                .as_ref()
                .ok_or_else(|| HushError::Closed("the client has been closed".into()))?;
            runtime.block_on(operation)
        })
    }

    /// The next event, waiting at most `timeout`; `None` if there was none by then.
    pub(crate) fn poll_event(&self, timeout: Duration) -> Result<Option<HushEvent>, HushError> {
        if self.listener_active() {
            return Err(HushError::InvalidInput(
                "a listener receives the events; remove it before polling".into(),
            ));
        }
        let handle = self.handle();
        self.blocking(async move {
            match tokio::time::timeout(timeout, handle.next_event()).await {
                Ok(Some(event)) => Ok(Some(event.into())),
                Ok(None) => Err(HushError::Closed("the client has been closed".into())),
                Err(_) => Ok(None),
            }
        })
    }

    fn listener_active(&self) -> bool {
        self.listener
            .lock()
            .map(|listener| listener.is_some())
            .unwrap_or(false)
    }

    /// Hands every event to `deliver` on a thread of its own (replacing an earlier listener),
    /// or stops doing so (`None`).
    pub(crate) fn set_listener(&self, deliver: Option<Deliver>) -> Result<(), HushError> {
        guard(|| {
            // Stop the old listener outside the lock: its callback may be calling in.
            let old = self
                .listener
                .lock()
                .map_err(|_| HushError::Panic("the listener lock is poisoned".into()))?
                .take();
            if let Some(old) = old {
                old.stop();
            }
            let Some(deliver) = deliver else {
                return Ok(());
            };
            let runtime = self
                .runtime
                .as_ref()
                .ok_or_else(|| HushError::Closed("the client has been closed".into()))?
                .handle()
                .clone();
            let handle = self.handle();
            let (stop, mut stopped) = watch::channel(false);
            let thread = std::thread::Builder::new()
                .name("hush-events".into())
                .spawn(move || {
                    loop {
                        let next = runtime.block_on(async {
                            tokio::select! {
                                biased;
                                _ = stopped.wait_for(|stop| *stop) => None,
                                event = handle.next_event() => event,
                            }
                        });
                        let Some(event) = next else { return };
                        // A listener that throws must not end the thread.
                        let _ = catch_unwind(AssertUnwindSafe(|| deliver(event.into())));
                    }
                })
                .map_err(|error| HushError::Storage(format!("starting a thread: {error}")))?;
            let replaced = self
                .listener
                .lock()
                .map_err(|_| HushError::Panic("the listener lock is poisoned".into()))?
                .replace(Listener { stop, thread });
            if let Some(replaced) = replaced {
                replaced.stop();
            }
            Ok(())
        })
    }

    /// Stops the service (disconnects, closes the store) and the listener. Idempotent.
    pub(crate) fn close(&self) -> Result<(), HushError> {
        let handle = self.handle();
        let result = self.blocking(async move {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, handle.shutdown()).await;
            Ok(())
        });
        let _ = self.set_listener(None);
        result
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            let _ = self.close();
        }
        let old = self.listener.lock().ok().and_then(|mut slot| slot.take());
        if let Some(old) = old {
            old.stop();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `work`, turning a panic into [`HushError::Panic`].
pub(crate) fn guard<T>(work: impl FnOnce() -> Result<T, HushError>) -> Result<T, HushError> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| Err(panic_error(panic.as_ref())))
}

fn panic_error(panic: &(dyn std::any::Any + Send)) -> HushError {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    HushError::Panic(format!("internal error in the Hush library: {detail}"))
}

/// A future that turns a panic while polling `F` into [`HushError::Panic`].
pub(crate) struct Guarded<F>(Pin<Box<F>>);

/// Guards an async operation.
pub(crate) fn guarded<F>(future: F) -> Guarded<F> {
    Guarded(Box::pin(future))
}

impl<T, F: Future<Output = Result<T, HushError>>> Future for Guarded<F> {
    type Output = Result<T, HushError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => Poll::Ready(Err(panic_error(panic.as_ref()))),
        }
    }
}
