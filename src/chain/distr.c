/* Distribution: fees to validators by power, commission to operators,
 * the rest to delegators by shares, with the F1 scheme (Ojha, "F1 Fee
 * Distribution", 2019) so that a block costs the same whatever the
 * number of delegators.
 *
 * Each validator counts periods. While a period is open its delegators'
 * rewards pile up in one number, R. A period closes whenever the value of
 * one share may change or a delegation changes; closing adds R / tokens
 * (the reward of one token over the period, ST_DEC_ONE-scaled and
 * rounded down) to a running sum stored per period. A delegation
 * remembers the period it started after and its stake in tokens, so its
 * rewards are stake * (sum[end] - sum[start]) — one subtraction, however
 * long ago it started. A slash also closes a period and is recorded, so
 * that the stake can be cut by the same fraction from that period on.
 *
 * Every wei of fees is either paid, owed (in the validator's outstanding
 * count) or in the community pool: the distribution account's balance
 * equals the sum of the validators' outstanding counts after every
 * block. Rounding leftovers of closed periods stay in the outstanding
 * count of their validator. */
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include "chain/mods.h"

#define SP ST_CHAIN__SP_STATE

/* ---- records ---- */

static int read_u128(st_chain__ctx_t *c, const uint8_t *k, size_t kl, st_u128 *out) {
  return st_chain__ov_read_u128(c->ov, SP, k, kl, out);
}

static int write_u128(st_chain__ctx_t *c, const uint8_t *k, size_t kl, st_u128 v) {
  return st_chain__ov_write_u128(c->ov, SP, k, kl, v);
}

static int cur_get(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], uint64_t *period,
                   st_u128 *rewards) {
  uint8_t k[1 + ST_ADDR_LEN];
  const uint8_t *p;
  size_t n;
  int rc = st_chain__ov_read(c->ov, SP, k, st_chain__k1(k, ST_K_D_CUR, op), &p, &n);
  if (rc != 0)
    return rc == ST_ENOENT ? ST_ECORRUPT : rc;
  if (n != 24)
    return ST_ECORRUPT;
  *period = st_chain__rd64(p);
  *rewards = st_chain__get128(p + 8);
  return 0;
}

static int cur_put(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], uint64_t period,
                   st_u128 rewards) {
  uint8_t k[1 + ST_ADDR_LEN], v[24];
  st_chain__be64(v, period);
  st_chain__put128(v + 8, rewards);
  return st_chain__ov_write(c->ov, SP, k, st_chain__k1(k, ST_K_D_CUR, op), v, sizeof(v));
}

static size_t hist_key(uint8_t *k, const uint8_t op[ST_ADDR_LEN], uint64_t period) {
  st_chain__k1(k, ST_K_D_HIST, op);
  st_chain__be64(k + 1 + ST_ADDR_LEN, period);
  return 9 + ST_ADDR_LEN;
}

/* A period's record: the running sum (16) and how many still need it
 * (4): the open period that follows it, each delegation that started
 * from it, each slash recorded at it. At zero it is deleted, so the
 * records a validator keeps grow with its delegations, not its past. */
static int hist_read(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], uint64_t period,
                     st_u128 *ratio, uint32_t *refs) {
  uint8_t k[9 + ST_ADDR_LEN];
  const uint8_t *p;
  size_t n;
  int rc = st_chain__ov_read(c->ov, SP, k, hist_key(k, op, period), &p, &n);
  if (rc != 0)
    return rc == ST_ENOENT ? ST_ECORRUPT : rc;
  if (n != 20)
    return ST_ECORRUPT;
  *ratio = st_chain__get128(p);
  *refs = st_chain__rd32(p + 16);
  return 0;
}

static int hist_get(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], uint64_t period,
                    st_u128 *ratio) {
  uint32_t refs;
  return hist_read(c, op, period, ratio, &refs);
}

static int hist_put(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], uint64_t period,
                    st_u128 ratio, uint32_t refs) {
  uint8_t k[9 + ST_ADDR_LEN], v[20];
  st_chain__put128(v, ratio);
  st_chain__be32(v + 16, refs);
  return st_chain__ov_write(c->ov, SP, k, hist_key(k, op, period), v, sizeof(v));
}

/* Adds delta (+1 or -1) to a period's references; deletes it at zero. */
static int hist_ref(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], uint64_t period,
                    int delta) {
  st_u128 ratio;
  uint32_t refs;
  int rc = hist_read(c, op, period, &ratio, &refs);
  if (rc != 0)
    return rc;
  if (delta < 0 && refs == 0)
    return ST_ECORRUPT;
  refs = delta < 0 ? refs - 1 : refs + 1;
  if (refs == 0) {
    uint8_t k[9 + ST_ADDR_LEN];
    return st_chain__ov_del(c->ov, SP, k, hist_key(k, op, period));
  }
  return hist_put(c, op, period, ratio, refs);
}

static int out_add(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], st_u128 add,
                   st_u128 sub) {
  uint8_t k[1 + ST_ADDR_LEN];
  st_u128 v;
  size_t kl = st_chain__k1(k, ST_K_D_OUT, op);
  int rc = read_u128(c, k, kl, &v);
  if (rc != 0)
    return rc;
  if (v + add < sub)
    return ST_ECORRUPT;
  return write_u128(c, k, kl, v + add - sub);
}

int st_chain__distr_val_init(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN]) {
  uint8_t k[9 + ST_ADDR_LEN];
  int rc = cur_put(c, op, 1, 0);
  if (rc == 0)
    rc = hist_put(c, op, 0, 0, 1);
  if (rc == 0)
    rc = write_u128(c, k, st_chain__k1(k, ST_K_D_COMM, op), 0);
  if (rc == 0)
    rc = write_u128(c, k, st_chain__k1(k, ST_K_D_OUT, op), 0);
  return rc;
}

/* Closes v's open period and returns its number. With no tokens to share
 * them, the period's rewards go to the community pool. */
static int close_period(st_chain__ctx_t *c, const st_val_t *v, uint64_t *closed) {
  uint64_t k;
  st_u128 r, prev, add = 0;
  int rc = cur_get(c, v->operator_, &k, &r);
  if (rc != 0 || (rc = hist_get(c, v->operator_, k - 1, &prev)) != 0)
    return rc;
  if (r && v->tokens == 0) {
    if ((rc = st_chain__xfer(c, st_chain__macc(ST_MACC_DISTR),
                             st_chain__macc(ST_MACC_COMMUNITY), r)) != 0 ||
        (rc = out_add(c, v->operator_, 0, r)) != 0)
      return rc;
  } else if (r && (rc = st_u128_muldiv(r, ST_DEC_ONE, v->tokens, &add)) != 0) {
    return rc;
  }
  /* The new period holds k; k - 1 loses the hold of the period after it. */
  if ((rc = hist_put(c, v->operator_, k, prev + add, 1)) != 0 ||
      (rc = hist_ref(c, v->operator_, k - 1, -1)) != 0 ||
      (rc = cur_put(c, v->operator_, k + 1, 0)) != 0)
    return rc;
  *closed = k;
  return 0;
}

static size_t start_key(uint8_t *k, const uint8_t del[ST_ADDR_LEN],
                        const uint8_t op[ST_ADDR_LEN]) {
  return st_chain__k2(k, ST_K_D_START, del, op);
}

typedef struct slash_walk {
  st_chain__ctx_t *c;
  const uint8_t *op;
  uint64_t end;
  uint64_t period;     /* start of the current segment */
  st_u128 stake;
  st_u128 rewards;
  int rc;
} slash_walk_t;

/* Adds stake * (sum[to] - sum[from]). */
static int segment(slash_walk_t *w, uint64_t to) {
  st_u128 a, b, r;
  int rc;
  if (to <= w->period)
    return 0;
  if ((rc = hist_get(w->c, w->op, w->period, &a)) != 0 ||
      (rc = hist_get(w->c, w->op, to, &b)) != 0)
    return rc;
  if (b < a)
    return ST_ECORRUPT;
  if ((rc = st_u128_muldiv(w->stake, b - a, ST_DEC_ONE, &r)) != 0)
    return rc;
  w->rewards += r;
  w->period = to;
  return 0;
}

static int slash_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  slash_walk_t *w = ud;
  const uint8_t *kp = k;
  if (kl != 1 + ST_ADDR_LEN + 16 || vl != 16)
    return ST_ECORRUPT;
  /* Periods order everything: a slash counts when it closed a period
   * after the one the delegation started from. */
  uint64_t period = st_chain__rd64(kp + 9 + ST_ADDR_LEN);
  if (period <= w->period || period > w->end)
    return 0;
  int rc = segment(w, period);
  if (rc != 0)
    return rc;
  st_u128 f = st_chain__get128(v), kept;
  if (f > ST_DEC_ONE)
    return ST_ECORRUPT;
  if ((rc = st_u128_muldiv(w->stake, ST_DEC_ONE - f, ST_DEC_ONE, &kept)) != 0)
    return rc;
  w->stake = kept;
  return 0;
}

/* The rewards of (del, v) from its start to period end (closed). */
static int rewards_until(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                         const st_val_t *v, uint64_t end, st_u128 *out, bool *found) {
  uint8_t k[1 + 2 * ST_ADDR_LEN];
  const uint8_t *p;
  size_t n;
  *out = 0;
  *found = false;
  int rc = st_chain__ov_read(c->ov, SP, k, start_key(k, del, v->operator_), &p, &n);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n != 32)
    return ST_ECORRUPT;
  *found = true;
  slash_walk_t w = {c, v->operator_, end, st_chain__rd64(p), st_chain__get128(p + 8), 0, 0};
  uint8_t pre[1 + ST_ADDR_LEN];
  if ((rc = st_chain__ov_scan(c->ov, SP, pre, st_chain__k1(pre, ST_K_D_SLASH, v->operator_),
                              slash_cb, &w)) != 0)
    return rc;
  /* The stake never exceeds what the shares are worth now (rounding). */
  st_u128 shares, now;
  if ((rc = st_chain__del_get(c, del, v->operator_, &shares)) != 0 && rc != ST_ENOENT)
    return rc;
  now = st_chain__val_tokens_of(v, shares);
  if (w.stake > now)
    w.stake = now;
  if ((rc = segment(&w, end)) != 0)
    return rc;
  *out = w.rewards;
  return 0;
}

/* Removes the starting record of (del, v), releasing its period. */
static int start_drop(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN], const st_val_t *v) {
  uint8_t k[1 + 2 * ST_ADDR_LEN];
  const uint8_t *p;
  size_t n, kl = start_key(k, del, v->operator_);
  int rc = st_chain__ov_read(c->ov, SP, k, kl, &p, &n);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n != 32)
    return ST_ECORRUPT;
  uint64_t period = st_chain__rd64(p);
  if ((rc = st_chain__ov_del(c->ov, SP, k, kl)) != 0)
    return rc;
  return hist_ref(c, v->operator_, period, -1);
}

int st_chain__distr_settle(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                           const st_val_t *v) {
  uint64_t closed;
  st_u128 r, out;
  bool found;
  uint8_t k[1 + 2 * ST_ADDR_LEN];
  int rc = close_period(c, v, &closed);
  if (rc != 0 || (rc = rewards_until(c, del, v, closed, &r, &found)) != 0 || !found)
    return rc;
  if ((rc = read_u128(c, k, st_chain__k1(k, ST_K_D_OUT, v->operator_), &out)) != 0)
    return rc;
  if (r > out)
    r = out; /* rounding can only ever favour the pool */
  if ((rc = st_chain__xfer(c, st_chain__macc(ST_MACC_DISTR), del, r)) != 0 ||
      (rc = out_add(c, v->operator_, 0, r)) != 0)
    return rc;
  return start_drop(c, del, v);
}

int st_chain__distr_restart(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                            const st_val_t *v) {
  uint8_t k[1 + 2 * ST_ADDR_LEN], val[32];
  st_u128 shares, r;
  uint64_t period;
  size_t kl = start_key(k, del, v->operator_);
  /* A start left over (no settle before) releases its period first. */
  int rc = start_drop(c, del, v);
  if (rc != 0)
    return rc;
  rc = st_chain__del_get(c, del, v->operator_, &shares);
  if (rc == ST_ENOENT || (rc == 0 && shares == 0))
    return 0;
  if (rc != 0 || (rc = cur_get(c, v->operator_, &period, &r)) != 0)
    return rc;
  st_chain__be64(val, period - 1);
  st_chain__put128(val + 8, st_chain__val_tokens_of(v, shares));
  st_chain__be64(val + 24, (uint64_t)c->height);
  if ((rc = st_chain__ov_write(c->ov, SP, k, kl, val, sizeof(val))) != 0)
    return rc;
  return hist_ref(c, v->operator_, period - 1, +1);
}

int st_chain__distr_on_slash(st_chain__ctx_t *c, const st_val_t *v, st_u128 fraction) {
  uint64_t closed;
  uint8_t k[1 + ST_ADDR_LEN + 16];
  int rc = close_period(c, v, &closed);
  if (rc != 0)
    return rc;
  st_chain__k1(k, ST_K_D_SLASH, v->operator_);
  st_chain__be64(k + 1 + ST_ADDR_LEN, (uint64_t)c->height);
  st_chain__be64(k + 9 + ST_ADDR_LEN, closed);
  if ((rc = write_u128(c, k, sizeof(k), fraction)) != 0)
    return rc;
  return hist_ref(c, v->operator_, closed, +1); /* the slash holds its period */
}

int st_chain__distr_withdraw_commission(st_chain__ctx_t *c, const st_val_t *v,
                                        st_u128 *paid) {
  uint8_t k[1 + ST_ADDR_LEN];
  size_t kl = st_chain__k1(k, ST_K_D_COMM, v->operator_);
  int rc = read_u128(c, k, kl, paid);
  if (rc != 0 || *paid == 0)
    return rc;
  if ((rc = st_chain__xfer(c, st_chain__macc(ST_MACC_DISTR), v->operator_, *paid)) != 0 ||
      (rc = out_add(c, v->operator_, 0, *paid)) != 0)
    return rc;
  return write_u128(c, k, kl, 0);
}

int st_chain__distr_pending(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                            const st_val_t *v, st_u128 *rewards) {
  /* Closing the period changes records: callers run this on an overlay
   * they throw away. */
  uint64_t closed;
  bool found;
  int rc = close_period(c, v, &closed);
  if (rc != 0)
    return rc;
  return rewards_until(c, del, v, closed, rewards, &found);
}

/* ---- per block ---- */

/* The bonded set's last powers (keys kind || operator, values 8 bytes)
 * and their sum. */
static int bonded_load(st_chain__ctx_t *c, st_chain__recs_t *b, int64_t *total) {
  uint8_t pre = ST_K_VAL_LAST;
  int rc = st_chain__ov_collect(c->ov, SP, &pre, 1, ST_CHAIN__NOT_DUE, 0, b);
  *total = 0;
  for (size_t i = 0; i < b->n && rc == 0; i++) {
    if (b->v[i].klen != 1 + ST_ADDR_LEN || b->v[i].vlen != 8)
      rc = ST_ECORRUPT;
    else
      *total += (int64_t)st_chain__rd64(b->v[i].val);
  }
  return rc;
}

int st_chain__distr_end_block(st_chain__ctx_t *c, st_u128 fees) {
  st_chain__recs_t b = {0};
  int64_t total;
  st_u128 tax, rest, given = 0;
  const uint8_t *distr = st_chain__macc(ST_MACC_DISTR);
  const uint8_t *community = st_chain__macc(ST_MACC_COMMUNITY);
  int rc;
  if (fees == 0)
    return 0;
  if ((rc = st_u128_muldiv(fees, c->p->community_tax, ST_DEC_ONE, &tax)) != 0)
    return rc;
  rest = fees - tax;
  if ((rc = bonded_load(c, &b, &total)) != 0)
    goto out;
  for (size_t i = 0; i < b.n && total > 0; i++) {
    st_u128 share, comm;
    uint64_t period;
    st_u128 r, cm;
    st_val_t v;
    uint8_t k[1 + ST_ADDR_LEN];
    int64_t power = (int64_t)st_chain__rd64(b.v[i].val);
    if ((rc = st_u128_muldiv(rest, (st_u128)power, (st_u128)total, &share)) != 0 ||
        (rc = st_chain__val_get(c, b.v[i].key + 1, &v)) != 0 ||
        (rc = st_u128_muldiv(share, v.rate, ST_DEC_ONE, &comm)) != 0 ||
        (rc = cur_get(c, v.operator_, &period, &r)) != 0 ||
        (rc = cur_put(c, v.operator_, period, r + share - comm)) != 0 ||
        (rc = read_u128(c, k, st_chain__k1(k, ST_K_D_COMM, v.operator_), &cm)) != 0 ||
        (rc = write_u128(c, k, sizeof(k), cm + comm)) != 0 ||
        (rc = out_add(c, v.operator_, share, 0)) != 0)
      goto out;
    given += share;
  }
  /* The tax and what division by power left over. */
  rc = st_chain__xfer(c, distr, community, fees - given);
out:
  st_chain__recs_free(&b);
  return rc;
}
