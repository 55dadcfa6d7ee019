// SPDX-License-Identifier: LGPL-2.1-or-later
/* Samples from the BPF session into windows: copied stacks unwound, process snapshots kept. */
#include "collect.h"
#include "hashmap.h"
#include "python.h"
#include "symbolizer.h"
#include "unwind.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Unwind rules kept (~320 bytes each: a half-empty table of 160-byte slots): the hot ones. */
#define UNWIND_CACHE_RULES 2048

struct collector {
	struct symbolizer *sym;
	struct window *windows[COLLECTOR_MAX_WINDOWS];
	size_t nwindows;
	struct hmap *reread; /* (pid, seq) re-read this round */
	struct hmap *stale; /* (pid, seq) with uncovered addresses, re-read next round */
	struct drain_ops ops;
	collector_fp_fn fp_hook;
	void *fp_ctx;
	collector_py_fn py_hook;
	void *py_ctx;
	collector_stack_fn stack_hook;
	void *stack_ctx;
	struct thread_stack *threads; /* STACK_THREADS, by tid; NULL without a stack hook */
	uint64_t round; /* drain rounds so far */
	uint32_t stack_lookups; /* threads' stack mappings looked up this round */
	uint64_t stack_lookup_ns; /* and the time they took */
	struct hmap *py_read; /* (pid, code address) read or checked this round; reads per pid */
	struct collector_stats stats;
	uint64_t pcs[UNWIND_MAX_FRAMES];
	struct unwind_cache *unwind_cache;
	/* (pid, seq) of processes that exited: this interval's, and the previous one's */
	uint32_t (*exits[2])[2];
	size_t nexits[2], cap_exits[2];
};

/*
 * What the program was told of a thread's stack mapping: a table indexed by tid, a thread
 * that collides with another replaces it (and is looked up again: at most once a round).
 */
#define STACK_THREADS 4096
/*
 * Lookups a round (each an open and a query of /proc/PID/maps, or before 6.11 a read of its
 * text up to the line): at most 256 and 5 ms of them (0.5 % of a core); more threads wait.
 */
#define STACK_LOOKUPS_PER_ROUND 256
#define STACK_LOOKUP_NS_PER_ROUND 5000000ULL

struct thread_stack {
	uint32_t tid, pid, seq;
	bool unbounded; /* its stack went on past its mapping: its copies are not bounded */
	uint64_t lo, hi; /* lo == hi: not found */
	uint64_t round; /* of the last lookup, + 1 (0: never) */
};

/* FNV-1a over the frames, as the BPF program hashes its stacks; never a placeholder id. */
static uint64_t stack_hash(const uint64_t *ip, uint32_t nr, uint32_t end)
{
	uint64_t h = fnv1a64_words(FNV1A64_INIT, ip, nr);

	h ^= nr | (uint64_t)end << 32;
	if (h < SCORCH_STACK_FIRST_REAL)
		h += SCORCH_STACK_FIRST_REAL;
	return h;
}

/* A drained stack goes to every window; one without memory gets a placeholder at its samples. */
static int on_stack(void *ctx, uint64_t id, const struct scorch_stack *st)
{
	struct collector *c = ctx;
	uint32_t nr = st->nr > SCORCH_MAX_STACK_DEPTH ? SCORCH_MAX_STACK_DEPTH : st->nr;

	for (size_t i = 0; i < c->nwindows; i++)
		if (window__put_stack(c->windows[i], id, (const uint64_t *)st->ip, nr,
				      UNWIND_END_UNKNOWN))
			return -ENOMEM;
	return 0;
}

/* The BPF program's view of a Python layout: offsets it reads, each below 64 KiB. */
static int py_offsets(const struct py_layout *l, uint32_t seq, uint64_t runtime,
		      struct scorch_py_proc *ret)
{
	const uint32_t *fields[] = { &l->runtime_interp_head, &l->interp_next,
				     &l->interp_threads_head, &l->tstate_next,
				     &l->tstate_thread_id,    &l->tstate_frame,
				     &l->tstate_interp,	      &l->code_adaptive };

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (*fields[i] >= PY_NO_FIELD)
			return -EINVAL;
	/* the program reads 8-byte fields at 8-byte offsets (3.10's int f_lasti at 4) */
	if (l->tstate_next % 8 || l->tstate_thread_id % 8 || l->tstate_frame % 8 ||
	    l->interp_next % 8 || l->interp_threads_head % 8 || l->runtime_interp_head % 8 ||
	    l->frame_code % 8 || l->frame_previous % 8 || l->frame_instr % 4 ||
	    (l->cframe_current_frame != PY_NO_FIELD && l->cframe_current_frame % 8))
		return -EINVAL;
	if (l->tstate_thread_id + 8 > SCORCH_PY_TSTATE_READ ||
	    l->tstate_frame + 8 > SCORCH_PY_TSTATE_READ ||
	    l->tstate_interp + 8 > SCORCH_PY_TSTATE_READ || l->tstate_interp % 8)
		return -EINVAL;
	if (l->frame_size > SCORCH_PY_FRAME_READ || l->frame_code + 8 > l->frame_size ||
	    l->frame_previous + 8 > l->frame_size || l->frame_instr + 4 > l->frame_size ||
	    (l->frame_entry != PY_NO_FIELD && l->frame_entry >= l->frame_size))
		return -EINVAL;
	*ret = (struct scorch_py_proc){
		.seq = seq,
		.frames = l->frames,
		.owner_cstack = l->owner_cstack,
		.frame_size = l->frame_size,
		.runtime = runtime,
		.runtime_interp_head = l->runtime_interp_head,
		.interp_next = l->interp_next,
		.interp_threads_head = l->interp_threads_head,
		.tstate_next = l->tstate_next,
		.tstate_thread_id = l->tstate_thread_id,
		.tstate_interp = l->tstate_interp,
		.tstate_frame = l->tstate_frame,
		.cframe_current_frame = l->cframe_current_frame,
		.frame_code = l->frame_code,
		.frame_previous = l->frame_previous,
		.frame_instr = l->frame_instr,
		.frame_entry = l->frame_entry,
		.code_adaptive = l->code_adaptive,
	};
	return 0;
}

/*
 * Snapshot a process; tell the auto unwinder when its code keeps frame pointers, and the BPF
 * program where a Python process keeps its frames.
 */
static void snapshot(struct collector *c, uint32_t pid, uint32_t seq)
{
	struct scorch_py_proc pp;
	struct sym_python py;

	symbolizer__snapshot(c->sym, pid, seq);
	/* every snapshot decides anew: a library loaded since may lack frame pointers */
	if (c->fp_hook)
		c->fp_hook(c->fp_ctx, pid, seq, symbolizer__keeps_frame_pointers(c->sym, pid, seq));
	if (!c->py_hook || symbolizer__python(c->sym, pid, seq, &py) || !py.layout)
		return;
	if (py_offsets(py.layout, seq, py.runtime, &pp)) {
		/* a 3.13 interpreter's own offsets that the BPF program cannot read */
		c->stats.python_refused++;
		return;
	}
	if (c->py_hook(c->py_ctx, pid, &pp))
		c->stats.python_map_full++;
}

/* A Python process found broken after its offsets went to the program: walk it no more. */
static void python_sampled(struct collector *c, uint32_t pid, uint32_t seq, bool frames)
{
	if (symbolizer__python_sampled(c->sym, pid, seq, frames) && c->py_hook)
		c->py_hook(c->py_ctx, pid, NULL);
}

/* New code objects read per process and drain round: a hostile process gets no more. */
#define PY_READS_PER_ROUND 512

/*
 * Read the code objects of a Python stack while the process lives (it may be gone when the
 * profile is built), each once per drain round: a read also checks that an object cached
 * earlier is still the same one.
 */
static void read_python(struct collector *c, uint32_t pid, uint32_t seq, const uint64_t *words,
			uint32_t nr)
{
	struct py_read_key {
		uint32_t pid, count; /* count 1: the key of the process's reads this round */
		uint64_t code;
	} quota = { pid, 1, 0 };
	uintptr_t reads = (uintptr_t)hmap__get(c->py_read, &quota, sizeof(quota));

	for (uint32_t i = 0; i < nr; i++) {
		struct py_read_key k = { pid, 0, scorch_py_word_code(words[i]) };

		if (!k.code || hmap__get(c->py_read, &k, sizeof(k)))
			continue;
		if (reads >= PY_READS_PER_ROUND) {
			c->stats.python_read_budget++;
			continue;
		}
		symbolizer__python_read(c->sym, pid, seq, k.code);
		hmap__put(c->py_read, &k, sizeof(k), c);
		reads++;
	}
	hmap__put(c->py_read, &quota, sizeof(quota), (void *)reads);
}

/*
 * Copied stacks are unwound as they come, within a drain round of a second: a JIT compiles
 * into new code within it (V8 in its first second), so a process whose stack met a pc outside
 * its maps may have them read again once every REREAD_NS, not once a round. A process cannot
 * make that more often than 20 times a second. The table's value is the time of the last read.
 */
#define REREAD_NS 50000000ULL

static bool may_reread(struct collector *c, const uint32_t *pk, uint64_t now)
{
	void *last = hmap__get(c->reread, pk, 2 * sizeof(*pk));

	return !last || now - (uint64_t)(uintptr_t)last >= REREAD_NS;
}

static void reread(struct collector *c, const uint32_t *pk, uint64_t now)
{
	snapshot(c, pk[0], pk[1]);
	hmap__put(c->reread, pk, 2 * sizeof(*pk), (void *)(uintptr_t)(now ? now : 1));
}

/*
 * Make sure the symbolizer knows the mappings behind a user stack: snapshot a process seen for
 * the first time, and re-read one whose stack hits an address its snapshot cannot name (a
 * library or JIT code mapped after the snapshot). A process is re-read at most once per drain
 * round; one found stale after that is re-read at the start of the next.
 */
static void ensure_mappings(struct collector *c, const struct window *w,
			    const struct scorch_sample_key *key)
{
	const struct collected_stack *st = window__stack(w, key->ustack);
	uint32_t pk[2] = { key->pid, key->proc_seq };

	if (!symbolizer__has_process(c->sym, key->pid, key->proc_seq)) {
		reread(c, pk, now_ns(CLOCK_MONOTONIC));
		return;
	}
	for (uint32_t i = 0; st && i < st->nr; i++) {
		if (symbolizer__covers(c->sym, key->pid, key->proc_seq, st->ip[i]))
			continue;
		if (hmap__get(c->reread, pk, sizeof(pk))) {
			hmap__put(c->stale, pk, sizeof(pk), c);
			return;
		}
		reread(c, pk, now_ns(CLOCK_MONOTONIC));
		return;
	}
}

/*
 * Count a sample in every window. A key new to a window, drained from the maps, has its user
 * stack checked against the process's snapshot (once for all windows).
 */
static int add_count(struct collector *c, const struct scorch_sample_key *key, uint64_t count,
		     bool check_mappings)
{
	bool checked = !check_mappings || (key->flags & SCORCH_SAMPLE_KTHREAD) ||
		       key->ustack < SCORCH_STACK_FIRST_REAL;
	int err = 0;

	for (size_t i = 0; i < c->nwindows; i++) {
		int r = window__count(c->windows[i], key, count);

		if (r < 0)
			err = r;
		if (r == 1 && !checked) {
			const struct collected_stack *py =
			    window__stack(c->windows[i], key->pystack);

			ensure_mappings(c, c->windows[i], key);
			if (py)
				read_python(c, key->pid, key->proc_seq, py->ip, py->nr);
			python_sampled(c, key->pid, key->proc_seq, py != NULL);
			checked = true;
		}
	}
	return err;
}

static int on_sample(void *ctx, const struct scorch_sample_key *key, uint64_t count)
{
	return add_count(ctx, key, count, true);
}

struct code_ctx {
	struct symbolizer *sym;
	uint32_t pid, seq;
	struct sym_code_mapping last; /* the mapping of the last frame: most callers share it */
};

static int code_at(void *ctx, uint64_t pc, struct elf_file **ret_elf, uint64_t *ret_vaddr)
{
	struct code_ctx *cc = ctx;

	if (!cc->last.elf || pc < cc->last.start || pc >= cc->last.end) {
		int r = symbolizer__code_mapping(cc->sym, cc->pid, cc->seq, pc, &cc->last);

		if (r) {
			cc->last.elf = NULL;
			return r;
		}
	}
	if (sym_code_mapping__vaddr(&cc->last, pc, ret_vaddr))
		return -ENOENT;
	*ret_elf = cc->last.elf;
	return 0;
}

/*
 * Tell the program the mapping of the sampled thread's stack, so that its next copies stop at
 * that mapping's end: looked up when the thread has none or its sp left it, told again when a
 * copy went past it (the program's table forgot it). A thread is looked up at most once a
 * drain round, 256 threads and 5 ms a round. When an unwind wanted more than a copy that ended at the
 * mapping's end, the stack goes on in the next mapping (one split by an mprotect() or a
 * madvise(), or replaced by a larger one): that thread's copies are not bounded any more.
 */
static void stack_range(struct collector *c, const struct scorch_raw_sample *raw,
			enum unwind_end end)
{
	const struct scorch_sample_key *k = &raw->key;
	struct thread_stack *t = &c->threads[k->tid % STACK_THREADS];
	uint64_t base = raw->regs[UNWIND_REG_SP] - SCORCH_RED_ZONE, lo, hi, t0;
	bool known = t->round && t->tid == k->tid && t->pid == k->pid && t->seq == k->proc_seq;
	struct scorch_stack_range r;
	int err;

	if (known && t->unbounded)
		return;
	if (known && t->lo < t->hi && base >= t->lo && base < t->hi) {
		uint64_t copied = base + raw->stack_len;

		if (copied == t->hi && end == UNWIND_END_COPY) {
			t->unbounded = true;
			c->stats.stack_unbounded++;
			c->stack_hook(c->stack_ctx, k->tid, NULL);
			return;
		}
		c->stats.stack_bounded += copied == t->hi;
		if (copied <= t->hi)
			return; /* bounded by it, or ended by a fault below it */
	}
	if ((known && t->round == c->round + 1) || c->stack_lookups >= STACK_LOOKUPS_PER_ROUND ||
	    c->stack_lookup_ns >= STACK_LOOKUP_NS_PER_ROUND)
		return;
	c->stack_lookups++;
	*t = (struct thread_stack){
		.tid = k->tid, .pid = k->pid, .seq = k->proc_seq, .round = c->round + 1
	};
	t0 = now_ns(CLOCK_MONOTONIC);
	err = symbolizer__mapping_at(c->sym, k->pid, base, &lo, &hi);
	c->stack_lookup_ns += now_ns(CLOCK_MONOTONIC) - t0;
	if (err || base < lo || base >= hi) {
		c->stack_hook(c->stack_ctx, k->tid, NULL);
		return;
	}
	t->lo = lo;
	t->hi = hi;
	r = (struct scorch_stack_range){ .pid = k->pid, .seq = k->proc_seq, .lo = lo, .hi = hi };
	if (!c->stack_hook(c->stack_ctx, k->tid, &r))
		c->stats.stack_ranges++;
}

void collector__raw_sample(struct collector *c, const struct scorch_raw_sample *raw)
{
	struct scorch_sample_key key = raw->key;
	struct code_ctx cc = { c->sym, key.pid, key.proc_seq, { 0 } };
	uint32_t pk[2] = { key.pid, key.proc_seq }, nr = 0, pynr;
	struct unwind_detail d;
	struct unwind_input in;
	enum unwind_end end;
	const uint64_t *kip;

	if (!symbolizer__has_process(c->sym, key.pid, key.proc_seq))
		reread(c, pk, now_ns(CLOCK_MONOTONIC));
	memcpy(in.regs, raw->regs, sizeof(in.regs));
	in.stack = raw->stack;
	in.base = raw->regs[UNWIND_REG_SP] - SCORCH_RED_ZONE;
	in.len = raw->stack_len;
	end = unwind_stack(&in, code_at, &cc, c->unwind_cache, c->pcs, UNWIND_MAX_FRAMES, &nr, &d);
	/*
	 * code mapped after the snapshot (dlopen, JIT): read the mappings again (at most every
	 * REREAD_NS); also when the pc outside them came after a guess that was taken back for it
	 */
	if (d.unmapped && may_reread(c, pk, now_ns(CLOCK_MONOTONIC))) {
		reread(c, pk, now_ns(CLOCK_MONOTONIC));
		cc.last.elf = NULL; /* a new snapshot: the old one's mappings are gone */
		end = unwind_stack(&in, code_at, &cc, c->unwind_cache, c->pcs, UNWIND_MAX_FRAMES,
				   &nr, &d);
	}
	/* stacks that went through code without CFI by its frame pointers */
	c->stats.fp_fallback += d.fp > 0;
	if (c->stack_hook && end != UNWIND_END_NO_REGS)
		stack_range(c, raw, end);
	if ((end == UNWIND_END_NO_CFI || end == UNWIND_END_BAD_CFI) && nr > 0)
		symbolizer__unwind_stopped(c->sym, key.pid, key.proc_seq, c->pcs[nr - 1],
					   unwind_end_name(end));
	key.ustack = stack_hash(c->pcs, nr, end);
	kip = (const uint64_t *)raw->kernel_ip;
	key.kstack = raw->kernel_nr ? stack_hash(kip, raw->kernel_nr, 0) : SCORCH_STACK_NONE;
	pynr = raw->py_nr > SCORCH_MAX_STACK_DEPTH ? SCORCH_MAX_STACK_DEPTH : raw->py_nr;
	key.pystack = pynr ? stack_hash((const uint64_t *)raw->py, pynr, 0) : SCORCH_STACK_NONE;
	if (pynr)
		read_python(c, key.pid, key.proc_seq, (const uint64_t *)raw->py, pynr);
	python_sampled(c, key.pid, key.proc_seq, pynr > 0);
	for (size_t i = 0; i < c->nwindows; i++) {
		struct window *w = c->windows[i];
		struct scorch_sample_key k = key;

		window__count_end(w, end);
		/* without memory the sample still counts, under a lost-stack placeholder */
		if (window__put_stack(w, k.ustack, c->pcs, nr, end))
			k.ustack = SCORCH_STACK_LOST_FULL;
		if (k.kstack != SCORCH_STACK_NONE &&
		    window__put_stack(w, k.kstack, kip, raw->kernel_nr, UNWIND_END_UNKNOWN))
			k.kstack = SCORCH_STACK_LOST_FULL;
		/* without memory for them the sample keeps its native frames */
		if (k.pystack != SCORCH_STACK_NONE &&
		    window__put_stack(w, k.pystack, (const uint64_t *)raw->py, pynr,
				      UNWIND_END_UNKNOWN))
			k.pystack = SCORCH_STACK_NONE;
		/* without memory it is not counted: the summary reports the shortfall */
		window__count(w, &k, 1);
	}
}

int collector__attach(struct collector *c, struct window *w)
{
	if (c->nwindows >= COLLECTOR_MAX_WINDOWS)
		return -E2BIG;
	c->windows[c->nwindows++] = w;
	return 0;
}

void collector__detach(struct collector *c, struct window *w)
{
	for (size_t i = 0; i < c->nwindows; i++)
		if (c->windows[i] == w) {
			memmove(c->windows + i, c->windows + i + 1,
				(c->nwindows - i - 1) * sizeof(*c->windows));
			c->nwindows--;
			return;
		}
}

void collector__set_fp_hook(struct collector *c, collector_fp_fn fn, void *ctx)
{
	c->fp_hook = fn;
	c->fp_ctx = ctx;
}

int collector__set_stack_hook(struct collector *c, collector_stack_fn fn, void *ctx)
{
	if (!c->threads) {
		c->threads = calloc(STACK_THREADS, sizeof(*c->threads));
		if (!c->threads)
			return -ENOMEM;
	}
	c->stack_hook = fn;
	c->stack_ctx = ctx;
	return 0;
}

void collector__set_py_hook(struct collector *c, collector_py_fn fn, void *ctx)
{
	c->py_hook = fn;
	c->py_ctx = ctx;
}

void collector__stats(const struct collector *c, struct collector_stats *ret)
{
	*ret = c->stats;
}

struct collector *collector__new(struct symbolizer *sym)
{
	struct collector *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sym = sym;
	c->reread = hmap__new();
	c->stale = hmap__new();
	c->py_read = hmap__new();
	c->unwind_cache = unwind_cache__new(UNWIND_CACHE_RULES);
	if (!c->reread || !c->stale || !c->py_read || !c->unwind_cache) {
		collector__free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->ops = (struct drain_ops){ .sample = on_sample, .stack = on_stack, .ctx = c };
	return c;
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	hmap__free(c->reread);
	hmap__free(c->stale);
	hmap__free(c->py_read);
	free(c->threads);
	unwind_cache__free(c->unwind_cache);
	free(c->exits[0]);
	free(c->exits[1]);
	free(c);
}

const struct drain_ops *collector__drain_ops(struct collector *c)
{
	return &c->ops;
}

void collector__event(struct collector *c, const struct scorch_event *e)
{
	if (e->type == SCORCH_EVENT_PROC_NEW) {
		snapshot(c, e->pid, e->seq);
		if (e->parent)
			symbolizer__inherit(c->sym, e->pid, e->seq, e->parent);
	}
	/*
	 * Exits: the snapshot is kept, the process's samples are symbolized at the end (record),
	 * or it is dropped an interval later (agent). Without memory it is simply kept.
	 */
	if (e->type == SCORCH_EVENT_PROC_EXIT &&
	    !grow_array((void **)&c->exits[0], &c->cap_exits[0], c->nexits[0] + 1,
			sizeof(*c->exits[0]))) {
		c->exits[0][c->nexits[0]][0] = e->pid;
		c->exits[0][c->nexits[0]++][1] = e->seq;
	}
}

void collector__end_interval(struct collector *c)
{
	uint32_t(*t)[2];
	size_t cap;

	for (size_t i = 0; i < c->nexits[1]; i++)
		symbolizer__drop_process(c->sym, c->exits[1][i][0], c->exits[1][i][1]);
	/* this interval's exits are dropped after the next one */
	t = c->exits[1];
	cap = c->cap_exits[1];
	c->exits[1] = c->exits[0];
	c->cap_exits[1] = c->cap_exits[0];
	c->nexits[1] = c->nexits[0];
	c->exits[0] = t;
	c->cap_exits[0] = cap;
	c->nexits[0] = 0;
}

void collector__next_round(struct collector *c)
{
	struct hmap *fresh = hmap__new(), *fresh_stale;
	size_t pos = 0;
	const void *k;

	c->round++;
	c->stack_lookups = 0;
	c->stack_lookup_ns = 0;
	/* without memory for new tables, the old ones stay: fewer re-reads, nothing worse */
	if (!fresh)
		return;
	fresh_stale = hmap__new();
	if (!fresh_stale) {
		hmap__free(fresh);
		return;
	}
	hmap__free(c->reread);
	c->reread = fresh;
	/* code objects are checked again in the new round; without memory, not before the next */
	fresh = hmap__new();
	if (fresh) {
		hmap__free(c->py_read);
		c->py_read = fresh;
	}
	while (hmap__next(c->stale, &pos, &k, NULL, NULL)) {
		const uint32_t *pk = k;

		reread(c, pk, now_ns(CLOCK_MONOTONIC));
	}
	hmap__free(c->stale);
	c->stale = fresh_stale;
}
