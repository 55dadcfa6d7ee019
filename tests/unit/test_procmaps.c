// SPDX-License-Identifier: LGPL-2.1-or-later
/* The /proc/PID/maps parser. */
#include "check.h"
#include "procmaps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char maps_text[] =
    "55d0c7a00000-55d0c7a02000 r--p 00000000 fe:01 1315178                    /usr/bin/cat\n"
    "55d0c7a02000-55d0c7a07000 r-xp 00002000 fe:01 1315178                    /usr/bin/cat\n"
    "7f3a1c000000-7f3a1c021000 rw-p 00000000 00:00 0 \n"
    "7f3a1c400000-7f3a1c428000 r-xp 00028000 103:02 2621510   /lib/x86_64-linux-gnu/libc.so.6\n"
    "7f3a1c600000-7f3a1c601000 r-xp 00000000 00:1a 42          /tmp/jit code (deleted)\n"
    "this line is not a mapping\n"
    "7ffd5b9fe000-7ffd5ba00000 r-xp 00000000 00:00 0                          [vdso]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
    "7000-6000 r-xp 00000000 00:00 0 [backwards]\n";

/*
 * PROCMAP_QUERY (6.11) gives the same executable mappings as the text, field by field, with a
 * deleted file's name as the text has it, but for the legacy [vsyscall] page (no mapping of
 * the process, and emulated: never sampled in user mode). Before 6.11 it says -ENOTTY.
 */
static void query_matches_text(void)
{
	char tmpl[] = "/tmp/test_procmaps.XXXXXX";
	struct procmap *q = NULL, *t = NULL;
	size_t nq = 0, nt = 0;
	int fd = mkstemp(tmpl), err, gone = 0;
	void *code = MAP_FAILED;
	FILE *f;

	/* an executable mapping of a file that is gone */
	CHECK(fd >= 0 && ftruncate(fd, 4096) == 0);
	if (fd >= 0) {
		code = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		close(fd);
		unlink(tmpl);
	}
	CHECK(code != MAP_FAILED);
	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	err = procmaps__query_exec(fd, &q, &nq);
	if (err == -ENOTTY) {
		printf("# PROCMAP_QUERY: not in this kernel (-ENOTTY), the text is read instead\n");
		close(fd);
		if (code != MAP_FAILED)
			munmap(code, 4096);
		return;
	}
	CHECK_INT(err, 0);
	f = fdopen(fd, "re");
	CHECK(f && procmaps__parse_exec(f, &t, &nt, NULL) == 0);
	if (f)
		fclose(f);
	/* the one the query never gives: the vsyscall page is no mapping of the process */
	if (nt && !strcmp(t[nt - 1].path, "[vsyscall]"))
		free(t[--nt].path);
	CHECK(nq > 2);
	CHECK_INT(nq, nt);
	for (size_t i = 0; i < nq && i < nt; i++) {
		CHECK_INT(q[i].start, t[i].start);
		CHECK_INT(q[i].end, t[i].end);
		CHECK_INT(q[i].offset, t[i].offset);
		CHECK_INT(q[i].inode, t[i].inode);
		CHECK_INT(q[i].dev_major, t[i].dev_major);
		CHECK_INT(q[i].dev_minor, t[i].dev_minor);
		CHECK_STR(q[i].perms, t[i].perms);
		CHECK_STR(q[i].path, t[i].path);
		CHECK_INT(q[i].deleted, t[i].deleted);
		if (q[i].start == (uint64_t)(uintptr_t)code) {
			gone++;
			CHECK(q[i].deleted);
			CHECK_STR(q[i].path, tmpl);
		}
	}
	CHECK_INT(gone, 1);
	procmaps__free(q, nq);
	procmaps__free(t, nt);
	if (code != MAP_FAILED)
		munmap(code, 4096);
}

/*
 * The mapping that holds an address: this thread's stack (the kernel's query, or the text
 * before 6.11) as the text of /proc/self/maps says it, and the same answers from the text of a
 * file (a regular file refuses the ioctl: the text path is taken); nothing at address 0.
 */
static void find_address(void)
{
	char tmpl[] = "/tmp/test_procmaps.XXXXXX";
	uint64_t lo = 0, hi = 0, tlo = 0, thi = 0, here = (uint64_t)(uintptr_t)&lo;
	struct procmap *t = NULL;
	size_t nt = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), tfd;
	FILE *f = fopen("/proc/self/maps", "re");

	CHECK(fd >= 0 && f);
	if (fd < 0 || !f)
		return;
	CHECK(procmaps__parse(f, &t, &nt, NULL) == 0);
	fclose(f);
	for (size_t i = 0; i < nt; i++)
		if (here >= t[i].start && here < t[i].end) {
			tlo = t[i].start;
			thi = t[i].end;
		}
	procmaps__free(t, nt);
	CHECK(tlo < thi);
	CHECK_INT(procmaps__find(fd, here, &lo, &hi), 0);
	CHECK_INT(lo, tlo);
	CHECK_INT(hi, thi);
	CHECK_INT(procmaps__find(fd, 0, &lo, &hi), -ENOENT);
	close(fd);

	tfd = mkstemp(tmpl);
	CHECK(tfd >= 0);
	if (tfd < 0)
		return;
	unlink(tmpl);
	CHECK(write(tfd, maps_text, sizeof(maps_text) - 1) == (ssize_t)sizeof(maps_text) - 1);
	CHECK(lseek(tfd, 0, SEEK_SET) == 0);
	CHECK_INT(procmaps__find(tfd, 0x7f3a1c000800ULL, &lo, &hi), 0);
	CHECK_INT(lo, 0x7f3a1c000000ULL);
	CHECK_INT(hi, 0x7f3a1c021000ULL);
	CHECK(lseek(tfd, 0, SEEK_SET) == 0);
	/* the end is not in it, and the malformed lines hold nothing */
	CHECK_INT(procmaps__find(tfd, 0x7f3a1c021000ULL, &lo, &hi), -ENOENT);
	close(tfd);
}

int main(void)
{
	FILE *f = fmemopen((void *)maps_text, sizeof(maps_text) - 1, "r");
	struct procmap *m = NULL;
	size_t n = 0, bad = 0;

	find_address();
	CHECK_INT(procmaps__parse(f, &m, &n, &bad), 0);
	fclose(f);
	CHECK_INT(n, 7);
	CHECK_INT(bad, 2);
	if (n == 7) {
		CHECK_INT(m[0].start, 0x55d0c7a00000ULL);
		CHECK_INT(m[1].offset, 0x2000);
		CHECK(procmap__is_exec(&m[1]) && !procmap__is_exec(&m[0]));
		CHECK_STR(m[1].path, "/usr/bin/cat");
		CHECK_INT(m[1].inode, 1315178);
		CHECK_INT(m[1].dev_major, 0xfe);
		CHECK_STR(m[2].path, "");
		CHECK_INT(m[3].dev_major, 0x103);
		CHECK_STR(m[3].path, "/lib/x86_64-linux-gnu/libc.so.6");
		CHECK_STR(m[4].path, "/tmp/jit code");
		CHECK(m[4].deleted);
		CHECK_STR(m[5].path, "[vdso]");
		CHECK_INT(m[6].end, 0xffffffffff601000ULL);
	}
	procmaps__free(m, n);

	/* executable lines only: the others skipped, the bad executable one still counted */
	f = fmemopen((void *)maps_text, sizeof(maps_text) - 1, "r");
	CHECK_INT(procmaps__parse_exec(f, &m, &n, &bad), 0);
	fclose(f);
	CHECK_INT(n, 5);
	CHECK_INT(bad, 1);
	if (n == 5) {
		CHECK_STR(m[0].path, "/usr/bin/cat");
		CHECK_STR(m[1].path, "/lib/x86_64-linux-gnu/libc.so.6");
		CHECK_STR(m[2].path, "/tmp/jit code");
		CHECK(m[2].deleted);
		CHECK_STR(m[4].path, "[vsyscall]");
		for (size_t i = 0; i < n; i++)
			CHECK(procmap__is_exec(&m[i]));
	}
	procmaps__free(m, n);

	/* the real thing: this process's own maps contain this test binary, executable */
	f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	if (f) {
		bool found = false;

		CHECK_INT(procmaps__parse(f, &m, &n, &bad), 0);
		fclose(f);
		CHECK_INT(bad, 0);
		for (size_t i = 0; i < n; i++) {
			uint64_t pc = (uint64_t)(uintptr_t)&main;

			if (pc >= m[i].start && pc < m[i].end && procmap__is_exec(&m[i]))
				found = true;
		}
		CHECK(found);
		procmaps__free(m, n);
	}
	query_matches_text();
	return check_done("test_procmaps");
}
