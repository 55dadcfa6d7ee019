// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * DWARF symbolization against live fixtures: an inlined function is a frame of its own with
 * its line, the caller's line is the call site; C++ names are demangled with the raw name kept;
 * source paths are absolute and normalized; compressed debug sections read as well.
 * Usage: test_dwarf C_FIXTURE CPP_FIXTURE C_FIXTURE_COMPRESSED
 */
#include "check.h"
#include "fixture_proc.h"
#include "dwarf_frames.h"
#include "symbolizer.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static void test_inline(const char *path)
{
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_frame f;
	unsigned long addr = 0;
	int call_line = 0, in = -1;
	FILE *out = NULL;
	pid_t pid = fixture_start(path, &out, &in);

	CHECK(pid > 0 && out);
	if (pid <= 0 || !out) {
		symbolizer__free(s);
		return;
	}

	CHECK(fscanf(out, "inline %lx %d", &addr, &call_line) == 2);
	CHECK_INT(symbolizer__snapshot(s, pid, 1), 0);
	/* the lea's own address (its result is the next instruction, past the inlined range) */
	CHECK_INT(symbolizer__resolve_user(s, pid, 1, addr - 1, &f), 0);
	CHECK_INT(f.nlines, 2);
	if (f.nlines == 2) {
		CHECK_STR(f.lines[0].function, "inlined_leaf");
		CHECK_STR(f.lines[1].function, "outer_fn");
		CHECK_STR(f.function, "outer_fn");
		/* the caller's line is where it called the inlined function */
		CHECK_INT(f.lines[1].line, call_line);
		/* the inlined function's line lies in its body, after its declaration */
		CHECK(f.lines[0].line > f.lines[0].decl_line && f.lines[0].decl_line > 0);
		CHECK(f.lines[0].line < call_line);
		CHECK(ends_with(f.lines[0].file, "/tests/fixtures/dwarf_fixture.c"));
		CHECK(f.lines[0].file && f.lines[0].file[0] == '/' &&
		      !strstr(f.lines[0].file, ".."));
		CHECK(ends_with(f.lines[1].decl_file, "/tests/fixtures/dwarf_fixture.c"));
	}
	CHECK(f.mapping && f.mapping->elf);
	fixture_finish(pid, out, in);
	symbolizer__free(s);
}

static void test_cpp(const char *path)
{
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_frame f;
	unsigned long addr = 0;
	int in = -1;
	FILE *out = NULL;
	pid_t pid = fixture_start(path, &out, &in);

	CHECK(pid > 0 && out);
	if (pid <= 0 || !out) {
		symbolizer__free(s);
		return;
	}

	CHECK(fscanf(out, "cpp %lx", &addr) == 1);
	CHECK_INT(symbolizer__snapshot(s, pid, 1), 0);
	CHECK_INT(symbolizer__resolve_user(s, pid, 1, addr, &f), 0);
	CHECK(f.nlines >= 1);
	if (f.nlines >= 1) {
		CHECK_STR(f.lines[f.nlines - 1].function, "scorch_test::Widget::where(int)");
		CHECK_STR(f.lines[f.nlines - 1].system_name, "_ZN11scorch_test6Widget5whereEi");
	}
	fixture_finish(pid, out, in);
	symbolizer__free(s);
}

static void test_paths(void)
{
	char buf[256];

	CHECK_STR(dwarf__source_path("/work/build", "../src/a.c", buf, sizeof(buf)),
		  "/work/src/a.c");
	CHECK_STR(dwarf__source_path("/work/build", "/abs/./b.c", buf, sizeof(buf)), "/abs/b.c");
	CHECK_STR(dwarf__source_path(NULL, "rel/../c.c", buf, sizeof(buf)), "c.c");
	CHECK_STR(dwarf__source_path(NULL, "../../d.c", buf, sizeof(buf)), "../../d.c");
	CHECK_STR(dwarf__source_path("/", "../../e.c", buf, sizeof(buf)), "/e.c");
	CHECK_STR(dwarf__source_path("/a/b", "x//y/./z.c", buf, sizeof(buf)), "/a/b/x/y/z.c");
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: test_dwarf C_FIXTURE CPP_FIXTURE C_FIXTURE_COMPRESSED\n");
		return 2;
	}
	test_paths();
	test_inline(argv[1]);
	test_cpp(argv[2]);
	/* compressed debug sections: libdw decompresses them, writing to their section headers */
	test_inline(argv[3]);
	return check_done("test_dwarf");
}
