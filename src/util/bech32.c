/* Bech32 (BIP-173): a human-readable part, the separator '1', 5-bit data
 * groups and a six-group BCH checksum over both.
 *
 * Strings are at most ST_BECH32_MAX_LEN (90) characters, so every buffer
 * here is a fixed array and no input is scanned past 91 bytes. Decoders
 * check everything (characters, case, separator, lengths, checksum, output
 * room) before they write any output, so a failed call leaves the caller's
 * buffers as they were. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

#define BECH32_CHECKSUM_LEN 6
/* The most 5-bit groups a string of ST_BECH32_MAX_LEN characters can carry:
 * a one-character hrp, the separator and the checksum take the rest. */
#define BECH32_DATA_MAX (ST_BECH32_MAX_LEN - 1 - 1 - BECH32_CHECKSUM_LEN)

static const char bech32_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/* Maps a lowercase character to its 5-bit value, or -1. */
static int bech32_char_value(char c) {
  const char *p;

  if (c == '\0')
    return -1;
  p = strchr(bech32_charset, c);
  return p ? (int)(p - bech32_charset) : -1;
}

/* One step of the BCH code's remainder computation (BIP-173 polymod). */
static uint32_t bech32_polymod_step(uint32_t chk, uint8_t v) {
  static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                  0x2a1462b3};
  uint32_t top = chk >> 25;

  chk = ((chk & 0x1ffffff) << 5) ^ v;
  for (int i = 0; i < 5; i++) {
    if ((top >> i) & 1)
      chk ^= gen[i];
  }
  return chk;
}

/* Feeds the expanded hrp: the high bits of each character, a zero, then
 * the low bits of each character. hrp must already be lowercase. */
static uint32_t bech32_polymod_hrp(const char *hrp, size_t hrplen) {
  uint32_t chk = 1;

  for (size_t i = 0; i < hrplen; i++)
    chk = bech32_polymod_step(chk, (uint8_t)((unsigned char)hrp[i] >> 5));
  chk = bech32_polymod_step(chk, 0);
  for (size_t i = 0; i < hrplen; i++)
    chk = bech32_polymod_step(chk, (uint8_t)((unsigned char)hrp[i] & 31));
  return chk;
}

static bool hrp_char_ok(unsigned char c) { return c >= 33 && c <= 126; }

int st_bech32_encode(const char *hrp, const uint8_t *data5, size_t len,
                     char *out, size_t outcap) {
  size_t hrplen, total, pos;
  uint32_t chk;

  if (hrp == NULL || out == NULL || (data5 == NULL && len > 0))
    return ST_EINVAL;
  hrplen = strnlen(hrp, ST_BECH32_HRP_MAX + 1);
  if (hrplen == 0 || hrplen > ST_BECH32_HRP_MAX)
    return ST_EINVAL;
  for (size_t i = 0; i < hrplen; i++) {
    unsigned char c = (unsigned char)hrp[i];
    if (!hrp_char_ok(c) || (c >= 'A' && c <= 'Z'))
      return ST_EINVAL;
  }
  if (len > BECH32_DATA_MAX)
    return ST_E2BIG;
  total = hrplen + 1 + len + BECH32_CHECKSUM_LEN;
  if (total > ST_BECH32_MAX_LEN)
    return ST_E2BIG;
  for (size_t i = 0; i < len; i++) {
    if (data5[i] > 31)
      return ST_EINVAL;
  }
  if (outcap < total + 1)
    return ST_E2BIG;

  chk = bech32_polymod_hrp(hrp, hrplen);
  for (size_t i = 0; i < len; i++)
    chk = bech32_polymod_step(chk, data5[i]);
  for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
    chk = bech32_polymod_step(chk, 0);
  chk ^= 1;

  memcpy(out, hrp, hrplen);
  pos = hrplen;
  out[pos++] = '1';
  for (size_t i = 0; i < len; i++)
    out[pos++] = bech32_charset[data5[i]];
  for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
    out[pos++] = bech32_charset[(chk >> (5 * (BECH32_CHECKSUM_LEN - 1 - i))) & 31];
  out[pos] = '\0';
  return 0;
}

int st_bech32_decode(const char *in, char *hrp, size_t hrpcap,
                     uint8_t *data5, size_t data5cap, size_t *data5len) {
  char lower[ST_BECH32_MAX_LEN];
  uint8_t vals[ST_BECH32_MAX_LEN];
  bool has_lower = false, has_upper = false;
  size_t n, sep, nvals, ndata;
  uint32_t chk;

  if (in == NULL || hrp == NULL || data5len == NULL)
    return ST_EINVAL;
  n = strnlen(in, ST_BECH32_MAX_LEN + 1);
  if (n > ST_BECH32_MAX_LEN)
    return ST_E2BIG;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (!hrp_char_ok(c))
      return ST_EINVAL;
    if (c >= 'a' && c <= 'z')
      has_lower = true;
    if (c >= 'A' && c <= 'Z') {
      has_upper = true;
      c = (unsigned char)(c - 'A' + 'a');
    }
    lower[i] = (char)c;
  }
  if (has_lower && has_upper)
    return ST_EINVAL;

  /* The separator is the last '1'; the hrp may itself contain '1'. */
  sep = n;
  for (size_t i = n; i > 0; i--) {
    if (lower[i - 1] == '1') {
      sep = i - 1;
      break;
    }
  }
  if (sep == n || sep == 0)
    return ST_EINVAL;
  nvals = n - sep - 1;
  if (nvals < BECH32_CHECKSUM_LEN)
    return ST_EINVAL;
  for (size_t i = 0; i < nvals; i++) {
    int v = bech32_char_value(lower[sep + 1 + i]);
    if (v < 0)
      return ST_EINVAL;
    vals[i] = (uint8_t)v;
  }

  chk = bech32_polymod_hrp(lower, sep);
  for (size_t i = 0; i < nvals; i++)
    chk = bech32_polymod_step(chk, vals[i]);
  if (chk != 1)
    return ST_EBADPROOF;

  ndata = nvals - BECH32_CHECKSUM_LEN;
  if (hrpcap < sep + 1 || data5cap < ndata)
    return ST_E2BIG;
  if (data5 == NULL && ndata > 0)
    return ST_EINVAL;
  memcpy(hrp, lower, sep);
  hrp[sep] = '\0';
  if (ndata > 0)
    memcpy(data5, vals, ndata);
  *data5len = ndata;
  return 0;
}

int st_bech32_convert_bits(const uint8_t *in, size_t inlen, int frombits,
                           int tobits, bool pad, uint8_t *out, size_t outcap,
                           size_t *outlen) {
  uint32_t acc = 0, maxv, maxacc;
  unsigned bits = 0;
  size_t total, n, pos = 0;

  if (outlen == NULL || (in == NULL && inlen > 0))
    return ST_EINVAL;
  if (frombits < 1 || frombits > 8 || tobits < 1 || tobits > 8)
    return ST_EINVAL;
  if (inlen > SIZE_MAX / 8)
    return ST_E2BIG;
  total = inlen * (size_t)frombits;
  n = total / (size_t)tobits;

  /* Validate everything before writing: every value fits in frombits;
   * without padding, fewer than frombits bits are left over and they are
   * all zero (they can only come from the last input value). */
  for (size_t i = 0; i < inlen; i++) {
    if (in[i] >> frombits)
      return ST_EINVAL;
  }
  if (pad) {
    if (total % (size_t)tobits)
      n++;
  } else {
    size_t left = total % (size_t)tobits;
    if (left >= (size_t)frombits)
      return ST_EINVAL;
    if (left > 0 && (in[inlen - 1] & ((1u << left) - 1)))
      return ST_EINVAL;
  }
  if (n > outcap)
    return ST_E2BIG;
  if (out == NULL && n > 0)
    return ST_EINVAL;

  maxv = (1u << tobits) - 1;
  maxacc = (1u << (frombits + tobits - 1)) - 1;
  for (size_t i = 0; i < inlen; i++) {
    acc = ((acc << frombits) | in[i]) & maxacc;
    bits += (unsigned)frombits;
    while (bits >= (unsigned)tobits) {
      bits -= (unsigned)tobits;
      out[pos++] = (uint8_t)((acc >> bits) & maxv);
    }
  }
  if (pad && bits > 0)
    out[pos++] = (uint8_t)((acc << (tobits - (int)bits)) & maxv);
  *outlen = pos;
  return 0;
}

int st_bech32_encode_bytes(const char *hrp, const uint8_t *data, size_t len,
                           char *out, size_t outcap) {
  uint8_t d5[BECH32_DATA_MAX];
  size_t n5;
  int rc;

  if (len > BECH32_DATA_MAX * 5 / 8)
    return ST_E2BIG;
  rc = st_bech32_convert_bits(data, len, 8, 5, true, d5, sizeof d5, &n5);
  if (rc != 0)
    return rc;
  return st_bech32_encode(hrp, d5, n5, out, outcap);
}

int st_bech32_decode_bytes(const char *in, const char *hrp, uint8_t *out,
                           size_t outcap, size_t *outlen) {
  char got[ST_BECH32_HRP_MAX + 1];
  uint8_t d5[BECH32_DATA_MAX];
  size_t n5;
  int rc;

  if (hrp == NULL)
    return ST_EINVAL;
  rc = st_bech32_decode(in, got, sizeof got, d5, sizeof d5, &n5);
  if (rc != 0)
    return rc;
  if (strcmp(got, hrp) != 0)
    return ST_EINVAL;
  return st_bech32_convert_bits(d5, n5, 5, 8, false, out, outcap, outlen);
}
