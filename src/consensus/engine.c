/* The state machine of the Tendermint algorithm (Buchman, Kwon,
 * Milosevic, "The latest gossip on BFT consensus", Algorithm 1), one
 * height at a time.
 *
 * Every input (an accepted proposal or vote, a timeout) updates the round
 * state and then runs st_cons__evaluate, which checks the algorithm's
 * "upon" rules in order and fires those that hold: decide, skip to a
 * round where f+1 validators are, prevote on a proposal, schedule the
 * prevote timeout, lock on a polka, precommit nil, schedule the precommit
 * timeout. Rules that fire "for the first time" keep a flag in the round.
 * evaluate does not nest: an input that arrives while it runs (our own
 * vote, for instance) makes it loop once more instead.
 *
 * Every signature goes through sign_vote or do_propose and then
 * sign_body: a step this node has already
 * signed at this height (in this run, in the WAL, or in the sign state)
 * is answered with the stored message; anything else the sign state does
 * not allow is refused. The sign state is written and the message logged
 * to the WAL (both fsynced) before the message is handed to the bus.
 *
 * A decided block is finalized by the application and stored in one LMDB
 * write transaction (st_cons__apply_block), which block sync uses too. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>

#include "consensus/consensus_private.h"

static void start_round(st_cons_t *c, int32_t r);
static void enter_propose(st_cons_t *c);
static void new_height(st_cons_t *c);

static const char *step_name(int s) {
  switch (s) {
  case ST_CONS__STEP_NEWHEIGHT:
    return "newheight";
  case ST_CONS__STEP_PROPOSE:
    return "propose";
  case ST_CONS__STEP_PREVOTE:
    return "prevote";
  case ST_CONS__STEP_PRECOMMIT:
    return "precommit";
  case ST_CONS__STEP_HALTED:
    return "halted";
  default:
    return "?";
  }
}

static void hex8(const uint8_t *p, char out[17]) {
  st_hex_encode(p, 8, out, 17);
}

/* ---- txlists ---- */

int st_cons_txlist_add(st_cons_txlist_t *l, const void *tx, size_t len) {
  if (!l || (!tx && len))
    return ST_EINVAL;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    uint8_t **t = realloc(l->txs, cap * sizeof(*t));
    if (!t)
      return ST_ENOMEM;
    l->txs = t;
    size_t *ls = realloc(l->lens, cap * sizeof(*ls));
    if (!ls)
      return ST_ENOMEM;
    l->lens = ls;
    l->cap = cap;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy)
    return ST_ENOMEM;
  if (len)
    memcpy(copy, tx, len);
  l->txs[l->n] = copy;
  l->lens[l->n] = len;
  l->n++;
  return 0;
}

void st_cons_txlist_free(st_cons_txlist_t *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++)
    free(l->txs[i]);
  free(l->txs);
  free(l->lens);
  memset(l, 0, sizeof(*l));
}

/* ---- timers ---- */

static uint32_t tmo(uint32_t base, uint32_t delta, int32_t r) {
  uint64_t v = (uint64_t)base + (uint64_t)delta * (uint64_t)(r < 0 ? 0 : r);
  return v > 3600000u ? 3600000u : (uint32_t)v;
}

static void arm(uv_timer_t *t, uint32_t ms, uv_timer_cb cb) {
  uv_timer_stop(t);
  uv_timer_start(t, cb, ms, 0);
}

/* ---- rounds and the block cache ---- */

st_cons__round_t *st_cons__round_get(st_cons_t *c, int32_t round, bool create) {
  size_t i = 0;
  for (; i < c->nrounds; i++) {
    if (c->rounds[i]->round == round)
      return c->rounds[i];
    if (c->rounds[i]->round > round)
      break;
  }
  if (!create)
    return NULL;
  if (c->nrounds == c->caprounds) {
    size_t cap = c->caprounds ? c->caprounds * 2 : 8;
    st_cons__round_t **r = realloc(c->rounds, cap * sizeof(*r));
    if (!r)
      abort();
    c->rounds = r;
    c->caprounds = cap;
  }
  st_cons__round_t *rs = calloc(1, sizeof(*rs));
  if (!rs)
    abort();
  rs->round = round;
  st_cons__voteset_init(&rs->prevotes, STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE, c->h, round,
                        c->vs_cur);
  st_cons__voteset_init(&rs->precommits, STRATOS__CONS__VOTE_TYPE__VOTE_PRECOMMIT, c->h, round,
                        c->vs_cur);
  rs->seen = calloc(c->vs_cur->vs.n, 1);
  if (!rs->seen)
    abort();
  rs->proposer = (int)st_cons__proposer(c->vs_cur, round);
  memmove(&c->rounds[i + 1], &c->rounds[i], (c->nrounds - i) * sizeof(*c->rounds));
  c->rounds[i] = rs;
  c->nrounds++;
  return rs;
}

static void round_free(st_cons__round_t *rs) {
  st_cons__voteset_free(&rs->prevotes);
  st_cons__voteset_free(&rs->precommits);
  free(rs->seen);
  st_cons__proposal_free(rs->proposal);
  free(rs);
}

static void height_state_free(st_cons_t *c) {
  for (size_t i = 0; i < c->nrounds; i++)
    round_free(c->rounds[i]);
  c->nrounds = 0;
  for (size_t i = 0; i < c->nblocks; i++)
    st_cons__block_free(c->blocks[i]);
  c->nblocks = 0;
  for (size_t i = 0; i < c->nown; i++)
    free(c->own[i].msg);
  c->nown = 0;
  c->locked = c->validb = NULL;
  c->locked_round = c->valid_round = -1;
}

static st_cons__block_t *block_find(st_cons_t *c, const uint8_t hash[ST_HASH_LEN]) {
  for (size_t i = 0; i < c->nblocks; i++)
    if (memcmp(c->blocks[i]->hash, hash, ST_HASH_LEN) == 0)
      return c->blocks[i];
  return NULL;
}

/* Moves b into the cache of this height, or frees it for the copy there. */
static st_cons__block_t *block_keep(st_cons_t *c, st_cons__block_t *b) {
  st_cons__block_t *old = block_find(c, b->hash);
  if (old) {
    st_cons__block_free(b);
    return old;
  }
  if (c->nblocks == c->capblocks) {
    size_t cap = c->capblocks ? c->capblocks * 2 : 8;
    st_cons__block_t **a = realloc(c->blocks, cap * sizeof(*a));
    if (!a)
      abort();
    c->blocks = a;
    c->capblocks = cap;
  }
  c->blocks[c->nblocks++] = b;
  return b;
}

st_cons__vset_t *st_cons__vset_for(st_cons_t *c, int64_t height) {
  if (height == c->h)
    return c->vs_cur;
  if (height == c->h + 1)
    return c->vs_next;
  if (height == c->h - 1 && c->vs_last)
    return c->vs_last;
  if (height < 1 || height > c->h + 1)
    return NULL;
  st_txn_t *txn;
  st_cons__vset_t *v = NULL;
  if (st_txn_begin(c->node->store, false, &txn) != 0)
    return NULL;
  int rc = st_cons__store_vset(c, txn, height, &v);
  st_txn_abort(txn);
  if (rc != 0)
    return NULL;
  st_cons__vset_free(c->vs_query);
  c->vs_query = v;
  return v;
}

/* ---- halting ---- */

void st_cons__halt(st_cons_t *c) {
  if (c->halted)
    return;
  c->halted = true;
  c->step = ST_CONS__STEP_HALTED;
  uv_timer_stop(&c->t_propose);
  uv_timer_stop(&c->t_prevote);
  uv_timer_stop(&c->t_precommit);
  uv_timer_stop(&c->t_commit);
  uv_timer_stop(&c->t_empty);
  ST_ERROR(c->tag, "consensus halted at height %" PRId64 "; this node no longer takes part",
           c->h);
}

void st_cons__halt_app_hash(st_cons_t *c, int64_t h, const uint8_t *theirs) {
  char a[2 * ST_HASH_LEN + 1], b[2 * ST_HASH_LEN + 1];
  st_hex_encode(c->app_hash, ST_HASH_LEN, a, sizeof(a));
  st_hex_encode(theirs, ST_HASH_LEN, b, sizeof(b));
  ST_ERROR(c->tag, "app hash mismatch at height %" PRId64 ": ours %s, block %s", h, a, b);
  st_cons__halt(c);
}

/* ---- block checks in context ---- */

int st_cons__check_block(st_cons_t *c, st_cons__block_t *b, int64_t height,
                         const char **why) {
  if (b->valid == 1)
    return 0;
  if (b->valid < 0) {
    *why = b->why;
    return b->valid;
  }
  const Stratos__Cons__Header *h = b->hdr;
  int rc = ST_EPROTO;
  const char *w = NULL;
  if (h->height != height)
    w = "block for another height";
  else if (height > 1 && memcmp(h->last_block_hash.data, c->last_hash, ST_HASH_LEN) != 0)
    w = "block does not extend our chain";
  else if (height > 1 && h->time_ms <= c->last_time_ms)
    w = "block time not after its parent's";
  else if (height == 1 && h->time_ms < c->genesis_time_ms)
    w = "block time before genesis";
  else if (memcmp(h->validators_hash.data, c->vs_cur->hash, ST_HASH_LEN) != 0)
    w = "validators_hash does not match the validator set";
  else if (memcmp(h->next_validators_hash.data, c->vs_next->hash, ST_HASH_LEN) != 0)
    w = "next_validators_hash does not match the next validator set";
  else if (st_cons__valset_index(&c->vs_cur->vs, h->proposer.data) < 0)
    w = "block proposer is not a validator";
  if (!w && height > 1) {
    const char *cw;
    if (st_cons__commit_verify(c->chain_id, &c->vs_last->vs, height - 1, c->last_hash,
                               b->pb->last_commit, NULL, &cw) != 0) {
      snprintf(b->why, sizeof(b->why), "bad last commit: %s", cw);
      b->valid = ST_EPROTO;
      *why = b->why;
      return ST_EPROTO;
    }
  }
  if (!w) {
    const char *ew = NULL;
    int erc = st_cons__evidence_check_block(c, b->pb, height, &ew);
    if (erc != 0) {
      rc = erc;
      w = ew;
    }
  }
  /* What follows can fail on an honest block when this node is the one
   * that diverged, so it makes the block invalid without blaming the
   * sender. */
  if (!w) {
    rc = ST_EINVAL;
    if (memcmp(h->app_hash.data, c->app_hash, ST_HASH_LEN) != 0) {
      b->app_hash_bad = true;
      w = "app_hash differs from ours";
    } else if (memcmp(h->last_results_hash.data, c->results_hash, ST_HASH_LEN) != 0) {
      w = "last_results_hash differs from ours";
    }
  }
  if (!w && c->app.validate) {
    size_t n = b->pb->n_txs;
    const uint8_t **txs = calloc(n ? n : 1, sizeof(*txs));
    size_t *lens = calloc(n ? n : 1, sizeof(*lens));
    if (!txs || !lens)
      abort();
    for (size_t i = 0; i < n; i++) {
      txs[i] = b->pb->txs[i].data;
      lens[i] = b->pb->txs[i].len;
    }
    int arc = c->app.validate(c->app_ud, height, n, txs, lens);
    free(txs);
    free(lens);
    if (arc == ST_EAGAIN) {
      /* Not a verdict: the application cannot judge yet (the meta chain
       * waiting for its value block). Nothing is cached; ask again. */
      c->app_wait = true;
      snprintf(b->why, sizeof(b->why), "the application cannot judge the block yet");
      *why = b->why;
      return ST_EAGAIN;
    }
    if (arc != 0) {
      rc = ST_EINVAL;
      snprintf(b->why, sizeof(b->why), "the application refused the txs: %s",
               st_strerror(arc));
      b->valid = rc;
      *why = b->why;
      return rc;
    }
  }
  if (w) {
    snprintf(b->why, sizeof(b->why), "%s", w);
    b->valid = rc;
    *why = b->why;
    return rc;
  }
  b->valid = 1;
  return 0;
}

/* Whether b may be prevoted: valid, and not too far ahead of our clock. */
static bool block_ok_to_prevote(st_cons_t *c, st_cons__block_t *b) {
  const char *why;
  if (st_cons__check_block(c, b, c->h, &why) != 0) {
    ST_WARN(c->tag, "prevoting nil at %" PRId64 "/%d: %s", c->h, c->r, why);
    return false;
  }
  if (b->hdr->time_ms > st_cons__now_ms() + ST_CONS__CLOCK_DRIFT_MS) {
    ST_WARN(c->tag, "prevoting nil at %" PRId64 "/%d: block time is ahead of our clock",
            c->h, c->r);
    return false;
  }
  return true;
}

/* ---- signing ---- */

static st_cons__own_t *own_find(st_cons_t *c, int32_t r, int step) {
  for (size_t i = 0; i < c->nown; i++)
    if (c->own[i].round == r && c->own[i].step == step)
      return &c->own[i];
  return NULL;
}

static void own_add(st_cons_t *c, int32_t r, int step, bool nil, const uint8_t *hash,
                    const uint8_t *msg, size_t len) {
  if (own_find(c, r, step))
    return;
  if (c->nown == c->capown) {
    size_t cap = c->capown ? c->capown * 2 : 8;
    st_cons__own_t *o = realloc(c->own, cap * sizeof(*o));
    if (!o)
      abort();
    c->own = o;
    c->capown = cap;
  }
  st_cons__own_t *o = &c->own[c->nown++];
  memset(o, 0, sizeof(*o));
  o->round = r;
  o->step = step;
  o->nil = nil;
  if (!nil && hash)
    memcpy(o->hash, hash, ST_HASH_LEN);
  o->msg = malloc(len ? len : 1);
  if (!o->msg)
    abort();
  memcpy(o->msg, msg, len);
  o->len = len;
}

static bool own_same(const st_cons__own_t *o, bool nil, const uint8_t *hash) {
  if (o->nil || nil)
    return o->nil == nil;
  return memcmp(o->hash, hash, ST_HASH_LEN) == 0;
}

/* Signs body for (h, r, step) after the checks above, saving the sign
 * state. Returns 0 with *sig filled, or an error (refused: ST_EPERM). */
static int sign_body_once(st_cons_t *c, int32_t r, int step, bool nil, const uint8_t *hash,
                          uint8_t tag, const uint8_t *body, size_t blen,
                          uint8_t sig[ST_SIG_LEN]) {
  int chk = st_cons__ss_check(&c->ss, c->h, r, step, nil, hash);
  if (chk < 0) {
    ST_ERROR(c->tag,
             "refusing to sign step %d of %" PRId64 "/%d: the sign state holds %" PRId64
             "/%d step %d with another value",
             step, c->h, r, c->ss.height, c->ss.round, c->ss.step);
    return ST_EPERM;
  }
  if (chk == 1) {
    /* Signed before the WAL could log it: the stored signature stands. */
    memcpy(sig, c->ss.sig, ST_SIG_LEN);
    return 1;
  }
  int rc = st_sign(&c->node->node_key, tag, c->chain_id, body, blen, sig);
  if (rc != 0)
    return rc;
  rc = st_cons__ss_save(&c->ss, c->h, r, step, nil, hash, body, blen, sig);
  if (rc != 0) {
    ST_ERROR(c->tag, "cannot save the sign state: %s; not sending", st_strerror(rc));
    return rc;
  }
  return 0;
}

/* Signs *body (malloc'd, ownership stays with the caller) under the sign
 * state's rule. When the same value was signed before, *body is replaced
 * by the exact bytes signed then, with their signature. On failure *body
 * is freed and set to NULL. */
static int sign_body(st_cons_t *c, int32_t r, int step, bool nil, const uint8_t *hash,
                     uint8_t tag, uint8_t **bodyp, size_t *blenp, uint8_t sig[ST_SIG_LEN]) {
  int rc = sign_body_once(c, r, step, nil, hash, tag, *bodyp, *blenp, sig);
  if (rc == 1) {
    free(*bodyp);
    *bodyp = malloc(c->ss.len);
    if (!*bodyp)
      abort();
    memcpy(*bodyp, c->ss.bytes, c->ss.len);
    *blenp = c->ss.len;
    return 0;
  }
  if (rc != 0) {
    free(*bodyp);
    *bodyp = NULL;
  }
  return rc;
}

/* Signs our vote of type at the current height and round r, or re-uses
 * the one already signed. Returns NULL when we may not or need not. */
static st_cons__vote_t *sign_vote(st_cons_t *c, int type, int32_t r, bool nil,
                                  const uint8_t *hash) {
  if (c->self_idx < 0)
    return NULL;
  int step = type == STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE ? ST_CONS__SIGN_PREVOTE
                                                            : ST_CONS__SIGN_PRECOMMIT;
  st_cons__vote_t *v = NULL;
  const char *why;
  st_cons__own_t *o = own_find(c, r, step);
  if (o) {
    if (!own_same(o, nil, hash)) {
      if (!c->replaying)
        ST_ERROR(c->tag, "refusing to sign a second, different %s at %" PRId64 "/%d",
                 step_name(step), c->h, r);
      return NULL;
    }
    if (st_cons__vote_decode(c->chain_id, o->msg, o->len, &v, &why) != 0)
      return NULL;
    v->vindex = c->self_idx;
    return v;
  }
  uint8_t *body, sig[ST_SIG_LEN];
  size_t blen;
  st_cons__vote_body_encode(c->chain_id, type, c->h, r, nil ? NULL : hash, st_cons__now_ms(),
                            c->self, &body, &blen);
  if (sign_body(c, r, step, nil, hash, ST_DOM_VOTE, &body, &blen, sig) != 0)
    return NULL;
  int rc = st_cons__vote_from_parts(c->chain_id, body, blen, sig, ST_SIG_LEN, &v, &why);
  free(body);
  if (rc != 0)
    return NULL;
  v->vindex = c->self_idx;
  int wrc = st_cons__wal_append(&c->wal, ST_CONS__WAL_OWN_VOTE, v->msg, v->msg_len, true);
  if (wrc != 0)
    ST_WARN(c->tag, "cannot log our vote to the WAL: %s", st_strerror(wrc));
  own_add(c, r, step, nil, hash, v->msg, v->msg_len);
  return v;
}

/* Test-only: a second prevote that contradicts the first, signed around
 * the sign state on purpose so that peers see a double vote. */
static void byzantine_prevote(st_cons_t *c, bool nil) {
  uint8_t other[ST_HASH_LEN], *body, sig[ST_SIG_LEN];
  size_t blen;
  randombytes_buf(other, sizeof(other));
  st_cons__vote_body_encode(c->chain_id, STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE, c->h, c->r,
                            nil ? other : NULL, st_cons__now_ms(), c->self, &body, &blen);
  if (st_sign(&c->node->node_key, ST_DOM_VOTE, c->chain_id, body, blen, sig) == 0) {
    st_cons__vote_t *v;
    const char *why;
    if (st_cons__vote_from_parts(c->chain_id, body, blen, sig, ST_SIG_LEN, &v, &why) == 0) {
      st_cons__send(c, NULL, NULL, c->ch_cons, ST_CONS__MSG_VOTE, v->msg, v->msg_len);
      st_cons__vote_free(v);
    }
  }
  free(body);
}

static void do_vote(st_cons_t *c, int type, bool nil, const uint8_t *hash) {
  st_cons__vote_t *v = sign_vote(c, type, c->r, nil, hash);
  if (v) {
    if (!c->replaying)
      st_cons__send(c, NULL, NULL, c->ch_cons, ST_CONS__MSG_VOTE, v->msg, v->msg_len);
    st_cons__add_vote(c, v, NULL, true);
  }
  if (type == STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE && c->p.byzantine_double_prevote &&
      c->h >= c->p.byzantine_from_height && c->self_idx >= 0 && !c->replaying)
    byzantine_prevote(c, nil);
}

static void set_step(st_cons_t *c, int step) {
  c->step = step;
  if (!c->replaying)
    st_cons__broadcast_roundstep(c);
}

static void prevote(st_cons_t *c, bool nil, const uint8_t *hash) {
  ST_DEBUG(c->tag, "prevote %s at %" PRId64 "/%d", nil ? "nil" : "block", c->h, c->r);
  set_step(c, ST_CONS__STEP_PREVOTE);
  do_vote(c, STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE, nil, hash);
}

static void precommit(st_cons_t *c, bool nil, const uint8_t *hash) {
  ST_DEBUG(c->tag, "precommit %s at %" PRId64 "/%d", nil ? "nil" : "block", c->h, c->r);
  set_step(c, ST_CONS__STEP_PRECOMMIT);
  do_vote(c, STRATOS__CONS__VOTE_TYPE__VOTE_PRECOMMIT, nil, hash);
}

/* ---- timeouts ---- */

static void timeout_apply(st_cons_t *c, int step, int64_t h, int32_t r);

static void log_timeout(st_cons_t *c, int step, int64_t h, int32_t r) {
  if (c->replaying)
    return;
  uint8_t p[13];
  st_cons__be64(p, (uint64_t)h);
  st_cons__be32(p + 8, (uint32_t)r);
  p[12] = (uint8_t)step;
  st_cons__wal_append(&c->wal, ST_CONS__WAL_TIMEOUT, p, sizeof(p), false);
}

static void on_t_propose(uv_timer_t *t) {
  st_cons_t *c = t->data;
  timeout_apply(c, ST_CONS__STEP_PROPOSE, c->tp_h, c->tp_r);
}

static void on_t_prevote(uv_timer_t *t) {
  st_cons_t *c = t->data;
  timeout_apply(c, ST_CONS__STEP_PREVOTE, c->tpv_h, c->tpv_r);
}

static void on_t_precommit(uv_timer_t *t) {
  st_cons_t *c = t->data;
  timeout_apply(c, ST_CONS__STEP_PRECOMMIT, c->tpc_h, c->tpc_r);
}

static void timeout_apply(st_cons_t *c, int step, int64_t h, int32_t r) {
  if (c->halted || h != c->h || r != c->r)
    return;
  switch (step) {
  case ST_CONS__STEP_PROPOSE:
    if (c->step != ST_CONS__STEP_PROPOSE || c->waiting_txs)
      return;
    log_timeout(c, step, h, r);
    ST_DEBUG(c->tag, "propose timeout at %" PRId64 "/%d", h, r);
    prevote(c, true, NULL);
    break;
  case ST_CONS__STEP_PREVOTE:
    if (c->step != ST_CONS__STEP_PREVOTE)
      return;
    log_timeout(c, step, h, r);
    precommit(c, true, NULL);
    break;
  case ST_CONS__STEP_PRECOMMIT:
    if (c->step == ST_CONS__STEP_NEWHEIGHT)
      return;
    log_timeout(c, step, h, r);
    start_round(c, r + 1);
    break;
  default:
    return;
  }
  st_cons__evaluate(c);
}

static void on_t_commit(uv_timer_t *t) {
  st_cons_t *c = t->data;
  if (!c->halted && c->step == ST_CONS__STEP_NEWHEIGHT) {
    start_round(c, 0);
    st_cons__evaluate(c);
  }
}

static void on_t_empty(uv_timer_t *t) {
  st_cons_t *c = t->data;
  if (!c->halted && c->waiting_txs && c->r == 0 && c->step == ST_CONS__STEP_PROPOSE) {
    c->waiting_txs = false;
    enter_propose(c);
    st_cons__evaluate(c);
  }
}

static void on_t_tick(uv_timer_t *t) {
  st_cons_t *c = t->data;
  if (c->halted)
    return;
  uint64_t now = uv_now(c->node->loop);
  if (now - c->last_roundstep_ms >= ST_CONS__ROUNDSTEP_MS)
    st_cons__broadcast_roundstep(c);
  if (c->app_wait) {
    c->app_wait = false;
    st_cons__evaluate(c);
  }
  st_cons__sync_tick(c);
}

/* ---- proposing ---- */

/* Builds a new block for the current height. */
static st_cons__block_t *build_block(st_cons_t *c) {
  st_cons_txlist_t l = {0};
  if (c->h > 1 && !c->last_commit) {
    ST_ERROR(c->tag, "no commit of block %" PRId64 " to carry; not proposing", c->latest);
    return NULL;
  }
  if (c->app.propose) {
    int rc = c->app.propose(c->app_ud, c->h, c->lim.max_bytes, c->lim.max_txs, &l);
    if (rc != 0) {
      ST_WARN(c->tag, "the application could not propose txs: %s", st_strerror(rc));
      st_cons_txlist_free(&l);
      memset(&l, 0, sizeof(l));
    }
  }
  /* Keep what fits, in the application's order. */
  size_t ntx = 0, bytes = 0;
  ProtobufCBinaryData *txs = calloc(l.n ? l.n : 1, sizeof(*txs));
  if (!txs)
    abort();
  for (size_t i = 0; i < l.n && ntx < c->lim.max_txs; i++) {
    if (l.lens[i] == 0 || bytes + l.lens[i] > c->lim.max_bytes)
      continue;
    txs[ntx].data = l.txs[i];
    txs[ntx].len = l.lens[i];
    bytes += l.lens[i];
    ntx++;
  }
  uint8_t(*leaves)[ST_HASH_LEN] = malloc((ntx ? ntx : 1) * ST_HASH_LEN);
  if (!leaves)
    abort();
  for (size_t i = 0; i < ntx; i++)
    st_merkle_leaf(txs[i].data, txs[i].len, leaves[i]);
  uint8_t data_hash[ST_HASH_LEN], ev_hash[ST_HASH_LEN], lc_hash[ST_HASH_LEN];
  st_merkle_root((const uint8_t(*)[ST_HASH_LEN])leaves, ntx, data_hash);
  free(leaves);

  Stratos__Cons__Evidence *evs[ST_CONS__EVIDENCE_PER_BLOCK];
  size_t nev = st_cons__evidence_pick(c, c->h, evs, ST_CONS__EVIDENCE_PER_BLOCK);
  Stratos__Cons__Commit *lc = NULL;
  if (c->h > 1)
    lc = st_cons__voteset_commit(c->last_commit, c->last_hash);
  st_cons__commit_hash(lc, lc_hash);

  Stratos__Cons__Block blk = STRATOS__CONS__BLOCK__INIT;
  blk.n_txs = ntx;
  blk.txs = txs;
  blk.last_commit = lc;
  blk.n_evidence = nev;
  blk.evidence = evs;
  st_cons__evidence_root(&blk, ev_hash);

  int64_t now = st_cons__now_ms();
  int64_t t = c->h == 1 ? c->genesis_time_ms : c->last_time_ms + 1;
  Stratos__Cons__Header h;
  stratos__cons__header__init(&h);
  h.chain_id = c->chain_id;
  h.height = c->h;
  h.time_ms = now > t ? now : t;
  if (c->h > 1) {
    h.last_block_hash.data = c->last_hash;
    h.last_block_hash.len = ST_HASH_LEN;
  }
#define SETH(f, p)                                                                           \
  do {                                                                                       \
    h.f.data = (uint8_t *)(p);                                                               \
    h.f.len = ST_HASH_LEN;                                                                   \
  } while (0)
  SETH(last_commit_hash, lc_hash);
  SETH(data_hash, data_hash);
  SETH(validators_hash, c->vs_cur->hash);
  SETH(next_validators_hash, c->vs_next->hash);
  SETH(app_hash, c->app_hash);
  SETH(evidence_hash, ev_hash);
  SETH(last_results_hash, c->results_hash);
#undef SETH
  h.proposer.data = c->self;
  h.proposer.len = ST_ADDR_LEN;
  size_t hlen = stratos__cons__header__get_packed_size(&h);
  uint8_t *hb = malloc(hlen);
  if (!hb)
    abort();
  stratos__cons__header__pack(&h, hb);
  blk.header.data = hb;
  blk.header.len = hlen;
  size_t blen = stratos__cons__block__get_packed_size(&blk);
  uint8_t *bb = malloc(blen);
  if (!bb)
    abort();
  stratos__cons__block__pack(&blk, bb);

  st_cons__block_t *b = NULL;
  const char *why = NULL;
  st_cons__limits_t lim = c->lim;
  if (st_cons__block_decode(c->chain_id, bb, blen, &lim, &b, &why) != 0) {
    ST_ERROR(c->tag, "our own block at %" PRId64 " does not decode: %s", c->h, why);
    b = NULL;
  }
  free(bb);
  free(hb);
  for (size_t i = 0; i < nev; i++)
    stratos__cons__evidence__free_unpacked(evs[i], NULL);
  st_cons__commit_free(lc);
  free(txs);
  st_cons_txlist_free(&l);
  return b;
}

static void do_propose(st_cons_t *c) {
  st_cons__round_t *rs = st_cons__round_get(c, c->r, true);
  if (rs->proposal)
    return;
  const char *why;
  st_cons__own_t *o = own_find(c, c->r, ST_CONS__SIGN_PROPOSAL);
  if (o) {
    /* Proposed already (before a restart): send the same proposal. */
    st_cons__proposal_t *p;
    if (st_cons__proposal_decode(c->chain_id, o->msg, o->len, &c->lim, &p, &why) == 0) {
      st_cons__send(c, NULL, NULL, c->ch_cons, ST_CONS__MSG_PROPOSAL, p->msg, p->msg_len);
      st_cons__add_proposal(c, p, NULL, true);
    }
    return;
  }
  st_cons__block_t *b;
  int32_t pol = -1;
  if (c->valid_round >= 0 && c->validb) {
    b = c->validb;
    pol = c->valid_round;
  } else {
    b = build_block(c);
    if (!b)
      return;
    b = block_keep(c, b);
    b->valid = 1;
  }
  Stratos__Cons__ProposalBody pb;
  stratos__cons__proposal_body__init(&pb);
  pb.chain_id = c->chain_id;
  pb.height = c->h;
  pb.round = c->r;
  pb.pol_round = pol;
  pb.block_hash.data = b->hash;
  pb.block_hash.len = ST_HASH_LEN;
  pb.time_ms = st_cons__now_ms();
  pb.proposer.data = c->self;
  pb.proposer.len = ST_ADDR_LEN;
  size_t blen = stratos__cons__proposal_body__get_packed_size(&pb);
  uint8_t *body = malloc(blen), sig[ST_SIG_LEN];
  if (!body)
    abort();
  stratos__cons__proposal_body__pack(&pb, body);
  if (sign_body(c, c->r, ST_CONS__SIGN_PROPOSAL, false, b->hash, ST_DOM_PROPOSAL, &body,
                &blen, sig) != 0)
    return;
  Stratos__Cons__Proposal m = STRATOS__CONS__PROPOSAL__INIT;
  m.body.data = body;
  m.body.len = blen;
  m.signature.data = sig;
  m.signature.len = ST_SIG_LEN;
  m.block = b->pb;
  size_t mlen = stratos__cons__proposal__get_packed_size(&m);
  uint8_t *msg = malloc(mlen);
  if (!msg)
    abort();
  stratos__cons__proposal__pack(&m, msg);
  free(body);
  int wrc = st_cons__wal_append(&c->wal, ST_CONS__WAL_OWN_PROPOSAL, msg, mlen, true);
  if (wrc != 0)
    ST_WARN(c->tag, "cannot log our proposal to the WAL: %s", st_strerror(wrc));
  own_add(c, c->r, ST_CONS__SIGN_PROPOSAL, false, b->hash, msg, mlen);
  st_cons__proposal_t *p;
  if (st_cons__proposal_decode(c->chain_id, msg, mlen, &c->lim, &p, &why) != 0) {
    ST_ERROR(c->tag, "our own proposal does not decode: %s", why);
    free(msg);
    return;
  }
  free(msg);
  char hx[17];
  hex8(b->hash, hx);
  ST_DEBUG(c->tag, "proposing block %s.. at %" PRId64 "/%d (%zu txs, pol %d)", hx, c->h, c->r,
          b->pb->n_txs, pol);
  st_cons__send(c, NULL, NULL, c->ch_cons, ST_CONS__MSG_PROPOSAL, p->msg, p->msg_len);
  st_cons__add_proposal(c, p, NULL, true);
}

static void enter_propose(st_cons_t *c) {
  c->tp_h = c->h;
  c->tp_r = c->r;
  arm(&c->t_propose, tmo(c->p.timeout_propose, c->p.timeout_propose_delta, c->r), on_t_propose);
  st_cons__round_t *rs = st_cons__round_get(c, c->r, true);
  if (rs->proposer == c->self_idx && !c->replaying)
    do_propose(c);
}

static void start_round(st_cons_t *c, int32_t r) {
  c->r = r;
  c->waiting_txs = false;
  uv_timer_stop(&c->t_commit);
  uv_timer_stop(&c->t_empty);
  st_cons__round_get(c, r, true);
  set_step(c, ST_CONS__STEP_PROPOSE);
  if (c->m_rounds)
    st_metric_set(c->m_rounds, r);
  if (r == 0 && !c->p.create_empty_blocks && c->h > 1 && !c->replaying && !c->txs_avail &&
      !(c->app.has_txs && c->app.has_txs(c->app_ud))) {
    c->waiting_txs = true;
    if (c->p.empty_blocks_interval > 0)
      arm(&c->t_empty, c->p.empty_blocks_interval, on_t_empty);
    return;
  }
  enter_propose(c);
}

/* ---- the upon rules ---- */

static bool block_valid(st_cons_t *c, st_cons__block_t *b) {
  const char *why;
  return st_cons__check_block(c, b, c->h, &why) == 0;
}

static void decide(st_cons_t *c, st_cons__block_t *b, st_cons__round_t *rs) {
  Stratos__Cons__Commit *cm = st_cons__voteset_commit(&rs->precommits, b->hash);
  uint8_t *p;
  size_t n;
  st_cons__commit_encode(cm, &p, &n);
  st_cons__commit_free(cm);
  c->decided_round = rs->round;
  st_cons__apply_block(c, b, p, n, rs->round);
  free(p);
}

/* Line 49: +2/3 precommits for a block we have decide it, in any round. */
static bool try_decide(st_cons_t *c) {
  for (size_t i = 0; i < c->nrounds; i++) {
    st_cons__round_t *rs = c->rounds[i];
    bool nil;
    uint8_t hash[ST_HASH_LEN];
    if (!st_cons__voteset_majority(&rs->precommits, &nil, hash) || nil)
      continue;
    st_cons__block_t *b = block_find(c, hash);
    if (!b)
      continue;
    const char *why;
    int crc = st_cons__check_block(c, b, c->h, &why);
    if (crc == ST_EAGAIN)
      return true; /* the tick asks again */
    if (crc != 0) {
      if (b->app_hash_bad) {
        st_cons__halt_app_hash(c, c->h, b->hdr->app_hash.data);
      } else {
        ST_ERROR(c->tag, "block %" PRId64 " committed by +2/3 of the validators is invalid "
                 "here: %s", c->h, why);
        st_cons__halt(c);
      }
      return true;
    }
    decide(c, b, rs);
    return true;
  }
  return false;
}

static void eval_once(st_cons_t *c) {
  if (c->halted)
    return;
  if (try_decide(c))
    return;
  if (c->step == ST_CONS__STEP_NEWHEIGHT)
    return;

  /* Line 55: f+1 validators are in a later round; go there. */
  int32_t skip = -1;
  for (size_t i = 0; i < c->nrounds; i++) {
    st_cons__round_t *rs = c->rounds[i];
    if (rs->round > c->r && 3 * rs->seen_power > c->vs_cur->total)
      skip = rs->round;
  }
  if (skip >= 0) {
    ST_DEBUG(c->tag, "skipping to round %d at %" PRId64, skip, c->h);
    start_round(c, skip);
    c->eval_again = true;
    return;
  }

  st_cons__round_t *rs = st_cons__round_get(c, c->r, true);
  st_cons__proposal_t *p = rs->proposal;
  st_cons__block_t *pb = rs->pblock;

  if (c->step == ST_CONS__STEP_PROPOSE && p && c->waiting_txs) {
    /* Someone had txs: a proposal ends the wait for them. */
    c->waiting_txs = false;
    uv_timer_stop(&c->t_empty);
    c->tp_h = c->h;
    c->tp_r = c->r;
    arm(&c->t_propose, tmo(c->p.timeout_propose, c->p.timeout_propose_delta, c->r),
        on_t_propose);
  }
  if (c->step == ST_CONS__STEP_PROPOSE && p) {
    if (p->pol_round < 0) {
      /* Line 22. */
      bool ok = block_ok_to_prevote(c, pb) && (c->locked_round < 0 || c->locked == pb);
      prevote(c, !ok, ok ? pb->hash : NULL);
    } else {
      /* Line 28: a re-proposal backed by a polka of its pol_round. */
      st_cons__round_t *pr = st_cons__round_get(c, p->pol_round, false);
      bool nil;
      uint8_t h[ST_HASH_LEN];
      if (pr && st_cons__voteset_majority(&pr->prevotes, &nil, h) && !nil &&
          memcmp(h, pb->hash, ST_HASH_LEN) == 0) {
        bool ok = block_valid(c, pb) &&
                  (c->locked_round <= p->pol_round || c->locked == pb);
        prevote(c, !ok, ok ? pb->hash : NULL);
      }
    }
  }
  /* Line 34. */
  if (c->step == ST_CONS__STEP_PREVOTE && !rs->prevote_timer &&
      st_cons__voteset_two_thirds_any(&rs->prevotes)) {
    rs->prevote_timer = true;
    c->tpv_h = c->h;
    c->tpv_r = c->r;
    arm(&c->t_prevote, tmo(c->p.timeout_prevote, c->p.timeout_prevote_delta, c->r),
        on_t_prevote);
  }
  /* Line 36: a polka for the proposal locks (if still prevoting) and
   * makes it the valid value. */
  bool nil;
  uint8_t maj[ST_HASH_LEN];
  bool has_maj = st_cons__voteset_majority(&rs->prevotes, &nil, maj);
  if (c->step >= ST_CONS__STEP_PREVOTE && !rs->polka_done && p && has_maj && !nil &&
      memcmp(maj, pb->hash, ST_HASH_LEN) == 0 && block_valid(c, pb)) {
    rs->polka_done = true;
    if (c->step == ST_CONS__STEP_PREVOTE) {
      c->locked = pb;
      c->locked_round = c->r;
      precommit(c, false, pb->hash);
    }
    c->validb = pb;
    c->valid_round = c->r;
  }
  /* Line 44. */
  if (c->step == ST_CONS__STEP_PREVOTE && has_maj && nil)
    precommit(c, true, NULL);
  /* Line 47. */
  if (!rs->precommit_timer && st_cons__voteset_two_thirds_any(&rs->precommits)) {
    rs->precommit_timer = true;
    c->tpc_h = c->h;
    c->tpc_r = c->r;
    arm(&c->t_precommit, tmo(c->p.timeout_precommit, c->p.timeout_precommit_delta, c->r),
        on_t_precommit);
  }
}

void st_cons__evaluate(st_cons_t *c) {
  if (c->in_eval) {
    c->eval_again = true;
    return;
  }
  c->in_eval = true;
  do {
    c->eval_again = false;
    eval_once(c);
  } while (c->eval_again && !c->halted);
  c->in_eval = false;
}

/* ---- inputs ---- */

void st_cons__add_vote(st_cons_t *c, st_cons__vote_t *v, const uint8_t *from, bool own) {
  if (v->height == c->h - 1) {
    /* A late precommit for the block we decided: it joins the commit we
     * will carry in our next proposal. */
    if (c->last_commit && v->type == STRATOS__CONS__VOTE_TYPE__VOTE_PRECOMMIT &&
        v->round == c->last_round && !v->nil &&
        memcmp(v->hash, c->last_hash, ST_HASH_LEN) == 0 &&
        st_cons__voteset_add(c->last_commit, v, NULL) == 0)
      return;
    st_cons__vote_free(v);
    return;
  }
  if (v->height != c->h) {
    st_cons__vote_free(v);
    return;
  }
  st_cons__round_t *rs = st_cons__round_get(c, v->round, true);
  st_cons__voteset_t *set =
    v->type == STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE ? &rs->prevotes : &rs->precommits;
  const st_cons__vote_t *conflict = NULL;
  int rc = st_cons__voteset_add(set, v, &conflict);
  if (rc == ST_EPERM && conflict) {
    st_cons__evidence_found(c, conflict, v);
    /* The algorithm counts messages per value: a double-signer's vote for
     * a block we know still counts for that block (never twice for "any
     * value"), or honest nodes that saw its votes in different orders
     * could stay apart forever. Votes for unknown values are dropped, so
     * what is kept stays bounded by the blocks of the height. */
    rc = !v->nil && block_find(c, v->hash) ? st_cons__voteset_add_extra(set, v) : ST_EPERM;
  }
  if (rc != 0) {
    st_cons__vote_free(v);
    return;
  }
  int idx = v->vindex;
  if (!rs->seen[idx]) {
    rs->seen[idx] = 1;
    rs->seen_power += c->vs_cur->vs.v[idx].power;
  }
  if (!own && !c->replaying) {
    st_cons__wal_append(&c->wal, ST_CONS__WAL_VOTE, v->msg, v->msg_len, false);
    st_cons__send(c, NULL, from, c->ch_cons, ST_CONS__MSG_VOTE, v->msg, v->msg_len);
  }
  st_cons__evaluate(c);
}

void st_cons__add_proposal(st_cons_t *c, st_cons__proposal_t *p, const uint8_t *from,
                           bool own) {
  st_cons__round_t *rs = st_cons__round_get(c, p->round, true);
  if (rs->proposal || p->height != c->h) {
    st_cons__proposal_free(p);
    return;
  }
  rs->pblock = block_keep(c, p->block);
  p->block = NULL;
  rs->proposal = p;
  if (!own && !c->replaying) {
    st_cons__wal_append(&c->wal, ST_CONS__WAL_PROPOSAL, p->msg, p->msg_len, false);
    st_cons__send(c, NULL, from, c->ch_cons, ST_CONS__MSG_PROPOSAL, p->msg, p->msg_len);
  }
  st_cons__evaluate(c);
}

int st_cons__handle_vote(st_cons_t *c, const uint8_t *from, const uint8_t *data, size_t len,
                         const char **why) {
  st_cons__vote_t *v;
  int rc = st_cons__vote_decode(c->chain_id, data, len, &v, why);
  if (rc != 0)
    return rc;
  const st_cons__vset_t *vs = NULL;
  if (v->height == c->h) {
    if (v->round > c->r + ST_CONS__ROUND_AHEAD) {
      st_cons__vote_free(v);
      return 0;
    }
    vs = c->vs_cur;
  } else if (v->height == c->h - 1 && c->vs_last &&
             v->type == STRATOS__CONS__VOTE_TYPE__VOTE_PRECOMMIT) {
    vs = c->vs_last;
  }
  if (!vs) {
    st_cons__vote_free(v);
    return 0;
  }
  rc = st_cons__vote_verify(c->chain_id, &vs->vs, v, why);
  if (rc != 0) {
    st_cons__vote_free(v);
    return rc;
  }
  st_cons__add_vote(c, v, from, false);
  return 0;
}

int st_cons__handle_proposal(st_cons_t *c, const uint8_t *from, const uint8_t *data,
                             size_t len, const char **why) {
  if (len > c->max_proposal_bytes) {
    *why = "proposal larger than the largest block";
    return ST_E2BIG;
  }
  st_cons__proposal_t *p;
  int rc = st_cons__proposal_decode(c->chain_id, data, len, &c->lim, &p, why);
  if (rc != 0)
    return rc;
  if (p->height != c->h || p->round > c->r + ST_CONS__ROUND_AHEAD) {
    st_cons__proposal_free(p);
    return 0;
  }
  st_cons__round_t *rs = st_cons__round_get(c, p->round, true);
  if (rs->proposal) {
    if (memcmp(rs->proposal->hash, p->hash, ST_HASH_LEN) != 0)
      ST_WARN(c->tag, "a second, different proposal for %" PRId64 "/%d; keeping the first",
              p->height, p->round);
    st_cons__proposal_free(p);
    return 0;
  }
  const st_cons_validator_t *pv = &c->vs_cur->vs.v[rs->proposer];
  if (memcmp(pv->addr, p->proposer, ST_ADDR_LEN) != 0) {
    *why = "proposal from a validator that is not the round's proposer";
    st_cons__proposal_free(p);
    return ST_EPROTO;
  }
  if (st_cons__proposal_verify(c->chain_id, pv->pubkey, p) != 0) {
    *why = "bad proposal signature";
    st_cons__proposal_free(p);
    return ST_EBADSIG;
  }
  /* A block already in the cache (re-proposed) has been checked. */
  if (block_find(c, p->hash)) {
    st_cons__add_proposal(c, p, from, false);
    return 0;
  }
  rc = st_cons__check_block(c, p->block, c->h, why);
  if (rc == ST_EPROTO) {
    snprintf(c->why, sizeof(c->why), "%s", *why);
    *why = c->why;
    st_cons__proposal_free(p);
    return rc;
  }
  if (rc != 0) {
    char hx[17];
    hex8(p->hash, hx);
    ST_WARN(c->tag, "proposal %s.. at %" PRId64 "/%d is not valid here: %s", hx, p->height,
            p->round, *why);
  }
  st_cons__add_proposal(c, p, from, false);
  return 0;
}

/* ---- committing ---- */

void st_cons__set_last_commit(st_cons_t *c, const uint8_t *p, size_t n) {
  if (c->last_commit) {
    st_cons__voteset_free(c->last_commit);
    free(c->last_commit);
    c->last_commit = NULL;
  }
  Stratos__Cons__Commit *cm = stratos__cons__commit__unpack(NULL, n, p);
  if (!cm)
    return;
  c->last_round = cm->round;
  c->last_commit = calloc(1, sizeof(*c->last_commit));
  if (!c->last_commit)
    abort();
  st_cons__voteset_init(c->last_commit, STRATOS__CONS__VOTE_TYPE__VOTE_PRECOMMIT, c->latest,
                        cm->round, c->vs_last);
  for (size_t i = 0; i < cm->n_sigs; i++) {
    st_cons__vote_t *v;
    const char *why;
    const Stratos__Cons__CommitSig *s = cm->sigs[i];
    if (st_cons__vote_from_parts(c->chain_id, s->vote_body.data, s->vote_body.len,
                                 s->signature.data, s->signature.len, &v, &why) != 0)
      continue;
    v->vindex = st_cons__valset_index(&c->vs_last->vs, v->validator);
    if (v->vindex < 0 || st_cons__voteset_add(c->last_commit, v, NULL) != 0)
      st_cons__vote_free(v);
  }
  stratos__cons__commit__free_unpacked(cm, NULL);
}

int st_cons__apply_block(st_cons_t *c, st_cons__block_t *b, const uint8_t *commit,
                         size_t commit_len, int32_t round) {
  int64_t h = b->hdr->height;
  if (c->halted || h != c->h)
    return ST_EINVAL;
  if (memcmp(b->hdr->app_hash.data, c->app_hash, ST_HASH_LEN) != 0) {
    st_cons__halt_app_hash(c, h, b->hdr->app_hash.data);
    return ST_ECORRUPT;
  }
  /* Everything read from the store is gathered before the write
   * transaction opens: one thread holds one LMDB transaction at a time. */
  st_cons_evidence_t *evs = NULL;
  size_t nev = 0;
  int rc = st_cons__evidence_for_app(c, b->pb, &evs, &nev);
  if (rc != 0) {
    ST_ERROR(c->tag, "cannot read the evidence of block %" PRId64 ": %s", h, st_strerror(rc));
    st_cons__halt(c);
    return rc;
  }
  size_t n = b->pb->n_txs;
  const uint8_t **txs = calloc(n ? n : 1, sizeof(*txs));
  size_t *lens = calloc(n ? n : 1, sizeof(*lens));
  bool *signers = NULL;
  if (!txs || !lens)
    abort();
  for (size_t i = 0; i < n; i++) {
    txs[i] = b->pb->txs[i].data;
    lens[i] = b->pb->txs[i].len;
  }
  if (c->vs_last) {
    signers = calloc(c->vs_last->vs.n, sizeof(bool));
    if (!signers)
      abort();
    const char *why;
    st_cons__commit_verify(c->chain_id, &c->vs_last->vs, h - 1, c->last_hash,
                           b->pb->last_commit, signers, &why);
  }
  st_cons_block_t ab = {
    .height = h,
    .time_ms = b->hdr->time_ms,
    .hash = b->hash,
    .proposer = b->hdr->proposer.data,
    .ntxs = n,
    .txs = txs,
    .tx_lens = lens,
    .nevidence = nev,
    .evidence = evs,
    .last_valset = c->vs_last ? &c->vs_last->vs : NULL,
    .last_signed = signers,
  };
  uint8_t app_hash[ST_HASH_LEN] = {0}, results[ST_HASH_LEN] = {0};
  st_cons_valset_t next = {0}, sorted = {0};
  bool changed = false;
  st_cons__vset_t *v2 = NULL;
  st_txn_t *txn = NULL;
  rc = st_txn_begin(c->node->store, true, &txn);
  if (rc != 0) {
    ST_ERROR(c->tag, "cannot open a write transaction for block %" PRId64 ": %s", h,
             st_strerror(rc));
    goto fail;
  }
  if (c->app.finalize) {
    rc = c->app.finalize(c->app_ud, txn, &ab, app_hash, results, &next, &changed);
    if (rc == ST_EAGAIN) {
      /* The application cannot apply it yet: no harm done, try later. */
      st_txn_abort(txn);
      free(txs);
      free(lens);
      free(signers);
      free(evs);
      free(next.v);
      c->app_wait = true;
      return ST_EAGAIN;
    }
    if (rc != 0) {
      ST_ERROR(c->tag, "the application failed to finalize block %" PRId64 ": %s", h,
               st_strerror(rc));
      goto fail;
    }
  } else {
    memcpy(app_hash, c->app_hash, ST_HASH_LEN);
  }
  if (changed) {
    rc = st_cons__valset_copy(&sorted, &next);
    if (rc != 0) {
      ST_ERROR(c->tag, "the application returned an invalid validator set at %" PRId64, h);
      goto fail;
    }
  }
  v2 = st_cons__vset_advance(c->vs_next, changed ? &sorted : NULL);
  if ((rc = st_cons__store_put_height(c, txn, b, commit, commit_len, app_hash, results)) != 0 ||
      (rc = st_cons__store_put_vset(c, txn, h + 2, v2)) != 0 ||
      (rc = st_cons__evidence_record(c, txn, b->pb, evs, h)) != 0) {
    ST_ERROR(c->tag, "cannot store block %" PRId64 ": %s", h, st_strerror(rc));
    goto fail;
  }
  rc = st_txn_commit(txn);
  txn = NULL;
  if (rc != 0) {
    ST_ERROR(c->tag, "cannot commit block %" PRId64 ": %s", h, st_strerror(rc));
    goto fail;
  }
  free(txs);
  free(lens);
  free(signers);
  free(evs);
  free(next.v);
  free(sorted.v);

  char hx[17];
  hex8(b->hash, hx);
  ST_INFO(c->tag, "committed block %" PRId64 " %s.. (%zu txs, %zu evidence, round %d)", h, hx,
          n, nev, round);
  c->latest = h;
  memcpy(c->last_hash, b->hash, ST_HASH_LEN);
  c->last_time_ms = b->hdr->time_ms;
  memcpy(c->app_hash, app_hash, ST_HASH_LEN);
  memcpy(c->results_hash, results, ST_HASH_LEN);
  /* The commit references the set of h, which becomes vs_last; the old
   * last commit goes with the old vs_last. */
  if (c->last_commit) {
    st_cons__voteset_free(c->last_commit);
    free(c->last_commit);
    c->last_commit = NULL;
  }
  st_cons__vset_free(c->vs_last);
  /* Rounds of h still point at vs_cur: free them before it moves on. */
  height_state_free(c);
  c->vs_last = c->vs_cur;
  c->vs_cur = c->vs_next;
  c->vs_next = v2;
  st_cons__set_last_commit(c, commit, commit_len);
  int wrc = st_cons__wal_end_height(&c->wal, h);
  if (wrc != 0)
    ST_WARN(c->tag, "WAL rotation after %" PRId64 " failed: %s", h, st_strerror(wrc));
  st_cons__evidence_pool_prune(c);
  if (c->m_height)
    st_metric_set(c->m_height, (double)h);
  new_height(c);
  /* Last, so that what the application does here (telling us of txs)
   * lands on the new height. */
  if (c->app.committed)
    c->app.committed(c->app_ud, h);
  return 0;

fail:
  if (txn)
    st_txn_abort(txn);
  free(txs);
  free(lens);
  free(signers);
  free(evs);
  free(next.v);
  free(sorted.v);
  st_cons__vset_free(v2);
  st_cons__halt(c);
  return rc ? rc : ST_EIO;
}

static void new_height(st_cons_t *c) {
  height_state_free(c);
  c->h = c->latest + 1;
  c->r = 0;
  c->step = ST_CONS__STEP_NEWHEIGHT;
  c->self_idx = st_cons__valset_index(&c->vs_cur->vs, c->self);
  c->waiting_txs = false;
  c->txs_avail = false;
  uv_timer_stop(&c->t_propose);
  uv_timer_stop(&c->t_prevote);
  uv_timer_stop(&c->t_precommit);
  uv_timer_stop(&c->t_empty);
  arm(&c->t_commit, c->p.timeout_commit, on_t_commit);
  c->h_started_ms = uv_now(c->node->loop);
  if (!c->replaying)
    st_cons__broadcast_roundstep(c);
  st_cons__sync_reset(c);
}

/* ---- start and replay ---- */

typedef struct rec {
  int type;
  uint8_t *p;
  size_t len;
} rec_t;

typedef struct recs {
  rec_t *v;
  size_t n, cap;
} recs_t;

static int collect(void *ud, int type, const uint8_t *p, size_t len) {
  recs_t *r = ud;
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 64;
    rec_t *v = realloc(r->v, cap * sizeof(*v));
    if (!v)
      abort();
    r->v = v;
    r->cap = cap;
  }
  r->v[r->n].type = type;
  r->v[r->n].p = malloc(len ? len : 1);
  if (!r->v[r->n].p)
    abort();
  memcpy(r->v[r->n].p, p, len);
  r->v[r->n].len = len;
  r->n++;
  return 0;
}

/* Learns what we signed at this height from the WAL and the sign state,
 * so that no step is ever signed twice with different values. */
static void learn_own(st_cons_t *c, const recs_t *rs) {
  const char *why;
  for (size_t i = 0; i < rs->n; i++) {
    const rec_t *r = &rs->v[i];
    if (r->type == ST_CONS__WAL_OWN_VOTE) {
      st_cons__vote_t *v;
      if (st_cons__vote_decode(c->chain_id, r->p, r->len, &v, &why) != 0)
        continue;
      if (v->height == c->h && memcmp(v->validator, c->self, ST_ADDR_LEN) == 0)
        own_add(c, v->round,
                v->type == STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE ? ST_CONS__SIGN_PREVOTE
                                                                  : ST_CONS__SIGN_PRECOMMIT,
                v->nil, v->hash, v->msg, v->msg_len);
      st_cons__vote_free(v);
    } else if (r->type == ST_CONS__WAL_OWN_PROPOSAL) {
      st_cons__proposal_t *p;
      if (st_cons__proposal_decode(c->chain_id, r->p, r->len, &c->lim, &p, &why) != 0)
        continue;
      if (p->height == c->h && memcmp(p->proposer, c->self, ST_ADDR_LEN) == 0)
        own_add(c, p->round, ST_CONS__SIGN_PROPOSAL, false, p->hash, p->msg, p->msg_len);
      st_cons__proposal_free(p);
    }
  }
  st_cons__ss_t *ss = &c->ss;
  if (ss->height == c->h && ss->step != ST_CONS__SIGN_PROPOSAL &&
      !own_find(c, ss->round, ss->step)) {
    st_cons__vote_t *v;
    if (st_cons__vote_from_parts(c->chain_id, ss->bytes, ss->len, ss->sig, ST_SIG_LEN, &v,
                                 &why) == 0) {
      own_add(c, ss->round, ss->step, v->nil, v->hash, v->msg, v->msg_len);
      st_cons__vote_free(v);
    }
  }
}

static void replay(st_cons_t *c, const recs_t *rs) {
  const char *why;
  for (size_t i = 0; i < rs->n && !c->halted; i++) {
    const rec_t *r = &rs->v[i];
    if (c->step == ST_CONS__STEP_NEWHEIGHT && r->type != ST_CONS__WAL_END_HEIGHT)
      start_round(c, 0);
    switch (r->type) {
    case ST_CONS__WAL_PROPOSAL:
    case ST_CONS__WAL_OWN_PROPOSAL:
      st_cons__handle_proposal(c, NULL, r->p, r->len, &why);
      break;
    case ST_CONS__WAL_VOTE:
    case ST_CONS__WAL_OWN_VOTE:
      st_cons__handle_vote(c, NULL, r->p, r->len, &why);
      break;
    case ST_CONS__WAL_TIMEOUT:
      if (r->len == 13)
        timeout_apply(c, r->p[12], (int64_t)st_cons__rd64(r->p),
                      (int32_t)st_cons__rd32(r->p + 8));
      break;
    default:
      break;
    }
  }
  /* Our own votes count even if the WAL lost them. */
  for (size_t i = 0; i < c->nown; i++) {
    if (c->own[i].step == ST_CONS__SIGN_PROPOSAL)
      continue;
    st_cons__handle_vote(c, NULL, c->own[i].msg, c->own[i].len, &why);
  }
}

/* After a replay, sends again what we signed in the current round, for
 * peers that missed it while we were down. */
static void resend_own(st_cons_t *c) {
  for (size_t i = 0; i < c->nown; i++) {
    const st_cons__own_t *o = &c->own[i];
    if (o->round != c->r)
      continue;
    st_cons__send(c, NULL, NULL, c->ch_cons,
                  o->step == ST_CONS__SIGN_PROPOSAL ? ST_CONS__MSG_PROPOSAL : ST_CONS__MSG_VOTE,
                  o->msg, o->len);
  }
}

static int mkdir_p(const char *path) {
  char tmp[ST_PATH_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof(tmp))
    return ST_E2BIG;
  memcpy(tmp, path, n + 1);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
      return st_err_from_errno(errno);
    *p = '/';
  }
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
    return st_err_from_errno(errno);
  return 0;
}

static bool name_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 24)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
      return false;
  return true;
}

int st_cons_new(const st_cons_opts_t *o, st_cons_t **out) {
  if (!o || !out || !o->node || !o->node->loop || !o->node->bus || !o->node->store ||
      !name_ok(o->name) || !o->genesis_valset)
    return ST_EINVAL;
  *out = NULL;
  const char *chain = o->chain_id ? o->chain_id : o->node->chain_id;
  if (!chain || !*chain || strlen(chain) > ST_CHAIN_ID_MAX)
    return ST_EINVAL;
  if (o->ch_consensus == o->ch_blocksync)
    return ST_EINVAL;
  st_cons_t *c = calloc(1, sizeof(*c));
  if (!c)
    return ST_ENOMEM;
  c->node = o->node;
  snprintf(c->name, sizeof(c->name), "%s", o->name);
  snprintf(c->prefix, sizeof(c->prefix), "%s", o->rpc_prefix ? o->rpc_prefix : "");
  snprintf(c->tag, sizeof(c->tag), "consensus/%s", o->name);
  snprintf(c->chain_id, sizeof(c->chain_id), "%s", chain);
  c->owner = o->owner;
  c->ch_cons = o->ch_consensus;
  c->ch_sync = o->ch_blocksync;
  c->p = o->params;
  c->app = o->app;
  c->app_ud = o->app_ud;
  c->genesis_time_ms = o->genesis_time_ms;
  memcpy(c->genesis_app_hash, o->genesis_app_hash, ST_HASH_LEN);
  c->locked_round = c->valid_round = -1;
  c->self_idx = -1;
  c->wal.fd = -1;
  int rc = st_cons__valset_copy(&c->genesis, o->genesis_valset);
  if (rc != 0) {
    free(c);
    return rc;
  }
  st_addr_from_pubkey(c->node->node_key.pk, c->self);
  if (c->p.max_block_bytes == 0)
    c->p.max_block_bytes = ST_CONS__DEFAULT_BLOCK_BYTES;
  if (c->p.max_block_bytes > ST_NET_MAX_PAYLOAD / 2)
    c->p.max_block_bytes = ST_NET_MAX_PAYLOAD / 2;
  if (c->p.max_block_txs == 0)
    c->p.max_block_txs = ST_CONS__DEFAULT_BLOCK_TXS;
  c->lim.max_bytes = c->p.max_block_bytes;
  c->lim.max_txs = c->p.max_block_txs;
  c->lim.max_sigs = ST_CONS__MAX_VALIDATORS;
  size_t mp = (size_t)c->p.max_block_bytes + (size_t)c->p.max_block_txs * 8 +
              (size_t)ST_CONS__MAX_VALIDATORS * (ST_CONS__BODY_MAX + 80) +
              (size_t)ST_CONS__EVIDENCE_PER_BLOCK * ST_CONS__EVIDENCE_MAX_BYTES + 8192;
  c->max_proposal_bytes = mp < ST_NET_MAX_PAYLOAD ? mp : ST_NET_MAX_PAYLOAD;
  if ((size_t)snprintf(c->dir, sizeof(c->dir), "%s/data/%s", c->node->home, c->name) >=
      sizeof(c->dir)) {
    free(c->genesis.v);
    free(c);
    return ST_E2BIG;
  }
  if ((rc = mkdir_p(c->dir)) != 0 || (rc = st_cons__store_open(c)) != 0) {
    free(c->genesis.v);
    free(c);
    return rc;
  }
  uv_timer_t *ts[] = {&c->t_propose, &c->t_prevote, &c->t_precommit,
                      &c->t_commit, &c->t_tick, &c->t_empty};
  for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
    uv_timer_init(c->node->loop, ts[i]);
    ts[i]->data = c;
    c->open_handles++;
  }
  if (c->node->metrics) {
    char l[64];
    snprintf(l, sizeof(l), "chain=\"%s\"", c->name);
    c->m_height = st_metrics_gauge(c->node->metrics, "consensus_height",
                                   "Latest committed height.", l);
    c->m_rounds = st_metrics_gauge(c->node->metrics, "consensus_rounds",
                                   "Round of the height being decided.", l);
    c->m_byz = st_metrics_counter(c->node->metrics, "consensus_byzantine_validators",
                                  "Duplicate votes detected.", l);
    c->m_synced = st_metrics_counter(c->node->metrics, "blocksync_blocks",
                                     "Blocks applied by block sync.", l);
  }
  if (c->node->rpc)
    st_cons__rpc_register(c);
  *out = c;
  return 0;
}

int st_cons_start(st_cons_t *c) {
  if (!c || c->started)
    return ST_EINVAL;
  int rc = st_cons__store_load(c);
  if (rc != 0) {
    ST_ERROR(c->tag, "cannot load the block store: %s", st_strerror(rc));
    return rc;
  }
  rc = st_cons__ss_load(&c->ss, c->dir);
  if (rc != 0) {
    ST_ERROR(c->tag, "cannot read the sign state in %s: %s; refusing to start", c->dir,
             st_strerror(rc));
    return rc;
  }
  c->h = c->latest + 1;
  c->r = 0;
  c->step = ST_CONS__STEP_NEWHEIGHT;
  c->self_idx = st_cons__valset_index(&c->vs_cur->vs, c->self);
  c->h_started_ms = uv_now(c->node->loop);
  if (c->m_height)
    st_metric_set(c->m_height, (double)c->latest);
  if (c->ss.height > c->h)
    ST_WARN(c->tag, "the sign state is at height %" PRId64 ", above ours (%" PRId64 ")",
            c->ss.height, c->h);

  char wdir[ST_PATH_MAX + 8];
  snprintf(wdir, sizeof(wdir), "%s/wal", c->dir);
  recs_t recs = {0};
  rc = st_cons__wal_open(&c->wal, wdir, c->h, collect, &recs);
  if (rc != 0) {
    ST_ERROR(c->tag, "cannot open the WAL in %s: %s", wdir, st_strerror(rc));
    for (size_t i = 0; i < recs.n; i++)
      free(recs.v[i].p);
    free(recs.v);
    return rc;
  }
  learn_own(c, &recs);
  c->started = true;
  bool resumed = recs.n > 0 || c->nown > 0;
  if (resumed) {
    ST_INFO(c->tag, "replaying %zu WAL records of height %" PRId64, recs.n, c->h);
    c->replaying = true;
    start_round(c, 0);
    replay(c, &recs);
    c->replaying = false;
  }
  for (size_t i = 0; i < recs.n; i++)
    free(recs.v[i].p);
  free(recs.v);
  uv_timer_start(&c->t_tick, on_t_tick, ST_CONS__TICK_MS, ST_CONS__TICK_MS);
  if (resumed && !c->halted) {
    ST_INFO(c->tag, "resuming height %" PRId64 " at round %d, step %s", c->h, c->r,
            step_name(c->step));
    st_cons__broadcast_roundstep(c);
    resend_own(c);
    if (c->step == ST_CONS__STEP_PROPOSE) {
      st_cons__round_t *rs = st_cons__round_get(c, c->r, true);
      if (rs->proposer == c->self_idx && !rs->proposal)
        do_propose(c);
    }
    st_cons__evaluate(c);
  } else if (!c->halted) {
    ST_INFO(c->tag, "starting at height %" PRId64 "%s", c->h,
            c->self_idx >= 0 ? " as a validator" : "");
    arm(&c->t_commit, c->p.timeout_commit, on_t_commit);
    st_cons__broadcast_roundstep(c);
  }
  return 0;
}

static void on_close(uv_handle_t *h) {
  st_cons_t *c = h->data;
  if (--c->open_handles == 0)
    free(c);
}

void st_cons_free(st_cons_t *c) {
  if (!c || c->closing)
    return;
  c->closing = true;
  c->halted = true;
  st_cons__wal_close(&c->wal);
  st_cons__ss_free(&c->ss);
  height_state_free(c);
  free(c->rounds);
  free(c->blocks);
  free(c->own);
  if (c->last_commit) {
    st_cons__voteset_free(c->last_commit);
    free(c->last_commit);
  }
  st_cons__vset_free(c->vs_last);
  st_cons__vset_free(c->vs_cur);
  st_cons__vset_free(c->vs_next);
  st_cons__vset_free(c->vs_query);
  st_cons__evidence_pool_free(c);
  st_cons__sync_free(c);
  free(c->genesis.v);
  uv_timer_t *ts[] = {&c->t_propose, &c->t_prevote, &c->t_precommit,
                      &c->t_commit, &c->t_tick, &c->t_empty};
  for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
    uv_close((uv_handle_t *)ts[i], on_close);
}

void st_cons_txs_available(st_cons_t *c) {
  if (!c || c->halted)
    return;
  c->txs_avail = true;
  if (c->waiting_txs && c->step == ST_CONS__STEP_PROPOSE) {
    c->waiting_txs = false;
    uv_timer_stop(&c->t_empty);
    enter_propose(c);
    st_cons__evaluate(c);
  }
}

void st_cons_status(st_cons_t *c, st_cons_status_t *out) {
  memset(out, 0, sizeof(*out));
  if (!c)
    return;
  out->height = c->latest;
  memcpy(out->hash, c->last_hash, ST_HASH_LEN);
  memcpy(out->app_hash, c->app_hash, ST_HASH_LEN);
  out->time_ms = c->last_time_ms;
  out->lowest = c->latest > 0 ? 1 : 0;
  out->catching_up = c->catching_up;
  out->round = c->r;
  out->step = c->step;
}

int st_cons_valset_at(st_cons_t *c, int64_t height, const st_cons_valset_t **out) {
  if (!c || !out)
    return ST_EINVAL;
  st_cons__vset_t *v = st_cons__vset_for(c, height);
  if (!v && height == c->h + 2) {
    st_txn_t *txn;
    if (st_txn_begin(c->node->store, false, &txn) == 0) {
      if (st_cons__store_vset(c, txn, height, &v) == 0) {
        st_cons__vset_free(c->vs_query);
        c->vs_query = v;
      }
      st_txn_abort(txn);
    }
  }
  if (!v)
    return ST_ENOENT;
  *out = &v->vs;
  return 0;
}

size_t st_cons_proposer_index(st_cons_t *c, int64_t height, int32_t round) {
  st_cons__vset_t *v = st_cons__vset_for(c, height);
  if (!v || round < 0)
    return 0;
  return st_cons__proposer(v, round);
}
