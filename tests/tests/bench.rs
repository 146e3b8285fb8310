//! `hush bench` runs against a real relay process and accounts for every envelope.
//!
//! Tiny workloads only, and nothing timed: the figures are for docs/benchmarks.md, not for
//! CI. What CI checks is that the load generator works and that the relay loses and
//! duplicates nothing under it.

use std::process::Command;

use hush_tests::{RelayProcess, target_binary};
use serde_json::Value;

fn bench(relay: &RelayProcess, args: &[&str]) -> Value {
    let output = Command::new(target_binary("hush"))
        .arg("bench")
        .arg("--relay")
        .arg(relay.address.to_string())
        .arg("--relay-pid")
        .arg(relay.child.id().to_string())
        .arg("--disk-usage")
        .arg(&relay.data_dir)
        .args(["--json", "--timeout", "60"])
        .args(args)
        .output()
        .expect("hush bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "hush bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().expect("one JSON line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn assert_complete(report: &Value, delivered: u64) {
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["failed_sends"], 0, "{report}");
    assert_eq!(report["delivered"], delivered, "{report}");
    for key in [
        "msgs_per_sec",
        "p50_us",
        "p99_us",
        "p999_us",
        "relay_cpu_us_per_msg",
        "relay_rss_bytes",
        "disk_bytes",
    ] {
        assert!(report[key].is_number(), "{key} missing: {report}");
    }
}

#[test]
fn hush_bench_accounts_for_every_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start_in(dir.path()).unwrap();

    let one_to_one = bench(&relay, &["--pairs", "3", "--messages", "60"]);
    assert_eq!(one_to_one["workload"], "1:1");
    assert_complete(&one_to_one, 60);

    let paced = bench(
        &relay,
        &["--pairs", "2", "--messages", "20", "--rate", "200"],
    );
    assert_complete(&paced, 20);

    let offline = bench(&relay, &["--offline", "--pairs", "2", "--messages", "50"]);
    assert_eq!(offline["workload"], "offline");
    assert_complete(&offline, 50);

    let group = bench(&relay, &["--group", "4", "--messages", "10"]);
    assert_eq!(group["workload"], "group");
    assert_complete(&group, 40);

    let idle = bench(&relay, &["--idle", "20", "--hold", "0"]);
    assert_eq!(idle["connections"], 20, "{idle}");
    assert_eq!(idle["connect_failures"], 0, "{idle}");
    assert!(idle["rss_per_connection_bytes"].is_number(), "{idle}");

    relay.terminate().unwrap();
}
