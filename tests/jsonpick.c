/*
 * jsonpick.c - pick values out of a JSON document for shell tests, so they need neither jq nor
 * python (neither is a build dependency). Uses jansson, which sonde already requires.
 *
 *   jsonpick PATH... < doc.json
 *
 * prints each PATH's value on a line of its own: strings raw, numbers and booleans as JSON,
 * objects and arrays as compact JSON. A PATH is segments separated by '/':
 *   NAME        member of an object          (rows, inspect, top_key.1 — dots are plain)
 *   N           element N of an array        (rows/0/id)
 *   #           the size of an array or object
 *   *KEY=VALUE  the first object, searching the whole subtree depth-first, whose member KEY
 *               prints as VALUE               (*id=42/restarts)
 * Exit status: 0 all paths found, 1 some path missing (an empty line is printed for it),
 * 2 usage or the input is not JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* A scalar as the shell wants to compare it: no quotes on strings. Returns 0, -1 not scalar. */
static int jsonpick_scalar(const json_t *v, char *buf, size_t size)
{
	switch (json_typeof(v)) {
	case JSON_STRING: snprintf(buf, size, "%s", json_string_value(v)); return 0;
	case JSON_INTEGER: snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return 0;
	case JSON_REAL: snprintf(buf, size, "%.17g", json_real_value(v)); return 0;
	case JSON_TRUE: snprintf(buf, size, "true"); return 0;
	case JSON_FALSE: snprintf(buf, size, "false"); return 0;
	case JSON_NULL: snprintf(buf, size, "null"); return 0;
	default: return -1;
	}
}

/* Depth-first search for the first object whose member key prints as want. */
static json_t *jsonpick_find(json_t *v, const char *key, const char *want)
{
	char buf[256];
	if (json_is_object(v)) {
		json_t *m = json_object_get(v, key);
		if (m != NULL && jsonpick_scalar(m, buf, sizeof buf) == 0 && strcmp(buf, want) == 0)
			return v;
		const char *k;
		json_t *child;
		json_object_foreach(v, k, child) {
			json_t *hit = jsonpick_find(child, key, want);
			if (hit != NULL)
				return hit;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *child;
		json_array_foreach(v, i, child) {
			json_t *hit = jsonpick_find(child, key, want);
			if (hit != NULL)
				return hit;
		}
	}
	return NULL;
}

/* Follow one path; NULL when some segment does not exist. *size_out set for a '#' segment. */
static json_t *jsonpick_walk(json_t *root, const char *path, long long *size_out)
{
	char seg[512];
	json_t *v = root;
	*size_out = -1;
	while (v != NULL && *path != '\0') {
		size_t n = strcspn(path, "/");
		if (n >= sizeof seg)
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		path += n + (path[n] == '/');
		if (strcmp(seg, "#") == 0) {
			if (json_is_array(v))
				*size_out = (long long)json_array_size(v);
			else if (json_is_object(v))
				*size_out = (long long)json_object_size(v);
			else
				return NULL;
			return *path == '\0' ? v : NULL;
		}
		if (seg[0] == '*') {
			char *eq = strchr(seg + 1, '=');
			if (eq == NULL)
				return NULL;
			*eq = '\0';
			v = jsonpick_find(v, seg + 1, eq + 1);
		} else if (json_is_array(v)) {
			char *end;
			unsigned long i = strtoul(seg, &end, 10);
			v = end != seg && *end == '\0' ? json_array_get(v, i) : NULL;
		} else if (json_is_object(v)) {
			v = json_object_get(v, seg);
		} else {
			v = NULL;
		}
	}
	return v;
}

int main(int argc, char **argv)
{
	json_error_t err;
	int missing = 0;

	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: jsonpick PATH... < doc.json   (PATH: a/0/b, #, *key=value)\n");
		return 2;
	}
	json_t *root = json_loadf(stdin, 0, &err);
	if (root == NULL) {
		fprintf(stderr, "jsonpick: input is not JSON: line %d: %s\n", err.line, err.text);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		long long size;
		char buf[4096];
		json_t *v = jsonpick_walk(root, argv[i], &size);
		if (v == NULL) {
			missing = 1;
			putchar('\n');
		} else if (size >= 0) {
			printf("%lld\n", size);
		} else if (jsonpick_scalar(v, buf, sizeof buf) == 0) {
			printf("%s\n", buf);
		} else {
			char *s = json_dumps(v, JSON_COMPACT);
			printf("%s\n", s ? s : "");
			free(s);
		}
	}
	json_decref(root);
	return missing;
}
