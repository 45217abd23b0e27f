/* The JSON-RPC queries of register and sds: resource and meta nodes, the
 * votes on meta candidates, what a prepay would buy now and the ozone
 * pool.
 *
 * As in query.c, every query reads the committed state through the kit's
 * reader (qkit.h), so the module's own record getters serve here. Lists
 * are paged (page, per_page, total). Nodes are stsds1..., owners st1...,
 * amounts decimal strings of wei. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_meta.h>
#include "chain/nodes.h"
#include "chain/qkit.h"

#define UBD_KEY_LEN (1 + 8 + ST_ADDR_LEN + 8)
#define UBD_VAL_LEN (ST_ADDR_LEN + 16)

/* ---- parameters ---- */

/* An optional amount of wei: a decimal string or a JSON integer. */
static int wei_param(json_t *params, const char *name, st_u128 *out, char *err, size_t cap) {
  json_t *v = st_qk_param(params, name);
  if (!v)
    return 0;
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (st_u128)json_integer_value(v);
    return 0;
  }
  if (json_is_string(v) && st_u128_parse(json_string_value(v), out) == 0)
    return 0;
  return st_qk_perr(err, cap, "%s must be a decimal string of wei", name);
}

/* An optional node status filter; *want is -1 when absent. Resource
 * nodes are only ever active or removed. */
static int status_param(json_t *params, bool meta, int *want, char *err, size_t cap) {
  static const char *const meta_names[] = {"pending", "active", "rejected", "kicked",
                                           "removed", NULL};
  static const uint8_t meta_status[] = {ST_NODE_PENDING, ST_NODE_ACTIVE, ST_NODE_REJECTED,
                                        ST_NODE_KICKED, ST_NODE_REMOVED};
  static const char *const res_names[] = {"active", "removed", NULL};
  static const uint8_t res_status[] = {ST_NODE_ACTIVE, ST_NODE_REMOVED};
  int i, rc = st_qk_enum(params, "status", meta ? meta_names : res_names, &i, err, cap);
  *want = i < 0 ? -1 : meta ? meta_status[i] : res_status[i];
  return rc;
}

/* ---- JSON values ---- */

static json_t *text_json(const char *s) {
  char safe[ST_NODE_NETADDR_MAX + 1];
  st_chain__safe_str(s, strlen(s), safe, sizeof(safe));
  return json_string(safe);
}

/* ---- nodes ---- */

/* A node as the lists show it; meta nodes carry the live tally of the
 * vote on them (pending: registration, active: a kick attempt). */
static json_t *node_json(st_qk_reader_t *r, const st_chain__node_t *n, bool meta, int *rc) {
  json_t *j = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:b,s:I}", "address",
                        st_qk_addr_json(ST_HRP_NODE, n->addr), "pub_key",
                        st_qk_hex_json(n->pubkey, ST_PUBKEY_LEN), "owner",
                        st_qk_addr_json(ST_HRP_WALLET, n->owner), "deposit",
                        st_qk_u128_json(n->deposit), "network_address",
                        text_json(n->network_address), "moniker", text_json(n->moniker),
                        "status", st_chain__node_status_name(n->status), "suspended",
                        n->suspended, "created_height", (json_int_t)n->created_height);
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
                       st_qk_addr_json(ST_HRP_WALLET, val), "amount",
                       st_qk_u128_json(st_chain__get128((const uint8_t *)val + ST_ADDR_LEN)),
                       "completion_time_ms", (json_int_t)st_chain__rd64(k + 1)));
  return 0;
}

static int unbonding_json(st_qk_reader_t *r, const uint8_t node[ST_ADDR_LEN], json_t *j) {
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

typedef struct nodes {
  st_qk_reader_t *r;
  const st_chain__node_t *v;
  bool meta;
} nodes_t;

static json_t *node_item(void *ud, size_t i, int *rc) {
  const nodes_t *x = ud;
  return node_json(x->r, &x->v[i], x->meta, rc);
}

static int q_list(st_chain_t *ch, bool meta, json_t *params, json_t **result, char *err,
                  size_t cap) {
  static const char *const allowed[] = {"status", "page", "per_page", NULL};
  int want, rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = status_param(params, meta, &want, err, cap)) != 0)
    return rc;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  st_chain__node_t *v = NULL;
  size_t n = 0, m = 0;
  int e = st_chain__nodes_list(&r.c, meta, &v, &n);
  for (size_t i = 0; i < n && e == 0; i++)
    if (want < 0 || v[i].status == want)
      v[m++] = v[i];
  nodes_t x = {&r, v, meta};
  rc = e != 0 ? st_qk_ierr(err, cap, e)
              : st_qk_list(params, m, meta ? "meta_nodes" : "resource_nodes", node_item, &x,
                           result, err, cap);
  free(v);
  st_qk_close(&r);
  return rc;
}

static int q_one(st_chain_t *ch, bool meta, json_t *params, json_t **result, char *err,
                 size_t cap) {
  static const char *const allowed[] = {"address", NULL};
  uint8_t a[ST_ADDR_LEN];
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = st_qk_addr_required(params, "address", ST_HRP_NODE, a, err, cap)) != 0)
    return rc;
  st_qk_reader_t r;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
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
    rc = st_qk_ierr(err, cap, e ? e : ST_ENOMEM);
  } else {
    *result = j;
    j = NULL;
  }
  json_decref(j);
  st_qk_close(&r);
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
  st_qk_reader_t r;
  int rc = st_qk_open(ch, &r, err, cap);
  if (rc != 0)
    return rc;
  int e = st_chain__sds_pool_get(&r.c, pool);
  st_qk_close(&r);
  return e != 0 ? st_qk_ierr(err, cap, e) : 0;
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
    return st_qk_perr(err, cap, "amount must be greater than zero");
  if ((rc = pool_read(ch, &pool, err, cap)) != 0)
    return rc;
  if (st_chain__sds_quote(&pool, x, &noz) != 0)
    return st_qk_perr(err, cap, "amount is too large for the pool (128 bits)");
  /* wei per noz with 18 decimals, rounded up: never below what a noz
   * costs at this amount. */
  bool priced = noz && st_u128_muldiv_up(x, ST_DEC_ONE, noz, &price) == 0;
  json_t *p = priced ? st_qk_dec_json(price) : json_null();
  *result = json_pack("{s:o,s:o,s:o}", "amount", st_qk_u128_json(x), "noz", st_qk_u128_json(noz),
                      "price_wei_per_noz", p);
  return 0;
}

int st_chain__q_prepay_pool(st_chain_t *ch, json_t *params, json_t **result, char *err,
                            size_t cap) {
  st_sds_pool_t pool;
  int rc = st_rpc_check_params(params, NULL, err, cap);
  if (rc != 0 || (rc = pool_read(ch, &pool, err, cap)) != 0)
    return rc;
  *result = json_pack("{s:o,s:o,s:o}", "total_deposit", st_qk_u128_json(pool.S), "prepay_pool",
                      st_qk_u128_json(pool.Pt), "ozone_limit", st_qk_u128_json(pool.Lt));
  return 0;
}

/* ---- methods ---- */

ST_QK_METHOD(resource_nodes)
ST_QK_METHOD(resource_node)
ST_QK_METHOD(meta_nodes)
ST_QK_METHOD(meta_node)
ST_QK_METHOD(ozone_price)
ST_QK_METHOD(prepay_pool)

void st_chain__query_nodes_register(st_chain_t *ch, st_rpc_t *rpc) {
  static const st_qk_method_t m[] = {
    {"resource_nodes", m_resource_nodes}, {"resource_node", m_resource_node},
    {"meta_nodes", m_meta_nodes},         {"meta_node", m_meta_node},
    {"ozone_price", m_ozone_price},       {"prepay_pool", m_prepay_pool},
  };
  st_qk_register(rpc, ch, m, sizeof(m) / sizeof(m[0]));
}
