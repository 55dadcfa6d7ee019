// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * scorch healthcheck: ask a running agent's /healthz, for probes that run a command (a
 * Kubernetes exec livenessProbe: the kubelet probes the pod's IP, where the agent does not
 * listen, and the image has no HTTP client). Plain sockets, one short request, bounded.
 */
#include "cli.h"
#include "http.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 2000

static void healthcheck_usage(FILE *f)
{
	fputs("Usage: scorch healthcheck --http-address [ADDR]:PORT [--timeout TIME]\n"
	      "\n"
	      "Ask the agent serving --http-address for /healthz and say in one line whether it\n"
	      "is healthy: exit 0 when it answers 200, 1 when it answers anything else (503: its\n"
	      "sampling loop is stuck), nothing answers, or no answer comes within --timeout.\n"
	      "The address is the agent's own --http-address (:PORT is 127.0.0.1).\n"
	      "\n"
	      "Options:\n"
	      "      --http-address [ADDR]:PORT   the agent's endpoint\n"
	      "      --timeout TIME               for the whole request (default 2s)\n"
	      "  -h, --help                       show this help\n"
	      "\n"
	      "Examples:\n"
	      "  scorch healthcheck --http-address 127.0.0.1:7071\n"
	      "  scorch healthcheck --http-address :7071 --timeout 500ms\n",
	      f);
}

int cmd_healthcheck(int argc, char **argv)
{
	enum { OPT_HTTP = 0x100, OPT_TIMEOUT };
	static const struct option opts[] = {
		{ "http-address", required_argument, NULL, OPT_HTTP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct http_probe_result res;
	const char *address = NULL;
	uint64_t timeout_ns = DEFAULT_TIMEOUT_MS * 1000000ULL;
	char err[256];
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_exact(argc, argv, ":h", opts, "healthcheck")) != -1) {
		switch (c) {
		case OPT_HTTP:
			address = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_duration_ns(optarg, &timeout_ns) || timeout_ns < 1000000ULL ||
			    timeout_ns > 600000000000ULL) {
				log_error("invalid --timeout '%s': 1ms to 10m (500ms, 2s)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			healthcheck_usage(stdout);
			return EXIT_OK;
		default: /* said by getopt_exact() */
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (!address) {
		log_error("healthcheck needs --http-address (try 'scorch healthcheck --help')");
		return EXIT_USAGE;
	}
	switch (http_probe(address, "/healthz", timeout_ns / 1000000, &res, err, sizeof(err))) {
	case 0:
		break;
	case -EINVAL:
		log_error("%s", err);
		return EXIT_USAGE;
	default:
		log_error("unhealthy: '%s': %s", address, err);
		return EXIT_RUNTIME;
	}
	if (res.status != 200) {
		log_error("unhealthy: '%s' answered %d: %s", address, res.status,
			  res.reason[0] ? res.reason : "(no reason given)");
		return EXIT_RUNTIME;
	}
	printf("healthy: '%s' answered 200: %s\n", address, res.reason);
	return EXIT_OK;
}
