/*
 * command.h - one protocol command = one descriptor (tmux's cmd_entry). commands.c lists them all;
 * adding a command is adding a file with its descriptor and one line in that table.
 *
 * Commands run on the agent thread, one at a time, so they may read agent-owned state without
 * locks. They must not block: anything that can take long (an inspect callback, mallinfo2) runs
 * with a budget and reports its cost.
 */
#ifndef SONDE_COMMAND_H
#define SONDE_COMMAND_H

#include <jansson.h>

/* Error codes on the wire (doc/protocol.md lists them). */
#define ERR_BAD_JSON "bad_json"             /* the line is not JSON */
#define ERR_BAD_REQUEST "bad_request"       /* JSON, but not a request object */
#define ERR_UNKNOWN_COMMAND "unknown_command"
#define ERR_BAD_ARGUMENT "bad_argument"     /* missing, wrong type or out of range */
#define ERR_NOT_FOUND "not_found"           /* e.g. no such task */
#define ERR_LINE_TOO_LONG "line_too_long"
#define ERR_TOO_LARGE "reply_too_large"
#define ERR_UNSUPPORTED "unsupported"       /* e.g. jemalloc command on glibc malloc */
#define ERR_BUSY "busy"
#define ERR_TIMEOUT "timeout"
#define ERR_INTERNAL "internal"
#define ERR_PERMISSION "permission_denied"
#define ERR_TOO_MANY_CLIENTS "too_many_clients"

struct cmd_error {
	const char *code;      /* one of ERR_* (static) */
	char message[512];     /* names the cause and, where there is one, the fix */
};

/* Fill err and return -1, for `return cmd_fail(err, ERR_X, "...", ...);` */
int cmd_fail(struct cmd_error *err, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct command_entry {
	const char *name;
	const char *args;      /* one-line argument summary, for `help` and errors */
	const char *summary;   /* what it answers */
	/* req is the whole request object; on success set *result (a new reference) and return 0. */
	int (*exec)(const json_t *req, json_t **result, struct cmd_error *err);
};

const struct command_entry *command_find(const char *name);
/* NULL-terminated table, in help order. */
extern const struct command_entry *const command_table[];

#endif
