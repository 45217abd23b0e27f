/* Unit tests of the application callbacks, called the way the consensus
 * engine calls them: finalize gives exact balances and nonces and pays
 * the fees to the proposer's account, app hashes are deterministic and
 * follow every wei, validate refuses bad blocks without changing state
 * and skips signatures already verified, and propose -> validate ->
 * finalize -> committed empties the mempool of what was included. */
#include "chain_test.h"

#define U128_MAX (~(st_u128)0)

typedef struct fix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain_t ch;
} fix_t;

static void open_chain(fix_t *f, st_u128 extra) {
  st_chain__genesis_t g;
  t_open_store(f->dir, sizeof(f->dir), &f->s);
  t_genesis(6, &g);
  g.accts[0].balance += extra;
  assert_int_equal(st_chain__open(&f->ch, f->s, NULL, &g), 0);
}

static void close_chain(fix_t *f) {
  st_chain__close(&f->ch);
  st_store_close(f->s);
  t_remove_tree(f->dir);
}

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof(*f));
  open_chain(f, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  close_chain(f);
  free(f);
  return 0;
}

/* The proposer of every test block: the validator's node address. */
static void proposer(uint8_t addr[ST_ADDR_LEN]) {
  st_keypair_t kp;
  t_key(7, &kp, addr);
}

typedef struct out {
  uint8_t app_hash[ST_HASH_LEN];
  uint8_t results_hash[ST_HASH_LEN];
} out_t;

/* Finalizes and commits a block of n txs at height, as the engine would. */
static int finalize(fix_t *f, int64_t height, st_buf_t *txs, size_t n, out_t *o) {
  const uint8_t *ptrs[64];
  size_t lens[64];
  uint8_t bh[ST_HASH_LEN], prop[ST_ADDR_LEN];
  assert_true(n <= 64);
  for (size_t i = 0; i < n; i++) {
    ptrs[i] = txs[i].data;
    lens[i] = txs[i].len;
  }
  memset(bh, (int)height, sizeof(bh));
  proposer(prop);
  st_cons_block_t b = {.height = height, .time_ms = 1795000000000LL + height * 1000,
                       .hash = bh, .proposer = prop, .ntxs = n, .txs = ptrs, .tx_lens = lens};
  st_txn_t *txn;
  st_cons_valset_t next = {0};
  bool changed = true;
  out_t tmp;
  if (!o)
    o = &tmp;
  assert_int_equal(st_txn_begin(f->s, true, &txn), 0);
  int rc = st_chain__app_finalize(&f->ch, txn, &b, o->app_hash, o->results_hash, &next,
                                  &changed);
  if (rc != 0) {
    st_txn_abort(txn);
    return rc;
  }
  assert_false(changed);
  assert_int_equal(st_txn_commit(txn), 0);
  st_chain__app_committed(&f->ch, height);
  return 0;
}

static int validate(fix_t *f, st_buf_t *txs, size_t n) {
  const uint8_t *ptrs[64];
  size_t lens[64];
  for (size_t i = 0; i < n; i++) {
    ptrs[i] = txs[i].data;
    lens[i] = txs[i].len;
  }
  return st_chain__app_validate(&f->ch, 1, n, ptrs, lens);
}

static void free_txs(st_buf_t *txs, size_t n) {
  for (size_t i = 0; i < n; i++)
    st_buf_free(&txs[i]);
}

static void test_finalize_transfers(void **state) {
  fix_t *f = *state;
  st_buf_t txs[3];
  t_send(0, 1, 0, 1000, &txs[0]);
  t_send(0, 2, 1, 2000, &txs[1]);
  t_send(1, 0, 0, 500, &txs[2]);
  st_u128 f0 = t_fee_of(&txs[0]), f1 = t_fee_of(&txs[1]), f2 = t_fee_of(&txs[2]);
  out_t o;
  assert_int_equal(finalize(f, 1, txs, 3, &o), 0);
  st_chain__acct_t a0 = t_acct_of(&f->ch.st, 0), a1 = t_acct_of(&f->ch.st, 1),
                   a2 = t_acct_of(&f->ch.st, 2), a3 = t_acct_of(&f->ch.st, 3),
                   pr = t_acct_of(&f->ch.st, 7);
  assert_true(a0.balance == T_BALANCE - 1000 - f0 - 2000 - f1 + 500);
  assert_int_equal(a0.nonce, 2);
  assert_true(a1.balance == T_BALANCE + 1000 - 500 - f2);
  assert_int_equal(a1.nonce, 1);
  assert_true(a2.balance == T_BALANCE + 2000);
  assert_int_equal(a2.nonce, 0);
  assert_true(a3.balance == T_BALANCE);
  /* The fees went to the distribution: the community tax (1%) to the
   * community pool, the rest owed to the one validator. */
  st_u128 fees = f0 + f1 + f2, tax = fees / 100;
  st_chain__acct_t dist = t_acct(&f->ch.st, st_chain__macc(ST_MACC_DISTR)),
                   comm = t_acct(&f->ch.st, st_chain__macc(ST_MACC_COMMUNITY));
  assert_true(comm.balance == tax);
  assert_true(dist.balance == fees - tax);
  assert_true(pr.balance == 0);
  /* Nothing was created from nothing. */
  st_u128 total = a0.balance + a1.balance + a2.balance + dist.balance + comm.balance;
  assert_true(total == 3 * T_BALANCE);

  /* Results: stored per height, hashed, and each tx indexed. */
  st_txn_t *txn;
  const void *v;
  size_t n;
  uint8_t hk[8], prev_app[ST_HASH_LEN];
  int64_t h;
  st_chain__be64(hk, 1);
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  assert_int_equal(st_kv_get(txn, f->ch.st.results, hk, 8, &v, &n), 0);
  uint8_t rh[ST_HASH_LEN];
  st_hash(ST_DOM_TX_RESULTS, v, n, rh);
  assert_memory_equal(rh, o.results_hash, ST_HASH_LEN);
  size_t off = 0;
  for (int i = 0; i < 3; i++) {
    uint32_t rl = st_chain__rd32((const uint8_t *)v + off);
    int code;
    char log[64];
    st_u128 fee;
    assert_int_equal(st_chain__result_decode((const uint8_t *)v + off + 4, rl, &code, log,
                                             sizeof(log), &fee), 0);
    assert_int_equal(code, 0);
    assert_string_equal(log, "");
    assert_true(fee == t_fee_of(&txs[i]));
    off += 4 + rl;
  }
  assert_int_equal(off, n);
  for (int i = 0; i < 3; i++) {
    uint8_t th[ST_HASH_LEN];
    st_chain_tx_hash(txs[i].data, txs[i].len, th);
    assert_int_equal(st_kv_get(txn, f->ch.st.txidx, th, ST_HASH_LEN, &v, &n), 0);
    const uint8_t *p = v;
    assert_int_equal(st_chain__rd64(p), 1);
    assert_int_equal(st_chain__rd32(p + 8), (uint32_t)i);
    uint32_t rl = st_chain__rd32(p + 12);
    assert_int_equal(n, 16 + rl + txs[i].len);
    assert_memory_equal(p + 16 + rl, txs[i].data, txs[i].len);
  }
  assert_int_equal(st_chain__meta_get(&f->ch.st, txn, &h, prev_app), 0);
  st_txn_abort(txn);
  assert_int_equal(h, 1);
  assert_memory_equal(prev_app, o.app_hash, ST_HASH_LEN);
  free_txs(txs, 3);
}

static void test_finalize_failed_tx(void **state) {
  fix_t *f = *state;
  /* A block that skipped validation: its second tx has a nonce gap. */
  st_buf_t txs[3];
  t_send(0, 1, 0, 1000, &txs[0]);
  t_send(2, 1, 5, 1000, &txs[1]);
  uint8_t junk[40];
  memset(junk, 0x33, sizeof(junk));
  st_buf_init(&txs[2], 1 << 20);
  assert_int_equal(st_buf_append(&txs[2], junk, sizeof(junk)), 0);
  assert_int_equal(finalize(f, 1, txs, 3, NULL), 0);
  st_chain__acct_t a2 = t_acct_of(&f->ch.st, 2), pr = t_acct_of(&f->ch.st, 7);
  assert_true(a2.balance == T_BALANCE);
  assert_int_equal(a2.nonce, 0);
  st_chain__acct_t dist = t_acct(&f->ch.st, st_chain__macc(ST_MACC_DISTR)),
                   comm = t_acct(&f->ch.st, st_chain__macc(ST_MACC_COMMUNITY));
  assert_true(pr.balance == 0);
  assert_true(dist.balance + comm.balance == t_fee_of(&txs[0]));
  json_t *res = NULL;
  char err[256];
  assert_int_equal(st_chain__q_block_results(&f->ch, NULL, &res, err, sizeof(err)), 0);
  json_t *list = json_object_get(res, "txs_results");
  assert_int_equal(json_array_size(list), 3);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "code")), 0);
  json_t *r1 = json_array_get(list, 1);
  assert_int_equal(json_integer_value(json_object_get(r1, "code")), ST_EAGAIN);
  assert_string_equal(json_string_value(json_object_get(r1, "log")), "nonce 5 expected 0");
  assert_string_equal(json_string_value(json_object_get(r1, "fee")), "0");
  json_t *r2 = json_array_get(list, 2);
  assert_int_equal(json_integer_value(json_object_get(r2, "code")), ST_EPARSE);
  json_decref(res);
  free_txs(txs, 3);
}

static void test_finalize_height_mismatch(void **state) {
  fix_t *f = *state;
  assert_int_equal(finalize(f, 2, NULL, 0, NULL), ST_ECORRUPT);
  assert_int_equal(finalize(f, 1, NULL, 0, NULL), 0);
  assert_int_equal(finalize(f, 1, NULL, 0, NULL), ST_ECORRUPT);
  assert_int_equal(finalize(f, 2, NULL, 0, NULL), 0);
}

/* Runs three fixed blocks; amount2 is the amount of the block-2 tx. */
static void run_blocks(fix_t *f, st_u128 amount2, out_t o[4]) {
  st_buf_t b1[2], b2[1];
  t_send(0, 1, 0, 111, &b1[0]);
  t_send(3, 4, 0, 222, &b1[1]);
  t_send(1, 0, 0, amount2, &b2[0]);
  assert_int_equal(finalize(f, 1, b1, 2, &o[0]), 0);
  assert_int_equal(finalize(f, 2, b2, 1, &o[1]), 0);
  assert_int_equal(finalize(f, 3, NULL, 0, &o[2]), 0);
  memcpy(o[3].app_hash, f->ch.genesis_app_hash, ST_HASH_LEN);
  free_txs(b1, 2);
  free_txs(b2, 1);
}

static void test_app_hash_deterministic(void **state) {
  (void)state;
  fix_t *x = calloc(1, sizeof(*x)), *y = calloc(1, sizeof(*y)), *z = calloc(1, sizeof(*z)),
        *w = calloc(1, sizeof(*w));
  out_t ox[4], oy[4], oz[4], ow[4];
  open_chain(x, 0);
  open_chain(y, 0);
  open_chain(z, 0);
  open_chain(w, 1); /* one wei more in one genesis account */
  run_blocks(x, 333, ox);
  run_blocks(y, 333, oy);
  run_blocks(z, 334, oz);
  run_blocks(w, 333, ow);
  /* Same genesis, same blocks: same hashes, height by height. */
  for (int i = 0; i < 4; i++) {
    assert_memory_equal(ox[i].app_hash, oy[i].app_hash, ST_HASH_LEN);
    if (i < 3)
      assert_memory_equal(ox[i].results_hash, oy[i].results_hash, ST_HASH_LEN);
  }
  /* Every block moves the app hash, even an empty one. */
  assert_memory_not_equal(ox[0].app_hash, ox[3].app_hash, ST_HASH_LEN);
  assert_memory_not_equal(ox[1].app_hash, ox[0].app_hash, ST_HASH_LEN);
  assert_memory_not_equal(ox[2].app_hash, ox[1].app_hash, ST_HASH_LEN);
  /* One wei of difference in block 2 changes height 2 and everything after. */
  assert_memory_equal(ox[0].app_hash, oz[0].app_hash, ST_HASH_LEN);
  assert_memory_not_equal(ox[1].app_hash, oz[1].app_hash, ST_HASH_LEN);
  assert_memory_not_equal(ox[2].app_hash, oz[2].app_hash, ST_HASH_LEN);
  /* One wei of difference at genesis changes every hash. */
  for (int i = 0; i < 4; i++)
    assert_memory_not_equal(ox[i].app_hash, ow[i].app_hash, ST_HASH_LEN);
  close_chain(x);
  close_chain(y);
  close_chain(z);
  close_chain(w);
  free(x);
  free(y);
  free(z);
  free(w);
}

static void test_validate(void **state) {
  fix_t *f = *state;
  st_buf_t ok[3];
  t_send(0, 1, 0, 1000, &ok[0]);
  t_send(0, 1, 1, 1000, &ok[1]);
  /* Key 1 spends more than it has, counting on what it receives first. */
  t_send(1, 2, 0, T_BALANCE + 1500, &ok[2]);
  assert_int_equal(validate(f, ok + 2, 1), ST_EPERM);
  assert_int_equal(validate(f, ok, 3), 0);
  /* Nothing changed. */
  st_chain__acct_t a0 = t_acct_of(&f->ch.st, 0);
  assert_true(a0.balance == T_BALANCE);
  assert_int_equal(a0.nonce, 0);
  assert_int_equal(validate(f, NULL, 0), 0);

  st_buf_t bad[2];
  /* A nonce gap. */
  bad[0] = ok[0];
  t_send(0, 1, 2, 10, &bad[1]);
  assert_int_equal(validate(f, bad, 2), ST_EAGAIN);
  st_buf_free(&bad[1]);
  /* The same tx twice. */
  bad[1] = ok[0];
  assert_int_equal(validate(f, bad, 2), ST_EEXIST);
  /* A bad signature. */
  t_send(2, 1, 0, 10, &bad[1]);
  bad[1].data[bad[1].len - 3] ^= 4;
  assert_int_equal(validate(f, bad, 2), ST_EBADSIG);
  st_buf_free(&bad[1]);
  /* Undecodable; insufficient balance. */
  st_buf_init(&bad[1], 1 << 20);
  assert_int_equal(st_buf_append(&bad[1], "\x0a\x05xx", 4), 0);
  assert_int_equal(validate(f, bad, 2), ST_EPARSE);
  st_buf_free(&bad[1]);
  t_send(3, 1, 0, T_BALANCE, &bad[1]);
  assert_int_equal(validate(f, bad, 2), ST_EPERM);
  st_buf_free(&bad[1]);
  /* Replay of a committed tx. */
  assert_int_equal(finalize(f, 1, ok, 1, NULL), 0);
  assert_int_equal(validate(f, ok, 1), ST_EEXIST);
  assert_int_equal(validate(f, ok + 1, 2), 0);
  /* More txs than a block may hold. */
  f->ch.gen.p.cons.max_block_txs = 1;
  assert_int_equal(validate(f, ok + 1, 2), ST_E2BIG);
  free_txs(ok, 3);
}

static void on_check(void *ud, int code, const char *log, const uint8_t hash[ST_HASH_LEN],
                     const uint8_t *peer) {
  (void)hash;
  (void)peer;
  if (code != 0)
    fail_msg("refused: %s", log);
  (*(int *)ud)++;
}

static uint64_t sig_checks(fix_t *f) {
  st_chain__mempool_stats_t s;
  st_chain__mempool_stats(f->ch.mp, &s);
  return s.sig_checks;
}

static void test_validate_skips_verified(void **state) {
  fix_t *f = *state;
  st_buf_t txs[2];
  int accepted = 0;
  t_send(0, 1, 0, 10, &txs[0]);
  t_send(1, 0, 0, 10, &txs[1]);
  st_chain__mempool_submit(f->ch.mp, txs[0].data, txs[0].len, NULL, on_check, &accepted);
  assert_int_equal(accepted, 1);
  assert_int_equal(sig_checks(f), 1);
  /* In the mempool: validated without a second check. */
  assert_int_equal(validate(f, txs, 1), 0);
  assert_int_equal(sig_checks(f), 1);
  /* Not seen before: checked once, then remembered. */
  assert_int_equal(validate(f, txs, 2), 0);
  assert_int_equal(sig_checks(f), 2);
  assert_int_equal(validate(f, txs, 2), 0);
  assert_int_equal(finalize(f, 1, txs, 2, NULL), 0);
  assert_int_equal(sig_checks(f), 2);
  free_txs(txs, 2);
}

static void test_propose_to_commit(void **state) {
  fix_t *f = *state;
  /* Three senders; the third has a gap after its nonce 0. */
  st_buf_t txs[6];
  int accepted = 0;
  t_send(0, 6, 0, 100, &txs[0]);
  t_send(1, 6, 0, 100, &txs[1]);
  t_send(0, 6, 1, 100, &txs[2]);
  t_send(2, 6, 0, 100, &txs[3]);
  t_send(2, 6, 2, 100, &txs[4]);
  t_send(1, 6, 1, 100, &txs[5]);
  for (int i = 0; i < 6; i++)
    st_chain__mempool_submit(f->ch.mp, txs[i].data, txs[i].len, NULL, on_check, &accepted);
  assert_int_equal(accepted, 6);
  assert_true(st_chain__app_has_txs(&f->ch));
  st_cons_txlist_t l = {0};
  assert_int_equal(st_chain__app_propose(&f->ch, 1, 1 << 20, 100, &l), 0);
  assert_int_equal(l.n, 5);
  /* Arrival order, each sender in nonce order, the gapped tx left out. */
  int order[5] = {0, 1, 2, 3, 5};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(l.lens[i], txs[order[i]].len);
    assert_memory_equal(l.txs[i], txs[order[i]].data, l.lens[i]);
  }
  assert_int_equal(st_chain__app_validate(&f->ch, 1, l.n, (const uint8_t *const *)l.txs,
                                          l.lens), 0);
  st_buf_t blk[5];
  for (int i = 0; i < 5; i++)
    blk[i] = txs[order[i]];
  assert_int_equal(finalize(f, 1, blk, 5, NULL), 0);
  st_cons_txlist_free(&l);
  /* Only the gapped tx is left, and it is not ready. */
  st_chain__mempool_stats_t s;
  st_chain__mempool_stats(f->ch.mp, &s);
  assert_int_equal(s.txs, 1);
  assert_int_equal(s.bytes, txs[4].len);
  assert_false(st_chain__app_has_txs(&f->ch));
  memset(&l, 0, sizeof(l));
  assert_int_equal(st_chain__app_propose(&f->ch, 2, 1 << 20, 100, &l), 0);
  assert_int_equal(l.n, 0);
  st_cons_txlist_free(&l);
  st_chain__acct_t a6 = t_acct_of(&f->ch.st, 6);
  assert_true(a6.balance == 500);
  free_txs(txs, 6);
}

int main(void) {
  st_crypto_init();
  st_log_set_level(ST_LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_finalize_transfers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_finalize_failed_tx, setup, teardown),
    cmocka_unit_test_setup_teardown(test_finalize_height_mismatch, setup, teardown),
    cmocka_unit_test(test_app_hash_deterministic),
    cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
    cmocka_unit_test_setup_teardown(test_validate_skips_verified, setup, teardown),
    cmocka_unit_test_setup_teardown(test_propose_to_commit, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
