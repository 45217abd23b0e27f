/* HTTP Range requests for the gateway's downloads, answered as nginx
 * answers them for a static file, so that a client sees no difference.
 * The answers below were measured on nginx 1.22.1 (Debian 12) serving a
 * file of 100,000 bytes (and an empty one, and a one-byte one); "206 a-b"
 * is "Content-Range: bytes a-b/<length>", every 416 carries
 * "Content-Range: bytes * /<length>" (without the space).
 *
 *   Range value (length 100000)          nginx answer, note ([n]: departs from RFC 9110)
 *   bytes=0-0                            206 0-0
 *   bytes=0-99                           206 0-99
 *   bytes=0-                             206 0-99999
 *   bytes=10-10                          206 10-10
 *   bytes=99999-                         206 99999-99999
 *   bytes=99998-100005                   206 99998-99999   (last clamped)
 *   bytes=100000-, 100000-100000         416
 *   bytes=100001-200000                  416
 *   bytes=-1                             206 99999-99999
 *   bytes=-99999                         206 1-99999
 *   bytes=-100000, -100001               206 0-99999
 *   bytes=-0                             416               (as RFC: no bytes)
 *   bytes=50-10 (inverted)               416  [1]
 *   =, bytes=, bytes =1-2                200 (not a bytes range at all)
 *   items=1-2, bits=1-2                  200 (unknown unit: ignored, as RFC)
 *   Bytes=1-2, BYTES=1-2, bYtEs=1-2      206 1-2 (unit is case-insensitive)
 *   bytes=abc, 1-2-3, 1, -, --5, 1-x,
 *     x-2, +1-2, 1-+2, 0x10-0x20, 1-2;,
 *     "1-2 garbage"                      416  [1]
 *   bytes= 1-2, bytes=1 - 2              206 1-2 (spaces around numbers)
 *   bytes= -5                            206 99995-99999
 *   bytes=- 5                            416 (no space after a suffix '-')
 *   bytes=1-2, (trailing comma),
 *     "1-2 ,", ",1-2", "1-2,,5-9"        416  [1]
 *   bytes=1-<TAB>2, bytes=<TAB>1-2,
 *     bytes=1-2<TAB>                     416 (only SP is skipped)
 *   bytes=007-008                        206 7-8 (leading zeros)
 *   bytes=-007                           206 99993-99999
 *   bytes=000000000000000000000000001-2  206 1-2 (the value counts, not the digits)
 *   bytes=0-9223372036854775807 (2^63-1) 206 0-99999
 *   bytes=0-9223372036854775808 (2^63),
 *     0-18446744073709551615 (2^64-1),
 *     0-18446744073709551616 (2^64),
 *     0-99999999999999999999999          416  [2]
 *   bytes=-9223372036854775807           206 0-99999
 *   bytes=-9223372036854775808 and more  416  [2]
 *   bytes=9223372036854775807- and more  416
 *   bytes=5-922337203685477580           206 5-99999
 *
 *   Several ranges (nginx answers 206 multipart/byteranges, parts in the
 *   order asked, neither merged nor sorted; we answer 200 whole):
 *   bytes=1-2,5-9 / 5-9,1-2 / 0-10,5-15 / 1-2,1-2 / 0-0,-1 / "1-2, 5-9" /
 *     0-49999,50000-99999                nginx 206 multipart, here 200
 *   bytes=0-50000,50000-99999, 0-99999,0-0
 *     (sum of the parts > length)        200 (nginx too)
 *   bytes=0-1,200000-300000 and
 *     200000-300000,0-1, 1-2,50-10,
 *     1-2,-0 (one part satisfiable)      206 0-1 / 206 1-2: a range that
 *                                        cannot be satisfied is dropped
 *   bytes=200000-,300000-                416 (none satisfiable)
 *   bytes=1-2,x / x,1-2                  416 (one bad spec spoils all) [1]
 *
 *   Empty file (length 0): bytes=0-0, 0-, 0-99, -1, -0 → 200 whole [3];
 *   bytes=1-2, 5-, abc → 416 "bytes * /0"; bytes=5-9,0-1 → 200, and
 *   bytes=0-1,abc → 200 too: nginx stops at the first spec that starts
 *   at 0 and sends the whole, before it reads the rest; bytes=abc,0-1
 *   → 416.
 *   One-byte file: 0-0, 0-, 0-5, -1, -2 → 206 0-0; -0, 1-, 1-1 → 416;
 *   0-0,0-0 → 200 (sum of the parts > length).
 *
 * [1] RFC 9110 §14.2 lets a server ignore (200) or reject an invalid
 *     Range, and §15.5.17 ties 416 to ranges that cannot be satisfied;
 *     nginx answers every syntax error (an inverted range included) with
 *     416. The RFC's list syntax (#rule) also allows empty elements
 *     ("1-2," and ",1-2"), which nginx refuses.
 * [2] nginx keeps offsets in off_t: a number above 2^63-1 is an error
 *     (416) even where the RFC would clamp it (0-<huge> is the whole file).
 * [3] RFC 9110 makes every range of an empty representation unsatisfiable
 *     (416); nginx sends the empty file whole as soon as a spec starts at 0.
 *
 * Header whitespace: nginx strips leading and trailing SP from a header
 * value but not HTAB ("Range:<TAB>bytes=1-2" is 200, "bytes=1-2<TAB>"
 * 416); so does this file. Whatever strips OWS before us (h2o strips SP
 * and HTAB) decides the edges. Of two Range headers nginx reads the first;
 * that is the caller's to do.
 *
 * Conditionals (nginx's ETag is "<mtime hex>-<size hex>"; ours, given
 * without quotes, is the file id; E below stands for it with its quotes):
 *   If-Range: E                          range kept (206, or 416 if the
 *                                        Range cannot be satisfied)
 *   If-Range: W/E | "other" | E without quotes | E, "x" | garbage |
 *     a date other than Last-Modified    200 whole, Range not even read
 *                                        (so also 200 for bytes=abc)
 *   If-Range: the Last-Modified date     nginx keeps the range; the gateway
 *                                        sends no Last-Modified, so no date
 *                                        matches here (RFC 9110 §13.1.5
 *                                        says the same without one)
 *   If-None-Match: E | W/E | * | "  *  " | "a", E | "a",W/E,"b" |
 *     "a",<TAB>E | "a"  ,  E  ,"b" | ,E | E,
 *                                        304, with or without a Range
 *   If-None-Match: "other" | "a" , "b" | "a", * | ** | E without quotes |
 *     Ex | xE | w/E | W/ E | E "x"       no match: 200 (206 with a Range)
 *   "*" counts only as the whole value (RFC 9110: "*" / #entity-tag). The
 *   first element is compared where the value starts (after SP), so a
 *   leading HTAB spoils it; the elements after a ',' have SP and HTAB
 *   skipped. "W/" is case-sensitive, as in the RFC.
 *
 * Limits of our own (nginx has none but its header size): a value longer
 * than 4096 bytes or listing more than 100 ranges is ignored (200). An
 * embedded NUL is an invalid byte here; nginx never sees one. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gateway/range.h"

#define RANGE_HDR_MAX 4096
#define RANGE_SPECS_MAX 100
/* nginx reads offsets into an off_t and refuses anything above it. */
#define OFF_MAX ((uint64_t)INT64_MAX)

typedef struct cursor {
  const char *p, *end;
} cursor_t;

/* A range or whole/unsatisfiable answer, for brevity below. */
static st_range_t answer(st_range_kind_t kind, uint64_t first, uint64_t last) {
  st_range_t r = {kind, first, last};
  return r;
}

/* The next byte, or -1 at the end (where nginx sees its NUL). */
static int peek(const cursor_t *c) {
  return c->p < c->end ? (unsigned char)*c->p : -1;
}

/* Only SP: nginx does not skip HTAB inside a range-set. */
static void skip_sp(cursor_t *c) {
  while (peek(c) == ' ')
    c->p++;
}

static bool is_digit(int ch) {
  return ch >= '0' && ch <= '9';
}

/* nginx trims SP (not HTAB) around a header value before reading it. */
static void trim_sp(const char **s, size_t *len) {
  while (*len > 0 && (*s)[0] == ' ') {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && (*s)[*len - 1] == ' ')
    (*len)--;
}

/* One or more decimal digits; false without any, or above OFF_MAX. */
static bool read_num(cursor_t *c, uint64_t *out) {
  uint64_t v = 0;

  if (!is_digit(peek(c)))
    return false;
  while (is_digit(peek(c))) {
    uint64_t d = (uint64_t)(*c->p++ - '0');
    if (v > (OFF_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* The unit must be "bytes=" (any case) followed by at least one byte;
 * nginx ignores anything else, "bytes=" alone included. */
static bool is_bytes_unit(const char *s, size_t len) {
  static const char unit[] = "bytes=";

  if (len < sizeof unit)
    return false;
  for (size_t i = 0; i < sizeof unit - 1; i++) {
    char ch = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    if (ch != unit[i])
      return false;
  }
  return true;
}

/* How many range-specs the value lists: one more than its commas. */
static size_t count_specs(const char *s, size_t len) {
  size_t n = 1;
  for (size_t i = 0; i < len; i++)
    n += s[i] == ',';
  return n;
}

/* Reads one range-spec as nginx does and leaves the cursor on the ',' or
 * at the end after it. The result is the half-open [*lo, *hi), with hi
 * clamped to length; lo >= hi means the spec selects nothing. False for a
 * syntax error, which nginx answers with 416. */
static bool read_spec(cursor_t *c, uint64_t length, uint64_t *lo, uint64_t *hi) {
  uint64_t first = 0, n;
  bool suffix = peek(c) == '-';

  if (suffix) {
    c->p++;
  } else {
    if (!read_num(c, &first))
      return false;
    skip_sp(c);
    if (peek(c) != '-')
      return false;
    c->p++;
    skip_sp(c);
    if (peek(c) == ',' || peek(c) == -1) {
      *lo = first;
      *hi = length;
      return true;
    }
  }
  /* A suffix length must follow its '-' at once: "- 5" is an error. */
  if (!read_num(c, &n))
    return false;
  skip_sp(c);
  if (peek(c) != ',' && peek(c) != -1)
    return false;
  if (suffix) {
    *lo = length - (n < length ? n : length);
    *hi = length;
  } else {
    *lo = first;
    *hi = n >= length ? length : n + 1;
  }
  return true;
}

/* What the specs add up to as nginx keeps them: the first satisfiable
 * range, how many there were and their total size. */
typedef struct tally {
  size_t count;
  uint64_t lo, hi, size;
} tally_t;

/* Counts in [lo, hi); false when the total would overflow an off_t,
 * which nginx answers with 416. A first range cannot overflow in nginx
 * (length fits an off_t there); here, beyond 2^63-1, it must not either. */
static bool tally_add(tally_t *t, uint64_t lo, uint64_t hi) {
  uint64_t n = hi - lo;

  if (t->count > 0 && (n > OFF_MAX || t->size > OFF_MAX - n))
    return false;
  if (t->count == 0) {
    t->lo = lo;
    t->hi = hi;
  }
  t->count++;
  t->size += n;
  return true;
}

/* The range-set after "bytes=": nginx's loop, spec by spec. */
static st_range_t parse_set(cursor_t *c, uint64_t length) {
  tally_t t = {0, 0, 0, 0};
  uint64_t lo, hi;

  for (;;) {
    skip_sp(c);
    if (!read_spec(c, length, &lo, &hi))
      return answer(ST_RANGE_UNSATISFIABLE, 0, 0);
    if (lo < hi) {
      if (!tally_add(&t, lo, hi))
        return answer(ST_RANGE_UNSATISFIABLE, 0, 0);
    } else if (lo == 0) {
      /* Only an empty representation gets here: nginx gives up on the
       * Range and sends it whole, without reading the rest. */
      return answer(ST_RANGE_WHOLE, 0, 0);
    }
    if (peek(c) != ',')
      break;
    c->p++;
  }
  if (t.count == 0)
    return answer(ST_RANGE_UNSATISFIABLE, 0, 0);
  /* Parts adding up to more than the whole are not worth cutting up;
   * several parts would be multipart, which we do not send. */
  if (t.size > length || t.count > 1)
    return answer(ST_RANGE_WHOLE, 0, 0);
  return answer(ST_RANGE_PARTIAL, t.lo, t.hi - 1);
}

st_range_t st_range_parse(const char *hdr, size_t len, uint64_t length) {
  cursor_t c;

  if (hdr == NULL || len > RANGE_HDR_MAX)
    return answer(ST_RANGE_WHOLE, 0, 0);
  trim_sp(&hdr, &len);
  if (!is_bytes_unit(hdr, len) || count_specs(hdr, len) > RANGE_SPECS_MAX)
    return answer(ST_RANGE_WHOLE, 0, 0);
  c.p = hdr + 6;
  c.end = hdr + len;
  return parse_set(&c, length);
}

/* Whether "etag" (with its quotes) starts at p. */
static bool quoted_at(const char *p, const char *end, const char *etag, size_t elen) {
  return (size_t)(end - p) >= elen + 2 && p[0] == '"' && memcmp(p + 1, etag, elen) == 0 &&
         p[elen + 1] == '"';
}

bool st_range_if_range_ok(const char *hdr, size_t len, const char *etag) {
  size_t elen;

  /* No If-Range: nothing stands in the Range's way. */
  if (hdr == NULL)
    return true;
  if (etag == NULL)
    return false;
  trim_sp(&hdr, &len);
  elen = strlen(etag);
  /* Strong comparison: the whole value is exactly our tag. A date would
   * need a Last-Modified, which the gateway does not send. */
  return len == elen + 2 && quoted_at(hdr, hdr + len, etag, elen);
}

/* Whether the list element at *p is our tag, W/ or not, followed only by
 * blanks up to a ',' or the end; moves *p past what it read. */
static bool element_matches(const char **p, const char *end, const char *etag, size_t elen) {
  const char *s = *p;

  if (end - s > 2 && s[0] == 'W' && s[1] == '/')
    s += 2;
  if (!quoted_at(s, end, etag, elen)) {
    *p = s;
    return false;
  }
  s += elen + 2;
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  *p = s;
  return s == end || *s == ',';
}

/* Past the rest of an element, its ',' and any blanks or empty elements
 * after it, as nginx skips them. */
static const char *next_element(const char *p, const char *end) {
  while (p < end && *p != ',')
    p++;
  while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
    p++;
  return p;
}

bool st_range_if_none_match(const char *hdr, size_t len, const char *etag) {
  const char *p, *end;
  size_t elen;

  if (hdr == NULL)
    return false;
  trim_sp(&hdr, &len);
  /* "*" matches any existing representation, but only on its own. */
  if (len == 1 && hdr[0] == '*')
    return true;
  if (etag == NULL)
    return false;
  elen = strlen(etag);
  /* The first element is compared where the value starts, as nginx does:
   * only the elements after a ',' have their blanks skipped. */
  for (p = hdr, end = hdr + len; p < end; p = next_element(p, end)) {
    if (element_matches(&p, end, etag, elen))
      return true;
  }
  return false;
}

size_t st_range_content_range(const st_range_t *r, uint64_t length, char *out, size_t cap) {
  int n;

  if (out == NULL || cap == 0)
    return 0;
  out[0] = '\0';
  if (r == NULL)
    return 0;
  if (r->kind == ST_RANGE_PARTIAL)
    n = snprintf(out, cap, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r->first, r->last, length);
  else if (r->kind == ST_RANGE_UNSATISFIABLE)
    n = snprintf(out, cap, "bytes */%" PRIu64, length);
  else
    return 0;
  /* Too small a buffer gets nothing rather than half a header. */
  if (n < 0 || (size_t)n >= cap) {
    out[0] = '\0';
    return 0;
  }
  return (size_t)n;
}
