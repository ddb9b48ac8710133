/*
 * inspect.c - the inspect helper thread (see inspect.h).
 *
 * One job at a time, handed over under a mutex: the agent fills the job and waits on a condition
 * variable with a deadline; the helper runs the callback, whose emit() appends "key\0value\0"
 * pairs to the job's buffer (only the helper writes it while it runs; the agent reads it only
 * after the helper marked it done, under the mutex). If the deadline passes, the agent marks the
 * job abandoned and leaves; the helper drops the results when the callback finally returns.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "inspect.h"

enum job_state { JOB_IDLE, JOB_PENDING, JOB_RUNNING, JOB_DONE };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;        /* helper waits for a job */
	pthread_cond_t done;        /* agent waits for the result */
	int started;
	unsigned epoch;             /* bumped by shutdown: helpers of older epochs leave */
	pthread_t thread;
	enum job_state state;
	int abandoned;
	sonde_inspect_fn fn;
	sonde_task *task;
	void *arg;
	/* results: written by the helper while RUNNING */
	char buf[INSPECT_MAX_BYTES];
	size_t used;
	unsigned pairs, dropped;
} job = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
};

static pthread_once_t inspect_once = PTHREAD_ONCE_INIT;
static int cond_ok;

/* A forked child has no helper thread: forget the parent's. */
static void inspect_atfork_child(void)
{
	pthread_mutex_init(&job.lock, NULL);
	pthread_cond_init(&job.wake, NULL);
	job.started = 0;
	job.state = JOB_IDLE;
	job.abandoned = 0;
}

/* The done condition waits on CLOCK_MONOTONIC, so a wall-clock jump cannot stretch a budget. */
static void inspect_init_once(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	          pthread_cond_init(&job.done, &ca) == 0;
	pthread_condattr_destroy(&ca);
	pthread_atfork(NULL, NULL, inspect_atfork_child);
}

/* emit() as handed to callbacks: copies, bounded; pairs that do not fit are counted. */
static void inspect_emit(void *ctx, const char *key, const char *value)
{
	size_t kl, vl;

	(void)ctx;
	if (key == NULL)
		key = "";
	if (value == NULL)
		value = "";
	kl = strnlen(key, 256);
	vl = strnlen(value, INSPECT_MAX_VALUE);
	if (job.pairs >= INSPECT_MAX_PAIRS || job.used + kl + vl + 2 > sizeof job.buf) {
		job.dropped++;
		return;
	}
	memcpy(job.buf + job.used, key, kl);
	job.buf[job.used + kl] = '\0';
	memcpy(job.buf + job.used + kl + 1, value, vl);
	job.buf[job.used + kl + 1 + vl] = '\0';
	job.used += kl + vl + 2;
	job.pairs++;
}

/* The helper: one job at a time; results of a job nobody waits for any more are dropped. */
static void *inspect_main(void *arg)
{
	unsigned epoch = (unsigned)(uintptr_t)arg;

	pthread_mutex_lock(&job.lock);
	for (;;) {
		while (job.state != JOB_PENDING && job.epoch == epoch)
			pthread_cond_wait(&job.wake, &job.lock);
		if (job.epoch != epoch)
			break;
		job.state = JOB_RUNNING;
		job.used = 0;
		job.pairs = 0;
		job.dropped = 0;
		pthread_mutex_unlock(&job.lock);

		job.fn(job.task, job.arg, inspect_emit, NULL);

		pthread_mutex_lock(&job.lock);
		if (job.abandoned) {
			job.abandoned = 0;
			job.state = JOB_IDLE;
		} else {
			job.state = JOB_DONE;
			pthread_cond_broadcast(&job.done);
		}
	}
	pthread_mutex_unlock(&job.lock);
	return NULL;
}

/* Start the helper with every signal blocked (the host's handlers never run on it). */
static int inspect_start(void)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&job.thread, NULL, inspect_main, (void *)(uintptr_t)job.epoch);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -1;
	job.started = 1;
	return 0;
}

/* Reported as inspect_ms, so an operator sees what the callback cost. */
static double inspect_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Hand the job over, wait at most the budget, turn the pairs into JSON. */
enum inspect_outcome inspect_run(sonde_inspect_fn fn, sonde_task *task, void *arg,
                                 unsigned budget_ms, json_t **out, double *elapsed_ms)
{
	struct timespec t0, deadline;
	enum inspect_outcome rc;
	char msg[128];
	int wait_rc = 0;

	pthread_once(&inspect_once, inspect_init_once);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	*elapsed_ms = 0;
	if (!cond_ok) {
		*out = json_pack("{s:s}", "error", "inspect unavailable: no monotonic condition variable");
		return INSPECT_FAILED;
	}
	pthread_mutex_lock(&job.lock);
	if (job.state != JOB_IDLE) {
		pthread_mutex_unlock(&job.lock);
		*out = json_pack("{s:s}", "error", "busy: an earlier inspect callback has not returned "
		                                   "yet; retry later");
		return INSPECT_BUSY;
	}
	if (!job.started && inspect_start() != 0) {
		pthread_mutex_unlock(&job.lock);
		*out = json_pack("{s:s}", "error", "inspect helper thread could not be started "
		                                   "(thread limit or memory); retry later");
		return INSPECT_FAILED;
	}
	job.fn = fn;
	job.task = task;
	job.arg = arg;
	job.abandoned = 0;
	job.state = JOB_PENDING;
	pthread_cond_signal(&job.wake);

	deadline = t0;
	deadline.tv_sec += budget_ms / 1000;
	deadline.tv_nsec += (long)(budget_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (job.state != JOB_DONE && wait_rc != ETIMEDOUT)
		wait_rc = pthread_cond_timedwait(&job.done, &job.lock, &deadline);

	if (job.state == JOB_DONE) {
		json_t *obj = json_object();
		size_t at = 0;

		for (unsigned i = 0; i < job.pairs; i++) {
			const char *k = job.buf + at, *v = k + strlen(k) + 1;

			/* invalid UTF-8 from the application becomes a placeholder, not a failure */
			json_t *val = json_string(v);
			json_object_set_new(obj, k, val ? val : json_string("(not UTF-8)"));
			at = (size_t)(v - job.buf) + strlen(v) + 1;
		}
		if (job.dropped > 0)
			json_object_set_new(obj, "truncated", json_integer(job.dropped));
		job.state = JOB_IDLE;
		*out = obj;
		rc = INSPECT_OK;
	} else {
		job.abandoned = 1;
		snprintf(msg, sizeof msg, "timeout after %u ms", budget_ms);
		*out = json_pack("{s:s}", "error", msg);
		rc = INSPECT_TIMEOUT;
	}
	pthread_mutex_unlock(&job.lock);
	*elapsed_ms = inspect_ms_since(&t0);
	return rc;
}

/* Tells a stuck callback from an idle helper. */
int inspect_busy(void)
{
	int busy;

	pthread_mutex_lock(&job.lock);
	busy = job.state != JOB_IDLE;
	pthread_mutex_unlock(&job.lock);
	return busy;
}

/* Join an idle helper; a stuck one is detached and leaves when its callback returns. */
void inspect_shutdown(void)
{
	int idle;

	pthread_mutex_lock(&job.lock);
	if (!job.started) {
		pthread_mutex_unlock(&job.lock);
		return;
	}
	idle = job.state == JOB_IDLE;
	job.epoch++;
	job.started = 0;
	pthread_cond_broadcast(&job.wake);
	pthread_mutex_unlock(&job.lock);
	/* a stuck helper leaves by itself when its callback returns */
	if (idle)
		pthread_join(job.thread, NULL);
	else
		pthread_detach(job.thread);
}
