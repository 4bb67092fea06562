/* llmbill core: a handle belongs to the process that opened it.
 *
 * fork() copies a handle into the child, but not its threads, and a
 * journalled handle's segment is mapped shared: a child writing through the
 * copy would overwrite the frames the parent writes next. So a
 * pthread_atfork() child handler bumps a process-wide generation, and every
 * public call compares it with the one the handle was opened in (one
 * relaxed load: glibc's getpid() is a system call since 2.25). A call on a
 * handle from another process returns LLMBILL_EFORKED and touches nothing.
 *
 * The child handler also closes the child's copies of the journals' lock
 * descriptors: an flock belongs to the open file description, so a child
 * that outlived its parent would otherwise keep the parent's journal
 * locked, and no live handle could adopt it (journal.h). The parent keeps
 * its lock: its own descriptor still holds it. It closes the child's copies
 * of the request-based sinks' wake-up eventfds too (inflight.c), which
 * share their counter with the parent's: the child cannot wake or drain
 * the parent's workers. And it frees the record slots (record_gate.c) of
 * the threads the child does not have.
 *
 * Not covered: a child made by a raw clone() system call (no atfork
 * handlers run). vfork() and posix_spawn() children exec at once. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "lb.h"

atomic_uint lb_fork_gen;

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t fork_mu = PTHREAD_MUTEX_INITIALIZER;
static int *lock_fds;           /* every open journal's lock, every sink's eventfd */
static size_t nlock, caplock;

static void fork_prepare(void)
{
    pthread_mutex_lock(&fork_mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&fork_mu);
}

/* Runs in the child, with only the forking thread: close() is
 * async-signal-safe, and fork_mu was taken by that thread in fork_prepare(). */
static void fork_child(void)
{
    atomic_fetch_add_explicit(&lb_fork_gen, 1, memory_order_relaxed);
    lb_rgate_fork_child();
    for (size_t i = 0; i < nlock; i++)
        close(lock_fds[i]);
    nlock = 0;
    pthread_mutex_unlock(&fork_mu);
}

static void fork_register(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

unsigned lb_fork_init(void)
{
    pthread_once(&fork_once, fork_register);
    return atomic_load_explicit(&lb_fork_gen, memory_order_relaxed);
}

int lb_fork_track_fd(int fd)
{
    int rc = 0;

    pthread_once(&fork_once, fork_register);
    pthread_mutex_lock(&fork_mu);
    if (nlock == caplock) {
        size_t cap = caplock ? caplock * 2 : 8;
        int *v = realloc(lock_fds, cap * sizeof *v);

        if (v == NULL)
            rc = -1;
        else {
            lock_fds = v;
            caplock = cap;
        }
    }
    if (rc == 0)
        lock_fds[nlock++] = fd;
    pthread_mutex_unlock(&fork_mu);
    return rc;
}

void lb_fork_untrack_fd(int fd)
{
    pthread_mutex_lock(&fork_mu);
    for (size_t i = 0; i < nlock; i++)
        if (lock_fds[i] == fd) {
            lock_fds[i] = lock_fds[--nlock];
            break;
        }
    pthread_mutex_unlock(&fork_mu);
}
