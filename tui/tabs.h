/*
 * tabs.h - the TUI's tabs, one descriptor each, listed in tabs.c (the way tmux lists commands).
 *
 * Adding a tab is adding one file and one line:
 *
 *     // tui/tab_memory.c
 *     static void memory_fetch(struct ui *ui)
 *     {
 *             fetch_want(ui->fetch, "alloc", "alloc", NULL);   // what this tab shows
 *     }
 *     static void memory_draw(struct ui *ui, WINDOW *w, int height, int width)
 *     {
 *             const struct fetch_reply *r = fetch_get(ui->fetch, "alloc");
 *             if (r == NULL || r->result == NULL) {            // not answered yet, or an error
 *                     ui_draw_waiting(ui, w, "allocator figures", r ? r->error : NULL);
 *                     return;
 *             }
 *             ... werase() is done for you; draw rows 0..height-1, columns 0..width-1 ...
 *     }
 *     static unsigned memory_key_sort(struct ui *ui, int key) { ...; return KEYS_REFETCH; }
 *     static const struct key_binding memory_bindings[] = {
 *             {'s', "Sort", "sort arenas by the next column", memory_key_sort},
 *             {0, NULL, NULL, NULL},
 *     };
 *     static const struct key_table memory_keys = {"Memory", memory_bindings};
 *     const struct tab_entry tab_memory = {
 *             .name = "Memory", .key = '3',
 *             .fetch = memory_fetch, .draw = memory_draw, .keys = &memory_keys,
 *     };
 *
 *     // tui/tabs.c: `extern const struct tab_entry tab_memory;` and `&tab_memory,` at the markers
 *     // tui/tui.am: tui_sonde_SOURCES += tui/tab_memory.c
 *
 * (tests/test_keys.c checks every key table it can see; it lists its own tabs, so a new tab
 * never breaks its link - add your tab there too if you want its keys checked.)
 *
 * Rules of the road:
 *   - Everything runs on the UI thread; a tab keeps its own state in static variables of its
 *     file (there is one UI per process).
 *   - Never talk to the socket: declare requests in .fetch with fetch_want() (fetch.h) and read
 *     the replies with fetch_get(). .fetch is called every frame; a request whose arguments
 *     changed runs at once, and all of them run again at every refresh tick. Slot names are
 *     global: prefix them with the tab's name if they could clash ("memory.arenas").
 *   - .draw gets the body window already erased; draw only inside height x width. Use the
 *     theme roles (theme.h) and format.h for every number. Keep last data on screen when a
 *     reply is missing (the connection may be down: the header says so).
 *   - Key handlers (keys.h) return KEYS_* flags: KEYS_REDRAW after changing what is shown,
 *     KEYS_REFETCH after changing what must be asked (then .fetch runs before the next draw).
 *     The tab's table is searched before the global one (digits, Tab, q, ?, space, +/-), so a
 *     tab can take over a global key; the help screen (generated from the tables) then lists
 *     the tab's meaning only.
 *   - .mouse gets clicks and wheel events inside the body, with y/x relative to the body.
 */
#ifndef SONDE_TABS_H
#define SONDE_TABS_H

#include <stddef.h>
#include <curses.h>

#include "keys.h"

struct ui;

struct tab_entry {
	const char *name;       /* tab bar label ("Tasks") */
	int key;                /* the digit that selects it ('4') */
	void (*enter)(struct ui *ui);   /* optional: the tab becomes visible */
	void (*leave)(struct ui *ui);   /* optional: another tab becomes visible */
	/* optional: called every frame right after new replies were collected: react to them (a
	 * search that found its row, a followed task that moved) and fetch_want() what is on
	 * screen */
	void (*fetch)(struct ui *ui);
	void (*draw)(struct ui *ui, WINDOW *w, int height, int width);
	const struct key_table *keys;   /* optional: this tab's keys */
	/* optional: a mouse event in the body (y, x relative to it); bstate as from getmouse(),
	 * wheel events included. Returns KEYS_* flags like a key handler. */
	unsigned (*mouse)(struct ui *ui, int y, int x, unsigned long bstate);
	/* optional: a one-line hint drawn in the function bar after the keys */
	const char *(*status)(struct ui *ui, char *buf, size_t size);
};

/* The tabs, in tab-bar order, NULL-terminated. */
extern const struct tab_entry *const tab_table[];

/* Views that are not tabs but use the same descriptor: task detail and help (ui.c opens them). */
extern const struct tab_entry view_detail;
extern const struct tab_entry view_help;

/* Number of tabs in tab_table (the tab bar and Tab/Shift-Tab cycle through them). */
static inline size_t tabs_count(void)
{
	size_t n = 0;

	while (tab_table[n] != NULL)
		n++;
	return n;
}

/* Index of the tab a digit selects, or -1: digits stay stable whatever tabs are built in. */
static inline int tabs_find_key(int key)
{
	for (size_t i = 0; tab_table[i] != NULL; i++)
		if (tab_table[i]->key == key)
			return (int)i;
	return -1;
}

#endif
