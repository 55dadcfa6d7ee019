/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The capture options, defined once for record, flame and agent: their getopt entries, their
 * parsing with the error messages, their help lines, and the capture_opts they make.
 */
#ifndef SCORCH_CAPTURE_ARGS_H
#define SCORCH_CAPTURE_ARGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "profile.h"

struct capture_opts;

#define CAPTURE_MAX_PIDS 1024
#define CAPTURE_MAX_DEBUG_DIRS 16

/* Which commands take an option. */
#define CAPTURE_SET_ONE_SHOT 1u /* record and flame */
#define CAPTURE_SET_AGENT 2u

struct capture_args {
	unsigned int freq;
	uint64_t duration_ns; /* 0: until Ctrl-C, the processes or the command exit */
	pid_t pids[CAPTURE_MAX_PIDS];
	size_t npids;
	const char *btf;
	const char *debug_dirs[CAPTURE_MAX_DEBUG_DIRS];
	size_t ndebug_dirs;
	bool debug_lines;
	bool no_python; /* --no-python */
	enum scorch_unwind unwind;
	uint32_t stack_copy;
	uint64_t debuginfod_ns; /* 0: never ask */
	bool quiet, verbose;
};

void capture_args__init(struct capture_args *a);
/*
 * Append the set's options to a getopt_long() table (zero-terminated, room for max entries in
 * all) and their letters to shortopts (NUL-terminated, room for shortmax bytes). 0, or -E2BIG.
 */
int capture_args__options(unsigned int set, struct option *opts, size_t max, char *shortopts,
			  size_t shortmax);
/*
 * Option c with its value: 1 when handled, 0 when not a capture option of the set, -EINVAL after
 * an error line.
 */
int capture_args__parse(struct capture_args *a, unsigned int set, int c, const char *value);
/* The set's help lines. */
void capture_args__usage(unsigned int set, FILE *f);
/* What the capture takes from them (the process list, unwinding, symbols). */
void capture_args__to_opts(const struct capture_args *a, struct capture_opts *o);

/* --unwind and --stack-copy values: 0, or -EINVAL after an error line. */
int parse_unwind_option(const char *s, int *ret);
int parse_stack_copy_option(const char *s, uint32_t *ret);

/*
 * The check of record and agent before any work: 0, or -EPERM after one error line naming the
 * missing required capabilities; one warning line per other capability missing and what that
 * loses, unless quiet.
 */
int check_privileges(bool quiet);

#endif
