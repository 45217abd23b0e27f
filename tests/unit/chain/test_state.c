/* Unit tests of the account state: genesis applied once and bound to its
 * store, the overlay blocks run against, tx execution to the wei, and the
 * app hash formula. */
#include "chain_test.h"

typedef struct fix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain__genesis_t g;
  st_chain__state_t st;
  uint8_t gh[ST_HASH_LEN];
} fix_t;

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof(*f));
  t_open_store(f->dir, sizeof(f->dir), &f->s);
  t_genesis(4, &f->g);
  assert_int_equal(st_chain__state_open(&f->st, f->s, &f->g, f->gh), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  st_chain__genesis_free(&f->g);
  st_store_close(f->s);
  t_remove_tree(f->dir);
  free(f);
  return 0;
}

static void test_genesis_applied(void **state) {
  fix_t *f = *state;
  for (int k = 0; k < 4; k++) {
    st_chain__acct_t a = t_acct_of(&f->st, k);
    assert_true(a.balance == T_BALANCE);
    assert_int_equal(a.nonce, 0);
  }
  st_chain__acct_t none = t_acct_of(&f->st, 5);
  assert_true(none.balance == 0);
  assert_int_equal(none.nonce, 0);
  /* The genesis app hash is the commit hash of the genesis state written
   * over zero bytes, and what the store recorded. */
  uint8_t want[ST_HASH_LEN];
  assert_int_equal(st_chain__genesis_app_hash(&f->g, want), 0);
  assert_memory_equal(f->gh, want, ST_HASH_LEN);
  /* The genesis validators' stake sits in the bonded pool. */
  st_chain__acct_t pool = t_acct(&f->st, st_chain__macc(ST_MACC_BONDED));
  st_u128 bonded = 0;
  for (size_t i = 0; i < f->g.valset.n; i++)
    bonded += (st_u128)f->g.valset.v[i].power * ST_POWER_REDUCTION;
  assert_true(bonded > 0);
  assert_true(pool.balance == bonded);
  st_txn_t *txn;
  int64_t h;
  uint8_t ah[ST_HASH_LEN];
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  assert_int_equal(st_chain__meta_get(&f->st, txn, &h, ah), 0);
  st_txn_abort(txn);
  assert_int_equal(h, 0);
  assert_memory_equal(ah, want, ST_HASH_LEN);
}

static void test_reopen(void **state) {
  fix_t *f = *state;
  /* Change an account; opening again must not write the genesis again. */
  st_keypair_t kp;
  uint8_t a0[ST_ADDR_LEN];
  t_key(0, &kp, a0);
  st_txn_t *txn;
  st_chain__acct_t a = {77, 9};
  uint8_t v[ST_CHAIN__ACCT_LEN];
  st_chain__acct_encode(&a, v);
  assert_int_equal(st_txn_begin(f->s, true, &txn), 0);
  assert_int_equal(st_kv_put(txn, f->st.acct, a0, ST_ADDR_LEN, v, sizeof(v)), 0);
  assert_int_equal(st_txn_commit(txn), 0);
  st_chain__state_t st2;
  uint8_t gh2[ST_HASH_LEN];
  assert_int_equal(st_chain__state_open(&st2, f->s, &f->g, gh2), 0);
  assert_memory_equal(gh2, f->gh, ST_HASH_LEN);
  st_chain__acct_t b = t_acct(&st2, a0);
  assert_true(b.balance == 77);
  assert_int_equal(b.nonce, 9);
  /* Another genesis (one wei more somewhere) does not fit this store. */
  st_chain__genesis_t other;
  t_genesis(4, &other);
  other.accts[2].balance += 1;
  assert_int_equal(st_chain__state_open(&st2, f->s, &other, gh2), ST_ECONFIG);
  assert_memory_not_equal(gh2, f->gh, ST_HASH_LEN);
  st_chain__genesis_free(&other);
}

static void load_tx(int from, int to, uint64_t nonce, st_u128 amount, st_buf_t *buf,
                    st_chain__tx_t *t) {
  t_send(from, to, nonce, amount, buf);
  st_chain__params_t p = {0};
  st_chain__params_defaults(&p);
  snprintf(p.chain_id, sizeof(p.chain_id), "%s", T_CHAIN_ID);
  p.min_fee_per_byte = T_MIN_FEE;
  char log[ST_CHAIN__LOG_MAX];
  assert_int_equal(st_chain__tx_check(&p, buf->data, buf->len, t, log, sizeof(log)), 0);
}

static void test_exec_and_commit(void **state) {
  fix_t *f = *state;
  st_buf_t b1, b2, b3;
  st_chain__tx_t t1, t2, t3;
  load_tx(0, 1, 0, 1000, &b1, &t1);
  load_tx(0, 5, 1, 250, &b2, &t2);  /* to an account that does not exist yet */
  load_tx(2, 2, 0, 999, &b3, &t3);  /* to itself: pays only the fee */
  st_txn_t *txn;
  st_chain__overlay_t ov;
  char log[ST_CHAIN__LOG_MAX];
  st_chain__ctx_t cx;
  assert_int_equal(st_txn_begin(f->s, true, &txn), 0);
  st_chain__ov_init(&ov, &f->st, txn);
  memset(&cx, 0, sizeof(cx));
  cx.ov = &ov;
  cx.p = &f->g.p;
  cx.height = 1;
  cx.log = log;
  cx.logcap = sizeof(log);
  assert_int_equal(st_chain__tx_exec(&cx, &t1, b1.data), 0);
  assert_int_equal(st_chain__tx_exec(&cx, &t2, b2.data), 0);
  assert_int_equal(st_chain__tx_exec(&cx, &t3, b3.data), 0);
  /* Refusals leave the overlay as it was. */
  st_chain__acct_t before, after;
  assert_int_equal(st_chain__ov_get(&ov, t1.sender, &before), 0);
  assert_int_equal(st_chain__tx_exec(&cx, &t1, b1.data), ST_EEXIST);
  assert_string_equal(log, "nonce 0 expected 2 (already used)");
  st_buf_t b4;
  st_chain__tx_t t4;
  load_tx(0, 1, 3, 1, &b4, &t4);
  assert_int_equal(st_chain__tx_exec(&cx, &t4, b4.data), ST_EAGAIN);
  assert_string_equal(log, "nonce 3 expected 2");
  st_buf_free(&b4);
  load_tx(0, 1, 2, T_BALANCE, &b4, &t4);
  assert_int_equal(st_chain__tx_exec(&cx, &t4, b4.data), ST_EPERM);
  assert_non_null(strstr(log, "insufficient balance: have "));
  assert_int_equal(st_chain__ov_get(&ov, t1.sender, &after), 0);
  assert_true(before.balance == after.balance && before.nonce == after.nonce);
  st_buf_free(&b4);

  uint8_t prev[ST_HASH_LEN], ah[ST_HASH_LEN];
  memset(prev, 0xab, sizeof(prev));
  assert_int_equal(st_chain__ov_commit(&ov, prev, ah), 0);
  st_chain__ov_free(&ov);
  assert_int_equal(st_txn_commit(txn), 0);

  st_u128 f1 = t_fee_of(&b1), f2 = t_fee_of(&b2), f3 = t_fee_of(&b3);
  st_chain__acct_t a0 = t_acct_of(&f->st, 0), a1 = t_acct_of(&f->st, 1),
                   a2 = t_acct_of(&f->st, 2), a5 = t_acct_of(&f->st, 5);
  assert_true(a0.balance == T_BALANCE - 1000 - f1 - 250 - f2);
  assert_int_equal(a0.nonce, 2);
  assert_true(a1.balance == T_BALANCE + 1000);
  assert_int_equal(a1.nonce, 0);
  assert_true(a2.balance == T_BALANCE - f3);
  assert_int_equal(a2.nonce, 1);
  assert_true(a5.balance == 250);
  assert_int_equal(a5.nonce, 0);
  /* The fees wait in the distribution account for the end of the block. */
  st_chain__acct_t dist = t_acct(&f->st, st_chain__macc(ST_MACC_DISTR));
  assert_true(dist.balance == f1 + f2 + f3);
  assert_true(cx.fees == f1 + f2 + f3);

  /* The app hash, by hand: prev, the count and the five changed accounts
   * in address order (the four of the txs and the distribution account),
   * then a zero count of module records. */
  struct {
    uint8_t addr[ST_ADDR_LEN];
    st_chain__acct_t a;
  } ch[5];
  int keys[4] = {0, 1, 2, 5};
  st_chain__acct_t vals[4] = {a0, a1, a2, a5};
  for (int i = 0; i < 4; i++) {
    st_keypair_t kp;
    t_key(keys[i], &kp, ch[i].addr);
    ch[i].a = vals[i];
  }
  memcpy(ch[4].addr, st_chain__macc(ST_MACC_DISTR), ST_ADDR_LEN);
  ch[4].a = dist;
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++)
      if (memcmp(ch[j].addr, ch[i].addr, ST_ADDR_LEN) < 0) {
        __typeof__(ch[0]) tmp = ch[i];
        ch[i] = ch[j];
        ch[j] = tmp;
      }
  st_hash_ctx_t c;
  st_hash_init(&c, ST_DOM_STATE);
  st_hash_update(&c, prev, ST_HASH_LEN);
  static const uint8_t five[4] = {0, 0, 0, 5}, none[4] = {0, 0, 0, 0};
  st_hash_update(&c, five, 4);
  for (int i = 0; i < 5; i++) {
    uint8_t v[ST_CHAIN__ACCT_LEN];
    st_chain__acct_encode(&ch[i].a, v);
    st_hash_update(&c, ch[i].addr, ST_ADDR_LEN);
    st_hash_update(&c, v, sizeof(v));
  }
  st_hash_update(&c, none, 4);
  uint8_t want[ST_HASH_LEN];
  st_hash_final(&c, want);
  assert_memory_equal(ah, want, ST_HASH_LEN);
  st_buf_free(&b1);
  st_buf_free(&b2);
  st_buf_free(&b3);
}

static void test_overlay_grows(void **state) {
  fix_t *f = *state;
  st_txn_t *txn;
  st_chain__overlay_t ov;
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  st_chain__ov_init(&ov, &f->st, txn);
  /* Many accounts: the table grows and every value stays where it was put. */
  for (uint32_t i = 0; i < 5000; i++) {
    uint8_t a[ST_HASH_LEN];
    st_hash(ST_DOM_STATE, &i, sizeof(i), a);
    st_chain__acct_t x = {(st_u128)i * 7, i};
    assert_int_equal(st_chain__ov_put(&ov, a, &x), 0);
  }
  for (uint32_t i = 0; i < 5000; i++) {
    uint8_t a[ST_HASH_LEN];
    st_hash(ST_DOM_STATE, &i, sizeof(i), a);
    st_chain__acct_t x;
    assert_int_equal(st_chain__ov_get(&ov, a, &x), 0);
    assert_true(x.balance == (st_u128)i * 7);
    assert_int_equal(x.nonce, i);
  }
  assert_int_equal(ov.n, 5000);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
}

static void test_acct_codec(void **state) {
  (void)state;
  st_chain__acct_t a = {~(st_u128)0 - 5, 0x0102030405060708ull}, b;
  uint8_t v[ST_CHAIN__ACCT_LEN];
  st_chain__acct_encode(&a, v);
  assert_int_equal(v[0], 0xff);
  assert_int_equal(v[15], 0xfa);
  assert_int_equal(v[16], 0x01);
  assert_int_equal(v[23], 0x08);
  st_chain__acct_decode(v, &b);
  assert_true(a.balance == b.balance);
  assert_int_equal(a.nonce, b.nonce);
}

int main(void) {
  st_crypto_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_genesis_applied, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
    cmocka_unit_test_setup_teardown(test_exec_and_commit, setup, teardown),
    cmocka_unit_test_setup_teardown(test_overlay_grows, setup, teardown),
    cmocka_unit_test(test_acct_codec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
