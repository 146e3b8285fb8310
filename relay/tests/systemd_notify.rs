//! The relay started the way `deploy/systemd/hush-relay.service` starts it: the unit's
//! `ExecStart=` argument for argument, its `Environment=` and `WorkingDirectory=`, the packaged
//! `deploy/relay.toml`, as the unit's `User=`/`Group=`, with a `NOTIFY_SOCKET` this test binds
//! (as systemd does for `Type=notify`). It must send `READY=1` once the address file is
//! written, `STOPPING=1` on SIGTERM, and exit 0.
//!
//! Only the locations differ from a real install: `/usr/bin/hush-relay` is this build's binary
//! (copied where the service user can execute it), and `/etc/hush-relay/relay.toml` is a copy
//! of the packaged config with `listen`, `metrics` and `data_dir` moved to free loopback ports
//! and a temporary data dir (paths equal to the unit's `WorkingDirectory=` follow it there).
//!
//! Run as root (as CI is), the test creates the unit's system user the way the RPM's `%pre`
//! does, if it is missing, and starts the relay with that uid and gid and no supplementary
//! groups; it then checks `/proc/PID/status`. Run as another user, it is already unprivileged
//! and starts the relay as itself. What it does not reproduce is systemd's sandbox (namespaces,
//! seccomp): `deploy/check.sh` checks the unit's directives with `systemd-analyze verify`.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_hush-relay");
const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/systemd/hush-relay.service"
);
const PACKAGED_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/relay.toml");
/// The unit's TimeoutStartSec and TimeoutStopSec are longer; a debug build needs far less.
const WAIT: Duration = Duration::from_secs(30);

/// The `[Service]` settings of the unit that decide how the relay is started.
struct Service {
    kind: String,
    exec_start: Vec<String>,
    user: String,
    group: String,
    working_directory: PathBuf,
    environment: Vec<(String, String)>,
}

fn service() -> Service {
    let text = std::fs::read_to_string(UNIT).unwrap();
    let mut section = "";
    let mut values: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        assert!(!line.ends_with('\\'), "continuation lines are not expected");
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]" {
            let (key, value) = line.split_once('=').unwrap();
            values.push((key.to_owned(), value.to_owned()));
        }
    }
    let one = |key: &str| -> String {
        let found: Vec<_> = values.iter().filter(|(k, _)| k == key).collect();
        assert_eq!(found.len(), 1, "exactly one {key}= in the unit");
        found[0].1.clone()
    };
    let exec_start = one("ExecStart");
    assert!(
        !exec_start.contains(['"', '\'', '$', '%']),
        "ExecStart without quoting or expansion, so splitting on spaces is what systemd does"
    );
    Service {
        kind: one("Type"),
        exec_start: exec_start.split_whitespace().map(str::to_owned).collect(),
        user: one("User"),
        group: one("Group"),
        working_directory: one("WorkingDirectory").into(),
        environment: values
            .iter()
            .filter(|(k, _)| k == "Environment")
            .flat_map(|(_, v)| v.split_whitespace())
            .map(|assignment| {
                let (name, value) = assignment.split_once('=').unwrap();
                (name.to_owned(), value.to_owned())
            })
            .collect(),
    }
}

/// The value after `--flag` in an argument list.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).map(String::as_str)
}

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().unwrap();
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// The uid and gid the relay runs as: the unit's user when this test runs as root (created
/// like the RPM's `%pre` does if missing), otherwise this test's own (already unprivileged).
fn service_identity(service: &Service) -> Option<(u32, u32)> {
    static CREATING: Mutex<()> = Mutex::new(());
    let me = status_field(std::process::id(), "Uid");
    if me.split(' ').next() != Some("0") {
        return None;
    }
    let _one_at_a_time = CREATING.lock().unwrap();
    let (user, group) = (service.user.as_str(), service.group.as_str());
    let run = |program: &str, args: &[&str]| {
        let status = Command::new(program).args(args).status();
        let status = status.unwrap_or_else(|e| panic!("{program}: {e} (needed to run as root)"));
        assert!(status.success(), "{program} {args:?} failed");
    };
    if id(&["-g", user]).is_none()
        && !Command::new("getent")
            .args(["group", group])
            .output()
            .unwrap()
            .status
            .success()
    {
        run("groupadd", &["--system", group]);
    }
    if id(&["-u", user]).is_none() {
        run(
            "useradd",
            &[
                "--system",
                "--gid",
                group,
                "--home-dir",
                "/var/lib/hush-relay",
                "--no-create-home",
                "--shell",
                "/sbin/nologin",
                "--comment",
                "Hush relay",
                user,
            ],
        );
    }
    let uid = id(&["-u", user]).unwrap();
    let gid = id(&["-g", user]).unwrap();
    assert_ne!(uid, 0, "the service user is not root");
    Some((uid, gid))
}

fn free_tcp_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Where the test listens for notifications, as `NOTIFY_SOCKET` names it.
enum Socket {
    /// A socket file, as systemd's `/run/systemd/notify`.
    Path,
    /// An `@name` in the abstract namespace.
    Abstract,
}

/// Kills the relay if the test fails before it exited.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Receives notification datagrams until one has `wanted` among its lines; returns that one.
fn receive_until(socket: &UnixDatagram, wanted: &str, log: &Path) -> String {
    let deadline = Instant::now() + WAIT;
    let mut buffer = vec![0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no {wanted} within {WAIT:?}; relay log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        socket.set_read_timeout(Some(left)).unwrap();
        match socket.recv(&mut buffer) {
            Ok(n) => {
                let message = String::from_utf8(buffer[..n].to_vec()).unwrap();
                if message.lines().any(|line| line == wanted) {
                    return message;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("receiving notifications: {e}"),
        }
    }
}

/// Spawns, retrying while the copied binary is still open for writing in a child that another
/// test thread forked meanwhile (ETXTBSY until that child execs).
fn spawn(command: &mut Command) -> Child {
    let deadline = Instant::now() + WAIT;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            spawned => return spawned.unwrap(),
        }
    }
}

fn start_as_the_unit_does(socket_kind: Socket) {
    let service = service();
    assert_eq!(service.kind, "notify");
    assert_eq!(service.user, "hush-relay");
    let identity = service_identity(&service);

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = root.join("var-lib-hush-relay");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();

    // The packaged config, moved to free ports and the temporary data dir.
    let mut config: toml::Table = std::fs::read_to_string(PACKAGED_CONFIG)
        .unwrap()
        .parse()
        .unwrap();
    let server = config["server"].as_table_mut().unwrap();
    assert_eq!(
        Path::new(server["data_dir"].as_str().unwrap()),
        service.working_directory,
        "the unit's WorkingDirectory is the packaged data_dir"
    );
    let listen = format!("127.0.0.1:{}", hush_tests::free_udp_port().unwrap());
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    server.insert("listen".into(), listen.clone().into());
    server.insert("metrics".into(), metrics.to_string().into());
    server.insert("data_dir".into(), data.to_str().unwrap().into());
    let config_file = root.join("relay.toml");
    std::fs::write(&config_file, toml::to_string(&config).unwrap()).unwrap();
    std::fs::set_permissions(&config_file, std::fs::Permissions::from_mode(0o640)).unwrap();

    // ExecStart, with the two install locations mapped to this build and this test.
    let packaged_config = flag(&service.exec_start, "--config").expect("ExecStart has --config");
    let binary = match identity {
        // The service user may not be able to reach the target dir (e.g. under /root).
        Some(_) => {
            let copy = root.join("hush-relay");
            std::fs::copy(BINARY, &copy).unwrap();
            copy
        }
        None => PathBuf::from(BINARY),
    };
    let mut args: Vec<String> = service.exec_start[1..].to_vec();
    for arg in &mut args {
        if arg == packaged_config {
            *arg = config_file.to_str().unwrap().to_owned();
        } else if Path::new(arg) == service.working_directory {
            *arg = data.to_str().unwrap().to_owned();
        }
    }
    assert_eq!(args[0], "serve");

    if let Some((uid, gid)) = identity {
        std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
        std::os::unix::fs::chown(&config_file, Some(0), Some(gid)).unwrap();
    }

    let (notify, notify_env) = match socket_kind {
        Socket::Path => {
            let path = root.join("notify");
            let socket = UnixDatagram::bind(&path).unwrap();
            // Like /run/systemd/notify: any service user may send to it.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
            (socket, path.to_str().unwrap().to_owned())
        }
        Socket::Abstract => {
            use std::os::linux::net::SocketAddrExt;
            let name = format!(
                "hush-relay-test/{}/{}",
                std::process::id(),
                root.file_name().unwrap().to_str().unwrap()
            );
            let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
            (
                UnixDatagram::bind_addr(&address).unwrap(),
                format!("@{name}"),
            )
        }
    };

    let log = root.join("relay.log");
    let output = std::fs::File::create(&log).unwrap();
    let mut command = Command::new(&binary);
    command
        .args(&args)
        .current_dir(&data)
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
        .envs(service.environment.iter().map(|(k, v)| (k, v)))
        .env("NOTIFY_SOCKET", &notify_env)
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output);
    if let Some((uid, gid)) = identity {
        // std also drops supplementary groups (setgroups(0)) when root sets a uid.
        command.uid(uid).gid(gid);
    }
    let mut relay = Running(spawn(&mut command));
    let pid = relay.0.id();

    let ready = receive_until(&notify, "READY=1", &log);
    let address = std::fs::read_to_string(data.join("relay-address"))
        .expect("the address file is written before READY=1");
    assert!(
        ready.contains(&format!("STATUS=relay address: {}", address.trim())),
        "STATUS names the address: {ready:?}"
    );
    assert!(address.contains(&listen), "{address} is on {listen}");
    match identity {
        Some((uid, gid)) => {
            assert_eq!(status_field(pid, "Uid"), format!("{uid} {uid} {uid} {uid}"));
            assert_eq!(status_field(pid, "Gid"), format!("{gid} {gid} {gid} {gid}"));
            assert_eq!(status_field(pid, "Groups"), "");
        }
        None => assert!(!status_field(pid, "Uid").starts_with("0 ")),
    }
    let scraped = hush_tests::scrape_metrics(metrics).unwrap();
    assert!(scraped.contains("hush_relay_connections"), "{scraped}");

    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    receive_until(&notify, "STOPPING=1", &log);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = relay.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no exit within {WAIT:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "SIGTERM exits 0, got {status}; relay log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn started_like_the_unit_it_notifies_ready_and_stops_cleanly_path_socket() {
    start_as_the_unit_does(Socket::Path);
}

#[test]
fn started_like_the_unit_it_notifies_ready_and_stops_cleanly_abstract_socket() {
    start_as_the_unit_does(Socket::Abstract);
}

#[test]
fn the_packaged_config_is_valid_and_matches_the_unit() {
    // load() also validates.
    let config = hush_relay::Config::load(Path::new(PACKAGED_CONFIG)).unwrap();
    let service = service();
    assert_eq!(config.server.data_dir, service.working_directory);
    assert_eq!(
        flag(&service.exec_start, "--config"),
        Some("/etc/hush-relay/relay.toml")
    );
    assert_eq!(service.exec_start[0], "/usr/bin/hush-relay");
}
