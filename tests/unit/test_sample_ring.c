// SPDX-License-Identifier: GPL-2.0
/*
 * The consumer of the copied-stack ring over a ring laid out in plain memory as the kernel lays
 * it out: records in order, one that wraps around the end read whole, busy ones waited for,
 * discarded and oversized ones skipped, a header no kernel writes refused without a hang; and
 * over a real BPF ring buffer map, that one mapping of its data is accepted by the kernel.
 */
#include "check.h"
#include "sample_ring.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <unistd.h>

#define SIZE 4096
#define MAX_RECORD 1024

struct ring {
	unsigned long cons, prod;
	uint8_t data[SIZE];
	uint8_t bounce[MAX_RECORD];
	struct sample_ring_view view;
};

struct seen {
	int n;
	size_t len[16];
	uint8_t first[16], last[16];
	int bad; /* records whose bytes are not the pattern they were written with */
};

static void on_record(void *ctx, const void *data, size_t len)
{
	struct seen *s = ctx;
	const uint8_t *b = data;

	for (size_t i = 1; i < len; i++)
		if (b[i] != (uint8_t)(b[0] + i))
			s->bad++;
	if (s->n < 16) {
		s->len[s->n] = len;
		s->first[s->n] = len ? b[0] : 0;
		s->last[s->n] = len ? b[len - 1] : 0;
	}
	s->n++;
}

static void ring_init(struct ring *r, unsigned long pos)
{
	memset(r, 0, sizeof(*r));
	r->cons = r->prod = pos;
	r->view = (struct sample_ring_view){ &r->cons, &r->prod,   r->data,
					     SIZE - 1, MAX_RECORD, r->bounce };
}

/* Write a record of len bytes (the pattern seed, seed+1, ...) at the producer position. */
static void put(struct ring *r, uint32_t len, uint8_t seed, uint32_t flags)
{
	uint32_t hdr = len | flags;
	size_t at = r->prod & (SIZE - 1);

	memcpy(r->data + at, &hdr, 4);
	for (uint32_t i = 0; i < len; i++)
		r->data[(at + 8 + i) & (SIZE - 1)] = (uint8_t)(seed + i);
	r->prod += (len + 8 + 7) & ~7u;
}

int main(void)
{
	struct ring *r = calloc(1, sizeof(*r));
	struct seen s = { 0 };

	/* three records in order; the consumer position ends at the producer's */
	ring_init(r, 0);
	put(r, 100, 1, 0);
	put(r, 5, 50, 0);
	put(r, 0, 0, 0);
	CHECK_INT(sample_ring_view__consume(&r->view, on_record, &s), 3);
	CHECK_INT(s.n, 3);
	CHECK_INT(s.len[0], 100);
	CHECK_INT(s.last[0], 100);
	CHECK_INT(s.len[1], 5);
	CHECK_INT(s.first[1], 50);
	CHECK_INT(s.len[2], 0);
	CHECK_INT(r->cons, r->prod);
	CHECK_INT(s.bad, 0);
	/* nothing new: nothing read */
	CHECK_INT(sample_ring_view__consume(&r->view, on_record, &s), 0);
	CHECK_INT(s.n, 3);

	/* a record that wraps around the end of the data arrives whole */
	memset(&s, 0, sizeof(s));
	ring_init(r, 3 * SIZE + SIZE - 64);
	put(r, 300, 7, 0);
	put(r, 16, 90, 0);
	CHECK_INT(sample_ring_view__consume(&r->view, on_record, &s), 2);
	CHECK_INT(s.len[0], 300);
	CHECK_INT(s.first[0], 7);
	CHECK_INT(s.last[0], (uint8_t)(7 + 299));
	CHECK_INT(s.len[1], 16);
	CHECK_INT(s.bad, 0);
	CHECK_INT(r->cons, r->prod);

	/* a record still being written stops the reading there, and is read once it is done */
	memset(&s, 0, sizeof(s));
	ring_init(r, 0);
	put(r, 10, 1, 0);
	put(r, 20, 2, BPF_RINGBUF_BUSY_BIT);
	put(r, 30, 3, 0);
	CHECK_INT(sample_ring_view__consume(&r->view, on_record, &s), 1);
	CHECK_INT(r->cons, 24);
	r->data[24 + 3] &= ~0x80; /* the busy bit (little endian) */
	CHECK_INT(sample_ring_view__consume(&r->view, on_record, &s), 2);
	CHECK_INT(s.n, 3);
	CHECK_INT(s.len[1], 20);
	CHECK_INT(s.len[2], 30);

	/* discarded and oversized records are stepped over, not handed on */
	memset(&s, 0, sizeof(s));
	ring_init(r, 0);
	put(r, 40, 1, BPF_RINGBUF_DISCARD_BIT);
	put(r, MAX_RECORD + 8, 1, 0);
	put(r, 8, 9, 0);
	CHECK_INT(sample_ring_view__consume(&r->view, on_record, &s), 3);
	CHECK_INT(s.n, 1);
	CHECK_INT(s.first[0], 9);
	CHECK_INT(r->cons, r->prod);

	/* a length past what is queued (or the ring) is no record: skip all that is queued */
	memset(&s, 0, sizeof(s));
	ring_init(r, 0);
	put(r, 16, 1, 0);
	{
		uint32_t hdr = SIZE * 2;

		memcpy(r->data + 24, &hdr, 4);
		r->prod += 64;
	}
	CHECK_INT(sample_ring_view__consume(&r->view, on_record, &s), -EBADMSG);
	CHECK_INT(s.n, 1);
	CHECK_INT(r->cons, r->prod);

	/* at most one turn of the ring a call, even when the producer keeps up */
	memset(&s, 0, sizeof(s));
	ring_init(r, 0);
	for (int i = 0; i < 40; i++)
		put(r, 248, 0, 0); /* 256 bytes each: 16 fill the ring */
	r->cons = r->prod - 40 * 256; /* (the test's producer overwrote itself: only counts) */
	CHECK_INT(sample_ring_view__consume(&r->view, on_record, &s), 16);

	/* a real ring buffer map: its data mapped once, nothing queued yet */
	if (geteuid() == 0) {
		int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "test_ring", 0, 0, 1 << 16, NULL);
		struct sample_ring *sr;

		CHECK(fd >= 0 || getenv("CI") == NULL);
		if (fd >= 0) {
			sr = sample_ring__new(fd, 1 << 16, MAX_RECORD, on_record, &s);
			CHECK(sr != NULL);
			if (sr) {
				CHECK_INT(sample_ring__fd(sr), fd);
				CHECK_INT(sample_ring__consume(sr), 0);
			}
			sample_ring__free(sr);
			/* a size that is not the map's data (nor a power of two) is refused */
			CHECK(sample_ring__new(fd, 3 << 12, MAX_RECORD, on_record, &s) == NULL);
			close(fd);
		}
	}
	free(r);
	return check_done("test_sample_ring");
}
