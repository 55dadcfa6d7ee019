/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal kernel BTF for the CO-RE relocations of bpf/profile.bpf.c: only the structs and
 * members it reads, with the running kernel's layout. libbpf parses it in microseconds, where
 * the whole kernel BTF (5 MB) costs ~19 ms of every start.
 */
#ifndef SCORCH_BTF_MIN_H
#define SCORCH_BTF_MIN_H

/* Build it from the kernel BTF at src and write it to dst (atomically). 0 or -errno. */
int btf_min__write(const char *src, const char *dst);

#endif
