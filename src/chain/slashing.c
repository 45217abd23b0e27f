/* Slashing: downtime and double signing.
 *
 * Downtime: every validator of the previous height's set has a window of
 * the last signed_blocks_window blocks, kept as a bitmap of misses in
 * 1024-bit chunks (only a chunk whose bit flips is written) and a count
 * of set bits. Once the validator has been watched for a whole window,
 * more than window - floor(window * min_signed_per_window) misses slash
 * it by slash_fraction_downtime of its power two heights back (the
 * height whose set it was missing from) and jail it for
 * downtime_jail_duration; its window starts over.
 *
 * Double signing: evidence from the consensus engine slashes the
 * validator by slash_fraction_double_sign of its power at the
 * infraction, jails it and tombstones it: it can never be unjailed and
 * later evidence against it changes nothing. Evidence older than the
 * unbonding period is ignored, as the stake it could reach has left. */
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "chain/mods.h"

#define SP ST_CHAIN__SP_STATE
#define CHUNK_BITS 1024
#define CHUNK_BYTES (CHUNK_BITS / 8)

int st_chain__slashing_init(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN]) {
  st_sign_info_t si;
  memset(&si, 0, sizeof(si));
  si.start_height = c->height;
  return st_chain__sign_info_put(c, cons, &si);
}

static size_t chunk_key(uint8_t *k, const uint8_t cons[ST_ADDR_LEN], uint32_t chunk) {
  st_chain__k1(k, ST_K_MISSED, cons);
  st_chain__be32(k + 1 + ST_ADDR_LEN, chunk);
  return 5 + ST_ADDR_LEN;
}

/* Sets bit idx of the window to missed; returns the bit it replaced. */
static int set_bit(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN], int64_t idx,
                   bool missed, bool *was) {
  uint8_t k[5 + ST_ADDR_LEN], chunk[CHUNK_BYTES];
  const uint8_t *p;
  size_t n, kl = chunk_key(k, cons, (uint32_t)(idx / CHUNK_BITS));
  int bit = (int)(idx % CHUNK_BITS);
  int rc = st_chain__ov_read(c->ov, SP, k, kl, &p, &n);
  if (rc == ST_ENOENT) {
    memset(chunk, 0, sizeof(chunk));
  } else if (rc != 0) {
    return rc;
  } else if (n != CHUNK_BYTES) {
    return ST_ECORRUPT;
  } else {
    memcpy(chunk, p, CHUNK_BYTES);
  }
  *was = (chunk[bit / 8] >> (bit % 8)) & 1;
  if (*was == missed)
    return 0;
  chunk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  return st_chain__ov_write(c->ov, SP, k, kl, chunk, sizeof(chunk));
}

static int clear_window(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN]) {
  int64_t chunks = (c->p->signed_blocks_window + CHUNK_BITS - 1) / CHUNK_BITS;
  uint8_t k[5 + ST_ADDR_LEN];
  for (int64_t i = 0; i < chunks; i++) {
    int rc = st_chain__ov_del(c->ov, SP, k, chunk_key(k, cons, (uint32_t)i));
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int downtime(st_chain__ctx_t *c, const st_cons_validator_t *cv, bool signed_) {
  st_val_t v;
  st_sign_info_t si;
  int64_t window = c->p->signed_blocks_window;
  bool was;
  int rc = st_chain__val_by_cons(c, cv->addr, &v);
  if (rc == ST_ENOENT)
    return 0; /* not a validator any more */
  if (rc != 0)
    return rc;
  if (v.jailed)
    return 0;
  rc = st_chain__sign_info_get(c, cv->addr, &si);
  if (rc == ST_ENOENT) {
    memset(&si, 0, sizeof(si));
    si.start_height = c->height;
  } else if (rc != 0) {
    return rc;
  }
  if ((rc = set_bit(c, cv->addr, si.index % window, !signed_, &was)) != 0)
    return rc;
  if (was && signed_)
    si.missed--;
  else if (!was && !signed_)
    si.missed++;
  si.index++;
  st_u128 min_signed;
  if ((rc = st_u128_muldiv((st_u128)window, c->p->min_signed_per_window, ST_DEC_ONE,
                           &min_signed)) != 0)
    return rc;
  int64_t max_missed = window - (int64_t)min_signed;
  if (c->height > si.start_height + window && si.missed > max_missed) {
    ST_WARN("chain", "height %lld: validator %s missed %lld of the last %lld blocks: "
                     "slashed and jailed",
            (long long)c->height, v.moniker, (long long)si.missed, (long long)window);
    if ((rc = st_chain__slash(c, &v, c->height - 2, cv->power,
                              c->p->slash_fraction_downtime)) != 0 ||
        (rc = st_chain__jail(c, &v)) != 0 || (rc = clear_window(c, cv->addr)) != 0)
      return rc;
    si.jailed_until_ms = c->time_ms + c->p->downtime_jail_duration_ms;
    si.missed = 0;
    si.index = 0;
    si.start_height = c->height;
  }
  return st_chain__sign_info_put(c, cv->addr, &si);
}

static int double_sign(st_chain__ctx_t *c, const st_cons_evidence_t *ev) {
  st_val_t v;
  st_sign_info_t si;
  int rc = st_chain__val_by_cons(c, ev->validator, &v);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if ((rc = st_chain__sign_info_get(c, ev->validator, &si)) != 0 && rc != ST_ENOENT)
    return rc;
  if (si.tombstoned)
    return 0;
  if (ev->time_ms + c->p->unbonding_time_ms < c->time_ms) {
    ST_WARN("chain", "evidence against %s from height %lld is older than the unbonding "
                     "period: ignored", v.moniker, (long long)ev->height);
    return 0;
  }
  ST_WARN("chain", "height %lld: validator %s signed twice at height %lld: slashed, jailed "
                   "and tombstoned",
          (long long)c->height, v.moniker, (long long)ev->height);
  if ((rc = st_chain__slash(c, &v, ev->height, ev->power,
                            c->p->slash_fraction_double_sign)) != 0)
    return rc;
  if (!v.jailed && (rc = st_chain__jail(c, &v)) != 0)
    return rc;
  si.tombstoned = true;
  si.jailed_until_ms = INT64_MAX;
  return st_chain__sign_info_put(c, ev->validator, &si);
}

int st_chain__slashing_begin_block(st_chain__ctx_t *c, const st_cons_block_t *b) {
  int rc = 0;
  if (b->last_valset && b->last_signed && c->p->signed_blocks_window > 0)
    for (size_t i = 0; i < b->last_valset->n && rc == 0; i++)
      rc = downtime(c, &b->last_valset->v[i], b->last_signed[i]);
  for (size_t i = 0; i < b->nevidence && rc == 0; i++)
    rc = double_sign(c, &b->evidence[i]);
  return rc;
}
