// SPDX-License-Identifier: LGPL-2.1-or-later
/* Parsing JIT perf maps within a memory budget, and looking addresses up in them. */
#include "perfmap.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/*
 * Bounds against a runaway or hostile map: entries kept, bytes read (as the file is opened at
 * most this large, but a JIT may append), and the length of a line (a symbol name).
 */
#define PERFMAP_MAX_ENTRIES (4u << 20)
#define PERFMAP_MAX_READ (64u << 20)
#define PERFMAP_MAX_LINE 4096

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
	bool truncated; /* a bound stopped the parse: later lines are missing */
	size_t skipped; /* lines longer than PERFMAP_MAX_LINE */
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

/*
 * One line into buf (at most size - 1 bytes, without the newline), reading no more than *budget
 * bytes of the file. 1 a line, 0 the end (or the budget), -1 a line too long (skipped whole).
 */
static int read_line(FILE *f, char *buf, size_t size, size_t *budget)
{
	size_t n = 0;
	int c;

	while (*budget && (c = getc_unlocked(f)) != EOF) {
		(*budget)--;
		if (c == '\n') {
			buf[n < size ? n : size - 1] = 0;
			return n < size ? 1 : -1;
		}
		if (n < size)
			buf[n] = c;
		n++;
	}
	if (!n)
		return 0;
	/* the last line, without a newline: kept when whole */
	buf[n < size ? n : size - 1] = 0;
	return n < size && *budget ? 1 : -1;
}

/* Bytes the map's arrays take now, allocated (not only used). */
static size_t allocated(const struct perfmap *m)
{
	return m->cap * sizeof(*m->e) + m->names_cap;
}

/*
 * Grow one of the map's arrays to hold want elements, doubling as usual but never past what
 * max_memory leaves for both arrays together: 0, -E2BIG (no room), -ENOMEM.
 */
static int grow_within(const struct perfmap *m, void **array, size_t *cap, size_t want, size_t elem,
		       size_t max_memory)
{
	size_t used = allocated(m), room, n;
	void *p;

	if (want <= *cap)
		return 0;
	if (used > max_memory)
		return -E2BIG;
	room = (max_memory - used) / elem; /* elements beyond *cap that still fit */
	if (want - *cap > room)
		return -E2BIG;
	n = *cap ? *cap * 2 : 64;
	if (n < want)
		n = want;
	if (n - *cap > room)
		n = *cap + room;
	p = realloc(*array, n * elem);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

struct perfmap *perfmap__parse(FILE *f, size_t max_memory)
{
	struct perfmap *m = calloc(1, sizeof(*m));
	size_t budget = PERFMAP_MAX_READ;
	char line[PERFMAP_MAX_LINE + 1];
	int r;

	if (!m)
		return NULL;
	while ((r = read_line(f, line, sizeof(line), &budget)) != 0) {
		uint64_t start, size;
		char *end, *name;
		size_t nlen;

		if (r < 0) {
			m->skipped++;
			continue;
		}
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
		if (m->n >= PERFMAP_MAX_ENTRIES) {
			m->truncated = true;
			break;
		}
		r = grow_within(m, (void **)&m->e, &m->cap, m->n + 1, sizeof(*m->e), max_memory);
		if (!r)
			r = grow_within(m, (void **)&m->names, &m->names_cap,
					m->names_len + nlen + 1, 1, max_memory);
		if (r == -E2BIG) {
			m->truncated = true;
			break;
		}
		if (r) {
			perfmap__free(m);
			errno = ENOMEM;
			return NULL;
		}
		m->e[m->n] = (struct perfmap_entry){ start, start + size, m->names_len, m->n };
		memcpy(m->names + m->names_len, name, nlen + 1);
		m->names_len += nlen + 1;
		m->n++;
	}
	if (!budget && getc_unlocked(f) != EOF)
		m->truncated = true;
	/* what is kept is what was used (the arrays grew by doubling) */
	if (m->n && m->n < m->cap) {
		struct perfmap_entry *e = realloc(m->e, m->n * sizeof(*m->e));

		if (e) {
			m->e = e;
			m->cap = m->n;
		}
	}
	if (m->names_len && m->names_len < m->names_cap) {
		char *names = realloc(m->names, m->names_len);

		if (names) {
			m->names = names;
			m->names_cap = m->names_len;
		}
	}
	if (m->n > 1)
		qsort(m->e, m->n, sizeof(*m->e), cmp_entry);
	return m;
}

size_t perfmap__memory(const struct perfmap *m)
{
	return allocated(m);
}

bool perfmap__truncated(const struct perfmap *m)
{
	return m->truncated;
}

size_t perfmap__skipped(const struct perfmap *m)
{
	return m->skipped;
}

size_t perfmap__count(const struct perfmap *m)
{
	return m->n;
}

static uint64_t entry_start(const void *e)
{
	return ((const struct perfmap_entry *)e)->start;
}

const char *perfmap__lookup(const struct perfmap *m, uint64_t addr)
{
	const struct perfmap_entry *best = NULL;
	size_t lo = upper_bound(m->e, m->n, sizeof(*m->e), addr, entry_start);

	/* entries may overlap when code is replaced: the latest line covering addr wins */
	for (size_t i = lo, tries = 0; i-- > 0 && tries < 64; tries++)
		if (addr < m->e[i].end && (!best || m->e[i].order > best->order))
			best = &m->e[i];
	return best ? m->names + best->name : NULL;
}
