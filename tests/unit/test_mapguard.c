// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * An ELF file that shrinks while scorch has it mapped (its owner truncates it) costs no crash:
 * what is read past the new end reads as zeros, the file is said to have shrunk (once), its
 * lookups fail cleanly and what was read before is kept. A SIGBUS anywhere else still ends the
 * process, or reaches the handler there was before; the registry holds while threads change it.
 * Usage: test_mapguard DWARF_FIXTURE
 */
#include "check.h"
#include "dwarf_frames.h"
#include "elf_file.h"
#include "mapguard.h"
#include "symbolizer.h"
#include "unwind.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[64];
static const char *orig;
static long page;
/* SIGBUS had its default action before the guard (no sanitizer's handler) */
static bool default_sigbus;

static char warnings[4096];
static int nwarnings;

static void on_warn(void *ctx, const char *msg)
{
	size_t len = strlen(warnings);

	(void)ctx;
	nwarnings++;
	snprintf(warnings + len, sizeof(warnings) - len, "%s\n", msg);
}

/* A fresh copy of the fixture under tmp, named name; its path in a static buffer. */
static const char *copy_of(const char *name)
{
	static char path[128];
	char buf[65536];
	int in = open(orig, O_RDONLY), out;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	CHECK(in >= 0 && out >= 0);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		CHECK(write(out, buf, n) == n);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return path;
}

static struct elf_file *read_path(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct elf_file *e = fd >= 0 ? elf_file__read(fd) : NULL;

	if (fd >= 0)
		close(fd);
	CHECK(e != NULL);
	return e;
}

/* The virtual address of a symbol of the fixture, found with libelf; 0 if none. */
static uint64_t symbol_value(const char *name)
{
	int fd = open(orig, O_RDONLY);
	Elf *elf;
	Elf_Scn *scn = NULL;
	uint64_t v = 0;

	elf_version(EV_CURRENT);
	elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	while (elf && !v && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *d = elf_getdata(scn, NULL);
		GElf_Shdr sh;
		GElf_Sym sym;

		if (!d || !gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		for (size_t i = 0; gelf_getsym(d, i, &sym); i++) {
			const char *n = elf_strptr(elf, sh.sh_link, sym.st_name);

			if (n && !strcmp(n, name)) {
				v = sym.st_value;
				break;
			}
		}
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return v;
}

/* Where the fixture's last PT_LOAD starts, rounded down to a page: all after it is cut. */
static off_t last_load_page(void)
{
	int fd = open(orig, O_RDONLY);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	size_t n = 0;
	off_t off = 0;

	if (elf && elf_getphdrnum(elf, &n) == 0)
		for (size_t i = 0; i < n; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, i, &ph) && ph.p_type == PT_LOAD &&
			    (off_t)ph.p_offset > off)
				off = ph.p_offset;
		}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return off & ~(off_t)(page - 1);
}

/* Symbols of the intact fixture. */
static size_t intact_symbols;

static void cut(const char *path, off_t size)
{
	CHECK_INT(truncate(path, size), 0);
}

/* A file mapping of no guard: read past its end after it is emptied. Never returns. */
static void unguarded_fault(void)
{
	char path[128];
	int fd;
	char *m;

	snprintf(path, sizeof(path), "%s/unguarded.%d", tmp, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 2 * page))
		_exit(3);
	m = mmap(NULL, 2 * page, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED || ftruncate(fd, 0))
		_exit(3);
	unlink(path);
	(void)*(volatile char *)(m + page);
	_exit(0);
}

/* How a child ended: its exit status, or 1000 + the signal that ended it. */
static int child_end(pid_t pid)
{
	int st = 0;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 1000 + WTERMSIG(st) : -1;
}

static void on_previous(int sig, siginfo_t *si, void *uctx)
{
	(void)sig;
	(void)si;
	(void)uctx;
	_exit(42);
}

/*
 * Before anything in this process is guarded: a handler the program had gets the faults that
 * are not in a guarded range, and the guarded ones still read zeros.
 */
static void test_chains_to_previous(void)
{
	const char *path = copy_of("chain");
	pid_t pid = fork();

	if (pid == 0) {
		struct sigaction sa = { .sa_sigaction = on_previous, .sa_flags = SA_SIGINFO };
		struct elf_file *e;

		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, NULL);
		e = read_path(path);
		if (!e || truncate(path, page))
			_exit(3);
		/* guarded: zeros, the program's handler is not called */
		elf_file__nsymbols(e);
		if (!(elf_file__problems(e) & ELF_WARN_SHRANK))
			_exit(4);
		unguarded_fault();
	}
	CHECK_INT(child_end(pid), 42);
}

/* With the guard in place, a fault outside every guarded range ends the process as before. */
static void test_other_faults_still_fatal(void)
{
	int end;
	pid_t pid = fork();

	if (pid == 0)
		unguarded_fault();
	end = child_end(pid);
	if (default_sigbus)
		CHECK_INT(end, 1000 + SIGBUS);
	else /* a sanitizer's handler reports it and ends the process its own way */
		CHECK(end != 0 && end != -1);
	/* and a SIGBUS sent (not a fault) too */
	pid = fork();
	if (pid == 0) {
		raise(SIGBUS);
		_exit(0);
	}
	end = child_end(pid);
	if (default_sigbus)
		CHECK_INT(end, 1000 + SIGBUS);
	else
		CHECK(end != 0 && end != -1);
}

static struct elf_file *code_file;

static int code_self(void *ctx, uint64_t pc, struct elf_file **ret_elf, uint64_t *ret_vaddr)
{
	(void)ctx;
	*ret_elf = code_file;
	*ret_vaddr = pc;
	return 0;
}

/* Unwind from every few bytes of the file's code over an empty stack: must not crash. */
static void unwind_through(struct elf_file *e)
{
	uint64_t lo, hi, pcs[16], stack[64] = { 0 };
	struct unwind_input in = { .stack = (const uint8_t *)stack, .len = sizeof(stack) };
	uint32_t nr;

	code_file = e;
	if (elf_file__exec_range(e, &lo, &hi))
		return;
	in.base = 0x7ff000000000ULL;
	for (uint64_t v = lo; v < hi; v += 5) {
		in.regs[UNWIND_REG_SP] = in.base + 128;
		in.regs[UNWIND_REG_PC] = v;
		unwind_stack(&in, code_self, NULL, NULL, pcs, 16, &nr, NULL);
	}
}

/* Cut after the symbols, DWARF and section headers were mapped, before any was read. */
static void test_cut_before_reading(uint64_t outer)
{
	const char *path = copy_of("cut-early");
	struct dwarf_frame df[8];
	struct elf_file *e = read_path(path);
	const char *name = NULL;

	if (!e)
		return;
	cut(path, last_load_page());
	/*
	 * Zeros for what was cut: no symbols but those in the page or two of the section headers,
	 * which are a copy (the fixture's table ends beside them, or not, as the build lays it out)
	 */
	CHECK(elf_file__nsymbols(e) < intact_symbols);
	CHECK(elf_file__symbol(e, outer, &name, NULL) == -ENOENT || !strcmp(name, "outer_fn"));
	CHECK(elf_file__problems(e) & ELF_WARN_SHRANK);
	CHECK(elf_file__dwarf(e) == NULL);
	CHECK(!elf_file__has_dwarf(e));
	CHECK_INT(dwarf__frames(elf_file__dwarf(e), outer, df, 8), 0);
	CHECK(elf_file__cfi(e) == NULL);
	unwind_through(e);
	/* its pages given back and read again: the same */
	elf_file__release_pages(e);
	CHECK(elf_file__symbol(e, outer, &name, NULL) == -ENOENT || !strcmp(name, "outer_fn"));
	elf_file__free(e);
}

/* Symbols read, then the file cut to its first page: the names stay, the rest is gone. */
static void test_cut_after_symbols(uint64_t outer)
{
	const char *path = copy_of("cut-late");
	struct dwarf_frame df[8];
	struct elf_file *e = read_path(path);
	const char *name = NULL, *again = NULL;

	if (!e)
		return;
	CHECK_INT(elf_file__symbol(e, outer, &name, NULL), 0);
	CHECK_STR(name, "outer_fn");
	cut(path, page);
	elf_file__release_pages(e);
	CHECK(!(elf_file__problems(e) & ELF_WARN_SHRANK));
	/* DWARF lines: read from the cut part, the first read faults */
	CHECK_INT(dwarf__frames(elf_file__dwarf(e), outer, df, 8), 0);
	CHECK(elf_file__problems(e) & ELF_WARN_SHRANK);
	CHECK(elf_file__cfi(e) == NULL);
	CHECK_INT(elf_file__symbol(e, outer, &again, NULL), 0);
	CHECK_STR(again, "outer_fn");
	CHECK_STR(name, "outer_fn");
	unwind_through(e);
	elf_file__free(e);
}

/* The call frame information itself is cut: the unwinder's first look faults. */
static void test_cut_cfi(void)
{
	const char *path = copy_of("cut-cfi");
	struct elf_file *e = read_path(path);

	if (!e)
		return;
	cut(path, page);
	elf_file__release_pages(e);
	unwind_through(e);
	CHECK(elf_file__problems(e) & ELF_WARN_SHRANK);
	CHECK(elf_file__cfi(e) == NULL);
	elf_file__free(e);
}

/*
 * Through the symbolizer, as a profiled process's library: the test maps the fixture's code
 * itself and is its own profiled process. Cut after the snapshot: one warning naming the file,
 * bare addresses; and what was resolved before the cut stays resolved.
 */
static void test_symbolizer(uint64_t outer, bool resolve_first)
{
	const char *path = copy_of(resolve_first ? "sym-late" : "sym-early");
	struct symbolizer_opts opts = { .warn = on_warn };
	struct symbolizer *s = symbolizer__new(&opts);
	struct symbolizer_stats st;
	char want[256];
	struct sym_frame f;
	int fd = open(path, O_RDONLY);
	char *m =
	    fd >= 0 ? mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, page) : MAP_FAILED;
	uint64_t addr = (uintptr_t)m + outer - page;

	if (fd >= 0)
		close(fd);
	CHECK(s && m != MAP_FAILED && outer >= (uint64_t)page && outer < 2 * (uint64_t)page);
	if (!s || m == MAP_FAILED) {
		symbolizer__free(s);
		return;
	}
	warnings[0] = 0;
	nwarnings = 0;
	CHECK_INT(symbolizer__snapshot(s, getpid(), 1), 0);
	if (resolve_first) {
		CHECK_INT(symbolizer__resolve_user(s, getpid(), 1, addr, &f), 0);
		CHECK_STR(f.function, "outer_fn");
	}
	cut(path, last_load_page());
	symbolizer__release_pages(s, true);
	symbolizer__resolve_user(s, getpid(), 1, addr, &f);
	if (resolve_first) {
		/* the frame resolved before, cached: its names are ours, not the file's */
		CHECK_STR(f.function, "outer_fn");
		/* another address of the file reads its (cut) DWARF: the symbol is kept */
		CHECK_INT(symbolizer__resolve_user(s, getpid(), 1, addr + 1, &f), 0);
		CHECK_STR(f.function, "outer_fn");
		CHECK_INT(f.nlines, 1);
	} else {
		/* bare, unless its symbol lay beside the section headers (a copy) */
		CHECK(f.function == NULL || !strcmp(f.function, "outer_fn"));
		CHECK(f.mapping && f.mapping->elf);
	}
	/* more lookups: no more warnings */
	symbolizer__resolve_user(s, getpid(), 1, addr + 2, &f);
	symbolizer__unwind_stopped(s, getpid(), 1, addr, "no unwind info");
	snprintf(want, sizeof(want), "'%s': file shrank while being read, keeping what was read\n",
		 path);
	CHECK_STR(warnings, want);
	CHECK_INT(nwarnings, 1);
	symbolizer__stats(s, &st);
	CHECK_INT(st.files_shrank, 1);
	munmap(m, page);
	symbolizer__free(s);
}

static bool stop_churn, churn_started;

/* Another thread adding and removing ranges all along. */
static void *churn(void *arg)
{
	void *p = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long *n = arg;

	for (*n = 0;
	     p != MAP_FAILED && *n < 1000000 && !__atomic_load_n(&stop_churn, __ATOMIC_RELAXED);
	     ++*n) {
		int slot = mapguard__add(p, page);

		__atomic_store_n(&churn_started, true, __ATOMIC_RELAXED);

		if (slot < 0)
			break;
		mapguard__remove(slot);
	}
	if (p != MAP_FAILED)
		munmap(p, page);
	return NULL;
}

/* Faults in guarded ranges while the registry changes: every one read as zeros. */
static void test_registry_under_churn(void)
{
	char path[128];
	pthread_t t;
	long churned = 0;
	int answered = 0;

	CHECK_INT(mapguard__add(NULL, page), -EINVAL);
	CHECK_INT(mapguard__add((char *)&answered + 1, page), -EINVAL);
	snprintf(path, sizeof(path), "%s/churn", tmp);
	CHECK_INT(pthread_create(&t, NULL, churn, &churned), 0);
	/* the faults below must meet the churn: wait (at most 10 s) until it runs */
	for (int i = 0; i < 10000 && !__atomic_load_n(&churn_started, __ATOMIC_RELAXED); i++)
		usleep(1000);
	for (int i = 0; i < 200; i++) {
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		char *m;
		int slot;

		if (fd < 0 || ftruncate(fd, 3 * page)) {
			CHECK(0);
			break;
		}
		m = mmap(NULL, 3 * page, PROT_READ, MAP_PRIVATE, fd, 0);
		slot = m != MAP_FAILED ? mapguard__add(m, 3 * page) : -1;
		if (slot >= 0 && ftruncate(fd, page) == 0 && m[2 * page + 7] == 0 && m[page] == 0 &&
		    mapguard__tripped(slot))
			answered++;
		mapguard__remove(slot);
		if (m != MAP_FAILED)
			munmap(m, 3 * page);
		close(fd);
	}
	__atomic_store_n(&stop_churn, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	CHECK_INT(answered, 200);
	CHECK(churned > 0);
	unlink(path);
}

int main(int argc, char **argv)
{
	struct sigaction before;
	uint64_t outer;
	char cmd[128];

	if (argc < 2)
		return 2;
	orig = argv[1];
	page = sysconf(_SC_PAGESIZE);
	snprintf(tmp, sizeof(tmp), "/tmp/scorch-mapguard.XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	sigaction(SIGBUS, NULL, &before);
	default_sigbus = !(before.sa_flags & SA_SIGINFO) && before.sa_handler == SIG_DFL;
	outer = symbol_value("outer_fn");
	CHECK(outer != 0);

	/* first: nothing may be guarded in this process before it */
	test_chains_to_previous();
	{
		struct elf_file *e = read_path(orig);

		intact_symbols = e ? elf_file__nsymbols(e) : 0;
		CHECK(intact_symbols > 0);
		elf_file__free(e);
	}
	test_cut_before_reading(outer);
	test_cut_after_symbols(outer);
	test_cut_cfi();
	test_other_faults_still_fatal();
	test_symbolizer(outer, false);
	test_symbolizer(outer, true);
	test_registry_under_churn();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		return 1;
	return check_done("test_mapguard");
}
