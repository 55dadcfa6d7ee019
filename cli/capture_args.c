// SPDX-License-Identifier: LGPL-2.1-or-later
/* The capture options of record, flame and agent, defined once (capture_args.h). */
#include "capture_args.h"
#include "capture.h"
#include "cli.h"
#include "privileges.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_BTF = 0x1000,
	OPT_DEBUG_DIR,
	OPT_DEBUG_LINES,
	OPT_NO_DEBUG_LINES,
	OPT_NO_PYTHON,
	OPT_UNWIND,
	OPT_STACK_COPY,
	OPT_DEBUGINFOD_TIMEOUT,
};

static const struct capture_option {
	struct option opt;
	unsigned int sets;
	const char *help; /* record's and flame's help line(s) */
	const char *agent_help; /* the agent's, in its wider column */
} capture_options[] = {
	{ { "freq", required_argument, NULL, 'F' },
	  CAPTURE_SET_ONE_SHOT | CAPTURE_SET_AGENT,
	  "  -F, --freq HZ          samples per second on each CPU, 1-10000 (default 99)\n",
	  "  -F, --freq HZ                          samples per second per CPU (default 99)\n" },
	{ { "duration", required_argument, NULL, 'd' },
	  CAPTURE_SET_ONE_SHOT,
	  "  -d, --duration TIME    stop after TIME: seconds, or as Go writes it (1m30s)\n" },
	{ { "pid", required_argument, NULL, 'p' },
	  CAPTURE_SET_ONE_SHOT | CAPTURE_SET_AGENT,
	  "  -p, --pid PID[,PID...] profile only these processes, all their threads,\n"
	  "                         until they have all exited\n",
	  "  -p, --pid PID[,PID...]                 only these processes\n" },
	{ { "btf", required_argument, NULL, OPT_BTF },
	  CAPTURE_SET_ONE_SHOT,
	  "      --btf FILE         kernel BTF to use when the kernel has none of its own\n" },
	{ { "debug-dir", required_argument, NULL, OPT_DEBUG_DIR },
	  CAPTURE_SET_ONE_SHOT,
	  "      --debug-dir DIR    also look for separate debug files under DIR (repeatable)\n" },
	{ { "no-debug-lines", no_argument, NULL, OPT_NO_DEBUG_LINES },
	  CAPTURE_SET_ONE_SHOT,
	  "      --no-debug-lines   only symbols from separate debug files, not their lines and\n"
	  "                         inlined functions (read one compilation unit at a time)\n" },
	{ { "debug-lines", no_argument, NULL, OPT_DEBUG_LINES },
	  CAPTURE_SET_ONE_SHOT | CAPTURE_SET_AGENT,
	  "      --debug-lines      lines from separate debug files (the default)\n",
	  "      --debug-lines                      lines and inlined functions from separate\n"
	  "                                         debug files here, also for\n"
	  "                                         /debug/pprof/profile (off: the server\n"
	  "                                         symbolizes uploaded debuginfo, and memory\n"
	  "                                         stays flat)\n" },
	{ { "no-python", no_argument, NULL, OPT_NO_PYTHON },
	  CAPTURE_SET_ONE_SHOT | CAPTURE_SET_AGENT,
	  "      --no-python        do not walk CPython's interpreter frames (Python programs\n"
	  "                         then show the interpreter's C functions only)\n",
	  "      --no-python                        no Python frames, the interpreter's C only\n" },
	{ { "debuginfod-timeout", required_argument, NULL, OPT_DEBUGINFOD_TIMEOUT },
	  CAPTURE_SET_ONE_SHOT,
	  "      --debuginfod-timeout TIME\n"
	  "                         when DEBUGINFOD_URLS is set, ask its servers for missing\n"
	  "                         debug files after the capture, for TIME in all (default\n"
	  "                         15s; 0: never ask)\n" },
	{ { "unwind", required_argument, NULL, OPT_UNWIND },
	  CAPTURE_SET_ONE_SHOT | CAPTURE_SET_AGENT,
	  "      --unwind MODE      user stacks: auto (the default), fp or dwarf. dwarf copies\n"
	  "                         the top of the stack and unwinds it with the call frame\n"
	  "                         information, right without frame pointers; fp follows\n"
	  "                         frame pointers in the kernel; auto uses fp for processes\n"
	  "                         whose code all keeps them, dwarf for the others\n",
	  "      --unwind MODE                      auto (default), fp or dwarf, as for record\n" },
	{ { "stack-copy", required_argument, NULL, OPT_STACK_COPY },
	  CAPTURE_SET_ONE_SHOT | CAPTURE_SET_AGENT,
	  "      --stack-copy BYTES user stack copied per sample for dwarf unwinding,\n"
	  "                         1024-65536 (default 32768)\n",
	  "      --stack-copy BYTES                 as for record (default 32768)\n" },
	{ { "quiet", no_argument, NULL, 'q' },
	  CAPTURE_SET_ONE_SHOT,
	  "  -q, --quiet            no status line and no summary\n" },
	{ { "verbose", no_argument, NULL, 'v' },
	  CAPTURE_SET_ONE_SHOT,
	  "  -v, --verbose          also account for every program run in the summary\n" },
};

void capture_args__init(struct capture_args *a)
{
	memset(a, 0, sizeof(*a));
	a->freq = 99;
	a->unwind = SCORCH_UNWIND_AUTO;
	a->stack_copy = 32768;
	a->debuginfod_ns = 15000000000ULL;
	/* the agent turns it off: see its --debug-lines */
	a->debug_lines = true;
}

int capture_args__options(unsigned int set, struct option *opts, size_t max, char *shortopts,
			  size_t shortmax)
{
	size_t n = 0, s = strlen(shortopts);

	while (n < max && opts[n].name)
		n++;
	for (size_t i = 0; i < ARRAY_SIZE(capture_options); i++) {
		const struct option *o = &capture_options[i].opt;

		if (!(capture_options[i].sets & set))
			continue;
		if (n + 1 >= max || s + 3 >= shortmax)
			return -E2BIG;
		opts[n++] = *o;
		if (o->val < 0x100) {
			shortopts[s++] = o->val;
			if (o->has_arg == required_argument)
				shortopts[s++] = ':';
		}
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	shortopts[s] = 0;
	return 0;
}

void capture_args__usage(unsigned int set, FILE *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(capture_options); i++) {
		const struct capture_option *o = &capture_options[i];

		if (o->sets & set)
			fputs(set == CAPTURE_SET_AGENT ? o->agent_help : o->help, f);
	}
}

/* PID[,PID...]: every comma-separated field must be a pid ("1,,2" and "1," are errors). */
static int parse_pids(struct capture_args *a, const char *list)
{
	const char *p = list;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char tok[16];
		uint64_t v;

		if (!len || len >= sizeof(tok))
			return -EINVAL;
		memcpy(tok, p, len);
		tok[len] = 0;
		if (parse_u64(tok, 10, 1, INT32_MAX, &v))
			return -EINVAL;
		if (a->npids >= CAPTURE_MAX_PIDS)
			return -E2BIG;
		a->pids[a->npids++] = v;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static bool in_set(unsigned int set, int c)
{
	for (size_t i = 0; i < ARRAY_SIZE(capture_options); i++)
		if (capture_options[i].opt.val == c)
			return capture_options[i].sets & set;
	return false;
}

int capture_args__parse(struct capture_args *a, unsigned int set, int c, const char *value)
{
	int unwind;
	uint64_t v;

	if (!in_set(set, c))
		return 0;
	switch (c) {
	case 'F':
		if (parse_u64(value, 10, 1, 10000, &v)) {
			log_error("invalid frequency '%s': must be 1-10000 Hz", value);
			return -EINVAL;
		}
		a->freq = v;
		return 1;
	case 'd':
		if (parse_duration_ns(value, &a->duration_ns) || !a->duration_ns) {
			log_error("invalid duration '%s': seconds, or a number with a unit (500ms, "
				  "10s, 1m)",
				  value);
			return -EINVAL;
		}
		return 1;
	case 'p':
		if (parse_pids(a, value)) {
			log_error("invalid pid list '%s': expected PID[,PID...] (at most %d)",
				  value, CAPTURE_MAX_PIDS);
			return -EINVAL;
		}
		return 1;
	case OPT_BTF:
		a->btf = value;
		return 1;
	case OPT_DEBUG_DIR:
		if (a->ndebug_dirs >= CAPTURE_MAX_DEBUG_DIRS) {
			log_error("at most %d --debug-dir options", CAPTURE_MAX_DEBUG_DIRS);
			return -EINVAL;
		}
		a->debug_dirs[a->ndebug_dirs++] = value;
		return 1;
	case OPT_DEBUG_LINES:
		a->debug_lines = true;
		return 1;
	case OPT_NO_DEBUG_LINES:
		a->debug_lines = false;
		return 1;
	case OPT_NO_PYTHON:
		a->no_python = true;
		return 1;
	case OPT_UNWIND:
		if (parse_unwind_option(value, &unwind))
			return -EINVAL;
		a->unwind = unwind;
		return 1;
	case OPT_DEBUGINFOD_TIMEOUT:
		if (!strcmp(value, "0")) {
			a->debuginfod_ns = 0;
			return 1;
		}
		if (parse_duration_ns(value, &a->debuginfod_ns)) {
			log_error(
			    "invalid debuginfod timeout '%s': seconds, or a number with a unit "
			    "(500ms, 10s, 1m30s)",
			    value);
			return -EINVAL;
		}
		return 1;
	case OPT_STACK_COPY:
		return parse_stack_copy_option(value, &a->stack_copy) ? -EINVAL : 1;
	case 'q':
		a->quiet = true;
		return 1;
	case 'v':
		a->verbose = true;
		return 1;
	default:
		return 0;
	}
}

/*
 * SCORCH_BPF_PROGRAM=compat (or current) makes the capture load that build of the BPF program
 * whatever the kernel offers: the tests run the compat program on new kernels this way.
 */
static enum session_program bpf_program_choice(void)
{
	const char *v = getenv("SCORCH_BPF_PROGRAM");

	if (!v || !*v || !strcmp(v, "auto"))
		return SESSION_PROGRAM_AUTO;
	if (!strcmp(v, "compat"))
		return SESSION_PROGRAM_COMPAT;
	if (!strcmp(v, "current"))
		return SESSION_PROGRAM_CURRENT;
	log_warn("ignoring SCORCH_BPF_PROGRAM='%s': use auto, current or compat", v);
	return SESSION_PROGRAM_AUTO;
}

void capture_args__to_opts(const struct capture_args *a, struct capture_opts *o)
{
	o->freq = a->freq;
	o->pids = a->npids ? a->pids : NULL;
	o->npids = a->npids;
	o->unwind = a->unwind;
	o->stack_copy = a->stack_copy;
	o->btf_path = a->btf;
	o->debug_dirs = a->debug_dirs;
	o->ndebug_dirs = a->ndebug_dirs;
	o->debug_lines = a->debug_lines;
	o->no_python = a->no_python;
	o->program = bpf_program_choice();
}

int parse_unwind_option(const char *s, int *ret)
{
	static const struct {
		const char *name;
		int mode;
	} modes[] = {
		{ "auto", SCORCH_UNWIND_AUTO },
		{ "fp", SCORCH_UNWIND_FP },
		{ "dwarf", SCORCH_UNWIND_DWARF },
	};

	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (!strcmp(s, modes[i].name)) {
			*ret = modes[i].mode;
			return 0;
		}
	log_error("unknown unwinding '%s': use auto, fp or dwarf", s);
	return -EINVAL;
}

int parse_stack_copy_option(const char *s, uint32_t *ret)
{
	uint64_t v;

	if (parse_u64(s, 10, 1024, SCORCH_MAX_STACK_COPY, &v)) {
		log_error("invalid stack copy size '%s': must be 1024-%d bytes", s,
			  SCORCH_MAX_STACK_COPY);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int check_privileges(bool quiet)
{
	struct privilege_gap gaps[8];
	struct privileges p;
	char required[512] = "";
	size_t n, len = 0;
	int r;

	r = privileges__read(&p);
	if (r) {
		log_error("cannot read the process's capabilities: %s", strerror(-r));
		return r;
	}
	n = privileges__gaps(&p, gaps, ARRAY_SIZE(gaps));
	if (n > ARRAY_SIZE(gaps))
		n = ARRAY_SIZE(gaps);
	for (size_t i = 0; i < n; i++)
		if (gaps[i].required && len < sizeof(required))
			len += snprintf(required + len, sizeof(required) - len, "%s%s (%s)",
					len ? " and " : "", gaps[i].cap, gaps[i].effect);
	if (len) {
		log_error("missing %s: needs root, or the CAP_BPF and CAP_PERFMON capabilities",
			  required);
		return -EPERM;
	}
	for (size_t i = 0; i < n && !quiet; i++)
		log_warn("no %s: %s", gaps[i].cap, gaps[i].effect);
	return 0;
}
