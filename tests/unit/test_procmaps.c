// SPDX-License-Identifier: LGPL-2.1-or-later
/* The /proc/PID/maps parser. */
#include "check.h"
#include "procmaps.h"

#include <stdlib.h>

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

int main(void)
{
	FILE *f = fmemopen((void *)maps_text, sizeof(maps_text) - 1, "r");
	struct procmap *m = NULL;
	size_t n = 0, bad = 0;

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
	return check_done("test_procmaps");
}
