// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness: CPython line tables (3.10 pairs, 3.11+ location tables) asked for the
 * line of instructions across their span, and the code-object reader over a memory image
 * made of the same input, which also stands for a _PyRuntime (its interpreter checked) and a
 * 3.13 _Py_DebugOffsets. Input: a byte choosing the version, four of first line, the table.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "python.h"

#define BASE 0x10000ULL

struct image {
	const uint8_t *p;
	size_t n;
};

static int image_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct image *m = ctx;

	if (addr < BASE || addr - BASE > m->n || len > m->n - (addr - BASE))
		return -EFAULT;
	memcpy(buf, m->p + (addr - BASE), len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct py_layout *l;
	struct py_code_info info;
	struct image m;
	int32_t first;
	uint8_t *copy;
	size_t len;
	int line;

	if (size < 5)
		return 0;
	l = py_layout__for_version(3, 10 + data[0] % 4);
	memcpy(&first, data + 1, 4);
	len = size - 5;
	/* the table is read in place: a copy of its exact size catches reads past its end */
	copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 5, len);
	for (uint32_t unit = 0; unit < 2 * len + 8; unit++)
		py_line_for_offset(l->minor, copy, len, first & 0xffffff, unit, &line);
	py_line_for_offset(l->minor, copy, len, first, UINT32_MAX, &line);

	m.p = copy;
	m.n = len;
	if (py_code__read(l, image_read, &m, BASE, &info) == 0) {
		py_line_for_offset(l->minor, info.linetable, info.linetable_len, info.firstlineno,
				   0, &line);
		py_code_info__clear(&info);
	}
	py_runtime__check(l, image_read, &m, BASE);
	if (len >= PY_DEBUG_OFFSETS_SIZE) {
		struct py_layout out;

		py_layout__from_debug_offsets(py_layout__for_version(3, 13), copy, len,
					      (uint64_t)first, &out);
	}
	free(copy);
	return 0;
}
