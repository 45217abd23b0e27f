/* Hex encoding and decoding, including every way a decode can fail and
 * the promise that a failed call leaves the output alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

static void test_encode_known(void **state) {
  (void)state;
  const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  char out[13];
  assert_int_equal(st_hex_encode(in, sizeof in, out, sizeof out), 0);
  assert_string_equal(out, "00017f80abff");

  char empty[1] = {'x'};
  assert_int_equal(st_hex_encode(NULL, 0, empty, sizeof empty), 0);
  assert_string_equal(empty, "");
}

static void test_encode_cap(void **state) {
  (void)state;
  const uint8_t in[] = {0xde, 0xad, 0xbe, 0xef};
  char out[9];
  memset(out, 'Z', sizeof out);
  assert_int_equal(st_hex_encode(in, sizeof in, out, 8), ST_E2BIG);
  for (size_t i = 0; i < sizeof out; i++)
    assert_int_equal(out[i], 'Z');
  assert_int_equal(st_hex_encode(in, sizeof in, out, 0), ST_E2BIG);
  assert_int_equal(st_hex_encode(in, SIZE_MAX / 2 + 1, out, sizeof out), ST_E2BIG);
  assert_int_equal(st_hex_encode(in, sizeof in, out, 9), 0);
  assert_string_equal(out, "deadbeef");
}

static void test_decode_known(void **state) {
  (void)state;
  uint8_t out[8];
  size_t n = 99;
  assert_int_equal(st_hex_decode("DeAdBeEf0019", 12, out, sizeof out, &n), 0);
  assert_int_equal(n, 6);
  const uint8_t want[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x19};
  assert_memory_equal(out, want, sizeof want);

  n = 99;
  assert_int_equal(st_hex_decode("", 0, out, 0, &n), 0);
  assert_int_equal(n, 0);

  /* hexlen bounds the input: the rest of the string is not read. */
  assert_int_equal(st_hex_decode("abzz", 2, out, 1, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0], 0xab);
}

static void test_decode_errors(void **state) {
  (void)state;
  uint8_t out[4];
  size_t n = 77;
  const char *bad[] = {"0g", "g0", " 0", "0 ", "0x", "-1", "\3770"};

  memset(out, 0x5a, sizeof out);
  assert_int_equal(st_hex_decode("abc", 3, out, sizeof out, &n), ST_EINVAL);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(st_hex_decode(bad[i], 2, out, sizeof out, &n), ST_EINVAL);
  /* An embedded NUL is not a digit. */
  assert_int_equal(st_hex_decode("ab\0c", 4, out, sizeof out, &n), ST_EINVAL);
  /* A bad digit late in the input must not leave early bytes written. */
  assert_int_equal(st_hex_decode("0102030z", 8, out, sizeof out, &n), ST_EINVAL);
  /* Too little room. */
  assert_int_equal(st_hex_decode("0102030405", 10, out, sizeof out, &n), ST_E2BIG);
  for (size_t i = 0; i < sizeof out; i++)
    assert_int_equal(out[i], 0x5a);
  assert_int_equal(n, 77);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint8_t rng_byte(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint8_t)(rng_state >> 24);
}

static void test_round_trip(void **state) {
  (void)state;
  uint8_t in[64] = {0}, back[64];
  char hex[129];
  for (size_t len = 0; len <= sizeof in; len++) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
      in[i] = rng_byte();
    assert_int_equal(st_hex_encode(in, len, hex, sizeof hex), 0);
    assert_int_equal(strlen(hex), 2 * len);
    assert_int_equal(st_hex_decode(hex, 2 * len, back, len, &n), 0);
    assert_int_equal(n, len);
    if (len > 0)
      assert_memory_equal(in, back, len);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_encode_known),
    cmocka_unit_test(test_encode_cap),
    cmocka_unit_test(test_decode_known),
    cmocka_unit_test(test_decode_errors),
    cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
