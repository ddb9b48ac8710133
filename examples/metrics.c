/*
 * metrics.c - the metrics flusher: once a second it gathers the service's counters and renders
 * them as OpenMetrics text, as a real service would for a scraper.
 *
 * Its task is bound to its thread (SONDE_TASK_BIND_THREAD), so sonde shows the thread's CPU time
 * as the task's and, with jemalloc, the thread's allocated-minus-freed bytes as its memory (the
 * rendered payload it keeps until the next flush). Nothing is accounted by hand here.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

static struct metrics {
	pthread_mutex_t mu;
	sonde_task *task;
	char *payload;          /* the last rendered exposition, kept for the next scrape */
	size_t payload_len;
	uint64_t flushes, series, last_flush_ns;
	double last_render_ms;
} metrics = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Inspect: when it last flushed, how big the exposition is, how long rendering took. */
static void metrics_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	uint64_t now = demo_now_ns();
	pthread_mutex_lock(&metrics.mu);
	demo_emitf(emit, ctx, "flushes", "%llu", (unsigned long long)metrics.flushes);
	demo_emit_age(emit, ctx, "last_flush", metrics.last_flush_ns, now);
	demo_emitf(emit, ctx, "series", "%llu", (unsigned long long)metrics.series);
	demo_emit_bytes(emit, ctx, "payload", metrics.payload_len);
	demo_emitf(emit, ctx, "render_time", "%.3f ms", metrics.last_render_ms);
	emit(ctx, "format", "OpenMetrics text 1.0.0");
	pthread_mutex_unlock(&metrics.mu);
}

/* Append text to the growing exposition. Returns 0, -1 out of memory. */
static int metrics_append(char **buf, size_t *len, size_t *cap, const char *text)
{
	size_t n = strlen(text);
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 4096;
		while (ncap < *len + n + 1)
			ncap *= 2;
		char *p = realloc(*buf, ncap);
		if (p == NULL)
			return -1;
		*buf = p;
		*cap = ncap;
	}
	memcpy(*buf + *len, text, n + 1);
	*len += n;
	return 0;
}

/* One sample line, "name value". */
static int metrics_line(char **buf, size_t *len, size_t *cap, const char *name, double value)
{
	char line[256];
	snprintf(line, sizeof line, "%s %.17g\n", name, value);
	return metrics_append(buf, len, cap, line);
}

/* Render the exposition from every module's counters. */
static void metrics_flush(uint64_t now)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, series = 0;
	uint64_t open, opened, requests, entries, hits, misses;
	int bad = 0;

	sonde_task_status(metrics.task, SONDE_RUNNING);
	SONDE_TASK_AT(metrics.task);
	conn_stats(&open, &opened, &requests);
	cache_stats(&entries, &hits, &misses);
	bad |= metrics_line(&buf, &len, &cap, "demo_connections_open", (double)open);
	bad |= metrics_line(&buf, &len, &cap, "demo_connections_opened_total", (double)opened);
	bad |= metrics_line(&buf, &len, &cap, "demo_requests_total", (double)requests);
	bad |= metrics_line(&buf, &len, &cap, "demo_cache_entries", (double)entries);
	bad |= metrics_line(&buf, &len, &cap, "demo_cache_hits_total", (double)hits);
	bad |= metrics_line(&buf, &len, &cap, "demo_cache_misses_total", (double)misses);
	bad |= metrics_line(&buf, &len, &cap, "demo_log_backlog_lines",
	                    (double)sink_queue_length());
	bad |= metrics_line(&buf, &len, &cap, "demo_shard_ops_total", (double)shard_ops_total());
	series = 8;
	bad |= metrics_append(&buf, &len, &cap, "# EOF\n");
	double render_ms = (double)(demo_now_ns() - now) / 1e6;

	pthread_mutex_lock(&metrics.mu);
	if (bad) {
		free(buf);
		demo_log("metrics: out of memory rendering the exposition; keeping the previous one");
	} else {
		free(metrics.payload);
		metrics.payload = buf;
		metrics.payload_len = len;
		metrics.series = series;
	}
	metrics.flushes++;
	metrics.last_flush_ns = now;
	metrics.last_render_ms = render_ms;
	pthread_mutex_unlock(&metrics.mu);
	sonde_task_work(metrics.task, 1 + len / 64);
	sonde_task_status(metrics.task, SONDE_WAITING);
}

/* The metrics thread declares its own task, bound to itself, and flushes once a second. */
void *metrics_thread(void *arg)
{
	sonde_task *parent = arg;
	metrics.task = demo_spawn("metrics", "metrics_thread", parent, SONDE_WORKER, 0,
	                          SONDE_TASK_BIND_THREAD, metrics_inspect, NULL);
	while (!atomic_load(&demo_stopping)) {
		metrics_flush(demo_now_ns());
		for (int i = 0; i < 10 && !atomic_load(&demo_stopping); i++)
			demo_sleep_ms(100);
	}
	pthread_mutex_lock(&metrics.mu);
	free(metrics.payload);
	metrics.payload = NULL;
	metrics.payload_len = 0;
	pthread_mutex_unlock(&metrics.mu);
	sonde_task_exit(metrics.task, "shutdown");
	return NULL;
}
