//! What the processes of a pool's nodes use, read from /proc: CPU time, resident memory and
//! disk I/O per process group (each task and start task runs in its own group), and the size
//! of each node's directory. These feed the autoscale metrics ($CPUPercent, $MemoryBytes,
//! $DiskBytes, $DiskRead/WriteBytes and Ops).

use std::collections::HashMap;
use std::path::Path;

/// Totals of one process since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcUsage {
    /// User + system time, in clock ticks.
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
    /// Bytes read and written through system calls (`rchar`, `wchar`): what the process asked
    /// of its files, whatever the file system (a tmpfs or overlay counts as a disk would).
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
}

/// Linux's clock ticks per second for /proc times (USER_HZ, 100 on every supported kernel).
pub const TICKS_PER_SEC: f64 = 100.0;
const PAGE: u64 = 4096;

/// Every process's usage, by process group: pgid -> (pid -> usage).
pub fn by_group() -> HashMap<i32, HashMap<i32, ProcUsage>> {
    let mut out: HashMap<i32, HashMap<i32, ProcUsage>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((pgid, u)) = parse_stat(&stat) else {
            continue;
        };
        let mut u = u;
        if let Ok(io) = std::fs::read_to_string(e.path().join("io")) {
            parse_io(&io, &mut u);
        }
        out.entry(pgid).or_default().insert(pid, u);
    }
    out
}

/// The process group and CPU/memory fields of `/proc/<pid>/stat` (after the command name,
/// which may hold spaces and parentheses: fields are counted from its last `)`).
pub fn parse_stat(stat: &str) -> Option<(i32, ProcUsage)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): pgrp is field 5, utime 14, stime 15, rss 24.
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    let pgid = field(5)? as i32;
    let ticks = field(14)?.max(0) as u64 + field(15)?.max(0) as u64;
    let rss = field(24)?.max(0) as u64 * PAGE;
    Some((
        pgid,
        ProcUsage {
            cpu_ticks: ticks,
            rss_bytes: rss,
            ..ProcUsage::default()
        },
    ))
}

/// The I/O counters of `/proc/<pid>/io`.
pub fn parse_io(io: &str, u: &mut ProcUsage) {
    for line in io.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v: u64 = v.trim().parse().unwrap_or(0);
        match k {
            "rchar" => u.read_bytes = v,
            "wchar" => u.write_bytes = v,
            "syscr" => u.read_ops = v,
            "syscw" => u.write_ops = v,
            _ => {}
        }
    }
}

/// Bytes of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "4242 (my (odd) cmd) S 1 4200 4200 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 \
                    1000 10000000 300 18446744073709551615";
        let (pgid, u) = parse_stat(stat).unwrap();
        assert_eq!(pgid, 4200);
        assert_eq!(u.cpu_ticks, 300);
        assert_eq!(u.rss_bytes, 300 * 4096);
        let mut u = u;
        parse_io(
            "rchar: 10\nwchar: 20\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\n",
            &mut u,
        );
        assert_eq!(
            (u.read_bytes, u.write_bytes, u.read_ops, u.write_ops),
            (10, 20, 3, 4)
        );
    }

    #[test]
    fn our_own_process_group_is_found() {
        let me = std::process::id() as i32;
        let groups = by_group();
        assert!(groups.values().any(|g| g.contains_key(&me)));
    }
}
