// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What reading a profile costs per byte of the file: decompressed bytes, bytes protobuf-c holds
 * while unpacking (counted by a pb_budget), heap the profile model keeps (mallinfo2), and the
 * frames its samples expand into (every location once per line, as report, flame and folded
 * output walk them) with the deepest sample's. The limits in proto/pprof.c are set from these
 * figures. Not a test:
 *   build/tests/decode_cost FILE...
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "folded.h"
#include "pb_budget.h"
#include "pprof.h"
#include "profile.pb-c.h"

/* Heap in use: small chunks and the large ones malloc maps on their own. */
static size_t heap_bytes(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

static int measure(const char *path)
{
	struct pprof_limits lim = { .max_plain = PPROF_MAX_BYTES,
				    .max_decoded = SIZE_MAX,
				    .max_frames = UINT64_MAX,
				    .max_text = UINT64_MAX };
	size_t before, after;
	Perftools__Profiles__Profile *pb = NULL;
	struct profile *p = NULL;
	struct pb_budget b;
	char *buf = NULL, err[256];
	void *plain = NULL;
	size_t len, plain_len;
	uint64_t frames = 0, deepest = 0, text = 0;
	bool is_text;
	int r;

	r = read_file(path, PPROF_MAX_BYTES, &buf, &len);
	if (r) {
		fprintf(stderr, "'%s': %s\n", path, strerror(-r));
		return 1;
	}
	lim.file_len = len;
	plain = buf;
	plain_len = len;
	if (len >= 2 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b &&
	    pprof__gunzip(buf, len, &lim, &plain, &plain_len, err, sizeof(err))) {
		fprintf(stderr, "'%s': %s\n", path, err);
		free(buf);
		return 1;
	}
	is_text = folded__looks_like_text(plain, plain_len);
	if (!is_text) {
		pb = perftools__profiles__profile__unpack(pb_budget__init(&b, SIZE_MAX), plain_len,
							  plain);
		if (!pb) {
			fprintf(stderr, "'%s': not a pprof profile\n", path);
			r = 1;
			goto out;
		}
		perftools__profiles__profile__free_unpacked(pb, &b.allocator);
	}
	before = heap_bytes();
	r = is_text ? folded__parse(plain, plain_len, &p, err, sizeof(err))
		    : pprof__decode_limited(plain, plain_len, &lim, &p, err, sizeof(err));
	after = heap_bytes();
	if (r) {
		fprintf(stderr, "'%s': %s\n", path, err);
		r = 1;
		goto out;
	}
	printf("%s: %zu bytes, %zu decompressed (x%.1f), %s%zu samples\n", path, len, plain_len,
	       (double)plain_len / len, is_text ? "folded text, " : "", p->nsamples);
	if (!is_text)
		printf("  unpacked peak %zu bytes: x%.1f the file, x%.1f the protobuf\n", b.peak,
		       (double)b.peak / len, (double)b.peak / plain_len);
	printf("  model heap %zu bytes: x%.1f the file", after - before,
	       (double)(after - before) / len);
	if (!is_text)
		printf(", x%.2f the unpacked peak", (double)(after - before) / b.peak);
	printf("\n");
	/* what every consumer walks: each location of a sample once per line (at least once) */
	for (size_t i = 0; i < p->nsamples; i++) {
		uint64_t n = 0;

		for (uint32_t j = 0; j < p->samples[i].nlocs; j++) {
			const struct prof_location *l = &p->locations[p->samples[i].locs[j] - 1];

			n += l->nlines ? l->nlines : 1;
			text += pprof__location_text(p, l);
		}
		frames += n;
		if (n > deepest)
			deepest = n;
	}
	printf("  expanded frames %llu: x%.2f the file; deepest sample %llu frames\n",
	       (unsigned long long)frames, (double)frames / len, (unsigned long long)deepest);
	printf("  their names and files %llu bytes: x%.1f the file\n", (unsigned long long)text,
	       (double)text / len);
	profile__free(p);
	r = 0;
out:
	if (plain != buf)
		free(plain);
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	int fails = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		fails += measure(argv[i]);
	return fails ? 1 : 0;
}
