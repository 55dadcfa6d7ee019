/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers used across scorch: cleanup attributes, checked number parsing, time. */
#ifndef SCORCH_UTIL_H
#define SCORCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_fclose_ __attribute__((cleanup(fclosep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))

/* Hand over a pointer owned by a cleanup variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p = (p);                                                            \
		(p) = NULL;                                                                        \
		_p;                                                                                \
	})

/* Parse a whole string as an unsigned number in [min, max]; 0 or -EINVAL/-ERANGE. */
int parse_u64(const char *s, int base, uint64_t min, uint64_t max, uint64_t *ret);
/*
 * Parse a duration: a plain number of seconds ("10", "2.5"), or Go's syntax, numbers each with
 * a unit of ns, us (µs), ms, s, m, h, one after another ("500ms", "1m30s", "1h", "1.5h").
 * 0, -EINVAL, or -ERANGE past 10^18 ns.
 */
int parse_duration_ns(const char *s, uint64_t *ret_ns);
/*
 * Parse a moment: RFC 3339 ("2026-12-01T14:05:00Z", fractions of a second, "+01:00" offsets,
 * a space for the T) or "@SECONDS" since the epoch, into nanoseconds since the epoch (UTC).
 * 0 or -EINVAL.
 */
int parse_time_ns(const char *s, int64_t *ret_ns);

uint64_t now_ns(int clock);

/*
 * A value in its pprof unit as people read it, scaled as go tool pprof scales it: bytes as B,
 * kB, MB, GB, TB (powers of 1024), nanoseconds (and micro-, milliseconds, seconds) as ns, us,
 * ms, s; counts and other units as numbers (other units named after them). Returns buf.
 */
const char *format_value(double v, const char *unit, char *buf, size_t size);
/* The boot id from PROC_ROOT/sys/kernel/random/boot_id, without the newline. 0 or -errno. */
int read_boot_id(const char *proc_root, char *buf, size_t size);
/* The hash lib/hashmap uses (not stable across versions: never stored or sent). */
uint64_t hash_bytes(const void *p, size_t len, uint64_t seed);

/*
 * FNV-1a 64, where the value is part of a format: byte at a time (file hashes a server checks),
 * or 64-bit word at a time (stack ids, as the BPF program computes them). Start from
 * FNV1A64_INIT; feed pieces in order.
 */
#define FNV1A64_INIT 0xcbf29ce484222325ULL
uint64_t fnv1a64_bytes(uint64_t h, const void *p, size_t len);
uint64_t fnv1a64_words(uint64_t h, const uint64_t *w, size_t n);
/* Write a one-line reason into err (when given) and return code: parsers' error returns. */
int fail_with(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * In an array of n elements of size bytes sorted by a key that key_of reads, how many lead it
 * with a key at or below key (an upper bound): the last entry that starts at or before key is
 * the one before that index, and there is none when it is 0. Inline so that key_of is inlined
 * too: symbolizing and unwinding run it for every frame.
 */
static inline size_t upper_bound(const void *base, size_t n, size_t size, uint64_t key,
				 uint64_t (*key_of)(const void *elem))
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_of((const char *)base + mid * size) <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Grow *array (of *cap elements of size elem) to hold at least want; 0 or -ENOMEM. */
int grow_array(void **array, size_t *cap, size_t want, size_t elem);

#endif
