// SPDX-License-Identifier: LGPL-2.1-or-later
#include "collect.h"
#include "hashmap.h"
#include "symbolizer.h"
#include "unwind.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Unwind rules kept (~320 bytes each: a half-empty table of 160-byte slots): the hot ones. */
#define UNWIND_CACHE_RULES 2048

struct collector {
	struct symbolizer *sym;
	struct hmap *samples; /* scorch_sample_key -> uint64_t count (heap) */
	struct hmap *stacks; /* stack id -> collected_stack */
	struct hmap *reread; /* (pid, seq) re-read this round */
	struct hmap *stale; /* (pid, seq) with uncovered addresses, re-read next round */
	uint64_t total;
	struct drain_ops ops;
	uint64_t ends[UNWIND_END_MAX];
	collector_fp_fn fp_hook;
	void *fp_ctx;
	uint64_t pcs[UNWIND_MAX_FRAMES];
	struct unwind_cache *unwind_cache;
	/* (pid, seq) of processes that exited: this interval's, and the previous one's */
	uint32_t (*exits[2])[2];
	size_t nexits[2], cap_exits[2];
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

/* Keep a stack under its id (once). */
static int put_stack(struct collector *c, uint64_t id, const uint64_t *ip, uint32_t nr,
		     uint32_t end)
{
	struct collected_stack *cs;

	if (hmap__get(c->stacks, &id, sizeof(id)))
		return 0;
	cs = malloc(sizeof(*cs) + nr * sizeof(uint64_t));
	if (!cs)
		return -ENOMEM;
	cs->nr = nr;
	cs->end = end;
	memcpy(cs->ip, ip, nr * sizeof(uint64_t));
	if (hmap__put(c->stacks, &id, sizeof(id), cs)) {
		free(cs);
		return -ENOMEM;
	}
	return 0;
}

static int on_stack(void *ctx, uint64_t id, const struct scorch_stack *st)
{
	struct collector *c = ctx;
	uint32_t nr = st->nr > SCORCH_MAX_STACK_DEPTH ? SCORCH_MAX_STACK_DEPTH : st->nr;

	return put_stack(c, id, (const uint64_t *)st->ip, nr, UNWIND_END_UNKNOWN);
}

/* Snapshot a process, and tell the auto unwinder when its code keeps frame pointers. */
static void snapshot(struct collector *c, uint32_t pid, uint32_t seq)
{
	symbolizer__snapshot(c->sym, pid, seq);
	/* every snapshot decides anew: a library loaded since may lack frame pointers */
	if (c->fp_hook)
		c->fp_hook(c->fp_ctx, pid, seq, symbolizer__keeps_frame_pointers(c->sym, pid, seq));
}

/*
 * Make sure the symbolizer knows the mappings behind a user stack: snapshot a process seen for
 * the first time, and re-read one whose stack hits an address its snapshot cannot name (a
 * library or JIT code mapped after the snapshot). A process is re-read at most once per drain
 * round; one found stale after that is re-read at the start of the next.
 */
static void ensure_mappings(struct collector *c, const struct scorch_sample_key *key)
{
	const struct collected_stack *st = collector__stack(c, key->ustack);
	uint32_t pk[2] = { key->pid, key->proc_seq };

	if (!symbolizer__has_process(c->sym, key->pid, key->proc_seq)) {
		snapshot(c, key->pid, key->proc_seq);
		hmap__put(c->reread, pk, sizeof(pk), c);
		return;
	}
	for (uint32_t i = 0; st && i < st->nr; i++) {
		if (symbolizer__covers(c->sym, key->pid, key->proc_seq, st->ip[i]))
			continue;
		if (hmap__get(c->reread, pk, sizeof(pk))) {
			hmap__put(c->stale, pk, sizeof(pk), c);
			return;
		}
		snapshot(c, key->pid, key->proc_seq);
		hmap__put(c->reread, pk, sizeof(pk), c);
		return;
	}
}

static int add_count(struct collector *c, const struct scorch_sample_key *key, uint64_t count,
		     bool check_mappings)
{
	uint64_t *sum = hmap__get(c->samples, key, sizeof(*key));

	if (!sum) {
		sum = calloc(1, sizeof(*sum));
		if (!sum || hmap__put(c->samples, key, sizeof(*key), sum)) {
			free(sum);
			return -ENOMEM;
		}
		if (check_mappings && !(key->flags & SCORCH_SAMPLE_KTHREAD) &&
		    key->ustack >= SCORCH_STACK_FIRST_REAL)
			ensure_mappings(c, key);
	}
	*sum += count;
	c->total += count;
	return 0;
}

static int on_sample(void *ctx, const struct scorch_sample_key *key, uint64_t count)
{
	return add_count(ctx, key, count, true);
}

struct code_ctx {
	struct symbolizer *sym;
	uint32_t pid, seq;
};

static int code_at(void *ctx, uint64_t pc, struct elf_file **ret_elf, uint64_t *ret_vaddr)
{
	struct code_ctx *cc = ctx;

	return symbolizer__code_at(cc->sym, cc->pid, cc->seq, pc, ret_elf, ret_vaddr);
}

void collector__raw_sample(struct collector *c, const struct scorch_raw_sample *raw)
{
	struct scorch_sample_key key = raw->key;
	struct code_ctx cc = { c->sym, key.pid, key.proc_seq };
	uint32_t pk[2] = { key.pid, key.proc_seq }, nr = 0;
	struct unwind_input in;
	enum unwind_end end;
	const uint64_t *kip;

	if (!symbolizer__has_process(c->sym, key.pid, key.proc_seq)) {
		snapshot(c, key.pid, key.proc_seq);
		hmap__put(c->reread, pk, sizeof(pk), c);
	}
	memcpy(in.regs, raw->regs, sizeof(in.regs));
	in.stack = raw->stack;
	in.base = raw->regs[UNWIND_REG_SP] - SCORCH_RED_ZONE;
	in.len = raw->stack_len;
	end = unwind_stack(&in, code_at, &cc, c->unwind_cache, c->pcs, UNWIND_MAX_FRAMES, &nr);
	/* code mapped after the snapshot (dlopen, JIT): read the mappings again, once a round */
	if (end == UNWIND_END_UNMAPPED && !hmap__get(c->reread, pk, sizeof(pk))) {
		snapshot(c, key.pid, key.proc_seq);
		hmap__put(c->reread, pk, sizeof(pk), c);
		end = unwind_stack(&in, code_at, &cc, c->unwind_cache, c->pcs, UNWIND_MAX_FRAMES,
				   &nr);
	}
	c->ends[end]++;
	if ((end == UNWIND_END_NO_CFI || end == UNWIND_END_BAD_CFI) && nr > 0)
		symbolizer__unwind_stopped(c->sym, key.pid, key.proc_seq, c->pcs[nr - 1],
					   unwind_end_name(end));
	key.ustack = stack_hash(c->pcs, nr, end);
	kip = (const uint64_t *)raw->kernel_ip;
	key.kstack = raw->kernel_nr ? stack_hash(kip, raw->kernel_nr, 0) : SCORCH_STACK_NONE;
	/* without memory the sample still counts, under a lost-stack placeholder */
	if (put_stack(c, key.ustack, c->pcs, nr, end))
		key.ustack = SCORCH_STACK_LOST_FULL;
	if (key.kstack != SCORCH_STACK_NONE &&
	    put_stack(c, key.kstack, kip, raw->kernel_nr, UNWIND_END_UNKNOWN))
		key.kstack = SCORCH_STACK_LOST_FULL;
	/* without memory it is not counted: the summary reports the shortfall against the stats */
	add_count(c, &key, 1, false);
}

const uint64_t *collector__unwind_ends(const struct collector *c)
{
	return c->ends;
}

void collector__set_fp_hook(struct collector *c, collector_fp_fn fn, void *ctx)
{
	c->fp_hook = fn;
	c->fp_ctx = ctx;
}

struct collector *collector__new(struct symbolizer *sym)
{
	struct collector *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sym = sym;
	c->samples = hmap__new();
	c->stacks = hmap__new();
	c->reread = hmap__new();
	c->stale = hmap__new();
	c->unwind_cache = unwind_cache__new(UNWIND_CACHE_RULES);
	if (!c->samples || !c->stacks || !c->reread || !c->stale || !c->unwind_cache) {
		collector__free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->ops = (struct drain_ops){ .sample = on_sample, .stack = on_stack, .ctx = c };
	return c;
}

void collector__free(struct collector *c)
{
	size_t pos;
	void *v;

	if (!c)
		return;
	for (pos = 0; c->samples && hmap__next(c->samples, &pos, NULL, NULL, &v);)
		free(v);
	for (pos = 0; c->stacks && hmap__next(c->stacks, &pos, NULL, NULL, &v);)
		free(v);
	hmap__free(c->samples);
	hmap__free(c->stacks);
	hmap__free(c->reread);
	hmap__free(c->stale);
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

static void free_entries(struct hmap *h)
{
	size_t pos = 0;
	void *v;

	while (hmap__next(h, &pos, NULL, NULL, &v))
		free(v);
}

void collector__reset(struct collector *c)
{
	struct hmap *samples = hmap__new(), *stacks = hmap__new();
	uint32_t(*t)[2];
	size_t cap;

	if (!samples || !stacks) {
		/* keep counting into the old tables: the next interval repeats these samples */
		hmap__free(samples);
		hmap__free(stacks);
		return;
	}
	free_entries(c->samples);
	free_entries(c->stacks);
	hmap__free(c->samples);
	hmap__free(c->stacks);
	c->samples = samples;
	c->stacks = stacks;
	c->total = 0;
	memset(c->ends, 0, sizeof(c->ends));
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
	while (hmap__next(c->stale, &pos, &k, NULL, NULL)) {
		const uint32_t *pk = k;

		snapshot(c, pk[0], pk[1]);
		hmap__put(c->reread, pk, 2 * sizeof(*pk), c);
	}
	hmap__free(c->stale);
	c->stale = fresh_stale;
}

uint64_t collector__samples(const struct collector *c)
{
	return c->total;
}

bool collector__next(const struct collector *c, size_t *pos, const struct scorch_sample_key **key,
		     uint64_t *count)
{
	const void *k;
	void *v;

	if (!hmap__next(c->samples, pos, &k, NULL, &v))
		return false;
	*key = k;
	*count = *(uint64_t *)v;
	return true;
}

const struct collected_stack *collector__stack(const struct collector *c, uint64_t id)
{
	if (id < SCORCH_STACK_FIRST_REAL)
		return NULL;
	return hmap__get(c->stacks, &id, sizeof(id));
}
