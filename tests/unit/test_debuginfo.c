// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Separate debug info, found as gdb finds it: beside the file by .gnu_debuglink, in its .debug/
 * directory, and by build-id under a debug directory; a file with the wrong CRC or build-id is
 * not used. The fixture is stripped of everything; its debug file brings symbols and DWARF.
 * MiniDebugInfo (.gnu_debugdata) brings the symbol table of a file stripped of everything.
 * A debuglink to a huge sparse file is not checksummed (it would take seconds).
 * Asking debuginfod servers leaves the process's environment as it was.
 * Usage: test_debuginfo STRIPPED_FIXTURE DEBUG_FILE UNRELATED_FILE MINIDEBUG_FIXTURE
 *        STRIPPED_WITHOUT_BUILD_ID
 */
#include "check.h"
#include "fixture_proc.h"
#include "elf_file.h"
#include "symbolizer.h"
#include "util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp[64];

static void copy(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t n;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			break;
	close(in);
	close(out);
}

static void mkdirs(const char *path)
{
	char p[512];

	snprintf(p, sizeof(p), "%s", path);
	for (char *c = p + 1; *c; c++)
		if (*c == '/') {
			*c = 0;
			mkdir(p, 0755);
			*c = '/';
		}
	mkdir(p, 0755);
}

/* Run BINARY, resolve the fixture's address inside outer_fn(); returns the outer function name. */
static bool with_dwarf = true;

static const char *resolve_in(const char *binary, const char *const *dirs, size_t ndirs,
			      int *ret_lines, size_t *ret_debug_files)
{
	static char name[128];
	struct symbolizer_opts opts = { .debug_dirs = dirs,
					.ndebug_dirs = ndirs,
					.debug_file_dwarf = with_dwarf };
	struct symbolizer *s = symbolizer__new(&opts);
	struct symbolizer_stats st;
	unsigned long addr = 0;
	int in = -1, line;
	struct sym_frame f;
	FILE *o = NULL;
	pid_t pid;

	name[0] = 0;
	*ret_lines = 0;
	pid = fixture_start(binary, &o, &in);
	if (pid < 0)
		return name;
	if (fscanf(o, "inline %lx %d", &addr, &line) == 2 && symbolizer__snapshot(s, pid, 1) == 0 &&
	    symbolizer__resolve_user(s, pid, 1, addr - 1, &f) == 0 && f.function) {
		snprintf(name, sizeof(name), "%s", f.function);
		*ret_lines = f.nlines;
	}
	symbolizer__stats(s, &st);
	*ret_debug_files = st.debug_files;
	fixture_finish(pid, o, in);
	symbolizer__free(s);
	return name;
}

/*
 * Two copies of one build under different paths, the first with its debug file beside it, seen
 * by one symbolizer: the second shares the first's file (and symbols) through the build-id.
 */
static const char *resolve_shared(const char *first, const char *second, size_t *ret_shared)
{
	static char name[128];
	struct symbolizer *s = symbolizer__new(&(struct symbolizer_opts){ 0 });
	const char *bins[2] = { first, second };
	struct symbolizer_stats st;
	unsigned long addr = 0;
	int in[2] = { -1, -1 }, line;
	FILE *o[2] = { NULL, NULL };
	struct sym_frame f;
	pid_t pid[2];

	name[0] = 0;
	for (int i = 0; i < 2; i++) {
		pid[i] = fixture_start(bins[i], &o[i], &in[i]);
		if (pid[i] < 0 || fscanf(o[i], "inline %lx %d", &addr, &line) != 2 ||
		    symbolizer__snapshot(s, pid[i], 1) != 0)
			addr = 0;
	}
	/* addr is the second process's (both are PIE: each has its own) */
	if (addr && symbolizer__resolve_user(s, pid[1], 1, addr - 1, &f) == 0 && f.function)
		snprintf(name, sizeof(name), "%s", f.function);
	symbolizer__stats(s, &st);
	*ret_shared = st.files_shared;
	/* the second child holds a copy of the first one's stdin: it goes first */
	for (int i = 1; i >= 0; i--)
		if (pid[i] > 0)
			fixture_finish(pid[i], o[i], in[i]);
	symbolizer__free(s);
	return name;
}

/*
 * The time budget of symbolizer__fetch_debuginfo() is kept without DEBUGINFOD_TIMEOUT: setenv()
 * in a library races with every getenv() of the process's other threads (the agent's). Our
 * own libraries have no symbol tables: each is asked of a server that refuses connections (a
 * port bound and never listened on).
 */
static void test_debuginfod_environment(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	struct symbolizer_stats st;
	char url[64], cache[128];
	struct symbolizer *s;
	uint64_t start;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	      getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sin.sin_port));
	snprintf(cache, sizeof(cache), "%s/debuginfod-cache", tmp);
	setenv("DEBUGINFOD_URLS", url, 1);
	setenv("DEBUGINFOD_CACHE_PATH", cache, 1);
	unsetenv("DEBUGINFOD_TIMEOUT");
	s = symbolizer__new(NULL);
	CHECK(s && symbolizer__snapshot(s, getpid(), 0) == 0);
	start = now_ns(CLOCK_MONOTONIC);
	CHECK_INT(symbolizer__fetch_debuginfo(s, 2), 0);
	CHECK(now_ns(CLOCK_MONOTONIC) - start < 10000000000ULL);
	symbolizer__stats(s, &st);
	CHECK(st.debuginfod_failed > 0);
	CHECK(getenv("DEBUGINFOD_TIMEOUT") == NULL);
	symbolizer__free(s);
	unsetenv("DEBUGINFOD_URLS");
	unsetenv("DEBUGINFOD_CACHE_PATH");
	close(fd);
}

int main(int argc, char **argv)
{
	const char *stripped = argv[1], *debug = argv[2], *unrelated = argv[3];
	char dir[256], bin[320], dbg[400], cmd[300];
	const char *dirs[1];
	size_t nfound, baseline;
	int nlines, fd;
	struct elf_file *e;

	if (argc < 6)
		return 2;
	snprintf(tmp, sizeof(tmp), "/tmp/scorch-debuginfo.XXXXXX");
	if (!mkdtemp(tmp))
		return 1;

	/* the stripped fixture alone: no function name at all */
	snprintf(dir, sizeof(dir), "%s/none", tmp);
	mkdirs(dir);
	snprintf(bin, sizeof(bin), "%s/fixture", dir);
	copy(stripped, bin, 0755);
	CHECK_STR(resolve_in(bin, NULL, 0, &nlines, &nfound), "");
	/* the libraries it maps may have debug files of their own on this machine */
	baseline = nfound;

	/* .gnu_debuglink beside the file */
	snprintf(dir, sizeof(dir), "%s/beside", tmp);
	mkdirs(dir);
	snprintf(bin, sizeof(bin), "%s/fixture", dir);
	copy(stripped, bin, 0755);
	snprintf(dbg, sizeof(dbg), "%s/dwarf-fixture.debug", dir);
	copy(debug, dbg, 0644);
	CHECK_STR(resolve_in(bin, NULL, 0, &nlines, &nfound), "outer_fn");
	CHECK_INT(nlines, 2); /* DWARF from the debug file: the inlined frame too */
	CHECK_INT(nfound, baseline + 1);
	/* without --debug-lines: the debug file's symbols only */
	with_dwarf = false;
	CHECK_STR(resolve_in(bin, NULL, 0, &nlines, &nfound), "outer_fn");
	CHECK_INT(nlines, 1);
	with_dwarf = true;

	/* the same build elsewhere, without a debug file: named through the build-id it shares */
	{
		char lone[320];
		size_t shared = 0;

		snprintf(lone, sizeof(lone), "%s/none/fixture", tmp);
		CHECK_STR(resolve_shared(bin, lone, &shared), "outer_fn");
		CHECK_INT(shared, 1);
	}

	/* in the .debug/ directory beside the file */
	snprintf(dir, sizeof(dir), "%s/dotdebug", tmp);
	snprintf(dbg, sizeof(dbg), "%s/.debug", dir);
	mkdirs(dbg);
	snprintf(bin, sizeof(bin), "%s/fixture", dir);
	copy(stripped, bin, 0755);
	snprintf(dbg, sizeof(dbg), "%s/.debug/dwarf-fixture.debug", dir);
	copy(debug, dbg, 0644);
	CHECK_STR(resolve_in(bin, NULL, 0, &nlines, &nfound), "outer_fn");

	/* a debug file beside it with the right name but another CRC is not used */
	snprintf(dir, sizeof(dir), "%s/badcrc", tmp);
	mkdirs(dir);
	snprintf(bin, sizeof(bin), "%s/fixture", dir);
	copy(stripped, bin, 0755);
	snprintf(dbg, sizeof(dbg), "%s/dwarf-fixture.debug", dir);
	copy(unrelated, dbg, 0644);
	CHECK_STR(resolve_in(bin, NULL, 0, &nlines, &nfound), "");
	CHECK_INT(nfound, baseline);

	/* by build-id under a --debug-dir */
	fd = open(stripped, O_RDONLY);
	e = elf_file__read(fd);
	close(fd);
	CHECK(e && strlen(elf_file__build_id(e)) == 40);
	snprintf(dir, sizeof(dir), "%s/buildid", tmp);
	mkdirs(dir);
	snprintf(bin, sizeof(bin), "%s/fixture", dir);
	copy(stripped, bin, 0755);
	snprintf(dbg, sizeof(dbg), "%s/dbgroot/.build-id/%.2s", tmp, elf_file__build_id(e));
	mkdirs(dbg);
	snprintf(dbg, sizeof(dbg), "%s/dbgroot/.build-id/%.2s/%s.debug", tmp, elf_file__build_id(e),
		 elf_file__build_id(e) + 2);
	/* first an unrelated file under that name: its build-id differs, it is not used */
	copy(unrelated, dbg, 0644);
	snprintf(dir, sizeof(dir), "%s/dbgroot", tmp);
	dirs[0] = dir;
	CHECK_STR(resolve_in(bin, dirs, 1, &nlines, &nfound), "");
	copy(debug, dbg, 0644);
	CHECK_STR(resolve_in(bin, dirs, 1, &nlines, &nfound), "outer_fn");
	CHECK_INT(nlines, 2);
	elf_file__free(e);

	/* MiniDebugInfo: no debug file anywhere, the symbols come from .gnu_debugdata */
	snprintf(dir, sizeof(dir), "%s/mini", tmp);
	mkdirs(dir);
	snprintf(bin, sizeof(bin), "%s/fixture", dir);
	copy(argv[4], bin, 0755);
	fd = open(bin, O_RDONLY);
	e = elf_file__read(fd);
	close(fd);
	CHECK(e && elf_file__has_symtab(e));
	elf_file__free(e);
	CHECK_STR(resolve_in(bin, NULL, 0, &nlines, &nfound), "outer_fn");
	CHECK_INT(nlines, 1); /* symbols only: MiniDebugInfo carries no DWARF */

	/* no build-id: the CRC decides, beside the binary */
	snprintf(dir, sizeof(dir), "%s/nobid", tmp);
	mkdirs(dir);
	snprintf(bin, sizeof(bin), "%s/fixture", dir);
	copy(argv[5], bin, 0755);
	snprintf(dbg, sizeof(dbg), "%s/dwarf-fixture.debug", dir);
	copy(debug, dbg, 0644);
	CHECK_STR(resolve_in(bin, NULL, 0, &nlines, &nfound), "outer_fn");
	/* Regression, "a 4 GiB sparse debuglink target stalled the capture for 30 s": it starts
	 * as an ELF file does, and is far larger than a debug file of this binary could be */
	fd = open(dbg, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "\177ELF", 4) == 4 && ftruncate(fd, 4ULL << 30) == 0);
	close(fd);
	{
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_STR(resolve_in(bin, NULL, 0, &nlines, &nfound), "");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		CHECK(t1.tv_sec - t0.tv_sec < 3);
	}
	test_debuginfod_environment();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		return 1;
	return check_done("test_debuginfo");
}
