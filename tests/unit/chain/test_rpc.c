/* Unit tests of the chain's JSON-RPC queries (the functions behind the
 * methods): result shapes, and strict parameter checks whose messages
 * name the parameter. */
#include <sodium.h>
#include "chain_test.h"

typedef struct fix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain_t ch;
  st_buf_t tx; /* committed at height 1, index 1 */
} fix_t;

static void commit_block(fix_t *f, int64_t height, st_buf_t *txs, size_t n) {
  const uint8_t *ptrs[8];
  size_t lens[8];
  uint8_t bh[ST_HASH_LEN] = {1}, prop[ST_ADDR_LEN];
  st_keypair_t kp;
  t_key(7, &kp, prop);
  for (size_t i = 0; i < n; i++) {
    ptrs[i] = txs[i].data;
    lens[i] = txs[i].len;
  }
  st_cons_block_t b = {.height = height, .hash = bh, .proposer = prop, .ntxs = n,
                       .txs = ptrs, .tx_lens = lens};
  uint8_t ah[ST_HASH_LEN], rh[ST_HASH_LEN];
  st_cons_valset_t next = {0};
  bool changed;
  st_txn_t *txn;
  assert_int_equal(st_txn_begin(f->s, true, &txn), 0);
  assert_int_equal(st_chain__app_finalize(&f->ch, txn, &b, ah, rh, &next, &changed), 0);
  assert_int_equal(st_txn_commit(txn), 0);
  st_chain__app_committed(&f->ch, height);
}

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof(*f));
  st_chain__genesis_t g;
  t_open_store(f->dir, sizeof(f->dir), &f->s);
  t_genesis(4, &g);
  assert_int_equal(st_chain__open(&f->ch, f->s, NULL, &g), 0);
  st_buf_t txs[2];
  t_send(1, 2, 0, 5, &txs[0]);
  t_send(0, 3, 0, 123456789, &txs[1]);
  commit_block(f, 1, txs, 2);
  commit_block(f, 2, NULL, 0);
  f->tx = txs[1];
  st_buf_free(&txs[0]);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  st_buf_free(&f->tx);
  st_chain__close(&f->ch);
  st_store_close(f->s);
  t_remove_tree(f->dir);
  free(f);
  return 0;
}

typedef int (*query_fn)(st_chain_t *, json_t *, json_t **, char *, size_t);

/* Runs a query with params given as JSON text (NULL: none). */
static json_t *query(fix_t *f, query_fn fn, const char *params, int want_code,
                     const char *want_err) {
  json_t *p = NULL, *res = NULL;
  if (params) {
    json_error_t je;
    p = json_loads(params, JSON_DECODE_ANY, &je);
    assert_non_null(p);
  }
  char err[256] = "";
  int code = fn(&f->ch, p, &res, err, sizeof(err));
  json_decref(p);
  if (code != want_code)
    fail_msg("%s: code %d, want %d (%s)", params ? params : "(none)", code, want_code, err);
  if (want_err && !strstr(err, want_err))
    fail_msg("%s: error \"%s\" lacks \"%s\"", params ? params : "(none)", err, want_err);
  if (code != 0)
    assert_null(res);
  return res;
}

static void test_account(void **state) {
  fix_t *f = *state;
  st_keypair_t kp;
  uint8_t a[ST_ADDR_LEN];
  char s[ST_ADDR_STR_MAX], params[160];
  t_key(3, &kp, a);
  st_addr_encode(ST_HRP_WALLET, a, s, sizeof(s));
  snprintf(params, sizeof(params), "{\"address\":\"%s\"}", s);
  json_t *r = query(f, st_chain__q_account, params, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(r, "address")), s);
  assert_string_equal(json_string_value(json_object_get(r, "balance")), "1000000000123456789");
  assert_int_equal(json_integer_value(json_object_get(r, "nonce")), 0);
  json_decref(r);
  t_key(0, &kp, a);
  st_addr_encode(ST_HRP_WALLET, a, s, sizeof(s));
  snprintf(params, sizeof(params), "{\"address\":\"%s\"}", s);
  r = query(f, st_chain__q_account, params, 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(r, "nonce")), 1);
  json_decref(r);
  /* Unknown accounts are empty, not errors. */
  t_key(6, &kp, a);
  st_addr_encode(ST_HRP_WALLET, a, s, sizeof(s));
  snprintf(params, sizeof(params), "{\"address\":\"%s\"}", s);
  r = query(f, st_chain__q_account, params, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(r, "balance")), "0");
  assert_int_equal(json_integer_value(json_object_get(r, "nonce")), 0);
  json_decref(r);
  query(f, st_chain__q_account, NULL, -32602, "address is required");
  query(f, st_chain__q_account, "{}", -32602, "address is required");
  query(f, st_chain__q_account, "{\"address\":5}", -32602, "address must be an st1");
  query(f, st_chain__q_account, "{\"address\":\"st1xyz\"}", -32602, "address must be");
  /* A node address is not an account address. */
  st_addr_encode(ST_HRP_NODE, a, s, sizeof(s));
  snprintf(params, sizeof(params), "{\"address\":\"%s\"}", s);
  query(f, st_chain__q_account, params, -32602, "address must be");
  query(f, st_chain__q_account, "{\"addr\":\"x\"}", -32602, "unknown parameter \"addr\"");
  query(f, st_chain__q_account, "[\"st1\"]", -32602, "expected an object");
}

static void test_tx(void **state) {
  fix_t *f = *state;
  uint8_t h[ST_HASH_LEN];
  char hex[2 * ST_HASH_LEN + 1], params[160];
  st_chain_tx_hash(f->tx.data, f->tx.len, h);
  st_hex_encode(h, ST_HASH_LEN, hex, sizeof(hex));
  snprintf(params, sizeof(params), "{\"hash\":\"%s\"}", hex);
  json_t *r = query(f, st_chain__q_tx, params, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(r, "hash")), hex);
  assert_int_equal(json_integer_value(json_object_get(r, "height")), 1);
  assert_int_equal(json_integer_value(json_object_get(r, "index")), 1);
  json_t *tr = json_object_get(r, "tx_result");
  assert_int_equal(json_integer_value(json_object_get(tr, "code")), 0);
  assert_string_equal(json_string_value(json_object_get(tr, "log")), "");
  char fee[ST_U128_STR_MAX];
  st_u128_format(t_fee_of(&f->tx), fee);
  assert_string_equal(json_string_value(json_object_get(tr, "fee")), fee);
  const char *b64 = json_string_value(json_object_get(r, "tx"));
  uint8_t back[4096];
  size_t n = 0;
  assert_int_equal(sodium_base642bin(back, sizeof(back), b64, strlen(b64), NULL, &n, NULL,
                                     sodium_base64_VARIANT_ORIGINAL), 0);
  assert_int_equal(n, f->tx.len);
  assert_memory_equal(back, f->tx.data, n);
  json_decref(r);
  /* Upper-case hex finds it too. */
  for (char *p = hex; *p; p++)
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 'a' + 'A');
  snprintf(params, sizeof(params), "{\"hash\":\"%s\"}", hex);
  json_decref(query(f, st_chain__q_tx, params, 0, NULL));
  hex[0] = hex[0] == '0' ? '1' : '0';
  snprintf(params, sizeof(params), "{\"hash\":\"%s\"}", hex);
  query(f, st_chain__q_tx, params, -32602, "tx not found");
  query(f, st_chain__q_tx, "{\"hash\":\"abcd\"}", -32602, "hash must be 64 hex digits");
  query(f, st_chain__q_tx, "{\"hash\":7}", -32602, "hash must be 64 hex digits");
  query(f, st_chain__q_tx, NULL, -32602, "hash is required");
  query(f, st_chain__q_tx, "{\"hash\":\"\",\"prove\":true}", -32602,
        "unknown parameter \"prove\"");
}

static void test_block_results(void **state) {
  fix_t *f = *state;
  json_t *r = query(f, st_chain__q_block_results, NULL, 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(r, "height")), 2);
  assert_int_equal(json_array_size(json_object_get(r, "txs_results")), 0);
  json_decref(r);
  r = query(f, st_chain__q_block_results, "{\"height\":1}", 0, NULL);
  json_t *list = json_object_get(r, "txs_results");
  assert_int_equal(json_array_size(list), 2);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "code")), 0);
  json_decref(r);
  r = query(f, st_chain__q_block_results, "{\"height\":\"1\"}", 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(r, "height")), 1);
  json_decref(r);
  query(f, st_chain__q_block_results, "{\"height\":0}", -32602, "height must be a positive");
  query(f, st_chain__q_block_results, "{\"height\":\"01\"}", -32602, "height must be");
  query(f, st_chain__q_block_results, "{\"height\":1.5}", -32602, "height must be");
  query(f, st_chain__q_block_results, "{\"height\":3}", -32602,
        "height 3 is not committed yet (latest is 2)");
  query(f, st_chain__q_block_results, "{\"h\":3}", -32602, "unknown parameter \"h\"");
}

static void on_check(void *ud, int code, const char *log, const uint8_t hash[ST_HASH_LEN],
                     const uint8_t *peer) {
  (void)ud;
  (void)hash;
  (void)peer;
  if (code != 0)
    fail_msg("refused: %s", log);
}

static void test_num_unconfirmed(void **state) {
  fix_t *f = *state;
  json_t *r = query(f, st_chain__q_num_unconfirmed, NULL, 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(r, "n_txs")), 0);
  json_decref(r);
  st_buf_t a, b;
  t_send(2, 1, 0, 10, &a);
  t_send(2, 1, 1, 10, &b);
  st_chain__mempool_submit(f->ch.mp, a.data, a.len, NULL, on_check, NULL);
  st_chain__mempool_submit(f->ch.mp, b.data, b.len, NULL, on_check, NULL);
  r = query(f, st_chain__q_num_unconfirmed, "{}", 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(r, "n_txs")), 2);
  assert_int_equal(json_integer_value(json_object_get(r, "total")), 2);
  assert_int_equal(json_integer_value(json_object_get(r, "total_bytes")), a.len + b.len);
  json_decref(r);
  query(f, st_chain__q_num_unconfirmed, "{\"limit\":1}", -32602, "unknown parameter");
  st_buf_free(&a);
  st_buf_free(&b);
}

static void tx_param(fix_t *f, const char *params, int want, const char *want_err,
                     const st_buf_t *want_tx) {
  json_error_t je;
  json_t *p = params ? json_loads(params, 0, &je) : NULL;
  uint8_t *tx = NULL;
  size_t len = 0;
  char err[256] = "";
  int code = st_chain__q_tx_param(&f->ch, p, &tx, &len, err, sizeof(err));
  json_decref(p);
  if (code != want || (want_err && !strstr(err, want_err)))
    fail_msg("code %d \"%s\", want %d \"%s\"", code, err, want, want_err ? want_err : "");
  if (want_tx) {
    assert_int_equal(len, want_tx->len);
    assert_memory_equal(tx, want_tx->data, len);
  }
  free(tx);
}

static void test_tx_param(void **state) {
  fix_t *f = *state;
  char *b64 = malloc(8192), *params = malloc(8300);
  sodium_bin2base64(b64, 8192, f->tx.data, f->tx.len, sodium_base64_VARIANT_ORIGINAL);
  snprintf(params, 8300, "{\"tx\":\"%s\"}", b64);
  tx_param(f, params, 0, NULL, &f->tx);
  tx_param(f, NULL, -32602, "tx is required", NULL);
  tx_param(f, "{\"tx\":5}", -32602, "tx must be a base64 string", NULL);
  tx_param(f, "{\"tx\":\"\"}", -32602, "tx is empty", NULL);
  tx_param(f, "{\"tx\":\"!!!!\"}", -32602, "tx is not valid base64", NULL);
  tx_param(f, "{\"tx\":\"QUJD\",\"mode\":1}", -32602, "unknown parameter \"mode\"", NULL);
  /* Unpadded base64 is refused (the standard alphabet with padding only). */
  tx_param(f, "{\"tx\":\"QUI\"}", -32602, "tx is not valid base64", NULL);
  /* One byte over max_tx_bytes, refused on its length before decoding. */
  uint8_t *big = calloc(1, 4097);
  sodium_bin2base64(b64, 8192, big, 4097, sodium_base64_VARIANT_ORIGINAL);
  snprintf(params, 8300, "{\"tx\":\"%s\"}", b64);
  tx_param(f, params, -32602, "exceeds the maximum tx size of 4096 bytes", NULL);
  /* Exactly max_tx_bytes decodes. */
  sodium_bin2base64(b64, 8192, big, 4096, sodium_base64_VARIANT_ORIGINAL);
  snprintf(params, 8300, "{\"tx\":\"%s\"}", b64);
  tx_param(f, params, 0, NULL, NULL);
  free(big);
  free(b64);
  free(params);
}

int main(void) {
  st_crypto_init();
  st_log_set_level(ST_LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_account, setup, teardown),
    cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
    cmocka_unit_test_setup_teardown(test_block_results, setup, teardown),
    cmocka_unit_test_setup_teardown(test_num_unconfirmed, setup, teardown),
    cmocka_unit_test_setup_teardown(test_tx_param, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
