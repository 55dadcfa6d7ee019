// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * scorch flame: a flame graph of a capture or of an existing profile (pprof or folded).
 * scorch diff: what changed between two profiles of a program, in shares of their samples,
 * with the changes sampling noise cannot explain marked; a differential flame graph, a pprof
 * of the difference and an exit code for deploy gates.
 */
#include "capture_args.h"
#include "cli.h"
#include "oneshot.h"
#include "fileio.h"
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

/* Options shared by flame and diff for the graph. */
struct graph_args {
	const char *output;
	const char *title;
	unsigned int width;
	bool inverted;
	const char *sample_index; /* --sample-index, or NULL: the profile's default */
	struct folded_opts root; /* the process as the first frame (when samples name it) */
};

static int parse_width(const char *s, unsigned int *ret)
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
static int write_svg(const struct ftree *t, const struct svg_opts *o, const char *path)
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

struct diff_args {
	struct graph_args g; /* g.sample_index: the type compared, chosen in each profile */
	const char *pprof;
	unsigned int top;
	double fail_pct;
	bool fail_on;
};

struct change_row {
	const struct func_row *r;
	double dself, dcum; /* points */
	bool sself, scum; /* significant */
};

static int cmp_change(const void *a, const void *b)
{
	const struct change_row *x = a, *y = b;
	double mx = fmax(fabs(x->dself), fabs(x->dcum)), my = fmax(fabs(y->dself), fabs(y->dcum));

	if (mx != my)
		return mx > my ? -1 : 1;
	return strcmp(x->r->name, y->r->name);
}

/* Frames of a sample, collected root first, for copying into the difference profile. */
struct named_stack {
	char **names;
	uint8_t *kinds;
	size_t n, cap, cap_kinds;
};

static int collect_frame(void *ctx, const char *name, enum frame_kind kind, bool leaf)
{
	struct named_stack *ns = ctx;

	(void)leaf;
	if (grow_array((void **)&ns->names, &ns->cap, ns->n + 1, sizeof(*ns->names)) ||
	    grow_array((void **)&ns->kinds, &ns->cap_kinds, ns->n + 1, sizeof(*ns->kinds)))
		return -ENOMEM;
	ns->names[ns->n] = strdup(name);
	if (!ns->names[ns->n])
		return -ENOMEM;
	/* the difference pprof has no mapping of Python's: its frames are named code there */
	ns->kinds[ns->n++] = kind == FRAME_PYTHON ? FRAME_USER : kind;
	return 0;
}

static void clear_stack(struct named_stack *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->names[i]);
	ns->n = 0;
}

/* Add src's samples to out by frame name, each weight times scale; base samples labelled. */
static int add_named(struct profile *out, const struct profile *src, const struct weigh *w,
		     double scale, bool base, uint64_t mappings[3])
{
	struct named_stack ns = { 0 };
	uint64_t *locs = NULL;
	size_t cap = 0;
	int r = 0;

	for (size_t i = 0; i < src->nsamples && !r; i++) {
		struct prof_label label = { 0 };
		int64_t value = llround(weigh__sample(src, w, &src->samples[i]) * scale);

		if (!value)
			continue;
		clear_stack(&ns);
		r = profile__walk_sample(src, &src->samples[i], collect_frame, &ns);
		if (r || grow_array((void **)&locs, &cap, ns.n + 1, sizeof(*locs))) {
			r = r ? r : -ENOMEM;
			break;
		}
		for (size_t j = 0; j < ns.n; j++) {
			struct prof_line line = { 0 };

			line.function = profile__function(out, ns.names[j], ns.names[j], "", 0);
			/* leaf first in the model */
			locs[ns.n - 1 - j] =
			    line.function
				? profile__location(out, mappings[ns.kinds[j]], 0, &line, 1)
				: 0;
			if (!locs[ns.n - 1 - j])
				r = -ENOMEM;
		}
		if (r)
			break;
		if (base) {
			/* how go tool pprof -diff_base marks the subtracted samples */
			label.key = profile__intern(out, "pprof::base");
			label.str = profile__intern(out, "true");
		}
		r = profile__add_sample(out, locs, ns.n, &value, &label, base ? 1 : 0);
	}
	clear_stack(&ns);
	free(ns.names);
	free(ns.kinds);
	free(locs);
	return r;
}

static int write_diff_pprof(const struct profile *base, const struct profile *new,
			    const struct weigh w[2], double base_total, double new_total,
			    const char *path)
{
	struct profile *out = profile__new();
	struct prof_mapping um = { .has_functions = true }, km = { .has_functions = true },
			    jm = { .has_functions = true };
	uint64_t mappings[3] = { 0 };
	void *buf = NULL;
	size_t len;
	int r = -ENOMEM;

	/* counts stay counts; other values keep their type and unit */
	if (!out || profile__add_sample_type(out, w[1].counts ? "samples" : w[1].type,
					     w[1].counts ? "count" : w[1].unit))
		goto done;
	/* the first mapping is what go tool pprof calls the file: NEW's, when it names one */
	um.filename = profile__intern(
	    out, new->nmappings ? profile__str(new, new->mappings[0].filename) : "scorch diff");
	mappings[FRAME_USER] = profile__add_mapping(out, &um);
	km.filename = profile__intern(out, FOLDED_KERNEL_MAPPING);
	jm.filename = profile__intern(out, FOLDED_JIT_MAPPING);
	mappings[FRAME_KERNEL] = profile__add_mapping(out, &km);
	mappings[FRAME_JIT] = profile__add_mapping(out, &jm);
	if (!mappings[FRAME_USER] || !mappings[FRAME_KERNEL] || !mappings[FRAME_JIT])
		goto done;
	if (grow_array((void **)&out->comments, &out->ncomments, 1, sizeof(*out->comments)))
		goto done;
	out->comments[0] = profile__intern(
	    out, "scorch diff: NEW's samples minus BASE's scaled to NEW's total (pprof::base)");
	out->ncomments = 1;
	r = add_named(out, new, &w[1], 1, false, mappings);
	if (!r)
		r = add_named(out, base, &w[0], base_total > 0 ? -new_total / base_total : 0, true,
			      mappings);
	if (!r)
		r = pprof__encode(out, true, &buf, &len);
	if (!r)
		r = write_file_atomic(path, buf, len, 0644);
done:
	free(buf);
	profile__free(out);
	return r;
}

static void diff_usage(FILE *f)
{
	fputs("Usage: scorch diff BASE NEW [--top N] [-o diff.svg] [--pprof OUT]\n"
	      "                   [--fail-on-regression POINTS] [--sample-index NAME|N]\n"
	      "\n"
	      "Compare two profiles of the same program (pprof or folded stacks). Totals differ,\n"
	      "so shares are compared: the functions whose self or cumulative share of the\n"
	      "samples changed, largest change first, in percentage points. '*' marks a change\n"
	      "sampling noise does not explain: a two-proportion z-test on the sample counts,\n"
	      "Bonferroni-corrected for the number of tests, at 5 %. Values that are not\n"
	      "sample counts (a heap profile's bytes) are compared by share without a test.\n"
	      "\n"
	      "Options:\n"
	      "  -n, --top N                    how many functions (default 20)\n"
	      "  -o, --output FILE              a differential flame graph shaped like NEW: red\n"
	      "                                 grew, blue shrank, grey not significant\n"
	      "      --pprof FILE               a pprof of the difference (NEW minus BASE scaled\n"
	      "                                 to NEW's total), for go tool pprof\n"
	      "      --fail-on-regression PTS   exit 3 when a function's self share grew by more\n"
	      "                                 than PTS points and significantly\n"
	      "      --sample-index NAME|N      the sample type compared (default: each\n"
	      "                                 profile's default type, else its last); both\n"
	      "                                 profiles must have it\n"
	      "      --title TEXT, --width PIXELS, --inverted   as for scorch flame\n"
	      "  -h, --help                     show this help\n"
	      "\n"
	      "Examples:\n"
	      "  scorch diff before.pb.gz after.pb.gz\n"
	      "  scorch diff before.pb.gz after.pb.gz -o diff.svg --fail-on-regression 2\n",
	      f);
}

static int parse_diff_args(int argc, char **argv, struct diff_args *a, const char **paths)
{
	enum { OPT_PPROF = 0x100, OPT_FAIL, OPT_TITLE, OPT_WIDTH, OPT_INVERTED, OPT_SAMPLE_INDEX };
	static const struct option opts[] = {
		{ "top", required_argument, NULL, 'n' },
		{ "sample-index", required_argument, NULL, OPT_SAMPLE_INDEX },
		{ "output", required_argument, NULL, 'o' },
		{ "pprof", required_argument, NULL, OPT_PPROF },
		{ "fail-on-regression", required_argument, NULL, OPT_FAIL },
		{ "title", required_argument, NULL, OPT_TITLE },
		{ "width", required_argument, NULL, OPT_WIDTH },
		{ "inverted", no_argument, NULL, OPT_INVERTED },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_exact(argc, argv, ":n:o:h", opts, "diff")) != -1) {
		uint64_t v;
		char *end;

		switch (c) {
		case 'n':
			if (parse_u64(optarg, 10, 1, 1000000, &v)) {
				log_error("invalid --top '%s': a positive number", optarg);
				return EXIT_USAGE;
			}
			a->top = v;
			break;
		case 'o':
			a->g.output = optarg;
			break;
		case OPT_PPROF:
			a->pprof = optarg;
			break;
		case OPT_FAIL:
			errno = 0;
			a->fail_pct = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(a->fail_pct >= 0) ||
			    a->fail_pct > 100) {
				log_error("invalid --fail-on-regression '%s': percentage points, 0 "
					  "to 100",
					  optarg);
				return EXIT_USAGE;
			}
			a->fail_on = true;
			break;
		case OPT_TITLE:
			a->g.title = optarg;
			break;
		case OPT_WIDTH:
			if (parse_width(optarg, &a->g.width))
				return EXIT_USAGE;
			break;
		case OPT_INVERTED:
			a->g.inverted = true;
			break;
		case OPT_SAMPLE_INDEX:
			a->g.sample_index = optarg;
			break;
		case 'h':
			diff_usage(stdout);
			return -1;
		default: /* said by getopt_exact() */
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		log_error("diff needs BASE and NEW (try 'scorch diff --help')");
		return EXIT_USAGE;
	}
	paths[0] = argv[optind];
	paths[1] = argv[optind + 1];
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	struct diff_args a = { .top = 20 };
	struct func_table ft = { 0 };
	struct profile *p[2] = { NULL, NULL };
	struct change_row *rows = NULL;
	const char *paths[2];
	struct ftree *t = NULL;
	size_t nrows = 0, ntests;
	int ret = EXIT_RUNTIME, r;
	bool regression = false, counts;
	struct weigh w[2];
	char err[256], tb[2][48];

	r = parse_diff_args(argc, argv, &a, paths);
	if (r)
		return r < 0 ? EXIT_OK : r;
	for (int i = 0; i < 2; i++) {
		if (profile__read_any(paths[i], &p[i], err, sizeof(err))) {
			log_error("'%s': %s", paths[i], err);
			goto out;
		}
		if (profile__choose_value(p[i], a.g.sample_index, &w[i], err, sizeof(err))) {
			log_error("'%s': %s", paths[i], err);
			goto out;
		}
	}
	/*
	 * shares of different things do not compare (CPU time against bytes); samples do, counted
	 * or as CPU time (a folded file against a pprof)
	 */
	if (!(w[0].of_samples && w[1].of_samples) &&
	    (strcmp(w[0].type, w[1].type) || strcmp(w[0].unit, w[1].unit))) {
		log_error("BASE's sample type is %s/%s, NEW's %s/%s: choose one both have with "
			  "--sample-index",
			  w[0].type, w[0].unit, w[1].type, w[1].unit);
		goto out;
	}
	counts = w[0].countable && w[1].countable;
	if (a.fail_on && !counts) {
		log_error("--fail-on-regression needs sample counts to test; %s is in %s",
			  w[1].type, w[1].unit);
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		w[i].counts = counts;
		if (func_table__add_by(&ft, p[i], i, &w[i]))
			goto nomem;
	}
	if (ft.total[0] <= 0 || ft.total[1] <= 0) {
		log_error("'%s' has no samples: nothing to compare",
			  ft.total[0] <= 0 ? paths[0] : paths[1]);
		goto out;
	}
	rows = calloc(ft.n + 1, sizeof(*rows));
	if (!rows)
		goto nomem;
	/* two tests (self and cumulative) per function */
	ntests = 2 * ft.n;
	for (size_t i = 0; i < ft.n; i++) {
		const struct func_row *fr = &ft.rows[i];
		struct change_row *c = &rows[nrows];

		c->r = fr;
		c->dself = 100 * (fr->self[1] / ft.total[1] - fr->self[0] / ft.total[0]);
		c->dcum = 100 * (fr->cum[1] / ft.total[1] - fr->cum[0] / ft.total[0]);
		c->sself =
		    counts &&
		    two_proportion_p(fr->self[0], ft.total[0], fr->self[1], ft.total[1]) * ntests <
			0.05;
		c->scum =
		    counts &&
		    two_proportion_p(fr->cum[0], ft.total[0], fr->cum[1], ft.total[1]) * ntests <
			0.05;
		if (fabs(c->dself) >= 0.005 || fabs(c->dcum) >= 0.005)
			nrows++;
		if (a.fail_on && c->dself > a.fail_pct && c->sself) {
			if (!regression)
				fprintf(stderr, "\n");
			log_error("regression: '%s' self share %.2f%% -> %.2f%% (%+.2f points, "
				  "significant; the limit is %.2f)",
				  fr->name, 100 * fr->self[0] / ft.total[0],
				  100 * fr->self[1] / ft.total[1], c->dself, a.fail_pct);
			regression = true;
		}
	}
	qsort(rows, nrows, sizeof(*rows), cmp_change);
	if (counts) {
		printf("BASE %s: %.0f samples; NEW %s: %.0f samples\n", paths[0], ft.total[0],
		       paths[1], ft.total[1]);
		printf("Shares of all samples, in percent; changes in points. * significant "
		       "(two-proportion z-test, Bonferroni over %zu tests, 5 %%)\n",
		       ntests);
	} else {
		printf("BASE %s: %s of %s; NEW %s: %s\n", paths[0],
		       format_value(ft.total[0], w[0].unit, tb[0], sizeof(tb[0])), w[0].type,
		       paths[1], format_value(ft.total[1], w[1].unit, tb[1], sizeof(tb[1])));
		printf(
		    "Shares of all %s, in percent; changes in points (values, not sample counts: "
		    "no significance test)\n",
		    w[1].type);
	}
	if (!nrows)
		printf("No function's share changed.\n");
	else
		printf("%8s %8s %9s   %8s %8s %9s   %s\n", "self:was", "now", "change", "cum:was",
		       "now", "change", "function");
	for (size_t i = 0; i < nrows && i < a.top; i++) {
		const struct change_row *c = &rows[i];
		const struct func_row *fr = c->r;

		printf("%7.2f%% %7.2f%% %+8.2f%c   %7.2f%% %7.2f%% %+8.2f%c   ",
		       100 * fr->self[0] / ft.total[0], 100 * fr->self[1] / ft.total[1], c->dself,
		       c->sself ? '*' : ' ', 100 * fr->cum[0] / ft.total[0],
		       100 * fr->cum[1] / ft.total[1], c->dcum, c->scum ? '*' : ' ');
		/* names come from profiled processes and profile files: no escapes to the terminal */
		utf8_print_text(stdout, fr->name, NULL);
		putchar('\n');
	}
	if (a.g.output) {
		struct svg_opts o = { .title = a.g.title,
				      .width = a.g.width,
				      .inverted = a.g.inverted,
				      .diff = true,
				      .weigh = &w[1] };

		t = ftree__from_profile_by(p[1], &w[1], NULL);
		if (!t || ftree__add_base_by(t, p[0], &w[0]) || ftree__sort(t))
			goto nomem;
		r = write_svg(t, &o, a.g.output);
		if (r) {
			log_error("cannot write '%s': %s", a.g.output, strerror(-r));
			goto out;
		}
	}
	if (a.pprof) {
		r = write_diff_pprof(p[0], p[1], w, ft.total[0], ft.total[1], a.pprof);
		if (r) {
			log_error("cannot write '%s': %s", a.pprof, strerror(-r));
			goto out;
		}
	}
	ret = regression ? EXIT_CHECK : EXIT_OK;
	goto out;
nomem:
	log_error("out of memory");
out:
	ftree__free(t);
	free(rows);
	func_table__free(&ft);
	profile__free(p[0]);
	profile__free(p[1]);
	return ret;
}
