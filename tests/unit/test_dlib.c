// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Loading a library with a table of its functions: the first soname that loads serves, every
 * function is resolved or none is written, and a failure says why in one line.
 */
#include "check.h"
#include "dlib.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct zlib_api {
	const char *(*version)(void);
	unsigned long (*crc32)(unsigned long crc, const unsigned char *buf, unsigned int len);
};

static void test_load(void)
{
	const char *const names[] = { "libscorch-no-such-library.so.0", "libz.so.1" };
	struct zlib_api z = { 0 };
	const struct dlib_sym syms[] = { { "zlibVersion", &z.version }, { "crc32", &z.crc32 } };
	char err[256] = "";

	CHECK_INT(dlib_load(names, ARRAY_SIZE(names), syms, ARRAY_SIZE(syms), err, sizeof(err)), 0);
	CHECK(z.version && z.crc32);
	if (!z.version || !z.crc32)
		return;
	CHECK(z.version()[0] >= '1');
	/* CRC-32 of "123456789", the check value of the polynomial */
	CHECK_INT(z.crc32(0, (const unsigned char *)"123456789", 9), 0xcbf43926);
	CHECK_STR(err, "");
}

static void test_missing_function(void)
{
	const char *const names[] = { "libz.so.1" };
	struct zlib_api z = { 0 };
	const struct dlib_sym syms[] = { { "zlibVersion", &z.version },
					 { "scorch_no_such_function", &z.crc32 } };
	char err[256] = "";

	CHECK_INT(dlib_load(names, ARRAY_SIZE(names), syms, ARRAY_SIZE(syms), err, sizeof(err)),
		  -ENOENT);
	/* all or nothing: the function that exists is not written either */
	CHECK(!z.version && !z.crc32);
	CHECK_STR(err, "'libz.so.1': no function 'scorch_no_such_function'");
	CHECK_INT(dlib_load(names, ARRAY_SIZE(names), syms, ARRAY_SIZE(syms), NULL, 0), -ENOENT);
}

static void test_missing_library(void)
{
	const char *const names[] = { "libscorch-no-such-library.so.0" };
	struct zlib_api z = { 0 };
	const struct dlib_sym syms[] = { { "zlibVersion", &z.version } };
	char err[256] = "";

	CHECK_INT(dlib_load(names, ARRAY_SIZE(names), syms, ARRAY_SIZE(syms), err, sizeof(err)),
		  -ENOENT);
	CHECK(!z.version);
	CHECK(strstr(err, "libscorch-no-such-library.so.0") != NULL);
	CHECK(!strchr(err, '\n'));
	CHECK_INT(dlib_load(names, 0, syms, ARRAY_SIZE(syms), err, sizeof(err)), -ENOENT);
	CHECK_STR(err, "no library to load");
}

int main(void)
{
	test_load();
	test_missing_function();
	test_missing_library();
	return check_done("test_dlib");
}
