/*
 * client.h - the `sonde` program's side of protocol v1: find agents, connect, send a request,
 * read its reply. Used by the CLI (blocking, one request) and by the TUI (from its fetch thread,
 * so the screen never waits on the socket).
 */
#ifndef SONDE_CLIENT_H
#define SONDE_CLIENT_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

struct client;

/* A live agent found in the socket directory. */
struct agent_ref {
	pid_t pid;
	char path[108];
	char name[64];
	double uptime_s;      /* from the greeting; -1 if it did not answer */
};

/* Every live agent of ours (stale sockets skipped; one that does not answer in 500 ms is listed
 * as "(not responding)" with uptime_s -1), sorted by pid. *refs malloc()ed.
 * Returns 0, or -1 with *cause malloc()ed (e.g. the directory is unsafe). */
int client_discover(struct agent_ref **refs, size_t *n, char **cause);

/* The socket path for a pid (whether or not it exists). -1 with *cause if it cannot be built. */
int client_path_for_pid(pid_t pid, char *buf, size_t size, char **cause);

/* Connect and read the greeting, waiting at most timeout_ms. NULL with *cause malloc()ed
 * (naming the cause and the fix) if the agent cannot be reached or refuses us. */
struct client *client_connect(const char *path, int timeout_ms, char **cause);

/* The greeting object (owned by the client). */
const json_t *client_greeting(const struct client *c);

/*
 * Send {"id":N,"cmd":cmd, ...args} (args may be NULL; its keys are copied) and wait at most
 * timeout_ms for the reply with that id.
 *   0: *result is the "result" object (new reference);
 *   1: the agent answered an error: *code and *message malloc()ed;
 *  -1: transport failure (closed, timeout, garbage): *message malloc()ed; the client is dead.
 */
int client_request(struct client *c, const char *cmd, const json_t *args, int timeout_ms,
                   json_t **result, char **code, char **message);

/* Is the connection still usable? */
int client_alive(const struct client *c);

void client_close(struct client *c);

#endif
