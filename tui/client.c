/*
 * client.c - the `sonde` program's side of protocol v1 (doc/protocol.md): finding agents in the
 * socket directory, connecting, one request and its reply with a deadline. Blocking with
 * timeouts by design: the CLI wants exactly that, and the TUI calls it from its fetch thread.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "sockdir.h"

/* How long `sonde list` waits for one agent's greeting before calling it "not responding": long
 * enough for a busy host on a loaded machine, short enough for a list of stuck ones. */
#define CLIENT_DISCOVER_TIMEOUT_MS 1500

struct client {
	int fd;
	json_t *greeting;
	char *buf;          /* received, not yet parsed */
	size_t len, cap;
	long long next_id;
};

static long long client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read one line (without its newline) by the deadline; malloc()ed, or NULL with *cause. */
static char *client_read_line(struct client *c, long long deadline_ms, char **cause)
{
	for (;;) {
		char *nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		long long left;
		ssize_t n;
		int rc;

		if (nl != NULL) {
			size_t l = (size_t)(nl - c->buf);
			char *line = malloc(l + 1);
			if (line == NULL) {
				*cause = xasprintf("out of memory reading a reply of %zu bytes", l);
				return NULL;
			}
			memcpy(line, c->buf, l);
			line[l] = '\0';
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return line;
		}
		if (c->cap - c->len < 65536) {
			size_t ncap = c->cap ? c->cap * 2 : 131072;
			char *nb = realloc(c->buf, ncap);
			if (nb == NULL) {
				*cause = xasprintf("out of memory reading a reply");
				return NULL;
			}
			c->buf = nb;
			c->cap = ncap;
		}
		left = deadline_ms - client_now_ms();
		if (left <= 0) {
			*cause = xasprintf("no answer from the agent within the time limit");
			return NULL;
		}
		rc = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			*cause = xasprintf("poll: %s", strerror(errno));
			return NULL;
		}
		if (rc == 0)
			continue;
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*cause = xasprintf("the agent closed the connection%s%s", n < 0 ? ": " : "",
			                   n < 0 ? strerror(errno) : "");
			return NULL;
		}
		c->len += (size_t)n;
	}
}

static int client_write_all(struct client *c, const char *s, size_t len, long long deadline_ms,
                            char **cause)
{
	while (len > 0) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			s += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			*cause = xasprintf("cannot send to the agent: %s", strerror(errno));
			return -1;
		}
		long long left = deadline_ms - client_now_ms();
		if (left <= 0) {
			*cause = xasprintf("the agent is not reading our request (timed out)");
			return -1;
		}
		poll(&pfd, 1, (int)left);
	}
	return 0;
}

/* Is the process named by a socket path (DIR/PID.sock) alive? */
static int client_path_pid_alive(const char *path)
{
	const char *base = strrchr(path, '/');
	pid_t pid = sockdir_parse_name(base != NULL ? base + 1 : path);

	return pid > 0 && sockdir_pid_alive(pid);
}

/*
 * connect() on a non-blocking socket, retried until the deadline while the agent's listen queue
 * is full (EAGAIN: a Unix socket never answers EINPROGRESS). A blocking connect() would wait
 * there forever: a stopped or hung host with a full queue hung `sonde list` for every agent.
 * The socket is blocking again afterwards. 0, or -1 with errno.
 */
static int client_connect_by(int fd, const struct sockaddr_un *sa, long long deadline_ms)
{
	int flags;

	while (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || client_now_ms() >= deadline_ms)
			return -1;
		poll(NULL, 0, 20);
	}
	flags = fcntl(fd, F_GETFL);
	return flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ? -1 : 0;
}

/* client_connect; *unresponsive says the agent is there but does not answer (its queue is full
 * or it sent no greeting in time), as opposed to gone, refused or not an agent. */
static struct client *client_connect_ex(const char *path, int timeout_ms, char **cause,
                                        int *unresponsive)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	long long deadline_ms = client_now_ms() + timeout_ms;
	struct client *c;
	json_error_t jerr;
	char *line;
	json_t *err;

	if (strlen(path) >= sizeof sa.sun_path) {
		*cause = xasprintf("socket path %s is too long for a Unix socket", path);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		*cause = xasprintf("out of memory");
		return NULL;
	}
	c->next_id = 1;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0 || client_connect_by(c->fd, &sa, deadline_ms) != 0) {
		int e = errno;
		*unresponsive = e == EAGAIN;
		if (e == EAGAIN)
			*cause = xasprintf("the agent at %s is not accepting connections (its queue is "
			                   "full): the process is stopped or hung, or its agent thread is "
			                   "stuck; check it with `ps -o stat,wchan -p PID`", path);
		else if (e == ENOENT)
			*cause = xasprintf("no agent socket at %s: is the process linked with libsonde or "
			                   "started with `sonde run`, as this user?", path);
		else if (e == EACCES || e == EPERM)
			*cause = xasprintf("cannot connect to %s: permission denied: the agent belongs to "
			                   "another user; run sonde as the agent's user (or root)", path);
		else if (e == ECONNREFUSED && client_path_pid_alive(path))
			*cause = xasprintf("nothing listens on %s, yet its process is alive: its agent "
			                   "stopped (it exec()ed another program -- a wrapper script or "
			                   "shim started under `sonde run` does -- or it closed the "
			                   "agent's descriptors; see its stderr); run the service's own "
			                   "binary under `sonde run`, or call sonde_start() in it", path);
		else if (e == ECONNREFUSED)
			*cause = xasprintf("nothing listens on %s (the process exited without removing "
			                   "its socket?)", path);
		else
			*cause = xasprintf("cannot connect to %s: %s", path, strerror(e));
		client_close(c);
		return NULL;
	}
	line = client_read_line(c, deadline_ms, cause);
	if (line == NULL) {
		char *inner = *cause;
		*unresponsive = client_now_ms() >= deadline_ms;
		*cause = xasprintf("agent at %s did not greet us: %s", path, inner);
		free(inner);
		client_close(c);
		return NULL;
	}
	c->greeting = json_loads(line, 0, &jerr);
	free(line);
	if (c->greeting != NULL && (err = json_object_get(c->greeting, "error")) != NULL) {
		*cause = xasprintf("agent at %s refused us: %s", path,
		                   json_string_value(json_object_get(err, "message")));
		client_close(c);
		return NULL;
	}
	if (!json_is_object(c->greeting) || !json_is_integer(json_object_get(c->greeting, "sonde"))) {
		*cause = xasprintf("%s does not speak the sonde protocol (bad greeting)", path);
		client_close(c);
		return NULL;
	}
	return c;
}

struct client *client_connect(const char *path, int timeout_ms, char **cause)
{
	int unresponsive = 0;

	return client_connect_ex(path, timeout_ms, cause, &unresponsive);
}

const json_t *client_greeting(const struct client *c)
{
	return c->greeting;
}

int client_alive(const struct client *c)
{
	return c != NULL && c->fd >= 0;
}

static void client_kill(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int client_request(struct client *c, const char *cmd, const json_t *args, int timeout_ms,
                   json_t **result, char **code, char **message)
{
	long long deadline = client_now_ms() + timeout_ms;
	const json_t *given = args != NULL ? json_object_get(args, "id") : NULL;
	/* An "id" among the arguments is the request id, so `sonde query task id=31` asks for task
	 * 31 (the `task` command reads the request's id when no "task" argument is given). */
	long long id = json_is_integer(given) ? (long long)json_integer_value(given) : c->next_id++;
	json_t *req = json_object();
	const char *key;
	json_t *v;
	char *s;
	int rc;

	*result = NULL;
	*code = *message = NULL;
	if (c->fd < 0) {
		*message = xasprintf("not connected");
		json_decref(req);
		return -1;
	}
	if (args != NULL)
		json_object_foreach((json_t *)args, key, v)
			json_object_set(req, key, v);
	json_object_set_new(req, "id", json_integer(id));
	json_object_set_new(req, "cmd", json_string(cmd));
	s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (s == NULL) {
		*message = xasprintf("cannot encode the request");
		return -1;
	}
	{
		size_t n = strlen(s);
		char *line = realloc(s, n + 2);
		if (line == NULL) {
			free(s);
			*message = xasprintf("out of memory");
			return -1;
		}
		line[n] = '\n';
		line[n + 1] = '\0';
		rc = client_write_all(c, line, n + 1, deadline, message);
		free(line);
	}
	if (rc != 0) {
		client_kill(c);
		return -1;
	}
	for (;;) {
		json_error_t jerr;
		char *line = client_read_line(c, deadline, message);
		json_t *reply, *rid, *err;

		if (line == NULL) {
			client_kill(c);
			return -1;
		}
		reply = json_loads(line, 0, &jerr);
		free(line);
		if (!json_is_object(reply)) {
			json_decref(reply);
			*message = xasprintf("the agent sent something that is not a reply object");
			client_kill(c);
			return -1;
		}
		rid = json_object_get(reply, "id");
		err = json_object_get(reply, "error");
		if (json_is_integer(rid) && json_integer_value(rid) == id) {
			if (json_is_true(json_object_get(reply, "ok"))) {
				*result = json_incref(json_object_get(reply, "result"));
				json_decref(reply);
				return 0;
			}
			*code = strdup(json_string_value(json_object_get(err, "code")) ?: "unknown");
			*message = strdup(json_string_value(json_object_get(err, "message")) ?: "");
			json_decref(reply);
			return 1;
		}
		if (json_is_null(rid) && err != NULL) {
			/* An error not tied to a request: the agent is closing us (idle, cap). */
			*message = xasprintf("agent: %s",
			                     json_string_value(json_object_get(err, "message")) ?: "error");
			json_decref(reply);
			client_kill(c);
			return -1;
		}
		json_decref(reply);  /* a reply to an earlier, abandoned request */
	}
}

void client_close(struct client *c)
{
	if (c == NULL)
		return;
	client_kill(c);
	json_decref(c->greeting);
	free(c->buf);
	free(c);
}

/*
 * The other place an agent of ours may be: the agent picks $XDG_RUNTIME_DIR/sonde when its
 * environment has XDG_RUNTIME_DIR, else /tmp/sonde-UID, and a service started by systemd or cron
 * has none while an operator's login shell has one. Without $SONDE_DIR both are looked at; this
 * gives the second (/tmp/sonde-UID) when it differs from the first. 0 when there is none.
 */
static int client_other_dir(const char *first, char *buf, size_t size)
{
	const char *env = getenv("SONDE_DIR");

	if (env != NULL && *env != '\0')
		return 0;
	if (snprintf(buf, size, "/tmp/sonde-%lu", (unsigned long)getuid()) >= (int)size)
		return 0;
	return strcmp(buf, first) != 0;
}

int client_path_for_pid(pid_t pid, char *buf, size_t size, char **cause)
{
	char dir[256], other[256], path[sizeof ((struct sockaddr_un *)0)->sun_path];
	char *ignored = NULL;

	if (sockdir_resolve(NULL, dir, sizeof dir, cause) != 0 ||
	    sockdir_socket_path(dir, pid, buf, size, cause) != 0)
		return -1;
	/* Not in the first directory but in the other (safe) one: the agent is there. */
	if (access(buf, F_OK) != 0 && client_other_dir(dir, other, sizeof other) &&
	    sockdir_socket_path(other, pid, path, sizeof path, &ignored) == 0 &&
	    access(path, F_OK) == 0 && sockdir_check(other, &ignored) == 0 &&
	    strlen(path) < size)
		memcpy(buf, path, strlen(path) + 1);
	free(ignored);
	return 0;
}

static int client_ref_cmp(const void *a, const void *b)
{
	const struct agent_ref *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The agents in one directory, appended to *refs. */
static void client_discover_in(const char *dir, DIR *d, struct agent_ref **refs, size_t *n,
                               size_t *capp)
{
	struct dirent *de;
	size_t cap = *capp;

	while ((de = readdir(d)) != NULL) {
		pid_t pid = sockdir_parse_name(de->d_name);
		struct agent_ref ref = {.pid = pid, .uptime_s = -1};
		struct client *c;
		char *why = NULL;
		int unresponsive = 0;

		if (pid <= 0 || !sockdir_pid_alive(pid))
			continue;
		if (snprintf(ref.path, sizeof ref.path, "%s/%s", dir, de->d_name) >= (int)sizeof ref.path)
			continue;
		c = client_connect_ex(ref.path, CLIENT_DISCOVER_TIMEOUT_MS, &why, &unresponsive);
		if (c == NULL) {
			free(why);
			/* A stopped or hung service is exactly what an operator looks for: listed, not
			 * hidden; connecting to it then says what is wrong. */
			if (!unresponsive)
				continue;
			snprintf(ref.name, sizeof ref.name, "(not responding)");
		} else {
			snprintf(ref.name, sizeof ref.name, "%s",
			         json_string_value(json_object_get(c->greeting, "name")) ?: "?");
			ref.uptime_s = json_number_value(json_object_get(c->greeting, "uptime_s"));
			client_close(c);
		}
		if (*n == cap) {
			struct agent_ref *nr = realloc(*refs, (cap = cap ? cap * 2 : 8) * sizeof *nr);
			if (nr == NULL)
				break;
			*refs = nr;
		}
		(*refs)[(*n)++] = ref;
	}
	*capp = cap;
}

int client_discover(struct agent_ref **refs, size_t *n, char **cause)
{
	char dir[256], other[256];
	char *ignored = NULL;
	size_t cap = 0;
	DIR *d;

	*refs = NULL;
	*n = 0;
	if (sockdir_resolve(NULL, dir, sizeof dir, cause) != 0)
		return -1;
	if ((d = opendir(dir)) == NULL) {
		if (errno != ENOENT) {   /* ENOENT: no agent has ever run as us there */
			*cause = xasprintf("cannot read socket directory %s: %s", dir, strerror(errno));
			return -1;
		}
	} else {
		if (sockdir_check(dir, cause) != 0) {
			closedir(d);
			return -1;
		}
		client_discover_in(dir, d, refs, n, &cap);
		closedir(d);
	}
	/* The other directory counts only when it is safe (anyone can create /tmp/sonde-UID). */
	if (client_other_dir(dir, other, sizeof other) && (d = opendir(other)) != NULL) {
		if (sockdir_check(other, &ignored) == 0)
			client_discover_in(other, d, refs, n, &cap);
		free(ignored);
		closedir(d);
	}
	if (*n > 1)   /* qsort's base must not be NULL, even for 0 elements (UBSan) */
		qsort(*refs, *n, sizeof **refs, client_ref_cmp);
	return 0;
}
