// SPDX-License-Identifier: LGPL-2.1-or-later
/* Atomic files (a temporary beside the target, renamed over it) and private directories. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int atomic_file__open(struct atomic_file *a, const char *path, mode_t mode)
{
	char *d = strdup(path), *b = strdup(path);
	struct stat st;
	int r = -ENOMEM;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	if (!d || !b)
		goto out;
	/* the rename at the end would fail: say so now, before any work */
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	/*
	 * A device or a FIFO (-o /dev/null, /dev/stdout) is written to as it is: a rename would
	 * replace it with a regular file (as root, /dev/null itself).
	 */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		a->path = strdup(path);
		if (!a->path)
			goto out;
		a->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		r = a->fd < 0 ? -errno : 0;
		a->direct = true;
		goto out;
	}
	a->path = strdup(path);
	if (!a->path || asprintf(&a->tmp, "%s/.%s.XXXXXX", dirname(d), basename(b)) < 0) {
		a->tmp = NULL;
		goto out;
	}
	a->fd = mkostemp(a->tmp, O_CLOEXEC);
	if (a->fd < 0) {
		r = -errno;
		free(a->tmp);
		a->tmp = NULL;
		goto out;
	}
	fchmod(a->fd, mode);
	r = 0;
out:
	free(d);
	free(b);
	if (r)
		atomic_file__abort(a);
	return r;
}

int atomic_file__write(struct atomic_file *a, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(a->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

/* The rename itself survives a power loss only once the directory is on disk too. */
static int sync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int atomic_file__commit(struct atomic_file *a)
{
	int r = 0;

	if (a->direct) {
		atomic_file__abort(a);
		return 0;
	}
	if (fsync(a->fd) < 0 || rename(a->tmp, a->path) < 0)
		r = -errno;
	if (!r) {
		free(a->tmp);
		a->tmp = NULL;
		r = sync_parent(a->path);
	}
	atomic_file__abort(a);
	return r;
}

void atomic_file__abort(struct atomic_file *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	if (a->tmp)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	a->tmp = NULL;
	a->path = NULL;
}

int ensure_private_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return -EPERM;
	return 0;
}

int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	struct atomic_file f = { .fd = -1 };
	int r = atomic_file__open(&f, path, mode);

	if (!r)
		r = atomic_file__write(&f, buf, len);
	if (!r)
		return atomic_file__commit(&f);
	atomic_file__abort(&f);
	return r;
}

static int read_fd(int fd, size_t max, char **ret, size_t *ret_len);

int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return read_fd(fd, max, ret, ret_len);
}

int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	/* never waits on a FIFO or a device: opened without blocking, then checked */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
		close(fd);
		return -EINVAL;
	}
	return read_fd(fd, max, ret, ret_len);
}

/* Read fd to its end (at most max bytes) and close it. */
static int read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *buf = NULL;
	ssize_t n;
	int r = 0;

	for (;;) {
		if (len + 1 >= cap || !buf) {
			char *grown;

			if (buf)
				cap *= 2;
			grown = realloc(buf, cap);
			if (!grown) {
				r = -ENOMEM;
				break;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += n;
		if (len > max) {
			r = -EFBIG;
			break;
		}
	}
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	buf[len] = 0;
	*ret = buf;
	*ret_len = len;
	return 0;
}

int write_stream_atomic(const char *path, mode_t mode, int (*write)(void *ctx, FILE *f), void *ctx)
{
	struct atomic_file a;
	FILE *f;
	int r;

	if (!strcmp(path, "-")) {
		r = write(ctx, stdout);
		return r ? r : fflush(stdout) ? -EIO : 0;
	}
	r = atomic_file__open(&a, path, mode);
	if (r)
		return r;
	f = fdopen(dup(a.fd), "w");
	r = f ? write(ctx, f) : -errno;
	if (f && fclose(f) && !r)
		r = -EIO;
	if (r) {
		atomic_file__abort(&a);
		return r;
	}
	return atomic_file__commit(&a);
}
