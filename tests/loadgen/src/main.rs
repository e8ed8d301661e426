//! `loadgen`: drives walletd's real HTTP API with N concurrent keep-alive
//! connections for D seconds per scenario (enrollment, licence issuance,
//! challenge + presentation verification, inclusion proofs, OCSP), and
//! prints throughput, p50/p90/p99/max latency and errors next to the raw
//! SoftHSM2 signing rate and raw ECDSA verify rate measured in the same run.
//!
//! Everything a request needs (holder keys, CSRs, national IDs) is made
//! before the clock starts. With several `--url`s the connections are split
//! between the instances, and each verification asks one instance for its
//! challenge and presents to the next. `--check-receipts` then verifies, untimed, every
//! receipt it was given against the ledger and the published ledger keys,
//! and that no serial was issued twice. See BENCHMARKS.md for the commands.
#![expect(clippy::print_stdout, reason = "a benchmark tool reports on stdout")]

mod driver;
mod limits;
mod workload;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;

use crate::driver::Stats;
use crate::limits::{Limits, TokenArgs};
use crate::workload::{Scenario, Workload};

/// Load generator for walletd.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
struct Args {
    /// Base URL of a walletd instance; repeat to split the load.
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// Bearer token of an officer (enrollment).
    #[arg(long, env = "LOADGEN_OFFICER_TOKEN")]
    officer_token: String,
    /// Bearer token of an officer of the licence type's department.
    #[arg(long, env = "LOADGEN_LICENCE_TOKEN")]
    licence_token: Option<String>,
    /// Bearer token of a counter (challenges).
    #[arg(long, env = "LOADGEN_COUNTER_TOKEN")]
    counter_token: Option<String>,
    /// Concurrent connections (one thread each).
    #[arg(long, short = 'c', default_value_t = 32)]
    connections: usize,
    /// Seconds per scenario.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Scenarios in order: enroll, licence, verify, proof, ocsp.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "enroll,licence,verify,proof,ocsp"
    )]
    scenarios: Vec<Scenario>,
    /// Holders (key, CSR, national ID) made before the run; enrollment stops
    /// when they are used up.
    #[arg(long, default_value_t = 20_000)]
    holders: usize,
    /// Licence type to issue (its required attributes get generated values).
    #[arg(long, default_value = "business")]
    licence_type: String,
    /// Attribute names of the licence type.
    #[arg(
        long = "licence-attribute",
        default_values_t = ["company_name".to_owned(), "unified_social_credit_code".to_owned(), "scope".to_owned()]
    )]
    licence_attributes: Vec<String>,
    /// PKCS#11 module, to measure the raw signing rate of the same token.
    #[arg(long, env = "WALLET_PKCS11_MODULE")]
    module: Option<PathBuf>,
    /// Token label.
    #[arg(long, env = "WALLET_TOKEN_LABEL", default_value = "onevisit")]
    token_label: String,
    /// File holding the user PIN.
    #[arg(long, env = "WALLET_PIN_FILE")]
    pin_file: Option<PathBuf>,
    /// Seconds per raw-limit measurement.
    #[arg(long, default_value_t = 2.0)]
    limit_seconds: f64,
    /// walletd process ids whose resident memory is reported.
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// Verify every receipt and serial uniqueness after the run (untimed).
    #[arg(long)]
    check_receipts: bool,
    /// Write the figures as JSON to this file too.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let token = match (&args.module, &args.pin_file) {
        (Some(module), Some(pin_file)) => Some(TokenArgs {
            module: module.clone(),
            label: args.token_label.clone(),
            pin: std::fs::read_to_string(pin_file)
                .with_context(|| format!("read {}", pin_file.display()))?
                .trim()
                .to_owned(),
        }),
        _ => None,
    };

    eprintln!("measuring raw limits ({threads} threads)...");
    let limits = limits::measure(
        token.as_ref(),
        threads,
        Duration::from_secs_f64(args.limit_seconds),
    )?;

    let mut work = Workload::new(workload::Config {
        urls: args.urls.clone(),
        officer_token: args.officer_token.clone(),
        licence_token: args.licence_token.clone(),
        counter_token: args.counter_token.clone(),
        licence_type: args.licence_type.clone(),
        licence_attributes: args.licence_attributes.clone(),
    });
    let needs_holders = args.scenarios.contains(&Scenario::Enroll);
    if needs_holders {
        eprintln!("making {} holder keys and CSRs...", args.holders);
        work.make_holders(args.holders, threads)?;
    }

    let duration = Duration::from_secs_f64(args.duration);
    let mut results = Vec::new();
    let mut memory = Vec::new();
    let mut cpu = Vec::new();
    for scenario in &args.scenarios {
        let mut before = None;
        let stats = work.run(*scenario, args.connections, duration, &mut || {
            before = Some(CpuUse::now(&args.pids));
        })?;
        let before = before.context("the scenario never started")?;
        cpu.push(CpuUse::now(&args.pids).since(&before, stats.ok));
        results.push(stats);
        for pid in &args.pids {
            memory.push((format!("after {scenario}"), *pid, rss(*pid)));
        }
    }

    let checks = if args.check_receipts {
        eprintln!("checking receipts...");
        Some(work.check_receipts()?)
    } else {
        None
    };

    let run = Run {
        args: &args,
        threads,
        limits: &limits,
        results: &results,
        cpu: &cpu,
        memory: &memory,
        checks: checks.as_ref(),
    };
    run.print();
    if let Some(path) = &args.json {
        let doc = run.json();
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    match checks {
        Some(c) if !c.ok() => anyhow::bail!("receipt or serial checks failed"),
        _ => Ok(()),
    }
}

/// CPU seconds used so far by walletd (the `--pid`s, summed), by this
/// process, and by the whole machine (all cores, busy time); and walletd's
/// read and write system calls so far.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    walletd: Option<f64>,
    walletd_io: Option<(u64, u64)>,
    loadgen: Option<f64>,
    machine: Option<f64>,
    wall: Instant,
}

/// Where the CPU went during one scenario, per successful operation.
#[derive(Debug, Clone, Copy)]
struct CpuShare {
    /// walletd CPU microseconds per operation.
    walletd_us: Option<f64>,
    /// Load generator CPU microseconds per operation.
    loadgen_us: Option<f64>,
    /// Busy fraction of all cores over the scenario.
    machine_busy: Option<f64>,
    /// walletd read and write system calls per operation. Unlike CPU time,
    /// a count the VM's other tenants do not move: an A/B comparison of
    /// storage changes can see a few percent in it.
    walletd_syscalls: Option<(f64, f64)>,
}

impl CpuUse {
    fn now(pids: &[u32]) -> Self {
        let walletd = if pids.is_empty() {
            None
        } else {
            pids.iter()
                .map(|p| process_cpu(&p.to_string()))
                .sum::<Option<f64>>()
        };
        let walletd_io = if pids.is_empty() {
            None
        } else {
            pids.iter()
                .map(|p| process_io(*p))
                .try_fold((0, 0), |(r, w), io| io.map(|(a, b)| (r + a, w + b)))
        };
        Self {
            walletd,
            walletd_io,
            loadgen: process_cpu("self"),
            machine: machine_busy(),
            wall: Instant::now(),
        }
    }

    fn since(&self, before: &Self, ops: u64) -> CpuShare {
        let per_op = |a: Option<f64>, b: Option<f64>| -> Option<f64> {
            let d = a? - b?;
            (ops > 0).then(|| d / ops as f64 * 1e6)
        };
        let wall = self.wall.duration_since(before.wall).as_secs_f64();
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        CpuShare {
            walletd_us: per_op(self.walletd, before.walletd),
            loadgen_us: per_op(self.loadgen, before.loadgen),
            machine_busy: match (self.machine, before.machine) {
                (Some(a), Some(b)) if wall > 0.0 => Some((a - b) / (wall * cores)),
                _ => None,
            },
            walletd_syscalls: match (self.walletd_io, before.walletd_io) {
                (Some((r, w)), Some((r0, w0))) if ops > 0 => Some((
                    r.saturating_sub(r0) as f64 / ops as f64,
                    w.saturating_sub(w0) as f64 / ops as f64,
                )),
                _ => None,
            },
        }
    }
}

/// Clock ticks per second of /proc times: USER_HZ, 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of a process (`self` or a pid).
fn process_cpu(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Read-like and write-like system calls of `pid` so far (`syscr`,
/// `syscw` of /proc/PID/io): SQLite's page reads and WAL writes, and
/// eventfd wake-ups; not socket traffic, which goes through `send` and
/// `recv`.
fn process_io(pid: u32) -> Option<(u64, u64)> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    Some((proc_field(&io, "syscr:")?, proc_field(&io, "syscw:")?))
}

/// The value of the `name` line of a /proc key-value file (`status`,
/// `io`): its first word after the name.
fn proc_field<T: std::str::FromStr>(text: &str, name: &str) -> Option<T> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Busy (not idle, not iowait) CPU seconds of the whole machine.
fn machine_busy() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let idle = v.get(3)? + v.get(4)?;
    Some((v.iter().sum::<f64>() - idle) / USER_HZ)
}

/// When, which process, and its (resident, peak resident) MiB if readable.
type Memory = (String, u32, Option<(f64, f64)>);

/// (VmRSS, VmHWM) in MiB of `pid`, if readable.
fn rss(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mib = |name: &str| proc_field::<f64>(&status, name).map(|kb| kb / 1024.0);
    Some((mib("VmRSS:")?, mib("VmHWM:")?))
}

/// The limit a scenario is compared with, and what it is.
fn limit_of(s: &Stats, limits: &Limits) -> Option<(f64, &'static str)> {
    match s.name.as_str() {
        "enroll" | "licence" | "ocsp" => limits.sign_n.map(|v| (v, "raw HSM sign")),
        "verify" => Some((limits.verify_ring_n, "raw ECDSA verify")),
        _ => None,
    }
}

/// Everything one run measured, for the printed and the JSON report.
struct Run<'a> {
    args: &'a Args,
    threads: usize,
    limits: &'a Limits,
    results: &'a [Stats],
    cpu: &'a [CpuShare],
    memory: &'a [Memory],
    checks: Option<&'a workload::Checks>,
}

impl Run<'_> {
    fn print(&self) {
        let Run {
            args,
            threads,
            limits,
            results,
            cpu,
            memory,
            checks,
        } = *self;
        println!();
        println!(
            "loadgen: {} connection(s) to {} instance(s), {} s per scenario, {threads} cores",
            args.connections,
            args.urls.len(),
            args.duration
        );
        println!("raw limits, same run:");
        match (limits.sign_1, limits.sign_n) {
            (Some(one), Some(n)) => println!(
                "  SoftHSM2 ECDSA P-256 sign (same token)  {one:>9.0}/s 1 thread   {n:>9.0}/s {threads} threads"
            ),
            _ => println!("  SoftHSM2 sign: not measured (give --module and --pin-file)"),
        }
        println!(
            "  ECDSA P-256 verify, ring                {:>9.0}/s 1 thread   {:>9.0}/s {threads} threads",
            limits.verify_ring_1, limits.verify_ring_n
        );
        println!(
            "  ECDSA P-256 verify, RustCrypto p256     {:>9.0}/s 1 thread",
            limits.verify_p256_1
        );
        println!();
        println!(
            "{:<10} {:>9} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8}  ratio to limit",
            "scenario", "ok", "failed", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for s in results {
            let ratio = limit_of(s, limits)
                .map(|(l, what)| format!("{:.3} of {what} ({l:.0}/s)", s.rate() / l))
                .unwrap_or_else(|| "-".into());
            println!(
                "{:<10} {:>9} {:>7} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {ratio}",
                s.name,
                s.ok,
                s.failed(),
                s.rate(),
                s.ms(0.5),
                s.ms(0.9),
                s.ms(0.99),
                s.ms(1.0),
            );
            for (kind, n) in &s.errors {
                println!("{:<10}   error {kind}: {n}", "");
            }
        }
        println!();
        println!("CPU per operation (microseconds) and machine busy over each scenario:");
        let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
        for (s, c) in results.iter().zip(cpu) {
            println!(
                "  {:<10} walletd {:>6}   loadgen {:>6}   machine busy {}{}",
                s.name,
                us(c.walletd_us),
                us(c.loadgen_us),
                c.machine_busy
                    .map_or_else(|| "-".to_owned(), |b| format!("{:.0} %", b * 100.0)),
                c.walletd_syscalls
                    .map_or_else(String::new, |(r, w)| format!(
                        "   walletd syscalls/op {r:.1} read {w:.1} write"
                    )),
            );
        }
        for (when, pid, mem) in memory {
            match mem {
                Some((rss, hwm)) => {
                    println!("walletd pid {pid} {when}: RSS {rss:.1} MiB, peak {hwm:.1} MiB")
                }
                None => println!("walletd pid {pid} {when}: not readable"),
            }
        }
        if let Some(c) = checks {
            println!(
                "receipts: {} checked, {} failed; serials: {} issued, {} duplicated; checkpoints: {} verified",
                c.receipts, c.receipt_failures, c.serials, c.duplicate_serials, c.checkpoints
            );
            for f in c.failures.iter().take(10) {
                println!("  {f}");
            }
        }
    }

    fn json(&self) -> serde_json::Value {
        let Run {
            args,
            threads,
            limits,
            results,
            cpu,
            memory,
            checks,
        } = *self;
        serde_json::json!({
            "connections": args.connections,
            "instances": args.urls.len(),
            "seconds_per_scenario": args.duration,
            "cores": threads,
            "limits": {
                "hsm_sign_1": limits.sign_1,
                "hsm_sign_n": limits.sign_n,
                "verify_ring_1": limits.verify_ring_1,
                "verify_ring_n": limits.verify_ring_n,
                "verify_p256_1": limits.verify_p256_1,
            },
            "scenarios": results.iter().zip(cpu).map(|(s, c)| serde_json::json!({
                "name": s.name,
                "ok": s.ok,
                "failed": s.failed(),
                "errors": s.errors,
                "seconds": s.seconds,
                "rate": s.rate(),
                "p50_ms": s.ms(0.5),
                "p90_ms": s.ms(0.9),
                "p99_ms": s.ms(0.99),
                "max_ms": s.ms(1.0),
                "ratio": limit_of(s, limits).map(|(l, _)| s.rate() / l),
                "walletd_cpu_us_per_op": c.walletd_us,
                "loadgen_cpu_us_per_op": c.loadgen_us,
                "machine_busy": c.machine_busy,
                "walletd_read_syscalls_per_op": c.walletd_syscalls.map(|x| x.0),
                "walletd_write_syscalls_per_op": c.walletd_syscalls.map(|x| x.1),
            })).collect::<Vec<_>>(),
            "memory": memory.iter().map(|(when, pid, m)| serde_json::json!({
                "when": when, "pid": pid,
                "rss_mib": m.map(|x| x.0), "peak_mib": m.map(|x| x.1),
            })).collect::<Vec<_>>(),
            "checks": checks.map(|c| serde_json::json!({
                "receipts": c.receipts, "receipt_failures": c.receipt_failures,
                "serials": c.serials, "duplicate_serials": c.duplicate_serials,
                "checkpoints": c.checkpoints,
            })),
        })
    }
}
