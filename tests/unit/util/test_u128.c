/* 128-bit decimal amounts: the full range, overflow by one, and every
 * spelling the strict parser refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

#define U128_MAX_STR "340282366920938463463374607431768211455"

static void assert_u128_equal(st_u128 a, st_u128 b) {
  assert_int_equal((uint64_t)(a >> 64), (uint64_t)(b >> 64));
  assert_int_equal((uint64_t)a, (uint64_t)b);
}

static void test_parse_values(void **state) {
  (void)state;
  st_u128 v;
  assert_int_equal(st_u128_parse("0", &v), 0);
  assert_u128_equal(v, 0);
  assert_int_equal(st_u128_parse("1", &v), 0);
  assert_u128_equal(v, 1);
  assert_int_equal(st_u128_parse("18446744073709551615", &v), 0);
  assert_u128_equal(v, UINT64_MAX);
  assert_int_equal(st_u128_parse("18446744073709551616", &v), 0);
  assert_u128_equal(v, (st_u128)1 << 64);
  /* One STOS in wei. */
  assert_int_equal(st_u128_parse("1000000000000000000", &v), 0);
  assert_u128_equal(v, (st_u128)1000000000000000000ull);
  assert_int_equal(st_u128_parse(U128_MAX_STR, &v), 0);
  assert_u128_equal(v, ~(st_u128)0);
}

static void test_parse_overflow(void **state) {
  (void)state;
  st_u128 v = 7;
  const char *over[] = {
    "340282366920938463463374607431768211456", /* max + 1 */
    "340282366920938463463374607431768211465",
    "340282366920938463463374607431768211460",
    "999999999999999999999999999999999999999",
    "1000000000000000000000000000000000000000",
    "3402823669209384634633746074317682114550",
    "99999999999999999999999999999999999999999999999999999999999999999999",
  };
  for (size_t i = 0; i < sizeof over / sizeof over[0]; i++)
    assert_int_equal(st_u128_parse(over[i], &v), ST_ERANGE);
  assert_u128_equal(v, 7);
}

static void test_parse_malformed(void **state) {
  (void)state;
  st_u128 v = 7;
  const char *bad[] = {"",   "00",  "01",  "0001", "-1",  "+1", " 1", "1 ",
                       "1a", "a1", "1.0", "0x10", "1e3", "\xef\xbc\x91", "1,000", "\t0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(st_u128_parse(bad[i], &v), ST_EINVAL);
  assert_int_equal(st_u128_parse(NULL, &v), ST_EINVAL);
  assert_int_equal(st_u128_parse("1", NULL), ST_EINVAL);
  assert_u128_equal(v, 7);
}

static void test_format(void **state) {
  (void)state;
  char out[ST_U128_STR_MAX];
  st_u128_format(0, out);
  assert_string_equal(out, "0");
  st_u128_format(9, out);
  assert_string_equal(out, "9");
  st_u128_format(10, out);
  assert_string_equal(out, "10");
  st_u128_format((st_u128)1 << 64, out);
  assert_string_equal(out, "18446744073709551616");
  st_u128_format(~(st_u128)0, out);
  assert_string_equal(out, U128_MAX_STR);
  assert_int_equal(strlen(out), ST_U128_STR_MAX - 1);
}

static void test_round_trip(void **state) {
  (void)state;
  char out[ST_U128_STR_MAX];
  st_u128 p = 1, back;
  uint64_t s = 0x243f6a8885a308d3ull;

  /* Every power of ten and its neighbours. */
  for (int k = 0; k <= 38; k++) {
    st_u128 vals[3] = {p - 1, p, p + 1};
    for (int j = 0; j < 3; j++) {
      st_u128_format(vals[j], out);
      assert_int_equal(st_u128_parse(out, &back), 0);
      assert_u128_equal(back, vals[j]);
    }
    p *= 10;
  }
  /* Seeded pseudo-random values across the range. */
  for (int i = 0; i < 10000; i++) {
    st_u128 v;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    v = (st_u128)s << 64;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    v |= s;
    v >>= (unsigned)(i % 128);
    st_u128_format(v, out);
    assert_int_equal(st_u128_parse(out, &back), 0);
    assert_u128_equal(back, v);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_values),
    cmocka_unit_test(test_parse_overflow),
    cmocka_unit_test(test_parse_malformed),
    cmocka_unit_test(test_format),
    cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
