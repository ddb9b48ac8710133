/*
 * fetch.h - the TUI's one connection to an agent, owned by a thread of its own so that the
 * screen never waits on the socket.
 *
 * The UI thread says what it wants to see as named "slots" (a slot = one request: a command and
 * its arguments). Every frame it declares its wants between fetch_begin() and fetch_commit():
 * a want whose request changed (the user sorted, scrolled, filtered) runs at once; with
 * force != 0 (a refresh tick) every want runs again; a slot not declared is dropped. The fetch
 * thread runs due requests one at a time, keeps each slot's latest reply, and wakes the UI by
 * writing one byte to wake_fd. fetch_collect() then copies the new replies to the UI side,
 * where fetch_get() reads them without locks.
 *
 * The thread also owns the connection's life: it connects, notices the agent going away
 * (replies keep their last data, the status says "disconnected since ..."), and reconnects
 * when the socket comes back - the same path, or a new process with the same agent name.
 *
 * Everything except the thread itself is called from the UI thread only.
 */
#ifndef SONDE_FETCH_H
#define SONDE_FETCH_H

#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

struct client;
struct fetch;

enum fetch_state {
	FETCH_CONNECTING,     /* never connected yet */
	FETCH_CONNECTED,
	FETCH_DISCONNECTED,   /* lost (or refused); retrying every FETCH_RETRY_MS */
};

#define FETCH_REQUEST_TIMEOUT_MS 5000   /* a reply slower than this drops the connection */
#define FETCH_CONNECT_TIMEOUT_MS 1000
#define FETCH_RETRY_MS 1000             /* between reconnection attempts */
#define FETCH_MAX_SLOTS 32              /* requests on screen at once, all tabs together */

struct fetch_status {
	enum fetch_state state;
	double since_s;        /* wall clock (epoch seconds) when the state began */
	pid_t pid;             /* of the agent we talk (or last talked) to */
	char name[64];         /* its name, from the greeting */
	char path[108];        /* its socket */
	char cause[256];       /* why we are disconnected, when we are */
	unsigned attempts;     /* reconnection attempts since the connection was lost */
	uint64_t generation;   /* +1 at each (re)connection: views reset what belongs to a process */
};

/* One slot's latest reply, as the UI sees it. */
struct fetch_reply {
	json_t *result;        /* the "result" object, or NULL (never answered, or an error) */
	json_t *args;          /* the arguments the reply answers (an object, never NULL once set) */
	char error[320];       /* "code: message" when the agent answered an error, else "" */
	uint64_t seq;          /* +1 for every reply stored in this slot; 0 = none yet */
	double at_s;           /* monotonic seconds when it arrived */
	double took_ms;        /* request round trip */
};

/*
 * Start the fetch thread for the agent at path. c, when not NULL, is an already connected
 * client (the caller checked the agent is there) that the thread takes over. wake_fd is written
 * (one byte, non-blocking) when something new is ready. NULL with *cause malloc()ed on failure.
 */
struct fetch *fetch_start(const char *path, struct client *c, int wake_fd, char **cause);

/* Stop the thread and free everything: 0. Waits at most ~300 ms for a request in flight; past
 * that the thread is left to finish on its own (the process is exiting anyway) and -1 says
 * that wake_fd may still be written. */
int fetch_stop(struct fetch *f);

/* Begin declaring this frame's wants. */
void fetch_begin(struct fetch *f);

/* Want slot to hold the reply of cmd with args (stolen; NULL = no arguments). */
void fetch_want(struct fetch *f, const char *slot, const char *cmd, json_t *args);

/* Refresh ticks re-ask slot at most every min_period_s seconds (a changed request still runs
 * at once): for answers that cost the agent much, so watching never becomes a load. */
void fetch_throttle(struct fetch *f, const char *slot, double min_period_s);

/* Between fetch_prefetch(f, 1) and fetch_prefetch(f, 0), wants are prefetches: a slot never
 * asked before is asked once, even if no later frame declares it (to warm a tab before its
 * first visit); slots already asked are left alone. */
void fetch_prefetch(struct fetch *f, int on);

/* End the declaration: changed wants run now; force != 0 runs every want again (a refresh). */
void fetch_commit(struct fetch *f, int force);

/* Copy replies that arrived since the last call to the UI side. Returns 1 if any did. */
int fetch_collect(struct fetch *f);

/* The UI side's latest reply of a slot, or NULL if the slot never got one. Valid until the
 * next fetch_collect(). */
const struct fetch_reply *fetch_get(const struct fetch *f, const char *slot);

/* The connection's state, copied. */
void fetch_status(struct fetch *f, struct fetch_status *out);

/* Is the request still in the slot's wants the same as the one reply answers? (A reply to an
 * old page or an old sort is shown until the new one lands; views use this to know.) */
int fetch_reply_current(const struct fetch *f, const char *slot, const struct fetch_reply *r);

/* Integer argument of a reply's request, or def. */
long long fetch_reply_arg_int(const struct fetch_reply *r, const char *key, long long def);

/* Requests sent and replies received since start (for the bench and the status line). */
void fetch_counters(struct fetch *f, uint64_t *requests, uint64_t *failures);

#endif
