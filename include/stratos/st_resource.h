/* The resource layer on a resource node: the slice store it keeps for the
 * network, scrubbed in the background, its usage reported in heartbeats
 * and metrics. */
#ifndef STRATOS_ST_RESOURCE_H
#define STRATOS_ST_RESOURCE_H

#include <stdint.h>
#include <stratos/st_bus.h>
#include <stratos/st_crypto.h>

struct st_node;

/* The module's hooks (ST_MOD_RESOURCE): runs on nodes with the resource
 * role. */
extern const st_module_t st_resource_module;

/* What this node stores (0 and 0 when it runs no resource module). */
void st_resource_usage(struct st_node *node, uint64_t *bytes, uint64_t *slices);
/* Block bytes this node has served to BlockGet since it started (0 when
 * it runs no resource module). */
void st_resource_served(struct st_node *node, uint64_t *bytes);

/* ---- the storage protocol (proto/storage.proto) ----
 *
 * Frames to holders travel on ST_CH_RESOURCE; a holder answers a gateway
 * on ST_CH_GATEWAY and another holder (a repair pull) on
 * ST_CH_RESOURCE_REPLY: the channel a BlockGet names. SliceCheck goes to
 * meta nodes on ST_CH_META and comes back on ST_CH_RESOURCE.
 *
 * Two frames are raw bytes, not protobuf, so that a block is copied once:
 *   ST_RES_DATA  = xfer (8, BE) || block index (4, BE) || block bytes
 *   ST_RES_BLOCK = req (8, BE) || code (4, BE, an int32: 0 or ST_E*) || bytes
 * (bytes: the block, or the block hashes when the BlockGet asked for them).
 *
 * An upload: the gateway sends SliceOffer; the holder answers SliceAck
 * (code 0, received 0) or a refusal; the gateway sends the blocks in
 * order as ST_RES_DATA, at most ST_RES_WINDOW blocks ahead of the last
 * SliceAck; the holder checks each block, acks every ST_RES_ACK_EVERY
 * blocks, and after the last one makes the slice durable and answers
 * SliceAck{stored, signature}: the Stored receipt (ST_DOM_STORED, the
 * meta chain's id, root || size (8, BE)). A holder drops a transfer
 * that has been silent for ST_RES_IDLE_MS. A holder that has the slice
 * already answers the offer itself with SliceAck{stored, received = all
 * blocks, signature}: no block is sent. */
enum st_res_frame {
  /* on ST_CH_RESOURCE, to a holder */
  ST_RES_OFFER = 1,      /* SliceOffer */
  ST_RES_DATA = 2,       /* raw, above */
  ST_RES_GET = 3,        /* BlockGet */
  ST_RES_PULL = 4,       /* SlicePull, from a meta node */
  ST_RES_CHECKED = 5,    /* SliceCheck with keep[], from a meta node */
  ST_RES_CLAIM = 7,      /* SliceCheck{roots}: an upload in flight still needs these */
  ST_RES_RECEIPT = 6,    /* a traffic Receipt (proto/traffic.proto), from a reader */
  /* on ST_CH_GATEWAY or ST_CH_RESOURCE_REPLY, from a holder */
  ST_RES_ACK = 1,        /* SliceAck */
  ST_RES_BLOCK = 2,      /* raw, above */
  /* on ST_CH_META, to a meta node */
  ST_RES_CHECK = 16,     /* SliceCheck */
  ST_RES_REPAIRED = 17,  /* SliceRepair, from the new holder after a pull */
  ST_RES_LOST = 18,      /* raw: a slice root the holder's scrub found corrupt */
};

#define ST_RES_DATA_HDR 12
#define ST_RES_BLOCK_HDR 12
#define ST_RES_WINDOW 32
#define ST_RES_ACK_EVERY 4
#define ST_RES_IDLE_MS 30000
/* A SliceCheck names at most this many roots. */
#define ST_RES_CHECK_MAX 1024

/* Sends a frame of the storage protocol to node `to`: over the network,
 * or, when `to` is this node, straight to the module that serves the
 * channel here (ST_CH_RESOURCE and ST_CH_RESOURCE_REPLY: resource,
 * ST_CH_GATEWAY: gateway, ST_CH_META: meta), as the same
 * ST_MSG_NET_FRAME with this node as the peer. data is copied. */
int st_res_send(struct st_node *node, st_mod_id from, const uint8_t to[ST_ADDR_LEN],
                uint32_t channel, uint32_t type, const void *data, size_t len);
/* The same, with a head and a body (the raw frames). */
int st_res_send2(struct st_node *node, st_mod_id from, const uint8_t to[ST_ADDR_LEN],
                 uint32_t channel, uint32_t type, const void *head, size_t hlen,
                 const void *body, size_t blen);

/* Signs / checks a Stored receipt. */
int st_res_stored_sign(const st_keypair_t *kp, const char *meta_chain_id,
                       const uint8_t root[ST_HASH_LEN], uint64_t size, uint8_t sig[ST_SIG_LEN]);
int st_res_stored_verify(const uint8_t pk[ST_PUBKEY_LEN], const char *meta_chain_id,
                         const uint8_t root[ST_HASH_LEN], uint64_t size,
                         const uint8_t sig[ST_SIG_LEN]);

#endif
