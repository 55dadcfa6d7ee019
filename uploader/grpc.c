// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unary gRPC calls over libcurl (HTTP/2, h2c or TLS), bounded and redacted (grpc.h). */
#include "grpc.h"
#include "dlib.h"
#include "fileio.h"
#include "grpc-internal.h"
#include "util.h"

/* CURLOPT_PROTOCOLS is deprecated, yet the one way to restrict libcurl before 7.85 */
#define CURL_DISABLE_DEPRECATION
#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Where Debian keeps the system's CA bundle. */
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
/* What the body of a signed-URL PUT's answer may hold before the transfer is cut. */
#define MAX_PUT_ANSWER (64u << 10)

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
	const struct dlib_sym syms[] = {
		{ "curl_global_init", &curl.global_init },
		{ "curl_easy_init", &curl.easy_init },
		{ "curl_easy_setopt", &curl.easy_setopt },
		{ "curl_easy_perform", &curl.easy_perform },
		{ "curl_easy_getinfo", &curl.easy_getinfo },
		{ "curl_easy_cleanup", &curl.easy_cleanup },
		{ "curl_easy_strerror", &curl.easy_strerror },
		{ "curl_slist_append", &curl.slist_append },
		{ "curl_slist_free_all", &curl.slist_free_all },
	};
	static bool loaded;

	if (loaded)
		return 0;
	if (dlib_load(names, ARRAY_SIZE(names), syms, ARRAY_SIZE(syms), NULL, 0))
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
	char *token; /* the bearer token, to scrub from what is logged; NULL without one */
	struct grpc_opts opts; /* opts.bearer_token is not kept: NULL */
	atomic_bool cancelled; /* set by grpc_client__cancel() from another thread */
	bool h2c_open; /* h2c: the last call left an HTTP/2 connection standing */
};

/* What one transfer received, each part bounded. */
struct response {
	uint8_t *body;
	size_t len, max, slack; /* len at most max + slack (a frame header beyond the message) */
	bool body_over; /* the body went beyond max: transfer cut */
	size_t header_lines, header_bytes;
	bool headers_over; /* beyond GRPC_MAX_HEADER_LINES or _BYTES: transfer cut */
	int grpc_status; /* -1 until a grpc-status header or trailer arrives */
	char grpc_message[256]; /* percent-decoded, raw: redacted before anyone sees it */
	size_t grpc_message_len;
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
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
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
	c->opts.bearer_token = NULL; /* the caller's buffer, wiped after this */
	if (!c->opts.max_response)
		c->opts.max_response = GRPC_MAX_RESPONSE;
	atomic_init(&c->cancelled, false);
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
		c->token = strdup(opts->bearer_token);
		if (!c->token)
			goto fail;
	}
	if (!c->headers)
		goto fail;
	return c;
fail:
	grpc_client__free(c);
	return NULL;
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

void grpc_client__cancel(struct grpc_client *c)
{
	if (c)
		atomic_store(&c->cancelled, true);
}

/* ---- what may be logged ---- */

/* Append the n bytes of s to out (o bytes used of size, one kept for the NUL). */
static void put_bytes(char *out, size_t size, size_t *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && *o + 1 < size; i++)
		out[(*o)++] = s[i];
}

size_t grpc_redact(const char *in, size_t len, const char *secret, char *out, size_t size)
{
	static const char name[] = "authorization";
	static const char redacted[] = "<redacted>";
	size_t slen = secret ? strlen(secret) : 0, o = 0;

	for (size_t i = 0; i < len && o + 1 < size;) {
		if (slen && len - i >= slen && !memcmp(in + i, secret, slen)) {
			put_bytes(out, size, &o, redacted, sizeof(redacted) - 1);
			i += slen;
			continue;
		}
		if (len - i >= sizeof(name) - 1 && !strncasecmp(in + i, name, sizeof(name) - 1)) {
			size_t j = i + sizeof(name) - 1;

			while (j < len && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (j < len && in[j] == ':') {
				/* the name as it was (tabs as spaces), nothing of the value: it
				 * ends the line */
				put_bytes(out, size, &o, in + i, sizeof(name) - 1);
				for (size_t k = i + sizeof(name) - 1; k < j; k++)
					put_bytes(out, size, &o, " ", 1);
				put_bytes(out, size, &o, ": ", 2);
				put_bytes(out, size, &o, redacted, sizeof(redacted) - 1);
				for (i = j + 1; i < len && in[i] != '\n' && in[i] != '\r'; i++)
					;
				continue;
			}
		}
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f)
			put_bytes(out, size, &o, "?", 1);
		else
			put_bytes(out, size, &o, in + i, 1);
		i++;
	}
	if (size)
		out[o < size ? o : size - 1] = 0;
	return o;
}

/* libcurl's verbose output, line by line, through grpc_redact(). Data itself is not shown. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ctx)
{
	struct grpc_client *c = ctx;
	const char *prefix;
	char line[1024];

	(void)h;
	switch (type) {
	case CURLINFO_TEXT:
		prefix = "* ";
		break;
	case CURLINFO_HEADER_IN:
		prefix = "< ";
		break;
	case CURLINFO_HEADER_OUT:
		prefix = "> ";
		break;
	default:
		return 0;
	}
	for (size_t start = 0; start < size;) {
		const char *nl = memchr(data + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - data) : size, n = end - start;

		while (n && data[start + n - 1] == '\r')
			n--;
		if (n) {
			memcpy(line, prefix, 2);
			grpc_redact(data + start, n, c->token, line + 2, sizeof(line) - 2);
			c->opts.debug(c->opts.debug_ctx, line);
		}
		start = end + 1;
	}
	return 0;
}

int grpc_check_upload_url(const char *url, bool allow_http, char *origin, size_t size)
{
	size_t len = strnlen(url, GRPC_MAX_URL + 1), slen = 0, auth_len, host, o = 0;
	const char *auth;
	bool https, http;

	if (size)
		origin[0] = 0;
	/* RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://" */
	while (slen < len && slen <= 32 &&
	       (isalpha((unsigned char)url[slen]) ||
		(slen && (isdigit((unsigned char)url[slen]) || strchr("+-.", url[slen])))))
		slen++;
	if (!slen || slen > 32 || strncmp(url + slen, "://", 3))
		return -EINVAL;
	auth = url + slen + 3;
	auth_len = strcspn(auth, "/?#");
	/* the host without the user info before it: "user:password@" */
	host = auth_len;
	while (host && auth[host - 1] != '@')
		host--;
	for (size_t i = 0; i < slen; i++) {
		char ch = (char)tolower((unsigned char)url[i]);

		put_bytes(origin, size, &o, &ch, 1);
	}
	put_bytes(origin, size, &o, "://", 3);
	for (size_t i = host; i < auth_len && i - host < 255; i++)
		put_bytes(origin, size, &o,
			  (unsigned char)auth[i] > 0x20 && (unsigned char)auth[i] < 0x7f ? auth + i
											 : "?",
			  1);
	if (size)
		origin[o] = 0;
	https = slen == 5 && !strncasecmp(url, "https", 5);
	http = slen == 4 && !strncasecmp(url, "http", 4);
	if (!https && !(http && allow_http))
		return -EPROTONOSUPPORT;
	if (len > GRPC_MAX_URL || host == auth_len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return -EINVAL;
	return 0;
}

/* ---- transfers ---- */

/* Any transfer: polled at least once a second by libcurl, a non-zero return aborts it. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct grpc_client *c = ctx;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&c->cancelled) ? 1 : 0;
}

/*
 * The protocols libcurl may speak on handle h, for the URL and every redirect: "http",
 * "https" or "http,https". The string option came with 7.85; before, the bitmask. Neither
 * taken: the transfer does not happen.
 */
static int restrict_protocols(CURL *h, const char *protocols)
{
	long mask = 0;

#if LIBCURL_VERSION_NUM >= 0x075500
	if (curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK &&
	    curl.easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols) == CURLE_OK)
		return 0;
#endif
	if (strstr(protocols, "https"))
		mask |= CURLPROTO_HTTPS;
	if (!strcmp(protocols, "http") || strstr(protocols, "http,"))
		mask |= CURLPROTO_HTTP;
	if (curl.easy_setopt(h, CURLOPT_PROTOCOLS, mask) == CURLE_OK &&
	    curl.easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, mask) == CURLE_OK)
		return 0;
	return -EPROTONOSUPPORT;
}

/* What every transfer of the client has: protocols, time bounds, cancellation, TLS, debug. */
static int setup_transfer(struct grpc_client *c, CURL *h, const char *protocols, long timeout_ms)
{
	if (restrict_protocols(h, protocols))
		return -EPROTONOSUPPORT;
	curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.timeout_ms);
	curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl.easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl.easy_setopt(h, CURLOPT_USERAGENT, "scorch/" SCORCH_VERSION);
	use_ca_bundle(c, h);
	if (c->opts.insecure_skip_verify) {
		curl.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->opts.client_cert_file && c->opts.client_key_file) {
		curl.easy_setopt(h, CURLOPT_SSLCERT, c->opts.client_cert_file);
		curl.easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl.easy_setopt(h, CURLOPT_SSLKEY, c->opts.client_key_file);
		curl.easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->opts.debug) {
		curl.easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
		curl.easy_setopt(h, CURLOPT_DEBUGDATA, c);
		curl.easy_setopt(h, CURLOPT_VERBOSE, 1L);
	}
	return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct response *r = ctx;
	size_t len = size * n;
	uint8_t *grown;

	if (len > r->max + r->slack - r->len) {
		r->body_over = true;
		return 0; /* aborts the transfer */
	}
	grown = realloc(r->body, r->len + len ? r->len + len : 1);
	if (!grown)
		return 0;
	r->body = grown;
	memcpy(r->body + r->len, data, len);
	r->len += len;
	return len;
}

/* A body nobody reads (a PUT's answer): counted against the bound, not kept. */
static size_t on_discard(char *data, size_t size, size_t n, void *ctx)
{
	struct response *r = ctx;
	size_t len = size * n;

	(void)data;
	if (len > r->max - r->len) {
		r->body_over = true;
		return 0;
	}
	r->len += len;
	return len;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* grpc-message is percent-encoded. The bytes written (no NUL). */
static size_t percent_decode(const char *in, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o < size; i++) {
		int hi = i + 2 < len ? hex_digit(in[i + 1]) : -1;
		int lo = i + 2 < len ? hex_digit(in[i + 2]) : -1;

		if (in[i] == '%' && hi >= 0 && lo >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	return o;
}

/* Headers and, over HTTP/2, trailers: both come here, each line counted against the bounds. */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct response *r = ctx;
	size_t len = size * n;

	r->header_bytes += len;
	if (++r->header_lines > GRPC_MAX_HEADER_LINES || r->header_bytes > GRPC_MAX_HEADER_BYTES) {
		r->headers_over = true;
		return 0; /* aborts the transfer */
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len > 12 && !strncasecmp(data, "grpc-status:", 12)) {
		char num[16];
		size_t i = 12, k = 0;
		uint64_t v;

		while (i < len && data[i] == ' ')
			i++;
		while (i < len && data[i] != ' ' && k + 1 < sizeof(num))
			num[k++] = data[i++];
		num[k] = 0;
		/* a code gRPC does not define is UNKNOWN, as gRPC's clients take it */
		r->grpc_status = parse_u64(num, 10, 0, 16, &v) ? GRPC_UNKNOWN : (int)v;
	} else if (len > 13 && !strncasecmp(data, "grpc-message:", 13)) {
		size_t i = 13;

		while (i < len && data[i] == ' ')
			i++;
		r->grpc_message_len =
		    percent_decode(data + i, len - i, r->grpc_message, sizeof(r->grpc_message) - 1);
	}
	return size * n;
}

static int out_of_memory(struct grpc_result *res)
{
	memset(res, 0, sizeof(*res));
	res->code = GRPC_INTERNAL;
	snprintf(res->message, sizeof(res->message), "out of memory");
	return res->code;
}

static int cancelled(struct grpc_result *res)
{
	memset(res, 0, sizeof(*res));
	res->code = GRPC_CANCELLED;
	snprintf(res->message, sizeof(res->message), "cancelled: the client is stopping");
	return res->code;
}

/* The request body: a buffer, or a generator that libcurl pulls from. */
struct body {
	const uint8_t *buf;
	size_t len;
	curl_read_callback read;
	void *read_ctx;
};

/* The outcome of a failed transfer, the bound it hit first. */
static void transfer_error(struct grpc_client *c, const struct response *r, CURLcode cr,
			   struct grpc_result *res)
{
	if (r->headers_over) {
		res->code = GRPC_RESOURCE_EXHAUSTED;
		snprintf(res->message, sizeof(res->message),
			 "response headers over %u lines or %u bytes, refused",
			 GRPC_MAX_HEADER_LINES, GRPC_MAX_HEADER_BYTES);
	} else if (r->body_over) {
		res->code = GRPC_RESOURCE_EXHAUSTED;
		snprintf(res->message, sizeof(res->message),
			 "response larger than %zu bytes, refused", r->max);
	} else if (cr == CURLE_ABORTED_BY_CALLBACK && atomic_load(&c->cancelled)) {
		cancelled(res);
	} else {
		res->code =
		    cr == CURLE_OPERATION_TIMEDOUT ? GRPC_DEADLINE_EXCEEDED : GRPC_UNAVAILABLE;
		snprintf(res->message, sizeof(res->message), "%s", curl.easy_strerror(cr));
	}
}

static int perform(struct grpc_client *c, const char *path, const struct body *b, long timeout_ms,
		   struct grpc_result *res)
{
	/* the response is one message: its 5-byte frame header, then at most max_response bytes */
	struct response r = { .grpc_status = -1, .max = c->opts.max_response, .slack = 5 };
	_cleanup_free_ char *url = NULL;
	bool reuse;
	CURLcode cr;

	memset(res, 0, sizeof(*res));
	if (atomic_load(&c->cancelled))
		return cancelled(res);
	if (asprintf(&url, "%s%s", c->url_base, path) < 0) {
		url = NULL;
		return out_of_memory(res);
	}
	if (setup_transfer(c, c->curl, c->opts.insecure ? "http" : "https", timeout_ms)) {
		res->code = GRPC_INTERNAL;
		snprintf(res->message, sizeof(res->message),
			 "libcurl refuses to be restricted to one protocol");
		return res->code;
	}
	curl.easy_setopt(c->curl, CURLOPT_URL, url);
	curl.easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
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
	/*
	 * The connection is kept for the next call: no TLS handshake every interval. In cleartext
	 * the first call speaks h2c with prior knowledge; libcurl 7.88 (Debian 12) fails a later
	 * prior-knowledge request on the kept connection ("Error in the HTTP2 framing layer",
	 * curl issue 10634, fixed in 8.0), so once a connection stands the calls ask for plain
	 * HTTP/2, which reuses it. Should it be gone, that makes a new connection that tries an
	 * HTTP/1.1 upgrade, which a gRPC server refuses before reading the call: then the call
	 * is made again at once, with prior knowledge, on a new connection.
	 */
	curl.easy_setopt(c->curl, CURLOPT_FORBID_REUSE, 0L);
	reuse = c->opts.insecure && c->h2c_open;
	for (int attempt = 0;; attempt++) {
		long fresh = 0, version = 0;

		curl.easy_setopt(c->curl, CURLOPT_HTTP_VERSION,
				 !c->opts.insecure ? CURL_HTTP_VERSION_2TLS
				 : reuse	   ? CURL_HTTP_VERSION_2_0
						   : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
		cr = curl.easy_perform(c->curl);
		curl.easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &fresh);
		curl.easy_getinfo(c->curl, CURLINFO_HTTP_VERSION, &version);
		/*
		 * Again only when the answer was not HTTP/2: a gRPC server never takes a call over
		 * HTTP/1.1. Whatever answered in HTTP/2 (a proxy that took the upgrade) may have
		 * taken the call, and it is not sent twice.
		 */
		if (!reuse || attempt || fresh <= 0 || b->read || version == CURL_HTTP_VERSION_2_0)
			break;
		free(r.body);
		r = (struct response){ .grpc_status = -1, .max = c->opts.max_response, .slack = 5 };
		reuse = false;
	}
	c->h2c_open = c->opts.insecure && cr == CURLE_OK && r.grpc_status >= 0;
	curl.easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r.http_status);
	if (cr != CURLE_OK) {
		transfer_error(c, &r, cr, res);
	} else if (r.grpc_status >= 0) {
		res->code = r.grpc_status;
		/* the server's words: one line, without our token should it echo it */
		grpc_redact(r.grpc_message, r.grpc_message_len, c->token, res->message,
			    sizeof(res->message));
	} else {
		res->code = r.http_status == 200 ? GRPC_INTERNAL : code_from_http(r.http_status);
		snprintf(res->message, sizeof(res->message), "HTTP status %ld without grpc-status",
			 r.http_status);
	}
	if (res->code == GRPC_OK && r.len) {
		/* one uncompressed message, exactly the length its header says */
		size_t mlen = r.len >= 5 ? (size_t)r.body[1] << 24 | (size_t)r.body[2] << 16 |
					       (size_t)r.body[3] << 8 | r.body[4]
					 : 0;

		if (r.len < 5 || r.body[0] != 0 || mlen != r.len - 5) {
			res->code = GRPC_INTERNAL;
			snprintf(res->message, sizeof(res->message),
				 "malformed response: %zu bytes, not one uncompressed message",
				 r.len);
		} else {
			res->response = malloc(mlen ? mlen : 1);
			if (!res->response) {
				free(r.body);
				return out_of_memory(res);
			}
			memcpy(res->response, r.body + 5, mlen);
			res->response_len = mlen;
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

/* A PUT body read from a file at an offset libcurl may move back (to resend on a redirect). */
struct put_source {
	int fd;
	uint64_t off, size;
	bool failed;
};

static size_t put_read(char *out, size_t size, size_t nitems, void *ctx)
{
	struct put_source *p = ctx;
	size_t room = size * nitems;
	ssize_t n;

	if (p->off >= p->size)
		return 0;
	if (room > p->size - p->off)
		room = p->size - p->off;
	n = pread(p->fd, out, room, (off_t)p->off);
	if (n <= 0) {
		/* a read error, or a file shorter than announced */
		p->failed = true;
		return CURL_READFUNC_ABORT;
	}
	p->off += n;
	return n;
}

static int put_seek(void *ctx, curl_off_t offset, int origin)
{
	struct put_source *p = ctx;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > p->size)
		return CURL_SEEKFUNC_FAIL;
	p->off = offset;
	return CURL_SEEKFUNC_OK;
}

int grpc_client__put_file(struct grpc_client *c, const char *url, int fd, uint64_t size, char *err,
			  size_t errlen)
{
	struct response r = { .max = MAX_PUT_ANSWER };
	struct put_source src = { .fd = fd, .size = size };
	const char *protocols = c->opts.insecure ? "http,https" : "https";
	struct grpc_result res = { 0 };
	char origin[300];
	CURLcode cr;
	CURL *h;
	int v;

	v = grpc_check_upload_url(url, c->opts.insecure, origin, sizeof(origin));
	if (v == -EPROTONOSUPPORT) {
		snprintf(err, errlen, "refused the URL '%s': %s", origin,
			 c->opts.insecure ? "only http and https are allowed"
					  : "only https is allowed");
		return v;
	}
	if (v) {
		snprintf(err, errlen,
			 "refused the URL '%s': not a URL of at most %u printable bytes", origin,
			 GRPC_MAX_URL);
		return -EPROTONOSUPPORT;
	}
	if (atomic_load(&c->cancelled)) {
		snprintf(err, errlen, "cancelled: the client is stopping");
		return -ECANCELED;
	}
	h = curl.easy_init();
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* a large file may take longer than a profile: a minute, plus a second per MiB */
	if (setup_transfer(c, h, protocols, 60000L + (long)(size >> 20) * 1000)) {
		curl.easy_cleanup(h);
		snprintf(err, errlen, "libcurl refuses to be restricted to %s", protocols);
		return -EPROTONOSUPPORT;
	}
	curl.easy_setopt(h, CURLOPT_URL, url);
	/* object stores may redirect (another region): a few hops, the protocol rule on each */
	curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl.easy_setopt(h, CURLOPT_MAXREDIRS, (long)GRPC_MAX_REDIRECTS);
	curl.easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl.easy_setopt(h, CURLOPT_READFUNCTION, put_read);
	curl.easy_setopt(h, CURLOPT_READDATA, &src);
	curl.easy_setopt(h, CURLOPT_SEEKFUNCTION, put_seek);
	curl.easy_setopt(h, CURLOPT_SEEKDATA, &src);
	curl.easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_discard);
	curl.easy_setopt(h, CURLOPT_WRITEDATA, &r);
	curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl.easy_setopt(h, CURLOPT_HEADERDATA, &r);
	cr = curl.easy_perform(h);
	curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.http_status);
	curl.easy_cleanup(h);
	if (cr != CURLE_OK) {
		transfer_error(c, &r, cr, &res);
		if (res.code == GRPC_CANCELLED) {
			snprintf(err, errlen, "%s", res.message);
			return -ECANCELED;
		}
		if (cr == CURLE_UNSUPPORTED_PROTOCOL)
			snprintf(err, errlen, "%s: a redirect to a protocol other than %s, refused",
				 origin, protocols);
		else if (src.failed)
			snprintf(err, errlen,
				 "cannot read the file (or it shrank) at byte %" PRIu64, src.off);
		else
			snprintf(err, errlen, "%s: %s", origin, res.message);
		return -EIO;
	}
	if (r.http_status < 200 || r.http_status > 299) {
		snprintf(err, errlen, "%s: HTTP status %ld", origin, r.http_status);
		return -EIO;
	}
	return 0;
}
