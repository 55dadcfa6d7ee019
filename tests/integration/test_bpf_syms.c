// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Names of JIT'ed BPF programs from the bpf() syscall: a program the test loads is named at any
 * address inside it exactly as /proc/kallsyms names it. Needs root and BPF: skipped (77)
 * without them, failed when CI=true.
 */
#include "../unit/check.h"
#include "bpf_syms.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <unistd.h>

static int unavailable(const char *why)
{
	const char *ci = getenv("CI");

	if (ci && !strcmp(ci, "true")) {
		fprintf(stderr, "FAIL: needs root and BPF (%s)\n", why);
		return 1;
	}
	fprintf(stderr, "SKIP: needs root and BPF (%s)\n", why);
	return 77;
}

/* The name /proc/kallsyms gives the symbol at addr, or "". */
static void kallsyms_name(uint64_t addr, char *buf, size_t size)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[512], name[256];
	unsigned long long a;

	buf[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %*s %255s", &a, name) == 2 && a == addr) {
			snprintf(buf, size, "%s", name);
			break;
		}
	if (f)
		fclose(f);
}

int main(void)
{
	/* r0 = 0; exit */
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct bpf_prog_info info = { 0 };
	uint32_t info_len = sizeof(info), len = 0;
	uint64_t addr = 0;
	char name[128], expect[256];
	struct bpf_syms *b;
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "scorch_test", "GPL", insns, 2, NULL);
	if (fd < 0)
		return unavailable(strerror(errno));
	info.nr_jited_ksyms = 1;
	info.jited_ksyms = (uintptr_t)&addr;
	info.nr_jited_func_lens = 1;
	info.jited_func_lens = (uintptr_t)&len;
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len) || !addr || !len)
		return unavailable("no JIT'ed program addresses");

	b = bpf_syms__new();
	CHECK(b != NULL);
	if (!b)
		return check_done("test_bpf_syms");
	kallsyms_name(addr, expect, sizeof(expect));
	CHECK(strncmp(expect, "bpf_prog_", 9) == 0);
	CHECK_INT(bpf_syms__name(b, addr, name, sizeof(name)), 0);
	CHECK_STR(name, expect);
	CHECK_INT(bpf_syms__name(b, addr + len - 1, name, sizeof(name)), 0);
	CHECK_STR(name, expect);
	/* just past the program: not this one (and within a second, not read again) */
	name[0] = 0;
	if (bpf_syms__name(b, addr + len, name, sizeof(name)) == 0)
		CHECK(strcmp(name, expect) != 0);
	CHECK_INT(bpf_syms__name(b, 0xffffffffffff0000ULL, name, sizeof(name)), -ENOENT);
	close(fd);
	bpf_syms__free(b);
	return check_done("test_bpf_syms");
}
