// SPDX-License-Identifier: LGPL-2.1-or-later
/* The SIGBUS guard of mapguard.h: guarded ranges and the handler that answers with zeros. */
#include "mapguard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * One guarded range. The handler reads the slots while other threads add and remove ranges:
 * a slot changes under a sequence count (odd while it changes), and the handler takes it whole
 * or not at all. Every field is accessed atomically; nothing here is ever freed.
 */
struct guard {
	unsigned int seq;
	uintptr_t start;
	size_t len; /* 0: the slot is free */
	bool tripped; /* a fault was answered with zeros */
};

static struct guard guards[MAPGUARD_MAX];
/* Slots from here on have never been used: the handler looks only below. */
static size_t nused;
/* Taken by the threads that add and remove ranges, never by the handler. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static size_t free_hint; /* no free slot below it; under lock */
static bool installed; /* under lock */
/* The SIGBUS action before ours: written before ours is installed, only read after. */
static struct sigaction previous;
static uintptr_t page_mask;

static void set_slot(struct guard *g, uintptr_t start, size_t len)
{
	unsigned int seq = __atomic_load_n(&g->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&g->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&g->start, start, __ATOMIC_RELAXED);
	__atomic_store_n(&g->len, len, __ATOMIC_RELAXED);
	__atomic_store_n(&g->tripped, false, __ATOMIC_RELAXED);
	__atomic_store_n(&g->seq, seq + 2, __ATOMIC_RELEASE);
}

/* A slot as it was at one moment, or false (free, or changing now). Async-signal-safe. */
static bool read_slot(const struct guard *g, uintptr_t *ret_start, size_t *ret_len)
{
	unsigned int seq = __atomic_load_n(&g->seq, __ATOMIC_ACQUIRE);
	uintptr_t start;
	size_t len;

	if (seq & 1)
		return false;
	start = __atomic_load_n(&g->start, __ATOMIC_RELAXED);
	len = __atomic_load_n(&g->len, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&g->seq, __ATOMIC_RELAXED) != seq || !len)
		return false;
	*ret_start = start;
	*ret_len = len;
	return true;
}

/* Not ours: what the process would have done without the guard. */
static void pass_on(int sig, siginfo_t *si, void *uctx)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	/* kill(), tgkill(), sigqueue(): a signal sent, not a fault that comes back */
	bool sent = si->si_code <= 0;

	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, uctx);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	if (previous.sa_handler == SIG_IGN && sent)
		return;
	/*
	 * The default action (an ignored fault is fatal too): back in place, the faulting
	 * instruction runs again and the kernel ends the process; a sent signal is sent again.
	 */
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	if (sent)
		raise(sig);
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	size_t n = __atomic_load_n(&nused, __ATOMIC_ACQUIRE);
	int saved_errno = errno;

	/* a page past the end of the file (or one its filesystem could not read) */
	if (si->si_code == BUS_ADRERR) {
		for (size_t i = 0; i < n; i++) {
			uintptr_t start, page;
			size_t len;

			if (!read_slot(&guards[i], &start, &len) || addr < start ||
			    addr - start >= len)
				continue;
			/*
			 * Every page from here on is past the end too: zeros for all of them at once,
			 * one fault and one more mapping whatever the parser reads next
			 */
			page = addr & page_mask;
			if (mmap((void *)page, start + len - page, PROT_READ,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				break;
			__atomic_store_n(&guards[i].tripped, true, __ATOMIC_RELAXED);
			errno = saved_errno;
			return;
		}
	}
	errno = saved_errno;
	pass_on(sig, si, uctx);
}

static int install(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART };

	page_mask = ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, NULL, &previous) || sigaction(SIGBUS, &sa, NULL))
		return -errno;
	installed = true;
	return 0;
}

int mapguard__add(void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr;
	size_t i;
	int r = 0;

	if (!addr || !len || len > UINTPTR_MAX - start)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	if (!installed)
		r = install();
	if (!r && (start & ~page_mask))
		r = -EINVAL;
	if (r)
		goto out;
	for (i = free_hint; i < nused && __atomic_load_n(&guards[i].len, __ATOMIC_RELAXED); i++)
		;
	if (i == MAPGUARD_MAX) {
		r = -ENOSPC;
		goto out;
	}
	set_slot(&guards[i], start, len);
	free_hint = i + 1;
	if (i == nused)
		__atomic_store_n(&nused, i + 1, __ATOMIC_RELEASE);
	r = (int)i;
out:
	pthread_mutex_unlock(&lock);
	return r;
}

void mapguard__remove(int slot)
{
	if (slot < 0 || slot >= MAPGUARD_MAX)
		return;
	pthread_mutex_lock(&lock);
	set_slot(&guards[slot], 0, 0);
	if ((size_t)slot < free_hint)
		free_hint = slot;
	pthread_mutex_unlock(&lock);
}

bool mapguard__tripped(int slot)
{
	return slot >= 0 && slot < MAPGUARD_MAX &&
	       __atomic_load_n(&guards[slot].tripped, __ATOMIC_RELAXED);
}
