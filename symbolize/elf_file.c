// SPDX-License-Identifier: LGPL-2.1-or-later
/* Reading an ELF file once: segments, build-id, symbol tables, DWARF and CFI, bounded. */
#include "elf_file.h"
#include "dwarf_lazy.h"
#include "gopclntab.h"
#include "hashmap.h"
#include "mapguard.h"
#include "util.h"

#include <elf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Bounds against hostile files: symbols and segments read from one file. */
#define ELF_MAX_SYMBOLS (8u << 20)
#define ELF_MAX_SEGMENTS 256

struct elf_sym {
	uint64_t start, size;
	uint32_t name; /* offset into names (into the string table while the table is read) */
	uint8_t bind;
};

/*
 * A file mapped to be read with libelf: read-only, private, never written (its pages stay clean
 * and can be dropped), guarded against the file shrinking under it (mapguard.h). One page more
 * than the file is mapped: a string that no longer ends inside the file (it was written to since
 * it was checked) ends there, in zeros, rather than in whatever follows the mapping.
 *
 * All but the pages of the section header table: libelf reads those in place from memory it is
 * given (elf_memory()), and writes to them (elf_compress(), when libdw decompresses a debug
 * section). They are a copy of their own, anonymous and writable, neither guarded nor dropped.
 */
struct file_map {
	Elf *elf; /* elf_memory() over the mapping */
	void *base;
	size_t len; /* of the mapping */
	size_t copy_lo, copy_hi; /* the pages [copy_lo, copy_hi) are a copy (none: both 0) */
	int guard[2]; /* mapguard slots of [0, copy_lo) and [copy_hi, len), or -1 */
	struct dwarf_cache_key key; /* the file's identity when it was opened */
};

/* Section header tables larger than this are refused (libelf keeps ~200 bytes a section). */
#define ELF_MAX_SECTIONS 65536

struct elf_file {
	struct elf_sym *syms;
	size_t nsyms, cap_syms;
	char *names;
	size_t names_len, names_cap;
	struct elf_symbol_budget *budget; /* charged for syms and names; or NULL */
	size_t charged; /* bytes of it this file holds */
	bool syms_refused; /* its symbols did not fit in the budget: none are kept */
	bool temporary; /* a debug file or MiniDebugInfo read for another file, which answers */
	struct elf_segment segs[ELF_MAX_SEGMENTS];
	size_t nsegs;
	char build_id[2 * 64 + 1];
	const char *error;
	Elf *elf; /* own.elf or debug.elf, when the file (or its debug file) has DWARF */
	bool has_symtab;
	bool in_minidebug; /* this is a MiniDebugInfo ELF: no nested one is read */
	char debuglink[256];
	uint32_t debuglink_crc;
	Dwarf *dwarf; /* opened on first use */
	bool dwarf_tried, dwarf_too_large; /* its debug sections inflate past DWARF_WHOLE_MAX */
	struct hmap *whole_units; /* libdw whole: the units whose lines it parsed */
	size_t whole_rows; /* and their rows, all together */
	struct dwarf_lazy *lazy; /* the DWARF a unit at a time, opened on first use; or NULL */
	const char *cache_dir; /* where what its DWARF inflated is kept between runs; or NULL */
	struct dwarf_cache_budget *cache_pending; /* what all files' readers hold for it */
	bool lazy_tried;
	int lazy_err; /* why not: -ENOENT (libdw reads it whole), -EBADMSG, -ENOMEM */
	bool has_cfi; /* .eh_frame or .debug_frame with contents */
	uint64_t debug_info_size; /* of the .debug_info that f->elf holds */
	Elf *cfi_elf; /* own.elf, for its call frame information; or NULL */
	Dwarf_CFI *cfi; /* opened on first use */
	bool cfi_owned; /* from dwarf_getcfi_elf(): ours to end */
	bool cfi_tried;
	uint32_t fp_checked, fp_kept; /* functions sampled, and those setting up a frame pointer */
	unsigned int warned; /* enum elf_warning bits already reported */
	uint64_t entry; /* e_entry: where the process (or the dynamic loader) starts */
	uint64_t id; /* unique in the process's lifetime */
	struct file_map own; /* the file (no descriptor held): symbols are read from it lazily */
	struct file_map debug; /* a separate debug file whose DWARF is used; or nothing */
	bool syms_loaded; /* symbols read (or taken from a debug file), frame pointers judged */
	uint64_t gopclntab_off, gopclntab_size; /* Go's function table in the file, if any */
	uint64_t relro_off, relro_size; /* .data.rel.ro, where a PIE linked externally keeps it */
	bool is_go; /* has Go's build id or build info */
	uint64_t text_vaddr; /* address of .text */
	struct gopclntab *gopclntab; /* opened on first use */
	bool gopclntab_tried;
	bool py_checked; /* the dynamic symbols were searched for CPython's */
	uint64_t py_runtime, py_version; /* their addresses, 0 when absent */
	uint64_t unwound[UNWIND_BY_MAX]; /* frames stepped, by how */
};

/* Source of elf_file ids. */
static uint64_t next_id;

uint64_t elf_file__id(const struct elf_file *f)
{
	return f->id;
}

void elf_file__count_unwound(struct elf_file *f, enum unwind_method how)
{
	if (f && how < UNWIND_BY_MAX)
		f->unwound[how]++;
}

const uint64_t *elf_file__unwound(const struct elf_file *f)
{
	return f->unwound;
}

bool elf_file__warn_once(struct elf_file *f, enum elf_warning what)
{
	if (f->warned & what)
		return false;
	f->warned |= what;
	return true;
}

/*
 * Where the section header table of the file behind fd lies (in the file, within size bytes),
 * read with pread (no mapping involved): 0 with [*ret_off, *ret_off + *ret_len), empty when
 * there is none or libelf would not read it in place; -E2BIG when it has too many sections.
 */
static int section_headers(int fd, size_t size, size_t *ret_off, size_t *ret_len)
{
	union {
		unsigned char ident[EI_NIDENT];
		Elf32_Ehdr e32;
		Elf64_Ehdr e64;
	} eh;
	union {
		Elf32_Shdr s32;
		Elf64_Shdr s64;
	} first;
	bool is64;
	uint64_t off, n, entsize;

	*ret_off = *ret_len = 0;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.ident, ELFMAG, SELFMAG) ||
	    (eh.ident[EI_CLASS] != ELFCLASS32 && eh.ident[EI_CLASS] != ELFCLASS64))
		return 0;
	/* in another byte order libelf converts the table into memory of its own */
	if (eh.ident[EI_DATA] !=
	    (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB))
		return 0;
	is64 = eh.ident[EI_CLASS] == ELFCLASS64;
	off = is64 ? eh.e64.e_shoff : eh.e32.e_shoff;
	n = is64 ? eh.e64.e_shnum : eh.e32.e_shnum;
	entsize = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	if (!off || off >= size)
		return 0;
	/* more than 0xff00 sections: the count is in the first header */
	if (!n && pread(fd, &first, entsize, off) == (ssize_t)entsize)
		n = is64 ? first.s64.sh_size : first.s32.sh_size;
	if (n > ELF_MAX_SECTIONS)
		return -E2BIG;
	*ret_off = off;
	*ret_len = n * entsize > size - off ? size - off : n * entsize;
	return 0;
}

/*
 * Map the file behind fd for libelf. Our own mapping rather than libelf's (ELF_C_READ_MMAP): it
 * is guarded before libelf reads a byte of it. 0, or -EBADMSG (not a regular file of some
 * size), -E2BIG (too many sections), -ENOSPC (too many guarded mappings), -errno.
 */
static int file_map__open(struct file_map *m, int fd)
{
	size_t page = sysconf(_SC_PAGESIZE), size, sh_off, sh_len;
	struct stat st;
	char *base;
	int r;

	*m = (struct file_map){ .guard = { -1, -1 } };
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < EI_NIDENT ||
	    (uint64_t)st.st_size > SIZE_MAX - 2 * page)
		return -EBADMSG;
	size = st.st_size;
	dwarf_cache_key__from_stat(&m->key, &st);
	r = section_headers(fd, size, &sh_off, &sh_len);
	if (r)
		return r;
	m->len = (size + page - 1) / page * page + page;
	base = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	m->base = base;
	if (sh_len) {
		size_t n;

		m->copy_lo = sh_off / page * page;
		m->copy_hi = (sh_off + sh_len + page - 1) / page * page;
		n = (size < m->copy_hi ? size : m->copy_hi) - m->copy_lo;
		/* what the file holds there now; zeros for what it no longer does */
		if (mmap(base + m->copy_lo, m->copy_hi - m->copy_lo, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ||
		    pread(fd, base + m->copy_lo, n, m->copy_lo) < 0) {
			r = -errno;
			goto fail;
		}
	}
	r = m->copy_lo ? mapguard__add(base, m->copy_lo) : -1;
	if (m->copy_lo && r < 0)
		goto fail;
	m->guard[0] = r;
	r = mapguard__add(base + m->copy_hi, m->len - m->copy_hi);
	if (r < 0)
		goto fail;
	m->guard[1] = r;
	m->elf = elf_memory(base, size);
	return 0;
fail:
	mapguard__remove(m->guard[0]);
	munmap(base, m->len);
	*m = (struct file_map){ .guard = { -1, -1 } };
	return r;
}

static void file_map__close(struct file_map *m)
{
	if (!m->base)
		return;
	if (m->elf)
		elf_end(m->elf);
	mapguard__remove(m->guard[0]);
	mapguard__remove(m->guard[1]);
	munmap(m->base, m->len);
	*m = (struct file_map){ .guard = { -1, -1 } };
}

static bool file_map__tripped(const struct file_map *m)
{
	return m->base && (mapguard__tripped(m->guard[0]) || mapguard__tripped(m->guard[1]));
}

/*
 * Let the kernel take back the pages of the mapping we touched: they are file pages, read
 * again on the next access, and otherwise they stay in our RSS for as long as the file is cached.
 * Not the copy of the section headers: that is ours.
 */
static void file_map__drop_pages(const struct file_map *m)
{
	if (!m->base)
		return;
	if (m->copy_lo)
		madvise(m->base, m->copy_lo, MADV_DONTNEED);
	madvise((char *)m->base + m->copy_hi, m->len - m->copy_hi, MADV_DONTNEED);
}

/*
 * Give back the pages of m's mapping wholly inside [done, upto), as a table read front to back
 * is done with them (node's symbol tables are ~10 MB; the peak would hold all of them); never
 * the copied section headers. The new done, to pass the next time. m NULL: not a mapping.
 */
static const char *file_map__drop_behind(const struct file_map *m, const char *done,
					 const char *upto)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const char *base = m ? m->base : NULL;
	size_t lo, hi;

	if (!base || done < base || upto > base + m->len || upto <= done)
		return done;
	lo = ((size_t)(done - base) + page - 1) / page * page;
	hi = (size_t)(upto - base) / page * page;
	/* in steps of at least 256 KB: fewer calls */
	if (hi < lo + (256u << 10))
		return done;
	if (lo < m->copy_lo)
		madvise((char *)base + lo, (hi < m->copy_lo ? hi : m->copy_lo) - lo, MADV_DONTNEED);
	if (hi > m->copy_hi) {
		size_t from = lo > m->copy_hi ? lo : m->copy_hi;

		madvise((char *)base + from, hi - from, MADV_DONTNEED);
	}
	return base + hi;
}

/* Would bytes more fit in the file's budget? */
static bool budget_allows(const struct elf_file *f, size_t bytes)
{
	const struct elf_symbol_budget *b = f->budget;

	return !b || (b->used <= b->max && bytes <= b->max - b->used);
}

static void charge(struct elf_file *f, size_t bytes)
{
	f->charged += bytes;
	if (f->budget)
		f->budget->used += bytes;
}

static void uncharge(struct elf_file *f, size_t bytes)
{
	f->charged -= bytes;
	if (f->budget)
		f->budget->used -= bytes;
}

/* Grow one of the symbol arrays, within the budget: 0, -EDQUOT or -ENOMEM. */
static int grow_charged(struct elf_file *f, void **array, size_t *cap, size_t want, size_t elem)
{
	size_t before = *cap, n = before ? before : 16;

	if (want <= before)
		return 0;
	/* what grow_array() will take, checked before it takes it */
	while (n < want) {
		if (n > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		n *= 2;
	}
	if (!budget_allows(f, (n - before) * elem))
		return -EDQUOT;
	if (grow_array(array, cap, want, elem))
		return -ENOMEM;
	charge(f, (*cap - before) * elem);
	return 0;
}

/* The bytes the symbol arrays hold, charged to the budget. */
static size_t symbol_array_bytes(const struct elf_file *f)
{
	return f->cap_syms * sizeof(*f->syms) + f->names_cap;
}

static void free_symbols(struct elf_file *f)
{
	uncharge(f, symbol_array_bytes(f));
	free(f->syms);
	free(f->names);
	f->syms = NULL;
	f->names = NULL;
	f->nsyms = f->cap_syms = f->names_len = f->names_cap = 0;
}

/* No symbols for this file: they do not fit in the budget. Counted once per file. */
static void refuse_symbols(struct elf_file *f)
{
	free_symbols(f);
	if (!f->syms_refused && !f->temporary && f->budget)
		f->budget->refused++;
	f->syms_refused = true;
}

/* Give the arrays back what they hold beyond the symbols, and the budget with them. */
static void shrink_symbols(struct elf_file *f)
{
	void *p;

	if (!f->nsyms) {
		free_symbols(f);
		return;
	}
	p = realloc(f->syms, f->nsyms * sizeof(*f->syms));
	if (p) {
		uncharge(f, (f->cap_syms - f->nsyms) * sizeof(*f->syms));
		f->syms = p;
		f->cap_syms = f->nsyms;
	}
	p = f->names_len ? realloc(f->names, f->names_len) : NULL;
	if (p) {
		uncharge(f, f->names_cap - f->names_len);
		f->names = p;
		f->names_cap = f->names_len;
	}
}

void elf_file__set_cache_dir(struct elf_file *f, const char *dir,
			     struct dwarf_cache_budget *pending)
{
	f->cache_dir = dir;
	f->cache_pending = pending;
}

void elf_file__set_budget(struct elf_file *f, struct elf_symbol_budget *budget)
{
	size_t held = f->charged;

	/* what is held moves to the new budget */
	uncharge(f, held);
	f->budget = budget;
	charge(f, held);
}

size_t elf_file__symbol_bytes(const struct elf_file *f)
{
	return f->charged;
}

unsigned int elf_file__problems(const struct elf_file *f)
{
	unsigned int problems = 0;

	if (file_map__tripped(&f->own) || file_map__tripped(&f->debug))
		problems |= ELF_WARN_SHRANK;
	if (f->syms_refused)
		problems |= ELF_WARN_BUDGET;
	return problems;
}

void elf_file__free(struct elf_file *f)
{
	if (!f)
		return;
	/* a CFI from dwarf_getcfi() belongs to the Dwarf and goes with it */
	if (f->cfi && f->cfi_owned)
		dwarf_cfi_end(f->cfi);
	if (f->dwarf)
		dwarf_end(f->dwarf);
	/* zeros read from a file that shrank meanwhile are not kept for the next run */
	if (f->lazy && (file_map__tripped(&f->own) || file_map__tripped(&f->debug)))
		dwarf_lazy__forget_cache(f->lazy);
	dwarf_lazy__free(f->lazy);
	hmap__free(f->whole_units);
	gopclntab__free(f->gopclntab);
	file_map__close(&f->debug);
	file_map__close(&f->own);
	free_symbols(f);
	free(f);
}

/* The GNU build-id as hex, found by libdw's dwelf in the notes (segments or sections). */
static void read_build_id(struct elf_file *f, Elf *elf)
{
	const unsigned char *id;
	ssize_t len = dwelf_elf_gnu_build_id(elf, (const void **)&id);

	if (len <= 0 || len > 64)
		return;
	for (ssize_t i = 0; i < len; i++)
		snprintf(f->build_id + 2 * i, 3, "%02x", id[i]);
}

static uint64_t sym_start(const void *s)
{
	return ((const struct elf_sym *)s)->start;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct elf_sym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	/* at one address prefer a global name, then the larger symbol */
	if (x->bind != y->bind)
		return x->bind == STB_GLOBAL ? -1 : y->bind == STB_GLOBAL ? 1 : 0;
	return x->size > y->size ? -1 : x->size < y->size;
}

/* A symbol whose name is, for now, its offset in the string table. */
static int add_symbol(struct elf_file *f, const GElf_Sym *sym)
{
	struct elf_sym *s;
	int err;

	if (f->nsyms >= ELF_MAX_SYMBOLS)
		return -E2BIG;
	err = grow_charged(f, (void **)&f->syms, &f->cap_syms, f->nsyms + 1, sizeof(*s));
	if (err)
		return err;
	s = &f->syms[f->nsyms++];
	s->start = sym->st_value;
	s->size = sym->st_size;
	s->bind = GELF_ST_BIND(sym->st_info);
	s->name = sym->st_name;
	return 0;
}

/* The string table a symbol table names its symbols in. */
struct strtab {
	const char *base;
	size_t size;
	const struct file_map *map; /* the mapping the tables are read from, or NULL */
};

/*
 * The function symbols of a symbol table, named by their offsets in its string table (strs),
 * which the caller names them from once they are one per address.
 */
static int read_symbols(struct elf_file *f, Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh,
			struct strtab *strs)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	Elf_Scn *str_scn = elf_getscn(elf, sh->sh_link);
	Elf_Data *str_data = NULL;
	const char *done, *str_done;
	size_t n, str_high = 0;
	GElf_Shdr str_sh;

	if (str_scn && gelf_getshdr(str_scn, &str_sh) && str_sh.sh_type == SHT_STRTAB &&
	    !(str_sh.sh_flags & SHF_COMPRESSED))
		str_data = elf_getdata(str_scn, NULL);
	if (!data || !sh->sh_entsize || !str_data || !str_data->d_buf || !str_data->d_size)
		return -EBADMSG;
	strs->base = str_data->d_buf;
	strs->size = str_data->d_size;
	n = sh->sh_size / sh->sh_entsize;
	done = data->d_buf;
	str_done = strs->base;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		int type;
		int err;

		if (!gelf_getsym(data, i, &sym))
			return -EBADMSG;
		/*
		 * Both tables are read front to back, the names roughly so (a linker writes them
		 * in the symbols' order): what lies well behind goes back; a page read again is
		 * read from the page cache
		 */
		if (i % 4096 == 4095 && data->d_buf && i * sh->sh_entsize < data->d_size) {
			done = file_map__drop_behind(
			    strs->map, done, (const char *)data->d_buf + i * sh->sh_entsize);
			if (str_high > (1u << 20))
				str_done = file_map__drop_behind(
				    strs->map, str_done, strs->base + str_high - (1u << 20));
		}
		if (sym.st_name < strs->size && sym.st_name > str_high)
			str_high = sym.st_name;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
		    !sym.st_value || !sym.st_name || sym.st_name >= strs->size ||
		    !strs->base[sym.st_name])
			continue;
		err = add_symbol(f, &sym);
		if (err)
			return err;
	}
	return 0;
}

/* A table of 32-bit keys put in order, with their indexes, by radix: linear in the count. */
static int sort_by_key(const uint32_t *key, uint32_t *idx, size_t n)
{
	uint32_t *tmp = malloc(n * sizeof(*tmp));

	if (!tmp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	for (unsigned int shift = 0; shift < 32; shift += 8) {
		size_t count[257] = { 0 };

		for (size_t i = 0; i < n; i++)
			count[((key[idx[i]] >> shift) & 0xff) + 1]++;
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			tmp[count[(key[idx[i]] >> shift) & 0xff]++] = idx[i];
		memcpy(idx, tmp, n * sizeof(*idx));
	}
	free(tmp);
	return 0;
}

/*
 * Name the symbols from the string table their name fields are offsets into, copying each
 * string once: a name that ends another one (many symbols naming the same bytes, or a suffix
 * the linker merged) shares that one's copy, so the names take at most what the table holds
 * (and stay whole when the file's pages are dropped, or the file changes). The strings are
 * visited in the table's order (a radix sort of the offsets), the symbols keep theirs. A
 * symbol whose name does not end inside the table is dropped.
 */
static int name_symbols(struct elf_file *f, const struct strtab *strs)
{
	size_t out = 0, from = 0, to = 0; /* the table's [from, to) was copied last... */
	size_t at = 0; /* ...to names + at */
	const char *done = strs->base;
	uint32_t *key, *idx;
	int err = 0;

	f->names_len = 0;
	if (!f->nsyms)
		return 0;
	if (f->nsyms > UINT32_MAX)
		return -E2BIG;
	key = malloc(f->nsyms * sizeof(*key));
	idx = key ? malloc(f->nsyms * sizeof(*idx)) : NULL;
	if (!idx) {
		free(key);
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->nsyms; i++)
		key[i] = f->syms[i].name;
	err = sort_by_key(key, idx, f->nsyms);
	for (size_t k = 0; k < f->nsyms && !err; k++) {
		struct elf_sym *s = &f->syms[idx[k]];
		size_t off = key[idx[k]], len;

		/* dropped unless named below */
		s->name = UINT32_MAX;
		if (off >= to) {
			len = strnlen(strs->base + off, strs->size - off);
			if (!len || len == strs->size - off)
				continue;
			if (f->names_len + len + 1 > UINT32_MAX - 1) {
				err = -E2BIG;
				break;
			}
			err = grow_charged(f, (void **)&f->names, &f->names_cap,
					   f->names_len + len + 1, 1);
			if (err)
				break;
			memcpy(f->names + f->names_len, strs->base + off, len);
			f->names[f->names_len + len] = 0;
			/* the strings are read in the table's order */
			done = file_map__drop_behind(strs->map, done, strs->base + off);
			from = off;
			to = off + len + 1;
			at = f->names_len;
			f->names_len += len + 1;
		}
		/* the copy is what counts: the file may have changed since it was looked at */
		if (f->names[at + (off - from)])
			s->name = (uint32_t)(at + (off - from));
	}
	free(key);
	free(idx);
	if (err) {
		/* some named, some not: none are kept */
		f->nsyms = 0;
		return err;
	}
	for (size_t i = 0; i < f->nsyms; i++)
		if (f->syms[i].name != UINT32_MAX)
			f->syms[out++] = f->syms[i];
	f->nsyms = out;
	return 0;
}

/* The .gnu_debuglink section: a file name, padding to 4 bytes, a CRC-32 of the debug file. */
static void read_debuglink(struct elf_file *f, Elf_Scn *scn)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	const char *name;
	size_t len, crc_off;

	if (!d || !d->d_buf || d->d_size < 8)
		return;
	name = d->d_buf;
	len = strnlen(name, d->d_size);
	crc_off = (len + 4) & ~(size_t)3;
	if (!len || len >= sizeof(f->debuglink) || crc_off + 4 > d->d_size || strchr(name, '/'))
		return;
	memcpy(f->debuglink, name, len + 1);
	memcpy(&f->debuglink_crc, (const char *)d->d_buf + crc_off, 4);
}

static int read_sections(struct elf_file *f, Elf *elf, const struct file_map *m, bool *ret_dwarf,
			 bool with_symbols);
static void load_symbols(const struct elf_file *cf);

/*
 * A full symbol table read elsewhere (debug file, MiniDebugInfo) replaces the dynamic one; its
 * charge comes with it (from shares the file's budget).
 */
static void take_symbols(struct elf_file *f, struct elf_file *from)
{
	size_t held = symbol_array_bytes(from);

	free_symbols(f);
	f->syms = from->syms;
	f->names = from->names;
	f->nsyms = from->nsyms;
	f->cap_syms = from->cap_syms;
	f->names_len = from->names_len;
	f->names_cap = from->names_cap;
	f->has_symtab = true;
	from->syms = NULL;
	from->names = NULL;
	from->nsyms = from->cap_syms = from->names_len = from->names_cap = 0;
	uncharge(from, held);
	charge(f, held);
}

/* A file read for f (its debug file, its MiniDebugInfo), within f's budget. NULL: no memory. */
static struct elf_file *new_helper(const struct elf_file *f)
{
	struct elf_file *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->budget = f->budget;
	h->temporary = true;
	return h;
}

/* Bound on a decompressed MiniDebugInfo: it holds a symbol table, not the world. */
#define MINIDEBUG_MAX_BYTES (64u << 20)

/*
 * MiniDebugInfo: a stripped file may carry its full symbol table as an xz-compressed ELF in
 * .gnu_debugdata (Fedora does). Read its .symtab when the file itself has none.
 */
static int read_minidebuginfo(struct elf_file *f, Elf_Scn *scn)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	uint64_t memlimit = MINIDEBUG_MAX_BYTES * 2;
	size_t in_pos = 0, out_pos = 0, cap = 1 << 16, held = 0;
	unsigned char *out = NULL;
	lzma_ret lr = LZMA_BUF_ERROR;
	struct elf_file *mini = NULL;
	Elf *elf = NULL;
	bool dwarf;
	int r = -EBADMSG;

	if (!d || !d->d_buf || !d->d_size)
		return -ENOENT;
	/*
	 * Grow the output until the whole stream fits, within the bound and the budget: twice the
	 * output is charged while it is read, for the decoder's dictionary fills as much.
	 */
	while (cap <= MINIDEBUG_MAX_BYTES) {
		unsigned char *n;

		if (!budget_allows(f, 2 * cap - held)) {
			r = -EDQUOT;
			goto out;
		}
		n = realloc(out, cap);
		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		out = n;
		charge(f, 2 * cap - held);
		held = 2 * cap;
		in_pos = out_pos = 0;
		memlimit = MINIDEBUG_MAX_BYTES * 2;
		lr = lzma_stream_buffer_decode(&memlimit, 0, NULL, d->d_buf, &in_pos, d->d_size,
					       out, &out_pos, cap);
		if (lr != LZMA_BUF_ERROR)
			break;
		cap *= 4;
	}
	if (lr != LZMA_OK)
		goto out;
	elf = elf_memory((char *)out, out_pos);
	if (!elf || elf_kind(elf) != ELF_K_ELF)
		goto out;
	mini = new_helper(f);
	if (!mini) {
		r = -ENOMEM;
		goto out;
	}
	mini->in_minidebug = true;
	r = read_sections(mini, elf, NULL, &dwarf, true);
	if (!r && mini->has_symtab)
		take_symbols(f, mini);
out:
	if (elf)
		elf_end(elf);
	elf_file__free(mini);
	free(out);
	uncharge(f, held);
	return r;
}

/* Sorted by address, one symbol per address, named. 0, -EDQUOT, -E2BIG or -ENOMEM. */
static int finish_symbols(struct elf_file *f, const struct strtab *strs)
{
	size_t out = 0;
	int err;

	if (f->nsyms > 1)
		qsort(f->syms, f->nsyms, sizeof(*f->syms), cmp_sym);
	for (size_t i = 0; i < f->nsyms; i++)
		if (!out || f->syms[out - 1].start != f->syms[i].start)
			f->syms[out++] = f->syms[i];
	f->nsyms = out;
	/* named once one per address: the names of the symbols left out are not copied */
	err = name_symbols(f, strs);
	shrink_symbols(f);
	return err;
}

/*
 * Symbols (.symtab, else .dynsym), the debuglink, and whether there is DWARF. Symbols are left
 * sorted, one per address. 0, -ENOMEM, -EDQUOT (the symbols do not fit in the budget: the file
 * has none), or another error kept in f->error.
 */
static int read_sections(struct elf_file *f, Elf *elf, const struct file_map *m, bool *ret_dwarf,
			 bool with_symbols)
{
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL, *minidebug = NULL;
	GElf_Shdr symtab_sh, dynsym_sh;
	struct strtab strs = { .map = m };
	size_t shstrndx = 0;
	int err;

	*ret_dwarf = false;
	elf_getshdrstrndx(elf, &shstrndx);
	while ((scn = elf_nextscn(elf, scn))) {
		const char *sname;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		sname = shstrndx ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		if (sname && !strcmp(sname, ".debug_info") && sh.sh_type != SHT_NOBITS) {
			GElf_Chdr ch;

			*ret_dwarf = true;
			/* units tile the section as libdw sees it: decompressed */
			f->debug_info_size = sh.sh_size;
			if ((sh.sh_flags & SHF_COMPRESSED) && gelf_getchdr(scn, &ch))
				f->debug_info_size = ch.ch_size;
		}
		if (sname && !strcmp(sname, ".gnu_debuglink") && sh.sh_type != SHT_NOBITS)
			read_debuglink(f, scn);
		if (sname && !strcmp(sname, ".gnu_debugdata") && sh.sh_type != SHT_NOBITS)
			minidebug = scn;
		if (sname && !strcmp(sname, ".text"))
			f->text_vaddr = sh.sh_addr;
		if (sname &&
		    (!strcmp(sname, ".note.go.buildid") || !strcmp(sname, ".go.buildinfo")))
			f->is_go = true;
		if (sname && !strcmp(sname, ".data.rel.ro") && sh.sh_type == SHT_PROGBITS) {
			f->relro_off = sh.sh_offset;
			f->relro_size = sh.sh_size;
		}
		/* Go's table; in the relocated read-only data of a position-independent build */
		if (sname && sh.sh_type == SHT_PROGBITS && !(sh.sh_flags & SHF_COMPRESSED) &&
		    (!strcmp(sname, ".gopclntab") || !strcmp(sname, ".data.rel.ro.gopclntab"))) {
			f->gopclntab_off = sh.sh_offset;
			f->gopclntab_size = sh.sh_size;
		}
		if (sname && (!strcmp(sname, ".eh_frame") || !strcmp(sname, ".debug_frame")) &&
		    sh.sh_type != SHT_NOBITS && sh.sh_size)
			f->has_cfi = true;
		if (sh.sh_type == SHT_SYMTAB && !symtab) {
			symtab = scn;
			symtab_sh = sh;
		} else if (sh.sh_type == SHT_DYNSYM && !dynsym) {
			dynsym = scn;
			dynsym_sh = sh;
		}
	}
	if (!with_symbols) {
		/* what there will be, for deciding about debug files before reading any symbol */
		f->has_symtab = (symtab && symtab_sh.sh_type != SHT_NOBITS && symtab_sh.sh_size) ||
				(minidebug && !f->in_minidebug);
		return 0;
	}
	/* .symtab is a superset of .dynsym when present; stripped files keep only .dynsym */
	free_symbols(f);
	err = symtab ? read_symbols(f, elf, symtab, &symtab_sh, &strs) : 0;
	f->has_symtab = symtab && !err && f->nsyms;
	if ((err || !f->nsyms) && err != -EDQUOT && err != -ENOMEM && dynsym) {
		free_symbols(f);
		err = read_symbols(f, elf, dynsym, &dynsym_sh, &strs);
	}
	/* what a corrupt table gave before it ended is kept */
	if (f->nsyms && err != -EDQUOT && err != -ENOMEM) {
		int e = finish_symbols(f, &strs);

		err = e ? e : err;
	}
	if (err == -EBADMSG || err == -E2BIG)
		f->error = err == -E2BIG ? "symbol table too large" : "corrupt symbol table";
	if (err != -EDQUOT && err != -ENOMEM && !f->has_symtab && minidebug && !f->in_minidebug) {
		int e = read_minidebuginfo(f, minidebug);

		if (e == -ENOMEM || e == -EDQUOT)
			err = e;
	}
	if (err == -EDQUOT)
		refuse_symbols(f);
	return err;
}

/* A file cut short or with offsets past its end: said once, what can be read is still read. */
static void check_extent(struct elf_file *f, Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t size, shnum;
	GElf_Ehdr eh;

	if (!elf_rawfile(elf, &size) || !gelf_getehdr(elf, &eh))
		return;
	if (eh.e_shoff && (eh.e_shoff > size || elf_getshdrnum(elf, &shnum) != 0 ||
			   shnum * (uint64_t)eh.e_shentsize > size - eh.e_shoff)) {
		f->error = "section headers past the end of the file";
		return;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS &&
		    (sh.sh_offset > size || sh.sh_size > size - sh.sh_offset)) {
			f->error = "sections past the end of the file (truncated?)";
			return;
		}
	}
}

/* Functions looked at to tell whether a file keeps frame pointers. */
#define FP_SAMPLE_FUNCTIONS 256

/* Does the code at p set up a frame pointer: push %rbp, then mov %rsp,%rbp soon after? */
static bool sets_frame_pointer(const unsigned char *p, size_t n)
{
	static const unsigned char endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };

	if (n >= 4 && !memcmp(p, endbr64, 4)) {
		p += 4;
		n -= 4;
	}
	if (n < 4 || p[0] != 0x55)
		return false;
	/* other instructions may be scheduled between the two (the kernel's vDSO does) */
	for (size_t i = 1; i + 3 <= n && i < 16; i++)
		if (p[i] == 0x48 && p[i + 1] == 0x89 && p[i + 2] == 0xe5)
			return true;
	return false;
}

/*
 * Start-up code the toolchain links into every file (crt1, crti, crtbegin), built without frame
 * pointers whatever the program's flags; it runs before main or at exit, not in hot paths.
 */
static bool is_toolchain_function(const char *name)
{
	static const char *const names[] = {
		"_init",
		"_fini",
		"_start",
		"deregister_tm_clones",
		"register_tm_clones",
		"__do_global_dtors_aux",
		"frame_dummy",
		"_dl_relocate_static_pie",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

/*
 * Look at the first bytes of (a sample of) the functions: code built with frame pointers sets
 * one up in nearly every function. x86-64 only; elsewhere nothing is counted.
 */
static void check_frame_pointers(struct elf_file *f, Elf *elf)
{
	size_t size, step = f->nsyms / FP_SAMPLE_FUNCTIONS + 1;
	const unsigned char *raw = (const unsigned char *)elf_rawfile(elf, &size);
	GElf_Ehdr eh;

	if (!raw || !gelf_getehdr(elf, &eh) || eh.e_machine != EM_X86_64)
		return;
	for (size_t i = 0; i < f->nsyms; i += step) {
		const struct elf_sym *sym = &f->syms[i];

		if (sym->size < 16 || is_toolchain_function(f->names + sym->name))
			continue;
		for (size_t k = 0; k < f->nsegs; k++) {
			const struct elf_segment *seg = &f->segs[k];
			uint64_t off;

			if (!seg->exec || sym->start < seg->vaddr ||
			    sym->start - seg->vaddr >= seg->filesz)
				continue;
			off = sym->start - seg->vaddr + seg->offset;
			if (off >= size)
				break;
			f->fp_checked++;
			f->fp_kept +=
			    sets_frame_pointer(raw + off, size - off < 32 ? size - off : 32);
			break;
		}
	}
}

/* Is symbol i of the dynamic table a defined data symbol named name (in *ret)? */
static bool dynsym_is(Elf_Data *syms, Elf_Data *strs, size_t i, const char *name, GElf_Sym *ret)
{
	const char *s;

	if (!gelf_getsym(syms, (int)i, ret) || GELF_ST_TYPE(ret->st_info) != STT_OBJECT ||
	    ret->st_shndx == SHN_UNDEF || !ret->st_value || ret->st_name >= strs->d_size)
		return false;
	s = (const char *)strs->d_buf + ret->st_name;
	return strnlen(s, strs->d_size - ret->st_name) < strs->d_size - ret->st_name &&
	       !strcmp(s, name);
}

/*
 * Look name up through the GNU hash table (.gnu.hash, what the dynamic loader uses) of the
 * dynamic symbols syms (n of them): a few words read instead of the whole table (node exports
 * 75,000 symbols: 7 MB of table and names). 1 found (*ret), 0 not there, -1 no usable table.
 */
static int gnu_hash_lookup(Elf_Data *hash, unsigned char elf_class, Elf_Data *syms, size_t n,
			   Elf_Data *strs, const char *name, GElf_Sym *ret)
{
	const unsigned char *p = hash->d_buf;
	size_t len = hash->d_size, word = elf_class == ELFCLASS64 ? 8 : 4;
	uint32_t nbuckets, symoffset, bloom_size, shift, h = 5381, bucket;
	uint64_t bloom, bits;
	size_t buckets_at, chain_at;

	if (!p || len < 16)
		return -1;
	memcpy(&nbuckets, p, 4);
	memcpy(&symoffset, p + 4, 4);
	memcpy(&bloom_size, p + 8, 4);
	memcpy(&shift, p + 12, 4);
	if (!nbuckets || !bloom_size || symoffset > n || bloom_size > (len - 16) / word ||
	    nbuckets > (len - 16 - bloom_size * word) / 4)
		return -1;
	buckets_at = 16 + (size_t)bloom_size * word;
	chain_at = buckets_at + (size_t)nbuckets * 4;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = h * 33 + *c;
	/* the bloom filter: two bits of the hash must be set in one word */
	if (word == 8) {
		memcpy(&bloom, p + 16 + (size_t)((h / 64) & (bloom_size - 1)) * 8, 8);
	} else {
		uint32_t w32;

		memcpy(&w32, p + 16 + (size_t)((h / 32) & (bloom_size - 1)) * 4, 4);
		bloom = w32;
	}
	bits = (1ull << (h % (word * 8))) | (1ull << ((h >> (shift & 31)) % (word * 8)));
	if ((bloom & bits) != bits)
		return 0;
	memcpy(&bucket, p + buckets_at + (size_t)(h % nbuckets) * 4, 4);
	if (bucket < symoffset)
		return 0;
	/* the chain: hashes of the symbols in the bucket, the last one's low bit set */
	for (size_t i = bucket; i < n; i++) {
		size_t at = chain_at + (i - symoffset) * 4;
		uint32_t h2;

		if (at > len - 4)
			return -1;
		memcpy(&h2, p + at, 4);
		if ((h2 | 1) == (h | 1) && dynsym_is(syms, strs, i, name, ret))
			return 1;
		if (h2 & 1)
			return 0;
	}
	return -1;
}

/*
 * CPython's exported data: _PyRuntime (every version scorch knows) and Py_Version (3.11+), from
 * the dynamic symbol table, where an interpreter or libpython exports them. Searched once:
 * through the GNU hash table when the file has one, else by reading the whole table.
 */
static void find_python(struct elf_file *f)
{
	Elf *elf = f->own.elf;
	Elf_Scn *scn = NULL, *gnu_hash = NULL;
	GElf_Ehdr eh;
	GElf_Shdr sh;

	f->py_checked = true;
	while (elf && (scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_GNU_HASH && !gnu_hash)
			gnu_hash = scn;
	scn = NULL;
	while (elf && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *data, *strs;
		Elf_Scn *str_scn;
		GElf_Shdr str_sh;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		str_scn = elf_getscn(elf, sh.sh_link);
		if (!data || !str_scn || !gelf_getshdr(str_scn, &str_sh) ||
		    str_sh.sh_type != SHT_STRTAB)
			return;
		strs = elf_getdata(str_scn, NULL);
		if (!strs || !strs->d_buf)
			return;
		n = sh.sh_size / sh.sh_entsize;
		if (gnu_hash && gelf_getshdr(gnu_hash, &str_sh) &&
		    str_sh.sh_link == elf_ndxscn(scn) && gelf_getehdr(elf, &eh)) {
			Elf_Data *hd = elf_getdata(gnu_hash, NULL);
			GElf_Sym sym;
			int r = hd ? gnu_hash_lookup(hd, eh.e_ident[EI_CLASS], data, n, strs,
						     "_PyRuntime", &sym)
				   : -1;

			if (r == 1)
				f->py_runtime = sym.st_value;
			if (r == 1 &&
			    gnu_hash_lookup(hd, eh.e_ident[EI_CLASS], data, n, strs, "Py_Version",
					    &sym) == 1 &&
			    sym.st_size >= 4)
				f->py_version = sym.st_value;
			if (r >= 0)
				return;
		}
		for (size_t i = 0; i < n && i < ELF_MAX_SYMBOLS; i++) {
			const char *name;
			GElf_Sym sym;

			if (!gelf_getsym(data, i, &sym))
				return;
			if (GELF_ST_TYPE(sym.st_info) != STT_OBJECT || sym.st_shndx == SHN_UNDEF ||
			    !sym.st_value || sym.st_name >= strs->d_size)
				continue;
			name = (const char *)strs->d_buf + sym.st_name;
			if (strnlen(name, strs->d_size - sym.st_name) == strs->d_size - sym.st_name)
				continue;
			if (!strcmp(name, "_PyRuntime"))
				f->py_runtime = sym.st_value;
			else if (!strcmp(name, "Py_Version") && sym.st_size >= 4)
				f->py_version = sym.st_value;
		}
		return;
	}
}

int elf_file__python(const struct elf_file *cf, uint64_t *ret_runtime, uint64_t *ret_version)
{
	struct elf_file *f = (struct elf_file *)cf; /* lazily filled: logically const */

	if (!f->py_checked)
		find_python(f);
	/* zeros read from a file that shrank meanwhile: nothing found */
	if (file_map__tripped(&f->own) || !f->py_runtime)
		return -ENOENT;
	*ret_runtime = f->py_runtime;
	*ret_version = f->py_version;
	return 0;
}

bool elf_file__keeps_frame_pointers(const struct elf_file *f)
{
	load_symbols(f);
	/* a few hand-written or frameless functions are allowed for, not more */
	return f->fp_checked >= 1 && (uint64_t)f->fp_kept * 10 >= (uint64_t)f->fp_checked * 9;
}

/* Did the file under elf (one of f's mappings) shrink: is what is read from it now zeros? */
static bool shrank_under(const struct elf_file *f, const Elf *elf)
{
	return elf && ((elf == f->own.elf && file_map__tripped(&f->own)) ||
		       (elf == f->debug.elf && file_map__tripped(&f->debug)));
}

struct Dwarf_CFI_s *elf_file__cfi(struct elf_file *f)
{
	if (!f->cfi_tried) {
		f->cfi_tried = true;
		if (f->cfi_elf)
			f->cfi = dwarf_getcfi_elf(f->cfi_elf);
		f->cfi_owned = f->cfi != NULL;
		/* no .eh_frame: .debug_frame, found through the DWARF (Go binaries carry only it) */
		if (!f->cfi && elf_file__dwarf(f))
			f->cfi = dwarf_getcfi(f->dwarf);
	}
	/* nothing more is read from a file that shrank: what it held is gone */
	if (shrank_under(f, f->cfi_owned ? f->cfi_elf : f->elf))
		return NULL;
	return f->cfi;
}

bool elf_file__is_entry(const struct elf_file *f, uint64_t vaddr)
{
	/* the entry code calls on within its first few instructions (glibc's: 3 bytes in) */
	return f->entry && vaddr >= f->entry && vaddr < f->entry + 32;
}

void elf_file__release_pages(struct elf_file *f)
{
	/* both mappings are read-only and private, never written: their pages are clean */
	file_map__drop_pages(&f->own);
	file_map__drop_pages(&f->debug);
}

/*
 * Symbols are read on first use: a snapshot maps every file of a process (a Python server maps
 * a hundred), most never sampled. The frame-pointer judgement needs them and comes with them.
 */
static void load_symbols(const struct elf_file *cf)
{
	struct elf_file *f = (struct elf_file *)cf; /* lazily filled: logically const */
	bool dwarf;

	if (f->syms_loaded || !f->own.elf)
		return;
	f->syms_loaded = true;
	if (read_sections(f, f->own.elf, &f->own, &dwarf, true) == -ENOMEM)
		f->error = "out of memory reading symbols";
	check_frame_pointers(f, f->own.elf);
	/*
	 * The symbol tables' pages are read once (node's: 10 MB): drop them now, also when the
	 * DWARF is this mapping's (what of it is read later comes back from the page cache).
	 */
	file_map__drop_pages(&f->own);
}

int elf_build_id_of_fd(int fd, char *ret, size_t size)
{
	const unsigned char *id;
	struct file_map m;
	ssize_t len;
	int r = -ENOENT;

	elf_version(EV_CURRENT);
	if (file_map__open(&m, fd) || !m.elf) {
		file_map__close(&m);
		return -EBADMSG;
	}
	len = dwelf_elf_gnu_build_id(m.elf, (const void **)&id);
	if (len > 0 && (size_t)len * 2 < size) {
		for (ssize_t i = 0; i < len; i++)
			snprintf(ret + 2 * i, 3, "%02x", id[i]);
		r = 0;
	}
	/* zeros read from a file that shrank meanwhile are no build-id */
	if (file_map__tripped(&m))
		r = -ESTALE;
	file_map__close(&m);
	return r;
}

/* Why a file could not be mapped, for elf_file__error(). */
static const char *map_error(int err)
{
	switch (err) {
	case -EBADMSG:
		return "not an ELF file";
	case -E2BIG:
		return "too many sections";
	case -ENOSPC:
		return "too many files mapped at once";
	case -ENOMEM:
		return "out of memory mapping the file";
	default:
		return "cannot map the file";
	}
}

struct elf_file *elf_file__read(int fd)
{
	struct elf_file *f = calloc(1, sizeof(*f));
	bool has_debug_info = false;
	size_t nph;
	Elf *elf;
	int err;

	if (!f)
		return NULL;
	f->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	elf_version(EV_CURRENT);
	/*
	 * The file stays mapped, without its descriptor: symbols, DWARF and the call frame
	 * information are read from it when first needed.
	 */
	err = file_map__open(&f->own, fd);
	if (err) {
		f->error = map_error(err);
		return f;
	}
	elf = f->own.elf;
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		f->error = "not an ELF file";
		file_map__close(&f->own);
		return f;
	}
	if (elf_getphdrnum(elf, &nph) != 0) {
		f->error = "corrupt program headers";
		file_map__close(&f->own);
		return f;
	}
	for (size_t i = 0; i < nph && f->nsegs < ELF_MAX_SEGMENTS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph))
			continue;
		if (ph.p_type == PT_LOAD)
			f->segs[f->nsegs++] = (struct elf_segment){ .offset = ph.p_offset,
								    .vaddr = ph.p_vaddr,
								    .filesz = ph.p_filesz,
								    .exec = ph.p_flags & PF_X };
	}
	read_build_id(f, elf);
	check_extent(f, elf);
	err = read_sections(f, elf, NULL, &has_debug_info, false);
	if (err == -ENOMEM) {
		elf_file__free(f);
		return NULL;
	}
	{
		GElf_Ehdr eh;

		if (gelf_getehdr(elf, &eh))
			f->entry = eh.e_entry;
	}
	if (has_debug_info)
		f->elf = elf;
	if (f->has_cfi)
		f->cfi_elf = elf;
	file_map__drop_pages(&f->own);
	return f;
}

const char *elf_file__debuglink(const struct elf_file *f, uint32_t *ret_crc)
{
	if (!f->debuglink[0])
		return NULL;
	if (ret_crc)
		*ret_crc = f->debuglink_crc;
	return f->debuglink;
}

bool elf_file__has_symtab(const struct elf_file *f)
{
	return f->has_symtab;
}

int elf_file__add_debug_file(struct elf_file *f, int fd, bool with_dwarf)
{
	struct elf_file *d = new_helper(f);
	bool dwarf = false, gain;
	struct file_map m = { .guard = { -1, -1 } };
	int r = -ENOENT, err;

	if (!d)
		return -ENOMEM;
	err = file_map__open(&m, fd);
	if (err == -ENOMEM)
		r = err;
	if (err || !m.elf || elf_kind(m.elf) != ELF_K_ELF)
		goto out;
	read_build_id(d, m.elf);
	/* a debug file for another build would name everything wrong */
	if (f->build_id[0] && d->build_id[0] && strcmp(f->build_id, d->build_id))
		goto out;
	err = read_sections(d, m.elf, &m, &dwarf, true);
	if (err == -ENOMEM) {
		r = -ENOMEM;
		goto out;
	}
	/* its symbols over the budget: the file keeps bare addresses, as if it were over it */
	if (err == -EDQUOT && !f->has_symtab) {
		refuse_symbols(f);
		f->syms_loaded = true;
	}
	dwarf = dwarf && with_dwarf;
	gain = (d->has_symtab && !f->has_symtab) || (dwarf && !f->elf);
	if (!gain)
		goto out;
	if (d->has_symtab && !f->has_symtab) {
		take_symbols(f, d);
		/* the file's own symbols are not needed any more; its code is judged with these */
		f->syms_loaded = true;
		if (f->own.elf) {
			check_frame_pointers(f, f->own.elf);
			if (f->elf != f->own.elf)
				file_map__drop_pages(&f->own);
		}
	}
	if (dwarf && !f->elf) {
		f->debug = m;
		f->elf = m.elf;
		f->debug_info_size = d->debug_info_size;
		file_map__drop_pages(&f->debug);
		m = (struct file_map){ .guard = { -1, -1 } };
	}
	r = 0;
out:
	file_map__close(&m);
	elf_file__free(d);
	return r;
}

bool elf_file__has_dwarf(const struct elf_file *f)
{
	return f->elf && !shrank_under(f, f->elf);
}

/* libdw opening a file whole inflates all its debug sections: at most this much of them */
#define DWARF_WHOLE_MAX (1ull << 30)

/* The size of the debug sections once inflated, as their headers say. */
static uint64_t debug_sections_size(Elf *elf)
{
	Elf_Scn *scn = NULL;
	uint64_t total = 0;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;
		uint64_t size;
		GElf_Shdr sh;
		GElf_Chdr ch;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS ||
		    !(name = elf_strptr(elf, shstrndx, sh.sh_name)))
			continue;
		size = sh.sh_size;
		if (!strncmp(name, ".debug_", 7) && (sh.sh_flags & SHF_COMPRESSED)) {
			size = gelf_getchdr(scn, &ch) ? ch.ch_size : UINT64_MAX;
		} else if (!strncmp(name, ".zdebug_", 8)) {
			/* GNU's form: "ZLIB" and the size, 8 bytes big-endian */
			Elf_Data *d = elf_rawdata(scn, NULL);
			const unsigned char *p = d ? d->d_buf : NULL;

			size = UINT64_MAX;
			if (p && d->d_size >= 12 && !memcmp(p, "ZLIB", 4)) {
				size = 0;
				for (int i = 4; i < 12; i++)
					size = size << 8 | p[i];
			}
		} else if (strncmp(name, ".debug_", 7)) {
			continue;
		}
		total = size > UINT64_MAX - total ? UINT64_MAX : total + size;
	}
	return total;
}

struct Dwarf *elf_file__dwarf(struct elf_file *f)
{
	Dwarf_Off off = 0, next;
	Dwarf_Half version;
	size_t hsize;
	int r = 1;

	if (shrank_under(f, f->elf))
		return NULL;
	if (!f->dwarf_tried && f->elf) {
		f->dwarf_tried = true;
		f->dwarf_too_large = debug_sections_size(f->elf) > DWARF_WHOLE_MAX;
		if (f->dwarf_too_large)
			return NULL;
		f->dwarf = dwarf_begin_elf(f->elf, DWARF_C_READ, NULL);
		/*
		 * Walk the unit headers once: garbage in .debug_info shows here (a version that does
		 * not exist, units that do not tile the section), rather than as names quietly missing.
		 */
		while (f->dwarf && (r = dwarf_next_unit(f->dwarf, off, &next, &hsize, &version,
							NULL, NULL, NULL, NULL, NULL)) == 0) {
			if (version < 2 || version > 5 || next <= off) {
				r = -1;
				break;
			}
			off = next;
		}
		if (f->dwarf && (r < 0 || off != f->debug_info_size)) {
			dwarf_end(f->dwarf);
			f->dwarf = NULL;
		}
	}
	return f->dwarf;
}

/* Rows of line programs one file opened whole may hold (~64 bytes each in libdw) */
#define DWARF_WHOLE_ROWS_MAX (1u << 20)

/* The first look at unit cu of the whole DWARF: its lines parsed, within the file's budget. */
static int whole_unit_lines(struct elf_file *f, Dwarf *dw, Dwarf_Die *cu, Dwarf_Off off)
{
	Dwarf_Lines *lines;
	size_t n = 0;
	uint64_t len;
	int r = dwarf_line_program_check(dw, cu, &len);

	if (r)
		return r;
	/* the program is a row per byte at most: refused before libdw parses it */
	if (f->whole_rows + len > DWARF_WHOLE_ROWS_MAX)
		return -EFBIG;
	if (len && dwarf_getsrclines(cu, &lines, &n))
		n = 0;
	f->whole_rows += n;
	return hmap__put(f->whole_units, &off, sizeof(off), (void *)1) ? -ENOMEM : 0;
}

int elf_file__dwarf_at(struct elf_file *f, uint64_t vaddr, struct Dwarf **ret)
{
	int r;

	*ret = NULL;
	if (!f->elf || shrank_under(f, f->elf))
		return 0;
	if (!f->lazy_tried) {
		f->lazy_tried = true;
		const struct file_map *m = f->elf == f->debug.elf ? &f->debug : &f->own;
		struct dwarf_lazy_cache c = { f->cache_dir, m->key, f->cache_pending };

		/*
		 * kept between runs only for files on a block device: an anonymous device number
		 * (FUSE, overlayfs, tmpfs) goes to the next mount once freed, and a FUSE daemon
		 * chooses its inodes and times, so its entry could come to name another file
		 */
		bool keep = f->cache_dir && major(m->key.dev) != 0;

		f->lazy = dwarf_lazy__open(f->elf, keep ? &c : NULL, &f->lazy_err);
	}
	if (f->lazy) {
		r = dwarf_lazy__at(f->lazy, vaddr, ret);
	} else if (f->lazy_err != -ENOENT) {
		r = f->lazy_err;
	} else {
		Dwarf_Die cu;

		*ret = elf_file__dwarf(f);
		r = *ret ? 0 : f->dwarf_too_large ? -EFBIG : -EBADMSG;
		/*
		 * The lines libdw keeps: a line program too large for the memory budget, or more
		 * rows than the file may hold in all, and this unit is read without DWARF.
		 */
		if (*ret && dwarf_addrdie(*ret, vaddr, &cu)) {
			Dwarf_Off off = dwarf_dieoffset(&cu);

			if (!f->whole_units && !(f->whole_units = hmap__new()))
				r = -ENOMEM;
			else if (!hmap__get(f->whole_units, &off, sizeof(off)))
				r = whole_unit_lines(f, *ret, &cu, off);
			if (r)
				*ret = NULL;
		}
	}
	/* what was read from a file that shrank meanwhile is zeros: no answer, not a corrupt one */
	if (shrank_under(f, f->elf)) {
		*ret = NULL;
		return 0;
	}
	return r;
}

bool elf_file__dwarf_stats(const struct elf_file *f, struct dwarf_lazy_stats *ret)
{
	if (!f || !f->lazy)
		return false;
	dwarf_lazy__stats(f->lazy, ret);
	return true;
}

const char *elf_file__error(const struct elf_file *f)
{
	return f->error;
}

const char *elf_file__build_id(const struct elf_file *f)
{
	return f->build_id;
}

size_t elf_file__nsymbols(const struct elf_file *f)
{
	load_symbols(f);
	return f->nsyms;
}

int elf_file__offset_to_vaddr(const struct elf_file *f, uint64_t offset, uint64_t *ret_vaddr)
{
	/* prefer the executable segment: text is what samples hit */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < f->nsegs; i++) {
			const struct elf_segment *s = &f->segs[i];

			if (pass == 0 && !s->exec)
				continue;
			if (offset >= s->offset && offset - s->offset < s->filesz) {
				*ret_vaddr = offset - s->offset + s->vaddr;
				return 0;
			}
		}
	return -ENOENT;
}

int elf_file__exec_range(const struct elf_file *f, uint64_t *ret_lo, uint64_t *ret_hi)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (size_t i = 0; i < f->nsegs; i++) {
		const struct elf_segment *s = &f->segs[i];

		if (!s->exec || s->vaddr + s->filesz < s->vaddr)
			continue;
		lo = s->vaddr < lo ? s->vaddr : lo;
		hi = s->vaddr + s->filesz > hi ? s->vaddr + s->filesz : hi;
	}
	if (lo >= hi)
		return -ENOENT;
	*ret_lo = lo;
	*ret_hi = hi;
	return 0;
}

/*
 * A position-independent Go binary linked by the system linker (cgo) has no .gopclntab
 * section: the table is inside .data.rel.ro, found by its header (magic, two zero bytes,
 * instruction quantum 1, pointer size 8) at an 8-byte boundary, and taken when it reads.
 */
static void find_gopclntab(struct elf_file *f, const char *raw, size_t size)
{
	static const uint8_t sig[2][8] = { { 0xf0, 0xff, 0xff, 0xff, 0, 0, 1, 8 },
					   { 0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8 } };
	uint64_t end;

	if (!f->is_go || !f->relro_size || f->relro_off > size ||
	    f->relro_size > size - f->relro_off)
		return;
	end = f->relro_off + f->relro_size;
	for (uint64_t off = f->relro_off; off + 8 <= end; off += 8)
		if ((!memcmp(raw + off, sig[0], 8) || !memcmp(raw + off, sig[1], 8)) &&
		    gopclntab__open(raw + off, end - off, f->text_vaddr, &f->gopclntab) == 0)
			return;
}

const struct gopclntab *elf_file__gopclntab(const struct elf_file *cf)
{
	struct elf_file *f = (struct elf_file *)cf; /* lazily opened: logically const */
	size_t size;
	const char *raw;

	/* most files are no Go: that is known without a look at the mapping (cheap per frame) */
	if (f->gopclntab_tried && !f->gopclntab)
		return NULL;
	if (shrank_under(f, f->own.elf))
		return NULL;
	if (f->gopclntab_tried)
		return f->gopclntab;
	f->gopclntab_tried = true;
	raw = f->own.elf ? elf_rawfile(f->own.elf, &size) : NULL;
	if (!raw)
		return NULL;
	if (!f->gopclntab_size)
		find_gopclntab(f, raw, size);
	else if (f->gopclntab_off <= size && f->gopclntab_size <= size - f->gopclntab_off &&
		 gopclntab__open(raw + f->gopclntab_off, f->gopclntab_size, f->text_vaddr,
				 &f->gopclntab) != 0)
		f->gopclntab = NULL;
	return f->gopclntab;
}

int elf_file__symbol(const struct elf_file *f, uint64_t vaddr, const char **ret_name,
		     uint64_t *ret_start)
{
	const struct gopclntab *go;
	struct go_func fn;
	const struct elf_sym *s;
	size_t lo;

	load_symbols(f);
	/*
	 * Go code is named as Go's runtime names it (runtime/pprof, tracebacks), from its own
	 * table: also when stripped, and without the linker's ABI suffixes (runtime.goexit.abi0)
	 */
	go = elf_file__gopclntab(f);
	if (go && gopclntab__func(go, vaddr, &fn) == 0) {
		*ret_name = fn.name;
		if (ret_start)
			*ret_start = fn.entry;
		return 0;
	}
	lo = upper_bound(f->syms, f->nsyms, sizeof(*f->syms), vaddr, sym_start);
	if (!lo)
		return -ENOENT;
	/*
	 * The nearest symbol at or below vaddr; when it does not reach vaddr, a larger one that
	 * starts a little earlier may (a small symbol nested in a function).
	 */
	for (size_t i = lo, tries = 0; i-- > 0 && tries < 8; tries++) {
		s = &f->syms[i];
		/* a symbol without a size reaches only up to the next one */
		if (s->size ? vaddr - s->start < s->size
			    : i == lo - 1 && (i + 1 < f->nsyms || vaddr == s->start))
			goto found;
	}
	return -ENOENT;
found:
	*ret_name = f->names + s->name;
	if (ret_start)
		*ret_start = s->start;
	return 0;
}
