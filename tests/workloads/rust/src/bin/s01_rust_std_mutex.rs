//! Scenario 1 with Rust's std::sync::Mutex — one lock serialises a parallel map.
//!   bad:   every word is counted in one HashMap behind one Arc<Mutex<..>>; std's
//!          mutex parks waiters on its own futex word and has no owner field.
//!   fixed: the map is sharded 64 ways, one Mutex per shard.
use ccprof_rust_workloads::*;
use std::sync::Mutex;

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
    run_word_count(
        &parse_options(),
        WordCountLocks {
            new_lock: || Mutex::new(WordCounts::new()),
            count_shared: count_word_shared,
            count_sharded: count_word_sharded,
            total: |m| m.lock().unwrap().values().sum(),
        },
    );
}
