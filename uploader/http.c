// SPDX-License-Identifier: LGPL-2.1-or-later
/* The agent's HTTP endpoint on libmicrohttpd: /metrics, /healthz, /debug/pprof/profile. */
#include "http.h"
#include "dlib.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The longest profile one can ask for, as Go's net/http/pprof bounds it by its write timeout. */
#define MAX_PROFILE_SECONDS 300
/* A connection that neither sends nor takes a byte for this long is closed (not while a worker
 * has its request: a suspended connection has no timeout). */
#define IDLE_TIMEOUT_S 5
/* What a connection may hold: its request line and headers (431 beyond) and the response's
 * headers. Clients of the endpoint send well under 1 KB. */
#define CONNECTION_MEMORY 16384
/* Connections at once: this many, at most a quarter of the file descriptors we may open (the
 * symbolizer needs the rest), never fewer than MIN; one address may hold half of them. */
#define MAX_CONNECTIONS 256
#define MIN_CONNECTIONS 16
/* Threads that run the handlers that may block (metrics, profiles), and requests that may wait
 * for one of them; more are answered 503. */
#define WORKERS 2
#define MAX_QUEUED 16
/* What a probe reads of an answer: the status line, headers and a reason, all short. */
#define PROBE_MAX_ANSWER 4096

/*
 * libmicrohttpd, loaded on first use: linked in, it brings GnuTLS and its libraries into every
 * scorch run, for an endpoint only the agent with --http-address serves.
 */
static struct {
	struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
					   MHD_AcceptPolicyCallback apc, void *apc_cls,
					   MHD_AccessHandlerCallback dh, void *dh_cls, ...);
	void (*stop_daemon)(struct MHD_Daemon *d);
	const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *d,
						       enum MHD_DaemonInfoType type, ...);
	struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
							    enum MHD_ResponseMemoryMode mode);
	enum MHD_Result (*queue_response)(struct MHD_Connection *c, unsigned int status,
					  struct MHD_Response *r);
	void (*destroy_response)(struct MHD_Response *r);
	enum MHD_Result (*add_response_header)(struct MHD_Response *r, const char *header,
					       const char *content);
	const char *(*lookup_connection_value)(struct MHD_Connection *c, enum MHD_ValueKind kind,
					       const char *key);
	void (*suspend_connection)(struct MHD_Connection *c);
	void (*resume_connection)(struct MHD_Connection *c);
} mhd;

enum request_kind { REQ_METRICS, REQ_PROFILE };

/* One request, from its headers until MHD says it is over (on_completed()). */
struct request {
	struct request *next; /* in the workers' queue */
	struct MHD_Connection *conn;
	enum request_kind kind;
	unsigned int seconds;
	/* set by the worker before it resumes the connection: the response */
	bool answered;
	unsigned int status;
	const char *type;
	void *body; /* malloc'ed when owned, else a string constant */
	size_t len;
	bool owned;
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_handlers h;
	char *token; /* NULL: no authentication */
	size_t token_len;
	struct http_addr addr;
	char address[INET6_ADDRSTRLEN + 10];
	unsigned int connection_limit;

	pthread_mutex_t lock; /* guards the queue and stopping; never held by MHD's callers */
	pthread_cond_t wake;
	struct request *head, **tail;
	unsigned int queued;
	bool stopping;
	pthread_t workers[WORKERS];
	unsigned int nworkers;

	/* counters, atomic: written by the polling thread, read by a worker */
	uint64_t unauthorized, busy, errors;
	unsigned int connections;

	/* the library's last message while starting, for the error line */
	pthread_mutex_t msg_lock;
	bool started;
	char start_msg[160];
};

static int load_mhd(void)
{
	static const char *const names[] = { "libmicrohttpd.so.12" };
	const struct dlib_sym syms[] = {
		{ "MHD_start_daemon", &mhd.start_daemon },
		{ "MHD_stop_daemon", &mhd.stop_daemon },
		{ "MHD_get_daemon_info", &mhd.get_daemon_info },
		{ "MHD_create_response_from_buffer", &mhd.create_response_from_buffer },
		{ "MHD_queue_response", &mhd.queue_response },
		{ "MHD_destroy_response", &mhd.destroy_response },
		{ "MHD_add_response_header", &mhd.add_response_header },
		{ "MHD_lookup_connection_value", &mhd.lookup_connection_value },
		{ "MHD_suspend_connection", &mhd.suspend_connection },
		{ "MHD_resume_connection", &mhd.resume_connection },
	};
	static bool loaded;

	if (loaded)
		return 0;
	if (dlib_load(names, ARRAY_SIZE(names), syms, ARRAY_SIZE(syms), NULL, 0))
		return -ENOENT;
	loaded = true;
	return 0;
}

static void count(uint64_t *counter)
{
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

/* Queue a response; an owned body is the library's (or freed) whatever happens. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *type,
			     void *body, size_t len, bool owned, const char *auth)
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
	if (auth)
		mhd.add_response_header(r, "WWW-Authenticate", auth);
	ret = mhd.queue_response(c, status, r);
	mhd.destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int status, const char *text)
{
	return reply(c, status, "text/plain; charset=utf-8", (void *)text, strlen(text), false,
		     NULL);
}

/*
 * Whether GOT is the token, in a time that depends on GOT's length alone, never on where the
 * two differ: a client cannot find the token a byte at a time by timing refusals.
 */
static bool token_equal(const char *want, size_t want_len, const char *got)
{
	size_t got_len = strlen(got);
	unsigned char diff = got_len != want_len;

	for (size_t i = 0; i < got_len; i++)
		diff |= (unsigned char)got[i] ^ (unsigned char)want[i % want_len];
	return !diff;
}

static bool is_authorized(const struct http_server *s, struct MHD_Connection *c)
{
	const char *v;

	if (!s->token)
		return true;
	v = mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	/* the scheme is case-insensitive (RFC 9110 11.1) */
	if (!v || strncasecmp(v, "Bearer ", 7))
		return false;
	for (v += 7; *v == ' '; v++)
		;
	return token_equal(s->token, s->token_len, v);
}

/*
 * Hand a request that may block to the workers. The connection is suspended before a worker can
 * see the request, so that its resume always comes after; MHD reads nothing from it and does not
 * time it out meanwhile.
 */
static enum MHD_Result dispatch(struct http_server *s, struct request *r)
{
	bool stopping;

	pthread_mutex_lock(&s->lock);
	stopping = s->stopping;
	if (stopping || s->queued >= MAX_QUEUED) {
		pthread_mutex_unlock(&s->lock);
		if (stopping)
			return reply_text(r->conn, 503, "shutting down\n");
		count(&s->busy);
		return reply_text(r->conn, 503, "busy, try again\n");
	}
	mhd.suspend_connection(r->conn);
	r->next = NULL;
	*s->tail = r;
	s->tail = &r->next;
	s->queued++;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return MHD_YES;
}

static void answer_text(struct request *r, unsigned int status, const char *text)
{
	r->status = status;
	r->type = "text/plain; charset=utf-8";
	r->body = (void *)text;
	r->len = strlen(text);
	r->owned = false;
}

static void http_server_stats(struct http_server *s, struct http_stats *ret)
{
	ret->unauthorized = __atomic_load_n(&s->unauthorized, __ATOMIC_RELAXED);
	ret->busy = __atomic_load_n(&s->busy, __ATOMIC_RELAXED);
	ret->errors = __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
	ret->connections = __atomic_load_n(&s->connections, __ATOMIC_RELAXED);
	ret->connection_limit = s->connection_limit;
}

/* Worker thread: run the handler of one request. */
static void serve(struct http_server *s, struct request *r)
{
	struct http_stats st;
	void *buf = NULL;
	size_t len = 0;
	char *page;
	int status;

	if (r->kind == REQ_METRICS) {
		http_server_stats(s, &st);
		page = s->h.metrics(s->h.ctx, &st);
		if (!page) {
			answer_text(r, 500, "out of memory\n");
			return;
		}
		r->status = 200;
		r->type = "text/plain; version=0.0.4; charset=utf-8";
		r->body = page;
		r->len = strlen(page);
		r->owned = true;
		return;
	}
	status = s->h.profile(s->h.ctx, r->seconds, &buf, &len);
	if (status == 503) {
		answer_text(r, 503, "another profile is being taken, try again\n");
	} else if (status) {
		answer_text(r, 500, "could not build the profile\n");
	} else {
		r->status = 200;
		r->type = "application/octet-stream";
		r->body = buf;
		r->len = len;
		r->owned = true;
	}
}

static void *worker_main(void *arg)
{
	struct http_server *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct request *r;
		bool stopping;

		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		r = s->head;
		if (!r)
			break; /* stopping, and every request answered */
		s->head = r->next;
		if (!s->head)
			s->tail = &s->head;
		s->queued--;
		stopping = s->stopping;
		pthread_mutex_unlock(&s->lock);
		if (stopping)
			answer_text(r, 503, "shutting down\n");
		else
			serve(s, r);
		r->answered = true;
		/* MHD calls on_request() again, on its thread, which queues the response */
		mhd.resume_connection(r->conn);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	struct http_server *s = cls;
	struct request *r = *state;

	(void)version;
	(void)upload;
	/* the first call only announces the request's headers */
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->conn = c;
		*state = r;
		return MHD_YES;
	}
	if (r->answered) {
		/* resumed after a worker's answer; the body is the library's from here */
		bool owned = r->owned;

		r->owned = false;
		return reply(c, r->status, r->type, r->body, r->len, owned, NULL);
	}
	/* Parca Agent's and Kubernetes' usual names for the same probe */
	if (!strcmp(url, "/healthy") || !strcmp(url, "/ready"))
		url = "/healthz";
	if (strcmp(url, "/healthz") && !is_authorized(s, c)) {
		count(&s->unauthorized);
		return reply(c, 401, "text/plain; charset=utf-8", (void *)"unauthorized\n", 13,
			     false, "Bearer realm=\"scorch\"");
	}
	if (*upload_size)
		return reply_text(c, 413, "no request body expected\n");
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_text(c, 405, "only GET\n");
	if (!strcmp(url, "/healthz")) {
		char why[200], line[sizeof(why) + 2];

		if (!s->h.healthy || s->h.healthy(s->h.ctx, why, sizeof(why)))
			return reply_text(c, 200, "ok\n");
		snprintf(line, sizeof(line), "%s\n", why);
		return reply_text(c, 503, line);
	}
	if (!strcmp(url, "/metrics")) {
		r->kind = REQ_METRICS;
		return dispatch(s, r);
	}
	if (!strcmp(url, "/debug/pprof/profile")) {
		const char *arg = mhd.lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
		uint64_t secs = 30;

		if (arg && parse_u64(arg, 10, 1, MAX_PROFILE_SECONDS, &secs))
			return reply_text(c, 400, "seconds: 1 to 300\n");
		r->kind = REQ_PROFILE;
		r->seconds = secs;
		return dispatch(s, r);
	}
	if (!strcmp(url, "/") || !strcmp(url, "/debug/pprof/"))
		return reply_text(c, 200,
				  "scorch agent\n/metrics\n/healthz (/healthy, /ready)\n"
				  "/debug/pprof/profile?seconds=N\n");
	return reply_text(c, 404, "not found\n");
}

/* MHD is done with a request (answered, failed, timed out, or the daemon stopping). */
static void on_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *state;

	(void)cls;
	(void)c;
	(void)toe;
	if (!r)
		return;
	if (r->owned)
		free(r->body);
	free(r);
	*state = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_state,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;

	(void)c;
	(void)socket_state;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		__atomic_add_fetch(&s->connections, 1, __ATOMIC_RELAXED);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		__atomic_sub_fetch(&s->connections, 1, __ATOMIC_RELAXED);
}

/*
 * The library's messages: a connection that broke the protocol or hit a limit (counted; the
 * text may quote what a client sent, so it is not printed), or why the daemon cannot start.
 */
static void on_mhd_message(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	size_t n;

	count(&s->errors);
	pthread_mutex_lock(&s->msg_lock);
	if (!s->started) {
		vsnprintf(s->start_msg, sizeof(s->start_msg), fmt, ap);
		n = strlen(s->start_msg);
		while (n && (s->start_msg[n - 1] == '\n' || s->start_msg[n - 1] == '.'))
			s->start_msg[--n] = 0;
	}
	pthread_mutex_unlock(&s->msg_lock);
}

int http_parse_address(const char *address, struct http_addr *ret, char *err, size_t errlen)
{
	const char *colon = strrchr(address, ':');
	struct http_addr a = { 0 };
	char host[64];
	size_t n;
	uint64_t port;

	if (!colon || parse_u64(colon + 1, 10, 0, 65535, &port) ||
	    (size_t)(colon - address) >= sizeof(host))
		return fail_with(
		    err, errlen, -EINVAL,
		    "invalid --http-address '%s': expected ADDR:PORT, [IPV6]:PORT or :PORT",
		    address);
	n = colon - address;
	memcpy(host, address, n);
	host[n] = 0;
	if (host[0] == '[') {
		/* IPv6 in brackets, as in URLs: [::1]:7071, [::]:7071 for every address */
		if (n < 3 || host[n - 1] != ']')
			return fail_with(err, errlen, -EINVAL,
					 "invalid --http-address '%s': expected [IPV6]:PORT",
					 address);
		host[n - 1] = 0;
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		if (inet_pton(AF_INET6, host + 1, &a.in6.sin6_addr) != 1)
			return fail_with(err, errlen, -EINVAL,
					 "invalid --http-address '%s': '%s' is not an IPv6 address",
					 address, host + 1);
		a.len = sizeof(a.in6);
		*ret = a;
		return 0;
	}
	/* no address: this machine only; every address is asked for as 0.0.0.0 */
	a.in.sin_family = AF_INET;
	a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.in.sin_port = htons(port);
	if (host[0] && inet_pton(AF_INET, host, &a.in.sin_addr) != 1)
		return fail_with(
		    err, errlen, -EINVAL,
		    "invalid --http-address '%s': an IPv4 address, or IPv6 in brackets "
		    "([::1]:PORT)",
		    address);
	a.len = sizeof(a.in);
	*ret = a;
	return 0;
}

static uint16_t addr_port(const struct http_addr *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in.sin_port);
}

void http_format_address(const struct http_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->in6.sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, addr_port(a));
	} else {
		inet_ntop(AF_INET, &a->in.sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, addr_port(a));
	}
}

static unsigned int connection_limit(void)
{
	struct rlimit rl;
	rlim_t n = MAX_CONNECTIONS;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 4 < n)
		n = rl.rlim_cur / 4;
	return n < MIN_CONNECTIONS ? MIN_CONNECTIONS : n;
}

static void stop_workers(struct http_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	for (unsigned int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	s->nworkers = 0;
}

static void server_free(struct http_server *s)
{
	if (s->token) {
		explicit_bzero(s->token, s->token_len);
		free(s->token);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->msg_lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}

struct http_server *http_server__start(const struct http_opts *opts, const struct http_handlers *h,
				       char *err, size_t errlen)
{
	const union MHD_DaemonInfo *info;
	struct http_server *s;
	struct http_addr addr;
	char where[INET6_ADDRSTRLEN + 10];
	int start_errno;
	uint16_t port;

	if (http_parse_address(opts->address, &addr, err, errlen))
		return NULL;
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
	s->addr = addr;
	s->tail = &s->head;
	s->connection_limit = connection_limit();
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->msg_lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	if (opts->bearer_token) {
		s->token_len = strlen(opts->bearer_token);
		s->token = strdup(opts->bearer_token);
		if (!s->token || !s->token_len) {
			snprintf(err, errlen, "%s",
				 s->token ? "empty bearer token" : "out of memory");
			server_free(s);
			return NULL;
		}
	}
	for (; s->nworkers < WORKERS; s->nworkers++)
		if (pthread_create(&s->workers[s->nworkers], NULL, worker_main, s)) {
			snprintf(err, errlen, "cannot start the HTTP worker threads");
			stop_workers(s);
			server_free(s);
			return NULL;
		}
	/*
	 * One polling thread on epoll (not a thread per connection: idle connections cost a file
	 * descriptor and a little memory, not a thread), handlers that block on the workers. The
	 * logger first, or MHD prints what comes before it on stderr itself.
	 */
	port = addr_port(&s->addr);
	s->daemon = mhd.start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
		(s->addr.sa.sa_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_message, s,
	    MHD_OPTION_SOCK_ADDR, &s->addr.sa, MHD_OPTION_CONNECTION_LIMIT, s->connection_limit,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->connection_limit / 2,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)IDLE_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, s, MHD_OPTION_END);
	start_errno = errno;
	http_format_address(&s->addr, where, sizeof(where));
	pthread_mutex_lock(&s->msg_lock);
	s->started = true;
	pthread_mutex_unlock(&s->msg_lock);
	if (!s->daemon) {
		snprintf(err, errlen, "cannot listen on %s: %s", where,
			 s->start_msg[0] ? s->start_msg : strerror(start_errno));
		stop_workers(s);
		server_free(s);
		return NULL;
	}
	info = port ? NULL : mhd.get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info) {
		if (s->addr.sa.sa_family == AF_INET6)
			s->addr.in6.sin6_port = htons(info->port);
		else
			s->addr.in.sin_port = htons(info->port);
	}
	http_format_address(&s->addr, s->address, sizeof(s->address));
	return s;
}

const char *http_server__address(const struct http_server *s)
{
	return s->address;
}

bool http_server__is_loopback(const struct http_server *s)
{
	if (s->addr.sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&s->addr.in6.sin6_addr);
	return (ntohl(s->addr.in.sin_addr.s_addr) >> 24) == 127;
}

void http_server__stop(struct http_server *s)
{
	if (!s)
		return;
	/* every suspended connection resumed first: MHD aborts when stopped with one */
	stop_workers(s);
	mhd.stop_daemon(s->daemon);
	server_free(s);
}

/* ---- the probe: GET /healthz over a plain socket, for exec probes ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline (CLOCK_MONOTONIC ms): 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = mono_ms();
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(deadline - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int http_probe(const char *address, const char *path, unsigned int timeout_ms,
	       struct http_probe_result *ret, char *err, size_t errlen)
{
	uint64_t deadline = mono_ms() + timeout_ms;
	struct http_addr a;
	_cleanup_close_ int fd = -1;
	char req[256], buf[PROBE_MAX_ANSWER + 1], host[INET6_ADDRSTRLEN + 10];
	const char *body, *p;
	size_t len = 0, sent = 0, reqlen;
	int r, soerr = 0, major, minor, status, n = 0;
	socklen_t sl = sizeof(soerr);

	r = http_parse_address(address, &a, err, errlen);
	if (r)
		return r;
	/* every address (0.0.0.0, ::) is this machine too */
	if (a.sa.sa_family == AF_INET && a.in.sin_addr.s_addr == htonl(INADDR_ANY))
		a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (a.sa.sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a.in6.sin6_addr))
		a.in6.sin6_addr = in6addr_loopback;
	http_format_address(&a, host, sizeof(host));
	reqlen = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: scorch-healthcheck\r\n"
			  "Connection: close\r\n\r\n",
			  path, host);
	if (reqlen >= sizeof(req))
		return fail_with(err, errlen, -EINVAL, "path too long");
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail_with(err, errlen, -errno, "socket: %s", strerror(errno));
	if (connect(fd, &a.sa, a.len) < 0 && errno != EINPROGRESS)
		return fail_with(err, errlen, -errno, "cannot connect: %s", strerror(errno));
	r = wait_fd(fd, POLLOUT, deadline);
	if (!r && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
		r = -soerr;
	if (r)
		return fail_with(err, errlen, r, "cannot connect: %s",
				 r == -ETIMEDOUT ? "no answer in time" : strerror(-r));
	while (sent < reqlen) {
		ssize_t w = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);

		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return fail_with(err, errlen, -errno, "cannot send: %s", strerror(errno));
		if (w > 0)
			sent += w;
		else if ((r = wait_fd(fd, POLLOUT, deadline)))
			goto timeout;
	}
	/* the answer, until the server closes (HTTP/1.0), the bound, or the deadline */
	while (len < PROBE_MAX_ANSWER) {
		ssize_t got = recv(fd, buf + len, PROBE_MAX_ANSWER - len, 0);

		if (got == 0)
			break;
		if (got > 0) {
			len += got;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return fail_with(err, errlen, -errno, "cannot read the answer: %s",
					 strerror(errno));
		if ((r = wait_fd(fd, POLLIN, deadline)))
			break;
	}
	buf[len] = 0;
	if (sscanf(buf, "HTTP/%d.%d %3d%n", &major, &minor, &status, &n) != 3 || n != 12 ||
	    status < 100 || status > 599) {
		if (!len && r == -ETIMEDOUT)
			goto timeout;
		return fail_with(err, errlen, -EBADMSG, "not an HTTP answer");
	}
	ret->status = status;
	ret->reason[0] = 0;
	/* the first line of the body: printable bytes only, cut to the buffer */
	body = strstr(buf, "\r\n\r\n");
	if (body) {
		size_t k = 0;

		for (p = body + 4; *p && *p != '\n' && *p != '\r' && k + 1 < sizeof(ret->reason);
		     p++)
			ret->reason[k++] = (unsigned char)*p >= 0x20 && *p != 0x7f ? *p : '?';
		ret->reason[k] = 0;
	}
	return 0;
timeout:
	return fail_with(err, errlen, -ETIMEDOUT, "no answer within %.1f s", timeout_ms / 1000.0);
}
