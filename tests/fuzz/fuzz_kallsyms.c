// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer harness: the kallsyms text parser, the saved (cache) form, and lookups. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kallsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f;
	struct kallsyms *k;
	struct ksym s;
	uint64_t lo, hi, probe = 0;

	if (!size)
		return 0;
	/* the cache file's form, under the key the seed was saved with */
	k = kallsyms__from_saved(data, size, "fuzz");
	if (k) {
		kallsyms__lookup(k, 0xffffffff81000100ULL, &s);
		kallsyms__core_text(k, &lo, &hi);
		kallsyms__free(k);
	}
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	k = kallsyms__parse(f);
	fclose(f);
	if (!k)
		return 0;
	memcpy(&probe, data, size < sizeof(probe) ? size : sizeof(probe));
	kallsyms__lookup(k, probe, &s);
	kallsyms__lookup(k, ~probe, &s);
	kallsyms__lookup(k, 0xffffffff81000000ULL, &s);
	kallsyms__module_range(k, "", &lo, &hi);
	kallsyms__free(k);
	return 0;
}
