/* Unit tests of distribution (distr.c): a block's fees split into the
 * community tax, shares by power, rounding dust, commission and the
 * period's rewards; the F1 rewards of delegations, as pending (on a
 * scratch overlay, as the queries see them) and as paid, against the
 * computation by hand of docs/staking.md across periods and slashes;
 * commission withdrawal; and the conservation of every wei through a
 * sequence of staking, distribution and slashing steps. After every
 * step distribution holds exactly the validators' outstanding counts. */
#include "staking_fix.h"

/* What (d, op) would withdraw now, read as the rewards query reads it:
 * on an overlay of its own over the state, thrown away after. */
static st_u128 pending(fix_t *f, int d, int op) {
  st_chain__overlay_t scratch;
  st_chain__ctx_t c;
  st_val_t v;
  st_u128 r = 0;
  flush(f);
  snap_t before = snapshot(f);
  st_chain__ov_init(&scratch, &f->st, f->txn);
  c = f->c;
  c.ov = &scratch;
  assert_int_equal(st_chain__val_get(&c, addr(op), &v), 0);
  assert_int_equal(st_chain__distr_pending(&c, addr(d), &v, &r), 0);
  st_chain__ov_free(&scratch);
  assert_unchanged(f, &before);
  free(before.p);
  return r;
}

/* Settles (d, op) as the messages do (settle, then start again) and
 * returns what d was paid. */
static st_u128 settle(fix_t *f, int d, int op) {
  st_val_t v = val(f, op);
  st_u128 b0 = bal_of(f, d);
  assert_int_equal(st_chain__distr_settle(&f->c, addr(d), &v), 0);
  assert_int_equal(st_chain__distr_restart(&f->c, addr(d), &v), 0);
  return bal_of(f, d) - b0;
}

/* ---- the split of a block's fees ---- */

/* Powers 7, 5, 3 at rates 0.1, 0.05, 0.07; F = 1000003 wei, tax 2%:
 *   tax = floor(1000003 * 0.02) = 20000, R = 980003
 *   shares floor(R * p / 15) = 457334, 326667, 196000 (dust 2)
 *   commissions 45733, 16333, 13720; the rest into the open period. */
static void test_fee_split(void **state) {
  fix_t *f = *state;
  /* No fees: nothing at all. */
  snap_t before = snapshot(f);
  assert_int_equal(st_chain__distr_end_block(&f->c, 0), 0);
  assert_unchanged(f, &before);
  free(before.p);

  assert_int_equal(create_val(f, OPA, 7 * STOS, "0.1", STOS), 0);
  assert_int_equal(create_val(f, OPB, 5 * STOS, "0.05", STOS), 0);
  assert_int_equal(create_val(f, OPC, 3 * STOS, "0.07", STOS), 0);
  /* Before any bonded set: everything to the community pool. */
  fees(f, 1000);
  assert_true(pool(f, ST_MACC_COMMUNITY) == 1000);
  assert_true(pool(f, ST_MACC_DISTR) == 0);
  check_books(f);
  assert_true(end_block(f, T0, NULL));
  assert_true(cur_period(f, OPA, NULL) == 2);

  fees(f, 1000003);
  const st_u128 share[3] = {457334, 326667, 196000}, comm[3] = {45733, 16333, 13720};
  const int ops[3] = {OPA, OPB, OPC};
  for (int i = 0; i < 3; i++) {
    st_u128 r;
    assert_true(cur_period(f, ops[i], &r) == 2); /* no period closes */
    assert_true(r == share[i] - comm[i]);
    assert_true(commission(f, ops[i]) == comm[i]);
    assert_true(outstanding(f, ops[i]) == share[i]);
  }
  assert_true(pool(f, ST_MACC_COMMUNITY) == 1000 + 20002);
  assert_true(pool(f, ST_MACC_DISTR) == 980001);
  assert_true(bal_of(f, PAYER) == FUNDS - 1000 - 1000003);
  check_books(f);

  /* A second block adds up: 15 wei, no tax, no dust, no commission. A
   * validator jailed in this block still gets its share: the set is the
   * one recorded before this block's update. */
  st_val_t c = val(f, OPC);
  assert_int_equal(st_chain__jail(&f->c, &c), 0);
  fees(f, 15);
  const st_u128 more[3] = {7, 5, 3};
  for (int i = 0; i < 3; i++) {
    st_u128 r;
    cur_period(f, ops[i], &r);
    assert_true(r == share[i] - comm[i] + more[i]);
    assert_true(commission(f, ops[i]) == comm[i]);
    assert_true(outstanding(f, ops[i]) == share[i] + more[i]);
  }
  assert_true(pool(f, ST_MACC_COMMUNITY) == 1000 + 20002);
  check_books(f);

  /* Once OPC has left the set it gets nothing: 10 wei over powers 7 and
   * 5, floor(70 / 12) = 5 and floor(50 / 12) = 4, one wei of dust. */
  assert_true(end_block(f, T0 + 1000, NULL));
  st_u128 out_c = outstanding(f, OPC);
  fees(f, 10);
  assert_true(outstanding(f, OPA) == share[0] + more[0] + 5);
  assert_true(outstanding(f, OPB) == share[1] + more[1] + 4);
  assert_true(outstanding(f, OPC) == out_c);
  assert_true(pool(f, ST_MACC_COMMUNITY) == 1000 + 20002 + 1);
  check_books(f);
}

/* ---- F1 ---- */

/* OPA (7 STOS, rate 0.1) and D1 (4 STOS + 333 wei); D2 joins with 5
 * STOS between the two blocks, which closes period 3:
 *   block 1: F = 123456789, R = 120987654, commission 12098765, period
 *            3 gets 108888889 over 11 STOS + 333:
 *            S[3] = floor(108888889 * 10^18 / (11 * 10^18 + 333)) = 9898989
 *   block 2: F = 987654321, R = 967901235, commission 96790123, period
 *            4 gets 871111112 over 16 STOS + 333:
 *            S[4] = S[3] + 54444444 = 64343433
 *   D1 (from period 2): floor((4 * 10^18 + 333) * S[4] / 10^18) = 257373732
 *   D2 (from period 3): floor(5 * 10^18 * (S[4] - S[3]) / 10^18) = 272222220
 *   OPA (from period 1): floor(7 * 10^18 * S[4] / 10^18) = 450404031 */
static void test_f1_two_periods(void **state) {
  fix_t *f = *state;
  assert_int_equal(create_val(f, OPA, 7 * STOS, "0.1", STOS), 0);
  assert_int_equal(delegate(f, D1, OPA, 4 * STOS + 333), 0);
  assert_true(end_block(f, T0, NULL));
  uint64_t per = 0;
  st_u128 stake = 0;
  assert_true(start_of(f, D1, OPA, &per, &stake, NULL));
  assert_true(per == 2 && stake == 4 * STOS + 333);
  assert_true(cur_period(f, OPA, NULL) == 3);
  assert_true(pending(f, D1, OPA) == 0);

  fees(f, 123456789);
  assert_true(outstanding(f, OPA) == 120987654);
  assert_true(commission(f, OPA) == 12098765);
  check_books(f);
  /* Pending over period 3 alone. */
  assert_true(pending(f, D1, OPA) == 39595956);
  assert_true(pending(f, OPA, OPA) == 69292923);
  assert_true(cur_period(f, OPA, NULL) == 3); /* the scratch closed nothing here */

  f->c.height = 2;
  f->c.time_ms = T0 + 1000;
  assert_int_equal(delegate(f, D2, OPA, 5 * STOS), 0);
  assert_true(cur_period(f, OPA, NULL) == 4);
  assert_true(ratio(f, OPA, 3) == 9898989);
  assert_true(start_of(f, D2, OPA, &per, &stake, NULL));
  assert_true(per == 3 && stake == 5 * STOS);
  assert_true(bal_of(f, D2) == FUNDS - 5 * STOS); /* nothing to settle yet */
  assert_true(end_block(f, T0 + 1000, NULL));
  check_books(f);

  fees(f, 987654321);
  check_books(f);
  assert_true(pending(f, D1, OPA) == 257373732);
  assert_true(pending(f, D2, OPA) == 272222220);
  assert_true(pending(f, OPA, OPA) == 450404031);

  /* Settled: paid exactly that, out of distribution and OPA's count. */
  st_u128 out0 = outstanding(f, OPA), d0 = pool(f, ST_MACC_DISTR);
  assert_true(settle(f, D1, OPA) == 257373732);
  assert_true(outstanding(f, OPA) == out0 - 257373732);
  assert_true(pool(f, ST_MACC_DISTR) == d0 - 257373732);
  assert_true(ratio(f, OPA, 4) == 64343433);
  assert_true(start_of(f, D1, OPA, &per, &stake, NULL));
  assert_true(per == 4 && stake == 4 * STOS + 333);
  check_books(f);
  /* Nothing twice; the others are not affected by D1's settlement. */
  assert_true(pending(f, D1, OPA) == 0);
  assert_true(settle(f, D1, OPA) == 0);
  assert_true(pending(f, D2, OPA) == 272222220);

  /* Through the message: D2's rewards. */
  assert_int_equal(withdraw(f, D2, OPA), 0);
  assert_true(bal_of(f, D2) == FUNDS - 5 * STOS + 272222220);
  check_books(f);

  /* The operator withdrawing its own validator takes its rewards and
   * the commission of both blocks, 12098765 + 96790123. */
  st_u128 b0 = bal_of(f, OPA);
  assert_int_equal(withdraw(f, OPA, OPA), 0);
  assert_true(bal_of(f, OPA) == b0 + 450404031 + 108888888);
  assert_true(commission(f, OPA) == 0);
  /* What is left is the rounding of closed periods. */
  assert_true(outstanding(f, OPA) == 18);
  assert_true(pool(f, ST_MACC_DISTR) == 18);
  check_books(f);

  /* Seven periods closed, three records kept: the starts of D1 (5) and
   * D2 (6), and 7, held by OPA's start and by the open period 8. */
  uint64_t kept[8];
  uint32_t refs;
  assert_true(cur_period(f, OPA, NULL) == 8);
  assert_int_equal(hist_periods(f, OPA, kept, 8), 3);
  assert_true(kept[0] == 5 && kept[1] == 6 && kept[2] == 7);
  assert_true(hist(f, OPA, 5, NULL, &refs) && refs == 1);
  assert_true(hist(f, OPA, 6, NULL, &refs) && refs == 1);
  assert_true(hist(f, OPA, 7, NULL, &refs) && refs == 2);
  assert_true(ratio(f, OPA, 7) == 64343433);
  assert_true(start_of(f, D1, OPA, &per, NULL, NULL) && per == 5);
  assert_true(start_of(f, D2, OPA, &per, NULL, NULL) && per == 6);
  assert_true(start_of(f, OPA, OPA, &per, NULL, NULL) && per == 7);
}

/* A slash between two periods cuts the stake by the recorded fraction.
 * OPA 10 STOS (rate 0), D1 10 STOS + 1 wei: tokens T = 20 STOS + 1.
 *   block 1: F = 1000000007, R = 980000007, S[3] = floor(R * 10^18 / T)
 *            = 49000000
 *   slash of 20 * 0.07 STOS = 1.4 STOS at height 2: recorded fraction
 *            floor(1.4 * 10^36 / T) = 69999999999999999, T' = 18.6 STOS + 1
 *   block 2: F = 500000003, R = 490000003, S[4] = S[3] + floor(R * 10^18
 *            / T') = 75344086
 *   D1: floor((10 STOS + 1) * S[3] / 10^18) = 490000000, then the stake
 *       cut to floor((10 STOS + 1) * (10^18 - f) / 10^18) =
 *       9300000000000000010, capped at what the shares are worth now,
 *       9300000000000000000: floor(9.3 * 10^18 * (S[4] - S[3]) / 10^18)
 *       = 244999999. Total 734999999; the operator's is the same. */
static void test_f1_slash(void **state) {
  fix_t *f = *state;
  assert_int_equal(create_val(f, OPA, 10 * STOS, "0", STOS), 0);
  assert_int_equal(delegate(f, D1, OPA, 10 * STOS + 1), 0);
  assert_true(end_block(f, T0, NULL));
  fees(f, 1000000007);
  check_books(f);
  assert_true(pending(f, D1, OPA) == 490000000);

  f->c.height = 2;
  slash(f, OPA, 2, 20, MILLI(70), 14 * STOS / 10);
  assert_true(val(f, OPA).tokens == 186 * STOS / 10 + 1);
  /* The slash closed period 3 at the old tokens and recorded itself. */
  assert_true(ratio(f, OPA, 3) == 49000000);
  assert_true(cur_period(f, OPA, NULL) == 4);
  uint8_t k[1 + ST_ADDR_LEN + 16];
  const uint8_t *v;
  size_t n;
  st_chain__k1(k, ST_K_D_SLASH, addr(OPA));
  st_chain__be64(k + 1 + ST_ADDR_LEN, 2);
  st_chain__be64(k + 9 + ST_ADDR_LEN, 3);
  assert_int_equal(st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k, sizeof(k), &v, &n), 0);
  assert_int_equal(n, 16);
  assert_true(st_chain__get128(v) == (st_u128)69999999999999999ull);
  /* Period 3's rewards do not change with the slash. */
  assert_true(pending(f, D1, OPA) == 490000000);
  check_books(f);

  end_block(f, T0 + 1000, NULL);
  fees(f, 500000003);
  check_books(f);
  assert_true(pending(f, D1, OPA) == 734999999);
  assert_true(pending(f, OPA, OPA) == 734999999);
  assert_true(settle(f, D1, OPA) == 734999999);
  assert_true(ratio(f, OPA, 4) == 75344086);
  /* Started again at what the shares are worth after the slash. */
  st_u128 stake = 0;
  assert_true(start_of(f, D1, OPA, NULL, &stake, NULL));
  assert_true(stake == 93 * STOS / 10);
  assert_true(settle(f, OPA, OPA) == 734999999);
  assert_true(outstanding(f, OPA) == 1470000010 - 2 * 734999999);
  check_books(f);

  /* The slash keeps period 3 alive after every delegation moved on. */
  uint64_t kept[8];
  uint32_t refs;
  assert_int_equal(hist_periods(f, OPA, kept, 8), 3);
  assert_true(kept[0] == 3 && kept[1] == 4 && kept[2] == 5);
  assert_true(hist(f, OPA, 3, NULL, &refs) && refs == 1);
  assert_true(hist(f, OPA, 4, NULL, &refs) && refs == 1);
  assert_true(hist(f, OPA, 5, NULL, &refs) && refs == 2);
}

/* Two slashes in one block: two events, two periods closed, the stake
 * cut twice. OPA 10 STOS, D1 10 STOS (rate 0):
 *   block 1: R = 980000000, S[3] = 980000000 / 20 = 49000000
 *   slashes at height 2: 10% of power 20 (fraction 0.1, T = 18 STOS),
 *            then 10% of power 18 (fraction 0.1, T = 16.2 STOS); period
 *            4 closes empty: S[4] = S[3]
 *   block 2: R = 980000000, S[5] = S[4] + floor(R * 10^18 / 16.2 STOS)
 *            = 109493827
 *   D1: 10 * 49000000 + floor(8.1 * (S[5] - S[4])) = 490000000 +
 *       489999998 = 979999998 (the stake 10 -> 9 -> 8.1 STOS). */
static void test_f1_two_slashes(void **state) {
  fix_t *f = *state;
  assert_int_equal(create_val(f, OPA, 10 * STOS, "0", STOS), 0);
  assert_int_equal(delegate(f, D1, OPA, 10 * STOS), 0);
  assert_true(end_block(f, T0, NULL));
  fees(f, 1000000000);
  f->c.height = 2;
  slash(f, OPA, 2, 20, MILLI(100), 2 * STOS);
  slash(f, OPA, 2, 18, MILLI(100), 18 * STOS / 10);
  check_books(f);
  recs_t ev = scan(f, (const uint8_t[]){ST_K_D_SLASH}, 1);
  assert_int_equal(ev.n, 2);
  assert_true(st_chain__rd64(ev.r[0].key + 29) == 3 && st_chain__rd64(ev.r[1].key + 29) == 4);
  assert_true(st_chain__get128(ev.r[0].val) == MILLI(100));
  assert_true(st_chain__get128(ev.r[1].val) == MILLI(100));
  free(ev.r);
  assert_true(ratio(f, OPA, 4) == 49000000);
  end_block(f, T0 + 1000, NULL);
  fees(f, 1000000000);
  assert_true(pending(f, D1, OPA) == 979999998);
  assert_true(pending(f, OPA, OPA) == 979999998);
  assert_true(settle(f, D1, OPA) == 979999998);
  assert_true(settle(f, OPA, OPA) == 979999998);
  assert_true(outstanding(f, OPA) == 4);
  check_books(f);
}

/* Stakes 1:3 earn 1:3, within the rounding.
 * OPA 2 STOS, D1 1 STOS + 1, D2 3 STOS + 3: T = 6 STOS + 4.
 * F = 777777777, R = 762222222, S = floor(R * 10^18 / T) = 127037036:
 * D1 127037036, D2 381111108, OPA 254074072. */
static void test_rewards_proportional(void **state) {
  fix_t *f = *state;
  assert_int_equal(create_val(f, OPA, 2 * STOS, "0", STOS), 0);
  assert_int_equal(delegate(f, D1, OPA, STOS + 1), 0);
  assert_int_equal(delegate(f, D2, OPA, 3 * STOS + 3), 0);
  assert_true(end_block(f, T0, NULL));
  fees(f, 777777777);
  st_u128 r1 = pending(f, D1, OPA), r2 = pending(f, D2, OPA);
  assert_true(r1 == 127037036 && r2 == 381111108);
  assert_true(r2 >= 3 * r1 && r2 - 3 * r1 <= 2);
  assert_true(pending(f, OPA, OPA) == 254074072);
  /* Withdrawing every delegation (no validator named). */
  assert_int_equal(withdraw(f, D1, 0), 0);
  assert_int_equal(withdraw(f, D2, 0), 0);
  assert_true(bal_of(f, D1) == FUNDS - STOS - 1 + 127037036);
  assert_true(bal_of(f, D2) == FUNDS - 3 * STOS - 3 + 381111108);
  check_books(f);
  /* Nothing left to withdraw for a stranger. */
  snap_t before = snapshot(f);
  assert_int_equal(withdraw(f, D3, 0), ST_ENOENT);
  assert_string_equal(f->log, "no delegations to withdraw from");
  assert_int_equal(withdraw(f, D3, OPA), ST_ENOENT);
  assert_string_equal(f->log, "no delegation to that validator");
  assert_unchanged(f, &before);
  free(before.p);
}

/* The commission is paid only to the operator, exactly what accrued. */
static void test_commission(void **state) {
  fix_t *f = *state;
  assert_int_equal(create_val(f, OPA, 6 * STOS, "0.1", STOS), 0);
  assert_int_equal(create_val(f, OPB, 3 * STOS, "0.05", STOS), 0);
  assert_int_equal(delegate(f, OPA, OPB, STOS), 0); /* OPA also delegates to OPB */
  assert_true(end_block(f, T0, NULL));
  /* F = 1000000, tax 20000, R = 980000: OPA (power 6) 588000, OPB (4)
   * 392000; commissions 58800 and 19600; twice. */
  fees(f, 1000000);
  fees(f, 1000000);
  assert_true(commission(f, OPA) == 117600);
  assert_true(commission(f, OPB) == 39200);
  check_books(f);

  /* Naming another validator: its rewards there, not its commission. */
  st_u128 at_b = pending(f, OPA, OPB), b0 = bal_of(f, OPA);
  assert_int_equal(withdraw(f, OPA, OPB), 0);
  assert_true(bal_of(f, OPA) == b0 + at_b);
  assert_true(commission(f, OPA) == 117600);
  check_books(f);

  /* The call itself: pays the accrued commission, then nothing. */
  st_val_t a = val(f, OPA);
  st_u128 paid = 0, out0 = outstanding(f, OPA);
  b0 = bal_of(f, OPA);
  assert_int_equal(st_chain__distr_withdraw_commission(&f->c, &a, &paid), 0);
  assert_true(paid == 117600);
  assert_true(bal_of(f, OPA) == b0 + 117600);
  assert_true(outstanding(f, OPA) == out0 - 117600);
  assert_true(commission(f, OPA) == 0);
  assert_int_equal(st_chain__distr_withdraw_commission(&f->c, &a, &paid), 0);
  assert_true(paid == 0);
  check_books(f);

  /* The operator of OPB withdrawing everything: rewards and commission. */
  st_u128 own = pending(f, OPB, OPB);
  b0 = bal_of(f, OPB);
  assert_int_equal(withdraw(f, OPB, 0), 0);
  assert_true(bal_of(f, OPB) == b0 + own + 39200);
  assert_true(commission(f, OPB) == 0);
  check_books(f);
}

/* A validator with no tokens left cannot share a period's rewards: they
 * go to the community pool and leave its outstanding count. */
static void test_no_tokens_to_community(void **state) {
  fix_t *f = *state;
  bonded_val(f, OPA, 10 * STOS, "0");
  bonded_val(f, OPB, 10 * STOS, "0.1");
  slash(f, OPB, 1, 10, ST_DEC_ONE, 10 * STOS);
  assert_true(val(f, OPB).tokens == 0);
  /* Still in the recorded set: F = 2000000, R = 1960000, 980000 each,
   * OPB's commission 98000, its period 882000. */
  fees(f, 2000000);
  st_u128 r;
  cur_period(f, OPB, &r);
  assert_true(r == 882000);
  assert_true(outstanding(f, OPB) == 980000);
  st_u128 comm0 = pool(f, ST_MACC_COMMUNITY);
  assert_true(comm0 == 40000);
  check_books(f);
  /* The operator's settlement closes the period: 882000 to the community,
   * nothing to the delegation, the commission to the operator. */
  st_u128 b0 = bal_of(f, OPB);
  assert_int_equal(withdraw(f, OPB, OPB), 0);
  assert_true(bal_of(f, OPB) == b0 + 98000);
  assert_true(pool(f, ST_MACC_COMMUNITY) == comm0 + 882000);
  assert_true(outstanding(f, OPB) == 0);
  check_books(f);
}

/* ---- conservation ---- */

/* Every step: the books balance, and the supply plus the burnt wei is
 * the genesis total. */
static void test_conservation(void **state) {
  fix_t *f = *state;
  assert_int_equal(create_val(f, OPA, 30 * STOS, "0.1", STOS), 0);
  assert_int_equal(create_val(f, OPB, 20 * STOS, "0.05", STOS), 0);
  assert_int_equal(create_val(f, OPC, 10 * STOS, "0", STOS), 0);
  assert_int_equal(create_val(f, OPD, STOS / 2, "0", STOS / 1000), 0); /* never bonded */
  check_books(f);
  assert_true(end_block(f, T0, NULL));
  check_books(f);
  assert_int_equal(delegate(f, D1, OPA, 5 * STOS), 0);
  assert_int_equal(delegate(f, D2, OPB, 7 * STOS), 0);
  assert_int_equal(delegate(f, D3, OPD, 2 * STOS), 0);
  check_books(f);
  fees(f, 1234567891);
  check_books(f);
  end_block(f, T0, NULL);
  check_books(f);

  /* Height 2: unbond, redelegate, unbond from an unbonded validator. */
  f->c.height = 2;
  f->c.time_ms = T0 + 1000;
  assert_int_equal(undelegate(f, D1, OPA, 2 * STOS), 0);
  check_books(f);
  assert_int_equal(redelegate(f, D2, OPB, OPC, 3 * STOS), 0);
  check_books(f);
  assert_int_equal(undelegate(f, D3, OPD, STOS), 0);
  check_books(f);
  fees(f, 98765431);
  check_books(f);
  end_block(f, T0 + 1000, NULL);
  check_books(f);

  /* Height 3: OPA slashed 5% of power 33 for height 2 (the entry of D1
   * pays 0.1 STOS of it), OPB 1% of power 27 (the redelegation to OPC
   * 0.03 STOS of it, in OPC shares worth exactly that). */
  f->c.height = 3;
  f->c.time_ms = T0 + 2000;
  slash(f, OPA, 2, 33, MILLI(50), 165 * STOS / 100);
  check_books(f);
  slash(f, OPB, 2, 27, MILLI(10), 27 * STOS / 100);
  check_books(f);
  recs_t u = ubds(f, D1, OPA);
  assert_true(ubd_at(&u, 0).balance == 19 * STOS / 10);
  free(u.r);
  assert_true(shares_of(f, D2, OPC) == 3 * STOS - 3 * STOS / 100);
  fees(f, 555555555);
  check_books(f);
  end_block(f, T0 + 2000, NULL);
  check_books(f);

  /* Everyone withdraws. */
  const int who[] = {D1, D2, D3, OPA, OPB, OPC, OPD};
  for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
    assert_int_equal(withdraw(f, who[i], 0), 0);
    check_books(f);
  }
  /* Everything matures. */
  st_u128 d1 = bal_of(f, D1);
  end_block(f, T0 + 1000 + UNBOND_MS, NULL);
  assert_true(bal_of(f, D1) == d1 + 19 * STOS / 10);
  assert_int_equal(count_kind(f, ST_K_UBD), 0);
  assert_int_equal(count_kind(f, ST_K_RED), 0);
  check_books(f);
  /* A last block of fees and a full unbonding of D2 from OPC. */
  fees(f, 7);
  f->c.height = 4;
  f->c.time_ms = T0 + 1000 + UNBOND_MS;
  st_val_t c = val(f, OPC);
  st_u128 worth = st_chain__val_tokens_of(&c, shares_of(f, D2, OPC));
  assert_int_equal(undelegate(f, D2, OPC, worth), 0);
  assert_true(shares_of(f, D2, OPC) == 0);
  check_books(f);
  end_block(f, T0 + 1000 + 2 * UNBOND_MS, NULL);
  check_books(f);
  assert_true(f->burnt == 165 * STOS / 100 + 27 * STOS / 100);
  assert_true(supply(f) == 10 * FUNDS - f->burnt);
}

int main(void) {
  st_log_set_level(ST_LOG_OFF);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_fee_split, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_f1_two_periods, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_f1_slash, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_f1_two_slashes, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_rewards_proportional, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_commission, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_no_tokens_to_community, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_conservation, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
