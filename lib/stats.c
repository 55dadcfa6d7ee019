// SPDX-License-Identifier: LGPL-2.1-or-later
/* Student's t, Welch's test and Benjamini–Hochberg (see stats.h). */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/*
 * The continued fraction of the incomplete beta function (DLMF 8.17.22), evaluated from the
 * front with the modified Lentz method: converges fast for x < (a + 1) / (a + b + 2).
 */
static double beta_fraction(double x, double a, double b)
{
	const double tiny = 1e-300, eps = 1e-15;
	double c = 1, d = 1 - (a + b) * x / (a + 1), h;

	d = 1 / (fabs(d) < tiny ? tiny : d);
	h = d;
	for (int m = 1; m <= 500; m++) {
		/* the even term d_2m, then the odd term d_2m+1 */
		double even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
		double odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
		double step;

		d = 1 + even * d;
		c = 1 + even / c;
		d = 1 / (fabs(d) < tiny ? tiny : d);
		c = fabs(c) < tiny ? tiny : c;
		h *= d * c;
		d = 1 + odd * d;
		c = 1 + odd / c;
		d = 1 / (fabs(d) < tiny ? tiny : d);
		c = fabs(c) < tiny ? tiny : c;
		step = d * c;
		h *= step;
		if (fabs(step - 1) < eps)
			break;
	}
	return h;
}

double incomplete_beta(double x, double a, double b)
{
	double front;

	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	/* x^a (1-x)^b / (a B(a, b)), in logarithms */
	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
	if (x < (a + 1) / (a + b + 2))
		return front * beta_fraction(x, a, b) / a;
	/* I_x(a, b) = 1 - I_1-x(b, a): the fraction converges on the other side */
	return 1 - front * beta_fraction(1 - x, b, a) / b;
}

double student_t_p(double t, double df)
{
	double p;

	if (!(df > 0) || isnan(t))
		return 1;
	if (isinf(t))
		return 0;
	/* past 1e7 degrees of freedom t is normal to 7 digits, and the fraction loses them */
	if (df > 1e7)
		return erfc(fabs(t) / M_SQRT2);
	p = incomplete_beta(df / (df + t * t), df / 2, 0.5);
	return p < 0 ? 0 : p > 1 ? 1 : p;
}

double student_t_critical(double p, double df)
{
	double lo = 0, hi = 1;

	if (!(p > 0 && p < 1) || !(df > 0))
		return NAN;
	/* the p-value falls as t grows: bracket, then halve */
	while (student_t_p(hi, df) > p && hi < 1e12)
		hi *= 2;
	for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
		double mid = (lo + hi) / 2;

		if (student_t_p(mid, df) > p)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

/* The sample variance of the observations summed in m (n - 1 in the denominator). */
static double variance(const struct moments *m)
{
	double v = (m->sumsq - m->sum * m->sum / m->n) / (m->n - 1);

	return v > 0 ? v : 0; /* rounding can make a constant's negative */
}

int welch_test(const struct moments *a, const struct moments *b, double conf, struct welch *ret)
{
	return welch_test_floor(a, b, 0, 0, conf, ret);
}

int welch_test_floor(const struct moments *a, const struct moments *b, double floor_a,
		     double floor_b, double conf, struct welch *ret)
{
	double va, vb, se2, crit;

	*ret = (struct welch){ .p = 1 };
	if (a->n < 2 || b->n < 2 || !(conf > 0 && conf < 1))
		return -EINVAL;
	ret->mean_a = a->sum / a->n;
	ret->mean_b = b->sum / b->n;
	ret->diff = ret->mean_b - ret->mean_a;
	va = fmax(variance(a), floor_a) / a->n;
	vb = fmax(variance(b), floor_b) / b->n;
	se2 = va + vb;
	if (!(se2 > 0)) {
		/* no spread on either side: the same value throughout each */
		ret->lo = ret->hi = ret->diff;
		ret->p = ret->diff != 0 ? 0 : 1;
		ret->df = a->n + b->n - 2;
		return 0;
	}
	ret->t = ret->diff / sqrt(se2);
	ret->df = se2 * se2 / (va * va / (a->n - 1) + vb * vb / (b->n - 1));
	ret->p = student_t_p(ret->t, ret->df);
	crit = student_t_critical(1 - conf, ret->df);
	ret->lo = ret->diff - crit * sqrt(se2);
	ret->hi = ret->diff + crit * sqrt(se2);
	return 0;
}

struct ranked {
	double p;
	size_t i;
};

static int cmp_ranked(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;

	if (a->p != b->p)
		return a->p < b->p ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

int benjamini_hochberg(const double *p, size_t n, double *q)
{
	struct ranked *r = calloc(n + 1, sizeof(*r));
	double running = 1;

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		r[i] = (struct ranked){ isnan(p[i]) || p[i] > 1 ? 1 : p[i] < 0 ? 0 : p[i], i };
	qsort(r, n, sizeof(*r), cmp_ranked);
	/* q of rank k (1-based): min over ranks j >= k of p_j n / j, at most 1 */
	for (size_t k = n; k-- > 0;) {
		double v = r[k].p * (double)n / (double)(k + 1);

		if (v < running)
			running = v;
		q[r[k].i] = running;
	}
	free(r);
	return 0;
}
