/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A window: the samples of a span of time as counted, (key -> count) with the stacks they name.
 * The collector adds every sample to each window attached to it, so consumers of one capture
 * (the agent's interval and an HTTP capture) share one unwinding of each sample.
 */
#ifndef SCORCH_WINDOW_H
#define SCORCH_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

struct window;

struct collected_stack {
	uint32_t nr;
	uint32_t end; /* enum unwind_end: how a user stack unwound in user space ended */
	uint64_t ip[];
};

struct window *window__new(void);
void window__free(struct window *w);
/* Forget the samples and stacks (the next interval). 0, or -ENOMEM with the window unchanged. */
int window__clear(struct window *w);

/* Count a sample: 1 when its key is new to the window, 0 when counted again, or -ENOMEM. */
int window__count(struct window *w, const struct scorch_sample_key *key, uint64_t count);
/* Keep a stack under its id (once): 0 or -ENOMEM. */
int window__put_stack(struct window *w, uint64_t id, const uint64_t *ip, uint32_t nr, uint32_t end);
/* A user stack unwound in user space ended so (enum unwind_end). */
void window__count_end(struct window *w, unsigned int end);

uint64_t window__samples(const struct window *w);
/* Samples unwound in user space, by how the unwind ended (UNWIND_END_MAX entries). */
const uint64_t *window__unwind_ends(const struct window *w);
/* Iterate the aggregated samples: start with *pos = 0. */
bool window__next(const struct window *w, size_t *pos, const struct scorch_sample_key **key,
		  uint64_t *count);
/* A stack by id; NULL for the placeholder ids and stacks not kept. */
const struct collected_stack *window__stack(const struct window *w, uint64_t id);

#endif
