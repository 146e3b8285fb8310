//! systemd's readiness protocol (`sd_notify`), without libsystemd.
//!
//! Under a `Type=notify` unit, systemd passes the path of a datagram socket in `NOTIFY_SOCKET`
//! and waits for the service to send `READY=1` before it counts the service as started (and
//! before units ordered after it start). The relay sends `READY=1` once its UDP socket is bound
//! and the relay-address file is written, and `STOPPING=1` when a signal starts the graceful
//! shutdown. Outside systemd (`NOTIFY_SOCKET` unset) every call here does nothing.
//!
//! `NOTIFY_SOCKET` is either a filesystem path (`/run/systemd/notify`) or, with a leading `@`,
//! a name in Linux's abstract socket namespace. Other forms (`vsock:…` of newer systemd) are
//! reported as unsupported.

use std::ffi::OsString;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Where notifications go, parsed from `NOTIFY_SOCKET`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifySocket {
    /// A socket file, e.g. `/run/systemd/notify`.
    Path(PathBuf),
    /// A name in the abstract namespace (`@name` in `NOTIFY_SOCKET`, without the `@`).
    Abstract(Vec<u8>),
}

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// `NOTIFY_SOCKET` is set to something that is neither a path nor an `@` name.
    #[error("unsupported NOTIFY_SOCKET {0:?} (expected /path or @abstract-name)")]
    Unsupported(OsString),
    /// Creating the socket or sending the datagram failed.
    #[error("sending to NOTIFY_SOCKET: {0}")]
    Io(#[from] std::io::Error),
}

impl NotifySocket {
    /// Parses a `NOTIFY_SOCKET` value; `None` when it is empty.
    pub fn parse(value: OsString) -> Result<Option<Self>, NotifyError> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = value.as_bytes();
        if bytes.is_empty() {
            Ok(None)
        } else if bytes.starts_with(b"/") {
            Ok(Some(Self::Path(PathBuf::from(value))))
        } else if let Some(name) = bytes.strip_prefix(b"@").filter(|name| !name.is_empty()) {
            Ok(Some(Self::Abstract(name.to_vec())))
        } else {
            Err(NotifyError::Unsupported(value))
        }
    }

    /// The socket named by `NOTIFY_SOCKET`; `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<Self>, NotifyError> {
        match std::env::var_os(NOTIFY_SOCKET_ENV) {
            Some(value) => Self::parse(value),
            None => Ok(None),
        }
    }

    /// Sends one notification datagram (newline-separated `KEY=value` assignments).
    pub fn send(&self, message: &str) -> Result<(), NotifyError> {
        let socket = UnixDatagram::unbound()?;
        let sent = match self {
            Self::Path(path) => socket.send_to(message.as_bytes(), path)?,
            #[cfg(target_os = "linux")]
            Self::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(message.as_bytes(), &address)?
            }
            #[cfg(not(target_os = "linux"))]
            Self::Abstract(name) => {
                let name = format!("@{}", String::from_utf8_lossy(name));
                return Err(NotifyError::Unsupported(name.into()));
            }
        };
        if sent != message.len() {
            return Err(NotifyError::Io(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "short datagram",
            )));
        }
        Ok(())
    }
}

/// The readiness message: `READY=1` and a one-line `STATUS=` (shown by `systemctl status`).
pub fn ready_message(status: &str) -> String {
    format!("READY=1\nSTATUS={}", one_line(status))
}

/// The message sent when the graceful shutdown begins.
pub fn stopping_message(status: &str) -> String {
    format!("STOPPING=1\nSTATUS={}", one_line(status))
}

/// A status is one assignment: newlines would start new ones.
fn one_line(status: &str) -> String {
    status.replace(['\n', '\r'], " ")
}

/// Sends `message` to `NOTIFY_SOCKET` if it is set. Failures are logged, not fatal: a stray
/// `NOTIFY_SOCKET` outside systemd must not stop the relay, and under a `Type=notify` unit
/// systemd reports the start as timed out with this warning in the journal.
fn notify_logged(message: &str) {
    let result = NotifySocket::from_env().and_then(|socket| match socket {
        Some(socket) => socket.send(message),
        None => Ok(()),
    });
    if let Err(error) = result {
        tracing::warn!(%error, "cannot notify systemd");
    }
}

/// Tells systemd the relay is ready: bound, and its address file written.
pub fn ready(status: &str) {
    notify_logged(&ready_message(status));
}

/// Tells systemd the relay is shutting down.
pub fn stopping() {
    notify_logged(&stopping_message("shutting down"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_abstract_names_and_rejects_the_rest() {
        assert_eq!(NotifySocket::parse(OsString::new()).unwrap(), None);
        assert_eq!(
            NotifySocket::parse("/run/systemd/notify".into()).unwrap(),
            Some(NotifySocket::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            NotifySocket::parse("@/org/freedesktop/systemd1/notify/1".into()).unwrap(),
            Some(NotifySocket::Abstract(
                b"/org/freedesktop/systemd1/notify/1".to_vec()
            ))
        );
        assert!(matches!(
            NotifySocket::parse("@".into()),
            Err(NotifyError::Unsupported(_))
        ));
        assert!(matches!(
            NotifySocket::parse("vsock:2:1234".into()),
            Err(NotifyError::Unsupported(_))
        ));
    }

    #[test]
    fn messages_are_assignments_one_per_line() {
        assert_eq!(
            ready_message("relay address: hush://h:1#p\nX=1"),
            "READY=1\nSTATUS=relay address: hush://h:1#p X=1"
        );
        assert_eq!(stopping_message("bye"), "STOPPING=1\nSTATUS=bye");
    }

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        NotifySocket::Path(path).send("READY=1").unwrap();
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("hush-relay-notify-test-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&address).unwrap();
        let target = NotifySocket::parse(format!("@{name}").into())
            .unwrap()
            .unwrap();
        target.send("STOPPING=1").unwrap();
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STOPPING=1");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let target = NotifySocket::Path(dir.path().join("absent"));
        assert!(matches!(target.send("READY=1"), Err(NotifyError::Io(_))));
    }
}
