// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer harness: an ELF file's segments, build-id, symbols and DWARF, then lookups. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dwarf_frames.h"
#include "elf_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	struct elf_file *e;
	const char *name;
	uint64_t v, start;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	e = elf_file__read(fd);
	close(fd);
	if (!e)
		return 0;
	elf_file__build_id(e);
	for (uint64_t off = 0; off < 0x3000; off += 0x400) {
		struct dwarf_frame frames[16];

		if (elf_file__offset_to_vaddr(e, off, &v) == 0) {
			elf_file__symbol(e, v, &name, &start);
			dwarf__frames(elf_file__dwarf(e), v, frames, 16);
		}
	}
	elf_file__symbol(e, 0, &name, &start);
	elf_file__symbol(e, UINT64_MAX, &name, &start);
	elf_file__free(e);
	return 0;
}
