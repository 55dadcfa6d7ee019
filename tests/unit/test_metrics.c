// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's /metrics page: known figures give exactly the page dashboards and alerts read
 * (metric names, HELP and TYPE lines, labels, values), and the page is Prometheus text: every
 * line a comment or "name value" / "name{labels} value", each sample under the TYPE line of its
 * metric.
 */
#include "check.h"
#include "metrics.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* What the figures of known_figures() give, line by line. */
static const char *const expected[] = {
	"# HELP scorch_program_runs_total Runs of the sampling program (the independent total).",
	"# TYPE scorch_program_runs_total counter",
	"scorch_program_runs_total 1001",
	"# HELP scorch_samples_total Samples recorded.",
	"# TYPE scorch_samples_total counter",
	"scorch_samples_total 1002",
	"# HELP scorch_idle_samples_total Samples of idle CPUs, not profiled.",
	"# TYPE scorch_idle_samples_total counter",
	"scorch_idle_samples_total 1003",
	"# HELP scorch_filtered_samples_total Samples of processes outside the -p filter.",
	"# TYPE scorch_filtered_samples_total counter",
	"scorch_filtered_samples_total 1004",
	"# HELP scorch_samples_lost_total Samples dropped, by reason.",
	"# TYPE scorch_samples_lost_total counter",
	"scorch_samples_lost_total{reason=\"counts_map_full\"} 1005",
	"# HELP scorch_stacks_lost_total Samples kept with a placeholder instead of a stack, by "
	"reason.",
	"# TYPE scorch_stacks_lost_total counter",
	"scorch_stacks_lost_total{reason=\"kernel_stack_map_full\"} 1006",
	"scorch_stacks_lost_total{reason=\"user_stack_map_full\"} 1007",
	"scorch_stacks_lost_total{reason=\"kernel_stack_fault\"} 1008",
	"scorch_stacks_lost_total{reason=\"user_stack_fault\"} 1009",
	"scorch_stacks_lost_total{reason=\"sample_ring_full\"} 1010",
	"# HELP scorch_user_stacks_unwound_total User stacks unwound with CFI, by how the unwind "
	"ended.",
	"# TYPE scorch_user_stacks_unwound_total counter",
	"scorch_user_stacks_unwound_total{end=\"complete\"} 2001",
	"scorch_user_stacks_unwound_total{end=\"stack_copy_exhausted\"} 2002",
	"scorch_user_stacks_unwound_total{end=\"depth_limit\"} 2003",
	"scorch_user_stacks_unwound_total{end=\"no_unwind_info\"} 2004",
	"scorch_user_stacks_unwound_total{end=\"unmapped_pc\"} 2005",
	"scorch_user_stacks_unwound_total{end=\"bad_unwind_info\"} 2006",
	"scorch_user_stacks_unwound_total{end=\"bad_stack\"} 2007",
	"scorch_user_stacks_unwound_total{end=\"no_user_registers\"} 2008",
	"# HELP scorch_intervals_total Profiling intervals closed.",
	"# TYPE scorch_intervals_total counter",
	"scorch_intervals_total 3001",
	"# HELP scorch_profiles_sent_total Profiles (WriteRaw requests) delivered.",
	"# TYPE scorch_profiles_sent_total counter",
	"scorch_profiles_sent_total 3002",
	"# HELP scorch_profile_send_failures_total Failed attempts to deliver a profile.",
	"# TYPE scorch_profile_send_failures_total counter",
	"scorch_profile_send_failures_total 3003",
	"# HELP scorch_profiles_rejected_total Profiles the server refused as invalid, or kept "
	"refusing while it took newer ones, dropped.",
	"# TYPE scorch_profiles_rejected_total counter",
	"scorch_profiles_rejected_total 3004",
	"# HELP scorch_profiles_spooled Profiles waiting in the spool.",
	"# TYPE scorch_profiles_spooled gauge",
	"scorch_profiles_spooled 4001",
	"# HELP scorch_spool_bytes Bytes in the spool.",
	"# TYPE scorch_spool_bytes gauge",
	"scorch_spool_bytes 4002",
	"# HELP scorch_profiles_dropped_total Spooled profiles dropped to stay within "
	"--spool-max-bytes (or the memory bound while the disk refuses them).",
	"# TYPE scorch_profiles_dropped_total counter",
	"scorch_profiles_dropped_total 4005",
	"# HELP scorch_spool_write_failures_total Profiles the spool's disk refused, held in memory "
	"instead.",
	"# TYPE scorch_spool_write_failures_total counter",
	"scorch_spool_write_failures_total 4007",
	"# HELP scorch_profiles_spooled_in_memory Profiles waiting in memory until the spool's disk "
	"takes them.",
	"# TYPE scorch_profiles_spooled_in_memory gauge",
	"scorch_profiles_spooled_in_memory 4003",
	"# HELP scorch_tracked_processes Processes whose mappings the agent keeps.",
	"# TYPE scorch_tracked_processes gauge",
	"scorch_tracked_processes 5001",
	"# HELP process_cpu_seconds_total CPU time of the agent.",
	"# TYPE process_cpu_seconds_total counter",
	"process_cpu_seconds_total 12.346",
	"# HELP process_resident_memory_bytes Resident memory of the agent.",
	"# TYPE process_resident_memory_bytes gauge",
	"process_resident_memory_bytes 31457280",
	"# HELP scorch_http_connections Open connections to the HTTP endpoint.",
	"# TYPE scorch_http_connections gauge",
	"scorch_http_connections 6001",
	"# HELP scorch_http_connection_limit Connections the HTTP endpoint takes at once (half of "
	"them from one address).",
	"# TYPE scorch_http_connection_limit gauge",
	"scorch_http_connection_limit 6002",
	"# HELP scorch_http_unauthorized_total HTTP requests refused for a missing or wrong bearer "
	"token.",
	"# TYPE scorch_http_unauthorized_total counter",
	"scorch_http_unauthorized_total 6003",
	"# HELP scorch_http_busy_total HTTP requests refused (503) while every worker had a full "
	"queue.",
	"# TYPE scorch_http_busy_total counter",
	"scorch_http_busy_total 6004",
	"# HELP scorch_http_errors_total HTTP connections closed on a protocol error or a limit "
	"(malformed, oversized or abandoned requests, the per-address connection limit).",
	"# TYPE scorch_http_errors_total counter",
	"scorch_http_errors_total 6005",
	NULL,
};

/* Every figure different, so that one put in another's place shows. */
static void known_figures(struct metrics *m)
{
	*m = (struct metrics){
		.program_runs = 1001,
		.samples = 1002,
		.idle_samples = 1003,
		.filtered_samples = 1004,
		.lost_counts_full = 1005,
		.lost_kstack_full = 1006,
		.lost_ustack_full = 1007,
		.lost_kstack_fault = 1008,
		.lost_ustack_fault = 1009,
		.lost_ustack_copy = 1010,
		.intervals = 3001,
		.profiles_sent = 3002,
		.send_failures = 3003,
		.profiles_rejected = 3004,
		.spool = { .entries = 4001,
			   .bytes = 4002,
			   .memory_entries = 4003,
			   .memory_bytes = 4004,
			   .dropped = 4005,
			   .corrupt = 4006,
			   .write_failures = 4007 },
		.tracked_processes = 5001,
		.cpu_seconds = 12.3456,
		.resident_bytes = 30 << 20,
		.http = { .connections = 6001,
			  .connection_limit = 6002,
			  .unauthorized = 6003,
			  .busy = 6004,
			  .errors = 6005 },
	};
	/* not unwound here (frame-pointer stacks): not a way an unwind ends, not shown */
	m->unwind_ends[UNWIND_END_UNKNOWN] = 9999;
	for (int i = UNWIND_END_COMPLETE; i < UNWIND_END_MAX; i++)
		m->unwind_ends[i] = 2000 + i;
}

static bool is_name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' ||
	       (!first && isdigit((unsigned char)c));
}

/* The length of the metric name at s, 0 when there is none. */
static size_t name_len(const char *s)
{
	size_t n = 0;

	while (is_name_char(s[n], n == 0))
		n++;
	return n;
}

/* {name="value",...} at s: its length, 0 when malformed. */
static size_t labels_len(const char *s)
{
	const char *p = s;

	if (*p++ != '{')
		return 0;
	for (;;) {
		size_t n = name_len(p);

		if (!n || p[n] != '=' || p[n + 1] != '"')
			return 0;
		for (p += n + 2; *p && *p != '"'; p++)
			if (*p == '\\' && p[1])
				p++;
		if (*p++ != '"')
			return 0;
		if (*p == '}')
			return p + 1 - s;
		if (*p++ != ',')
			return 0;
	}
}

static bool is_number(const char *s)
{
	char *end;

	if (!*s)
		return false;
	strtod(s, &end);
	return !*end;
}

/*
 * Prometheus' text format, as its parser reads the lines: "# HELP name text", "# TYPE name
 * counter|gauge", then samples "name[{labels}] value" of the metric just typed.
 */
static void check_exposition(char *page)
{
	char typed[128] = "";
	size_t lines = 0;

	CHECK(page[0] && page[strlen(page) - 1] == '\n');
	for (char *line = strtok(page, "\n"); line; line = strtok(NULL, "\n")) {
		size_t n;

		lines++;
		if (!strncmp(line, "# HELP ", 7)) {
			n = name_len(line + 7);
			CHECK(n && line[7 + n] == ' ' && line[8 + n]);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			n = name_len(line + 7);
			CHECK(n && (!strcmp(line + 7 + n, " counter") ||
				    !strcmp(line + 7 + n, " gauge")));
			snprintf(typed, sizeof(typed), "%.*s", (int)n, line + 7);
			continue;
		}
		CHECK(line[0] != '#');
		n = name_len(line);
		CHECK(n > 0);
		if (!n)
			continue;
		/* a sample belongs to the metric of the TYPE line above it */
		CHECK(strlen(typed) == n && !strncmp(line, typed, n));
		if (line[n] == '{') {
			size_t l = labels_len(line + n);

			CHECK(l > 0);
			n += l;
		}
		CHECK(line[n] == ' ');
		if (line[n] == ' ')
			CHECK(is_number(line + n + 1));
	}
	CHECK(lines > 0);
}

static void check_page(void)
{
	struct metrics m;
	char *page, *copy, *line, *save = NULL;
	size_t i = 0;

	known_figures(&m);
	page = metrics__format(&m);
	CHECK(page != NULL);
	if (!page)
		return;
	copy = strdup(page);
	CHECK(copy != NULL);
	/* line by line, so that a difference names its line */
	for (line = strtok_r(page, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		CHECK(expected[i] != NULL);
		if (!expected[i])
			break;
		CHECK_STR(line, expected[i]);
	}
	CHECK(expected[i] == NULL);
	if (copy)
		check_exposition(copy);
	free(copy);
	free(page);
}

/* A process without figures yet (no sender, no samples): all zeros, still a whole page. */
static void check_zeros(void)
{
	struct metrics m = { 0 };
	char *page = metrics__format(&m);
	size_t samples = 0;

	CHECK(page != NULL);
	if (!page)
		return;
	CHECK(strstr(page, "\nscorch_profiles_sent_total 0\n") != NULL);
	CHECK(strstr(page, "\nprocess_cpu_seconds_total 0.000\n") != NULL);
	for (const char *const *e = expected; *e; e++)
		samples += (*e)[0] != '#';
	for (const char *p = page; *p; p = strchr(p, '\n') + 1) {
		samples -= *p != '#';
		if (!strchr(p, '\n'))
			break;
	}
	CHECK_INT(samples, 0);
	check_exposition(page);
	free(page);
}

int main(void)
{
	check_page();
	check_zeros();
	return check_done("metrics");
}
