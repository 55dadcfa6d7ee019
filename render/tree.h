/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Profiles as trees of frames (root "all", then callers before callees), the shape flame graphs
 * draw, and per-function totals for reports and diffs. Values are sample counts: the "samples"
 * value when the profile has one, else its default value divided by the period when the period
 * is in the same unit (Go's cpu/nanoseconds), else the default value.
 */
#ifndef SCORCH_TREE_H
#define SCORCH_TREE_H

#include "hashmap.h"
#include "model.h"

#include <regex.h>

enum frame_kind {
	FRAME_USER, /* native code with a symbol */
	FRAME_KERNEL,
	FRAME_JIT, /* JIT'ed or unknown code: no symbol, anonymous memory, perf maps */
	FRAME_PYTHON, /* an interpreter's frame: no mapping, a function of a .py file */
};

/* The count a sample stands for (see above). */
double profile__sample_count(const struct profile *p, const struct prof_sample *s);

/*
 * What samples weigh, as --sample-index chooses it: the value at index vi of each, in its unit.
 * It is countable when the values are sample counts or convert to them: a count, or a value in
 * the period's unit (CPU time: each sample stands for one period), one sample being per_sample
 * of the unit; only counts carry the significance tests of diffs.
 */
struct weigh {
	uint32_t vi;
	const char *type, *unit; /* the profile's strings */
	bool countable;
	bool of_samples; /* counts samples: "samples", or a period's worth each (CPU time) */
	double per_sample; /* countable: one sample's value; else 0 */
	bool counts; /* weigh by counts (values / per_sample) instead of values */
};

/*
 * The sample type spec names ("alloc_space") or numbers (0 first) into *ret; spec NULL: as go
 * tool pprof chooses, the profile's default_sample_type, else its last type. 0, or -EINVAL with
 * a one-line reason listing the types in err.
 */
int profile__choose_value(const struct profile *p, const char *spec, struct weigh *ret, char *err,
			  size_t errlen);
/* A sample's weight under w. */
double weigh__sample(const struct profile *p, const struct weigh *w, const struct prof_sample *s);
/* The kind of line `line` of a location. */
enum frame_kind profile__frame_kind(const struct profile *p, const struct prof_location *loc,
				    uint32_t line);

/* Call fn for each frame of a sample, root first (inlined frames inside their caller). */
typedef int (*frame_fn)(void *ctx, const char *name, enum frame_kind kind, bool leaf);
int profile__walk_sample(const struct profile *p, const struct prof_sample *s, frame_fn fn,
			 void *ctx);

struct ftree_node {
	uint32_t name; /* index into ftree.names */
	uint8_t kind;
	uint32_t depth; /* 0 for the root */
	uint32_t child, next; /* first child, next sibling; 0 = none (node 0 is the root) */
	double total, self; /* counts of the profile the tree was built from */
	double base; /* diffs: the same path's total in the base profile */
};

struct ftree {
	struct ftree_node *nodes;
	size_t n, cap;
	char **names;
	size_t nnames, cap_names;
	uint32_t max_depth;
	double base_total; /* diffs: all samples of the base profile */
	struct hmap *name_index, *child_index;
};

struct ftree *ftree__from_profile(const struct profile *p);
/*
 * The same with samples weighing as w says (NULL: their counts), and with root->comm_root each
 * sample's process (comm, comm-PID with root->per_pid) as the first frame under "all".
 */
struct ftree *ftree__from_profile_by(const struct profile *p, const struct weigh *w,
				     const struct folded_opts *root);
/* Diffs: add the base profile's counts to the paths the tree has (others only to the root). */
int ftree__add_base(struct ftree *t, const struct profile *base);
int ftree__add_base_by(struct ftree *t, const struct profile *base, const struct weigh *w);
void ftree__free(struct ftree *t);
/* Children sorted by name, as flame graphs order them (so that two graphs line up). */
int ftree__sort(struct ftree *t);

/* Per-function counts of a pair of profiles ([0] base, [1] new; one profile: [1] only). */
struct func_row {
	char *name;
	double self[2], cum[2];
};

struct func_table {
	struct func_row *rows;
	size_t n, cap;
	double total[2];
	struct hmap *index;
};

/* Add p's samples to side which (0 or 1), each weighing its sample count. 0 or -ENOMEM. */
int func_table__add(struct func_table *t, const struct profile *p, int which);
/* The same, each sample weighing its value at index vi (its own unit), negative ones too. */
int func_table__add_values(struct func_table *t, const struct profile *p, int which, uint32_t vi);
/* The same, each sample weighing as w says (negative values too, unless counted). */
int func_table__add_by(struct func_table *t, const struct profile *p, int which,
		       const struct weigh *w);
void func_table__free(struct func_table *t);

/* What a report aggregates by (go tool pprof's -functions, -lines, -files). */
enum granularity { GRANULARITY_FUNCTIONS, GRANULARITY_LINES, GRANULARITY_FILES };

/*
 * go tool pprof's sample filters. A location matches a regular expression when a line's
 * function name or file name does, or its mapping's file. focus: samples with a matching
 * location; ignore: not those; hide: matching lines (a location whose mapping matches: all of
 * it) are taken out of the stacks, a sample left with none is dropped. tag: samples whose label
 * tag_key is a string matching tag_value, or a number in [tag_lo, tag_hi].
 */
struct sample_filter {
	const regex_t *focus, *ignore, *hide; /* NULL: none */
	const char *tag_key; /* NULL: no tag filter */
	const regex_t *tag_value; /* string labels */
	bool tag_numeric;
	int64_t tag_lo, tag_hi;
	enum granularity granularity;
	/* the total counts only the samples that pass the tag filter (shares within a process) */
	bool total_selected;
};

/*
 * Whether each sample of p passes f's tag filter (all, without one): a malloc'ed array of
 * p->nsamples, each label string matched once; NULL on allocation failure.
 */
bool *sample_filter__tag_mask(const struct profile *p, const struct sample_filter *f);

/*
 * Add p's samples that pass f (NULL: all) to side which, weighed as w says, by the names f's
 * granularity makes ("fn", "fn file:line", "file"). 0 or -ENOMEM.
 */
int func_table__add_filtered(struct func_table *t, const struct profile *p, int which,
			     const struct weigh *w, const struct sample_filter *f);

/*
 * Two-sided p-value of the two-proportion z-test: x1 of n1 against x2 of n2 (pooled variance).
 * 1 when the test does not apply (an empty side, or no variance).
 */
double two_proportion_p(double x1, double n1, double x2, double n2);

#endif
