/* llmbill core: the journal's prefault thread.
 *
 * The first touch of a page of the segment mapping costs the writer a page
 * fault, and on a virtual machine with shadow page tables a few microseconds
 * more even when the kernel has the page mapped already. This thread takes
 * both costs off llmbill_record(): just ahead of the writer it faults the
 * pages in writable (MADV_POPULATE_WRITE) and then reads one byte of each
 * through the mapping itself.
 *
 * Hand-off with the writer (lb_journal_append): under the writer lock the
 * thread claims a range past the page the writer is on (a gap further when
 * it has fallen behind, so as not to race the writer), sets pf_lo to its
 * start and raises `populating`; pf_lo then moves past each page as it is
 * read. A writer whose frame would reach pf_lo while `populating` is up
 * waits for it (one page, normally); close_segment() waits for `populating`
 * to drop before it unmaps. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "lb.h"

#define AHEAD_MIN (64u << 10)       /* bytes kept faulted in ahead of the writer */
#define AHEAD_MAX (16u << 20)
#define STEP      (64u << 10)       /* at most this much per claim */
#define GAP       (128u << 10)      /* fallen behind: start this far past the writer */

/* How far ahead to stay: about 50 ms of writing at the recent rate, so
 * that a page is not dirtied long before it is used (the kernel would
 * write it back, and the writer would fault on it again). */
static uint64_t ahead_for(double bytes_per_ms)
{
    uint64_t a = (uint64_t)(bytes_per_ms * 50);

    return a < AHEAD_MIN ? AHEAD_MIN : a > AHEAD_MAX ? AHEAD_MAX : a;
}

void *lb_journal_prefault_thread(void *arg)
{
    struct lb_journal *j = arg;
    uint64_t done_seg = 0, done_to = 0, done_sync = 0, last_total = 0;
    double rate = 0;                /* bytes appended per ms, smoothed */
    int64_t last_ms = lb_mono_ms();
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE); /* madvise() wants it aligned */

    while (!atomic_load(&j->stop)) {
        struct timespec ts = { 0, 1000000 };
        unsigned char *map;
        uint64_t from, to;
        int64_t now = lb_mono_ms();

        pthread_mutex_lock(&j->mu);
        if (now > last_ms) {
            rate = 0.8 * rate + 0.2 * (double)(j->appended - last_total) / (double)(now - last_ms);
            last_total = j->appended;
            last_ms = now;
        }
        /* a new segment (its mapping may reuse the old address), or an
         * fdatasync that wrote the pages back and made them read-only */
        if (j->seg_first != done_seg || atomic_load(&j->syncs) != done_sync) {
            done_seg = j->seg_first;
            done_sync = atomic_load(&j->syncs);
            done_to = 0;
        }
        map = j->map;
        from = (j->seg_size + page - 1) & ~(uint64_t)(page - 1);
        if (done_to > from)
            from = done_to;
        else if (done_to != 0 || j->seg_size > 0)
            from += GAP;    /* the writer caught up: do not race it for the next pages */
        to = (j->seg_size + ahead_for(rate) + page - 1) & ~(uint64_t)(page - 1);
        if (to > j->map_size)
            to = j->map_size;
        if (to > from + STEP)
            to = from + STEP;
        if (map == NULL || to <= from) {
            pthread_mutex_unlock(&j->mu);
            ts.tv_nsec = rate < 1 ? 10000000 : 1000000; /* idle: wake less */
            nanosleep(&ts, NULL);
            continue;
        }
        atomic_store_explicit(&j->pf_lo, from, memory_order_relaxed);
        atomic_store(&j->populating, 1);
        pthread_mutex_unlock(&j->mu);
        /* leaves the contents as they are; before Linux 5.14 it is EINVAL */
        (void)madvise(map + from, (size_t)(to - from), MADV_POPULATE_WRITE);
        for (uint64_t off = from; off < to; off += page) {
            (void)*(volatile const unsigned char *)(map + off);
            /* this page is done: a writer waiting at it may go on */
            atomic_store_explicit(&j->pf_lo, off + page, memory_order_release);
        }
        atomic_store_explicit(&j->populating, 0, memory_order_release);
        done_to = to;
    }
    return NULL;
}
