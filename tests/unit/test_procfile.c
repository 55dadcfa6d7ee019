// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The opener of a process's files: links that try to leave the process's root, FIFOs and
 * directories, huge files, loops, a link where none is allowed, owners and modes; each case
 * through openat2() and through the walk used where openat2() is missing.
 */
#include "check.h"
#include "procfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[PATH_MAX];

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void mk(const char *rel)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	mkdir(path, 0755);
}

static void link_to(const char *target, const char *rel)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	if (symlink(target, path))
		perror(path);
}

/* What the file opened at path says, or "" / the error. */
static const char *read_at(int rootfd, const char *path, const struct proc_open_opts *o,
			   int *ret_err)
{
	static char buf[256];
	int fd = proc_file__open_at(rootfd, path, o, NULL);
	ssize_t n;

	*ret_err = fd < 0 ? fd : 0;
	buf[0] = 0;
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return buf;
}

static void cases(int rootfd, const char *mode, bool walk)
{
	const struct proc_open_opts elf = { .kind = PROC_FILE_ELF, .walk = walk };
	const struct proc_open_opts perfmap = { .kind = PROC_FILE_PERFMAP,
						.nofollow = true,
						.walk = walk };
	char outside[PATH_MAX * 2];
	int err;

	printf("-- %s\n", mode);
	CHECK_STR(read_at(rootfd, "/usr/lib/libx.so", &elf, &err), "inside");
	/* an absolute link names a path of the process's root, not of ours */
	snprintf(outside, sizeof(outside), "%s/secret", top);
	CHECK_STR(read_at(rootfd, "/abs-to-host", &elf, &err), "");
	CHECK_INT(err, -ENOENT);
	CHECK_STR(read_at(rootfd, "/abs-to-decoy", &elf, &err), "decoy");
	/* ".." and relative links stop at the root */
	CHECK_STR(read_at(rootfd, "/usr/lib/debug/.build-id/ab/cdef.debug", &elf, &err), "decoy");
	CHECK_STR(read_at(rootfd, "/../../../../../../secret", &elf, &err), "decoy");
	CHECK_STR(read_at(rootfd, "/usr/../usr/lib/./libx.so", &elf, &err), "inside");
	CHECK_STR(read_at(rootfd, "/dirlink/libx.so", &elf, &err), "inside");
	/* a link into a directory, then ".." out of it: the link's directory's parent */
	CHECK_STR(read_at(rootfd, "/usr/lib/uplink/../lib/libx.so", &elf, &err), "inside");
	/* neither a FIFO nor a directory is opened for reading (a FIFO would block) */
	read_at(rootfd, "/fifo", &elf, &err);
	CHECK_INT(err, -EINVAL);
	read_at(rootfd, "/link-to-fifo", &elf, &err);
	CHECK_INT(err, -EINVAL);
	read_at(rootfd, "/usr", &elf, &err);
	CHECK_INT(err, -EINVAL);
	read_at(rootfd, "/", &elf, &err);
	CHECK_INT(err, -EINVAL);
	read_at(rootfd, "/loop-a", &elf, &err);
	CHECK_INT(err, -ELOOP);
	read_at(rootfd, "/usr/lib/libx.so/nothing", &elf, &err);
	CHECK_INT(err, -ENOTDIR);
	/* bounds by kind: the sparse file is 65 MB, fine as ELF, not as a perf map */
	read_at(rootfd, "/big", &perfmap, &err);
	CHECK_INT(err, -EFBIG);
	read_at(rootfd, "/big", &elf, &err);
	CHECK_INT(err, 0);
	read_at(rootfd, "/huge", &elf, &err);
	CHECK_INT(err, -EFBIG);
	/* perf maps: no link at the end, wherever it points */
	read_at(rootfd, "/tmp/perf-1.map", &perfmap, &err);
	CHECK_INT(err, -ELOOP);
	CHECK_STR(read_at(rootfd, "/tmp/perf-2.map", &perfmap, &err), "1000 10 jit\n");
}

static void owners(int rootfd, bool walk)
{
	struct proc_creds owner = { .uid = 12345, .fsuid = 12345, .fsgid = 12345 };
	struct proc_creds other = { .uid = 54321, .fsuid = 54321, .fsgid = 54321 };
	struct proc_open_opts o = {
		.kind = PROC_FILE_PERFMAP, .nofollow = true, .owner = true, .walk = walk
	};
	char path[PATH_MAX * 2];
	int err;

	/* the file must be someone's but root's: as root, give it away; else it is ours */
	snprintf(path, sizeof(path), "%s/root/tmp/perf-3.map", top);
	if (geteuid() == 0 && chown(path, 12345, 12345))
		perror("chown");
	if (geteuid() != 0)
		owner.uid = owner.fsuid = geteuid(), owner.fsgid = getegid();
	chmod(path, 0600);
	o.creds = &owner;
	CHECK_STR(read_at(rootfd, "/tmp/perf-3.map", &o, &err), "2000 10 other\n");
	o.creds = &other;
	read_at(rootfd, "/tmp/perf-3.map", &o, &err);
	CHECK_INT(err, -EPERM);
	/* not its owner's, but readable by it? only as the mode says */
	o.owner = false;
	read_at(rootfd, "/tmp/perf-3.map", &o, &err);
	CHECK_INT(err, -EACCES);
	chmod(path, 0644);
	CHECK_STR(read_at(rootfd, "/tmp/perf-3.map", &o, &err), "2000 10 other\n");
}

static void modes(void)
{
	struct proc_creds c = { .uid = 1000, .fsuid = 1000, .fsgid = 100, .ngroups = 1 };
	struct stat st = { .st_uid = 1000, .st_gid = 0, .st_mode = S_IFREG | 0600 };

	c.groups[0] = 4;
	CHECK(proc_creds__can_read(&c, &st));
	st.st_mode = S_IFREG | 0044; /* the owner is refused even when others may read */
	CHECK(!proc_creds__can_read(&c, &st));
	st.st_uid = 0;
	st.st_mode = S_IFREG | 0640;
	CHECK(!proc_creds__can_read(&c, &st));
	st.st_gid = 4; /* a supplementary group */
	CHECK(proc_creds__can_read(&c, &st));
	st.st_gid = 100;
	CHECK(proc_creds__can_read(&c, &st));
	st.st_gid = 7;
	st.st_mode = S_IFREG | 0604;
	CHECK(proc_creds__can_read(&c, &st));
	c.fsuid = 0; /* root reads anything */
	st.st_mode = S_IFREG | 0;
	CHECK(proc_creds__can_read(&c, &st));
}

int main(void)
{
	char path[PATH_MAX * 2], root[PATH_MAX * 2];
	struct proc_creds self;
	int rootfd, fd;

	/* a case that blocks (a FIFO opened for reading) must fail the test, not hang it */
	alarm(60);
	snprintf(top, sizeof(top), "%s/scorch-procfile.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	put("secret", "host secret");
	mk("root");
	mk("root/usr");
	mk("root/usr/lib");
	mk("root/usr/lib/debug");
	mk("root/usr/lib/debug/.build-id");
	mk("root/usr/lib/debug/.build-id/ab");
	mk("root/tmp");
	put("root/usr/lib/libx.so", "inside");
	put("root/secret", "decoy");
	snprintf(path, sizeof(path), "%s/secret", top);
	link_to(path, "root/abs-to-host");
	link_to("/secret", "root/abs-to-decoy");
	link_to("../../../../../../../../secret", "root/usr/lib/debug/.build-id/ab/cdef.debug");
	link_to("/usr/lib", "root/dirlink");
	link_to("../../usr/lib", "root/usr/lib/uplink");
	link_to("loop-b", "root/loop-a");
	link_to("loop-a", "root/loop-b");
	link_to("/fifo", "root/link-to-fifo");
	link_to(path, "root/tmp/perf-1.map");
	put("root/tmp/perf-2.map", "1000 10 jit\n");
	put("root/tmp/perf-3.map", "2000 10 other\n");
	snprintf(path, sizeof(path), "%s/root/fifo", top);
	mkfifo(path, 0600);
	snprintf(path, sizeof(path), "%s/root/big", top);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0 && ftruncate(fd, (65ULL << 20)) == 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/root/huge", top);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0 && ftruncate(fd, (4ULL << 30) + 1) == 0);
	close(fd);

	snprintf(root, sizeof(root), "%s/root", top);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(rootfd >= 0);
	cases(rootfd, "openat2", false);
	/* a magic link of /proc is not followed: it would lead anywhere */
	fd = open("/", O_PATH | O_DIRECTORY);
	snprintf(path, sizeof(path), "/proc/self/root%s/secret", top);
	CHECK(proc_file__open_at(fd, path, &(struct proc_open_opts){ .kind = PROC_FILE_ELF },
				 NULL) < 0);
	close(fd);
	owners(rootfd, false);
	cases(rootfd, "walk", true);
	owners(rootfd, true);
	/* a device to avoid (a FUSE mount's): nothing on it is looked into, even its root */
	{
		struct stat st;
		dev_t dev;
		struct proc_open_opts o = { .kind = PROC_FILE_ELF, .navoid = 1 };

		CHECK(fstat(rootfd, &st) == 0);
		dev = st.st_dev;
		o.avoid = &dev;
		CHECK_INT(proc_file__open_at(rootfd, "/usr/lib/libx.so", &o, NULL), -EREMOTE);
		snprintf(path, sizeof(path), "%s/root/usr/lib/libx.so", top);
		CHECK_INT(proc_file__open_link(path, &o, NULL), -EREMOTE);
		dev = st.st_dev + 1;
		fd = proc_file__open_link(path, &o, NULL);
		CHECK(fd >= 0);
		if (fd >= 0)
			close(fd);
	}
	close(rootfd);
	modes();

	/* a process's own credentials and root, as /proc shows them */
	CHECK_INT(proc_creds__read("/proc", getpid(), &self), 0);
	CHECK_INT(self.uid, getuid());
	CHECK_INT(self.fsuid, geteuid());
	CHECK_INT(self.nspid, getpid());
	CHECK_INT(proc_creds__read("/proc", 0, &self), -ESRCH);
	fd = proc_root__open("/proc", getpid());
	CHECK(fd >= 0);
	if (fd >= 0) {
		int f = proc_file__open_at(fd, "/proc/self/status",
					   &(struct proc_open_opts){ .kind = PROC_FILE_ELF }, NULL);
		/* procfs files are empty regular files by fstat: opened, as a regular file is */
		CHECK(f >= 0);
		if (f >= 0)
			close(f);
		close(fd);
	}
	/* trusted paths: the same file checks */
	snprintf(path, sizeof(path), "%s/root/fifo", top);
	CHECK_INT(proc_file__open(path, PROC_FILE_DEBUG, NULL), -EINVAL);
	snprintf(path, sizeof(path), "%s/root/usr/lib/libx.so", top);
	fd = proc_file__open(path, PROC_FILE_DEBUG, NULL);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_STR(proc_file__strerror(-EINVAL), "not a regular file");

	snprintf(path, sizeof(path), "rm -rf '%s'", top);
	if (system(path))
		fprintf(stderr, "cannot remove %s\n", top);
	return check_done("test_procfile");
}
