// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The demo's shared library: the work a service hands to native code. Built without frame
 * pointers, as distributions build libraries, so its frames come from the call frame
 * information.
 */
#include <stddef.h>
#include <stdint.h>

#include "demo.h"

/* A CRC-32 computed bit by bit: slow on purpose, so that it shows. */
static uint32_t crc32_bitwise(const unsigned char *p, size_t n, uint32_t crc)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

uint32_t demo_checksum(const unsigned char *buf, size_t len)
{
	return crc32_bitwise(buf, len, 0);
}

/* Insertion sort of n 32-bit keys: quadratic, the other hot spot. */
void demo_sort(uint32_t *keys, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint32_t k = keys[i];
		size_t j = i;

		while (j > 0 && keys[j - 1] > k) {
			keys[j] = keys[j - 1];
			j--;
		}
		keys[j] = k;
	}
}
