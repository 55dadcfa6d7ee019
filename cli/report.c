// SPDX-License-Identifier: LGPL-2.1-or-later
/* scorch report: the hottest functions of a profile, flat and cumulative, in the terminal. */
#include "cli.h"
#include "hashmap.h"
#include "model.h"
#include "folded.h"
#include "pprof.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct row {
	char *name;
	int64_t flat, cum;
	size_t last_sample; /* counts a function once per sample for cum */
};

static int cmp_flat(const void *a, const void *b)
{
	const struct row *x = *(struct row *const *)a, *y = *(struct row *const *)b;

	if (x->flat != y->flat)
		return x->flat > y->flat ? -1 : 1;
	if (x->cum != y->cum)
		return x->cum > y->cum ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct row *row_for(struct hmap *rows, const char *name)
{
	struct row *r = hmap__get(rows, name, strlen(name));

	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->name = strdup(name);
	r->last_sample = SIZE_MAX;
	if (!r->name || hmap__put(rows, name, strlen(name), r)) {
		free(r->name);
		free(r);
		return NULL;
	}
	return r;
}

/* A value in its unit, as people read it: nanoseconds as seconds. */
static const char *fmt_value(int64_t v, const char *unit, char *buf, size_t size)
{
	if (!strcmp(unit, "nanoseconds"))
		snprintf(buf, size, "%.2fs", v / 1e9);
	else
		snprintf(buf, size, "%" PRId64, v);
	return buf;
}

static int print_top(const struct profile *p, unsigned int top)
{
	uint32_t vi = profile__default_value(p);
	struct hmap *rows = hmap__new();
	struct row **list = NULL;
	int64_t total = 0;
	size_t pos = 0, n = 0;
	char name[512], a[32], b[32];
	const char *unit;
	void *v;
	int err = -ENOMEM;

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct prof_sample *s = &p->samples[i];
		int64_t val = s->values[vi];
		bool leaf = true;

		total += val;
		for (uint32_t j = 0; j < s->nlocs; j++) {
			const struct prof_location *loc = &p->locations[s->locs[j] - 1];
			uint32_t nl = loc->nlines ? loc->nlines : 1;

			for (uint32_t l = 0; l < nl; l++) {
				struct row *r;

				profile__frame_name(p, loc, l, name, sizeof(name));
				r = row_for(rows, name);
				if (!r)
					goto out;
				if (leaf)
					r->flat += val;
				leaf = false;
				if (r->last_sample != i) {
					r->cum += val;
					r->last_sample = i;
				}
			}
		}
	}
	list = calloc(hmap__count(rows) + 1, sizeof(*list));
	if (!list)
		goto out;
	for (pos = 0; hmap__next(rows, &pos, NULL, NULL, &v);)
		list[n++] = v;
	qsort(list, n, sizeof(*list), cmp_flat);
	unit = profile__str(p, p->sample_types[vi].unit);
	printf("Type: %s, total %s", profile__str(p, p->sample_types[vi].type),
	       fmt_value(total, unit, a, sizeof(a)));
	if (profile__value_index(p, "samples") >= 0 &&
	    (int)vi != profile__value_index(p, "samples")) {
		int64_t n = 0;

		for (size_t i = 0; i < p->nsamples; i++)
			n += p->samples[i].values[profile__value_index(p, "samples")];
		printf(" in %" PRId64 " samples", n);
	}
	printf("\n");
	printf("%10s %7s %10s %7s  %s\n", "flat", "flat%", "cum", "cum%", "function");
	for (size_t i = 0; i < n && i < top; i++)
		printf("%10s %6.2f%% %10s %6.2f%%  %s\n",
		       fmt_value(list[i]->flat, unit, a, sizeof(a)),
		       total ? 100.0 * list[i]->flat / total : 0,
		       fmt_value(list[i]->cum, unit, b, sizeof(b)),
		       total ? 100.0 * list[i]->cum / total : 0, list[i]->name);
	err = 0;
out:
	for (pos = 0; hmap__next(rows, &pos, NULL, NULL, &v);) {
		free(((struct row *)v)->name);
		free(v);
	}
	hmap__free(rows);
	free(list);
	return err;
}

static void report_usage(FILE *f)
{
	fputs("Usage: scorch report PROFILE [--top N]\n"
	      "\n"
	      "Print the functions with the most self (flat) time, with their cumulative time.\n"
	      "PROFILE is any pprof file, gzip-compressed or not, or folded stacks.\n"
	      "\n"
	      "Options:\n"
	      "  -n, --top N   how many functions (default 20)\n"
	      "  -h, --help    show this help\n"
	      "\n"
	      "Examples:\n"
	      "  scorch report profile.pb.gz\n"
	      "  scorch report --top 10 cpu.pprof\n",
	      f);
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "top", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned int top = 20;
	struct profile *p = NULL;
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
	r = print_top(p, top);
	profile__free(p);
	if (r) {
		log_error("out of memory");
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}
