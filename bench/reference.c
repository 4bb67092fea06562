/* A reference measurement with no llmbill code: one thread copies 320
 * bytes into the next 512-byte slot of a 4 MiB ring and prefetches the
 * next slots for writing, as a recording thread does, while a thread on
 * another CPU reads the slots behind it, as a worker does. On a quiet host
 * its p50 is steady; when it rises, the host (another tenant on a shared
 * core, or memory contention) is slowing every memory-bound thread, and
 * llmbill_record() figures from that moment say nothing about llmbill. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "clock.h"

#define RING ((size_t)4 << 20)
#define SLOT 512
#define CALLS 400000

struct ref {
    unsigned char *ring;
    atomic_ulong head;
    atomic_int stop;
};

static void pin(pthread_t t, int cpu)
{
    cpu_set_t s;

    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(t, sizeof s, &s);
}

/* Reads each slot's first line once a backlog of 1,024 slots has built up,
 * like a worker woken at its threshold. */
static void *reader(void *arg)
{
    struct ref *r = arg;
    unsigned long pos = 0;
    volatile unsigned char sink = 0;

    while (!atomic_load(&r->stop)) {
        unsigned long h = atomic_load_explicit(&r->head, memory_order_acquire);

        if (h - pos < 1024) {
            struct timespec d = { 0, 100000 };

            nanosleep(&d, NULL);
            continue;
        }
        for (; pos < h; pos++)
            sink += r->ring[(pos * SLOT) & (RING - 1)];
    }
    return NULL;
}

static int has_prefetchw;

/* As the library does it (core/lb.h): PREFETCHW where the CPU has it. */
static void prefetch_write(const unsigned char *p)
{
#if defined(__x86_64__)
    if (has_prefetchw) {
        __asm__ volatile("prefetchw %0" : : "m"(*p));
        return;
    }
#endif
    __builtin_prefetch(p, 1, 3);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* p50 in ns of one slot's copy with the writer on CPU `cpu`. */
static double run(int cpu, int other, double ns_per_tick, uint32_t *lat)
{
    struct ref r = { .ring = aligned_alloc((size_t)2 << 20, RING) };
    unsigned char src[320];
    pthread_t t;

    if (r.ring == NULL)
        return -1;
    madvise(r.ring, RING, MADV_HUGEPAGE);
    memset(r.ring, 0, RING);
    memset(src, 1, sizeof src);
    atomic_init(&r.head, 0);
    atomic_init(&r.stop, 0);
    pin(pthread_self(), cpu);
    if (pthread_create(&t, NULL, reader, &r) != 0) {
        free(r.ring);
        return -1;
    }
    pin(t, other);
    for (unsigned long seq = 0; seq < CALLS; seq++) {
        uint64_t t0 = ticks();
        size_t at = (seq * SLOT) & (RING - 1);

        memcpy(r.ring + at, src, sizeof src);
        for (size_t ahead = 1; ahead <= 4; ahead++)
            for (size_t line = 0; line < SLOT; line += 64)
                prefetch_write(r.ring + ((at + ahead * SLOT + line) & (RING - 1)));
        atomic_store_explicit(&r.head, seq + 1, memory_order_release);
        lat[seq] = (uint32_t)(ticks() - t0);
    }
    atomic_store(&r.stop, 1);
    pthread_join(t, NULL);
    free(r.ring);
    qsort(lat, CALLS, sizeof *lat, cmp_u32);
    return lat[CALLS / 2] * ns_per_tick;
}

double reference(int cpu, double ns_per_tick)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t *lat = malloc(CALLS * sizeof *lat);
    cpu_set_t saved;
    double p50;

    if (lat == NULL || cpus < 2) {
        free(lat);
        return -1;
    }
#if defined(__x86_64__)
    {
        unsigned a, b, c, d;

        has_prefetchw = __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 8));
    }
#endif
    sched_getaffinity(0, sizeof saved, &saved);
    p50 = run(cpu, (cpu + 1) % (int)cpus, ns_per_tick, lat);
    sched_setaffinity(0, sizeof saved, &saved);
    free(lat);
    return p50;
}
