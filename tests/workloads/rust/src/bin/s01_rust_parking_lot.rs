//! Scenario 1 with Rust's parking_lot::Mutex — one lock serialises a parallel map.
//!   bad:   every word is counted in one table behind one Arc<Mutex<..>>; parking_lot's
//!          mutex parks waiters on a per-thread futex word (parking_lot_core), not on
//!          the lock, and has no owner field.
//!   fixed: the table is sharded 64 ways, one Mutex per shard.
//! Each update also does the per-entry work real code does under the same lock (here a
//! digest over the words counted, as a map that keeps checksums or statistics does), so
//! the critical section is a real share of each operation. With a bare counter bump
//! parking_lot's adaptive spinning hid the lock on 2 CPUs (wait share ~5%, bad as fast as
//! fixed): that was a lock that did not matter, not a scenario 1.
use ccprof_rust_workloads::*;
use parking_lot::Mutex;

/// Word counts and a digest of every word counted into them.
struct Table {
    counts: WordCounts,
    digest: u64,
}

/// FNV-1a rounds over the word per update: ~1 µs on this VM, most of an operation.
const DIGEST_ROUNDS: usize = 128;

fn new_table() -> Table {
    Table { counts: WordCounts::new(), digest: 0xcbf2_9ce4_8422_2325 }
}

/// One word's update: its count and the table's digest (the per-entry work).
fn record(t: &mut Table, word: &str) {
    bump(&mut t.counts, word);
    let mut h = t.digest;
    for _ in 0..DIGEST_ROUNDS {
        for b in word.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    t.digest = h;
}

// bad: one acquisition of the one shared lock per word.
#[inline(never)]
fn count_word_shared(table: &Mutex<Table>, word: &str) {
    let mut t = table.lock(); // PROBLEM: every thread serializes on this one Mutex, per word
    record(&mut t, word);
}

// fixed: the word's shard only.
#[inline(never)]
fn count_word_sharded(shards: &[Mutex<Table>], word: &str, hash: usize) {
    let mut s = shards[hash % SHARDS].lock(); // FIX: 64 locks, a thread rarely waits for another
    record(&mut s, word);
}

fn main() {
    run_word_count(
        &parse_options(),
        WordCountLocks {
            new_lock: || Mutex::new(new_table()),
            count_shared: count_word_shared,
            count_sharded: count_word_sharded,
            total: |m| m.lock().counts.values().sum(),
        },
    );
}
