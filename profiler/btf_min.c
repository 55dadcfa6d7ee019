// SPDX-License-Identifier: LGPL-2.1-or-later
/* The per-boot minimal BTF the BPF program's CO-RE relocations need (btf_min.h). */
#include "btf_min.h"
#include "fileio.h"
#include "util.h"

#include <bpf/btf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What bpf/profile.bpf.c reads with BPF_CORE_READ(); keep in step with it. */
#define WANTED_MEMBERS_MAX 6

static const struct {
	const char *name;
	const char *members[WANTED_MEMBERS_MAX];
} wanted[] = {
	{ "task_struct", { "flags", "tgid", "signal", "stack", "thread" } },
	{ "signal_struct", { "live" } },
	{ "thread_struct", { "fsbase" } },
};

struct copier {
	const struct btf *src;
	struct btf *dst;
	int *map; /* source id -> new id, 0: not copied yet */
	char *busy; /* source struct ids being copied (cycles become forward declarations) */
};

static const char *const *members_of(const char *name)
{
	for (size_t i = 0; name && *name && i < ARRAY_SIZE(wanted); i++)
		if (!strcmp(wanted[i].name, name))
			return wanted[i].members;
	return NULL;
}

/* Find a member by name, also inside anonymous struct and union members. */
static int find_member(const struct btf *btf, const struct btf_type *t, const char *name,
		       __u32 base_bits, __u32 *ret_bits, __u32 *ret_bitfield, __u32 *ret_type)
{
	const struct btf_member *m = btf_members(t);

	for (int i = 0; i < btf_vlen(t); i++, m++) {
		const char *mname = btf__name_by_offset(btf, m->name_off);
		__u32 bits = base_bits + btf_member_bit_offset(t, i);
		const struct btf_type *mt;

		if (mname && *mname) {
			if (strcmp(mname, name))
				continue;
			*ret_bits = bits;
			*ret_bitfield = btf_member_bitfield_size(t, i);
			*ret_type = m->type;
			return 0;
		}
		mt = btf__type_by_id(btf, m->type);
		while (mt && (btf_is_mod(mt) || btf_is_typedef(mt)))
			mt = btf__type_by_id(btf, mt->type);
		if (mt && btf_is_composite(mt) &&
		    find_member(btf, mt, name, bits, ret_bits, ret_bitfield, ret_type) == 0)
			return 0;
	}
	return -ENOENT;
}

static int copy_type(struct copier *c, __u32 id);

static int copy_composite(struct copier *c, __u32 id, const struct btf_type *t)
{
	const char *name = btf__name_by_offset(c->src, t->name_off);
	const char *const *only = members_of(name);
	__u32 bits[64], bitfield[64], types[64];
	const char *names[64];
	int n = 0, new_id;

	c->busy[id] = 1;
	if (only) {
		for (; n < WANTED_MEMBERS_MAX && only[n]; n++) {
			if (find_member(c->src, t, only[n], 0, &bits[n], &bitfield[n], &types[n]))
				return -ENOENT;
			names[n] = only[n];
		}
	} else {
		const struct btf_member *m = btf_members(t);

		if (btf_vlen(t) > 64)
			return -E2BIG; /* only small helper types are copied whole */
		for (; n < btf_vlen(t); n++, m++) {
			names[n] = btf__name_by_offset(c->src, m->name_off);
			bits[n] = btf_member_bit_offset(t, n);
			bitfield[n] = btf_member_bitfield_size(t, n);
			types[n] = m->type;
		}
	}
	/* member types first: fields must follow their struct directly */
	for (int i = 0; i < n; i++) {
		int r = copy_type(c, types[i]);

		if (r < 0)
			return r;
		types[i] = r;
	}
	c->busy[id] = 0;
	new_id = btf_is_struct(t) ? btf__add_struct(c->dst, name, t->size)
				  : btf__add_union(c->dst, name, t->size);
	if (new_id < 0)
		return new_id;
	for (int i = 0; i < n; i++) {
		int r = btf__add_field(c->dst, names[i], types[i], bits[i], bitfield[i]);

		if (r < 0)
			return r;
	}
	return new_id;
}

static int copy_type(struct copier *c, __u32 id)
{
	const struct btf_type *t;
	const char *name;
	int r = 0, target;

	if (!id)
		return 0;
	if (c->map[id])
		return c->map[id];
	t = btf__type_by_id(c->src, id);
	if (!t)
		return -EINVAL;
	name = btf__name_by_offset(c->src, t->name_off);
	switch (btf_kind(t)) {
	case BTF_KIND_INT:
		r = btf__add_int(c->dst, name, t->size, btf_int_encoding(t));
		break;
	case BTF_KIND_CONST:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
		return copy_type(c, t->type); /* CO-RE does not look at modifiers */
	case BTF_KIND_TYPEDEF:
		target = copy_type(c, t->type);
		if (target < 0)
			return target;
		r = btf__add_typedef(c->dst, name, target);
		break;
	case BTF_KIND_PTR: {
		const struct btf_type *pt = btf__type_by_id(c->src, t->type);
		const char *pname = pt ? btf__name_by_offset(c->src, pt->name_off) : NULL;

		/* a struct we do not read through, or one being built, is only declared */
		if (pt && btf_is_composite(pt) && (!members_of(pname) || c->busy[t->type]))
			target = btf__add_fwd(c->dst, pname,
					      btf_is_struct(pt) ? BTF_FWD_STRUCT : BTF_FWD_UNION);
		else
			target = copy_type(c, t->type);
		if (target < 0)
			return target;
		r = btf__add_ptr(c->dst, target);
		break;
	}
	case BTF_KIND_ARRAY: {
		const struct btf_array *a = btf_array(t);
		int elem = copy_type(c, a->type), index = copy_type(c, a->index_type);

		if (elem < 0 || index < 0)
			return elem < 0 ? elem : index;
		r = btf__add_array(c->dst, index, elem, a->nelems);
		break;
	}
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		r = copy_composite(c, id, t);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (r > 0)
		c->map[id] = r;
	return r;
}

int btf_min__write(const char *src, const char *dst)
{
	struct btf *vmlinux = btf__parse(src, NULL);
	struct copier c = { .src = vmlinux };
	struct atomic_file file;
	const void *raw;
	__u32 size;
	int r = -ENOMEM;

	if (!vmlinux)
		return -errno;
	c.dst = btf__new_empty();
	c.map = calloc(btf__type_cnt(vmlinux), sizeof(*c.map));
	c.busy = calloc(btf__type_cnt(vmlinux), 1);
	if (!c.dst || !c.map || !c.busy)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
		int id = btf__find_by_name_kind(vmlinux, wanted[i].name, BTF_KIND_STRUCT);

		if (id < 0) {
			r = id;
			goto out;
		}
		r = copy_type(&c, id);
		if (r < 0)
			goto out;
	}
	raw = btf__raw_data(c.dst, &size);
	if (!raw) {
		r = -errno;
		goto out;
	}
	r = atomic_file__open(&file, dst, 0600);
	if (!r)
		r = atomic_file__write(&file, raw, size);
	if (!r)
		r = atomic_file__commit(&file);
	else
		atomic_file__abort(&file);
out:
	free(c.map);
	free(c.busy);
	btf__free(c.dst);
	btf__free(vmlinux);
	return r;
}
