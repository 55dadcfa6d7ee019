// SPDX-License-Identifier: LGPL-2.1-or-later
/* scorch: the command dispatcher. */
#include "cli.h"
#include "privileges.h"
#include "profile.h"
#include "util.h"

#include <errno.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void log_error(const char *fmt, ...)
{
	va_list ap;

	fputs("scorch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("scorch: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	fputs("scorch: info: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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

static void usage(FILE *f)
{
	fputs("Usage: scorch COMMAND [OPTIONS]\n"
	      "\n"
	      "A CPU profiler for Linux: samples kernel and user stacks with BPF, writes pprof.\n"
	      "\n"
	      "Commands:\n"
	      "  record   profile the machine, some processes or a command; write pprof or folded\n"
	      "  report   print the hottest functions of a profile\n"
	      "  flame    draw a flame graph (SVG) of a capture or a profile\n"
	      "  diff     compare two profiles: what grew, what shrank, what is noise\n"
	      "  agent    profile the machine continuously, push to a Parca server\n"
	      "\n"
	      "Options:\n"
	      "  -h, --help     show this help\n"
	      "  -V, --version  show the version\n"
	      "\n"
	      "Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 a check failed.\n"
	      "\n"
	      "Examples:\n"
	      "  scorch record -d 10 -o profile.pb.gz    # the whole machine for 10 seconds\n"
	      "  scorch record -p 1234 -o app.pb.gz      # one process until Ctrl-C\n"
	      "  scorch record -- make -j2               # a command, until it exits\n"
	      "  scorch report profile.pb.gz --top 10\n"
	      "  scorch flame -d 10 -o flame.svg\n"
	      "  scorch diff before.pb.gz after.pb.gz --fail-on-regression 2\n"
	      "\n"
	      "Run 'scorch COMMAND --help' for the options of a command.\n",
	      f);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("scorch %s\n", SCORCH_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(cmd, "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(cmd, "agent"))
		return cmd_agent(argc - 1, argv + 1);
	if (!strcmp(cmd, "flame"))
		return cmd_flame(argc - 1, argv + 1);
	if (!strcmp(cmd, "diff"))
		return cmd_diff(argc - 1, argv + 1);
	log_error("unknown command '%s' (try 'scorch --help')", cmd);
	return EXIT_USAGE;
}
