// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The symbolizer's file cache: ELF files read once, by device and inode (and by build-id across
 * copies), scoped to a root when their debug info came from inside it; the vDSO; opening the
 * files processes map, through /proc/PID/map_files or inside their root.
 */
#include "symbolizer-internal.h"
#include "procmaps.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The by-build-id key of a file: its build-id, and its root when its debug info is scoped. */
#define BID_KEY_MAX (2 * 64 + 1 + 2 * 16 + 2)

static size_t bid_key(const char *bid, const struct root_scope *scope, char *ret)
{
	if (!scope->dev && !scope->ino)
		return snprintf(ret, BID_KEY_MAX, "%s", bid);
	return snprintf(ret, BID_KEY_MAX, "%s@%" PRIx64 ":%" PRIx64, bid, scope->dev, scope->ino);
}

static bool scoped(const struct root_scope *scope)
{
	return scope->dev || scope->ino;
}

void sym_release_elf(struct symbolizer *s, struct elf_file *elf)
{
	struct cached_file *cf;
	const char *bid;

	if (!elf)
		return;
	cf = hmap__get(s->elf_refs, &elf, sizeof(elf));
	if (!cf)
		return;
	cf->idle_since = s->generation;
	if (--cf->refs)
		return;
	hmap__remove(s->elf_refs, &elf, sizeof(elf));
	bid = elf_file__build_id(elf);
	if (bid[0]) {
		char k[BID_KEY_MAX];
		size_t n = bid_key(bid, &cf->scope, k);

		if (hmap__get(s->by_build_id, k, n) == cf)
			hmap__remove(s->by_build_id, k, n);
	}
	elf_file__free(cf->elf);
	free(cf->path);
	free(cf);
}

void symbolizer__unwound_files(const struct symbolizer *s, sym_unwound_fn fn, void *ctx)
{
	size_t pos = 0;
	void *v;

	while (hmap__next(s->elf_refs, &pos, NULL, NULL, &v)) {
		const struct cached_file *cf = v;
		const uint64_t *n = elf_file__unwound(cf->elf);

		if (n[UNWIND_BY_CFI] || n[UNWIND_BY_FP] || n[UNWIND_BY_GO])
			fn(ctx, cf->path ? cf->path : "?", n);
	}
}

/*
 * Open the file behind a mapping from inside the process's own view of the filesystem: the
 * mapping itself (/proc/PID/map_files, which the kernel vouches for), else the path inside the
 * process's root, and then only if it is the file the maps line names (device and inode).
 */
int sym_open_mapped_file(struct symbolizer *s, uint32_t pid, int rootfd,
			 const struct sym_process *p, const struct procmap *m)
{
	const struct proc_open_opts o = opts_for(p, PROC_FILE_ELF);
	char path[PATH_MAX + 300];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%u/map_files/%" PRIx64 "-%" PRIx64, s->proc_root, pid,
		 m->start, m->end);
	fd = proc_file__open_link(path, &o, &st);
	if (fd >= 0 || fd == -EINVAL || fd == -EFBIG || fd == -EREMOTE || rootfd < 0)
		return fd;
	fd = proc_file__open_at(rootfd, m->path, &o, &st);
	if (fd >= 0 &&
	    (st.st_dev != makedev(m->dev_major, m->dev_minor) || st.st_ino != m->inode)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

struct cached_file *sym_cached_file(const struct symbolizer *s, uint64_t dev, uint64_t ino,
				    const struct root_scope *scope)
{
	struct file_key key = { dev, ino, { 0, 0 } };
	struct cached_file *cf = hmap__get(s->files, &key, sizeof(key));

	if (cf || !scoped(scope))
		return cf;
	key.scope = *scope;
	return hmap__get(s->files, &key, sizeof(key));
}

struct elf_file *sym_get_elf(struct symbolizer *s, int fd, const char *name, int rootfd,
			     const struct sym_process *p, const struct root_scope *scope)
{
	static const struct root_scope everywhere;
	struct cached_file *cf, *same;
	char k[BID_KEY_MAX];
	const char *bid;
	struct file_key key;
	struct stat st;
	size_t klen;

	if (fstat(fd, &st) < 0)
		return NULL;
	cf = sym_cached_file(s, st.st_dev, st.st_ino, scope);
	if (cf) {
		cf->refs++;
		return cf->elf;
	}
	cf = calloc(1, sizeof(*cf));
	if (!cf)
		return NULL;
	cf->mode = st.st_mode;
	cf->uid = st.st_uid;
	cf->gid = st.st_gid;
	cf->elf = elf_file__read(fd);
	if (!cf->elf) {
		free(cf);
		return NULL;
	}
	elf_file__set_budget(cf->elf, &s->symbols);
	elf_file__set_cache_dir(cf->elf, s->opts.cache_dir, &s->dwarf_pending);
	/*
	 * The same build under another path or inode (another container's copy of a library): the
	 * file already read serves, unless this copy has the symbols that one lacks. One whose
	 * debug info came from another root does not.
	 */
	bid = elf_file__build_id(cf->elf);
	same = NULL;
	if (bid[0]) {
		klen = bid_key(bid, &everywhere, k);
		same = hmap__get(s->by_build_id, k, klen);
		if (!same && scoped(scope)) {
			klen = bid_key(bid, scope, k);
			same = hmap__get(s->by_build_id, k, klen);
		}
	}
	if (same && (elf_file__has_symtab(same->elf) || !elf_file__has_symtab(cf->elf))) {
		elf_file__free(cf->elf);
		free(cf);
		s->stats.files_shared++;
		same->refs++; /* the caller's */
		key = (struct file_key){ st.st_dev, st.st_ino, same->scope };
		if (hmap__count(s->files) < s->opts.max_files &&
		    hmap__put(s->files, &key, sizeof(key), same) == 0)
			same->refs++;
		return same->elf;
	}
	if (name[0] == '/' &&
	    sym_find_debug_file(s, cf->elf, rootfd, p, name, st.st_size) == DEBUG_IN_ROOT)
		cf->scope = *scope;
	if (elf_file__error(cf->elf)) {
		s->stats.files_unreadable++;
		sym_warn(s, "'%s': %s, keeping bare addresses for what it lacks", name,
			 elf_file__error(cf->elf));
	}
	cf->refs = 1; /* the caller's */
	cf->path = strdup(name);
	if (hmap__put(s->elf_refs, &cf->elf, sizeof(cf->elf), cf)) {
		elf_file__free(cf->elf);
		free(cf->path);
		free(cf);
		return NULL;
	}
	/* the build-id's entry is this file from now on (without memory, simply not shared) */
	if (bid[0]) {
		klen = bid_key(bid, &cf->scope, k);
		hmap__put(s->by_build_id, k, klen, cf);
	}
	/* past the bound the file is owned by its mappings alone and freed with them */
	key = (struct file_key){ st.st_dev, st.st_ino, cf->scope };
	if (hmap__count(s->files) < s->opts.max_files &&
	    hmap__put(s->files, &key, sizeof(key), cf) == 0) {
		cf->refs++;
		s->stats.files_cached++;
	}
	return cf->elf;
}

/*
 * The vDSO: the kernel maps the same image into every (64-bit) process, so ours serves for all
 * of them. Read once from our own memory; a new reference per mapping of the same size.
 */
struct elf_file *sym_vdso_elf(struct symbolizer *s, uint64_t size)
{
	struct cached_file *cf;

	if (!s->vdso_tried) {
		uint64_t base = getauxval(AT_SYSINFO_EHDR), start = 0, end = 0;
		char line[512];
		FILE *f = fopen("/proc/self/maps", "re");
		int fd;

		s->vdso_tried = true;
		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "[vdso]") &&
			    sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) == 2)
				break;
		if (f)
			fclose(f);
		if (!base || base != start || end <= start)
			return NULL;
		fd = memfd_create("scorch-vdso", MFD_CLOEXEC);
		if (fd < 0)
			return NULL;
		if (write(fd, (const void *)(uintptr_t)start, end - start) ==
		    (ssize_t)(end - start)) {
			s->vdso =
			    sym_get_elf(s, fd, "[vdso]", -1, NULL,
					&(struct root_scope){ 0 }); /* the symbolizer's reference */
			s->vdso_size = end - start;
		}
		close(fd);
	}
	if (!s->vdso || size != s->vdso_size)
		return NULL;
	cf = hmap__get(s->elf_refs, &s->vdso, sizeof(s->vdso));
	if (!cf)
		return NULL;
	cf->refs++;
	return s->vdso;
}

int symbolizer__open_mapped(struct symbolizer *s, uint32_t pid, uint32_t seq, const char *build_id)
{
	const struct sym_process *p = sym_get_process(s, pid, seq);
	int r = -ENOENT;

	if (!p)
		return -ESRCH;
	for (size_t i = 0; i < p->n; i++) {
		const struct sym_mapping *m = &p->maps[i];
		char path[PATH_MAX];
		struct stat st;
		int fd;

		if (!m->elf || !m->ino || strcmp(m->build_id, build_id) || sym_on_fuse(p, m->dev))
			continue;
		snprintf(path, sizeof(path), "%s/%u/map_files/%" PRIx64 "-%" PRIx64, s->proc_root,
			 pid, m->start, m->end);
		{
			const struct proc_open_opts o = opts_for(p, PROC_FILE_ELF);

			fd = proc_file__open_link(path, &o, &st);
		}
		if (fd < 0) {
			r = fd == -ENOENT ? -ESRCH : fd;
			continue;
		}
		if (st.st_dev == m->dev && st.st_ino == m->ino)
			return fd;
		close(fd);
		r = -ESTALE;
	}
	return r;
}
