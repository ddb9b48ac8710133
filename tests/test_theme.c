/*
 * test_theme.c - theme files (tui/theme.c): good and bad files under tests/data/themes, the
 * shipped themes, colour mapping to 8/16/256-colour terminals, the lookup order, and the
 * curses side (pairs and NO_COLOR) on a terminal that writes to /dev/null.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <curses.h>

#include "theme.h"

/* The source tree: the test driver exports top_srcdir; by hand, SRCDIR from the build. */
static const char *test_srcdir(void)
{
	const char *d = getenv("top_srcdir");
#ifdef SRCDIR
	if (d == NULL || d[0] == '\0')
		d = SRCDIR;
#endif
	return d != NULL && d[0] != '\0' ? d : ".";
}

static void test_path(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", test_srcdir(), rel);
}

/* Load a file over the built-in theme; returns theme_load_file's result, warning kept. */
static int load(const char *rel, struct theme *t, char **warning)
{
	char path[4096];
	test_path(path, sizeof path, rel);
	theme_builtin(t);
	return theme_load_file(t, path, warning);
}

static void assert_style(const struct theme_style *st, int32_t fg, int32_t bg, unsigned attrs)
{
	assert_int_equal(st->fg, fg);
	assert_int_equal(st->bg, bg);
	assert_int_equal(st->attrs, attrs);
}

/* themes/default.theme and the built-in fallback must say the same thing. */
static void test_shipped_default_matches_builtin(void **state)
{
	struct theme file, builtin;
	char *warning = NULL;
	(void)state;
	assert_int_equal(load("themes/default.theme", &file, &warning), 0);
	assert_null(warning);
	theme_builtin(&builtin);
	for (int r = 0; r < TH_ROLE_COUNT; r++) {
		if (memcmp(&file.style[r], &builtin.style[r], sizeof file.style[r]) != 0)
			fail_msg("role %s differs between themes/default.theme and the built-in theme",
			         theme_role_name((enum theme_role)r));
	}
}

static void test_shipped_mono_matches_builtin(void **state)
{
	struct theme file, builtin;
	char *warning = NULL;
	(void)state;
	assert_int_equal(load("themes/mono.theme", &file, &warning), 0);
	assert_null(warning);
	theme_builtin_mono(&builtin);
	for (int r = 0; r < TH_ROLE_COUNT; r++) {
		if (memcmp(&file.style[r], &builtin.style[r], sizeof file.style[r]) != 0)
			fail_msg("role %s differs between themes/mono.theme and the built-in mono theme",
			         theme_role_name((enum theme_role)r));
		assert_int_equal(builtin.style[r].fg, THEME_COLOR_DEFAULT);
		assert_int_equal(builtin.style[r].bg, THEME_COLOR_DEFAULT);
	}
}

/* Every shipped theme parses cleanly and sets every role explicitly (no silent fallbacks). */
static void test_shipped_themes_complete(void **state)
{
	static const char *const names[] = {"default", "light", "mono", "high-contrast"};
	(void)state;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char rel[256], path[4096];
		snprintf(rel, sizeof rel, "themes/%s.theme", names[i]);
		test_path(path, sizeof path, rel);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			fail_msg("cannot open %s", path);
		char text[8192];
		size_t n = fread(text, 1, sizeof text - 1, f);
		fclose(f);
		text[n] = '\0';
		for (int r = 0; r < TH_ROLE_COUNT; r++) {
			char key[64];
			snprintf(key, sizeof key, "\n%s ", theme_role_name((enum theme_role)r));
			if (strstr(text, key) == NULL)
				fail_msg("%s does not set role %s", path, key + 1);
		}
		struct theme t;
		char *warning = NULL;
		theme_builtin(&t);
		if (theme_parse(&t, text, path, &warning) != 0)
			fail_msg("%s", warning);
		assert_null(warning);
	}
}

static void test_good_file(void **state)
{
	struct theme t, builtin;
	char *warning = NULL;
	(void)state;
	assert_int_equal(load("tests/data/themes/good.theme", &t, &warning), 0);
	assert_null(warning);
	theme_builtin(&builtin);
	assert_style(&t.style[TH_HEADER], COLOR_WHITE, COLOR_BLUE, THEME_ATTR_BOLD);
	assert_style(&t.style[TH_TAB_ACTIVE], COLOR_BLACK, THEME_COLOR_RGB_FLAG | 0xffd75f,
	             THEME_ATTR_UNDERLINE);
	assert_style(&t.style[TH_SELECTED], 8 + COLOR_YELLOW, 236, THEME_ATTR_REVERSE);
	assert_style(&t.style[TH_WARNING], COLOR_YELLOW, THEME_COLOR_DEFAULT, THEME_ATTR_BOLD);
	assert_style(&t.style[TH_CRITICAL], 196, THEME_COLOR_DEFAULT,
	             THEME_ATTR_BOLD | THEME_ATTR_UNDERLINE);
	assert_style(&t.style[TH_DIM], 8, THEME_COLOR_DEFAULT, THEME_ATTR_DIM);
	assert_style(&t.style[TH_CHART_1], 8 + COLOR_CYAN, THEME_COLOR_DEFAULT, 0);
	assert_style(&t.style[TH_CHART_2], THEME_COLOR_RGB_FLAG | 0x00ff00, THEME_COLOR_DEFAULT, 0);
	assert_style(&t.style[TH_BORDER], THEME_COLOR_DEFAULT, THEME_COLOR_DEFAULT, 0);
	/* Roles the file leaves out keep the built-in look. */
	assert_memory_equal(&t.style[TH_TAB], &builtin.style[TH_TAB], sizeof t.style[TH_TAB]);
	assert_memory_equal(&t.style[TH_CHART_4], &builtin.style[TH_CHART_4],
	                    sizeof t.style[TH_CHART_4]);
}

static void test_crlf_file(void **state)
{
	struct theme t;
	char *warning = NULL;
	(void)state;
	assert_int_equal(load("tests/data/themes/crlf.theme", &t, &warning), 0);
	assert_null(warning);
	assert_style(&t.style[TH_HEADER], COLOR_WHITE, COLOR_BLUE, 0);
	assert_style(&t.style[TH_OK], COLOR_GREEN, THEME_COLOR_DEFAULT, 0);
}

/* A bad file names itself, the line, and what is wrong. */
static void expect_bad(const char *file, int line, const char *what)
{
	struct theme t;
	char *warning = NULL;
	char rel[256], want[4096 + 64];
	snprintf(rel, sizeof rel, "tests/data/themes/%s", file);
	assert_int_equal(load(rel, &t, &warning), -1);
	assert_non_null(warning);
	char path[4096];
	test_path(path, sizeof path, rel);
	snprintf(want, sizeof want, "%s:%d: ", path, line);
	if (strncmp(warning, want, strlen(want)) != 0 || strstr(warning, what) == NULL)
		fail_msg("%s: got \"%s\", want \"%s...%s...\"", file, warning, want, what);
	free(warning);
}

static void test_bad_files(void **state)
{
	(void)state;
	expect_bad("bad_key.theme", 4, "unknown key 'colour_of_money'");
	expect_bad("bad_color.theme", 2, "bad colour '#ffd7'");
	expect_bad("bad_quote.theme", 3, "unterminated \" quote");
	expect_bad("bad_syntax.theme", 1, "expected KEY = VALUE");
	expect_bad("bad_name.theme", 1, "'teal'");
	expect_bad("bad_empty.theme", 2, "tab: empty value");
}

static void test_missing_file(void **state)
{
	struct theme t;
	char *warning = NULL;
	(void)state;
	assert_int_equal(load("tests/data/themes/no-such.theme", &t, &warning), -1);
	assert_non_null(warning);
	assert_non_null(strstr(warning, "no-such.theme: cannot open: "));
	free(warning);
}

static void test_parse_style(void **state)
{
	struct theme_style st;
	char *what = NULL;
	(void)state;
	assert_int_equal(theme_parse_style("red", &st, &what), 0);
	assert_style(&st, COLOR_RED, THEME_COLOR_DEFAULT, 0);
	assert_int_equal(theme_parse_style("on red", &st, &what), 0);
	assert_style(&st, THEME_COLOR_DEFAULT, COLOR_RED, 0);
	assert_int_equal(theme_parse_style("reverse", &st, &what), 0);
	assert_style(&st, THEME_COLOR_DEFAULT, THEME_COLOR_DEFAULT, THEME_ATTR_REVERSE);
	assert_int_equal(theme_parse_style("BRIGHT-Blue ON 0 Bold", &st, &what), 0);
	assert_style(&st, 12, 0, THEME_ATTR_BOLD);
	assert_int_equal(theme_parse_style("255 on 255 italic dim", &st, &what), 0);
	assert_style(&st, 255, 255, THEME_ATTR_ITALIC | THEME_ATTR_DIM);

	static const char *const bad[] = {
		"", "   ", "256", "-1", "#12345", "#1234567", "#gggggg", "white on", "white blue",
		"on red on blue", "bold2", "white on blue glow",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		what = NULL;
		if (theme_parse_style(bad[i], &st, &what) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_non_null(what);
		free(what);
	}
}

static void test_role_names(void **state)
{
	(void)state;
	assert_string_equal(theme_role_name(TH_DEFAULT), "default");
	assert_string_equal(theme_role_name(TH_TAB_ACTIVE), "tab_active");
	assert_string_equal(theme_role_name(TH_CHART_4), "chart_4");
	assert_null(theme_role_name(TH_ROLE_COUNT));
	for (int r = 0; r < TH_ROLE_COUNT; r++)
		assert_non_null(theme_role_name((enum theme_role)r));
}

static void test_map_color(void **state)
{
	(void)state;
	assert_int_equal(theme_map_color(THEME_COLOR_DEFAULT, 256), -1);
	assert_int_equal(theme_map_color(COLOR_RED, 0), -1);
	assert_int_equal(theme_map_color(COLOR_RED, 8), COLOR_RED);
	assert_int_equal(theme_map_color(200, 256), 200);
	/* #ffd75f is exactly cube colour 221; on 16 colours bright yellow, on 8 yellow. */
	assert_int_equal(theme_map_color(THEME_COLOR_RGB_FLAG | 0xffd75f, 256), 221);
	assert_int_equal(theme_map_color(THEME_COLOR_RGB_FLAG | 0xffd75f, 16), 11);
	assert_int_equal(theme_map_color(THEME_COLOR_RGB_FLAG | 0xffd75f, 8), COLOR_YELLOW);
	/* Greys land on the grey ramp, and on 8 colours on black or white. */
	assert_int_equal(theme_map_color(THEME_COLOR_RGB_FLAG | 0x303030, 256), 236);
	assert_int_equal(theme_map_color(THEME_COLOR_RGB_FLAG | 0x303030, 8), COLOR_BLACK);
	assert_int_equal(theme_map_color(THEME_COLOR_RGB_FLAG | 0xeeeeee, 8), COLOR_WHITE);
	/* Indices the terminal lacks are mapped by their colour: 196 is pure red, 9 bright red. */
	assert_int_equal(theme_map_color(196, 16), 9);
	assert_int_equal(theme_map_color(196, 8), COLOR_RED);
	assert_int_equal(theme_map_color(12, 8), COLOR_BLUE);
	assert_int_equal(theme_map_color(THEME_COLOR_RGB_FLAG | 0x0000ff, 256), 21);
	/* Direct colour: ANSI 0-7 as they are, everything else as 0xRRGGBB. */
	assert_int_equal(theme_map_color(COLOR_YELLOW, 1 << 24), COLOR_YELLOW);
	assert_int_equal(theme_map_color(221, 1 << 24), 0xffd75f);
	assert_int_equal(theme_map_color(12, 1 << 24), 0x5c5cff);
	assert_int_equal(theme_map_color(THEME_COLOR_RGB_FLAG | 0xffd75f, 1 << 24), 0xffd75f);
	assert_int_equal(theme_map_color(THEME_COLOR_RGB_FLAG | 0x000003, 1 << 24), COLOR_BLACK);
	assert_int_equal(theme_map_color(THEME_COLOR_DEFAULT, 1 << 24), -1);
	for (int c = 0; c < 256; c++) {
		assert_in_range(theme_map_color(c, 8), 0, 7);
		assert_in_range(theme_map_color(c, 16), 0, 15);
	}
}

static void write_file(const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("header = red\n", f);
	fclose(f);
}

/* User directory first, then installed, then the source tree; a name with '/' is a path. */
static void test_find_order(void **state)
{
	char base[] = "/tmp/sonde-test-theme-XXXXXX";
	char user[256], inst[256], src[256], path[4096], file[512];
	char *searched = NULL;
	(void)state;
	assert_non_null(mkdtemp(base));
	snprintf(user, sizeof user, "%s/user", base);
	snprintf(inst, sizeof inst, "%s/inst", base);
	snprintf(src, sizeof src, "%s/src", base);
	assert_int_equal(mkdir(user, 0700), 0);
	assert_int_equal(mkdir(inst, 0700), 0);
	assert_int_equal(mkdir(src, 0700), 0);

	snprintf(file, sizeof file, "%s/x.theme", src);
	write_file(file);
	assert_int_equal(theme_find("x", user, inst, src, path, sizeof path, &searched), 0);
	assert_string_equal(path, file);
	snprintf(file, sizeof file, "%s/x.theme", inst);
	write_file(file);
	assert_int_equal(theme_find("x", user, inst, src, path, sizeof path, &searched), 0);
	assert_string_equal(path, file);
	snprintf(file, sizeof file, "%s/x.theme", user);
	write_file(file);
	assert_int_equal(theme_find("x", user, inst, src, path, sizeof path, &searched), 0);
	assert_string_equal(path, file);
	assert_int_equal(theme_find("x", NULL, inst, NULL, path, sizeof path, &searched), 0);
	snprintf(file, sizeof file, "%s/x.theme", inst);
	assert_string_equal(path, file);

	/* A path is taken as is, wherever it is. */
	assert_int_equal(theme_find(file, NULL, NULL, NULL, path, sizeof path, &searched), 0);
	assert_string_equal(path, file);

	assert_int_equal(theme_find("nope", user, inst, src, path, sizeof path, &searched), -1);
	assert_non_null(searched);
	assert_non_null(strstr(searched, "theme 'nope' not found in "));
	assert_non_null(strstr(searched, user));
	assert_non_null(strstr(searched, inst));
	assert_non_null(strstr(searched, src));
	free(searched);
	searched = NULL;
	assert_int_equal(theme_find("/nonexistent/x.theme", user, inst, src, path, sizeof path,
	                            &searched), -1);
	assert_non_null(strstr(searched, "/nonexistent/x.theme"));
	free(searched);

	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
}

static void test_codeset(void **state)
{
	(void)state;
	assert_true(theme_codeset_is_utf8("UTF-8"));
	assert_true(theme_codeset_is_utf8("utf8"));
	assert_false(theme_codeset_is_utf8("ANSI_X3.4-1968"));
	assert_false(theme_codeset_is_utf8("ISO-8859-1"));
	assert_false(theme_codeset_is_utf8(NULL));
	theme_set_ascii(1);
	assert_true(theme_ascii());
	theme_set_ascii(0);
	assert_false(theme_ascii());
}

/* A curses terminal writing to /dev/null, so theme_init can run without a tty. */
static SCREEN *test_screen(const char *term)
{
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	assert_non_null(out);
	assert_non_null(in);
	SCREEN *s = newterm(term, out, in);
	if (s == NULL)
		fail_msg("no terminfo entry for %s", term);
	set_term(s);
	start_color();
	return s;
}

static void test_init_applies_pairs(void **state)
{
	char path[4096], *warning = NULL;
	short fg, bg;
	(void)state;
	unsetenv("NO_COLOR");
	SCREEN *s = test_screen("xterm-256color");
	test_path(path, sizeof path, "themes/default.theme");
	assert_int_equal(theme_init(path, 0, &warning), 0);
	assert_null(warning);
	int a = theme_attr(TH_SELECTED);
	assert_int_not_equal(PAIR_NUMBER(a), 0);
	assert_int_equal(pair_content((short)PAIR_NUMBER(a), &fg, &bg), OK);
	assert_int_equal(fg, COLOR_BLACK);
	assert_int_equal(bg, 221);
	assert_true(theme_attr(TH_HEADER) & A_BOLD);
	assert_int_equal(theme_attr(TH_ROLE_COUNT), A_NORMAL);

	/* A bad file: warned with file and line, and the built-in default applied. */
	test_path(path, sizeof path, "tests/data/themes/bad_key.theme");
	assert_int_equal(theme_init(path, 0, &warning), -1);
	assert_non_null(warning);
	assert_non_null(strstr(warning, "bad_key.theme:4: unknown key"));
	assert_non_null(strstr(warning, "using the built-in theme"));
	free(warning);
	a = theme_attr(TH_SELECTED);
	assert_int_equal(pair_content((short)PAIR_NUMBER(a), &fg, &bg), OK);
	assert_int_equal(bg, 221);

	/* An unknown name: warned, naming where it looked. */
	assert_int_equal(theme_init("no-such-theme", 0, &warning), -1);
	assert_non_null(strstr(warning, "theme 'no-such-theme' not found in "));
	free(warning);

	/* SONDE_THEME picks the theme when no name is given. */
	test_path(path, sizeof path, "themes/high-contrast.theme");
	setenv("SONDE_THEME", path, 1);
	assert_int_equal(theme_init(NULL, 0, &warning), 0);
	a = theme_attr(TH_DEFAULT);
	assert_int_equal(pair_content((short)PAIR_NUMBER(a), &fg, &bg), OK);
	assert_int_equal(fg, 15);
	assert_int_equal(bg, COLOR_BLACK);
	/* ... and its black background fills blank cells. */
	assert_int_equal(PAIR_NUMBER(getbkgd(stdscr)), PAIR_NUMBER(a));
	unsetenv("SONDE_THEME");

	/* A user's theme in $XDG_CONFIG_HOME/sonde/themes is found by name, before the others. */
	char base[] = "/tmp/sonde-test-xdg-XXXXXX", dir[512], file[600], cmd[600];
	assert_non_null(mkdtemp(base));
	snprintf(dir, sizeof dir, "%s/sonde", base);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof dir, "%s/sonde/themes", base);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(file, sizeof file, "%s/default.theme", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("selected = red on green\n", f);
	fclose(f);
	setenv("XDG_CONFIG_HOME", base, 1);
	assert_int_equal(theme_init("default", 0, &warning), 0);
	a = theme_attr(TH_SELECTED);
	assert_int_equal(pair_content((short)PAIR_NUMBER(a), &fg, &bg), OK);
	assert_int_equal(fg, COLOR_RED);
	assert_int_equal(bg, COLOR_GREEN);
	setenv("XDG_CONFIG_HOME", "/nonexistent/sonde-test", 1);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	endwin();
	delscreen(s);
}

static void test_init_no_color(void **state)
{
	char *warning = NULL;
	(void)state;
	SCREEN *s = test_screen("xterm-256color");
	setenv("NO_COLOR", "1", 1);
	assert_int_equal(theme_init("default", 0, &warning), 0);
	for (int r = 0; r < TH_ROLE_COUNT; r++)
		assert_int_equal(PAIR_NUMBER(theme_attr((enum theme_role)r)), 0);
	/* Attributes stay, and the selection is still visible without colour. */
	assert_true(theme_attr(TH_SELECTED) & A_REVERSE);
	assert_true(theme_attr(TH_HEADER) & A_BOLD);
	/* An empty NO_COLOR does not count (no-color.org). */
	setenv("NO_COLOR", "", 1);
	assert_int_equal(theme_init("default", 0, &warning), 0);
	assert_int_not_equal(PAIR_NUMBER(theme_attr(TH_SELECTED)), 0);
	/* The caller's --no-color (no_color argument) works like NO_COLOR. */
	unsetenv("NO_COLOR");
	assert_int_equal(theme_init("default", 1, &warning), 0);
	assert_int_equal(PAIR_NUMBER(theme_attr(TH_SELECTED)), 0);
	endwin();
	delscreen(s);
}

/* On an 8-colour terminal a #RRGGBB colour lands on the nearest of the 8. */
static void test_init_eight_colors(void **state)
{
	char *warning = NULL;
	short fg, bg;
	(void)state;
	unsetenv("NO_COLOR");
	SCREEN *s = test_screen("xterm");
	assert_int_equal(COLORS, 8);
	assert_int_equal(theme_init("default", 0, &warning), 0);
	int a = theme_attr(TH_SELECTED);
	assert_int_equal(pair_content((short)PAIR_NUMBER(a), &fg, &bg), OK);
	assert_int_equal(bg, COLOR_YELLOW);
	endwin();
	delscreen(s);
}

/* A direct-colour terminal (like TERM=xterm-direct) gets the theme's exact RGB values. The
 * terminfo entry is compiled here with tic, since Debian ships xterm-direct only in
 * ncurses-term. */
static void test_init_direct_color(void **state)
{
	char dir[] = "/tmp/sonde-test-terminfo-XXXXXX", src[512], cmd[1200];
	char *warning = NULL;
	int fg, bg;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof src, "%s/direct.ti", dir);
	FILE *f = fopen(src, "w");
	assert_non_null(f);
	fputs("sonde-test-direct|direct colour terminal for sonde's tests,\n"
	      "\tam, cols#80, lines#24, colors#0x1000000, pairs#0x10000,\n"
	      "\top=\\E[39;49m, sgr0=\\E[m, bold=\\E[1m, rev=\\E[7m,\n"
	      "\tsetaf=\\E[%?%p1%{8}%<%t3%p1%d%e38:2::%p1%{65536}%/%d:%p1%{256}%/%{255}%&%d:"
	      "%p1%{255}%&%d%;m,\n"
	      "\tsetab=\\E[%?%p1%{8}%<%t4%p1%d%e48:2::%p1%{65536}%/%d:%p1%{256}%/%{255}%&%d:"
	      "%p1%{255}%&%d%;m,\n", f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "tic -x -o '%s' '%s' 2>/dev/null", dir, src);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
		skip();                                 /* no tic: nothing to test against */
	}
	setenv("TERMINFO", dir, 1);
	unsetenv("NO_COLOR");
	SCREEN *s = test_screen("sonde-test-direct");
	assert_true(COLORS > 256);
	assert_int_equal(theme_init("default", 0, &warning), 0);
	assert_int_equal(extended_pair_content(PAIR_NUMBER(theme_attr(TH_SELECTED)), &fg, &bg), OK);
	assert_int_equal(fg, COLOR_BLACK);
	assert_int_equal(bg, 0xffd75f);
	assert_int_equal(extended_pair_content(PAIR_NUMBER(theme_attr(TH_DIM)), &fg, &bg), OK);
	assert_int_equal(fg, 0x808080);             /* colour 244 */
	endwin();
	delscreen(s);
	unsetenv("TERMINFO");
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	/* The user's own themes and settings must not leak into the results. */
	setenv("XDG_CONFIG_HOME", "/nonexistent/sonde-test", 1);
	unsetenv("SONDE_THEME");
	unsetenv("NO_COLOR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_default_matches_builtin),
		cmocka_unit_test(test_shipped_mono_matches_builtin),
		cmocka_unit_test(test_shipped_themes_complete),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_crlf_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_parse_style),
		cmocka_unit_test(test_role_names),
		cmocka_unit_test(test_map_color),
		cmocka_unit_test(test_find_order),
		cmocka_unit_test(test_codeset),
		cmocka_unit_test(test_init_applies_pairs),
		cmocka_unit_test(test_init_no_color),
		cmocka_unit_test(test_init_eight_colors),
		cmocka_unit_test(test_init_direct_color),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
