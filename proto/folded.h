/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Folded stacks ("root;caller;leaf COUNT" per line, as flamegraph.pl, perf script tools and
 * `scorch record --format folded` write them) read into the profile model, and the reader of
 * any profile file: pprof (gzip or raw) or folded (plain or gzip).
 */
#ifndef SCORCH_FOLDED_H
#define SCORCH_FOLDED_H

#include "model.h"

/* Names of the two mappings folded frames can carry: kernel ("_[k]") and JIT ("_[j]"). */
#define FOLDED_KERNEL_MAPPING "[kernel.kallsyms]"
#define FOLDED_JIT_MAPPING "[jit]"

/*
 * Parse folded stacks: one sample per line, frames root first, value type samples/count.
 * Frames ending in "_[k]" become kernel frames, "_[j]" JIT frames (suffix removed). Blank lines
 * and lines starting with '#' are skipped. Returns 0, or a negative errno and a one-line reason
 * naming the line.
 */
int folded__parse(const char *buf, size_t len, struct profile **ret, char *err, size_t errlen);

/* Whether buf looks like text (folded stacks) rather than a binary protobuf. */
bool folded__looks_like_text(const void *buf, size_t len);

/* Any profile: gunzip if needed, then folded text or pprof. Same results as folded__parse. */
int profile__decode_any(const void *buf, size_t len, struct profile **ret, char *err,
			size_t errlen);
int profile__read_any(const char *path, struct profile **ret, char *err, size_t errlen);

#endif
