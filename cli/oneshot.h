/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A one-shot capture, as record and flame take it: the machine, some processes or a command,
 * until -d, Ctrl-C, or the processes or the command exit; then one profile in memory and the
 * summary of what was sampled and lost.
 */
#ifndef SCORCH_ONESHOT_H
#define SCORCH_ONESHOT_H

#include <stdint.h>
#include <sys/resource.h>

#include "capture_args.h"
#include "profile.h"

struct capture;
struct window;
struct profile;

/* CPU time spent in each phase, for -v: where a capture's cost goes. */
enum oneshot_phase { PHASE_LOAD, PHASE_CAPTURE, PHASE_SYMBOLIZE, PHASE_WRITE, PHASE_MAX };

struct oneshot {
	struct profile *profile;
	/* for the summary */
	struct capture *capture;
	struct window *window;
	uint64_t stats[SCORCH_STAT_MAX];
	double secs;
	int child_status; /* -1 without a command */
	struct rusage child_ru;
	uint64_t phase_cpu_ns[PHASE_MAX], phase_mark;
};

/* What can fail before any work (privileges, BTF, pids, the command): EXIT_OK or an exit code. */
int oneshot__check(const struct capture_args *a, char **cmd);
/* The capture and its profile, into o (freed with oneshot__free() whatever the result). */
int oneshot__run(const struct capture_args *a, char **cmd, struct oneshot *o);
void oneshot__phase_end(struct oneshot *o, enum oneshot_phase p);
/* The summary lines on stderr; path is where the result went. */
void oneshot__summary(const struct oneshot *o, const struct capture_args *a, const char *path);
void oneshot__free(struct oneshot *o);

#endif
