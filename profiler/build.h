/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Turns collected samples into the profile model, symbolizing every frame once. */
#ifndef SCORCH_BUILD_H
#define SCORCH_BUILD_H

#include <stdbool.h>
#include <stdint.h>

struct collector;
struct symbolizer;
struct profile;

struct build_opts {
	unsigned int freq; /* sampling frequency, for the period */
	uint64_t start_ns; /* capture start, ns since the epoch */
	uint64_t duration_ns;
	bool one_pid; /* only the samples of pid (the agent's series per process) */
	uint32_t pid;
};

/* NULL with errno set on failure. */
struct profile *build_profile(const struct collector *c, struct symbolizer *sym,
			      const struct build_opts *opts);

#endif
