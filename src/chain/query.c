/* The economic modules' JSON-RPC queries: validators, delegations,
 * unbonding and redelegation entries, pending rewards, proposals, the
 * current parameters and the module accounts.
 *
 * Every query reads the committed state in one read transaction through
 * an overlay, so the record getters the modules use serve here too and
 * an answer never mixes two heights. Scans collect what they match first
 * and read further records afterwards (a scan must not change the
 * overlay, and a read may). Lists are paged like the engine's
 * validator_set: page (from 1) and per_page (30, at most 100), with the
 * total count. Addresses are st1..., amounts decimal strings of wei,
 * fractions 18-digit decimal strings. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "chain/mods.h"

#define PER_PAGE_DEFAULT 30
#define PER_PAGE_MAX 100

static int perr(char *err, size_t cap, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

static int perr(char *err, size_t cap, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(err, cap, "invalid params: ");
  if (n > 0 && (size_t)n < cap) {
    va_start(ap, fmt);
    vsnprintf(err + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return ST_RPC_INVALID_PARAMS;
}

static int ierr(char *err, size_t cap, int rc) {
  snprintf(err, cap, "cannot read the state: %s", st_strerror(rc));
  return ST_RPC_INTERNAL_ERROR;
}

static json_t *param(json_t *params, const char *name) {
  json_t *v = json_is_object(params) ? json_object_get(params, name) : NULL;
  return json_is_null(v) ? NULL : v;
}

/* ---- parameters ---- */

/* An optional st1... address; *present tells whether it was given. */
static int addr_param(json_t *params, const char *name, uint8_t out[ST_ADDR_LEN],
                      bool *present, char *err, size_t cap) {
  json_t *a = param(params, name);
  *present = a != NULL;
  if (!a)
    return 0;
  if (!json_is_string(a) || st_addr_decode(json_string_value(a), ST_HRP_WALLET, out) != 0)
    return perr(err, cap, "%s must be an st1... address", name);
  return 0;
}

static int addr_required(json_t *params, const char *name, uint8_t out[ST_ADDR_LEN],
                         char *err, size_t cap) {
  bool present;
  int rc = addr_param(params, name, out, &present, err, cap);
  if (rc == 0 && !present)
    return perr(err, cap, "%s is required", name);
  return rc;
}

/* An optional non-negative integer given as a JSON integer or a decimal
 * string. */
static int num_param(json_t *params, const char *name, int64_t *out, bool *present,
                     char *err, size_t cap) {
  json_t *v = param(params, name);
  *present = v != NULL;
  if (!v)
    return 0;
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (int64_t)json_integer_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    bool ok = n > 0 && n <= 18;
    int64_t x = 0;
    for (size_t i = 0; ok && i < n; i++) {
      ok = s[i] >= '0' && s[i] <= '9';
      x = x * 10 + (s[i] - '0');
    }
    if (ok) {
      *out = x;
      return 0;
    }
  }
  return perr(err, cap, "%s must be a non-negative integer or a decimal string", name);
}

/* An optional string that must be one of names (NULL-terminated); *idx
 * is -1 when absent. */
static int enum_param(json_t *params, const char *name, const char *const *names, int *idx,
                      char *err, size_t cap) {
  json_t *v = param(params, name);
  *idx = -1;
  if (!v)
    return 0;
  for (int i = 0; json_is_string(v) && names[i]; i++)
    if (strcmp(json_string_value(v), names[i]) == 0) {
      *idx = i;
      return 0;
    }
  char list[160] = "";
  size_t off = 0;
  for (int i = 0; names[i] && off < sizeof(list); i++)
    off += (size_t)snprintf(list + off, sizeof(list) - off, "%s\"%s\"",
                            i == 0 ? "" : names[i + 1] ? ", " : " or ", names[i]);
  return perr(err, cap, "%s must be %s", name, list);
}

/* Reads page and per_page against total items: [*first, *first + *count). */
static int page_params(json_t *params, size_t total, size_t *first, size_t *count,
                       char *err, size_t cap) {
  int64_t page = 1, per = PER_PAGE_DEFAULT;
  bool hp, hpp;
  int rc;
  if ((rc = num_param(params, "page", &page, &hp, err, cap)) != 0 ||
      (rc = num_param(params, "per_page", &per, &hpp, err, cap)) != 0)
    return rc;
  if (per < 1 || per > PER_PAGE_MAX)
    return perr(err, cap, "per_page must be between 1 and %d", PER_PAGE_MAX);
  int64_t pages = total == 0 ? 1 : (int64_t)((total + (size_t)per - 1) / (size_t)per);
  if (page < 1 || page > pages)
    return perr(err, cap, "page %" PRId64 " is out of range; there %s %" PRId64 " page%s",
                page, pages == 1 ? "is" : "are", pages, pages == 1 ? "" : "s");
  *first = (size_t)((page - 1) * per);
  *count = total - *first < (size_t)per ? total - *first : (size_t)per;
  return 0;
}

/* ---- JSON values ---- */

static json_t *u128_json(st_u128 v) {
  char s[ST_U128_STR_MAX];
  st_u128_format(v, s);
  return json_string(s);
}

static json_t *dec_json(st_u128 v) {
  char s[ST_DEC_STR_MAX];
  st_dec_format(v, s);
  return json_string(s);
}

static json_t *addr_json(const uint8_t a[ST_ADDR_LEN]) {
  char s[ST_ADDR_STR_MAX];
  if (st_addr_encode(ST_HRP_WALLET, a, s, sizeof(s)) != 0)
    return json_string("");
  return json_string(s);
}

/* Consensus addresses in the node form, as the engine and status show them. */
static json_t *node_addr_json(const uint8_t a[ST_ADDR_LEN]) {
  char s[ST_ADDR_STR_MAX];
  st_addr_encode(ST_HRP_NODE, a, s, sizeof(s));
  return json_string(s);
}

static json_t *hex_json(const uint8_t *p, size_t n) {
  char hex[2 * ST_PUBKEY_LEN + 1];
  if (st_hex_encode(p, n, hex, sizeof(hex)) != 0)
    return json_string("");
  return json_string(hex);
}

static const char *status_name(uint8_t s) {
  switch (s) {
  case ST_VAL_BONDED: return "bonded";
  case ST_VAL_UNBONDING: return "unbonding";
  default: return "unbonded";
  }
}

/* ---- reading ---- */

typedef struct reader {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_chain__ctx_t c;
  char log[ST_CHAIN__LOG_MAX];
} reader_t;

/* Opens a read transaction and an overlay over it, with a context at the
 * last committed height. */
static int reader_open(st_chain_t *ch, reader_t *r, char *err, size_t cap) {
  int64_t height = 0;
  memset(r, 0, sizeof(*r));
  int rc = st_txn_begin(ch->st.store, false, &r->txn);
  if (rc != 0)
    return ierr(err, cap, rc);
  if ((rc = st_chain__meta_get(&ch->st, r->txn, &height, NULL)) != 0) {
    st_txn_abort(r->txn);
    return ierr(err, cap, rc);
  }
  st_chain__ov_init(&r->ov, &ch->st, r->txn);
  r->c.ov = &r->ov;
  r->c.p = &ch->gen.p;
  r->c.height = height;
  r->c.time_ms = 0;
  r->c.log = r->log;
  r->c.logcap = sizeof(r->log);
  return 0;
}

static void reader_close(reader_t *r) {
  st_chain__ov_free(&r->ov);
  st_txn_abort(r->txn);
}

/* Records collected by a scan: copies of each key and value. */
typedef struct rec {
  uint8_t key[ST_CHAIN__KEY_MAX];
  size_t klen;
  uint8_t *val;
  size_t vlen;
} rec_t;

typedef struct recs {
  rec_t *v;
  size_t n, cap;
} recs_t;

static int collect_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud) {
  recs_t *rs = ud;
  if (klen > ST_CHAIN__KEY_MAX)
    return ST_ECORRUPT;
  if (rs->n == rs->cap) {
    size_t ncap = rs->cap ? rs->cap * 2 : 16;
    rec_t *nv = realloc(rs->v, ncap * sizeof(*nv));
    if (!nv)
      abort();
    rs->v = nv;
    rs->cap = ncap;
  }
  rec_t *e = &rs->v[rs->n];
  memcpy(e->key, key, klen);
  e->klen = klen;
  e->vlen = vlen;
  e->val = NULL;
  if (vlen) {
    e->val = malloc(vlen);
    if (!e->val)
      abort();
    memcpy(e->val, val, vlen);
  }
  rs->n++;
  return 0;
}

static void recs_free(recs_t *rs) {
  for (size_t i = 0; i < rs->n; i++)
    free(rs->v[i].val);
  free(rs->v);
  memset(rs, 0, sizeof(*rs));
}

/* Collects every record of the state whose key is kind || a (alen
 * bytes), keeping those whose key is klen bytes long. */
static int scan(reader_t *r, uint8_t kind, const uint8_t *a, size_t alen, size_t klen,
                recs_t *out) {
  uint8_t p[1 + 2 * ST_ADDR_LEN];
  memset(out, 0, sizeof(*out));
  p[0] = kind;
  if (alen)
    memcpy(p + 1, a, alen);
  int rc = st_chain__ov_scan(&r->ov, ST_CHAIN__SP_STATE, p, 1 + alen, collect_cb, out);
  if (rc != 0) {
    recs_free(out);
    return rc;
  }
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
    recs_free(out);
  return rc;
}

/* A 16-byte amount record; a missing one reads as 0. */
static int read_amount(reader_t *r, const uint8_t *key, size_t klen, st_u128 *out) {
  const uint8_t *v;
  size_t n;
  *out = 0;
  int rc = st_chain__ov_read(&r->ov, ST_CHAIN__SP_STATE, key, klen, &v, &n);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n != 16)
    return ST_ECORRUPT;
  *out = st_chain__get128(v);
  return 0;
}

static int commission_of(reader_t *r, const uint8_t op[ST_ADDR_LEN], st_u128 *out) {
  uint8_t k[1 + ST_ADDR_LEN];
  return read_amount(r, k, st_chain__k1(k, ST_K_D_COMM, op), out);
}

/* A validator that must exist: ST_ENOENT becomes a "not found" answer. */
static int val_required(reader_t *r, const uint8_t op[ST_ADDR_LEN], st_val_t *v, char *err,
                        size_t cap) {
  int rc = st_chain__val_get(&r->c, op, v);
  if (rc == ST_ENOENT) {
    char s[ST_ADDR_STR_MAX];
    st_addr_encode(ST_HRP_WALLET, op, s, sizeof(s));
    snprintf(err, cap, "validator %s not found", s);
    return ST_RPC_INVALID_PARAMS;
  }
  return rc != 0 ? ierr(err, cap, rc) : 0;
}

/* The validator as the lists show it; *si receives its signing info (all
 * zero when it has none). */
static json_t *val_json(reader_t *r, const st_val_t *v, st_sign_info_t *si, int *rc) {
  *rc = st_chain__sign_info_get(&r->c, v->cons_addr, si);
  if (*rc == ST_ENOENT) {
    memset(si, 0, sizeof(*si));
    *rc = 0;
  }
  if (*rc != 0)
    return NULL;
  char moniker[ST_MONIKER_MAX + 1];
  st_chain__safe_str(v->moniker, strlen(v->moniker), moniker, sizeof(moniker));
  json_t *comm = json_pack("{s:o,s:o,s:o,s:I}", "rate", dec_json(v->rate), "max_rate",
                           dec_json(v->max_rate), "max_change_rate",
                           dec_json(v->max_change_rate), "updated_ms",
                           (json_int_t)v->rate_updated_ms);
  return json_pack("{s:o,s:o,s:o,s:s,s:s,s:b,s:b,s:o,s:o,s:I,s:o,s:o,s:I,s:I,s:I}",
                   "operator", addr_json(v->operator_), "pub_key",
                   hex_json(v->pubkey, ST_PUBKEY_LEN), "consensus_address",
                   node_addr_json(v->cons_addr), "moniker", moniker, "status",
                   status_name(v->status), "jailed", v->jailed, "tombstoned",
                   si->tombstoned, "tokens", u128_json(v->tokens), "delegator_shares",
                   u128_json(v->shares), "power", (json_int_t)st_chain__val_power(v),
                   "commission", comm, "min_self_delegation",
                   u128_json(v->min_self_delegation), "unbonding_height",
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

int st_chain__q_validators(st_chain_t *ch, json_t *params, json_t **result, char *err,
                           size_t cap) {
  static const char *const allowed[] = {"status", "page", "per_page", NULL};
  static const char *const statuses[] = {"bonded", "unbonding", "unbonded", NULL};
  static const uint8_t status_of[] = {ST_VAL_BONDED, ST_VAL_UNBONDING, ST_VAL_UNBONDED};
  int want, rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = enum_param(params, "status", statuses, &want, err, cap)) != 0)
    return rc;
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  recs_t rs;
  st_val_t *vals = NULL;
  size_t n = 0;
  json_t *list = NULL;
  if ((rc = scan(&r, ST_K_VAL, NULL, 0, 1 + ST_ADDR_LEN, &rs)) != 0) {
    rc = ierr(err, cap, rc);
    goto out;
  }
  vals = calloc(rs.n ? rs.n : 1, sizeof(*vals));
  if (!vals)
    abort();
  for (size_t i = 0; i < rs.n; i++) {
    int e = st_chain__val_get(&r.c, rs.v[i].key + 1, &vals[n]);
    if (e != 0) {
      rc = ierr(err, cap, e);
      goto out;
    }
    if (want < 0 || vals[n].status == status_of[want])
      n++;
  }
  qsort(vals, n, sizeof(*vals), val_order);
  size_t first, count;
  if ((rc = page_params(params, n, &first, &count, err, cap)) != 0)
    goto out;
  list = json_array();
  for (size_t i = first; i < first + count; i++) {
    st_sign_info_t si;
    int e;
    json_t *j = val_json(&r, &vals[i], &si, &e);
    if (!j) {
      rc = ierr(err, cap, e);
      goto out;
    }
    json_array_append_new(list, j);
  }
  *result = json_pack("{s:O,s:I}", "validators", list, "total", (json_int_t)n);
out:
  json_decref(list);
  free(vals);
  recs_free(&rs);
  reader_close(&r);
  return rc;
}

int st_chain__q_validator(st_chain_t *ch, json_t *params, json_t **result, char *err,
                          size_t cap) {
  static const char *const allowed[] = {"address", NULL};
  uint8_t op[ST_ADDR_LEN];
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = addr_required(params, "address", op, err, cap)) != 0)
    return rc;
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
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
    rc = ierr(err, cap, e);
    goto out;
  }
  json_object_set_new(j, "self_delegation", u128_json(st_chain__val_tokens_of(&v, shares)));
  json_object_set_new(j, "signing_info",
                      json_pack("{s:I,s:I,s:I,s:I,s:b}", "start_height",
                                (json_int_t)si.start_height, "index", (json_int_t)si.index,
                                "missed_blocks", (json_int_t)si.missed, "jailed_until_ms",
                                (json_int_t)si.jailed_until_ms, "tombstoned",
                                si.tombstoned));
  json_object_set_new(j, "commission_accrued", u128_json(comm));
  *result = j;
out:
  reader_close(&r);
  return rc;
}

/* One delegation as the list shows it; v is its validator. */
static json_t *del_json(const uint8_t del[ST_ADDR_LEN], const st_val_t *v, st_u128 shares) {
  return json_pack("{s:o,s:o,s:o,s:o}", "delegator", addr_json(del), "validator",
                   addr_json(v->operator_), "shares", u128_json(shares), "balance",
                   u128_json(st_chain__val_tokens_of(v, shares)));
}

int st_chain__q_delegations(st_chain_t *ch, json_t *params, json_t **result, char *err,
                            size_t cap) {
  static const char *const allowed[] = {"delegator", "validator", "page", "per_page", NULL};
  uint8_t del[ST_ADDR_LEN], op[ST_ADDR_LEN];
  bool has_del, has_val;
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = addr_param(params, "delegator", del, &has_del, err, cap)) != 0 ||
      (rc = addr_param(params, "validator", op, &has_val, err, cap)) != 0)
    return rc;
  if (!has_del && !has_val)
    return perr(err, cap, "delegator or validator is required");
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  recs_t rs = {0};
  json_t *list = NULL;
  st_val_t v;
  size_t total = 0, first, count;
  if (has_val && (rc = val_required(&r, op, &v, err, cap)) != 0)
    goto out;
  int e = 0;
  if (has_del && has_val) {
    /* The one delegation, as the scan by delegator would find it. */
    uint8_t k[1 + 2 * ST_ADDR_LEN];
    st_u128 shares;
    e = st_chain__del_get(&r.c, del, op, &shares);
    if (e == 0)
      collect_cb(k, st_chain__k2(k, ST_K_DEL, del, op), NULL, 0, &rs);
    else if (e == ST_ENOENT)
      e = 0;
  } else if (has_del) {
    /* delegator || validator -> shares */
    e = scan(&r, ST_K_DEL, del, ST_ADDR_LEN, 1 + 2 * ST_ADDR_LEN, &rs);
  } else {
    /* validator || delegator -> "" */
    e = scan(&r, ST_K_DEL_BY_VAL, op, ST_ADDR_LEN, 1 + 2 * ST_ADDR_LEN, &rs);
  }
  if (e != 0) {
    rc = ierr(err, cap, e);
    goto out;
  }
  total = rs.n;
  if ((rc = page_params(params, total, &first, &count, err, cap)) != 0)
    goto out;
  list = json_array();
  for (size_t i = first; i < first + count && e == 0; i++) {
    const uint8_t *d = del, *o = op;
    if (has_del)
      o = rs.v[i].key + 1 + ST_ADDR_LEN;
    else
      d = rs.v[i].key + 1 + ST_ADDR_LEN;
    st_u128 shares;
    st_val_t ov;
    if ((e = st_chain__del_get(&r.c, d, o, &shares)) == 0 &&
        (e = st_chain__val_get(&r.c, o, &ov)) == 0)
      json_array_append_new(list, del_json(d, &ov, shares));
  }
  if (e != 0) {
    /* An index entry without its delegation, or a delegation without its
     * validator, is a broken state. */
    rc = ierr(err, cap, e == ST_ENOENT ? ST_ECORRUPT : e);
    goto out;
  }
  *result = json_pack("{s:O,s:I}", "delegations", list, "total", (json_int_t)total);
out:
  json_decref(list);
  recs_free(&rs);
  reader_close(&r);
  return rc;
}

/* Key of an unbonding entry: kind(1) delegator(20) operator(20) height(8)
 * seq(8). */
#define UBD_KEY_LEN (1 + 2 * ST_ADDR_LEN + 16)

static json_t *ubd_json(const uint8_t *key, const uint8_t *val) {
  st_ubd_t u;
  st_chain__ubd_decode(val, &u);
  return json_pack("{s:o,s:o,s:I,s:I,s:o,s:o}", "delegator", addr_json(key + 1), "validator",
                   addr_json(key + 1 + ST_ADDR_LEN), "creation_height",
                   (json_int_t)st_chain__rd64(key + 1 + 2 * ST_ADDR_LEN),
                   "completion_time_ms", (json_int_t)u.completion_ms, "initial_balance",
                   u128_json(u.initial), "balance", u128_json(u.balance));
}

int st_chain__q_unbonding(st_chain_t *ch, json_t *params, json_t **result, char *err,
                          size_t cap) {
  static const char *const allowed[] = {"delegator", "validator", "page", "per_page", NULL};
  uint8_t del[ST_ADDR_LEN], op[ST_ADDR_LEN];
  bool has_del, has_val;
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = addr_param(params, "delegator", del, &has_del, err, cap)) != 0 ||
      (rc = addr_param(params, "validator", op, &has_val, err, cap)) != 0)
    return rc;
  if (!has_del && !has_val)
    return perr(err, cap, "delegator or validator is required");
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  recs_t rs;
  json_t *list = NULL;
  size_t first, count;
  int e;
  /* Entries outlive their validator's record, so it need not exist. */
  if (has_del) {
    uint8_t p[2 * ST_ADDR_LEN];
    memcpy(p, del, ST_ADDR_LEN);
    memcpy(p + ST_ADDR_LEN, op, ST_ADDR_LEN);
    e = scan(&r, ST_K_UBD, p, has_val ? 2 * ST_ADDR_LEN : ST_ADDR_LEN, UBD_KEY_LEN, &rs);
  } else {
    e = scan(&r, ST_K_UBD_BY_VAL, op, ST_ADDR_LEN, UBD_KEY_LEN, &rs);
  }
  if (e != 0) {
    rc = ierr(err, cap, e);
    goto out_reader;
  }
  if ((rc = page_params(params, rs.n, &first, &count, err, cap)) != 0)
    goto out;
  list = json_array();
  for (size_t i = first; i < first + count; i++) {
    uint8_t k[UBD_KEY_LEN];
    const uint8_t *v;
    size_t n;
    if (has_del) {
      memcpy(k, rs.v[i].key, UBD_KEY_LEN);
    } else {
      /* operator || delegator || height || seq -> delegator || operator || ... */
      k[0] = ST_K_UBD;
      memcpy(k + 1, rs.v[i].key + 1 + ST_ADDR_LEN, ST_ADDR_LEN);
      memcpy(k + 1 + ST_ADDR_LEN, rs.v[i].key + 1, ST_ADDR_LEN);
      memcpy(k + 1 + 2 * ST_ADDR_LEN, rs.v[i].key + 1 + 2 * ST_ADDR_LEN, 16);
    }
    const uint8_t *val = rs.v[i].val;
    if (!has_del) {
      e = st_chain__ov_read(&r.ov, ST_CHAIN__SP_STATE, k, sizeof(k), &v, &n);
      if (e == 0 && n != ST_UBD_LEN)
        e = ST_ECORRUPT;
      if (e != 0) {
        rc = ierr(err, cap, e == ST_ENOENT ? ST_ECORRUPT : e);
        goto out;
      }
      val = v;
    } else if (rs.v[i].vlen != ST_UBD_LEN) {
      rc = ierr(err, cap, ST_ECORRUPT);
      goto out;
    }
    json_array_append_new(list, ubd_json(k, val));
  }
  *result = json_pack("{s:O,s:I}", "entries", list, "total", (json_int_t)rs.n);
out:
  json_decref(list);
  recs_free(&rs);
out_reader:
  reader_close(&r);
  return rc;
}

/* Key of a redelegation: kind(1) delegator(20) src(20) dst(20) height(8)
 * seq(8). */
#define RED_KEY_LEN (1 + 3 * ST_ADDR_LEN + 16)

int st_chain__q_redelegations(st_chain_t *ch, json_t *params, json_t **result, char *err,
                              size_t cap) {
  static const char *const allowed[] = {"delegator", "page", "per_page", NULL};
  uint8_t del[ST_ADDR_LEN];
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = addr_required(params, "delegator", del, err, cap)) != 0)
    return rc;
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  recs_t rs;
  json_t *list = NULL;
  size_t first, count;
  int e = scan(&r, ST_K_RED, del, ST_ADDR_LEN, RED_KEY_LEN, &rs);
  if (e != 0) {
    rc = ierr(err, cap, e);
    goto out_reader;
  }
  if ((rc = page_params(params, rs.n, &first, &count, err, cap)) != 0)
    goto out;
  list = json_array();
  for (size_t i = first; i < first + count; i++) {
    const uint8_t *k = rs.v[i].key;
    st_red_t red;
    if (rs.v[i].vlen != ST_RED_LEN) {
      rc = ierr(err, cap, ST_ECORRUPT);
      goto out;
    }
    st_chain__red_decode(rs.v[i].val, &red);
    json_array_append_new(
      list, json_pack("{s:o,s:o,s:o,s:I,s:I,s:o,s:o}", "delegator", addr_json(k + 1), "src",
                      addr_json(k + 1 + ST_ADDR_LEN), "dst",
                      addr_json(k + 1 + 2 * ST_ADDR_LEN), "creation_height",
                      (json_int_t)st_chain__rd64(k + 1 + 3 * ST_ADDR_LEN),
                      "completion_time_ms", (json_int_t)red.completion_ms,
                      "initial_balance", u128_json(red.initial), "shares_dst",
                      u128_json(red.shares_dst)));
  }
  *result = json_pack("{s:O,s:I}", "entries", list, "total", (json_int_t)rs.n);
out:
  json_decref(list);
  recs_free(&rs);
out_reader:
  reader_close(&r);
  return rc;
}

/* ---- distribution ---- */

int st_chain__q_rewards(st_chain_t *ch, json_t *params, json_t **result, char *err,
                        size_t cap) {
  static const char *const allowed[] = {"delegator", "validator", NULL};
  uint8_t del[ST_ADDR_LEN], op[ST_ADDR_LEN];
  bool has_val;
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = addr_required(params, "delegator", del, err, cap)) != 0 ||
      (rc = addr_param(params, "validator", op, &has_val, err, cap)) != 0)
    return rc;
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  recs_t rs = {0};
  json_t *list = json_array();
  st_u128 total = 0;
  st_val_t v;
  int e = 0;
  if (has_val) {
    st_u128 shares;
    if ((rc = val_required(&r, op, &v, err, cap)) != 0)
      goto out;
    e = st_chain__del_get(&r.c, del, op, &shares);
    if (e == 0) {
      uint8_t k[1 + 2 * ST_ADDR_LEN];
      collect_cb(k, st_chain__k2(k, ST_K_DEL, del, op), NULL, 0, &rs);
    } else if (e == ST_ENOENT) {
      e = 0;
    }
  } else {
    e = scan(&r, ST_K_DEL, del, ST_ADDR_LEN, 1 + 2 * ST_ADDR_LEN, &rs);
  }
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
                                          u128_json(amount)));
  }
  if (e != 0) {
    rc = ierr(err, cap, e == ST_ENOENT ? ST_ECORRUPT : e);
    goto out;
  }
  json_t *res = json_pack("{s:O,s:o}", "rewards", list, "total", u128_json(total));
  /* A validator's operator also has its commission to withdraw. */
  e = st_chain__val_get(&r.c, del, &v);
  if (e == 0) {
    st_u128 comm;
    if ((e = commission_of(&r, del, &comm)) == 0)
      json_object_set_new(res, "commission", u128_json(comm));
  } else if (e == ST_ENOENT) {
    e = 0;
  }
  if (e != 0) {
    json_decref(res);
    rc = ierr(err, cap, e);
    goto out;
  }
  *result = res;
out:
  json_decref(list);
  recs_free(&rs);
  reader_close(&r);
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

int st_chain__q_proposals(st_chain_t *ch, json_t *params, json_t **result, char *err,
                          size_t cap) {
  static const char *const allowed[] = {"status", "page", "per_page", NULL};
  int want, rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = enum_param(params, "status", prop_statuses, &want, err, cap)) != 0)
    return rc;
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  recs_t rs;
  json_t *all = json_array(), *list = NULL;
  size_t first, count;
  int e = scan(&r, ST_K_GOV_PROP, NULL, 0, 1 + 8, &rs);
  for (size_t i = 0; i < rs.n && e == 0; i++) {
    json_t *j = prop_json(rs.v[i].val, rs.v[i].vlen, st_chain__rd64(rs.v[i].key + 1), &e);
    if (!j)
      break;
    const char *s = json_string_value(json_object_get(j, "status"));
    if (want < 0 || (s && strcmp(s, prop_statuses[want]) == 0))
      json_array_append(all, j);
    json_decref(j);
  }
  if (e != 0) {
    rc = ierr(err, cap, e);
    goto out;
  }
  if ((rc = page_params(params, json_array_size(all), &first, &count, err, cap)) != 0)
    goto out;
  list = json_array();
  for (size_t i = first; i < first + count; i++)
    json_array_append(list, json_array_get(all, i));
  *result = json_pack("{s:O,s:I}", "proposals", list, "total",
                      (json_int_t)json_array_size(all));
out:
  json_decref(all);
  json_decref(list);
  recs_free(&rs);
  reader_close(&r);
  return rc;
}

int st_chain__q_proposal(st_chain_t *ch, json_t *params, json_t **result, char *err,
                         size_t cap) {
  static const char *const allowed[] = {"id", NULL};
  int64_t id;
  bool present;
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = num_param(params, "id", &id, &present, err, cap)) != 0)
    return rc;
  if (!present)
    return perr(err, cap, "id is required");
  if (id < 1)
    return perr(err, cap, "id must be a proposal number (1 or more)");
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  uint8_t k[1 + 8];
  const uint8_t *v;
  size_t n;
  recs_t deps = {0}, votes = {0};
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
                                         u128_json(st_chain__get128(deps.v[i].val))));
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
    rc = ierr(err, cap, e);
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
      rc = ierr(err, cap, e);
      goto out;
    }
    json_object_set_new(j, "live_tally",
                        json_pack("{s:o,s:o,s:o,s:o,s:o}", "yes", u128_json(t[0]), "abstain",
                                  u128_json(t[1]), "no", u128_json(t[2]), "no_with_veto",
                                  u128_json(t[3]), "bonded_tokens", u128_json(bonded)));
  }
  *result = j;
  j = NULL;
out:
  json_decref(j);
  recs_free(&deps);
  recs_free(&votes);
  reader_close(&r);
  return rc;
}

/* ---- params and pools ---- */

int st_chain__q_params(st_chain_t *ch, json_t *params, json_t **result, char *err,
                       size_t cap) {
  int rc = st_rpc_check_params(params, NULL, err, cap);
  if (rc != 0)
    return rc;
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  st_chain__params_t cur;
  int e = st_chain__params_load(&r.c, &ch->gen.p, &cur);
  if (e == ST_ENOENT) {
    /* Before genesis wrote the record, the genesis parameters hold. */
    cur = ch->gen.p;
    e = 0;
  }
  reader_close(&r);
  if (e != 0)
    return ierr(err, cap, e);
  json_t *j = st_chain__params_json(&cur);
  if (!j)
    return ierr(err, cap, ST_ENOMEM);
  *result = j;
  return 0;
}

int st_chain__q_pools(st_chain_t *ch, json_t *params, json_t **result, char *err,
                      size_t cap) {
  int rc = st_rpc_check_params(params, NULL, err, cap);
  if (rc != 0)
    return rc;
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  json_t *res = json_object();
  int e = 0;
  for (int i = 0; i < ST_MACC_N && e == 0; i++) {
    st_chain__acct_t a;
    const uint8_t *addr = st_chain__macc(i);
    if ((e = st_chain__ov_get(&r.ov, addr, &a)) == 0)
      json_object_set_new(res, st_chain__macc_name(i),
                          json_pack("{s:o,s:o}", "address", addr_json(addr), "balance",
                                    u128_json(a.balance)));
  }
  reader_close(&r);
  if (e != 0) {
    json_decref(res);
    return ierr(err, cap, e);
  }
  *result = res;
  return 0;
}

/* ---- methods ---- */

typedef int (*query_fn)(st_chain_t *, json_t *, json_t **, char *, size_t);

static void run_query(st_rpc_call_t *call, json_t *params, void *ud, query_fn fn) {
  char err[256];
  json_t *res = NULL;
  err[0] = '\0';
  int code = fn(ud, params, &res, err, sizeof(err));
  if (code != 0)
    st_rpc_error(call, code, err, NULL);
  else
    st_rpc_result(call, res);
}

#define METHOD(name)                                                   \
  static void m_##name(st_rpc_call_t *c, json_t *p, void *ud) {        \
    run_query(c, p, ud, st_chain__q_##name);                           \
  }
METHOD(validators)
METHOD(validator)
METHOD(delegations)
METHOD(unbonding)
METHOD(redelegations)
METHOD(rewards)
METHOD(proposals)
METHOD(proposal)
METHOD(params)
METHOD(pools)
#undef METHOD

void st_chain__query_register(st_chain_t *ch, st_rpc_t *rpc) {
  static const struct {
    const char *name;
    st_rpc_method_fn fn;
  } m[] = {
    {"validators", m_validators},   {"validator", m_validator},
    {"delegations", m_delegations}, {"unbonding", m_unbonding},
    {"redelegations", m_redelegations}, {"rewards", m_rewards},
    {"proposals", m_proposals},     {"proposal", m_proposal},
    {"params", m_params},           {"pools", m_pools},
  };
  for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
    int rc = st_rpc_register(rpc, m[i].name, m[i].fn, ch);
    if (rc != 0)
      ST_WARN("chain", "cannot register JSON-RPC method %s: %s", m[i].name, st_strerror(rc));
  }
}
