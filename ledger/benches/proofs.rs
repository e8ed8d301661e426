//! Proof generation and verification on a 1,000,000-leaf tree: median and
//! p99 time per operation, and node reads per proof.
//!
//! `cargo bench -p ledger --bench proofs`. Generation reads from a
//! [`MemoryTree`] through a counting [`HashStore`], so the times are the
//! algorithm's (hashing plus O(log n) lookups) without a database.
#![forbid(unsafe_code)]
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::cell::Cell;
use std::error::Error;
use std::time::{Duration, Instant};

use ledger::tree::{self, MissingNode};
use ledger::{Hash, HashStore, MemoryTree, leaf_hash};

const LEAVES: u64 = 1_000_000;
const SAMPLES: usize = 20_000;

struct Counting<'a> {
    tree: &'a MemoryTree,
    reads: Cell<u64>,
}

impl HashStore for Counting<'_> {
    type Error = MissingNode;

    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.reads.set(self.reads.get() + 1);
        self.tree.node(level, index)
    }
}

/// splitmix64, so every run measures the same sample.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Report {
    times: Vec<Duration>,
    reads: Vec<u64>,
}

impl Report {
    fn new() -> Self {
        Self {
            times: Vec::with_capacity(SAMPLES),
            reads: Vec::with_capacity(SAMPLES),
        }
    }

    fn print(mut self, name: &str) {
        self.times.sort_unstable();
        let at = |q: f64| {
            let i = ((self.times.len() as f64 - 1.0) * q).round() as usize;
            self.times.get(i).copied().unwrap_or_default()
        };
        let reads = if self.reads.is_empty() {
            "-".to_owned()
        } else {
            let mean = self.reads.iter().sum::<u64>() as f64 / self.reads.len() as f64;
            let max = self.reads.iter().max().copied().unwrap_or(0);
            format!("{mean:.1} / {max}")
        };
        println!(
            "{name:<28} {:>10.2?} {:>10.2?} {:>14}",
            at(0.5),
            at(0.99),
            reads
        );
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let tree: MemoryTree = (0..LEAVES).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    println!(
        "built a {LEAVES}-leaf MemoryTree in {:.2?}; {SAMPLES} samples per row",
        start.elapsed()
    );
    let store = Counting {
        tree: &tree,
        reads: Cell::new(0),
    };
    let root = tree::root(&tree, LEAVES)?;
    let mut state = 1;

    println!(
        "{:<28} {:>10} {:>10} {:>14}",
        "operation", "median", "p99", "reads mean/max"
    );

    let mut gen_report = Report::new();
    let mut proofs = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let index = next(&mut state) % LEAVES;
        store.reads.set(0);
        let t = Instant::now();
        let proof = tree::inclusion_proof(&store, index, LEAVES)?;
        gen_report.times.push(t.elapsed());
        gen_report.reads.push(store.reads.get());
        proofs.push((index, proof));
    }
    gen_report.print("inclusion proof (n = 1M)");

    let mut verify_report = Report::new();
    for (index, proof) in &proofs {
        let leaf = tree.node(0, *index)?;
        let t = Instant::now();
        tree::verify_inclusion(&leaf, *index, LEAVES, proof, &root)?;
        verify_report.times.push(t.elapsed());
    }
    verify_report.print("verify inclusion");

    let mut gen_report = Report::new();
    let mut proofs = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let a = 1 + next(&mut state) % LEAVES;
        let b = 1 + next(&mut state) % LEAVES;
        let (first, second) = (a.min(b), a.max(b));
        store.reads.set(0);
        let t = Instant::now();
        let proof = tree::consistency_proof(&store, first, second)?;
        gen_report.times.push(t.elapsed());
        gen_report.reads.push(store.reads.get());
        proofs.push((first, second, proof));
    }
    gen_report.print("consistency proof");

    let mut verify_report = Report::new();
    let mut root_report = Report::new();
    for (first, second, proof) in &proofs {
        store.reads.set(0);
        let t = Instant::now();
        let first_root = tree::root(&store, *first)?;
        root_report.times.push(t.elapsed());
        root_report.reads.push(store.reads.get());
        let second_root = tree::root(&tree, *second)?;
        let t = Instant::now();
        tree::verify_consistency(*first, *second, &first_root, &second_root, proof)?;
        verify_report.times.push(t.elapsed());
    }
    verify_report.print("verify consistency");
    root_report.print("root (random size)");

    let mut append_report = Report::new();
    let batch: Vec<Hash> = (0..64u64)
        .map(|i| leaf_hash(&(LEAVES + i).to_be_bytes()))
        .collect();
    for _ in 0..SAMPLES / 10 {
        let old = 1 + next(&mut state) % (LEAVES - 1);
        store.reads.set(0);
        let t = Instant::now();
        let nodes = tree::append(&store, old, &batch)?;
        append_report.times.push(t.elapsed());
        append_report.reads.push(store.reads.get());
        std::hint::black_box(nodes);
    }
    append_report.print("append 64 leaves");
    Ok(())
}
