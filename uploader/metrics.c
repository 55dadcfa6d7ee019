// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's /metrics page in Prometheus' text exposition format (each metric with its HELP
 * and TYPE lines), from figures the caller gathered: nothing here reads a global.
 */
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct page {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) put(struct page *p, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	for (;;) {
		if (p->failed)
			return;
		if (p->cap - p->len < 2 &&
		    grow_array((void **)&p->buf, &p->cap, p->len + 4096, 1)) {
			p->failed = true;
			return;
		}
		va_start(ap, fmt);
		n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < p->cap - p->len)
			break;
		if (n < 0 || grow_array((void **)&p->buf, &p->cap, p->len + n + 1, 1)) {
			p->failed = true;
			return;
		}
	}
	p->len += n;
}

/* One metric with its help and type lines. */
static void metric(struct page *p, const char *name, const char *type, const char *help,
		   uint64_t value)
{
	put(p, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, value);
}

char *metrics__format(const struct metrics *m)
{
	const struct {
		uint64_t value;
		const char *reason;
	} stack_lost[] = {
		{ m->lost_kstack_full, "kernel_stack_map_full" },
		{ m->lost_ustack_full, "user_stack_map_full" },
		{ m->lost_kstack_fault, "kernel_stack_fault" },
		{ m->lost_ustack_fault, "user_stack_fault" },
		{ m->lost_ustack_copy, "sample_ring_full" },
	};
	struct page p = { 0 };

	metric(&p, "scorch_program_runs_total", "counter",
	       "Runs of the sampling program (the independent total).", m->program_runs);
	metric(&p, "scorch_samples_total", "counter", "Samples recorded.", m->samples);
	metric(&p, "scorch_idle_samples_total", "counter", "Samples of idle CPUs, not profiled.",
	       m->idle_samples);
	metric(&p, "scorch_filtered_samples_total", "counter",
	       "Samples of processes outside the -p filter.", m->filtered_samples);
	put(&p,
	    "# HELP scorch_samples_lost_total Samples dropped, by reason.\n"
	    "# TYPE scorch_samples_lost_total counter\n"
	    "scorch_samples_lost_total{reason=\"counts_map_full\"} %" PRIu64 "\n",
	    m->lost_counts_full);
	put(&p, "# HELP scorch_stacks_lost_total Samples kept with a placeholder instead of a "
		"stack, by reason.\n# TYPE scorch_stacks_lost_total counter\n");
	for (size_t i = 0; i < ARRAY_SIZE(stack_lost); i++)
		put(&p, "scorch_stacks_lost_total{reason=\"%s\"} %" PRIu64 "\n",
		    stack_lost[i].reason, stack_lost[i].value);
	put(&p, "# HELP scorch_user_stacks_unwound_total User stacks unwound with CFI, by how "
		"the unwind ended.\n# TYPE scorch_user_stacks_unwound_total counter\n");
	for (int i = UNWIND_END_COMPLETE; i < UNWIND_END_MAX; i++) {
		char reason[64];

		snprintf(reason, sizeof(reason), "%s", unwind_end_name(i));
		for (char *c = reason; *c; c++)
			*c = *c == ' ' ? '_' : *c;
		put(&p, "scorch_user_stacks_unwound_total{end=\"%s\"} %" PRIu64 "\n", reason,
		    m->unwind_ends[i]);
	}
	metric(&p, "scorch_intervals_total", "counter", "Profiling intervals closed.",
	       m->intervals);
	metric(&p, "scorch_profiles_sent_total", "counter",
	       "Profiles (WriteRaw requests) delivered.", m->profiles_sent);
	metric(&p, "scorch_profile_send_failures_total", "counter",
	       "Failed attempts to deliver a profile.", m->send_failures);
	metric(&p, "scorch_profiles_rejected_total", "counter",
	       "Profiles the server refused as invalid, or kept refusing while it took newer "
	       "ones, dropped.",
	       m->profiles_rejected);
	metric(&p, "scorch_profiles_spooled", "gauge", "Profiles waiting in the spool.",
	       m->spool.entries);
	metric(&p, "scorch_spool_bytes", "gauge", "Bytes in the spool.", m->spool.bytes);
	metric(&p, "scorch_profiles_dropped_total", "counter",
	       "Spooled profiles dropped to stay within --spool-max-bytes (or the memory bound "
	       "while the disk refuses them).",
	       m->spool.dropped);
	metric(&p, "scorch_spool_write_failures_total", "counter",
	       "Profiles the spool's disk refused, held in memory instead.",
	       m->spool.write_failures);
	metric(&p, "scorch_profiles_spooled_in_memory", "gauge",
	       "Profiles waiting in memory until the spool's disk takes them.",
	       m->spool.memory_entries);
	metric(&p, "scorch_tracked_processes", "gauge", "Processes whose mappings the agent keeps.",
	       m->tracked_processes);
	put(&p,
	    "# HELP process_cpu_seconds_total CPU time of the agent.\n"
	    "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n",
	    m->cpu_seconds);
	metric(&p, "process_resident_memory_bytes", "gauge", "Resident memory of the agent.",
	       m->resident_bytes);
	metric(&p, "scorch_http_connections", "gauge", "Open connections to the HTTP endpoint.",
	       m->http.connections);
	metric(&p, "scorch_http_connection_limit", "gauge",
	       "Connections the HTTP endpoint takes at once (half of them from one address).",
	       m->http.connection_limit);
	metric(&p, "scorch_http_unauthorized_total", "counter",
	       "HTTP requests refused for a missing or wrong bearer token.", m->http.unauthorized);
	metric(&p, "scorch_http_busy_total", "counter",
	       "HTTP requests refused (503) while every worker had a full queue.", m->http.busy);
	metric(&p, "scorch_http_errors_total", "counter",
	       "HTTP connections closed on a protocol error or a limit (malformed, oversized or "
	       "abandoned requests, the per-address connection limit).",
	       m->http.errors);
	if (p.failed) {
		free(p.buf);
		errno = ENOMEM;
		return NULL;
	}
	return p.buf;
}
