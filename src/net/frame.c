/* The P2P wire codec: the plaintext hello, the encrypted length-prefixed
 * frames, Envelope packing, peer addresses and PexAddrs checks.
 *
 * Everything here is a pure function of its inputs, with no sockets and
 * no loop, so the fuzzer and the unit tests can drive the exact code the
 * connections run. The receive side is a small state machine fed with
 * whatever bytes the socket produced; it checks each length prefix
 * against its cap before it allocates, and grows its buffer only with the
 * bytes that actually arrive, so an announced length costs nothing until
 * the peer sends it. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include "net/net_private.h"

enum { D_HELLO = 0, D_WAIT_KEY, D_HEADER, D_BODY };

/* A buffer past this size is released once its frame was handed out, so
 * that an idle connection does not keep the memory of its largest frame. */
#define KEEP_BUF_MAX (64u << 10)
#define FIRST_BUF 4096u

void st_net__dec_init(st_net__dec_t *d, size_t max_ct) {
  memset(d, 0, sizeof(*d));
  d->state = D_HELLO;
  d->max_ct = max_ct;
}

void st_net__dec_free(st_net__dec_t *d) {
  free(d->buf);
  d->buf = NULL;
  d->buf_cap = 0;
  sodium_memzero(d->key, sizeof(d->key));
}

int st_net__dec_set_key(st_net__dec_t *d, const uint8_t key[ST_NET__KEY_LEN]) {
  if (d->err)
    return d->err;
  if (d->state != D_WAIT_KEY)
    return ST_EINVAL;
  memcpy(d->key, key, ST_NET__KEY_LEN);
  d->ctr = 0;
  d->state = D_HEADER;
  return 0;
}

void st_net__dec_set_max(st_net__dec_t *d, size_t max_ct) { d->max_ct = max_ct; }

static void make_nonce(uint64_t ctr, uint8_t nonce[ST_NET__NONCE_LEN]) {
  memset(nonce, 0, ST_NET__NONCE_LEN);
  for (int i = 0; i < 8; i++)
    nonce[i] = (uint8_t)(ctr >> (8 * i));
}

static int fail(st_net__dec_t *d, int err) {
  d->err = err;
  return err;
}

/* Makes room for want bytes of body, doubling but never past d->need. */
static int grow(st_net__dec_t *d, size_t want) {
  if (want <= d->buf_cap)
    return 0;
  size_t cap = d->buf_cap ? d->buf_cap : FIRST_BUF;
  while (cap < want)
    cap = cap > d->need / 2 ? d->need : cap * 2;
  if (cap > d->need)
    cap = d->need;
  uint8_t *p = realloc(d->buf, cap);
  if (!p)
    return ST_ENOMEM;
  d->buf = p;
  d->buf_cap = cap;
  return 0;
}

int st_net__dec_feed(st_net__dec_t *d, const uint8_t *in, size_t len, size_t *used,
                     const uint8_t **out, size_t *outlen) {
  size_t pos = 0;
  *used = 0;
  *out = NULL;
  *outlen = 0;
  if (d->err)
    return d->err;
  if (d->release) {
    free(d->buf);
    d->buf = NULL;
    d->buf_cap = 0;
    d->release = 0;
  }
  while (pos < len) {
    switch (d->state) {
    case D_HELLO: {
      size_t n = ST_NET__HELLO_LEN - d->hello_got;
      if (n > len - pos)
        n = len - pos;
      memcpy(d->hello + d->hello_got, in + pos, n);
      /* The magic is checked as soon as its bytes are in, so that a
       * stranger speaking another protocol is dropped at once. */
      size_t m = d->hello_got + n < ST_NET__MAGIC_LEN ? d->hello_got + n : ST_NET__MAGIC_LEN;
      if (memcmp(d->hello, ST_NET__MAGIC, m) != 0) {
        *used = pos + n;
        return fail(d, ST_EPROTO);
      }
      d->hello_got += n;
      pos += n;
      if (d->hello_got == ST_NET__HELLO_LEN) {
        d->state = D_WAIT_KEY;
        *used = pos;
        *out = d->hello + ST_NET__MAGIC_LEN;
        *outlen = ST_NET__EPH_LEN;
        return ST_NET__EV_HELLO;
      }
      break;
    }
    case D_WAIT_KEY:
      *used = pos;
      return ST_EINVAL; /* the caller's mistake; not sticky */
    case D_HEADER: {
      size_t n = ST_NET__HDR_LEN - d->hdr_got;
      if (n > len - pos)
        n = len - pos;
      memcpy(d->hdr + d->hdr_got, in + pos, n);
      d->hdr_got += n;
      pos += n;
      if (d->hdr_got == ST_NET__HDR_LEN) {
        uint32_t l = ((uint32_t)d->hdr[0] << 24) | ((uint32_t)d->hdr[1] << 16) |
                     ((uint32_t)d->hdr[2] << 8) | (uint32_t)d->hdr[3];
        *used = pos;
        if (l < ST_NET__TAG_LEN)
          return fail(d, ST_EPROTO);
        if (l > d->max_ct)
          return fail(d, ST_E2BIG);
        d->need = l;
        d->got = 0;
        d->state = D_BODY;
      }
      break;
    }
    case D_BODY: {
      size_t n = d->need - d->got;
      if (n > len - pos)
        n = len - pos;
      int rc = grow(d, d->got + n);
      if (rc != 0) {
        *used = pos;
        return fail(d, rc);
      }
      memcpy(d->buf + d->got, in + pos, n);
      d->got += n;
      pos += n;
      *used = pos;
      if (d->got < d->need)
        break;
      if (d->ctr == UINT64_MAX)
        return fail(d, ST_ERANGE);
      uint8_t nonce[ST_NET__NONCE_LEN];
      unsigned long long mlen = 0;
      make_nonce(d->ctr, nonce);
      /* Decrypted in place: libsodium allows the output to overlap the
       * input exactly. The length prefix is the associated data. */
      if (crypto_aead_xchacha20poly1305_ietf_decrypt(d->buf, &mlen, NULL, d->buf, d->need,
                                                     d->hdr, ST_NET__HDR_LEN, nonce,
                                                     d->key) != 0)
        return fail(d, ST_EBADPROOF);
      d->ctr++;
      d->state = D_HEADER;
      d->hdr_got = 0;
      if (d->buf_cap > KEEP_BUF_MAX)
        d->release = 1;
      *out = d->buf;
      *outlen = (size_t)mlen;
      return ST_NET__EV_FRAME;
    }
    default:
      return fail(d, ST_EINVAL);
    }
  }
  *used = pos;
  return ST_NET__EV_NONE;
}

void st_net__hello_encode(const uint8_t eph_pk[ST_NET__EPH_LEN], uint8_t out[ST_NET__HELLO_LEN]) {
  memcpy(out, ST_NET__MAGIC, ST_NET__MAGIC_LEN);
  memcpy(out + ST_NET__MAGIC_LEN, eph_pk, ST_NET__EPH_LEN);
}

int st_net__seal(const uint8_t key[ST_NET__KEY_LEN], uint64_t *ctr, const uint8_t *pt,
                 size_t ptlen, uint8_t *out) {
  if (ptlen > ST_NET__MAX_CT - ST_NET__TAG_LEN)
    return ST_E2BIG;
  if (*ctr == UINT64_MAX)
    return ST_ERANGE;
  uint32_t l = (uint32_t)(ptlen + ST_NET__TAG_LEN);
  out[0] = (uint8_t)(l >> 24);
  out[1] = (uint8_t)(l >> 16);
  out[2] = (uint8_t)(l >> 8);
  out[3] = (uint8_t)l;
  uint8_t nonce[ST_NET__NONCE_LEN];
  make_nonce(*ctr, nonce);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + ST_NET__HDR_LEN, &clen, pt, ptlen, out,
                                             ST_NET__HDR_LEN, NULL, nonce, key);
  (*ctr)++;
  return 0;
}

/* ---- envelopes ---- */

int st_net__env_pack(uint32_t channel, uint32_t type, const void *data, size_t len,
                     uint8_t **out, size_t *outlen) {
  if (len > ST_NET_MAX_PAYLOAD)
    return ST_E2BIG;
  Stratos__P2p__Envelope e = STRATOS__P2P__ENVELOPE__INIT;
  e.channel = (Stratos__P2p__Channel)channel;
  e.type = type;
  e.payload.data = (uint8_t *)(uintptr_t)data;
  e.payload.len = data ? len : 0;
  size_t n = stratos__p2p__envelope__get_packed_size(&e);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf)
    abort();
  stratos__p2p__envelope__pack(&e, buf);
  *out = buf;
  *outlen = n;
  return 0;
}

int st_net__env_unpack(const uint8_t *pt, size_t len, Stratos__P2p__Envelope **out) {
  *out = NULL;
  Stratos__P2p__Envelope *e = stratos__p2p__envelope__unpack(NULL, len, pt);
  if (!e)
    return ST_EPARSE;
  if ((uint32_t)e->channel < 1 || (uint32_t)e->channel > ST_CH_MAX) {
    stratos__p2p__envelope__free_unpacked(e, NULL);
    return ST_EPROTO;
  }
  *out = e;
  return 0;
}

/* ---- addresses ---- */

static int host_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '.' || ch == '-' || ch == '_';
}

int st_net__parse_hostport(const char *s, size_t len, char host[ST_NET__HOST_MAX],
                           uint16_t *port) {
  const char *h, *p;
  size_t hl;
  if (len == 0 || len > ST_NET__ADDR_MAX)
    return ST_EINVAL;
  if (s[0] == '[') {
    /* [v6]:port */
    const char *close = memchr(s, ']', len);
    if (!close || (size_t)(close - s) + 2 > len || close[1] != ':')
      return ST_EINVAL;
    h = s + 1;
    hl = (size_t)(close - h);
    p = close + 2;
    for (size_t i = 0; i < hl; i++)
      if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f') ||
            (h[i] >= 'A' && h[i] <= 'F') || h[i] == ':' || h[i] == '.'))
        return ST_EINVAL;
  } else {
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
      if (s[i] == ':')
        colon = s + i;
    if (!colon)
      return ST_EINVAL;
    h = s;
    hl = (size_t)(colon - s);
    p = colon + 1;
    for (size_t i = 0; i < hl; i++)
      if (!host_char(h[i]))
        return ST_EINVAL;
  }
  if (hl == 0 || hl >= ST_NET__HOST_MAX)
    return ST_EINVAL;
  size_t pl = (size_t)(s + len - p);
  if (pl == 0 || pl > 5)
    return ST_EINVAL;
  unsigned long v = 0;
  for (size_t i = 0; i < pl; i++) {
    if (p[i] < '0' || p[i] > '9')
      return ST_EINVAL;
    v = v * 10 + (unsigned long)(p[i] - '0');
  }
  if (v == 0 || v > 65535)
    return ST_EINVAL;
  memcpy(host, h, hl);
  host[hl] = '\0';
  *port = (uint16_t)v;
  return 0;
}

int st_net__parse_peer(const char *s, size_t len, st_net__paddr_t *out) {
  char id[ST_ADDR_STR_MAX];
  const char *at = memchr(s, '@', len);
  if (!at)
    return ST_EINVAL;
  size_t il = (size_t)(at - s);
  if (il == 0 || il >= sizeof(id))
    return ST_EINVAL;
  memcpy(id, s, il);
  id[il] = '\0';
  st_net__paddr_t a;
  memset(&a, 0, sizeof(a));
  if (st_addr_decode(id, ST_HRP_NODE, a.id) != 0)
    return ST_EINVAL;
  int rc = st_net__parse_hostport(at + 1, len - il - 1, a.host, &a.port);
  if (rc != 0)
    return rc;
  *out = a;
  return 0;
}

int st_net__format_peer(const uint8_t id[ST_ADDR_LEN], const char *host, uint16_t port,
                        char *out, size_t outcap) {
  char ids[ST_ADDR_STR_MAX];
  int rc = st_addr_encode(ST_HRP_NODE, id, ids, sizeof(ids));
  if (rc != 0)
    return rc;
  int v6 = strchr(host, ':') != NULL;
  int n = snprintf(out, outcap, v6 ? "%s@[%s]:%u" : "%s@%s:%u", ids, host, (unsigned)port);
  if (n < 0 || (size_t)n >= outcap)
    return ST_E2BIG;
  return 0;
}

int st_net__pex_decode(const uint8_t *data, size_t len, Stratos__P2p__PexAddrs **out) {
  *out = NULL;
  /* A PexAddrs within bounds is at most 64 entries of 2 + 128 bytes. */
  if (len > ST_NET__PEX_MAX * (ST_NET__ADDR_MAX + 3))
    return ST_E2BIG;
  Stratos__P2p__PexAddrs *p = stratos__p2p__pex_addrs__unpack(NULL, len, data);
  if (!p)
    return ST_EPARSE;
  int rc = 0;
  if (p->n_addrs > ST_NET__PEX_MAX)
    rc = ST_E2BIG;
  for (size_t i = 0; rc == 0 && i < p->n_addrs; i++)
    if (!p->addrs[i] || strlen(p->addrs[i]) > ST_NET__ADDR_MAX)
      rc = ST_E2BIG;
  if (rc != 0) {
    stratos__p2p__pex_addrs__free_unpacked(p, NULL);
    return rc;
  }
  *out = p;
  return 0;
}
