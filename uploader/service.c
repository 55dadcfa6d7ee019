// SPDX-License-Identifier: LGPL-2.1-or-later
/* What the agent's service threads share: messages for the command's callback, bounded joins. */
#include "service.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void uploader_log(uploader_log_fn *fn, void *ctx, enum uploader_level level, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int n;

	if (!fn)
		return;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fn(ctx, level, msg);
	free(msg);
}

int uploader_join_by(pthread_t thread, uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = deadline_ns / 1000000000ULL,
			       .tv_nsec = deadline_ns % 1000000000ULL };

	return -pthread_clockjoin_np(thread, NULL, CLOCK_MONOTONIC, &ts);
}
