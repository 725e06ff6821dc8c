// SPDX-License-Identifier: GPL-2.0
/* The floor of the BPF cost the benchmark reports per syscall: empty programs on the
 * same raw syscall tracepoints as the sched collector's. Under BPF_ENABLE_STATS their
 * run time is the dispatch and the statistics' own clock reads, which every program
 * there pays before doing anything (bench.py, "bpf"). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_sys_enter, struct pt_regs *regs, long id)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_sys_exit, struct pt_regs *regs, long ret)
{
	return 0;
}
