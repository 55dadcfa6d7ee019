// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Separate debug files for the symbolizer: by build-id and .gnu_debuglink where scorch trusts
 * them (the host's /usr/lib/debug, --debug-dir) or inside a process's own root (scoped to it),
 * debuglinks checked by build-id or CRC; and those fetched from debuginfod servers.
 */
#include "symbolizer-internal.h"
#include "dlib.h"
#include "util.h"

#include <elf.h>
#include <elfutils/debuginfod.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* The largest file a debuglink's CRC-32 is computed over. */
#define DEBUGLINK_CRC_MAX (1ULL << 30)

/* CRC-32 of the first size bytes of fd (what fstat said when it was opened). */
static uint32_t file_crc32(int fd, uint64_t size)
{
	unsigned char buf[65536];
	uLong crc = crc32(0, NULL, 0);
	uint64_t off = 0;
	ssize_t n;

	while (off < size &&
	       (n = pread(fd, buf, size - off < sizeof(buf) ? size - off : sizeof(buf), off)) > 0) {
		crc = crc32(crc, buf, n);
		off += n;
	}
	return crc;
}

/*
 * Is the file a debuglink names the one it was made for? When both carry a build-id, they must
 * match, and that is enough. Otherwise its CRC-32 must, but a CRC reads the whole file: only
 * for an ELF file no larger than a debug file of a binary of bin_size plausibly is (a hostile
 * sparse file would keep the CRC, and the capture, busy for seconds).
 */
static bool debuglink_matches(struct elf_file *e, int fd, const struct stat *st, uint32_t crc,
			      uint64_t bin_size)
{
	const char *bid = elf_file__build_id(e);
	uint64_t max = 16 * bin_size + (64ULL << 20);
	char magic[4], cand[2 * 64 + 1];

	if (pread(fd, magic, sizeof(magic), 0) != sizeof(magic) || memcmp(magic, ELFMAG, SELFMAG))
		return false;
	if (bid[0] && elf_build_id_of_fd(fd, cand, sizeof(cand)) == 0)
		return !strcmp(bid, cand);
	if ((uint64_t)st->st_size > max || (uint64_t)st->st_size > DEBUGLINK_CRC_MAX)
		return false;
	return file_crc32(fd, st->st_size) == crc;
}

/*
 * Use the debug file at path if it exists, matches (CRC when given) and brings something: in
 * the process's root (rootfd, and then it must be a file the process could read), or, with
 * rootfd < 0, where scorch looks itself (the host's /usr/lib/debug, --debug-dir).
 */
static bool try_debug_file(struct symbolizer *s, struct elf_file *e, int rootfd,
			   const struct sym_process *p, const char *path, const uint32_t *crc,
			   uint64_t bin_size)
{
	struct proc_open_opts o = opts_for(p, PROC_FILE_DEBUG);
	_cleanup_close_ int fd = -1;
	struct stat st;

	o.creds = p ? &p->creds : NULL;
	fd = rootfd >= 0 ? proc_file__open_at(rootfd, path, &o, &st)
			 : proc_file__open(path, PROC_FILE_DEBUG, &st);
	if (fd < 0)
		return false;
	if ((crc && !debuglink_matches(e, fd, &st, *crc, bin_size)) ||
	    elf_file__add_debug_file(e, fd, s->opts.debug_file_dwarf))
		return false;
	s->stats.debug_files++;
	return true;
}

/* A .gnu_debuglink names a file, never a path: anything else is refused. */
static bool valid_debuglink(const char *link)
{
	return link[0] && !strchr(link, '/') && strcmp(link, ".") && strcmp(link, "..");
}

/*
 * Separate debug info, found as gdb finds it: by build-id under .build-id/, then by the
 * .gnu_debuglink name beside the file, in its .debug/ and under the debug root. First where
 * scorch looks itself (the host's /usr/lib/debug: never beside a path of the process in our
 * root, which is not its file; then each --debug-dir), then in the process's own root (resolved
 * inside it, only what the process could read), which says where it was found.
 */
enum debug_found sym_find_debug_file(struct symbolizer *s, struct elf_file *e, int rootfd,
				     const struct sym_process *p, const char *path,
				     uint64_t bin_size)
{
	static const char *const in_root[] = { "%s/%s", "%s/.debug/%s", "/usr/lib/debug%s/%s" };
	const char *bid = elf_file__build_id(e), *link;
	char cand[PATH_MAX * 2], bidpath[PATH_MAX], dir[PATH_MAX];
	uint32_t crc;

	if (elf_file__has_symtab(e) && (elf_file__has_dwarf(e) || !s->opts.debug_file_dwarf))
		return DEBUG_NONE;
	link = elf_file__debuglink(e, &crc);
	if (link && (path[0] != '/' || !valid_debuglink(link)))
		link = NULL;
	dir[0] = 0;
	if (link) {
		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = 0;
	}
	bidpath[0] = 0;
	if (strlen(bid) > 2)
		snprintf(bidpath, sizeof(bidpath), ".build-id/%.2s/%s.debug", bid, bid + 2);
	if (bidpath[0]) {
		snprintf(cand, sizeof(cand), "/usr/lib/debug/%s", bidpath);
		if (try_debug_file(s, e, -1, NULL, cand, NULL, 0))
			return DEBUG_TRUSTED;
		for (size_t d = 0; d < s->opts.ndebug_dirs; d++) {
			snprintf(cand, sizeof(cand), "%s/%s", s->opts.debug_dirs[d], bidpath);
			if (try_debug_file(s, e, -1, NULL, cand, NULL, 0))
				return DEBUG_TRUSTED;
		}
	}
	if (link) {
		snprintf(cand, sizeof(cand), "/usr/lib/debug%s/%s", dir, link);
		if (try_debug_file(s, e, -1, NULL, cand, &crc, bin_size))
			return DEBUG_TRUSTED;
		for (size_t d = 0; d < s->opts.ndebug_dirs; d++) {
			snprintf(cand, sizeof(cand), "%s%s/%s", s->opts.debug_dirs[d], dir, link);
			if (try_debug_file(s, e, -1, NULL, cand, &crc, bin_size))
				return DEBUG_TRUSTED;
		}
	}
	if (rootfd < 0)
		return DEBUG_NONE;
	if (bidpath[0]) {
		snprintf(cand, sizeof(cand), "/usr/lib/debug/%s", bidpath);
		if (try_debug_file(s, e, rootfd, p, cand, NULL, 0))
			return DEBUG_IN_ROOT;
	}
	for (size_t i = 0; link && i < ARRAY_SIZE(in_root); i++) {
		snprintf(cand, sizeof(cand), in_root[i], dir, link);
		if (try_debug_file(s, e, rootfd, p, cand, &crc, bin_size))
			return DEBUG_IN_ROOT;
	}
	return DEBUG_NONE;
}

/*
 * libdebuginfod, loaded when first needed: linked in, it brings libcurl and some thirty
 * libraries into every run (+5 MB of RSS and milliseconds of start-up), for a feature used only
 * when DEBUGINFOD_URLS is set. libdw loads it the same way.
 */
struct debuginfod_api {
	debuginfod_client *(*begin)(void);
	void (*end)(debuginfod_client *c);
	int (*find_debuginfo)(debuginfod_client *c, const unsigned char *id, int len, char **path);
	void (*set_progressfn)(debuginfod_client *c, debuginfod_progressfn_t fn);
	void (*set_user_data)(debuginfod_client *c, void *data);
	void *(*get_user_data)(debuginfod_client *c);
};

/*
 * The library's functions, process-wide as the loaded library itself is: resolved once
 * (pthread_once: symbolizers in several threads may ask at the same time) and only read after.
 * The progress callback, given nothing but the client, reaches its budget through them.
 */
static struct debuginfod_api loaded;
static pthread_once_t api_once = PTHREAD_ONCE_INIT;
static int loaded_err;
static char loaded_why[256]; /* why it could not be loaded */

static void load_debuginfod(void)
{
	static const char *const names[] = { "libdebuginfod.so.1" };
	const struct dlib_sym syms[] = {
		{ "debuginfod_begin", &loaded.begin },
		{ "debuginfod_end", &loaded.end },
		{ "debuginfod_find_debuginfo", &loaded.find_debuginfo },
		{ "debuginfod_set_progressfn", &loaded.set_progressfn },
		{ "debuginfod_set_user_data", &loaded.set_user_data },
		{ "debuginfod_get_user_data", &loaded.get_user_data },
	};

	loaded_err = dlib_load(names, ARRAY_SIZE(names), syms, ARRAY_SIZE(syms), loaded_why,
			       sizeof(loaded_why));
}

static const struct debuginfod_api *debuginfod_api(void)
{
	pthread_once(&api_once, load_debuginfod);
	return loaded_err ? NULL : &loaded;
}

struct debuginfod_budget {
	uint64_t deadline_ns;
};

/*
 * Progress callback: a transfer past the deadline is abandoned. libdebuginfod calls it at least
 * once a second while it waits (its transfer loop waits on libcurl one second at a time), from
 * connecting to the last byte: the budget holds without setting DEBUGINFOD_TIMEOUT, which the
 * client would read from the process's environment.
 */
static int debuginfod_progress(debuginfod_client *c, long a, long b)
{
	struct debuginfod_budget *budget = debuginfod_api()->get_user_data(c);

	(void)a;
	(void)b;
	return now_ns(CLOCK_MONOTONIC) > budget->deadline_ns;
}

size_t symbolizer__fetch_debuginfo(struct symbolizer *s, double budget_s)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	const struct debuginfod_api *api;
	struct debuginfod_budget budget;
	debuginfod_client *client;
	size_t pos = 0, gained = 0;
	void *v;

	if (!urls || !*urls)
		return 0;
	api = debuginfod_api();
	if (!api) {
		sym_warn(s, "DEBUGINFOD_URLS is set but libdebuginfod.so.1 cannot be loaded: %s",
			 loaded_why);
		return 0;
	}
	client = api->begin();
	if (!client) {
		sym_warn(s, "cannot start a debuginfod client: %s", strerror(errno));
		return 0;
	}
	budget.deadline_ns = now_ns(CLOCK_MONOTONIC) + (uint64_t)(budget_s * 1e9);
	api->set_user_data(client, &budget);
	api->set_progressfn(client, debuginfod_progress);
	while (hmap__next(s->files, &pos, NULL, NULL, &v)) {
		struct cached_file *cf = v;
		struct elf_file *e = cf->elf;
		const char *bid = elf_file__build_id(e);
		uint64_t now = now_ns(CLOCK_MONOTONIC);
		char *path = NULL;
		struct stat st;
		int fd;

		if (cf->debuginfod_tried || !bid[0] ||
		    (elf_file__has_symtab(e) &&
		     (elf_file__has_dwarf(e) || !s->opts.debug_file_dwarf)))
			continue;
		if (now >= budget.deadline_ns) {
			sym_warn(s,
				 "debuginfod: out of time (%.0f s), some files keep bare addresses",
				 budget_s);
			break;
		}
		cf->debuginfod_tried = true;
		fd = api->find_debuginfo(client, (const unsigned char *)bid, 0, &path);
		if (fd < 0) {
			if (fd != -ENOENT)
				s->stats.debuginfod_failed++;
			free(path);
			continue;
		}
		/* the server's file: as bounded as any other debug file */
		if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size > proc_file__max_size(PROC_FILE_DEBUG)) {
			s->stats.debuginfod_failed++;
		} else if (elf_file__add_debug_file(e, fd, s->opts.debug_file_dwarf) == 0) {
			s->stats.debuginfod_fetched++;
			s->stats.debug_files++;
			gained++;
		}
		close(fd);
		free(path);
	}
	api->end(client);
	/* names resolved before may change now */
	if (gained)
		sym_clear_frames(s);
	if (s->stats.debuginfod_failed)
		sym_warn(s, "debuginfod: %zu queries failed (servers: %s)",
			 s->stats.debuginfod_failed, urls);
	return gained;
}
