//! The `hush` command line itself: exit codes and messages that need no relay.

use std::process::Command;

const HUSH: &str = env!("CARGO_BIN_EXE_hush");

fn hush(home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(HUSH)
        .arg("--home")
        .arg(home)
        .args(args)
        .env("HUSH_PASSPHRASE", "correct horse battery")
        .env("HUSH_KDF", "insecure-fast")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_exits_zero_and_bad_arguments_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = hush(dir.path(), &["--help"]);
    assert_eq!(code, 0);
    for command in ["init", "send", "sync", "history", "chat", "verify"] {
        assert!(stdout.contains(command), "help lists {command}");
    }
    let (code, _, stderr) = hush(dir.path(), &["send"]);
    assert_eq!(code, 1, "{stderr}");
    let (code, _, _) = hush(dir.path(), &["frobnicate"]);
    assert_eq!(code, 1);
}

#[test]
fn commands_without_an_account_say_how_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = hush(&dir.path().join("nobody"), &["whoami"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("hush: ") && stderr.contains("hush init"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_bad_relay_address_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = hush(dir.path(), &["init", "--relay", "http://example.org"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not a relay address"), "{stderr}");
}
