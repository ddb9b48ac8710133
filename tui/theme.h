/*
 * theme.h - the screen's colours and attributes, by role, loaded from plain-text theme files.
 *
 * A theme file (themes/default.theme is the reference) holds one line per role:
 *
 *     # comment
 *     header       = white on blue bold
 *     selected     = "black on #ffd75f"
 *     table_sorted = bright-cyan underline
 *
 * A value is [FG] [on BG] [ATTR...] (attributes may come anywhere): colours by name (black red green yellow blue magenta cyan
 * white, their bright-/bright_ variants, and "default" for the terminal's own), by number 0-255,
 * or as #RRGGBB (mapped to the nearest colour the terminal has: 256, 16 or 8); attributes bold,
 * underline, reverse, dim, italic, or "normal". Keys are the role names below (header,
 * tab_active, chart_1 ...; '-' and '_' are interchangeable). A missing key keeps the built-in
 * default; an unknown key or a bad value is reported as "FILE:LINE: what is wrong" and the whole
 * built-in default is used instead.
 *
 * Parsing is pure (no curses, testable); only theme_init()/theme_attr() touch the terminal.
 * The UI thread owns all of it.
 */
#ifndef SONDE_THEME_H
#define SONDE_THEME_H

#include <stddef.h>
#include <stdint.h>

enum theme_role {
	TH_DEFAULT, TH_HEADER, TH_TAB, TH_TAB_ACTIVE, TH_FUNCBAR_KEY, TH_FUNCBAR_LABEL,
	TH_TABLE_HEADER, TH_TABLE_SORTED, TH_SELECTED, TH_OK, TH_WARNING, TH_CRITICAL, TH_DIM,
	TH_BORDER, TH_CHART_1, TH_CHART_2, TH_CHART_3, TH_CHART_4, TH_ROLE_COUNT
};

/*
 * After initscr() and start_color() (when has_colors()): pick the theme NAME (NULL: $SONDE_THEME,
 * else "default"), found as $XDG_CONFIG_HOME/sonde/themes/NAME.theme (or
 * ~/.config/sonde/themes/NAME.theme), then THEMEDIR/NAME.theme, then the source tree's themes/;
 * a NAME containing '/' is a file path. no_color != 0 (or NO_COLOR set and non-empty in the
 * environment) keeps attributes only. Sets stdscr's background to the default role (so a
 * theme's background, e.g. high-contrast's black, fills blank cells; windows made with newwin
 * should wbkgd(win, ' ' | theme_attr(TH_DEFAULT)) too). Turns ASCII mode on when the locale's
 * codeset is not UTF-8 (call setlocale(LC_ALL, "") first) and never turns it off.
 * Returns 0 when the theme was applied as asked; -1 when the built-in default is used instead,
 * with *warning malloc()ed ("FILE:LINE: unknown colour 'teal'; using the built-in theme" or
 * "theme 'x' not found in ...") for the caller to show and free(). warning may be NULL.
 */
int theme_init(const char *name, int no_color, char **warning);

/* Curses attributes (colour pair | A_BOLD ...) for wattron()/wattrset(); A_NORMAL before init. */
int theme_attr(enum theme_role role);

/* 1 when Unicode must be avoided: --ascii was given or the locale's codeset is not UTF-8. */
int theme_ascii(void);
void theme_set_ascii(int ascii);

/* ---- The pure part: parsing and colour mapping (no curses; unit-tested). ---- */

#define THEME_COLOR_DEFAULT (-1)                 /* the terminal's own foreground/background */
#define THEME_COLOR_RGB_FLAG 0x1000000           /* set on a #RRGGBB colour: low 24 bits = RGB */
#define THEME_ATTR_BOLD      0x01u
#define THEME_ATTR_UNDERLINE 0x02u
#define THEME_ATTR_REVERSE   0x04u
#define THEME_ATTR_DIM       0x08u
#define THEME_ATTR_ITALIC    0x10u

/* One role's look: colours are THEME_COLOR_DEFAULT, an index 0-255, or THEME_COLOR_RGB_FLAG|rgb. */
struct theme_style {
	int32_t fg, bg;
	unsigned attrs;                  /* THEME_ATTR_* */
};

struct theme {
	struct theme_style style[TH_ROLE_COUNT];
};

/* The built-in dark theme (the same as themes/default.theme), used for missing keys and errors. */
void theme_builtin(struct theme *out);

/* The built-in attributes-only theme (the same as themes/mono.theme); NO_COLOR adds its
 * attributes to every role so selection and headers stay visible without colour. */
void theme_builtin_mono(struct theme *out);

/* The key of a role in theme files ("tab_active"), or NULL out of range. */
const char *theme_role_name(enum theme_role role);

/* Parse one value ("white on blue bold") into *out. 0, or -1 with *what malloc()ed. */
int theme_parse_style(const char *value, struct theme_style *out, char **what);

/*
 * Parse a whole file's text over *t (which should start as theme_builtin()): each valid line
 * replaces its role. 0 on success; -1 at the first error, with *warning malloc()ed as
 * "FILE:LINE: what is wrong" (file is only used in the message). *t is then partly updated:
 * callers fall back to theme_builtin().
 */
int theme_parse(struct theme *t, const char *text, const char *file, char **warning);

/* Read and parse a file (as theme_parse); a file that cannot be read is a warning too. */
int theme_load_file(struct theme *t, const char *path, char **warning);

/*
 * Where theme NAME lives: writes the first existing file into path and returns 0, or returns -1
 * with *searched malloc()ed naming the places tried ("theme 'x' not found in A, B, C").
 * user, installed and source are directories holding NAME.theme files, tried in that order
 * (theme_init passes $XDG_CONFIG_HOME/sonde/themes or ~/.config/sonde/themes, THEMEDIR and the
 * source tree's themes/); any may be NULL to skip it. A NAME containing '/' is the file itself.
 */
int theme_find(const char *name, const char *user, const char *installed,
               const char *source, char *path, size_t size, char **searched);

/* The terminal colour (0..ncolors-1, or -1 for default) closest to a theme colour, for a
 * terminal with ncolors colours (8, 16, 88, 256...). Indexed colours beyond ncolors are mapped
 * by their RGB value too. A direct-colour terminal (ncolors > 256) gets 0-7 as themselves and
 * every other colour as its 0xRRGGBB value. */
int theme_map_color(int32_t color, int ncolors);

/* 1 when the codeset name (nl_langinfo(CODESET)) is UTF-8 in any spelling. */
int theme_codeset_is_utf8(const char *codeset);

#endif
