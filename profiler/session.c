// SPDX-License-Identifier: LGPL-2.1-or-later
/* The BPF session: program load, perf events per CPU, ring buffers, map draining. */
#include "session.h"
#include "sample_ring.h"
#include "btf_min.h"
#include "fileio.h"
#include "util.h"
#include "profile.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MAX_CPUS 65536 /* a sanity bound: the kernel's NR_CPUS is at most 8192 */

struct session {
	struct profile_bpf *skel;
	struct ring_buffer *rb; /* process events */
	struct sample_ring *samples; /* copied stacks */
	int epfd; /* both: the events' epoll descriptor and the sample ring */
	int *perf_fds;
	struct bpf_link **links;
	uint64_t *clock; /* per CPU: the event's count at the last look, CLOCK_UNKNOWN if none */
	uint64_t *runs, *runs_now; /* per CPU: the program's runs at the last refresh, and now */
	uint64_t *ran_ns; /* per CPU: when its runs were last seen to change, or its event opened */
	struct barrier_thread *barrier; /* waits for grace periods (wait_for_programs_reading) */
	unsigned int ncpus, nposs;
	bool stopped;
	struct session_opts opts;
	/* drain scratch */
	struct scorch_sample_key *keys;
	uint64_t *counts;
	uint64_t *stack_ids;
	struct scorch_stack *stacks;
	uint32_t batch;
	bool compat; /* compat_sample runs */
	char compat_why[512]; /* what the kernel lacks for on_sample, when AUTO chose compat */
};

static int seterr(char *err, size_t len, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	errno = code;
	return -code;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own messages are for debugging; SCORCH_DEBUG=1 shows them */
	if (level == LIBBPF_DEBUG || !getenv("SCORCH_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Online CPUs from the sysfs list ("0-3,6"). */
static int online_cpus(bool *online, unsigned int max, unsigned int *ret_n)
{
	_cleanup_fclose_ FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	unsigned int a, b, n = 0;
	char sep;

	if (!f)
		return -errno;
	while (fscanf(f, "%u", &a) == 1) {
		b = a;
		if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
			if (fscanf(f, "%u", &b) != 1)
				return -EINVAL;
			if (fscanf(f, "%c", &sep) != 1)
				sep = '\n';
		}
		for (unsigned int c = a; c <= b && c < max; c++) {
			online[c] = true;
			n++;
		}
		if (sep != ',')
			break;
	}
	*ret_n = n;
	return n ? 0 : -ENOENT;
}

/* A record of the sample ring (sample_ring_fn). */
static void handle_raw_sample(void *ctx, const void *data, size_t size)
{
	struct session *s = ctx;
	const struct scorch_raw_sample *raw = data;

	/* the program sends the header and stack_len bytes of stack: anything else is not ours */
	if (size < SCORCH_RAW_SAMPLE_HEADER || raw->stack_len > size - SCORCH_RAW_SAMPLE_HEADER ||
	    raw->kernel_nr > SCORCH_MAX_STACK_DEPTH)
		return;
	if (s->opts.on_raw_sample)
		s->opts.on_raw_sample(s->opts.ctx, raw);
}

/*
 * The sample ring holds up to an eighth of a second of samples whose stacks are copied whole
 * (at least 1 MB), and at most SAMPLE_RING_BUDGET: the rate of samples is what grows with the
 * CPUs (10,000 a second on 100 CPUs at 99 Hz, or 2 at 4999 Hz), and a ring sized for it would
 * grow to 64 MB. 16 MB (mapped once: sample_ring.c) is 50 ms of the worst case (every stack
 * copied whole at 10,000 samples a second) and 200-400 ms of stacks of a few KB: room for the
 * first samples of each file, which load its CFI. User space is woken when half of it is used,
 * reads it at least every 100 ms (record) or 250 ms (agent) anyway, and also while it waits
 * for a grace period in each drain. What does not fit is counted
 * (SCORCH_STAT_LOST_USTACK_COPY: "sample ring full").
 */
#define SAMPLE_RING_BUDGET (16u << 20)

static uint32_t sample_ring_size(const struct session_opts *opts, unsigned int ncpus)
{
	uint64_t want =
	    (uint64_t)opts->freq * ncpus * (SCORCH_RAW_SAMPLE_HEADER + opts->stack_copy) / 8;
	uint32_t size = 4096;

	if (want < (1u << 20))
		want = 1u << 20;
	if (want > SAMPLE_RING_BUDGET)
		want = SAMPLE_RING_BUDGET;
	if (opts->sample_ring_bytes) {
		/* asked for: at least that much */
		while (size < opts->sample_ring_bytes && size < (256u << 20))
			size <<= 1;
		return size;
	}
	/* the power of two at or below: 1/8 s of whole copies is generous already */
	while ((uint64_t)size * 2 <= want)
		size <<= 1;
	return size;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct session *s = ctx;

	if (size < sizeof(struct scorch_event))
		return 0;
	if (s->opts.on_event)
		s->opts.on_event(s->opts.ctx, data);
	return 0;
}

/* Minimal BTFs of earlier boots. */
static void remove_old_btf(const char *dir, const char *boot_id)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "btf-", 4) && strcmp(e->d_name + 4, boot_id))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
}

/*
 * The minimal BTF for this boot in the cache directory, built from the kernel's BTF if it is not
 * there yet: libbpf then reads a few hundred bytes instead of parsing 5 MB. NULL when there is
 * no cache or it cannot be built; the kernel's BTF is used then.
 */
static char *min_btf_path(const struct session_opts *opts)
{
	char boot_id[64], *path = NULL;
	struct stat st;

	if (!opts->cache_dir || read_boot_id("/proc", boot_id, sizeof(boot_id)) ||
	    ensure_private_dir(opts->cache_dir))
		return NULL;
	if (asprintf(&path, "%s/btf-%s", opts->cache_dir, boot_id) < 0)
		return NULL;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
		return path;
	/* files of earlier boots go */
	remove_old_btf(opts->cache_dir, boot_id);
	if (btf_min__write(opts->kernel_btf ? opts->kernel_btf : "/sys/kernel/btf/vmlinux", path))
		goto fail;
	return path;
fail:
	free(path);
	return NULL;
}

/*
 * What the sampling program needs of the kernel, each with the release that brought it: the
 * probes (libbpf loads a tiny program or map for each) say what a kernel has, backports
 * included, where a version number would not.
 */
enum need_kind { NEED_PROG, NEED_MAP, NEED_HELPER };

struct kernel_need {
	enum need_kind kind;
	int id;
	enum bpf_prog_type prog; /* for helpers: the program type that calls it */
	const char *what, *since;
};

#define HELPER(fn, type, since)                                                                    \
	{                                                                                          \
		NEED_HELPER, BPF_FUNC_##fn, type, #fn "()", since                                  \
	}

static const struct kernel_need base_needs[] = {
	{ NEED_PROG, BPF_PROG_TYPE_PERF_EVENT, 0, "BPF programs on perf events", "4.9" },
	{ NEED_PROG, BPF_PROG_TYPE_RAW_TRACEPOINT, 0, "raw tracepoint programs", "4.17" },
	{ NEED_MAP, BPF_MAP_TYPE_RINGBUF, 0, "BPF ring buffers", "5.8" },
	{ NEED_MAP, BPF_MAP_TYPE_ARRAY_OF_MAPS, 0, "arrays of maps", "4.12" },
	{ NEED_MAP, BPF_MAP_TYPE_LRU_HASH, 0, "LRU hash maps", "4.10" },
	{ NEED_MAP, BPF_MAP_TYPE_PERCPU_ARRAY, 0, "per-CPU arrays", "4.6" },
	{ NEED_MAP, BPF_MAP_TYPE_CGROUP_ARRAY, 0, "cgroup arrays", "4.8" },
	HELPER(get_stack, BPF_PROG_TYPE_PERF_EVENT, "4.18"),
	HELPER(probe_read_user, BPF_PROG_TYPE_PERF_EVENT, "5.5"),
	HELPER(probe_read_kernel, BPF_PROG_TYPE_PERF_EVENT, "5.5"),
	HELPER(ringbuf_output, BPF_PROG_TYPE_PERF_EVENT, "5.8"),
	HELPER(ringbuf_reserve, BPF_PROG_TYPE_PERF_EVENT, "5.8"),
	HELPER(ringbuf_query, BPF_PROG_TYPE_PERF_EVENT, "5.8"),
	HELPER(current_task_under_cgroup, BPF_PROG_TYPE_PERF_EVENT, "4.9"),
	HELPER(get_current_task, BPF_PROG_TYPE_PERF_EVENT, "4.8"),
	HELPER(ringbuf_reserve, BPF_PROG_TYPE_RAW_TRACEPOINT, "5.8"),
};

/* What on_sample needs beyond the base; without any of them compat_sample runs. */
static const struct kernel_need current_needs[] = {
	HELPER(loop, BPF_PROG_TYPE_PERF_EVENT, "5.17"),
	HELPER(task_pt_regs, BPF_PROG_TYPE_PERF_EVENT, "5.15"),
	HELPER(get_current_task_btf, BPF_PROG_TYPE_PERF_EVENT, "5.11"),
};

/* 1 when the kernel has it, 0 when it has not, < 0 when the probe could not tell (privileges) */
static int kernel_has(const struct kernel_need *n)
{
	switch (n->kind) {
	case NEED_PROG:
		return libbpf_probe_bpf_prog_type(n->id, NULL);
	case NEED_MAP:
		return libbpf_probe_bpf_map_type(n->id, NULL);
	case NEED_HELPER:
		return libbpf_probe_bpf_helper(n->prog, n->id, NULL);
	}
	return -EINVAL;
}

/*
 * Names what of needs[] the kernel lacks in buf ("a (5.8), b (5.5)"), or "" when nothing is
 * known to be missing. Returns how many are missing.
 */
static size_t kernel_lacks(const struct kernel_need *needs, size_t n, char *buf, size_t len)
{
	size_t missing = 0, pos = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		if (kernel_has(&needs[i]) != 0)
			continue;
		if (pos < len)
			pos += snprintf(buf + pos, len - pos, "%s%s (%s)", missing ? ", " : "",
					needs[i].what, needs[i].since);
		missing++;
	}
	return missing;
}

static const char *kernel_release(char *buf, size_t len)
{
	struct utsname u;

	if (uname(&u))
		return "?";
	snprintf(buf, len, "%s", u.release);
	return buf;
}

/*
 * Decide which program to load, or explain in one line why this kernel cannot run scorch.
 * 0 or -errno.
 */
static int choose_program(struct session *s, const struct session_opts *opts, char *err,
			  size_t errlen)
{
	char lacks[512], rel[65];

	if (!opts->btf_path &&
	    access(opts->kernel_btf ? opts->kernel_btf : "/sys/kernel/btf/vmlinux", F_OK))
		return seterr(
		    err, errlen, ENOTSUP,
		    "the kernel (%s) has no BTF ('%s'): needs CONFIG_DEBUG_INFO_BTF, or --btf",
		    kernel_release(rel, sizeof(rel)),
		    opts->kernel_btf ? opts->kernel_btf : "/sys/kernel/btf/vmlinux");
	if (kernel_lacks(base_needs, ARRAY_SIZE(base_needs), lacks, sizeof(lacks)))
		return seterr(
		    err, errlen, ENOTSUP,
		    "this kernel (%s) cannot run scorch, which needs Linux 5.10 or later: "
		    "it lacks %s",
		    kernel_release(rel, sizeof(rel)), lacks);
	if (opts->program == SESSION_PROGRAM_COMPAT) {
		s->compat = true;
		return 0;
	}
	if (!kernel_lacks(current_needs, ARRAY_SIZE(current_needs), lacks, sizeof(lacks)))
		return 0;
	if (opts->program == SESSION_PROGRAM_CURRENT)
		return seterr(err, errlen, ENOTSUP,
			      "the current BPF program cannot run on this kernel (%s): it lacks %s",
			      kernel_release(rel, sizeof(rel)), lacks);
	s->compat = true;
	snprintf(s->compat_why, sizeof(s->compat_why), "%s", lacks);
	return 0;
}

const char *session__program(const struct session *s, const char **ret_why)
{
	if (ret_why)
		*ret_why = s->compat_why;
	return s->compat ? "compat" : "current";
}

/*
 * Why perf_event_open() was refused. Debian's and Ubuntu's kernels add
 * kernel.perf_event_paranoid=3 (their default), at which only CAP_SYS_ADMIN may open perf
 * events: CAP_PERFMON is not enough there.
 */
static const char *perf_denied_hint(int code)
{
	char buf[16] = "";
	int fd;

	if (code != EACCES && code != EPERM)
		return "";
	fd = open("/proc/sys/kernel/perf_event_paranoid", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) < 0)
			buf[0] = 0;
		close(fd);
	}
	if (atoi(buf) >= 3)
		return " (kernel.perf_event_paranoid is 3 or more, where this kernel may want "
		       "CAP_SYS_ADMIN: with CAP_PERFMON, set it to 2)";
	return " (needs CAP_PERFMON)";
}

/* One slot of an array of maps to fill. */
struct slot_fill {
	int outer, inner;
	__u32 key;
	int err;
};

static void *fill_slot(void *arg)
{
	struct slot_fill *f = arg;

	f->err = bpf_map_update_elem(f->outer, &f->key, &f->inner, BPF_ANY) ? -errno : 0;
	return NULL;
}

/*
 * The halves into the arrays of maps the program selects them from. The kernel ends each
 * update of an array of maps with synchronize_rcu() (maybe_wait_bpf_programs()), ~10 ms here:
 * the four are made from threads of their own, so that they wait for the same grace period
 * (measured: 55 ms in a row, 16 ms at once). Nothing samples yet.
 */
static int fill_halves(struct session *s)
{
	struct slot_fill f[4] = {
		{ bpf_map__fd(s->skel->maps.counts), bpf_map__fd(s->skel->maps.counts0), 0, 0 },
		{ bpf_map__fd(s->skel->maps.counts), bpf_map__fd(s->skel->maps.counts1), 1, 0 },
		{ bpf_map__fd(s->skel->maps.stacks), bpf_map__fd(s->skel->maps.stacks0), 0, 0 },
		{ bpf_map__fd(s->skel->maps.stacks), bpf_map__fd(s->skel->maps.stacks1), 1, 0 },
	};
	bool started[ARRAY_SIZE(f)] = { false };
	pthread_t th[ARRAY_SIZE(f)];
	pthread_attr_t attr;
	bool attr_ok = pthread_attr_init(&attr) == 0;

	if (attr_ok)
		pthread_attr_setstacksize(&attr, 64 * 1024);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		/* the last one (or any a thread is refused for) from here */
		started[i] = attr_ok && i + 1 < ARRAY_SIZE(f) &&
			     pthread_create(&th[i], &attr, fill_slot, &f[i]) == 0;
		if (!started[i])
			fill_slot(&f[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (started[i])
			pthread_join(th[i], NULL);
	if (attr_ok)
		pthread_attr_destroy(&attr);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (f[i].err)
			return f[i].err;
	return 0;
}

/* Open the skeleton with BTF for CO-RE from btf_path (NULL: the kernel's), size, load. */
static int open_and_load(struct session *s, const struct session_opts *opts, const char *btf_path)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .btf_custom_path = btf_path);
	uint64_t per_interval;
	uint32_t counts_max, stacks_max;

	s->skel = profile_bpf__open_opts(&oopts);
	if (!s->skel)
		return -errno;
	/*
	 * Each half of the maps holds one drain interval of samples: at most freq x CPUs x interval
	 * distinct keys, and twice that many stacks (kernel + user). Doubled for slack: when user
	 * space falls behind, what does not fit is counted as lost, never dropped silently.
	 */
	per_interval = (uint64_t)opts->freq * s->ncpus * (opts->drain_interval_s + 1.0);
	counts_max = per_interval * 2 < 1024 ? 1024 : per_interval * 2;
	if (counts_max > 1u << 20)
		counts_max = 1u << 20;
	if (opts->counts_entries)
		counts_max = opts->counts_entries;
	stacks_max = opts->stacks_entries ? opts->stacks_entries : counts_max * 2;
	/*
	 * The halves are hash maps inside arrays of maps: the kernel does not compare max_entries
	 * of hash inner maps, so the inner template keeps its size (libbpf 1.1 also crashes when
	 * asked to resize it).
	 */
	bpf_map__set_max_entries(s->skel->maps.counts0, counts_max);
	bpf_map__set_max_entries(s->skel->maps.counts1, counts_max);
	bpf_map__set_max_entries(s->skel->maps.stacks0, stacks_max);
	bpf_map__set_max_entries(s->skel->maps.stacks1, stacks_max);
	if (opts->npids > 0)
		bpf_map__set_max_entries(s->skel->maps.pids,
					 opts->npids + (opts->follow_forks ? 65536 : 16));
	s->skel->rodata->filter_pids = opts->pids != NULL;
	s->skel->rodata->filter_cgroup = opts->cgroup_fd > 0;
	s->skel->rodata->follow_forks = opts->follow_forks;
	s->skel->rodata->unwind_mode = opts->unwind;
	s->skel->rodata->stack_copy = opts->stack_copy;
	/* samples of the idle task and kernel threads never copy: no BTF needed for them */
	s->skel->rodata->have_task_btf =
	    access(opts->kernel_btf ? opts->kernel_btf : "/sys/kernel/btf/vmlinux", F_OK) == 0;
	/* one of the two builds of the sampling program is loaded (and verified) */
	bpf_program__set_autoload(s->skel->progs.on_sample, !s->compat);
	bpf_program__set_autoload(s->skel->progs.compat_sample, s->compat);
	if (opts->unwind != SCORCH_UNWIND_FP) {
		uint32_t ring = sample_ring_size(opts, s->ncpus);

		bpf_map__set_max_entries(s->skel->maps.samples, ring);
		bpf_map__set_max_entries(s->skel->maps.copybuf, s->nposs);
		s->skel->rodata->wakeup_bytes = ring / 2;
	}

	return profile_bpf__load(s->skel);
}

/* Open the sampling event of CPU c and attach the program to it: 0, or -errno with err set. */
static int attach_cpu(struct session *s, unsigned int c, char *err, size_t errlen)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.size = sizeof(attr),
		.freq = 1,
		.sample_freq = s->opts.freq,
	};
	int fd, code;

	fd = syscall(__NR_perf_event_open, &attr, -1, c, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		code = errno;
		return seterr(err, errlen, code,
			      "cannot open a cpu-clock perf event on CPU %u: %s%s", c,
			      strerror(code), perf_denied_hint(code));
	}
	s->perf_fds[c] = fd;
	s->links[c] = bpf_program__attach_perf_event(
	    s->compat ? s->skel->progs.compat_sample : s->skel->progs.on_sample, fd);
	if (!s->links[c]) {
		code = errno;
		close(fd);
		s->perf_fds[c] = -1;
		return seterr(err, errlen, code, "cannot attach to the perf event on CPU %u: %s", c,
			      strerror(code));
	}
	s->ran_ns[c] = now_ns(CLOCK_MONOTONIC); /* as if it had just run there */
	s->clock[c] = 0;
	return 0;
}

/* No count of the CPU's event was read since the program was last seen running there. */
#define CLOCK_UNKNOWN UINT64_MAX

/* Take the event of CPU c off (its link closes it). */
static void detach_cpu(struct session *s, unsigned int c)
{
	bpf_link__destroy(s->links[c]);
	s->links[c] = NULL;
	s->perf_fds[c] = -1;
}

/*
 * Sample periods without a run of the program on an online CPU after which its event is taken
 * for detached: a cpu-clock event fires on an idle CPU too, so an attached one misses that many
 * only when the whole machine stood still (a replaced event then costs a few milliseconds).
 */
#define DETACHED_PERIODS 20

int session__refresh_cpus(struct session *s)
{
	_cleanup_free_ bool *online = calloc(s->nposs, sizeof(*online));
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	__u32 key = SCORCH_STAT_RUNS;
	unsigned int n = 0;
	bool have_runs;
	char err[256];
	int added = 0;

	if (!online)
		return -ENOMEM;
	if (s->stopped || online_cpus(online, s->nposs, &n))
		return 0;
	/* the program's runs per CPU, all in one call (the stats map is per CPU) */
	have_runs = !bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.stats), &key, s->runs_now);
	for (unsigned int c = 0; c < s->nposs; c++) {
		uint64_t count = 0;

		if (have_runs && s->runs_now[c] != s->runs[c]) {
			s->runs[c] = s->runs_now[c];
			s->ran_ns[c] = now;
			if (s->perf_fds[c] >= 0 && online[c]) {
				/*
				 * The program ran there since the last look: its event is attached.
				 * Only the other events' counts are read, as reading one asks its
				 * CPU (an interrupt each, ~12 us in this VM): on a large machine
				 * that would be most of a refresh.
				 */
				s->clock[c] = CLOCK_UNKNOWN;
				continue;
			}
		}
		if (!online[c]) {
			/* going offline detached its event for good (perf_event_exit_cpu()) */
			if (s->perf_fds[c] >= 0)
				detach_cpu(s, c);
			continue;
		}
		if (s->perf_fds[c] >= 0 && have_runs && now > s->ran_ns[c] &&
		    (now - s->ran_ns[c]) / 1000 * s->opts.freq >= DETACHED_PERIODS * 1000000ULL) {
			/* offline and back since the last look: no run for DETACHED_PERIODS */
			detach_cpu(s, c);
		} else if (s->perf_fds[c] >= 0) {
			if (read(s->perf_fds[c], &count, sizeof(count)) != sizeof(count) ||
			    count != s->clock[c]) {
				s->clock[c] = count;
				continue;
			}
			/*
			 * A cpu-clock event counts the nanoseconds it runs, idle or not: one that
			 * stood still since the last look was taken off its CPU, which going
			 * offline (and back between two looks) does for good. A new one replaces
			 * it.
			 */
			detach_cpu(s, c);
		}
		/* online since the last look, refused then, or replaced: a failure is tried again */
		if (attach_cpu(s, c, err, sizeof(err)) == 0)
			added++;
	}
	s->ncpus = n;
	return added;
}

struct session *session__open(const struct session_opts *opts, char *err, size_t errlen)
{
	_cleanup_free_ char *min_btf = opts->btf_path ? NULL : min_btf_path(opts);
	_cleanup_free_ bool *online = NULL;
	struct session *s = calloc(1, sizeof(*s));
	int r, code;

	if (!s) {
		seterr(err, errlen, ENOMEM, "out of memory");
		return NULL;
	}
	s->opts = *opts;
	s->epfd = -1;
	libbpf_set_print(libbpf_quiet);
	/* the kernel's limit for this boot: per-CPU state for every CPU that may come online */
	r = libbpf_num_possible_cpus();
	if (r <= 0 || r > MAX_CPUS) {
		seterr(err, errlen, r <= 0 ? -r : E2BIG, "cannot count possible CPUs");
		goto fail;
	}
	s->nposs = r;
	online = calloc(s->nposs, sizeof(*online));
	if (!online) {
		seterr(err, errlen, ENOMEM, "out of memory");
		goto fail;
	}
	r = online_cpus(online, s->nposs, &s->ncpus);
	if (r) {
		seterr(err, errlen, -r, "cannot read online CPUs: %s", strerror(-r));
		goto fail;
	}
	if (choose_program(s, opts, err, errlen))
		goto fail;

	r = open_and_load(s, opts, opts->btf_path ? opts->btf_path : min_btf);
	if (r && min_btf && r != -EPERM) {
		/* a minimal BTF that does not serve: the kernel's own, and the file goes */
		unlink(min_btf);
		profile_bpf__destroy(s->skel);
		s->skel = NULL;
		r = open_and_load(s, opts, NULL);
	}
	if (r) {
		code = -r;
		seterr(err, errlen, code, "cannot load the BPF program: %s%s", strerror(code),
		       code == EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
		goto fail;
	}
	r = fill_halves(s);
	if (r) {
		code = -r;
		seterr(err, errlen, code, "cannot set up the BPF maps: %s", strerror(code));
		goto fail;
	}
	for (size_t i = 0; i < opts->npids; i++)
		if (session__add_pid(s, opts->pids[i])) {
			code = errno;
			seterr(err, errlen, code, "cannot add pid %d to the filter: %s",
			       (int)opts->pids[i], strerror(code));
			goto fail;
		}
	if (opts->cgroup_fd > 0) {
		__u32 zero = 0, fd = opts->cgroup_fd;

		if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.cgroups), &zero, &fd, BPF_ANY)) {
			code = errno;
			seterr(err, errlen, code, "cannot filter by cgroup: %s", strerror(code));
			goto fail;
		}
	}
	r = profile_bpf__attach(s->skel); /* the process tracepoints */
	if (r) {
		code = -r;
		seterr(err, errlen, code, "cannot attach process tracepoints: %s", strerror(code));
		goto fail;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), handle_event, s, NULL);
	if (s->rb && opts->unwind != SCORCH_UNWIND_FP) {
		struct epoll_event ev = { .events = EPOLLIN };

		s->samples = sample_ring__new(
		    bpf_map__fd(s->skel->maps.samples), bpf_map__max_entries(s->skel->maps.samples),
		    SCORCH_RAW_SAMPLE_HEADER + SCORCH_MAX_STACK_COPY, handle_raw_sample, s);
		s->epfd = s->samples ? epoll_create1(EPOLL_CLOEXEC) : -1;
		if (s->epfd < 0 ||
		    epoll_ctl(s->epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(s->rb), &ev) ||
		    epoll_ctl(s->epfd, EPOLL_CTL_ADD, sample_ring__fd(s->samples), &ev)) {
			code = errno;
			seterr(err, errlen, code, "cannot open the sample ring: %s",
			       strerror(code));
			goto fail;
		}
	}
	if (!s->rb) {
		code = errno;
		seterr(err, errlen, code, "cannot open the ring buffers: %s", strerror(code));
		goto fail;
	}

	s->batch = 1024;
	s->keys = calloc(s->batch, sizeof(*s->keys));
	s->counts = calloc(s->batch, sizeof(*s->counts));
	s->stack_ids = calloc(s->batch, sizeof(*s->stack_ids));
	s->stacks = calloc(s->batch, sizeof(*s->stacks));
	s->perf_fds = calloc(s->nposs, sizeof(int));
	s->links = calloc(s->nposs, sizeof(*s->links));
	s->clock = calloc(s->nposs, sizeof(*s->clock));
	s->runs = calloc(s->nposs, sizeof(*s->runs));
	s->runs_now = calloc(s->nposs, sizeof(*s->runs_now));
	s->ran_ns = calloc(s->nposs, sizeof(*s->ran_ns));
	if (!s->keys || !s->counts || !s->stack_ids || !s->stacks || !s->perf_fds || !s->links ||
	    !s->clock || !s->runs || !s->runs_now || !s->ran_ns) {
		seterr(err, errlen, ENOMEM, "out of memory");
		goto fail;
	}
	for (unsigned int c = 0; c < s->nposs; c++)
		s->perf_fds[c] = -1;
	for (unsigned int c = 0; c < s->nposs; c++)
		if (online[c] && attach_cpu(s, c, err, errlen))
			goto fail;
	return s;
fail:
	code = errno;
	session__free(s);
	errno = code;
	return NULL;
}

int session__add_pid(struct session *s, pid_t pid)
{
	__u32 key = pid;
	__u8 one = 1;

	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.pids), &key, &one, BPF_ANY))
		return -errno;
	return 0;
}

int session__use_frame_pointers(struct session *s, uint32_t pid, uint32_t seq, bool keeps)
{
	int fd = bpf_map__fd(s->skel->maps.fp_procs);
	uint32_t cur;

	/* as for Python: an older generation's late snapshot leaves a newer one's decision */
	if (!bpf_map_lookup_elem(fd, &pid, &cur) && cur > seq)
		return 0;
	if (!keeps) {
		/* usually absent: most processes map code without frame pointers */
		bpf_map_delete_elem(fd, &pid);
		return 0;
	}
	if (bpf_map_update_elem(fd, &pid, &seq, BPF_ANY))
		return -errno;
	return 0;
}

int session__set_python(struct session *s, uint32_t pid, const struct scorch_py_proc *py)
{
	int fd = bpf_map__fd(s->skel->maps.py_procs);

	struct scorch_py_proc cur;

	if (!py)
		return bpf_map_delete_elem(fd, &pid) && errno != ENOENT ? -errno : 0;
	/*
	 * A snapshot of an older generation, read late (its event came after the new image's
	 * samples), must not replace the newer one's: generations only grow
	 */
	if (!bpf_map_lookup_elem(fd, &pid, &cur) && cur.seq > py->seq)
		return 0;
	if (bpf_map_update_elem(fd, &pid, py, BPF_ANY))
		return -errno;
	return 0;
}

int session__set_stack_range(struct session *s, uint32_t tid,
			     const struct scorch_stack_range *range)
{
	int fd = bpf_map__fd(s->skel->maps.stack_ranges);

	if (s->compat)
		return 0; /* its copies go on to a fault */
	if (!range)
		return bpf_map_delete_elem(fd, &tid) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(fd, &tid, range, BPF_ANY) ? -errno : 0;
}

int session__poll(struct session *s, int timeout_ms)
{
	struct epoll_event ev[2];
	int r;

	if (s->samples)
		r = epoll_wait(s->epfd, ev, 2, timeout_ms) < 0 ? -errno : 0;
	else
		r = ring_buffer__poll(s->rb, timeout_ms);
	if (r == -EINTR)
		r = 0;
	/* samples are queued without a wakeup: read whatever is there, events first */
	if (r >= 0)
		r = ring_buffer__consume(s->rb);
	/* (-EBADMSG, a record the kernel cannot have written, skips what was queued) */
	if (r >= 0 && s->samples)
		sample_ring__consume(s->samples);
	return r == -EINTR ? 0 : r < 0 ? r : 0;
}

/* Wait until every program that may have read the old value of 'active' has returned. */
static void wait_for_programs(void)
{
	/*
	 * MEMBARRIER_CMD_GLOBAL runs synchronize_rcu(); BPF perf_event and tracing programs run in
	 * RCU read-side sections (interrupts or preemption disabled), so when it returns none of
	 * them is still inside the old half of the maps.
	 */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
		return;
	/* nohz_full kernels refuse it; a program runs for microseconds */
	usleep(20000);
}

/*
 * A helper thread that waits for grace periods on request, for as long as the session lives
 * (one thread a drain cost more to create and end than the wait itself).
 */
struct barrier_thread {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	unsigned long requested, done; /* done: read without the lock */
	bool quit;
};

static void *barrier_main(void *arg)
{
	struct barrier_thread *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (b->requested == b->done && !b->quit)
			pthread_cond_wait(&b->wake, &b->lock);
		if (b->quit)
			break;
		pthread_mutex_unlock(&b->lock);
		wait_for_programs();
		pthread_mutex_lock(&b->lock);
		__atomic_store_n(&b->done, b->done + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static struct barrier_thread *barrier_thread__new(void)
{
	struct barrier_thread *b = calloc(1, sizeof(*b));
	sigset_t all, old;
	int r;

	if (!b)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->wake, NULL);
	/* all signals blocked: they stay the main thread's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&b->thread, NULL, barrier_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		free(b);
		return NULL;
	}
	return b;
}

static void barrier_thread__free(struct barrier_thread *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->quit = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->wake);
	free(b);
}

/*
 * The same wait, reading the rings meanwhile. The grace period takes 5-15 ms, in which the
 * programs go on writing copied stacks: at 10,000 samples a second (100 CPUs at 99 Hz) that
 * is a few MB, so a ring sized by a memory budget (sample_ring_size()) would overflow in
 * every drain if nobody read it. The helper thread waits while this one reads the rings every
 * millisecond.
 */
static void wait_for_programs_reading(struct session *s)
{
	struct barrier_thread *b;
	unsigned long target;

	if (!s->barrier && s->rb)
		s->barrier = barrier_thread__new();
	b = s->barrier;
	if (!b) {
		wait_for_programs();
		return;
	}
	pthread_mutex_lock(&b->lock);
	target = ++b->requested;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
	while (__atomic_load_n(&b->done, __ATOMIC_ACQUIRE) < target)
		session__poll(s, 1);
}

void session__stop(struct session *s)
{
	if (s->stopped)
		return;
	for (unsigned int c = 0; c < s->nposs && s->links; c++) {
		/* a link closes its event; an event without one is closed here */
		if (s->links[c])
			bpf_link__destroy(s->links[c]);
		else if (s->perf_fds[c] >= 0)
			close(s->perf_fds[c]);
		s->links[c] = NULL;
		s->perf_fds[c] = -1;
	}
	wait_for_programs();
	s->stopped = true;
}

/* Batch lookup-and-delete of a whole (quiescent) hash map. */
static int drain_map(struct session *s, int fd, void *keys, void *values, bool is_counts,
		     const struct drain_ops *ops)
{
	__u32 token = 0;
	bool first = true;

	for (;;) {
		__u32 n = s->batch;
		int r = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &token, &token, keys,
							values, &n, NULL);
		int done = r == -ENOENT;

		if (r && !done)
			return r; /* -ENOSPC cannot happen: a batch holds a whole bucket */
		first = false;
		for (__u32 i = 0; i < n; i++) {
			int e = is_counts ? ops->sample(ops->ctx, &s->keys[i], s->counts[i])
					  : ops->stack(ops->ctx, s->stack_ids[i], &s->stacks[i]);

			if (e)
				return e;
		}
		if (done)
			return 0;
	}
}

static int drain_half(struct session *s, unsigned int half, const struct drain_ops *ops)
{
	struct bpf_map *counts = half ? s->skel->maps.counts1 : s->skel->maps.counts0;
	struct bpf_map *stacks = half ? s->skel->maps.stacks1 : s->skel->maps.stacks0;
	int r;

	/* stacks first, so every sample handed over finds its stacks already known */
	r = drain_map(s, bpf_map__fd(stacks), s->stack_ids, s->stacks, false, ops);
	if (r)
		return r;
	return drain_map(s, bpf_map__fd(counts), s->keys, s->counts, true, ops);
}

int session__drain(struct session *s, const struct drain_ops *ops, bool final)
{
	unsigned int old = s->skel->bss->active;
	int r;

	if (final) {
		session__stop(s);
		r = drain_half(s, old, ops);
		return r ? r : drain_half(s, !old, ops);
	}
	/* CPUs brought online since the last drain are sampled from now on */
	session__refresh_cpus(s);
	__atomic_store_n(&s->skel->bss->active, !old, __ATOMIC_SEQ_CST);
	wait_for_programs_reading(s);
	return drain_half(s, old, ops);
}

int session__stats(struct session *s, uint64_t ret[SCORCH_STAT_MAX])
{
	uint64_t vals[s->nposs];
	int fd = bpf_map__fd(s->skel->maps.stats);

	for (__u32 k = 0; k < SCORCH_STAT_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			return -errno;
		ret[k] = 0;
		for (unsigned int c = 0; c < s->nposs; c++)
			ret[k] += vals[c];
	}
	return 0;
}

unsigned int session__ncpus(const struct session *s)
{
	return s->ncpus;
}

void session__free(struct session *s)
{
	if (!s)
		return;
	if (s->links)
		session__stop(s);
	barrier_thread__free(s->barrier);
	ring_buffer__free(s->rb);
	sample_ring__free(s->samples);
	if (s->epfd >= 0)
		close(s->epfd);
	profile_bpf__destroy(s->skel);
	free(s->perf_fds);
	free(s->links);
	free(s->clock);
	free(s->runs);
	free(s->runs_now);
	free(s->ran_ns);
	free(s->keys);
	free(s->counts);
	free(s->stack_ids);
	free(s->stacks);
	free(s);
}
