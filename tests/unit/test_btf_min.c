// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The minimal BTF keeps, for every struct member the BPF program reads, the kernel's offset and
 * a type of the same kind and size. Needs a readable kernel BTF (no root).
 * Usage: test_btf_min [KERNEL_BTF]
 */
#include "check.h"
#include "btf_min.h"

#include <bpf/btf.h>
#include <stdlib.h>
#include <unistd.h>

/* bit offset and resolved type of a member, looking into anonymous members */
static int member(const struct btf *btf, __u32 id, const char *name, __u32 base, __u32 *bits,
		  const struct btf_type **type)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const struct btf_member *m = btf_members(t);

	for (int i = 0; i < btf_vlen(t); i++, m++) {
		const char *n = btf__name_by_offset(btf, m->name_off);
		__u32 off = base + btf_member_bit_offset(t, i);

		if (n && *n) {
			if (strcmp(n, name))
				continue;
			*bits = off;
			*type = btf__type_by_id(btf, btf__resolve_type(btf, m->type));
			return 0;
		}
		if (member(btf, btf__resolve_type(btf, m->type), name, off, bits, type) == 0)
			return 0;
	}
	return -1;
}

static void same(const struct btf *a, const struct btf *b, const char *st, const char *name)
{
	int ia = btf__find_by_name_kind(a, st, BTF_KIND_STRUCT);
	int ib = btf__find_by_name_kind(b, st, BTF_KIND_STRUCT);
	const struct btf_type *ta = NULL, *tb = NULL;
	__u32 oa = 0, ob = 1;

	CHECK(ia > 0 && ib > 0);
	if (ia <= 0 || ib <= 0)
		return;
	CHECK_INT(btf__type_by_id(a, ia)->size, btf__type_by_id(b, ib)->size);
	CHECK_INT(member(a, ia, name, 0, &oa, &ta), 0);
	CHECK_INT(member(b, ib, name, 0, &ob, &tb), 0);
	CHECK_INT(oa, ob);
	if (ta && tb) {
		CHECK_INT(btf_kind(ta), btf_kind(tb));
		if (!btf_is_ptr(ta))
			CHECK_INT(ta->size, tb->size);
	}
	printf("  %s.%s at bit %u\n", st, name, ob);
}

int main(int argc, char **argv)
{
	const char *src = argc > 1 ? argv[1] : "/sys/kernel/btf/vmlinux";
	char dst[] = "/tmp/scorch-btf-min.XXXXXX";
	struct btf *kernel, *min;
	int fd;

	if (access(src, R_OK)) {
		const char *ci = getenv("CI");

		printf("no kernel BTF at %s\n", src);
		return ci && !strcmp(ci, "true") ? 1 : 77;
	}
	fd = mkstemp(dst);
	close(fd);
	CHECK_INT(btf_min__write(src, dst), 0);
	kernel = btf__parse(src, NULL);
	min = btf__parse(dst, NULL);
	CHECK(kernel && min);
	if (kernel && min) {
		CHECK(btf__type_cnt(min) < 50); /* a handful of types, not the kernel's 100,000+ */
		same(kernel, min, "task_struct", "flags");
		same(kernel, min, "task_struct", "tgid");
		same(kernel, min, "task_struct", "signal");
		same(kernel, min, "signal_struct", "live");
	}
	CHECK(btf_min__write("/nonexistent/btf", dst) < 0);
	btf__free(kernel);
	btf__free(min);
	unlink(dst);
	return check_done("test_btf_min");
}
