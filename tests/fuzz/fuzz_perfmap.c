// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer harness: the perf map (JIT symbols) parser and lookups. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "perfmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f;
	struct perfmap *m;
	uint64_t probe = 0;

	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	m = perfmap__parse(f, 1u << 20);
	fclose(f);
	if (!m)
		return 0;
	memcpy(&probe, data, size < sizeof(probe) ? size : sizeof(probe));
	perfmap__lookup(m, probe);
	perfmap__lookup(m, 0x7f0000001000ULL);
	perfmap__free(m);
	return 0;
}
