/* Unit tests of the holder's receipt table (src/resource/receipts.c): the
 * latest receipt per session, receipts for other servers refused, the
 * cap pushing out the session updated longest ago, submissions of what
 * grew and one retry, and sessions forgotten once old. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <stratos/st_err.h>
#include <stratos/st_meta.h>
#include "resource/receipts.h"

static st_keypair_t reader;
static uint8_t me[ST_ADDR_LEN], other[ST_ADDR_LEN];

static void rcpt(st_buf_t *b, const uint8_t server[ST_ADDR_LEN], uint8_t session,
                 uint64_t bytes) {
  st_meta_receipt_t r;
  memset(&r, 0, sizeof(r));
  memcpy(r.server, server, ST_ADDR_LEN);
  memset(r.payer, 7, ST_ADDR_LEN);
  memset(r.file, 8, ST_HASH_LEN);
  memset(r.session, session, sizeof(r.session));
  r.bytes = bytes;
  st_buf_init(b, 4096);
  assert_int_equal(st_meta_receipt_sign(&reader, "t-meta", &r, b), 0);
}

static int add(st_res__rcpt_t *t, const uint8_t server[ST_ADDR_LEN], uint8_t session,
               uint64_t bytes, int64_t now) {
  st_buf_t b;
  rcpt(&b, server, session, bytes);
  int rc = st_res__rcpt_add(t, b.data, b.len, now);
  st_buf_free(&b);
  return rc;
}

static int setup(void **state) {
  uint8_t seed[ST_SEED_LEN];
  memset(seed, 3, sizeof(seed));
  assert_int_equal(st_key_from_seed(seed, &reader), 0);
  memset(me, 1, ST_ADDR_LEN);
  memset(other, 2, ST_ADDR_LEN);
  (void)state;
  return 0;
}

static void test_latest_per_session(void **state) {
  st_res__rcpt_t *t;
  const uint8_t *rs[8];
  size_t ls[8];
  st_meta_receipt_t r;
  (void)state;
  assert_int_equal(st_res__rcpt_new(me, 4, &t), 0);
  assert_int_equal(add(t, me, 1, 100, 10), 0);
  assert_int_equal(add(t, me, 1, 300, 11), 0);
  assert_int_equal(add(t, me, 1, 200, 12), ST_EEXIST);
  assert_int_equal(add(t, other, 2, 100, 13), ST_EPERM);
  assert_int_equal(st_res__rcpt_add(t, (const uint8_t *)"junk", 4, 14), ST_EPARSE);
  assert_int_equal(st_res__rcpt_count(t), 1);
  assert_int_equal(st_res__rcpt_due(t), 1);
  assert_int_equal(st_res__rcpt_take(t, 20, 1000, 8, rs, ls), 1);
  assert_int_equal(st_meta_receipt_read(rs[0], ls[0], &r), 0);
  assert_int_equal(r.bytes, 300);
  /* Nothing new: nothing to submit until the retry is due, then once. */
  assert_int_equal(st_res__rcpt_take(t, 500, 1000, 8, rs, ls), 0);
  assert_int_equal(st_res__rcpt_take(t, 1020, 1000, 8, rs, ls), 1);
  assert_int_equal(st_res__rcpt_take(t, 5000, 1000, 8, rs, ls), 0);
  /* Forgotten once older than keep_ms. */
  assert_int_equal(st_res__rcpt_expire(t, 5000, 10000), 0);
  assert_int_equal(st_res__rcpt_expire(t, 20000, 10000), 1);
  assert_int_equal(st_res__rcpt_count(t), 0);
  st_res__rcpt_free(t);
}

static void test_cap_drops_oldest(void **state) {
  st_res__rcpt_t *t;
  const uint8_t *rs[8];
  size_t ls[8];
  st_meta_receipt_t r;
  (void)state;
  assert_int_equal(st_res__rcpt_new(me, 3, &t), 0);
  assert_int_equal(add(t, me, 1, 10, 100), 0);
  assert_int_equal(add(t, me, 2, 10, 50), 0);
  assert_int_equal(add(t, me, 3, 10, 200), 0);
  assert_int_equal(add(t, me, 4, 10, 300), 0);
  assert_int_equal(st_res__rcpt_count(t), 3);
  size_t k = st_res__rcpt_take(t, 400, 1000, 8, rs, ls);
  assert_int_equal(k, 3);
  for (size_t i = 0; i < k; i++) {
    assert_int_equal(st_meta_receipt_read(rs[i], ls[i], &r), 0);
    assert_int_not_equal(r.session[0], 2);
  }
  st_res__rcpt_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(test_latest_per_session, setup),
    cmocka_unit_test_setup(test_cap_drops_oldest, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
