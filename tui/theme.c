/*
 * theme.c - theme files: parsing and colour mapping (pure), then applying them to curses.
 *
 * The built-in themes below are the ones themes/default.theme and themes/mono.theme spell out
 * (tests/test_theme.c checks that they agree), so a sonde that finds no theme file on disk
 * still looks exactly as documented.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <langinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curses.h>

#include "theme.h"

#ifndef THEMEDIR
#define THEMEDIR "/usr/local/share/sonde/themes"
#endif

#define THEME_FILE_MAX (64 * 1024)   /* bytes: a theme file is a few hundred */

static const char *const theme_role_names[TH_ROLE_COUNT] = {
	[TH_DEFAULT] = "default",
	[TH_HEADER] = "header",
	[TH_TAB] = "tab",
	[TH_TAB_ACTIVE] = "tab_active",
	[TH_FUNCBAR_KEY] = "funcbar_key",
	[TH_FUNCBAR_LABEL] = "funcbar_label",
	[TH_TABLE_HEADER] = "table_header",
	[TH_TABLE_SORTED] = "table_sorted",
	[TH_SELECTED] = "selected",
	[TH_OK] = "ok",
	[TH_WARNING] = "warning",
	[TH_CRITICAL] = "critical",
	[TH_DIM] = "dim",
	[TH_BORDER] = "border",
	[TH_CHART_1] = "chart_1",
	[TH_CHART_2] = "chart_2",
	[TH_CHART_3] = "chart_3",
	[TH_CHART_4] = "chart_4",
};

#define D THEME_COLOR_DEFAULT
#define RGB(x) (THEME_COLOR_RGB_FLAG | (x))

/* The dark default: the terminal's own background, colour only where it carries meaning. */
static const struct theme theme_default_builtin = {{
	[TH_DEFAULT] = {D, D, 0},
	[TH_HEADER] = {COLOR_WHITE, COLOR_BLUE, THEME_ATTR_BOLD},
	[TH_TAB] = {COLOR_WHITE, 236, 0},
	[TH_TAB_ACTIVE] = {COLOR_BLACK, COLOR_CYAN, THEME_ATTR_BOLD},
	[TH_FUNCBAR_KEY] = {15, D, THEME_ATTR_BOLD},
	[TH_FUNCBAR_LABEL] = {COLOR_BLACK, COLOR_CYAN, 0},
	[TH_TABLE_HEADER] = {COLOR_BLACK, COLOR_GREEN, 0},
	[TH_TABLE_SORTED] = {COLOR_BLACK, COLOR_CYAN, THEME_ATTR_BOLD},
	[TH_SELECTED] = {COLOR_BLACK, RGB(0xffd75f), 0},
	[TH_OK] = {COLOR_GREEN, D, 0},
	[TH_WARNING] = {COLOR_YELLOW, D, THEME_ATTR_BOLD},
	[TH_CRITICAL] = {9, D, THEME_ATTR_BOLD},
	[TH_DIM] = {244, D, 0},
	[TH_BORDER] = {COLOR_BLUE, D, 0},
	[TH_CHART_1] = {COLOR_CYAN, D, 0},
	[TH_CHART_2] = {COLOR_MAGENTA, D, 0},
	[TH_CHART_3] = {COLOR_YELLOW, D, 0},
	[TH_CHART_4] = {COLOR_GREEN, D, 0},
}};

/* Attributes only: what NO_COLOR adds so selection, headers and warnings stay visible. */
static const struct theme theme_mono_builtin = {{
	[TH_DEFAULT] = {D, D, 0},
	[TH_HEADER] = {D, D, THEME_ATTR_REVERSE | THEME_ATTR_BOLD},
	[TH_TAB] = {D, D, 0},
	[TH_TAB_ACTIVE] = {D, D, THEME_ATTR_REVERSE | THEME_ATTR_BOLD},
	[TH_FUNCBAR_KEY] = {D, D, THEME_ATTR_BOLD},
	[TH_FUNCBAR_LABEL] = {D, D, THEME_ATTR_REVERSE},
	[TH_TABLE_HEADER] = {D, D, THEME_ATTR_REVERSE},
	[TH_TABLE_SORTED] = {D, D, THEME_ATTR_REVERSE | THEME_ATTR_BOLD | THEME_ATTR_UNDERLINE},
	[TH_SELECTED] = {D, D, THEME_ATTR_REVERSE},
	[TH_OK] = {D, D, 0},
	[TH_WARNING] = {D, D, THEME_ATTR_BOLD},
	[TH_CRITICAL] = {D, D, THEME_ATTR_BOLD | THEME_ATTR_UNDERLINE},
	[TH_DIM] = {D, D, THEME_ATTR_DIM},
	[TH_BORDER] = {D, D, 0},
	[TH_CHART_1] = {D, D, THEME_ATTR_BOLD},
	[TH_CHART_2] = {D, D, 0},
	[TH_CHART_3] = {D, D, THEME_ATTR_DIM},
	[TH_CHART_4] = {D, D, 0},
}};

#undef D
#undef RGB

/* The state applied to curses; owned by the UI thread. */
static int theme_attrs[TH_ROLE_COUNT];
static int theme_ascii_mode;

/* malloc()ed printf, for messages handed to callers (NULL only if memory runs out). */
static char *theme_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *theme_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		return NULL;
	char *s = malloc((size_t)len + 1);
	if (s == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* Copy the built-in dark theme: the fallback for missing keys and for broken files. */
void theme_builtin(struct theme *out)
{
	*out = theme_default_builtin;
}

/* Copy the built-in attributes-only theme (themes/mono.theme). */
void theme_builtin_mono(struct theme *out)
{
	*out = theme_mono_builtin;
}

/* The key naming a role in theme files. */
const char *theme_role_name(enum theme_role role)
{
	if ((int)role < 0 || role >= TH_ROLE_COUNT)
		return NULL;
	return theme_role_names[role];
}

/* Compare a key from a file with a role name: case-insensitive, '-' and '_' alike. */
static int theme_key_equal(const char *key, size_t len, const char *name)
{
	size_t i;
	for (i = 0; i < len && name[i] != '\0'; i++) {
		char a = (char)tolower((unsigned char)key[i]), b = name[i];
		if (a == '-')
			a = '_';
		if (a != b)
			return 0;
	}
	return i == len && name[i] == '\0';
}

/* One colour word: a name, bright-NAME, 0-255, #RRGGBB or "default". 0, or -1 if not a colour. */
static int theme_parse_color(const char *word, size_t len, int32_t *out)
{
	static const char *const names[] = {"black", "red", "green", "yellow",
	                                    "blue", "magenta", "cyan", "white"};
	char w[32];

	if (len == 0 || len >= sizeof w)
		return -1;
	for (size_t i = 0; i < len; i++)
		w[i] = (char)tolower((unsigned char)word[i]);
	w[len] = '\0';

	if (strcmp(w, "default") == 0 || strcmp(w, "none") == 0) {
		*out = THEME_COLOR_DEFAULT;
		return 0;
	}
	if (strcmp(w, "gray") == 0 || strcmp(w, "grey") == 0) {
		*out = 8;
		return 0;
	}
	if (w[0] == '#') {
		if (len != 7)
			return -1;
		int32_t rgb = 0;
		for (size_t i = 1; i < 7; i++) {
			if (!isxdigit((unsigned char)w[i]))
				return -1;
			rgb = rgb * 16 + (isdigit((unsigned char)w[i]) ? w[i] - '0' : w[i] - 'a' + 10);
		}
		*out = THEME_COLOR_RGB_FLAG | rgb;
		return 0;
	}
	if (isdigit((unsigned char)w[0])) {
		char *end;
		long n = strtol(w, &end, 10);
		if (*end != '\0' || n < 0 || n > 255)
			return -1;
		*out = (int32_t)n;
		return 0;
	}
	const char *base = w;
	int bright = 0;
	if (strncmp(w, "bright", 6) == 0) {
		bright = 8;
		base = w + 6;
		if (*base == '-' || *base == '_')
			base++;
	}
	for (int i = 0; i < 8; i++) {
		if (strcmp(base, names[i]) == 0) {
			*out = i + bright;
			return 0;
		}
	}
	return -1;
}

/* One attribute word; 0 and *bit set, or -1 if the word is not an attribute. */
static int theme_parse_attr(const char *word, size_t len, unsigned *bit)
{
	static const struct { const char *name; unsigned bit; } attrs[] = {
		{"bold", THEME_ATTR_BOLD}, {"underline", THEME_ATTR_UNDERLINE},
		{"reverse", THEME_ATTR_REVERSE}, {"dim", THEME_ATTR_DIM},
		{"italic", THEME_ATTR_ITALIC}, {"normal", 0},
	};
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
		if (theme_key_equal(word, len, attrs[i].name)) {
			*bit = attrs[i].bit;
			return 0;
		}
	}
	return -1;
}

/* "[FG] [on BG] [ATTR...]" in any order of attributes; the style is replaced as a whole. */
int theme_parse_style(const char *value, struct theme_style *out, char **what)
{
	struct theme_style st = {THEME_COLOR_DEFAULT, THEME_COLOR_DEFAULT, 0};
	int have_fg = 0, have_bg = 0, words = 0;
	const char *p = value;

	*what = NULL;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *word = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		size_t len = (size_t)(p - word);
		unsigned bit;
		words++;

		if (theme_key_equal(word, len, "on")) {
			while (*p == ' ' || *p == '\t')
				p++;
			const char *bgword = p;
			while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
				p++;
			size_t bglen = (size_t)(p - bgword);
			if (bglen == 0) {
				*what = theme_msg("'on' needs a background colour after it");
				return -1;
			}
			if (have_bg) {
				*what = theme_msg("two backgrounds ('on %.*s')", (int)bglen, bgword);
				return -1;
			}
			if (theme_parse_color(bgword, bglen, &st.bg) != 0) {
				*what = theme_msg("bad colour '%.*s' (use a name such as blue or bright-blue, "
				                  "0-255, or #RRGGBB)", (int)bglen, bgword);
				return -1;
			}
			have_bg = 1;
		} else if (theme_parse_attr(word, len, &bit) == 0) {
			st.attrs |= bit;
		} else if (!have_fg && !have_bg && theme_parse_color(word, len, &st.fg) == 0) {
			have_fg = 1;
		} else {
			int color_like = theme_parse_color(word, len, &(int32_t){0}) == 0;
			if (color_like)
				*what = theme_msg("colour '%.*s' out of place (write FG [on BG] [ATTRS])",
				                  (int)len, word);
			else
				*what = theme_msg("bad colour or attribute '%.*s' (colours: a name such as "
				                  "blue or bright-blue, 0-255, #RRGGBB; attributes: bold, "
				                  "underline, reverse, dim, italic)", (int)len, word);
			return -1;
		}
	}
	if (words == 0) {
		*what = theme_msg("empty value (write FG [on BG] [ATTRS], e.g. \"white on blue bold\")");
		return -1;
	}
	*out = st;
	return 0;
}

/* Cut a line's value out: unquote "..." or '...', or drop a trailing " # comment".
 * Returns 0 with [*start, *end) set, or -1 with *what malloc()ed. */
static int theme_line_value(const char *v, const char *line_end, const char **start,
                            const char **end, char **what)
{
	while (v < line_end && (*v == ' ' || *v == '\t'))
		v++;
	if (v < line_end && (*v == '"' || *v == '\'')) {
		char quote = *v;
		const char *close = memchr(v + 1, quote, (size_t)(line_end - v - 1));
		if (close == NULL) {
			*what = theme_msg("unterminated %c quote", quote);
			return -1;
		}
		const char *rest = close + 1;
		while (rest < line_end && (*rest == ' ' || *rest == '\t'))
			rest++;
		if (rest < line_end && *rest != '#') {
			*what = theme_msg("text after the closing quote");
			return -1;
		}
		*start = v + 1;
		*end = close;
		return 0;
	}
	/* A '#' starts a comment at a word start unless it begins a #RRGGBB colour. */
	const char *e = v;
	for (; e < line_end; e++) {
		if (*e == '#' && (e == v || e[-1] == ' ' || e[-1] == '\t') &&
		    !(e + 1 < line_end && isxdigit((unsigned char)e[1])))
			break;
	}
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*start = v;
	*end = e;
	return 0;
}

/* Parse a theme file's text over *t; the first error stops it with "FILE:LINE: what". */
int theme_parse(struct theme *t, const char *text, const char *file, char **warning)
{
	const char *line = text;
	int lineno = 0;

	if (warning != NULL)
		*warning = NULL;
	while (*line != '\0') {
		const char *nl = strchr(line, '\n');
		const char *line_end = nl != NULL ? nl : line + strlen(line);
		const char *next = nl != NULL ? nl + 1 : line_end;
		char *what = NULL;
		lineno++;

		if (line_end > line && line_end[-1] == '\r')
			line_end--;
		const char *p = line;
		while (p < line_end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == line_end || *p == '#') {
			line = next;
			continue;
		}
		const char *eq = memchr(p, '=', (size_t)(line_end - p));
		if (eq == NULL) {
			what = theme_msg("expected KEY = VALUE (e.g. header = white on blue bold)");
			goto fail;
		}
		const char *key_end = eq;
		while (key_end > p && (key_end[-1] == ' ' || key_end[-1] == '\t'))
			key_end--;
		size_t keylen = (size_t)(key_end - p);
		if (keylen == 0) {
			what = theme_msg("missing key before '='");
			goto fail;
		}
		const char *vstart, *vend;
		if (theme_line_value(eq + 1, line_end, &vstart, &vend, &what) != 0)
			goto fail;
		/* Free-text metadata a theme may carry for people reading it. */
		if (theme_key_equal(p, keylen, "name") || theme_key_equal(p, keylen, "description")) {
			line = next;
			continue;
		}
		int role = -1;
		for (int r = 0; r < TH_ROLE_COUNT; r++) {
			if (theme_key_equal(p, keylen, theme_role_names[r])) {
				role = r;
				break;
			}
		}
		if (role < 0) {
			what = theme_msg("unknown key '%.*s' (keys are the roles default, header, tab, "
			                 "tab_active, funcbar_key, funcbar_label, table_header, "
			                 "table_sorted, selected, ok, warning, critical, dim, border, "
			                 "chart_1..chart_4)", (int)keylen, p);
			goto fail;
		}
		char value[512];
		size_t vlen = (size_t)(vend - vstart);
		if (vlen >= sizeof value) {
			what = theme_msg("value longer than %zu bytes", sizeof value - 1);
			goto fail;
		}
		memcpy(value, vstart, vlen);
		value[vlen] = '\0';
		struct theme_style st;
		char *why = NULL;
		if (theme_parse_style(value, &st, &why) != 0) {
			what = theme_msg("%s: %s", theme_role_names[role], why != NULL ? why : "bad value");
			free(why);
			goto fail;
		}
		t->style[role] = st;
		line = next;
		continue;
fail:
		if (warning != NULL)
			*warning = theme_msg("%s:%d: %s", file != NULL ? file : "(theme)", lineno,
			                     what != NULL ? what : "out of memory");
		free(what);
		return -1;
	}
	return 0;
}

/* Read a theme file whole and parse it; unreadable or oversized files are warnings too. */
int theme_load_file(struct theme *t, const char *path, char **warning)
{
	if (warning != NULL)
		*warning = NULL;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		if (warning != NULL)
			*warning = theme_msg("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	char *text = malloc(THEME_FILE_MAX + 1);
	if (text == NULL) {
		fclose(f);
		if (warning != NULL)
			*warning = theme_msg("%s: out of memory reading the theme", path);
		return -1;
	}
	size_t n = fread(text, 1, THEME_FILE_MAX + 1, f);
	int failed = ferror(f);
	int saved = errno;
	fclose(f);
	if (failed || n > THEME_FILE_MAX) {
		free(text);
		if (warning != NULL)
			*warning = failed ? theme_msg("%s: cannot read: %s", path, strerror(saved))
			                  : theme_msg("%s: larger than %d KiB; is it a theme file?", path,
			                              THEME_FILE_MAX / 1024);
		return -1;
	}
	text[n] = '\0';
	if (memchr(text, '\0', n) != NULL) {
		free(text);
		if (warning != NULL)
			*warning = theme_msg("%s: binary data (NUL byte); is it a theme file?", path);
		return -1;
	}
	int rc = theme_parse(t, text, path, warning);
	free(text);
	return rc;
}

/* A regular file that can be opened for reading. */
static int theme_file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* First existing NAME.theme among the directories, in order. */
int theme_find(const char *name, const char *user, const char *installed,
               const char *source, char *path, size_t size, char **searched)
{
	const char *dirs[3] = {user, installed, source};
	char tried[3 * 4096 + 16] = "";
	size_t used = 0;

	if (searched != NULL)
		*searched = NULL;
	if (strchr(name, '/') != NULL) {
		if (theme_file_exists(name) && strlen(name) < size) {
			snprintf(path, size, "%s", name);
			return 0;
		}
		if (searched != NULL)
			*searched = theme_msg("theme file '%s' not found", name);
		return -1;
	}
	for (int i = 0; i < 3; i++) {
		if (dirs[i] == NULL || dirs[i][0] == '\0')
			continue;
		int len = snprintf(path, size, "%s/%s.theme", dirs[i], name);
		if (len > 0 && (size_t)len < size && theme_file_exists(path))
			return 0;
		int w = snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "", dirs[i]);
		if (w > 0 && (size_t)w < sizeof tried - used)
			used += (size_t)w;
	}
	if (size > 0)
		path[0] = '\0';
	if (searched != NULL)
		*searched = theme_msg("theme '%s' not found in %s (a theme is NAME.theme in one of "
		                      "these, or a path)", name, used ? tried : "no directory");
	return -1;
}

/* The RGB value of xterm's colour i (0-255): the 16 system colours, the 6x6x6 cube, the greys. */
static int32_t theme_xterm_rgb(int i)
{
	static const int32_t system[16] = {
		0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd, 0xe5e5e5,
		0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff,
	};
	static const int level[6] = {0, 95, 135, 175, 215, 255};
	if (i < 16)
		return system[i];
	if (i < 232) {
		i -= 16;
		return (level[i / 36] << 16) | (level[i / 6 % 6] << 8) | level[i % 6];
	}
	int g = 8 + (i - 232) * 10;
	return (g << 16) | (g << 8) | g;
}

/* Squared distance between two colours, weighted the "redmean" way (closer to what eyes see). */
static long theme_rgb_distance(int32_t a, int32_t b)
{
	long r1 = (a >> 16) & 255, g1 = (a >> 8) & 255, b1 = a & 255;
	long r2 = (b >> 16) & 255, g2 = (b >> 8) & 255, b2 = b & 255;
	long rmean = (r1 + r2) / 2, dr = r1 - r2, dg = g1 - g2, db = b1 - b2;
	return (((512 + rmean) * dr * dr) >> 8) + 4 * dg * dg + (((767 - rmean) * db * db) >> 8);
}

/* Nearest terminal colour: exact index when the terminal has it, else by RGB distance among
 * the 8, 16 or 256 colours it does have (the 256 search skips the 16 system colours, whose
 * look each terminal redefines). A direct-colour terminal (more than 256 colours, e.g.
 * TERM=xterm-direct) takes 0-7 as the ANSI colours and anything else as 0xRRGGBB. */
int theme_map_color(int32_t color, int ncolors)
{
	if (color == THEME_COLOR_DEFAULT || ncolors < 8)
		return -1;
	if (ncolors > 256) {
		if (!(color & THEME_COLOR_RGB_FLAG) && color < 8)
			return color;
		int32_t rgb = color & THEME_COLOR_RGB_FLAG ? color & 0xffffff
		                                           : theme_xterm_rgb(color & 255);
		return rgb < 8 ? COLOR_BLACK : rgb;  /* 1..7 would read as ANSI red..white */
	}
	if (!(color & THEME_COLOR_RGB_FLAG) && color < ncolors && color < 256)
		return color;
	int32_t rgb = color & THEME_COLOR_RGB_FLAG ? color & 0xffffff : theme_xterm_rgb(color & 255);
	int first = ncolors >= 256 ? 16 : 0;
	int last = ncolors >= 256 ? 255 : ncolors >= 16 ? 15 : 7;
	int best = first;
	long best_d = -1;
	for (int i = first; i <= last; i++) {
		long d = theme_rgb_distance(rgb, theme_xterm_rgb(i));
		if (best_d < 0 || d < best_d) {
			best = i;
			best_d = d;
		}
	}
	return best;
}

/* UTF-8 however the C library spells it ("UTF-8", "utf8"). */
int theme_codeset_is_utf8(const char *codeset)
{
	if (codeset == NULL)
		return 0;
	return strcasecmp(codeset, "UTF-8") == 0 || strcasecmp(codeset, "UTF8") == 0;
}

/* Curses attribute bits of a style's THEME_ATTR_* set. */
static int theme_curses_attrs(unsigned attrs)
{
	int a = A_NORMAL;
	if (attrs & THEME_ATTR_BOLD)
		a |= A_BOLD;
	if (attrs & THEME_ATTR_UNDERLINE)
		a |= A_UNDERLINE;
	if (attrs & THEME_ATTR_REVERSE)
		a |= A_REVERSE;
	if (attrs & THEME_ATTR_DIM)
		a |= A_DIM;
#ifdef A_ITALIC
	if (attrs & THEME_ATTR_ITALIC)
		a |= A_ITALIC;
#endif
	return a;
}

/* Turn a parsed theme into colour pairs 1..TH_ROLE_COUNT and attribute words. */
static void theme_apply(const struct theme *t, int colors)
{
	int default_ok = colors && use_default_colors() == OK;

	for (int r = 0; r < TH_ROLE_COUNT; r++) {
		const struct theme_style *st = &t->style[r];
		if (!colors) {
			theme_attrs[r] = theme_curses_attrs(st->attrs | theme_mono_builtin.style[r].attrs);
			continue;
		}
		int fg = theme_map_color(st->fg, COLORS);
		int bg = theme_map_color(st->bg, COLORS);
		if (!default_ok) {           /* no "terminal default": assume white on black */
			if (fg < 0)
				fg = COLOR_WHITE;
			if (bg < 0)
				bg = COLOR_BLACK;
		}
		int paired = COLORS > 256 ? init_extended_pair(r + 1, fg, bg)
		                          : init_pair((short)(r + 1), (short)fg, (short)bg);
		if (r + 1 < COLOR_PAIRS && paired == OK)
			theme_attrs[r] = (int)COLOR_PAIR(r + 1) | theme_curses_attrs(st->attrs);
		else
			theme_attrs[r] = theme_curses_attrs(st->attrs | theme_mono_builtin.style[r].attrs);
	}
}

/* Pick, load and apply the theme; on any problem apply the built-in default and say why. */
int theme_init(const char *name, int no_color, char **warning)
{
	const char *env_no_color = getenv("NO_COLOR");
	struct theme t;
	char path[4096], user[4096] = "";
	char *why = NULL;
	int rc = 0;

	if (warning != NULL)
		*warning = NULL;
	if (name == NULL || name[0] == '\0')
		name = getenv("SONDE_THEME");
	if (name == NULL || name[0] == '\0')
		name = "default";

	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg != NULL && xdg[0] == '/')
		snprintf(user, sizeof user, "%s/sonde/themes", xdg);
	else if (home != NULL && home[0] != '\0')
		snprintf(user, sizeof user, "%s/.config/sonde/themes", home);

#ifdef SRCDIR
	const char *source = SRCDIR "/themes";
#else
	const char *source = NULL;
#endif
	theme_builtin(&t);
	if (theme_find(name, user, THEMEDIR, source, path, sizeof path, &why) != 0) {
		/* The built-in theme is the default one: not finding its file is no problem. */
		if (strcmp(name, "default") != 0)
			rc = -1;
	} else if (theme_load_file(&t, path, &why) != 0) {
		theme_builtin(&t);
		rc = -1;
	}
	if (rc != 0 && warning != NULL)
		*warning = theme_msg("%s; using the built-in theme", why != NULL ? why : "bad theme");
	free(why);

	int colors = !no_color && !(env_no_color != NULL && env_no_color[0] != '\0') &&
	             has_colors() && COLORS >= 8;
	theme_apply(&t, colors);
	/* Blank cells take the default role, so a theme's own background fills the screen. */
	if (stdscr != NULL)
		bkgd((chtype)' ' | (chtype)theme_attrs[TH_DEFAULT]);

	if (!theme_ascii_mode)
		theme_ascii_mode = !theme_codeset_is_utf8(nl_langinfo(CODESET));
	return rc;
}

/* The attributes of a role, as computed by theme_init (A_NORMAL before it). */
int theme_attr(enum theme_role role)
{
	if ((int)role < 0 || role >= TH_ROLE_COUNT)
		return A_NORMAL;
	return theme_attrs[role];
}

/* Whether widgets must draw with ASCII only (boxes, charts, markers). */
int theme_ascii(void)
{
	return theme_ascii_mode;
}

/* --ascii: forces ASCII before theme_init (which only ever turns it on from the locale). */
void theme_set_ascii(int ascii)
{
	theme_ascii_mode = ascii != 0;
}
