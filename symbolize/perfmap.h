/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JIT symbols from perf maps: /tmp/perf-PID.map, lines "START SIZE NAME" in hex. */
#ifndef SCORCH_PERFMAP_H
#define SCORCH_PERFMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct perfmap;

/* Parse a perf map; malformed lines are skipped. NULL with errno set (ENOMEM, E2BIG). */
struct perfmap *perfmap__parse(FILE *f);
void perfmap__free(struct perfmap *m);
size_t perfmap__count(const struct perfmap *m);
/* The symbol covering addr (the latest one when JITs reuse memory); NULL when none. */
const char *perfmap__lookup(const struct perfmap *m, uint64_t addr);

#endif
