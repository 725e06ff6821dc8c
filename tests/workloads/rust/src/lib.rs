//! The scenario workloads' shared command line and output, as tests/workloads/common.h
//! for the C++ ones: --variant=bad|fixed (default bad), --seconds=N (default 2),
//! --threads=N (default 4); ends with one line "throughput=<number> <unit>/s". A bad
//! argument prints one line to stderr and exits with status 2.
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct Options {
    pub bad: bool,
    pub seconds: f64,
    pub threads: usize,
}

impl Options {
    pub fn variant_name(&self) -> &'static str {
        if self.bad { "bad" } else { "fixed" }
    }
}

fn usage_error(program: &str, message: &str) -> ! {
    eprintln!("{}: {} (usage: --variant=bad|fixed --seconds=N --threads=N)", program, message);
    std::process::exit(2);
}

pub fn parse_options() -> Options {
    let mut o = Options { bad: true, seconds: 2.0, threads: 4 };
    let args: Vec<String> = std::env::args().collect();
    let program = args.first().cloned().unwrap_or_else(|| "workload".into());
    for arg in &args[1..] {
        if let Some(v) = arg.strip_prefix("--variant=") {
            match v {
                "bad" => o.bad = true,
                "fixed" => o.bad = false,
                _ => usage_error(&program, &format!("--variant must be bad or fixed, not '{}'", v)),
            }
        } else if let Some(v) = arg.strip_prefix("--seconds=") {
            match v.parse::<f64>() {
                Ok(s) if s > 0.0 && s <= 3600.0 => o.seconds = s,
                _ => usage_error(&program, &format!("--seconds must be a number in (0, 3600], not '{}'", v)),
            }
        } else if let Some(v) = arg.strip_prefix("--threads=") {
            match v.parse::<usize>() {
                Ok(n) if (1..=256).contains(&n) => o.threads = n,
                _ => usage_error(&program, &format!("--threads must be an integer in [1, 256], not '{}'", v)),
            }
        } else {
            usage_error(&program, &format!("unknown argument '{}'", arg));
        }
    }
    o
}

static STOP: AtomicBool = AtomicBool::new(false);

pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Sleeps for the run's duration, then tells the workers to stop.
pub fn run_for(o: &Options) {
    std::thread::sleep(Duration::from_secs_f64(o.seconds));
    STOP.store(true, Ordering::Relaxed);
}

pub fn print_throughput(count: f64, unit: &str, start: Instant) {
    let s = start.elapsed().as_secs_f64();
    println!("throughput={:.1} {}/s", if s > 0.0 { count / s } else { 0.0 }, unit);
}

/// A small, fast, deterministic per-thread random number generator.
pub struct XorShift64(u64);

impl XorShift64 {
    pub fn new(seed: u64) -> Self {
        XorShift64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The same 512-word vocabulary as the C++ scenario 1 workload.
pub fn vocabulary() -> Vec<String> {
    let syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po"];
    (0..512usize)
        .map(|i| {
            let mut word = String::new();
            let mut n = i;
            loop {
                word += syllables[n % 8];
                if n < 8 {
                    break;
                }
                n /= 8;
            }
            word
        })
        .collect()
}

pub const SHARDS: usize = 64;
