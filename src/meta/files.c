/* The file index on the meta chain: the records, the file ops of FileTx
 * and the repairs that keep every slice at its replica target.
 *
 * Records (space ST_META__SP_REC, keys by kind byte, meta_private.h):
 * one FileRecord per (file root, owner), since several wallets may hold
 * the same bytes; an owner index; one SliceRecord per slice root, shared
 * by every file containing it (refs counts those files, holders are
 * distinct node addresses) with a holder index; share links; pending
 * repairs with a queue of when each goes stale; lost holders whose slices
 * are still being examined; the ids of applied file txs with a queue of
 * when each may be forgotten.
 *
 * A FileTx is an authority's signature over an encoded FileOp. The op
 * carries the wallet's own signature over its HTTP request (ReqAuth), so
 * an authority cannot act for a wallet that did not ask; everything the
 * op's result depends on is in the block (time, height, hash) and the
 * state, so every meta node reaches the same result. A failed op changes
 * nothing: it runs in the overlay's journal and is undone.
 *
 * Repairs: a holder that goes offline, leaves the registry or fails an
 * audit is examined slice by slice (a bounded number per block); a slice
 * with fewer live holders than its target gets one new holder, chosen by
 * placement seeded by the block hash and the slice root among the nodes
 * that do not hold it, and a pending repair record naming it, the live
 * holder it copies from and the holder it replaces. The new holder's
 * receipt, in a repair op, puts it in the holder list. A repair not done
 * within ST_META__REPAIR_BLOCKS goes to another node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_log.h>
#include <stratos/st_resource.h>
#include <stratos/st_seal.h>
#include "meta/meta_private.h"
#include "meta/place.h"
#include "storage.pb-c.h"

#define LINK_LEN 16
#define FNAME_MAX 255
#define CTYPE_MAX 127
/* Work per block: slices of lost holders examined, stale repairs and
 * forgotten tx ids. */
#define SWEEP_PER_BLOCK 256
#define LOST_PER_BLOCK 64
#define STALE_PER_BLOCK 64
#define PRUNE_PER_BLOCK 256

typedef Stratos__Storage__ReqAuth req_auth_t;

/* ---- keys and records ---- */

static size_t key2(uint8_t *k, uint8_t kind, const uint8_t *a, size_t na, const uint8_t *b,
                   size_t nb) {
  k[0] = kind;
  memcpy(k + 1, a, na);
  if (nb)
    memcpy(k + 1 + na, b, nb);
  return 1 + na + nb;
}

/* A key of a queue: kind || at (8, BE) || id. */
static size_t key_due(uint8_t *k, uint8_t kind, uint64_t at, const uint8_t *id, size_t n) {
  k[0] = kind;
  st_chain__be64(k + 1, at);
  memcpy(k + 9, id, n);
  return 9 + n;
}

static bool present(st_chain__overlay_t *ov, const uint8_t *k, size_t kl, int *rc) {
  const uint8_t *v;
  size_t n;
  *rc = st_chain__ov_read(ov, ST_META__SP_REC, k, kl, &v, &n);
  if (*rc == ST_ENOENT) {
    *rc = 0;
    return false;
  }
  return *rc == 0;
}

static int put_empty(st_chain__overlay_t *ov, const uint8_t *k, size_t kl) {
  return st_chain__ov_write(ov, ST_META__SP_REC, k, kl, "", 0);
}

static int put_msg(st_chain__overlay_t *ov, const uint8_t *k, size_t kl,
                   const ProtobufCMessage *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf)
    return ST_ENOMEM;
  protobuf_c_message_pack(msg, buf);
  int rc = st_chain__ov_write(ov, ST_META__SP_REC, k, kl, buf, n);
  free(buf);
  return rc;
}

typedef struct slice_rec {
  uint64_t size;
  uint32_t replicas, refs;
  size_t n;
  uint8_t holders[ST_META__HOLDERS_MAX][ST_ADDR_LEN];
} slice_rec_t;

static int slice_get(st_chain__overlay_t *ov, const uint8_t root[ST_HASH_LEN], slice_rec_t *s) {
  uint8_t k[1 + ST_HASH_LEN];
  const uint8_t *v;
  size_t n;
  memset(s, 0, sizeof(*s));
  int rc = st_chain__ov_read(ov, ST_META__SP_REC, k,
                             key2(k, ST_META__K_SLICE, root, ST_HASH_LEN, NULL, 0), &v, &n);
  if (rc != 0)
    return rc;
  Stratos__Storage__SliceRecord *r = stratos__storage__slice_record__unpack(NULL, n, v);
  if (!r)
    return ST_ECORRUPT;
  rc = r->n_holders > ST_META__HOLDERS_MAX ? ST_ECORRUPT : 0;
  for (size_t i = 0; rc == 0 && i < r->n_holders; i++) {
    if (r->holders[i].len != ST_ADDR_LEN)
      rc = ST_ECORRUPT;
    else
      memcpy(s->holders[i], r->holders[i].data, ST_ADDR_LEN);
  }
  if (rc == 0) {
    s->size = r->size;
    s->replicas = r->replicas;
    s->refs = r->refs;
    s->n = r->n_holders;
  }
  stratos__storage__slice_record__free_unpacked(r, NULL);
  return rc;
}

static int slice_put(st_chain__overlay_t *ov, const uint8_t root[ST_HASH_LEN],
                     const slice_rec_t *s) {
  Stratos__Storage__SliceRecord r;
  ProtobufCBinaryData h[ST_META__HOLDERS_MAX];
  uint8_t k[1 + ST_HASH_LEN];
  stratos__storage__slice_record__init(&r);
  r.size = s->size;
  r.replicas = s->replicas;
  r.refs = s->refs;
  for (size_t i = 0; i < s->n; i++) {
    h[i].data = (uint8_t *)(uintptr_t)s->holders[i];
    h[i].len = ST_ADDR_LEN;
  }
  r.n_holders = s->n;
  r.holders = h;
  return put_msg(ov, k, key2(k, ST_META__K_SLICE, root, ST_HASH_LEN, NULL, 0), &r.base);
}

static bool slice_has(const slice_rec_t *s, const uint8_t a[ST_ADDR_LEN], size_t *at) {
  for (size_t i = 0; i < s->n; i++)
    if (memcmp(s->holders[i], a, ST_ADDR_LEN) == 0) {
      if (at)
        *at = i;
      return true;
    }
  return false;
}

static int holder_idx(st_chain__overlay_t *ov, const uint8_t node[ST_ADDR_LEN],
                      const uint8_t root[ST_HASH_LEN], bool add) {
  uint8_t k[1 + ST_ADDR_LEN + ST_HASH_LEN];
  size_t kl = key2(k, ST_META__K_HOLDER, node, ST_ADDR_LEN, root, ST_HASH_LEN);
  return add ? put_empty(ov, k, kl) : st_chain__ov_del(ov, ST_META__SP_REC, k, kl);
}

/* A pending repair: new(20) from(20) replaces(20, zeros: none) height(8). */
typedef struct repair {
  uint8_t node[ST_ADDR_LEN], from[ST_ADDR_LEN], replaces[ST_ADDR_LEN];
  bool has_replaces;
  int64_t created;
} repair_t;

#define REPAIR_LEN (3 * ST_ADDR_LEN + 8)

static int repair_get(st_chain__overlay_t *ov, const uint8_t root[ST_HASH_LEN], repair_t *q) {
  static const uint8_t zero[ST_ADDR_LEN];
  uint8_t k[1 + ST_HASH_LEN];
  const uint8_t *v;
  size_t n;
  memset(q, 0, sizeof(*q));
  int rc = st_chain__ov_read(ov, ST_META__SP_REC, k,
                             key2(k, ST_META__K_REPAIR, root, ST_HASH_LEN, NULL, 0), &v, &n);
  if (rc != 0)
    return rc;
  if (n != REPAIR_LEN)
    return ST_ECORRUPT;
  memcpy(q->node, v, ST_ADDR_LEN);
  memcpy(q->from, v + 20, ST_ADDR_LEN);
  memcpy(q->replaces, v + 40, ST_ADDR_LEN);
  q->has_replaces = memcmp(q->replaces, zero, ST_ADDR_LEN) != 0;
  q->created = (int64_t)st_chain__rd64(v + 60);
  return 0;
}

static int repair_put(st_chain__overlay_t *ov, const uint8_t root[ST_HASH_LEN],
                      const repair_t *q) {
  uint8_t k[1 + ST_HASH_LEN], v[REPAIR_LEN], w[9 + ST_HASH_LEN];
  memcpy(v, q->node, ST_ADDR_LEN);
  memcpy(v + 20, q->from, ST_ADDR_LEN);
  if (q->has_replaces)
    memcpy(v + 40, q->replaces, ST_ADDR_LEN);
  else
    memset(v + 40, 0, ST_ADDR_LEN);
  st_chain__be64(v + 60, (uint64_t)q->created);
  int rc = st_chain__ov_write(ov, ST_META__SP_REC, k,
                              key2(k, ST_META__K_REPAIR, root, ST_HASH_LEN, NULL, 0), v,
                              sizeof(v));
  if (rc == 0)
    rc = put_empty(ov, w,
                   key_due(w, ST_META__K_REPAIR_DUE,
                           (uint64_t)(q->created + ST_META__REPAIR_BLOCKS), root, ST_HASH_LEN));
  return rc;
}

static int repair_del(st_chain__overlay_t *ov, const uint8_t root[ST_HASH_LEN]) {
  uint8_t k[1 + ST_HASH_LEN];
  return st_chain__ov_del(ov, ST_META__SP_REC, k,
                          key2(k, ST_META__K_REPAIR, root, ST_HASH_LEN, NULL, 0));
}

/* ---- small helpers ---- */

bool st_meta__fatal(int rc) {
  return rc == ST_ENOMEM || rc == ST_EIO || rc == ST_ECORRUPT || rc == ST_ESTORE ||
         rc == ST_EMAPFULL;
}

static const char *node_str(const uint8_t a[ST_ADDR_LEN], char out[ST_ADDR_STR_MAX]) {
  if (st_addr_encode(ST_HRP_NODE, a, out, ST_ADDR_STR_MAX) != 0)
    snprintf(out, ST_ADDR_STR_MAX, "?");
  return out;
}

static const char *short_hex(const uint8_t *p, char out[17]) {
  st_hex_encode(p, 8, out, 17);
  return out;
}

static bool rnode_live(const st_meta__rnode_t *r) {
  return r->status == ST_NODE_ACTIVE && r->online && !r->suspended;
}

static int node_live(st_chain__overlay_t *ov, const uint8_t a[ST_ADDR_LEN], bool *live) {
  st_meta__rnode_t r;
  int rc = st_meta__rnode_get(ov, a, &r);
  *live = rc == 0 && rnode_live(&r);
  return rc == ST_ENOENT ? 0 : rc;
}

/* The value chain's id: the meta chain's without "-meta". */
static void value_chain_id(const st_meta_t *m, char out[ST_CHAIN_ID_MAX + 1]) {
  size_t n = strlen(m->gen.chain_id);
  if (n >= 5 && strcmp(m->gen.chain_id + n - 5, "-meta") == 0)
    n -= 5;
  memcpy(out, m->gen.chain_id, n);
  out[n] = '\0';
}

/* Valid UTF-8 without C0 or C1 control characters, DEL included. */
static bool text_ok(const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f)
        return false;
      i++;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len)
      return false;
    for (size_t j = 1; j < len; j++) {
      if ((p[i + j] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i + j] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
        (cp >= 0x80 && cp <= 0x9f))
      return false;
    i += len;
  }
  return true;
}

static bool name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0)
    return true; /* no name */
  if (n > FNAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strchr(s, '/') ||
      strchr(s, '\\'))
    return false;
  return text_ok(s, n);
}

static bool ctype_ok(const char *s) {
  size_t n = strlen(s);
  if (n > CTYPE_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x20 || s[i] > 0x7e)
      return false;
  return true;
}

/* The wallet's signature over its request: method and path as given (a
 * second accepted path form in alt, may be NULL), the body length, a time
 * within ST_REQAUTH_SKEW_MS of the block's. Fills the owner's address. */
/* A wallet's signed request acts once: its signature is remembered until
 * its time is past the skew window (after which req_check refuses it
 * anyway), and a second op carrying it fails. Two requests with the same
 * method, path, time and length are the same request. */
static int req_use(st_chain__overlay_t *ov, const req_auth_t *a, char *log, size_t cap) {
  uint8_t h[ST_HASH_LEN], k[1 + ST_HASH_LEN], y[9 + ST_HASH_LEN];
  int rc;
  st_hash(ST_DOM_GATEWAY_REQ, a->signature.data, a->signature.len, h);
  size_t kl = key2(k, ST_META__K_REQ, h, ST_HASH_LEN, NULL, 0);
  if (present(ov, k, kl, &rc)) {
    snprintf(log, cap, "this signed request was used already: sign a new one");
    return ST_EBADSIG;
  }
  if (rc == 0)
    rc = put_empty(ov, k, kl);
  if (rc == 0)
    rc = put_empty(ov, y, key_due(y, ST_META__K_REQ_DUE, a->time_ms + ST_REQAUTH_SKEW_MS, h,
                                  ST_HASH_LEN));
  return rc;
}

static int req_check(st_meta_t *m, const st_meta__blk_t *b, const req_auth_t *a,
                     const char *method, const char *path, bool (*alt)(const char *, const char *),
                     uint64_t length, uint8_t owner[ST_ADDR_LEN], char *log, size_t cap) {
  st_reqauth_t ra;
  char vid[ST_CHAIN_ID_MAX + 1];
  if (!a) {
    snprintf(log, cap, "the op carries no request signature");
    return ST_EBADSIG;
  }
  if (a->pubkey.len != ST_PUBKEY_LEN || a->signature.len != ST_SIG_LEN) {
    snprintf(log, cap, "a request signature needs a %d-byte key and a %d-byte signature",
             ST_PUBKEY_LEN, ST_SIG_LEN);
    return ST_EBADSIG;
  }
  if (strcmp(a->method, method) != 0 ||
      (strcmp(a->path, path) != 0 && !(alt && alt(a->path, path)))) {
    snprintf(log, cap, "the request signature covers %.8s %.120s, not %s %s", a->method,
             a->path, method, path);
    return ST_EBADSIG;
  }
  if (a->length != length) {
    snprintf(log, cap, "the request signature covers %llu body bytes, not %llu",
             (unsigned long long)a->length, (unsigned long long)length);
    return ST_EBADSIG;
  }
  if (b->time_ms > 0 && (a->time_ms > (uint64_t)b->time_ms + ST_REQAUTH_SKEW_MS ||
                         a->time_ms + ST_REQAUTH_SKEW_MS < (uint64_t)b->time_ms)) {
    snprintf(log, cap, "the request's time is more than %d s from the block time",
             ST_REQAUTH_SKEW_MS / 1000);
    return ST_EBADSIG;
  }
  memcpy(ra.pubkey, a->pubkey.data, ST_PUBKEY_LEN);
  memcpy(ra.sig, a->signature.data, ST_SIG_LEN);
  ra.time_ms = a->time_ms;
  value_chain_id(m, vid);
  if (st_reqauth_verify(&ra, vid, method, a->path, length) != 0) {
    snprintf(log, cap, "the request signature does not verify");
    return ST_EBADSIG;
  }
  st_addr_from_pubkey(ra.pubkey, owner);
  return 0;
}

/* ---- placement among the nodes that do not hold a slice ---- */

struct st_meta__view {
  st_place_node_t *nodes;
  size_t n;
};

void st_meta__blk_done(st_meta__blk_t *b) {
  if (b->view) {
    free(b->view->nodes);
    free(b->view);
    b->view = NULL;
  }
}

static int view_get(st_chain__overlay_t *ov, st_meta__blk_t *b, struct st_meta__view **out) {
  if (b->view) {
    *out = b->view;
    return 0;
  }
  st_chain__recs_t rs;
  uint8_t pre = ST_META__K_RNODE;
  struct st_meta__view *v = calloc(1, sizeof(*v));
  if (!v)
    return ST_ENOMEM;
  int rc = st_chain__ov_collect(ov, ST_META__SP_REC, &pre, 1, ST_CHAIN__NOT_DUE, 0, &rs);
  if (rc == 0 && rs.n && !(v->nodes = calloc(rs.n, sizeof(*v->nodes))))
    rc = ST_ENOMEM;
  for (size_t i = 0; rc == 0 && i < rs.n; i++) {
    st_meta__rnode_t r;
    if (rs.v[i].klen != 1 + ST_ADDR_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    if ((rc = st_meta__rnode_get(ov, rs.v[i].key + 1, &r)) != 0)
      break;
    if (r.status != ST_NODE_ACTIVE)
      continue;
    st_place_node_t *p = &v->nodes[v->n++];
    memcpy(p->addr, r.addr, ST_ADDR_LEN);
    p->deposit = r.deposit;
    p->score = r.score;
    p->node_type = r.node_type;
    p->online = r.online;
    p->suspended = r.suspended;
    st_place_host(r.netaddr, p->host);
  }
  st_chain__recs_free(&rs);
  if (rc != 0) {
    free(v->nodes);
    free(v);
    return rc;
  }
  b->view = v;
  *out = v;
  return 0;
}

/* A node suspended in the block: the block's view sees it at once. */
static void view_suspend(st_meta__blk_t *b, const uint8_t addr[ST_ADDR_LEN]) {
  for (size_t i = 0; b->view && i < b->view->n; i++)
    if (memcmp(b->view->nodes[i].addr, addr, ST_ADDR_LEN) == 0)
      b->view->nodes[i].suspended = true;
}

/* One new holder for root: placement seeded by the block hash and the
 * root, never a node of s nor avoid. */
static int pick_new(st_chain__overlay_t *ov, st_meta__blk_t *b, const uint8_t root[ST_HASH_LEN],
                    const slice_rec_t *s, const uint8_t *avoid, uint8_t out[ST_ADDR_LEN],
                    bool *found) {
  struct st_meta__view *v;
  uint8_t seed[ST_HASH_LEN];
  size_t idx = 0, got = 0;
  *found = false;
  int rc = view_get(ov, b, &v);
  if (rc != 0 || v->n == 0)
    return rc;
  bool *was = malloc(v->n * sizeof(*was));
  if (!was)
    return ST_ENOMEM;
  for (size_t i = 0; i < v->n; i++) {
    was[i] = v->nodes[i].online;
    if (slice_has(s, v->nodes[i].addr, NULL) ||
        (avoid && memcmp(v->nodes[i].addr, avoid, ST_ADDR_LEN) == 0))
      v->nodes[i].online = false;
  }
  st_place_seed(b->hash, root, ST_HASH_LEN, seed);
  rc = st_place_pick(v->nodes, v->n, seed, 1, &idx, &got);
  for (size_t i = 0; i < v->n; i++)
    v->nodes[i].online = was[i];
  free(was);
  if (rc == 0 && got == 1) {
    memcpy(out, v->nodes[idx].addr, ST_ADDR_LEN);
    *found = true;
  }
  return rc;
}

static int pull_push(st_meta_t *m, const uint8_t root[ST_HASH_LEN], const slice_rec_t *s,
                     const repair_t *q) {
  if (m->npulls == m->pulls_cap) {
    size_t nc = m->pulls_cap ? 2 * m->pulls_cap : 16;
    st_meta__pull_t *np = realloc(m->pulls, nc * sizeof(*np));
    if (!np)
      return ST_ENOMEM;
    m->pulls = np;
    m->pulls_cap = nc;
  }
  st_meta__pull_t *p = &m->pulls[m->npulls++];
  memset(p, 0, sizeof(*p));
  memcpy(p->root, root, ST_HASH_LEN);
  p->size = s->size;
  memcpy(p->node, q->node, ST_ADDR_LEN);
  memcpy(p->from, q->from, ST_ADDR_LEN);
  memcpy(p->replaces, q->replaces, ST_ADDR_LEN);
  p->has_replaces = q->has_replaces;
  return 0;
}

enum { REPAIR_NONE, REPAIR_ASSIGNED, REPAIR_STUCK };

/* Gives slice root a new holder when fewer of its holders than its
 * target are live, counting lost (may be NULL) as gone, unless a repair
 * is pending already. The replaced holder is lost, else the first holder
 * that is not live (none: the new one is added). avoid (may be NULL) is
 * never chosen. *what tells what happened. */
static int repair_assign(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                         const uint8_t root[ST_HASH_LEN], const slice_rec_t *s,
                         const uint8_t *lost, const uint8_t *avoid, int *what) {
  repair_t q;
  const uint8_t *from = NULL, *gone = NULL;
  uint32_t live = 0;
  char hx[17];
  *what = REPAIR_NONE;
  short_hex(root, hx);
  int rc = repair_get(ov, root, &q);
  if (rc != ST_ENOENT)
    return rc; /* one repair of a slice at a time */
  for (size_t i = 0; i < s->n; i++) {
    bool ok = false;
    if (!(lost && memcmp(s->holders[i], lost, ST_ADDR_LEN) == 0) &&
        (rc = node_live(ov, s->holders[i], &ok)) != 0)
      return rc;
    if (ok) {
      live++;
      if (!from)
        from = s->holders[i];
    } else if (!gone) {
      gone = s->holders[i];
    }
  }
  if (live >= s->replicas)
    return 0;
  *what = REPAIR_STUCK;
  if (!from) {
    if (b->results)
      ST_WARN("meta", "slice %s.. has no live holder left to copy from", hx);
    return 0;
  }
  bool found;
  memset(&q, 0, sizeof(q));
  if ((rc = pick_new(ov, b, root, s, avoid, q.node, &found)) != 0 || !found)
    return rc;
  memcpy(q.from, from, ST_ADDR_LEN);
  if (lost && slice_has(s, lost, NULL))
    gone = lost;
  if (gone) {
    memcpy(q.replaces, gone, ST_ADDR_LEN);
    q.has_replaces = true;
  }
  q.created = b->height;
  if ((rc = repair_put(ov, root, &q)) != 0)
    return rc;
  *what = REPAIR_ASSIGNED;
  if (!b->results)
    return 0; /* a trial (a submission's check): nothing to tell */
  char a[ST_ADDR_STR_MAX];
  ST_INFO("meta", "slice %s.. (%u of %u replicas live): repair to %s", hx, live, s->replicas,
          node_str(q.node, a));
  return pull_push(m, root, s, &q);
}

/* ---- ops ---- */

typedef struct root_ref {
  const uint8_t *root;
  size_t i;
} root_ref_t;

static int ref_cmp(const void *x, const void *y) {
  const root_ref_t *a = x, *b = y;
  int c = memcmp(a->root, b->root, ST_HASH_LEN);
  return c ? c : (a->i > b->i) - (a->i < b->i);
}

/* The roots of n slices sorted (equal ones together, in order). */
static root_ref_t *refs_sorted(const ProtobufCBinaryData *roots, size_t n) {
  root_ref_t *r = malloc((n ? n : 1) * sizeof(*r));
  if (!r)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    r[i].root = roots[i].data;
    r[i].i = i;
  }
  qsort(r, n, sizeof(*r), ref_cmp);
  return r;
}

/* The length of slice i of n of a file of size bytes. */
static uint64_t slice_len(uint64_t size, uint32_t slice_size, uint64_t i, uint64_t n) {
  return i + 1 < n ? slice_size : size - (n - 1) * (uint64_t)slice_size;
}

static int add_check_holders(st_meta_t *m, st_chain__overlay_t *ov,
                             const Stratos__Storage__FileAdd *a, char *log, size_t cap) {
  char na[ST_ADDR_STR_MAX];
  for (size_t i = 0; i < a->n_slices; i++) {
    const Stratos__Storage__SliceAdd *s = a->slices[i];
    if (s->n_holders < a->replicas || s->n_holders > ST_META__HOLDERS_MAX) {
      snprintf(log, cap, "slice %zu names %zu holders; it needs %u to %d", i, s->n_holders,
               a->replicas, ST_META__HOLDERS_MAX);
      return ST_EINVAL;
    }
    for (size_t j = 0; j < s->n_holders; j++) {
      const Stratos__Storage__Stored *h = s->holders[j];
      st_meta__rnode_t r;
      if (h->node.len != ST_ADDR_LEN || h->signature.len != ST_SIG_LEN) {
        snprintf(log, cap, "slice %zu: a receipt needs a %d-byte node and a %d-byte signature",
                 i, ST_ADDR_LEN, ST_SIG_LEN);
        return ST_EINVAL;
      }
      for (size_t k = 0; k < j; k++)
        if (memcmp(s->holders[k]->node.data, h->node.data, ST_ADDR_LEN) == 0) {
          snprintf(log, cap, "slice %zu names holder %s twice", i, node_str(h->node.data, na));
          return ST_EINVAL;
        }
      int rc = st_meta__rnode_get(ov, h->node.data, &r);
      if (rc != 0 && rc != ST_ENOENT)
        return rc;
      if (rc == ST_ENOENT || r.status != ST_NODE_ACTIVE || r.suspended) {
        snprintf(log, cap, "holder %s of slice %zu is not an active resource node",
                 node_str(h->node.data, na), i);
        return ST_EINVAL;
      }
      if (st_res_stored_verify(r.pubkey, m->gen.chain_id, s->root.data, s->size,
                               h->signature.data) != 0) {
        snprintf(log, cap, "the stored receipt of %s for slice %zu does not verify",
                 node_str(h->node.data, na), i);
        return ST_EBADPROOF;
      }
    }
  }
  return 0;
}

/* Checks the layout: slice count, sizes, roots, the file root. */
static int add_check_layout(const Stratos__Storage__FileAdd *a, ProtobufCBinaryData *roots,
                            char *log, size_t cap) {
  uint64_t n = st_file_slices(a->size, a->slice_size);
  if (a->n_slices != n) {
    snprintf(log, cap, "a file of %llu bytes has %llu slices, not %zu",
             (unsigned long long)a->size, (unsigned long long)n, a->n_slices);
    return ST_EINVAL;
  }
  uint8_t (*rs)[ST_HASH_LEN] = malloc((n ? n : 1) * ST_HASH_LEN), fr[ST_HASH_LEN];
  if (!rs)
    return ST_ENOMEM;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const Stratos__Storage__SliceAdd *s = a->slices[i];
    uint64_t want = slice_len(a->size, a->slice_size, i, n);
    if (s->root.len != ST_HASH_LEN) {
      snprintf(log, cap, "slice %zu: a slice root is %d bytes", i, ST_HASH_LEN);
      rc = ST_EINVAL;
    } else if (s->size != want) {
      snprintf(log, cap, "slice %zu is %llu bytes by the layout, not %llu", i,
               (unsigned long long)want, (unsigned long long)s->size);
      rc = ST_EINVAL;
    } else {
      memcpy(rs[i], s->root.data, ST_HASH_LEN);
      roots[i] = s->root;
    }
  }
  if (rc == 0 && (st_file_root(a->size, a->slice_size, (const uint8_t(*)[ST_HASH_LEN])rs, n,
                               fr) != 0 ||
                  memcmp(fr, a->root.data, ST_HASH_LEN) != 0)) {
    char hx[17];
    snprintf(log, cap, "the slice roots give file root %s.., not the file's id",
             short_hex(fr, hx));
    rc = ST_EINVAL;
  }
  free(rs);
  return rc;
}

static int add_fields(const st_meta__params_t *p, const Stratos__Storage__FileAdd *a, char *log,
                      size_t cap) {
  if (a->slice_size != p->slice_size) {
    snprintf(log, cap, "slice size %u differs from the network's %u", a->slice_size,
             p->slice_size);
    return ST_EINVAL;
  }
  if (a->replicas < p->replicas_min || a->replicas > p->replicas_max) {
    snprintf(log, cap, "%u replicas is out of range (%u to %u)", a->replicas, p->replicas_min,
             p->replicas_max);
    return ST_ERANGE;
  }
  if (a->size > p->max_file_bytes || a->plain_size > p->max_file_bytes) {
    snprintf(log, cap, "a file of %llu bytes exceeds max_file_bytes (%llu)",
             (unsigned long long)a->size, (unsigned long long)p->max_file_bytes);
    return ST_E2BIG;
  }
  if (a->encrypted) {
    if (a->nonce.len != ST_SEAL_NONCE) {
      snprintf(log, cap, "a private file needs a %d-byte nonce", ST_SEAL_NONCE);
      return ST_EINVAL;
    }
    if (st_seal_sealed_size(a->plain_size) != a->size) {
      snprintf(log, cap, "%llu plain bytes seal to %llu, not %llu",
               (unsigned long long)a->plain_size,
               (unsigned long long)st_seal_sealed_size(a->plain_size),
               (unsigned long long)a->size);
      return ST_EINVAL;
    }
  } else if (a->nonce.len != 0 || a->size != a->plain_size) {
    snprintf(log, cap, "a public file has no nonce and its size is its plain size");
    return ST_EINVAL;
  }
  if (!name_ok(a->name)) {
    snprintf(log, cap, "a file name is 1 to %d bytes of UTF-8 without '/', '\\', control "
                       "characters, and not \".\" or \"..\"", FNAME_MAX);
    return ST_EINVAL;
  }
  if (!ctype_ok(a->content_type)) {
    snprintf(log, cap, "a content type is at most %d printable ASCII characters", CTYPE_MAX);
    return ST_EINVAL;
  }
  return 0;
}

/* The slices of a new file: each distinct root once, its holders (of
 * every occurrence) joined to the record's. */
static int add_slices(st_chain__overlay_t *ov, const Stratos__Storage__FileAdd *a,
                      const ProtobufCBinaryData *roots, char *log, size_t cap) {
  root_ref_t *r = refs_sorted(roots, a->n_slices);
  if (!r)
    return ST_ENOMEM;
  int rc = 0;
  for (size_t g = 0; g < a->n_slices && rc == 0;) {
    size_t e = g + 1;
    while (e < a->n_slices && memcmp(r[e].root, r[g].root, ST_HASH_LEN) == 0)
      e++;
    const uint8_t *root = r[g].root;
    slice_rec_t s;
    rc = slice_get(ov, root, &s);
    if (rc == ST_ENOENT) {
      memset(&s, 0, sizeof(s));
      s.size = a->slices[r[g].i]->size;
      s.replicas = a->replicas;
      s.refs = 1;
      rc = 0;
    } else if (rc == 0 && s.size != a->slices[r[g].i]->size) {
      char hx[17];
      snprintf(log, cap, "slice %s.. is on record with %llu bytes, not %llu",
               short_hex(root, hx), (unsigned long long)s.size,
               (unsigned long long)a->slices[r[g].i]->size);
      rc = ST_EINVAL;
    } else if (rc == 0) {
      if (s.refs == UINT32_MAX) {
        snprintf(log, cap, "a slice is in too many files");
        rc = ST_ERANGE;
      }
      s.refs++;
      if (a->replicas > s.replicas)
        s.replicas = a->replicas;
    }
    for (size_t j = g; j < e && rc == 0; j++) {
      const Stratos__Storage__SliceAdd *sa = a->slices[r[j].i];
      if (sa->size != s.size) {
        snprintf(log, cap, "slice %zu repeats a root with another size", r[j].i);
        rc = ST_EINVAL;
      }
      for (size_t h = 0; h < sa->n_holders && rc == 0; h++) {
        const uint8_t *node = sa->holders[h]->node.data;
        if (slice_has(&s, node, NULL) || s.n == ST_META__HOLDERS_MAX)
          continue;
        memcpy(s.holders[s.n++], node, ST_ADDR_LEN);
        rc = holder_idx(ov, node, root, true);
      }
    }
    if (rc == 0)
      rc = slice_put(ov, root, &s);
    g = e;
  }
  free(r);
  return rc;
}

static int op_add(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                  const Stratos__Storage__FileAdd *a, char *log, size_t cap) {
  const st_meta__params_t *p = &m->gen.p;
  uint8_t owner[ST_ADDR_LEN], k[1 + ST_HASH_LEN + ST_ADDR_LEN];
  int rc = req_check(m, b, a->auth, "POST", "/v1/files", NULL, a->plain_size, owner, log, cap);
  if (rc != 0)
    return rc;
  if (a->root.len != ST_HASH_LEN) {
    snprintf(log, cap, "a file root is %d bytes", ST_HASH_LEN);
    return ST_EINVAL;
  }
  size_t kl = key2(k, ST_META__K_FILE, a->root.data, ST_HASH_LEN, owner, ST_ADDR_LEN);
  if (present(ov, k, kl, &rc)) {
    snprintf(log, cap, "this wallet already holds this file");
    return ST_EEXIST; /* a retry, or a replay, of an upload done: harmless */
  }
  if (rc != 0 || (rc = req_use(ov, a->auth, log, cap)) != 0 ||
      (rc = add_fields(p, a, log, cap)) != 0)
    return rc;
  ProtobufCBinaryData *roots = malloc((a->n_slices ? a->n_slices : 1) * sizeof(*roots));
  if (!roots)
    return ST_ENOMEM;
  if ((rc = add_check_layout(a, roots, log, cap)) != 0 ||
      (rc = add_check_holders(m, ov, a, log, cap)) != 0)
    goto out;
  st_u128 cost = (st_u128)a->size * a->replicas * p->upload_noz_per_byte;
  if ((rc = st_meta__oz_debit(ov, owner, cost)) == ST_EPERM) {
    st_u128 have = 0;
    char hs[ST_U128_STR_MAX], cs[ST_U128_STR_MAX];
    st_meta__oz_get(ov, owner, &have);
    st_u128_format(have, hs);
    st_u128_format(cost, cs);
    snprintf(log, cap, "ozone balance %s noz is short of the %s noz this upload costs "
                       "(%llu bytes x %u replicas x %llu noz)", hs, cs,
             (unsigned long long)a->size, a->replicas,
             (unsigned long long)p->upload_noz_per_byte);
  }
  if (rc != 0)
    goto out;
  Stratos__Storage__FileRecord fr;
  stratos__storage__file_record__init(&fr);
  fr.owner.data = owner;
  fr.owner.len = ST_ADDR_LEN;
  fr.size = a->size;
  fr.plain_size = a->plain_size;
  fr.slice_size = a->slice_size;
  fr.replicas = a->replicas;
  fr.content_type = a->content_type;
  fr.name = a->name;
  fr.encrypted = a->encrypted;
  fr.nonce = a->nonce;
  fr.created_ms = (uint64_t)b->time_ms;
  fr.n_slices = a->n_slices;
  fr.slices = roots;
  uint8_t ko[1 + ST_ADDR_LEN + ST_HASH_LEN];
  if ((rc = put_msg(ov, k, kl, &fr.base)) == 0 &&
      (rc = put_empty(ov, ko, key2(ko, ST_META__K_OWNER, owner, ST_ADDR_LEN, a->root.data,
                                   ST_HASH_LEN))) == 0)
    rc = add_slices(ov, a, roots, log, cap);
out:
  free(roots);
  return rc;
}

/* One file fewer holds slice root: at none, the slice leaves the index. */
static int slice_release(st_chain__overlay_t *ov, const uint8_t root[ST_HASH_LEN]) {
  slice_rec_t s;
  int rc = slice_get(ov, root, &s);
  if (rc == ST_ENOENT)
    return ST_ECORRUPT; /* a file names a slice the index lost */
  if (rc != 0)
    return rc;
  if (s.refs > 1) {
    s.refs--;
    return slice_put(ov, root, &s);
  }
  uint8_t k[1 + ST_HASH_LEN];
  for (size_t i = 0; i < s.n && rc == 0; i++)
    rc = holder_idx(ov, s.holders[i], root, false);
  if (rc == 0)
    rc = repair_del(ov, root);
  if (rc == 0)
    rc = st_chain__ov_del(ov, ST_META__SP_REC, k,
                          key2(k, ST_META__K_SLICE, root, ST_HASH_LEN, NULL, 0));
  return rc;
}

/* Marks share link `link` revoked (its record stays: a link id handed out
 * is never taken again). owner, when not NULL, must be the link's owner:
 * ST_EPERM otherwise; ST_ENOENT when there is no such link. */
static int link_revoke(st_chain__overlay_t *ov, const uint8_t link[LINK_LEN],
                       const uint8_t *owner) {
  uint8_t k[1 + LINK_LEN];
  const uint8_t *v;
  size_t n;
  size_t kl = key2(k, ST_META__K_SHARE, link, LINK_LEN, NULL, 0);
  int rc = st_chain__ov_read(ov, ST_META__SP_REC, k, kl, &v, &n);
  if (rc != 0)
    return rc;
  Stratos__Storage__ShareRecord *r = stratos__storage__share_record__unpack(NULL, n, v);
  if (!r)
    return ST_ECORRUPT;
  if (owner &&
      (r->owner.len != ST_ADDR_LEN || memcmp(r->owner.data, owner, ST_ADDR_LEN) != 0)) {
    rc = ST_EPERM;
  } else if (!r->revoked) {
    r->revoked = true;
    rc = put_msg(ov, k, kl, &r->base);
  }
  stratos__storage__share_record__free_unpacked(r, NULL);
  return rc;
}

/* A deleted file's share links are revoked with it: uploading the same
 * bytes again does not bring them back, and 410 answers them. */
static int drop_links(st_chain__overlay_t *ov, const uint8_t root[ST_HASH_LEN],
                      const uint8_t owner[ST_ADDR_LEN]) {
  uint8_t pre[1 + ST_HASH_LEN + ST_ADDR_LEN];
  st_chain__recs_t rs;
  size_t pl = key2(pre, ST_META__K_SHARE_OF, root, ST_HASH_LEN, owner, ST_ADDR_LEN);
  int rc = st_chain__ov_collect(ov, ST_META__SP_REC, pre, pl, ST_CHAIN__NOT_DUE, 0, &rs);
  for (size_t i = 0; rc == 0 && i < rs.n; i++) {
    if (rs.v[i].klen != pl + LINK_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    rc = link_revoke(ov, rs.v[i].key + pl, NULL);
    if (rc == ST_ENOENT)
      rc = 0;
    if (rc == 0)
      rc = st_chain__ov_del(ov, ST_META__SP_REC, rs.v[i].key, rs.v[i].klen);
  }
  st_chain__recs_free(&rs);
  return rc;
}

static int op_del(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                  const Stratos__Storage__FileDelete *d, char *log, size_t cap) {
  char id[ST_FILE_ID_LEN + 1], path[16 + ST_FILE_ID_LEN];
  uint8_t owner[ST_ADDR_LEN], k[1 + ST_HASH_LEN + ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  if (d->root.len != ST_HASH_LEN) {
    snprintf(log, cap, "a file root is %d bytes", ST_HASH_LEN);
    return ST_EINVAL;
  }
  st_file_id(d->root.data, id);
  snprintf(path, sizeof(path), "/v1/files/%s", id);
  int rc = req_check(m, b, d->auth, "DELETE", path, NULL, 0, owner, log, cap);
  if (rc == 0)
    rc = req_use(ov, d->auth, log, cap);
  if (rc != 0)
    return rc;
  size_t kl = key2(k, ST_META__K_FILE, d->root.data, ST_HASH_LEN, owner, ST_ADDR_LEN);
  rc = st_chain__ov_read(ov, ST_META__SP_REC, k, kl, &v, &n);
  if (rc == ST_ENOENT)
    snprintf(log, cap, "this wallet holds no file %s", id);
  if (rc != 0)
    return rc;
  Stratos__Storage__FileRecord *fr = stratos__storage__file_record__unpack(NULL, n, v);
  if (!fr)
    return ST_ECORRUPT;
  root_ref_t *r = NULL;
  for (size_t i = 0; i < fr->n_slices && rc == 0; i++)
    if (fr->slices[i].len != ST_HASH_LEN)
      rc = ST_ECORRUPT;
  if (rc == 0 && !(r = refs_sorted(fr->slices, fr->n_slices)))
    rc = ST_ENOMEM;
  for (size_t i = 0; rc == 0 && i < fr->n_slices; i++)
    if (i == 0 || memcmp(r[i].root, r[i - 1].root, ST_HASH_LEN) != 0)
      rc = slice_release(ov, r[i].root);
  free(r);
  stratos__storage__file_record__free_unpacked(fr, NULL);
  uint8_t ko[1 + ST_ADDR_LEN + ST_HASH_LEN];
  if (rc == 0)
    rc = st_chain__ov_del(ov, ST_META__SP_REC, k, kl);
  if (rc == 0)
    rc = st_chain__ov_del(ov, ST_META__SP_REC, ko,
                          key2(ko, ST_META__K_OWNER, owner, ST_ADDR_LEN, d->root.data,
                               ST_HASH_LEN));
  if (rc == 0)
    rc = drop_links(ov, d->root.data, owner);
  return rc;
}

static int op_share(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                    const Stratos__Storage__ShareAdd *s, char *log, size_t cap) {
  char id[ST_FILE_ID_LEN + 1], path[24 + ST_FILE_ID_LEN], lh[2 * LINK_LEN + 1];
  uint8_t owner[ST_ADDR_LEN], k[1 + ST_HASH_LEN + ST_ADDR_LEN], kl_[1 + LINK_LEN];
  if (s->file.len != ST_HASH_LEN || s->link.len != LINK_LEN) {
    snprintf(log, cap, "a share names a %d-byte file root and a %d-byte link", ST_HASH_LEN,
             LINK_LEN);
    return ST_EINVAL;
  }
  if (s->password_hash.len != 0 && s->password_hash.len != ST_HASH_LEN) {
    snprintf(log, cap, "a password hash is %d bytes", ST_HASH_LEN);
    return ST_EINVAL;
  }
  st_file_id(s->file.data, id);
  snprintf(path, sizeof(path), "/v1/files/%s/share", id);
  int rc = req_check(m, b, s->auth, "POST", path, NULL, s->auth ? s->auth->length : 0, owner,
                     log, cap);
  if (rc == 0)
    rc = req_use(ov, s->auth, log, cap);
  if (rc != 0)
    return rc;
  if (!present(ov, k, key2(k, ST_META__K_FILE, s->file.data, ST_HASH_LEN, owner, ST_ADDR_LEN),
               &rc)) {
    if (rc == 0)
      snprintf(log, cap, "this wallet holds no file %s", id);
    return rc ? rc : ST_ENOENT;
  }
  size_t kl = key2(kl_, ST_META__K_SHARE, s->link.data, LINK_LEN, NULL, 0);
  st_hex_encode(s->link.data, LINK_LEN, lh, sizeof(lh));
  if (present(ov, kl_, kl, &rc)) {
    snprintf(log, cap, "link %s is taken", lh);
    return ST_EEXIST;
  }
  if (rc != 0)
    return rc;
  Stratos__Storage__ShareRecord r;
  stratos__storage__share_record__init(&r);
  r.file = s->file;
  r.owner.data = owner;
  r.owner.len = ST_ADDR_LEN;
  r.expires_ms = s->expires_ms;
  r.password_hash = s->password_hash;
  r.created_ms = (uint64_t)b->time_ms;
  rc = put_msg(ov, kl_, kl, &r.base);
  uint8_t ki[1 + ST_HASH_LEN + ST_ADDR_LEN + LINK_LEN];
  if (rc == 0) {
    size_t n = key2(ki, ST_META__K_SHARE_OF, s->file.data, ST_HASH_LEN, owner, ST_ADDR_LEN);
    memcpy(ki + n, s->link.data, LINK_LEN);
    rc = put_empty(ov, ki, n + LINK_LEN);
  }
  return rc;
}

/* "/s/<link>-<64 hex>": a private file's link carries its key. */
static bool link_path_alt(const char *got, const char *want) {
  size_t n = strlen(want);
  if (strlen(got) != n + 1 + 2 * ST_HASH_LEN || strncmp(got, want, n) != 0 || got[n] != '-')
    return false;
  for (size_t i = n + 1; got[i]; i++)
    if (!((got[i] >= '0' && got[i] <= '9') || (got[i] >= 'a' && got[i] <= 'f')))
      return false;
  return true;
}

static int op_unshare(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                      const Stratos__Storage__ShareRevoke *s, char *log, size_t cap) {
  char lh[2 * LINK_LEN + 1], path[8 + 2 * LINK_LEN];
  uint8_t owner[ST_ADDR_LEN];
  if (s->link.len != LINK_LEN) {
    snprintf(log, cap, "a link is %d bytes", LINK_LEN);
    return ST_EINVAL;
  }
  st_hex_encode(s->link.data, LINK_LEN, lh, sizeof(lh));
  snprintf(path, sizeof(path), "/s/%s", lh);
  int rc = req_check(m, b, s->auth, "DELETE", path, link_path_alt, 0, owner, log, cap);
  if (rc == 0)
    rc = req_use(ov, s->auth, log, cap);
  if (rc != 0)
    return rc;
  rc = link_revoke(ov, s->link.data, owner);
  if (rc == ST_ENOENT)
    snprintf(log, cap, "no share link %s", lh);
  else if (rc == ST_EPERM)
    snprintf(log, cap, "only the owner of link %s may revoke it", lh);
  return rc;
}

static int op_repair(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                     const Stratos__Storage__SliceRepair *p, char *log, size_t cap) {
  char hx[17], na[ST_ADDR_STR_MAX], nb[ST_ADDR_STR_MAX];
  slice_rec_t s;
  repair_t q;
  st_meta__rnode_t r;
  if (p->root.len != ST_HASH_LEN || !p->added || p->added->node.len != ST_ADDR_LEN ||
      p->added->signature.len != ST_SIG_LEN ||
      (p->old_holder.len != 0 && p->old_holder.len != ST_ADDR_LEN)) {
    snprintf(log, cap, "a repair names a %d-byte root, the new holder's receipt and the "
                       "holder it replaces (%d bytes) or none", ST_HASH_LEN, ST_ADDR_LEN);
    return ST_EINVAL;
  }
  const uint8_t *root = p->root.data, *node = p->added->node.data;
  short_hex(root, hx);
  int rc = slice_get(ov, root, &s);
  if (rc == ST_ENOENT)
    snprintf(log, cap, "no slice %s.. is on record", hx);
  if (rc == 0 && (rc = repair_get(ov, root, &q)) == ST_ENOENT)
    snprintf(log, cap, "no repair of slice %s.. is pending", hx);
  if (rc != 0)
    return rc;
  if (memcmp(q.node, node, ST_ADDR_LEN) != 0) {
    snprintf(log, cap, "slice %s.. is assigned to %s, not %s", hx, node_str(q.node, na),
             node_str(node, nb));
    return ST_EINVAL;
  }
  if ((p->old_holder.len == 0) != !q.has_replaces ||
      (q.has_replaces && memcmp(p->old_holder.data, q.replaces, ST_ADDR_LEN) != 0)) {
    snprintf(log, cap, "the repair of slice %s.. replaces %s", hx,
             q.has_replaces ? node_str(q.replaces, na) : "no holder");
    return ST_EINVAL;
  }
  rc = st_meta__rnode_get(ov, node, &r);
  if (rc != 0 && rc != ST_ENOENT)
    return rc;
  if (rc == ST_ENOENT || r.status != ST_NODE_ACTIVE) {
    snprintf(log, cap, "%s is not an active resource node", node_str(node, na));
    return ST_EINVAL;
  }
  if (st_res_stored_verify(r.pubkey, m->gen.chain_id, root, s.size, p->added->signature.data) !=
      0) {
    snprintf(log, cap, "the stored receipt of %s for slice %s.. does not verify",
             node_str(node, na), hx);
    return ST_EBADPROOF;
  }
  size_t at;
  bool had_new = slice_has(&s, node, NULL);
  if (q.has_replaces && slice_has(&s, q.replaces, &at)) {
    if (had_new) {
      memmove(s.holders[at], s.holders[at + 1], (s.n - at - 1) * ST_ADDR_LEN);
      s.n--;
    } else {
      memcpy(s.holders[at], node, ST_ADDR_LEN);
    }
    rc = holder_idx(ov, q.replaces, root, false);
  } else if (!had_new) {
    if (s.n == ST_META__HOLDERS_MAX) {
      snprintf(log, cap, "slice %s.. lists %d holders already", hx, ST_META__HOLDERS_MAX);
      return ST_EINVAL;
    }
    memcpy(s.holders[s.n++], node, ST_ADDR_LEN);
  }
  int what;
  if (rc == 0)
    rc = holder_idx(ov, node, root, true);
  if (rc == 0)
    rc = repair_del(ov, root);
  if (rc == 0)
    rc = slice_put(ov, root, &s);
  /* More holders may be gone: the next one. */
  if (rc == 0)
    rc = repair_assign(m, ov, b, root, &s, NULL, NULL, &what);
  return rc;
}

static int op_audit(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                    const Stratos__Storage__AuditResult *a, char *log, size_t cap) {
  char hx[17], na[ST_ADDR_STR_MAX];
  slice_rec_t s;
  st_meta__rnode_t r;
  if (a->holder.len != ST_ADDR_LEN || a->root.len != ST_HASH_LEN) {
    snprintf(log, cap, "an audit names a %d-byte holder and a %d-byte slice root",
             ST_ADDR_LEN, ST_HASH_LEN);
    return ST_EINVAL;
  }
  if (a->challenge_height > (uint64_t)b->height ||
      a->challenge_height + ST_META__TXID_KEEP_HEIGHTS <= (uint64_t)b->height) {
    snprintf(log, cap, "challenge height %llu is not within the last %d heights",
             (unsigned long long)a->challenge_height, ST_META__TXID_KEEP_HEIGHTS);
    return ST_ERANGE;
  }
  short_hex(a->root.data, hx);
  int rc = st_meta__rnode_get(ov, a->holder.data, &r);
  if (rc == ST_ENOENT)
    snprintf(log, cap, "no resource node %s", node_str(a->holder.data, na));
  if (rc == 0 && (rc = slice_get(ov, a->root.data, &s)) == 0 &&
      !slice_has(&s, a->holder.data, NULL))
    rc = ST_ENOENT;
  if (rc == ST_ENOENT && !log[0])
    snprintf(log, cap, "%s holds no slice %s..", node_str(a->holder.data, na), hx);
  if (rc != 0)
    return rc;
  if (a->block >= st_file_blocks(s.size)) {
    snprintf(log, cap, "slice %s.. has %u blocks", hx, st_file_blocks(s.size));
    return ST_EINVAL;
  }
  if (a->passed) {
    if (r.audits_passed < UINT64_MAX)
      r.audits_passed++;
  } else if (r.audits_failed < UINT64_MAX) {
    r.audits_failed++;
  }
  int what;
  bool slashed = false;
  if (!a->passed)
    rc = st_meta__slash_check(m, ov, b, &r, &slashed);
  if (rc == 0)
    rc = st_meta__rnode_put(ov, &r);
  /* A suspended node gets nothing new from this block on, and what it
   * holds is examined for repair. */
  if (rc == 0 && slashed) {
    view_suspend(b, r.addr);
    rc = st_meta__node_lost(ov, r.addr);
  }
  if (rc == 0 && !a->passed) {
    if (b->results)
      ST_INFO("meta", "%s failed an audit of slice %s..", node_str(a->holder.data, na), hx);
    rc = repair_assign(m, ov, b, a->root.data, &s, a->holder.data, NULL, &what);
  }
  return rc;
}

int st_meta__fop_apply(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                       const uint8_t *body, size_t len, char *log, size_t cap) {
  log[0] = '\0';
  if (len > ST_META__FOP_MAX) {
    snprintf(log, cap, "a file op is at most %u bytes", ST_META__FOP_MAX);
    return ST_E2BIG;
  }
  Stratos__Storage__FileOp *op = stratos__storage__file_op__unpack(NULL, len, body);
  if (!op) {
    snprintf(log, cap, "the file op does not decode");
    return ST_EPARSE;
  }
  int rc;
  switch (op->op_case) {
  case STRATOS__STORAGE__FILE_OP__OP_ADD: rc = op_add(m, ov, b, op->add, log, cap); break;
  case STRATOS__STORAGE__FILE_OP__OP_DEL: rc = op_del(m, ov, b, op->del, log, cap); break;
  case STRATOS__STORAGE__FILE_OP__OP_SHARE: rc = op_share(m, ov, b, op->share, log, cap); break;
  case STRATOS__STORAGE__FILE_OP__OP_UNSHARE:
    rc = op_unshare(m, ov, b, op->unshare, log, cap);
    break;
  case STRATOS__STORAGE__FILE_OP__OP_REPAIR:
    rc = op_repair(m, ov, b, op->repair, log, cap);
    break;
  case STRATOS__STORAGE__FILE_OP__OP_AUDIT: rc = op_audit(m, ov, b, op->audit, log, cap); break;
  default:
    snprintf(log, cap, "empty file op");
    rc = ST_EINVAL;
    break;
  }
  stratos__storage__file_op__free_unpacked(op, NULL);
  if (rc != 0 && !log[0])
    snprintf(log, cap, "%s", st_strerror(rc));
  return rc;
}

/* ---- file txs in blocks ---- */

/* The tx id: H(ST_DOM_META_TX, the encoded FileTx), streamed. */
typedef struct hash_sink {
  ProtobufCBuffer base;
  st_hash_ctx_t c;
} hash_sink_t;

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data) {
  st_hash_update(&((hash_sink_t *)b)->c, data, len);
}

static void ftx_id(const Stratos__Storage__FileTx *ft, uint8_t txid[ST_HASH_LEN]) {
  hash_sink_t s;
  s.base.append = sink_append;
  st_hash_init(&s.c, ST_DOM_META_TX);
  stratos__storage__file_tx__pack_to_buffer(ft, &s.base);
  st_hash_final(&s.c, txid);
}

int st_meta__ftx_check(st_meta_t *m, st_chain__overlay_t *ov,
                       const Stratos__Storage__FileTx *ft, uint8_t txid[ST_HASH_LEN],
                       char *log, size_t cap) {
  uint8_t k[1 + ST_ADDR_LEN], a[ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  char na[ST_ADDR_STR_MAX];
  memset(txid, 0, ST_HASH_LEN);
  if (!ft) {
    snprintf(log, cap, "empty file tx");
    return ST_EPARSE;
  }
  ftx_id(ft, txid);
  if (ft->body.len > ST_META__FOP_MAX) {
    snprintf(log, cap, "a file op is at most %u bytes", ST_META__FOP_MAX);
    return ST_E2BIG;
  }
  if (ft->signer.len != ST_PUBKEY_LEN || ft->signature.len != ST_SIG_LEN) {
    snprintf(log, cap, "a file tx needs a %d-byte signer and a %d-byte signature",
             ST_PUBKEY_LEN, ST_SIG_LEN);
    return ST_EBADSIG;
  }
  Stratos__Storage__FileOp *op = stratos__storage__file_op__unpack(NULL, ft->body.len,
                                                                   ft->body.data);
  if (!op) {
    snprintf(log, cap, "the file op does not decode");
    return ST_EPARSE;
  }
  stratos__storage__file_op__free_unpacked(op, NULL);
  if (st_verify(ft->signer.data, ST_DOM_META_TX, m->gen.chain_id, ft->body.data, ft->body.len,
                ft->signature.data) != 0) {
    snprintf(log, cap, "bad file tx signature");
    return ST_EBADSIG;
  }
  st_addr_from_pubkey(ft->signer.data, a);
  int rc = st_chain__ov_read(ov, ST_META__SP_REC, k,
                             key2(k, ST_META__K_AUTH, a, ST_ADDR_LEN, NULL, 0), &v, &n);
  if (rc == 0 && (n != ST_PUBKEY_LEN || memcmp(v, ft->signer.data, ST_PUBKEY_LEN) != 0))
    rc = ST_ENOENT;
  if (rc == ST_ENOENT) {
    snprintf(log, cap, "file tx signed by %s, which is not a meta authority",
             node_str(a, na));
    rc = ST_EPERM;
  }
  return rc;
}

static int pend_push(st_meta_t *m, const uint8_t txid[ST_HASH_LEN], int code, const char *log) {
  if (m->npend == m->pend_cap) {
    size_t nc = m->pend_cap ? 2 * m->pend_cap : 16;
    st_meta__fres_t *np = realloc(m->pend, nc * sizeof(*np));
    if (!np)
      return ST_ENOMEM;
    m->pend = np;
    m->pend_cap = nc;
  }
  st_meta__fres_t *r = &m->pend[m->npend++];
  memcpy(r->txid, txid, ST_HASH_LEN);
  r->code = code;
  snprintf(r->log, sizeof(r->log), "%s", code ? log : "");
  return 0;
}

int st_meta__ftx_block(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                       const Stratos__Storage__FileTx *ft, char *log, size_t cap) {
  uint8_t txid[ST_HASH_LEN], k[1 + ST_HASH_LEN], y[9 + ST_HASH_LEN];
  int rc = st_meta__ftx_check(m, ov, ft, txid, log, cap);
  if (b->time_ms == 0 || st_meta__fatal(rc))
    return rc; /* validating: a bad tx fails the block */
  if (rc != 0)
    return b->results ? pend_push(m, txid, rc, log) : 0;
  size_t kl = key2(k, ST_META__K_TXID, txid, ST_HASH_LEN, NULL, 0);
  if (present(ov, k, kl, &rc) || rc != 0)
    return rc; /* applied before: a copy changes nothing */
  st_chain__ov_begin(ov);
  rc = st_meta__fop_apply(m, ov, b, ft->body.data, ft->body.len, log, cap);
  st_chain__ov_end(ov, rc == 0);
  if (st_meta__fatal(rc))
    return rc;
  if (rc != 0)
    ST_DEBUG("meta", "file tx failed: %s", log);
  int wrc = st_chain__ov_write_u64(ov, ST_META__SP_REC, k, kl, (uint64_t)b->height);
  if (wrc == 0)
    wrc = put_empty(ov, y, key_due(y, ST_META__K_TXID_DUE, (uint64_t)b->time_ms, txid,
                                   ST_HASH_LEN));
  if (wrc == 0 && b->results)
    wrc = pend_push(m, txid, rc, log);
  return wrc;
}

/* ---- the end of a block ---- */

int st_meta__node_lost(st_chain__overlay_t *ov, const uint8_t node[ST_ADDR_LEN]) {
  uint8_t pre[1 + ST_ADDR_LEN], k[1 + ST_ADDR_LEN];
  st_chain__recs_t rs;
  size_t pl = key2(pre, ST_META__K_HOLDER, node, ST_ADDR_LEN, NULL, 0);
  size_t kl = key2(k, ST_META__K_LOST, node, ST_ADDR_LEN, NULL, 0);
  int rc;
  if (present(ov, k, kl, &rc) || rc != 0)
    return rc;
  /* Only a node that holds something needs examining. */
  if ((rc = st_chain__ov_collect(ov, ST_META__SP_REC, pre, pl, ST_CHAIN__NOT_DUE, 1, &rs)) != 0)
    return rc;
  bool holds = rs.n > 0;
  st_chain__recs_free(&rs);
  return holds ? put_empty(ov, k, kl) : 0;
}

int st_meta__node_back(st_chain__overlay_t *ov, const uint8_t node[ST_ADDR_LEN]) {
  uint8_t k[1 + ST_ADDR_LEN];
  return st_chain__ov_del(ov, ST_META__SP_REC, k,
                          key2(k, ST_META__K_LOST, node, ST_ADDR_LEN, NULL, 0));
}

typedef struct after_ctx {
  const uint8_t *after;     /* key after which to start, may be NULL */
  size_t alen, max;
  st_chain__recs_t *out;
} after_ctx_t;

static int after_cb(const void *key, size_t kl, const void *val, size_t vl, void *ud) {
  after_ctx_t *c = ud;
  if (c->out->n >= c->max)
    return 1;
  if (c->after) {
    size_t n = kl < c->alen ? kl : c->alen;
    int d = memcmp(key, c->after, n);
    if (d < 0 || (d == 0 && kl <= c->alen))
      return 0;
  }
  return st_chain__recs_push(c->out, key, kl, val, vl);
}

/* The slices of lost holders, a bounded number per block. */
static int sweep_lost(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b) {
  st_chain__recs_t zs;
  uint8_t pre = ST_META__K_LOST;
  size_t budget = SWEEP_PER_BLOCK;
  int rc = st_chain__ov_collect(ov, ST_META__SP_REC, &pre, 1, ST_CHAIN__NOT_DUE, LOST_PER_BLOCK,
                                &zs);
  for (size_t i = 0; rc == 0 && i < zs.n && budget > 0; i++) {
    const uint8_t *node = zs.v[i].key + 1;
    uint8_t start[1 + ST_ADDR_LEN + ST_HASH_LEN];
    st_chain__recs_t hs = {0};
    if (zs.v[i].klen != 1 + ST_ADDR_LEN || (zs.v[i].vlen != 0 && zs.v[i].vlen != ST_HASH_LEN)) {
      rc = ST_ECORRUPT;
      break;
    }
    size_t sl = key2(start, ST_META__K_HOLDER, node, ST_ADDR_LEN, zs.v[i].val, zs.v[i].vlen);
    after_ctx_t c = {zs.v[i].vlen ? start : NULL, sl, budget, &hs};
    rc = st_chain__ov_scan(ov, ST_META__SP_REC, start, 1 + ST_ADDR_LEN, after_cb, &c);
    for (size_t j = 0; rc == 0 && j < hs.n; j++) {
      slice_rec_t s;
      int what;
      if (hs.v[j].klen != 1 + ST_ADDR_LEN + ST_HASH_LEN) {
        rc = ST_ECORRUPT;
        break;
      }
      const uint8_t *root = hs.v[j].key + 1 + ST_ADDR_LEN;
      rc = slice_get(ov, root, &s);
      if (rc == 0)
        rc = repair_assign(m, ov, b, root, &s, node, NULL, &what);
      else if (rc == ST_ENOENT)
        rc = ST_ECORRUPT; /* a holder entry without its slice */
    }
    uint8_t k[1 + ST_ADDR_LEN];
    size_t kl = key2(k, ST_META__K_LOST, node, ST_ADDR_LEN, NULL, 0);
    if (rc == 0 && hs.n < budget)
      rc = st_chain__ov_del(ov, ST_META__SP_REC, k, kl); /* all examined */
    else if (rc == 0)
      rc = st_chain__ov_write(ov, ST_META__SP_REC, k, kl,
                              hs.v[hs.n - 1].key + 1 + ST_ADDR_LEN, ST_HASH_LEN);
    budget -= hs.n < budget ? hs.n : budget;
    st_chain__recs_free(&hs);
  }
  st_chain__recs_free(&zs);
  return rc;
}

/* Repairs not done in time go to another node. */
static int stale_repairs(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b) {
  st_chain__recs_t ws;
  uint8_t pre = ST_META__K_REPAIR_DUE;
  int rc = st_chain__ov_collect(ov, ST_META__SP_REC, &pre, 1, b->height, STALE_PER_BLOCK, &ws);
  for (size_t i = 0; rc == 0 && i < ws.n; i++) {
    repair_t q;
    slice_rec_t s;
    int what;
    if (ws.v[i].klen != 9 + ST_HASH_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    const uint8_t *root = ws.v[i].key + 9;
    if ((rc = st_chain__ov_del(ov, ST_META__SP_REC, ws.v[i].key, ws.v[i].klen)) != 0)
      break;
    rc = repair_get(ov, root, &q);
    if (rc == ST_ENOENT || (rc == 0 && q.created + ST_META__REPAIR_BLOCKS > b->height)) {
      rc = 0; /* done, or a later one with its own due time */
      continue;
    }
    if (rc == 0 && (rc = slice_get(ov, root, &s)) == ST_ENOENT)
      rc = ST_ECORRUPT;
    if (rc == 0)
      rc = repair_del(ov, root);
    if (rc == 0)
      rc = repair_assign(m, ov, b, root, &s, q.has_replaces ? q.replaces : NULL, q.node, &what);
    if (rc == 0 && what == REPAIR_STUCK) {
      /* Nobody else to ask: the same node may still do it. */
      q.created = b->height;
      rc = repair_put(ov, root, &q);
    }
  }
  st_chain__recs_free(&ws);
  return rc;
}

/* Applied tx ids are forgotten once both old enough in time and height. */
static int prune_txids(st_chain__overlay_t *ov, st_meta__blk_t *b) {
  st_chain__recs_t ys;
  uint8_t pre = ST_META__K_TXID_DUE;
  if (b->time_ms <= ST_META__TXID_KEEP_MS)
    return 0;
  int rc = st_chain__ov_collect(ov, ST_META__SP_REC, &pre, 1, b->time_ms - ST_META__TXID_KEEP_MS,
                                PRUNE_PER_BLOCK, &ys);
  for (size_t i = 0; rc == 0 && i < ys.n; i++) {
    uint8_t k[1 + ST_HASH_LEN];
    uint64_t h;
    if (ys.v[i].klen != 9 + ST_HASH_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    size_t kl = key2(k, ST_META__K_TXID, ys.v[i].key + 9, ST_HASH_LEN, NULL, 0);
    if ((rc = st_chain__ov_read_u64(ov, ST_META__SP_REC, k, kl, &h)) != 0)
      break;
    if (h + ST_META__TXID_KEEP_HEIGHTS > (uint64_t)b->height)
      break; /* later ones are younger still */
    rc = st_chain__ov_del(ov, ST_META__SP_REC, k, kl);
    if (rc == 0)
      rc = st_chain__ov_del(ov, ST_META__SP_REC, ys.v[i].key, ys.v[i].klen);
  }
  st_chain__recs_free(&ys);
  return rc;
}

/* Used request signatures are forgotten once their time is past the
 * skew window: req_check refuses them by their time from then on. */
static int prune_reqs(st_chain__overlay_t *ov, st_meta__blk_t *b) {
  st_chain__recs_t ys;
  uint8_t pre = ST_META__K_REQ_DUE;
  if (b->time_ms <= 1)
    return 0;
  int rc = st_chain__ov_collect(ov, ST_META__SP_REC, &pre, 1, b->time_ms - 1, PRUNE_PER_BLOCK,
                                &ys);
  for (size_t i = 0; rc == 0 && i < ys.n; i++) {
    uint8_t k[1 + ST_HASH_LEN];
    if (ys.v[i].klen != 9 + ST_HASH_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    rc = st_chain__ov_del(ov, ST_META__SP_REC, k,
                          key2(k, ST_META__K_REQ, ys.v[i].key + 9, ST_HASH_LEN, NULL, 0));
    if (rc == 0)
      rc = st_chain__ov_del(ov, ST_META__SP_REC, ys.v[i].key, ys.v[i].klen);
  }
  st_chain__recs_free(&ys);
  return rc;
}

int st_meta__files_end_block(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b) {
  /* Liveness changed after the txs: placement looks again. */
  st_meta__blk_done(b);
  int rc = sweep_lost(m, ov, b);
  if (rc == 0)
    rc = stale_repairs(m, ov, b);
  if (rc == 0)
    rc = prune_txids(ov, b);
  if (rc == 0)
    rc = prune_reqs(ov, b);
  return rc;
}

void st_meta__results_hash(st_meta_t *m, const uint8_t block_hash[ST_HASH_LEN],
                           uint8_t out[ST_HASH_LEN]) {
  st_hash_ctx_t c;
  st_hash_init(&c, ST_DOM_TX_RESULTS);
  st_hash_update(&c, block_hash, ST_HASH_LEN);
  for (size_t i = 0; i < m->npend; i++) {
    uint8_t code[4];
    st_chain__be32(code, (uint32_t)m->pend[i].code);
    st_hash_update(&c, m->pend[i].txid, ST_HASH_LEN);
    st_hash_update(&c, code, sizeof(code));
  }
  st_hash_final(&c, out);
}
