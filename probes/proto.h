/*
 * proto.h - protocol v1 framing: one JSON request line in, one JSON reply line out, and the
 * argument readers every command uses so that wrong types get the same clear error everywhere.
 */
#ifndef SONDE_PROTO_H
#define SONDE_PROTO_H

#include <stddef.h>
#include <jansson.h>
#include "command.h"

#define PROTO_MAX_LINE (64 * 1024)   /* bytes in one request line, newline excluded */

/*
 * Handle one request line (without its newline; need not be NUL-terminated) and return the
 * reply line, newline-terminated, malloc()ed; *len gets its length. Never returns NULL unless
 * memory is exhausted. Any bytes at all are acceptable input: this is the fuzzing surface.
 */
char *proto_handle_line(const char *line, size_t len, size_t *reply_len);

/* An error reply line (newline-terminated, malloc()ed) for id (may be NULL = json null). */
char *proto_error_line(const json_t *id, const char *code, const char *message, size_t *len);

/* The greeting sent on connect. */
char *proto_greeting(size_t *len);

/*
 * Argument readers: key absent or null -> default; wrong type or out of range -> -1 with
 * ERR_BAD_ARGUMENT naming the key, what was given and what is accepted.
 */
int proto_arg_int(const json_t *req, const char *key, long long def, long long min, long long max,
                  long long *out, struct cmd_error *err);
int proto_arg_bool(const json_t *req, const char *key, int def, int *out, struct cmd_error *err);
/* *out points into req (valid while req lives), or is def. maxlen bytes at most. */
int proto_arg_string(const json_t *req, const char *key, const char *def, size_t maxlen,
                     const char **out, struct cmd_error *err);
/* choices is NULL-terminated; *out gets the index; def is an index (or -1 = required). */
int proto_arg_enum(const json_t *req, const char *key, const char *const *choices, int def,
                   int *out, struct cmd_error *err);
/* Reject keys that are not in the NULL-terminated list (besides "id" and "cmd"). */
int proto_check_keys(const json_t *req, const char *const *allowed, struct cmd_error *err);

#endif
