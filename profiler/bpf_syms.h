/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Names of JIT'ed BPF programs, from the bpf() syscall (program ids, then each program's
 * jited_ksyms and jited_func_lens): exact ranges for the kernel addresses that kallsyms caches
 * cannot vouch for, without reading all of /proc/kallsyms again. Program ids need
 * CAP_SYS_ADMIN: without it every lookup fails, and the symbolizer names the programs from
 * /proc/kallsyms (tests/integration/privilege.sh checks that it does).
 */
#ifndef SCORCH_BPF_SYMS_H
#define SCORCH_BPF_SYMS_H

#include <stddef.h>
#include <stdint.h>

struct bpf_syms;

struct bpf_syms *bpf_syms__new(void);
void bpf_syms__free(struct bpf_syms *b);
/*
 * Name the BPF program function holding addr as the kernel does ("bpf_prog_TAG_NAME"). The
 * program list is read again, at most once a second, when addr is not in it. 0 or -ENOENT.
 * The signature of symbolizer_opts.name_kernel.
 */
int bpf_syms__name(void *b, uint64_t addr, char *buf, size_t size);

#endif
