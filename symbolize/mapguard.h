/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guard for the file mappings ELF and DWARF are read from. A profiled process can shrink a
 * file of its own while scorch has it mapped, and a read past the new end raises SIGBUS. Inside
 * a guarded range the fault gets zero pages from there to the end of the range (the parsers
 * read zeros, which they survive as any garbage) and the range is marked; any other SIGBUS goes
 * to the handler there was before, or ends the process as it would have without the guard.
 */
#ifndef SCORCH_MAPGUARD_H
#define SCORCH_MAPGUARD_H

#include <stdbool.h>
#include <stddef.h>

/* Ranges guarded at once: more than the mappings the kernel allows (vm.max_map_count 65530). */
#define MAPGUARD_MAX 65536

/*
 * Guard [addr, addr + len), a page-aligned read-only private file mapping (none of its pages
 * may be written: a fault replaces them). The SIGBUS handler is installed on first use. Any
 * thread, any time. A slot for mapguard__remove() and mapguard__tripped(), or -ENOSPC (every
 * slot taken), -EINVAL, or -errno from sigaction().
 */
int mapguard__add(void *addr, size_t len);
/* Stop guarding, before the range is unmapped. A slot below 0 is ignored. */
void mapguard__remove(int slot);
/* Has a read of the range faulted (the file shrank, or its pages could not be read)? */
bool mapguard__tripped(int slot);

#endif
