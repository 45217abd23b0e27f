/* HTTP Range requests (RFC 9110 §14) for the gateway's file downloads:
 * parsing a Range header against a representation's length, and the
 * conditional rules that go with it (If-Range, If-None-Match).
 *
 * One range is served per request: "bytes=a-b", "bytes=a-", "bytes=-n".
 * A request for several ranges is answered, as RFC 9110 allows, with the
 * whole representation (200). Where RFC 9110 leaves room (syntax errors,
 * inverted ranges, unsatisfiable ones) the answers are nginx's, so that a
 * client sees the same from the gateway as from the web server it knows;
 * range.c lists every case. 416 carries "Content-Range: bytes * /<length>". */
#ifndef STRATOS_GATEWAY_RANGE_H
#define STRATOS_GATEWAY_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum st_range_kind {
  ST_RANGE_WHOLE = 0,        /* 200: no (usable) Range, or several ranges */
  ST_RANGE_PARTIAL = 1,      /* 206: first..last (inclusive) */
  ST_RANGE_UNSATISFIABLE = 2 /* 416 */
} st_range_kind_t;

typedef struct st_range {
  st_range_kind_t kind;
  uint64_t first, last;      /* for ST_RANGE_PARTIAL; last < length */
} st_range_t;

/* Interprets the Range header value (hdr, len bytes; NULL when absent)
 * for a representation of length bytes. Headers longer than 4096 bytes or
 * with more than 100 ranges are treated as invalid (whole). */
st_range_t st_range_parse(const char *hdr, size_t len, uint64_t length);

/* Whether an If-Range value (an entity tag in quotes, or an HTTP date)
 * matches the strong ETag etag (given without quotes): only an exact
 * strong tag match keeps the Range; anything else (a date, a weak tag,
 * another tag) means the whole representation is sent. */
bool st_range_if_range_ok(const char *hdr, size_t len, const char *etag);

/* Whether If-None-Match (a list of entity tags, or "*") matches etag
 * (weak comparison): the answer is then 304. */
bool st_range_if_none_match(const char *hdr, size_t len, const char *etag);

/* Writes "bytes first-last/length" into out (for Content-Range); for
 * 416, "bytes * /length" written without the space. Returns the length. */
size_t st_range_content_range(const st_range_t *r, uint64_t length, char *out, size_t cap);

#endif
