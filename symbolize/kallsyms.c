// SPDX-License-Identifier: LGPL-2.1-or-later
/* Kernel symbols: parsing /proc/kallsyms, looking addresses up, the saved cache format. */
#include "kallsyms.h"
#include "hashmap.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct ksym_entry {
	uint64_t addr;
	uint32_t name; /* offset into the arena */
	uint32_t module; /* offset into the arena; 0 is "" */
};

/* The addresses of one module's symbols (module: its name's offset in the arena) */
struct kmod_range {
	uint32_t module;
	uint64_t lo, hi;
};

struct kallsyms {
	struct ksym_entry *syms;
	size_t nsyms, cap;
	char *arena;
	size_t arena_len, arena_cap;
	void *map; /* the saved file, when syms and arena point into it */
	size_t map_len;
	/* each module's range, from one pass over the symbols (NULL: not made, or no memory) */
	struct kmod_range *mods;
	size_t nmods;
	uint64_t core_start, core_end; /* [_stext, _etext) as saved; 0, 0: look it up */
	/*
	 * The first address of every KSYM_RUN entries (a page of the saved table): a lookup in a
	 * mapped table searches these, then one page, instead of faulting in ~18 of them (each
	 * fault maps its neighbours too: 1 MB resident a lookup). NULL: search the whole table.
	 */
	uint64_t *runs;
	size_t nruns;
	unsigned int lookups; /* in the mapping since its pages were last given back */
};

#define KSYM_RUN (4096 / sizeof(struct ksym_entry))

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
	if (k->map) {
		munmap(k->map, k->map_len);
	} else {
		free(k->syms);
		free(k->arena);
	}
	free(k->mods);
	free(k->runs);
	free(k);
}

struct kallsyms *kallsyms__parse(FILE *f)
{
	return kallsyms__parse_filtered(f, NULL, NULL);
}

struct kallsyms *kallsyms__parse_filtered(FILE *f, kallsyms_keep_fn keep, void *ctx)
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
		if (keep && !keep(addr, ctx))
			continue;
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
	return kallsyms__load_filtered(path, NULL, NULL);
}

struct kallsyms *kallsyms__load_filtered(const char *path, kallsyms_keep_fn keep, void *ctx)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	/* large reads: the kernel formats /proc/kallsyms per read call, 4 KB at a time by default */
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	return kallsyms__parse_filtered(f, keep, ctx);
}

static uint64_t ksym_addr(const void *e)
{
	return ((const struct ksym_entry *)e)->addr;
}

static uint64_t run_addr(const void *e)
{
	return *(const uint64_t *)e;
}

int kallsyms__lookup(const struct kallsyms *k, uint64_t addr, struct ksym *ret)
{
	const struct ksym_entry *e;
	size_t lo;

	if (k->runs) {
		/* the run whose first symbol is the last at or below addr, then within it */
		size_t r = upper_bound(k->runs, k->nruns, sizeof(*k->runs), addr, run_addr), n;

		if (!r)
			return -ENOENT;
		r--;
		n = k->nsyms - r * KSYM_RUN < KSYM_RUN ? k->nsyms - r * KSYM_RUN : KSYM_RUN;
		lo = r * KSYM_RUN +
		     upper_bound(k->syms + r * KSYM_RUN, n, sizeof(*k->syms), addr, ksym_addr);
	} else {
		lo = upper_bound(k->syms, k->nsyms, sizeof(*k->syms), addr, ksym_addr);
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
	/*
	 * Every fault in the mapping maps its neighbours too (64 KB): give the pages back every
	 * few lookups, so that an interval's lookups do not make the table resident. The names
	 * handed out stay valid: a page given back is read again from the page cache.
	 */
	if (k->map && ++((struct kallsyms *)k)->lookups >= 4)
		kallsyms__release_pages((struct kallsyms *)k);
	return 0;
}

/* A module's range, to be grown by e->addr: the last one touched or looked up in index. */
static struct kmod_range *kmod_of(struct kallsyms *k, struct hmap *index,
				  const struct ksym_entry *e, size_t *cap)
{
	struct kmod_range *m = k->nmods ? &k->mods[k->nmods - 1] : NULL;
	uintptr_t at;

	/* modules come in runs */
	if (m && m->module == e->module)
		return m;
	at = (uintptr_t)hmap__get(index, &e->module, sizeof(e->module));
	if (at)
		return &k->mods[at - 1];
	if (grow_array((void **)&k->mods, cap, k->nmods + 1, sizeof(*k->mods)) ||
	    hmap__put(index, &e->module, sizeof(e->module), (void *)(uintptr_t)(k->nmods + 1)))
		return NULL;
	k->mods[k->nmods] = (struct kmod_range){ e->module, e->addr, e->addr };
	return &k->mods[k->nmods++];
}

/*
 * Check the saved table (every name within the arena, the order) and index the modules' ranges
 * in one pass, giving the pages read back as it goes: the table is ~3 MB. 0, or -EBADMSG.
 */
static int check_and_index(struct kallsyms *k)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), cap = 0, dropped = 0;
	struct hmap *index = hmap__new();
	int err = 0;

	k->nruns = (k->nsyms + KSYM_RUN - 1) / KSYM_RUN;
	k->runs = k->nruns ? malloc(k->nruns * sizeof(*k->runs)) : NULL;
	for (size_t i = 0; i < k->nsyms && !err; i++) {
		const struct ksym_entry *e = &k->syms[i];
		struct kmod_range *m;

		if (e->name >= k->arena_len || e->module >= k->arena_len ||
		    (i && cmp_sym(&k->syms[i - 1], e) > 0)) {
			err = -EBADMSG; /* saved tables are sorted */
			break;
		}
		if (k->runs && i % KSYM_RUN == 0)
			k->runs[i / KSYM_RUN] = e->addr;
		m = index ? kmod_of(k, index, e, &cap) : NULL;
		if (!m) {
			/* no index: module ranges are looked up by a scan */
			free(k->mods);
			k->mods = NULL;
			k->nmods = 0;
			hmap__free(index);
			index = NULL;
		} else {
			if (e->addr < m->lo)
				m->lo = e->addr;
			if (e->addr > m->hi)
				m->hi = e->addr;
		}
		/* behind the pass: whole pages of the mapping already read go back */
		if (k->map && i % 8192 == 8191) {
			size_t upto = ((const char *)(e + 1) - (const char *)k->map) / page * page;

			if (upto > dropped) {
				madvise((char *)k->map + dropped, upto - dropped, MADV_DONTNEED);
				dropped = upto;
			}
		}
	}
	hmap__free(index);
	if (err) {
		free(k->mods);
		k->mods = NULL;
		k->nmods = 0;
		free(k->runs);
		k->runs = NULL;
	}
	return err;
}

int kallsyms__module_range(const struct kallsyms *k, const char *module, uint64_t *ret_start,
			   uint64_t *ret_end)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	if (k->mods) {
		/* one name can have several entries (a module's freed init code is listed apart) */
		for (size_t i = 0; i < k->nmods; i++)
			if (!strcmp(k->arena + k->mods[i].module, module)) {
				if (k->mods[i].lo < lo)
					lo = k->mods[i].lo;
				if (k->mods[i].hi > hi)
					hi = k->mods[i].hi;
			}
		if (lo > hi)
			return -ENOENT;
		*ret_start = lo;
		*ret_end = hi + 1;
		return 0;
	}
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

/*
 * Saved form: header, nsyms ksym_entry records, then the arena. Native byte order. Version 2
 * adds the core kernel's text range, which otherwise takes a look at every name.
 */
#define KALLSYMS_MAGIC 0x53594b4843524f53ULL /* "SORCHKYS" */
#define KALLSYMS_VERSION 2
#define KALLSYMS_KEY_LEN 128

struct saved_header {
	uint64_t magic;
	uint32_t version, key_len;
	char key[KALLSYMS_KEY_LEN];
	uint64_t nsyms, arena_len;
	uint64_t core_start, core_end; /* 0, 0: none found */
};

int kallsyms__save(const struct kallsyms *k, const char *key, FILE *f)
{
	struct saved_header h = {
		.magic = KALLSYMS_MAGIC,
		.version = KALLSYMS_VERSION,
		.nsyms = k->nsyms,
		.arena_len = k->arena_len,
	};

	if (kallsyms__core_text(k, &h.core_start, &h.core_end))
		h.core_start = h.core_end = 0;
	if (strlen(key) >= KALLSYMS_KEY_LEN)
		return -E2BIG;
	h.key_len = strlen(key);
	memcpy(h.key, key, h.key_len);
	if (fwrite(&h, sizeof(h), 1, f) != 1 ||
	    (k->nsyms && fwrite(k->syms, sizeof(*k->syms), k->nsyms, f) != k->nsyms) ||
	    fwrite(k->arena, 1, k->arena_len, f) != k->arena_len)
		return -EIO;
	return 0;
}

/* The saved table in buf, copied or (map) used in place. */
static struct kallsyms *load_saved(const void *buf, size_t len, const char *key, bool map)
{
	struct kallsyms *k = NULL;
	struct saved_header h;
	const char *p = buf;
	int err = -EBADMSG;

	if (len < sizeof(h))
		goto fail;
	memcpy(&h, p, sizeof(h));
	if (h.magic != KALLSYMS_MAGIC || h.version != KALLSYMS_VERSION ||
	    h.key_len >= KALLSYMS_KEY_LEN)
		goto fail;
	if (h.key_len != strlen(key) || memcmp(h.key, key, h.key_len)) {
		err = -ESTALE;
		goto fail;
	}
	if (h.nsyms > (len - sizeof(h)) / sizeof(struct ksym_entry) || !h.arena_len ||
	    h.arena_len != len - sizeof(h) - h.nsyms * sizeof(struct ksym_entry) ||
	    h.arena_len > UINT32_MAX)
		goto fail;
	err = -ENOMEM;
	k = calloc(1, sizeof(*k));
	if (!k)
		goto fail;
	if (map) {
		/* the mapping is freed by the caller on failure */
		k->syms = (struct ksym_entry *)(p + sizeof(h));
		k->arena = (char *)p + sizeof(h) + h.nsyms * sizeof(*k->syms);
		k->map = (void *)buf;
		k->map_len = len;
	} else {
		k->syms = malloc(h.nsyms ? h.nsyms * sizeof(*k->syms) : 1);
		k->arena = malloc(h.arena_len);
		if (!k->syms || !k->arena)
			goto fail;
		memcpy(k->syms, p + sizeof(h), h.nsyms * sizeof(*k->syms));
		memcpy(k->arena, p + sizeof(h) + h.nsyms * sizeof(*k->syms), h.arena_len);
	}
	k->nsyms = k->cap = h.nsyms;
	k->arena_len = k->arena_cap = h.arena_len;
	/* every name must start inside the arena and end with its NUL there */
	err = -EBADMSG;
	if (k->arena[k->arena_len - 1] != 0 || h.core_end < h.core_start)
		goto fail;
	k->core_start = h.core_start;
	k->core_end = h.core_end;
	if (check_and_index(k))
		goto fail;
	return k;
fail:
	if (k && k->map) {
		k->map = NULL;
		k->syms = NULL;
		k->arena = NULL;
	}
	kallsyms__free(k);
	errno = -err;
	return NULL;
}

struct kallsyms *kallsyms__from_saved(const void *buf, size_t len, const char *key)
{
	return load_saved(buf, len, key, false);
}

struct kallsyms *kallsyms__map_saved(int fd, const char *key)
{
	struct kallsyms *k;
	struct stat st;
	void *map;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0)
		return NULL;
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return NULL;
	k = load_saved(map, st.st_size, key, true);
	if (!k) {
		int err = errno;

		munmap(map, st.st_size);
		errno = err;
		return NULL;
	}
	kallsyms__release_pages(k);
	return k;
}

void kallsyms__release_pages(struct kallsyms *k)
{
	/* clean file pages: lookups fault back in the few they read, from the page cache */
	if (k && k->map)
		madvise(k->map, k->map_len, MADV_DONTNEED);
	if (k)
		k->lookups = 0;
}

int kallsyms__core_text(const struct kallsyms *k, uint64_t *ret_start, uint64_t *ret_end)
{
	uint64_t start = k->core_start, end = k->core_end;

	if (k->core_end) {
		*ret_start = start;
		*ret_end = end;
		return 0;
	}
	for (size_t i = 0; i < k->nsyms && (!start || !end); i++) {
		const char *name = k->arena + k->syms[i].name;

		if (k->syms[i].module)
			continue;
		if (!start && strcmp(name, "_stext") == 0)
			start = k->syms[i].addr;
		else if (!end && strcmp(name, "_etext") == 0)
			end = k->syms[i].addr;
	}
	if (!start || end <= start)
		return -ENOENT;
	*ret_start = start;
	*ret_end = end;
	return 0;
}
