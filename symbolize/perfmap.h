/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JIT symbols from perf maps: /tmp/perf-PID.map, lines "START SIZE NAME" in hex. */
#ifndef SCORCH_PERFMAP_H
#define SCORCH_PERFMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct perfmap;

/*
 * Parse a perf map; malformed lines and lines of more than 4 KB are skipped. At most 64 MB of
 * the file are read, and at most max_memory bytes kept: past a bound the map holds what came
 * before it (perfmap__truncated()). NULL with errno set (ENOMEM).
 */
struct perfmap *perfmap__parse(FILE *f, size_t max_memory);
/* Bytes the parsed map holds. */
size_t perfmap__memory(const struct perfmap *m);
/* A bound (bytes read, memory, entries) cut the map short. */
bool perfmap__truncated(const struct perfmap *m);
/* Lines skipped for being too long. */
size_t perfmap__skipped(const struct perfmap *m);
void perfmap__free(struct perfmap *m);
size_t perfmap__count(const struct perfmap *m);
/* The symbol covering addr (the latest one when JITs reuse memory); NULL when none. */
const char *perfmap__lookup(const struct perfmap *m, uint64_t addr);

#endif
