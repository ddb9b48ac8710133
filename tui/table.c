/*
 * table.c - layout and drawing of the table widget (see table.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

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

/* Cells a UTF-8 string takes, counting each sequence as one cell (sonde's names are mostly ASCII;
 * this keeps an accented name from being cut mid-sequence). */
static size_t table_cells(const char *s, size_t *bytes_for_cells, size_t max_cells)
{
	size_t cells = 0, i = 0;

	while (s[i] != '\0') {
		size_t len = 1;

		while ((s[i + len] & 0xC0) == 0x80)
			len++;
		if (cells == max_cells)
			break;
		cells++;
		i += len;
	}
	if (bytes_for_cells != NULL)
		*bytes_for_cells = i;
	while (s[i] != '\0') { /* count the rest */
		if ((s[i] & 0xC0) != 0x80)
			cells++;
		i++;
	}
	return cells;
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
	size_t cut, cells, pad = 0, used = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (width <= 0)
		return buf;
	if (text == NULL)
		text = "";
	cells = table_cells(text, &cut, (size_t)width);
	if (cells > (size_t)width) {
		/* Keep width-1 cells and mark the cut. */
		table_cells(text, &cut, (size_t)width - 1);
		if (cut + 2 > size)
			cut = size - 2;
		table_copy_printable(buf, text, cut);
		buf[cut] = '~';
		buf[cut + 1] = '\0';
		return buf;
	}
	if (align == TABLE_RIGHT)
		pad = (size_t)width - cells;
	for (; used < pad && used + 1 < size; used++)
		buf[used] = ' ';
	if (used + cut + 1 > size)
		cut = size - used - 1;
	table_copy_printable(buf + used, text, cut);
	used += cut;
	for (size_t c = cells; align == TABLE_LEFT && c < (size_t)width && used + 1 < size; c++)
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
