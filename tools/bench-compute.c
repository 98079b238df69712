/* bench-compute: the guest-side compute workload of tools/bench-compute, built for riscv64 and
 * for the host from this one file. It times each phase itself (CLOCK_MONOTONIC) and prints
 * `phase NAME SECONDS checksum HEX` lines; it is not a test of correctness beyond its checksums.
 *
 * Sizes are options (see usage()); every input comes from a fixed PRNG, so the checksums of a
 * given set of sizes agree on every machine. Build with -ffp-contract=off so n-body stays
 * bit-identical where the compiler could fuse a multiply and an add (riscv64 has fmadd). */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sizes {
    long crc_kib, crc_rounds;
    long sort_words, sort_rounds;
    long chase_mib, chase_steps;
    long bodies, nbody_steps;
    long mt_kib, mt_rounds, threads;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: small, fast, and the same sequence everywhere. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench-compute: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void fill_random(uint8_t *buf, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(rng_next(&seed) >> 56);
}

static void report(const char *name, double t0, uint64_t sum)
{
    printf("phase %s %.4f checksum %016llx\n", name, now() - t0, (unsigned long long)sum);
    fflush(stdout);
}

/* Bitwise CRC-32 (IEEE, reflected), no table: a shift/xor/branch-free-mask loop per bit. */
static uint32_t crc32_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

/* Each round continues from the last round's CRC, so no round can be hoisted out. */
static uint32_t crc_job(const uint8_t *buf, size_t n, long rounds)
{
    uint32_t crc = 0;
    for (long r = 0; r < rounds; r++)
        crc = crc32_bitwise(crc, buf, n);
    return crc;
}

static void phase_crc32(const struct sizes *s)
{
    size_t n = (size_t)s->crc_kib << 10;
    uint8_t *buf = xmalloc(n);
    fill_random(buf, n, 1);
    double t0 = now();
    uint32_t crc = crc_job(buf, n, s->crc_rounds);
    report("crc32", t0, crc);
    free(buf);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The generation of each round's input is timed too: it is a small share next to qsort. */
static void phase_sort(const struct sizes *s)
{
    size_t n = (size_t)s->sort_words;
    uint32_t *a = xmalloc(n * sizeof *a);
    uint64_t seed = 2, sum = 0;
    double t0 = now();
    for (long r = 0; r < s->sort_rounds; r++) {
        for (size_t i = 0; i < n; i++)
            a[i] = (uint32_t)rng_next(&seed);
        qsort(a, n, sizeof *a, cmp_u32);
        for (size_t i = 0; i < n; i += 97)
            sum = sum * 31 + a[i];
    }
    report("sort", t0, sum);
    free(a);
}

/* Sattolo's algorithm gives one cycle through every slot; only the chase is timed. */
static void phase_chase(const struct sizes *s)
{
    size_t n = ((size_t)s->chase_mib << 20) / sizeof(uint64_t);
    uint64_t *next = xmalloc(n * sizeof *next);
    uint64_t seed = 3;
    for (size_t i = 0; i < n; i++)
        next[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_next(&seed) % i;
        uint64_t t = next[i];
        next[i] = next[j];
        next[j] = t;
    }
    double t0 = now();
    uint64_t p = 0, sum = 0;
    for (long k = 0; k < s->chase_steps; k++) {
        p = next[p];
        sum = (sum ^ p) * 0x100000001b3ull; /* order-sensitive; off the load chain */
    }
    report("chase", t0, sum);
    free(next);
}

struct body {
    double x, y, z, vx, vy, vz, m;
};

static void nbody_step(struct body *b, long n, double dt)
{
    for (long i = 0; i < n; i++) {
        for (long j = i + 1; j < n; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            double d2 = dx * dx + dy * dy + dz * dz + 0.01;
            double mag = dt / (d2 * sqrt(d2));
            b[i].vx -= dx * b[j].m * mag;
            b[i].vy -= dy * b[j].m * mag;
            b[i].vz -= dz * b[j].m * mag;
            b[j].vx += dx * b[i].m * mag;
            b[j].vy += dy * b[i].m * mag;
            b[j].vz += dz * b[i].m * mag;
        }
    }
    for (long i = 0; i < n; i++) {
        b[i].x += dt * b[i].vx;
        b[i].y += dt * b[i].vy;
        b[i].z += dt * b[i].vz;
    }
}

/* The checksum hashes the bits of every final coordinate: equal only if every rounding was. */
static void phase_nbody(const struct sizes *s)
{
    long n = s->bodies;
    struct body *b = xmalloc(n * sizeof *b);
    uint64_t seed = 4;
    for (long i = 0; i < n; i++) {
        double *f = &b[i].x;
        for (int k = 0; k < 7; k++)
            f[k] = (double)(rng_next(&seed) >> 11) * 0x1p-53 * (k < 3 ? 10.0 : k < 6 ? 0.1 : 1.0);
        b[i].m += 0.5;
    }
    double t0 = now();
    for (long t = 0; t < s->nbody_steps; t++)
        nbody_step(b, n, 0.001);
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) {
        uint64_t bits[3];
        memcpy(bits, &b[i].x, sizeof bits);
        sum = (sum * 1000003) ^ bits[0] ^ (bits[1] << 1) ^ (bits[2] << 2);
    }
    report("nbody", t0, sum);
    free(b);
}

struct mt_job {
    const struct sizes *s;
    uint8_t *buf;
    uint32_t crc;
};

static void *mt_worker(void *arg)
{
    struct mt_job *j = arg;
    j->crc = crc_job(j->buf, (size_t)j->s->mt_kib << 10, j->s->mt_rounds);
    return NULL;
}

/* One job alone, then `threads` of the same size at once, each on its own buffer: with enough
 * harts the second takes as long as the first. */
static void phase_mt(const struct sizes *s)
{
    long nt = s->threads;
    size_t n = (size_t)s->mt_kib << 10;
    struct mt_job *jobs = xmalloc(nt * sizeof *jobs);
    pthread_t *tid = xmalloc(nt * sizeof *tid);
    for (long i = 0; i < nt; i++) {
        jobs[i] = (struct mt_job){s, xmalloc(n), 0};
        fill_random(jobs[i].buf, n, 10 + i);
    }
    double t0 = now();
    mt_worker(&jobs[0]);
    report("mt-1thread", t0, jobs[0].crc);

    char name[32];
    snprintf(name, sizeof name, "mt-%ldthreads", nt);
    t0 = now();
    for (long i = 0; i < nt; i++) {
        if (pthread_create(&tid[i], NULL, mt_worker, &jobs[i])) {
            fprintf(stderr, "bench-compute: pthread_create failed\n");
            exit(1);
        }
    }
    uint64_t sum = 0;
    for (long i = 0; i < nt; i++) {
        pthread_join(tid[i], NULL);
        sum = (sum << 7 | sum >> 57) ^ jobs[i].crc;
    }
    report(name, t0, sum);
    for (long i = 0; i < nt; i++)
        free(jobs[i].buf);
    free(jobs);
    free(tid);
}

static const struct option_size {
    const char *name;
    size_t off;
} OPTIONS[] = {
    {"--crc-kib", offsetof(struct sizes, crc_kib)},
    {"--crc-rounds", offsetof(struct sizes, crc_rounds)},
    {"--sort-words", offsetof(struct sizes, sort_words)},
    {"--sort-rounds", offsetof(struct sizes, sort_rounds)},
    {"--chase-mib", offsetof(struct sizes, chase_mib)},
    {"--chase-steps", offsetof(struct sizes, chase_steps)},
    {"--bodies", offsetof(struct sizes, bodies)},
    {"--nbody-steps", offsetof(struct sizes, nbody_steps)},
    {"--mt-kib", offsetof(struct sizes, mt_kib)},
    {"--mt-rounds", offsetof(struct sizes, mt_rounds)},
    {"--threads", offsetof(struct sizes, threads)},
};
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

static void usage(const struct sizes *s)
{
    fprintf(stderr, "usage: bench-compute [OPTION N]...   (all N > 0; defaults shown)\n");
    for (size_t i = 0; i < N_OPTIONS; i++)
        fprintf(stderr, "  %-14s %ld\n", OPTIONS[i].name,
                *(const long *)((const char *)s + OPTIONS[i].off));
    exit(2);
}

static void parse_args(struct sizes *s, int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        size_t i = 0;
        while (i < N_OPTIONS && strcmp(argv[a], OPTIONS[i].name))
            i++;
        if (i == N_OPTIONS || a + 1 >= argc)
            usage(s);
        char *end;
        long v = strtol(argv[++a], &end, 0);
        if (*end || v <= 0)
            usage(s);
        *(long *)((char *)s + OPTIONS[i].off) = v;
    }
    if (s->chase_mib << 20 < (long)sizeof(uint64_t) * 2)
        usage(s);
}

int main(int argc, char **argv)
{
    struct sizes s = {
        .crc_kib = 1024, .crc_rounds = 4,
        .sort_words = 512 * 1024, .sort_rounds = 4,
        .chase_mib = 32, .chase_steps = 16 * 1024 * 1024,
        .bodies = 64, .nbody_steps = 1200,
        .mt_kib = 1024, .mt_rounds = 16, .threads = 2,
    };
    parse_args(&s, argc, argv);
    printf("bench-compute start cpus %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    double t0 = now();
    phase_crc32(&s);
    phase_sort(&s);
    phase_chase(&s);
    phase_nbody(&s);
    phase_mt(&s);
    printf("total %.4f\n", now() - t0);
    printf("bench-compute done\n");
    fflush(stdout);
    return 0;
}
