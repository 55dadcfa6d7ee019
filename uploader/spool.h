/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The on-disk spool of the agent: messages waiting to be delivered, one zstd-compressed file
 * each, named by a sequence number so they go out oldest first, bounded in bytes (the oldest is
 * dropped, and counted, to make room). It survives restarts. A message the disk refuses (full,
 * failing, read-only) waits in memory in its place, up to SPOOL_MAX_MEMORY bytes, and is
 * written out once the disk takes messages again. Safe to use from two threads.
 */
#ifndef SCORCH_SPOOL_H
#define SCORCH_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool;

/* Compressed messages held in memory while the disk refuses them, at most. */
#define SPOOL_MAX_MEMORY (16u << 20)

struct spool_stats {
	uint64_t entries, bytes; /* now, on disk and in memory */
	uint64_t memory_entries, memory_bytes; /* now, held in memory */
	uint64_t dropped; /* oldest entries removed to stay within the bounds */
	uint64_t corrupt; /* entries that could not be read back, removed */
	uint64_t write_failures; /* messages the disk refused (kept in memory) */
	int write_errno; /* of the last refusal */
};

/* Open (creating it 0700) the spool directory. NULL with errno set. */
struct spool *spool__open(const char *dir, uint64_t max_bytes);
void spool__free(struct spool *s);
/*
 * Add a message as the newest entry: 0 on disk, 1 when the disk refused it and it is held in
 * memory (the write's error in spool_stats.write_errno), -errno when it could not be kept.
 */
int spool__put(struct spool *s, const void *data, size_t len);
/* The oldest entry, decompressed into *ret (malloc'ed): 0, -ENOENT when empty, -errno. */
int spool__oldest(struct spool *s, uint64_t *ret_seq, uint8_t **ret, size_t *ret_len);
/* The newest entry, the same way (the sender tries it to tell a bad message from a bad server). */
int spool__newest(struct spool *s, uint64_t *ret_seq, uint8_t **ret, size_t *ret_len);
/* Remove an entry (delivered, or not deliverable). */
void spool__remove(struct spool *s, uint64_t seq);
void spool__stats(struct spool *s, struct spool_stats *ret);

#endif
