// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel-symbol cache, against a fake /proc: used when the boot id and modules match, only
 * for core text and module addresses; ignored when stale or corrupt, and rewritten.
 */
#include "check.h"
#include "kallsyms.h"
#include "symbolizer.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64], cache[96];

static void put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

/* kallsyms of the fake kernel, with the core symbol at 0x...1100 called NAME */
static void put_kallsyms(const char *name)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "ffffffff81000000 T _stext\n"
		 "ffffffff81001100 T %s\n"
		 "ffffffff81002000 t other\n"
		 "ffffffff82000000 T _etext\n"
		 "ffffffffc0010000 t mod_func\t[mymod]\n"
		 "ffffffffc0300000 t bpf_prog_1234_run\t[bpf]\n",
		 name);
	put("kallsyms", text);
}

static const char *resolve(uint64_t addr, struct symbolizer_stats *st)
{
	static char name[64];
	struct symbolizer_opts opts = { .proc_root = root, .cache_dir = cache };
	struct symbolizer *s = symbolizer__new(&opts);
	struct sym_frame f;

	name[0] = 0;
	if (symbolizer__resolve_kernel(s, addr, &f) == 0)
		snprintf(name, sizeof(name), "%s", f.function);
	symbolizer__stats(s, st);
	symbolizer__free(s);
	return name;
}

int main(void)
{
	struct symbolizer_stats st;
	char path[160];
	FILE *f;

	snprintf(root, sizeof(root), "/tmp/scorch-kcache.XXXXXX");
	if (!mkdtemp(root))
		return 1;
	snprintf(cache, sizeof(cache), "%s/cache", root);
	snprintf(path, sizeof(path), "%s/sys/kernel/random", root);
	mkdir(path, 0755);
	*strrchr(path, '/') = 0;
	snprintf(path, sizeof(path), "%s/sys", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/sys/kernel", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/sys/kernel/random", root);
	mkdir(path, 0755);
	put("sys/kernel/random/boot_id", "11111111-2222-3333-4444-555555555555\n");
	put("modules", "mymod 65536 0 - Live 0xffffffffc0010000\n");
	put_kallsyms("first_name");

	/* cold: read /proc/kallsyms and save */
	CHECK_STR(resolve(0xffffffff81001180ULL, &st), "first_name");
	CHECK(st.kernel_from_proc && st.kernel_cache_saved && !st.kernel_from_cache);

	/* the live table changes but boot and modules do not: the cache answers */
	put_kallsyms("second_name");
	CHECK_STR(resolve(0xffffffff81001180ULL, &st), "first_name");
	CHECK(st.kernel_from_cache && !st.kernel_from_proc);
	CHECK_STR(resolve(0xffffffffc0010010ULL, &st), "mod_func");
	CHECK(st.kernel_from_cache && !st.kernel_from_proc);

	/* an address outside core text and modules (a BPF program): read the live table */
	CHECK_STR(resolve(0xffffffffc0300010ULL, &st), "bpf_prog_1234_run");
	CHECK(st.kernel_from_cache && st.kernel_from_proc);

	/* a module loaded: stale, so read again (and rewritten) */
	put("modules",
	    "mymod 65536 0 - Live 0xffffffffc0010000\nnew 4096 0 - Live 0xffffffffc0400000\n");
	CHECK_STR(resolve(0xffffffff81001180ULL, &st), "second_name");
	CHECK(st.kernel_from_proc && st.kernel_cache_saved && !st.kernel_from_cache);

	/* a reboot: stale */
	put_kallsyms("third_name");
	put("sys/kernel/random/boot_id", "99999999-2222-3333-4444-555555555555\n");
	CHECK_STR(resolve(0xffffffff81001180ULL, &st), "third_name");
	CHECK(st.kernel_from_proc && !st.kernel_from_cache);

	/* a corrupt cache is ignored and replaced */
	snprintf(path, sizeof(path), "%s/kallsyms", cache);
	truncate(path, 100);
	put_kallsyms("fourth_name");
	CHECK_STR(resolve(0xffffffff81001180ULL, &st), "fourth_name");
	CHECK(st.kernel_from_proc && st.kernel_cache_saved);
	f = fopen(path, "r+");
	fseek(f, 200, SEEK_SET);
	fputs("garbage garbage garbage", f);
	fclose(f);
	put_kallsyms("fifth_name");
	CHECK_STR(resolve(0xffffffff81001180ULL, &st), "fifth_name");
	CHECK(st.kernel_from_proc);

	/* a cache directory writable by others is not trusted with a write */
	chmod(cache, 0777);
	unlink(path);
	CHECK_STR(resolve(0xffffffff81001180ULL, &st), "fifth_name");
	CHECK(!st.kernel_cache_saved);
	CHECK(access(path, F_OK) != 0);

	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	if (system(path) != 0)
		return 1;
	return check_done("test_kernel_cache");
}
