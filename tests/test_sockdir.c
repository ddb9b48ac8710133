/*
 * test_sockdir.c - the socket directory rules (probes/sockdir.c): where the directory is, what is
 * refused as unsafe (symlink, file, other owner, group/other permissions) with a message naming
 * the fix, socket names, and the sweep of sockets left by dead processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sockdir.h"

/* A fresh private scratch directory per test (mode 0700, ours). */
static int test_setup(void **state)
{
	char *dir = strdup("/tmp/sonde-test-sockdir-XXXXXX");

	if (dir == NULL || mkdtemp(dir) == NULL)
		return -1;
	*state = dir;
	return 0;
}

/* Remove the scratch directory and whatever a test left in it. */
static int test_teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", (char *)*state);
	int rc = system(cmd);

	free(cmd);
	free(*state);
	return rc == 0 ? 0 : -1;
}

/* causep, not cause: the callee fills it while the arguments are evaluated. */
static void test_expect_cause(int rc, char **causep, const char *hint1, const char *hint2)
{
	char *cause = *causep;

	*causep = NULL;
	assert_int_equal(rc, -1);
	assert_non_null(cause);
	if (strstr(cause, hint1) == NULL || (hint2 != NULL && strstr(cause, hint2) == NULL))
		fail_msg("cause \"%s\" does not mention \"%s\"%s%s", cause, hint1,
		         hint2 ? " and " : "", hint2 ? hint2 : "");
	free(cause);
}

/* A pid that is certainly dead: a child we forked and reaped. */
static pid_t test_dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* Create DIR/NAME as a real bound socket whose listener is closed (what a crashed agent leaves). */
static void test_make_socket(const char *dir, const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", dir, name);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
}

/* Whether DIR/NAME exists (lstat: not following symlinks). */
static int test_exists(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* Where the directory is: override, then $SONDE_DIR, then $XDG_RUNTIME_DIR/sonde, then
 * /tmp/sonde-UID. */
static void test_resolve_order(void **state)
{
	char buf[256], small[8];
	char *cause = NULL;
	char *saved_dir = getenv("SONDE_DIR") ? strdup(getenv("SONDE_DIR")) : NULL;
	char *saved_xdg = getenv("XDG_RUNTIME_DIR") ? strdup(getenv("XDG_RUNTIME_DIR")) : NULL;
	char want[64];

	(void)state;
	setenv("SONDE_DIR", "/env/dir", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);
	/* An explicit override wins over everything. */
	assert_int_equal(sockdir_resolve("/over", buf, sizeof buf, &cause), 0);
	assert_string_equal(buf, "/over");
	/* Then $SONDE_DIR (an empty override counts as none). */
	assert_int_equal(sockdir_resolve("", buf, sizeof buf, &cause), 0);
	assert_string_equal(buf, "/env/dir");
	/* Then $XDG_RUNTIME_DIR/sonde. */
	unsetenv("SONDE_DIR");
	assert_int_equal(sockdir_resolve(NULL, buf, sizeof buf, &cause), 0);
	assert_string_equal(buf, "/run/user/1/sonde");
	/* A relative XDG_RUNTIME_DIR is ignored (the spec requires absolute). */
	setenv("XDG_RUNTIME_DIR", "relative", 1);
	assert_int_equal(sockdir_resolve(NULL, buf, sizeof buf, &cause), 0);
	snprintf(want, sizeof want, "/tmp/sonde-%lu", (unsigned long)getuid());
	assert_string_equal(buf, want);
	/* Then /tmp/sonde-UID. */
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(sockdir_resolve(NULL, buf, sizeof buf, &cause), 0);
	assert_string_equal(buf, want);
	assert_null(cause);
	/* Too long for the buffer: refused, naming SONDE_DIR as the fix. */
	test_expect_cause(sockdir_resolve("/a/long/directory", small, sizeof small, &cause), &cause,
	                  "too long", "SONDE_DIR");
	if (saved_dir != NULL)
		setenv("SONDE_DIR", saved_dir, 1);
	if (saved_xdg != NULL)
		setenv("XDG_RUNTIME_DIR", saved_xdg, 1);
	free(saved_dir);
	free(saved_xdg);
}

/* A missing directory is created 0700 and ours, whatever the umask. */
static void test_prepare_creates_private_dir(void **state)
{
	char *dir = xasprintf("%s/new", (char *)*state);
	char *cause = NULL;
	struct stat st;
	mode_t old = umask(0);   /* even a permissive umask must not leak into the mode */

	assert_int_equal(sockdir_prepare(dir, &cause), 0);
	umask(old);
	assert_null(cause);
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(st.st_uid, getuid());
	/* Preparing an existing good directory is fine. */
	assert_int_equal(sockdir_prepare(dir, &cause), 0);
	assert_int_equal(sockdir_check(dir, &cause), 0);
	free(dir);
}

/* A directory that cannot be created is reported with the fix. */
static void test_prepare_missing_parent(void **state)
{
	char *dir = xasprintf("%s/no/such/parent", (char *)*state);
	char *cause = NULL;

	test_expect_cause(sockdir_prepare(dir, &cause), &cause, "cannot create socket directory",
	                  "set SONDE_DIR");
	free(dir);
}

/* Any group or other permission bit is refused, naming the mode and chmod 700. */
static void test_check_refuses_group_other_modes(void **state)
{
	static const mode_t bad[] = {0755, 0711, 0701, 0770, 0707, 0710, 0777};
	char *dir = xasprintf("%s/d", (char *)*state);
	char *cause = NULL, want[32];

	assert_int_equal(mkdir(dir, 0700), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(chmod(dir, bad[i]), 0);
		snprintf(want, sizeof want, "mode %03o", (unsigned)bad[i]);
		test_expect_cause(sockdir_check(dir, &cause), &cause, want, "chmod 700");
		assert_int_equal(chmod(dir, bad[i]), 0);
		test_expect_cause(sockdir_prepare(dir, &cause), &cause, "unsafe socket directory", NULL);
	}
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(sockdir_check(dir, &cause), 0);
	free(dir);
}

/* A symlink (even to a good directory), a file, or nothing at all are refused. */
static void test_check_refuses_symlink_and_file(void **state)
{
	char *real = xasprintf("%s/real", (char *)*state);
	char *link = xasprintf("%s/link", (char *)*state);
	char *file = xasprintf("%s/file", (char *)*state);
	char *missing = xasprintf("%s/missing", (char *)*state);
	char *cause = NULL;
	FILE *f;

	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, link), 0);
	/* A symlink to a perfectly good directory is still refused: it could be re-pointed. */
	test_expect_cause(sockdir_check(link, &cause), &cause, "not a directory", "SONDE_DIR");
	test_expect_cause(sockdir_prepare(link, &cause), &cause, "symlink", NULL);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	test_expect_cause(sockdir_check(file, &cause), &cause, "not a directory", NULL);
	test_expect_cause(sockdir_check(missing, &cause), &cause, "cannot use socket directory",
	                  strerror(ENOENT));
	free(real);
	free(link);
	free(file);
	free(missing);
}

/* A directory owned by another uid is refused, naming that uid. */
static void test_check_refuses_other_owner(void **state)
{
	char *dir = xasprintf("%s/theirs", (char *)*state);
	char *cause = NULL;

	assert_int_equal(mkdir(dir, 0700), 0);
	if (geteuid() != 0) {
		/* Only root can give a directory away; / is root's, so the check still runs there
		 * (it fails for "/" on its owner or on its mode 0755: either way it is refused). */
		free(dir);
		test_expect_cause(sockdir_check("/", &cause), &cause, "unsafe socket directory /", NULL);
		return;
	}
	assert_int_equal(chown(dir, 65534, 65534), 0);
	test_expect_cause(sockdir_check(dir, &cause), &cause, "owned by uid 65534", "not by us");
	free(dir);
}

/* DIR/PID.sock, refused when it cannot fit sun_path or the caller's buffer. */
static void test_socket_path(void **state)
{
	char buf[256], tiny[16], longdir[200];
	char *cause = NULL;

	(void)state;
	assert_int_equal(sockdir_socket_path("/run/x", 4242, buf, sizeof buf, &cause), 0);
	assert_string_equal(buf, "/run/x/4242.sock");
	test_expect_cause(sockdir_socket_path("/run/x", 4242, tiny, sizeof tiny, &cause), &cause,
	                  "longer than a Unix socket allows", "SONDE_DIR");
	/* sun_path (108 bytes) is the real limit, not the caller's buffer. */
	memset(longdir, 'd', sizeof longdir - 1);
	longdir[0] = '/';
	longdir[100] = '\0';
	test_expect_cause(sockdir_socket_path(longdir, 4242, buf, sizeof buf, &cause), &cause,
	                  "longer than a Unix socket allows", NULL);
}

/* Only canonical PID.sock names are agents' sockets. */
static void test_parse_name(void **state)
{
	(void)state;
	assert_int_equal(sockdir_parse_name("1.sock"), 1);
	assert_int_equal(sockdir_parse_name("4242.sock"), 4242);
	assert_int_equal(sockdir_parse_name("2147483647.sock"), 2147483647);
	assert_int_equal(sockdir_parse_name("0.sock"), -1);
	assert_int_equal(sockdir_parse_name("012.sock"), -1);
	assert_int_equal(sockdir_parse_name("-12.sock"), -1);
	assert_int_equal(sockdir_parse_name("+12.sock"), -1);
	assert_int_equal(sockdir_parse_name(" 12.sock"), -1);
	assert_int_equal(sockdir_parse_name("12.sockx"), -1);
	assert_int_equal(sockdir_parse_name("12.soc"), -1);
	assert_int_equal(sockdir_parse_name("12"), -1);
	assert_int_equal(sockdir_parse_name("12x.sock"), -1);
	assert_int_equal(sockdir_parse_name("abc.sock"), -1);
	assert_int_equal(sockdir_parse_name(".sock"), -1);
	assert_int_equal(sockdir_parse_name(""), -1);
	assert_int_equal(sockdir_parse_name("."), -1);
	assert_int_equal(sockdir_parse_name(".."), -1);
	assert_int_equal(sockdir_parse_name("99999999999999999999.sock"), -1);
}

/* Alive means kill(pid, 0) succeeds or says EPERM. */
static void test_pid_alive(void **state)
{
	(void)state;
	assert_true(sockdir_pid_alive(getpid()));
	assert_false(sockdir_pid_alive(test_dead_pid()));
	/* pid 1 exists but may belong to another user: EPERM still means alive. */
	assert_true(sockdir_pid_alive(1));
}

/* The sweep removes dead pids' sockets and nothing else. */
static void test_sweep_removes_only_dead(void **state)
{
	const char *dir = *state;
	char dead[32], live[32], parent[32];

	snprintf(dead, sizeof dead, "%ld.sock", (long)test_dead_pid());
	snprintf(live, sizeof live, "%ld.sock", (long)getpid());
	snprintf(parent, sizeof parent, "%ld.sock", (long)getppid());
	test_make_socket(dir, dead);
	test_make_socket(dir, live);
	test_make_socket(dir, parent);
	test_make_socket(dir, "notapid.sock");
	test_make_socket(dir, "0.sock");
	assert_int_equal(sockdir_sweep(dir), 1);
	assert_false(test_exists(dir, dead));
	assert_true(test_exists(dir, live));
	assert_true(test_exists(dir, parent));
	assert_true(test_exists(dir, "notapid.sock"));
	assert_true(test_exists(dir, "0.sock"));
	/* Nothing left to sweep; a missing directory is not an error. */
	assert_int_equal(sockdir_sweep(dir), 0);
	assert_int_equal(sockdir_sweep("/nonexistent/sonde-dir"), 0);
}

/* One cmocka group (one TAP plan). */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_order),
		cmocka_unit_test_setup_teardown(test_prepare_creates_private_dir, test_setup,
		                                test_teardown),
		cmocka_unit_test_setup_teardown(test_prepare_missing_parent, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_check_refuses_group_other_modes, test_setup,
		                                test_teardown),
		cmocka_unit_test_setup_teardown(test_check_refuses_symlink_and_file, test_setup,
		                                test_teardown),
		cmocka_unit_test_setup_teardown(test_check_refuses_other_owner, test_setup,
		                                test_teardown),
		cmocka_unit_test(test_socket_path),
		cmocka_unit_test(test_parse_name),
		cmocka_unit_test(test_pid_alive),
		cmocka_unit_test_setup_teardown(test_sweep_removes_only_dead, test_setup, test_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
