// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ELF symbolization against live fixture processes: PT_LOAD translation for PIE, non-PIE and a
 * shared library, .symtab and .dynsym lookup, and a stripped copy that keeps only exported names;
 * a forked child taking its parent's mappings.
 * Usage: test_symbolize FIXTURE [stripped]...
 */
#include "check.h"
#include "fixture_proc.h"
#include "elf_file.h"
#include "symbolizer.h"
#include "symbolizer-internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool is_zombie(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
}

static void check_fixture(const char *path, bool stripped, size_t max_files)
{
	struct symbolizer_opts opts = { .max_files = max_files };
	struct symbolizer *s = symbolizer__new(&opts);
	struct symbolizer_stats st;
	char name[128];
	unsigned long addr, main_addr = 0;
	int seen = 0, in = -1;
	FILE *f = NULL;
	pid_t pid = fixture_start(path, &f, &in);

	CHECK(pid > 0 && f);
	if (pid <= 0 || !f) {
		symbolizer__free(s);
		return;
	}
	while (fscanf(f, "%127s %lx", name, &addr) == 2 && strcmp(name, "end")) {
		struct sym_frame fr;
		int r;

		if (!seen++)
			CHECK_INT(symbolizer__snapshot(s, pid, 1), 0);
		if (!strcmp(name, "fixture_exe_func"))
			main_addr = addr;
		r = symbolizer__resolve_user(s, pid, 1, addr, &fr);
		CHECK(fr.mapping != NULL);
		if (stripped && strstr(name, "_exe_static")) {
			/* a local symbol of a stripped file: the address and mapping stay */
			CHECK(r != 0);
			CHECK(fr.function == NULL);
		} else {
			CHECK_INT(r, 0);
			CHECK_STR(fr.function, name);
		}
		if (fr.mapping) {
			CHECK(fr.mapping->start <= addr && addr < fr.mapping->end);
			/* the build-id is kept for later symbolization by a server */
			CHECK(strlen(fr.mapping->build_id) == 40);
			CHECK(strstr(fr.mapping->path,
				     strstr(name, "_lib_") ? "libfixture" : "fixture"));
		}
	}
	CHECK_INT(seen, 5);
	/* an address nobody maps: no mapping, no function */
	{
		struct sym_frame fr;

		CHECK(symbolizer__resolve_user(s, pid, 1, 0x10, &fr) != 0);
		CHECK(fr.mapping == NULL && fr.function == NULL);
		CHECK(symbolizer__resolve_user(s, pid, 99, addr, &fr) != 0);
	}
	/* the cache is bounded; files past the bound still resolve through their snapshot */
	symbolizer__stats(s, &st);
	if (max_files)
		CHECK_INT(st.files_cached, max_files);
	else
		CHECK(st.files_cached >= 2); /* the executable and libfixture.so at least */
	fixture_release(f, in);
	/*
	 * Regression, "a re-read of an exiting process emptied its snapshot": once the fixture is
	 * a zombie its maps read empty, and re-reading must keep what was known.
	 */
	for (int i = 0; i < 500 && !is_zombie(pid); i++)
		usleep(2000);
	CHECK(is_zombie(pid));
	CHECK_INT(symbolizer__snapshot(s, pid, 1), 0);
	{
		struct sym_frame fr;

		CHECK_INT(symbolizer__resolve_user(s, pid, 1, main_addr, &fr), 0);
		CHECK(fr.mapping != NULL && fr.function != NULL);
	}
	waitpid(pid, NULL, 0);
	/* the process is gone, its snapshot still resolves */
	CHECK(symbolizer__has_process(s, pid, 1));
	CHECK_INT(symbolizer__snapshot(s, pid, 2), -ESRCH);
	/* files no process maps any more leave the cache after idle rounds, not before */
	symbolizer__stats(s, &st);
	{
		size_t live = st.files_live, gone;

		CHECK(live >= (max_files ? max_files : 2));
		CHECK_INT(symbolizer__expire(s, 0), 0); /* still mapped by the snapshot */
		symbolizer__drop_process(s, pid, 1);
		CHECK_INT(symbolizer__expire(s, 1), 0); /* idle for one round only */
		gone = symbolizer__expire(s, 1);
		symbolizer__stats(s, &st);
		CHECK(st.files_live <= 1); /* the symbolizer's own copy of the vDSO stays */
		CHECK(gone >= (max_files ? 1 : 2)); /* at least the executable and its library */
		CHECK_INT(gone, live - st.files_live);
		CHECK_INT(st.files_expired, gone);
	}
	symbolizer__free(s);
}

static void check_not_elf(void)
{
	int fd = open("/proc/self/status", O_RDONLY);
	struct elf_file *e = elf_file__read(fd);
	uint64_t v;

	CHECK(e != NULL);
	if (e) {
		CHECK(elf_file__error(e) != NULL);
		CHECK_INT(elf_file__nsymbols(e), 0);
		CHECK_STR(elf_file__build_id(e), "");
		CHECK(elf_file__offset_to_vaddr(e, 0, &v) != 0);
	}
	elf_file__free(e);
	close(fd);
}

/* Our own address of a libc function, and whether frame says it is that function in libc. */
static bool is_libc_getpid(const struct sym_frame *fr)
{
	return fr->mapping && strstr(fr->mapping->path, "libc.so") && fr->function &&
	       strstr(fr->function, "getpid");
}

/*
 * A forked child whose maps are read after it exec'ed another program (or after it is gone)
 * takes its parent's mappings where its own do not reach: the parent is this test, and the
 * address is getpid() in this test's libc.
 */
static void check_inherit(void)
{
	struct symbolizer_opts opts = { 0 };
	struct symbolizer *s = symbolizer__new(&opts);
	uint64_t addr = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
	struct sym_frame fr;
	char path[64], exe[256] = "", self_exe[256];
	const char *child_exe = NULL, *cgroup = NULL;
	ssize_t n;
	pid_t child = fork();

	if (child == 0) {
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	CHECK(child > 0 && s && addr);
	if (child <= 0 || !s || !addr)
		return;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)child);
	for (int i = 0; i < 200 && !strstr(exe, "sleep"); i++) {
		ssize_t n = readlink(path, exe, sizeof(exe) - 1);

		exe[n > 0 ? n : 0] = 0;
		usleep(5000);
	}
	CHECK(strstr(exe, "sleep") != NULL);
	CHECK_INT(symbolizer__snapshot(s, child, 1), 0);
	/* the child's own maps: sleep and its libc, elsewhere */
	memset(&fr, 0, sizeof(fr));
	symbolizer__resolve_user(s, child, 1, addr, &fr);
	CHECK(!is_libc_getpid(&fr));
	symbolizer__process_info(s, child, 1, &child_exe, &cgroup);
	CHECK(child_exe && strstr(child_exe, "sleep"));
	CHECK_INT(symbolizer__inherit(s, child, 1, getpid()), 0);
	CHECK_INT(symbolizer__resolve_user(s, child, 1, addr, &fr), 0);
	CHECK(is_libc_getpid(&fr));
	/* the generation runs the parent's program: its executable is the parent's */
	symbolizer__process_info(s, child, 1, &child_exe, &cgroup);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	self_exe[n > 0 ? n : 0] = 0;
	CHECK_STR(child_exe, self_exe);
	CHECK(cgroup != NULL);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* gone before any snapshot: the parent's maps are all there is */
	CHECK_INT(symbolizer__snapshot(s, child, 2), -ESRCH);
	CHECK_INT(symbolizer__inherit(s, child, 2, getpid()), 0);
	CHECK_INT(symbolizer__resolve_user(s, child, 2, addr, &fr), 0);
	CHECK(is_libc_getpid(&fr));
	/* a parent that is gone gives nothing */
	CHECK_INT(symbolizer__inherit(s, child, 3, child), -ESRCH);
	symbolizer__free(s);
}

/*
 * A process still maps a file where its snapshot saw it after a fork, and no longer after an
 * exec: how a Python program's fork that exec'ed another is told from a broken interpreter.
 */
static void check_still_mapped(void)
{
	struct symbolizer_opts opts = { 0 };
	struct symbolizer *s = symbolizer__new(&opts);
	struct sym_frame fr = { 0 };
	char path[64], exe[256] = "";
	pid_t forked, execed;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_INT(symbolizer__snapshot(s, getpid(), 1), 0);
	CHECK_INT(
	    symbolizer__resolve_user(s, getpid(), 1, (uint64_t)(uintptr_t)&check_still_mapped, &fr),
	    0);
	CHECK(fr.mapping && fr.mapping->ino);
	if (!fr.mapping) {
		symbolizer__free(s);
		return;
	}
	CHECK(sym_still_mapped(s, getpid(), fr.mapping));
	forked = fork();
	if (forked == 0) {
		pause();
		_exit(0);
	}
	execed = fork();
	if (execed == 0) {
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	CHECK(forked > 0 && execed > 0);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)execed);
	for (int i = 0; i < 200 && !strstr(exe, "sleep"); i++) {
		ssize_t n = readlink(path, exe, sizeof(exe) - 1);

		exe[n > 0 ? n : 0] = 0;
		usleep(5000);
	}
	CHECK(strstr(exe, "sleep") != NULL);
	if (forked > 0)
		CHECK(sym_still_mapped(s, forked, fr.mapping));
	if (execed > 0)
		CHECK(!sym_still_mapped(s, execed, fr.mapping));
	if (forked > 0) {
		kill(forked, SIGKILL);
		waitpid(forked, NULL, 0);
	}
	if (execed > 0) {
		kill(execed, SIGKILL);
		waitpid(execed, NULL, 0);
	}
	/* gone: its maps say nothing */
	if (execed > 0)
		CHECK(!sym_still_mapped(s, execed, fr.mapping));
	symbolizer__free(s);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	ssize_t n;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			break;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

static int warnings_stale;

static void count_stale(void *ctx, const char *msg)
{
	(void)ctx;
	warnings_stale += strstr(msg, "not the file the process mapped") != NULL;
}

/*
 * Where /proc/PID/map_files cannot be read, a file is opened by its path inside the process's
 * root, and used only when it is the device and inode the maps line names. A fake proc root
 * for this test's own process, without map_files: its root is "/" (the right libc), then a
 * directory where libc's path holds another ELF file (refused, said once).
 */
static void check_path_fallback(void)
{
	uint64_t addr = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
	char top[] = "/tmp/scorch-fakeproc.XXXXXX", dir[256], path[PATH_MAX + 300], libc[PATH_MAX];
	struct symbolizer_opts opts = { .warn = count_stale };
	struct sym_frame fr;
	struct symbolizer *s;
	int fd;

	CHECK(mkdtemp(top) != NULL);
	snprintf(dir, sizeof(dir), "%s/%d", top, (int)getpid());
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/maps", dir);
	copy_file("/proc/self/maps", path);
	snprintf(path, sizeof(path), "%s/status", dir);
	copy_file("/proc/self/status", path);
	snprintf(path, sizeof(path), "%s/root", dir);
	CHECK(symlink("/", path) == 0);
	opts.proc_root = top;
	s = symbolizer__new(&opts);
	CHECK_INT(symbolizer__snapshot(s, getpid(), 1), 0);
	CHECK_INT(symbolizer__resolve_user(s, getpid(), 1, addr, &fr), 0);
	CHECK(is_libc_getpid(&fr));
	libc[0] = 0;
	if (fr.mapping)
		snprintf(libc, sizeof(libc), "%s", fr.mapping->path);
	symbolizer__free(s);
	CHECK_INT(warnings_stale, 0);

	/* the same path in another root holds another file: not the one mapped */
	snprintf(path, sizeof(path), "%s/root", dir);
	unlink(path);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "mkdir -p '%s/root%.*s'", dir,
		 (int)(strrchr(libc, '/') - libc), libc);
	CHECK(libc[0] == '/' && system(path) == 0);
	snprintf(path, sizeof(path), "%s/root%s", dir, libc);
	copy_file("/proc/self/exe", path);
	s = symbolizer__new(&opts);
	CHECK_INT(symbolizer__snapshot(s, getpid(), 1), 0);
	memset(&fr, 0, sizeof(fr));
	symbolizer__resolve_user(s, getpid(), 1, addr, &fr);
	CHECK(!is_libc_getpid(&fr));
	CHECK(fr.mapping && !fr.mapping->elf);
	/* read again: said once */
	CHECK_INT(symbolizer__snapshot(s, getpid(), 1), 0);
	CHECK_INT(warnings_stale, 1);
	symbolizer__free(s);
	snprintf(path, sizeof(path), "rm -rf '%s'", top);
	CHECK(system(path) == 0);

	/* the uploader's way in: the mapped file itself, by build-id */
	s = symbolizer__new(&(struct symbolizer_opts){ 0 });
	CHECK_INT(symbolizer__snapshot(s, getpid(), 1), 0);
	CHECK_INT(symbolizer__resolve_user(s, getpid(), 1, addr, &fr), 0);
	if (fr.mapping && fr.mapping->build_id[0]) {
		struct stat a, b;

		fd = symbolizer__open_mapped(s, getpid(), 1, fr.mapping->build_id);
		CHECK(fd >= 0);
		CHECK(fd >= 0 && fstat(fd, &a) == 0 && stat(fr.mapping->path, &b) == 0 &&
		      a.st_ino == b.st_ino && a.st_dev == b.st_dev);
		if (fd >= 0)
			close(fd);
		CHECK_INT(symbolizer__open_mapped(s, getpid(), 1, "00"), -ENOENT);
		CHECK_INT(symbolizer__open_mapped(s, getpid(), 9, fr.mapping->build_id), -ESRCH);
	}
	symbolizer__free(s);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		bool stripped = i + 1 < argc && !strcmp(argv[i + 1], "stripped");

		fprintf(stderr, "fixture %s%s\n", argv[i], stripped ? " (stripped)" : "");
		check_fixture(argv[i], stripped, 0);
		check_fixture(argv[i], stripped, 1);
		if (stripped)
			i++;
	}
	check_not_elf();
	check_inherit();
	check_still_mapped();
	check_path_fallback();
	return check_done("test_symbolize");
}
