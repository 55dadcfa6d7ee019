/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The demo's shared library (libscorch-demo.so), also called from demo.py through ctypes. */
#ifndef SCORCH_DEMO_H
#define SCORCH_DEMO_H

#include <stddef.h>
#include <stdint.h>

uint32_t demo_checksum(const unsigned char *buf, size_t len);
void demo_sort(uint32_t *keys, size_t n);

#endif
