// Rust locks whose names the unit tests read from DWARF (lock_code_test.cc): a
// Mutex<HashMap> on the heap, locked through a reference (its slow-path call's argument
// is the lock word, in the register DWARF locates `table` in) and through an Arc, and a
// global Mutex. Built -O and as a debug build.
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

// Through an Arc, as programs share a table: in a debug build the reference Arc's deref
// returns is kept in an unnamed temporary, and `Mutex<HashMap<u64, u64>>::lock` is called
// out of line.
#[inline(never)]
pub fn count_word_arc(table: &Arc<Mutex<HashMap<u64, u64>>>, word: u64) {
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
    count_word_arc(&table, 2);
    count_global();
    println!("count_word={:x} global={:x} count_word_arc={:x}", count_word as usize,
             &GLOBAL_COUNT as *const _ as usize, count_word_arc as usize);
    let _ = std::io::stdin().read(&mut [0u8; 1]);
}
