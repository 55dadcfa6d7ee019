// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * scorch-demo: a small program with known hot spots for a first capture. Two threads for
 * SECONDS (default 10): "parser" checksums records in the shared library (demo_checksum) and
 * sorts their keys (demo_sort); "io" copies from /dev/zero to /dev/null, so that its time is
 * in the kernel (read and write system calls). The flame graph shows main, the thread
 * functions, the library's functions with their lines, and the kernel under io.
 * Usage: scorch-demo [SECONDS]
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

/* a frame of its own under its own name (gcc would otherwise clone it as name.constprop.0) */
#ifdef __clang__
#define DEMO_FRAME __attribute__((noinline))
#else
#define DEMO_FRAME __attribute__((noinline, noclone))
#endif

static double until;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One record: a buffer to checksum and keys to sort. */
DEMO_FRAME static uint32_t parse_record(unsigned char *buf, size_t len, uint32_t *keys,
					size_t nkeys, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed + i * 31);
	for (size_t i = 0; i < nkeys; i++)
		keys[i] = (seed * 2654435761u) ^ (uint32_t)(i * 40503u);
	demo_sort(keys, nkeys);
	return demo_checksum(buf, len) ^ keys[0];
}

static void *parser(void *arg)
{
	static unsigned char buf[16384];
	static uint32_t keys[1024];
	uint32_t sum = 0;
	unsigned int seed = 1;

	(void)arg;
	while (now() < until)
		sum ^= parse_record(buf, sizeof(buf), keys, 1024, seed++);
	return (void *)(uintptr_t)sum;
}

DEMO_FRAME static void copy_block(int in, int out, char *buf, size_t len)
{
	if (read(in, buf, len) > 0 && write(out, buf, len) < 0)
		perror("write");
}

static void *io(void *arg)
{
	static char buf[1 << 16];
	int in = open("/dev/zero", O_RDONLY | O_CLOEXEC),
	    out = open("/dev/null", O_WRONLY | O_CLOEXEC);

	(void)arg;
	if (in < 0 || out < 0) {
		perror("open");
		return NULL;
	}
	while (now() < until)
		copy_block(in, out, buf, sizeof(buf));
	close(in);
	close(out);
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	pthread_t a, b;

	if (secs <= 0 || secs > 3600) {
		fprintf(stderr, "usage: scorch-demo [SECONDS]\n");
		return 2;
	}
	until = now() + secs;
	if (pthread_create(&a, NULL, parser, NULL) || pthread_create(&b, NULL, io, NULL)) {
		perror("pthread_create");
		return 1;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return 0;
}
