/*
 * proto.c - protocol v1 framing (doc/protocol.md): one request line in, one reply line out.
 * Everything a client can send passes through proto_handle_line(), so it is written to take any
 * bytes at all and answer each with a precise error; it is the libFuzzer target.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "proto.h"
#include "sonde.h"

/* Serialise a reply object to one newline-terminated line; steals reply. */
static char *proto_dump_line(json_t *reply, size_t *len)
{
	char *s = json_dumps(reply, JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENSURE_ASCII);
	char *line;
	size_t n;

	json_decref(reply);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (line == NULL) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

/*
 * message with every non-ASCII byte replaced by '?'. Messages quote the client's bytes (jansson's
 * error text, "%.64s" of a name, which can cut a character in half); jansson refuses invalid
 * UTF-8, and then the client would get no reply at all (found by fuzz_proto).
 */
static char *proto_ascii_copy(const char *message)
{
	char *copy = strdup(message);

	if (copy != NULL)
		for (unsigned char *p = (unsigned char *)copy; *p != '\0'; p++)
			if (*p >= 0x80)
				*p = '?';
	return copy;
}

char *proto_error_line(const json_t *id, const char *code, const char *message, size_t *len)
{
	json_t *reply = json_pack("{s:O?,s:b,s:{s:s,s:s}}", "id", (json_t *)id, "ok", 0, "error",
	                          "code", code, "message", message);

	if (reply == NULL) {
		char *ascii = proto_ascii_copy(message);
		if (ascii != NULL)
			reply = json_pack("{s:O?,s:b,s:{s:s,s:s}}", "id", (json_t *)id, "ok", 0, "error",
			                  "code", code, "message", ascii);
		free(ascii);
	}
	return reply != NULL ? proto_dump_line(reply, len) : NULL;
}

char *proto_greeting(size_t *len)
{
	const struct agent_info *ai = agent_info();
	json_t *caps = json_array();

	for (const struct command_entry *const *e = command_table; *e != NULL; e++)
		json_array_append_new(caps, json_string((*e)->name));
	return proto_dump_line(
		json_pack("{s:i,s:I,s:s,s:s,s:f,s:f,s:o}", "sonde", SONDE_PROTOCOL, "pid",
		          (json_int_t)ai->pid, "name", ai->name, "agent", SONDE_VERSION, "started",
		          ai->started_epoch_s, "uptime_s",
		          (double)(agent_now_ns() - ai->started_ns) / 1e9, "caps", caps),
		len);
}

/* A request id is echoed as given: an integer or a short string; anything else is refused. */
static int proto_valid_id(const json_t *id)
{
	return id == NULL || json_is_null(id) || json_is_integer(id) ||
	       (json_is_string(id) && json_string_length(id) <= 128);
}

char *proto_handle_line(const char *line, size_t len, size_t *reply_len)
{
	json_error_t jerr;
	json_t *req, *id, *cmd, *result = NULL, *reply;
	const struct command_entry *entry;
	struct cmd_error err = {NULL, ""};
	char *out;

	if (len > PROTO_MAX_LINE)
		return proto_error_line(NULL, ERR_LINE_TOO_LONG,
		                        "request line longer than 65536 bytes; send smaller requests",
		                        reply_len);
	/* DECODE_ANY: a bare 1 or "ping" is valid JSON, so it gets bad_request ("must be an
	 * object"), not a misleading bad_json. */
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (req == NULL) {
		char msg[300];
		snprintf(msg, sizeof msg, "malformed JSON at byte %d: %s; send one JSON object per line",
		         jerr.position, jerr.text);
		return proto_error_line(NULL, ERR_BAD_JSON, msg, reply_len);
	}
	if (!json_is_object(req)) {
		json_decref(req);
		return proto_error_line(NULL, ERR_BAD_REQUEST,
		                        "a request must be a JSON object like {\"id\":1,\"cmd\":\"ping\"}",
		                        reply_len);
	}
	id = json_object_get(req, "id");
	if (!proto_valid_id(id)) {
		json_decref(req);
		return proto_error_line(NULL, ERR_BAD_REQUEST,
		                        "\"id\" must be an integer or a string of at most 128 bytes",
		                        reply_len);
	}
	cmd = json_object_get(req, "cmd");
	if (!json_is_string(cmd)) {
		out = proto_error_line(id, ERR_BAD_REQUEST,
		                       cmd == NULL ? "missing \"cmd\"; try {\"id\":1,\"cmd\":\"help\"}"
		                                   : "\"cmd\" must be a string; try \"help\"",
		                       reply_len);
		json_decref(req);
		return out;
	}
	entry = command_find(json_string_value(cmd));
	if (entry == NULL) {
		char msg[300], known[200] = "";
		size_t used = 0;
		for (const struct command_entry *const *e = command_table; *e != NULL; e++) {
			int n = snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "",
			                 (*e)->name);
			if (n < 0 || (size_t)n >= sizeof known - used)
				break;
			used += (size_t)n;
		}
		snprintf(msg, sizeof msg, "unknown command \"%.64s\"; this agent knows: %s",
		         json_string_value(cmd), known);
		out = proto_error_line(id, ERR_UNKNOWN_COMMAND, msg, reply_len);
		json_decref(req);
		return out;
	}
	if (entry->exec(req, &result, &err) != 0 || result == NULL) {
		if (err.code == NULL)
			cmd_fail(&err, ERR_INTERNAL, "command %s failed without saying why", entry->name);
		out = proto_error_line(id, err.code, err.message, reply_len);
		json_decref(result);
		json_decref(req);
		return out;
	}
	reply = json_pack("{s:O?,s:b,s:o}", "id", id, "ok", 1, "result", result);
	if (reply == NULL) {
		json_decref(req);
		return NULL;
	}
	out = proto_dump_line(reply, reply_len);
	/* Too big for the client's output cap: say so here, where the request's id is known (an
	 * id-null error reads to a client as the agent closing it). */
	if (out != NULL && agent_info()->output_cap_bytes > 0 &&
	    *reply_len > agent_info()->output_cap_bytes) {
		char msg[200];
		snprintf(msg, sizeof msg, "reply of %zu bytes exceeds the %zu-byte output cap; ask for "
		         "less (limit, depth)", *reply_len, agent_info()->output_cap_bytes);
		free(out);
		out = proto_error_line(id, ERR_TOO_LARGE, msg, reply_len);
	}
	json_decref(req);
	return out;
}

/* ---- argument readers ------------------------------------------------------------------- */

static const char *proto_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

int proto_arg_int(const json_t *req, const char *key, long long def, long long min, long long max,
                  long long *out, struct cmd_error *err)
{
	const json_t *v = json_object_get(req, key);
	long long n;

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"%s\" must be an integer from %lld to "
		                "%lld, not %s", key, min, max, proto_type_name(v));
	n = json_integer_value(v);
	if (n < min || n > max)
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"%s\" is %lld; it must be from %lld "
		                "to %lld", key, n, min, max);
	*out = n;
	return 0;
}

int proto_arg_bool(const json_t *req, const char *key, int def, int *out, struct cmd_error *err)
{
	const json_t *v = json_object_get(req, key);

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"%s\" must be true or false, not %s",
		                key, proto_type_name(v));
	*out = json_is_true(v);
	return 0;
}

int proto_arg_string(const json_t *req, const char *key, const char *def, size_t maxlen,
                     const char **out, struct cmd_error *err)
{
	const json_t *v = json_object_get(req, key);

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_string(v))
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"%s\" must be a string, not %s", key,
		                proto_type_name(v));
	if (json_string_length(v) > maxlen)
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"%s\" is %zu bytes; at most %zu are "
		                "accepted", key, json_string_length(v), maxlen);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"%s\" contains a NUL character", key);
	*out = json_string_value(v);
	return 0;
}

int proto_arg_enum(const json_t *req, const char *key, const char *const *choices, int def,
                   int *out, struct cmd_error *err)
{
	const json_t *v = json_object_get(req, key);
	char list[256] = "";
	size_t used = 0;

	if (v == NULL || json_is_null(v)) {
		if (def < 0)
			goto bad;
		*out = def;
		return 0;
	}
	if (json_is_string(v))
		for (int i = 0; choices[i] != NULL; i++)
			if (strcmp(choices[i], json_string_value(v)) == 0) {
				*out = i;
				return 0;
			}
bad:
	for (int i = 0; choices[i] != NULL; i++) {
		int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", choices[i]);
		if (n < 0 || (size_t)n >= sizeof list - used)
			break;
		used += (size_t)n;
	}
	if (v == NULL || json_is_null(v))
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"%s\" is required: one of %s", key,
		                list);
	if (!json_is_string(v))
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"%s\" must be one of %s, not %s", key,
		                list, proto_type_name(v));
	return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"%s\" is \"%.64s\"; it must be one of %s",
	                key, json_string_value(v), list);
}

int proto_check_keys(const json_t *req, const char *const *allowed, struct cmd_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)req, key, v) {
		int ok = strcmp(key, "id") == 0 || strcmp(key, "cmd") == 0;
		for (int i = 0; !ok && allowed[i] != NULL; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok) {
			char list[256] = "";
			size_t used = 0;
			for (int i = 0; allowed[i] != NULL; i++) {
				int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
				                 allowed[i]);
				if (n < 0 || (size_t)n >= sizeof list - used)
					break;
				used += (size_t)n;
			}
			if (used == 0)
				return cmd_fail(err, ERR_BAD_ARGUMENT, "unknown argument \"%.64s\"; this "
				                "command takes no arguments", key);
			return cmd_fail(err, ERR_BAD_ARGUMENT, "unknown argument \"%.64s\"; accepted: %s",
			                key, list);
		}
	}
	return 0;
}
