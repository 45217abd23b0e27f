/* Staking: validators, delegations as shares, unbonding, redelegation,
 * jailing, slashing and the choice of the bonded set.
 *
 * A validator holds tokens and has issued shares to its delegators; a
 * delegation is a number of shares, worth shares * tokens / all shares.
 * Slashing takes tokens from the validator alone, which devalues every
 * share at once without touching a single delegation record. Tokens sit
 * in the bonded pool while their validator is bonded and in the
 * not-bonded pool otherwise (and while they unbond), so the pools'
 * balances always equal what the records say they hold.
 *
 * The candidates for the bonded set are indexed by power (highest first)
 * and the set is recomputed at the end of every block; jailed validators
 * and those with less than one STOS are never candidates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "chain/nodes.h"
#include "tx.pb-c.h"

#define U128_MAX (~(st_u128)0)
#define DAY_MS (24LL * 3600 * 1000)
#define SP ST_CHAIN__SP_STATE

static void addr_str(const uint8_t a[ST_ADDR_LEN], char out[ST_ADDR_STR_MAX]) {
  st_addr_encode(ST_HRP_WALLET, a, out, ST_ADDR_STR_MAX);
}

static const uint8_t *pool_of(const st_val_t *v) {
  return st_chain__macc(v->status == ST_VAL_BONDED ? ST_MACC_BONDED : ST_MACC_NOT_BONDED);
}

/* ---- the power index ---- */

static size_t pidx_key(uint8_t *k, const st_val_t *v, int64_t power) {
  k[0] = ST_K_VAL_POWER;
  st_chain__be64(k + 1, ~(uint64_t)power);
  memcpy(k + 9, v->operator_, ST_ADDR_LEN);
  return 9 + ST_ADDR_LEN;
}

/* Takes v out of the index (call before changing its tokens or jail). */
static int pidx_del(st_chain__ctx_t *c, const st_val_t *v) {
  uint8_t k[9 + ST_ADDR_LEN];
  int64_t p = st_chain__val_power(v);
  if (p <= 0)
    return 0;
  return st_chain__ov_del(c->ov, SP, k, pidx_key(k, v, p));
}

/* Puts v back (after the change). */
static int pidx_add(st_chain__ctx_t *c, const st_val_t *v) {
  uint8_t k[9 + ST_ADDR_LEN];
  int64_t p = st_chain__val_power(v);
  if (p <= 0)
    return 0;
  return st_chain__ov_write(c->ov, SP, k, pidx_key(k, v, p), "", 0);
}

/* ---- delegations ---- */

static int del_put(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                   const uint8_t op[ST_ADDR_LEN], st_u128 shares) {
  uint8_t k[1 + 2 * ST_ADDR_LEN], ki[1 + 2 * ST_ADDR_LEN], v[16];
  size_t n = st_chain__k2(k, ST_K_DEL, del, op);
  st_chain__k2(ki, ST_K_DEL_BY_VAL, op, del);
  if (shares == 0) {
    int rc = st_chain__ov_del(c->ov, SP, k, n);
    return rc ? rc : st_chain__ov_del(c->ov, SP, ki, n);
  }
  st_chain__put128(v, shares);
  int rc = st_chain__ov_write(c->ov, SP, k, n, v, sizeof(v));
  return rc ? rc : st_chain__ov_write(c->ov, SP, ki, n, "", 0);
}

/* Issues shares of v for amount tokens already moved into v's pool. */
static int add_shares(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN], st_val_t *v,
                      st_u128 amount, st_u128 *issued) {
  st_u128 shares, have;
  int rc;
  if (v->shares == 0) {
    shares = amount;
  } else if (v->tokens == 0) {
    return st_chain__refuse(c, ST_EPERM,
                            "the validator has no tokens left; its shares are worthless");
  } else if ((rc = st_u128_muldiv(amount, v->shares, v->tokens, &shares)) != 0) {
    return st_chain__refuse(c, ST_ERANGE, "the delegation would overflow 128 bits");
  }
  if (shares == 0)
    return st_chain__refuse(c, ST_EINVAL, "the amount is too small to buy a share");
  if (v->tokens > U128_MAX - amount || v->shares > U128_MAX - shares)
    return st_chain__refuse(c, ST_ERANGE, "the validator's tokens would overflow 128 bits");
  if ((rc = st_chain__del_get(c, del, v->operator_, &have)) != 0 && rc != ST_ENOENT)
    return rc;
  if ((rc = pidx_del(c, v)) != 0)
    return rc;
  v->tokens += amount;
  v->shares += shares;
  if ((rc = pidx_add(c, v)) != 0 || (rc = st_chain__val_put(c, v)) != 0 ||
      (rc = del_put(c, del, v->operator_, have + shares)) != 0)
    return rc;
  *issued = shares;
  return 0;
}

/* Removes shares of (del, v) and returns the tokens they were worth,
 * still in v's pool. Jails v when its operator's own stake falls below
 * the minimum. */
static int remove_shares(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN], st_val_t *v,
                         st_u128 shares, st_u128 *tokens) {
  st_u128 have;
  int rc = st_chain__del_get(c, del, v->operator_, &have);
  if (rc != 0 && rc != ST_ENOENT)
    return rc;
  if (shares > have || shares > v->shares)
    return ST_ECORRUPT;
  st_u128 t = st_chain__val_tokens_of(v, shares);
  if (shares == v->shares)
    t = v->tokens; /* the last shares take the rounding dust with them */
  if ((rc = pidx_del(c, v)) != 0)
    return rc;
  v->tokens -= t;
  v->shares -= shares;
  if ((rc = pidx_add(c, v)) != 0 || (rc = del_put(c, del, v->operator_, have - shares)) != 0)
    return rc;
  if (memcmp(del, v->operator_, ST_ADDR_LEN) == 0 && !v->jailed &&
      st_chain__val_tokens_of(v, have - shares) < v->min_self_delegation) {
    ST_INFO("chain", "validator %s jailed: self-delegation below its minimum", v->moniker);
    if ((rc = st_chain__jail(c, v)) != 0)
      return rc;
  }
  if ((rc = st_chain__val_put(c, v)) != 0)
    return rc;
  *tokens = t;
  return 0;
}

int st_chain__delegate(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN], st_val_t *v,
                       st_u128 amount) {
  st_u128 issued;
  int rc = st_chain__distr_settle(c, del, v);
  if (rc == 0)
    rc = st_chain__xfer(c, del, pool_of(v), amount);
  if (rc == 0)
    rc = add_shares(c, del, v, amount, &issued);
  if (rc == 0)
    rc = st_chain__distr_restart(c, del, v);
  return rc;
}

int st_chain__jail(st_chain__ctx_t *c, st_val_t *v) {
  int rc = pidx_del(c, v);
  if (rc != 0)
    return rc;
  v->jailed = true;
  return st_chain__val_put(c, v);
}

/* ---- unbonding and redelegation entries ---- */

typedef struct count_ctx {
  size_t n;
  const uint8_t *match;  /* for redelegations: the dst to count, or NULL */
  size_t match_off;
  bool hop;              /* set when some entry's dst equals match */
} count_ctx_t;

static int count_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  count_ctx_t *cc = ud;
  (void)v;
  (void)vl;
  if (cc->match) {
    if (kl >= cc->match_off + ST_ADDR_LEN &&
        memcmp((const uint8_t *)k + cc->match_off, cc->match, ST_ADDR_LEN) == 0)
      cc->hop = true;
    return 0;
  }
  cc->n++;
  return 0;
}

static int new_entry_key(st_chain__ctx_t *c, uint8_t *tail) {
  uint64_t seq;
  int rc = st_chain__counter_next(c, "seq", &seq);
  if (rc != 0)
    return rc;
  st_chain__be64(tail, (uint64_t)c->height);
  st_chain__be64(tail + 8, seq);
  return 0;
}

/* ---- messages ---- */

static int parse_dec(const char *s, st_u128 *out) {
  return st_dec_parse(s, out) == 0 ? 0 : ST_EINVAL;
}

static int get_val(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], st_val_t *v) {
  int rc = st_chain__val_get(c, op, v);
  if (rc == ST_ENOENT) {
    char a[ST_ADDR_STR_MAX];
    addr_str(op, a);
    return st_chain__refuse(c, ST_ENOENT, "unknown validator %s", a);
  }
  return rc;
}

static int create_validator(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                            const Stratos__Tx__MsgCreateValidator *m) {
  st_val_t v, other;
  uint8_t k[1 + ST_ADDR_LEN];
  int rc = st_chain__val_get(c, sender, &other);
  if (rc == 0)
    return st_chain__refuse(c, ST_EEXIST, "this account already operates validator %s",
                            other.moniker);
  if (rc != ST_ENOENT)
    return rc;
  memset(&v, 0, sizeof(v));
  memcpy(v.operator_, sender, ST_ADDR_LEN);
  memcpy(v.pubkey, m->pubkey.data, ST_PUBKEY_LEN);
  st_addr_from_pubkey(v.pubkey, v.cons_addr);
  rc = st_chain__val_by_cons(c, v.cons_addr, &other);
  if (rc == 0)
    return st_chain__refuse(c, ST_EEXIST, "consensus key already used by validator %s",
                            other.moniker);
  if (rc != ST_ENOENT)
    return rc;
  st_u128 self;
  if (parse_dec(m->commission_rate, &v.rate) || parse_dec(m->max_rate, &v.max_rate) ||
      parse_dec(m->max_change_rate, &v.max_change_rate) ||
      st_u128_parse(m->min_self_delegation, &v.min_self_delegation) != 0 ||
      st_u128_parse(m->self_delegation, &self) != 0)
    return ST_EINVAL; /* the stateless checks let none of these through */
  if (v.rate > v.max_rate)
    return st_chain__refuse(c, ST_EINVAL, "commission_rate exceeds max_rate");
  if (v.max_change_rate > v.max_rate)
    return st_chain__refuse(c, ST_EINVAL, "max_change_rate exceeds max_rate");
  if (self < v.min_self_delegation)
    return st_chain__refuse(c, ST_EINVAL, "self_delegation is below min_self_delegation");
  snprintf(v.moniker, sizeof(v.moniker), "%s", m->moniker);
  v.status = ST_VAL_UNBONDED;
  v.rate_updated_ms = c->time_ms;
  v.created_height = c->height;
  if ((rc = st_chain__val_put(c, &v)) != 0 ||
      (rc = st_chain__ov_write(c->ov, SP, k, st_chain__k1(k, ST_K_VAL_CONS, v.cons_addr),
                               sender, ST_ADDR_LEN)) != 0 ||
      (rc = st_chain__distr_val_init(c, sender)) != 0 ||
      (rc = st_chain__slashing_init(c, v.cons_addr)) != 0)
    return rc;
  return st_chain__delegate(c, sender, &v, self);
}

static int edit_validator(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                          const Stratos__Tx__MsgEditValidator *m) {
  st_val_t v;
  int rc = get_val(c, sender, &v);
  if (rc != 0)
    return rc;
  if (*m->commission_rate) {
    st_u128 r;
    char a[ST_DEC_STR_MAX];
    if (parse_dec(m->commission_rate, &r) != 0)
      return ST_EINVAL;
    if (c->time_ms - v.rate_updated_ms < DAY_MS)
      return st_chain__refuse(c, ST_EAGAIN,
                              "the commission changes at most once per 24 hours; next "
                              "change allowed at %lld ms",
                              (long long)(v.rate_updated_ms + DAY_MS));
    if (r > v.max_rate) {
      st_dec_format(v.max_rate, a);
      return st_chain__refuse(c, ST_EINVAL, "commission_rate exceeds max_rate %s", a);
    }
    st_u128 d = r > v.rate ? r - v.rate : v.rate - r;
    if (d > v.max_change_rate) {
      st_dec_format(v.max_change_rate, a);
      return st_chain__refuse(c, ST_EINVAL, "the change exceeds max_change_rate %s", a);
    }
    v.rate = r;
    v.rate_updated_ms = c->time_ms;
  }
  if (*m->min_self_delegation) {
    st_u128 x, shares;
    if (st_u128_parse(m->min_self_delegation, &x) != 0)
      return ST_EINVAL;
    if (x <= v.min_self_delegation)
      return st_chain__refuse(c, ST_EINVAL, "min_self_delegation may only increase");
    if ((rc = st_chain__del_get(c, sender, sender, &shares)) != 0 && rc != ST_ENOENT)
      return rc;
    if (x > st_chain__val_tokens_of(&v, shares))
      return st_chain__refuse(c, ST_EINVAL,
                              "min_self_delegation would exceed the self-delegation");
    v.min_self_delegation = x;
  }
  if (*m->moniker)
    snprintf(v.moniker, sizeof(v.moniker), "%s", m->moniker);
  return st_chain__val_put(c, &v);
}

/* Shares of (del, v) to remove for amount tokens; refuses more than the
 * delegation is worth. */
static int shares_for(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN], const st_val_t *v,
                      st_u128 amount, st_u128 *shares) {
  st_u128 have;
  char a[ST_U128_STR_MAX], b[ST_U128_STR_MAX], d[ST_ADDR_STR_MAX];
  int rc = st_chain__del_get(c, del, v->operator_, &have);
  if (rc == ST_ENOENT) {
    addr_str(v->operator_, d);
    return st_chain__refuse(c, ST_ENOENT, "no delegation to validator %s", d);
  }
  if (rc != 0)
    return rc;
  st_u128 worth = st_chain__val_tokens_of(v, have);
  if (amount > worth) {
    st_u128_format(amount, a);
    st_u128_format(worth, b);
    return st_chain__refuse(c, ST_EPERM, "cannot unbond %s: the delegation is worth %s", a, b);
  }
  if (amount == worth) {
    *shares = have;
    return 0;
  }
  if (st_u128_muldiv_up(amount, v->shares, v->tokens, shares) != 0)
    return ST_ERANGE;
  if (*shares > have)
    *shares = have;
  return 0;
}

static int undelegate(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                      const Stratos__Tx__MsgUndelegate *m) {
  st_val_t v;
  st_u128 amount, shares, tokens;
  int rc = get_val(c, m->validator.data, &v);
  if (rc != 0)
    return rc;
  if (st_u128_parse(m->amount, &amount) != 0)
    return ST_EINVAL;
  if ((rc = shares_for(c, del, &v, amount, &shares)) != 0)
    return rc;
  uint8_t pre[1 + 2 * ST_ADDR_LEN];
  count_ctx_t cc = {0};
  if ((rc = st_chain__ov_scan(c->ov, SP, pre, st_chain__k2(pre, ST_K_UBD, del, v.operator_),
                              count_cb, &cc)) != 0)
    return rc;
  if (cc.n >= c->p->max_entries)
    return st_chain__refuse(c, ST_EAGAIN,
                            "%zu unbonding entries for this validator already; wait for "
                            "one to mature", cc.n);
  int status = v.status;
  if ((rc = st_chain__distr_settle(c, del, &v)) != 0 ||
      (rc = remove_shares(c, del, &v, shares, &tokens)) != 0 ||
      (rc = st_chain__distr_restart(c, del, &v)) != 0)
    return rc;
  if (status == ST_VAL_UNBONDED) /* nothing at stake any more: paid at once */
    return st_chain__xfer(c, st_chain__macc(ST_MACC_NOT_BONDED), del, tokens);
  if (status == ST_VAL_BONDED &&
      (rc = st_chain__xfer(c, st_chain__macc(ST_MACC_BONDED),
                           st_chain__macc(ST_MACC_NOT_BONDED), tokens)) != 0)
    return rc;
  /* The entry: by delegator, by validator, and in the maturity queue. */
  st_ubd_t u = {c->time_ms + c->p->unbonding_time_ms, tokens, tokens};
  uint8_t tail[16], k[1 + 8 + 2 * ST_ADDR_LEN + 16], val[ST_UBD_LEN];
  if ((rc = new_entry_key(c, tail)) != 0)
    return rc;
  st_chain__ubd_encode(&u, val);
  size_t n = st_chain__k2(k, ST_K_UBD, del, v.operator_);
  memcpy(k + n, tail, 16);
  if ((rc = st_chain__ov_write(c->ov, SP, k, n + 16, val, sizeof(val))) != 0)
    return rc;
  st_chain__k2(k, ST_K_UBD_BY_VAL, v.operator_, del);
  if ((rc = st_chain__ov_write(c->ov, SP, k, n + 16, "", 0)) != 0)
    return rc;
  k[0] = ST_K_UBD_QUEUE;
  st_chain__be64(k + 1, (uint64_t)u.completion_ms);
  memcpy(k + 9, del, ST_ADDR_LEN);
  memcpy(k + 9 + ST_ADDR_LEN, v.operator_, ST_ADDR_LEN);
  memcpy(k + 9 + 2 * ST_ADDR_LEN, tail, 16);
  return st_chain__ov_write(c->ov, SP, k, 9 + 2 * ST_ADDR_LEN + 16, "", 0);
}

static int redelegate(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                      const Stratos__Tx__MsgRedelegate *m) {
  st_val_t src, dst;
  st_u128 amount, shares, tokens, issued;
  char a[ST_ADDR_STR_MAX];
  int rc;
  if ((rc = get_val(c, m->src.data, &src)) != 0 || (rc = get_val(c, m->dst.data, &dst)) != 0)
    return rc;
  if (st_u128_parse(m->amount, &amount) != 0)
    return ST_EINVAL;
  if ((rc = shares_for(c, del, &src, amount, &shares)) != 0)
    return rc;
  /* No hopping: tokens that arrived at src by a redelegation still
   * maturing cannot move on until it matures. */
  uint8_t pre[1 + 3 * ST_ADDR_LEN];
  count_ctx_t hop = {0, src.operator_, 1 + 2 * ST_ADDR_LEN, false};
  pre[0] = ST_K_RED;
  memcpy(pre + 1, del, ST_ADDR_LEN);
  if ((rc = st_chain__ov_scan(c->ov, SP, pre, 1 + ST_ADDR_LEN, count_cb, &hop)) != 0)
    return rc;
  if (hop.hop) {
    addr_str(src.operator_, a);
    return st_chain__refuse(c, ST_EAGAIN,
                            "cannot redelegate from %s: a redelegation into it is still "
                            "maturing", a);
  }
  count_ctx_t cc = {0};
  st_chain__k2(pre, ST_K_RED, del, src.operator_);
  memcpy(pre + 1 + 2 * ST_ADDR_LEN, dst.operator_, ST_ADDR_LEN);
  if ((rc = st_chain__ov_scan(c->ov, SP, pre, sizeof(pre), count_cb, &cc)) != 0)
    return rc;
  if (cc.n >= c->p->max_entries)
    return st_chain__refuse(c, ST_EAGAIN,
                            "%zu redelegations between these validators already; wait for "
                            "one to mature", cc.n);
  int src_status = src.status;
  if ((rc = st_chain__distr_settle(c, del, &src)) != 0 ||
      (rc = remove_shares(c, del, &src, shares, &tokens)) != 0 ||
      (rc = st_chain__distr_restart(c, del, &src)) != 0)
    return rc;
  if (tokens == 0)
    return st_chain__refuse(c, ST_EINVAL, "the amount is worth no tokens");
  /* Re-read dst: remove_shares may have jailed src, never dst, but the
   * two may share a pool record. */
  if ((rc = get_val(c, m->dst.data, &dst)) != 0 ||
      (rc = st_chain__distr_settle(c, del, &dst)) != 0 ||
      (rc = st_chain__xfer(c, st_chain__macc(src_status == ST_VAL_BONDED ? ST_MACC_BONDED
                                                                        : ST_MACC_NOT_BONDED),
                           pool_of(&dst), tokens)) != 0 ||
      (rc = add_shares(c, del, &dst, tokens, &issued)) != 0 ||
      (rc = st_chain__distr_restart(c, del, &dst)) != 0)
    return rc;
  if (src_status == ST_VAL_UNBONDED)
    return 0; /* nothing at stake at src: nothing to track */
  st_red_t r = {c->time_ms + c->p->unbonding_time_ms, tokens, issued};
  uint8_t tail[16], k[1 + 8 + 3 * ST_ADDR_LEN + 16], val[ST_RED_LEN];
  if ((rc = new_entry_key(c, tail)) != 0)
    return rc;
  st_chain__red_encode(&r, val);
  k[0] = ST_K_RED;
  memcpy(k + 1, del, ST_ADDR_LEN);
  memcpy(k + 21, src.operator_, ST_ADDR_LEN);
  memcpy(k + 41, dst.operator_, ST_ADDR_LEN);
  memcpy(k + 61, tail, 16);
  if ((rc = st_chain__ov_write(c->ov, SP, k, 77, val, sizeof(val))) != 0)
    return rc;
  k[0] = ST_K_RED_BY_SRC;
  memcpy(k + 1, src.operator_, ST_ADDR_LEN);
  memcpy(k + 21, del, ST_ADDR_LEN);
  if ((rc = st_chain__ov_write(c->ov, SP, k, 77, "", 0)) != 0)
    return rc;
  k[0] = ST_K_RED_QUEUE;
  st_chain__be64(k + 1, (uint64_t)r.completion_ms);
  memcpy(k + 9, del, ST_ADDR_LEN);
  memcpy(k + 29, src.operator_, ST_ADDR_LEN);
  memcpy(k + 49, dst.operator_, ST_ADDR_LEN);
  memcpy(k + 69, tail, 16);
  return st_chain__ov_write(c->ov, SP, k, 85, "", 0);
}

static int unjail(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN]) {
  st_val_t v;
  st_sign_info_t si;
  st_u128 shares;
  int rc = get_val(c, sender, &v);
  if (rc != 0)
    return rc;
  if (!v.jailed)
    return st_chain__refuse(c, ST_EINVAL, "validator %s is not jailed", v.moniker);
  if ((rc = st_chain__sign_info_get(c, v.cons_addr, &si)) != 0 && rc != ST_ENOENT)
    return rc;
  if (si.tombstoned)
    return st_chain__refuse(c, ST_EPERM,
                            "validator %s is tombstoned for double signing and can never "
                            "be unjailed", v.moniker);
  if (c->time_ms < si.jailed_until_ms)
    return st_chain__refuse(c, ST_EAGAIN, "validator %s is jailed until %lld ms (now %lld)",
                            v.moniker, (long long)si.jailed_until_ms, (long long)c->time_ms);
  if ((rc = st_chain__del_get(c, sender, sender, &shares)) != 0 && rc != ST_ENOENT)
    return rc;
  if (st_chain__val_tokens_of(&v, shares) < v.min_self_delegation)
    return st_chain__refuse(c, ST_EPERM,
                            "the self-delegation is below min_self_delegation; delegate "
                            "more first");
  v.jailed = false;
  if ((rc = pidx_add(c, &v)) != 0)
    return rc;
  return st_chain__val_put(c, &v);
}

typedef struct ops_ctx {
  uint8_t (*ops)[ST_ADDR_LEN];
  size_t n, cap;
  size_t off;
} ops_ctx_t;

static int push_op(ops_ctx_t *o, const uint8_t op[ST_ADDR_LEN]) {
  if (o->n == o->cap) {
    size_t nc = o->cap ? o->cap * 2 : 8;
    void *p = realloc(o->ops, nc * ST_ADDR_LEN);
    if (!p)
      return ST_ENOMEM;
    o->ops = p;
    o->cap = nc;
  }
  memcpy(o->ops[o->n++], op, ST_ADDR_LEN);
  return 0;
}

static int collect_op(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  ops_ctx_t *o = ud;
  (void)v;
  (void)vl;
  if (kl < o->off + ST_ADDR_LEN)
    return ST_ECORRUPT;
  return push_op(o, (const uint8_t *)k + o->off);
}

static int withdraw(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                    const Stratos__Tx__MsgWithdrawRewards *m) {
  st_val_t v;
  int rc = 0;
  bool any = false;
  ops_ctx_t o = {NULL, 0, 0, 1 + ST_ADDR_LEN};
  if (m->validator.len) {
    if ((rc = push_op(&o, m->validator.data)) != 0)
      return rc;
  } else {
    uint8_t pre[1 + ST_ADDR_LEN];
    if ((rc = st_chain__ov_scan(c->ov, SP, pre, st_chain__k1(pre, ST_K_DEL, del), collect_op,
                                &o)) != 0) {
      free(o.ops);
      return rc;
    }
  }
  for (size_t i = 0; i < o.n && rc == 0; i++) {
    st_u128 shares;
    if ((rc = get_val(c, o.ops[i], &v)) != 0)
      break;
    rc = st_chain__del_get(c, del, v.operator_, &shares);
    if (rc == 0) {
      any = true;
      if ((rc = st_chain__distr_settle(c, del, &v)) == 0)
        rc = st_chain__distr_restart(c, del, &v);
    } else if (rc == ST_ENOENT) {
      rc = 0;
    }
  }
  free(o.ops);
  if (rc != 0)
    return rc;
  /* An operator also takes its commission (unless it named another
   * validator). */
  rc = ST_ENOENT;
  if (!m->validator.len || memcmp(m->validator.data, del, ST_ADDR_LEN) == 0)
    rc = st_chain__val_get(c, del, &v);
  if (rc == 0) {
    st_u128 paid;
    any = true;
    rc = st_chain__distr_withdraw_commission(c, &v, &paid);
  } else if (rc == ST_ENOENT) {
    rc = 0;
  }
  if (rc == 0 && !any)
    return st_chain__refuse(c, ST_ENOENT, m->validator.len ? "no delegation to that validator"
                                                           : "no delegations to withdraw from");
  return rc;
}

int st_chain__staking_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                           const Stratos__Tx__TxBody *b) {
  switch (b->msg_case) {
  case STRATOS__TX__TX_BODY__MSG_CREATE_VALIDATOR:
    return create_validator(c, sender, b->create_validator);
  case STRATOS__TX__TX_BODY__MSG_EDIT_VALIDATOR:
    return edit_validator(c, sender, b->edit_validator);
  case STRATOS__TX__TX_BODY__MSG_DELEGATE: {
    st_val_t v;
    st_u128 amount;
    int rc = get_val(c, b->delegate->validator.data, &v);
    if (rc != 0)
      return rc;
    if (st_u128_parse(b->delegate->amount, &amount) != 0)
      return ST_EINVAL;
    return st_chain__delegate(c, sender, &v, amount);
  }
  case STRATOS__TX__TX_BODY__MSG_UNDELEGATE:
    return undelegate(c, sender, b->undelegate);
  case STRATOS__TX__TX_BODY__MSG_REDELEGATE:
    return redelegate(c, sender, b->redelegate);
  case STRATOS__TX__TX_BODY__MSG_UNJAIL:
    return unjail(c, sender);
  case STRATOS__TX__TX_BODY__MSG_WITHDRAW_REWARDS:
    return withdraw(c, sender, b->withdraw_rewards);
  default:
    return st_chain__refuse(c, ST_EINVAL, "not a staking message");
  }
}

/* ---- slashing a validator ---- */

/* Slashes the unbonding entries of v that started at or after h. */
static int slash_ubds(st_chain__ctx_t *c, const st_val_t *v, int64_t h, st_u128 fraction,
                      st_u128 *total) {
  st_chain__recs_t o;
  uint8_t pre[1 + ST_ADDR_LEN];
  int rc = st_chain__ov_collect(c->ov, SP, pre, st_chain__k1(pre, ST_K_UBD_BY_VAL, v->operator_),
                                ST_CHAIN__NOT_DUE, 0, &o);
  for (size_t i = 0; i < o.n && rc == 0; i++) {
    const uint8_t *k = o.v[i].key;
    if (o.v[i].klen != 1 + 2 * ST_ADDR_LEN + 16) {
      rc = ST_ECORRUPT;
      break;
    }
    if ((int64_t)st_chain__rd64(k + 41) < h)
      continue;
    uint8_t ek[1 + 2 * ST_ADDR_LEN + 16];
    const uint8_t *p;
    size_t n;
    st_chain__k2(ek, ST_K_UBD, k + 21, k + 1);
    memcpy(ek + 41, k + 41, 16);
    if ((rc = st_chain__ov_read(c->ov, SP, ek, sizeof(ek), &p, &n)) != 0 || n != ST_UBD_LEN) {
      rc = rc ? rc : ST_ECORRUPT;
      break;
    }
    st_ubd_t u;
    st_u128 cut;
    st_chain__ubd_decode(p, &u);
    if (u.completion_ms <= c->time_ms)
      continue; /* matured: no longer at stake */
    if ((rc = st_u128_muldiv(u.initial, fraction, ST_DEC_ONE, &cut)) != 0)
      break;
    if (cut > u.balance)
      cut = u.balance;
    *total += cut;
    u.balance -= cut;
    uint8_t val[ST_UBD_LEN];
    st_chain__ubd_encode(&u, val);
    if ((rc = st_chain__ov_write(c->ov, SP, ek, sizeof(ek), val, sizeof(val))) == 0)
      rc = st_chain__burn(c, st_chain__macc(ST_MACC_NOT_BONDED), cut);
  }
  st_chain__recs_free(&o);
  return rc;
}

/* Slashes the redelegations away from v that started at or after h: the
 * shares they bought at the destination are unbonded and burnt. */
static int slash_reds(st_chain__ctx_t *c, const st_val_t *v, int64_t h, st_u128 fraction,
                      st_u128 *total) {
  st_chain__recs_t o;
  uint8_t pre[1 + ST_ADDR_LEN];
  int rc = st_chain__ov_collect(c->ov, SP, pre, st_chain__k1(pre, ST_K_RED_BY_SRC, v->operator_),
                                ST_CHAIN__NOT_DUE, 0, &o);
  for (size_t i = 0; i < o.n && rc == 0; i++) {
    const uint8_t *k = o.v[i].key; /* kind src del dst height seq */
    if (o.v[i].klen != 77) {
      rc = ST_ECORRUPT;
      break;
    }
    if ((int64_t)st_chain__rd64(k + 61) < h)
      continue;
    uint8_t ek[77];
    const uint8_t *p;
    size_t n;
    ek[0] = ST_K_RED;
    memcpy(ek + 1, k + 21, ST_ADDR_LEN);
    memcpy(ek + 21, k + 1, ST_ADDR_LEN);
    memcpy(ek + 41, k + 41, ST_ADDR_LEN + 16);
    if ((rc = st_chain__ov_read(c->ov, SP, ek, sizeof(ek), &p, &n)) != 0 || n != ST_RED_LEN) {
      rc = rc ? rc : ST_ECORRUPT;
      break;
    }
    st_red_t r;
    st_u128 cut, shares, have, tokens;
    st_chain__red_decode(p, &r);
    if (r.completion_ms <= c->time_ms)
      continue;
    if ((rc = st_u128_muldiv(r.initial, fraction, ST_DEC_ONE, &cut)) != 0 ||
        (rc = st_u128_muldiv(r.shares_dst, fraction, ST_DEC_ONE, &shares)) != 0)
      break;
    *total += cut;
    st_val_t dst;
    if ((rc = st_chain__val_get(c, k + 41, &dst)) != 0)
      break;
    if ((rc = st_chain__del_get(c, k + 21, dst.operator_, &have)) != 0 && rc != ST_ENOENT)
      break;
    rc = 0;
    if (shares > have)
      shares = have;
    if (shares == 0)
      continue;
    const uint8_t *pool = pool_of(&dst);
    if ((rc = st_chain__distr_settle(c, k + 21, &dst)) != 0 ||
        (rc = remove_shares(c, k + 21, &dst, shares, &tokens)) != 0 ||
        (rc = st_chain__distr_restart(c, k + 21, &dst)) != 0)
      break;
    rc = st_chain__burn(c, pool, tokens);
  }
  st_chain__recs_free(&o);
  return rc;
}

int st_chain__slash(st_chain__ctx_t *c, st_val_t *v, int64_t infraction_height,
                    int64_t power, st_u128 fraction) {
  st_u128 amount = (st_u128)(power > 0 ? power : 0) * fraction, from_entries = 0;
  int rc;
  char a[ST_U128_STR_MAX];
  if (infraction_height < c->height) {
    if ((rc = slash_ubds(c, v, infraction_height, fraction, &from_entries)) != 0 ||
        (rc = slash_reds(c, v, infraction_height, fraction, &from_entries)) != 0)
      return rc;
    /* Slashing a redelegation may have changed v's record (when v is also
     * the destination of the delegator's other entries it is not, but
     * re-reading costs nothing and keeps this obviously right). */
    if ((rc = st_chain__val_get(c, v->operator_, v)) != 0)
      return rc;
  }
  st_u128 take = amount > from_entries ? amount - from_entries : 0;
  if (take > v->tokens)
    take = v->tokens;
  if (take > 0) {
    st_u128 eff;
    if ((rc = st_u128_muldiv(take, ST_DEC_ONE, v->tokens, &eff)) != 0 ||
        (rc = st_chain__distr_on_slash(c, v, eff)) != 0 || (rc = pidx_del(c, v)) != 0)
      return rc;
    const uint8_t *pool = pool_of(v);
    v->tokens -= take;
    if ((rc = pidx_add(c, v)) != 0 || (rc = st_chain__val_put(c, v)) != 0 ||
        (rc = st_chain__burn(c, pool, take)) != 0)
      return rc;
  }
  st_u128_format(take + from_entries, a);
  ST_INFO("chain", "validator %s slashed %s wei for an infraction at height %lld",
          v->moniker, a, (long long)infraction_height);
  return 0;
}

/* ---- end of block ---- */

static int mature_ubds(st_chain__ctx_t *c) {
  st_chain__recs_t o;
  uint8_t pre = ST_K_UBD_QUEUE;
  int rc = st_chain__ov_collect(c->ov, SP, &pre, 1, c->time_ms, 0, &o);
  for (size_t i = 0; i < o.n && rc == 0; i++) {
    const uint8_t *k = o.v[i].key; /* kind time del op height seq */
    uint8_t ek[1 + 2 * ST_ADDR_LEN + 16];
    const uint8_t *p;
    size_t n;
    st_ubd_t u;
    if (o.v[i].klen != 9 + 2 * ST_ADDR_LEN + 16) {
      rc = ST_ECORRUPT;
      break;
    }
    st_chain__k2(ek, ST_K_UBD, k + 9, k + 29);
    memcpy(ek + 41, k + 49, 16);
    if ((rc = st_chain__ov_read(c->ov, SP, ek, sizeof(ek), &p, &n)) != 0 || n != ST_UBD_LEN) {
      rc = rc ? rc : ST_ECORRUPT;
      break;
    }
    st_chain__ubd_decode(p, &u);
    if ((rc = st_chain__xfer(c, st_chain__macc(ST_MACC_NOT_BONDED), k + 9, u.balance)) != 0 ||
        (rc = st_chain__ov_del(c->ov, SP, ek, sizeof(ek))) != 0)
      break;
    st_chain__k2(ek, ST_K_UBD_BY_VAL, k + 29, k + 9);
    if ((rc = st_chain__ov_del(c->ov, SP, ek, sizeof(ek))) != 0)
      break;
    rc = st_chain__ov_del(c->ov, SP, k, o.v[i].klen);
  }
  st_chain__recs_free(&o);
  return rc;
}

static int mature_reds(st_chain__ctx_t *c) {
  st_chain__recs_t o;
  uint8_t pre = ST_K_RED_QUEUE;
  int rc = st_chain__ov_collect(c->ov, SP, &pre, 1, c->time_ms, 0, &o);
  for (size_t i = 0; i < o.n && rc == 0; i++) {
    const uint8_t *k = o.v[i].key; /* kind time del src dst height seq */
    uint8_t ek[77];
    if (o.v[i].klen != 85) {
      rc = ST_ECORRUPT;
      break;
    }
    ek[0] = ST_K_RED;
    memcpy(ek + 1, k + 9, 76);
    if ((rc = st_chain__ov_del(c->ov, SP, ek, sizeof(ek))) != 0)
      break;
    ek[0] = ST_K_RED_BY_SRC;
    memcpy(ek + 1, k + 29, ST_ADDR_LEN);
    memcpy(ek + 21, k + 9, ST_ADDR_LEN);
    if ((rc = st_chain__ov_del(c->ov, SP, ek, sizeof(ek))) != 0)
      break;
    rc = st_chain__ov_del(c->ov, SP, k, o.v[i].klen);
  }
  st_chain__recs_free(&o);
  return rc;
}

static int mature_vals(st_chain__ctx_t *c) {
  st_chain__recs_t o;
  uint8_t pre = ST_K_VAL_QUEUE;
  int rc = st_chain__ov_collect(c->ov, SP, &pre, 1, c->time_ms, 0, &o);
  for (size_t i = 0; i < o.n && rc == 0; i++) {
    st_val_t v;
    if (o.v[i].klen != 9 + ST_ADDR_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    if ((rc = st_chain__val_get(c, o.v[i].key + 9, &v)) != 0)
      break;
    if (v.status == ST_VAL_UNBONDING) {
      v.status = ST_VAL_UNBONDED;
      if ((rc = st_chain__val_put(c, &v)) != 0)
        break;
    }
    rc = st_chain__ov_del(c->ov, SP, o.v[i].key, o.v[i].klen);
  }
  st_chain__recs_free(&o);
  return rc;
}

static size_t vq_key(uint8_t *k, int64_t t, const uint8_t op[ST_ADDR_LEN]) {
  k[0] = ST_K_VAL_QUEUE;
  st_chain__be64(k + 1, (uint64_t)t);
  memcpy(k + 9, op, ST_ADDR_LEN);
  return 9 + ST_ADDR_LEN;
}

int st_chain__staking_end_block(st_chain__ctx_t *c, st_cons_valset_t *next, bool *changed) {
  int rc;
  *changed = false;
  if ((rc = mature_ubds(c)) != 0 || (rc = mature_reds(c)) != 0 || (rc = mature_vals(c)) != 0)
    return rc;
  /* The new set: the first max_validators candidates by power. */
  st_chain__recs_t top = {0}, last = {0};
  uint8_t pre = ST_K_VAL_POWER, lpre = ST_K_VAL_LAST;
  uint8_t (*nops)[ST_ADDR_LEN] = NULL;
  int64_t *npow = NULL;
  size_t nn = 0;
  if ((rc = st_chain__ov_collect(c->ov, SP, &pre, 1, ST_CHAIN__NOT_DUE, c->p->max_validators,
                                 &top)) != 0 ||
      (rc = st_chain__ov_collect(c->ov, SP, &lpre, 1, ST_CHAIN__NOT_DUE, 0, &last)) != 0)
    goto out;
  nn = top.n;
  if (nn == 0) {
    /* Never an empty set: a chain without validators could not go on
     * to fix it. The last set stays. */
    if (last.n)
      ST_ERROR("chain", "height %lld: no validator is eligible; the set stays as it is",
               (long long)c->height);
    goto out;
  }
  nops = calloc(nn, ST_ADDR_LEN);
  npow = calloc(nn, sizeof(*npow));
  if (!nops || !npow) {
    rc = ST_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < nn; i++) {
    if (top.v[i].klen != 9 + ST_ADDR_LEN) {
      rc = ST_ECORRUPT;
      goto out;
    }
    memcpy(nops[i], top.v[i].key + 9, ST_ADDR_LEN);
    npow[i] = (int64_t)~st_chain__rd64(top.v[i].key + 1);
  }
  /* Leavers: bonded before, not now. */
  for (size_t i = 0; i < last.n; i++) {
    const uint8_t *op = last.v[i].key + 1;
    bool stays = false;
    for (size_t j = 0; j < nn && !stays; j++)
      stays = memcmp(nops[j], op, ST_ADDR_LEN) == 0;
    if (stays)
      continue;
    st_val_t v;
    uint8_t qk[9 + ST_ADDR_LEN];
    *changed = true;
    if ((rc = st_chain__val_get(c, op, &v)) != 0 ||
        (rc = st_chain__xfer(c, st_chain__macc(ST_MACC_BONDED),
                             st_chain__macc(ST_MACC_NOT_BONDED), v.tokens)) != 0)
      goto out;
    v.status = ST_VAL_UNBONDING;
    v.unbonding_height = c->height;
    v.unbonding_time_ms = c->time_ms + c->p->unbonding_time_ms;
    if ((rc = st_chain__val_put(c, &v)) != 0 ||
        (rc = st_chain__ov_write(c->ov, SP, qk, vq_key(qk, v.unbonding_time_ms, op), "",
                                 0)) != 0 ||
        (rc = st_chain__ov_del(c->ov, SP, last.v[i].key, last.v[i].klen)) != 0)
      goto out;
    ST_INFO("chain", "height %lld: validator %s leaves the bonded set", (long long)c->height,
            v.moniker);
  }
  /* Joiners and power changes. */
  for (size_t j = 0; j < nn; j++) {
    uint8_t lk[1 + ST_ADDR_LEN], pv[8];
    const uint8_t *p;
    size_t n;
    st_chain__k1(lk, ST_K_VAL_LAST, nops[j]);
    rc = st_chain__ov_read(c->ov, SP, lk, sizeof(lk), &p, &n);
    if (rc != 0 && rc != ST_ENOENT)
      goto out;
    if (rc == 0 && n == 8 && (int64_t)st_chain__rd64(p) == npow[j])
      continue;
    *changed = true;
    if (rc == ST_ENOENT) {
      st_val_t v;
      uint8_t qk[9 + ST_ADDR_LEN];
      if ((rc = st_chain__val_get(c, nops[j], &v)) != 0)
        goto out;
      if (v.status == ST_VAL_UNBONDING &&
          (rc = st_chain__ov_del(c->ov, SP, qk, vq_key(qk, v.unbonding_time_ms, nops[j]))) != 0)
        goto out;
      if ((rc = st_chain__xfer(c, st_chain__macc(ST_MACC_NOT_BONDED),
                               st_chain__macc(ST_MACC_BONDED), v.tokens)) != 0)
        goto out;
      v.status = ST_VAL_BONDED;
      v.unbonding_height = 0;
      v.unbonding_time_ms = 0;
      if ((rc = st_chain__val_put(c, &v)) != 0)
        goto out;
      ST_INFO("chain", "height %lld: validator %s joins the bonded set with power %lld",
              (long long)c->height, v.moniker, (long long)npow[j]);
    }
    st_chain__be64(pv, (uint64_t)npow[j]);
    if ((rc = st_chain__ov_write(c->ov, SP, lk, sizeof(lk), pv, sizeof(pv))) != 0)
      goto out;
  }
  rc = 0;
  if (*changed) {
    next->n = nn;
    next->v = calloc(nn, sizeof(*next->v));
    if (!next->v) {
      rc = ST_ENOMEM;
      goto out;
    }
    for (size_t j = 0; j < nn && rc == 0; j++) {
      st_val_t v;
      if ((rc = st_chain__val_get(c, nops[j], &v)) != 0)
        break;
      memcpy(next->v[j].pubkey, v.pubkey, ST_PUBKEY_LEN);
      memcpy(next->v[j].addr, v.cons_addr, ST_ADDR_LEN);
      next->v[j].power = npow[j];
    }
    if (rc != 0) {
      free(next->v);
      next->v = NULL;
      next->n = 0;
      *changed = false;
    }
  }
out:
  free(nops);
  free(npow);
  st_chain__recs_free(&top);
  st_chain__recs_free(&last);
  return rc;
}

/* ---- genesis ---- */

int st_chain__modules_genesis(const st_chain__genesis_t *g, st_chain__overlay_t *ov) {
  char log[ST_CHAIN__LOG_MAX];
  st_chain__ctx_t c;
  memset(&c, 0, sizeof(c));
  c.ov = ov;
  c.p = &g->p;
  c.time_ms = g->p.genesis_time_ms;
  c.log = log;
  c.logcap = sizeof(log);
  st_u128 bonded = 0;
  int rc = st_chain__params_store(&c, &g->p);
  for (size_t i = 0; i < g->valset.n && rc == 0; i++) {
    const st_cons_validator_t *cv = &g->valset.v[i];
    const st_chain__gval_t *gv = &g->gvals[i];
    st_val_t v;
    uint8_t k[1 + ST_ADDR_LEN];
    memset(&v, 0, sizeof(v));
    memcpy(v.operator_, gv->operator_, ST_ADDR_LEN);
    memcpy(v.pubkey, cv->pubkey, ST_PUBKEY_LEN);
    memcpy(v.cons_addr, cv->addr, ST_ADDR_LEN);
    snprintf(v.moniker, sizeof(v.moniker), "%s", gv->moniker);
    v.status = ST_VAL_BONDED;
    v.tokens = v.shares = (st_u128)cv->power * ST_POWER_REDUCTION;
    v.rate = gv->rate;
    v.max_rate = gv->max_rate;
    v.max_change_rate = gv->max_change_rate;
    v.min_self_delegation = gv->min_self_delegation;
    v.rate_updated_ms = g->p.genesis_time_ms;
    uint8_t pv[8];
    st_chain__be64(pv, (uint64_t)cv->power);
    bonded += v.tokens;
    if ((rc = st_chain__val_put(&c, &v)) != 0 ||
        (rc = st_chain__ov_write(ov, SP, k, st_chain__k1(k, ST_K_VAL_CONS, v.cons_addr),
                                 v.operator_, ST_ADDR_LEN)) != 0 ||
        (rc = pidx_add(&c, &v)) != 0 ||
        (rc = st_chain__ov_write(ov, SP, k, st_chain__k1(k, ST_K_VAL_LAST, v.operator_), pv,
                                 sizeof(pv))) != 0 ||
        (rc = del_put(&c, v.operator_, v.operator_, v.shares)) != 0 ||
        (rc = st_chain__distr_val_init(&c, v.operator_)) != 0 ||
        (rc = st_chain__distr_restart(&c, v.operator_, &v)) != 0 ||
        (rc = st_chain__slashing_init(&c, v.cons_addr)) != 0)
      break;
  }
  if (rc == 0 && g->nodes)
    rc = st_chain__register_genesis(g->nodes, &c);
  if (rc == 0 && bonded) {
    st_chain__acct_t a;
    if ((rc = st_chain__ov_get(ov, st_chain__macc(ST_MACC_BONDED), &a)) == 0) {
      a.balance += bonded;
      rc = st_chain__ov_put(ov, st_chain__macc(ST_MACC_BONDED), &a);
    }
  }
  return rc;
}
