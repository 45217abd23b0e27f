/* The block store: four LMDB databases per engine.
 *
 *   <name>_blocks   height BE8 -> Block bytes
 *   <name>_commits  height BE8 -> the Commit that decided it ("seen commit")
 *   <name>_hash     block hash -> height BE8
 *   <name>_state    "L" -> latest height BE8
 *                   "A" height BE8 -> app hash after the block (32), hash of
 *                      its tx results (32), block time BE8, block hash (32);
 *                      height 0 holds the genesis values
 *                   "V" height BE8 -> validator set and proposer priorities
 *                      at the start of that height
 *                   "E" validator, height, round, type -> committed evidence
 *
 * Everything of a height is written in the write transaction in which the
 * application finalizes the block, so blocks and application state never
 * part. Reads for RPC use their own read transactions. */
#include <stdlib.h>
#include <string.h>

#include <stratos/st_err.h>
#include <stratos/st_log.h>

#include "consensus/consensus_private.h"

#define A_LEN (ST_HASH_LEN * 3 + 8)

int st_cons__store_open(st_cons_t *c) {
  char n[64];
  int rc;
  snprintf(n, sizeof(n), "%s_blocks", c->name);
  if ((rc = st_store_db(c->node->store, n, &c->db_blocks)) != 0)
    return rc;
  snprintf(n, sizeof(n), "%s_commits", c->name);
  if ((rc = st_store_db(c->node->store, n, &c->db_commits)) != 0)
    return rc;
  snprintf(n, sizeof(n), "%s_hash", c->name);
  if ((rc = st_store_db(c->node->store, n, &c->db_hash)) != 0)
    return rc;
  snprintf(n, sizeof(n), "%s_state", c->name);
  return st_store_db(c->node->store, n, &c->db_state);
}

static void hkey(uint8_t k[9], char tag, int64_t h) {
  k[0] = (uint8_t)tag;
  st_cons__be64(k + 1, (uint64_t)h);
}

int st_cons__store_block(st_cons_t *c, st_txn_t *txn, int64_t h, const void **p, size_t *len) {
  uint8_t k[8];
  st_cons__be64(k, (uint64_t)h);
  return st_kv_get(txn, c->db_blocks, k, sizeof(k), p, len);
}

int st_cons__store_commit(st_cons_t *c, st_txn_t *txn, int64_t h, const void **p,
                          size_t *len) {
  uint8_t k[8];
  st_cons__be64(k, (uint64_t)h);
  return st_kv_get(txn, c->db_commits, k, sizeof(k), p, len);
}

int st_cons__store_vset(st_cons_t *c, st_txn_t *txn, int64_t h, st_cons__vset_t **out) {
  uint8_t k[9];
  const void *p;
  size_t n;
  hkey(k, 'V', h);
  int rc = st_kv_get(txn, c->db_state, k, sizeof(k), &p, &n);
  if (rc != 0)
    return rc;
  return st_cons__vset_decode(p, n, out);
}

int st_cons__store_put_vset(st_cons_t *c, st_txn_t *txn, int64_t h, const st_cons__vset_t *v) {
  uint8_t k[9], *p;
  size_t n;
  hkey(k, 'V', h);
  st_cons__vset_encode(v, &p, &n);
  int rc = st_kv_put(txn, c->db_state, k, sizeof(k), p, n);
  free(p);
  return rc;
}

static int put_a(st_cons_t *c, st_txn_t *txn, int64_t h, const uint8_t *app,
                 const uint8_t *res, int64_t time_ms, const uint8_t *hash) {
  uint8_t k[9], v[A_LEN] = {0};
  hkey(k, 'A', h);
  memcpy(v, app, ST_HASH_LEN);
  memcpy(v + ST_HASH_LEN, res, ST_HASH_LEN);
  st_cons__be64(v + 2 * ST_HASH_LEN, (uint64_t)time_ms);
  if (hash)
    memcpy(v + 2 * ST_HASH_LEN + 8, hash, ST_HASH_LEN);
  return st_kv_put(txn, c->db_state, k, sizeof(k), v, sizeof(v));
}

int st_cons__store_block_time(st_cons_t *c, st_txn_t *txn, int64_t h, int64_t *time_ms) {
  uint8_t k[9];
  const void *p;
  size_t n;
  hkey(k, 'A', h);
  int rc = st_kv_get(txn, c->db_state, k, sizeof(k), &p, &n);
  if (rc != 0)
    return rc;
  if (n != A_LEN)
    return ST_ECORRUPT;
  *time_ms = (int64_t)st_cons__rd64((const uint8_t *)p + 2 * ST_HASH_LEN);
  return 0;
}

int st_cons__store_put_height(st_cons_t *c, st_txn_t *txn, st_cons__block_t *b,
                              const uint8_t *commit, size_t commit_len,
                              const uint8_t app_hash[ST_HASH_LEN],
                              const uint8_t results[ST_HASH_LEN]) {
  int64_t h = b->hdr->height;
  uint8_t k[8];
  int rc;
  st_cons__be64(k, (uint64_t)h);
  if ((rc = st_kv_put(txn, c->db_blocks, k, sizeof(k), b->bytes, b->len)) != 0)
    return rc;
  if ((rc = st_kv_put(txn, c->db_commits, k, sizeof(k), commit, commit_len)) != 0)
    return rc;
  if ((rc = st_kv_put(txn, c->db_hash, b->hash, ST_HASH_LEN, k, sizeof(k))) != 0)
    return rc;
  if ((rc = put_a(c, txn, h, app_hash, results, b->hdr->time_ms, b->hash)) != 0)
    return rc;
  return st_kv_put(txn, c->db_state, "L", 1, k, sizeof(k));
}

int st_cons__store_height_of(st_cons_t *c, st_txn_t *txn, const uint8_t hash[ST_HASH_LEN],
                             int64_t *h) {
  const void *p;
  size_t n;
  int rc = st_kv_get(txn, c->db_hash, hash, ST_HASH_LEN, &p, &n);
  if (rc != 0)
    return rc;
  if (n != 8)
    return ST_ECORRUPT;
  *h = (int64_t)st_cons__rd64(p);
  return 0;
}

/* Writes the records of height 0: the genesis state and the validator
 * sets of heights 1 and 2. */
static int init_genesis(st_cons_t *c) {
  st_txn_t *txn;
  int rc = st_txn_begin(c->node->store, true, &txn);
  if (rc != 0)
    return rc;
  st_cons__vset_t *v1 = st_cons__vset_new(&c->genesis, NULL);
  st_cons__vset_t *v2 = st_cons__vset_advance(v1, NULL);
  uint8_t zero[ST_HASH_LEN] = {0}, k[8] = {0};
  rc = put_a(c, txn, 0, c->genesis_app_hash, zero, c->genesis_time_ms, NULL);
  if (rc == 0)
    rc = st_cons__store_put_vset(c, txn, 1, v1);
  if (rc == 0)
    rc = st_cons__store_put_vset(c, txn, 2, v2);
  if (rc == 0)
    rc = st_kv_put(txn, c->db_state, "L", 1, k, sizeof(k));
  st_cons__vset_free(v1);
  st_cons__vset_free(v2);
  if (rc != 0) {
    st_txn_abort(txn);
    return rc;
  }
  return st_txn_commit(txn);
}

int st_cons__store_load(st_cons_t *c) {
  st_txn_t *txn;
  const void *p;
  size_t n;
  int rc = st_txn_begin(c->node->store, false, &txn);
  if (rc != 0)
    return rc;
  rc = st_kv_get(txn, c->db_state, "L", 1, &p, &n);
  st_txn_abort(txn);
  if (rc == ST_ENOENT) {
    if ((rc = init_genesis(c)) != 0)
      return rc;
  } else if (rc != 0) {
    return rc;
  }
  if ((rc = st_txn_begin(c->node->store, false, &txn)) != 0)
    return rc;
  rc = st_kv_get(txn, c->db_state, "L", 1, &p, &n);
  if (rc == 0 && n != 8)
    rc = ST_ECORRUPT;
  if (rc != 0)
    goto out;
  c->latest = (int64_t)st_cons__rd64(p);
  uint8_t k[9];
  hkey(k, 'A', c->latest);
  if ((rc = st_kv_get(txn, c->db_state, k, sizeof(k), &p, &n)) != 0)
    goto out;
  if (n != A_LEN) {
    rc = ST_ECORRUPT;
    goto out;
  }
  memcpy(c->app_hash, p, ST_HASH_LEN);
  memcpy(c->results_hash, (const uint8_t *)p + ST_HASH_LEN, ST_HASH_LEN);
  c->last_time_ms = (int64_t)st_cons__rd64((const uint8_t *)p + 2 * ST_HASH_LEN);
  memcpy(c->last_hash, (const uint8_t *)p + 2 * ST_HASH_LEN + 8, ST_HASH_LEN);
  if (c->latest >= 1 && (rc = st_cons__store_vset(c, txn, c->latest, &c->vs_last)) != 0)
    goto out;
  if ((rc = st_cons__store_vset(c, txn, c->latest + 1, &c->vs_cur)) != 0)
    goto out;
  if ((rc = st_cons__store_vset(c, txn, c->latest + 2, &c->vs_next)) != 0)
    goto out;
  if (c->latest >= 1) {
    /* The precommits of the latest block, to carry in our next proposal. */
    if ((rc = st_cons__store_commit(c, txn, c->latest, &p, &n)) != 0)
      goto out;
    st_cons__set_last_commit(c, p, n);
    if (!c->last_commit)
      rc = ST_ECORRUPT;
  }
out:
  st_txn_abort(txn);
  return rc;
}
