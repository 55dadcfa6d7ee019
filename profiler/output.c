// SPDX-License-Identifier: LGPL-2.1-or-later
/* record's output file: pprof or folded, written whole or not at all (output.h). */
#include "output.h"
#include "model.h"
#include "pprof.h"
#include "pprof.h"
#include "util.h"

#include <errno.h>
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
	return atomic_file__open(&o->file, path, 0644);
}

int output__commit(struct output *o, const struct profile *p, enum output_format fmt,
		   const struct folded_opts *fo)
{
	int r;

	if (fmt == OUTPUT_PPROF) {
		void *buf;
		size_t len;

		r = pprof__encode(p, true, &buf, &len);
		if (!r) {
			r = atomic_file__write(&o->file, buf, len);
			free(buf);
		}
	} else {
		FILE *f = fdopen(dup(o->file.fd), "w");

		if (!f)
			return -errno;
		struct folded_opts root = { .comm_root = true };

		r = profile__write_folded_opts(p,
					       profile__value_index(p, "samples") >= 0
						   ? (uint32_t)profile__value_index(p, "samples")
						   : profile__default_value(p),
					       fo ? fo : &root, f);
		if (fclose(f) && !r)
			r = -errno;
	}
	if (r) {
		atomic_file__abort(&o->file);
		return r;
	}
	return atomic_file__commit(&o->file);
}

void output__abort(struct output *o)
{
	atomic_file__abort(&o->file);
}
