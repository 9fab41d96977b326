//! Log analysis throughput and memory against pgBadger and pt-query-digest, on the same
//! generated files in one run.
//!
//! `cargo bench --bench logs` generates a PostgreSQL stderr log and a MySQL slow log of
//! `DBABOT_BENCH_STATEMENTS` statements (default 1,000,000) from 2,000 shapes, then runs
//! `dbabot logs analyze` (the release binary), `pgbadger -j 1 -o out.json` and
//! `pt-query-digest --output json` on them and prints MB/s, wall time, peak RSS and the
//! throughput ratios. Peers that are not installed (Debian packages `pgbadger`,
//! `percona-toolkit`) are skipped, and `DBABOT_BENCH_PEERS=off` skips them on purpose (for a
//! memory run on a large file: `DBABOT_BENCH_STATEMENTS=5500000`, about 1 GB). Peak RSS is the process's `VmHWM` (Linux), read until it
//! exits.

use std::io::BufWriter;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    secs: f64,
    peak_kb: u64,
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn measure(cmd: &mut Command) -> Option<Run> {
    let started = Instant::now();
    let mut child = match cmd.stderr(Stdio::null()).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("  skipped: {e}");
            return None;
        }
    };
    let pid = child.id();
    let mut peak = 0;
    loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak = peak.max(kb);
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    eprintln!("  exited with {status}");
                }
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    Some(Run {
        secs: started.elapsed().as_secs_f64(),
        peak_kb: peak,
    })
}

fn installed(tool: &str) -> bool {
    if std::env::var("DBABOT_BENCH_PEERS").is_ok_and(|v| v == "off") {
        return false;
    }
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn report(name: &str, bytes: u64, r: &Run) -> f64 {
    let mbs = bytes as f64 / 1e6 / r.secs;
    println!(
        "  {name:<28} {:>8.2} s  {:>8.1} MB/s  peak RSS {:>6.1} MB",
        r.secs,
        mbs,
        r.peak_kb as f64 / 1024.0
    );
    mbs
}

fn main() {
    let n: usize = std::env::var("DBABOT_BENCH_STATEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let shapes = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = dir.path().join("postgresql.log");
    let slow = dir.path().join("slow.log");
    {
        let mut w = BufWriter::new(std::fs::File::create(&pg).expect("create"));
        dbabot::logs::generate::pg_stderr(&mut w, n, shapes, 42).expect("generate pg");
        let mut w = BufWriter::new(std::fs::File::create(&slow).expect("create"));
        dbabot::logs::generate::mysql_slow(&mut w, n, shapes, 42).expect("generate slow");
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (pg_bytes, slow_bytes) = (size(&pg), size(&slow));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "log analysis: {n} statements from {shapes} shapes; PostgreSQL stderr {:.0} MB, MySQL slow log {:.0} MB; {cores} cores",
        pg_bytes as f64 / 1e6,
        slow_bytes as f64 / 1e6
    );
    let dbabot = env!("CARGO_BIN_EXE_dbabot");

    println!("PostgreSQL stderr log:");
    let ours = measure(
        Command::new(dbabot)
            .args(["logs", "analyze", "--json"])
            .arg(&pg)
            .stdout(Stdio::null()),
    );
    let ours_mbs = ours
        .as_ref()
        .map(|r| report("dbabot (all cores)", pg_bytes, r));
    let ours1 = measure(
        Command::new(dbabot)
            .args(["logs", "analyze", "--json", "--threads", "1"])
            .arg(&pg)
            .stdout(Stdio::null()),
    );
    if let Some(r) = &ours1 {
        report("dbabot (1 worker)", pg_bytes, r);
    }
    if installed("pgbadger") {
        let out = dir.path().join("pgbadger.json");
        let peer = measure(
            Command::new("pgbadger")
                .args(["-j", "1", "-q", "--prefix", "%m [%p] %q%u@%d ", "-o"])
                .arg(&out)
                .arg(&pg)
                .stdout(Stdio::null()),
        );
        if let (Some(p), Some(o)) = (peer, ours_mbs) {
            let theirs = report("pgbadger -j 1", pg_bytes, &p);
            println!("  ratio dbabot / pgbadger: {:.1}x", o / theirs);
        }
    } else {
        println!("  pgbadger not installed (apt-get install pgbadger): skipped");
    }

    println!("MySQL slow log:");
    let ours = measure(
        Command::new(dbabot)
            .args(["logs", "analyze", "--json"])
            .arg(&slow)
            .stdout(Stdio::null()),
    );
    let ours_mbs = ours
        .as_ref()
        .map(|r| report("dbabot (all cores)", slow_bytes, r));
    if installed("pt-query-digest") {
        let out = std::fs::File::create(dir.path().join("pt.json")).expect("create");
        let peer = measure(
            Command::new("pt-query-digest")
                .args(["--output", "json"])
                .arg(&slow)
                .stdout(out),
        );
        if let (Some(p), Some(o)) = (peer, ours_mbs) {
            let theirs = report("pt-query-digest", slow_bytes, &p);
            println!("  ratio dbabot / pt-query-digest: {:.1}x", o / theirs);
        }
    } else {
        println!("  pt-query-digest not installed (apt-get install percona-toolkit): skipped");
    }
}
