/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's /metrics page: the figures the caller gathered, in Prometheus' text format. */
#ifndef SCORCH_METRICS_H
#define SCORCH_METRICS_H

#include "http.h"
#include "spool.h"
#include "unwind.h"

#include <stdint.h>

struct metrics {
	/* the sampling program's counters */
	uint64_t program_runs, samples, idle_samples, filtered_samples;
	uint64_t lost_counts_full; /* samples dropped: the counts map was full */
	/* samples kept with a placeholder instead of a stack, by reason */
	uint64_t lost_kstack_full, lost_ustack_full, lost_kstack_fault, lost_ustack_fault;
	uint64_t lost_ustack_copy; /* the sample ring was full */
	uint64_t unwind_ends[UNWIND_END_MAX]; /* user stacks unwound, by how the unwind ended */
	uint64_t intervals; /* profiling intervals closed */
	uint64_t tracked_processes;
	/* the sender's (zero without a remote store) */
	uint64_t profiles_sent, send_failures, profiles_rejected;
	struct spool_stats spool;
	/* the agent process */
	double cpu_seconds;
	uint64_t resident_bytes;
	struct http_stats http;
};

/* The page, malloc'ed; NULL with errno ENOMEM. */
char *metrics__format(const struct metrics *m);

#endif
