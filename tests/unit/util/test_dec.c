/* muldiv through a 256-bit product, and decimal fractions scaled by
 * 10^18: known values above 2^128, the overflow edges, rounding, seeded
 * cross-checks against native arithmetic, and the strict spelling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

#define U128_MAX (~(st_u128)0)
#define DEC_MAX_STR "340282366920938463463.374607431768211455"

static void assert_u128_equal(st_u128 a, st_u128 b) {
  assert_int_equal((uint64_t)(a >> 64), (uint64_t)(b >> 64));
  assert_int_equal((uint64_t)a, (uint64_t)b);
}

static st_u128 pow10_u128(int k) {
  st_u128 p = 1;
  while (k-- > 0)
    p *= 10;
  return p;
}

/* xorshift64: seeded, so a failure reproduces. */
static uint64_t next64(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static st_u128 next128(uint64_t *s) {
  st_u128 v = (st_u128)next64(s) << 64;
  return v | next64(s);
}

/* A random value of at most bits bits (0..128). */
static st_u128 next_bits(uint64_t *s, unsigned bits) {
  if (bits == 0)
    return 0;
  return next128(s) >> (128 - bits);
}

/* Both roundings must agree with the expected floor and ceiling. */
static void check_muldiv(st_u128 a, st_u128 b, st_u128 c, st_u128 lo,
                         st_u128 up) {
  st_u128 q;
  assert_int_equal(st_u128_muldiv(a, b, c, &q), 0);
  assert_u128_equal(q, lo);
  assert_int_equal(st_u128_muldiv_up(a, b, c, &q), 0);
  assert_u128_equal(q, up);
}

static void test_muldiv_known(void **state) {
  (void)state;
  st_u128 e27 = pow10_u128(27), e18 = pow10_u128(18);
  st_u128 two128_m2 = U128_MAX - 1;

  /* Products far above 2^128. */
  check_muldiv(U128_MAX, U128_MAX, U128_MAX, U128_MAX, U128_MAX);
  check_muldiv(e27, e27, e18, pow10_u128(36), pow10_u128(36));
  check_muldiv(U128_MAX, two128_m2, U128_MAX, two128_m2, two128_m2);
  check_muldiv(U128_MAX, two128_m2, two128_m2, U128_MAX, U128_MAX);
  /* 2^128 - 1 is divisible by 3, so 2 * (2^128 - 1) / 3 is exact. */
  check_muldiv(U128_MAX, 2, 3, (U128_MAX / 3) * 2, (U128_MAX / 3) * 2);
  /* (2^128 - 1) * 2^127 / (2^128 - 1): a 255-bit product. */
  check_muldiv(U128_MAX, (st_u128)1 << 127, U128_MAX, (st_u128)1 << 127,
               (st_u128)1 << 127);
  /* 2^64 * 2^64 / 2 == 2^127, the product exactly 2^128. */
  check_muldiv((st_u128)1 << 64, (st_u128)1 << 64, 2, (st_u128)1 << 127,
               (st_u128)1 << 127);
  /* (2^43 - 1)(2^86 + 2^43 + 1) == 2^129 - 1: halved, floor 2^128 - 1
   * with a remainder of 1. */
  {
    st_u128 a = ((st_u128)1 << 43) - 1;
    st_u128 b = ((st_u128)1 << 86) + ((st_u128)1 << 43) + 1;
    st_u128 q = 7;
    assert_int_equal(st_u128_muldiv(a, b, 2, &q), 0);
    assert_u128_equal(q, U128_MAX);
    q = 7;
    /* Rounding up would need 2^128. */
    assert_int_equal(st_u128_muldiv_up(a, b, 2, &q), ST_ERANGE);
    assert_u128_equal(q, 7);
    /* Over 3 it fits and rounds: (2^129 - 1) / 3 has rest 1. */
    check_muldiv(a, b, 3, (U128_MAX / 3) * 2, (U128_MAX / 3) * 2 + 1);
  }
  /* Zeros and ones. */
  check_muldiv(0, U128_MAX, 1, 0, 0);
  check_muldiv(U128_MAX, 0, U128_MAX, 0, 0);
  check_muldiv(U128_MAX, 1, 1, U128_MAX, U128_MAX);
  check_muldiv(1, 1, U128_MAX, 0, 1);
}

static void test_muldiv_rounding(void **state) {
  (void)state;
  /* No remainder: both roundings agree. */
  check_muldiv(6, 4, 3, 8, 8);
  check_muldiv(ST_DEC_ONE, 5, ST_DEC_ONE, 5, 5);
  /* A remainder: up is floor + 1. */
  check_muldiv(7, 1, 2, 3, 4);
  check_muldiv(10, 10, 3, 33, 34);
  check_muldiv(1, 1, 2, 0, 1);
  /* 5% of 1 wei rounds to 0 down and 1 up. */
  check_muldiv(1, ST_DEC_ONE / 20, ST_DEC_ONE, 0, 1);
  /* Above 2^128, with and without a remainder. */
  {
    /* (2^128-1)^2 / (2^128-2) = 2^128 + 1/(2^128-2): the floor is one
     * past the range, so both roundings are ERANGE. */
    st_u128 q = 7;
    assert_int_equal(st_u128_muldiv(U128_MAX, U128_MAX, U128_MAX - 1, &q),
                     ST_ERANGE);
    assert_int_equal(st_u128_muldiv_up(U128_MAX, U128_MAX, U128_MAX - 1, &q),
                     ST_ERANGE);
    assert_u128_equal(q, 7);
  }
  /* (2^128 - 1) * 3 / 4: product 3 * 2^128 - 3, floor 3 * 2^126 - 1
   * with a rest of 1, through the long-division path (high half 2). */
  check_muldiv(U128_MAX, 3, 4, ((st_u128)3 << 126) - 1, (st_u128)3 << 126);
}

static void test_muldiv_errors(void **state) {
  (void)state;
  st_u128 q = 7;
  /* Quotients of 2^128 and more. */
  assert_int_equal(st_u128_muldiv((st_u128)1 << 64, (st_u128)1 << 64, 1, &q),
                   ST_ERANGE);
  assert_int_equal(st_u128_muldiv_up((st_u128)1 << 64, (st_u128)1 << 64, 1, &q),
                   ST_ERANGE);
  assert_int_equal(st_u128_muldiv(U128_MAX, U128_MAX, 1, &q), ST_ERANGE);
  assert_int_equal(st_u128_muldiv(U128_MAX, 2, 1, &q), ST_ERANGE);
  assert_int_equal(st_u128_muldiv(U128_MAX, U128_MAX, (st_u128)1 << 64, &q),
                   ST_ERANGE);
  assert_int_equal(st_u128_muldiv(U128_MAX, 3, 2, &q), ST_ERANGE);
  /* Division by zero, even when the product is zero. */
  assert_int_equal(st_u128_muldiv(5, 5, 0, &q), ST_EINVAL);
  assert_int_equal(st_u128_muldiv(0, 0, 0, &q), ST_EINVAL);
  assert_int_equal(st_u128_muldiv_up(5, 5, 0, &q), ST_EINVAL);
  assert_int_equal(st_u128_muldiv_up(U128_MAX, U128_MAX, 0, &q), ST_EINVAL);
  /* *out untouched on every failure. */
  assert_u128_equal(q, 7);
  assert_int_equal(st_u128_muldiv(1, 1, 1, NULL), ST_EINVAL);
  assert_int_equal(st_u128_muldiv_up(1, 1, 1, NULL), ST_EINVAL);
}

/* a * b fits 128 bits: compare with plain u128 arithmetic. */
static void test_muldiv_random_small_product(void **state) {
  (void)state;
  uint64_t s = 0x9e3779b97f4a7c15ull;

  for (int i = 0; i < 10000; i++) {
    unsigned abits = (unsigned)(next64(&s) % 129);
    unsigned bbits = (unsigned)(next64(&s) % (129 - abits));
    st_u128 a = next_bits(&s, abits), b = next_bits(&s, bbits);
    st_u128 c = next_bits(&s, 1 + (unsigned)(next64(&s) % 128));
    st_u128 p = a * b;
    if (c == 0)
      c = 1;
    check_muldiv(a, b, c, p / c, p / c + (p % c != 0));
  }
}

/* a, b < 2^64 against __int128, with divisors of every width. */
static void test_muldiv_random_64(void **state) {
  (void)state;
  uint64_t s = 0x243f6a8885a308d3ull;

  for (int i = 0; i < 10000; i++) {
    uint64_t a = next64(&s), b = next64(&s);
    st_u128 c = next128(&s) >> (next64(&s) % 128);
    unsigned __int128 p = (unsigned __int128)a * b;
    if (c == 0)
      c = 1;
    check_muldiv(a, b, c, p / c, p / c + (p % c != 0));
  }
}

/* Products above 2^128 whose quotient is known: c divides a = c * k, so
 * a * b / c == k * b exactly. Then with a rest: (c * k + d) * b / c with
 * d * b < c gives floor k * b and ceiling k * b + 1 when d * b > 0. */
static void test_muldiv_random_wide(void **state) {
  (void)state;
  uint64_t s = 0x452821e638d01377ull;

  for (int i = 0; i < 10000; i++) {
    unsigned cbits = 1 + (unsigned)(next64(&s) % 128);
    unsigned kbits = (unsigned)(next64(&s) % (129 - cbits));
    unsigned bbits = (unsigned)(next64(&s) % (129 - kbits));
    st_u128 c = next_bits(&s, cbits), k = next_bits(&s, kbits);
    st_u128 b = next_bits(&s, bbits), d;
    /* k >= 1 keeps divisors above 2^127 (the carry in the long
     * division) in play: then k is 1 and the quotient is b itself. */
    if (c == 0)
      c = 1;
    if (k == 0)
      k = 1;
    check_muldiv(c * k, b, c, k * b, k * b);
    check_muldiv(b, c * k, c, k * b, k * b);
    /* A small rest d with d * b < c: only when b < c. */
    if (b == 0 || b >= c || c * k > U128_MAX - c)
      continue;
    d = (c - 1) / b;
    if (d == 0)
      continue;
    check_muldiv(c * k + d, b, c, k * b, k * b + 1);
  }
}

static void check_parse(const char *s, st_u128 want) {
  st_u128 v = 7;
  assert_int_equal(st_dec_parse(s, &v), 0);
  assert_u128_equal(v, want);
}

static void test_parse_values(void **state) {
  (void)state;
  check_parse("0", 0);
  check_parse("1", ST_DEC_ONE);
  check_parse("0.05", ST_DEC_ONE / 20);
  check_parse("0.0002", 200000000000000ull);
  check_parse("1.000000000000000000", ST_DEC_ONE);
  check_parse("12.5", ST_DEC_ONE * 12 + ST_DEC_ONE / 2);
  check_parse("0.000000000000000001", 1);
  check_parse("0.0", 0);
  check_parse("0.000000000000000000", 0);
  check_parse("10", ST_DEC_ONE * 10);
  check_parse("0.999999999999999999", ST_DEC_ONE - 1);
  check_parse("100.10", ST_DEC_ONE * 100 + ST_DEC_ONE / 10);
  /* The top of the range, integer part alone and with a fraction. */
  check_parse("340282366920938463463", (U128_MAX / ST_DEC_ONE) * ST_DEC_ONE);
  check_parse(DEC_MAX_STR, U128_MAX);
}

static void test_parse_malformed(void **state) {
  (void)state;
  st_u128 v = 7;
  const char *bad[] = {
    "", ".", "1.", ".5", "-1", "+1", "01", "00", "00.5", "1e5", " 1", "1 ",
    "0.0000000000000000001", /* 19 fraction digits */
    "1.0000000000000000000", "1,5", "1..5", "1.5.", "1.5.5", "0x1", "1.-5",
    "1.5 ", "1.e5", "\t1", "1\n", "a", "1a",
    /* Malformed stays EINVAL however big its digits are. */
    "999999999999999999999999999999999999999999.x",
    "999999999999999999999999999999999999999999.0000000000000000000",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(st_dec_parse(bad[i], &v), ST_EINVAL);
  assert_int_equal(st_dec_parse(NULL, &v), ST_EINVAL);
  assert_int_equal(st_dec_parse("1", NULL), ST_EINVAL);
  assert_u128_equal(v, 7);
}

static void test_parse_overflow(void **state) {
  (void)state;
  st_u128 v = 7;
  const char *over[] = {
    "340282366920938463463.374607431768211456", /* max + 1e-18 */
    "340282366920938463463.4",
    "340282366920938463463.99",
    "340282366920938463464",
    "340282366920938463470",
    "999999999999999999999",
    "1000000000000000000000",
    "3402823669209384634630",
    "340282366920938463463374607431768211455", /* u128 max, unscaled */
    "99999999999999999999999999999999999999999999999999999999999999.5",
  };
  for (size_t i = 0; i < sizeof over / sizeof over[0]; i++)
    assert_int_equal(st_dec_parse(over[i], &v), ST_ERANGE);
  assert_u128_equal(v, 7);
}

static void test_format(void **state) {
  (void)state;
  char out[ST_DEC_STR_MAX];
  st_dec_format(ST_DEC_ONE / 20, out);
  assert_string_equal(out, "0.050000000000000000");
  st_dec_format(ST_DEC_ONE, out);
  assert_string_equal(out, "1.000000000000000000");
  st_dec_format(0, out);
  assert_string_equal(out, "0.000000000000000000");
  st_dec_format(1, out);
  assert_string_equal(out, "0.000000000000000001");
  st_dec_format(ST_DEC_ONE * 12 + ST_DEC_ONE / 2, out);
  assert_string_equal(out, "12.500000000000000000");
  st_dec_format(U128_MAX, out);
  assert_string_equal(out, DEC_MAX_STR);
  assert_true(strlen(out) < ST_DEC_STR_MAX);
}

static void test_round_trip(void **state) {
  (void)state;
  char out[ST_DEC_STR_MAX];
  st_u128 back;
  uint64_t s = 0x13198a2e03707344ull;
  const char *canon[] = {"0.000000000000000000", "0.050000000000000000",
                         "1.000000000000000000", "12.500000000000000000",
                         DEC_MAX_STR};

  /* Canonical spellings survive parse then format unchanged. */
  for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
    assert_int_equal(st_dec_parse(canon[i], &back), 0);
    st_dec_format(back, out);
    assert_string_equal(out, canon[i]);
  }
  /* Short spellings come back padded and parse to the same value. */
  {
    const char *in[] = {"0", "1", "0.05", "0.0002", "12.5",
                        "0.000000000000000001"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
      st_u128 v;
      assert_int_equal(st_dec_parse(in[i], &v), 0);
      st_dec_format(v, out);
      assert_int_equal(st_dec_parse(out, &back), 0);
      assert_u128_equal(back, v);
    }
  }
  /* Every power of ten and its neighbours, then seeded values. */
  for (int k = 0; k <= 38; k++) {
    st_u128 p = pow10_u128(k);
    st_u128 vals[3] = {p - 1, p, p + 1};
    for (int j = 0; j < 3; j++) {
      st_dec_format(vals[j], out);
      assert_int_equal(st_dec_parse(out, &back), 0);
      assert_u128_equal(back, vals[j]);
    }
  }
  for (int i = 0; i < 10000; i++) {
    st_u128 v = next128(&s) >> (unsigned)(i % 128);
    st_dec_format(v, out);
    assert_int_equal(st_dec_parse(out, &back), 0);
    assert_u128_equal(back, v);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_muldiv_known),
    cmocka_unit_test(test_muldiv_rounding),
    cmocka_unit_test(test_muldiv_errors),
    cmocka_unit_test(test_muldiv_random_small_product),
    cmocka_unit_test(test_muldiv_random_64),
    cmocka_unit_test(test_muldiv_random_wide),
    cmocka_unit_test(test_parse_values),
    cmocka_unit_test(test_parse_malformed),
    cmocka_unit_test(test_parse_overflow),
    cmocka_unit_test(test_format),
    cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
