/* Unit tests of the P2P wire codec and the handshake messages, without
 * sockets: hellos, sealed frames fed in every chunking, tampering, caps
 * checked before allocation, counters as nonces, Auth checks, peer
 * addresses and PexAddrs bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include <stratos/st_net.h>

#include "net/net_private.h"

static uint8_t g_key[ST_NET__KEY_LEN];

static int setup(void **state) {
  (void)state;
  assert_int_equal(st_crypto_init(), 0);
  for (size_t i = 0; i < sizeof(g_key); i++)
    g_key[i] = (uint8_t)(i * 7 + 1);
  return 0;
}

/* Feeds in[0..len) in pieces of chunk bytes; stores up to maxf frames
 * (copied) and returns the number of frames, or the error. */
typedef struct got {
  size_t n;
  size_t len[16];
  uint8_t data[16][256];
  int hello;
  uint8_t eph[ST_NET__EPH_LEN];
} got_t;

static int feed_all(st_net__dec_t *d, const uint8_t *in, size_t len, size_t chunk, got_t *g) {
  size_t pos = 0;
  while (pos < len) {
    size_t end = pos + chunk < len ? pos + chunk : len;
    while (pos < end) {
      size_t used;
      const uint8_t *out;
      size_t outlen;
      int ev = st_net__dec_feed(d, in + pos, end - pos, &used, &out, &outlen);
      pos += used;
      if (ev < 0)
        return ev;
      if (ev == ST_NET__EV_HELLO) {
        g->hello++;
        memcpy(g->eph, out, ST_NET__EPH_LEN);
        assert_int_equal(st_net__dec_set_key(d, g_key), 0);
      } else if (ev == ST_NET__EV_FRAME) {
        assert_true(g->n < 16);
        assert_true(outlen <= sizeof(g->data[0]));
        g->len[g->n] = outlen;
        memcpy(g->data[g->n], out, outlen);
        g->n++;
      }
    }
  }
  return (int)g->n;
}

/* A stream: hello, then frames "frame 0".."frame n-1" sealed with g_key. */
static size_t make_stream(uint8_t *buf, size_t n, const uint8_t eph[ST_NET__EPH_LEN]) {
  size_t pos = 0;
  uint64_t ctr = 0;
  st_net__hello_encode(eph, buf);
  pos += ST_NET__HELLO_LEN;
  for (size_t i = 0; i < n; i++) {
    char pt[32];
    int l = snprintf(pt, sizeof(pt), "frame %zu", i);
    assert_int_equal(st_net__seal(g_key, &ctr, (const uint8_t *)pt, (size_t)l, buf + pos), 0);
    pos += st_net__sealed_len((size_t)l);
  }
  assert_int_equal(ctr, n);
  return pos;
}

static void test_stream_any_chunking(void **state) {
  (void)state;
  uint8_t eph[ST_NET__EPH_LEN], buf[1024];
  memset(eph, 0xab, sizeof(eph));
  size_t len = make_stream(buf, 5, eph);
  for (size_t chunk = 1; chunk <= len; chunk++) {
    st_net__dec_t d;
    got_t g;
    memset(&g, 0, sizeof(g));
    st_net__dec_init(&d, ST_NET__MAX_CT);
    assert_int_equal(feed_all(&d, buf, len, chunk, &g), 5);
    assert_int_equal(g.hello, 1);
    assert_memory_equal(g.eph, eph, sizeof(eph));
    for (size_t i = 0; i < 5; i++) {
      char want[32];
      int l = snprintf(want, sizeof(want), "frame %zu", i);
      assert_int_equal(g.len[i], (size_t)l);
      assert_memory_equal(g.data[i], want, (size_t)l);
    }
    st_net__dec_free(&d);
  }
}

static void test_bad_magic(void **state) {
  (void)state;
  st_net__dec_t d;
  got_t g;
  memset(&g, 0, sizeof(g));
  st_net__dec_init(&d, ST_NET__HS_MAX_CT);
  /* The first wrong byte is enough: no need to wait for 36. */
  assert_int_equal(feed_all(&d, (const uint8_t *)"SX", 2, 2, &g), ST_EPROTO);
  /* Sticky: the same error again, and no hello was ever seen. */
  assert_int_equal(feed_all(&d, (const uint8_t *)"N1", 2, 2, &g), ST_EPROTO);
  assert_int_equal(g.hello, 0);
  st_net__dec_free(&d);
  /* HTTP is not our protocol either. */
  st_net__dec_init(&d, ST_NET__HS_MAX_CT);
  const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(feed_all(&d, (const uint8_t *)http, strlen(http), 64, &g), ST_EPROTO);
  st_net__dec_free(&d);
}

static void test_key_needed_after_hello(void **state) {
  (void)state;
  uint8_t buf[64], eph[ST_NET__EPH_LEN] = {1};
  st_net__hello_encode(eph, buf);
  memset(buf + ST_NET__HELLO_LEN, 0, 8);
  st_net__dec_t d;
  st_net__dec_init(&d, ST_NET__HS_MAX_CT);
  size_t used;
  const uint8_t *out;
  size_t outlen;
  assert_int_equal(st_net__dec_feed(&d, buf, ST_NET__HELLO_LEN + 8, &used, &out, &outlen),
                   ST_NET__EV_HELLO);
  assert_int_equal(used, ST_NET__HELLO_LEN);
  assert_int_equal(outlen, ST_NET__EPH_LEN);
  /* Bytes before the key are the caller's mistake, not the peer's. */
  assert_int_equal(st_net__dec_feed(&d, buf + used, 8, &used, &out, &outlen), ST_EINVAL);
  assert_int_equal(used, 0);
  assert_int_equal(st_net__dec_set_key(&d, g_key), 0);
  assert_int_equal(st_net__dec_set_key(&d, g_key), ST_EINVAL);
  st_net__dec_free(&d);
}

static void hello_done(st_net__dec_t *d, size_t max_ct) {
  uint8_t h[ST_NET__HELLO_LEN], eph[ST_NET__EPH_LEN] = {0};
  size_t used;
  const uint8_t *out;
  size_t outlen;
  st_net__dec_init(d, max_ct);
  st_net__hello_encode(eph, h);
  assert_int_equal(st_net__dec_feed(d, h, sizeof(h), &used, &out, &outlen), ST_NET__EV_HELLO);
  assert_int_equal(st_net__dec_set_key(d, g_key), 0);
}

static void test_length_caps_before_allocation(void **state) {
  (void)state;
  st_net__dec_t d;
  size_t used;
  const uint8_t *out;
  size_t outlen;
  /* 0xFFFFFFFF is refused from its four bytes alone, with nothing
   * allocated. */
  const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  hello_done(&d, ST_NET__MAX_CT);
  assert_int_equal(st_net__dec_feed(&d, huge, 4, &used, &out, &outlen), ST_E2BIG);
  assert_null(d.buf);
  assert_int_equal(d.buf_cap, 0);
  st_net__dec_free(&d);
  /* One byte past the cap is refused; the cap itself is not. */
  uint32_t l = ST_NET__MAX_CT + 1;
  uint8_t hdr[4] = {(uint8_t)(l >> 24), (uint8_t)(l >> 16), (uint8_t)(l >> 8), (uint8_t)l};
  hello_done(&d, ST_NET__MAX_CT);
  assert_int_equal(st_net__dec_feed(&d, hdr, 4, &used, &out, &outlen), ST_E2BIG);
  st_net__dec_free(&d);
  l = ST_NET__MAX_CT;
  uint8_t hdr2[4] = {(uint8_t)(l >> 24), (uint8_t)(l >> 16), (uint8_t)(l >> 8), (uint8_t)l};
  hello_done(&d, ST_NET__MAX_CT);
  assert_int_equal(st_net__dec_feed(&d, hdr2, 4, &used, &out, &outlen), ST_NET__EV_NONE);
  /* The announced 8 MiB are not reserved: 100 bytes in, a small buffer. */
  uint8_t body[100] = {0};
  assert_int_equal(st_net__dec_feed(&d, body, sizeof(body), &used, &out, &outlen),
                   ST_NET__EV_NONE);
  assert_int_equal(used, sizeof(body));
  assert_true(d.buf_cap <= 4096);
  st_net__dec_free(&d);
  /* The handshake cap is far smaller. */
  l = ST_NET__HS_MAX_CT + 1;
  uint8_t hdr3[4] = {(uint8_t)(l >> 24), (uint8_t)(l >> 16), (uint8_t)(l >> 8), (uint8_t)l};
  hello_done(&d, ST_NET__HS_MAX_CT);
  assert_int_equal(st_net__dec_feed(&d, hdr3, 4, &used, &out, &outlen), ST_E2BIG);
  st_net__dec_free(&d);
  /* A length shorter than the tag cannot be a frame. */
  const uint8_t tiny[4] = {0, 0, 0, ST_NET__TAG_LEN - 1};
  hello_done(&d, ST_NET__MAX_CT);
  assert_int_equal(st_net__dec_feed(&d, tiny, 4, &used, &out, &outlen), ST_EPROTO);
  st_net__dec_free(&d);
}

static void test_tamper_refused(void **state) {
  (void)state;
  uint8_t eph[ST_NET__EPH_LEN] = {3}, buf[1024];
  size_t len = make_stream(buf, 2, eph);
  size_t first = ST_NET__HELLO_LEN + st_net__sealed_len(7);
  /* Flipping any bit of a frame (length prefix included) is caught. */
  for (size_t i = ST_NET__HELLO_LEN; i < first; i++) {
    uint8_t copy[1024];
    memcpy(copy, buf, len);
    copy[i] ^= 0x01;
    st_net__dec_t d;
    got_t g;
    memset(&g, 0, sizeof(g));
    st_net__dec_init(&d, ST_NET__MAX_CT);
    int rc = feed_all(&d, copy, len, len, &g);
    if (i < ST_NET__HELLO_LEN + ST_NET__HDR_LEN)
      /* A longer length waits for bytes that never come (0) or passes
       * the cap, a shorter one cuts the tag; none yields a frame. */
      assert_true(rc == ST_EBADPROOF || rc == ST_EPROTO || rc == ST_E2BIG || rc == 0);
    else
      assert_int_equal(rc, ST_EBADPROOF);
    assert_int_equal(g.n, 0);
    st_net__dec_free(&d);
  }
  /* Frames swapped in order fail too: the counter is the nonce. */
  uint8_t sw[1024];
  size_t f0 = st_net__sealed_len(7), f1 = st_net__sealed_len(7);
  memcpy(sw, buf, ST_NET__HELLO_LEN);
  memcpy(sw + ST_NET__HELLO_LEN, buf + ST_NET__HELLO_LEN + f0, f1);
  memcpy(sw + ST_NET__HELLO_LEN + f1, buf + ST_NET__HELLO_LEN, f0);
  st_net__dec_t d;
  got_t g;
  memset(&g, 0, sizeof(g));
  st_net__dec_init(&d, ST_NET__MAX_CT);
  assert_int_equal(feed_all(&d, sw, len, len, &g), ST_EBADPROOF);
  st_net__dec_free(&d);
}

static void test_nonce_layout(void **state) {
  (void)state;
  /* The nonce is the 8-byte little-endian counter, then zeros; the
   * length prefix is the associated data. Checked against libsodium. */
  uint64_t ctr = 0x0102030405060708ull;
  const uint8_t pt[5] = {9, 8, 7, 6, 5};
  uint8_t out[4 + 5 + 16], ct[5 + 16], nonce[24] = {0};
  assert_int_equal(st_net__seal(g_key, &ctr, pt, sizeof(pt), out), 0);
  assert_int_equal(ctr, 0x0102030405060709ull);
  assert_memory_equal(out, ((uint8_t[]){0, 0, 0, 21}), 4);
  for (int i = 0; i < 8; i++)
    nonce[i] = (uint8_t)(0x08 - i);
  unsigned long long clen;
  crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, pt, sizeof(pt), out, 4, NULL, nonce,
                                             g_key);
  assert_memory_equal(out + 4, ct, sizeof(ct));
  /* An exhausted counter refuses to seal. */
  ctr = UINT64_MAX;
  assert_int_equal(st_net__seal(g_key, &ctr, pt, sizeof(pt), out), ST_ERANGE);
  assert_int_equal(ctr, UINT64_MAX);
}

static void test_session_keys(void **state) {
  (void)state;
  uint8_t apk[32], ask[32], bpk[32], bsk[32];
  uint8_t arx[32], atx[32], brx[32], btx[32], at[32], bt[32], want[32], cat[64];
  crypto_kx_keypair(apk, ask);
  crypto_kx_keypair(bpk, bsk);
  assert_int_equal(st_net__session_keys(1, apk, ask, bpk, arx, atx, at), 0);
  assert_int_equal(st_net__session_keys(0, bpk, bsk, apk, brx, btx, bt), 0);
  /* One key per direction, agreed by both ends. */
  assert_memory_equal(atx, brx, 32);
  assert_memory_equal(arx, btx, 32);
  assert_memory_not_equal(atx, arx, 32);
  /* The transcript is H(handshake, dialer_eph || acceptor_eph) on both. */
  memcpy(cat, apk, 32);
  memcpy(cat + 32, bpk, 32);
  st_hash(ST_DOM_HANDSHAKE, cat, sizeof(cat), want);
  assert_memory_equal(at, want, 32);
  assert_memory_equal(bt, want, 32);
  /* An all-zero peer key is refused. */
  uint8_t zero[32] = {0};
  assert_int_equal(st_net__session_keys(1, apk, ask, zero, arx, atx, at), ST_EPROTO);
}

static void fill_info(st_net__info_t *in, const st_keypair_t *kp, const char *chain) {
  memset(in, 0, sizeof(*in));
  memcpy(in->pubkey, kp->pk, 32);
  snprintf(in->chain_id, sizeof(in->chain_id), "%s", chain);
  snprintf(in->moniker, sizeof(in->moniker), "alice");
  snprintf(in->version, sizeof(in->version), "0.1.0");
  in->roles = 5;
  snprintf(in->listen_addr, sizeof(in->listen_addr), "127.0.0.1:18081");
}

static void test_auth(void **state) {
  (void)state;
  st_keypair_t kp;
  uint8_t tr[32], other[32], want_id[ST_ADDR_LEN];
  st_net__info_t me, got;
  uint8_t *pt;
  size_t len;
  assert_int_equal(st_key_generate(&kp), 0);
  st_addr_from_pubkey(kp.pk, want_id);
  memset(tr, 0x11, sizeof(tr));
  memset(other, 0x22, sizeof(other));
  fill_info(&me, &kp, "stratos-test");
  assert_int_equal(st_net__auth_build(&kp, "stratos-test", tr, &me, &pt, &len), 0);

  assert_int_equal(st_net__auth_check(pt, len, "stratos-test", tr, &got), 0);
  assert_memory_equal(got.pubkey, kp.pk, 32);
  assert_memory_equal(got.id, want_id, ST_ADDR_LEN);
  assert_string_equal(got.moniker, "alice");
  assert_string_equal(got.listen_addr, "127.0.0.1:18081");
  assert_string_equal(got.chain_id, "stratos-test");
  assert_int_equal(got.roles, 5);

  /* Another session's transcript: the signature does not verify, and the
   * identity is only a claim. */
  assert_int_equal(st_net__auth_check(pt, len, "stratos-test", other, &got), ST_EBADSIG);
  assert_memory_equal(got.id, want_id, ST_ADDR_LEN);
  /* Another chain: the key is proven, the chain is wrong. */
  assert_int_equal(st_net__auth_check(pt, len, "stratos-other", tr, &got), ST_EPERM);
  assert_memory_equal(got.id, want_id, ST_ADDR_LEN);
  free(pt);

  /* Truncations never pass. */
  fill_info(&me, &kp, "stratos-test");
  assert_int_equal(st_net__auth_build(&kp, "stratos-test", tr, &me, &pt, &len), 0);
  for (size_t cut = 0; cut < len; cut++) {
    int rc = st_net__auth_check(pt, cut, "stratos-test", tr, &got);
    assert_true(rc == ST_EPARSE || rc == ST_EBADSIG);
  }
  free(pt);
}

static void test_auth_mismatched_key(void **state) {
  (void)state;
  /* Auth.node_pubkey and NodeInfo.node_pubkey must be the same key. */
  st_keypair_t kp, kp2;
  uint8_t tr[32] = {7}, sig[64];
  assert_int_equal(st_key_generate(&kp), 0);
  assert_int_equal(st_key_generate(&kp2), 0);
  assert_int_equal(st_sign(&kp, ST_DOM_HANDSHAKE, "c", tr, 32, sig), 0);
  Stratos__P2p__NodeInfo ni;
  stratos__p2p__node_info__init(&ni);
  ni.node_pubkey.data = kp2.pk;
  ni.node_pubkey.len = 32;
  char chain[] = "c";
  ni.chain_id = chain;
  Stratos__P2p__Auth a;
  stratos__p2p__auth__init(&a);
  a.node_pubkey.data = kp.pk;
  a.node_pubkey.len = 32;
  a.signature.data = sig;
  a.signature.len = 64;
  a.info = &ni;
  uint8_t buf[512], *env;
  size_t n = stratos__p2p__auth__pack(&a, buf), elen;
  assert_int_equal(st_net__env_pack(ST_CH_HANDSHAKE, ST_NET__HS_AUTH, buf, n, &env, &elen), 0);
  st_net__info_t got;
  assert_int_equal(st_net__auth_check(env, elen, "c", tr, &got), ST_EPARSE);
  free(env);
  /* With the same key it passes: the test above failed for the key only. */
  ni.node_pubkey.data = kp.pk;
  n = stratos__p2p__auth__pack(&a, buf);
  assert_int_equal(st_net__env_pack(ST_CH_HANDSHAKE, ST_NET__HS_AUTH, buf, n, &env, &elen), 0);
  assert_int_equal(st_net__auth_check(env, elen, "c", tr, &got), 0);
  free(env);
  /* Announcing another chain than the one signed under is refused. */
  char other[] = "d";
  ni.chain_id = other;
  n = stratos__p2p__auth__pack(&a, buf);
  assert_int_equal(st_net__env_pack(ST_CH_HANDSHAKE, ST_NET__HS_AUTH, buf, n, &env, &elen), 0);
  assert_int_equal(st_net__auth_check(env, elen, "c", tr, &got), ST_EPERM);
  free(env);
}

static void test_envelope(void **state) {
  (void)state;
  uint8_t *pt;
  size_t len;
  Stratos__P2p__Envelope *e;
  assert_int_equal(st_net__env_pack(ST_CH_CONSENSUS, 9, "abc", 3, &pt, &len), 0);
  assert_int_equal(st_net__env_unpack(pt, len, &e), 0);
  assert_int_equal(e->channel, ST_CH_CONSENSUS);
  assert_int_equal(e->type, 9);
  assert_int_equal(e->payload.len, 3);
  assert_memory_equal(e->payload.data, "abc", 3);
  stratos__p2p__envelope__free_unpacked(e, NULL);
  free(pt);
  /* Channels past the enum of the .proto still travel (proto3 enums are
   * open); channels past ST_CH_MAX and channel 0 do not. */
  assert_int_equal(st_net__env_pack(ST_CH_META_BLOCKSYNC, 1, NULL, 0, &pt, &len), 0);
  assert_int_equal(st_net__env_unpack(pt, len, &e), 0);
  assert_int_equal(e->channel, ST_CH_META_BLOCKSYNC);
  stratos__p2p__envelope__free_unpacked(e, NULL);
  free(pt);
  assert_int_equal(st_net__env_pack(ST_CH_MAX + 1, 1, NULL, 0, &pt, &len), 0);
  assert_int_equal(st_net__env_unpack(pt, len, &e), ST_EPROTO);
  assert_null(e);
  free(pt);
  assert_int_equal(st_net__env_pack(0, 1, "x", 1, &pt, &len), 0);
  assert_int_equal(st_net__env_unpack(pt, len, &e), ST_EPROTO);
  free(pt);
  const uint8_t junk[] = {0x1a, 0xff, 0xff, 0xff, 0x0f};
  assert_int_equal(st_net__env_unpack(junk, sizeof(junk), &e), ST_EPARSE);
  /* The payload cap is enforced when packing. */
  assert_int_equal(st_net__env_pack(ST_CH_CONSENSUS, 1, NULL, ST_NET_MAX_PAYLOAD + 1, &pt, &len),
                   ST_E2BIG);
  /* The largest payload fits the largest frame. */
  assert_true(ST_NET_MAX_PAYLOAD + 3 * 6 <= ST_NET__MAX_CT - ST_NET__TAG_LEN);
}

static void test_peer_addresses(void **state) {
  (void)state;
  st_keypair_t kp;
  uint8_t id[ST_ADDR_LEN];
  char ids[ST_ADDR_STR_MAX], s[256];
  st_net__paddr_t a;
  assert_int_equal(st_key_generate(&kp), 0);
  st_addr_from_pubkey(kp.pk, id);
  assert_int_equal(st_addr_encode(ST_HRP_NODE, id, ids, sizeof(ids)), 0);

  snprintf(s, sizeof(s), "%s@127.0.0.1:18081", ids);
  assert_int_equal(st_net__parse_peer(s, strlen(s), &a), 0);
  assert_memory_equal(a.id, id, ST_ADDR_LEN);
  assert_string_equal(a.host, "127.0.0.1");
  assert_int_equal(a.port, 18081);

  snprintf(s, sizeof(s), "%s@[::1]:7", ids);
  assert_int_equal(st_net__parse_peer(s, strlen(s), &a), 0);
  assert_string_equal(a.host, "::1");
  assert_int_equal(a.port, 7);
  char back[256];
  assert_int_equal(st_net__format_peer(id, a.host, a.port, back, sizeof(back)), 0);
  assert_string_equal(back, s);

  snprintf(s, sizeof(s), "%s@node-1.example:65535", ids);
  assert_int_equal(st_net__parse_peer(s, strlen(s), &a), 0);
  assert_string_equal(a.host, "node-1.example");

  /* Refused: no id, a wallet address, port 0 or too large, no port, bad
   * host characters, trailing bytes. */
  const char *bad_hosts[] = {"@1.2.3.4:1", "1.2.3.4:1"};
  for (size_t i = 0; i < 2; i++)
    assert_int_not_equal(st_net__parse_peer(bad_hosts[i], strlen(bad_hosts[i]), &a), 0);
  char wallet[ST_ADDR_STR_MAX];
  st_addr_encode(ST_HRP_WALLET, id, wallet, sizeof(wallet));
  snprintf(s, sizeof(s), "%s@1.2.3.4:1", wallet);
  assert_int_not_equal(st_net__parse_peer(s, strlen(s), &a), 0);
  const char *tails[] = {"1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4", "1.2.3.4:", "a b:1",
                         "x/y:1", "[::1:1", "[zz]:1", "1.2.3.4:1x", ":1"};
  for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
    snprintf(s, sizeof(s), "%s@%s", ids, tails[i]);
    assert_int_not_equal(st_net__parse_peer(s, strlen(s), &a), 0);
  }
  /* Only len bytes are read: no NUL needed. */
  snprintf(s, sizeof(s), "%s@1.2.3.4:12garbage", ids);
  assert_int_equal(st_net__parse_peer(s, strlen(s) - 7, &a), 0);
  assert_int_equal(a.port, 12);
}

static void test_pex_bounds(void **state) {
  (void)state;
  char *addrs[65];
  char big[200], small[] = "x";
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  Stratos__P2p__PexAddrs pa;
  uint8_t buf[16384];
  Stratos__P2p__PexAddrs *out;
  for (size_t i = 0; i < 65; i++)
    addrs[i] = small;
  stratos__p2p__pex_addrs__init(&pa);
  pa.addrs = addrs;
  pa.n_addrs = 64;
  size_t n = stratos__p2p__pex_addrs__pack(&pa, buf);
  assert_int_equal(st_net__pex_decode(buf, n, &out), 0);
  assert_int_equal(out->n_addrs, 64);
  stratos__p2p__pex_addrs__free_unpacked(out, NULL);
  pa.n_addrs = 65;
  n = stratos__p2p__pex_addrs__pack(&pa, buf);
  assert_int_equal(st_net__pex_decode(buf, n, &out), ST_E2BIG);
  assert_null(out);
  /* 128 bytes pass, 129 do not. */
  pa.n_addrs = 1;
  addrs[0] = big;
  big[128] = '\0';
  n = stratos__p2p__pex_addrs__pack(&pa, buf);
  assert_int_equal(st_net__pex_decode(buf, n, &out), 0);
  stratos__p2p__pex_addrs__free_unpacked(out, NULL);
  big[128] = 'a';
  big[129] = '\0';
  n = stratos__p2p__pex_addrs__pack(&pa, buf);
  assert_int_equal(st_net__pex_decode(buf, n, &out), ST_E2BIG);
  const uint8_t junk[] = {0x0a, 0x05, 'a'};
  assert_int_equal(st_net__pex_decode(junk, sizeof(junk), &out), ST_EPARSE);
}

static void test_out_new(void **state) {
  (void)state;
  uint8_t to[ST_ADDR_LEN];
  memset(to, 5, sizeof(to));
  st_net_out_t *o = st_net_out_new(to, ST_CH_MEMPOOL, 3, "tx", 2);
  assert_non_null(o);
  assert_memory_equal(o->to, to, ST_ADDR_LEN);
  uint8_t zero[ST_ADDR_LEN] = {0};
  assert_memory_equal(o->except, zero, ST_ADDR_LEN);
  assert_int_equal(o->channel, ST_CH_MEMPOOL);
  assert_int_equal(o->type, 3);
  assert_int_equal(o->len, 2);
  assert_memory_equal(o->data, "tx", 2);
  free(o);
  o = st_net_out_new(NULL, ST_CH_MEMPOOL, 3, NULL, 16);
  assert_non_null(o);
  assert_memory_equal(o->to, zero, ST_ADDR_LEN);
  free(o);
  assert_null(st_net_out_new(NULL, ST_CH_MEMPOOL, 3, NULL, ST_NET_MAX_PAYLOAD + 1));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_stream_any_chunking),
    cmocka_unit_test(test_bad_magic),
    cmocka_unit_test(test_key_needed_after_hello),
    cmocka_unit_test(test_length_caps_before_allocation),
    cmocka_unit_test(test_tamper_refused),
    cmocka_unit_test(test_nonce_layout),
    cmocka_unit_test(test_session_keys),
    cmocka_unit_test(test_auth),
    cmocka_unit_test(test_auth_mismatched_key),
    cmocka_unit_test(test_envelope),
    cmocka_unit_test(test_peer_addresses),
    cmocka_unit_test(test_pex_bounds),
    cmocka_unit_test(test_out_new),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
