// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * UTF-8 well-formedness and U+FFFD substitution: every truncation of every multi-byte form,
 * overlong forms, surrogates, code points past U+10FFFF, Unicode's own example of maximal
 * subparts; every string of up to three bytes (and many of four) against a decoder written
 * from the bit patterns, and cuts at every length.
 */
#include "check.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#define R "\xef\xbf\xbd" /* U+FFFD */

static void check_sanitized(const char *in, const char *want, int line)
{
	char *out = utf8_sanitize(in);
	bool valid = !strcmp(in, want);

	check_count += 3;
	if (!out || strcmp(out, want)) {
		check_failures++;
		fprintf(stderr, "line %d: sanitize gave '%s', want '%s'\n", line,
			out ? out : "(null)", want);
	}
	if (utf8_is_valid(in) != valid) {
		check_failures++;
		fprintf(stderr, "line %d: utf8_is_valid('%s') is %d\n", line, in, !valid);
	}
	if (out && !utf8_is_valid(out)) {
		check_failures++;
		fprintf(stderr, "line %d: sanitized '%s' is not valid\n", line, out);
	}
	free(out);
}
#define SANITIZED(in, want) check_sanitized(in, want, __LINE__)

/* The boundary forms of each length: the smallest and largest code points and around the gaps. */
static const char *const forms[] = {
	"\xc2\x80", /* U+0080 */
	"\xc3\xa9", /* U+00E9 */
	"\xdf\xbf", /* U+07FF */
	"\xe0\xa0\x80", /* U+0800 */
	"\xe2\x82\xac", /* U+20AC */
	"\xed\x9f\xbf", /* U+D7FF, below the surrogates */
	"\xee\x80\x80", /* U+E000, above them */
	"\xef\xbf\xbd", /* U+FFFD */
	"\xef\xbf\xbf", /* U+FFFF */
	"\xf0\x90\x80\x80", /* U+10000 */
	"\xf0\x9d\x84\x9e", /* U+1D11E */
	"\xf3\xbf\xbf\xbf", /* U+FFFFF */
	"\xf4\x8f\xbf\xbf", /* U+10FFFF, the last */
};

static void test_valid_forms(void)
{
	SANITIZED("", "");
	SANITIZED("plain ASCII, with \x01 control \x7f bytes",
		  "plain ASCII, with \x01 control \x7f bytes");
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		SANITIZED(forms[i], forms[i]);
}

/* Every proper prefix of every form is one maximal subpart: one U+FFFD, wherever it stands. */
static void test_truncations(void)
{
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t n = strlen(forms[i]);

		for (size_t k = 1; k < n; k++) {
			char cut[8] = "", in[64], want[64];

			memcpy(cut, forms[i], k);
			SANITIZED(cut, R);
			/* then ASCII, then another form, then the cut again at the end */
			snprintf(in, sizeof(in), "a%sb%s%s%s", cut, cut, forms[i], cut);
			snprintf(want, sizeof(want), "a%sb%s%s%s", R, R, forms[i], R);
			SANITIZED(in, want);
			/* a cut form followed by a whole one: the whole one is kept */
			snprintf(in, sizeof(in), "%s%s", cut, forms[(i + 1) % 13]);
			snprintf(want, sizeof(want), "%s%s", R, forms[(i + 1) % 13]);
			SANITIZED(in, want);
		}
	}
}

static void test_ill_formed(void)
{
	/* overlong forms: the lead byte cannot start them, each byte is a subpart of its own */
	SANITIZED("\xc0\x80", R R);
	SANITIZED("\xc1\xbf", R R);
	SANITIZED("\xe0\x80\x80", R R R);
	SANITIZED("\xe0\x9f\xbf", R R R);
	SANITIZED("\xf0\x80\x80\x80", R R R R);
	SANITIZED("\xf0\x8f\xbf\xbf", R R R R);
	/* surrogates, alone and paired (CESU-8) */
	SANITIZED("\xed\xa0\x80", R R R);
	SANITIZED("\xed\xbf\xbf", R R R);
	SANITIZED("\xed\xa0\xbd\xed\xb8\x80", R R R R R R);
	/* past U+10FFFF, and bytes that are never in UTF-8 */
	SANITIZED("\xf4\x90\x80\x80", R R R R);
	SANITIZED("\xf5\x80\x80\x80", R R R R);
	SANITIZED("\xf8\x88\x80\x80\x80", R R R R R);
	SANITIZED("\xfe\xff", R R);
	/* stray continuation bytes */
	SANITIZED("\x80", R);
	SANITIZED("a\xbf\x80z", "a" R R "z");
	/* a lead byte followed by a new lead byte: the first is cut short */
	SANITIZED("\xe2\xc3\xa9", R "\xc3\xa9");
	/* the example of the Unicode standard (Table 3-8) */
	SANITIZED("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
		  "a" R R R "b" R "c" R R "d");
	/* the thread name of the review: prctl(PR_SET_NAME, "evil\xff\xfe") */
	SANITIZED("evil\xff\xfe", "evil" R R);
}

/* Validity from the bit patterns and the code point's value, another reading of the rules. */
static bool reference_valid(const unsigned char *s, size_t len)
{
	static const unsigned int min[] = { 0, 0, 0x80, 0x800, 0x10000 };

	for (size_t i = 0; i < len;) {
		unsigned int cp, k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			k = 2, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			k = 3, cp = s[i] & 0x0f;
		else if ((s[i] & 0xf8) == 0xf0)
			k = 4, cp = s[i] & 0x07;
		else
			return false;
		if (i + k > len)
			return false;
		for (unsigned int j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k;
	}
	return true;
}

static int compare(const unsigned char *s, size_t len)
{
	char buf[8];
	char *out;
	bool valid = reference_valid(s, len), bad = false;

	memcpy(buf, s, len);
	buf[len] = 0;
	if (utf8_is_valid(buf) != valid)
		bad = true;
	out = utf8_sanitize(buf);
	if (!out || !utf8_is_valid(out) || (valid && strcmp(out, buf)) ||
	    (!valid && !strstr(out, R)))
		bad = true;
	/* a valid string cut anywhere: trimmed to a valid prefix, losing one character at most */
	for (size_t cut = 0; valid && cut <= len; cut++) {
		size_t t = utf8_trim_partial(buf, cut);
		char c = buf[t];

		buf[t] = 0;
		if (t > cut || cut - t > 3 || !utf8_is_valid(buf) ||
		    (t < cut && reference_valid(s, cut)))
			bad = true;
		buf[t] = c;
	}
	free(out);
	if (bad) {
		fprintf(stderr, "mismatch for");
		for (size_t i = 0; i < len; i++)
			fprintf(stderr, " %02x", s[i]);
		fprintf(stderr, " (valid %d)\n", valid);
	}
	return bad;
}

static void test_exhaustive(void)
{
	static const unsigned char edges[] = { 0x01, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
					       0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xf4 };
	unsigned char s[4];
	long bad = 0, n = 0;

	/* every string of one, two and three bytes (no NUL: C strings) */
	for (int a = 1; a < 256; a++) {
		s[0] = a;
		bad += compare(s, 1), n++;
		for (int b = 1; b < 256; b++) {
			s[1] = b;
			bad += compare(s, 2), n++;
			for (int c = 1; c < 256 && bad < 20; c++) {
				s[2] = c;
				bad += compare(s, 3), n++;
			}
		}
	}
	/* four bytes: every first byte from 0xe0, the others around every range's edges */
	for (int a = 0xe0; a < 256; a++)
		for (size_t b = 0; b < sizeof(edges); b++)
			for (size_t c = 0; c < sizeof(edges); c++)
				for (size_t d = 0; d < sizeof(edges); d++) {
					s[0] = a, s[1] = edges[b], s[2] = edges[c], s[3] = edges[d];
					bad += compare(s, 4), n++;
				}
	/* and every 4-byte form past F0 with continuation bytes all through 80-BF */
	for (int a = 0xf0; a <= 0xf5; a++)
		for (int b = 0x80; b < 0xc0; b++)
			for (int c = 0x80; c < 0xc0; c += 7)
				for (int d = 0x80; d < 0xc0; d += 13) {
					s[0] = a, s[1] = b, s[2] = c, s[3] = d;
					bad += compare(s, 4), n++;
				}
	check_count++;
	if (bad)
		check_failures++;
	printf("  %ld strings against the reference decoder, %ld mismatches\n", n, bad);
}

/* What f-writing fn makes of s, compared with want. */
static void check_written(void (*fn)(FILE *, const char *, const char *), const char *s,
			  const char *quote, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	if (!f)
		return;
	fn(f, s, quote);
	fclose(f);
	CHECK_STR(buf, want);
	free(buf);
}

static void json_string(FILE *f, const char *s, const char *quote)
{
	(void)quote;
	CHECK_INT(utf8_json_string(f, s), 0);
}

/* JSON strings: escapes, and ill-formed bytes as U+FFFD. */
static void test_json(void)
{
	check_written(json_string, "a\"b\\c\n\x01\xff\xc3\xa9", NULL,
		      "\"a\\\"b\\\\c\\u000a\\u0001\xef\xbf\xbd\xc3\xa9\"");
}

/* Text for a terminal: controls, C1 controls and ill-formed bytes escaped, the rest as is. */
static void print_text(const char *s, const char *quote, const char *want)
{
	check_written(utf8_print_text, s, quote, want);
}

static void test_print_text(void)
{
	/* an escape sequence (ESC [ 2 J: clear the screen), a newline, a DEL */
	print_text("f\x1b[2J\nx\x7f", NULL, "f\\x1b[2J\\x0ax\\x7f");
	/* CSI as a C1 control (U+009B), and U+00A0 (not a control) kept */
	print_text("a\xc2\x9b"
		   "2J\xc2\xa0",
		   NULL, "a\\u009b2J\xc2\xa0");
	/* ill-formed: a stray continuation byte, a truncated sequence; é and 😀 kept */
	print_text("\x80\xe2\x82\xc3\xa9\xf0\x9f\x98\x80", NULL,
		   "\\x80\\xe2\\x82\xc3\xa9\xf0\x9f\x98\x80");
	/* logfmt's quotes */
	print_text("say \"hi\" \\", "\"\\", "say \\\"hi\\\" \\\\");
	print_text(NULL, NULL, "");
}

int main(void)
{
	test_print_text();
	test_json();
	test_valid_forms();
	test_truncations();
	test_ill_formed();
	test_exhaustive();
	return check_done("utf8");
}
