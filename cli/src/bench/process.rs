//! The server's side of the bill, read from `/proc`: CPU time and resident memory of a process
//! (`--relay-pid`), and the disk space a directory takes (`--disk-usage`).
//!
//! CPU time is `utime + stime` from `/proc/PID/stat` — the whole thread group, including
//! threads that have exited — in clock ticks of 1/100 s (`USER_HZ`, 100 on Linux). RSS is
//! `VmRSS` from `/proc/PID/status`. Disk usage counts allocated blocks, like `du`.

use std::path::Path;

/// Clock ticks per second in `/proc/PID/stat` (`USER_HZ`).
const USER_HZ: u64 = 100;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// User + system CPU time, microseconds.
    pub(crate) cpu_us: u64,
    /// Resident set size, bytes.
    pub(crate) rss_bytes: u64,
}

/// Reads process `pid`.
pub(crate) fn sample(pid: u32) -> std::io::Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse(&stat, &status).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid} contents"),
        )
    })
}

fn parse(stat: &str, status: &str) -> Option<Sample> {
    // Fields after the parenthesised command name start at field 3 (state); utime and stime
    // are fields 14 and 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(Sample {
        cpu_us: (utime + stime) * (1_000_000 / USER_HZ),
        rss_bytes: rss_kb * 1024,
    })
}

/// Bytes allocated on disk under `dir` (recursively), like `du -s`.
pub(crate) fn disk_usage(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_usage(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_and_rss() {
        let stat = "42 (hush relay) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 1 1";
        let status = "Name:\thush-relay\nVmRSS:\t   2048 kB\nThreads:\t9\n";
        assert_eq!(
            parse(stat, status),
            Some(Sample {
                cpu_us: 3_000_000,
                rss_bytes: 2 * 1024 * 1024
            })
        );
    }

    #[test]
    fn reads_this_process() {
        let me = sample(std::process::id()).unwrap();
        assert!(me.rss_bytes > 0);
    }
}
