/*
 * format.h - human-readable numbers with their units, for every figure the screen shows.
 *
 * Each function writes into buf (at most size bytes, always NUL-terminated) and returns buf, so
 * calls nest inside printf arguments. The forms are fixed so right-aligned columns line up:
 *
 *   fmt_bytes        0 B, 512 B, 1023 B, 1.0 KiB, 1.5 KiB, 23.4 MiB, 1023 KiB, 1.20 GiB, 12.3 GiB
 *                    (binary units; 1 decimal below 1 GiB, 3 significant digits from GiB up, no
 *                    decimals for a mantissa of 1000-1023; at most 9 chars, 10 with a sign)
 *   fmt_bytes_delta  +1.5 MiB, -12.0 KiB, 0 B  (the sign always shown unless zero)
 *   fmt_count        987, 12.3k, 1.23M, 4.56G, 7.89T  (decimal units; at most 6 chars, 5 unsigned)
 *   fmt_rate         fmt_count followed by "/s": 0/s, 987/s, 12.3k/s; a slow non-integer rate
 *                    keeps one decimal (0.5/s) so it does not read as zero; at most 7 chars
 *   fmt_duration     seconds: 950 ms, 12.0 s, 12m 03s, 3h 04m, 3d 04h  (truncated, as uptimes
 *                    are; "<1 ms" for a positive value under a millisecond; at most 7 chars
 *                    below 100 days)
 *   fmt_percent      0.0%, 12.5%, 100.0%, 1200%  (one decimal below 1000%)
 *
 * A NaN or infinite value (a figure that is unknown) prints as "-". Negative values keep their
 * sign in every form (a negative byte count prints as "-1.5 KiB").
 * FMT_SIZE bytes are always enough for any of them.
 */
#ifndef SONDE_FORMAT_H
#define SONDE_FORMAT_H

#include <stddef.h>

#define FMT_SIZE 24   /* bytes: a buffer this large never truncates any fmt_* output */

const char *fmt_bytes(char *buf, size_t size, double bytes);
const char *fmt_bytes_delta(char *buf, size_t size, double bytes);
const char *fmt_count(char *buf, size_t size, double count);
const char *fmt_rate(char *buf, size_t size, double per_s);
const char *fmt_duration(char *buf, size_t size, double seconds);
const char *fmt_percent(char *buf, size_t size, double percent);

#endif
