/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pprof files: the profile model to and from gzip'ed protobuf, from any producer. */
#ifndef SCORCH_PPROF_H
#define SCORCH_PPROF_H

#include "model.h"

#define PPROF_MAX_BYTES (1ULL << 30) /* largest profile read, compressed or not */

/* pprof: serialize (gzip-compressed) into a malloc'ed buffer, or parse any pprof (gzip or raw). */
int pprof__encode(const struct profile *p, bool gzip, void **ret_buf, size_t *ret_len);
/* The same with a gzip level: 0 none, 1 fastest ... 9 smallest (pprof__encode uses 6). */
int pprof__encode_level(const struct profile *p, int level, void **ret_buf, size_t *ret_len);
/* Parse; on error returns a negative errno and, if err is given, a one-line reason. */
int pprof__decode(const void *buf, size_t len, struct profile **ret, char *err, size_t errlen);
/* gzip data into a malloc'ed buffer: 0, -EBADMSG (corrupt) or -EFBIG (past PPROF_MAX_BYTES). */
int pprof__gunzip(const void *in, size_t len, void **ret_buf, size_t *ret_len);
int pprof__read_file(const char *path, struct profile **ret, char *err, size_t errlen);

#endif
