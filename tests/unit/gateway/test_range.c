/* HTTP Range parsing and its conditionals, checked against the answers
 * nginx 1.22.1 gave for the same requests on a file of 100,000 bytes, an
 * empty one and a one-byte one (the list is in src/gateway/range.c), and
 * against edge cases of our own: ranges touching the end, numbers at the
 * off_t limit, lengths beyond it, our size limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/range.h"

#define L 100000u
#define OFF_MAX 9223372036854775807ull

/* One request: the Range value, the file's length, and the answer as a
 * status (200, 206, 416) with the range for a 206. */
typedef struct range_case {
  const char *hdr;
  uint64_t length;
  int status;
  uint64_t first, last;
} range_case_t;

static const range_case_t nginx_cases[] = {
  /* Single ranges. */
  {"bytes=0-0", L, 206, 0, 0},
  {"bytes=0-99", L, 206, 0, 99},
  {"bytes=99999-", L, 206, 99999, 99999},
  {"bytes=99999-99999", L, 206, 99999, 99999},
  {"bytes=99998-100005", L, 206, 99998, 99999},
  {"bytes=100000-", L, 416, 0, 0},
  {"bytes=100000-100000", L, 416, 0, 0},
  {"bytes=100001-200000", L, 416, 0, 0},
  {"bytes=-1", L, 206, 99999, 99999},
  {"bytes=-99999", L, 206, 1, 99999},
  {"bytes=-100000", L, 206, 0, 99999},
  {"bytes=-100001", L, 206, 0, 99999},
  {"bytes=-0", L, 416, 0, 0},
  {"bytes=50-10", L, 416, 0, 0},
  {"bytes=10-10", L, 206, 10, 10},
  {"bytes=0-", L, 206, 0, 99999},
  /* Syntax. */
  {"=", L, 200, 0, 0},
  {"bytes=", L, 200, 0, 0},
  {"bytes=abc", L, 416, 0, 0},
  {"bytes=1-2-3", L, 416, 0, 0},
  {"bytes= 1-2", L, 206, 1, 2},
  {"bytes=1 - 2", L, 206, 1, 2},
  {"bytes=- 5", L, 416, 0, 0},
  {"bytes= -5", L, 206, 99995, 99999},
  {"bytes=1-2 ,", L, 416, 0, 0},
  {"bytes=1-2,", L, 416, 0, 0},
  {"bytes=,1-2", L, 416, 0, 0},
  {"bytes=1-2,,5-9", L, 416, 0, 0},
  {"bytes=-", L, 416, 0, 0},
  {"bytes=--5", L, 416, 0, 0},
  {"bytes=1", L, 416, 0, 0},
  {"bytes=1-x", L, 416, 0, 0},
  {"bytes=x-2", L, 416, 0, 0},
  {"bytes=+1-2", L, 416, 0, 0},
  {"bytes=1-+2", L, 416, 0, 0},
  {"bytes=0x10-0x20", L, 416, 0, 0},
  {"bytes=1-2;", L, 416, 0, 0},
  {"bytes =1-2", L, 200, 0, 0},
  {"bytes=1-2 garbage", L, 416, 0, 0},
  {"items=1-2", L, 200, 0, 0},
  {"bits=1-2", L, 200, 0, 0},
  {"Bytes=1-2", L, 206, 1, 2},
  {"BYTES=1-2", L, 206, 1, 2},
  {"bYtEs=1-2", L, 206, 1, 2},
  {"bytes=007-008", L, 206, 7, 8},
  {"bytes=-007", L, 206, 99993, 99999},
  {"bytes=000000000000000000000000001-2", L, 206, 1, 2},
  /* Whitespace: nginx trims SP around the value, never HTAB. */
  {"\tbytes=1-2\t", L, 200, 0, 0},
  {"bytes=1-\t2", L, 416, 0, 0},
  {"bytes=\t1-2", L, 416, 0, 0},
  {"bytes= ", L, 200, 0, 0},
  {"bytes=5- ", L, 206, 5, 99999},
  {"bytes=1-2\t", L, 416, 0, 0},
  {" \tbytes=1-2", L, 200, 0, 0},
  {"  bytes=1-2  ", L, 206, 1, 2},
  /* Huge numbers: off_t's limit, 2^63-1, is the largest nginx reads. */
  {"bytes=0-9223372036854775807", L, 206, 0, 99999},
  {"bytes=0-9223372036854775808", L, 416, 0, 0},
  {"bytes=0-18446744073709551615", L, 416, 0, 0},
  {"bytes=0-18446744073709551616", L, 416, 0, 0},
  {"bytes=0-99999999999999999999999", L, 416, 0, 0},
  {"bytes=9223372036854775807-", L, 416, 0, 0},
  {"bytes=9223372036854775808-", L, 416, 0, 0},
  {"bytes=18446744073709551616-", L, 416, 0, 0},
  {"bytes=-9223372036854775807", L, 206, 0, 99999},
  {"bytes=-9223372036854775808", L, 416, 0, 0},
  {"bytes=-18446744073709551616", L, 416, 0, 0},
  {"bytes=5-922337203685477580", L, 206, 5, 99999},
  {"bytes=99999999999999999999-1", L, 416, 0, 0},
  /* Several ranges: nginx's multipart 206 is our 200; the rest as nginx. */
  {"bytes=1-2,5-9", L, 200, 0, 0},
  {"bytes=5-9,1-2", L, 200, 0, 0},
  {"bytes=0-10,5-15", L, 200, 0, 0},
  {"bytes=0-0,-1", L, 200, 0, 0},
  {"bytes=0-1,200000-300000", L, 206, 0, 1},
  {"bytes=200000-300000,0-1", L, 206, 0, 1},
  {"bytes=200000-,300000-", L, 416, 0, 0},
  {"bytes=0-49999,50000-99999", L, 200, 0, 0},
  {"bytes=0-50000,50000-99999", L, 200, 0, 0},
  {"bytes=0-99999,0-0", L, 200, 0, 0},
  {"bytes=1-2,x", L, 416, 0, 0},
  {"bytes=x,1-2", L, 416, 0, 0},
  {"bytes=1-2,50-10", L, 206, 1, 2},
  {"bytes=1-2,-0", L, 206, 1, 2},
  {"bytes=1-2, 5-9", L, 200, 0, 0},
  {"bytes=1-2,1-2", L, 200, 0, 0},
  {"bytes=1-2 , 5-9", L, 200, 0, 0},
  /* The empty file. */
  {"bytes=0-0", 0, 200, 0, 0},
  {"bytes=0-", 0, 200, 0, 0},
  {"bytes=0-99", 0, 200, 0, 0},
  {"bytes=-1", 0, 200, 0, 0},
  {"bytes=-0", 0, 200, 0, 0},
  {"bytes=1-2", 0, 416, 0, 0},
  {"bytes=5-", 0, 416, 0, 0},
  {"bytes=abc", 0, 416, 0, 0},
  {"bytes=5-9,0-1", 0, 200, 0, 0},
  {"bytes=0-1,abc", 0, 200, 0, 0},
  {"bytes=abc,0-1", 0, 416, 0, 0},
  /* The one-byte file. */
  {"bytes=0-0", 1, 206, 0, 0},
  {"bytes=0-", 1, 206, 0, 0},
  {"bytes=0-5", 1, 206, 0, 0},
  {"bytes=-1", 1, 206, 0, 0},
  {"bytes=-2", 1, 206, 0, 0},
  {"bytes=-0", 1, 416, 0, 0},
  {"bytes=1-", 1, 416, 0, 0},
  {"bytes=1-1", 1, 416, 0, 0},
  {"bytes=0-0,0-0", 1, 200, 0, 0},
};

/* Our own: the end of the file, the off_t limit and lengths past it. */
static const range_case_t own_cases[] = {
  {"bytes=99999-100000", L, 206, 99999, 99999},
  {"bytes=0-99998", L, 206, 0, 99998},
  {"bytes=0-99999", L, 206, 0, 99999},
  {"bytes=0-100000", L, 206, 0, 99999},
  {"bytes=-99998", L, 206, 2, 99999},
  {"bytes=1-0", 1, 416, 0, 0},
  {"bytes=0-0", 2, 206, 0, 0},
  {"bytes=1-1", 2, 206, 1, 1},
  {"bytes=1-", 2, 206, 1, 1},
  {"bytes=2-", 2, 416, 0, 0},
  {"bytes=-1", 2, 206, 1, 1},
  {"bytes=0-", OFF_MAX, 206, 0, OFF_MAX - 1},
  {"bytes=9223372036854775806-", OFF_MAX, 206, OFF_MAX - 1, OFF_MAX - 1},
  {"bytes=9223372036854775807-", OFF_MAX, 416, 0, 0},
  {"bytes=-9223372036854775807", OFF_MAX, 206, 0, OFF_MAX - 1},
  {"bytes=0-9223372036854775807", OFF_MAX, 206, 0, OFF_MAX - 1},
  /* Two parts adding up past 2^63-1: nginx's overflow check, 416. */
  {"bytes=0-,0-", OFF_MAX, 416, 0, 0},
  /* Past what an off_t holds (no such file exists, but no wrap either). */
  {"bytes=0-", UINT64_MAX, 206, 0, UINT64_MAX - 1},
  {"bytes=-5", UINT64_MAX, 206, UINT64_MAX - 5, UINT64_MAX - 1},
  {"bytes=9223372036854775807-", UINT64_MAX, 206, OFF_MAX, UINT64_MAX - 1},
  {"bytes=9223372036854775808-", UINT64_MAX, 416, 0, 0},
  /* Not ranges. */
  {"", L, 200, 0, 0},
  {"bytes", L, 200, 0, 0},
  {"byte=1-2", L, 200, 0, 0},
  {"bytes:1-2", L, 200, 0, 0},
  {"bytesX1-2", L, 200, 0, 0},
};

static int status_of(st_range_kind_t kind) {
  return kind == ST_RANGE_PARTIAL ? 206 : kind == ST_RANGE_UNSATISFIABLE ? 416 : 200;
}

static void check_cases(const range_case_t *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const range_case_t *c = &cases[i];
    st_range_t r = st_range_parse(c->hdr, strlen(c->hdr), c->length);
    int status = status_of(r.kind);

    if (status != c->status)
      fail_msg("Range '%s' on %llu bytes: %d, want %d", c->hdr, (unsigned long long)c->length,
               status, c->status);
    if (status == 206 && (r.first != c->first || r.last != c->last))
      fail_msg("Range '%s' on %llu bytes: %llu-%llu, want %llu-%llu", c->hdr,
               (unsigned long long)c->length, (unsigned long long)r.first,
               (unsigned long long)r.last, (unsigned long long)c->first,
               (unsigned long long)c->last);
  }
}

static void test_nginx_table(void **state) {
  (void)state;
  check_cases(nginx_cases, sizeof nginx_cases / sizeof nginx_cases[0]);
}

static void test_own_table(void **state) {
  (void)state;
  check_cases(own_cases, sizeof own_cases / sizeof own_cases[0]);
}

static void test_absent_and_bytes(void **state) {
  (void)state;
  assert_int_equal(st_range_parse(NULL, 0, L).kind, ST_RANGE_WHOLE);
  /* len bounds the value: what follows is not read. */
  st_range_t r = st_range_parse("bytes=1-2345", 9, L);
  assert_int_equal(r.kind, ST_RANGE_PARTIAL);
  assert_true(r.first == 1 && r.last == 2);
  /* An embedded NUL is a byte like any other, and not a valid one. */
  assert_int_equal(st_range_parse("bytes=1-2\0", 10, L).kind, ST_RANGE_UNSATISFIABLE);
  assert_int_equal(st_range_parse("bytes=\0" "1-2", 10, L).kind, ST_RANGE_UNSATISFIABLE);
}

/* "bytes=" then n specs, all beyond the end but the last, "0-0". */
static size_t build_specs(char *buf, size_t cap, int n) {
  size_t len = (size_t)snprintf(buf, cap, "bytes=");
  for (int i = 1; i < n; i++)
    len += (size_t)snprintf(buf + len, cap - len, "200000-,");
  len += (size_t)snprintf(buf + len, cap - len, "0-0");
  return len;
}

static void test_limits(void **state) {
  (void)state;
  char buf[5000];
  size_t len;

  len = build_specs(buf, sizeof buf, 100);
  assert_int_equal(st_range_parse(buf, len, L).kind, ST_RANGE_PARTIAL);
  len = build_specs(buf, sizeof buf, 101);
  assert_int_equal(st_range_parse(buf, len, L).kind, ST_RANGE_WHOLE);

  /* 4096 bytes: still read; 4097: ignored. */
  memset(buf, '0', sizeof buf);
  memcpy(buf, "bytes=", 6);
  memcpy(buf + 4096 - 2, "-5", 2);
  st_range_t r = st_range_parse(buf, 4096, L);
  assert_int_equal(r.kind, ST_RANGE_PARTIAL);
  assert_true(r.first == 0 && r.last == 5);
  memcpy(buf + 4096 - 2, "0-5", 3);
  assert_int_equal(st_range_parse(buf, 4097, L).kind, ST_RANGE_WHOLE);
  /* Spaces count towards the limit before they are trimmed. */
  memset(buf, ' ', sizeof buf);
  memcpy(buf, "bytes=0-5", 9);
  assert_int_equal(st_range_parse(buf, 4096, L).kind, ST_RANGE_PARTIAL);
  assert_int_equal(st_range_parse(buf, 4097, L).kind, ST_RANGE_WHOLE);
}

/* A model of one "bytes=a-b" or "bytes=-b" as RFC 9110 reads it, with
 * nginx's three departures: a number above 2^63-1 and an inverted range
 * are 416, and on an empty file a spec from 0 is 200. The parser must
 * agree for any numbers. */
static int model(bool suffix, uint64_t a, uint64_t b, uint64_t length, uint64_t *f, uint64_t *l) {
  if (b > OFF_MAX || (!suffix && a > OFF_MAX))
    return 416;
  if (suffix) {
    if (length == 0)
      return 200;
    if (b == 0)
      return 416;
    *f = b >= length ? 0 : length - b;
    *l = length - 1;
    return 206;
  }
  if (length == 0 && a == 0)
    return 200;
  if (a > b || a >= length)
    return 416;
  *f = a;
  *l = b < length ? b : length - 1;
  return 206;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Numbers near the interesting places: 0, the end, and plain random. */
static uint64_t pick(uint64_t length) {
  switch (rng() % 4) {
  case 0:
    return rng() % 4;
  case 1:
    return length + rng() % 5 - 2;
  case 2:
    return rng() % (length + 2);
  default:
    return rng() % (OFF_MAX / 2);
  }
}

static void test_random_single(void **state) {
  (void)state;
  char hdr[80];

  for (int i = 0; i < 20000; i++) {
    uint64_t length = i % 10 == 0 ? rng() % 3 : rng() % 200000;
    bool suffix = rng() % 4 == 0;
    uint64_t a = pick(length), b = pick(length), f = 0, l = 0;
    int want;

    if (suffix)
      snprintf(hdr, sizeof hdr, "bytes=-%llu", (unsigned long long)b);
    else
      snprintf(hdr, sizeof hdr, "bytes=%llu-%llu", (unsigned long long)a, (unsigned long long)b);
    want = model(suffix, a, b, length, &f, &l);
    st_range_t r = st_range_parse(hdr, strlen(hdr), length);
    if (status_of(r.kind) != want || (want == 206 && (r.first != f || r.last != l)))
      fail_msg("'%s' on %llu: got %d %llu-%llu, want %d %llu-%llu", hdr,
               (unsigned long long)length, status_of(r.kind), (unsigned long long)r.first,
               (unsigned long long)r.last, want, (unsigned long long)f, (unsigned long long)l);
  }
}

static bool if_range(const char *v, const char *etag) {
  return st_range_if_range_ok(v, strlen(v), etag);
}

static void test_if_range(void **state) {
  (void)state;
  const char *id = "stfile1qxyz";

  assert_true(if_range("\"stfile1qxyz\"", id));
  assert_true(if_range("  \"stfile1qxyz\" ", id));
  assert_true(st_range_if_range_ok(NULL, 0, id));
  /* Every one of these sent nginx the whole file (W/, another tag, no
   * quotes, a list, garbage, a date). */
  assert_false(if_range("W/\"stfile1qxyz\"", id));
  assert_false(if_range("\"other\"", id));
  assert_false(if_range("stfile1qxyz", id));
  assert_false(if_range("\"stfile1qxyz\", \"x\"", id));
  assert_false(if_range("garbage", id));
  assert_false(if_range("Thu, 01 Jan 1970 00:00:00 GMT", id));
  assert_false(if_range("Tue, 24 Nov 2026 11:20:46 GMT", id));
  /* Near misses. */
  assert_false(if_range("\"stfile1qxy\"", id));
  assert_false(if_range("\"stfile1qxyzz\"", id));
  assert_false(if_range("\"STFILE1QXYZ\"", id));
  assert_false(if_range("\"stfile1qxyz", id));
  assert_false(if_range("\tstfile1qxyz\"", id));
  assert_false(if_range("\"stfile1qxyz\"\t", id));
  assert_false(if_range("", id));
  assert_false(if_range("\"\"", id));
  assert_false(if_range("\"stfile1qxyz\"", NULL));
  /* len bounds the value. */
  assert_false(st_range_if_range_ok("\"stfile1qxyz\"", 12, id));
}

static bool inm(const char *v, const char *etag) {
  return st_range_if_none_match(v, strlen(v), etag);
}

static void test_if_none_match(void **state) {
  (void)state;
  const char *id = "6b05730e-186a0";

  /* 304 from nginx. */
  assert_true(inm("\"6b05730e-186a0\"", id));
  assert_true(inm("W/\"6b05730e-186a0\"", id));
  assert_true(inm("*", id));
  assert_true(inm("  *  ", id));
  assert_true(inm("\"a\", \"6b05730e-186a0\"", id));
  assert_true(inm("\"a\",W/\"6b05730e-186a0\",\"b\"", id));
  assert_true(inm("\"a\",\t\"6b05730e-186a0\"", id));
  assert_true(inm("\"a\"  ,  \"6b05730e-186a0\"  ,\"b\"", id));
  assert_true(inm(",\"6b05730e-186a0\"", id));
  assert_true(inm("\"6b05730e-186a0\",", id));
  /* 200 from nginx. */
  assert_false(inm("\"other\"", id));
  assert_false(inm("\"a\" , \"b\"", id));
  assert_false(inm("\"a\", *", id));
  assert_false(inm("**", id));
  assert_false(inm("6b05730e-186a0", id));
  assert_false(inm("\"6b05730e-186a0\"x", id));
  assert_false(inm("x\"6b05730e-186a0\"", id));
  assert_false(inm("w/\"6b05730e-186a0\"", id));
  assert_false(inm("W/ \"6b05730e-186a0\"", id));
  assert_false(inm("\"6b05730e-186a0\" \"x\"", id));
  /* Our own. */
  assert_false(st_range_if_none_match(NULL, 0, id));
  assert_true(st_range_if_none_match("*", 1, NULL));
  assert_false(inm("\"6b05730e-186a0\"", NULL));
  assert_false(inm("", id));
  assert_false(inm("W/", id));
  assert_false(inm("\"6b05730e-186a\"", id));
  assert_false(inm("\"6b05730e-186a0", id));
  assert_true(inm("\"6b05730e-186a0\" \t", id));
  assert_true(inm("\"x\",,, \"6b05730e-186a0\"", id));
  assert_false(inm("\t\"6b05730e-186a0\"", id));
  /* A tag that only starts with ours is another tag. */
  assert_false(inm("\"6b05730e-186a0x\", \"a\"", id));
  /* len bounds the value. */
  assert_false(st_range_if_none_match("\"6b05730e-186a0\"", 15, id));
}

static void check_cr(st_range_kind_t kind, uint64_t first, uint64_t last, uint64_t length,
                     const char *want) {
  st_range_t r = {kind, first, last};
  char out[80];

  memset(out, 'Z', sizeof out);
  assert_int_equal(st_range_content_range(&r, length, out, sizeof out), strlen(want));
  assert_string_equal(out, want);
}

static void test_content_range(void **state) {
  (void)state;
  st_range_t r = {ST_RANGE_PARTIAL, 0, 99};
  char out[80];

  check_cr(ST_RANGE_PARTIAL, 0, 99, L, "bytes 0-99/100000");
  check_cr(ST_RANGE_PARTIAL, 99999, 99999, L, "bytes 99999-99999/100000");
  check_cr(ST_RANGE_PARTIAL, 0, 0, 1, "bytes 0-0/1");
  check_cr(ST_RANGE_UNSATISFIABLE, 0, 0, L, "bytes */100000");
  check_cr(ST_RANGE_UNSATISFIABLE, 0, 0, 0, "bytes */0");
  check_cr(ST_RANGE_WHOLE, 0, 0, L, "");
  check_cr(ST_RANGE_PARTIAL, UINT64_MAX - 1, UINT64_MAX - 1, UINT64_MAX,
           "bytes 18446744073709551614-18446744073709551614/18446744073709551615");

  /* Straight from the parser. */
  r = st_range_parse("bytes=-1", 8, L);
  assert_int_equal(st_range_content_range(&r, L, out, sizeof out), 24);
  assert_string_equal(out, "bytes 99999-99999/100000");

  /* Exactly enough room, one byte short, none. */
  assert_int_equal(st_range_content_range(&r, L, out, 25), 24);
  memset(out, 'Z', sizeof out);
  assert_int_equal(st_range_content_range(&r, L, out, 24), 0);
  assert_string_equal(out, "");
  out[0] = 'Z';
  assert_int_equal(st_range_content_range(&r, L, out, 0), 0);
  assert_int_equal(out[0], 'Z');
  assert_int_equal(st_range_content_range(NULL, L, out, sizeof out), 0);
  assert_string_equal(out, "");
  assert_int_equal(st_range_content_range(&r, L, NULL, 10), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_nginx_table),
    cmocka_unit_test(test_own_table),
    cmocka_unit_test(test_absent_and_bytes),
    cmocka_unit_test(test_limits),
    cmocka_unit_test(test_random_single),
    cmocka_unit_test(test_if_range),
    cmocka_unit_test(test_if_none_match),
    cmocka_unit_test(test_content_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
