// SPDX-License-Identifier: LGPL-2.1-or-later
#include "grpc.h"
#include "fileio.h"
#include "util.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Where Debian keeps the system's CA bundle. */
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
/* Bound on a response message: ours are empty or small. */
#define MAX_RESPONSE (16u << 20)

/*
 * libcurl, loaded on first use: linked in, it brings some thirty libraries (TLS, Kerberos,
 * LDAP...) and ~6 MB of RSS into every scorch run, record included. Only the agent with a remote
 * store needs it. Variadic functions keep their calling convention through these pointers.
 */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *c);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
} curl;

static int load_curl(void)
{
	static const char *const names[] = { "libcurl.so.4", "libcurl-gnutls.so.4" };
	static bool loaded;
	void *h = NULL;

	if (loaded)
		return 0;
	for (size_t i = 0; !h && i < ARRAY_SIZE(names); i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -ENOENT;
	curl.global_init = (void *)dlsym(h, "curl_global_init");
	curl.easy_init = (void *)dlsym(h, "curl_easy_init");
	curl.easy_setopt = (void *)dlsym(h, "curl_easy_setopt");
	curl.easy_perform = (void *)dlsym(h, "curl_easy_perform");
	curl.easy_getinfo = (void *)dlsym(h, "curl_easy_getinfo");
	curl.easy_cleanup = (void *)dlsym(h, "curl_easy_cleanup");
	curl.easy_strerror = (void *)dlsym(h, "curl_easy_strerror");
	curl.slist_append = (void *)dlsym(h, "curl_slist_append");
	curl.slist_free_all = (void *)dlsym(h, "curl_slist_free_all");
	if (!curl.global_init || !curl.easy_init || !curl.easy_setopt || !curl.easy_perform ||
	    !curl.easy_getinfo || !curl.easy_cleanup || !curl.easy_strerror || !curl.slist_append ||
	    !curl.slist_free_all)
		return -ENOENT;
	curl.global_init(CURL_GLOBAL_DEFAULT);
	loaded = true;
	return 0;
}

struct grpc_client {
	CURL *curl;
	struct curl_slist *headers;
	char *url_base; /* "http://HOST:PORT" or "https://HOST:PORT" */
	char *ca_bundle; /* system CAs and the extra one, PEM; NULL when there is no extra one */
	size_t ca_len;
	struct grpc_opts opts;
};

struct response {
	uint8_t *body;
	size_t len;
	int grpc_status; /* -1 until a grpc-status header or trailer arrives */
	char grpc_message[256];
	long http_status;
};

const char *grpc_code_name(int code)
{
	static const char *const names[] = {
		"OK",
		"CANCELLED",
		"UNKNOWN",
		"INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED",
		"NOT_FOUND",
		"ALREADY_EXISTS",
		"PERMISSION_DENIED",
		"RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION",
		"ABORTED",
		"OUT_OF_RANGE",
		"UNIMPLEMENTED",
		"INTERNAL",
		"UNAVAILABLE",
		"DATA_LOSS",
		"UNAUTHENTICATED",
	};

	return code >= 0 && code < (int)ARRAY_SIZE(names) ? names[code] : "UNKNOWN";
}

bool grpc_code_is_transient(int code)
{
	return code == GRPC_UNAVAILABLE || code == GRPC_DEADLINE_EXCEEDED ||
	       code == GRPC_RESOURCE_EXHAUSTED || code == GRPC_INTERNAL || code == GRPC_UNKNOWN ||
	       code == 10 /* ABORTED */;
}

void grpc_client__free(struct grpc_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl.easy_cleanup(c->curl);
	if (c->headers)
		curl.slist_free_all(c->headers);
	free(c->url_base);
	if (c->ca_bundle)
		explicit_bzero(c->ca_bundle, c->ca_len);
	free(c->ca_bundle);
	free(c);
}

/* The system bundle followed by the extra CA: TLS trusts both. */
static int load_ca_bundle(struct grpc_client *c, const char *extra)
{
	_cleanup_free_ char *sys = NULL, *add = NULL;
	size_t sys_len = 0, add_len = 0;
	int r;

	r = read_file(extra, 1 << 20, &add, &add_len);
	if (r)
		return r;
	/* a machine without the system bundle still trusts the extra CA */
	if (read_file(SYSTEM_CA_BUNDLE, 16 << 20, &sys, &sys_len))
		sys_len = 0;
	c->ca_bundle = malloc(sys_len + add_len + 2);
	if (!c->ca_bundle)
		return -ENOMEM;
	memcpy(c->ca_bundle, sys ? sys : "", sys_len);
	c->ca_bundle[sys_len] = '\n';
	memcpy(c->ca_bundle + sys_len + 1, add, add_len);
	c->ca_len = sys_len + 1 + add_len;
	c->ca_bundle[c->ca_len] = 0;
	return 0;
}

struct grpc_client *grpc_client__new(const struct grpc_opts *opts)
{
	struct grpc_client *c = calloc(1, sizeof(*c));
	char auth[4096];

	if (!c)
		return NULL;
	c->opts = *opts;
	if (load_curl()) {
		free(c);
		errno = ENOENT;
		return NULL;
	}
	c->curl = curl.easy_init();
	if (!c->curl || asprintf(&c->url_base, "%s://%s", opts->insecure ? "http" : "https",
				 opts->address) < 0) {
		c->url_base = NULL;
		goto fail;
	}
	if (opts->ca_file && load_ca_bundle(c, opts->ca_file))
		goto fail;
	c->headers = curl.slist_append(c->headers, "content-type: application/grpc");
	c->headers = curl.slist_append(c->headers, "te: trailers");
	c->headers = curl.slist_append(c->headers, "grpc-accept-encoding: identity");
	c->headers = curl.slist_append(c->headers, "expect:");
	if (opts->bearer_token) {
		if (snprintf(auth, sizeof(auth), "authorization: Bearer %s", opts->bearer_token) >=
		    (int)sizeof(auth))
			goto fail;
		c->headers = curl.slist_append(c->headers, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	if (!c->headers)
		goto fail;
	return c;
fail:
	grpc_client__free(c);
	return NULL;
}

static size_t on_discard(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * n;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct response *r = ctx;
	size_t len = size * n;
	uint8_t *grown;

	if (r->len + len > MAX_RESPONSE)
		return 0; /* aborts the transfer */
	grown = realloc(r->body, r->len + len);
	if (!grown)
		return 0;
	r->body = grown;
	memcpy(r->body + r->len, data, len);
	r->len += len;
	return len;
}

/* grpc-message is percent-encoded. */
static void percent_decode(const char *in, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < size; i++) {
		unsigned int v;

		if (in[i] == '%' && i + 2 < len && sscanf(in + i + 1, "%2x", &v) == 1) {
			out[o++] = (char)v;
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = 0;
}

/* Headers and, over HTTP/2, trailers: both come here. */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct response *r = ctx;
	size_t len = size * n;

	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len > 12 && !strncasecmp(data, "grpc-status:", 12)) {
		char num[16];
		size_t k = 0;

		for (size_t i = 12; i < len && k + 1 < sizeof(num); i++)
			if (data[i] != ' ')
				num[k++] = data[i];
		num[k] = 0;
		r->grpc_status = atoi(num);
	} else if (len > 13 && !strncasecmp(data, "grpc-message:", 13)) {
		size_t i = 13;

		while (i < len && data[i] == ' ')
			i++;
		percent_decode(data + i, len - i, r->grpc_message, sizeof(r->grpc_message));
	}
	return size * n;
}

/* The gRPC code for an HTTP status without grpc-status (gRPC's own mapping). */
static int code_from_http(long status)
{
	switch (status) {
	case 400:
		return GRPC_INTERNAL;
	case 401:
		return GRPC_UNAUTHENTICATED;
	case 403:
		return GRPC_PERMISSION_DENIED;
	case 404:
		return GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return GRPC_UNAVAILABLE;
	default:
		return GRPC_UNKNOWN;
	}
}

/* The extra CA (with the system's) for a handle's TLS: libcurl copies nothing, we keep it. */
static void use_ca_bundle(struct grpc_client *c, CURL *h)
{
	struct curl_blob blob = { .data = c->ca_bundle,
				  .len = c->ca_len,
				  .flags = CURL_BLOB_NOCOPY };

	if (c->ca_bundle)
		curl.easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
}

static int out_of_memory(struct grpc_result *res)
{
	memset(res, 0, sizeof(*res));
	res->code = GRPC_INTERNAL;
	snprintf(res->message, sizeof(res->message), "out of memory");
	return res->code;
}

/* The request body: a buffer, or a generator that libcurl pulls from. */
struct body {
	const uint8_t *buf;
	size_t len;
	curl_read_callback read;
	void *read_ctx;
};

static int perform(struct grpc_client *c, const char *path, const struct body *b, long timeout_ms,
		   struct grpc_result *res)
{
	struct response r = { .grpc_status = -1 };
	_cleanup_free_ char *url = NULL;
	CURLcode cr;

	memset(res, 0, sizeof(*res));
	if (asprintf(&url, "%s%s", c->url_base, path) < 0) {
		url = NULL;
		return out_of_memory(res);
	}
	curl.easy_setopt(c->curl, CURLOPT_URL, url);
	curl.easy_setopt(c->curl, CURLOPT_HTTP_VERSION,
			 c->opts.insecure ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
					  : CURL_HTTP_VERSION_2TLS);
	curl.easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	curl.easy_setopt(c->curl, CURLOPT_POST, 1L);
	if (b->read) {
		curl.easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
		curl.easy_setopt(c->curl, CURLOPT_READFUNCTION, b->read);
		curl.easy_setopt(c->curl, CURLOPT_READDATA, b->read_ctx);
	} else {
		curl.easy_setopt(c->curl, CURLOPT_READFUNCTION, NULL);
		curl.easy_setopt(c->curl, CURLOPT_POSTFIELDS, b->buf);
	}
	curl.easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
	curl.easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl.easy_setopt(c->curl, CURLOPT_WRITEDATA, &r);
	curl.easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl.easy_setopt(c->curl, CURLOPT_HEADERDATA, &r);
	curl.easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl.easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->opts.timeout_ms);
	curl.easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	/*
	 * A connection per call: Debian 12's libcurl (7.88) fails the second request on a reused
	 * HTTP/2 connection ("Error in the HTTP2 framing layer"). One call per interval makes the
	 * cost small.
	 */
	curl.easy_setopt(c->curl, CURLOPT_FORBID_REUSE, 1L);
	curl.easy_setopt(c->curl, CURLOPT_USERAGENT, "scorch/" SCORCH_VERSION);
	use_ca_bundle(c, c->curl);
	if (getenv("SCORCH_GRPC_DEBUG"))
		curl.easy_setopt(c->curl, CURLOPT_VERBOSE, 1L);
	cr = curl.easy_perform(c->curl);
	curl.easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r.http_status);
	if (cr != CURLE_OK) {
		res->code =
		    cr == CURLE_OPERATION_TIMEDOUT ? GRPC_DEADLINE_EXCEEDED : GRPC_UNAVAILABLE;
		snprintf(res->message, sizeof(res->message), "%s", curl.easy_strerror(cr));
	} else if (r.grpc_status >= 0) {
		res->code = r.grpc_status;
		snprintf(res->message, sizeof(res->message), "%s", r.grpc_message);
	} else {
		res->code = r.http_status == 200 ? GRPC_INTERNAL : code_from_http(r.http_status);
		snprintf(res->message, sizeof(res->message), "HTTP status %ld without grpc-status",
			 r.http_status);
	}
	if (res->code == GRPC_OK && r.len >= 5) {
		size_t mlen =
		    (size_t)r.body[1] << 24 | r.body[2] << 16 | r.body[3] << 8 | r.body[4];

		if (mlen <= r.len - 5) {
			res->response = malloc(mlen ? mlen : 1);
			if (res->response) {
				memcpy(res->response, r.body + 5, mlen);
				res->response_len = mlen;
			}
		}
	}
	free(r.body);
	return res->code;
}

/* A gRPC frame header: not compressed, 4-byte big-endian length. */
static void frame_header(uint8_t *h, size_t len)
{
	h[0] = 0;
	h[1] = len >> 24;
	h[2] = len >> 16;
	h[3] = len >> 8;
	h[4] = len;
}

int grpc_client__call(struct grpc_client *c, const char *path, const void *msg, size_t len,
		      struct grpc_result *res)
{
	_cleanup_free_ uint8_t *frame = malloc(len + 5);
	struct body b = { .buf = frame, .len = len + 5 };

	if (!frame) {
		return out_of_memory(res);
	}
	frame_header(frame, len);
	memcpy(frame + 5, msg, len);
	return perform(c, path, &b, c->opts.timeout_ms, res);
}

/*
 * A client stream of one first message, then the file in chunks, each a message whose field
 * `chunk_field` (bytes) holds the chunk. Generated as libcurl asks for it: the file is never
 * in memory whole.
 */
struct upload {
	const uint8_t *first;
	size_t first_len, first_pos;
	int fd;
	uint64_t left; /* file bytes still to send */
	uint32_t chunk, chunk_field;
	uint8_t head[5 + 1 + 10]; /* frame header, field tag, length varint of the current chunk */
	size_t head_len, head_pos;
	uint64_t chunk_left; /* file bytes of the current chunk still to send */
	bool failed;
};

static size_t varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		v >>= 7;
	} while (v);
	return n;
}

/* Frame bytes of one chunk message holding n file bytes. */
static size_t chunk_frame_len(uint32_t field, uint64_t n)
{
	uint8_t tmp[16];

	return 5 + varint(tmp, (uint64_t)field << 3 | 2) + varint(tmp, n) + n;
}

/* Copy what is left of buf (from *pos) into out, within room; the bytes copied. */
static size_t copy_part(char *out, size_t room, const uint8_t *buf, size_t len, size_t *pos)
{
	size_t n = len - *pos < room ? len - *pos : room;

	memcpy(out, buf + *pos, n);
	*pos += n;
	return n;
}

static size_t upload_read(char *out, size_t size, size_t nitems, void *ctx)
{
	struct upload *u = ctx;
	size_t room = size * nitems, done = 0;

	while (done < room) {
		if (u->first_pos < u->first_len) {
			done += copy_part(out + done, room - done, u->first, u->first_len,
					  &u->first_pos);
			continue;
		}
		if (u->head_pos < u->head_len) {
			done +=
			    copy_part(out + done, room - done, u->head, u->head_len, &u->head_pos);
			continue;
		}
		if (u->chunk_left) {
			size_t n = u->chunk_left < room - done ? u->chunk_left : room - done;
			ssize_t got = read(u->fd, out + done, n);

			if (got <= 0) {
				u->failed = true;
				return CURL_READFUNC_ABORT;
			}
			u->chunk_left -= got;
			u->left -= got;
			done += got;
			continue;
		}
		if (!u->left)
			break;
		/* the next chunk: its frame header and message header */
		u->chunk_left = u->left < u->chunk ? u->left : u->chunk;
		u->head_len = 5;
		u->head_len += varint(u->head + 5, (uint64_t)u->chunk_field << 3 | 2);
		u->head_len += varint(u->head + u->head_len, u->chunk_left);
		frame_header(u->head, u->head_len - 5 + u->chunk_left);
		u->head_pos = 0;
	}
	return done;
}

int grpc_client__upload(struct grpc_client *c, const char *path, const void *first,
			size_t first_len, int fd, uint64_t size, uint32_t chunk_field,
			uint32_t chunk_size, struct grpc_result *res)
{
	_cleanup_free_ uint8_t *framed = malloc(first_len + 5);
	struct upload u = {
		.fd = fd, .left = size, .chunk = chunk_size, .chunk_field = chunk_field
	};
	struct body b = { .read = upload_read, .read_ctx = &u };
	uint64_t total;
	int r;

	if (!framed || !chunk_size) {
		return out_of_memory(res);
	}
	frame_header(framed, first_len);
	memcpy(framed + 5, first, first_len);
	u.first = framed;
	u.first_len = first_len + 5;
	total = u.first_len;
	for (uint64_t left = size; left;) {
		uint64_t n = left < chunk_size ? left : chunk_size;

		total += chunk_frame_len(chunk_field, n);
		left -= n;
	}
	b.len = total;
	/* a large file may take longer than a profile: a minute, plus a second per MiB */
	r = perform(c, path, &b, 60000 + (long)(size >> 20) * 1000, res);
	if (u.failed && r == GRPC_OK)
		r = res->code = GRPC_INTERNAL;
	return r;
}

/* Feed a PUT body from a file descriptor. */
static size_t put_read(char *out, size_t size, size_t nitems, void *ctx)
{
	ssize_t n = read(*(int *)ctx, out, size * nitems);

	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

int grpc_client__put_file(struct grpc_client *c, const char *url, int fd, uint64_t size, char *err,
			  size_t errlen)
{
	CURL *h = curl.easy_init();
	long status = 0;
	CURLcode cr;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	curl.easy_setopt(h, CURLOPT_URL, url);
	curl.easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl.easy_setopt(h, CURLOPT_READFUNCTION, put_read);
	curl.easy_setopt(h, CURLOPT_READDATA, &fd);
	curl.easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_discard);
	curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L + (long)(size >> 20) * 1000);
	curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.timeout_ms);
	curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl.easy_setopt(h, CURLOPT_USERAGENT, "scorch/" SCORCH_VERSION);
	use_ca_bundle(c, h);
	cr = curl.easy_perform(h);
	curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl.easy_cleanup(h);
	if (cr != CURLE_OK) {
		snprintf(err, errlen, "%s", curl.easy_strerror(cr));
		return -EIO;
	}
	if (status < 200 || status > 299) {
		snprintf(err, errlen, "HTTP status %ld", status);
		return -EIO;
	}
	return 0;
}
