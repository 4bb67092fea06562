/* llmbill core: the slots of the record-vs-close fence (lb.h, "record_gate.c").
 *
 * Each thread that records gets a slot, reached through an initial-exec
 * thread-local pointer; slots live in one process-wide list, pushed with a
 * compare-and-swap and never freed, so close can walk it at any time. A
 * pthread key destructor gives a slot back when its thread exits and the
 * next new thread takes it: the list is as long as the most threads that
 * were ever recording at once. No mutex anywhere, so a fork() cannot leave
 * one held; the child handler frees the slots of the threads it lacks. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef __NR_membarrier
#include <linux/membarrier.h>
#endif

#include "lb.h"

#define MODE_SLOTS 1            /* membarrier registered */
#define MODE_GATES 2            /* the counter gate alone */

LB_TLS struct lb_rslot *lb_tls_rslot;
/* h is never NULL (it points at the slot itself; it is never dereferenced),
 * so lb_record_enter() always takes the counter gate with it. */
struct lb_rslot lb_rslot_none = { .h = (struct llmbill *)&lb_rslot_none };

static atomic_int mode;         /* 0 until the first open */
static int force_gates;
static _Atomic(struct lb_rslot *) slots; /* every slot made, newest first */
static pthread_key_t slot_key;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static int membarrier_cmd(int cmd)
{
#ifdef __NR_membarrier
    return syscall(__NR_membarrier, cmd, 0, 0) == 0 ? 0 : -1;
#else
    (void)cmd;
    return -1;
#endif
}

/* The key's destructor, as slot p's thread exits: the slot is free for the
 * next thread, unless the thread leaves inside a record (pthread_exit() in
 * a logger callback): then it holds the handle, as a counter would stay
 * counted, and close waits for it. A record in a later destructor of this
 * thread takes the counter gate. */
static void slot_release(void *p)
{
    struct lb_rslot *s = p;

    lb_tls_rslot = &lb_rslot_none;
    if (atomic_load_explicit(&s->h, memory_order_relaxed) == NULL)
        atomic_store_explicit(&s->busy, 0, memory_order_release);
}

static void init(void)
{
    int m = MODE_GATES;

#ifdef __NR_membarrier
    if (!force_gates && pthread_key_create(&slot_key, slot_release) == 0) {
        if (membarrier_cmd(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
            m = MODE_SLOTS;
        else
            pthread_key_delete(slot_key);
    }
#endif
    atomic_store_explicit(&mode, m, memory_order_release);
}

void lb_rgate_init(void)
{
    pthread_once(&init_once, init);
}

struct lb_rslot *lb_rslot_take(void)
{
    struct lb_rslot *s;

    if (atomic_load_explicit(&mode, memory_order_acquire) != MODE_SLOTS)
        return lb_tls_rslot = &lb_rslot_none;
    for (s = atomic_load_explicit(&slots, memory_order_acquire); s != NULL; s = s->next) {
        int free_slot = 0;

        if (atomic_compare_exchange_strong_explicit(&s->busy, &free_slot, 1, memory_order_acquire,
                                                    memory_order_relaxed))
            goto mine;
    }
    if ((s = aligned_alloc(64, sizeof *s)) == NULL)
        return lb_tls_rslot = &lb_rslot_none;
    atomic_init(&s->h, NULL);
    atomic_init(&s->busy, 1);
    s->next = atomic_load_explicit(&slots, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&slots, &s->next, s, memory_order_release,
                                                  memory_order_relaxed))
        ;
mine:
    if (pthread_setspecific(slot_key, s) != 0) {
        atomic_store_explicit(&s->busy, 0, memory_order_release);
        return lb_tls_rslot = &lb_rslot_none;
    }
    return lb_tls_rslot = s;
}

/* MEMBARRIER_CMD_PRIVATE_EXPEDITED needs the registration of this process
 * (its address space), which a child of fork() inherits and exec() drops.
 * Once registered it fails only where the process forbade the call since
 * (a seccomp filter installed after the first open): see wait_records(). */
int lb_rgate_fence(void)
{
#ifdef __NR_membarrier
    if (atomic_load_explicit(&mode, memory_order_acquire) == MODE_SLOTS)
        return membarrier_cmd(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
#endif
    return 0;
}

uint64_t lb_rgate_inside(const struct llmbill *h)
{
    uint64_t n = 0;

    for (struct lb_rslot *s = atomic_load_explicit(&slots, memory_order_acquire); s != NULL;
         s = s->next)
        n += atomic_load_explicit(&s->h, memory_order_acquire) == h;
    return n;
}

/* Only the forking thread lives in the child: async-signal-safe stores. */
void lb_rgate_fork_child(void)
{
    for (struct lb_rslot *s = atomic_load_explicit(&slots, memory_order_relaxed); s != NULL;
         s = s->next)
        if (s != lb_tls_rslot) {
            atomic_store_explicit(&s->h, NULL, memory_order_relaxed);
            atomic_store_explicit(&s->busy, 0, memory_order_relaxed);
        }
}

void lb_rgate_force_gates(void)
{
    force_gates = 1;
}

int lb_rgate_uses_slots(void)
{
    return atomic_load(&mode) == MODE_SLOTS;
}

size_t lb_rgate_slots(size_t *busy)
{
    size_t n = 0, b = 0;

    for (struct lb_rslot *s = atomic_load(&slots); s != NULL; s = s->next) {
        n++;
        b += atomic_load(&s->busy) != 0;
    }
    if (busy != NULL)
        *busy = b;
    return n;
}
