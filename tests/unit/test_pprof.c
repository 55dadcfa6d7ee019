// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pprof encoder and decoder: a round trip through our own decoder, rejection of malformed
 * input, decompression and unpacking bombs refused within a memory bound set by the file's size
 * (and large legitimate profiles still read), and (with an argument) a file for 'go tool pprof'
 * to read as an independent check.
 */
#include "check.h"
#include "folded.h"
#include "model.h"
#include "pb_budget.h"
#include "pprof.h"
#include "profile.pb-c.h"
#include "tree.h"
#include "utf8.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__ValueType PbValueType;
typedef Perftools__Profiles__Function PbFunction;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Sample PbSample;

/* A small profile shaped like a capture: two processes, kernel and user frames, an inline pair. */
static struct profile *make_profile(void)
{
	struct profile *p = profile__new();
	struct prof_mapping exe = { .start = 0x400000, .limit = 0x500000, .offset = 0 };
	struct prof_mapping kern = { .start = 0xffffffff81000000ULL,
				     .limit = 0xffffffff82000000ULL };
	uint64_t mexe, mkern, fmain, fwork, finl, fsys, lmain, lwork, lsys, lunk, locs[4];
	struct prof_line lines[2];
	struct prof_label labels[3];
	int64_t v[2];

	profile__add_sample_type(p, "samples", "count");
	profile__add_sample_type(p, "cpu", "nanoseconds");
	p->period_type.type = profile__intern(p, "cpu");
	p->period_type.unit = profile__intern(p, "nanoseconds");
	p->period = 10101010;
	p->default_sample_type = profile__intern(p, "cpu");
	p->time_nanos = 1700000000000000000LL;
	p->duration_nanos = 5000000000LL;
	exe.filename = profile__intern(p, "/usr/bin/work");
	exe.build_id = profile__intern(p, "0123456789abcdef0123456789abcdef01234567");
	exe.has_functions = true;
	kern.filename = profile__intern(p, "[kernel.kallsyms]");
	kern.has_functions = true;
	mexe = profile__add_mapping(p, &exe);
	mkern = profile__add_mapping(p, &kern);
	fmain = profile__function(p, "main", "main", "", 0);
	fwork = profile__function(p, "work", "work", "", 0);
	finl = profile__function(p, "inlined_helper", "inlined_helper", "", 0);
	fsys = profile__function(p, "do_syscall_64", "do_syscall_64", "", 0);
	CHECK(fmain && fwork && finl && fsys);
	CHECK_INT(profile__function(p, "main", "main", "", 0), fmain); /* deduplicated */
	lines[0] = (struct prof_line){ .function = fmain };
	lmain = profile__location(p, mexe, 0x401000, lines, 1);
	lines[0] = (struct prof_line){ .function = finl, .line = 12 };
	lines[1] = (struct prof_line){ .function = fwork, .line = 30 };
	lwork = profile__location(p, mexe, 0x402000, lines, 2);
	lines[0] = (struct prof_line){ .function = fsys };
	lsys = profile__location(p, mkern, 0xffffffff81001234ULL, lines, 1);
	lunk = profile__location(p, mexe, 0x403000, NULL, 0); /* kept as address + mapping */
	CHECK_INT(profile__location(p, mexe, 0x401000, &(struct prof_line){ .function = fmain }, 1),
		  lmain);

	labels[0] = (struct prof_label){ .key = profile__intern(p, "pid"), .num = 100 };
	labels[1] = (struct prof_label){ .key = profile__intern(p, "thread_id"), .num = 101 };
	labels[2] = (struct prof_label){ .key = profile__intern(p, "comm"),
					 .str = profile__intern(p, "work") };
	locs[0] = lwork;
	locs[1] = lmain;
	v[0] = 60;
	v[1] = 60 * p->period;
	CHECK_INT(profile__add_sample(p, locs, 2, v, labels, 3), 0);
	locs[0] = lsys;
	locs[1] = lwork;
	locs[2] = lmain;
	v[0] = 30;
	v[1] = 30 * p->period;
	CHECK_INT(profile__add_sample(p, locs, 3, v, labels, 3), 0);
	locs[0] = lunk;
	locs[1] = lmain;
	v[0] = 10;
	v[1] = 10 * p->period;
	labels[0].num = 200;
	CHECK_INT(profile__add_sample(p, locs, 2, v, labels, 3), 0);
	return p;
}

static void test_round_trip(void)
{
	struct profile *p = make_profile(), *q = NULL;
	void *buf = NULL;
	size_t len = 0;
	char err[256] = "";

	for (int gz = 0; gz < 2; gz++) {
		CHECK_INT(pprof__encode(p, gz, &buf, &len), 0);
		if (gz)
			CHECK(len > 2 && ((unsigned char *)buf)[0] == 0x1f);
		CHECK_INT(pprof__decode(buf, len, &q, err, sizeof(err)), 0);
		free(buf);
		if (!q)
			continue;
		CHECK_INT(q->nsamples, 3);
		CHECK_INT(q->nlocations, 4);
		CHECK_INT(q->nfunctions, 4);
		CHECK_INT(q->nmappings, 2);
		CHECK_STR(profile__str(q, 0), "");
		CHECK_STR(profile__str(q, q->sample_types[1].type), "cpu");
		CHECK_STR(profile__str(q, q->default_sample_type), "cpu");
		CHECK_INT(q->period, 10101010);
		CHECK_INT(q->time_nanos, 1700000000000000000LL);
		CHECK_INT(q->duration_nanos, 5000000000LL);
		CHECK_INT(q->samples[1].values[0], 30);
		CHECK_INT(q->samples[1].values[1], 30 * 10101010LL);
		CHECK_INT(q->samples[1].nlocs, 3);
		CHECK_INT(q->locations[1].nlines, 2);
		CHECK_INT(q->locations[1].lines[0].line, 12);
		CHECK_STR(profile__str(q, q->functions[q->locations[1].lines[1].function - 1].name),
			  "work");
		CHECK_STR(profile__str(q, q->mappings[0].build_id),
			  "0123456789abcdef0123456789abcdef01234567");
		CHECK_INT(q->samples[2].labels[0].num, 200);
		CHECK_STR(profile__str(q, q->samples[2].labels[2].str), "work");
		profile__free(q);
		q = NULL;
	}
	profile__free(p);
}

/* Parca's rule, stricter than pprof's: every id equals its table position + 1. */
static void test_ids_are_positions(void)
{
	struct profile *p = make_profile();
	Perftools__Profiles__Profile *pb;
	void *buf;
	size_t len;

	CHECK_INT(pprof__encode(p, false, &buf, &len), 0);
	pb = perftools__profiles__profile__unpack(NULL, len, buf);
	CHECK(pb != NULL);
	if (pb) {
		CHECK_STR(pb->string_table[0], "");
		for (size_t i = 0; i < pb->n_mapping; i++)
			CHECK_INT(pb->mapping[i]->id, i + 1);
		for (size_t i = 0; i < pb->n_location; i++)
			CHECK_INT(pb->location[i]->id, i + 1);
		for (size_t i = 0; i < pb->n_function; i++)
			CHECK_INT(pb->function[i]->id, i + 1);
		for (size_t i = 0; i < pb->n_sample; i++)
			CHECK_INT(pb->sample[i]->n_value, pb->n_sample_type);
		CHECK(pb->time_nanos != 0);
		perftools__profiles__profile__free_unpacked(pb, NULL);
	}
	free(buf);
	profile__free(p);
}

static void test_folded(void)
{
	struct profile *p = make_profile();
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK_INT(profile__write_folded(p, 0, f), 0);
	fclose(f);
	CHECK(strstr(text, "main;work;inlined_helper 60\n") != NULL);
	CHECK(strstr(text, "main;work;inlined_helper;do_syscall_64_[k] 30\n") != NULL);
	CHECK(strstr(text, "main;work+0x3000 10\n") != NULL);
	free(text);
	profile__free(p);
}

static void expect_reject(const void *buf, size_t len, const char *what)
{
	struct profile *q = NULL;
	char err[256] = "";
	int r = pprof__decode(buf, len, &q, err, sizeof(err));

	CHECK(r < 0);
	CHECK(q == NULL);
	CHECK(err[0] != 0);
	fprintf(stderr, "  rejected %s: %s\n", what, err);
}

static void test_malformed(void)
{
	static const unsigned char bad_gzip[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff };
	static const char text[] = "this is not a profile at all";
	struct profile *p = make_profile();
	unsigned char *buf;
	size_t len;

	expect_reject(bad_gzip, sizeof(bad_gzip), "bad gzip");
	expect_reject(text, sizeof(text), "text");
	expect_reject("", 0, "empty input");
	/* a sample pointing at a location id that does not exist */
	p->samples[0].locs[0] = 99;
	CHECK_INT(pprof__encode(p, false, (void **)&buf, &len), 0);
	expect_reject(buf, len, "location id out of range");
	free(buf);
	p->samples[0].locs[0] = 1;
	/* a function name past the string table */
	p->functions[0].name = 10000;
	CHECK_INT(pprof__encode(p, false, (void **)&buf, &len), 0);
	expect_reject(buf, len, "string index out of range");
	free(buf);
	/* every truncation of a valid file fails cleanly or parses: never crashes */
	p->functions[0].name = 1;
	CHECK_INT(pprof__encode(p, true, (void **)&buf, &len), 0);
	for (size_t cut = 0; cut < len; cut += 7) {
		struct profile *q = NULL;
		char err[128];

		if (pprof__decode(buf, cut, &q, err, sizeof(err)) == 0)
			profile__free(q);
	}
	free(buf);
	profile__free(p);
}

/* Pseudo-random bytes (xorshift64), the same every run: what gzip cannot compress. */
static void random_bytes(unsigned char *b, size_t n, unsigned char lo, unsigned char hi)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = lo + (unsigned char)(x >> 32) % (hi - lo + 1);
	}
}

/*
 * gzip of head followed by count copies of unit, compressed as it is produced: the expansion
 * is only ever held by the decoder under test.
 */
static void *gzip_repeated(const void *head, size_t headlen, const char *unit, size_t unitlen,
			   size_t count, size_t *ret_len)
{
	size_t per = 65536 / unitlen, cap = 1 << 16;
	unsigned char *chunk = malloc(per * unitlen), *out = malloc(cap);
	z_stream zs = { 0 };
	int zr = Z_OK;

	CHECK(chunk && out);
	CHECK_INT(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
	for (size_t i = 0; i < per; i++)
		memcpy(chunk + i * unitlen, unit, unitlen);
	zs.next_out = out;
	zs.avail_out = cap;
	for (size_t left = count, round = 0; zr == Z_OK || zr == Z_BUF_ERROR; round++) {
		size_t n = left < per ? left : per;
		int flush = round && !left ? Z_FINISH : Z_NO_FLUSH;

		if (!round) {
			zs.next_in = (unsigned char *)head;
			zs.avail_in = headlen;
		} else if (flush == Z_NO_FLUSH) {
			zs.next_in = chunk;
			zs.avail_in = n * unitlen;
			left -= n;
		}
		do {
			if (!zs.avail_out) {
				out = realloc(out, cap * 2);
				CHECK(out != NULL);
				zs.next_out = out + cap;
				zs.avail_out = cap;
				cap *= 2;
			}
			zr = deflate(&zs, flush);
		} while (zs.avail_in || (flush == Z_FINISH && zr == Z_OK));
		if (flush == Z_FINISH)
			break;
	}
	CHECK_INT(zr, Z_STREAM_END);
	*ret_len = zs.total_out;
	deflateEnd(&zs);
	free(chunk);
	return out;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Refused with -EFBIG and a message starting with want, and fast. */
static void expect_bomb_refused(const void *buf, size_t len, bool any, const char *want,
				const char *what)
{
	struct profile *q = NULL;
	struct timespec t0;
	char err[256] = "";
	double took;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = any ? profile__decode_any(buf, len, &q, err, sizeof(err))
		: pprof__decode(buf, len, &q, err, sizeof(err));
	took = seconds_since(&t0);
	CHECK_INT(r, -EFBIG);
	CHECK(q == NULL);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	CHECK(strstr(err, "; refusing") != NULL);
	/* a refusal costs what the limit allows, not what the bomb asks for: well under a second */
	CHECK(took < 10);
	fprintf(stderr, "  %s, %zu bytes: refused in %.2f s: %s\n", what, len, took, err);
	profile__free(q);
}

/*
 * The reported bomb, a 16 KB gzip of 16 MiB of empty Sample messages, reached 1 GB: protobuf-c
 * unpacked all of it before anything was checked. Now decompression stops at a size set from
 * the file's size, and what fits in that cannot unpack past a budget set the same way.
 */
static void test_bomb_refused(void)
{
	unsigned char pad[14003];
	void *gz;
	size_t len;

	/* 8 Mi empty samples: stopped while decompressing */
	gz = gzip_repeated(NULL, 0, "\x12", 2, 8 << 20, &len);
	CHECK(len < 32768);
	expect_bomb_refused(gz, len, false, "decompresses to more than", "16 MiB of empty samples");
	expect_bomb_refused(gz, len, true, "decompresses to more than", "the same, any format");
	free(gz);

	/*
	 * 1 Mi empty samples (2 MiB, within the decompression bound of a 16 KB file) after a
	 * string gzip can hardly compress (printable: protobuf-c wants UTF-8): stopped by the
	 * unpacking budget (one sample first: binary from the first bytes, not text)
	 */
	memcpy(pad, "\x12\x00\x32", 3); /* a sample; string_table, 13998 bytes */
	pad[3] = 0x80 | (13998 & 0x7f);
	pad[4] = 13998 >> 7;
	random_bytes(pad + 5, sizeof(pad) - 5, '!', '~');
	gz = gzip_repeated(pad, sizeof(pad), "\x12", 2, 1 << 20, &len);
	CHECK(len > 8192 && len < 32768);
	expect_bomb_refused(gz, len, false, "profile needs more than", "1 Mi empty samples");
	expect_bomb_refused(gz, len, true, "profile needs more than", "the same, any format");
	free(gz);

	/* folded text: a sample per 4 bytes, after a comment line nothing can compress */
	pad[0] = '#';
	random_bytes(pad + 1, sizeof(pad) - 2, '!', '~');
	pad[sizeof(pad) - 1] = '\n';
	gz = gzip_repeated(pad, sizeof(pad), "a 1\n", 4, 4 << 20, &len);
	expect_bomb_refused(gz, len, true, "decompresses to more than", "16 MiB of folded lines");
	free(gz);
	gz = gzip_repeated(pad, sizeof(pad), "a 1\n", 4, 600000, &len);
	expect_bomb_refused(gz, len, true, "profile needs more than", "600000 folded lines");
	free(gz);
}

/* The decompression bound is exact: a profile of exactly max_plain bytes reads, one more not. */
static void test_gunzip_bound(void)
{
	struct profile *p = make_profile(), *q = NULL;
	struct pprof_limits lim;
	void *raw, *gz;
	size_t rawlen, gzlen;
	char err[256] = "";

	CHECK_INT(pprof__encode(p, false, &raw, &rawlen), 0);
	CHECK_INT(pprof__encode(p, true, &gz, &gzlen), 0);
	lim = pprof__limits(gzlen);
	CHECK(lim.file_len == gzlen && lim.max_plain > rawlen && lim.max_decoded > rawlen);
	lim.max_plain = rawlen;
	CHECK_INT(pprof__decode_limited(gz, gzlen, &lim, &q, err, sizeof(err)), 0);
	profile__free(q);
	q = NULL;
	lim.max_plain = rawlen - 1;
	CHECK_INT(pprof__decode_limited(gz, gzlen, &lim, &q, err, sizeof(err)), -EFBIG);
	CHECK(strstr(err, "decompresses to more than") != NULL);
	CHECK(q == NULL);
	/* a budget too small for the unpacked message is the budget's refusal, not corruption */
	lim = pprof__limits(gzlen);
	lim.max_decoded = rawlen;
	CHECK_INT(pprof__decode_limited(gz, gzlen, &lim, &q, err, sizeof(err)), -EFBIG);
	CHECK(strstr(err, "profile needs more than") != NULL);
	CHECK(q == NULL);
	free(raw);
	free(gz);
	profile__free(p);
}

/*
 * A pprof of one location with nlines lines (0: a location without lines, which counts one
 * frame), and nsamples samples that each name it k times: what readers expand into
 * nsamples * k * max(1, nlines) frames. Packed with protobuf-c, gzip'ed when gz.
 */
/* the name of frame_bomb()'s function */
static char *bomb_name = "deep";

static void *frame_bomb(uint32_t nlines, size_t k, size_t nsamples, bool gz, size_t *ret_len)
{
	PbProfile pb = PERFTOOLS__PROFILES__PROFILE__INIT;
	PbValueType st = PERFTOOLS__PROFILES__VALUE_TYPE__INIT, *stp = &st;
	PbFunction fn = PERFTOOLS__PROFILES__FUNCTION__INIT, *fnp = &fn;
	PbLocation loc = PERFTOOLS__PROFILES__LOCATION__INIT, *locp = &loc;
	PbLine line = PERFTOOLS__PROFILES__LINE__INIT;
	PbLine **linep = calloc(nlines + 1, sizeof(*linep));
	PbSample sample = PERFTOOLS__PROFILES__SAMPLE__INIT;
	PbSample **samplep = calloc(nsamples + 1, sizeof(*samplep));
	uint64_t *ids = calloc(k + 1, sizeof(*ids));
	char *strings[] = { "", "samples", "count", bomb_name };
	int64_t value = 1;
	uint8_t *raw;
	size_t len;
	void *out = NULL;

	CHECK(linep && samplep && ids);
	st.type = 1;
	st.unit = 2;
	fn.id = 1;
	fn.name = 3;
	line.function_id = 1;
	line.line = 7;
	for (uint32_t i = 0; i < nlines; i++)
		linep[i] = &line;
	loc.id = 1;
	loc.address = 0x1000;
	loc.n_line = nlines;
	loc.line = linep;
	for (size_t i = 0; i < k; i++)
		ids[i] = 1;
	sample.n_location_id = k;
	sample.location_id = ids;
	sample.n_value = 1;
	sample.value = &value;
	for (size_t i = 0; i < nsamples; i++)
		samplep[i] = &sample;
	pb.n_sample_type = 1;
	pb.sample_type = &stp;
	pb.n_function = 1;
	pb.function = &fnp;
	pb.n_location = 1;
	pb.location = &locp;
	pb.n_sample = nsamples;
	pb.sample = samplep;
	pb.n_string_table = 4;
	pb.string_table = strings;
	len = perftools__profiles__profile__get_packed_size(&pb);
	raw = malloc(len);
	CHECK(raw != NULL);
	perftools__profiles__profile__pack(&pb, raw);
	if (gz) {
		out = gzip_repeated(raw, len, "", 1, 0, ret_len);
		free(raw);
	} else {
		out = raw;
		*ret_len = len;
	}
	free(linep);
	free(samplep);
	free(ids);
	return out;
}

/* Decoded within lim: the error and its message (NULL: must decode). */
static void expect_frames(const void *buf, size_t len, const struct pprof_limits *lim, int want,
			  const char *msg, const char *what)
{
	struct pprof_limits l = lim ? *lim : pprof__limits(len);
	struct profile *q = NULL;
	struct timespec t0;
	char err[256] = "";
	double took;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = pprof__decode_limited(buf, len, &l, &q, err, sizeof(err));
	took = seconds_since(&t0);
	CHECK_INT(r, want);
	if (want) {
		CHECK(q == NULL);
		CHECK(msg && strncmp(err, msg, strlen(msg)) == 0);
		CHECK(strstr(err, "; refusing") != NULL);
		/* the refusal costs the decoding of what fits, no more */
		CHECK(took < 10);
		fprintf(stderr, "  %s, %zu bytes: refused in %.3f s: %s\n", what, len, took, err);
	}
	profile__free(q);
}

/*
 * The review's bomb: 140 bytes (one location of 1000 inline lines, named 20000 times by one
 * sample) made flame take 3 GB and report 5 s; 540 bytes (200000 x 20000) ran for minutes.
 * Frames are counted while decoding: one sample expands into at most PPROF_MAX_SAMPLE_FRAMES,
 * all of them into at most max_frames, set from the file's size; both exact.
 */
static void test_frame_bombs(void)
{
	struct pprof_limits lim;
	struct profile *q = NULL;
	char err[256], *text;
	void *buf;
	size_t len;

	buf = frame_bomb(1000, 20000, 1, true, &len);
	CHECK(len < 1024);
	expect_frames(buf, len, NULL, -E2BIG, "sample 0 expands into more than 65536 frames",
		      "20000 x a location of 1000 lines");
	free(buf);
	buf = frame_bomb(20000, 200000, 1, true, &len);
	expect_frames(buf, len, NULL, -E2BIG, "sample 0 expands into more than 65536 frames",
		      "200000 x a location of 20000 lines");
	free(buf);

	/* one sample: 65536 frames read, 65537 not; a location without lines is one frame */
	buf = frame_bomb(1024, 64, 1, false, &len);
	expect_frames(buf, len, NULL, 0, NULL, NULL);
	free(buf);
	buf = frame_bomb(0, 65536, 1, false, &len);
	expect_frames(buf, len, NULL, 0, NULL, NULL);
	free(buf);
	buf = frame_bomb(0, 65537, 1, false, &len);
	expect_frames(buf, len, NULL, -E2BIG, "sample 0 expands into more than",
		      "65537 locations without lines");
	free(buf);
	buf = frame_bomb(4096, 17, 1, false, &len);
	expect_frames(buf, len, NULL, -E2BIG, "sample 0 expands into more than", "17 x 4096 lines");
	free(buf);

	/* many samples, each within the bound: the total is bounded by the file's size */
	buf = frame_bomb(1024, 64, 200, true, &len);
	lim = pprof__limits(len);
	CHECK(lim.max_frames < 200 * 65536ULL);
	expect_frames(buf, len, NULL, -EFBIG, "profile expands into more than",
		      "200 samples of 65536 frames");
	/* exact: the total at the bound reads, one frame fewer allowed does not (names aside) */
	lim.max_frames = 200 * 65536ULL;
	lim.max_text = UINT64_MAX;
	expect_frames(buf, len, &lim, 0, NULL, NULL);
	lim.max_frames--;
	expect_frames(buf, len, &lim, -EFBIG, "profile expands into more than 13 million frames",
		      "the same, a bound one frame short");
	/* any format */
	CHECK_INT(profile__decode_any(buf, len, &q, err, sizeof(err)), -EFBIG);
	CHECK(q == NULL && strstr(err, "profile expands into more than") == err);
	free(buf);

	/* folded text: 8 lines of 65536 frames, gzip'ed into a few KB, 512 Ki frames */
	text = malloc(8 * (2 * 65536 + 3) + 1);
	CHECK(text != NULL);
	len = 0;
	for (int i = 0; i < 8; i++) {
		for (int j = 0; j < 65536; j++) {
			text[len++] = 'a';
			text[len++] = ';';
		}
		len--;
		memcpy(text + len, " 1\n", 3);
		len += 3;
	}
	buf = gzip_repeated(text, len, "", 1, 0, &len);
	free(text);
	CHECK(pprof__limits(len).max_frames < 8 * 65536);
	CHECK_INT(profile__decode_any(buf, len, &q, err, sizeof(err)), -EFBIG);
	CHECK(q == NULL && strstr(err, "profile expands into more than") == err);
	fprintf(stderr, "  8 folded lines of 65536 frames, %zu bytes: %s\n", len, err);
	free(buf);
}

/*
 * Large legitimate profiles shaped like the costliest real captures measured (a recursive
 * workload sampled at 9999 Hz: deep stacks over a few functions, three labels, two values)
 * still read, gzip'ed or not, as pprof or through the any-format reader: 30-50 frames deep,
 * 10 bytes decompressed and 125 unpacked per byte of file, as a capture of a 24-deep
 * recursion, with four times that to spare; 480-510 frames deep, 45 bytes decompressed, 380
 * unpacked and 42 frames per byte, as one of a 480-deep recursion (DWARF unwinding; 44.5,
 * 384 and 41.5 measured), with four times the frames to spare.
 */
static void large_profile_reads(uint32_t min_depth, uint32_t spread, uint32_t walk, int nsamples,
				unsigned int byte_margin)
{
	struct profile *p = profile__new(), *q = NULL;
	struct prof_mapping m = { .start = 0x400000, .limit = 0x800000, .has_functions = true };
	struct prof_label labels[3] = { 0 };
	uint64_t fn[12], locs[512], x = 1;
	uint64_t frames = 0;
	int64_t v[2];
	void *buf;
	size_t len;
	char err[256] = "", name[32];

	CHECK(p && profile__add_sample_type(p, "samples", "count") == 0);
	CHECK_INT(profile__add_sample_type(p, "cpu", "nanoseconds"), 0);
	m.filename = profile__intern(p, "/usr/bin/unwind-workload");
	CHECK(profile__add_mapping(p, &m) == 1);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "work_%d", i);
		fn[i] = profile__function(p, name, name, "workload.c", 10 * i);
	}
	labels[0] = (struct prof_label){ .key = profile__intern(p, "comm"),
					 .str = profile__intern(p, "unwind-workload") };
	labels[1].key = profile__intern(p, "pid");
	labels[2].key = profile__intern(p, "thread_id");
	labels[1].num = 21538;
	for (int i = 0; i < nsamples; i++) {
		uint32_t depth = min_depth + i % spread;

		/* a leaf, a random walk between two recursive frames, then the same base */
		for (uint32_t j = 0; j < depth; j++) {
			struct prof_line line = { 0 };
			uint64_t f;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			f = j == 0	     ? x % 12
			    : j < walk	     ? 1 + x % 2
			    : j < depth - 10 ? 1
					     : 3 + (depth - j) % 9;
			line.function = fn[f];
			line.line = (int64_t)f;
			locs[j] = profile__location(p, 1, 0x400000 + 16 * f, &line, 1);
		}
		labels[2].num = 21538 + i % 3;
		v[0] = 1 + (x >> 40) % 8 / 7;
		v[1] = v[0] * 100010;
		CHECK_INT(profile__add_sample(p, locs, depth, v, labels, 3), 0);
		frames += depth;
	}
	for (int gz = 0; gz < 2; gz++) {
		struct pprof_limits lim;
		struct pb_budget b;
		void *raw;
		size_t rawlen;

		CHECK_INT(pprof__encode(p, gz, &buf, &len), 0);
		lim = pprof__limits(len);
		CHECK_INT(pprof__encode(p, false, &raw, &rawlen), 0);
		q = NULL;
		perftools__profiles__profile__free_unpacked(
		    perftools__profiles__profile__unpack(pb_budget__init(&b, SIZE_MAX), rawlen,
							 raw),
		    &b.allocator);
		free(raw);
		CHECK(rawlen * byte_margin <= lim.max_plain);
		CHECK(b.peak * byte_margin <= lim.max_decoded);
		CHECK(frames * 4 <= lim.max_frames);
		fprintf(stderr,
			"  large profile (%s, %u-%u frames deep), %zu bytes: %.1f decompressed, "
			"%.1f unpacked, %.1f frames per byte\n",
			gz ? "gzip" : "raw", min_depth, min_depth + spread - 1, len,
			(double)rawlen / len, (double)b.peak / len, (double)frames / len);
		CHECK_INT(pprof__decode(buf, len, &q, err, sizeof(err)), 0);
		CHECK(q && q->nsamples == p->nsamples);
		profile__free(q);
		q = NULL;
		CHECK_INT(profile__decode_any(buf, len, &q, err, sizeof(err)), 0);
		CHECK(q && q->nsamples == p->nsamples);
		profile__free(q);
		q = NULL;
		free(buf);
	}
	profile__free(p);
}

static void test_large_profile_reads(void)
{
	large_profile_reads(30, 20, 12, 40000, 4);
	/* the decompression and unpacking bounds leave less to this shape: 2.9 and 1.35 times */
	large_profile_reads(480, 30, 24, 8000, 1);
}

/*
 * Every string of every output is valid UTF-8, whatever the names given: interned ones (the
 * collector's, the folded reader's) and a foreign pprof's string table alike, and names cut to
 * a buffer. Readers refuse a whole protobuf over one bad string (grpc-go and grpcio check
 * proto3 strings), and a thread may name itself "evil\xff\xfe".
 */
static void check_pprof_strings_valid(const struct profile *p, const char *what)
{
	Perftools__Profiles__Profile *pb;
	size_t len, bad = 0;
	void *buf;

	CHECK_INT(pprof__encode(p, false, &buf, &len), 0);
	pb = perftools__profiles__profile__unpack(NULL, len, buf);
	CHECK(pb != NULL);
	for (size_t i = 0; pb && i < pb->n_string_table; i++)
		bad += !utf8_is_valid(pb->string_table[i]);
	if (bad)
		fprintf(stderr, "  %s: %zu strings of the pprof are not UTF-8\n", what, bad);
	CHECK_INT(bad, 0);
	perftools__profiles__profile__free_unpacked(pb, NULL);
	free(buf);
}

static void check_folded_valid(const struct profile *p, const char *want)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f && profile__write_folded(p, 0, f) == 0);
	fclose(f);
	CHECK(text && utf8_is_valid(text));
	if (want)
		CHECK(text && strstr(text, want));
	free(text);
}

static void test_utf8_everywhere(void)
{
	struct profile *p = profile__new(), *q = NULL;
	struct prof_mapping m = { .start = 0x1000, .limit = 0x2000 };
	struct prof_label label = { 0 };
	struct prof_line line = { 0 };
	uint64_t locs[2];
	int64_t v = 1;
	char err[256], name[64], long_name[700];
	size_t len;
	PbProfile pb = PERFTOOLS__PROFILES__PROFILE__INIT;
	PbValueType st = PERFTOOLS__PROFILES__VALUE_TYPE__INIT, *stp = &st;
	char *strings[] = { "", "samples", "count", "f\xc3(", "\xed\xa0\x80" };
	const char *folded = "main;\xe2\x82;x\xff 3\n";
	uint8_t raw[256];

	CHECK_INT(profile__add_sample_type(p, "samples", "count"), 0);
	/* a thread name, a symbol and a library path of a hostile process */
	m.filename = profile__intern(p, "/tmp/\xf4\x90\x80\x80lib.so");
	CHECK(profile__add_mapping(p, &m) == 1);
	line.function = profile__function(p, "evil\xff\xfe", "evil\xff\xfe", "a\xe2\x82.c", 0);
	CHECK(line.function != 0);
	locs[0] = profile__location(p, 0, 0x1234, &line, 1);
	locs[1] = profile__location(p, 1, 0x1100, NULL, 0); /* named by its mapping */
	label.key = profile__intern(p, "comm");
	label.str = profile__intern(p, "bad\xc0\xaf");
	CHECK_INT(profile__add_sample(p, locs, 2, &v, &label, 1), 0);
	CHECK_STR(profile__str(p, label.str), "bad\xef\xbf\xbd\xef\xbf\xbd");
	/* the same name once, however it was spelled before replacement */
	CHECK_INT(profile__intern(p, "bad\xc1\xbf"), label.str);
	CHECK_INT(profile__intern(p, "evil\xfe\xff"), p->functions[0].name);
	check_pprof_strings_valid(p, "interned");
	check_folded_valid(p, "\xef\xbf\xbdlib.so+0x100;evil\xef\xbf\xbd\xef\xbf\xbd 1");

	/* a name longer than the frame buffer: cut before a character, never inside one */
	for (size_t i = 0; i + 4 < sizeof(long_name); i += 4)
		memcpy(long_name + i, i % 8 ? "\xc3\xa9\xc3\xa9" : "\xf0\x9d\x84\x9e", 4);
	long_name[sizeof(long_name) - 4] = 0;
	line.function = profile__function(p, long_name, long_name, "", 0);
	locs[0] = profile__location(p, 0, 0x5678, &line, 1);
	for (size_t size = 1; size < 24; size++) {
		char small[24];

		profile__frame_name(p, &p->locations[locs[0] - 1], 0, small, size);
		CHECK(utf8_is_valid(small) && strlen(small) + 4 >= size);
	}
	profile__frame_name(p, &p->locations[locs[0] - 1], 0, name, sizeof(name));
	CHECK(utf8_is_valid(name) && strlen(name) >= 60);
	CHECK_INT(profile__add_sample(p, locs, 1, &v, NULL, 0), 0);
	check_folded_valid(p, NULL);
	profile__free(p);

	/* a foreign pprof's string table: protobuf-c takes any bytes */
	st.type = 1;
	st.unit = 2;
	pb.n_sample_type = 1;
	pb.sample_type = &stp;
	pb.n_string_table = 5;
	pb.string_table = strings;
	len = perftools__profiles__profile__get_packed_size(&pb);
	CHECK(len < sizeof(raw));
	perftools__profiles__profile__pack(&pb, raw);
	CHECK_INT(pprof__decode(raw, len, &q, err, sizeof(err)), 0);
	if (q) {
		CHECK_INT(q->nstrings, 5);
		CHECK_STR(profile__str(q, 3), "f\xef\xbf\xbd(");
		CHECK_STR(profile__str(q, 4), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
		check_pprof_strings_valid(q, "decoded");
	}
	profile__free(q);
	/* folded text from a file */
	q = NULL;
	CHECK_INT(folded__parse(folded, strlen(folded), &q, err, sizeof(err)), 0);
	if (q) {
		check_pprof_strings_valid(q, "folded");
		check_folded_valid(q, "main;\xef\xbf\xbd;x\xef\xbf\xbd 3");
	}
	profile__free(q);
}

/*
 * Frames of long names: the bytes of names all frames show are bounded by the file's size as
 * frames are (a 6 KB file of 512-byte names made a 655 MB folded file), and what readers do
 * per frame costs no more for a name of 1 MB than of 511 bytes (a 165 KB file kept report's
 * --focus busy 18 s).
 */
static void test_name_bombs(void)
{
	char *name = malloc(1 << 20);
	struct pprof_limits lim;
	struct func_table t = { 0 };
	struct sample_filter f = { 0 };
	struct profile *q = NULL;
	struct timespec t0;
	regex_t re;
	char err[256];
	size_t len;
	void *buf;
	FILE *null;

	CHECK(name != NULL);
	if (!name)
		return;
	memset(name, 'x', 512);
	name[512] = 0;
	bomb_name = name;
	/* 500 thousand frames, a line each: 511 bytes shown and a separator, and one a location */
	buf = frame_bomb(1, 50000, 10, true, &len);
	CHECK(len < 8192);
	lim = pprof__limits(len);
	lim.max_frames = UINT64_MAX;
	expect_frames(buf, len, &lim, -EFBIG, "profile's frames carry more than",
		      "500 thousand frames of 512-byte names");
	CHECK_INT(profile__decode_any(buf, len, &q, err, sizeof(err)), -EFBIG);
	/* exact */
	lim.max_text = 500000ULL * 513;
	expect_frames(buf, len, &lim, 0, NULL, NULL);
	lim.max_text--;
	expect_frames(buf, len, &lim, -EFBIG, "profile's frames carry more than",
		      "the same, a bound one byte short");
	free(buf);

	/* a function without a name: its frames show "[unknown] 0x1000"-like text, counted so */
	bomb_name = "";
	buf = frame_bomb(1, 50000, 10, true, &len);
	lim = pprof__limits(len);
	lim.max_frames = UINT64_MAX;
	lim.max_text = 500000ULL * (28 + 1 + 1);
	expect_frames(buf, len, &lim, 0, NULL, NULL);
	lim.max_text--;
	expect_frames(buf, len, &lim, -EFBIG, "profile's frames carry more than",
		      "500 thousand frames without names, a bound one byte short");
	free(buf);
	bomb_name = name;

	/* one name of 1 MB in 60 thousand frames: within the bounds, and cheap to walk */
	memset(name, 'x', (1 << 20) - 1);
	name[(1 << 20) - 1] = 0;
	buf = frame_bomb(1, 60000, 1, true, &len);
	CHECK_INT(pprof__decode(buf, len, &q, err, sizeof(err)), 0);
	free(buf);
	CHECK(regcomp(&re, "y$", REG_EXTENDED | REG_NOSUB) == 0);
	f.focus = &re;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (q) {
		CHECK_INT(func_table__add_filtered(&t, q, 0, NULL, &f), 0);
		/* nothing matched: the total is the whole profile's, no function counted */
		CHECK_INT(t.n, 0);
		null = fopen("/dev/null", "w");
		CHECK(null && profile__write_folded(q, 0, null) == 0);
		if (null)
			fclose(null);
	}
	/* a regexec and a strlen of 1 MB per frame: minutes */
	CHECK(seconds_since(&t0) < 10);
	fprintf(stderr, "  60 thousand frames of a 1 MB name: filtered and folded in %.3f s\n",
		seconds_since(&t0));
	func_table__free(&t);
	regfree(&re);
	profile__free(q);
	bomb_name = "deep";
	free(name);
}

int main(int argc, char **argv)
{
	test_round_trip();
	test_ids_are_positions();
	test_folded();
	test_malformed();
	test_bomb_refused();
	test_gunzip_bound();
	test_frame_bombs();
	test_name_bombs();
	test_large_profile_reads();
	test_utf8_everywhere();
	if (argc > 1) {
		struct profile *p = make_profile();
		void *buf = NULL;
		size_t len = 0;
		FILE *f = fopen(argv[1], "w");

		CHECK(f && pprof__encode(p, true, &buf, &len) == 0);
		CHECK(fwrite(buf, 1, len, f) == len);
		fclose(f);
		free(buf);
		profile__free(p);
	}
	return check_done("test_pprof");
}
