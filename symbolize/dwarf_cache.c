// SPDX-License-Identifier: LGPL-2.1-or-later
/* Inflated DWARF sections of debug files kept on disk between runs (dwarf_cache.h). */
#include "dwarf_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fileio.h"
#include "mapguard.h"
#include "util.h"

#define MAGIC "SCDWZC1\n"
#define VERSION 1u

struct header {
	char magic[8];
	uint32_t version, nsec;
	struct dwarf_cache_key key;
	struct dwarf_cache_sec sec[DWARF_CACHE_SECS];
	uint64_t len; /* of the whole entry */
};

void dwarf_cache_key__from_stat(struct dwarf_cache_key *k, const struct stat *st)
{
	*k = (struct dwarf_cache_key){
		.dev = st->st_dev,
		.ino = st->st_ino,
		.size = st->st_size,
		.mtime_sec = st->st_mtim.tv_sec,
		.mtime_nsec = st->st_mtim.tv_nsec,
		.ctime_sec = st->st_ctim.tv_sec,
		.ctime_nsec = st->st_ctim.tv_nsec,
	};
}

/* A directory of ours: owned by this user, written by no one else. */
static bool private_dir(const char *dir)
{
	struct stat st;

	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & 022);
}

/* dir/dwarf, and the entry's path in it (name NULL: the directory alone). */
static int entry_path(const char *dir, const struct dwarf_cache_key *key, char *buf, size_t size)
{
	int n = key ? snprintf(buf, size, "%s/dwarf/%016llx-%016llx.zc", dir,
			       (unsigned long long)key->dev, (unsigned long long)key->ino)
		    : snprintf(buf, size, "%s/dwarf", dir);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool sec_ok(const struct dwarf_cache_sec *s, uint64_t len)
{
	if (!s->zlen)
		return true;
	return s->have <= s->size && s->resume <= s->have && s->bits <= 7 && s->in <= s->zlen &&
	       s->off >= sizeof(struct header) && s->off <= len && s->have <= len - s->off;
}

int dwarf_cache__load(const char *dir, const struct dwarf_cache_key *key, struct dwarf_cache *c)
{
	size_t page = sysconf(_SC_PAGESIZE);
	char path[PATH_MAX], sub[PATH_MAX];
	struct header h;
	struct stat st;
	int fd, r = -ENOENT;
	void *base;

	*c = (struct dwarf_cache){ .guard = -1 };
	if (!dir || entry_path(dir, NULL, sub, sizeof(sub)) ||
	    entry_path(dir, key, path, sizeof(path)) || !private_dir(dir) || !private_dir(sub))
		return -ENOENT;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) || st.st_size < (off_t)sizeof(h) ||
	    (uint64_t)st.st_size > DWARF_CACHE_ENTRY_MAX ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		goto out;
	if (memcmp(h.magic, MAGIC, 8) || h.version != VERSION || h.nsec != DWARF_CACHE_SECS ||
	    memcmp(&h.key, key, sizeof(*key)) || h.len != (uint64_t)st.st_size)
		goto out;
	for (int i = 0; i < DWARF_CACHE_SECS; i++)
		if (!sec_ok(&h.sec[i], h.len))
			goto out;
	c->len = (h.len + page - 1) / page * page;
	base = mmap(NULL, c->len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (base == MAP_FAILED)
		goto out;
	c->guard = mapguard__add(base, c->len);
	if (c->guard < 0) {
		munmap(base, c->len);
		goto out;
	}
	c->base = base;
	memcpy(c->sec, h.sec, sizeof(c->sec));
	/* its time says when it was last of use: the oldest go first */
	futimens(fd, NULL);
	r = 0;
out:
	close(fd);
	if (r)
		*c = (struct dwarf_cache){ .guard = -1 };
	return r;
}

const unsigned char *dwarf_cache__bytes(const struct dwarf_cache *c, int i)
{
	if (!c->base || i < 0 || i >= DWARF_CACHE_SECS || !c->sec[i].zlen)
		return NULL;
	return (const unsigned char *)c->base + c->sec[i].off;
}

bool dwarf_cache__tripped(const struct dwarf_cache *c)
{
	return c->base && mapguard__tripped(c->guard);
}

void dwarf_cache__close(struct dwarf_cache *c)
{
	if (c->base) {
		mapguard__remove(c->guard);
		munmap(c->base, c->len);
	}
	*c = (struct dwarf_cache){ .guard = -1 };
}

struct old_entry {
	int64_t mtime;
	uint64_t size;
	char name[64];
};

static int cmp_old(const void *a, const void *b)
{
	const struct old_entry *x = a, *y = b;

	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/*
 * Remove the oldest files of sub until need more bytes fit in the budget and one more entry in
 * DWARF_CACHE_ENTRIES_KEPT (the entry being replaced, skip, not counted), each file counted by
 * its blocks. Files with names too long to be ours are left alone.
 */
static void make_room(const char *sub, const char *skip, uint64_t need)
{
	struct old_entry *e = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;
	int dfd;
	DIR *d;

	dfd = open(sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)) && n < DWARF_CACHE_ENTRIES_MAX) {
		struct stat st;

		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		if (strlen(de->d_name) >= sizeof(e->name) || !strcmp(de->d_name, skip) ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (grow_array((void **)&e, &cap, n + 1, sizeof(*e)))
			break;
		/* what it takes on the disk: its blocks, a block at least */
		e[n] = (struct old_entry){ .mtime = st.st_mtim.tv_sec,
					   .size = (uint64_t)st.st_blocks * 512 > 4096
						       ? (uint64_t)st.st_blocks * 512
						       : 4096 };
		strcpy(e[n].name, de->d_name);
		total += e[n++].size;
	}
	if (n)
		qsort(e, n, sizeof(*e), cmp_old);
	for (size_t i = 0;
	     i < n && (total + need > DWARF_CACHE_BUDGET || n - i >= DWARF_CACHE_ENTRIES_KEPT); i++)
		if (unlinkat(dfd, e[i].name, 0) == 0)
			total -= e[i].size;
	free(e);
	closedir(d);
}

int dwarf_cache__save(const char *dir, const struct dwarf_cache_key *key,
		      const struct dwarf_cache_sec sec[DWARF_CACHE_SECS],
		      int (*emit)(void *ctx, int i, int fd), void *ctx)
{
	struct atomic_file f = { .fd = -1 };
	char path[PATH_MAX], sub[PATH_MAX];
	struct header h = { .version = VERSION, .nsec = DWARF_CACHE_SECS, .key = *key };
	uint64_t len = sizeof(h);
	int r;

	memcpy(h.magic, MAGIC, 8);
	for (int i = 0; i < DWARF_CACHE_SECS; i++) {
		h.sec[i] = sec[i];
		if (!sec[i].zlen) {
			h.sec[i] = (struct dwarf_cache_sec){ 0 };
			continue;
		}
		if (sec[i].have > DWARF_CACHE_ENTRY_MAX - len)
			return -EFBIG;
		h.sec[i].off = len;
		len += sec[i].have;
	}
	h.len = len;
	r = entry_path(dir, NULL, sub, sizeof(sub));
	if (!r)
		r = entry_path(dir, key, path, sizeof(path));
	if (!r)
		r = ensure_private_dir(dir);
	if (!r)
		r = ensure_private_dir(sub);
	if (r)
		return r;
	make_room(sub, strrchr(path, '/') + 1, len);
	r = atomic_file__open(&f, path, 0600);
	if (!r)
		r = atomic_file__write(&f, &h, sizeof(h));
	for (int i = 0; i < DWARF_CACHE_SECS && !r; i++)
		if (h.sec[i].zlen && h.sec[i].have)
			r = emit(ctx, i, f.fd);
	/* what emit wrote must be what the header says */
	if (!r && lseek(f.fd, 0, SEEK_CUR) != (off_t)len)
		r = -EIO;
	if (!r)
		return atomic_file__commit(&f);
	atomic_file__abort(&f);
	return r;
}
