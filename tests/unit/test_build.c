// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The profile builder and the windows it reads: a synthetic capture (stacks and counts as the
 * session drains them, fanned out by the collector) turned into the model, checked exactly;
 * then split per process in one pass, checked against building each process alone.
 */
#include "build.h"
#include "check.h"
#include "collect.h"
#include "model.h"
#include "profile.h"
#include "symbolizer.h"
#include "unwind.h"
#include "window.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define K1 0xffffffff81000100ULL /* in kfunc_a */
#define K2 0xffffffff81000250ULL /* in kfunc_b */

__attribute__((noinline)) int leaf_fn(int x)
{
	return x * 3 + 1;
}

__attribute__((noinline)) int caller_fn(int x)
{
	return leaf_fn(x) + 2;
}

static struct scorch_sample_key key(uint32_t pid, uint32_t tid, const char *comm, uint64_t kstack,
				    uint64_t ustack)
{
	struct scorch_sample_key k;

	memset(&k, 0, sizeof(k));
	k.pid = pid;
	k.tid = tid;
	k.proc_seq = 1;
	k.kstack = kstack;
	k.ustack = ustack;
	strncpy(k.comm, comm, sizeof(k.comm));
	return k;
}

/* The function names of a sample, leaf first, joined by ';' */
static void sample_names(const struct profile *p, const struct prof_sample *s, char *buf,
			 size_t size)
{
	size_t len = 0;

	buf[0] = 0;
	for (uint32_t i = 0; i < s->nlocs && len < size; i++) {
		const struct prof_location *l = &p->locations[s->locs[i] - 1];
		const char *name =
		    l->nlines ? profile__str(p, p->functions[l->lines[0].function - 1].name) : "?";

		len += snprintf(buf + len, size - len, "%s%s", i ? ";" : "", name);
	}
}

static int64_t label_num(const struct profile *p, const struct prof_sample *s, const char *key)
{
	for (uint32_t i = 0; i < s->nlabels; i++)
		if (!strcmp(profile__str(p, s->labels[i].key), key))
			return s->labels[i].num;
	return -1;
}

static const char *label_str(const struct profile *p, const struct prof_sample *s, const char *key)
{
	for (uint32_t i = 0; i < s->nlabels; i++)
		if (!strcmp(profile__str(p, s->labels[i].key), key))
			return profile__str(p, s->labels[i].str);
	return NULL;
}

/* The sample of p with this pid and tid: its index, or -1. */
static int find_sample(const struct profile *p, int64_t pid, int64_t tid)
{
	for (size_t i = 0; i < p->nsamples; i++)
		if (label_num(p, &p->samples[i], "pid") == pid &&
		    label_num(p, &p->samples[i], "thread_id") == tid)
			return i;
	return -1;
}

/* A copied stack of one frame at pc, for collector__raw_sample(). */
static void raw_at(struct scorch_raw_sample *raw, uint32_t pid, uint64_t pc)
{
	memset(raw, 0, SCORCH_RAW_SAMPLE_HEADER + 256);
	raw->key = key(pid, pid, "jit", SCORCH_STACK_NONE, 0);
	raw->regs[UNWIND_REG_PC] = pc;
	raw->regs[UNWIND_REG_SP] = 0x7ff000001000ULL;
	raw->stack_len = raw->stack_want = 256;
}

/*
 * Code mapped after a process's snapshot (a JIT's): a copied stack whose pc lies there has the
 * maps read again, also within a drain round, but not sooner than 50 ms after the last read.
 */
static void check_reread(uint32_t me)
{
	struct symbolizer *sym = symbolizer__new(&(struct symbolizer_opts){ 0 });
	struct collector *col = collector__new(sym);
	struct window *w = window__new();
	struct scorch_raw_sample *raw = calloc(1, sizeof(*raw));
	void *jit1 = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *jit2 = MAP_FAILED;
	const uint64_t *ends;

	CHECK(sym && col && w && raw && jit1 != MAP_FAILED);
	if (!sym || !col || !w || !raw || jit1 == MAP_FAILED)
		return;
	CHECK_INT(collector__attach(col, w), 0);
	/* the first sample of the process: its snapshot, which knows no jit2 */
	raw_at(raw, me, (uint64_t)(uintptr_t)jit1 + 16);
	collector__raw_sample(col, raw);
	jit2 = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(jit2 != MAP_FAILED);
	raw_at(raw, me, (uint64_t)(uintptr_t)jit2 + 16);
	/* at once: the maps were just read, so not again (a process cannot have them read more) */
	collector__raw_sample(col, raw);
	ends = window__unwind_ends(w);
	CHECK_INT(ends[UNWIND_END_UNMAPPED], 1);
	/* later in the same round: read again, and the code is found (no frame pointer: no CFI) */
	usleep(60000);
	collector__raw_sample(col, raw);
	ends = window__unwind_ends(w);
	CHECK_INT(ends[UNWIND_END_UNMAPPED], 1);
	CHECK_INT(ends[UNWIND_END_NO_CFI], 2);
	munmap(jit1, 4096);
	if (jit2 != MAP_FAILED)
		munmap(jit2, 4096);
	free(raw);
	window__free(w);
	collector__free(col);
	symbolizer__free(sym);
}

struct range_calls {
	size_t set, cleared;
	struct scorch_stack_range last;
};

static int note_range(void *ctx, uint32_t tid, const struct scorch_stack_range *r)
{
	struct range_calls *rc = ctx;

	(void)tid;
	if (r) {
		rc->set++;
		rc->last = *r;
	} else {
		rc->cleared++;
	}
	return 0;
}

/*
 * The stack ranges the program is told: a thread's mapping (here one between two guard pages)
 * looked up on its first sample, not again while its copies stay below its end, told again
 * (once a round) when a copy went past it, and a thread whose unwind wanted more than a copy
 * that ended at its end is not bounded any more.
 */
static void check_stack_ranges(uint32_t me)
{
	struct symbolizer *sym = symbolizer__new(&(struct symbolizer_opts){ 0 });
	struct collector *col = collector__new(sym);
	struct scorch_raw_sample *raw = calloc(1, sizeof(*raw));
	char *area = mmap(NULL, 18 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct range_calls rc = { 0 };
	struct collector_stats cs;
	uint64_t lo, hi;

	CHECK(sym && col && raw && area != MAP_FAILED);
	if (!sym || !col || !raw || area == MAP_FAILED)
		return;
	CHECK_INT(mprotect(area + 4096, 16 * 4096, PROT_READ | PROT_WRITE), 0);
	lo = (uint64_t)(uintptr_t)area + 4096;
	hi = lo + 16 * 4096;
	CHECK_INT(collector__set_stack_hook(col, note_range, &rc), 0);
	/* first sample of the thread: looked up */
	raw_at(raw, me, (uint64_t)(uintptr_t)leaf_fn + 1);
	raw->regs[UNWIND_REG_SP] = lo + 8 * 4096 + SCORCH_RED_ZONE;
	collector__raw_sample(col, raw);
	CHECK_INT(rc.set, 1);
	CHECK_INT(rc.last.lo, lo);
	CHECK_INT(rc.last.hi, hi);
	CHECK_INT(rc.last.pid, me);
	CHECK_INT(rc.last.seq, 1);
	/* a copy below its end: nothing to say */
	collector__raw_sample(col, raw);
	CHECK_INT(rc.set, 1);
	/* a copy past its end (the program forgot the range): told again, once a round */
	raw->regs[UNWIND_REG_SP] = hi - 100 + SCORCH_RED_ZONE;
	collector__raw_sample(col, raw);
	CHECK_INT(rc.set, 1);
	collector__next_round(col);
	collector__raw_sample(col, raw);
	CHECK_INT(rc.set, 2);
	collector__raw_sample(col, raw);
	CHECK_INT(rc.set, 2);
	/* a copy that ended at its end and an unwind that wanted more: not bounded any more */
	raw->stack_len = 100;
	collector__raw_sample(col, raw);
	CHECK_INT(rc.cleared, 1);
	collector__next_round(col);
	raw->stack_len = 256;
	collector__raw_sample(col, raw);
	CHECK_INT(rc.set, 2);
	CHECK_INT(rc.cleared, 1);
	collector__stats(col, &cs);
	CHECK_INT(cs.stack_ranges, 2);
	CHECK_INT(cs.stack_unbounded, 1);
	/* nothing mapped at sp (another thread): the program is told there is no range */
	CHECK_INT(munmap(area, 4096), 0);
	raw->key.tid = me + 1;
	raw->regs[UNWIND_REG_SP] = (uint64_t)(uintptr_t)area + 100 + SCORCH_RED_ZONE;
	collector__raw_sample(col, raw);
	CHECK_INT(rc.cleared, 2);
	munmap(area + 4096, 17 * 4096);
	free(raw);
	collector__free(col);
	symbolizer__free(sym);
}

int main(void)
{
	char dir[] = "/tmp/scorch-build.XXXXXX", ksyms[64], names[512];
	uint32_t me = getpid(), other = me + 1;
	uint64_t user_pcs[2] = { (uintptr_t)leaf_fn + 1, (uintptr_t)caller_fn + 8 };
	uint64_t kernel_pcs[2] = { K1, K2 };
	struct scorch_stack *st = calloc(1, sizeof(*st) + 2 * sizeof(uint64_t) * 2);
	struct symbolizer *sym;
	struct collector *col;
	struct window *w, *w2;
	const struct drain_ops *ops;
	struct profile *p;
	struct process_profile *procs;
	size_t nprocs;
	struct scorch_sample_key k;
	FILE *f;
	int i;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(ksyms, sizeof(ksyms), "%s/kallsyms", dir);
	f = fopen(ksyms, "w");
	fprintf(f, "ffffffff81000000 T _text\nffffffff81000000 T kfunc_a\n"
		   "ffffffff81000200 T kfunc_b\nffffffff81000400 T kfunc_end\n");
	fclose(f);
	sym = symbolizer__new(&(struct symbolizer_opts){ .kallsyms = ksyms });
	col = collector__new(sym);
	w = window__new();
	w2 = window__new();
	CHECK(sym && col && w && w2 && st);
	CHECK_INT(symbolizer__snapshot(sym, me, 1), 0);

	/* two windows attached: both count everything drained */
	CHECK_INT(collector__attach(col, w), 0);
	CHECK_INT(collector__attach(col, w2), 0);
	ops = collector__drain_ops(col);
	st->nr = 2;
	memcpy(st->ip, kernel_pcs, sizeof(kernel_pcs));
	CHECK_INT(ops->stack(ops->ctx, 100, st), 0);
	memcpy(st->ip, user_pcs, sizeof(user_pcs));
	CHECK_INT(ops->stack(ops->ctx, 200, st), 0);
	/* me: thread 1 in user + kernel code, 5 samples in two drains; thread 2 lost its stack */
	k = key(me, me, "main-thread", 100, 200);
	CHECK_INT(ops->sample(ops->ctx, &k, 3), 0);
	CHECK_INT(ops->sample(ops->ctx, &k, 2), 0);
	k = key(me, me + 7, "worker", SCORCH_STACK_NONE, SCORCH_STACK_LOST_FULL);
	CHECK_INT(ops->sample(ops->ctx, &k, 4), 0);
	/* the second window is closed: what follows is counted by the first alone */
	collector__detach(col, w2);
	k = key(other, other, "other", 100, SCORCH_STACK_NONE);
	CHECK_INT(ops->sample(ops->ctx, &k, 6), 0);
	CHECK_INT(window__samples(w), 15);
	CHECK_INT(window__samples(w2), 9);
	CHECK(window__stack(w2, 200) && window__stack(w2, 200)->nr == 2);
	CHECK(!window__stack(w, SCORCH_STACK_LOST_FULL));

	p = build_profile(w, sym,
			  &(struct build_opts){ .freq = 100, .start_ns = 7, .duration_ns = 9 });
	CHECK(p != NULL);
	if (!p)
		return check_done("test_build");
	CHECK_INT(p->nsample_types, 2);
	CHECK_STR(profile__str(p, p->sample_types[0].type), "samples");
	CHECK_STR(profile__str(p, p->sample_types[0].unit), "count");
	CHECK_STR(profile__str(p, p->sample_types[1].type), "cpu");
	CHECK_STR(profile__str(p, p->sample_types[1].unit), "nanoseconds");
	CHECK_STR(profile__str(p, p->default_sample_type), "cpu");
	CHECK_INT(p->period, 10000000);
	CHECK_INT(p->time_nanos, 7);
	CHECK_INT(p->duration_nanos, 9);
	CHECK_INT(p->nsamples, 3);
	i = find_sample(p, me, me);
	CHECK(i >= 0);
	if (i >= 0) {
		const struct prof_sample *s = &p->samples[i];

		CHECK_INT(s->values[0], 5);
		CHECK_INT(s->values[1], 5 * 10000000LL);
		CHECK_STR(label_str(p, s, "comm"), "main-thread");
		sample_names(p, s, names, sizeof(names));
		/* kernel frames first (leaf), then user; a return address looked up at pc - 1 */
		CHECK_STR(names, "kfunc_a;kfunc_b;leaf_fn;caller_fn");
		CHECK_INT(p->locations[s->locs[0] - 1].address, K1);
		CHECK_INT(p->locations[s->locs[1] - 1].address, K2 - 1);
		CHECK_INT(p->locations[s->locs[2] - 1].address, user_pcs[0]);
		CHECK_INT(p->locations[s->locs[3] - 1].address, user_pcs[1] - 1);
	}
	i = find_sample(p, me, me + 7);
	CHECK(i >= 0);
	if (i >= 0) {
		sample_names(p, &p->samples[i], names, sizeof(names));
		CHECK_STR(names, "[user stack lost: stack map full]");
		CHECK_INT(p->samples[i].values[0], 4);
	}
	i = find_sample(p, other, other);
	CHECK(i >= 0);
	if (i >= 0) {
		sample_names(p, &p->samples[i], names, sizeof(names));
		CHECK_STR(names, "kfunc_a;kfunc_b");
	}

	/* split per process in one pass: each part is what that process's samples use */
	CHECK_INT(
	    build_profiles(w, sym, &(struct build_opts){ .freq = 100 }, NULL, &procs, &nprocs), 0);
	CHECK_INT(nprocs, 2);
	for (size_t j = 0; j < nprocs; j++) {
		const struct profile *q = procs[j].profile;
		int64_t sum = 0;

		for (size_t n = 0; n < q->nsamples; n++) {
			CHECK_INT(label_num(q, &q->samples[n], "pid"), procs[j].pid);
			sum += q->samples[n].values[0];
		}
		CHECK_INT(q->nsample_types, 2);
		CHECK_INT(q->period, 10000000);
		if (procs[j].pid == me) {
			CHECK_INT(q->nsamples, 2);
			CHECK_INT(sum, 9);
			/* named by its main thread */
			CHECK_STR(procs[j].comm, "main-thread");
			CHECK(procs[j].main_thread_comm);
			/* 4 frames and the placeholder */
			CHECK_INT(q->nlocations, 5);
			i = find_sample(q, me, me);
			CHECK(i >= 0);
			if (i >= 0) {
				sample_names(q, &q->samples[i], names, sizeof(names));
				CHECK_STR(names, "kfunc_a;kfunc_b;leaf_fn;caller_fn");
			}
		} else {
			CHECK_INT(procs[j].pid, other);
			CHECK_INT(q->nsamples, 1);
			CHECK_INT(sum, 6);
			CHECK_STR(procs[j].comm, "other");
			/* only the kernel frames it used, and no user mapping */
			CHECK_INT(q->nlocations, 2);
			CHECK_INT(q->nmappings, 1);
		}
	}
	process_profiles__free(procs, nprocs);

	/* the next interval: the window starts over */
	CHECK_INT(window__clear(w), 0);
	CHECK_INT(window__samples(w), 0);
	CHECK(!window__stack(w, 200));
	/* one process: its profile is the window's whole */
	memcpy(st->ip, kernel_pcs, sizeof(kernel_pcs));
	CHECK_INT(ops->stack(ops->ctx, 100, st), 0);
	k = key(other, other, "other", 100, SCORCH_STACK_NONE);
	CHECK_INT(ops->sample(ops->ctx, &k, 2), 0);
	CHECK_INT(
	    build_profiles(w, sym, &(struct build_opts){ .freq = 100 }, NULL, &procs, &nprocs), 0);
	CHECK_INT(nprocs, 1);
	if (nprocs == 1) {
		CHECK_INT(procs[0].pid, other);
		CHECK_INT(procs[0].profile->nsamples, 1);
		CHECK_INT(procs[0].profile->samples[0].values[0], 2);
		sample_names(procs[0].profile, &procs[0].profile->samples[0], names, sizeof(names));
		CHECK_STR(names, "kfunc_a;kfunc_b");
	}
	process_profiles__free(procs, nprocs);
	profile__free(p);
	window__free(w);
	window__free(w2);
	collector__free(col);
	symbolizer__free(sym);
	free(st);
	unlink(ksyms);
	rmdir(dir);
	check_reread(me);
	check_stack_ranges(me);
	return check_done("test_build");
}
