/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests for comparing many profiles against many: each profile (an interval) is one replicate,
 * a function's share of it one observation. Samples inside an interval are not independent
 * (bursts, the request mix), so intervals, not samples, are what vary freely.
 */
#ifndef SCORCH_STATS_H
#define SCORCH_STATS_H

#include <stddef.h>

/* Observations summed: n of them, their sum and their sum of squares. */
struct moments {
	double n, sum, sumsq;
};

static inline void moments__add(struct moments *m, double x)
{
	m->n += 1;
	m->sum += x;
	m->sumsq += x * x;
}

/* The regularized incomplete beta function I_x(a, b), for a, b > 0 and x in [0, 1]. */
double incomplete_beta(double x, double a, double b);

/* Two-sided p-value of Student's t distribution with df degrees of freedom: P(|T| >= |t|). */
double student_t_p(double t, double df);

/* The t with student_t_p(t, df) == p (0 < p < 1): the critical value of a two-sided test. */
double student_t_critical(double p, double df);

struct welch {
	double diff; /* mean of b minus mean of a */
	double lo, hi; /* its confidence interval */
	double t, df, p; /* p two-sided; 1 when untestable */
	double mean_a, mean_b;
};

/*
 * Welch's t-test of b's mean against a's (unequal variances, Welch–Satterthwaite degrees of
 * freedom), with a confidence interval at level conf (0.95). Each side needs two observations:
 * -EINVAL otherwise. Both variances 0: p is 0 when the means differ, else 1.
 */
int welch_test(const struct moments *a, const struct moments *b, double conf, struct welch *ret);
/*
 * The same with each side's variance at least floor_a, floor_b: what the observations cannot
 * vary less than (a share measured from N samples varies at least as a binomial p(1-p)/N), so
 * a few identical small counts are not taken for certainty.
 */
int welch_test_floor(const struct moments *a, const struct moments *b, double floor_a,
		     double floor_b, double conf, struct welch *ret);

/*
 * Benjamini–Hochberg adjusted p-values (q-values) of p[0, n) into q (may be p): the false
 * discovery rate at which each would be called. 0 or -ENOMEM.
 */
int benjamini_hochberg(const double *p, size_t n, double *q);

#endif
