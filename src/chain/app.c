/* The application the consensus engine runs for the value chain.
 *
 * propose takes mempool txs that will apply in sequence; validate runs a
 * proposed block's txs against a scratch overlay of the committed state
 * and refuses the block if any of them fails; finalize applies a decided
 * block inside the engine's LMDB transaction, so the block and the state
 * it produces become durable together; committed then rechecks the
 * mempool, answers the broadcast_tx_commit calls waiting for their tx and
 * publishes the block's Tx events.
 *
 * After a block's txs come the block's own steps, in this order: slashing
 * (downtime from the parent's commit, double signs from evidence), the
 * distribution of the block's fees, staking's end of block (maturing
 * unbondings, the new bonded set, handed to the engine when it changed)
 * and governance's end of block (closing deposit and voting periods).
 * Txs see the time of the previous block, the block's steps its own
 * time, so that a tx is judged the same in CheckTx, in a proposal and
 * in the block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_rpc.h>
#include <stratos/st_log.h>
#include "chain/nodes.h"

#define U128_MAX (~(st_u128)0)

static const char K_TIME[] = "time";

/* The time of the last finalized block (genesis time before the first). */
static int64_t last_time(st_chain_t *ch, st_txn_t *txn) {
  const void *v;
  size_t n;
  if (st_kv_get(txn, ch->st.meta, K_TIME, sizeof(K_TIME) - 1, &v, &n) == 0 && n == 8)
    return (int64_t)st_chain__rd64(v);
  return ch->gen.p.genesis_time_ms;
}

static void ctx_init(st_chain_t *ch, st_chain__ctx_t *c, st_chain__overlay_t *ov,
                     int64_t height, int64_t time_ms, char *log, size_t cap) {
  memset(c, 0, sizeof(*c));
  c->ov = ov;
  c->p = &ch->gen.p;
  c->height = height;
  c->time_ms = time_ms;
  c->log = log;
  c->logcap = cap;
  log[0] = '\0';
}

/* CheckTx of a message other than a send: a dry run on a scratch overlay. */
static int msg_check(void *ud, st_txn_t *txn, const st_chain__tx_t *t, const uint8_t *tx,
                     char *log, size_t cap) {
  st_chain_t *ch = ud;
  st_chain__overlay_t ov;
  st_chain__ctx_t c;
  st_chain__ov_init(&ov, &ch->st, txn);
  ctx_init(ch, &c, &ov, ch->last_height + 1, last_time(ch, txn), log, cap);
  c.any_nonce = true;
  int rc = st_chain__tx_exec(&c, t, tx);
  st_chain__ov_free(&ov);
  return rc;
}

/* Reloads the parameters from the state (governance may change them). */
static int params_reload(st_chain_t *ch, st_txn_t *txn) {
  st_chain__overlay_t ov;
  st_chain__ctx_t c;
  st_chain__params_t p;
  char log[8];
  st_chain__ov_init(&ov, &ch->st, txn);
  ctx_init(ch, &c, &ov, 0, 0, log, sizeof(log));
  int rc = st_chain__params_load(&c, &ch->gen.p, &p);
  st_chain__ov_free(&ov);
  if (rc == 0)
    ch->gen.p = p;
  return rc;
}

int st_chain__open(st_chain_t *ch, st_store_t *store, uv_loop_t *loop,
                   st_chain__genesis_t *g) {
  int rc;
  memset(ch, 0, sizeof(*ch));
  ch->loop = loop;
  ch->commit_timeout_ms = ST_CHAIN__COMMIT_TIMEOUT_MS;
  rc = st_chain__state_open(&ch->st, store, g, ch->genesis_app_hash);
  if (rc != 0)
    return rc;
  ch->gen = *g;
  memset(g, 0, sizeof(*g));
  rc = st_chain__mempool_new(&ch->gen.p, &ch->st, loop, &ch->mp);
  if (rc != 0) {
    *g = ch->gen;
    memset(&ch->gen, 0, sizeof(ch->gen));
    return rc;
  }
  st_chain__mempool_on_msg_check(ch->mp, msg_check, ch);
  st_txn_t *txn;
  if (st_txn_begin(store, false, &txn) == 0) {
    if (st_chain__meta_get(&ch->st, txn, &ch->last_height, NULL) != 0)
      ch->last_height = 0;
    if (params_reload(ch, txn) != 0)
      ST_WARN("chain", "cannot read the parameters from the state; using genesis.json's");
    st_txn_abort(txn);
  }
  return 0;
}

void st_chain__close(st_chain_t *ch) {
  /* The mempool first: it answers the CheckTx calls still running, some
   * of which are waiters that the second step would otherwise free. */
  st_chain__mempool_free(ch->mp);
  ch->mp = NULL;
  st_chain__waiters_close(ch);
  json_decref(ch->events);
  ch->events = NULL;
  st_chain__genesis_free(&ch->gen);
}

/* ---- propose ---- */

static int emit_txlist(void *ud, const uint8_t *tx, size_t len) {
  return st_cons_txlist_add(ud, tx, len);
}

int st_chain__app_propose(void *ud, int64_t height, size_t max_bytes, size_t max_txs,
                          st_cons_txlist_t *out) {
  st_chain_t *ch = ud;
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_chain__ctx_t c;
  char log[ST_CHAIN__LOG_MAX];
  int rc = st_txn_begin(ch->st.store, false, &txn);
  if (rc != 0)
    return rc;
  if (max_bytes > ch->gen.p.cons.max_block_bytes)
    max_bytes = ch->gen.p.cons.max_block_bytes;
  if (max_txs > ch->gen.p.cons.max_block_txs)
    max_txs = ch->gen.p.cons.max_block_txs;
  st_chain__ov_init(&ov, &ch->st, txn);
  ctx_init(ch, &c, &ov, height, last_time(ch, txn), log, sizeof(log));
  rc = st_chain__mempool_reap(ch->mp, &c, max_bytes, max_txs, emit_txlist, out);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  if (rc == 0)
    ST_DEBUG("chain", "proposal for height %lld: %zu txs", (long long)height, out->n);
  return rc;
}

/* ---- checking one tx of a block ---- */

/* Decodes a tx of a block and checks its signature, unless the cache of
 * seen hashes already vouches for it. */
static int block_tx_check(st_chain_t *ch, const uint8_t *tx, size_t len, st_chain__tx_t *t,
                          char *log, size_t cap) {
  int rc = st_chain__tx_check(&ch->gen.p, tx, len, t, log, cap);
  if (rc != 0)
    return rc;
  int bad = 0;
  int seen = st_chain__mempool_seen(ch->mp, t->hash, &bad);
  if (seen == ST_CHAIN__SEEN_SIG_OK)
    return 0;
  if (seen == ST_CHAIN__SEEN_BAD && bad == ST_EBADSIG) {
    snprintf(log, cap, "bad signature");
    return ST_EBADSIG;
  }
  st_chain__mempool_count_sig(ch->mp);
  if (st_chain__tx_verify(ch->gen.p.chain_id, tx, t) != 0) {
    st_chain__mempool_mark(ch->mp, t->hash, ST_CHAIN__SEEN_BAD, ST_EBADSIG);
    snprintf(log, cap, "bad signature");
    return ST_EBADSIG;
  }
  /* A tx still waiting for its check in the mempool keeps that state. */
  if (seen != ST_CHAIN__SEEN_PENDING)
    st_chain__mempool_mark(ch->mp, t->hash, ST_CHAIN__SEEN_SIG_OK, 0);
  return 0;
}

/* ---- validate ---- */

int st_chain__app_validate(void *ud, int64_t height, size_t ntxs,
                           const uint8_t *const *txs, const size_t *lens) {
  st_chain_t *ch = ud;
  char log[ST_CHAIN__LOG_MAX];
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_chain__tx_t t;
  size_t total = 0;
  if (ntxs > ch->gen.p.cons.max_block_txs) {
    ST_DEBUG("chain", "block %lld refused: %zu txs, at most %u", (long long)height, ntxs,
             (unsigned)ch->gen.p.cons.max_block_txs);
    return ST_E2BIG;
  }
  for (size_t i = 0; i < ntxs; i++)
    total += lens[i];
  if (total > ch->gen.p.cons.max_block_bytes) {
    ST_DEBUG("chain", "block %lld refused: %zu tx bytes, at most %u", (long long)height,
             total, (unsigned)ch->gen.p.cons.max_block_bytes);
    return ST_E2BIG;
  }
  int rc = st_txn_begin(ch->st.store, false, &txn);
  if (rc != 0)
    return rc;
  st_chain__ov_init(&ov, &ch->st, txn);
  st_chain__ctx_t c;
  ctx_init(ch, &c, &ov, height, last_time(ch, txn), log, sizeof(log));
  for (size_t i = 0; i < ntxs && rc == 0; i++) {
    rc = block_tx_check(ch, txs[i], lens[i], &t, log, sizeof(log));
    if (rc == 0)
      rc = st_chain__tx_exec(&c, &t, txs[i]);
    if (rc != 0)
      ST_DEBUG("chain", "block %lld refused: tx %zu: %s", (long long)height, i, log);
  }
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  return rc;
}

/* ---- finalize ---- */

/* Indexes a tx by hash unless the hash is indexed already (a tx can
 * succeed only once, so the first entry is the one worth keeping). */
static int index_tx(st_chain_t *ch, st_txn_t *txn, const uint8_t hash[ST_HASH_LEN],
                    int64_t height, uint32_t index, const st_buf_t *res, const uint8_t *tx,
                    size_t len) {
  const void *v;
  size_t vn;
  int rc = st_kv_get(txn, ch->st.txidx, hash, ST_HASH_LEN, &v, &vn);
  if (rc != ST_ENOENT)
    return rc;
  size_t n = 8 + 4 + 4 + res->len + len;
  uint8_t *val = malloc(n);
  if (!val)
    return ST_ENOMEM;
  st_chain__be64(val, (uint64_t)height);
  st_chain__be32(val + 8, index);
  st_chain__be32(val + 12, (uint32_t)res->len);
  memcpy(val + 16, res->data, res->len);
  memcpy(val + 16 + res->len, tx, len);
  rc = st_kv_put(txn, ch->st.txidx, hash, ST_HASH_LEN, val, n);
  free(val);
  return rc;
}

int st_chain__app_finalize(void *ud, st_txn_t *txn, const st_cons_block_t *b,
                           uint8_t app_hash[ST_HASH_LEN], uint8_t results_hash[ST_HASH_LEN],
                           st_cons_valset_t *next, bool *changed) {
  st_chain_t *ch = ud;
  uint8_t prev[ST_HASH_LEN];
  int64_t height;
  char log[ST_CHAIN__LOG_MAX];
  st_chain__overlay_t ov;
  st_buf_t results, one;
  st_chain__ctx_t c;
  bool params_changed = false;
  size_t nok = 0;
  *changed = false;
  int rc = st_chain__meta_get(&ch->st, txn, &height, prev);
  if (rc != 0)
    return rc;
  if (b->height != height + 1) {
    ST_ERROR("chain", "finalize of height %lld after height %lld", (long long)b->height,
             (long long)height);
    return ST_ECORRUPT;
  }
  st_chain__ov_init(&ov, &ch->st, txn);
  ctx_init(ch, &c, &ov, b->height, last_time(ch, txn), log, sizeof(log));
  st_buf_init(&results, SIZE_MAX);
  st_buf_init(&one, SIZE_MAX);
  for (size_t i = 0; i < b->ntxs && rc == 0; i++) {
    st_chain__tx_t t;
    uint8_t hash[ST_HASH_LEN];
    log[0] = '\0';
    int code = block_tx_check(ch, b->txs[i], b->tx_lens[i], &t, log, sizeof(log));
    bool charged = false;
    if (code == 0 && (code = st_chain__tx_exec(&c, &t, b->txs[i])) == 0) {
      charged = true; /* included: the fee is paid even if the message failed */
      code = c.code;
    }
    if (code == ST_ENOMEM || code == ST_ECORRUPT || code == ST_ESTORE || code == ST_EIO ||
        code == ST_EMAPFULL) {
      rc = code;
      break;
    }
    st_u128 fee = charged ? t.fee : 0;
    if (code == 0) {
      nok++;
    } else {
      ST_WARN("chain", "height %lld: tx %zu failed: %s", (long long)b->height, i, log);
    }
    st_buf_reset(&one);
    rc = st_chain__result_encode(code, code == 0 ? "" : log, fee, &one);
    uint8_t l4[4];
    st_chain__be32(l4, (uint32_t)one.len);
    if (rc == 0)
      rc = st_buf_append(&results, l4, sizeof(l4));
    if (rc == 0)
      rc = st_buf_append(&results, one.data, one.len);
    st_chain_tx_hash(b->txs[i], b->tx_lens[i], hash);
    if (rc == 0)
      rc = index_tx(ch, txn, hash, b->height, (uint32_t)i, &one, b->txs[i], b->tx_lens[i]);
    if (rc == 0)
      st_chain__events_add(ch, b->height, (uint32_t)i, hash, t.len ? &t : NULL, code,
                           code == 0 ? "" : log, fee, b->txs[i], b->tx_lens[i]);
  }
  /* The block's own steps, at the block's time. */
  c.time_ms = b->time_ms;
  if (rc == 0)
    rc = st_chain__slashing_begin_block(&c, b);
  if (rc == 0)
    rc = st_chain__distr_end_block(&c, c.fees);
  if (rc == 0)
    rc = st_chain__staking_end_block(&c, next, changed);
  if (rc == 0)
    rc = st_chain__register_end_block(&c);
  if (rc == 0)
    rc = st_chain__gov_end_block(&c, &params_changed);
  if (rc == 0)
    rc = st_chain__ov_commit(&ov, prev, app_hash);
  if (rc == 0) {
    uint8_t hk[8];
    st_chain__be64(hk, (uint64_t)b->height);
    st_hash(ST_DOM_TX_RESULTS, results.data, results.len, results_hash);
    rc = st_kv_put(txn, ch->st.results, hk, sizeof(hk), results.data, results.len);
    if (rc == 0)
      rc = st_kv_put(txn, ch->st.meta, "height", 6, hk, sizeof(hk));
    if (rc == 0)
      rc = st_kv_put(txn, ch->st.meta, "app_hash", 8, app_hash, ST_HASH_LEN);
    st_chain__be64(hk, (uint64_t)b->time_ms);
    if (rc == 0)
      rc = st_kv_put(txn, ch->st.meta, K_TIME, sizeof(K_TIME) - 1, hk, sizeof(hk));
  }
  st_buf_free(&one);
  st_buf_free(&results);
  st_chain__ov_free(&ov);
  if (rc != 0) {
    if (*changed) {
      free(next->v);
      next->v = NULL;
      next->n = 0;
      *changed = false;
    }
    ST_ERROR("chain", "cannot finalize height %lld: %s", (long long)b->height,
             st_strerror(rc));
    return rc;
  }
  ch->params_changed = ch->params_changed || params_changed;
  ch->last_ntxs = b->ntxs;
  if (b->ntxs)
    ST_DEBUG("chain", "finalized height %lld: %zu txs (%zu ok)", (long long)b->height,
             b->ntxs, nok);
  return 0;
}

/* ---- after the commit ---- */

void st_chain__app_committed(void *ud, int64_t height) {
  st_chain_t *ch = ud;
  ch->last_height = height;
  if (ch->params_changed) {
    st_txn_t *txn;
    ch->params_changed = false;
    if (st_txn_begin(ch->st.store, false, &txn) == 0) {
      if (params_reload(ch, txn) == 0) {
        ST_INFO("chain", "height %lld: parameters changed by governance", (long long)height);
        st_chain__mempool_revalidate(ch->mp);
      }
      st_txn_abort(txn);
    }
  }
  st_chain__mempool_recheck(ch->mp);
  st_chain__waiters_update(ch);
  json_t *new_block = NULL;
  if (ch->cons && !(ch->node && ch->node->rpc && !st_rpc_wants(ch->node->rpc, "NewBlock"))) {
    /* NewBlock for WebSocket subscribers (tm.event='NewBlock'). */
    st_cons_status_t cs;
    st_cons_status(ch->cons, &cs);
    char hash[2 * ST_HASH_LEN + 1], app[2 * ST_HASH_LEN + 1], h[24];
    st_hex_encode(cs.hash, ST_HASH_LEN, hash, sizeof(hash));
    st_hex_encode(cs.app_hash, ST_HASH_LEN, app, sizeof(app));
    snprintf(h, sizeof(h), "%lld", (long long)height);
    new_block = st_rpc_event(
      "NewBlock", json_pack("{s:s,s:s}", "block.height", h, "block.hash", hash),
      json_pack("{s:I,s:s,s:s,s:I,s:I}", "height", (json_int_t)height, "hash", hash,
                "app_hash", app, "time_ms", (json_int_t)cs.time_ms, "num_txs",
                (json_int_t)ch->last_ntxs));
  }
  st_chain__events_publish(ch, height, new_block);
  st_chain__mempool_stats_t s;
  st_chain__mempool_stats(ch->mp, &s);
  ST_DEBUG("chain", "committed height %lld: %zu txs; mempool %zu txs, %zu bytes",
           (long long)height, ch->last_ntxs, s.txs, s.bytes);
  ch->last_ntxs = 0;
}

bool st_chain__app_has_txs(void *ud) {
  st_chain_t *ch = ud;
  return st_chain__mempool_ready(ch->mp);
}
