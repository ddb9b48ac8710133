/*
 * main.c - `sonde`: the screen by default, or a subcommand from cli_table.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sonde.h"
#include "ui.h"

static void main_usage(FILE *out)
{
	fprintf(out,
	        "sonde %s - observe a running C service\n"
	        "\n"
	        "usage:\n"
	        "  sonde [options]                attach to the only live agent, or pick one\n"
	        "  sonde [options] PID            attach to that process's agent\n"
	        "  sonde [options] -p PID | -s PATH\n",
	        SONDE_VERSION);
	for (const struct cli_command *c = cli_table; c->name != NULL; c++)
		fprintf(out, "  %-62s\n      %s\n", c->usage, c->summary);
	fprintf(out,
	        "  sonde --help | --version\n"
	        "\n"
	        "screen options:\n"
	        "  -d TENTHS       refresh interval in tenths of a second (default 10 = 1 s)\n"
	        "  -n N            exit after N refreshes\n"
	        "  --theme NAME    colour theme (default, light, mono, high-contrast; $SONDE_THEME)\n"
	        "  --ascii         no Unicode box drawing or braille\n"
	        "\n"
	        "exit status: 0 ok, 1 the agent answered an error, 2 usage, 3 no agent reachable\n"
	        "environment: SONDE_DIR (socket directory), NO_COLOR, SONDE_THEME\n");
}

static int main_number(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "sonde: %s wants a whole number from %ld to %ld, not \"%s\"\n", opt, min,
		        max, s);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct ui_options opts = {.interval_ms = 1000};
	long v;

	if (argc > 1) {
		for (const struct cli_command *c = cli_table; c->name != NULL; c++)
			if (strcmp(argv[1], c->name) == 0)
				return c->run(argc - 1, argv + 1);
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			main_usage(stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			printf("sonde %s (protocol %d)\n", SONDE_VERSION, SONDE_PROTOCOL);
			return CLI_EXIT_OK;
		} else if (strcmp(a, "--ascii") == 0) {
			opts.ascii = 1;
		} else if (i + 1 < argc && (strcmp(a, "-p") == 0 || strcmp(a, "-s") == 0 ||
		                            strcmp(a, "-d") == 0 || strcmp(a, "-n") == 0 ||
		                            strcmp(a, "--theme") == 0)) {
			const char *val = argv[++i];
			if (strcmp(a, "-p") == 0) {
				if (main_number("-p", val, 1, 1L << 30, &v) != 0)
					return CLI_EXIT_USAGE;
				opts.pid = (pid_t)v;
			} else if (strcmp(a, "-s") == 0) {
				opts.socket_path = val;
			} else if (strcmp(a, "-d") == 0) {
				if (main_number("-d", val, 1, 600, &v) != 0)
					return CLI_EXIT_USAGE;
				opts.interval_ms = (unsigned)v * 100;
			} else if (strcmp(a, "-n") == 0) {
				if (main_number("-n", val, 1, 1L << 30, &v) != 0)
					return CLI_EXIT_USAGE;
				opts.iterations = v;
			} else {
				opts.theme = val;
			}
		} else if (strcmp(a, "-p") == 0 || strcmp(a, "-s") == 0 || strcmp(a, "-d") == 0 ||
		           strcmp(a, "-n") == 0 || strcmp(a, "--theme") == 0) {
			fprintf(stderr, "sonde: %s needs a value (see sonde --help)\n", a);
			return CLI_EXIT_USAGE;
		} else if (a[0] >= '1' && a[0] <= '9' && opts.pid == 0) {
			if (main_number("PID", a, 1, 1L << 30, &v) != 0)
				return CLI_EXIT_USAGE;
			opts.pid = (pid_t)v;
		} else {
			fprintf(stderr, "sonde: unknown argument \"%s\"\n\n", a);
			main_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	return ui_run(&opts);
}
