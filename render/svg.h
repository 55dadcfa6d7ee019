/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Flame graphs as one self-contained interactive SVG: frame width by samples, a tooltip and a
 * details line on hover, click to zoom (Reset Zoom or Escape to undo), a regular-expression
 * search (the Search button, Ctrl-F, or ?s=REGEX in the URL) that highlights matching frames
 * and shows their share, colors by kind (native user, kernel, JIT/unknown). Differential graphs
 * color each frame by the change of its share: red grew, blue shrank, grey when the change is
 * not significant. ?zoom=NAME in the URL clicks the widest frame called NAME once loaded,
 * &unzoom then clicks Reset Zoom (links to a view, and how the browser test drives it).
 */
#ifndef SCORCH_SVG_H
#define SCORCH_SVG_H

#include "tree.h"

#include <stdio.h>

struct svg_opts {
	const char *title;
	const char *subtitle; /* a second line under the title, or NULL */
	unsigned int width; /* pixels; 0 = 1200 */
	bool inverted; /* icicle: the root at the top */
	bool diff; /* the tree carries base counts: a differential graph */
	double min_px; /* narrower frames are merged with their neighbours; 0 = 0.5 */
	double alpha; /* diffs: significance level before correction; 0 = 0.05 */
	/*
	 * what the tree's weights are: NULL or counting, sample counts; else values in
	 * weigh->unit (titles and tooltips say so; diffs of them are drawn, not tested)
	 */
	const struct weigh *weigh;
	/*
	 * diffs: whether a function's change is significant by a test of the caller's (1 yes, 0
	 * no, -1 not known: then a frame's own z-test decides); NULL: the z-test always
	 */
	int (*verdict)(void *ctx, const char *function);
	void *verdict_ctx;
};

int svg__write(const struct ftree *t, const struct svg_opts *o, FILE *f);

#endif
