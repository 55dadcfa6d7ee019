// SPDX-License-Identifier: LGPL-2.1-or-later
/* The kallsyms parser and lookup. */
#include "check.h"
#include "kallsyms.h"

#include <errno.h>
#include <stdlib.h>

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
	return check_done("test_kallsyms");
}
