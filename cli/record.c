// SPDX-License-Identifier: LGPL-2.1-or-later
/* scorch record: one capture of the machine, some processes or a command, written to a file. */
#include "capture_args.h"
#include "model.h"
#include "cli.h"
#include "oneshot.h"
#include "output.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *arg_output;
static enum output_format arg_format = OUTPUT_PPROF;
/* folded stacks: the process name first, as perf's stackcollapse writes them */
static struct folded_opts arg_folded = { .comm_root = true };
static struct capture_args arg_capture;

static void record_usage(FILE *f)
{
	fputs("Usage: scorch record [OPTIONS] [-- COMMAND [ARG...]]\n"
	      "\n"
	      "Sample the kernel and user stacks on every CPU and write a CPU profile.\n"
	      "Without -p or COMMAND the whole machine is profiled until Ctrl-C or -d.\n"
	      "\n"
	      "Options:\n",
	      f);
	capture_args__usage(CAPTURE_SET_ONE_SHOT, f);
	fputs("  -o, --output FILE      where to write (default profile.pb.gz, or profile.folded)\n"
	      "      --format FORMAT    pprof (gzip-compressed, the default) or folded\n"
	      "      --no-comm-root     folded: stacks without the process name as first frame\n"
	      "      --per-pid          folded: the first frame is comm-PID\n"
	      "  -h, --help             show this help\n"
	      "\n"
	      "With '-- COMMAND' the command is started and profiled with the processes it\n"
	      "starts; the capture ends when it exits, or after -d (it is sent SIGTERM).\n"
	      "\n"
	      "Examples:\n"
	      "  scorch record -d 10                   # whole machine, 10 s, profile.pb.gz\n"
	      "  scorch record -p 1234,1240 -d 30 -o app.pb.gz\n"
	      "  scorch record --format folded -o out.folded -- ./my-benchmark --iterations 100\n"
	      "  go tool pprof -top profile.pb.gz      # read the result with pprof\n",
	      f);
}

static int parse_args(int argc, char **argv, char ***ret_cmd)
{
	enum { OPT_FORMAT = 0x100, OPT_NO_COMM_ROOT, OPT_PER_PID };
	struct option opts[32] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "no-comm-root", no_argument, NULL, OPT_NO_COMM_ROOT },
		{ "per-pid", no_argument, NULL, OPT_PER_PID },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char shortopts[64] = "+:o:h";
	int c, r;

	capture_args__init(&arg_capture);
	if (capture_args__options(CAPTURE_SET_ONE_SHOT, opts, ARRAY_SIZE(opts), shortopts,
				  sizeof(shortopts)))
		return -E2BIG;
	opterr = 0;
	optind = 1;
	while ((c = getopt_exact(argc, argv, shortopts, opts, "record")) != -1) {
		r = capture_args__parse(&arg_capture, CAPTURE_SET_ONE_SHOT, c, optarg);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		switch (c) {
		case 'o':
			if (!*optarg) {
				log_error("empty output path");
				return -EINVAL;
			}
			arg_output = optarg;
			break;
		case OPT_FORMAT:
			if (parse_output_format(optarg, &arg_format)) {
				log_error("unknown format '%s': use pprof or folded", optarg);
				return -EINVAL;
			}
			break;
		case OPT_NO_COMM_ROOT:
			arg_folded.comm_root = false;
			break;
		case OPT_PER_PID:
			arg_folded.per_pid = true;
			break;
		case 'h':
			record_usage(stdout);
			return 1;
		default: /* said by getopt_exact() */
			return -EINVAL;
		}
	}
	if (arg_folded.per_pid && !arg_folded.comm_root) {
		log_error("--per-pid and --no-comm-root do not go together");
		return -EINVAL;
	}
	*ret_cmd = NULL;
	if (optind < argc) {
		/* getopt stops at "--" or at the first non-option ("+" in optstring) */
		if (strcmp(argv[optind - 1], "--") != 0) {
			log_error("unexpected argument '%s': put a command after '--'",
				  argv[optind]);
			return -EINVAL;
		}
		*ret_cmd = argv + optind;
	}
	if (*ret_cmd && arg_capture.npids) {
		log_error("-p and a COMMAND cannot be combined");
		return -EINVAL;
	}
	if (!arg_output)
		arg_output = arg_format == OUTPUT_PPROF ? "profile.pb.gz" : "profile.folded";
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct output out = { .file.fd = -1 };
	struct oneshot o = { 0 };
	char **cmd = NULL;
	int r, ret;

	r = parse_args(argc, argv, &cmd);
	if (r)
		return r > 0 ? EXIT_OK : EXIT_USAGE;
	ret = oneshot__check(&arg_capture, cmd);
	if (ret != EXIT_OK)
		return ret;
	/* an unwritable path fails before any work */
	r = output__open(&out, arg_output);
	if (r) {
		log_error("cannot write '%s': %s", arg_output, strerror(-r));
		return EXIT_RUNTIME;
	}
	ret = oneshot__run(&arg_capture, cmd, &o);
	if (ret == EXIT_OK) {
		r = output__commit(&out, o.profile, arg_format, &arg_folded);
		if (r) {
			log_error("cannot write '%s': %s", arg_output, strerror(-r));
			ret = EXIT_RUNTIME;
		}
	}
	if (ret == EXIT_OK) {
		oneshot__phase_end(&o, PHASE_WRITE);
		if (!arg_capture.quiet)
			oneshot__summary(&o, &arg_capture, arg_output);
	}
	output__abort(&out);
	oneshot__free(&o);
	return ret;
}
