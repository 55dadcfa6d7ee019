// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * scorch diff: what changed between two sets of profiles of a program, in shares of their
 * samples, with the changes noise cannot explain marked; a table (or JSON), a differential
 * flame graph, a pprof of the difference and an exit code for deploy gates.
 *
 * One profile against one: the pooled two-proportion z-test on sample counts. Several on each
 * side (the agent's intervals): each profile is a replicate, a function's share of it one
 * observation, and Welch's t-test compares the sides' mean shares with Benjamini-Hochberg
 * over all tests; samples within an interval are not independent, intervals are.
 */
#include "cli.h"
#include "fileio.h"
#include "folded.h"
#include "graph.h"
#include "grpc.h"
#include "hashmap.h"
#include "parca_query.pb-c.h"
#include "pprof.h"
#include "stats.h"
#include "svg.h"
#include "tree.h"
#include "utf8.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Profiles a side may hold, from globs and directories */
#define DIFF_MAX_PROFILES 100000
/* Frames the distinct stacks of a merged side (for -o and --pprof) may hold */
#define DIFF_MAX_MERGED (32u << 20)
/* The false discovery rate, and the confidence of the intervals shown */
#define DIFF_ALPHA 0.05
/* Queries a side may make of a Parca server (its window over its step), one's answer, all */
#define DIFF_MAX_SLICES 10000
#define DIFF_MAX_RESPONSE (64u << 20)
#define DIFF_MAX_ANSWERS (2ull << 30)
/* All the queries of a diff, at most */
#define DIFF_REMOTE_DEADLINE_NS (15 * 60 * 1000000000ULL)

struct paths {
	char **v;
	size_t n, cap;
};

struct diff_args {
	struct graph_args g; /* g.sample_index: the type compared, chosen in each profile */
	const char *pprof;
	unsigned int top;
	double fail_pct;
	bool fail_on, json;
	struct paths side[2]; /* BASE, NEW */
	bool split;
	int64_t split_ns;
	uint64_t window_ns; /* 0: everything before and after */
	char *tagfocus;
	enum { TEST_AUTO, TEST_WELCH, TEST_Z } test;
	struct sample_filter f;
	regex_t tag;
	bool has_tag;
	/* the profiles from a Parca server: --query over the window, a Query per step */
	struct grpc_opts remote;
	const char *query, *token_file;
	uint64_t step_ns;
	char *slice_dir; /* where the answers are kept while compared */
};

/* ---- the profiles of a side: files, directories, globs ---- */

static int paths__add(struct paths *p, const char *path)
{
	if (p->n >= DIFF_MAX_PROFILES)
		return -E2BIG;
	if (grow_array((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v)))
		return -ENOMEM;
	p->v[p->n] = strdup(path);
	if (!p->v[p->n])
		return -ENOMEM;
	p->n++;
	return 0;
}

static void paths__free(struct paths *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	*p = (struct paths){ 0 };
}

static bool profile_name(const char *name)
{
	static const char *const ends[] = { ".pb.gz", ".pb", ".pprof", ".prof", ".folded" };
	size_t len = strlen(name);

	if (name[0] == '.')
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(ends); i++) {
		size_t n = strlen(ends[i]);

		if (len > n && !strcmp(name + len - n, ends[i]))
			return true;
	}
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's profiles (*.pb.gz, *.pb, *.pprof, *.prof, *.folded), in name order. */
static int add_dir(struct paths *p, const char *dir)
{
	struct paths found = { 0 };
	struct dirent *de;
	DIR *d = opendir(dir);
	int r = 0;

	if (!d)
		return -errno;
	while (!r && (de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (!profile_name(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		/* regular files only, not through links (the reader refuses the rest too) */
		if (lstat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		r = paths__add(&found, path);
	}
	closedir(d);
	if (found.n > 1)
		qsort(found.v, found.n, sizeof(*found.v), cmp_str);
	for (size_t i = 0; i < found.n && !r; i++)
		r = paths__add(p, found.v[i]);
	paths__free(&found);
	return r;
}

/* One argument: a file, a directory of profiles, or a glob (quoted, so the shell left it). */
static int expand(struct paths *p, const char *arg)
{
	struct stat st;
	glob_t g;
	int r = 0;

	if (!stat(arg, &st)) {
		r = S_ISDIR(st.st_mode) ? add_dir(p, arg) : paths__add(p, arg);
		if (r)
			log_error("'%s': %s", arg,
				  r == -E2BIG ? "more than 100000 profiles" : strerror(-r));
		return r;
	}
	if (!strpbrk(arg, "*?[")) {
		log_error("'%s': %s", arg, strerror(errno));
		return -errno;
	}
	switch (glob(arg, GLOB_ERR, NULL, &g)) {
	case 0:
		break;
	case GLOB_NOMATCH:
		log_error("'%s': no profile matches", arg);
		return -ENOENT;
	default:
		log_error("'%s': cannot read the directories it names", arg);
		return -EIO;
	}
	for (size_t i = 0; i < g.gl_pathc && !r; i++) {
		/* what a pattern matches: regular files only, not through links */
		if (lstat(g.gl_pathv[i], &st) || !S_ISREG(st.st_mode))
			continue;
		r = paths__add(p, g.gl_pathv[i]);
	}
	globfree(&g);
	if (r)
		log_error("'%s': %s", arg,
			  r == -E2BIG ? "more than 100000 profiles" : strerror(-r));
	return r;
}

/* ---- what each side's profiles say, function by function ---- */

struct fn_stats {
	char *name;
	/* per profile: the function's self and cumulative shares, summed (n: the side's) */
	struct moments self[2], cum[2];
	/* merged: its sample counts (or values) */
	double self_n[2], cum_n[2];
};

struct sides {
	struct hmap *index; /* name -> index + 1 */
	struct fn_stats *fns;
	size_t n, cap;
	double replicates[2]; /* profiles with samples (of the selection) */
	double total[2]; /* merged */
	size_t skipped[2]; /* profiles without samples of the selection */
};

static struct fn_stats *sides__fn(struct sides *s, const char *name)
{
	uintptr_t i = (uintptr_t)hmap__get(s->index, name, strlen(name));

	if (i)
		return &s->fns[i - 1];
	if (grow_array((void **)&s->fns, &s->cap, s->n + 1, sizeof(*s->fns)))
		return NULL;
	s->fns[s->n] = (struct fn_stats){ .name = strdup(name) };
	if (!s->fns[s->n].name ||
	    hmap__put(s->index, s->fns[s->n].name, strlen(name), (void *)(uintptr_t)(s->n + 1))) {
		free(s->fns[s->n].name);
		return NULL;
	}
	return &s->fns[s->n++];
}

static void sides__free(struct sides *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->fns[i].name);
	free(s->fns);
	hmap__free(s->index);
}

/* One profile of side `side`: its shares of each function, and its counts into the merge. */
static int sides__add(struct sides *s, int side, const struct profile *p, const struct weigh *w,
		      const struct sample_filter *f)
{
	struct func_table t = { 0 };
	int r = f ? func_table__add_filtered(&t, p, 0, w, f) : func_table__add_by(&t, p, 0, w);

	if (r)
		goto out;
	if (t.total[0] <= 0) {
		s->skipped[side]++;
		goto out;
	}
	s->replicates[side]++;
	s->total[side] += t.total[0];
	for (size_t i = 0; i < t.n; i++) {
		struct fn_stats *fn = sides__fn(s, t.rows[i].name);

		if (!fn) {
			r = -ENOMEM;
			goto out;
		}
		moments__add(&fn->self[side], t.rows[i].self[0] / t.total[0]);
		moments__add(&fn->cum[side], t.rows[i].cum[0] / t.total[0]);
		fn->self_n[side] += t.rows[i].self[0];
		fn->cum_n[side] += t.rows[i].cum[0];
	}
out:
	func_table__free(&t);
	return r;
}

/* ---- a side merged, by frame names: for the flame graph and the difference pprof ---- */

struct named {
	struct profile *p;
	uint64_t mappings[3]; /* by frame kind */
	struct hmap *stacks; /* its samples' location ids and base flag -> sample index + 1 */
	size_t frames; /* in its samples */
};

/* Frames of a sample, collected root first. */
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

/*
 * What a merged side's code mapping is called: the profile's first file that is code of a
 * program (the executable, as go tool pprof shows it). Not merely its first mapping: that may
 * be the kernel's or JIT code's, by which the merged frames would all be read as such (a
 * capture whose first sample had kernel frames matched none of the other side's user frames).
 */
static const char *code_file(const struct profile *p)
{
	for (size_t i = 0; i < p->nmappings; i++) {
		const char *f = profile__str(p, p->mappings[i].filename);

		if (*f && *f != '[' && strncmp(f, "/tmp/perf-", 10) && strncmp(f, "//anon", 6) &&
		    strncmp(f, "/memfd:", 7))
			return f;
	}
	return "scorch diff";
}

/* An empty profile of one sample type, with a mapping for each kind of frame. */
static int named__init(struct named *nm, const char *type, const char *unit, const char *file)
{
	struct prof_mapping um = { .has_functions = true }, km = { .has_functions = true },
			    jm = { .has_functions = true };

	*nm = (struct named){ .p = profile__new() };
	if (!nm->p || profile__add_sample_type(nm->p, type, unit))
		return -ENOMEM;
	/* the first mapping is what go tool pprof calls the file */
	um.filename = profile__intern(nm->p, file);
	km.filename = profile__intern(nm->p, FOLDED_KERNEL_MAPPING);
	jm.filename = profile__intern(nm->p, FOLDED_JIT_MAPPING);
	nm->mappings[FRAME_USER] = profile__add_mapping(nm->p, &um);
	nm->mappings[FRAME_KERNEL] = profile__add_mapping(nm->p, &km);
	nm->mappings[FRAME_JIT] = profile__add_mapping(nm->p, &jm);
	return nm->mappings[FRAME_USER] && nm->mappings[FRAME_KERNEL] && nm->mappings[FRAME_JIT]
		   ? 0
		   : -ENOMEM;
}

/*
 * Add src's samples that pass f to nm by frame name, each weight times scale; a stack nm has
 * already adds to its sample. -E2BIG past DIFF_MAX_MERGED frames in nm's samples.
 */
static int named__add(struct named *nm, const struct profile *src, const struct weigh *w,
		      const struct sample_filter *f, double scale, bool base)
{
	struct named_stack ns = { 0 };
	uint64_t *locs = NULL;
	bool *pass = f ? sample_filter__tag_mask(src, f) : NULL;
	size_t cap = 0;
	int r = f && !pass ? -ENOMEM : 0;

	if (!r && !nm->stacks && !(nm->stacks = hmap__new()))
		r = -ENOMEM;
	for (size_t i = 0; i < src->nsamples && !r; i++) {
		struct prof_label label = { 0 };
		int64_t value = llround(weigh__sample(src, w, &src->samples[i]) * scale);
		uintptr_t known;

		if (!value || (pass && !pass[i]))
			continue;
		clear_stack(&ns);
		r = profile__walk_sample(src, &src->samples[i], collect_frame, &ns);
		/* one more: the base flag, in the stack's key */
		if (r || grow_array((void **)&locs, &cap, ns.n + 2, sizeof(*locs))) {
			r = r ? r : -ENOMEM;
			break;
		}
		for (size_t j = 0; j < ns.n; j++) {
			struct prof_line line = { 0 };

			line.function = profile__function(nm->p, ns.names[j], ns.names[j], "", 0);
			/* leaf first in the model */
			locs[ns.n - 1 - j] =
			    line.function
				? profile__location(nm->p, nm->mappings[ns.kinds[j]], 0, &line, 1)
				: 0;
			if (!locs[ns.n - 1 - j])
				r = -ENOMEM;
		}
		if (r)
			break;
		/* the same stack again (another interval's): one sample, the values summed */
		locs[ns.n] = base;
		known = (uintptr_t)hmap__get(nm->stacks, locs, (ns.n + 1) * sizeof(*locs));
		if (known) {
			nm->p->samples[known - 1].values[0] += value;
			continue;
		}
		if (nm->frames + ns.n > DIFF_MAX_MERGED) {
			r = -E2BIG;
			break;
		}
		nm->frames += ns.n;
		if (base) {
			/* how go tool pprof -diff_base marks the subtracted samples */
			label.key = profile__intern(nm->p, "pprof::base");
			label.str = profile__intern(nm->p, "true");
		}
		r = profile__add_sample(nm->p, locs, ns.n, &value, &label, base ? 1 : 0);
		if (!r && hmap__put(nm->stacks, locs, (ns.n + 1) * sizeof(*locs),
				    (void *)(uintptr_t)nm->p->nsamples))
			r = -ENOMEM;
	}
	clear_stack(&ns);
	free(ns.names);
	free(ns.kinds);
	free(locs);
	free(pass);
	return r;
}

/* NEW's samples minus BASE's scaled to NEW's total, as go tool pprof -diff_base reads it. */
static int write_diff_pprof(const struct profile *base, const struct profile *new,
			    const struct weigh w[2], const struct sample_filter *f,
			    double base_total, double new_total, const char *path)
{
	struct named out;
	void *buf = NULL;
	size_t len;
	int r;

	/* counts stay counts; other values keep their type and unit */
	r = named__init(&out, w[1].counts ? "samples" : w[1].type,
			w[1].counts ? "count" : w[1].unit, code_file(new));
	if (!r &&
	    grow_array((void **)&out.p->comments, &out.p->ncomments, 1, sizeof(*out.p->comments)))
		r = -ENOMEM;
	if (!r) {
		out.p->comments[0] = profile__intern(
		    out.p,
		    "scorch diff: NEW's samples minus BASE's scaled to NEW's total (pprof::base)");
		out.p->ncomments = 1;
		r = named__add(&out, new, &w[1], f, 1, false);
	}
	if (!r)
		r = named__add(&out, base, &w[0], f, base_total > 0 ? -new_total / base_total : 0,
			       true);
	if (!r)
		r = pprof__encode(out.p, true, &buf, &len);
	if (!r)
		r = write_file_atomic(path, buf, len, 0644);
	free(buf);
	profile__free(out.p);
	hmap__free(out.stacks);
	return r;
}

/* ---- the comparison ---- */

struct change_row {
	const struct fn_stats *fn;
	double was_self, now_self, was_cum, now_cum; /* shares, 0 to 1 */
	double dself, dcum; /* points */
	double self_lo, self_hi, cum_lo, cum_hi; /* points: the 95 % intervals (replicates) */
	double pself, pcum, qself, qcum;
	bool sself, scum; /* significant */
};

static int cmp_change(const void *a, const void *b)
{
	const struct change_row *x = a, *y = b;
	double mx = fmax(fabs(x->dself), fabs(x->dcum)), my = fmax(fabs(y->dself), fabs(y->dcum));

	if (mx != my)
		return mx > my ? -1 : 1;
	return strcmp(x->fn->name, y->fn->name);
}

/* The significance verdicts by function, for the flame graph's colours. */
struct verdicts {
	struct hmap *index; /* name -> 1 not significant, 2 significant */
};

static int verdict_of(void *ctx, const char *name)
{
	const struct verdicts *v = ctx;
	uintptr_t x = (uintptr_t)hmap__get(v->index, name, strlen(name));

	return x ? (int)x - 1 : -1;
}

static void diff_usage(FILE *f)
{
	fputs(
	    "Usage: scorch diff BASE NEW [OPTIONS]\n"
	    "       scorch diff --base PATH... --new PATH... [OPTIONS]\n"
	    "       scorch diff --split-at TIME [--window DURATION] PATH... [OPTIONS]\n"
	    "\n"
	    "Compare two sets of profiles of the same program (pprof or folded stacks). A PATH\n"
	    "is a file, a directory of profiles (as the agent's --output-dir writes them) or a\n"
	    "quoted glob; a side of several profiles is merged. Totals differ, so shares are\n"
	    "compared: the functions whose self or cumulative share changed, largest change\n"
	    "first, in percentage points. '*' marks a change noise does not explain:\n"
	    "  one profile a side: a two-proportion z-test on the sample counts, Bonferroni-\n"
	    "    corrected for the number of tests, at 5 %;\n"
	    "  several a side: each profile (interval) is one observation of a function's\n"
	    "    share, Welch's t-test on the sides' mean shares (samples within an interval\n"
	    "    are not independent; intervals are), Benjamini-Hochberg over all tests at a\n"
	    "    5 % false discovery rate, with the change's 95 % confidence interval.\n"
	    "Values that are not sample counts (a heap profile's bytes) are compared by share\n"
	    "without a test.\n"
	    "\n"
	    "Options:\n"
	    "      --base PATH, --new PATH    the profiles of a side (each may repeat)\n"
	    "      --split-at TIME            BASE: the PATHs' profiles before TIME (each\n"
	    "                                 profile's time), NEW: from TIME on; TIME as RFC\n"
	    "                                 3339 (2026-12-01T14:05:00Z) or @UNIX-SECONDS\n"
	    "      --window DURATION          with --split-at: only DURATION before and after\n"
	    "      --remote-store-address HOST:PORT   the profiles from a Parca server: with\n"
	    "                                 --query, --split-at and --window, one Query\n"
	    "                                 (MERGE, as pprof) per --step (default 10s) of\n"
	    "                                 each side, each answer one interval\n"
	    "      --query SELECTOR           e.g. 'parca_agent:samples:count:cpu:nanoseconds:"
	    "delta{comm=\"api\"}'\n"
	    "      --remote-store-insecure, --remote-store-ca-file FILE,\n"
	    "      --remote-store-insecure-skip-verify, --remote-store-bearer-token-file FILE,\n"
	    "      --remote-store-client-cert-file FILE, --remote-store-client-key-file FILE\n"
	    "                                 as for scorch agent\n"
	    "      --tagfocus KEY=VALUE       only samples whose label KEY matches (comm,\n"
	    "                                 pid, systemd_unit, pod_uid, container_id...):\n"
	    "                                 shares within what it selects\n"
	    "      --test auto|welch|z        the test: auto (Welch's with two profiles a side\n"
	    "                                 or more, else the z-test), or either (the\n"
	    "                                 z-test over merged sides, for comparison)\n"
	    "  -n, --top N                    how many functions (default 20)\n"
	    "      --json                     the comparison as one JSON object\n"
	    "  -o, --output FILE              a differential flame graph shaped like NEW: red\n"
	    "                                 grew, blue shrank, grey not significant\n"
	    "      --pprof FILE               a pprof of the difference (NEW minus BASE scaled\n"
	    "                                 to NEW's total), for go tool pprof\n"
	    "      --fail-on-regression PTS   exit 3 when a function's self share grew by more\n"
	    "                                 than PTS points and significantly\n"
	    "      --sample-index NAME|N      the sample type compared (default: each\n"
	    "                                 profile's default type, else its last); all\n"
	    "                                 profiles must have it\n"
	    "      --title TEXT, --width PIXELS, --inverted   as for scorch flame\n"
	    "  -h, --help                     show this help\n"
	    "\n"
	    "Examples:\n"
	    "  scorch diff before.pb.gz after.pb.gz\n"
	    "  scorch diff before.pb.gz after.pb.gz -o diff.svg --fail-on-regression 2\n"
	    "  scorch diff --split-at 2026-12-01T14:05:00Z --window 30m /var/tmp/profiles \\\n"
	    "      --tagfocus comm=api --fail-on-regression 1\n"
	    "  scorch diff --remote-store-address parca:7070 --split-at 2026-12-01T14:05:00Z \\\n"
	    "      --window 30m --query 'parca_agent:samples:count:cpu:nanoseconds:delta{comm=\"api\"}'\n",
	    f);
}

static int parse_diff_args(int argc, char **argv, struct diff_args *a)
{
	enum {
		OPT_PPROF = 0x100,
		OPT_FAIL,
		OPT_TITLE,
		OPT_WIDTH,
		OPT_INVERTED,
		OPT_SAMPLE_INDEX,
		OPT_BASE,
		OPT_NEW,
		OPT_SPLIT,
		OPT_WINDOW,
		OPT_TAGFOCUS,
		OPT_JSON,
		OPT_TEST,
		OPT_ADDRESS,
		OPT_INSECURE,
		OPT_CA,
		OPT_SKIP_VERIFY,
		OPT_TOKEN,
		OPT_CERT,
		OPT_KEY,
		OPT_QUERY,
		OPT_STEP,
	};
	static const struct option opts[] = {
		{ "top", required_argument, NULL, 'n' },
		{ "sample-index", required_argument, NULL, OPT_SAMPLE_INDEX },
		{ "output", required_argument, NULL, 'o' },
		{ "pprof", required_argument, NULL, OPT_PPROF },
		{ "fail-on-regression", required_argument, NULL, OPT_FAIL },
		{ "title", required_argument, NULL, OPT_TITLE },
		{ "width", required_argument, NULL, OPT_WIDTH },
		{ "inverted", no_argument, NULL, OPT_INVERTED },
		{ "base", required_argument, NULL, OPT_BASE },
		{ "new", required_argument, NULL, OPT_NEW },
		{ "split-at", required_argument, NULL, OPT_SPLIT },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "tagfocus", required_argument, NULL, OPT_TAGFOCUS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "test", required_argument, NULL, OPT_TEST },
		{ "remote-store-address", required_argument, NULL, OPT_ADDRESS },
		{ "remote-store-insecure", no_argument, NULL, OPT_INSECURE },
		{ "remote-store-ca-file", required_argument, NULL, OPT_CA },
		{ "remote-store-insecure-skip-verify", no_argument, NULL, OPT_SKIP_VERIFY },
		{ "remote-store-bearer-token-file", required_argument, NULL, OPT_TOKEN },
		{ "remote-store-client-cert-file", required_argument, NULL, OPT_CERT },
		{ "remote-store-client-key-file", required_argument, NULL, OPT_KEY },
		{ "query", required_argument, NULL, OPT_QUERY },
		{ "step", required_argument, NULL, OPT_STEP },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	bool named_sides = false;
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
		case OPT_BASE:
		case OPT_NEW:
			if (expand(&a->side[c == OPT_NEW], optarg))
				return EXIT_USAGE;
			named_sides = true;
			break;
		case OPT_SPLIT:
			if (parse_time_ns(optarg, &a->split_ns)) {
				log_error("invalid --split-at '%s': a moment as RFC 3339 "
					  "(2026-12-01T14:05:00Z) or @UNIX-SECONDS",
					  optarg);
				return EXIT_USAGE;
			}
			a->split = true;
			break;
		case OPT_WINDOW:
			if (parse_duration_ns(optarg, &a->window_ns) || !a->window_ns) {
				log_error("invalid --window '%s': a duration (30m, 1h, 90s)",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_TAGFOCUS:
			if (a->has_tag) {
				log_error("one --tagfocus only");
				return EXIT_USAGE;
			}
			a->tagfocus = strdup(optarg);
			if (!a->tagfocus || parse_tagfocus(a->tagfocus, &a->f, &a->tag))
				return EXIT_USAGE;
			a->f.total_selected = true;
			a->has_tag = true;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_TEST:
			if (!strcmp(optarg, "auto"))
				a->test = TEST_AUTO;
			else if (!strcmp(optarg, "welch"))
				a->test = TEST_WELCH;
			else if (!strcmp(optarg, "z"))
				a->test = TEST_Z;
			else {
				log_error("invalid --test '%s': auto, welch or z", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_ADDRESS:
			a->remote.address = optarg;
			break;
		case OPT_INSECURE:
			a->remote.insecure = true;
			break;
		case OPT_CA:
			a->remote.ca_file = optarg;
			break;
		case OPT_SKIP_VERIFY:
			a->remote.insecure_skip_verify = true;
			break;
		case OPT_TOKEN:
			a->token_file = optarg;
			break;
		case OPT_CERT:
			a->remote.client_cert_file = optarg;
			break;
		case OPT_KEY:
			a->remote.client_key_file = optarg;
			break;
		case OPT_QUERY:
			a->query = optarg;
			break;
		case OPT_STEP:
			if (parse_duration_ns(optarg, &a->step_ns) || a->step_ns < 1000000) {
				log_error(
				    "invalid --step '%s': a duration of 1ms or more (10s, 1m)",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			diff_usage(stdout);
			return -1;
		default: /* said by getopt_exact() */
			return EXIT_USAGE;
		}
	}
	if (a->window_ns && !a->split) {
		log_error("--window goes with --split-at");
		return EXIT_USAGE;
	}
	if (a->remote.address || a->query) {
		if (!a->remote.address || !a->query || !a->split || !a->window_ns) {
			log_error(
			    "from a Parca server: --remote-store-address, --query, --split-at "
			    "and --window together");
			return EXIT_USAGE;
		}
		if (optind != argc || a->side[0].n || a->side[1].n) {
			log_error("from a Parca server: no PATH, --base or --new");
			return EXIT_USAGE;
		}
		if (!a->step_ns)
			a->step_ns = 10000000000ULL; /* the agent's default interval */
		/* the window on both sides of the moment, in nanoseconds since 1970 */
		if (a->window_ns > (uint64_t)a->split_ns ||
		    a->window_ns > (uint64_t)(INT64_MAX - a->split_ns)) {
			log_error("--window reaches before 1970 or past 2262 from --split-at");
			return EXIT_USAGE;
		}
		if (a->window_ns / a->step_ns > DIFF_MAX_SLICES) {
			log_error("--window over --step makes more than %d queries a side",
				  DIFF_MAX_SLICES);
			return EXIT_USAGE;
		}
		return 0;
	}
	if (a->step_ns) {
		log_error("--step goes with --remote-store-address");
		return EXIT_USAGE;
	}
	if (a->split) {
		if (named_sides) {
			log_error("--split-at makes the sides of one set of profiles: give PATHs, "
				  "not --base and --new");
			return EXIT_USAGE;
		}
		if (optind == argc) {
			log_error(
			    "--split-at needs the profiles to split (try 'scorch diff --help')");
			return EXIT_USAGE;
		}
		for (; optind < argc; optind++)
			if (expand(&a->side[0], argv[optind]))
				return EXIT_USAGE;
		return 0;
	}
	if (named_sides) {
		if (optind != argc || !a->side[0].n || !a->side[1].n) {
			log_error("with --base and --new, give both and no other PATH");
			return EXIT_USAGE;
		}
		return 0;
	}
	if (argc - optind != 2) {
		log_error("diff needs BASE and NEW (try 'scorch diff --help')");
		return EXIT_USAGE;
	}
	for (int i = 0; i < 2; i++)
		if (expand(&a->side[i], argv[optind + i]))
			return EXIT_USAGE;
	return 0;
}

/* What the first profile read was: the others must be alike to be merged or compared. */
struct kind {
	char *type, *unit;
	bool of_samples, countable;
	int64_t period;
	char *path;
};

static void kind__free(struct kind *k)
{
	free(k->type);
	free(k->unit);
	free(k->path);
}

/* Read one profile; its weigh in *w (pointing into it). 0, or EXIT_RUNTIME after a line. */
static int read_profile(const char *path, const struct diff_args *a, bool merging, struct kind *k,
			struct profile **ret, struct weigh *w)
{
	char err[256];

	if (profile__read_any(path, ret, err, sizeof(err)) ||
	    profile__choose_value(*ret, a->g.sample_index, w, err, sizeof(err))) {
		log_error("'%s': %s", path, err);
		return EXIT_RUNTIME;
	}
	if (!k->type) {
		k->type = strdup(w->type);
		k->unit = strdup(w->unit);
		k->path = strdup(path);
		k->of_samples = w->of_samples;
		k->countable = w->countable;
		k->period = (*ret)->period;
		if (!k->type || !k->unit || !k->path) {
			log_error("out of memory");
			return EXIT_RUNTIME;
		}
		return 0;
	}
	/*
	 * shares of different things do not compare (CPU time against bytes); samples do, counted
	 * or as CPU time (a folded file against a pprof)
	 */
	if (!(k->of_samples && w->of_samples) &&
	    (strcmp(k->type, w->type) || strcmp(k->unit, w->unit))) {
		if (!merging)
			log_error("BASE's sample type is %s/%s, NEW's %s/%s: choose one both have "
				  "with --sample-index",
				  k->type, k->unit, w->type, w->unit);
		else
			log_error("'%s' is %s/%s, '%s' %s/%s: profiles of different sample types "
				  "do not compare (choose one all have with --sample-index)",
				  k->path, k->type, k->unit, path, w->type, w->unit);
		return EXIT_RUNTIME;
	}
	if (merging && k->period && (*ret)->period && k->period != (*ret)->period) {
		log_error("'%s' has a period of %lld, '%s' of %lld: profiles of different "
			  "periods are not merged",
			  k->path, (long long)k->period, path, (long long)(*ret)->period);
		return EXIT_RUNTIME;
	}
	k->countable = k->countable && w->countable;
	return 0;
}

/* Which side a profile of time t goes to: 0 BASE, 1 NEW, -1 neither (outside the window). */
static int side_of(const struct diff_args *a, int64_t t)
{
	if (t < a->split_ns)
		return a->window_ns && (uint64_t)(a->split_ns - t) > a->window_ns ? -1 : 0;
	return a->window_ns && (uint64_t)(t - a->split_ns) >= a->window_ns ? -1 : 1;
}

/* The JSON number of a share or points; NaN (no interval) as null. */
static void json_num(double v)
{
	if (isnan(v))
		fputs("null", stdout);
	else
		printf("%.6g", v);
}

/* ,"NAME":{"was":..,"now":..,"change":..,"ci":[lo,hi],"p":..,"q":..,"significant":..} */
static void json_measure(const char *name, double was, double now, double change, double lo,
			 double hi, double p, double q, bool significant)
{
	const double v[] = { was, now, change, lo, hi, p, q };
	static const char *const keys[] = { "was", "now", "change", "ci", "", "p", "q" };

	printf(",\"%s\":{", name);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		/* the interval is one array of two */
		printf(i == 3 ? ",\"ci\":[" : i == 4 ? "," : "%s\"%s\":", i ? "," : "", keys[i]);
		json_num(v[i]);
		if (i == 4)
			putchar(']');
	}
	printf(",\"significant\":%s}", significant ? "true" : "false");
}

static void print_json(const struct diff_args *a, const struct sides *s, const char *test,
		       const struct change_row *rows, size_t nrows, bool regression)
{
	const char *side_names[2] = { "base", "new" };

	printf("{\"test\":\"%s\"", test);
	for (int i = 0; i < 2; i++)
		printf(",\"%s\":{\"profiles\":%.0f,\"skipped\":%zu,\"total\":%.0f}", side_names[i],
		       s->replicates[i], s->skipped[i], s->total[i]);
	printf(",\"regression\":%s,\"functions\":[", regression ? "true" : "false");
	for (size_t i = 0; i < nrows && i < a->top; i++) {
		const struct change_row *c = &rows[i];

		printf("%s{\"name\":", i ? "," : "");
		utf8_json_string(stdout, c->fn->name);
		json_measure("self", 100 * c->was_self, 100 * c->now_self, c->dself, c->self_lo,
			     c->self_hi, c->pself, c->qself, c->sself);
		json_measure("cum", 100 * c->was_cum, 100 * c->now_cum, c->dcum, c->cum_lo,
			     c->cum_hi, c->pcum, c->qcum, c->scum);
		putchar('}');
	}
	printf("]}\n");
}

/* s as utf8_print_text() writes it (no control characters), into buf. */
static const char *printable(const char *s, char *buf, size_t size)
{
	FILE *f = fmemopen(buf, size, "w");

	if (!f)
		return "?";
	utf8_print_text(f, s, NULL);
	fclose(f);
	buf[size - 1] = 0;
	return buf;
}

/* A side for messages: its only file, or how many profiles. */
static const char *side_label(const struct paths *p, double replicates, char *buf, size_t size)
{
	if (p->n == 1)
		return printable(p->v[0], buf, size);
	snprintf(buf, size, "%.0f profiles", replicates);
	return buf;
}

static void put_time(Parca__Query__V1alpha1__Timestamp *t, int64_t ns)
{
	t->seconds = ns / 1000000000;
	t->nanos = (int32_t)(ns % 1000000000);
}

/*
 * The sides from a Parca server: for each step of each side's window, one Query (MERGE of
 * --query over [t, t + step), report type PPROF), each answer a profile of its own (an
 * interval: a replicate). A step without profiles (NOT_FOUND, or an empty answer) is left
 * out. The answers are kept in a private directory while compared. EXIT_OK or an exit code.
 */
static int fetch_remote(struct diff_args *a)
{
	const char *method = "/parca.query.v1alpha1.QueryService/Query";
	char tmpl[] = "/tmp/scorch-diff.XXXXXX", *token = NULL;
	struct grpc_client *c = NULL;
	size_t empty = 0, calls = 0;
	uint64_t kept = 0, began = now_ns(CLOCK_MONOTONIC);
	int ret = EXIT_RUNTIME;

	if (a->token_file && !(token = read_bearer_token(a->token_file)))
		return EXIT_RUNTIME;
	a->remote.bearer_token = token;
	a->remote.timeout_ms = 60000;
	a->remote.max_response = DIFF_MAX_RESPONSE;
	c = grpc_client__new(&a->remote);
	if (!c) {
		log_error("cannot set up the connection to '%s'%s", a->remote.address,
			  a->remote.ca_file ? " (is the CA file readable?)" : "");
		goto out;
	}
	if (!mkdtemp(tmpl)) {
		log_error("cannot make a directory for the answers: %s", strerror(errno));
		goto out;
	}
	a->slice_dir = strdup(tmpl);
	if (!a->slice_dir) {
		rmdir(tmpl);
		log_error("out of memory");
		goto out;
	}
	for (int side = 0; side < 2; side++) {
		int64_t from = side ? a->split_ns : a->split_ns - (int64_t)a->window_ns;
		int64_t to = side ? a->split_ns + (int64_t)a->window_ns : a->split_ns;

		for (uint64_t k = 0; k * a->step_ns < (uint64_t)(to - from); k++) {
			int64_t t = from + (int64_t)(k * a->step_ns);
			Parca__Query__V1alpha1__QueryRequest req =
			    PARCA__QUERY__V1ALPHA1__QUERY_REQUEST__INIT;
			Parca__Query__V1alpha1__MergeProfile merge =
			    PARCA__QUERY__V1ALPHA1__MERGE_PROFILE__INIT;
			Parca__Query__V1alpha1__Timestamp start =
			    PARCA__QUERY__V1ALPHA1__TIMESTAMP__INIT;
			Parca__Query__V1alpha1__Timestamp end =
			    PARCA__QUERY__V1ALPHA1__TIMESTAMP__INIT;
			Parca__Query__V1alpha1__QueryResponse *resp;
			struct grpc_result res = { 0 };
			char path[PATH_MAX];
			uint8_t *buf;
			size_t len;
			int r;

			put_time(&start, t);
			put_time(&end, t + (int64_t)a->step_ns < to ? t + (int64_t)a->step_ns : to);
			merge.query = (char *)a->query;
			merge.start = &start;
			merge.end = &end;
			req.mode = PARCA__QUERY__V1ALPHA1__QUERY_REQUEST__MODE__MODE_MERGE;
			req.options_case = PARCA__QUERY__V1ALPHA1__QUERY_REQUEST__OPTIONS_MERGE;
			req.merge = &merge;
			req.report_type =
			    PARCA__QUERY__V1ALPHA1__QUERY_REQUEST__REPORT_TYPE__REPORT_TYPE_PPROF;
			len = parca__query__v1alpha1__query_request__get_packed_size(&req);
			buf = malloc(len ? len : 1);
			if (!buf) {
				log_error("out of memory");
				goto out;
			}
			parca__query__v1alpha1__query_request__pack(&req, buf);
			if (now_ns(CLOCK_MONOTONIC) - began > DIFF_REMOTE_DEADLINE_NS) {
				free(buf);
				log_error(
				    "'%s': %zu queries in 15 minutes and more to make; refusing "
				    "(a shorter --window or a longer --step)",
				    a->remote.address, calls);
				goto out;
			}
			calls++;
			r = grpc_client__call(c, method, buf, len, &res);
			free(buf);
			if (r == 5 /* NOT_FOUND */) {
				free(res.response);
				empty++;
				continue;
			}
			if (r != GRPC_OK) {
				log_error("'%s': Query failed (%s: %s)", a->remote.address,
					  grpc_code_name(r), res.message);
				free(res.response);
				goto out;
			}
			/* bounded by the response bound; the pprof inside by the decoder's */
			resp = parca__query__v1alpha1__query_response__unpack(
			    NULL, res.response_len, res.response ? res.response : (uint8_t *)"");
			free(res.response);
			if (!resp || resp->report_case !=
					 PARCA__QUERY__V1ALPHA1__QUERY_RESPONSE__REPORT_PPROF) {
				log_error("'%s': Query answered without a pprof%s",
					  a->remote.address, resp ? "" : " (not a QueryResponse)");
				if (resp)
					parca__query__v1alpha1__query_response__free_unpacked(resp,
											      NULL);
				goto out;
			}
			if (!resp->pprof.len) {
				parca__query__v1alpha1__query_response__free_unpacked(resp, NULL);
				empty++;
				continue;
			}
			/* each answer a profile, or refused now (not after 2 GB of others) */
			{
				struct profile *check = NULL;
				char err[256];

				if (profile__decode_any(resp->pprof.data, resp->pprof.len, &check,
							err, sizeof(err))) {
					log_error("'%s': Query's answer for %lld: %s",
						  a->remote.address, (long long)(t / 1000000000),
						  err);
					parca__query__v1alpha1__query_response__free_unpacked(resp,
											      NULL);
					goto out;
				}
				profile__free(check);
			}
			kept += resp->pprof.len;
			if (kept > DIFF_MAX_ANSWERS) {
				log_error(
				    "'%s': the answers pass 2 GB; refusing (a shorter --window "
				    "or a longer --step)",
				    a->remote.address);
				parca__query__v1alpha1__query_response__free_unpacked(resp, NULL);
				goto out;
			}
			snprintf(path, sizeof(path), "%s/%d-%06zu.pb.gz", a->slice_dir, side,
				 calls);
			r = write_file_atomic(path, resp->pprof.data, resp->pprof.len, 0600);
			parca__query__v1alpha1__query_response__free_unpacked(resp, NULL);
			if (!r)
				r = paths__add(&a->side[side], path);
			if (r) {
				log_error("cannot keep the answer in '%s': %s", path, strerror(-r));
				goto out;
			}
		}
	}
	log_debug("'%s': %zu queries, %zu without profiles", a->remote.address, calls, empty);
	/* the sides are made: each answer is the side it was asked for */
	a->split = false;
	ret = EXIT_OK;
out:
	grpc_client__free(c);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	return ret;
}

/* The answers kept while comparing, removed. */
static void remove_slices(struct diff_args *a)
{
	for (int side = 0; side < 2 && a->slice_dir; side++)
		for (size_t i = 0; i < a->side[side].n; i++)
			unlink(a->side[side].v[i]);
	if (a->slice_dir)
		rmdir(a->slice_dir);
	free(a->slice_dir);
	a->slice_dir = NULL;
}

int cmd_diff(int argc, char **argv)
{
	struct diff_args a = { .top = 20 };
	struct sides s = { .index = hmap__new() };
	struct named merged[2] = { { 0 }, { 0 } };
	struct profile *first[2] = { NULL, NULL };
	struct change_row *rows = NULL;
	struct verdicts verdicts = { 0 };
	struct kind k = { 0 };
	struct ftree *t = NULL;
	size_t nrows = 0, ntests, nprofiles;
	int ret = EXIT_RUNTIME, r;
	bool regression = false, counts, replicated, graphs;
	double *pv = NULL;
	struct weigh w[2], wm;
	const struct paths *shown[2];
	struct paths split_sides[2] = { { 0 }, { 0 } };
	char tb[2][48], lb[2][PATH_MAX], ty[3][160];

	if (!s.index) {
		log_error("out of memory");
		return EXIT_RUNTIME;
	}
	r = parse_diff_args(argc, argv, &a);
	if (r) {
		ret = r < 0 ? EXIT_OK : r;
		goto out;
	}
	if (a.remote.address) {
		r = fetch_remote(&a);
		if (r) {
			ret = r;
			goto out;
		}
	}
	nprofiles = a.side[0].n + a.side[1].n;
	graphs = a.g.output || a.pprof;
	/* each profile in turn: nothing holds more than one of them, and what is merged */
	for (int side = 0; side < 2; side++) {
		for (size_t i = 0; i < a.side[side].n; i++) {
			const char *path = a.side[side].v[i];
			struct profile *p = NULL;
			struct weigh pw;
			int to = side;

			r = read_profile(path, &a, nprofiles > 2, &k, &p, &pw);
			if (r) {
				profile__free(p);
				goto out;
			}
			if (a.split) {
				if (!p->time_nanos) {
					log_error("'%s' has no time: --split-at needs each "
						  "profile's",
						  path);
					profile__free(p);
					goto out;
				}
				to = side_of(&a, p->time_nanos);
				if (to < 0) {
					profile__free(p);
					continue;
				}
				if (paths__add(&split_sides[to], path)) {
					profile__free(p);
					goto nomem;
				}
			}
			pw.counts = pw.countable;
			r = sides__add(&s, to, p, &pw, a.has_tag ? &a.f : NULL);
			if (!r && graphs && !merged[to].p)
				r = named__init(&merged[to], k.countable ? "samples" : k.type,
						k.countable ? "count" : k.unit, code_file(p));
			if (!r && graphs)
				r = named__add(&merged[to], p, &pw, a.has_tag ? &a.f : NULL, 1,
					       false);
			if (r == -E2BIG) {
				log_error("the merged profiles expand into more than %u million "
					  "frames; refusing (fewer profiles, or no -o and --pprof)",
					  DIFF_MAX_MERGED >> 20);
				profile__free(p);
				goto out;
			}
			if (r) {
				profile__free(p);
				goto nomem;
			}
			/* one profile a side: its weigh (types, units) for the output */
			if (!first[to]) {
				first[to] = p;
				w[to] = pw;
			} else {
				profile__free(p);
			}
		}
	}
	shown[0] = a.split ? &split_sides[0] : &a.side[0];
	shown[1] = a.split ? &split_sides[1] : &a.side[1];
	for (int i = 0; i < 2; i++) {
		if (s.total[i] > 0)
			continue;
		if (a.split && !shown[i]->n)
			log_error("no profile %s the split%s: nothing to compare",
				  i ? "from" : "before", a.window_ns ? " within the window" : "");
		else if (shown[i]->n == 1)
			log_error("'%s' has no samples%s: nothing to compare", shown[i]->v[0],
				  a.has_tag ? " of the selection" : "");
		else
			log_error("%s: %zu profiles and no samples%s: nothing to compare",
				  i ? "NEW" : "BASE", shown[i]->n,
				  a.has_tag ? " of the selection" : "");
		goto out;
	}
	counts = k.countable;
	if (a.fail_on && !counts) {
		log_error("--fail-on-regression needs sample counts to test; %s is in %s", k.type,
			  k.unit);
		goto out;
	}
	/* intervals are replicates when each side has two at least */
	replicated = counts && s.replicates[0] >= 2 && s.replicates[1] >= 2 && a.test != TEST_Z;
	if (a.test == TEST_WELCH && !replicated) {
		log_error("--test welch needs two profiles with samples on each side at least "
			  "(BASE %.0f, NEW %.0f)%s",
			  s.replicates[0], s.replicates[1], counts ? "" : ", and sample counts");
		goto out;
	}
	rows = calloc(s.n + 1, sizeof(*rows));
	pv = calloc(2 * s.n + 1, sizeof(*pv));
	if (!rows || !pv)
		goto nomem;
	/* two tests (self and cumulative) per function */
	ntests = 2 * s.n;
	for (size_t i = 0; i < s.n; i++) {
		const struct fn_stats *fn = &s.fns[i];
		struct change_row *c = &rows[i];

		*c = (struct change_row){ .fn = fn,
					  .pself = 1,
					  .pcum = 1,
					  .self_lo = NAN,
					  .self_hi = NAN,
					  .cum_lo = NAN,
					  .cum_hi = NAN };
		if (replicated) {
			struct moments m[4] = { fn->self[0], fn->self[1], fn->cum[0], fn->cum[1] };
			double fl[4];
			struct welch ws, wc;

			/* a profile without the function is an observation of 0 */
			for (int j = 0; j < 4; j++)
				m[j].n = s.replicates[j & 1];
			/*
			 * no side varies less than sampling makes it: the binomial variance of the
			 * share both sides have together (as if unchanged), from a side's samples
			 * per profile
			 */
			for (int j = 0; j < 4; j++) {
				const struct moments *x = &m[j & 2], *y = &m[(j & 2) + 1];
				double pooled = (x->sum + y->sum) / (x->n + y->n);

				fl[j] =
				    pooled * (1 - pooled) / (s.total[j & 1] / s.replicates[j & 1]);
			}
			welch_test_floor(&m[0], &m[1], fl[0], fl[1], 1 - DIFF_ALPHA, &ws);
			welch_test_floor(&m[2], &m[3], fl[2], fl[3], 1 - DIFF_ALPHA, &wc);
			c->was_self = ws.mean_a;
			c->now_self = ws.mean_b;
			c->was_cum = wc.mean_a;
			c->now_cum = wc.mean_b;
			c->pself = ws.p;
			c->pcum = wc.p;
			c->self_lo = 100 * ws.lo;
			c->self_hi = 100 * ws.hi;
			c->cum_lo = 100 * wc.lo;
			c->cum_hi = 100 * wc.hi;
		} else {
			c->was_self = fn->self_n[0] / s.total[0];
			c->now_self = fn->self_n[1] / s.total[1];
			c->was_cum = fn->cum_n[0] / s.total[0];
			c->now_cum = fn->cum_n[1] / s.total[1];
			if (counts) {
				c->pself = two_proportion_p(fn->self_n[0], s.total[0],
							    fn->self_n[1], s.total[1]);
				c->pcum = two_proportion_p(fn->cum_n[0], s.total[0], fn->cum_n[1],
							   s.total[1]);
			}
		}
		c->dself = 100 * (c->now_self - c->was_self);
		c->dcum = 100 * (c->now_cum - c->was_cum);
		pv[2 * i] = c->pself;
		pv[2 * i + 1] = c->pcum;
	}
	if (replicated && benjamini_hochberg(pv, ntests, pv))
		goto nomem;
	if (replicated && a.g.output && !(verdicts.index = hmap__new()))
		goto nomem;
	for (size_t i = 0; i < s.n; i++) {
		struct change_row *c = &rows[i];

		if (replicated) {
			c->qself = pv[2 * i];
			c->qcum = pv[2 * i + 1];
			c->sself = c->qself < DIFF_ALPHA;
			c->scum = c->qcum < DIFF_ALPHA;
			/* a frame's width is its function's cumulative share there */
			if (verdicts.index &&
			    hmap__put(verdicts.index, c->fn->name, strlen(c->fn->name),
				      (void *)(uintptr_t)(1 + c->scum)))
				goto nomem;
		} else {
			/* Bonferroni: the adjusted p-value */
			c->qself = fmin(1, c->pself * ntests);
			c->qcum = fmin(1, c->pcum * ntests);
			c->sself = counts && c->pself * ntests < DIFF_ALPHA;
			c->scum = counts && c->pcum * ntests < DIFF_ALPHA;
		}
		if (a.fail_on && c->dself > a.fail_pct && c->sself) {
			if (!regression && !a.json)
				fprintf(stderr, "\n");
			log_error("regression: '%s' self share %.2f%% -> %.2f%% (%+.2f points, "
				  "significant; the limit is %.2f)",
				  c->fn->name, 100 * c->was_self, 100 * c->now_self, c->dself,
				  a.fail_pct);
			regression = true;
		}
		if (fabs(c->dself) >= 0.005 || fabs(c->dcum) >= 0.005)
			rows[nrows++] = *c;
	}
	qsort(rows, nrows, sizeof(*rows), cmp_change);
	if (a.json) {
		print_json(&a, &s,
			   replicated ? "welch"
			   : counts   ? "z"
				      : "none",
			   rows, nrows, regression);
	} else {
		const char *bl = side_label(shown[0], s.replicates[0], lb[0], sizeof(lb[0]));
		const char *nl = side_label(shown[1], s.replicates[1], lb[1], sizeof(lb[1]));

		if (replicated) {
			printf("BASE %s: %.0f samples; NEW %s: %.0f samples", bl, s.total[0], nl,
			       s.total[1]);
			if (s.skipped[0] + s.skipped[1])
				printf(" (%zu profiles without samples%s left out)",
				       s.skipped[0] + s.skipped[1],
				       a.has_tag ? " of the selection" : "");
			printf("\nMean shares of each profile, in percent; changes in points with "
			       "95 %% confidence intervals. * significant (Welch's t-test over the "
			       "profiles, Benjamini-Hochberg over %zu tests, 5 %% false discovery "
			       "rate)\n",
			       ntests);
		} else if (counts) {
			printf("BASE %s: %.0f samples; NEW %s: %.0f samples\n", bl, s.total[0], nl,
			       s.total[1]);
			printf(
			    "Shares of all samples, in percent; changes in points. * significant "
			    "(two-proportion z-test, Bonferroni over %zu tests, 5 %%)\n",
			    ntests);
		} else {
			/* the type and unit are the profile's: no control characters to stdout */
			printable(format_value(s.total[0], k.unit, tb[0], sizeof(tb[0])), ty[0],
				  sizeof(ty[0]));
			printable(format_value(s.total[1], k.unit, tb[1], sizeof(tb[1])), ty[1],
				  sizeof(ty[1]));
			printable(k.type, ty[2], sizeof(ty[2]));
			printf("BASE %s: %s of %s; NEW %s: %s\n", bl, ty[0], ty[2], nl, ty[1]);
			printf(
			    "Shares of all %s, in percent; changes in points (values, not sample "
			    "counts: no significance test)\n",
			    ty[2]);
		}
		if (!nrows)
			printf("No function's share changed.\n");
		else if (replicated)
			printf("%8s %8s %9s %17s   %8s %8s %9s   %s\n", "self:was", "now", "change",
			       "95% CI", "cum:was", "now", "change", "function");
		else
			printf("%8s %8s %9s   %8s %8s %9s   %s\n", "self:was", "now", "change",
			       "cum:was", "now", "change", "function");
		for (size_t i = 0; i < nrows && i < a.top; i++) {
			const struct change_row *c = &rows[i];
			char ci[40] = "";

			if (replicated)
				snprintf(ci, sizeof(ci), " [%+6.2f, %+6.2f]", c->self_lo,
					 c->self_hi);
			printf("%7.2f%% %7.2f%% %+8.2f%c%s   %7.2f%% %7.2f%% %+8.2f%c   ",
			       100 * c->was_self, 100 * c->now_self, c->dself, c->sself ? '*' : ' ',
			       ci, 100 * c->was_cum, 100 * c->now_cum, c->dcum,
			       c->scum ? '*' : ' ');
			/* names come from profiled processes and profile files: no escapes */
			utf8_print_text(stdout, c->fn->name, NULL);
			putchar('\n');
		}
	}
	if (a.g.output) {
		struct svg_opts o = { .title = a.g.title,
				      .width = a.g.width,
				      .inverted = a.g.inverted,
				      .diff = true };
		char err[256];

		if (profile__choose_value(merged[1].p, NULL, &wm, err, sizeof(err)))
			goto nomem;
		wm.counts = counts;
		o.weigh = counts ? NULL : &w[1];
		if (verdicts.index) {
			/* the frames coloured by their function's test over the profiles */
			o.verdict = verdict_of;
			o.verdict_ctx = &verdicts;
		}
		t = ftree__from_profile_by(merged[1].p, &wm, NULL);
		if (!t || ftree__add_base_by(t, merged[0].p, &wm) || ftree__sort(t))
			goto nomem;
		r = write_svg(t, &o, a.g.output);
		if (r) {
			log_error("cannot write '%s': %s", a.g.output, strerror(-r));
			goto out;
		}
	}
	if (a.pprof) {
		struct weigh pw[2];
		char err[256];

		if (profile__choose_value(merged[0].p, NULL, &pw[0], err, sizeof(err)) ||
		    profile__choose_value(merged[1].p, NULL, &pw[1], err, sizeof(err)))
			goto nomem;
		pw[0].counts = pw[1].counts = counts;
		r = write_diff_pprof(merged[0].p, merged[1].p, pw, NULL, s.total[0], s.total[1],
				     a.pprof);
		if (r) {
			log_error("cannot write '%s': %s", a.pprof,
				  r == -E2BIG ? "more than 32 million frames" : strerror(-r));
			goto out;
		}
	}
	ret = regression ? EXIT_CHECK : EXIT_OK;
	goto out;
nomem:
	log_error("out of memory");
out:
	ftree__free(t);
	hmap__free(verdicts.index);
	free(rows);
	free(pv);
	sides__free(&s);
	/* the server's answers go before the lists that name them */
	remove_slices(&a);
	for (int i = 0; i < 2; i++) {
		profile__free(merged[i].p);
		hmap__free(merged[i].stacks);
		profile__free(first[i]);
		paths__free(&a.side[i]);
		paths__free(&split_sides[i]);
	}
	kind__free(&k);
	if (a.has_tag)
		regfree(&a.tag);
	free(a.tagfocus);
	return ret;
}
