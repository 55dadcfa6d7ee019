/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's sender: a thread that delivers the spooled WriteRaw requests to the remote store,
 * oldest first, retrying with backoff; a message the server will never take is dropped, and
 * counted. Sampling never waits for it.
 */
#ifndef SCORCH_SENDER_H
#define SCORCH_SENDER_H

#include "grpc.h"
#include "service.h"
#include "spool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * At exit, the sender gets this long (from the stop) to deliver what is spooled; the rest stays
 * spooled. Then its call in progress is cancelled, and a thread not gone SENDER_EXIT_CANCEL_MS
 * later (stuck in a system call) is abandoned.
 */
#define SENDER_EXIT_GRACE_MS 2500
#define SENDER_EXIT_CANCEL_MS 1500

struct sender_opts {
	/* both borrowed: valid until sender__free(), and never freed while the thread runs */
	struct spool *spool;
	struct grpc_client *client; /* cancelled by sender__stop() when the grace is over */
	uploader_log_fn *log; /* what happens, from the sender's thread and the caller's */
	void *log_ctx;
};

struct sender_stats {
	uint64_t sent; /* requests delivered */
	uint64_t failed; /* failed attempts */
	uint64_t rejected; /* requests the server refused for good, dropped */
};

struct sender;

/* Start the thread: NULL with a one-line reason in err. */
struct sender *sender__start(const struct sender_opts *o, char *err, size_t errlen);
/* Spool one request (len 0: nothing to add) and wake the thread: spool__put()'s result. */
int sender__put(struct sender *s, const void *req, size_t len);
void sender__wake(struct sender *s);
/* The counters; and the spool's figures unless ret_spool is NULL (see sender__stop()). */
void sender__stats(struct sender *s, struct sender_stats *ret, struct spool_stats *ret_spool);
/*
 * Deliver what can be delivered until SENDER_EXIT_GRACE_MS after stop_ns (CLOCK_MONOTONIC),
 * then cancel and wait the thread a little longer. true when it had to be abandoned: then the
 * spool and the client may still be in use (leave them alone, and their lock may be held: no
 * more spool__stats()), and sender__free() leaves the sender alone too.
 */
bool sender__stop(struct sender *s, uint64_t stop_ns);
/* After sender__stop(); NULL is fine. */
void sender__free(struct sender *s);

#endif
