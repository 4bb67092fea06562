/* llmbill core: the memory of the queue's rings, and the one CPU feature
 * the recording path asks for (a prefetch for writing). */
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

#include "lb.h"

#define HUGE_PAGE ((size_t)2 << 20)

atomic_int lb_cpu_prefetchw;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_probe(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned a, b, c, d;

    /* PREFETCHW: CPUID 0x80000001, ECX bit 8 (AMD since K6-2, Intel since Broadwell) */
    if (__get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 8)))
        atomic_store_explicit(&lb_cpu_prefetchw, 1, memory_order_relaxed);
#endif
}

/* A ring of 2 MiB or more is rounded up to whole huge pages; a smaller one
 * to whole pages, so that many small rings do not cost 2 MiB each. */
static size_t ring_bytes(uint64_t n, size_t *align)
{
    size_t len = (size_t)n * sizeof(struct lb_slot);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    *align = len >= HUGE_PAGE ? HUGE_PAGE : page;
    return (len + *align - 1) & ~(*align - 1);
}

/* Maps a zeroed ring of n slots. A ring of 2 MiB or more is aligned to
 * 2 MiB and advised as transparent huge pages: a recording thread walks its
 * ring end to end, and with 4 KiB pages every eighth slot would be a TLB
 * miss, which a hypervisor makes dear. Also probes the CPU once for
 * lb_prefetch_lines(). Returns NULL when out of memory. */
struct lb_slot *lb_ring_alloc(uint64_t n)
{
    size_t align, len = ring_bytes(n, &align), extra = align == HUGE_PAGE ? HUGE_PAGE : 0, lead;
    unsigned char *p;

    pthread_once(&cpu_once, cpu_probe);
    p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (extra > 0) {
        /* keep the aligned part, give back what is before and after */
        lead = (align - ((uintptr_t)p & (align - 1))) & (align - 1);
        if (lead > 0)
            munmap(p, lead);
        munmap(p + lead + len, extra - lead);
        p += lead;
#ifdef MADV_HUGEPAGE
        (void)madvise(p, len, MADV_HUGEPAGE); /* a hint: without THP, 4 KiB pages */
#endif
    }
    /* a child of fork() cannot use the handle (fork.c): no copy for it */
    (void)madvise(p, len, MADV_DONTFORK);
    return (struct lb_slot *)(void *)p;
}

/* Unmaps a ring from lb_ring_alloc(n). NULL is a no-op. */
void lb_ring_free(struct lb_slot *ring, uint64_t n)
{
    size_t align;

    if (ring != NULL)
        munmap(ring, ring_bytes(n, &align));
}
