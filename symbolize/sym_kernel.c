// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel addresses for the symbolizer: /proc/kallsyms, kept between runs in a cache valid for
 * one boot and one set of modules, live symbols for what the cache cannot know (BPF programs,
 * trampolines), and the name_kernel hook that names BPF programs first.
 */
#include "symbolizer-internal.h"
#include "fileio.h"
#include "kallsyms.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct sym_mapping *kernel_mapping(struct symbolizer *s, const char *module)
{
	struct sym_mapping *m = hmap__get(s->kmaps, module, strlen(module));
	char name[256];

	if (m)
		return m;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	snprintf(name, sizeof(name), "[%s]", *module ? module : "kernel.kallsyms");
	m->path = strdup(name);
	m->build_id = "";
	m->kernel = true;
	kallsyms__module_range(s->kallsyms, module, &m->start, &m->end);
	if (!m->path || hmap__put(s->kmaps, module, strlen(module), m)) {
		free(m->path);
		free(m);
		return NULL;
	}
	return m;
}

static int add_trusted(struct symbolizer *s, uint64_t start, uint64_t end)
{
	struct kernel_range *r = realloc(s->trusted, (s->ntrusted + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	s->trusted = r;
	s->trusted[s->ntrusted++] = (struct kernel_range){ start, end };
	return 0;
}

/*
 * The cache key: the boot id, and a hash of /proc/modules (names, sizes and load addresses), so
 * that a reboot or a module load or unload invalidates the cache. Also collects the module
 * ranges, where cached module symbols are trusted.
 */
static int kernel_cache_key(struct symbolizer *s, char *key, size_t size)
{
	char path[300], boot_id[64] = "", *line = NULL;
	uint64_t h = 0;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int r;

	r = read_boot_id(s->proc_root, boot_id, sizeof(boot_id));
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/modules", s->proc_root);
	f = fopen(path, "re"); /* absent when the kernel has no modules */
	while (f && (n = getline(&line, &cap, f)) > 0) {
		unsigned long long size, addr;
		char name[64];

		h = hash_bytes(line, n, h);
		if (sscanf(line, "%63s %llu %*s %*s %*s %llx", name, &size, &addr) == 3 && addr &&
		    add_trusted(s, addr, addr + size)) {
			free(line);
			fclose(f);
			return -ENOMEM;
		}
	}
	free(line);
	if (f)
		fclose(f);
	snprintf(key, size, "%s/%016llx", boot_id, (unsigned long long)h);
	return 0;
}

static struct kallsyms *read_cached_kallsyms(struct symbolizer *s, const char *key)
{
	char path[PATH_MAX];
	struct kallsyms *k = NULL;
	struct stat st;
	int fd;

	if (ensure_private_dir(s->opts.cache_dir))
		return NULL;
	snprintf(path, sizeof(path), "%s/kallsyms", s->opts.cache_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	/* only a file of our own: nobody else may feed us symbol names */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    st.st_size > 0 && st.st_size < (1 << 28))
		k = kallsyms__map_saved(fd, key);
	close(fd);
	return k;
}

/* Save atomically in a directory only we can write. */
static void save_kallsyms(struct symbolizer *s, const struct kallsyms *k, const char *key)
{
	struct atomic_file a;
	char path[PATH_MAX];
	FILE *f;
	int r;

	if (ensure_private_dir(s->opts.cache_dir))
		return;
	snprintf(path, sizeof(path), "%s/kallsyms", s->opts.cache_dir);
	if (atomic_file__open(&a, path, 0600))
		return;
	f = fdopen(dup(a.fd), "w");
	r = f ? kallsyms__save(k, key, f) : -errno;
	if (f && fclose(f) && !r)
		r = -EIO;
	if (r)
		atomic_file__abort(&a);
	else if (atomic_file__commit(&a) == 0)
		s->stats.kernel_cache_saved = true;
}

static void kallsyms_path(const struct symbolizer *s, char *buf, size_t size)
{
	if (s->opts.kallsyms)
		snprintf(buf, size, "%s", s->opts.kallsyms);
	else
		snprintf(buf, size, "%s/kallsyms", s->proc_root);
}

static int load_live_kallsyms(struct symbolizer *s)
{
	char path[300];
	struct kallsyms *k;

	kallsyms_path(s, path, sizeof(path));
	k = kallsyms__load(path);
	if (!k) {
		sym_warn(s, "cannot read kernel symbols from '%s': %s%s", path, strerror(errno),
			 errno == EPERM ? " (kernel.kptr_restrict hides them)" : "");
		return -errno;
	}
	kallsyms__free(s->kallsyms);
	s->kallsyms = k;
	s->kallsyms_live = true;
	s->stats.kernel_from_proc = true;
	return 0;
}

/* First kernel lookup: the cache when it is valid for this boot and these modules. */
static void load_kernel_symbols(struct symbolizer *s)
{
	char key[128];
	uint64_t start, end;
	bool keyed;

	s->kallsyms_tried = true;
	keyed = s->opts.cache_dir && kernel_cache_key(s, key, sizeof(key)) == 0;
	if (keyed) {
		s->kallsyms = read_cached_kallsyms(s, key);
		if (s->kallsyms) {
			s->stats.kernel_from_cache = true;
			if (kallsyms__core_text(s->kallsyms, &start, &end) == 0)
				add_trusted(s, start, end);
			kallsyms__release_pages(s->kallsyms);
			return;
		}
	}
	if (load_live_kallsyms(s) == 0 && keyed)
		save_kallsyms(s, s->kallsyms, key);
}

/* Cached symbols name only core text and loaded modules: the rest (BPF, trampolines) changes. */
static bool is_trusted(const struct symbolizer *s, uint64_t addr)
{
	for (size_t i = 0; i < s->ntrusted; i++)
		if (addr >= s->trusted[i].start && addr < s->trusted[i].end)
			return true;
	return false;
}

static bool untrusted(uint64_t addr, void *ctx)
{
	return !is_trusted(ctx, addr);
}

/*
 * Live symbols outside the cached ranges (BPF programs, trampolines), read from /proc only for
 * them: the whole table would cost its megabytes again. Read again at most every ten minutes,
 * /proc/kallsyms takes tens of milliseconds of kernel time to produce.
 */
static const struct kallsyms *untrusted_symbols(struct symbolizer *s)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	struct kallsyms *k;
	char path[300];

	if (s->kextra_ns && now - s->kextra_ns < 600000000000ULL)
		return s->kextra;
	s->kextra_ns = now;
	kallsyms_path(s, path, sizeof(path));
	k = kallsyms__load_filtered(path, untrusted, s);
	if (!k)
		return s->kextra;
	kallsyms__free(s->kextra);
	s->kextra = k;
	s->stats.kernel_from_proc = true;
	return k;
}

int symbolizer__resolve_kernel(struct symbolizer *s, uint64_t addr, struct sym_frame *ret)
{
	const struct kallsyms *k;
	struct ksym sym;
	char name[128];
	const char *kept;

	ret->function = NULL;
	ret->nlines = 0;
	ret->mapping = NULL;
	if (!s->kallsyms_tried)
		load_kernel_symbols(s);
	k = s->kallsyms;
	if (k && !s->kallsyms_live && !is_trusted(s, addr)) {
		if (s->opts.name_kernel &&
		    s->opts.name_kernel(s->opts.name_kernel_ctx, addr, name, sizeof(name)) == 0 &&
		    (kept = sym_intern(s, name))) {
			sym_set_symbol_only(s, ret, kept);
			ret->mapping = kernel_mapping(s, "bpf");
			return 0;
		}
		k = untrusted_symbols(s);
	}
	if (!k)
		return -ENOENT;
	if (kallsyms__lookup(k, addr, &sym)) {
		ret->mapping = kernel_mapping(s, "");
		return -ENOENT;
	}
	sym_set_symbol_only(s, ret, sym.name);
	ret->mapping = kernel_mapping(s, sym.module);
	return 0;
}
