/*
 * commands.c - the table of protocol commands. A command is one descriptor in its own file;
 * add it here, one line, in the order `help` lists them.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "proto.h"

extern const struct command_entry cmd_ping_entry;
extern const struct command_entry cmd_help_entry;
extern const struct command_entry cmd_alloc_entry;
extern const struct command_entry cmd_system_entry;
extern const struct command_entry cmd_threads_entry;
extern const struct command_entry cmd_tasks_entry;
extern const struct command_entry cmd_task_entry;
extern const struct command_entry cmd_tree_entry;
extern const struct command_entry cmd_prof_entry;
extern const struct command_entry cmd_history_entry;
/* @@extern: one `extern const struct command_entry cmd_X_entry;` per command above this line */

const struct command_entry *const command_table[] = {
	&cmd_ping_entry,
	&cmd_help_entry,
	&cmd_alloc_entry,
	&cmd_system_entry,
	&cmd_threads_entry,
	&cmd_tasks_entry,
	&cmd_task_entry,
	&cmd_tree_entry,
	&cmd_prof_entry,
	&cmd_history_entry,
	/* @@table: one `&cmd_X_entry,` per command above this line */
	NULL,
};

const struct command_entry *command_find(const char *name)
{
	for (const struct command_entry *const *e = command_table; *e != NULL; e++)
		if (strcmp((*e)->name, name) == 0)
			return *e;
	return NULL;
}

int cmd_fail(struct cmd_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}

/* ping: liveness and round-trip time; echoes "data" if given. */
static int cmd_ping_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {"data", NULL};
	const char *data;

	if (proto_check_keys(req, keys, err) != 0 ||
	    proto_arg_string(req, "data", NULL, 1024, &data, err) != 0)
		return -1;
	*result = json_pack("{s:b}", "pong", 1);
	if (data != NULL)
		json_object_set_new(*result, "data", json_string(data));
	return 0;
}

const struct command_entry cmd_ping_entry = {
	.name = "ping",
	.args = "[data=STRING]",
	.summary = "liveness check; echoes data",
	.exec = cmd_ping_exec,
};

/* help: the commands this agent knows, with their arguments, so scripts can discover them. */
static int cmd_help_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {NULL};
	json_t *list;

	if (proto_check_keys(req, keys, err) != 0)
		return -1;
	list = json_array();
	for (const struct command_entry *const *e = command_table; *e != NULL; e++)
		json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", (*e)->name, "args",
		                                      (*e)->args, "summary", (*e)->summary));
	*result = json_pack("{s:o}", "commands", list);
	return 0;
}

const struct command_entry cmd_help_entry = {
	.name = "help",
	.args = "",
	.summary = "list the commands this agent answers",
	.exec = cmd_help_exec,
};
