// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness: Go's function table (.gopclntab) as a Go binary brings it, opened and
 * asked for functions, frame sizes and lines at addresses across the start of its text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gopclntab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gopclntab *t;
	uint64_t probe = 0;
	/* the table is read in place: a copy of its exact size catches reads past its end */
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (gopclntab__open(copy, size, 0x401000, &t) == 0) {
		if (size >= 8)
			memcpy(&probe, data + size - 8, 8);
		for (uint64_t i = 0; i <= 256; i++) {
			uint64_t a = i < 256 ? 0x401000 + i * 3 : probe;
			struct go_func fn;
			const char *file;
			int32_t v, line;

			if (gopclntab__func(t, a, &fn))
				continue;
			gopclntab__sp_delta(t, &fn, a, &v);
			gopclntab__sp_delta(t, &fn, fn.end - 1, &v);
			gopclntab__line(t, &fn, a, &file, &line);
			gopclntab__line(t, &fn, fn.entry, &file, &line);
		}
		gopclntab__free(t);
	}
	free(copy);
	return 0;
}
