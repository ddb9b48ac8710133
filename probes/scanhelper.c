/*
 * scanhelper.c - the agent's scan helper thread (see scanhelper.h).
 *
 * One job at a time, handed over under a mutex: the agent sets the job and signals; the helper
 * runs it and signals back. Jobs are pure scans, so the agent waits without a deadline.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "scanhelper.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;       /* helper waits for a job, or for the stop */
	pthread_cond_t done;       /* agent waits for the job's end */
	int started, stop, pending, running;
	pthread_t thread;
	void (*fn)(void *);
	void *arg;
	unsigned long jobs;
	_Atomic pid_t tid;
} sh = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static pthread_once_t sh_once = PTHREAD_ONCE_INIT;

/* A forked child has no helper thread: forget the parent's (its lock may have been held). */
static void sh_atfork_child(void)
{
	pthread_mutex_init(&sh.lock, NULL);
	pthread_cond_init(&sh.wake, NULL);
	pthread_cond_init(&sh.done, NULL);
	sh.started = sh.stop = sh.pending = sh.running = 0;
	atomic_store(&sh.tid, 0);
}

static void sh_init_once(void)
{
	pthread_atfork(NULL, NULL, sh_atfork_child);
}

static void *sh_main(void *unused)
{
	(void)unused;
	atomic_store(&sh.tid, (pid_t)syscall(SYS_gettid));
	pthread_mutex_lock(&sh.lock);
	for (;;) {
		while (!sh.pending && !sh.stop)
			pthread_cond_wait(&sh.wake, &sh.lock);
		if (sh.stop)
			break;
		sh.pending = 0;
		sh.running = 1;
		pthread_mutex_unlock(&sh.lock);
		sh.fn(sh.arg);
		pthread_mutex_lock(&sh.lock);
		sh.running = 0;
		sh.jobs++;
		pthread_cond_signal(&sh.done);
	}
	pthread_mutex_unlock(&sh.lock);
	atomic_store(&sh.tid, 0);
	return NULL;
}

int scanhelper_start(void (*fn)(void *arg), void *arg)
{
	pthread_once(&sh_once, sh_init_once);
	pthread_mutex_lock(&sh.lock);
	if (!sh.started) {
		sigset_t all, old;
		int rc;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		sh.stop = 0;
		rc = pthread_create(&sh.thread, NULL, sh_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0) {
			pthread_mutex_unlock(&sh.lock);
			return -1;
		}
		pthread_setname_np(sh.thread, "sonde-scan");
		sh.started = 1;
	}
	sh.fn = fn;
	sh.arg = arg;
	sh.pending = 1;
	pthread_cond_signal(&sh.wake);
	pthread_mutex_unlock(&sh.lock);
	return 0;
}

void scanhelper_wait(void)
{
	pthread_mutex_lock(&sh.lock);
	while (sh.pending || sh.running)
		pthread_cond_wait(&sh.done, &sh.lock);
	pthread_mutex_unlock(&sh.lock);
}

pid_t scanhelper_tid(void)
{
	return atomic_load(&sh.tid);
}

unsigned long scanhelper_jobs(void)
{
	unsigned long n;

	pthread_mutex_lock(&sh.lock);
	n = sh.jobs;
	pthread_mutex_unlock(&sh.lock);
	return n;
}

void scanhelper_shutdown(void)
{
	pthread_mutex_lock(&sh.lock);
	if (!sh.started) {
		pthread_mutex_unlock(&sh.lock);
		return;
	}
	while (sh.pending || sh.running)
		pthread_cond_wait(&sh.done, &sh.lock);
	sh.stop = 1;
	sh.started = 0;
	pthread_cond_broadcast(&sh.wake);
	pthread_mutex_unlock(&sh.lock);
	pthread_join(sh.thread, NULL);
}
