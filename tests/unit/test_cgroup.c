/* Unit tests of the VM process's cgroup v2 handling (hosted/cgroup.c), on a folder that
 * stands in for a delegated cgroup: its files are plain files here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hosted/cgroup.h"

static char root[64];

static void put(const char *file, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", root, file);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *get(const char *file)
{
    static char buf[256];
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", root, file);
    FILE *f = fopen(p, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/corral-cgroup-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd);
}

/* The VM's cgroup is made under the delegated one, the cpu controller is passed on to it,
 * the process moves in, and a quota is a cpu.max of quota and period (none: "max"). */
static void test_join_moves_in_and_writes_the_quota(void **state)
{
    (void)state;
    put("cgroup.controllers", "cpuset cpu io memory pids\n");
    put("cgroup.subtree_control", "");
    mkdir(strcat(strcpy((char[128]){ 0 }, root), "/corral-web"), 0755);
    put("corral-web/cgroup.procs", "");
    put("corral-web/cpu.max", "max 100000\n");
    struct vm_cgroup cg = { 0 };
    char err[256] = "";
    assert_int_equal(cgroup_join(&cg, root, "web", err, sizeof(err)), 0);
    assert_true(cg.on);
    assert_string_equal(get("cgroup.subtree_control"), "+cpu");
    char pid[24];
    snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    assert_string_equal(get("corral-web/cgroup.procs"), pid);
    assert_int_equal(cgroup_set_cpu(&cg, 25), 0);
    assert_string_equal(get("corral-web/cpu.max"), "25000 100000\n");
    assert_int_equal(cgroup_set_cpu(&cg, 150), 0); /* 1.5 cores for a 2-vCPU VM */
    assert_string_equal(get("corral-web/cpu.max"), "150000 100000\n");
    cgroup_close(&cg);
    assert_false(cg.on);
    assert_int_equal(cgroup_set_cpu(&cg, 25), -EBADF);
}

/* A folder without the cpu controller was not delegated: a clear refusal, nothing made. */
static void test_no_cpu_controller_is_refused(void **state)
{
    (void)state;
    put("cgroup.controllers", "cpuset io memory pids hugetlb\n");
    struct vm_cgroup cg = { 0 };
    char err[256] = "";
    assert_int_equal(cgroup_join(&cg, root, "db", err, sizeof(err)), -ENOTSUP);
    assert_false(cg.on);
    assert_non_null(strstr(err, "no cpu controller"));
    assert_null(get("corral-db/cgroup.procs"));
}

/* Not a cgroup folder at all. */
static void test_not_a_cgroup_is_refused(void **state)
{
    (void)state;
    struct vm_cgroup cg = { 0 };
    char err[256] = "";
    assert_int_equal(cgroup_join(&cg, "/nonexistent/cgroup", "x", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "not a cgroup v2 folder"));
}

/* A root so long that the VM's cgroup paths would not fit is refused, not cut short (a cut
 * path could name another folder). */
static void test_too_long_a_root_is_refused(void **state)
{
    (void)state;
    struct vm_cgroup cg = { 0 };
    char err[256] = "", longroot[PATH_MAX];
    memset(longroot, 'a', sizeof(longroot) - 10);
    longroot[0] = '/';
    longroot[sizeof(longroot) - 10] = '\0';
    assert_int_equal(cgroup_join(&cg, longroot, "web", err, sizeof(err)), -ENAMETOOLONG);
    assert_false(cg.on);
    assert_non_null(strstr(err, "too long"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_join_moves_in_and_writes_the_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cpu_controller_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_cgroup_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_long_a_root_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
