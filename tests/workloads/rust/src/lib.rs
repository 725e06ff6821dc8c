//! The scenario workloads' shared command line and output, as tests/workloads/common.h
//! for the C++ ones: --variant=bad|fixed (default bad), --seconds=N (default 2),
//! --threads=N (default 4); ends with one line "throughput=<number> <unit>/s". A bad
//! argument prints one line to stderr and exits with status 2.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

/// Word -> count, the map of scenario 1.
pub type WordCounts = HashMap<String, u64>;

/// Counts one word; allocates only for a word's first count.
pub fn bump(counts: &mut WordCounts, word: &str) {
    match counts.get_mut(word) {
        Some(c) => *c += 1,
        None => {
            counts.insert(word.to_string(), 1);
        }
    }
}

/// What a scenario 1 workload supplies: its lock type around a WordCounts and the two
/// ways of counting a word (each workload's own functions, so that the lock call sits
/// on its own source line).
pub struct WordCountLocks<L> {
    pub new_lock: fn() -> L,
    pub count_shared: fn(&L, &str),
    pub count_sharded: fn(&[L], &str, usize),
    pub total: fn(&L) -> u64,
}

/// Scenario 1's driver: `o.threads` threads count random words of the vocabulary into
/// one locked map (bad) or into SHARDS locked maps (fixed) until --seconds pass, then
/// check the counts and print the throughput. Exits 1 when counts were lost.
pub fn run_word_count<L: Send + Sync + 'static>(o: &Options, locks: WordCountLocks<L>) -> ! {
    let vocabulary = Arc::new(vocabulary());
    let table = Arc::new((locks.new_lock)());
    let shards: Arc<Vec<L>> = Arc::new((0..SHARDS).map(|_| (locks.new_lock)()).collect());
    let start = Instant::now();
    let (bad, count_shared, count_sharded) = (o.bad, locks.count_shared, locks.count_sharded);
    let workers: Vec<_> = (0..o.threads)
        .map(|i| {
            let (vocabulary, table, shards) = (vocabulary.clone(), table.clone(), shards.clone());
            std::thread::spawn(move || {
                let mut rng = XorShift64::new(i as u64 + 1);
                let mut counted = 0u64;
                while !stop_requested() {
                    for _ in 0..256 {
                        let w = (rng.next() % vocabulary.len() as u64) as usize;
                        if bad {
                            count_shared(&table, &vocabulary[w]);
                        } else {
                            count_sharded(&shards, &vocabulary[w], w);
                        }
                    }
                    counted += 256;
                }
                counted
            })
        })
        .collect();
    run_for(o);
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let in_table: u64 = (locks.total)(&table) + shards.iter().map(locks.total).sum::<u64>();
    println!("variant={} threads={} counted={} consistent={}", o.variant_name(), o.threads, total,
             if total == in_table { "yes" } else { "no" });
    print_throughput(total as f64, "words", start);
    std::process::exit(if total == in_table { 0 } else { 1 });
}

/// Scenario 2's configuration (as tests/workloads/config_readers.h for the C++ ones):
/// read by every request, replaced by a rare reload.
pub const ROUTES: usize = 32;

#[derive(Clone, Copy)]
pub struct Config {
    pub version: i64,
    pub timeout_ms: i64,
    pub retry_limit: i64,
    pub max_connections: i64,
    pub route_weights: [i64; ROUTES],
}

/// The configuration of a version (const, so that a workload's lock around it can be a
/// `static`, as a program's global configuration is).
pub const fn make_config(version: i64) -> Config {
    let mut config = Config {
        version,
        timeout_ms: 100 + version % 7,
        retry_limit: 3 + version % 2,
        max_connections: 1000,
        route_weights: [0; ROUTES],
    };
    let mut i = 0;
    while i < ROUTES {
        config.route_weights[i] = 1 + (i as i64 * 7 + version) % 13;
        i += 1;
    }
    config
}

/// Picks a route for `request` by weight and returns a routing decision: only reads the
/// configuration. Inlined into each workload's read function, so that its reads are
/// sampled in the function that holds the lock (as the C++ header's inline function).
#[inline(always)]
pub fn route_request(config: &Config, request: u64) -> i64 {
    let mut total_weight = 0i64;
    for w in config.route_weights.iter() {
        total_weight += *w;
    }
    let mut point = (request % total_weight as u64) as i64;
    let mut route = 0usize;
    while point >= config.route_weights[route] {
        point -= config.route_weights[route];
        route += 1;
    }
    route as i64 * config.timeout_ms + config.retry_limit + (config.max_connections & 1)
}

/// Scenario 2's driver: `o.threads` reader threads call `read` until --seconds pass
/// while one thread calls `reload` every 100 ms; prints the summary line and the
/// throughput.
pub fn run_config_readers(o: &Options, read: fn(u64) -> i64, reload: fn(i64)) {
    let start = Instant::now();
    let reloader = std::thread::spawn(move || {
        let mut version = 1i64;
        while !stop_requested() {
            std::thread::sleep(Duration::from_millis(100));
            version += 1;
            reload(version);
        }
        version - 1
    });
    let readers: Vec<_> = (0..o.threads)
        .map(|i| {
            std::thread::spawn(move || {
                let mut rng = XorShift64::new(i as u64 + 1);
                let (mut count, mut sum) = (0u64, 0i64);
                while !stop_requested() {
                    for _ in 0..256 {
                        sum = sum.wrapping_add(read(rng.next()));
                    }
                    count += 256;
                }
                (count, sum)
            })
        })
        .collect();
    run_for(o);
    let (mut total, mut checksum) = (0u64, 0i64);
    for r in readers {
        let (count, sum) = r.join().unwrap();
        total += count;
        checksum = checksum.wrapping_add(sum);
    }
    let reloads = reloader.join().unwrap();
    println!("variant={} threads={} reloads={} reads={} checksum={}", o.variant_name(), o.threads, reloads, total,
             checksum);
    print_throughput(total as f64, "reads", start);
}
