//! The bindings from their own languages, against a real relay and the real `hush` CLI.
//!
//! Each test starts `hush-relay` on 127.0.0.1, creates a CLI user, and runs a program in C,
//! C++, Python or Kotlin (under `tests/c`, `tests/cpp`, `tests/python`, `tests/kotlin`) that
//! links the library built by this `cargo test`, creates its own account and chats with the
//! CLI user. The programs need `cc`, `g++`, `python3`, `java`, `kotlinc` and JNA; a missing
//! tool fails the test with what to install (`tests/run.sh` installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

use hush_tests::{Hush, RelayProcess};

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The directory with `libhush_ffi` as `cargo test` builds it (it is not copied up to
/// `target/debug` by a test build): the test executable's own.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

fn library() -> PathBuf {
    let name = format!(
        "{}hush_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = target_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A tool on PATH; fails with an install hint if there is none.
fn tool(name: &str, install: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{name}` is needed for this test and is not on PATH: {install} (tests/run.sh does)")
    })
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    println!("{stdout}{stderr}");
    stdout
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// A relay, a CLI user ("Cli") on it, and the environment the programs read.
struct Scene {
    dir: tempfile::TempDir,
    _relay: RelayProcess,
    env: Vec<(&'static str, String)>,
}

impl Scene {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let relay = RelayProcess::start_in(dir.path()).unwrap();
        let address = relay.address.to_string();
        let peer = Hush::new(dir.path().join("cli"));
        peer.ok(&["init", "--relay", &address, "--name", "Cli"]);
        let invite = peer.ok(&["invite"]).stdout.trim().to_owned();
        let env = vec![
            (
                "HUSH_APP_HOME",
                dir.path().join("app").display().to_string(),
            ),
            ("HUSH_RELAY", address),
            ("HUSH_PEER_INVITE", invite),
            (
                "HUSH_CLI",
                format!(
                    "{} --home {}",
                    shell_quote(&peer.binary),
                    shell_quote(&peer.home)
                ),
            ),
            // For the CLI the programs start.
            ("HUSH_PASSPHRASE", peer.passphrase.clone()),
            ("HUSH_KDF", "insecure-fast".into()),
        ];
        Self {
            dir,
            _relay: relay,
            env,
        }
    }

    fn out(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Generates the UniFFI bindings for `language` into `dir`.
    fn bindings(&self, language: &str, dir: &Path) {
        run(Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
            .args([
                "generate",
                "--no-format",
                "--language",
                language,
                "--out-dir",
            ])
            .arg(dir)
            .arg(library()));
    }
}

fn include_dir() -> PathBuf {
    Path::new(CRATE_DIR).join("include")
}

#[test]
fn c_program_chats_with_the_cli() {
    let scene = Scene::new();
    let cc = tool("cc", "apt-get install gcc");
    let out = scene.out("c");
    let binary = out.join("chat");
    let target = target_dir();
    run(Command::new(cc)
        .args([
            "-std=c11",
            "-D_POSIX_C_SOURCE=200809L",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
        ])
        .arg("-I")
        .arg(include_dir())
        .arg(Path::new(CRATE_DIR).join("tests/c/chat.c"))
        .arg("-L")
        .arg(&target)
        .arg(format!("-Wl,-rpath,{}", target.display()))
        .args(["-lhush_ffi", "-o"])
        .arg(&binary));
    let output = run(&mut scene.command(&binary));
    assert!(output.contains("C app: all checks passed"), "{output}");
}

#[test]
fn c_header_compiles_and_links_as_cpp() {
    let gxx = tool("g++", "apt-get install g++");
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("header");
    let target = target_dir();
    run(Command::new(gxx)
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(include_dir())
        .arg(Path::new(CRATE_DIR).join("tests/cpp/header.cpp"))
        .arg("-L")
        .arg(&target)
        .arg(format!("-Wl,-rpath,{}", target.display()))
        .args(["-lhush_ffi", "-o"])
        .arg(&binary));
    let output = run(&mut Command::new(&binary));
    assert!(output.contains("C++: libhush_ffi"), "{output}");
}

#[test]
fn python_program_chats_with_the_cli_and_receives_through_the_callback() {
    let scene = Scene::new();
    let python = tool("python3", "apt-get install python3");
    let out = scene.out("python");
    scene.bindings("python", &out);
    // The generated module loads the library from its own directory.
    let library = library();
    std::os::unix::fs::symlink(&library, out.join(library.file_name().unwrap())).unwrap();
    let output = run(scene
        .command(python)
        .arg(Path::new(CRATE_DIR).join("tests/python/chat.py"))
        .env("PYTHONPATH", &out));
    assert!(output.contains("Python app: all checks passed"), "{output}");
}

/// kotlinc: on PATH, under `KOTLIN_HOME`, or the npm package `kotlin-compiler`.
fn kotlin_home() -> PathBuf {
    if let Some(home) = std::env::var_os("KOTLIN_HOME") {
        return PathBuf::from(home);
    }
    if let Ok(output) = Command::new("npm").args(["root", "-g"]).output() {
        let root = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let home = Path::new(&root).join("kotlin-compiler");
        if home.join("bin/kotlinc").is_file() {
            return home;
        }
    }
    let kotlinc = tool("kotlinc", "npm install -g kotlin-compiler");
    let home = std::fs::canonicalize(kotlinc)
        .ok()
        .and_then(|path| path.parent()?.parent().map(Path::to_path_buf));
    home.expect("the Kotlin installation around kotlinc")
}

#[test]
fn kotlin_bindings_work_sync_and_async_on_the_jvm() {
    let scene = Scene::new();
    let java = tool("java", "apt-get install openjdk-17-jdk-headless");
    let kotlin = kotlin_home();
    let jar_in = |dir: &Path, name: &str, install: &str| {
        let path = dir.join(name);
        assert!(
            path.is_file(),
            "{} is needed and missing: {install} (tests/run.sh does)",
            path.display()
        );
        path
    };
    let jna = jar_in(
        Path::new("/usr/share/java"),
        "jna.jar",
        "apt-get install libjna-java",
    );
    let lib = kotlin.join("lib");
    let coroutines = jar_in(
        &lib,
        "kotlinx-coroutines-core-jvm.jar",
        "npm install -g kotlin-compiler",
    );
    let stdlib = jar_in(&lib, "kotlin-stdlib.jar", "npm install -g kotlin-compiler");
    let out = scene.out("kotlin");
    scene.bindings("kotlin", &out);
    let classpath = |entries: &[&Path]| {
        std::env::join_paths(entries)
            .unwrap()
            .into_string()
            .unwrap()
    };
    let jar = out.join("chat.jar");
    run(Command::new(kotlin.join("bin/kotlinc"))
        .arg(out.join("uniffi/hush_ffi/hush_ffi.kt"))
        .arg(Path::new(CRATE_DIR).join("tests/kotlin/Chat.kt"))
        .args(["-nowarn", "-cp", &classpath(&[&jna, &coroutines]), "-d"])
        .arg(&jar));
    let output = run(scene
        .command(java)
        .arg(format!("-Djna.library.path={}", target_dir().display()))
        .args([
            "-cp",
            &classpath(&[&jar, &jna, &coroutines, &stdlib]),
            "ChatKt",
        ]));
    assert!(output.contains("Kotlin app: all checks passed"), "{output}");
}
