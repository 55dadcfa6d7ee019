// SPDX-License-Identifier: LGPL-2.1-or-later
/* Names of JIT'ed BPF programs for kernel frames, from the bpf() syscall (bpf_syms.h). */
#include "bpf_syms.h"
#include "util.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REFRESH_NS 1000000000ULL
#define MAX_FUNCS 256 /* functions of one program we look at */

struct bpf_sym {
	uint64_t start, end;
	char name[48]; /* "bpf_prog_" + 16 hex digits + "_" + up to 15 characters */
};

struct bpf_syms {
	struct bpf_sym *syms; /* sorted by start */
	size_t n, cap;
	uint64_t read_ns;
};

struct bpf_syms *bpf_syms__new(void)
{
	return calloc(1, sizeof(struct bpf_syms));
}

void bpf_syms__free(struct bpf_syms *b)
{
	if (!b)
		return;
	free(b->syms);
	free(b);
}

static int cmp_start(const void *a, const void *b)
{
	const struct bpf_sym *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The functions of one program, appended. */
static void add_program(struct bpf_syms *b, int fd)
{
	struct bpf_prog_info info = { 0 };
	uint64_t ksyms[MAX_FUNCS];
	uint32_t lens[MAX_FUNCS], info_len = sizeof(info), nfuncs;
	char tag[2 * BPF_TAG_SIZE + 1];

	if (bpf_obj_get_info_by_fd(fd, &info, &info_len) || !info.nr_jited_ksyms)
		return;
	nfuncs = info.nr_jited_ksyms < MAX_FUNCS ? info.nr_jited_ksyms : MAX_FUNCS;
	if (info.nr_jited_func_lens < nfuncs)
		nfuncs = info.nr_jited_func_lens;
	for (int i = 0; i < BPF_TAG_SIZE; i++)
		snprintf(tag + 2 * i, 3, "%02x", info.tag[i]);
	/* the second call fills only the arrays asked for */
	memset(&info, 0, sizeof(info));
	info.nr_jited_ksyms = nfuncs;
	info.jited_ksyms = (uintptr_t)ksyms;
	info.nr_jited_func_lens = nfuncs;
	info.jited_func_lens = (uintptr_t)lens;
	info_len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return;
	for (uint32_t i = 0; i < nfuncs; i++) {
		struct bpf_sym *s;

		if (!ksyms[i] || !lens[i] ||
		    grow_array((void **)&b->syms, &b->cap, b->n + 1, sizeof(*b->syms)))
			continue;
		s = &b->syms[b->n++];
		s->start = ksyms[i];
		s->end = ksyms[i] + lens[i];
		/* the kernel names subprograms after the main one too when it lacks BTF names */
		snprintf(s->name, sizeof(s->name), "bpf_prog_%s_%.*s", tag, BPF_OBJ_NAME_LEN,
			 info.name[0] ? info.name : "F");
	}
}

static void reread(struct bpf_syms *b)
{
	uint32_t id = 0;

	b->n = 0;
	while (bpf_prog_get_next_id(id, &id) == 0) {
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue; /* gone in between */
		add_program(b, fd);
		close(fd);
	}
	qsort(b->syms, b->n, sizeof(*b->syms), cmp_start);
}

static uint64_t sym_start(const void *s)
{
	return ((const struct bpf_sym *)s)->start;
}

static const struct bpf_sym *find(const struct bpf_syms *b, uint64_t addr)
{
	size_t lo = upper_bound(b->syms, b->n, sizeof(*b->syms), addr, sym_start);

	return lo && addr < b->syms[lo - 1].end ? &b->syms[lo - 1] : NULL;
}

int bpf_syms__name(void *ctx, uint64_t addr, char *buf, size_t size)
{
	struct bpf_syms *b = ctx;
	const struct bpf_sym *s = find(b, addr);
	uint64_t now;

	if (!s) {
		now = now_ns(CLOCK_MONOTONIC);
		if (b->read_ns && now - b->read_ns < REFRESH_NS)
			return -ENOENT;
		b->read_ns = now;
		reread(b);
		s = find(b, addr);
		if (!s)
			return -ENOENT;
	}
	snprintf(buf, size, "%s", s->name);
	return 0;
}
