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
 * (32 * nblocks). refs counts the files that hold this slice on this
 * node: storing an existing slice again adds a reference, removing one
 * drops it, and the file goes at zero.
 *
 * Today every call runs on the caller's thread, commit's fsync of up to a
 * slice included; the resource module is to run writers and scrubs on
 * worker threads (a writer touches only its own files). */
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

typedef struct st_slice_info {
  uint8_t root[ST_HASH_LEN];
  uint64_t size;
  uint32_t nblocks;
  int64_t last_verified_ms;
  bool corrupt;
  uint32_t refs;
} st_slice_info_t;

/* ST_ENOENT when the slice is not here. blocks (may be NULL) receives
 * nblocks hashes, malloc'd, for the caller to free. */
int st_slice_info(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], st_slice_info_t *info,
                  uint8_t (**blocks)[ST_HASH_LEN]);

/* ---- writing a slice ----
 * begin checks that the block hashes give root and that size fits
 * nblocks (ST_EBADPROOF when they do not); a second writer of the same
 * slice gets ST_ELOCKED; write_block takes blocks in order (each checked:
 * ST_ECORRUPT on a mismatch, and the writer then keeps failing); commit
 * makes it durable and indexed (a healthy slice already stored just gains
 * a reference, nothing is rewritten; a corrupt or missing one is
 * rewritten); abort removes the temporary file. Commit and abort both
 * free the writer. A writer is used from one thread at a time. */
typedef struct st_slice_writer st_slice_writer_t;

int st_slice_write_begin(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint64_t size,
                         const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks,
                         st_slice_writer_t **out);
int st_slice_write_block(st_slice_writer_t *w, const void *data, size_t len);
int st_slice_write_commit(st_slice_writer_t *w);
void st_slice_write_abort(st_slice_writer_t *w);

/* ---- reading ----
 * Reads block index of a slice into buf (room for ST_FILE_BLOCK bytes),
 * checks it against the index (ST_ECORRUPT on a mismatch: the slice is
 * marked corrupt) and fills *len. */
int st_slice_read_block(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint32_t index,
                        uint8_t *buf, size_t *len);

/* Drops one reference; the slice's file and record go at zero. */
int st_slice_release(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN]);

/* Bytes held and slices held (for heartbeats and metrics). */
void st_slice_usage(st_slice_store_t *s, uint64_t *bytes, uint64_t *slices);

/* ---- scrub ----
 * Re-reads and re-checks the slice verified longest ago (one per call),
 * records the time, and reports through *bad the root of a slice found
 * corrupt (or missing). Returns ST_ENOENT when the store is empty. */
int st_slice_scrub_one(st_slice_store_t *s, int64_t now_ms, bool *bad,
                       uint8_t root[ST_HASH_LEN]);

#endif
