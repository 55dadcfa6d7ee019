// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness: what the agent's network client takes from a server before it logs or
 * uses it: a signed URL (grpc_check_upload_url) and a line to redact (grpc_redact). Input: one
 * byte n, then n bytes of secret (at most 31), then the text.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grpc-internal.h"
#include "grpc.h"

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char secret[32], origin[300], out[512], *text;
	size_t n, len, got;
	bool alnum = true, digit = false;
	const char *host;
	int r;

	if (!size)
		return 0;
	n = data[0] % sizeof(secret);
	if (n > size - 1)
		n = size - 1;
	memcpy(secret, data + 1, n);
	secret[n] = 0;
	len = size - 1 - n;
	text = malloc(len + 1);
	if (!text)
		return 0;
	memcpy(text, data + 1 + n, len);
	text[len] = 0;

	r = grpc_check_upload_url(text, data[0] & 0x80, origin, sizeof(origin));
	if (!printable(origin) || strchr(origin, '@'))
		abort();
	host = strstr(origin, "://");
	/* never the path or the query (a '?' there stands for a byte not shown) */
	if (host && strpbrk(host + 3, "/#"))
		abort();
	if (!r && strncasecmp(text, "https://", 8) && strncasecmp(text, "http://", 7))
		abort();
	if (!r && (!(data[0] & 0x80) && strncasecmp(text, "https://", 8)))
		abort();

	got = grpc_redact(text, len, secret, out, sizeof(out));
	if (got != strlen(out) || !printable(out))
		abort();
	/* a secret of letters and digits (with a digit) is never made up of what is shown */
	for (size_t i = 0; i < strlen(secret); i++) {
		alnum &= isalnum((unsigned char)secret[i]) != 0;
		digit |= isdigit((unsigned char)secret[i]) != 0;
	}
	if (n && strlen(secret) == n && alnum && digit && strstr(out, secret))
		abort();
	free(text);
	return 0;
}
