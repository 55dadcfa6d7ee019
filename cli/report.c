// SPDX-License-Identifier: LGPL-2.1-or-later
/* scorch report: the hottest functions of a profile, flat and cumulative, in the terminal. */
#include "cli.h"
#include "model.h"
#include "folded.h"
#include "pprof.h"
#include "tree.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_cum(const void *a, const void *b)
{
	const struct func_row *x = *(struct func_row *const *)a, *y = *(struct func_row *const *)b;

	if (x->cum[0] != y->cum[0])
		return x->cum[0] > y->cum[0] ? -1 : 1;
	if (x->self[0] != y->self[0])
		return x->self[0] > y->self[0] ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_flat(const void *a, const void *b)
{
	const struct func_row *x = *(struct func_row *const *)a, *y = *(struct func_row *const *)b;

	if (x->self[0] != y->self[0])
		return x->self[0] > y->self[0] ? -1 : 1;
	if (x->cum[0] != y->cum[0])
		return x->cum[0] > y->cum[0] ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The same as JSON, raw values in the sample type's unit, for scripts. */
static void print_json(const struct weigh *w, int64_t total, struct func_row **list, size_t n,
		       unsigned int top)
{
	printf("{\"sample_type\":");
	utf8_json_string(stdout, w->type);
	printf(",\"unit\":");
	utf8_json_string(stdout, w->unit);
	printf(",\"total\":%" PRId64 ",\"functions\":[", total);
	for (size_t i = 0; i < n && i < top; i++) {
		printf("%s{\"name\":", i ? "," : "");
		utf8_json_string(stdout, list[i]->name);
		printf(",\"flat\":%.0f,\"cum\":%.0f}", list[i]->self[0], list[i]->cum[0]);
	}
	printf("]}\n");
}

struct report_args {
	unsigned int top;
	bool json, cum;
	struct sample_filter f;
	regex_t focus, ignore, hide, tag;
	char filters[4][192]; /* what was asked, for the header */
	size_t nfilters;
};

static int print_top(const struct profile *p, const struct weigh *w, const struct report_args *ra)
{
	unsigned int top = ra->top;
	bool json = ra->json;
	uint32_t vi = w->vi;
	struct func_table t = { 0 };
	_cleanup_free_ struct func_row **list = NULL;
	int64_t total = 0;
	char a[48], b[48];
	const char *unit;
	int err;

	/* the functions' flat and cumulative values, as flame and diff count them */
	err = func_table__add_filtered(&t, p, 0, w, &ra->f);
	list = calloc(t.n + 1, sizeof(*list));
	if (err || !list) {
		func_table__free(&t);
		return err ? err : -ENOMEM;
	}
	for (size_t i = 0; i < t.n; i++)
		list[i] = &t.rows[i];
	qsort(list, t.n, sizeof(*list), ra->cum ? cmp_cum : cmp_flat);
	total = llround(t.total[0]);
	if (json) {
		print_json(w, total, list, t.n, top);
		func_table__free(&t);
		return 0;
	}
	unit = profile__str(p, p->sample_types[vi].unit);
	printf("Type: ");
	utf8_print_text(stdout, profile__str(p, p->sample_types[vi].type), NULL);
	printf(", total ");
	/* the unit is the profile's: no control characters to the terminal */
	utf8_print_text(stdout, format_value(total, unit, a, sizeof(a)), NULL);
	if (profile__value_index(p, "samples") >= 0 &&
	    (int)vi != profile__value_index(p, "samples")) {
		int64_t n = 0;

		for (size_t i = 0; i < p->nsamples; i++)
			n += p->samples[i].values[profile__value_index(p, "samples")];
		printf(" in %" PRId64 " samples", n);
	}
	printf("\n");
	if (ra->nfilters) {
		printf("Active filters:");
		for (size_t i = 0; i < ra->nfilters; i++)
			printf(" %s", ra->filters[i]);
		printf("\n");
	}
	printf("%10s %7s %10s %7s  %s\n", "flat", "flat%", "cum", "cum%",
	       ra->f.granularity == GRANULARITY_FILES	? "file"
	       : ra->f.granularity == GRANULARITY_LINES ? "line"
							: "function");
	for (size_t i = 0; i < t.n && i < top; i++) {
		printf("%10s %6.2f%% %10s %6.2f%%  ",
		       format_value(list[i]->self[0], unit, a, sizeof(a)),
		       total ? 100.0 * list[i]->self[0] / total : 0,
		       format_value(list[i]->cum[0], unit, b, sizeof(b)),
		       total ? 100.0 * list[i]->cum[0] / total : 0);
		/* names come from profiled processes and profile files: no escapes to the terminal */
		utf8_print_text(stdout, list[i]->name, NULL);
		putchar('\n');
	}
	func_table__free(&t);
	return 0;
}

static void report_usage(FILE *f)
{
	fputs("Usage: scorch report PROFILE [--top N] [--sample-index NAME|N] [--json] [--cum]\n"
	      "                     [--focus RE] [--ignore RE] [--hide RE] [--tagfocus K=V]\n"
	      "                     [--granularity functions|lines|files]\n"
	      "\n"
	      "Print the functions with the most self (flat) time, with their cumulative time.\n"
	      "PROFILE is any pprof file, gzip-compressed or not, or folded stacks. Shares are of\n"
	      "the whole profile, filters or not, as go tool pprof's. Regular expressions are\n"
	      "POSIX extended ones (go tool pprof's RE2 in their common forms).\n"
	      "\n"
	      "Options:\n"
	      "  -n, --top N                 how many functions (default 20; --nodecount too)\n"
	      "      --cum                   order by cumulative value, not flat\n"
	      "      --focus REGEX           only samples with a frame whose function or file\n"
	      "                              (or mapping) matches, as go tool pprof -focus\n"
	      "      --ignore REGEX          not the samples with such a frame\n"
	      "      --hide REGEX            leave matching frames out of the stacks\n"
	      "      --tagfocus KEY=VALUE    only samples whose label KEY matches: a regular\n"
	      "                              expression (comm=nginx), or N or N:M for numbers\n"
	      "                              (pid=1234); keys: pid, comm, thread, systemd_unit,\n"
	      "                              pod_uid, container_id, any label the profile has\n"
	      "      --granularity G         functions (default), lines or files\n"
	      "      --json                  one JSON object: sample_type, unit, total and the\n"
	      "                              functions (name, flat, cum) in that unit\n"
	      "      --sample-index NAME|N   the sample type shown (alloc_space, 0, ...;\n"
	      "                              default: the profile's default type, else its\n"
	      "                              last, as go tool pprof)\n"
	      "  -h, --help                  show this help\n"
	      "\n"
	      "Examples:\n"
	      "  scorch report profile.pb.gz\n"
	      "  scorch report --top 10 cpu.pprof\n",
	      f);
}

/* Compile a --focus/--ignore/--hide/--tagfocus expression: 0, or -EINVAL after a line. */
static int compile(regex_t *re, const char *pattern, const char *flag)
{
	char msg[128];
	int r = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);

	if (r) {
		regerror(r, re, msg, sizeof(msg));
		log_error("invalid %s '%s': %s", flag, pattern, msg);
		return -EINVAL;
	}
	return 0;
}

int parse_tagfocus(char *arg, struct sample_filter *f, regex_t *re)
{
	char *eq = strchr(arg, '='), *colon;
	uint64_t lo, hi;

	if (!eq || eq == arg || !eq[1]) {
		log_error("invalid --tagfocus '%s': expected KEY=VALUE (comm=nginx, pid=1234, "
			  "pid=100:200)",
			  arg);
		return -EINVAL;
	}
	*eq = 0;
	/* "thread" for the thread_id label, as people write it */
	f->tag_key = !strcmp(arg, "thread") ? "thread_id" : arg;
	colon = strchr(eq + 1, ':');
	if (colon)
		*colon = 0;
	if (!parse_u64(eq + 1, 10, 0, INT64_MAX, &lo) &&
	    (!colon || !parse_u64(colon + 1, 10, lo, INT64_MAX, &hi))) {
		f->tag_numeric = true;
		f->tag_lo = (int64_t)lo;
		f->tag_hi = colon ? (int64_t)hi : (int64_t)lo;
		return 0;
	}
	if (colon)
		*colon = ':';
	if (compile(re, eq + 1, "--tagfocus"))
		return -EINVAL;
	f->tag_value = re;
	return 0;
}

int cmd_report(int argc, char **argv)
{
	enum {
		OPT_SAMPLE_INDEX = 0x100,
		OPT_JSON,
		OPT_FOCUS,
		OPT_IGNORE,
		OPT_HIDE,
		OPT_TAGFOCUS,
		OPT_GRANULARITY,
		OPT_CUM,
	};
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "top", required_argument, NULL, 'n' },
		{ "nodecount", required_argument, NULL, 'n' },
		{ "sample-index", required_argument, NULL, OPT_SAMPLE_INDEX },
		{ "focus", required_argument, NULL, OPT_FOCUS },
		{ "ignore", required_argument, NULL, OPT_IGNORE },
		{ "hide", required_argument, NULL, OPT_HIDE },
		{ "tagfocus", required_argument, NULL, OPT_TAGFOCUS },
		{ "granularity", required_argument, NULL, OPT_GRANULARITY },
		{ "cum", no_argument, NULL, OPT_CUM },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct report_args ra = { .top = 20 };
	struct profile *p = NULL;
	const char *sample_index = NULL;
	int ret = EXIT_USAGE, c, r;
	struct weigh w;
	char err[256];

	opterr = 0;
	optind = 1;
	while ((c = getopt_exact(argc, argv, ":n:h", opts, "report")) != -1) {
		uint64_t v;

		switch (c) {
		case 'n':
			if (parse_u64(optarg, 10, 1, 1000000, &v)) {
				log_error("invalid --top '%s': a positive number", optarg);
				goto out;
			}
			ra.top = v;
			break;
		case OPT_SAMPLE_INDEX:
			sample_index = optarg;
			break;
		case OPT_JSON:
			ra.json = true;
			break;
		case OPT_CUM:
			ra.cum = true;
			break;
		case OPT_FOCUS:
		case OPT_IGNORE:
		case OPT_HIDE: {
			regex_t *re = c == OPT_FOCUS	? &ra.focus
				      : c == OPT_IGNORE ? &ra.ignore
							: &ra.hide;
			const regex_t **slot = c == OPT_FOCUS	 ? &ra.f.focus
					       : c == OPT_IGNORE ? &ra.f.ignore
								 : &ra.f.hide;

			if (*slot) {
				log_error("one %s only (join alternatives with |)",
					  c == OPT_FOCUS    ? "--focus"
					  : c == OPT_IGNORE ? "--ignore"
							    : "--hide");
				goto out;
			}
			if (compile(re, optarg,
				    c == OPT_FOCUS    ? "--focus"
				    : c == OPT_IGNORE ? "--ignore"
						      : "--hide"))
				goto out;
			*slot = re;
			snprintf(ra.filters[ra.nfilters++], sizeof(ra.filters[0]), "%s=%s",
				 c == OPT_FOCUS	   ? "focus"
				 : c == OPT_IGNORE ? "ignore"
						   : "hide",
				 optarg);
			break;
		}
		case OPT_TAGFOCUS:
			if (ra.f.tag_key) {
				log_error("one --tagfocus only");
				goto out;
			}
			snprintf(ra.filters[ra.nfilters++], sizeof(ra.filters[0]), "tagfocus=%s",
				 optarg);
			if (parse_tagfocus(optarg, &ra.f, &ra.tag))
				goto out;
			break;
		case OPT_GRANULARITY:
			if (!strcmp(optarg, "functions")) {
				ra.f.granularity = GRANULARITY_FUNCTIONS;
			} else if (!strcmp(optarg, "lines")) {
				ra.f.granularity = GRANULARITY_LINES;
			} else if (!strcmp(optarg, "files")) {
				ra.f.granularity = GRANULARITY_FILES;
			} else {
				log_error("invalid --granularity '%s': functions, lines or files",
					  optarg);
				goto out;
			}
			break;
		case 'h':
			report_usage(stdout);
			ret = EXIT_OK;
			goto out;
		default: /* said by getopt_exact() */
			goto out;
		}
	}
	if (optind != argc - 1) {
		log_error("report needs exactly one PROFILE (try 'scorch report --help')");
		goto out;
	}
	ret = EXIT_RUNTIME;
	r = profile__read_any(argv[optind], &p, err, sizeof(err));
	if (r) {
		log_error("'%s': %s", argv[optind], err);
		goto out;
	}
	if (profile__choose_value(p, sample_index, &w, err, sizeof(err))) {
		log_error("'%s': %s", argv[optind], err);
		goto out;
	}
	r = print_top(p, &w, &ra);
	if (r) {
		log_error("out of memory");
		goto out;
	}
	ret = EXIT_OK;
out:
	profile__free(p);
	if (ra.f.focus)
		regfree(&ra.focus);
	if (ra.f.ignore)
		regfree(&ra.ignore);
	if (ra.f.hide)
		regfree(&ra.hide);
	if (ra.f.tag_value)
		regfree(&ra.tag);
	return ret;
}
