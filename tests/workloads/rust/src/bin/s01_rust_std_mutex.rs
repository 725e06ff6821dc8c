//! Scenario 1 with Rust's std::sync::Mutex — one lock serialises a parallel map.
//!   bad:   every word is counted in one HashMap behind one Arc<Mutex<..>>; std's
//!          mutex parks waiters on its own futex word and has no owner field.
//!   fixed: the map is sharded 64 ways, one Mutex per shard.
use ccprof_rust_workloads::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

type WordCounts = HashMap<String, u64>;

// Allocates only for a word's first count.
fn bump(counts: &mut WordCounts, word: &str) {
    match counts.get_mut(word) {
        Some(c) => *c += 1,
        None => {
            counts.insert(word.to_string(), 1);
        }
    }
}

// bad: one acquisition of the one shared lock per word.
#[inline(never)]
fn count_word_shared(table: &Mutex<WordCounts>, word: &str) {
    let mut t = table.lock().unwrap(); // PROBLEM: every thread serializes on this one Mutex, per word
    bump(&mut t, word);
}

// fixed: the word's shard only.
#[inline(never)]
fn count_word_sharded(shards: &[Mutex<WordCounts>], word: &str, hash: usize) {
    let mut s = shards[hash % SHARDS].lock().unwrap(); // FIX: 64 locks, a thread rarely waits for another
    bump(&mut s, word);
}

fn main() {
    let o = parse_options();
    let vocabulary = Arc::new(vocabulary());
    let table = Arc::new(Mutex::new(WordCounts::new()));
    let shards: Arc<Vec<Mutex<WordCounts>>> = Arc::new((0..SHARDS).map(|_| Mutex::new(WordCounts::new())).collect());
    let start = Instant::now();
    let bad = o.bad;
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
                            count_word_shared(&table, &vocabulary[w]);
                        } else {
                            count_word_sharded(&shards, &vocabulary[w], w);
                        }
                    }
                    counted += 256;
                }
                counted
            })
        })
        .collect();
    run_for(&o);
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let mut in_table: u64 = table.lock().unwrap().values().sum();
    for s in shards.iter() {
        in_table += s.lock().unwrap().values().sum::<u64>();
    }
    println!("variant={} threads={} counted={} consistent={}", o.variant_name(), o.threads, total,
             if total == in_table { "yes" } else { "no" });
    print_throughput(total as f64, "words", start);
    std::process::exit(if total == in_table { 0 } else { 1 });
}
