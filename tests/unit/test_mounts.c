// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The symbolizer's mount tables (the FUSE devices a snapshot avoids) are read once per mount
 * namespace and root, and again when the kernel says the table changed. The second half needs
 * root (a mount namespace of the test's own); with CI=true it is not skipped.
 */
#include "check.h"
#include "symbolizer.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t tables_read(const struct symbolizer *s)
{
	struct symbolizer_stats st;

	symbolizer__stats(s, &st);
	return st.mount_tables_read;
}

int main(void)
{
	struct symbolizer *s = symbolizer__new(&(struct symbolizer_opts){ 0 });
	char dir[] = "/tmp/scorch-mounts.XXXXXX";
	const char *ci = getenv("CI");
	uint32_t me = getpid(), seq = 1;

	CHECK(s != NULL);
	if (!s)
		return check_done("test_mounts");
	/* the same process, and a child of it: one table read */
	CHECK_INT(symbolizer__snapshot(s, me, seq++), 0);
	CHECK_INT(tables_read(s), 1);
	CHECK_INT(symbolizer__snapshot(s, me, seq++), 0);
	CHECK_INT(symbolizer__snapshot(s, getppid(), 1), 0);
	CHECK_INT(tables_read(s), 1);

	if (geteuid() != 0) {
		CHECK(!ci || strcmp(ci, "true")); /* CI runs as root: never skipped there */
		fprintf(stderr, "not root: mount namespace checks skipped\n");
		symbolizer__free(s);
		return check_done("test_mounts");
	}
	/* a namespace of our own: another table */
	CHECK_INT(unshare(CLONE_NEWNS), 0);
	CHECK_INT(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	CHECK_INT(symbolizer__snapshot(s, me, seq++), 0);
	CHECK_INT(tables_read(s), 2);
	CHECK_INT(symbolizer__snapshot(s, me, seq++), 0);
	CHECK_INT(tables_read(s), 2);
	/* the table changes: read again on the next snapshot, then known again */
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(mount("scorch-test", dir, "tmpfs", 0, "size=64k"), 0);
	CHECK_INT(symbolizer__snapshot(s, me, seq++), 0);
	CHECK_INT(tables_read(s), 3);
	CHECK_INT(symbolizer__snapshot(s, me, seq++), 0);
	CHECK_INT(tables_read(s), 3);
	CHECK_INT(umount(dir), 0);
	CHECK_INT(symbolizer__snapshot(s, me, seq++), 0);
	CHECK_INT(tables_read(s), 4);
	rmdir(dir);
	symbolizer__free(s);
	return check_done("test_mounts");
}
