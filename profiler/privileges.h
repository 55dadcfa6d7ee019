/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The capabilities record and agent need (CAP_BPF, CAP_PERFMON) and those without which frames
 * go unnamed (CAP_SYSLOG, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_CHECKPOINT_RESTORE), as the
 * kernel decides them: README.md, "Privileges", has the table and how each was established.
 */
#ifndef SCORCH_PRIVILEGES_H
#define SCORCH_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the kernel will allow this process, read once at start. */
struct privileges {
	uint64_t effective; /* capget(2)'s effective set: bit N is capability N */
	int kptr_restrict; /* kernel.kptr_restrict, -1 when it cannot be read */
	int perf_event_paranoid; /* kernel.perf_event_paranoid, 2 when it cannot be read */
};

/* A capability the process lacks and what that costs. */
struct privilege_gap {
	const char *cap; /* "CAP_SYSLOG" */
	bool required; /* nothing can be profiled without it */
	char effect[160]; /* required: what it is needed for; otherwise what will be lost */
};

/* This process's effective capabilities and the sysctls that decide CAP_SYSLOG. 0 or -errno. */
int privileges__read(struct privileges *ret);

/*
 * The capabilities missing from p, the required ones first, at most max of them written to
 * ret; returns how many are missing. CAP_SYS_ADMIN stands in for CAP_BPF, CAP_PERFMON and
 * CAP_CHECKPOINT_RESTORE, CAP_DAC_OVERRIDE for CAP_DAC_READ_SEARCH, as in the kernel. CAP_SYSLOG
 * is missing only when the sysctls hide kernel addresses without it and not from everyone.
 */
size_t privileges__gaps(const struct privileges *p, struct privilege_gap *ret, size_t max);

#endif
