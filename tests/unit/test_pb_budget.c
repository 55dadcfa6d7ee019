// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The protobuf-c allocator with a budget: bytes counted while held and credited when freed,
 * requests past the limit refused, and protobuf-c's unpacking held to it exactly (everything it
 * allocated given back, even when it gives up half way).
 */
#include "check.h"
#include "model.h"
#include "pb_budget.h"
#include "pprof.h"
#include "profile.pb-c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *budget_alloc(struct pb_budget *b, size_t size)
{
	return b->allocator.alloc(b->allocator.allocator_data, size);
}

static void budget_free(struct pb_budget *b, void *ptr)
{
	b->allocator.free(b->allocator.allocator_data, ptr);
}

static void test_accounting(void)
{
	struct pb_budget b;
	ProtobufCAllocator *a = pb_budget__init(&b, 1000);
	unsigned char *x, *y, *z;
	size_t one;

	CHECK(a == &b.allocator);
	CHECK_INT(b.used, 0);
	CHECK(!pb_budget__exceeded(&b));
	x = budget_alloc(&b, 100);
	CHECK(x != NULL);
	one = b.used; /* 100 and the header */
	CHECK(one >= 100 && one < 200);
	CHECK((uintptr_t)x % _Alignof(max_align_t) == 0);
	memset(x, 0xaa, 100); /* all of it is ours (ASan checks) */
	y = budget_alloc(&b, 100);
	CHECK(y != NULL);
	CHECK_INT(b.used, 2 * one);
	/* what would pass the limit is refused and not counted */
	z = budget_alloc(&b, 1000);
	CHECK(z == NULL);
	CHECK(pb_budget__exceeded(&b));
	CHECK_INT(b.refused, 1);
	CHECK_INT(b.used, 2 * one);
	/* frees are credited: the same request fits again once something is given back */
	budget_free(&b, x);
	CHECK_INT(b.used, one);
	budget_free(&b, NULL);
	CHECK_INT(b.used, one);
	z = budget_alloc(&b, 1000 - 2 * one + 100);
	CHECK(z != NULL);
	CHECK_INT(b.used, 1000);
	CHECK(budget_alloc(&b, 1) == NULL); /* exactly full */
	CHECK_INT(b.peak, 1000);
	budget_free(&b, y);
	budget_free(&b, z);
	CHECK_INT(b.used, 0);
	CHECK_INT(b.peak, 1000);
	/* sizes near SIZE_MAX do not wrap around */
	CHECK(budget_alloc(&b, SIZE_MAX) == NULL);
	CHECK(budget_alloc(&b, SIZE_MAX - 8) == NULL);
	CHECK_INT(b.used, 0);
}

/* A profile with a few of each message, raw protobuf. */
static void *encoded_profile(size_t *ret_len)
{
	struct profile *p = profile__new();
	struct prof_mapping m = { .start = 0x1000, .limit = 0x2000 };
	struct prof_label label = { 0 };
	uint64_t locs[16];
	int64_t v = 1;
	void *buf = NULL;
	char name[32];

	CHECK(p && profile__add_sample_type(p, "samples", "count") == 0);
	m.filename = profile__intern(p, "/bin/x");
	CHECK(profile__add_mapping(p, &m) == 1);
	label.key = profile__intern(p, "pid");
	for (int i = 0; i < 16; i++) {
		struct prof_line line = { 0 };

		snprintf(name, sizeof(name), "f%d", i);
		line.function = profile__function(p, name, name, "x.c", i);
		locs[i] = profile__location(p, 1, 0x1000 + i, &line, 1);
		label.num = i;
		CHECK_INT(profile__add_sample(p, locs, i + 1, &v, &label, 1), 0);
	}
	CHECK_INT(pprof__encode(p, false, &buf, ret_len), 0);
	profile__free(p);
	return buf;
}

static void test_unpack(void)
{
	Perftools__Profiles__Profile *pb;
	struct pb_budget b;
	size_t len, peak;
	void *buf = encoded_profile(&len);

	pb = perftools__profiles__profile__unpack(pb_budget__init(&b, SIZE_MAX), len, buf);
	CHECK(pb != NULL);
	CHECK(pb && pb->n_sample == 16 && pb->n_location == 16);
	CHECK(b.used > len);
	perftools__profiles__profile__free_unpacked(pb, &b.allocator);
	CHECK_INT(b.used, 0); /* every byte given back */
	peak = b.peak;

	/* a budget of exactly the peak is enough, one byte less is not */
	pb = perftools__profiles__profile__unpack(pb_budget__init(&b, peak), len, buf);
	CHECK(pb != NULL);
	CHECK(!pb_budget__exceeded(&b));
	perftools__profiles__profile__free_unpacked(pb, &b.allocator);
	CHECK_INT(b.used, 0);
	pb = perftools__profiles__profile__unpack(pb_budget__init(&b, peak - 1), len, buf);
	CHECK(pb == NULL);
	CHECK(pb_budget__exceeded(&b));
	CHECK_INT(b.used, 0); /* what was unpacked before the refusal was freed */

	/* refused at every point along the way, protobuf-c still gives everything back */
	for (size_t limit = 0; limit < peak; limit += peak / 64 + 1) {
		pb = perftools__profiles__profile__unpack(pb_budget__init(&b, limit), len, buf);
		CHECK(pb == NULL);
		CHECK(pb_budget__exceeded(&b));
		CHECK_INT(b.used, 0);
	}
	free(buf);
}

int main(void)
{
	test_accounting();
	test_unpack();
	return check_done("test_pb_budget");
}
