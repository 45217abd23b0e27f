/* Bytes: hex, bech32 (BIP-173), bounded growable buffers and unsigned
 * 128-bit amounts written as decimal strings. */
#ifndef STRATOS_ST_BYTES_H
#define STRATOS_ST_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- hex ---- */

/* Writes 2*len lowercase hex digits and a NUL into out. outcap must be at
 * least 2*len+1, else ST_E2BIG and out is untouched. */
int st_hex_encode(const uint8_t *in, size_t len, char *out, size_t outcap);

/* Decodes hexlen digits (upper or lower case). hexlen must be even and
 * hexlen/2 <= outcap. *outlen receives the byte count. */
int st_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outcap,
                  size_t *outlen);

/* ---- bech32 (BIP-173) ---- */

#define ST_BECH32_MAX_LEN 90 /* longest string BIP-173 allows */
#define ST_BECH32_HRP_MAX 83

/* Encodes hrp + 5-bit groups data5[0..len) into out (NUL-terminated).
 * hrp must be 1..83 printable lowercase ASCII characters. */
int st_bech32_encode(const char *hrp, const uint8_t *data5, size_t len,
                     char *out, size_t outcap);

/* Decodes a bech32 string. Rejects mixed case, bad characters, bad length,
 * bad checksum. hrp receives the lowercase human-readable part. */
int st_bech32_decode(const char *in, char *hrp, size_t hrpcap,
                     uint8_t *data5, size_t data5cap, size_t *data5len);

/* Regroups bits: 8->5 with pad=true to encode, 5->8 with pad=false to
 * decode (rejecting non-zero padding). */
int st_bech32_convert_bits(const uint8_t *in, size_t inlen, int frombits,
                           int tobits, bool pad, uint8_t *out, size_t outcap,
                           size_t *outlen);

/* Encodes/decodes 8-bit payloads (addresses) under hrp. decode checks that
 * the string's hrp equals the expected one. */
int st_bech32_encode_bytes(const char *hrp, const uint8_t *data, size_t len,
                           char *out, size_t outcap);
int st_bech32_decode_bytes(const char *in, const char *hrp, uint8_t *out,
                           size_t outcap, size_t *outlen);

/* ---- bounded buffers ---- */

/* A growable byte buffer that never grows past max bytes: appends that
 * would pass it fail with ST_E2BIG and leave the buffer as it was. */
typedef struct st_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
  size_t max;
} st_buf_t;

void st_buf_init(st_buf_t *b, size_t max);
int st_buf_reserve(st_buf_t *b, size_t extra);
int st_buf_append(st_buf_t *b, const void *p, size_t n);
int st_buf_appendf(st_buf_t *b, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
/* Appends a NUL without counting it in len, so data can be read as a C
 * string. */
int st_buf_cstr(st_buf_t *b);
void st_buf_reset(st_buf_t *b);
void st_buf_free(st_buf_t *b);

/* ---- 128-bit amounts ---- */

typedef unsigned __int128 st_u128;

#define ST_U128_STR_MAX 40 /* 39 digits and a NUL */

/* Parses a plain decimal string (no sign, no spaces, no leading zeros
 * except "0") into a u128. Overflow gives ST_ERANGE. */
int st_u128_parse(const char *s, st_u128 *out);

/* Writes v in decimal. out must hold ST_U128_STR_MAX bytes. */
void st_u128_format(st_u128 v, char out[ST_U128_STR_MAX]);

/* floor(a * b / c) through a 256-bit product. c == 0 gives ST_EINVAL, a
 * quotient above 128 bits ST_ERANGE; *out is set only on success. */
int st_u128_muldiv(st_u128 a, st_u128 b, st_u128 c, st_u128 *out);
/* The same, rounded up. */
int st_u128_muldiv_up(st_u128 a, st_u128 b, st_u128 c, st_u128 *out);

/* ---- decimal fractions ----
 * A fraction ("0.05", "1", "0.0002") is held as a u128 scaled by 10^18
 * (ST_DEC_ONE), the fixed point every rate and fraction of the chain
 * uses. */

#define ST_DEC_ONE ((st_u128)1000000000000000000ULL)
#define ST_DEC_STR_MAX 60 /* 39 integer digits, '.', 18 digits, NUL */

/* Parses "<digits>[.<1-18 digits>]": no sign, no exponent, no spaces, no
 * leading zeros in the integer part except a lone "0"; trailing zeros in
 * the fraction are allowed. Gives ST_EINVAL for bad syntax (more than 18
 * fraction digits included) and ST_ERANGE when the scaled value does not
 * fit 128 bits. */
int st_dec_parse(const char *s, st_u128 *out);

/* Writes v / 10^18 with exactly 18 fraction digits ("0.050000000000000000"). */
void st_dec_format(st_u128 v, char out[ST_DEC_STR_MAX]);

#endif
