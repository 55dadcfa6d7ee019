/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the agent's service threads (sender, debuginfo uploader) share: how they say what happens
 * (library code does not print, it hands each one-line message to the command's callback), and
 * a join that gives up at a deadline.
 */
#ifndef SCORCH_SERVICE_H
#define SCORCH_SERVICE_H

#include <pthread.h>
#include <stdint.h>

enum uploader_level {
	UPLOADER_ERROR,
	UPLOADER_WARN,
	UPLOADER_INFO,
};

/* One message, without a newline; called from the service's own thread too. */
typedef void uploader_log_fn(void *ctx, enum uploader_level level, const char *msg);

/* Format and hand a message to fn (nothing when fn is NULL or memory is short). */
void uploader_log(uploader_log_fn *fn, void *ctx, enum uploader_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Join thread before deadline_ns (CLOCK_MONOTONIC): 0, or -ETIMEDOUT with the thread still
 * running (stuck in a system call the cancellation cannot reach).
 */
int uploader_join_by(pthread_t thread, uint64_t deadline_ns);

#endif
