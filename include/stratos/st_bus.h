/* The bus: the module table and the bounded in-process queues between
 * modules, on the one libuv loop.
 *
 * Each module has an inbox, a bounded ring. st_bus_send may be called from
 * any thread; delivery (the module's on_msg) always happens on the loop
 * thread. The loop is woken with one uv_async_send on the transition of the
 * bus from empty to non-empty, never once per message. A full inbox is an
 * error the sender sees (ST_EFULL), counted as a drop. */
#ifndef STRATOS_ST_BUS_H
#define STRATOS_ST_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct st_node;

/* Module ids: one inbox each. */
typedef enum st_mod_id {
  ST_MOD_DAEMON = 0,
  ST_MOD_RPC,
  ST_MOD_GATEWAY,
  ST_MOD_NET,
  ST_MOD_CHAIN,
  ST_MOD_META,
  ST_MOD_RESOURCE,
  ST_MOD_KV,
  ST_MOD_TASK,
  ST_MOD_TEST, /* used by unit tests */
  ST_MOD_MAX
} st_mod_id;

/* Message types. Each names its payload type in its comment; new layers
 * add theirs here so that the whole vocabulary is in one place. */
typedef enum st_msg_type {
  ST_MSG_NONE = 0,
  ST_MSG_PING,          /* no payload; the reply is ST_MSG_PONG */
  ST_MSG_PONG,
  ST_MSG_STATUS_REQ,    /* no payload; reply ST_MSG_STATUS carries json_t* */
  ST_MSG_STATUS,
  ST_MSG_SHUTDOWN,      /* no payload; broadcast on graceful stop */
  /* net (st_net.h) */
  ST_MSG_NET_SEND,      /* any -> net: st_net_out_t */
  ST_MSG_NET_FRAME,     /* net -> subscriber: st_net_frame_t */
  ST_MSG_NET_PEER,      /* net -> subscribers: st_net_peer_event_t */
  ST_MSG_NET_SUBSCRIBE, /* any -> net: st_net_sub_t */
  ST_MSG_NET_BAN,       /* any -> net: st_net_ban_t */
  /* rpc (st_rpc.h) */
  ST_MSG_RPC_EVENT,     /* any -> rpc: json_t* event for WebSocket subscribers */
  /* meta (st_meta.h) */
  ST_MSG_PLACE_REQ,     /* any -> meta: st_place_req_t; reply ST_MSG_PLACE: st_place_reply_t */
  ST_MSG_PLACE,
  ST_MSG_TEST_BASE = 1000 /* unit tests use types from here */
} st_msg_type;

enum {
  ST_MSG_F_REPLY = 1u << 0, /* an answer to a request; corr is its id */
};

/* A message is a small value copied into the inbox. Its payload (data,len)
 * is owned by the bus from a successful send until it is delivered, then by
 * the receiver during on_msg; when on_msg returns, the bus calls free_fn on
 * data unless the receiver took it by setting data to NULL. */
typedef struct st_msg {
  uint16_t type;
  uint8_t from;
  uint8_t to;
  uint32_t flags;
  uint64_t corr;   /* correlation id of a request/reply pair; 0 otherwise */
  int status;      /* in replies: 0 or an ST_E* code */
  void *data;
  size_t len;
  void (*free_fn)(void *data);
} st_msg_t;

/* The hooks of a module, registered once. All run on the loop thread.
 * init creates the module's state; start begins its work once every module
 * is initialized; on_msg handles one delivered message; stop releases
 * everything (after it, no message is delivered to the module). */
typedef struct st_module {
  const char *name;
  st_mod_id id;
  int (*init)(struct st_node *node, void **state);
  int (*start)(void *state);
  void (*on_msg)(void *state, st_msg_t *msg);
  void (*stop)(void *state);
} st_module_t;

typedef struct st_bus st_bus_t;

typedef struct st_bus_stats {
  uint64_t sent;      /* messages accepted into the inbox */
  uint64_t delivered; /* messages handed to on_msg */
  uint64_t dropped;   /* sends refused because the inbox was full */
  size_t depth;       /* messages waiting now */
  size_t max_depth;   /* high-water mark */
  size_t capacity;
} st_bus_stats_t;

/* Creates the bus on loop, each inbox holding queue_cap messages (rounded
 * up to a power of two). Freed by st_bus_close. */
int st_bus_init(uv_loop_t *loop, size_t queue_cap, st_bus_t **out);

/* Closes the bus: pending messages are freed, pending requests get no
 * answer, the async handle is closed (the loop must run once more). */
void st_bus_close(st_bus_t *bus);

/* Registers a module's hooks and state (state may be NULL until init).
 * Messages to an unregistered module fail with ST_ENOENT. */
int st_bus_attach(st_bus_t *bus, const st_module_t *mod, void *state);
void st_bus_detach(st_bus_t *bus, st_mod_id id);

/* Sends msg (copied). Thread-safe. On success the payload belongs to the
 * bus; on failure (ST_EFULL, ST_ENOENT, ST_ECLOSED) it stays the caller's. */
int st_bus_send(st_bus_t *bus, const st_msg_t *msg);

/* Reply callback: runs on the loop thread with the reply (borrowed, same
 * payload rule as on_msg). */
typedef void (*st_bus_reply_cb)(st_msg_t *reply, void *ud);

/* Sends a request and routes its reply to cb instead of the sender's
 * on_msg. The id is stored in *corr if corr is not NULL. Loop thread only. */
int st_bus_request(st_bus_t *bus, const st_msg_t *msg, st_bus_reply_cb cb,
                   void *ud, uint64_t *corr);

/* Answers req: the reply goes to req->from with req->corr. Thread-safe. */
int st_bus_reply(st_bus_t *bus, const st_msg_t *req, st_msg_t *reply);

/* Forgets a pending request: its reply, if it comes, is dropped. */
void st_bus_cancel(st_bus_t *bus, uint64_t corr);

/* Delivers queued messages now (loop thread only); returns how many. */
size_t st_bus_drain(st_bus_t *bus);

int st_bus_stats(st_bus_t *bus, st_mod_id id, st_bus_stats_t *out);

/* Times the loop has been woken by a send (the empty->non-empty
 * transitions seen). */
uint64_t st_bus_wakeups(st_bus_t *bus);

const char *st_bus_mod_name(st_mod_id id);

#endif
