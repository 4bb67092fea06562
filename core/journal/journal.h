/* llmbill core: the durable journal between llmbill_record() and the sinks.
 *
 * With [llmbill] spool_dir set, llmbill_record() appends each event as one
 * frame to the current segment before it returns. A segment is a file of
 * segment_bytes whose blocks are allocated up front (posix_fallocate) and
 * which is mapped shared: appending is a copy into the page cache, with no
 * system call, and the frame is in the OS when the call returns, so it
 * survives kill -9 (durability = process). fsync adds an fdatasync of the
 * segment every fsync_interval_ms on the journal thread, the power-loss
 * window. A finished segment is cut to the frames it holds. A prefault
 * thread (journal_prefault.c) faults in the pages just ahead of the writer,
 * so that the callers rarely take a page fault. Only one handle may use a
 * spool: it holds an flock on spool_dir/lock.
 *
 * The journal thread tails the segments and feeds the sinks' queue in
 * journal order. Each sink's worker records the sequence number it has
 * finished; the journal thread writes it to the sink's ack file every
 * ACK_EVERY_MS, and deletes a segment once every sink's ack on disk is past
 * it.
 *
 * Frame: magic u32 "LBJ2" | payload length u32 | seq u64 | crc32c u32 of
 * payload and seq | payload (journal_record.c's binary record; "LBJ1"
 * frames, from llmbill 0.1, hold the usage JSON form). All little-endian.
 * The magic is stored last, and the unwritten rest of a segment is zeros:
 * a zero word where a frame should start ends the segment's data. */
#ifndef LB_JOURNAL_H
#define LB_JOURNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define LB_DURABLE_MEMORY  0
#define LB_DURABLE_PROCESS 1
#define LB_DURABLE_FSYNC   2

struct llmbill;
struct lb_sink;
struct lb_prepared;

/* A reader of one journal's segments (the journal thread's). */
struct lb_jreader {
    const char *dir;
    int src;                    /* 0: the handle's own journal, 1: an adopted one */
    uint64_t last;              /* highest seq fed to the ring */
    uint64_t cur;               /* first seq of the segment being read (0: none yet) */
    int fd;
    off_t off;
    unsigned char *buf;
    size_t cap, have;
    int64_t oom_logged;
    atomic_uint_fast64_t *enqueued; /* receives last */
};

/* The journal of another handle, whose process ended (its lock was free),
 * that this handle delivers through its own sinks (adopt.c). Set and
 * cleared by the journal thread; workers read it for events of src 1,
 * which exist only while it is set. */
struct lb_adopted {
    char *dir;
    int lock_fd;
    int root;                   /* spool_dir itself (kept), not a j-* directory (removed) */
    uint64_t end;               /* its last seq */
    uint64_t *ack_start;        /* per sink: finished before the adoption */
    atomic_uint_fast64_t *ack_seq, *ack_disk; /* per sink, as struct lb_sink's */
    atomic_uint_fast64_t enqueued;
    struct lb_jreader r;
};

/* How often the journal thread looks for journals to adopt. */
#define LB_ADOPT_SCAN_MS 250

struct lb_journal {
    char *dir;                  /* this handle's journal: spool_dir, or spool_dir/j-<id> */
    char *root;                 /* spool_dir */
    int in_root;                /* dir is spool_dir (its lock was free at open) */
    int durability;
    int64_t fsync_ms;
    uint64_t max_bytes, seg_bytes;

    /* the writer (callers of llmbill_record) */
    pthread_mutex_t mu;
    int lock_fd;                /* flock on spool_dir/lock */
    int mu_init;                /* mu is initialised */
    int fd;                     /* current segment */
    unsigned char *map;         /* its shared mapping, map_size bytes */
    uint64_t map_size;
    uint64_t seg_first;         /* its first seq */
    uint64_t seg_size;          /* bytes of frames in it */
    uint64_t next_seq;
    uint64_t total_bytes;       /* all live segments */
    uint64_t appended;          /* bytes appended since open */
    int dirty;                  /* written since the last fdatasync */
    int closed;
    int readonly;               /* a paused handle on a spool another one holds */
    atomic_uint_fast64_t written;   /* highest seq fully written */
    atomic_uint_fast64_t w_seg;     /* first seq of the segment being written */
    atomic_uint_fast64_t w_end;     /* its size in whole frames */

    /* the journal thread, and the thread that faults in pages for the writer */
    pthread_t thread, prefault;
    int started;
    unsigned char *rbuf;        /* the journal thread's read buffer, from lb_journal_start() */
    size_t rcap;
    atomic_int stop;
    atomic_uint_fast64_t enqueued;  /* highest seq handed to the ring */
    uint64_t start_seq;             /* the smallest ack at start */
    int64_t last_sync, last_ack, last_clean; /* the journal thread's duties (journal.c) */
    atomic_uint_fast64_t corrupt;   /* frames skipped as corrupt */
    atomic_uint_fast64_t syncs;     /* fdatasyncs done */

    /* pre-fork servers (adopt.c): the journal being adopted, whether one
     * may still be waiting (flush waits for it), and what a paused handle
     * found in the other journals of the spool (per sink, and in all) */
    _Atomic(struct lb_adopted *) adopt;
    atomic_int adopt_pending;
    /* a flush asks for a fresh look (scan_req) and waits until a look that
     * started after its request is done (scan_done): adopt_pending is then
     * not older than the flush (a worker killed just before it is seen) */
    atomic_uint_fast64_t scan_req, scan_done;
    char *root_done;            /* spool_dir's last segment "name size mtime" once delivered */
    char **kept;                /* j-* journals delivered here but kept for sinks this handle */
    size_t nkept;               /* does not have (journal thread) */
    uint64_t *other_spooled;
    uint64_t other_total;

    /* the prefault thread (journal_prefault.c): while populating is up,
     * it may be reading the pages of map from pf_lo on */
    atomic_int populating;
    atomic_uint_fast64_t pf_lo;
};

/* adopt.c */
/* One adoption step (journal thread): goes on with the journal being
 * adopted (its positions, and removing it once every sink is past its
 * end), or looks for one whose lock is free. */
void lb_adopt_step(struct llmbill *h);
/* At close, after the workers stopped: writes the adopted journal's
 * positions, removes it when finished, releases it; removes this handle's
 * own j-* journal when every sink finished it. */
void lb_adopt_finish(struct llmbill *h);
/* A paused handle: sums the backlog of the spool's j-* journals. */
void lb_adopt_inspect(struct llmbill *h);
/* Creates this handle's own journal spool_dir/j-<id>, locked (when
 * spool_dir's lock is taken by another handle). 0 or -1 with errno. */
int lb_adopt_own_dir(struct lb_journal *j);
/* Per sink, what is left in the adopted journal (0 without one). */
uint64_t lb_adopt_spooled(struct llmbill *h, struct lb_sink *s);

/* journal.c helpers shared with adopt.c */
char *lb_jseg_path(const char *dir, uint64_t first);
uint64_t *lb_jlist_segments(const char *dir, size_t *n);
char *lb_jack_path(const char *dir, const char *sink, int tmp);
int lb_jread_ack(const char *path, uint64_t *v);
int lb_jwrite_ack(struct llmbill *h, const char *dir, struct lb_sink *s, uint64_t seq);
/* Calls fn for each position file in dir of a sink this handle does not
 * have (one removed from its config, or one only the writer of an adopted
 * journal had), with its name, its file's name and its position; a file
 * that cannot be read is skipped. */
void lb_jforeign_sinks(struct llmbill *h, const char *dir,
                       void (*fn)(void *arg, const char *name, const char *file, uint64_t pos),
                       void *arg);
/* The last valid seq of the journal in dir (read only; 0: empty), with
 * its first segment in *first. 0, or -1 when it cannot be read. */
int lb_jlast_seq(const char *dir, uint64_t *last, uint64_t *first);
void lb_jreader_init(struct lb_jreader *r, const char *dir, int src, uint64_t last,
                     atomic_uint_fast64_t *enqueued);
void lb_jreader_close(struct lb_jreader *r);

/* Opens (creating) the spool: finds the segments, recovers the last one
 * (a torn tail is cut), reads each sink's ack. Reads no segment but the
 * last, and the one the slowest sink resumes in. 0 or LLMBILL_E* with err. */
int lb_journal_open(struct llmbill *h, char *err, size_t errlen);
/* Appends one prepared record (its event id and timestamp already fixed,
 * and p->lens measuring its strings: a generated event id included).
 * 0, LLMBILL_EFULL (spool_max_bytes), LLMBILL_ESPOOL (a new segment could
 * not be allocated: nothing was kept; the next call tries again),
 * LLMBILL_ECLOSED. Thread-safe. */
int lb_journal_append(struct lb_journal *j, const struct lb_prepared *p);
/* Starts and stops the journal thread. */
int lb_journal_start(struct llmbill *h);
void lb_journal_stop(struct llmbill *h);
/* Marks the journal closed: appends fail with LLMBILL_ECLOSED. */
void lb_journal_close_writes(struct lb_journal *j);
/* Records that sink s finished every seq <= seq. The journal thread writes
 * it to the sink's ack file within ACK_EVERY_MS; only a position on disk
 * lets a segment be deleted. Worker thread of s. */
void lb_journal_ack(struct llmbill *h, struct lb_sink *s, int src, uint64_t seq);
/* Was ev (of journal src) finished by s before this run or adoption? */
uint64_t lb_journal_ack_start(const struct llmbill *h, const struct lb_sink *s, int src);
/* Writes the ack file of every sink whose position moved. The journal
 * thread, or the closing thread once the workers and the journal thread
 * have stopped. */
void lb_journal_persist_acks(struct llmbill *h);
/* The smallest position any sink has finished, in memory or (on_disk) in
 * its ack file; the journal head without sinks. */
uint64_t lb_journal_min_ack(struct llmbill *h, int on_disk);
void lb_journal_free(struct lb_journal *j);
/* The prefault thread's body (journal_prefault.c); arg is the journal. */
void *lb_journal_prefault_thread(void *arg);
uint32_t lb_crc32c(uint32_t crc, const void *data, size_t n);

#endif
