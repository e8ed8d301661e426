//! Runs one operation on N threads (one keep-alive HTTP connection each) for
//! D seconds, records every latency and every failure by kind, and prints
//! progress once a second while it runs.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What one operation reports: success, or a short failure kind (an HTTP
/// status or a transport error class) that is counted, never printed per
/// request.
pub type OpResult = Result<(), String>;

/// Latency percentiles and counts of one scenario.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Scenario name.
    pub name: String,
    /// Successful operations.
    pub ok: u64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// Wall-clock seconds of the measured window.
    pub seconds: f64,
    /// Sorted latencies of successful operations.
    latencies: Vec<Duration>,
}

impl Stats {
    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Latency at quantile `q` (0..=1) in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies
            .get(i)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    /// Total failed operations.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Runs `op(thread, sequence)` on `threads` threads until `duration` has
/// passed or `op` says the work is exhausted (`None`). Each thread gets its
/// own state from `init(thread)` (its HTTP agent). `started` is called
/// just before the clock starts (the caller's CPU accounting).
pub fn drive<S>(
    name: &str,
    threads: usize,
    duration: Duration,
    started: &mut dyn FnMut(),
    init: impl Fn(usize) -> S + Sync,
    op: impl Fn(&mut S, u64) -> Option<OpResult> + Sync,
) -> Stats {
    let ok = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let seq = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let running = AtomicUsize::new(threads);
    let errors = Mutex::new(BTreeMap::<String, u64>::new());
    started();
    let started = Instant::now();
    let deadline = started + duration;
    let mut latencies = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (init, op) = (&init, &op);
                let (ok, failed, seq, done, running, errors) =
                    (&ok, &failed, &seq, &done, &running, &errors);
                s.spawn(move || {
                    let mut state = init(t);
                    let mut lat = Vec::with_capacity(1 << 16);
                    while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let i = seq.fetch_add(1, Ordering::Relaxed);
                        let t0 = Instant::now();
                        match op(&mut state, i) {
                            None => break,
                            Some(Ok(())) => {
                                lat.push(t0.elapsed());
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(Err(kind)) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                *errors
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .entry(kind)
                                    .or_default() += 1;
                            }
                        }
                    }
                    running.fetch_sub(1, Ordering::Relaxed);
                    lat
                })
            })
            .collect();
        // Progress, once a second, on standard error.
        let mut last = 0;
        let mut tick = started;
        while running.load(Ordering::Relaxed) > 0 {
            std::thread::sleep(Duration::from_millis(100));
            if tick.elapsed() >= Duration::from_secs(1) {
                tick = Instant::now();
                let now_ok = ok.load(Ordering::Relaxed);
                eprint!(
                    "\r  {name:<12} {:>5.1}s  {now_ok:>9} ok  {:>6} failed  {:>8}/s   ",
                    started.elapsed().as_secs_f64(),
                    failed.load(Ordering::Relaxed),
                    now_ok - last
                );
                let _ = std::io::stderr().flush();
                last = now_ok;
            }
        }
        done.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect::<Vec<_>>()
    });
    let seconds = started.elapsed().as_secs_f64();
    eprintln!();
    latencies.sort_unstable();
    Stats {
        name: name.to_owned(),
        ok: ok.load(Ordering::Relaxed),
        errors: errors
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        seconds,
        latencies,
    }
}

/// Runs `f` on `threads` threads for `duration` and returns calls per second
/// (for the raw limits; no latencies kept).
pub fn rate(threads: usize, duration: Duration, f: impl Fn(usize) + Sync) -> f64 {
    let count = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + duration;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (f, count) = (&f, &count);
            s.spawn(move || {
                let mut n = 0;
                while Instant::now() < deadline {
                    for _ in 0..16 {
                        f(t);
                    }
                    n += 16;
                }
                count.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
