// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The CFI unwinder, without BPF: the test takes its own registers and a copy of its stack deep
 * in a chain of calls (built without frame pointers), and unwinds them through its own
 * mappings as the profiler would: every caller up to _start, in order, and the end is
 * "complete". A short copy, garbage registers and a garbage stack end the unwind with the right
 * reason and never crash. The frame-pointer judgement of files: the workload's library built by
 * clang with frame pointers everywhere keeps them; built by gcc 12 with -fno-omit-frame-pointer
 * (its leaf function stays frameless) or without frame pointers, it does not.
 * Usage: test_unwind LIB_ALL_FP LIB_GCC_FP LIB_WITHOUT_FP
 */
#include "check.h"
#include "elf_file.h"
#include "symbolizer.h"
#include "unwind.h"

#include <elf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COPY_BYTES 16384

static struct unwind_input captured;
static uint8_t stack_copy[COPY_BYTES];
static struct symbolizer *sym;
static struct unwind_cache *cache; /* for the bad-input tests: garbage through the cached path */
static uint32_t self;

/* The end of the mapping holding addr (the stack's top), from /proc/self/maps. */
static uint64_t mapping_end(uint64_t addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	uint64_t lo, hi, ret = 0;
	char line[512];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &lo, &hi) == 2 && addr >= lo && addr < hi)
			ret = hi;
	if (f)
		fclose(f);
	return ret;
}

/* Raw stack memory, poisoned here and there by ASan: read it as the kernel would, unchecked. */
__attribute__((no_sanitize("address"))) static void copy_raw(uint8_t *to, uint64_t from, size_t len)
{
	const volatile uint8_t *p = (const volatile uint8_t *)(uintptr_t)from;

	for (size_t i = 0; i < len; i++)
		to[i] = p[i];
}

/* The stack of in's registers, from the red zone below sp up, into buf (COPY_BYTES). */
static void copy_stack(struct unwind_input *in, uint8_t *buf)
{
	uint64_t top;
	size_t len;

	in->base = in->regs[UNWIND_REG_SP] - 128;
	top = mapping_end(in->regs[UNWIND_REG_SP]);
	len = top - in->base < COPY_BYTES ? top - in->base : COPY_BYTES;
	copy_raw(buf, in->base, len);
	in->stack = buf;
	in->len = len;
}

/*
 * Take pc, sp and the callee-saved registers in one go (they must agree with each other),
 * then copy the stack from the red zone up, as the BPF program does.
 */
__attribute__((noinline)) static void capture(void)
{
	uint64_t *r = captured.regs;

	__asm__ volatile("lea 0(%%rip), %%rax\n\t"
			 "mov %%rax, 128(%0)\n\t"
			 "mov %%rsp, 56(%0)\n\t"
			 "mov %%rbp, 48(%0)\n\t"
			 "mov %%rbx, 24(%0)\n\t"
			 "mov %%r12, 96(%0)\n\t"
			 "mov %%r13, 104(%0)\n\t"
			 "mov %%r14, 112(%0)\n\t"
			 "mov %%r15, 120(%0)\n\t"
			 :
			 : "r"(r)
			 : "rax", "memory");
	copy_stack(&captured, stack_copy);
}

static volatile int sink;

__attribute__((noinline)) static void level3(void)
{
	capture();
	sink++; /* no tail call */
}

__attribute__((noinline)) static void level2(void)
{
	level3();
	sink++;
}

__attribute__((noinline)) static void level1(void)
{
	level2();
	sink++;
}

void unwind_nocfi_middle(void (*fn)(void));

__attribute__((noinline)) static void after_nocfi(void)
{
	capture();
	sink++;
}

/*
 * The registers at the very first instruction of a function without CFI (this assembly has no
 * .cfi directives), then the stack copied by a C function it jumps to, which returns to its
 * caller: the unwinder sees a leaf at its entry, nothing pushed yet.
 */
uint64_t entry_regs[UNWIND_NREGS];
void entry_capture(void);
void entry_copy(void);
__asm__(".text\n"
	".globl entry_capture\n"
	".type entry_capture, @function\n"
	"entry_capture:\n"
	"	lea entry_capture(%rip), %rax\n"
	"	mov %rax, entry_regs+128(%rip)\n"
	"	mov %rsp, entry_regs+56(%rip)\n"
	"	mov %rbp, entry_regs+48(%rip)\n"
	"	mov %rbx, entry_regs+24(%rip)\n"
	"	mov %r12, entry_regs+96(%rip)\n"
	"	mov %r13, entry_regs+104(%rip)\n"
	"	mov %r14, entry_regs+112(%rip)\n"
	"	mov %r15, entry_regs+120(%rip)\n"
	"	jmp entry_copy\n"
	".size entry_capture, .-entry_capture\n");

static struct unwind_input at_entry;
static uint8_t entry_stack[COPY_BYTES];

void entry_copy(void)
{
	memcpy(at_entry.regs, entry_regs, sizeof(entry_regs));
	copy_stack(&at_entry, entry_stack);
}

static int code_at(void *ctx, uint64_t pc, struct elf_file **elf, uint64_t *vaddr)
{
	(void)ctx;
	return symbolizer__code_at(sym, self, 1, pc, elf, vaddr);
}

static const char *name_of(uint64_t pc)
{
	struct sym_frame f;

	symbolizer__resolve_user(sym, self, 1, pc, &f);
	return f.function ? f.function : "?";
}

static void test_self_unwind(void)
{
	static const char *const want[] = { "capture", "level3",	   "level2",
					    "level1",  "test_self_unwind", "main" };
	uint64_t pcs[UNWIND_MAX_FRAMES];
	uint32_t nr = 0, i;
	struct unwind_detail d = { 99, true };
	enum unwind_end end;
	bool saw_start = false;

	level1();
	end = unwind_stack(&captured, code_at, NULL, NULL, pcs, UNWIND_MAX_FRAMES, &nr, &d);
	CHECK_STR(unwind_end_name(end), "complete");
	CHECK_INT(d.fp, 0); /* all of it by CFI */
	CHECK(!d.unmapped);
	CHECK(nr >= 7);
	for (i = 0; i < nr && i < 6; i++)
		CHECK_STR(name_of(i ? pcs[i] - 1 : pcs[i]), want[i]);
	for (; i < nr; i++) {
		const char *n = name_of(pcs[i] - 1);

		if (!strcmp(n, "_start"))
			saw_start = i == nr - 1;
		CHECK(!strncmp(n, "__libc_start", 12) || !strcmp(n, "_start"));
	}
	CHECK(saw_start);

	/* with the rule cache, twice (computed, then found): the same frames */
	{
		struct unwind_cache *c = unwind_cache__new(64);
		uint64_t again[UNWIND_MAX_FRAMES];
		uint32_t nr2 = 0;

		for (int round = 0; round < 2; round++) {
			end = unwind_stack(&captured, code_at, NULL, c, again, UNWIND_MAX_FRAMES,
					   &nr2, NULL);
			CHECK_STR(unwind_end_name(end), "complete");
			CHECK_INT(nr2, nr);
			CHECK(!memcmp(again, pcs, nr * sizeof(pcs[0])));
		}
		/* a cache of 2 rules: emptied again and again, still the same frames */
		unwind_cache__free(c);
		c = unwind_cache__new(2);
		end =
		    unwind_stack(&captured, code_at, NULL, c, again, UNWIND_MAX_FRAMES, &nr2, NULL);
		CHECK_INT(nr2, nr);
		CHECK(!memcmp(again, pcs, nr * sizeof(pcs[0])));
		unwind_cache__free(c);
	}

	/* the same at a depth cap: exactly max frames, the end says so */
	end = unwind_stack(&captured, code_at, NULL, NULL, pcs, 3, &nr, NULL);
	CHECK_STR(unwind_end_name(end), "depth limit");
	CHECK_INT(nr, 3);
}

/* The names of pcs[0..n), the first exact, the others return addresses. */
static void check_names(const uint64_t *pcs, uint32_t nr, const char *const *want, size_t n)
{
	CHECK(nr > n);
	for (uint32_t i = 0; i < nr && i < n; i++)
		CHECK_STR(name_of(i ? pcs[i] - 1 : pcs[i]), want[i]);
	if (nr)
		CHECK_STR(name_of(pcs[nr - 1] - 1), "_start");
}

/*
 * Code without CFI: through a function that keeps its frame pointer (as V8's builtins do), and
 * from a leaf sampled at its first instruction, to _start and complete. A guess that leads
 * into garbage is taken back: the stack ends where the CFI did, as without it.
 */
static void test_without_cfi(void)
{
	static const char *const through[] = { "capture", "after_nocfi", "unwind_nocfi_middle",
					       "test_without_cfi", "main" };
	static const char *const entry[] = { "entry_capture", "test_without_cfi", "main" };
	uint64_t pcs[UNWIND_MAX_FRAMES], fake[64] = { 0 }, base = (uint64_t)(uintptr_t)fake;
	struct unwind_input in = { .stack = (const uint8_t *)fake,
				   .base = base,
				   .len = sizeof(fake) };
	uint32_t nr = 0;
	struct unwind_detail d = { 99, true };
	enum unwind_end end;
	struct elf_file *elf;
	Dwarf_Frame *frame;
	uint64_t vaddr;

	unwind_nocfi_middle(after_nocfi);
	end = unwind_stack(&captured, code_at, NULL, NULL, pcs, UNWIND_MAX_FRAMES, &nr, &d);
	CHECK_STR(unwind_end_name(end), "complete");
	check_names(pcs, nr, through, 5);
	CHECK_INT(d.fp, 1);
	/* the fixture really has no CFI */
	CHECK_INT(code_at(NULL, (uint64_t)(uintptr_t)unwind_nocfi_middle + 4, &elf, &vaddr), 0);
	frame = NULL;
	CHECK(elf_file__cfi(elf) == NULL || dwarf_cfi_addrframe(elf_file__cfi(elf), vaddr, &frame));
	free(frame);

	entry_capture();
	/* twice through the rule cache: the second time its "no CFI here" entry answers */
	for (int round = 0; round < 2; round++) {
		end =
		    unwind_stack(&at_entry, code_at, NULL, cache, pcs, UNWIND_MAX_FRAMES, &nr, &d);
		CHECK_STR(unwind_end_name(end), "complete");
		check_names(pcs, nr, entry, 3);
		CHECK_INT(d.fp, 1);
		end =
		    unwind_stack(&captured, code_at, NULL, cache, pcs, UNWIND_MAX_FRAMES, &nr, &d);
		CHECK_STR(unwind_end_name(end), "complete");
		check_names(pcs, nr, through, 5);
		CHECK_INT(d.fp, 1);
	}

	/*
	 * In the middle of the function, rbp names a frame whose return address is the second
	 * byte of level3 (CFA = sp + 8 there), and what lies at that sp is no code: taken back.
	 */
	in.regs[UNWIND_REG_PC] = (uint64_t)(uintptr_t)unwind_nocfi_middle + 4;
	in.regs[UNWIND_REG_SP] = base;
	in.regs[UNWIND_REG_BP] = base + 16;
	fake[2] = base + 48;
	fake[3] = (uint64_t)(uintptr_t)level3 + 1;
	fake[4] = 0x1234;
	end = unwind_stack(&in, code_at, NULL, NULL, pcs, UNWIND_MAX_FRAMES, &nr, &d);
	CHECK_STR(unwind_end_name(end), "no unwind info");
	CHECK_INT(nr, 1);
	CHECK_INT(d.fp, 0);
	CHECK(d.unmapped); /* said, for the caller to read the maps again */
	/* a saved frame pointer below the frame is no frame */
	fake[2] = base + 8;
	end = unwind_stack(&in, code_at, NULL, NULL, pcs, UNWIND_MAX_FRAMES, &nr, NULL);
	CHECK_STR(unwind_end_name(end), "no unwind info");
	CHECK_INT(nr, 1);
}

static void test_bad_input(void)
{
	struct unwind_input in = captured;
	uint64_t pcs[UNWIND_MAX_FRAMES];
	uint32_t nr = 99;
	enum unwind_end end;

	/* a copy that holds only capture()'s frame: the caller's frame is out of reach */
	in.len = 128 + 8;
	end = unwind_stack(&in, code_at, NULL, cache, pcs, UNWIND_MAX_FRAMES, &nr, NULL);
	CHECK_STR(unwind_end_name(end), "stack copy exhausted");
	CHECK(nr >= 1 && nr <= 2);

	/* no registers (a sample without user state) */
	memset(in.regs, 0, sizeof(in.regs));
	end = unwind_stack(&in, code_at, NULL, cache, pcs, UNWIND_MAX_FRAMES, &nr, NULL);
	CHECK_STR(unwind_end_name(end), "no user registers");
	CHECK_INT(nr, 0);

	/* a pc in no mapping */
	in = captured;
	in.regs[UNWIND_REG_PC] = 0x10;
	end = unwind_stack(&in, code_at, NULL, cache, pcs, UNWIND_MAX_FRAMES, &nr, NULL);
	CHECK_STR(unwind_end_name(end), "unmapped pc");
	CHECK_INT(nr, 1);

	/* a garbage stack under real registers: any end but a crash, and no more frames than kept */
	in = captured;
	srand(1);
	for (size_t round = 0; round < 200; round++) {
		static uint8_t junk[COPY_BYTES];

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = rand();
		/* some return addresses that point into real code */
		for (size_t i = 0; i + 8 <= sizeof(junk); i += 64)
			memcpy(junk + i, &captured.regs[UNWIND_REG_PC], 8);
		in.stack = junk;
		in.len = sizeof(junk);
		end = unwind_stack(&in, code_at, NULL, cache, pcs, 64, &nr, NULL);
		CHECK(nr <= 64 && end < UNWIND_END_MAX);
	}
}

/*
 * The dynamic loader's entry code has no CFI: a stack that reaches it (a process still in
 * ld.so's start-up) is complete, not truncated. Built from this process's own ld.so: a sample in
 * _dl_start, called by _start, whose return address sits at sp.
 */
static void test_loader_entry(void)
{
	char line[512], path[256] = "";
	uint64_t lo, hi, off, base = 0, entry, target;
	uint64_t pcs[8], stack[64] = { 0 };
	struct unwind_input in = { 0 };
	unsigned char code[16];
	Elf64_Ehdr eh;
	FILE *f = fopen("/proc/self/maps", "r");
	uint32_t nr;
	int fd;

	/* its text mapping (files mapped by libdw are read-only): offsets equal addresses there */
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "/ld-linux-x86-64.so.2") && strstr(line, " r-xp ") &&
		    sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64 " %*s %*s %255s", &lo, &hi,
			   &off, path) == 4 &&
		    !base)
			base = lo - off;
	if (f)
		fclose(f);
	CHECK(base != 0);
	fd = path[0] ? open(path, O_RDONLY) : -1;
	CHECK(fd >= 0 && pread(fd, &eh, sizeof(eh), 0) == sizeof(eh));
	if (fd < 0)
		return;
	entry = eh.e_entry;
	/* glibc's _start: mov %rsp,%rdi; call _dl_start (e8 rel32) */
	CHECK(pread(fd, code, sizeof(code), entry) == sizeof(code)); /* text: offset == vaddr */
	close(fd);
	CHECK(code[3] == 0xe8);
	if (code[3] != 0xe8)
		return;
	target = entry + 8 + (int32_t)(code[4] | code[5] << 8 | code[6] << 16 | code[7] << 24);
	in.stack = (const uint8_t *)stack;
	in.len = sizeof(stack);
	in.base = 0x7ff000000000ULL;
	in.regs[UNWIND_REG_SP] = in.base + 128;
	in.regs[UNWIND_REG_PC] = base + target; /* the first instruction of _dl_start */
	stack[16] = base + entry + 8; /* at sp: the return address into _start */
	CHECK_STR(unwind_end_name(unwind_stack(&in, code_at, NULL, NULL, pcs, 8, &nr, NULL)),
		  "complete");
	CHECK_INT(nr, 2);
}

static void test_frame_pointer_files(char **paths)
{
	for (int i = 0; i < 3; i++) {
		int fd = open(paths[i], O_RDONLY);
		struct elf_file *f = fd >= 0 ? elf_file__read(fd) : NULL;

		CHECK(f != NULL);
		if (f) {
			CHECK_INT(elf_file__keeps_frame_pointers(f), i == 0);
			CHECK(elf_file__cfi(f) != NULL);
		}
		elf_file__free(f);
		if (fd >= 0)
			close(fd);
	}
	/* this process maps libc, built without frame pointers: it needs CFI */
	CHECK(!symbolizer__keeps_frame_pointers(sym, self, 1));
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: test_unwind LIB_ALL_FP LIB_GCC_FP LIB_WITHOUT_FP\n");
		return 2;
	}
	sym = symbolizer__new(&(struct symbolizer_opts){ 0 });
	self = getpid();
	CHECK(sym && symbolizer__snapshot(sym, self, 1) == 0);
	cache = unwind_cache__new(1024);
	test_self_unwind();
	test_bad_input();
	test_without_cfi();
	test_frame_pointer_files(argv + 1);
	test_loader_entry();
	unwind_cache__free(cache);
	symbolizer__free(sym);
	return check_done("test_unwind");
}
