// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * scorch agent: always-on profiling. The BPF session runs for the agent's lifetime; every
 * --profiling-duration the collected samples become one pprof per process, sent to a
 * Parca-compatible server as one WriteRaw (one series per process). Requests go through an
 * on-disk spool, oldest first, from a sender thread that retries with backoff: a server that is
 * away loses nothing (within the spool's bound), and sampling never waits for the network.
 */
#include "build.h"
#include "capture.h"
#include "capture_args.h"
#include "cli.h"
#include "config.h"
#include "debuginfo.h"
#include "fileio.h"
#include "grpc.h"
#include "hashmap.h"
#include "http.h"
#include "metrics.h"
#include "model.h"
#include "notify.h"
#include "pprof.h"
#include "profile.h"
#include "request.h"
#include "sender.h"
#include "spool.h"
#include "symbolizer.h"
#include "unwind.h"
#include "util.h"
#include "window.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_INTERVAL_S 1.0
/* copied stacks are unwound, and captures asked for over HTTP started, at least this often */
#define UNWIND_POLL_MS 250
#define HTTP_POLL_MS 250
/* intervals between two clean-ups of the file cache (unmapped files, touched file pages) */
#define FILE_IDLE_INTERVALS 6
#define MAX_LABELS 64
/*
 * Symbol tables of all cached files (the library's default, 512 MiB, suits record): the agent
 * runs within MemoryMax=128M (docs/deploy), its own steady footprint about 30 MB.
 */
#define AGENT_SYMBOL_BYTES ((size_t)32 << 20)
/*
 * At exit, the sender gets SENDER_EXIT_GRACE_MS (from the signal) to deliver what is spooled,
 * then SENDER_EXIT_CANCEL_MS after cancelling its call; the debuginfo uploader, cancelled at
 * once, is waited for as long: SIGTERM ends the agent within 5 s, whatever the network does.
 */
#define EXIT_WAIT_NS ((SENDER_EXIT_GRACE_MS + SENDER_EXIT_CANCEL_MS) * 1000000ULL)
/* /healthz fails when the main loop has not drained for 3 intervals, and never sooner than 5 s */
#define STALL_INTERVALS 3
#define STALL_MIN_NS 5000000000ULL

static struct {
	const char *address;
	bool insecure;
	const char *token_file;
	const char *ca_file;
	const char *node;
	uint64_t duration_ns;
	struct series_label labels[MAX_LABELS];
	size_t nlabels;
	const char *spool_dir;
	uint64_t spool_max;
	const char *output_dir;
	unsigned int output_max;
	struct capture_args cap; /* -F, -p, --unwind, --stack-copy */
	bool verbose;
	const char *http_address;
	const char *http_token_file;
	const char *cgroup;
	bool debuginfo_upload;
	bool skip_verify; /* --remote-store-insecure-skip-verify */
	const char *client_cert, *client_key; /* mutual TLS */
	bool all_sample_types; /* series carry cpu/nanoseconds beside samples/count */
} arg = {
	.duration_ns = 10000000000ULL,
	.spool_dir = "/var/lib/scorch/spool",
	.spool_max = 256ULL << 20,
	.output_max = 10,
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void agent_usage(FILE *f)
{
	fputs(
	    "Usage: scorch agent [OPTIONS]\n"
	    "\n"
	    "Profile the whole machine (or -p) continuously and every --profiling-duration\n"
	    "push one pprof per process to a Parca-compatible server (WriteRaw), and/or write\n"
	    "the interval's profile to --output-dir. Profiles that cannot be delivered wait in\n"
	    "an on-disk spool and go out oldest first when the server is back, also after a\n"
	    "restart. SIGINT/SIGTERM close the current interval and deliver or spool it.\n"
	    "\n"
	    "Options:\n"
	    "      --remote-store-address HOST:PORT   Parca server (gRPC)\n"
	    "      --remote-store-insecure            cleartext HTTP/2 (h2c) instead of TLS\n"
	    "      --remote-store-bearer-token-file FILE\n"
	    "                                         send 'authorization: Bearer <token>'\n"
	    "      --remote-store-ca-file FILE        trust this CA besides the system's\n"
	    "      --remote-store-insecure-skip-verify\n"
	    "                                         TLS without checking the server's\n"
	    "                                         certificate (tests only)\n"
	    "      --remote-store-client-cert-file FILE, --remote-store-client-key-file FILE\n"
	    "                                         mutual TLS: present this certificate\n"
	    "                                         (PEM) and its key\n"
	    "      --node NAME                        the node label (default: the hostname)\n"
	    "      --profiling-duration TIME          interval (default 10s; 500ms, 1m30s)\n"
	    "      --label KEY=VALUE                  external label on every series (repeatable;\n"
	    "                                         --metadata-external-labels K=V;K=V too)\n"
	    "      --all-sample-types                 series carry cpu/nanoseconds beside\n"
	    "                                         samples/count (default: samples/count\n"
	    "                                         with the period, one series per process\n"
	    "                                         as Parca Agent sends)\n"
	    "      --debuginfo-upload                 upload executables with a build-id that\n"
	    "                                         appear in profiles to Parca's\n"
	    "                                         DebuginfoService (each once per run)\n"
	    "      --spool-dir DIR                    default /var/lib/scorch/spool\n"
	    "      --spool-max-bytes BYTES            spool bound, the oldest dropped beyond it\n"
	    "                                         (default 268435456)\n"
	    "      --output-dir DIR                   also write each interval as a pprof file\n"
	    "      --output-max-files N               keep the newest N there (default 10)\n",
	    f);
	capture_args__usage(CAPTURE_SET_AGENT, f);
	fputs(
	    "      --profiling-cpu-sampling-frequency HZ\n"
	    "                                         the same as -F (Parca Agent's name)\n"
	    "      --cgroup PATH                      only processes in this cgroup (v2) or below\n"
	    "                                         (/sys/fs/cgroup/... or relative to it)\n"
	    "      --config FILE                      settings in YAML, the long option names\n"
	    "                                         as keys (labels: {k: v}); the command\n"
	    "                                         line overrides them (--config-path too)\n"
	    "      --http-address [ADDR]:PORT         serve /metrics, /healthz (/healthy,\n"
	    "                                         /ready) and\n"
	    "                                         /debug/pprof/profile?seconds=N; on\n"
	    "                                         127.0.0.1 unless ADDR says (0.0.0.0: all;\n"
	    "                                         IPv6 as [::1]:7071)\n"
	    "      --http-bearer-token-file FILE      require 'Authorization: Bearer <token>',\n"
	    "                                         the file's line, on all but /healthz\n"
	    "  -v, --verbose                          log every interval\n"
	    "      --log-level LEVEL                  error, warn, info (default) or debug\n"
	    "                                         (debug: every interval, as -v)\n"
	    "      --log-format FORMAT                text (default), logfmt or json (one\n"
	    "                                         object a line: level, ts, caller, msg)\n"
	    "      --version                          show the version\n"
	    "  -h, --help                             show this help\n"
	    "\n"
	    "Examples:\n"
	    "  scorch agent --remote-store-address parca:7070 --remote-store-insecure\n"
	    "  scorch agent --output-dir /var/tmp/profiles --profiling-duration 1m\n"
	    "  scorch agent --output-dir /var/tmp/profiles --http-address :7071\n",
	    f);
}

static bool valid_label_name(const char *s, size_t len)
{
	if (!len || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

/* One KEY=VALUE external label, from flag. */
static int add_label(char *kv, const char *flag)
{
	char *eq = strchr(kv, '=');

	if (!eq || !valid_label_name(kv, eq - kv) || arg.nlabels >= MAX_LABELS) {
		log_error(
		    "invalid %s '%s': expected KEY=VALUE with KEY like [a-zA-Z_][a-zA-Z0-9_]*",
		    flag, kv);
		return -EINVAL;
	}
	*eq = 0;
	arg.labels[arg.nlabels++] = (struct series_label){ kv, eq + 1 };
	return 0;
}

static int parse_args(int argc, char **argv)
{
	enum {
		OPT_ADDRESS = 0x100,
		OPT_INSECURE,
		OPT_TOKEN,
		OPT_CA,
		OPT_NODE,
		OPT_DURATION,
		OPT_LABEL,
		OPT_SPOOL_DIR,
		OPT_SPOOL_MAX,
		OPT_OUTPUT_DIR,
		OPT_OUTPUT_MAX,
		OPT_HTTP,
		OPT_HTTP_TOKEN,
		OPT_CONFIG,
		OPT_CGROUP,
		OPT_DEBUGINFO_UPLOAD,
		OPT_EXTERNAL_LABELS,
		OPT_CPU_FREQ,
		OPT_SKIP_VERIFY,
		OPT_CLIENT_CERT,
		OPT_CLIENT_KEY,
		OPT_LOG_LEVEL,
		OPT_LOG_FORMAT,
		OPT_VERSION,
		OPT_ALL_SAMPLE_TYPES,
	};
	struct option opts[56] = {
		{ "remote-store-address", required_argument, NULL, OPT_ADDRESS },
		{ "remote-store-insecure", no_argument, NULL, OPT_INSECURE },
		{ "remote-store-bearer-token-file", required_argument, NULL, OPT_TOKEN },
		{ "remote-store-ca-file", required_argument, NULL, OPT_CA },
		{ "node", required_argument, NULL, OPT_NODE },
		{ "profiling-duration", required_argument, NULL, OPT_DURATION },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "spool-dir", required_argument, NULL, OPT_SPOOL_DIR },
		{ "spool-max-bytes", required_argument, NULL, OPT_SPOOL_MAX },
		{ "output-dir", required_argument, NULL, OPT_OUTPUT_DIR },
		{ "output-max-files", required_argument, NULL, OPT_OUTPUT_MAX },
		{ "http-address", required_argument, NULL, OPT_HTTP },
		{ "http-bearer-token-file", required_argument, NULL, OPT_HTTP_TOKEN },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "config-path", required_argument, NULL, OPT_CONFIG },
		{ "metadata-external-labels", required_argument, NULL, OPT_EXTERNAL_LABELS },
		{ "profiling-cpu-sampling-frequency", required_argument, NULL, OPT_CPU_FREQ },
		{ "remote-store-insecure-skip-verify", no_argument, NULL, OPT_SKIP_VERIFY },
		{ "remote-store-client-cert-file", required_argument, NULL, OPT_CLIENT_CERT },
		{ "remote-store-client-key-file", required_argument, NULL, OPT_CLIENT_KEY },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "all-sample-types", no_argument, NULL, OPT_ALL_SAMPLE_TYPES },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "debuginfo-upload", no_argument, NULL, OPT_DEBUGINFO_UPLOAD },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char shortopts[64] = ":vh";
	int c, r;

	if (capture_args__options(CAPTURE_SET_AGENT, opts, ARRAY_SIZE(opts), shortopts,
				  sizeof(shortopts)))
		return -E2BIG;
	opterr = 0;
	optind = 1;
	while ((c = getopt_exact(argc, argv, shortopts, opts, "agent")) != -1) {
		uint64_t v;

		r = capture_args__parse(&arg.cap, CAPTURE_SET_AGENT, c, optarg);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		switch (c) {
		case OPT_ADDRESS:
			if (!*optarg || !strchr(optarg, ':')) {
				log_error("invalid --remote-store-address '%s': expected HOST:PORT",
					  optarg);
				return -EINVAL;
			}
			arg.address = optarg;
			break;
		case OPT_INSECURE:
			arg.insecure = true;
			break;
		case OPT_TOKEN:
			arg.token_file = optarg;
			break;
		case OPT_CA:
			arg.ca_file = optarg;
			break;
		case OPT_NODE:
			if (!*optarg) {
				log_error("empty --node");
				return -EINVAL;
			}
			arg.node = optarg;
			break;
		case OPT_DURATION:
			if (parse_duration_ns(optarg, &arg.duration_ns) ||
			    arg.duration_ns < 100000000ULL) {
				log_error(
				    "invalid --profiling-duration '%s': at least 100ms (500ms, "
				    "10s, 1m)",
				    optarg);
				return -EINVAL;
			}
			break;
		case OPT_LABEL:
			if (add_label(optarg, "--label"))
				return -EINVAL;
			break;
		case OPT_EXTERNAL_LABELS:
			/* Parca Agent's form: KEY=VALUE;KEY=VALUE */
			for (char *save = NULL, *kv = strtok_r(optarg, ";", &save); kv;
			     kv = strtok_r(NULL, ";", &save))
				if (add_label(kv, "--metadata-external-labels"))
					return -EINVAL;
			break;
		case OPT_CPU_FREQ:
			if (capture_args__parse(&arg.cap, CAPTURE_SET_AGENT, 'F', optarg) < 0)
				return -EINVAL;
			break;
		case OPT_SKIP_VERIFY:
			arg.skip_verify = true;
			break;
		case OPT_CLIENT_CERT:
			arg.client_cert = optarg;
			break;
		case OPT_CLIENT_KEY:
			arg.client_key = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_set(optarg, NULL))
				return -EINVAL;
			/* debug: every interval is logged, as -v does */
			if (!strcmp(optarg, "debug"))
				arg.verbose = true;
			break;
		case OPT_LOG_FORMAT:
			if (log_set(NULL, optarg))
				return -EINVAL;
			break;
		case OPT_VERSION:
			printf("scorch %s\n", SCORCH_VERSION);
			return 1;
		case OPT_ALL_SAMPLE_TYPES:
			arg.all_sample_types = true;
			break;
		case OPT_SPOOL_DIR:
			arg.spool_dir = optarg;
			break;
		case OPT_SPOOL_MAX:
			if (parse_u64(optarg, 10, 4096, UINT64_MAX, &arg.spool_max)) {
				log_error("invalid --spool-max-bytes '%s': at least 4096", optarg);
				return -EINVAL;
			}
			break;
		case OPT_OUTPUT_DIR:
			arg.output_dir = optarg;
			break;
		case OPT_OUTPUT_MAX:
			if (parse_u64(optarg, 10, 1, 1000000, &v)) {
				log_error("invalid --output-max-files '%s'", optarg);
				return -EINVAL;
			}
			arg.output_max = v;
			break;
		case OPT_HTTP:
			arg.http_address = optarg;
			break;
		case OPT_HTTP_TOKEN:
			arg.http_token_file = optarg;
			break;
		case OPT_DEBUGINFO_UPLOAD:
			arg.debuginfo_upload = true;
			break;
		case OPT_CGROUP:
			arg.cgroup = optarg;
			break;
		case OPT_CONFIG:
			break; /* read before the command line, by parse_all() */
		case 'v':
			arg.verbose = true;
			break;
		case 'h':
			agent_usage(stdout);
			return 1;
		default: /* said by getopt_exact() */
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Settings from --config FILE first (YAML, the long option names), then the command line. */
static int parse_all(int argc, char **argv, char ***ret_config_args)
{
	static const char *const value_keys[] = {
		"remote-store-address",
		"remote-store-bearer-token-file",
		"remote-store-ca-file",
		"node",
		"profiling-duration",
		"spool-dir",
		"spool-max-bytes",
		"output-dir",
		"output-max-files",
		"freq",
		"pid",
		"unwind",
		"stack-copy",
		"http-address",
		"http-bearer-token-file",
		"cgroup",
		"metadata-external-labels",
		"profiling-cpu-sampling-frequency",
		"remote-store-client-cert-file",
		"remote-store-client-key-file",
		"log-level",
		"log-format",
		NULL,
	};
	static const char *const flag_keys[] = { "remote-store-insecure",
						 "remote-store-insecure-skip-verify",
						 "verbose",
						 "debug-lines",
						 "debuginfo-upload",
						 "all-sample-types",
						 NULL };
	static const char *const map_keys[] = { "labels", NULL };
	const char *config = NULL;
	char err[512], **cargs = NULL;
	int cargc = 0, r;

	capture_args__init(&arg.cap);
	/* Parca symbolizes what the agent uploads: lines here only when asked */
	arg.cap.debug_lines = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		/* --config-path is Parca Agent's name for it */
		if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "--config-path")) &&
		    i + 1 < argc)
			config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
		else if (!strncmp(argv[i], "--config-path=", 14))
			config = argv[i] + 14;
	}
	*ret_config_args = NULL;
	if (config) {
		r = config__to_args(config, value_keys, flag_keys, map_keys, &cargs, &cargc, err,
				    sizeof(err));
		if (r) {
			log_error("%s", err);
			return r;
		}
		/* getopt wants a program name first */
		memmove(cargs + 1, cargs, (cargc + 1) * sizeof(*cargs));
		cargs[0] = strdup("config");
		*ret_config_args = cargs;
		if (!cargs[0])
			return -ENOMEM;
		r = parse_args(cargc + 1, cargs);
		if (r) {
			log_error("(in the configuration '%s')", config);
			return r;
		}
	}
	r = parse_args(argc, argv);
	if (r)
		return r;
	if (!arg.address && !arg.output_dir && !arg.http_address) {
		log_error("nowhere to send profiles: give --remote-store-address, --output-dir "
			  "and/or --http-address");
		return -EINVAL;
	}
	if (arg.http_token_file && !arg.http_address) {
		log_error("--http-bearer-token-file needs --http-address");
		return -EINVAL;
	}
	if (!arg.client_cert != !arg.client_key) {
		log_error("mutual TLS needs both --remote-store-client-cert-file and "
			  "--remote-store-client-key-file");
		return -EINVAL;
	}
	if ((arg.client_cert || arg.skip_verify) && arg.insecure) {
		log_error("--remote-store-insecure is cleartext: no TLS to verify or to present a "
			  "certificate in");
		return -EINVAL;
	}
	for (int i = 0; i < 2; i++) {
		const char *f = i ? arg.client_key : arg.client_cert;

		if (f && access(f, R_OK)) {
			log_error("cannot read '%s': %s", f, strerror(errno));
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- one interval -> a WriteRaw request ---- */

/*
 * The interval's WriteRaw request: one series per process, each a gzip'ed pprof of that
 * process's samples. *ret_len 0 (and no buffer) when there were no samples.
 */
static int build_request(const struct process_profile *procs, size_t nprocs, struct symbolizer *sym,
			 struct debuginfo_uploader *up, uint8_t **ret, size_t *ret_len,
			 uint64_t *ret_series)
{
	struct request_opts ro = { .node = arg.node, .extra = arg.labels, .nextra = arg.nlabels };
	struct request *req = request__new(&ro);
	int r = 0;

	*ret = NULL;
	*ret_len = 0;
	*ret_series = 0;
	if (!req)
		return -ENOMEM;
	for (size_t i = 0; !r && i < nprocs; i++) {
		const struct process_profile *p = &procs[i];
		const char *exe = NULL, *cgroup = NULL;
		void *pprof;
		size_t plen;

		/*
		 * one sample type a series, as Parca Agent sends them: Parca stores a series per
		 * sample type, and cpu/nanoseconds is samples/count times the period
		 */
		if (!arg.all_sample_types && profile__value_index(p->profile, "samples") >= 0)
			profile__keep_value(p->profile,
					    (uint32_t)profile__value_index(p->profile, "samples"));
		/* the fastest gzip: these go out every interval, and the spool compresses again */
		r = pprof__encode_level(p->profile, 1, &pprof, &plen);
		if (up)
			debuginfo_uploader__queue(up, sym, p->profile, p->pid, p->seq);
		if (r)
			break;
		symbolizer__process_info(sym, p->pid, p->seq, &exe, &cgroup);
		r = request__add_series(req, p->pid, p->comm, exe, cgroup, pprof, plen);
	}
	if (!r)
		r = request__pack(req, ret, ret_len);
	if (!r)
		*ret_series = request__series(req);
	request__free(req);
	return r;
}

/* ---- --output-dir ---- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keep the newest arg.output_max files named scorch-*.pb.gz (names sort by time). */
static void rotate_output(void)
{
	DIR *d = opendir(arg.output_dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "scorch-", 7) || !strstr(de->d_name, ".pb.gz"))
			continue;
		if (grow_array((void **)&names, &cap, n + 1, sizeof(*names)))
			break;
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	if (d)
		closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (i + arg.output_max < n) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s/%s", arg.output_dir, names[i]);
			unlink(path);
		}
		free(names[i]);
	}
	free(names);
}

/* The interval's profile of the whole machine, as built for the series, into --output-dir. */
static int write_output(const struct profile *prof, uint64_t start_ns)
{
	char path[PATH_MAX];
	struct tm tm;
	time_t t = start_ns / 1000000000ULL;
	void *buf = NULL;
	size_t len;
	int r;

	gmtime_r(&t, &tm);
	snprintf(path, sizeof(path), "%s/scorch-%04d%02d%02dT%02d%02d%02d.%03uZ.pb.gz",
		 arg.output_dir, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (unsigned int)(start_ns / 1000000 % 1000));
	r = pprof__encode(prof, true, &buf, &len);
	if (!r)
		r = write_file_atomic(path, buf, len, 0600);
	free(buf);
	if (!r)
		rotate_output();
	return r;
}

struct totals {
	uint64_t intervals, samples, series, empty;
	uint64_t ends[UNWIND_END_MAX]; /* of the intervals closed so far */
};

/* ---- what the main loop shares with the HTTP threads ---- */

enum tap_state { TAP_IDLE, TAP_REQUESTED, TAP_RUNNING, TAP_DONE };

struct agent {
	struct capture *capture;
	struct window *interval; /* the interval's samples */
	struct window *tap; /* a /debug/pprof/profile capture's, while one runs */
	struct symbolizer *sym;
	struct sender *sender;

	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t tap_done;
	enum tap_state tap_state;
	unsigned int tap_seconds;
	uint64_t tap_start_real, tap_start_mono;
	void *tap_buf;
	size_t tap_len;
	bool stopping; /* no more captures: the main loop is gone */
	/*
	 * CLOCK_MONOTONIC of the last drain, for /healthz. Written under the lock, read without it
	 * (atomically): the health check must answer even while the main loop is stuck holding it.
	 */
	uint64_t last_drain_ns;
	/* metrics, as of the last drain */
	uint64_t stats[SCORCH_STAT_MAX];
	uint64_t ends[UNWIND_END_MAX]; /* unwinds of all intervals so far, by how they ended */
	uint64_t intervals, processes;
};

/* HTTP thread: ask the main loop for a capture and wait for it. */
static int http_profile(void *ctx, unsigned int seconds, void **ret, size_t *ret_len)
{
	struct agent *a = ctx;
	struct timespec until;
	int status = 0;

	pthread_mutex_lock(&a->lock);
	if (a->tap_state != TAP_IDLE || a->stopping) {
		pthread_mutex_unlock(&a->lock);
		return 503;
	}
	a->tap_state = TAP_REQUESTED;
	a->tap_seconds = seconds;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds + 30;
	while (a->tap_state != TAP_DONE)
		if (pthread_cond_timedwait(&a->tap_done, &a->lock, &until) == ETIMEDOUT)
			break;
	if (a->tap_state == TAP_DONE && a->tap_buf) {
		*ret = a->tap_buf;
		*ret_len = a->tap_len;
		a->tap_buf = NULL;
		status = 0;
	} else {
		status = 500;
	}
	/* a capture still running is finished by the main loop, which then frees it */
	if (a->tap_state == TAP_DONE)
		a->tap_state = TAP_IDLE;
	pthread_mutex_unlock(&a->lock);
	return status;
}

/* Main loop: start a requested capture, or finish one whose time is up. */
static void tap_step(struct agent *a)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	struct profile *prof;
	void *buf = NULL;
	size_t len = 0;
	int r;

	pthread_mutex_lock(&a->lock);
	if (a->tap_state == TAP_REQUESTED && !a->tap) {
		a->tap = capture__open_window(a->capture);
		a->tap_start_real = now_ns(CLOCK_REALTIME);
		a->tap_start_mono = now;
		a->tap_state = a->tap ? TAP_RUNNING : TAP_DONE;
		if (!a->tap)
			pthread_cond_broadcast(&a->tap_done);
	}
	if (!a->tap || now - a->tap_start_mono < a->tap_seconds * 1000000000ULL) {
		pthread_mutex_unlock(&a->lock);
		return;
	}
	pthread_mutex_unlock(&a->lock);
	/* everything up to now (into the interval's window too): drain, then build */
	r = capture__drain(a->capture);
	prof = r ? NULL
		 : build_profile(a->tap, a->sym,
				 &(struct build_opts){ .freq = arg.cap.freq,
						       .start_ns = a->tap_start_real,
						       .duration_ns = now - a->tap_start_mono });
	if (prof && pprof__encode(prof, true, &buf, &len))
		buf = NULL;
	profile__free(prof);
	capture__close_window(a->capture, a->tap);
	a->tap = NULL;
	pthread_mutex_lock(&a->lock);
	if (a->tap_state == TAP_RUNNING) {
		a->tap_buf = buf;
		a->tap_len = len;
		a->tap_state = TAP_DONE;
		pthread_cond_broadcast(&a->tap_done);
	} else {
		/* the requester gave up */
		free(buf);
		a->tap_state = TAP_IDLE;
	}
	pthread_mutex_unlock(&a->lock);
}

/* The main loop's figures, for /metrics, and when it last drained (at drained_ns), for /healthz. */
static void publish(struct agent *a, const struct totals *t, uint64_t drained_ns)
{
	struct symbolizer_stats ss;
	uint64_t st[SCORCH_STAT_MAX];
	const uint64_t *ends = window__unwind_ends(a->interval);

	capture__stats(a->capture, st);
	symbolizer__stats(a->sym, &ss);
	pthread_mutex_lock(&a->lock);
	memcpy(a->stats, st, sizeof(st));
	a->intervals = t->intervals;
	a->processes = ss.live_processes;
	for (int i = 0; i < UNWIND_END_MAX; i++)
		a->ends[i] = t->ends[i] + ends[i];
	__atomic_store_n(&a->last_drain_ns, drained_ns, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&a->lock);
}

/* How long the sampling loop may go without draining before it counts as stuck. */
static uint64_t stall_limit_ns(void)
{
	uint64_t limit = STALL_INTERVALS * arg.duration_ns;

	return limit < STALL_MIN_NS ? STALL_MIN_NS : limit;
}

/*
 * The one rule of health, for /healthz and systemd's watchdog: the loop drained the BPF maps
 * within the limit. Never blocks; false with a one-line reason.
 */
static bool loop_healthy(struct agent *a, char *why, size_t size)
{
	uint64_t last = __atomic_load_n(&a->last_drain_ns, __ATOMIC_RELAXED);
	uint64_t now = now_ns(CLOCK_MONOTONIC), limit = stall_limit_ns();

	if (now < last || now - last <= limit)
		return true;
	snprintf(why, size,
		 "the sampling loop has not drained the BPF maps for %.1f s (limit %.1f s)",
		 (now - last) / 1e9, limit / 1e9);
	return false;
}

/* HTTP polling thread, for /healthz. */
static bool http_healthy(void *ctx, char *why, size_t size)
{
	return loop_healthy(ctx, why, size);
}

/* A message to systemd; a failure is said once (the unit's watchdog will then act). */
static void notify(struct notifier *n, const char *msg)
{
	static bool warned;
	int r;

	if (!n)
		return;
	r = notifier__send(n, msg);
	if (r && !warned) {
		log_warn("cannot notify systemd through $NOTIFY_SOCKET: %s", strerror(-r));
		warned = true;
	}
}

/* Main loop, after a drain: the watchdog is fed while the loop is healthy, as /healthz says. */
static void feed_watchdog(struct agent *a, struct notifier *n)
{
	char why[160];

	if (n && loop_healthy(a, why, sizeof(why)))
		notify(n, "WATCHDOG=1");
}

static char *http_metrics(void *ctx, const struct http_stats *hs)
{
	struct agent *a = ctx;
	struct metrics m = { .http = *hs };
	uint64_t st[SCORCH_STAT_MAX];
	struct rusage ru;
	long pages = 0, rss_pages = 0;
	FILE *f;

	pthread_mutex_lock(&a->lock);
	memcpy(st, a->stats, sizeof(st));
	memcpy(m.unwind_ends, a->ends, sizeof(m.unwind_ends));
	m.intervals = a->intervals;
	m.tracked_processes = a->processes;
	pthread_mutex_unlock(&a->lock);
	if (a->sender) {
		struct sender_stats ss;

		sender__stats(a->sender, &ss, &m.spool);
		m.profiles_sent = ss.sent;
		m.send_failures = ss.failed;
		m.profiles_rejected = ss.rejected;
	}
	getrusage(RUSAGE_SELF, &ru);
	f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss_pages) != 2)
			rss_pages = 0;
		fclose(f);
	}
	m.program_runs = st[SCORCH_STAT_RUNS];
	m.samples = st[SCORCH_STAT_RECORDED];
	m.idle_samples = st[SCORCH_STAT_IDLE];
	m.filtered_samples = st[SCORCH_STAT_FILTERED];
	m.lost_counts_full = st[SCORCH_STAT_LOST_COUNTS_FULL];
	m.lost_kstack_full = st[SCORCH_STAT_LOST_KSTACK_FULL];
	m.lost_ustack_full = st[SCORCH_STAT_LOST_USTACK_FULL];
	m.lost_kstack_fault = st[SCORCH_STAT_LOST_KSTACK_FAULT];
	m.lost_ustack_fault = st[SCORCH_STAT_LOST_USTACK_FAULT];
	m.lost_ustack_copy = st[SCORCH_STAT_LOST_USTACK_COPY];
	m.cpu_seconds = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
			(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	m.resident_bytes = (uint64_t)rss_pages * (uint64_t)sysconf(_SC_PAGESIZE);
	return metrics__format(&m);
}

/* Messages of the sender and the debuginfo uploader. */
static void on_service_log(void *ctx, enum uploader_level level, const char *msg)
{
	(void)ctx;
	if (level == UPLOADER_ERROR)
		log_error("%s", msg);
	else if (level == UPLOADER_WARN)
		log_warn("%s", msg);
	else
		log_info("%s", msg);
}

static void on_symbolizer_warning(void *ctx, const char *msg)
{
	(void)ctx;
	log_warn("%s", msg);
}

/* Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on hybrid systems). */
static int cgroup2_mount(char *ret, size_t size)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char dev[256], dir[PATH_MAX], type[64];
	int r = -ENOENT;

	while (f && fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "cgroup2")) {
			snprintf(ret, size, "%s", dir);
			r = 0;
			break;
		}
	if (f)
		fclose(f);
	return r;
}

/* SCORCH_GRPC_DEBUG: libcurl's verbose output, the secrets redacted by grpc.c. */
static void on_grpc_debug(void *ctx, const char *line)
{
	(void)ctx;
	log_info("grpc: %s", line);
}

char *read_bearer_token(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int r = read_file(path, 8192, &buf, &len);

	if (r) {
		log_error("cannot read the bearer token file '%s': %s", path, strerror(-r));
		return NULL;
	}
	while (len && isspace((unsigned char)buf[len - 1]))
		buf[--len] = 0;
	if (!len || strpbrk(buf, "\r\n")) {
		log_error("bearer token file '%s' must hold one non-empty line", path);
		explicit_bzero(buf, len);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Close the interval: one request into the spool, one file into --output-dir. */
static void close_interval(struct agent *a, struct debuginfo_uploader *up, uint64_t start_real,
			   uint64_t start_mono, struct totals *t)
{
	struct build_opts bo = { .freq = arg.cap.freq,
				 .start_ns = start_real,
				 .duration_ns = now_ns(CLOCK_MONOTONIC) - start_mono };
	uint64_t samples = window__samples(a->interval), nseries = 0;
	struct sender *snd = a->sender;
	struct process_profile *procs = NULL;
	struct profile *all = NULL;
	size_t nprocs = 0;
	uint8_t *req = NULL;
	size_t len = 0;
	int r;

	t->intervals++;
	t->samples += samples;
	for (int i = 0; i < UNWIND_END_MAX; i++)
		t->ends[i] += window__unwind_ends(a->interval)[i];
	if (!samples) {
		t->empty++;
		capture__next_interval(a->capture, a->interval);
		return;
	}
	/* built once: the machine's profile for --output-dir, split into the series */
	r = snd || arg.output_dir
		? build_profiles(a->interval, a->sym, &bo, arg.output_dir ? &all : NULL,
				 snd ? &procs : NULL, &nprocs)
		: 0;
	if (r)
		log_error("building the interval's profiles: %s", strerror(-r));
	if (!r && snd) {
		r = build_request(procs, nprocs, a->sym, up, &req, &len, &nseries);
		if (r)
			log_error("building the interval's profiles: %s", strerror(-r));
		else if ((r = sender__put(snd, req, len)) < 0)
			log_error("cannot spool the interval's profiles: %s", strerror(-r));
		free(req);
		t->series += nseries;
	}
	process_profiles__free(procs, nprocs);
	if (all && (r = write_output(all, bo.start_ns)))
		log_error("cannot write to '%s': %s", arg.output_dir, strerror(-r));
	profile__free(all);
	if (arg.verbose)
		log_info("interval %" PRIu64 ": %" PRIu64 " samples, %" PRIu64 " processes",
			 t->intervals, samples, nseries);
	capture__next_interval(a->capture, a->interval);
	/*
	 * What the interval's profiles took goes back to the system, so RSS stays flat; files of
	 * programs gone for a while go too, and the file pages lookups touched (every interval
	 * they would be faulted in again at once: measurably more CPU).
	 */
	malloc_trim(0);
	if (t->intervals % FILE_IDLE_INTERVALS == 0)
		symbolizer__expire(a->sym, 1);
	/* ELF files after the first interval (the start touches the most), then every third */
	symbolizer__release_pages(a->sym, t->intervals % 3 == 1);
}

int cmd_agent(int argc, char **argv)
{
	struct capture_opts opts = { .drain_interval_s = DRAIN_INTERVAL_S,
				     .unwind_poll_ms = UNWIND_POLL_MS,
				     .max_symbol_bytes = AGENT_SYMBOL_BYTES,
				     .warn = on_symbolizer_warning };
	struct sigaction sa = { .sa_handler = on_signal };
	struct spool *spool = NULL;
	struct grpc_client *client = NULL, *up_client = NULL;
	struct sender *sender = NULL;
	struct capture *capture = NULL;
	struct http_server *http = NULL;
	struct notifier *notifier = NULL;
	struct debuginfo_uploader *uploader = NULL;
	struct agent a = { .lock = PTHREAD_MUTEX_INITIALIZER,
			   .tap_done = PTHREAD_COND_INITIALIZER };
	struct totals totals = { 0 };
	uint64_t stats[SCORCH_STAT_MAX] = { 0 }, start_real, start_mono;
	char hostname[256], err[512], *token = NULL, *http_token = NULL, **config_args = NULL;
	int cgroup_fd = -1;
	bool sender_abandoned = false, uploader_abandoned = false;
	uint64_t stop_ns = 0;
	int r, ret = EXIT_RUNTIME;

	r = parse_all(argc, argv, &config_args);
	if (r) {
		config__free_args(config_args);
		return r > 0 ? EXIT_OK : EXIT_USAGE;
	}
	if (check_privileges(false))
		goto out;
	notifier = notifier__from_env();
	if (!notifier && errno)
		log_warn(
		    "cannot use $NOTIFY_SOCKET '%s' (%s): systemd will not hear from the agent",
		    getenv("NOTIFY_SOCKET"), strerror(errno));
	if (!arg.node) {
		if (gethostname(hostname, sizeof(hostname)))
			snprintf(hostname, sizeof(hostname), "unknown");
		hostname[sizeof(hostname) - 1] = 0;
		arg.node = hostname;
	}
	if (arg.token_file && !(token = read_bearer_token(arg.token_file)))
		return EXIT_RUNTIME;
	if (arg.http_token_file && !(http_token = read_bearer_token(arg.http_token_file)))
		goto out;
	/* whole-machine profiles: a directory only we can write, files only we can read */
	if (arg.output_dir && (r = ensure_private_dir(arg.output_dir))) {
		log_error("cannot use '%s' for profiles: %s", arg.output_dir,
			  r == -EPERM ? "not a directory of ours that only we can write"
				      : strerror(-r));
		goto out;
	}
	if (arg.address) {
		struct grpc_opts g = { .address = arg.address,
				       .insecure = arg.insecure,
				       .ca_file = arg.ca_file,
				       .insecure_skip_verify = arg.skip_verify,
				       .client_cert_file = arg.client_cert,
				       .client_key_file = arg.client_key,
				       .bearer_token = token,
				       .timeout_ms = 10000,
				       .debug =
					   getenv("SCORCH_GRPC_DEBUG") ? on_grpc_debug : NULL };

		spool = spool__open(arg.spool_dir, arg.spool_max);
		if (!spool) {
			log_error("cannot open the spool '%s': %s", arg.spool_dir, strerror(errno));
			goto out;
		}
		client = grpc_client__new(&g);
		if (!client) {
			log_error("cannot set up the connection to '%s'%s", arg.address,
				  arg.ca_file ? " (is the CA file readable?)" : "");
			goto out;
		}
		if (arg.debuginfo_upload) {
			/* a connection of its own: a large upload never delays a profile */
			g.timeout_ms = 10000;
			up_client = grpc_client__new(&g);
			if (!up_client) {
				log_error("cannot set up the debuginfo uploader");
				goto out;
			}
		}
	} else if (arg.debuginfo_upload) {
		log_error("--debuginfo-upload needs --remote-store-address");
		goto out;
	}
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
		token = NULL;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * One malloc arena for all threads: a thread's own arena keeps what it freed resident, and
	 * the agent's threads allocate little and rarely.
	 */
	mallopt(M_ARENA_MAX, 1);
	srand(getpid() ^ (unsigned int)now_ns(CLOCK_MONOTONIC));

	opts.cache_dir =
	    getenv("SCORCH_CACHE_DIR") ? getenv("SCORCH_CACHE_DIR") : "/var/cache/scorch";
	if (!*opts.cache_dir)
		opts.cache_dir = NULL;
	if (arg.cgroup) {
		char path[PATH_MAX + 64], mnt[PATH_MAX];

		if (cgroup2_mount(mnt, sizeof(mnt))) {
			log_error("--cgroup needs the cgroup v2 hierarchy, which is not mounted");
			goto out;
		}
		/* a directory under the cgroup2 mount, or a path relative to it (as in
		 * /proc/PID/cgroup) */
		if (!strncmp(arg.cgroup, mnt, strlen(mnt)) &&
		    (arg.cgroup[strlen(mnt)] == '/' || !arg.cgroup[strlen(mnt)]))
			snprintf(path, sizeof(path), "%s", arg.cgroup);
		else
			snprintf(path, sizeof(path), "%s/%s", mnt,
				 arg.cgroup + (arg.cgroup[0] == '/'));
		cgroup_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cgroup_fd < 0) {
			log_error("cannot open the cgroup '%s': %s", path, strerror(errno));
			goto out;
		}
		opts.cgroup_fd = cgroup_fd;
	}
	capture_args__to_opts(&arg.cap, &opts);
	opts.kernel_btf = getenv("SCORCH_KERNEL_BTF");
	capture = capture__new(&opts, err, sizeof(err));
	if (!capture) {
		log_error("%s", err);
		goto out;
	}
	a.capture = capture;
	a.sym = capture__symbolizer(capture);
	a.sender = sender;
	a.interval = capture__open_window(capture);
	if (!a.interval) {
		log_error("out of memory");
		goto out;
	}
	if (client) {
		struct sender_opts so = { .spool = spool, .client = client, .log = on_service_log };

		sender = sender__start(&so, err, sizeof(err));
		if (!sender) {
			log_error("%s", err);
			goto out;
		}
		a.sender = sender;
	}
	if (up_client) {
		struct debuginfo_opts dopts = { .client = up_client,
						.insecure = arg.insecure,
						.verbose = arg.verbose,
						.log = on_service_log };

		uploader = debuginfo_uploader__start(&dopts, err, sizeof(err));
		if (!uploader) {
			log_error("%s", err);
			goto out;
		}
	}
	if (arg.http_address) {
		struct http_handlers h = { .metrics = http_metrics,
					   .profile = http_profile,
					   .healthy = http_healthy,
					   .ctx = &a };
		struct http_opts ho = { .address = arg.http_address, .bearer_token = http_token };

		a.last_drain_ns = now_ns(CLOCK_MONOTONIC);
		http = http_server__start(&ho, &h, err, sizeof(err));
		if (http_token) {
			explicit_bzero(http_token, strlen(http_token));
			free(http_token);
			http_token = NULL;
		}
		if (!http) {
			log_error("%s", err);
			goto out;
		}
		log_info("serving /metrics, /healthz and /debug/pprof/profile on http://%s%s",
			 http_server__address(http),
			 arg.http_token_file ? " (bearer token required except for /healthz)" : "");
		if (!arg.http_token_file && !http_server__is_loopback(http))
			log_warn("--http-address '%s' is not a loopback address and no "
				 "--http-bearer-token-file is given: whole-machine profiles are "
				 "served without authentication to anyone who can connect",
				 arg.http_address);
	}
	log_info("profiling %s at %u Hz, intervals of %.1f s%s%s%s%s",
		 arg.cap.npids ? "some processes" : "the machine", arg.cap.freq,
		 arg.duration_ns / 1e9, arg.address ? ", to " : "", arg.address ? arg.address : "",
		 arg.output_dir ? ", files in " : "", arg.output_dir ? arg.output_dir : "");

	{
		const char *why, *prog = capture__program(capture, &why);

		if (strcmp(prog, "current"))
			log_info("BPF program: %s%s%s", prog, *why ? ", as the kernel lacks " : "",
				 why);
	}

	start_real = now_ns(CLOCK_REALTIME);
	start_mono = now_ns(CLOCK_MONOTONIC);
	__atomic_store_n(&a.last_drain_ns, capture__last_drain(capture), __ATOMIC_RELAXED);
	if (notifier) {
		uint64_t wd_usec = notifier__watchdog_usec(), limit_usec = stall_limit_ns() / 1000;
		char msg[160];

		/*
		 * systemd's watchdog and /healthz keep one rule: a unit's WatchdogSec= shorter than
		 * the limit of these intervals is raised to it, rather than kill a loop that
		 * /healthz calls healthy
		 */
		if (wd_usec && wd_usec < limit_usec) {
			snprintf(msg, sizeof(msg), "WATCHDOG_USEC=%" PRIu64, limit_usec);
			notify(notifier, msg);
			log_info("systemd's watchdog period raised from %.1f s to %.1f s, the "
				 "limit of /healthz (%d intervals)",
				 wd_usec / 1e6, limit_usec / 1e6, STALL_INTERVALS);
		}
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=profiling %s at %u Hz",
			 arg.cap.npids ? "some processes" : "the machine", arg.cap.freq);
		notify(notifier, msg);
	}
	while (!stop_signal) {
		uint64_t now = now_ns(CLOCK_MONOTONIC), deadline;

		if (now - start_mono >= arg.duration_ns) {
			r = capture__drain(capture);
			if (r) {
				log_error("draining the BPF maps: %s", strerror(-r));
				goto out;
			}
			publish(&a, &totals, capture__last_drain(capture));
			feed_watchdog(&a, notifier);
			close_interval(&a, uploader, start_real, start_mono, &totals);
			start_real = now_ns(CLOCK_REALTIME);
			start_mono = now;
			publish(&a, &totals, capture__last_drain(capture));
		}
		if (http)
			tap_step(&a);
		/* captures asked for over HTTP are served at least every 250 ms */
		deadline = start_mono + arg.duration_ns;
		if (http && now + HTTP_POLL_MS * 1000000ULL < deadline)
			deadline = now + HTTP_POLL_MS * 1000000ULL;
		r = capture__step(capture, deadline);
		if (r < 0) {
			log_error("capturing: %s", strerror(-r));
			goto out;
		}
		if (r == 1) {
			publish(&a, &totals, capture__last_drain(capture));
			feed_watchdog(&a, notifier);
		}
	}

	/* the grace starts now; uploads are not worth waiting for */
	stop_ns = now_ns(CLOCK_MONOTONIC);
	notify(notifier, "STOPPING=1");
	if (uploader)
		debuginfo_uploader__stop(uploader);
	/* the partial interval: every sample up to now, then delivered or spooled */
	r = capture__finish(capture);
	if (r)
		log_error("draining the BPF maps: %s", strerror(-r));
	close_interval(&a, uploader, start_real, start_mono, &totals);
	capture__stats(capture, stats);
	ret = EXIT_OK;
out:
	/* a capture in progress is answered with an error, so no request thread waits on us */
	pthread_mutex_lock(&a.lock);
	a.stopping = true;
	if (a.tap_state == TAP_REQUESTED || a.tap_state == TAP_RUNNING) {
		a.tap_state = TAP_DONE;
		pthread_cond_broadcast(&a.tap_done);
	}
	pthread_mutex_unlock(&a.lock);
	http_server__stop(http);
	/* both threads are told to stop before either is waited for */
	if (!stop_ns)
		stop_ns = now_ns(CLOCK_MONOTONIC);
	if (uploader)
		debuginfo_uploader__stop(uploader);
	if (sender)
		sender_abandoned = sender__stop(sender, stop_ns);
	if (uploader) {
		uploader_abandoned = debuginfo_uploader__join(uploader, stop_ns + EXIT_WAIT_NS);
		if (!uploader_abandoned) {
			struct debuginfo_stats ds;

			debuginfo_uploader__stats(uploader, &ds);
			if (arg.verbose || ds.failed)
				log_info("debuginfo: %" PRIu64 " files uploaded, %" PRIu64
					 " the server had, %" PRIu64 " failed",
					 ds.uploaded, ds.skipped, ds.failed);
		}
	}
	/* what an abandoned thread may still touch is left alone: the exit takes it */
	if (!uploader_abandoned) {
		debuginfo_uploader__free(uploader);
		grpc_client__free(up_client);
	}
	free(a.tap_buf);
	if (ret == EXIT_OK) {
		struct spool_stats ss = { 0 };
		struct sender_stats sst = { 0 };

		/* the spool's lock may be held by an abandoned sender */
		if (sender)
			sender__stats(sender, &sst, sender_abandoned ? NULL : &ss);
		log_info("stopped (%s): %" PRIu64 " intervals, %" PRIu64
			 " samples; program runs %" PRIu64 " = recorded %" PRIu64 " + idle %" PRIu64
			 " + filtered %" PRIu64 " + dropped %" PRIu64 "; profiles sent %" PRIu64
			 ", failed attempts %" PRIu64 ", rejected %" PRIu64 ", spooled %" PRIu64
			 " (%" PRIu64 " bytes), dropped from "
			 "the spool %" PRIu64 "; intervals without samples %" PRIu64,
			 stop_signal == SIGINT ? "SIGINT" : "SIGTERM", totals.intervals,
			 totals.samples, stats[SCORCH_STAT_RUNS], stats[SCORCH_STAT_RECORDED],
			 stats[SCORCH_STAT_IDLE], stats[SCORCH_STAT_FILTERED],
			 stats[SCORCH_STAT_LOST_COUNTS_FULL], sst.sent, sst.failed, sst.rejected,
			 ss.entries, ss.bytes, ss.dropped, totals.empty);
		if (ss.memory_entries)
			log_error("%" PRIu64
				  " undelivered profiles were held in memory (the spool's "
				  "disk refused them: %s) and are lost with the exit",
				  ss.memory_entries, strerror(ss.write_errno));
	}
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (http_token) {
		explicit_bzero(http_token, strlen(http_token));
		free(http_token);
	}
	notifier__free(notifier);
	capture__free(capture); /* and its windows */
	if (sender_abandoned || uploader_abandoned) {
		/*
		 * A thread is still running: exit now, without the atexit handlers (libcurl's TLS
		 * library has some) that would free what it is using.
		 */
		fflush(NULL);
		_exit(ret);
	}
	sender__free(sender);
	grpc_client__free(client);
	spool__free(spool);
	config__free_args(config_args); /* the settings pointed into it */
	if (cgroup_fd >= 0)
		close(cgroup_fd);
	return ret;
}
