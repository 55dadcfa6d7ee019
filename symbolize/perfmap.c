// SPDX-License-Identifier: LGPL-2.1-or-later
#include "perfmap.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Bounds against a runaway or hostile map: entries kept, and bytes of names. */
#define PERFMAP_MAX_ENTRIES (4u << 20)
#define PERFMAP_MAX_NAMES (256u << 20)

struct perfmap_entry {
	uint64_t start, end;
	uint32_t name; /* offset into names */
	uint32_t order; /* line number: later lines win over earlier ones */
};

struct perfmap {
	struct perfmap_entry *e;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
};

void perfmap__free(struct perfmap *m)
{
	if (!m)
		return;
	free(m->e);
	free(m->names);
	free(m);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct perfmap_entry *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

struct perfmap *perfmap__parse(FILE *f)
{
	struct perfmap *m = calloc(1, sizeof(*m));
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int err = -ENOMEM;

	if (!m)
		goto fail;
	while ((len = getline(&line, &cap, f)) > 0) {
		uint64_t start, size;
		char *end, *name;
		size_t nlen;

		if (line[len - 1] == '\n')
			line[--len] = 0;
		errno = 0;
		start = strtoull(line, &end, 16);
		if (errno || end == line || *end != ' ')
			continue;
		size = strtoull(end + 1, &name, 16);
		if (errno || name == end + 1 || *name != ' ' || !size || start + size < start)
			continue;
		name++;
		nlen = strlen(name);
		if (!nlen)
			continue;
		if (m->n >= PERFMAP_MAX_ENTRIES || m->names_len + nlen + 1 > PERFMAP_MAX_NAMES) {
			err = -E2BIG;
			goto fail;
		}
		if (grow_array((void **)&m->e, &m->cap, m->n + 1, sizeof(*m->e)) ||
		    grow_array((void **)&m->names, &m->names_cap, m->names_len + nlen + 1, 1))
			goto fail;
		m->e[m->n] = (struct perfmap_entry){ start, start + size, m->names_len, m->n };
		memcpy(m->names + m->names_len, name, nlen + 1);
		m->names_len += nlen + 1;
		m->n++;
	}
	free(line);
	if (m->n > 1)
		qsort(m->e, m->n, sizeof(*m->e), cmp_entry);
	return m;
fail:
	free(line);
	perfmap__free(m);
	errno = -err;
	return NULL;
}

size_t perfmap__count(const struct perfmap *m)
{
	return m->n;
}

const char *perfmap__lookup(const struct perfmap *m, uint64_t addr)
{
	const struct perfmap_entry *best = NULL;
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->e[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* entries may overlap when code is replaced: the latest line covering addr wins */
	for (size_t i = lo, tries = 0; i-- > 0 && tries < 64; tries++)
		if (addr < m->e[i].end && (!best || m->e[i].order > best->order))
			best = &m->e[i];
	return best ? m->names + best->name : NULL;
}
