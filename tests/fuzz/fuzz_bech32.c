/* Fuzzes the bech32 decoders. The input is decoded as a bech32 string, as
 * an 8-bit payload under its own hrp, and as a wallet and a node address;
 * whatever decodes must encode back to the same string (in lowercase). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stratos/st_bytes.h"
#include "stratos/st_crypto.h"
#include "stratos/st_err.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      abort();                                                                                     \
  } while (0)

static void lower(const char *in, char *out) {
  size_t i;
  for (i = 0; in[i] != '\0'; i++)
    out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
  out[i] = '\0';
}

static void check_address(const char *s, const char *lc, const char *hrp) {
  uint8_t addr[ST_ADDR_LEN];
  char out[ST_ADDR_STR_MAX];

  if (st_addr_decode(s, hrp, addr) != 0)
    return;
  CHECK(st_addr_encode(hrp, addr, out, sizeof out) == 0);
  CHECK(strcmp(out, lc) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char s[ST_BECH32_MAX_LEN + 2], lc[ST_BECH32_MAX_LEN + 2];
  char hrp[ST_BECH32_HRP_MAX + 1], out[ST_BECH32_MAX_LEN + 1];
  uint8_t d5[ST_BECH32_MAX_LEN], bytes[ST_BECH32_MAX_LEN];
  size_t n5, nb;
  int rc;

  /* Anything longer than one character past the limit is cut there: the
   * decoder must still refuse it for its length. */
  if (size > ST_BECH32_MAX_LEN + 1)
    size = ST_BECH32_MAX_LEN + 1;
  memcpy(s, data, size);
  s[size] = '\0';

  rc = st_bech32_decode(s, hrp, sizeof hrp, d5, sizeof d5, &n5);
  if (rc != 0) {
    CHECK(rc < 0 && rc > ST_ERR_MIN_);
    return 0;
  }
  CHECK(strlen(s) <= ST_BECH32_MAX_LEN);
  lower(s, lc);
  CHECK(st_bech32_encode(hrp, d5, n5, out, sizeof out) == 0);
  CHECK(strcmp(out, lc) == 0);

  if (st_bech32_decode_bytes(s, hrp, bytes, sizeof bytes, &nb) == 0) {
    CHECK(st_bech32_encode_bytes(hrp, bytes, nb, out, sizeof out) == 0);
    CHECK(strcmp(out, lc) == 0);
  }
  check_address(s, lc, ST_HRP_WALLET);
  check_address(s, lc, ST_HRP_NODE);
  return 0;
}
