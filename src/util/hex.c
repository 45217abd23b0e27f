/* Hexadecimal encoding. Decoding checks every digit before it writes any
 * byte, so a failed decode leaves the output buffer as it was. */
#include <stddef.h>
#include <stdint.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int st_hex_encode(const uint8_t *in, size_t len, char *out, size_t outcap) {
  static const char digits[] = "0123456789abcdef";

  if (out == NULL || (in == NULL && len > 0))
    return ST_EINVAL;
  if (len > (SIZE_MAX - 1) / 2 || outcap < 2 * len + 1)
    return ST_E2BIG;
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 0x0f];
  }
  out[2 * len] = '\0';
  return 0;
}

int st_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outcap,
                  size_t *outlen) {
  if (outlen == NULL || (hex == NULL && hexlen > 0) || (out == NULL && hexlen > 0))
    return ST_EINVAL;
  if (hexlen % 2 != 0)
    return ST_EINVAL;
  if (hexlen / 2 > outcap)
    return ST_E2BIG;
  for (size_t i = 0; i < hexlen; i++) {
    if (hex_digit(hex[i]) < 0)
      return ST_EINVAL;
  }
  for (size_t i = 0; i < hexlen / 2; i++)
    out[i] = (uint8_t)(hex_digit(hex[2 * i]) << 4 | hex_digit(hex[2 * i + 1]));
  *outlen = hexlen / 2;
  return 0;
}
