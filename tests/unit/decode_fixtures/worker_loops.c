// A per-thread worker loop built three ways for the decoder's tests
// (decode_variants_test.cc): -O0 (reloads `p` from its stack slot into the register
// it dereferences), -O2 (gcc rotates the loop: `jmp cond; body: lock add; cond: ...;
// je body`, so the IP after the hot RMW is a jump target) and -O2 stripped (no
// symbol for the loop's function: bounds only from .eh_frame).
#include <stdatomic.h>

struct worker_args {
  long id;
  long n;
  long sum_x;
  long sum_y;
  _Atomic long hits;
};

// Hidden and static: a stripped copy has no symbol (.dynsym included) covering it.
static __attribute__((noinline)) void accumulate(struct worker_args* a, _Atomic int* stop) {
  struct worker_args* p = a;
  while (!atomic_load_explicit(stop, memory_order_acquire)) {
    p->sum_x += p->id;
    p->sum_y += p->n;
  }
}

static __attribute__((noinline)) void count_hits(struct worker_args* a, _Atomic int* stop) {
  while (!atomic_load_explicit(stop, memory_order_acquire)) atomic_fetch_add_explicit(&a->hits, 1, memory_order_relaxed);
}

__attribute__((visibility("default"))) void worker_accumulate(struct worker_args* a, _Atomic int* stop) {
  accumulate(a, stop);
}

__attribute__((visibility("default"))) void worker_count_hits(struct worker_args* a, _Atomic int* stop) {
  count_hits(a, stop);
}
