/* Unit tests of the mempool: CheckTx refusals with their exact codes and
 * an untouched pool, bounds, the cache of seen hashes (no signature is
 * checked twice), per-sender nonce order in proposals, the recheck after
 * a commit, and signature checks on the thread pool. */
#include <uv.h>
#include "chain_test.h"

#define MAXR 1024

typedef struct result {
  int code;
  char log[ST_CHAIN__LOG_MAX];
} result_t;

typedef struct fix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain__genesis_t g;
  st_chain__state_t st;
  uint8_t gh[ST_HASH_LEN];
  st_chain__mempool_t *mp;
  uv_loop_t loop;
  bool async;
  result_t res[MAXR];
  size_t nres;
  size_t added;
  size_t added_bytes;
} fix_t;

static void on_check(void *ud, int code, const char *log, const uint8_t hash[ST_HASH_LEN],
                     const uint8_t *peer) {
  fix_t *f = ud;
  (void)hash;
  (void)peer;
  assert_true(f->nres < MAXR);
  f->res[f->nres].code = code;
  snprintf(f->res[f->nres].log, sizeof(f->res[0].log), "%s", log);
  f->nres++;
}

static void on_added(void *ud, const uint8_t *tx, size_t len, const uint8_t *peer) {
  fix_t *f = ud;
  (void)tx;
  (void)peer;
  f->added++;
  f->added_bytes += len;
}

static void open_fix(fix_t *f, bool async, size_t max_txs, size_t max_bytes) {
  t_open_store(f->dir, sizeof(f->dir), &f->s);
  t_genesis(6, &f->g);
  if (max_txs)
    f->g.p.max_txs = max_txs;
  if (max_bytes)
    f->g.p.max_bytes = max_bytes;
  assert_int_equal(st_chain__state_open(&f->st, f->s, &f->g, f->gh), 0);
  f->async = async;
  if (async)
    assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(st_chain__mempool_new(&f->g.p, &f->st, async ? &f->loop : NULL, &f->mp), 0);
  st_chain__mempool_on_added(f->mp, on_added, f);
}

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof(*f));
  open_fix(f, false, 0, 0);
  *state = f;
  return 0;
}

static int setup_async(void **state) {
  fix_t *f = calloc(1, sizeof(*f));
  open_fix(f, true, 0, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  st_chain__mempool_free(f->mp);
  if (f->async) {
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
  }
  st_chain__genesis_free(&f->g);
  st_store_close(f->s);
  t_remove_tree(f->dir);
  free(f);
  return 0;
}

/* Submits and returns the result (running the loop when async). */
static result_t submit(fix_t *f, const st_buf_t *tx) {
  size_t before = f->nres;
  st_chain__mempool_submit(f->mp, tx->data, tx->len, NULL, on_check, f);
  if (f->async)
    uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(f->nres, before + 1);
  return f->res[before];
}

static void submit_ok(fix_t *f, const st_buf_t *tx) {
  result_t r = submit(f, tx);
  if (r.code != 0)
    fail_msg("refused: %s (%s)", st_errname(r.code), r.log);
}

static void expect(fix_t *f, const st_buf_t *tx, int code, const char *in_log) {
  st_chain__mempool_stats_t before, after;
  st_chain__mempool_stats(f->mp, &before);
  result_t r = submit(f, tx);
  if (r.code != code)
    fail_msg("expected %s, got %s (%s)", st_errname(code), st_errname(r.code), r.log);
  if (in_log && !strstr(r.log, in_log))
    fail_msg("log \"%s\" lacks \"%s\"", r.log, in_log);
  st_chain__mempool_stats(f->mp, &after);
  if (code != 0) {
    assert_int_equal(after.txs, before.txs);
    assert_int_equal(after.bytes, before.bytes);
  }
}

/* Sets an account in the committed state, as a block would. */
static void set_acct(fix_t *f, int key, st_u128 balance, uint64_t nonce) {
  st_keypair_t kp;
  uint8_t a[ST_ADDR_LEN], v[ST_CHAIN__ACCT_LEN];
  t_key(key, &kp, a);
  st_chain__acct_t x = {balance, nonce};
  st_chain__acct_encode(&x, v);
  st_txn_t *txn;
  assert_int_equal(st_txn_begin(f->s, true, &txn), 0);
  assert_int_equal(st_kv_put(txn, f->st.acct, a, ST_ADDR_LEN, v, sizeof(v)), 0);
  assert_int_equal(st_txn_commit(txn), 0);
}

static uint64_t sig_checks(fix_t *f) {
  st_chain__mempool_stats_t s;
  st_chain__mempool_stats(f->mp, &s);
  return s.sig_checks;
}

static size_t pool_txs(fix_t *f) {
  st_chain__mempool_stats_t s;
  st_chain__mempool_stats(f->mp, &s);
  return s.txs;
}

static void test_accept_and_dedup(void **state) {
  fix_t *f = *state;
  st_buf_t tx;
  t_send(0, 1, 0, 10, &tx);
  submit_ok(f, &tx);
  assert_int_equal(sig_checks(f), 1);
  assert_int_equal(pool_txs(f), 1);
  assert_int_equal(f->added, 1);
  assert_int_equal(f->added_bytes, tx.len);
  uint8_t h[ST_HASH_LEN];
  st_chain_tx_hash(tx.data, tx.len, h);
  assert_true(st_chain__mempool_has(f->mp, h));
  assert_int_equal(st_chain__mempool_seen(f->mp, h, NULL), ST_CHAIN__SEEN_SIG_OK);
  /* The second submission is refused before any signature check. */
  expect(f, &tx, ST_EEXIST, "tx already in mempool");
  assert_int_equal(sig_checks(f), 1);
  assert_int_equal(f->added, 1);
  /* Once the tx has left the pool (its nonce used by a block), sending it
   * again is refused on its nonce, still without a signature check. */
  set_acct(f, 0, T_BALANCE, 1);
  st_chain__mempool_recheck(f->mp);
  assert_int_equal(pool_txs(f), 0);
  expect(f, &tx, ST_EEXIST, "nonce 0 expected 1 (already used)");
  assert_int_equal(sig_checks(f), 1);
  st_buf_free(&tx);
}

static void test_seen_skips_signature(void **state) {
  fix_t *f = *state;
  st_buf_t tx;
  t_send(0, 1, 0, 10, &tx);
  /* Refused for its balance first (after decoding, before the signature
   * check); accepted later with one check in all. */
  set_acct(f, 0, 5, 0);
  expect(f, &tx, ST_EPERM, "insufficient balance: have 5, need ");
  assert_int_equal(sig_checks(f), 0);
  set_acct(f, 0, T_BALANCE, 0);
  submit_ok(f, &tx);
  assert_int_equal(sig_checks(f), 1);
  /* Dropped by a recheck (balance gone), then funded again: it goes back
   * in on the remembered signature. */
  set_acct(f, 0, 5, 0);
  st_chain__mempool_recheck(f->mp);
  assert_int_equal(pool_txs(f), 0);
  set_acct(f, 0, T_BALANCE, 0);
  submit_ok(f, &tx);
  assert_int_equal(sig_checks(f), 1);
  assert_int_equal(pool_txs(f), 1);
  st_buf_free(&tx);
}

static void test_bad_signature(void **state) {
  fix_t *f = *state;
  st_buf_t tx;
  t_send(0, 1, 0, 10, &tx);
  tx.data[tx.len - 1] ^= 0x80;
  expect(f, &tx, ST_EBADSIG, "bad signature");
  assert_int_equal(sig_checks(f), 1);
  /* Remembered: no second check. */
  expect(f, &tx, ST_EBADSIG, "refused before");
  assert_int_equal(sig_checks(f), 1);
  assert_int_equal(f->added, 0);
  st_buf_free(&tx);
}

static void test_refusals(void **state) {
  fix_t *f = *state;
  st_buf_t tx;
  st_keypair_t kp, kt;
  uint8_t to[ST_ADDR_LEN];
  t_key(0, &kp, NULL);
  t_key(1, &kt, to);
  /* Wrong chain id. */
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send_min_fee(&kp, "stratos-x", 0, T_MIN_FEE, to, 1, NULL, &tx),
                   0);
  expect(f, &tx, ST_EINVAL, "wrong chain id stratos-x");
  st_buf_free(&tx);
  /* Replayed nonce. */
  set_acct(f, 0, T_BALANCE, 3);
  t_send(0, 1, 2, 10, &tx);
  expect(f, &tx, ST_EEXIST, "nonce 2 expected 3");
  st_buf_free(&tx);
  /* Future nonce beyond the window; the last one inside it is fine. */
  t_send(0, 1, 3 + ST_CHAIN__NONCE_WINDOW, 10, &tx);
  expect(f, &tx, ST_EAGAIN, "nonce 131 expected 3 (at most 127 ahead");
  st_buf_free(&tx);
  t_send(0, 1, 3 + ST_CHAIN__NONCE_WINDOW - 1, 10, &tx);
  expect(f, &tx, 0, NULL);
  st_buf_free(&tx);
  /* Fee one wei below the minimum. */
  st_buf_t ok;
  t_send(0, 1, 3, 10, &ok);
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send(&kp, T_CHAIN_ID, 3, t_fee_of(&ok) - 1, to, 10, NULL, &tx),
                   0);
  assert_int_equal(tx.len, ok.len);
  expect(f, &tx, ST_EINVAL, "below minimum");
  st_buf_free(&tx);
  /* A second tx for a nonce the sender already has pooled. */
  submit_ok(f, &ok);
  t_send(0, 1, 3, 11, &tx);
  expect(f, &tx, ST_EEXIST, "already has a tx with nonce 3");
  st_buf_free(&tx);
  st_buf_free(&ok);
  /* Oversized and undecodable. */
  uint8_t junk[8192];
  memset(junk, 0x0a, sizeof(junk));
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_buf_append(&tx, junk, sizeof(junk)), 0);
  expect(f, &tx, ST_E2BIG, "exceeds the maximum of 4096");
  st_buf_reset(&tx);
  assert_int_equal(st_buf_append(&tx, junk, 100), 0);
  expect(f, &tx, ST_EPARSE, NULL);
  st_buf_free(&tx);
  /* Zero amount; amount + fee over 128 bits. */
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send_min_fee(&kp, T_CHAIN_ID, 4, T_MIN_FEE, to, 0, NULL, &tx), 0);
  expect(f, &tx, ST_EINVAL, "amount must be greater than zero");
  st_buf_reset(&tx);
  assert_int_equal(st_chain_tx_send(&kp, T_CHAIN_ID, 4, 100000, to, ~(st_u128)0, NULL, &tx), 0);
  expect(f, &tx, ST_ERANGE, "overflows");
  st_buf_free(&tx);
  /* Insufficient balance, alone and counting the sender's pooled txs. */
  set_acct(f, 2, 10000, 0);
  t_send(2, 1, 0, 10000, &tx);
  expect(f, &tx, ST_EPERM, "insufficient balance: have 10000, need ");
  st_buf_free(&tx);
  t_send(2, 1, 0, 5000, &tx);
  submit_ok(f, &tx);
  st_u128 fee = t_fee_of(&tx);
  st_buf_free(&tx);
  t_send(2, 1, 1, 5000 - fee, &tx);
  char want[128], need[ST_U128_STR_MAX];
  st_u128_format(5000 + fee + 5000 - fee + t_fee_of(&tx), need);
  snprintf(want, sizeof(want), "insufficient balance: have 10000, need %s", need);
  expect(f, &tx, ST_EPERM, want);
  st_buf_free(&tx);
  assert_int_equal(pool_txs(f), 3);
}

static void test_bounds_count(void **state) {
  (void)state;
  fix_t *f = calloc(1, sizeof(*f));
  open_fix(f, false, 3, 0);
  st_buf_t tx[4];
  for (int i = 0; i < 4; i++)
    t_send(i, 5, 0, 10, &tx[i]);
  for (int i = 0; i < 3; i++)
    submit_ok(f, &tx[i]);
  char want[128];
  snprintf(want, sizeof(want), "mempool is full (3 txs, %zu bytes)",
           tx[0].len + tx[1].len + tx[2].len);
  expect(f, &tx[3], ST_EFULL, want);
  /* Room again after a block took one. */
  set_acct(f, 0, T_BALANCE, 1);
  st_chain__mempool_recheck(f->mp);
  submit_ok(f, &tx[3]);
  for (int i = 0; i < 4; i++)
    st_buf_free(&tx[i]);
  void *p = f;
  teardown(&p);
}

static void test_bounds_bytes(void **state) {
  (void)state;
  fix_t *f = calloc(1, sizeof(*f));
  st_buf_t probe;
  t_send(0, 5, 0, 10, &probe);
  /* Room for two txs and a half. */
  open_fix(f, false, 0, probe.len * 5 / 2);
  if (f->g.p.max_bytes < f->g.p.max_tx_bytes)
    f->g.p.max_tx_bytes = f->g.p.max_bytes;
  st_buf_t tx[3];
  for (int i = 0; i < 3; i++)
    t_send(i, 5, 0, 10, &tx[i]);
  submit_ok(f, &tx[0]);
  submit_ok(f, &tx[1]);
  expect(f, &tx[2], ST_EFULL, "mempool is full (2 txs");
  assert_int_equal(pool_txs(f), 2);
  for (int i = 0; i < 3; i++)
    st_buf_free(&tx[i]);
  st_buf_free(&probe);
  void *p = f;
  teardown(&p);
}

/* ---- proposals ---- */

typedef struct reaped {
  size_t n;
  uint8_t hash[64][ST_HASH_LEN];
  size_t bytes;
} reaped_t;

static int collect(void *ud, const uint8_t *tx, size_t len) {
  reaped_t *r = ud;
  assert_true(r->n < 64);
  st_chain_tx_hash(tx, len, r->hash[r->n++]);
  r->bytes += len;
  return 0;
}

static void reap(fix_t *f, size_t max_bytes, size_t max_txs, reaped_t *r) {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  memset(r, 0, sizeof(*r));
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  st_chain__ov_init(&ov, &f->st, txn);
  char log[ST_CHAIN__LOG_MAX];
  st_chain__ctx_t cx;
  memset(&cx, 0, sizeof(cx));
  cx.ov = &ov;
  cx.p = &f->g.p;
  cx.height = 1;
  cx.log = log;
  cx.logcap = sizeof(log);
  assert_int_equal(st_chain__mempool_reap(f->mp, &cx, max_bytes, max_txs, collect, r), 0);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
}

static void hash_of(const st_buf_t *tx, uint8_t h[ST_HASH_LEN]) {
  st_chain_tx_hash(tx->data, tx->len, h);
}

static void test_proposal_order(void **state) {
  fix_t *f = *state;
  /* Arrival: A0, B0, A2, A1, B1, C1 (C's nonce 0 never comes). */
  st_buf_t a0, a1, a2, b0, b1, c1;
  t_send(0, 5, 0, 10, &a0);
  t_send(0, 5, 1, 10, &a1);
  t_send(0, 5, 2, 10, &a2);
  t_send(1, 5, 0, 10, &b0);
  t_send(1, 5, 1, 10, &b1);
  t_send(2, 5, 1, 10, &c1);
  submit_ok(f, &a0);
  submit_ok(f, &b0);
  submit_ok(f, &a2);
  submit_ok(f, &a1);
  submit_ok(f, &b1);
  submit_ok(f, &c1);
  reaped_t r;
  reap(f, SIZE_MAX, 100, &r);
  const st_buf_t *want[] = {&a0, &b0, &a1, &a2, &b1};
  assert_int_equal(r.n, 5);
  for (size_t i = 0; i < 5; i++) {
    uint8_t h[ST_HASH_LEN];
    hash_of(want[i], h);
    assert_memory_equal(r.hash[i], h, ST_HASH_LEN);
  }
  /* Limits: three txs; then bytes for only two. */
  reap(f, SIZE_MAX, 3, &r);
  assert_int_equal(r.n, 3);
  reap(f, a0.len + b0.len + 1, 100, &r);
  assert_int_equal(r.n, 2);
  assert_true(st_chain__mempool_ready(f->mp));
  /* A sender that cannot pay for its second tx stops there. */
  set_acct(f, 0, (st_u128)10 + t_fee_of(&a0) + 5, 0);
  reap(f, SIZE_MAX, 100, &r);
  assert_int_equal(r.n, 3); /* A0, B0, B1 */
  st_buf_free(&a0);
  st_buf_free(&a1);
  st_buf_free(&a2);
  st_buf_free(&b0);
  st_buf_free(&b1);
  st_buf_free(&c1);
}

static void test_gap_waits(void **state) {
  fix_t *f = *state;
  st_buf_t a0, a2, a1;
  t_send(0, 5, 0, 10, &a0);
  t_send(0, 5, 1, 10, &a1);
  t_send(0, 5, 2, 10, &a2);
  submit_ok(f, &a2);
  assert_false(st_chain__mempool_ready(f->mp));
  reaped_t r;
  reap(f, SIZE_MAX, 100, &r);
  assert_int_equal(r.n, 0);
  submit_ok(f, &a0);
  assert_true(st_chain__mempool_ready(f->mp));
  reap(f, SIZE_MAX, 100, &r);
  assert_int_equal(r.n, 1);
  submit_ok(f, &a1);
  reap(f, SIZE_MAX, 100, &r);
  assert_int_equal(r.n, 3);
  st_buf_free(&a0);
  st_buf_free(&a1);
  st_buf_free(&a2);
}

static void test_recheck(void **state) {
  fix_t *f = *state;
  st_buf_t a[4], b0;
  for (int i = 0; i < 4; i++)
    t_send(0, 5, (uint64_t)i, 1000, &a[i]);
  t_send(1, 5, 0, 1000, &b0);
  for (int i = 0; i < 4; i++)
    submit_ok(f, &a[i]);
  submit_ok(f, &b0);
  assert_int_equal(pool_txs(f), 5);
  /* A block used A's nonces 0 and 1, and left A enough for one more tx. */
  set_acct(f, 0, (st_u128)1000 + t_fee_of(&a[2]) + 1, 2);
  st_chain__mempool_recheck(f->mp);
  uint8_t h[ST_HASH_LEN];
  hash_of(&a[0], h);
  assert_false(st_chain__mempool_has(f->mp, h));
  hash_of(&a[1], h);
  assert_false(st_chain__mempool_has(f->mp, h));
  hash_of(&a[2], h);
  assert_true(st_chain__mempool_has(f->mp, h));
  hash_of(&a[3], h);
  assert_false(st_chain__mempool_has(f->mp, h)); /* cannot be paid for */
  hash_of(&b0, h);
  assert_true(st_chain__mempool_has(f->mp, h));
  st_chain__mempool_stats_t s;
  st_chain__mempool_stats(f->mp, &s);
  assert_int_equal(s.txs, 2);
  assert_int_equal(s.bytes, a[2].len + b0.len);
  for (int i = 0; i < 4; i++)
    st_buf_free(&a[i]);
  st_buf_free(&b0);
}

/* ---- the thread pool ---- */

static void test_async_batches(void **state) {
  fix_t *f = *state;
  enum { N = 300 };
  static st_buf_t txs[N];
  for (int i = 0; i < N; i++)
    t_send(i % 6, 7, (uint64_t)(i / 6), 1, &txs[i]);
  for (int i = 0; i < N; i++)
    st_chain__mempool_submit(f->mp, txs[i].data, txs[i].len, NULL, on_check, f);
  /* Nothing is answered before the loop runs the batches. */
  st_chain__mempool_stats_t s;
  st_chain__mempool_stats(f->mp, &s);
  assert_int_equal(f->nres, 0);
  assert_int_equal(s.pending, N);
  /* A duplicate while its check is running is refused at once. */
  st_chain__mempool_submit(f->mp, txs[0].data, txs[0].len, NULL, on_check, f);
  assert_int_equal(f->nres, 1);
  assert_int_equal(f->res[0].code, ST_EEXIST);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(f->nres, N + 1);
  for (size_t i = 1; i < f->nres; i++)
    if (f->res[i].code != 0)
      fail_msg("tx %zu: %s", i, f->res[i].log);
  st_chain__mempool_stats(f->mp, &s);
  assert_int_equal(s.txs, N);
  assert_int_equal(s.pending, 0);
  assert_int_equal(s.sig_checks, N);
  /* All again: all refused, no new check. */
  for (int i = 0; i < N; i++)
    st_chain__mempool_submit(f->mp, txs[i].data, txs[i].len, NULL, on_check, f);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(f->nres, 2 * N + 1);
  for (size_t i = N + 1; i < f->nres; i++)
    assert_int_equal(f->res[i].code, ST_EEXIST);
  assert_int_equal(sig_checks(f), N);
  for (int i = 0; i < N; i++)
    st_buf_free(&txs[i]);
}

static void test_async_close_while_checking(void **state) {
  fix_t *f = *state;
  st_buf_t txs[5];
  for (int i = 0; i < 5; i++) {
    t_send(0, 7, (uint64_t)i, 1, &txs[i]);
    st_chain__mempool_submit(f->mp, txs[i].data, txs[i].len, NULL, on_check, f);
  }
  /* Closing answers every waiting CheckTx now; the running batch frees
   * itself when the loop runs (teardown). */
  st_chain__mempool_free(f->mp);
  f->mp = NULL;
  assert_int_equal(f->nres, 5);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(f->res[i].code, ST_ECLOSED);
    st_buf_free(&txs[i]);
  }
}

int main(void) {
  st_crypto_init();
  st_log_set_level(ST_LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_accept_and_dedup, setup, teardown),
    cmocka_unit_test_setup_teardown(test_seen_skips_signature, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_signature, setup, teardown),
    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    cmocka_unit_test(test_bounds_count),
    cmocka_unit_test(test_bounds_bytes),
    cmocka_unit_test_setup_teardown(test_proposal_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_gap_waits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_recheck, setup, teardown),
    cmocka_unit_test_setup_teardown(test_accept_and_dedup, setup_async, teardown),
    cmocka_unit_test_setup_teardown(test_bad_signature, setup_async, teardown),
    cmocka_unit_test_setup_teardown(test_refusals, setup_async, teardown),
    cmocka_unit_test_setup_teardown(test_async_batches, setup_async, teardown),
    cmocka_unit_test_setup_teardown(test_async_close_while_checking, setup_async, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
