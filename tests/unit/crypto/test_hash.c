/* Tagged BLAKE2b-256: the one-shot and streaming forms agree with each
 * other and with BLAKE2b over (tag || data) computed directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "stratos/st_bytes.h"
#include "stratos/st_crypto.h"

static int setup(void **state) {
  (void)state;
  return st_crypto_init();
}

/* BLAKE2b-256 of tag || data, computed without st_hash. */
static void reference(uint8_t tag, const uint8_t *data, size_t len, uint8_t out[32]) {
  uint8_t buf[1 + 300];
  assert_true(len <= 300);
  buf[0] = tag;
  memcpy(buf + 1, data, len);
  crypto_generichash(out, 32, buf, 1 + len, NULL, 0);
}

static void test_blake2b_known(void **state) {
  (void)state;
  /* BLAKE2b-256 of the empty string pins down the primitive. */
  uint8_t h[32];
  char hex[65];
  crypto_generichash(h, sizeof h, NULL, 0, NULL, 0);
  st_hex_encode(h, sizeof h, hex, sizeof hex);
  assert_string_equal(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

static void test_tagged(void **state) {
  (void)state;
  uint8_t data[300], a[ST_HASH_LEN], b[ST_HASH_LEN];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (uint8_t)(i * 13 + 5);
  for (size_t len = 0; len <= sizeof data; len += 23) {
    st_hash(ST_DOM_TX, data, len, a);
    reference(ST_DOM_TX, data, len, b);
    assert_memory_equal(a, b, ST_HASH_LEN);
  }
  st_hash(ST_DOM_TX, NULL, 0, a);
  reference(ST_DOM_TX, data, 0, b);
  assert_memory_equal(a, b, ST_HASH_LEN);
}

static void test_tags_separate(void **state) {
  (void)state;
  uint8_t h[0x11][ST_HASH_LEN];
  for (int t = 0; t <= 0x10; t++)
    st_hash((uint8_t)t, "same bytes", 10, h[t]);
  for (int t = 0; t <= 0x10; t++)
    for (int u = t + 1; u <= 0x10; u++)
      assert_memory_not_equal(h[t], h[u], ST_HASH_LEN);
  /* The tag is a prefix byte: tag 0x02 over "x" equals tag 0x02 over
   * nothing followed by "x", but not tag 0x00 over "\x02x". */
  uint8_t a[ST_HASH_LEN], b[ST_HASH_LEN];
  st_hash(0x02, "x", 1, a);
  st_hash(0x00, "\x02x", 2, b);
  assert_memory_not_equal(a, b, ST_HASH_LEN);
}

static void test_streaming(void **state) {
  (void)state;
  uint8_t data[300], one[ST_HASH_LEN], many[ST_HASH_LEN];
  st_hash_ctx_t c;

  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (uint8_t)(i ^ 0x5c);
  st_hash(ST_DOM_BLOCK_HEADER, data, sizeof data, one);
  for (size_t step = 1; step <= 130; step += 43) {
    st_hash_init(&c, ST_DOM_BLOCK_HEADER);
    for (size_t off = 0; off < sizeof data; off += step) {
      size_t n = sizeof data - off < step ? sizeof data - off : step;
      st_hash_update(&c, data + off, n);
      st_hash_update(&c, NULL, 0);
    }
    st_hash_final(&c, many);
    assert_memory_equal(one, many, ST_HASH_LEN);
  }
  st_hash_init(&c, ST_DOM_VOTE);
  st_hash_update(&c, data, sizeof data);
  st_hash_final(&c, many);
  assert_memory_not_equal(one, many, ST_HASH_LEN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_blake2b_known),
    cmocka_unit_test(test_tagged),
    cmocka_unit_test(test_tags_separate),
    cmocka_unit_test(test_streaming),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
