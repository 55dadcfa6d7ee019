/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The BPF side of a capture: load the program, open one cpu-clock perf_event per CPU, attach. */
#ifndef SCORCH_SESSION_H
#define SCORCH_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "profile.h"

struct session;

/*
 * Which build of the sampling program runs: the current one needs bpf_loop() (5.17) and
 * bpf_task_pt_regs() (5.15); compat runs on 5.10 and later with the same results. AUTO takes
 * the current one when the kernel has what it needs.
 */
enum session_program {
	SESSION_PROGRAM_AUTO,
	SESSION_PROGRAM_CURRENT,
	SESSION_PROGRAM_COMPAT,
};

struct session_opts {
	unsigned int freq; /* samples per second per CPU */
	const pid_t *pids; /* only these processes (all threads); NULL: all */
	size_t npids;
	bool follow_forks; /* children of pids are profiled too */
	int cgroup_fd; /* > 0: only tasks in this cgroup (v2 directory) or below */
	double drain_interval_s; /* how often user space drains: sizes the maps */
	const char *btf_path; /* custom BTF for CO-RE, or NULL for the kernel's */
	const char *kernel_btf; /* the kernel's BTF, default /sys/kernel/btf/vmlinux */
	const char *cache_dir; /* keeps a minimal BTF per boot; NULL: parse the kernel's each time */
	uint32_t counts_entries; /* per half; 0: from freq and CPUs */
	uint32_t stacks_entries; /* per half; 0: twice counts_entries */
	/* Called from session__poll() for every process event. */
	void (*on_event)(void *ctx, const struct scorch_event *e);
	void *ctx;
	enum scorch_unwind unwind; /* how user stacks are unwound */
	uint32_t stack_copy; /* bytes of user stack copied for DWARF unwinding */
	uint32_t sample_ring_bytes; /* sample ring buffer size; 0: from freq, CPUs, stack_copy */
	/* Called from session__poll() for every sample whose user stack is to be unwound. */
	void (*on_raw_sample)(void *ctx, const struct scorch_raw_sample *raw);
	enum session_program program;
};

/* On failure returns NULL with errno set and a one-line reason in err. */
struct session *session__open(const struct session_opts *opts, char *err, size_t errlen);
void session__free(struct session *s);
/* Add a process to the filter after open (e.g. a command started afterwards). */
int session__add_pid(struct session *s, pid_t pid);
/* auto unwinding: samples of this process generation use frame pointers from now on, or not. */
int session__use_frame_pointers(struct session *s, uint32_t pid, uint32_t seq, bool keeps);
/*
 * Walk the Python frames of pid (py->seq: that generation only) with these offsets, or (py NULL)
 * no more. 0 or -errno (E2BIG: the map is full).
 */
int session__set_python(struct session *s, uint32_t pid, const struct scorch_py_proc *py);
/* Wait up to timeout_ms for process events, then dispatch them and every queued sample. */
/*
 * The mapping thread tid's stack lies in, which bounds the copies of its stack (NULL: not
 * known). 0 or -errno; a no-op for the compat program.
 */
int session__set_stack_range(struct session *s, uint32_t tid,
			     const struct scorch_stack_range *range);
int session__poll(struct session *s, int timeout_ms);
/* Stop sampling: close the perf events and wait until no program is still running. */
void session__stop(struct session *s);

/* Entry callback for draining: one (key, count) pair, and stack lookups. */
struct drain_ops {
	int (*sample)(void *ctx, const struct scorch_sample_key *key, uint64_t count);
	int (*stack)(void *ctx, uint64_t id, const struct scorch_stack *st);
	void *ctx;
};

/*
 * Switch the program to the other half of the maps, wait until no program still writes the old
 * half, then hand every count and stack of the old half to ops and empty it. With final set
 * (after session__stop()) both halves are drained.
 */
int session__drain(struct session *s, const struct drain_ops *ops, bool final);
/* Sum of the per-CPU statistics. */
int session__stats(struct session *s, uint64_t ret[SCORCH_STAT_MAX]);
unsigned int session__ncpus(const struct session *s);
/*
 * CPU hotplug, at each drain: a CPU online now without an event gets one (it came online, or
 * was offline when the session opened), and so does one whose event stood still since the
 * last look (going offline takes a CPU's events off it for good, even when it comes back).
 * The number of CPUs (re)attached, or -ENOMEM.
 */
int session__refresh_cpus(struct session *s);
/*
 * The build of the program that runs ("current" or "compat") and, for compat chosen by AUTO,
 * what the kernel lacks ("bpf_loop, bpf_task_pt_regs"); "" otherwise.
 */
const char *session__program(const struct session *s, const char **ret_why);

#endif
