/*
 * cli.h - `sonde`'s subcommands other than the screen: one descriptor each in cli_table.
 */
#ifndef SONDE_CLI_H
#define SONDE_CLI_H

#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_AGENT_ERROR = 1,  /* the agent answered an error */
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_NO_AGENT = 3,     /* no agent reachable */
};

struct cli_command {
	const char *name;
	const char *usage;
	const char *summary;
	int (*run)(int argc, char **argv);   /* argv[0] is the subcommand's name */
};

extern const struct cli_command cli_table[];

/* The socket to use: path if given, else pid's, else the only live agent. 0, or an exit code
 * with *cause malloc()ed (naming the fix). */
int cli_resolve_target(pid_t pid, const char *path, char *out, size_t size, char **cause);

/* A result as a person reads it: key/value lines, tables for lists of rows, units on numbers. */
void cli_print_result(FILE *out, const json_t *result);

#endif
