// SPDX-License-Identifier: LGPL-2.1-or-later
/* Folded stacks, the reader of any profile, frame trees, per-function shares and the SVG. */
#include "check.h"
#include "folded.h"
#include "pprof.h"
#include "svg.h"
#include "tree.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <zlib.h>

static struct profile *parse(const char *text, char *err, size_t errlen)
{
	struct profile *p = NULL;

	if (folded__parse(text, strlen(text), &p, err, errlen))
		return NULL;
	return p;
}

static const struct func_row *row(const struct func_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->rows[i].name, name))
			return &t->rows[i];
	return NULL;
}

static void test_folded(void)
{
	char err[256], name[64];
	struct profile *p;

	p = parse("# comment\nmain;a;b 10\r\nmain;a;c 5\n\nmain;sys_read_[k] 3\nmain;jitted_[j] 2\n"
		  "operator new(unsigned long);x 1",
		  err, sizeof(err));
	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_INT(p->nsamples, 5);
	CHECK_INT(p->samples[0].nlocs, 3);
	CHECK_INT(p->samples[0].values[0], 10);
	/* leaf first in the model */
	profile__frame_name(p, &p->locations[p->samples[0].locs[0] - 1], 0, name, sizeof(name));
	CHECK_STR(name, "b");
	profile__frame_name(p, &p->locations[p->samples[2].locs[0] - 1], 0, name, sizeof(name));
	CHECK_STR(name, "sys_read");
	CHECK_INT(profile__frame_kind(p, &p->locations[p->samples[2].locs[0] - 1], 0),
		  FRAME_KERNEL);
	CHECK_INT(profile__frame_kind(p, &p->locations[p->samples[3].locs[0] - 1], 0), FRAME_JIT);
	CHECK_INT(profile__frame_kind(p, &p->locations[p->samples[0].locs[0] - 1], 0), FRAME_USER);
	/* an interpreter's frames: no mapping, a function of a .py file or a frozen module */
	{
		struct prof_line pl = { .line = 12 };
		const char *files[] = { "/srv/app.py", "<frozen importlib._bootstrap>", "x.pyc",
					"" };
		const enum frame_kind want[] = { FRAME_PYTHON, FRAME_PYTHON, FRAME_USER,
						 FRAME_USER };

		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			uint64_t loc;

			pl.function = profile__function(p, "Ranker.key", "key", files[i], 10);
			loc = profile__location(p, 0, 0, &pl, 1);
			CHECK(loc != 0);
			if (loc)
				CHECK_INT(profile__frame_kind(p, &p->locations[loc - 1], 0),
					  want[i]);
		}
	}
	profile__frame_name(p, &p->locations[p->samples[4].locs[1] - 1], 0, name, sizeof(name));
	CHECK_STR(name, "operator new(unsigned long)"); /* spaces inside frames stay */
	profile__free(p);

	/* each malformed line is named */
	CHECK(parse("main;a 1\nmain;b\n", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "line 2") != NULL);
	CHECK(parse("main;a 99999999999999999999999\n", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "too large") != NULL);
	CHECK(parse(" 12\n", err, sizeof(err)) == NULL);
	CHECK(parse(";;; 12\n", err, sizeof(err)) == NULL);
	CHECK(parse("\n# nothing\n", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "no stacks") != NULL);
}

static void test_any(void)
{
	const char text[] = "main;a 3\nmain;b 1\n";
	unsigned char gz[256];
	uLongf gzlen = sizeof(gz);
	z_stream zs = { 0 };
	struct profile *p = NULL, *q = NULL;
	void *buf;
	size_t len;
	char err[256];

	/* folded, gzip'ed */
	deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (unsigned char *)text;
	zs.avail_in = sizeof(text) - 1;
	zs.next_out = gz;
	zs.avail_out = gzlen;
	CHECK_INT(deflate(&zs, Z_FINISH), Z_STREAM_END);
	gzlen = zs.total_out;
	deflateEnd(&zs);
	CHECK_INT(profile__decode_any(gz, gzlen, &p, err, sizeof(err)), 0);
	CHECK(p && p->nsamples == 2);
	/* pprof, written by us */
	if (p && pprof__encode(p, true, &buf, &len) == 0) {
		CHECK_INT(profile__decode_any(buf, len, &q, err, sizeof(err)), 0);
		CHECK(q && q->nsamples == 2 && q->samples[0].values[0] == 3);
		free(buf);
	}
	profile__free(p);
	profile__free(q);
	/* neither */
	CHECK(profile__decode_any("\x08\x96\x01\x02\x03", 5, &p, err, sizeof(err)) < 0);
	CHECK(profile__decode_any("", 0, &p, err, sizeof(err)) < 0);
	CHECK(strstr(err, "empty") != NULL);
	CHECK(profile__decode_any("\x1f\x8bgarbage", 9, &p, err, sizeof(err)) < 0);
	CHECK(strstr(err, "gzip") != NULL);
	CHECK(profile__read_any("/nonexistent/profile", &p, err, sizeof(err)) < 0);
	CHECK(strstr(err, "cannot read") != NULL);
}

static void test_tree_and_table(void)
{
	char err[256];
	/* recursion: f appears twice in a stack but counts once in cum */
	struct profile *p = parse("main;f;f;g 6\nmain;f 2\nmain;h 2\n", err, sizeof(err));
	struct profile *b = parse("main;f;f;g 2\nmain;h 8\nmain;gone 10\n", err, sizeof(err));
	struct func_table ft = { 0 };
	const struct func_row *r;
	struct ftree *t;
	uint32_t c;

	CHECK(p && b);
	if (!p || !b)
		return;
	t = ftree__from_profile(p);
	CHECK(t != NULL);
	if (t) {
		CHECK(t->nodes[0].total == 10);
		CHECK_INT(t->max_depth, 4);
		CHECK_INT(ftree__add_base(t, b), 0);
		CHECK(t->base_total == 20 && t->nodes[0].base == 20);
		CHECK_INT(ftree__sort(t), 0);
		c = t->nodes[t->nodes[0].child].child; /* all -> main -> first child */
		CHECK_STR(t->names[t->nodes[c].name], "f"); /* sorted by name */
		CHECK(t->nodes[c].total == 8 && t->nodes[c].self == 2 && t->nodes[c].base == 2);
		CHECK_STR(t->names[t->nodes[t->nodes[c].next].name], "h");
		CHECK(t->nodes[t->nodes[c].next].base == 8);
		ftree__free(t);
	}
	CHECK_INT(func_table__add(&ft, b, 0), 0);
	CHECK_INT(func_table__add(&ft, p, 1), 0);
	CHECK(ft.total[0] == 20 && ft.total[1] == 10);
	r = row(&ft, "f");
	CHECK(r && r->cum[1] == 8 && r->self[1] == 2 && r->cum[0] == 2 && r->self[0] == 0);
	r = row(&ft, "gone");
	CHECK(r && r->self[0] == 10 && r->self[1] == 0);
	func_table__free(&ft);
	profile__free(p);
	profile__free(b);
}

static void test_p_value(void)
{
	/* 30 of 100 against 50 of 100: z = 2.89, two-sided p = 0.0039 */
	double p = two_proportion_p(30, 100, 50, 100);

	CHECK(fabs(p - 0.0039) < 0.0003);
	CHECK(two_proportion_p(50, 100, 50, 100) == 1);
	CHECK(two_proportion_p(500, 1000, 520, 1000) > 0.3);
	CHECK(two_proportion_p(0, 100, 0, 200) == 1);
	CHECK(two_proportion_p(5, 0, 1, 10) == 1);
}

static bool inverted;

static char *svg_of(const char *folded, const struct profile *base, bool diff, size_t *ret_len)
{
	char err[256], *buf = NULL;
	struct profile *p = parse(folded, err, sizeof(err));
	struct svg_opts o = { .title = "t<&>\"", .diff = diff, .inverted = inverted, .width = 600 };
	struct ftree *t = p ? ftree__from_profile(p) : NULL;
	FILE *f;

	*ret_len = 0;
	if (t && (!base || ftree__add_base(t, base) == 0) && ftree__sort(t) == 0 &&
	    (f = open_memstream(&buf, ret_len))) {
		CHECK_INT(svg__write(t, &o, f), 0);
		fclose(f);
	}
	ftree__free(t);
	profile__free(p);
	return buf;
}

static void test_svg(void)
{
	char err[256];
	struct profile *base = parse("main;hot 80\nmain;cold 20\n", err, sizeof(err));
	size_t len;
	char *s = svg_of("main;hot 30\nmain;cold 70\nmain;bad\xff<name> 1\n", NULL, false, &len);

	CHECK(s != NULL);
	if (s) {
		CHECK(strstr(s, "<title>t&lt;&amp;&gt;&quot;</title>") == NULL); /* title is text */
		CHECK(strstr(s, ">t&lt;&amp;&gt;&quot;</text>") != NULL);
		/* invalid UTF-8 replaced (U+FFFD, as in every output), markup escaped */
		CHECK(strstr(s, "bad\xef\xbf\xbd&lt;name&gt;") != NULL);
		CHECK(strstr(s, "<title>hot\n30 samples, 29.70%") != NULL);
		/* the root at the bottom, the full width */
		CHECK(strstr(s,
			     "<title>all\n101 samples, 100.00%</title><rect x=\"10.00\" y=\"82.0\" "
			     "width=\"580.00\"") != NULL);
		CHECK(strstr(s, "http://") == strstr(s, "http://www.w3.org/2000/svg"));
		free(s);
	}
	inverted = true;
	s = svg_of("main;hot 30\nmain;cold 70\n", NULL, false, &len);
	CHECK(s && strstr(s, "class=\"inverted\"") != NULL);
	/* an icicle: the root at the top */
	CHECK(s &&
	      strstr(s, "<title>all\n100 samples, 100.00%</title><rect x=\"10.00\" y=\"50.0\"") !=
		  NULL);
	free(s);
	inverted = false;
	s = svg_of("main;hot 30\nmain;cold 70\n", base, true, &len);
	CHECK(s != NULL);
	if (s) {
		/* hot shrank from 80 % to 30 %, cold grew: both significant with 100 samples */
		CHECK(
		    strstr(s,
			   "before 80.00% (80 samples), after 30.00% (30 samples): -50.00 points, "
			   "significant") != NULL);
		CHECK(strstr(s, "+50.00 points, significant") != NULL);
		CHECK(strstr(s, "fill=\"#2d2dff\"") != NULL); /* the largest change at full blue */
		CHECK(strstr(s, "fill=\"#ff2d2d\"") != NULL);
		free(s);
	}
	profile__free(base);
}

/* 100k distinct stacks: tiny frames merge, the file stays small. */
static void test_svg_size(void)
{
	size_t cap = 1 << 23, len = 0, svg_len;
	char *text = malloc(cap), *s;
	unsigned int x = 12345;

	if (!text)
		return;
	for (int i = 0; i < 100000; i++) {
		int depth = 3 + i % 12;

		len += snprintf(text + len, cap - len, "main");
		for (int d = 0; d < depth; d++) {
			x = x * 1103515245u + 12345u;
			len += snprintf(text + len, cap - len, ";fn_%u", (x >> 16) % 50);
		}
		len += snprintf(text + len, cap - len, " %u\n", 1 + (x >> 8) % 100);
	}
	s = svg_of(text, NULL, false, &svg_len);
	CHECK(s != NULL);
	fprintf(stderr, "  100k stacks: %zu bytes of folded text, %zu bytes of SVG\n", len,
		svg_len);
	CHECK(svg_len > 10000 && svg_len < 4u << 20);
	if (s)
		CHECK(strstr(s, "small frames]") != NULL);
	free(s);
	free(text);
}

int main(void)
{
	test_folded();
	test_any();
	test_tree_and_table();
	test_p_value();
	test_svg();
	test_svg_size();
	return check_done("test_render");
}
