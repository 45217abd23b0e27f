/* The resource module's hooks.
 *
 * On a node with the resource role it opens the slice store under
 * HOME/data/slices (src/resource/store.c), scrubs one slice every
 * scrub interval — the one verified longest ago — and logs a slice found
 * corrupt or missing, and exports what it holds as metrics and, through
 * st_resource_usage, in the node's heartbeats.
 *
 * It also runs the holder side of the storage protocol (the engine of
 * resource_private.h): it subscribes to ST_CH_RESOURCE and
 * ST_CH_RESOURCE_REPLY, hands the engine their frames and the peers that
 * leave, ticks it every second for time-outs and runs a garbage-collection
 * round every st_res__gc_interval_ms. What the engine needs from the
 * node is read here once: the meta chain's id ("<chain_id>-meta"), the
 * meta nodes of genesis (meta_nodes[].pub_key) and params.meta.gc_grace_ms
 * (1 s to 30 days; 1 hour when absent).
 *
 * Traffic receipts (ST_RES_RECEIPT on ST_CH_RESOURCE) from the readers of
 * its blocks go to the table of receipts.c and leave every RCPT_MS (or
 * as soon as RCPT_BATCH sessions grew) as a ReceiptSubmit MetaTx on the
 * meta mempool channel (frame type 3) and to this node's own meta chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_metrics.h>
#include <stratos/st_net.h>
#include <stratos/st_node.h>
#include <stratos/st_resource.h>
#include <stratos/st_meta.h>
#include "resource/receipts.h"
#include "resource/resource_private.h"
#include "resource/store.h"

/* One slice re-checked this often. */
#define SCRUB_MS 10000
#define TICK_MS 1000
#define GC_GRACE_DEFAULT 3600000
#define GC_GRACE_MIN 1000
#define GC_GRACE_MAX (30LL * 86400000)
/* Genesis names at most this many meta nodes (src/meta/genesis.c). */
#define META_MAX 1000
/* Traffic receipts: sessions kept, a submission every RCPT_MS or as soon
 * as RCPT_BATCH sessions grew, at most RCPT_BATCH per submission, an
 * unchanged session submitted once more after RCPT_RETRY_MS. */
#define RCPT_SESSIONS 65536
#define RCPT_MS 2000
#define RCPT_BATCH 256
#define RCPT_RETRY_MS 15000
#define EPOCH_DEFAULT 600000

typedef struct res {
  st_node_t *node;
  st_slice_store_t *store;
  st_res__eng_t *eng;
  uv_timer_t *scrub, *tick, *gc;
  uint64_t gc_every_ms;
  st_metric_t *m_corrupt;
  st_metric_t *m_served;
  /* Traffic receipts for the meta chain. */
  st_res__rcpt_t *rcpt;
  uv_timer_t *rcpt_timer;
  char chain[ST_CHAIN_ID_MAX + 1];
  int64_t epoch_ms;
} res_t;

static void free_handle(uv_handle_t *h) { free(h); }

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_scrub(uv_timer_t *t) {
  res_t *r = t->data;
  bool bad = false;
  uint8_t root[ST_HASH_LEN];
  int rc = st_slice_scrub_one(r->store, wall_ms(), &bad, root);
  if (rc == 0 && bad) {
    char hex[2 * ST_HASH_LEN + 1];
    st_hex_encode(root, ST_HASH_LEN, hex, sizeof(hex));
    ST_WARN("resource", "slice %s is corrupt or missing; telling the meta nodes", hex);
    if (r->m_corrupt)
      st_metric_inc(r->m_corrupt);
    /* The meta nodes move the slice to another holder (a repair). */
    static const uint8_t everyone[ST_ADDR_LEN];
    st_net_out_t *out = st_net_out_new(everyone, ST_CH_META, ST_RES_LOST, root, ST_HASH_LEN);
    if (st_net_send(r->node->bus, ST_MOD_RESOURCE, out) != 0)
      ST_DEBUG("resource", "the lost slice was not announced");
    if (r->node->meta) {
      uint8_t me[ST_ADDR_LEN];
      st_addr_from_pubkey(r->node->node_key.pk, me);
      st_res_send(r->node, ST_MOD_RESOURCE, me, ST_CH_META, ST_RES_LOST, root, ST_HASH_LEN);
    }
  } else if (rc != 0 && rc != ST_ENOENT) {
    ST_WARN("resource", "scrub failed: %s", st_strerror(rc));
  }
}

static double usage_bytes(void *ud) {
  uint64_t b, s;
  st_slice_usage(((res_t *)ud)->store, &b, &s);
  return (double)b;
}

static double usage_slices(void *ud) {
  uint64_t b, s;
  st_slice_usage(((res_t *)ud)->store, &b, &s);
  return (double)s;
}

void st_resource_usage(struct st_node *node, uint64_t *bytes, uint64_t *slices) {
  res_t *r = node ? node->resource : NULL;
  *bytes = *slices = 0;
  if (r && r->store)
    st_slice_usage(r->store, bytes, slices);
}

void st_resource_served(struct st_node *node, uint64_t *bytes) {
  res_t *r = node ? node->resource : NULL;
  st_res__stats_t st;
  st_res__stats(r ? r->eng : NULL, &st);
  *bytes = st.served_bytes;
}

/* ---- what the engine needs from the node ---- */

static int eng_send(void *ud, const uint8_t *to, uint32_t channel, uint32_t type,
                    const void *head, size_t hlen, const void *body, size_t blen) {
  res_t *r = ud;
  st_node_t *n = r->node;
  if (!n->bus)
    return ST_ECLOSED;
  if (to)
    return st_res_send2(n, ST_MOD_RESOURCE, to, channel, type, head, hlen, body, blen);
  /* To every peer, and to this node's own meta module when it has one. */
  static const uint8_t everyone[ST_ADDR_LEN];
  if (hlen + blen > ST_NET_MAX_PAYLOAD)
    return ST_E2BIG;
  st_net_out_t *out = st_net_out_new(everyone, channel, type, NULL, hlen + blen);
  if (hlen)
    memcpy(out->data, head, hlen);
  if (blen)
    memcpy(out->data + hlen, body, blen);
  int rc = st_net_send(n->bus, ST_MOD_RESOURCE, out);
  if ((n->roles & ST_ROLE_META) && channel == ST_CH_META) {
    uint8_t self[ST_ADDR_LEN];
    st_addr_from_pubkey(n->node_key.pk, self);
    int lrc = st_res_send2(n, ST_MOD_RESOURCE, self, channel, type, head, hlen, body, blen);
    if (rc != 0)
      rc = lrc;
  }
  return rc;
}

static void eng_ban(void *ud, const uint8_t peer[ST_ADDR_LEN], const char *reason) {
  res_t *r = ud;
  if (r->node->bus)
    st_net_ban(r->node->bus, ST_MOD_RESOURCE, peer, ST_RES__BAN_SECONDS, reason);
}

/* "<value chain id>-meta" from genesis, or "" when there is none. */
static void meta_chain_id(st_node_t *node, char *out, size_t cap) {
  json_t *id = node->genesis ? json_object_get(node->genesis, "chain_id") : NULL;
  const char *v = json_is_string(id) ? json_string_value(id) : node->chain_id;
  out[0] = '\0';
  if (v && *v && strlen(v) + 5 <= ST_CHAIN_ID_MAX)
    snprintf(out, cap, "%s-meta", v);
}

static int64_t gc_grace(st_node_t *node) {
  json_t *p = node->genesis ? json_object_get(node->genesis, "params") : NULL;
  json_t *m = json_is_object(p) ? json_object_get(p, "meta") : NULL;
  json_t *v = json_is_object(m) ? json_object_get(m, "gc_grace_ms") : NULL;
  if (!v)
    return GC_GRACE_DEFAULT;
  if (json_is_integer(v) && json_integer_value(v) >= GC_GRACE_MIN &&
      json_integer_value(v) <= GC_GRACE_MAX)
    return (int64_t)json_integer_value(v);
  ST_WARN("resource", "genesis params.meta.gc_grace_ms is not 1000 to %lld; using %d",
          (long long)GC_GRACE_MAX, GC_GRACE_DEFAULT);
  return GC_GRACE_DEFAULT;
}

/* The addresses of genesis meta_nodes (malloc'd, may be NULL with 0);
 * entries that do not parse are skipped (the meta module names them). */
static uint8_t (*meta_nodes(st_node_t *node, size_t *n))[ST_ADDR_LEN] {
  json_t *arr = node->genesis ? json_object_get(node->genesis, "meta_nodes") : NULL;
  size_t cnt = json_is_array(arr) ? json_array_size(arr) : 0;
  uint8_t(*out)[ST_ADDR_LEN];
  *n = 0;
  if (cnt == 0 || cnt > META_MAX)
    return NULL;
  out = calloc(cnt, ST_ADDR_LEN);
  if (!out)
    abort();
  for (size_t i = 0; i < cnt; i++) {
    json_t *pk = json_object_get(json_array_get(arr, i), "pub_key");
    uint8_t key[ST_PUBKEY_LEN];
    size_t got = 0;
    if (!json_is_string(pk) || json_string_length(pk) != 2 * ST_PUBKEY_LEN ||
        st_hex_decode(json_string_value(pk), 2 * ST_PUBKEY_LEN, key, sizeof(key), &got) != 0 ||
        got != ST_PUBKEY_LEN)
      continue;
    st_addr_from_pubkey(key, out[(*n)++]);
  }
  return out;
}

static int engine_open(res_t *r) {
  st_node_t *node = r->node;
  char chain[ST_CHAIN_ID_MAX + 1];
  size_t nmeta = 0;
  meta_chain_id(node, chain, sizeof(chain));
  if (!chain[0])
    ST_WARN("resource", "no chain id in genesis: this node cannot sign Stored receipts and "
                        "refuses slices");
  uint8_t(*meta)[ST_ADDR_LEN] = meta_nodes(node, &nmeta);
  st_res__cfg_t cfg = {
    .loop = node->loop,
    .store = r->store,
    .key = &node->node_key,
    .meta_chain_id = chain,
    .meta = (const uint8_t(*)[ST_ADDR_LEN])meta,
    .nmeta = nmeta,
    .self_meta = (node->roles & ST_ROLE_META) != 0,
    .gc_grace_ms = gc_grace(node),
    .reserve_bytes = node->cfg.res_reserve_bytes,
    .send = eng_send,
    .ban = eng_ban,
    .ud = r,
    .m_served = r->m_served,
  };
  r->gc_every_ms = st_res__gc_interval_ms(cfg.gc_grace_ms);
  ST_INFO("resource", "holding slices for %zu genesis meta nodes; slices unclaimed for %lld ms "
          "are checked every %llu ms", nmeta, (long long)cfg.gc_grace_ms,
          (unsigned long long)r->gc_every_ms);
  int rc = st_res__new(&cfg, &r->eng);
  free(meta);
  return rc;
}

/* ---- traffic receipts ---- */

static int64_t epoch_ms(st_node_t *node) {
  json_t *p = node->genesis ? json_object_get(node->genesis, "params") : NULL;
  json_t *m = json_is_object(p) ? json_object_get(p, "meta") : NULL;
  json_t *v = json_is_object(m) ? json_object_get(m, "epoch_ms") : NULL;
  if (json_is_integer(v) && json_integer_value(v) >= 1000 && json_integer_value(v) <= 86400000)
    return (int64_t)json_integer_value(v);
  return EPOCH_DEFAULT;
}

static double rcpt_kept(void *ud) {
  return (double)st_res__rcpt_count(((res_t *)ud)->rcpt);
}

/* Submits the receipts due: a MetaTx signed by the node key, to every
 * peer on the meta mempool channel and to this node's meta chain. */
static void rcpt_submit(res_t *r) {
  const uint8_t *rs[RCPT_BATCH];
  size_t ls[RCPT_BATCH];
  st_node_t *n = r->node;
  int64_t now = wall_ms();
  for (;;) {
    size_t k = st_res__rcpt_take(r->rcpt, now, RCPT_RETRY_MS, RCPT_BATCH, rs, ls);
    if (k == 0)
      break;
    st_buf_t tx;
    st_buf_init(&tx, ST_NET_MAX_PAYLOAD);
    int rc = st_meta_receipts_tx(&n->node_key, r->chain, rs, ls, k, &tx);
    if (rc == 0 && n->bus) {
      static const uint8_t everyone[ST_ADDR_LEN];
      st_net_out_t *out = st_net_out_new(everyone, ST_CH_META_MEMPOOL, 3, tx.data, tx.len);
      rc = st_net_send(n->bus, ST_MOD_RESOURCE, out);
      if (n->meta) {
        int lrc = st_meta_receipts_submit(n, tx.data, tx.len);
        if (rc != 0 && lrc == 0)
          rc = 0;
      }
    }
    if (rc != 0)
      ST_DEBUG("resource", "%zu receipts not submitted: %s", k, st_strerror(rc));
    else
      ST_DEBUG("resource", "%zu receipts submitted to the meta chain", k);
    st_buf_free(&tx);
    if (k < RCPT_BATCH)
      break;
  }
  st_res__rcpt_expire(r->rcpt, now, 2 * r->epoch_ms);
}

static void on_rcpt_timer(uv_timer_t *t) { rcpt_submit(t->data); }

static void on_receipt(res_t *r, const st_net_frame_t *f) {
  st_meta_receipt_t rc0;
  uint8_t signer[ST_ADDR_LEN];
  /* Only the reader itself hands over its receipts. */
  if (st_meta_receipt_read(f->data, f->len, &rc0) == 0) {
    st_addr_from_pubkey(rc0.signer, signer);
    if (memcmp(signer, f->peer, ST_ADDR_LEN) != 0) {
      ST_DEBUG("resource", "a receipt signed by another node than its sender was ignored");
      return;
    }
  }
  int rc = st_res__rcpt_add(r->rcpt, f->data, f->len, wall_ms());
  if (rc == ST_EPARSE || rc == ST_E2BIG) {
    uint8_t me[ST_ADDR_LEN];
    st_addr_from_pubkey(r->node->node_key.pk, me);
    if (memcmp(me, f->peer, ST_ADDR_LEN) != 0)
      eng_ban(r, f->peer, "bad receipt");
    return;
  }
  if (rc == ST_EPERM)
    ST_DEBUG("resource", "a receipt for another node was ignored");
  if (rc == 0 && st_res__rcpt_due(r->rcpt) >= RCPT_BATCH)
    rcpt_submit(r);
}

static int res_init(st_node_t *node, void **state) {
  res_t *r = calloc(1, sizeof(*r));
  char dir[ST_PATH_MAX];
  if (!r)
    abort();
  r->node = node;
  if ((size_t)snprintf(dir, sizeof(dir), "%s/data/slices", node->home) >= sizeof(dir)) {
    free(r);
    return ST_E2BIG;
  }
  int rc = st_slice_store_open(dir, node->store, &r->store);
  if (rc != 0) {
    ST_ERROR("resource", "cannot open the slice store %s: %s", dir, st_strerror(rc));
    free(r);
    return rc;
  }
  if (node->metrics) {
    st_metrics_gauge_fn(node->metrics, "stratos_resource_stored_bytes",
                        "Bytes of slices this node stores.", "", usage_bytes, r);
    st_metrics_gauge_fn(node->metrics, "stratos_resource_stored_slices",
                        "Slices this node stores.", "", usage_slices, r);
    r->m_corrupt = st_metrics_counter(node->metrics, "stratos_resource_corrupt_slices_total",
                                      "Slices the scrub found corrupt or missing.", "");
    r->m_served = st_metrics_counter(node->metrics, "stratos_resource_served_bytes_total",
                                     "Block bytes this node served to readers.", "");
    st_metrics_gauge_fn(node->metrics, "stratos_resource_receipts_kept",
                        "Traffic receipt sessions this node keeps for the meta chain.", "",
                        rcpt_kept, r);
  }
  uint8_t me[ST_ADDR_LEN];
  st_addr_from_pubkey(node->node_key.pk, me);
  meta_chain_id(node, r->chain, sizeof(r->chain));
  r->epoch_ms = epoch_ms(node);
  if (st_res__rcpt_new(me, RCPT_SESSIONS, &r->rcpt) != 0)
    abort();
  rc = engine_open(r);
  if (rc != 0) {
    ST_ERROR("resource", "cannot start the storage protocol: %s", st_strerror(rc));
    st_slice_store_close(r->store);
    st_res__rcpt_free(r->rcpt);
    free(r);
    return rc;
  }
  uv_timer_t **timers[] = {&r->scrub, &r->tick, &r->gc, &r->rcpt_timer};
  for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
    *timers[i] = malloc(sizeof(**timers[i]));
    if (!*timers[i])
      abort();
    uv_timer_init(node->loop, *timers[i]);
    (*timers[i])->data = r;
  }
  node->resource = r;
  uint64_t b, s;
  st_slice_usage(r->store, &b, &s);
  ST_INFO("resource", "slice store %s: %llu slices, %llu bytes", dir, (unsigned long long)s,
          (unsigned long long)b);
  *state = r;
  return 0;
}

static void on_tick(uv_timer_t *t) { st_res__tick(((res_t *)t->data)->eng); }

static void on_gc(uv_timer_t *t) { st_res__gc_round(((res_t *)t->data)->eng); }

static int res_start(void *state) {
  res_t *r = state;
  static const uint32_t chans[] = {ST_CH_RESOURCE, ST_CH_RESOURCE_REPLY};
  for (size_t i = 0; i < sizeof(chans) / sizeof(chans[0]); i++) {
    int rc = st_net_subscribe(r->node->bus, ST_MOD_RESOURCE, chans[i]);
    if (rc != 0)
      ST_WARN("resource", "cannot subscribe to P2P channel %u: %s", (unsigned)chans[i],
              st_strerror(rc));
  }
  uv_timer_start(r->scrub, on_scrub, SCRUB_MS, SCRUB_MS);
  uv_timer_start(r->tick, on_tick, TICK_MS, TICK_MS);
  uv_timer_start(r->gc, on_gc, r->gc_every_ms, r->gc_every_ms);
  if (r->chain[0])
    uv_timer_start(r->rcpt_timer, on_rcpt_timer, RCPT_MS, RCPT_MS);
  return 0;
}

static void res_on_msg(void *state, st_msg_t *msg) {
  res_t *r = state;
  if (!r || (msg->flags & ST_MSG_F_REPLY))
    return;
  if (msg->type == ST_MSG_NET_FRAME) {
    const st_net_frame_t *f = msg->data;
    if (f && msg->len >= sizeof(*f) && msg->len - sizeof(*f) == f->len) {
      if (f->channel == ST_CH_RESOURCE && f->type == ST_RES_RECEIPT)
        on_receipt(r, f);
      else
        st_res__frame(r->eng, f);
    }
  } else if (msg->type == ST_MSG_NET_PEER) {
    const st_net_peer_event_t *ev = msg->data;
    if (ev && msg->len >= sizeof(*ev) && !ev->up)
      st_res__peer_down(r->eng, ev->peer);
  }
}

/* The engine is gone (its last commit recorded): the store can close. */
static void on_engine_closed(void *ud) {
  res_t *r = ud;
  st_slice_store_close(r->store);
  st_res__rcpt_free(r->rcpt);
  free(r);
}

static void res_stop(void *state) {
  res_t *r = state;
  if (!r)
    return;
  if (r->node->resource == r)
    r->node->resource = NULL;
  uv_close((uv_handle_t *)r->scrub, free_handle);
  uv_close((uv_handle_t *)r->tick, free_handle);
  uv_close((uv_handle_t *)r->gc, free_handle);
  uv_close((uv_handle_t *)r->rcpt_timer, free_handle);
  st_res__close(r->eng, on_engine_closed, r);
}

const st_module_t st_resource_module = {
  .name = "resource",
  .id = ST_MOD_RESOURCE,
  .init = res_init,
  .start = res_start,
  .on_msg = res_on_msg,
  .stop = res_stop,
};
