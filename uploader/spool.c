// SPDX-License-Identifier: LGPL-2.1-or-later
/* The on-disk spool of undelivered requests: zstd files, oldest first, bounded (spool.h). */
#include "spool.h"
#include "fileio.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define SUFFIX ".wr.zst"
/* A spooled message is one interval's WriteRaw: far below this. */
#define MAX_MESSAGE (64u << 20)

struct entry {
	uint64_t seq, size;
	void *mem; /* the compressed message, when it could not be written to disk */
};

struct spool {
	pthread_mutex_t lock;
	char *dir;
	uint64_t max_bytes, next_seq;
	struct entry *entries; /* oldest first */
	size_t n, cap;
	struct spool_stats stats;
};

static void entry_path(const struct spool *s, uint64_t seq, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%016" PRIx64 SUFFIX, s->dir, seq);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Entries left by an earlier run, and temporary files of an interrupted write (removed). */
static int scan(struct spool *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		uint64_t seq;
		int end = 0;

		snprintf(path, sizeof(path), "%s/%s", s->dir, de->d_name);
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			unlink(path);
			continue;
		}
		if (sscanf(de->d_name, "%16" SCNx64 SUFFIX "%n", &seq, &end) != 1 ||
		    (size_t)end != strlen(de->d_name) || stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (grow_array((void **)&s->entries, &s->cap, s->n + 1, sizeof(*s->entries))) {
			closedir(d);
			return -ENOMEM;
		}
		s->entries[s->n++] = (struct entry){ seq, st.st_size };
		s->stats.bytes += st.st_size;
		if (seq >= s->next_seq)
			s->next_seq = seq + 1;
	}
	closedir(d);
	if (s->n > 1)
		qsort(s->entries, s->n, sizeof(*s->entries), cmp_entry);
	s->stats.entries = s->n;
	return 0;
}

struct spool *spool__open(const char *dir, uint64_t max_bytes)
{
	struct spool *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->max_bytes = max_bytes;
	s->next_seq = 1;
	s->dir = strdup(dir);
	r = s->dir ? ensure_private_dir(dir) : -ENOMEM;
	if (!r)
		r = scan(s);
	if (r) {
		spool__free(s);
		errno = -r;
		return NULL;
	}
	return s;
}

void spool__free(struct spool *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		free(s->entries[i].mem);
	free(s->entries);
	free(s->dir);
	free(s);
}

static void remove_at(struct spool *s, size_t i)
{
	char path[PATH_MAX];

	if (s->entries[i].mem) {
		free(s->entries[i].mem);
		s->stats.memory_entries--;
		s->stats.memory_bytes -= s->entries[i].size;
	} else {
		entry_path(s, s->entries[i].seq, path, sizeof(path));
		unlink(path);
	}
	s->stats.bytes -= s->entries[i].size;
	memmove(s->entries + i, s->entries + i + 1, (s->n - i - 1) * sizeof(*s->entries));
	s->n--;
	s->stats.entries = s->n;
}

/*
 * The disk took a message again: the ones held in memory meanwhile are written too, oldest
 * first, so that they also survive a restart. Stops at the first that fails.
 */
static void write_back(struct spool *s)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < s->n && s->stats.memory_entries; i++) {
		struct entry *e = &s->entries[i];

		if (!e->mem)
			continue;
		entry_path(s, e->seq, path, sizeof(path));
		if (write_file_atomic(path, e->mem, e->size, 0600))
			return;
		free(e->mem);
		e->mem = NULL;
		s->stats.memory_entries--;
		s->stats.memory_bytes -= e->size;
	}
}

/* Drop the oldest entry held in memory, counted as dropped. */
static void drop_oldest_in_memory(struct spool *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->entries[i].mem) {
			remove_at(s, i);
			s->stats.dropped++;
			return;
		}
}

int spool__put(struct spool *s, const void *data, size_t len)
{
	size_t bound = ZSTD_compressBound(len), clen;
	_cleanup_free_ void *z = malloc(bound);
	char path[PATH_MAX];
	uint64_t seq;
	int r, w;

	if (!z)
		return -ENOMEM;
	clen = ZSTD_compress(z, bound, data, len, 3);
	if (ZSTD_isError(clen))
		return -EIO;
	pthread_mutex_lock(&s->lock);
	r = grow_array((void **)&s->entries, &s->cap, s->n + 1, sizeof(*s->entries));
	if (r)
		goto out;
	seq = s->next_seq++;
	entry_path(s, seq, path, sizeof(path));
	w = write_file_atomic(path, z, clen, 0600);
	if (!w) {
		s->entries[s->n++] = (struct entry){ seq, clen, NULL };
		if (s->stats.memory_entries)
			write_back(s);
	} else {
		/* a full or failing disk does not lose the message: it waits in memory */
		void *mem = realloc(z, clen ? clen : 1);

		if (!mem) {
			r = -ENOMEM;
			goto out;
		}
		z = NULL;
		s->entries[s->n++] = (struct entry){ seq, clen, mem };
		s->stats.memory_entries++;
		s->stats.memory_bytes += clen;
		s->stats.write_failures++;
		s->stats.write_errno = -w;
		r = 1;
		while (s->stats.memory_bytes > SPOOL_MAX_MEMORY && s->stats.memory_entries > 1)
			drop_oldest_in_memory(s);
	}
	s->stats.bytes += clen;
	s->stats.entries = s->n;
	/* over the bound: the oldest go first, the newest stays even if alone too big */
	while (s->stats.bytes > s->max_bytes && s->n > 1) {
		remove_at(s, 0);
		s->stats.dropped++;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* The oldest or the newest entry, decompressed; unreadable ones on the way are removed. */
static int read_end(struct spool *s, bool newest, uint64_t *ret_seq, uint8_t **ret, size_t *ret_len)
{
	int r = -ENOENT;

	pthread_mutex_lock(&s->lock);
	while (s->n > 0) {
		size_t i = newest ? s->n - 1 : 0;
		_cleanup_free_ char *file = NULL;
		unsigned long long size;
		char path[PATH_MAX];
		size_t zlen = 0, out;
		const void *z;
		uint8_t *buf;

		if (s->entries[i].mem) {
			z = s->entries[i].mem;
			zlen = s->entries[i].size;
			r = 0;
		} else {
			entry_path(s, s->entries[i].seq, path, sizeof(path));
			r = read_file(path, MAX_MESSAGE, &file, &zlen);
			z = file;
		}
		if (r == -ENOMEM)
			break;
		size = r ? ZSTD_CONTENTSIZE_ERROR : ZSTD_getFrameContentSize(z, zlen);
		if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
		    size > MAX_MESSAGE) {
			/* unreadable or not ours: removed, counted, and the next one tried */
			remove_at(s, i);
			s->stats.corrupt++;
			r = -ENOENT;
			continue;
		}
		buf = malloc(size ? size : 1);
		if (!buf) {
			r = -ENOMEM;
			break;
		}
		out = ZSTD_decompress(buf, size, z, zlen);
		if (ZSTD_isError(out) || out != size) {
			free(buf);
			remove_at(s, i);
			s->stats.corrupt++;
			r = -ENOENT;
			continue;
		}
		*ret_seq = s->entries[i].seq;
		*ret = buf;
		*ret_len = size;
		r = 0;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int spool__oldest(struct spool *s, uint64_t *ret_seq, uint8_t **ret, size_t *ret_len)
{
	return read_end(s, false, ret_seq, ret, ret_len);
}

int spool__newest(struct spool *s, uint64_t *ret_seq, uint8_t **ret, size_t *ret_len)
{
	return read_end(s, true, ret_seq, ret, ret_len);
}

void spool__remove(struct spool *s, uint64_t seq)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		if (s->entries[i].seq == seq) {
			remove_at(s, i);
			break;
		}
	pthread_mutex_unlock(&s->lock);
}

void spool__stats(struct spool *s, struct spool_stats *ret)
{
	pthread_mutex_lock(&s->lock);
	*ret = s->stats;
	pthread_mutex_unlock(&s->lock);
}
