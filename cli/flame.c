// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * scorch flame: a flame graph of a capture or of an existing profile (pprof or folded).
 * (scorch diff, which draws differential graphs the same way, is in diff.c.)
 */
#include "capture_args.h"
#include "cli.h"
#include "oneshot.h"
#include "fileio.h"
#include "graph.h"
#include "folded.h"
#include "pprof.h"
#include "svg.h"
#include "tree.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int parse_width(const char *s, unsigned int *ret)
{
	uint64_t v;

	if (parse_u64(s, 10, 200, 100000, &v)) {
		log_error("invalid --width '%s': pixels, 200 to 100000", s);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

struct svg_write {
	const struct ftree *t;
	const struct svg_opts *o;
};

static int svg_to(void *ctx, FILE *f)
{
	const struct svg_write *w = ctx;

	return svg__write(w->t, w->o, f);
}

/* Write the SVG atomically: a reader never sees half a graph. */
int write_svg(const struct ftree *t, const struct svg_opts *o, const char *path)
{
	struct svg_write w = { t, o };

	return write_stream_atomic(path, 0644, svg_to, &w);
}

/* The graph of p (named what for messages) into g's output. */
static int render_profile(const struct profile *p, const char *what, const struct graph_args *g)
{
	struct svg_opts o = { .title = g->title, .width = g->width, .inverted = g->inverted };
	struct ftree *t;
	struct weigh w;
	char err[256];
	int r;

	if (profile__choose_value(p, g->sample_index, &w, err, sizeof(err))) {
		log_error("%s: %s", what, err);
		return EXIT_USAGE;
	}
	/* frames as wide as their samples where the values count them (CPU time), else values */
	w.counts = w.countable;
	o.weigh = &w;
	t = ftree__from_profile_by(p, &w, &g->root);
	if (!t || ftree__sort(t)) {
		ftree__free(t);
		log_error("out of memory");
		return EXIT_RUNTIME;
	}
	if (!t->nodes[0].total)
		log_warn("%s has no samples: the graph is empty", what);
	r = write_svg(t, &o, g->output);
	ftree__free(t);
	if (r) {
		log_error("cannot write '%s': %s", g->output, strerror(-r));
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}

static int render(const char *input, const struct graph_args *g)
{
	struct profile *p = NULL;
	char err[256], what[PATH_MAX + 2];
	int r;

	r = profile__read_any(input, &p, err, sizeof(err));
	if (r) {
		log_error("'%s': %s", input, err);
		return EXIT_RUNTIME;
	}
	snprintf(what, sizeof(what), "'%s'", input);
	r = render_profile(p, what, g);
	profile__free(p);
	if (r == EXIT_OK && strcmp(g->output, "-"))
		log_info("wrote %s", g->output);
	return r;
}

static void flame_usage(FILE *f)
{
	fputs("Usage: scorch flame [CAPTURE OPTIONS] [-o flame.svg] [-- COMMAND [ARGS...]]\n"
	      "       scorch flame PROFILE [-o flame.svg]\n"
	      "\n"
	      "Draw a flame graph: of a capture taken like 'scorch record' takes it (the same\n"
	      "options: -d, -p, -F, --unwind, a command after --), or of an existing profile: any\n"
	      "pprof file (scorch's, Go's runtime/pprof, other tools'; gzip or not) or folded\n"
	      "stacks. One self-contained SVG: hover for details, click to zoom, Search (or\n"
	      "Ctrl-F) highlights frames matching a regular expression and shows their share.\n"
	      "Colors: reds native code, blues the kernel, greens JIT'ed or unknown code.\n"
	      "\n"
	      "Options:\n"
	      "  -o, --output FILE   the SVG (default flame.svg; - for standard output)\n"
	      "      --sample-index NAME|N\n"
	      "                      the sample type to draw (alloc_space, 0, ...; default: the\n"
	      "                      profile's default type, else its last, as go tool pprof)\n"
	      "      --no-comm-root  no process name as the first frame under the root (it is\n"
	      "                      there when the samples name their process, as captures do)\n"
	      "      --per-pid       the first frame is comm-PID, one per process\n"
	      "      --title TEXT    the graph's title\n"
	      "      --inverted      an icicle graph: roots at the top\n"
	      "      --width PIXELS  default 1200\n"
	      "  -h, --help          show this help\n"
	      "\n"
	      "Examples:\n"
	      "  scorch flame -d 10                    # the whole machine for 10 s\n"
	      "  scorch flame -p 1234 -o app.svg       # one process until Ctrl-C\n"
	      "  scorch flame -- make -j2              # a command\n"
	      "  scorch flame cpu.pprof -o cpu.svg     # an existing profile\n",
	      f);
}

/* A capture, as 'scorch record' takes it, drawn from memory. */
static int flame_capture(const struct capture_args *ca, char **cmd, const struct graph_args *g)
{
	struct oneshot o = { 0 };
	int ret = oneshot__check(ca, cmd);

	if (ret != EXIT_OK)
		return ret;
	ret = oneshot__run(ca, cmd, &o);
	if (ret == EXIT_OK)
		ret = render_profile(o.profile, "the capture", g);
	if (ret == EXIT_OK && !ca->quiet)
		oneshot__summary(&o, ca, strcmp(g->output, "-") ? g->output : "standard output");
	oneshot__free(&o);
	return ret;
}

int cmd_flame(int argc, char **argv)
{
	enum {
		OPT_TITLE = 0x100,
		OPT_WIDTH,
		OPT_INVERTED,
		OPT_FORMAT,
		OPT_SAMPLE_INDEX,
		OPT_NO_COMM_ROOT,
		OPT_PER_PID
	};
	struct option opts[32] = {
		{ "output", required_argument, NULL, 'o' },
		{ "no-comm-root", no_argument, NULL, OPT_NO_COMM_ROOT },
		{ "per-pid", no_argument, NULL, OPT_PER_PID },
		{ "sample-index", required_argument, NULL, OPT_SAMPLE_INDEX },
		{ "title", required_argument, NULL, OPT_TITLE },
		{ "width", required_argument, NULL, OPT_WIDTH },
		{ "inverted", no_argument, NULL, OPT_INVERTED },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct graph_args g = { .output = "flame.svg", .root = { .comm_root = true } };
	struct capture_args ca;
	char shortopts[64] = ":o:h", **cmd = NULL;
	const char *input = NULL;
	bool capture_opts = false;
	int nopts = argc, c, r;

	capture_args__init(&ca);
	if (capture_args__options(CAPTURE_SET_ONE_SHOT, opts, ARRAY_SIZE(opts), shortopts,
				  sizeof(shortopts)))
		return EXIT_RUNTIME;
	/* the options and a PROFILE in any order before "--", the command after it */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			nopts = i;
			cmd = i + 1 < argc ? argv + i + 1 : NULL;
			break;
		}
	opterr = 0;
	optind = 1;
	while ((c = getopt_exact(nopts, argv, shortopts, opts, "flame")) != -1) {
		r = capture_args__parse(&ca, CAPTURE_SET_ONE_SHOT, c, optarg);
		if (r < 0)
			return EXIT_USAGE;
		if (r > 0) {
			capture_opts = true;
			continue;
		}
		switch (c) {
		case 'o':
			g.output = optarg;
			break;
		case OPT_TITLE:
			g.title = optarg;
			break;
		case OPT_WIDTH:
			if (parse_width(optarg, &g.width))
				return EXIT_USAGE;
			break;
		case OPT_INVERTED:
			g.inverted = true;
			break;
		case OPT_FORMAT:
			log_error("flame writes SVG: --format is for 'scorch record'");
			return EXIT_USAGE;
		case OPT_SAMPLE_INDEX:
			g.sample_index = optarg;
			break;
		case OPT_NO_COMM_ROOT:
			g.root.comm_root = false;
			break;
		case OPT_PER_PID:
			g.root.per_pid = true;
			break;
		case 'h':
			flame_usage(stdout);
			return EXIT_OK;
		default: /* said by getopt_exact() */
			return EXIT_USAGE;
		}
	}
	for (int i = optind; i < nopts; i++) {
		if (input) {
			log_error("flame takes one PROFILE (try 'scorch flame --help')");
			return EXIT_USAGE;
		}
		input = argv[i];
	}
	if (input) {
		if (capture_opts || cmd) {
			log_error("capture options and a PROFILE do not go together (try 'scorch "
				  "flame --help')");
			return EXIT_USAGE;
		}
		return render(input, &g);
	}
	if (cmd && ca.npids) {
		log_error("-p and a COMMAND cannot be combined");
		return EXIT_USAGE;
	}
	return flame_capture(&ca, cmd, &g);
}

/* ---- diff ---- */
