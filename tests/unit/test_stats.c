// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Student's t, Welch's test and Benjamini–Hochberg against published values: t tables
 * (two-sided 5 % and 1 % critical values), an incomplete beta function with a closed form,
 * Welch's worked example (Wikipedia, "Welch's t-test", example 1: t 2.46, df 25.0, p 0.021),
 * and q-values worked by hand.
 */
#include "check.h"
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>

static bool near(double x, double want, double tol)
{
	if (fabs(x - want) <= tol)
		return true;
	fprintf(stderr, "  %.9g, want %.9g (+- %g)\n", x, want, tol);
	return false;
}

static void test_t(void)
{
	/* I_0.5(2, 3) = sum over j = 2..4 of C(4, j) / 16 = 11/16 */
	CHECK(near(incomplete_beta(0.5, 2, 3), 0.6875, 1e-12));
	/* P(Binomial(4, x) >= 2) = 1 - (1-x)^4 - 4x(1-x)^3, past the point where it turns */
	CHECK(near(incomplete_beta(0.9, 2, 3), 1 - pow(0.1, 4) - 4 * 0.9 * pow(0.1, 3), 1e-12));
	CHECK(near(incomplete_beta(0, 2, 3), 0, 0) && near(incomplete_beta(1, 2, 3), 1, 0));
	/* two-sided critical values from t tables */
	CHECK(near(student_t_p(12.7062047, 1), 0.05, 1e-7));
	CHECK(near(student_t_p(2.228138852, 10), 0.05, 1e-8));
	CHECK(near(student_t_p(2.042272456, 30), 0.05, 1e-8));
	CHECK(near(student_t_p(4.032142984, 5), 0.01, 1e-8));
	CHECK(near(student_t_p(-2.228138852, 10), 0.05, 1e-8));
	CHECK(near(student_t_p(1.959963985, 1e9), 0.05, 1e-6));
	CHECK(near(student_t_p(1, 1e15), 0.3173105, 1e-6) &&
	      near(student_t_p(2, INFINITY), 0.0455003, 1e-6));
	CHECK(near(student_t_p(0, 7), 1, 1e-12));
	CHECK(near(student_t_critical(0.05, 10), 2.228138852, 1e-6));
	CHECK(near(student_t_critical(0.01, 5), 4.032142984, 1e-6));
	CHECK(near(student_t_critical(0.05, 1), 12.7062047, 1e-5));
	CHECK(isnan(student_t_critical(0, 5)) && isnan(student_t_critical(0.05, 0)));
}

static void test_welch(void)
{
	static const double a[] = { 27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1,
				    21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4 };
	static const double b[] = { 27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0,
				    24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4 };
	struct moments ma = { 0 }, mb = { 0 }, one = { 0 }, c1 = { 0 }, c2 = { 0 };
	struct welch w;

	for (size_t i = 0; i < 15; i++) {
		moments__add(&ma, a[i]);
		moments__add(&mb, b[i]);
	}
	CHECK_INT(welch_test(&ma, &mb, 0.95, &w), 0);
	CHECK(near(w.t, 2.455356398, 1e-8));
	CHECK(near(w.df, 24.98852929, 1e-6));
	CHECK(near(w.p, 0.0214, 0.0005));
	CHECK(near(w.diff, 2.166666667, 1e-8));
	/* the 95 % interval excludes 0 exactly when p < 0.05, and is centred on the difference */
	CHECK(w.lo > 0 && w.hi > w.lo && near((w.lo + w.hi) / 2, w.diff, 1e-9));
	CHECK_INT(welch_test(&ma, &mb, 0.99, &w), 0);
	CHECK(w.lo < 0); /* p 0.021: not at 1 % */
	/* one observation on a side: no variance to test with */
	moments__add(&one, 3);
	CHECK_INT(welch_test(&one, &mb, 0.95, &w), -EINVAL);
	CHECK(w.p == 1);
	/* constants: the same, nothing; different, certain */
	for (int i = 0; i < 4; i++) {
		moments__add(&c1, 0.25);
		moments__add(&c2, 0.5);
	}
	CHECK_INT(welch_test(&c1, &c1, 0.95, &w), 0);
	CHECK(w.p == 1 && w.diff == 0);
	CHECK_INT(welch_test(&c1, &c2, 0.95, &w), 0);
	CHECK(w.p == 0 && near(w.diff, 0.25, 1e-12));
	/*
	 * one sample in 100 in each of three intervals, none in three others: no certainty once
	 * the variance is at least the binomial one (0.005 * 0.995 / 100 per interval)
	 */
	{
		struct moments ones = { 0 }, zeros = { 0 };

		for (int i = 0; i < 3; i++) {
			moments__add(&ones, 0.01);
			moments__add(&zeros, 0);
		}
		CHECK_INT(welch_test(&ones, &zeros, 0.95, &w), 0);
		CHECK(w.p < 1e-6);
		CHECK_INT(welch_test_floor(&ones, &zeros, 0.005 * 0.995 / 100, 0.005 * 0.995 / 100,
					   0.95, &w),
			  0);
		/* se = sqrt(2 * 4.975e-5 / 3) = 0.00576, t = 1.74, df = 4 */
		CHECK(near(w.t, -1.7364, 1e-3) && near(w.df, 4, 1e-9) && w.p > 0.1 && w.p < 0.2);
		/* a floor below the spread changes nothing */
		CHECK_INT(welch_test_floor(&ma, &mb, 1e-9, 1e-9, 0.95, &w), 0);
		CHECK(near(w.t, 2.455356398, 1e-8));
	}
}

static void test_bh(void)
{
	double p[] = { 0.01, 0.04, 0.03, 0.005 }, q[4], same[] = { 0.2, 0.2, 0.2 };

	CHECK_INT(benjamini_hochberg(p, 4, q), 0);
	CHECK(near(q[0], 0.02, 1e-12) && near(q[1], 0.04, 1e-12) && near(q[2], 0.04, 1e-12) &&
	      near(q[3], 0.02, 1e-12));
	/* in place, and never above 1 */
	CHECK_INT(benjamini_hochberg(same, 3, same), 0);
	CHECK(near(same[0], 0.2, 1e-12) && near(same[2], 0.2, 1e-12));
	p[0] = 0.9;
	p[1] = 0.95;
	CHECK_INT(benjamini_hochberg(p, 2, q), 0);
	CHECK(q[0] <= 1 && near(q[1], 0.95, 1e-12) && near(q[0], 0.95, 1e-12));
	CHECK_INT(benjamini_hochberg(p, 0, q), 0);
}

int main(void)
{
	test_t();
	test_welch();
	test_bh();
	return check_done("stats");
}
