//! Scenario 2 with Rust's std::sync locks — a configuration that is read constantly by
//! many threads and reloaded rarely.
//!   bad:   the configuration is a `static Mutex<Config>` (the lock the developer reached
//!          for first): every reader takes it exclusively, so readers serialise against
//!          each other although none writes. std's Mutex parks waiters on its own futex
//!          word and has no owner field.
//!   fixed: a `static RwLock<Config>`: readers take `read()` together; only the rare
//!          reload takes `write()`.
//! Why the bad variant is the Mutex and not the RwLock: std's RwLock taken with `read()`
//! does not serialise readers, so a workload that took it that way would have no
//! problem to find. The mistake scenario 2 is about is the exclusive lock used where a
//! reader-writer lock (or a snapshot) fits, as in the C++ s02 (std::mutex, fixed by
//! std::shared_mutex) and s02-absl-mutex.
use ccprof_rust_workloads::*;
use std::sync::{Mutex, RwLock};

static CONFIG_MUTEX: Mutex<Config> = Mutex::new(make_config(1));
static CONFIG_RWLOCK: RwLock<Config> = RwLock::new(make_config(1));

// bad: every read takes the lock exclusively.
#[inline(never)]
fn read_config_exclusive(request: u64) -> i64 {
    let config = CONFIG_MUTEX.lock().unwrap(); // PROBLEM: readers exclude each other although none writes
    route_request(&config, request)
}

// fixed: readers share the lock.
#[inline(never)]
fn read_config_shared(request: u64) -> i64 {
    let config = CONFIG_RWLOCK.read().unwrap(); // FIX: readers hold it together
    route_request(&config, request)
}

#[inline(never)]
fn reload_config_exclusive(version: i64) {
    let fresh = make_config(version);
    *CONFIG_MUTEX.lock().unwrap() = fresh;
}

#[inline(never)]
fn reload_config_shared(version: i64) {
    let fresh = make_config(version);
    *CONFIG_RWLOCK.write().unwrap() = fresh;
}

fn main() {
    let o = parse_options();
    if o.bad {
        run_config_readers(&o, read_config_exclusive, reload_config_exclusive);
    } else {
        run_config_readers(&o, read_config_shared, reload_config_shared);
    }
}
