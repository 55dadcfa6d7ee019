// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The capability check of record and agent: which capabilities are missing for a given effective
 * set and sysctls, required ones first, and what each costs; and that privileges__read() reads
 * this process's own set.
 */
#include "check.h"
#include "privileges.h"

#include <linux/capability.h>
#include <stdlib.h>

#define BIT(c) (1ULL << (c))
/* the set of docs/deploy/scorch-agent.service */
#define DEPLOYED                                                                                   \
	(BIT(CAP_BPF) | BIT(CAP_PERFMON) | BIT(CAP_SYSLOG) | BIT(CAP_SYS_PTRACE) |                 \
	 BIT(CAP_DAC_READ_SEARCH) | BIT(CAP_CHECKPOINT_RESTORE))

static struct privilege_gap gaps[8];

static size_t gaps_of(uint64_t eff, int kptr_restrict, int paranoid)
{
	struct privileges p = { eff, kptr_restrict, paranoid };

	return privileges__gaps(&p, gaps, 8);
}

/* The missing capabilities as "CAP_A CAP_B", required ones marked with '!'. */
static const char *names(size_t n)
{
	static char buf[256];
	size_t len = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && i < 8; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s%s%s", i ? " " : "",
				gaps[i].required ? "!" : "", gaps[i].cap);
	return buf;
}

/* CapEff of /proc/self/status, as the kernel prints it. */
static uint64_t status_cap_eff(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	uint64_t v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %" SCNx64, &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

int main(void)
{
	struct privileges p;
	size_t n;

	/* root, or the deployed set: nothing missing */
	CHECK_INT(gaps_of(~0ULL, 0, 2), 0);
	CHECK_INT(gaps_of(DEPLOYED, 0, 2), 0);
	CHECK_INT(gaps_of(DEPLOYED, 1, 3), 0);

	/* nothing: the two required ones first, then every recommended one */
	n = gaps_of(0, 0, 2);
	CHECK_STR(names(n), "!CAP_BPF !CAP_PERFMON CAP_SYSLOG CAP_SYS_PTRACE CAP_DAC_READ_SEARCH "
			    "CAP_CHECKPOINT_RESTORE");
	CHECK_STR(gaps[0].effect, "loads the BPF programs");

	/* one required capability less names it alone */
	CHECK_STR(names(gaps_of(DEPLOYED & ~BIT(CAP_BPF), 0, 2)), "!CAP_BPF");
	CHECK_STR(names(gaps_of(DEPLOYED & ~BIT(CAP_PERFMON), 0, 2)), "!CAP_PERFMON");

	/* CAP_SYS_ADMIN grants BPF, perf events and map_files; CAP_DAC_OVERRIDE reading */
	CHECK_STR(names(gaps_of(BIT(CAP_SYS_ADMIN), 0, 2)),
		  "CAP_SYSLOG CAP_SYS_PTRACE CAP_DAC_READ_SEARCH");
	CHECK_STR(names(gaps_of(BIT(CAP_SYS_ADMIN) | BIT(CAP_DAC_OVERRIDE), 0, 2)),
		  "CAP_SYSLOG CAP_SYS_PTRACE");
	CHECK_STR(names(gaps_of(DEPLOYED & ~BIT(CAP_CHECKPOINT_RESTORE), 0, 2)),
		  "CAP_CHECKPOINT_RESTORE");
	CHECK_STR(gaps[0].effect, "frames in deleted or replaced files will be unnamed "
				  "(/proc/PID/map_files needs it)");

	/* CAP_SYSLOG, as kallsyms_show_value() decides */
	n = gaps_of(DEPLOYED & ~BIT(CAP_SYSLOG), 0, 2);
	CHECK_STR(names(n), "CAP_SYSLOG");
	CHECK_STR(gaps[0].effect, "kernel frames will be unnamed (kernel.perf_event_paranoid=2 "
				  "hides /proc/kallsyms addresses)");
	n = gaps_of(DEPLOYED & ~BIT(CAP_SYSLOG), 1, -1);
	CHECK_STR(names(n), "CAP_SYSLOG");
	CHECK_STR(gaps[0].effect,
		  "kernel frames will be unnamed (kernel.kptr_restrict=1 hides /proc/kallsyms "
		  "addresses)");
	/* shown to everyone: not needed */
	CHECK_INT(gaps_of(DEPLOYED & ~BIT(CAP_SYSLOG), 0, 1), 0);
	CHECK_INT(gaps_of(DEPLOYED & ~BIT(CAP_SYSLOG), 0, -1), 0);
	/* hidden from everyone: it would not help */
	CHECK_INT(gaps_of(DEPLOYED & ~BIT(CAP_SYSLOG), 2, 2), 0);
	/* unreadable sysctl: assume hidden */
	n = gaps_of(DEPLOYED & ~BIT(CAP_SYSLOG), -1, 2);
	CHECK_STR(names(n), "CAP_SYSLOG");
	CHECK_STR(gaps[0].effect, "kernel frames will be unnamed (kernel.kptr_restrict hides "
				  "/proc/kallsyms addresses)");

	/* more missing than room: counted, only max written */
	{
		struct privileges none = { 0, 0, 2 };
		struct privilege_gap two[2];

		CHECK_INT(privileges__gaps(&none, two, 2), 6);
		CHECK_STR(two[1].cap, "CAP_PERFMON");
		CHECK_INT(privileges__gaps(&none, NULL, 0), 6);
	}

	/* this process: the kernel's own view of it */
	CHECK_INT(privileges__read(&p), 0);
	CHECK(p.effective == status_cap_eff());
	CHECK(p.kptr_restrict >= 0 && p.kptr_restrict <= 2);
	CHECK(p.perf_event_paranoid >= -1);

	return check_done("test_privileges");
}
