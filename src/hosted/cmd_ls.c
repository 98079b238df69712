/* `corral ls [--json]`: every VM under $CORRAL_HOME with its state (defined, running,
 * paused, stopped, failed, crashed), process, harts, memory, host RSS, CPU %, uptime,
 * disks, NICs and console log. Reads /proc for the figures; asks the API for the state. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hosted/cli.h"
#include "hosted/client.h"
#include "hosted/home.h"
#include "hosted/proc.h"

#define LS_MAX 1024

struct row {
    char name[SPEC_ID_MAX];
    char dir[HOME_PATH_MAX];
    struct home_proc p;
    struct vm_spec s;
    bool have_spec;
    unsigned long long cpu0, cpu1; /* utime+stime ticks, two samples */
    uint64_t rss;
    char state[48];
};

static unsigned long long proc_cpu_ticks(pid_t pid, uint64_t *rss)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    long long rsspages = 0;
    if (p)
        sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu %*s %*s %*s %*s "
                      "%*s %*s %*s %*s %lld", &ut, &st, &rsspages);
    if (rss)
        *rss = (uint64_t)(rsspages > 0 ? rsspages : 0) * (uint64_t)sysconf(_SC_PAGESIZE);
    return ut + st;
}

static double uptime_of(const struct home_proc *p)
{
    FILE *f = fopen("/proc/uptime", "re");
    double up = 0;
    if (f) {
        if (fscanf(f, "%lf", &up) != 1)
            up = 0;
        fclose(f);
    }
    return up - (double)p->start_ticks / (double)sysconf(_SC_CLK_TCK);
}

static void state_of(struct row *r)
{
    if (r->p.alive) {
        char sock[HOME_PATH_MAX], err[256];
        json_t *j = NULL;
        home_file(r->dir, "api.sock", sock, sizeof(sock));
        long st = client_call(sock, "GET", "/", NULL, &j, err, sizeof(err));
        const char *s = json_string_value(json_object_get(j, "state"));
        snprintf(r->state, sizeof(r->state), "%s",
                 st != 200 || !s ? "running" : !strcmp(s, "Paused") ? "paused"
                                 : !strcmp(s, "Not started") ? "starting" : "running");
        json_decref(j);
    } else if (r->p.ended && r->p.signal) {
        snprintf(r->state, sizeof(r->state), "crashed (%s)", strsignal(r->p.signal));
    } else if (r->p.ended && r->p.exit_code == 159) { /* sandbox.c's status for a forbidden call */
        snprintf(r->state, sizeof(r->state), "crashed (sandbox)");
    } else if (r->p.ended && r->p.exit_code) {
        snprintf(r->state, sizeof(r->state), "failed (exit %d)", r->p.exit_code);
    } else if (r->p.ended) {
        snprintf(r->state, sizeof(r->state), "stopped");
    } else if (r->p.pid) {
        snprintf(r->state, sizeof(r->state), "crashed (vanished)");
    } else {
        snprintf(r->state, sizeof(r->state), "defined");
    }
}

static json_t *row_json(const struct row *r, double cpu_pct)
{
    char log[HOME_PATH_MAX];
    home_file(r->dir, "console.log", log, sizeof(log));
    json_t *disks = json_array(), *nics = json_array();
    for (unsigned i = 0; r->have_spec && i < r->s.n_drives; i++)
        json_array_append_new(disks, json_string(r->s.drives[i].path));
    static const char *const kinds[] = { "user", "tap", "switch" };
    for (unsigned i = 0; r->have_spec && i < r->s.n_nets; i++) {
        char t[160];
        snprintf(t, sizeof(t), "%s%s%s", kinds[r->s.nets[i].kind],
                 r->s.nets[i].switch_name ? ":" : "", r->s.nets[i].switch_name ?: "");
        json_array_append_new(nics, json_string(t));
    }
    return json_pack("{s:s,s:s,s:i,s:i,s:I,s:I,s:f,s:f,s:o,s:o,s:s}", "name", r->name, "state",
                     r->state, "pid", r->p.alive ? (int)r->p.pid : 0, "cpus",
                     r->have_spec ? (int)r->s.vcpus : 0, "mem_mib",
                     (json_int_t)(r->have_spec ? r->s.mem_mib : 0), "rss_bytes",
                     (json_int_t)r->rss, "cpu_pct", cpu_pct, "uptime_s",
                     r->p.alive ? uptime_of(&r->p) : 0.0, "disks", disks, "nics", nics,
                     "console_log", log);
}

static void print_table(json_t *all)
{
    printf("%-16s %-20s %7s %4s %7s %8s %6s %9s %5s %4s  %s\n", "NAME", "STATE", "PID", "CPUS",
           "MEM", "RSS", "CPU%", "UPTIME", "DISKS", "NICS", "CONSOLE");
    size_t i;
    json_t *r;
    json_array_foreach(all, i, r) {
        char pid[16] = "-", rss[32] = "-", up[48] = "-", cpu[32] = "-";
        int p = (int)json_integer_value(json_object_get(r, "pid"));
        if (p) {
            snprintf(pid, sizeof(pid), "%d", p);
            snprintf(rss, sizeof(rss), "%.1fM",
                     (double)json_integer_value(json_object_get(r, "rss_bytes")) / MiB);
            double u = json_real_value(json_object_get(r, "uptime_s"));
            snprintf(up, sizeof(up), "%dh%02dm%02ds", (int)u / 3600, (int)u / 60 % 60, (int)u % 60);
            snprintf(cpu, sizeof(cpu), "%.1f", json_real_value(json_object_get(r, "cpu_pct")));
        }
        printf("%-16s %-20s %7s %4d %6lldM %8s %6s %9s %5zu %4zu  %s\n",
               json_string_value(json_object_get(r, "name")),
               json_string_value(json_object_get(r, "state")), pid,
               (int)json_integer_value(json_object_get(r, "cpus")),
               (long long)json_integer_value(json_object_get(r, "mem_mib")), rss, cpu, up,
               json_array_size(json_object_get(r, "disks")),
               json_array_size(json_object_get(r, "nics")),
               json_string_value(json_object_get(r, "console_log")));
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct row *)a)->name, ((const struct row *)b)->name);
}

int cmd_ls(int argc, char **argv)
{
    bool as_json = argc == 3 && !strcmp(argv[2], "--json");
    if (argc > 3 || (argc == 3 && !as_json)) {
        cli_error("usage: corral ls [--json]");
        return EXIT_USAGE;
    }
    char root[HOME_PATH_MAX], vms[HOME_PATH_MAX], err[512];
    if (home_root(root, sizeof(root), err, sizeof(err))) {
        cli_error("%s", err);
        return EXIT_VM_FAILED;
    }
    home_file(root, "vms", vms, sizeof(vms));
    struct row *rows = calloc(LS_MAX, sizeof(*rows));
    unsigned n = 0;
    DIR *d = opendir(vms);
    struct dirent *e;
    while (rows && d && (e = readdir(d)) && n < LS_MAX) {
        if (!spec_id_valid(e->d_name))
            continue;
        struct row *r = &rows[n];
        snprintf(r->name, sizeof(r->name), "%.63s", e->d_name);
        spec_init(&r->s);
        char dir[HOME_PATH_MAX];
        r->have_spec = !proc_load_definition(r->name, dir, sizeof(dir), &r->s, err, sizeof(err));
        snprintf(r->dir, sizeof(r->dir), "%s", dir);
        if (!r->have_spec && access(r->dir, F_OK))
            continue;
        home_read_proc(r->dir, &r->p);
        if (r->p.alive)
            r->cpu0 = proc_cpu_ticks(r->p.pid, NULL);
        n++;
    }
    if (d)
        closedir(d);
    if (rows)
        qsort(rows, n, sizeof(*rows), by_name);
    struct timespec gap = { 0, 250000000 }; /* CPU % over a quarter second, for all at once */
    bool any = false;
    for (unsigned i = 0; i < n; i++)
        any |= rows[i].p.alive;
    if (any)
        nanosleep(&gap, NULL);
    json_t *all = json_array();
    for (unsigned i = 0; i < n; i++) {
        struct row *r = &rows[i];
        double pct = 0;
        if (r->p.alive) {
            r->cpu1 = proc_cpu_ticks(r->p.pid, &r->rss);
            pct = (double)(r->cpu1 - r->cpu0) * 100.0 / (double)sysconf(_SC_CLK_TCK) / 0.25;
        }
        state_of(r);
        json_array_append_new(all, row_json(r, pct));
        spec_free(&r->s);
    }
    free(rows);
    if (as_json) {
        char *t = json_dumps(all, JSON_INDENT(2));
        puts(t ? t : "[]");
        free(t);
    } else {
        print_table(all);
    }
    json_decref(all);
    return 0;
}
