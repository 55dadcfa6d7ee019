// SPDX-License-Identifier: LGPL-2.1-or-later
/* Building frame trees and per-function totals from a profile. */
#include "tree.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * The values of type vi are a number of periods: the period is of that very type (Go's and
 * scorch's cpu/nanoseconds). A heap profile's period (space/bytes) is its sampling rate, not
 * what each of its alloc_space or inuse_space values is made of.
 */
static bool period_counts(const struct profile *p, uint32_t vi)
{
	return p->period > 0 && p->period_type.unit && p->period_type.type &&
	       p->period_type.unit == p->sample_types[vi].unit &&
	       p->period_type.type == p->sample_types[vi].type;
}

double profile__sample_count(const struct profile *p, const struct prof_sample *s)
{
	int ci = profile__value_index(p, "samples");
	uint32_t vi;

	if (ci >= 0)
		return s->values[ci];
	vi = profile__default_value(p);
	if (period_counts(p, vi))
		return (double)s->values[vi] / p->period;
	return s->values[vi];
}

int profile__choose_value(const struct profile *p, const char *spec, struct weigh *ret, char *err,
			  size_t errlen)
{
	uint32_t vi = profile__default_value(p);
	const struct prof_value_type *t;
	uint64_t n;

	if (!p->nsample_types)
		return fail_with(err, errlen, -EINVAL, "the profile has no sample types");
	if (spec && !parse_u64(spec, 10, 0, p->nsample_types - 1, &n)) {
		vi = (uint32_t)n;
	} else if (spec) {
		int i = profile__value_index(p, spec);
		size_t len;

		if (i < 0) {
			len = (size_t)snprintf(err, errlen, "no sample type '%s' (it has", spec);
			for (uint32_t k = 0; k < p->nsample_types && len < errlen; k++)
				len += (size_t)snprintf(err + len, errlen - len, "%s %u %s/%s",
							k ? "," : "", k,
							profile__str(p, p->sample_types[k].type),
							profile__str(p, p->sample_types[k].unit));
			if (len < errlen)
				snprintf(err + len, errlen - len, ")");
			return -EINVAL;
		}
		vi = (uint32_t)i;
	}
	t = &p->sample_types[vi];
	*ret = (struct weigh){ .vi = vi,
			       .type = profile__str(p, t->type),
			       .unit = profile__str(p, t->unit) };
	if (!strcmp(ret->unit, "count")) {
		ret->countable = true;
		ret->of_samples = !strcmp(ret->type, "samples");
		ret->per_sample = 1;
	} else if (period_counts(p, vi)) {
		ret->countable = ret->of_samples = true;
		ret->per_sample = (double)p->period;
	}
	return 0;
}

double weigh__sample(const struct profile *p, const struct weigh *w, const struct prof_sample *s)
{
	if (!w)
		return profile__sample_count(p, s);
	if (w->vi >= p->nsample_types)
		return 0;
	return w->counts && w->per_sample > 0 ? s->values[w->vi] / w->per_sample
					      : (double)s->values[w->vi];
}

enum frame_kind profile__frame_kind(const struct profile *p, const struct prof_location *loc,
				    uint32_t line)
{
	const struct prof_mapping *m = NULL;
	const char *file = "";

	if (loc->mapping && loc->mapping <= p->nmappings) {
		m = &p->mappings[loc->mapping - 1];
		file = profile__str(p, m->filename);
	}
	if (profile__is_kernel_address(loc->address) || !strncmp(file, "[kernel", 7))
		return FRAME_KERNEL;
	if (line >= loc->nlines || !loc->lines[line].function ||
	    loc->lines[line].function > p->nfunctions)
		return FRAME_JIT; /* no symbol: a bare address */
	if (!m) {
		const char *src =
		    profile__str(p, p->functions[loc->lines[line].function - 1].filename);
		size_t n = strlen(src);

		/* Python frames: scripts, and the importer's frozen modules ("<frozen ...>") */
		if ((n > 3 && !strcmp(src + n - 3, ".py")) || !strncmp(src, "<frozen ", 8))
			return FRAME_PYTHON;
	}
	if (!strcmp(file, "[jit]") || !strncmp(file, "[anon", 5) || !strncmp(file, "//anon", 6) ||
	    !strncmp(file, "/tmp/perf-", 10) || !strncmp(file, "/memfd:", 7))
		return FRAME_JIT;
	return FRAME_USER;
}

int profile__walk_sample(const struct profile *p, const struct prof_sample *s, frame_fn fn,
			 void *ctx)
{
	char name[1024];
	int r;

	for (uint32_t j = s->nlocs; j-- > 0;) {
		const struct prof_location *loc;
		uint32_t nl;

		if (!s->locs[j] || s->locs[j] > p->nlocations)
			continue;
		loc = &p->locations[s->locs[j] - 1];
		nl = loc->nlines ? loc->nlines : 1;
		for (uint32_t l = nl; l-- > 0;) {
			profile__frame_name(p, loc, l, name, sizeof(name));
			r = fn(ctx, name, profile__frame_kind(p, loc, l), j == 0 && l == 0);
			if (r)
				return r;
		}
	}
	return 0;
}

/* ---- trees ---- */

struct child_key {
	uint32_t parent, name;
	uint32_t kind;
};

static int64_t name_id(struct ftree *t, const char *name, bool add)
{
	void *v = hmap__get(t->name_index, name, strlen(name));
	char *copy;

	if (v)
		return (int64_t)(uintptr_t)v - 1;
	if (!add)
		return -ENOENT;
	if (grow_array((void **)&t->names, &t->cap_names, t->nnames + 1, sizeof(*t->names)))
		return -ENOMEM;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	if (hmap__put(t->name_index, name, strlen(name), (void *)(uintptr_t)(t->nnames + 1))) {
		free(copy);
		return -ENOMEM;
	}
	t->names[t->nnames] = copy;
	return t->nnames++;
}

static int64_t child_of(struct ftree *t, uint32_t parent, const char *name, enum frame_kind kind,
			bool add)
{
	int64_t nid = name_id(t, name, add);
	struct child_key key = { parent, 0, kind };
	struct ftree_node *n;
	void *v;

	if (nid < 0)
		return nid;
	key.name = nid;
	v = hmap__get(t->child_index, &key, sizeof(key));
	if (v)
		return (int64_t)(uintptr_t)v - 1;
	if (!add)
		return -ENOENT;
	if (t->n >= UINT32_MAX ||
	    grow_array((void **)&t->nodes, &t->cap, t->n + 1, sizeof(*t->nodes)) ||
	    hmap__put(t->child_index, &key, sizeof(key), (void *)(uintptr_t)(t->n + 1)))
		return -ENOMEM;
	n = &t->nodes[t->n];
	memset(n, 0, sizeof(*n));
	n->name = nid;
	n->kind = kind;
	n->depth = t->nodes[parent].depth + 1;
	n->next = t->nodes[parent].child;
	t->nodes[parent].child = t->n;
	if (n->depth > t->max_depth)
		t->max_depth = n->depth;
	return t->n++;
}

struct walk {
	struct ftree *t;
	uint32_t cur;
	double w;
	bool base, stop;
};

static int add_frame(void *ctx, const char *name, enum frame_kind kind, bool leaf)
{
	struct walk *wk = ctx;
	int64_t c;

	if (wk->stop)
		return 0;
	c = child_of(wk->t, wk->cur, name, kind, !wk->base);
	if (c == -ENOENT) {
		wk->stop = true; /* a path the new profile does not have */
		return 0;
	}
	if (c < 0)
		return (int)c;
	wk->cur = c;
	if (wk->base) {
		wk->t->nodes[c].base += wk->w;
	} else {
		wk->t->nodes[c].total += wk->w;
		if (leaf)
			wk->t->nodes[c].self += wk->w;
	}
	return 0;
}

void ftree__free(struct ftree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	free(t->nodes);
	hmap__free(t->name_index);
	hmap__free(t->child_index);
	free(t);
}

struct ftree *ftree__from_profile(const struct profile *p)
{
	return ftree__from_profile_by(p, NULL, NULL);
}

struct ftree *ftree__from_profile_by(const struct profile *p, const struct weigh *w,
				     const struct folded_opts *root)
{
	struct ftree *t = calloc(1, sizeof(*t));
	uint32_t kcomm = 0, kpid = 0;
	char comm[256];

	if (root && root->comm_root)
		profile__label_keys(p, &kcomm, &kpid);

	if (!t)
		return NULL;
	t->name_index = hmap__new();
	t->child_index = hmap__new();
	if (!t->name_index || !t->child_index || name_id(t, "all", true) != 0 ||
	    grow_array((void **)&t->nodes, &t->cap, 1, sizeof(*t->nodes)))
		goto fail;
	memset(&t->nodes[0], 0, sizeof(t->nodes[0]));
	t->n = 1;
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct prof_sample *s = &p->samples[i];
		struct walk wk = { .t = t, .w = weigh__sample(p, w, s) };

		/* a graph draws what is there: a value below 0 (a diff's pprof) has no width */
		if (wk.w <= 0)
			continue;
		t->nodes[0].total += wk.w;
		if (kcomm &&
		    profile__comm_frame(p, s, kcomm, kpid, root->per_pid, comm, sizeof(comm))) {
			if (add_frame(&wk, comm, FRAME_USER, !s->nlocs))
				goto fail;
		} else if (!s->nlocs) {
			t->nodes[0].self += wk.w;
		}
		if (profile__walk_sample(p, s, add_frame, &wk))
			goto fail;
	}
	return t;
fail:
	ftree__free(t);
	errno = ENOMEM;
	return NULL;
}

int ftree__add_base(struct ftree *t, const struct profile *base)
{
	return ftree__add_base_by(t, base, NULL);
}

int ftree__add_base_by(struct ftree *t, const struct profile *base, const struct weigh *w)
{
	for (size_t i = 0; i < base->nsamples; i++) {
		const struct prof_sample *s = &base->samples[i];
		struct walk wk = { .t = t, .w = weigh__sample(base, w, s), .base = true };
		int r;

		if (wk.w <= 0)
			continue;
		t->base_total += wk.w;
		t->nodes[0].base += wk.w;
		r = profile__walk_sample(base, s, add_frame, &wk);
		if (r)
			return r;
	}
	return 0;
}

static const struct ftree *sort_tree;

static int cmp_child(const void *a, const void *b)
{
	const struct ftree_node *x = &sort_tree->nodes[*(const uint32_t *)a];
	const struct ftree_node *y = &sort_tree->nodes[*(const uint32_t *)b];
	int c = strcmp(sort_tree->names[x->name], sort_tree->names[y->name]);

	return c ? c : (int)x->kind - (int)y->kind;
}

int ftree__sort(struct ftree *t)
{
	uint32_t *kids = NULL;
	size_t cap = 0;

	sort_tree = t;
	for (size_t i = 0; i < t->n; i++) {
		size_t k = 0;

		for (uint32_t c = t->nodes[i].child; c; c = t->nodes[c].next) {
			if (grow_array((void **)&kids, &cap, k + 1, sizeof(*kids))) {
				free(kids);
				return -ENOMEM;
			}
			kids[k++] = c;
		}
		if (k < 2)
			continue;
		qsort(kids, k, sizeof(*kids), cmp_child);
		t->nodes[i].child = kids[0];
		for (size_t j = 0; j < k; j++)
			t->nodes[kids[j]].next = j + 1 < k ? kids[j + 1] : 0;
	}
	free(kids);
	return 0;
}

/* ---- per-function totals ---- */

struct func_walk {
	struct func_table *t;
	int which;
	double w;
	size_t stamp; /* this sample's number, to count a function once per sample in cum */
	size_t *seen;
	size_t cap_seen;
};

static int add_func(void *ctx, const char *name, enum frame_kind kind, bool leaf)
{
	struct func_walk *fw = ctx;
	struct func_table *t = fw->t;
	void *v = hmap__get(t->index, name, strlen(name));
	size_t i;

	(void)kind;
	if (v) {
		i = (uintptr_t)v - 1;
	} else {
		if (grow_array((void **)&t->rows, &t->cap, t->n + 1, sizeof(*t->rows)))
			return -ENOMEM;
		memset(&t->rows[t->n], 0, sizeof(t->rows[t->n]));
		t->rows[t->n].name = strdup(name);
		if (!t->rows[t->n].name ||
		    hmap__put(t->index, name, strlen(name), (void *)(uintptr_t)(t->n + 1))) {
			free(t->rows[t->n].name);
			return -ENOMEM;
		}
		i = t->n++;
	}
	if (i >= fw->cap_seen) {
		size_t cap = 2 * i + 16;
		size_t *grown = realloc(fw->seen, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		memset(grown + fw->cap_seen, 0, (cap - fw->cap_seen) * sizeof(*grown));
		fw->seen = grown;
		fw->cap_seen = cap;
	}
	if (fw->seen[i] != fw->stamp) {
		fw->seen[i] = fw->stamp;
		t->rows[i].cum[fw->which] += fw->w;
	}
	if (leaf)
		t->rows[i].self[fw->which] += fw->w;
	return 0;
}

/* w NULL or counting: weigh samples by their count, and leave out those that have none */
static int add_samples(struct func_table *t, const struct profile *p, int which,
		       const struct weigh *w)
{
	struct func_walk fw = { .t = t, .which = which };
	bool counted = !w || w->counts;
	int r = 0;

	if (!t->index && !(t->index = hmap__new()))
		return -ENOMEM;
	for (size_t i = 0; i < p->nsamples && !r; i++) {
		fw.w = weigh__sample(p, w, &p->samples[i]);
		if (counted ? fw.w <= 0 : fw.w == 0)
			continue;
		fw.stamp = i + 1;
		t->total[which] += fw.w;
		r = profile__walk_sample(p, &p->samples[i], add_func, &fw);
	}
	free(fw.seen);
	return r;
}

int func_table__add(struct func_table *t, const struct profile *p, int which)
{
	return add_samples(t, p, which, NULL);
}

int func_table__add_values(struct func_table *t, const struct profile *p, int which, uint32_t vi)
{
	struct weigh w = { .vi = vi };

	return vi < p->nsample_types ? add_samples(t, p, which, &w) : -EINVAL;
}

int func_table__add_by(struct func_table *t, const struct profile *p, int which,
		       const struct weigh *w)
{
	return w && w->vi >= p->nsample_types ? -EINVAL : add_samples(t, p, which, w);
}

/* ---- filtered tables (report) ---- */

static bool matches(const regex_t *re, const char *s)
{
	return s && *s && !regexec(re, s, 0, NULL, 0);
}

static const struct prof_function *line_function(const struct profile *p,
						 const struct prof_location *loc, uint32_t l)
{
	uint64_t id = l < loc->nlines ? loc->lines[l].function : 0;

	return id && id <= p->nfunctions ? &p->functions[id - 1] : NULL;
}

static const char *mapping_file(const struct profile *p, const struct prof_location *loc)
{
	return loc->mapping && loc->mapping <= p->nmappings
		   ? profile__str(p, p->mappings[loc->mapping - 1].filename)
		   : NULL;
}

/*
 * What one expression answered for each function (its name or file), mapping (its file) and
 * string (a label's value), asked once each: a long name is matched once however many frames
 * show it. 0 not asked yet, 1 no, 2 yes.
 */
struct match_cache {
	const regex_t *re;
	unsigned char *fn, *map, *str;
};

static int match_cache__init(struct match_cache *c, const regex_t *re, const struct profile *p)
{
	*c = (struct match_cache){ .re = re };
	if (!re)
		return 0;
	c->fn = calloc(p->nfunctions + 1, 1);
	c->map = calloc(p->nmappings + 1, 1);
	c->str = calloc(p->nstrings + 1, 1);
	return c->fn && c->map && c->str ? 0 : -ENOMEM;
}

static void match_cache__free(struct match_cache *c)
{
	free(c->fn);
	free(c->map);
	free(c->str);
}

static bool fn_matches(const struct profile *p, struct match_cache *c, uint64_t id)
{
	const struct prof_function *fn;

	if (!id || id > p->nfunctions)
		return false;
	if (!c->fn[id - 1]) {
		fn = &p->functions[id - 1];
		c->fn[id - 1] = matches(c->re, profile__str(p, fn->name)) ||
					matches(c->re, profile__str(p, fn->filename))
				    ? 2
				    : 1;
	}
	return c->fn[id - 1] == 2;
}

static bool mapping_matches(const struct profile *p, struct match_cache *c,
			    const struct prof_location *loc)
{
	uint64_t id = loc->mapping;

	if (!id || id > p->nmappings)
		return false;
	if (!c->map[id - 1])
		c->map[id - 1] = matches(c->re, mapping_file(p, loc)) ? 2 : 1;
	return c->map[id - 1] == 2;
}

static bool line_matches(const struct profile *p, const struct prof_location *loc, uint32_t l,
			 struct match_cache *c)
{
	return l < loc->nlines && fn_matches(p, c, loc->lines[l].function);
}

static bool location_matches(const struct profile *p, const struct prof_location *loc,
			     struct match_cache *c)
{
	for (uint32_t l = 0; l < loc->nlines; l++)
		if (line_matches(p, loc, l, c))
			return true;
	return mapping_matches(p, c, loc);
}

static bool tag_passes(const struct profile *p, const struct prof_sample *s,
		       const struct sample_filter *f, struct match_cache *c)
{
	for (uint32_t j = 0; j < s->nlabels; j++) {
		const struct prof_label *lb = &s->labels[j];

		if (strcmp(profile__str(p, lb->key), f->tag_key))
			continue;
		if (lb->str && !f->tag_numeric && lb->str < p->nstrings) {
			if (!c->str[lb->str])
				c->str[lb->str] = matches(c->re, profile__str(p, lb->str)) ? 2 : 1;
			if (c->str[lb->str] == 2)
				return true;
		} else if (!lb->str && f->tag_numeric && lb->num >= f->tag_lo &&
			   lb->num <= f->tag_hi) {
			return true;
		}
	}
	return false;
}

bool *sample_filter__tag_mask(const struct profile *p, const struct sample_filter *f)
{
	struct match_cache c = { 0 };
	bool *mask = calloc(p->nsamples + 1, sizeof(*mask));

	if (!mask || match_cache__init(&c, f->tag_key ? f->tag_value : NULL, p)) {
		free(mask);
		match_cache__free(&c);
		return NULL;
	}
	for (size_t i = 0; i < p->nsamples; i++)
		mask[i] = !f->tag_key || tag_passes(p, &p->samples[i], f, &c);
	match_cache__free(&c);
	return mask;
}

/* The frame's name at the filter's granularity. */
static void granular_name(const struct profile *p, const struct prof_location *loc, uint32_t l,
			  enum granularity g, char *buf, size_t size)
{
	const struct prof_function *fn = line_function(p, loc, l);
	const char *file = fn ? profile__str(p, fn->filename) : "";
	size_t n;

	if (g == GRANULARITY_FILES && *file) {
		snprintf(buf, size, "%.*s", (int)(size - 1), file);
		return;
	}
	if (g == GRANULARITY_FILES && mapping_file(p, loc) && *mapping_file(p, loc)) {
		snprintf(buf, size, "%.*s", (int)(size - 1), mapping_file(p, loc));
		return;
	}
	profile__frame_name(p, loc, l, buf, size);
	n = strlen(buf);
	if (g == GRANULARITY_LINES && *file && l < loc->nlines && n + 2 < size)
		snprintf(buf + n, size - n, " %.*s:%" PRId64, (int)(size - n), file,
			 loc->lines[l].line);
}

int func_table__add_filtered(struct func_table *t, const struct profile *p, int which,
			     const struct weigh *w, const struct sample_filter *f)
{
	struct func_walk fw = { .t = t, .which = which };
	bool counted = !w || w->counts, by_name;
	struct match_cache focus = { 0 }, ignore = { 0 }, hide = { 0 }, tag = { 0 };
	char(*names)[512] = NULL;
	size_t cap = 0;
	int r = 0;

	if (!f)
		return add_samples(t, p, which, w);
	if (!t->index && !(t->index = hmap__new()))
		return -ENOMEM;
	r = match_cache__init(&focus, f->focus, p);
	r = r ? r : match_cache__init(&ignore, f->ignore, p);
	r = r ? r : match_cache__init(&hide, f->hide, p);
	r = r ? r : match_cache__init(&tag, f->tag_key ? f->tag_value : NULL, p);
	if (r)
		goto out;
	by_name = f->focus || f->ignore || f->hide;
	for (size_t i = 0; i < p->nsamples && !r; i++) {
		const struct prof_sample *s = &p->samples[i];
		bool focused = false, ignored = false;
		size_t n = 0;

		fw.w = weigh__sample(p, w, s);
		if (counted ? fw.w <= 0 : fw.w == 0)
			continue;
		/* the total is the whole profile's, as go tool pprof's percentages are */
		if (!f->total_selected)
			t->total[which] += fw.w;
		if (f->tag_key && !tag_passes(p, s, f, &tag))
			continue;
		if (f->total_selected)
			t->total[which] += fw.w;
		for (uint32_t j = 0; by_name && j < s->nlocs; j++) {
			const struct prof_location *loc;

			if (!s->locs[j] || s->locs[j] > p->nlocations)
				continue;
			loc = &p->locations[s->locs[j] - 1];
			if (f->ignore && location_matches(p, loc, &ignore))
				ignored = true;
			else if (!f->focus || location_matches(p, loc, &focus))
				focused = true;
		}
		if (by_name && (ignored || !focused))
			continue;
		/* the frames root first, hidden ones left out */
		for (uint32_t j = s->nlocs; j-- > 0;) {
			const struct prof_location *loc;
			uint32_t nl;

			if (!s->locs[j] || s->locs[j] > p->nlocations)
				continue;
			loc = &p->locations[s->locs[j] - 1];
			if (f->hide && mapping_matches(p, &hide, loc))
				continue;
			nl = loc->nlines ? loc->nlines : 1;
			for (uint32_t l = nl; l-- > 0;) {
				if (f->hide && line_matches(p, loc, l, &hide))
					continue;
				if (grow_array((void **)&names, &cap, n + 1, sizeof(*names))) {
					r = -ENOMEM;
					goto out;
				}
				granular_name(p, loc, l, f->granularity, names[n],
					      sizeof(names[n]));
				n++;
			}
		}
		if (!n && by_name)
			continue;
		fw.stamp = i + 1;
		for (size_t k = 0; k < n && !r; k++)
			r = add_func(&fw, names[k], FRAME_USER, k == n - 1);
	}
out:
	match_cache__free(&focus);
	match_cache__free(&ignore);
	match_cache__free(&hide);
	match_cache__free(&tag);
	free(names);
	free(fw.seen);
	return r;
}

void func_table__free(struct func_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->rows[i].name);
	free(t->rows);
	hmap__free(t->index);
	memset(t, 0, sizeof(*t));
}

double two_proportion_p(double x1, double n1, double x2, double n2)
{
	double p1, p2, pool, var;

	if (n1 <= 0 || n2 <= 0)
		return 1;
	p1 = x1 / n1;
	p2 = x2 / n2;
	pool = (x1 + x2) / (n1 + n2);
	var = pool * (1 - pool) * (1 / n1 + 1 / n2);
	if (var <= 0)
		return 1;
	return erfc(fabs(p2 - p1) / sqrt(var) / M_SQRT2);
}
