/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DWARF one compilation unit at a time. libdw opens a file whole: every compressed debug
 * section is inflated when the file is opened (libc6-dbg's: 9.8 MB), whatever the sampled
 * addresses need. Here .debug_aranges maps an address to its unit; the unit and its
 * abbreviation table are read out of .debug_info and .debug_abbrev alone (zlib streams are
 * resumed from checkpoints, never inflated whole), and each unit gets a small libdw handle of
 * its own over an in-memory ELF: that unit, its abbreviations, an .debug_aranges of its own
 * ranges, and the sections all units share (lines, strings, ranges, addresses), which are
 * inflated once.
 */
#ifndef SCORCH_DWARF_LAZY_H
#define SCORCH_DWARF_LAZY_H

#include <stddef.h>
#include <stdint.h>
#include <libelf.h>
#include <elfutils/libdw.h>

#include "dwarf_cache.h"

struct dwarf_lazy;

/*
 * Units of elf (a file scorch holds open and mapped while the result lives). NULL with
 * *ret_err -ENOENT when the file cannot be read this way (no .debug_aranges, a compression
 * other than zlib, an unusable section): the caller opens it whole with libdw instead;
 * -EBADMSG when its sections are corrupt; -ENOMEM.
 */
struct dwarf_lazy_cache {
	const char *dir; /* scorch's cache directory; entries go in dir/dwarf */
	struct dwarf_cache_key key; /* the file's identity */
	struct dwarf_cache_budget *pending; /* shared by the readers; outlives them */
};
/*
 * With cache (or NULL), what an earlier run inflated of the file's compressed sections is read
 * from there, and dwarf_lazy__free() keeps what this one inflated further (dwarf_cache.h).
 */
struct dwarf_lazy *dwarf_lazy__open(Elf *elf, const struct dwarf_lazy_cache *cache, int *ret_err);
void dwarf_lazy__free(struct dwarf_lazy *dl);
/* Write nothing to the cache when freed (what was read may not be what the file holds). */
void dwarf_lazy__forget_cache(struct dwarf_lazy *dl);

/*
 * A libdw handle holding the unit that covers vaddr (dwarf_addrdie() finds it there), valid
 * until the next call or dwarf_lazy__free(): units are kept while few, then dropped oldest
 * first. 0 and *ret NULL when no unit covers vaddr; -EBADMSG when the unit is corrupt (the
 * same unit is not tried again); -ENOMEM.
 */
int dwarf_lazy__at(struct dwarf_lazy *dl, uint64_t vaddr, Dwarf **ret);

struct dwarf_lazy_stats {
	size_t bytes; /* held: inflated shared sections, checkpoints, units kept */
	uint64_t inflated; /* bytes inflated out of .debug_info and .debug_abbrev since opened */
	uint64_t from_cache; /* bytes of them read from the cache instead */
	uint64_t cached_units; /* units opened from the cache's bytes */
	uint64_t opened; /* units read and opened (again after being dropped) */
};
void dwarf_lazy__stats(const struct dwarf_lazy *dl, struct dwarf_lazy_stats *ret);

/*
 * libdw parses a unit's whole line program the first time a line of it is asked for, and
 * holds ~100 bytes a row while it does; a row can take a single byte of the program. Real
 * programs are far smaller (libc's largest: 53 KB; Go's runtime package: 150 KB).
 */
#define DWARF_LINE_PROGRAM_MAX (512u << 10)

/*
 * The size in *ret_len of the line program that cu's lines come from (0: it has none):
 * 0, or -EFBIG when it is larger than DWARF_LINE_PROGRAM_MAX, -EBADMSG.
 */
int dwarf_line_program_check(Dwarf *dw, Dwarf_Die *cu, uint64_t *ret_len);

#endif
