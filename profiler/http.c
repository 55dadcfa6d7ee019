// SPDX-License-Identifier: LGPL-2.1-or-later
#include "http.h"
#include "util.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest profile one can ask for, as Go's net/http/pprof bounds it by its write timeout. */
#define MAX_PROFILE_SECONDS 300

/*
 * libmicrohttpd, loaded on first use: linked in, it brings GnuTLS and its libraries into every
 * scorch run, for an endpoint only the agent with --http-address serves.
 */
static struct {
	struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
					   MHD_AcceptPolicyCallback apc, void *apc_cls,
					   MHD_AccessHandlerCallback dh, void *dh_cls, ...);
	void (*stop_daemon)(struct MHD_Daemon *d);
	struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
							    enum MHD_ResponseMemoryMode mode);
	enum MHD_Result (*queue_response)(struct MHD_Connection *c, unsigned int status,
					  struct MHD_Response *r);
	void (*destroy_response)(struct MHD_Response *r);
	enum MHD_Result (*add_response_header)(struct MHD_Response *r, const char *header,
					       const char *content);
	const char *(*lookup_connection_value)(struct MHD_Connection *c, enum MHD_ValueKind kind,
					       const char *key);
} mhd;

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_handlers h;
};

static int load_mhd(void)
{
	static bool loaded;
	void *h;

	if (loaded)
		return 0;
	h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -ENOENT;
	mhd.start_daemon = (void *)dlsym(h, "MHD_start_daemon");
	mhd.stop_daemon = (void *)dlsym(h, "MHD_stop_daemon");
	mhd.create_response_from_buffer = (void *)dlsym(h, "MHD_create_response_from_buffer");
	mhd.queue_response = (void *)dlsym(h, "MHD_queue_response");
	mhd.destroy_response = (void *)dlsym(h, "MHD_destroy_response");
	mhd.add_response_header = (void *)dlsym(h, "MHD_add_response_header");
	mhd.lookup_connection_value = (void *)dlsym(h, "MHD_lookup_connection_value");
	if (!mhd.start_daemon || !mhd.stop_daemon || !mhd.create_response_from_buffer ||
	    !mhd.queue_response || !mhd.destroy_response || !mhd.add_response_header ||
	    !mhd.lookup_connection_value)
		return -ENOENT;
	loaded = true;
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *type,
			     void *body, size_t len, bool owned)
{
	struct MHD_Response *r = mhd.create_response_from_buffer(
	    len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	mhd.add_response_header(r, "Content-Type", type);
	ret = mhd.queue_response(c, status, r);
	mhd.destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int status, const char *text)
{
	return reply(c, status, "text/plain; charset=utf-8", (void *)text, strlen(text), false);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	struct http_server *s = cls;
	static int first_call;

	(void)version;
	(void)upload;
	/* the first call only announces the request's headers */
	if (!*state) {
		*state = &first_call;
		return MHD_YES;
	}
	if (*upload_size)
		return reply_text(c, 413, "no request body expected\n");
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_text(c, 405, "only GET\n");
	if (!strcmp(url, "/healthz"))
		return reply_text(c, 200, "ok\n");
	if (!strcmp(url, "/metrics")) {
		char *page = s->h.metrics(s->h.ctx);

		if (!page)
			return reply_text(c, 500, "out of memory\n");
		return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", page, strlen(page),
			     true);
	}
	if (!strcmp(url, "/debug/pprof/profile")) {
		const char *arg = mhd.lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
		uint64_t secs = 30;
		void *buf = NULL;
		size_t len = 0;
		int status;

		if (arg && parse_u64(arg, 10, 1, MAX_PROFILE_SECONDS, &secs))
			return reply_text(c, 400, "seconds: 1 to 300\n");
		status = s->h.profile(s->h.ctx, secs, &buf, &len);
		if (status == 503)
			return reply_text(c, 503, "another profile is being taken, try again\n");
		if (status)
			return reply_text(c, 500, "could not build the profile\n");
		return reply(c, 200, "application/octet-stream", buf, len, true);
	}
	if (!strcmp(url, "/") || !strcmp(url, "/debug/pprof/"))
		return reply_text(c, 200,
				  "scorch agent\n/metrics\n/healthz\n"
				  "/debug/pprof/profile?seconds=N\n");
	return reply_text(c, 404, "not found\n");
}

struct http_server *http_server__start(const char *address, const struct http_handlers *h,
				       char *err, size_t errlen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char *colon = strrchr(address, ':');
	struct http_server *s;
	char host[64];
	uint64_t port;

	if (!colon || parse_u64(colon + 1, 10, 1, 65535, &port) ||
	    (size_t)(colon - address) >= sizeof(host)) {
		snprintf(err, errlen, "invalid --http-address '%s': expected ADDR:PORT", address);
		return NULL;
	}
	memcpy(host, address, colon - address);
	host[colon - address] = 0;
	if (host[0] && inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		snprintf(err, errlen, "invalid --http-address '%s': an IPv4 address is expected",
			 address);
		return NULL;
	}
	sin.sin_port = htons(port);
	if (load_mhd()) {
		snprintf(err, errlen, "cannot load libmicrohttpd.so.12 (package libmicrohttpd12)");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->h = *h;
	s->daemon = mhd.start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
	    port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, errlen, "cannot listen on %s: %s", address, strerror(errno));
		free(s);
		return NULL;
	}
	return s;
}

void http_server__stop(struct http_server *s)
{
	if (!s)
		return;
	mhd.stop_daemon(s->daemon);
	free(s);
}
