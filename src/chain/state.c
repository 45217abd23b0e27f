/* Account state in LMDB and the in-memory overlay blocks run against.
 *
 * An account is one record, addr (20 bytes) -> balance (16 bytes BE) ||
 * nonce (8 bytes BE); a missing record is an empty account. Validating,
 * proposing and finalizing a block all run its txs one after the other
 * against an overlay: accounts are read through a transaction once and
 * then changed in memory, so a block that fails half way leaves nothing
 * behind, and finalize writes only the accounts that changed.
 *
 * The app hash chains blocks: after a block it is
 * st_hash(ST_DOM_STATE, previous app hash || for every changed account in
 * address order: addr || value), and the genesis app hash hashes every
 * genesis account the same way without a predecessor. It is cheap (no
 * tree over all accounts) and binds every node to the same sequence of
 * changes; proofs of single accounts are left for later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "chain/mods.h"
#include "tx.pb-c.h"

#define U128_MAX (~(st_u128)0)

static const char K_HEIGHT[] = "height";
static const char K_APP_HASH[] = "app_hash";
static const char K_GENESIS[] = "genesis";

void st_chain__be64(uint8_t out[8], uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    out[i] = (uint8_t)v;
    v >>= 8;
  }
}

uint64_t st_chain__rd64(const uint8_t in[8]) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | in[i];
  return v;
}

void st_chain__be32(uint8_t out[4], uint32_t v) {
  for (int i = 3; i >= 0; i--) {
    out[i] = (uint8_t)v;
    v >>= 8;
  }
}

uint32_t st_chain__rd32(const uint8_t in[4]) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v = (v << 8) | in[i];
  return v;
}

void st_chain__acct_encode(const st_chain__acct_t *a, uint8_t out[ST_CHAIN__ACCT_LEN]) {
  st_chain__be64(out, (uint64_t)(a->balance >> 64));
  st_chain__be64(out + 8, (uint64_t)a->balance);
  st_chain__be64(out + 16, a->nonce);
}

void st_chain__acct_decode(const uint8_t in[ST_CHAIN__ACCT_LEN], st_chain__acct_t *a) {
  a->balance = ((st_u128)st_chain__rd64(in) << 64) | st_chain__rd64(in + 8);
  a->nonce = st_chain__rd64(in + 16);
}

int st_chain__acct_get(const st_chain__state_t *st, st_txn_t *txn,
                       const uint8_t addr[ST_ADDR_LEN], st_chain__acct_t *out) {
  const void *v;
  size_t n;
  memset(out, 0, sizeof(*out));
  int rc = st_kv_get(txn, st->acct, addr, ST_ADDR_LEN, &v, &n);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n != ST_CHAIN__ACCT_LEN)
    return ST_ECORRUPT;
  st_chain__acct_decode(v, out);
  return 0;
}

int st_chain__meta_get(const st_chain__state_t *st, st_txn_t *txn, int64_t *height,
                       uint8_t app_hash[ST_HASH_LEN]) {
  const void *v;
  size_t n;
  int rc = st_kv_get(txn, st->meta, K_HEIGHT, sizeof(K_HEIGHT) - 1, &v, &n);
  if (rc != 0)
    return rc == ST_ENOENT ? ST_ECORRUPT : rc;
  if (n != 8)
    return ST_ECORRUPT;
  if (height)
    *height = (int64_t)st_chain__rd64(v);
  rc = st_kv_get(txn, st->meta, K_APP_HASH, sizeof(K_APP_HASH) - 1, &v, &n);
  if (rc != 0)
    return rc == ST_ENOENT ? ST_ECORRUPT : rc;
  if (n != ST_HASH_LEN)
    return ST_ECORRUPT;
  if (app_hash)
    memcpy(app_hash, v, ST_HASH_LEN);
  return 0;
}

/* Writes the genesis state into ov: the accounts, then the modules'
 * records. */
static int genesis_apply(const st_chain__genesis_t *g, st_chain__overlay_t *ov) {
  int rc = 0;
  for (size_t i = 0; i < g->naccts && rc == 0; i++) {
    st_chain__acct_t a = {g->accts[i].balance, 0};
    rc = st_chain__ov_put(ov, g->accts[i].addr, &a);
  }
  if (rc == 0)
    rc = st_chain__modules_genesis(g, ov);
  return rc;
}

int st_chain__genesis_app_hash(const st_chain__genesis_t *g, uint8_t out[ST_HASH_LEN]) {
  st_chain__overlay_t ov;
  static const uint8_t zero[ST_HASH_LEN];
  st_chain__ov_init(&ov, NULL, NULL);
  int rc = genesis_apply(g, &ov);
  if (rc == 0)
    rc = st_chain__ov_commit(&ov, zero, out);
  st_chain__ov_free(&ov);
  return rc;
}

int st_chain__state_open(st_chain__state_t *st, st_store_t *store,
                         const st_chain__genesis_t *g,
                         uint8_t genesis_app_hash[ST_HASH_LEN]) {
  st_txn_t *txn;
  const void *v;
  size_t n;
  int rc;
  memset(st, 0, sizeof(*st));
  st->store = store;
  if ((rc = st_store_db(store, "chain_acct", &st->acct)) != 0 ||
      (rc = st_store_db(store, "chain_tx", &st->txidx)) != 0 ||
      (rc = st_store_db(store, "chain_results", &st->results)) != 0 ||
      (rc = st_store_db(store, "chain_meta", &st->meta)) != 0 ||
      (rc = st_store_db(store, "chain_mod", &st->mod)) != 0)
    return rc;
  st->dbs[ST_CHAIN__SP_ACCT] = st->acct;
  st->dbs[ST_CHAIN__SP_STATE] = st->mod;
  if ((rc = st_chain__genesis_app_hash(g, genesis_app_hash)) != 0)
    return rc;
  if ((rc = st_txn_begin(store, true, &txn)) != 0)
    return rc;
  rc = st_kv_get(txn, st->meta, K_GENESIS, sizeof(K_GENESIS) - 1, &v, &n);
  if (rc == 0) {
    /* Already applied: the store must come from this very genesis. */
    if (n != ST_HASH_LEN || memcmp(v, genesis_app_hash, ST_HASH_LEN) != 0) {
      ST_ERROR("chain", "the store was created from another genesis (its genesis app "
                        "hash differs); use a fresh home or the original genesis.json");
      rc = ST_ECONFIG;
    }
    st_txn_abort(txn);
    return rc;
  }
  if (rc != ST_ENOENT) {
    st_txn_abort(txn);
    return rc;
  }
  st_chain__overlay_t ov;
  uint8_t hash[ST_HASH_LEN];
  static const uint8_t zero[ST_HASH_LEN];
  st_chain__ov_init(&ov, st, txn);
  rc = genesis_apply(g, &ov);
  if (rc == 0)
    rc = st_chain__ov_commit(&ov, zero, hash);
  st_chain__ov_free(&ov);
  if (rc == 0) {
    uint8_t h[8];
    st_chain__be64(h, 0);
    rc = st_kv_put(txn, st->meta, K_HEIGHT, sizeof(K_HEIGHT) - 1, h, sizeof(h));
    if (rc == 0)
      rc = st_kv_put(txn, st->meta, K_APP_HASH, sizeof(K_APP_HASH) - 1, genesis_app_hash,
                     ST_HASH_LEN);
    if (rc == 0)
      rc = st_kv_put(txn, st->meta, K_GENESIS, sizeof(K_GENESIS) - 1, genesis_app_hash,
                     ST_HASH_LEN);
  }
  if (rc != 0) {
    st_txn_abort(txn);
    return rc;
  }
  rc = st_txn_commit(txn);
  if (rc == 0)
    ST_INFO("chain", "genesis applied: %zu accounts, %zu validators", g->naccts,
            g->valset.n);
  return rc;
}

/* ---- overlay ----
 *
 * Entries live in one growing array (indices stay valid when it moves)
 * and are found through an open-addressing table of indices. An entry
 * caches what the transaction holds for its key (present or not) until it
 * is written; written entries are "dirty" and go to LMDB at commit. While
 * a tx runs under st_chain__ov_begin, every change first records the
 * entry's previous state in an undo journal, so a failed tx is rolled
 * back exactly. */

#define NO_ENT UINT32_MAX

static uint64_t key_hash(uint8_t sp, const uint8_t *k, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ sp ^ ((uint64_t)n << 8);
  for (size_t i = 0; i < n; i++)
    h = (h ^ k[i]) * 0x100000001b3ULL;
  return h ^ (h >> 29);
}

void st_chain__ov_init(st_chain__overlay_t *ov, const st_chain__state_t *st, st_txn_t *txn) {
  memset(ov, 0, sizeof(*ov));
  ov->st = st;
  ov->txn = txn;
}

static const uint8_t *ent_val(const st_chain__ov_ent_t *e) {
  return e->heap ? e->heap : e->inl;
}

static int ent_set(st_chain__ov_ent_t *e, const void *v, size_t n) {
  uint8_t *heap = NULL;
  if (n > sizeof(e->inl)) {
    heap = malloc(n);
    if (!heap)
      return ST_ENOMEM;
    memcpy(heap, v, n);
  } else if (n) {
    memcpy(e->inl, v, n);
  }
  free(e->heap);
  e->heap = heap;
  e->vlen = (uint32_t)n;
  return 0;
}

static uint32_t *slot_find(st_chain__overlay_t *ov, uint8_t sp, const uint8_t *k, size_t n) {
  size_t mask = ov->tcap - 1;
  for (size_t i = key_hash(sp, k, n) & mask;; i = (i + 1) & mask) {
    uint32_t x = ov->tab[i];
    if (x == NO_ENT)
      return &ov->tab[i];
    const st_chain__ov_ent_t *e = &ov->ents[x];
    if (e->sp == sp && e->klen == n && memcmp(e->key, k, n) == 0)
      return &ov->tab[i];
  }
}

static int table_grow(st_chain__overlay_t *ov) {
  size_t ncap = ov->tcap ? ov->tcap * 2 : 64;
  uint32_t *nt = malloc(ncap * sizeof(*nt));
  if (!nt)
    return ST_ENOMEM;
  for (size_t i = 0; i < ncap; i++)
    nt[i] = NO_ENT;
  free(ov->tab);
  ov->tab = nt;
  ov->tcap = ncap;
  for (size_t x = 0; x < ov->n; x++) {
    const st_chain__ov_ent_t *e = &ov->ents[x];
    *slot_find(ov, e->sp, e->key, e->klen) = (uint32_t)x;
  }
  return 0;
}

/* Finds or loads the entry of (sp, key): a new entry reads the
 * transaction once. */
static int ent_get(st_chain__overlay_t *ov, uint8_t sp, const uint8_t *k, size_t n,
                   st_chain__ov_ent_t **out) {
  if (n == 0 || n > ST_CHAIN__KEY_MAX || sp >= ST_CHAIN__SP_N)
    return ST_EINVAL;
  if (ov->tcap) {
    uint32_t x = *slot_find(ov, sp, k, n);
    if (x != NO_ENT) {
      *out = &ov->ents[x];
      return 0;
    }
  }
  if ((ov->n + 1) * 2 > ov->tcap) {
    int rc = table_grow(ov);
    if (rc != 0)
      return rc;
  }
  if (ov->n == ov->cap) {
    size_t ncap = ov->cap ? ov->cap * 2 : 64;
    if (ncap >= NO_ENT)
      return ST_ENOMEM;
    st_chain__ov_ent_t *ne = realloc(ov->ents, ncap * sizeof(*ne));
    if (!ne)
      return ST_ENOMEM;
    ov->ents = ne;
    ov->cap = ncap;
  }
  st_chain__ov_ent_t *e = &ov->ents[ov->n];
  memset(e, 0, sizeof(*e));
  e->sp = sp;
  e->klen = (uint8_t)n;
  memcpy(e->key, k, n);
  if (ov->txn) {
    const void *v;
    size_t vn;
    int rc = st_kv_get(ov->txn, ov->st->dbs[sp], k, n, &v, &vn);
    if (rc == 0) {
      if (vn > UINT32_MAX)
        return ST_ECORRUPT;
      if ((rc = ent_set(e, v, vn)) != 0)
        return rc;
      e->present = true;
    } else if (rc != ST_ENOENT) {
      return rc;
    }
  }
  *slot_find(ov, sp, k, n) = (uint32_t)ov->n;
  ov->n++;
  *out = e;
  return 0;
}

/* Records e's state in the undo journal when a tx is running. */
static int journal(st_chain__overlay_t *ov, st_chain__ov_ent_t *e) {
  if (!ov->in_tx)
    return 0;
  if (ov->jn == ov->jcap) {
    size_t ncap = ov->jcap ? ov->jcap * 2 : 16;
    st_chain__ov_undo_t *nj = realloc(ov->jour, ncap * sizeof(*nj));
    if (!nj)
      return ST_ENOMEM;
    ov->jour = nj;
    ov->jcap = ncap;
  }
  st_chain__ov_undo_t *u = &ov->jour[ov->jn];
  memset(u, 0, sizeof(*u));
  u->idx = (uint32_t)(e - ov->ents);
  u->present = e->present;
  u->dirty = e->dirty;
  u->vlen = e->vlen;
  if (e->present && e->vlen) {
    u->val = malloc(e->vlen);
    if (!u->val)
      return ST_ENOMEM;
    memcpy(u->val, ent_val(e), e->vlen);
  }
  ov->jn++;
  return 0;
}

int st_chain__ov_read(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                      const uint8_t **val, size_t *vlen) {
  st_chain__ov_ent_t *e;
  int rc = ent_get(ov, sp, key, klen, &e);
  if (rc != 0)
    return rc;
  if (!e->present)
    return ST_ENOENT;
  *val = ent_val(e);
  *vlen = e->vlen;
  return 0;
}

int st_chain__ov_write(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                       const void *val, size_t vlen) {
  st_chain__ov_ent_t *e;
  int rc = ent_get(ov, sp, key, klen, &e);
  if (rc == 0 && vlen > UINT32_MAX)
    rc = ST_E2BIG;
  if (rc == 0)
    rc = journal(ov, e);
  if (rc == 0)
    rc = ent_set(e, val, vlen);
  if (rc != 0)
    return rc;
  e->present = true;
  e->dirty = true;
  return 0;
}

int st_chain__ov_del(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen) {
  st_chain__ov_ent_t *e;
  int rc = ent_get(ov, sp, key, klen, &e);
  if (rc != 0)
    return rc;
  if (!e->present)
    return 0;
  if ((rc = journal(ov, e)) != 0)
    return rc;
  ent_set(e, NULL, 0);
  e->present = false;
  e->dirty = true;
  return 0;
}

void st_chain__ov_begin(st_chain__overlay_t *ov) {
  ov->in_tx = true;
  ov->jn = 0;
}

void st_chain__ov_end(st_chain__overlay_t *ov, bool keep) {
  for (size_t i = ov->jn; i-- > 0;) {
    st_chain__ov_undo_t *u = &ov->jour[i];
    if (!keep) {
      st_chain__ov_ent_t *e = &ov->ents[u->idx];
      /* Restoring a copy of at most the size it had cannot fail: a heap
       * value goes back by pointer. */
      free(e->heap);
      e->heap = NULL;
      if (u->vlen > sizeof(e->inl)) {
        e->heap = u->val;
        u->val = NULL;
      } else if (u->vlen) {
        memcpy(e->inl, u->val, u->vlen);
      }
      e->vlen = u->vlen;
      e->present = u->present;
      e->dirty = u->dirty;
    }
    free(u->val);
  }
  ov->jn = 0;
  ov->in_tx = false;
}

static int key_cmp(const st_chain__ov_ent_t *x, const st_chain__ov_ent_t *y) {
  if (x->sp != y->sp)
    return x->sp < y->sp ? -1 : 1;
  size_t n = x->klen < y->klen ? x->klen : y->klen;
  int c = memcmp(x->key, y->key, n);
  if (c)
    return c;
  return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static const st_chain__ov_ent_t *sort_base;
static int idx_cmp(const void *a, const void *b) {
  return key_cmp(&sort_base[*(const uint32_t *)a], &sort_base[*(const uint32_t *)b]);
}

/* Indices of the dirty entries of space sp (all spaces when sp is
 * ST_CHAIN__SP_N) whose key starts with prefix, in key order. */
static int dirty_sorted(st_chain__overlay_t *ov, uint8_t sp, const uint8_t *prefix,
                        size_t plen, uint32_t **out, size_t *nout) {
  size_t n = 0;
  uint32_t *v = NULL;
  for (size_t x = 0; x < ov->n; x++) {
    const st_chain__ov_ent_t *e = &ov->ents[x];
    if (!e->dirty || (sp != ST_CHAIN__SP_N && e->sp != sp) || e->klen < plen ||
        (plen && memcmp(e->key, prefix, plen) != 0))
      continue;
    if (!v && !(v = malloc((ov->n - x) * sizeof(*v))))
      return ST_ENOMEM;
    v[n++] = (uint32_t)x;
  }
  /* Loop-thread only: the comparison reads the entries through a static. */
  sort_base = ov->ents;
  if (n > 1)
    qsort(v, n, sizeof(*v), idx_cmp);
  *out = v;
  *nout = n;
  return 0;
}

typedef struct scan_ctx {
  st_chain__overlay_t *ov;
  uint8_t sp;
  uint32_t *d;
  size_t nd, i;
  st_kv_scan_cb cb;
  void *ud;
} scan_ctx_t;

/* Emits the dirty entries ordered before (sp, key) (all when key NULL). */
static int emit_dirty(scan_ctx_t *s, const uint8_t *key, size_t klen, bool *same) {
  *same = false;
  while (s->i < s->nd) {
    const st_chain__ov_ent_t *e = &s->ov->ents[s->d[s->i]];
    if (key) {
      size_t n = e->klen < klen ? e->klen : klen;
      int c = memcmp(e->key, key, n);
      if (c == 0)
        c = e->klen < klen ? -1 : e->klen > klen;
      if (c > 0)
        return 0;
      if (c == 0)
        *same = true;
    }
    s->i++;
    if (e->present) {
      int rc = s->cb(e->key, e->klen, ent_val(e), e->vlen, s->ud);
      if (rc != 0)
        return rc;
    }
    if (*same)
      return 0;
  }
  return 0;
}

static int scan_step(const void *key, size_t klen, const void *val, size_t vlen, void *ud) {
  scan_ctx_t *s = ud;
  bool same;
  int rc = emit_dirty(s, key, klen, &same);
  if (rc != 0 || same)
    return rc;
  return s->cb(key, klen, val, vlen, s->ud);
}

int st_chain__ov_scan(st_chain__overlay_t *ov, uint8_t sp, const void *prefix, size_t plen,
                      st_kv_scan_cb cb, void *ud) {
  scan_ctx_t s = {ov, sp, NULL, 0, 0, cb, ud};
  bool same;
  if (sp >= ST_CHAIN__SP_N)
    return ST_EINVAL;
  int rc = dirty_sorted(ov, sp, prefix, plen, &s.d, &s.nd);
  if (rc != 0)
    return rc;
  if (ov->txn)
    rc = st_kv_scan(ov->txn, ov->st->dbs[sp], prefix, plen, NULL, 0, scan_step, &s);
  if (rc == 0)
    rc = emit_dirty(&s, NULL, 0, &same);
  free(s.d);
  return rc < 0 ? rc : 0;
}

int st_chain__recs_push(st_chain__recs_t *rs, const void *key, size_t klen, const void *val,
                        size_t vlen) {
  if (klen > ST_CHAIN__KEY_MAX)
    return ST_ECORRUPT;
  if (rs->n == rs->cap) {
    size_t ncap = rs->cap ? rs->cap * 2 : 16;
    st_chain__rec_t *nv = realloc(rs->v, ncap * sizeof(*nv));
    if (!nv)
      return ST_ENOMEM;
    rs->v = nv;
    rs->cap = ncap;
  }
  st_chain__rec_t *e = &rs->v[rs->n];
  e->val = NULL;
  if (vlen && !(e->val = malloc(vlen)))
    return ST_ENOMEM;
  if (vlen)
    memcpy(e->val, val, vlen);
  memcpy(e->key, key, klen);
  e->klen = klen;
  e->vlen = vlen;
  rs->n++;
  return 0;
}

void st_chain__recs_free(st_chain__recs_t *rs) {
  for (size_t i = 0; i < rs->n; i++)
    free(rs->v[i].val);
  free(rs->v);
  memset(rs, 0, sizeof(*rs));
}

typedef struct collect_ctx {
  st_chain__recs_t *out;
  int64_t due;
  size_t max;
} collect_ctx_t;

static int collect_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud) {
  collect_ctx_t *c = ud;
  if (c->max && c->out->n >= c->max)
    return 1;
  if (klen > ST_CHAIN__KEY_MAX)
    return ST_ECORRUPT;
  if (c->due >= 0) {
    if (klen < 9)
      return ST_ECORRUPT;
    if (st_chain__rd64((const uint8_t *)key + 1) > (uint64_t)c->due)
      return 1; /* the queue is in time order: nothing later is due */
  }
  return st_chain__recs_push(c->out, key, klen, val, vlen);
}

int st_chain__ov_collect(st_chain__overlay_t *ov, uint8_t sp, const void *prefix, size_t plen,
                         int64_t due_ms, size_t max, st_chain__recs_t *out) {
  collect_ctx_t c = {out, due_ms, max};
  memset(out, 0, sizeof(*out));
  int rc = st_chain__ov_scan(ov, sp, prefix, plen, collect_cb, &c);
  if (rc != 0)
    st_chain__recs_free(out);
  return rc;
}

/* Reads a value of exactly width bytes into out (zeros when missing). */
static int read_fixed(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                      uint8_t *out, size_t width) {
  const uint8_t *p;
  size_t n;
  int rc = st_chain__ov_read(ov, sp, key, klen, &p, &n);
  memset(out, 0, width);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n != width)
    return ST_ECORRUPT;
  memcpy(out, p, width);
  return 0;
}

int st_chain__ov_read_u64(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                          uint64_t *out) {
  uint8_t b[8];
  int rc = read_fixed(ov, sp, key, klen, b, sizeof(b));
  *out = rc == 0 ? st_chain__rd64(b) : 0;
  return rc;
}

int st_chain__ov_read_u128(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                           st_u128 *out) {
  uint8_t b[16];
  int rc = read_fixed(ov, sp, key, klen, b, sizeof(b));
  *out = rc == 0 ? ((st_u128)st_chain__rd64(b) << 64) | st_chain__rd64(b + 8) : 0;
  return rc;
}

int st_chain__ov_write_u64(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                           uint64_t v) {
  uint8_t b[8];
  st_chain__be64(b, v);
  return st_chain__ov_write(ov, sp, key, klen, b, sizeof(b));
}

int st_chain__ov_write_u128(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                            st_u128 v) {
  uint8_t b[16];
  st_chain__be64(b, (uint64_t)(v >> 64));
  st_chain__be64(b + 8, (uint64_t)v);
  return st_chain__ov_write(ov, sp, key, klen, b, sizeof(b));
}

int st_chain__ov_get(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                     st_chain__acct_t *out) {
  const uint8_t *v;
  size_t n;
  int rc = st_chain__ov_read(ov, ST_CHAIN__SP_ACCT, addr, ST_ADDR_LEN, &v, &n);
  memset(out, 0, sizeof(*out));
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n != ST_CHAIN__ACCT_LEN)
    return ST_ECORRUPT;
  st_chain__acct_decode(v, out);
  return 0;
}

int st_chain__ov_put(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                     const st_chain__acct_t *a) {
  uint8_t v[ST_CHAIN__ACCT_LEN];
  st_chain__acct_encode(a, v);
  return st_chain__ov_write(ov, ST_CHAIN__SP_ACCT, addr, ST_ADDR_LEN, v, sizeof(v));
}

void st_chain__ov_free(st_chain__overlay_t *ov) {
  st_chain__ov_end(ov, true);
  for (size_t x = 0; x < ov->n; x++)
    free(ov->ents[x].heap);
  free(ov->ents);
  free(ov->tab);
  free(ov->jour);
  memset(ov, 0, sizeof(*ov));
}

int st_chain__tx_exec(st_chain__ctx_t *c, const st_chain__tx_t *t, const uint8_t *tx) {
  st_chain__overlay_t *ov = c->ov;
  st_chain__acct_t s, r;
  char a[ST_U128_STR_MAX], b[ST_U128_STR_MAX];
  int rc = st_chain__ov_get(ov, t->sender, &s);
  if (rc != 0)
    return rc;
  if (t->nonce < s.nonce) {
    snprintf(c->log, c->logcap, "nonce %llu expected %llu (already used)",
             (unsigned long long)t->nonce, (unsigned long long)s.nonce);
    return ST_EEXIST;
  }
  if (t->nonce > s.nonce && !c->any_nonce) {
    snprintf(c->log, c->logcap, "nonce %llu expected %llu", (unsigned long long)t->nonce,
             (unsigned long long)s.nonce);
    return ST_EAGAIN;
  }
  /* A block may carry a message that fails (it pays its fee and uses its
   * nonce all the same), so in a block a message needs only its fee;
   * CheckTx asks for everything it will take. */
  st_u128 need = (t->kind == ST_CHAIN__KIND_SEND || c->any_nonce) ? t->cost : t->fee;
  c->code = 0;
  if (s.balance < need) {
    st_u128_format(s.balance, a);
    st_u128_format(need, b);
    snprintf(c->log, c->logcap, "insufficient balance: have %s, need %s", a, b);
    return ST_EPERM;
  }
  if (s.nonce == UINT64_MAX) {
    snprintf(c->log, c->logcap, "nonce %llu cannot grow", (unsigned long long)s.nonce);
    return ST_ERANGE;
  }
  const uint8_t *distr = st_chain__macc(ST_MACC_DISTR);
  st_chain__acct_t d;
  if ((rc = st_chain__ov_get(ov, distr, &d)) != 0)
    return rc;
  if (d.balance > U128_MAX - t->fee || c->fees > U128_MAX - t->fee) {
    snprintf(c->log, c->logcap, "fees would overflow 128 bits");
    return ST_ERANGE;
  }
  if (t->kind == ST_CHAIN__KIND_SEND) {
    /* Everything is checked above or here before anything is written. */
    bool self = memcmp(t->to, t->sender, ST_ADDR_LEN) == 0;
    if (st_chain__is_macc(t->to)) {
      snprintf(c->log, c->logcap, "cannot send to a module account");
      return ST_EPERM;
    }
    if (!self) {
      if ((rc = st_chain__ov_get(ov, t->to, &r)) != 0)
        return rc;
      if (r.balance > U128_MAX - t->amount) {
        snprintf(c->log, c->logcap, "recipient balance would overflow 128 bits");
        return ST_ERANGE;
      }
    }
    s.balance -= self ? t->fee : t->cost;
    s.nonce++;
    if ((rc = st_chain__ov_put(ov, t->sender, &s)) != 0)
      return rc;
    if (!self) {
      if ((rc = st_chain__ov_get(ov, t->to, &r)) != 0)
        return rc;
      r.balance += t->amount;
      if ((rc = st_chain__ov_put(ov, t->to, &r)) != 0)
        return rc;
    }
    if ((rc = st_chain__ov_get(ov, distr, &d)) != 0)
      return rc;
    d.balance += t->fee;
    c->fees += t->fee;
    return st_chain__ov_put(ov, distr, &d);
  }
  /* Other messages: the fee and the nonce first, then the message under
   * the undo journal, rolled back whole (events included) when it fails.
   * The tx is in the block either way; c->code tells how it went. */
  uint32_t nevents = c->nevents;
  Stratos__Tx__TxBody *body;
  if ((rc = st_chain__body_decode(tx, t, &body)) != 0) {
    snprintf(c->log, c->logcap, "cannot decode the tx body");
    return rc;
  }
  if (c->any_nonce)
    st_chain__ov_begin(ov); /* a dry run keeps nothing, fee included */
  s.balance -= t->fee;
  s.nonce++;
  d.balance += t->fee;
  if ((rc = st_chain__ov_put(ov, t->sender, &s)) != 0 ||
      (rc = st_chain__ov_put(ov, distr, &d)) != 0) {
    if (c->any_nonce)
      st_chain__ov_end(ov, false);
    stratos__tx__tx_body__free_unpacked(body, NULL);
    return rc;
  }
  c->fees += t->fee;
  if (!c->any_nonce)
    st_chain__ov_begin(ov);
  c->log[0] = '\0';
  c->tx_hash = t->hash;
  int mrc;
  /* A message may add to the block's fees (a volume report's validators'
   * share); a failed or dry one adds nothing. */
  st_u128 fees0 = c->fees;
  if (t->kind >= STRATOS__TX__TX_BODY__MSG_VOLUME_REPORT)
    mrc = st_chain__traffic_exec(c, t->sender, body);
  else if (t->kind >= STRATOS__TX__TX_BODY__MSG_PREPAY)
    mrc = st_chain__sds_exec(c, t->sender, body);
  else if (t->kind >= STRATOS__TX__TX_BODY__MSG_CREATE_RESOURCE_NODE)
    mrc = st_chain__register_exec(c, t->sender, body);
  else if (t->kind >= STRATOS__TX__TX_BODY__MSG_SUBMIT_PROPOSAL)
    mrc = st_chain__gov_exec(c, t->sender, body);
  else
    mrc = st_chain__staking_exec(c, t->sender, body);
  if (mrc != 0 && !c->log[0])
    snprintf(c->log, c->logcap, "%s", st_strerror(mrc));
  c->tx_hash = NULL;
  stratos__tx__tx_body__free_unpacked(body, NULL);
  if (c->any_nonce) {
    st_chain__ov_end(ov, false);
    c->fees = fees0 - t->fee;
    return mrc;
  }
  if (mrc != 0)
    c->fees = fees0;
  st_chain__ov_end(ov, mrc == 0);
  if (mrc != 0)
    c->nevents = nevents;
  /* Failures of the store are the node's, not the tx's. */
  if (mrc == ST_ENOMEM || mrc == ST_ECORRUPT || mrc == ST_ESTORE || mrc == ST_EIO ||
      mrc == ST_EMAPFULL)
    return mrc;
  c->code = mrc;
  return 0;
}

int st_chain__ov_commit(st_chain__overlay_t *ov, const uint8_t prev[ST_HASH_LEN],
                        uint8_t app_hash[ST_HASH_LEN]) {
  uint32_t *d;
  size_t nd, na = 0;
  uint8_t l4[4];
  int rc = dirty_sorted(ov, ST_CHAIN__SP_N, NULL, 0, &d, &nd);
  if (rc != 0)
    return rc;
  while (na < nd && ov->ents[d[na]].sp == ST_CHAIN__SP_ACCT)
    na++;
  st_hash_ctx_t c;
  st_hash_init(&c, ST_DOM_STATE);
  st_hash_update(&c, prev, ST_HASH_LEN);
  st_chain__be32(l4, (uint32_t)na);
  st_hash_update(&c, l4, 4);
  for (size_t i = 0; i < nd && rc == 0; i++) {
    const st_chain__ov_ent_t *e = &ov->ents[d[i]];
    if (i == na) {
      st_chain__be32(l4, (uint32_t)(nd - na));
      st_hash_update(&c, l4, 4);
    }
    if (e->sp == ST_CHAIN__SP_ACCT) {
      st_hash_update(&c, e->key, e->klen);
    } else {
      uint8_t h[2] = {e->klen, e->present};
      st_hash_update(&c, h, 2);
      st_hash_update(&c, e->key, e->klen);
      st_chain__be32(l4, e->vlen);
      st_hash_update(&c, l4, 4);
    }
    st_hash_update(&c, ent_val(e), e->vlen);
    if (!ov->txn)
      continue;
    if (e->present)
      rc = st_kv_put(ov->txn, ov->st->dbs[e->sp], e->key, e->klen, ent_val(e), e->vlen);
    else if ((rc = st_kv_del(ov->txn, ov->st->dbs[e->sp], e->key, e->klen)) == ST_ENOENT)
      rc = 0;
  }
  if (na == nd) {
    st_chain__be32(l4, 0);
    st_hash_update(&c, l4, 4);
  }
  st_hash_final(&c, app_hash);
  free(d);
  return rc;
}
