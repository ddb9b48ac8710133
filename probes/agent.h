/*
 * agent.h - what the agent thread exposes to the commands and probes that run on it.
 * Everything here is owned by the agent thread: call it from commands and probe ticks only.
 */
#ifndef SONDE_AGENT_H
#define SONDE_AGENT_H

#include <stdint.h>
#include <sys/types.h>

struct agent_info {
	pid_t pid;
	pid_t agent_tid;            /* the agent thread's tid, for its own CPU figure */
	const char *name;           /* the service's name as `sonde list` shows it */
	const char *socket_path;
	uint64_t started_ns;        /* CLOCK_MONOTONIC at sonde_start() */
	double started_epoch_s;     /* wall clock at sonde_start() */
	unsigned interval_ms;       /* sampling interval */
	unsigned clients;           /* connected clients now */
	unsigned max_clients;
	unsigned history_seconds;
	unsigned exit_ring;
	uint64_t requests;          /* served since start */
	uint64_t refused;           /* connections refused (uid, too many) */
	uint64_t dropped;           /* clients dropped (slow reader, idle, bad) */
	uint64_t client_buffer_bytes; /* input+output buffers held for clients now */
	size_t output_cap_bytes;    /* per-client unsent output limit */
	unsigned idle_timeout_s;
};

const struct agent_info *agent_info(void);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t agent_now_ns(void);

#endif
