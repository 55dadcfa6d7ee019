// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's sender thread: spool -> remote store (WriteRaw), oldest first, with backoff and
 * jitter; messages the server will never take are dropped and counted; at exit, a grace to
 * deliver, then cancellation, then abandonment of a thread stuck in a system call.
 */
#include "sender.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WRITE_RAW_PATH "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw"
/* Retries back off from 1 s to 30 s (2 minutes after an authentication error), with jitter. */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define BACKOFF_AUTH_MS 120000
/*
 * A message the server refuses this many times in a row, with a code that may be about the
 * message (INTERNAL, UNKNOWN, RESOURCE_EXHAUSTED...), is suspect: then every other attempt goes
 * to the newest message, and when the server takes that and refuses the suspect once more right
 * after, the suspect is dropped (counted as rejected, one error line), so nothing waits behind
 * a message that cannot be delivered. One or two such refusals happen with a healthy server (a
 * backend restarting behind its proxy, a storage write that failed once); three take 3.5-7 s
 * of backoff. The drop needs the newer message accepted between two refusals, so a server that
 * refuses everything (a broken store, a proxy answering 400) makes nothing drop: the spool
 * keeps it all, within its bound.
 */
#define POISON_STRIKES 3

struct sender {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop; /* finish: deliver what can be delivered before deadline_ns, then return */
	bool abandoned; /* still running after the exit: left alone */
	uint64_t deadline_ns;
	struct spool *spool;
	struct grpc_client *client;
	uploader_log_fn *log;
	void *log_ctx;
	/* statistics, under lock */
	uint64_t sent, failed, rejected;
	int last_code;
	char last_error[300];
	/* the spool's disk refusing writes, as last said (the caller's thread only) */
	uint64_t spool_last_log;
	bool spool_failing;
};

#define say(s, level, ...) uploader_log((s)->log, (s)->log_ctx, level, __VA_ARGS__)

/*
 * Sleep ms, or until told to stop; with for_work, also until new work arrives (a backoff is not
 * cut short by new profiles). true when stopping.
 */
static bool sender_sleep(struct sender *s, uint64_t ms, bool for_work)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->stop && pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0 && !for_work)
		;
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

/*
 * Whether a server's refusal may be about the message rather than about the server or the way
 * to it: not the codes of a server away, slow or refusing us (UNAVAILABLE, DEADLINE_EXCEEDED,
 * UNAUTHENTICATED, PERMISSION_DENIED), nor our own cancellation. INTERNAL is what grpcio and
 * grpc-go answer for a request they cannot decode (a proto3 string that is not UTF-8),
 * UNKNOWN what a handler that throws gives, RESOURCE_EXHAUSTED a message over the server's
 * size limit.
 */
static bool may_be_the_message(int code)
{
	return code != GRPC_OK && code != GRPC_CANCELLED && code != GRPC_UNAVAILABLE &&
	       code != GRPC_DEADLINE_EXCEEDED && code != GRPC_UNAUTHENTICATED &&
	       code != GRPC_PERMISSION_DENIED;
}

static void *sender_main(void *data)
{
	struct sender *s = data;
	uint64_t backoff = BACKOFF_MIN_MS, failures = 0, last_log = 0;
	/* the oldest message's refusals that may be its own doing, in a row (see POISON_STRIKES) */
	uint64_t strike_seq = 0;
	unsigned int strikes = 0;
	bool probed = false, probe_accepted = false;

	pthread_setname_np(pthread_self(), "scorch-sender");

	for (;;) {
		struct grpc_result res;
		uint8_t *msg;
		size_t len;
		uint64_t seq, call_seq, wait_ms;
		bool stopping, probe = false;
		int r;

		pthread_mutex_lock(&s->lock);
		stopping = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stopping && now_ns(CLOCK_MONOTONIC) >= s->deadline_ns)
			break;
		r = spool__oldest(s->spool, &seq, &msg, &len);
		if (r) {
			if (stopping)
				break;
			sender_sleep(s, 1000, true);
			continue;
		}
		if (seq != strike_seq) {
			strike_seq = seq;
			strikes = 0;
			probed = probe_accepted = false;
		}
		call_seq = seq;
		/*
		 * The oldest keeps being refused: the message or the server? Every other attempt
		 * goes to the newest message instead, which the server takes if it is the message.
		 */
		if (strikes >= POISON_STRIKES && !probed && !probe_accepted) {
			uint8_t *pmsg;
			size_t plen;
			uint64_t pseq;

			if (!spool__newest(s->spool, &pseq, &pmsg, &plen)) {
				if (pseq != seq) {
					free(msg);
					msg = pmsg;
					len = plen;
					call_seq = pseq;
					probe = true;
				} else {
					free(pmsg);
				}
			}
		}
		probed = probe;
		grpc_client__call(s->client, WRITE_RAW_PATH, msg, len, &res);
		free(msg);
		free(res.response);
		pthread_mutex_lock(&s->lock);
		if (res.code == GRPC_CANCELLED && s->stop) {
			/* the exit grace is over: the message stays spooled for the next run */
			pthread_mutex_unlock(&s->lock);
			break;
		}
		s->last_code = res.code;
		if (res.code != GRPC_OK)
			snprintf(s->last_error, sizeof(s->last_error), "%s: %s",
				 grpc_code_name(res.code), res.message);
		pthread_mutex_unlock(&s->lock);
		if (res.code == GRPC_OK) {
			spool__remove(s->spool, call_seq);
			pthread_mutex_lock(&s->lock);
			s->sent++;
			pthread_mutex_unlock(&s->lock);
			if (failures)
				say(s, UPLOADER_INFO,
				    "remote store reachable again after %" PRIu64
				    " failed attempts",
				    failures);
			failures = 0;
			backoff = BACKOFF_MIN_MS;
			/* the server takes messages now: the oldest is tried again at once */
			probe_accepted = probe;
			continue;
		}
		pthread_mutex_lock(&s->lock);
		s->failed++;
		pthread_mutex_unlock(&s->lock);
		failures++;
		if (res.code == GRPC_INVALID_ARGUMENT || res.code == GRPC_UNIMPLEMENTED) {
			/* this message will never be accepted: it goes, and it is said */
			say(s, UPLOADER_ERROR, "remote store rejected a profile (%s: %s); dropped",
			    grpc_code_name(res.code), res.message);
			spool__remove(s->spool, call_seq);
			pthread_mutex_lock(&s->lock);
			s->rejected++;
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		if (!probe && may_be_the_message(res.code)) {
			strikes++;
			if (probe_accepted) {
				/*
				 * Refused again right after the server took a newer message: this
				 * one it will never take, and everything behind it would wait
				 */
				say(s, UPLOADER_ERROR,
				    "remote store refused a profile %u times (%s: %s) while it "
				    "accepts newer ones; dropped",
				    strikes, grpc_code_name(res.code), res.message);
				spool__remove(s->spool, call_seq);
				pthread_mutex_lock(&s->lock);
				s->rejected++;
				pthread_mutex_unlock(&s->lock);
				continue;
			}
		} else if (!probe) {
			strikes = 0;
		}
		probe_accepted = false;
		/* one line for the first failure, then at most one a minute */
		if (failures == 1 || now_ns(CLOCK_MONOTONIC) - last_log > 60000000000ULL) {
			if (res.code == GRPC_UNAUTHENTICATED || res.code == GRPC_PERMISSION_DENIED)
				say(s, UPLOADER_ERROR,
				    "remote store refused the credentials (%s: %s): check "
				    "--remote-store-bearer-token-file; profiles stay spooled",
				    grpc_code_name(res.code), res.message);
			else
				say(s, UPLOADER_WARN,
				    "remote store unavailable (%s: %s); profiles are spooled "
				    "and retried (%" PRIu64 " failed attempts)",
				    grpc_code_name(res.code), res.message, failures);
			last_log = now_ns(CLOCK_MONOTONIC);
		}
		if (res.code == GRPC_UNAUTHENTICATED || res.code == GRPC_PERMISSION_DENIED)
			wait_ms = BACKOFF_AUTH_MS;
		else
			wait_ms = backoff;
		/* jitter: between half and all of the wait, so a fleet does not retry in step */
		wait_ms = wait_ms / 2 + (uint64_t)rand() % (wait_ms / 2 + 1);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		/* stopping: what could not be delivered now stays spooled for the next run */
		if (stopping || sender_sleep(s, wait_ms, false))
			break;
	}
	return NULL;
}

struct sender *sender__start(const struct sender_opts *o, char *err, size_t errlen)
{
	struct sender *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "cannot start the sender thread: %s", strerror(ENOMEM));
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	s->spool = o->spool;
	s->client = o->client;
	s->log = o->log;
	s->log_ctx = o->log_ctx;
	if (pthread_create(&s->thread, NULL, sender_main, s)) {
		snprintf(err, errlen, "cannot start the sender thread");
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	return s;
}

void sender__wake(struct sender *s)
{
	pthread_mutex_lock(&s->lock);
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/*
 * A spool whose disk refuses writes (full, failing, read-only) keeps profiles in memory: said
 * at once, then at most once a minute while it lasts, and when the disk takes them again.
 */
static void spool_health(struct sender *s, int put_result)
{
	struct spool_stats ss;

	spool__stats(s->spool, &ss);
	if (put_result == 1 && (!s->spool_failing ||
				now_ns(CLOCK_MONOTONIC) - s->spool_last_log > 60 * 1000000000ULL)) {
		say(s, UPLOADER_WARN,
		    "cannot write to the spool (%s): %" PRIu64 " profiles (%" PRIu64
		    " KB) held in memory until it can",
		    strerror(ss.write_errno), ss.memory_entries, ss.memory_bytes / 1024);
		s->spool_last_log = now_ns(CLOCK_MONOTONIC);
		s->spool_failing = true;
	} else if (s->spool_failing && put_result == 0 && !ss.memory_entries) {
		say(s, UPLOADER_INFO, "the spool's disk takes profiles again");
		s->spool_failing = false;
	}
}

int sender__put(struct sender *s, const void *req, size_t len)
{
	int r = len ? spool__put(s->spool, req, len) : 0;

	if (r >= 0)
		sender__wake(s);
	spool_health(s, r);
	return r;
}

void sender__stats(struct sender *s, struct sender_stats *ret, struct spool_stats *ret_spool)
{
	pthread_mutex_lock(&s->lock);
	*ret =
	    (struct sender_stats){ .sent = s->sent, .failed = s->failed, .rejected = s->rejected };
	pthread_mutex_unlock(&s->lock);
	if (ret_spool)
		spool__stats(s->spool, ret_spool);
}

bool sender__stop(struct sender *s, uint64_t stop_ns)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	s->deadline_ns = stop_ns + SENDER_EXIT_GRACE_MS * 1000000ULL;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (!uploader_join_by(s->thread, s->deadline_ns))
		return false;
	grpc_client__cancel(s->client);
	say(s, UPLOADER_WARN,
	    "the call to the remote store in progress at the end of the %u ms "
	    "exit grace is cancelled; what is undelivered stays in the spool",
	    SENDER_EXIT_GRACE_MS);
	if (!uploader_join_by(s->thread, s->deadline_ns + SENDER_EXIT_CANCEL_MS * 1000000ULL))
		return false;
	say(s, UPLOADER_WARN,
	    "the sender thread does not end (stuck in a system call): "
	    "abandoned at exit; its profile stays in the spool");
	s->abandoned = true;
	return true;
}

void sender__free(struct sender *s)
{
	/* an abandoned thread still uses it: the exit takes it */
	if (!s || s->abandoned)
		return;
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
