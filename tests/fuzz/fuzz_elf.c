// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness: an ELF file's segments, build-id, symbols and DWARF (read a unit at a time
 * and whole), then lookups, and unwinding through its call frame information (garbage
 * .eh_frame) over a fixed stack.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dwarf_frames.h"
#include "elf_file.h"
#include "unwind.h"

static int code_at(void *ctx, uint64_t pc, struct elf_file **ret_elf, uint64_t *ret_vaddr)
{
	*ret_elf = ctx;
	*ret_vaddr = pc;
	return 0;
}

/* Unwind from vaddr over a stack whose every word points back into the file's code. */
static void unwind_at(struct elf_file *e, uint64_t vaddr)
{
	static uint64_t stack[512], pcs[64];
	struct unwind_input in = { .stack = (const uint8_t *)stack, .len = sizeof(stack) };
	uint32_t nr;

	for (size_t i = 0; i < 512; i++)
		stack[i] = vaddr + i * 16;
	in.base = 0x7ff000000000ULL;
	in.regs[UNWIND_REG_SP] = in.base + 128;
	in.regs[UNWIND_REG_BP] = in.base + 1024;
	in.regs[UNWIND_REG_PC] = vaddr;
	struct unwind_cache *cache = unwind_cache__new(64);

	unwind_stack(&in, code_at, e, NULL, pcs, 64, &nr, NULL);
	unwind_stack(&in, code_at, e, cache, pcs, 64, &nr, NULL);
	unwind_cache__free(cache);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	struct elf_file *e;
	const char *name;
	uint64_t v, start;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	e = elf_file__read(fd);
	close(fd);
	if (!e)
		return 0;
	elf_file__build_id(e);
	for (uint64_t off = 0; off < 0x3000; off += 0x400) {
		struct dwarf_frame frames[16];
		struct Dwarf *dw;

		if (elf_file__offset_to_vaddr(e, off, &v) == 0) {
			elf_file__symbol(e, v, &name, &start);
			/* a unit at a time (aranges, sliced sections), then the file whole */
			if (elf_file__dwarf_at(e, v, &dw) == 0)
				dwarf__frames(dw, v, frames, 16);
			dwarf__frames(elf_file__dwarf(e), v, frames, 16);
			unwind_at(e, v);
		}
	}
	elf_file__symbol(e, 0, &name, &start);
	elf_file__symbol(e, UINT64_MAX, &name, &start);
	elf_file__free(e);
	return 0;
}
