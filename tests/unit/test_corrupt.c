// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Corrupt and truncated files never crash the symbolizer or the unwinder: each falls back to what
 * can still be read (the symbol table, or bare addresses) with one warning. The test makes its
 * own broken copies of the DWARF fixture: cut short, section headers past the end, 70,000
 * sections, garbage .debug_info, garbage .eh_frame and .eh_frame_hdr.
 * Usage: test_corrupt DWARF_FIXTURE
 */
#include "check.h"
#include "elf_file.h"
#include "fixture_proc.h"
#include "symbolizer.h"
#include "unwind.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[64];
static int warnings;
static char all_warnings[2048];

static void on_warn(void *ctx, const char *msg)
{
	size_t len = strlen(all_warnings);

	(void)ctx;
	warnings++;
	snprintf(all_warnings + len, sizeof(all_warnings) - len, "%s\n", msg);
}

static unsigned char *slurp(const char *path, size_t *ret_size)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	unsigned char *buf = NULL;

	if (fd >= 0 && fstat(fd, &st) == 0 && (buf = malloc(st.st_size)) &&
	    read(fd, buf, st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	*ret_size = buf ? (size_t)st.st_size : 0;
	if (fd >= 0)
		close(fd);
	return buf;
}

static void spit(const char *path, const unsigned char *buf, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);

	CHECK(fd >= 0 && write(fd, buf, size) == (ssize_t)size);
	if (fd >= 0)
		close(fd);
}

/* File offset and size of a named section of the original, found with libelf. */
static bool find_section(const char *path, const char *name, size_t *ret_off, size_t *ret_size)
{
	int fd = open(path, O_RDONLY);
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	bool found = false;

	elf_version(EV_CURRENT);
	elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0)
		while (!found && (scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *n;

			if (!gelf_getshdr(scn, &sh))
				continue;
			n = elf_strptr(elf, shstrndx, sh.sh_name);
			if (n && !strcmp(n, name) && sh.sh_type != SHT_NOBITS) {
				*ret_off = sh.sh_offset;
				*ret_size = sh.sh_size;
				found = true;
			}
		}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return found;
}

static void garble(const char *orig, unsigned char *buf, const char *section)
{
	size_t off = 0, size = 0;

	CHECK(find_section(orig, section, &off, &size));
	srand(7);
	for (size_t i = 0; i < size; i++)
		buf[off + i] = rand();
}

/* Read a broken file directly: no crash, lookups answer something or nothing. */
static struct elf_file *read_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct elf_file *e = fd >= 0 ? elf_file__read(fd) : NULL;
	uint64_t lo, hi, start;
	const char *name;

	if (fd >= 0)
		close(fd);
	CHECK(e != NULL);
	if (!e)
		return NULL;
	elf_file__dwarf(e);
	if (elf_file__exec_range(e, &lo, &hi) == 0)
		for (uint64_t v = lo; v < hi; v += (hi - lo) / 64 + 1)
			elf_file__symbol(e, v, &name, &start);
	return e;
}

static struct elf_file *code_file;

static int code_self(void *ctx, uint64_t pc, struct elf_file **ret_elf, uint64_t *ret_vaddr)
{
	(void)ctx;
	*ret_elf = code_file;
	*ret_vaddr = pc;
	return 0;
}

/* Unwind through every part of a file's code over an empty stack: never crashes. */
static void unwind_everywhere(struct elf_file *e, int *ret_complete)
{
	uint64_t lo, hi, pcs[16], stack[64] = { 0 };
	struct unwind_input in = { .stack = (const uint8_t *)stack, .len = sizeof(stack) };
	struct unwind_cache *cache;
	uint32_t nr;

	*ret_complete = 0;
	code_file = e;
	if (elf_file__exec_range(e, &lo, &hi))
		return;
	cache = unwind_cache__new(256);
	in.base = 0x7ff000000000ULL;
	for (uint64_t v = lo; v < hi; v += 7) {
		/* every other pc through the rule cache */
		struct unwind_cache *use = (v / 7) & 1 ? cache : NULL;

		in.regs[UNWIND_REG_SP] = in.base + 128;
		in.regs[UNWIND_REG_PC] = v;
		*ret_complete += unwind_stack(&in, code_self, NULL, use, pcs, 16, &nr, NULL) ==
				 UNWIND_END_COMPLETE;
	}
	unwind_cache__free(cache);
}

/*
 * The sampled pc at e's entry: a process that has not run yet (argc, argv, NULL at sp) is a
 * whole stack of one frame, tables or not (*ret_start); another stack there is not (a library's
 * e_entry may name any of its functions: *ret_other).
 */
static void unwind_at_entry(struct elf_file *e, enum unwind_end *ret_start,
			    enum unwind_end *ret_other)
{
	uint64_t lo, hi, entry = 0, pcs[4], stack[64] = { 0 };
	struct unwind_input in = { .stack = (const uint8_t *)stack, .len = sizeof(stack) };
	uint32_t nr;

	*ret_start = *ret_other = UNWIND_END_DEPTH;
	code_file = e;
	if (elf_file__exec_range(e, &lo, &hi))
		return;
	for (uint64_t v = lo; v < hi && !entry; v++)
		if (elf_file__is_entry(e, v))
			entry = v;
	in.base = 0x7ff000000000ULL;
	in.regs[UNWIND_REG_PC] = entry;
	in.regs[UNWIND_REG_SP] = in.base + 64;
	stack[8] = 0x401000; /* a return address, not argc */
	*ret_other = unwind_stack(&in, code_self, NULL, NULL, pcs, 4, &nr, NULL);
	stack[8] = 1; /* argc, argv[0] above, NULL */
	stack[9] = in.base + 200;
	stack[10] = 0;
	*ret_start = unwind_stack(&in, code_self, NULL, NULL, pcs, 4, &nr, NULL);
}

/* Run a (runnable) broken copy and symbolize the address it prints, twice. */
static const char *run_and_resolve(const char *path, int *ret_lines)
{
	static char name[128];
	struct symbolizer_opts opts = { .warn = on_warn };
	struct symbolizer *s = symbolizer__new(&opts);
	unsigned long addr = 0;
	struct sym_frame f;
	int in = -1, line;
	FILE *o = NULL;
	pid_t pid;

	name[0] = 0;
	*ret_lines = 0;
	pid = fixture_start(path, &o, &in);
	if (pid < 0)
		return name;
	if (fscanf(o, "inline %lx %d", &addr, &line) == 2 && symbolizer__snapshot(s, pid, 1) == 0) {
		for (int i = 0; i < 2; i++)
			if (symbolizer__resolve_user(s, pid, 1, addr - 1, &f) == 0 && f.function) {
				snprintf(name, sizeof(name), "%s", f.function);
				*ret_lines = f.nlines;
			}
		/* the unwinder stopping in this file twice: still one warning */
		symbolizer__unwind_stopped(s, pid, 1, addr, "no unwind info");
		symbolizer__unwind_stopped(s, pid, 1, addr, "no unwind info");
	}
	fixture_finish(pid, o, in);
	symbolizer__free(s);
	return name;
}

int main(int argc, char **argv)
{
	const char *orig = argv[1];
	unsigned char *buf;
	char path[128];
	size_t size;
	struct elf_file *e;
	int lines, complete;

	if (argc < 2)
		return 2;
	snprintf(tmp, sizeof(tmp), "/tmp/scorch-corrupt.XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	buf = slurp(orig, &size);
	CHECK(buf && size > 4096);
	if (!buf)
		return 1;

	/* the intact fixture, for reference: DWARF names the inlined function, CFI unwinds */
	CHECK_STR(run_and_resolve(orig, &lines), "outer_fn");
	CHECK_INT(lines, 2);
	e = read_file(orig);
	unwind_everywhere(e, &complete);
	CHECK(elf_file__cfi(e) != NULL);
	elf_file__free(e);

	/* cut short: whatever is read is kept, the rest is an error */
	snprintf(path, sizeof(path), "%s/truncated", tmp);
	spit(path, buf, size * 2 / 5);
	e = read_file(path);
	CHECK(e && elf_file__error(e) != NULL);
	if (e)
		unwind_everywhere(e, &complete);
	elf_file__free(e);

	/* section headers past the end of the file: no symbols, an error, no crash */
	snprintf(path, sizeof(path), "%s/shoff", tmp);
	{
		unsigned char *copy = malloc(size);
		Elf64_Ehdr *eh = (Elf64_Ehdr *)copy;

		memcpy(copy, buf, size);
		eh->e_shoff = size + 4096;
		spit(path, copy, size);
		free(copy);
	}
	e = read_file(path);
	CHECK(e && elf_file__nsymbols(e) == 0 && elf_file__error(e) != NULL);
	elf_file__free(e);

	/*
	 * More sections than any program has, in a table that the file does hold (70,000 empty
	 * headers past its end, counted by extended numbering): refused before libelf keeps ~200
	 * bytes for each
	 */
	snprintf(path, sizeof(path), "%s/sections", tmp);
	{
		size_t n = 70000, big = size + n * sizeof(Elf64_Shdr);
		unsigned char *copy = calloc(1, big);
		Elf64_Ehdr *eh = (Elf64_Ehdr *)copy;
		Elf64_Shdr *first = (Elf64_Shdr *)(copy + size);

		memcpy(copy, buf, size);
		eh->e_shoff = size;
		eh->e_shnum = 0;
		eh->e_shstrndx = 0;
		first->sh_size = n;
		spit(path, copy, big);
		free(copy);
	}
	e = read_file(path);
	CHECK(e && elf_file__nsymbols(e) == 0);
	CHECK_STR(e ? elf_file__error(e) : NULL, "too many sections");
	elf_file__free(e);

	/* garbage .debug_info: the symbol table names the function, one warning for the file */
	snprintf(path, sizeof(path), "%s/debug-info", tmp);
	{
		unsigned char *copy = malloc(size);

		memcpy(copy, buf, size);
		garble(orig, copy, ".debug_info");
		spit(path, copy, size);
		free(copy);
	}
	warnings = 0;
	all_warnings[0] = 0;
	CHECK_STR(run_and_resolve(path, &lines), "outer_fn");
	CHECK_INT(lines, 1);
	CHECK(strstr(all_warnings, "corrupt DWARF") != NULL);
	/* one for the DWARF, one for the unwinder stopping in the file */
	CHECK_INT(warnings, 2);

	/* garbage .eh_frame and .eh_frame_hdr: names still come, unwinding never completes */
	snprintf(path, sizeof(path), "%s/eh-frame", tmp);
	{
		unsigned char *copy = malloc(size);

		memcpy(copy, buf, size);
		garble(orig, copy, ".eh_frame");
		garble(orig, copy, ".eh_frame_hdr");
		spit(path, copy, size);
		free(copy);
	}
	e = read_file(path);
	if (e) {
		enum unwind_end start, other;

		unwind_everywhere(e, &complete);
		CHECK_INT(complete, 0);
		unwind_at_entry(e, &start, &other);
		CHECK_INT(start, UNWIND_END_COMPLETE);
		CHECK(other != UNWIND_END_COMPLETE);
	}
	elf_file__free(e);
	warnings = 0;
	all_warnings[0] = 0;
	CHECK_STR(run_and_resolve(path, &lines), "outer_fn");
	CHECK_INT(warnings, 1);
	CHECK(strstr(all_warnings, "stacks through it are truncated") != NULL);

	free(buf);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
	if (system(path) != 0)
		return 1;
	return check_done("test_corrupt");
}
