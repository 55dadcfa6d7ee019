// SPDX-License-Identifier: LGPL-2.1-or-later
#include "build.h"
#include "collect.h"
#include "hashmap.h"
#include "model.h"
#include "profile.h"
#include "symbolizer.h"
#include "elf_file.h"
#include "unwind.h"
#include "util.h"

#include <errno.h>
#include <string.h>

struct builder {
	struct profile *p;
	struct symbolizer *sym;
	struct hmap *mappings; /* const sym_mapping* -> mapping id */
	struct hmap *locations; /* loc_key -> location id */
};

struct loc_key {
	uint32_t pid, seq; /* 0, 0 for kernel addresses and placeholders */
	uint64_t addr;
};

static uint64_t mapping_id(struct builder *b, const struct sym_mapping *m)
{
	struct prof_mapping pm = { 0 };
	uint64_t id = (uintptr_t)hmap__get(b->mappings, &m, sizeof(m));

	if (id)
		return id;
	pm.start = m->start;
	pm.limit = m->end;
	pm.offset = m->offset;
	pm.filename = profile__intern(b->p, m->path);
	pm.build_id = profile__intern(b->p, m->build_id ? m->build_id : "");
	pm.has_functions = m->kernel || (m->elf && elf_file__nsymbols(m->elf) > 0);
	/* DWARF gives lines, files and inlined functions */
	pm.has_filenames = pm.has_line_numbers = pm.has_inline_frames =
	    m->elf && elf_file__has_dwarf(m->elf);
	id = profile__add_mapping(b->p, &pm);
	if (id && hmap__put(b->mappings, &m, sizeof(m), (void *)(uintptr_t)id))
		return 0;
	return id;
}

/* Placeholder location keys: lost stacks by id (and kernel bit), truncations by end. */
#define PLACEHOLDER_KERNEL 0x100
#define PLACEHOLDER_TRUNCATED 0x200

/*
 * A frame standing for what could not be recorded, so its samples keep their CPU time: a lost
 * stack, or the end of a user stack cut short.
 */
static uint64_t placeholder(struct builder *b, uint64_t which, bool kernel)
{
	struct loc_key key = { 0, 0, which | (kernel ? PLACEHOLDER_KERNEL : 0) };
	uint64_t id = (uintptr_t)hmap__get(b->locations, &key, sizeof(key));
	struct prof_line line = { 0 };
	char name[64];

	if (id)
		return id;
	if (which & PLACEHOLDER_TRUNCATED)
		snprintf(name, sizeof(name), "[truncated: %s]",
			 unwind_end_name(which & ~PLACEHOLDER_TRUNCATED));
	else
		snprintf(name, sizeof(name), "[%s stack lost: %s]", kernel ? "kernel" : "user",
			 which == SCORCH_STACK_LOST_FULL   ? "stack map full"
			 : which == SCORCH_STACK_LOST_COPY ? "sample ring full"
							   : "read fault");
	line.function = profile__function(b->p, name, name, "", 0);
	if (!line.function)
		return 0;
	id = profile__location(b->p, 0, 0, &line, 1);
	if (id)
		hmap__put(b->locations, &key, sizeof(key), (void *)(uintptr_t)id);
	return id;
}

static uint64_t location(struct builder *b, bool kernel, uint32_t pid, uint32_t seq, uint64_t addr)
{
	struct loc_key key = { kernel ? 0 : pid, kernel ? 0 : seq, addr };
	uint64_t id = (uintptr_t)hmap__get(b->locations, &key, sizeof(key));
	struct prof_line lines[SYM_MAX_LINES];
	struct sym_frame f;
	uint64_t mid = 0;

	if (id)
		return id;
	if (kernel)
		symbolizer__resolve_kernel(b->sym, addr, &f);
	else
		symbolizer__resolve_user(b->sym, pid, seq, addr, &f);
	if (f.mapping) {
		mid = mapping_id(b, f.mapping);
		if (!mid)
			return 0;
	}
	/* one line per function at the address, inlined ones first, as pprof wants them */
	for (int i = 0; i < f.nlines; i++) {
		const struct sym_line *l = &f.lines[i];

		lines[i] = (struct prof_line){ .line = l->line };
		lines[i].function =
		    profile__function(b->p, l->function, l->system_name,
				      l->decl_file ? l->decl_file : l->file, l->decl_line);
		if (!lines[i].function)
			return 0;
	}
	id = profile__location(b->p, mid, addr, lines, f.nlines);
	if (id && hmap__put(b->locations, &key, sizeof(key), (void *)(uintptr_t)id))
		return 0;
	return id;
}

/*
 * Append one stack's locations, leaf first. The first pc is where the sample hit; every other
 * one is a return address and is looked up at pc - 1, inside the call instruction.
 */
static int add_stack(struct builder *b, const struct collector *c, uint64_t id, bool kernel,
		     uint32_t pid, uint32_t seq, uint64_t *locs, uint32_t *n)
{
	const struct collected_stack *st;
	uint32_t end;

	if (id == SCORCH_STACK_NONE)
		return 0;
	st = collector__stack(c, id);
	if (!st) {
		uint64_t l = placeholder(
		    b, id < SCORCH_STACK_FIRST_REAL ? id : SCORCH_STACK_LOST_FULL, kernel);

		if (!l)
			return -ENOMEM;
		locs[(*n)++] = l;
		return 0;
	}
	for (uint32_t i = 0; i < st->nr; i++) {
		uint64_t pc = st->ip[i], l;

		if (i > 0 && pc)
			pc--;
		l = location(b, kernel, pid, seq, pc);
		if (!l)
			return -ENOMEM;
		locs[(*n)++] = l;
	}
	/* a user stack cut short ends in a frame saying why, never in a wrong caller */
	end = st->end;
	if (!kernel && end == UNWIND_END_UNKNOWN && st->nr >= SCORCH_MAX_STACK_DEPTH)
		end = UNWIND_END_DEPTH;
	if (!kernel && end != UNWIND_END_UNKNOWN && end != UNWIND_END_COMPLETE) {
		uint64_t l = placeholder(b, PLACEHOLDER_TRUNCATED | end, false);

		if (!l)
			return -ENOMEM;
		locs[(*n)++] = l;
	}
	return 0;
}

struct profile *build_profile(const struct collector *c, struct symbolizer *sym,
			      const struct build_opts *opts)
{
	uint64_t locs[SCORCH_MAX_STACK_DEPTH + UNWIND_MAX_FRAMES + 4];
	const struct scorch_sample_key *key;
	struct builder b = { .sym = sym };
	uint32_t k_pid, k_tid, k_comm;
	uint64_t count;
	size_t pos = 0;
	int err = -ENOMEM;

	b.p = profile__new();
	b.mappings = hmap__new();
	b.locations = hmap__new();
	if (!b.p || !b.mappings || !b.locations)
		goto fail;
	if (profile__add_sample_type(b.p, "samples", "count") ||
	    profile__add_sample_type(b.p, "cpu", "nanoseconds"))
		goto fail;
	b.p->period_type.type = profile__intern(b.p, "cpu");
	b.p->period_type.unit = profile__intern(b.p, "nanoseconds");
	b.p->period = 1000000000LL / opts->freq;
	b.p->default_sample_type = profile__intern(b.p, "cpu");
	b.p->time_nanos = opts->start_ns;
	b.p->duration_nanos = opts->duration_ns;
	k_pid = profile__intern(b.p, "pid");
	k_tid = profile__intern(b.p, "thread_id");
	k_comm = profile__intern(b.p, "comm");

	while (collector__next(c, &pos, &key, &count)) {
		struct prof_label labels[3];
		char comm[SCORCH_COMM_LEN + 1];
		int64_t values[2];
		uint32_t n = 0;

		if (opts->one_pid && key->pid != opts->pid)
			continue;
		err = add_stack(&b, c, key->kstack, true, 0, 0, locs, &n);
		if (!err)
			err =
			    add_stack(&b, c, key->ustack, false, key->pid, key->proc_seq, locs, &n);
		if (err)
			goto fail;
		memcpy(comm, key->comm, SCORCH_COMM_LEN);
		comm[SCORCH_COMM_LEN] = 0;
		labels[0] = (struct prof_label){ .key = k_pid, .num = key->pid };
		labels[1] = (struct prof_label){ .key = k_tid, .num = key->tid };
		labels[2] = (struct prof_label){ .key = k_comm, .str = profile__intern(b.p, comm) };
		values[0] = count;
		values[1] = count * b.p->period;
		err = profile__add_sample(b.p, locs, n, values, labels, 3);
		if (err)
			goto fail;
	}
	hmap__free(b.mappings);
	hmap__free(b.locations);
	return b.p;
fail:
	profile__free(b.p);
	hmap__free(b.mappings);
	hmap__free(b.locations);
	errno = -err;
	return NULL;
}
