/* The economic modules' JSON-RPC queries: validators, delegations,
 * unbonding and redelegation entries, pending rewards, proposals, the
 * current parameters and the module accounts.
 *
 * Every query reads the committed state through the kit's reader
 * (qkit.h). Scans collect what they match first and read further records
 * afterwards (a scan must not change the overlay, and a read may). Lists
 * are paged (page, per_page, total). Addresses are st1..., amounts
 * decimal strings of wei, fractions 18-digit decimal strings. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include "chain/mods.h"
#include "chain/qkit.h"

/* ---- JSON values ---- */

/* Accounts and operators are st1... in every answer. */
static json_t *addr_json(const uint8_t a[ST_ADDR_LEN]) {
  return st_qk_addr_json(ST_HRP_WALLET, a);
}

static const char *status_name(uint8_t s) {
  switch (s) {
  case ST_VAL_BONDED: return "bonded";
  case ST_VAL_UNBONDING: return "unbonding";
  default: return "unbonded";
  }
}

/* ---- reading ---- */

/* Collects every record of the state whose key is kind || a (alen
 * bytes), keeping those whose key is klen bytes long. */
static int scan(st_qk_reader_t *r, uint8_t kind, const uint8_t *a, size_t alen, size_t klen,
                st_chain__recs_t *out) {
  uint8_t p[1 + 2 * ST_ADDR_LEN];
  p[0] = kind;
  if (alen)
    memcpy(p + 1, a, alen);
  int rc = st_chain__ov_collect(&r->ov, ST_CHAIN__SP_STATE, p, 1 + alen, ST_CHAIN__NOT_DUE, 0,
                                out);
  if (rc == ST_ENOMEM)
    abort(); /* as everywhere in the queries */
  if (rc != 0)
    return rc;
  size_t k = 0;
  for (size_t i = 0; i < out->n; i++) {
    if (out->v[i].klen == klen) {
      out->v[k++] = out->v[i];
    } else {
      free(out->v[i].val);
      rc = ST_ECORRUPT;
    }
  }
  out->n = k;
  if (rc != 0)
    st_chain__recs_free(out);
  return rc;
}


static int commission_of(st_qk_reader_t *r, const uint8_t op[ST_ADDR_LEN], st_u128 *out) {
  uint8_t k[1 + ST_ADDR_LEN];
  return st_chain__ov_read_u128(&r->ov, ST_CHAIN__SP_STATE, k, st_chain__k1(k, ST_K_D_COMM, op),
                                out);
}

/* A validator that must exist: ST_ENOENT becomes a "not found" answer. */
static int val_required(st_qk_reader_t *r, const uint8_t op[ST_ADDR_LEN], st_val_t *v,
                        char *err, size_t cap) {
  int rc = st_chain__val_get(&r->c, op, v);
  if (rc == ST_ENOENT) {
    char s[ST_ADDR_STR_MAX];
    st_addr_encode(ST_HRP_WALLET, op, s, sizeof(s));
    snprintf(err, cap, "validator %s not found", s);
    return ST_RPC_INVALID_PARAMS;
  }
  return rc != 0 ? st_qk_ierr(err, cap, rc) : 0;
}

/* The validator as the lists show it; *si receives its signing info (all
 * zero when it has none). */
static json_t *val_json(st_qk_reader_t *r, const st_val_t *v, st_sign_info_t *si, int *rc) {
  *rc = st_chain__sign_info_get(&r->c, v->cons_addr, si);
  if (*rc == ST_ENOENT) {
    memset(si, 0, sizeof(*si));
    *rc = 0;
  }
  if (*rc != 0)
    return NULL;
  char moniker[ST_MONIKER_MAX + 1];
  st_chain__safe_str(v->moniker, strlen(v->moniker), moniker, sizeof(moniker));
  json_t *comm = json_pack("{s:o,s:o,s:o,s:I}", "rate", st_qk_dec_json(v->rate), "max_rate",
                           st_qk_dec_json(v->max_rate), "max_change_rate",
                           st_qk_dec_json(v->max_change_rate), "updated_ms",
                           (json_int_t)v->rate_updated_ms);
  return json_pack("{s:o,s:o,s:o,s:s,s:s,s:b,s:b,s:o,s:o,s:I,s:o,s:o,s:I,s:I,s:I}",
                   "operator", addr_json(v->operator_), "pub_key",
                   st_qk_hex_json(v->pubkey, ST_PUBKEY_LEN), "consensus_address",
                   st_qk_addr_json(ST_HRP_NODE, v->cons_addr), "moniker", moniker, "status",
                   status_name(v->status), "jailed", v->jailed, "tombstoned",
                   si->tombstoned, "tokens", st_qk_u128_json(v->tokens), "delegator_shares",
                   st_qk_u128_json(v->shares), "power", (json_int_t)st_chain__val_power(v),
                   "commission", comm, "min_self_delegation",
                   st_qk_u128_json(v->min_self_delegation), "unbonding_height",
                   (json_int_t)v->unbonding_height, "unbonding_time_ms",
                   (json_int_t)v->unbonding_time_ms, "missed_blocks",
                   (json_int_t)si->missed);
}

/* ---- staking ---- */

static int val_order(const void *a, const void *b) {
  const st_val_t *x = a, *y = b;
  if (x->tokens != y->tokens)
    return x->tokens > y->tokens ? -1 : 1;
  return memcmp(x->operator_, y->operator_, ST_ADDR_LEN);
}

/* The validators of status (any when it is -1), most tokens first, in a
 * new array *out of *n. */
static int vals_of(st_qk_reader_t *r, int status, st_val_t **out, size_t *n) {
  st_chain__recs_t rs;
  int rc = scan(r, ST_K_VAL, NULL, 0, 1 + ST_ADDR_LEN, &rs);
  if (rc != 0)
    return rc;
  st_val_t *v = calloc(rs.n ? rs.n : 1, sizeof(*v));
  if (!v)
    abort();
  size_t k = 0;
  for (size_t i = 0; i < rs.n && rc == 0; i++)
    if ((rc = st_chain__val_get(&r->c, rs.v[i].key + 1, &v[k])) == 0 &&
        (status < 0 || v[k].status == status))
      k++;
  st_chain__recs_free(&rs);
  if (rc != 0) {
    free(v);
    return rc;
  }
  qsort(v, k, sizeof(*v), val_order);
  *out = v;
  *n = k;
  return 0;
}

typedef struct vals {
  st_qk_reader_t *r;
  const st_val_t *v;
} vals_t;

static json_t *val_item(void *ud, size_t i, int *rc) {
  const vals_t *vs = ud;
  st_sign_info_t si;
  return val_json(vs->r, &vs->v[i], &si, rc);
}

int st_chain__q_validators(st_chain_t *ch, json_t *params, json_t **result, char *err,
                           size_t cap) {
  static const char *const allowed[] = {"status", "page", "per_page", NULL};
  static const char *const statuses[] = {"bonded", "unbonding", "unbonded", NULL};
  static const uint8_t status_of[] = {ST_VAL_BONDED, ST_VAL_UNBONDING, ST_VAL_UNBONDED};
  int want, rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = st_qk_enum(params, "status", statuses, &want, err, cap)) != 0)
    return rc;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  st_val_t *v = NULL;
  size_t n = 0;
  int e = vals_of(&r, want < 0 ? -1 : status_of[want], &v, &n);
  vals_t vs = {&r, v};
  rc = e != 0 ? st_qk_ierr(err, cap, e)
              : st_qk_list(params, n, "validators", val_item, &vs, result, err, cap);
  free(v);
  st_qk_close(&r);
  return rc;
}

int st_chain__q_validator(st_chain_t *ch, json_t *params, json_t **result, char *err,
                          size_t cap) {
  static const char *const allowed[] = {"address", NULL};
  uint8_t op[ST_ADDR_LEN];
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 ||
      (rc = st_qk_addr_required(params, "address", ST_HRP_WALLET, op, err, cap)) != 0)
    return rc;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  st_val_t v;
  st_sign_info_t si;
  st_u128 shares = 0, comm = 0;
  json_t *j = NULL;
  if ((rc = val_required(&r, op, &v, err, cap)) != 0)
    goto out;
  int e = st_chain__del_get(&r.c, op, op, &shares);
  if (e == ST_ENOENT)
    e = 0;
  if (e == 0)
    e = commission_of(&r, op, &comm);
  if (e == 0 && !(j = val_json(&r, &v, &si, &e)))
    e = e ? e : ST_ENOMEM;
  if (e != 0) {
    rc = st_qk_ierr(err, cap, e);
    goto out;
  }
  json_object_set_new(j, "self_delegation",
                      st_qk_u128_json(st_chain__val_tokens_of(&v, shares)));
  json_object_set_new(j, "signing_info",
                      json_pack("{s:I,s:I,s:I,s:I,s:b}", "start_height",
                                (json_int_t)si.start_height, "index", (json_int_t)si.index,
                                "missed_blocks", (json_int_t)si.missed, "jailed_until_ms",
                                (json_int_t)si.jailed_until_ms, "tombstoned",
                                si.tombstoned));
  json_object_set_new(j, "commission_accrued", st_qk_u128_json(comm));
  *result = j;
out:
  st_qk_close(&r);
  return rc;
}

/* Whose delegations, unbonding entries or rewards a query is about: a
 * delegator's, a validator's, or the one pair's. */
typedef struct filter {
  uint8_t del[ST_ADDR_LEN], op[ST_ADDR_LEN];
  bool has_del, has_val;
} filter_t;

/* The parameters of delegations and unbonding: a delegator, a validator
 * or both, and the page. */
static int filter_params(json_t *params, filter_t *f, char *err, size_t cap) {
  static const char *const allowed[] = {"delegator", "validator", "page", "per_page", NULL};
  memset(f, 0, sizeof(*f));
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc == 0)
    rc = st_qk_addr(params, "delegator", ST_HRP_WALLET, f->del, &f->has_del, err, cap);
  if (rc == 0)
    rc = st_qk_addr(params, "validator", ST_HRP_WALLET, f->op, &f->has_val, err, cap);
  if (rc == 0 && !f->has_del && !f->has_val)
    rc = st_qk_perr(err, cap, "delegator or validator is required");
  return rc;
}

/* What the items of delegations and unbonding read. */
typedef struct entries {
  st_qk_reader_t *r;
  const filter_t *f;
  const st_chain__recs_t *rs;
} entries_t;

/* delegations and unbonding: the list, what collects its records for a
 * filter, what shows one, and whether a validator given must exist. */
typedef struct entry_list {
  const char *name;
  int (*collect)(st_qk_reader_t *r, const filter_t *f, st_chain__recs_t *rs);
  st_qk_item_fn item;
  bool val_must_exist;
} entry_list_t;

static int q_entries(st_chain_t *ch, const entry_list_t *l, json_t *params, json_t **result,
                     char *err, size_t cap) {
  filter_t f;
  int rc = filter_params(params, &f, err, cap);
  if (rc != 0)
    return rc;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  st_chain__recs_t rs = {0};
  st_val_t v;
  if (!l->val_must_exist || !f.has_val || (rc = val_required(&r, f.op, &v, err, cap)) == 0) {
    int e = l->collect(&r, &f, &rs);
    entries_t x = {&r, &f, &rs};
    rc = e != 0 ? st_qk_ierr(err, cap, e)
                : st_qk_list(params, rs.n, l->name, l->item, &x, result, err, cap);
  }
  st_chain__recs_free(&rs);
  st_qk_close(&r);
  return rc;
}

/* The delegation records f names: keys kind || delegator || operator
 * when a delegator is given, kind || operator || delegator else. */
static int dels_of(st_qk_reader_t *r, const filter_t *f, st_chain__recs_t *rs) {
  memset(rs, 0, sizeof(*rs));
  if (f->has_del && f->has_val) {
    /* The one delegation, as the scan by delegator would find it. */
    uint8_t k[1 + 2 * ST_ADDR_LEN];
    st_u128 shares;
    int e = st_chain__del_get(&r->c, f->del, f->op, &shares);
    if (e == 0 && st_chain__recs_push(rs, k, st_chain__k2(k, ST_K_DEL, f->del, f->op), NULL,
                                      0) != 0)
      abort(); /* the key fits: only memory can fail */
    return e == ST_ENOENT ? 0 : e;
  }
  if (f->has_del) /* delegator || validator -> shares */
    return scan(r, ST_K_DEL, f->del, ST_ADDR_LEN, 1 + 2 * ST_ADDR_LEN, rs);
  /* validator || delegator -> "" */
  return scan(r, ST_K_DEL_BY_VAL, f->op, ST_ADDR_LEN, 1 + 2 * ST_ADDR_LEN, rs);
}

/* One delegation as the list shows it; v is its validator. */
static json_t *del_json(const uint8_t del[ST_ADDR_LEN], const st_val_t *v, st_u128 shares) {
  return json_pack("{s:o,s:o,s:o,s:o}", "delegator", addr_json(del), "validator",
                   addr_json(v->operator_), "shares", st_qk_u128_json(shares), "balance",
                   st_qk_u128_json(st_chain__val_tokens_of(v, shares)));
}

static json_t *del_item(void *ud, size_t i, int *rc) {
  const entries_t *x = ud;
  const uint8_t *d = x->f->del, *o = x->f->op;
  if (x->f->has_del)
    o = x->rs->v[i].key + 1 + ST_ADDR_LEN;
  else
    d = x->rs->v[i].key + 1 + ST_ADDR_LEN;
  st_u128 shares;
  st_val_t v;
  if ((*rc = st_chain__del_get(&x->r->c, d, o, &shares)) != 0 ||
      (*rc = st_chain__val_get(&x->r->c, o, &v)) != 0) {
    /* An index entry without its delegation, or a delegation without its
     * validator, is a broken state. */
    if (*rc == ST_ENOENT)
      *rc = ST_ECORRUPT;
    return NULL;
  }
  return del_json(d, &v, shares);
}

int st_chain__q_delegations(st_chain_t *ch, json_t *params, json_t **result, char *err,
                            size_t cap) {
  static const entry_list_t l = {"delegations", dels_of, del_item, true};
  return q_entries(ch, &l, params, result, err, cap);
}

/* Key of an unbonding entry: kind(1) delegator(20) operator(20) height(8)
 * seq(8). */
#define UBD_KEY_LEN (1 + 2 * ST_ADDR_LEN + 16)

/* The unbonding entries f names: keys as above when a delegator is
 * given, kind || operator || delegator || height || seq else. Entries
 * outlive their validator's record, so it need not exist (the list's
 * val_must_exist is false). */
static int ubds_of(st_qk_reader_t *r, const filter_t *f, st_chain__recs_t *rs) {
  if (!f->has_del)
    return scan(r, ST_K_UBD_BY_VAL, f->op, ST_ADDR_LEN, UBD_KEY_LEN, rs);
  uint8_t p[2 * ST_ADDR_LEN];
  memcpy(p, f->del, ST_ADDR_LEN);
  memcpy(p + ST_ADDR_LEN, f->op, ST_ADDR_LEN);
  return scan(r, ST_K_UBD, p, f->has_val ? 2 * ST_ADDR_LEN : ST_ADDR_LEN, UBD_KEY_LEN, rs);
}

static json_t *ubd_json(const uint8_t *key, const uint8_t *val) {
  st_ubd_t u;
  st_chain__ubd_decode(val, &u);
  return json_pack("{s:o,s:o,s:I,s:I,s:o,s:o}", "delegator", addr_json(key + 1), "validator",
                   addr_json(key + 1 + ST_ADDR_LEN), "creation_height",
                   (json_int_t)st_chain__rd64(key + 1 + 2 * ST_ADDR_LEN),
                   "completion_time_ms", (json_int_t)u.completion_ms, "initial_balance",
                   st_qk_u128_json(u.initial), "balance", st_qk_u128_json(u.balance));
}

static json_t *ubd_item(void *ud, size_t i, int *rc) {
  const entries_t *x = ud;
  const st_chain__rec_t *e = &x->rs->v[i];
  if (x->f->has_del) {
    if (e->vlen == ST_UBD_LEN)
      return ubd_json(e->key, e->val);
    *rc = ST_ECORRUPT;
    return NULL;
  }
  /* operator || delegator || height || seq -> delegator || operator || ... */
  uint8_t k[UBD_KEY_LEN];
  const uint8_t *v;
  size_t n;
  k[0] = ST_K_UBD;
  memcpy(k + 1, e->key + 1 + ST_ADDR_LEN, ST_ADDR_LEN);
  memcpy(k + 1 + ST_ADDR_LEN, e->key + 1, ST_ADDR_LEN);
  memcpy(k + 1 + 2 * ST_ADDR_LEN, e->key + 1 + 2 * ST_ADDR_LEN, 16);
  *rc = st_chain__ov_read(&x->r->ov, ST_CHAIN__SP_STATE, k, sizeof(k), &v, &n);
  if (*rc == 0 && n != ST_UBD_LEN)
    *rc = ST_ECORRUPT;
  if (*rc != 0) {
    if (*rc == ST_ENOENT)
      *rc = ST_ECORRUPT;
    return NULL;
  }
  return ubd_json(k, v);
}

int st_chain__q_unbonding(st_chain_t *ch, json_t *params, json_t **result, char *err,
                          size_t cap) {
  static const entry_list_t l = {"entries", ubds_of, ubd_item, false};
  return q_entries(ch, &l, params, result, err, cap);
}

/* Key of a redelegation: kind(1) delegator(20) src(20) dst(20) height(8)
 * seq(8). */
#define RED_KEY_LEN (1 + 3 * ST_ADDR_LEN + 16)

static json_t *red_item(void *ud, size_t i, int *rc) {
  const st_chain__rec_t *e = &((const st_chain__recs_t *)ud)->v[i];
  const uint8_t *k = e->key;
  st_red_t red;
  if (e->vlen != ST_RED_LEN) {
    *rc = ST_ECORRUPT;
    return NULL;
  }
  st_chain__red_decode(e->val, &red);
  return json_pack("{s:o,s:o,s:o,s:I,s:I,s:o,s:o}", "delegator", addr_json(k + 1), "src",
                   addr_json(k + 1 + ST_ADDR_LEN), "dst", addr_json(k + 1 + 2 * ST_ADDR_LEN),
                   "creation_height", (json_int_t)st_chain__rd64(k + 1 + 3 * ST_ADDR_LEN),
                   "completion_time_ms", (json_int_t)red.completion_ms, "initial_balance",
                   st_qk_u128_json(red.initial), "shares_dst",
                   st_qk_u128_json(red.shares_dst));
}

int st_chain__q_redelegations(st_chain_t *ch, json_t *params, json_t **result, char *err,
                              size_t cap) {
  static const char *const allowed[] = {"delegator", "page", "per_page", NULL};
  uint8_t del[ST_ADDR_LEN];
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 ||
      (rc = st_qk_addr_required(params, "delegator", ST_HRP_WALLET, del, err, cap)) != 0)
    return rc;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  st_chain__recs_t rs;
  int e = scan(&r, ST_K_RED, del, ST_ADDR_LEN, RED_KEY_LEN, &rs);
  rc = e != 0 ? st_qk_ierr(err, cap, e)
              : st_qk_list(params, rs.n, "entries", red_item, &rs, result, err, cap);
  st_chain__recs_free(&rs);
  st_qk_close(&r);
  return rc;
}

/* ---- distribution ---- */

int st_chain__q_rewards(st_chain_t *ch, json_t *params, json_t **result, char *err,
                        size_t cap) {
  static const char *const allowed[] = {"delegator", "validator", NULL};
  filter_t f = {.has_del = true};
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 ||
      (rc = st_qk_addr_required(params, "delegator", ST_HRP_WALLET, f.del, err, cap)) != 0 ||
      (rc = st_qk_addr(params, "validator", ST_HRP_WALLET, f.op, &f.has_val, err, cap)) != 0)
    return rc;
  const uint8_t *del = f.del;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  st_chain__recs_t rs = {0};
  json_t *list = json_array();
  st_u128 total = 0;
  st_val_t v;
  int e = 0;
  if (f.has_val && (rc = val_required(&r, f.op, &v, err, cap)) != 0)
    goto out;
  e = dels_of(&r, &f, &rs);
  for (size_t i = 0; i < rs.n && e == 0; i++) {
    const uint8_t *o = rs.v[i].key + 1 + ST_ADDR_LEN;
    st_u128 amount = 0;
    if ((e = st_chain__val_get(&r.c, o, &v)) != 0)
      break;
    if ((e = st_chain__distr_pending(&r.c, del, &v, &amount)) != 0)
      break;
    if (total > ~(st_u128)0 - amount) {
      e = ST_ERANGE;
      break;
    }
    total += amount;
    json_array_append_new(list, json_pack("{s:o,s:o}", "validator", addr_json(o), "amount",
                                          st_qk_u128_json(amount)));
  }
  if (e != 0) {
    rc = st_qk_ierr(err, cap, e == ST_ENOENT ? ST_ECORRUPT : e);
    goto out;
  }
  json_t *res = json_pack("{s:O,s:o}", "rewards", list, "total", st_qk_u128_json(total));
  /* A validator's operator also has its commission to withdraw. */
  e = st_chain__val_get(&r.c, del, &v);
  if (e == 0) {
    st_u128 comm;
    if ((e = commission_of(&r, del, &comm)) == 0)
      json_object_set_new(res, "commission", st_qk_u128_json(comm));
  } else if (e == ST_ENOENT) {
    e = 0;
  }
  if (e != 0) {
    json_decref(res);
    rc = st_qk_ierr(err, cap, e);
    goto out;
  }
  *result = res;
out:
  json_decref(list);
  st_chain__recs_free(&rs);
  st_qk_close(&r);
  return rc;
}

/* ---- governance ---- */

/* As MsgVote numbers them from 1, and as tallies name them. */
static const char *const vote_options[] = {"yes", "abstain", "no", "no_with_veto"};
static const char *const prop_statuses[] = {"deposit", "voting",  "passed", "rejected",
                                            "failed",  "expired", NULL};

/* The stored proposal of key k (kind || id) as a JSON object. */
static json_t *prop_json(const uint8_t *val, size_t vlen, uint64_t id, int *rc) {
  json_error_t je;
  json_t *j = json_loadb((const char *)val, vlen, 0, &je);
  if (!json_is_object(j)) {
    json_decref(j);
    *rc = ST_ECORRUPT;
    return NULL;
  }
  if (!json_object_get(j, "id"))
    json_object_set_new(j, "id", json_integer((json_int_t)id));
  *rc = 0;
  return j;
}

/* The proposals whose status is prop_statuses[want] (any when want < 0),
 * in id order, appended to all. */
static int props_of(st_qk_reader_t *r, int want, json_t *all) {
  st_chain__recs_t rs;
  int e = scan(r, ST_K_GOV_PROP, NULL, 0, 1 + 8, &rs);
  for (size_t i = 0; i < rs.n && e == 0; i++) {
    json_t *j = prop_json(rs.v[i].val, rs.v[i].vlen, st_chain__rd64(rs.v[i].key + 1), &e);
    if (!j)
      break;
    const char *s = json_string_value(json_object_get(j, "status"));
    if (want < 0 || (s && strcmp(s, prop_statuses[want]) == 0))
      json_array_append(all, j);
    json_decref(j);
  }
  st_chain__recs_free(&rs);
  return e;
}

static json_t *array_item(void *ud, size_t i, int *rc) {
  return json_incref(json_array_get(ud, i));
}

int st_chain__q_proposals(st_chain_t *ch, json_t *params, json_t **result, char *err,
                          size_t cap) {
  static const char *const allowed[] = {"status", "page", "per_page", NULL};
  int want, rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = st_qk_enum(params, "status", prop_statuses, &want, err, cap)) != 0)
    return rc;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  json_t *all = json_array();
  int e = props_of(&r, want, all);
  rc = e != 0 ? st_qk_ierr(err, cap, e)
              : st_qk_list(params, json_array_size(all), "proposals", array_item, all, result,
                           err, cap);
  json_decref(all);
  st_qk_close(&r);
  return rc;
}

static json_t *tally_json(const st_u128 t[4], st_u128 bonded) {
  return json_pack("{s:o,s:o,s:o,s:o,s:o}", "yes", st_qk_u128_json(t[0]), "abstain",
                   st_qk_u128_json(t[1]), "no", st_qk_u128_json(t[2]), "no_with_veto",
                   st_qk_u128_json(t[3]), "bonded_tokens", st_qk_u128_json(bonded));
}

int st_chain__q_proposal(st_chain_t *ch, json_t *params, json_t **result, char *err,
                         size_t cap) {
  static const char *const allowed[] = {"id", NULL};
  int64_t id;
  bool present;
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = st_qk_num(params, "id", &id, &present, err, cap)) != 0)
    return rc;
  if (!present)
    return st_qk_perr(err, cap, "id is required");
  if (id < 1)
    return st_qk_perr(err, cap, "id must be a proposal number (1 or more)");
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  uint8_t k[1 + 8];
  const uint8_t *v;
  size_t n;
  st_chain__recs_t deps = {0}, votes = {0};
  json_t *j = NULL;
  k[0] = ST_K_GOV_PROP;
  st_chain__be64(k + 1, (uint64_t)id);
  int e = st_chain__ov_read(&r.ov, ST_CHAIN__SP_STATE, k, sizeof(k), &v, &n);
  if (e == ST_ENOENT) {
    snprintf(err, cap, "proposal %" PRId64 " not found", id);
    rc = ST_RPC_INVALID_PARAMS;
    goto out;
  }
  if (e == 0)
    j = prop_json(v, n, (uint64_t)id, &e);
  if (e == 0)
    e = scan(&r, ST_K_GOV_DEP, k + 1, 8, 1 + 8 + ST_ADDR_LEN, &deps);
  if (e == 0)
    e = scan(&r, ST_K_GOV_VOTE, k + 1, 8, 1 + 8 + ST_ADDR_LEN, &votes);
  json_t *dl = json_array(), *vl = json_array();
  for (size_t i = 0; i < deps.n && e == 0; i++) {
    if (deps.v[i].vlen != 16) {
      e = ST_ECORRUPT;
      break;
    }
    json_array_append_new(dl, json_pack("{s:o,s:o}", "depositor",
                                         addr_json(deps.v[i].key + 9), "amount",
                                         st_qk_u128_json(st_chain__get128(deps.v[i].val))));
  }
  for (size_t i = 0; i < votes.n && e == 0; i++) {
    uint8_t o = votes.v[i].vlen == 1 ? votes.v[i].val[0] : 0;
    if (o < 1 || o > 4) {
      e = ST_ECORRUPT;
      break;
    }
    json_array_append_new(vl, json_pack("{s:o,s:s}", "voter", addr_json(votes.v[i].key + 9),
                                        "option", vote_options[o - 1]));
  }
  if (e != 0) {
    json_decref(dl);
    json_decref(vl);
    rc = st_qk_ierr(err, cap, e);
    goto out;
  }
  json_object_set_new(j, "deposits", dl);
  json_object_set_new(j, "votes", vl);
  /* While the vote runs, the tally as it would stand if it ended now
   * (the stored "tally" is filled in when it ends). */
  const char *status = json_string_value(json_object_get(j, "status"));
  if (status && strcmp(status, "voting") == 0) {
    st_u128 t[4], bonded;
    if ((e = st_chain__gov_tally(&r.c, (uint64_t)id, t, &bonded)) != 0) {
      rc = st_qk_ierr(err, cap, e);
      goto out;
    }
    json_object_set_new(j, "live_tally", tally_json(t, bonded));
  }
  *result = j;
  j = NULL;
out:
  json_decref(j);
  st_chain__recs_free(&deps);
  st_chain__recs_free(&votes);
  st_qk_close(&r);
  return rc;
}

/* ---- params and pools ---- */

int st_chain__q_params(st_chain_t *ch, json_t *params, json_t **result, char *err,
                       size_t cap) {
  int rc = st_rpc_check_params(params, NULL, err, cap);
  if (rc != 0)
    return rc;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  st_chain__params_t cur;
  int e = st_chain__params_load(&r.c, &ch->gen.p, &cur);
  if (e == ST_ENOENT) {
    /* Before genesis wrote the record, the genesis parameters hold. */
    cur = ch->gen.p;
    e = 0;
  }
  st_qk_close(&r);
  if (e != 0)
    return st_qk_ierr(err, cap, e);
  json_t *j = st_chain__params_json(&cur);
  if (!j)
    return st_qk_ierr(err, cap, ST_ENOMEM);
  *result = j;
  return 0;
}

int st_chain__q_pools(st_chain_t *ch, json_t *params, json_t **result, char *err,
                      size_t cap) {
  int rc = st_rpc_check_params(params, NULL, err, cap);
  if (rc != 0)
    return rc;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  json_t *res = json_object();
  int e = 0;
  for (int i = 0; i < ST_MACC_N && e == 0; i++) {
    st_chain__acct_t a;
    const uint8_t *addr = st_chain__macc(i);
    if ((e = st_chain__ov_get(&r.ov, addr, &a)) == 0)
      json_object_set_new(res, st_chain__macc_name(i),
                          json_pack("{s:o,s:o}", "address", addr_json(addr), "balance",
                                    st_qk_u128_json(a.balance)));
  }
  st_qk_close(&r);
  if (e != 0) {
    json_decref(res);
    return st_qk_ierr(err, cap, e);
  }
  *result = res;
  return 0;
}

/* ---- methods ---- */

ST_QK_METHOD(validators)
ST_QK_METHOD(validator)
ST_QK_METHOD(delegations)
ST_QK_METHOD(unbonding)
ST_QK_METHOD(redelegations)
ST_QK_METHOD(rewards)
ST_QK_METHOD(proposals)
ST_QK_METHOD(proposal)
ST_QK_METHOD(params)
ST_QK_METHOD(pools)
ST_QK_METHOD(traffic_report)
ST_QK_METHOD(traffic_rewards)
ST_QK_METHOD(foundation)

void st_chain__query_register(st_chain_t *ch, st_rpc_t *rpc) {
  static const st_qk_method_t m[] = {
    {"validators", m_validators},   {"validator", m_validator},
    {"delegations", m_delegations}, {"unbonding", m_unbonding},
    {"redelegations", m_redelegations}, {"rewards", m_rewards},
    {"proposals", m_proposals},     {"proposal", m_proposal},
    {"params", m_params},           {"pools", m_pools},
    {"traffic_report", m_traffic_report}, {"traffic_rewards", m_traffic_rewards},
    {"foundation", m_foundation},
  };
  st_qk_register(rpc, ch, m, sizeof(m) / sizeof(m[0]));
}
