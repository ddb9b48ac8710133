/*
 * agent.c - the agent: one thread inside the host that serves the private Unix socket.
 *
 * The thread runs a non-blocking poll() loop over a wake pipe, the listening socket and the
 * clients; reads request lines, hands each to proto_handle_line() and queues the reply; ticks the
 * probes every sampling interval. Its promises (DESIGN.md, "Never harm the host"):
 *   - every signal is blocked on it, so the host's signal handling is unchanged;
 *   - it never writes with SIGPIPE possible (MSG_NOSIGNAL);
 *   - a client gets bounded input (one line of 64 KiB) and bounded output (output_cap_bytes);
 *     a client that does not read is dropped, never waited for;
 *   - peers of another uid (other than root) are refused and logged.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "probe.h"
#include "proto.h"
#include "sockdir.h"
#include "sonde.h"

#define AGENT_READ_CHUNK 65536
#define AGENT_MAX_CLIENTS_LIMIT 1024
/* A request line of PROTO_MAX_LINE bytes with its CR and LF: CRLF clients get the same limit. */
#define AGENT_IN_CAP (PROTO_MAX_LINE + 2)

struct client {
	int fd;                   /* -1 once the host closed it behind our back */
	dev_t dev;                /* what fd was when accepted, to tell it from a reused number */
	ino_t ino;
	uid_t uid;
	pid_t pid;
	char *in;                 /* unparsed input; at most AGENT_IN_CAP bytes kept */
	size_t in_len;
	int discarding;           /* skipping the rest of an over-long line */
	int read_closed;          /* the client shut down its side: reply, then close */
	char *out;                /* queued reply bytes not yet sent */
	size_t out_len, out_off, out_cap;
	uint64_t last_request_ns;
	int over_cap;             /* dropped for not reading its replies */
};

static struct {
	pthread_mutex_t lock;     /* serialises start/stop; never taken by the agent thread */
	int running;
	atomic_int stop;          /* set by sonde_stop() on another thread (TSan: volatile races) */
	pthread_t thread;
	int listen_fd;
	int wake[2];
	dev_t listen_dev, wake_dev;  /* what listen_fd and the wake pipe are (see agent_fd_is) */
	ino_t listen_ino, wake_ino;
	atomic_int fds_lost;      /* the host closed our descriptors: never touch those numbers */
	char dir[256];
	char path[sizeof ((struct sockaddr_un *)0)->sun_path];
	char name[64];
	struct agent_info info;
	struct client **clients;  /* info.max_clients slots */
	uint64_t next_tick_ns;
	uint64_t last_refusal_log_ns;
	uint64_t accept_resume_ns;   /* out of descriptors: the listening socket rests until then */
	uint64_t last_accept_log_ns;
	int atfork_registered;
} agent = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.listen_fd = -1,
	.wake = {-1, -1},
};

const struct agent_info *agent_info(void)
{
	return &agent.info;
}

uint64_t agent_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One line on the host's stderr, prefixed so an operator knows who is talking. */
/*
 * Write to stderr without SIGPIPE: sonde_start() logs on the application's thread, and a stderr
 * whose reader is gone (`service 2>&1 | head -1`) would kill the host. SIGPIPE is blocked around
 * the write and, if our write raised it, taken back (a SIGPIPE already pending stays).
 */
static void agent_write_stderr(const char *buf, size_t len)
{
	sigset_t pipe_set, old, pending;
	int was_pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	if (write(STDERR_FILENO, buf, len) < 0 && errno == EPIPE && !was_pending) {
		const struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void agent_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof buf, "sonde[%ld]: ", (long)getpid());
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	agent_write_stderr(buf, strlen(buf));
}

/* Environment number with bounds, for SONDE_* settings. */
static unsigned agent_env_uint(const char *name, unsigned def, unsigned min, unsigned max)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		agent_log("ignoring %s=%s: expected a whole number from %u to %u; using %u", name, s,
		          min, max, def);
		return def;
	}
	return (unsigned)v;
}

/* ---- clients ----------------------------------------------------------------------------- */

/*
 * Is fd still the descriptor we opened? A host may close every descriptor it does not know about
 * (classic daemons do, and `sonde run` puts the agent into unmodified programs) and reuse the
 * numbers for its own files: then we must not poll, read, write or close them.
 */
static int agent_fd_is(int fd, dev_t dev, ino_t ino)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* Record what fd is, for agent_fd_is. */
static void agent_fd_identity(int fd, dev_t *dev, ino_t *ino)
{
	struct stat st;

	*dev = 0;
	*ino = 0;
	if (fstat(fd, &st) == 0) {
		*dev = st.st_dev;
		*ino = st.st_ino;
	}
}

static void client_free(struct client *c)
{
	agent.info.client_buffer_bytes -= c->in_len + (c->out_len - c->out_off);
	if (agent_fd_is(c->fd, c->dev, c->ino))
		close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void agent_drop(int slot, const char *why)
{
	struct client *c = agent.clients[slot];

	if (why != NULL) {
		agent.info.dropped++;
		agent_log("dropped client pid %ld: %s", (long)c->pid, why);
	}
	client_free(c);
	agent.clients[slot] = NULL;
	agent.info.clients--;
}

/* Send what is queued without blocking. Returns -1 if the peer is gone. */
static int client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->out_off += (size_t)n;
		agent.info.client_buffer_bytes -= (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	return 0;
}

/*
 * Queue a reply line (taking ownership). Returns -1 when the client must be dropped: it has not
 * read enough of what it asked for and would push us past the output cap.
 */
static int client_queue(struct client *c, char *line, size_t len)
{
	size_t pending = c->out_len - c->out_off;
	char *grown;

	if (line == NULL)
		return 0;
	if (pending + len > agent.info.output_cap_bytes) {
		if (pending == 0) {
			/* One reply larger than the cap on its own: answer with an error instead. */
			char msg[200];
			snprintf(msg, sizeof msg, "reply of %zu bytes exceeds the %zu-byte output cap; ask "
			         "for less (limit, depth)", len, agent.info.output_cap_bytes);
			free(line);
			line = proto_error_line(NULL, ERR_TOO_LARGE, msg, &len);
			if (line == NULL)
				return 0;
		} else {
			free(line);
			c->over_cap = 1;
			return -1;
		}
	}
	/* Compact and grow only when the line does not fit, and grow geometrically (up to the cap):
	 * moving or reallocating megabytes for every queued line made a slow reader cost the agent
	 * thread time quadratic in its backlog. */
	if (c->out_len + len > c->out_cap && c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_len = pending;
		c->out_off = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t ncap = c->out_cap < 4096 ? 4096 : c->out_cap * 2;
		if (ncap > agent.info.output_cap_bytes + len)
			ncap = agent.info.output_cap_bytes + len;
		if (ncap < c->out_len + len)
			ncap = c->out_len + len;
		grown = realloc(c->out, ncap);
		if (grown == NULL) {
			free(line);
			return -1;
		}
		c->out = grown;
		c->out_cap = ncap;
	}
	memcpy(c->out + c->out_len, line, len);
	c->out_len += len;
	agent.info.client_buffer_bytes += len;
	free(line);
	return client_flush(c);
}

/* Serve every complete line in the input buffer (at most 64 KiB of them per read), then move
 * what is left to the front once: moving the rest after each line cost time quadratic in the
 * number of lines (20 ms of agent CPU per 64 KiB of empty lines). -1: drop the client. */
static int client_serve_lines(struct client *c)
{
	size_t at = 0;

	for (;;) {
		char *line = c->in + at;
		char *nl = memchr(line, '\n', c->in_len - at);
		size_t line_len, reply_len = 0;
		char *reply;

		if (nl == NULL)
			break;
		line_len = (size_t)(nl - line);
		{
			size_t l = line_len;
			if (l > 0 && line[l - 1] == '\r')
				l--;
			if (l > 0) {
				reply = proto_handle_line(line, l, &reply_len);
				agent.info.requests++;
				c->last_request_ns = agent_now_ns();
				if (client_queue(c, reply, reply_len) != 0)
					return -1;
			}
		}
		at += line_len + 1;
		agent.info.client_buffer_bytes -= line_len + 1;
	}
	if (at > 0) {
		memmove(c->in, c->in + at, c->in_len - at);
		c->in_len -= at;
	}
	return 0;
}

/* Read what the client sent and answer its complete lines. -1: drop it. */
static int client_read(struct client *c)
{
	char buf[AGENT_READ_CHUNK];
	ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
	size_t off = 0;

	if (n == 0) {
		/* The client shut down its sending side (socat, nc -N, shutdown(SHUT_WR)): answer a
		 * last line that lacks its newline; the loop closes us once the replies are out. */
		c->read_closed = 1;
		if (c->in_len > 0 && !c->discarding) {
			c->in[c->in_len++] = '\n';   /* in_len <= PROTO_MAX_LINE + 1 < AGENT_IN_CAP */
			agent.info.client_buffer_bytes++;
			return client_serve_lines(c);
		}
		return 0;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	while (off < (size_t)n) {
		size_t chunk = (size_t)n - off, room;
		char *nl;

		if (c->discarding && c->in_len == 0) {
			/* Skip bytes of an over-long line up to its newline, keeping nothing. */
			nl = memchr(buf + off, '\n', chunk);
			if (nl == NULL)
				return 0;
			off = (size_t)(nl - buf) + 1;
			c->discarding = 0;
			continue;
		}
		room = AGENT_IN_CAP - c->in_len;
		if (chunk > room)
			chunk = room;
		memcpy(c->in + c->in_len, buf + off, chunk);
		c->in_len += chunk;
		agent.info.client_buffer_bytes += chunk;
		off += chunk;
		if (client_serve_lines(c) != 0)
			return -1;
		if (c->in_len > PROTO_MAX_LINE + 1 ||
		    (c->in_len == PROTO_MAX_LINE + 1 && c->in[PROTO_MAX_LINE] != '\r')) {
			/* No newline within the limit: answer once, then skip to the next newline. */
			size_t len = 0;
			char msg[160], *line;
			snprintf(msg, sizeof msg, "request line longer than %d bytes; the rest of this "
			         "line is ignored; send smaller requests", PROTO_MAX_LINE);
			agent.info.client_buffer_bytes -= c->in_len;
			c->in_len = 0;
			c->discarding = 1;
			/* Two statements: len must be set before it is passed. */
			line = proto_error_line(NULL, ERR_LINE_TOO_LONG, msg, &len);
			if (client_queue(c, line, len) != 0)
				return -1;
		}
	}
	return 0;
}

/* Refuse a connection with one error line (best effort, non-blocking) and close it. */
static void agent_refuse(int fd, const char *code, const char *message)
{
	size_t len;
	char *line = proto_error_line(NULL, code, message, &len);

	if (line != NULL) {
		ssize_t n = send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n;
		free(line);
	}
	close(fd);
	agent.info.refused++;
}

#define AGENT_ACCEPT_REST_NS 1000000000u

/* accept4() failed for want of descriptors or memory: stop polling the listening socket for a
 * while and say why (at most once a minute), naming the limit an operator would raise. */
static void agent_accept_rest(int err)
{
	uint64_t now = agent_now_ns();
	struct rlimit rl;

	agent.accept_resume_ns = now + AGENT_ACCEPT_REST_NS;
	if (agent.last_accept_log_ns != 0 && now - agent.last_accept_log_ns < 60000000000u)
		return;
	agent.last_accept_log_ns = now;
	if (err == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0)
		agent_log("cannot accept a client: %s (RLIMIT_NOFILE %llu); it is served once the "
		          "process closes descriptors; raise the limit (ulimit -n, LimitNOFILE=)",
		          strerror(err), (unsigned long long)rl.rlim_cur);
	else
		agent_log("cannot accept a client: %s; it is served once the system frees resources",
		          strerror(err));
}

static void agent_accept(void)
{
	for (;;) {
		struct ucred cred;
		socklen_t cl = sizeof cred;
		struct client *c;
		char *greeting, msg[256];
		size_t len;
		int fd, slot = -1;
		uint64_t now;

		fd = accept4(agent.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* Out of descriptors (or memory): the connection stays queued and poll() reports
			 * the socket readable at once, so polling it again would spin the agent thread
			 * at 100% CPU on a host already in trouble. Rest it for a second. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				agent_accept_rest(errno);
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
			agent_refuse(fd, ERR_PERMISSION, "cannot verify your uid (SO_PEERCRED failed)");
			continue;
		}
		if (cred.uid != geteuid() && cred.uid != 0) {
			snprintf(msg, sizeof msg, "uid %lu may not attach to this agent: only its owner "
			         "(uid %lu) and root may; run sonde as that user", (unsigned long)cred.uid,
			         (unsigned long)geteuid());
			agent_refuse(fd, ERR_PERMISSION, msg);
			now = agent_now_ns();
			if (now - agent.last_refusal_log_ns > 1000000000u) {
				agent.last_refusal_log_ns = now;
				agent_log("refused connection from uid %lu pid %ld: not the owner",
				          (unsigned long)cred.uid, (long)cred.pid);
			}
			continue;
		}
		for (unsigned i = 0; i < agent.info.max_clients; i++)
			if (agent.clients[i] == NULL) {
				slot = (int)i;
				break;
			}
		if (slot < 0) {
			snprintf(msg, sizeof msg, "too many clients (%u connected, the limit); close one "
			         "or start the agent with a larger max_clients", agent.info.max_clients);
			agent_refuse(fd, ERR_TOO_MANY_CLIENTS, msg);
			continue;
		}
		c = calloc(1, sizeof *c);
		if (c == NULL || (c->in = malloc(AGENT_IN_CAP)) == NULL) {
			free(c);
			agent_refuse(fd, ERR_INTERNAL, "agent out of memory");
			continue;
		}
		c->fd = fd;
		agent_fd_identity(fd, &c->dev, &c->ino);
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->last_request_ns = agent_now_ns();
		agent.clients[slot] = c;
		agent.info.clients++;
		greeting = proto_greeting(&len);
		if (client_queue(c, greeting, len) != 0)
			agent_drop(slot, "could not send the greeting");
	}
}

/* Close clients that have sent nothing for idle_timeout_s, telling them why. */
static void agent_reap_idle(uint64_t now)
{
	uint64_t limit = (uint64_t)agent.info.idle_timeout_s * 1000000000u;

	for (unsigned i = 0; i < agent.info.max_clients; i++) {
		struct client *c = agent.clients[i];
		if (c == NULL || now - c->last_request_ns < limit)
			continue;
		char msg[128];
		size_t len;
		snprintf(msg, sizeof msg, "closed after %u s without a request", agent.info.idle_timeout_s);
		/* The reason is sent only between lines: a half-sent reply would garble it. */
		char *line = c->out_len == c->out_off ? proto_error_line(NULL, ERR_TIMEOUT, msg, &len)
		                                      : NULL;
		if (line != NULL) {
			ssize_t n = send(c->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)n;
			free(line);
		}
		agent_drop((int)i, "idle timeout");
	}
}

static void agent_tick(uint64_t now)
{
	for (const struct probe_entry *const *p = probe_table; *p != NULL; p++)
		if ((*p)->tick != NULL)
			(*p)->tick(now);
	agent_reap_idle(now);
}

/*
 * Did the host take the agent's listening socket or wake pipe (closed them, maybe reused the
 * numbers)? Then stop for good: remove the socket, say why, and never touch those numbers.
 */
static int agent_fds_lost(void)
{
	if (agent_fd_is(agent.wake[0], agent.wake_dev, agent.wake_ino) &&
	    agent_fd_is(agent.wake[1], agent.wake_dev, agent.wake_ino) &&
	    agent_fd_is(agent.listen_fd, agent.listen_dev, agent.listen_ino))
		return 0;
	atomic_store(&agent.fds_lost, 1);
	unlink(agent.path);   /* nobody can be served there any more */
	agent_log("the host closed the agent's descriptors; the agent stops (call sonde_stop() and "
	          "sonde_start() after closing descriptors)");
	return 1;
}

static void *agent_main(void *arg)
{
	struct pollfd *pfd;
	int *slot_of;
	size_t cap = agent.info.max_clients + 2;

	(void)arg;
	agent.info.agent_tid = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "sonde");   /* tells it apart in thread lists */
	pfd = calloc(cap, sizeof *pfd);
	slot_of = calloc(cap, sizeof *slot_of);
	if (pfd == NULL || slot_of == NULL) {
		agent_log("agent out of memory at start; not serving");
		free(pfd);
		free(slot_of);
		return NULL;
	}
	for (const struct probe_entry *const *p = probe_table; *p != NULL; p++)
		if ((*p)->init != NULL && (*p)->init() != 0)
			agent_log("probe %s disabled", (*p)->name);
	agent.next_tick_ns = agent_now_ns();

	while (!atomic_load_explicit(&agent.stop, memory_order_acquire)) {
		uint64_t now = agent_now_ns();
		int timeout, n;
		nfds_t nfds = 0;

		if (now >= agent.next_tick_ns) {
			agent_tick(now);
			agent.next_tick_ns += (uint64_t)agent.info.interval_ms * 1000000u;
			if (agent.next_tick_ns <= now) /* we fell behind: skip, the sampler marks gaps */
				agent.next_tick_ns = now + (uint64_t)agent.info.interval_ms * 1000000u;
		}
		timeout = (int)((agent.next_tick_ns - now + 999999) / 1000000);
		if (now < agent.accept_resume_ns &&
		    agent.accept_resume_ns - now < (uint64_t)timeout * 1000000u)
			timeout = (int)((agent.accept_resume_ns - now + 999999) / 1000000);

		if (agent_fds_lost())
			break;
		pfd[nfds++] = (struct pollfd){.fd = agent.wake[0], .events = POLLIN};
		/* A negative fd is skipped by poll(): the listening socket rests (agent_accept_rest). */
		pfd[nfds++] = (struct pollfd){.fd = now < agent.accept_resume_ns ? -1 : agent.listen_fd,
		                              .events = POLLIN};
		for (unsigned i = 0; i < agent.info.max_clients; i++) {
			struct client *c = agent.clients[i];
			if (c == NULL)
				continue;
			if (!agent_fd_is(c->fd, c->dev, c->ino)) {
				agent_drop((int)i, "the host closed its descriptor");
				continue;
			}
			slot_of[nfds] = (int)i;
			pfd[nfds++] = (struct pollfd){
				.fd = c->fd,
				.events = (short)((c->read_closed ? 0 : POLLIN) |
				                  (c->out_len > c->out_off ? POLLOUT : 0)),
			};
		}
		n = poll(pfd, nfds, timeout);
		if (n < 0 && errno != EINTR) {
			agent_log("poll failed: %s; agent stops", strerror(errno));
			break;
		}
		/* Checked again: the host may have reused the numbers while we were polling. */
		if (agent_fds_lost())
			break;
		if (n <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			char drain[64];
			for (int i = 0; i < 16 && read(agent.wake[0], drain, sizeof drain) > 0; i++)
				;
		}
		for (nfds_t k = 2; k < nfds; k++) {
			int slot = slot_of[k];
			struct client *c = agent.clients[slot];
			if (c == NULL || pfd[k].revents == 0)
				continue;
			if (!agent_fd_is(c->fd, c->dev, c->ino)) {
				agent_drop(slot, "the host closed its descriptor");
				continue;
			}
			if ((pfd[k].revents & POLLOUT) && client_flush(c) != 0) {
				agent_drop(slot, NULL);
				continue;
			}
			if (!c->read_closed && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    client_read(c) != 0) {
				/* Only a client we gave up on is news; one that hung up is not. */
				agent_drop(slot, c->over_cap ? "it does not read its replies (output cap "
				                               "reached)" : NULL);
				continue;
			}
			/* A client that shut down its side is closed once its replies are out (or it
			 * has gone entirely). */
			if (c->read_closed && (c->out_len == c->out_off ||
			                       (pfd[k].revents & (POLLHUP | POLLERR))))
				agent_drop(slot, NULL);
		}
		if (pfd[1].revents & POLLIN)
			agent_accept();
	}

	for (unsigned i = 0; i < agent.info.max_clients; i++)
		if (agent.clients[i] != NULL)
			agent_drop((int)i, NULL);
	for (const struct probe_entry *const *p = probe_table; *p != NULL; p++)
		if ((*p)->fini != NULL)
			(*p)->fini();
	free(pfd);
	free(slot_of);
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

/* Bind and listen on agent.path; the directory (0700) keeps others out while we chmod. */
static int agent_listen(char **cause)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (unlink(agent.path) != 0 && errno != ENOENT) {
		*cause = xasprintf("cannot remove stale socket %s: %s", agent.path, strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*cause = xasprintf("cannot create a Unix socket: %s", strerror(errno));
		return -1;
	}
	memcpy(sa.sun_path, agent.path, strlen(agent.path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(agent.path, 0600) != 0 ||
	    listen(fd, 64) != 0) {
		*cause = xasprintf("cannot listen on %s: %s", agent.path, strerror(errno));
		close(fd);
		unlink(agent.path);
		return -1;
	}
	agent.listen_fd = fd;
	return 0;
}

static void agent_close_fds(void)
{
	if (agent_fd_is(agent.listen_fd, agent.listen_dev, agent.listen_ino))
		close(agent.listen_fd);
	if (agent_fd_is(agent.wake[0], agent.wake_dev, agent.wake_ino))
		close(agent.wake[0]);
	if (agent_fd_is(agent.wake[1], agent.wake_dev, agent.wake_ino))
		close(agent.wake[1]);
	agent.listen_fd = agent.wake[0] = agent.wake[1] = -1;
}

/* fork(): the child has no agent thread; it must neither serve nor remove the parent's socket. */
static void agent_atfork_prepare(void)
{
	pthread_mutex_lock(&agent.lock);
}

static void agent_atfork_parent(void)
{
	pthread_mutex_unlock(&agent.lock);
}

static void agent_atfork_child(void)
{
	if (agent.running) {
		agent_close_fds();
		for (unsigned i = 0; i < agent.info.max_clients; i++)
			if (agent.clients[i] != NULL) {
				struct client *c = agent.clients[i];
				if (agent_fd_is(c->fd, c->dev, c->ino))
					close(c->fd);
				free(agent.clients[i]->in);
				free(agent.clients[i]->out);
				free(agent.clients[i]);
			}
		free(agent.clients);
		agent.clients = NULL;
		agent.running = 0;
		agent.path[0] = '\0';
	}
	pthread_mutex_init(&agent.lock, NULL);
}

/* At exit, the socket goes with the process (only the process that created it removes it). */
static void agent_atexit(void)
{
	if (agent.running && agent.info.pid == getpid() && agent.path[0] != '\0')
		unlink(agent.path);
}

/*
 * Make the name valid UTF-8 in place: every reply that carries it (the greeting, `system`) is
 * built by jansson, which refuses invalid UTF-8, and then the client would get nothing. A name
 * cut inside a character at 63 bytes loses that character; other invalid bytes (a program file
 * name is any bytes) become '?'.
 */
static void agent_valid_name(char *name)
{
	size_t n = strlen(name);

	/* Drop at most the last 3 bytes, all non-ASCII: a character cut in half at the end. */
	for (size_t cut = 0; cut < 4 && cut < n; cut++) {
		json_t *ok = json_stringn(name, n - cut);
		if (ok != NULL) {
			json_decref(ok);
			name[n - cut] = '\0';
			return;
		}
		if ((unsigned char)name[n - 1 - cut] < 0x80)
			break;
	}
	for (unsigned char *p = (unsigned char *)name; *p != '\0'; p++)
		if (*p >= 0x80)
			*p = '?';
}

static int agent_start_locked(const struct sonde_options *o)
{
	sigset_t all, old;
	char *cause = NULL;
	const char *name = o->name;
	int err;

	if (name == NULL || *name == '\0')
		name = getenv("SONDE_NAME");
	if (name == NULL || *name == '\0')
		name = program_invocation_short_name;
	snprintf(agent.name, sizeof agent.name, "%s", name);
	agent_valid_name(agent.name);

	memset(&agent.info, 0, sizeof agent.info);
	agent.info.pid = getpid();
	agent.info.name = agent.name;
	agent.info.interval_ms = o->interval_ms ? o->interval_ms
	                                        : agent_env_uint("SONDE_INTERVAL_MS", 1000, 100, 10000);
	if (agent.info.interval_ms < 100 || agent.info.interval_ms > 10000) {
		agent_log("interval %u ms is outside 100..10000 ms; using 1000 ms", agent.info.interval_ms);
		agent.info.interval_ms = 1000;
	}
	agent.info.max_clients = o->max_clients ? o->max_clients
	                                        : agent_env_uint("SONDE_MAX_CLIENTS", 16, 1, AGENT_MAX_CLIENTS_LIMIT);
	if (agent.info.max_clients > AGENT_MAX_CLIENTS_LIMIT)
		agent.info.max_clients = AGENT_MAX_CLIENTS_LIMIT;
	agent.info.idle_timeout_s = o->idle_timeout_s ? o->idle_timeout_s
	                                              : agent_env_uint("SONDE_IDLE_TIMEOUT_S", 600, 1, 86400);
	agent.info.output_cap_bytes = o->output_cap_bytes ? o->output_cap_bytes : 8u << 20;
	agent.info.history_seconds = o->history_seconds ? o->history_seconds : 600;
	agent.info.exit_ring = o->exit_ring ? o->exit_ring : 1000;
	agent.info.started_ns = agent_now_ns();
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		agent.info.started_epoch_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}

	if (sockdir_resolve(o->dir, agent.dir, sizeof agent.dir, &cause) != 0 ||
	    sockdir_prepare(agent.dir, &cause) != 0 ||
	    sockdir_socket_path(agent.dir, agent.info.pid, agent.path, sizeof agent.path, &cause) != 0)
		goto fail;
	sockdir_sweep(agent.dir);
	agent.info.socket_path = agent.path;
	agent.clients = calloc(agent.info.max_clients, sizeof *agent.clients);
	if (agent.clients == NULL) {
		cause = xasprintf("out of memory");
		goto fail;
	}
	if (pipe2(agent.wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		cause = xasprintf("cannot create the wake pipe: %s", strerror(errno));
		goto fail;
	}
	agent_fd_identity(agent.wake[0], &agent.wake_dev, &agent.wake_ino);
	if (agent_listen(&cause) != 0)
		goto fail;
	agent_fd_identity(agent.listen_fd, &agent.listen_dev, &agent.listen_ino);
	atomic_store(&agent.fds_lost, 0);

	atomic_store_explicit(&agent.stop, 0, memory_order_relaxed);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&agent.thread, NULL, agent_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		cause = xasprintf("cannot start the agent thread: %s", strerror(err));
		unlink(agent.path);
		goto fail;
	}
	agent.running = 1;
	if (!agent.atfork_registered) {
		pthread_atfork(agent_atfork_prepare, agent_atfork_parent, agent_atfork_child);
		atexit(agent_atexit);
		agent.atfork_registered = 1;
	}
	return 0;

fail:
	agent_log("agent not started: %s", cause != NULL ? cause : "out of memory");
	free(cause);
	agent_close_fds();
	free(agent.clients);
	agent.clients = NULL;
	agent.path[0] = '\0';
	errno = EINVAL;
	return -1;
}

SONDE_API int sonde_start(const struct sonde_options *opts)
{
	static const struct sonde_options defaults;
	const char *disable = getenv("SONDE_DISABLE");
	int rc = 0;

	if (disable != NULL && strcmp(disable, "1") == 0)
		return 0;
	pthread_mutex_lock(&agent.lock);
	if (!agent.running)
		rc = agent_start_locked(opts != NULL ? opts : &defaults);
	pthread_mutex_unlock(&agent.lock);
	return rc;
}

SONDE_API void sonde_stop(void)
{
	pthread_mutex_lock(&agent.lock);
	if (agent.running && pthread_equal(pthread_self(), agent.thread)) {
		/* Called from a command or probe on the agent thread itself: cannot join ourselves. */
		pthread_mutex_unlock(&agent.lock);
		return;
	}
	if (agent.running) {
		char one = 1;
		ssize_t n;
		atomic_store_explicit(&agent.stop, 1, memory_order_release);
		if (agent_fd_is(agent.wake[1], agent.wake_dev, agent.wake_ino)) {
			n = write(agent.wake[1], &one, 1);
			(void)n;
		}
		pthread_join(agent.thread, NULL);
		unlink(agent.path);
		agent_close_fds();
		free(agent.clients);
		agent.clients = NULL;
		agent.running = 0;
		agent.path[0] = '\0';
	}
	pthread_mutex_unlock(&agent.lock);
}

SONDE_API const char *sonde_socket_path(void)
{
	return agent.running ? agent.path : NULL;
}
