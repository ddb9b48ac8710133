/*
 * test_proto.c - protocol v1 framing (probes/proto.c) without a socket: every kind of bad request
 * gets exactly one reply line with the right error code, the request's id when it has a usable
 * one, and a message that says what to send instead; good requests get their result; the argument
 * readers refuse wrong types and ranges with messages naming the key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "command.h"
#include "proto.h"

/* Check the framing of one reply line (newline-terminated, exactly one newline, NUL after it,
 * ASCII only) and return it parsed. */
static json_t *test_parse_reply(char *line, size_t len)
{
	json_error_t jerr;
	json_t *reply;

	assert_non_null(line);
	assert_true(len > 1);
	assert_int_equal(strlen(line), len);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] >= 0x80)
			fail_msg("reply byte %zu is 0x%02x: replies must be ASCII (JSON_ENSURE_ASCII)", i,
			         (unsigned char)line[i]);
	reply = json_loadb(line, len - 1, 0, &jerr);
	if (reply == NULL)
		fail_msg("reply is not JSON (%s): %s", jerr.text, line);
	assert_true(json_is_object(reply));
	free(line);
	return reply;
}

/* Handle a request given as bytes and return the parsed reply. */
static json_t *test_request_bytes(const char *bytes, size_t n)
{
	size_t len = 0;
	char *line = proto_handle_line(bytes, n, &len);
	return test_parse_reply(line, len);
}

/* test_request_bytes for a C string. */
static json_t *test_request(const char *s)
{
	return test_request_bytes(s, strlen(s));
}

/* Assert the reply is an error with this code whose message contains hint; consumes reply. */
static void test_expect_error(json_t *reply, const char *code, const char *hint)
{
	json_t *err = json_object_get(reply, "error");
	const char *got_code, *message;

	assert_true(json_is_false(json_object_get(reply, "ok")));
	assert_null(json_object_get(reply, "result"));
	assert_true(json_is_object(err));
	got_code = json_string_value(json_object_get(err, "code"));
	message = json_string_value(json_object_get(err, "message"));
	assert_non_null(got_code);
	assert_non_null(message);
	if (strcmp(got_code, code) != 0)
		fail_msg("error code \"%s\", want \"%s\" (message: %s)", got_code, code, message);
	if (hint != NULL && strstr(message, hint) == NULL)
		fail_msg("error message \"%s\" does not mention \"%s\"", message, hint);
	json_decref(reply);
}

/* Assert the reply's id is null (the request had no usable id). */
static void test_expect_null_id(const json_t *reply)
{
	const json_t *id = json_object_get(reply, "id");
	assert_non_null(id);
	assert_true(json_is_null(id));
}

/* Assert the reply echoes this integer id. */
static void test_expect_int_id(const json_t *reply, long long want)
{
	const json_t *id = json_object_get(reply, "id");
	assert_true(json_is_integer(id));
	assert_int_equal(json_integer_value(id), want);
}

/* ---- good requests ------------------------------------------------------------------------- */

static void test_ping_ok(void **state)
{
	json_t *r = test_request("{\"id\":1,\"cmd\":\"ping\"}");

	(void)state;
	test_expect_int_id(r, 1);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_null(json_object_get(r, "error"));
	assert_true(json_is_true(json_object_get(json_object_get(r, "result"), "pong")));
	json_decref(r);
}

/* String ids and escaped, non-ASCII data survive the round trip. */
static void test_ping_echoes_data(void **state)
{
	json_t *r = test_request("{\"cmd\":\"ping\",\"data\":\"caf\\u00e9 \\\"q\\\"\",\"id\":\"abc\"}");

	(void)state;
	assert_string_equal(json_string_value(json_object_get(r, "id")), "abc");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "data")),
	                    "caf\xc3\xa9 \"q\"");
	json_decref(r);
}

/* Every accepted id form is echoed exactly. */
static void test_id_forms(void **state)
{
	char buf[512];
	json_t *r;

	(void)state;
	/* No id: answered, with id null. */
	r = test_request("{\"cmd\":\"ping\"}");
	test_expect_null_id(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	/* Explicit null, negative and huge integers are echoed exactly. */
	r = test_request("{\"id\":null,\"cmd\":\"ping\"}");
	test_expect_null_id(r);
	json_decref(r);
	r = test_request("{\"id\":-42,\"cmd\":\"ping\"}");
	test_expect_int_id(r, -42);
	json_decref(r);
	r = test_request("{\"id\":9223372036854775807,\"cmd\":\"ping\"}");
	test_expect_int_id(r, 9223372036854775807LL);
	json_decref(r);
	/* A 128-byte string id is the longest accepted. */
	snprintf(buf, sizeof buf, "{\"id\":\"%0128d\",\"cmd\":\"ping\"}", 7);
	r = test_request(buf);
	assert_int_equal(json_string_length(json_object_get(r, "id")), 128);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
}

/* Unusable ids get bad_request with id null (never a guess at the id). */
static void test_bad_ids(void **state)
{
	static const char *const bad[] = {
		"{\"id\":[1],\"cmd\":\"ping\"}",
		"{\"id\":{\"a\":1},\"cmd\":\"ping\"}",
		"{\"id\":1.5,\"cmd\":\"ping\"}",
		"{\"id\":true,\"cmd\":\"ping\"}",
		NULL,
	};
	char buf[512];
	json_t *r;

	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		r = test_request(bad[i]);
		test_expect_null_id(r);
		test_expect_error(r, ERR_BAD_REQUEST, "\"id\" must be an integer or a string");
	}
	snprintf(buf, sizeof buf, "{\"id\":\"%0129d\",\"cmd\":\"ping\"}", 7);
	r = test_request(buf);
	test_expect_null_id(r);
	test_expect_error(r, ERR_BAD_REQUEST, "128 bytes");
}

/* help lists exactly the command table, each with args and summary. */
static void test_help_lists_commands(void **state)
{
	json_t *r = test_request("{\"id\":3,\"cmd\":\"help\"}");
	json_t *cmds = json_object_get(json_object_get(r, "result"), "commands"), *e;
	size_t i, n = 0;
	int ping = 0, help = 0;

	(void)state;
	assert_true(json_is_array(cmds));
	json_array_foreach(cmds, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		assert_non_null(name);
		assert_true(json_is_string(json_object_get(e, "args")));
		assert_true(json_is_string(json_object_get(e, "summary")));
		assert_non_null(command_find(name));
		ping |= strcmp(name, "ping") == 0;
		help |= strcmp(name, "help") == 0;
		n++;
	}
	assert_true(ping && help);
	/* help lists exactly the command table. */
	{
		size_t table = 0;
		for (const struct command_entry *const *c = command_table; *c != NULL; c++)
			table++;
		assert_int_equal(n, table);
	}
	json_decref(r);
}

/* ---- bad requests ---------------------------------------------------------------------------- */

static void test_malformed_json(void **state)
{
	static const char *const bad[] = {
		"{",
		"{\"id\":1,\"cmd\":\"ping\"",
		"{\"id\":1,\"cmd\":ping}",
		"{'id':1}",
		"hello",
		"{\"id\":1,\"cmd\":\"ping\"} trailing",
		"{\"id\":1,\"cmd\":\"ping\"}{\"id\":2,\"cmd\":\"ping\"}",
		"{\"id\":1,\"id\":2,\"cmd\":\"ping\"}",     /* duplicate key: ambiguous, refused */
		"{\"id\":1,\"cmd\":\"pi\xffng\"}",          /* invalid UTF-8 */
		" ",
		NULL,
	};
	json_t *r;

	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		r = test_request(bad[i]);
		test_expect_null_id(r);
		test_expect_error(r, ERR_BAD_JSON, "one JSON object per line");
	}
	/* The position is reported so a person can find the mistake. */
	r = test_request("{\"id\":1,\"cmd\":ping}");
	test_expect_error(r, ERR_BAD_JSON, "at byte");
}

/* NUL bytes in a line never truncate it into a different, valid request. */
static void test_embedded_nul(void **state)
{
	static const char req[] = "{\"id\":1,\"cmd\":\"ping\"}\0{\"id\":2}";
	json_t *r;

	(void)state;
	/* A NUL inside the line must not truncate it silently into a valid request. */
	r = test_request_bytes(req, sizeof req - 1);
	test_expect_error(r, ERR_BAD_JSON, NULL);
	r = test_request_bytes("\0\0\0", 3);
	test_expect_error(r, ERR_BAD_JSON, NULL);
}

/* Only len bytes are read. */
static void test_not_nul_terminated(void **state)
{
	/* The agent passes a slice of its input buffer: bytes after len must not be read. */
	char buf[64];
	const char *req = "{\"id\":8,\"cmd\":\"ping\"}";
	size_t n = strlen(req);
	json_t *r;

	(void)state;
	memcpy(buf, req, n);
	memset(buf + n, '}', sizeof buf - n);
	r = test_request_bytes(buf, n);
	test_expect_int_id(r, 8);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
}

/* Valid JSON that is not an object gets bad_request, not bad_json. */
static void test_non_objects(void **state)
{
	static const char *const bad[] = {"[]", "[1,2]", "1", "-0.5", "\"ping\"", "null", "true",
	                                  NULL};
	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		json_t *r = test_request(bad[i]);
		test_expect_null_id(r);
		test_expect_error(r, ERR_BAD_REQUEST, "must be a JSON object");
	}
}

/* A missing or non-string cmd is bad_request, with the id echoed when there is one. */
static void test_missing_or_bad_cmd(void **state)
{
	json_t *r;

	(void)state;
	r = test_request("{}");
	test_expect_null_id(r);
	test_expect_error(r, ERR_BAD_REQUEST, "missing \"cmd\"");
	r = test_request("{\"id\":5}");
	test_expect_int_id(r, 5);
	test_expect_error(r, ERR_BAD_REQUEST, "missing \"cmd\"");
	r = test_request("{\"id\":6,\"cmd\":1}");
	test_expect_int_id(r, 6);
	test_expect_error(r, ERR_BAD_REQUEST, "\"cmd\" must be a string");
	r = test_request("{\"id\":7,\"cmd\":null}");
	test_expect_int_id(r, 7);
	test_expect_error(r, ERR_BAD_REQUEST, "\"cmd\" must be a string");
	r = test_request("{\"id\":7,\"cmd\":[\"ping\"]}");
	test_expect_error(r, ERR_BAD_REQUEST, "\"cmd\" must be a string");
}

/* unknown_command names what is known; the echo of the name is bounded. */
static void test_unknown_command(void **state)
{
	char *big, *line;
	size_t len;
	json_t *r;

	(void)state;
	r = test_request("{\"id\":9,\"cmd\":\"pong\"}");
	test_expect_int_id(r, 9);
	test_expect_error(r, ERR_UNKNOWN_COMMAND, "unknown command \"pong\"");
	/* The message lists what the agent does know, so the user can correct it. */
	r = test_request("{\"id\":9,\"cmd\":\"PING\"}");
	test_expect_error(r, ERR_UNKNOWN_COMMAND, "ping");
	r = test_request("{\"id\":9,\"cmd\":\"\"}");
	test_expect_error(r, ERR_UNKNOWN_COMMAND, "unknown command \"\"");
	/* A command name with an escaped NUL inside must not match "ping" (jansson refuses \u0000
	 * outright, which is as good). */
	r = test_request("{\"id\":9,\"cmd\":\"ping\\u0000x\"}");
	test_expect_error(r, ERR_BAD_JSON, "\\u0000");
	/* A 60 KB command name: the echo is cut, the reply stays small. */
	big = malloc(60000);
	assert_non_null(big);
	memcpy(big, "{\"id\":1,\"cmd\":\"", 15);
	memset(big + 15, 'x', 60000 - 18);
	memcpy(big + 60000 - 3, "\"}", 3);
	line = proto_handle_line(big, strlen(big), &len);
	assert_true(len < 1024);
	test_expect_error(test_parse_reply(line, len), ERR_UNKNOWN_COMMAND, "xxxxxxxx");
	free(big);
}

/* Misspelt arguments are refused, listing the accepted ones. */
static void test_unknown_argument(void **state)
{
	json_t *r;

	(void)state;
	r = test_request("{\"id\":2,\"cmd\":\"ping\",\"dta\":\"x\"}");
	test_expect_int_id(r, 2);
	test_expect_error(r, ERR_BAD_ARGUMENT, "unknown argument \"dta\"; accepted: data");
	r = test_request("{\"id\":2,\"cmd\":\"help\",\"verbose\":true}");
	test_expect_error(r, ERR_BAD_ARGUMENT, "takes no arguments");
}

/* Wrong types and sizes are refused, saying what is wanted. */
static void test_wrong_argument_types(void **state)
{
	static const char *const bad[] = {
		"{\"id\":4,\"cmd\":\"ping\",\"data\":1}",
		"{\"id\":4,\"cmd\":\"ping\",\"data\":true}",
		"{\"id\":4,\"cmd\":\"ping\",\"data\":[\"x\"]}",
		"{\"id\":4,\"cmd\":\"ping\",\"data\":{}}",
		"{\"id\":4,\"cmd\":\"ping\",\"data\":2.5}",
		NULL,
	};
	char *req;
	json_t *r;

	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		r = test_request(bad[i]);
		test_expect_int_id(r, 4);
		test_expect_error(r, ERR_BAD_ARGUMENT, "argument \"data\" must be a string, not");
	}
	r = test_request("{\"id\":4,\"cmd\":\"ping\",\"data\":\"a\\u0000b\"}");
	test_expect_error(r, ERR_BAD_JSON, "\\u0000");
	/* 1024 bytes of data are accepted, 1025 are not. */
	req = malloc(2048);
	assert_non_null(req);
	snprintf(req, 2048, "{\"id\":4,\"cmd\":\"ping\",\"data\":\"%01024d\"}", 0);
	r = test_request(req);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	snprintf(req, 2048, "{\"id\":4,\"cmd\":\"ping\",\"data\":\"%01025d\"}", 0);
	r = test_request(req);
	test_expect_error(r, ERR_BAD_ARGUMENT, "1025 bytes; at most 1024");
	free(req);
}

/* A valid ping request padded with spaces to exactly n bytes. */
static char *test_padded_ping(size_t n)
{
	static const char head[] = "{\"id\":77,\"cmd\":\"ping\"";
	char *s = malloc(n + 1);

	assert_non_null(s);
	assert_true(n > sizeof head);
	memcpy(s, head, sizeof head - 1);
	memset(s + sizeof head - 1, ' ', n - sizeof head);
	s[n - 1] = '}';
	s[n] = '\0';
	return s;
}

/* proto_handle_line enforces the 65536-byte limit itself, exactly. */
static void test_line_limit(void **state)
{
	char *s;
	json_t *r;

	(void)state;
	s = test_padded_ping(PROTO_MAX_LINE);
	r = test_request_bytes(s, PROTO_MAX_LINE);
	test_expect_int_id(r, 77);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	free(s);
	s = test_padded_ping(PROTO_MAX_LINE + 1);
	r = test_request_bytes(s, PROTO_MAX_LINE + 1);
	test_expect_null_id(r);
	test_expect_error(r, ERR_LINE_TOO_LONG, "65536 bytes");
	free(s);
}

/* Any bytes at all get exactly one well-formed reply line (the fuzz target's promise, here with
 * a fixed seed so a failure reproduces). */
static void test_random_bytes(void **state)
{
	unsigned seed = 12345;
	char buf[512];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof buf);
		json_t *r;
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)(rand_r(&seed) & 0xff);
		if (round % 4 == 1 && n > 2) {   /* mostly-JSON garbage reaches deeper */
			buf[0] = '{';
			buf[n - 1] = '}';
		}
		r = test_request_bytes(buf, n);
		assert_true(json_is_boolean(json_object_get(r, "ok")));
		if (json_is_false(json_object_get(r, "ok")))
			assert_true(json_is_string(json_object_get(json_object_get(r, "error"), "code")));
		json_decref(r);
	}
}

/*
 * Messages that quote the client's bytes must still be valid UTF-8, or jansson refuses to build
 * the reply and the client gets nothing. Found by fuzz_proto: jansson's own error text quotes
 * the bytes near the error, and "%.64s" cuts a multi-byte character in half.
 */
static void test_error_text_quoting_bad_utf8(void **state)
{
	static const char fuzz_found[] = {0x7b, 0x22, 0x63, 0x6d, 0x5c, (char)0xde, (char)0xbc, 0x22,
	                                  0x68, 0x65, 0x70, 0x22, 0x6c, 0x7d};
	char req[256];
	json_t *r;

	(void)state;
	r = test_request_bytes(fuzz_found, sizeof fuzz_found);
	test_expect_error(r, ERR_BAD_JSON, "malformed JSON");
	/* 63 ASCII bytes then a 2-byte character: the 64-byte cut falls inside it. */
	snprintf(req, sizeof req, "{\"id\":1,\"cmd\":\"%063d\xc3\xa9\"}", 0);
	r = test_request(req);
	test_expect_int_id(r, 1);
	test_expect_error(r, ERR_UNKNOWN_COMMAND, "unknown command");
	snprintf(req, sizeof req, "{\"id\":2,\"cmd\":\"ping\",\"%063d\xe2\x82\xac\":1}", 0);
	r = test_request(req);
	test_expect_int_id(r, 2);
	test_expect_error(r, ERR_BAD_ARGUMENT, "unknown argument");
}

/* ---- error lines ---------------------------------------------------------------------------- */

static void test_error_line(void **state)
{
	size_t len;
	json_t *id = json_integer(12), *r;
	char *line;

	(void)state;
	line = proto_error_line(id, ERR_TIMEOUT, "two\nlines and \"quotes\" and \xc3\xa9", &len);
	r = test_parse_reply(line, len);
	test_expect_int_id(r, 12);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"),
	                                                       "message")),
	                    "two\nlines and \"quotes\" and \xc3\xa9");
	test_expect_error(r, ERR_TIMEOUT, "two");
	json_decref(id);
	line = proto_error_line(NULL, ERR_TOO_MANY_CLIENTS, "full", &len);
	r = test_parse_reply(line, len);
	test_expect_null_id(r);
	test_expect_error(r, ERR_TOO_MANY_CLIENTS, "full");
}

/* ---- argument readers ------------------------------------------------------------------------ */

/* Requests built directly (JSON_ALLOW_NUL: commands may be handed such strings by other code). */
static json_t *test_obj(const char *s)
{
	json_t *o = json_loads(s, JSON_ALLOW_NUL, NULL);
	assert_non_null(o);
	return o;
}

/* Assert an argument reader failed with bad_argument and a message mentioning hint. */
static void test_expect_arg_error(int rc, const struct cmd_error *err, const char *hint)
{
	assert_int_equal(rc, -1);
	assert_non_null(err->code);
	assert_string_equal(err->code, ERR_BAD_ARGUMENT);
	if (strstr(err->message, hint) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", err->message, hint);
}

/* Integers: default, null, wrong types, inclusive bounds. */
static void test_arg_int(void **state)
{
	json_t *o = test_obj("{\"n\":5,\"z\":null,\"s\":\"5\",\"r\":5.0,\"lo\":-1,\"hi\":101,"
	                     "\"big\":9223372036854775807}");
	struct cmd_error err = {NULL, ""};
	long long v = 0;

	(void)state;
	assert_int_equal(proto_arg_int(o, "n", 1, 0, 100, &v, &err), 0);
	assert_int_equal(v, 5);
	assert_int_equal(proto_arg_int(o, "absent", 17, 0, 100, &v, &err), 0);
	assert_int_equal(v, 17);
	assert_int_equal(proto_arg_int(o, "z", 18, 0, 100, &v, &err), 0);
	assert_int_equal(v, 18);
	assert_null(err.code);
	test_expect_arg_error(proto_arg_int(o, "s", 1, 0, 100, &v, &err), &err,
	                      "argument \"s\" must be an integer from 0 to 100, not a string");
	test_expect_arg_error(proto_arg_int(o, "r", 1, 0, 100, &v, &err), &err,
	                      "not a real number");
	test_expect_arg_error(proto_arg_int(o, "lo", 1, 0, 100, &v, &err), &err,
	                      "argument \"lo\" is -1; it must be from 0 to 100");
	test_expect_arg_error(proto_arg_int(o, "hi", 1, 0, 100, &v, &err), &err, "is 101");
	test_expect_arg_error(proto_arg_int(o, "big", 1, 0, 100, &v, &err), &err,
	                      "9223372036854775807");
	/* Bounds are inclusive. */
	assert_int_equal(proto_arg_int(o, "n", 1, 5, 5, &v, &err), 0);
	json_decref(o);
}

/* Booleans: only true and false, not 1 or "true". */
static void test_arg_bool(void **state)
{
	json_t *o = test_obj("{\"t\":true,\"f\":false,\"i\":1,\"s\":\"true\"}");
	struct cmd_error err = {NULL, ""};
	int v = -1;

	(void)state;
	assert_int_equal(proto_arg_bool(o, "t", 0, &v, &err), 0);
	assert_int_equal(v, 1);
	assert_int_equal(proto_arg_bool(o, "f", 1, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(proto_arg_bool(o, "absent", 1, &v, &err), 0);
	assert_int_equal(v, 1);
	test_expect_arg_error(proto_arg_bool(o, "i", 0, &v, &err), &err,
	                      "argument \"i\" must be true or false, not an integer");
	test_expect_arg_error(proto_arg_bool(o, "s", 0, &v, &err), &err, "not a string");
	json_decref(o);
}

/* Strings: default, empty, length limit, NUL inside. */
static void test_arg_string(void **state)
{
	json_t *o = test_obj("{\"s\":\"abc\",\"n\":3,\"nul\":\"a\\u0000b\",\"e\":\"\"}");
	struct cmd_error err = {NULL, ""};
	const char *v = NULL;

	(void)state;
	assert_int_equal(proto_arg_string(o, "s", NULL, 3, &v, &err), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(proto_arg_string(o, "e", "def", 3, &v, &err), 0);
	assert_string_equal(v, "");
	assert_int_equal(proto_arg_string(o, "absent", "def", 3, &v, &err), 0);
	assert_string_equal(v, "def");
	test_expect_arg_error(proto_arg_string(o, "s", NULL, 2, &v, &err), &err,
	                      "argument \"s\" is 3 bytes; at most 2 are accepted");
	test_expect_arg_error(proto_arg_string(o, "n", NULL, 9, &v, &err), &err,
	                      "argument \"n\" must be a string, not an integer");
	test_expect_arg_error(proto_arg_string(o, "nul", NULL, 9, &v, &err), &err, "NUL character");
	json_decref(o);
}

/* Enums: index of the choice, default, required, exact case, choices listed. */
static void test_arg_enum(void **state)
{
	static const char *const sorts[] = {"memory", "reductions", "queue", NULL};
	json_t *o = test_obj("{\"sort\":\"queue\",\"bad\":\"size\",\"num\":2,\"up\":\"MEMORY\"}");
	struct cmd_error err = {NULL, ""};
	int v = -1;

	(void)state;
	assert_int_equal(proto_arg_enum(o, "sort", sorts, 0, &v, &err), 0);
	assert_int_equal(v, 2);
	assert_int_equal(proto_arg_enum(o, "absent", sorts, 1, &v, &err), 0);
	assert_int_equal(v, 1);
	test_expect_arg_error(proto_arg_enum(o, "absent", sorts, -1, &v, &err), &err,
	                      "argument \"absent\" is required: one of memory, reductions, queue");
	test_expect_arg_error(proto_arg_enum(o, "bad", sorts, 0, &v, &err), &err,
	                      "argument \"bad\" is \"size\"; it must be one of memory, reductions, "
	                      "queue");
	test_expect_arg_error(proto_arg_enum(o, "num", sorts, 0, &v, &err), &err,
	                      "must be one of memory, reductions, queue, not an integer");
	/* Matching is exact: case matters. */
	test_expect_arg_error(proto_arg_enum(o, "up", sorts, 0, &v, &err), &err, "\"MEMORY\"");
	json_decref(o);
}

/* Only listed keys (plus id and cmd) are accepted. */
static void test_check_keys(void **state)
{
	static const char *const allowed[] = {"sort", "limit", NULL};
	static const char *const none[] = {NULL};
	json_t *ok = test_obj("{\"id\":1,\"cmd\":\"x\",\"sort\":\"a\",\"limit\":2}");
	json_t *bad = test_obj("{\"id\":1,\"cmd\":\"x\",\"sort\":\"a\",\"limt\":2}");
	json_t *bare = test_obj("{\"id\":1,\"cmd\":\"x\"}");
	struct cmd_error err = {NULL, ""};

	(void)state;
	assert_int_equal(proto_check_keys(ok, allowed, &err), 0);
	assert_int_equal(proto_check_keys(bare, none, &err), 0);
	assert_null(err.code);
	test_expect_arg_error(proto_check_keys(bad, allowed, &err), &err,
	                      "unknown argument \"limt\"; accepted: sort, limit");
	test_expect_arg_error(proto_check_keys(ok, none, &err), &err, "takes no arguments");
	json_decref(ok);
	json_decref(bad);
	json_decref(bare);
}

/* One cmocka group (one TAP plan). */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_ok),
		cmocka_unit_test(test_ping_echoes_data),
		cmocka_unit_test(test_id_forms),
		cmocka_unit_test(test_bad_ids),
		cmocka_unit_test(test_help_lists_commands),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_not_nul_terminated),
		cmocka_unit_test(test_non_objects),
		cmocka_unit_test(test_missing_or_bad_cmd),
		cmocka_unit_test(test_unknown_command),
		cmocka_unit_test(test_unknown_argument),
		cmocka_unit_test(test_wrong_argument_types),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_error_text_quoting_bad_utf8),
		cmocka_unit_test(test_error_line),
		cmocka_unit_test(test_arg_int),
		cmocka_unit_test(test_arg_bool),
		cmocka_unit_test(test_arg_string),
		cmocka_unit_test(test_arg_enum),
		cmocka_unit_test(test_check_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
