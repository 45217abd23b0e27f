/* Unit tests of the value part of genesis.json: a valid file parses into
 * the values it holds, defaults fill what is left out, and every bad field
 * is refused with a message that names it. */
#include "chain_test.h"

/* Walks a path like "params.consensus.max_block_txs" or
 * "accounts[1].balance" and sets (v != NULL) or deletes the last key. */
static void mutate(json_t *root, const char *path, json_t *v) {
  char buf[128];
  snprintf(buf, sizeof(buf), "%s", path);
  json_t *cur = root;
  char *save = NULL;
  char *seg = strtok_r(buf, ".", &save);
  while (seg) {
    char *next = strtok_r(NULL, ".", &save);
    char *br = strchr(seg, '[');
    long idx = -1;
    if (br) {
      *br = '\0';
      idx = strtol(br + 1, NULL, 10);
    }
    if (!next && idx < 0) {
      if (v)
        assert_int_equal(json_object_set_new(cur, seg, v), 0);
      else
        json_object_del(cur, seg);
      return;
    }
    cur = json_object_get(cur, seg);
    assert_non_null(cur);
    if (idx >= 0) {
      if (!next) {
        assert_int_equal(json_array_set_new(cur, (size_t)idx, v), 0);
        return;
      }
      cur = json_array_get(cur, (size_t)idx);
      assert_non_null(cur);
    }
    seg = next;
  }
}

static void test_valid(void **state) {
  (void)state;
  st_chain__genesis_t g;
  t_genesis(5, &g);
  assert_string_equal(g.p.chain_id, T_CHAIN_ID);
  assert_int_equal(g.p.genesis_time_ms, 1795000000000LL);
  assert_int_equal(g.p.cons.timeout_propose, 1000);
  assert_int_equal(g.p.cons.timeout_precommit_delta, 250);
  assert_true(g.p.cons.create_empty_blocks);
  assert_int_equal(g.p.cons.max_block_bytes, 4194304);
  assert_int_equal(g.p.max_txs, 1000);
  assert_int_equal(g.p.max_bytes, 1048576);
  assert_int_equal(g.p.max_tx_bytes, 4096);
  assert_int_equal(g.p.cache_size, 10000);
  assert_true(g.p.min_fee_per_byte == 2);
  assert_int_equal(g.p.max_memo_bytes, 64);
  assert_int_equal(g.naccts, 5);
  for (size_t i = 1; i < g.naccts; i++)
    assert_true(memcmp(g.accts[i - 1].addr, g.accts[i].addr, ST_ADDR_LEN) < 0);
  for (int k = 0; k < 5; k++) {
    st_keypair_t kp;
    uint8_t a[ST_ADDR_LEN];
    t_key(k, &kp, a);
    int found = 0;
    for (size_t i = 0; i < g.naccts; i++)
      if (memcmp(g.accts[i].addr, a, ST_ADDR_LEN) == 0 && g.accts[i].balance == T_BALANCE)
        found = 1;
    assert_true(found);
  }
  assert_int_equal(g.valset.n, 1);
  st_keypair_t v;
  uint8_t va[ST_ADDR_LEN];
  t_key(7, &v, va);
  assert_memory_equal(g.valset.v[0].pubkey, v.pk, ST_PUBKEY_LEN);
  assert_memory_equal(g.valset.v[0].addr, va, ST_ADDR_LEN);
  assert_int_equal(g.valset.v[0].power, 10);
  st_chain__genesis_free(&g);
}

static void test_defaults_and_other_sections(void **state) {
  (void)state;
  json_t *j = t_genesis_json(1);
  json_object_del(j, "params");
  json_object_del(j, "accounts");
  /* Sections of later layers are not this module's business. */
  json_object_set_new(j, "staking", json_pack("{s:i}", "max_validators", 100));
  st_chain__genesis_t g;
  char err[256];
  assert_int_equal(st_chain__genesis_parse(j, &g, err, sizeof(err)), 0);
  st_chain__params_t d;
  st_chain__params_defaults(&d);
  assert_int_equal(g.p.cons.timeout_commit, d.cons.timeout_commit);
  assert_int_equal(g.p.cons.max_block_txs, 10000);
  assert_int_equal(g.p.max_txs, 20000);
  assert_int_equal(g.p.max_bytes, 67108864);
  assert_int_equal(g.p.max_tx_bytes, 65536);
  assert_int_equal(g.p.cache_size, 100000);
  assert_true(g.p.min_fee_per_byte == 1000000000);
  assert_int_equal(g.p.max_memo_bytes, 256);
  assert_int_equal(g.naccts, 0);
  st_chain__genesis_free(&g);
  json_decref(j);
}

typedef struct bad {
  const char *path;
  const char *json; /* NULL deletes the field */
  const char *want; /* the start of the error */
} bad_t;

static void test_bad_fields(void **state) {
  (void)state;
  static const bad_t bad[] = {
    {"chain_id", NULL, "chain_id: is missing"},
    {"chain_id", "\"\"", "chain_id: must be 1 to 64"},
    {"chain_id", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
     "chain_id: must be 1 to 64"},
    {"chain_id", "\"bad id\"", "chain_id: may hold only"},
    {"chain_id", "7", "chain_id: must be a string"},
    {"genesis_time_ms", NULL, "genesis_time_ms: is missing"},
    {"genesis_time_ms", "\"1\"", "genesis_time_ms: must be an integer"},
    {"genesis_time_ms", "-1", "genesis_time_ms: -1 is out of range"},
    {"genesis_time_ms", "1.5", "genesis_time_ms: must be an integer"},
    {"params", "[]", "params: must be an object"},
    {"params.consensus", "1", "params.consensus: must be an object"},
    {"params.consensus.timeout_propose_ms", "0", "params.consensus.timeout_propose_ms: 0 is out"},
    {"params.consensus.timeout_prevote_ms", "600001", "params.consensus.timeout_prevote_ms:"},
    {"params.consensus.timeout_commit_ms", "\"5\"", "params.consensus.timeout_commit_ms:"},
    {"params.consensus.timeout_precommit_delta_ms", "-1",
     "params.consensus.timeout_precommit_delta_ms:"},
    {"params.consensus.create_empty_blocks", "\"yes\"",
     "params.consensus.create_empty_blocks: must be true or false"},
    {"params.consensus.empty_blocks_interval_ms", "-5",
     "params.consensus.empty_blocks_interval_ms:"},
    {"params.consensus.max_block_bytes", "100", "params.consensus.max_block_bytes:"},
    {"params.consensus.max_block_bytes", "99999999", "params.consensus.max_block_bytes:"},
    {"params.consensus.max_block_txs", "0", "params.consensus.max_block_txs:"},
    {"params.consensus.timeout_propose", "1000", "params.consensus.timeout_propose: unknown field"},
    {"params.mempool", "\"x\"", "params.mempool: must be an object"},
    {"params.mempool.max_txs", "0", "params.mempool.max_txs:"},
    {"params.mempool.max_bytes", "1024", "params.mempool.max_bytes: 1024 is smaller"},
    {"params.mempool.max_tx_bytes", "2097152", "params.mempool.max_tx_bytes:"},
    {"params.mempool.max_tx_bytes", "100", "params.mempool.max_tx_bytes:"},
    {"params.mempool.cache_size", "0", "params.mempool.cache_size:"},
    {"params.mempool.size", "1", "params.mempool.size: unknown field"},
    {"params.auth", "null", "params.auth: must be an object"},
    {"params.auth.min_fee_per_byte", "5", "params.auth.min_fee_per_byte:"},
    {"params.auth.min_fee_per_byte", "\"01\"", "params.auth.min_fee_per_byte:"},
    {"params.auth.min_fee_per_byte", "\"340282366920938463463374607431768211456\"",
     "params.auth.min_fee_per_byte:"},
    {"params.auth.max_memo_bytes", "-1", "params.auth.max_memo_bytes:"},
    {"params.auth.max_memo_bytes", "5000", "params.auth.max_memo_bytes: 5000 is larger"},
    {"params.auth.fee", "\"1\"", "params.auth.fee: unknown field"},
    {"accounts", "{}", "accounts: must be an array"},
    {"accounts[1]", "\"st1\"", "accounts[1]: must be an object"},
    {"accounts[1].address", NULL, "accounts[1].address: must be an st1"},
    {"accounts[1].address", "\"stsds1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqjfl7tq\"",
     "accounts[1].address: not a valid st1"},
    {"accounts[1].address", "\"st1notanaddress\"", "accounts[1].address: not a valid st1"},
    {"accounts[0].balance", "\"1.5\"", "accounts[0].balance: must be a decimal"},
    {"accounts[0].balance", "\"\"", "accounts[0].balance: must be a decimal"},
    {"accounts[0].balance", "100", "accounts[0].balance: must be a decimal"},
    {"accounts[0].balance", "\"340282366920938463463374607431768211456\"",
     "accounts[0].balance: does not fit"},
    {"accounts[0].nonce", "0", "accounts[0].nonce: unknown field"},
    {"accounts[1].balance", "\"340282366920938463463374607431768211455\"",
     "accounts[1].balance: the total of all balances"},
    {"validators", NULL, "validators: is missing"},
    {"validators", "[]", "validators: 0 validators"},
    {"validators", "{}", "validators: must be an array"},
    {"validators[0]", "7", "validators[0]: must be an object"},
    {"validators[0].pub_key", "\"abcd\"", "validators[0].pub_key: must be 64 hex digits"},
    {"validators[0].pub_key",
     "\"zz00000000000000000000000000000000000000000000000000000000000000\"",
     "validators[0].pub_key: must be 64 hex digits"},
    {"validators[0].pub_key", NULL, "validators[0].pub_key: must be 64 hex digits"},
    {"validators[0].power", "0", "validators[0].power: 0 is out of range"},
    {"validators[0].power", "1125899906842625", "validators[0].power: 1125899906842625 is out"},
    {"validators[0].power", "\"10\"", "validators[0].power: must be an integer"},
    {"validators[0].power", NULL, "validators[0].power: is missing"},
    {"validators[0].name", "5", "validators[0].name: must be a string"},
    {"validators[0].address", "\"x\"", "validators[0].address: unknown field"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    json_t *j = t_genesis_json(3);
    json_t *v = NULL;
    if (bad[i].json) {
      json_error_t je;
      v = json_loads(bad[i].json, JSON_DECODE_ANY, &je);
      assert_non_null(v);
    }
    mutate(j, bad[i].path, v);
    st_chain__genesis_t g;
    char err[256] = "";
    int rc = st_chain__genesis_parse(j, &g, err, sizeof(err));
    if (rc != ST_ECONFIG || strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
      fail_msg("%s: got %s \"%s\", want \"%s...\"", bad[i].path, st_errname(rc), err,
               bad[i].want);
    assert_null(g.accts);
    assert_null(g.valset.v);
    json_decref(j);
  }
}

static void test_duplicates(void **state) {
  (void)state;
  char err[256];
  st_chain__genesis_t g;
  /* The same account twice. */
  json_t *j = t_genesis_json(3);
  json_t *accts = json_object_get(j, "accounts");
  json_array_append(accts, json_array_get(accts, 1));
  assert_int_equal(st_chain__genesis_parse(j, &g, err, sizeof(err)), ST_ECONFIG);
  assert_non_null(strstr(err, "accounts: address st1"));
  assert_non_null(strstr(err, "appears more than once"));
  json_decref(j);
  /* The same validator twice. */
  j = t_genesis_json(3);
  json_t *vals = json_object_get(j, "validators");
  json_t *copy = json_deep_copy(json_array_get(vals, 0));
  json_object_set_new(copy, "name", json_string("node1"));
  json_array_append_new(vals, copy);
  assert_int_equal(st_chain__genesis_parse(j, &g, err, sizeof(err)), ST_ECONFIG);
  assert_non_null(strstr(err, "validators: pub_key"));
  json_decref(j);
  /* Not an object at all. */
  j = json_array();
  assert_int_equal(st_chain__genesis_parse(j, &g, err, sizeof(err)), ST_ECONFIG);
  assert_string_equal(err, "genesis: must be a JSON object");
  json_decref(j);
}

int main(void) {
  st_crypto_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid),
    cmocka_unit_test(test_defaults_and_other_sections),
    cmocka_unit_test(test_bad_fields),
    cmocka_unit_test(test_duplicates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
