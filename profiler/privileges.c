// SPDX-License-Identifier: LGPL-2.1-or-later
/* What the process may do: capabilities and sysctls that decide what a capture gets. */
#include "privileges.h"
#include "fileio.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * In the order they are reported. alt is a capability the kernel accepts instead (-1: none).
 * The effects were found by running record and agent as an unprivileged uid with one capability
 * less each time, against a workload of another uid (tests/integration/privilege.sh).
 */
static const struct {
	int cap, alt;
	const char *name;
	bool required;
	const char *effect; /* NULL: depends on the sysctls */
} caps[] = {
	{ CAP_BPF, CAP_SYS_ADMIN, "CAP_BPF", true, "loads the BPF programs" },
	{ CAP_PERFMON, CAP_SYS_ADMIN, "CAP_PERFMON", true,
	  "opens the perf events of every CPU and attaches the tracing programs" },
	{ CAP_SYSLOG, -1, "CAP_SYSLOG", false, NULL },
	{ CAP_SYS_PTRACE, -1, "CAP_SYS_PTRACE", false,
	  "user frames of other users' processes will be unnamed (their /proc/PID/maps and exe "
	  "cannot be read)" },
	{ CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE, "CAP_DAC_READ_SEARCH", false,
	  "frames in files that other users cannot read will be unnamed (nor can their "
	  "/proc/PID/map_files be opened)" },
	{ CAP_CHECKPOINT_RESTORE, CAP_SYS_ADMIN, "CAP_CHECKPOINT_RESTORE", false,
	  "frames in deleted or replaced files will be unnamed (/proc/PID/map_files needs it)" },
};

/* A sysctl holding one integer, which may be negative. */
static int read_sysctl_int(const char *path, int *ret)
{
	_cleanup_free_ char *buf = NULL;
	const char *digits;
	uint64_t v;
	size_t len;
	int r;

	r = read_file(path, 64, &buf, &len);
	if (r)
		return r;
	buf[strcspn(buf, "\n")] = 0;
	digits = buf[0] == '-' ? buf + 1 : buf;
	r = parse_u64(digits, 10, 0, INT_MAX, &v);
	if (r)
		return r;
	*ret = digits == buf ? (int)v : -(int)v;
	return 0;
}

int privileges__read(struct privileges *ret)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { 0 };
	struct privileges p = { .kptr_restrict = -1, .perf_event_paranoid = 2 };

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	p.effective = ((uint64_t)data[1].effective << 32) | data[0].effective;
	if (read_sysctl_int("/proc/sys/kernel/kptr_restrict", &p.kptr_restrict))
		p.kptr_restrict = -1;
	if (read_sysctl_int("/proc/sys/kernel/perf_event_paranoid", &p.perf_event_paranoid))
		p.perf_event_paranoid = 2;
	*ret = p;
	return 0;
}

static bool has(const struct privileges *p, int cap)
{
	return cap >= 0 && cap < 64 && (p->effective & (1ULL << cap));
}

/*
 * The kernel shows /proc/kallsyms addresses (and BPF programs' jited_ksyms) to an opener with
 * CAP_SYSLOG when kptr_restrict is 1, and to everyone when it is 0 and perf_event_paranoid is
 * at most 1 (kallsyms_show_value()); at 2 and above to nobody, where CAP_SYSLOG cannot help.
 */
static bool syslog_effect(const struct privileges *p, char *buf, size_t size)
{
	const char *why;
	char val[48];

	if (p->kptr_restrict >= 2 || (p->kptr_restrict == 0 && p->perf_event_paranoid <= 1))
		return false;
	if (p->kptr_restrict == 1) {
		why = val;
		snprintf(val, sizeof(val), "kernel.kptr_restrict=1");
	} else if (p->kptr_restrict == 0) {
		why = val;
		snprintf(val, sizeof(val), "kernel.perf_event_paranoid=%d", p->perf_event_paranoid);
	} else {
		why = "kernel.kptr_restrict";
	}
	snprintf(buf, size, "kernel frames will be unnamed (%s hides /proc/kallsyms addresses)",
		 why);
	return true;
}

size_t privileges__gaps(const struct privileges *p, struct privilege_gap *ret, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		struct privilege_gap g = { .cap = caps[i].name, .required = caps[i].required };

		if (has(p, caps[i].cap) || has(p, caps[i].alt))
			continue;
		if (caps[i].effect)
			snprintf(g.effect, sizeof(g.effect), "%s", caps[i].effect);
		else if (!syslog_effect(p, g.effect, sizeof(g.effect)))
			continue;
		if (n < max)
			ret[n] = g;
		n++;
	}
	return n;
}
