//! Fuzzing of what users type: profiles (TOML, parsed then validated into a `Config`) and class
//! rosters (CSV). Every input, however broken, must end in `Ok` or a typed error: a panic is a
//! bug (a caret drawn past a line's end, an overflow on a huge number, an index out of range).
//!
//! Run 1 M executions (or N) with `bench/fuzz [N] [SEED]`; `tests/fuzz_inputs.rs` runs a bounded
//! number with a fixed seed in `cargo test`. A mutational fuzzer on the stable toolchain (this
//! project's only one, so cargo-fuzz's nightly libFuzzer is out): seeds are the built-in
//! profiles, a profile using every section and a roster; each input is a seed mutated a few
//! times (bytes flipped, inserted, deleted; lines duplicated or spliced from another seed;
//! tokens that have broken parsers before inserted: control characters, U+3000, huge numbers,
//! `-oProxyCommand=`, unbalanced brackets and quotes).

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use labprov::config::Config;
use labprov::profile::{Layer, Source, parse};

/// What a run saw.
#[derive(Debug, Default)]
pub struct Stats {
    pub executions: u64,
    pub accepted: u64,
    pub refused: u64,
    /// (input, panic message) of each panic (at most the first 10).
    pub panics: Vec<(String, String)>,
    pub panic_count: u64,
}

const FULL_PROFILE: &str = r#"name = "fuzz"
[ssh]
user = "crownlabs"
jump = "bastion@ssh.crownlabs.polito.it"
port = 22
host_key_policy = "accept-new"

[[hosts]]
name = "vm1"
address = "10.0.0.5"
user = "student"

[versions]
minikube = "v1.39.0"
kubectl = "v1.37.1"
istio = "1.31.1"

[artifacts]
mode = "push"
[artifacts.minikube]
url = "https://user:pw@mirror/minikube/{version}/minikube-linux-{arch}"

[docker]
repo_url = "https://download.docker.com/linux/ubuntu"

[cluster]
cpus = 4
memory = "8g"
kubernetes_version = "v1.37.0"
addons = ["metrics-server", "dashboard"]

[dns]
nameserver = "8.8.8.8"

[istio]
profile = "demo"

[run]
parallel = 16
grace_period = 30
lock_timeout = 1800
apt_lock_timeout = 600

[lab]
bundles = ["hello-node", "bookinfo"]
egress_cidr = "192.168.49.0/24"
[lab.weights]
v1 = 50
v2 = 30
v3 = 20

[tunnel]
kiali = 20001
"#;

const ROSTER: &str =
    "name,address,user,port\nanna,10.0.0.11,crownlabs,22\nbob,10.0.0.12\n# a comment\n10.0.0.13\n";

const TOKENS: &[&str] = &[
    "\n",
    "\t",
    "\0",
    "\u{1b}[2J",
    "\u{85}",
    "\u{3000}",
    "\u{feff}",
    "é",
    "\"",
    "'",
    "\"\"\"",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    ",",
    ".",
    "@",
    ":",
    "-",
    "-oProxyCommand=x",
    "#",
    "\\n",
    "\\u0000",
    "18014398509481986g",
    "99999999999999999999",
    "-1",
    "0",
    "4294967296",
    "nan",
    "inf",
    "1e999",
    "true",
    "[[hosts]]",
    "[lab.weights]",
    "extends = \"local\"",
    "extends = \"fuzz\"",
    "ssh://",
    "http://",
    "{version}",
    "{arch}",
    "::",
    "/",
    "..",
    "g",
    "m",
    "k",
    "G",
    "auto",
];

/// xorshift64*: enough randomness for mutation, no dependency, reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seeds() -> Vec<(bool, String)> {
    let mut s: Vec<(bool, String)> = labprov::profile::BUILTIN
        .iter()
        .map(|(_, text)| (true, text.to_string()))
        .collect();
    s.push((true, FULL_PROFILE.to_string()));
    s.push((false, ROSTER.to_string()));
    s
}

fn mutate(rng: &mut Rng, input: &str, others: &[(bool, String)]) -> String {
    let mut bytes = input.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next() as u8;
            }
            1 if !bytes.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            2 | 3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                bytes.splice(at..at, t.bytes());
            }
            4 => {
                // Duplicate a line (a key twice, a table twice).
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let l = lines[rng.below(lines.len())];
                    bytes.splice(at..at, format!("\n{l}\n").into_bytes());
                }
            }
            5 => {
                // A line of another seed.
                let other = &others[rng.below(others.len())].1;
                let lines: Vec<&str> = other.lines().collect();
                if !lines.is_empty() {
                    let l = lines[rng.below(lines.len())];
                    bytes.splice(at..at, format!("{l}\n").into_bytes());
                }
            }
            _ => {
                let digits = (rng.next() % 100_000).to_string();
                bytes.splice(at..at, digits.into_bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whatever it returns, it must return.
fn exercise(profile: bool, text: &str) -> bool {
    let path = Path::new("fuzz.toml");
    if profile {
        let source = Arc::new(Source {
            path: path.to_path_buf(),
            text: text.to_string(),
        });
        match parse(&source) {
            Ok(raw) => {
                // An `extends` is resolved by load() from disk; here the file stands alone.
                let layers = [Layer { source, raw }];
                let result = Config::from_layers(&layers);
                if let Err(e) = &result {
                    let _ = e.to_string();
                }
                result.is_ok()
            }
            Err(e) => {
                let _ = e.to_string();
                false
            }
        }
    } else {
        match labprov::inventory::parse_roster(Path::new("roster.csv"), text) {
            Ok(_) => true,
            Err(e) => {
                let _ = e.to_string();
                false
            }
        }
    }
}

/// `n` executions from `seed`; panics are caught and counted, not propagated.
pub fn run(n: u64, seed: u64) -> Stats {
    run_with(n, seed, exercise)
}

/// [`run`], with `target` instead of labprov's parsers (a test shows panics are caught).
pub fn run_with(n: u64, seed: u64, target: impl Fn(bool, &str) -> bool) -> Stats {
    let seeds = seeds();
    let mut rng = Rng(seed | 1);
    let mut stats = Stats::default();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut corpus: Vec<(bool, String)> = seeds.clone();
    for _ in 0..n {
        let (profile, base) = corpus[rng.below(corpus.len())].clone();
        let input = mutate(&mut rng, &base, &seeds);
        stats.executions += 1;
        match std::panic::catch_unwind(AssertUnwindSafe(|| target(profile, &input))) {
            Ok(true) => {
                stats.accepted += 1;
                // An accepted input is a good base for more: keep a few.
                if corpus.len() < 256 {
                    corpus.push((profile, input));
                }
            }
            Ok(false) => stats.refused += 1,
            Err(payload) => {
                stats.panic_count += 1;
                if stats.panics.len() < 10 {
                    let message = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    stats.panics.push((input, message));
                }
            }
        }
    }
    std::panic::set_hook(previous);
    stats
}

#[allow(dead_code)] // `tests/fuzz_inputs.rs` includes this file for `run` alone.
fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0x5eed);
    let t0 = std::time::Instant::now();
    let stats = run(n, seed);
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{{\"executions\":{},\"accepted\":{},\"refused\":{},\"panics\":{},\"seed\":{},\"seconds\":{:.1},\"per_second\":{:.0}}}",
        stats.executions,
        stats.accepted,
        stats.refused,
        stats.panic_count,
        seed,
        secs,
        stats.executions as f64 / secs
    );
    for (input, message) in &stats.panics {
        eprintln!("PANIC: {message}\n--- input ---\n{input}\n-------------");
    }
    std::process::exit(if stats.panic_count == 0 { 0 } else { 1 });
}
