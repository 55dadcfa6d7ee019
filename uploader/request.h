/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's WriteRaw request (Parca's ProfileStoreService): one series per process, labelled
 * with what the agent knows of it, each holding that process's gzip'ed pprof.
 */
#ifndef SCORCH_REQUEST_H
#define SCORCH_REQUEST_H

#include <stddef.h>
#include <stdint.h>

struct series_label {
	const char *name, *value;
};

struct request_opts {
	const char *node; /* the node label */
	const struct series_label *extra; /* --label NAME=VALUE: never replaces one of ours */
	size_t nextra;
};

struct request;

/* NULL: out of memory. The options' strings are referenced: they must outlive the request. */
struct request *request__new(const struct request_opts *o);
/*
 * One series: a process's gzip'ed pprof, owned by the request from now on (freed even on
 * error). exe and cgroup may be NULL. 0 or -ENOMEM.
 */
int request__add_series(struct request *r, uint32_t pid, const char *comm, const char *exe,
			const char *cgroup, void *pprof, size_t pprof_len);
size_t request__series(const struct request *r);
/* The packed WriteRawRequest (malloc'ed); *ret_len 0 and *ret NULL when no series. */
int request__pack(struct request *r, uint8_t **ret, size_t *ret_len);
void request__free(struct request *r);

#endif
