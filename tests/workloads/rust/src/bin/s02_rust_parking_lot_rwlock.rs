//! Scenario 2 with Rust's parking_lot locks — a configuration that is read constantly by
//! many threads and reloaded rarely.
//!   bad:   the configuration is a `static parking_lot::Mutex<Config>` (the lock the
//!          developer reached for first): every reader takes it exclusively, so readers
//!          serialise against each other although none writes. Its waiters spin, yield
//!          and park on per-thread words (parking_lot_core), not on the lock.
//!   fixed: a `static parking_lot::RwLock<Config>`: readers take `read()` together; only
//!          the rare reload takes `write()`.
//! Why the bad variant is the Mutex and not the RwLock: parking_lot's RwLock taken with
//! `read()` does not serialise readers, so a workload that took it that way would have
//! no problem to find. The mistake scenario 2 is about is the exclusive lock used where
//! a reader-writer lock (or a snapshot) fits, as in the C++ s02 (std::mutex, fixed by
//! std::shared_mutex) and s02-absl-mutex.
use ccprof_rust_workloads::*;
use parking_lot::{const_mutex, const_rwlock, Mutex, RwLock};

static CONFIG_MUTEX: Mutex<Config> = const_mutex(make_config(1));
static CONFIG_RWLOCK: RwLock<Config> = const_rwlock(make_config(1));

// bad: every read takes the lock exclusively.
#[inline(never)]
fn read_config_exclusive(request: u64) -> i64 {
    let config = CONFIG_MUTEX.lock(); // PROBLEM: readers exclude each other although none writes
    route_request(&config, request)
}

// fixed: readers share the lock.
#[inline(never)]
fn read_config_shared(request: u64) -> i64 {
    let config = CONFIG_RWLOCK.read(); // FIX: readers hold it together
    route_request(&config, request)
}

#[inline(never)]
fn reload_config_exclusive(version: i64) {
    let fresh = make_config(version);
    *CONFIG_MUTEX.lock() = fresh;
}

#[inline(never)]
fn reload_config_shared(version: i64) {
    let fresh = make_config(version);
    *CONFIG_RWLOCK.write() = fresh;
}

fn main() {
    let o = parse_options();
    if o.bad {
        run_config_readers(&o, read_config_exclusive, reload_config_exclusive);
    } else {
        run_config_readers(&o, read_config_shared, reload_config_shared);
    }
}
