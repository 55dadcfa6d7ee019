// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * DWARF a unit at a time (dwarf_lazy.c) answers as libdw does with the file opened whole:
 * for addresses across every range of .debug_aranges, the same functions, inlined frames,
 * files and lines. On libc's separate debug file (zlib-compressed, 5.8 MB of .debug_info) the
 * checkpoints keep each unit's read short and the memory held far below the inflated
 * sections; more units than are kept at once are dropped and read again correctly. A corrupt
 * unit is refused, never crashes. Hostile files built here are refused within bounds: units
 * that all name one large line program, a .debug_info deflated as one block, shared sections
 * that would inflate past the budget.
 * Usage: test_dwarf_lazy FILE... (files with DWARF); libc's debug file is found by build-id
 * (required with CI=true: scripts install libc6-dbg).
 */
#include "check.h"
#include "dwarf_frames.h"
#include "dwarf_lazy.h"
#include "elf_file.h"

#include <elfutils/libdw.h>
#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <errno.h>
#include <dirent.h>

struct mapped {
	void *base;
	size_t len;
	Elf *elf;
};

static bool map_file(const char *path, struct mapped *m)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	*m = (struct mapped){ 0 };
	if (fd < 0 || fstat(fd, &st) || !st.st_size) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	m->len = st.st_size;
	/* writable as scorch's own mapping of the section headers: libelf updates them */
	m->base = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m->base == MAP_FAILED)
		return false;
	m->elf = elf_memory(m->base, m->len);
	return m->elf != NULL;
}

static void unmap_file(struct mapped *m)
{
	if (m->elf)
		elf_end(m->elf);
	if (m->base && m->base != MAP_FAILED)
		munmap(m->base, m->len);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/*
 * Compare the two readers at up to max addresses spread over every arange; frames compared.
 * With cache, the lazy reader starts from and keeps to that cache; its stats in *ret_st.
 */
static size_t compare_cached(const char *path, size_t max, bool scramble,
			     const struct dwarf_lazy_cache *cache, struct dwarf_lazy_stats *ret_st)
{
	struct mapped whole_m, lazy_m;
	struct dwarf_lazy *dl = NULL;
	Dwarf_Aranges *ar = NULL;
	size_t nar = 0, frames = 0, mismatches = 0;
	uint64_t total = 0, stride;
	Dwarf *whole = NULL;
	int err = 0;

	CHECK(map_file(path, &whole_m) && map_file(path, &lazy_m));
	if (whole_m.elf)
		whole = dwarf_begin_elf(whole_m.elf, DWARF_C_READ, NULL);
	CHECK(whole != NULL);
	if (lazy_m.elf)
		dl = dwarf_lazy__open(lazy_m.elf, cache, &err);
	CHECK_INT(err, 0);
	CHECK(dl != NULL);
	if (!whole || !dl || dwarf_getaranges(whole, &ar, &nar) || !nar)
		goto out;
	for (size_t i = 0; i < nar; i++) {
		Dwarf_Addr start;
		Dwarf_Word len;

		dwarf_getarangeinfo(dwarf_onearange(ar, i), &start, &len, NULL);
		total += len;
	}
	stride = total / max + 1;
	for (size_t k = 0; k < nar; k++) {
		/* scrambled: the ranges in an order unrelated to the file's, so units go and come back */
		size_t i = scramble ? (k * 7919) % nar : k;
		Dwarf_Addr start;
		Dwarf_Word len;

		dwarf_getarangeinfo(dwarf_onearange(ar, i), &start, &len, NULL);
		for (uint64_t a = start; a < start + len; a += stride) {
			struct dwarf_frame x[16], y[16];
			Dwarf *dw = NULL;
			int nx = dwarf__frames(whole, a, x, 16), ny, r;

			r = dwarf_lazy__at(dl, a, &dw);
			ny = r == 0 ? dwarf__frames(dw, a, y, 16) : -1;
			if (nx != ny) {
				if (mismatches++ < 5)
					fprintf(stderr, "%s: %#lx: %d frames whole, %d lazy (%d)\n",
						path, (unsigned long)a, nx, ny, r);
				continue;
			}
			for (int j = 0; j < nx; j++) {
				if (same(x[j].name, y[j].name) &&
				    same(x[j].linkage, y[j].linkage) &&
				    same(x[j].file, y[j].file) && x[j].line == y[j].line &&
				    same(x[j].decl_file, y[j].decl_file) &&
				    x[j].decl_line == y[j].decl_line &&
				    same(x[j].comp_dir, y[j].comp_dir)) {
					frames++;
					continue;
				}
				if (mismatches++ < 5)
					fprintf(stderr, "%s: %#lx frame %d: %s %s:%d vs %s %s:%d\n",
						path, (unsigned long)a, j, x[j].name, x[j].file,
						x[j].line, y[j].name, y[j].file, y[j].line);
			}
		}
	}
	CHECK_INT(mismatches, 0);
	{
		struct dwarf_lazy_stats st;

		dwarf_lazy__stats(dl, &st);
		printf("%s: %zu frames agree; %llu units opened, %llu bytes inflated, %llu from "
		       "the cache, %zu held\n",
		       path, frames, (unsigned long long)st.opened, (unsigned long long)st.inflated,
		       (unsigned long long)st.from_cache, st.bytes);
		if (ret_st)
			*ret_st = st;
	}
out:
	dwarf_lazy__free(dl);
	if (whole)
		dwarf_end(whole);
	unmap_file(&whole_m);
	unmap_file(&lazy_m);
	return frames;
}

static size_t compare(const char *path, size_t max, bool scramble)
{
	return compare_cached(path, max, scramble, NULL, NULL);
}

/* libc's separate debug file, by the build-id of the libc this test runs with */
static bool libc_debug(char *path, size_t size)
{
	struct mapped m;
	const unsigned char *id;
	ssize_t n;
	size_t len;
	bool ok = false;

	if (!map_file("/lib/x86_64-linux-gnu/libc.so.6", &m))
		return false;
	n = dwelf_elf_gnu_build_id(m.elf, (const void **)&id);
	if (n > 1) {
		len = (size_t)snprintf(path, size, "/usr/lib/debug/.build-id/%02x/", id[0]);
		for (ssize_t i = 1; i < n && len + 3 < size; i++)
			len += (size_t)snprintf(path + len, size - len, "%02x", id[i]);
		snprintf(path + len, size - len, ".debug");
		ok = access(path, R_OK) == 0;
	}
	unmap_file(&m);
	return ok;
}

/* Checkpoints: units read in scrambled order cost a bounded share of the section each. */
static void test_libc(const char *path)
{
	struct mapped m;
	struct dwarf_lazy *dl = NULL;
	struct dwarf_lazy_stats st;
	Dwarf_Aranges *ar = NULL;
	Dwarf *whole = NULL;
	size_t nar = 0, looked = 0;
	GElf_Shdr sh;
	GElf_Chdr ch;
	Elf_Scn *scn = NULL;
	uint64_t info_size = 0, all_size = 0;
	size_t shstrndx;
	int err;

	CHECK(compare(path, 20000, true) > 1000);
	CHECK(map_file(path, &m));
	if (!m.elf)
		return;
	elf_getshdrstrndx(m.elf, &shstrndx);
	while ((scn = elf_nextscn(m.elf, scn))) {
		const char *name;
		uint64_t size;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(m.elf, shstrndx, sh.sh_name)) ||
		    strncmp(name, ".debug_", 7))
			continue;
		size = (sh.sh_flags & SHF_COMPRESSED) && gelf_getchdr(scn, &ch) ? ch.ch_size
										: sh.sh_size;
		all_size += size;
		if (!strcmp(name, ".debug_info"))
			info_size = size;
	}
	/* the aranges from a second, whole reading: this one must stay lazy */
	{
		struct mapped w;

		CHECK(map_file(path, &w));
		whole = w.elf ? dwarf_begin_elf(w.elf, DWARF_C_READ, NULL) : NULL;
		dl = dwarf_lazy__open(m.elf, NULL, &err);
		CHECK(whole && dl);
		if (whole && dl && !dwarf_getaranges(whole, &ar, &nar)) {
			for (size_t k = 0; k < nar && looked < 400; k += 1 + nar / 400) {
				Dwarf_Addr start;
				Dwarf *dw;

				dwarf_getarangeinfo(dwarf_onearange(ar, (k * 7919) % nar), &start,
						    NULL, NULL);
				CHECK_INT(dwarf_lazy__at(dl, start, &dw), 0);
				looked++;
			}
			dwarf_lazy__stats(dl, &st);
			printf(
			    "libc: %zu lookups, %llu units, %llu bytes inflated (.debug_info %llu), "
			    "%zu held\n",
			    looked, (unsigned long long)st.opened, (unsigned long long)st.inflated,
			    (unsigned long long)info_size, st.bytes);
			/* from the start each time, that would be ~info_size / 2 per unit */
			CHECK(st.opened > 100);
			CHECK(st.inflated < info_size + st.opened * (info_size / 16));
			/* held, lines parsed included: less than libdw inflates, before any line */
			printf("libc: the debug sections inflated would be %llu bytes\n",
			       (unsigned long long)all_size);
			CHECK(st.bytes < all_size);
		}
		if (whole)
			dwarf_end(whole);
		unmap_file(&w);
	}
	dwarf_lazy__free(dl);
	unmap_file(&m);
}

/* The one entry of a cache directory (its path in buf): its size, or -1. */
static off_t cache_entry(const char *dir, char *buf, size_t size)
{
	char sub[256];
	struct dirent *de;
	struct stat st;
	off_t len = -1;
	DIR *d;

	snprintf(sub, sizeof(sub), "%s/dwarf", dir);
	d = opendir(sub);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(buf, size, "%s/%.64s", sub, de->d_name);
			if (stat(buf, &st) == 0)
				len = st.st_size;
		}
	if (d)
		closedir(d);
	return len;
}

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	unsigned char b = 0;

	CHECK(fd >= 0 && pread(fd, &b, 1, at) == 1);
	b ^= 0x5a;
	CHECK(pwrite(fd, &b, 1, at) == 1);
	close(fd);
}

/*
 * What one run inflated is kept for the next: the same answers with far less inflated, an
 * entry that no longer matches (the file changed, the entry damaged or not private) is a miss
 * that still answers right, and a directory others may write is neither read nor written.
 */
static void test_cache(const char *path)
{
	char dir[] = "/tmp/test-dwarf-cache.XXXXXX", entry[600], cmd[700];
	struct dwarf_lazy_stats cold, warm, st;
	struct dwarf_cache_budget pending = { 0 };
	struct dwarf_lazy_cache c = { dir, .pending = &pending };
	struct stat fst;
	off_t len;

	CHECK(mkdtemp(dir) != NULL && stat(path, &fst) == 0);
	dwarf_cache_key__from_stat(&c.key, &fst);
	CHECK(compare_cached(path, 3000, true, &c, &cold) > 1000);
	len = cache_entry(dir, entry, sizeof(entry));
	CHECK(len > 1 << 20);
	CHECK_INT(cold.from_cache, 0);
	CHECK(compare_cached(path, 3000, true, &c, &warm) > 1000);
	printf("cache: %llu bytes inflated cold, %llu warm (%llu from the cache); entry %lld "
	       "bytes\n",
	       (unsigned long long)cold.inflated, (unsigned long long)warm.inflated,
	       (unsigned long long)warm.from_cache, (long long)len);
	CHECK(warm.from_cache > (uint64_t)len / 2);
	CHECK(warm.inflated * 4 < cold.inflated);
	/* what the readers held on disk went back with them */
	CHECK_INT(pending.used, 0);
	CHECK_INT(pending.files, 0);
	/* another identity (the file written to since): not this entry */
	c.key.ctime_nsec ^= 1;
	CHECK(compare_cached(path, 300, false, &c, &st) > 100);
	CHECK_INT(st.from_cache, 0);
	c.key.ctime_nsec ^= 1;
	/* damaged header (the magic, then the length), a truncated entry: misses */
	flip_byte(entry, 0);
	CHECK(compare_cached(path, 300, false, &c, &st) > 100);
	CHECK_INT(st.from_cache, 0);
	/* that run wrote a good entry again */
	CHECK(compare_cached(path, 300, false, &c, &st) > 100);
	CHECK(st.from_cache > 0);
	CHECK(truncate(entry, len / 2) == 0);
	CHECK(compare_cached(path, 300, false, &c, &st) > 100);
	CHECK_INT(st.from_cache, 0);
	/* writable by others: not read, and not replaced */
	CHECK(compare_cached(path, 300, false, &c, &st) > 100);
	CHECK(chmod(entry, 0666) == 0);
	CHECK(compare_cached(path, 300, false, &c, &st) > 100);
	CHECK_INT(st.from_cache, 0);
	CHECK(chmod(entry, 0600) == 0);
	CHECK(compare_cached(path, 300, false, &c, &st) > 100);
	CHECK(st.from_cache > 0);
	CHECK(chmod(dir, 0777) == 0);
	CHECK(compare_cached(path, 300, false, &c, &st) > 100);
	CHECK_INT(st.from_cache, 0);
	CHECK(chmod(dir, 0700) == 0);
	/* the readers' budget for bytes kept on disk used up: what a run inflates is not kept */
	{
		char again[600];
		off_t small;

		CHECK(unlink(entry) == 0);
		pending.used = DWARF_CACHE_PENDING_MAX;
		CHECK(compare_cached(path, 300, false, &c, &st) > 100);
		small = cache_entry(dir, again, sizeof(again));
		printf("cache: entry of %lld bytes without the budget, %lld with it\n",
		       (long long)small, (long long)len);
		CHECK(small > 0 && small < len / 2);
		CHECK_INT(pending.used, DWARF_CACHE_PENDING_MAX);
		pending.used = 0;
		CHECK(unlink(again) == 0);
		/* as many unnamed files open as allowed: the same */
		pending.files = DWARF_CACHE_PENDING_FILES;
		CHECK(compare_cached(path, 300, false, &c, &st) > 100);
		CHECK(cache_entry(dir, again, sizeof(again)) == small);
		CHECK_INT(pending.files, DWARF_CACHE_PENDING_FILES);
		pending.files = 0;
		CHECK(unlink(again) == 0);
		CHECK(compare_cached(path, 300, false, &c, &st) > 100);
		CHECK(cache_entry(dir, entry, sizeof(entry)) > 0);
	}
	/* room made for a new entry: the oldest files go until all fit in the budget */
	{
		const char *names[3] = { "a.zc", "b.zc", "c.zc" };
		char p[700];

		CHECK(unlink(entry) == 0);
		for (int i = 0; i < 3; i++) {
			struct timespec t[2] = { { 1000 * (i + 1), 0 }, { 1000 * (i + 1), 0 } };
			int fd;

			snprintf(p, sizeof(p), "%s/dwarf/%s", dir, names[i]);
			fd = open(p, O_WRONLY | O_CREAT, 0600);
			/* 100 MB of blocks, allocated without writing them: counted as such */
			CHECK(fd >= 0 && fallocate(fd, 0, 0, 100 << 20) == 0 &&
			      futimens(fd, t) == 0);
			close(fd);
		}
		CHECK(compare_cached(path, 300, false, &c, &st) > 100);
		CHECK(cache_entry(dir, p, sizeof(p)) > 0);
		snprintf(p, sizeof(p), "%s/dwarf/a.zc", dir);
		CHECK(access(p, F_OK) != 0);
		snprintf(p, sizeof(p), "%s/dwarf/b.zc", dir);
		CHECK(access(p, F_OK) == 0);
		snprintf(p, sizeof(p), "%s/dwarf/%016llx-%016llx.zc", dir,
			 (unsigned long long)c.key.dev, (unsigned long long)c.key.ino);
		CHECK(access(p, F_OK) == 0);
		/* and entries beyond the count kept: the oldest go, the new one stays */
		for (int i = 0; i < 3; i++) {
			snprintf(p, sizeof(p), "%s/dwarf/%s", dir, names[i]);
			unlink(p);
		}
		for (int i = 0; i < DWARF_CACHE_ENTRIES_KEPT + 10; i++) {
			struct timespec t[2] = { { 1000 + i, 0 }, { 1000 + i, 0 } };
			int fd;

			snprintf(p, sizeof(p), "%s/dwarf/old-%04d.zc", dir, i);
			fd = open(p, O_WRONLY | O_CREAT, 0600);
			CHECK(fd >= 0 && futimens(fd, t) == 0);
			close(fd);
		}
		snprintf(p, sizeof(p), "%s/dwarf/%016llx-%016llx.zc", dir,
			 (unsigned long long)c.key.dev, (unsigned long long)c.key.ino);
		CHECK(unlink(p) == 0);
		CHECK(compare_cached(path, 300, false, &c, &st) > 100);
		CHECK(access(p, F_OK) == 0);
		{
			size_t left = 0;
			char sub[600];
			DIR *d;
			struct dirent *de;

			snprintf(sub, sizeof(sub), "%s/dwarf", dir);
			d = opendir(sub);
			while (d && (de = readdir(d)))
				left += de->d_name[0] != '.';
			if (d)
				closedir(d);
			printf("cache: %zu entries left of %d\n", left,
			       DWARF_CACHE_ENTRIES_KEPT + 11);
			CHECK(left <= DWARF_CACHE_ENTRIES_KEPT);
		}
		snprintf(p, sizeof(p), "%s/dwarf/old-0000.zc", dir);
		CHECK(access(p, F_OK) != 0);
		snprintf(p, sizeof(p), "%s/dwarf/old-%04d.zc", dir, DWARF_CACHE_ENTRIES_KEPT + 9);
		CHECK(access(p, F_OK) == 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/*
 * Through elf_file, which decides what is kept: a copy of libc's debug file on a block device
 * gets an entry, the same on tmpfs (an anonymous device number, as FUSE's and overlayfs's,
 * which the next mount may get) none.
 */
static size_t entries_after_lookups(const char *copy, const char *dir, uint64_t *addrs, size_t n)
{
	struct dwarf_cache_budget pending = { 0 };
	char sub[300];
	struct dirent *de;
	size_t entries = 0;
	int fd = open(copy, O_RDONLY);
	struct elf_file *f = fd >= 0 ? elf_file__read(fd) : NULL;
	DIR *d;

	CHECK(f != NULL);
	if (fd >= 0)
		close(fd);
	if (f) {
		elf_file__set_cache_dir(f, dir, &pending);
		for (size_t i = 0; i < n; i++) {
			Dwarf *dw;

			elf_file__dwarf_at(f, addrs[i], &dw);
		}
		elf_file__free(f);
	}
	snprintf(sub, sizeof(sub), "%s/dwarf", dir);
	d = opendir(sub);
	while (d && (de = readdir(d)))
		entries += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return entries;
}

static void test_cache_devices(const char *path)
{
	char dir[] = "/tmp/test-dwarf-dev.XXXXXX", cmd[1400], disk[300], shm[300];
	uint64_t addrs[64];
	size_t n = 0, on_disk, on_shm;
	struct mapped m;
	Dwarf *whole;
	Dwarf_Aranges *ar;
	size_t nar;

	CHECK(mkdtemp(dir) != NULL && map_file(path, &m));
	whole = m.elf ? dwarf_begin_elf(m.elf, DWARF_C_READ, NULL) : NULL;
	if (whole && !dwarf_getaranges(whole, &ar, &nar))
		for (size_t i = nar / 2; i < nar && n < 64; i += 1 + nar / 128) {
			Dwarf_Addr a;

			dwarf_getarangeinfo(dwarf_onearange(ar, i), &a, NULL, NULL);
			addrs[n++] = a;
		}
	if (whole)
		dwarf_end(whole);
	unmap_file(&m);
	snprintf(disk, sizeof(disk), "%s/libc.debug", dir);
	snprintf(shm, sizeof(shm), "/dev/shm/test-dwarf-dev-%d.debug", getpid());
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && cp '%s' '%s'", path, disk, path, shm);
	CHECK(n > 10 && system(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "%s/c1", dir);
	on_disk = entries_after_lookups(disk, cmd, addrs, n);
	snprintf(cmd, sizeof(cmd), "%s/c2", dir);
	on_shm = entries_after_lookups(shm, cmd, addrs, n);
	printf("cache: %zu entries for the copy on disk, %zu for the one on tmpfs\n", on_disk,
	       on_shm);
	CHECK_INT(on_disk, 1);
	CHECK_INT(on_shm, 0);
	unlink(shm);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* A unit whose bytes are damaged is refused, and the file's other units still answer. */
static void test_corrupt(const char *path)
{
	struct mapped m;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *copy;
	size_t shstrndx, opened = 0, refused = 0;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	CHECK(fd >= 0 && !fstat(fd, &st));
	if (fd < 0)
		return;
	copy = malloc(st.st_size);
	CHECK(copy && read(fd, copy, st.st_size) == st.st_size);
	close(fd);
	if (!copy)
		return;
	/* every byte of .debug_info and .debug_abbrev in turn set to 0xff, one at a time */
	m.elf = elf_memory((char *)copy, st.st_size);
	elf_getshdrstrndx(m.elf, &shstrndx);
	while ((scn = elf_nextscn(m.elf, scn))) {
		const char *name;
		size_t off, n;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(m.elf, shstrndx, sh.sh_name)))
			continue;
		if (strcmp(name, ".debug_info") && strcmp(name, ".debug_abbrev"))
			continue;
		off = sh.sh_offset;
		n = sh.sh_size < 4096 ? sh.sh_size : 4096;
		for (size_t i = 0; i < n; i += 7) {
			unsigned char *img = malloc(st.st_size), save;
			Elf *e;
			struct dwarf_lazy *dl;
			int err;

			if (!img)
				break;
			memcpy(img, copy, st.st_size);
			save = img[off + i];
			img[off + i] = save ^ 0xff;
			e = elf_memory((char *)img, st.st_size);
			dl = e ? dwarf_lazy__open(e, NULL, &err) : NULL;
			/*
			 * the unit is read, its ELF built, libdw opened on it; what libdw then reads
			 * of a damaged unit is libdw's (fuzz_elf goes on into dwarf__frames(): libdw
			 * 0.188 leaks there on some damaged units, also reading the file whole)
			 */
			for (uint64_t a = 0x1000; dl && a < 0x3000; a += 3) {
				Dwarf *dw;
				int r = dwarf_lazy__at(dl, a, &dw);

				if (r == 0 && dw)
					opened++;
				else if (r)
					refused++;
			}
			dwarf_lazy__free(dl);
			if (e)
				elf_end(e);
			free(img);
		}
	}
	elf_end(m.elf);
	free(copy);
	/* reaching here is the test (no crash, no hang; ASan runs it too); both outcomes occur */
	printf("damaged units: %zu lookups answered, %zu refused\n", opened, refused);
	CHECK(opened > 0 && refused > 0);
}

/* ---- hostile files, built here ---- */

struct buf {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (!n)
		return;
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 4096;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	if (d)
		memcpy(b->p + b->n, d, n);
	else
		memset(b->p + b->n, 0, n);
	b->n += n;
}

static void put8(struct buf *b, unsigned int v)
{
	unsigned char c = (unsigned char)v;

	put(b, &c, 1);
}

static void put16(struct buf *b, uint16_t v)
{
	put(b, &v, 2);
}

static void put32(struct buf *b, uint32_t v)
{
	put(b, &v, 4);
}

static void put64(struct buf *b, uint64_t v)
{
	put(b, &v, 8);
}

struct sec {
	const char *name;
	struct buf data;
	bool compressed; /* data starts with its Elf64_Chdr */
};

/* An ELF64 relocatable file of those sections, in a memory file; its path in path. */
static int write_elf(struct sec *secs, size_t n, char *path, size_t size)
{
	int fd = memfd_create("hostile.debug", MFD_CLOEXEC);
	struct buf names = { 0 };
	size_t *name_off = calloc(n + 1, sizeof(*name_off));
	Elf64_Ehdr *eh;
	Elf *e;

	if (fd < 0 || !name_off)
		return -1;
	put8(&names, 0);
	for (size_t i = 0; i <= n; i++) {
		const char *name = i < n ? secs[i].name : ".shstrtab";

		name_off[i] = names.n;
		put(&names, name, strlen(name) + 1);
	}
	e = elf_begin(fd, ELF_C_WRITE, NULL);
	eh = e ? elf64_newehdr(e) : NULL;
	if (!eh)
		return -1;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_REL;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	for (size_t i = 0; i <= n; i++) {
		Elf_Scn *scn = elf_newscn(e);
		Elf_Data *d = elf_newdata(scn);
		Elf64_Shdr *sh = elf64_getshdr(scn);

		d->d_buf = i < n ? secs[i].data.p : names.p;
		d->d_size = i < n ? secs[i].data.n : names.n;
		d->d_type = i < n && secs[i].compressed ? ELF_T_CHDR : ELF_T_BYTE;
		d->d_align = i < n && secs[i].compressed ? 8 : 1;
		sh->sh_name = name_off[i];
		sh->sh_type = i < n ? SHT_PROGBITS : SHT_STRTAB;
		sh->sh_flags = i < n && secs[i].compressed ? SHF_COMPRESSED : 0;
		sh->sh_addralign = d->d_align;
		if (i == n)
			eh->e_shstrndx = (Elf64_Half)elf_ndxscn(scn);
	}
	if (elf_update(e, ELF_C_WRITE) < 0) {
		fprintf(stderr, "write_elf: %s\n", elf_errmsg(-1));
		return -1;
	}
	elf_end(e);
	free(names.p);
	free(name_off);
	snprintf(path, size, "/proc/self/fd/%d", fd);
	return fd;
}

static void chdr(struct buf *b, uint64_t size)
{
	Elf64_Chdr ch = { .ch_type = ELFCOMPRESS_ZLIB, .ch_size = size, .ch_addralign = 1 };

	put(b, &ch, sizeof(ch));
}

/* .debug_abbrev: code 1, a compile unit: name, stmt_list, low_pc, high_pc (a length) */
static void hostile_abbrev(struct buf *b)
{
	static const unsigned char a[] = { 1,
					   DW_TAG_compile_unit,
					   DW_CHILDREN_no,
					   DW_AT_name,
					   DW_FORM_string,
					   DW_AT_stmt_list,
					   DW_FORM_sec_offset,
					   DW_AT_low_pc,
					   DW_FORM_addr,
					   DW_AT_high_pc,
					   DW_FORM_data8,
					   0,
					   0,
					   0 };

	put(b, a, sizeof(a));
}

/* one DWARF 4 unit covering [lo, lo + len), its lines at stmt in .debug_line */
static void hostile_unit(struct buf *b, uint64_t lo, uint64_t len, uint32_t stmt)
{
	put32(b, 2 + 4 + 1 + 1 + 4 + 4 + 8 + 8);
	put16(b, 4);
	put32(b, 0);
	put8(b, 8);
	put8(b, 1);
	put(b, "u.c", 4);
	put32(b, stmt);
	put64(b, lo);
	put64(b, len);
}

/* one .debug_aranges set: the unit at unit_off covers [lo, lo + len) */
static void hostile_arange(struct buf *b, uint32_t unit_off, uint64_t lo, uint64_t len)
{
	put32(b, 2 + 4 + 1 + 1 + 4 + 16 + 16);
	put16(b, 2);
	put32(b, unit_off);
	put8(b, 8);
	put8(b, 0);
	put32(b, 0); /* the tuples start at 16 */
	put64(b, lo);
	put64(b, len);
	put64(b, 0);
	put64(b, 0);
}

/* a DWARF 4 line program of rows rows at one address (a row per byte) */
static void hostile_lines(struct buf *b, uint64_t addr, size_t rows)
{
	static const unsigned char head[] = { 1,   1,	1, (unsigned char)-5,
					      14,  13,	0, 1,
					      1,   1,	1, 0,
					      0,   0,	1, 0,
					      0,   1,	0, 'u',
					      '.', 'c', 0, 0,
					      0,   0,	0 };
	size_t at = b->n;

	put32(b, 0);
	put16(b, 4);
	put32(b, sizeof(head) - 6 + 6);
	put(b, head, sizeof(head));
	put8(b, 0), put8(b, 9), put8(b, DW_LNE_set_address), put64(b, addr);
	for (size_t i = 0; i < rows; i++)
		put8(b, DW_LNS_copy);
	put8(b, 0), put8(b, 1), put8(b, DW_LNE_end_sequence);
	{
		uint32_t len = (uint32_t)(b->n - at - 4);

		memcpy(b->p + at, &len, 4);
	}
}

static void zlib_section(struct buf *b, const struct buf *plain)
{
	uLongf n = compressBound(plain->n);
	size_t at;

	chdr(b, plain->n);
	at = b->n;
	put(b, NULL, n);
	CHECK(compress2(b->p + at, &n, plain->p, plain->n, 9) == Z_OK);
	b->n = at + n;
}

static struct dwarf_lazy *open_hostile(struct sec *secs, size_t n, struct mapped *m, int *err)
{
	char path[64];
	int fd = write_elf(secs, n, path, sizeof(path));
	struct dwarf_lazy *dl = NULL;

	CHECK(fd >= 0);
	for (size_t i = 0; i < n; i++)
		free(secs[i].data.p);
	*err = -1;
	if (fd >= 0 && map_file(path, m))
		dl = dwarf_lazy__open(m->elf, NULL, err);
	if (fd >= 0)
		close(fd);
	return dl;
}

/*
 * Many units naming one line program: each unit's libdw parses it. What is held stays in the
 * budget, counted by malloc itself, not by dwarf_lazy's own count; a program larger than
 * DWARF_LINE_PROGRAM_MAX is refused.
 */
static void test_shared_lines(void)
{
	enum { UNITS = 160, ROWS = 300000 };
	struct sec secs[4] = { { ".debug_info" },
			       { ".debug_abbrev" },
			       { ".debug_aranges" },
			       { ".debug_line", .compressed = true } };
	struct buf lines = { 0 };
	struct dwarf_lazy_stats st;
	struct dwarf_lazy *dl;
	struct mapped m;
	size_t before, peak = 0, answered = 0;
	int err, r;

	size_t second;

	hostile_lines(&lines, 0x1000, ROWS);
	second = lines.n;
	/* the last unit names a second program, past the limit */
	hostile_lines(&lines, 0x1000, DWARF_LINE_PROGRAM_MAX);
	hostile_abbrev(&secs[1].data);
	for (int i = 0; i < UNITS; i++) {
		hostile_arange(&secs[2].data, (uint32_t)secs[0].data.n, 0x1000 + i * 0x100, 0x100);
		hostile_unit(&secs[0].data, 0x1000 + i * 0x100, 0x100,
			     i == UNITS - 1 ? (uint32_t)second : 0);
	}
	zlib_section(&secs[3].data, &lines);
	free(lines.p);
	dl = open_hostile(secs, 4, &m, &err);
	CHECK_INT(err, 0);
	before = mallinfo2().uordblks;
	for (int i = 0; dl && i < UNITS; i++) {
		struct dwarf_frame f[4];
		Dwarf *dw = NULL;
		size_t used;

		r = dwarf_lazy__at(dl, 0x1000 + i * 0x100, &dw);
		if (i == UNITS - 1) {
			CHECK_INT(r, -EFBIG);
			continue;
		}
		CHECK_INT(r, 0);
		dwarf__frames(dw, 0x1000 + i * 0x100, f, 4);
		answered += dw != NULL;
		used = mallinfo2().uordblks - before;
		if (used > peak)
			peak = used;
	}
	if (dl) {
		dwarf_lazy__stats(dl, &st);
		printf("one line program of %d rows named by %d units: %zu answered, malloc'd at "
		       "most %zu KB (%zu KB counted)\n",
		       ROWS, UNITS, answered, peak >> 10, st.bytes >> 10);
	}
	CHECK_INT(answered, UNITS - 1);
	/* each unit's parse holds ~20 MB; all of them would be ~3 GB */
	CHECK(peak < (96u << 20));
	dwarf_lazy__free(dl);
	unmap_file(&m);
}

/* a deflate stream of one fixed-Huffman block: zeros bytes of zeros, then plain */
static void one_block(struct buf *b, uint64_t zeros, const struct buf *plain)
{
	uint64_t acc = 0, k = zeros / 258;
	int nbits = 0;

#define BITS(v, n)                                                                                 \
	do {                                                                                       \
		acc |= (uint64_t)(v) << nbits;                                                     \
		nbits += (n);                                                                      \
		while (nbits >= 8) {                                                               \
			put8(b, acc & 0xff);                                                       \
			acc >>= 8;                                                                 \
			nbits -= 8;                                                                \
		}                                                                                  \
	} while (0)
	/* Huffman codes go most significant bit first */
#define CODE(c, n)                                                                                 \
	do {                                                                                       \
		uint32_t r_ = 0;                                                                   \
		for (int i_ = 0; i_ < (n); i_++)                                                   \
			r_ = r_ << 1 | (((c) >> i_) & 1);                                          \
		BITS(r_, n);                                                                       \
	} while (0)
	put8(b, 0x78);
	put8(b, 0x01);
	BITS(1, 1); /* the last block */
	BITS(1, 2); /* fixed codes */
	CODE(0x30, 8); /* a literal 0, then copies of 258 at distance 1 */
	for (uint64_t i = 0; i < k; i++) {
		CODE(0xc0 + 285 - 280, 8);
		BITS(0, 5);
	}
	for (size_t i = 0; i < plain->n; i++) {
		if (plain->p[i] < 144)
			CODE(0x30 + plain->p[i], 8);
		else
			CODE(0x190 + plain->p[i] - 144, 9);
	}
	CODE(0, 7); /* end of block */
	if (nbits)
		BITS(0, 8 - nbits);
#undef CODE
#undef BITS
}

/*
 * .debug_info deflated as one block: no checkpoint can be made, so a unit before the last
 * read would be inflated from the start again each time. That is refused once, not repeated.
 */
static void test_one_block(void)
{
	enum { UNITS = 150 };
	const uint64_t zeros = 1 + 258ull * ((64u << 20) / 258 - 1);
	struct sec secs[3] = { { ".debug_info", .compressed = true },
			       { ".debug_abbrev" },
			       { ".debug_aranges" } };
	struct buf units = { 0 };
	struct dwarf_lazy_stats st;
	struct dwarf_lazy *dl;
	struct mapped m;
	size_t answered = 0, refused = 0;
	int err;

	hostile_abbrev(&secs[1].data);
	for (int i = 0; i < UNITS; i++) {
		hostile_arange(&secs[2].data, (uint32_t)(zeros + units.n), 0x1000 + i * 0x100,
			       0x100);
		hostile_unit(&units, 0x1000 + i * 0x100, 0x100, 0);
	}
	chdr(&secs[0].data, zeros + units.n);
	one_block(&secs[0].data, zeros, &units);
	free(units.p);
	dl = open_hostile(secs, 3, &m, &err);
	CHECK_INT(err, 0);
	/* the last unit first, then back towards the start */
	for (int i = UNITS - 1; dl && i >= 0; i--) {
		Dwarf *dw;
		int r = dwarf_lazy__at(dl, 0x1000 + i * 0x100, &dw);

		if (r == 0 && dw)
			answered++;
		else if (r == -EFBIG)
			refused++;
		else
			fprintf(stderr, "one block: unit %d: %d\n", i, r);
	}
	if (dl) {
		dwarf_lazy__stats(dl, &st);
		printf("one deflate block of %llu MB: %zu units answered, %zu refused, %llu MB "
		       "inflated\n",
		       (unsigned long long)(zeros >> 20), answered, refused,
		       (unsigned long long)(st.inflated >> 20));
		CHECK(st.inflated < 2 * zeros);
	}
	CHECK(answered >= 1);
	CHECK_INT(answered + refused, UNITS);
	dwarf_lazy__free(dl);
	unmap_file(&m);
}

/* Shared sections that would inflate past the budget all together: refused, not read whole. */
static void test_shared_budget(void)
{
	struct sec secs[6] = { { ".debug_info" },
			       { ".debug_abbrev" },
			       { ".debug_aranges" },
			       { ".debug_str", .compressed = true },
			       { ".debug_line_str", .compressed = true },
			       { ".debug_ranges", .compressed = true } };
	struct buf tiny = { 0 };
	struct dwarf_lazy *dl;
	struct mapped m;
	int err;

	hostile_abbrev(&secs[1].data);
	hostile_arange(&secs[2].data, 0, 0x1000, 0x100);
	hostile_unit(&secs[0].data, 0x1000, 0x100, 0);
	put(&tiny, NULL, 4096);
	for (int i = 3; i < 6; i++) {
		zlib_section(&secs[i].data, &tiny);
		/* each says 100 MB: less than the budget each, more all together */
		{
			uint64_t claim = 100u << 20;

			memcpy(secs[i].data.p + offsetof(Elf64_Chdr, ch_size), &claim, 8);
		}
	}
	free(tiny.p);
	dl = open_hostile(secs, 6, &m, &err);
	CHECK(dl == NULL);
	CHECK_INT(err, -EFBIG);
	dwarf_lazy__free(dl);
	unmap_file(&m);
}

/*
 * Without .debug_aranges libdw reads the file whole: a unit whose line program is too large
 * gets no DWARF (the other unit does), and sections that would inflate past 1 GB none at all.
 */
static void test_whole(void)
{
	/* type units: read whole (the lazy reader leaves them to libdw) */
	struct sec secs[5] = { { ".debug_info" },
			       { ".debug_abbrev" },
			       { ".debug_line" },
			       { ".debug_aranges" },
			       { ".debug_types" } };
	struct sec bomb[6] = { { ".debug_info" },  { ".debug_abbrev" },
			       { ".debug_line" },  { ".debug_aranges" },
			       { ".debug_types" }, { ".debug_str", .compressed = true } };
	struct buf tiny = { 0 };
	struct elf_file *f;
	char path[64];
	size_t second;
	Dwarf *dw;
	int fd;

	hostile_lines(&secs[2].data, 0x1000, 1000);
	second = secs[2].data.n;
	hostile_lines(&secs[2].data, 0x2000, DWARF_LINE_PROGRAM_MAX);
	hostile_abbrev(&secs[1].data);
	hostile_arange(&secs[3].data, 0, 0x1000, 0x100);
	hostile_unit(&secs[0].data, 0x1000, 0x100, 0);
	hostile_arange(&secs[3].data, (uint32_t)secs[0].data.n, 0x2000, 0x100);
	hostile_unit(&secs[0].data, 0x2000, 0x100, (uint32_t)second);
	put(&secs[4].data, NULL, 0);
	for (int i = 0; i < 5; i++) {
		put(&bomb[i].data, secs[i].data.p, secs[i].data.n);
		free(secs[i].data.p);
	}
	fd = write_elf(bomb, 5, path, sizeof(path));
	f = fd >= 0 ? elf_file__read(fd) : NULL;
	CHECK(f != NULL);
	if (f) {
		CHECK_INT(elf_file__dwarf_at(f, 0x1000, &dw), 0);
		CHECK(dw != NULL);
		CHECK_INT(elf_file__dwarf_at(f, 0x2000, &dw), -EFBIG);
		CHECK(dw == NULL);
		elf_file__free(f);
	}
	if (fd >= 0)
		close(fd);
	/* units of 400 thousand rows each: the file's budget (1 Mi rows) holds two of them */
	{
		struct sec many[5] = { { ".debug_info" },
				       { ".debug_abbrev" },
				       { ".debug_line" },
				       { ".debug_aranges" },
				       { ".debug_types" } };
		uint32_t at[4];

		for (int i = 0; i < 4; i++) {
			at[i] = (uint32_t)many[2].data.n;
			hostile_lines(&many[2].data, 0x1000 + i * 0x1000, 400000);
		}
		hostile_abbrev(&many[1].data);
		for (int i = 0; i < 4; i++) {
			hostile_arange(&many[3].data, (uint32_t)many[0].data.n, 0x1000 + i * 0x1000,
				       0x100);
			hostile_unit(&many[0].data, 0x1000 + i * 0x1000, 0x100, at[i]);
		}
		fd = write_elf(many, 5, path, sizeof(path));
		for (int i = 0; i < 5; i++)
			free(many[i].data.p);
		f = fd >= 0 ? elf_file__read(fd) : NULL;
		CHECK(f != NULL);
		for (int i = 0; f && i < 4; i++) {
			int r = elf_file__dwarf_at(f, 0x1000 + i * 0x1000, &dw);

			CHECK_INT(r, i < 2 ? 0 : -EFBIG);
			/* asked again: the same answer, nothing parsed twice */
			CHECK_INT(elf_file__dwarf_at(f, 0x1000 + i * 0x1000, &dw), r);
		}
		if (f)
			elf_file__free(f);
		if (fd >= 0)
			close(fd);
	}
	/* the same, and a string section whose header says 2 GB */
	put(&tiny, NULL, 4096);
	zlib_section(&bomb[5].data, &tiny);
	{
		uint64_t claim = 2ull << 30;

		memcpy(bomb[5].data.p + offsetof(Elf64_Chdr, ch_size), &claim, 8);
	}
	free(tiny.p);
	fd = write_elf(bomb, 6, path, sizeof(path));
	for (int i = 0; i < 6; i++)
		free(bomb[i].data.p);
	f = fd >= 0 ? elf_file__read(fd) : NULL;
	CHECK(f != NULL);
	if (f) {
		CHECK_INT(elf_file__dwarf_at(f, 0x1000, &dw), -EFBIG);
		elf_file__free(f);
	}
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	char libc[256];

	elf_version(EV_CURRENT);
	for (int i = 1; i < argc; i++)
		CHECK(compare(argv[i], 100000, false) > 10);
	if (libc_debug(libc, sizeof(libc))) {
		test_libc(libc);
		test_cache(libc);
		test_cache_devices(libc);
	} else if (getenv("CI"))
		CHECK(!"libc6-dbg's debug file for this libc is missing");
	else
		printf("libc6-dbg not installed: the large-file checks did not run\n");
	if (argc > 1)
		test_corrupt(argv[1]);
	test_shared_lines();
	test_one_block();
	test_shared_budget();
	test_whole();
	return check_done("dwarf_lazy");
}
