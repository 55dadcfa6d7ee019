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
#include <stdlib.h>
#include <string.h>

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

static int print_top(const struct profile *p, const struct weigh *w, unsigned int top, bool json)
{
	uint32_t vi = w->vi;
	struct func_table t = { 0 };
	_cleanup_free_ struct func_row **list = NULL;
	int64_t total = 0;
	char a[48], b[48];
	const char *unit;
	int err;

	/* the functions' flat and cumulative values, as flame and diff count them */
	err = func_table__add_values(&t, p, 0, vi);
	list = calloc(t.n + 1, sizeof(*list));
	if (err || !list) {
		func_table__free(&t);
		return err ? err : -ENOMEM;
	}
	for (size_t i = 0; i < t.n; i++)
		list[i] = &t.rows[i];
	qsort(list, t.n, sizeof(*list), cmp_flat);
	for (size_t i = 0; i < p->nsamples; i++)
		total += p->samples[i].values[vi];
	if (json) {
		print_json(w, total, list, t.n, top);
		func_table__free(&t);
		return 0;
	}
	unit = profile__str(p, p->sample_types[vi].unit);
	printf("Type: %s, total %s", profile__str(p, p->sample_types[vi].type),
	       format_value(total, unit, a, sizeof(a)));
	if (profile__value_index(p, "samples") >= 0 &&
	    (int)vi != profile__value_index(p, "samples")) {
		int64_t n = 0;

		for (size_t i = 0; i < p->nsamples; i++)
			n += p->samples[i].values[profile__value_index(p, "samples")];
		printf(" in %" PRId64 " samples", n);
	}
	printf("\n");
	printf("%10s %7s %10s %7s  %s\n", "flat", "flat%", "cum", "cum%", "function");
	for (size_t i = 0; i < t.n && i < top; i++)
		printf("%10s %6.2f%% %10s %6.2f%%  %s\n",
		       format_value(list[i]->self[0], unit, a, sizeof(a)),
		       total ? 100.0 * list[i]->self[0] / total : 0,
		       format_value(list[i]->cum[0], unit, b, sizeof(b)),
		       total ? 100.0 * list[i]->cum[0] / total : 0, list[i]->name);
	func_table__free(&t);
	return 0;
}

static void report_usage(FILE *f)
{
	fputs("Usage: scorch report PROFILE [--top N] [--sample-index NAME|N]\n"
	      "\n"
	      "Print the functions with the most self (flat) time, with their cumulative time.\n"
	      "PROFILE is any pprof file, gzip-compressed or not, or folded stacks.\n"
	      "\n"
	      "Options:\n"
	      "  -n, --top N                 how many functions (default 20)\n"
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

int cmd_report(int argc, char **argv)
{
	enum { OPT_SAMPLE_INDEX = 0x100, OPT_JSON };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "top", required_argument, NULL, 'n' },
		{ "sample-index", required_argument, NULL, OPT_SAMPLE_INDEX },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned int top = 20;
	struct profile *p = NULL;
	const char *sample_index = NULL;
	bool json = false;
	struct weigh w;
	char err[256];
	int c, r;

	opterr = 0;
	optind = 1;
	while ((c = getopt_exact(argc, argv, ":n:h", opts, "report")) != -1) {
		uint64_t v;

		switch (c) {
		case 'n':
			if (parse_u64(optarg, 10, 1, 1000000, &v)) {
				log_error("invalid --top '%s': a positive number", optarg);
				return EXIT_USAGE;
			}
			top = v;
			break;
		case OPT_SAMPLE_INDEX:
			sample_index = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			report_usage(stdout);
			return EXIT_OK;
		default: /* said by getopt_exact() */
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("report needs exactly one PROFILE (try 'scorch report --help')");
		return EXIT_USAGE;
	}
	r = profile__read_any(argv[optind], &p, err, sizeof(err));
	if (r) {
		log_error("'%s': %s", argv[optind], err);
		return EXIT_RUNTIME;
	}
	if (profile__choose_value(p, sample_index, &w, err, sizeof(err))) {
		log_error("'%s': %s", argv[optind], err);
		profile__free(p);
		return EXIT_RUNTIME;
	}
	r = print_top(p, &w, top, json);
	profile__free(p);
	if (r) {
		log_error("out of memory");
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}
