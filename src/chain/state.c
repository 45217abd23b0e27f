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
#include "chain/chain_private.h"

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

void st_chain__genesis_app_hash(const st_chain__genesis_t *g, uint8_t out[ST_HASH_LEN]) {
  st_hash_ctx_t c;
  st_hash_init(&c, ST_DOM_STATE);
  for (size_t i = 0; i < g->naccts; i++) {
    st_chain__acct_t a = {g->accts[i].balance, 0};
    uint8_t v[ST_CHAIN__ACCT_LEN];
    st_chain__acct_encode(&a, v);
    st_hash_update(&c, g->accts[i].addr, ST_ADDR_LEN);
    st_hash_update(&c, v, sizeof(v));
  }
  st_hash_final(&c, out);
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
      (rc = st_store_db(store, "chain_meta", &st->meta)) != 0)
    return rc;
  st_chain__genesis_app_hash(g, genesis_app_hash);
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
  for (size_t i = 0; i < g->naccts && rc == ST_ENOENT; i++) {
    st_chain__acct_t a = {g->accts[i].balance, 0};
    uint8_t val[ST_CHAIN__ACCT_LEN];
    st_chain__acct_encode(&a, val);
    int prc = st_kv_put(txn, st->acct, g->accts[i].addr, ST_ADDR_LEN, val, sizeof(val));
    if (prc != 0)
      rc = prc;
  }
  if (rc == ST_ENOENT) {
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
    ST_INFO("chain", "genesis applied: %zu accounts", g->naccts);
  return rc;
}

/* ---- overlay ---- */

void st_chain__ov_init(st_chain__overlay_t *ov, const st_chain__state_t *st, st_txn_t *txn) {
  memset(ov, 0, sizeof(*ov));
  ov->st = st;
  ov->txn = txn;
}

static size_t slot_of(const uint8_t addr[ST_ADDR_LEN], size_t cap) {
  /* Addresses are hash outputs: their first bytes are already uniform. */
  uint64_t h = st_chain__rd64(addr);
  return (size_t)h & (cap - 1);
}

static st_chain__ov_ent_t *find(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN]) {
  if (ov->cap == 0)
    return NULL;
  for (size_t i = slot_of(addr, ov->cap);; i = (i + 1) & (ov->cap - 1)) {
    st_chain__ov_ent_t *e = &ov->tab[i];
    if (!e->used)
      return NULL;
    if (memcmp(e->addr, addr, ST_ADDR_LEN) == 0)
      return e;
  }
}

static int grow(st_chain__overlay_t *ov) {
  size_t ncap = ov->cap ? ov->cap * 2 : 64;
  st_chain__ov_ent_t *nt = calloc(ncap, sizeof(*nt));
  if (!nt)
    return ST_ENOMEM;
  for (size_t i = 0; i < ov->cap; i++) {
    if (!ov->tab[i].used)
      continue;
    size_t j = slot_of(ov->tab[i].addr, ncap);
    while (nt[j].used)
      j = (j + 1) & (ncap - 1);
    nt[j] = ov->tab[i];
  }
  free(ov->tab);
  ov->tab = nt;
  ov->cap = ncap;
  return 0;
}

static int insert(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                  st_chain__ov_ent_t **out) {
  if ((ov->n + 1) * 2 > ov->cap) {
    int rc = grow(ov);
    if (rc != 0)
      return rc;
  }
  size_t i = slot_of(addr, ov->cap);
  while (ov->tab[i].used)
    i = (i + 1) & (ov->cap - 1);
  st_chain__ov_ent_t *e = &ov->tab[i];
  memset(e, 0, sizeof(*e));
  memcpy(e->addr, addr, ST_ADDR_LEN);
  e->used = true;
  ov->n++;
  *out = e;
  return 0;
}

int st_chain__ov_get(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                     st_chain__acct_t *out) {
  st_chain__ov_ent_t *e = find(ov, addr);
  if (e) {
    *out = e->a;
    return 0;
  }
  st_chain__acct_t a;
  int rc;
  memset(&a, 0, sizeof(a));
  if (ov->txn && (rc = st_chain__acct_get(ov->st, ov->txn, addr, &a)) != 0)
    return rc;
  if ((rc = insert(ov, addr, &e)) != 0)
    return rc;
  e->a = a;
  *out = a;
  return 0;
}

int st_chain__ov_put(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                     const st_chain__acct_t *a) {
  st_chain__ov_ent_t *e = find(ov, addr);
  if (!e) {
    int rc = insert(ov, addr, &e);
    if (rc != 0)
      return rc;
  }
  e->a = *a;
  e->dirty = true;
  return 0;
}

void st_chain__ov_free(st_chain__overlay_t *ov) {
  free(ov->tab);
  ov->tab = NULL;
  ov->cap = ov->n = 0;
}

int st_chain__tx_exec(st_chain__overlay_t *ov, const st_chain__tx_t *t, char *log,
                      size_t logcap) {
  st_chain__acct_t s, r;
  char a[ST_U128_STR_MAX], b[ST_U128_STR_MAX];
  int rc = st_chain__ov_get(ov, t->sender, &s);
  if (rc != 0)
    return rc;
  if (t->nonce < s.nonce) {
    snprintf(log, logcap, "nonce %llu expected %llu (already used)",
             (unsigned long long)t->nonce, (unsigned long long)s.nonce);
    return ST_EEXIST;
  }
  if (t->nonce > s.nonce) {
    snprintf(log, logcap, "nonce %llu expected %llu", (unsigned long long)t->nonce,
             (unsigned long long)s.nonce);
    return ST_EAGAIN;
  }
  if (s.balance < t->cost) {
    st_u128_format(s.balance, a);
    st_u128_format(t->cost, b);
    snprintf(log, logcap, "insufficient balance: have %s, need %s", a, b);
    return ST_EPERM;
  }
  if (s.nonce == UINT64_MAX) {
    snprintf(log, logcap, "nonce %llu cannot grow", (unsigned long long)s.nonce);
    return ST_ERANGE;
  }
  if (memcmp(t->to, t->sender, ST_ADDR_LEN) == 0) {
    s.balance -= t->fee;
    s.nonce++;
    return st_chain__ov_put(ov, t->sender, &s);
  }
  if ((rc = st_chain__ov_get(ov, t->to, &r)) != 0)
    return rc;
  if (r.balance > U128_MAX - t->amount) {
    snprintf(log, logcap, "recipient balance would overflow 128 bits");
    return ST_ERANGE;
  }
  s.balance -= t->cost;
  s.nonce++;
  r.balance += t->amount;
  if ((rc = st_chain__ov_put(ov, t->sender, &s)) != 0)
    return rc;
  return st_chain__ov_put(ov, t->to, &r);
}

static int ent_cmp(const void *a, const void *b) {
  const st_chain__ov_ent_t *const *x = a, *const *y = b;
  return memcmp((*x)->addr, (*y)->addr, ST_ADDR_LEN);
}

int st_chain__ov_commit(st_chain__overlay_t *ov, const uint8_t prev[ST_HASH_LEN],
                        uint8_t app_hash[ST_HASH_LEN]) {
  size_t nd = 0;
  int rc = 0;
  for (size_t i = 0; i < ov->cap; i++)
    if (ov->tab[i].used && ov->tab[i].dirty)
      nd++;
  st_chain__ov_ent_t **d = nd ? calloc(nd, sizeof(*d)) : NULL;
  if (nd && !d)
    return ST_ENOMEM;
  nd = 0;
  for (size_t i = 0; i < ov->cap; i++)
    if (ov->tab[i].used && ov->tab[i].dirty)
      d[nd++] = &ov->tab[i];
  if (nd > 1)
    qsort(d, nd, sizeof(*d), ent_cmp);
  st_hash_ctx_t c;
  st_hash_init(&c, ST_DOM_STATE);
  st_hash_update(&c, prev, ST_HASH_LEN);
  for (size_t i = 0; i < nd && rc == 0; i++) {
    uint8_t v[ST_CHAIN__ACCT_LEN];
    st_chain__acct_encode(&d[i]->a, v);
    st_hash_update(&c, d[i]->addr, ST_ADDR_LEN);
    st_hash_update(&c, v, sizeof(v));
    if (ov->txn)
      rc = st_kv_put(ov->txn, ov->st->acct, d[i]->addr, ST_ADDR_LEN, v, sizeof(v));
  }
  st_hash_final(&c, app_hash);
  free(d);
  return rc;
}
