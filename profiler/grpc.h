/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A unary gRPC client over HTTP/2 with libcurl: cleartext h2c (prior knowledge) or TLS checked
 * against the system CAs (plus an optional CA file). One request at a time, each on a new
 * connection.
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
	const char *bearer_token; /* sent as "authorization: Bearer ..." (never logged), or NULL */
	long timeout_ms; /* whole call, connection included */
};

struct grpc_client;

struct grpc_client *grpc_client__new(const struct grpc_opts *opts);
void grpc_client__free(struct grpc_client *c);

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
 * An HTTP PUT of size bytes from fd to url (a signed upload URL), with the client's TLS
 * settings. 0, or -errno with a reason in err.
 */
int grpc_client__put_file(struct grpc_client *c, const char *url, int fd, uint64_t size, char *err,
			  size_t errlen);

/* Worth trying again later: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (and the like). */
bool grpc_code_is_transient(int code);
const char *grpc_code_name(int code);

#endif
