// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's spool: messages come back oldest first and whole; the byte bound drops the oldest
 * and counts them; a new spool over the same directory (an agent restart) finds what was left,
 * in order, and numbers new messages after it; temporary files of an interrupted write and
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

int main(void)
{
	char dir[] = "/tmp/scorch-spool.XXXXXX", buf[256], path[200], cmd[300];
	struct spool_stats st;
	struct spool *s;
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
	CHECK_INT(take(s, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "two");
	CHECK_INT(take(s, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "three");
	CHECK_INT(take(s, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "four");
	CHECK_INT(take(s, buf, sizeof(buf)), -ENOENT);
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

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return check_done("test_spool");
}
