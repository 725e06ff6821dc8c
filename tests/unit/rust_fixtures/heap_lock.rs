// Rust locks whose names the unit tests read from DWARF (lock_code_test.cc): a
// Mutex<HashMap> on the heap, locked through a reference (its slow-path call's argument
// is the lock word, in the register DWARF locates `table` in), and a global Mutex.
// Prints the addresses the test needs, then waits until its stdin closes.
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

pub static GLOBAL_COUNT: Mutex<u64> = Mutex::new(0);

#[inline(never)]
pub fn count_word(table: &Mutex<HashMap<u64, u64>>, word: u64) {
    let mut t = table.lock().unwrap();
    *t.entry(word).or_insert(0) += 1;
}

#[inline(never)]
pub fn count_global() {
    *GLOBAL_COUNT.lock().unwrap() += 1;
}

fn main() {
    let table = Arc::new(Mutex::new(HashMap::new()));
    count_word(&table, 1);
    count_global();
    println!("count_word={:x} global={:x}", count_word as usize, &GLOBAL_COUNT as *const _ as usize);
    let _ = std::io::stdin().read(&mut [0u8; 1]);
}
