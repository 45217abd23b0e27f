/* P2P networking: authenticated, encrypted TCP connections between nodes.
 *
 * Modules never call the network directly: they send ST_MSG_NET_SEND to
 * ST_MOD_NET with an st_net_out_t payload, and receive ST_MSG_NET_FRAME
 * (st_net_frame_t) for the channels they subscribed to, plus
 * ST_MSG_NET_PEER (st_net_peer_event_t) when a peer comes or goes. */
#ifndef STRATOS_ST_NET_H
#define STRATOS_ST_NET_H

#include <stddef.h>
#include <stdint.h>
#include <stratos/st_bus.h>
#include <stratos/st_crypto.h>

/* Channels (the Envelope.channel of proto/p2p.proto). */
enum st_net_channel {
  ST_CH_HANDSHAKE = 1,
  ST_CH_PEX = 2,
  ST_CH_CONSENSUS = 3,   /* value chain */
  ST_CH_MEMPOOL = 4,     /* value chain */
  ST_CH_BLOCKSYNC = 5,   /* value chain */
  ST_CH_EVIDENCE = 6,    /* value chain */
  ST_CH_META = 7,        /* meta services */
  ST_CH_RESOURCE = 8,    /* resource layer */
  ST_CH_META_CONSENSUS = 9,
  ST_CH_META_MEMPOOL = 10,
  ST_CH_META_BLOCKSYNC = 11,
  ST_CH_GATEWAY = 12,    /* holders' answers to gateways */
  ST_CH_RESOURCE_REPLY = 13, /* holders' answers to holders (repair pulls) */
  ST_CH_MAX = 32
};

/* Largest plaintext payload of one frame. Frames announcing more are
 * refused before anything is allocated, and their sender is banned. */
#define ST_NET_MAX_PAYLOAD (8u << 20)

/* A frame received from a peer (payload of ST_MSG_NET_FRAME). One
 * allocation; freed by the bus with free(). */
typedef struct st_net_frame {
  uint8_t peer[ST_ADDR_LEN]; /* sender's node address */
  uint32_t channel;
  uint32_t type;
  size_t len;
  uint8_t data[];
} st_net_frame_t;

/* A frame to send (payload of ST_MSG_NET_SEND). to all-zero broadcasts to
 * every connected peer except `except` (all-zero: none). Build it with
 * st_net_out_new; the bus frees it with free(). */
typedef struct st_net_out {
  uint8_t to[ST_ADDR_LEN];
  uint8_t except[ST_ADDR_LEN];
  uint32_t channel;
  uint32_t type;
  size_t len;
  uint8_t data[];
} st_net_out_t;

/* Payload of ST_MSG_NET_PEER. */
typedef struct st_net_peer_event {
  uint8_t peer[ST_ADDR_LEN];
  int up; /* 1 connected, 0 gone */
} st_net_peer_event_t;

/* Payload of ST_MSG_NET_SUBSCRIBE: deliver frames of channel to module. */
typedef struct st_net_sub {
  uint32_t channel;
  uint8_t module; /* st_mod_id */
} st_net_sub_t;

/* Payload of ST_MSG_NET_BAN: disconnect peer and refuse it for seconds.
 * Modules send it when a peer sent them invalid data. */
typedef struct st_net_ban {
  uint8_t peer[ST_ADDR_LEN];
  uint32_t seconds;
  char reason[96];
} st_net_ban_t;

/* Allocates an outgoing frame of len bytes copied from data (may be NULL
 * to fill later). Aborts on OOM; len must be <= ST_NET_MAX_PAYLOAD. */
st_net_out_t *st_net_out_new(const uint8_t *to, uint32_t channel, uint32_t type,
                             const void *data, size_t len);

/* Sends an allocated frame to ST_MOD_NET through bus (ownership moves on
 * success; freed here on failure). */
int st_net_send(st_bus_t *bus, st_mod_id from, st_net_out_t *out);

/* Subscribes module to channel (a bus message to the net module). */
int st_net_subscribe(st_bus_t *bus, st_mod_id module, uint32_t channel);

/* Asks the net module to ban a peer. */
int st_net_ban(st_bus_t *bus, st_mod_id from, const uint8_t peer[ST_ADDR_LEN],
               uint32_t seconds, const char *reason);

/* The module's hooks. init reads p2p.* config and the node key; start
 * listens on p2p.laddr and dials persistent peers. Registers the JSON-RPC
 * method net_info. */
extern const st_module_t st_net_module;

#endif
