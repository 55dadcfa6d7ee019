// SPDX-License-Identifier: LGPL-2.1-or-later
/* scorch: the command dispatcher. */
#include "cli.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "record", cmd_record },   { "report", cmd_report }, { "agent", cmd_agent },
	{ "flame", cmd_flame },	    { "diff", cmd_diff },     { "healthcheck", cmd_healthcheck },
	{ "convert", cmd_convert },
};

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
	      "  convert      turn a pprof into folded stacks, or folded stacks into a pprof\n"
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
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	log_error("unknown command '%s' (try 'scorch --help')", cmd);
	return EXIT_USAGE;
}
