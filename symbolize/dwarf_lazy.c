// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <dwarf.h>
#include <elfutils/libdw.h>

#include "dwarf_cache.h"
#include "dwarf_lazy.h"
#include "fileio.h"
#include "util.h"

/* deflate's window: a stream resumes at a block boundary given the 32 KB before it */
#define ZWIN 32768u
/* Checkpoints at least this far apart, and at most ZCHECK_MAX of them for a section. */
#define ZSPAN_MIN (256u << 10)
#define ZCHECK_MAX 32u
/* The sections all units share are inflated whole; past this in all, the file is refused. */
#define SHARED_MAX (256ull << 20)
/* One unit, or one abbreviation table, larger than this is refused as corrupt. */
#define UNIT_MAX (64u << 20)
/* A cursor's ring and zlib's inflate state (its own window and tables) */
#define ZCURSOR_BYTES (ZWIN + 7168u + ZWIN)
/* Units kept open at once; the oldest goes first. All go when they hold more than this. */
#define UNITS_KEPT 128u
#define UNITS_BYTES_MAX (32u << 20)
/* A sliced section inflating to more than this is refused (a deflate bomb costs CPU). */
#define SLICED_MAX (1ull << 30)
/* Address ranges read from .debug_aranges, at most */
#define ARANGES_MAX (4u << 20)
/*
 * Going back over inflated bytes to reach a read costs at most a span and a deflate block;
 * zlib's blocks produce at most ~17 MB (64 Ki symbols of 258 bytes). A stream needing more
 * has no usable block boundaries (one block for everything) and is not read in pieces.
 */
#define REWORK_SLACK (32u << 20)
/* libdw keeps a row of a line program in ~64 bytes */
#define LINE_ROW_BYTES 64u

/* A point where inflating can resume: output offset, input offset, pending bits, window. */
struct zcheck {
	uint64_t out;
	size_t in;
	int bits;
	unsigned char *window; /* the ZWIN bytes before out; NULL at the start */
};

/* A section read in pieces: plain bytes, or a raw deflate stream with checkpoints. */
struct zsec {
	const unsigned char *in;
	size_t in_len;
	uint64_t size; /* of the section's contents */
	bool deflated;
	struct zcheck *ck; /* sorted by out; ck[0] is the start */
	size_t nck;
	uint64_t span;
	uint64_t inflated; /* bytes produced, all reads together */
	uint64_t high; /* the furthest output offset ever reached */
	bool refused; /* its blocks are too large to go back into: no more reads */
	/* inflated in an earlier run (dwarf_cache.h): [0, pre_len), its stream resumes there */
	const unsigned char *pre;
	uint64_t pre_len, from_cache;
	const struct dwarf_cache *cache;
	/* what this run inflated past pre_len, in one piece: [pre_len, tee_end) in tee_fd */
	int tee_fd;
	uint64_t tee_end;
	struct dwarf_cache_budget *pending; /* charged for [pre_len, tee_end) */
	/* the cursor: the stream where the last read stopped, its last ZWIN bytes in ring */
	bool live;
	z_stream s;
	unsigned char *ring;
	size_t head; /* next byte of ring to fill */
	uint64_t pos, start; /* output offset of the cursor, and where it last resumed */
};

struct arange {
	uint64_t lo, hi; /* [lo, hi) */
	uint64_t unit; /* offset of its unit in .debug_info */
	unsigned int addr_size;
};

struct unit {
	uint64_t off;
	bool bad;
	Elf *elf;
	Dwarf *dw;
	unsigned char *info, *abbrev, *aranges;
	size_t bytes;
};

/* Sections all units share, as the ELF of each unit names them. */
enum shared_sec {
	SH_LINE,
	SH_LINE_STR,
	SH_STR,
	SH_STR_OFFSETS,
	SH_ADDR,
	SH_RANGES,
	SH_RNGLISTS,
	SH_MAX,
};

static const char *const shared_names[SH_MAX] = {
	[SH_LINE] = ".debug_line",	   [SH_LINE_STR] = ".debug_line_str",
	[SH_STR] = ".debug_str",	   [SH_STR_OFFSETS] = ".debug_str_offsets",
	[SH_ADDR] = ".debug_addr",	   [SH_RANGES] = ".debug_ranges",
	[SH_RNGLISTS] = ".debug_rnglists",
};

/* A section inflated whole: by libelf, or from the cache */
struct whole_sec {
	void *buf;
	size_t size;
	bool cached;
};

/* Where each section sits in a cache entry */
enum cache_slot {
	C_INFO,
	C_ABBREV,
	C_SHARED, /* then the SH_MAX shared sections */
	C_ARANGES = C_SHARED + SH_MAX,
	C_MAX,
};
_Static_assert(C_MAX == DWARF_CACHE_SECS, "the cache's sections");

struct dwarf_lazy {
	Elf *elf;
	unsigned char ident_class, ident_data;
	GElf_Half machine;
	struct zsec info, abbrev;
	struct whole_sec shared[SH_MAX], aranges;
	/* the entry read from the cache, and what is needed to write a new one */
	struct dwarf_cache cache;
	char *cache_dir;
	struct dwarf_cache_key key;
	uint64_t zlen[C_MAX]; /* each compressed section's bytes in the file */
	struct arange *ar;
	size_t nar;
	struct unit units[UNITS_KEPT];
	size_t nunits, next_evict;
	uint64_t cached_units; /* units read (again) whose bytes came from the cache */
	bool complete; /* opened: a reader that failed to open writes no entry */
	size_t bytes, shared_bytes; /* all held; of that, the shared sections and address map */
	uint64_t opened;
};

/* ---- sections read in pieces ---- */

/* Close the file of what this run inflated past the cache's bytes: none of them are kept. */
static void zsec__drop_tee(struct zsec *z)
{
	if (z->tee_fd >= 0)
		close(z->tee_fd);
	if (z->pending) {
		z->pending->used -= z->tee_end - z->pre_len;
		z->pending->files--;
	}
	z->tee_fd = -1;
	z->pending = NULL;
	z->tee_end = z->pre_len;
}

static void zsec__free(struct zsec *z)
{
	zsec__drop_tee(z);
	if (z->ring) {
		inflateEnd(&z->s);
		free(z->ring);
	}
	for (size_t i = 0; i < z->nck; i++)
		free(z->ck[i].window);
	free(z->ck);
	*z = (struct zsec){ .tee_fd = -1 };
}

/*
 * Start from what an earlier run inflated, when the cache entry's section cs is this one's
 * (same compressed length and size) with a point to resume at: the stream's start, or a block
 * boundary past a window. Then keep what this run inflates past it in an unnamed file of
 * tee_dir.
 */
static void zsec__use_cache(struct zsec *z, const struct dwarf_cache *c, int slot, uint64_t zlen,
			    const char *tee_dir, struct dwarf_cache_budget *pending)
{
	const struct dwarf_cache_sec *cs = &c->sec[slot];
	const unsigned char *pre = dwarf_cache__bytes(c, slot);

	if (pre && cs->zlen == zlen && cs->size == z->size && cs->in <= z->in_len && cs->have &&
	    cs->resume <= cs->have &&
	    ((!cs->resume && !cs->in && !cs->bits) || (cs->resume >= ZWIN && cs->in))) {
		unsigned char *w = cs->resume ? malloc(ZWIN) : NULL;

		if (w || !cs->resume) {
			if (w)
				memcpy(w, pre + cs->resume - ZWIN, ZWIN);
			z->ck[0] = (struct zcheck){
				.out = cs->resume, .in = cs->in, .bits = (int)cs->bits, .window = w
			};
			z->pre = pre;
			z->pre_len = z->high = z->tee_end = cs->have;
			z->cache = c;
		}
	}
	if (tee_dir && pending && z->pre_len < z->size &&
	    pending->files < DWARF_CACHE_PENDING_FILES) {
		z->tee_fd = open(tee_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		z->pending = z->tee_fd >= 0 ? pending : NULL;
		if (z->pending)
			pending->files++;
	}
}

/*
 * The section's contents as the file has them: plain, or an ELF compression header and then a
 * zlib stream, whose deflate data is read from checkpoints. -ENOENT: not a form read here.
 */
static int zsec__init(struct zsec *z, Elf_Scn *scn, unsigned char elf_class)
{
	Elf_Data *raw = elf_rawdata(scn, NULL);
	size_t hdr = elf_class == ELFCLASS32 ? sizeof(Elf32_Chdr) : sizeof(Elf64_Chdr);
	const unsigned char *p;
	GElf_Shdr sh;
	GElf_Chdr ch;

	*z = (struct zsec){ .tee_fd = -1 };
	if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS || !raw || !raw->d_buf)
		return -ENOENT;
	if (!(sh.sh_flags & SHF_COMPRESSED)) {
		z->in = raw->d_buf;
		z->in_len = z->size = raw->d_size;
		return 0;
	}
	if (!gelf_getchdr(scn, &ch) || ch.ch_type != ELFCOMPRESS_ZLIB || raw->d_size < hdr + 2 ||
	    raw->d_size - hdr > UINT32_MAX)
		return -ENOENT;
	/* the zlib header (RFC 1950): deflate, no preset dictionary, its check sum right */
	p = (const unsigned char *)raw->d_buf + hdr;
	if ((p[0] & 0x0f) != 8 || (p[0] >> 4) > 7 || (p[1] & 0x20) || ((p[0] << 8) | p[1]) % 31)
		return -EBADMSG;
	if (ch.ch_size > SLICED_MAX)
		return -EFBIG;
	z->in = p + 2;
	z->in_len = raw->d_size - hdr - 2;
	z->size = ch.ch_size;
	z->deflated = true;
	z->span = z->size / ZCHECK_MAX > ZSPAN_MIN ? z->size / ZCHECK_MAX + 1 : ZSPAN_MIN;
	z->ck = calloc(1, sizeof(*z->ck));
	if (!z->ck)
		return -ENOMEM;
	z->nck = 1;
	return 0;
}

static uint64_t zcheck_out(const void *e)
{
	return ((const struct zcheck *)e)->out;
}

/* Remember where the stream stands (a block boundary): window is the ring, newest at head. */
static void zsec__checkpoint(struct zsec *z, uint64_t out, size_t in, int bits,
			     const unsigned char *ring, size_t head)
{
	struct zcheck *ck;
	unsigned char *w;

	if (z->nck > ZCHECK_MAX || out < z->ck[z->nck - 1].out + z->span)
		return;
	w = malloc(ZWIN);
	ck = w ? realloc(z->ck, (z->nck + 1) * sizeof(*z->ck)) : NULL;
	if (!ck) {
		free(w); /* no checkpoint: slower, not wrong */
		return;
	}
	z->ck = ck;
	memcpy(w, ring + head, ZWIN - head);
	memcpy(w + ZWIN - head, ring, head);
	z->ck[z->nck++] = (struct zcheck){ .out = out, .in = in, .bits = bits, .window = w };
}

/* Start inflating at the checkpoint c: the cursor is at c->out. */
static int zsec__resume(struct zsec *z, const struct zcheck *c)
{
	if (c->in > z->in_len || (c->bits && !c->in))
		return -EBADMSG;
	if (!z->ring) {
		z->ring = malloc(ZWIN);
		if (!z->ring || inflateInit2(&z->s, -15) != Z_OK) {
			free(z->ring);
			z->ring = NULL;
			return -ENOMEM;
		}
	} else if (inflateReset(&z->s) != Z_OK) {
		return -EBADMSG;
	}
	if (c->bits)
		inflatePrime(&z->s, c->bits, z->in[c->in - 1] >> (8 - c->bits));
	if (c->window)
		inflateSetDictionary(&z->s, c->window, ZWIN);
	z->s.next_in = (unsigned char *)z->in + c->in;
	z->s.avail_in = (uInt)(z->in_len - c->in);
	z->pos = z->start = c->out;
	z->head = 0;
	z->live = true;
	return 0;
}

/*
 * Copy [off, off + len) of the section into buf: 0, -EBADMSG (outside it, corrupt), -ENOMEM.
 * A deflated section is inflated from the cursor where the last read stopped when that is
 * at or before off and no checkpoint is nearer, else from the last checkpoint before off.
 */
static int zsec__read(struct zsec *z, uint64_t off, void *buf, size_t len)
{
	const struct zcheck *c;
	uint64_t end = off + len;
	int r = 0, zr;

	if (off > z->size || len > z->size - off)
		return -EBADMSG;
	if (!z->deflated) {
		memcpy(buf, z->in + off, len);
		return 0;
	}
	if (off < z->pre_len) {
		size_t n = z->pre_len - off < len ? (size_t)(z->pre_len - off) : len;

		memcpy(buf, z->pre + off, n);
		if (dwarf_cache__tripped(z->cache))
			return -EIO;
		z->from_cache += n;
		if (n == len)
			return 0;
		buf = (unsigned char *)buf + n;
		off += n;
		len -= n;
	}
	if (z->refused)
		return -EFBIG;
	c = &z->ck[upper_bound(z->ck, z->nck, sizeof(*z->ck), off, zcheck_out) - 1];
	if (!z->live || z->pos > off || c->out > z->pos) {
		/* what is inflated a second time to get there, bounded */
		uint64_t again = (end < z->high ? end : z->high) - c->out;

		if (z->high > c->out && again > z->span + REWORK_SLACK) {
			z->refused = true;
			z->live = false;
			return -EFBIG;
		}
		r = zsec__resume(z, c);
		if (r)
			return r;
	}
	while (z->pos < end) {
		uint64_t lo, hi, got;
		uInt room;

		if (z->head == ZWIN)
			z->head = 0;
		z->s.next_out = z->ring + z->head;
		/* no further than asked: the next read may start right there */
		room =
		    end - z->pos < ZWIN - z->head ? (uInt)(end - z->pos) : (uInt)(ZWIN - z->head);
		z->s.avail_out = room;
		zr = inflate(&z->s, Z_BLOCK);
		got = room - z->s.avail_out;
		lo = z->pos > off ? z->pos : off;
		hi = z->pos + got < end ? z->pos + got : end;
		if (lo < hi)
			memcpy((unsigned char *)buf + (lo - off), z->ring + z->head + (lo - z->pos),
			       hi - lo);
		/*
		 * new bytes right after those kept for the cache: kept too, as long as an entry
		 * could hold them and the readers' budget allows
		 */
		if (z->tee_fd >= 0 && z->pos <= z->tee_end && z->pos + got > z->tee_end &&
		    z->tee_end + (got - (z->tee_end - z->pos)) <= DWARF_CACHE_ENTRY_MAX &&
		    z->pending->used + got <= DWARF_CACHE_PENDING_MAX) {
			uint64_t skip = z->tee_end - z->pos;

			if (pwrite(z->tee_fd, z->ring + z->head + skip, got - skip,
				   (off_t)(z->tee_end - z->pre_len)) == (ssize_t)(got - skip)) {
				z->tee_end += got - skip;
				z->pending->used += got - skip;
			} else {
				/* nothing of this run is kept, the cache's bytes still are */
				zsec__drop_tee(z);
			}
		}
		z->pos += got;
		z->head += got;
		z->inflated += got;
		if (z->pos > z->high)
			z->high = z->pos;
		if (z->pos > z->size || zr == Z_NEED_DICT || zr == Z_DATA_ERROR ||
		    zr == Z_MEM_ERROR || zr == Z_STREAM_ERROR ||
		    (zr == Z_STREAM_END && z->pos < end) || (zr == Z_BUF_ERROR && !got)) {
			r = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
			z->live = false;
			break;
		}
		/* at the end of a block that is not the last, past a whole window since resuming */
		if ((z->s.data_type & 128) && !(z->s.data_type & 64) && z->pos - z->start >= ZWIN)
			zsec__checkpoint(z, z->pos, (size_t)(z->s.next_in - z->in),
					 z->s.data_type & 7, z->ring, z->head);
	}
	return r;
}

/* ---- the address map ---- */

static uint64_t read_uint(const unsigned char *p, unsigned int n, bool swap)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[swap ? n - 1 - i : i] << (8 * i);
	return v;
}

static uint64_t arange_lo(const void *e)
{
	return ((const struct arange *)e)->lo;
}

static int cmp_arange(const void *a, const void *b)
{
	const struct arange *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* .debug_aranges: sets of (address, length) tuples, each naming its unit. */
static int parse_aranges(struct dwarf_lazy *dl, const unsigned char *p, size_t size, bool swap)
{
	size_t pos = 0, cap = 0;

	while (pos < size) {
		uint64_t len, unit;
		unsigned int off_size = 4, addr_size, seg;
		size_t set = pos, set_end, tuple;

		if (size - pos < 4)
			return -EBADMSG;
		len = read_uint(p + pos, 4, swap);
		pos += 4;
		if (len == 0xffffffff) {
			if (size - pos < 8)
				return -EBADMSG;
			len = read_uint(p + pos, 8, swap);
			pos += 8;
			off_size = 8;
		}
		if (len > size - pos || len < 2 + off_size + 2)
			return -EBADMSG;
		set_end = pos + len;
		if (read_uint(p + pos, 2, swap) != 2)
			return -EBADMSG;
		unit = read_uint(p + pos + 2, off_size, swap);
		addr_size = p[pos + 2 + off_size];
		seg = p[pos + 3 + off_size];
		if ((addr_size != 4 && addr_size != 8) || seg)
			return -EBADMSG;
		tuple = 2 * addr_size;
		pos += 4 + off_size;
		/* the tuples start at a multiple of their size from the set's start */
		pos = set + (pos - set + tuple - 1) / tuple * tuple;
		for (; pos + tuple <= set_end; pos += tuple) {
			uint64_t lo = read_uint(p + pos, addr_size, swap);
			uint64_t n = read_uint(p + pos + addr_size, addr_size, swap);

			if (!lo && !n)
				break;
			if (!n || lo + n < lo)
				continue;
			if (dl->nar >= ARANGES_MAX)
				return -EFBIG;
			if (grow_array((void **)&dl->ar, &cap, dl->nar + 1, sizeof(*dl->ar)))
				return -ENOMEM;
			dl->ar[dl->nar++] = (struct arange){ lo, lo + n, unit, addr_size };
		}
		pos = set_end;
	}
	if (!dl->nar)
		return -ENOENT;
	qsort(dl->ar, dl->nar, sizeof(*dl->ar), cmp_arange);
	dl->bytes += cap * sizeof(*dl->ar);
	return 0;
}

/* The size of a section once inflated: 0, or -ENOENT for a compression not read here. */
static int section_size(Elf_Scn *scn, uint64_t *ret)
{
	GElf_Shdr sh;
	GElf_Chdr ch;

	*ret = 0;
	if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
		return 0;
	*ret = sh.sh_size;
	if (sh.sh_flags & SHF_COMPRESSED) {
		if (!gelf_getchdr(scn, &ch) || ch.ch_type != ELFCOMPRESS_ZLIB)
			return -ENOENT;
		*ret = ch.ch_size;
	}
	return 0;
}

/* The bytes of a compressed section in the file (its header included); 0: not compressed. */
static uint64_t compressed_len(Elf_Scn *scn)
{
	GElf_Shdr sh;

	return gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS && (sh.sh_flags & SHF_COMPRESSED)
		   ? sh.sh_size
		   : 0;
}

/*
 * A section all units share, inflated once: taken from the cache entry when it holds all of
 * it, else by libelf, as libdw itself would.
 */
static int load_shared(struct dwarf_lazy *dl, Elf_Scn *scn, int slot, struct whole_sec *ret)
{
	const struct dwarf_cache_sec *cs = &dl->cache.sec[slot];
	const unsigned char *cached = dwarf_cache__bytes(&dl->cache, slot);
	GElf_Shdr sh;
	GElf_Chdr ch;
	Elf_Data *d;

	if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
		return 0;
	dl->zlen[slot] = compressed_len(scn);
	if (dl->zlen[slot] && cached && cs->zlen == dl->zlen[slot] && gelf_getchdr(scn, &ch) &&
	    cs->size == ch.ch_size && cs->have == cs->size && cs->size) {
		*ret = (struct whole_sec){ (void *)cached, cs->size, true };
		return 0;
	}
	if ((sh.sh_flags & SHF_COMPRESSED) && elf_compress(scn, 0, 0) < 0)
		return -EBADMSG;
	d = elf_getdata(scn, NULL);
	if (d && d->d_buf && d->d_size)
		*ret = (struct whole_sec){ d->d_buf, d->d_size, false };
	return 0;
}

/* dir and dir/dwarf, ours alone (the second's path in sub): 0 or -errno. */
static int ensure_cache_dirs(const char *dir, char *sub, size_t size)
{
	int n = snprintf(sub, size, "%s/dwarf", dir);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (ensure_private_dir(dir) || ensure_private_dir(sub))
		return -EPERM;
	return 0;
}

static bool swapped(unsigned char data)
{
	static const uint16_t one = 1;

	return (data == ELFDATA2LSB) != (*(const unsigned char *)&one == 1);
}

struct dwarf_lazy *dwarf_lazy__open(Elf *elf, const struct dwarf_lazy_cache *cache, int *ret_err)
{
	struct dwarf_lazy *dl = calloc(1, sizeof(*dl));
	Elf_Scn *scn = NULL, *info = NULL, *abbrev = NULL, *aranges = NULL;
	Elf_Scn *shared[SH_MAX + 1] = { NULL };
	char tee_dir[4096];
	uint64_t total = 0;
	size_t shstrndx;
	GElf_Ehdr eh;
	int r = -ENOENT;

	if (!dl) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	dl->elf = elf;
	dl->info.tee_fd = dl->abbrev.tee_fd = -1;
	dl->cache = (struct dwarf_cache){ .guard = -1 };
	if (!gelf_getehdr(elf, &eh) || elf_getshdrstrndx(elf, &shstrndx))
		goto fail;
	dl->ident_class = eh.e_ident[EI_CLASS];
	dl->ident_data = eh.e_ident[EI_DATA];
	dl->machine = eh.e_machine;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)))
			continue;
		/* GNU's .zdebug_ form and split units: libdw reads those whole */
		if (!strncmp(name, ".zdebug_", 8) ||
		    (strstr(name, ".dwo") && !strncmp(name, ".debug_", 7)))
			goto fail;
		if (!strcmp(name, ".debug_info"))
			info = scn;
		else if (!strcmp(name, ".debug_abbrev"))
			abbrev = scn;
		else if (!strcmp(name, ".debug_aranges"))
			aranges = scn;
		else if (!strcmp(name, ".debug_types"))
			goto fail;
		for (int i = 0; i < SH_MAX; i++) {
			if (strcmp(name, shared_names[i]))
				continue;
			if (shared[i]) {
				r = -EBADMSG;
				goto fail;
			}
			shared[i] = scn;
		}
	}
	if (!info || !abbrev || !aranges)
		goto fail;
	/* all that is inflated whole, within one budget: more is refused, not read by libdw */
	shared[SH_MAX] = aranges;
	for (int i = 0; i <= SH_MAX; i++) {
		uint64_t size;

		if (!shared[i])
			continue;
		r = section_size(shared[i], &size);
		if (r)
			goto fail;
		if (size > SHARED_MAX - total) {
			r = -EFBIG;
			goto fail;
		}
		total += size;
	}
	/* what earlier runs inflated, for files with compressed sections */
	tee_dir[0] = 0;
	if (cache && cache->dir && (compressed_len(info) || compressed_len(abbrev))) {
		dl->cache_dir = strdup(cache->dir);
		dl->key = cache->key;
		if (dl->cache_dir)
			dwarf_cache__load(dl->cache_dir, &dl->key, &dl->cache);
		if (dl->cache_dir && ensure_cache_dirs(dl->cache_dir, tee_dir, sizeof(tee_dir))) {
			free(dl->cache_dir);
			dl->cache_dir = NULL;
		}
	}
	for (int i = 0; i < SH_MAX && !r; i++)
		if (shared[i])
			r = load_shared(dl, shared[i], C_SHARED + i, &dl->shared[i]);
	if (!r)
		r = load_shared(dl, aranges, C_ARANGES, &dl->aranges);
	if (r || !dl->aranges.buf) {
		r = r ? r : -ENOENT;
		goto fail;
	}
	r = parse_aranges(dl, dl->aranges.buf, dl->aranges.size, swapped(dl->ident_data));
	if (!r && dwarf_cache__tripped(&dl->cache))
		r = -EIO;
	if (r)
		goto fail;
	r = zsec__init(&dl->info, info, dl->ident_class);
	if (!r)
		r = zsec__init(&dl->abbrev, abbrev, dl->ident_class);
	if (r)
		goto fail;
	dl->zlen[C_INFO] = compressed_len(info);
	dl->zlen[C_ABBREV] = compressed_len(abbrev);
	if (dl->info.deflated)
		zsec__use_cache(&dl->info, &dl->cache, C_INFO, dl->zlen[C_INFO],
				dl->cache_dir ? tee_dir : NULL, cache ? cache->pending : NULL);
	if (dl->abbrev.deflated)
		zsec__use_cache(&dl->abbrev, &dl->cache, C_ABBREV, dl->zlen[C_ABBREV],
				dl->cache_dir ? tee_dir : NULL, cache ? cache->pending : NULL);
	for (int i = 0; i < SH_MAX; i++)
		dl->bytes += dl->shared[i].size;
	dl->complete = true;
	dl->shared_bytes = dl->bytes;
	*ret_err = 0;
	return dl;
fail:
	dwarf_lazy__free(dl);
	*ret_err = r;
	return NULL;
}

/* ---- units ---- */

static void unit__close(struct dwarf_lazy *dl, struct unit *u)
{
	if (u->dw)
		dwarf_end(u->dw);
	if (u->elf)
		elf_end(u->elf);
	free(u->info);
	free(u->abbrev);
	free(u->aranges);
	dl->bytes -= u->bytes;
	*u = (struct unit){ 0 };
}

/* ---- the cache of what was inflated ---- */

/* Bytes past what the cache held before a new entry is worth writing */
#define CACHE_GROWTH_MIN (64u << 10)

/*
 * What a sliced section's entry can hold: every byte kept so far (the cache's and this run's),
 * and the last checkpoint among them to resume at. Fills in s; true when that is more than the
 * cache held.
 */
static bool zsec__cacheable(const struct zsec *z, uint64_t zlen, struct dwarf_cache_sec *s)
{
	if (!zlen || !z->deflated) {
		*s = (struct dwarf_cache_sec){ 0 };
		return false;
	}
	*s = (struct dwarf_cache_sec){ .zlen = zlen, .size = z->size, .have = z->tee_end };
	for (size_t i = z->nck; i-- > 0;) {
		const struct zcheck *c = &z->ck[i];

		if (c->out <= z->tee_end && (c->window || !c->out)) {
			s->resume = c->out;
			s->in = c->in;
			s->bits = (uint32_t)c->bits;
			break;
		}
	}
	return s->have > z->pre_len;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct save_ctx {
	struct dwarf_lazy *dl;
	const struct dwarf_cache_sec *sec;
};

/* Section i of a new cache entry: the old entry's bytes, then this run's, or the whole one. */
static int emit_section(void *ctx, int i, int fd)
{
	struct save_ctx *sc = ctx;
	struct dwarf_lazy *dl = sc->dl;
	const struct zsec *z = i == C_INFO ? &dl->info : i == C_ABBREV ? &dl->abbrev : NULL;
	uint64_t have = sc->sec[i].have, pos;
	unsigned char buf[65536];
	int r;

	if (!z) {
		const struct whole_sec *w =
		    i == C_ARANGES ? &dl->aranges : &dl->shared[i - C_SHARED];

		r = write_all(fd, w->buf, have);
		return !r && dwarf_cache__tripped(&dl->cache) ? -EIO : r;
	}
	pos = have < z->pre_len ? have : z->pre_len;
	r = pos ? write_all(fd, z->pre, pos) : 0;
	if (!r && dwarf_cache__tripped(&dl->cache))
		r = -EIO;
	while (!r && pos < have) {
		size_t n = have - pos < sizeof(buf) ? (size_t)(have - pos) : sizeof(buf);
		ssize_t got = pread(z->tee_fd, buf, n, (off_t)(pos - z->pre_len));

		if (got != (ssize_t)n)
			return got < 0 ? -errno : -EIO;
		r = write_all(fd, buf, n);
		pos += n;
	}
	return r;
}

/*
 * Write a new entry when this run inflated a span or more past what the cache held, or when
 * the shared sections came from libelf. Failing to is not an error: the next run inflates.
 */
static void save_cache(struct dwarf_lazy *dl)
{
	struct dwarf_cache_sec sec[C_MAX] = { 0 };
	struct save_ctx sc = { dl, sec };
	uint64_t grown = 0;

	if (!dl->cache_dir || dwarf_cache__tripped(&dl->cache))
		return;
	if (zsec__cacheable(&dl->info, dl->zlen[C_INFO], &sec[C_INFO]))
		grown += sec[C_INFO].have - dl->info.pre_len;
	if (zsec__cacheable(&dl->abbrev, dl->zlen[C_ABBREV], &sec[C_ABBREV]))
		grown += sec[C_ABBREV].have - dl->abbrev.pre_len;
	for (int i = 0; i < SH_MAX + 1; i++) {
		const struct whole_sec *w = i == SH_MAX ? &dl->aranges : &dl->shared[i];

		if (!dl->zlen[C_SHARED + i] || !w->buf)
			continue;
		sec[C_SHARED + i] = (struct dwarf_cache_sec){ .zlen = dl->zlen[C_SHARED + i],
							      .size = w->size,
							      .have = w->size };
		if (!w->cached)
			grown += w->size;
	}
	/* a new entry for 64 KB or more of new bytes: small files are not worth an entry */
	if (grown >= CACHE_GROWTH_MIN)
		dwarf_cache__save(dl->cache_dir, &dl->key, sec, emit_section, &sc);
}

void dwarf_lazy__forget_cache(struct dwarf_lazy *dl)
{
	free(dl->cache_dir);
	dl->cache_dir = NULL;
}

void dwarf_lazy__free(struct dwarf_lazy *dl)
{
	if (!dl)
		return;
	if (dl->complete)
		save_cache(dl);
	for (size_t i = 0; i < dl->nunits; i++)
		unit__close(dl, &dl->units[i]);
	zsec__free(&dl->info);
	zsec__free(&dl->abbrev);
	dwarf_cache__close(&dl->cache);
	free(dl->cache_dir);
	free(dl->ar);
	free(dl);
}

static uint64_t read_uleb(const unsigned char *p, size_t size, size_t *pos, bool *ok)
{
	uint64_t v = 0;

	for (unsigned int shift = 0; *pos < size; shift += 7) {
		unsigned char b = p[(*pos)++];

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	*ok = false;
	return 0;
}

/*
 * The extent of the abbreviation table at off: declarations (code, tag, children, then
 * attribute and form pairs up to 0, 0; an implicit constant adds a value) up to code 0.
 * Read in growing pieces. 0 and *ret_len, or -EBADMSG, -ENOMEM.
 */
static int read_abbrev(struct zsec *z, uint64_t off, unsigned char **ret, size_t *ret_len)
{
	size_t want = 4096, have = 0;

	*ret = NULL;
	while (off < z->size) {
		size_t n = z->size - off < want ? (size_t)(z->size - off) : want, pos = 0;
		unsigned char *buf = realloc(*ret, n);
		bool ok = true;
		int r;

		if (!buf)
			return -ENOMEM;
		*ret = buf;
		/* what was read already stays: the cursor goes on from there */
		r = zsec__read(z, off + have, buf + have, n - have);
		if (r)
			return r;
		have = n;
		while (ok && pos < n) {
			if (!read_uleb(buf, n, &pos, &ok)) {
				if (ok) {
					/* held at its length, not the last piece's */
					unsigned char *fit = realloc(buf, pos ? pos : 1);

					if (fit)
						*ret = fit;
					*ret_len = pos;
					return 0;
				}
				break;
			}
			read_uleb(buf, n, &pos, &ok); /* tag */
			pos++; /* children */
			while (ok && pos <= n) {
				uint64_t name = read_uleb(buf, n, &pos, &ok);
				uint64_t form = read_uleb(buf, n, &pos, &ok);

				if (form == DW_FORM_implicit_const)
					read_uleb(buf, n, &pos,
						  &ok); /* its value: the length is the same */
				if (!name && !form)
					break;
			}
		}
		if (n == z->size - off || want >= UNIT_MAX)
			return -EBADMSG;
		want *= 4;
	}
	return -EBADMSG;
}

static void write_uint(unsigned char *p, unsigned int n, uint64_t v, bool swap)
{
	for (unsigned int i = 0; i < n; i++)
		p[swap ? n - 1 - i : i] = (unsigned char)(v >> (8 * i));
}

/* An .debug_aranges holding the unit's own ranges, the unit at offset 0. */
static unsigned char *unit_aranges(const struct dwarf_lazy *dl, uint64_t unit, bool swap,
				   size_t *ret_len)
{
	unsigned int as = 8;
	size_t n = 0, len, pos, head;
	unsigned char *p;

	for (size_t i = 0; i < dl->nar; i++)
		if (dl->ar[i].unit == unit) {
			n++;
			as = dl->ar[i].addr_size;
		}
	/* 4 length, 2 version, 4 unit offset, 1 address size, 1 segment size: 12, then padding */
	head = (12 + 2 * as - 1) / (2 * as) * (2 * as);
	len = head + (n + 1) * 2 * as;
	p = calloc(1, len);
	if (!p)
		return NULL;
	write_uint(p, 4, len - 4, swap);
	write_uint(p + 4, 2, 2, swap);
	p[10] = (unsigned char)as;
	pos = head;
	for (size_t i = 0; i < dl->nar; i++) {
		if (dl->ar[i].unit != unit)
			continue;
		write_uint(p + pos, as, dl->ar[i].lo, swap);
		write_uint(p + pos + as, as, dl->ar[i].hi - dl->ar[i].lo, swap);
		pos += 2 * as;
	}
	*ret_len = len;
	return p;
}

static int add_section(Elf *e, size_t name_off, void *buf, size_t size, GElf_Word type)
{
	Elf_Scn *scn = elf_newscn(e);
	Elf_Data *d = scn ? elf_newdata(scn) : NULL;
	GElf_Shdr sh;

	if (!d || !gelf_getshdr(scn, &sh))
		return -ENOMEM;
	d->d_buf = buf;
	d->d_size = size;
	d->d_type = ELF_T_BYTE;
	d->d_align = 1;
	d->d_version = EV_CURRENT;
	sh.sh_name = name_off;
	sh.sh_type = type;
	sh.sh_size = size;
	sh.sh_addralign = 1;
	return gelf_update_shdr(scn, &sh) ? 0 : -ENOMEM;
}

/* The units' section names: the unit's own three, the shared ones, the name table's own. */
static const char unit_names[] = "\0.debug_info\0.debug_abbrev\0.debug_aranges\0.debug_line\0"
				 ".debug_line_str\0.debug_str\0.debug_str_offsets\0.debug_addr\0"
				 ".debug_ranges\0.debug_rnglists\0.shstrtab";

/*
 * An ELF in memory for one unit: its own .debug_info, .debug_abbrev and .debug_aranges, the
 * shared sections pointing at the file's; then libdw opened on it. Nothing is ever written.
 */
static int unit__elf(struct dwarf_lazy *dl, struct unit *u, size_t info_len, size_t abbrev_len,
		     size_t aranges_len)
{
	void *bufs[3] = { u->info, u->abbrev, u->aranges };
	size_t lens[3] = { info_len, abbrev_len, aranges_len };
	size_t name_off[3 + SH_MAX + 1], pos = 1, nscn;
	int fd, r = 0;
	GElf_Ehdr eh;

	/* the names in unit_names come in the order of the sections below */
	for (int i = 0; i < 3 + SH_MAX + 1; i++) {
		name_off[i] = pos;
		pos += strlen(unit_names + pos) + 1;
	}
	/* libelf wants a descriptor for a new ELF (never written through), libdw a directory */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	u->elf = elf_begin(fd, ELF_C_WRITE, NULL);
	if (!u->elf || !gelf_newehdr(u->elf, dl->ident_class) || !gelf_getehdr(u->elf, &eh)) {
		r = -ENOMEM;
		goto out;
	}
	eh.e_ident[EI_DATA] = dl->ident_data;
	eh.e_type = ET_REL;
	eh.e_machine = dl->machine;
	eh.e_version = EV_CURRENT;
	for (int i = 0; i < 3 && !r; i++)
		r = add_section(u->elf, name_off[i], bufs[i], lens[i], SHT_PROGBITS);
	for (int i = 0; i < SH_MAX && !r; i++)
		if (dl->shared[i].buf)
			r = add_section(u->elf, name_off[3 + i], dl->shared[i].buf,
					dl->shared[i].size, SHT_PROGBITS);
	if (!r)
		r = add_section(u->elf, name_off[3 + SH_MAX], (void *)unit_names,
				sizeof(unit_names), SHT_STRTAB);
	/* the name table is the last section */
	if (!r && (elf_getshdrnum(u->elf, &nscn) || !nscn))
		r = -ENOMEM;
	if (r)
		goto out;
	eh.e_shstrndx = (GElf_Half)(nscn - 1);
	if (!gelf_update_ehdr(u->elf, &eh)) {
		r = -ENOMEM;
		goto out;
	}
	u->dw = dwarf_begin_elf(u->elf, DWARF_C_READ, NULL);
	if (!u->dw)
		r = -EBADMSG;
out:
	close(fd);
	return r;
}

/* Read the unit at off out of the file and open it. */
static int unit__open(struct dwarf_lazy *dl, struct unit *u, uint64_t off)
{
	uint64_t cached;
	bool swap = swapped(dl->ident_data);
	unsigned char hdr[24];
	size_t hlen = 4, info_len, abbrev_len = 0, aranges_len = 0, abbrev_at, cu_hsize;
	uint64_t len, abbrev_off;
	Dwarf_Lines *lines;
	size_t nlines = 0;
	Dwarf_Off next;
	Dwarf_Die cu;
	unsigned int off_size = 4, version;
	int r;

	u->off = off;
	r = zsec__read(&dl->info, off, hdr, 4);
	if (r)
		return r;
	len = read_uint(hdr, 4, swap);
	if (len == 0xffffffff) {
		r = zsec__read(&dl->info, off + 4, hdr + 4, 8);
		if (r)
			return r;
		len = read_uint(hdr + 4, 8, swap);
		hlen = 12;
		off_size = 8;
	} else if (len >= 0xfffffff0) {
		return -EBADMSG;
	}
	if (len > UNIT_MAX || len < 2 + 1 + off_size || len > dl->info.size - off - hlen)
		return -EBADMSG;
	info_len = hlen + (size_t)len;
	u->info = malloc(info_len);
	if (!u->info)
		return -ENOMEM;
	memcpy(u->info, hdr, hlen);
	cached = dl->info.from_cache;
	r = zsec__read(&dl->info, off + hlen, u->info + hlen, info_len - hlen);
	if (r)
		return r;
	dl->cached_units += dl->info.from_cache > cached;
	version = (unsigned int)read_uint(u->info + hlen, 2, swap);
	if (version < 2 || version > 5)
		return -EBADMSG;
	if (version == 5) {
		/* unit type, address size, abbreviation offset: a full compilation unit only */
		if (u->info[hlen + 2] != DW_UT_compile || len < 2 + 2 + off_size)
			return -EBADMSG;
		abbrev_at = hlen + 4;
	} else {
		abbrev_at = hlen + 2;
	}
	abbrev_off = read_uint(u->info + abbrev_at, off_size, swap);
	r = read_abbrev(&dl->abbrev, abbrev_off, &u->abbrev, &abbrev_len);
	if (r)
		return r;
	/* in the unit's own ELF its table is the whole .debug_abbrev */
	write_uint(u->info + abbrev_at, off_size, 0, swap);
	u->aranges = unit_aranges(dl, off, swap, &aranges_len);
	if (!u->aranges)
		return -ENOMEM;
	u->bytes = info_len + abbrev_len + aranges_len;
	dl->bytes += u->bytes;
	r = unit__elf(dl, u, info_len, abbrev_len, aranges_len);
	if (r)
		return r;
	/*
	 * Its lines: every unit's libdw parses the program its unit names, even one that other
	 * units name too. One too large is refused before that; the rows parsed are counted.
	 */
	if (dwarf_nextcu(u->dw, 0, &next, &cu_hsize, NULL, NULL, NULL) ||
	    !dwarf_offdie(u->dw, cu_hsize, &cu))
		return -EBADMSG;
	r = dwarf_line_program_check(u->dw, &cu, &len);
	if (r)
		return r;
	if (len && dwarf_getsrclines(&cu, &lines, &nlines))
		nlines = 0; /* no lines: the callers' lookups find none either */
	u->bytes += nlines * LINE_ROW_BYTES;
	dl->bytes += nlines * LINE_ROW_BYTES;
	return 0;
}

int dwarf_lazy__at(struct dwarf_lazy *dl, uint64_t vaddr, Dwarf **ret)
{
	size_t i = upper_bound(dl->ar, dl->nar, sizeof(*dl->ar), vaddr, arange_lo);
	struct unit *u;
	uint64_t off;
	int r;

	*ret = NULL;
	if (!i || vaddr >= dl->ar[i - 1].hi)
		return 0;
	off = dl->ar[i - 1].unit;
	for (size_t k = 0; k < dl->nunits; k++) {
		if (dl->units[k].off != off)
			continue;
		if (dl->units[k].bad)
			return -EBADMSG;
		*ret = dl->units[k].dw;
		return 0;
	}
	if (dl->nunits < UNITS_KEPT) {
		u = &dl->units[dl->nunits++];
	} else {
		u = &dl->units[dl->next_evict];
		dl->next_evict = (dl->next_evict + 1) % UNITS_KEPT;
		unit__close(dl, u);
	}
	dl->opened++;
	r = unit__open(dl, u, off);
	if (r) {
		unit__close(dl, u);
		u->off = off;
		u->bad = true;
		return r;
	}
	/* past the budget, the others go (this one may be large: its lines count at their most) */
	if (dl->bytes - dl->shared_bytes > UNITS_BYTES_MAX) {
		struct unit keep = *u;

		*u = (struct unit){ 0 };
		for (size_t k = 0; k < dl->nunits; k++)
			unit__close(dl, &dl->units[k]);
		dl->units[0] = keep;
		dl->nunits = 1;
		dl->next_evict = 0;
		u = &dl->units[0];
	}
	*ret = u->dw;
	return 0;
}

/* The size of the line program at off in .debug_line, its header included; 0: none there. */
static uint64_t line_program_len(const Elf_Data *line, uint64_t off, bool swap)
{
	const unsigned char *p;
	uint64_t len, hlen = 4, room;

	if (!line || !line->d_buf || off >= line->d_size || line->d_size - off < 4)
		return 0;
	p = (const unsigned char *)line->d_buf + off;
	room = line->d_size - off;
	len = read_uint(p, 4, swap);
	if (len == 0xffffffff) {
		if (room < 12)
			return 0;
		len = read_uint(p + 4, 8, swap);
		hlen = 12;
	}
	/* libdw reads no further than the section */
	return len > room - hlen ? room : hlen + len;
}

int dwarf_line_program_check(Dwarf *dw, Dwarf_Die *cu, uint64_t *ret_len)
{
	Elf *elf = dwarf_getelf(dw);
	Elf_Scn *scn = NULL;
	Dwarf_Attribute a;
	Dwarf_Word off;
	size_t shstrndx;
	GElf_Ehdr eh;

	*ret_len = 0;
	/* none, or an offset libdw refuses (outside .debug_line): libdw reads no lines there */
	if (!dwarf_attr(cu, DW_AT_stmt_list, &a) || dwarf_formudata(&a, &off))
		return 0;
	if (!elf || !gelf_getehdr(elf, &eh) || elf_getshdrstrndx(elf, &shstrndx))
		return -EBADMSG;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
		    strcmp(name, ".debug_line"))
			continue;
		/* libdw has inflated it in place already */
		*ret_len =
		    line_program_len(elf_getdata(scn, NULL), off, swapped(eh.e_ident[EI_DATA]));
		break;
	}
	return *ret_len > DWARF_LINE_PROGRAM_MAX ? -EFBIG : 0;
}

void dwarf_lazy__stats(const struct dwarf_lazy *dl, struct dwarf_lazy_stats *ret)
{
	*ret = (struct dwarf_lazy_stats){
		.bytes = dl->bytes +
			 (dl->info.nck + dl->abbrev.nck) * (ZWIN + sizeof(struct zcheck)) +
			 ((dl->info.ring != NULL) + (dl->abbrev.ring != NULL)) * ZCURSOR_BYTES,
		.inflated = dl->info.inflated + dl->abbrev.inflated,
		.from_cache = dl->info.from_cache + dl->abbrev.from_cache,
		.cached_units = dl->cached_units,
		.opened = dl->opened,
	};
}
