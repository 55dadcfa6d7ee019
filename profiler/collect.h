/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The collector: receives drained (key, count) pairs and stacks, aggregates them in user space,
 * and keeps the symbolizer's process snapshots current while the processes live.
 */
#ifndef SCORCH_COLLECT_H
#define SCORCH_COLLECT_H

#include <stdint.h>

#include "profile.h"
#include "session.h"

struct collector;
struct symbolizer;

struct collected_stack {
	uint32_t nr;
	uint32_t end; /* enum unwind_end: how a user stack unwound in user space ended */
	uint64_t ip[];
};

/* Auto unwinding: called after each snapshot with whether all of the process's code keeps frame pointers. */
typedef void (*collector_fp_fn)(void *ctx, uint32_t pid, uint32_t seq, bool keeps);

struct collector *collector__new(struct symbolizer *sym);
void collector__free(struct collector *c);
/* The drain callbacks to pass to session__drain(). */
const struct drain_ops *collector__drain_ops(struct collector *c);
void collector__set_fp_hook(struct collector *c, collector_fp_fn fn, void *ctx);
/* Unwind and count a sample whose user stack was copied. */
void collector__raw_sample(struct collector *c, const struct scorch_raw_sample *raw);
/* Samples unwound in user space, by how the unwind ended (enum unwind_end). */
const uint64_t *collector__unwind_ends(const struct collector *c);
/* Handle a process event from the ring buffer (snapshot new processes). */
void collector__event(struct collector *c, const struct scorch_event *e);
/* Start a new drain round: processes may be re-read once per round. */
void collector__next_round(struct collector *c);

/*
 * Start a new interval (the agent): forget the samples and stacks, keep the caches. Processes
 * that exited during the interval before the last one are dropped from the symbolizer: their
 * last samples have been built into a profile by now.
 */
void collector__reset(struct collector *c);

uint64_t collector__samples(const struct collector *c);
/* Iterate the aggregated samples: start with *pos = 0. */
bool collector__next(const struct collector *c, size_t *pos, const struct scorch_sample_key **key,
		     uint64_t *count);
const struct collected_stack *collector__stack(const struct collector *c, uint64_t id);

#endif
