// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sampling program: runs on every cpu-clock perf_event overflow, stores the kernel and user stacks
 * by content hash and counts samples per (process, thread, comm, stacks). Maps are double-buffered
 * so user space can drain one half while the program writes the other.
 *
 * Two builds of the sampling program share the maps: on_sample for kernels with bpf_loop()
 * (5.17) and bpf_task_pt_regs() (5.15), compat_sample for 5.10 and later, with bounded loops
 * and the user registers read from the top of the task's kernel stack. User space probes the
 * kernel and loads one of them. Both count, key and store exactly the same way: nothing here
 * uses an atomic that returns a value (5.12), so the one definition serves every kernel.
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
const volatile bool filter_cgroup = false; /* only tasks in the cgroup of cgroups[0], or below */
const volatile bool follow_forks = false; /* children of filtered processes join the filter */
const volatile __u32 unwind_mode = SCORCH_UNWIND_FP; /* enum scorch_unwind */
const volatile __u32 stack_copy = 32768; /* bytes of user stack copied, <= MAX_STACK_COPY */
const volatile __u64 wakeup_bytes = 1 << 20; /* wake user space when this much is queued */
const volatile bool have_task_btf = false; /* bpf_task_pt_regs() can be used */

/* Which half of the double-buffered maps the program writes; flipped by user space. */
volatile __u32 active = 0;
/* Source of process generation numbers. */
__u32 next_proc_seq = 0;

/*
 * Sizes are set by user space from the expected samples per drain interval. The sizes here
 * are those of the inner-map templates libbpf creates for the arrays of maps below and frees
 * once they are created: a template is preallocated like any hash map (8192 stacks were 9 MB
 * zeroed at each start), and the kernel does not compare a hash inner map's size.
 */
struct counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct scorch_sample_key);
	__type(value, __u64);
} counts0 SEC(".maps"), counts1 SEC(".maps");

struct stacks_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct scorch_stack);
} stacks0 SEC(".maps"), stacks1 SEC(".maps");

/*
 * The two halves, selected by 'active' with one lookup: the program body exists (and is
 * verified) once instead of once per half. User space puts the halves in (session.c,
 * fill_halves()): each update of an array of maps waits for an RCU grace period, and libbpf
 * filling them from here made four waits in a row, ~10 ms each.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct counts_map);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct stacks_map);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCORCH_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* The stack ids capture_step() finds (see struct walk_out for why not on the stack). */
struct capture_out {
	__u64 ids[2]; /* kernel, user */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_out);
} capture_outs SEC(".maps");

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
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroups SEC(".maps");

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

/* Samples whose user stack is unwound in user space; sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} samples SEC(".maps");

/*
 * One copy buffer per CPU, indexed by CPU number (too large for a per-CPU array). The program
 * does not nest on a CPU, so a slot is never used twice at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scorch_raw_sample);
} copybuf SEC(".maps");

/*
 * Processes (tgid -> parent tgid) created by fork and not exec'ed since: their code is the
 * parent's, which user space reads when the child is gone or runs another program by the time
 * it snapshots the child. LRU: an entry of a child never sampled just ages out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u32);
} forked SEC(".maps");

/* auto mode: processes (pid -> generation) whose code all keeps frame pointers. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} fp_procs SEC(".maps");

/* Python processes (pid -> where their interpreter keeps threads and frames), from user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct scorch_py_proc);
} py_procs SEC(".maps");

/* The thread state found for a thread (tid -> pid and PyThreadState address): checked on use. */
struct py_thread {
	__u32 pid, seq;
	__u64 tstate;
	__u64 prev; /* its prev field when found: malloc's free() writes there */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct py_thread);
} py_threads SEC(".maps");

/*
 * Per thread: its stack's mapping, filled by user space from the process's maps when a sample
 * of a thread without one arrives. A thread's stack is a mapping of its own, often right below
 * another readable one, and a copy of stack_copy bytes read on into it (29.7 KB copied of a
 * thread whose mapping ended 13.4 KB above sp). Looked up here rather than with bpf_find_vma():
 * that helper costs ~7 us in the sampling interrupt and its callback doubled the verifier's work.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct scorch_stack_range);
} stack_ranges SEC(".maps");

/*
 * Per CPU: the Python stack being walked, the head of the thread state, and a window of the
 * memory frames lie in: from the start of a frame's page to its end. 3.11 and later push
 * their frames one after the other in the thread's data stack, so one read brings a frame and
 * the callers below it in its page (each read costs far more than its bytes). 3.10's frames are
 * objects of their own on the heap: a read each.
 */
#define PY_WINDOW (SCORCH_PAGE_SIZE + 2 * SCORCH_PY_FRAME_READ)
/*
 * What a bpf_loop() callback changes lives in map memory, not on the caller's stack: the
 * verifiers before 6.7 check a callback as if it ran once and keep, for the caller's stack
 * after the loop, the values from before it; a branch on them was then dropped as dead code
 * (6.1 took every thread state found for one not found).
 */
struct walk_out {
	__u64 interp, ts, found; /* tstate_step */
	__u64 frame, win_lo, win_hi; /* frame_step: the memory in win is [win_lo, win_hi) */
	__u32 n, unreadable;
};

struct py_scratch {
	struct scorch_stack st;
	__u8 tstate[SCORCH_PY_TSTATE_READ];
	__u8 win[PY_WINDOW];
	struct walk_out out;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_scratch);
} py_scratch SEC(".maps");

/*
 * bpf_map_update_elem()'s result as the int it is. Before 6.4 the map operations returned int
 * and the verifier calls them directly: only the low 32 bits of the result are set, so a 64-bit
 * compare with -EEXIST fails (6.1 took every "already there" for "map full").
 */
static __always_inline int map_update(void *map, const void *key, const void *value, __u64 flags)
{
	return (int)bpf_map_update_elem(map, key, value, flags);
}

/*
 * Built with -Dbpf_timing=true (tests/bench/py-walk-cost.sh): the time the program spends per
 * CPU, walking Python frames and in whole runs by whether the run walked any, read with bpftool.
 * Without it the calls below compile to nothing.
 */
#ifdef SCORCH_BPF_TIMING
struct scorch_timing {
	__u64 walk_ns, walks; /* py_walk() of the runs that found a Python stack */
	__u64 py_ns, py_runs; /* whole runs with a Python stack */
	__u64 other_ns, other_runs; /* whole runs without one */
	__u64 last_py; /* this run walked one */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scorch_timing);
} timing SEC(".maps");

static __always_inline __u64 time_now(void)
{
	return bpf_ktime_get_ns();
}

static __always_inline void time_walk(__u64 start, bool walked)
{
	__u32 zero = 0;
	struct scorch_timing *t = bpf_map_lookup_elem(&timing, &zero);

	if (!t)
		return;
	t->last_py = walked;
	if (walked) {
		t->walk_ns += bpf_ktime_get_ns() - start;
		t->walks++;
	}
}

static __always_inline void time_run(__u64 start)
{
	__u32 zero = 0;
	struct scorch_timing *t = bpf_map_lookup_elem(&timing, &zero);
	__u64 ns = bpf_ktime_get_ns() - start;

	if (!t)
		return;
	if (t->last_py) {
		t->py_ns += ns;
		t->py_runs++;
	} else {
		t->other_ns += ns;
		t->other_runs++;
	}
	t->last_py = 0;
}
#else
static __always_inline __u64 time_now(void)
{
	return 0;
}

static __always_inline void time_walk(__u64 start, bool walked)
{
}

static __always_inline void time_run(__u64 start)
{
}
#endif

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
 * the verifier check the step once rather than once per possible frame; without it (compat), a
 * bounded loop over the same step.
 */
static __always_inline __u64 stack_hash(const struct scorch_stack *st, const bool compat)
{
	struct hash_state s = { .st = st, .h = 0xcbf29ce484222325ULL };
	__u32 nr = st->nr;

	if (nr > SCORCH_MAX_STACK_DEPTH)
		nr = SCORCH_MAX_STACK_DEPTH;
	if (compat) {
		for (__u32 i = 0; i < SCORCH_MAX_STACK_DEPTH; i++)
			if (i >= nr || hash_step(i, &s))
				break;
	} else {
		bpf_loop(nr, hash_step, &s, 0);
	}
	s.h ^= nr;
	if (s.h < SCORCH_STACK_FIRST_REAL)
		s.h += SCORCH_STACK_FIRST_REAL;
	return s.h;
}

/* Keep a stack in the stacks map under its content hash: the id, or LOST_FULL. */
static __always_inline __u64 store_stack(void *stacks, const struct scorch_stack *st,
					 const bool compat)
{
	__u64 id = stack_hash(st, compat);
	int err = map_update(stacks, &id, st, BPF_NOEXIST);

	if (err && err != -EEXIST)
		return SCORCH_STACK_LOST_FULL;
	return id;
}

/*
 * Capture one stack into the stacks map and return its id, or a placeholder. An empty stack
 * (kernel stack of a sample taken in user mode, user stack of a kernel thread) is NONE.
 */
static __always_inline __u64 capture_stack(void *ctx, void *stacks, __u32 slot, __u64 flags,
					   const bool compat)
{
	struct scorch_stack *st = bpf_map_lookup_elem(&scratch, &slot);
	long ret;

	if (!st)
		return SCORCH_STACK_LOST_FAULT;
	ret = bpf_get_stack(ctx, st->ip, sizeof(st->ip), flags);
	if (ret < 0)
		return SCORCH_STACK_LOST_FAULT;
	if (ret == 0)
		return SCORCH_STACK_NONE;
	st->nr = ret / sizeof(__u64);
	st->pad = 0;
	return store_stack(stacks, st, compat);
}

struct capture_state {
	void *ctx;
	void *stacks;
	struct capture_out *out;
};

static long capture_step(__u32 i, void *data)
{
	struct capture_state *c = data;

	i &= 1;
	c->out->ids[i] = capture_stack(c->ctx, c->stacks, i, i ? BPF_F_USER_STACK : 0, false);
	return 0;
}

/*
 * The sample's kernel stack and (unless kthread_or_lost) its user stack into c->out->ids. With
 * bpf_loop() the capture is one body the verifier checks once; compat writes it out twice.
 */
static __always_inline void capture_stacks(struct capture_state *c, bool kthread_or_lost,
					   const bool compat)
{
	c->out->ids[0] = c->out->ids[1] = SCORCH_STACK_NONE;
	if (!compat) {
		bpf_loop(kthread_or_lost ? 1 : 2, capture_step, c, 0);
		return;
	}
	c->out->ids[0] = capture_stack(c->ctx, c->stacks, 0, 0, true);
	if (!kthread_or_lost)
		c->out->ids[1] = capture_stack(c->ctx, c->stacks, 1, BPF_F_USER_STACK, true);
}

/*
 * A new process generation number. The add returns nothing (an atomic that returns a value needs
 * 5.12) and the read after it may see other CPUs' adds too: two processes can then share a
 * number, which is harmless as a process is known by (pid, number); what matters, that a pid's
 * next image gets a number its earlier ones never had, holds as the counter only grows.
 */
static __always_inline __u32 new_seq(void)
{
	__sync_fetch_and_add(&next_proc_seq, 1);
	return *(volatile __u32 *)&next_proc_seq;
}

/* Ask user space to snapshot (pid, seq): 0, or -1 when the event ring is full. */
static __always_inline int notify_new(__u32 pid, __u32 seq)
{
	struct scorch_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u32 *parent;

	if (!e) {
		stat_inc(SCORCH_STAT_PROC_EVENT_LOST);
		return -1;
	}
	e->type = SCORCH_EVENT_PROC_NEW;
	e->pid = pid;
	e->seq = seq;
	parent = bpf_map_lookup_elem(&forked, &pid);
	e->parent = parent ? *parent : 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * The generation of this process, asking user space for a snapshot on its first sample. The CPU
 * whose insert creates the entry (BPF_NOEXIST: one wins) asks, once. After an exec, or when the
 * ring was full, the flag is set without an atomic: two CPUs may then both ask, and a second
 * snapshot of the same image only costs its reading.
 */
static __always_inline __u32 proc_generation(__u32 pid)
{
	struct scorch_proc *p = bpf_map_lookup_elem(&procs, &pid);

	if (!p) {
		struct scorch_proc np = { .seq = new_seq(), .notified = 1 };

		if (map_update(&procs, &pid, &np, BPF_NOEXIST) == 0) {
			if (notify_new(pid, np.seq)) {
				p = bpf_map_lookup_elem(&procs, &pid);
				if (p && p->seq == np.seq)
					p->notified = 0; /* try again on the next sample */
			}
			return np.seq;
		}
		p = bpf_map_lookup_elem(&procs, &pid);
		if (!p) {
			/* procs full: user space snapshots (pid, 0) when it drains */
			stat_inc(SCORCH_STAT_PROC_EVENT_LOST);
			return 0;
		}
	}
	if (p->notified)
		return p->seq;
	p->notified = 1;
	if (notify_new(pid, p->seq))
		p->notified = 0;
	return p->seq;
}

/* ---- CPython ---- */

/* Threads of an interpreter looked at, and interpreters, before giving up on a thread. */
#define PY_THREAD_STEPS 128
/* Frames kept: one word of the stack stays for the truncation marker. */
#define PY_MAX_FRAMES (SCORCH_MAX_STACK_DEPTH - 1)
/*
 * Bounds a word's index for the verifier: indexes stay below PY_MAX_FRAMES + 1, and the mask's
 * one slot beyond the stack's ip[] is still inside the scratch value (its frame buffer).
 */
#define PY_INDEX_MASK 127

/* A pointer of the target, 0 when it cannot be read (the helper zeroes what it fails to read). */
static __always_inline __u64 read_ptr(__u64 addr)
{
	__u64 v;

	bpf_probe_read_user(&v, sizeof(v), (const void *)addr);
	return v;
}

/*
 * A pointer on the sampled thread's stack (3.11's and 3.12's _PyCFrame is a local of the
 * interpreter loop): from the stack copy when it lies in it, which saves a read of the target
 * (~0.25 us), else read.
 */
static __always_inline __u64 stack_ptr(const struct scorch_raw_sample *raw, __u64 addr)
{
	__u64 base, off;

	if (!raw)
		return read_ptr(addr);
	base = raw->regs[7] - SCORCH_RED_ZONE;
	off = addr - base;
	/* addr comes from the target: no sum that could wrap */
	if (addr >= base && off < raw->stack_len && raw->stack_len - off >= sizeof(__u64) &&
	    !(off & 7))
		return *(const __u64 *)(raw->stack + (off & (SCORCH_MAX_STACK_COPY - 8)));
	return read_ptr(addr);
}

struct py_scratch;
static __always_inline __u64 tstate_u64(const struct py_scratch *s, __u16 off);

struct tstate_walk {
	const struct scorch_py_proc *pp;
	__u64 want; /* the thread's pthread_self() */
	struct walk_out *o; /* interp, ts, found */
};

/* One step through the interpreters' thread lists: 1 stops (found, or nothing left). */
static long tstate_step(__u32 i, void *data)
{
	struct tstate_walk *w = data;
	const struct scorch_py_proc *pp = w->pp;
	struct walk_out *o = w->o;

	if (!o->ts) {
		if (!o->interp)
			return 1;
		o->ts = read_ptr(o->interp + pp->interp_threads_head);
		o->interp = read_ptr(o->interp + pp->interp_next);
		return 0;
	}
	if (read_ptr(o->ts + pp->tstate_thread_id) == w->want) {
		o->found = o->ts;
		return 1;
	}
	o->ts = read_ptr(o->ts + pp->tstate_next);
	return 0;
}

/*
 * The PyThreadState of the sampled thread: the one remembered for it when it still names this
 * thread, else found in the interpreters' thread lists by its thread id, which is the thread's
 * pthread_self(): on x86-64 its fs base, a number of its own address space, the same in any pid
 * namespace. 0 when there is none.
 */
static __always_inline __u64 py_tstate(const struct scorch_py_proc *pp, __u32 pid, __u32 tid,
				       struct py_scratch *s, const bool compat)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct tstate_walk w = { .pp = pp, .o = &s->out };
	struct py_thread *t, nt;
	__u64 ts = 0, prev = 0;

	/* the BTF pointer's field is a plain load; the helper copy costs ~0.1 us */
	if (!compat && have_task_btf)
		w.want = bpf_get_current_task_btf()->thread.fsbase;
	else
		w.want = BPF_CORE_READ(task, thread.fsbase);
	if (!w.want)
		return 0;
	t = bpf_map_lookup_elem(&py_threads, &tid);
	if (t && t->pid == pid && t->seq == pp->seq) {
		ts = t->tstate;
		prev = t->prev;
	}
	/*
	 * One read for the checks and the frame pointer: the head of the thread state. A thread
	 * state freed (PyGILState_Release on a thread that lives on) may keep its thread id, not
	 * its prev field, where free() keeps its list: prev must be what it was when found (a
	 * thread started or ended before it changes it too, and it is looked for again).
	 */
	if (ts && !bpf_probe_read_user(s->tstate, sizeof(s->tstate), (const void *)ts) &&
	    tstate_u64(s, pp->tstate_thread_id) == w.want && tstate_u64(s, 0) == prev)
		return ts;
	s->out.interp = read_ptr(pp->runtime + pp->runtime_interp_head);
	s->out.ts = s->out.found = 0;
	if (compat) {
		for (__u32 i = 0; i < PY_THREAD_STEPS; i++)
			if (tstate_step(i, &w))
				break;
	} else {
		bpf_loop(PY_THREAD_STEPS, tstate_step, &w, 0);
	}
	ts = s->out.found;
	if (!ts && (s->out.ts || s->out.interp))
		stat_inc(SCORCH_STAT_PY_THREADS_CUT);
	if (!ts || bpf_probe_read_user(s->tstate, sizeof(s->tstate), (const void *)ts))
		return 0;
	nt = (struct py_thread){
		.pid = pid, .seq = pp->seq, .tstate = ts, .prev = tstate_u64(s, 0)
	};
	bpf_map_update_elem(&py_threads, &tid, &nt, BPF_ANY);
	return ts;
}

struct frame_walk {
	const struct scorch_py_proc *pp;
	struct py_scratch *s; /* the walk's state in s->out */
};

static __always_inline __u64 tstate_u64(const struct py_scratch *s, __u16 off)
{
	return *(const __u64 *)(s->tstate + (off & (SCORCH_PY_TSTATE_READ - 8)));
}

/* A field of the frame at off in the window (both bounded for the verifier). */
static __always_inline __u64 win_u64(const struct py_scratch *s, __u32 off, __u16 field)
{
	return *(const __u64 *)(s->win + (off & (SCORCH_PAGE_SIZE - 1)) +
				(field & (SCORCH_PY_FRAME_READ - 8)));
}

static __always_inline __u8 win_u8(const struct py_scratch *s, __u32 off, __u16 field)
{
	return s->win[(off & (SCORCH_PAGE_SIZE - 1)) + (field & (SCORCH_PY_FRAME_READ - 1))];
}

/* One frame into the stack: 1 stops (no frame left, the stack full, or a read failed). */
static long frame_step(__u32 i, void *data)
{
	struct frame_walk *w = data;
	const struct scorch_py_proc *pp = w->pp;
	struct py_scratch *s = w->s;
	struct walk_out *o = &s->out;
	__u64 code, instr, word, off = SCORCH_PY_OFFSET_MASK, f = o->frame;
	__u32 size = pp->frame_size & (2 * SCORCH_PY_FRAME_READ - 1), n = o->n, at;

	if (!f || n >= PY_MAX_FRAMES)
		return 1;
	if (f >> 47) {
		/* not a user address (and f + size could wrap) */
		o->unreadable = 1;
		return 1;
	}
	if (f < o->win_lo || f + size > o->win_hi) {
		/*
		 * The frame's page up to the frame's end: the callers below it in that page come
		 * with it. Never below the page: a data stack chunk starts a mapping, and a read
		 * that faults costs several times what a page costs.
		 */
		__u64 lo = f & ~(__u64)(SCORCH_PAGE_SIZE - 1);
		__u32 len = (f & (SCORCH_PAGE_SIZE - 1)) + size;

		if (pp->frames == SCORCH_PY_FRAMES_310) {
			lo = f;
			len = size;
		}
		if (bpf_probe_read_user(s->win, len, (const void *)lo)) {
			o->unreadable = 1;
			return 1;
		}
		o->win_lo = lo;
		o->win_hi = lo + len;
	}
	at = f - o->win_lo;
	code = win_u64(s, at, pp->frame_code);
	o->frame = win_u64(s, at, pp->frame_previous);
	if (pp->frames >= SCORCH_PY_FRAMES_312 &&
	    win_u8(s, at, pp->frame_entry) == pp->owner_cstack) {
		/*
		 * The shim a C call of the interpreter starts with: a marker, which user space
		 * turns into the entry bit of the frame before it (a word per step keeps the
		 * count the same on every path: the compat build's loop stays small for the
		 * verifier)
		 */
		s->st.ip[n & PY_INDEX_MASK] = SCORCH_PY_MARK_SHIM;
		o->n = n + 1;
		return 0;
	}
	if (pp->frames == SCORCH_PY_FRAMES_310) {
		/* f_lasti: an int, the instruction index (code units), -1 before the first */
		__s32 lasti =
		    (__s32)(win_u64(s, at, pp->frame_instr & ~7) >> (pp->frame_instr & 4) * 8);

		if (lasti >= 0 && lasti < SCORCH_PY_OFFSET_MASK)
			off = lasti;
	} else {
		instr = win_u64(s, at, pp->frame_instr);
		if (instr >= code + pp->code_adaptive &&
		    (instr - code - pp->code_adaptive) / 2 < SCORCH_PY_OFFSET_MASK)
			off = (instr - code - pp->code_adaptive) / 2;
	}
	if (!code || (code & 7) || code >> 47) {
		o->unreadable = 1;
		return 1;
	}
	word = code << SCORCH_PY_ADDR_SHIFT | off << 1;
	if (pp->frames == SCORCH_PY_FRAMES_310 ||
	    (pp->frames == SCORCH_PY_FRAMES_311 && win_u8(s, at, pp->frame_entry)))
		word |= SCORCH_PY_ENTRY;
	s->st.ip[n & PY_INDEX_MASK] = word;
	o->n = n + 1;
	return 0;
}

/*
 * Walk the sampled thread's Python frames into the per-CPU scratch stack: NULL when the process
 * is not a known Python process, or the thread runs no Python code now.
 */
static __always_inline struct scorch_stack *
py_walk(__u32 pid, __u32 tid, __u32 seq, const struct scorch_raw_sample *raw, const bool compat)
{
	const struct scorch_py_proc *pp = bpf_map_lookup_elem(&py_procs, &pid);
	struct frame_walk w = {};
	struct walk_out *o;
	__u32 zero = 0, n;
	__u64 ts;

	if (!pp || pp->seq != seq)
		return NULL;
	w.s = bpf_map_lookup_elem(&py_scratch, &zero);
	if (!w.s)
		return NULL;
	w.pp = pp;
	ts = py_tstate(pp, pid, tid, w.s, compat);
	if (!ts) {
		stat_inc(SCORCH_STAT_PY_NO_THREAD);
		return NULL;
	}
	o = &w.s->out;
	o->frame = tstate_u64(w.s, pp->tstate_frame);
	if (o->frame && pp->cframe_current_frame != SCORCH_PY_NO_FIELD)
		o->frame = stack_ptr(raw, o->frame + pp->cframe_current_frame);
	o->win_lo = o->win_hi = 0;
	o->n = o->unreadable = 0;
	if (compat) {
		for (__u32 i = 0; i < PY_MAX_FRAMES; i++)
			if (frame_step(i, &w))
				break;
	} else {
		bpf_loop(PY_MAX_FRAMES, frame_step, &w, 0);
	}
	n = o->n;
	if (n > PY_MAX_FRAMES)
		return NULL; /* cannot happen: the step stops there */
	if (o->unreadable) {
		w.s->st.ip[n & PY_INDEX_MASK] = SCORCH_PY_MARK_UNREADABLE;
		n++;
		stat_inc(SCORCH_STAT_PY_UNREADABLE);
	} else if (o->frame) {
		w.s->st.ip[n & PY_INDEX_MASK] = SCORCH_PY_MARK_TRUNCATED;
		n++;
		stat_inc(SCORCH_STAT_PY_TRUNCATED);
	} else if (n) {
		stat_inc(SCORCH_STAT_PY_WALKED);
	}
	if (!n) {
		stat_inc(SCORCH_STAT_PY_IDLE);
		return NULL;
	}
	w.s->st.nr = n;
	w.s->st.pad = 0;
	return &w.s->st;
}

struct copy_state {
	struct scorch_raw_sample *raw;
	__u64 sp, end; /* end: where the stack's mapping ends (stack_ranges), 0 when not known */
	__u32 want, got;
};

/*
 * Copy the user stack one page at a time, so a copy that runs past the end of the stack
 * mapping keeps what it read before the fault.
 */
static long copy_step(__u32 i, void *data)
{
	struct copy_state *c = data;
	__u64 addr = c->sp + c->got;
	__u32 chunk = SCORCH_PAGE_SIZE - (addr & (SCORCH_PAGE_SIZE - 1)), off;

	if (c->got >= c->want || (c->end && addr >= c->end))
		return 1;
	if (chunk > c->want - c->got)
		chunk = c->want - c->got;
	if (c->end && chunk > c->end - addr)
		chunk = c->end - addr;
	/* clang knows chunk is at most a page here and drops the test; 6.1's verifier does not */
	barrier_var(chunk);
	if (chunk == 0 || chunk > SCORCH_PAGE_SIZE)
		return 1;
	off = c->got & (SCORCH_MAX_STACK_COPY - 1);
	if (bpf_probe_read_user(c->raw->stack + off, chunk, (const void *)addr))
		return 1;
	c->got += chunk;
	return 0;
}

/*
 * x86-64 registers as the perf_event context (bpf_user_pt_regs_t, at offset 0) and the kernel's
 * saved user registers lay them out: a fixed ABI, so no CO-RE relocation is needed.
 */
struct x86_regs {
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ip, cs,
	    flags, sp, ss;
};

_Static_assert(sizeof(struct x86_regs) <= sizeof(((struct scorch_raw_sample *)0)->kernel_ip),
	       "copy_user() keeps the registers in kernel_ip[]");

/*
 * x86-64 keeps the user registers of a task in the kernel at the top of its kernel stack
 * (task_pt_regs(): THREAD_SIZE above task->stack, 16 KiB without KASAN, as Debian builds it), which
 * bpf_task_pt_regs() gives from 5.15 on. compat reads them from there itself.
 */
#define SCORCH_THREAD_SIZE (4096 << 2)

/* The user registers of the sampled task: the sample's own, or those saved at kernel entry. */
static __always_inline int user_regs(struct bpf_perf_event_data *ctx, struct x86_regs *r,
				     const bool compat)
{
	const struct x86_regs *sampled = (const void *)ctx;
	struct task_struct *task;
	void *stack;

	if (sampled->cs & 3) {
		__builtin_memcpy(r, sampled, sizeof(*r));
		return 0;
	}
	if (!compat) {
		if (!have_task_btf)
			return -1;
		return bpf_probe_read_kernel(r, sizeof(*r),
					     (void *)bpf_task_pt_regs(bpf_get_current_task_btf()));
	}
	task = (struct task_struct *)bpf_get_current_task();
	stack = BPF_CORE_READ(task, stack);
	if (!stack || bpf_probe_read_kernel(r, sizeof(*r),
					    stack + SCORCH_THREAD_SIZE - sizeof(struct x86_regs)))
		return -1;
	/* not user registers (another stack layout): none rather than wrong ones */
	return (r->cs & 3) == 3 ? 0 : -1;
}

/*
 * Copy the sampled thread's user registers and the top of its user stack into the CPU's raw
 * sample, before the Python walk (which takes a pointer from the copy where it can). NULL when
 * the CPU has no buffer.
 */
static __always_inline struct scorch_raw_sample *
copy_user(struct bpf_perf_event_data *ctx, const struct scorch_sample_key *key, const bool compat)
{
	__u32 cpu = bpf_get_smp_processor_id(), got;
	struct copy_state c = {};
	struct scorch_raw_sample *raw = bpf_map_lookup_elem(&copybuf, &cpu);
	struct x86_regs *r;

	if (!raw)
		return NULL;
	/*
	 * The registers go through kernel_ip[], which send_raw() fills later: on the stack they
	 * took the program past the 512 bytes the verifiers before 6.13 allow all its calls.
	 */
	r = (struct x86_regs *)raw->kernel_ip;
	raw->key = *key;
	if (user_regs(ctx, r, compat)) {
		__builtin_memset(r, 0, sizeof(*r));
	} else {
		c.raw = raw;
		c.sp = r->sp - SCORCH_RED_ZONE;
		c.want = stack_copy;
		if (!compat) {
			const struct scorch_stack_range *sr =
			    bpf_map_lookup_elem(&stack_ranges, &key->tid);

			if (sr && sr->pid == key->pid && sr->seq == key->proc_seq &&
			    c.sp >= sr->lo && c.sp < sr->hi)
				c.end = sr->hi;
		}
		if (compat) {
			for (__u32 i = 0; i < SCORCH_MAX_STACK_COPY / SCORCH_PAGE_SIZE + 2; i++)
				if (copy_step(i, &c))
					break;
		} else {
			bpf_loop(stack_copy / SCORCH_PAGE_SIZE + 2, copy_step, &c, 0);
		}
	}
	raw->regs[0] = r->ax;
	raw->regs[1] = r->dx;
	raw->regs[2] = r->cx;
	raw->regs[3] = r->bx;
	raw->regs[4] = r->si;
	raw->regs[5] = r->di;
	raw->regs[6] = r->bp;
	raw->regs[7] = r->sp;
	raw->regs[8] = r->r8;
	raw->regs[9] = r->r9;
	raw->regs[10] = r->r10;
	raw->regs[11] = r->r11;
	raw->regs[12] = r->r12;
	raw->regs[13] = r->r13;
	raw->regs[14] = r->r14;
	raw->regs[15] = r->r15;
	raw->regs[16] = r->ip;
	got = c.got;
	if (got > SCORCH_MAX_STACK_COPY)
		got = SCORCH_MAX_STACK_COPY;
	raw->stack_len = got;
	raw->stack_want = stack_copy;
	return raw;
}

/*
 * Send the copied sample with its kernel stack and Python frames to user space, which unwinds
 * it with the call frame information. 0, or -1 when it could not be sent.
 */
static __always_inline int send_raw(struct bpf_perf_event_data *ctx, struct scorch_raw_sample *raw,
				    const struct scorch_stack *py)
{
	__u32 got = raw->stack_len;
	__u64 avail, size;
	long ret;

	ret = bpf_get_stack(ctx, raw->kernel_ip, sizeof(raw->kernel_ip), 0);
	if (ret < 0)
		stat_inc(SCORCH_STAT_LOST_KSTACK_FAULT);
	raw->kernel_nr = ret > 0 ? ret / sizeof(__u64) : 0;
	raw->py_nr = 0;
	if (py) {
		/* the words walked only: the rest of py[] is not read */
		__u32 nr = py->nr > SCORCH_MAX_STACK_DEPTH ? SCORCH_MAX_STACK_DEPTH : py->nr;

		if (!bpf_probe_read_kernel(raw->py, nr * sizeof(raw->py[0]), py->ip))
			raw->py_nr = nr;
	}
	/* copy_user() bounded it; read back from map memory, the verifier needs the bound again */
	if (got > SCORCH_MAX_STACK_COPY)
		got = SCORCH_MAX_STACK_COPY;
	size = SCORCH_RAW_SAMPLE_HEADER + got;
	avail = bpf_ringbuf_query(&samples, BPF_RB_AVAIL_DATA);
	ret = bpf_ringbuf_output(&samples, raw, size,
				 avail + size >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
							      : BPF_RB_NO_WAKEUP);
	return ret ? -1 : 0;
}

/* Is this process's user stack unwound in user space? */
static __always_inline bool wants_copy(const struct scorch_sample_key *key)
{
	__u32 *seq;

	if (key->flags & SCORCH_SAMPLE_KTHREAD || unwind_mode == SCORCH_UNWIND_FP)
		return false;
	if (unwind_mode == SCORCH_UNWIND_DWARF)
		return true;
	seq = bpf_map_lookup_elem(&fp_procs, &key->pid);
	return !seq || *seq != key->proc_seq;
}

static __always_inline int record(struct bpf_perf_event_data *ctx, void *counts, void *stacks,
				  const bool compat)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	struct scorch_sample_key key = {};
	struct capture_state cap = {};
	struct scorch_raw_sample *raw = NULL;
	struct scorch_stack *py = NULL;
	__u64 one = 1, *cnt;
	__u32 zero = 0;
	bool copy, copy_lost = false;
	int ret;

	key.pid = id >> 32;
	key.tid = (__u32)id;
	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		key.flags |= SCORCH_SAMPLE_KTHREAD;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	if (!(key.flags & SCORCH_SAMPLE_KTHREAD))
		key.proc_seq = proc_generation(key.pid);
	/*
	 * The stack copy first, the Python walk takes what it can from it. Not in compat: there
	 * the walk's loops are unrolled, and the verifier checked them once per way the copy went
	 * (its verification took twice as long, five times on 6.18), so the walk comes first.
	 */
	if (!compat) {
		copy = wants_copy(&key);
		if (copy)
			raw = copy_user(ctx, &key, compat);
	}
	if (!(key.flags & SCORCH_SAMPLE_KTHREAD)) {
		__u64 start = time_now();

		py = py_walk(key.pid, key.tid, key.proc_seq, raw, compat);
		time_walk(start, py != NULL);
	}
	if (compat) {
		copy = wants_copy(&key);
		if (copy)
			raw = copy_user(ctx, &key, compat);
	}

	if (copy) {
		if (raw && send_raw(ctx, raw, py) == 0) {
			stat_inc(SCORCH_STAT_RECORDED);
			stat_inc(SCORCH_STAT_COPIED);
			return 0;
		}
		/* ring full: counted here with its kernel stack and a placeholder user stack */
		copy_lost = true;
	}

	cap.ctx = ctx;
	cap.stacks = stacks;
	cap.out = bpf_map_lookup_elem(&capture_outs, &zero);
	if (!cap.out)
		return 0;
	/* kernel stack, then (not for kernel threads) the user stack: one body to verify */
	capture_stacks(&cap, key.flags & SCORCH_SAMPLE_KTHREAD || copy_lost, compat);
	key.kstack = cap.out->ids[0];
	key.ustack = copy_lost ? SCORCH_STACK_LOST_COPY : cap.out->ids[1];
	if (py)
		key.pystack = store_stack(stacks, py, compat);

	cnt = bpf_map_lookup_elem(counts, &key);
	if (cnt) {
		__sync_fetch_and_add(cnt, 1);
		ret = 0;
	} else {
		ret = map_update(counts, &key, &one, BPF_NOEXIST);
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
	if (key.ustack == SCORCH_STACK_LOST_COPY)
		stat_inc(SCORCH_STAT_LOST_USTACK_COPY);
	else if (key.ustack == SCORCH_STACK_LOST_FULL)
		stat_inc(SCORCH_STAT_LOST_USTACK_FULL);
	else if (key.ustack == SCORCH_STACK_LOST_FAULT)
		stat_inc(SCORCH_STAT_LOST_USTACK_FAULT);
	return 0;
}

static __always_inline int sample(struct bpf_perf_event_data *ctx, const bool compat)
{
	__u64 start = time_now(), id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, half;
	void *counts_half, *stacks_half;
	int ret;

	stat_inc(SCORCH_STAT_RUNS);
	if (id == 0) {
		stat_inc(SCORCH_STAT_IDLE);
		return 0;
	}
	if ((filter_pids && !bpf_map_lookup_elem(&pids, &pid)) ||
	    (filter_cgroup && bpf_current_task_under_cgroup(&cgroups, 0) != 1)) {
		stat_inc(SCORCH_STAT_FILTERED);
		return 0;
	}
	half = active & 1;
	counts_half = bpf_map_lookup_elem(&counts, &half);
	stacks_half = bpf_map_lookup_elem(&stacks, &half);
	if (!counts_half || !stacks_half)
		return 0;
	ret = record(ctx, counts_half, stacks_half, compat);
	time_run(start); /* the runs that recorded a sample */
	return ret;
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	return sample(ctx, false);
}

SEC("perf_event")
int compat_sample(struct bpf_perf_event_data *ctx)
{
	return sample(ctx, true);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ppid = BPF_CORE_READ(parent, tgid), cpid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (ppid == cpid)
		return 0; /* a new thread */
	bpf_map_update_elem(&forked, &cpid, &ppid, BPF_ANY);
	if (!filter_pids || !follow_forks)
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

	/* A new image: new generation, new snapshot on its next sample; no longer the parent's. */
	bpf_map_delete_elem(&forked, &pid);
	if (!bpf_map_lookup_elem(&procs, &pid))
		return 0;
	np.seq = new_seq();
	bpf_map_update_elem(&procs, &pid, &np, BPF_ANY);
	bpf_map_delete_elem(&fp_procs, &pid);
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
	bpf_map_delete_elem(&forked, &pid);
	proc = bpf_map_lookup_elem(&procs, &pid);
	if (!proc)
		return 0;
	seq = proc->seq;
	bpf_map_delete_elem(&procs, &pid);
	bpf_map_delete_elem(&fp_procs, &pid);
	bpf_map_delete_elem(&py_procs, &pid);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0; /* user space only uses this to free memory early */
	e->type = SCORCH_EVENT_PROC_EXIT;
	e->pid = pid;
	e->seq = seq;
	e->parent = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
