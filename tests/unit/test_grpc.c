// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's network client on its own: which signed URLs it takes (https, http only on an
 * insecure connection, nothing that makes libcurl write a file or speak another protocol) and
 * what it says of the others; what its debug output and server messages may show (no
 * authorization value, no token, one line); a cancelled client makes no transfer.
 */
#include "check.h"
#include "grpc-internal.h"
#include "grpc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int url(const char *u, bool allow_http, char *origin, size_t size)
{
	return grpc_check_upload_url(u, allow_http, origin, size);
}

static void test_upload_url(void)
{
	char o[300], longurl[GRPC_MAX_URL + 64];

	CHECK_INT(url("https://bucket.s3.amazonaws.com/debuginfo/abc?X-Amz-Signature=f00", false, o,
		      sizeof(o)),
		  0);
	CHECK_STR(o, "https://bucket.s3.amazonaws.com");
	CHECK_INT(url("HTTPS://Store.example:8443/x", false, o, sizeof(o)), 0);
	CHECK_STR(o, "https://Store.example:8443");
	/* http: only when the connection to the server is cleartext anyway */
	CHECK_INT(url("http://store.example/x?sig=1", false, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_STR(o, "http://store.example");
	CHECK_INT(url("http://store.example/x?sig=1", true, o, sizeof(o)), 0);
	/* every other scheme libcurl knows is refused, and named */
	CHECK_INT(url("file:///etc/cron.d/evil", true, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_STR(o, "file://");
	CHECK_INT(url("FILE://localhost/etc/passwd", true, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_STR(o, "file://localhost");
	CHECK_INT(url("ftp://10.0.0.1/x", true, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_STR(o, "ftp://10.0.0.1");
	CHECK_INT(url("gopher://h:70/_x", true, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_INT(url("dict://h:11211/x", true, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_INT(url("scp://h/x", true, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_INT(url("httpx://h/x", true, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_INT(url("https+unix://h/x", true, o, sizeof(o)), -EPROTONOSUPPORT);
	/* user info is a credential: never in the origin */
	CHECK_INT(url("https://user:s3cret@host:9000/p?sig=abc", false, o, sizeof(o)), 0);
	CHECK_STR(o, "https://host:9000");
	CHECK_INT(url("ftp://user:s3cret@host/p", false, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_STR(o, "ftp://host");
	/* not a URL: no scheme (libcurl would guess one), no host, spaces, controls, non-ASCII */
	CHECK_INT(url("store.example/x", true, o, sizeof(o)), -EINVAL);
	CHECK_STR(o, "");
	CHECK_INT(url("ftp.example/x", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("https:/store.example/x", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("https:///x", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("https://user@/x", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("://h/x", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("1https://h/x", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("https://h/a b", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("https://h/a\r\nX-Injected: 1", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("https://h/\x7f", true, o, sizeof(o)), -EINVAL);
	CHECK_INT(url("https://h\xc3\xa9/x", true, o, sizeof(o)), -EINVAL);
	CHECK_STR(o, "https://h??");
	CHECK_INT(url("ftp://h\x1b[2J/x", true, o, sizeof(o)), -EPROTONOSUPPORT);
	CHECK_STR(o, "ftp://h?[2J");
	/* absurd lengths */
	memcpy(longurl, "https://h/", 10);
	memset(longurl + 10, 'a', sizeof(longurl) - 11);
	longurl[sizeof(longurl) - 1] = 0;
	CHECK_INT(url(longurl, false, o, sizeof(o)), -EINVAL);
	longurl[GRPC_MAX_URL] = 0;
	CHECK_INT(url(longurl, false, o, sizeof(o)), 0);
	memset(longurl, 'a', 100);
	memcpy(longurl + 100, "://h/", 6);
	CHECK_INT(url(longurl, false, o, sizeof(o)), -EINVAL);
	/* the origin is cut to its buffer, terminated */
	CHECK_INT(url("https://store.example/x", false, o, 8), 0);
	CHECK_STR(o, "https:/");
	CHECK_INT(url("file:///x", false, NULL, 0), -EPROTONOSUPPORT);
}

static const char *redact(const char *in, const char *secret, size_t size)
{
	static char out[512];

	grpc_redact(in, strlen(in), secret, out, size);
	return out;
}

static void test_redact(void)
{
	const char *r;
	char small[12];

	/* HTTP/1 header text (a signed URL with user info gets Basic), any case */
	CHECK_STR(redact("Authorization: Basic dXNlcjpwdw==", NULL, 512),
		  "Authorization: <redacted>");
	CHECK_STR(redact("authorization:Bearer abc", NULL, 512), "authorization: <redacted>");
	CHECK_STR(redact("AUTHORIZATION  : Bearer abc", NULL, 512), "AUTHORIZATION  : <redacted>");
	CHECK_STR(redact("authorization\t: Bearer abc", NULL, 512), "authorization : <redacted>");
	CHECK_STR(redact("Proxy-Authorization: Basic eHl6", NULL, 512),
		  "Proxy-Authorization: <redacted>");
	/* libcurl 7.88's and 8.x's HTTP/2 request lines */
	CHECK_STR(redact("h2h3 [authorization: Bearer tok-123]", NULL, 512),
		  "h2h3 [authorization: <redacted>");
	CHECK_STR(redact("[HTTP/2] [1] [authorization: Bearer tok-123]", NULL, 512),
		  "[HTTP/2] [1] [authorization: <redacted>");
	/* a value with a ']' in it is redacted to the end of the line all the same */
	CHECK_STR(redact("h2h3 [authorization: Bearer a]b]", NULL, 512),
		  "h2h3 [authorization: <redacted>");
	/* the value ends with its line: the next header is shown */
	CHECK_STR(redact("Authorization: Basic x\r\nHost: h", NULL, 512),
		  "Authorization: <redacted>??Host: h");
	/* the word alone is no header */
	CHECK_STR(redact("no authorization here", NULL, 512), "no authorization here");
	CHECK_STR(redact("authorization", NULL, 512), "authorization");
	/* the token wherever it is: a server that echoes it, a header libcurl names otherwise */
	CHECK_STR(redact("bad token tok-123 for tenant", "tok-123", 512),
		  "bad token <redacted> for tenant");
	CHECK_STR(redact("tok-123tok-123", "tok-123", 512), "<redacted><redacted>");
	CHECK_STR(redact("x-api-key: tok-123", "tok-123", 512), "x-api-key: <redacted>");
	CHECK_STR(redact("no secret", "", 512), "no secret");
	/* one line, no terminal escapes */
	CHECK_STR(redact("a\x1b[31mred\x07\nforged line", NULL, 512), "a?[31mred??forged line");
	/* cut to size: never a piece of the secret, always terminated */
	r = redact("0123456789 tok-123", "tok-123", 14);
	CHECK_STR(r, "0123456789 <r");
	r = redact("authorization: Bearer tok-123", "tok-123", 16);
	CHECK(!strstr(r, "tok") && strlen(r) == 15);
	CHECK_INT(grpc_redact("abcdef", 6, NULL, small, 4), 3);
	CHECK_STR(small, "abc");
	CHECK_INT(grpc_redact("ab\0cd", 5, NULL, small, sizeof(small)), 5);
	CHECK_STR(small, "ab?cd");
}

/* A cancelled client makes no transfer: every call fails at once, whatever the address. */
static void test_cancel(void)
{
	struct grpc_opts opts = { .address = "127.0.0.1:9", .insecure = true, .timeout_ms = 60000 };
	struct grpc_client *c = grpc_client__new(&opts);
	struct grpc_result res;
	char err[256];
	int fd;

	CHECK(c != NULL);
	if (!c)
		return;
	grpc_client__cancel(c);
	CHECK_INT(grpc_client__call(c, "/x.Y/Z", "", 0, &res), GRPC_CANCELLED);
	CHECK(res.response == NULL && strstr(res.message, "cancelled"));
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_INT(grpc_client__put_file(c, "http://127.0.0.1:9/x", fd, 1, err, sizeof(err)),
		  -ECANCELED);
	/* a refused URL is refused before anything else, and says which */
	CHECK_INT(grpc_client__put_file(c, "file:///tmp/x", fd, 1, err, sizeof(err)),
		  -EPROTONOSUPPORT);
	CHECK(strstr(err, "'file://'") != NULL);
	close(fd);
	grpc_client__cancel(NULL);
	grpc_client__free(c);
}

int main(void)
{
	test_upload_url();
	test_redact();
	test_cancel();
	return check_done("grpc");
}
