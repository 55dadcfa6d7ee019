/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One ELF file's symbol table, load segments and build-id, read once with libelf. */
#ifndef SCORCH_ELF_H
#define SCORCH_ELF_H

#include "dwarf_lazy.h"
#include "unwind.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_file;
struct gopclntab;

struct elf_segment {
	uint64_t offset, vaddr, filesz;
	bool exec;
};

/*
 * Memory for the symbol tables of several files, bounded for all of them together. Plain
 * numbers, shared by the files given it (not thread-safe), outliving them: each file charges
 * what its symbols hold, transient copies while they are read included, and credits it back
 * when freed.
 */
struct elf_symbol_budget {
	size_t max; /* bytes */
	size_t used; /* held by the files now */
	size_t refused; /* files whose symbols did not fit: they have none */
};

/*
 * Read an ELF file from fd (not consumed). Corrupt files do not fail: what could be read is kept
 * (possibly nothing), and elf_file__error() says what went wrong. NULL only on allocation failure.
 * The file stays mapped (mapguard.h: it may shrink meanwhile) and is read on demand.
 */
struct elf_file *elf_file__read(int fd);
/*
 * Charge the file's symbols to budget (NULL: none but the bounds per file), before they are
 * first read. Past the budget a file has no symbols (elf_file__problems(): ELF_WARN_BUDGET).
 */
void elf_file__set_budget(struct elf_file *f, struct elf_symbol_budget *budget);
/*
 * Keep what reading its compressed DWARF inflates in dir (scorch's cache directory, which
 * outlives f), for the next run to start from (dwarf_cache.h); NULL: not kept. pending (shared
 * by the files of one symbolizer, outliving them) bounds what they hold on disk meanwhile.
 */
void elf_file__set_cache_dir(struct elf_file *f, const char *dir,
			     struct dwarf_cache_budget *pending);
/*
 * Bytes the file's symbols hold: at most what its symbol and string tables do (names are
 * copied once each, however many symbols share them).
 */
size_t elf_file__symbol_bytes(const struct elf_file *f);
void elf_file__free(struct elf_file *f);
/* A number for this file object, never given to another one in the process's lifetime. */
uint64_t elf_file__id(const struct elf_file *f);
/* NULL, or a static description of why the file (or its symbols) could not be read. */
const char *elf_file__error(const struct elf_file *f);
/*
 * The GNU build-id of the ELF file behind fd, in hex, without reading the rest. 0 or -errno
 * (-ESTALE: the file shrank while it was read). Any thread.
 */
int elf_build_id_of_fd(int fd, char *ret, size_t size);
/* Hex GNU build-id, or "" when there is none. */
const char *elf_file__build_id(const struct elf_file *f);
size_t elf_file__nsymbols(const struct elf_file *f);
/* Translate an offset in the file into the virtual address the ELF headers give it. */
int elf_file__offset_to_vaddr(const struct elf_file *f, uint64_t offset, uint64_t *ret_vaddr);
/* The .gnu_debuglink file name and CRC, or NULL when the file has none. */
const char *elf_file__debuglink(const struct elf_file *f, uint32_t *ret_crc);
/* Were the symbols read from a full .symtab (not only the dynamic ones)? */
bool elf_file__has_symtab(const struct elf_file *f);
/*
 * Take symbols, and DWARF when with_dwarf, from a separate debug file (fd not consumed), when
 * it has what this file lacks and, if both carry one, the same build-id. 0, or -ENOENT
 * (build-id differs or nothing to gain), -ENOMEM.
 */
int elf_file__add_debug_file(struct elf_file *f, int fd, bool with_dwarf);

/* Does the file carry DWARF (.debug_info)? */
bool elf_file__has_dwarf(const struct elf_file *f);
/*
 * libdw's handle on the file's DWARF, opened on first use; NULL when there is none, or when
 * its unit headers do not hold together (elf_file__has_dwarf() still says it has some).
 */
struct Dwarf *elf_file__dwarf(struct elf_file *f);
/*
 * A libdw handle holding the DWARF that covers vaddr, valid until the next call for the file:
 * with .debug_aranges only the unit at vaddr is read (dwarf_lazy.h), else the file whole as
 * elf_file__dwarf(). 0 and *ret (NULL: no DWARF there, or the file shrank under it), -EBADMSG
 * when the DWARF is corrupt, -EFBIG when what it needs would not fit in the memory budget
 * (debug sections inflating past 1 GB opened whole, 256 MB of shared sections read by unit,
 * a line program past DWARF_LINE_PROGRAM_MAX, deflate blocks too large to go back into),
 * -ENOMEM.
 */
int elf_file__dwarf_at(struct elf_file *f, uint64_t vaddr, struct Dwarf **ret);
/* What the unit-at-a-time reader did and holds for the file; false when it has none. */
bool elf_file__dwarf_stats(const struct elf_file *f, struct dwarf_lazy_stats *ret);

/* Problems a file is warned about at most once. */
enum elf_warning {
	ELF_WARN_DWARF = 1 << 0, /* DWARF that libdw cannot read */
	ELF_WARN_UNWIND = 1 << 1, /* code that the unwinder could not get through */
	/*
	 * The file (or its debug file) shrank while mapped: what was read is kept (the symbols),
	 * nothing more is read from it (DWARF, call frame information and Go's table are gone)
	 */
	ELF_WARN_SHRANK = 1 << 2,
	ELF_WARN_BUDGET = 1 << 3, /* its symbols did not fit in the budget: it has none */
};

/* True the first time it is called for this problem of this file. */
bool elf_file__warn_once(struct elf_file *f, enum elf_warning what);
/* The problems found since the file was read (ELF_WARN_SHRANK, ELF_WARN_BUDGET bits). */
unsigned int elf_file__problems(const struct elf_file *f);

/* The lowest and highest virtual address of the executable segments; -ENOENT when none. */
int elf_file__exec_range(const struct elf_file *f, uint64_t *ret_lo, uint64_t *ret_hi);
/* The call frame information (.eh_frame, else .debug_frame) of the file; NULL when none. */
struct Dwarf_CFI_s *elf_file__cfi(struct elf_file *f);
/* Is vaddr in the file's entry code (the first frame of a process, CFI or not)? */
bool elf_file__is_entry(const struct elf_file *f, uint64_t vaddr);
/* How the unwinder stepped through the file's frames, counted per file. */
void elf_file__count_unwound(struct elf_file *f, enum unwind_method how);
/* UNWIND_BY_MAX counts, by enum unwind_method. */
const uint64_t *elf_file__unwound(const struct elf_file *f);

/* Does the file's code keep frame pointers (judged from its functions' prologues)? */
bool elf_file__keeps_frame_pointers(const struct elf_file *f);

/*
 * CPython's _PyRuntime and Py_Version (0 when absent: before 3.11) as the file's dynamic symbol
 * table exports them, at their virtual addresses. 0, or -ENOENT when the file exports no
 * _PyRuntime.
 */
int elf_file__python(const struct elf_file *f, uint64_t *ret_runtime, uint64_t *ret_version);

/* Go's function table (.gopclntab), opened on first use; NULL when there is none. */
const struct gopclntab *elf_file__gopclntab(const struct elf_file *f);

/*
 * Function symbol containing vaddr (Go code's from Go's table): name valid until
 * elf_file__free(); 0 or -ENOENT.
 */
int elf_file__symbol(const struct elf_file *f, uint64_t vaddr, const char **ret_name,
		     uint64_t *ret_start);

/*
 * Give back the file pages of the mappings read so far (DWARF, CFI and symbol lookups touch
 * them; they would stay in RSS for as long as the file is cached). Later reads fault them in.
 */
void elf_file__release_pages(struct elf_file *f);

#endif
