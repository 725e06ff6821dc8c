// SPDX-License-Identifier: GPL-2.0
/* What each step of ccprof's BPF programs costs on this machine: one program per kind of
 * step, each doing it four times on raw sys_enter for the calling process only
 * (bench/workloads/bpf_ops.cc makes the syscalls and reads the programs' run time under
 * BPF_ENABLE_STATS). A step's cost is (its program's average - ops_none's) / 4. The maps
 * hold one entry each, looked up by the same thread: no contention, no cache misses; the
 * figures are a lower bound for the collectors' programs, where lines move between CPUs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

const volatile __u32 target = 0;
__u64 sink = 0;

struct key16 {
	__u64 a, b;
};

#define MAP(name, map_type, entries, key_type, value_type) \
	struct {                                           \
		__uint(type, map_type);                    \
		__uint(max_entries, entries);              \
		__type(key, key_type);                     \
		__type(value, value_type);                 \
	} name SEC(".maps")

MAP(hash4, BPF_MAP_TYPE_HASH, 64, __u32, __u8);
MAP(hash16, BPF_MAP_TYPE_HASH, 16384, struct key16, struct key16);
MAP(lru16, BPF_MAP_TYPE_LRU_HASH, 16384, struct key16, struct key16);
MAP(percpu_hash16, BPF_MAP_TYPE_PERCPU_HASH, 16384, struct key16, struct key16);
MAP(array1, BPF_MAP_TYPE_ARRAY, 1, __u32, __u64);
MAP(percpu_array1, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, __u64);
MAP(jump, BPF_MAP_TYPE_PROG_ARRAY, 1, __u32, __u32);
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct key16);
} task_store SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} ring SEC(".maps");

#define MINE                                                   \
	if ((bpf_get_current_pid_tgid() >> 32) != target)      \
		return 0
#define FOUR(step) \
	step;      \
	step;      \
	step;      \
	step

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_none, struct pt_regs *regs, long id)
{
	MINE;
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_ktime, struct pt_regs *regs, long id)
{
	MINE;
	FOUR(sink += bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_pid_tgid, struct pt_regs *regs, long id)
{
	MINE;
	FOUR(sink += bpf_get_current_pid_tgid());
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_task_storage, struct pt_regs *regs, long id)
{
	MINE;
	struct task_struct *t = bpf_get_current_task_btf();
	FOUR({
		struct key16 *v = bpf_task_storage_get(&task_store, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (v)
			v->a++;
	});
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_hash4, struct pt_regs *regs, long id)
{
	MINE;
	__u32 k = target;
	FOUR(if (bpf_map_lookup_elem(&hash4, &k)) sink++);
	return 0;
}

#define LOOKUP16(map)                                                  \
	MINE;                                                          \
	struct key16 k = { target, 0x7fff1234 };                       \
	FOUR({                                                         \
		struct key16 *v = bpf_map_lookup_elem(&map, &k);       \
		if (v)                                                 \
			v->a++;                                        \
	});                                                            \
	return 0

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_hash16, struct pt_regs *regs, long id)
{
	LOOKUP16(hash16);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_lru16, struct pt_regs *regs, long id)
{
	LOOKUP16(lru16);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_percpu_hash16, struct pt_regs *regs, long id)
{
	LOOKUP16(percpu_hash16);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_array, struct pt_regs *regs, long id)
{
	MINE;
	__u32 zero = 0;
	FOUR({
		__u64 *v = bpf_map_lookup_elem(&array1, &zero);
		if (v)
			sink += *v;
	});
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_percpu_array, struct pt_regs *regs, long id)
{
	MINE;
	__u32 zero = 0;
	FOUR({
		__u64 *v = bpf_map_lookup_elem(&percpu_array1, &zero);
		if (v)
			(*v)++;
	});
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_read_user, struct pt_regs *regs, long id)
{
	MINE;
	__u64 sp = regs->sp;
	FOUR({
		__u32 w = 0;
		bpf_probe_read_user(&w, sizeof(w), (void *)sp);
		sink += w;
	});
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_task_from_pid, struct pt_regs *regs, long id)
{
	MINE;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	FOUR({
		struct task_struct *o = bpf_task_from_pid(tid);
		if (o)
			bpf_task_release(o);
	});
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_task_pt_regs, struct pt_regs *regs, long id)
{
	MINE;
	FOUR({
		struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		sink += r->sp;
	});
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_ringbuf_128, struct pt_regs *regs, long id)
{
	MINE;
	FOUR({
		__u64 *e = bpf_ringbuf_reserve(&ring, 128, 0);
		if (e) {
			e[0] = 1;
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		}
	});
	return 0;
}

/* One tail call (not four: the target is empty); its cost is (avg - ops_none's). */
SEC("tp_btf/sys_enter")
int BPF_PROG(ops_tail_target, struct pt_regs *regs, long id)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ops_tail_call, struct pt_regs *regs, long id)
{
	MINE;
	bpf_tail_call(ctx, &jump, 0);
	return 0;
}
