/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The consumer side of the BPF ring buffer that carries copied stacks, mapped once.
 *
 * libbpf's ring_buffer maps a ring's data pages twice in a row, so that a record that wraps
 * around the end reads as one piece. The kernel fills in every page of both mappings when they
 * are made, so a 16 MB ring costs 32 MB of RSS. Here the data is mapped once and the rare
 * record that wraps (one per trip around the ring) is copied out into a buffer of its own.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct sample_ring;

/* Called for each record, with its bytes; a record is never seen twice. */
typedef void (*sample_ring_fn)(void *ctx, const void *data, size_t len);

/*
 * Map the ring of BPF_MAP_TYPE_RINGBUF map_fd (its data: size bytes, a power of two) for
 * reading; records longer than max_record are skipped (the program never writes any). NULL
 * with errno set when it cannot be mapped.
 */
struct sample_ring *sample_ring__new(int map_fd, size_t size, size_t max_record, sample_ring_fn fn,
				     void *ctx);
/* The descriptor to poll for the program's wake-ups (the map's). */
int sample_ring__fd(const struct sample_ring *r);
/* Hand every complete record to fn, freeing its room as it goes; the number of records. */
int sample_ring__consume(struct sample_ring *r);
void sample_ring__free(struct sample_ring *r);

/*
 * The consumer itself, over any memory laid out as the kernel lays out a ring (for the unit
 * tests): positions that only grow, data of mask + 1 bytes, records of an 8-byte header (the
 * length, BUSY while being written, DISCARD when dropped) padded to 8 bytes. bounce holds
 * max_record bytes.
 */
struct sample_ring_view {
	unsigned long *consumer_pos;
	const unsigned long *producer_pos;
	const uint8_t *data;
	size_t mask, max_record;
	uint8_t *bounce;
};
int sample_ring_view__consume(const struct sample_ring_view *v, sample_ring_fn fn, void *ctx);
