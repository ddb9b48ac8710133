/*
 * prof.c - the `prof` command: jemalloc heap profiling run from the agent, heap_v2 dumps parsed
 * and symbolised in-process, top allocation sites and diffs between dumps (`pprof -base`).
 * See prof.h.
 */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "command.h"
#include "jemalloc.h"
#include "prof.h"
#include "proto.h"

#define PROF_KEEP 8                       /* dumps remembered; older files are removed */
#define PROF_MAX_DUMP_BYTES (64u << 20)   /* refuse to parse a larger dump */
#define PROF_MAX_FRAMES 128               /* per stack, as jemalloc's PROF_BT_MAX */

/* A dump this agent made. */
struct prof_file {
	unsigned seq;
	char path[PATH_MAX];
	uint64_t at_ns;
};

/*
 * The last top/diff answer, keyed by its request: dumps never change once written, so the
 * Memory tab asking again every refresh costs a copy, not a parse and symbolisation.
 */
struct prof_cached {
	char key[96];
	json_t *result;
};

/* Agent-thread state: who runs the profiler, and the dumps. */
static struct {
	int ours;                 /* prof.active was set true by sonde */
	uint64_t started_ns;
	uint64_t deadline_ns;     /* 0: no duration */
	const char *last_stop;    /* why the last sonde run stopped */
	struct prof_file files[PROF_KEEP];
	unsigned nfiles;          /* valid entries, oldest first */
	unsigned next_seq;
	char tmpdir[64];          /* our 0700 temporary directory, when there is no socket dir */
	struct prof_cached cache[2];   /* [0] top, [1] diff */
} prof;

/* A copy of the cached answer for key, or NULL. */
static json_t *prof_cache_get(int slot, const char *key)
{
	if (prof.cache[slot].result == NULL || strcmp(prof.cache[slot].key, key) != 0)
		return NULL;
	return json_deep_copy(prof.cache[slot].result);
}

/* Keep a copy of the answer to the request named key. */
static void prof_cache_put(int slot, const char *key, const json_t *result)
{
	json_decref(prof.cache[slot].result);
	snprintf(prof.cache[slot].key, sizeof prof.cache[slot].key, "%s", key);
	prof.cache[slot].result = json_deep_copy(result);
}

/* ---- parsing --------------------------------------------------------------------------------- */

/* See prof.h: jeprof's heap_v2 scaling from sampled to estimated counts. */
void prof_unsample(uint64_t objs, uint64_t bytes, uint64_t period, double *est_objs,
                   double *est_bytes)
{
	double ratio, scale;

	if (objs == 0 || bytes == 0 || period == 0) {
		*est_objs = (double)objs;
		*est_bytes = (double)bytes;
		return;
	}
	/* jeprof's heap_v2 adjustment: an object of size s is sampled with p = 1 - exp(-s/period)
	 * (computed with expm1 so that tiny objects do not round p to 0). */
	ratio = ((double)bytes / (double)objs) / (double)period;
	scale = 1.0 / -expm1(-ratio);
	if (!isfinite(scale) || scale < 1.0)
		scale = 1.0;
	*est_objs = (double)objs * scale;
	*est_bytes = (double)bytes * scale;
}

/* "  t*: 13: 6688 [0: 0]" -> 13, 6688. */
static int prof_parse_counts(const char *line, uint64_t *objs, uint64_t *bytes)
{
	unsigned long long o, b;

	if (strchr(line, '-') != NULL || sscanf(line, " t*: %llu: %llu", &o, &b) != 2)
		return -1;
	*objs = o;
	*bytes = b;
	return 0;
}

/* Grow a parser array to hold need elements (doubling); -1 on memory exhaustion. */
static int prof_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * elem);
	if (p == NULL)
		return -1;
	*arr = p;
	*cap = n;
	return 0;
}

/* A 0x-prefixed hex number in [*q, end), never reading past end; advances *q. */
static int prof_hex(const char **q, const char *end, uint64_t *out)
{
	const char *p = *q;
	uint64_t v = 0;
	int digits = 0;

	if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; p < end; p++, digits++) {
		int c = (unsigned char)*p, d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		if (digits >= 16)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	if (digits == 0 || (p < end && *p != ' ' && *p != '\r'))
		return -1;
	*q = p;
	*out = v;
	return 0;
}

/* See prof.h: header, global counts, then one "@ stack" line and its "t*" counts per site. */
int prof_parse(const char *text, size_t len, struct prof_dump *d, const char **cause)
{
	const char *p = text, *end = text + len;
	size_t site_cap = 0, frame_cap = 0;
	struct prof_site *cur = NULL;
	unsigned long long period;
	char head[32];

	memset(d, 0, sizeof *d);
	/* The text need not be NUL-terminated: the header is copied out before sscanf sees it. */
	snprintf(head, sizeof head, "%.*s", (int)(len < sizeof head - 1 ? len : sizeof head - 1), text);
	if (strncmp(head, "heap_v2/", 8) != 0 || head[8] < '0' || head[8] > '9' ||
	    sscanf(head + 8, "%llu", &period) != 1) {
		*cause = "not a jemalloc heap_v2 dump (first line must be heap_v2/SAMPLE_PERIOD)";
		return -1;
	}
	d->sample_period = period;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[64];

		if (n >= 17 && strncmp(p, "MAPPED_LIBRARIES:", 17) == 0)
			break;
		if (n > 0 && p[0] == '@') {
			const char *q = p + 1, *le = p + n;

			if (prof_grow((void **)&d->sites, &site_cap, d->nsites + 1, sizeof *d->sites) != 0)
				goto oom;
			cur = &d->sites[d->nsites++];
			memset(cur, 0, sizeof *cur);
			cur->first = d->nframes;
			while (q < le) {
				uint64_t a;

				while (q < le && (*q == ' ' || *q == '\r'))
					q++;
				if (q >= le)
					break;
				if (prof_hex(&q, le, &a) != 0) {
					*cause = "malformed stack line in the dump (expected @ 0xADDR 0xADDR ...)";
					goto fail;
				}
				if (cur->nframes >= PROF_MAX_FRAMES)
					continue;
				if (prof_grow((void **)&d->frames, &frame_cap, d->nframes + 1,
				              sizeof *d->frames) != 0)
					goto oom;
				d->frames[d->nframes++] = (uintptr_t)a;
				cur->nframes++;
			}
		} else if (n > 4 && n < sizeof line && strncmp(p, "  t*:", 5) == 0) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (cur == NULL) {
				if (prof_parse_counts(line, &d->total_objs, &d->total_bytes) != 0)
					goto bad_counts;
			} else if (prof_parse_counts(line, &cur->objs, &cur->bytes) != 0) {
				goto bad_counts;
			} else {
				prof_unsample(cur->objs, cur->bytes, d->sample_period, &cur->est_objs,
				              &cur->est_bytes);
				d->est_total_objs += cur->est_objs;
				d->est_total_bytes += cur->est_bytes;
				cur = NULL;   /* later t<thread> lines of this site are per-thread detail */
			}
		}
		p += n + 1;
	}
	return 0;
bad_counts:
	*cause = "malformed count line in the dump (expected t*: OBJECTS: BYTES [...])";
	goto fail;
oom:
	*cause = "out of memory while parsing the dump";
fail:
	prof_dump_free(d);
	return -1;
}

/* Release a parsed dump's arrays. */
void prof_dump_free(struct prof_dump *d)
{
	free(d->sites);
	free(d->frames);
	memset(d, 0, sizeof *d);
}

/* ---- symbols --------------------------------------------------------------------------------- */

/* A module's file name without its directory, for short frames. */
static const char *prof_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/*
 * Static functions are not in the dynamic symbol table dladdr reads, and a leak usually sits in
 * one. When the module's file still has its .symtab (not stripped), look the address up there:
 * the file is mapped read-only once and kept (the page cache shares it), 16 modules at most.
 */
struct prof_module {
	char path[PATH_MAX];
	const unsigned char *map;     /* NULL: no usable .symtab (stripped, unreadable, not ELF) */
	size_t size;
	const ElfW(Sym) *syms;
	size_t nsyms;
	const char *strs;
	size_t strsize;
	uintptr_t min_vaddr;          /* of the first PT_LOAD, page-aligned: fbase - this = bias */
	const ElfW(Sym) **funcs;      /* the defined functions, by address (built on first use) */
	size_t nfuncs;
};

#define PROF_MAX_MODULES 16
static struct prof_module prof_modules[PROF_MAX_MODULES];
static unsigned prof_nmodules;

/* Validate the ELF file in m->map and find its symbol table; -1 when there is none. */
static int prof_module_parse(struct prof_module *m)
{
	const ElfW(Ehdr) *eh = (const void *)m->map;
	const ElfW(Shdr) *sh;
	long page = sysconf(_SC_PAGESIZE);

	if (m->size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
	    eh->e_shentsize != sizeof *sh || eh->e_shoff > m->size ||
	    (size_t)eh->e_shnum * sizeof *sh > m->size - eh->e_shoff ||
	    eh->e_phentsize != sizeof(ElfW(Phdr)) || eh->e_phoff > m->size ||
	    (size_t)eh->e_phnum * sizeof(ElfW(Phdr)) > m->size - eh->e_phoff)
		return -1;
	m->min_vaddr = UINTPTR_MAX;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const ElfW(Phdr) *ph = (const void *)(m->map + eh->e_phoff + i * sizeof *ph);

		if (ph->p_type == PT_LOAD && ph->p_vaddr < m->min_vaddr)
			m->min_vaddr = ph->p_vaddr;
	}
	if (m->min_vaddr == UINTPTR_MAX)
		return -1;
	m->min_vaddr &= ~(uintptr_t)(page - 1);
	sh = (const void *)(m->map + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const ElfW(Shdr) *str;

		if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum ||
		    sh[i].sh_entsize != sizeof(ElfW(Sym)))
			continue;
		str = &sh[sh[i].sh_link];
		if (sh[i].sh_offset > m->size || sh[i].sh_size > m->size - sh[i].sh_offset ||
		    str->sh_offset > m->size || str->sh_size > m->size - str->sh_offset)
			return -1;
		m->syms = (const void *)(m->map + sh[i].sh_offset);
		m->nsyms = sh[i].sh_size / sizeof(ElfW(Sym));
		m->strs = (const char *)(m->map + str->sh_offset);
		m->strsize = str->sh_size;
		return 0;
	}
	return -1;
}

/* The module's mapped file, opened once; NULL only when the table is full. */
static struct prof_module *prof_module_get(const char *path)
{
	struct prof_module *m;
	struct stat st;
	void *map;
	int fd;

	for (unsigned i = 0; i < prof_nmodules; i++)
		if (strcmp(prof_modules[i].path, path) == 0)
			return &prof_modules[i];
	if (prof_nmodules == PROF_MAX_MODULES)
		return NULL;
	m = &prof_modules[prof_nmodules++];
	memset(m, 0, sizeof *m);
	snprintf(m->path, sizeof m->path, "%s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return m;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map != MAP_FAILED) {
			m->map = map;
			m->size = (size_t)st.st_size;
			if (prof_module_parse(m) != 0) {
				munmap(map, m->size);
				m->map = NULL;
			}
		}
	}
	close(fd);
	return m;
}

/* qsort order of function symbols: by address. */
static int prof_func_cmp(const void *a, const void *b)
{
	const ElfW(Sym) *x = *(const ElfW(Sym) *const *)a, *y = *(const ElfW(Sym) *const *)b;

	return x->st_value < y->st_value ? -1 : x->st_value > y->st_value;
}

/* The module's defined functions sorted by address, once, for binary searches. */
static int prof_module_index(struct prof_module *m)
{
	if (m->funcs != NULL)
		return 0;
	m->funcs = malloc((m->nsyms ? m->nsyms : 1) * sizeof *m->funcs);
	if (m->funcs == NULL)
		return -1;
	m->nfuncs = 0;
	for (size_t i = 0; i < m->nsyms; i++) {
		const ElfW(Sym) *sym = &m->syms[i];

		if ((sym->st_info & 0xf) == STT_FUNC && sym->st_shndx != SHN_UNDEF &&
		    sym->st_size > 0 && sym->st_name < m->strsize)
			m->funcs[m->nfuncs++] = sym;
	}
	qsort(m->funcs, m->nfuncs, sizeof *m->funcs, prof_func_cmp);
	return 0;
}

/* The .symtab function containing addr (a module loaded at fbase): its name and start. */
static const char *prof_module_symbol(const char *path, uintptr_t fbase, uintptr_t addr,
                                      uintptr_t *start)
{
	struct prof_module *m = prof_module_get(path);
	uintptr_t bias, value;
	size_t lo = 0, hi;

	if (m == NULL || m->map == NULL || prof_module_index(m) != 0)
		return NULL;
	bias = fbase - m->min_vaddr;
	value = addr - bias;
	/* The last function starting at or below value, if value falls inside it. */
	hi = m->nfuncs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->funcs[mid]->st_value <= value)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0;) {
		const ElfW(Sym) *sym = m->funcs[i];

		if (value - sym->st_value < sym->st_size) {
			*start = sym->st_value + bias;
			return m->strs + sym->st_name;
		}
		if (value - sym->st_value > 1u << 20)
			break;   /* nested or aliased symbols aside, the owner is close by */
	}
	return NULL;
}

/* The main program's path as dladdr reports it can be "" (glibc): use /proc/self/exe then. */
static const char *prof_module_path(const Dl_info *info)
{
	return info->dli_fname[0] != '\0' ? info->dli_fname : "/proc/self/exe";
}

/* See prof.h: dladdr first, the file's .symtab for static functions, else offsets. */
/* The module's name as frames show it: its file name, or the program's name for the main
 * program when dladdr gives no path. */
static const char *prof_module_label(const Dl_info *info)
{
	return info->dli_fname[0] != '\0' ? prof_basename(info->dli_fname)
	                                   : program_invocation_short_name;
}

/*
 * Frames repeat across sites (every site of a leak shares its callers): a request symbolises each
 * address once. The memo is emptied at the start of every top/diff, so it never outlives a
 * library unloaded in between; past PROF_MEMO_MAX entries addresses are resolved uncached.
 */
#define PROF_MEMO_SLOTS 8192
#define PROF_MEMO_MAX (PROF_MEMO_SLOTS * 3 / 4)
static struct prof_memo {
	uintptr_t addr;
	char *text;
} *prof_memo;
static unsigned prof_memo_used;

static void prof_memo_reset(void)
{
	if (prof_memo == NULL)
		return;
	for (unsigned i = 0; i < PROF_MEMO_SLOTS; i++)
		free(prof_memo[i].text);
	memset(prof_memo, 0, PROF_MEMO_SLOTS * sizeof *prof_memo);
	prof_memo_used = 0;
}

/* The memo slot of addr: its entry, or the empty slot where it would go (NULL: no memo). */
static struct prof_memo *prof_memo_slot(uintptr_t addr)
{
	size_t h;

	if (prof_memo == NULL && (prof_memo = calloc(PROF_MEMO_SLOTS, sizeof *prof_memo)) == NULL)
		return NULL;
	h = (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 32) % PROF_MEMO_SLOTS;
	while (prof_memo[h].text != NULL && prof_memo[h].addr != addr)
		h = (h + 1) % PROF_MEMO_SLOTS;
	return &prof_memo[h];
}

static const char *prof_symbolise_uncached(uintptr_t addr, char *buf, size_t size);

const char *prof_symbolise(uintptr_t addr, char *buf, size_t size)
{
	struct prof_memo *m = prof_memo_slot(addr);

	if (m != NULL && m->text != NULL) {
		snprintf(buf, size, "%s", m->text);
		return buf;
	}
	prof_symbolise_uncached(addr, buf, size);
	if (m != NULL && prof_memo_used < PROF_MEMO_MAX && (m->text = strdup(buf)) != NULL) {
		m->addr = addr;
		prof_memo_used++;
	}
	return buf;
}

/* dladdr first, the file's .symtab for static functions, else module+offset or the address. */
static const char *prof_symbolise_uncached(uintptr_t addr, char *buf, size_t size)
{
	Dl_info info;
	const char *name;
	uintptr_t start;

	/* A return address points after the call: look up the byte before it. */
	if (addr == 0 || dladdr((void *)(addr - 1), &info) == 0 || info.dli_fname == NULL) {
		snprintf(buf, size, "0x%llx", (unsigned long long)addr);
	} else if (info.dli_sname != NULL) {
		snprintf(buf, size, "%s+0x%llx (%s)", info.dli_sname,
		         (unsigned long long)(addr - (uintptr_t)info.dli_saddr),
		         prof_module_label(&info));
	} else if ((name = prof_module_symbol(prof_module_path(&info), (uintptr_t)info.dli_fbase,
	                                      addr - 1, &start)) != NULL) {
		snprintf(buf, size, "%s+0x%llx (%s)", name, (unsigned long long)(addr - start),
		         prof_module_label(&info));
	} else {
		snprintf(buf, size, "%s+0x%llx", prof_module_label(&info),
		         (unsigned long long)(addr - (uintptr_t)info.dli_fbase));
	}
	return buf;
}

/* The function name alone ("leak_session"), or the module+offset when there is no symbol. */
static const char *prof_function(uintptr_t addr, char *buf, size_t size)
{
	char *paren;

	prof_symbolise(addr, buf, size);
	paren = strstr(buf, "+0x");
	if (paren != NULL && strchr(buf, ' ') != NULL)
		*paren = '\0';
	return buf;
}

/* Entry points of the allocator (and jemalloc's internals, when it is linked statically). */
static int prof_is_alloc_name(const char *s)
{
	static const char *const names[] = {"malloc", "calloc", "realloc", "free", "mallocx",
	                                    "rallocx", "xallocx", "posix_memalign", "aligned_alloc",
	                                    "memalign", "valloc", "pvalloc", "reallocarray",
	                                    "malloc_default", "_Znwm", "_Znam", NULL};

	if (strncmp(s, "je_", 3) == 0)
		return 1;
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0)
			return 1;
	return 0;
}

/* Is this frame the allocator's own (to be trimmed from the top of a stack)? */
static int prof_is_alloc_frame(uintptr_t addr)
{
	static void *alloc_base, *main_base;
	static int looked;
	Dl_info info;

	if (!looked) {
		const struct jemalloc_api *api = jemalloc_get();
		Dl_info a, m;

		looked = 1;
		if (api != NULL && dladdr((void *)api->mallctl, &a) != 0)
			alloc_base = a.dli_fbase;
		if (dladdr((void *)getauxval(AT_PHDR), &m) != 0)
			main_base = m.dli_fbase;
		if (alloc_base == main_base)
			alloc_base = NULL;   /* jemalloc linked statically: judge by name only */
	}
	if (dladdr((void *)(addr - 1), &info) == 0)
		return 0;
	if (alloc_base != NULL && info.dli_fbase == alloc_base)
		return 1;
	return info.dli_sname != NULL && prof_is_alloc_name(info.dli_sname);
}

/* Drop the allocator's frames from the top of every stack, so a site starts at the caller. */
static void prof_trim(struct prof_dump *d)
{
	/* Sites share their top frames: remember verdicts by address (a small open hash, filled to
	 * three quarters at most; beyond that frames are judged without caching). */
	enum { CACHE = 1024 };
	static uintptr_t keys[CACHE];
	static signed char verdict[CACHE];
	unsigned used = 0;

	memset(keys, 0, sizeof keys);
	for (size_t i = 0; i < d->nsites; i++) {
		struct prof_site *s = &d->sites[i];

		while (s->nframes > 1) {
			uintptr_t a = d->frames[s->first];
			size_t h = (a >> 4) % CACHE;
			int v = -1;

			while (keys[h] != 0 && keys[h] != a)
				h = (h + 1) % CACHE;
			if (keys[h] == a)
				v = verdict[h];
			if (v < 0) {
				v = prof_is_alloc_frame(a);
				if (used < CACHE * 3 / 4) {
					keys[h] = a;
					verdict[h] = (signed char)v;
					used++;
				}
			}
			if (!v)
				break;
			s->first++;
			s->nframes--;
		}
	}
}

/* ---- jemalloc controls ----------------------------------------------------------------------- */

/* Read a boolean control (config.prof, opt.prof, prof.active); -1 if unknown. */
static int prof_get_bool(const char *name, int *out)
{
	const struct jemalloc_api *api = jemalloc_get();
	bool b = false;
	size_t len = sizeof b;

	if (api == NULL || api->mallctl(name, &b, &len, NULL, 0) != 0)
		return -1;
	*out = b;
	return 0;
}

/* Switch sampling on or off (prof.active). */
static int prof_set_active(int on)
{
	bool b = on != 0;

	return jemalloc_get()->mallctl("prof.active", NULL, NULL, &b, sizeof b);
}

/* Can heap profiling work at all here? 0, or -1 with err explaining what to set. */
static int prof_available(struct cmd_error *err)
{
	int compiled = 0, opt = 0;

	if (jemalloc_get() == NULL)
		return cmd_fail(err, ERR_UNSUPPORTED,
		                "heap profiling needs jemalloc (built with --enable-prof); this process "
		                "uses glibc malloc: link or preload jemalloc and start with %s",
		                PROF_MALLOC_CONF);
	if (prof_get_bool("config.prof", &compiled) != 0 || !compiled)
		return cmd_fail(err, ERR_UNSUPPORTED,
		                "this jemalloc was built without profiling: use a jemalloc built with "
		                "--enable-prof (Debian's libjemalloc2 is)");
	if (prof_get_bool("opt.prof", &opt) != 0 || !opt)
		return cmd_fail(err, ERR_UNSUPPORTED,
		                "heap profiling is off in this process: start the service with %s "
		                "(sampling armed but inactive until prof action=start)",
		                PROF_MALLOC_CONF);
	return 0;
}

/* Where dumps go: the agent's socket directory (0700, checked) or our own 0700 temp dir. */
static int prof_dir(char *buf, size_t size, struct cmd_error *err)
{
	const struct agent_info *ai = agent_info();
	const char *slash;

	if (ai != NULL && ai->socket_path != NULL && (slash = strrchr(ai->socket_path, '/')) != NULL &&
	    slash != ai->socket_path) {
		snprintf(buf, size, "%.*s", (int)(slash - ai->socket_path), ai->socket_path);
		return 0;
	}
	if (prof.tmpdir[0] == '\0') {
		char tmpl[] = "/tmp/sonde-prof-XXXXXX";

		if (mkdtemp(tmpl) == NULL)
			return cmd_fail(err, ERR_INTERNAL,
			                "cannot create a private directory for dumps under /tmp: %s",
			                strerror(errno));
		snprintf(prof.tmpdir, sizeof prof.tmpdir, "%s", tmpl);
	}
	snprintf(buf, size, "%s", prof.tmpdir);
	return 0;
}

/* One of our kept dumps by sequence number, or NULL. */
static const struct prof_file *prof_find(long long seq)
{
	for (unsigned i = 0; i < prof.nfiles; i++)
		if (prof.files[i].seq == seq)
			return &prof.files[i];
	return NULL;
}

/*
 * Dumps outlive their process (they are for jeprof too); once per agent, the first dump removes
 * those of processes that are gone, PID.N.heap with a dead PID, as the socket sweep does for
 * sockets. Returns how many were removed.
 */
static int prof_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int removed = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		long pid;
		unsigned seq;
		char tail[8], path[PATH_MAX];

		if (sscanf(e->d_name, "%ld.%u.%7s", &pid, &seq, tail) != 3 || strcmp(tail, "heap") != 0 ||
		    pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path &&
		    unlink(path) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

/* prof.dump into a new private file; remembers it (removing the oldest beyond PROF_KEEP). */
static const struct prof_file *prof_take_dump(uint64_t *cost_ns, struct cmd_error *err)
{
	char dir[PATH_MAX];
	struct prof_file f;
	const char *path = f.path;
	uint64_t t0;
	int rc;

	if (prof_dir(dir, sizeof dir, err) != 0)
		return NULL;
	if (prof.next_seq == 0)
		prof_sweep(dir);
	f.seq = ++prof.next_seq;
	if ((size_t)snprintf(f.path, sizeof f.path, "%s/%ld.%u.heap", dir,
	                     (long)getpid(), f.seq) >= sizeof f.path) {
		cmd_fail(err, ERR_INTERNAL, "dump path too long under %s", dir);
		return NULL;
	}
	t0 = agent_now_ns();
	rc = jemalloc_get()->mallctl("prof.dump", NULL, NULL, (void *)&path, sizeof path);
	f.at_ns = agent_now_ns();
	*cost_ns = f.at_ns - t0;
	if (rc != 0) {
		cmd_fail(err, ERR_INTERNAL, "jemalloc could not write the dump to %s: %s", f.path,
		         strerror(rc));
		return NULL;
	}
	chmod(f.path, 0600);
	if (prof.nfiles == PROF_KEEP) {
		unlink(prof.files[0].path);
		memmove(&prof.files[0], &prof.files[1], (PROF_KEEP - 1) * sizeof prof.files[0]);
		prof.nfiles--;
	}
	prof.files[prof.nfiles++] = f;
	return &prof.files[prof.nfiles - 1];
}

/* Read and parse one of our dumps. */
static int prof_load(const struct prof_file *f, struct prof_dump *d, struct cmd_error *err)
{
	FILE *fp = fopen(f->path, "r");
	struct stat st;
	char *text;
	size_t got;
	const char *cause = NULL;
	int rc;

	if (fp == NULL)
		return cmd_fail(err, ERR_NOT_FOUND, "dump %u (%s) cannot be read: %s", f->seq, f->path,
		                strerror(errno));
	if (fstat(fileno(fp), &st) != 0 || st.st_size > (off_t)PROF_MAX_DUMP_BYTES) {
		fclose(fp);
		return cmd_fail(err, ERR_TOO_LARGE, "dump %u is larger than %u MiB: read it with jeprof",
		                f->seq, PROF_MAX_DUMP_BYTES >> 20);
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		fclose(fp);
		return cmd_fail(err, ERR_INTERNAL, "out of memory reading dump %u", f->seq);
	}
	got = fread(text, 1, (size_t)st.st_size, fp);
	fclose(fp);
	text[got] = '\0';
	rc = prof_parse(text, got, d, &cause);
	free(text);
	if (rc != 0)
		return cmd_fail(err, ERR_INTERNAL, "dump %u (%s): %s", f->seq, f->path, cause);
	prof_trim(d);
	return 0;
}

/* ---- presentation ---------------------------------------------------------------------------- */

/* A site's stack, symbolised, at most depth frames. */
static json_t *prof_stack_json(const struct prof_dump *d, const struct prof_site *s,
                               long long depth)
{
	json_t *stack = json_array();
	char buf[512];

	for (size_t k = 0; k < s->nframes && (long long)k < depth; k++)
		json_array_append_new(stack, json_string(prof_symbolise(d->frames[s->first + k], buf,
		                                                        sizeof buf)));
	return stack;
}

/* One top site on the wire: estimated and sampled counts, share, function, stack. */
static json_t *prof_site_json(const struct prof_dump *d, const struct prof_site *s, long long depth)
{
	char fn[512];

	return json_pack("{s:I,s:I,s:I,s:I,s:f,s:s,s:o}", "bytes", (json_int_t)llround(s->est_bytes),
	                 "objects", (json_int_t)llround(s->est_objs), "sampled_bytes",
	                 (json_int_t)s->bytes, "sampled_objects", (json_int_t)s->objs, "share",
	                 d->est_total_bytes > 0 ? s->est_bytes / d->est_total_bytes : 0.0, "function",
	                 s->nframes ? prof_function(d->frames[s->first], fn, sizeof fn) : "?", "stack",
	                 prof_stack_json(d, s, depth));
}

static const struct prof_dump *prof_sort_dump;
static int prof_sort_by_objects;

/* qsort order of site indexes: most bytes (or objects) first. */
static int prof_site_cmp(const void *pa, const void *pb)
{
	const struct prof_site *a = &prof_sort_dump->sites[*(const size_t *)pa];
	const struct prof_site *b = &prof_sort_dump->sites[*(const size_t *)pb];
	double ka = prof_sort_by_objects ? a->est_objs : a->est_bytes;
	double kb = prof_sort_by_objects ? b->est_objs : b->est_bytes;

	return ka > kb ? -1 : ka < kb;
}

/* The limit largest sites by bytes or by objects. */
static json_t *prof_top_list(const struct prof_dump *d, int by_objects, long long limit,
                             long long depth)
{
	size_t *order = malloc((d->nsites ? d->nsites : 1) * sizeof *order);
	json_t *rows = json_array();

	if (order == NULL)
		return rows;
	for (size_t i = 0; i < d->nsites; i++)
		order[i] = i;
	prof_sort_dump = d;
	prof_sort_by_objects = by_objects;
	qsort(order, d->nsites, sizeof *order, prof_site_cmp);
	for (size_t i = 0; i < d->nsites && (long long)i < limit; i++) {
		if (d->sites[order[i]].objs == 0)
			break;
		json_array_append_new(rows, prof_site_json(d, &d->sites[order[i]], depth));
	}
	free(order);
	return rows;
}

/* In-use bytes aggregated by allocating function (the first frame after the allocator's). */
struct prof_fn {
	char name[256];
	double bytes, objs;
	unsigned sites;
};

/* qsort by function name, to merge the sites of one function. */
static int prof_fn_cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct prof_fn *)a)->name, ((const struct prof_fn *)b)->name);
}

/* qsort by bytes, largest first. */
static int prof_fn_cmp_bytes(const void *pa, const void *pb)
{
	const struct prof_fn *a = pa, *b = pb;

	return a->bytes > b->bytes ? -1 : a->bytes < b->bytes;
}

/* In-use bytes per allocating function (pprof's "flat" view), largest first. */
static json_t *prof_functions(const struct prof_dump *d, long long limit)
{
	struct prof_fn *fns = calloc(d->nsites ? d->nsites : 1, sizeof *fns);
	json_t *rows = json_array();
	size_t n = 0, m = 0;

	if (fns == NULL)
		return rows;
	for (size_t i = 0; i < d->nsites; i++) {
		const struct prof_site *s = &d->sites[i];

		if (s->objs == 0 || s->nframes == 0)
			continue;
		prof_function(d->frames[s->first], fns[n].name, sizeof fns[n].name);
		fns[n].bytes = s->est_bytes;
		fns[n].objs = s->est_objs;
		fns[n].sites = 1;
		n++;
	}
	qsort(fns, n, sizeof *fns, prof_fn_cmp_name);
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && strcmp(fns[m - 1].name, fns[i].name) == 0) {
			fns[m - 1].bytes += fns[i].bytes;
			fns[m - 1].objs += fns[i].objs;
			fns[m - 1].sites++;
		} else {
			fns[m++] = fns[i];
		}
	}
	qsort(fns, m, sizeof *fns, prof_fn_cmp_bytes);
	for (size_t i = 0; i < m && (long long)i < limit; i++)
		json_array_append_new(rows, json_pack("{s:s,s:I,s:I,s:i,s:f}", "function", fns[i].name,
		                                      "bytes", (json_int_t)llround(fns[i].bytes),
		                                      "objects", (json_int_t)llround(fns[i].objs),
		                                      "sites", (int)fns[i].sites, "share",
		                                      d->est_total_bytes > 0
		                                          ? fns[i].bytes / d->est_total_bytes
		                                          : 0.0));
	free(fns);
	return rows;
}

#define PROF_EXPLAIN_ESTIMATE "bytes/objects estimate the live heap from the sampled counts the " \
	"way jeprof does for heap_v2: each count x 1/(1 - exp(-(bytes/objects)/sample_period)); " \
	"stacks start at the caller of the allocator"

/* ---- diff ------------------------------------------------------------------------------------ */

/* Sites of two dumps matched by identical stack (same process: same addresses). */
struct prof_delta {
	const struct prof_dump *d;      /* where the stack is read from */
	const struct prof_site *site;
	double from_bytes, to_bytes, from_objs, to_objs;
};

/* Two sites (maybe of two dumps) with identical frames are the same site. */
static int prof_same_stack(const struct prof_dump *a, const struct prof_site *sa,
                           const struct prof_dump *b, const struct prof_site *sb)
{
	return sa->nframes == sb->nframes &&
	       memcmp(&a->frames[sa->first], &b->frames[sb->first],
	              sa->nframes * sizeof *a->frames) == 0;
}

/* FNV-1a over a site's frames, to match stacks between dumps. */
static uint64_t prof_stack_hash(const struct prof_dump *d, const struct prof_site *s)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t k = 0; k < s->nframes; k++)
		h = (h ^ d->frames[s->first + k]) * 1099511628211ull;
	return h;
}

/* qsort order of matched sites: most grown first, most shrunk last. */
static int prof_delta_cmp(const void *pa, const void *pb)
{
	const struct prof_delta *a = pa, *b = pb;
	double da = a->to_bytes - a->from_bytes, db = b->to_bytes - b->from_bytes;

	return da > db ? -1 : da < db;
}

/* One diff row on the wire: change, before, now, function, stack. */
static json_t *prof_delta_json(const struct prof_delta *x, long long depth)
{
	char fn[512];
	const struct prof_site *s = x->site;

	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:s,s:o}", "delta_bytes",
	                 (json_int_t)llround(x->to_bytes - x->from_bytes), "delta_objects",
	                 (json_int_t)llround(x->to_objs - x->from_objs), "from_bytes",
	                 (json_int_t)llround(x->from_bytes), "to_bytes",
	                 (json_int_t)llround(x->to_bytes), "to_objects", (json_int_t)llround(x->to_objs),
	                 "function",
	                 s->nframes ? prof_function(x->d->frames[s->first], fn, sizeof fn) : "?",
	                 "stack", prof_stack_json(x->d, s, depth));
}

/* Match the two dumps' sites by stack and list what grew and what shrank. */
static json_t *prof_diff_json(const struct prof_dump *from, const struct prof_dump *to,
                              long long limit, long long depth)
{
	size_t cap = from->nsites + to->nsites, n = 0, buckets = 1;
	struct prof_delta *dl = calloc(cap ? cap : 1, sizeof *dl);
	size_t *table;
	json_t *grew = json_array(), *shrank = json_array();

	while (buckets < cap * 2)
		buckets <<= 1;
	table = malloc(buckets * sizeof *table);
	if (dl == NULL || table == NULL) {
		free(dl);
		free(table);
		return NULL;
	}
	for (size_t i = 0; i < buckets; i++)
		table[i] = SIZE_MAX;
	/* Stacks of the newer dump first, then the older one's matched against them. */
	for (int pass = 0; pass < 2; pass++) {
		const struct prof_dump *d = pass == 0 ? to : from;

		for (size_t i = 0; i < d->nsites; i++) {
			const struct prof_site *s = &d->sites[i];
			size_t h = (size_t)prof_stack_hash(d, s) & (buckets - 1);
			struct prof_delta *x = NULL;

			while (table[h] != SIZE_MAX) {
				struct prof_delta *c = &dl[table[h]];

				if (prof_same_stack(c->d, c->site, d, s)) {
					x = c;
					break;
				}
				h = (h + 1) & (buckets - 1);
			}
			if (x == NULL) {
				x = &dl[n];
				x->d = d;
				x->site = s;
				table[h] = n++;
			}
			if (pass == 0) {
				x->to_bytes += s->est_bytes;
				x->to_objs += s->est_objs;
			} else {
				x->from_bytes += s->est_bytes;
				x->from_objs += s->est_objs;
			}
		}
	}
	qsort(dl, n, sizeof *dl, prof_delta_cmp);
	for (size_t i = 0; i < n && (long long)json_array_size(grew) < limit; i++)
		if (dl[i].to_bytes - dl[i].from_bytes >= 1.0)
			json_array_append_new(grew, prof_delta_json(&dl[i], depth));
	for (size_t i = n; i-- > 0 && (long long)json_array_size(shrank) < limit;)
		if (dl[i].to_bytes - dl[i].from_bytes <= -1.0)
			json_array_append_new(shrank, prof_delta_json(&dl[i], depth));
	free(dl);
	free(table);
	return json_pack("{s:o,s:o,s:I,s:I,s:I}", "grew", grew, "shrank", shrank, "from_bytes",
	                 (json_int_t)llround(from->est_total_bytes), "to_bytes",
	                 (json_int_t)llround(to->est_total_bytes), "delta_bytes",
	                 (json_int_t)llround(to->est_total_bytes - from->est_total_bytes));
}

/* ---- actions --------------------------------------------------------------------------------- */

/* The dumps kept, oldest first, with their age. */
static json_t *prof_files_json(void)
{
	json_t *list = json_array();
	uint64_t now = agent_now_ns();

	for (unsigned i = 0; i < prof.nfiles; i++)
		json_array_append_new(list, json_pack("{s:i,s:s,s:f}", "seq", (int)prof.files[i].seq,
		                                      "path", prof.files[i].path, "age_s",
		                                      (double)(now - prof.files[i].at_ns) / 1e9));
	return list;
}

/* The run's owner as the wire says it: "sonde", "outside" or "none". */
static const char *prof_owner(int active)
{
	if (!active)
		return "none";
	return prof.ours ? "sonde" : "outside";
}

/* status: what is compiled in and armed, who runs sampling, what to set if nothing is. */
static int prof_status(json_t **result)
{
	const struct jemalloc_api *api = jemalloc_get();
	int compiled = 0, opt = 0, active = 0;
	size_t lg = 0, len = sizeof lg;
	json_t *r;
	const char *message;

	if (api == NULL) {
		*result = json_pack("{s:s,s:b,s:s}", "allocator", "glibc", "compiled", 0, "message",
		                    "heap profiling needs jemalloc built with --enable-prof; this process "
		                    "uses glibc malloc: preload jemalloc and start with "
		                    PROF_MALLOC_CONF);
		return 0;
	}
	prof_get_bool("config.prof", &compiled);
	if (compiled)
		prof_get_bool("opt.prof", &opt);
	if (opt) {
		prof_get_bool("prof.active", &active);
		api->mallctl("prof.lg_sample", &lg, &len, NULL, 0);
	}
	if (!compiled)
		message = "this jemalloc was built without profiling (--enable-prof): heap profiling is "
		          "unavailable";
	else if (!opt)
		message = "heap profiling is off: start the service with " PROF_MALLOC_CONF
		          " to arm it, then prof action=start";
	else if (active && !prof.ours)
		message = "a profiling run started outside sonde is active (e.g. prof_active:true in "
		          "MALLOC_CONF); sonde will not stop it, dump and top still work";
	else if (active)
		message = "profiling: sonde started this run; prof action=dump then action=top";
	else
		message = "ready: prof action=start [seconds=N] begins sampling";
	r = json_pack("{s:s,s:s,s:b,s:b,s:b,s:s,s:s}", "allocator", "jemalloc", "version",
	              api->version, "compiled", compiled, "opt_prof", opt, "active", active, "owner",
	              prof_owner(active), "message", message);
	if (opt) {
		json_object_set_new(r, "lg_sample", json_integer((json_int_t)lg));
		json_object_set_new(r, "sample_period_bytes", json_integer((json_int_t)1 << lg));
	}
	if (prof.ours) {
		uint64_t now = agent_now_ns();

		json_object_set_new(r, "running_s", json_real((double)(now - prof.started_ns) / 1e9));
		if (prof.deadline_ns)
			json_object_set_new(r, "stops_in_s",
			                    json_real(prof.deadline_ns > now
			                                  ? (double)(prof.deadline_ns - now) / 1e9 : 0.0));
	}
	if (prof.last_stop != NULL)
		json_object_set_new(r, "last_stop", json_string(prof.last_stop));
	json_object_set_new(r, "dumps", prof_files_json());
	*result = r;
	return 0;
}

/* start: switch sampling on for sonde, unless a run is active already. */
static int prof_start(const json_t *req, json_t **result, struct cmd_error *err)
{
	long long seconds, lg;
	int reset, active = 0;

	if (proto_arg_int(req, "seconds", 0, 0, 86400, &seconds, err) != 0 ||
	    proto_arg_bool(req, "reset", 0, &reset, err) != 0 ||
	    proto_arg_int(req, "lg_sample", -1, 0, 40, &lg, err) != 0 || prof_available(err) != 0)
		return -1;
	prof_get_bool("prof.active", &active);
	if (active && !prof.ours)
		return cmd_fail(err, ERR_BUSY,
		                "a profiling run started outside sonde is active (prof.active was already "
		                "true, e.g. prof_active:true in MALLOC_CONF); sonde will not take it over: "
		                "use prof action=dump and action=top to read it");
	if (active)
		return cmd_fail(err, ERR_BUSY,
		                "a profiling run started by sonde is already active (%.0f s): stop it "
		                "first with prof action=stop",
		                (double)(agent_now_ns() - prof.started_ns) / 1e9);
	if (reset || lg >= 0) {
		const struct jemalloc_api *api = jemalloc_get();
		size_t lgv = (size_t)lg;
		int rc = lg >= 0 ? api->mallctl("prof.reset", NULL, NULL, &lgv, sizeof lgv)
		                 : api->mallctl("prof.reset", NULL, NULL, NULL, 0);

		if (rc != 0)
			return cmd_fail(err, ERR_INTERNAL, "jemalloc refused prof.reset: %s", strerror(rc));
	}
	if (prof_set_active(1) != 0)
		return cmd_fail(err, ERR_INTERNAL, "jemalloc refused prof.active=true");
	prof.ours = 1;
	prof.started_ns = agent_now_ns();
	prof.deadline_ns = seconds > 0 ? prof.started_ns + (uint64_t)seconds * 1000000000u : 0;
	prof.last_stop = NULL;
	return prof_status(result);
}

/* stop: switch off a run sonde started; one started elsewhere is left alone. */
static int prof_stop(json_t **result, struct cmd_error *err)
{
	int active = 0;

	if (prof_available(err) != 0)
		return -1;
	prof_get_bool("prof.active", &active);
	if (active && !prof.ours)
		return cmd_fail(err, ERR_BUSY,
		                "the active profiling run was started outside sonde: sonde does not stop "
		                "it (set prof.active=false where it was started)");
	if (active && prof_set_active(0) != 0)
		return cmd_fail(err, ERR_INTERNAL, "jemalloc refused prof.active=false");
	if (prof.ours)
		prof.last_stop = "stopped by prof action=stop";
	prof.ours = 0;
	prof.deadline_ns = 0;
	return prof_status(result);
}

/* dump: a new private dump file; its path and size are returned. */
static int prof_dump_action(json_t **result, struct cmd_error *err)
{
	const struct prof_file *f;
	uint64_t cost;
	struct stat st;

	if (prof_available(err) != 0 || (f = prof_take_dump(&cost, err)) == NULL)
		return -1;
	*result = json_pack("{s:i,s:s,s:I,s:f,s:s}", "seq", (int)f->seq, "path", f->path, "bytes",
	                    (json_int_t)(stat(f->path, &st) == 0 ? st.st_size : 0), "cost_us",
	                    (double)cost / 1e3, "hint",
	                    "prof action=top dump=SEQ lists the top sites; the file also works with "
	                    "jeprof --text PROGRAM PATH");
	return 0;
}

/* top: the top sites of a dump (the latest by default; a first dump is taken if none). */
static int prof_top(const json_t *req, json_t **result, struct cmd_error *err)
{
	long long seq, limit, depth;
	const struct prof_file *f;
	struct prof_dump d;
	uint64_t cost = 0;
	int fresh = 0;
	char key[96];

	if (proto_arg_int(req, "dump", 0, 0, INT_MAX, &seq, err) != 0 ||
	    proto_arg_int(req, "limit", 10, 1, 200, &limit, err) != 0 ||
	    proto_arg_int(req, "depth", 12, 1, PROF_MAX_FRAMES, &depth, err) != 0 ||
	    prof_available(err) != 0)
		return -1;
	prof_memo_reset();
	if (seq == 0 && prof.nfiles == 0) {
		if ((f = prof_take_dump(&cost, err)) == NULL)
			return -1;
		fresh = 1;
	} else if (seq == 0) {
		f = &prof.files[prof.nfiles - 1];
	} else if ((f = prof_find(seq)) == NULL) {
		return cmd_fail(err, ERR_NOT_FOUND, "no dump %lld: prof action=status lists the dumps "
		                "kept (the last %d)", seq, PROF_KEEP);
	}
	snprintf(key, sizeof key, "%u/%lld/%lld", f->seq, limit, depth);
	if (!fresh && (*result = prof_cache_get(0, key)) != NULL)
		return 0;
	if (prof_load(f, &d, err) != 0)
		return -1;
	*result = json_pack(
		"{s:i,s:s,s:b,s:I,s:I,s:I,s:i,s:o,s:o,s:o,s:s}", "seq", (int)f->seq, "path", f->path,
		"fresh_dump", fresh, "sample_period_bytes", (json_int_t)d.sample_period, "total_bytes",
		(json_int_t)llround(d.est_total_bytes), "total_objects",
		(json_int_t)llround(d.est_total_objs), "sites", (int)d.nsites, "by_bytes",
		prof_top_list(&d, 0, limit, depth), "by_objects", prof_top_list(&d, 1, limit, depth),
		"functions", prof_functions(&d, limit), "explain", PROF_EXPLAIN_ESTIMATE);
	prof_dump_free(&d);
	prof_cache_put(0, key, *result);
	return 0;
}

/* diff: what grew and shrank between two dumps (the last two by default). */
static int prof_diff(const json_t *req, json_t **result, struct cmd_error *err)
{
	long long from_seq, to_seq, limit, depth;
	const struct prof_file *from, *to;
	struct prof_dump a, b;
	json_t *r;
	char key[96];

	if (proto_arg_int(req, "from", 0, 0, INT_MAX, &from_seq, err) != 0 ||
	    proto_arg_int(req, "to", 0, 0, INT_MAX, &to_seq, err) != 0 ||
	    proto_arg_int(req, "limit", 10, 1, 200, &limit, err) != 0 ||
	    proto_arg_int(req, "depth", 12, 1, PROF_MAX_FRAMES, &depth, err) != 0 ||
	    prof_available(err) != 0)
		return -1;
	prof_memo_reset();
	if (from_seq == 0 && to_seq == 0) {
		if (prof.nfiles < 2)
			return cmd_fail(err, ERR_NOT_FOUND, "diff needs two dumps and %u exist%s: take "
			                "them with prof action=dump", prof.nfiles, prof.nfiles == 1 ? "s" : "");
		from = &prof.files[prof.nfiles - 2];
		to = &prof.files[prof.nfiles - 1];
	} else {
		from = prof_find(from_seq);
		to = prof_find(to_seq ? to_seq : (long long)prof.next_seq);
		if (from == NULL || to == NULL)
			return cmd_fail(err, ERR_NOT_FOUND, "no dump %lld: prof action=status lists the "
			                "dumps kept (the last %d)", from == NULL ? from_seq : to_seq,
			                PROF_KEEP);
	}
	snprintf(key, sizeof key, "%u/%u/%lld/%lld", from->seq, to->seq, limit, depth);
	if ((*result = prof_cache_get(1, key)) != NULL)
		return 0;
	if (prof_load(from, &a, err) != 0)
		return -1;
	if (prof_load(to, &b, err) != 0) {
		prof_dump_free(&a);
		return -1;
	}
	r = prof_diff_json(&a, &b, limit, depth);
	prof_dump_free(&a);
	prof_dump_free(&b);
	if (r == NULL)
		return cmd_fail(err, ERR_INTERNAL, "out of memory while comparing the dumps");
	json_object_set_new(r, "from", json_integer(from->seq));
	json_object_set_new(r, "to", json_integer(to->seq));
	json_object_set_new(r, "seconds_between", json_real((double)(to->at_ns - from->at_ns) / 1e9));
	json_object_set_new(r, "explain", json_string("sites matched by identical stack; "
	                                              "delta = newer - older estimated live bytes, "
	                                              "like pprof -base"));
	*result = r;
	prof_cache_put(1, key, r);
	return 0;
}

enum prof_action { PA_STATUS, PA_START, PA_STOP, PA_DUMP, PA_TOP, PA_DIFF };
static const char *const prof_actions[] = {"status", "start", "stop", "dump", "top", "diff", NULL};

/* prof: heap profiling (status, start [seconds], stop, dump, top, diff). */
static int cmd_prof_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {"action", "seconds", "reset", "lg_sample", "dump", "from",
	                                   "to", "limit", "depth", NULL};
	int action;

	if (proto_check_keys(req, keys, err) != 0 ||
	    proto_arg_enum(req, "action", prof_actions, PA_STATUS, &action, err) != 0)
		return -1;
	switch (action) {
	case PA_START:
		return prof_start(req, result, err);
	case PA_STOP:
		return prof_stop(result, err);
	case PA_DUMP:
		return prof_dump_action(result, err);
	case PA_TOP:
		return prof_top(req, result, err);
	case PA_DIFF:
		return prof_diff(req, result, err);
	default:
		return prof_status(result);
	}
}

const struct command_entry cmd_prof_entry = {
	.name = "prof",
	.args = "action=status|start|stop|dump|top|diff [seconds=N] [reset=BOOL] [lg_sample=N] "
	        "[dump=SEQ] [from=SEQ to=SEQ] [limit=N] [depth=N]",
	.summary = "jemalloc heap profiling: start/stop sampling, dump, top allocation sites with "
	           "stacks, diff between dumps",
	.exec = cmd_prof_exec,
};

/* ---- the probe: a timed run stops by itself ------------------------------------------------- */

/* A timed run stops by itself; a run switched off elsewhere is not ours any more. */
static void prof_probe_tick(uint64_t now_ns)
{
	int active = 0;

	if (!prof.ours)
		return;
	if (prof_get_bool("prof.active", &active) == 0 && !active) {
		prof.ours = 0;   /* switched off behind our back: not ours any more */
		prof.last_stop = "prof.active was set to false outside sonde";
		return;
	}
	if (prof.deadline_ns != 0 && now_ns >= prof.deadline_ns) {
		prof_set_active(0);
		prof.ours = 0;
		prof.deadline_ns = 0;
		prof.last_stop = "stopped by itself: the seconds= duration elapsed";
	}
}

/* Nothing to do until a client asks for profiling. */
static int prof_probe_init(void)
{
	return 0;
}

/* The agent stops: end our run, drop the caches and the mapped symbol files. */
static void prof_probe_fini(void)
{
	/* A run we started ends with the agent: the host is not left sampling. */
	if (prof.ours)
		prof_set_active(0);
	prof.ours = 0;
	for (int k = 0; k < 2; k++) {
		json_decref(prof.cache[k].result);
		prof.cache[k].result = NULL;
	}
	prof_memo_reset();
	free(prof_memo);
	prof_memo = NULL;
	for (unsigned i = 0; i < prof_nmodules; i++) {
		if (prof_modules[i].map != NULL)
			munmap((void *)prof_modules[i].map, prof_modules[i].size);
		free(prof_modules[i].funcs);
	}
	prof_nmodules = 0;
}

const struct probe_entry prof_probe = {
	.name = "prof",
	.init = prof_probe_init,
	.tick = prof_probe_tick,
	.fini = prof_probe_fini,
};
