/* The economic modules' records: encodings, keys, module accounts and
 * token movements, shared by staking, distribution, slashing, governance
 * and the queries. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stratos/st_err.h>
#include "chain/nodes.h"

#define U128_MAX (~(st_u128)0)

/* status(1) jailed(1) pubkey(32) tokens shares rate max max_change
 * (16 each) rate_updated(8) min_self(16) unbonding_height(8)
 * unbonding_time(8) created(8) moniker_len(1) moniker */
#define VAL_FIXED (1 + 1 + 32 + 16 * 5 + 8 + 16 + 8 + 8 + 8 + 1)

static const char *const macc_names[ST_MACC_N] = {
  "bonded_pool", "not_bonded_pool", "distribution", "community_pool", "gov"};
static uint8_t macc_addr[ST_MACC_N][ST_ADDR_LEN];
static bool macc_ready;

const uint8_t *st_chain__macc(int which) {
  if (!macc_ready) {
    /* Deterministic and the same for every caller; computing it twice
     * from two threads would write the same bytes. */
    for (int i = 0; i < ST_MACC_N; i++) {
      uint8_t h[ST_HASH_LEN];
      st_hash(ST_DOM_MODULE, macc_names[i], strlen(macc_names[i]), h);
      memcpy(macc_addr[i], h, ST_ADDR_LEN);
    }
    macc_ready = true;
  }
  return macc_addr[which];
}

const char *st_chain__macc_name(int which) {
  return macc_names[which];
}

bool st_chain__is_macc(const uint8_t addr[ST_ADDR_LEN]) {
  /* The registry's accounts too: no one may send into any of them. Every
   * send asks, so the addresses come from the caches, never hashed here. */
  static const char *const more[] = {"node_deposits", "sds_pool", "foundation",
                                     "traffic_rewards"};
  for (int i = 0; i < ST_MACC_N; i++)
    if (memcmp(addr, st_chain__macc(i), ST_ADDR_LEN) == 0)
      return true;
  for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
    if (memcmp(addr, st_chain__macc_named(more[i]), ST_ADDR_LEN) == 0)
      return true;
  return false;
}

int st_chain__refuse(st_chain__ctx_t *c, int code, const char *fmt, ...) {
  if (c->log && c->logcap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->log, c->logcap, fmt, ap);
    va_end(ap);
  }
  return code;
}

void st_chain__put128(uint8_t *p, st_u128 v) {
  st_chain__be64(p, (uint64_t)(v >> 64));
  st_chain__be64(p + 8, (uint64_t)v);
}

st_u128 st_chain__get128(const uint8_t *p) {
  return ((st_u128)st_chain__rd64(p) << 64) | st_chain__rd64(p + 8);
}

size_t st_chain__k1(uint8_t *k, uint8_t kind, const uint8_t a[ST_ADDR_LEN]) {
  k[0] = kind;
  memcpy(k + 1, a, ST_ADDR_LEN);
  return 1 + ST_ADDR_LEN;
}

size_t st_chain__k2(uint8_t *k, uint8_t kind, const uint8_t a[ST_ADDR_LEN],
                    const uint8_t b[ST_ADDR_LEN]) {
  k[0] = kind;
  memcpy(k + 1, a, ST_ADDR_LEN);
  memcpy(k + 1 + ST_ADDR_LEN, b, ST_ADDR_LEN);
  return 1 + 2 * ST_ADDR_LEN;
}

int st_chain__xfer(st_chain__ctx_t *c, const uint8_t from[ST_ADDR_LEN],
                   const uint8_t to[ST_ADDR_LEN], st_u128 amount) {
  st_chain__acct_t a, b;
  int rc;
  if (amount == 0 || memcmp(from, to, ST_ADDR_LEN) == 0)
    return 0;
  if ((rc = st_chain__ov_get(c->ov, from, &a)) != 0)
    return rc;
  if (a.balance < amount) {
    char have[ST_U128_STR_MAX], need[ST_U128_STR_MAX];
    st_u128_format(a.balance, have);
    st_u128_format(amount, need);
    return st_chain__refuse(c, ST_EPERM, "insufficient balance: have %s, need %s", have,
                            need);
  }
  if ((rc = st_chain__ov_get(c->ov, to, &b)) != 0)
    return rc;
  if (b.balance > U128_MAX - amount)
    return st_chain__refuse(c, ST_ERANGE, "recipient balance would overflow 128 bits");
  a.balance -= amount;
  b.balance += amount;
  if ((rc = st_chain__ov_put(c->ov, from, &a)) != 0)
    return rc;
  return st_chain__ov_put(c->ov, to, &b);
}

int st_chain__burn(st_chain__ctx_t *c, const uint8_t from[ST_ADDR_LEN], st_u128 amount) {
  st_chain__acct_t a;
  int rc;
  if (amount == 0)
    return 0;
  if ((rc = st_chain__ov_get(c->ov, from, &a)) != 0)
    return rc;
  if (a.balance < amount)
    return ST_ECORRUPT; /* a pool holds less than the records say it does */
  a.balance -= amount;
  return st_chain__ov_put(c->ov, from, &a);
}

/* ---- validators ---- */

static void val_encode(const st_val_t *v, uint8_t *p, size_t *n) {
  size_t ml = strlen(v->moniker);
  p[0] = v->status;
  p[1] = v->jailed;
  memcpy(p + 2, v->pubkey, ST_PUBKEY_LEN);
  p += 2 + ST_PUBKEY_LEN;
  st_chain__put128(p, v->tokens);
  st_chain__put128(p + 16, v->shares);
  st_chain__put128(p + 32, v->rate);
  st_chain__put128(p + 48, v->max_rate);
  st_chain__put128(p + 64, v->max_change_rate);
  p += 80;
  st_chain__be64(p, (uint64_t)v->rate_updated_ms);
  st_chain__put128(p + 8, v->min_self_delegation);
  st_chain__be64(p + 24, (uint64_t)v->unbonding_height);
  st_chain__be64(p + 32, (uint64_t)v->unbonding_time_ms);
  st_chain__be64(p + 40, (uint64_t)v->created_height);
  p[48] = (uint8_t)ml;
  memcpy(p + 49, v->moniker, ml);
  *n = VAL_FIXED + ml;
}

static int val_decode(const uint8_t op[ST_ADDR_LEN], const uint8_t *p, size_t n,
                      st_val_t *v) {
  memset(v, 0, sizeof(*v));
  if (n < VAL_FIXED || n - VAL_FIXED != p[VAL_FIXED - 1] || n - VAL_FIXED > ST_MONIKER_MAX)
    return ST_ECORRUPT;
  memcpy(v->operator_, op, ST_ADDR_LEN);
  v->status = p[0];
  v->jailed = p[1] != 0;
  memcpy(v->pubkey, p + 2, ST_PUBKEY_LEN);
  st_addr_from_pubkey(v->pubkey, v->cons_addr);
  p += 2 + ST_PUBKEY_LEN;
  v->tokens = st_chain__get128(p);
  v->shares = st_chain__get128(p + 16);
  v->rate = st_chain__get128(p + 32);
  v->max_rate = st_chain__get128(p + 48);
  v->max_change_rate = st_chain__get128(p + 64);
  p += 80;
  v->rate_updated_ms = (int64_t)st_chain__rd64(p);
  v->min_self_delegation = st_chain__get128(p + 8);
  v->unbonding_height = (int64_t)st_chain__rd64(p + 24);
  v->unbonding_time_ms = (int64_t)st_chain__rd64(p + 32);
  v->created_height = (int64_t)st_chain__rd64(p + 40);
  memcpy(v->moniker, p + 49, p[48]);
  v->moniker[p[48]] = '\0';
  return 0;
}

int st_chain__val_get(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], st_val_t *v) {
  uint8_t k[1 + ST_ADDR_LEN], opc[ST_ADDR_LEN];
  const uint8_t *p;
  size_t n;
  memcpy(opc, op, ST_ADDR_LEN); /* op may point into v (re-reading a record) */
  int rc = st_chain__ov_read(c->ov, ST_CHAIN__SP_STATE, k, st_chain__k1(k, ST_K_VAL, opc), &p,
                             &n);
  if (rc != 0)
    return rc;
  return val_decode(opc, p, n, v);
}

int st_chain__val_put(st_chain__ctx_t *c, const st_val_t *v) {
  uint8_t k[1 + ST_ADDR_LEN], buf[VAL_FIXED + ST_MONIKER_MAX];
  size_t n;
  val_encode(v, buf, &n);
  return st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, k,
                            st_chain__k1(k, ST_K_VAL, v->operator_), buf, n);
}

int st_chain__val_by_cons(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN],
                          st_val_t *v) {
  uint8_t k[1 + ST_ADDR_LEN], op[ST_ADDR_LEN];
  const uint8_t *p;
  size_t n;
  int rc = st_chain__ov_read(c->ov, ST_CHAIN__SP_STATE, k,
                             st_chain__k1(k, ST_K_VAL_CONS, cons), &p, &n);
  if (rc != 0)
    return rc;
  if (n != ST_ADDR_LEN)
    return ST_ECORRUPT;
  memcpy(op, p, ST_ADDR_LEN);
  return st_chain__val_get(c, op, v);
}

st_u128 st_chain__val_tokens_of(const st_val_t *v, st_u128 shares) {
  st_u128 out = 0;
  if (v->shares == 0)
    return 0;
  if (st_u128_muldiv(shares, v->tokens, v->shares, &out) != 0)
    return 0;
  return out;
}

int64_t st_chain__val_power(const st_val_t *v) {
  if (v->jailed)
    return 0;
  st_u128 p = v->tokens / ST_POWER_REDUCTION;
  return p > ((st_u128)1 << 50) ? (int64_t)1 << 50 : (int64_t)p;
}

int st_chain__del_get(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                      const uint8_t op[ST_ADDR_LEN], st_u128 *shares) {
  uint8_t k[1 + 2 * ST_ADDR_LEN];
  const uint8_t *p;
  size_t n;
  *shares = 0;
  int rc = st_chain__ov_read(c->ov, ST_CHAIN__SP_STATE, k, st_chain__k2(k, ST_K_DEL, del, op),
                             &p, &n);
  if (rc != 0)
    return rc;
  if (n != 16)
    return ST_ECORRUPT;
  *shares = st_chain__get128(p);
  return 0;
}

int st_chain__sign_info_get(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN],
                            st_sign_info_t *s) {
  uint8_t k[1 + ST_ADDR_LEN];
  const uint8_t *p;
  size_t n;
  memset(s, 0, sizeof(*s));
  int rc = st_chain__ov_read(c->ov, ST_CHAIN__SP_STATE, k,
                             st_chain__k1(k, ST_K_SIGN_INFO, cons), &p, &n);
  if (rc != 0)
    return rc;
  if (n != 33)
    return ST_ECORRUPT;
  s->start_height = (int64_t)st_chain__rd64(p);
  s->index = (int64_t)st_chain__rd64(p + 8);
  s->missed = (int64_t)st_chain__rd64(p + 16);
  s->jailed_until_ms = (int64_t)st_chain__rd64(p + 24);
  s->tombstoned = p[32] != 0;
  return 0;
}

int st_chain__sign_info_put(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN],
                            const st_sign_info_t *s) {
  uint8_t k[1 + ST_ADDR_LEN], v[33];
  st_chain__be64(v, (uint64_t)s->start_height);
  st_chain__be64(v + 8, (uint64_t)s->index);
  st_chain__be64(v + 16, (uint64_t)s->missed);
  st_chain__be64(v + 24, (uint64_t)s->jailed_until_ms);
  v[32] = s->tombstoned;
  return st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, k,
                            st_chain__k1(k, ST_K_SIGN_INFO, cons), v, sizeof(v));
}

void st_chain__ubd_decode(const uint8_t *v, st_ubd_t *u) {
  u->completion_ms = (int64_t)st_chain__rd64(v);
  u->initial = st_chain__get128(v + 8);
  u->balance = st_chain__get128(v + 24);
}

void st_chain__ubd_encode(const st_ubd_t *u, uint8_t v[ST_UBD_LEN]) {
  st_chain__be64(v, (uint64_t)u->completion_ms);
  st_chain__put128(v + 8, u->initial);
  st_chain__put128(v + 24, u->balance);
}

void st_chain__red_decode(const uint8_t *v, st_red_t *r) {
  r->completion_ms = (int64_t)st_chain__rd64(v);
  r->initial = st_chain__get128(v + 8);
  r->shares_dst = st_chain__get128(v + 24);
}

void st_chain__red_encode(const st_red_t *r, uint8_t v[ST_RED_LEN]) {
  st_chain__be64(v, (uint64_t)r->completion_ms);
  st_chain__put128(v + 8, r->initial);
  st_chain__put128(v + 24, r->shares_dst);
}

int st_chain__counter_next(st_chain__ctx_t *c, const char *name, uint64_t *out) {
  uint8_t k[24];
  size_t nl = strlen(name);
  const uint8_t *p;
  size_t n;
  uint8_t v[8];
  if (nl > sizeof(k) - 1)
    return ST_EINVAL;
  k[0] = ST_K_COUNTER;
  memcpy(k + 1, name, nl);
  uint64_t x = 0;
  int rc = st_chain__ov_read(c->ov, ST_CHAIN__SP_STATE, k, 1 + nl, &p, &n);
  if (rc == 0 && n == 8)
    x = st_chain__rd64(p);
  else if (rc != ST_ENOENT)
    return rc == 0 ? ST_ECORRUPT : rc;
  *out = x;
  st_chain__be64(v, x + 1);
  return st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, k, 1 + nl, v, sizeof(v));
}

int st_chain__event_add(st_chain__ctx_t *c, uint8_t kind, const void *payload, size_t len) {
  uint8_t k[13], v[256];
  if (len + 1 > sizeof(v))
    return ST_E2BIG;
  k[0] = ST_K_EVENT;
  st_chain__be64(k + 1, (uint64_t)c->height);
  st_chain__be32(k + 9, c->nevents);
  v[0] = kind;
  memcpy(v + 1, payload, len);
  int rc = st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, k, sizeof(k), v, len + 1);
  if (rc == 0)
    c->nevents++;
  return rc;
}

/* ---- the event feed, read by the meta module ---- */

int st_chain_feed_open(st_store_t *s, st_chain_feed_t *f) {
  int rc = st_store_db(s, "chain_mod", &f->mod);
  return rc ? rc : st_store_db(s, "chain_meta", &f->meta);
}

int st_chain_height(const st_chain_feed_t *f, st_txn_t *txn, int64_t *height) {
  const void *v;
  size_t n;
  int rc = st_kv_get(txn, f->meta, "height", 6, &v, &n);
  if (rc == ST_ENOENT) {
    *height = 0;
    return 0;
  }
  if (rc != 0)
    return rc;
  if (n != 8)
    return ST_ECORRUPT;
  *height = (int64_t)st_chain__rd64(v);
  return 0;
}

typedef struct ev_walk {
  int64_t to;
  st_chain_event_cb cb;
  void *ud;
} ev_walk_t;

static int ev_step(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  ev_walk_t *w = ud;
  if (kl != 13 || vl == 0)
    return ST_ECORRUPT;
  if ((int64_t)st_chain__rd64((const uint8_t *)k + 1) > w->to)
    return 1;
  return w->cb(w->ud, (int64_t)st_chain__rd64((const uint8_t *)k + 1), v, vl);
}

int st_chain_events(const st_chain_feed_t *f, st_txn_t *txn, int64_t from, int64_t to,
                    st_chain_event_cb cb, void *ud) {
  uint8_t pre = ST_K_EVENT, start[9];
  ev_walk_t w = {to, cb, ud};
  start[0] = ST_K_EVENT;
  st_chain__be64(start + 1, (uint64_t)(from < 0 ? 0 : from));
  int rc = st_kv_scan(txn, f->mod, &pre, 1, start, sizeof(start), ev_step, &w);
  return rc > 0 ? 0 : rc;
}
