/*
 * cmdrun.h - run one agent command in the test's own process, as the agent thread would: the
 * request given as JSON text, the exec function of its command table entry called directly.
 * Shared by the command tests (included after cmocka.h's prerequisites; header-only).
 */
#ifndef SONDE_TESTS_CMDRUN_H
#define SONDE_TESTS_CMDRUN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "command.h"

/* Run e on the request text: its result, or NULL with *err filled in (a failed command must
 * leave no result). A request text that is not JSON fails the test. */
static inline json_t *cmdrun(const struct command_entry *e, struct cmd_error *err,
                             const char *text)
{
	json_error_t jerr;
	json_t *req = json_loads(text, 0, &jerr), *result = NULL;
	int rc;

	if (req == NULL)
		fail_msg("not JSON: %s (%s)", text, jerr.text);
	memset(err, 0, sizeof *err);
	rc = e->exec(req, &result, err);
	json_decref(req);
	if (rc != 0) {
		assert_null(result);
		assert_non_null(err->code);
		return NULL;
	}
	assert_non_null(result);
	return result;
}

/* cmdrun with the request text made from a printf format. */
static inline json_t *cmdrun_v(const struct command_entry *e, struct cmd_error *err,
                               const char *fmt, va_list ap)
{
	char text[1024];

	vsnprintf(text, sizeof text, fmt, ap);
	return cmdrun(e, err, text);
}

#endif
