/*
 * table.c - layout and drawing of the table widget (see table.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "table.h"
#include "theme.h"

/* Sum of widths and the gaps between visible columns: what a layout really occupies. */
int table_used_width(const int *widths, size_t n)
{
	int used = 0, visible = 0;

	for (size_t i = 0; i < n; i++)
		if (widths[i] > 0) {
			used += widths[i];
			visible++;
		}
	return visible > 0 ? used + (visible - 1) * TABLE_GAP : 0;
}

/* The visible column with the lowest priority (the rightmost of equals): the next to hide. */
static int table_weakest(const struct table_column *cols, size_t n, const int *widths)
{
	int weakest = -1;

	for (size_t i = 0; i < n; i++)
		if (widths[i] > 0 && (weakest < 0 || cols[i].priority <= cols[weakest].priority))
			weakest = (int)i;
	return weakest;
}

/* See table.h: hide, then grow to preferred widths, then share the rest among flex columns. */
int table_layout(const struct table_column *cols, size_t n, int width, int *widths)
{
	int visible = 0, extra, flex_total = 0, best = -1;

	if (width < 1) {
		for (size_t i = 0; i < n; i++)
			widths[i] = 0;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		widths[i] = cols[i].min_width > 0 ? cols[i].min_width : 1;
		visible++;
		if (best < 0 || cols[i].priority > cols[best].priority)
			best = (int)i;
	}
	while (visible > 1 && table_used_width(widths, n) > width) {
		widths[table_weakest(cols, n, widths)] = 0;
		visible--;
	}
	if (table_used_width(widths, n) > width) {
		/* Not even one column fits at its minimum: show the most important one, cut. */
		for (size_t i = 0; i < n; i++)
			widths[i] = 0;
		widths[best] = width;
		return 1;
	}

	/* Grow toward preferred widths, most important columns first. */
	extra = width - table_used_width(widths, n);
	for (int pass = 0; pass < (int)n && extra > 0; pass++) {
		int pick = -1;

		for (size_t i = 0; i < n; i++)
			if (widths[i] > 0 && widths[i] < cols[i].width &&
			    (pick < 0 || cols[i].priority > cols[pick].priority))
				pick = (int)i;
		if (pick < 0)
			break;
		int grow = cols[pick].width - widths[pick];
		if (grow > extra)
			grow = extra;
		widths[pick] += grow;
		extra -= grow;
	}

	/* What is left goes to the flexible columns (name, location). */
	for (size_t i = 0; i < n; i++)
		if (widths[i] > 0)
			flex_total += cols[i].flex;
	if (extra > 0 && flex_total > 0) {
		int given = 0, first = -1;

		for (size_t i = 0; i < n; i++)
			if (widths[i] > 0 && cols[i].flex > 0) {
				int share = extra * cols[i].flex / flex_total;

				widths[i] += share;
				given += share;
				if (first < 0)
					first = (int)i;
			}
		widths[first] += extra - given;
	}
	return visible;
}

/* Map a click's x to a column, so a click on a header sorts by that column. */
int table_column_at(const int *widths, size_t n, int x)
{
	int left = 0;

	if (x < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (widths[i] <= 0)
			continue;
		if (x < left + widths[i])
			return (int)i;
		left += widths[i] + TABLE_GAP;
		if (x < left)
			return -1; /* the gap after column i */
	}
	return -1;
}

/* The screen cells of one character at s (its UTF-8 sequence is *len bytes): wcwidth() in
 * the current locale, so CJK names take two cells and combining marks none; an invalid or
 * unprintable sequence counts one byte as one cell (it is drawn as one '?' or glyph). */
static int table_char_cells(const char *s, size_t *len)
{
	mbstate_t st;
	wchar_t wc;
	size_t n;
	int w;

	memset(&st, 0, sizeof st);
	n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
		*len = 1;
		return 1;
	}
	*len = n;
	w = wcwidth(wc);
	return w < 0 ? 1 : w;
}

/* See table.h. */
size_t table_prefix(const char *s, int max_cells, int *cells)
{
	size_t i = 0, len;
	int used = 0;

	while (s[i] != '\0') {
		int w = table_char_cells(s + i, &len);

		if (used + w > max_cells)
			break;
		used += w;
		i += len;
	}
	if (cells != NULL)
		*cells = used;
	return i;
}

/* See table.h. */
int table_text_cells(const char *s)
{
	size_t i = 0, len;
	int used = 0;

	while (s[i] != '\0') {
		used += table_char_cells(s + i, &len);
		i += len;
	}
	return used;
}

/* Copy n bytes, turning control characters into '?': names and inspect values come from the
 * observed program, and a newline or an escape sequence must not move the cursor or reach
 * the terminal. */
static void table_copy_printable(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
}

/* See table.h. */
const char *table_fit(char *buf, size_t size, const char *text, int width, enum table_align align)
{
	size_t cut, used = 0;
	int cells, kept;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (width <= 0)
		return buf;
	if (text == NULL)
		text = "";
	cells = table_text_cells(text);
	if (cells > width) {
		/* Keep what fits in width-1 cells (a wide character may leave one more blank) and
		 * mark the cut. */
		cut = table_prefix(text, width - 1, &kept);
		if (cut + (size_t)(width - 1 - kept) + 2 > size)
			cut = kept = 0;
		table_copy_printable(buf, text, cut);
		used = cut;
		for (; kept < width - 1; kept++)
			buf[used++] = ' ';
		buf[used++] = '~';
		buf[used] = '\0';
		return buf;
	}
	cut = strlen(text);
	if (align == TABLE_RIGHT)
		for (int c = cells; c < width && used + 1 < size; c++)
			buf[used++] = ' ';
	if (used + cut + 1 > size)
		cut = table_prefix(text, 0, NULL); /* does not fit the buffer: draw nothing wrong */
	table_copy_printable(buf + used, text, cut);
	used += cut;
	for (int c = cells; align == TABLE_LEFT && c < width && used + 1 < size; c++)
		buf[used++] = ' ';
	buf[used] = '\0';
	return buf;
}

/* Draw one aligned cell; the caller has set the attributes. */
void table_draw_cell(WINDOW *w, int y, int x, int width, enum table_align align, const char *text)
{
	char buf[512];

	if (width <= 0)
		return;
	if (width > (int)sizeof buf / 4)
		width = (int)sizeof buf / 4;
	mvwaddstr(w, y, x, table_fit(buf, sizeof buf, text, width, align));
}

/* See table.h. */
void table_draw_header(WINDOW *w, int y, int x, const struct table_column *cols, size_t n,
                       const int *widths, int sorted, int descending)
{
	int left = x, total = table_used_width(widths, n);
	char title[128];

	wattron(w, theme_attr(TH_TABLE_HEADER));
	mvwhline(w, y, x, ' ', total);
	wattroff(w, theme_attr(TH_TABLE_HEADER));
	for (size_t i = 0; i < n; i++) {
		if (widths[i] <= 0)
			continue;
		int attr = theme_attr((int)i == sorted ? TH_TABLE_SORTED : TH_TABLE_HEADER);
		const char *arrow = "";

		if ((int)i == sorted)
			arrow = theme_ascii() ? (descending ? "v" : "^") : (descending ? "▼" : "▲");
		if (cols[i].align == TABLE_RIGHT)
			snprintf(title, sizeof title, "%s%s", arrow, cols[i].title);
		else
			snprintf(title, sizeof title, "%s%s", cols[i].title, arrow);
		wattron(w, attr);
		table_draw_cell(w, y, left, widths[i], cols[i].align, title);
		wattroff(w, attr);
		left += widths[i] + TABLE_GAP;
	}
}
