/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The collector: receives drained (key, count) pairs, stacks and copied user stacks (unwound
 * here, once), counts them into the windows attached, and keeps the symbolizer's process
 * snapshots current while the processes live.
 */
#ifndef SCORCH_COLLECT_H
#define SCORCH_COLLECT_H

#include <stdint.h>

#include "profile.h"
#include "session.h"
#include "window.h"

struct collector;
struct symbolizer;
struct window;

/* Windows a collector feeds at once: the agent's interval and one HTTP capture, with room. */
#define COLLECTOR_MAX_WINDOWS 4

/* Auto unwinding: called after each snapshot with whether all of the process's code keeps frame pointers. */
typedef void (*collector_fp_fn)(void *ctx, uint32_t pid, uint32_t seq, bool keeps);

/*
 * Python: called after a snapshot finds a CPython interpreter scorch can walk, with where the
 * BPF program finds its threads and frames, or with NULL when it is not to be walked any more.
 * 0, or a negative errno (the program's map is full).
 */
typedef int (*collector_py_fn)(void *ctx, uint32_t pid, const struct scorch_py_proc *py);

/*
 * The mapping thread tid's stack lies in, for the program to bound the copies of its stack
 * (NULL: none known any more). 0 or -errno.
 */
typedef int (*collector_stack_fn)(void *ctx, uint32_t tid, const struct scorch_stack_range *r);

/* What the collector refused, for -v and the agent's metrics. */
struct collector_stats {
	uint64_t python_refused; /* interpreters whose offsets the BPF program cannot read */
	uint64_t python_map_full; /* Python processes not walked: the program's map was full */
	uint64_t python_read_budget; /* code objects not read in a round: past a process's budget */
	uint64_t fp_fallback; /* user stacks unwound in part without CFI (frame pointers, JIT) */
	uint64_t stack_ranges; /* threads' stack mappings looked up for the program */
	uint64_t stack_bounded; /* copies that ended at their thread's stack mapping's end */
	uint64_t stack_unbounded; /* threads whose stack went on past that mapping: not bounded */
};

struct collector *collector__new(struct symbolizer *sym);
void collector__free(struct collector *c);
/*
 * Windows receive every sample and stack from now on, each unwound once for all of them.
 * 0, or -E2BIG beyond COLLECTOR_MAX_WINDOWS. A window is detached before it is freed.
 */
int collector__attach(struct collector *c, struct window *w);
void collector__detach(struct collector *c, struct window *w);
/* The drain callbacks to pass to session__drain(). */
const struct drain_ops *collector__drain_ops(struct collector *c);
void collector__set_fp_hook(struct collector *c, collector_fp_fn fn, void *ctx);
void collector__set_py_hook(struct collector *c, collector_py_fn fn, void *ctx);
/* 0, or -ENOMEM: the table of threads' stacks is allocated here */
int collector__set_stack_hook(struct collector *c, collector_stack_fn fn, void *ctx);
void collector__stats(const struct collector *c, struct collector_stats *ret);
/* Unwind a sample whose user stack was copied, and count it in every window. */
void collector__raw_sample(struct collector *c, const struct scorch_raw_sample *raw);
/* Handle a process event from the ring buffer (snapshot new processes). */
void collector__event(struct collector *c, const struct scorch_event *e);
/* Start a new drain round: processes may be re-read once per round. */
void collector__next_round(struct collector *c);

/*
 * An interval ends (the agent): processes that exited during the interval before the last one
 * are dropped from the symbolizer, their last samples having been built into a profile by now.
 */
void collector__end_interval(struct collector *c);

#endif
