// SPDX-License-Identifier: LGPL-2.1-or-later
/* Reading folded stacks into the profile model, and telling pprof from folded input. */
#include "folded.h"
#include "fileio.h"
#include "pprof.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* frames in one line: as many as pprof's sample may expand into */
#define FOLDED_MAX_FRAMES PPROF_MAX_SAMPLE_FRAMES

/*
 * What the model holds for folded text, counted against struct pprof_limits.max_decoded as
 * protobuf-c's unpacking is for pprof: four bytes of text ("a 1\n") make a sample, so the text
 * alone does not bound it. A sample: its struct in an array grown by doubling, and two
 * allocations (location ids, labels) besides the ids themselves. A frame not seen before: its
 * name twice (string and index key) and the string, function and location entries with their
 * index slots, about 500 bytes (tests/bench/decode_cost measures the model).
 */
#define FOLDED_SAMPLE_COST (2 * sizeof(struct prof_sample) + 64)
#define FOLDED_FRAME_COST 512

bool folded__looks_like_text(const void *buf, size_t len)
{
	const unsigned char *b = buf;

	if (len > 4096)
		len = 4096;
	for (size_t i = 0; i < len; i++)
		if (b[i] < 0x20 && b[i] != '\n' && b[i] != '\r' && b[i] != '\t')
			return false;
	return len > 0;
}

struct folded_state {
	struct profile *p;
	uint64_t kernel_map, jit_map;
	uint64_t *locs;
	size_t cap_locs;
	size_t cost; /* bytes the model holds, estimated as above */
	uint64_t frames; /* frames of all samples, against lim->max_frames as pprof's */
	const struct pprof_limits *lim;
};

static uint64_t special_mapping(struct profile *p, uint64_t *id, const char *name)
{
	struct prof_mapping m = { .has_functions = true };

	if (*id)
		return *id;
	m.filename = profile__intern(p, name);
	if (!m.filename)
		return 0;
	*id = profile__add_mapping(p, &m);
	return *id;
}

/* One frame [s, s + n): its location id, or 0 (errno set). */
static uint64_t frame_location(struct folded_state *st, const char *s, size_t n)
{
	uint64_t mapping = 0, fn, loc;
	struct prof_line line = { 0 };
	size_t nlocations = st->p->nlocations;
	char *name;

	if (n > 4 && s[n - 4] == '_' && s[n - 3] == '[' && s[n - 1] == ']' &&
	    (s[n - 2] == 'k' || s[n - 2] == 'j')) {
		mapping = s[n - 2] == 'k'
			      ? special_mapping(st->p, &st->kernel_map, FOLDED_KERNEL_MAPPING)
			      : special_mapping(st->p, &st->jit_map, FOLDED_JIT_MAPPING);
		if (!mapping)
			return 0;
		n -= 4;
	}
	name = strndup(s, n);
	if (!name)
		return 0;
	fn = profile__function(st->p, name, name, "", 0);
	free(name);
	if (!fn)
		return 0;
	line.function = fn;
	loc = profile__location(st->p, mapping, 0, &line, 1);
	if (st->p->nlocations > nlocations)
		st->cost += FOLDED_FRAME_COST + 2 * n;
	return loc;
}

/* One line [s, e): "frame;frame;... COUNT". */
static int parse_line(struct folded_state *st, const char *s, const char *e, size_t lineno,
		      char *err, size_t errlen)
{
	const char *sp = e, *f;
	uint64_t count = 0;
	size_t nlocs = 0;
	int64_t value;

	while (sp > s && sp[-1] >= '0' && sp[-1] <= '9')
		sp--;
	if (sp == e || sp == s || (sp[-1] != ' ' && sp[-1] != '\t'))
		return fail_with(err, errlen, -EBADMSG,
				 "line %zu: not folded stacks ('frame;frame;... COUNT' expected)",
				 lineno);
	for (f = sp; f < e; f++) {
		if (count > (UINT64_MAX >> 1) / 10)
			return fail_with(err, errlen, -ERANGE, "line %zu: count too large", lineno);
		count = count * 10 + (*f - '0');
	}
	if (count > INT64_MAX)
		return fail_with(err, errlen, -ERANGE, "line %zu: count too large", lineno);
	e = sp - 1;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e == s)
		return fail_with(err, errlen, -EBADMSG, "line %zu: a count without a stack",
				 lineno);
	/* frames root first; the model keeps them leaf first */
	for (f = s; f <= e;) {
		const char *semi = memchr(f, ';', e - f);
		const char *end = semi ? semi : e;
		uint64_t loc;

		if (end > f) {
			if (nlocs == FOLDED_MAX_FRAMES)
				return fail_with(err, errlen, -E2BIG,
						 "line %zu: more than %d frames", lineno,
						 FOLDED_MAX_FRAMES);
			if (grow_array((void **)&st->locs, &st->cap_locs, nlocs + 1,
				       sizeof(*st->locs)))
				return fail_with(err, errlen, -ENOMEM, "out of memory");
			loc = frame_location(st, f, end - f);
			if (!loc)
				return fail_with(err, errlen, -ENOMEM, "out of memory");
			if (st->cost > st->lim->max_decoded)
				return pprof__refuse(st->lim, err, errlen);
			st->locs[nlocs++] = loc;
		}
		f = end + 1;
	}
	if (!nlocs)
		return fail_with(err, errlen, -EBADMSG, "line %zu: a count without a stack",
				 lineno);
	for (size_t i = 0; i < nlocs / 2; i++) {
		uint64_t t = st->locs[i];

		st->locs[i] = st->locs[nlocs - 1 - i];
		st->locs[nlocs - 1 - i] = t;
	}
	st->cost += FOLDED_SAMPLE_COST + nlocs * sizeof(*st->locs);
	if (st->cost > st->lim->max_decoded)
		return pprof__refuse(st->lim, err, errlen);
	/*
	 * Each frame is two bytes of text at least, so the decompression bound holds half as many,
	 * but its constant (1 MiB) lets a 1 KB gzip of "a;a;...;a 1" lines expand into 512 Ki
	 * frames: the same rule as pprof's
	 */
	st->frames += nlocs;
	if (st->frames > st->lim->max_frames)
		return pprof__refuse_frames(st->lim, err, errlen);
	value = (int64_t)count;
	if (profile__add_sample(st->p, st->locs, nlocs, &value, NULL, 0))
		return fail_with(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

/* Folded text, within lim (set from the file as given: it may have been decompressed). */
static int parse_limited(const char *buf, size_t len, const struct pprof_limits *lim,
			 struct profile **ret, char *err, size_t errlen)
{
	struct folded_state st = { .lim = lim };
	const char *s = buf, *end = buf + len;
	size_t lineno = 0, nsamples = 0;
	int r = 0;

	st.p = profile__new();
	if (!st.p || profile__add_sample_type(st.p, "samples", "count")) {
		profile__free(st.p);
		return fail_with(err, errlen, -ENOMEM, "out of memory");
	}
	while (s < end) {
		const char *nl = memchr(s, '\n', end - s), *e = nl ? nl : end;

		lineno++;
		while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s && memchr(s, 0, (size_t)(e - s))) {
			r = fail_with(err, errlen, -EBADMSG,
				      "line %zu: binary data, not folded stacks", lineno);
			break;
		}
		if (e > s && *s != '#') {
			r = parse_line(&st, s, e, lineno, err, errlen);
			if (r)
				break;
			nsamples++;
		}
		s = nl ? nl + 1 : end;
	}
	free(st.locs);
	if (!r && !nsamples)
		r = fail_with(err, errlen, -EBADMSG, "no stacks: an empty profile");
	if (r) {
		profile__free(st.p);
		return r;
	}
	*ret = st.p;
	return 0;
}

int folded__parse(const char *buf, size_t len, struct profile **ret, char *err, size_t errlen)
{
	struct pprof_limits lim = pprof__limits(len);

	return parse_limited(buf, len, &lim, ret, err, errlen);
}

int profile__decode_any(const void *buf, size_t len, struct profile **ret, char *err, size_t errlen)
{
	/* bounds set from the file as given, not from what it decompresses to */
	struct pprof_limits lim = pprof__limits(len);
	const unsigned char *b = buf;
	void *plain = NULL;
	size_t plain_len;
	int r;

	if (!len)
		return fail_with(err, errlen, -EBADMSG, "empty file: not a profile");
	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
		r = pprof__gunzip(buf, len, &lim, &plain, &plain_len, err, errlen);
		if (r)
			return r;
		buf = plain;
		len = plain_len;
	}
	if (folded__looks_like_text(buf, len))
		r = parse_limited(buf, len, &lim, ret, err, errlen);
	else if (!len)
		r = fail_with(err, errlen, -EBADMSG, "empty after decompression: not a profile");
	else
		r = pprof__decode_limited(buf, len, &lim, ret, err, errlen);
	free(plain);
	return r;
}

int profile__read_any(const char *path, struct profile **ret, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int r = read_regular_file(path, PPROF_MAX_BYTES, &buf, &len);

	if (r == -EFBIG || r == -E2BIG)
		return fail_with(err, errlen, r, "file larger than %llu bytes", PPROF_MAX_BYTES);
	if (r == -EINVAL)
		return fail_with(err, errlen, r, "not a regular file");
	if (r)
		return fail_with(err, errlen, r, "cannot read: %s", strerror(-r));
	r = profile__decode_any(buf, len, ret, err, errlen);
	free(buf);
	return r;
}
