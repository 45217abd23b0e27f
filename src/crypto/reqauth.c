/* Signed requests (include/stratos/st_reqauth.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_reqauth.h>

#define MSG_MAX (32 + ST_REQAUTH_METHOD_MAX + ST_REQAUTH_PATH_MAX + 48)

static int build(const char *method, const char *path, uint64_t time_ms, uint64_t length,
                 char *msg, size_t *n) {
  size_t ml = strlen(method), pl = strlen(path);
  if (ml == 0 || ml > ST_REQAUTH_METHOD_MAX || pl == 0 || pl > ST_REQAUTH_PATH_MAX)
    return ST_EINVAL;
  /* No control characters: the text's newlines separate its parts. */
  for (const char *p = method; *p; p++)
    if ((unsigned char)*p < 0x21 || (unsigned char)*p == 0x7f)
      return ST_EINVAL;
  for (const char *p = path; *p; p++)
    if ((unsigned char)*p < 0x21 || (unsigned char)*p == 0x7f)
      return ST_EINVAL;
  int w = snprintf(msg, MSG_MAX, "stratos-req-v1\n%s\n%s\n%" PRIu64 "\n%" PRIu64, method, path,
                   time_ms, length);
  if (w < 0 || (size_t)w >= MSG_MAX)
    return ST_EINVAL;
  *n = (size_t)w;
  return 0;
}

int st_reqauth_sign(const st_keypair_t *kp, const char *chain_id, const char *method,
                    const char *path, uint64_t time_ms, uint64_t length, st_reqauth_t *out) {
  char msg[MSG_MAX];
  size_t n;
  int rc = build(method, path, time_ms, length, msg, &n);
  if (rc != 0)
    return rc;
  memcpy(out->pubkey, kp->pk, ST_PUBKEY_LEN);
  out->time_ms = time_ms;
  return st_sign(kp, ST_DOM_GATEWAY_REQ, chain_id, msg, n, out->sig);
}

int st_reqauth_verify(const st_reqauth_t *a, const char *chain_id, const char *method,
                      const char *path, uint64_t length) {
  char msg[MSG_MAX];
  size_t n;
  if (build(method, path, a->time_ms, length, msg, &n) != 0)
    return ST_EBADSIG;
  return st_verify(a->pubkey, ST_DOM_GATEWAY_REQ, chain_id, msg, n, a->sig) == 0 ? 0
                                                                                 : ST_EBADSIG;
}

void st_reqauth_header(const st_reqauth_t *a, char out[ST_REQAUTH_HEADER_MAX]) {
  char pk[2 * ST_PUBKEY_LEN + 1], sig[2 * ST_SIG_LEN + 1];
  st_hex_encode(a->pubkey, ST_PUBKEY_LEN, pk, sizeof(pk));
  st_hex_encode(a->sig, ST_SIG_LEN, sig, sizeof(sig));
  snprintf(out, ST_REQAUTH_HEADER_MAX, "Stratos pubkey=%s,time=%" PRIu64 ",sig=%s", pk,
           a->time_ms, sig);
}

/* Takes "name=" then hex or digits up to ',' or the end. */
static int field(const char **p, const char *end, const char *name, const char **v,
                 size_t *vl) {
  size_t nl = strlen(name);
  if ((size_t)(end - *p) < nl || memcmp(*p, name, nl) != 0)
    return ST_EPARSE;
  *p += nl;
  *v = *p;
  while (*p < end && **p != ',')
    (*p)++;
  *vl = (size_t)(*p - *v);
  if (*p < end)
    (*p)++;
  return 0;
}

int st_reqauth_parse(const char *s, size_t len, st_reqauth_t *out) {
  const char *p = s, *end = s + len, *v;
  size_t vl, got;
  static const char pre[] = "Stratos ";
  if (len > ST_REQAUTH_HEADER_MAX || len < sizeof(pre) - 1 ||
      memcmp(s, pre, sizeof(pre) - 1) != 0)
    return ST_EPARSE;
  p += sizeof(pre) - 1;
  if (field(&p, end, "pubkey=", &v, &vl) != 0 || vl != 2 * ST_PUBKEY_LEN ||
      st_hex_decode(v, vl, out->pubkey, ST_PUBKEY_LEN, &got) != 0 || got != ST_PUBKEY_LEN)
    return ST_EPARSE;
  if (field(&p, end, "time=", &v, &vl) != 0 || vl == 0 || vl > 15)
    return ST_EPARSE;
  out->time_ms = 0;
  for (size_t i = 0; i < vl; i++) {
    if (v[i] < '0' || v[i] > '9')
      return ST_EPARSE;
    out->time_ms = out->time_ms * 10 + (uint64_t)(v[i] - '0');
  }
  /* The signature runs to the end: field() would step over a ',' after
   * it, so p alone cannot tell "sig=...," from "sig=...". */
  if (field(&p, end, "sig=", &v, &vl) != 0 || vl != 2 * ST_SIG_LEN || v + vl != end ||
      st_hex_decode(v, vl, out->sig, ST_SIG_LEN, &got) != 0 || got != ST_SIG_LEN)
    return ST_EPARSE;
  return 0;
}
