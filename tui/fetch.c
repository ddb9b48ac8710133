/*
 * fetch.c - the fetch thread: one connection, requests for what is on screen, reconnection
 * (see fetch.h). The UI thread and this thread share only the slot table and the status, under
 * one mutex held for copies, never across a request.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "fetch.h"

struct fetch_slot {
	/* Shared with the thread (under f->lock). */
	char name[24];
	char cmd[32];
	json_t *args;          /* the wanted request's arguments (an object) */
	uint64_t want_gen;     /* +1 when the wanted request changes */
	int wanted;            /* declared by the last commit (or once, below) */
	int once;              /* prefetched: wanted until one reply lands, declared or not */
	double min_period_s;   /* refresh ticks re-ask it at most this often (0: every tick) */
	int due;               /* should run as soon as the thread gets to it */
	json_t *result;        /* latest reply on the thread side */
	json_t *reply_args;
	char error[320];
	uint64_t seq;
	double at_s, took_ms;
	int fresh;             /* stored since the UI last collected */

	/* UI thread only. */
	int declared;          /* declared in the frame being built */
	struct fetch_reply ui;
};

struct fetch {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;       /* the thread waits on it for work or stop */
	pthread_cond_t exited_cv;  /* fetch_stop waits on it */
	int stop, exited;
	int wake_fd;
	struct client *client;     /* the thread's */
	struct fetch_status status;
	struct fetch_slot slots[FETCH_MAX_SLOTS];
	size_t nslots;
	size_t next;               /* round-robin start, so one slot cannot starve the others */
	uint64_t requests, failures;
	int prefetching;           /* UI thread: wants now declared are prefetches */
};

/* Monotonic seconds, for reply ages. */
static double fetch_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock seconds, for "disconnected since 12:03:04". */
static double fetch_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Tell the UI something changed; a full pipe already says so, so EAGAIN is fine. */
static void fetch_wake_ui(struct fetch *f)
{
	ssize_t rc;

	do
		rc = write(f->wake_fd, "x", 1);
	while (rc < 0 && errno == EINTR);
}

/* Adopt a fresh connection: identity from its greeting, every want due again. Lock held. */
static void fetch_adopt(struct fetch *f, struct client *c, const char *path)
{
	const json_t *g = client_greeting(c);
	const char *name = json_string_value(json_object_get(g, "name"));

	f->client = c;
	f->status.state = FETCH_CONNECTED;
	f->status.since_s = fetch_wall_s();
	f->status.pid = (pid_t)json_integer_value(json_object_get(g, "pid"));
	if (name != NULL)
		snprintf(f->status.name, sizeof f->status.name, "%s", name);
	snprintf(f->status.path, sizeof f->status.path, "%s", path);
	f->status.cause[0] = '\0';
	f->status.attempts = 0;
	f->status.generation++;
	for (size_t i = 0; i < f->nslots; i++)
		if (f->slots[i].wanted)
			f->slots[i].due = 1;
}

/*
 * One connection attempt, lock NOT held: the same socket first, else the newest live agent
 * with the same name (a restarted service gets a new pid, hence a new socket path).
 */
static void fetch_try_connect(struct fetch *f)
{
	char path[108], name[64], *cause = NULL;
	struct client *c;
	struct agent_ref *refs = NULL;
	size_t n = 0;

	pthread_mutex_lock(&f->lock);
	snprintf(path, sizeof path, "%s", f->status.path);
	snprintf(name, sizeof name, "%s", f->status.name);
	f->status.attempts++;
	pthread_mutex_unlock(&f->lock);

	c = client_connect(path, FETCH_CONNECT_TIMEOUT_MS, &cause);
	if (c == NULL && name[0] != '\0' && client_discover(&refs, &n, NULL) == 0) {
		const struct agent_ref *best = NULL;

		for (size_t i = 0; i < n; i++)
			if (strcmp(refs[i].name, name) == 0 && strcmp(refs[i].path, path) != 0 &&
			    refs[i].uptime_s >= 0 && (best == NULL || refs[i].uptime_s < best->uptime_s))
				best = &refs[i];
		if (best != NULL) {
			char *cause2 = NULL;

			c = client_connect(best->path, FETCH_CONNECT_TIMEOUT_MS, &cause2);
			if (c != NULL)
				snprintf(path, sizeof path, "%s", best->path);
			free(cause2);
		}
		free(refs);
	}

	pthread_mutex_lock(&f->lock);
	if (c != NULL) {
		fetch_adopt(f, c, path);
	} else {
		snprintf(f->status.cause, sizeof f->status.cause, "%s",
		         cause != NULL ? cause : "cannot connect");
	}
	pthread_mutex_unlock(&f->lock);
	free(cause);
	fetch_wake_ui(f);
}

/* The next slot to run (due and wanted), round-robin; -1 if none. Lock held. */
static int fetch_next_due(struct fetch *f)
{
	for (size_t k = 0; k < f->nslots; k++) {
		size_t i = (f->next + k) % f->nslots;

		if (f->slots[i].wanted && f->slots[i].due) {
			f->next = i + 1;
			return (int)i;
		}
	}
	return -1;
}

/* Wait on cv at most ms milliseconds. Lock held. */
static void fetch_wait_ms(pthread_cond_t *cv, pthread_mutex_t *m, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cv, m, &ts);
}

/* Run one due request, lock held on entry and exit (released during the request). */
static void fetch_run_slot(struct fetch *f, int i)
{
	struct fetch_slot *s = &f->slots[i];
	char cmd[32], *code = NULL, *message = NULL;
	json_t *args = json_deep_copy(s->args), *result = NULL;
	struct client *c = f->client;
	double t0;
	int rc;

	snprintf(cmd, sizeof cmd, "%s", s->cmd);
	s->due = 0;
	pthread_mutex_unlock(&f->lock);

	t0 = fetch_mono_s();
	rc = client_request(c, cmd, args, FETCH_REQUEST_TIMEOUT_MS, &result, &code, &message);
	double t1 = fetch_mono_s();
	if (rc < 0)
		client_close(c);

	pthread_mutex_lock(&f->lock);
	f->requests++;
	if (rc < 0) {
		f->failures++;
		f->client = NULL;
		f->status.state = FETCH_DISCONNECTED;
		f->status.since_s = fetch_wall_s();
		f->status.attempts = 0;
		snprintf(f->status.cause, sizeof f->status.cause, "%s",
		         message != NULL ? message : "connection lost");
		s->due = 1; /* ask again once reconnected */
		json_decref(args);
	} else {
		json_decref(s->result);
		json_decref(s->reply_args);
		s->result = rc == 0 ? result : NULL;
		s->reply_args = args;
		if (rc == 1)
			snprintf(s->error, sizeof s->error, "%s: %s", code != NULL ? code : "error",
			         message != NULL ? message : "");
		else
			s->error[0] = '\0';
		s->seq++;
		s->once = 0;
		s->at_s = t1;
		s->took_ms = (t1 - t0) * 1e3;
		s->fresh = 1;
		result = NULL;
	}
	json_decref(result);
	free(code);
	free(message);
	pthread_mutex_unlock(&f->lock);
	fetch_wake_ui(f);
	pthread_mutex_lock(&f->lock);
}

/* The thread: connect when needed, run what is due, sleep until there is more. */
static void *fetch_main(void *arg)
{
	struct fetch *f = arg;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		int i;

		if (f->client == NULL) {
			pthread_mutex_unlock(&f->lock);
			fetch_try_connect(f);
			pthread_mutex_lock(&f->lock);
			if (f->client == NULL && !f->stop)
				fetch_wait_ms(&f->wake, &f->lock, FETCH_RETRY_MS);
			continue;
		}
		i = fetch_next_due(f);
		if (i < 0) {
			pthread_cond_wait(&f->wake, &f->lock);
			continue;
		}
		fetch_run_slot(f, i);
	}
	if (f->client != NULL)
		client_close(f->client);
	f->client = NULL;
	f->exited = 1;
	pthread_cond_signal(&f->exited_cv);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* See fetch.h. */
struct fetch *fetch_start(const char *path, struct client *c, int wake_fd, char **cause)
{
	struct fetch *f = calloc(1, sizeof *f);
	int rc;

	if (f == NULL) {
		*cause = strdup("out of memory starting the fetch thread");
		return NULL;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	pthread_cond_init(&f->exited_cv, NULL);
	f->wake_fd = wake_fd;
	snprintf(f->status.path, sizeof f->status.path, "%s", path);
	f->status.state = FETCH_CONNECTING;
	f->status.since_s = fetch_wall_s();
	if (c != NULL)
		fetch_adopt(f, c, path);
	rc = pthread_create(&f->thread, NULL, fetch_main, f);
	if (rc != 0) {
		if (c != NULL)
			client_close(c);
		free(f);
		*cause = strdup("cannot start the fetch thread (out of threads?)");
		return NULL;
	}
	return f;
}

/* Release one slot's JSON. */
static void fetch_slot_free(struct fetch_slot *s)
{
	json_decref(s->args);
	json_decref(s->result);
	json_decref(s->reply_args);
	json_decref(s->ui.result);
	json_decref(s->ui.args);
}

/* See fetch.h. */
int fetch_stop(struct fetch *f)
{
	int exited;

	if (f == NULL)
		return 0;
	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_cond_signal(&f->wake);
	for (int waits = 0; !f->exited && waits < 3; waits++)
		fetch_wait_ms(&f->exited_cv, &f->lock, 100);
	exited = f->exited;
	pthread_mutex_unlock(&f->lock);
	if (!exited) {
		/* A request is in flight to an agent that does not answer: do not make quitting wait
		 * for its timeout. The thread exits on its own; f stays valid for it. */
		pthread_detach(f->thread);
		return -1;
	}
	pthread_join(f->thread, NULL);
	for (size_t i = 0; i < f->nslots; i++)
		fetch_slot_free(&f->slots[i]);
	pthread_cond_destroy(&f->wake);
	pthread_cond_destroy(&f->exited_cv);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

/* See fetch.h. */
void fetch_begin(struct fetch *f)
{
	for (size_t i = 0; i < f->nslots; i++)
		f->slots[i].declared = 0;
}

/* A slot by name, or a new (or recycled undeclared) one; NULL when all are declared. */
static struct fetch_slot *fetch_slot_for(struct fetch *f, const char *name)
{
	struct fetch_slot *s = NULL;

	for (size_t i = 0; i < f->nslots; i++)
		if (strcmp(f->slots[i].name, name) == 0)
			return &f->slots[i];
	if (f->nslots < FETCH_MAX_SLOTS) {
		s = &f->slots[f->nslots];
		pthread_mutex_lock(&f->lock);
		f->nslots++;
		pthread_mutex_unlock(&f->lock);
	} else {
		for (size_t i = 0; i < f->nslots && s == NULL; i++)
			if (!f->slots[i].declared && !f->slots[i].wanted)
				s = &f->slots[i];
		if (s == NULL)
			return NULL;
		pthread_mutex_lock(&f->lock);
		fetch_slot_free(s);
		memset(s, 0, sizeof *s);
		pthread_mutex_unlock(&f->lock);
	}
	snprintf(s->name, sizeof s->name, "%s", name);
	return s;
}

/* See fetch.h. */
void fetch_want(struct fetch *f, const char *slot, const char *cmd, json_t *args)
{
	struct fetch_slot *s = fetch_slot_for(f, slot);

	if (args == NULL)
		args = json_object();
	if (s == NULL) {
		json_decref(args);
		return;
	}
	if (f->prefetching) {
		int asked;

		pthread_mutex_lock(&f->lock);
		asked = s->seq > 0 || s->args != NULL; /* seq is the thread's: read it locked */
		if (!asked)
			s->once = 1;
		pthread_mutex_unlock(&f->lock);
		if (asked) { /* already asked or answered: nothing to warm */
			json_decref(args);
			return;
		}
	} else {
		s->declared = 1;
	}
	if (s->args != NULL && strcmp(s->cmd, cmd) == 0 && json_equal(s->args, args)) {
		json_decref(args);
		return;
	}
	pthread_mutex_lock(&f->lock);
	json_decref(s->args);
	s->args = args;
	snprintf(s->cmd, sizeof s->cmd, "%s", cmd);
	s->want_gen++;
	s->due = 1;
	pthread_mutex_unlock(&f->lock);
}

/* See fetch.h. */
void fetch_throttle(struct fetch *f, const char *slot, double min_period_s)
{
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->nslots; i++)
		if (strcmp(f->slots[i].name, slot) == 0)
			f->slots[i].min_period_s = min_period_s;
	pthread_mutex_unlock(&f->lock);
}

/* See fetch.h. */
void fetch_prefetch(struct fetch *f, int on)
{
	f->prefetching = on;
}

/* See fetch.h. */
void fetch_commit(struct fetch *f, int force)
{
	int work = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->nslots; i++) {
		struct fetch_slot *s = &f->slots[i];

		s->wanted = s->declared || s->once;
		if (!s->wanted)
			s->due = 0;
		else if (force && (s->seq == 0 || fetch_mono_s() - s->at_s >= s->min_period_s))
			s->due = 1;
		work |= s->wanted && s->due;
	}
	if (work)
		pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

/* See fetch.h. */
int fetch_collect(struct fetch *f)
{
	int any = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->nslots; i++) {
		struct fetch_slot *s = &f->slots[i];

		if (!s->fresh)
			continue;
		json_decref(s->ui.result);
		json_decref(s->ui.args);
		s->ui.result = s->result;      /* ownership moves to the UI side */
		s->ui.args = s->reply_args;
		s->result = s->reply_args = NULL;
		memcpy(s->ui.error, s->error, sizeof s->ui.error);
		s->ui.seq = s->seq;
		s->ui.at_s = s->at_s;
		s->ui.took_ms = s->took_ms;
		s->fresh = 0;
		any = 1;
	}
	pthread_mutex_unlock(&f->lock);
	return any;
}

/* See fetch.h. */
const struct fetch_reply *fetch_get(const struct fetch *f, const char *slot)
{
	for (size_t i = 0; i < f->nslots; i++)
		if (strcmp(f->slots[i].name, slot) == 0)
			return f->slots[i].ui.seq > 0 ? &f->slots[i].ui : NULL;
	return NULL;
}

/* See fetch.h. */
int fetch_reply_current(const struct fetch *f, const char *slot, const struct fetch_reply *r)
{
	for (size_t i = 0; i < f->nslots; i++)
		if (strcmp(f->slots[i].name, slot) == 0)
			return r != NULL && r->args != NULL && f->slots[i].args != NULL &&
			       json_equal(r->args, f->slots[i].args);
	return 0;
}

/* See fetch.h. */
long long fetch_reply_arg_int(const struct fetch_reply *r, const char *key, long long def)
{
	json_t *v = r != NULL ? json_object_get(r->args, key) : NULL;

	return json_is_integer(v) ? json_integer_value(v) : def;
}

/* See fetch.h. */
void fetch_status(struct fetch *f, struct fetch_status *out)
{
	pthread_mutex_lock(&f->lock);
	*out = f->status;
	pthread_mutex_unlock(&f->lock);
}

/* See fetch.h. */
void fetch_counters(struct fetch *f, uint64_t *requests, uint64_t *failures)
{
	pthread_mutex_lock(&f->lock);
	*requests = f->requests;
	*failures = f->failures;
	pthread_mutex_unlock(&f->lock);
}
