/*
 * sockdir.h - where agents' sockets live and how safe that place is. Shared by the agent (which
 * creates and binds) and the `sonde` program (which lists and connects).
 *
 * Directory: $SONDE_DIR, else $XDG_RUNTIME_DIR/sonde, else /tmp/sonde-UID. It must be a real
 * directory (not a symlink) owned by us with no group/other permissions; otherwise it is refused
 * as unsafe, the way tmux refuses its socket directory. Sockets are DIR/PID.sock.
 */
#ifndef SONDE_SOCKDIR_H
#define SONDE_SOCKDIR_H

#include <stddef.h>
#include <sys/types.h>

/* Resolve the directory path (override may be NULL). Returns 0, or -1 with *cause malloc()ed. */
int sockdir_resolve(const char *override, char *buf, size_t size, char **cause);

/* Create (if missing, mode 0700) and check the directory. 0, or -1 with *cause malloc()ed. */
int sockdir_prepare(const char *dir, char **cause);

/* Check an existing directory without creating it. 0, or -1 with *cause malloc()ed. */
int sockdir_check(const char *dir, char **cause);

/* DIR/PID.sock into buf; -1 (with *cause) if it does not fit a sockaddr_un. */
int sockdir_socket_path(const char *dir, pid_t pid, char *buf, size_t size, char **cause);

/* The pid in a socket file name "PID.sock", or -1 if the name is not one. */
pid_t sockdir_parse_name(const char *name);

/* Is pid alive (kill(pid, 0) succeeds or fails with EPERM)? */
int sockdir_pid_alive(pid_t pid);

/* Remove sockets of dead pids in dir; returns how many were removed. */
int sockdir_sweep(const char *dir);

/* asprintf for causes; NULL when memory is exhausted (never aborts: it runs in the host). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
