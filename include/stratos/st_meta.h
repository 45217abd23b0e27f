/* The meta-service layer: the meta chain (a second instance of the
 * consensus engine, with equal weights among the meta authorities voted
 * in on the value chain), the ozone ledger, resource nodes' liveness and
 * placement. */
#ifndef STRATOS_ST_META_H
#define STRATOS_ST_META_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <stratos/st_bus.h>
#include <stratos/st_bytes.h>
#include <stratos/st_crypto.h>

/* The module's hooks (ST_MOD_META): the meta chain on nodes with the meta
 * role, heartbeats on nodes with the resource role. */
extern const st_module_t st_meta_module;

/* Placement over the bus: which storage nodes should hold a slice, by
 * the meta chain's latest committed state and block hash. The reply's
 * status is ST_ENOENT when this node runs no meta chain. */
#define ST_PLACE_SLICE_MAX 64
#define ST_PLACE_REPLICAS_MAX 16
typedef struct st_place_req {
  uint8_t slice[ST_PLACE_SLICE_MAX]; /* the slice's identity, e.g. its root */
  size_t slice_len;
  size_t replicas;                   /* 1..ST_PLACE_REPLICAS_MAX */
} st_place_req_t;

typedef struct st_place_reply {
  int64_t meta_height;               /* the meta block the choice comes from */
  size_t n;                          /* fewer than asked: not enough nodes */
  uint8_t nodes[ST_PLACE_REPLICAS_MAX][ST_ADDR_LEN];
  char addrs[ST_PLACE_REPLICAS_MAX][129]; /* their network addresses */
} st_place_reply_t;

/* The meta chain's view of resource node addr, as this node has it:
 * {mining_status: online|offline|suspended|removed, last_heartbeat_ms,
 * score, meta_height}. ST_ENOENT when this node runs no meta chain or does
 * not know the node. Opens its own read transaction: call it with none
 * open on this thread. */
struct st_node;
int st_meta_liveness(struct st_node *node, const uint8_t addr[ST_ADDR_LEN], json_t **out);

/* Builds a resource node's heartbeat (a MetaTx of proto/meta.proto),
 * signed by kp under ST_DOM_HEARTBEAT and meta_chain_id
 * ("<value chain id>-meta"), and appends it to out. */
int st_meta_heartbeat(const st_keypair_t *kp, const char *meta_chain_id, int64_t time_ms,
                      st_buf_t *out);

/* params.meta of a new genesis, every field at its default (docs/meta.md).
 * The caller owns the object. */
json_t *st_meta_default_params(void);

/* ---- the file index, for the gateway ----
 * These read the latest committed meta state (each opens its own read
 * transaction: call with none open on this thread) and answer ST_ENOENT
 * when this node runs no meta chain. Records are the encoded messages of
 * proto/storage.proto, appended to out. */

/* The meta chain's id ("<value chain id>-meta"), NULL when none here. */
const char *st_meta_chain_id(struct st_node *node);

/* The storage parameters of genesis (params.meta). */
typedef struct st_meta_storage_params {
  uint32_t slice_size;        /* bytes per slice */
  uint32_t replicas_default, replicas_min, replicas_max;
  uint64_t upload_noz_per_byte; /* noz charged per stored byte and replica */
  uint64_t max_file_bytes;    /* largest file accepted */
  uint64_t gc_grace_ms;       /* holders keep an unreferenced slice this long */
  uint64_t audit_interval_ms;
} st_meta_storage_params_t;
int st_meta_storage_params(struct st_node *node, st_meta_storage_params_t *out);

/* A file's record: the owner's if owner is not NULL, else the first one
 * (several wallets may hold the same bytes, hence the same id): an
 * encoded FileRecord. */
int st_meta_file_get(struct st_node *node, const uint8_t root[ST_HASH_LEN],
                     const uint8_t *owner, st_buf_t *out);
/* A file's record as JSON (owner as st1..., slices with their holders as
 * stsds1...): {id, owner, size, plain_size, slice_size, replicas,
 * content_type, name, encrypted, created_ms, slices: [{root, size,
 * holders}]}, the answer of GET /v1/files/{id}/info and of the JSON-RPC
 * method file_info. owner as st_meta_file_get. The caller owns *out. */
int st_meta_file_info(struct st_node *node, const uint8_t root[ST_HASH_LEN],
                      const uint8_t *owner, json_t **out);
/* A slice's record (SliceRecord). */
int st_meta_slice_get(struct st_node *node, const uint8_t root[ST_HASH_LEN], st_buf_t *out);
/* A share link's record (ShareRecord), link: 16 bytes. */
int st_meta_share_get(struct st_node *node, const uint8_t link[16], st_buf_t *out);
/* An owner's file roots in id order, after `after` (NULL: from the
 * first), at most limit: appended to roots (32 bytes each); *more tells
 * whether others follow. */
int st_meta_file_list(struct st_node *node, const uint8_t owner[ST_ADDR_LEN],
                      const uint8_t *after, size_t limit, st_buf_t *roots, bool *more);
/* A wallet's ozone balance. */
int st_meta_ozone(struct st_node *node, const uint8_t addr[ST_ADDR_LEN], st_u128 *noz);
/* Whether a resource node is active, online and not suspended. */
int st_meta_node_online(struct st_node *node, const uint8_t addr[ST_ADDR_LEN], bool *online);
/* Placement (as ST_MSG_PLACE_REQ), called directly. */
int st_meta_place(struct st_node *node, const st_place_req_t *q, st_place_reply_t *out);

/* Submits a file operation: body is an encoded FileOp. The node signs it
 * as a FileTx with its node key (it must be a meta authority), checks it
 * against the latest state, pools it for its next proposal and gossips
 * it to the other meta nodes. txid receives the tx id. A refusal returns
 * its code with a sentence in log. */
int st_meta_file_submit(struct st_node *node, const uint8_t *body, size_t len,
                        uint8_t txid[ST_HASH_LEN], char *log, size_t cap);
/* The fate of a submitted tx: ST_EAGAIN while it waits; 0 once a meta
 * block applied it; otherwise the code it was refused with (committed
 * but not applicable, or dropped from the pool), with log. ST_ENOENT for
 * an id this node does not know (or forgot: the last 4096 are kept). */
int st_meta_file_result(struct st_node *node, const uint8_t txid[ST_HASH_LEN], char *log,
                        size_t cap);

/* Reports a holder that served a bad block of slice root (or refused it
 * as corrupt): a failed audit on the meta chain, which moves the slice to
 * another holder. Repeats within a minute are not sent again. */
int st_meta_report_holder(struct st_node *node, const uint8_t holder[ST_ADDR_LEN],
                          const uint8_t root[ST_HASH_LEN], uint32_t block, const char *why);

/* ---- Proof-of-Traffic (docs/traffic.md) ---- */

/* The meta epoch by this node's clock, and when it ends (wall-clock ms;
 * ends_ms may be NULL). ST_ENOENT when this node runs no meta chain. */
int st_meta_epoch(struct st_node *node, uint64_t *epoch, int64_t *ends_ms);

/* A traffic receipt: what a receiver of bytes says it got from server. */
typedef struct st_meta_receipt {
  uint8_t server[ST_ADDR_LEN];   /* the node that served the bytes */
  uint8_t payer[ST_ADDR_LEN];    /* the wallet whose noz pays */
  uint8_t file[ST_HASH_LEN];     /* the file root */
  uint32_t kind;                 /* 0 download, 1 repair, 2 audit */
  uint64_t epoch;                /* the meta epoch of the bytes */
  uint8_t session[16];           /* random, per receiver, server and request */
  uint64_t bytes;                /* cumulative within the session */
  int64_t time_ms;
  uint8_t signer[ST_PUBKEY_LEN]; /* filled by st_meta_receipt_read */
} st_meta_receipt_t;

/* Signs r with kp (ST_DOM_RECEIPT, meta_chain_id) and appends the
 * encoded Receipt to out. */
int st_meta_receipt_sign(const st_keypair_t *kp, const char *meta_chain_id,
                         const st_meta_receipt_t *r, st_buf_t *out);
/* Decodes an encoded Receipt (at most 512 bytes; its signature is not
 * checked: the meta chain does that). ST_E2BIG or ST_EPARSE. */
int st_meta_receipt_read(const uint8_t *p, size_t n, st_meta_receipt_t *out);
/* A serving node's submission of n encoded Receipts (1..1024): a MetaTx
 * carrying a ReceiptSubmit signed by kp, appended to out. */
int st_meta_receipts_tx(const st_keypair_t *kp, const char *meta_chain_id,
                        const uint8_t *const *rcpts, const size_t *lens, size_t n,
                        st_buf_t *out);
/* Hands such a tx to this node's meta chain (pooled and passed on to the
 * other meta nodes). ST_ENOENT when this node runs none. */
int st_meta_receipts_submit(struct st_node *node, const uint8_t *tx, size_t len);

#endif
