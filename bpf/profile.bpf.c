// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sampling program: runs on every cpu-clock perf_event overflow, stores the kernel and user stacks
 * by content hash and counts samples per (process, thread, comm, stacks). Maps are double-buffered
 * so user space can drain one half while the program writes the other.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "profile.h"

#define PF_KTHREAD 0x00200000
#define EEXIST 17

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set before load. */
const volatile bool filter_pids = false; /* only count processes in the pids map */
const volatile bool follow_forks = false; /* children of filtered processes join the filter */

/* Which half of the double-buffered maps the program writes; flipped by user space. */
volatile __u32 active = 0;
/* Source of process generation numbers. */
__u32 next_proc_seq = 0;

/* Sizes are set by user space from the expected samples per drain interval. */
struct counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct scorch_sample_key);
	__type(value, __u64);
} counts0 SEC(".maps"), counts1 SEC(".maps");

struct stacks_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct scorch_stack);
} stacks0 SEC(".maps"), stacks1 SEC(".maps");

/*
 * The two halves, selected by 'active' with one lookup: the program body exists (and is
 * verified) once instead of once per half.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct counts_map);
} counts SEC(".maps") = {
	.values = { &counts0, &counts1 },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct stacks_map);
} stacks SEC(".maps") = {
	.values = { &stacks0, &stacks1 },
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCORCH_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Two scratch stacks per CPU (kernel, user): too large for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct scorch_stack);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct scorch_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

struct hash_state {
	const struct scorch_stack *st;
	__u64 h;
};

static long hash_step(__u32 i, void *ctx)
{
	struct hash_state *s = ctx;

	if (i >= SCORCH_MAX_STACK_DEPTH)
		return 1;
	s->h ^= s->st->ip[i];
	s->h *= 0x100000001b3ULL;
	return 0;
}

/*
 * FNV-1a over 64-bit words; the result never collides with the placeholder ids. bpf_loop() has
 * the verifier check the step once rather than once per possible frame.
 */
static __always_inline __u64 stack_hash(const struct scorch_stack *st)
{
	struct hash_state s = { .st = st, .h = 0xcbf29ce484222325ULL };
	__u32 nr = st->nr;

	if (nr > SCORCH_MAX_STACK_DEPTH)
		nr = SCORCH_MAX_STACK_DEPTH;
	bpf_loop(nr, hash_step, &s, 0);
	s.h ^= nr;
	if (s.h < SCORCH_STACK_FIRST_REAL)
		s.h += SCORCH_STACK_FIRST_REAL;
	return s.h;
}

/*
 * Capture one stack into the stacks map and return its id, or a placeholder. An empty stack
 * (kernel stack of a sample taken in user mode, user stack of a kernel thread) is NONE.
 */
static __always_inline __u64 capture_stack(void *ctx, void *stacks, __u32 slot, __u64 flags)
{
	struct scorch_stack *st = bpf_map_lookup_elem(&scratch, &slot);
	long ret;
	__u64 id;

	if (!st)
		return SCORCH_STACK_LOST_FAULT;
	ret = bpf_get_stack(ctx, st->ip, sizeof(st->ip), flags);
	if (ret < 0)
		return SCORCH_STACK_LOST_FAULT;
	if (ret == 0)
		return SCORCH_STACK_NONE;
	st->nr = ret / sizeof(__u64);
	st->pad = 0;
	id = stack_hash(st);
	ret = bpf_map_update_elem(stacks, &id, st, BPF_NOEXIST);
	if (ret && ret != -EEXIST)
		return SCORCH_STACK_LOST_FULL;
	return id;
}

struct capture_state {
	void *ctx;
	void *stacks;
	__u64 ids[2]; /* kernel, user */
};

static long capture_step(__u32 i, void *data)
{
	struct capture_state *c = data;

	i &= 1;
	c->ids[i] = capture_stack(c->ctx, c->stacks, i, i ? BPF_F_USER_STACK : 0);
	return 0;
}

/* The generation of this process, asking user space for a snapshot on its first sample. */
static __always_inline __u32 proc_generation(__u32 pid)
{
	struct scorch_proc *p = bpf_map_lookup_elem(&procs, &pid);
	struct scorch_event *e;

	if (!p) {
		struct scorch_proc np = {
			.seq = __sync_fetch_and_add(&next_proc_seq, 1) + 1,
		};

		bpf_map_update_elem(&procs, &pid, &np, BPF_NOEXIST);
		p = bpf_map_lookup_elem(&procs, &pid);
		if (!p) {
			/* procs full: user space snapshots (pid, 0) when it drains */
			stat_inc(SCORCH_STAT_PROC_EVENT_LOST);
			return 0;
		}
	}
	if (p->notified || __sync_val_compare_and_swap(&p->notified, 0, 1) != 0)
		return p->seq;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		p->notified = 0; /* try again on the next sample */
		stat_inc(SCORCH_STAT_PROC_EVENT_LOST);
		return p->seq;
	}
	e->type = SCORCH_EVENT_PROC_NEW;
	e->pid = pid;
	e->seq = p->seq;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return p->seq;
}

static __always_inline int record(void *ctx, void *counts, void *stacks)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	struct scorch_sample_key key = {};
	struct capture_state cap = {};
	__u64 one = 1, *cnt;
	long ret;

	key.pid = id >> 32;
	key.tid = (__u32)id;
	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		key.flags |= SCORCH_SAMPLE_KTHREAD;
	bpf_get_current_comm(key.comm, sizeof(key.comm));

	cap.ctx = ctx;
	cap.stacks = stacks;
	/* kernel stack, then (not for kernel threads) the user stack: one body to verify */
	bpf_loop(key.flags & SCORCH_SAMPLE_KTHREAD ? 1 : 2, capture_step, &cap, 0);
	key.kstack = cap.ids[0];
	key.ustack = cap.ids[1];
	if (!(key.flags & SCORCH_SAMPLE_KTHREAD))
		key.proc_seq = proc_generation(key.pid);

	cnt = bpf_map_lookup_elem(counts, &key);
	if (cnt) {
		__sync_fetch_and_add(cnt, 1);
		ret = 0;
	} else {
		ret = bpf_map_update_elem(counts, &key, &one, BPF_NOEXIST);
		if (ret == -EEXIST) {
			/* another CPU inserted the same key first */
			cnt = bpf_map_lookup_elem(counts, &key);
			if (cnt) {
				__sync_fetch_and_add(cnt, 1);
				ret = 0;
			}
		}
	}
	if (ret) {
		stat_inc(SCORCH_STAT_LOST_COUNTS_FULL);
		return 0;
	}
	stat_inc(SCORCH_STAT_RECORDED);
	/* stack losses are counted for recorded samples only: each one is a placeholder frame */
	if (key.kstack == SCORCH_STACK_LOST_FULL)
		stat_inc(SCORCH_STAT_LOST_KSTACK_FULL);
	else if (key.kstack == SCORCH_STACK_LOST_FAULT)
		stat_inc(SCORCH_STAT_LOST_KSTACK_FAULT);
	if (key.ustack == SCORCH_STACK_LOST_FULL)
		stat_inc(SCORCH_STAT_LOST_USTACK_FULL);
	else if (key.ustack == SCORCH_STACK_LOST_FAULT)
		stat_inc(SCORCH_STAT_LOST_USTACK_FAULT);
	return 0;
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, half;
	void *counts_half, *stacks_half;

	stat_inc(SCORCH_STAT_RUNS);
	if (id == 0) {
		stat_inc(SCORCH_STAT_IDLE);
		return 0;
	}
	if (filter_pids && !bpf_map_lookup_elem(&pids, &pid)) {
		stat_inc(SCORCH_STAT_FILTERED);
		return 0;
	}
	half = active & 1;
	counts_half = bpf_map_lookup_elem(&counts, &half);
	stacks_half = bpf_map_lookup_elem(&stacks, &half);
	if (!counts_half || !stacks_half)
		return 0;
	return record(ctx, counts_half, stacks_half);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ppid = BPF_CORE_READ(parent, tgid), cpid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (!filter_pids || !follow_forks || ppid == cpid)
		return 0;
	if (bpf_map_lookup_elem(&pids, &ppid))
		bpf_map_update_elem(&pids, &cpid, &one, BPF_ANY);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p)
{
	__u32 pid = BPF_CORE_READ(p, tgid);
	struct scorch_proc np = {};

	/* A new image: new generation, new snapshot on its next sample. */
	if (!bpf_map_lookup_elem(&procs, &pid))
		return 0;
	np.seq = __sync_fetch_and_add(&next_proc_seq, 1) + 1;
	bpf_map_update_elem(&procs, &pid, &np, BPF_ANY);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u32 pid = BPF_CORE_READ(p, tgid);
	struct scorch_proc *proc;
	struct scorch_event *e;
	__u32 seq;

	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0; /* other threads of the group are still running */
	/* the pid may be reused by an unrelated process: it leaves the filter */
	if (filter_pids)
		bpf_map_delete_elem(&pids, &pid);
	proc = bpf_map_lookup_elem(&procs, &pid);
	if (!proc)
		return 0;
	seq = proc->seq;
	bpf_map_delete_elem(&procs, &pid);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0; /* user space only uses this to free memory early */
	e->type = SCORCH_EVENT_PROC_EXIT;
	e->pid = pid;
	e->seq = seq;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
