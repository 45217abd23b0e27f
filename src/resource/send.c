/* Frames of the storage protocol to a node, this one included, and the
 * Stored receipt (include/stratos/st_resource.h). */
#include <stdlib.h>
#include <string.h>
#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_net.h>
#include <stratos/st_node.h>
#include <stratos/st_resource.h>

static int local_module(uint32_t channel, st_mod_id *m) {
  switch (channel) {
  case ST_CH_RESOURCE:
  case ST_CH_RESOURCE_REPLY:
    *m = ST_MOD_RESOURCE;
    return 0;
  case ST_CH_GATEWAY:
    *m = ST_MOD_GATEWAY;
    return 0;
  case ST_CH_META:
    *m = ST_MOD_META;
    return 0;
  default:
    return ST_EINVAL;
  }
}

int st_res_send2(struct st_node *node, st_mod_id from, const uint8_t to[ST_ADDR_LEN],
                 uint32_t channel, uint32_t type, const void *head, size_t hlen,
                 const void *body, size_t blen) {
  uint8_t self[ST_ADDR_LEN];
  size_t len = hlen + blen;
  if (len > ST_NET_MAX_PAYLOAD)
    return ST_E2BIG;
  st_addr_from_pubkey(node->node_key.pk, self);
  if (memcmp(self, to, ST_ADDR_LEN) != 0) {
    st_net_out_t *out = st_net_out_new(to, channel, type, NULL, len);
    if (hlen)
      memcpy(out->data, head, hlen);
    if (blen)
      memcpy(out->data + hlen, body, blen);
    return st_net_send(node->bus, from, out);
  }
  st_mod_id m;
  int rc = local_module(channel, &m);
  if (rc != 0)
    return rc;
  st_net_frame_t *f = malloc(sizeof(*f) + len);
  if (!f)
    abort();
  memcpy(f->peer, self, ST_ADDR_LEN);
  f->channel = channel;
  f->type = type;
  f->len = len;
  if (hlen)
    memcpy(f->data, head, hlen);
  if (blen)
    memcpy(f->data + hlen, body, blen);
  st_msg_t msg = {.type = ST_MSG_NET_FRAME, .from = (uint8_t)from, .to = (uint8_t)m,
                  .data = f, .len = sizeof(*f) + len, .free_fn = free};
  rc = st_bus_send(node->bus, &msg);
  if (rc != 0)
    free(f);
  return rc;
}

int st_res_send(struct st_node *node, st_mod_id from, const uint8_t to[ST_ADDR_LEN],
                uint32_t channel, uint32_t type, const void *data, size_t len) {
  return st_res_send2(node, from, to, channel, type, data, len, NULL, 0);
}

static void stored_msg(const uint8_t root[ST_HASH_LEN], uint64_t size,
                       uint8_t msg[ST_HASH_LEN + 8]) {
  memcpy(msg, root, ST_HASH_LEN);
  for (int i = 0; i < 8; i++)
    msg[ST_HASH_LEN + i] = (uint8_t)(size >> (56 - 8 * i));
}

int st_res_stored_sign(const st_keypair_t *kp, const char *meta_chain_id,
                       const uint8_t root[ST_HASH_LEN], uint64_t size, uint8_t sig[ST_SIG_LEN]) {
  uint8_t msg[ST_HASH_LEN + 8];
  stored_msg(root, size, msg);
  return st_sign(kp, ST_DOM_STORED, meta_chain_id, msg, sizeof(msg), sig);
}

int st_res_stored_verify(const uint8_t pk[ST_PUBKEY_LEN], const char *meta_chain_id,
                         const uint8_t root[ST_HASH_LEN], uint64_t size,
                         const uint8_t sig[ST_SIG_LEN]) {
  uint8_t msg[ST_HASH_LEN + 8];
  stored_msg(root, size, msg);
  return st_verify(pk, ST_DOM_STORED, meta_chain_id, msg, sizeof(msg), sig) == 0 ? 0
                                                                                 : ST_EBADSIG;
}
