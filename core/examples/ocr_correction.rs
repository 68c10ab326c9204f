//! Measures OCR correction of container numbers (`vasscm_core::ocr`) on a synthetic corpus.
//!
//! Usage: `ocr_correction [N] [SEED] [EXPECTED] [CONFUSION] [RANDOM]` — N true numbers
//! (default 100000) of a few hundred owner codes, read with a per-character probability
//! CONFUSION (default 0.02) of a confusion from the model and RANDOM (default 0.002) of a
//! random substitution; a read is plausible when it is the truth or one of the EXPECTED
//! (default 200) other containers expected at the gate at the same time. Prints a table and
//! exits 1 when any read was corrected (or accepted as valid and expected) to a wrong number.

use std::collections::HashSet;
use std::process::ExitCode;
use vasscm_core::container::{check_digit, validate};
use vasscm_core::ocr::{correct, Correction, Slot};

/// splitmix64: a small deterministic generator (no dependency needed).
struct Rng(u64);

impl Rng {
    /// The next 64 random bits.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer below `n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A uniform float in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The run's parameters.
struct Params {
    n: usize,
    seed: u64,
    expected: usize,
    confusion: f64,
    random: f64,
}

/// Reads the positional arguments, with defaults.
fn params() -> Result<Params, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let parse_err = |what: &str, v: &str| format!("{what}: not a number: {v}");
    Ok(Params {
        n: arg(0).map_or(Ok(100_000), |v| v.parse().map_err(|_| parse_err("N", v)))?,
        seed: arg(1).map_or(Ok(6346), |v| v.parse().map_err(|_| parse_err("SEED", v)))?,
        expected: arg(2).map_or(Ok(200), |v| v.parse().map_err(|_| parse_err("EXPECTED", v)))?,
        confusion: arg(3).map_or(Ok(0.02), |v| v.parse().map_err(|_| parse_err("CONFUSION", v)))?,
        random: arg(4).map_or(Ok(0.002), |v| v.parse().map_err(|_| parse_err("RANDOM", v)))?,
    })
}

/// `count` distinct valid numbers: 300 random owner codes, category U, random serials.
fn corpus(rng: &mut Rng, count: usize) -> Vec<String> {
    let letter = |rng: &mut Rng| (b'A' + rng.below(26) as u8) as char;
    let owners: Vec<String> = (0..300).map(|_| (0..3).map(|_| letter(rng)).collect()).collect();
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let prefix = format!("{}U{:06}", owners[rng.below(owners.len())], rng.below(1_000_000));
        let Ok(d) = check_digit(&prefix) else { continue };
        let number = format!("{prefix}{d}");
        if seen.insert(number.clone()) {
            out.push(number);
        }
    }
    out
}

/// How a read differs from the truth.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Read as it is.
    Perfect,
    /// Exactly one confusion of the model.
    OneConfusion,
    /// Two or more errors, or a random substitution (outside the model).
    Other,
}

/// A camera read of `truth`: per character, a confusion of the model or a random substitution.
fn read(rng: &mut Rng, truth: &str, p: &Params) -> (String, Kind) {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let (mut confusions, mut randoms) = (0, 0);
    let mut out = String::with_capacity(11);
    for (i, c) in truth.chars().enumerate() {
        let r = rng.unit();
        let misreads = Slot::of(i).misreads(c);
        if r < p.confusion && !misreads.is_empty() {
            out.push(misreads[rng.below(misreads.len())]);
            confusions += 1;
        } else if (p.confusion..p.confusion + p.random).contains(&r) {
            let other = loop {
                let x = ALNUM[rng.below(ALNUM.len())] as char;
                if x != c {
                    break x;
                }
            };
            out.push(other);
            randoms += 1;
        } else {
            out.push(c);
        }
    }
    let kind = match (confusions, randoms) {
        (0, 0) => Kind::Perfect,
        (1, 0) => Kind::OneConfusion,
        _ => Kind::Other,
    };
    (out, kind)
}

/// Outcome counts of one kind of read.
#[derive(Default)]
struct Tally {
    reads: usize,
    valid_expected: usize,
    valid_unexpected: usize,
    corrected: usize,
    ambiguous: usize,
    unreadable: usize,
    wrong: usize,
}

impl Tally {
    /// Records the outcome of one read of `truth`.
    fn add(&mut self, outcome: &Correction, truth: &str) {
        self.reads += 1;
        match outcome {
            Correction::Valid { number, plausible: true } => {
                self.valid_expected += 1;
                self.wrong += usize::from(number != truth);
            }
            Correction::Valid { plausible: false, .. } => self.valid_unexpected += 1,
            Correction::Corrected { number, .. } => {
                self.corrected += 1;
                self.wrong += usize::from(number != truth);
            }
            Correction::Ambiguous { .. } => self.ambiguous += 1,
            Correction::Unreadable => self.unreadable += 1,
        }
    }

    /// A table row: counts and shares of this kind's reads.
    fn row(&self, name: &str) -> String {
        let pct = |k: usize| if self.reads == 0 { 0.0 } else { 100.0 * k as f64 / self.reads as f64 };
        format!(
            "| {name:<22} | {:>7} | {:>7.2} % | {:>7.2} % | {:>7.2} % | {:>9.2} % | {:>8.2} % | {:>5} |",
            self.reads,
            pct(self.valid_expected),
            pct(self.corrected),
            pct(self.ambiguous),
            pct(self.valid_unexpected),
            pct(self.unreadable),
            self.wrong
        )
    }
}

fn main() -> ExitCode {
    let p = match params() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut rng = Rng(p.seed);
    let truths = corpus(&mut rng, p.n);
    let mut tallies = [Tally::default(), Tally::default(), Tally::default()];
    let mut undetected = 0;
    // The gate expects containers in windows of EXPECTED + 1: each truth and its window-mates.
    for window in truths.chunks(p.expected + 1) {
        let expected: HashSet<&str> = window.iter().map(String::as_str).collect();
        for truth in window {
            let (r, kind) = read(&mut rng, truth, &p);
            undetected += usize::from(kind == Kind::OneConfusion && validate(&r).is_ok());
            tallies[kind as usize].add(&correct(&r, |c| expected.contains(c)), truth);
        }
    }
    println!(
        "{} true numbers, 300 owner codes; per character {:.1} % confusions of the model, {:.1} % random substitutions; \
         {} other containers expected per read; seed {}",
        p.n,
        100.0 * p.confusion,
        100.0 * p.random,
        p.expected,
        p.seed
    );
    println!("| read                   |   reads | valid+exp | corrected | ambiguous | valid,unexp | unreadable | WRONG |");
    println!("|------------------------|---------|-----------|-----------|-----------|-------------|------------|-------|");
    for (tally, name) in tallies.iter().zip(["perfect", "one confusion", "other (2+ / random)"]) {
        println!("{}", tally.row(name));
    }
    println!("one-confusion misreads that pass the check digit themselves (ISO 6346 misses them): {undetected}");
    let wrong: usize = tallies.iter().map(|t| t.wrong).sum();
    println!("wrong corrections: {wrong}");
    if wrong == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
