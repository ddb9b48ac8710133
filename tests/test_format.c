/*
 * test_format.c - the human-readable forms of tui/format.c: units, boundaries, signs, unknowns,
 * huge values, and widths that keep right-aligned columns aligned.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "format.h"

typedef const char *(*fmt_fn)(char *, size_t, double);

/* Assert that fn(v) prints exactly want. */
static void expect_form(fmt_fn fn, double v, const char *want)
{
	char buf[FMT_SIZE];
	memset(buf, 'X', sizeof buf);
	const char *got = fn(buf, sizeof buf, v);
	assert_ptr_equal(got, buf);
	if (strcmp(got, want) != 0)
		fail_msg("value %.17g: got \"%s\", want \"%s\"", v, got, want);
}

static void test_bytes_forms(void **state)
{
	(void)state;
	expect_form(fmt_bytes, 0, "0 B");
	expect_form(fmt_bytes, 1, "1 B");
	expect_form(fmt_bytes, 512, "512 B");
	expect_form(fmt_bytes, 1023, "1023 B");
	expect_form(fmt_bytes, 1023.4, "1023 B");
	expect_form(fmt_bytes, 1023.6, "1.0 KiB");
	expect_form(fmt_bytes, 1024, "1.0 KiB");
	expect_form(fmt_bytes, 1536, "1.5 KiB");
	expect_form(fmt_bytes, 23.4 * 1048576, "23.4 MiB");
	expect_form(fmt_bytes, 1023.4 * 1024, "1023 KiB");
	expect_form(fmt_bytes, 1023.5 * 1024, "1.0 MiB");
	expect_form(fmt_bytes, 1023.96 * 1024, "1.0 MiB");
	expect_form(fmt_bytes, 999.96 * 1024, "1000 KiB");
	expect_form(fmt_bytes, 1.2 * 1073741824.0, "1.20 GiB");
	expect_form(fmt_bytes, 9.996 * 1073741824.0, "10.0 GiB");
	expect_form(fmt_bytes, 12.34 * 1073741824.0, "12.3 GiB");
	expect_form(fmt_bytes, 3.5 * 1099511627776.0, "3.50 TiB");
	expect_form(fmt_bytes, 18446744073709551615.0, "16.0 EiB");
}

static void test_bytes_signs_and_unknowns(void **state)
{
	(void)state;
	expect_form(fmt_bytes, -1536, "-1.5 KiB");
	expect_form(fmt_bytes, -0.2, "0 B");
	expect_form(fmt_bytes, NAN, "-");
	expect_form(fmt_bytes, INFINITY, "-");
	expect_form(fmt_bytes, -INFINITY, "-");
	expect_form(fmt_bytes_delta, 0, "0 B");
	expect_form(fmt_bytes_delta, 0.3, "0 B");
	expect_form(fmt_bytes_delta, -0.3, "0 B");
	expect_form(fmt_bytes_delta, 1.5 * 1048576, "+1.5 MiB");
	expect_form(fmt_bytes_delta, -12 * 1024, "-12.0 KiB");
	expect_form(fmt_bytes_delta, 100, "+100 B");
	expect_form(fmt_bytes_delta, NAN, "-");
}

static void test_bytes_huge(void **state)
{
	char buf[FMT_SIZE];
	(void)state;
	/* Beyond the last unit the value stays finite, readable and inside FMT_SIZE. */
	fmt_bytes(buf, sizeof buf, 1e30);
	assert_non_null(strstr(buf, "YiB"));
	assert_true(strlen(buf) < sizeof buf);
	fmt_bytes(buf, sizeof buf, -1e300);
	assert_int_equal(buf[0], '-');
	assert_non_null(strstr(buf, "YiB"));
}

static void test_count_forms(void **state)
{
	(void)state;
	expect_form(fmt_count, 0, "0");
	expect_form(fmt_count, 987, "987");
	expect_form(fmt_count, 999.4, "999");
	expect_form(fmt_count, 999.6, "1.00k");
	expect_form(fmt_count, 1000, "1.00k");
	expect_form(fmt_count, 12345, "12.3k");
	expect_form(fmt_count, 99960, "100k");
	expect_form(fmt_count, 123456, "123k");
	expect_form(fmt_count, 999600, "1.00M");
	expect_form(fmt_count, 1234567, "1.23M");
	expect_form(fmt_count, 4.56e9, "4.56G");
	expect_form(fmt_count, 7.89e12, "7.89T");
	expect_form(fmt_count, 18446744073709551615.0, "18.4E");
	expect_form(fmt_count, -12345, "-12.3k");
	expect_form(fmt_count, -0.2, "0");
	expect_form(fmt_count, NAN, "-");
}

static void test_rate_forms(void **state)
{
	(void)state;
	expect_form(fmt_rate, 0, "0/s");
	expect_form(fmt_rate, 0.5, "0.5/s");
	expect_form(fmt_rate, 3, "3/s");
	expect_form(fmt_rate, 2.96, "3/s");
	expect_form(fmt_rate, 987, "987/s");
	expect_form(fmt_rate, 12345, "12.3k/s");
	expect_form(fmt_rate, -2.5, "-2.5/s");
	expect_form(fmt_rate, NAN, "-");
}

static void test_duration_forms(void **state)
{
	(void)state;
	expect_form(fmt_duration, 0, "0 ms");
	expect_form(fmt_duration, 0.0004, "<1 ms");
	expect_form(fmt_duration, -0.0004, "0 ms");
	expect_form(fmt_duration, 0.29, "290 ms");
	expect_form(fmt_duration, 0.95, "950 ms");
	expect_form(fmt_duration, 0.9996, "999 ms");
	expect_form(fmt_duration, 1, "1.0 s");
	expect_form(fmt_duration, 12, "12.0 s");
	expect_form(fmt_duration, 59.99, "59.9 s");
	expect_form(fmt_duration, 60, "1m 00s");
	expect_form(fmt_duration, 12 * 60 + 3.7, "12m 03s");
	expect_form(fmt_duration, 3599.9, "59m 59s");
	expect_form(fmt_duration, 3600, "1h 00m");
	expect_form(fmt_duration, 3 * 3600 + 4 * 60 + 59, "3h 04m");
	expect_form(fmt_duration, 86399, "23h 59m");
	expect_form(fmt_duration, 86400, "1d 00h");
	expect_form(fmt_duration, 3 * 86400 + 4 * 3600 + 3599, "3d 04h");
	expect_form(fmt_duration, -12, "-12.0 s");
	expect_form(fmt_duration, NAN, "-");
}

static void test_percent_forms(void **state)
{
	(void)state;
	expect_form(fmt_percent, 0, "0.0%");
	expect_form(fmt_percent, 12.5, "12.5%");
	expect_form(fmt_percent, 12.54, "12.5%");
	expect_form(fmt_percent, 100, "100.0%");
	expect_form(fmt_percent, 999.94, "999.9%");
	expect_form(fmt_percent, 999.96, "1000%");
	expect_form(fmt_percent, 1234.4, "1234%");
	expect_form(fmt_percent, -0.01, "0.0%");
	expect_form(fmt_percent, -3.25, "-3.2%");
	expect_form(fmt_percent, NAN, "-");
}

/* Right-aligned columns stay aligned when every value of a column fits a fixed width. */
static void test_widths_are_bounded(void **state)
{
	char buf[FMT_SIZE];
	(void)state;
	for (double v = 0.5; v < 1.1e18; v *= 1.0137) {
		assert_true(strlen(fmt_bytes(buf, sizeof buf, v)) <= 9);
		assert_true(strlen(fmt_bytes_delta(buf, sizeof buf, -v)) <= 10);
		assert_true(strlen(fmt_count(buf, sizeof buf, v)) <= 5);
		assert_true(strlen(fmt_rate(buf, sizeof buf, v)) <= 7);
		assert_true(strlen(fmt_percent(buf, sizeof buf, v < 1000 ? v : 999)) <= 6);
		if (v < 86400.0 * 100)
			assert_true(strlen(fmt_duration(buf, sizeof buf, v)) <= 7);
	}
}

/* A short buffer truncates but stays a terminated string, and size 0 writes nothing. */
static void test_small_buffers(void **state)
{
	char buf[4] = "abc";
	(void)state;
	fmt_bytes(buf, 0, 1536);
	assert_string_equal(buf, "abc");
	fmt_bytes(buf, sizeof buf, 1536);
	assert_string_equal(buf, "1.5");
	fmt_duration(buf, 1, 12);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_forms),
		cmocka_unit_test(test_bytes_signs_and_unknowns),
		cmocka_unit_test(test_bytes_huge),
		cmocka_unit_test(test_count_forms),
		cmocka_unit_test(test_rate_forms),
		cmocka_unit_test(test_duration_forms),
		cmocka_unit_test(test_percent_forms),
		cmocka_unit_test(test_widths_are_bounded),
		cmocka_unit_test(test_small_buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
