/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pprof files: the profile model to and from gzip'ed protobuf, from any producer. */
#ifndef SCORCH_PPROF_H
#define SCORCH_PPROF_H

#include "model.h"

#include <stddef.h>
#include <stdint.h>

#define PPROF_MAX_BYTES (1ULL << 30) /* largest profile read, compressed or not */
/*
 * Frames one sample may expand into (each of its locations once per line, at least once), as
 * every reader of the model walks it. scorch's own stacks are at most 512 user frames (DWARF
 * unwinding) and 127 kernel ones, each with up to 16 lines of inlined functions: 10224; Go's
 * runtime/pprof keeps 64 (128 since Go 1.23) program counters; async-profiler's Java stacks
 * default to 2048 frames. The folded reader takes the same number of frames a line.
 */
#define PPROF_MAX_SAMPLE_FRAMES 65536

/*
 * What reading a profile may cost, set by pprof__limits() from the size of the file as given
 * (compressed or not): a small file can neither expand into a large one nor decode into large
 * structures. Past a limit the profile is refused with a one-line reason and -EFBIG.
 */
struct pprof_limits {
	/* the size they were set from, for messages */
	size_t file_len;
	/* bytes after decompression */
	size_t max_plain;
	/* bytes held by what is built: protobuf-c's unpacked message, or folded text's model */
	size_t max_decoded;
	/*
	 * frames all samples together expand into (as for PPROF_MAX_SAMPLE_FRAMES): what report,
	 * flame, diff and folded output walk, which a location of many lines repeated in many
	 * samples makes large out of few bytes
	 */
	uint64_t max_frames;
	/*
	 * bytes of names those frames show (each cut to 511 bytes, as frames are named) and the
	 * samples' label strings: what folded output writes
	 */
	uint64_t max_text;
};

struct pprof_limits pprof__limits(size_t file_len);
/* The refusal for passing lim->max_decoded: -EFBIG and "profile needs more than ...". */
int pprof__refuse(const struct pprof_limits *lim, char *err, size_t errlen);
/* The refusal for passing lim->max_frames: -EFBIG and "profile expands into more than ...". */
int pprof__refuse_frames(const struct pprof_limits *lim, char *err, size_t errlen);
/* The refusal for passing lim->max_text: -EFBIG and "profile's frames carry more than ...". */
int pprof__refuse_text(const struct pprof_limits *lim, char *err, size_t errlen);
/* The bytes of names the frames of location l show, as counted against max_text. */
uint64_t pprof__location_text(const struct profile *p, const struct prof_location *l);
/* The refusal of sample i (0-based) for PPROF_MAX_SAMPLE_FRAMES: -E2BIG. */
int pprof__refuse_sample(size_t i, char *err, size_t errlen);

/* pprof: serialize (gzip-compressed) into a malloc'ed buffer, or parse any pprof (gzip or raw). */
int pprof__encode(const struct profile *p, bool gzip, void **ret_buf, size_t *ret_len);
/* The same with a gzip level: 0 none, 1 fastest ... 9 smallest (pprof__encode uses 1). */
int pprof__encode_level(const struct profile *p, int level, void **ret_buf, size_t *ret_len);
/*
 * Parse, within pprof__limits(len); on error returns a negative errno and, if err is given, a
 * one-line reason: -EFBIG when a limit was hit.
 */
int pprof__decode(const void *buf, size_t len, struct profile **ret, char *err, size_t errlen);
/* The same within given limits (the file may have been decompressed already: buf is then raw). */
int pprof__decode_limited(const void *buf, size_t len, const struct pprof_limits *lim,
			  struct profile **ret, char *err, size_t errlen);
/*
 * gzip data into a malloc'ed buffer of at most lim->max_plain bytes: 0, -EBADMSG (corrupt) or
 * -EFBIG (larger), with a one-line reason.
 */
int pprof__gunzip(const void *in, size_t len, const struct pprof_limits *lim, void **ret_buf,
		  size_t *ret_len, char *err, size_t errlen);
int pprof__read_file(const char *path, struct profile **ret, char *err, size_t errlen);

#endif
