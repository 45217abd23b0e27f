/* Governance: proposals to change parameters, their deposits, the votes
 * on them and the tally when their voting period ends.
 *
 * A proposal is stored as canonical JSON (sorted keys, compact) under
 * ST_K_GOV_PROP|id, so that the queries hand it out as it is and every
 * node writes the same bytes. Deposits and votes are records of their
 * own, so a deposit or a vote rewrites only its record and the proposal.
 *
 * Deposits wait in the "gov" module account until the proposal is
 * decided. They go back to their depositors when it passes, cannot be
 * applied, misses its quorum or is outvoted, and to the community pool
 * when it expires short of the minimum deposit or is vetoed: governance
 * never burns a wei.
 *
 * Votes are weighed by bonded stake when the voting period ends, not
 * when they are cast: a voter's vote counts its delegations to bonded
 * validators, and a bonded validator's operator's vote counts every
 * share of that validator whose delegator did not vote. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include "chain/mods.h"
#include "tx.pb-c.h"

#define U128_MAX (~(st_u128)0)
#define ID_KEY_LEN 9                    /* kind id(8) */
#define ADDR_KEY_LEN (9 + ST_ADDR_LEN)  /* kind id(8) address(20) */
#define QUEUE_KEY_LEN 17                /* kind time(8) id(8) */
#define DEL_KEY_LEN (1 + 2 * ST_ADDR_LEN)

/* Vote options as MsgVote numbers them; tallies are indexed option - 1. */
enum { OPT_YES = 1, OPT_ABSTAIN = 2, OPT_NO = 3, OPT_VETO = 4 };

static const char *const tally_names[4] = {"yes", "abstain", "no", "no_with_veto"};

/* The params sections a proposal may change; "consensus" is left out on
 * purpose: the engine reads those once, at start. */
static const char *const sections[] = {"auth", "mempool",  "staking", "slashing", "distribution",
                                       "gov",  "register", "sds",     "traffic"};

/* ---- keys ---- */

static size_t id_key(uint8_t *k, uint8_t kind, uint64_t id) {
  k[0] = kind;
  st_chain__be64(k + 1, id);
  return ID_KEY_LEN;
}

static size_t addr_key(uint8_t *k, uint8_t kind, uint64_t id, const uint8_t a[ST_ADDR_LEN]) {
  id_key(k, kind, id);
  memcpy(k + ID_KEY_LEN, a, ST_ADDR_LEN);
  return ADDR_KEY_LEN;
}

static size_t queue_key(uint8_t *k, uint8_t kind, int64_t t, uint64_t id) {
  k[0] = kind;
  st_chain__be64(k + 1, (uint64_t)t);
  st_chain__be64(k + 9, id);
  return QUEUE_KEY_LEN;
}

/* t + d, held at INT64_MAX: a period only the far future ends. */
static int64_t later(int64_t t, int64_t d) {
  return d > INT64_MAX - t ? INT64_MAX : t + d;
}

/* ---- scans ----
 * The overlay must not change while a scan runs, nor even be read (a
 * read caches an entry and may move the ones the scan walks), so scans
 * only copy what they see; the work happens after. */

/* Copies the records of prefix (st_chain__ov_collect). */
static int collect(st_chain__ctx_t *c, const uint8_t *prefix, size_t plen,
                   st_chain__recs_t *l) {
  return st_chain__ov_collect(c->ov, ST_CHAIN__SP_STATE, prefix, plen, ST_CHAIN__NOT_DUE, 0, l);
}

/* ---- the proposal record ---- */

static int64_t jint(json_t *o, const char *k) {
  return (int64_t)json_integer_value(json_object_get(o, k));
}

static const char *jstr(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

static int jget_u128(json_t *o, const char *k, st_u128 *out) {
  const char *s = json_string_value(json_object_get(o, k));
  return s && st_u128_parse(s, out) == 0 ? 0 : ST_ECORRUPT;
}

static int jset(json_t *o, const char *k, json_t *v) {
  return json_object_set_new(o, k, v) == 0 ? 0 : ST_ENOMEM;
}

static int jset_u128(json_t *o, const char *k, st_u128 v) {
  char s[ST_U128_STR_MAX];
  st_u128_format(v, s);
  return jset(o, k, json_string(s));
}

int st_chain__gov_get(st_chain__ctx_t *c, uint64_t id, json_t **prop) {
  uint8_t k[ID_KEY_LEN];
  const uint8_t *v;
  size_t n;
  *prop = NULL;
  int rc = st_chain__ov_read(c->ov, ST_CHAIN__SP_STATE, k, id_key(k, ST_K_GOV_PROP, id), &v,
                             &n);
  if (rc != 0)
    return rc;
  json_t *j = json_loadb((const char *)v, n, 0, NULL);
  if (!json_is_object(j)) {
    json_decref(j);
    return ST_ECORRUPT;
  }
  *prop = j;
  return 0;
}

static int prop_put(st_chain__ctx_t *c, uint64_t id, json_t *prop) {
  uint8_t k[ID_KEY_LEN];
  char *s = json_dumps(prop, JSON_COMPACT | JSON_SORT_KEYS);
  if (!s)
    return ST_ENOMEM;
  int rc = st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, k, id_key(k, ST_K_GOV_PROP, id), s,
                              strlen(s));
  free(s);
  return rc;
}

/* A proposal named by a tx: a missing one is the sender's mistake. */
static int prop_open(st_chain__ctx_t *c, uint64_t id, json_t **prop) {
  int rc = st_chain__gov_get(c, id, prop);
  if (rc == ST_ENOENT)
    return st_chain__refuse(c, ST_ENOENT, "unknown proposal %llu", (unsigned long long)id);
  return rc;
}

/* A proposal named by a queue key: it must be there. */
static int prop_due(st_chain__ctx_t *c, uint64_t id, json_t **prop) {
  int rc = st_chain__gov_get(c, id, prop);
  return rc == ST_ENOENT ? ST_ECORRUPT : rc;
}

/* ---- parameter changes ---- */

static int say(char *err, size_t cap, int code, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

static int say(char *err, size_t cap, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
  return code;
}

static bool known_section(const char *s) {
  for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
    if (strcmp(s, sections[i]) == 0)
      return true;
  return false;
}

/* Sets change i (keys[i] = vals[i], JSON text) in all, the JSON of every
 * parameter. Earlier keys are there to catch one named twice. */
static int change_set(json_t *all, const char *const *keys, const char *const *vals, size_t i,
                      char *err, size_t cap) {
  const char *key = keys[i], *dot = strchr(key, '.');
  char sec[ST_CHAIN__KEY_MAX];
  size_t sl = dot ? (size_t)(dot - key) : 0;
  if (!dot || sl == 0 || sl >= sizeof(sec) || !dot[1])
    return say(err, cap, ST_EINVAL, "parameter key %s must be <section>.<name>", key);
  memcpy(sec, key, sl);
  sec[sl] = '\0';
  if (strcmp(sec, "consensus") == 0)
    return say(err, cap, ST_EPERM, "consensus parameters are fixed at genesis");
  /* Two more are read once: the mempool's cache is sized at start, and
   * the downtime bitmaps are laid out by the window. */
  if (strcmp(key, "mempool.cache_size") == 0 || strcmp(key, "slashing.signed_blocks_window") == 0)
    return say(err, cap, ST_EPERM, "%s is fixed at genesis", key);
  if (!known_section(sec))
    return say(err, cap, ST_EINVAL, "unknown parameter section %s", sec);
  for (size_t j = 0; j < i; j++)
    if (strcmp(keys[j], key) == 0)
      return say(err, cap, ST_EINVAL, "parameter %s is changed twice", key);
  json_t *s = json_object_get(all, sec);
  if (!json_is_object(s) || !json_object_get(s, dot + 1))
    return say(err, cap, ST_EINVAL, "unknown parameter %s", key);
  /* jansson's own error text is left out: the log is part of the tx
   * result every node must agree on, whatever library version it runs. */
  json_error_t e;
  json_t *v = json_loads(vals[i], JSON_DECODE_ANY, &e);
  if (!v)
    return say(err, cap, ST_EINVAL, "value of %s is not JSON", key);
  return jset(s, dot + 1, v);
}

/* Applies n changes over base and parses the whole result into out, so
 * that a change set is judged as a whole (bounds tie fields together).
 * ST_ENOMEM is an error; any other code is a refusal with a sentence in
 * err. */
static int changes_apply(const st_chain__params_t *base, const char *const *keys,
                         const char *const *vals, size_t n, st_chain__params_t *out,
                         char *err, size_t cap) {
  json_t *all = st_chain__params_json(base);
  int rc = 0;
  if (!all)
    return ST_ENOMEM;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = change_set(all, keys, vals, i, err, cap);
  if (rc == 0) {
    err[0] = '\0';
    if (st_chain__params_parse(all, base, out, err, cap) != 0) {
      if (!err[0])
        say(err, cap, ST_EINVAL, "the changed parameters do not parse");
      rc = ST_EINVAL;
    }
  }
  json_decref(all);
  return rc;
}

/* ---- deposits ---- */

/* Adds amount to depositor's record of proposal id. */
static int dep_add(st_chain__ctx_t *c, uint64_t id, const uint8_t who[ST_ADDR_LEN],
                   st_u128 amount) {
  uint8_t k[ADDR_KEY_LEN], v[16];
  const uint8_t *p;
  size_t n;
  st_u128 have = 0;
  int rc = st_chain__ov_read(c->ov, ST_CHAIN__SP_STATE, k,
                             addr_key(k, ST_K_GOV_DEP, id, who), &p, &n);
  if (rc == 0 && n != 16)
    return ST_ECORRUPT;
  if (rc == 0)
    have = st_chain__get128(p);
  else if (rc != ST_ENOENT)
    return rc;
  if (have > U128_MAX - amount)
    return st_chain__refuse(c, ST_ERANGE, "deposit would overflow 128 bits");
  st_chain__put128(v, have + amount);
  return st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, k, ADDR_KEY_LEN, v, sizeof(v));
}

/* Pays the deposits of proposal id back to their depositors (refund) or
 * to the community pool, and deletes their records. */
static int deps_settle(st_chain__ctx_t *c, uint64_t id, bool refund) {
  uint8_t pre[ID_KEY_LEN];
  st_chain__recs_t l;
  int rc = collect(c, pre, id_key(pre, ST_K_GOV_DEP, id), &l);
  for (size_t i = 0; i < l.n && rc == 0; i++) {
    const st_chain__rec_t *it = &l.v[i];
    if (it->klen != ADDR_KEY_LEN || it->vlen != 16) {
      rc = ST_ECORRUPT;
      break;
    }
    const uint8_t *to = refund ? it->key + ID_KEY_LEN : st_chain__macc(ST_MACC_COMMUNITY);
    rc = st_chain__xfer(c, st_chain__macc(ST_MACC_GOV), to, st_chain__get128(it->val));
    if (rc == ST_EPERM)
      rc = ST_ECORRUPT; /* the gov account holds less than its records say */
    if (rc == 0)
      rc = st_chain__ov_del(c->ov, ST_CHAIN__SP_STATE, it->key, it->klen);
  }
  st_chain__recs_free(&l);
  return rc;
}

/* Deletes every record of the given kind keyed by proposal id first. */
static int records_del(st_chain__ctx_t *c, uint8_t kind, uint64_t id) {
  uint8_t pre[ID_KEY_LEN];
  st_chain__recs_t l;
  int rc = collect(c, pre, id_key(pre, kind, id), &l);
  for (size_t i = 0; i < l.n && rc == 0; i++)
    rc = st_chain__ov_del(c->ov, ST_CHAIN__SP_STATE, l.v[i].key, l.v[i].klen);
  st_chain__recs_free(&l);
  return rc;
}

/* ---- the messages ---- */

/* Starts the voting period of proposal id now. */
static int voting_open(st_chain__ctx_t *c, uint64_t id, json_t *prop) {
  uint8_t k[QUEUE_KEY_LEN];
  int64_t end = later(c->time_ms, c->p->voting_period_ms);
  int rc;
  if ((rc = jset(prop, "status", json_string("voting"))) != 0 ||
      (rc = jset(prop, "voting_start_ms", json_integer(c->time_ms))) != 0 ||
      (rc = jset(prop, "voting_end_ms", json_integer(end))) != 0)
    return rc;
  return st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, k,
                            queue_key(k, ST_K_GOV_QVOTE, end, id), "", 0);
}

/* The new proposal's record, in its deposit period; desc is stolen. */
static json_t *prop_new(st_chain__ctx_t *c, uint64_t id, const uint8_t sender[ST_ADDR_LEN],
                        const Stratos__Tx__MsgSubmitProposal *m, json_t *desc,
                        st_u128 deposit) {
  char who[ST_ADDR_STR_MAX], dep[ST_U128_STR_MAX];
  json_t *changes = json_array();
  if (!changes || st_addr_encode(ST_HRP_WALLET, sender, who, sizeof(who)) != 0) {
    json_decref(changes);
    json_decref(desc);
    return NULL;
  }
  for (size_t i = 0; i < m->n_changes; i++) {
    json_t *ch = json_pack("{s:s,s:s}", "key", m->changes[i]->key, "value",
                           m->changes[i]->value);
    if (json_array_append_new(changes, ch) != 0) {
      json_decref(changes);
      json_decref(desc);
      return NULL;
    }
  }
  st_u128_format(deposit, dep);
  return json_pack("{s:I,s:s,s:o,s:o,s:s,s:s,s:I,s:I,s:s,s:I,s:I,s:{s:s,s:s,s:s,s:s},s:s}",
                   "id", (json_int_t)id, "title", m->title, "description", desc, "changes",
                   changes, "proposer", who, "status", "deposit", "submit_time_ms",
                   (json_int_t)c->time_ms, "deposit_end_ms",
                   (json_int_t)later(c->time_ms, c->p->max_deposit_period_ms),
                   "total_deposit", dep, "voting_start_ms", (json_int_t)0, "voting_end_ms",
                   (json_int_t)0, "tally", "yes", "0", "abstain", "0", "no", "0",
                   "no_with_veto", "0", "result", "");
}

static int submit(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                  const Stratos__Tx__MsgSubmitProposal *m) {
  const char *keys[ST_PROPOSAL_CHANGES_MAX], *vals[ST_PROPOSAL_CHANGES_MAX];
  char err[ST_CHAIN__LOG_MAX];
  st_chain__params_t tmp;
  st_u128 deposit;
  uint64_t seq;
  int rc;
  /* Everything that can refuse comes before the first write. */
  if (m->n_changes == 0 || m->n_changes > ST_PROPOSAL_CHANGES_MAX)
    return st_chain__refuse(c, ST_EINVAL, "a proposal changes 1 to %d parameters, not %zu",
                            ST_PROPOSAL_CHANGES_MAX, m->n_changes);
  for (size_t i = 0; i < m->n_changes; i++) {
    keys[i] = m->changes[i]->key;
    vals[i] = m->changes[i]->value;
  }
  rc = changes_apply(c->p, keys, vals, m->n_changes, &tmp, err, sizeof(err));
  if (rc == ST_ENOMEM)
    return rc;
  if (rc != 0)
    return st_chain__refuse(c, rc, "%s", err);
  if (st_u128_parse(m->deposit, &deposit) != 0)
    return st_chain__refuse(c, ST_EINVAL, "deposit must be a decimal number of wei");
  /* protobuf-c does not check that strings are UTF-8; JSON needs them to be. */
  json_t *desc = json_string(m->description);
  if (!desc)
    return st_chain__refuse(c, ST_EINVAL, "description must be UTF-8 text");

  if ((rc = st_chain__counter_next(c, "proposal", &seq)) != 0) {
    json_decref(desc);
    return rc;
  }
  uint64_t id = seq + 1;
  json_t *prop = prop_new(c, id, sender, m, desc, deposit);
  if (!prop)
    return ST_ENOMEM;
  if ((rc = st_chain__xfer(c, sender, st_chain__macc(ST_MACC_GOV), deposit)) == 0 &&
      deposit != 0)
    rc = dep_add(c, id, sender, deposit);
  if (rc == 0) {
    if (deposit >= c->p->min_deposit) {
      rc = voting_open(c, id, prop);
    } else {
      uint8_t k[QUEUE_KEY_LEN];
      rc = st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, k,
                              queue_key(k, ST_K_GOV_QDEP, jint(prop, "deposit_end_ms"), id),
                              "", 0);
    }
  }
  if (rc == 0)
    rc = prop_put(c, id, prop);
  json_decref(prop);
  return rc;
}

static int deposit(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                   const Stratos__Tx__MsgDeposit *m) {
  uint64_t id = m->proposal_id;
  st_u128 amount, total;
  json_t *prop;
  int rc = prop_open(c, id, &prop);
  if (rc != 0)
    return rc;
  bool in_deposit = strcmp(jstr(prop, "status"), "deposit") == 0;
  if (!in_deposit && strcmp(jstr(prop, "status"), "voting") != 0) {
    rc = st_chain__refuse(c, ST_EPERM, "proposal %llu is %s, deposits are closed",
                          (unsigned long long)id, jstr(prop, "status"));
    goto out;
  }
  if (st_u128_parse(m->amount, &amount) != 0 || amount == 0) {
    rc = st_chain__refuse(c, ST_EINVAL, "amount must be a positive number of wei");
    goto out;
  }
  if ((rc = jget_u128(prop, "total_deposit", &total)) != 0)
    goto out;
  if (total > U128_MAX - amount) {
    rc = st_chain__refuse(c, ST_ERANGE, "total deposit would overflow 128 bits");
    goto out;
  }
  total += amount;
  if ((rc = st_chain__xfer(c, sender, st_chain__macc(ST_MACC_GOV), amount)) != 0 ||
      (rc = dep_add(c, id, sender, amount)) != 0 ||
      (rc = jset_u128(prop, "total_deposit", total)) != 0)
    goto out;
  if (in_deposit && total >= c->p->min_deposit) {
    uint8_t k[QUEUE_KEY_LEN];
    rc = st_chain__ov_del(c->ov, ST_CHAIN__SP_STATE, k,
                          queue_key(k, ST_K_GOV_QDEP, jint(prop, "deposit_end_ms"), id));
    if (rc == 0)
      rc = voting_open(c, id, prop);
  }
  if (rc == 0)
    rc = prop_put(c, id, prop);
out:
  json_decref(prop);
  return rc;
}

static int vote(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                const Stratos__Tx__MsgVote *m) {
  uint64_t id = m->proposal_id;
  uint8_t k[ADDR_KEY_LEN], opt;
  json_t *prop;
  if (m->option < OPT_YES || m->option > OPT_VETO)
    return st_chain__refuse(c, ST_EINVAL,
                            "vote option must be 1 (yes), 2 (abstain), 3 (no) or 4 (no with veto)");
  int rc = prop_open(c, id, &prop);
  if (rc != 0)
    return rc;
  const char *status = jstr(prop, "status");
  if (strcmp(status, "deposit") == 0)
    rc = st_chain__refuse(c, ST_EPERM,
                          "proposal %llu is in its deposit period, voting has not started",
                          (unsigned long long)id);
  else if (strcmp(status, "voting") != 0)
    rc = st_chain__refuse(c, ST_EPERM, "proposal %llu is %s, voting is closed",
                          (unsigned long long)id, status);
  json_decref(prop);
  if (rc != 0)
    return rc;
  /* One record per voter: voting again replaces the earlier vote. */
  opt = (uint8_t)m->option;
  return st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, k,
                            addr_key(k, ST_K_GOV_VOTE, id, sender), &opt, 1);
}

int st_chain__gov_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                       const struct Stratos__Tx__TxBody *body) {
  switch (body->msg_case) {
  case STRATOS__TX__TX_BODY__MSG_SUBMIT_PROPOSAL:
    return submit(c, sender, body->submit_proposal);
  case STRATOS__TX__TX_BODY__MSG_DEPOSIT:
    return deposit(c, sender, body->deposit);
  case STRATOS__TX__TX_BODY__MSG_VOTE:
    return vote(c, sender, body->vote);
  default:
    return st_chain__refuse(c, ST_EINVAL, "not a governance message");
  }
}

/* ---- the tally ---- */

/* A bonded validator as the tally sees it. */
typedef struct bval {
  uint8_t op[ST_ADDR_LEN];
  st_u128 tokens, shares;
  st_u128 deducted; /* shares whose delegators voted themselves */
  int vote;         /* its operator's option, 0 when the operator did not vote */
} bval_t;

static int bval_cmp(const void *key, const void *elem) {
  return memcmp(key, ((const bval_t *)elem)->op, ST_ADDR_LEN);
}

static bval_t *bval_find(bval_t *v, size_t n, const uint8_t op[ST_ADDR_LEN]) {
  return n ? bsearch(op, v, n, sizeof(*v), bval_cmp) : NULL;
}

/* The bonded set, sorted by operator (the order of its keys). */
static int bonded_load(st_chain__ctx_t *c, bval_t **out, size_t *nout) {
  uint8_t pre = ST_K_VAL_LAST;
  st_chain__recs_t l;
  bval_t *v = NULL;
  *out = NULL;
  *nout = 0;
  int rc = collect(c, &pre, 1, &l);
  if (rc == 0 && l.n && !(v = calloc(l.n, sizeof(*v))))
    rc = ST_ENOMEM;
  for (size_t i = 0; i < l.n && rc == 0; i++) {
    st_val_t val;
    if (l.v[i].klen != 1 + ST_ADDR_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    if ((rc = st_chain__val_get(c, l.v[i].key + 1, &val)) != 0) {
      if (rc == ST_ENOENT)
        rc = ST_ECORRUPT; /* a bonded operator without its validator */
      break;
    }
    memcpy(v[i].op, val.operator_, ST_ADDR_LEN);
    v[i].tokens = val.tokens;
    v[i].shares = val.shares;
  }
  size_t n = l.n;
  st_chain__recs_free(&l);
  if (rc != 0) {
    free(v);
    return rc;
  }
  *out = v;
  *nout = n;
  return 0;
}

/* Adds the tokens of shares of v to *sum (rounded down). */
static int add_tokens(st_u128 *sum, const bval_t *v, st_u128 shares) {
  st_u128 t;
  if (shares == 0 || v->shares == 0)
    return 0;
  int rc = st_u128_muldiv(shares, v->tokens, v->shares, &t);
  if (rc != 0)
    return rc;
  if (*sum > U128_MAX - t)
    return ST_ERANGE;
  *sum += t;
  return 0;
}

/* Counts one vote record: the voter's delegations to bonded validators go
 * to its option and are taken out of what those validators vote with. */
static int tally_voter(st_chain__ctx_t *c, bval_t *vals, size_t nv, const st_chain__rec_t *vt,
                       st_u128 out[4]) {
  uint8_t pre[1 + ST_ADDR_LEN];
  st_chain__recs_t dels;
  if (vt->klen != ADDR_KEY_LEN || vt->vlen != 1 || vt->val[0] < OPT_YES ||
      vt->val[0] > OPT_VETO)
    return ST_ECORRUPT;
  int opt = vt->val[0];
  const uint8_t *voter = vt->key + ID_KEY_LEN;
  bval_t *own = bval_find(vals, nv, voter);
  if (own)
    own->vote = opt;
  int rc = collect(c, pre, st_chain__k1(pre, ST_K_DEL, voter), &dels);
  for (size_t i = 0; i < dels.n && rc == 0; i++) {
    const st_chain__rec_t *d = &dels.v[i];
    if (d->klen != DEL_KEY_LEN || d->vlen != 16) {
      rc = ST_ECORRUPT;
      break;
    }
    bval_t *v = bval_find(vals, nv, d->key + 1 + ST_ADDR_LEN);
    if (!v)
      continue; /* stake that is not bonded does not vote */
    st_u128 shares = st_chain__get128(d->val);
    if (shares > v->shares - v->deducted) {
      rc = ST_ECORRUPT;
      break;
    }
    v->deducted += shares;
    rc = add_tokens(&out[opt - 1], v, shares);
  }
  st_chain__recs_free(&dels);
  return rc;
}

int st_chain__gov_tally(st_chain__ctx_t *c, uint64_t id, st_u128 out[4], st_u128 *bonded) {
  uint8_t pre[ID_KEY_LEN];
  bval_t *vals;
  size_t nv;
  st_chain__recs_t votes = {0};
  memset(out, 0, 4 * sizeof(*out));
  *bonded = 0;
  int rc = bonded_load(c, &vals, &nv);
  if (rc != 0)
    return rc;
  rc = collect(c, pre, id_key(pre, ST_K_GOV_VOTE, id), &votes);
  for (size_t i = 0; i < votes.n && rc == 0; i++)
    rc = tally_voter(c, vals, nv, &votes.v[i], out);
  /* What is left of a validator votes with its operator; the rest of a
   * validator whose operator did not vote stays silent. */
  for (size_t i = 0; i < nv && rc == 0; i++) {
    if (*bonded > U128_MAX - vals[i].tokens) {
      rc = ST_ERANGE;
      break;
    }
    *bonded += vals[i].tokens;
    if (vals[i].vote)
      rc = add_tokens(&out[vals[i].vote - 1], &vals[i], vals[i].shares - vals[i].deducted);
  }
  st_chain__recs_free(&votes);
  free(vals);
  return rc;
}

/* ---- end of block ---- */

enum { V_NO_QUORUM, V_VETO, V_REJECT, V_PASS };

/* The outcome of a tally t over bonded tokens. Each rule compares
 * a * 1e18 with fraction * b exactly, through a rounded quotient: for an
 * integer a, a >= ceil(f*b/1e18) and a > floor(f*b/1e18) are the same
 * tests. A quotient that does not fit 128 bits is beyond any amount. */
static int verdict(const st_chain__params_t *p, const st_u128 t[4], st_u128 bonded) {
  st_u128 voted = t[0] + t[1] + t[2] + t[3]; /* at most bonded: no overflow */
  st_u128 lim;
  if (bonded == 0 || st_u128_muldiv_up(p->quorum, bonded, ST_DEC_ONE, &lim) != 0 ||
      voted < lim)
    return V_NO_QUORUM;
  if (st_u128_muldiv(p->veto_threshold, voted, ST_DEC_ONE, &lim) == 0 && t[3] > lim)
    return V_VETO;
  st_u128 counted = voted - t[1];
  if (counted == 0)
    return V_REJECT;
  if (st_u128_muldiv(p->threshold, counted, ST_DEC_ONE, &lim) == 0 && t[0] > lim)
    return V_PASS;
  return V_REJECT;
}

/* Applies the changes of a passed proposal onto the params record as it
 * is now (earlier proposals of this block included). Returns 0 when
 * stored, 1 when they no longer apply (err says why), < 0 on error. */
static int changes_store(st_chain__ctx_t *c, json_t *prop, char *err, size_t cap) {
  const char *keys[ST_PROPOSAL_CHANGES_MAX], *vals[ST_PROPOSAL_CHANGES_MAX];
  st_chain__params_t cur, next;
  json_t *ch = json_object_get(prop, "changes");
  size_t n = json_array_size(ch);
  if (n == 0 || n > ST_PROPOSAL_CHANGES_MAX)
    return ST_ECORRUPT;
  for (size_t i = 0; i < n; i++) {
    keys[i] = json_string_value(json_object_get(json_array_get(ch, i), "key"));
    vals[i] = json_string_value(json_object_get(json_array_get(ch, i), "value"));
    if (!keys[i] || !vals[i])
      return ST_ECORRUPT;
  }
  int rc = st_chain__params_load(c, c->p, &cur);
  if (rc != 0)
    return rc;
  rc = changes_apply(&cur, keys, vals, n, &next, err, cap);
  if (rc == ST_ENOMEM)
    return rc;
  if (rc != 0)
    return 1;
  return st_chain__params_store(c, &next);
}

/* Closes the voting period of the proposal queued under qkey. */
static int decide(st_chain__ctx_t *c, const uint8_t *qkey, bool *params_changed) {
  uint64_t id = st_chain__rd64(qkey + 9);
  st_u128 t[4], bonded;
  char err[ST_CHAIN__LOG_MAX], result[2 * ST_CHAIN__LOG_MAX] = "";
  char shown[2 * ST_CHAIN__LOG_MAX];
  const char *status = "rejected";
  bool refund = true;
  json_t *prop, *tally;
  int rc = prop_due(c, id, &prop);
  if (rc != 0)
    return rc;
  if ((rc = st_chain__gov_tally(c, id, t, &bonded)) != 0)
    goto out;
  switch (verdict(c->p, t, bonded)) {
  case V_NO_QUORUM:
    snprintf(result, sizeof(result), "quorum not reached; deposits refunded");
    break;
  case V_VETO:
    snprintf(result, sizeof(result), "vetoed; deposits sent to the community pool");
    refund = false;
    break;
  case V_REJECT:
    snprintf(result, sizeof(result), "threshold not reached; deposits refunded");
    break;
  case V_PASS:
    if ((rc = changes_store(c, prop, err, sizeof(err))) < 0)
      goto out;
    if (rc == 1) {
      status = "failed";
      snprintf(result, sizeof(result),
               "passed, but the changes no longer apply (%s); deposits refunded", err);
    } else {
      status = "passed";
      snprintf(result, sizeof(result), "passed; parameters changed; deposits refunded");
      *params_changed = true;
    }
    rc = 0;
  }
  if ((rc = deps_settle(c, id, refund)) != 0 ||
      (rc = records_del(c, ST_K_GOV_VOTE, id)) != 0 ||
      (rc = st_chain__ov_del(c->ov, ST_CHAIN__SP_STATE, qkey, QUEUE_KEY_LEN)) != 0)
    goto out;
  if (!(tally = json_object())) {
    rc = ST_ENOMEM;
    goto out;
  }
  for (int i = 0; i < 4 && rc == 0; i++)
    rc = jset_u128(tally, tally_names[i], t[i]);
  if (rc != 0) {
    json_decref(tally);
    goto out;
  }
  /* JSON takes only UTF-8: a parser message that quoted odd bytes must
   * not stop the chain. */
  st_chain__safe_str(result, strlen(result), shown, sizeof(shown));
  if ((rc = jset(prop, "tally", tally)) != 0 ||
      (rc = jset(prop, "status", json_string(status))) != 0 ||
      (rc = jset(prop, "result", json_string(shown))) != 0)
    goto out;
  rc = prop_put(c, id, prop);
out:
  json_decref(prop);
  return rc;
}

/* Ends the deposit period of the proposal queued under qkey: it did not
 * reach the minimum deposit in time. */
static int expire(st_chain__ctx_t *c, const uint8_t *qkey) {
  uint64_t id = st_chain__rd64(qkey + 9);
  json_t *prop;
  int rc = prop_due(c, id, &prop);
  if (rc != 0)
    return rc;
  if ((rc = deps_settle(c, id, false)) == 0 &&
      (rc = st_chain__ov_del(c->ov, ST_CHAIN__SP_STATE, qkey, QUEUE_KEY_LEN)) == 0 &&
      (rc = jset(prop, "status", json_string("expired"))) == 0 &&
      (rc = jset(prop, "result",
                 json_string("minimum deposit not reached; deposits sent to the community "
                             "pool"))) == 0)
    rc = prop_put(c, id, prop);
  json_decref(prop);
  return rc;
}

/* Runs act on every entry of queue kind due by the block's time, in key
 * order (time, then id). */
static int queue_run(st_chain__ctx_t *c, uint8_t kind, bool *params_changed) {
  st_chain__recs_t due;
  int rc = st_chain__ov_collect(c->ov, ST_CHAIN__SP_STATE, &kind, 1, c->time_ms, 0, &due);
  for (size_t i = 0; i < due.n && rc == 0; i++) {
    if (due.v[i].klen != QUEUE_KEY_LEN)
      rc = ST_ECORRUPT;
    else
      rc = kind == ST_K_GOV_QDEP ? expire(c, due.v[i].key)
                                 : decide(c, due.v[i].key, params_changed);
  }
  st_chain__recs_free(&due);
  return rc;
}

int st_chain__gov_end_block(st_chain__ctx_t *c, bool *params_changed) {
  *params_changed = false;
  /* A proposal sits in one queue at a time, and what one decision moves
   * never depends on another, so the two queues can run one after the
   * other. */
  int rc = queue_run(c, ST_K_GOV_QDEP, params_changed);
  if (rc == 0)
    rc = queue_run(c, ST_K_GOV_QVOTE, params_changed);
  return rc;
}
