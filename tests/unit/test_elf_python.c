// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CPython's exported symbols found through the GNU hash table (elf_file__python) agree with a
 * reading of the whole dynamic symbol table, for real interpreters, look-alikes, a file linked
 * with the SysV hash table only, a program that is not Python, and a copy whose .gnu.hash is
 * damaged (then the whole table is read).
 * Usage: test_elf_python FILE...
 */
#include "check.h"
#include "elf_file.h"

#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* _PyRuntime and Py_Version by reading every dynamic symbol */
static void linear(const char *path, uint64_t *runtime, uint64_t *version)
{
	int fd = open(path, O_RDONLY);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	*runtime = *version = 0;
	while (elf && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *d, *s;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		s = elf_getdata(elf_getscn(elf, sh.sh_link), NULL);
		for (size_t i = 0; d && s && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_OBJECT || sym.st_shndx == SHN_UNDEF ||
			    !sym.st_value)
				continue;
			name = (const char *)s->d_buf + sym.st_name;
			if (!strcmp(name, "_PyRuntime"))
				*runtime = sym.st_value;
			else if (!strcmp(name, "Py_Version") && sym.st_size >= 4)
				*version = sym.st_value;
		}
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	if (!*runtime)
		*version = 0;
}

static bool has_section(const char *path, GElf_Word type, off_t *ret_off)
{
	int fd = open(path, O_RDONLY);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	bool found = false;

	while (elf && !found && (scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == type) {
			found = true;
			if (ret_off)
				*ret_off = (off_t)sh.sh_offset;
		}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return found;
}

/* What elf_file__python says of path, against the linear reading; 1 when it is Python. */
static int compare(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct elf_file *f = fd >= 0 ? elf_file__read(fd) : NULL;
	uint64_t rt = 0, ver = 0, lrt, lver;
	int r;

	CHECK(f != NULL);
	if (fd >= 0)
		close(fd);
	if (!f)
		return -1;
	r = elf_file__python(f, &rt, &ver);
	linear(path, &lrt, &lver);
	printf("%s: gnu hash %s, _PyRuntime %#llx (linear %#llx), Py_Version %#llx (%#llx)\n", path,
	       has_section(path, SHT_GNU_HASH, NULL) ? "yes" : "no",
	       (unsigned long long)(r ? 0 : rt), (unsigned long long)lrt,
	       (unsigned long long)(r ? 0 : ver), (unsigned long long)lver);
	CHECK_INT(r ? 0 : rt, lrt);
	CHECK_INT(r ? 0 : ver, lver);
	elf_file__free(f);
	return lrt != 0;
}

int main(int argc, char **argv)
{
	int pythons = 0, sysv = 0;

	elf_version(EV_CURRENT);
	for (int i = 1; i < argc; i++) {
		pythons += compare(argv[i]) == 1;
		sysv += !has_section(argv[i], SHT_GNU_HASH, NULL);
	}
	CHECK(pythons >= 2);
	CHECK(sysv >= 1);
	/* a copy of the first whose .gnu.hash header is garbage: the whole table is read */
	if (argc > 1) {
		char tmp[] = "/tmp/test-elf-python.XXXXXX", cmd[512];
		off_t at = 0;
		int fd = mkstemp(tmp);
		unsigned char junk[16];

		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", argv[1], tmp);
		CHECK(fd >= 0 && system(cmd) == 0 && has_section(tmp, SHT_GNU_HASH, &at));
		memset(junk, 0xff, sizeof(junk));
		CHECK(pwrite(fd, junk, sizeof(junk), at) == (ssize_t)sizeof(junk));
		CHECK_INT(compare(tmp), compare(argv[1]));
		close(fd);
		unlink(tmp);
	}
	return check_done("elf_python");
}
