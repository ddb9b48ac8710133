/*
 * bench.h - the helpers every benchmark in tests/bench/ shares: clocks read as a double in the
 * unit each bench prints, and the medians and quantiles of its samples. Header-only (static
 * inline), included after config.h; each bench uses the few it needs.
 */
#ifndef SONDE_BENCH_H
#define SONDE_BENCH_H

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

/* Clock id's reading in units of 1/per_s second (per_s 1: seconds, 1e3: ms, 1e6: us, 1e9: ns). */
static inline double bench_clock(clockid_t id, double per_s)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * per_s + (double)ts.tv_nsec / (1e9 / per_s);
}

/* Monotonic wall clock, seconds. */
static inline double bench_now_s(void)
{
	return bench_clock(CLOCK_MONOTONIC, 1.0);
}

/* Monotonic wall clock, milliseconds. */
static inline double bench_now_ms(void)
{
	return bench_clock(CLOCK_MONOTONIC, 1e3);
}

/* Monotonic wall clock, microseconds. */
static inline double bench_now_us(void)
{
	return bench_clock(CLOCK_MONOTONIC, 1e6);
}

/* Monotonic wall clock, nanoseconds. */
static inline double bench_now_ns(void)
{
	return bench_clock(CLOCK_MONOTONIC, 1e9);
}

/* CPU time the calling thread has used, seconds (CLOCK_THREAD_CPUTIME_ID). */
static inline double bench_thread_cpu_s(void)
{
	return bench_clock(CLOCK_THREAD_CPUTIME_ID, 1.0);
}

/* qsort comparator: doubles in ascending order. */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sort n samples in ascending order. */
static inline void bench_sort(double *v, size_t n)
{
	qsort(v, n, sizeof *v, bench_cmp_double);
}

/* Median of n samples (sorts them): the upper middle one when n is even. */
static inline double bench_median(double *v, int n)
{
	bench_sort(v, (size_t)n);
	return v[n / 2];
}

/* Median of n samples (sorts them): the mean of the two middle ones when n is even. */
static inline double bench_median_mean(double *v, int n)
{
	bench_sort(v, (size_t)n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Quantile q (0..1) of n samples (sorts them): the sample at rank q * (n - 1), rounded down. */
static inline double bench_quantile(double *v, int n, double q)
{
	bench_sort(v, (size_t)n);
	return v[(int)(q * (n - 1))];
}

#endif
