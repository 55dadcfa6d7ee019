// SPDX-License-Identifier: LGPL-2.1-or-later
/* Checked number and duration parsers, clocks, the boot id, hashes and array growth. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int parse_u64(const char *s, int base, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || end == s || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_duration_ns(const char *s, uint64_t *ret_ns)
{
	/* longest first where one unit starts another ("ms" before "m") */
	static const struct {
		const char *unit;
		double ns;
	} units[] = { { "ns", 1 },   { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "\xce\xbcs", 1e3 },
		      { "ms", 1e6 }, { "s", 1e9 },  { "m", 60 * 1e9 },	  { "h", 3600 * 1e9 } };
	double total = 0, v;
	const char *p = s;
	char *end;

	if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return -EINVAL;
	/* a plain number: seconds */
	errno = 0;
	v = strtod(s, &end);
	if (end != s && !*end) {
		if (errno || !isfinite(v) || v < 0)
			return errno == ERANGE ? -ERANGE : -EINVAL;
		if (v * 1e9 > 1e18)
			return -ERANGE;
		*ret_ns = (uint64_t)(v * 1e9);
		return 0;
	}
	/* Go's syntax: one or more decimal numbers, each with its unit ("1h30m", "2.5s") */
	while (*p) {
		const char *start = p;
		size_t i, len = 0;

		v = 0;
		while (isdigit((unsigned char)*p))
			v = v * 10 + (*p++ - '0');
		if (*p == '.') {
			double scale = 0.1;

			p++;
			while (isdigit((unsigned char)*p)) {
				v += (*p++ - '0') * scale;
				scale /= 10;
			}
		}
		if (p == start || (p == start + 1 && *start == '.'))
			return -EINVAL;
		for (i = 0; i < ARRAY_SIZE(units); i++) {
			len = strlen(units[i].unit);
			if (!strncmp(p, units[i].unit, len))
				break;
		}
		if (i == ARRAY_SIZE(units))
			return -EINVAL;
		p += len;
		total += v * units[i].ns;
		if (!isfinite(total) || total > 1e18)
			return -ERANGE;
	}
	*ret_ns = (uint64_t)total;
	return 0;
}

const char *format_value(double v, const char *unit, char *buf, size_t size)
{
	static const char *const bytes[] = { "B", "kB", "MB", "GB", "TB", "PB" };
	static const struct {
		const char *unit;
		double ns;
	} times[] = { { "nanoseconds", 1 },
		      { "microseconds", 1e3 },
		      { "milliseconds", 1e6 },
		      { "seconds", 1e9 } };
	double a = fabs(v);

	if (!unit)
		unit = "";
	if (!strcmp(unit, "bytes")) {
		size_t i = 0;

		while (a >= 1024 && i + 1 < ARRAY_SIZE(bytes)) {
			a /= 1024;
			v /= 1024;
			i++;
		}
		if (i == 0)
			snprintf(buf, size, "%.0fB", v);
		else
			snprintf(buf, size, "%.2f%s", v, bytes[i]);
		return buf;
	}
	for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
		if (strcmp(unit, times[i].unit))
			continue;
		v *= times[i].ns;
		a *= times[i].ns;
		if (a >= 1e9 || a == 0)
			snprintf(buf, size, a == 0 ? "0" : "%.2fs", v / 1e9);
		else if (a >= 1e6)
			snprintf(buf, size, "%.2fms", v / 1e6);
		else if (a >= 1e3)
			snprintf(buf, size, "%.2fus", v / 1e3);
		else
			snprintf(buf, size, "%.0fns", v);
		return buf;
	}
	if (fabs(v - llround(v)) < 1e-9)
		snprintf(buf, size, "%lld", (long long)llround(v));
	else
		snprintf(buf, size, "%.2f", v);
	if (*unit && strcmp(unit, "count")) {
		size_t n = strlen(buf);

		snprintf(buf + n, size > n ? size - n : 0, " %s", unit);
	}
	return buf;
}

uint64_t now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int fail_with(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

#define FNV1A64_PRIME 0x100000001b3ULL

uint64_t fnv1a64_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * FNV1A64_PRIME;
	return h;
}

uint64_t fnv1a64_words(uint64_t h, const uint64_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ w[i]) * FNV1A64_PRIME;
	return h;
}

uint64_t hash_bytes(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = seed ^ 0xcbf29ce484222325ULL ^ (len * 0x9e3779b97f4a7c15ULL), w;

	/* a word at a time: keys are mostly ids and small structs */
	for (; len >= 8; b += 8, len -= 8) {
		memcpy(&w, b, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	if (len) {
		w = 0;
		memcpy(&w, b, len);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	/* final mix (MurmurHash3's) so that low bits depend on every byte */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

int grow_array(void **array, size_t *cap, size_t want, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (want <= *cap)
		return 0;
	while (n < want) {
		if (n > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		n *= 2;
	}
	p = realloc(*array, n * elem);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * elem, 0, (n - *cap) * elem);
	*array = p;
	*cap = n;
	return 0;
}

int read_boot_id(const char *proc_root, char *buf, size_t size)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sys/kernel/random/boot_id", proc_root);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, size, f) || !buf[0] || buf[0] == '\n') {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* n decimal digits at *s into *ret: true, and *s past them */
static bool digits(const char **s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*ret = v;
	return true;
}

int parse_time_ns(const char *s, int64_t *ret_ns)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, scale = 1000000000;
	struct tm tm = { 0 };
	time_t t;

	if (*s == '@') {
		char *end;
		double v;

		errno = 0;
		v = strtod(s + 1, &end);
		if (errno || end == s + 1 || *end || !(v >= 0 && v < 9e9))
			return -EINVAL;
		*ret_ns = (int64_t)(v * 1e9);
		return 0;
	}
	if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
	    !digits(&s, 2, &d) || (*s != 'T' && *s != 't' && *s != ' ') || !++s ||
	    !digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi) || *s++ != ':' ||
	    !digits(&s, 2, &sec))
		return -EINVAL;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		for (; isdigit((unsigned char)*s); s++)
			if (scale > 1) {
				scale /= 10;
				frac += (*s - '0') * scale;
			}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (!digits(&s, 2, &oh) || *s++ != ':' || !digits(&s, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
	} else {
		return -EINVAL; /* a moment without its zone is ambiguous */
	}
	if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	t -= sign * (oh * 3600 + om * 60);
	*ret_ns = (int64_t)t * 1000000000 + frac;
	return 0;
}
