/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --debuginfo-upload: a thread that uploads the executables with a build-id that appear in the
 * agent's profiles to Parca's DebuginfoService, each at most once per run (a few attempts when
 * the failure is transient), one file at a time with a pause after each.
 */
#ifndef SCORCH_DEBUGINFO_H
#define SCORCH_DEBUGINFO_H

#include "grpc.h"
#include "model.h"
#include "service.h"
#include "symbolizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct debuginfo_opts {
	/* borrowed: valid until debuginfo_uploader__free(); cancelled by debuginfo_uploader__stop() */
	struct grpc_client *client;
	bool insecure; /* the client speaks h2c: said when a signed http:// URL is refused */
	bool verbose; /* a line for each file uploaded */
	uploader_log_fn *log; /* from the uploader's thread and the caller's */
	void *log_ctx;
};

struct debuginfo_stats {
	uint64_t uploaded; /* files sent */
	uint64_t skipped; /* files the server had */
	uint64_t failed; /* failed attempts */
};

struct debuginfo_uploader;

/* Start the thread: NULL with a one-line reason in err. */
struct debuginfo_uploader *debuginfo_uploader__start(const struct debuginfo_opts *o, char *err,
						     size_t errlen);
/*
 * Queue the files of a profile's mappings not seen before, each opened now through the
 * process's own mapping (pid, seq of the symbolizer), so that what is uploaded is the file the
 * process mapped. At most DEBUGINFO_QUEUE_MAX wait. Never blocks long.
 */
#define DEBUGINFO_QUEUE_MAX 64
void debuginfo_uploader__queue(struct debuginfo_uploader *u, struct symbolizer *sym,
			       const struct profile *p, uint32_t pid, uint32_t seq);
/* Tell the thread to stop and cancel its transfer in progress; returns at once. Repeatable. */
void debuginfo_uploader__stop(struct debuginfo_uploader *u);
/*
 * Wait for the thread (after debuginfo_uploader__stop()) until deadline_ns (CLOCK_MONOTONIC).
 * true when it had to be abandoned: then the client may still be in use (leave it alone) and
 * debuginfo_uploader__free() leaves the uploader alone too.
 */
bool debuginfo_uploader__join(struct debuginfo_uploader *u, uint64_t deadline_ns);
void debuginfo_uploader__stats(struct debuginfo_uploader *u, struct debuginfo_stats *ret);
/* After debuginfo_uploader__join(); NULL is fine. */
void debuginfo_uploader__free(struct debuginfo_uploader *u);

#endif
