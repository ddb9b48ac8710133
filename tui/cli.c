/*
 * cli.c - the non-screen subcommands of `sonde`: list, query, run. Each is one descriptor in
 * cli_table (cli.h), so `sonde --help` and the dispatcher read the same table.
 *
 * Exit codes (DESIGN.md): 0 ok, 1 the agent answered an error, 2 usage, 3 no agent reachable.
 */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "format.h"
#include "sockdir.h"

#define CLI_TIMEOUT_MS 10000

/* ---- target resolution (shared with the TUI's command line) ------------------------------ */

/* The socket directories `sonde` looks in, for messages: the agent's choice, and /tmp/sonde-UID
 * too when SONDE_DIR is not set (client_discover looks in both). */
static void cli_dirs_looked(char *buf, size_t size)
{
	char dir[256], other[64];
	char *ignored = NULL;
	const char *env = getenv("SONDE_DIR");

	if (sockdir_resolve(NULL, dir, sizeof dir, &ignored) != 0)
		snprintf(dir, sizeof dir, "?");
	free(ignored);
	snprintf(other, sizeof other, "/tmp/sonde-%lu", (unsigned long)getuid());
	if ((env == NULL || *env == '\0') && strcmp(dir, other) != 0)
		snprintf(buf, size, "%s and %s", dir, other);
	else
		snprintf(buf, size, "%s", dir);
}

int cli_resolve_target(pid_t pid, const char *path, char *out, size_t size, char **cause)
{
	struct agent_ref *refs;
	size_t n;

	if (path != NULL) {
		if (snprintf(out, size, "%s", path) >= (int)size) {
			*cause = xasprintf("socket path %s is too long", path);
			return CLI_EXIT_USAGE;
		}
		return 0;
	}
	if (pid > 0) {
		if (client_path_for_pid(pid, out, size, cause) != 0)
			return CLI_EXIT_NO_AGENT;
		if (access(out, F_OK) != 0) {
			int e = errno;
			free(*cause);
			if (e == EACCES) {
				*cause = xasprintf("cannot reach the socket of pid %ld (%s): permission denied: "
				                   "the agent belongs to another user; run sonde as the agent's "
				                   "user (or root)", (long)pid, out);
				return CLI_EXIT_NO_AGENT;
			}
			*cause = xasprintf("no agent for pid %ld (no socket %s): is it linked with libsonde "
			                   "or started with `sonde run`, as this user?", (long)pid, out);
			return CLI_EXIT_NO_AGENT;
		}
		return 0;
	}
	if (client_discover(&refs, &n, cause) != 0)
		return CLI_EXIT_NO_AGENT;
	if (n == 1) {
		snprintf(out, size, "%s", refs[0].path);
		free(refs);
		return 0;
	}
	if (n == 0) {
		char dir[600];
		cli_dirs_looked(dir, sizeof dir);
		*cause = xasprintf("no live agent for uid %lu (looked in %s): start a service linked "
		                   "with libsonde or run one with `sonde run -- PROGRAM`",
		                   (unsigned long)getuid(), dir);
		free(refs);
		return CLI_EXIT_NO_AGENT;
	}
	{
		char pids[256] = "";
		size_t used = 0;
		for (size_t i = 0; i < n && used < sizeof pids - 16; i++)
			used += (size_t)snprintf(pids + used, sizeof pids - used, "%s%ld (%s)",
			                         i ? ", " : "", (long)refs[i].pid, refs[i].name);
		*cause = xasprintf("%zu agents are live: %s; choose one with -p PID", n, pids);
	}
	free(refs);
	return CLI_EXIT_USAGE;
}

/* ---- human-readable rendering of a result --------------------------------------------------- */

static int cli_ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* One value as a person reads it: units from the key's suffix (DESIGN: every number its unit). */
static void cli_format_value(const char *key, const json_t *v, char *buf, size_t size)
{
	char tmp[FMT_SIZE];

	if (json_is_string(v)) {
		snprintf(buf, size, "%s", json_string_value(v));
	} else if (json_is_boolean(v)) {
		snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
	} else if (json_is_null(v)) {
		snprintf(buf, size, "-");
	} else if (json_is_number(v)) {
		double d = json_number_value(v);
		if (strcmp(key, "t") == 0 || strcmp(key, "started") == 0 || cli_ends_with(key, "_epoch_s")) {
			/* wall-clock seconds: a local time an operator can read */
			time_t secs = (time_t)d;
			struct tm tm;
			char when[32];
			if (localtime_r(&secs, &tm) != NULL &&
			    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm) > 0) {
				snprintf(buf, size, "%s.%03d", when, (int)((d - (double)secs) * 1000));
				return;
			}
		}
		if (cli_ends_with(key, "_delta") && strstr(key, "memory") != NULL)
			snprintf(buf, size, "%s", fmt_bytes_delta(tmp, sizeof tmp, d));
		else if (cli_ends_with(key, "_bytes") || strncmp(key, "memory", 6) == 0)
			snprintf(buf, size, "%s", fmt_bytes(tmp, sizeof tmp, d));
		else if (cli_ends_with(key, "_pct"))
			snprintf(buf, size, "%s", fmt_percent(tmp, sizeof tmp, d));
		else if (cli_ends_with(key, "_per_s"))
			snprintf(buf, size, "%s", fmt_rate(tmp, sizeof tmp, d));
		else if (cli_ends_with(key, "_us"))
			snprintf(buf, size, "%.1f us", d);
		else if (cli_ends_with(key, "_ns"))
			snprintf(buf, size, "%.0f ns", d);
		else if (cli_ends_with(key, "_s") && !json_is_integer(v))
			snprintf(buf, size, "%.2f s", d);
		else if (cli_ends_with(key, "_s"))
			snprintf(buf, size, "%.0f s", d);
		else if (cli_ends_with(key, "_ms"))
			snprintf(buf, size, "%.0f ms", d);
		else if (json_is_integer(v))
			snprintf(buf, size, "%lld", (long long)json_integer_value(v));
		else
			snprintf(buf, size, "%.3g", d);
	} else if (json_is_array(v)) {
		size_t used = 0;
		size_t i;
		const json_t *e;
		buf[0] = '\0';
		json_array_foreach(v, i, e) {
			char one[64];
			if (json_is_object(e) || json_is_array(e)) {
				snprintf(buf, size, "[%zu items]", json_array_size(v));
				return;
			}
			cli_format_value(key, e, one, sizeof one);
			used += (size_t)snprintf(buf + used, size > used ? size - used : 0, "%s%s",
			                         i ? ", " : "", one);
			if (used >= size)
				break;
		}
	} else {
		snprintf(buf, size, "{…}");
	}
}

static int cli_is_scalar(const json_t *v)
{
	return !json_is_object(v) && !(json_is_array(v) && json_array_size(v) > 0 &&
	                               json_is_object(json_array_get(v, 0)));
}

/* A table row: the object and its depth in a flattened tree. */
struct cli_row {
	const json_t *obj;
	int depth;
};

struct cli_rows {
	struct cli_row *v;
	size_t n, cap;
	int failed;
};

/* Rows of a table, flattening nested "children" arrays with indentation (trees); no copies. */
static void cli_collect_rows(const json_t *rows, int depth, struct cli_rows *out)
{
	size_t i;
	const json_t *row;

	json_array_foreach(rows, i, row) {
		const json_t *kids;

		if (!json_is_object(row))
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 64;
			struct cli_row *grown = realloc(out->v, cap * sizeof *grown);

			if (grown == NULL) {
				out->failed = 1;
				return;
			}
			out->v = grown;
			out->cap = cap;
		}
		out->v[out->n++] = (struct cli_row){row, depth};
		kids = json_object_get(row, "children");
		if (json_is_array(kids))
			cli_collect_rows(kids, depth + 1, out);
	}
}

/* Write s padded with spaces to width w (left or right aligned), cut at w when left aligned. */
static void cli_put_cell(FILE *out, const char *s, size_t len, size_t w, int right)
{
	if (!right && len > w)
		len = w;
	if (right)
		for (size_t k = len; k < w; k++)
			putc(' ', out);
	fwrite(s, 1, len, out);
	if (!right)
		for (size_t k = len; k < w; k++)
			putc(' ', out);
}

/* Print an array of objects as an aligned table; numbers right-aligned. Each cell is formatted
 * once into one text buffer (thousand-row replies are common: `sonde query threads` at 1000
 * threads), rows are referenced, not copied. */
static void cli_print_table(FILE *out, const json_t *rows)
{
	struct cli_rows flat = {0};
	const char **colname = NULL;
	size_t ncols = 0, nrows, i, j, textlen = 0, textcap = 0;
	size_t *width = NULL, *start = NULL;
	char *text = NULL;
	unsigned char *numeric = NULL;
	const char *key;
	json_t *v;

	cli_collect_rows(rows, 0, &flat);
	if (flat.failed)
		goto out;
	nrows = flat.n;
	/* Columns: scalar keys in the order the first rows give them. */
	for (i = 0; i < nrows && i < 8; i++) {
		json_object_foreach((json_t *)flat.v[i].obj, key, v) {
			int seen = 0;
			const char **grown;

			if (!cli_is_scalar(v))
				continue;
			for (j = 0; j < ncols && !seen; j++)
				seen = strcmp(colname[j], key) == 0;
			if (seen)
				continue;
			grown = realloc(colname, (ncols + 1) * sizeof *colname);
			if (grown == NULL)
				goto out;
			colname = grown;
			colname[ncols++] = key;
		}
	}
	width = calloc(ncols + 1, sizeof *width);
	start = calloc(nrows * ncols + 1, sizeof *start);
	numeric = calloc(nrows * ncols + 1, 1);
	if (width == NULL || start == NULL || numeric == NULL)
		goto out;
	for (j = 0; j < ncols; j++)
		width[j] = strlen(colname[j]);
	for (i = 0; i < nrows; i++) {
		int depth = flat.v[i].depth > 20 ? 20 : flat.v[i].depth;

		for (j = 0; j < ncols; j++) {
			const json_t *val = json_object_get(flat.v[i].obj, colname[j]);
			char cell[256];
			int n;
			size_t w;

			cli_format_value(colname[j], val ?: json_null(), cell, sizeof cell);
			if (textcap - textlen < sizeof cell + 48) {
				size_t cap = textcap ? textcap * 2 : 64 * 1024;
				char *grown = realloc(text, cap);

				if (grown == NULL)
					goto out;
				text = grown;
				textcap = cap;
			}
			if (strcmp(colname[j], "name") == 0 && depth > 0)
				n = snprintf(text + textlen, textcap - textlen, "%*s%.200s", 2 * depth, "",
				             cell);
			else
				n = snprintf(text + textlen, textcap - textlen, "%s", cell);
			start[i * ncols + j] = textlen;
			textlen += (size_t)n + 1;
			numeric[i * ncols + j] = json_is_number(val);
			w = (size_t)n;
			if (w > width[j])
				width[j] = w > 60 ? 60 : w;
		}
	}
	for (j = 0; j < ncols; j++) {
		if (j)
			fputs("  ", out);
		cli_put_cell(out, colname[j], strlen(colname[j]), width[j], 0);
	}
	putc('\n', out);
	for (i = 0; i < nrows; i++) {
		for (j = 0; j < ncols; j++) {
			const char *cell = text + start[i * ncols + j];

			if (j)
				fputs("  ", out);
			cli_put_cell(out, cell, strlen(cell), width[j], numeric[i * ncols + j]);
		}
		putc('\n', out);
	}
out:
	free(text);
	free(start);
	free(numeric);
	free(width);
	free(colname);
	free(flat.v);
}

/* Print an object: scalars as aligned "key  value" lines, sub-objects as indented sections,
 * arrays of objects as tables. */
static void cli_print_object(FILE *out, const json_t *obj, int indent)
{
	const char *key;
	json_t *v;
	int w = 0;
	char cell[1024];

	json_object_foreach((json_t *)obj, key, v)
		if (cli_is_scalar(v) && (int)strlen(key) > w)
			w = (int)strlen(key);
	json_object_foreach((json_t *)obj, key, v) {
		if (!cli_is_scalar(v))
			continue;
		cli_format_value(key, v, cell, sizeof cell);
		fprintf(out, "%*s%-*s  %s\n", indent, "", w, key, cell);
	}
	json_object_foreach((json_t *)obj, key, v) {
		if (json_is_object(v)) {
			fprintf(out, "%*s%s:\n", indent, "", key);
			cli_print_object(out, v, indent + 2);
		} else if (!cli_is_scalar(v)) {
			fprintf(out, "%*s%s (%zu):\n", indent, "", key, json_array_size(v));
			cli_print_table(out, v);
		}
	}
}

void cli_print_result(FILE *out, const json_t *result)
{
	if (json_is_object(result))
		cli_print_object(out, result, 0);
	else if (json_is_array(result))
		cli_print_table(out, result);
	else {
		char cell[256];
		cli_format_value("", result, cell, sizeof cell);
		fprintf(out, "%s\n", cell);
	}
}

/* ---- sonde list ---------------------------------------------------------------------------- */

static int cli_list(int argc, char **argv)
{
	struct agent_ref *refs;
	size_t n;
	char *cause = NULL;
	int json = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else {
			fprintf(stderr, "sonde list: unknown option %s\nusage: sonde list [--json]\n", argv[i]);
			return CLI_EXIT_USAGE;
		}
	}
	if (client_discover(&refs, &n, &cause) != 0) {
		fprintf(stderr, "sonde list: %s\n", cause);
		free(cause);
		return CLI_EXIT_NO_AGENT;
	}
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:I,s:s,s:o,s:s,s:b}", "pid",
			                                     (json_int_t)refs[i].pid, "name", refs[i].name,
			                                     "uptime_s", refs[i].uptime_s >= 0
			                                                     ? json_real(refs[i].uptime_s)
			                                                     : json_null(),
			                                     "socket", refs[i].path, "responding",
			                                     refs[i].uptime_s >= 0));
		json_dumpf(arr, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(arr);
	} else if (n == 0) {
		char dir[600];
		cli_dirs_looked(dir, sizeof dir);
		fprintf(stderr, "no live agents for uid %lu (socket directory %s)\n",
		        (unsigned long)getuid(), dir);
	} else {
		printf("%8s  %-20s  %9s  %s\n", "PID", "NAME", "UPTIME", "SOCKET");
		for (size_t i = 0; i < n; i++) {
			char up[FMT_SIZE];
			printf("%8ld  %-20s  %9s  %s\n", (long)refs[i].pid, refs[i].name,
			       refs[i].uptime_s >= 0 ? fmt_duration(up, sizeof up, refs[i].uptime_s) : "?",
			       refs[i].path);
		}
	}
	free(refs);
	free(cause);
	return CLI_EXIT_OK;
}

/* ---- sonde query --------------------------------------------------------------------------- */

/* KEY=VALUE → a JSON value: integers, reals, true/false/null, JSON arrays/objects, else string. */
static json_t *cli_parse_value(const char *s)
{
	char *end;
	long long n;
	double d;

	if (*s == '\0')
		return json_string("");
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno == 0 && *end == '\0')
		return json_integer(n);
	d = strtod(s, &end);
	if (*end == '\0' && isfinite(d))
		return json_real(d);
	if (strcmp(s, "true") == 0)
		return json_true();
	if (strcmp(s, "false") == 0)
		return json_false();
	if (strcmp(s, "null") == 0)
		return json_null();
	if (*s == '[' || *s == '{' || *s == '"') {
		/* '"8080"' is the string 8080: the way to send a number-like text (a port, an id in
		 * a name) to an argument that wants a string */
		json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
		if (v != NULL)
			return v;
	}
	return json_string(s);
}

/* After an agent error: how to send a value the agent wanted as a string (filter=8080). */
static void cli_query_hint(const char *code, const char *message)
{
	const char *q = strstr(message, "argument \""), *end;

	if (strcmp(code, "bad_argument") != 0 || q == NULL ||
	    strstr(message, "must be a string, not") == NULL)
		return;
	q += strlen("argument \"");
	end = strchr(q, '"');
	if (end != NULL)
		fprintf(stderr, "sonde query: to send a number as text, quote it in JSON: "
		        "%.*s='\"VALUE\"'\n", (int)(end - q), q);
}

static int cli_query(int argc, char **argv)
{
	const char *usage = "usage: sonde query [-p PID | -s PATH] [--json] CMD [KEY=VALUE ...]\n";
	const char *path = NULL, *cmd = NULL;
	pid_t pid = 0;
	int json = 0, i, rc;
	char sock[256], *cause = NULL, *code, *message;
	json_t *args = json_object(), *result;
	struct client *c;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end != '\0' || v <= 0) {
				fprintf(stderr, "sonde query: -p wants a process id, not \"%s\"\n%s", argv[i], usage);
				json_decref(args);
				return CLI_EXIT_USAGE;
			}
			pid = (pid_t)v;
		} else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (argv[i][0] == '-' && cmd == NULL) {
			fprintf(stderr, "sonde query: unknown option %s\n%s", argv[i], usage);
			json_decref(args);
			return CLI_EXIT_USAGE;
		} else if (cmd == NULL) {
			cmd = argv[i];
		} else {
			char *eq = strchr(argv[i], '=');
			if (eq == NULL || eq == argv[i]) {
				fprintf(stderr, "sonde query: argument \"%s\" is not KEY=VALUE\n%s", argv[i], usage);
				json_decref(args);
				return CLI_EXIT_USAGE;
			}
			*eq = '\0';
			json_object_set_new(args, argv[i], cli_parse_value(eq + 1));
			*eq = '=';
		}
	}
	if (cmd == NULL) {
		fprintf(stderr, "sonde query: which command? (try `sonde query help`)\n%s", usage);
		json_decref(args);
		return CLI_EXIT_USAGE;
	}
	if ((rc = cli_resolve_target(pid, path, sock, sizeof sock, &cause)) != 0) {
		fprintf(stderr, "sonde query: %s\n", cause);
		free(cause);
		json_decref(args);
		return rc;
	}
	c = client_connect(sock, CLI_TIMEOUT_MS, &cause);
	if (c == NULL) {
		fprintf(stderr, "sonde query: %s\n", cause);
		free(cause);
		json_decref(args);
		return CLI_EXIT_NO_AGENT;
	}
	rc = client_request(c, cmd, args, CLI_TIMEOUT_MS, &result, &code, &message);
	json_decref(args);
	client_close(c);
	if (rc < 0) {
		fprintf(stderr, "sonde query: %s\n", message);
		free(message);
		return CLI_EXIT_NO_AGENT;
	}
	if (rc > 0) {
		fprintf(stderr, "sonde query: %s: %s\n", code, message);
		cli_query_hint(code, message);
		free(code);
		free(message);
		return CLI_EXIT_AGENT_ERROR;
	}
	if (json)
		json_dumpf(result, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	else
		cli_print_result(stdout, result);
	if (json)
		fputc('\n', stdout);
	json_decref(result);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_AGENT_ERROR;
}

/* ---- sonde run ----------------------------------------------------------------------------- */

/* The libsonde.so to preload: $SONDE_LIB, else the build tree's when this sonde is the build
 * tree's, else the installed one. Absolute, so the loader finds it from any directory. */
static int cli_find_library(char *out, size_t size)
{
	const char *env = getenv("SONDE_LIB");
	char self[PATH_MAX];
	ssize_t n;

	if (env != NULL && *env != '\0') {
		snprintf(out, size, "%s", env);
		return access(out, R_OK);
	}
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		if (strncmp(self, BUILDDIR "/", strlen(BUILDDIR "/")) == 0) {
			snprintf(out, size, "%s/probes/.libs/libsonde.so", BUILDDIR);
			if (access(out, R_OK) == 0)
				return 0;
		}
	}
	snprintf(out, size, "%s/libsonde.so.0", LIBDIR);
	return access(out, R_OK);
}

/* Find PROGRAM the way execvp will. */
static int cli_which(const char *prog, char *out, size_t size)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;

	if (strchr(prog, '/') != NULL) {
		snprintf(out, size, "%s", prog);
		return access(out, X_OK);
	}
	copy = strdup(path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", *dir ? dir : ".", prog);
		if (access(out, X_OK) == 0) {
			free(copy);
			return 0;
		}
	}
	free(copy);
	return -1;
}

/* Can the dynamic loader preload into this file? Returns NULL, or why not. */
static const char *cli_preload_obstacle(const char *file)
{
	struct stat st;
	Elf64_Ehdr eh;
	int fd, has_interp = 0;

	if (stat(file, &st) != 0)
		return NULL;   /* execvp will report it */
	if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
	    ((st.st_mode & S_ISGID) && st.st_gid != getegid()))
		return "it is setuid/setgid, and the loader ignores LD_PRELOAD for such programs";
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (read(fd, &eh, sizeof eh) != (ssize_t)sizeof eh ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) {
		close(fd);
		return NULL;   /* a script: its interpreter is what gets observed */
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (Elf64_Off)i * eh.e_phentsize)) !=
		    (ssize_t)sizeof ph)
			break;
		if (ph.p_type == PT_INTERP)
			has_interp = 1;
	}
	close(fd);
	return has_interp ? NULL : "it is statically linked, so nothing can be preloaded into it";
}

/* The interpreter line of a script ("#!/usr/bin/env bash" gives "/usr/bin/env bash"), or 0. */
static int cli_script_interpreter(const char *file, char *out, size_t size)
{
	char head[256];
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, head, sizeof head - 1);
	close(fd);
	if (n < 3 || head[0] != '#' || head[1] != '!')
		return 0;
	head[n] = '\0';
	head[strcspn(head, "\n")] = '\0';
	snprintf(out, size, "%s", head + 2 + strspn(head + 2, " \t"));
	return 1;
}

static int cli_run(int argc, char **argv)
{
	const char *usage = "usage: sonde run [--name NAME] -- PROGRAM [ARGS ...]\n";
	const char *name = NULL, *why, *old;
	char lib[PATH_MAX], prog[PATH_MAX], interp[200];
	int i = 1;

	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "sonde run: unknown option %s\n%s", argv[i], usage);
			return CLI_EXIT_USAGE;
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "sonde run: which program?\n%s", usage);
		return CLI_EXIT_USAGE;
	}
	if (cli_find_library(lib, sizeof lib) != 0) {
		fprintf(stderr, "sonde run: cannot find libsonde.so (tried %s); install sonde or set "
		        "SONDE_LIB to its path\n", lib);
		return CLI_EXIT_NO_AGENT;
	}
	if (cli_which(argv[i], prog, sizeof prog) != 0) {
		fprintf(stderr, "sonde run: %s: command not found\n", argv[i]);
		return 127;
	}
	if ((why = cli_preload_obstacle(prog)) != NULL) {
		fprintf(stderr, "sonde run: cannot observe %s: %s; link it with libsonde and call "
		        "sonde_start() instead\n", prog, why);
		return CLI_EXIT_USAGE;
	}
	if (cli_script_interpreter(prog, interp, sizeof interp))
		/* Wrapper scripts and version-manager shims (pyenv, rbenv, nvm) usually end with
		 * `exec` of the real program: the agent lives in the interpreter and ends there. */
		fprintf(stderr, "sonde run: note: %s is a script: the agent runs in its interpreter "
		        "(%s) and ends if the script exec()s another program; to observe that "
		        "program, run its binary under `sonde run`\n", prog, interp);
	old = getenv("LD_PRELOAD");
	if (old != NULL && *old != '\0') {
		/* after what is there: a sanitizer runtime must stay first */
		char *both = xasprintf("%s:%s", old, lib);
		setenv("LD_PRELOAD", both, 1);
		free(both);
	} else {
		setenv("LD_PRELOAD", lib, 1);
	}
	setenv("SONDE_RUN", "1", 1);
	if (name != NULL)
		setenv("SONDE_RUN_NAME", name, 1);
	/* exec, not fork: the program keeps our pid, stdin/stdout, signals and exit status. */
	execv(prog, argv + i);
	fprintf(stderr, "sonde run: cannot execute %s: %s\n", prog, strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

const struct cli_command cli_table[] = {
	{"list", "sonde list [--json]", "live agents: pid, name, uptime, socket", cli_list},
	{"query", "sonde query [-p PID | -s PATH] [--json] CMD [KEY=VALUE ...]",
	 "one request; a readable table, or the raw JSON result with --json", cli_query},
	{"run", "sonde run [--name NAME] -- PROGRAM [ARGS ...]",
	 "run an unmodified program with the agent preloaded", cli_run},
	{NULL, NULL, NULL, NULL},
};
