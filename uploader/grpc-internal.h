/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What grpc.c uses inside and the unit tests check on their own. */
#ifndef SCORCH_GRPC_INTERNAL_H
#define SCORCH_GRPC_INTERNAL_H

#include <stddef.h>

/*
 * One line of text from libcurl or a server (len bytes, no NUL needed) made fit for a log, into
 * out (size > 0, always terminated): the value of an "authorization:" header (any case, so
 * Proxy-Authorization too, HTTP/1 text or libcurl's HTTP/2 "[name: value]" lines) up to the end
 * of the line and every occurrence of secret (unless NULL or empty) become "<redacted>", control
 * characters '?'. Cut to size. The length written.
 */
size_t grpc_redact(const char *in, size_t len, const char *secret, char *out, size_t size);

#endif
