/* Unit tests of staking and slashing (staking.c, slashing.c): shares
 * issued and removed to the wei, the pools following each validator's
 * status, refusals that leave the state as it was, unbonding entries and
 * their maturity, redelegations and their limits, the choice of the
 * bonded set, slashing with its entries, downtime and double signing.
 * The books (pools, distribution, supply) are checked after every step.
 * Expected values are worked out by hand from docs/staking.md. */
#include "staking_fix.h"

/* ---- delegate ---- */

/* A fresh validator issues one share per wei; the tokens sit in the
 * pool of its status and follow it when it bonds. */
static void test_delegate_fresh(void **state) {
  fix_t *f = *state;
  const st_u128 self = 10 * STOS + 5;
  assert_int_equal(create_val(f, OPA, self, "0.1", STOS), 0);
  st_val_t v = val(f, OPA);
  assert_int_equal(v.status, ST_VAL_UNBONDED);
  assert_false(v.jailed);
  assert_true(v.tokens == self && v.shares == self);
  assert_true(shares_of(f, OPA, OPA) == self);
  assert_true(bal_of(f, OPA) == FUNDS - self);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == self);
  assert_true(pool(f, ST_MACC_BONDED) == 0);
  assert_true(candidate(f, OPA, 10));
  /* Period 1 closed by the self-delegation, which starts from it. */
  uint64_t per = 0;
  st_u128 stake = 0;
  int64_t h = 0;
  assert_true(start_of(f, OPA, OPA, &per, &stake, &h));
  assert_true(per == 1 && stake == self && h == 1);
  assert_true(cur_period(f, OPA, NULL) == 2);
  check_books(f);

  /* Not bonded yet: into not_bonded_pool, still 1:1. */
  assert_int_equal(delegate(f, D1, OPA, 3 * STOS + 1), 0);
  v = val(f, OPA);
  assert_true(v.tokens == 13 * STOS + 6 && v.shares == 13 * STOS + 6);
  assert_true(shares_of(f, D1, OPA) == 3 * STOS + 1);
  assert_true(bal_of(f, D1) == FUNDS - 3 * STOS - 1);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 13 * STOS + 6);
  assert_true(candidate(f, OPA, 13));
  assert_false(candidate(f, OPA, 10));
  uint8_t k[1 + 2 * ST_ADDR_LEN];
  assert_true(has(f, k, st_chain__k2(k, ST_K_DEL_BY_VAL, addr(OPA), addr(D1))));
  assert_true(start_of(f, D1, OPA, &per, &stake, &h));
  assert_true(per == 2 && stake == 3 * STOS + 1);
  check_books(f);

  /* Bonded at the end of the block: the tokens move with it. */
  assert_true(end_block(f, T0, NULL));
  assert_int_equal(val(f, OPA).status, ST_VAL_BONDED);
  assert_true(pool(f, ST_MACC_BONDED) == 13 * STOS + 6);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 0);
  check_books(f);

  /* Bonded: straight into bonded_pool; a second delegation adds up. */
  assert_int_equal(delegate(f, D2, OPA, 2 * STOS), 0);
  assert_int_equal(delegate(f, D1, OPA, STOS), 0);
  v = val(f, OPA);
  assert_true(v.tokens == 16 * STOS + 6 && v.shares == 16 * STOS + 6);
  assert_true(shares_of(f, D2, OPA) == 2 * STOS);
  assert_true(shares_of(f, D1, OPA) == 4 * STOS + 1);
  assert_true(pool(f, ST_MACC_BONDED) == 16 * STOS + 6);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 0);
  assert_true(bal_of(f, D1) == FUNDS - 4 * STOS - 1);
  assert_true(candidate(f, OPA, 16));
  check_books(f);
}

/* After a slash a share is worth less: floor(amount * shares / tokens). */
static void test_delegate_after_slash(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  f->c.height = 2;
  /* 10 * 0.07 STOS taken: 9.3 STOS for 10 STOS of shares. */
  slash(f, OPA, 2, 10, MILLI(70), 7 * STOS / 10);
  st_val_t v = val(f, OPA);
  assert_true(v.tokens == 93 * STOS / 10 && v.shares == 10 * STOS);
  check_books(f);

  /* (10^18 + 1) * 10^19 / (9.3 * 10^18) = 1075268817204301076.4 */
  assert_int_equal(delegate(f, D1, OPA, STOS + 1), 0);
  v = val(f, OPA);
  assert_true(shares_of(f, D1, OPA) == (st_u128)1075268817204301076ull);
  assert_true(v.tokens == 103 * STOS / 10 + 1);
  assert_true(v.shares == 10 * STOS + (st_u128)1075268817204301076ull);
  assert_true(st_chain__val_tokens_of(&v, shares_of(f, D1, OPA)) == STOS);
  assert_true(pool(f, ST_MACC_BONDED) == 103 * STOS / 10 + 1);
  assert_true(bal_of(f, D1) == FUNDS - STOS - 1);
  check_books(f);
}

/* Each refusal with its sentence, and nothing changed, not even the
 * period the settlement closed before the refusal. */
static void test_delegate_refused(void **state) {
  fix_t *f = *state;
  char who[ST_ADDR_STR_MAX], want[256];
  bonded_val(f, OPA, 10 * STOS, "0");
  bonded_val(f, OPB, 5 * STOS, "0");
  /* OPB loses everything: its shares are worth nothing. */
  slash(f, OPB, 1, 5, ST_DEC_ONE, 5 * STOS);
  assert_true(val(f, OPB).tokens == 0);
  /* OPC: a validator whose one share is worth 3 wei, written by hand
   * (with its pool) since messages never make a share worth more than
   * a wei. */
  st_val_t c;
  memset(&c, 0, sizeof(c));
  memcpy(c.operator_, addr(OPC), ST_ADDR_LEN);
  cons_key(OPC, c.pubkey, c.cons_addr);
  c.status = ST_VAL_UNBONDED;
  c.tokens = 3;
  c.shares = 1;
  snprintf(c.moniker, sizeof(c.moniker), "byhand");
  assert_int_equal(st_chain__val_put(&f->c, &c), 0);
  assert_int_equal(st_chain__distr_val_init(&f->c, addr(OPC)), 0);
  uint8_t k[1 + 2 * ST_ADDR_LEN], one[16];
  st_chain__put128(one, 1);
  assert_int_equal(st_chain__ov_write(&f->ov, ST_CHAIN__SP_STATE, k,
                                      st_chain__k2(k, ST_K_DEL, addr(OPC), addr(OPC)), one,
                                      16), 0);
  assert_int_equal(st_chain__ov_write(&f->ov, ST_CHAIN__SP_STATE, k,
                                      st_chain__k2(k, ST_K_DEL_BY_VAL, addr(OPC), addr(OPC)),
                                      "", 0), 0);
  assert_int_equal(st_chain__xfer(&f->c, addr(OPC), st_chain__macc(ST_MACC_NOT_BONDED), 3), 0);
  check_books(f);
  /* D1 already delegates to OPA, so a refusal has a period to undo. */
  assert_int_equal(delegate(f, D1, OPA, STOS), 0);

  snap_t before = snapshot(f);
  assert_int_equal(delegate(f, D1, NOBODY, STOS), ST_ENOENT);
  addr_text(NOBODY, who);
  snprintf(want, sizeof(want), "unknown validator %s", who);
  assert_string_equal(f->log, want);
  assert_unchanged(f, &before);

  assert_int_equal(delegate(f, D1, OPA, FUNDS - STOS + 1), ST_EPERM);
  assert_string_equal(f->log,
                      "insufficient balance: have 999000000000000000000, need "
                      "999000000000000000001");
  assert_unchanged(f, &before);

  /* 2 wei buy floor(2 * 1 / 3) = 0 shares. */
  assert_int_equal(delegate(f, D1, OPC, 2), ST_EINVAL);
  assert_string_equal(f->log, "the amount is too small to buy a share");
  assert_unchanged(f, &before);

  assert_int_equal(delegate(f, D2, OPB, STOS), ST_EPERM);
  assert_string_equal(f->log, "the validator has no tokens left; its shares are worthless");
  assert_unchanged(f, &before);
  free(before.p);

  /* 3 wei buy the first whole share. */
  assert_int_equal(delegate(f, D1, OPC, 3), 0);
  assert_true(shares_of(f, D1, OPC) == 1);
  c = val(f, OPC);
  assert_true(c.tokens == 6 && c.shares == 2);
  check_books(f);
}

/* ---- undelegate ---- */

/* OPA: 10 STOS self, D1 6 STOS, then slashed 0.3%: 15.952 STOS for 16
 * STOS of shares, D1's 6 STOS of shares worth 5.982 STOS. */
static void slashed_pair(fix_t *f) {
  bonded_val(f, OPA, 10 * STOS, "0");
  assert_int_equal(delegate(f, D1, OPA, 6 * STOS), 0);
  assert_true(end_block(f, T0, NULL)); /* power 10 -> 16 */
  f->c.height = 2;
  slash(f, OPA, 2, 16, MILLI(3), 48 * STOS / 1000);
  st_val_t v = val(f, OPA);
  assert_true(v.tokens == 15952 * STOS / 1000 && v.shares == 16 * STOS);
  check_books(f);
}

static void test_undelegate(void **state) {
  fix_t *f = *state;
  slashed_pair(f);
  f->c.height = 3;
  f->c.time_ms = T0 + 5000;

  /* More than the delegation is worth. */
  snap_t before = snapshot(f);
  assert_int_equal(undelegate(f, D1, OPA, (st_u128)5982000000000000001ull), ST_EPERM);
  assert_string_equal(f->log,
                      "cannot unbond 5982000000000000001: the delegation is worth "
                      "5982000000000000000");
  assert_unchanged(f, &before);
  free(before.p);

  /* Part of it: ceil(10^18 * 16 / 15.952) = 1003009027081243732 shares
   * (floor would be ...731), worth exactly 10^18. */
  assert_int_equal(undelegate(f, D1, OPA, STOS), 0);
  const st_u128 sh1 = (st_u128)1003009027081243732ull;
  assert_true(shares_of(f, D1, OPA) == 6 * STOS - sh1);
  st_val_t v = val(f, OPA);
  assert_true(v.tokens == 14952 * STOS / 1000);
  assert_true(v.shares == 16 * STOS - sh1);
  assert_true(pool(f, ST_MACC_BONDED) == 14952 * STOS / 1000);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == STOS);
  assert_true(bal_of(f, D1) == FUNDS - 6 * STOS); /* nothing paid yet */
  recs_t u = ubds(f, D1, OPA);
  assert_int_equal(u.n, 1);
  assert_int_equal(u.r[0].klen, 1 + 2 * ST_ADDR_LEN + 16);
  assert_true(st_chain__rd64(u.r[0].key + 41) == 3); /* the creation height */
  st_ubd_t e = ubd_at(&u, 0);
  assert_true(e.completion_ms == T0 + 5000 + UNBOND_MS);
  assert_true(e.initial == STOS && e.balance == STOS);
  /* Indexed by validator and queued by completion time. */
  uint8_t k[9 + 2 * ST_ADDR_LEN + 16];
  st_chain__k2(k, ST_K_UBD_BY_VAL, addr(OPA), addr(D1));
  memcpy(k + 41, u.r[0].key + 41, 16);
  assert_true(has(f, k, 57));
  k[0] = ST_K_UBD_QUEUE;
  st_chain__be64(k + 1, (uint64_t)(T0 + 5000 + UNBOND_MS));
  memcpy(k + 9, addr(D1), ST_ADDR_LEN);
  memcpy(k + 29, addr(OPA), ST_ADDR_LEN);
  memcpy(k + 49, u.r[0].key + 41, 16);
  assert_true(has(f, k, sizeof(k)));
  free(u.r);
  check_books(f);

  /* Exactly what is left: every share goes, the record with them. */
  const st_u128 rest = (st_u128)4981999999999999999ull;
  before = snapshot(f);
  assert_int_equal(undelegate(f, D1, OPA, rest + 1), ST_EPERM);
  assert_string_equal(f->log,
                      "cannot unbond 4982000000000000000: the delegation is worth "
                      "4981999999999999999");
  assert_unchanged(f, &before);
  free(before.p);
  assert_int_equal(undelegate(f, D1, OPA, rest), 0);
  assert_true(shares_of(f, D1, OPA) == 0);
  uint8_t dk[1 + 2 * ST_ADDR_LEN];
  assert_false(has(f, dk, st_chain__k2(dk, ST_K_DEL_BY_VAL, addr(OPA), addr(D1))));
  assert_false(start_of(f, D1, OPA, NULL, NULL, NULL));
  v = val(f, OPA);
  assert_true(v.shares == 10 * STOS);
  assert_true(v.tokens == (st_u128)9970000000000000001ull); /* the dust stays */
  u = ubds(f, D1, OPA);
  assert_int_equal(u.n, 2);
  e = ubd_at(&u, 1);
  assert_true(e.initial == rest && e.balance == rest);
  assert_true(e.completion_ms == T0 + 5000 + UNBOND_MS);
  free(u.r);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == STOS + rest);

  /* Nothing left to undelegate. */
  char who[ST_ADDR_STR_MAX], want[128];
  addr_text(OPA, who);
  snprintf(want, sizeof(want), "no delegation to validator %s", who);
  assert_int_equal(undelegate(f, D1, OPA, 1), ST_ENOENT);
  assert_string_equal(f->log, want);
  check_books(f);
}

/* Entries mature at the end of the first block whose time reaches their
 * completion, paid from not_bonded_pool. */
static void test_undelegate_matures(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  assert_int_equal(delegate(f, D1, OPA, 5 * STOS), 0);
  f->c.height = 2;
  f->c.time_ms = T0 + 1000;
  assert_int_equal(undelegate(f, D1, OPA, 2 * STOS), 0);
  f->c.height = 3;
  f->c.time_ms = T0 + 2000;
  assert_int_equal(undelegate(f, D1, OPA, STOS + 7), 0);
  const st_u128 held = FUNDS - 5 * STOS;
  assert_true(bal_of(f, D1) == held);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 3 * STOS + 7);
  check_books(f);

  /* One millisecond early: nothing. */
  end_block(f, T0 + 1000 + UNBOND_MS - 1, NULL);
  assert_true(bal_of(f, D1) == held);
  assert_int_equal(count_kind(f, ST_K_UBD), 2);
  check_books(f);

  end_block(f, T0 + 1000 + UNBOND_MS, NULL);
  assert_true(bal_of(f, D1) == held + 2 * STOS);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == STOS + 7);
  assert_int_equal(count_kind(f, ST_K_UBD), 1);
  assert_int_equal(count_kind(f, ST_K_UBD_BY_VAL), 1);
  assert_int_equal(count_kind(f, ST_K_UBD_QUEUE), 1);
  recs_t u = ubds(f, D1, OPA);
  assert_true(ubd_at(&u, 0).initial == STOS + 7);
  free(u.r);
  check_books(f);

  /* Long after: the second, and nothing twice. */
  assert_false(end_block(f, T0 + 10 * UNBOND_MS, NULL));
  assert_true(bal_of(f, D1) == held + 3 * STOS + 7);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 0);
  assert_int_equal(count_kind(f, ST_K_UBD), 0);
  assert_int_equal(count_kind(f, ST_K_UBD_BY_VAL), 0);
  assert_int_equal(count_kind(f, ST_K_UBD_QUEUE), 0);
  end_block(f, T0 + 11 * UNBOND_MS, NULL);
  assert_true(bal_of(f, D1) == held + 3 * STOS + 7);
  check_books(f);
}

static void test_undelegate_max_entries(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  bonded_val(f, OPB, 10 * STOS, "0");
  assert_int_equal(delegate(f, D1, OPA, 5 * STOS), 0);
  assert_int_equal(delegate(f, D1, OPB, 5 * STOS), 0);
  for (int i = 0; i < MAX_ENTRIES; i++) {
    f->c.time_ms = T0 + 1000 * (i + 1);
    assert_int_equal(undelegate(f, D1, OPA, STOS), 0);
  }
  snap_t before = snapshot(f);
  assert_int_equal(undelegate(f, D1, OPA, STOS), ST_EAGAIN);
  assert_string_equal(f->log, "3 unbonding entries for this validator already; wait for one "
                              "to mature");
  assert_unchanged(f, &before);
  free(before.p);
  /* Per validator: OPB has room. */
  assert_int_equal(undelegate(f, D1, OPB, STOS), 0);
  /* Once the first matures there is room again. */
  end_block(f, T0 + 1000 + UNBOND_MS, NULL);
  recs_t u = ubds(f, D1, OPA);
  assert_int_equal(u.n, MAX_ENTRIES - 1);
  free(u.r);
  f->c.time_ms = T0 + 1000 + UNBOND_MS;
  assert_int_equal(undelegate(f, D1, OPA, STOS), 0);
  u = ubds(f, D1, OPA);
  assert_int_equal(u.n, MAX_ENTRIES);
  free(u.r);
  check_books(f);
}

/* An unbonded validator has nothing at stake: paid at once, no entry;
 * an unbonding one keeps the entry but its tokens already sit in
 * not_bonded_pool. */
static void test_undelegate_not_bonded(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  /* Half a STOS: power 0, never a candidate, unbonded for good. */
  assert_int_equal(create_val(f, OPB, STOS / 2, "0", STOS / 1000), 0);
  assert_false(end_block(f, T0, NULL));
  assert_int_equal(val(f, OPB).status, ST_VAL_UNBONDED);
  assert_int_equal(delegate(f, D1, OPB, STOS / 5), 0);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 7 * STOS / 10);
  assert_int_equal(undelegate(f, D1, OPB, STOS / 10), 0);
  assert_true(bal_of(f, D1) == FUNDS - STOS / 10);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 6 * STOS / 10);
  assert_int_equal(count_kind(f, ST_K_UBD), 0);
  assert_int_equal(count_kind(f, ST_K_UBD_QUEUE), 0);
  check_books(f);

  /* OPA leaves the set (jailed) and is unbonding. */
  assert_int_equal(delegate(f, D2, OPA, 4 * STOS), 0);
  assert_int_equal(create_val(f, OPC, 3 * STOS, "0", STOS / 1000), 0);
  st_val_t a = val(f, OPA);
  assert_int_equal(st_chain__jail(&f->c, &a), 0);
  assert_true(end_block(f, T0 + 500, NULL));
  assert_int_equal(val(f, OPA).status, ST_VAL_UNBONDING);
  assert_true(pool(f, ST_MACC_BONDED) == 3 * STOS);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 14 * STOS + 6 * STOS / 10);
  f->c.time_ms = T0 + 1000;
  assert_int_equal(undelegate(f, D2, OPA, STOS), 0);
  recs_t u = ubds(f, D2, OPA);
  assert_int_equal(u.n, 1);
  st_ubd_t e = ubd_at(&u, 0);
  assert_true(e.initial == STOS && e.completion_ms == T0 + 1000 + UNBOND_MS);
  free(u.r);
  assert_true(bal_of(f, D2) == FUNDS - 4 * STOS);
  assert_true(pool(f, ST_MACC_BONDED) == 3 * STOS);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 14 * STOS + 6 * STOS / 10);
  check_books(f);
}

/* The operator's own stake falling below its minimum jails it. */
static void test_undelegate_min_self_jails(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  assert_int_equal(create_val(f, OPC, 4 * STOS, "0", 3 * STOS), 0);
  st_cons_valset_t vs;
  assert_true(end_block(f, T0, &vs));
  assert_int_equal(vs.n, 2);
  assert_int_equal(power_in(&vs, OPC), 4);
  free(vs.v);

  /* Down to the minimum exactly: still fine. */
  assert_int_equal(undelegate(f, OPC, OPC, STOS), 0);
  assert_false(val(f, OPC).jailed);
  assert_true(candidate(f, OPC, 3));
  /* One wei below: jailed, out of the candidates. */
  assert_int_equal(undelegate(f, OPC, OPC, 1), 0);
  st_val_t v = val(f, OPC);
  assert_true(v.jailed);
  assert_true(v.tokens == 3 * STOS - 1);
  assert_int_equal(st_chain__val_power(&v), 0);
  assert_false(candidate(f, OPC, 2));
  assert_false(candidate(f, OPC, 3));
  check_books(f);

  /* It leaves the set at the end of the block. */
  assert_true(end_block(f, T0 + 1000, &vs));
  assert_int_equal(vs.n, 1);
  assert_int_equal(power_in(&vs, OPA), 10);
  assert_int_equal(power_in(&vs, OPC), -1);
  free(vs.v);
  v = val(f, OPC);
  assert_int_equal(v.status, ST_VAL_UNBONDING);
  assert_false(in_last_set(f, OPC, NULL));
  check_books(f);

  /* Unjailing waits for the stake to be back at the minimum. */
  snap_t before = snapshot(f);
  assert_int_equal(unjail(f, OPC), ST_EPERM);
  assert_string_equal(f->log, "the self-delegation is below min_self_delegation; delegate "
                              "more first");
  assert_unchanged(f, &before);
  free(before.p);
  assert_int_equal(delegate(f, OPC, OPC, 1), 0);
  assert_int_equal(unjail(f, OPC), 0);
  assert_false(val(f, OPC).jailed);
  assert_true(candidate(f, OPC, 3));
  assert_int_equal(unjail(f, OPC), ST_EINVAL);
  assert_string_equal(f->log, "validator val13 is not jailed");
  check_books(f);
}

/* ---- redelegate ---- */

static void test_redelegate(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  bonded_val(f, OPB, 10 * STOS, "0");
  assert_int_equal(create_val(f, OPC, STOS / 2, "0", STOS / 1000), 0); /* unbonded */
  assert_int_equal(delegate(f, D1, OPA, 6 * STOS), 0);
  end_block(f, T0, NULL);
  f->c.height = 2;
  f->c.time_ms = T0 + 1000;

  /* Bonded to bonded: the tokens stay in bonded_pool. */
  assert_int_equal(redelegate(f, D1, OPA, OPB, 2 * STOS), 0);
  assert_true(val(f, OPA).tokens == 14 * STOS && val(f, OPB).tokens == 12 * STOS);
  assert_true(shares_of(f, D1, OPA) == 4 * STOS);
  assert_true(shares_of(f, D1, OPB) == 2 * STOS);
  assert_true(pool(f, ST_MACC_BONDED) == 26 * STOS);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == STOS / 2);
  recs_t r = reds(f, D1, OPA, OPB);
  assert_int_equal(r.n, 1);
  st_red_t e = red_at(&r, 0);
  assert_true(e.completion_ms == T0 + 1000 + UNBOND_MS);
  assert_true(e.initial == 2 * STOS && e.shares_dst == 2 * STOS);
  assert_true(st_chain__rd64(r.r[0].key + 61) == 2);
  /* Indexed by source and queued. */
  uint8_t k[85];
  k[0] = ST_K_RED_BY_SRC;
  memcpy(k + 1, addr(OPA), ST_ADDR_LEN);
  memcpy(k + 21, addr(D1), ST_ADDR_LEN);
  memcpy(k + 41, addr(OPB), ST_ADDR_LEN);
  memcpy(k + 61, r.r[0].key + 61, 16);
  assert_true(has(f, k, 77));
  k[0] = ST_K_RED_QUEUE;
  st_chain__be64(k + 1, (uint64_t)(T0 + 1000 + UNBOND_MS));
  memcpy(k + 9, addr(D1), ST_ADDR_LEN);
  memcpy(k + 29, addr(OPA), ST_ADDR_LEN);
  memcpy(k + 49, addr(OPB), ST_ADDR_LEN);
  memcpy(k + 69, r.r[0].key + 61, 16);
  assert_true(has(f, k, 85));
  free(r.r);
  check_books(f);

  /* Bonded to unbonded: the tokens leave bonded_pool. */
  assert_int_equal(redelegate(f, D1, OPA, OPC, STOS), 0);
  assert_true(pool(f, ST_MACC_BONDED) == 25 * STOS);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 3 * STOS / 2);
  assert_true(shares_of(f, D1, OPC) == STOS);
  r = reds(f, D1, OPA, OPC);
  assert_int_equal(r.n, 1);
  assert_true(red_at(&r, 0).initial == STOS);
  free(r.r);
  check_books(f);

  /* From an unbonded source nothing is at stake: no entry. */
  assert_int_equal(delegate(f, D2, OPC, 3 * STOS / 10), 0);
  assert_int_equal(redelegate(f, D2, OPC, OPA, 3 * STOS / 10), 0);
  assert_true(pool(f, ST_MACC_BONDED) == 253 * STOS / 10);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 3 * STOS / 2);
  assert_true(shares_of(f, D2, OPC) == 0);
  assert_true(shares_of(f, D2, OPA) == 3 * STOS / 10);
  r = reds(f, D2, OPC, OPA);
  assert_int_equal(r.n, 0);
  free(r.r);
  check_books(f);

  /* Into a slashed validator: shares at its price, recorded as such.
   * 10^18 * 12 / 10.8 = 1111111111111111111.1 */
  slash(f, OPB, 2, 12, MILLI(100), 12 * STOS / 10);
  assert_int_equal(redelegate(f, D1, OPA, OPB, STOS), 0);
  assert_true(shares_of(f, D1, OPB) == 2 * STOS + (st_u128)1111111111111111111ull);
  r = reds(f, D1, OPA, OPB);
  assert_int_equal(r.n, 2);
  e = red_at(&r, 1);
  assert_true(e.initial == STOS && e.shares_dst == (st_u128)1111111111111111111ull);
  free(r.r);
  check_books(f);

  /* Worth more than the delegation: the same refusal as unbonding. */
  snap_t before = snapshot(f);
  assert_int_equal(redelegate(f, D1, OPA, OPB, 2 * STOS + 1), ST_EPERM);
  assert_string_equal(f->log, "cannot unbond 2000000000000000001: the delegation is worth "
                              "2000000000000000000");
  assert_unchanged(f, &before);
  free(before.p);
}

/* No hopping on while the first hop matures; at most max_entries per
 * (delegator, src, dst). */
static void test_redelegate_limits(void **state) {
  fix_t *f = *state;
  char who[ST_ADDR_STR_MAX], want[200];
  bonded_val(f, OPA, 10 * STOS, "0");
  bonded_val(f, OPB, 10 * STOS, "0");
  bonded_val(f, OPC, 10 * STOS, "0");
  assert_int_equal(delegate(f, D1, OPA, 6 * STOS), 0);
  f->c.time_ms = T0 + 1000;
  assert_int_equal(redelegate(f, D1, OPA, OPB, STOS), 0);

  snap_t before = snapshot(f);
  assert_int_equal(redelegate(f, D1, OPB, OPC, STOS), ST_EAGAIN);
  addr_text(OPB, who);
  snprintf(want, sizeof(want),
           "cannot redelegate from %s: a redelegation into it is still maturing", who);
  assert_string_equal(f->log, want);
  assert_unchanged(f, &before);
  free(before.p);
  /* Another delegator of OPB moves on freely. */
  assert_int_equal(delegate(f, D2, OPB, STOS), 0);
  assert_int_equal(redelegate(f, D2, OPB, OPC, STOS), 0);

  f->c.time_ms = T0 + 2000;
  assert_int_equal(redelegate(f, D1, OPA, OPB, STOS), 0);
  assert_int_equal(redelegate(f, D1, OPA, OPB, STOS), 0);
  before = snapshot(f);
  assert_int_equal(redelegate(f, D1, OPA, OPB, STOS), ST_EAGAIN);
  assert_string_equal(f->log, "3 redelegations between these validators already; wait for "
                              "one to mature");
  assert_unchanged(f, &before);
  free(before.p);
  /* Another destination has room. */
  f->c.time_ms = T0 + 3000;
  assert_int_equal(redelegate(f, D1, OPA, OPC, STOS), 0);
  check_books(f);

  /* The first matures: room for one more, but still no hop from OPB. */
  end_block(f, T0 + 1000 + UNBOND_MS, NULL);
  recs_t r = reds(f, D1, OPA, OPB);
  assert_int_equal(r.n, 2);
  free(r.r);
  f->c.time_ms = T0 + 1000 + UNBOND_MS;
  assert_int_equal(redelegate(f, D1, OPB, OPC, STOS), ST_EAGAIN);
  assert_int_equal(redelegate(f, D1, OPA, OPB, STOS / 2), 0);

  /* Everything matured: every record of every entry is gone. */
  end_block(f, T0 + 3000 + 2 * UNBOND_MS, NULL);
  assert_int_equal(count_kind(f, ST_K_RED), 0);
  assert_int_equal(count_kind(f, ST_K_RED_BY_SRC), 0);
  assert_int_equal(count_kind(f, ST_K_RED_QUEUE), 0);
  f->c.time_ms = T0 + 3000 + 2 * UNBOND_MS;
  assert_int_equal(redelegate(f, D1, OPB, OPC, STOS), 0);
  assert_true(shares_of(f, D1, OPB) == 2 * STOS + STOS / 2);
  check_books(f);
}

/* ---- the bonded set ---- */

static void test_valset(void **state) {
  fix_t *f = *state;
  st_cons_valset_t vs;
  assert_int_equal(create_val(f, OPA, 40 * STOS, "0", STOS), 0);
  assert_int_equal(create_val(f, OPB, 30 * STOS, "0", STOS), 0);
  assert_int_equal(create_val(f, OPC, 20 * STOS, "0", STOS), 0);
  assert_int_equal(create_val(f, OPD, 10 * STOS, "0", STOS), 0);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 100 * STOS);

  /* The top three by power. */
  assert_true(end_block(f, T0, &vs));
  assert_int_equal(vs.n, 3);
  assert_int_equal(power_in(&vs, OPA), 40);
  assert_int_equal(power_in(&vs, OPB), 30);
  assert_int_equal(power_in(&vs, OPC), 20);
  assert_int_equal(power_in(&vs, OPD), -1);
  free(vs.v);
  int64_t pw;
  assert_true(in_last_set(f, OPA, &pw) && pw == 40);
  assert_false(in_last_set(f, OPD, NULL));
  assert_int_equal(val(f, OPC).status, ST_VAL_BONDED);
  assert_int_equal(val(f, OPD).status, ST_VAL_UNBONDED);
  assert_true(pool(f, ST_MACC_BONDED) == 90 * STOS);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 10 * STOS);
  check_books(f);

  /* Nothing changed: nothing reported, nothing written. */
  snap_t before = snapshot(f);
  assert_false(end_block(f, T0 + 500, NULL));
  assert_unchanged(f, &before);
  free(before.p);

  /* OPD climbs to 35: it joins, OPC (20) leaves and unbonds. */
  f->c.height = 2;
  assert_int_equal(delegate(f, D1, OPD, 25 * STOS), 0);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 35 * STOS);
  assert_true(end_block(f, T0 + 1000, &vs));
  assert_int_equal(vs.n, 3);
  assert_int_equal(power_in(&vs, OPA), 40);
  assert_int_equal(power_in(&vs, OPD), 35);
  assert_int_equal(power_in(&vs, OPB), 30);
  assert_int_equal(power_in(&vs, OPC), -1);
  free(vs.v);
  st_val_t c = val(f, OPC);
  assert_int_equal(c.status, ST_VAL_UNBONDING);
  assert_true(c.unbonding_height == 2);
  assert_true(c.unbonding_time_ms == T0 + 1000 + UNBOND_MS);
  assert_false(in_last_set(f, OPC, NULL));
  assert_int_equal(val(f, OPD).status, ST_VAL_BONDED);
  uint8_t qk[9 + ST_ADDR_LEN];
  qk[0] = ST_K_VAL_QUEUE;
  st_chain__be64(qk + 1, (uint64_t)(T0 + 1000 + UNBOND_MS));
  memcpy(qk + 9, addr(OPC), ST_ADDR_LEN);
  assert_true(has(f, qk, sizeof(qk)));
  assert_true(pool(f, ST_MACC_BONDED) == 105 * STOS);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 20 * STOS);
  check_books(f);

  /* A power that changes is a change. */
  assert_int_equal(delegate(f, D2, OPB, STOS), 0);
  assert_true(end_block(f, T0 + 2000, &vs));
  assert_int_equal(vs.n, 3);
  assert_int_equal(power_in(&vs, OPB), 31);
  assert_int_equal(power_in(&vs, OPA), 40);
  assert_int_equal(power_in(&vs, OPD), 35);
  free(vs.v);
  assert_true(in_last_set(f, OPB, &pw) && pw == 31);
  check_books(f);

  /* OPC's unbonding completes when the time comes. */
  assert_false(end_block(f, T0 + 1000 + UNBOND_MS - 1, NULL));
  assert_int_equal(val(f, OPC).status, ST_VAL_UNBONDING);
  assert_false(end_block(f, T0 + 1000 + UNBOND_MS, NULL));
  assert_int_equal(val(f, OPC).status, ST_VAL_UNBONDED);
  assert_false(has(f, qk, sizeof(qk)));
  assert_int_equal(count_kind(f, ST_K_VAL_QUEUE), 0);
  check_books(f);

  /* OPA jailed: it leaves and OPC (unbonded) comes back. */
  int64_t t1 = T0 + 2000 + UNBOND_MS;
  f->c.height = 3;
  st_val_t a = val(f, OPA);
  assert_int_equal(st_chain__jail(&f->c, &a), 0);
  assert_true(end_block(f, t1, &vs));
  assert_int_equal(vs.n, 3);
  assert_int_equal(power_in(&vs, OPA), -1);
  assert_int_equal(power_in(&vs, OPC), 20);
  free(vs.v);
  assert_int_equal(val(f, OPA).status, ST_VAL_UNBONDING);
  assert_int_equal(val(f, OPC).status, ST_VAL_BONDED);
  assert_true(pool(f, ST_MACC_BONDED) == 86 * STOS);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 40 * STOS);
  check_books(f);

  /* Unjailed before its unbonding completes: back in, out of the queue,
   * and OPC leaves again. */
  f->c.time_ms = t1;
  assert_int_equal(unjail(f, OPA), 0);
  assert_true(end_block(f, t1 + 1000, &vs));
  assert_int_equal(power_in(&vs, OPA), 40);
  assert_int_equal(power_in(&vs, OPC), -1);
  free(vs.v);
  a = val(f, OPA);
  assert_int_equal(a.status, ST_VAL_BONDED);
  assert_true(a.unbonding_height == 0 && a.unbonding_time_ms == 0);
  recs_t q = scan_kind(f, ST_K_VAL_QUEUE);
  assert_int_equal(q.n, 1);
  assert_memory_equal(q.r[0].key + 9, addr(OPC), ST_ADDR_LEN);
  assert_true(st_chain__rd64(q.r[0].key + 1) == (uint64_t)(t1 + 1000 + UNBOND_MS));
  free(q.r);
  check_books(f);
  /* Its old completion time passes: it stays bonded. */
  assert_false(end_block(f, t1 + UNBOND_MS, NULL));
  assert_int_equal(val(f, OPA).status, ST_VAL_BONDED);
}

/* Equal powers go by the lower operator address. */
static void test_valset_ties(void **state) {
  fix_t *f = *state;
  st_cons_valset_t vs;
  const int ops[] = {OPD, OPB, OPE, OPA};
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(create_val(f, ops[i], 10 * STOS, "0", STOS), 0);
  assert_true(end_block(f, T0, &vs));
  assert_int_equal(vs.n, 3);
  assert_int_equal(power_in(&vs, OPA), 10);
  assert_int_equal(power_in(&vs, OPB), 10);
  assert_int_equal(power_in(&vs, OPD), 10);
  assert_int_equal(power_in(&vs, OPE), -1);
  free(vs.v);
  /* One wei more is not one more unit of power: nothing changes. */
  assert_int_equal(delegate(f, D1, OPE, 1), 0);
  assert_false(end_block(f, T0 + 1000, NULL));
  /* One STOS more is. */
  assert_int_equal(delegate(f, D1, OPE, STOS), 0);
  assert_true(end_block(f, T0 + 2000, &vs));
  assert_int_equal(power_in(&vs, OPE), 11);
  assert_int_equal(power_in(&vs, OPD), -1);
  free(vs.v);
  check_books(f);
}

/* No candidate at all: the last set stays as it is. */
static void test_valset_never_empty(void **state) {
  fix_t *f = *state;
  assert_false(end_block(f, T0, NULL)); /* no validator at all */
  bonded_val(f, OPA, 10 * STOS, "0");
  bonded_val(f, OPB, 5 * STOS, "0");
  st_val_t a = val(f, OPA), b = val(f, OPB);
  assert_int_equal(st_chain__jail(&f->c, &a), 0);
  assert_int_equal(st_chain__jail(&f->c, &b), 0);
  snap_t before = snapshot(f);
  assert_false(end_block(f, T0 + 1000, NULL));
  assert_unchanged(f, &before);
  free(before.p);
  int64_t pw;
  assert_true(in_last_set(f, OPA, &pw) && pw == 10);
  assert_true(in_last_set(f, OPB, &pw) && pw == 5);
  assert_int_equal(val(f, OPA).status, ST_VAL_BONDED);
  assert_true(pool(f, ST_MACC_BONDED) == 15 * STOS);
  check_books(f);
}

/* ---- slashing a validator ---- */

/* OPA (20 STOS self) with D1 and D2; entries before and after the
 * infraction at height 13; slashed at height 20 for 5% of power 32. */
static void test_slash(void **state) {
  fix_t *f = *state;
  f->c.height = 10;
  assert_int_equal(create_val(f, OPA, 20 * STOS, "0", STOS), 0);
  assert_int_equal(create_val(f, OPB, 10 * STOS, "0", STOS), 0);
  assert_int_equal(delegate(f, D1, OPA, 10 * STOS), 0);
  assert_int_equal(delegate(f, D2, OPA, 5 * STOS), 0);
  end_block(f, T0, NULL);
  f->c.height = 11;
  f->c.time_ms = T0 + 1000;
  assert_int_equal(undelegate(f, D2, OPA, STOS), 0);
  f->c.height = 12;
  f->c.time_ms = T0 + 2000;
  assert_int_equal(undelegate(f, D1, OPA, 2 * STOS), 0);
  f->c.height = 15;
  f->c.time_ms = T0 + 3000;
  assert_int_equal(undelegate(f, D1, OPA, 3 * STOS + 7), 0);
  assert_int_equal(redelegate(f, D2, OPA, OPB, 4 * STOS), 0);
  st_val_t a = val(f, OPA);
  assert_true(a.tokens == 25 * STOS - 7 && a.shares == 25 * STOS - 7);
  assert_true(val(f, OPB).tokens == 14 * STOS);
  check_books(f);
  st_u128 sh_d1 = shares_of(f, D1, OPA), sh_d2 = shares_of(f, D2, OPA),
          sh_op = shares_of(f, OPA, OPA);

  /* amount = 32 * 0.05 STOS = 1.6 STOS:
   *  - the entry of height 15 pays floor((3 STOS + 7) * 0.05) = 0.15 STOS;
   *  - the redelegation of height 15 counts 0.2 STOS and burns 0.2 STOS
   *    of D2's shares at OPB (worth 0.2 STOS there);
   *  - entries of heights 11 and 12 are before the infraction;
   *  - OPA's tokens pay the remaining 1.25 STOS. */
  f->c.height = 20;
  f->c.time_ms = T0 + 5000;
  slash(f, OPA, 13, 32, MILLI(50), 16 * STOS / 10);
  a = val(f, OPA);
  assert_true(a.tokens == 25 * STOS - 7 - 125 * STOS / 100);
  assert_true(a.shares == 25 * STOS - 7); /* shares untouched */
  assert_true(shares_of(f, D1, OPA) == sh_d1 && shares_of(f, D2, OPA) == sh_d2 &&
              shares_of(f, OPA, OPA) == sh_op);
  assert_true(candidate(f, OPA, 23));
  recs_t u = ubds(f, D1, OPA);
  assert_int_equal(u.n, 2);
  st_ubd_t e12 = ubd_at(&u, 0), e15 = ubd_at(&u, 1);
  free(u.r);
  assert_true(e12.initial == 2 * STOS && e12.balance == 2 * STOS);
  assert_true(e15.initial == 3 * STOS + 7);
  assert_true(e15.balance == 3 * STOS + 7 - 15 * STOS / 100);
  u = ubds(f, D2, OPA);
  assert_int_equal(u.n, 1);
  assert_true(ubd_at(&u, 0).balance == STOS);
  free(u.r);
  st_val_t b = val(f, OPB);
  assert_true(b.tokens == 138 * STOS / 10 && b.shares == 138 * STOS / 10);
  assert_true(shares_of(f, D2, OPB) == 38 * STOS / 10);
  /* D2's stake at OPB starts again from what is left. */
  st_u128 stake = 0;
  assert_true(start_of(f, D2, OPB, NULL, &stake, NULL));
  assert_true(stake == 38 * STOS / 10);
  /* The entry keeps its nominal values. */
  recs_t r = reds(f, D2, OPA, OPB);
  assert_int_equal(r.n, 1);
  assert_true(red_at(&r, 0).initial == 4 * STOS && red_at(&r, 0).shares_dst == 4 * STOS);
  free(r.r);
  /* Distribution learns the fraction OPA's tokens lost:
   * floor(1.25 STOS * 10^18 / (25 STOS - 7)) = 0.05. */
  recs_t ev = scan(f, (const uint8_t[]){ST_K_D_SLASH}, 1);
  assert_int_equal(ev.n, 1);
  assert_memory_equal(ev.r[0].key + 1, addr(OPA), ST_ADDR_LEN);
  assert_true(st_chain__rd64(ev.r[0].key + 21) == 20);
  assert_true(st_chain__get128(ev.r[0].val) == MILLI(50));
  free(ev.r);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 3 * STOS + 3 * STOS + 7 - 15 * STOS / 100);
  check_books(f);

  /* An infraction at this very height reaches no entry. */
  slash(f, OPA, 20, 23, MILLI(10), 23 * STOS / 100);
  assert_true(val(f, OPA).tokens == 25 * STOS - 7 - 148 * STOS / 100);
  u = ubds(f, D1, OPA);
  assert_true(ubd_at(&u, 1).balance == 3 * STOS + 7 - 15 * STOS / 100);
  free(u.r);
  assert_true(shares_of(f, D2, OPB) == 38 * STOS / 10);
  check_books(f);
}

/* An entry pays at most its balance; a matured one pays nothing. */
static void test_slash_entries_capped(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  assert_int_equal(delegate(f, D1, OPA, 4 * STOS), 0);
  assert_int_equal(delegate(f, D2, OPA, 2 * STOS), 0);
  f->c.height = 5;
  f->c.time_ms = T0 + 500;
  assert_int_equal(undelegate(f, D2, OPA, STOS), 0);
  f->c.time_ms = T0 + 1000;
  assert_int_equal(undelegate(f, D1, OPA, 2 * STOS), 0);
  assert_true(val(f, OPA).tokens == 13 * STOS);

  /* 13 * 0.6 = 7.8 STOS: 0.6 + 1.2 from the entries, 6 from the tokens. */
  f->c.height = 6;
  slash(f, OPA, 5, 13, MILLI(600), 78 * STOS / 10);
  assert_true(val(f, OPA).tokens == 7 * STOS);
  recs_t u = ubds(f, D2, OPA);
  assert_true(ubd_at(&u, 0).balance == 4 * STOS / 10);
  free(u.r);
  u = ubds(f, D1, OPA);
  assert_true(ubd_at(&u, 0).balance == 8 * STOS / 10);
  free(u.r);
  check_books(f);

  /* At D2's completion time (not yet paid out): D2's entry is no longer
   * at stake; D1's would owe 1.2 STOS but holds 0.8. 7 * 0.6 = 4.2 STOS:
   * 0.8 from the entry, 3.4 from the tokens. */
  f->c.height = 7;
  f->c.time_ms = T0 + 500 + UNBOND_MS;
  slash(f, OPA, 5, 7, MILLI(600), 42 * STOS / 10);
  assert_true(val(f, OPA).tokens == 36 * STOS / 10);
  u = ubds(f, D2, OPA);
  assert_true(ubd_at(&u, 0).balance == 4 * STOS / 10);
  free(u.r);
  u = ubds(f, D1, OPA);
  assert_true(ubd_at(&u, 0).initial == 2 * STOS && ubd_at(&u, 0).balance == 0);
  free(u.r);
  check_books(f);

  /* Maturity pays what is left. */
  end_block(f, T0 + 500 + UNBOND_MS, NULL);
  assert_true(bal_of(f, D2) == FUNDS - 2 * STOS + 4 * STOS / 10);
  end_block(f, T0 + 1000 + UNBOND_MS, NULL);
  assert_true(bal_of(f, D1) == FUNDS - 4 * STOS);
  assert_int_equal(count_kind(f, ST_K_UBD), 0);
  check_books(f);
}

/* A redelegation counts its nominal share of the slash even when the
 * shares it bought are gone: D2 moved 4 STOS from OPA to OPB after the
 * infraction and then unbonded them from OPB. 5% of power 20 is 1 STOS;
 * the redelegation counts 0.2 STOS but burns nothing, OPA pays 0.8. */
static void test_slash_redelegation_gone(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 16 * STOS, "0");
  bonded_val(f, OPB, 10 * STOS, "0");
  assert_int_equal(delegate(f, D2, OPA, 4 * STOS), 0);
  f->c.height = 5;
  f->c.time_ms = T0 + 1000;
  assert_int_equal(redelegate(f, D2, OPA, OPB, 4 * STOS), 0);
  f->c.height = 6;
  assert_int_equal(undelegate(f, D2, OPB, 4 * STOS), 0);
  assert_true(shares_of(f, D2, OPB) == 0);
  f->c.height = 8;
  slash(f, OPA, 4, 20, MILLI(50), 8 * STOS / 10);
  assert_true(val(f, OPA).tokens == 16 * STOS - 8 * STOS / 10);
  assert_true(val(f, OPB).tokens == 10 * STOS);
  /* OPB's unbonding entry is OPB's, not OPA's: untouched. */
  recs_t u = ubds(f, D2, OPB);
  assert_true(ubd_at(&u, 0).balance == 4 * STOS);
  free(u.r);
  check_books(f);
}

/* A validator that left the set is still answerable: its tokens, now in
 * not_bonded_pool, are burnt from there. */
static void test_slash_unbonding_validator(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  bonded_val(f, OPB, 10 * STOS, "0");
  st_val_t a = val(f, OPA);
  assert_int_equal(st_chain__jail(&f->c, &a), 0);
  f->c.height = 2;
  assert_true(end_block(f, T0 + 1000, NULL));
  assert_int_equal(val(f, OPA).status, ST_VAL_UNBONDING);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 10 * STOS);
  f->c.height = 5;
  slash(f, OPA, 1, 10, MILLI(50), STOS / 2);
  assert_true(val(f, OPA).tokens == 95 * STOS / 10);
  assert_true(pool(f, ST_MACC_NOT_BONDED) == 95 * STOS / 10);
  assert_true(pool(f, ST_MACC_BONDED) == 10 * STOS);
  check_books(f);
  /* And it completes its unbonding with what is left. */
  assert_false(end_block(f, T0 + 1000 + UNBOND_MS, NULL));
  assert_int_equal(val(f, OPA).status, ST_VAL_UNBONDED);
  check_books(f);
}

/* ---- slashing: downtime ---- */

static void sign_info(fix_t *f, int op, st_sign_info_t *si) {
  uint8_t cons[ST_ADDR_LEN];
  cons_key(op, NULL, cons);
  assert_int_equal(st_chain__sign_info_get(&f->c, cons, si), 0);
}

/* Block h (at T0 + h seconds) carrying the commit of the set {OPA, OPB,
 * OPC}, each at power 10, with the given signatures. */
static void begin_block(fix_t *f, int64_t h, bool sa, bool sb, bool sc) {
  st_cons_validator_t v[3];
  const int ops[3] = {OPA, OPB, OPC};
  for (int i = 0; i < 3; i++) {
    cons_key(ops[i], v[i].pubkey, v[i].addr);
    v[i].power = 10;
  }
  st_cons_valset_t last = {3, v};
  bool sig[3] = {sa, sb, sc};
  st_cons_block_t b;
  memset(&b, 0, sizeof(b));
  b.height = h;
  b.time_ms = T0 + h * 1000;
  b.last_valset = &last;
  b.last_signed = sig;
  f->c.height = h;
  f->c.time_ms = b.time_ms;
  assert_int_equal(st_chain__slashing_begin_block(&f->c, &b), 0);
}

/* Window 10, at least half signed: at most 5 misses. */
static void test_downtime(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  bonded_val(f, OPB, 10 * STOS, "0");
  bonded_val(f, OPC, 10 * STOS, "0");
  st_sign_info_t si;
  sign_info(f, OPA, &si);
  assert_true(si.start_height == 1 && si.index == 0 && si.missed == 0);

  /* Heights 2..11: OPA and OPB miss 3..7 (five), OPC misses all ten. */
  for (int64_t h = 2; h <= 11; h++) {
    bool miss = h >= 3 && h <= 7;
    begin_block(f, h, !miss, !miss, false);
  }
  sign_info(f, OPA, &si);
  assert_true(si.index == 10 && si.missed == 5 && si.start_height == 1);
  /* OPC missed ten, but a whole window has not passed since height 1. */
  sign_info(f, OPC, &si);
  assert_true(si.index == 10 && si.missed == 10);
  assert_false(val(f, OPC).jailed);
  assert_true(val(f, OPC).tokens == 10 * STOS);

  /* Height 12 replaces the bit of height 2: OPA misses (6 of the last
   * 10), OPB signs (still 5). OPA and OPC are slashed 1% of power 10 for
   * height 10 and jailed. */
  st_u128 before = supply(f);
  begin_block(f, 12, false, true, false);
  assert_true(before - supply(f) == 2 * STOS / 10);
  f->burnt += 2 * STOS / 10;
  const int64_t until = T0 + 12000 + JAIL_MS;
  st_val_t a = val(f, OPA);
  assert_true(a.jailed);
  assert_true(a.tokens == 10 * STOS - STOS / 10);
  assert_false(candidate(f, OPA, 9));
  sign_info(f, OPA, &si);
  assert_true(si.jailed_until_ms == until);
  assert_true(si.start_height == 12 && si.index == 0 && si.missed == 0);
  assert_false(si.tombstoned);
  uint8_t cons[ST_ADDR_LEN], ck[5 + ST_ADDR_LEN];
  cons_key(OPA, NULL, cons);
  st_chain__k1(ck, ST_K_MISSED, cons);
  memset(ck + 1 + ST_ADDR_LEN, 0, 4);
  assert_false(has(f, ck, sizeof(ck))); /* the window starts over */
  assert_true(val(f, OPC).jailed && val(f, OPC).tokens == 99 * STOS / 10);
  sign_info(f, OPB, &si);
  assert_true(si.index == 11 && si.missed == 5 && si.jailed_until_ms == 0);
  assert_false(val(f, OPB).jailed);
  assert_true(val(f, OPB).tokens == 10 * STOS);
  /* Recorded for distribution: 1%. */
  recs_t ev = scan(f, (const uint8_t[]){ST_K_D_SLASH}, 1);
  assert_int_equal(ev.n, 2);
  assert_true(st_chain__get128(ev.r[0].val) == MILLI(10));
  assert_true(st_chain__get128(ev.r[1].val) == MILLI(10));
  free(ev.r);
  check_books(f);

  /* They leave the set at the end of the block. */
  st_cons_valset_t vs;
  assert_true(end_block(f, T0 + 12000, &vs));
  assert_int_equal(vs.n, 1);
  assert_int_equal(power_in(&vs, OPB), 10);
  free(vs.v);
  assert_int_equal(val(f, OPA).status, ST_VAL_UNBONDING);
  check_books(f);

  /* Jailed validators are not counted. OPB signing at 13 clears the bit
   * of height 3, a miss: 4 left. */
  begin_block(f, 13, false, true, false);
  sign_info(f, OPA, &si);
  assert_true(si.index == 0 && si.missed == 0 && si.start_height == 12);
  sign_info(f, OPB, &si);
  assert_true(si.index == 12 && si.missed == 4);

  /* Unjail: not before the jail time is over. */
  char want[128];
  f->c.time_ms = until - 1;
  snap_t snap = snapshot(f);
  assert_int_equal(unjail(f, OPA), ST_EAGAIN);
  snprintf(want, sizeof(want), "validator val11 is jailed until %lld ms (now %lld)",
           (long long)until, (long long)(until - 1));
  assert_string_equal(f->log, want);
  assert_unchanged(f, &snap);
  free(snap.p);
  f->c.time_ms = until;
  assert_int_equal(unjail(f, OPA), 0);
  assert_true(candidate(f, OPA, 9));
  assert_true(end_block(f, until, &vs));
  assert_int_equal(power_in(&vs, OPA), 9);
  free(vs.v);
  check_books(f);
}

/* ---- slashing: double signing ---- */

static void evidence(fix_t *f, int op, int64_t h, int64_t power, int64_t t) {
  st_cons_evidence_t ev;
  memset(&ev, 0, sizeof(ev));
  cons_key(op, NULL, ev.validator);
  ev.height = h;
  ev.power = power;
  ev.time_ms = t;
  st_cons_block_t b;
  memset(&b, 0, sizeof(b));
  b.height = f->c.height;
  b.time_ms = f->c.time_ms;
  b.nevidence = 1;
  b.evidence = &ev;
  assert_int_equal(st_chain__slashing_begin_block(&f->c, &b), 0);
}

static void test_double_sign(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 20 * STOS, "0");
  bonded_val(f, OPB, 10 * STOS, "0");
  bonded_val(f, OPC, 10 * STOS, "0");
  assert_int_equal(delegate(f, D1, OPA, 4 * STOS), 0);
  /* D1 unbonds after the infraction (height 15): the entry pays first. */
  f->c.height = 16;
  f->c.time_ms = T0 + 60000;
  assert_int_equal(undelegate(f, D1, OPA, 4 * STOS), 0);
  const int64_t now = T0 + 100000;
  f->c.height = 20;
  f->c.time_ms = now;

  /* 20 * 0.05 = 1 STOS: 0.2 from the entry, 0.8 from the tokens. */
  st_u128 before = supply(f);
  evidence(f, OPA, 15, 20, T0 + 50000);
  assert_true(before - supply(f) == STOS);
  f->burnt += STOS;
  st_val_t a = val(f, OPA);
  assert_true(a.jailed);
  assert_true(a.tokens == 20 * STOS - 8 * STOS / 10);
  recs_t u = ubds(f, D1, OPA);
  assert_true(ubd_at(&u, 0).balance == 38 * STOS / 10);
  free(u.r);
  st_sign_info_t si;
  sign_info(f, OPA, &si);
  assert_true(si.tombstoned);
  assert_true(si.jailed_until_ms == INT64_MAX);
  check_books(f);

  /* A second evidence against it changes nothing. */
  snap_t snap = snapshot(f);
  f->c.height = 21;
  evidence(f, OPA, 16, 19, T0 + 51000);
  assert_unchanged(f, &snap);
  /* Nor does one against a key that is no validator's. */
  evidence(f, NOBODY, 16, 10, T0 + 51000);
  assert_unchanged(f, &snap);
  /* Nor one older than the unbonding period. */
  evidence(f, OPB, 16, 10, now - UNBOND_MS - 1);
  assert_unchanged(f, &snap);
  free(snap.p);
  /* Exactly the unbonding period old: still reachable. */
  before = supply(f);
  evidence(f, OPB, 16, 10, now - UNBOND_MS);
  assert_true(before - supply(f) == STOS / 2);
  f->burnt += STOS / 2;
  assert_true(val(f, OPB).jailed);
  assert_true(val(f, OPB).tokens == 95 * STOS / 10);
  check_books(f);

  /* Tombstoned: never unjailed. */
  f->c.time_ms = INT64_MAX / 2;
  snap = snapshot(f);
  assert_int_equal(unjail(f, OPA), ST_EPERM);
  assert_string_equal(f->log,
                      "validator val11 is tombstoned for double signing and can never be "
                      "unjailed");
  assert_unchanged(f, &snap);
  free(snap.p);
}

int main(void) {
  st_log_set_level(ST_LOG_OFF);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_delegate_fresh, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_delegate_after_slash, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_delegate_refused, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_undelegate, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_undelegate_matures, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_undelegate_max_entries, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_undelegate_not_bonded, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_undelegate_min_self_jails, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_redelegate, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_redelegate_limits, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_valset, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_valset_ties, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_valset_never_empty, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_slash, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_slash_entries_capped, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_slash_redelegation_gone, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_slash_unbonding_validator, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_downtime, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_double_sign, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
