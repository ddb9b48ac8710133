/*
 * sockdir.c - the per-user socket directory: resolving it, creating it safely, and the
 * PID.sock names inside it. The rule is tmux's: a directory we own, mode 0700, not a symlink,
 * else refuse, because anyone who can write there could impersonate an agent or a client.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockdir.h"

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;   /* never abort: this also runs on the host's thread in sonde_start() */
	va_end(ap);
	return s;
}

int sockdir_resolve(const char *override, char *buf, size_t size, char **cause)
{
	const char *env;
	int n;

	if (override != NULL && *override != '\0')
		n = snprintf(buf, size, "%s", override);
	else if ((env = getenv("SONDE_DIR")) != NULL && *env != '\0')
		n = snprintf(buf, size, "%s", env);
	else if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && *env == '/')
		n = snprintf(buf, size, "%s/sonde", env);
	else
		n = snprintf(buf, size, "/tmp/sonde-%lu", (unsigned long)geteuid());
	if (n < 0 || (size_t)n >= size) {
		*cause = xasprintf("socket directory path is too long (%d bytes); set SONDE_DIR to a "
		                   "shorter directory", n);
		return -1;
	}
	return 0;
}

int sockdir_check(const char *dir, char **cause)
{
	struct stat st;

	if (lstat(dir, &st) != 0) {
		*cause = xasprintf("cannot use socket directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*cause = xasprintf("unsafe socket directory %s: not a directory (a symlink or file is "
		                   "refused); remove it or set SONDE_DIR", dir);
		return -1;
	}
	/* The effective uid: what mkdir() gave the directory and what the peer check compares. */
	if (st.st_uid != geteuid()) {
		*cause = xasprintf("unsafe socket directory %s: owned by uid %lu, not by us (uid %lu); "
		                   "remove it or set SONDE_DIR", dir, (unsigned long)st.st_uid,
		                   (unsigned long)geteuid());
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		*cause = xasprintf("unsafe socket directory %s: mode %03o lets others in; "
		                   "run `chmod 700 %s` or set SONDE_DIR", dir,
		                   (unsigned)(st.st_mode & 0777), dir);
		return -1;
	}
	return 0;
}

int sockdir_prepare(const char *dir, char **cause)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		*cause = xasprintf("cannot create socket directory %s: %s; set SONDE_DIR to a "
		                   "writable place", dir, strerror(errno));
		return -1;
	}
	return sockdir_check(dir, cause);
}

int sockdir_socket_path(const char *dir, pid_t pid, char *buf, size_t size, char **cause)
{
	struct sockaddr_un sa;
	int n;

	n = snprintf(buf, size, "%s/%ld.sock", dir, (long)pid);
	if (n < 0 || (size_t)n >= size || (size_t)n >= sizeof sa.sun_path) {
		*cause = xasprintf("socket path %s/%ld.sock is longer than a Unix socket allows (%zu "
		                   "bytes); set SONDE_DIR to a shorter directory", dir, (long)pid,
		                   sizeof sa.sun_path - 1);
		return -1;
	}
	return 0;
}

pid_t sockdir_parse_name(const char *name)
{
	char *end;
	long pid;

	if (name[0] < '1' || name[0] > '9')
		return -1;
	errno = 0;
	pid = strtol(name, &end, 10);
	if (errno != 0 || pid <= 0 || strcmp(end, ".sock") != 0)
		return -1;
	return (pid_t)pid;
}

int sockdir_pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

int sockdir_sweep(const char *dir)
{
	DIR *d;
	struct dirent *de;
	char path[4096];
	int removed = 0;
	pid_t pid;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if ((pid = sockdir_parse_name(de->d_name)) <= 0 || sockdir_pid_alive(pid))
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
			continue;
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}
