// SPDX-License-Identifier: LGPL-2.1-or-later
/* The kallsyms parser and lookup. */
#include "check.h"
#include "kallsyms.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char text[] = "ffffffff81000000 T _text\n"
			   "ffffffff81000100 T startup_64\n"
			   "ffffffff81000200 t local_helper\n"
			   "ffffffff81000300 D some_data\n"
			   "ffffffff81000400 W weak_fn\n"
			   "garbage line\n"
			   "ffffffff81000500 T\n"
			   "ffffffffc0200000 t nft_do_chain\t[nf_tables]\n"
			   "ffffffffc0200100 t nft_lookup_eval\t[nf_tables]\n"
			   "ffffffffc0300000 t ext4_map_blocks\t[ext4]\n";

static bool above_core(uint64_t addr, void *ctx)
{
	return addr >= *(uint64_t *)ctx;
}

static const char hidden[] = "0000000000000000 T _text\n"
			     "0000000000000000 T startup_64\n";

static const char with_text[] = "ffffffff81000000 T _stext\n"
				"ffffffff81000100 T startup_64\n"
				"ffffffff81000800 T _etext\n"
				"ffffffffc0200000 t nft_do_chain\t[nf_tables]\n"
				"ffffffffc0200100 t nft_lookup_eval\t[nf_tables]\n"
				"ffffffffc0300000 t ext4_map_blocks\t[ext4]\n"
				"ffffffffc0300400 t ext4_writepages\t[ext4]\n";

/*
 * The saved form, mapped: the same answers as the parsed table, the modules' ranges from the
 * index made while checking it, the core text range from its header; damage refused.
 */
static void test_saved(void)
{
	FILE *f = fmemopen((void *)with_text, sizeof(with_text) - 1, "r");
	struct kallsyms *live = kallsyms__parse(f), *k;
	const char *mods[] = { "", "nf_tables", "ext4", "absent" };
	char path[] = "/tmp/test-kallsyms.XXXXXX";
	uint64_t lo, hi, lo2, hi2;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int fd;

	fclose(f);
	CHECK(live != NULL);
	fd = mkstemp(path);
	out = fdopen(fd, "w+");
	CHECK(out && kallsyms__save(live, "key", out) == 0);
	fflush(out);
	k = kallsyms__map_saved(fd, "key");
	CHECK(k != NULL);
	if (k) {
		struct ksym a, b;

		for (size_t i = 0; i < 4; i++) {
			int r = kallsyms__module_range(live, mods[i], &lo, &hi);

			CHECK_INT(kallsyms__module_range(k, mods[i], &lo2, &hi2), r);
			if (!r) {
				CHECK_INT(lo2, lo);
				CHECK_INT(hi2, hi);
			}
		}
		CHECK_INT(kallsyms__module_range(k, "ext4", &lo, &hi), 0);
		CHECK_INT(lo, 0xffffffffc0300000ULL);
		CHECK_INT(hi, 0xffffffffc0300401ULL);
		CHECK_INT(kallsyms__core_text(k, &lo, &hi), 0);
		CHECK_INT(lo, 0xffffffff81000000ULL);
		CHECK_INT(hi, 0xffffffff81000800ULL);
		CHECK_INT(kallsyms__lookup(k, 0xffffffffc0200180ULL, &a), 0);
		CHECK_INT(kallsyms__lookup(live, 0xffffffffc0200180ULL, &b), 0);
		CHECK_STR(a.name, b.name);
		CHECK_STR(a.module, "nf_tables");
		kallsyms__free(k);
	}
	CHECK(kallsyms__map_saved(fd, "other key") == NULL);
	/* the whole file, then damaged copies of it */
	fseek(out, 0, SEEK_END);
	len = (size_t)ftell(out);
	buf = malloc(len);
	CHECK(buf && pread(fd, buf, len, 0) == (ssize_t)len);
	if (buf) {
		char *bad = malloc(len);
		/* header: 8 magic, 8 version and key length, 128 key, 4 x 8 sizes and range */
		size_t entries = 8 + 8 + 128 + 32;

		k = kallsyms__from_saved(buf, len, "key");
		CHECK(k != NULL);
		kallsyms__free(k);
		/* the first entry's address above the second's: not sorted */
		memcpy(bad, buf, len);
		memset(bad + entries, 0xff, 8);
		CHECK(kallsyms__from_saved(bad, len, "key") == NULL);
		/* a name offset past the arena */
		memcpy(bad, buf, len);
		memset(bad + entries + 8, 0xff, 4);
		CHECK(kallsyms__from_saved(bad, len, "key") == NULL);
		/* a core range that ends before it starts */
		memcpy(bad, buf, len);
		memset(bad + entries - 8, 0, 8);
		memset(bad + entries - 16, 0xff, 8);
		CHECK(kallsyms__from_saved(bad, len, "key") == NULL);
		/* the older version, without the range */
		memcpy(bad, buf, len);
		bad[8] = 1;
		CHECK(kallsyms__from_saved(bad, len, "key") == NULL);
		free(bad);
	}
	free(buf);
	fclose(out);
	unlink(path);
	kallsyms__free(live);
}

/* A saved table of several pages: every lookup by the page index agrees with the parsed one. */
static void test_saved_runs(void)
{
	char path[] = "/tmp/test-kallsyms-runs.XXXXXX", *text = NULL;
	struct kallsyms *live, *k;
	size_t len = 0, bad = 0, looked = 0;
	FILE *f = open_memstream(&text, &len), *out;
	int fd;

	for (int i = 0; i < 2000; i++)
		fprintf(f, "%016llx T sym_%d%s\n", 0xffffffff81000000ULL + 0x40ULL * i + (i % 7), i,
			i >= 1500 ? "\t[mod_b]" : "");
	fclose(f);
	f = fmemopen(text, len, "r");
	live = kallsyms__parse(f);
	fclose(f);
	fd = mkstemp(path);
	out = fdopen(fd, "w+");
	CHECK(live && out && kallsyms__save(live, "key", out) == 0);
	fflush(out);
	k = kallsyms__map_saved(fd, "key");
	CHECK(k != NULL);
	for (uint64_t a = 0xffffffff80fffff0ULL; k && a < 0xffffffff81000000ULL + 0x40 * 2000 + 64;
	     a += 3) {
		struct ksym x, y;
		int rx = kallsyms__lookup(live, a, &x), ry = kallsyms__lookup(k, a, &y);

		looked++;
		if (rx != ry || (!rx && (x.addr != y.addr || strcmp(x.name, y.name) ||
					 strcmp(x.module, y.module))))
			bad++;
	}
	printf("saved table of 2000 symbols: %zu lookups, %zu differ\n", looked, bad);
	CHECK(looked > 40000);
	CHECK_INT(bad, 0);
	kallsyms__free(k);
	kallsyms__free(live);
	fclose(out);
	unlink(path);
	free(text);
}

int main(void)
{
	FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
	struct kallsyms *k = kallsyms__parse(f);
	struct ksym s;
	uint64_t lo, hi;

	fclose(f);
	CHECK(k != NULL);
	if (!k)
		return check_done("test_kallsyms");
	CHECK_INT(kallsyms__count(k), 7); /* data symbols and malformed lines are skipped */
	CHECK_INT(kallsyms__lookup(k, 0xffffffff81000150ULL, &s), 0);
	CHECK_STR(s.name, "startup_64");
	CHECK_STR(s.module, "");
	CHECK_INT(kallsyms__lookup(k, 0xffffffff81000350ULL, &s), 0);
	CHECK_STR(s.name, "local_helper"); /* the data symbol does not end the function */
	CHECK_INT(kallsyms__lookup(k, 0xffffffff81000400ULL, &s), 0);
	CHECK_STR(s.name, "weak_fn");
	CHECK_INT(kallsyms__lookup(k, 0xffffffffc0200180ULL, &s), 0);
	CHECK_STR(s.name, "nft_lookup_eval");
	CHECK_STR(s.module, "nf_tables");
	CHECK_INT(kallsyms__lookup(k, 0xffffffffc0300010ULL, &s), 0);
	CHECK_STR(s.module, "ext4");
	CHECK_INT(kallsyms__lookup(k, 0xfffffffe00000000ULL, &s), -ENOENT);
	CHECK_INT(kallsyms__module_range(k, "nf_tables", &lo, &hi), 0);
	CHECK_INT(lo, 0xffffffffc0200000ULL);
	CHECK_INT(hi, 0xffffffffc0200101ULL);
	CHECK_INT(kallsyms__module_range(k, "absent", &lo, &hi), -ENOENT);
	kallsyms__free(k);

	/* filtered: only what the filter keeps is held */
	f = fmemopen((void *)text, sizeof(text) - 1, "r");
	lo = 0xffffffffc0000000ULL;
	k = kallsyms__parse_filtered(f, above_core, &lo);
	fclose(f);
	CHECK(k != NULL);
	if (k) {
		CHECK_INT(kallsyms__count(k), 3);
		CHECK_INT(kallsyms__lookup(k, 0xffffffffc0200180ULL, &s), 0);
		CHECK_STR(s.name, "nft_lookup_eval");
		CHECK_INT(kallsyms__lookup(k, 0xffffffff81000150ULL, &s), -ENOENT);
		kallsyms__free(k);
	}

	f = fmemopen((void *)hidden, sizeof(hidden) - 1, "r");
	errno = 0;
	CHECK(kallsyms__parse(f) == NULL);
	CHECK_INT(errno, EPERM);
	fclose(f);
	test_saved();
	test_saved_runs();
	return check_done("test_kallsyms");
}
