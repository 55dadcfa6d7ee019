// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * DWARF a unit at a time (dwarf_lazy.c) answers as libdw does with the file opened whole:
 * for addresses across every range of .debug_aranges, the same functions, inlined frames,
 * files and lines. On libc's separate debug file (zlib-compressed, 5.8 MB of .debug_info) the
 * checkpoints keep each unit's read short and the memory held far below the inflated
 * sections; more units than are kept at once are dropped and read again correctly. A corrupt
 * unit is refused, never crashes.
 * Usage: test_dwarf_lazy FILE... (files with DWARF); libc's debug file is found by build-id
 * (required with CI=true: scripts install libc6-dbg).
 */
#include "check.h"
#include "dwarf_frames.h"
#include "dwarf_lazy.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Compare the two readers at up to max addresses spread over every arange; frames compared. */
static size_t compare(const char *path, size_t max, bool scramble)
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
		dl = dwarf_lazy__open(lazy_m.elf, &err);
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
		printf("%s: %zu frames agree; %llu units opened, %llu bytes inflated, %zu held\n",
		       path, frames, (unsigned long long)st.opened, (unsigned long long)st.inflated,
		       st.bytes);
	}
out:
	dwarf_lazy__free(dl);
	if (whole)
		dwarf_end(whole);
	unmap_file(&whole_m);
	unmap_file(&lazy_m);
	return frames;
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
		dl = dwarf_lazy__open(m.elf, &err);
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
			/* held: shared sections and checkpoints, far less than libdw inflates */
			printf("libc: the debug sections inflated would be %llu bytes\n",
			       (unsigned long long)all_size);
			CHECK(st.bytes < all_size / 2);
		}
		if (whole)
			dwarf_end(whole);
		unmap_file(&w);
	}
	dwarf_lazy__free(dl);
	unmap_file(&m);
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
			dl = e ? dwarf_lazy__open(e, &err) : NULL;
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

int main(int argc, char **argv)
{
	char libc[256];

	elf_version(EV_CURRENT);
	for (int i = 1; i < argc; i++)
		CHECK(compare(argv[i], 100000, false) > 10);
	if (libc_debug(libc, sizeof(libc)))
		test_libc(libc);
	else if (getenv("CI"))
		CHECK(!"libc6-dbg's debug file for this libc is missing");
	else
		printf("libc6-dbg not installed: the large-file checks did not run\n");
	if (argc > 1)
		test_corrupt(argv[1]);
	return check_done("dwarf_lazy");
}
