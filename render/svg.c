// SPDX-License-Identifier: LGPL-2.1-or-later
/* Writing a frame tree as an interactive flame graph SVG (script and style inline). */
#include "svg.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAD 10.0
#define ROW 16.0
#define TOP 50.0 /* title, subtitle and buttons */
#define BOTTOM 30.0 /* the details line */
#define CHAR_PX 7.0 /* average width of a 12 px Verdana character */

/* Behaviour of the graph, written into every file (no outside resources). */
static const char script[] =
    "var svg, frames, all = [], details, matched, unzoomBtn, searchBtn, W, H, INV;\n"
    "function init() {\n"
    "  svg = document.documentElement;\n"
    "  frames = document.getElementById('frames');\n"
    "  details = document.getElementById('details');\n"
    "  matched = document.getElementById('matched');\n"
    "  unzoomBtn = document.getElementById('unzoom');\n"
    "  searchBtn = document.getElementById('search');\n"
    "  W = +svg.getAttribute('width'); H = +svg.getAttribute('height');\n"
    "  INV = svg.getAttribute('class') === 'inverted';\n"
    "  var gs = frames.getElementsByTagName('g');\n"
    "  for (var i = 0; i < gs.length; i++) {\n"
    "    var g = gs[i], r = g.getElementsByTagName('rect')[0];\n"
    "    var t = g.getElementsByTagName('title')[0].textContent;\n"
    "    g._r = r; g._t = g.getElementsByTagName('text')[0]; g._title = t;\n"
    "    g._name = t.split('\\n')[0]; g._fill = r.getAttribute('fill');\n"
    "    g._x = +r.getAttribute('x'); g._w = +r.getAttribute('width');\n"
    "    g._d = Math.round(INV ? (+r.getAttribute('y') - TOP) / ROW\n"
    "                          : (H - BOTTOM - ROW - +r.getAttribute('y')) / ROW);\n"
    "    all.push(g);\n"
    "  }\n"
    "  frames.addEventListener('click', function (e) { var g = frameOf(e.target); if (g) zoom(g); });\n"
    "  frames.addEventListener('mouseover', function (e) {\n"
    "    var g = frameOf(e.target); if (g) details.textContent = g._title.replace(/\\n/g, ' | ');\n"
    "  });\n"
    "  frames.addEventListener('mouseout', function () { details.textContent = ' '; });\n"
    "  unzoomBtn.addEventListener('click', unzoom);\n"
    "  searchBtn.addEventListener('click', askSearch);\n"
    "  window.addEventListener('keydown', function (e) {\n"
    "    if ((e.ctrlKey || e.metaKey) && e.keyCode === 70) { e.preventDefault(); askSearch(); }\n"
    "    else if (e.keyCode === 27) { search(''); unzoom(); }\n"
    "  });\n"
    "  var q = (location.search.substring(1) + '&' + location.hash.substring(1)).split('&');\n"
    "  for (var j = 0; j < q.length; j++) {\n"
    "    var kv = q[j].split('='), v = decodeURIComponent((kv[1] || '').replace(/\\+/g, ' '));\n"
    "    if (kv[0] === 'zoom') {\n"
    "      var best = null;\n"
    "      all.forEach(function (g) { if (g._name === v && (!best || g._w > best._w)) best = g; });\n"
    "      if (best) best._r.dispatchEvent(new MouseEvent('click', { bubbles: true }));\n"
    "    } else if (kv[0] === 's') search(v);\n"
    "    else if (kv[0] === 'unzoom') unzoomBtn.dispatchEvent(new MouseEvent('click'));\n"
    "  }\n"
    "}\n"
    "function frameOf(t) {\n"
    "  for (; t && t !== frames; t = t.parentNode) if (t._r) return t;\n"
    "  return null;\n"
    "}\n"
    "function label(g, w) {\n"
    "  var n = Math.floor((w - 6) / CHAR), s = g._name;\n"
    "  g._t.textContent = n < 3 ? '' : s.length <= n ? s : s.substring(0, n - 2) + '..';\n"
    "}\n"
    "function place(g, x, w) {\n"
    "  g._r.setAttribute('x', x.toFixed(2)); g._r.setAttribute('width', w.toFixed(2));\n"
    "  g._t.setAttribute('x', (x + 3).toFixed(2)); label(g, w);\n"
    "}\n"
    "function show(g, on) { if (on) g.removeAttribute('display'); else g.setAttribute('display', 'none'); }\n"
    "function zoom(z) {\n"
    "  var x0 = z._x, w0 = z._w, k = (W - 2 * PAD) / w0, e = 1e-6;\n"
    "  unzoomBtn.removeAttribute('display');\n"
    "  all.forEach(function (g) {\n"
    "    var inside = g._x >= x0 - e && g._x + g._w <= x0 + w0 + e;\n"
    "    var above = g._x <= x0 + e && g._x + g._w >= x0 + w0 - e;\n"
    "    if (g._d < z._d && above) { place(g, PAD, W - 2 * PAD); g.setAttribute('opacity', '0.6'); show(g, true); }\n"
    "    else if (g._d >= z._d && inside) { place(g, PAD + (g._x - x0) * k, g._w * k); g.removeAttribute('opacity'); show(g, true); }\n"
    "    else show(g, false);\n"
    "  });\n"
    "}\n"
    "function unzoom() {\n"
    "  unzoomBtn.setAttribute('display', 'none');\n"
    "  all.forEach(function (g) { place(g, g._x, g._w); g.removeAttribute('opacity'); show(g, true); });\n"
    "}\n"
    "function askSearch() {\n"
    "  var s = prompt('Search for frames (regular expression):', '');\n"
    "  if (s !== null) search(s);\n"
    "}\n"
    "function search(s) {\n"
    "  var re, spans = [], sum = 0, end = -1;\n"
    "  all.forEach(function (g) { g._r.setAttribute('fill', g._fill); g.removeAttribute('class'); });\n"
    "  matched.textContent = ' '; svg.removeAttribute('data-matched');\n"
    "  if (!s) return;\n"
    "  try { re = new RegExp(s); } catch (err) { matched.textContent = 'Invalid regular expression'; return; }\n"
    "  all.forEach(function (g) {\n"
    "    if (!re.test(g._name)) return;\n"
    "    g._r.setAttribute('fill', MATCH); g.setAttribute('class', 'match');\n"
    "    spans.push([g._x, g._x + g._w]);\n"
    "  });\n"
    "  /* a match inside another one is not counted twice */\n"
    "  spans.sort(function (a, b) { return a[0] - b[0]; });\n"
    "  spans.forEach(function (s) {\n"
    "    if (s[0] >= end) { sum += s[1] - s[0]; end = s[1]; }\n"
    "    else if (s[1] > end) { sum += s[1] - end; end = s[1]; }\n"
    "  });\n"
    "  var pct = 100 * sum / (W - 2 * PAD);\n"
    "  matched.textContent = 'Matched: ' + pct.toFixed(1) + '% (' + spans.length + ' frames)';\n"
    "  svg.setAttribute('data-matched', pct.toFixed(2));\n"
    "}\n";

static const char style[] =
    "text { font-family: Verdana, sans-serif; font-size: 12px; fill: #000; }\n"
    "#frames text { pointer-events: none; }\n"
    "#frames rect:hover { stroke: #000; stroke-width: 0.5; cursor: pointer; }\n"
    "#title { font-size: 17px; text-anchor: middle; }\n"
    "#subtitle { fill: #555; text-anchor: middle; }\n"
    "#unzoom, #search { cursor: pointer; fill: #225; text-decoration: underline; }\n"
    "#search, #matched { text-anchor: end; }\n";

/* Text for XML: escaped, invalid UTF-8 and control bytes as '?', cut at max_chars characters. */
static size_t utf8_len(const unsigned char *s)
{
	int n = s[0] < 0x80		? 1
		: (s[0] & 0xe0) == 0xc0 ? 2
		: (s[0] & 0xf0) == 0xe0 ? 3
		: (s[0] & 0xf8) == 0xf0 ? 4
					: 0;

	if (!n || (n == 2 && s[0] < 0xc2))
		return 0;
	for (int i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static void put_text(FILE *f, const char *str, size_t max_chars)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t chars = 0; *s && chars < max_chars; chars++) {
		size_t n = utf8_len(s);

		if (!n || (n == 1 && *s < 0x20 && *s != '\n')) {
			fputc('?', f);
			s++;
			continue;
		}
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fwrite(s, 1, n, f);
		}
		s += n;
	}
}

static size_t text_chars(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t chars = 0;

	while (*s) {
		size_t n = utf8_len(s);

		s += n ? n : 1;
		chars++;
	}
	return chars;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void kind_color(const char *name, enum frame_kind kind, char *buf, size_t size)
{
	uint32_t h = name_hash(name);
	double a = (h & 0xff) / 255.0, b = ((h >> 8) & 0xff) / 255.0;

	switch (kind) {
	case FRAME_KERNEL: /* blues */
		snprintf(buf, size, "#%02x%02x%02x", (int)(70 + 50 * a), (int)(150 + 50 * b),
			 (int)(205 + 40 * a));
		break;
	case FRAME_PYTHON: /* violets */
		snprintf(buf, size, "#%02x%02x%02x", (int)(150 + 50 * a), (int)(110 + 40 * b),
			 (int)(210 + 40 * a));
		break;
	case FRAME_JIT: /* greens */
		snprintf(buf, size, "#%02x%02x%02x", (int)(70 + 60 * a), (int)(180 + 50 * b),
			 (int)(70 + 40 * b));
		break;
	default: /* reds to yellows */
		snprintf(buf, size, "#%02x%02x%02x", (int)(215 + 40 * a), (int)(90 + 130 * b),
			 (int)(40 + 40 * a));
	}
}

struct svg_ctx {
	const struct ftree *t;
	const struct svg_opts *o;
	FILE *f;
	double scale; /* pixels per sample */
	double height;
	size_t ntests; /* diffs: frames tested, for the correction */
	double max_change; /* diffs: largest significant change of share, in points */
};

static double row_y(const struct svg_ctx *c, uint32_t depth)
{
	return c->o->inverted ? TOP + depth * ROW : c->height - BOTTOM - (depth + 1) * ROW;
}

static void fmt_count(double v, char *buf, size_t size)
{
	if (fabs(v - llround(v)) < 1e-9)
		snprintf(buf, size, "%lld", (long long)llround(v));
	else
		snprintf(buf, size, "%.2f", v);
}

/* The graph weighs values in a unit (a heap profile's bytes), not sample counts. */
static bool in_units(const struct svg_opts *o)
{
	return o->weigh && !o->weigh->counts;
}

/* A weight as the graph shows it: "12 samples", "1.50MB" */
static void fmt_weight(const struct svg_opts *o, double v, char *buf, size_t size)
{
	char n[32];

	if (in_units(o)) {
		format_value(v, o->weigh->unit, buf, size);
		return;
	}
	fmt_count(v, n, sizeof(n));
	/* counts of something other than samples say what they count ("12 alloc_objects") */
	if (o->weigh && o->weigh->per_sample == 1 && strcmp(o->weigh->type, "samples"))
		snprintf(buf, size, "%s %s", n, o->weigh->type);
	else
		snprintf(buf, size, "%s samples", n);
}

/* Diffs: the change of a path's share in points, and whether it is significant. */
static double change(const struct svg_ctx *c, const struct ftree_node *n, bool *significant)
{
	const struct ftree_node *root = &c->t->nodes[0];
	double before = c->t->base_total > 0 ? n->base / c->t->base_total : 0;
	double after = root->total > 0 ? n->total / root->total : 0;
	double p = two_proportion_p(n->base, c->t->base_total, n->total, root->total);

	/* values that are no counts: every change is drawn, none tested */
	if (in_units(c->o)) {
		*significant = true;
		return 100 * (after - before);
	}
	*significant = p * (c->ntests ? c->ntests : 1) < (c->o->alpha > 0 ? c->o->alpha : 0.05);
	if (c->o->verdict) {
		int v = c->o->verdict(c->o->verdict_ctx, c->t->names[n->name]);

		if (v >= 0)
			*significant = v;
	}
	return 100 * (after - before);
}

static void diff_color(const struct svg_ctx *c, const struct ftree_node *n, char *buf, size_t size)
{
	bool sig;
	double d = change(c, n, &sig), k;
	int v;

	if (!sig || d == 0) {
		snprintf(buf, size, "#d6d6d6");
		return;
	}
	k = c->max_change > 0 ? fabs(d) / c->max_change : 1;
	k = k > 1 ? 1 : k;
	v = (int)(215 - 170 * k);
	if (d > 0)
		snprintf(buf, size, "#ff%02x%02x", v, v);
	else
		snprintf(buf, size, "#%02x%02xff", v, v);
}

static void put_frame(struct svg_ctx *c, const char *name, enum frame_kind kind,
		      const struct ftree_node *n, uint32_t depth, double x, double w,
		      const char *merged_title)
{
	const struct ftree_node *root = &c->t->nodes[0];
	char fill[16], a[48], b[48];
	double y = row_y(c, depth);
	size_t fit = w > 6 ? (size_t)((w - 6) / CHAR_PX) : 0;

	fputs("<g><title>", c->f);
	put_text(c->f, name, SIZE_MAX);
	fputc('\n', c->f);
	if (merged_title) {
		fputs(merged_title, c->f);
		snprintf(fill, sizeof(fill), "#c8c8c8");
	} else if (c->o->diff) {
		bool sig;
		double d = change(c, n, &sig);

		fmt_weight(c->o, n->base, a, sizeof(a));
		fmt_weight(c->o, n->total, b, sizeof(b));
		fprintf(c->f, "before %.2f%% (%s), after %.2f%% (%s): %+.2f points, %s",
			c->t->base_total > 0 ? 100 * n->base / c->t->base_total : 0, a,
			root->total > 0 ? 100 * n->total / root->total : 0, b, d,
			in_units(c->o) ? "not tested (values, not counts)"
			: sig	       ? "significant"
				       : "not significant");
		diff_color(c, n, fill, sizeof(fill));
	} else {
		fmt_weight(c->o, n->total, a, sizeof(a));
		fprintf(c->f, "%s, %.2f%%", a, root->total > 0 ? 100 * n->total / root->total : 0);
		if (n->self > 0) {
			if (in_units(c->o))
				format_value(n->self, c->o->weigh->unit, b, sizeof(b));
			else
				fmt_count(n->self, b, sizeof(b));
			fprintf(c->f, " (self %s)", b);
		}
		kind_color(name, kind, fill, sizeof(fill));
	}
	fprintf(c->f,
		"</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"/>"
		"<text x=\"%.2f\" y=\"%.1f\">",
		x, y, w, ROW - 1, fill, x + 3, y + ROW - 4.5);
	if (fit >= 3) {
		if (text_chars(name) <= fit) {
			put_text(c->f, name, fit);
		} else {
			put_text(c->f, name, fit - 2);
			fputs("..", c->f);
		}
	}
	fputs("</text></g>\n", c->f);
}

struct pending {
	uint32_t node;
	double x;
};

/* Every frame, depth first with an explicit stack (stacks can be thousands deep). */
static int put_frames(struct svg_ctx *c)
{
	const struct ftree *t = c->t;
	double min_px = c->o->min_px > 0 ? c->o->min_px : 0.5;
	struct pending *stack = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (grow_array((void **)&stack, &cap, 1, sizeof(*stack)))
		return -ENOMEM;
	stack[n++] = (struct pending){ 0, PAD };
	while (n) {
		struct pending p = stack[--n];
		const struct ftree_node *node = &t->nodes[p.node];
		double x = p.x, tiny_x = 0, tiny_w = 0, tiny_v = 0;
		size_t ntiny = 0;

		put_frame(c, t->names[node->name], node->kind, node, node->depth, p.x,
			  node->total * c->scale, NULL);
		for (uint32_t ch = node->child;; ch = t->nodes[ch].next) {
			double w = ch ? t->nodes[ch].total * c->scale : 0;

			/* runs of tiny frames become one "[N small frames]" box, without children */
			if (ch && w < min_px) {
				if (!ntiny++)
					tiny_x = x;
				tiny_w += w;
				tiny_v += t->nodes[ch].total;
				x += w;
				continue;
			}
			if (ntiny && tiny_w >= min_px) {
				char title[96], name[64], v[48];

				fmt_weight(c->o, tiny_v, v, sizeof(v));
				snprintf(name, sizeof(name), "[%zu small frames]", ntiny);
				snprintf(title, sizeof(title), "%s, %.2f%%", v,
					 t->nodes[0].total > 0 ? 100 * tiny_v / t->nodes[0].total
							       : 0);
				put_frame(c, name, FRAME_USER, node, node->depth + 1, tiny_x,
					  tiny_w, title);
			}
			ntiny = 0;
			tiny_w = tiny_v = 0;
			if (!ch)
				break;
			if (grow_array((void **)&stack, &cap, n + 1, sizeof(*stack))) {
				err = -ENOMEM;
				break;
			}
			stack[n++] = (struct pending){ ch, x };
			x += w;
		}
		if (err)
			break;
	}
	free(stack);
	return err;
}

int svg__write(const struct ftree *t, const struct svg_opts *o, FILE *f)
{
	struct svg_ctx c = { .t = t, .o = o, .f = f };
	unsigned int width = o->width ? o->width : 1200;
	const struct ftree_node *root = &t->nodes[0];
	char total[48], base[48];

	c.height = TOP + (t->max_depth + 1) * ROW + BOTTOM;
	c.scale = root->total > 0 ? (width - 2 * PAD) / root->total : 0;
	if (o->diff) {
		c.ntests = t->n;
		for (size_t i = 0; i < t->n; i++) {
			bool sig;
			double d = fabs(change(&c, &t->nodes[i], &sig));

			if (sig && d > c.max_change)
				c.max_change = d;
		}
	}
	fmt_weight(o, root->total, total, sizeof(total));
	fmt_weight(o, t->base_total, base, sizeof(base));
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" "
		"height=\"%.0f\" viewBox=\"0 0 %u %.0f\" class=\"%s\" onload=\"init()\">\n",
		width, c.height, width, c.height, o->inverted ? "inverted" : "flame");
	fprintf(f, "<style type=\"text/css\"><![CDATA[\n%s]]></style>\n", style);
	fprintf(f,
		"<script type=\"text/ecmascript\"><![CDATA[\n"
		"var PAD = %.1f, ROW = %.1f, TOP = %.1f, BOTTOM = %.1f, CHAR = %.1f, "
		"MATCH = '#e040e0';\n%s]]></script>\n",
		PAD, ROW, TOP, BOTTOM, CHAR_PX, script);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%u\" height=\"%.0f\" fill=\"%s\"/>\n", width,
		c.height, o->diff ? "#f8f8f8" : "#fdf8ec");
	fprintf(f, "<text id=\"title\" x=\"%.1f\" y=\"22\">", width / 2.0);
	put_text(f, o->title ? o->title : (o->diff ? "Differential flame graph" : "Flame graph"),
		 200);
	fprintf(f, "</text>\n<text id=\"subtitle\" x=\"%.1f\" y=\"40\">", width / 2.0);
	if (o->subtitle)
		put_text(f, o->subtitle, 200);
	else if (o->diff)
		fprintf(f,
			"shaped like the new profile (%s%s%s; base %s): red grew, blue shrank, %s",
			total, in_units(o) ? " of " : "", in_units(o) ? o->weigh->type : "", base,
			in_units(o) ? "changes not tested (values, not counts)"
				    : "grey not significant");
	else if (in_units(o))
		fprintf(f, "%s of %s", total, o->weigh->type);
	else
		fprintf(f, "%s", total);
	fprintf(
	    f,
	    "</text>\n<text id=\"unzoom\" x=\"%.1f\" y=\"22\" display=\"none\">Reset Zoom</text>\n"
	    "<text id=\"search\" x=\"%.1f\" y=\"22\">Search</text>\n"
	    "<text id=\"matched\" x=\"%.1f\" y=\"%.1f\"> </text>\n"
	    "<text id=\"details\" x=\"%.1f\" y=\"%.1f\"> </text>\n<g id=\"frames\">\n",
	    PAD, width - PAD, width - PAD, c.height - 10, PAD, c.height - 10);
	if (put_frames(&c))
		return -ENOMEM;
	fputs("</g>\n</svg>\n", f);
	return ferror(f) ? -EIO : 0;
}
