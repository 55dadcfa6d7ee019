/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What inflating a debug file's compressed DWARF sections gave, kept on disk between runs.
 * Debian's debug files are zlib-compressed, and zlib streams are read from their start: a
 * capture that needs libc's last units inflates all its 5.8 MB of .debug_info, ~35 ms here,
 * each run. The cache keeps, per file, the bytes inflated so far of each section from its
 * start, and a point near their end where the stream resumes (a block boundary: output and
 * input offsets, pending bits; the window is the bytes before it): a later run reads those
 * bytes from the page cache and inflates only what lies beyond.
 *
 * An entry is named after the file's device and inode and holds its identity (size, times of
 * modification and change): a file replaced or written to no longer matches, so an entry never
 * answers for other bytes than those it came from, and a file a profiled process owns can only
 * be wrong about itself. Entries are written whole and renamed into place, in a directory only
 * scorch's user may write; all together they stay within DWARF_CACHE_BUDGET, oldest removed
 * first. Reading one that fails in any way is a miss.
 */
#ifndef SCORCH_DWARF_CACHE_H
#define SCORCH_DWARF_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Sections an entry may hold: .debug_info, .debug_abbrev, the shared ones, .debug_aranges */
#define DWARF_CACHE_SECS 10
/* All entries of a directory together, and one entry */
#define DWARF_CACHE_BUDGET (256ull << 20)
#define DWARF_CACHE_ENTRY_MAX (64ull << 20)
/* Entries looked at when making room, at most; and entries kept */
#define DWARF_CACHE_ENTRIES_MAX 4096
#define DWARF_CACHE_ENTRIES_KEPT 1024

/*
 * Bytes inflated past the cache's and kept on disk for a new entry until the files' readers
 * are freed, all readers of one symbolizer together: a profiled process's debug files, many of
 * them each inflating up to the entry's limit, could otherwise fill the disk.
 */
#define DWARF_CACHE_PENDING_MAX (256ull << 20)
/* and the unnamed files they are kept in, open at once (descriptors are a shared resource) */
#define DWARF_CACHE_PENDING_FILES 32u
struct dwarf_cache_budget {
	uint64_t used;
	unsigned int files;
};

struct dwarf_cache_key {
	uint64_t dev, ino, size;
	int64_t mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
};

void dwarf_cache_key__from_stat(struct dwarf_cache_key *k, const struct stat *st);

/* One section: what the file holds of it, and what the entry holds. */
struct dwarf_cache_sec {
	uint64_t zlen; /* bytes of the section in the file (0: not in the entry) */
	uint64_t size; /* once inflated */
	uint64_t have; /* inflated bytes in the entry, from the section's start */
	/*
	 * Where inflating can resume to go past them: at the output offset resume (at most have;
	 * 0 for the stream's start), the input offset in of the deflate data, and the bits of the
	 * byte before in still to read (0-7).
	 */
	uint64_t resume, in;
	uint32_t bits;
	uint32_t pad;
	uint64_t off; /* of the bytes in the entry (filled in by dwarf_cache__save) */
};

struct dwarf_cache {
	void *base; /* the entry, mapped; NULL: none */
	size_t len;
	int guard; /* its mapguard slot */
	struct dwarf_cache_sec sec[DWARF_CACHE_SECS];
};

/*
 * The entry of key in dir (a directory scorch's user alone may write): 0, or -ENOENT when there
 * is none that matches or it cannot be read; c is then empty. Each sec[] is checked against
 * its own bounds and the entry's length; the caller checks zlen and size against the file.
 */
int dwarf_cache__load(const char *dir, const struct dwarf_cache_key *key, struct dwarf_cache *c);
const unsigned char *dwarf_cache__bytes(const struct dwarf_cache *c, int i);
/* Has a read of the mapped entry failed (its pages could not be read)? */
bool dwarf_cache__tripped(const struct dwarf_cache *c);
void dwarf_cache__close(struct dwarf_cache *c);

/*
 * Write the entry of key: sec[i].have bytes of each section with a zlen, which emit(ctx, i,
 * fd) writes to fd (0 or -errno). Room is made first by removing the oldest entries. 0, or
 * -errno; -EFBIG past DWARF_CACHE_ENTRY_MAX. Nothing is left behind on failure.
 */
int dwarf_cache__save(const char *dir, const struct dwarf_cache_key *key,
		      const struct dwarf_cache_sec sec[DWARF_CACHE_SECS],
		      int (*emit)(void *ctx, int i, int fd), void *ctx);

#endif
