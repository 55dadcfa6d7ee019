/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Turns a window's samples into the profile model, symbolizing every frame once. */
#ifndef SCORCH_BUILD_H
#define SCORCH_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

struct window;
struct symbolizer;
struct profile;

struct build_opts {
	unsigned int freq; /* sampling frequency, for the period */
	uint64_t start_ns; /* capture start, ns since the epoch */
	uint64_t duration_ns;
};

/* The profile of a window's samples. NULL with errno set on failure. */
struct profile *build_profile(const struct window *w, struct symbolizer *sym,
			      const struct build_opts *opts);

/* One process's part of a window (the agent's series). */
struct process_profile {
	uint32_t pid, seq;
	char comm[SCORCH_COMM_LEN + 1]; /* of the main thread when it was sampled */
	bool main_thread_comm; /* it was */
	struct profile *profile;
};

/*
 * The profile of a window (*ret_all; ret_all may be NULL when not wanted) and, split from it in
 * one more pass over its samples, one profile per process (*ret_procs, *ret_nprocs, in the order
 * they first appear; ret_procs may be NULL). Every frame is symbolized once. 0 or -errno, with
 * nothing returned.
 */
int build_profiles(const struct window *w, struct symbolizer *sym, const struct build_opts *opts,
		   struct profile **ret_all, struct process_profile **ret_procs,
		   size_t *ret_nprocs);
void process_profiles__free(struct process_profile *procs, size_t n);

#endif
