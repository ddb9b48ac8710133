/*
 * fuzz_proto.c - libFuzzer target over proto_handle_line(), the one function every byte a client
 * sends passes through. Built with --enable-fuzzing (CC=clang); run:
 *   ./tests/fuzz/fuzz_proto -max_total_time=60 -max_len=70000 \
 *       -dict=$(top_srcdir)/tests/fuzz/proto.dict CORPUS_DIR
 * where CORPUS_DIR starts as a copy of $(top_srcdir)/tests/fuzz/corpus (libFuzzer adds to it).
 * Checked beyond "no crash, no leak": every input gets exactly one reply line, newline-terminated,
 * that is a JSON object with a boolean "ok" (the protocol's promise to any client).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One request line, any bytes: one well-formed reply, no crash, no leak. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = 0;
	char *reply = proto_handle_line((const char *)data, size, &len);
	json_t *parsed;

	if (reply == NULL)
		abort();   /* only memory exhaustion may return NULL, and the fuzzer has memory */
	if (len == 0 || strlen(reply) != len || reply[len - 1] != '\n' ||
	    memchr(reply, '\n', len - 1) != NULL)
		abort();
	parsed = json_loadb(reply, len - 1, 0, NULL);
	if (!json_is_object(parsed) || !json_is_boolean(json_object_get(parsed, "ok")))
		abort();
	json_decref(parsed);
	free(reply);
	return 0;
}
