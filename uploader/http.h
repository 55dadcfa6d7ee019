/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's HTTP endpoint (libmicrohttpd, loaded when --http-address asks for it):
 * /metrics (Prometheus text), /healthz, and /debug/pprof/profile?seconds=N as a Go service
 * serves it, so that `go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=10` works.
 *
 * One polling thread (epoll) reads every connection, answers /healthz and refusals itself and
 * hands /metrics and profiles to two worker threads, the connection suspended meanwhile: a
 * handler that blocks (a profile waits for its N seconds) delays no other request. Idle or
 * slow connections are closed after a few seconds; connections and their memory are bounded.
 */
#ifndef SCORCH_HTTP_H
#define SCORCH_HTTP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the server saw, for the metrics page. */
struct http_stats {
	uint64_t unauthorized; /* requests refused for a missing or wrong bearer token */
	uint64_t busy; /* requests refused (503) with every worker's queue full */
	uint64_t errors; /* connections closed on a protocol error or a limit */
	unsigned int connections, connection_limit;
};

struct http_handlers {
	/* The metrics page, malloc'ed; NULL on failure. On a worker thread. */
	char *(*metrics)(void *ctx, const struct http_stats *st);
	/*
	 * A gzip'ed pprof of the next `seconds` of the machine, malloc'ed into *ret. Blocks, on a
	 * worker thread. 0, or an HTTP status to answer with (503 busy, 500 failure).
	 */
	int (*profile)(void *ctx, unsigned int seconds, void **ret, size_t *ret_len);
	/*
	 * For /healthz, on the polling thread: must not block. false with a one-line reason
	 * (answered with 503) when the agent is not doing its work.
	 */
	bool (*healthy)(void *ctx, char *why, size_t size);
	void *ctx;
};

struct http_opts {
	/* "ADDR:PORT" (IPv4) or ":PORT" for 127.0.0.1; 0.0.0.0 listens on every address */
	const char *address;
	/*
	 * When set, every path but /healthz needs "Authorization: Bearer <this>". Copied; the
	 * copy is zeroed by http_server__stop().
	 */
	const char *bearer_token;
};

struct http_server;

/* Listen and serve. NULL with a one-line reason in err. */
struct http_server *http_server__start(const struct http_opts *opts, const struct http_handlers *h,
				       char *err, size_t errlen);
/* The address listened on, as "ADDR:PORT" (port 0 asked for: the one given); valid until stop. */
const char *http_server__address(const struct http_server *s);
/* Whether only this machine can connect (an address in 127.0.0.0/8). */
bool http_server__is_loopback(const struct http_server *s);
/*
 * Stop listening. Waits for the handlers running (the caller makes a blocked profile handler
 * return); requests still waiting for a worker are answered 503.
 */
void http_server__stop(struct http_server *s);

/* An address to listen on or to probe: IPv4 or IPv6. */
struct http_addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	};
	socklen_t len;
};

/*
 * An --http-address: "ADDR:PORT" (IPv4), "[ADDR]:PORT" (IPv6), ":PORT" for 127.0.0.1. 0, or
 * -EINVAL with a reason.
 */
int http_parse_address(const char *address, struct http_addr *ret, char *err, size_t errlen);
/* "ADDR:PORT" or "[ADDR]:PORT" into buf. */
void http_format_address(const struct http_addr *a, char *buf, size_t size);

struct http_probe_result {
	int status; /* the HTTP status */
	char reason[200]; /* the first line of the body, printable */
};

/*
 * GET path from the endpoint at address (0.0.0.0 is 127.0.0.1) over a plain socket, within
 * timeout_ms for everything (connecting, sending, the answer), reading at most 4 KB of the
 * answer: what `scorch healthcheck` asks /healthz. 0 when an HTTP answer came (its status in
 * ret, whatever it is), or -errno with a one-line reason (-EINVAL a bad address,
 * -ECONNREFUSED nothing listens, -ETIMEDOUT no answer in time, -EBADMSG not HTTP).
 */
int http_probe(const char *address, const char *path, unsigned int timeout_ms,
	       struct http_probe_result *ret, char *err, size_t errlen);

#endif
