// SPDX-License-Identifier: LGPL-2.1-or-later
/* Checked parsers and the hash table. */
#include "check.h"
#include "hashmap.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>

static void test_parse_u64(void)
{
	uint64_t v = 7;

	CHECK_INT(parse_u64("99", 10, 1, 10000, &v), 0);
	CHECK_INT(v, 99);
	CHECK_INT(parse_u64("0", 10, 1, 10000, &v), -ERANGE);
	CHECK_INT(parse_u64("10001", 10, 1, 10000, &v), -ERANGE);
	CHECK_INT(parse_u64("-5", 10, 0, 10, &v), -EINVAL);
	CHECK_INT(parse_u64("12abc", 10, 0, 100, &v), -EINVAL);
	CHECK_INT(parse_u64("", 10, 0, 100, &v), -EINVAL);
	CHECK_INT(parse_u64(" 5", 10, 0, 100, &v), -EINVAL);
	CHECK_INT(parse_u64("99999999999999999999999", 10, 0, UINT64_MAX, &v), -ERANGE);
}

static void test_parse_duration(void)
{
	uint64_t ns = 0;

	CHECK_INT(parse_duration_ns("10", &ns), 0);
	CHECK_INT(ns, 10000000000ULL);
	CHECK_INT(parse_duration_ns("2.5", &ns), 0);
	CHECK_INT(ns, 2500000000ULL);
	CHECK_INT(parse_duration_ns("500ms", &ns), 0);
	CHECK_INT(ns, 500000000ULL);
	CHECK_INT(parse_duration_ns("1m", &ns), 0);
	CHECK_INT(ns, 60000000000ULL);
	CHECK_INT(parse_duration_ns("-1", &ns), -EINVAL);
	CHECK_INT(parse_duration_ns("abc", &ns), -EINVAL);
	CHECK_INT(parse_duration_ns("10x", &ns), -EINVAL);
	CHECK_INT(parse_duration_ns("", &ns), -EINVAL);
	CHECK_INT(parse_duration_ns("1e300", &ns), -ERANGE);
}

static void test_hmap(void)
{
	struct hmap *h = hmap__new();
	size_t pos = 0, n = 0;
	const void *k;
	void *v;
	int i;

	for (i = 1; i <= 5000; i++)
		CHECK_INT(hmap__put(h, &i, sizeof(i), (void *)(uintptr_t)i), 0);
	CHECK_INT(hmap__count(h), 5000);
	for (i = 1; i <= 5000; i += 2)
		CHECK((uintptr_t)hmap__remove(h, &i, sizeof(i)) == (uintptr_t)i);
	CHECK_INT(hmap__count(h), 2500);
	/* after backward-shift deletion every remaining key is still found */
	for (i = 1; i <= 5000; i++) {
		void *got = hmap__get(h, &i, sizeof(i));

		if (i % 2)
			CHECK(got == NULL);
		else
			CHECK((uintptr_t)got == (uintptr_t)i);
	}
	while (hmap__next(h, &pos, &k, NULL, &v)) {
		CHECK(*(const int *)k == (int)(uintptr_t)v);
		n++;
	}
	CHECK_INT(n, 2500);
	CHECK(hmap__remove(h, "absent", 6) == NULL);
	hmap__free(h);
	hmap__free(NULL);
}

int main(void)
{
	test_parse_u64();
	test_parse_duration();
	test_hmap();
	return check_done("test_util");
}
