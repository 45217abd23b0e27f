/* Fuzzes the Range parser and its conditionals with arbitrary header
 * bytes and representation lengths. Input: 8 bytes of length, one control
 * byte, then the header value. The control byte's low six bits shift the
 * length right (so that small lengths, where the edge cases are, come up
 * as often as huge ones) and its top bit puts "bytes=" in front of the
 * value (so that the fuzzer spends its time inside the range-set).
 * Checked: PARTIAL means first <= last < length; the kind is one of the
 * three; no "bytes=" means WHOLE; parsing is deterministic; the
 * Content-Range text says what the range says; the conditionals accept
 * the one exact form of a tag and survive anything. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/range.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      abort();                                                                                     \
  } while (0)

#define HDR_CAP 8192

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* Whether the value, less the SP nginx trims, starts with "bytes=" (any
 * case) and has something after it: only then may a Range count. */
static bool has_bytes_unit(const char *s, size_t len) {
  while (len > 0 && *s == ' ') {
    s++;
    len--;
  }
  while (len > 0 && s[len - 1] == ' ')
    len--;
  if (len < 7)
    return false;
  for (size_t i = 0; i < 6; i++) {
    char ch = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    if (ch != "bytes="[i])
      return false;
  }
  return true;
}

static void check_content_range(const st_range_t *r, uint64_t length) {
  char out[80], want[80];
  size_t n = st_range_content_range(r, length, out, sizeof out);

  if (r->kind == ST_RANGE_PARTIAL)
    snprintf(want, sizeof want, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r->first, r->last,
             length);
  else if (r->kind == ST_RANGE_UNSATISFIABLE)
    snprintf(want, sizeof want, "bytes */%" PRIu64, length);
  else
    want[0] = '\0';
  CHECK(n == strlen(want));
  CHECK(strcmp(out, want) == 0);
}

static void check_parse(const char *hdr, size_t len, uint64_t length) {
  st_range_t r = st_range_parse(hdr, len, length);
  st_range_t again = st_range_parse(hdr, len, length);

  CHECK(r.kind == ST_RANGE_WHOLE || r.kind == ST_RANGE_PARTIAL ||
        r.kind == ST_RANGE_UNSATISFIABLE);
  if (r.kind == ST_RANGE_PARTIAL)
    CHECK(r.first <= r.last && r.last < length);
  if (!has_bytes_unit(hdr, len))
    CHECK(r.kind == ST_RANGE_WHOLE);
  CHECK(again.kind == r.kind);
  if (r.kind == ST_RANGE_PARTIAL)
    CHECK(again.first == r.first && again.last == r.last);
  check_content_range(&r, length);
}

/* The header's first word (up to a space, at most 32 bytes, no NUL) is
 * the tag: the fuzzer then tries values that match it in part or whole. */
static void check_conditionals(const char *hdr, size_t len) {
  char etag[33], quoted[40];
  size_t n = 0;

  while (n < len && n < 32 && hdr[n] != ' ' && hdr[n] != '\0')
    n++;
  memcpy(etag, hdr, n);
  etag[n] = '\0';
  (void)st_range_if_range_ok(hdr, len, etag);
  (void)st_range_if_none_match(hdr, len, etag);
  (void)st_range_if_range_ok(hdr, len, NULL);
  (void)st_range_if_none_match(hdr, len, NULL);
  /* The exact quoted tag keeps a Range and matches If-None-Match, both
   * as it is and as W/ for the weak comparison. */
  snprintf(quoted, sizeof quoted, "\"%s\"", etag);
  CHECK(st_range_if_range_ok(quoted, strlen(quoted), etag));
  CHECK(st_range_if_none_match(quoted, strlen(quoted), etag));
  snprintf(quoted, sizeof quoted, "W/\"%s\"", etag);
  CHECK(!st_range_if_range_ok(quoted, strlen(quoted), etag));
  CHECK(st_range_if_none_match(quoted, strlen(quoted), etag));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char hdr[HDR_CAP];
  uint64_t length;
  size_t len = 0;

  if (size < 9)
    return 0;
  length = le64(data) >> (data[8] & 63);
  if (data[8] & 0x80) {
    memcpy(hdr, "bytes=", 6);
    len = 6;
  }
  /* Room past our 4096-byte limit, crossed when run with -max_len above
   * 4105 (libFuzzer's default, 4096, stays just under it). */
  size -= 9;
  if (size > HDR_CAP - len)
    size = HDR_CAP - len;
  memcpy(hdr + len, data + 9, size);
  len += size;

  check_parse(hdr, len, length);
  check_conditionals(hdr, len);
  return 0;
}
