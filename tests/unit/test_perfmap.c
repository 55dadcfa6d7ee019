// SPDX-License-Identifier: LGPL-2.1-or-later
/* The perf map parser: lookups, malformed lines, code replaced at the same address. */
#include "check.h"
#include "perfmap.h"

#include <stdlib.h>
#include <unistd.h>

static const char text[] = "7f0000001000 100 jit_first\n"
			   "7f0000002000 80 LazyCompile:*hot /app/x.js:10\n"
			   "not a line\n"
			   "7f0000003000 0 zero_size\n"
			   "7f0000004000 zz bad_size\n"
			   "7f0000005000 40\n"
			   "7f0000001000 100 jit_replaced\n"
			   "ffffffffffffff00 1000 wraps\n";

/* A line longer than 4 KB is skipped whole; the lines around it are kept. */
static void long_line(void)
{
	size_t len = 3 * 4096;
	char *text = malloc(len + 64);
	struct perfmap *m;
	FILE *f;

	strcpy(text, "1000 10 before\n2000 10 ");
	memset(text + strlen(text), 'x', len);
	strcpy(text + strlen("1000 10 before\n2000 10 ") + len, "\n3000 10 after");
	f = fmemopen(text, strlen(text), "r");
	m = perfmap__parse(f, 1u << 20);
	fclose(f);
	CHECK(m != NULL);
	if (m) {
		CHECK_INT(perfmap__count(m), 2);
		CHECK_INT(perfmap__skipped(m), 1);
		CHECK_STR(perfmap__lookup(m, 0x1000), "before");
		CHECK(perfmap__lookup(m, 0x2000) == NULL);
		/* the last line, without a newline, counts */
		CHECK_STR(perfmap__lookup(m, 0x3005), "after");
	}
	perfmap__free(m);
	free(text);
}

/*
 * The memory bound keeps the first lines; a file with no newline at all (what made getline()
 * take a gigabyte) is read no further than the read bound and costs no more than a line.
 */
static void bounds(void)
{
	char line[64];
	struct perfmap *m;
	size_t kept;
	FILE *f;

	long_line();
	f = tmpfile();
	for (int i = 0; i < 100000; i++) {
		snprintf(line, sizeof(line), "%x 10 function_number_%d\n", 0x100000 + i * 16, i);
		fputs(line, f);
	}
	rewind(f);
	m = perfmap__parse(f, 64 << 10);
	CHECK(m != NULL);
	if (m) {
		kept = perfmap__count(m);
		CHECK(perfmap__truncated(m));
		CHECK(kept > 100 && kept < 100000);
		CHECK(perfmap__memory(m) <= 64 << 10);
		CHECK_STR(perfmap__lookup(m, 0x100000), "function_number_0");
	}
	perfmap__free(m);
	fclose(f);

	/* 80 MB without a newline, sparse: the parser stops at 64 MB and keeps nothing */
	f = tmpfile();
	CHECK(f && ftruncate(fileno(f), 80 << 20) == 0);
	m = perfmap__parse(f, 1u << 20);
	CHECK(m != NULL);
	if (m) {
		CHECK_INT(perfmap__count(m), 0);
		CHECK(perfmap__truncated(m));
		CHECK(perfmap__memory(m) < 4096);
	}
	perfmap__free(m);
	fclose(f);
}

int main(void)
{
	FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
	struct perfmap *m = perfmap__parse(f, 1u << 20);

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
	CHECK(!perfmap__truncated(m));
	perfmap__free(m);
	perfmap__free(NULL);
	bounds();
	return check_done("test_perfmap");
}
