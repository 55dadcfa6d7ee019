// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer harness: the /proc/PID/maps parser. */
#include <stdint.h>
#include <stdio.h>

#include "procmaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fmemopen((void *)data, size, "r");
	struct procmap *m = NULL;
	size_t n = 0, bad = 0;

	if (!size || !f) {
		if (f)
			fclose(f);
		return 0;
	}
	if (procmaps__parse(f, &m, &n, &bad) == 0)
		procmaps__free(m, n);
	fclose(f);
	return 0;
}
