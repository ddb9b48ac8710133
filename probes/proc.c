/*
 * proc.c - the host process and its threads (see proc.h for the two sources and why).
 *
 * The tick keeps two thread tables and swaps them: the published one (the latest tick, which
 * the next tick diffs against) and the one being filled. They grow by doubling when the host
 * has more threads than ever before, and are otherwise reused, so a steady host costs the agent
 * no allocation per tick. All state is owned by the agent thread.
 */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libproc2/pids.h>

#include "command.h"
#include "proc.h"

/* ---- small helpers ---------------------------------------------------------------------- */

/* Clock ticks per second: every /proc time is in these. Cached; sysconf is not free. */
long proc_hertz(void)
{
	static long hz;

	if (hz <= 0) {
		hz = sysconf(_SC_CLK_TCK);
		if (hz <= 0)
			hz = 100;
	}
	return hz;
}

/* A clock reading in nanoseconds, for the probe's own cost and for thread ages. */
static uint64_t proc_clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* /proc files are generated whole on read(); one read of a buffer larger than the file gets
 * it all, and we never need more than the first few hundred bytes of the ones we read. */
ssize_t proc_read_small(int dirfd, const char *path, char *buf, size_t size)
{
	int fd, saved;
	ssize_t n;

	if (size == 0) {
		errno = EINVAL;
		return -1;
	}
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	saved = errno;
	close(fd);
	errno = saved;
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* Directory entries of /proc/self/task and /proc/self/fd are numbers; anything else is not
 * ours to count ("." and ".."). */
long proc_parse_number_name(const char *name)
{
	long v = 0;

	if (*name == '\0')
		return -1;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > (LONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v > 0 || strcmp(name, "0") == 0 ? v : -1;
}

/* ---- parsers ---------------------------------------------------------------------------- */

/* strtoull over a bounded buffer: the stat line is not NUL-terminated when it fills buf. */
static int proc_field(const char **pp, const char *end, unsigned long long *out, int is_signed)
{
	const char *p = *pp;
	unsigned long long v = 0;
	int neg = 0, digits = 0;

	while (p < end && *p == ' ')
		p++;
	if (is_signed && p < end && *p == '-') {
		neg = 1;
		p++;
	}
	while (p < end && *p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned long long)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0)
		return -1;
	*out = neg ? (unsigned long long)(-(long long)v) : v;
	*pp = p;
	return 0;
}

/* Fields after "pid (comm) ": proc(5) numbers them from 3 (state). */
int proc_parse_stat(const char *buf, size_t len, struct proc_stat *out)
{
	const char *end = buf + len, *open, *close = NULL, *p;
	unsigned long long v[52];
	size_t namelen;
	int field;

	memset(out, 0, sizeof *out);
	open = memchr(buf, '(', len);
	if (open == NULL)
		return -1;
	for (p = open; p < end; p++)
		if (*p == ')')
			close = p;
	if (close == NULL || close + 3 >= end || close[1] != ' ')
		return -1;
	p = buf;
	if (proc_field(&p, open, &v[0], 0) != 0)
		return -1;
	out->pid = (pid_t)v[0];
	namelen = (size_t)(close - open - 1);
	if (namelen >= sizeof out->comm)
		namelen = sizeof out->comm - 1;
	memcpy(out->comm, open + 1, namelen);
	out->comm[namelen] = '\0';
	out->state = close[2];
	p = close + 3;
	/* fields 4..39 (ppid .. processor); signed ones are parsed as such */
	for (field = 4; field <= 39; field++) {
		int is_signed = field == 4 || field == 5 || field == 6 || field == 7 || field == 8 ||
		                (field >= 16 && field <= 21) || field == 24 || field == 38 || field == 39;
		if (proc_field(&p, end, &v[field - 4], is_signed) != 0)
			return -1;
	}
	out->utime = v[14 - 4];
	out->stime = v[15 - 4];
	out->num_threads = (long)v[20 - 4];
	out->starttime = v[22 - 4];
	out->vsize = v[23 - 4];
	out->rss_pages = (long long)v[24 - 4];
	out->processor = (int)v[39 - 4];
	return 0;
}

/* The three load averages lead /proc/loadavg; the run queue and last pid follow, unused. */
int proc_parse_loadavg(const char *buf, double out[3])
{
	char *end;
	const char *p = buf;

	for (int i = 0; i < 3; i++) {
		out[i] = strtod(p, &end);
		if (end == p)
			return -1;
		p = end;
	}
	return 0;
}

/* One "Key:   123 kB" line's value in bytes, searching from the start of buf. */
static int proc_meminfo_value(const char *buf, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);
	const char *p = buf;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			char *end;
			unsigned long long v = strtoull(p + klen + 1, &end, 10);

			if (end == p + klen + 1)
				return -1;
			while (*end == ' ')
				end++;
			*out = strncmp(end, "kB", 2) == 0 ? (uint64_t)v * 1024u : (uint64_t)v;
			return 0;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

/* MemAvailable, not MemFree: what the kernel says can be had without swapping. */
int proc_parse_meminfo(const char *buf, uint64_t *total_bytes, uint64_t *available_bytes)
{
	if (proc_meminfo_value(buf, "MemTotal", total_bytes) != 0 ||
	    proc_meminfo_value(buf, "MemAvailable", available_bytes) != 0)
		return -1;
	return 0;
}

/* CPU share over the time a thread was observed, in % of one core. */
static double proc_pct(double cpu_s, double over_s)
{
	return over_s > 0 ? cpu_s / over_s * 100.0 : 0.0;
}

/* Shares from two tables sorted by tid, by merging them (see proc.h for each case). */
void proc_thread_deltas(struct proc_thread_tick *cur, size_t ncur,
                        const struct proc_thread_tick *prev, size_t nprev,
                        double interval_s, double now_since_process_start_s, double tick_s)
{
	size_t j = 0;

	for (size_t i = 0; i < ncur; i++) {
		struct proc_thread_tick *t = &cur[i];

		while (j < nprev && prev[j].tid < t->tid)
			j++;
		if (j < nprev && prev[j].tid == t->tid && t->cpu_s >= prev[j].cpu_s &&
		    t->start_s == prev[j].start_s) {
			t->cpu_pct = proc_pct(t->cpu_s - prev[j].cpu_s, interval_s);
		} else {
			double age = now_since_process_start_s - t->start_s;

			if (age > interval_s + 2 * tick_s) {
				/* it was alive at the last sample yet is not in it (that table was cut
				 * short): its CPU over the interval is unknown, not its lifetime's */
				t->cpu_pct = NAN;
				continue;
			}
			if (age > interval_s)
				age = interval_s;
			if (age < tick_s)
				age = tick_s;
			t->cpu_pct = proc_pct(t->cpu_s, age);
		}
	}
}

/* ---- the per-tick probe ----------------------------------------------------------------- */

static struct {
	int have_baseline;          /* a sample exists to diff against */
	int published;              /* tick below is valid */
	struct proc_tick tick;
	struct proc_thread_tick *buf[2];
	size_t cap[2];
	int cur;                    /* buf[cur] holds the latest thread table */
	size_t ncur;
	uint64_t at_ns;             /* latest sample of the process figures */
	uint64_t threads_at_ns;     /* latest thread table */
	double threads_interval_s;  /* what its cpu_pct values cover */
	unsigned skip;              /* ticks to go before the thread table is read again */
	unsigned long long utime, stime;
	uint64_t ctx_switches;
	struct proc_tick_cost cost;
} proc_state;

/* Share of one core the thread scan may take, averaged over ticks (see proc_sample). */
static double proc_scan_budget = 0.01;
#define PROC_MAX_SKIP 59u           /* the thread table is at most a minute old at 1 s */

/* Tests shrink the budget to see the scan spread out. */
void proc_set_thread_scan_budget(double share_of_a_core);
void proc_set_thread_scan_budget(double share_of_a_core)
{
	proc_scan_budget = share_of_a_core;
}

/* getdents64 buffer: one call lists ~500 entries; static because the agent thread is alone. */
static char proc_dents[16384];

/*
 * Open file descriptors. Linux 6.2+ gives the count as the size of /proc/self/fd (one stat, no
 * descriptor of ours in it); older kernels say 0 there, and then the entries are listed, less
 * the one we opened to list them. The listing costs ~0.8 us per descriptor every tick: 16 ms at
 * 20,000 (a busy proxy), most of a core at a million.
 */
unsigned proc_count_fds(void)
{
	struct stat st;
	int dfd;
	unsigned count = 0;
	ssize_t n;

	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
		return (unsigned)st.st_size;
	dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	while ((n = getdents64(dfd, proc_dents, sizeof proc_dents)) > 0) {
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(proc_dents + off);
			long fd = proc_parse_number_name(d->d_name);

			if (fd >= 0 && fd != dfd)
				count++;
			off += d->d_reclen;
		}
	}
	close(dfd);
	return count;
}

/* Tables are kept sorted by tid: deltas merge them and lookups bisect them. */
static int proc_thread_cmp(const void *a, const void *b)
{
	const struct proc_thread_tick *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

/*
 * Parse /proc/self/task/TID/stat for every thread and hand each to each(ctx, st); threads that
 * exit mid-scan are skipped. One getdents64 per ~500 threads and one open/read/close per thread,
 * no allocation: the cheapest way the kernel offers (libproc2 also stats each task directory,
 * reads its statm and parses with sscanf: 2-3x the cost at 1000 threads).
 */
static void proc_scan(void (*each)(void *ctx, const struct proc_stat *st), void *ctx)
{
	char line[1024];
	char path[32];
	int tfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ssize_t got;

	if (tfd < 0)
		return;
	while ((got = getdents64(tfd, proc_dents, sizeof proc_dents)) > 0) {
		for (ssize_t off = 0; off < got;) {
			struct dirent64 *d = (struct dirent64 *)(proc_dents + off);
			long tid = proc_parse_number_name(d->d_name);
			struct proc_stat st;
			ssize_t len;

			off += d->d_reclen;
			if (tid <= 0)
				continue;
			snprintf(path, sizeof path, "%ld/stat", tid);
			len = proc_read_small(tfd, path, line, sizeof line);
			if (len <= 0 || proc_parse_stat(line, (size_t)len, &st) != 0)
				continue;
			st.pid = (pid_t)tid;
			each(ctx, &st);
		}
	}
	close(tfd);
}

struct proc_tick_scan {
	int slot;
	size_t n;
	int sorted;
	unsigned long long proc_starttime;
};

/* One thread into the tick table being filled, growing it by doubling. */
static void proc_tick_each(void *ctx, const struct proc_stat *st)
{
	struct proc_tick_scan *sc = ctx;
	double hz = (double)proc_hertz();
	struct proc_thread_tick *t;

	if (sc->n == proc_state.cap[sc->slot]) {
		size_t cap = proc_state.cap[sc->slot] ? proc_state.cap[sc->slot] * 2 : 64;
		void *grown = realloc(proc_state.buf[sc->slot], cap * sizeof *t);

		if (grown == NULL)
			return; /* keep what fits; the next tick tries again */
		proc_state.buf[sc->slot] = grown;
		proc_state.cap[sc->slot] = cap;
	}
	t = &proc_state.buf[sc->slot][sc->n];
	t->tid = st->pid;
	memcpy(t->name, st->comm, sizeof t->name);
	t->state = st->state;
	t->processor = st->processor;
	t->cpu_s = (double)(st->utime + st->stime) / hz;
	t->cpu_pct = 0;
	t->start_s = (double)(st->starttime - sc->proc_starttime) / hz;
	if (sc->n > 0 && proc_state.buf[sc->slot][sc->n - 1].tid > t->tid)
		sc->sorted = 0;
	sc->n++;
}

/* Every thread into buf[slot]; returns the row count, sorted by tid. */
static size_t proc_scan_threads(int slot, unsigned long long proc_starttime)
{
	struct proc_tick_scan sc = {.slot = slot, .sorted = 1, .proc_starttime = proc_starttime};

	proc_scan(proc_tick_each, &sc);
	if (!sc.sorted)
		qsort(proc_state.buf[slot], sc.n, sizeof *proc_state.buf[slot], proc_thread_cmp);
	return sc.n;
}

/*
 * One sample of the process; published as the latest tick when a baseline existed.
 *
 * The process figures are read every tick. The thread table costs ~3 us of CPU per thread (one
 * open/read/close of /proc/self/task/TID/stat each): when one read costs more than
 * proc_scan_budget of a core over the interval -- thousands of threads, or a short interval --
 * the next ones are spread out (re-read every k-th tick, k <= 60) and the ticks between publish
 * the last table with its own time and interval, so the observer's cost stays bounded.
 */
static void proc_sample(uint64_t now_ns, int publish)
{
	char line[1024];
	struct proc_stat st;
	struct rusage ru;
	struct proc_tick *tk = &proc_state.tick;
	double hz = (double)proc_hertz();
	double interval_s;
	uint64_t ctx;
	ssize_t len;

	len = proc_read_small(AT_FDCWD, "/proc/self/stat", line, sizeof line);
	if (len <= 0 || proc_parse_stat(line, (size_t)len, &st) != 0)
		return;
	ctx = 0;
	/* /proc/self/status counts the main thread's switches only; getrusage sums all threads. */
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		ctx = (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;

	if (!proc_state.have_baseline || proc_state.skip == 0) {
		int next = proc_state.have_baseline ? 1 - proc_state.cur : proc_state.cur;
		uint64_t c0 = proc_clock_ns(CLOCK_THREAD_CPUTIME_ID), cost_ns;
		size_t n = proc_scan_threads(next, st.starttime);
		double since_start_s =
			(double)proc_clock_ns(CLOCK_BOOTTIME) / 1e9 - (double)st.starttime / hz;

		cost_ns = proc_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
		if (proc_state.have_baseline && now_ns > proc_state.threads_at_ns) {
			proc_state.threads_interval_s = (double)(now_ns - proc_state.threads_at_ns) / 1e9;
			proc_thread_deltas(proc_state.buf[next], n, proc_state.buf[proc_state.cur],
			                   proc_state.ncur, proc_state.threads_interval_s, since_start_s,
			                   1.0 / hz);
		}
		proc_state.cur = next;
		proc_state.ncur = n;
		proc_state.threads_at_ns = now_ns;
		if (proc_state.have_baseline && now_ns > proc_state.at_ns && proc_scan_budget > 0) {
			double allowed = proc_scan_budget * (double)(now_ns - proc_state.at_ns);
			double k = ceil((double)cost_ns / allowed);

			proc_state.skip = k <= 1 ? 0 : k - 1 > PROC_MAX_SKIP ? PROC_MAX_SKIP : (unsigned)k - 1;
		}
	} else {
		proc_state.skip--;
	}

	if (proc_state.have_baseline && publish && now_ns > proc_state.at_ns) {
		interval_s = (double)(now_ns - proc_state.at_ns) / 1e9;
		tk->at_ns = now_ns;
		tk->interval_s = interval_s;
		tk->cpu_user_pct = st.utime >= proc_state.utime
		                       ? proc_pct((double)(st.utime - proc_state.utime) / hz, interval_s)
		                       : 0;
		tk->cpu_sys_pct = st.stime >= proc_state.stime
		                      ? proc_pct((double)(st.stime - proc_state.stime) / hz, interval_s)
		                      : 0;
		tk->rss_bytes = st.rss_pages > 0 ? (uint64_t)st.rss_pages * (uint64_t)sysconf(_SC_PAGESIZE)
		                                 : 0;
		tk->vsz_bytes = st.vsize;
		tk->fds = proc_count_fds();
		tk->ctx_switches_per_s =
			ctx >= proc_state.ctx_switches ? (double)(ctx - proc_state.ctx_switches) / interval_s
			                               : 0;
		if (proc_read_small(AT_FDCWD, "/proc/loadavg", line, sizeof line) <= 0 ||
		    proc_parse_loadavg(line, tk->loadavg) != 0)
			tk->loadavg[0] = tk->loadavg[1] = tk->loadavg[2] = 0;
		tk->nthreads = proc_state.ncur;
		tk->threads = proc_state.buf[proc_state.cur];
		tk->threads_at_ns = proc_state.threads_at_ns;
		tk->threads_interval_s = proc_state.threads_interval_s;
		proc_state.published = 1;
	} else {
		/* the table may have been rewritten: it is no longer a consistent tick */
		proc_state.published = 0;
	}
	proc_state.at_ns = now_ns;
	proc_state.utime = st.utime;
	proc_state.stime = st.stime;
	proc_state.ctx_switches = ctx;
	proc_state.have_baseline = 1;
}

/* A baseline at start, so the first tick already has deltas (never lifetime averages). Tables
 * left by an agent that did not stop (a forked child starting its own) are freed, not leaked. */
static int proc_probe_init(void)
{
	free(proc_state.buf[0]);
	free(proc_state.buf[1]);
	memset(&proc_state, 0, sizeof proc_state);
	proc_sample(proc_clock_ns(CLOCK_MONOTONIC), 0);
	return 0;
}

/* /proc times move in clock ticks (10 ms at 100 Hz): over a shorter interval one tick more or
 * less swings a percentage by 20% or more, so a sample this close to the last one is skipped
 * (the agent ticks right after init; the baseline then serves the next tick). */
#define PROC_MIN_INTERVAL_NS (50u * 1000000u)

/* The agent's tick: one sample, and what it cost (wall and CPU). */
static void proc_probe_tick(uint64_t now_ns)
{
	uint64_t t0, c0, took;

	if (proc_state.have_baseline && now_ns < proc_state.at_ns + PROC_MIN_INTERVAL_NS)
		return;
	t0 = proc_clock_ns(CLOCK_MONOTONIC);
	c0 = proc_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	proc_sample(now_ns, 1);
	proc_state.cost.last_cpu_ns = proc_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	proc_state.cost.total_cpu_ns += proc_state.cost.last_cpu_ns;
	took = proc_clock_ns(CLOCK_MONOTONIC) - t0;
	proc_state.cost.last_ns = took;
	if (took > proc_state.cost.max_ns)
		proc_state.cost.max_ns = took;
	proc_state.cost.total_ns += took;
	proc_state.cost.ticks++;
}

/* The agent stops: the tables go; proc_latest() says NULL until the next start. */
static void proc_probe_fini(void)
{
	free(proc_state.buf[0]);
	free(proc_state.buf[1]);
	memset(&proc_state, 0, sizeof proc_state);
}

/* The sampler and the commands read the latest tick through this, never the state. */
const struct proc_tick *proc_latest(void)
{
	return proc_state.published ? &proc_state.tick : NULL;
}

/* One thread's row of the latest table (the agent's own, for its CPU share). */
const struct proc_thread_tick *proc_latest_thread(pid_t tid)
{
	struct proc_thread_tick key;

	if (!proc_state.published)
		return NULL;
	key.tid = tid;
	return bsearch(&key, proc_state.tick.threads, proc_state.tick.nthreads,
	               sizeof *proc_state.tick.threads, proc_thread_cmp);
}

/* The tables' capacity, counted in what the agent holds. */
size_t proc_memory_bytes(void)
{
	return (proc_state.cap[0] + proc_state.cap[1]) * sizeof *proc_state.buf[0];
}

/* The probe's own cost, for `system` and the benchmark. */
void proc_tick_cost(struct proc_tick_cost *out)
{
	*out = proc_state.cost;
}

const struct probe_entry proc_probe = {
	.name = "proc",
	.init = proc_probe_init,
	.tick = proc_probe_tick,
	.fini = proc_probe_fini,
};

/* ---- libproc2, loaded on the first request ------------------------------------------------ */

/* The few libproc2 entry points we use, resolved with dlsym: linking them would map libproc2
 * (and libsystemd, libgcrypt...) into every host at start, observed or not. */
static struct {
	void *handle;
	int (*pids_new)(struct pids_info **, enum pids_item *, int);
	struct pids_fetch *(*pids_select)(struct pids_info *, unsigned *, int, enum pids_select_type);
	struct pids_info *process_info;
	struct pids_info *threads_info;
} proc_lib;

static const char *proc_lib_soname = LIBPROC2_SONAME;

/* Tests point this at a library that does not exist to check the failure message. */
void proc_set_libproc2_soname(const char *soname);
void proc_set_libproc2_soname(const char *soname)
{
	proc_lib_soname = soname;
}

/* For the rule "never at start": tests check no tick or `threads` request maps libproc2. */
int proc_libproc2_loaded(void)
{
	return proc_lib.handle != NULL;
}

/* dlopen libproc2 once. It is never unloaded: its pids_info objects and the libraries it pulls
 * in keep state we cannot safely tear down while the host runs. A failure is not cached, so
 * installing the package fixes a running host. */
static int proc_lib_load(struct cmd_error *err)
{
	void *h;

	if (proc_lib.handle != NULL)
		return 0;
	h = dlopen(proc_lib_soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return cmd_fail(err, ERR_UNSUPPORTED,
		                "cannot load %s (%s): process and thread figures need libproc2; "
		                "install the libproc2-0 package (apt-get install libproc2-0)",
		                proc_lib_soname, dlerror());
	*(void **)&proc_lib.pids_new = dlsym(h, "procps_pids_new");
	*(void **)&proc_lib.pids_select = dlsym(h, "procps_pids_select");
	if (proc_lib.pids_new == NULL || proc_lib.pids_select == NULL) {
		dlclose(h);
		return cmd_fail(err, ERR_UNSUPPORTED,
		                "%s lacks procps_pids_new/procps_pids_select: it is not procps 4's "
		                "libproc2; install the libproc2-0 package (procps >= 4)",
		                proc_lib_soname);
	}
	proc_lib.handle = h;
	return 0;
}

/* A pids_info for a fixed item list, created once per list and reused by every request. */
static struct pids_info *proc_lib_info(struct pids_info **slot, enum pids_item *items, int n,
                                       struct cmd_error *err)
{
	if (*slot == NULL && proc_lib.pids_new(slot, items, n) < 0) {
		*slot = NULL;
		cmd_fail(err, ERR_INTERNAL, "libproc2 procps_pids_new failed: %s; is /proc mounted?",
		         strerror(errno));
		return NULL;
	}
	return *slot;
}

static enum pids_item proc_process_items[] = {
	PIDS_ID_PID, PIDS_CMD, PIDS_STATE, PIDS_EXE, PIDS_CMDLINE_V, PIDS_TIME_ELAPSED, PIDS_NLWP,
	PIDS_VM_RSS, PIDS_VSIZE_BYTES, PIDS_TICS_USER, PIDS_TICS_SYSTEM,
};
enum { PP_PID, PP_CMD, PP_STATE, PP_EXE, PP_CMDLINE_V, PP_ELAPSED, PP_NLWP, PP_RSS_KIB, PP_VSIZE,
       PP_UTICS, PP_STICS };

/* Copy a string vector and join it with spaces: libproc2's strings die with the next fetch. */
static int proc_copy_argv(struct proc_process *out, char **v)
{
	size_t n = 0, total = 1;

	for (; v != NULL && v[n] != NULL; n++)
		total += strlen(v[n]) + 1;
	out->argv = calloc(n + 1, sizeof *out->argv);
	out->cmdline = malloc(total);
	if (out->argv == NULL || out->cmdline == NULL)
		return -1;
	out->cmdline[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		out->argv[i] = strdup(v[i]);
		if (out->argv[i] == NULL)
			return -1;
		if (i > 0)
			strcat(out->cmdline, " ");
		strcat(out->cmdline, v[i]);
	}
	return 0;
}

/* The process's figures from libproc2 in one read of /proc/PID (stat, status, cmdline, exe). */
int proc_query_process(struct proc_process *out, struct cmd_error *err)
{
	struct pids_info *info;
	struct pids_fetch *f;
	struct pids_stack *s;
	unsigned pid = (unsigned)getpid();
	double hz = (double)proc_hertz();

	memset(out, 0, sizeof *out);
	if (proc_lib_load(err) != 0)
		return -1;
	info = proc_lib_info(&proc_lib.process_info, proc_process_items,
	                     (int)(sizeof proc_process_items / sizeof proc_process_items[0]), err);
	if (info == NULL)
		return -1;
	f = proc_lib.pids_select(info, &pid, 1, PIDS_SELECT_PID);
	if (f == NULL || f->counts == NULL || f->counts->total < 1)
		return cmd_fail(err, ERR_INTERNAL, "libproc2 could not read /proc/%u: %s", pid,
		                strerror(errno));
	s = f->stacks[0];
	out->pid = PIDS_VAL(PP_PID, s_int, s, info);
	snprintf(out->comm, sizeof out->comm, "%s", PIDS_VAL(PP_CMD, str, s, info));
	out->state = (char)PIDS_VAL(PP_STATE, s_ch, s, info);
	snprintf(out->exe, sizeof out->exe, "%s", PIDS_VAL(PP_EXE, str, s, info));
	out->uptime_s = PIDS_VAL(PP_ELAPSED, real, s, info);
	out->threads = PIDS_VAL(PP_NLWP, s_int, s, info);
	out->rss_bytes = (uint64_t)PIDS_VAL(PP_RSS_KIB, ul_int, s, info) * 1024u;
	out->vsz_bytes = PIDS_VAL(PP_VSIZE, ul_int, s, info);
	out->cpu_user_s = (double)PIDS_VAL(PP_UTICS, ull_int, s, info) / hz;
	out->cpu_sys_s = (double)PIDS_VAL(PP_STICS, ull_int, s, info) / hz;
	if (proc_copy_argv(out, PIDS_VAL(PP_CMDLINE_V, strv, s, info)) != 0) {
		proc_process_free(out);
		return cmd_fail(err, ERR_INTERNAL, "out of memory copying the command line");
	}
	out->fds = proc_count_fds();
	return 0;
}

/* The copies proc_query_process() made of libproc2's strings. */
void proc_process_free(struct proc_process *p)
{
	if (p->argv != NULL)
		for (size_t i = 0; p->argv[i] != NULL; i++)
			free(p->argv[i]);
	free(p->argv);
	free(p->cmdline);
	p->argv = NULL;
	p->cmdline = NULL;
}

static enum pids_item proc_thread_items[] = {
	PIDS_ID_TID, PIDS_CMD, PIDS_STATE, PIDS_PROCESSOR, PIDS_TICS_USER, PIDS_TICS_SYSTEM,
	PIDS_TICS_BEGAN,
};
enum { PT_TID, PT_CMD, PT_STATE, PT_PROCESSOR, PT_UTICS, PT_STICS, PT_BEGAN };

/* Reply rows in tid order, whatever order the source listed them in. */
static int proc_row_cmp(const void *a, const void *b)
{
	const struct proc_thread *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

struct proc_rows_scan {
	struct proc_thread *rows;
	size_t n, cap;
	unsigned long long proc_starttime;
	int failed;
};

/* One thread into the reply's rows, growing them by doubling. */
static void proc_rows_each(void *ctx, const struct proc_stat *st)
{
	struct proc_rows_scan *sc = ctx;
	double hz = (double)proc_hertz();
	struct proc_thread *t;

	if (sc->n == sc->cap) {
		size_t cap = sc->cap * 2;
		void *grown = realloc(sc->rows, cap * sizeof *sc->rows);

		if (grown == NULL) {
			sc->failed = 1;
			return;
		}
		sc->rows = grown;
		sc->cap = cap;
	}
	t = &sc->rows[sc->n++];
	t->tid = st->pid;
	memcpy(t->name, st->comm, sizeof t->name);
	t->state = st->state;
	t->processor = st->processor;
	t->cpu_user_s = (double)st->utime / (double)hz;
	t->cpu_sys_s = (double)st->stime / (double)hz;
	t->start_s = (double)(st->starttime - sc->proc_starttime) / hz;
}

/* The threads from /proc/self/task/TID/stat with our parser: every thread's own row, the main
 * thread's included (there is no whole-process row in task/). */
static int proc_query_threads_direct(struct proc_thread **rows, size_t *n,
                                     double *process_cpu_user_s, double *process_cpu_sys_s,
                                     struct cmd_error *err)
{
	char line[1024];
	struct proc_stat st;
	struct proc_rows_scan sc = {0};
	ssize_t len = proc_read_small(AT_FDCWD, "/proc/self/stat", line, sizeof line);
	double hz = (double)proc_hertz();

	if (len <= 0 || proc_parse_stat(line, (size_t)len, &st) != 0)
		return cmd_fail(err, ERR_INTERNAL, "cannot read /proc/self/stat: %s; is /proc mounted?",
		                strerror(errno));
	*process_cpu_user_s = (double)st.utime / hz;
	*process_cpu_sys_s = (double)st.stime / hz;
	sc.proc_starttime = st.starttime;
	sc.cap = (size_t)(st.num_threads > 0 ? st.num_threads : 1) + 16;
	sc.rows = malloc(sc.cap * sizeof *sc.rows);
	if (sc.rows == NULL)
		return cmd_fail(err, ERR_INTERNAL, "out of memory for %zu thread rows", sc.cap);
	proc_scan(proc_rows_each, &sc);
	if (sc.failed) {
		free(sc.rows);
		return cmd_fail(err, ERR_INTERNAL, "out of memory for %zu thread rows", sc.cap * 2);
	}
	qsort(sc.rows, sc.n, sizeof *sc.rows, proc_row_cmp);
	*rows = sc.rows;
	*n = sc.n;
	return 0;
}

/* The threads from the chosen source; libproc2's whole-process main row is replaced by the
 * main thread's own /proc/self/task/PID/stat. */
int proc_query_threads(struct proc_thread **rows, size_t *n, double *process_cpu_user_s,
                       double *process_cpu_sys_s, enum proc_source source,
                       struct cmd_error *err)
{
	struct pids_info *info;
	struct pids_fetch *f;
	unsigned pid = (unsigned)getpid();
	double hz = (double)proc_hertz();
	unsigned long long began0 = 0;
	struct proc_thread *out;
	size_t count = 0;
	int total;

	*rows = NULL;
	*n = 0;
	*process_cpu_user_s = *process_cpu_sys_s = 0;
	if (source == PROC_SOURCE_PROC)
		return proc_query_threads_direct(rows, n, process_cpu_user_s, process_cpu_sys_s, err);
	if (proc_lib_load(err) != 0)
		return -1;
	info = proc_lib_info(&proc_lib.threads_info, proc_thread_items,
	                     (int)(sizeof proc_thread_items / sizeof proc_thread_items[0]), err);
	if (info == NULL)
		return -1;
	f = proc_lib.pids_select(info, &pid, 1, PIDS_SELECT_PID_THREADS);
	if (f == NULL || f->counts == NULL || f->counts->total < 1)
		return cmd_fail(err, ERR_INTERNAL, "libproc2 could not read the threads of /proc/%u: %s",
		                pid, strerror(errno));
	total = f->counts->total;
	out = calloc((size_t)total, sizeof *out);
	if (out == NULL)
		return cmd_fail(err, ERR_INTERNAL, "out of memory for %d thread rows", total);
	for (int i = 0; i < total; i++) {
		struct pids_stack *s = f->stacks[i];
		struct proc_thread *t = &out[count];

		t->tid = PIDS_VAL(PT_TID, s_int, s, info);
		if (t->tid == (pid_t)pid) {
			/* libproc2's row for the main thread is /proc/PID/stat: the whole process. */
			char line[1024], path[48];
			struct proc_stat st;
			ssize_t len;

			*process_cpu_user_s = (double)PIDS_VAL(PT_UTICS, ull_int, s, info) / hz;
			*process_cpu_sys_s = (double)PIDS_VAL(PT_STICS, ull_int, s, info) / hz;
			began0 = PIDS_VAL(PT_BEGAN, ull_int, s, info);
			snprintf(path, sizeof path, "/proc/self/task/%u/stat", pid);
			len = proc_read_small(AT_FDCWD, path, line, sizeof line);
			if (len <= 0 || proc_parse_stat(line, (size_t)len, &st) != 0) {
				free(out);
				return cmd_fail(err, ERR_INTERNAL, "cannot read %s: %s", path,
				                strerror(errno));
			}
			memcpy(t->name, st.comm, sizeof t->name);
			t->state = st.state;
			t->processor = st.processor;
			t->cpu_user_s = (double)st.utime / hz;
			t->cpu_sys_s = (double)st.stime / hz;
			t->start_s = 0;
		} else {
			snprintf(t->name, sizeof t->name, "%s", PIDS_VAL(PT_CMD, str, s, info));
			t->state = (char)PIDS_VAL(PT_STATE, s_ch, s, info);
			t->processor = PIDS_VAL(PT_PROCESSOR, s_int, s, info);
			t->cpu_user_s = (double)PIDS_VAL(PT_UTICS, ull_int, s, info) / hz;
			t->cpu_sys_s = (double)PIDS_VAL(PT_STICS, ull_int, s, info) / hz;
			t->start_s = (double)PIDS_VAL(PT_BEGAN, ull_int, s, info); /* ticks; fixed below */
		}
		count++;
	}
	for (size_t i = 0; i < count; i++)
		if (out[i].tid != (pid_t)pid)
			out[i].start_s = (out[i].start_s - (double)began0) / hz;
	qsort(out, count, sizeof *out, proc_row_cmp);
	*rows = out;
	*n = count;
	return 0;
}
