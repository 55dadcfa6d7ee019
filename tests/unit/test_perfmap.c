// SPDX-License-Identifier: LGPL-2.1-or-later
/* The perf map parser: lookups, malformed lines, code replaced at the same address. */
#include "check.h"
#include "perfmap.h"

static const char text[] = "7f0000001000 100 jit_first\n"
			   "7f0000002000 80 LazyCompile:*hot /app/x.js:10\n"
			   "not a line\n"
			   "7f0000003000 0 zero_size\n"
			   "7f0000004000 zz bad_size\n"
			   "7f0000005000 40\n"
			   "7f0000001000 100 jit_replaced\n"
			   "ffffffffffffff00 1000 wraps\n";

int main(void)
{
	FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
	struct perfmap *m = perfmap__parse(f);

	fclose(f);
	CHECK(m != NULL);
	if (!m)
		return check_done("test_perfmap");
	CHECK_INT(perfmap__count(m), 3);
	/* replaced code: the later line wins */
	CHECK_STR(perfmap__lookup(m, 0x7f0000001000ULL), "jit_replaced");
	CHECK_STR(perfmap__lookup(m, 0x7f00000010ffULL), "jit_replaced");
	CHECK(perfmap__lookup(m, 0x7f0000001100ULL) == NULL);
	/* names keep their spaces */
	CHECK_STR(perfmap__lookup(m, 0x7f0000002010ULL), "LazyCompile:*hot /app/x.js:10");
	CHECK(perfmap__lookup(m, 0x7f0000003000ULL) == NULL);
	CHECK(perfmap__lookup(m, 0x1000) == NULL);
	CHECK(perfmap__lookup(m, UINT64_MAX) == NULL);
	perfmap__free(m);
	perfmap__free(NULL);
	return check_done("test_perfmap");
}
