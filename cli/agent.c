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
#include "elf_file.h"
#include "fileio.h"
#include "grpc.h"
#include "hashmap.h"
#include "http.h"
#include "labels.h"
#include "model.h"
#include "notify.h"
#include "parca.pb-c.h"
#include "parca_debuginfo.pb-c.h"
#include "pb_budget.h"
#include "pprof.h"
#include "procfile.h"
#include "profile.h"
#include "spool.h"
#include "symbolizer.h"
#include "unwind.h"
#include "utf8.h"
#include "util.h"
#include "window.h"

#include <ctype.h>
#include <stdarg.h>
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
#define WRITE_RAW_PATH "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw"
/* Retries back off from 1 s to 30 s (2 minutes after an authentication error), with jitter. */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define BACKOFF_AUTH_MS 120000
/*
 * A message the server refuses this many times in a row, with a code that may be about the
 * message (INTERNAL, UNKNOWN, RESOURCE_EXHAUSTED...), is suspect: then every other attempt goes
 * to the newest message, and when the server takes that and refuses the suspect once more right
 * after, the suspect is dropped (counted as rejected, one error line), so nothing waits behind
 * a message that cannot be delivered. One or two such refusals happen with a healthy server (a
 * backend restarting behind its proxy, a storage write that failed once); three take 3.5-7 s
 * of backoff. The drop needs the newer message accepted between two refusals, so a server that
 * refuses everything (a broken store, a proxy answering 400) makes nothing drop: the spool
 * keeps it all, within its bound.
 */
#define POISON_STRIKES 3
/*
 * At exit, the sender gets this long (from the signal) to deliver what is spooled; the rest
 * stays spooled. Then its call in progress is cancelled, and a thread not gone EXIT_CANCEL_MS
 * later (stuck in a system call) is abandoned: SIGTERM ends the agent within 5 s, whatever the
 * network does.
 */
#define EXIT_GRACE_MS 2500
#define EXIT_CANCEL_MS 1500
/* /healthz fails when the main loop has not drained for 3 intervals, and never sooner than 5 s */
#define STALL_INTERVALS 3
#define STALL_MIN_NS 5000000000ULL

struct label {
	const char *name, *value;
};

static struct {
	const char *address;
	bool insecure;
	const char *token_file;
	const char *ca_file;
	const char *node;
	uint64_t duration_ns;
	struct label labels[MAX_LABELS];
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
	    "      --node NAME                        the node label (default: the hostname)\n"
	    "      --profiling-duration TIME          interval (default 10s; 500ms, 10s, 1m)\n"
	    "      --label KEY=VALUE                  external label on every series (repeatable)\n"
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
	    "      --cgroup PATH                      only processes in this cgroup (v2) or below\n"
	    "                                         (/sys/fs/cgroup/... or relative to it)\n"
	    "      --config FILE                      settings in YAML, the long option names\n"
	    "                                         as keys (labels: {k: v}); the command\n"
	    "                                         line overrides them\n"
	    "      --http-address [ADDR]:PORT         serve /metrics, /healthz and\n"
	    "                                         /debug/pprof/profile?seconds=N; on\n"
	    "                                         127.0.0.1 unless ADDR says (0.0.0.0: all)\n"
	    "      --http-bearer-token-file FILE      require 'Authorization: Bearer <token>',\n"
	    "                                         the file's line, on all but /healthz\n"
	    "  -v, --verbose                          log every interval\n"
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
	};
	struct option opts[40] = {
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
		char *eq;

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
			eq = strchr(optarg, '=');
			if (!eq || !valid_label_name(optarg, eq - optarg) ||
			    arg.nlabels >= MAX_LABELS) {
				log_error("invalid --label '%s': expected KEY=VALUE with KEY like "
					  "[a-zA-Z_][a-zA-Z0-9_]*",
					  optarg);
				return -EINVAL;
			}
			*eq = 0;
			arg.labels[arg.nlabels++] = (struct label){ optarg, eq + 1 };
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
		NULL,
	};
	static const char *const flag_keys[] = { "remote-store-insecure", "verbose",
						 "debuginfo-upload", NULL };
	static const char *const map_keys[] = { "labels", NULL };
	const char *config = NULL;
	char err[512], **cargs = NULL;
	int cargc = 0, r;

	capture_args__init(&arg.cap);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
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
	return 0;
}

/* ---- the sender thread: spool -> server, oldest first ---- */

struct sender {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop; /* finish: deliver what can be delivered before deadline_ns, then return */
	uint64_t deadline_ns;
	struct spool *spool;
	struct grpc_client *client;
	/* statistics, under lock */
	uint64_t sent, failed, rejected;
	int last_code;
	char last_error[300];
};

/*
 * Sleep ms, or until told to stop; with for_work, also until new work arrives (a backoff is not
 * cut short by new profiles). true when stopping.
 */
static bool sender_sleep(struct sender *s, uint64_t ms, bool for_work)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->stop && pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0 && !for_work)
		;
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

/*
 * Whether a server's refusal may be about the message rather than about the server or the way
 * to it: not the codes of a server away, slow or refusing us (UNAVAILABLE, DEADLINE_EXCEEDED,
 * UNAUTHENTICATED, PERMISSION_DENIED), nor our own cancellation. INTERNAL is what grpcio and
 * grpc-go answer for a request they cannot decode (a proto3 string that is not UTF-8),
 * UNKNOWN what a handler that throws gives, RESOURCE_EXHAUSTED a message over the server's
 * size limit.
 */
static bool may_be_the_message(int code)
{
	return code != GRPC_OK && code != GRPC_CANCELLED && code != GRPC_UNAVAILABLE &&
	       code != GRPC_DEADLINE_EXCEEDED && code != GRPC_UNAUTHENTICATED &&
	       code != GRPC_PERMISSION_DENIED;
}

static void *sender_main(void *data)
{
	struct sender *s = data;
	uint64_t backoff = BACKOFF_MIN_MS, failures = 0, last_log = 0;
	/* the oldest message's refusals that may be its own doing, in a row (see POISON_STRIKES) */
	uint64_t strike_seq = 0;
	unsigned int strikes = 0;
	bool probed = false, probe_accepted = false;

	pthread_setname_np(pthread_self(), "scorch-sender");

	for (;;) {
		struct grpc_result res;
		uint8_t *msg;
		size_t len;
		uint64_t seq, call_seq, wait_ms;
		bool stopping, probe = false;
		int r;

		pthread_mutex_lock(&s->lock);
		stopping = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stopping && now_ns(CLOCK_MONOTONIC) >= s->deadline_ns)
			break;
		r = spool__oldest(s->spool, &seq, &msg, &len);
		if (r) {
			if (stopping)
				break;
			sender_sleep(s, 1000, true);
			continue;
		}
		if (seq != strike_seq) {
			strike_seq = seq;
			strikes = 0;
			probed = probe_accepted = false;
		}
		call_seq = seq;
		/*
		 * The oldest keeps being refused: the message or the server? Every other attempt
		 * goes to the newest message instead, which the server takes if it is the message.
		 */
		if (strikes >= POISON_STRIKES && !probed && !probe_accepted) {
			uint8_t *pmsg;
			size_t plen;
			uint64_t pseq;

			if (!spool__newest(s->spool, &pseq, &pmsg, &plen)) {
				if (pseq != seq) {
					free(msg);
					msg = pmsg;
					len = plen;
					call_seq = pseq;
					probe = true;
				} else {
					free(pmsg);
				}
			}
		}
		probed = probe;
		grpc_client__call(s->client, WRITE_RAW_PATH, msg, len, &res);
		free(msg);
		free(res.response);
		pthread_mutex_lock(&s->lock);
		if (res.code == GRPC_CANCELLED && s->stop) {
			/* the exit grace is over: the message stays spooled for the next run */
			pthread_mutex_unlock(&s->lock);
			break;
		}
		s->last_code = res.code;
		if (res.code != GRPC_OK)
			snprintf(s->last_error, sizeof(s->last_error), "%s: %s",
				 grpc_code_name(res.code), res.message);
		pthread_mutex_unlock(&s->lock);
		if (res.code == GRPC_OK) {
			spool__remove(s->spool, call_seq);
			pthread_mutex_lock(&s->lock);
			s->sent++;
			pthread_mutex_unlock(&s->lock);
			if (failures)
				log_info("remote store reachable again after %" PRIu64
					 " failed attempts",
					 failures);
			failures = 0;
			backoff = BACKOFF_MIN_MS;
			/* the server takes messages now: the oldest is tried again at once */
			probe_accepted = probe;
			continue;
		}
		pthread_mutex_lock(&s->lock);
		s->failed++;
		pthread_mutex_unlock(&s->lock);
		failures++;
		if (res.code == GRPC_INVALID_ARGUMENT || res.code == GRPC_UNIMPLEMENTED) {
			/* this message will never be accepted: it goes, and it is said */
			log_error("remote store rejected a profile (%s: %s); dropped",
				  grpc_code_name(res.code), res.message);
			spool__remove(s->spool, call_seq);
			pthread_mutex_lock(&s->lock);
			s->rejected++;
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		if (!probe && may_be_the_message(res.code)) {
			strikes++;
			if (probe_accepted) {
				/*
				 * Refused again right after the server took a newer message: this
				 * one it will never take, and everything behind it would wait
				 */
				log_error(
				    "remote store refused a profile %u times (%s: %s) while it "
				    "accepts newer ones; dropped",
				    strikes, grpc_code_name(res.code), res.message);
				spool__remove(s->spool, call_seq);
				pthread_mutex_lock(&s->lock);
				s->rejected++;
				pthread_mutex_unlock(&s->lock);
				continue;
			}
		} else if (!probe) {
			strikes = 0;
		}
		probe_accepted = false;
		/* one line for the first failure, then at most one a minute */
		if (failures == 1 || now_ns(CLOCK_MONOTONIC) - last_log > 60000000000ULL) {
			if (res.code == GRPC_UNAUTHENTICATED || res.code == GRPC_PERMISSION_DENIED)
				log_error("remote store refused the credentials (%s: %s): check "
					  "--remote-store-bearer-token-file; profiles stay spooled",
					  grpc_code_name(res.code), res.message);
			else
				log_warn("remote store unavailable (%s: %s); profiles are spooled "
					 "and retried (%" PRIu64 " failed attempts)",
					 grpc_code_name(res.code), res.message, failures);
			last_log = now_ns(CLOCK_MONOTONIC);
		}
		if (res.code == GRPC_UNAUTHENTICATED || res.code == GRPC_PERMISSION_DENIED)
			wait_ms = BACKOFF_AUTH_MS;
		else
			wait_ms = backoff;
		/* jitter: between half and all of the wait, so a fleet does not retry in step */
		wait_ms = wait_ms / 2 + (uint64_t)rand() % (wait_ms / 2 + 1);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		/* stopping: what could not be delivered now stays spooled for the next run */
		if (stopping || sender_sleep(s, wait_ms, false))
			break;
	}
	return NULL;
}

static void sender_wake(struct sender *s)
{
	pthread_mutex_lock(&s->lock);
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/* ---- --debuginfo-upload: executables of the profiles to Parca's DebuginfoService ---- */

#define DEBUGINFO_SERVICE "/parca.debuginfo.v1alpha1.DebuginfoService/"
#define UPLOAD_CHUNK (1u << 20)
#define UPLOAD_MAX_BYTES (2ULL << 30)
#define UPLOAD_ATTEMPTS 3
/* Memory a DebuginfoService answer may take to unpack (they are a few strings). */
#define REPLY_BUDGET (1u << 20)
/* Rate limit: a second's pause after each file sent (asking is cheap and not paced). */
#define UPLOAD_PAUSE_MS 1000

/* Files waiting to be uploaded, each with a descriptor held open. */
#define UPLOAD_QUEUE_MAX 64

struct upload_job {
	char build_id[129];
	char path[PATH_MAX]; /* as the process sees it: for messages only */
	uint32_t pid;
	int fd; /* the file the process mapped, opened through /proc/PID/map_files */
};

struct uploader {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	struct upload_job *jobs;
	size_t njobs, cap_jobs;
	struct hmap *seen; /* build-id -> attempts (uintptr_t): each at most once per run */
	struct grpc_client *client;
	uint64_t uploaded, skipped, failed; /* under lock */
	char why[512]; /* the reason of the last failure, when known (the thread's own) */
};

/* Tell the uploader to stop and cancel its transfer in progress: an upload waits for no one. */
static void uploader_stop(struct uploader *u)
{
	pthread_mutex_lock(&u->lock);
	u->stop = true;
	pthread_cond_signal(&u->wake);
	pthread_mutex_unlock(&u->lock);
	grpc_client__cancel(u->client);
}

/*
 * Main thread: queue the files of a profile's mappings not seen before, each opened now
 * through the process's own mapping (while the process and its snapshot are there): what is
 * uploaded is the file the process mapped, never whatever a path names later. A file that
 * cannot be opened now is tried again when a later profile has it, unless it is not the mapped
 * file at all. Never blocks long.
 */
static void uploader_queue(struct uploader *u, struct symbolizer *sym, const struct profile *p,
			   uint32_t pid, uint32_t seq)
{
	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; i < p->nmappings; i++) {
		const char *bid = profile__str(p, p->mappings[i].build_id);
		const char *file = profile__str(p, p->mappings[i].filename);
		struct upload_job *j;
		int fd;

		if (!bid[0] || file[0] != '/' || strlen(bid) >= sizeof(j->build_id) ||
		    hmap__get(u->seen, bid, strlen(bid)) || u->njobs >= UPLOAD_QUEUE_MAX ||
		    grow_array((void **)&u->jobs, &u->cap_jobs, u->njobs + 1, sizeof(*u->jobs)))
			continue;
		fd = symbolizer__open_mapped(sym, pid, seq, bid);
		if (fd < 0) {
			if ((fd == -ESTALE || fd == -EINVAL || fd == -EFBIG) &&
			    !hmap__put(u->seen, bid, strlen(bid), (void *)(uintptr_t)1))
				log_warn("debuginfo of '%s' (%s) not uploaded: %s", file, bid,
					 fd == -ESTALE ? "not the file the process mapped"
						       : proc_file__strerror(fd));
			continue;
		}
		if (hmap__put(u->seen, bid, strlen(bid), (void *)(uintptr_t)1)) {
			close(fd);
			continue;
		}
		j = &u->jobs[u->njobs++];
		snprintf(j->build_id, sizeof(j->build_id), "%s", bid);
		snprintf(j->path, sizeof(j->path), "%s", file);
		j->pid = pid;
		j->fd = fd;
	}
	if (u->njobs)
		pthread_cond_signal(&u->wake);
	pthread_mutex_unlock(&u->lock);
}

/* FNV-1a 64 of the whole file, as hex: the hash the service wants with the size. */
static int file_hash(int fd, char *ret, size_t size)
{
	uint64_t h = FNV1A64_INIT;
	uint8_t buf[65536];
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		h = fnv1a64_bytes(h, buf, n);
		off += n;
	}
	if (n < 0)
		return -errno;
	snprintf(ret, size, "fnv1a64:%016" PRIx64, h);
	return 0;
}

/* A unary call with protobuf-c messages; the response unpacked by unpack (or NULL). */
static int debuginfo_call(struct uploader *u, const char *method, const ProtobufCMessage *req,
			  struct grpc_result *res)
{
	char path[128];
	size_t len = protobuf_c_message_get_packed_size(req);
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);

	snprintf(path, sizeof(path), DEBUGINFO_SERVICE "%s", method);
	if (!buf) {
		memset(res, 0, sizeof(*res));
		res->code = GRPC_INTERNAL;
		return res->code;
	}
	protobuf_c_message_pack(req, buf);
	if (grpc_client__call(u->client, path, buf, len, res))
		snprintf(u->why, sizeof(u->why), "%s: %s: %s", method, grpc_code_name(res->code),
			 res->message);
	return res->code;
}

/* The whole flow for one file: 0 uploaded or not needed, else a gRPC code or -errno. */
static int upload_one(struct uploader *u, const struct upload_job *j, bool *ret_uploaded)
{
	Parca__Debuginfo__V1alpha1__ShouldInitiateUploadRequest sreq =
	    PARCA__DEBUGINFO__V1ALPHA1__SHOULD_INITIATE_UPLOAD_REQUEST__INIT;
	Parca__Debuginfo__V1alpha1__InitiateUploadRequest ireq =
	    PARCA__DEBUGINFO__V1ALPHA1__INITIATE_UPLOAD_REQUEST__INIT;
	Parca__Debuginfo__V1alpha1__UploadInfo info = PARCA__DEBUGINFO__V1ALPHA1__UPLOAD_INFO__INIT;
	Parca__Debuginfo__V1alpha1__UploadRequest ureq =
	    PARCA__DEBUGINFO__V1ALPHA1__UPLOAD_REQUEST__INIT;
	Parca__Debuginfo__V1alpha1__MarkUploadFinishedRequest mreq =
	    PARCA__DEBUGINFO__V1ALPHA1__MARK_UPLOAD_FINISHED_REQUEST__INIT;
	Parca__Debuginfo__V1alpha1__ShouldInitiateUploadResponse *sres;
	Parca__Debuginfo__V1alpha1__InitiateUploadResponse *ires;
	char hash[64], bid[129], upload_id[256] = "";
	struct pb_budget sb, ib; /* the server's answers unpack within REPLY_BUDGET each */
	struct grpc_result res;
	struct stat st;
	uint8_t *first = NULL;
	size_t first_len;
	int fd, r;

	*ret_uploaded = false;
	/* the mapped file, held since the profile was built; it must still be that build */
	fd = dup(j->fd);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > UPLOAD_MAX_BYTES ||
	    elf_build_id_of_fd(fd, bid, sizeof(bid)) || strcmp(bid, j->build_id)) {
		close(fd);
		return -ESTALE;
	}
	r = file_hash(fd, hash, sizeof(hash));
	if (r) {
		close(fd);
		return r;
	}
	sreq.build_id = (char *)j->build_id;
	sreq.hash = hash;
	sreq.type = PARCA__DEBUGINFO__V1ALPHA1__DEBUGINFO_TYPE__DEBUGINFO_TYPE_EXECUTABLE;
	sreq.build_id_type = PARCA__DEBUGINFO__V1ALPHA1__BUILD_IDTYPE__BUILD_ID_TYPE_GNU;
	r = debuginfo_call(u, "ShouldInitiateUpload", &sreq.base, &res);
	sres = r ? NULL
		 : parca__debuginfo__v1alpha1__should_initiate_upload_response__unpack(
		       pb_budget__init(&sb, REPLY_BUDGET), res.response_len, res.response);
	free(res.response);
	if (r || !sres) {
		if (!r)
			snprintf(u->why, sizeof(u->why), "ShouldInitiateUpload: %s",
				 pb_budget__exceeded(&sb) ? "the answer needs more than 1 MB"
							  : "an answer that does not decode");
		close(fd);
		return r ? r : GRPC_INTERNAL;
	}
	r = sres->should_initiate_upload;
	parca__debuginfo__v1alpha1__should_initiate_upload_response__free_unpacked(sres,
										   &sb.allocator);
	if (!r) {
		close(fd);
		return 0; /* the server has it */
	}
	ireq.build_id = (char *)j->build_id;
	ireq.size = st.st_size;
	ireq.hash = hash;
	ireq.type = sreq.type;
	ireq.build_id_type = sreq.build_id_type;
	r = debuginfo_call(u, "InitiateUpload", &ireq.base, &res);
	ires = r ? NULL
		 : parca__debuginfo__v1alpha1__initiate_upload_response__unpack(
		       pb_budget__init(&ib, REPLY_BUDGET), res.response_len, res.response);
	free(res.response);
	if (r || !ires || !ires->upload_instructions) {
		if (!r)
			snprintf(u->why, sizeof(u->why), "InitiateUpload: %s",
				 !ires && pb_budget__exceeded(&ib)
				     ? "the answer needs more than 1 MB"
				     : "no upload instructions");
		if (ires)
			parca__debuginfo__v1alpha1__initiate_upload_response__free_unpacked(
			    ires, &ib.allocator);
		close(fd);
		return r ? r : GRPC_INTERNAL;
	}
	if (!ires->upload_instructions->upload_id ||
	    strlen(ires->upload_instructions->upload_id) >= sizeof(upload_id)) {
		/* the server's answer is bounded as a whole; its upload id is said to be short */
		snprintf(u->why, sizeof(u->why),
			 "InitiateUpload: an upload id of %zu bytes, over %zu",
			 ires->upload_instructions->upload_id
			     ? strlen(ires->upload_instructions->upload_id)
			     : 0,
			 sizeof(upload_id) - 1);
		parca__debuginfo__v1alpha1__initiate_upload_response__free_unpacked(ires,
										    &ib.allocator);
		close(fd);
		return -EPROTO;
	}
	snprintf(upload_id, sizeof(upload_id), "%s", ires->upload_instructions->upload_id);
	if (ires->upload_instructions->upload_strategy ==
	    PARCA__DEBUGINFO__V1ALPHA1__UPLOAD_INSTRUCTIONS__UPLOAD_STRATEGY__UPLOAD_STRATEGY_SIGNED_URL) {
		/*
		 * The file goes straight to the object store, then the upload is marked done. The
		 * URL is the server's: https only (http on an insecure connection), never file://
		 * or another protocol that would write or send the file elsewhere.
		 */
		char why[400];

		r = ires->upload_instructions->signed_url && *ires->upload_instructions->signed_url
			? grpc_client__put_file(u->client, ires->upload_instructions->signed_url,
						fd, st.st_size, why, sizeof(why))
			: -EINVAL;
		parca__debuginfo__v1alpha1__initiate_upload_response__free_unpacked(ires,
										    &ib.allocator);
		close(fd);
		if (r) {
			snprintf(u->why, sizeof(u->why), "signed URL: %s%s",
				 r == -EINVAL ? "none given" : why,
				 r == -EPROTONOSUPPORT && !arg.insecure
				     ? " (http only with --remote-store-insecure)"
				     : "");
			/* a refused URL is not asked again; a cancelled one is the exit */
			if (r == -EPROTONOSUPPORT || r == -EINVAL)
				return r;
			return r == -ECANCELED ? GRPC_CANCELLED : GRPC_UNAVAILABLE;
		}
		goto finished;
	}
	parca__debuginfo__v1alpha1__initiate_upload_response__free_unpacked(ires, &ib.allocator);
	info.build_id = (char *)j->build_id;
	info.upload_id = upload_id;
	info.type = sreq.type;
	ureq.data_case = PARCA__DEBUGINFO__V1ALPHA1__UPLOAD_REQUEST__DATA_INFO;
	ureq.info = &info;
	first_len = parca__debuginfo__v1alpha1__upload_request__get_packed_size(&ureq);
	first = malloc(first_len);
	if (!first) {
		close(fd);
		return -ENOMEM;
	}
	parca__debuginfo__v1alpha1__upload_request__pack(&ureq, first);
	r = grpc_client__upload(u->client, DEBUGINFO_SERVICE "Upload", first, first_len, fd,
				st.st_size, 2 /* chunk_data */, UPLOAD_CHUNK, &res);
	if (r)
		snprintf(u->why, sizeof(u->why), "Upload: %s: %s", grpc_code_name(r), res.message);
	free(first);
	free(res.response);
	close(fd);
	if (r)
		return r;
finished:
	mreq.build_id = (char *)j->build_id;
	mreq.upload_id = upload_id;
	mreq.type = sreq.type;
	r = debuginfo_call(u, "MarkUploadFinished", &mreq.base, &res);
	free(res.response);
	if (!r)
		*ret_uploaded = true;
	return r;
}

static void *uploader_main(void *data)
{
	struct uploader *u = data;

	pthread_setname_np(pthread_self(), "scorch-upload"); /* 15 characters at most */

	pthread_mutex_lock(&u->lock);
	while (!u->stop) {
		struct upload_job j;
		bool uploaded, requeued;
		int r;

		if (!u->njobs) {
			pthread_cond_wait(&u->wake, &u->lock);
			continue;
		}
		j = u->jobs[0];
		memmove(u->jobs, u->jobs + 1, --u->njobs * sizeof(*u->jobs));
		pthread_mutex_unlock(&u->lock);
		u->why[0] = 0;
		r = upload_one(u, &j, &uploaded);
		pthread_mutex_lock(&u->lock);
		requeued = false;
		if (!r) {
			u->uploaded += uploaded;
			u->skipped += !uploaded;
			if (uploaded && arg.verbose)
				log_info("debuginfo of %s (%s) uploaded", j.path, j.build_id);
		} else if (r == GRPC_CANCELLED && u->stop) {
			log_info("debuginfo upload of %s (%s) abandoned: the agent is stopping",
				 j.path, j.build_id);
		} else {
			uintptr_t tries =
			    (uintptr_t)hmap__get(u->seen, j.build_id, strlen(j.build_id));

			u->failed++;
			log_warn("debuginfo upload of %s (%s) failed: %s", j.path, j.build_id,
				 u->why[0] ? u->why
				 : r < 0   ? strerror(-r)
					   : grpc_code_name(r));
			/* transient: tried again after the others, a few times */
			if (r > 0 && grpc_code_is_transient(r) && tries < UPLOAD_ATTEMPTS &&
			    !grow_array((void **)&u->jobs, &u->cap_jobs, u->njobs + 1,
					sizeof(*u->jobs)) &&
			    !hmap__put(u->seen, j.build_id, strlen(j.build_id),
				       (void *)(tries + 1))) {
				u->jobs[u->njobs++] = j;
				requeued = true;
			}
		}
		if (!requeued)
			close(j.fd);
		/* a pause after each file sent, and stop promptly */
		if (!u->stop && (uploaded || r)) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += UPLOAD_PAUSE_MS / 1000;
			while (!u->stop &&
			       pthread_cond_timedwait(&u->wake, &u->lock, &until) != ETIMEDOUT)
				;
		}
	}
	for (size_t i = 0; i < u->njobs; i++)
		close(u->jobs[i].fd);
	u->njobs = 0;
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

/* ---- one interval -> a WriteRaw request ---- */

struct proc_info {
	uint32_t pid, seq;
	char comm[SCORCH_COMM_LEN + 1];
};

struct request_builder {
	Parca__Profilestore__V1alpha1__WriteRawRequest req;
	Parca__Profilestore__V1alpha1__RawProfileSeries **series;
	size_t nseries, cap_series;
	/* everything the request points at, freed together */
	void **owned;
	size_t nowned, cap_owned;
};

static void *own(struct request_builder *b, void *p)
{
	if (!p)
		return NULL;
	if (grow_array((void **)&b->owned, &b->cap_owned, b->nowned + 1, sizeof(*b->owned))) {
		free(p);
		return NULL;
	}
	b->owned[b->nowned++] = p;
	return p;
}

static void builder_free(struct request_builder *b)
{
	for (size_t i = 0; i < b->nowned; i++)
		free(b->owned[i]);
	free(b->owned);
}

static int add_series(struct request_builder *b, const struct proc_info *p, const char *exe,
		      const char *cgroup, void *pprof, size_t pprof_len)
{
	Parca__Profilestore__V1alpha1__RawProfileSeries *s = own(b, calloc(1, sizeof(*s)));
	Parca__Profilestore__V1alpha1__LabelSet *ls = own(b, calloc(1, sizeof(*ls)));
	Parca__Profilestore__V1alpha1__RawSample *rs = own(b, calloc(1, sizeof(*rs)));
	Parca__Profilestore__V1alpha1__Label **labels =
	    own(b, calloc(MAX_LABELS + 8, sizeof(*labels)));
	Parca__Profilestore__V1alpha1__RawSample **samples = own(b, calloc(1, sizeof(*samples)));
	struct label all[MAX_LABELS + 8];
	char pid[16], cid[65];
	size_t n = 0;

	if (!s || !ls || !rs || !labels || !samples || !own(b, pprof))
		return -ENOMEM;
	snprintf(pid, sizeof(pid), "%u", p->pid);
	all[n++] = (struct label){ "__name__", "parca_agent" };
	all[n++] = (struct label){ "node", arg.node };
	all[n++] = (struct label){ "pid", own(b, strdup(pid)) };
	all[n++] = (struct label){ "comm", own(b, strdup(p->comm)) };
	if (exe)
		all[n++] = (struct label){ "executable", exe };
	if (cgroup && *cgroup && strcmp(cgroup, "/"))
		all[n++] = (struct label){ "cgroup", cgroup };
	if (cgroup && cgroup_container_id(cgroup, cid))
		all[n++] = (struct label){ "container_id", own(b, strdup(cid)) };
	for (size_t i = 0; i < arg.nlabels; i++) {
		bool dup = false;

		/* an external label never replaces one of ours (Parca refuses duplicates) */
		for (size_t k = 0; k < n; k++)
			dup |= !strcmp(all[k].name, arg.labels[i].name);
		if (!dup)
			all[n++] = arg.labels[i];
	}
	for (size_t i = 0; i < n; i++) {
		Parca__Profilestore__V1alpha1__Label *l = own(b, calloc(1, sizeof(*l)));
		const char *value = all[i].value;

		/*
		 * Label.value is a proto3 string: a server refuses the whole request over one that
		 * is not UTF-8, and a process names its own comm, executable and cgroup (and the
		 * node name and --label values are only bytes too)
		 */
		if (value && !utf8_is_valid(value))
			value = own(b, utf8_sanitize(value));
		if (!l || !value)
			return -ENOMEM;
		parca__profilestore__v1alpha1__label__init(l);
		l->name = (char *)all[i].name;
		l->value = (char *)value;
		labels[i] = l;
	}
	parca__profilestore__v1alpha1__label_set__init(ls);
	ls->labels = labels;
	ls->n_labels = n;
	parca__profilestore__v1alpha1__raw_sample__init(rs);
	rs->raw_profile.data = pprof;
	rs->raw_profile.len = pprof_len;
	samples[0] = rs;
	parca__profilestore__v1alpha1__raw_profile_series__init(s);
	s->labels = ls;
	s->samples = samples;
	s->n_samples = 1;
	if (grow_array((void **)&b->series, &b->cap_series, b->nseries + 1, sizeof(*b->series)))
		return -ENOMEM;
	b->series[b->nseries++] = s;
	return 0;
}

/*
 * The interval's WriteRaw request: one series per process, each a gzip'ed pprof of that
 * process's samples. *ret_len 0 (and no buffer) when there were no samples.
 */
static int build_request(const struct process_profile *procs, size_t nprocs, struct symbolizer *sym,
			 struct uploader *up, uint8_t **ret, size_t *ret_len, uint64_t *ret_series)
{
	struct request_builder b = { 0 };
	size_t len;
	int r = 0;

	*ret = NULL;
	*ret_len = 0;
	*ret_series = 0;
	for (size_t i = 0; !r && i < nprocs; i++) {
		const struct process_profile *p = &procs[i];
		struct proc_info pi = { .pid = p->pid, .seq = p->seq };
		const char *exe = NULL, *cgroup = NULL;
		void *pprof;
		size_t plen;

		/* the fastest gzip: these go out every interval, and the spool compresses again */
		r = pprof__encode_level(p->profile, 1, &pprof, &plen);
		if (up)
			uploader_queue(up, sym, p->profile, p->pid, p->seq);
		if (r)
			break;
		memcpy(pi.comm, p->comm, sizeof(pi.comm));
		symbolizer__process_info(sym, p->pid, p->seq, &exe, &cgroup);
		r = add_series(&b, &pi, exe, cgroup, pprof, plen);
	}
	if (!r && b.nseries) {
		parca__profilestore__v1alpha1__write_raw_request__init(&b.req);
		b.req.series = b.series;
		b.req.n_series = b.nseries;
		len = parca__profilestore__v1alpha1__write_raw_request__get_packed_size(&b.req);
		*ret = malloc(len ? len : 1);
		if (*ret) {
			parca__profilestore__v1alpha1__write_raw_request__pack(&b.req, *ret);
			*ret_len = len;
			*ret_series = b.nseries;
		} else {
			r = -ENOMEM;
		}
	}
	free(b.series);
	builder_free(&b);
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

struct page {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) put(struct page *p, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	for (;;) {
		if (p->failed)
			return;
		if (p->cap - p->len < 2 &&
		    grow_array((void **)&p->buf, &p->cap, p->len + 4096, 1)) {
			p->failed = true;
			return;
		}
		va_start(ap, fmt);
		n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < p->cap - p->len)
			break;
		if (n < 0 || grow_array((void **)&p->buf, &p->cap, p->len + n + 1, 1)) {
			p->failed = true;
			return;
		}
	}
	p->len += n;
}

/* One metric with its help and type lines. */
static void metric(struct page *p, const char *name, const char *type, const char *help,
		   uint64_t value)
{
	put(p, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, value);
}

static char *http_metrics(void *ctx, const struct http_stats *hs)
{
	static const struct {
		int stat;
		const char *reason;
	} stack_lost[] = {
		{ SCORCH_STAT_LOST_KSTACK_FULL, "kernel_stack_map_full" },
		{ SCORCH_STAT_LOST_USTACK_FULL, "user_stack_map_full" },
		{ SCORCH_STAT_LOST_KSTACK_FAULT, "kernel_stack_fault" },
		{ SCORCH_STAT_LOST_USTACK_FAULT, "user_stack_fault" },
		{ SCORCH_STAT_LOST_USTACK_COPY, "sample_ring_full" },
	};
	struct agent *a = ctx;
	struct page p = { 0 };
	struct spool_stats ss = { 0 };
	uint64_t st[SCORCH_STAT_MAX], ends[UNWIND_END_MAX], intervals, procs;
	uint64_t sent = 0, failed = 0, rejected = 0;
	struct rusage ru;
	long pages = 0, rss_pages = 0;
	FILE *f;

	pthread_mutex_lock(&a->lock);
	memcpy(st, a->stats, sizeof(st));
	memcpy(ends, a->ends, sizeof(ends));
	intervals = a->intervals;
	procs = a->processes;
	pthread_mutex_unlock(&a->lock);
	if (a->sender) {
		spool__stats(a->sender->spool, &ss);
		pthread_mutex_lock(&a->sender->lock);
		sent = a->sender->sent;
		failed = a->sender->failed;
		rejected = a->sender->rejected;
		pthread_mutex_unlock(&a->sender->lock);
	}
	getrusage(RUSAGE_SELF, &ru);
	f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss_pages) != 2)
			rss_pages = 0;
		fclose(f);
	}

	metric(&p, "scorch_program_runs_total", "counter",
	       "Runs of the sampling program (the independent total).", st[SCORCH_STAT_RUNS]);
	metric(&p, "scorch_samples_total", "counter", "Samples recorded.",
	       st[SCORCH_STAT_RECORDED]);
	metric(&p, "scorch_idle_samples_total", "counter", "Samples of idle CPUs, not profiled.",
	       st[SCORCH_STAT_IDLE]);
	metric(&p, "scorch_filtered_samples_total", "counter",
	       "Samples of processes outside the -p filter.", st[SCORCH_STAT_FILTERED]);
	put(&p,
	    "# HELP scorch_samples_lost_total Samples dropped, by reason.\n"
	    "# TYPE scorch_samples_lost_total counter\n"
	    "scorch_samples_lost_total{reason=\"counts_map_full\"} %" PRIu64 "\n",
	    st[SCORCH_STAT_LOST_COUNTS_FULL]);
	put(&p, "# HELP scorch_stacks_lost_total Samples kept with a placeholder instead of a "
		"stack, by reason.\n# TYPE scorch_stacks_lost_total counter\n");
	for (size_t i = 0; i < ARRAY_SIZE(stack_lost); i++)
		put(&p, "scorch_stacks_lost_total{reason=\"%s\"} %" PRIu64 "\n",
		    stack_lost[i].reason, st[stack_lost[i].stat]);
	put(&p, "# HELP scorch_user_stacks_unwound_total User stacks unwound with CFI, by how "
		"the unwind ended.\n# TYPE scorch_user_stacks_unwound_total counter\n");
	for (int i = UNWIND_END_COMPLETE; i < UNWIND_END_MAX; i++) {
		char reason[64];

		snprintf(reason, sizeof(reason), "%s", unwind_end_name(i));
		for (char *c = reason; *c; c++)
			*c = *c == ' ' ? '_' : *c;
		put(&p, "scorch_user_stacks_unwound_total{end=\"%s\"} %" PRIu64 "\n", reason,
		    ends[i]);
	}
	metric(&p, "scorch_intervals_total", "counter", "Profiling intervals closed.", intervals);
	metric(&p, "scorch_profiles_sent_total", "counter",
	       "Profiles (WriteRaw requests) delivered.", sent);
	metric(&p, "scorch_profile_send_failures_total", "counter",
	       "Failed attempts to deliver a profile.", failed);
	metric(&p, "scorch_profiles_rejected_total", "counter",
	       "Profiles the server refused as invalid, or kept refusing while it took newer "
	       "ones, dropped.",
	       rejected);
	metric(&p, "scorch_profiles_spooled", "gauge", "Profiles waiting in the spool.",
	       ss.entries);
	metric(&p, "scorch_spool_bytes", "gauge", "Bytes in the spool.", ss.bytes);
	metric(&p, "scorch_profiles_dropped_total", "counter",
	       "Spooled profiles dropped to stay within --spool-max-bytes (or the memory bound "
	       "while the disk refuses them).",
	       ss.dropped);
	metric(&p, "scorch_spool_write_failures_total", "counter",
	       "Profiles the spool's disk refused, held in memory instead.", ss.write_failures);
	metric(&p, "scorch_profiles_spooled_in_memory", "gauge",
	       "Profiles waiting in memory until the spool's disk takes them.", ss.memory_entries);
	metric(&p, "scorch_tracked_processes", "gauge", "Processes whose mappings the agent keeps.",
	       procs);
	put(&p,
	    "# HELP process_cpu_seconds_total CPU time of the agent.\n"
	    "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n",
	    ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	metric(&p, "process_resident_memory_bytes", "gauge", "Resident memory of the agent.",
	       (uint64_t)rss_pages * (uint64_t)sysconf(_SC_PAGESIZE));
	metric(&p, "scorch_http_connections", "gauge", "Open connections to the HTTP endpoint.",
	       hs->connections);
	metric(&p, "scorch_http_connection_limit", "gauge",
	       "Connections the HTTP endpoint takes at once (half of them from one address).",
	       hs->connection_limit);
	metric(&p, "scorch_http_unauthorized_total", "counter",
	       "HTTP requests refused for a missing or wrong bearer token.", hs->unauthorized);
	metric(&p, "scorch_http_busy_total", "counter",
	       "HTTP requests refused (503) while every worker had a full queue.", hs->busy);
	metric(&p, "scorch_http_errors_total", "counter",
	       "HTTP connections closed on a protocol error or a limit (malformed, oversized or "
	       "abandoned requests, the per-address connection limit).",
	       hs->errors);
	if (p.failed) {
		free(p.buf);
		return NULL;
	}
	return p.buf;
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

/*
 * Join thread before deadline_ns (CLOCK_MONOTONIC): 0, or -ETIMEDOUT with the thread still
 * running (stuck in a system call the cancellation cannot reach).
 */
static int join_by(pthread_t thread, uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = deadline_ns / 1000000000ULL,
			       .tv_nsec = deadline_ns % 1000000000ULL };

	return -pthread_clockjoin_np(thread, NULL, CLOCK_MONOTONIC, &ts);
}

static char *read_token(const char *path)
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

/*
 * A spool whose disk refuses writes (full, failing, read-only) keeps profiles in memory: said
 * at once, then at most once a minute while it lasts, and when the disk takes them again.
 */
static void spool_health(struct spool *spool, int put_result)
{
	static uint64_t last_log;
	static bool failing;
	struct spool_stats ss;

	spool__stats(spool, &ss);
	if (put_result == 1 &&
	    (!failing || now_ns(CLOCK_MONOTONIC) - last_log > 60 * 1000000000ULL)) {
		log_warn("cannot write to the spool (%s): %" PRIu64 " profiles (%" PRIu64
			 " KB) held in memory until it can",
			 strerror(ss.write_errno), ss.memory_entries, ss.memory_bytes / 1024);
		last_log = now_ns(CLOCK_MONOTONIC);
		failing = true;
	} else if (failing && put_result == 0 && !ss.memory_entries) {
		log_info("the spool's disk takes profiles again");
		failing = false;
	}
}

/* Close the interval: one request into the spool, one file into --output-dir. */
/* Close the interval: one request into the spool, one file into --output-dir. */
static void close_interval(struct agent *a, struct uploader *up, uint64_t start_real,
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
		else if (len && (r = spool__put(snd->spool, req, len)) < 0)
			log_error("cannot spool the interval's profiles: %s", strerror(-r));
		else
			sender_wake(snd);
		spool_health(snd->spool, r);
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
	struct sender snd = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };
	struct sender *sender = NULL;
	struct capture *capture = NULL;
	struct http_server *http = NULL;
	struct notifier *notifier = NULL;
	struct uploader up = { .lock = PTHREAD_MUTEX_INITIALIZER,
			       .wake = PTHREAD_COND_INITIALIZER };
	struct uploader *uploader = NULL;
	bool up_started = false;
	struct agent a = { .lock = PTHREAD_MUTEX_INITIALIZER,
			   .tap_done = PTHREAD_COND_INITIALIZER };
	struct totals totals = { 0 };
	uint64_t stats[SCORCH_STAT_MAX] = { 0 }, start_real, start_mono;
	char hostname[256], err[512], *token = NULL, *http_token = NULL, **config_args = NULL;
	int cgroup_fd = -1;
	bool thread_started = false, sender_abandoned = false, uploader_abandoned = false;
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
	if (arg.token_file && !(token = read_token(arg.token_file)))
		return EXIT_RUNTIME;
	if (arg.http_token_file && !(http_token = read_token(arg.http_token_file)))
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
				       .bearer_token = token,
				       .timeout_ms = 10000,
				       .debug =
					   getenv("SCORCH_GRPC_DEBUG") ? on_grpc_debug : NULL };

		snd.spool = spool__open(arg.spool_dir, arg.spool_max);
		if (!snd.spool) {
			log_error("cannot open the spool '%s': %s", arg.spool_dir, strerror(errno));
			goto out;
		}
		snd.client = grpc_client__new(&g);
		if (!snd.client) {
			log_error("cannot set up the connection to '%s'%s", arg.address,
				  arg.ca_file ? " (is the CA file readable?)" : "");
			goto out;
		}
		sender = &snd;
		if (arg.debuginfo_upload) {
			/* a connection of its own: a large upload never delays a profile */
			g.timeout_ms = 10000;
			up.client = grpc_client__new(&g);
			up.seen = hmap__new();
			if (!up.client || !up.seen) {
				log_error("cannot set up the debuginfo uploader");
				goto out;
			}
			uploader = &up;
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
	if (sender) {
		if (pthread_create(&snd.thread, NULL, sender_main, &snd)) {
			log_error("cannot start the sender thread");
			goto out;
		}
		thread_started = true;
	}
	if (uploader) {
		if (pthread_create(&up.thread, NULL, uploader_main, &up)) {
			log_error("cannot start the debuginfo uploader thread");
			goto out;
		}
		up_started = true;
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
	if (up_started)
		uploader_stop(&up);
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
	if (up_started)
		uploader_stop(&up);
	if (thread_started) {
		pthread_mutex_lock(&snd.lock);
		snd.stop = true;
		snd.deadline_ns = stop_ns + EXIT_GRACE_MS * 1000000ULL;
		pthread_cond_signal(&snd.wake);
		pthread_mutex_unlock(&snd.lock);
		if (join_by(snd.thread, snd.deadline_ns)) {
			grpc_client__cancel(snd.client);
			log_warn("the call to the remote store in progress at the end of the %u ms "
				 "exit grace is cancelled; what is undelivered stays in the spool",
				 EXIT_GRACE_MS);
			if (join_by(snd.thread, snd.deadline_ns + EXIT_CANCEL_MS * 1000000ULL)) {
				log_warn("the sender thread does not end (stuck in a system call): "
					 "abandoned at exit; its profile stays in the spool");
				sender_abandoned = true;
			}
		}
	}
	if (up_started) {
		if (join_by(up.thread, stop_ns + (EXIT_GRACE_MS + EXIT_CANCEL_MS) * 1000000ULL)) {
			log_warn("the debuginfo uploader does not end (stuck in a system call): "
				 "abandoned at exit");
			uploader_abandoned = true;
		} else if (arg.verbose || up.failed) {
			log_info("debuginfo: %" PRIu64 " files uploaded, %" PRIu64
				 " the server had, %" PRIu64 " failed",
				 up.uploaded, up.skipped, up.failed);
		}
	}
	/* what an abandoned thread may still touch is left alone: the exit takes it */
	if (!uploader_abandoned) {
		grpc_client__free(up.client);
		hmap__free(up.seen);
		free(up.jobs);
	}
	free(a.tap_buf);
	if (ret == EXIT_OK) {
		struct spool_stats ss = { 0 };

		/* the spool's lock may be held by an abandoned sender */
		if (snd.spool && !sender_abandoned)
			spool__stats(snd.spool, &ss);
		log_info("stopped (%s): %" PRIu64 " intervals, %" PRIu64
			 " samples; program runs %" PRIu64 " = recorded %" PRIu64 " + idle %" PRIu64
			 " + filtered %" PRIu64 " + dropped %" PRIu64 "; profiles sent %" PRIu64
			 ", failed attempts %" PRIu64 ", rejected %" PRIu64 ", spooled %" PRIu64
			 " (%" PRIu64 " bytes), dropped from "
			 "the spool %" PRIu64,
			 stop_signal == SIGINT ? "SIGINT" : "SIGTERM", totals.intervals,
			 totals.samples, stats[SCORCH_STAT_RUNS], stats[SCORCH_STAT_RECORDED],
			 stats[SCORCH_STAT_IDLE], stats[SCORCH_STAT_FILTERED],
			 stats[SCORCH_STAT_LOST_COUNTS_FULL], snd.sent, snd.failed, snd.rejected,
			 ss.entries, ss.bytes, ss.dropped);
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
	grpc_client__free(snd.client);
	spool__free(snd.spool);
	config__free_args(config_args); /* the settings pointed into it */
	if (cgroup_fd >= 0)
		close(cgroup_fd);
	return ret;
}
