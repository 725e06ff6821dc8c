// SPDX-License-Identifier: GPL-2.0
/* lockrate collector: a uprobe on libc's pthread_mutex_lock counting calls per
 * (thread, mutex, caller). Futex waits show only contended acquisitions; this shows how
 * often a lock is taken at all. A uprobe traps on every call, so the agent attaches it
 * only for short windows and divides by their length. */
#include "common.bpf.h"
#include "lockrate.h"

char LICENSE[] SEC("license") = "GPL";

CCPROF_MAP(lock_calls, BPF_MAP_TYPE_HASH, 16384, struct lockrate_key, __u64);

struct lockrate_counters counters = {};

SEC("uprobe")
int BPF_KPROBE(lockrate_mutex_lock, void *mutex)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!ccprof_is_target(id))
		return 0;
	struct lockrate_key k = { .tgid = id >> 32, .tid = (__u32)id, .lock = (__u64)mutex };
	/* at function entry the return address is at the top of the stack */
	bpf_probe_read_user(&k.caller, sizeof(k.caller), (void *)PT_REGS_SP(ctx));
	__u64 *n = bpf_map_lookup_elem(&lock_calls, &k);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return 0;
	}
	__u64 one = 1;
	if (!bpf_map_update_elem(&lock_calls, &k, &one, BPF_NOEXIST))
		return 0;
	n = bpf_map_lookup_elem(&lock_calls, &k); /* another CPU inserted it first */
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		__sync_fetch_and_add(&counters.map_full, 1);
	return 0;
}
