/* Fuzzes the parser of signed requests' Authorization header
 * (include/stratos/st_reqauth.h), which a gateway runs on every write it
 * is sent.
 *
 * Input: the header value, as it comes. Checked: the parser answers 0 or
 * ST_EPARSE and nothing else; a value it accepts is the one form, except
 * for the case of the hex digits and leading zeros of the time (the
 * value, lowercased and without those zeros, is exactly what
 * st_reqauth_header writes for it), and that rendering parses back to the
 * same key, time and signature. Signatures: the fuzzer's initializer
 * signs one fixed request with a key from a fixed seed and checks the
 * round trip through the header once; then for every input, the parsed
 * signature (under the parsed key and time, and again under the fixed key
 * and time) verifies for that fixed request only when it is exactly the
 * real one, and the real signature with the input's first bytes XORed
 * into it never verifies unless nothing changed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include <stratos/st_reqauth.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      abort();                                                                                     \
  } while (0)

#define CHAIN "stratos-fuzz"
#define METHOD "POST"
#define PATH "/v1/files"
#define LENGTH 1234u
#define TIME_MS 1700000000000ull

static st_keypair_t kp;
static st_reqauth_t real;

static bool same(const st_reqauth_t *a, const st_reqauth_t *b) {
  return memcmp(a->pubkey, b->pubkey, ST_PUBKEY_LEN) == 0 && a->time_ms == b->time_ms &&
         memcmp(a->sig, b->sig, ST_SIG_LEN) == 0;
}

static bool is_real(const st_reqauth_t *a) { return same(a, &real); }

static int verify_fixed(const st_reqauth_t *a) {
  int rc = st_reqauth_verify(a, CHAIN, METHOD, PATH, LENGTH);
  CHECK(rc == 0 || rc == ST_EBADSIG);
  return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  uint8_t seed[ST_SEED_LEN];
  char h[ST_REQAUTH_HEADER_MAX];
  st_reqauth_t back;

  (void)argc;
  (void)argv;
  CHECK(st_crypto_init() == 0);
  memset(seed, 0x5a, sizeof(seed));
  CHECK(st_key_from_seed(seed, &kp) == 0);
  CHECK(st_reqauth_sign(&kp, CHAIN, METHOD, PATH, TIME_MS, LENGTH, &real) == 0);
  /* The round trip through the header, and what the signature covers. */
  st_reqauth_header(&real, h);
  CHECK(st_reqauth_parse(h, strlen(h), &back) == 0 && is_real(&back));
  CHECK(verify_fixed(&back) == 0);
  CHECK(st_reqauth_verify(&back, "stratos-other", METHOD, PATH, LENGTH) == ST_EBADSIG);
  CHECK(st_reqauth_verify(&back, CHAIN, "DELETE", PATH, LENGTH) == ST_EBADSIG);
  CHECK(st_reqauth_verify(&back, CHAIN, METHOD, "/v1/file", LENGTH) == ST_EBADSIG);
  CHECK(st_reqauth_verify(&back, CHAIN, METHOD, PATH, LENGTH + 1) == ST_EBADSIG);
  back.time_ms++;
  CHECK(verify_fixed(&back) == ST_EBADSIG);
  return 0;
}

/* The value as st_reqauth_header would write it, if the parser is right
 * to accept it: lowercased (only hex digits can differ in case, the
 * parser holds the rest to its exact spelling) and without leading zeros
 * in the time. Returns the length, or 0 when there is no room. */
static size_t canonical(const uint8_t *v, size_t len, char *out, size_t cap) {
  static const char pre[] = "Stratos ";
  size_t n = 0, i = 0;
  const char *t;

  if (len >= cap || len < sizeof(pre) - 1)
    return 0;
  for (; i < sizeof(pre) - 1; i++)
    out[n++] = (char)v[i];
  for (; i < len; i++)
    out[n++] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] - 'A' + 'a') : (char)v[i];
  out[n] = '\0';
  t = strstr(out, ",time=");
  if (t) {
    char *d = (char *)(uintptr_t)t + 6, *z = d;
    while (z[0] == '0' && z[1] >= '0' && z[1] <= '9')
      z++;
    memmove(d, z, strlen(z) + 1);
    n -= (size_t)(z - d);
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char h[ST_REQAUTH_HEADER_MAX], c[2 * ST_REQAUTH_HEADER_MAX];
  st_reqauth_t a, b, fixed;
  int rc;

  memset(&a, 0, sizeof(a));
  rc = st_reqauth_parse((const char *)data, size, &a);
  CHECK(rc == 0 || rc == ST_EPARSE);
  if (rc == 0) {
    size_t n;
    CHECK(size <= ST_REQAUTH_HEADER_MAX);
    st_reqauth_header(&a, h);
    CHECK(strlen(h) < ST_REQAUTH_HEADER_MAX - 1);
    CHECK(st_reqauth_parse(h, strlen(h), &b) == 0 && same(&a, &b));
    n = canonical(data, size, c, sizeof(c));
    CHECK(n == strlen(h) && memcmp(c, h, n) == 0);
    /* A parsed signature verifies only when it is the real one. */
    CHECK((verify_fixed(&a) == 0) == is_real(&a));
    fixed = a;
    memcpy(fixed.pubkey, kp.pk, ST_PUBKEY_LEN);
    fixed.time_ms = TIME_MS;
    CHECK((verify_fixed(&fixed) == 0) == is_real(&fixed));
  }
  /* The real signature with the input XORed into it. */
  fixed = real;
  for (size_t i = 0; i < size && i < ST_SIG_LEN; i++)
    fixed.sig[i] ^= data[i];
  CHECK((verify_fixed(&fixed) == 0) == is_real(&fixed));
  return 0;
}
