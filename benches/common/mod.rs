//! Measurement helpers shared by the bench binaries (included with
//! `#[path = "common/mod.rs"] mod common;`).
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The number after `--name` on the command line, or `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bytes per generated input line, newline included.
pub const LINE_BYTES: usize = 100;

/// The median; NaN for no values.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// utime + stime from a `/proc/.../stat` file, in clock ticks of 10 ms
/// (`sysconf(_SC_CLK_TCK)` is 100 on every Linux this runs on).
fn cpu_from_stat(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_secs_f64(ticks as f64 / 100.0)
}

/// User + system CPU time of this process so far (all threads).
pub fn process_cpu() -> Duration {
    cpu_from_stat("/proc/self/stat")
}

/// User + system CPU time of the calling thread so far.
pub fn thread_cpu() -> Duration {
    cpu_from_stat("/proc/thread-self/stat")
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// A target's verdict for the report.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

/// Shared by a counting sink and the driver: items counted, and when all
/// the target were.
#[derive(Default)]
pub struct Counter {
    pub n: AtomicU64,
    pub reached: OnceLock<Instant>,
}

impl Counter {
    /// Adds `n`; notes the instant the count reaches `target`.
    pub fn add(&self, n: usize, target: u64) {
        let now = self.n.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if now >= target {
            self.reached.get_or_init(Instant::now);
        }
    }
}

/// Writes `lines` lines of [`LINE_BYTES`] bytes (newline included), each
/// starting with its number and with a varied tail.
pub fn generate(path: &Path, lines: u64) {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).expect("create input"));
    let mut line = [b'x'; LINE_BYTES];
    line[LINE_BYTES - 1] = b'\n';
    for i in 0..lines {
        let head = format!("{i:012} ");
        line[..head.len()].copy_from_slice(head.as_bytes());
        line[LINE_BYTES - 2] = b'a' + (i % 26) as u8;
        out.write_all(&line).expect("write input");
    }
    out.flush().expect("flush input");
}
