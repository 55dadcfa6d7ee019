// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pprof encoder and decoder: a round trip through our own decoder, rejection of malformed
 * input, and (with an argument) a file for 'go tool pprof' to read as an independent check.
 */
#include "check.h"
#include "model.h"
#include "pprof.h"
#include "profile.pb-c.h"

#include <errno.h>
#include <stdlib.h>

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

int main(int argc, char **argv)
{
	test_round_trip();
	test_ids_are_positions();
	test_folded();
	test_malformed();
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
