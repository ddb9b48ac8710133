/*
 * format.c - human-readable numbers with units (see format.h for the exact forms).
 *
 * Every form rounds first and then picks the unit from the rounded value, so no boundary prints
 * as "1024.0 KiB" or "1000k": 1023.96 KiB is "1.0 MiB", 999.6k is "1.00M". Durations truncate
 * instead (an uptime of 3h 04m 59s is "3h 04m", as htop and ps show it).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "format.h"

/* Write "-" for values that have no number to show (NaN, infinities). Returns 1 if it did. */
static int fmt_unknown(char *buf, size_t size, double v)
{
	if (isfinite(v))
		return 0;
	snprintf(buf, size, "-");
	return 1;
}

/* Round v to the given number of decimals (the way "%.*f" would print it). */
static double fmt_round(double v, int decimals)
{
	double scale = pow(10.0, decimals);
	return round(v * scale) / scale;
}

/* Binary byte units: 1 decimal below GiB ("23.4 MiB"), 3 significant digits from GiB up
 * ("1.20 GiB", "12.3 GiB"); a mantissa of 1000-1023 drops its decimals so the width stays <= 9. */
static void fmt_bytes_abs(char *buf, size_t size, const char *sign, double bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
	const size_t nunits = sizeof units / sizeof units[0];
	double v = round(bytes);
	size_t u = 0;

	if (v < 1024.0) {
		snprintf(buf, size, "%s%.0f B", v == 0.0 ? "" : sign, v);
		return;
	}
	v = bytes / 1024.0;                          /* round(bytes) >= 1024: at least KiB */
	u = 1;
	for (;;) {
		while (u + 1 < nunits && v >= 1024.0) {
			v /= 1024.0;
			u++;
		}
		int decimals = u < 3 ? 1 : v < 10.0 ? 2 : 1;
		double r = fmt_round(v, decimals);
		if (r >= 1000.0)                         /* "1023 KiB", not "1023.4 KiB": width <= 9 */
			r = fmt_round(v, 0);
		if (r >= 1024.0 && u + 1 < nunits) {   /* rounding crossed into the next unit */
			v = r;
			continue;
		}
		if (r >= 1024.0)                         /* beyond YiB: keep it readable, not pretty */
			snprintf(buf, size, "%s%.3g %s", sign, v, units[u]);
		else if (r >= 1000.0)
			snprintf(buf, size, "%s%.0f %s", sign, v, units[u]);
		else if (u >= 3 && r >= 10.0 && decimals == 2)
			snprintf(buf, size, "%s%.1f %s", sign, v, units[u]);
		else
			snprintf(buf, size, "%s%.*f %s", sign, decimals, v, units[u]);
		return;
	}
}

/* Sizes in binary units, "0 B" .. "1.20 GiB". */
const char *fmt_bytes(char *buf, size_t size, double bytes)
{
	if (size == 0 || fmt_unknown(buf, size, bytes))
		return buf;
	fmt_bytes_abs(buf, size, bytes < 0 ? "-" : "", fabs(bytes));
	return buf;
}

/* A change of size: always signed ("+1.5 MiB", "-12.0 KiB") except "0 B". */
const char *fmt_bytes_delta(char *buf, size_t size, double bytes)
{
	if (size == 0 || fmt_unknown(buf, size, bytes))
		return buf;
	fmt_bytes_abs(buf, size, bytes < 0 ? "-" : "+", fabs(bytes));
	return buf;
}

/* Decimal units with 3 significant digits ("12.3k", "1.23M"); plain integers below 1000. */
static void fmt_count_abs(char *buf, size_t size, const char *sign, double v, int fraction)
{
	static const char units[] = "kMGTPE";
	const size_t nunits = sizeof units - 1;

	if (fraction && fmt_round(v, 1) < 10.0 && fmt_round(v, 1) != round(v)) {
		snprintf(buf, size, "%s%.1f", sign, v);
		return;
	}
	if (round(v) < 1000.0) {
		snprintf(buf, size, "%s%.0f", round(v) == 0.0 ? "" : sign, v);
		return;
	}
	size_t u = 0;
	v /= 1000.0;
	for (;;) {
		while (u + 1 < nunits && v >= 1000.0) {
			v /= 1000.0;
			u++;
		}
		int decimals = v < 10.0 ? 2 : v < 100.0 ? 1 : 0;
		double r = fmt_round(v, decimals);
		if (r >= 1000.0 && u + 1 < nunits) {
			v = r / 1000.0;
			u++;
			continue;
		}
		if (r >= 1000.0) {
			snprintf(buf, size, "%s%.3g%c", sign, v, units[u]);
			return;
		}
		if (decimals == 2 && r >= 10.0)
			decimals = 1;
		else if (decimals == 1 && r >= 100.0)
			decimals = 0;
		snprintf(buf, size, "%s%.*f%c", sign, decimals, v, units[u]);
		return;
	}
}

/* Counts: "987", "12.3k", "1.23M", "4.56G". */
const char *fmt_count(char *buf, size_t size, double count)
{
	if (size == 0 || fmt_unknown(buf, size, count))
		return buf;
	fmt_count_abs(buf, size, count < 0 ? "-" : "", fabs(count), 0);
	return buf;
}

/* Rates per second: "987/s", "12.3k/s"; slow rates keep one decimal ("0.5/s") so they are not
 * shown as zero. */
const char *fmt_rate(char *buf, size_t size, double per_s)
{
	char num[FMT_SIZE];

	if (size == 0 || fmt_unknown(buf, size, per_s))
		return buf;
	fmt_count_abs(num, sizeof num, per_s < 0 ? "-" : "", fabs(per_s), 1);
	snprintf(buf, size, "%s/s", num);
	return buf;
}

/* Durations: "950 ms", "12.0 s", "12m 03s", "3h 04m", "3d 04h"; truncated, never rounded up. */
const char *fmt_duration(char *buf, size_t size, double seconds)
{
	const char *sign = seconds < 0 ? "-" : "";
	double s = fabs(seconds);

	if (size == 0 || fmt_unknown(buf, size, seconds))
		return buf;
	/* 1e-9 absorbs binary noise such as 0.29 * 1000 = 289.99999999999997. */
	double ms = floor(s * 1000.0 + 1e-9);
	if (ms < 1000.0) {
		if (ms == 0.0 && seconds > 0.0)
			snprintf(buf, size, "<1 ms");
		else
			snprintf(buf, size, "%s%.0f ms", ms == 0.0 ? "" : sign, ms);
	} else if (s < 60.0) {
		snprintf(buf, size, "%s%.1f s", sign, floor(s * 10.0 + 1e-9) / 10.0);
	} else if (s < 3600.0) {
		double whole = floor(s + 1e-9);
		snprintf(buf, size, "%s%.0fm %02.0fs", sign, floor(whole / 60.0), fmod(whole, 60.0));
	} else if (s < 86400.0) {
		double minutes = floor(s / 60.0 + 1e-9);
		snprintf(buf, size, "%s%.0fh %02.0fm", sign, floor(minutes / 60.0), fmod(minutes, 60.0));
	} else if (s < 86400.0 * 1e6) {
		double hours = floor(s / 3600.0 + 1e-9);
		snprintf(buf, size, "%s%.0fd %02.0fh", sign, floor(hours / 24.0), fmod(hours, 24.0));
	} else {
		snprintf(buf, size, "%s%.3gd", sign, s / 86400.0);
	}
	return buf;
}

/* Percentages: "12.5%", one decimal below 1000% (a process on 12 cores shows "1200%"). */
const char *fmt_percent(char *buf, size_t size, double percent)
{
	if (size == 0 || fmt_unknown(buf, size, percent))
		return buf;
	double a = fabs(percent);
	const char *sign = percent < 0 && fmt_round(a, 1) != 0.0 ? "-" : "";
	if (fmt_round(a, 1) < 1000.0)
		snprintf(buf, size, "%s%.1f%%", sign, a);
	else if (a < 1e15)
		snprintf(buf, size, "%s%.0f%%", sign, a);
	else
		snprintf(buf, size, "%s%.3g%%", sign, a);
	return buf;
}
