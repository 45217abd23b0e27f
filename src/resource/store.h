/* The slice store of a resource node: slices on disk under
 * HOME/data/slices/, an index in LMDB (database "resource_slices").
 *
 * A slice is one file, named by its root in hex and fanned out by its
 * first two bytes: HOME/data/slices/ab/cd/abcd....slice. It is written
 * whole into a temporary file in the same directory (".tmp" suffix),
 * every block checked against the block hash list as it arrives, then
 * fsynced, renamed into place and the directory fsynced; only then is the
 * index record committed (and a last release deletes the record before
 * the file). So a crash at any moment leaves either a record and its
 * complete, checked file, or no record and at most a temporary or an
 * unindexed file — open removes both (only names the store itself makes,
 * in its own fan-out directories). A record without its file (removed by
 * hand) reads as missing and is reported by the scrub.
 *
 * Index record, key = slice root (32): size (8) || nblocks (4) ||
 * last_verified_ms (8) || corrupt (1) || refs (4) || block hashes
 * (32 * nblocks) || stored_ms (8) || added_ms (8). refs counts the files
 * that hold this slice on this node: storing an existing slice again adds
 * a reference, removing one drops it, and the file goes at zero.
 * stored_ms is when the record was made, added_ms when a reference was
 * last added (wall clock, ms); records written before these two fields
 * end with the block hashes and read as 0 and 0.
 *
 * Threads: begin, commit, abort, release, drop, info, reads, listing and
 * scrub run on the store's one thread (the loop); write_block and flush
 * touch only the writer and its own files and may run on a worker, one
 * thread at a time per writer. So the fsync of a slice goes to a worker
 * with flush, and commit then only records it. */
#ifndef STRATOS_RESOURCE_STORE_H
#define STRATOS_RESOURCE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stratos/st_crypto.h>
#include <stratos/st_file.h>
#include <stratos/st_store.h>

typedef struct st_slice_store st_slice_store_t;

/* Opens the store under dir (created if missing) with the node's LMDB
 * environment; removes leftover temporary files. */
int st_slice_store_open(const char *dir, st_store_t *store, st_slice_store_t **out);
void st_slice_store_close(st_slice_store_t *s);
/* The bytes free for unprivileged writers on the store's file system. */
int st_slice_store_avail(st_slice_store_t *s, uint64_t *bytes);

typedef struct st_slice_info {
  uint8_t root[ST_HASH_LEN];
  uint64_t size;
  uint32_t nblocks;
  int64_t last_verified_ms;
  bool corrupt;
  uint32_t refs;
  int64_t stored_ms; /* first stored (0: before the field existed) */
  int64_t added_ms;  /* a reference last added */
} st_slice_info_t;

/* ST_ENOENT when the slice is not here. blocks (may be NULL) receives
 * nblocks hashes, malloc'd, for the caller to free. */
int st_slice_info(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], st_slice_info_t *info,
                  uint8_t (**blocks)[ST_HASH_LEN]);

/* ---- writing a slice ----
 * begin checks that the block hashes give root and that size fits
 * nblocks (ST_EBADPROOF when they do not); a second writer of the same
 * slice, while the first lives, gets ST_ELOCKED; write_block takes blocks
 * in order (each checked: ST_ECORRUPT on a mismatch, and the writer then
 * keeps failing); flush makes the complete file durable under its final
 * name (fsync, rename, directory fsync; ST_EINVAL when blocks are
 * missing); commit flushes if that was not done and records the slice
 * (a healthy slice already stored just gains a reference, nothing is
 * rewritten; a corrupt or missing one is rewritten); abort removes what
 * the writer made. Commit and abort both free the writer. */
typedef struct st_slice_writer st_slice_writer_t;

int st_slice_write_begin(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint64_t size,
                         const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks,
                         st_slice_writer_t **out);
int st_slice_write_block(st_slice_writer_t *w, const void *data, size_t len);
int st_slice_write_flush(st_slice_writer_t *w);
int st_slice_write_commit(st_slice_writer_t *w);
void st_slice_write_abort(st_slice_writer_t *w);
/* True when the slice is already stored and healthy: the writer takes no
 * block, and commit only adds a reference. */
bool st_slice_write_ref_only(const st_slice_writer_t *w);

/* ---- reading ----
 * Reads block index of a slice into buf (room for ST_FILE_BLOCK bytes),
 * checks it against the index (ST_ECORRUPT on a mismatch: the slice is
 * marked corrupt) and fills *len. A slice marked corrupt (by a read or
 * the scrub) answers ST_ECORRUPT without reading until it is rewritten
 * or a scrub finds it whole again. */
int st_slice_read_block(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint32_t index,
                        uint8_t *buf, size_t *len);

/* The same without the hash check, for a reader that checks the block
 * itself (a gateway verifies every block against the slice's list): one
 * hash per byte served instead of two. A slice marked corrupt is still
 * refused; damage the scrub has not found yet goes out, and the reader
 * reports it (a failed audit). */
int st_slice_read_block_unchecked(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN],
                                  uint32_t index, uint8_t *buf, size_t *len);

/* Stamps the slices among roots that are here as claimed now (one write
 * transaction; roots not here are skipped): garbage collection leaves a
 * slice claimed within gc_grace_ms alone. *claimed (may be NULL) counts
 * those found. */
int st_slice_claim(st_slice_store_t *s, const uint8_t (*roots)[ST_HASH_LEN], size_t n,
                   int64_t now_ms, size_t *claimed);

/* Drops one reference; the slice's file and record go at zero.
 * ST_ELOCKED while a writer of the slice lives. */
int st_slice_release(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN]);
/* Drops the slice whatever its references, unless one was added at or
 * after added_before_ms (ST_EAGAIN: someone stored it again since the
 * caller looked). ST_ENOENT when it is not here, ST_ELOCKED while a
 * writer of it lives. */
int st_slice_drop(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], int64_t added_before_ms);

/* Garbage-collection candidates: up to max roots, in key order after
 * `after` (NULL: from the first), of slices whose last reference was
 * added before added_before_ms. *more tells whether others follow. */
int st_slice_list_idle(st_slice_store_t *s, const uint8_t *after, int64_t added_before_ms,
                       uint8_t (*roots)[ST_HASH_LEN], size_t max, size_t *n, bool *more);

/* Bytes held and slices held (for heartbeats and metrics). */
void st_slice_usage(st_slice_store_t *s, uint64_t *bytes, uint64_t *slices);

/* ---- scrub ----
 * Re-reads and re-checks the slice verified longest ago (one per call),
 * records the time, and reports through *bad the root of a slice found
 * corrupt (or missing). Returns ST_ENOENT when the store is empty. */
int st_slice_scrub_one(st_slice_store_t *s, int64_t now_ms, bool *bad,
                       uint8_t root[ST_HASH_LEN]);

#endif
