/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Files written whole or not at all, and directories only we can write. */
#ifndef SCORCH_FILEIO_H
#define SCORCH_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * A temporary file beside path (".NAME.XXXXXX"), renamed over path on commit; a target that is
 * a device or a FIFO is written to directly.
 */
struct atomic_file {
	char *path;
	char *tmp;
	int fd;
	bool direct; /* the target is a device or a FIFO: written to in place, never replaced */
};

/* Create the temporary file with the given mode. 0 or -errno; a zeroed struct stays safe. */
int atomic_file__open(struct atomic_file *a, const char *path, mode_t mode);
int atomic_file__write(struct atomic_file *a, const void *buf, size_t len);
/*
 * fsync, rename over the target, fsync its directory, close. On failure before the rename the
 * temporary file is removed.
 */
int atomic_file__commit(struct atomic_file *a);
/* Remove the temporary file if it is still there; close; free. Accepts a zeroed struct. */
void atomic_file__abort(struct atomic_file *a);
/* A whole buffer into path through an atomic_file: 0 or -errno, nothing left on failure. */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);
/*
 * What write(ctx, f) writes into path through an atomic_file, or to standard output when path
 * is "-": 0, write's error, or -errno; nothing left at path on failure.
 */
int write_stream_atomic(const char *path, mode_t mode, int (*write)(void *ctx, FILE *f), void *ctx);

/* Read a whole file of at most max bytes (NUL-terminated copy in *ret). 0, -errno, -EFBIG. */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* The same for a regular file only: -EINVAL for a FIFO, a device, a directory (never waits). */
int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_len);

/*
 * Make sure dir exists (created 0700) and is a directory of ours that nobody else can write,
 * so what we keep there cannot have been planted. 0, or -errno / -EPERM.
 */
int ensure_private_dir(const char *dir);

#endif
