/* Bounded buffers: growth, the hard cap, and the promise that an append
 * that would pass the cap leaves length, bytes and terminator alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

static void test_init_and_append(void **state) {
  (void)state;
  st_buf_t b;
  st_buf_init(&b, 1024);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  assert_int_equal(b.max, 1024);

  assert_int_equal(st_buf_append(&b, "hello", 5), 0);
  assert_int_equal(st_buf_append(&b, ", ", 2), 0);
  assert_int_equal(st_buf_append(&b, "world", 5), 0);
  assert_int_equal(st_buf_append(&b, NULL, 0), 0);
  assert_int_equal(b.len, 12);
  assert_true(b.cap > b.len);
  assert_int_equal(st_buf_cstr(&b), 0);
  assert_string_equal((char *)b.data, "hello, world");
  assert_int_equal(b.len, 12);
  assert_int_equal(st_buf_append(&b, NULL, 1), ST_EINVAL);
  assert_int_equal(b.len, 12);
  st_buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
}

static void test_cap_enforced(void **state) {
  (void)state;
  st_buf_t b;
  st_buf_init(&b, 10);
  assert_int_equal(st_buf_append(&b, "0123456", 7), 0);
  assert_int_equal(st_buf_cstr(&b), 0);
  size_t cap_before = b.cap;

  /* 7 + 4 > 10: refused, nothing changes. */
  assert_int_equal(st_buf_append(&b, "abcd", 4), ST_E2BIG);
  assert_int_equal(b.len, 7);
  assert_int_equal(b.cap, cap_before);
  assert_string_equal((char *)b.data, "0123456");

  /* Exactly up to the cap is fine; one more byte is not. */
  assert_int_equal(st_buf_append(&b, "789", 3), 0);
  assert_int_equal(b.len, 10);
  assert_int_equal(st_buf_append(&b, "x", 1), ST_E2BIG);
  assert_int_equal(b.len, 10);
  assert_int_equal(st_buf_cstr(&b), 0);
  assert_string_equal((char *)b.data, "0123456789");
  assert_true(b.cap <= b.max + 1);

  /* Reserve refuses the same way, including sizes that would overflow. */
  assert_int_equal(st_buf_reserve(&b, 1), ST_E2BIG);
  assert_int_equal(st_buf_reserve(&b, SIZE_MAX), ST_E2BIG);
  assert_int_equal(st_buf_reserve(&b, 0), 0);
  assert_int_equal(st_buf_append(&b, "y", SIZE_MAX), ST_E2BIG);
  assert_int_equal(b.len, 10);
  st_buf_free(&b);
}

static void test_zero_max(void **state) {
  (void)state;
  st_buf_t b;
  st_buf_init(&b, 0);
  assert_int_equal(st_buf_append(&b, "", 0), 0);
  assert_int_equal(st_buf_append(&b, "a", 1), ST_E2BIG);
  assert_int_equal(st_buf_appendf(&b, "%s", "a"), ST_E2BIG);
  assert_int_equal(st_buf_appendf(&b, "%s", ""), 0);
  assert_int_equal(st_buf_cstr(&b), 0);
  assert_non_null(b.data);
  assert_string_equal((char *)b.data, "");
  assert_int_equal(b.len, 0);
  st_buf_free(&b);
}

static void test_appendf(void **state) {
  (void)state;
  st_buf_t b;
  st_buf_init(&b, 20);
  assert_int_equal(st_buf_appendf(&b, "%d-%s", 42, "abc"), 0);
  assert_int_equal(b.len, 6);
  assert_string_equal((char *)b.data, "42-abc");
  assert_int_equal(st_buf_appendf(&b, "%05u", 7u), 0);
  assert_string_equal((char *)b.data, "42-abc00007");
  /* 11 + 10 > 20: refused whole, not truncated. */
  assert_int_equal(st_buf_appendf(&b, "%s", "0123456789"), ST_E2BIG);
  assert_int_equal(b.len, 11);
  assert_string_equal((char *)b.data, "42-abc00007");
  /* 11 + 9 == 20 fits exactly, with the terminator still in place. */
  assert_int_equal(st_buf_appendf(&b, "%s", "012345678"), 0);
  assert_int_equal(b.len, 20);
  assert_string_equal((char *)b.data, "42-abc00007012345678");
  st_buf_free(&b);
}

static void test_reset_and_reuse(void **state) {
  (void)state;
  st_buf_t b;
  st_buf_init(&b, 100);
  assert_int_equal(st_buf_append(&b, "abcdef", 6), 0);
  st_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_non_null(b.data);
  assert_int_equal(st_buf_append(&b, "xy", 2), 0);
  assert_int_equal(st_buf_cstr(&b), 0);
  assert_string_equal((char *)b.data, "xy");
  st_buf_free(&b);
  assert_int_equal(b.max, 100);
  assert_int_equal(st_buf_append(&b, "again", 5), 0);
  assert_int_equal(b.len, 5);
  st_buf_free(&b);
  st_buf_free(&b);
}

static void test_growth_to_cap(void **state) {
  (void)state;
  st_buf_t b;
  uint8_t chunk[1000];
  size_t appended = 0;
  const size_t max = 1000 * 1000 + 123;

  st_buf_init(&b, max);
  for (;;) {
    for (size_t i = 0; i < sizeof chunk; i++)
      chunk[i] = (uint8_t)(appended + i);
    int rc = st_buf_append(&b, chunk, sizeof chunk);
    if (rc != 0) {
      assert_int_equal(rc, ST_E2BIG);
      break;
    }
    appended += sizeof chunk;
  }
  assert_int_equal(appended, 1000 * 1000);
  assert_int_equal(b.len, appended);
  assert_true(b.cap <= max + 1);
  for (size_t i = 0; i < b.len; i++)
    assert_int_equal(b.data[i], (uint8_t)i);
  /* The remaining 123 bytes still fit. */
  assert_int_equal(st_buf_append(&b, chunk, 123), 0);
  assert_int_equal(b.len, max);
  assert_int_equal(st_buf_append(&b, chunk, 1), ST_E2BIG);
  st_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_init_and_append),
    cmocka_unit_test(test_cap_enforced),
    cmocka_unit_test(test_zero_max),
    cmocka_unit_test(test_appendf),
    cmocka_unit_test(test_reset_and_reuse),
    cmocka_unit_test(test_growth_to_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
