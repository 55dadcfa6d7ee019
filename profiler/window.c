// SPDX-License-Identifier: LGPL-2.1-or-later
/* Aggregated samples and their stacks for one consumer of a capture (see window.h). */
#include "window.h"
#include "hashmap.h"
#include "unwind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct window {
	struct hmap *samples; /* scorch_sample_key -> uint64_t count (heap) */
	struct hmap *stacks; /* stack id -> collected_stack */
	uint64_t total;
	uint64_t ends[UNWIND_END_MAX];
};

static void free_tables(struct hmap *samples, struct hmap *stacks)
{
	size_t pos;
	void *v;

	for (pos = 0; samples && hmap__next(samples, &pos, NULL, NULL, &v);)
		free(v);
	for (pos = 0; stacks && hmap__next(stacks, &pos, NULL, NULL, &v);)
		free(v);
	hmap__free(samples);
	hmap__free(stacks);
}

struct window *window__new(void)
{
	struct window *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->samples = hmap__new();
	w->stacks = hmap__new();
	if (!w->samples || !w->stacks) {
		window__free(w);
		errno = ENOMEM;
		return NULL;
	}
	return w;
}

void window__free(struct window *w)
{
	if (!w)
		return;
	free_tables(w->samples, w->stacks);
	free(w);
}

int window__clear(struct window *w)
{
	struct hmap *samples = hmap__new(), *stacks = hmap__new();

	if (!samples || !stacks) {
		hmap__free(samples);
		hmap__free(stacks);
		return -ENOMEM;
	}
	free_tables(w->samples, w->stacks);
	w->samples = samples;
	w->stacks = stacks;
	w->total = 0;
	memset(w->ends, 0, sizeof(w->ends));
	return 0;
}

int window__count(struct window *w, const struct scorch_sample_key *key, uint64_t count)
{
	uint64_t *sum = hmap__get(w->samples, key, sizeof(*key));
	int added = 0;

	if (!sum) {
		sum = calloc(1, sizeof(*sum));
		if (!sum || hmap__put(w->samples, key, sizeof(*key), sum)) {
			free(sum);
			return -ENOMEM;
		}
		added = 1;
	}
	*sum += count;
	w->total += count;
	return added;
}

int window__put_stack(struct window *w, uint64_t id, const uint64_t *ip, uint32_t nr, uint32_t end)
{
	struct collected_stack *cs;

	if (hmap__get(w->stacks, &id, sizeof(id)))
		return 0;
	cs = malloc(sizeof(*cs) + nr * sizeof(uint64_t));
	if (!cs)
		return -ENOMEM;
	cs->nr = nr;
	cs->end = end;
	memcpy(cs->ip, ip, nr * sizeof(uint64_t));
	if (hmap__put(w->stacks, &id, sizeof(id), cs)) {
		free(cs);
		return -ENOMEM;
	}
	return 0;
}

void window__count_end(struct window *w, unsigned int end)
{
	if (end < UNWIND_END_MAX)
		w->ends[end]++;
}

uint64_t window__samples(const struct window *w)
{
	return w->total;
}

const uint64_t *window__unwind_ends(const struct window *w)
{
	return w->ends;
}

bool window__next(const struct window *w, size_t *pos, const struct scorch_sample_key **key,
		  uint64_t *count)
{
	const void *k;
	void *v;

	if (!hmap__next(w->samples, pos, &k, NULL, &v))
		return false;
	*key = k;
	*count = *(uint64_t *)v;
	return true;
}

const struct collected_stack *window__stack(const struct window *w, uint64_t id)
{
	if (id < SCORCH_STACK_FIRST_REAL)
		return NULL;
	return hmap__get(w->stacks, &id, sizeof(id));
}
