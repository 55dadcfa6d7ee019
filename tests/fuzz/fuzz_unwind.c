// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness for the CFI unwinder's input: the registers and stack copy a sample brings.
 * Input: 17 registers (8 bytes each, DWARF order), then the stack bytes from sp - 128. The code
 * is the fuzzer's own executable, with its real .eh_frame: every pc below 2^47 lands somewhere
 * in its text, pcs in one range count as JIT code (frame-pointer steps), the rest unmapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "elf_file.h"
#include "unwind.h"

#define JIT_LO 0x700000000000ULL
#define JIT_HI 0x700001000000ULL

static struct elf_file *self;
static uint64_t text_lo, text_hi;
static struct unwind_cache *cache;

static int code_at(void *ctx, uint64_t pc, struct elf_file **ret_elf, uint64_t *ret_vaddr)
{
	(void)ctx;
	if (pc >= JIT_LO && pc < JIT_HI)
		return -ENODATA;
	if (!self || pc >= (1ULL << 47))
		return -ENOENT;
	*ret_elf = self;
	*ret_vaddr = text_lo + pc % (text_hi - text_lo);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd = open("/proc/self/exe", O_RDONLY);

	(void)argc;
	(void)argv;
	cache = unwind_cache__new(4096);
	if (fd >= 0) {
		self = elf_file__read(fd);
		close(fd);
	}
	if (self && elf_file__exec_range(self, &text_lo, &text_hi)) {
		elf_file__free(self);
		self = NULL;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t pcs[UNWIND_MAX_FRAMES];
	struct unwind_input in = { 0 };
	size_t nregs = sizeof(in.regs);
	uint32_t nr;

	memcpy(in.regs, data, size < nregs ? size : nregs);
	in.stack = size > nregs ? data + nregs : NULL;
	in.len = size > nregs ? size - nregs : 0;
	in.base = in.regs[UNWIND_REG_SP] - 128;
	/* the cache lives across inputs, as in a capture; half the inputs go around it */
	unwind_stack(&in, code_at, NULL, size & 1 ? cache : NULL, pcs, UNWIND_MAX_FRAMES, &nr,
		     NULL);
	if (nr > UNWIND_MAX_FRAMES)
		__builtin_trap();
	return 0;
}
