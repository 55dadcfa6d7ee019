// SPDX-License-Identifier: LGPL-2.1-or-later
#include "output.h"
#include "model.h"
#include "pprof.h"
#include "pprof.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int parse_output_format(const char *s, enum output_format *ret)
{
	if (strcmp(s, "pprof") == 0)
		*ret = OUTPUT_PPROF;
	else if (strcmp(s, "folded") == 0)
		*ret = OUTPUT_FOLDED;
	else
		return -EINVAL;
	return 0;
}

int output__open(struct output *o, const char *path)
{
	_cleanup_free_ char *dcopy = strdup(path), *bcopy = strdup(path);
	int r;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (!dcopy || !bcopy)
		return -ENOMEM;
	o->path = strdup(path);
	if (!o->path ||
	    asprintf(&o->tmp_path, "%s/.%s.XXXXXX", dirname(dcopy), basename(bcopy)) < 0) {
		o->tmp_path = NULL;
		output__abort(o);
		return -ENOMEM;
	}
	o->fd = mkostemp(o->tmp_path, O_CLOEXEC);
	if (o->fd < 0) {
		r = -errno;
		free(o->tmp_path);
		o->tmp_path = NULL;
		output__abort(o);
		return r;
	}
	fchmod(o->fd, 0644);
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

int output__commit(struct output *o, const struct profile *p, enum output_format fmt)
{
	int r;

	if (fmt == OUTPUT_PPROF) {
		void *buf;
		size_t len;

		r = pprof__encode(p, true, &buf, &len);
		if (!r) {
			r = write_all(o->fd, buf, len);
			free(buf);
		}
	} else {
		FILE *f = fdopen(dup(o->fd), "w");

		if (!f)
			return -errno;
		r = profile__write_folded(p,
					  profile__value_index(p, "samples") >= 0
					      ? (uint32_t)profile__value_index(p, "samples")
					      : profile__default_value(p),
					  f);
		if (fclose(f) && !r)
			r = -errno;
	}
	if (!r && fsync(o->fd) < 0)
		r = -errno;
	if (!r && rename(o->tmp_path, o->path) < 0)
		r = -errno;
	if (r)
		output__abort(o);
	else {
		free(o->tmp_path);
		o->tmp_path = NULL;
	}
	return r;
}

void output__abort(struct output *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->tmp_path)
		unlink(o->tmp_path);
	free(o->tmp_path);
	free(o->path);
	o->tmp_path = NULL;
	o->path = NULL;
}
