/* Bounded growable buffers. len never passes max; every operation that
 * would pass it fails with ST_E2BIG and leaves the buffer as it was, so a
 * size that comes from the network can be appended without a separate
 * check.
 *
 * The allocation always keeps one byte beyond len for a terminating NUL,
 * so st_buf_cstr and st_buf_appendf never need room that max would refuse.
 * That byte is not part of the content and is not counted against max. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

#define BUF_MIN_ALLOC 64

void st_buf_init(st_buf_t *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

int st_buf_reserve(st_buf_t *b, size_t extra) {
  size_t need, ncap;
  uint8_t *p;

  if (extra > b->max || b->len > b->max - extra)
    return ST_E2BIG;
  if (b->len + extra == SIZE_MAX)
    return ST_ENOMEM;
  need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  /* Grow geometrically, but never allocate past max plus the NUL byte. */
  ncap = b->cap < BUF_MIN_ALLOC ? BUF_MIN_ALLOC : b->cap;
  while (ncap < need && ncap <= SIZE_MAX / 2)
    ncap *= 2;
  if (ncap < need)
    ncap = need;
  if (b->max < SIZE_MAX && ncap > b->max + 1)
    ncap = b->max + 1;
  p = realloc(b->data, ncap);
  if (p == NULL)
    return ST_ENOMEM;
  b->data = p;
  b->cap = ncap;
  return 0;
}

int st_buf_append(st_buf_t *b, const void *p, size_t n) {
  int rc;

  if (p == NULL && n > 0)
    return ST_EINVAL;
  rc = st_buf_reserve(b, n);
  if (rc != 0)
    return rc;
  if (n > 0)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
  return 0;
}

int st_buf_appendf(st_buf_t *b, const char *fmt, ...) {
  va_list ap;
  int n, rc;

  if (fmt == NULL)
    return ST_EINVAL;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return ST_EINVAL;
  rc = st_buf_reserve(b, (size_t)n);
  if (rc != 0)
    return rc;
  /* reserve left room for n bytes and the NUL that vsnprintf writes. */
  va_start(ap, fmt);
  n = vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->data[b->len] = 0;
    return ST_EINVAL;
  }
  b->len += (size_t)n;
  return 0;
}

int st_buf_cstr(st_buf_t *b) {
  int rc = st_buf_reserve(b, 0);
  if (rc != 0)
    return rc;
  b->data[b->len] = 0;
  return 0;
}

void st_buf_reset(st_buf_t *b) {
  b->len = 0;
  if (b->data != NULL)
    b->data[0] = 0;
}

void st_buf_free(st_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}
