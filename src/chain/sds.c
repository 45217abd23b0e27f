/* SDS: prepaying STOS for ozone (noz), the unit the meta chain debits for
 * storage and traffic.
 *
 * The price follows a constant product over the pool record: a prepay of
 * X buys noz = floor(Lt * X / (S + Pt + X)), where S is the effective
 * node deposit, Pt the STOS prepaid so far and Lt the noz left to sell.
 * Each prepay raises Pt and lowers Lt, so the next noz costs more;
 * deposits raise Lt (deposit / deposit_noz_rate) and S together. The
 * product Lt * X runs through 256 bits, so no amount of wei overflows it.
 *
 * The STOS go to the "sds_pool" account; the noz exist only on the meta
 * chain, which credits the beneficiary when it applies the ST_EV_PREPAY
 * event of the tx. */
#include <string.h>
#include <stratos/st_err.h>
#include "chain/nodes.h"
#include "tx.pb-c.h"

#define U128_MAX (~(st_u128)0)
#define POOL_LEN 48 /* S(16) Pt(16) Lt(16) */
#define EV_PREPAY_LEN (ST_HASH_LEN + ST_ADDR_LEN + 16)

static const uint8_t K_POOL[] = {ST_K_SDS_POOL};

int st_chain__sds_pool_get(st_chain__ctx_t *c, st_sds_pool_t *pool) {
  const uint8_t *v;
  size_t n;
  int rc = st_chain__ov_read(c->ov, ST_CHAIN__SP_STATE, K_POOL, sizeof(K_POOL), &v, &n);
  if (rc == ST_ENOENT) {
    /* Before genesis wrote it (or a state from before this module). */
    *pool = (st_sds_pool_t){0, 0, c->p->initial_ozone_limit};
    return 0;
  }
  if (rc != 0)
    return rc;
  if (n != POOL_LEN)
    return ST_ECORRUPT;
  pool->S = st_chain__get128(v);
  pool->Pt = st_chain__get128(v + 16);
  pool->Lt = st_chain__get128(v + 32);
  return 0;
}

int st_chain__sds_pool_put(st_chain__ctx_t *c, const st_sds_pool_t *pool) {
  uint8_t v[POOL_LEN];
  st_chain__put128(v, pool->S);
  st_chain__put128(v + 16, pool->Pt);
  st_chain__put128(v + 32, pool->Lt);
  return st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, K_POOL, sizeof(K_POOL), v, sizeof(v));
}

int st_chain__sds_quote(const st_sds_pool_t *pool, st_u128 x, st_u128 *noz) {
  *noz = 0;
  if (x == 0)
    return 0;
  if (pool->S > U128_MAX - pool->Pt || pool->S + pool->Pt > U128_MAX - x)
    return ST_ERANGE;
  /* The quotient is at most Lt (x <= the divisor): it always fits. */
  return st_u128_muldiv(pool->Lt, x, pool->S + pool->Pt + x, noz);
}

int st_chain__sds_deposit_changed(st_chain__ctx_t *c, st_u128 added, st_u128 removed) {
  st_sds_pool_t pool;
  st_u128 rate = c->p->deposit_noz_rate;
  int rc = st_chain__sds_pool_get(c, &pool);
  if (rc != 0)
    return rc;
  st_u128 up = rate ? added / rate : 0, down = rate ? removed / rate : 0;
  if (pool.S > U128_MAX - added || pool.Lt > U128_MAX - up)
    return st_chain__refuse(c, ST_ERANGE, "the total deposit would overflow 128 bits");
  pool.S += added;
  pool.Lt += up;
  if (removed > pool.S)
    return ST_ECORRUPT; /* more leaves than ever counted */
  pool.S -= removed;
  /* Noz already sold are not taken back: Lt stops at zero. */
  pool.Lt = down > pool.Lt ? 0 : pool.Lt - down;
  return st_chain__sds_pool_put(c, &pool);
}

static int prepay(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                  const Stratos__Tx__MsgPrepay *m) {
  static const uint8_t no_hash[ST_HASH_LEN];
  st_sds_pool_t pool;
  st_u128 x, noz;
  if (m->beneficiary.len != ST_ADDR_LEN)
    return st_chain__refuse(c, ST_EINVAL, "beneficiary address must be %d bytes",
                            ST_ADDR_LEN);
  if (st_u128_parse(m->amount, &x) != 0 || x == 0)
    return st_chain__refuse(c, ST_EINVAL, "amount must be a positive number of wei");
  int rc = st_chain__sds_pool_get(c, &pool);
  if (rc != 0)
    return rc;
  if (st_chain__sds_quote(&pool, x, &noz) != 0 || pool.Pt > U128_MAX - x)
    return st_chain__refuse(c, ST_ERANGE, "the prepay pool would overflow 128 bits");
  if (noz == 0)
    return st_chain__refuse(c, ST_EINVAL, "the prepay buys no ozone at the current price");
  if ((rc = st_chain__xfer(c, sender, st_chain__macc_named("sds_pool"), x)) != 0)
    return rc;
  pool.Pt += x;
  pool.Lt -= noz; /* noz <= Lt */
  if ((rc = st_chain__sds_pool_put(c, &pool)) != 0)
    return rc;
  uint8_t ev[EV_PREPAY_LEN];
  memcpy(ev, c->tx_hash ? c->tx_hash : no_hash, ST_HASH_LEN);
  memcpy(ev + ST_HASH_LEN, m->beneficiary.data, ST_ADDR_LEN);
  st_chain__put128(ev + ST_HASH_LEN + ST_ADDR_LEN, noz);
  return st_chain__event_add(c, ST_EV_PREPAY, ev, sizeof(ev));
}

int st_chain__sds_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                       const struct Stratos__Tx__TxBody *body) {
  if (body->msg_case != STRATOS__TX__TX_BODY__MSG_PREPAY)
    return st_chain__refuse(c, ST_EINVAL, "not an sds message");
  return prepay(c, sender, body->prepay);
}
