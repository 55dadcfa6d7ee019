/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Output files written whole or not at all: a temporary file beside the target, then rename. */
#ifndef SCORCH_OUTPUT_H
#define SCORCH_OUTPUT_H

#include <stdbool.h>

#include "fileio.h"

struct profile;

enum output_format {
	OUTPUT_PPROF,
	OUTPUT_FOLDED,
};

struct output {
	struct atomic_file file;
};

/* Create the temporary file now, so an unwritable path fails before any work. 0 or -errno. */
int output__open(struct output *o, const char *path);
/*
 * Write the profile, fsync, rename over the target. On failure the temporary file is removed.
 * Folded stacks start with the process name unless fo says otherwise (NULL: they do).
 */
struct folded_opts;
int output__commit(struct output *o, const struct profile *p, enum output_format fmt,
		   const struct folded_opts *fo);
/* Remove the temporary file (safe after commit, and on a zeroed struct). */
void output__abort(struct output *o);

int parse_output_format(const char *s, enum output_format *ret);

#endif
