/* Shared pieces of the chain unit tests: temporary LMDB stores, seeded
 * keys, a small genesis and tx builders. Included by one test file at a
 * time, so everything here is static. */
#ifndef STRATOS_TESTS_CHAIN_TEST_H
#define STRATOS_TESTS_CHAIN_TEST_H

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include "test_tmp.h"

#include <stratos/st_chain.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_store.h>

#include "chain/mods.h"

#define T_CHAIN_ID "stratos-test-1"
#define T_NKEYS 8
#define T_MIN_FEE 2 /* wei per byte */
#define T_BALANCE ((st_u128)1000000000000000000ull) /* 1 STOS */

/* ---- temporary directories ---- */

#define t_mkdir_p st_test_mkdir_p
#define t_make_tmpdir(out, cap) st_test_tmpdir((out), (cap), "chain")
#define t_remove_tree(dir) assert_int_equal(st_test_rm_tree(dir), 0)

/* ---- keys ---- */

static inline void t_key(int i, st_keypair_t *kp, uint8_t addr[ST_ADDR_LEN]) {
  uint8_t seed[ST_SEED_LEN];
  memset(seed, 0x40 + i, sizeof(seed));
  assert_int_equal(st_key_from_seed(seed, kp), 0);
  if (addr)
    st_addr_from_pubkey(kp->pk, addr);
}

static inline json_t *t_addr_json(const uint8_t addr[ST_ADDR_LEN]) {
  char s[ST_ADDR_STR_MAX];
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr, s, sizeof(s)), 0);
  return json_string(s);
}

/* A genesis with accounts for keys 0..naccts-1 holding T_BALANCE each
 * and key 7 as the one validator. */
static inline json_t *t_genesis_json(size_t naccts) {
  json_t *accts = json_array();
  for (size_t i = 0; i < naccts; i++) {
    st_keypair_t kp;
    uint8_t a[ST_ADDR_LEN];
    char bal[ST_U128_STR_MAX];
    t_key((int)i, &kp, a);
    st_u128_format(T_BALANCE, bal);
    json_array_append_new(accts, json_pack("{s:o,s:s}", "address", t_addr_json(a),
                                           "balance", bal));
  }
  st_keypair_t v;
  char pk[2 * ST_PUBKEY_LEN + 1];
  t_key(7, &v, NULL);
  st_hex_encode(v.pk, ST_PUBKEY_LEN, pk, sizeof(pk));
  json_t *g = json_pack(
    "{s:s,s:I,s:{s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:b,s:i,s:i,s:i},"
    "s:{s:i,s:i,s:i,s:i},s:{s:s,s:i}},s:o,s:[{s:s,s:s,s:i}]}",
    "chain_id", T_CHAIN_ID, "genesis_time_ms", (json_int_t)1795000000000LL, "params",
    "consensus", "timeout_propose_ms", 1000, "timeout_propose_delta_ms", 500,
    "timeout_prevote_ms", 500, "timeout_prevote_delta_ms", 250, "timeout_precommit_ms", 500,
    "timeout_precommit_delta_ms", 250, "timeout_commit_ms", 500, "create_empty_blocks", 1,
    "empty_blocks_interval_ms", 0, "max_block_bytes", 4194304, "max_block_txs", 10000,
    "mempool", "max_txs", 1000, "max_bytes", 1048576, "max_tx_bytes", 4096, "cache_size",
    10000, "auth", "min_fee_per_byte", "2", "max_memo_bytes", 64, "accounts", accts,
    "validators", "name", "node0", "pub_key", pk, "power", 10);
  assert_non_null(g);
  return g;
}

static inline void t_genesis(size_t naccts, st_chain__genesis_t *out) {
  json_t *g = t_genesis_json(naccts);
  char err[256];
  int rc = st_chain__genesis_parse(g, out, err, sizeof(err));
  if (rc != 0)
    fail_msg("genesis: %s", err);
  json_decref(g);
}

/* ---- txs ---- */

/* Builds a send from key `from` to key `to` paying the minimum fee. */
static inline void t_send(int from, int to, uint64_t nonce, st_u128 amount, st_buf_t *out) {
  st_keypair_t kp, kt;
  uint8_t a[ST_ADDR_LEN];
  t_key(from, &kp, NULL);
  t_key(to, &kt, a);
  st_buf_init(out, 1 << 20);
  assert_int_equal(st_chain_tx_send_min_fee(&kp, T_CHAIN_ID, nonce, T_MIN_FEE, a, amount,
                                            NULL, out), 0);
}

static inline st_u128 t_fee_of(const st_buf_t *tx) { return (st_u128)T_MIN_FEE * tx->len; }

static inline st_chain__acct_t t_acct(const st_chain__state_t *st, const uint8_t addr[ST_ADDR_LEN]) {
  st_txn_t *txn;
  st_chain__acct_t a;
  assert_int_equal(st_txn_begin(st->store, false, &txn), 0);
  assert_int_equal(st_chain__acct_get(st, txn, addr, &a), 0);
  st_txn_abort(txn);
  return a;
}

static inline st_chain__acct_t t_acct_of(const st_chain__state_t *st, int key) {
  st_keypair_t kp;
  uint8_t a[ST_ADDR_LEN];
  t_key(key, &kp, a);
  return t_acct(st, a);
}

static inline void t_open_store(char *dir, size_t cap, st_store_t **s) {
  t_make_tmpdir(dir, cap);
  st_store_opts_t o = {.map_size = 64u << 20, .no_sync = true};
  assert_int_equal(st_store_open(dir, &o, s), 0);
}

#endif
