// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unwinding user stacks: frame by frame through CFI, Go's table or frame pointers. */
#include "unwind.h"
#include "gopclntab.h"
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

/* The registers a caller can rely on after a call: rbx, rbp, r12-r15 (and sp, pc). */
static const uint8_t callee_saved[] = { 3, 6, 12, 13, 14, 15 };

static bool is_callee_saved(int r)
{
	return r == 3 || r == 6 || (r >= 12 && r <= 15);
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
		/* scratch registers mean nothing in a caller, except after a signal frame */
		if (!*ret_signal && !is_callee_saved(r) && r != UNWIND_REG_SP && r != UNWIND_REG_PC)
			continue;
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
 * Most frames' CFI says: CFA = register + offset; each saved register at CFA + offset, or
 * untouched. Such a rule is kept per (file, address) once libdw has computed it, so a pc seen
 * again costs a table lookup instead of running the CFI program. Anything else (expressions,
 * signal frames) takes step_cfi() every time.
 */
enum rule_kind { RULE_SAME = 0, RULE_UNDEFINED, RULE_AT_CFA, RULE_CFA_PLUS };
#define RULE_REGS (sizeof(callee_saved) + 2)

struct rule {
	uint8_t cfa_reg;
	int64_t cfa_off;
	struct {
		uint8_t kind; /* enum rule_kind */
		int64_t off;
	} regs[RULE_REGS]; /* callee_saved[], then sp, then pc */
};

/*
 * The rules, in an open-addressing table with the keys inline: a sample looks up one rule per
 * frame, so this is the unwinder's hottest path (a generic hash map with allocated keys cost
 * ~10 % of the agent's CPU). At most half full; emptied when it would be fuller.
 */
struct rule_slot {
	uint64_t file, vaddr; /* file 0: empty (file ids start at 1) */
	bool none; /* no CFI covers the address (libdw's search for it is the slow one) */
	struct rule rule;
};

struct unwind_cache {
	struct rule_slot *slots;
	size_t cap, n, max; /* cap a power of two, max = cap / 2 */
};

struct unwind_cache *unwind_cache__new(size_t max)
{
	struct unwind_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cap = 16;
	while (c->cap < 2 * max)
		c->cap <<= 1;
	c->max = c->cap / 2;
	c->slots = calloc(c->cap, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return NULL;
	}
	return c;
}

void unwind_cache__free(struct unwind_cache *c)
{
	if (!c)
		return;
	free(c->slots);
	free(c);
}

static struct rule_slot *rule_slot(struct unwind_cache *c, uint64_t file, uint64_t vaddr)
{
	uint64_t h = (file * 0x9e3779b97f4a7c15ULL) ^ (vaddr * 0xc2b2ae3d27d4eb4fULL);
	size_t mask = c->cap - 1, i = (h ^ h >> 29) & mask;

	while (c->slots[i].file && (c->slots[i].file != file || c->slots[i].vaddr != vaddr))
		i = (i + 1) & mask;
	return &c->slots[i];
}

/* One register's rule in the simple forms, or false. */
static bool simple_rule(Dwarf_Frame *frame, int r, uint8_t *kind, int64_t *off)
{
	Dwarf_Op ops_mem[3], *ops;
	size_t nops;
	bool value = false;

	if (dwarf_frame_register(frame, r, ops_mem, &ops, &nops) != 0)
		return false;
	if (nops == 0) {
		*kind = ops ? RULE_UNDEFINED : RULE_SAME;
		return true;
	}
	if (ops[nops - 1].atom == DW_OP_stack_value) {
		value = true;
		nops--;
	}
	if (nops < 1 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (nops == 1)
		*off = 0;
	else if (nops == 2 && ops[1].atom == DW_OP_plus_uconst)
		*off = (int64_t)ops[1].number;
	else
		return false;
	*kind = value ? RULE_CFA_PLUS : RULE_AT_CFA;
	return true;
}

/* The frame's rule, when it has the simple form. */
static bool compile_rule(Dwarf_Frame *frame, struct rule *ret)
{
	bool signal = false;
	Dwarf_Op *ops;
	size_t nops;

	if (dwarf_frame_info(frame, NULL, NULL, &signal) != UNWIND_REG_PC || signal)
		return false;
	if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops != 1)
		return false;
	if (ops[0].atom == DW_OP_bregx) {
		ret->cfa_reg = ops[0].number;
		ret->cfa_off = (int64_t)ops[0].number2;
	} else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
		ret->cfa_reg = ops[0].atom - DW_OP_breg0;
		ret->cfa_off = (int64_t)ops[0].number;
	} else {
		return false;
	}
	if (ret->cfa_reg >= UNWIND_NREGS)
		return false;
	for (size_t i = 0; i < RULE_REGS; i++) {
		int r = i < sizeof(callee_saved)    ? callee_saved[i]
			: i == sizeof(callee_saved) ? UNWIND_REG_SP
						    : UNWIND_REG_PC;

		ret->regs[i].off = 0;
		if (!simple_rule(frame, r, &ret->regs[i].kind, &ret->regs[i].off))
			return false;
	}
	return true;
}

static enum unwind_end step_rule(struct frame_state *fs, const struct rule *rule)
{
	uint64_t caller[UNWIND_NREGS], cfa = fs->regs[rule->cfa_reg] + rule->cfa_off;
	enum unwind_end e;

	memcpy(caller, fs->regs, sizeof(caller));
	caller[UNWIND_REG_SP] = cfa;
	for (size_t i = 0; i < RULE_REGS; i++) {
		int r = i < sizeof(callee_saved)    ? callee_saved[i]
			: i == sizeof(callee_saved) ? UNWIND_REG_SP
						    : UNWIND_REG_PC;

		switch (rule->regs[i].kind) {
		case RULE_UNDEFINED:
			if (r == UNWIND_REG_PC)
				return UNWIND_END_COMPLETE;
			break;
		case RULE_AT_CFA:
			e = read_stack(fs->in, cfa + rule->regs[i].off, &caller[r]);
			if (e)
				return e;
			break;
		case RULE_CFA_PLUS:
			caller[r] = cfa + rule->regs[i].off;
			break;
		default:
			break;
		}
	}
	fs->cfa = cfa;
	fs->have_cfa = true;
	memcpy(fs->regs, caller, sizeof(caller));
	return 0;
}

/* Step with the cached rule of (file, vaddr), computing and keeping it on first sight. */
/* Keep a rule (NULL: none covers the address) in *slot, emptying the table when it is full. */
static void keep_rule(struct unwind_cache *cache, struct rule_slot **slot, uint64_t file,
		      uint64_t vaddr, const struct rule *rule)
{
	if (cache->n >= cache->max) {
		memset(cache->slots, 0, cache->cap * sizeof(*cache->slots));
		cache->n = 0;
		*slot = rule_slot(cache, file, vaddr);
	}
	**slot = (struct rule_slot){ .file = file, .vaddr = vaddr, .none = !rule };
	if (rule)
		(*slot)->rule = *rule;
	cache->n++;
}

static enum unwind_end step_cached(struct frame_state *fs, struct unwind_cache *cache,
				   struct elf_file *elf, uint64_t vaddr, bool *ret_signal,
				   bool *ret_found)
{
	uint64_t file = elf_file__id(elf);
	struct rule_slot *slot = rule_slot(cache, file, vaddr);
	Dwarf_Frame *frame = NULL;
	Dwarf_CFI *cfi;
	struct rule rule;
	enum unwind_end e;

	*ret_found = true;
	if (slot->file && slot->none) {
		*ret_found = false;
		return UNWIND_END_NO_CFI;
	}
	/* a rule kept is a copy: the file is not read again (nor checked for a shrink) */
	if (slot->file)
		return step_rule(fs, &slot->rule);
	cfi = elf_file__cfi(elf);
	if (!cfi) {
		*ret_found = false;
		return UNWIND_END_NO_CFI;
	}
	if (dwarf_cfi_addrframe(cfi, vaddr, &frame) != 0) {
		/* code without CFI (V8's builtins) is sampled again and again: remember it */
		keep_rule(cache, &slot, file, vaddr, NULL);
		*ret_found = false;
		return UNWIND_END_NO_CFI;
	}
	if (compile_rule(frame, &rule)) {
		free(frame);
		keep_rule(cache, &slot, file, vaddr, &rule);
		return step_rule(fs, &slot->rule);
	}
	e = step_cfi(fs, frame, ret_signal);
	free(frame);
	return e;
}

/*
 * Whether the stack is still the one the kernel builds for a new process: argc at sp, then
 * argc argv pointers into the stack above, then the NULL that ends them.
 */
static bool at_process_start(const struct frame_state *fs)
{
	uint64_t sp = fs->regs[UNWIND_REG_SP], argc, argv0, end;

	if (read_stack(fs->in, sp, &argc) || argc == 0 || argc > 4096 ||
	    read_stack(fs->in, sp + 8, &argv0) || argv0 <= sp + 8 * (argc + 1) ||
	    read_stack(fs->in, sp + 8 * (argc + 1), &end))
		return false;
	return end == 0;
}

/*
 * Step through a frame with the frame pointer, for code without CFI: the saved frame pointer
 * at rbp, the return address above it. Only a plausible frame: rbp in the stack at or above
 * sp, the saved one further up (or 0, the outermost frame), and a return address in code.
 */
static enum unwind_end step_fp(struct frame_state *fs, unwind_code_fn code, void *ctx)
{
	uint64_t bp = fs->regs[UNWIND_REG_BP], ra, saved_bp, vaddr;
	struct elf_file *elf;
	enum unwind_end e;

	if (bp < fs->regs[UNWIND_REG_SP] || bp & 7)
		return UNWIND_END_NO_CFI;
	e = read_stack(fs->in, bp, &saved_bp);
	if (!e)
		e = read_stack(fs->in, bp + 8, &ra);
	if (e)
		return e == UNWIND_END_COPY ? e : UNWIND_END_NO_CFI;
	if ((saved_bp && saved_bp <= bp) || !ra || code(ctx, ra - 1, &elf, &vaddr) == -ENOENT)
		return UNWIND_END_NO_CFI;
	fs->regs[UNWIND_REG_BP] = saved_bp;
	fs->regs[UNWIND_REG_SP] = bp + 16;
	fs->regs[UNWIND_REG_PC] = ra;
	return 0;
}

/*
 * A function's first instruction, sampled (the leaf's exact pc): nothing pushed yet, the
 * return address at sp, if it is one (in code). The frame pointer is still the caller's,
 * which following it would skip.
 */
static enum unwind_end step_at_entry(struct frame_state *fs, unwind_code_fn code, void *ctx)
{
	uint64_t sp = fs->regs[UNWIND_REG_SP], ra, vaddr;
	enum unwind_end e = read_stack(fs->in, sp, &ra);
	struct elf_file *elf;

	if (e)
		return e == UNWIND_END_COPY ? e : UNWIND_END_NO_CFI;
	if (!ra || code(ctx, ra - 1, &elf, &vaddr) == -ENOENT)
		return UNWIND_END_NO_CFI;
	fs->regs[UNWIND_REG_SP] = sp + 8;
	fs->regs[UNWIND_REG_PC] = ra;
	return 0;
}

/*
 * Code in an ELF file without CFI at this pc (V8's embedded builtins, hand-written assembly,
 * code built without unwind tables): at a function's entry by its return address, else by the
 * frame pointer, which such code often keeps. A guess, which unwind_stack() keeps only if the
 * rest of the stack does not end in garbage.
 */
static enum unwind_end step_without_cfi(struct frame_state *fs, unwind_code_fn code, void *ctx,
					const struct elf_file *elf, uint64_t vaddr, bool exact)
{
	const char *name;
	uint64_t start;

	if (exact && elf_file__symbol(elf, vaddr, &name, &start) == 0 && start == vaddr)
		return step_at_entry(fs, code, ctx);
	return step_fp(fs, code, ctx);
}

/*
 * Step through a Go function with the runtime's own table (.gopclntab): the stack pointer's
 * distance below the entry's at this pc says where the return address is (Go's code keeps no
 * CFI once stripped, and its leaf functions no frame pointer). *ret_found when the table
 * covers vaddr. The first frame of a goroutine or of the program ends the stack, and so does
 * assembly that switches stacks (runtime.systemstack, mcall...): Go's own tracebacks stop there
 * too.
 */
static enum unwind_end step_go(struct frame_state *fs, const struct elf_file *elf,
			       const struct gopclntab *tab, uint64_t vaddr, bool *ret_found)
{
	uint64_t sp = fs->regs[UNWIND_REG_SP], ra, bp;
	struct go_func fn;
	int32_t delta;
	enum unwind_end e;

	*ret_found = false;
	if (!tab || gopclntab__func(tab, vaddr, &fn) != 0)
		return UNWIND_END_NO_CFI;
	*ret_found = true;
	/* the program's entry (_rt0_amd64_linux) is a first frame too, though not flagged so */
	if (fn.top_frame || fn.sp_write || elf_file__is_entry(elf, fn.entry))
		return UNWIND_END_COMPLETE;
	if (gopclntab__sp_delta(tab, &fn, vaddr, &delta) != 0)
		return UNWIND_END_BAD_CFI;
	e = read_stack(fs->in, sp + delta, &ra);
	if (e)
		return e;
	/* a Go frame keeps its caller's frame pointer just below the return address */
	if (delta >= 8 && read_stack(fs->in, sp + delta - 8, &bp) == 0)
		fs->regs[UNWIND_REG_BP] = bp;
	fs->cfa = sp + delta + 8;
	fs->have_cfa = true;
	fs->regs[UNWIND_REG_SP] = fs->cfa;
	fs->regs[UNWIND_REG_PC] = ra;
	return 0;
}

enum unwind_end unwind_stack(const struct unwind_input *in, unwind_code_fn code, void *ctx,
			     struct unwind_cache *cache, uint64_t *pcs, uint32_t max,
			     uint32_t *ret_nr, struct unwind_detail *ret_detail)
{
	struct frame_state fs = { .in = in };
	/* the sampled pc and the pc after a signal frame are exact, return addresses are not */
	bool exact = true;
	enum unwind_end e = UNWIND_END_DEPTH;
	uint32_t n = 0, guessed = 0; /* frames before the first step taken without CFI */
	uint32_t fp = 0, fp_guessed = 0; /* steps taken without CFI, those before the guess */
	bool unmapped;
	/* how each frame was stepped, counted per file for the frames that stay */
	struct step {
		struct elf_file *elf;
		enum unwind_method how;
	} steps[UNWIND_MAX_FRAMES];

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
		bool signal = false, found = false;
		enum unwind_method how;
		int r;

		pcs[n++] = pc;
		r = code(ctx, exact ? pc : pc - 1, &elf, &vaddr);
		if (r == -ENOENT) {
			e = UNWIND_END_UNMAPPED;
			break;
		}
		/* Go code by the runtime's table: authoritative, and no DWARF to load */
		if (r == 0)
			e = step_go(&fs, elf, elf_file__gopclntab(elf), vaddr, &found);
		how = UNWIND_BY_GO;
		if (r == 0 && !found) {
			how = UNWIND_BY_CFI;
			if (cache) {
				e = step_cached(&fs, cache, elf, vaddr, &signal, &found);
			} else if ((cfi = elf_file__cfi(elf)) &&
				   dwarf_cfi_addrframe(cfi, vaddr, &frame) == 0) {
				found = true;
				e = step_cfi(&fs, frame, &signal);
				free(frame);
			}
		}
		if (!found && r == 0 && elf_file__is_entry(elf, vaddr) &&
		    (!exact || at_process_start(&fs))) {
			/*
			 * the dynamic loader's entry has no CFI: reaching it is the end, and so is a
			 * process sampled there before it ran (its exec returning), which the stack
			 * says; a library's e_entry may name any of its functions
			 */
			e = UNWIND_END_COMPLETE;
		} else if (!found) {
			/* JIT code keeps rbp (V8, the JVM with PreserveFramePointer); ELF code may */
			if (r == 0 && !guessed) {
				guessed = n;
				fp_guessed = fp;
			}
			e = r == -ENODATA ? step_fp(&fs, code, ctx)
					  : step_without_cfi(&fs, code, ctx, elf, vaddr, exact);
			fp += !e;
			how = UNWIND_BY_FP;
		}
		if (n <= UNWIND_MAX_FRAMES)
			steps[n - 1] = (struct step){ r == 0 ? elf : NULL, how };
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
	/*
	 * A guess that led into garbage (a pc in no code, a frame down the stack, CFI that cannot
	 * be evaluated there) was wrong, or its frames cannot be told from wrong ones: the stack
	 * ends where its CFI did, as without the guess.
	 */
	unmapped = e == UNWIND_END_UNMAPPED;
	if (guessed &&
	    (e == UNWIND_END_UNMAPPED || e == UNWIND_END_BAD_STACK || e == UNWIND_END_BAD_CFI)) {
		n = guessed;
		e = UNWIND_END_NO_CFI;
		fp = fp_guessed;
	}
	for (uint32_t i = 0; i + 1 < n && i < UNWIND_MAX_FRAMES; i++)
		elf_file__count_unwound(steps[i].elf, steps[i].how);
	*ret_nr = n;
	if (ret_detail)
		*ret_detail = (struct unwind_detail){ .fp = fp, .unmapped = unmapped };
	return e;
}
