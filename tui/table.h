/*
 * table.h - the table widget: columns that fit any terminal width, a header that shows the sort
 * column, cells aligned (numbers right, text left) and truncated to their width.
 *
 * Layout is a pure function (table_layout) so it is unit-tested at many widths; drawing takes
 * the widths it computed. A narrow terminal drops the least important columns first instead of
 * squeezing every column into unreadable slivers.
 */
#ifndef SONDE_TABLE_H
#define SONDE_TABLE_H

#include <stddef.h>
#include <curses.h>

enum table_align { TABLE_LEFT, TABLE_RIGHT };

struct table_column {
	const char *title;
	int min_width;        /* cells; a column that cannot get this much is hidden */
	int width;            /* preferred width in cells (>= min_width) */
	int flex;             /* share of the space left once every column has its preferred width */
	int priority;         /* higher is kept longer when space runs out */
	enum table_align align;
};

#define TABLE_GAP 1       /* cells between two columns */

/*
 * Compute each column's width for a table `width` cells wide: widths[i] = 0 hides column i.
 * Columns are hidden lowest priority first (the rightmost of equals first) until the minimum
 * widths fit, then grown to their preferred widths (highest priority first), then the rest goes
 * to flexible columns in proportion to flex. If even the highest-priority column alone does not
 * fit, it gets the whole width. Returns the number of visible columns.
 */
int table_layout(const struct table_column *cols, size_t n, int width, int *widths);

/* Total cells used by a layout (widths plus gaps between visible columns). */
int table_used_width(const int *widths, size_t n);

/* The column under screen column x (0 = the table's left edge), or -1 (a gap or past the end). */
int table_column_at(const int *widths, size_t n, int x);

/*
 * Draw the header row at (y, x): titles aligned like their cells; the sorted column (or -1)
 * carries an arrow (or v/^ in ASCII) and the TH_TABLE_SORTED role. Fills the row to the
 * table's width with the header role.
 */
void table_draw_header(WINDOW *w, int y, int x, const struct table_column *cols, size_t n,
                       const int *widths, int sorted, int descending);

/* Draw one cell: text aligned in width cells, cut (with a trailing '~') when it is longer. */
void table_draw_cell(WINDOW *w, int y, int x, int width, enum table_align align, const char *text);

/* Fit text into width cells, aligned, into buf (pure; used by table_draw_cell and the tests).
 * Counts cells as the terminal will (wcwidth) and never cuts a UTF-8 sequence; control characters
 * (newline, escape...) become '?', so program-supplied text cannot move the cursor. */
const char *table_fit(char *buf, size_t size, const char *text, int width, enum table_align align);

/* Screen cells of a UTF-8 string in the current locale (wcwidth: CJK 2, combining 0). */
int table_text_cells(const char *s);

/* Bytes of s's longest prefix that fits in max_cells cells; *cells (may be NULL) gets the
 * cells it takes. Never ends inside a UTF-8 sequence. */
size_t table_prefix(const char *s, int max_cells, int *cells);

#endif
