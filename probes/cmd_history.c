/*
 * cmd_history.c - `history`: the sampler ring (probes/sampler.h) read with a cursor, so a client
 * fetches the whole ring once and afterwards only the samples it has not seen.
 *
 * Arguments:
 *   series  names, comma-separated string or array of strings; default all (see "series" in
 *           the reply for names and units; "threads" is the busiest threads per sample)
 *   since   cursor: the seq of the newest sample the client has (the reply's "next"); only newer
 *           samples are returned. Absent or 0: from the oldest sample held.
 *   limit   at most this many samples (default 1000, at most 100000); with more available the
 *           oldest come first and "more" is true: ask again with since=next.
 *   last    only the newest N samples (instead of everything after since), e.g. `sonde query
 *           history last=5`.
 * Result: interval_ms, capacity (samples), history_s, memory_bytes, oldest, newest, next, more,
 * series [{name, unit, summary}], samples [{seq, t, mono_s, <series>..., threads, gap_before}],
 * and "gap": {from, to, lost} when since is older than the oldest sample still held.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "agent.h"
#include "command.h"
#include "proto.h"
#include "sampler.h"

#define HISTORY_DEFAULT_LIMIT 1000   /* ~20 us of agent time per sample with every series: a reply
                                        stays near 20 ms */
#define HISTORY_THREADS SS_COUNT     /* the pseudo-series index of "threads" */

/* Mark one series name (len bytes) in want[]; a name that does not exist lists the valid ones. */
static int history_want(const char *name, size_t len, unsigned char *want, struct cmd_error *err)
{
	char names[1024];
	size_t used = 0;
	int i;

	if (len == 7 && memcmp(name, "threads", 7) == 0) {
		want[HISTORY_THREADS] = 1;
		return 0;
	}
	i = sampler_series_find(name, len);
	if (i >= 0) {
		want[i] = 1;
		return 0;
	}
	names[0] = '\0';
	for (int k = 0; k < SS_COUNT && used < sizeof names; k++)
		used += (size_t)snprintf(names + used, sizeof names - used, "%s, ",
		                         sampler_series_info[k].name);
	return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"series\": no series named \"%.*s\"; the "
	                "series are %sthreads", (int)(len > 64 ? 64 : len), name, names);
}

/* The series argument: absent = all; a comma-separated string or an array of strings. */
static int history_series_arg(const json_t *req, unsigned char *want, struct cmd_error *err)
{
	const json_t *v = json_object_get(req, "series");

	if (v == NULL || json_is_null(v)) {
		memset(want, 1, SS_COUNT + 1);
		return 0;
	}
	memset(want, 0, SS_COUNT + 1);
	if (json_is_string(v)) {
		const char *s = json_string_value(v), *end = s + json_string_length(v);
		while (s < end) {
			const char *comma = memchr(s, ',', (size_t)(end - s));
			const char *stop = comma != NULL ? comma : end;
			while (s < stop && *s == ' ')
				s++;
			size_t len = (size_t)(stop - s);
			while (len > 0 && s[len - 1] == ' ')
				len--;
			if (len > 0 && history_want(s, len, want, err) != 0)
				return -1;
			s = stop + 1;
		}
		return 0;
	}
	if (json_is_array(v)) {
		size_t i;
		const json_t *name;
		json_array_foreach(v, i, name) {
			if (!json_is_string(name))
				return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"series\": element %zu must "
				                "be a series name (a string)", i);
			if (history_want(json_string_value(name), json_string_length(name), want, err) != 0)
				return -1;
		}
		return 0;
	}
	return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"series\" must be a comma-separated string "
	                "or an array of series names");
}

/* A value on the wire: NaN/unknown is null; bytes and counts are integers, the rest reals. */
static json_t *history_value(double v, const char *unit)
{
	if (!isfinite(v))
		return json_null();
	if (strcmp(unit, "bytes") == 0 || strcmp(unit, "count") == 0)
		return json_integer((json_int_t)llround(v));
	return json_real(round(v * 1000.0) / 1000.0);
}

static json_t *history_sample(const struct sampler_sample *s, const unsigned char *want,
                              uint64_t started_ns)
{
	json_t *o = json_object();

	json_object_set_new(o, "seq", json_integer((json_int_t)s->seq));
	json_object_set_new(o, "t", json_real(s->wall_s));
	json_object_set_new(o, "mono_s", json_real(s->mono_ns >= started_ns
	                                           ? (double)(s->mono_ns - started_ns) / 1e9 : 0.0));
	for (int i = 0; i < SS_COUNT; i++)
		if (want[i])
			json_object_set_new(o, sampler_series_info[i].name,
			                    history_value(s->v[i], sampler_series_info[i].unit));
	if (want[HISTORY_THREADS]) {
		json_t *a = json_array();
		for (unsigned t = 0; t < s->nthreads; t++)
			json_array_append_new(a, json_pack("{s:i,s:s,s:o}", "tid", (int)s->threads[t].tid,
			                                   "name", s->threads[t].name, "cpu_pct",
			                                   history_value(s->threads[t].cpu_pct, "%")));
		json_object_set_new(o, "threads", a);
	}
	if (s->gap != SAMPLER_GAP_NONE)
		json_object_set_new(o, "gap_before",
		                    json_pack("{s:s,s:I,s:f}", "reason",
		                              sampler_gap_name((enum sampler_gap)s->gap), "missed",
		                              (json_int_t)s->missed, "elapsed_s",
		                              round(s->elapsed_s * 1000.0) / 1000.0));
	return o;
}

static json_t *history_series_list(const unsigned char *want)
{
	json_t *a = json_array();

	for (int i = 0; i < SS_COUNT; i++)
		if (want[i])
			json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "name", sampler_series_info[i].name,
			                                   "unit", sampler_series_info[i].unit, "summary",
			                                   sampler_series_info[i].summary));
	if (want[HISTORY_THREADS])
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "name", "threads", "unit", "%",
		                                   "summary", "the busiest threads over the interval "
		                                   "(tid, name, cpu_pct: % of one core), plus the agent "
		                                   "thread"));
	return a;
}

static int history_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {"series", "since", "limit", "last", NULL};
	unsigned char want[SS_COUNT + 1];
	long long since, limit, last;
	uint64_t oldest, newest, first, stop;
	const struct agent_info *ai = agent_info();
	const struct sampler_sample *newest_s;
	struct sampler_cost c;
	json_t *samples, *r;

	if (proto_check_keys(req, keys, err) != 0 || history_series_arg(req, want, err) != 0 ||
	    proto_arg_int(req, "since", 0, 0, INT64_MAX, &since, err) != 0 ||
	    proto_arg_int(req, "limit", HISTORY_DEFAULT_LIMIT, 1, SAMPLER_MAX_CAPACITY, &limit,
	                  err) != 0 ||
	    proto_arg_int(req, "last", 0, 0, SAMPLER_MAX_CAPACITY, &last, err) != 0)
		return -1;
	if (!sampler_ready())
		return cmd_fail(err, ERR_UNSUPPORTED, "the sampler is off (its history ring could not "
		                "be allocated when the agent started; see the host's stderr)");
	if (since != 0 && last != 0)
		return cmd_fail(err, ERR_BAD_ARGUMENT, "arguments \"since\" and \"last\" exclude each "
		                "other: since continues from a cursor, last takes the newest samples");

	oldest = sampler_oldest_seq();
	newest = sampler_newest_seq();
	if (since != 0 && (uint64_t)since < sampler_seq_base())
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"since\" is %lld, which is not a cursor "
		                "of this agent (its samples are numbered from %" PRIu64 "): it comes from "
		                "another agent incarnation; ask again without since", since,
		                sampler_seq_base() + 1);
	if ((uint64_t)since > newest)
		return cmd_fail(err, ERR_BAD_ARGUMENT, "argument \"since\" is %lld, newer than the newest "
		                "sample (%" PRIu64 "): a cursor from another agent incarnation or a "
		                "made-up one; ask again without since", since, newest);

	r = json_object();
	if (since != 0 && oldest != 0 && (uint64_t)since + 1 < oldest)
		json_object_set_new(r, "gap", json_pack("{s:I,s:I,s:I}", "from", (json_int_t)since,
		                                        "to", (json_int_t)oldest, "lost",
		                                        (json_int_t)(oldest - (uint64_t)since - 1)));
	/* [first, stop] is the run of samples to send. */
	if (newest == sampler_seq_base()) {
		first = newest + 1;
		stop = newest;
	} else if (last != 0) {
		stop = newest;
		first = newest - oldest + 1 > (uint64_t)last ? newest - (uint64_t)last + 1 : oldest;
		if (first + (uint64_t)limit <= stop)
			first = stop - (uint64_t)limit + 1;
	} else {
		first = since != 0 && (uint64_t)since + 1 > oldest ? (uint64_t)since + 1 : oldest;
		stop = newest;
		if (stop >= first && stop - first + 1 > (uint64_t)limit)
			stop = first + (uint64_t)limit - 1;
	}

	samples = json_array();
	for (uint64_t seq = first; seq <= stop; seq++)
		json_array_append_new(samples, history_sample(sampler_get(seq), want, ai->started_ns));

	newest_s = sampler_get(newest);
	sampler_cost(&c);
	json_object_set_new(r, "interval_ms",
	                    json_integer(newest_s != NULL ? newest_s->interval_ms : ai->interval_ms));
	json_object_set_new(r, "capacity", json_integer((json_int_t)sampler_capacity()));
	json_object_set_new(r, "history_s",
	                    json_real((double)sampler_capacity() * (newest_s != NULL
	                              ? newest_s->interval_ms : ai->interval_ms) / 1000.0));
	json_object_set_new(r, "memory_bytes", json_integer((json_int_t)sampler_memory_bytes()));
	json_object_set_new(r, "oldest", json_integer((json_int_t)oldest));
	json_object_set_new(r, "newest", json_integer((json_int_t)newest));
	json_object_set_new(r, "next", json_integer((json_int_t)(stop >= first ? stop
	                                            : since != 0 ? (uint64_t)since : newest)));
	json_object_set_new(r, "more", json_boolean(stop < newest && stop >= first));
	json_object_set_new(r, "series", history_series_list(want));
	json_object_set_new(r, "samples", samples);
	json_object_set_new(r, "cost", json_pack("{s:I,s:f,s:f,s:f}", "ticks", (json_int_t)c.ticks,
	                                         "last_tick_us", round(c.last_tick_s * 1e7) / 10.0,
	                                         "mean_tick_us", c.ticks > 0
	                                         ? round(c.total_s / (double)c.ticks * 1e7) / 10.0 : 0.0,
	                                         "max_tick_us", round(c.max_tick_s * 1e7) / 10.0));
	*result = r;
	return 0;
}

const struct command_entry cmd_history_entry = {
	.name = "history",
	.args = "[series=NAME,...] [since=SEQ] [limit=N] [last=N]",
	.summary = "the sampler ring: load, memory, tasks over the last minutes, with a since cursor",
	.exec = history_exec,
};
