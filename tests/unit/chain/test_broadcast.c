/* The broadcast_tx_* methods end to end over the real JSON-RPC server:
 * a client thread posts requests with libcurl while the loop thread runs
 * the server, the mempool's signature checks and a timer that stands in
 * for the consensus engine (propose, finalize, commit every 20 ms). */
#include <pthread.h>
#include <curl/curl.h>
#include <sodium.h>
#include <uv.h>
#include <stratos/st_node.h>
#include <stratos/st_rpc.h>
#include "chain_test.h"

typedef struct fix {
  char dir[PATH_MAX];
  st_node_t node;
  uv_loop_t loop;
  void *rpc_state;
  st_chain_t ch;
  uv_timer_t blocks;
  bool make_blocks;
  int64_t height;
  /* the request in flight */
  char *body;
  st_buf_t resp;
  uv_async_t done;
} fix_t;

static void on_done(uv_async_t *a) { uv_stop(a->loop); }

/* The engine's part: a block of whatever the mempool proposes. */
static void on_block(uv_timer_t *t) {
  fix_t *f = t->data;
  if (!f->make_blocks || !st_chain__app_has_txs(&f->ch))
    return;
  st_cons_txlist_t l = {0};
  assert_int_equal(st_chain__app_propose(&f->ch, f->height + 1, 1 << 20, 1000, &l), 0);
  assert_int_equal(st_chain__app_validate(&f->ch, f->height + 1, l.n,
                                          (const uint8_t *const *)l.txs, l.lens), 0);
  uint8_t bh[ST_HASH_LEN] = {7}, prop[ST_ADDR_LEN], ah[ST_HASH_LEN], rh[ST_HASH_LEN];
  st_keypair_t kp;
  t_key(7, &kp, prop);
  st_cons_block_t b = {.height = f->height + 1, .hash = bh, .proposer = prop, .ntxs = l.n,
                       .txs = (const uint8_t *const *)l.txs, .tx_lens = l.lens};
  st_cons_valset_t next = {0};
  bool changed;
  st_txn_t *txn;
  assert_int_equal(st_txn_begin(f->node.store, true, &txn), 0);
  assert_int_equal(st_chain__app_finalize(&f->ch, txn, &b, ah, rh, &next, &changed), 0);
  assert_int_equal(st_txn_commit(txn), 0);
  f->height++;
  st_cons_txlist_free(&l);
  st_chain__app_committed(&f->ch, f->height);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
  fix_t *f = ud;
  if (st_buf_append(&f->resp, p, size * n) != 0)
    return 0;
  return size * n;
}

static void *client(void *arg) {
  fix_t *f = arg;
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)f->node.rpc_port);
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_perform(c);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  uv_async_send(&f->done);
  return NULL;
}

/* Calls method with params over HTTP; returns the response object. */
static json_t *call(fix_t *f, const char *method, json_t *params) {
  json_t *req = json_pack("{s:s,s:i,s:s,s:o}", "jsonrpc", "2.0", "id", 1, "method", method,
                          "params", params);
  f->body = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  st_buf_reset(&f->resp);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, client, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  free(f->body);
  json_error_t je;
  json_t *r = json_loadb((const char *)f->resp.data, f->resp.len, 0, &je);
  if (!r)
    fail_msg("bad response: %.*s", (int)f->resp.len, (const char *)f->resp.data);
  return r;
}

static json_t *tx_params(const st_buf_t *tx) {
  char b64[8192];
  sodium_bin2base64(b64, sizeof(b64), tx->data, tx->len, sodium_base64_VARIANT_ORIGINAL);
  return json_pack("{s:s}", "tx", b64);
}

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof(*f));
  st_chain__genesis_t g;
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->node.loop = &f->loop;
  st_config_defaults(&f->node.cfg);
  f->node.cfg.rpc_laddr.port = 0;
  t_open_store(f->dir, sizeof(f->dir), &f->node.store);
  assert_int_equal(st_rpc_module.init(&f->node, &f->rpc_state), 0);
  assert_int_equal(st_rpc_module.start(f->rpc_state), 0);
  assert_true(f->node.rpc_port > 0);
  t_genesis(4, &g);
  assert_int_equal(st_chain__open(&f->ch, f->node.store, &f->loop, &g), 0);
  f->ch.wait_timer = malloc(sizeof(*f->ch.wait_timer));
  uv_timer_init(&f->loop, f->ch.wait_timer);
  f->ch.wait_timer->data = &f->ch;
  st_chain__rpc_register(&f->ch, f->node.rpc);
  uv_timer_init(&f->loop, &f->blocks);
  f->blocks.data = f;
  uv_timer_start(&f->blocks, on_block, 20, 20);
  f->make_blocks = true;
  uv_async_init(&f->loop, &f->done, on_done);
  st_buf_init(&f->resp, 1 << 20);
  *state = f;
  return 0;
}

static void free_handle(uv_handle_t *h) { free(h); }

static int teardown(void **state) {
  fix_t *f = *state;
  st_rpc_module.stop(f->rpc_state);
  st_chain__close(&f->ch);
  uv_close((uv_handle_t *)f->ch.wait_timer, free_handle);
  uv_close((uv_handle_t *)&f->blocks, NULL);
  uv_close((uv_handle_t *)&f->done, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  st_store_close(f->node.store);
  t_remove_tree(f->dir);
  st_buf_free(&f->resp);
  free(f);
  return 0;
}

static json_t *result(json_t *r) {
  json_t *res = json_object_get(r, "result");
  if (!res)
    fail_msg("error: %s", json_string_value(json_object_get(json_object_get(r, "error"),
                                                           "message")));
  return res;
}

static void test_sync(void **state) {
  fix_t *f = *state;
  f->make_blocks = false;
  st_buf_t tx;
  t_send(0, 1, 0, 10, &tx);
  uint8_t h[ST_HASH_LEN];
  char hex[2 * ST_HASH_LEN + 1];
  st_chain_tx_hash(tx.data, tx.len, h);
  st_hex_encode(h, ST_HASH_LEN, hex, sizeof(hex));
  json_t *r = call(f, "broadcast_tx_sync", tx_params(&tx));
  json_t *res = result(r);
  assert_int_equal(json_integer_value(json_object_get(res, "code")), 0);
  assert_string_equal(json_string_value(json_object_get(res, "log")), "");
  assert_string_equal(json_string_value(json_object_get(res, "hash")), hex);
  json_decref(r);
  r = call(f, "broadcast_tx_sync", tx_params(&tx));
  res = result(r);
  assert_int_equal(json_integer_value(json_object_get(res, "code")), ST_EEXIST);
  assert_string_equal(json_string_value(json_object_get(res, "log")), "tx already in mempool");
  json_decref(r);
  st_buf_free(&tx);
  /* A bad signature comes back from the thread pool. */
  t_send(1, 0, 0, 10, &tx);
  tx.data[tx.len - 1] ^= 1;
  r = call(f, "broadcast_tx_sync", tx_params(&tx));
  res = result(r);
  assert_int_equal(json_integer_value(json_object_get(res, "code")), ST_EBADSIG);
  assert_string_equal(json_string_value(json_object_get(res, "log")), "bad signature");
  json_decref(r);
  st_buf_free(&tx);
  r = call(f, "num_unconfirmed_txs", json_object());
  assert_int_equal(json_integer_value(json_object_get(result(r), "n_txs")), 1);
  json_decref(r);
  /* Bad params name the parameter. */
  r = call(f, "broadcast_tx_sync", json_pack("{s:s}", "tx", "%%%"));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                   -32602);
  assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                      "invalid params: tx is not valid base64");
  json_decref(r);
}

static void test_async(void **state) {
  fix_t *f = *state;
  f->make_blocks = false;
  st_buf_t tx;
  t_send(0, 1, 0, 10, &tx);
  json_t *r = call(f, "broadcast_tx_async", tx_params(&tx));
  assert_int_equal(json_integer_value(json_object_get(result(r), "code")), 0);
  json_decref(r);
  /* Wait for the signature check to land. */
  uint8_t h[ST_HASH_LEN];
  st_chain_tx_hash(tx.data, tx.len, h);
  for (int i = 0; i < 200 && !st_chain__mempool_has(f->ch.mp, h); i++)
    uv_run(&f->loop, UV_RUN_ONCE);
  assert_true(st_chain__mempool_has(f->ch.mp, h));
  st_buf_free(&tx);
  /* Undecodable: refused with the decoder's code at once. */
  st_buf_init(&tx, 64);
  assert_int_equal(st_buf_append(&tx, "\x0a\x09garbage", 9), 0);
  r = call(f, "broadcast_tx_async", tx_params(&tx));
  assert_int_equal(json_integer_value(json_object_get(result(r), "code")), ST_EPARSE);
  json_decref(r);
  st_buf_free(&tx);
}

static void test_commit(void **state) {
  fix_t *f = *state;
  st_buf_t tx;
  t_send(2, 3, 0, 777, &tx);
  json_t *r = call(f, "broadcast_tx_commit", tx_params(&tx));
  json_t *res = result(r);
  assert_int_equal(json_integer_value(json_object_get(res, "height")), 1);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "check_tx"), "code")),
                   0);
  json_t *tr = json_object_get(res, "tx_result");
  assert_int_equal(json_integer_value(json_object_get(tr, "code")), 0);
  char fee[ST_U128_STR_MAX];
  st_u128_format(t_fee_of(&tx), fee);
  assert_string_equal(json_string_value(json_object_get(tr, "fee")), fee);
  json_decref(r);
  st_chain__acct_t a3 = t_acct_of(&f->ch.st, 3);
  assert_true(a3.balance == T_BALANCE + 777);
  /* Refused by CheckTx: answered at once, height 0, no result. */
  r = call(f, "broadcast_tx_commit", tx_params(&tx));
  res = result(r);
  assert_int_equal(json_integer_value(json_object_get(res, "height")), 0);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "check_tx"), "code")),
                   ST_EEXIST);
  assert_true(json_is_null(json_object_get(res, "tx_result")));
  json_decref(r);
  st_buf_free(&tx);
}

static void test_commit_timeout(void **state) {
  fix_t *f = *state;
  f->make_blocks = false;
  f->ch.commit_timeout_ms = 300;
  st_buf_t tx;
  t_send(2, 3, 0, 777, &tx);
  json_t *r = call(f, "broadcast_tx_commit", tx_params(&tx));
  json_t *e = json_object_get(r, "error");
  assert_int_equal(json_integer_value(json_object_get(e, "code")), -32603);
  assert_string_equal(json_string_value(json_object_get(e, "message")),
                      "timed out waiting for tx to be committed");
  assert_int_equal(f->ch.nwaiters, 0);
  json_decref(r);
  st_buf_free(&tx);
}

int main(void) {
  st_crypto_init();
  st_log_set_level(ST_LOG_ERROR);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
    cmocka_unit_test_setup_teardown(test_async, setup, teardown),
    cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
    cmocka_unit_test_setup_teardown(test_commit_timeout, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
