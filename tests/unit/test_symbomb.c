// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Symbol bombs (tests/fixtures/symbomb.h): 500,000 symbols sharing one 1000-byte name cost no
 * more than the file's symbol and string tables (not 500 MB of copied names), also as a 12 KB
 * MiniDebugInfo; every file's symbols are charged to one budget and credited back when the file
 * goes; past the budget a file keeps bare addresses, with one warning, counted.
 * Usage: test_symbomb PEAK_MB   (bound on the peak RSS one bomb may add)
 */
#include "check.h"
#include "elf_file.h"
#include "symbolizer.h"
#include "symbomb.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define NSYMS 500000
#define NAMELEN 1000

static char tmp[64];
static size_t peak_bound_kb;

static char warnings[4096];
static int nwarnings;

static void on_warn(void *ctx, const char *msg)
{
	size_t len = strlen(warnings);

	(void)ctx;
	nwarnings++;
	snprintf(warnings + len, sizeof(warnings) - len, "%s\n", msg);
}

/* A bomb written under tmp as name: its path, in one of a few static buffers. */
static const char *write_bomb(const char *name, bool spread, bool mini)
{
	static char paths[4][128];
	static unsigned int next;
	char *path = paths[next++ % 4];
	struct symbomb b = { .nsyms = NSYMS, .namelen = NAMELEN, .spread = spread, .mini = mini };

	snprintf(path, sizeof(paths[0]), "%s/%s", tmp, name);
	CHECK_INT(symbomb_write(&b, path), 0);
	return path;
}

/* A field of /proc/self/status in KB. */
static size_t status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kb = 0, len = strlen(field);

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':')
			kb = strtoull(line + len + 1, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* Start measuring the peak RSS again from the RSS of now (Linux 4.0's clear_refs 5). */
static size_t reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f) {
		fputs("5", f);
		fclose(f);
	}
	return status_kb("VmRSS");
}

static struct elf_file *open_bomb(const char *path, struct elf_symbol_budget *b)
{
	int fd = open(path, O_RDONLY);
	struct elf_file *e = fd >= 0 ? elf_file__read(fd) : NULL;

	if (fd >= 0)
		close(fd);
	CHECK(e != NULL);
	if (e)
		elf_file__set_budget(e, b);
	return e;
}

static bool is_bomb_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n == NAMELEN && strspn(name, "A") == NAMELEN;
}

/*
 * The names cost the string table once; the table of symbols what the file's has (or one
 * entry, all at one address); the peak while it is read stays small.
 */
static void test_costs_its_tables(const char *name, bool spread, bool mini)
{
	struct elf_symbol_budget b = { .max = (size_t)256 << 20 };
	const char *path = write_bomb(name, spread, mini);
	size_t strtab = NAMELEN + 2, rss, peak;
	const char *sym = NULL;
	struct elf_file *e;

	rss = reset_peak();
	e = open_bomb(path, &b);
	if (!e)
		return;
	CHECK_INT(elf_file__symbol(e, SYMBOMB_TEXT, &sym, NULL), 0);
	CHECK(is_bomb_name(sym));
	peak = status_kb("VmHWM");
	CHECK_INT(elf_file__nsymbols(e), spread ? NSYMS : 1);
	CHECK_INT(elf_file__symbol_bytes(e), b.used);
	CHECK(elf_file__symbol_bytes(e) <= elf_file__nsymbols(e) * sizeof(Elf64_Sym) + strtab);
	CHECK(!(elf_file__problems(e) & ELF_WARN_BUDGET));
	CHECK(peak - rss <= peak_bound_kb);
	if (peak - rss > peak_bound_kb)
		fprintf(stderr, "%s: peak RSS +%zu KB reading it\n", name, peak - rss);
	/* the names are ours: the file's pages given back, they stay */
	elf_file__release_pages(e);
	CHECK(is_bomb_name(sym));
	elf_file__free(e);
	CHECK_INT(b.used, 0);
	CHECK_INT(b.refused, 0);
	unlink(path);
}

/* Over the budget: no symbols, nothing held, counted once; the budget comes back on free. */
static void test_budget(void)
{
	struct elf_symbol_budget b = { .max = (size_t)4 << 20 };
	const char *spread = write_bomb("over", true, false);
	const char *mini = NULL;
	struct elf_file *e = open_bomb(spread, &b), *e2;
	const char *sym = NULL;

	if (!e)
		return;
	CHECK_INT(elf_file__symbol(e, SYMBOMB_TEXT, &sym, NULL), -ENOENT);
	CHECK_INT(elf_file__nsymbols(e), 0);
	CHECK(elf_file__problems(e) & ELF_WARN_BUDGET);
	CHECK_INT(b.used, 0);
	CHECK_INT(b.refused, 1);
	/* the same as MiniDebugInfo: its decompressed table does not fit either */
	mini = write_bomb("over-mini", true, true);
	e2 = open_bomb(mini, &b);
	CHECK(e2 && elf_file__symbol(e2, SYMBOMB_TEXT, &sym, NULL) == -ENOENT);
	CHECK(e2 && (elf_file__problems(e2) & ELF_WARN_BUDGET));
	CHECK_INT(b.used, 0);
	CHECK_INT(b.refused, 2);
	elf_file__free(e2);
	elf_file__free(e);

	/* two files within one budget: each charges, each gives back */
	b = (struct elf_symbol_budget){ .max = (size_t)64 << 20 };
	e = open_bomb(spread, &b);
	e2 = open_bomb(spread, &b);
	CHECK(e && e2 && elf_file__nsymbols(e) == NSYMS && elf_file__nsymbols(e2) == NSYMS);
	CHECK(e && e2 && b.used == elf_file__symbol_bytes(e) + elf_file__symbol_bytes(e2) &&
	      b.used > 0);
	elf_file__free(e);
	CHECK(e2 && b.used == elf_file__symbol_bytes(e2));
	elf_file__free(e2);
	CHECK_INT(b.used, 0);
	CHECK_INT(b.refused, 0);
}

/* The bomb's code mapped into this process, as a profiled process maps a library. */
static char *map_code(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *m = fd >= 0 ? mmap(NULL, 2 * SYMBOMB_TEXT, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0)
			  : MAP_FAILED;

	if (fd >= 0)
		close(fd);
	CHECK(m != MAP_FAILED);
	return m == MAP_FAILED ? NULL : m;
}

/*
 * Through the symbolizer, this process profiling itself: within the default budget the bomb is
 * named; with a small one two bombs keep bare addresses, said once, both counted.
 */
static void test_symbolizer(void)
{
	const char *p1 = write_bomb("sym1", true, false);
	char *m1 = map_code(p1);
	const char *p2 = write_bomb("sym2", false, true);
	char *m2 = map_code(p2);
	struct symbolizer_opts opts = { .warn = on_warn };
	struct symbolizer_stats st;
	struct symbolizer *s;
	struct sym_frame f;
	char want[512];
	size_t held;

	if (!m1 || !m2)
		return;
	s = symbolizer__new(&opts);
	CHECK_INT(symbolizer__snapshot(s, getpid(), 1), 0);
	CHECK_INT(symbolizer__resolve_user(s, getpid(), 1, (uintptr_t)m1 + SYMBOMB_TEXT, &f), 0);
	CHECK(is_bomb_name(f.function));
	/* all its symbols, at addresses of their own, and the one name */
	held = f.mapping ? elf_file__symbol_bytes(f.mapping->elf) : 0;
	CHECK(held > 0 && held <= NSYMS * sizeof(Elf64_Sym) + NAMELEN + 2);
	CHECK_INT(symbolizer__resolve_user(s, getpid(), 1, (uintptr_t)m2 + SYMBOMB_TEXT, &f), 0);
	CHECK(is_bomb_name(f.function));
	/* one symbol (all at one address) and the name */
	CHECK(f.mapping && elf_file__symbol_bytes(f.mapping->elf) <= 2 * NAMELEN);
	held += f.mapping ? elf_file__symbol_bytes(f.mapping->elf) : 0;
	symbolizer__stats(s, &st);
	/* and this process's other files, within the budget */
	CHECK(st.symbol_bytes >= held && st.symbol_bytes <= ((size_t)512 << 20));
	CHECK_INT(st.symbols_over_budget, 0);
	symbolizer__free(s);

	warnings[0] = 0;
	nwarnings = 0;
	opts.max_symbol_bytes = (size_t)4 << 20;
	s = symbolizer__new(&opts);
	CHECK_INT(symbolizer__snapshot(s, getpid(), 1), 0);
	CHECK_INT(symbolizer__resolve_user(s, getpid(), 1, (uintptr_t)m1 + SYMBOMB_TEXT, &f),
		  -ENOENT);
	CHECK(f.function == NULL && f.mapping);
	CHECK_INT(symbolizer__resolve_user(s, getpid(), 1, (uintptr_t)m2 + SYMBOMB_TEXT, &f),
		  -ENOENT);
	CHECK(f.function == NULL && f.mapping);
	snprintf(want, sizeof(want),
		 "'%s': symbol tables over their memory budget (4 MiB for all files), keeping bare "
		 "addresses for it and any other file past the budget\n",
		 p1);
	CHECK_STR(warnings, want);
	CHECK_INT(nwarnings, 1);
	symbolizer__stats(s, &st);
	CHECK_INT(st.symbols_over_budget, 2);
	CHECK(st.symbol_bytes <= opts.max_symbol_bytes);
	symbolizer__free(s);
	munmap(m1, 2 * SYMBOMB_TEXT);
	munmap(m2, 2 * SYMBOMB_TEXT);
}

int main(int argc, char **argv)
{
	char cmd[128];

	if (argc < 2)
		return 2;
	peak_bound_kb = strtoul(argv[1], NULL, 10) * 1024;
	snprintf(tmp, sizeof(tmp), "/tmp/scorch-symbomb.XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	test_costs_its_tables("same", false, false);
	test_costs_its_tables("spread", true, false);
	test_costs_its_tables("mini", false, true);
	test_costs_its_tables("mini-spread", true, true);
	test_budget();
	test_symbolizer();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		return 1;
	return check_done("test_symbomb");
}
