/* The meta chain's application.
 *
 * A meta block applies, first, the value chain's events of the value
 * heights after the last one it applied (a ValueSync tx naming the new
 * value height and the hash of those events), then resource nodes'
 * heartbeats, then the authorities' file txs (files.c) and serving
 * nodes' traffic receipts (traffic.c). Every meta node is also a value-chain full node and reads
 * the events from its own value state: a block naming a value height this
 * node has not committed yet cannot be judged (ST_EAGAIN: the engine asks
 * again later and never halts over it), and a block whose events hash
 * differs from this node's is refused.
 *
 * Events: a prepay credits the beneficiary's noz once per value tx; a
 * resource node's creation or change updates its mirror; a meta node
 * becoming active joins the authorities, any other status leaves them,
 * and the engine gets the new set (equal weights) two heights later.
 *
 * After the txs, resource nodes whose last heartbeat is older than
 * offline_after (by block time) go offline, the slices of lost holders
 * get repairs, and the first block of a new epoch commits the volume
 * reports of the finished ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "meta/meta_private.h"
#include "meta.pb-c.h"
#include "traffic.pb-c.h"

#define U128_MAX (~(st_u128)0)
#define RNODE_FIXED (32 + 20 + 4 + 8 + 16 + 8 + 8 + 4 + 32 + 1)
/* Audit counters, after the network address when either is non-zero. */
#define RNODE_AUDITS 16

static const char K_HEIGHT[] = "height";
static const char K_APP_HASH[] = "app_hash";

/* ---- records ---- */

static size_t key1(uint8_t *k, uint8_t kind, const uint8_t *a, size_t n) {
  k[0] = kind;
  memcpy(k + 1, a, n);
  return 1 + n;
}

int st_meta__rnode_get(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                       st_meta__rnode_t *r) {
  uint8_t k[1 + ST_ADDR_LEN];
  const uint8_t *p;
  size_t n;
  memset(r, 0, sizeof(*r));
  int rc = st_chain__ov_read(ov, ST_META__SP_REC, k, key1(k, ST_META__K_RNODE, addr, ST_ADDR_LEN),
                             &p, &n);
  if (rc != 0)
    return rc;
  size_t nl = n >= RNODE_FIXED ? p[RNODE_FIXED - 1] : 0;
  if (n < RNODE_FIXED || nl > ST_META__NETADDR_MAX ||
      (n != RNODE_FIXED + nl && n != RNODE_FIXED + nl + RNODE_AUDITS))
    return ST_ECORRUPT;
  memcpy(r->addr, addr, ST_ADDR_LEN);
  memcpy(r->pubkey, p, 32);
  memcpy(r->owner, p + 32, 20);
  r->node_type = p[52];
  r->status = p[53];
  r->suspended = p[54] != 0;
  r->online = p[55] != 0;
  r->capacity = st_chain__rd64(p + 56);
  r->deposit = st_chain__get128(p + 64);
  r->last_hb_ms = (int64_t)st_chain__rd64(p + 80);
  r->hb_time_ms = (int64_t)st_chain__rd64(p + 88);
  r->score = st_chain__rd32(p + 96);
  r->used = st_chain__rd64(p + 100);
  r->free_ = st_chain__rd64(p + 108);
  r->served = st_chain__rd64(p + 116);
  r->slices = st_chain__rd64(p + 124);
  memcpy(r->netaddr, p + RNODE_FIXED, nl);
  r->netaddr[nl] = '\0';
  if (n == RNODE_FIXED + nl + RNODE_AUDITS) {
    r->audits_passed = st_chain__rd64(p + RNODE_FIXED + nl);
    r->audits_failed = st_chain__rd64(p + RNODE_FIXED + nl + 8);
  }
  return 0;
}

int st_meta__rnode_put(st_chain__overlay_t *ov, const st_meta__rnode_t *r) {
  uint8_t k[1 + ST_ADDR_LEN], v[RNODE_FIXED + ST_META__NETADDR_MAX + RNODE_AUDITS];
  size_t nl = strlen(r->netaddr);
  if (nl > ST_META__NETADDR_MAX)
    return ST_EINVAL;
  memcpy(v, r->pubkey, 32);
  memcpy(v + 32, r->owner, 20);
  v[52] = r->node_type;
  v[53] = r->status;
  v[54] = r->suspended;
  v[55] = r->online;
  st_chain__be64(v + 56, r->capacity);
  st_chain__put128(v + 64, r->deposit);
  st_chain__be64(v + 80, (uint64_t)r->last_hb_ms);
  st_chain__be64(v + 88, (uint64_t)r->hb_time_ms);
  st_chain__be32(v + 96, r->score);
  st_chain__be64(v + 100, r->used);
  st_chain__be64(v + 108, r->free_);
  st_chain__be64(v + 116, r->served);
  st_chain__be64(v + 124, r->slices);
  v[RNODE_FIXED - 1] = (uint8_t)nl;
  memcpy(v + RNODE_FIXED, r->netaddr, nl);
  size_t n = RNODE_FIXED + nl;
  if (r->audits_passed || r->audits_failed) {
    st_chain__be64(v + n, r->audits_passed);
    st_chain__be64(v + n + 8, r->audits_failed);
    n += RNODE_AUDITS;
  }
  return st_chain__ov_write(ov, ST_META__SP_REC, k,
                            key1(k, ST_META__K_RNODE, r->addr, ST_ADDR_LEN), v, n);
}

/* ---- the ozone ledger ---- */

int st_meta__oz_get(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 *noz) {
  return st_chain__ov_read_u128(ov, ST_META__SP_OZONE, addr, ST_ADDR_LEN, noz);
}

static int oz_put(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 noz) {
  return st_chain__ov_write_u128(ov, ST_META__SP_OZONE, addr, ST_ADDR_LEN, noz);
}

int st_meta__oz_credit(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 noz,
                       const uint8_t tx_hash[ST_HASH_LEN], bool *applied) {
  uint8_t k[1 + ST_HASH_LEN];
  const uint8_t *p;
  size_t n;
  st_u128 have;
  *applied = false;
  size_t kl = key1(k, ST_META__K_PREPAY, tx_hash, ST_HASH_LEN);
  int rc = st_chain__ov_read(ov, ST_META__SP_REC, k, kl, &p, &n);
  if (rc == 0)
    return 0; /* credited before: once only */
  if (rc != ST_ENOENT)
    return rc;
  if ((rc = st_meta__oz_get(ov, addr, &have)) != 0)
    return rc;
  if (have > U128_MAX - noz)
    return ST_ERANGE;
  if ((rc = oz_put(ov, addr, have + noz)) != 0 ||
      (rc = st_chain__ov_write(ov, ST_META__SP_REC, k, kl, "", 0)) != 0)
    return rc;
  *applied = true;
  return 0;
}

int st_meta__oz_debit(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 noz) {
  st_u128 have;
  int rc = st_meta__oz_get(ov, addr, &have);
  if (rc != 0)
    return rc;
  if (have < noz)
    return ST_EPERM;
  return oz_put(ov, addr, have - noz);
}

/* ---- genesis state ---- */

static int applied_get(st_chain__overlay_t *ov, int64_t *h) {
  uint8_t k = ST_META__K_APPLIED;
  uint64_t v;
  int rc = st_chain__ov_read_u64(ov, ST_META__SP_REC, &k, 1, &v);
  *h = (int64_t)v;
  return rc;
}

static int applied_put(st_chain__overlay_t *ov, int64_t h) {
  uint8_t k = ST_META__K_APPLIED;
  return st_chain__ov_write_u64(ov, ST_META__SP_REC, &k, 1, (uint64_t)h);
}

static int genesis_apply(const st_meta__genesis_t *g, st_chain__overlay_t *ov) {
  int rc = applied_put(ov, 0);
  for (size_t i = 0; i < g->auth.n && rc == 0; i++) {
    uint8_t k[1 + ST_ADDR_LEN];
    rc = st_chain__ov_write(ov, ST_META__SP_REC, k,
                            key1(k, ST_META__K_AUTH, g->auth.v[i].addr, ST_ADDR_LEN),
                            g->auth.v[i].pubkey, ST_PUBKEY_LEN);
  }
  for (size_t i = 0; i < g->nres && rc == 0; i++)
    rc = st_meta__rnode_put(ov, &g->res[i]);
  for (size_t i = 0; i < g->noz && rc == 0; i++)
    rc = oz_put(ov, g->oz[i].addr, g->oz[i].noz);
  return rc;
}

int st_meta__open(st_meta_t *m, st_store_t *store, st_meta__genesis_t *g) {
  st_txn_t *txn;
  const void *v;
  size_t n;
  static const uint8_t zero[ST_HASH_LEN];
  int rc;
  m->store = store;
  m->st.store = store;
  if ((rc = st_store_db(store, "metaapp_ozone", &m->st.dbs[ST_META__SP_OZONE])) != 0 ||
      (rc = st_store_db(store, "metaapp_rec", &m->st.dbs[ST_META__SP_REC])) != 0 ||
      (rc = st_store_db(store, "metaapp_meta", &m->st.meta)) != 0 ||
      (rc = st_chain_feed_open(store, &m->feed)) != 0)
    return rc;
  /* The genesis app hash: the genesis state committed over zeros. */
  st_chain__overlay_t ov;
  st_chain__ov_init(&ov, &m->st, NULL);
  rc = genesis_apply(g, &ov);
  if (rc == 0)
    rc = st_chain__ov_commit(&ov, zero, m->genesis_app_hash);
  st_chain__ov_free(&ov);
  if (rc != 0 || (rc = st_txn_begin(store, true, &txn)) != 0)
    return rc;
  rc = st_kv_get(txn, m->st.meta, "genesis", 7, &v, &n);
  if (rc == 0) {
    if (n != ST_HASH_LEN || memcmp(v, m->genesis_app_hash, ST_HASH_LEN) != 0) {
      ST_ERROR("meta", "the store was created from another genesis (its meta genesis "
                       "app hash differs)");
      rc = ST_ECONFIG;
    }
    if (rc == 0 && st_kv_get(txn, m->st.meta, K_HEIGHT, 6, &v, &n) == 0 && n == 8)
      m->last_height = (int64_t)st_chain__rd64(v);
    st_txn_abort(txn);
    m->gen = *g;
    memset(g, 0, sizeof(*g));
    return rc;
  }
  if (rc != ST_ENOENT) {
    st_txn_abort(txn);
    return rc;
  }
  uint8_t h[ST_HASH_LEN], z8[8] = {0};
  st_chain__ov_init(&ov, &m->st, txn);
  rc = genesis_apply(g, &ov);
  if (rc == 0)
    rc = st_chain__ov_commit(&ov, zero, h);
  st_chain__ov_free(&ov);
  if (rc == 0)
    rc = st_kv_put(txn, m->st.meta, "genesis", 7, m->genesis_app_hash, ST_HASH_LEN);
  if (rc == 0)
    rc = st_kv_put(txn, m->st.meta, K_HEIGHT, 6, z8, 8);
  if (rc == 0)
    rc = st_kv_put(txn, m->st.meta, K_APP_HASH, 8, m->genesis_app_hash, ST_HASH_LEN);
  if (rc != 0) {
    st_txn_abort(txn);
    return rc;
  }
  if ((rc = st_txn_commit(txn)) != 0)
    return rc;
  m->gen = *g;
  memset(g, 0, sizeof(*g));
  return 0;
}

void st_meta__close(st_meta_t *m) {
  for (size_t i = 0; i < m->nhbs; i++)
    free(m->hbs[i].tx);
  free(m->hbs);
  m->hbs = NULL;
  m->nhbs = 0;
  st_meta__files_free(m);
  st_meta__traffic_free(m);
  st_meta__genesis_free(&m->gen);
}

/* ---- value sync ---- */

typedef struct sync_hash {
  st_hash_ctx_t c;
  uint32_t n;
} sync_hash_t;

static int sync_step(void *ud, int64_t height, const uint8_t *ev, size_t len) {
  sync_hash_t *s = ud;
  uint8_t hdr[12];
  st_chain__be64(hdr, (uint64_t)height);
  st_chain__be32(hdr + 8, (uint32_t)len);
  st_hash_update(&s->c, hdr, sizeof(hdr));
  st_hash_update(&s->c, ev, len);
  s->n++;
  return 0;
}

/* The hash of the value events of heights from..to:
 * H(ST_DOM_META_SYNC, (height(8) || len(4) || event)*). */
static int events_hash(st_meta_t *m, st_txn_t *txn, int64_t from, int64_t to,
                       uint8_t out[ST_HASH_LEN], uint32_t *count) {
  sync_hash_t s;
  st_hash_init(&s.c, ST_DOM_META_SYNC);
  s.n = 0;
  int rc = st_chain_events(&m->feed, txn, from, to, sync_step, &s);
  st_hash_final(&s.c, out);
  *count = s.n;
  return rc;
}

typedef struct apply_ctx {
  st_chain__overlay_t *ov;
  bool auth_changed;
  int64_t height;
} apply_ctx_t;

static int apply_prepay(apply_ctx_t *a, const uint8_t *p, size_t n) {
  bool applied;
  if (n != 32 + 20 + 16)
    return ST_ECORRUPT;
  return st_meta__oz_credit(a->ov, p + 32, st_chain__get128(p + 52), p, &applied);
}

static int apply_res_node(apply_ctx_t *a, const uint8_t *p, size_t n) {
  st_meta__rnode_t r;
  if (n < 100 || n - 100 != p[99] || p[99] > ST_META__NETADDR_MAX)
    return ST_ECORRUPT;
  int rc = st_meta__rnode_get(a->ov, p, &r);
  if (rc == ST_ENOENT) {
    memset(&r, 0, sizeof(r));
    memcpy(r.addr, p, ST_ADDR_LEN);
    r.score = ST_META__SCORE_START;
  } else if (rc != 0) {
    return rc;
  }
  memcpy(r.pubkey, p + 20, 32);
  memcpy(r.owner, p + 52, 20);
  r.node_type = p[72];
  r.capacity = st_chain__rd64(p + 73);
  r.deposit = st_chain__get128(p + 81);
  r.status = p[97];
  r.suspended = p[98] != 0;
  memcpy(r.netaddr, p + 100, p[99]);
  r.netaddr[p[99]] = '\0';
  if (r.status != ST_NODE_ACTIVE)
    r.online = false;
  rc = st_meta__rnode_put(a->ov, &r);
  if (rc == 0 && (r.status != ST_NODE_ACTIVE || r.suspended))
    rc = st_meta__node_lost(a->ov, r.addr);
  return rc;
}

static int apply_meta_node(apply_ctx_t *a, const uint8_t *p, size_t n) {
  uint8_t k[1 + ST_ADDR_LEN];
  if (n != 20 + 32 + 20 + 16 + 1)
    return ST_ECORRUPT;
  size_t kl = key1(k, ST_META__K_AUTH, p, ST_ADDR_LEN);
  a->auth_changed = true;
  if (p[88] == ST_NODE_ACTIVE)
    return st_chain__ov_write(a->ov, ST_META__SP_REC, k, kl, p + 20, ST_PUBKEY_LEN);
  return st_chain__ov_del(a->ov, ST_META__SP_REC, k, kl);
}

static int apply_step(void *ud, int64_t height, const uint8_t *ev, size_t len) {
  apply_ctx_t *a = ud;
  (void)height;
  switch (ev[0]) {
  case ST_CHAIN_EV_PREPAY: return apply_prepay(a, ev + 1, len - 1);
  case ST_CHAIN_EV_RES_NODE: return apply_res_node(a, ev + 1, len - 1);
  case ST_CHAIN_EV_META_NODE: return apply_meta_node(a, ev + 1, len - 1);
  default: return 0; /* kinds of later layers: not the meta chain's business yet */
  }
}

/* ---- txs ---- */

/* A decoded MetaTx, checked against the state (ov, at the block's start)
 * and the value chain; on refusal rc != 0 and log says why. */
typedef struct seen_set {
  uint8_t (*a)[ST_ADDR_LEN];
  size_t n;
} seen_set_t;

static int check_sync(st_meta_t *m, st_txn_t *txn, st_chain__overlay_t *ov,
                      const Stratos__Meta__ValueSync *s, char *log, size_t cap) {
  int64_t applied, hv;
  int rc = applied_get(ov, &applied);
  if (rc == 0)
    rc = st_chain_height(&m->feed, txn, &hv);
  if (rc != 0)
    return rc;
  int64_t target = (int64_t)s->value_height;
  if (target <= applied || target - applied > (int64_t)m->gen.p.max_sync_heights) {
    snprintf(log, cap, "value height %lld out of order (applied %lld)", (long long)target,
             (long long)applied);
    return ST_EINVAL;
  }
  if (target > hv) {
    snprintf(log, cap, "value height %lld not committed here yet (%lld)", (long long)target,
             (long long)hv);
    return ST_EAGAIN;
  }
  uint8_t h[ST_HASH_LEN];
  uint32_t count;
  if ((rc = events_hash(m, txn, applied + 1, target, h, &count)) != 0)
    return rc;
  if (s->events_hash.len != ST_HASH_LEN || memcmp(s->events_hash.data, h, ST_HASH_LEN) != 0 ||
      s->events != count) {
    snprintf(log, cap, "the value events up to %lld differ from ours", (long long)target);
    return ST_EINVAL;
  }
  return 0;
}

/* Decodes and verifies a heartbeat; fills the node address and body. */
static int hb_decode(st_meta_t *m, const Stratos__Meta__Heartbeat *h, uint8_t addr[ST_ADDR_LEN],
                     Stratos__Meta__HeartbeatBody **body, char *log, size_t cap) {
  *body = NULL;
  if (h->pubkey.len != ST_PUBKEY_LEN || h->signature.len != ST_SIG_LEN) {
    snprintf(log, cap, "a heartbeat needs a %d-byte key and a %d-byte signature",
             ST_PUBKEY_LEN, ST_SIG_LEN);
    return ST_EINVAL;
  }
  if (st_verify(h->pubkey.data, ST_DOM_HEARTBEAT, m->gen.chain_id, h->body.data, h->body.len,
                h->signature.data) != 0) {
    snprintf(log, cap, "bad heartbeat signature");
    return ST_EBADSIG;
  }
  *body = stratos__meta__heartbeat_body__unpack(NULL, h->body.len, h->body.data);
  if (!*body) {
    snprintf(log, cap, "cannot decode the heartbeat body");
    return ST_EPARSE;
  }
  st_addr_from_pubkey(h->pubkey.data, addr);
  return 0;
}

static int check_hb(st_meta_t *m, st_chain__overlay_t *ov, const Stratos__Meta__Heartbeat *h,
                    uint8_t addr[ST_ADDR_LEN], Stratos__Meta__HeartbeatBody **body, char *log,
                    size_t cap) {
  st_meta__rnode_t r;
  int rc = hb_decode(m, h, addr, body, log, cap);
  if (rc != 0)
    return rc;
  rc = st_meta__rnode_get(ov, addr, &r);
  if (rc == ST_ENOENT || (rc == 0 && r.status != ST_NODE_ACTIVE) ||
      (rc == 0 && memcmp(r.pubkey, h->pubkey.data, ST_PUBKEY_LEN) != 0)) {
    char a[ST_ADDR_STR_MAX];
    st_addr_encode(ST_HRP_NODE, addr, a, sizeof(a));
    snprintf(log, cap, "heartbeat from %s, which is not a registered active resource node", a);
    rc = ST_EPERM;
  } else if (rc == 0 && (int64_t)(*body)->time_ms <= r.hb_time_ms) {
    snprintf(log, cap, "heartbeat not newer than the last one applied");
    rc = ST_EEXIST;
  }
  if (rc != 0) {
    stratos__meta__heartbeat_body__free_unpacked(*body, NULL);
    *body = NULL;
  }
  return rc;
}

/* Runs the block's txs in ov (finalize applies, validate only checks).
 * In validate mode any refusal fails the block; in apply mode a
 * heartbeat that no longer applies is skipped, and a file tx that fails
 * records its result. */
static int run_txs(st_meta_t *m, st_txn_t *txn, st_chain__overlay_t *ov, st_meta__blk_t *b,
                   size_t ntxs, const uint8_t *const *txs, const size_t *lens, bool apply,
                   apply_ctx_t *actx) {
  int64_t block_time = b->time_ms;
  char log[192];
  int rc = 0;
  uint8_t (*seen)[ST_ADDR_LEN] = ntxs ? calloc(ntxs, ST_ADDR_LEN) : NULL;
  size_t nseen = 0;
  if (ntxs && !seen)
    return ST_ENOMEM;
  for (size_t i = 0; i < ntxs && rc == 0; i++) {
    Stratos__Meta__MetaTx *t = stratos__meta__meta_tx__unpack(NULL, lens[i], txs[i]);
    log[0] = '\0';
    if (!t) {
      rc = ST_EPARSE;
      snprintf(log, sizeof(log), "undecodable meta tx");
    } else if (t->tx_case == STRATOS__META__META_TX__TX_SYNC) {
      if (i != 0) {
        rc = ST_EINVAL;
        snprintf(log, sizeof(log), "a value sync must be the block's first tx");
      } else if ((rc = check_sync(m, txn, ov, t->sync, log, sizeof(log))) == 0 && apply) {
        int64_t applied;
        if ((rc = applied_get(ov, &applied)) == 0)
          rc = st_chain_events(&m->feed, txn, applied + 1, (int64_t)t->sync->value_height,
                               apply_step, actx);
        if (rc == 0)
          rc = applied_put(ov, (int64_t)t->sync->value_height);
      }
    } else if (t->tx_case == STRATOS__META__META_TX__TX_HEARTBEAT) {
      uint8_t addr[ST_ADDR_LEN];
      Stratos__Meta__HeartbeatBody *body;
      rc = check_hb(m, ov, t->heartbeat, addr, &body, log, sizeof(log));
      for (size_t j = 0; rc == 0 && j < nseen; j++)
        if (memcmp(seen[j], addr, ST_ADDR_LEN) == 0) {
          rc = ST_EEXIST;
          snprintf(log, sizeof(log), "two heartbeats of one node in a block");
        }
      if (rc == 0 && llabs((long long)body->time_ms - (long long)block_time) >
                       ST_META__HB_SKEW_MS && block_time > 0) {
        rc = ST_EINVAL;
        snprintf(log, sizeof(log), "heartbeat time too far from the block time");
      }
      if (rc == 0) {
        memcpy(seen[nseen++], addr, ST_ADDR_LEN);
        if (apply) {
          st_meta__rnode_t r;
          if ((rc = st_meta__rnode_get(ov, addr, &r)) == 0) {
            if (!r.online)
              ST_INFO("meta", "resource node %s online", r.netaddr);
            r.online = true;
            r.last_hb_ms = block_time;
            r.hb_time_ms = (int64_t)body->time_ms;
            r.used = body->capacity_used;
            r.free_ = body->capacity_free;
            r.served = body->served_bytes;
            r.slices = body->stored_slices;
            rc = st_meta__rnode_put(ov, &r);
            /* A suspended node's slices are still being repaired away. */
            if (rc == 0 && !r.suspended)
              rc = st_meta__node_back(ov, addr);
          }
        }
      }
      if (body)
        stratos__meta__heartbeat_body__free_unpacked(body, NULL);
      if (apply && rc != 0 && rc != ST_ENOMEM && rc != ST_ECORRUPT && rc != ST_EIO) {
        ST_DEBUG("meta", "heartbeat %zu skipped: %s", i, log);
        rc = 0;
      }
    } else if (t->tx_case == STRATOS__META__META_TX__TX_FILE) {
      rc = st_meta__ftx_block(m, ov, b, t->file, log, sizeof(log));
    } else if (t->tx_case == STRATOS__META__META_TX__TX_RECEIPTS) {
      st_meta__tstat_t scratch = {0, 0};
      rc = st_meta__rcpt_block(m, ov, b, t->receipts, apply ? st_meta__traffic_stat(m) : &scratch,
                               log, sizeof(log));
      if (rc == 0 && apply)
        rc = st_meta__traffic_done(m, txs[i], lens[i]);
    } else {
      rc = ST_EINVAL;
      snprintf(log, sizeof(log), "empty meta tx");
    }
    if (t)
      stratos__meta__meta_tx__free_unpacked(t, NULL);
    if (rc != 0 && rc != ST_EAGAIN)
      ST_DEBUG("meta", "tx %zu refused: %s", i, log);
  }
  free(seen);
  return rc;
}

/* ---- the callbacks ---- */

static int sync_tx(st_meta_t *m, st_txn_t *txn, st_chain__overlay_t *ov, st_buf_t *out) {
  int64_t applied, hv;
  int rc = applied_get(ov, &applied);
  if (rc == 0)
    rc = st_chain_height(&m->feed, txn, &hv);
  if (rc != 0)
    return rc;
  int64_t target = hv;
  if (target - applied > (int64_t)m->gen.p.max_sync_heights)
    target = applied + m->gen.p.max_sync_heights;
  if (target <= applied)
    return 0;
  uint8_t h[ST_HASH_LEN];
  uint32_t count;
  if ((rc = events_hash(m, txn, applied + 1, target, h, &count)) != 0)
    return rc;
  Stratos__Meta__ValueSync s;
  Stratos__Meta__MetaTx t;
  stratos__meta__value_sync__init(&s);
  stratos__meta__meta_tx__init(&t);
  s.value_height = (uint64_t)target;
  s.events_hash.data = h;
  s.events_hash.len = ST_HASH_LEN;
  s.events = count;
  t.tx_case = STRATOS__META__META_TX__TX_SYNC;
  t.sync = &s;
  return st_meta__tx_append(&t, out);
}

int st_meta__app_propose(void *ud, int64_t height, size_t max_bytes, size_t max_txs,
                         st_cons_txlist_t *out) {
  st_meta_t *m = ud;
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_buf_t b;
  size_t bytes = 0;
  (void)height;
  int rc = st_txn_begin(m->store, false, &txn);
  if (rc != 0)
    return rc;
  st_chain__ov_init(&ov, &m->st, txn);
  st_buf_init(&b, max_bytes);
  rc = sync_tx(m, txn, &ov, &b);
  if (rc == 0 && b.len && max_txs > 0) {
    rc = st_cons_txlist_add(out, b.data, b.len);
    bytes += b.len;
  }
  for (size_t i = 0; i < m->nhbs && rc == 0 && out->n < max_txs; i++) {
    st_meta__hb_t *h = &m->hbs[i];
    uint8_t addr[ST_ADDR_LEN];
    Stratos__Meta__MetaTx *t = stratos__meta__meta_tx__unpack(NULL, h->len, h->tx);
    Stratos__Meta__HeartbeatBody *body = NULL;
    char log[160];
    if (!t)
      continue;
    int crc = check_hb(m, &ov, t->heartbeat, addr, &body, log, sizeof(log));
    if (body)
      stratos__meta__heartbeat_body__free_unpacked(body, NULL);
    stratos__meta__meta_tx__free_unpacked(t, NULL);
    if (crc == 0 && bytes + h->len <= max_bytes) {
      rc = st_cons_txlist_add(out, h->tx, h->len);
      bytes += h->len;
    }
  }
  if (rc == 0)
    rc = st_meta__files_propose(m, &ov, max_bytes, max_txs, &bytes, out);
  if (rc == 0)
    rc = st_meta__traffic_propose(m, max_bytes, max_txs, &bytes, out);
  st_buf_free(&b);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  return rc;
}

int st_meta__app_validate(void *ud, int64_t height, size_t ntxs, const uint8_t *const *txs,
                          const size_t *lens) {
  st_meta_t *m = ud;
  st_txn_t *txn;
  st_chain__overlay_t ov;
  apply_ctx_t a = {0};
  int rc = st_txn_begin(m->store, false, &txn);
  if (rc != 0)
    return rc;
  st_chain__ov_init(&ov, &m->st, txn);
  a.ov = &ov;
  /* The block time is not known here: heartbeats' times are judged in
   * finalize, where a late one is merely skipped; file txs' ops too,
   * where a failed one is the tx's result, not the block's. */
  st_meta__blk_t b = {.height = height};
  rc = run_txs(m, txn, &ov, &b, ntxs, txs, lens, false, &a);
  st_meta__blk_done(&b);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  return rc;
}

/* Copies the records of kind, whose keys must be kind || address. */
static int addr_recs(st_chain__overlay_t *ov, uint8_t kind, st_chain__recs_t *out) {
  int rc = st_chain__ov_collect(ov, ST_META__SP_REC, &kind, 1, ST_CHAIN__NOT_DUE, 0, out);
  for (size_t i = 0; i < out->n && rc == 0; i++)
    if (out->v[i].klen != 1 + ST_ADDR_LEN)
      rc = ST_ECORRUPT;
  return rc;
}

/* Resource nodes silent for longer than offline_after go offline. */
static int offline_sweep(st_meta_t *m, st_chain__overlay_t *ov, int64_t now) {
  st_chain__recs_t s;
  int rc = addr_recs(ov, ST_META__K_RNODE, &s);
  for (size_t i = 0; i < s.n && rc == 0; i++) {
    st_meta__rnode_t r;
    if ((rc = st_meta__rnode_get(ov, s.v[i].key + 1, &r)) != 0)
      break;
    if (r.online && now - r.last_hb_ms > m->gen.p.offline_after_ms) {
      r.online = false;
      ST_INFO("meta", "resource node %s offline: no heartbeat for %lld ms", r.netaddr,
              (long long)(now - r.last_hb_ms));
      rc = st_meta__rnode_put(ov, &r);
      if (rc == 0)
        rc = st_meta__node_lost(ov, r.addr);
    }
  }
  st_chain__recs_free(&s);
  return rc;
}

static int auth_set(st_chain__overlay_t *ov, st_cons_valset_t *next) {
  st_chain__recs_t s;
  int rc = addr_recs(ov, ST_META__K_AUTH, &s);
  if (rc == 0 && s.n == 0)
    rc = ST_EINVAL; /* never an empty set */
  if (rc == 0 && !(next->v = calloc(s.n, sizeof(*next->v))))
    rc = ST_ENOMEM;
  for (size_t i = 0; i < s.n && rc == 0; i++) {
    if (s.v[i].vlen != ST_PUBKEY_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    memcpy(next->v[i].pubkey, s.v[i].val, ST_PUBKEY_LEN);
    memcpy(next->v[i].addr, s.v[i].key + 1, ST_ADDR_LEN);
    next->v[i].power = 1; /* proof of authority: equal weights */
    next->n = i + 1;
  }
  st_chain__recs_free(&s);
  if (rc != 0) {
    free(next->v);
    next->v = NULL;
    next->n = 0;
  }
  return rc;
}

int st_meta__app_finalize(void *ud, st_txn_t *txn, const st_cons_block_t *b,
                          uint8_t app_hash[ST_HASH_LEN], uint8_t results_hash[ST_HASH_LEN],
                          st_cons_valset_t *next, bool *changed) {
  st_meta_t *m = ud;
  st_chain__overlay_t ov;
  apply_ctx_t a = {0};
  uint8_t prev[ST_HASH_LEN], hk[8];
  const void *v;
  size_t n;
  *changed = false;
  int rc = st_kv_get(txn, m->st.meta, K_APP_HASH, 8, &v, &n);
  if (rc != 0 || n != ST_HASH_LEN)
    return rc ? rc : ST_ECORRUPT;
  memcpy(prev, v, ST_HASH_LEN);
  st_chain__ov_init(&ov, &m->st, txn);
  a.ov = &ov;
  a.height = b->height;
  /* File txs' results and the repairs of this block, for committed(). */
  m->npend = 0;
  m->npulls = 0;
  m->pend_height = b->height;
  st_meta__blk_t fb = {.height = b->height, .time_ms = b->time_ms, .results = true};
  memcpy(fb.hash, b->hash, ST_HASH_LEN);
  st_meta__traffic_begin(m);
  rc = run_txs(m, txn, &ov, &fb, b->ntxs, b->txs, b->tx_lens, true, &a);
  if (rc == 0)
    rc = offline_sweep(m, &ov, b->time_ms);
  if (rc == 0)
    rc = st_meta__files_end_block(m, &ov, &fb);
  size_t reported = 0;
  if (rc == 0)
    rc = st_meta__traffic_end_block(m, &ov, &fb, &reported);
  st_meta__blk_done(&fb);
  if (rc == 0 && a.auth_changed) {
    int arc = auth_set(&ov, next);
    if (arc == 0)
      *changed = true;
    else if (arc == ST_EINVAL)
      ST_ERROR("meta", "height %lld: no meta authority left; the set stays as it is",
               (long long)b->height);
    else
      rc = arc;
  }
  if (rc == 0)
    rc = st_chain__ov_commit(&ov, prev, app_hash);
  st_chain__ov_free(&ov);
  if (rc == 0) {
    /* Txs either apply or are skipped; file txs' results are hashed. */
    st_meta__results_hash(m, b->hash, results_hash);
    st_chain__be64(hk, (uint64_t)b->height);
    rc = st_kv_put(txn, m->st.meta, K_HEIGHT, 6, hk, sizeof(hk));
    if (rc == 0)
      rc = st_kv_put(txn, m->st.meta, K_APP_HASH, 8, app_hash, ST_HASH_LEN);
  }
  if (rc != 0 && *changed) {
    free(next->v);
    next->v = NULL;
    next->n = 0;
    *changed = false;
  }
  if (rc != 0) {
    m->npend = 0;
    m->npulls = 0;
    m->pend_height = 0;
    st_meta__traffic_begin(m);
  }
  if (rc != 0 && rc != ST_EAGAIN)
    ST_ERROR("meta", "cannot finalize meta height %lld: %s", (long long)b->height,
             st_strerror(rc));
  return rc;
}

void st_meta__app_committed(void *ud, int64_t height) {
  st_meta_t *m = ud;
  st_txn_t *txn;
  m->last_height = height;
  if (st_txn_begin(m->store, false, &txn) != 0) {
    st_meta__files_committed(m, height);
    st_meta__traffic_committed(m, height);
    return;
  }
  st_chain__overlay_t ov;
  st_chain__ov_init(&ov, &m->st, txn);
  /* Heartbeats now applied (or stale) leave the pool. */
  size_t k = 0;
  for (size_t i = 0; i < m->nhbs; i++) {
    st_meta__rnode_t r;
    int rc = st_meta__rnode_get(&ov, m->hbs[i].addr, &r);
    if (rc == 0 && r.hb_time_ms < m->hbs[i].time_ms)
      m->hbs[k++] = m->hbs[i];
    else
      free(m->hbs[i].tx);
  }
  m->nhbs = k;
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  st_meta__files_committed(m, height);
  st_meta__traffic_committed(m, height);
}

bool st_meta__app_has_txs(void *ud) {
  st_meta_t *m = ud;
  st_txn_t *txn;
  int64_t applied = 0, hv = 0;
  if (m->nhbs || st_meta__files_pending(m) || st_meta__traffic_pending(m))
    return true;
  if (st_txn_begin(m->store, false, &txn) != 0)
    return false;
  st_chain__overlay_t ov;
  st_chain__ov_init(&ov, &m->st, txn);
  applied_get(&ov, &applied);
  st_chain_height(&m->feed, txn, &hv);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  return hv > applied;
}

/* ---- heartbeats ---- */

int st_meta__hb_build(const st_keypair_t *kp, const char *meta_chain_id, int64_t time_ms,
                      uint64_t used, uint64_t free_, uint64_t served, uint64_t slices,
                      st_buf_t *out) {
  Stratos__Meta__HeartbeatBody body;
  Stratos__Meta__Heartbeat h;
  Stratos__Meta__MetaTx t;
  uint8_t sig[ST_SIG_LEN], buf[128];
  stratos__meta__heartbeat_body__init(&body);
  stratos__meta__heartbeat__init(&h);
  stratos__meta__meta_tx__init(&t);
  body.time_ms = (uint64_t)time_ms;
  body.capacity_used = used;
  body.capacity_free = free_;
  body.version = (char *)(uintptr_t)ST_VERSION;
  body.served_bytes = served;
  body.stored_slices = slices;
  size_t bn = stratos__meta__heartbeat_body__get_packed_size(&body);
  if (bn > sizeof(buf))
    return ST_E2BIG;
  stratos__meta__heartbeat_body__pack(&body, buf);
  int rc = st_sign(kp, ST_DOM_HEARTBEAT, meta_chain_id, buf, bn, sig);
  if (rc != 0)
    return rc;
  h.body.data = buf;
  h.body.len = bn;
  h.pubkey.data = (uint8_t *)(uintptr_t)kp->pk;
  h.pubkey.len = ST_PUBKEY_LEN;
  h.signature.data = sig;
  h.signature.len = ST_SIG_LEN;
  t.tx_case = STRATOS__META__META_TX__TX_HEARTBEAT;
  t.heartbeat = &h;
  return st_meta__tx_append(&t, out);
}

int st_meta__hb_submit(st_meta_t *m, const uint8_t *tx, size_t len, char *log, size_t cap) {
  st_txn_t *txn;
  uint8_t addr[ST_ADDR_LEN];
  Stratos__Meta__HeartbeatBody *body = NULL;
  if (len == 0 || len > 1024) {
    snprintf(log, cap, "a heartbeat is 1 to 1024 bytes");
    return ST_E2BIG;
  }
  Stratos__Meta__MetaTx *t = stratos__meta__meta_tx__unpack(NULL, len, tx);
  if (!t || t->tx_case != STRATOS__META__META_TX__TX_HEARTBEAT) {
    if (t)
      stratos__meta__meta_tx__free_unpacked(t, NULL);
    snprintf(log, cap, "not a heartbeat");
    return ST_EPARSE;
  }
  int rc = st_txn_begin(m->store, false, &txn);
  if (rc == 0) {
    st_chain__overlay_t ov;
    st_chain__ov_init(&ov, &m->st, txn);
    rc = check_hb(m, &ov, t->heartbeat, addr, &body, log, cap);
    st_chain__ov_free(&ov);
    st_txn_abort(txn);
  }
  int64_t time_ms = body ? (int64_t)body->time_ms : 0;
  if (body)
    stratos__meta__heartbeat_body__free_unpacked(body, NULL);
  stratos__meta__meta_tx__free_unpacked(t, NULL);
  if (rc != 0)
    return rc;
  /* The latest per node. */
  size_t i = 0;
  while (i < m->nhbs && memcmp(m->hbs[i].addr, addr, ST_ADDR_LEN) != 0)
    i++;
  if (i < m->nhbs && m->hbs[i].time_ms >= time_ms) {
    snprintf(log, cap, "a newer heartbeat of this node is pooled");
    return ST_EEXIST;
  }
  if (i == m->nhbs) {
    if (m->nhbs == ST_META__HB_POOL_MAX) {
      snprintf(log, cap, "the heartbeat pool is full");
      return ST_EFULL;
    }
    st_meta__hb_t *nh = realloc(m->hbs, (m->nhbs + 1) * sizeof(*nh));
    if (!nh)
      return ST_ENOMEM;
    m->hbs = nh;
    memset(&m->hbs[i], 0, sizeof(m->hbs[i]));
    memcpy(m->hbs[i].addr, addr, ST_ADDR_LEN);
    m->nhbs++;
  }
  uint8_t *copy = malloc(len);
  if (!copy)
    return ST_ENOMEM;
  memcpy(copy, tx, len);
  free(m->hbs[i].tx);
  m->hbs[i].tx = copy;
  m->hbs[i].len = len;
  m->hbs[i].time_ms = time_ms;
  return 0;
}
