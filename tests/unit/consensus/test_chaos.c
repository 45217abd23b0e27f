/* The consensus engine on a bad network: frames are lost at random and
 * the links between nodes are cut and healed in random patterns, with
 * one validator signing double prevotes. Whatever happens, no two nodes
 * ever commit different blocks, no honest node signs two different votes
 * for one step, and once the network is whole again the chain goes on.
 * The schedule is seeded, so a failure can be replayed. */
#include "sim.h"

static void chaos_run(uint64_t seed, unsigned drop_pct, int byz) {
  sim_t *s = sim_new(4, NULL);
  const char *env = getenv("CHAOS_SEED");
  if (env && *env)
    seed ^= strtoull(env, NULL, 0);
  s->rng = seed;
  s->drop_pct = drop_pct;
  if (byz >= 0)
    s->nodes[byz].byzantine = true;
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  /* 24 periods of 250 ms, each with its own pattern of cut links. */
  for (int period = 0; period < 24; period++) {
    for (int i = 0; i < 4; i++)
      for (int j = i + 1; j < 4; j++)
        sim_cut(s, i, j, sim_rand(s) % 100 < 30);
    sim_run(s, NULL, NULL, 250);
    sim_check_agreement(s, 0xf);
  }
  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++)
      sim_cut(s, i, j, false);
  s->drop_pct = 0;
  int64_t top = 0;
  for (int i = 0; i < 4; i++)
    if (sim_height(s, i) > top)
      top = sim_height(s, i);
  assert_true(sim_wait_height(s, 0xf, top + 2, 30000));
  sim_check_agreement(s, 0xf);
  for (int i = 0; i < 4; i++)
    if (i != byz)
      sim_check_no_double_sign(&s->nodes[i]);
  assert_true(s->dropped > 0);
  sim_free(s);
}

static void test_chaos_lossy(void **state) {
  (void)state;
  chaos_run(0x1234567, 20, -1);
}

static void test_chaos_lossy_byzantine(void **state) {
  (void)state;
  chaos_run(0xfeedbeef, 15, 2);
}

static void test_chaos_heavy_loss(void **state) {
  (void)state;
  chaos_run(0xabcdef01, 45, -1);
}

int main(void) {
  st_log_set_level(getenv("SIM_LOG") ? ST_LOG_INFO : ST_LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_chaos_lossy),
    cmocka_unit_test(test_chaos_lossy_byzantine),
    cmocka_unit_test(test_chaos_heavy_loss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
