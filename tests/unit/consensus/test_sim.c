/* The consensus engine in a simulated network of nodes on one loop:
 * agreement over many heights, proposer rotation by power, progress with
 * one node cut off, a halt (and no fork) with two of four cut off, and
 * recovery when the network heals. */
#include <stratos/st_rpc.h>

#include "sim.h"

static void test_four_commit_ten(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  sim_add_tx(&s->nodes[0], "hello");
  sim_add_tx(&s->nodes[1], "world");
  assert_true(sim_wait_height(s, 0xf, 10, 20000));
  int64_t low = sim_check_agreement(s, 0xf);
  assert_true(low >= 10);
  /* The txs were committed once each, everywhere. */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(s->nodes[i].app.ntxs_committed, 2);
    assert_int_equal(s->nodes[i].nbans, 0);
    sim_check_no_double_sign(&s->nodes[i]);
  }
  /* Each block carries the commit of its parent; the stored commits
   * verify against the validator set. */
  st_cons_t *c = s->nodes[0].cons;
  st_txn_t *txn;
  assert_int_equal(st_txn_begin(s->nodes[0].node.store, false, &txn), 0);
  for (int64_t h = 1; h <= 10; h++) {
    const void *p;
    size_t n;
    assert_int_equal(st_cons__store_commit(c, txn, h, &p, &n), 0);
    Stratos__Cons__Commit *cm = stratos__cons__commit__unpack(NULL, n, p);
    assert_non_null(cm);
    const char *why;
    assert_int_equal(st_cons__commit_verify(SIM_CHAIN, &s->vs, h, s->nodes[0].app.block_hash[h],
                                            cm, NULL, &why),
                     0);
    stratos__cons__commit__free_unpacked(cm, NULL);
  }
  st_txn_abort(txn);
  sim_free(s);
}

static void test_single_validator(void **state) {
  (void)state;
  sim_t *s = sim_new(1, NULL);
  sim_start_node(s, 0);
  sim_add_tx(&s->nodes[0], "solo");
  assert_true(sim_wait_height(s, 0x1, 5, 10000));
  assert_int_equal(s->nodes[0].app.ntxs_committed, 1);
  /* Restarted, it goes on from its store (no replay left to do). */
  sim_crash_node(s, 0);
  int64_t h = s->nodes[0].app.max_h;
  sim_start_node(s, 0);
  assert_true(sim_wait_height(s, 0x1, h + 3, 10000));
  sim_check_no_double_sign(&s->nodes[0]);
  sim_free(s);
}

static void test_weighted_proposers(void **state) {
  (void)state;
  int64_t powers[4] = {1, 1, 1, 7};
  sim_t *s = sim_new(4, powers);
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  assert_true(sim_wait_height(s, 0xf, 20, 30000));
  sim_check_agreement(s, 0xf);
  int counts[4] = {0};
  for (int64_t h = 1; h <= 20; h++) {
    int who = sim_node_of(s, s->nodes[0].app.proposer[h]);
    assert_true(who >= 0);
    counts[who]++;
  }
  /* The validator with 7 of 10 proposes about 7 blocks in 10. */
  assert_in_range(counts[3], 12, 16);
  for (int i = 0; i < 3; i++)
    assert_in_range(counts[i], 1, 4);
  /* The engine's own answer for (height, round) follows the same rule. */
  st_cons_t *c = s->nodes[0].cons;
  int rc[4] = {0};
  for (int32_t r = 0; r < 100; r++) {
    const st_cons_valset_t *vs;
    size_t idx = st_cons_proposer_index(c, 5, r);
    assert_int_equal(st_cons_valset_at(c, 5, &vs), 0);
    rc[sim_node_of(s, vs->v[idx].addr)]++;
  }
  assert_in_range(rc[3], 69, 71);
  sim_free(s);
}

static void test_one_partitioned(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  assert_true(sim_wait_height(s, 0xf, 2, 10000));
  sim_isolate(s, 3, true);
  int64_t h3 = sim_height(s, 3);
  int64_t h0 = sim_height(s, 0);
  /* The other three go on. */
  assert_true(sim_wait_height(s, 0x7, h0 + 5, 15000));
  assert_true(sim_height(s, 3) <= h3 + 1);
  /* Healed, the fourth catches up and all agree. */
  sim_isolate(s, 3, false);
  int64_t target = sim_height(s, 0) + 2;
  assert_true(sim_wait_height(s, 0xf, target, 20000));
  sim_check_agreement(s, 0xf);
  for (int i = 0; i < 4; i++)
    sim_check_no_double_sign(&s->nodes[i]);
  sim_free(s);
}

static void test_two_partitioned(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  assert_true(sim_wait_height(s, 0xf, 2, 10000));
  /* Split 2 | 2: neither side has more than 2/3. */
  sim_cut(s, 0, 2, true);
  sim_cut(s, 0, 3, true);
  sim_cut(s, 1, 2, true);
  sim_cut(s, 1, 3, true);
  sim_run(s, NULL, NULL, 400); /* let what was in flight settle */
  int64_t before[4];
  for (int i = 0; i < 4; i++)
    before[i] = sim_height(s, i);
  /* Several rounds of timeouts pass without a commit. */
  sim_run(s, NULL, NULL, 2000);
  for (int i = 0; i < 4; i++)
    assert_int_equal(sim_height(s, i), before[i]);
  /* Without +2/3 of anything, no timeout after propose fires (lines 34
   * and 47 of the algorithm need +2/3 messages): the halves wait. */
  for (int i = 0; i < 4; i++) {
    st_cons_status_t st;
    st_cons_status(s->nodes[i].cons, &st);
    assert_true(st.step == ST_CONS__STEP_PREVOTE || st.step == ST_CONS__STEP_PRECOMMIT);
  }
  /* Healed: progress resumes and nobody forked. */
  sim_cut(s, 0, 2, false);
  sim_cut(s, 0, 3, false);
  sim_cut(s, 1, 2, false);
  sim_cut(s, 1, 3, false);
  int64_t top = before[0];
  for (int i = 1; i < 4; i++)
    if (before[i] > top)
      top = before[i];
  assert_true(sim_wait_height(s, 0xf, top + 3, 30000));
  sim_check_agreement(s, 0xf);
  for (int i = 0; i < 4; i++)
    sim_check_no_double_sign(&s->nodes[i]);
  sim_free(s);
}

/* ---- the JSON-RPC queries, on a live chain ---- */

static json_t *q(st_cons_t *c, int (*fn)(st_cons_t *, json_t *, json_t **, char *, size_t),
                 const char *params, int want, const char *want_err) {
  json_t *p = NULL, *res = NULL;
  if (params) {
    json_error_t je;
    p = json_loads(params, JSON_DECODE_ANY, &je);
    assert_non_null(p);
  }
  char err[256] = "";
  int code = fn(c, p, &res, err, sizeof(err));
  json_decref(p);
  if (code != want)
    fail_msg("%s: code %d, want %d (%s)", params ? params : "(none)", code, want, err);
  if (want_err && !strstr(err, want_err))
    fail_msg("%s: error \"%s\" lacks \"%s\"", params ? params : "(none)", err, want_err);
  if (want != 0)
    assert_null(res);
  return res;
}

static json_int_t jint(json_t *o, const char *path) {
  json_t *v = o;
  char buf[128];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char *save, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
    v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
  assert_true(json_is_integer(v));
  return json_integer_value(v);
}

static const char *jstr(json_t *o, const char *path) {
  json_t *v = o;
  char buf[128];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char *save, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
    v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
  assert_true(json_is_string(v));
  return json_string_value(v);
}

static bool pred_ev_committed(sim_t *s, void *ud) {
  (void)ud;
  return s->nodes[0].app.nevidence > 0 && s->nodes[0].app.ntxs_committed > 0 &&
         sim_height(s, 0) >= 4;
}

static void test_rpc_queries(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  s->nodes[3].byzantine = true;
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  sim_add_tx(&s->nodes[0], "rpc-tx");
  assert_true(sim_run(s, pred_ev_committed, NULL, 20000));
  /* Freeze node 0's view. */
  for (int i = 1; i < 4; i++)
    sim_crash_node(s, i);
  sim_run(s, NULL, NULL, 50);
  st_cons_t *c = s->nodes[0].cons;
  int64_t latest = c->latest;
  char msg[128], params[128];
  json_t *r;

  /* block */
  r = q(c, st_cons__q_block, NULL, 0, NULL);
  assert_int_equal(jint(r, "block.header.height"), latest);
  assert_int_equal(strlen(jstr(r, "block_id.hash")), 64);
  assert_true(strncmp(jstr(r, "block.header.proposer_address"), "stsds1", 6) == 0);
  json_decref(r);
  r = q(c, st_cons__q_block, "{\"height\": \"2\"}", 0, NULL);
  assert_int_equal(jint(r, "block.header.height"), 2);
  assert_int_equal(jint(r, "block.last_commit.height"), 1);
  assert_true(json_array_size(json_object_get(
                json_object_get(json_object_get(r, "block"), "last_commit"), "signatures")) >= 3);
  json_decref(r);
  /* The tx is in the block whose data has it, base64. */
  bool seen_tx = false, seen_ev = false;
  for (int64_t h = 1; h <= latest; h++) {
    snprintf(params, sizeof(params), "{\"height\": %lld}", (long long)h);
    r = q(c, st_cons__q_block, params, 0, NULL);
    json_t *txs = json_object_get(json_object_get(json_object_get(r, "block"), "data"), "txs");
    if (json_array_size(txs) == 1 && strcmp(json_string_value(json_array_get(txs, 0)),
                                            "cnBjLXR4") == 0)
      seen_tx = true;
    json_t *evs = json_object_get(json_object_get(r, "block"), "evidence");
    if (json_array_size(evs) > 0) {
      seen_ev = true;
      assert_string_equal(jstr(evs, "0.type"), "duplicate_vote");
    }
    json_decref(r);
  }
  assert_true(seen_tx);
  assert_true(seen_ev);
  snprintf(msg, sizeof(msg), "height 99 is not available; latest is %lld", (long long)latest);
  q(c, st_cons__q_block, "{\"height\": 99}", ST_RPC_INVALID_PARAMS, msg);
  q(c, st_cons__q_block, "{\"height\": 0}", ST_RPC_INVALID_PARAMS, "is not available");
  q(c, st_cons__q_block, "{\"height\": \"2x\"}", ST_RPC_INVALID_PARAMS,
    "height must be an integer or a decimal string");
  q(c, st_cons__q_block, "{\"height\": 1.5}", ST_RPC_INVALID_PARAMS, "height must be");
  q(c, st_cons__q_block, "{\"heigth\": 1}", ST_RPC_INVALID_PARAMS, "unknown parameter");
  q(c, st_cons__q_block, "[1]", ST_RPC_INVALID_PARAMS, "named parameters");

  /* blockchain */
  r = q(c, st_cons__q_blockchain, NULL, 0, NULL);
  assert_int_equal(jint(r, "last_height"), latest);
  assert_int_equal(jint(r, "block_metas.0.header.height"), latest);
  assert_int_equal(json_array_size(json_object_get(r, "block_metas")),
                   latest < 20 ? latest : 20);
  json_decref(r);
  r = q(c, st_cons__q_blockchain, "{\"min_height\": 2, \"max_height\": \"3\"}", 0, NULL);
  assert_int_equal(json_array_size(json_object_get(r, "block_metas")), 2);
  assert_int_equal(jint(r, "block_metas.0.header.height"), 3);
  assert_int_equal(jint(r, "block_metas.1.header.height"), 2);
  json_decref(r);
  q(c, st_cons__q_blockchain, "{\"min_height\": 3, \"max_height\": 2}", ST_RPC_INVALID_PARAMS,
    "min_height 3 is greater than max_height 2");

  /* commit */
  r = q(c, st_cons__q_commit, "{\"height\": 1}", 0, NULL);
  assert_true(json_is_true(json_object_get(r, "canonical")));
  assert_int_equal(jint(r, "signed_header.commit.height"), 1);
  assert_true(json_array_size(json_object_get(
                json_object_get(json_object_get(r, "signed_header"), "commit"), "signatures")) >= 3);
  json_decref(r);
  r = q(c, st_cons__q_commit, NULL, 0, NULL);
  assert_true(json_is_false(json_object_get(r, "canonical")));
  assert_int_equal(jint(r, "signed_header.header.height"), latest);
  json_decref(r);

  /* validators */
  r = q(c, st_cons__q_validators, NULL, 0, NULL);
  assert_int_equal(jint(r, "total"), 4);
  assert_int_equal(jint(r, "count"), 4);
  assert_int_equal(jint(r, "validators.0.voting_power"), 10);
  assert_int_equal(strlen(jstr(r, "validators.0.pub_key")), 64);
  json_decref(r);
  r = q(c, st_cons__q_validators, "{\"per_page\": 3, \"page\": 2, \"height\": 1}", 0, NULL);
  assert_int_equal(jint(r, "count"), 1);
  assert_int_equal(jint(r, "block_height"), 1);
  json_decref(r);
  q(c, st_cons__q_validators, "{\"per_page\": 3, \"page\": 3}", ST_RPC_INVALID_PARAMS,
    "page 3 is out of range; there are 2 pages");
  q(c, st_cons__q_validators, "{\"per_page\": 101}", ST_RPC_INVALID_PARAMS, "per_page");
  snprintf(params, sizeof(params), "{\"height\": %lld}", (long long)latest + 2);
  q(c, st_cons__q_validators, params, ST_RPC_INVALID_PARAMS, "is not available");

  /* consensus_state */
  r = q(c, st_cons__q_consensus_state, NULL, 0, NULL);
  assert_int_equal(jint(r, "round_state.height"), latest + 1);
  json_decref(r);
  q(c, st_cons__q_consensus_state, "{\"x\": 1}", ST_RPC_INVALID_PARAMS, "unknown parameter");

  /* evidence */
  r = q(c, st_cons__q_evidence, NULL, 0, NULL);
  assert_true(jint(r, "total") >= 1);
  char addr[ST_ADDR_STR_MAX];
  st_addr_encode(ST_HRP_NODE, s->nodes[3].addr, addr, sizeof(addr));
  assert_string_equal(jstr(r, "evidence.0.validator_address"), addr);
  assert_string_equal(jstr(r, "evidence.0.vote_type"), "prevote");
  assert_int_equal(jint(r, "evidence.0.power"), 10);
  json_decref(r);
  q(c, st_cons__q_evidence, "{\"page\": 9}", ST_RPC_INVALID_PARAMS, "out of range");
  sim_free(s);
}

int main(void) {
  st_log_set_level(getenv("SIM_LOG") ? ST_LOG_INFO : ST_LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_four_commit_ten),
    cmocka_unit_test(test_single_validator),
    cmocka_unit_test(test_weighted_proposers),
    cmocka_unit_test(test_one_partitioned),
    cmocka_unit_test(test_two_partitioned),
    cmocka_unit_test(test_rpc_queries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
