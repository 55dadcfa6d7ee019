// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The HTTP endpoint with stand-in handlers, over real sockets on 127.0.0.1: where it listens,
 * the bearer token, /healthz's verdict, handlers that block (a profile) delaying nothing else,
 * idle connections neither starving it nor staying open, stopping while a request runs, and
 * the probe of `scorch healthcheck` against it and against servers that misbehave.
 */
#include "check.h"
#include "http.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fake {
	bool sick;
	unsigned int in_profile, profiles; /* atomic */
	struct http_stats last; /* as the metrics handler was given them */
};

static char *fake_metrics(void *ctx, const struct http_stats *st)
{
	struct fake *f = ctx;
	char *page = NULL;

	f->last = *st;
	if (asprintf(&page, "unauthorized %" PRIu64 " errors %" PRIu64 " connections %u\n",
		     st->unauthorized, st->errors, st->connections) < 0)
		return NULL;
	return page;
}

/* A profile takes its seconds, as the agent's does. */
static int fake_profile(void *ctx, unsigned int seconds, void **ret, size_t *ret_len)
{
	struct fake *f = ctx;

	__atomic_add_fetch(&f->in_profile, 1, __ATOMIC_SEQ_CST);
	sleep(seconds);
	__atomic_sub_fetch(&f->in_profile, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&f->profiles, 1, __ATOMIC_SEQ_CST);
	*ret = strdup("PROFILE");
	*ret_len = 7;
	return *ret ? 0 : 500;
}

static bool fake_healthy(void *ctx, char *why, size_t size)
{
	struct fake *f = ctx;

	if (f->sick)
		snprintf(why, size, "stuck for a test");
	return !f->sick;
}

static struct http_server *start(struct fake *f, const char *address, const char *token)
{
	struct http_handlers h = {
		.metrics = fake_metrics, .profile = fake_profile, .healthy = fake_healthy, .ctx = f
	};
	struct http_opts o = { .address = address, .bearer_token = token };
	char err[256] = "";
	struct http_server *s = http_server__start(&o, &h, err, sizeof(err));

	if (!s)
		fprintf(stderr, "cannot start on '%s': %s\n", address, err);
	return s;
}

static uint16_t port_of(const struct http_server *s)
{
	return atoi(strrchr(http_server__address(s), ':') + 1);
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 15 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		close(fd);
		return -errno;
	}
	return fd;
}

static double now_s(void)
{
	return now_ns(CLOCK_MONOTONIC) / 1e9;
}

struct response {
	int status; /* -1: no answer */
	char head[1024], body[256];
	double secs;
};

/* GET path with extra header lines (each ending in \r\n); the whole answer. */
static void get(uint16_t port, const char *path, const char *headers, struct response *ret)
{
	char req[32768], buf[8192];
	size_t len = 0;
	double t = now_s();
	int fd = connect_to(port);
	char *end;
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	ret->status = -1;
	if (fd < 0)
		return;
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s\r\n", path,
		     headers ? headers : "");
	if (write(fd, req, n) != n) {
		close(fd);
		return;
	}
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	ret->secs = now_s() - t;
	end = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.1 ", 9) || !end)
		return;
	ret->status = atoi(buf + 9);
	snprintf(ret->head, sizeof(ret->head), "%.*s", (int)(end - buf), buf);
	snprintf(ret->body, sizeof(ret->body), "%s", end + 4);
}

static void test_address(void)
{
	struct fake f = { 0 };
	struct http_server *s = start(&f, ":0", NULL);
	struct http_handlers h = { .metrics = fake_metrics, .profile = fake_profile, .ctx = &f };
	static const char *const bad[] = { "7071",	 "localhost:80", "1.2.3:80",   ":65536",
					   ":-1",	 "127.0.0.1:",	 "::1:80",     "[::1:80",
					   "[zz::1]:80", "[]:80",	 "[::1]:99999" };
	struct response r;

	/* no address: 127.0.0.1, the port the system chose */
	CHECK(s && !strncmp(http_server__address(s), "127.0.0.1:", 10));
	CHECK(s && port_of(s) > 0);
	CHECK(s && http_server__is_loopback(s));
	if (s) {
		get(port_of(s), "/healthz", NULL, &r);
		CHECK_INT(r.status, 200);
		CHECK_STR(r.body, "ok\n");
		get(port_of(s), "/nonexistent", NULL, &r);
		CHECK_INT(r.status, 404);
	}
	http_server__stop(s);
	/* /healthy and /ready: the same probe under Parca Agent's and Kubernetes' names */
	s = start(&f, ":0", "tok");
	for (int i = 0; s && i < 2; i++) {
		get(port_of(s), i ? "/ready" : "/healthy", NULL, &r);
		CHECK_INT(r.status, 200);
		CHECK_STR(r.body, "ok\n");
	}
	http_server__stop(s);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct http_opts o = { .address = bad[i] };
		char err[256] = "";

		s = http_server__start(&o, &h, err, sizeof(err));
		CHECK(!s);
		CHECK(strstr(err, bad[i]) != NULL);
		http_server__stop(s);
	}
}

static void test_token(void)
{
	static const char *const refused[] = {
		"",
		"Authorization: Bearer\r\n",
		"Authorization: Bearer s3cre\r\n",
		"Authorization: Bearer s3cretX\r\n",
		"Authorization: Bearer S3CRET\r\n",
		"Authorization: Basic s3cret\r\n",
		"Authorization: s3cret\r\n",
	};
	struct fake f = { 0 };
	struct http_server *s = start(&f, "127.0.0.1:0", "s3cret");
	struct response r;
	uint16_t port;

	CHECK(s != NULL);
	if (!s)
		return;
	port = port_of(s);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		get(port, "/metrics", refused[i], &r);
		CHECK_INT(r.status, 401);
		CHECK(strstr(r.head, "\r\nWWW-Authenticate: Bearer") != NULL);
		get(port, "/debug/pprof/profile?seconds=1", refused[i], &r);
		CHECK_INT(r.status, 401);
	}
	get(port, "/", NULL, &r);
	CHECK_INT(r.status, 401);
	CHECK_INT(__atomic_load_n(&f.profiles, __ATOMIC_SEQ_CST), 0);
	/* liveness probes carry no token */
	get(port, "/healthz", NULL, &r);
	CHECK_INT(r.status, 200);
	/* the scheme in any case, the token as it is */
	get(port, "/metrics", "Authorization: bearer s3cret\r\n", &r);
	CHECK_INT(r.status, 200);
	CHECK(!strncmp(r.body, "unauthorized 15 ", 16));
	get(port, "/debug/pprof/profile?seconds=1", "Authorization: Bearer s3cret\r\n", &r);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.body, "PROFILE");
	http_server__stop(s);
}

static void test_health(void)
{
	struct fake f = { .sick = true };
	struct http_server *s = start(&f, ":0", NULL);
	struct response r;

	CHECK(s != NULL);
	if (!s)
		return;
	get(port_of(s), "/healthz", NULL, &r);
	CHECK_INT(r.status, 503);
	CHECK_STR(r.body, "stuck for a test\n");
	f.sick = false;
	get(port_of(s), "/healthz", NULL, &r);
	CHECK_INT(r.status, 200);
	http_server__stop(s);
}

struct client {
	pthread_t thread;
	uint16_t port;
	const char *path;
	struct response r;
};

static void *client_main(void *arg)
{
	struct client *c = arg;

	get(c->port, c->path, NULL, &c->r);
	return NULL;
}

/* Until the fake is in n profiles, at most 5 s. */
static bool wait_profiles(struct fake *f, unsigned int n)
{
	for (int i = 0; i < 500; i++) {
		if (__atomic_load_n(&f->in_profile, __ATOMIC_SEQ_CST) == n)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * 100 idle connections and a profile in progress: /healthz and /metrics answered at once; the
 * idle connections are closed by the server within its timeout (5 s) and a margin.
 */
static void test_idle_and_blocking(void)
{
	struct fake f = { 0 };
	struct http_server *s = start(&f, ":0", NULL);
	struct client prof = { .path = "/debug/pprof/profile?seconds=2" };
	int idle[100], closed = 0;
	struct response r;
	double opened;
	char c;

	CHECK(s != NULL);
	if (!s)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(idle); i++) {
		idle[i] = connect_to(port_of(s));
		CHECK(idle[i] >= 0);
	}
	opened = now_s();
	prof.port = port_of(s);
	CHECK_INT(pthread_create(&prof.thread, NULL, client_main, &prof), 0);
	CHECK(wait_profiles(&f, 1));
	get(port_of(s), "/healthz", NULL, &r);
	CHECK_INT(r.status, 200);
	CHECK(r.secs < 1);
	get(port_of(s), "/metrics", NULL, &r);
	CHECK_INT(r.status, 200);
	CHECK(r.secs < 1);
	/* the 100 idle ones, the profile's and this one */
	CHECK_INT(f.last.connections, 102);
	CHECK(f.last.connection_limit >= 200);
	CHECK_INT(__atomic_load_n(&f.in_profile, __ATOMIC_SEQ_CST), 1);
	pthread_join(prof.thread, NULL);
	CHECK_INT(prof.r.status, 200);
	CHECK_STR(prof.r.body, "PROFILE");
	for (size_t i = 0; i < ARRAY_SIZE(idle); i++) {
		if (idle[i] < 0)
			continue;
		/* EOF (or a reset) once the server closes it; SO_RCVTIMEO bounds the wait */
		if (read(idle[i], &c, 1) <= 0 && now_s() - opened < 9)
			closed++;
		close(idle[i]);
	}
	CHECK_INT(closed, ARRAY_SIZE(idle));
	CHECK(now_s() - opened > 4);
	http_server__stop(s);
}

/* Headers beyond the connection's memory: refused, the connection counted as an error. */
static void test_oversized(void)
{
	struct fake f = { 0 };
	struct http_server *s = start(&f, ":0", NULL);
	char big[20100];
	struct response r;

	CHECK(s != NULL);
	if (!s)
		return;
	memcpy(big, "X-Big: ", 7);
	memset(big + 7, 'a', sizeof(big) - 10);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	get(port_of(s), "/healthz", big, &r);
	CHECK(r.status == 431 || r.status == -1);
	get(port_of(s), "/metrics", NULL, &r);
	CHECK_INT(r.status, 200);
	CHECK(f.last.errors >= 1);
	http_server__stop(s);
}

/*
 * Stopped with a profile running and more requests waiting for the workers: stop() returns once
 * the handler has, and what waited is answered 503 (or the connection closed), nothing leaks.
 */
static void test_stop_busy(void)
{
	struct fake f = { 0 };
	struct http_server *s = start(&f, ":0", NULL);
	struct client c[4];
	double t;

	CHECK(s != NULL);
	if (!s)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		c[i] =
		    (struct client){ .port = port_of(s), .path = "/debug/pprof/profile?seconds=1" };
		CHECK_INT(pthread_create(&c[i].thread, NULL, client_main, &c[i]), 0);
	}
	/* two workers, so two profiles run and two requests wait */
	CHECK(wait_profiles(&f, 2));
	usleep(100000);
	t = now_s();
	http_server__stop(s);
	CHECK(now_s() - t < 3);
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		pthread_join(c[i].thread, NULL);
		CHECK(c[i].r.status == 200 || c[i].r.status == 503 || c[i].r.status == -1);
	}
	CHECK_INT(__atomic_load_n(&f.in_profile, __ATOMIC_SEQ_CST), 0);
	CHECK(__atomic_load_n(&f.profiles, __ATOMIC_SEQ_CST) <= 2);
}

/* A server of our own on 127.0.0.1 that answers each connection with `answer` (NULL: never). */
struct raw_server {
	pthread_t thread;
	int fd;
	uint16_t port;
	const char *answer;
	size_t repeat; /* the answer this many times (a large one) */
};

static void *raw_main(void *arg)
{
	struct raw_server *r = arg;
	int c = accept(r->fd, NULL, NULL);
	char buf[1024];

	if (c < 0)
		return NULL;
	/* the request, then the answer, then close */
	if (read(c, buf, sizeof(buf)) > 0)
		for (size_t i = 0; i < r->repeat; i++)
			if (send(c, r->answer, strlen(r->answer), MSG_NOSIGNAL) < 0)
				break;
	close(c);
	return NULL;
}

static int raw_start(struct raw_server *r, const char *answer, size_t repeat)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);

	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    getsockname(r->fd, (struct sockaddr *)&sin, &len) || listen(r->fd, 4))
		return -errno;
	r->port = ntohs(sin.sin_port);
	r->answer = answer;
	r->repeat = repeat;
	/* no answer: a listener that never accepts, as a wedged process's socket */
	if (answer && pthread_create(&r->thread, NULL, raw_main, r))
		return -EAGAIN;
	return 0;
}

static void raw_stop(struct raw_server *r)
{
	if (r->answer)
		pthread_join(r->thread, NULL);
	close(r->fd);
}

/*
 * The probe of `scorch healthcheck`: 200 and 503 with the reason from the endpoint itself;
 * nothing listening refused at once; a listener that never answers given up at the timeout;
 * what is not HTTP refused; an endless answer read no further than its bound.
 */
static void test_probe(void)
{
	struct fake f = { .sick = false };
	struct http_server *s = start(&f, ":0", NULL);
	struct http_probe_result res;
	struct raw_server raw;
	char addr[64], err[256];
	double t;

	CHECK(s != NULL);
	if (!s)
		return;
	snprintf(addr, sizeof(addr), ":%u", port_of(s));
	CHECK_INT(http_probe(addr, "/healthz", 2000, &res, err, sizeof(err)), 0);
	CHECK_INT(res.status, 200);
	CHECK_STR(res.reason, "ok");
	f.sick = true;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port_of(s));
	CHECK_INT(http_probe(addr, "/healthz", 2000, &res, err, sizeof(err)), 0);
	CHECK_INT(res.status, 503);
	CHECK_STR(res.reason, "stuck for a test");
	/* 0.0.0.0 (an agent listening everywhere) is asked on this machine */
	snprintf(addr, sizeof(addr), "0.0.0.0:%u", port_of(s));
	CHECK_INT(http_probe(addr, "/healthz", 2000, &res, err, sizeof(err)), 0);
	CHECK_INT(res.status, 503);
	http_server__stop(s);

	/* the port is free now: refused at once */
	t = now_s();
	CHECK_INT(http_probe(addr, "/healthz", 2000, &res, err, sizeof(err)), -ECONNREFUSED);
	CHECK(now_s() - t < 1);
	CHECK_STR(err, "cannot connect: Connection refused");

	/* IPv6: listened on and probed as [::1]:PORT */
	s = start(&f, "[::1]:0", NULL);
	CHECK(s && !strncmp(http_server__address(s), "[::1]:", 6));
	CHECK(s && http_server__is_loopback(s));
	if (s) {
		f.sick = false;
		snprintf(addr, sizeof(addr), "[::1]:%u", port_of(s));
		CHECK_INT(http_probe(addr, "/healthz", 2000, &res, err, sizeof(err)), 0);
		CHECK_INT(res.status, 200);
		CHECK_INT(http_probe(addr, "/ready", 2000, &res, err, sizeof(err)), 0);
		CHECK_INT(res.status, 200);
		/* every IPv6 address ([::]) is asked on this machine */
		snprintf(addr, sizeof(addr), "[::]:%u", port_of(s));
		CHECK_INT(http_probe(addr, "/healthz", 2000, &res, err, sizeof(err)), 0);
		CHECK_INT(res.status, 200);
	}
	http_server__stop(s);

	/* a listener that never accepts: the kernel completes the connection, nobody answers */
	CHECK_INT(raw_start(&raw, NULL, 0), 0);
	snprintf(addr, sizeof(addr), ":%u", raw.port);
	t = now_s();
	CHECK_INT(http_probe(addr, "/healthz", 500, &res, err, sizeof(err)), -ETIMEDOUT);
	t = now_s() - t;
	CHECK(t >= 0.45 && t < 2);
	CHECK_STR(err, "no answer within 0.5 s");
	raw_stop(&raw);

	CHECK_INT(raw_start(&raw, "SSH-2.0-OpenSSH_9.2\r\n", 1), 0);
	snprintf(addr, sizeof(addr), ":%u", raw.port);
	CHECK_INT(http_probe(addr, "/healthz", 2000, &res, err, sizeof(err)), -EBADMSG);
	raw_stop(&raw);

	/* control bytes of a reason replaced */
	CHECK_INT(raw_start(&raw, "HTTP/1.0 200 OK\r\nX: y\r\n\r\nfine\x7f", 1), 0);
	snprintf(addr, sizeof(addr), ":%u", raw.port);
	CHECK_INT(http_probe(addr, "/healthz", 2000, &res, err, sizeof(err)), 0);
	CHECK_INT(res.status, 200);
	CHECK_STR(res.reason, "fine?");
	raw_stop(&raw);
	/* 64 MB of answer: the status and the reason's first bytes, the rest never read */
	{
		static char big[65536];

		memset(big, 'x', sizeof(big) - 1);
		memcpy(big, "HTTP/1.1 503 Busy\r\n\r\n", 21);
		CHECK_INT(raw_start(&raw, big, 1024), 0);
		snprintf(addr, sizeof(addr), ":%u", raw.port);
		t = now_s();
		CHECK_INT(http_probe(addr, "/healthz", 2000, &res, err, sizeof(err)), 0);
		CHECK(now_s() - t < 2);
		CHECK_INT(res.status, 503);
		CHECK_INT(strlen(res.reason), sizeof(res.reason) - 1);
		raw_stop(&raw);
	}
	CHECK_INT(http_probe("7071", "/healthz", 2000, &res, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	test_address();
	test_token();
	test_health();
	test_probe();
	test_idle_and_blocking();
	test_oversized();
	test_stop_busy();
	return check_done("test_http");
}
