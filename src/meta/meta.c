/* The meta module's hooks.
 *
 * On a node with the meta role and a genesis naming meta nodes, it runs
 * the meta chain: a second instance of the consensus engine ("meta",
 * chain id "<value chain id>-meta", equal weights), fed by this module
 * with the frames of the meta channels, over the application of app.c.
 * On a node with the resource role it signs a heartbeat every
 * heartbeat_interval and sends it to its peers on the meta mempool
 * channel, where meta nodes pool it for their next block; file txs
 * travel on the same channel (frame type 2), and holders' SliceCheck
 * and SliceRepair frames arrive on the meta channel (pool.c). The
 * JSON-RPC methods read the meta state: meta_status, ozone_balance,
 * resource_status, broadcast_heartbeat, placement, file_info, and the
 * traffic ones (traffic.c): epoch, volume_report, earnings. Receipt
 * submissions travel on the meta mempool channel as frame type 3, the
 * authorities' volume report signatures as type 4 (report.c). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_meta.h>
#include <stratos/st_resource.h>
#include <stratos/st_net.h>
#include <stratos/st_rpc.h>
#include "meta/meta_private.h"
#include "meta/place.h"

#define BAN_SECONDS 600

typedef struct mod {
  st_node_t *node;
  st_meta_t *m;
  bool run_chain;   /* meta role: the engine runs here */
  bool send_hb;     /* resource role: our heartbeats */
} mod_t;

static void free_handle(uv_handle_t *h) { free(h); }

int st_meta_heartbeat(const st_keypair_t *kp, const char *meta_chain_id, int64_t time_ms,
                      st_buf_t *out) {
  return st_meta__hb_build(kp, meta_chain_id, time_ms, 0, 0, 0, 0, out);
}

/* ---- heartbeats of this node ---- */

static void on_hb_timer(uv_timer_t *t) {
  mod_t *md = t->data;
  st_meta_t *m = md->m;
  st_buf_t b;
  st_buf_init(&b, 1024);
  /* The heartbeat carries wall-clock ms, compared with block times. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  /* Capacity used is what the slice store holds; free, what the
   * registry says this node offers beyond it. */
  uint64_t used, slices, free_ = 0;
  st_resource_usage(md->node, &used, &slices);
  st_meta__rnode_t self;
  st_meta__rq_t r;
  uint8_t me[ST_ADDR_LEN];
  st_addr_from_pubkey(md->node->node_key.pk, me);
  if (st_meta__rq_open(m, &r) == 0) {
    if (st_meta__rnode_get(&r.ov, me, &self) == 0 && self.capacity > used)
      free_ = self.capacity - used;
    st_meta__rq_close(&r);
  }
  int rc = st_meta__hb_build(&md->node->node_key, m->gen.chain_id, now, used, free_, 0, slices,
                             &b);
  if (rc == 0) {
    static const uint8_t everyone[ST_ADDR_LEN];
    st_net_out_t *out = st_net_out_new(everyone, ST_CH_META_MEMPOOL, ST_META__FRAME_HB, b.data,
                                       b.len);
    if ((rc = st_net_send(md->node->bus, ST_MOD_META, out)) != 0)
      ST_DEBUG("meta", "heartbeat not sent: %s", st_strerror(rc));
    if (md->run_chain) {
      char log[160];
      if ((rc = st_meta__hb_submit(m, b.data, b.len, log, sizeof(log))) != 0)
        ST_DEBUG("meta", "own heartbeat refused: %s", log);
      else if (m->cons)
        st_cons_txs_available(m->cons);
    }
    m->hb_sent++;
  }
  st_buf_free(&b);
}

/* ---- JSON-RPC ---- */

static json_t *jwei(st_u128 v) {
  char b[ST_U128_STR_MAX];
  st_u128_format(v, b);
  return json_string(b);
}

static json_t *jhex(const uint8_t *p, size_t n) {
  char h[2 * ST_HASH_LEN + 1];
  st_hex_encode(p, n, h, sizeof(h));
  return json_string(h);
}

static bool addr_param(st_rpc_call_t *call, json_t *params, const char *hrp,
                       uint8_t out[ST_ADDR_LEN]) {
  json_t *a = json_is_object(params) ? json_object_get(params, "address") : NULL;
  if (!json_is_string(a) || st_addr_decode(json_string_value(a), hrp, out) != 0) {
    char msg[96];
    snprintf(msg, sizeof(msg), "invalid params: address must be an %s1... address", hrp);
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, msg, NULL);
    return false;
  }
  return true;
}

static bool check(st_rpc_call_t *call, json_t *params, const char *const *allowed) {
  char err[192];
  if (st_rpc_check_params(params, allowed, err, sizeof(err)) != 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, err, NULL);
    return false;
  }
  return true;
}

static void m_status(st_rpc_call_t *call, json_t *params, void *ud) {
  st_meta_t *m = ud;
  if (!check(call, params, NULL))
    return;
  st_cons_status_t s;
  st_cons_status(m->cons, &s);
  st_meta__rq_t r;
  int64_t applied = 0;
  if (st_meta__rq_open(m, &r) != 0) {
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, "cannot read the meta state", NULL);
    return;
  }
  const uint8_t *p;
  size_t n;
  uint8_t k = ST_META__K_APPLIED;
  if (st_chain__ov_read(&r.ov, ST_META__SP_REC, &k, 1, &p, &n) == 0 && n == 8)
    applied = (int64_t)st_chain__rd64(p);
  st_meta__rq_close(&r);
  const st_cons_valset_t *vs = NULL;
  size_t nauth = st_cons_valset_at(m->cons, s.height + 1, &vs) == 0 && vs ? vs->n : 0;
  st_rpc_result(call, json_pack("{s:s,s:I,s:o,s:o,s:I,s:I,s:b}", "chain_id",
                                m->gen.chain_id, "height", (json_int_t)s.height, "hash",
                                jhex(s.hash, ST_HASH_LEN), "app_hash",
                                jhex(s.app_hash, ST_HASH_LEN), "value_height",
                                (json_int_t)applied, "authorities", (json_int_t)nauth,
                                "catching_up", (int)s.catching_up));
}

static void m_ozone_balance(st_rpc_call_t *call, json_t *params, void *ud) {
  st_meta_t *m = ud;
  static const char *const allowed[] = {"address", NULL};
  uint8_t a[ST_ADDR_LEN];
  if (!check(call, params, allowed) || !addr_param(call, params, ST_HRP_WALLET, a))
    return;
  st_meta__rq_t r;
  st_u128 noz = 0;
  int rc = st_meta__rq_open(m, &r);
  if (rc == 0) {
    rc = st_meta__oz_get(&r.ov, a, &noz);
    st_meta__rq_close(&r);
  }
  if (rc != 0) {
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, "cannot read the meta state", NULL);
    return;
  }
  st_rpc_result(call, json_pack("{s:O,s:o,s:I}", "address", json_object_get(params, "address"),
                                "balance", jwei(noz), "meta_height",
                                (json_int_t)m->last_height));
}

static json_t *rnode_json(const st_meta__rnode_t *r) {
  char a[ST_ADDR_STR_MAX], o[ST_ADDR_STR_MAX];
  st_addr_encode(ST_HRP_NODE, r->addr, a, sizeof(a));
  st_addr_encode(ST_HRP_WALLET, r->owner, o, sizeof(o));
  const char *state = r->status != ST_NODE_ACTIVE ? "removed"
                      : r->suspended             ? "suspended"
                      : r->online                ? "online"
                                                 : "offline";
  return json_pack("{s:s,s:s,s:s,s:i,s:I,s:o,s:I,s:i,s:I,s:I,s:I,s:s,s:I,s:I}", "address", a,
                   "owner", o, "mining_status", state, "node_type", (int)r->node_type,
                   "capacity", (json_int_t)r->capacity, "deposit", jwei(r->deposit),
                   "last_heartbeat_ms", (json_int_t)r->last_hb_ms, "score", (int)r->score,
                   "capacity_used", (json_int_t)r->used, "capacity_free", (json_int_t)r->free_,
                   "served_bytes", (json_int_t)r->served, "network_address", r->netaddr,
                   "audits_passed", (json_int_t)r->audits_passed, "audits_failed",
                   (json_int_t)r->audits_failed);
}

typedef struct list_ctx {
  st_meta__rq_t *r;
  json_t *arr;
} list_ctx_t;

static int list_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  list_ctx_t *l = ud;
  st_meta__rnode_t r;
  (void)v;
  (void)vl;
  if (kl != 1 + ST_ADDR_LEN || json_array_size(l->arr) >= 1000)
    return kl != 1 + ST_ADDR_LEN ? ST_ECORRUPT : 1;
  int rc = st_meta__rnode_get(&l->r->ov, (const uint8_t *)k + 1, &r);
  if (rc == 0)
    json_array_append_new(l->arr, rnode_json(&r));
  return rc;
}

static void m_resource_status(st_rpc_call_t *call, json_t *params, void *ud) {
  st_meta_t *m = ud;
  static const char *const allowed[] = {"address", NULL};
  if (!check(call, params, allowed))
    return;
  st_meta__rq_t r;
  if (st_meta__rq_open(m, &r) != 0) {
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, "cannot read the meta state", NULL);
    return;
  }
  if (json_is_object(params) && json_object_get(params, "address")) {
    uint8_t a[ST_ADDR_LEN];
    st_meta__rnode_t n;
    if (addr_param(call, params, ST_HRP_NODE, a)) {
      int rc = st_meta__rnode_get(&r.ov, a, &n);
      if (rc == 0)
        st_rpc_result(call, rnode_json(&n));
      else
        st_rpc_error(call, ST_RPC_INVALID_PARAMS, "resource node not found", NULL);
    }
    st_meta__rq_close(&r);
    return;
  }
  /* Copied out first: the pages below borrow the overlay. */
  list_ctx_t l = {&r, json_array()};
  uint8_t pre = ST_META__K_RNODE;
  int rc = st_chain__ov_scan(&r.ov, ST_META__SP_REC, &pre, 1, list_cb, &l);
  st_meta__rq_close(&r);
  if (rc < 0) {
    json_decref(l.arr);
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, "cannot read the meta state", NULL);
    return;
  }
  st_rpc_result(call, json_pack("{s:o,s:I}", "resource_nodes", l.arr, "meta_height",
                                (json_int_t)m->last_height));
}

int st_meta_liveness(struct st_node *node, const uint8_t addr[ST_ADDR_LEN], json_t **out) {
  st_meta_t *m = node ? node->meta : NULL;
  st_meta__rq_t r;
  st_meta__rnode_t n;
  if (!m)
    return ST_ENOENT;
  int rc = st_meta__rq_open(m, &r);
  if (rc != 0)
    return rc;
  rc = st_meta__rnode_get(&r.ov, addr, &n);
  st_meta__rq_close(&r);
  if (rc != 0)
    return rc;
  json_t *j = rnode_json(&n);
  *out = json_pack("{s:O,s:O,s:O,s:I}", "mining_status", json_object_get(j, "mining_status"),
                   "last_heartbeat_ms", json_object_get(j, "last_heartbeat_ms"), "score",
                   json_object_get(j, "score"), "meta_height", (json_int_t)m->last_height);
  json_decref(j);
  return *out ? 0 : ST_ENOMEM;
}

static void m_broadcast_heartbeat(st_rpc_call_t *call, json_t *params, void *ud) {
  st_meta_t *m = ud;
  static const char *const allowed[] = {"tx", NULL};
  if (!check(call, params, allowed))
    return;
  json_t *t = json_is_object(params) ? json_object_get(params, "tx") : NULL;
  uint8_t buf[1024];
  size_t got = 0;
  const char *end = NULL;
  if (!json_is_string(t) || json_string_length(t) > 1360 ||
      sodium_base642bin(buf, sizeof(buf), json_string_value(t), json_string_length(t), NULL,
                        &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != json_string_value(t) + json_string_length(t) || got == 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS,
                 "invalid params: tx must be a base64 heartbeat of at most 1024 bytes", NULL);
    return;
  }
  char log[192] = "";
  int rc = st_meta__hb_submit(m, buf, got, log, sizeof(log));
  if (rc == 0 && m->cons)
    st_cons_txs_available(m->cons);
  st_rpc_result(call, json_pack("{s:i,s:s}", "code", rc, "log", log));
}

/* ---- placement ---- */

typedef struct place_view {
  st_meta__rq_t *r;
  st_place_node_t *nodes;
  char (*addrs)[ST_META__NETADDR_MAX + 1];
  size_t n, cap;
} place_view_t;

static int view_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  place_view_t *pv = ud;
  st_meta__rnode_t r;
  (void)v;
  (void)vl;
  if (kl != 1 + ST_ADDR_LEN)
    return ST_ECORRUPT;
  int rc = st_meta__rnode_get(&pv->r->ov, (const uint8_t *)k + 1, &r);
  if (rc != 0 || r.status != ST_NODE_ACTIVE)
    return rc;
  if (pv->n == pv->cap) {
    size_t nc = pv->cap ? 2 * pv->cap : 16;
    void *a = realloc(pv->nodes, nc * sizeof(*pv->nodes));
    void *b = realloc(pv->addrs, nc * sizeof(*pv->addrs));
    if (a)
      pv->nodes = a;
    if (b)
      pv->addrs = b;
    if (!a || !b)
      return ST_ENOMEM;
    pv->cap = nc;
  }
  st_place_node_t *p = &pv->nodes[pv->n];
  memset(p, 0, sizeof(*p));
  memcpy(p->addr, r.addr, ST_ADDR_LEN);
  p->deposit = r.deposit;
  p->score = r.score;
  p->node_type = r.node_type;
  p->online = r.online;
  p->suspended = r.suspended;
  st_place_host(r.netaddr, p->host);
  memcpy(pv->addrs[pv->n], r.netaddr, sizeof(r.netaddr));
  pv->n++;
  return 0;
}

/* Picks the holders of a slice from the latest committed meta state,
 * seeded by the latest meta block hash. */
static int place(st_meta_t *m, const st_place_req_t *q, st_place_reply_t *out) {
  memset(out, 0, sizeof(*out));
  if (q->slice_len == 0 || q->slice_len > ST_PLACE_SLICE_MAX || q->replicas == 0 ||
      q->replicas > ST_PLACE_REPLICAS_MAX)
    return ST_EINVAL;
  st_cons_status_t s;
  st_cons_status(m->cons, &s);
  st_meta__rq_t r;
  int rc = st_meta__rq_open(m, &r);
  if (rc != 0)
    return rc;
  place_view_t pv = {&r, NULL, NULL, 0, 0};
  uint8_t pre = ST_META__K_RNODE, seed[ST_HASH_LEN];
  size_t idx[ST_PLACE_REPLICAS_MAX];
  rc = st_chain__ov_scan(&r.ov, ST_META__SP_REC, &pre, 1, view_cb, &pv);
  st_meta__rq_close(&r);
  if (rc == 0) {
    st_place_seed(s.hash, q->slice, q->slice_len, seed);
    rc = st_place_pick(pv.nodes, pv.n, seed, q->replicas, idx, &out->n);
  }
  for (size_t i = 0; rc == 0 && i < out->n; i++) {
    memcpy(out->nodes[i], pv.nodes[idx[i]].addr, ST_ADDR_LEN);
    snprintf(out->addrs[i], sizeof(out->addrs[i]), "%s", pv.addrs[idx[i]]);
  }
  out->meta_height = s.height;
  free(pv.nodes);
  free(pv.addrs);
  return rc;
}

static void m_placement(st_rpc_call_t *call, json_t *params, void *ud) {
  st_meta_t *m = ud;
  static const char *const allowed[] = {"slice", "replicas", NULL};
  if (!check(call, params, allowed))
    return;
  json_t *sl = json_is_object(params) ? json_object_get(params, "slice") : NULL;
  json_t *rp = json_is_object(params) ? json_object_get(params, "replicas") : NULL;
  st_place_req_t q;
  memset(&q, 0, sizeof(q));
  if (!json_is_string(sl) || json_string_length(sl) == 0 ||
      json_string_length(sl) > 2 * ST_PLACE_SLICE_MAX ||
      st_hex_decode(json_string_value(sl), json_string_length(sl), q.slice, sizeof(q.slice),
                    &q.slice_len) != 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS,
                 "invalid params: slice must be 1 to 64 bytes in hex", NULL);
    return;
  }
  q.replicas = 3;
  if (rp && (!json_is_integer(rp) || json_integer_value(rp) < 1 ||
             json_integer_value(rp) > ST_PLACE_REPLICAS_MAX)) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, "invalid params: replicas must be 1 to 16", NULL);
    return;
  }
  if (rp)
    q.replicas = (size_t)json_integer_value(rp);
  st_place_reply_t out;
  int rc = place(m, &q, &out);
  if (rc != 0) {
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, st_strerror(rc), NULL);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < out.n; i++) {
    char a[ST_ADDR_STR_MAX];
    st_addr_encode(ST_HRP_NODE, out.nodes[i], a, sizeof(a));
    json_array_append_new(arr, json_pack("{s:s,s:s}", "address", a, "network_address",
                                         out.addrs[i]));
  }
  st_rpc_result(call, json_pack("{s:I,s:o}", "meta_height", (json_int_t)out.meta_height,
                                "nodes", arr));
}

int st_meta_place(struct st_node *node, const st_place_req_t *q, st_place_reply_t *out) {
  st_meta_t *m = node ? node->meta : NULL;
  if (!m) {
    memset(out, 0, sizeof(*out));
    return ST_ENOENT;
  }
  return place(m, q, out);
}

static void on_place_req(mod_t *md, st_msg_t *msg) {
  st_msg_t r = {.type = ST_MSG_PLACE};
  st_place_reply_t *out = calloc(1, sizeof(*out));
  if (!out)
    abort();
  if (!md->m || !md->run_chain || !msg->data)
    r.status = ST_ENOENT;
  else
    r.status = place(md->m, msg->data, out);
  r.data = out;
  r.len = sizeof(*out);
  r.free_fn = free;
  if (st_bus_reply(md->node->bus, msg, &r) != 0)
    free(out);
}

static void rpc_register(st_meta_t *m, st_rpc_t *rpc) {
  static const struct {
    const char *name;
    st_rpc_method_fn fn;
  } t[] = {{"meta_status", m_status},
           {"ozone_balance", m_ozone_balance},
           {"resource_status", m_resource_status},
           {"broadcast_heartbeat", m_broadcast_heartbeat},
           {"placement", m_placement},
           {"file_info", st_meta__rpc_file_info}};
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    if (st_rpc_register(rpc, t[i].name, t[i].fn, m) != 0)
      ST_WARN("meta", "cannot register %s", t[i].name);
  st_meta__traffic_rpc(m, rpc);
}

/* ---- hooks ---- */

static void meta_free(mod_t *md) {
  st_meta_t *m = md->m;
  if (!m)
    return;
  if (md->node->meta == m)
    md->node->meta = NULL;
  st_meta__audit_stop(m);
  if (m->cons)
    st_cons_free(m->cons);
  if (m->hb_timer)
    uv_close((uv_handle_t *)m->hb_timer, free_handle);
  st_meta__close(m);
  free(m);
  md->m = NULL;
}

static int meta_init(st_node_t *node, void **state) {
  mod_t *md = calloc(1, sizeof(*md));
  if (!md)
    abort();
  md->node = node;
  *state = md;
  if (!node->genesis)
    return 0;
  st_meta__genesis_t g;
  char err[256];
  int rc = st_meta__genesis_parse(node->genesis, &g, err, sizeof(err));
  if (rc == ST_ENOENT) {
    ST_INFO("meta", "genesis names no meta nodes: no meta chain");
    return 0;
  }
  if (rc != 0) {
    ST_ERROR("meta", "genesis.json: %s", err);
    free(md);
    *state = NULL;
    return rc;
  }
  md->run_chain = (node->roles & ST_ROLE_META) != 0;
  md->send_hb = (node->roles & ST_ROLE_RESOURCE) != 0;
  st_meta_t *m = calloc(1, sizeof(*m));
  if (!m)
    abort();
  m->node = node;
  md->m = m;
  if ((rc = st_meta__open(m, node->store, &g)) != 0) {
    ST_ERROR("meta", "cannot open the meta state: %s", st_strerror(rc));
    st_meta__genesis_free(&g);
    meta_free(md);
    free(md);
    *state = NULL;
    return rc;
  }
  if (md->send_hb) {
    m->hb_timer = malloc(sizeof(*m->hb_timer));
    if (!m->hb_timer)
      abort();
    uv_timer_init(node->loop, m->hb_timer);
    m->hb_timer->data = md;
  }
  if (!md->run_chain)
    return 0;
  st_cons_opts_t o;
  memset(&o, 0, sizeof(o));
  o.name = "meta";
  o.rpc_prefix = "meta_";
  o.chain_id = m->gen.chain_id;
  o.node = node;
  o.owner = ST_MOD_META;
  o.ch_consensus = ST_CH_META_CONSENSUS;
  o.ch_blocksync = ST_CH_META_BLOCKSYNC;
  o.params = m->gen.cons;
  o.genesis_valset = &m->gen.auth;
  o.genesis_time_ms = m->gen.genesis_time_ms;
  memcpy(o.genesis_app_hash, m->genesis_app_hash, ST_HASH_LEN);
  o.app.propose = st_meta__app_propose;
  o.app.validate = st_meta__app_validate;
  o.app.finalize = st_meta__app_finalize;
  o.app.committed = st_meta__app_committed;
  o.app.has_txs = st_meta__app_has_txs;
  o.app_ud = m;
  if ((rc = st_cons_new(&o, &m->cons)) != 0) {
    ST_ERROR("meta", "cannot create the meta consensus engine: %s", st_strerror(rc));
    meta_free(md);
    free(md);
    *state = NULL;
    return rc;
  }
  if (node->rpc)
    rpc_register(m, node->rpc);
  node->meta = m;
  ST_INFO("meta", "meta chain %s: %zu authorities, %zu resource nodes", m->gen.chain_id,
          m->gen.auth.n, m->gen.nres);
  return 0;
}

static int meta_start(void *state) {
  mod_t *md = state;
  if (!md || !md->m)
    return 0;
  st_meta_t *m = md->m;
  if (md->send_hb) {
    uint64_t every = (uint64_t)m->gen.p.heartbeat_interval_ms;
    /* The first soon after start: a restarted node is back on line at once. */
    uv_timer_start(m->hb_timer, on_hb_timer, every < 4000 ? every / 4 + 1 : 1000, every);
  }
  if (!md->run_chain)
    return 0;
  static const uint32_t chans[] = {ST_CH_META_CONSENSUS, ST_CH_META_BLOCKSYNC,
                                   ST_CH_META_MEMPOOL, ST_CH_META};
  for (size_t i = 0; i < sizeof(chans) / sizeof(chans[0]); i++) {
    int rc = st_net_subscribe(md->node->bus, ST_MOD_META, chans[i]);
    if (rc != 0)
      ST_WARN("meta", "cannot subscribe to P2P channel %u: %s", (unsigned)chans[i],
              st_strerror(rc));
  }
  int rc = st_cons_start(m->cons);
  if (rc == 0)
    st_meta__audit_start(m);
  if (rc != 0)
    ST_ERROR("meta", "cannot start the meta consensus engine: %s", st_strerror(rc));
  return rc;
}

static bool from_self(mod_t *md, const uint8_t peer[ST_ADDR_LEN]) {
  uint8_t me[ST_ADDR_LEN];
  st_addr_from_pubkey(md->node->node_key.pk, me);
  return memcmp(me, peer, ST_ADDR_LEN) == 0;
}

static void on_mempool_frame(mod_t *md, const st_net_frame_t *f) {
  char log[ST_META__LOG_MAX];
  int rc;
  const char *what;
  if (f->type == ST_META__FRAME_FILE) {
    rc = st_meta__ftx_receive(md->m, f->data, f->len, f->peer, log, sizeof(log));
    what = "file tx";
  } else if (f->type == ST_META__FRAME_RCPT) {
    rc = st_meta__rcpt_receive(md->m, f->data, f->len, f->peer, log, sizeof(log));
    what = "receipt submission";
  } else if (f->type == ST_META__FRAME_RSIG) {
    rc = st_meta__rsig_frame(md->m, f->data, f->len);
    snprintf(log, sizeof(log), "%s", st_strerror(rc));
    what = "report signature";
  } else if (f->type == ST_META__FRAME_SSIG) {
    rc = st_meta__ssig_frame(md->m, f->data, f->len);
    snprintf(log, sizeof(log), "%s", st_strerror(rc));
    what = "slash signature";
  } else {
    rc = st_meta__hb_submit(md->m, f->data, f->len, log, sizeof(log));
    what = "heartbeat";
    if (rc == 0 && md->m->cons)
      st_cons_txs_available(md->m->cons);
  }
  if (rc == ST_EPARSE || rc == ST_EBADSIG || rc == ST_E2BIG) {
    char reason[32];
    snprintf(reason, sizeof(reason), "bad %s", what);
    ST_DEBUG("meta", "bad %s from a peer: %s", what, log);
    st_net_ban(md->node->bus, ST_MOD_META, f->peer, BAN_SECONDS, reason);
  }
}

static void on_meta_frame(mod_t *md, const st_net_frame_t *f) {
  int rc = st_meta__files_frame(md->m, f->peer, f->type, f->data, f->len);
  if (rc == ST_EPARSE && !from_self(md, f->peer)) {
    ST_DEBUG("meta", "undecodable frame %u on the meta channel", (unsigned)f->type);
    st_net_ban(md->node->bus, ST_MOD_META, f->peer, BAN_SECONDS, "bad storage frame");
  }
}

static void meta_on_msg(void *state, st_msg_t *msg) {
  mod_t *md = state;
  if (!md || (msg->flags & ST_MSG_F_REPLY))
    return;
  if (msg->type == ST_MSG_PLACE_REQ) {
    on_place_req(md, msg);
    return;
  }
  if (!md->m || !md->run_chain)
    return;
  st_meta_t *m = md->m;
  switch (msg->type) {
  case ST_MSG_NET_FRAME: {
    const st_net_frame_t *f = msg->data;
    if (!f)
      return;
    if (f->channel == ST_CH_META_MEMPOOL)
      on_mempool_frame(md, f);
    else if (f->channel == ST_CH_META)
      on_meta_frame(md, f);
    else if (f->channel == ST_CH_META_CONSENSUS || f->channel == ST_CH_META_BLOCKSYNC)
      st_cons_on_frame(m->cons, f);
    break;
  }
  case ST_MSG_NET_PEER: {
    const st_net_peer_event_t *ev = msg->data;
    if (ev)
      st_cons_on_peer(m->cons, ev->peer, ev->up);
    break;
  }
  default:
    break;
  }
}

static void meta_stop(void *state) {
  mod_t *md = state;
  if (!md)
    return;
  meta_free(md);
  free(md);
}

const st_module_t st_meta_module = {
  .name = "meta",
  .id = ST_MOD_META,
  .init = meta_init,
  .start = meta_start,
  .on_msg = meta_on_msg,
  .stop = meta_stop,
};
