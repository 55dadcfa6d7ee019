// SPDX-License-Identifier: LGPL-2.1-or-later
#include "collect.h"
#include "hashmap.h"
#include "symbolizer.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct collector {
	struct symbolizer *sym;
	struct hmap *samples; /* scorch_sample_key -> uint64_t count (heap) */
	struct hmap *stacks; /* stack id -> collected_stack */
	struct hmap *reread; /* (pid, seq) re-read this round */
	struct hmap *stale; /* (pid, seq) with uncovered addresses, re-read next round */
	uint64_t total;
	struct drain_ops ops;
};

static int on_stack(void *ctx, uint64_t id, const struct scorch_stack *st)
{
	struct collector *c = ctx;
	struct collected_stack *cs;
	uint32_t nr = st->nr > SCORCH_MAX_STACK_DEPTH ? SCORCH_MAX_STACK_DEPTH : st->nr;

	if (hmap__get(c->stacks, &id, sizeof(id)))
		return 0;
	cs = malloc(sizeof(*cs) + nr * sizeof(uint64_t));
	if (!cs)
		return -ENOMEM;
	cs->nr = nr;
	memcpy(cs->ip, st->ip, nr * sizeof(uint64_t));
	if (hmap__put(c->stacks, &id, sizeof(id), cs)) {
		free(cs);
		return -ENOMEM;
	}
	return 0;
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
		symbolizer__snapshot(c->sym, key->pid, key->proc_seq);
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
		symbolizer__snapshot(c->sym, key->pid, key->proc_seq);
		hmap__put(c->reread, pk, sizeof(pk), c);
		return;
	}
}

static int on_sample(void *ctx, const struct scorch_sample_key *key, uint64_t count)
{
	struct collector *c = ctx;
	uint64_t *sum = hmap__get(c->samples, key, sizeof(*key));

	if (!sum) {
		sum = calloc(1, sizeof(*sum));
		if (!sum || hmap__put(c->samples, key, sizeof(*key), sum)) {
			free(sum);
			return -ENOMEM;
		}
		if (!(key->flags & SCORCH_SAMPLE_KTHREAD) && key->ustack >= SCORCH_STACK_FIRST_REAL)
			ensure_mappings(c, key);
	}
	*sum += count;
	c->total += count;
	return 0;
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
	if (!c->samples || !c->stacks || !c->reread || !c->stale) {
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
	free(c);
}

const struct drain_ops *collector__drain_ops(struct collector *c)
{
	return &c->ops;
}

void collector__event(struct collector *c, const struct scorch_event *e)
{
	if (e->type == SCORCH_EVENT_PROC_NEW)
		symbolizer__snapshot(c->sym, e->pid, e->seq);
	/* exits: the snapshot is kept, the process's samples are symbolized at the end */
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

		symbolizer__snapshot(c->sym, pk[0], pk[1]);
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
