/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The user-space stack unwinder: from a sample's user registers and a copy of the top of its
 * stack, follow the call frame information (.eh_frame / .debug_frame, read with libdw, or Go's
 * function table) of the files the pcs fall in, frame by frame, up to the thread's first frame.
 * x86-64.
 */
#ifndef SCORCH_UNWIND_H
#define SCORCH_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_file;

/* DWARF register numbers of x86-64: rax rdx rcx rbx rsi rdi rbp rsp r8-r15, return address. */
#define UNWIND_NREGS 17
#define UNWIND_REG_BP 6
#define UNWIND_REG_SP 7
#define UNWIND_REG_PC 16

/* Frames of a user stack unwound with CFI, at most. */
#define UNWIND_MAX_FRAMES 512

/* How an unwind ended. Everything but COMPLETE shows as a [truncated: ...] frame. */
enum unwind_end {
	UNWIND_END_UNKNOWN = 0, /* not unwound here (a frame-pointer stack from the kernel) */
	UNWIND_END_COMPLETE, /* reached the thread's first frame (return address undefined) */
	UNWIND_END_COPY, /* a frame lies beyond the copied part of the stack */
	UNWIND_END_DEPTH, /* more frames than kept */
	UNWIND_END_NO_CFI, /* no unwind information for a pc, and no frame pointer to follow */
	UNWIND_END_UNMAPPED, /* a pc outside the process's known code */
	UNWIND_END_BAD_CFI, /* unwind information that cannot be evaluated */
	UNWIND_END_BAD_STACK, /* a frame that goes down the stack, or memory outside it */
	UNWIND_END_NO_REGS, /* the user registers of the sample were not available */
	UNWIND_END_MAX,
};

/* How a frame was stepped: by CFI, by the frame pointer where there is none, by Go's table. */
enum unwind_method { UNWIND_BY_CFI, UNWIND_BY_FP, UNWIND_BY_GO, UNWIND_BY_MAX };

/* A short description of an end, for [truncated: ...] frames and the summary. */
const char *unwind_end_name(enum unwind_end end);

struct unwind_input {
	uint64_t regs[UNWIND_NREGS];
	const uint8_t *stack; /* copy of user memory [base, base + len), around regs[SP] */
	uint64_t base;
	size_t len;
};

/*
 * Find the code at pc: the ELF file and the address in it (its own virtual addresses), 0;
 * -ENODATA when the pc is in memory without an ELF file (JIT code), -ENOENT when unmapped.
 */
typedef int (*unwind_code_fn)(void *ctx, uint64_t pc, struct elf_file **ret_elf,
			      uint64_t *ret_vaddr);

/*
 * Unwind rules already computed, per (file, address): bounded by max entries (emptied when
 * full). Optional; one per thread that unwinds.
 */
struct unwind_cache;
struct unwind_cache *unwind_cache__new(size_t max);
void unwind_cache__free(struct unwind_cache *c);

/*
 * Unwind: pcs[0] is the sampled pc, the others are return addresses. Go functions are stepped
 * with the frame sizes of Go's own table (.gopclntab), other code with its CFI; frames without
 * either (JIT code, V8's builtins, assembly) by the frame pointer when the frame it names is
 * plausible, or at a function's first instruction by the return address at sp. Such a step in
 * an ELF file is a guess, taken back when the rest of the stack ends in garbage. Never fails:
 * the end says how far it got, *ret_detail (optional) how.
 */
struct unwind_detail {
	uint32_t fp; /* frames kept that were stepped without CFI (frame pointer, entry) */
	bool unmapped; /* a pc outside the known code was met, also in a guess taken back */
};

enum unwind_end unwind_stack(const struct unwind_input *in, unwind_code_fn code, void *ctx,
			     struct unwind_cache *cache, uint64_t *pcs, uint32_t max,
			     uint32_t *ret_nr, struct unwind_detail *ret_detail);

#endif
