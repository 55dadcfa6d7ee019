// SPDX-License-Identifier: LGPL-2.1-or-later
#include "kallsyms.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ksym_entry {
	uint64_t addr;
	uint32_t name; /* offset into the arena */
	uint32_t module; /* offset into the arena; 0 is "" */
};

struct kallsyms {
	struct ksym_entry *syms;
	size_t nsyms, cap;
	char *arena;
	size_t arena_len, arena_cap;
};

static int arena_add(struct kallsyms *k, const char *s, size_t len, uint32_t *ret)
{
	if (k->arena_len + len + 1 > UINT32_MAX)
		return -E2BIG;
	if (grow_array((void **)&k->arena, &k->arena_cap, k->arena_len + len + 1, 1))
		return -ENOMEM;
	memcpy(k->arena + k->arena_len, s, len);
	k->arena[k->arena_len + len] = 0;
	*ret = k->arena_len;
	k->arena_len += len + 1;
	return 0;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct ksym_entry *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

void kallsyms__free(struct kallsyms *k)
{
	if (!k)
		return;
	free(k->syms);
	free(k->arena);
	free(k);
}

struct kallsyms *kallsyms__parse(FILE *f)
{
	struct kallsyms *k = calloc(1, sizeof(*k));
	char *line = NULL, prev_mod[128] = "";
	uint32_t prev_mod_off = 0, empty;
	size_t cap = 0;
	ssize_t n;
	bool all_zero = true;
	int err = -ENOMEM;

	if (!k || arena_add(k, "", 0, &empty))
		goto fail;
	while ((n = getline(&line, &cap, f)) > 0) {
		char *end, *type, *name, *mod;
		struct ksym_entry *e;
		uint64_t addr;
		size_t nlen;

		if (line[n - 1] == '\n')
			line[--n] = 0;
		errno = 0;
		addr = strtoull(line, &end, 16);
		if (errno || end == line || *end != ' ')
			continue; /* not a symbol line: skip rather than guess */
		type = end + 1;
		if (!type[0] || type[1] != ' ')
			continue;
		if (!strchr("tTwW", type[0]))
			continue;
		name = type + 2;
		mod = strchr(name, '\t');
		nlen = mod ? (size_t)(mod - name) : strlen(name);
		if (!nlen)
			continue;
		if (addr)
			all_zero = false;
		if (grow_array((void **)&k->syms, &k->cap, k->nsyms + 1, sizeof(*k->syms)))
			goto fail;
		e = &k->syms[k->nsyms];
		e->addr = addr;
		e->module = 0;
		if (arena_add(k, name, nlen, &e->name))
			goto fail;
		if (mod) {
			char *open = strchr(mod, '['), *close = open ? strchr(open, ']') : NULL;

			if (open && close && close - open - 1 < (long)sizeof(prev_mod)) {
				size_t mlen = close - open - 1;

				/* modules come in runs: share the previous string */
				if (strlen(prev_mod) != mlen || strncmp(prev_mod, open + 1, mlen)) {
					memcpy(prev_mod, open + 1, mlen);
					prev_mod[mlen] = 0;
					if (arena_add(k, open + 1, mlen, &prev_mod_off))
						goto fail;
				}
				e->module = prev_mod_off;
			}
		}
		k->nsyms++;
	}
	free(line);
	line = NULL;
	if (k->nsyms && all_zero) {
		err = -EPERM; /* kptr_restrict hides the addresses */
		goto fail;
	}
	/* the kernel lists its symbols mostly sorted: sort only when needed */
	for (size_t i = 1; i < k->nsyms; i++)
		if (cmp_sym(&k->syms[i - 1], &k->syms[i]) > 0) {
			qsort(k->syms, k->nsyms, sizeof(*k->syms), cmp_sym);
			break;
		}
	return k;
fail:
	free(line);
	kallsyms__free(k);
	errno = -err;
	return NULL;
}

struct kallsyms *kallsyms__load(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	/* large reads: the kernel formats /proc/kallsyms per read call, 4 KB at a time by default */
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	return kallsyms__parse(f);
}

int kallsyms__lookup(const struct kallsyms *k, uint64_t addr, struct ksym *ret)
{
	size_t lo = 0, hi = k->nsyms;
	const struct ksym_entry *e;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	e = &k->syms[lo - 1];
	/* kallsyms has no sizes: far past the very last symbol is nothing we know */
	if (lo == k->nsyms && addr - e->addr > (1u << 20))
		return -ENOENT;
	ret->addr = e->addr;
	ret->name = k->arena + e->name;
	ret->module = k->arena + e->module;
	return 0;
}

int kallsyms__module_range(const struct kallsyms *k, const char *module, uint64_t *ret_start,
			   uint64_t *ret_end)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (size_t i = 0; i < k->nsyms; i++) {
		if (strcmp(k->arena + k->syms[i].module, module))
			continue;
		if (k->syms[i].addr < lo)
			lo = k->syms[i].addr;
		if (k->syms[i].addr > hi)
			hi = k->syms[i].addr;
	}
	if (lo > hi)
		return -ENOENT;
	*ret_start = lo;
	*ret_end = hi + 1;
	return 0;
}

size_t kallsyms__count(const struct kallsyms *k)
{
	return k->nsyms;
}
