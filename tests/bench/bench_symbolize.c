// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Symbolization throughput for one (large) binary: a fake /proc with one process that maps the
 * file's executable segment, N random pcs in it resolved through the symbolizer as a capture
 * does. Cold: a new symbolizer, so the file is opened and its symbols (and DWARF) read; warm:
 * the same pcs again. Prints pcs per second for both, and the process's peak RSS.
 * Usage: bench_symbolize FILE [N]
 */
#include "symbolizer.h"
#include "util.h"

#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAP_START 0x7f0000000000ULL

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* The first executable PT_LOAD: file offset, virtual address and size. */
static int exec_segment(const char *path, uint64_t *off, uint64_t *vaddr, uint64_t *size)
{
	int fd = open(path, O_RDONLY), r = -1;
	size_t n;
	Elf *elf;

	elf_version(EV_CURRENT);
	elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	for (size_t i = 0; elf && elf_getphdrnum(elf, &n) == 0 && i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
			/* maps start at a page boundary */
			*off = ph.p_offset & ~4095ULL;
			*vaddr = ph.p_vaddr - (ph.p_offset - *off);
			*size = ph.p_filesz + (ph.p_offset - *off);
			r = 0;
			break;
		}
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return r;
}

static int resolve_all(struct symbolizer *s, const uint64_t *pcs, size_t n, size_t *named)
{
	struct sym_frame f;

	*named = 0;
	for (size_t i = 0; i < n; i++)
		*named += symbolizer__resolve_user(s, 1, 1, pcs[i], &f) == 0;
	return 0;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/scorch-bench.XXXXXX", path[PATH_MAX], real[PATH_MAX];
	uint64_t off, vaddr, size, *pcs;
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000, named;
	struct symbolizer *s;
	struct rusage ru;
	struct stat st;
	double t0, t1, t2;
	FILE *f;

	if (argc < 2 || !realpath(argv[1], real) || stat(real, &st) ||
	    exec_segment(real, &off, &vaddr, &size) || !mkdtemp(dir)) {
		fprintf(stderr, "usage: bench_symbolize FILE [N]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/1", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/1/root", dir);
	if (symlink("/", path))
		return 1;
	snprintf(path, sizeof(path), "%s/1/maps", dir);
	f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "%" PRIx64 "-%" PRIx64 " r-xp %08" PRIx64 " 00:00 %lu %s\n", (uint64_t)MAP_START,
		(uint64_t)MAP_START + size, off, (unsigned long)st.st_ino, real);
	fclose(f);

	pcs = calloc(n, sizeof(*pcs));
	srand(1);
	for (size_t i = 0; i < n; i++)
		pcs[i] = MAP_START + ((uint64_t)rand() << 16 ^ rand()) % size;

	t0 = now();
	s = symbolizer__new(&(struct symbolizer_opts){ .proc_root = dir });
	if (!s || symbolizer__snapshot(s, 1, 1))
		return 1;
	resolve_all(s, pcs, n, &named);
	t1 = now();
	resolve_all(s, pcs, n, &named);
	t2 = now();
	getrusage(RUSAGE_SELF, &ru);
	printf("%s: %.1f MB, %zu pcs, %zu named\n", real, st.st_size / 1e6, n, named);
	printf("cold: %.0f pcs/s (%.3f s, reading the file included)\n", n / (t1 - t0), t1 - t0);
	printf("warm: %.0f pcs/s (%.3f s)\n", n / (t2 - t1), t2 - t1);
	printf("peak RSS %ld KB\n", ru.ru_maxrss);
	symbolizer__free(s);
	free(pcs);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	return system(path) != 0;
}
