/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by bpf/profile.bpf.c and user space. Fixed-width fields only, no pointers. */
#ifndef SCORCH_PROFILE_H
#define SCORCH_PROFILE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Frames kept per stack: the kernel's default perf_event_max_stack. */
#define SCORCH_MAX_STACK_DEPTH 127
#define SCORCH_COMM_LEN 16

/*
 * What became of each program run. RUNS = IDLE + FILTERED + RECORDED + LOST_COUNTS_FULL. The
 * STACK reasons count recorded samples that carry a placeholder instead of a stack.
 */
enum scorch_stat {
	SCORCH_STAT_RUNS = 0, /* program invocations, the independent total */
	SCORCH_STAT_IDLE, /* samples of the idle task: not profiled */
	SCORCH_STAT_FILTERED, /* samples of processes outside the -p/command filter */
	SCORCH_STAT_RECORDED, /* samples added to the counts map */
	SCORCH_STAT_LOST_COUNTS_FULL, /* counts map full: sample dropped */
	SCORCH_STAT_LOST_KSTACK_FULL, /* stack map full: kernel stack replaced by a placeholder */
	SCORCH_STAT_LOST_USTACK_FULL, /* stack map full: user stack replaced by a placeholder */
	SCORCH_STAT_LOST_KSTACK_FAULT, /* kernel stack could not be read */
	SCORCH_STAT_LOST_USTACK_FAULT, /* user stack could not be read (process has an mm) */
	SCORCH_STAT_PROC_EVENT_LOST, /* ring buffer full: a process snapshot request was lost */
	SCORCH_STAT_MAX,
};

/* Stack ids with this value carry no stack; other negative values are the error placeholders. */
#define SCORCH_STACK_NONE 0ULL
#define SCORCH_STACK_LOST_FULL 1ULL
#define SCORCH_STACK_LOST_FAULT 2ULL
/* Ids below this are placeholders, never content hashes (the hash function avoids them). */
#define SCORCH_STACK_FIRST_REAL 16ULL

/* Key of the counts map: one entry per distinct (process, thread, comm, stacks). */
struct scorch_sample_key {
	__u32 pid; /* thread group id, as user space calls a pid */
	__u32 tid; /* thread id */
	__u32 proc_seq; /* process generation from the procs map; 0 for kthreads */
	__u32 flags; /* SCORCH_SAMPLE_* */
	__u64 kstack; /* content hash of the kernel stack in the stacks map, or a placeholder */
	__u64 ustack; /* content hash of the user stack, or a placeholder */
	char comm[SCORCH_COMM_LEN]; /* thread name at the time of the sample */
};

#define SCORCH_SAMPLE_KTHREAD 0x1 /* the task is a kernel thread */

/* Value of the stacks map: instruction pointers, the sampled pc first. */
struct scorch_stack {
	__u32 nr; /* valid entries in ip[] */
	__u32 pad; /* explicit padding, always 0 */
	__u64 ip[SCORCH_MAX_STACK_DEPTH];
};

/* Value of the procs map: a process generation, renewed on exec. */
struct scorch_proc {
	__u32 seq; /* global sequence number of this process image */
	__u32 notified; /* 1 once user space was asked to snapshot it */
};

enum scorch_event_type {
	SCORCH_EVENT_PROC_NEW = 1, /* first sample of (pid, seq): snapshot /proc/PID now */
	SCORCH_EVENT_PROC_EXIT = 2, /* the process exited */
};

/* Ring buffer record telling user space about process lifetimes. */
struct scorch_event {
	__u32 type; /* enum scorch_event_type */
	__u32 pid; /* thread group id */
	__u32 seq; /* process generation (scorch_proc.seq) */
	__u32 pad; /* explicit padding, always 0 */
};

#endif /* SCORCH_PROFILE_H */
