// SPDX-License-Identifier: LGPL-2.1-or-later
/* scorch: the command dispatcher. */
#include "cli.h"
#include "privileges.h"
#include "profile.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

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

/*
 * Flags of Parca Agent (and others) that scorch spells differently: refused with a pointer to
 * scorch's own, never echoing a value (it may be a secret).
 */
static const struct {
	const char *flag, *hint;
} foreign_flags[] = {
	{ "remote-store-bearer-token",
	  "scorch reads the token from a file: use --remote-store-bearer-token-file FILE" },
};

/* What the user typed of an option, without any "=VALUE": it may hold a secret. */
static void option_name(const char *arg, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s", (int)strcspn(arg, "="), arg);
}

static void unknown_option(const char *cmd, const char *arg)
{
	char name[128];

	option_name(arg, name, sizeof(name));
	for (size_t i = 0; i < ARRAY_SIZE(foreign_flags); i++)
		if (!strncmp(name, "--", 2) && !strcmp(name + 2, foreign_flags[i].flag)) {
			log_error("option '%s' is not scorch's: %s", name, foreign_flags[i].hint);
			return;
		}
	log_error("unknown option '%s' (try 'scorch %s --help')", name, cmd);
}

int getopt_exact(int argc, char **argv, const char *shortopts, const struct option *longopts,
		 const char *cmd)
{
	int idx = -1, c = getopt_long(argc, argv, shortopts, longopts, &idx);
	const char *typed;
	size_t n;

	if (c == ':') {
		char name[128];

		option_name(argv[optind - 1], name, sizeof(name));
		log_error("option '%s' needs a value (try 'scorch %s --help')", name, cmd);
		return '?';
	}
	if (c == '?') {
		if (optopt)
			log_error("unknown option '-%c' (try 'scorch %s --help')", optopt, cmd);
		else
			unknown_option(cmd, argv[optind - 1]);
		return '?';
	}
	if (c == -1 || idx < 0)
		return c;
	/* the element that named the option: before its value when that came apart */
	typed = optarg && optind >= 2 && argv[optind - 1] == optarg ? argv[optind - 2]
								    : argv[optind - 1];
	n = strcspn(typed + 2, "=");
	if (strncmp(typed, "--", 2) || strlen(longopts[idx].name) != n ||
	    strncmp(typed + 2, longopts[idx].name, n)) {
		unknown_option(cmd, typed);
		return '?';
	}
	return c;
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
	      "  record       profile the machine, some processes or a command: pprof or folded\n"
	      "  report       print the hottest functions of a profile\n"
	      "  flame        draw a flame graph (SVG) of a capture or a profile\n"
	      "  diff         compare two profiles: what grew, what shrank, what is noise\n"
	      "  agent        profile the machine continuously, push to a Parca server\n"
	      "  healthcheck  ask a running agent's /healthz (for exec probes)\n"
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

/*
 * Descriptors are held per process profiled (perf maps) and per HTTP connection: the soft limit
 * (often 1024) goes up to the hard one, as systemd advises for programs that need many.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	raise_fd_limit();

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
	if (!strcmp(cmd, "healthcheck"))
		return cmd_healthcheck(argc - 1, argv + 1);
	log_error("unknown command '%s' (try 'scorch --help')", cmd);
	return EXIT_USAGE;
}
