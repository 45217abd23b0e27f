/* Unit tests of the ozone ledger's rules: credits once per prepay tx,
 * debits all or nothing, never a negative balance; and the resource-node
 * mirror's encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <stratos/st_err.h>
#include "meta/meta_private.h"

static void addr_of(uint8_t n, uint8_t a[ST_ADDR_LEN]) {
  memset(a, n, ST_ADDR_LEN);
}

/* Each test runs over an overlay of an empty state without a store. */
static int ov_setup(void **state) {
  static const st_chain__state_t empty;
  st_chain__overlay_t *ov = calloc(1, sizeof(*ov));
  assert_non_null(ov);
  st_chain__ov_init(ov, &empty, NULL);
  *state = ov;
  return 0;
}

static int ov_teardown(void **state) {
  st_chain__ov_free(*state);
  free(*state);
  return 0;
}

static void test_credit_once_per_tx(void **state) {
  st_chain__overlay_t *ov = *state;
  uint8_t a[ST_ADDR_LEN], tx1[ST_HASH_LEN], tx2[ST_HASH_LEN];
  addr_of(1, a);
  memset(tx1, 0xa1, sizeof(tx1));
  memset(tx2, 0xa2, sizeof(tx2));
  bool applied;
  st_u128 noz;
  assert_int_equal(st_meta__oz_credit(ov, a, 1000, tx1, &applied), 0);
  assert_true(applied);
  /* The same prepay again (a replayed event) changes nothing. */
  assert_int_equal(st_meta__oz_credit(ov, a, 1000, tx1, &applied), 0);
  assert_false(applied);
  assert_int_equal(st_meta__oz_get(ov, a, &noz), 0);
  assert_true(noz == 1000);
  /* Another prepay adds. */
  assert_int_equal(st_meta__oz_credit(ov, a, 234, tx2, &applied), 0);
  assert_true(applied);
  assert_int_equal(st_meta__oz_get(ov, a, &noz), 0);
  assert_true(noz == 1234);
}

static void test_debit_all_or_nothing(void **state) {
  st_chain__overlay_t *ov = *state;
  uint8_t a[ST_ADDR_LEN], b[ST_ADDR_LEN], tx[ST_HASH_LEN];
  addr_of(1, a);
  addr_of(2, b);
  memset(tx, 0xb1, sizeof(tx));
  bool applied;
  st_u128 noz;
  assert_int_equal(st_meta__oz_credit(ov, a, 500, tx, &applied), 0);
  /* More than the balance: refused, the balance untouched. */
  assert_int_equal(st_meta__oz_debit(ov, a, 501), ST_EPERM);
  assert_int_equal(st_meta__oz_get(ov, a, &noz), 0);
  assert_true(noz == 500);
  /* An empty account cannot go below zero either. */
  assert_int_equal(st_meta__oz_debit(ov, b, 1), ST_EPERM);
  assert_int_equal(st_meta__oz_get(ov, b, &noz), 0);
  assert_true(noz == 0);
  /* Exactly the balance: down to zero. */
  assert_int_equal(st_meta__oz_debit(ov, a, 200), 0);
  assert_int_equal(st_meta__oz_debit(ov, a, 300), 0);
  assert_int_equal(st_meta__oz_get(ov, a, &noz), 0);
  assert_true(noz == 0);
  assert_int_equal(st_meta__oz_debit(ov, a, 1), ST_EPERM);
}

static void test_credit_overflow_refused(void **state) {
  st_chain__overlay_t *ov = *state;
  uint8_t a[ST_ADDR_LEN], t1[ST_HASH_LEN], t2[ST_HASH_LEN];
  addr_of(3, a);
  memset(t1, 1, sizeof(t1));
  memset(t2, 2, sizeof(t2));
  bool applied;
  st_u128 max = ~(st_u128)0, noz;
  assert_int_equal(st_meta__oz_credit(ov, a, max, t1, &applied), 0);
  assert_int_equal(st_meta__oz_credit(ov, a, 1, t2, &applied), ST_ERANGE);
  assert_false(applied);
  assert_int_equal(st_meta__oz_get(ov, a, &noz), 0);
  assert_true(noz == max);
}

static void test_rnode_roundtrip(void **state) {
  st_chain__overlay_t *ov = *state;
  st_meta__rnode_t r, back;
  memset(&r, 0, sizeof(r));
  addr_of(9, r.addr);
  memset(r.pubkey, 7, sizeof(r.pubkey));
  addr_of(8, r.owner);
  r.node_type = 4;
  r.status = ST_NODE_ACTIVE;
  r.online = true;
  r.capacity = 1ull << 40;
  r.deposit = (st_u128)1 << 100;
  r.last_hb_ms = 1795000000123;
  r.hb_time_ms = 1795000000100;
  r.score = 9999;
  r.used = 5;
  r.free_ = 6;
  r.served = 7;
  r.slices = 8;
  snprintf(r.netaddr, sizeof(r.netaddr), "10.0.0.1:26656");
  assert_int_equal(st_meta__rnode_put(ov, &r), 0);
  assert_int_equal(st_meta__rnode_get(ov, r.addr, &back), 0);
  assert_memory_equal(&r, &back, sizeof(r));
  uint8_t other[ST_ADDR_LEN];
  addr_of(10, other);
  assert_int_equal(st_meta__rnode_get(ov, other, &back), ST_ENOENT);
}

int main(void) {
  st_crypto_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_credit_once_per_tx, ov_setup, ov_teardown),
    cmocka_unit_test_setup_teardown(test_debit_all_or_nothing, ov_setup, ov_teardown),
    cmocka_unit_test_setup_teardown(test_credit_overflow_refused, ov_setup, ov_teardown),
    cmocka_unit_test_setup_teardown(test_rnode_roundtrip, ov_setup, ov_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
