// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's spool: messages come back oldest first and whole; the byte bound drops the oldest
 * and counts them; a new spool over the same directory (an agent restart) finds what was left,
 * in order, and numbers new messages after it; the newest comes back too; temporary files of an interrupted write and
 * files that are not zstd are removed and counted, never returned.
 */
#include "check.h"
#include "spool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put_text(struct spool *s, const char *text)
{
	CHECK_INT(spool__put(s, text, strlen(text) + 1), 0);
}

/* The oldest message, removed; its text in buf. */
static int take(struct spool *s, char *buf, size_t size)
{
	uint8_t *msg;
	size_t len;
	uint64_t seq;
	int r = spool__oldest(s, &seq, &msg, &len);

	if (r)
		return r;
	snprintf(buf, size, "%.*s", (int)len, (const char *)msg);
	free(msg);
	spool__remove(s, seq);
	return 0;
}

/* The messages come out in this order, and then no more. NULL-terminated. */
static void expect_in_order(struct spool *s, const char *const *texts)
{
	char buf[256];

	for (; *texts; texts++) {
		CHECK_INT(take(s, buf, sizeof(buf)), 0);
		CHECK_STR(buf, *texts);
	}
	CHECK_INT(take(s, buf, sizeof(buf)), -ENOENT);
}

/*
 * A disk that refuses writes (here: the directory moved away, as root ignores permissions):
 * messages wait in memory, in order, bounded; when the disk takes one again, those waiting are
 * written too, and a restart finds them all.
 */
static void check_refusing_disk(const char *path)
{
	char away[256], buf[256], want[8];
	struct spool_stats st;
	struct spool *s = spool__open(path, 64 << 20);
	static char big[1 << 20];
	uint64_t first_kept;

	CHECK(s != NULL);
	if (!s)
		return;
	snprintf(away, sizeof(away), "%s.away", path);
	put_text(s, "disk-1");
	CHECK_INT(rename(path, away), 0);
	CHECK_INT(spool__put(s, "mem-1", 6), 1);
	CHECK_INT(spool__put(s, "mem-2", 6), 1);
	spool__stats(s, &st);
	CHECK_INT(st.write_failures, 2);
	CHECK_INT(st.write_errno, ENOENT);
	CHECK_INT(st.memory_entries, 2);
	CHECK_INT(st.entries, 3);
	CHECK_INT(rename(away, path), 0);
	/* the disk is back: the new message and the two waiting ones go to it */
	put_text(s, "disk-2");
	spool__stats(s, &st);
	CHECK_INT(st.memory_entries, 0);
	CHECK_INT(st.memory_bytes, 0);
	CHECK_INT(st.entries, 4);
	spool__free(s);
	s = spool__open(path, 64 << 20);
	CHECK(s != NULL);
	if (!s)
		return;
	expect_in_order(s, (const char *const[]){ "disk-1", "mem-1", "mem-2", "disk-2", NULL });

	/* memory is bounded: 24 incompressible 1 MB messages, the oldest dropped and counted */
	CHECK_INT(rename(path, away), 0);
	for (int i = 0; i < 24; i++) {
		for (size_t k = 0; k < sizeof(big); k++)
			big[k] = (char)rand();
		snprintf(big, 8, "big%02d", i);
		CHECK_INT(spool__put(s, big, sizeof(big)), 1);
	}
	spool__stats(s, &st);
	CHECK(st.memory_bytes <= SPOOL_MAX_MEMORY);
	CHECK(st.dropped >= 24 - SPOOL_MAX_MEMORY / sizeof(big));
	CHECK_INT(st.memory_entries + st.dropped, 24);
	first_kept = st.dropped;
	/* delivered from memory, oldest first, while the disk is still away */
	CHECK_INT(take(s, buf, 6), 0);
	snprintf(want, sizeof(want), "big%02d", (int)first_kept);
	CHECK_STR(buf, want);
	spool__stats(s, &st);
	CHECK_INT(st.memory_entries, 24 - first_kept - 1);
	spool__free(s);
	CHECK_INT(rename(away, path), 0);
}

int main(void)
{
	char dir[] = "/tmp/scorch-spool.XXXXXX", buf[256], path[200], cmd[300];
	struct spool_stats st;
	struct spool *s;
	uint8_t *msg;
	uint64_t seq;
	size_t len;
	FILE *f;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/spool", dir);

	s = spool__open(path, 1 << 20);
	CHECK(s != NULL);
	put_text(s, "one");
	put_text(s, "two");
	put_text(s, "three");
	spool__stats(s, &st);
	CHECK_INT(st.entries, 3);
	CHECK(st.bytes > 0);
	CHECK_INT(take(s, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "one");
	spool__free(s);

	/* a restart: what was left, in order; new messages after it */
	s = spool__open(path, 1 << 20);
	CHECK(s != NULL);
	put_text(s, "four");
	expect_in_order(s, (const char *const[]){ "two", "three", "four", NULL });
	spool__free(s);

	/* the newest, for the sender's probe past a message the server keeps refusing */
	s = spool__open(path, 1 << 20);
	CHECK(s != NULL);
	CHECK_INT(spool__newest(s, &seq, &msg, &len), -ENOENT);
	put_text(s, "p1");
	put_text(s, "p2");
	put_text(s, "p3");
	CHECK_INT(spool__newest(s, &seq, &msg, &len), 0);
	CHECK_STR((const char *)msg, "p3");
	free(msg);
	spool__remove(s, seq);
	CHECK_INT(spool__newest(s, &seq, &msg, &len), 0);
	CHECK_STR((const char *)msg, "p2");
	free(msg);
	/* a newest entry that cannot be read back: removed, counted, the one before returned */
	put_text(s, "p4");
	CHECK_INT(spool__newest(s, &seq, &msg, &len), 0);
	free(msg);
	snprintf(cmd, sizeof(cmd), "%s/%016llx.wr.zst", path, (unsigned long long)seq);
	f = fopen(cmd, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("garbage", f);
		fclose(f);
	}
	CHECK_INT(spool__newest(s, &seq, &msg, &len), 0);
	CHECK_STR((const char *)msg, "p2");
	free(msg);
	spool__stats(s, &st);
	CHECK_INT(st.corrupt, 1);
	expect_in_order(s, (const char *const[]){ "p1", "p2", NULL });
	spool__free(s);

	/* a bound of ~3 messages: the oldest go, counted; the newest stay */
	s = spool__open(path, 4096);
	CHECK(s != NULL);
	for (int i = 0; i < 20; i++) {
		char msg[1500];

		/* incompressible enough: ~1 KB each after zstd */
		for (size_t k = 0; k < sizeof(msg) - 1; k++)
			msg[k] = 'a' + (rand() % 26);
		msg[sizeof(msg) - 1] = 0;
		snprintf(msg, 8, "m%02d", i);
		msg[3] = ' ';
		CHECK_INT(spool__put(s, msg, sizeof(msg)), 0);
	}
	spool__stats(s, &st);
	CHECK(st.bytes <= 4096);
	CHECK_INT(st.entries + st.dropped, 20);
	CHECK(st.dropped >= 16);
	CHECK_INT(take(s, buf, 4), 0);
	snprintf(cmd, sizeof(cmd), "m%02d", (int)st.dropped);
	CHECK_STR(buf, cmd);
	while (take(s, buf, sizeof(buf)) == 0)
		;
	spool__free(s);

	/* leftovers of a crash and foreign files */
	snprintf(cmd, sizeof(cmd), "%s/.0000000000000099.wr.zst.XXXXXX", path);
	f = fopen(cmd, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd), "%s/0000000000000100.wr.zst", path);
	f = fopen(cmd, "w");
	if (f) {
		fputs("not zstd at all", f);
		fclose(f);
	}
	s = spool__open(path, 1 << 20);
	CHECK(s != NULL);
	put_text(s, "after");
	CHECK_INT(take(s, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "after");
	spool__stats(s, &st);
	CHECK_INT(st.corrupt, 1);
	CHECK_INT(st.entries, 0);
	snprintf(cmd, sizeof(cmd), "%s/.0000000000000099.wr.zst.XXXXXX", path);
	CHECK(access(cmd, F_OK) != 0);
	spool__free(s);

	check_refusing_disk(path);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return check_done("test_spool");
}
