// SPDX-License-Identifier: LGPL-2.1-or-later
/* The one-shot capture of record and flame: checks, the loop, the profile, the summary. */
#include "oneshot.h"
#include "build.h"
#include "capture.h"
#include "collect.h"
#include "child.h"
#include "cli.h"
#include "model.h"
#include "symbolizer.h"
#include "unwind.h"
#include "util.h"
#include "window.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_INTERVAL_S 1.0
/* copied stacks are unwound at least this often (and when their ring is half full) */
#define UNWIND_POLL_MS 100

static const char *phase_names[PHASE_MAX] = { "load and attach", "capture", "symbolize", "write" };

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* Only there to interrupt the poll when the command exits. */
static void on_sigchld(int sig)
{
	(void)sig;
}

static bool quiet_warnings;

static void on_symbolizer_warning(void *ctx, const char *msg)
{
	(void)ctx;
	if (!quiet_warnings)
		log_warn("%s", msg);
}

static bool any_alive(const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (kill(pids[i], 0) == 0 || errno != ESRCH)
			return true;
	return false;
}

void oneshot__phase_end(struct oneshot *o, enum oneshot_phase p)
{
	uint64_t now = now_ns(CLOCK_PROCESS_CPUTIME_ID);

	o->phase_cpu_ns[p] += now - o->phase_mark;
	o->phase_mark = now;
}

static const char *kernel_btf_path(void)
{
	const char *p = getenv("SCORCH_KERNEL_BTF");

	return p ? p : "/sys/kernel/btf/vmlinux";
}

int oneshot__check(const struct capture_args *a, char **cmd)
{
	const char *kernel_btf = kernel_btf_path();
	int r;

	if (check_privileges(a->quiet))
		return EXIT_RUNTIME;
	if (a->btf && access(a->btf, R_OK) < 0) {
		log_error("cannot read BTF file '%s': %s", a->btf, strerror(errno));
		return EXIT_RUNTIME;
	}
	if (!a->btf && access(kernel_btf, R_OK) < 0) {
		log_error("the kernel has no BTF ('%s': %s): needs CONFIG_DEBUG_INFO_BTF, or --btf",
			  kernel_btf, strerror(errno));
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < a->npids; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d", (int)a->pids[i]);
		if (access(path, F_OK) < 0) {
			log_error("pid %d: no such process", (int)a->pids[i]);
			return EXIT_RUNTIME;
		}
	}
	if (cmd) {
		r = find_command(cmd[0]);
		if (r) {
			log_error("cannot start '%s': %s", cmd[0], strerror(-r));
			return EXIT_RUNTIME;
		}
	}
	return EXIT_OK;
}

int oneshot__run(const struct capture_args *a, char **cmd, struct oneshot *o)
{
	struct child child = { .go_fd = -1, .err_fd = -1 };
	struct capture_opts opts = { .drain_interval_s = DRAIN_INTERVAL_S,
				     .unwind_poll_ms = UNWIND_POLL_MS,
				     .kernel_btf = kernel_btf_path(),
				     .warn = on_symbolizer_warning };
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t start_real, start, last_status = 0;
	bool tty = isatty(STDERR_FILENO);
	const pid_t *pids = a->pids;
	size_t npids = a->npids;
	char err[512];
	int r, ret = EXIT_RUNTIME;

	memset(o, 0, sizeof(*o));
	o->child_status = -1;
	quiet_warnings = a->quiet;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_sigchld;
	sigaction(SIGCHLD, &sa, NULL);

	capture_args__to_opts(a, &opts);
	opts.follow_forks = cmd != NULL;
	/* kernel symbols are kept for the boot; SCORCH_CACHE_DIR= (empty) turns that off */
	opts.cache_dir =
	    getenv("SCORCH_CACHE_DIR") ? getenv("SCORCH_CACHE_DIR") : "/var/cache/scorch";
	if (!*opts.cache_dir)
		opts.cache_dir = NULL;
	/* debugging knob, "COUNTS,STACKS": tiny maps make the loss accounting observable */
	if (getenv("SCORCH_MAP_ENTRIES")) {
		unsigned int c = 0, st = 0;

		if (sscanf(getenv("SCORCH_MAP_ENTRIES"), "%u,%u", &c, &st) >= 1) {
			opts.counts_entries = c;
			opts.stacks_entries = st;
		}
	}
	if (getenv("SCORCH_SAMPLE_RING"))
		opts.sample_ring_bytes = strtoul(getenv("SCORCH_SAMPLE_RING"), NULL, 10);
	o->phase_mark = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (cmd) {
		r = child_fork(&child, cmd);
		if (r) {
			log_error("cannot start '%s': %s", cmd[0], strerror(-r));
			goto out;
		}
		opts.pids = &child.pid;
		opts.npids = 1;
	}
	o->capture = capture__new(&opts, err, sizeof(err));
	if (!o->capture) {
		log_error("%s", err);
		goto out;
	}
	o->window = capture__open_window(o->capture);
	if (!o->window) {
		log_error("out of memory");
		goto out;
	}
	oneshot__phase_end(o, PHASE_LOAD);
	start_real = now_ns(CLOCK_REALTIME);
	start = now_ns(CLOCK_MONOTONIC);
	if (cmd) {
		r = child_start(&child);
		if (r) {
			log_error("cannot start '%s': %s", cmd[0], strerror(-r));
			goto out;
		}
	}

	while (!stop_signal) {
		uint64_t now = now_ns(CLOCK_MONOTONIC);

		if (a->duration_ns && now - start >= a->duration_ns)
			break;
		if (child.pid > 0) {
			pid_t w = wait4(child.pid, &o->child_status, WNOHANG, &o->child_ru);

			if (w == child.pid) {
				child.pid = 0;
				break;
			}
		}
		if (tty && !a->quiet && now - last_status >= 1000000000ULL) {
			capture__stats(o->capture, o->stats);
			fprintf(stderr, "\r\033[Kscorch: recording, %.0f s, %" PRIu64 " samples",
				(now - start) / 1e9, o->stats[SCORCH_STAT_RECORDED]);
			last_status = now;
		}
		/*
		 * The capture sleeps until its next drain or the end; SIGCHLD wakes it when the
		 * command exits (one that lands between wait4() and the poll is seen at the next
		 * drain).
		 */
		r = capture__step(o->capture, a->duration_ns ? start + a->duration_ns : UINT64_MAX);
		if (r < 0) {
			log_error("reading process events: %s", strerror(-r));
			goto out;
		}
		/* as perf does: with -p, the capture ends when every process is gone */
		if (r == 1 && !cmd && npids && !any_alive(pids, npids)) {
			if (!a->quiet)
				log_warn("all profiled processes exited");
			break;
		}
	}
	if (tty && !a->quiet)
		fprintf(stderr, "\r\033[K");

	r = capture__finish(o->capture);
	if (r) {
		log_error("draining the BPF maps: %s", strerror(-r));
		goto out;
	}
	capture__stats(o->capture, o->stats);
	if (window__samples(o->window) != o->stats[SCORCH_STAT_RECORDED])
		log_warn("the BPF program recorded %" PRIu64 " samples but %" PRIu64
			 " were drained",
			 o->stats[SCORCH_STAT_RECORDED], window__samples(o->window));
	oneshot__phase_end(o, PHASE_CAPTURE);

	if (child.pid > 0) {
		kill(child.pid, SIGTERM);
		if (wait4(child.pid, &o->child_status, 0, &o->child_ru) == child.pid)
			child.pid = 0;
	}

	/* debug files from debuginfod servers: after the capture, never while it samples */
	if (a->debuginfod_ns)
		symbolizer__fetch_debuginfo(capture__symbolizer(o->capture),
					    a->debuginfod_ns / 1e9);
	o->secs = (now_ns(CLOCK_MONOTONIC) - start) / 1e9;
	o->profile =
	    build_profile(o->window, capture__symbolizer(o->capture),
			  &(struct build_opts){ .freq = a->freq,
						.start_ns = start_real,
						.duration_ns = now_ns(CLOCK_MONOTONIC) - start });
	if (!o->profile) {
		log_error("building the profile: %s", strerror(errno));
		goto out;
	}
	oneshot__phase_end(o, PHASE_SYMBOLIZE);
	if (!cmd)
		o->child_status = -1;
	ret = EXIT_OK;
out:
	if (child.pid > 0 && child.go_fd < 0) {
		kill(child.pid, SIGTERM);
		waitpid(child.pid, NULL, 0);
		child.pid = 0;
	}
	child_abort(&child);
	return ret;
}

void oneshot__free(struct oneshot *o)
{
	profile__free(o->profile);
	capture__free(o->capture); /* its windows too */
	o->profile = NULL;
	o->capture = NULL;
	o->window = NULL;
}

static const char *stat_names[SCORCH_STAT_MAX] = {
	[SCORCH_STAT_LOST_COUNTS_FULL] = "counts map full",
	[SCORCH_STAT_LOST_KSTACK_FULL] = "kernel stack map full",
	[SCORCH_STAT_LOST_USTACK_FULL] = "user stack map full",
	[SCORCH_STAT_LOST_KSTACK_FAULT] = "kernel stack fault",
	[SCORCH_STAT_LOST_USTACK_FAULT] = "user stack fault",
	[SCORCH_STAT_LOST_USTACK_COPY] = "sample ring full",
};

/* ", name N, name N" for the stats in [first, last] that are not zero; returns their sum */
static uint64_t format_reasons(const uint64_t *st, int first, int last, char *buf, size_t size)
{
	uint64_t sum = 0;
	size_t len = 0;

	buf[0] = 0;
	for (int i = first; i <= last; i++) {
		if (!st[i])
			continue;
		sum += st[i];
		len += snprintf(buf + len, size - len, "%s%s %" PRIu64, len ? ", " : ": ",
				stat_names[i], st[i]);
		if (len >= size)
			len = size - 1;
	}
	return sum;
}

/* "; user stacks truncated: reason N, ..." for the unwinds that did not reach the first frame */
static void format_truncations(const uint64_t *ends, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = 0;
	for (int i = UNWIND_END_COPY; i < UNWIND_END_MAX; i++) {
		if (!ends[i])
			continue;
		len +=
		    snprintf(buf + len, size - len, "%s%s %" PRIu64,
			     len ? ", " : "; user stacks truncated: ", unwind_end_name(i), ends[i]);
		if (len >= size)
			len = size - 1;
	}
}

/* -v: the files whose frames were stepped otherwise than by CFI alone, at most this many. */
#define UNWOUND_SHOWN 8

struct unwound_report {
	size_t cfi_only, other;
	char text[UNWOUND_SHOWN * 160];
	size_t len;
};

static void add_unwound(void *ctx, const char *path, const uint64_t *n)
{
	struct unwound_report *r = ctx;
	char name[101];
	int w;

	if (!n[UNWIND_BY_FP] && !n[UNWIND_BY_GO]) {
		r->cfi_only++;
		return;
	}
	if (r->other++ >= UNWOUND_SHOWN || r->len >= sizeof(r->text))
		return;
	/* the path is the process's to choose: no control character reaches the terminal */
	snprintf(name, sizeof(name), "%s", path);
	for (char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	w = snprintf(r->text + r->len, sizeof(r->text) - r->len,
		     "; %s: CFI %" PRIu64 ", frame pointers %" PRIu64 ", Go table %" PRIu64, name,
		     n[UNWIND_BY_CFI], n[UNWIND_BY_FP], n[UNWIND_BY_GO]);
	if (w > 0)
		r->len +=
		    (size_t)w < sizeof(r->text) - r->len ? (size_t)w : sizeof(r->text) - r->len;
}

/* One line: how many files were unwound by CFI alone, and the frames of the others by method. */
static void print_unwound_files(const struct symbolizer *sym)
{
	struct unwound_report r = { 0 };

	symbolizer__unwound_files(sym, add_unwound, &r);
	if (!r.cfi_only && !r.other)
		return;
	fprintf(stderr, "scorch: unwound frames by file: %zu files by CFI alone%s", r.cfi_only,
		r.text);
	if (r.other > UNWOUND_SHOWN)
		fprintf(stderr, "; %zu more files", r.other - UNWOUND_SHOWN);
	fputc('\n', stderr);
}

void oneshot__summary(const struct oneshot *o, const struct capture_args *a, const char *path)
{
	const struct symbolizer *sym = capture__symbolizer(o->capture);
	const uint64_t *ends = window__unwind_ends(o->window), *st = o->stats;
	const struct rusage *child_ru = &o->child_ru;
	int child_status = o->child_status;
	struct symbolizer_stats ss;
	char dropped[256], stacks[256], truncated[512];
	uint64_t ndropped;

	/* dropped samples are gone; samples with a lost stack are kept under a placeholder */
	ndropped = format_reasons(st, SCORCH_STAT_LOST_COUNTS_FULL, SCORCH_STAT_LOST_COUNTS_FULL,
				  dropped, sizeof(dropped));
	format_reasons(st, SCORCH_STAT_LOST_KSTACK_FULL, SCORCH_STAT_LOST_USTACK_COPY, stacks,
		       sizeof(stacks));
	format_truncations(ends, truncated, sizeof(truncated));
	symbolizer__stats(sym, &ss);
	fprintf(stderr, "scorch: %" PRIu64 " samples, %" PRIu64 " lost%s%s%s%s\n",
		st[SCORCH_STAT_RECORDED], ndropped, dropped, stacks[0] ? "; stacks lost" : "",
		stacks, truncated);
	fprintf(stderr, "scorch: %.1f s on %u CPUs, %zu processes", o->secs,
		capture__ncpus(o->capture), ss.processes);
	if (ss.python_processes) {
		fprintf(stderr, " (%zu Python", ss.python_processes);
		if (ss.python_unsupported)
			fprintf(stderr, ", %zu without interpreter frames", ss.python_unsupported);
		fprintf(stderr, ")");
	}
	fprintf(stderr, ", written to %s\n", path);
	if (a->verbose)
		fprintf(stderr,
			"scorch: program runs %" PRIu64 " = recorded %" PRIu64 " + idle %" PRIu64
			" + filtered %" PRIu64 " + dropped (counts map full) %" PRIu64 "\n",
			st[SCORCH_STAT_RUNS], st[SCORCH_STAT_RECORDED], st[SCORCH_STAT_IDLE],
			st[SCORCH_STAT_FILTERED], st[SCORCH_STAT_LOST_COUNTS_FULL]);
	if (a->verbose) {
		struct collector_stats cs;

		capture__collector_stats(o->capture, &cs);
		fprintf(stderr,
			"scorch: user stacks: %" PRIu64 " unwound with CFI in user space (%" PRIu64
			" complete; %" PRIu64
			" also by frame pointers through code without CFI), %" PRIu64
			" with frame pointers in the kernel\n",
			st[SCORCH_STAT_COPIED], ends[UNWIND_END_COMPLETE], cs.fp_fallback,
			st[SCORCH_STAT_RECORDED] - st[SCORCH_STAT_COPIED]);
		if (cs.stack_ranges)
			fprintf(stderr,
				"scorch: stack copies: %" PRIu64 " ended at their thread's stack "
				"mapping (%" PRIu64 " threads' mappings looked up, %" PRIu64
				" threads whose stack went on past it)\n",
				cs.stack_bounded, cs.stack_ranges, cs.stack_unbounded);
		print_unwound_files(sym);
	}
	if (a->verbose && ss.python_processes) {
		struct collector_stats cs;

		capture__collector_stats(o->capture, &cs);
		fprintf(stderr,
			"scorch: python: %zu processes (%zu not walked: a version or state scorch "
			"cannot walk; %zu had exec'ed another program)",
			ss.python_processes, ss.python_unsupported, ss.python_image_gone);
		if (cs.python_refused || cs.python_map_full)
			fprintf(stderr, " (%" PRIu64 " refused offsets, %" PRIu64 " map full)",
				cs.python_refused, cs.python_map_full);
		fprintf(stderr,
			"; stacks walked %" PRIu64 ", truncated %" PRIu64 ", unreadable %" PRIu64
			", thread without Python state %" PRIu64 " (thread list cut %" PRIu64
			"), idle %" PRIu64
			"; code objects read %zu, refused %zu (%zu of an exited process), over the "
			"budget %" PRIu64 "\n",
			st[SCORCH_STAT_PY_WALKED], st[SCORCH_STAT_PY_TRUNCATED],
			st[SCORCH_STAT_PY_UNREADABLE], st[SCORCH_STAT_PY_NO_THREAD],
			st[SCORCH_STAT_PY_THREADS_CUT], st[SCORCH_STAT_PY_IDLE],
			ss.python_code_read, ss.python_code_failed, ss.python_code_gone,
			cs.python_read_budget);
	}
	if (a->verbose) {
		const char *why, *prog = capture__program(o->capture, &why);

		fprintf(stderr, "scorch: BPF program: %s%s%s\n", prog,
			*why ? ", as the kernel lacks " : "", why);
	}
	if (a->verbose)
		fprintf(stderr,
			"scorch: symbol tables: %.1f MB kept, %zu files over their budget (bare "
			"addresses), %zu files shrank while read\n",
			ss.symbol_bytes / 1e6, ss.symbols_over_budget, ss.files_shrank);
	if (a->verbose && ss.dwarf_files)
		fprintf(stderr,
			"scorch: DWARF by compilation unit: %zu files, %zu units read (%.1f MB "
			"inflated for them; %llu from the cache of earlier runs), %.1f MB held\n",
			ss.dwarf_files, ss.dwarf_units, ss.dwarf_inflated / 1e6,
			(unsigned long long)ss.dwarf_cached_units, ss.dwarf_bytes / 1e6);
	if (a->verbose && (ss.debuginfod_fetched || ss.debuginfod_failed))
		fprintf(stderr, "scorch: debuginfod: %zu debug files fetched, %zu queries failed\n",
			ss.debuginfod_fetched, ss.debuginfod_failed);
	if (a->verbose && (ss.kernel_from_cache || ss.kernel_from_proc))
		fprintf(stderr, "scorch: kernel symbols from %s%s%s\n",
			ss.kernel_from_cache ? "the cache" : "/proc/kallsyms",
			ss.kernel_from_cache && ss.kernel_from_proc ? ", then /proc/kallsyms" : "",
			ss.kernel_cache_saved ? " (saved to the cache)" : "");
	if (a->verbose) {
		fprintf(stderr, "scorch: CPU time:");
		for (int i = 0; i < PHASE_MAX; i++)
			fprintf(stderr, "%s %s %.1f ms", i ? "," : "", phase_names[i],
				o->phase_cpu_ns[i] / 1e6);
		fprintf(stderr, "\n");
	}
	if (st[SCORCH_STAT_PROC_EVENT_LOST])
		fprintf(stderr, "scorch: %" PRIu64 " process snapshot requests were late\n",
			st[SCORCH_STAT_PROC_EVENT_LOST]);
	if (child_status >= 0)
		fprintf(stderr, "scorch: command %s %d, used %.2f s of CPU\n",
			WIFEXITED(child_status) ? "exited with status" : "killed by signal",
			WIFEXITED(child_status) ? WEXITSTATUS(child_status)
						: WTERMSIG(child_status),
			child_ru->ru_utime.tv_sec + child_ru->ru_utime.tv_usec / 1e6 +
			    child_ru->ru_stime.tv_sec + child_ru->ru_stime.tv_usec / 1e6);
}
