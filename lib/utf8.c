// SPDX-License-Identifier: LGPL-2.1-or-later
/* UTF-8 well-formedness and U+FFFD substitution (see utf8.h). */
#include "utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/*
 * The sequence at s (NUL-terminated): its length when well-formed, else 0 and in *ret_skip the
 * length of its maximal subpart, the bytes that one U+FFFD stands for (at least 1). Table 3-7
 * of the Unicode standard: the second byte's range depends on the first, which rules out
 * overlong forms (E0 80-9F, F0 80-8F), surrogates (ED A0-BF) and code points past U+10FFFF
 * (F4 90-BF); C0, C1 and F5-FF never start a sequence. A NUL ends a truncated one.
 */
static size_t sequence(const unsigned char *s, size_t *ret_skip)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		lo = s[0] == 0xe0 ? 0xa0 : 0x80;
		hi = s[0] == 0xed ? 0x9f : 0xbf;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		lo = s[0] == 0xf0 ? 0x90 : 0x80;
		hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	} else {
		*ret_skip = 1;
		return 0;
	}
	for (i = 1; i < need; i++) {
		if (s[i] < lo || s[i] > hi)
			break;
		lo = 0x80;
		hi = 0xbf;
	}
	if (i == need)
		return need;
	*ret_skip = i;
	return 0;
}

bool utf8_is_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t skip;

	while (*s) {
		size_t n;

		/* names are mostly ASCII: the fast path */
		if (*s < 0x80) {
			s++;
			continue;
		}
		n = sequence(s, &skip);
		if (!n)
			return false;
		s += n;
	}
	return true;
}

char *utf8_sanitize(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = 0, skip, n;
	char *out, *o;

	/* the size first: a replaced subpart of 1 byte grows to 3 */
	for (const unsigned char *p = s; *p; p += n) {
		n = sequence(p, &skip);
		len += n ? n : sizeof(REPLACEMENT) - 1;
		n = n ? n : skip;
	}
	out = malloc(len + 1);
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	o = out;
	for (const unsigned char *p = s; *p; p += n) {
		n = sequence(p, &skip);
		if (n) {
			memcpy(o, p, n);
			o += n;
		} else {
			memcpy(o, REPLACEMENT, sizeof(REPLACEMENT) - 1);
			o += sizeof(REPLACEMENT) - 1;
			n = skip;
		}
	}
	*o = 0;
	return out;
}

size_t utf8_trim_partial(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t start = len, need;

	/* back to the lead byte of the last sequence: at most three continuation bytes */
	while (start > 0 && len - start < 3 && (s[start - 1] & 0xc0) == 0x80)
		start--;
	if (start == 0 || (s[start - 1] & 0xc0) != 0xc0)
		return len; /* ASCII last, or no lead byte near: nothing to trim */
	start--;
	need = s[start] >= 0xf0 ? 4 : s[start] >= 0xe0 ? 3 : 2;
	return start + need > len ? start : len;
}

int utf8_json_string(FILE *f, const char *s)
{
	char *clean = utf8_sanitize(s ? s : "");

	if (!clean)
		return -ENOMEM;
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)clean; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
	free(clean);
	return 0;
}

void utf8_print_text(FILE *f, const char *str, const char *quote)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	while (*s) {
		size_t skip = 1, n = sequence(s, &skip);

		if (n == 1 && *s >= 0x20 && *s != 0x7f) {
			if (quote && strchr(quote, *s))
				fputc('\\', f);
			fputc(*s, f);
		} else if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0) {
			/* C1 controls: U+0080-U+009F (CSI among them) */
			fprintf(f, "\\u%04x", s[1]);
		} else if (n > 1) {
			fwrite(s, 1, n, f);
		} else {
			/* a C0 control, DEL, or the bytes of an ill-formed subpart */
			for (size_t i = 0; i < (n ? n : skip); i++)
				fprintf(f, "\\x%02x", s[i]);
		}
		s += n ? n : skip;
	}
}
