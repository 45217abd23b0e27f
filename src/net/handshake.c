/* The authenticated half of the handshake.
 *
 * After the two plaintext hellos each side holds both ephemeral X25519
 * keys. crypto_kx turns them into one key per direction (the dialer is the
 * client), and the transcript H(ST_DOM_HANDSHAKE, dialer_eph ||
 * acceptor_eph) names this one session. Each side then sends, as its
 * first encrypted frame, an Auth: its node key, its signature over the
 * transcript under the handshake domain and the chain id, and its
 * NodeInfo. A signature can therefore be neither replayed into another
 * session nor used on another chain. These functions are pure, so tests
 * and the fuzzer call them directly. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <stratos/st_err.h>
#include "net/net_private.h"

int st_net__session_keys(int dialer, const uint8_t my_pk[ST_NET__EPH_LEN],
                         const uint8_t my_sk[ST_NET__EPH_LEN],
                         const uint8_t peer_pk[ST_NET__EPH_LEN], uint8_t rx[ST_NET__KEY_LEN],
                         uint8_t tx[ST_NET__KEY_LEN], uint8_t transcript[ST_HASH_LEN]) {
  int rc;
  if (dialer)
    rc = crypto_kx_client_session_keys(rx, tx, my_pk, my_sk, peer_pk);
  else
    rc = crypto_kx_server_session_keys(rx, tx, my_pk, my_sk, peer_pk);
  if (rc != 0)
    return ST_EPROTO;
  uint8_t t[2 * ST_NET__EPH_LEN];
  memcpy(t, dialer ? my_pk : peer_pk, ST_NET__EPH_LEN);
  memcpy(t + ST_NET__EPH_LEN, dialer ? peer_pk : my_pk, ST_NET__EPH_LEN);
  st_hash(ST_DOM_HANDSHAKE, t, sizeof(t), transcript);
  return 0;
}

int st_net__auth_build(const st_keypair_t *kp, const char *chain_id,
                       const uint8_t transcript[ST_HASH_LEN], const st_net__info_t *info,
                       uint8_t **out, size_t *outlen) {
  uint8_t sig[ST_SIG_LEN];
  int rc = st_sign(kp, ST_DOM_HANDSHAKE, chain_id, transcript, ST_HASH_LEN, sig);
  if (rc != 0)
    return rc;
  Stratos__P2p__NodeInfo ni;
  /* The init functions, not the INIT macros: those cast away const. */
  stratos__p2p__node_info__init(&ni);
  ni.node_pubkey.data = (uint8_t *)(uintptr_t)kp->pk;
  ni.node_pubkey.len = ST_PUBKEY_LEN;
  ni.chain_id = (char *)(uintptr_t)chain_id;
  ni.moniker = (char *)(uintptr_t)info->moniker;
  ni.version = (char *)(uintptr_t)info->version;
  ni.roles = info->roles;
  ni.listen_addr = (char *)(uintptr_t)info->listen_addr;
  Stratos__P2p__Auth a = STRATOS__P2P__AUTH__INIT;
  a.node_pubkey.data = (uint8_t *)(uintptr_t)kp->pk;
  a.node_pubkey.len = ST_PUBKEY_LEN;
  a.signature.data = sig;
  a.signature.len = ST_SIG_LEN;
  a.info = &ni;
  size_t n = stratos__p2p__auth__get_packed_size(&a);
  uint8_t *buf = malloc(n);
  if (!buf)
    abort();
  stratos__p2p__auth__pack(&a, buf);
  rc = st_net__env_pack(ST_CH_HANDSHAKE, ST_NET__HS_AUTH, buf, n, out, outlen);
  free(buf);
  return rc;
}

/* Copies a protobuf string that must be at most max bytes of printable
 * ASCII. */
static int copy_str(char *dst, const char *src, size_t max) {
  size_t n = src ? strlen(src) : 0;
  if (n > max)
    return ST_EPARSE;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)src[i] < 0x20 || (unsigned char)src[i] > 0x7e)
      return ST_EPARSE;
  memcpy(dst, src ? src : "", n);
  dst[n] = '\0';
  return 0;
}

int st_net__auth_check(const uint8_t *pt, size_t len, const char *chain_id,
                       const uint8_t transcript[ST_HASH_LEN], st_net__info_t *out) {
  Stratos__P2p__Envelope *env = NULL;
  Stratos__P2p__Auth *a = NULL;
  int rc;
  memset(out, 0, sizeof(*out));
  if ((rc = st_net__env_unpack(pt, len, &env)) != 0)
    return ST_EPARSE;
  rc = ST_EPARSE;
  if ((uint32_t)env->channel != ST_CH_HANDSHAKE || env->type != ST_NET__HS_AUTH)
    goto out;
  a = stratos__p2p__auth__unpack(NULL, env->payload.len, env->payload.data);
  if (!a || !a->info || a->node_pubkey.len != ST_PUBKEY_LEN || a->signature.len != ST_SIG_LEN ||
      a->info->node_pubkey.len != ST_PUBKEY_LEN ||
      memcmp(a->info->node_pubkey.data, a->node_pubkey.data, ST_PUBKEY_LEN) != 0)
    goto out;
  const Stratos__P2p__NodeInfo *ni = a->info;
  if (copy_str(out->chain_id, ni->chain_id, ST_CHAIN_ID_MAX) != 0 ||
      copy_str(out->moniker, ni->moniker, ST_NET__INFO_STR_MAX) != 0 ||
      copy_str(out->version, ni->version, ST_NET__INFO_STR_MAX) != 0 ||
      copy_str(out->listen_addr, ni->listen_addr, ST_NET__ADDR_MAX) != 0)
    goto out;
  out->roles = ni->roles;
  memcpy(out->pubkey, a->node_pubkey.data, ST_PUBKEY_LEN);
  st_addr_from_pubkey(out->pubkey, out->id);
  if (st_verify(out->pubkey, ST_DOM_HANDSHAKE, chain_id, transcript, ST_HASH_LEN,
                a->signature.data) == 0) {
    /* Proven under our chain; the announced chain must say the same. */
    rc = strcmp(out->chain_id, chain_id) == 0 ? 0 : ST_EPERM;
    goto out;
  }
  /* A peer of another chain signs under its own chain id: when that
   * verifies, the key is proven and only the chain is wrong. */
  if (strcmp(out->chain_id, chain_id) != 0 &&
      st_verify(out->pubkey, ST_DOM_HANDSHAKE, out->chain_id, transcript, ST_HASH_LEN,
                a->signature.data) == 0)
    rc = ST_EPERM;
  else
    rc = ST_EBADSIG;
out:
  if (rc == ST_EPARSE)
    memset(out, 0, sizeof(*out));
  if (a)
    stratos__p2p__auth__free_unpacked(a, NULL);
  stratos__p2p__envelope__free_unpacked(env, NULL);
  return rc;
}
