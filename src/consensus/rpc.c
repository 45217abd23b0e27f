/* The engine's JSON-RPC methods, named as CometBFT names them (with the
 * engine's prefix): block, blockchain, commit, validator_set,
 * consensus_state, evidence.
 *
 * Parameters are named, checked strictly, and heights may be JSON
 * integers or decimal strings. Every read runs in its own LMDB read
 * transaction, and JSON is built from the stored bytes, so an answer is
 * always a consistent picture of one committed height. Hashes are hex,
 * txs and signatures base64, addresses bech32 (stsds1...). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_rpc.h>

#include "consensus/consensus_private.h"

/* ---- parameters ---- */

/* Each query fills *res, or writes a message into err and returns a
 * JSON-RPC error code. */
#define PERR(...) (snprintf(err, cap, __VA_ARGS__), ST_RPC_INVALID_PARAMS)

/* Reads an optional integer parameter: a JSON integer or a decimal
 * string. */
static int int_param(json_t *params, const char *name, int64_t *out, bool *present, char *err,
                     size_t cap) {
  *present = false;
  json_t *v = json_is_object(params) ? json_object_get(params, name) : NULL;
  if (!v || json_is_null(v))
    return 0;
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
    *present = true;
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    bool ok = n > 0 && n <= 18;
    for (size_t i = 0; ok && i < n; i++)
      ok = s[i] >= '0' && s[i] <= '9';
    if (ok) {
      *out = strtoll(s, NULL, 10);
      *present = true;
      return 0;
    }
  }
  return PERR("invalid params: %s must be an integer or a decimal string", name);
}

/* A height parameter: absent means the latest; otherwise 1..latest. */
static int height_param(st_cons_t *c, json_t *params, const char *name, int64_t *h, char *err,
                        size_t cap) {
  bool present;
  int rc = int_param(params, name, h, &present, err, cap);
  if (rc != 0)
    return rc;
  if (!present) {
    *h = c->latest;
    if (c->latest < 1)
      return PERR("no block is committed yet");
    return 0;
  }
  if (*h < 1 || *h > c->latest)
    return PERR("height %" PRId64 " is not available; latest is %" PRId64, *h, c->latest);
  return 0;
}

/* ---- JSON helpers ---- */

static json_t *jhex(const uint8_t *p, size_t n) {
  char buf[2 * 64 + 1];
  if (n > 64)
    n = 64;
  st_hex_encode(p, n, buf, sizeof(buf));
  return json_string(buf);
}


static json_t *jaddr(const uint8_t *a) {
  char s[ST_ADDR_STR_MAX];
  if (st_addr_encode(ST_HRP_NODE, a, s, sizeof(s)) != 0)
    return json_null();
  return json_string(s);
}

static json_t *jtime(int64_t ms) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  char s[64], out[80];
  gmtime_r(&t, &tm);
  strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, sizeof(out), "%s.%03dZ", s, (int)(ms % 1000));
  return json_string(out);
}

static json_t *jblock_id(const uint8_t *hash, size_t n) {
  return json_pack("{s:o}", "hash", n ? jhex(hash, n) : json_string(""));
}

static json_t *jheader(const Stratos__Cons__Header *h) {
  return json_pack(
    "{s:s,s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "chain_id", h->chain_id,
    "height", (json_int_t)h->height, "time", jtime(h->time_ms), "time_ms",
    (json_int_t)h->time_ms, "last_block_id",
    jblock_id(h->last_block_hash.data, h->last_block_hash.len), "last_commit_hash",
    jhex(h->last_commit_hash.data, h->last_commit_hash.len), "data_hash",
    jhex(h->data_hash.data, h->data_hash.len), "validators_hash",
    jhex(h->validators_hash.data, h->validators_hash.len), "next_validators_hash",
    jhex(h->next_validators_hash.data, h->next_validators_hash.len), "app_hash",
    jhex(h->app_hash.data, h->app_hash.len), "last_results_hash",
    jhex(h->last_results_hash.data, h->last_results_hash.len), "evidence_hash",
    jhex(h->evidence_hash.data, h->evidence_hash.len), "proposer_address",
    jaddr(h->proposer.data));
}

static json_t *jcommit(st_cons_t *c, const Stratos__Cons__Commit *cm) {
  json_t *sigs = json_array();
  for (size_t i = 0; cm && i < cm->n_sigs; i++) {
    const Stratos__Cons__CommitSig *s = cm->sigs[i];
    st_cons__vote_t *v;
    const char *why;
    if (st_cons__vote_from_parts(c->chain_id, s->vote_body.data, s->vote_body.len,
                                 s->signature.data, s->signature.len, &v, &why) != 0)
      continue;
    json_array_append_new(sigs, json_pack("{s:o,s:o,s:o,s:I}", "validator_address",
                                          jaddr(v->validator), "signature",
                                          st_rpc_base64(v->sig, ST_SIG_LEN), "timestamp",
                                          jtime(v->time_ms), "timestamp_ms",
                                          (json_int_t)v->time_ms));
    st_cons__vote_free(v);
  }
  if (!cm)
    return json_pack("{s:I,s:i,s:o,s:o}", "height", (json_int_t)0, "round", 0, "block_id",
                     jblock_id(NULL, 0), "signatures", sigs);
  return json_pack("{s:I,s:i,s:o,s:o}", "height", (json_int_t)cm->height, "round",
                   (int)cm->round, "block_id",
                   jblock_id(cm->block_hash.data, cm->block_hash.len), "signatures", sigs);
}

static const char *vote_type_name(int t) {
  return t == STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE ? "prevote" : "precommit";
}

static json_t *jevidence(st_cons_t *c, const Stratos__Cons__Evidence *pb) {
  st_cons__evidence_t *ev;
  const char *why;
  if (st_cons__evidence_from_pb(c->chain_id, pb, &ev, &why) != 0)
    return json_null();
  json_t *j = json_pack(
    "{s:s,s:o,s:I,s:i,s:s,s:o,s:o}", "type", "duplicate_vote", "validator_address",
    jaddr(ev->a->validator), "height", (json_int_t)ev->a->height, "round", (int)ev->a->round,
    "vote_type", vote_type_name(ev->a->type), "block_hash_a",
    ev->a->nil ? json_string("") : jhex(ev->a->hash, ST_HASH_LEN), "block_hash_b",
    ev->b->nil ? json_string("") : jhex(ev->b->hash, ST_HASH_LEN));
  st_cons__evidence_free(ev);
  return j;
}

/* Decodes a stored block (it was checked when stored). */
static st_cons__block_t *load_block(st_cons_t *c, st_txn_t *txn, int64_t h) {
  const void *p;
  size_t n;
  st_cons__block_t *b;
  const char *why;
  if (st_cons__store_block(c, txn, h, &p, &n) != 0)
    return NULL;
  st_cons__limits_t lim = c->lim;
  lim.max_sigs = ST_CONS__MAX_VALIDATORS;
  if (st_cons__block_decode(c->chain_id, p, n, &lim, &b, &why) != 0)
    return NULL;
  return b;
}

static json_t *jblock(st_cons_t *c, const st_cons__block_t *b) {
  json_t *txs = json_array(), *evs = json_array();
  for (size_t i = 0; i < b->pb->n_txs; i++)
    json_array_append_new(txs, st_rpc_base64(b->pb->txs[i].data, b->pb->txs[i].len));
  for (size_t i = 0; i < b->pb->n_evidence; i++)
    json_array_append_new(evs, jevidence(c, b->pb->evidence[i]));
  const Stratos__Cons__Commit *lc = b->pb->last_commit;
  if (lc && lc->n_sigs == 0 && lc->height == 0)
    lc = NULL;
  return json_pack("{s:o,s:{s:o},s:o,s:o}", "header", jheader(b->hdr), "data", "txs", txs,
                   "evidence", evs, "last_commit", jcommit(c, lc));
}

#define IERR(...) (snprintf(err, cap, __VA_ARGS__), ST_RPC_INTERNAL_ERROR)

/* ---- queries ---- */

int st_cons__q_block(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap) {
  static const char *const keys[] = {"height", NULL};
  int64_t h;
  int rc;
  if ((rc = st_rpc_check_params(params, keys, err, cap)) != 0 ||
      (rc = height_param(c, params, "height", &h, err, cap)) != 0)
    return rc;
  st_txn_t *txn;
  if (st_txn_begin(c->node->store, false, &txn) != 0)
    return IERR("cannot read the block store");
  st_cons__block_t *b = load_block(c, txn, h);
  st_txn_abort(txn);
  if (!b)
    return IERR("stored block %" PRId64 " does not decode", h);
  *res = json_pack("{s:o,s:o}", "block_id", jblock_id(b->hash, ST_HASH_LEN), "block",
                   jblock(c, b));
  st_cons__block_free(b);
  return 0;
}

int st_cons__q_blockchain(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap) {
  static const char *const keys[] = {"min_height", "max_height", NULL};
  int64_t lo = 0, hi = 0;
  bool has_lo, has_hi;
  int rc;
  if ((rc = st_rpc_check_params(params, keys, err, cap)) != 0 ||
      (rc = int_param(params, "min_height", &lo, &has_lo, err, cap)) != 0 ||
      (rc = int_param(params, "max_height", &hi, &has_hi, err, cap)) != 0)
    return rc;
  if ((has_lo && lo < 1) || (has_hi && hi < 1))
    return PERR("min_height and max_height must be at least 1");
  if (has_lo && has_hi && lo > hi)
    return PERR("min_height %" PRId64 " is greater than max_height %" PRId64, lo, hi);
  if (!has_hi || hi > c->latest)
    hi = c->latest;
  /* At most 20 metas, the newest first, as CometBFT answers. */
  if (!has_lo || lo < hi - 19)
    lo = hi - 19 > 1 ? hi - 19 : 1;
  json_t *metas = json_array();
  st_txn_t *txn;
  if (c->latest > 0 && st_txn_begin(c->node->store, false, &txn) == 0) {
    for (int64_t h = hi; h >= lo && h >= 1; h--) {
      st_cons__block_t *b = load_block(c, txn, h);
      if (!b)
        continue;
      json_array_append_new(
        metas, json_pack("{s:o,s:I,s:o,s:I}", "block_id", jblock_id(b->hash, ST_HASH_LEN),
                         "block_size", (json_int_t)b->len, "header", jheader(b->hdr),
                         "num_txs", (json_int_t)b->pb->n_txs));
      st_cons__block_free(b);
    }
    st_txn_abort(txn);
  }
  *res = json_pack("{s:I,s:o}", "last_height", (json_int_t)c->latest, "block_metas", metas);
  return 0;
}

int st_cons__q_commit(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap) {
  static const char *const keys[] = {"height", NULL};
  int64_t h;
  int rc;
  if ((rc = st_rpc_check_params(params, keys, err, cap)) != 0 ||
      (rc = height_param(c, params, "height", &h, err, cap)) != 0)
    return rc;
  st_txn_t *txn;
  if (st_txn_begin(c->node->store, false, &txn) != 0)
    return IERR("cannot read the block store");
  /* Below the top, the commit the next block carries is the canonical
   * one; at the top only the one this node saw exists. */
  st_cons__block_t *b = load_block(c, txn, h), *next = NULL;
  Stratos__Cons__Commit *seen = NULL;
  if (h < c->latest) {
    next = load_block(c, txn, h + 1);
  } else {
    const void *p;
    size_t n;
    if (st_cons__store_commit(c, txn, h, &p, &n) == 0)
      seen = stratos__cons__commit__unpack(NULL, n, p);
  }
  st_txn_abort(txn);
  if (!b || (!next && !seen)) {
    st_cons__block_free(b);
    st_cons__block_free(next);
    if (seen)
      stratos__cons__commit__free_unpacked(seen, NULL);
    return IERR("stored block or commit %" PRId64 " does not decode", h);
  }
  json_t *cm = jcommit(c, next ? next->pb->last_commit : seen);
  *res = json_pack("{s:{s:o,s:o},s:b}", "signed_header", "header", jheader(b->hdr), "commit",
                   cm, "canonical", next != NULL);
  if (seen)
    stratos__cons__commit__free_unpacked(seen, NULL);
  st_cons__block_free(b);
  st_cons__block_free(next);
  return 0;
}

static int page_params(json_t *params, size_t total, size_t *first, size_t *count, char *err,
                       size_t cap) {
  int64_t page = 1, per = 30;
  bool hp, hpp;
  int rc;
  if ((rc = int_param(params, "page", &page, &hp, err, cap)) != 0 ||
      (rc = int_param(params, "per_page", &per, &hpp, err, cap)) != 0)
    return rc;
  if (!hp)
    page = 1;
  if (!hpp)
    per = 30;
  if (per < 1 || per > 100)
    return PERR("per_page must be between 1 and 100");
  int64_t pages = total == 0 ? 1 : (int64_t)((total + (size_t)per - 1) / (size_t)per);
  if (page < 1 || page > pages)
    return PERR("page %" PRId64 " is out of range; there %s %" PRId64 " page%s", page,
                pages == 1 ? "is" : "are", pages, pages == 1 ? "" : "s");
  *first = (size_t)((page - 1) * per);
  *count = (size_t)per;
  return 0;
}

int st_cons__q_validators(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap) {
  static const char *const keys[] = {"height", "page", "per_page", NULL};
  int64_t h = 0;
  bool present;
  int rc;
  if ((rc = st_rpc_check_params(params, keys, err, cap)) != 0 ||
      (rc = int_param(params, "height", &h, &present, err, cap)) != 0)
    return rc;
  if (!present)
    h = c->latest > 0 ? c->latest : 1;
  if (h < 1 || h > c->latest + 1)
    return PERR("height %" PRId64 " is not available; latest is %" PRId64, h, c->latest);
  st_cons__vset_t *v = st_cons__vset_for(c, h);
  if (!v)
    return IERR("cannot read the validator set of height %" PRId64, h);
  size_t first, count;
  if ((rc = page_params(params, v->vs.n, &first, &count, err, cap)) != 0)
    return rc;
  json_t *vals = json_array();
  for (size_t i = first; i < v->vs.n && i < first + count; i++)
    json_array_append_new(
      vals, json_pack("{s:o,s:o,s:I,s:I}", "address", jaddr(v->vs.v[i].addr), "pub_key",
                      jhex(v->vs.v[i].pubkey, ST_PUBKEY_LEN), "voting_power",
                      (json_int_t)v->vs.v[i].power, "proposer_priority",
                      (json_int_t)v->prio[i]));
  *res = json_pack("{s:I,s:o,s:I,s:I}", "block_height", (json_int_t)h, "validators", vals,
                   "count", (json_int_t)json_array_size(vals), "total", (json_int_t)v->vs.n);
  return 0;
}

static json_t *jvoteset(const st_cons__voteset_t *s) {
  size_t n = 0;
  for (size_t i = 0; i < s->vs->vs.n; i++)
    n += s->votes[i] != NULL;
  bool nil;
  uint8_t h[ST_HASH_LEN];
  json_t *maj = json_null();
  if (st_cons__voteset_majority(s, &nil, h))
    maj = nil ? json_string("nil") : jhex(h, ST_HASH_LEN);
  return json_pack("{s:I,s:I,s:I,s:o}", "count", (json_int_t)n, "power", (json_int_t)s->sum,
                   "total", (json_int_t)s->vs->total, "two_thirds_majority", maj);
}

static const char *step_str(int s) {
  static const char *const n[] = {"newheight", "propose", "prevote", "precommit"};
  if (s >= 0 && s <= 3)
    return n[s];
  return s == ST_CONS__STEP_HALTED ? "halted" : "unknown";
}

int st_cons__q_consensus_state(st_cons_t *c, json_t *params, json_t **res, char *err,
                               size_t cap) {
  static const char *const keys[] = {NULL};
  int rc = st_rpc_check_params(params, keys, err, cap);
  if (rc != 0)
    return rc;
  json_t *rounds = json_array();
  for (size_t i = 0; i < c->nrounds; i++) {
    const st_cons__round_t *rs = c->rounds[i];
    json_array_append_new(rounds,
                          json_pack("{s:i,s:o,s:o,s:o}", "round", (int)rs->round, "prevotes",
                                    jvoteset(&rs->prevotes), "precommits",
                                    jvoteset(&rs->precommits), "proposal",
                                    rs->proposal ? jhex(rs->proposal->hash, ST_HASH_LEN)
                                                 : json_null()));
  }
  json_t *proposer = json_null();
  if (c->vs_cur && c->started && !c->halted) {
    size_t idx = st_cons__proposer(c->vs_cur, c->r);
    proposer = json_pack("{s:o,s:I}", "address", jaddr(c->vs_cur->vs.v[idx].addr), "index",
                         (json_int_t)idx);
  }
  json_t *rs = json_pack(
    "{s:I,s:i,s:s,s:i,s:i,s:o,s:i,s:o,s:o,s:o,s:b,s:b,s:I}", "height", (json_int_t)c->h,
    "round", (int)c->r, "step", step_str(c->step), "step_id", c->step, "locked_round",
    (int)c->locked_round, "locked_block_hash",
    c->locked ? jhex(c->locked->hash, ST_HASH_LEN) : json_null(), "valid_round",
    (int)c->valid_round, "valid_block_hash",
    c->validb ? jhex(c->validb->hash, ST_HASH_LEN) : json_null(), "proposer", proposer,
    "height_vote_set", rounds, "catching_up", c->catching_up, "halted", c->halted,
    "latest_height", (json_int_t)c->latest);
  *res = json_pack("{s:o}", "round_state", rs);
  return 0;
}

typedef struct ev_scan {
  st_cons_t *c;
  size_t skip, take, total;
  json_t *arr;
} ev_scan_t;

static int ev_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud) {
  ev_scan_t *s = ud;
  const uint8_t *k = key, *v = val;
  if (klen != 1 + ST_ADDR_LEN + 13 || vlen < 24)
    return 0;
  s->total++;
  if (s->total <= s->skip || json_array_size(s->arr) >= s->take)
    return 0;
  const uint8_t *kk = k + 1;
  json_array_append_new(
    s->arr,
    json_pack("{s:s,s:o,s:I,s:i,s:s,s:I,s:o,s:I,s:I}", "type", "duplicate_vote",
              "validator_address", jaddr(kk), "height",
              (json_int_t)st_cons__rd64(kk + ST_ADDR_LEN), "round",
              (int)st_cons__rd32(kk + ST_ADDR_LEN + 8), "vote_type",
              vote_type_name(kk[ST_ADDR_LEN + 12]), "committed_height",
              (json_int_t)st_cons__rd64(v), "time", jtime((int64_t)st_cons__rd64(v + 8)),
              "time_ms", (json_int_t)st_cons__rd64(v + 8), "power",
              (json_int_t)st_cons__rd64(v + 16)));
  return 0;
}

int st_cons__q_evidence(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap) {
  static const char *const keys[] = {"page", "per_page", NULL};
  int rc = st_rpc_check_params(params, keys, err, cap);
  if (rc != 0)
    return rc;
  ev_scan_t s = {.c = c};
  st_txn_t *txn;
  if (st_txn_begin(c->node->store, false, &txn) != 0)
    return IERR("cannot read the state");
  /* A first pass counts, so that the page can be checked. */
  s.arr = json_array();
  st_kv_scan(txn, c->db_state, "E", 1, NULL, 0, ev_cb, &s);
  size_t first, count;
  if ((rc = page_params(params, s.total, &first, &count, err, cap)) != 0) {
    st_txn_abort(txn);
    json_decref(s.arr);
    return rc;
  }
  s.total = 0;
  s.skip = first;
  s.take = count;
  st_kv_scan(txn, c->db_state, "E", 1, NULL, 0, ev_cb, &s);
  st_txn_abort(txn);
  json_t *pending = json_array();
  for (size_t i = 0; i < c->pool.n; i++) {
    Stratos__Cons__Evidence *pb =
      stratos__cons__evidence__unpack(NULL, c->pool.ev[i]->len, c->pool.ev[i]->bytes);
    if (pb) {
      json_array_append_new(pending, jevidence(c, pb));
      stratos__cons__evidence__free_unpacked(pb, NULL);
    }
  }
  *res = json_pack("{s:o,s:I,s:I,s:o}", "evidence", s.arr, "count",
                   (json_int_t)json_array_size(s.arr), "total", (json_int_t)s.total, "pending",
                   pending);
  return 0;
}

/* ---- methods ---- */

typedef int (*query_fn)(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap);

static void answer(st_rpc_call_t *call, json_t *params, void *ud, query_fn q) {
  char err[256] = "";
  json_t *res = NULL;
  int code = q(ud, params, &res, err, sizeof(err));
  if (code == 0)
    st_rpc_result(call, res);
  else
    st_rpc_error(call, code, err, NULL);
}

#define METHOD(n)                                                                          \
  static void m_##n(st_rpc_call_t *call, json_t *params, void *ud) {                       \
    answer(call, params, ud, st_cons__q_##n);                                              \
  }
METHOD(block)
METHOD(blockchain)
METHOD(commit)
METHOD(validators)
METHOD(consensus_state)
METHOD(evidence)
#undef METHOD

void st_cons__rpc_register(st_cons_t *c) {
  static const struct {
    const char *name;
    st_rpc_method_fn fn;
  } m[] = {
    {"block", m_block},         {"blockchain", m_blockchain},
    {"commit", m_commit},       {"validator_set", m_validators},
    {"consensus_state", m_consensus_state}, {"evidence", m_evidence},
  };
  for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
    char name[96];
    snprintf(name, sizeof(name), "%s%s", c->prefix, m[i].name);
    st_rpc_register(c->node->rpc, name, m[i].fn, c);
  }
}
