/* Bech32 against the BIP-173 test vectors: every valid and invalid
 * checksum string, and the segwit address vectors read through our
 * byte-payload API (witness version as the first 5-bit group, program as
 * the rest, regrouped to bytes). */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stratos/st_bytes.h"
#include "stratos/st_err.h"

static const char *const valid_bech32[] = {
  "A12UEL5L",
  "a12uel5l",
  "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
  "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
  "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
  "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
  "?1ezyfcl",
};

struct invalid_vec {
  const char *s;
  int rc;
};

static const struct invalid_vec invalid_bech32[] = {
  {"\x20" "1nwldj5", ST_EINVAL},  /* hrp character out of range */
  {"\x7f" "1axkwrx", ST_EINVAL},  /* hrp character out of range */
  {"\x80" "1eym55h", ST_EINVAL},  /* hrp character out of range */
  /* overall max length exceeded */
  {"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
   ST_E2BIG},
  {"pzry9x0s0muk", ST_EINVAL},    /* no separator character */
  {"1pzry9x0s0muk", ST_EINVAL},   /* empty hrp */
  {"x1b4n0q5v", ST_EINVAL},       /* invalid data character */
  {"li1dgmt3", ST_EINVAL},        /* too short checksum */
  {"de1lg7wt\xff", ST_EINVAL},    /* invalid character in checksum */
  {"A1G7SGD8", ST_EBADPROOF},     /* checksum made with the uppercase hrp */
  {"10a06t8", ST_EINVAL},         /* empty hrp */
  {"1qzzfhee", ST_EINVAL},        /* empty hrp */
};

static void lower_copy(const char *in, char *out, size_t cap) {
  size_t i;
  for (i = 0; in[i] != '\0' && i + 1 < cap; i++)
    out[i] = (char)tolower((unsigned char)in[i]);
  out[i] = '\0';
}

static void test_valid_vectors(void **state) {
  (void)state;
  for (size_t v = 0; v < sizeof valid_bech32 / sizeof valid_bech32[0]; v++) {
    const char *s = valid_bech32[v];
    char hrp[ST_BECH32_HRP_MAX + 1], lower[ST_BECH32_MAX_LEN + 1];
    char out[ST_BECH32_MAX_LEN + 1];
    uint8_t d5[ST_BECH32_MAX_LEN];
    size_t n5 = 999;

    assert_int_equal(st_bech32_decode(s, hrp, sizeof hrp, d5, sizeof d5, &n5), 0);
    lower_copy(s, lower, sizeof lower);
    assert_int_equal(strlen(hrp) + 1 + n5 + 6, strlen(s));
    assert_memory_equal(hrp, lower, strlen(hrp));
    assert_int_equal(st_bech32_encode(hrp, d5, n5, out, sizeof out), 0);
    assert_string_equal(out, lower);
  }
}

static void test_valid_vector_contents(void **state) {
  (void)state;
  char hrp[ST_BECH32_HRP_MAX + 1];
  uint8_t d5[ST_BECH32_MAX_LEN];
  size_t n5;

  assert_int_equal(st_bech32_decode("A12UEL5L", hrp, sizeof hrp, d5, sizeof d5, &n5), 0);
  assert_string_equal(hrp, "a");
  assert_int_equal(n5, 0);

  assert_int_equal(st_bech32_decode(valid_bech32[3], hrp, sizeof hrp, d5, sizeof d5, &n5), 0);
  assert_string_equal(hrp, "abcdef");
  assert_int_equal(n5, 32);
  for (size_t i = 0; i < 32; i++)
    assert_int_equal(d5[i], i);

  assert_int_equal(st_bech32_decode(valid_bech32[4], hrp, sizeof hrp, d5, sizeof d5, &n5), 0);
  assert_string_equal(hrp, "1");
  assert_int_equal(n5, 82);
  for (size_t i = 0; i < n5; i++)
    assert_int_equal(d5[i], 0);

  assert_int_equal(st_bech32_decode(valid_bech32[2], hrp, sizeof hrp, d5, sizeof d5, &n5), 0);
  assert_int_equal(strlen(hrp), 83);
  assert_int_equal(n5, 0);

  assert_int_equal(st_bech32_decode("?1ezyfcl", hrp, sizeof hrp, d5, sizeof d5, &n5), 0);
  assert_string_equal(hrp, "?");
}

static void test_invalid_vectors(void **state) {
  (void)state;
  for (size_t v = 0; v < sizeof invalid_bech32 / sizeof invalid_bech32[0]; v++) {
    char hrp[ST_BECH32_HRP_MAX + 1];
    uint8_t d5[ST_BECH32_MAX_LEN];
    size_t n5 = 999;

    memset(hrp, 'Z', sizeof hrp);
    assert_int_equal(st_bech32_decode(invalid_bech32[v].s, hrp, sizeof hrp, d5, sizeof d5, &n5),
                     invalid_bech32[v].rc);
    assert_int_equal(n5, 999);
    assert_int_equal(hrp[0], 'Z');
  }
}

/* BCH codes detect every single-character error: replace each data or
 * checksum character of each valid vector by every other character. */
static void test_single_substitutions(void **state) {
  (void)state;
  static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  for (size_t v = 0; v < sizeof valid_bech32 / sizeof valid_bech32[0]; v++) {
    char s[ST_BECH32_MAX_LEN + 1], hrp[ST_BECH32_HRP_MAX + 1];
    uint8_t d5[ST_BECH32_MAX_LEN];
    size_t n5, len, sep;

    lower_copy(valid_bech32[v], s, sizeof s);
    len = strlen(s);
    sep = (size_t)(strrchr(s, '1') - s);
    for (size_t i = sep + 1; i < len; i++) {
      char orig = s[i];
      for (size_t c = 0; c < 32; c++) {
        if (charset[c] == orig)
          continue;
        s[i] = charset[c];
        assert_int_equal(st_bech32_decode(s, hrp, sizeof hrp, d5, sizeof d5, &n5), ST_EBADPROOF);
      }
      s[i] = orig;
    }
    assert_int_equal(st_bech32_decode(s, hrp, sizeof hrp, d5, sizeof d5, &n5), 0);
  }
}

static void test_mixed_case(void **state) {
  (void)state;
  char hrp[8];
  uint8_t d5[8];
  size_t n5;
  assert_int_equal(st_bech32_decode("A12uel5l", hrp, sizeof hrp, d5, sizeof d5, &n5), ST_EINVAL);
  assert_int_equal(st_bech32_decode("a12UEL5L", hrp, sizeof hrp, d5, sizeof d5, &n5), ST_EINVAL);
}

static void test_decode_output_room(void **state) {
  (void)state;
  char hrp[ST_BECH32_HRP_MAX + 1];
  uint8_t d5[32];
  size_t n5 = 5;
  const char *s = valid_bech32[3]; /* hrp "abcdef", 32 groups */

  assert_int_equal(st_bech32_decode(s, hrp, 6, d5, sizeof d5, &n5), ST_E2BIG);
  assert_int_equal(st_bech32_decode(s, hrp, sizeof hrp, d5, 31, &n5), ST_E2BIG);
  assert_int_equal(n5, 5);
  assert_int_equal(st_bech32_decode(s, hrp, 7, d5, 32, &n5), 0);
  assert_int_equal(n5, 32);
  assert_int_equal(st_bech32_decode(NULL, hrp, sizeof hrp, d5, sizeof d5, &n5), ST_EINVAL);
}

static void test_encode_errors(void **state) {
  (void)state;
  char out[ST_BECH32_MAX_LEN + 1];
  char hrp84[85];
  uint8_t d5[90] = {0};

  memset(hrp84, 'a', 84);
  hrp84[84] = '\0';
  assert_int_equal(st_bech32_encode("", d5, 0, out, sizeof out), ST_EINVAL);
  assert_int_equal(st_bech32_encode("A", d5, 0, out, sizeof out), ST_EINVAL);
  assert_int_equal(st_bech32_encode("a b", d5, 0, out, sizeof out), ST_EINVAL);
  assert_int_equal(st_bech32_encode("a\x7f", d5, 0, out, sizeof out), ST_EINVAL);
  assert_int_equal(st_bech32_encode(hrp84, d5, 0, out, sizeof out), ST_EINVAL);
  hrp84[83] = '\0';
  assert_int_equal(st_bech32_encode(hrp84, d5, 0, out, sizeof out), 0);
  assert_int_equal(strlen(out), 90);
  assert_int_equal(st_bech32_encode(hrp84, d5, 1, out, sizeof out), ST_E2BIG);

  d5[3] = 32;
  assert_int_equal(st_bech32_encode("a", d5, 4, out, sizeof out), ST_EINVAL);
  d5[3] = 0;
  /* hrp "a": 1 + 1 + 82 + 6 = 90 characters is the most allowed. */
  assert_int_equal(st_bech32_encode("a", d5, 82, out, sizeof out), 0);
  assert_int_equal(st_bech32_encode("a", d5, 83, out, sizeof out), ST_E2BIG);

  memset(out, 'Z', sizeof out);
  assert_int_equal(st_bech32_encode("a", d5, 0, out, 8), ST_E2BIG);
  assert_int_equal(out[0], 'Z');
  assert_int_equal(st_bech32_encode("a", d5, 0, out, 9), 0);
  assert_string_equal(out, "a12uel5l");
}

static void test_convert_bits(void **state) {
  (void)state;
  const uint8_t bytes[] = {0xff, 0x00, 0xa5};
  uint8_t d5[8], back[8];
  size_t n5, n8;

  assert_int_equal(st_bech32_convert_bits(bytes, 3, 8, 5, true, d5, sizeof d5, &n5), 0);
  assert_int_equal(n5, 5);
  /* 11111 11100 00000 01010 0101(0) */
  const uint8_t want[] = {31, 28, 0, 10, 10};
  assert_memory_equal(d5, want, 5);
  assert_int_equal(st_bech32_convert_bits(d5, n5, 5, 8, false, back, sizeof back, &n8), 0);
  assert_int_equal(n8, 3);
  assert_memory_equal(back, bytes, 3);

  /* Without padding the trailing bits must be zero... */
  d5[4] = 11;
  assert_int_equal(st_bech32_convert_bits(d5, 5, 5, 8, false, back, sizeof back, &n8), ST_EINVAL);
  /* ...and fewer than a whole input group. */
  const uint8_t six[] = {0, 0, 0, 0, 0, 0};
  assert_int_equal(st_bech32_convert_bits(six, 6, 5, 8, false, back, sizeof back, &n8), ST_EINVAL);
  /* Values must fit the source width. */
  const uint8_t big[] = {32};
  assert_int_equal(st_bech32_convert_bits(big, 1, 5, 8, true, back, sizeof back, &n8), ST_EINVAL);
  /* Bad widths and too little room. */
  assert_int_equal(st_bech32_convert_bits(bytes, 3, 0, 5, true, d5, sizeof d5, &n5), ST_EINVAL);
  assert_int_equal(st_bech32_convert_bits(bytes, 3, 8, 9, true, d5, sizeof d5, &n5), ST_EINVAL);
  assert_int_equal(st_bech32_convert_bits(bytes, 3, 8, 5, true, d5, 4, &n5), ST_E2BIG);
  /* 24 bits make four whole groups and 4 bits over, which must be zero
   * when there is no padding. */
  assert_int_equal(st_bech32_convert_bits(bytes, 3, 8, 5, false, d5, 4, &n5), ST_EINVAL);
  const uint8_t even[] = {0xff, 0x00, 0xa0};
  assert_int_equal(st_bech32_convert_bits(even, 3, 8, 5, false, d5, 4, &n5), 0);
  assert_int_equal(n5, 4);
  assert_memory_equal(d5, want, 4);
  assert_int_equal(st_bech32_convert_bits(NULL, 0, 8, 5, true, NULL, 0, &n5), 0);
  assert_int_equal(n5, 0);
}

static void test_bytes_round_trip(void **state) {
  (void)state;
  uint8_t data[52], back[52];
  char out[ST_BECH32_MAX_LEN + 1];
  size_t n;

  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (uint8_t)(i * 37 + 11);
  /* hrp "st" leaves 81 groups: at most 50 bytes. */
  for (size_t len = 0; len <= 50; len++) {
    assert_int_equal(st_bech32_encode_bytes("st", data, len, out, sizeof out), 0);
    assert_int_equal(strncmp(out, "st1", 3), 0);
    memset(back, 0, sizeof back);
    assert_int_equal(st_bech32_decode_bytes(out, "st", back, sizeof back, &n), 0);
    assert_int_equal(n, len);
    assert_memory_equal(back, data, len);
    assert_int_equal(st_bech32_decode_bytes(out, "stsds", back, sizeof back, &n), ST_EINVAL);
    assert_int_equal(st_bech32_decode_bytes(out, "s", back, sizeof back, &n), ST_EINVAL);
    if (len > 0)
      assert_int_equal(st_bech32_decode_bytes(out, "st", back, len - 1, &n), ST_E2BIG);
  }
  assert_int_equal(st_bech32_encode_bytes("st", data, 51, out, sizeof out), ST_E2BIG);
  /* A one-character hrp leaves room for 51 bytes, and no more. */
  assert_int_equal(st_bech32_encode_bytes("a", data, 51, out, sizeof out), 0);
  assert_int_equal(strlen(out), 90);
  assert_int_equal(st_bech32_encode_bytes("a", data, 52, out, sizeof out), ST_E2BIG);
}

/* ---- segwit address vectors ---- */

struct segwit_vec {
  const char *addr;
  const char *hrp;
  const char *script_hex;
};

static const struct segwit_vec valid_segwit[] = {
  {"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc",
   "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
  {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "tb",
   "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
  {"bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx", "bc",
   "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"},
  {"BC1SW50QA3JX3S", "bc", "6002751e"},
  {"bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj", "bc", "5210751e76e8199196d454941c45d1b3a323"},
  {"tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy", "tb",
   "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
};

/* Stages at which a segwit decode can fail, to tell the vectors apart. */
enum {
  SW_OK = 0,
  SW_BECH32 = 1,  /* the bech32 string itself is invalid */
  SW_HRP = 2,     /* hrp is not the expected one */
  SW_EMPTY = 3,   /* no witness version */
  SW_VERSION = 4, /* witness version above 16 */
  SW_PADDING = 5, /* 5-to-8 regrouping refused the padding */
  SW_PROGLEN = 6, /* program length outside 2..40, or not 20/32 for v0 */
};

static int segwit_decode(const char *addr, const char *hrp, int *ver, uint8_t *prog,
                         size_t *proglen) {
  char got[ST_BECH32_HRP_MAX + 1];
  uint8_t d5[ST_BECH32_MAX_LEN];
  size_t n5;

  if (st_bech32_decode(addr, got, sizeof got, d5, sizeof d5, &n5) != 0)
    return SW_BECH32;
  if (strcmp(got, hrp) != 0)
    return SW_HRP;
  if (n5 < 1)
    return SW_EMPTY;
  if (d5[0] > 16)
    return SW_VERSION;
  if (st_bech32_convert_bits(d5 + 1, n5 - 1, 5, 8, false, prog, 64, proglen) != 0)
    return SW_PADDING;
  if (*proglen < 2 || *proglen > 40 || (d5[0] == 0 && *proglen != 20 && *proglen != 32))
    return SW_PROGLEN;
  *ver = d5[0];
  return SW_OK;
}

static void test_segwit_valid(void **state) {
  (void)state;
  for (size_t v = 0; v < sizeof valid_segwit / sizeof valid_segwit[0]; v++) {
    const struct segwit_vec *t = &valid_segwit[v];
    uint8_t prog[64], script[66], d5[ST_BECH32_MAX_LEN];
    char hex[2 * sizeof script + 1], out[ST_BECH32_MAX_LEN + 1], lower[ST_BECH32_MAX_LEN + 1];
    size_t proglen = 0, n5;
    int ver = -1;

    assert_int_equal(segwit_decode(t->addr, t->hrp, &ver, prog, &proglen), SW_OK);
    script[0] = (uint8_t)(ver == 0 ? 0 : 0x50 + ver);
    script[1] = (uint8_t)proglen;
    memcpy(script + 2, prog, proglen);
    assert_int_equal(st_hex_encode(script, proglen + 2, hex, sizeof hex), 0);
    assert_string_equal(hex, t->script_hex);

    /* Encoding the same version and program gives back the address. */
    d5[0] = (uint8_t)ver;
    assert_int_equal(st_bech32_convert_bits(prog, proglen, 8, 5, true, d5 + 1, sizeof d5 - 1, &n5), 0);
    assert_int_equal(st_bech32_encode(t->hrp, d5, n5 + 1, out, sizeof out), 0);
    lower_copy(t->addr, lower, sizeof lower);
    assert_string_equal(out, lower);

    /* The byte-payload API refuses another network's hrp. */
    assert_int_equal(segwit_decode(t->addr, strcmp(t->hrp, "bc") ? "bc" : "tb", &ver, prog,
                                   &proglen),
                     SW_HRP);
  }
}

static void test_segwit_invalid(void **state) {
  (void)state;
  struct {
    const char *addr;
    const char *hrp;
    int stage;
    int bech32_rc;
  } bad[] = {
    /* invalid human-readable part */
    {"tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", "bc", SW_HRP, 0},
    /* invalid checksum */
    {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bc", SW_BECH32, ST_EBADPROOF},
    /* invalid witness version */
    {"BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "bc", SW_VERSION, 0},
    /* invalid program length */
    {"bc1rw5uspcuh", "bc", SW_PROGLEN, 0},
    /* invalid program length */
    {"bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90", "bc",
     SW_PROGLEN, 0},
    /* invalid program length for witness version 0 */
    {"BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "bc", SW_PROGLEN, 0},
    /* mixed case */
    {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7", "tb", SW_BECH32,
     ST_EINVAL},
    /* zero padding of more than 4 bits */
    {"bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", "bc", SW_PADDING, 0},
    /* non-zero padding in 8-to-5 conversion */
    {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv", "tb", SW_PADDING, 0},
    /* empty data section */
    {"bc1gmk9yu", "bc", SW_EMPTY, 0},
  };
  for (size_t v = 0; v < sizeof bad / sizeof bad[0]; v++) {
    char hrp[ST_BECH32_HRP_MAX + 1];
    uint8_t d5[ST_BECH32_MAX_LEN], prog[64];
    size_t n5, proglen;
    int ver;

    assert_int_equal(st_bech32_decode(bad[v].addr, hrp, sizeof hrp, d5, sizeof d5, &n5),
                     bad[v].bech32_rc);
    assert_int_equal(segwit_decode(bad[v].addr, bad[v].hrp, &ver, prog, &proglen), bad[v].stage);
  }
}

/* The two padding vectors also fail in the byte-payload decoder, which
 * regroups the whole data part. */
static void test_segwit_padding_bytes(void **state) {
  (void)state;
  uint8_t out[64];
  size_t n;
  /* Whole data part of a valid v0 address is 33 groups = 165 bits: 20
   * bytes and 5 bits of padding, which is too much padding for bytes. */
  assert_int_equal(st_bech32_decode_bytes("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bc",
                                          out, sizeof out, &n),
                   ST_EINVAL);
  assert_int_equal(st_bech32_decode_bytes("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "tb",
                                          out, sizeof out, &n),
                   ST_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid_vectors),
    cmocka_unit_test(test_valid_vector_contents),
    cmocka_unit_test(test_invalid_vectors),
    cmocka_unit_test(test_single_substitutions),
    cmocka_unit_test(test_mixed_case),
    cmocka_unit_test(test_decode_output_room),
    cmocka_unit_test(test_encode_errors),
    cmocka_unit_test(test_convert_bits),
    cmocka_unit_test(test_bytes_round_trip),
    cmocka_unit_test(test_segwit_valid),
    cmocka_unit_test(test_segwit_invalid),
    cmocka_unit_test(test_segwit_padding_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
