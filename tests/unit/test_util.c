// SPDX-License-Identifier: LGPL-2.1-or-later
/* Checked parsers, the hash table, file helpers and the upper-bound search. */
#include "check.h"
#include "fileio.h"
#include "hashmap.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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
	/* Go's time.ParseDuration syntax */
	CHECK_INT(parse_duration_ns("1m30s", &ns), 0);
	CHECK_INT(ns, 90000000000ULL);
	CHECK_INT(parse_duration_ns("250ms", &ns), 0);
	CHECK_INT(ns, 250000000ULL);
	CHECK_INT(parse_duration_ns("1h", &ns), 0);
	CHECK_INT(ns, 3600000000000ULL);
	CHECK_INT(parse_duration_ns("1.5h", &ns), 0);
	CHECK_INT(ns, 5400000000000ULL);
	CHECK_INT(parse_duration_ns("2h45m10.5s", &ns), 0);
	CHECK_INT(ns, 9910500000000ULL);
	CHECK_INT(parse_duration_ns("10us", &ns), 0);
	CHECK_INT(ns, 10000ULL);
	CHECK_INT(parse_duration_ns("10\xc2\xb5s", &ns), 0);
	CHECK_INT(ns, 10000ULL);
	CHECK_INT(parse_duration_ns("3ns", &ns), 0);
	CHECK_INT(ns, 3ULL);
	CHECK_INT(parse_duration_ns("1m30", &ns), -EINVAL);
	CHECK_INT(parse_duration_ns("1.s", &ns), 0);
	CHECK_INT(ns, 1000000000ULL);
	CHECK_INT(parse_duration_ns(".s", &ns), -EINVAL);
	CHECK_INT(parse_duration_ns("1d", &ns), -EINVAL);
	CHECK_INT(parse_duration_ns("1e3s", &ns), -EINVAL);
	CHECK_INT(parse_duration_ns("100000000h", &ns), -ERANGE);
}

/* An element larger than its key, the key not first: the search must step by the size. */
struct ub_elem {
	uint32_t tag;
	uint64_t start;
};

static uint64_t ub_start(const void *e)
{
	return ((const struct ub_elem *)e)->start;
}

static size_t ub_linear(const struct ub_elem *a, size_t n, uint64_t key)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		count += a[i].start <= key;
	return count;
}

static void test_upper_bound(void)
{
	struct ub_elem a[] = { { 1, 10 }, { 2, 20 }, { 3, 20 }, { 4, 20 }, { 5, 30 } };
	struct ub_elem small[6];
	const size_t n = ARRAY_SIZE(a);
	unsigned int arrays = 0;

	CHECK_INT(upper_bound(NULL, 0, sizeof(a[0]), 5, ub_start), 0);
	CHECK_INT(upper_bound(a, n, sizeof(a[0]), 0, ub_start), 0);
	CHECK_INT(upper_bound(a, n, sizeof(a[0]), 9, ub_start), 0);
	CHECK_INT(upper_bound(a, n, sizeof(a[0]), 10, ub_start), 1);
	CHECK_INT(upper_bound(a, n, sizeof(a[0]), 19, ub_start), 1);
	/* equal keys: past the last of them, so that the entry before is the latest */
	CHECK_INT(upper_bound(a, n, sizeof(a[0]), 20, ub_start), 4);
	CHECK_INT(a[upper_bound(a, n, sizeof(a[0]), 25, ub_start) - 1].tag, 4);
	CHECK_INT(upper_bound(a, n, sizeof(a[0]), 30, ub_start), 5);
	CHECK_INT(upper_bound(a, n, sizeof(a[0]), UINT64_MAX, ub_start), 5);
	CHECK_INT(upper_bound(a, 1, sizeof(a[0]), 10, ub_start), 1);

	/* every non-decreasing array of up to 6 keys from 0..3 (as a base-4 counter), every key */
	for (size_t len = 0; len <= ARRAY_SIZE(small); len++) {
		unsigned int combos = 1;

		for (size_t i = 0; i < len; i++)
			combos *= 4;
		for (unsigned int c = 0; c < combos; c++) {
			unsigned int v = c;
			bool sorted = true;

			for (size_t i = 0; i < len; i++, v /= 4) {
				small[i] = (struct ub_elem){ (uint32_t)i, v % 4 };
				sorted = sorted && (!i || small[i - 1].start <= small[i].start);
			}
			if (!sorted)
				continue;
			arrays++;
			for (uint64_t key = 0; key <= 4; key++)
				CHECK_INT(upper_bound(small, len, sizeof(small[0]), key, ub_start),
					  ub_linear(small, len, key));
			CHECK_INT(upper_bound(small, len, sizeof(small[0]), UINT64_MAX, ub_start),
				  len);
		}
	}
	/* C(len + 3, 3) non-decreasing arrays of each length: 1 + 4 + 10 + 20 + 35 + 56 + 84 */
	CHECK_INT(arrays, 210);
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

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
	if (d)
		closedir(d);
	return n;
}

static void test_fileio(void)
{
	char dir[] = "/tmp/scorch-fileio.XXXXXX", path[128], sub[128], buf[16] = "";
	struct atomic_file a;
	struct stat st;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/out", dir);
	/* committed: the whole content under the final name, with the mode, nothing else */
	CHECK_INT(atomic_file__open(&a, path, 0640), 0);
	CHECK_INT(atomic_file__write(&a, "hello", 5), 0);
	CHECK(access(path, F_OK) != 0); /* not visible before the commit */
	CHECK_INT(atomic_file__commit(&a), 0);
	f = fopen(path, "r");
	CHECK(f && fread(buf, 1, sizeof(buf), f) == 5);
	if (f)
		fclose(f);
	CHECK_STR(buf, "hello");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	CHECK_INT(count_entries(dir), 1);
	/* aborted: the old content stays, no temporary file is left */
	CHECK_INT(atomic_file__open(&a, path, 0600), 0);
	CHECK_INT(atomic_file__write(&a, "partial", 7), 0);
	atomic_file__abort(&a);
	CHECK_INT(count_entries(dir), 1);
	CHECK(stat(path, &st) == 0 && st.st_size == 5);
	atomic_file__abort(&a); /* twice is harmless */
	snprintf(sub, sizeof(sub), "%s/missing/out", dir);
	CHECK_INT(atomic_file__open(&a, sub, 0600), -ENOENT);
	CHECK_INT(atomic_file__open(&a, dir, 0600), -EISDIR);

	/* private directories: created 0700; refused when others can write or it is a link */
	snprintf(sub, sizeof(sub), "%s/cache", dir);
	CHECK_INT(ensure_private_dir(sub), 0);
	CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0700);
	chmod(sub, 0777);
	CHECK_INT(ensure_private_dir(sub), -EPERM);
	snprintf(path, sizeof(path), "%s/link", dir);
	CHECK(symlink(sub, path) == 0);
	chmod(sub, 0700);
	CHECK_INT(ensure_private_dir(path), -EPERM);
	unlink(path);
	rmdir(sub);
	snprintf(path, sizeof(path), "%s/out", dir);
	unlink(path);
	CHECK(rmdir(dir) == 0);
}

/* The published FNV-1a 64 test vectors, and the word form as the BPF program computes it. */
static void test_fnv(void)
{
	uint64_t w[2] = { 0x1122334455667788ULL, 42 }, h;

	CHECK_INT(fnv1a64_bytes(FNV1A64_INIT, "", 0), 0xcbf29ce484222325ULL);
	CHECK_INT(fnv1a64_bytes(FNV1A64_INIT, "a", 1), 0xaf63dc4c8601ec8cULL);
	CHECK_INT(fnv1a64_bytes(FNV1A64_INIT, "foobar", 6), 0x85944171f73967e8ULL);
	/* in pieces as in one */
	CHECK_INT(fnv1a64_bytes(fnv1a64_bytes(FNV1A64_INIT, "foo", 3), "bar", 3),
		  0x85944171f73967e8ULL);
	h = (FNV1A64_INIT ^ w[0]) * 0x100000001b3ULL;
	h = (h ^ w[1]) * 0x100000001b3ULL;
	CHECK_INT(fnv1a64_words(FNV1A64_INIT, w, 2), h);
}

/* Values in their units, scaled as go tool pprof scales them. */
static void test_format_value(void)
{
	char b[48];

	CHECK_STR(format_value(8388608, "bytes", b, sizeof(b)), "8.00MB");
	CHECK_STR(format_value(1248, "bytes", b, sizeof(b)), "1.22kB");
	CHECK_STR(format_value(112, "bytes", b, sizeof(b)), "112B");
	CHECK_STR(format_value(-3.0 * (1 << 30), "bytes", b, sizeof(b)), "-3.00GB");
	CHECK_STR(format_value(1980000000, "nanoseconds", b, sizeof(b)), "1.98s");
	CHECK_STR(format_value(12500000, "nanoseconds", b, sizeof(b)), "12.50ms");
	CHECK_STR(format_value(1500, "nanoseconds", b, sizeof(b)), "1.50us");
	CHECK_STR(format_value(20, "milliseconds", b, sizeof(b)), "20.00ms");
	CHECK_STR(format_value(0, "nanoseconds", b, sizeof(b)), "0");
	CHECK_STR(format_value(2048, "count", b, sizeof(b)), "2048");
	CHECK_STR(format_value(2.5, "count", b, sizeof(b)), "2.50");
	CHECK_STR(format_value(7, "widgets", b, sizeof(b)), "7 widgets");
	CHECK_STR(format_value(7, NULL, b, sizeof(b)), "7");
}

/* Moments: RFC 3339 with zones and fractions, epoch seconds; no zone, no moment. */
static void test_parse_time(void)
{
	int64_t ns;

	CHECK_INT(parse_time_ns("2026-12-01T14:05:00Z", &ns), 0);
	CHECK(ns == 1796133900LL * 1000000000);
	CHECK_INT(parse_time_ns("2026-12-01 15:05:00.25+01:00", &ns), 0);
	CHECK(ns == 1796133900LL * 1000000000 + 250000000);
	CHECK_INT(parse_time_ns("2026-12-01T09:35:00-04:30", &ns), 0);
	CHECK(ns == 1796133900LL * 1000000000);
	CHECK_INT(parse_time_ns("1970-01-01T00:00:01.000000001Z", &ns), 0);
	CHECK(ns == 1000000001);
	CHECK_INT(parse_time_ns("@1796133900.5", &ns), 0);
	CHECK(ns == 1796133900500000000LL);
	CHECK_INT(parse_time_ns("2026-12-01T14:05:00", &ns), -EINVAL);
	CHECK_INT(parse_time_ns("2026-13-01T14:05:00Z", &ns), -EINVAL);
	CHECK_INT(parse_time_ns("2026-12-01T14:05Z", &ns), -EINVAL);
	CHECK_INT(parse_time_ns("2026-12-01T14:05:00Zx", &ns), -EINVAL);
	CHECK_INT(parse_time_ns("14:05", &ns), -EINVAL);
	CHECK_INT(parse_time_ns("@", &ns), -EINVAL);
	CHECK_INT(parse_time_ns("", &ns), -EINVAL);
}

int main(void)
{
	test_parse_time();
	test_format_value();
	test_parse_u64();
	test_fnv();
	test_parse_duration();
	test_hmap();
	test_upper_bound();
	test_fileio();
	return check_done("test_util");
}
