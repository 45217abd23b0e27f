/* Storage: one LMDB environment per node home, with named databases per
 * module. Every LMDB error is converted to an ST_E* code here, at the
 * edge, by one function. Transactions are used on one thread at a time. */
#ifndef STRATOS_ST_STORE_H
#define STRATOS_ST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct st_store st_store_t;
typedef struct st_txn st_txn_t;
typedef unsigned st_db_t;

typedef struct st_store_opts {
  size_t map_size;    /* bytes; default 1 GiB when 0 */
  unsigned max_dbs;   /* named databases; default 64 when 0 */
  bool no_sync;       /* tests and benchmarks only: no fsync on commit */
} st_store_opts_t;

/* Opens (creating if needed) the environment in directory dir, which must
 * exist. The caller closes it with st_store_close. */
int st_store_open(const char *dir, const st_store_opts_t *opts, st_store_t **out);
void st_store_close(st_store_t *s);

/* Opens or creates the named database. Call from one thread before use;
 * the handle stays valid until st_store_close. */
int st_store_db(st_store_t *s, const char *name, st_db_t *db);

/* Map size and bytes in use (for metrics). */
int st_store_usage(st_store_t *s, size_t *map_size, size_t *used);

/* Transactions. A write transaction is committed atomically and durably
 * (fsync) by st_txn_commit; st_txn_abort discards it. Both free txn. */
int st_txn_begin(st_store_t *s, bool write, st_txn_t **txn);
int st_txn_commit(st_txn_t *txn);
void st_txn_abort(st_txn_t *txn);

/* Reads key. On success *val points into the map and is valid until the
 * transaction ends. Missing key gives ST_ENOENT. */
int st_kv_get(st_txn_t *txn, st_db_t db, const void *key, size_t klen,
              const void **val, size_t *vlen);
int st_kv_put(st_txn_t *txn, st_db_t db, const void *key, size_t klen,
              const void *val, size_t vlen);
/* Deleting a missing key gives ST_ENOENT. */
int st_kv_del(st_txn_t *txn, st_db_t db, const void *key, size_t klen);

/* Calls cb for each record whose key starts with prefix, in key order,
 * starting at the first key >= start (start may be NULL). cb returns 0 to
 * go on, 1 to stop, or a negative error that is returned. Keys and values
 * are borrowed until cb returns. */
typedef int (*st_kv_scan_cb)(const void *key, size_t klen, const void *val,
                             size_t vlen, void *ud);
int st_kv_scan(st_txn_t *txn, st_db_t db, const void *prefix, size_t plen,
               const void *start, size_t slen, st_kv_scan_cb cb, void *ud);

/* Converts an LMDB return code to an ST_E* code. */
int st_store_error(int mdb_rc);

#endif
