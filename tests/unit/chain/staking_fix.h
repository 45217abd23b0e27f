/* Fixture of the staking and distribution unit tests: the modules'
 * fixture (mods_fix.h) with staking's accounts, params and messages, and
 * the books checked after every step:
 *
 *  - bonded_pool holds the tokens of the bonded validators, and
 *    not_bonded_pool the other validators' tokens plus the balances of
 *    the unbonding entries;
 *  - distribution holds the sum of the outstanding counts (ST_K_D_OUT);
 *  - every balance, module accounts included, plus what the tests
 *    expect slashing to have burnt adds up to the genesis total.
 *
 * Included by one test file at a time, so everything here is static. */
#ifndef STRATOS_TESTS_CHAIN_STAKING_FIX_H
#define STRATOS_TESTS_CHAIN_STAKING_FIX_H

/* What the books need besides the modules' fixture. */
#define MODS_FIX_EXTRA                                                                       \
  st_u128 genesis; /* every balance before the first step */                               \
  st_u128 burnt;   /* what slashing burnt, as the tests computed it */
#include "mods_fix.h"

#define STOS ((st_u128)1000000000000000000ull)
#define T0 1795000000000LL
#define UNBOND_MS 120000LL
#define JAIL_MS 15000LL
#define MAX_VALS 3
#define MAX_ENTRIES 3
#define WINDOW 10
#define FUNDS (1000 * STOS)
#define MILLI(x) ((st_u128)(x) * 1000000000000000ull) /* x thousandths, scaled */

/* Made-up accounts: delegators, a payer of fees, operators. */
enum { D1 = 1, D2, D3, D4, PAYER = 9, OPA = 0x11, OPB, OPC, OPD, OPE, NOBODY = 0x77 };

/* ---- addresses ---- */

static inline void addr_text(int n, char out[ST_ADDR_STR_MAX]) {
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr(n), out, ST_ADDR_STR_MAX), 0);
}

/* The consensus key of operator op's validator and its address. */
static inline void cons_key(int op, uint8_t pk[ST_PUBKEY_LEN], uint8_t cons[ST_ADDR_LEN]) {
  st_keypair_t kp;
  t_key(op, &kp, NULL);
  if (pk)
    memcpy(pk, kp.pk, ST_PUBKEY_LEN);
  if (cons)
    st_addr_from_pubkey(kp.pk, cons);
}

/* ---- reading the state ---- */

static inline st_u128 bal_of(fix_t *f, int n) { return bal(f, addr(n)); }
static inline st_u128 pool(fix_t *f, int which) { return bal(f, st_chain__macc(which)); }

static inline st_val_t val(fix_t *f, int op) {
  st_val_t v;
  assert_int_equal(st_chain__val_get(&f->c, addr(op), &v), 0);
  return v;
}

/* Shares of (d, op); 0 when there is no delegation record. */
static inline st_u128 shares_of(fix_t *f, int d, int op) {
  st_u128 s;
  int rc = st_chain__del_get(&f->c, addr(d), addr(op), &s);
  assert_true(rc == 0 || rc == ST_ENOENT);
  if (rc == 0)
    assert_true(s > 0);
  return rc == 0 ? s : 0;
}

static inline st_u128 rec128(fix_t *f, uint8_t kind, int op) {
  uint8_t k[1 + ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  assert_int_equal(st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k,
                                     st_chain__k1(k, kind, addr(op)), &v, &n), 0);
  assert_int_equal(n, 16);
  return st_chain__get128(v);
}

static inline st_u128 outstanding(fix_t *f, int op) { return rec128(f, ST_K_D_OUT, op); }
static inline st_u128 commission(fix_t *f, int op) { return rec128(f, ST_K_D_COMM, op); }

/* The open period of op and its rewards so far. */
static inline uint64_t cur_period(fix_t *f, int op, st_u128 *rewards) {
  uint8_t k[1 + ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  assert_int_equal(st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k,
                                     st_chain__k1(k, ST_K_D_CUR, addr(op)), &v, &n), 0);
  assert_int_equal(n, 24);
  if (rewards)
    *rewards = st_chain__get128(v + 8);
  return st_chain__rd64(v);
}

static inline bool in_last_set(fix_t *f, int op, int64_t *power) {
  uint8_t k[1 + ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  int rc = st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k,
                             st_chain__k1(k, ST_K_VAL_LAST, addr(op)), &v, &n);
  assert_true(rc == 0 || rc == ST_ENOENT);
  if (rc == 0 && power) {
    assert_int_equal(n, 8);
    *power = (int64_t)st_chain__rd64(v);
  }
  return rc == 0;
}

/* Whether op is a candidate under the given power. */
static inline bool candidate(fix_t *f, int op, int64_t power) {
  uint8_t k[9 + ST_ADDR_LEN];
  k[0] = ST_K_VAL_POWER;
  st_chain__be64(k + 1, ~(uint64_t)power);
  memcpy(k + 9, addr(op), ST_ADDR_LEN);
  return has(f, k, sizeof(k));
}

/* ---- scans ---- */

typedef struct rec {
  uint8_t key[ST_CHAIN__KEY_MAX];
  size_t klen;
  uint8_t val[256];
  size_t vlen;
} rec_t;

typedef struct recs {
  rec_t *r;
  size_t n, cap;
} recs_t;

static inline int recs_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  recs_t *rs = ud;
  if (kl > ST_CHAIN__KEY_MAX || vl > sizeof(rs->r[0].val))
    return ST_ECORRUPT;
  if (rs->n == rs->cap) {
    size_t nc = rs->cap ? 2 * rs->cap : 16;
    rec_t *p = realloc(rs->r, nc * sizeof(*p));
    if (!p)
      return ST_ENOMEM;
    rs->r = p;
    rs->cap = nc;
  }
  rec_t *r = &rs->r[rs->n++];
  memcpy(r->key, k, kl);
  r->klen = kl;
  if (vl)
    memcpy(r->val, v, vl);
  r->vlen = vl;
  return 0;
}

/* Every record of the module space under prefix (kind byte, then
 * optionally more), in key order. Free with free(rs.r). */
static inline recs_t scan(fix_t *f, const uint8_t *prefix, size_t plen) {
  recs_t rs = {0};
  assert_int_equal(st_chain__ov_scan(&f->ov, ST_CHAIN__SP_STATE, prefix, plen, recs_cb, &rs),
                   0);
  return rs;
}

static inline recs_t scan_kind(fix_t *f, uint8_t kind) { return scan(f, &kind, 1); }

static inline size_t count_kind(fix_t *f, uint8_t kind) {
  recs_t rs = scan_kind(f, kind);
  free(rs.r);
  return rs.n;
}

/* The record of op's closed period: S[period] (16) and how many still
 * need it (4). Returns false when it is gone (nobody needed it). */
static inline bool hist(fix_t *f, int op, uint64_t period, st_u128 *sum, uint32_t *refs) {
  uint8_t k[9 + ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  st_chain__k1(k, ST_K_D_HIST, addr(op));
  st_chain__be64(k + 1 + ST_ADDR_LEN, period);
  int rc = st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k, sizeof(k), &v, &n);
  assert_true(rc == 0 || rc == ST_ENOENT);
  if (rc != 0)
    return false;
  assert_int_equal(n, 20);
  if (sum)
    *sum = st_chain__get128(v);
  if (refs)
    *refs = st_chain__rd32(v + 16);
  return true;
}

/* The cumulative ratio S[period] of op (the record must be there). */
static inline st_u128 ratio(fix_t *f, int op, uint64_t period) {
  st_u128 s = 0;
  assert_true(hist(f, op, period, &s, NULL));
  return s;
}

/* The periods op keeps a record of, at most max, in order; returns how
 * many there are. */
static inline size_t hist_periods(fix_t *f, int op, uint64_t *out, size_t max) {
  uint8_t pre[1 + ST_ADDR_LEN];
  recs_t rs = scan(f, pre, st_chain__k1(pre, ST_K_D_HIST, addr(op)));
  for (size_t i = 0; i < rs.n && i < max; i++) {
    assert_int_equal(rs.r[i].klen, 9 + ST_ADDR_LEN);
    out[i] = st_chain__rd64(rs.r[i].key + 1 + ST_ADDR_LEN);
  }
  free(rs.r);
  return rs.n;
}

/* The starting record of (d, op): false when there is none. */
static inline bool start_of(fix_t *f, int d, int op, uint64_t *period, st_u128 *stake,
                            int64_t *height) {
  uint8_t k[1 + 2 * ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  int rc = st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k,
                             st_chain__k2(k, ST_K_D_START, addr(d), addr(op)), &v, &n);
  assert_true(rc == 0 || rc == ST_ENOENT);
  if (rc != 0)
    return false;
  assert_int_equal(n, 32);
  if (period)
    *period = st_chain__rd64(v);
  if (stake)
    *stake = st_chain__get128(v + 8);
  if (height)
    *height = (int64_t)st_chain__rd64(v + 24);
  return true;
}

/* The unbonding entries of (d, op) in key order (height, seq). */
static inline recs_t ubds(fix_t *f, int d, int op) {
  uint8_t pre[1 + 2 * ST_ADDR_LEN];
  return scan(f, pre, st_chain__k2(pre, ST_K_UBD, addr(d), addr(op)));
}

static inline st_ubd_t ubd_at(const recs_t *rs, size_t i) {
  st_ubd_t u;
  assert_true(i < rs->n);
  assert_int_equal(rs->r[i].vlen, ST_UBD_LEN);
  st_chain__ubd_decode(rs->r[i].val, &u);
  return u;
}

/* The redelegations of d from src to dst, in key order. */
static inline recs_t reds(fix_t *f, int d, int src, int dst) {
  uint8_t pre[1 + 3 * ST_ADDR_LEN];
  st_chain__k2(pre, ST_K_RED, addr(d), addr(src));
  memcpy(pre + 1 + 2 * ST_ADDR_LEN, addr(dst), ST_ADDR_LEN);
  return scan(f, pre, sizeof(pre));
}

static inline st_red_t red_at(const recs_t *rs, size_t i) {
  st_red_t r;
  assert_true(i < rs->n);
  assert_int_equal(rs->r[i].vlen, ST_RED_LEN);
  st_chain__red_decode(rs->r[i].val, &r);
  return r;
}

/* The state as a byte string: every account and every module record,
 * key and value, as the overlay sees them. Two equal snapshots mean an
 * unchanged state. Free with free(). */
typedef struct snap {
  uint8_t *p;
  size_t n, cap;
} snap_t;

static inline int snap_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  snap_t *s = ud;
  size_t need = 8 + kl + vl;
  if (s->n + need > s->cap) {
    size_t nc = s->cap ? s->cap : 4096;
    while (nc < s->n + need)
      nc *= 2;
    uint8_t *p = realloc(s->p, nc);
    if (!p)
      return ST_ENOMEM;
    s->p = p;
    s->cap = nc;
  }
  st_chain__be32(s->p + s->n, (uint32_t)kl);
  memcpy(s->p + s->n + 4, k, kl);
  st_chain__be32(s->p + s->n + 4 + kl, (uint32_t)vl);
  if (vl)
    memcpy(s->p + s->n + 8 + kl, v, vl);
  s->n += need;
  return 0;
}

static inline snap_t snapshot(fix_t *f) {
  snap_t s = {0};
  for (uint8_t sp = 0; sp < ST_CHAIN__SP_N; sp++)
    assert_int_equal(st_chain__ov_scan(&f->ov, sp, "", 0, snap_cb, &s), 0);
  return s;
}

static inline void assert_unchanged(fix_t *f, snap_t *before) {
  snap_t now = snapshot(f);
  assert_int_equal(now.n, before->n);
  assert_memory_equal(now.p, before->p, now.n);
  free(now.p);
}

/* ---- the books ---- */

static inline void check_books(fix_t *f) {
  /* distribution = sum of the outstanding counts */
  recs_t out = scan_kind(f, ST_K_D_OUT);
  st_u128 owed = 0;
  for (size_t i = 0; i < out.n; i++) {
    assert_int_equal(out.r[i].vlen, 16);
    owed += st_chain__get128(out.r[i].val);
  }
  free(out.r);
  assert_true(pool(f, ST_MACC_DISTR) == owed);

  /* the pools = the records */
  recs_t vals = scan_kind(f, ST_K_VAL);
  st_u128 bonded = 0, other = 0;
  for (size_t i = 0; i < vals.n; i++) {
    st_val_t v;
    assert_int_equal(vals.r[i].klen, 1 + ST_ADDR_LEN);
    assert_int_equal(st_chain__val_get(&f->c, vals.r[i].key + 1, &v), 0);
    if (v.status == ST_VAL_BONDED)
      bonded += v.tokens;
    else
      other += v.tokens;
  }
  free(vals.r);
  recs_t u = scan_kind(f, ST_K_UBD);
  for (size_t i = 0; i < u.n; i++)
    other += ubd_at(&u, i).balance;
  free(u.r);
  assert_true(pool(f, ST_MACC_BONDED) == bonded);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == other);

  /* nothing created, nothing lost but what was burnt; and every wei is
   * in a known account: the fixture's or a module account */
  static const int accts[] = {D1, D2, D3, D4, PAYER, OPA, OPB, OPC, OPD, OPE};
  st_u128 known = 0;
  for (size_t i = 0; i < sizeof(accts) / sizeof(accts[0]); i++)
    known += bal_of(f, accts[i]);
  for (int i = 0; i < ST_MACC_N; i++)
    known += pool(f, i);
  assert_true(supply(f) == known);
  assert_true(known + f->burnt == f->genesis);
}

/* ---- the fixture ---- */

static inline void fix_params(fix_t *f) {
  st_chain__params_t p;
  char err[256];
  st_chain__params_defaults(&p);
  snprintf(p.chain_id, sizeof(p.chain_id), "%s", T_CHAIN_ID);
  p.genesis_time_ms = T0 - 1000;
  p.unbonding_time_ms = UNBOND_MS;
  p.max_validators = MAX_VALS;
  p.max_entries = MAX_ENTRIES;
  p.signed_blocks_window = WINDOW;
  p.min_signed_per_window = MILLI(500);
  p.downtime_jail_duration_ms = JAIL_MS;
  p.slash_fraction_double_sign = MILLI(50);
  p.slash_fraction_downtime = MILLI(10);
  p.community_tax = MILLI(20);
  /* Through the parser, so that the fixture runs on a set it accepts. */
  json_t *j = st_chain__params_json(&p);
  assert_non_null(j);
  if (st_chain__params_parse(j, &p, &f->p, err, sizeof(err)) != 0)
    fail_msg("fixture params refused: %s", err);
  json_decref(j);
  assert_true(f->p.unbonding_time_ms == UNBOND_MS);
  assert_true(f->p.max_validators == MAX_VALS && f->p.max_entries == MAX_ENTRIES);
  assert_true(f->p.min_signed_per_window == ST_DEC_ONE / 2);
  assert_true(f->p.slash_fraction_downtime == ST_DEC_ONE / 100);
  assert_true(f->p.slash_fraction_double_sign == ST_DEC_ONE / 20);
  assert_true(f->p.community_tax == ST_DEC_ONE / 50);
}

static inline int fix_setup(void **state) {
  static const int accts[] = {D1, D2, D3, D4, PAYER, OPA, OPB, OPC, OPD, OPE};
  fix_t *f = fix_new(1, T0);
  fix_params(f);
  assert_int_equal(st_chain__params_store(&f->c, &f->p), 0);
  fund(f, accts, sizeof(accts) / sizeof(accts[0]), FUNDS);
  f->genesis = supply(f);
  assert_true(f->genesis == 10 * FUNDS);
  *state = f;
  return 0;
}

/* Writes the overlay's changes into the txn and starts a fresh overlay
 * over it, as a committed block would. */
static inline void flush(fix_t *f) {
  uint8_t prev[ST_HASH_LEN] = {0}, h[ST_HASH_LEN];
  assert_int_equal(st_chain__ov_commit(&f->ov, prev, h), 0);
  st_chain__ov_free(&f->ov);
  st_chain__ov_init(&f->ov, &f->st, f->txn);
}

/* ---- messages ---- */

static inline void fmt(st_u128 v, char out[ST_U128_STR_MAX]) { st_u128_format(v, out); }

static inline int run(fix_t *f, int who, const Stratos__Tx__TxBody *b) {
  return fix_run(f, st_chain__staking_exec, who, b);
}

static inline int create_val(fix_t *f, int op, st_u128 self, const char *rate,
                             st_u128 min_self) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgCreateValidator m;
  uint8_t pk[ST_PUBKEY_LEN];
  char moniker[16], amt[ST_U128_STR_MAX], min[ST_U128_STR_MAX], r[32], mr[] = "0.5",
       mcr[] = "0.01";
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_create_validator__init(&m);
  cons_key(op, pk, NULL);
  snprintf(moniker, sizeof(moniker), "val%02x", op);
  snprintf(r, sizeof(r), "%s", rate);
  fmt(self, amt);
  fmt(min_self, min);
  m.pubkey.data = pk;
  m.pubkey.len = ST_PUBKEY_LEN;
  m.moniker = moniker;
  m.self_delegation = amt;
  m.commission_rate = r;
  m.max_rate = mr;
  m.max_change_rate = mcr;
  m.min_self_delegation = min;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_CREATE_VALIDATOR;
  b.create_validator = &m;
  return run(f, op, &b);
}

static inline int delegate(fix_t *f, int d, int op, st_u128 amount) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgDelegate m;
  uint8_t v[ST_ADDR_LEN];
  char amt[ST_U128_STR_MAX];
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_delegate__init(&m);
  memcpy(v, addr(op), ST_ADDR_LEN);
  fmt(amount, amt);
  m.validator.data = v;
  m.validator.len = ST_ADDR_LEN;
  m.amount = amt;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_DELEGATE;
  b.delegate = &m;
  return run(f, d, &b);
}

static inline int undelegate(fix_t *f, int d, int op, st_u128 amount) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgUndelegate m;
  uint8_t v[ST_ADDR_LEN];
  char amt[ST_U128_STR_MAX];
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_undelegate__init(&m);
  memcpy(v, addr(op), ST_ADDR_LEN);
  fmt(amount, amt);
  m.validator.data = v;
  m.validator.len = ST_ADDR_LEN;
  m.amount = amt;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_UNDELEGATE;
  b.undelegate = &m;
  return run(f, d, &b);
}

static inline int redelegate(fix_t *f, int d, int src, int dst, st_u128 amount) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgRedelegate m;
  uint8_t s[ST_ADDR_LEN], t[ST_ADDR_LEN];
  char amt[ST_U128_STR_MAX];
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_redelegate__init(&m);
  memcpy(s, addr(src), ST_ADDR_LEN);
  memcpy(t, addr(dst), ST_ADDR_LEN);
  fmt(amount, amt);
  m.src.data = s;
  m.src.len = ST_ADDR_LEN;
  m.dst.data = t;
  m.dst.len = ST_ADDR_LEN;
  m.amount = amt;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_REDELEGATE;
  b.redelegate = &m;
  return run(f, d, &b);
}

/* op 0: every delegation of d. */
static inline int withdraw(fix_t *f, int d, int op) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgWithdrawRewards m;
  uint8_t v[ST_ADDR_LEN];
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_withdraw_rewards__init(&m);
  if (op) {
    memcpy(v, addr(op), ST_ADDR_LEN);
    m.validator.data = v;
    m.validator.len = ST_ADDR_LEN;
  }
  b.msg_case = STRATOS__TX__TX_BODY__MSG_WITHDRAW_REWARDS;
  b.withdraw_rewards = &m;
  return run(f, d, &b);
}

static inline int unjail(fix_t *f, int op) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgUnjail m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_unjail__init(&m);
  b.msg_case = STRATOS__TX__TX_BODY__MSG_UNJAIL;
  b.unjail = &m;
  return run(f, op, &b);
}

/* ---- block steps ---- */

/* Staking's end of block at time t; returns *changed. The new set, when
 * there is one, goes to next (or is dropped when next is NULL). */
static inline bool end_block(fix_t *f, int64_t t, st_cons_valset_t *next) {
  st_cons_valset_t vs = {0, NULL};
  bool changed = true;
  f->c.time_ms = t;
  assert_int_equal(st_chain__staking_end_block(&f->c, &vs, &changed), 0);
  if (!changed)
    assert_true(vs.n == 0 && vs.v == NULL);
  if (next)
    *next = vs;
  else
    free(vs.v);
  return changed;
}

/* The power the new set gives the validator of op (-1: not in it). */
static inline int64_t power_in(const st_cons_valset_t *vs, int op) {
  uint8_t pk[ST_PUBKEY_LEN], cons[ST_ADDR_LEN];
  cons_key(op, pk, cons);
  for (size_t i = 0; i < vs->n; i++)
    if (memcmp(vs->v[i].addr, cons, ST_ADDR_LEN) == 0) {
      assert_memory_equal(vs->v[i].pubkey, pk, ST_PUBKEY_LEN);
      return vs->v[i].power;
    }
  return -1;
}

/* Fees paid into distribution by a block's txs, then handed out. */
static inline void fees(fix_t *f, st_u128 amount) {
  assert_int_equal(st_chain__xfer(&f->c, addr(PAYER), st_chain__macc(ST_MACC_DISTR), amount),
                   0);
  assert_int_equal(st_chain__distr_end_block(&f->c, amount), 0);
}

/* Slashes op as slashing does and counts what it burns (as computed by
 * the test, not read back). */
static inline void slash(fix_t *f, int op, int64_t infraction, int64_t power,
                         st_u128 fraction, st_u128 expect_burnt) {
  st_val_t v = val(f, op);
  st_u128 before = supply(f);
  assert_int_equal(st_chain__slash(&f->c, &v, infraction, power, fraction), 0);
  assert_true(before - supply(f) == expect_burnt);
  f->burnt += expect_burnt;
}

/* A validator of op created and bonded at the end of the current block. */
static inline void bonded_val(fix_t *f, int op, st_u128 self, const char *rate) {
  assert_int_equal(create_val(f, op, self, rate, STOS / 1000), 0);
  assert_true(end_block(f, f->c.time_ms, NULL));
  assert_int_equal(val(f, op).status, ST_VAL_BONDED);
}

#endif
