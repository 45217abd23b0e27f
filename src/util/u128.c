/* Unsigned 128-bit amounts as plain decimal strings, the form JSON carries
 * them in. The parser is strict (digits only, no sign, no spaces, no
 * leading zeros) so that every amount has exactly one spelling. */
#include <stddef.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

#define U128_MAX (~(st_u128)0)

int st_u128_parse(const char *s, st_u128 *out) {
  st_u128 v = 0;
  size_t i;

  if (s == NULL || out == NULL || s[0] == '\0')
    return ST_EINVAL;
  if (s[0] == '0' && s[1] != '\0')
    return ST_EINVAL;
  for (i = 0; s[i] != '\0'; i++) {
    unsigned d;
    if (s[i] < '0' || s[i] > '9')
      return ST_EINVAL;
    d = (unsigned)(s[i] - '0');
    if (v > (U128_MAX - d) / 10)
      return ST_ERANGE;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

void st_u128_format(st_u128 v, char out[ST_U128_STR_MAX]) {
  char tmp[ST_U128_STR_MAX];
  size_t n = 0;

  do {
    tmp[n++] = (char)('0' + (unsigned)(v % 10));
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  out[n] = '\0';
}
