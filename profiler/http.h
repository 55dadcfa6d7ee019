/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's HTTP endpoint (libmicrohttpd, loaded when --http-address asks for it):
 * /metrics (Prometheus text), /healthz, and /debug/pprof/profile?seconds=N as a Go service
 * serves it, so that `go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=10` works.
 * Requests are served on threads of their own; the handlers must be thread-safe.
 */
#ifndef SCORCH_HTTP_H
#define SCORCH_HTTP_H

#include <stddef.h>

struct http_handlers {
	/* The metrics page, malloc'ed; NULL on failure. */
	char *(*metrics)(void *ctx);
	/*
	 * A gzip'ed pprof of the next `seconds` of the machine, malloc'ed into *ret. Blocks. 0, or
	 * an HTTP status to answer with (503 busy, 500 failure).
	 */
	int (*profile)(void *ctx, unsigned int seconds, void **ret, size_t *ret_len);
	void *ctx;
};

struct http_server;

/* Listen on ADDR:PORT (IPv4; ":PORT" or "0.0.0.0:PORT" for all). NULL with a reason in err. */
struct http_server *http_server__start(const char *address, const struct http_handlers *h,
				       char *err, size_t errlen);
void http_server__stop(struct http_server *s);

#endif
