/* The benchmarks' clocks: ticks() for short intervals (the TSC on x86-64,
 * else nanoseconds), now_s() for long ones. */
#ifndef LLMBILL_BENCH_CLOCK_H
#define LLMBILL_BENCH_CLOCK_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

static inline uint64_t ticks(void)
{
#if defined(__x86_64__)
    unsigned aux;

    return __rdtscp(&aux);
#else
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static inline double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* reference.c: the host's state, measured without llmbill code: the p50
 * in ns of a slot's copy, written on CPU cpu and read on the next one. */
double reference(int cpu, double ns_per_tick);

#endif
