// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * scorch convert: a profile from one format into the other, pprof (any producer's, gzip or
 * raw) to folded stacks (FlameGraph's, inferno's, speedscope's format) and back.
 */
#include "cli.h"
#include "fileio.h"
#include "folded.h"
#include "model.h"
#include "pprof.h"
#include "tree.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum convert_format { CONVERT_GUESS, CONVERT_PPROF, CONVERT_FOLDED };

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* The format a file name says: .folded, .txt (folded), .pb.gz, .pb, .pprof (pprof). */
static enum convert_format format_of(const char *path)
{
	static const char *const folded[] = { ".folded", ".folded.txt", ".txt", ".collapsed" };
	static const char *const pprof[] = { ".pb.gz", ".pb", ".pprof", ".prof", ".pprof.gz" };

	for (size_t i = 0; i < ARRAY_SIZE(folded); i++)
		if (ends_with(path, folded[i]))
			return CONVERT_FOLDED;
	for (size_t i = 0; i < ARRAY_SIZE(pprof); i++)
		if (ends_with(path, pprof[i]))
			return CONVERT_PPROF;
	return CONVERT_GUESS;
}

static void convert_usage(FILE *f)
{
	fputs(
	    "Usage: scorch convert IN -o OUT [--format pprof|folded] [--sample-index NAME|N]\n"
	    "                      [--no-comm-root] [--per-pid]\n"
	    "\n"
	    "Convert a profile: pprof (scorch's, Go's runtime/pprof, any producer's; gzip or\n"
	    "not) into folded stacks (one 'root;...;leaf COUNT' line per stack, the format of\n"
	    "FlameGraph, inferno and speedscope), or folded stacks into a gzip-compressed pprof.\n"
	    "The output format comes from --format, else from OUT's name (.folded, .txt: folded;\n"
	    ".pb.gz, .pb, .pprof: pprof). Kernel frames are marked _[k] in folded stacks.\n"
	    "\n"
	    "Options:\n"
	    "  -o, --output FILE          where to write (- for standard output)\n"
	    "      --format FORMAT        pprof or folded\n"
	    "      --sample-index NAME|N  to folded: the sample type whose values are written\n"
	    "                             (default: the profile's default type, else its last)\n"
	    "      --no-comm-root         to folded: no process name as the first frame (it is\n"
	    "                             there, as perf's stackcollapse writes it, when the\n"
	    "                             samples carry one: scorch's captures do)\n"
	    "      --per-pid              to folded: the first frame is comm-PID\n"
	    "  -h, --help                 show this help\n"
	    "\n"
	    "Examples:\n"
	    "  scorch convert profile.pb.gz -o profile.folded\n"
	    "  scorch convert stacks.folded -o stacks.pb.gz\n"
	    "  scorch convert heap.pprof --sample-index alloc_space -o heap.folded\n",
	    f);
}

struct folded_write {
	const struct profile *p;
	uint32_t vi;
	const struct folded_opts *fo;
};

static int folded_to(void *ctx, FILE *f)
{
	const struct folded_write *w = ctx;

	return profile__write_folded_opts(w->p, w->vi, w->fo, f);
}

static int write_folded(const struct profile *p, uint32_t vi, const struct folded_opts *fo,
			const char *path)
{
	struct folded_write w = { p, vi, fo };

	return write_stream_atomic(path, 0644, folded_to, &w);
}

static int write_pprof(const struct profile *p, const char *path)
{
	void *buf = NULL;
	size_t len;
	int r = pprof__encode(p, true, &buf, &len);

	if (!r && !strcmp(path, "-"))
		r = fwrite(buf, 1, len, stdout) == len && !fflush(stdout) ? 0 : -EIO;
	else if (!r)
		r = write_file_atomic(path, buf, len, 0644);
	free(buf);
	return r;
}

int cmd_convert(int argc, char **argv)
{
	enum { OPT_FORMAT = 0x100, OPT_SAMPLE_INDEX, OPT_NO_COMM_ROOT, OPT_COMM_ROOT, OPT_PER_PID };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "sample-index", required_argument, NULL, OPT_SAMPLE_INDEX },
		{ "no-comm-root", no_argument, NULL, OPT_NO_COMM_ROOT },
		{ "comm-root", no_argument, NULL, OPT_COMM_ROOT },
		{ "per-pid", no_argument, NULL, OPT_PER_PID },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	enum convert_format fmt = CONVERT_GUESS;
	struct folded_opts fo = { .comm_root = true };
	const char *output = NULL, *sample_index = NULL;
	struct profile *p = NULL;
	struct weigh w;
	char err[256];
	int c, r;

	opterr = 0;
	optind = 1;
	while ((c = getopt_exact(argc, argv, ":o:h", opts, "convert")) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "pprof")) {
				fmt = CONVERT_PPROF;
			} else if (!strcmp(optarg, "folded")) {
				fmt = CONVERT_FOLDED;
			} else {
				log_error("unknown format '%s': use pprof or folded", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_SAMPLE_INDEX:
			sample_index = optarg;
			break;
		case OPT_NO_COMM_ROOT:
			fo.comm_root = false;
			break;
		case OPT_COMM_ROOT:
			fo.comm_root = true;
			break;
		case OPT_PER_PID:
			fo.per_pid = true;
			break;
		case 'h':
			convert_usage(stdout);
			return EXIT_OK;
		default: /* said by getopt_exact() */
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !output) {
		log_error("convert needs one IN and -o OUT (try 'scorch convert --help')");
		return EXIT_USAGE;
	}
	if (fmt == CONVERT_GUESS)
		fmt = format_of(output);
	if (fmt == CONVERT_GUESS) {
		log_error("'%s': no format in the name (.folded, .pb.gz, ...): give --format",
			  output);
		return EXIT_USAGE;
	}
	if (fo.per_pid && !fo.comm_root) {
		log_error("--per-pid and --no-comm-root do not go together");
		return EXIT_USAGE;
	}
	r = profile__read_any(argv[optind], &p, err, sizeof(err));
	if (r) {
		log_error("'%s': %s", argv[optind], err);
		return EXIT_RUNTIME;
	}
	if (fmt == CONVERT_FOLDED) {
		if (profile__choose_value(p, sample_index, &w, err, sizeof(err))) {
			log_error("'%s': %s", argv[optind], err);
			profile__free(p);
			return EXIT_RUNTIME;
		}
		/* folded stacks count samples: CPU time as its sample counts */
		if (w.of_samples && profile__value_index(p, "samples") >= 0)
			w.vi = (uint32_t)profile__value_index(p, "samples");
		r = write_folded(p, w.vi, &fo, output);
	} else {
		r = write_pprof(p, output);
	}
	profile__free(p);
	if (r) {
		log_error("cannot write '%s': %s", output, strerror(-r));
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}
