/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The on-disk spool of the agent: messages waiting to be delivered, one zstd-compressed file
 * each, named by a sequence number so they go out oldest first, bounded in bytes (the oldest is
 * dropped, and counted, to make room). It survives restarts. Safe to use from two threads.
 */
#ifndef SCORCH_SPOOL_H
#define SCORCH_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool;

struct spool_stats {
	uint64_t entries, bytes; /* now */
	uint64_t dropped; /* oldest entries removed to stay within the bound */
	uint64_t corrupt; /* entries that could not be read back, removed */
};

/* Open (creating it 0700) the spool directory. NULL with errno set. */
struct spool *spool__open(const char *dir, uint64_t max_bytes);
void spool__free(struct spool *s);
/* Add a message as the newest entry. 0 or -errno. */
int spool__put(struct spool *s, const void *data, size_t len);
/* The oldest entry, decompressed into *ret (malloc'ed): 0, -ENOENT when empty, -errno. */
int spool__oldest(struct spool *s, uint64_t *ret_seq, uint8_t **ret, size_t *ret_len);
/* Remove an entry (delivered, or not deliverable). */
void spool__remove(struct spool *s, uint64_t seq);
void spool__stats(struct spool *s, struct spool_stats *ret);

#endif
