/*
 * sink.c - the access-log sink: the "backlog" story.
 *
 * Every request handler posts one access-log line to the sink's mailbox. The sink delivers each
 * line to a downstream relay and waits for its acknowledgement before the next one (synchronous
 * notify), which caps it at --sink-rate lines per second: below the request rate, so the mailbox
 * grows without end. It is bounded at --backlog-max lines (new lines are then dropped and
 * counted) so the demo's memory stays sane over hours. Queued lines are real malloc'd strings
 * accounted to the sink task, and the mailbox length is its sonde queue.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

struct sink_msg {
	struct sink_msg *next;
	uint64_t queued_ns;
	uint32_t len;
	char text[];
};

/* Delivered lines are copied into a fixed segment, as a real relay batches them into frames. */
#define SINK_SEGMENT_BYTES (64 * 1024)
#define SINK_ROUND_MS 20

static struct sink {
	pthread_mutex_t mu;
	sonde_task *task;
	struct sink_msg *head, *tail;
	uint64_t length, bytes;                  /* queued now */
	uint64_t produced, delivered, dropped;   /* since start */
	uint64_t delivered_bytes, segments;
	uint64_t last_ack_ns, started_ns;
	uint64_t last_drop_log_ns;
	struct demo_rate produce_rate, deliver_rate;
	size_t segment_used;
	char segment[SINK_SEGMENT_BYTES];
} sink = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The one message's accounted size: header and text, as malloc'd. */
static int64_t sink_msg_size(const struct sink_msg *m)
{
	return (int64_t)(sizeof *m + m->len + 1);
}

/* Inspect: what an operator needs to tell a slow consumer from a burst: how long the backlog is,
 * how old its oldest line, and the producers' rate against the consumer's. */
static void sink_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	uint64_t now = demo_now_ns();
	pthread_mutex_lock(&sink.mu);
	double in = demo_rate_per_s(&sink.produce_rate, sink.produced + sink.dropped, now);
	double out = demo_rate_per_s(&sink.deliver_rate, sink.delivered, now);
	demo_emitf(emit, ctx, "backlog_lines", "%llu", (unsigned long long)sink.length);
	demo_emit_bytes(emit, ctx, "backlog_bytes", sink.bytes);
	demo_emit_age(emit, ctx, "oldest_line_queued", sink.head ? sink.head->queued_ns : 0, now);
	demo_emitf(emit, ctx, "produce_rate", "%.1f lines/s (last 10 s)", in);
	demo_emitf(emit, ctx, "consume_rate", "%.1f lines/s (last 10 s)", out);
	demo_emitf(emit, ctx, "backlog_growth", "%+.1f lines/s", in - out);
	demo_emitf(emit, ctx, "backlog_bound", "%lu lines (then new lines are dropped)",
	           demo_config.backlog_max);
	demo_emitf(emit, ctx, "dropped_lines", "%llu", (unsigned long long)sink.dropped);
	demo_emitf(emit, ctx, "delivered_lines", "%llu", (unsigned long long)sink.delivered);
	demo_emit_bytes(emit, ctx, "delivered_bytes", sink.delivered_bytes);
	demo_emitf(emit, ctx, "downstream", "syslog-relay, synchronous ack per line, ~%.2f ms each",
	           1000.0 / demo_config.sink_rate);
	demo_emit_age(emit, ctx, "last_ack", sink.last_ack_ns, now);
	pthread_mutex_unlock(&sink.mu);
}

/* Declare the sink under the application supervisor. */
void sink_init(sonde_task *parent)
{
	sink.started_ns = demo_now_ns();
	sink.task = demo_spawn("log_sink", "sink_thread", parent, SONDE_WORKER, 0, 0, sink_inspect,
	                       NULL);
}

/* The sink's task, for the story line. */
sonde_task *sink_task(void)
{
	return sink.task;
}

/* Lines queued now, for the metrics flush. */
uint64_t sink_queue_length(void)
{
	pthread_mutex_lock(&sink.mu);
	uint64_t n = sink.length;
	pthread_mutex_unlock(&sink.mu);
	return n;
}

/* Producers (request handlers, acceptors) log through here: format, copy into a message, queue
 * it. Never waits on the consumer: at the bound the line is dropped and counted. */
void sink_post(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;

	struct sink_msg *m = malloc(sizeof *m + len + 1);
	if (m == NULL) {
		pthread_mutex_lock(&sink.mu);
		sink.dropped++;
		pthread_mutex_unlock(&sink.mu);
		return;
	}
	m->next = NULL;
	m->queued_ns = demo_now_ns();
	m->len = (uint32_t)len;
	memcpy(m->text, line, len + 1);

	pthread_mutex_lock(&sink.mu);
	if (sink.length >= demo_config.backlog_max) {
		sink.dropped++;
		if (m->queued_ns - sink.last_drop_log_ns > 60000000000ull) {
			sink.last_drop_log_ns = m->queued_ns;
			demo_log("log_sink: backlog at its bound of %lu lines; dropping new lines "
			         "(%llu dropped so far)",
			         demo_config.backlog_max, (unsigned long long)sink.dropped);
		}
		pthread_mutex_unlock(&sink.mu);
		free(m);
		return;
	}
	if (sink.tail)
		sink.tail->next = m;
	else
		sink.head = m;
	sink.tail = m;
	sink.length++;
	sink.bytes += (uint64_t)sink_msg_size(m);
	sink.produced++;
	sonde_task_queue(sink.task, sink.length);
	sonde_task_memory(sink.task, sink_msg_size(m));
	pthread_mutex_unlock(&sink.mu);
}

/* Take up to max lines off the head of the mailbox in one lock hold. */
static struct sink_msg *sink_take(unsigned max)
{
	struct sink_msg *first, *last = NULL;
	pthread_mutex_lock(&sink.mu);
	first = sink.head;
	for (struct sink_msg *m = sink.head; m != NULL && max > 0; m = m->next, max--) {
		last = m;
		sink.length--;
		sink.bytes -= (uint64_t)sink_msg_size(m);
	}
	if (last != NULL) {
		sink.head = last->next;
		if (sink.head == NULL)
			sink.tail = NULL;
		last->next = NULL;
	} else {
		first = NULL;
	}
	sonde_task_queue(sink.task, sink.length);
	pthread_mutex_unlock(&sink.mu);
	return first;
}

/* Deliver one batch: copy each line into the relay segment, free it. Returns work units. */
static uint64_t sink_deliver(struct sink_msg *batch, uint64_t *count, uint64_t *bytes)
{
	uint64_t work = 0;
	int64_t freed = 0;
	while (batch != NULL) {
		struct sink_msg *m = batch;
		batch = m->next;
		if (sink.segment_used + m->len + 1 > SINK_SEGMENT_BYTES) {
			sink.segments++;
			sink.segment_used = 0;
		}
		memcpy(sink.segment + sink.segment_used, m->text, m->len);
		sink.segment_used += m->len;
		sink.segment[sink.segment_used++] = '\n';
		work += 1 + m->len / 64;
		*bytes += m->len + 1;
		(*count)++;
		freed += sink_msg_size(m);
		free(m);
	}
	sonde_task_memory(sink.task, -freed);
	return work;
}

/* The consumer: every round it may deliver sink_rate × elapsed lines, because each line waits
 * for the relay's acknowledgement; between rounds it is blocked on that acknowledgement. */
void *sink_thread(void *arg)
{
	double allowance = 0;
	uint64_t last = demo_now_ns();
	sonde_task_set_self(sink.task);
	while (!atomic_load(&demo_stopping)) {
		sonde_task_status(sink.task, SONDE_BLOCKED);
		SONDE_TASK_AT(sink.task);  /* waiting for the relay's ack */
		demo_sleep_ms(SINK_ROUND_MS);
		uint64_t now = demo_now_ns();
		allowance += demo_config.sink_rate * ((double)(now - last) / 1e9);
		last = now;
		unsigned n = (unsigned)allowance;
		allowance -= n;

		sonde_task_status(sink.task, SONDE_RUNNING);
		SONDE_TASK_AT(sink.task);  /* writing frames to the relay */
		uint64_t count = 0, bytes = 0;
		struct sink_msg *batch = n ? sink_take(n) : NULL;
		uint64_t work = sink_deliver(batch, &count, &bytes);
		sonde_task_work(sink.task, work + 1);

		pthread_mutex_lock(&sink.mu);
		sink.delivered += count;
		sink.delivered_bytes += bytes;
		if (count)
			sink.last_ack_ns = now;
		demo_rate_mark(&sink.produce_rate, sink.produced + sink.dropped, now);
		demo_rate_mark(&sink.deliver_rate, sink.delivered, now);
		pthread_mutex_unlock(&sink.mu);
	}
	return NULL;
}

/* At shutdown, after sonde has stopped: free what is still queued. */
void sink_fini(void)
{
	struct sink_msg *m = sink.head;
	while (m != NULL) {
		struct sink_msg *next = m->next;
		free(m);
		m = next;
	}
	sink.head = sink.tail = NULL;
	sink.length = sink.bytes = 0;
	sonde_task_exit(sink.task, "shutdown");
}
