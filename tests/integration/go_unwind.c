// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The unwinder on a real Go binary's table, for frames a capture rarely samples: the program's
 * entry (_rt0_amd64_linux, where a process's first sample may land: [sp] holds argc, not a
 * return address) ends the stack as complete.
 * Usage: go_unwind GO_BINARY (non-PIE, built by golang.sh)
 */
#include "../unit/check.h"
#include "elf_file.h"
#include "gopclntab.h"
#include "unwind.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

static int code_at(void *ctx, uint64_t pc, struct elf_file **ret_elf, uint64_t *ret_vaddr)
{
	*ret_elf = ctx;
	*ret_vaddr = pc;
	return 0;
}

int main(int argc, char **argv)
{
	static uint64_t stack[64];
	struct unwind_input in = { .stack = (const uint8_t *)stack, .len = sizeof(stack) };
	const struct gopclntab *tab;
	struct elf_file *elf;
	struct go_func fn;
	uint64_t pcs[8];
	uint32_t nr = 0;
	GElf_Ehdr eh;
	Elf *e;
	int fd;

	if (argc != 2)
		return 2;
	fd = open(argv[1], O_RDONLY);
	CHECK(fd >= 0);
	if (fd < 0)
		return check_done("go_unwind");
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	CHECK(e && gelf_getehdr(e, &eh));
	elf = elf_file__read(fd);
	CHECK(elf != NULL);
	tab = elf ? elf_file__gopclntab(elf) : NULL;
	CHECK(tab != NULL);
	if (!tab || !e)
		return check_done("go_unwind");
	/* the entry is Go code, and not flagged as a first frame by Go */
	CHECK_INT(gopclntab__func(tab, eh.e_entry, &fn), 0);
	CHECK_STR(fn.name, "_rt0_amd64_linux");
	CHECK(!fn.top_frame);
	/* a process at its first instruction: argc, argv... on the stack */
	stack[0] = 5;
	for (size_t i = 1; i < 64; i++)
		stack[i] = 0x7ffd00000000ULL + i * 8;
	in.base = 0x7ffc00000000ULL;
	in.regs[UNWIND_REG_SP] = in.base;
	in.regs[UNWIND_REG_PC] = eh.e_entry;
	CHECK_INT(unwind_stack(&in, code_at, elf, NULL, pcs, 8, &nr, NULL), UNWIND_END_COMPLETE);
	CHECK_INT(nr, 1);
	CHECK_INT(pcs[0], eh.e_entry);
	elf_end(e);
	close(fd);
	elf_file__free(elf);
	return check_done("go_unwind");
}
