/* llmbill core: the durable journal between llmbill_record() and the sinks.
 *
 * With [llmbill] spool_dir set, llmbill_record() appends each event as one
 * frame to the current segment file before it returns (durability =
 * process: the frame is in the OS when the call returns, so it survives
 * kill -9; fsync adds an fdatasync of the segment every fsync_interval_ms on
 * the journal thread, the power-loss window). The journal thread tails the
 * segments and feeds the sinks' ring in journal order; each sink persists
 * the sequence number it has finished (its ack file), and a segment is
 * deleted once every sink's ack on disk is past it.
 *
 * Frame: magic u32 "LBJ1" | payload length u32 | seq u64 | crc32c u32 of
 * seq and payload | payload (the usage JSON form). All little-endian. */
#ifndef LB_JOURNAL_H
#define LB_JOURNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define LB_DURABLE_MEMORY  0
#define LB_DURABLE_PROCESS 1
#define LB_DURABLE_FSYNC   2

struct llmbill;
struct lb_sink;
struct lb_prepared;

struct lb_journal {
    char *dir;
    int durability;
    int64_t fsync_ms;
    uint64_t max_bytes, seg_bytes;

    /* the writer (callers of llmbill_record) */
    pthread_mutex_t mu;
    int fd;                     /* current segment */
    uint64_t seg_first;         /* its first seq */
    uint64_t seg_size;
    uint64_t next_seq;
    uint64_t total_bytes;       /* all live segments */
    int dirty;                  /* written since the last fdatasync */
    int closed;
    atomic_uint_fast64_t written;   /* highest seq fully written */
    atomic_uint_fast64_t w_seg;     /* first seq of the segment being written */
    atomic_uint_fast64_t w_end;     /* its size in whole frames */

    /* the journal thread */
    pthread_t thread;
    int started;
    atomic_int stop;
    atomic_uint_fast64_t enqueued;  /* highest seq handed to the ring */
    uint64_t start_seq;             /* the smallest ack at start */
    atomic_uint_fast64_t corrupt;   /* frames skipped as corrupt */
};

/* Opens (creating) the spool: finds the segments, recovers the last one
 * (a torn tail is cut), reads each sink's ack. Reads no segment but the
 * last, and the one the slowest sink resumes in. 0 or LLMBILL_E* with err. */
int lb_journal_open(struct llmbill *h, char *err, size_t errlen);
/* Appends one prepared record (its event id and timestamp already fixed).
 * 0, LLMBILL_EFULL (spool_max_bytes), LLMBILL_ESPOOL (the write failed:
 * nothing was kept), LLMBILL_ECLOSED. Thread-safe. */
int lb_journal_append(struct lb_journal *j, const struct lb_prepared *p);
/* Starts and stops the journal thread. */
int lb_journal_start(struct llmbill *h);
void lb_journal_stop(struct llmbill *h);
/* Marks the journal closed: appends fail with LLMBILL_ECLOSED. */
void lb_journal_close_writes(struct lb_journal *j);
/* Records that sink s finished every seq <= seq (writes its ack file). */
void lb_journal_ack(struct llmbill *h, struct lb_sink *s, uint64_t seq);
/* The smallest position any sink has finished (the journal head without sinks). */
uint64_t lb_journal_min_ack(struct llmbill *h);
void lb_journal_free(struct lb_journal *j);
uint32_t lb_crc32c(uint32_t crc, const void *data, size_t n);

#endif
