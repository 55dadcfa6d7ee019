// SPDX-License-Identifier: LGPL-2.1-or-later
#include "unwind.h"
#include "elf_file.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on one DWARF expression: CFI expressions are a handful of operations. */
#define EXPR_MAX_OPS 64
#define EXPR_MAX_STACK 16

const char *unwind_end_name(enum unwind_end end)
{
	static const char *const names[UNWIND_END_MAX] = {
		[UNWIND_END_UNKNOWN] = "unknown",	    [UNWIND_END_COMPLETE] = "complete",
		[UNWIND_END_COPY] = "stack copy exhausted", [UNWIND_END_DEPTH] = "depth limit",
		[UNWIND_END_NO_CFI] = "no unwind info",	    [UNWIND_END_UNMAPPED] = "unmapped pc",
		[UNWIND_END_BAD_CFI] = "bad unwind info",   [UNWIND_END_BAD_STACK] = "bad stack",
		[UNWIND_END_NO_REGS] = "no user registers",
	};

	return (unsigned int)end < UNWIND_END_MAX ? names[end] : "unknown";
}

struct frame_state {
	const struct unwind_input *in;
	uint64_t regs[UNWIND_NREGS];
	uint64_t cfa;
	bool have_cfa;
};

/* Read 8 bytes of the copied stack. 0, or the end the read means. */
static enum unwind_end read_stack(const struct unwind_input *in, uint64_t addr, uint64_t *ret)
{
	uint64_t base = in->base;

	if (addr < base)
		return UNWIND_END_BAD_STACK;
	if (addr - base > in->len || in->len - (addr - base) < 8)
		return addr - base < (1u << 24) ? UNWIND_END_COPY : UNWIND_END_BAD_STACK;
	memcpy(ret, in->stack + (addr - base), 8);
	return 0;
}

static bool binary_op(unsigned int atom, uint64_t a, uint64_t b, uint64_t *ret)
{
	switch (atom) {
	case DW_OP_plus:
		*ret = a + b;
		break;
	case DW_OP_minus:
		*ret = a - b;
		break;
	case DW_OP_mul:
		*ret = a * b;
		break;
	case DW_OP_and:
		*ret = a & b;
		break;
	case DW_OP_or:
		*ret = a | b;
		break;
	case DW_OP_xor:
		*ret = a ^ b;
		break;
	case DW_OP_shl:
		*ret = b < 64 ? a << b : 0;
		break;
	case DW_OP_shr:
		*ret = b < 64 ? a >> b : 0;
		break;
	case DW_OP_shra:
		*ret = b < 64 ? (uint64_t)((int64_t)a >> b) : 0;
		break;
	case DW_OP_eq:
		*ret = a == b;
		break;
	case DW_OP_ne:
		*ret = a != b;
		break;
	case DW_OP_lt:
		*ret = (int64_t)a < (int64_t)b;
		break;
	case DW_OP_le:
		*ret = (int64_t)a <= (int64_t)b;
		break;
	case DW_OP_gt:
		*ret = (int64_t)a > (int64_t)b;
		break;
	case DW_OP_ge:
		*ret = (int64_t)a >= (int64_t)b;
		break;
	default:
		return false;
	}
	return true;
}

/*
 * Evaluate a DWARF expression of the CFI over the frame's registers and the stack copy. With
 * is_value false the result is a location to read; the expression may end in DW_OP_stack_value,
 * which makes it a value. 0, or the end the failure means.
 */
static enum unwind_end eval(struct frame_state *fs, const Dwarf_Op *ops, size_t nops, bool is_value,
			    uint64_t *ret)
{
	uint64_t stack[EXPR_MAX_STACK];
	size_t sp = 0;
	enum unwind_end e;

	if (nops == 0 || nops > EXPR_MAX_OPS)
		return UNWIND_END_BAD_CFI;
	for (size_t i = 0; i < nops; i++) {
		unsigned int atom = ops[i].atom;
		uint64_t a, b, v;

		if (atom == DW_OP_stack_value) {
			if (i != nops - 1)
				return UNWIND_END_BAD_CFI;
			is_value = true;
			break;
		}
		if (atom >= DW_OP_lit0 && atom <= DW_OP_lit31) {
			v = atom - DW_OP_lit0;
		} else if (atom >= DW_OP_breg0 && atom <= DW_OP_breg31) {
			if (atom - DW_OP_breg0 >= UNWIND_NREGS)
				return UNWIND_END_BAD_CFI;
			v = fs->regs[atom - DW_OP_breg0] + ops[i].number;
		} else {
			switch (atom) {
			case DW_OP_bregx:
				if (ops[i].number >= UNWIND_NREGS)
					return UNWIND_END_BAD_CFI;
				v = fs->regs[ops[i].number] + ops[i].number2;
				break;
			case DW_OP_call_frame_cfa:
				if (!fs->have_cfa)
					return UNWIND_END_BAD_CFI;
				v = fs->cfa;
				break;
			case DW_OP_const1u:
			case DW_OP_const1s:
			case DW_OP_const2u:
			case DW_OP_const2s:
			case DW_OP_const4u:
			case DW_OP_const4s:
			case DW_OP_const8u:
			case DW_OP_const8s:
			case DW_OP_constu:
			case DW_OP_consts:
				v = ops[i].number;
				break;
			case DW_OP_nop:
				continue;
			case DW_OP_deref:
			case DW_OP_plus_uconst:
			case DW_OP_neg:
			case DW_OP_not:
			case DW_OP_dup:
			case DW_OP_drop:
				if (sp < 1)
					return UNWIND_END_BAD_CFI;
				a = stack[sp - 1];
				if (atom == DW_OP_deref) {
					e = read_stack(fs->in, a, &stack[sp - 1]);
					if (e)
						return e;
				} else if (atom == DW_OP_plus_uconst) {
					stack[sp - 1] = a + ops[i].number;
				} else if (atom == DW_OP_neg) {
					stack[sp - 1] = -a;
				} else if (atom == DW_OP_not) {
					stack[sp - 1] = ~a;
				} else if (atom == DW_OP_drop) {
					sp--;
				} else {
					if (sp >= EXPR_MAX_STACK)
						return UNWIND_END_BAD_CFI;
					stack[sp++] = a;
				}
				continue;
			case DW_OP_swap:
				if (sp < 2)
					return UNWIND_END_BAD_CFI;
				a = stack[sp - 1];
				stack[sp - 1] = stack[sp - 2];
				stack[sp - 2] = a;
				continue;
			default:
				if (sp < 2)
					return UNWIND_END_BAD_CFI;
				a = stack[sp - 2];
				b = stack[sp - 1];
				/* branches and anything else unknown are not CFI's business */
				if (!binary_op(atom, a, b, &v))
					return UNWIND_END_BAD_CFI;
				sp -= 2;
			}
		}
		if (sp >= EXPR_MAX_STACK)
			return UNWIND_END_BAD_CFI;
		stack[sp++] = v;
	}
	if (sp < 1)
		return UNWIND_END_BAD_CFI;
	if (is_value) {
		*ret = stack[sp - 1];
		return 0;
	}
	return read_stack(fs->in, stack[sp - 1], ret);
}

/* Step through one frame with its CFI: the caller's registers replace fs->regs. */
static enum unwind_end step_cfi(struct frame_state *fs, Dwarf_Frame *frame, bool *ret_signal)
{
	uint64_t caller[UNWIND_NREGS];
	Dwarf_Op ops_mem[3], *ops;
	size_t nops;
	enum unwind_end e;
	int ra = dwarf_frame_info(frame, NULL, NULL, ret_signal);

	if (ra != UNWIND_REG_PC)
		return UNWIND_END_BAD_CFI;
	if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0)
		return UNWIND_END_BAD_CFI;
	e = eval(fs, ops, nops, true, &fs->cfa);
	if (e)
		return e;
	fs->have_cfa = true;
	memcpy(caller, fs->regs, sizeof(caller));
	/* the caller's stack pointer is the CFA unless the CFI says otherwise */
	caller[UNWIND_REG_SP] = fs->cfa;
	for (int r = 0; r < UNWIND_NREGS; r++) {
		if (dwarf_frame_register(frame, r, ops_mem, &ops, &nops) != 0)
			return UNWIND_END_BAD_CFI;
		if (nops == 0) {
			/* undefined return address: this is the thread's first frame */
			if (r == UNWIND_REG_PC && ops == ops_mem)
				return UNWIND_END_COMPLETE;
			/* same value, or an undefined scratch register: keep what we have */
			continue;
		}
		e = eval(fs, ops, nops, false, &caller[r]);
		if (e)
			return e;
	}
	memcpy(fs->regs, caller, sizeof(caller));
	return 0;
}

/*
 * Step through a frame with the frame pointer, for code without CFI (JIT): the saved frame
 * pointer at rbp, the return address above it.
 */
static enum unwind_end step_fp(struct frame_state *fs)
{
	uint64_t bp = fs->regs[UNWIND_REG_BP], ra, saved_bp;
	enum unwind_end e;

	if (bp < fs->regs[UNWIND_REG_SP] || bp & 7)
		return UNWIND_END_NO_CFI;
	e = read_stack(fs->in, bp, &saved_bp);
	if (!e)
		e = read_stack(fs->in, bp + 8, &ra);
	if (e)
		return e == UNWIND_END_COPY ? e : UNWIND_END_NO_CFI;
	fs->regs[UNWIND_REG_BP] = saved_bp;
	fs->regs[UNWIND_REG_SP] = bp + 16;
	fs->regs[UNWIND_REG_PC] = ra;
	return 0;
}

enum unwind_end unwind_stack(const struct unwind_input *in, unwind_code_fn code, void *ctx,
			     uint64_t *pcs, uint32_t max, uint32_t *ret_nr)
{
	struct frame_state fs = { .in = in };
	/* the sampled pc and the pc after a signal frame are exact, return addresses are not */
	bool exact = true;
	enum unwind_end e = UNWIND_END_DEPTH;
	uint32_t n = 0;

	memcpy(fs.regs, in->regs, sizeof(fs.regs));
	if (!in->regs[UNWIND_REG_PC] || !in->regs[UNWIND_REG_SP]) {
		*ret_nr = 0;
		return UNWIND_END_NO_REGS;
	}
	while (n < max) {
		uint64_t pc = fs.regs[UNWIND_REG_PC], vaddr, old_sp = fs.regs[UNWIND_REG_SP];
		struct elf_file *elf = NULL;
		struct Dwarf_CFI_s *cfi;
		Dwarf_Frame *frame = NULL;
		bool signal = false;
		int r;

		pcs[n++] = pc;
		r = code(ctx, exact ? pc : pc - 1, &elf, &vaddr);
		if (r == -ENOENT) {
			e = UNWIND_END_UNMAPPED;
			break;
		}
		cfi = r == 0 ? elf_file__cfi(elf) : NULL;
		if (cfi && dwarf_cfi_addrframe(cfi, vaddr, &frame) == 0) {
			e = step_cfi(&fs, frame, &signal);
			free(frame);
		} else {
			/* only code that has no ELF file to describe it is trusted to keep rbp */
			e = r == -ENODATA ? step_fp(&fs) : UNWIND_END_NO_CFI;
		}
		if (e)
			break;
		pc = fs.regs[UNWIND_REG_PC];
		if (!pc) {
			/* some thread entry points end the chain with a zero return address */
			e = UNWIND_END_COMPLETE;
			break;
		}
		/* each caller's frame lies above its callee's (a signal frame may reuse it) */
		if (fs.regs[UNWIND_REG_SP] < old_sp ||
		    (fs.regs[UNWIND_REG_SP] == old_sp && !signal)) {
			e = UNWIND_END_BAD_STACK;
			break;
		}
		exact = signal;
		e = UNWIND_END_DEPTH;
	}
	*ret_nr = n;
	return e;
}
