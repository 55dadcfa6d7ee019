/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A unary gRPC client over HTTP/2 with libcurl: cleartext h2c (prior knowledge) or TLS checked
 * against the system CAs (plus an optional CA file). One request at a time, each on a new
 * connection.
 *
 * The server is not trusted with this machine: libcurl speaks only http(s) for every transfer
 * (gRPC: the one scheme of the connection, no redirect; a signed-URL PUT: https, http too on an
 * insecure connection, at most GRPC_MAX_REDIRECTS redirects under the same rule), no cookie
 * engine, no .netrc; responses, headers and URLs the server gives are bounded. Proxies are
 * those libcurl reads from the environment (http_proxy, https_proxy, no_proxy...): the
 * environment is the operator's, never the server's.
 */
#ifndef SCORCH_GRPC_H
#define SCORCH_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* gRPC status codes that matter here. */
enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

struct grpc_opts {
	const char *address; /* HOST:PORT */
	bool insecure; /* h2c instead of TLS */
	const char *ca_file; /* extra CA for TLS, or NULL */
	bool insecure_skip_verify; /* TLS without checking the server's certificate */
	const char *client_cert_file, *client_key_file; /* mutual TLS: PEM, or NULL */
	const char *bearer_token; /* sent as "authorization: Bearer ..." (never logged), or NULL */
	long timeout_ms; /* whole call, connection included */
	size_t max_response; /* bound on one response message; 0: GRPC_MAX_RESPONSE */
	/*
	 * With it, libcurl's verbose output, one line a call, the value of authorization headers
	 * and the bearer token redacted, control characters replaced. Called from the thread
	 * doing the transfer.
	 */
	void (*debug)(void *ctx, const char *line);
	void *debug_ctx;
};

/* Bounds on what a server sends: it chooses none of our sizes. */
#define GRPC_MAX_RESPONSE (64u << 10) /* default response bound: our responses are tiny */
#define GRPC_MAX_HEADER_LINES 100 /* header and trailer lines of one call, redirects included */
#define GRPC_MAX_HEADER_BYTES (32u << 10)
#define GRPC_MAX_URL 8192 /* a signed URL (S3's and GCS's are 1-2 KB) */
#define GRPC_MAX_REDIRECTS 3 /* for a signed-URL PUT; gRPC calls follow none */

struct grpc_client;

struct grpc_client *grpc_client__new(const struct grpc_opts *opts);
void grpc_client__free(struct grpc_client *c);

/*
 * From any thread (async-signal-safe too): the transfer in progress aborts within about a
 * second (libcurl's progress callback), and every later call fails at once with CANCELLED
 * (put_file with -ECANCELED). There is no way back: a cancelled client is only freed.
 */
void grpc_client__cancel(struct grpc_client *c);

struct grpc_result {
	int code; /* enum grpc_code; UNAVAILABLE for connection failures */
	char message[256]; /* grpc-message, or what failed underneath */
	uint8_t *response; /* the response message (malloc'ed), or NULL */
	size_t response_len;
};

/*
 * Call path ("/package.Service/Method") with one request message. Fills res (free
 * res->response); returns res->code.
 */
int grpc_client__call(struct grpc_client *c, const char *path, const void *msg, size_t len,
		      struct grpc_result *res);

/*
 * A client-streaming call: the message `first`, then the size bytes read from fd in messages
 * of up to chunk_size bytes, each holding them in its bytes field chunk_field (as Parca's
 * UploadRequest{info, chunk_data}). The file is streamed, never held whole.
 */
int grpc_client__upload(struct grpc_client *c, const char *path, const void *first,
			size_t first_len, int fd, uint64_t size, uint32_t chunk_field,
			uint32_t chunk_size, struct grpc_result *res);

/*
 * An HTTP PUT of size bytes from fd (from offset 0) to url (a signed upload URL), with the
 * client's TLS settings, never its authorization header. The URL must pass
 * grpc_check_upload_url() (http allowed on an insecure client only). 0, or -errno with a
 * reason in err that names the URL as scheme://host at most: -EPROTONOSUPPORT refused URL,
 * -ECANCELED cancelled, -EIO failed.
 */
int grpc_client__put_file(struct grpc_client *c, const char *url, int fd, uint64_t size, char *err,
			  size_t errlen);

/*
 * Whether url may receive a file: an explicit scheme, https (or http with allow_http), a host,
 * no space or control character, at most GRPC_MAX_URL bytes. 0, -EPROTONOSUPPORT (another
 * scheme) or -EINVAL (not such a URL). origin gets "scheme://host[:port]" for messages in every
 * case (no user info, path or query: signed URLs carry credentials there), cut to size.
 */
int grpc_check_upload_url(const char *url, bool allow_http, char *origin, size_t size);

/* Worth trying again later: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (and the like). */
bool grpc_code_is_transient(int code);
const char *grpc_code_name(int code);

#endif
