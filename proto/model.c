// SPDX-License-Identifier: LGPL-2.1-or-later
/* The profile model: interning, deduplication and the folded-stacks writer. */
#include "model.h"
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

		n = snprintf(buf, size, "%s", *name ? name : profile__str(p, f->system_name));
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
	n = snprintf(buf, size, "%s+0x%" PRIx64, *base ? base : "[unknown]",
		     loc->address - m->start + m->offset);
out:
	/* a name cut to the buffer stays valid UTF-8: never half a character at the end */
	if (size && n >= 0 && (size_t)n >= size)
		buf[utf8_trim_partial(buf, size - 1)] = 0;
}

static void free_line(void *v)
{
	free(v);
}

int profile__write_folded(const struct profile *p, uint32_t vi, FILE *f)
{
	struct hmap *lines = hmap__new();
	char *stack = NULL, name[512];
	size_t cap = 0, pos = 0;
	const void *key;
	size_t klen;
	void *val;
	int err = 0;

	if (!lines)
		return -ENOMEM;
	/* values summed per folded line; stored as heap int64 per key */
	for (size_t i = 0; i < p->nsamples && !err; i++) {
		const struct prof_sample *s = &p->samples[i];
		int64_t *sum;
		size_t len = 0;

		if (!s->values[vi])
			continue;
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
				if (profile__is_kernel_address(loc->address)) {
					memcpy(stack + len, "_[k]", 4);
					len += 4;
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
