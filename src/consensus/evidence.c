/* Duplicate-vote evidence: detection, the pending pool, gossip, checks of
 * the evidence a block carries, and the record of committed evidence.
 *
 * Two validly signed votes of one validator for the same height, round
 * and type with different block hashes are evidence. The vote sets report
 * them; the pair is put in canonical order (so that one infraction has one
 * encoding), kept in a bounded pool without duplicates, broadcast, and
 * included by the next proposer in its block, from the height after the
 * infraction on. A block's evidence must verify against the validator set
 * of its height, be at most ST_CONS__EVIDENCE_MAX_AGE heights old, not be
 * repeated and not be committed already; committed evidence is recorded in
 * the state database (key: validator, height, round, type), handed to the
 * application, and listed by the evidence RPC. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <stratos/st_err.h>
#include <stratos/st_log.h>

#include "consensus/consensus_private.h"

#define KEY_LEN (ST_ADDR_LEN + 13)

int st_cons__evidence_committed(st_cons_t *c, st_txn_t *txn, const uint8_t *key) {
  uint8_t k[1 + KEY_LEN];
  const void *p;
  size_t n;
  k[0] = 'E';
  memcpy(k + 1, key, KEY_LEN);
  int rc = st_kv_get(txn, c->db_state, k, sizeof(k), &p, &n);
  return rc == 0 ? 1 : rc == ST_ENOENT ? 0 : rc;
}

static bool committed_now(st_cons_t *c, const uint8_t *key) {
  st_txn_t *txn;
  if (st_txn_begin(c->node->store, false, &txn) != 0)
    return false;
  int rc = st_cons__evidence_committed(c, txn, key);
  st_txn_abort(txn);
  return rc == 1;
}

static bool in_pool(st_cons_t *c, const uint8_t *key) {
  for (size_t i = 0; i < c->pool.n; i++)
    if (memcmp(c->pool.ev[i]->key, key, KEY_LEN) == 0)
      return true;
  return false;
}

/* Takes ev into the pool; false (and ev freed) when it is known,
 * committed, or the pool is full. */
static bool pool_add(st_cons_t *c, st_cons__evidence_t *ev) {
  if (in_pool(c, ev->key) || committed_now(c, ev->key)) {
    st_cons__evidence_free(ev);
    return false;
  }
  if (c->pool.n == ST_CONS__EVIDENCE_POOL) {
    ST_WARN(c->tag, "evidence pool full; dropping new evidence");
    st_cons__evidence_free(ev);
    return false;
  }
  c->pool.ev[c->pool.n++] = ev;
  return true;
}

void st_cons__evidence_found(st_cons_t *c, const st_cons__vote_t *x, const st_cons__vote_t *y) {
  st_cons__evidence_t *ev;
  if (st_cons__evidence_build(x, y, &ev) != 0)
    return;
  ev->power = c->vs_cur->vs.v[x->vindex].power;
  char addr[ST_ADDR_STR_MAX];
  st_addr_encode(ST_HRP_NODE, x->validator, addr, sizeof(addr));
  bool isnew = pool_add(c, ev);
  if (!isnew)
    return;
  ST_WARN(c->tag, "validator %s signed two different %s at %" PRId64 "/%d", addr,
          x->type == STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE ? "prevotes" : "precommits",
          x->height, x->round);
  if (c->m_byz)
    st_metric_inc(c->m_byz);
  if (!c->replaying)
    st_cons__send(c, NULL, NULL, c->ch_cons, ST_CONS__MSG_EVIDENCE, ev->bytes, ev->len);
}

void st_cons__evidence_on_msg(st_cons_t *c, const uint8_t *peer, const uint8_t *data,
                              size_t len) {
  st_cons__evidence_t *ev;
  const char *why;
  if (st_cons__evidence_decode(c->chain_id, data, len, &ev, &why) != 0) {
    st_cons__ban(c, peer, "consensus: evidence: %s", why);
    return;
  }
  int64_t h = ev->a->height;
  if (h > c->h || h + ST_CONS__EVIDENCE_MAX_AGE < c->h) {
    st_cons__evidence_free(ev);
    return;
  }
  st_cons__vset_t *vs = st_cons__vset_for(c, h);
  if (!vs) {
    st_cons__evidence_free(ev);
    return;
  }
  if (st_cons__evidence_verify(c->chain_id, &vs->vs, ev, &why) != 0) {
    st_cons__evidence_free(ev);
    st_cons__ban(c, peer, "consensus: evidence: %s", why);
    return;
  }
  uint8_t *copy = malloc(ev->len);
  size_t clen = ev->len;
  if (!copy)
    abort();
  memcpy(copy, ev->bytes, clen);
  if (pool_add(c, ev))
    st_cons__send(c, NULL, peer, c->ch_cons, ST_CONS__MSG_EVIDENCE, copy, clen);
  free(copy);
}

int st_cons__evidence_check_block(st_cons_t *c, const Stratos__Cons__Block *b,
                                  int64_t height, const char **why) {
  uint8_t keys[ST_CONS__EVIDENCE_PER_BLOCK][KEY_LEN];
  size_t n = b->n_evidence;
  if (n > ST_CONS__EVIDENCE_PER_BLOCK) {
    *why = "too much evidence in block";
    return ST_EPROTO;
  }
  for (size_t i = 0; i < n; i++) {
    st_cons__evidence_t *ev;
    int rc = st_cons__evidence_from_pb(c->chain_id, b->evidence[i], &ev, why);
    if (rc != 0)
      return ST_EPROTO;
    int64_t h = ev->a->height;
    memcpy(keys[i], ev->key, KEY_LEN);
    rc = 0;
    if (h >= height) {
      *why = "evidence from the block's own height or later";
      rc = ST_EPROTO;
    } else if (h + ST_CONS__EVIDENCE_MAX_AGE < height) {
      *why = "evidence too old";
      rc = ST_EINVAL;
    } else {
      st_cons__vset_t *vs = st_cons__vset_for(c, h);
      if (!vs) {
        *why = "evidence for a height we do not know";
        rc = ST_EINVAL;
      } else if (st_cons__evidence_verify(c->chain_id, &vs->vs, ev, why) != 0) {
        *why = "forged evidence";
        rc = ST_EPROTO;
      }
    }
    for (size_t j = 0; rc == 0 && j < i; j++)
      if (memcmp(keys[j], ev->key, KEY_LEN) == 0) {
        *why = "evidence repeated in block";
        rc = ST_EPROTO;
      }
    if (rc == 0 && committed_now(c, ev->key)) {
      *why = "evidence already committed";
      rc = ST_EINVAL;
    }
    st_cons__evidence_free(ev);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int st_cons__evidence_for_app(st_cons_t *c, const Stratos__Cons__Block *b,
                              st_cons_evidence_t **out, size_t *nout) {
  size_t n = b->n_evidence;
  *out = NULL;
  *nout = 0;
  if (n == 0)
    return 0;
  st_cons_evidence_t *a = calloc(n, sizeof(*a));
  if (!a)
    abort();
  for (size_t i = 0; i < n; i++) {
    st_cons__evidence_t *ev;
    const char *why;
    if (st_cons__evidence_from_pb(c->chain_id, b->evidence[i], &ev, &why) != 0) {
      free(a);
      return ST_EPROTO;
    }
    memcpy(a[i].validator, ev->a->validator, ST_ADDR_LEN);
    a[i].height = ev->a->height;
    st_cons__vset_t *vs = st_cons__vset_for(c, ev->a->height);
    int idx = vs ? st_cons__valset_index(&vs->vs, ev->a->validator) : -1;
    a[i].power = idx >= 0 ? vs->vs.v[idx].power : 0;
    st_cons__evidence_free(ev);
  }
  st_txn_t *txn;
  int rc = st_txn_begin(c->node->store, false, &txn);
  if (rc != 0) {
    free(a);
    return rc;
  }
  for (size_t i = 0; i < n; i++)
    if (st_cons__store_block_time(c, txn, a[i].height, &a[i].time_ms) != 0)
      a[i].time_ms = 0;
  st_txn_abort(txn);
  *out = a;
  *nout = n;
  return 0;
}

int st_cons__evidence_record(st_cons_t *c, st_txn_t *txn, const Stratos__Cons__Block *b,
                             const st_cons_evidence_t *apps, int64_t height) {
  for (size_t i = 0; i < b->n_evidence; i++) {
    st_cons__evidence_t *ev;
    const char *why;
    if (st_cons__evidence_from_pb(c->chain_id, b->evidence[i], &ev, &why) != 0)
      return ST_EPROTO;
    uint8_t k[1 + KEY_LEN];
    k[0] = 'E';
    memcpy(k + 1, ev->key, KEY_LEN);
    size_t vl = 24 + ev->len;
    uint8_t *v = malloc(vl);
    if (!v)
      abort();
    st_cons__be64(v, (uint64_t)height);
    st_cons__be64(v + 8, (uint64_t)apps[i].time_ms);
    st_cons__be64(v + 16, (uint64_t)apps[i].power);
    memcpy(v + 24, ev->bytes, ev->len);
    int rc = st_kv_put(txn, c->db_state, k, sizeof(k), v, vl);
    free(v);
    st_cons__evidence_free(ev);
    if (rc != 0)
      return rc;
  }
  return 0;
}

void st_cons__evidence_pool_prune(st_cons_t *c) {
  if (c->pool.n == 0)
    return;
  st_txn_t *txn;
  if (st_txn_begin(c->node->store, false, &txn) != 0)
    return;
  size_t k = 0;
  for (size_t i = 0; i < c->pool.n; i++) {
    st_cons__evidence_t *ev = c->pool.ev[i];
    if (st_cons__evidence_committed(c, txn, ev->key) == 1 ||
        ev->a->height + ST_CONS__EVIDENCE_MAX_AGE < c->h)
      st_cons__evidence_free(ev);
    else
      c->pool.ev[k++] = ev;
  }
  c->pool.n = k;
  st_txn_abort(txn);
}

void st_cons__evidence_pool_free(st_cons_t *c) {
  for (size_t i = 0; i < c->pool.n; i++)
    st_cons__evidence_free(c->pool.ev[i]);
  c->pool.n = 0;
}

size_t st_cons__evidence_pick(st_cons_t *c, int64_t height, Stratos__Cons__Evidence **out,
                              size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < c->pool.n && k < max; i++) {
    st_cons__evidence_t *ev = c->pool.ev[i];
    if (ev->a->height >= height || ev->a->height + ST_CONS__EVIDENCE_MAX_AGE < height)
      continue;
    Stratos__Cons__Evidence *pb = stratos__cons__evidence__unpack(NULL, ev->len, ev->bytes);
    if (pb)
      out[k++] = pb;
  }
  return k;
}
