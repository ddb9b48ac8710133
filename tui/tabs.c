/*
 * tabs.c - the table of tabs, in tab-bar order. A tab is one descriptor in its own file
 * (tabs.h shows how to write one); add it here, one line above each marker.
 */
#include "config.h"

#include <stddef.h>

#include "tabs.h"

extern const struct tab_entry tab_system;
extern const struct tab_entry tab_tasks;
extern const struct tab_entry tab_tree;
extern const struct tab_entry tab_load;
extern const struct tab_entry tab_memory;
/* @@extern: one `extern const struct tab_entry tab_X;` per tab above this line */

const struct tab_entry *const tab_table[] = {
	&tab_system,
	&tab_load,
	&tab_memory,
	&tab_tasks,
	&tab_tree,
	/* @@table: one `&tab_X,` per tab above this line, in the order of their digit keys */
	NULL,
};
