/* The JSON-RPC queries of register and sds: resource and meta nodes, the
 * votes on meta candidates, what a prepay would buy now and the ozone
 * pool.
 *
 * As in query.c, every query reads the committed state in one read
 * transaction through an overlay, so the module's own record getters
 * serve here and an answer never mixes two heights. Lists are paged:
 * page (from 1) and per_page (30, at most 100), with the total count.
 * Nodes are stsds1..., owners st1..., amounts decimal strings of wei. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_meta.h>
#include "chain/nodes.h"

#define PER_PAGE_DEFAULT 30
#define PER_PAGE_MAX 100
#define UBD_KEY_LEN (1 + 8 + ST_ADDR_LEN + 8)
#define UBD_VAL_LEN (ST_ADDR_LEN + 16)

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

/* A required stsds1... node address. */
static int node_param(json_t *params, const char *name, uint8_t out[ST_ADDR_LEN], char *err,
                      size_t cap) {
  json_t *a = param(params, name);
  if (!a)
    return perr(err, cap, "%s is required", name);
  if (!json_is_string(a) || st_addr_decode(json_string_value(a), ST_HRP_NODE, out) != 0)
    return perr(err, cap, "%s must be an stsds1... node address", name);
  return 0;
}

/* An optional non-negative integer (JSON integer or decimal string). */
static int num_param(json_t *params, const char *name, int64_t *out, char *err, size_t cap) {
  json_t *v = param(params, name);
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

/* An optional amount of wei: a decimal string or a JSON integer. */
static int wei_param(json_t *params, const char *name, st_u128 *out, char *err, size_t cap) {
  json_t *v = param(params, name);
  if (!v)
    return 0;
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (st_u128)json_integer_value(v);
    return 0;
  }
  if (json_is_string(v) && st_u128_parse(json_string_value(v), out) == 0)
    return 0;
  return perr(err, cap, "%s must be a decimal string of wei", name);
}

/* An optional node status filter; *want is -1 when absent. */
static int status_param(json_t *params, bool meta, int *want, char *err, size_t cap) {
  json_t *v = param(params, "status");
  *want = -1;
  if (!v)
    return 0;
  for (uint8_t s = ST_NODE_ACTIVE; json_is_string(v) && s <= ST_NODE_KICKED; s++) {
    bool for_kind = meta || s == ST_NODE_ACTIVE || s == ST_NODE_REMOVED;
    if (for_kind && strcmp(json_string_value(v), st_chain__node_status_name(s)) == 0) {
      *want = s;
      return 0;
    }
  }
  return meta ? perr(err, cap, "status must be \"pending\", \"active\", \"rejected\", "
                               "\"kicked\" or \"removed\"")
              : perr(err, cap, "status must be \"active\" or \"removed\"");
}

/* Reads page and per_page against total items: [*first, *first + *count). */
static int page_params(json_t *params, size_t total, size_t *first, size_t *count,
                       char *err, size_t cap) {
  int64_t page = 1, per = PER_PAGE_DEFAULT;
  int rc;
  if ((rc = num_param(params, "page", &page, err, cap)) != 0 ||
      (rc = num_param(params, "per_page", &per, err, cap)) != 0)
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

static json_t *addr_json(const char *hrp, const uint8_t a[ST_ADDR_LEN]) {
  char s[ST_ADDR_STR_MAX];
  if (st_addr_encode(hrp, a, s, sizeof(s)) != 0)
    return json_string("");
  return json_string(s);
}

static json_t *text_json(const char *s) {
  char safe[ST_NODE_NETADDR_MAX + 1];
  st_chain__safe_str(s, strlen(s), safe, sizeof(safe));
  return json_string(safe);
}

/* ---- reading ---- */

typedef struct reader {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_chain__ctx_t c;
  char log[ST_CHAIN__LOG_MAX];
} reader_t;

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
  r->c.log = r->log;
  r->c.logcap = sizeof(r->log);
  return 0;
}

static void reader_close(reader_t *r) {
  st_chain__ov_free(&r->ov);
  st_txn_abort(r->txn);
}

/* ---- nodes ---- */

/* A node as the lists show it; meta nodes carry the live tally of the
 * vote on them (pending: registration, active: a kick attempt). */
static json_t *node_json(reader_t *r, const st_chain__node_t *n, bool meta, int *rc) {
  char hex[2 * ST_PUBKEY_LEN + 1];
  st_hex_encode(n->pubkey, ST_PUBKEY_LEN, hex, sizeof(hex));
  json_t *j = json_pack("{s:o,s:s,s:o,s:o,s:o,s:o,s:s,s:b,s:I}", "address",
                        addr_json(ST_HRP_NODE, n->addr), "pub_key", hex, "owner",
                        addr_json(ST_HRP_WALLET, n->owner), "deposit", u128_json(n->deposit),
                        "network_address", text_json(n->network_address), "moniker",
                        text_json(n->moniker), "status", st_chain__node_status_name(n->status),
                        "suspended", n->suspended, "created_height",
                        (json_int_t)n->created_height);
  *rc = 0;
  if (!j) {
    *rc = ST_ENOMEM;
    return NULL;
  }
  if (!meta) {
    json_object_set_new(j, "node_type", json_integer(n->type));
    json_object_set_new(j, "capacity", json_integer((json_int_t)n->capacity));
    return j;
  }
  if (n->status != ST_NODE_PENDING && n->status != ST_NODE_ACTIVE)
    return j;
  uint32_t yes, no, active;
  bool kick = n->status == ST_NODE_ACTIVE;
  if ((*rc = st_chain__meta_tally(&r->c, n->addr, kick, &yes, &no, &active)) != 0) {
    json_decref(j);
    return NULL;
  }
  /* The thresholds register.c decides by, for the one who waits. */
  uint32_t pass = active * 2 / 3 + 1, fail = active / 3 > 1 ? active / 3 : 1;
  if (!kick)
    json_object_set_new(j, "votes",
                        json_pack("{s:i,s:i,s:i,s:i,s:i}", "yes", (int)yes, "no", (int)no,
                                  "active", (int)active, "approve_at", (int)pass,
                                  "reject_at", (int)fail));
  else if (yes || no)
    json_object_set_new(j, "kick_votes",
                        json_pack("{s:i,s:i,s:i,s:i,s:i}", "kick", (int)yes, "keep", (int)no,
                                  "active", (int)active, "kick_at", (int)pass, "keep_at",
                                  (int)fail));
  return j;
}

/* The deposits of node still unbonding, soonest first. */
typedef struct ubds {
  const uint8_t *node;
  json_t *list;
} ubds_t;

static int ubd_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud) {
  ubds_t *u = ud;
  const uint8_t *k = key;
  if (klen != UBD_KEY_LEN || vlen != UBD_VAL_LEN)
    return ST_ECORRUPT;
  if (memcmp(k + 9, u->node, ST_ADDR_LEN) != 0)
    return 0;
  json_array_append_new(
    u->list, json_pack("{s:o,s:o,s:I}", "owner",
                       addr_json(ST_HRP_WALLET, val), "amount",
                       u128_json(st_chain__get128((const uint8_t *)val + ST_ADDR_LEN)),
                       "completion_time_ms", (json_int_t)st_chain__rd64(k + 1)));
  return 0;
}

static int unbonding_json(reader_t *r, const uint8_t node[ST_ADDR_LEN], json_t *j) {
  uint8_t kind = ST_K_NODE_UBD;
  ubds_t u = {node, json_array()};
  int rc = st_chain__ov_scan(&r->ov, ST_CHAIN__SP_STATE, &kind, 1, ubd_cb, &u);
  if (rc != 0) {
    json_decref(u.list);
    return rc;
  }
  json_object_set_new(j, "unbonding", u.list);
  return 0;
}

static int q_list(st_chain_t *ch, bool meta, json_t *params, json_t **result, char *err,
                  size_t cap) {
  static const char *const allowed[] = {"status", "page", "per_page", NULL};
  int want, rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = status_param(params, meta, &want, err, cap)) != 0)
    return rc;
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  st_chain__node_t *v = NULL;
  size_t n = 0, m = 0, first = 0, count = 0;
  json_t *list = NULL;
  int e = st_chain__nodes_list(&r.c, meta, &v, &n);
  if (e != 0) {
    rc = ierr(err, cap, e);
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (want < 0 || v[i].status == want)
      v[m++] = v[i];
  if ((rc = page_params(params, m, &first, &count, err, cap)) != 0)
    goto out;
  list = json_array();
  for (size_t i = first; i < first + count; i++) {
    json_t *j = node_json(&r, &v[i], meta, &e);
    if (!j) {
      rc = ierr(err, cap, e);
      goto out;
    }
    json_array_append_new(list, j);
  }
  *result = json_pack("{s:O,s:I}", meta ? "meta_nodes" : "resource_nodes", list, "total",
                      (json_int_t)m);
out:
  json_decref(list);
  free(v);
  reader_close(&r);
  return rc;
}

static int q_one(st_chain_t *ch, bool meta, json_t *params, json_t **result, char *err,
                 size_t cap) {
  static const char *const allowed[] = {"address", NULL};
  uint8_t a[ST_ADDR_LEN];
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = node_param(params, "address", a, err, cap)) != 0)
    return rc;
  reader_t r;
  if ((rc = reader_open(ch, &r, err, cap)) != 0)
    return rc;
  st_chain__node_t n;
  json_t *j = NULL;
  int e = meta ? st_chain__meta_node_get(&r.c, a, &n) : st_chain__res_node_get(&r.c, a, &n);
  if (e == ST_ENOENT) {
    char s[ST_ADDR_STR_MAX];
    st_addr_encode(ST_HRP_NODE, a, s, sizeof(s));
    snprintf(err, cap, "%s node %s not found", meta ? "meta" : "resource", s);
    rc = ST_RPC_INVALID_PARAMS;
  } else if (e != 0 || !(j = node_json(&r, &n, meta, &e)) ||
             (e = unbonding_json(&r, a, j)) != 0) {
    rc = ierr(err, cap, e ? e : ST_ENOMEM);
  } else {
    *result = j;
    j = NULL;
  }
  json_decref(j);
  reader_close(&r);
  return rc;
}

int st_chain__q_resource_nodes(st_chain_t *ch, json_t *params, json_t **result, char *err,
                               size_t cap) {
  return q_list(ch, false, params, result, err, cap);
}

int st_chain__q_meta_nodes(st_chain_t *ch, json_t *params, json_t **result, char *err,
                           size_t cap) {
  return q_list(ch, true, params, result, err, cap);
}

int st_chain__q_resource_node(st_chain_t *ch, json_t *params, json_t **result, char *err,
                              size_t cap) {
  int rc = q_one(ch, false, params, result, err, cap);
  /* On a meta node, the mining status the meta chain keeps. */
  uint8_t a[ST_ADDR_LEN];
  json_t *lv = NULL;
  json_t *addr = rc == 0 ? json_object_get(*result, "address") : NULL;
  if (json_is_string(addr) && ch->node &&
      st_addr_decode(json_string_value(addr), ST_HRP_NODE, a) == 0 &&
      st_meta_liveness(ch->node, a, &lv) == 0) {
    json_object_update(*result, lv);
    json_decref(lv);
  }
  return rc;
}

int st_chain__q_meta_node(st_chain_t *ch, json_t *params, json_t **result, char *err,
                          size_t cap) {
  return q_one(ch, true, params, result, err, cap);
}

/* ---- sds ---- */

/* The pool as the last committed height left it. */
static int pool_read(st_chain_t *ch, st_sds_pool_t *pool, char *err, size_t cap) {
  reader_t r;
  int rc = reader_open(ch, &r, err, cap);
  if (rc != 0)
    return rc;
  int e = st_chain__sds_pool_get(&r.c, pool);
  reader_close(&r);
  return e != 0 ? ierr(err, cap, e) : 0;
}

int st_chain__q_ozone_price(st_chain_t *ch, json_t *params, json_t **result, char *err,
                            size_t cap) {
  static const char *const allowed[] = {"amount", NULL};
  st_u128 x = ST_DEC_ONE, noz, price;
  st_sds_pool_t pool;
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = wei_param(params, "amount", &x, err, cap)) != 0)
    return rc;
  if (x == 0)
    return perr(err, cap, "amount must be greater than zero");
  if ((rc = pool_read(ch, &pool, err, cap)) != 0)
    return rc;
  if (st_chain__sds_quote(&pool, x, &noz) != 0)
    return perr(err, cap, "amount is too large for the pool (128 bits)");
  json_t *p = json_null();
  /* wei per noz with 18 decimals, rounded up: never below what a noz
   * costs at this amount. */
  if (noz && st_u128_muldiv_up(x, ST_DEC_ONE, noz, &price) == 0) {
    char s[ST_DEC_STR_MAX];
    st_dec_format(price, s);
    p = json_string(s);
  }
  *result = json_pack("{s:o,s:o,s:o}", "amount", u128_json(x), "noz", u128_json(noz),
                      "price_wei_per_noz", p);
  return 0;
}

int st_chain__q_prepay_pool(st_chain_t *ch, json_t *params, json_t **result, char *err,
                            size_t cap) {
  st_sds_pool_t pool;
  int rc = st_rpc_check_params(params, NULL, err, cap);
  if (rc != 0 || (rc = pool_read(ch, &pool, err, cap)) != 0)
    return rc;
  *result = json_pack("{s:o,s:o,s:o}", "total_deposit", u128_json(pool.S), "prepay_pool",
                      u128_json(pool.Pt), "ozone_limit", u128_json(pool.Lt));
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

#define METHOD(name)                                            \
  static void m_##name(st_rpc_call_t *c, json_t *p, void *ud) { \
    run_query(c, p, ud, st_chain__q_##name);                    \
  }
METHOD(resource_nodes)
METHOD(resource_node)
METHOD(meta_nodes)
METHOD(meta_node)
METHOD(ozone_price)
METHOD(prepay_pool)
#undef METHOD

void st_chain__query_nodes_register(st_chain_t *ch, st_rpc_t *rpc) {
  static const struct {
    const char *name;
    st_rpc_method_fn fn;
  } m[] = {
    {"resource_nodes", m_resource_nodes}, {"resource_node", m_resource_node},
    {"meta_nodes", m_meta_nodes},         {"meta_node", m_meta_node},
    {"ozone_price", m_ozone_price},       {"prepay_pool", m_prepay_pool},
  };
  for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
    int rc = st_rpc_register(rpc, m[i].name, m[i].fn, ch);
    if (rc != 0)
      ST_WARN("chain", "cannot register JSON-RPC method %s: %s", m[i].name, st_strerror(rc));
  }
}
