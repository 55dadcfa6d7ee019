// SPDX-License-Identifier: LGPL-2.1-or-later
/* The profile model: interning, deduplication and the folded-stacks writer. */
#include "model.h"
#include "folded.h"
#include "hashmap.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct profile *profile__new(void)
{
	struct profile *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->string_index = hmap__new();
	p->function_index = hmap__new();
	p->location_index = hmap__new();
	if (!p->string_index || !p->function_index || !p->location_index)
		goto fail;
	if (profile__intern(p, "") != 0 || p->nstrings != 1)
		goto fail;
	return p;
fail:
	profile__free(p);
	errno = ENOMEM;
	return NULL;
}

void profile__free(struct profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nstrings; i++)
		free(p->strings[i]);
	free(p->strings);
	for (size_t i = 0; i < p->nlocations; i++)
		free(p->locations[i].lines);
	for (size_t i = 0; i < p->nsamples; i++) {
		free(p->samples[i].locs);
		free(p->samples[i].labels);
	}
	free(p->mappings);
	free(p->functions);
	free(p->locations);
	free(p->samples);
	free(p->comments);
	hmap__free(p->string_index);
	hmap__free(p->function_index);
	hmap__free(p->location_index);
	free(p);
}

uint32_t profile__intern(struct profile *p, const char *s)
{
	_cleanup_free_ char *fixed = NULL;
	size_t len;
	char *copy;
	void *v;

	/*
	 * Every output reads its strings from here, and pprof's are protobuf strings: names of
	 * other processes' making become valid UTF-8 once, in one way, for pprof, folded and SVG
	 */
	if (!utf8_is_valid(s)) {
		fixed = utf8_sanitize(s);
		if (!fixed)
			goto nomem;
		s = fixed;
	}
	len = strlen(s);
	v = hmap__get(p->string_index, s, len);
	if (v)
		return (uint32_t)(uintptr_t)v;
	if (len == 0 && p->nstrings > 0)
		return 0;
	if (grow_array((void **)&p->strings, &p->cap_strings, p->nstrings + 1, sizeof(char *)))
		goto nomem;
	copy = strdup(s);
	if (!copy)
		goto nomem;
	/* index 0 is "" and is never stored as a value (NULL means absent) */
	if (p->nstrings && hmap__put(p->string_index, s, len, (void *)(uintptr_t)p->nstrings)) {
		free(copy);
		goto nomem;
	}
	p->strings[p->nstrings] = copy;
	return p->nstrings++;
nomem:
	errno = ENOMEM;
	return 0;
}

int profile__add_sample_type(struct profile *p, const char *type, const char *unit)
{
	if (p->nsample_types >= PROFILE_MAX_VALUES)
		return -E2BIG;
	p->sample_types[p->nsample_types].type = profile__intern(p, type);
	p->sample_types[p->nsample_types].unit = profile__intern(p, unit);
	p->nsample_types++;
	return 0;
}

uint64_t profile__add_mapping(struct profile *p, const struct prof_mapping *m)
{
	if (grow_array((void **)&p->mappings, &p->cap_mappings, p->nmappings + 1, sizeof(*m))) {
		errno = ENOMEM;
		return 0;
	}
	p->mappings[p->nmappings++] = *m;
	return p->nmappings;
}

uint64_t profile__function(struct profile *p, const char *name, const char *system_name,
			   const char *filename, int64_t start_line)
{
	struct prof_function f = {
		.name = profile__intern(p, name),
		.system_name = profile__intern(p, system_name ? system_name : ""),
		.filename = profile__intern(p, filename ? filename : ""),
		.start_line = start_line,
	};
	void *v = hmap__get(p->function_index, &f, sizeof(f));

	if (v)
		return (uintptr_t)v;
	if (grow_array((void **)&p->functions, &p->cap_functions, p->nfunctions + 1, sizeof(f)))
		goto nomem;
	p->functions[p->nfunctions] = f;
	if (hmap__put(p->function_index, &f, sizeof(f), (void *)(uintptr_t)(p->nfunctions + 1)))
		goto nomem;
	return ++p->nfunctions;
nomem:
	errno = ENOMEM;
	return 0;
}

uint64_t profile__location(struct profile *p, uint64_t mapping, uint64_t address,
			   const struct prof_line *lines, uint32_t nlines)
{
	size_t keylen = 2 * sizeof(uint64_t) + nlines * sizeof(*lines);
	_cleanup_free_ uint64_t *key = malloc(keylen);
	struct prof_location *loc;
	void *v;

	if (!key)
		goto nomem;
	key[0] = mapping;
	key[1] = address;
	if (nlines)
		memcpy(key + 2, lines, nlines * sizeof(*lines));
	v = hmap__get(p->location_index, key, keylen);
	if (v)
		return (uintptr_t)v;
	if (grow_array((void **)&p->locations, &p->cap_locations, p->nlocations + 1, sizeof(*loc)))
		goto nomem;
	loc = &p->locations[p->nlocations];
	memset(loc, 0, sizeof(*loc));
	if (nlines) {
		loc->lines = malloc(nlines * sizeof(*lines));
		if (!loc->lines)
			goto nomem;
		memcpy(loc->lines, lines, nlines * sizeof(*lines));
	}
	loc->mapping = mapping;
	loc->address = address;
	loc->nlines = nlines;
	if (hmap__put(p->location_index, key, keylen, (void *)(uintptr_t)(p->nlocations + 1))) {
		free(loc->lines);
		goto nomem;
	}
	return ++p->nlocations;
nomem:
	errno = ENOMEM;
	return 0;
}

int profile__add_sample(struct profile *p, const uint64_t *locs, uint32_t nlocs,
			const int64_t *values, const struct prof_label *labels, uint32_t nlabels)
{
	struct prof_sample *s;

	if (grow_array((void **)&p->samples, &p->cap_samples, p->nsamples + 1, sizeof(*s)))
		return -ENOMEM;
	s = &p->samples[p->nsamples];
	memset(s, 0, sizeof(*s));
	s->locs = malloc((nlocs ? nlocs : 1) * sizeof(*locs));
	s->labels = malloc((nlabels ? nlabels : 1) * sizeof(*labels));
	if (!s->locs || !s->labels) {
		free(s->locs);
		free(s->labels);
		return -ENOMEM;
	}
	if (nlocs)
		memcpy(s->locs, locs, nlocs * sizeof(*locs));
	if (nlabels)
		memcpy(s->labels, labels, nlabels * sizeof(*labels));
	memcpy(s->values, values, p->nsample_types * sizeof(*values));
	s->nlocs = nlocs;
	s->nlabels = nlabels;
	p->nsamples++;
	return 0;
}

/* The header of p, copied into q: what every part of a split keeps. */
static int copy_header(struct profile *q, const struct profile *p)
{
	for (uint32_t t = 0; t < p->nsample_types; t++)
		if (profile__add_sample_type(q, profile__str(p, p->sample_types[t].type),
					     profile__str(p, p->sample_types[t].unit)))
			return -ENOMEM;
	q->period_type.type = profile__intern(q, profile__str(p, p->period_type.type));
	q->period_type.unit = profile__intern(q, profile__str(p, p->period_type.unit));
	q->default_sample_type = profile__intern(q, profile__str(p, p->default_sample_type));
	q->period = p->period;
	q->time_nanos = p->time_nanos;
	q->duration_nanos = p->duration_nanos;
	if (p->ncomments) {
		q->comments = calloc(p->ncomments, sizeof(*q->comments));
		if (!q->comments)
			return -ENOMEM;
		for (size_t i = 0; i < p->ncomments; i++)
			q->comments[i] = profile__intern(q, profile__str(p, p->comments[i]));
		q->ncomments = p->ncomments;
	}
	return 0;
}

struct split {
	const struct profile *p;
	struct profile *q;
	uint64_t *loc_map, *map_map; /* p's id - 1 -> q's id, 0 when not copied yet */
	uint64_t *touched_locs, *touched_maps; /* to clear the maps for the next part */
	size_t ntouched_locs, ntouched_maps;
};

static uint64_t split_mapping(struct split *sp, uint64_t id)
{
	const struct prof_mapping *m;
	struct prof_mapping c;

	if (!id || id > sp->p->nmappings)
		return 0;
	if (sp->map_map[id - 1])
		return sp->map_map[id - 1];
	m = &sp->p->mappings[id - 1];
	c = *m;
	c.filename = profile__intern(sp->q, profile__str(sp->p, m->filename));
	c.build_id = profile__intern(sp->q, profile__str(sp->p, m->build_id));
	sp->map_map[id - 1] = profile__add_mapping(sp->q, &c);
	if (sp->map_map[id - 1])
		sp->touched_maps[sp->ntouched_maps++] = id - 1;
	return sp->map_map[id - 1];
}

static uint64_t split_location(struct split *sp, uint64_t id)
{
	struct prof_line stack_lines[16], *lines = stack_lines;
	const struct prof_location *loc;
	uint64_t mid = 0, nid = 0;

	if (!id || id > sp->p->nlocations)
		return 0;
	if (sp->loc_map[id - 1])
		return sp->loc_map[id - 1];
	loc = &sp->p->locations[id - 1];
	if (loc->mapping && !(mid = split_mapping(sp, loc->mapping)))
		return 0;
	if (loc->nlines > ARRAY_SIZE(stack_lines) &&
	    !(lines = malloc(loc->nlines * sizeof(*lines))))
		return 0;
	for (uint32_t i = 0; i < loc->nlines; i++) {
		const struct prof_line *l = &loc->lines[i];
		const struct prof_function *f = l->function && l->function <= sp->p->nfunctions
						    ? &sp->p->functions[l->function - 1]
						    : NULL;

		lines[i] = *l;
		lines[i].function =
		    f ? profile__function(sp->q, profile__str(sp->p, f->name),
					  profile__str(sp->p, f->system_name),
					  profile__str(sp->p, f->filename), f->start_line)
		      : 0;
		if (f && !lines[i].function)
			goto out;
	}
	nid = profile__location(sp->q, mid, loc->address, lines, loc->nlines);
	if (nid) {
		sp->q->locations[nid - 1].is_folded = loc->is_folded;
		sp->loc_map[id - 1] = nid;
		sp->touched_locs[sp->ntouched_locs++] = id - 1;
	}
out:
	if (lines != stack_lines)
		free(lines);
	return nid;
}

static int split_sample(struct split *sp, const struct prof_sample *s, uint64_t *locs,
			struct prof_label *labels)
{
	for (uint32_t i = 0; i < s->nlocs; i++)
		if (!(locs[i] = split_location(sp, s->locs[i])))
			return -ENOMEM;
	for (uint32_t i = 0; i < s->nlabels; i++) {
		const struct prof_label *l = &s->labels[i];

		labels[i] = *l;
		labels[i].key = profile__intern(sp->q, profile__str(sp->p, l->key));
		labels[i].str = l->str ? profile__intern(sp->q, profile__str(sp->p, l->str)) : 0;
		labels[i].num_unit =
		    l->num_unit ? profile__intern(sp->q, profile__str(sp->p, l->num_unit)) : 0;
		if ((!labels[i].key && l->key) || (!labels[i].str && l->str))
			return -ENOMEM;
	}
	return profile__add_sample(sp->q, locs, s->nlocs, s->values, labels, s->nlabels);
}

int profile__split(const struct profile *p, const uint32_t *group, uint32_t ngroups,
		   struct profile **ret)
{
	struct split sp = { .p = p };
	size_t *first = NULL, *order = NULL, maxlocs = 1, maxlabels = 1;
	uint64_t *locs = NULL;
	struct prof_label *labels = NULL;
	int r = -ENOMEM;

	for (uint32_t g = 0; g < ngroups; g++)
		ret[g] = NULL;
	/* the samples of each part in their order: a counting sort by part */
	first = calloc((size_t)ngroups + 1, sizeof(*first));
	order = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*order));
	sp.loc_map = calloc(p->nlocations + 1, sizeof(*sp.loc_map));
	sp.map_map = calloc(p->nmappings + 1, sizeof(*sp.map_map));
	sp.touched_locs = malloc((p->nlocations + 1) * sizeof(*sp.touched_locs));
	sp.touched_maps = malloc((p->nmappings + 1) * sizeof(*sp.touched_maps));
	if (!first || !order || !sp.loc_map || !sp.map_map || !sp.touched_locs || !sp.touched_maps)
		goto out;
	for (size_t i = 0; i < p->nsamples; i++) {
		if (group[i] < ngroups)
			first[group[i] + 1]++;
		if (p->samples[i].nlocs > maxlocs)
			maxlocs = p->samples[i].nlocs;
		if (p->samples[i].nlabels > maxlabels)
			maxlabels = p->samples[i].nlabels;
	}
	for (uint32_t g = 0; g < ngroups; g++)
		first[g + 1] += first[g];
	{
		_cleanup_free_ size_t *next = malloc(((size_t)ngroups + 1) * sizeof(*next));

		if (!next)
			goto out;
		memcpy(next, first, ((size_t)ngroups + 1) * sizeof(*next));
		for (size_t i = 0; i < p->nsamples; i++)
			if (group[i] < ngroups)
				order[next[group[i]]++] = i;
	}
	locs = malloc(maxlocs * sizeof(*locs));
	labels = malloc(maxlabels * sizeof(*labels));
	if (!locs || !labels)
		goto out;
	for (uint32_t g = 0; g < ngroups; g++) {
		sp.q = ret[g] = profile__new();
		if (!sp.q || copy_header(sp.q, p))
			goto fail;
		for (size_t k = first[g]; k < first[g + 1]; k++)
			if (split_sample(&sp, &p->samples[order[k]], locs, labels))
				goto fail;
		for (size_t k = 0; k < sp.ntouched_locs; k++)
			sp.loc_map[sp.touched_locs[k]] = 0;
		for (size_t k = 0; k < sp.ntouched_maps; k++)
			sp.map_map[sp.touched_maps[k]] = 0;
		sp.ntouched_locs = sp.ntouched_maps = 0;
	}
	r = 0;
	goto out;
fail:
	for (uint32_t g = 0; g < ngroups; g++) {
		profile__free(ret[g]);
		ret[g] = NULL;
	}
out:
	free(first);
	free(order);
	free(locs);
	free(labels);
	free(sp.loc_map);
	free(sp.map_map);
	free(sp.touched_locs);
	free(sp.touched_maps);
	return r;
}

int profile__keep_value(struct profile *p, uint32_t vi)
{
	if (vi >= p->nsample_types)
		return -EINVAL;
	for (size_t i = 0; i < p->nsamples; i++)
		p->samples[i].values[0] = p->samples[i].values[vi];
	p->sample_types[0] = p->sample_types[vi];
	p->nsample_types = 1;
	p->default_sample_type = p->sample_types[0].type;
	return 0;
}

uint32_t profile__default_value(const struct profile *p)
{
	if (!p->nsample_types)
		return 0;
	for (uint32_t i = 0; p->default_sample_type && i < p->nsample_types; i++)
		if (p->sample_types[i].type == p->default_sample_type)
			return i;
	return p->nsample_types - 1;
}

int profile__value_index(const struct profile *p, const char *name)
{
	for (uint32_t i = 0; i < p->nsample_types; i++)
		if (strcmp(profile__str(p, p->sample_types[i].type), name) == 0)
			return i;
	return -1;
}

void profile__frame_name(const struct profile *p, const struct prof_location *loc, uint32_t line,
			 char *buf, size_t size)
{
	const struct prof_mapping *m = NULL;
	const char *file, *base;
	int n;

	if (line < loc->nlines && loc->lines[line].function &&
	    loc->lines[line].function <= p->nfunctions) {
		const struct prof_function *f = &p->functions[loc->lines[line].function - 1];
		const char *name = profile__str(p, f->name);

		const char *shown = *name ? name : profile__str(p, f->system_name);

		/* no further into a long name than the buffer holds */
		n = snprintf(buf, size, "%.*s", size ? (int)(size - 1) : 0, shown);
		if (strnlen(shown, size) >= size)
			n = (int)size;
		if (*buf)
			goto out;
	}
	if (loc->mapping && loc->mapping <= p->nmappings)
		m = &p->mappings[loc->mapping - 1];
	if (!m) {
		snprintf(buf, size, "[unknown] 0x%" PRIx64, loc->address);
		return;
	}
	file = profile__str(p, m->filename);
	base = strrchr(file, '/');
	base = base ? base + 1 : file;
	base = *base ? base : "[unknown]";
	n = snprintf(buf, size, "%.*s+0x%" PRIx64, size ? (int)(size - 1) : 0, base,
		     loc->address - m->start + m->offset);
	if (strnlen(base, size) >= size)
		n = (int)size;
out:
	/* a name cut to the buffer stays valid UTF-8: never half a character at the end */
	if (size && n >= 0 && (size_t)n >= size)
		buf[utf8_trim_partial(buf, size - 1)] = 0;
}

static void free_line(void *v)
{
	free(v);
}

/*
 * How a frame is marked in folded stacks: 'k' kernel (an upper-half address, or the kernel's
 * mapping as folded stacks read back name it), 'j' JIT (the mapping folded stacks give "_[j]"
 * frames), else 0.
 */
static char folded_kind(const struct profile *p, const struct prof_location *loc)
{
	const char *file = loc->mapping && loc->mapping <= p->nmappings
			       ? profile__str(p, p->mappings[loc->mapping - 1].filename)
			       : "";

	if (profile__is_kernel_address(loc->address) || !strcmp(file, FOLDED_KERNEL_MAPPING))
		return 'k';
	return !strcmp(file, FOLDED_JIT_MAPPING) ? 'j' : 0;
}

/* The string index of s, or 0 when the profile has no such string. */
static uint32_t find_string(const struct profile *p, const char *s)
{
	for (size_t i = 1; i < p->nstrings; i++)
		if (p->strings[i] && !strcmp(p->strings[i], s))
			return (uint32_t)i;
	return 0;
}

bool profile__has_label(const struct profile *p, const char *key)
{
	uint32_t k = find_string(p, key);

	for (size_t i = 0; k && i < p->nsamples; i++)
		for (uint32_t j = 0; j < p->samples[i].nlabels; j++)
			if (p->samples[i].labels[j].key == k && p->samples[i].labels[j].str)
				return true;
	return false;
}

void profile__label_keys(const struct profile *p, uint32_t *ret_comm, uint32_t *ret_pid)
{
	*ret_comm = find_string(p, "comm");
	*ret_pid = find_string(p, "pid");
}

size_t profile__comm_frame(const struct profile *p, const struct prof_sample *s, uint32_t kcomm,
			   uint32_t kpid, bool per_pid, char *buf, size_t size)
{
	const char *comm = NULL;
	int64_t pid = -1;
	int n;

	for (uint32_t j = 0; j < s->nlabels; j++) {
		if (kcomm && s->labels[j].key == kcomm && s->labels[j].str)
			comm = profile__str(p, s->labels[j].str);
		else if (kpid && s->labels[j].key == kpid && !s->labels[j].str)
			pid = s->labels[j].num;
	}
	if (!comm || !*comm)
		return 0;
	n = per_pid && pid >= 0 ? snprintf(buf, size, "%.*s-%" PRId64, (int)size, comm, pid)
				: snprintf(buf, size, "%.*s", (int)size, comm);
	if (n < 0)
		return 0;
	if ((size_t)n < size)
		return (size_t)n;
	/* cut: never half a character at the end */
	n = (int)utf8_trim_partial(buf, size - 1);
	buf[n] = 0;
	return (size_t)n;
}

int profile__write_folded(const struct profile *p, uint32_t vi, FILE *f)
{
	return profile__write_folded_opts(p, vi, NULL, f);
}

int profile__write_folded_opts(const struct profile *p, uint32_t vi, const struct folded_opts *o,
			       FILE *f)
{
	struct hmap *lines = hmap__new();
	char *stack = NULL, name[512];
	size_t cap = 0, pos = 0;
	const void *key;
	size_t klen;
	void *val;
	int err = 0;
	uint32_t kcomm = o && o->comm_root ? find_string(p, "comm") : 0;
	uint32_t kpid = o && o->per_pid ? find_string(p, "pid") : 0;

	if (!lines)
		return -ENOMEM;
	if (vi >= p->nsample_types) {
		hmap__free(lines);
		return -EINVAL;
	}
	/* values summed per folded line; stored as heap int64 per key */
	for (size_t i = 0; i < p->nsamples && !err; i++) {
		const struct prof_sample *s = &p->samples[i];
		int64_t *sum;
		size_t len = 0;

		if (!s->values[vi])
			continue;
		if (kcomm && (len = profile__comm_frame(p, s, kcomm, kpid, o->per_pid, name,
							sizeof(name)))) {
			for (char *c = name; *c; c++)
				if (*c == ';' || *c == '\n')
					*c = ':';
			if (grow_array((void **)&stack, &cap, len + 8, 1)) {
				err = -ENOMEM;
				goto out;
			}
			memcpy(stack, name, len);
		}
		for (uint32_t j = s->nlocs; j-- > 0;) {
			const struct prof_location *loc;
			uint32_t n;

			if (!s->locs[j] || s->locs[j] > p->nlocations)
				continue;
			loc = &p->locations[s->locs[j] - 1];
			n = loc->nlines ? loc->nlines : 1;
			for (uint32_t l = n; l-- > 0;) {
				size_t nl;

				profile__frame_name(p, loc, l, name, sizeof(name));
				/* ';' separates frames and ' ' ends the stack: keep both out of names */
				for (char *c = name; *c; c++)
					if (*c == ';' || *c == '\n')
						*c = ':';
				nl = strlen(name);
				if (grow_array((void **)&stack, &cap, len + nl + 8, 1)) {
					err = -ENOMEM;
					goto out;
				}
				if (len)
					stack[len++] = ';';
				memcpy(stack + len, name, nl);
				len += nl;
				switch (folded_kind(p, loc)) {
				case 'k':
					memcpy(stack + len, "_[k]", 4);
					len += 4;
					break;
				case 'j':
					memcpy(stack + len, "_[j]", 4);
					len += 4;
					break;
				}
			}
		}
		if (!len) {
			if (grow_array((void **)&stack, &cap, 16, 1)) {
				err = -ENOMEM;
				goto out;
			}
			memcpy(stack, "[no stack]", 10);
			len = 10;
		}
		sum = hmap__get(lines, stack, len);
		if (!sum) {
			sum = calloc(1, sizeof(*sum));
			if (!sum || hmap__put(lines, stack, len, sum)) {
				free(sum);
				err = -ENOMEM;
				goto out;
			}
		}
		*sum += s->values[vi];
	}
	for (pos = 0; hmap__next(lines, &pos, &key, &klen, &val);)
		if (fprintf(f, "%.*s %" PRId64 "\n", (int)klen, (const char *)key,
			    *(int64_t *)val) < 0)
			err = -EIO;
out:
	for (pos = 0; hmap__next(lines, &pos, NULL, NULL, &val);)
		free_line(val);
	hmap__free(lines);
	free(stack);
	return err;
}
