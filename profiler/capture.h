/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A capture: the BPF session, the collector that unwinds and counts its samples, the symbolizer
 * and the kernel's BPF names, and the rule of when to drain and when to wake. record, flame, the
 * agent and its HTTP endpoint are its clients: each opens windows, steps the capture and builds
 * profiles from what the windows counted. Every sample is unwound once for all windows.
 */
#ifndef SCORCH_CAPTURE_H
#define SCORCH_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "profile.h"
#include "session.h"

struct capture;
struct symbolizer;
struct window;

struct capture_opts {
	/* what is sampled, and how (see session.h) */
	unsigned int freq;
	const pid_t *pids; /* only these processes; NULL: all */
	size_t npids;
	bool follow_forks;
	int cgroup_fd; /* > 0: only this cgroup v2 directory and below */
	enum scorch_unwind unwind;
	uint32_t stack_copy;
	enum session_program program; /* which build of the BPF program; AUTO: as the kernel allows */
	const char *btf_path; /* --btf, or NULL */
	const char *kernel_btf; /* NULL: /sys/kernel/btf/vmlinux */
	uint32_t counts_entries, stacks_entries, sample_ring_bytes; /* 0: sized by the session */
	/* when: the maps are drained every drain_interval_s; copied user stacks are unwound at
	 * least every unwind_poll_ms (and when their ring is half full) */
	double drain_interval_s;
	unsigned int unwind_poll_ms;
	/* symbols */
	const char *const *debug_dirs;
	size_t ndebug_dirs;
	bool debug_lines;
	bool no_python; /* CPython's frames are not walked */
	size_t max_symbol_bytes; /* 0: the symbolizer's default */
	const char *cache_dir; /* kernel symbols and BTF kept per boot; NULL: none */
	/* the symbolizer's one-line warnings (a process's files it cannot use) */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

/* Load, attach and start sampling. NULL with errno set and a one-line reason in err. */
struct capture *capture__new(const struct capture_opts *opts, char *err, size_t errlen);
void capture__free(struct capture *c);

/* A process added to the filter after the start (a command forked after it). */
int capture__add_pid(struct capture *c, pid_t pid);

/*
 * Handle what arrives until deadline_ns (CLOCK_MONOTONIC) at most: process events, copied
 * stacks, and a drain of the maps when the drain interval is up. Returns early on a signal.
 * 1 when it drained the maps, 0 when not, or -errno.
 */
int capture__step(struct capture *c, uint64_t deadline_ns);
/* Drain the maps now: every sample up to now is in the windows. 0 or -errno. */
int capture__drain(struct capture *c);
/* Stop sampling and drain everything still in the maps. 0 or -errno. */
int capture__finish(struct capture *c);

/* A window counting every sample from now on; NULL with errno set. Closed with its capture. */
struct window *capture__open_window(struct capture *c);
void capture__close_window(struct capture *c, struct window *w);
/*
 * An interval of the agent ends: the window starts over, and the processes that exited during
 * the interval before the last one are forgotten. 0, or -ENOMEM with the window's samples kept
 * (the next interval repeats them).
 */
int capture__next_interval(struct capture *c, struct window *w);

struct symbolizer *capture__symbolizer(const struct capture *c);
struct collector_stats;
void capture__collector_stats(const struct capture *c, struct collector_stats *ret);
unsigned int capture__ncpus(const struct capture *c);
/* The build of the BPF program that runs, and what the kernel lacks (session__program()). */
const char *capture__program(const struct capture *c, const char **ret_why);
/* The BPF program's statistics, summed over CPUs. */
int capture__stats(struct capture *c, uint64_t ret[SCORCH_STAT_MAX]);
/* When the maps were last drained (CLOCK_MONOTONIC). */
uint64_t capture__last_drain(const struct capture *c);

#endif
