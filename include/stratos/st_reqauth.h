/* Requests signed by a wallet key: how a client authorizes a write
 * through a gateway, and how the meta chain checks that the wallet asked.
 *
 * The signed message is the text
 *
 *   "stratos-req-v1\n" METHOD "\n" PATH "\n" TIME_MS "\n" LENGTH
 *
 * (decimal numbers, no trailing newline), signed with st_sign under
 * ST_DOM_GATEWAY_REQ and the value chain's id. PATH is the request path
 * without the query; LENGTH the body's length in bytes. The HTTP header:
 *
 *   Authorization: Stratos pubkey=<64 hex>,time=<ms>,sig=<128 hex>
 *
 * A gateway refuses a time more than ST_REQAUTH_SKEW_MS from its clock;
 * the meta chain the same from the block time. */
#ifndef STRATOS_ST_REQAUTH_H
#define STRATOS_ST_REQAUTH_H

#include <stddef.h>
#include <stdint.h>
#include <stratos/st_crypto.h>

#define ST_REQAUTH_SKEW_MS (10 * 60 * 1000)
#define ST_REQAUTH_METHOD_MAX 8
#define ST_REQAUTH_PATH_MAX 256
/* The longest header value st_reqauth_header writes, with its NUL. */
#define ST_REQAUTH_HEADER_MAX 256

typedef struct st_reqauth {
  uint8_t pubkey[ST_PUBKEY_LEN];
  uint64_t time_ms;
  uint8_t sig[ST_SIG_LEN];
} st_reqauth_t;

/* Signs a request; ST_EINVAL for a method or path too long, empty, or
 * holding spaces or control characters (a verification of such a request
 * fails). */
int st_reqauth_sign(const st_keypair_t *kp, const char *chain_id, const char *method,
                    const char *path, uint64_t time_ms, uint64_t length, st_reqauth_t *out);
/* 0 when a's signature covers this request; ST_EBADSIG otherwise. */
int st_reqauth_verify(const st_reqauth_t *a, const char *chain_id, const char *method,
                      const char *path, uint64_t length);
/* Writes the Authorization header's value. */
void st_reqauth_header(const st_reqauth_t *a, char out[ST_REQAUTH_HEADER_MAX]);
/* Parses a header value (len bytes, not NUL-terminated); ST_EPARSE if it
 * is not exactly the form above. */
int st_reqauth_parse(const char *v, size_t len, st_reqauth_t *out);

#endif
