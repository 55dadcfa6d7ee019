// SPDX-License-Identifier: LGPL-2.1-or-later
/* scorch record: one capture of the machine, some processes or a command, written to a file. */
#include "bpf_syms.h"
#include "build.h"
#include "cli.h"
#include "collect.h"
#include "output.h"
#include "model.h"
#include "profile.h"
#include "session.h"
#include "symbolizer.h"
#include "unwind.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIDS 1024
#define DRAIN_INTERVAL_S 1.0

static unsigned int arg_freq = 99;
static uint64_t arg_duration_ns; /* 0: until Ctrl-C or the command exits */
static pid_t arg_pids[MAX_PIDS];
static size_t arg_npids;
static const char *arg_output;
static enum output_format arg_format = OUTPUT_PPROF;
static const char *arg_btf;
static bool arg_quiet;
static bool arg_verbose;
static bool arg_debug_lines;
static const char *arg_debug_dirs[16];
static size_t arg_ndebug_dirs;
static enum scorch_unwind arg_unwind = SCORCH_UNWIND_AUTO;
static uint32_t arg_stack_copy = 32768;
static uint64_t arg_debuginfod_ns = 15000000000ULL;

static volatile sig_atomic_t stop_signal;

/* CPU time spent in each phase, for -v: where a capture's cost goes. */
enum phase { PHASE_LOAD, PHASE_CAPTURE, PHASE_SYMBOLIZE, PHASE_WRITE, PHASE_MAX };
static const char *phase_names[PHASE_MAX] = { "load and attach", "capture", "symbolize", "write" };
static uint64_t phase_cpu_ns[PHASE_MAX], phase_mark;

static void phase_end(enum phase p)
{
	uint64_t now = now_ns(CLOCK_PROCESS_CPUTIME_ID);

	phase_cpu_ns[p] += now - phase_mark;
	phase_mark = now;
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* Only there to interrupt the poll when the command exits. */
static void on_sigchld(int sig)
{
	(void)sig;
}

static void record_usage(FILE *f)
{
	fputs(
	    "Usage: scorch record [OPTIONS] [-- COMMAND [ARG...]]\n"
	    "\n"
	    "Sample the kernel and user stacks on every CPU and write a CPU profile.\n"
	    "Without -p or COMMAND the whole machine is profiled until Ctrl-C or -d.\n"
	    "\n"
	    "Options:\n"
	    "  -F, --freq HZ          samples per second on each CPU, 1-10000 (default 99)\n"
	    "  -d, --duration TIME    stop after TIME: seconds, or with a unit (500ms, 10s, 1m)\n"
	    "  -p, --pid PID[,PID...] profile only these processes, all their threads,\n"
	    "                         until they have all exited\n"
	    "  -o, --output FILE      where to write (default profile.pb.gz, or profile.folded)\n"
	    "      --format FORMAT    pprof (gzip-compressed, the default) or folded\n"
	    "      --btf FILE         kernel BTF to use when the kernel has none of its own\n"
	    "      --debug-dir DIR    also look for separate debug files under DIR (repeatable)\n"
	    "      --debug-lines      lines and inlined functions from separate debug files too\n"
	    "                         (by default only their symbols: DWARF costs memory)\n"
	    "      --debuginfod-timeout TIME\n"
	    "                         when DEBUGINFOD_URLS is set, ask its servers for missing\n"
	    "                         debug files after the capture, for TIME in all (default\n"
	    "                         15s; 0: never ask)\n"
	    "      --unwind MODE      user stacks: auto (the default), fp or dwarf. dwarf copies\n"
	    "                         the top of the stack and unwinds it with the call frame\n"
	    "                         information, right without frame pointers; fp follows\n"
	    "                         frame pointers in the kernel; auto uses fp for processes\n"
	    "                         whose code all keeps them, dwarf for the others\n"
	    "      --stack-copy BYTES user stack copied per sample for dwarf unwinding,\n"
	    "                         1024-65536 (default 32768)\n"
	    "  -q, --quiet            no status line and no summary\n"
	    "  -v, --verbose          also account for every program run in the summary\n"
	    "  -h, --help             show this help\n"
	    "\n"
	    "With '-- COMMAND' the command is started and profiled with the processes it\n"
	    "starts; the capture ends when it exits, or after -d (it is sent SIGTERM).\n"
	    "\n"
	    "Examples:\n"
	    "  scorch record -d 10                   # whole machine, 10 s, profile.pb.gz\n"
	    "  scorch record -p 1234,1240 -d 30 -o app.pb.gz\n"
	    "  scorch record --format folded -o out.folded -- ./my-benchmark --iterations 100\n"
	    "  go tool pprof -top profile.pb.gz      # read the result with pprof\n",
	    f);
}

static int parse_pids(const char *list)
{
	const char *p = list;

	/* every comma-separated field must be a pid: "1,,2" and "1," are errors */
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char tok[16];
		uint64_t v;

		if (!len || len >= sizeof(tok))
			return -EINVAL;
		memcpy(tok, p, len);
		tok[len] = 0;
		if (parse_u64(tok, 10, 1, INT32_MAX, &v))
			return -EINVAL;
		if (arg_npids >= MAX_PIDS)
			return -E2BIG;
		arg_pids[arg_npids++] = v;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static bool any_alive(const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (kill(pids[i], 0) == 0 || errno != ESRCH)
			return true;
	return false;
}

/* Resolve COMMAND like execvp() would, so that a missing command fails before the capture. */
static int find_command(const char *cmd)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = NULL;
	char *save = NULL, buf[PATH_MAX];

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) ? -errno : 0;
	copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	if (!copy)
		return -ENOMEM;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		struct stat st;

		snprintf(buf, sizeof(buf), "%s/%s", *dir ? dir : ".", cmd);
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

struct child {
	pid_t pid;
	int go_fd, err_fd;
};

/* Fork the command, held before exec until it is in the filter. */
static int child_fork(struct child *c, char **argv)
{
	int go[2], ep[2];

	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		close(go[0]);
		close(go[1]);
		return -errno;
	}
	c->pid = fork();
	if (c->pid < 0) {
		int e = errno;

		close(go[0]);
		close(go[1]);
		close(ep[0]);
		close(ep[1]);
		return -e;
	}
	if (c->pid == 0) {
		char x;
		int e;

		close(go[1]);
		close(ep[0]);
		if (read(go[0], &x, 1) != 1)
			_exit(127); /* scorch gave up before starting us */
		execvp(argv[0], argv);
		e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(ep[1]);
	c->go_fd = go[1];
	c->err_fd = ep[0];
	return 0;
}

/* Let the command exec; returns 0 or the exec error as -errno. */
static int child_start(struct child *c)
{
	int e = 0;
	ssize_t n;

	if (write(c->go_fd, "g", 1) != 1)
		return -EPIPE;
	close(c->go_fd);
	c->go_fd = -1;
	do
		n = read(c->err_fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(c->err_fd);
	c->err_fd = -1;
	if (n == sizeof(e)) {
		waitpid(c->pid, NULL, 0);
		c->pid = 0;
		return -e;
	}
	return 0;
}

static void child_abort(struct child *c)
{
	if (c->go_fd >= 0)
		close(c->go_fd); /* the child reads EOF and exits */
	if (c->err_fd >= 0)
		close(c->err_fd);
	c->go_fd = c->err_fd = -1;
	if (c->pid > 0)
		waitpid(c->pid, NULL, 0);
	c->pid = 0;
}

static void on_symbolizer_warning(void *ctx, const char *msg)
{
	(void)ctx;
	if (!arg_quiet)
		log_warn("%s", msg);
}

static void on_event(void *ctx, const struct scorch_event *e)
{
	collector__event(ctx, e);
}

static void on_raw_sample(void *ctx, const struct scorch_raw_sample *raw)
{
	collector__raw_sample(ctx, raw);
}

static void use_frame_pointers(void *ctx, uint32_t pid, uint32_t seq, bool keeps)
{
	session__use_frame_pointers(ctx, pid, seq, keeps);
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

static void print_summary(const uint64_t *st, const struct symbolizer *sym,
			  const struct collector *col, double secs, unsigned int ncpus,
			  const char *path, int child_status, const struct rusage *child_ru)
{
	struct symbolizer_stats ss;
	char dropped[256], stacks[256], truncated[512];
	uint64_t ndropped;

	/* dropped samples are gone; samples with a lost stack are kept under a placeholder */
	ndropped = format_reasons(st, SCORCH_STAT_LOST_COUNTS_FULL, SCORCH_STAT_LOST_COUNTS_FULL,
				  dropped, sizeof(dropped));
	format_reasons(st, SCORCH_STAT_LOST_KSTACK_FULL, SCORCH_STAT_LOST_USTACK_COPY, stacks,
		       sizeof(stacks));
	format_truncations(collector__unwind_ends(col), truncated, sizeof(truncated));
	symbolizer__stats(sym, &ss);
	fprintf(stderr, "scorch: %" PRIu64 " samples, %" PRIu64 " lost%s%s%s%s\n",
		st[SCORCH_STAT_RECORDED], ndropped, dropped, stacks[0] ? "; stacks lost" : "",
		stacks, truncated);
	fprintf(stderr, "scorch: %.1f s on %u CPUs, %zu processes, written to %s\n", secs, ncpus,
		ss.processes, path);
	if (arg_verbose)
		fprintf(stderr,
			"scorch: program runs %" PRIu64 " = recorded %" PRIu64 " + idle %" PRIu64
			" + filtered %" PRIu64 " + dropped (counts map full) %" PRIu64 "\n",
			st[SCORCH_STAT_RUNS], st[SCORCH_STAT_RECORDED], st[SCORCH_STAT_IDLE],
			st[SCORCH_STAT_FILTERED], st[SCORCH_STAT_LOST_COUNTS_FULL]);
	if (arg_verbose)
		fprintf(stderr,
			"scorch: user stacks: %" PRIu64 " unwound with CFI in user space (%" PRIu64
			" complete), %" PRIu64 " with frame pointers in the kernel\n",
			st[SCORCH_STAT_COPIED], collector__unwind_ends(col)[UNWIND_END_COMPLETE],
			st[SCORCH_STAT_RECORDED] - st[SCORCH_STAT_COPIED]);
	if (arg_verbose)
		fprintf(stderr,
			"scorch: symbol tables: %.1f MB kept, %zu files over their budget (bare "
			"addresses), %zu files shrank while read\n",
			ss.symbol_bytes / 1e6, ss.symbols_over_budget, ss.files_shrank);
	if (arg_verbose && (ss.debuginfod_fetched || ss.debuginfod_failed))
		fprintf(stderr, "scorch: debuginfod: %zu debug files fetched, %zu queries failed\n",
			ss.debuginfod_fetched, ss.debuginfod_failed);
	if (arg_verbose && (ss.kernel_from_cache || ss.kernel_from_proc))
		fprintf(stderr, "scorch: kernel symbols from %s%s%s\n",
			ss.kernel_from_cache ? "the cache" : "/proc/kallsyms",
			ss.kernel_from_cache && ss.kernel_from_proc ? ", then /proc/kallsyms" : "",
			ss.kernel_cache_saved ? " (saved to the cache)" : "");
	if (arg_verbose) {
		fprintf(stderr, "scorch: CPU time:");
		for (int i = 0; i < PHASE_MAX; i++)
			fprintf(stderr, "%s %s %.1f ms", i ? "," : "", phase_names[i],
				phase_cpu_ns[i] / 1e6);
		fprintf(stderr, "\n");
	}
	if (st[SCORCH_STAT_PROC_EVENT_LOST])
		fprintf(stderr, "scorch: %" PRIu64 " process snapshot requests were late\n",
			st[SCORCH_STAT_PROC_EVENT_LOST]);
	if (child_status >= 0 && child_ru)
		fprintf(stderr, "scorch: command %s %d, used %.2f s of CPU\n",
			WIFEXITED(child_status) ? "exited with status" : "killed by signal",
			WIFEXITED(child_status) ? WEXITSTATUS(child_status)
						: WTERMSIG(child_status),
			child_ru->ru_utime.tv_sec + child_ru->ru_utime.tv_usec / 1e6 +
			    child_ru->ru_stime.tv_sec + child_ru->ru_stime.tv_usec / 1e6);
}

static int parse_args(int argc, char **argv, char ***ret_cmd)
{
	enum {
		OPT_FORMAT = 0x100,
		OPT_BTF,
		OPT_DEBUG_DIR,
		OPT_DEBUG_LINES,
		OPT_UNWIND,
		OPT_STACK_COPY,
		OPT_DEBUGINFOD_TIMEOUT
	};
	static const struct option opts[] = {
		{ "freq", required_argument, NULL, 'F' },
		{ "duration", required_argument, NULL, 'd' },
		{ "pid", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "btf", required_argument, NULL, OPT_BTF },
		{ "debug-dir", required_argument, NULL, OPT_DEBUG_DIR },
		{ "debug-lines", no_argument, NULL, OPT_DEBUG_LINES },
		{ "unwind", required_argument, NULL, OPT_UNWIND },
		{ "debuginfod-timeout", required_argument, NULL, OPT_DEBUGINFOD_TIMEOUT },
		{ "stack-copy", required_argument, NULL, OPT_STACK_COPY },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, unwind;

	opterr = 0;
	optind = 1;
	while ((c = getopt_exact(argc, argv, "+:F:d:p:o:qvh", opts, "record")) != -1) {
		uint64_t v;

		switch (c) {
		case 'F':
			if (parse_u64(optarg, 10, 1, 10000, &v)) {
				log_error("invalid frequency '%s': must be 1-10000 Hz", optarg);
				return -EINVAL;
			}
			arg_freq = v;
			break;
		case 'd':
			if (parse_duration_ns(optarg, &arg_duration_ns) || !arg_duration_ns) {
				log_error(
				    "invalid duration '%s': seconds, or a number with a unit (500ms, 10s, 1m)",
				    optarg);
				return -EINVAL;
			}
			break;
		case 'p':
			if (parse_pids(optarg)) {
				log_error(
				    "invalid pid list '%s': expected PID[,PID...] (at most %d)",
				    optarg, MAX_PIDS);
				return -EINVAL;
			}
			break;
		case 'o':
			if (!*optarg) {
				log_error("empty output path");
				return -EINVAL;
			}
			arg_output = optarg;
			break;
		case OPT_FORMAT:
			if (parse_output_format(optarg, &arg_format)) {
				log_error("unknown format '%s': use pprof or folded", optarg);
				return -EINVAL;
			}
			break;
		case OPT_BTF:
			arg_btf = optarg;
			break;
		case OPT_DEBUG_DIR:
			if (arg_ndebug_dirs >= ARRAY_SIZE(arg_debug_dirs)) {
				log_error("at most %zu --debug-dir options",
					  ARRAY_SIZE(arg_debug_dirs));
				return -EINVAL;
			}
			arg_debug_dirs[arg_ndebug_dirs++] = optarg;
			break;
		case OPT_DEBUG_LINES:
			arg_debug_lines = true;
			break;
		case OPT_UNWIND:
			if (parse_unwind_option(optarg, &unwind))
				return -EINVAL;
			arg_unwind = unwind;
			break;
		case OPT_DEBUGINFOD_TIMEOUT:
			if (strcmp(optarg, "0") && parse_duration_ns(optarg, &arg_debuginfod_ns)) {
				log_error("invalid debuginfod timeout '%s': seconds, or a number "
					  "with a unit (500ms, 10s, 1m)",
					  optarg);
				return -EINVAL;
			}
			if (!strcmp(optarg, "0"))
				arg_debuginfod_ns = 0;
			break;
		case OPT_STACK_COPY:
			if (parse_stack_copy_option(optarg, &arg_stack_copy))
				return -EINVAL;
			break;
		case 'q':
			arg_quiet = true;
			break;
		case 'v':
			arg_verbose = true;
			break;
		case 'h':
			record_usage(stdout);
			return 1;
		default: /* said by getopt_exact() */
			return -EINVAL;
		}
	}
	*ret_cmd = NULL;
	if (optind < argc) {
		/* getopt stops at "--" or at the first non-option ("+" in optstring) */
		if (strcmp(argv[optind - 1], "--") != 0) {
			log_error("unexpected argument '%s': put a command after '--'",
				  argv[optind]);
			return -EINVAL;
		}
		*ret_cmd = argv + optind;
	}
	if (*ret_cmd && arg_npids) {
		log_error("-p and a COMMAND cannot be combined");
		return -EINVAL;
	}
	if (!arg_output)
		arg_output = arg_format == OUTPUT_PPROF ? "profile.pb.gz" : "profile.folded";
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct output out = { .file.fd = -1 };
	struct child child = { .go_fd = -1, .err_fd = -1 };
	struct symbolizer_opts sopts = { .warn = on_symbolizer_warning,
					 .debug_dirs = arg_debug_dirs };
	struct session_opts opts = { 0 };
	struct symbolizer *sym = NULL;
	struct bpf_syms *bpfsyms = NULL;
	struct collector *col = NULL;
	struct session *sess = NULL;
	struct profile *prof = NULL;
	struct rusage child_ru = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t stats[SCORCH_STAT_MAX] = { 0 }, start_real, start, last_drain, last_status = 0;
	char err[512], **cmd = NULL;
	const char *kernel_btf;
	bool tty = isatty(STDERR_FILENO);
	int child_status = -1, r, ret = EXIT_RUNTIME;

	r = parse_args(argc, argv, &cmd);
	if (r)
		return r > 0 ? EXIT_OK : EXIT_USAGE;

	if (check_privileges(arg_quiet))
		return EXIT_RUNTIME;
	kernel_btf = getenv("SCORCH_KERNEL_BTF");
	if (!kernel_btf)
		kernel_btf = "/sys/kernel/btf/vmlinux";
	if (arg_btf && access(arg_btf, R_OK) < 0) {
		log_error("cannot read BTF file '%s': %s", arg_btf, strerror(errno));
		return EXIT_RUNTIME;
	}
	if (!arg_btf && access(kernel_btf, R_OK) < 0) {
		log_error("the kernel has no BTF ('%s': %s): needs CONFIG_DEBUG_INFO_BTF, or --btf",
			  kernel_btf, strerror(errno));
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < arg_npids; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d", (int)arg_pids[i]);
		if (access(path, F_OK) < 0) {
			log_error("pid %d: no such process", (int)arg_pids[i]);
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
	r = output__open(&out, arg_output);
	if (r) {
		log_error("cannot write '%s': %s", arg_output, strerror(-r));
		return EXIT_RUNTIME;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_sigchld;
	sigaction(SIGCHLD, &sa, NULL);

	sopts.ndebug_dirs = arg_ndebug_dirs;
	sopts.debug_file_dwarf = arg_debug_lines;
	/* kernel symbols are kept for the boot; SCORCH_CACHE_DIR= (empty) turns that off */
	sopts.cache_dir =
	    getenv("SCORCH_CACHE_DIR") ? getenv("SCORCH_CACHE_DIR") : "/var/cache/scorch";
	if (!*sopts.cache_dir)
		sopts.cache_dir = NULL;
	phase_mark = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	bpfsyms = bpf_syms__new(); /* without it, kallsyms alone names BPF programs */
	sopts.name_kernel = bpfsyms ? bpf_syms__name : NULL;
	sopts.name_kernel_ctx = bpfsyms;
	sym = symbolizer__new(&sopts);
	col = sym ? collector__new(sym) : NULL;
	if (!col) {
		log_error("out of memory");
		goto out;
	}
	if (cmd) {
		r = child_fork(&child, cmd);
		if (r) {
			log_error("cannot start '%s': %s", cmd[0], strerror(-r));
			goto out;
		}
		arg_pids[0] = child.pid;
		arg_npids = 1;
	}
	opts.freq = arg_freq;
	opts.pids = arg_npids ? arg_pids : NULL;
	opts.npids = arg_npids;
	opts.follow_forks = cmd != NULL;
	opts.drain_interval_s = DRAIN_INTERVAL_S;
	opts.btf_path = arg_btf;
	opts.kernel_btf = kernel_btf;
	opts.cache_dir = sopts.cache_dir;
	/* debugging knob, "COUNTS,STACKS": tiny maps make the loss accounting observable */
	if (getenv("SCORCH_MAP_ENTRIES")) {
		unsigned int c = 0, st = 0;

		if (sscanf(getenv("SCORCH_MAP_ENTRIES"), "%u,%u", &c, &st) >= 1) {
			opts.counts_entries = c;
			opts.stacks_entries = st;
		}
	}
	opts.on_event = on_event;
	opts.on_raw_sample = on_raw_sample;
	opts.ctx = col;
	opts.unwind = arg_unwind;
	opts.stack_copy = arg_stack_copy;
	if (getenv("SCORCH_SAMPLE_RING"))
		opts.sample_ring_bytes = strtoul(getenv("SCORCH_SAMPLE_RING"), NULL, 10);
	sess = session__open(&opts, err, sizeof(err));
	if (!sess) {
		log_error("%s", err);
		goto out;
	}
	if (arg_unwind == SCORCH_UNWIND_AUTO)
		collector__set_fp_hook(col, use_frame_pointers, sess);
	phase_end(PHASE_LOAD);
	start_real = now_ns(CLOCK_REALTIME);
	start = last_drain = now_ns(CLOCK_MONOTONIC);
	if (cmd) {
		r = child_start(&child);
		if (r) {
			log_error("cannot start '%s': %s", cmd[0], strerror(-r));
			goto out;
		}
	}

	while (!stop_signal) {
		uint64_t now = now_ns(CLOCK_MONOTONIC), wake;

		if (arg_duration_ns && now - start >= arg_duration_ns)
			break;
		if (child.pid > 0) {
			pid_t w = wait4(child.pid, &child_status, WNOHANG, &child_ru);

			if (w == child.pid) {
				child.pid = 0;
				break;
			}
		}
		if (now - last_drain >= DRAIN_INTERVAL_S * 1e9) {
			/* as perf does: with -p, the capture ends when every process is gone */
			if (!cmd && arg_npids && !any_alive(arg_pids, arg_npids)) {
				if (!arg_quiet)
					log_warn("all profiled processes exited");
				break;
			}
			collector__next_round(col);
			r = session__drain(sess, collector__drain_ops(col), false);
			if (r) {
				log_error("draining the BPF maps: %s", strerror(-r));
				goto out;
			}
			last_drain = now;
		}
		if (tty && !arg_quiet && now - last_status >= 1000000000ULL) {
			session__stats(sess, stats);
			fprintf(stderr, "\r\033[Kscorch: recording, %.0f s, %" PRIu64 " samples",
				(now - start) / 1e9, stats[SCORCH_STAT_RECORDED]);
			last_status = now;
		}
		/*
		 * Sleep until the next drain or the end of the capture. Process events wake us at
		 * once, and so do signals: SIGCHLD when the command exits (one that lands between
		 * wait4() and the poll is seen at the next drain). Copied stacks are unwound at
		 * least every 100 ms, and sooner when their ring fills.
		 */
		wake = last_drain + (uint64_t)(DRAIN_INTERVAL_S * 1e9);
		if (arg_unwind != SCORCH_UNWIND_FP && now + 100000000ULL < wake)
			wake = now + 100000000ULL;
		if (arg_duration_ns && start + arg_duration_ns < wake)
			wake = start + arg_duration_ns;
		now = now_ns(CLOCK_MONOTONIC);
		r = session__poll(sess, wake > now ? (int)((wake - now + 999999) / 1000000) : 0);
		if (r < 0) {
			log_error("reading process events: %s", strerror(-r));
			goto out;
		}
	}
	if (tty && !arg_quiet)
		fprintf(stderr, "\r\033[K");

	/* no more samples; then events first: snapshots of processes seen last */
	session__stop(sess);
	session__poll(sess, 0);
	collector__next_round(col);
	r = session__drain(sess, collector__drain_ops(col), true);
	if (r) {
		log_error("draining the BPF maps: %s", strerror(-r));
		goto out;
	}
	session__stats(sess, stats);
	if (collector__samples(col) != stats[SCORCH_STAT_RECORDED])
		log_warn("the BPF program recorded %" PRIu64 " samples but %" PRIu64
			 " were drained",
			 stats[SCORCH_STAT_RECORDED], collector__samples(col));
	phase_end(PHASE_CAPTURE);

	if (child.pid > 0) {
		kill(child.pid, SIGTERM);
		if (wait4(child.pid, &child_status, 0, &child_ru) == child.pid)
			child.pid = 0;
	}

	/* debug files from debuginfod servers: after the capture, never while it samples */
	if (arg_debuginfod_ns)
		symbolizer__fetch_debuginfo(sym, arg_debuginfod_ns / 1e9);
	prof =
	    build_profile(col, sym,
			  &(struct build_opts){ .freq = arg_freq,
						.start_ns = start_real,
						.duration_ns = now_ns(CLOCK_MONOTONIC) - start });
	if (!prof) {
		log_error("building the profile: %s", strerror(errno));
		goto out;
	}
	phase_end(PHASE_SYMBOLIZE);
	r = output__commit(&out, prof, arg_format);
	if (r) {
		log_error("cannot write '%s': %s", arg_output, strerror(-r));
		goto out;
	}
	phase_end(PHASE_WRITE);
	if (!arg_quiet)
		print_summary(stats, sym, col, (now_ns(CLOCK_MONOTONIC) - start) / 1e9,
			      session__ncpus(sess), arg_output, cmd ? child_status : -1,
			      cmd ? &child_ru : NULL);
	ret = EXIT_OK;
out:
	if (child.pid > 0 && child.go_fd < 0) {
		kill(child.pid, SIGTERM);
		waitpid(child.pid, NULL, 0);
		child.pid = 0;
	}
	child_abort(&child);
	output__abort(&out);
	profile__free(prof);
	session__free(sess);
	collector__free(col);
	symbolizer__free(sym);
	bpf_syms__free(bpfsyms);
	return ret;
}
