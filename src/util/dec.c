/* a * b / c without losing the top half of the product, and decimal
 * fractions held as u128 scaled by 10^18. Rates and fee shares are
 * applied to amounts near the top of the u128 range, so the product must
 * be exact in 256 bits; only the quotient has to fit 128. */
#include <stddef.h>
#include <stdint.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

#define U128_MAX (~(st_u128)0)
#define DEC_FRAC_DIGITS 18

/* The full 256-bit product as hi * 2^128 + lo, built from four 64x64
 * partial products. Each partial sum below stays under 2^128:
 * (2^64-1)^2 + 2 * (2^64-1) == 2^128 - 1. */
static void mul_256(st_u128 a, st_u128 b, st_u128 *hi, st_u128 *lo) {
  uint64_t a0 = (uint64_t)a, a1 = (uint64_t)(a >> 64);
  uint64_t b0 = (uint64_t)b, b1 = (uint64_t)(b >> 64);
  st_u128 t = (st_u128)a0 * b0;
  st_u128 m1 = (st_u128)a1 * b0 + (t >> 64);
  st_u128 m2 = (st_u128)a0 * b1 + (uint64_t)m1;

  *lo = (m2 << 64) | (uint64_t)t;
  *hi = (st_u128)a1 * b1 + (m1 >> 64) + (m2 >> 64);
}

/* Quotient and remainder of (hi * 2^128 + lo) / c, c != 0. The quotient
 * fits 128 bits exactly when hi < c. */
static int div_256(st_u128 hi, st_u128 lo, st_u128 c, st_u128 *q,
                   st_u128 *r) {
  st_u128 rem = hi, quo = 0;

  if (hi >= c)
    return ST_ERANGE;
  /* Most products fit 128 bits: let the compiler's division do them. */
  if (hi == 0) {
    *q = lo / c;
    *r = lo % c;
    return 0;
  }
  /* Bit-at-a-time long division of the low half under the remainder.
   * 128 steps is cheap next to anything that calls this; a schoolbook
   * division by 64-bit digits would be faster but far harder to get
   * right. rem < c holds at the top of each step, so 2 * rem + 1 < 2c:
   * when the shift carries out of bit 127 the true value is >= 2^128 > c
   * and below 2c, so one wrapping subtraction gives the right rest. */
  for (int i = 127; i >= 0; i--) {
    unsigned carry = (unsigned)(rem >> 127);
    rem = (rem << 1) | ((lo >> i) & 1);
    if (carry || rem >= c) {
      rem -= c;
      quo |= (st_u128)1 << i;
    }
  }
  *q = quo;
  *r = rem;
  return 0;
}

static int muldiv_rem(st_u128 a, st_u128 b, st_u128 c, st_u128 *q,
                      st_u128 *r) {
  st_u128 hi, lo;

  if (c == 0)
    return ST_EINVAL;
  mul_256(a, b, &hi, &lo);
  return div_256(hi, lo, c, q, r);
}

int st_u128_muldiv(st_u128 a, st_u128 b, st_u128 c, st_u128 *out) {
  st_u128 q, r;
  int rc;

  if (out == NULL)
    return ST_EINVAL;
  rc = muldiv_rem(a, b, c, &q, &r);
  if (rc != 0)
    return rc;
  *out = q;
  return 0;
}

int st_u128_muldiv_up(st_u128 a, st_u128 b, st_u128 c, st_u128 *out) {
  st_u128 q, r;
  int rc;

  if (out == NULL)
    return ST_EINVAL;
  rc = muldiv_rem(a, b, c, &q, &r);
  if (rc != 0)
    return rc;
  if (r != 0) {
    /* The floor can be the largest u128 with a rest still left over. */
    if (q == U128_MAX)
      return ST_ERANGE;
    q++;
  }
  *out = q;
  return 0;
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* Checks the spelling alone, so that a malformed string is ST_EINVAL
 * however large its digits would make it. *intlen and *fraclen receive
 * the digit counts on each side of the point (fraclen 0 without one). */
static int dec_syntax(const char *s, size_t *intlen, size_t *fraclen) {
  size_t i = 0, f = 0;

  while (is_digit(s[i]))
    i++;
  if (i == 0 || (s[0] == '0' && i > 1))
    return ST_EINVAL;
  if (s[i] == '.') {
    while (is_digit(s[i + 1 + f]))
      f++;
    if (f == 0 || f > DEC_FRAC_DIGITS || s[i + 1 + f] != '\0')
      return ST_EINVAL;
  } else if (s[i] != '\0') {
    return ST_EINVAL;
  }
  *intlen = i;
  *fraclen = f;
  return 0;
}

int st_dec_parse(const char *s, st_u128 *out) {
  size_t intlen, fraclen;
  st_u128 ip = 0, v;
  uint64_t fp = 0;
  int rc;

  if (s == NULL || out == NULL)
    return ST_EINVAL;
  rc = dec_syntax(s, &intlen, &fraclen);
  if (rc != 0)
    return rc;
  /* The integer part may only go as high as U128_MAX / 10^18 for the
   * scaled value to fit, so bound it by that rather than by U128_MAX. */
  for (size_t i = 0; i < intlen; i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (ip > (U128_MAX / ST_DEC_ONE - d) / 10)
      return ST_ERANGE;
    ip = ip * 10 + d;
  }
  /* Pad the fraction out to 18 digits: below 10^18, so a uint64_t. */
  for (size_t k = 0; k < DEC_FRAC_DIGITS; k++)
    fp = fp * 10 + (k < fraclen ? (uint64_t)(s[intlen + 1 + k] - '0') : 0);
  v = ip * ST_DEC_ONE;
  if (v > U128_MAX - fp)
    return ST_ERANGE;
  *out = v + fp;
  return 0;
}

void st_dec_format(st_u128 v, char out[ST_DEC_STR_MAX]) {
  uint64_t fp = (uint64_t)(v % ST_DEC_ONE);
  size_t n;

  st_u128_format(v / ST_DEC_ONE, out);
  for (n = 0; out[n] != '\0'; n++)
    ;
  out[n] = '.';
  for (int k = DEC_FRAC_DIGITS; k >= 1; k--) {
    out[n + (size_t)k] = (char)('0' + fp % 10);
    fp /= 10;
  }
  out[n + 1 + DEC_FRAC_DIGITS] = '\0';
}
