/* SPDX-License-Identifier: GPL-2.0 */
/* lockrate collector: pthread_mutex_lock calls counted per (thread, mutex, caller)
 * during short uprobe windows. */
#pragma once
#include "common.h"

struct lockrate_key {
	__u32 tgid;
	__u32 tid;
	__u64 lock;    /* the pthread_mutex_t address (first argument) */
	__u64 caller;  /* return address: the instruction after the call in the caller */
};

struct lockrate_counters {
	__u64 map_full;
};
