/* Fuzzes the P2P wire decoders of the net module.
 *
 * Each input is used three ways. As raw bytes from a peer: fed to the
 * receive decoder in chunks whose sizes come from the input, where every
 * result must be a known event or error, errors must stick, and nothing
 * may be buffered past the announced length or the cap. As plaintexts: cut
 * into pieces, sealed into a valid stream, and decoded again in other
 * chunk sizes, which must give back exactly the same frames; each piece
 * then goes through the Envelope, Auth and PexAddrs decoders the way a
 * connection would pass it on. As text: through the peer-address parser,
 * whose successes must format back to an address that parses the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "stratos/st_crypto.h"
#include "stratos/st_err.h"
#include "net/net_private.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      abort();                                                                                     \
  } while (0)

static const uint8_t key[ST_NET__KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                             17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
                                             30, 31, 32};
static const uint8_t transcript[ST_HASH_LEN] = {42};

/* A small deterministic generator for chunk sizes. */
static uint32_t next_rand(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 8;
}

static int known_error(int rc) {
  return rc == ST_EPROTO || rc == ST_E2BIG || rc == ST_EBADPROOF || rc == ST_ERANGE ||
         rc == ST_ENOMEM;
}

/* What a connection does with one decrypted frame. */
static void handle_plaintext(const uint8_t *pt, size_t len) {
  st_net__info_t info;
  int rc = st_net__auth_check(pt, len, "stratos-fuzz", transcript, &info);
  CHECK(rc == 0 || rc == ST_EPARSE || rc == ST_EBADSIG || rc == ST_EPERM);
  if (rc == ST_EPARSE) {
    static const uint8_t zero[ST_ADDR_LEN];
    CHECK(memcmp(info.id, zero, ST_ADDR_LEN) == 0);
  } else {
    CHECK(strlen(info.moniker) <= ST_NET__INFO_STR_MAX);
    CHECK(strlen(info.listen_addr) <= ST_NET__ADDR_MAX);
  }

  Stratos__P2p__Envelope *env = NULL;
  rc = st_net__env_unpack(pt, len, &env);
  CHECK(rc == 0 || rc == ST_EPARSE || rc == ST_EPROTO);
  if (rc != 0) {
    CHECK(env == NULL);
    return;
  }
  CHECK((uint32_t)env->channel >= 1 && (uint32_t)env->channel <= ST_CH_MAX);
  CHECK(env->payload.len <= len);
  if ((uint32_t)env->channel == ST_CH_PEX && env->type == ST_NET__PEX_ADDRS) {
    Stratos__P2p__PexAddrs *pa = NULL;
    rc = st_net__pex_decode(env->payload.data, env->payload.len, &pa);
    CHECK(rc == 0 || rc == ST_EPARSE || rc == ST_E2BIG);
    if (rc == 0) {
      CHECK(pa->n_addrs <= ST_NET__PEX_MAX);
      for (size_t i = 0; i < pa->n_addrs; i++) {
        st_net__paddr_t a;
        CHECK(strlen(pa->addrs[i]) <= ST_NET__ADDR_MAX);
        (void)st_net__parse_peer(pa->addrs[i], strlen(pa->addrs[i]), &a);
      }
      stratos__p2p__pex_addrs__free_unpacked(pa, NULL);
    } else {
      CHECK(pa == NULL);
    }
  }
  stratos__p2p__envelope__free_unpacked(env, NULL);
}

/* Feeds in as one peer's bytes; returns the frames decoded, or the error. */
static int decode_stream(const uint8_t *in, size_t len, size_t max_ct, uint32_t seed,
                         const uint8_t *const *want, const size_t *want_len, size_t nwant) {
  st_net__dec_t d;
  size_t pos = 0, frames = 0;
  int err = 0;
  st_net__dec_init(&d, max_ct);
  while (pos < len) {
    size_t chunk = 1 + next_rand(&seed) % 64;
    if (chunk > len - pos)
      chunk = len - pos;
    size_t used;
    const uint8_t *out;
    size_t outlen;
    int ev = st_net__dec_feed(&d, in + pos, chunk, &used, &out, &outlen);
    CHECK(used <= chunk);
    pos += used;
    if (ev < 0) {
      CHECK(known_error(ev));
      /* Sticky: the same answer however much more comes. */
      size_t u2;
      CHECK(st_net__dec_feed(&d, in, len, &u2, &out, &outlen) == ev && u2 == 0);
      err = ev;
      break;
    }
    /* The buffer never passes the cap, nor the bytes that came by more
     * than its first allocation or one doubling. */
    CHECK(d.buf_cap <= max_ct);
    CHECK(d.buf_cap <= 4096 || d.buf_cap <= 2 * pos);
    if (ev == ST_NET__EV_HELLO) {
      CHECK(outlen == ST_NET__EPH_LEN && used > 0);
      CHECK(st_net__dec_set_key(&d, key) == 0);
    } else if (ev == ST_NET__EV_FRAME) {
      CHECK(outlen + ST_NET__TAG_LEN <= max_ct);
      if (want) {
        CHECK(frames < nwant && outlen == want_len[frames]);
        CHECK(outlen == 0 || memcmp(out, want[frames], outlen) == 0);
      }
      handle_plaintext(out, outlen);
      frames++;
    } else {
      CHECK(ev == ST_NET__EV_NONE && used == chunk);
    }
  }
  st_net__dec_free(&d);
  return err ? err : (int)frames;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int inited;
  if (!inited) {
    CHECK(st_crypto_init() == 0);
    inited = 1;
  }
  if (size == 0)
    return 0;
  uint32_t seed = data[0];

  /* 1. The bytes as they come from a peer, under both caps. */
  (void)decode_stream(data + 1, size - 1, ST_NET__HS_MAX_CT, seed, NULL, NULL, 0);
  (void)decode_stream(data + 1, size - 1, ST_NET__MAX_CT, seed + 1, NULL, NULL, 0);

  /* 2. The bytes as plaintexts: [len][bytes]... sealed into a good stream,
   * which must decode to the same frames in any chunking. */
  enum { MAXF = 64 };
  const uint8_t *want[MAXF];
  size_t want_len[MAXF], nf = 0, total = ST_NET__HELLO_LEN;
  size_t pos = 1;
  while (pos < size && nf < MAXF) {
    size_t l = data[pos++];
    if (l > size - pos)
      l = size - pos;
    want[nf] = data + pos;
    want_len[nf] = l;
    total += st_net__sealed_len(l);
    pos += l;
    nf++;
  }
  uint8_t *stream = malloc(total);
  CHECK(stream != NULL);
  uint8_t eph[ST_NET__EPH_LEN];
  memset(eph, 0x77, sizeof(eph));
  st_net__hello_encode(eph, stream);
  uint64_t ctr = 0;
  size_t off = ST_NET__HELLO_LEN;
  for (size_t i = 0; i < nf; i++) {
    CHECK(st_net__seal(key, &ctr, want[i], want_len[i], stream + off) == 0);
    off += st_net__sealed_len(want_len[i]);
  }
  CHECK(off == total && ctr == nf);
  CHECK(decode_stream(stream, total, ST_NET__HS_MAX_CT, seed * 7 + 3, want, want_len, nf) ==
        (int)nf);
  /* One flipped bit anywhere after the hello is never accepted as is. */
  if (total > ST_NET__HELLO_LEN) {
    size_t at = ST_NET__HELLO_LEN + (seed * 131u) % (total - ST_NET__HELLO_LEN);
    stream[at] ^= (uint8_t)(1u << (seed % 8));
    int rc = decode_stream(stream, total, ST_NET__HS_MAX_CT, seed, NULL, NULL, 0);
    CHECK(rc < (int)nf || rc < 0);
  }
  free(stream);

  /* 3. The bytes as text. */
  st_net__paddr_t a, b;
  if (st_net__parse_peer((const char *)data, size, &a) == 0) {
    char s[ST_NET__ADDR_MAX + 64];
    CHECK(a.port != 0 && a.host[0] != '\0');
    CHECK(st_net__format_peer(a.id, a.host, a.port, s, sizeof(s)) == 0);
    CHECK(st_net__parse_peer(s, strlen(s), &b) == 0);
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);
  }
  return 0;
}
