/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What flame and diff share: the graph's options, and writing it. */
#ifndef SCORCH_GRAPH_H
#define SCORCH_GRAPH_H

#include <stdbool.h>

#include "model.h"
#include "svg.h"
#include "tree.h"

/* Options shared by flame and diff for the graph. */
struct graph_args {
	const char *output;
	const char *title;
	unsigned int width;
	bool inverted;
	const char *sample_index; /* --sample-index, or NULL: the profile's default */
	struct folded_opts root; /* the process as the first frame (when samples name it) */
};

/* --width: pixels, 200 to 100000; says why not. 0 or -EINVAL. */
int parse_width(const char *s, unsigned int *ret);
/* The SVG written atomically: a reader never sees half a graph. 0 or -errno. */
int write_svg(const struct ftree *t, const struct svg_opts *o, const char *path);

#endif
