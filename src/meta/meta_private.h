/* Inside the meta module only: the meta chain's application — the
 * mirror of the value chain's node registry, the ozone ledger, resource
 * nodes' liveness — and the module that runs it on a second instance of
 * the consensus engine.
 *
 * The state reuses the value chain's overlay (src/chain/state.c): space
 * 0 holds the ozone ledger (account address -> noz, 16 bytes BE), space 1
 * the records below, in the databases "metaapp_ozone" and "metaapp_rec".
 * Record keys start with one kind byte. */
#ifndef STRATOS_META_META_PRIVATE_H
#define STRATOS_META_META_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>
#include <stratos/st_chain.h>
#include <stratos/st_consensus.h>
#include <stratos/st_node.h>
#include <stratos/st_reqauth.h>
#include <stratos/st_rpc.h>
#include "chain/mods.h"

#define ST_META__SP_OZONE ST_CHAIN__SP_ACCT
#define ST_META__SP_REC ST_CHAIN__SP_STATE

enum {
  ST_META__K_APPLIED = 'V',  /* "V" -> value height applied so far (8) */
  ST_META__K_AUTH = 'A',     /* node(20) -> pubkey(32): the authorities */
  ST_META__K_RNODE = 'R',    /* node(20) -> st_meta__rnode_t */
  ST_META__K_PREPAY = 'P',   /* value tx hash(32) -> "": prepays credited */
  ST_META__K_GENESIS = 'G',  /* "G" -> genesis app hash */
  /* The file index (files.c). */
  ST_META__K_FILE = 'F',     /* root(32) owner(20) -> FileRecord */
  ST_META__K_OWNER = 'O',    /* owner(20) root(32) -> "" */
  ST_META__K_SLICE = 'S',    /* root(32) -> SliceRecord */
  ST_META__K_HOLDER = 'H',   /* node(20) root(32) -> "" */
  ST_META__K_SHARE = 'L',    /* link(16) -> ShareRecord */
  ST_META__K_SHARE_OF = 'C', /* root(32) owner(20) link(16) -> "": a file's links */
  ST_META__K_REPAIR = 'Q',   /* root(32) -> new(20) source(20) replaced(20) height(8) */
  ST_META__K_REPAIR_DUE = 'W', /* height(8) root(32) -> "": when a repair goes stale */
  ST_META__K_LOST = 'Z',     /* node(20) -> last root examined (0 or 32 bytes) */
  ST_META__K_TXID = 'X',     /* file tx id(32) -> height(8): applied */
  ST_META__K_TXID_DUE = 'Y', /* block time(8) txid(32) -> "": when X may go */
  ST_META__K_REQ = 'M',      /* hash of a wallet's request signature(32) -> "": used */
  ST_META__K_REQ_DUE = 'D',  /* request time + skew(8) hash(32) -> "": when M may go */
  /* Proof-of-Traffic (traffic.c). */
  ST_META__K_SESSION = 'T',  /* session(16) -> server(20) epoch(8) counted bytes(8) */
  ST_META__K_VOLUME = 'E',   /* epoch(8) node(20) -> noz (16) */
  ST_META__K_REPORT = 'U',   /* epoch(8) -> an encoded VolumeReport */
  ST_META__K_EPOCH = 'K',    /* "K" -> the first epoch not yet reported (8) */
  /* Slashing (slash.c). */
  ST_META__K_SLASHED_AT = 'J', /* node(20) -> audits_failed at its last slash (8) */
  ST_META__K_SLASH = 'B',    /* seq(8) -> an encoded SlashReport */
  ST_META__K_SLASH_SEQ = 'N', /* "N" -> the last slash seq committed (8) */
};

#define ST_META__SCORE_START 10000
#define ST_META__NETADDR_MAX 128
/* A heartbeat pool entry per node, at most this many nodes. */
#define ST_META__HB_POOL_MAX 4096
/* Heartbeats more than this far from the block time are refused. */
#define ST_META__HB_SKEW_MS 60000

typedef struct st_meta__params {
  int64_t offline_after_ms;
  int64_t heartbeat_interval_ms;
  uint32_t max_sync_heights;  /* value heights one meta block may apply */
  /* storage */
  uint32_t slice_size;        /* bytes per slice, whole blocks */
  uint32_t replicas_default, replicas_min, replicas_max;
  uint64_t upload_noz_per_byte;
  uint64_t max_file_bytes;
  int64_t gc_grace_ms;        /* holders keep an unreferenced slice this long */
  int64_t audit_interval_ms;
  /* traffic */
  int64_t epoch_ms;
  uint64_t download_noz_per_byte;
  /* slashing */
  uint64_t slash_audit_failures; /* failed audits since the last slash */
  uint64_t slash_noz;            /* noz slashed each time */
} st_meta__params_t;

/* The defaults of params.meta. */
void st_meta__params_defaults(st_meta__params_t *p);

/* The meta chain's mirror of a resource node, with its liveness. */
typedef struct st_meta__rnode {
  uint8_t addr[ST_ADDR_LEN];
  uint8_t pubkey[ST_PUBKEY_LEN];
  uint8_t owner[ST_ADDR_LEN];
  uint8_t node_type;
  uint8_t status;           /* ST_NODE_* of the value chain */
  bool suspended;
  bool online;
  uint64_t capacity;
  st_u128 deposit;
  int64_t last_hb_ms;       /* block time of the last heartbeat applied */
  int64_t hb_time_ms;       /* the node's own time in it (replays) */
  uint32_t score;
  uint64_t used, free_, served, slices;
  char netaddr[ST_META__NETADDR_MAX + 1];
  /* Audits of its slices (stored after the network address, only once
   * one has been counted, so records without any keep their old form). */
  uint64_t audits_passed, audits_failed;
} st_meta__rnode_t;

int st_meta__rnode_get(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                       st_meta__rnode_t *r);
int st_meta__rnode_put(st_chain__overlay_t *ov, const st_meta__rnode_t *r);

/* ---- the ozone ledger ---- */
int st_meta__oz_get(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 *noz);
/* Credits noz once per value prepay tx: a second credit of the same tx
 * changes nothing and returns 0 with *applied false. */
int st_meta__oz_credit(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 noz,
                       const uint8_t tx_hash[ST_HASH_LEN], bool *applied);
/* Debits noz, all or nothing: ST_EPERM when the balance is short. */
int st_meta__oz_debit(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 noz);

/* ---- genesis ---- */

typedef struct st_meta__genesis {
  char chain_id[ST_CHAIN_ID_MAX + 1]; /* "<value chain id>-meta" */
  int64_t genesis_time_ms;
  st_cons_params_t cons;
  st_meta__params_t p;
  st_cons_valset_t auth;    /* equal powers, sorted by address */
  size_t nres;
  st_meta__rnode_t *res;
  size_t noz;               /* "ozone": noz granted at genesis */
  struct st_meta__grant {
    uint8_t addr[ST_ADDR_LEN];
    st_u128 noz;
  } *oz;
} st_meta__genesis_t;

/* Reads the meta chain's part of genesis.json: meta_nodes (authorities),
 * resource_nodes, params.meta and the consensus params. No meta_nodes
 * gives ST_ENOENT (no meta chain). Errors name the field in err. */
int st_meta__genesis_parse(json_t *g, st_meta__genesis_t *out, char *err, size_t cap);
void st_meta__genesis_free(st_meta__genesis_t *g);

/* ---- the application ---- */

typedef struct st_meta__hb {
  uint8_t addr[ST_ADDR_LEN];
  uint8_t *tx;              /* an encoded MetaTx carrying the heartbeat */
  size_t len;
  int64_t time_ms;
} st_meta__hb_t;

/* ---- the file index: pool, results, repairs (files.c) ---- */

/* Room for one result sentence. */
#define ST_META__LOG_MAX 192
/* Frame types on ST_CH_META_MEMPOOL. */
#define ST_META__FRAME_HB 1
#define ST_META__FRAME_FILE 2
#define ST_META__FRAME_RCPT 3   /* a MetaTx carrying a ReceiptSubmit */
#define ST_META__FRAME_RSIG 4   /* epoch (8, BE) || an encoded ReportSig */
#define ST_META__FRAME_SSIG 5   /* seq (8, BE) || an encoded ReportSig */
/* A FileOp body is at most this large. */
#define ST_META__FOP_MAX (4u << 20)
/* The file tx pool: at most this many txs and bytes; a tx waits at most
 * ST_META__POOL_TTL_MS for a block. */
#define ST_META__POOL_TXS 1024
#define ST_META__POOL_BYTES (64u << 20)
#define ST_META__POOL_TTL_MS 60000
/* Results of the last this many file txs are kept. */
#define ST_META__RESULTS 4096
/* A slice lists at most this many holders. */
#define ST_META__HOLDERS_MAX 16
/* A pending repair not done after this many blocks is given to another
 * node. */
#define ST_META__REPAIR_BLOCKS 200
/* Applied tx ids are remembered at least this long (block time) and this
 * many heights, so that no tx is applied twice; an audit must name a
 * challenge height within the latter. */
#define ST_META__TXID_KEEP_MS (2 * ST_REQAUTH_SKEW_MS + 60000)
#define ST_META__TXID_KEEP_HEIGHTS 1024

typedef struct st_meta__ftx {
  uint8_t txid[ST_HASH_LEN];
  uint8_t *tx;              /* an encoded MetaTx carrying the FileTx */
  size_t len;
  uint8_t signer[ST_PUBKEY_LEN];
  int64_t added_ms;         /* monotonic clock */
  bool repair;              /* a repair of repair_root (local duplicates) */
  uint8_t repair_root[ST_HASH_LEN];
} st_meta__ftx_t;

typedef struct st_meta__fres {
  uint8_t txid[ST_HASH_LEN];
  int code;
  char log[ST_META__LOG_MAX];
} st_meta__fres_t;

/* A repair assigned by a block: the pull to send once it is committed. */
typedef struct st_meta__pull {
  uint8_t root[ST_HASH_LEN];
  uint64_t size;
  uint8_t node[ST_ADDR_LEN], from[ST_ADDR_LEN], replaces[ST_ADDR_LEN];
  bool has_replaces;
} st_meta__pull_t;

typedef struct st_meta {
  st_node_t *node;          /* NULL in unit tests */
  st_store_t *store;
  st_meta__genesis_t gen;
  st_chain__state_t st;     /* dbs[0] ozone, dbs[1] records */
  st_chain_feed_t feed;
  uint8_t genesis_app_hash[ST_HASH_LEN];
  st_cons_t *cons;
  int64_t last_height;
  st_meta__hb_t *hbs;       /* the heartbeat pool: latest per node */
  size_t nhbs;
  uv_timer_t *hb_timer;     /* resource role: our own heartbeats */
  uint64_t hb_sent;
  /* File txs waiting for a block, in arrival order. */
  st_meta__ftx_t *ftxs;
  size_t nftxs, ftx_bytes;
  /* Results of file txs: those of the block being finalized (pend, of
   * pend_height), then a ring of the committed ones. */
  st_meta__fres_t *pend;
  size_t npend, pend_cap;
  int64_t pend_height;
  st_meta__fres_t *ring;    /* ST_META__RESULTS entries once allocated */
  size_t ring_n, ring_next;
  /* Repairs the block being finalized assigned. */
  st_meta__pull_t *pulls;
  size_t npulls, pulls_cap;
  struct st_meta__audit *audit; /* audit.c, on authorities */
  struct st_meta__traffic *tr;  /* traffic.c: receipt pool, earnings log */
  struct st_meta__reports *reps; /* report.c: signatures and relay */
} st_meta_t;

/* Opens the state (writing the genesis state on first start). */
int st_meta__open(st_meta_t *m, st_store_t *store, st_meta__genesis_t *g);
void st_meta__close(st_meta_t *m);

/* The st_cons_app_t callbacks. */
int st_meta__app_propose(void *ud, int64_t height, size_t max_bytes, size_t max_txs,
                         st_cons_txlist_t *out);
int st_meta__app_validate(void *ud, int64_t height, size_t ntxs, const uint8_t *const *txs,
                          const size_t *lens);
int st_meta__app_finalize(void *ud, st_txn_t *txn, const st_cons_block_t *b,
                          uint8_t app_hash[ST_HASH_LEN], uint8_t results_hash[ST_HASH_LEN],
                          st_cons_valset_t *next, bool *changed);
void st_meta__app_committed(void *ud, int64_t height);
bool st_meta__app_has_txs(void *ud);

/* A heartbeat from the network or our own: checked (decoding, signature
 * under the meta chain id) and pooled, replacing an older one of the
 * same node. Returns 0 or a refusal with a sentence in log. */
int st_meta__hb_submit(st_meta_t *m, const uint8_t *tx, size_t len, char *log, size_t cap);

/* Builds a signed heartbeat MetaTx for kp (appended to out). */
int st_meta__hb_build(const st_keypair_t *kp, const char *meta_chain_id, int64_t time_ms,
                      uint64_t used, uint64_t free_, uint64_t served, uint64_t slices,
                      st_buf_t *out);

/* ---- the file index (files.c) ---- */

struct Stratos__Storage__FileTx;
struct st_meta__view;

/* The block a file tx runs in. time_ms is 0 when validating (the block
 * time is not known); hash seeds placement. results: record results and
 * repairs in m (finalize only). view is built on first use and freed by
 * st_meta__blk_done. */
typedef struct st_meta__blk {
  int64_t height;
  int64_t time_ms;
  uint8_t hash[ST_HASH_LEN];
  bool results;
  struct st_meta__view *view;
} st_meta__blk_t;

void st_meta__blk_done(st_meta__blk_t *b);

/* Whether an error is the node's own (store, memory), not the tx's. */
bool st_meta__fatal(int rc);

/* Checks a FileTx as a block carries it: its body within limits and
 * decodable, its signer an authority of ov, the signature under the meta
 * chain id. Fills txid. ST_EPARSE, ST_E2BIG, ST_EBADSIG or ST_EPERM with
 * a sentence in log. */
int st_meta__ftx_check(st_meta_t *m, st_chain__overlay_t *ov,
                       const struct Stratos__Storage__FileTx *ft, uint8_t txid[ST_HASH_LEN],
                       char *log, size_t cap);

/* A FileTx in a block. Validating (b->time_ms 0): the checks above, whose
 * failure fails the block. Applying: a tx that fails the checks, or a
 * second copy of an applied one, changes nothing; otherwise its op runs
 * in a journal of ov, kept only when it succeeds; its result (code, log)
 * goes to m->pend when b->results. Returns non-zero only for a block
 * refused (validating) or the node's own failure (applying). */
int st_meta__ftx_block(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                       const struct Stratos__Storage__FileTx *ft, char *log, size_t cap);

/* Applies an encoded FileOp in ov (the caller journals). 0 or why not,
 * with a sentence in log. */
int st_meta__fop_apply(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                       const uint8_t *body, size_t len, char *log, size_t cap);

/* The end of a block's file work: repairs for the slices of lost holders
 * and of stale repairs, applied tx ids forgotten. */
int st_meta__files_end_block(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b);

/* A resource node stopped serving (offline, no longer active): its slices
 * are examined for repair, a bounded number per block. */
int st_meta__node_lost(st_chain__overlay_t *ov, const uint8_t node[ST_ADDR_LEN]);
/* It is back: the examination stops. */
int st_meta__node_back(st_chain__overlay_t *ov, const uint8_t node[ST_ADDR_LEN]);

/* The results hash of a block: H(ST_DOM_TX_RESULTS, block hash ||
 * (txid || code (4, BE))*) over the file txs' results in m->pend. */
void st_meta__results_hash(st_meta_t *m, const uint8_t block_hash[ST_HASH_LEN],
                           uint8_t out[ST_HASH_LEN]);

/* After a commit: results move to the ring, their txs leave the pool,
 * pulls of new repairs go out. */
void st_meta__files_committed(st_meta_t *m, int64_t height);

/* Pool for proposals: appends the pooled file txs that fit. */
int st_meta__files_propose(st_meta_t *m, st_chain__overlay_t *ov, size_t max_bytes,
                           size_t max_txs, size_t *bytes, st_cons_txlist_t *out);
bool st_meta__files_pending(st_meta_t *m);

/* A file tx from a peer (frame type ST_META__FRAME_FILE): checked and
 * pooled, then passed on to the other peers. peer NULL: none. */
int st_meta__ftx_receive(st_meta_t *m, const uint8_t *tx, size_t len, const uint8_t *peer,
                         char *log, size_t cap);

/* Frames of the storage protocol on ST_CH_META: SliceCheck and
 * SliceRepair. Returns ST_EPARSE for an undecodable frame. */
int st_meta__files_frame(st_meta_t *m, const uint8_t peer[ST_ADDR_LEN], uint32_t type,
                         const uint8_t *data, size_t len);

/* The answer to a SliceCheck (data) of holder peer, appended to answer:
 * keep[i] when the peer holds roots[i] by the index or by a pending
 * repair. ST_EPARSE for an undecodable or oversized check. */
int st_meta__slice_check(st_meta_t *m, const uint8_t peer[ST_ADDR_LEN], const uint8_t *data,
                         size_t len, st_buf_t *answer);

void st_meta__files_free(st_meta_t *m);

/* ---- reading the latest committed state ---- */

/* A read-only view: a read transaction and an overlay over it. */
typedef struct st_meta__rq {
  st_txn_t *txn;
  st_chain__overlay_t ov;
} st_meta__rq_t;

int st_meta__rq_open(st_meta_t *m, st_meta__rq_t *r);
/* Appends the encoding of a MetaTx (proto/meta.proto) to out. */
struct Stratos__Meta__MetaTx;
int st_meta__tx_append(const struct Stratos__Meta__MetaTx *t, st_buf_t *out);
void st_meta__rq_close(st_meta__rq_t *r);

/* ---- audits (audit.c) ---- */
void st_meta__audit_start(st_meta_t *m);
void st_meta__audit_stop(st_meta_t *m);
/* A block or hash list (ST_RES_BLOCK) a holder answered a challenge with. */
void st_meta__audit_frame(st_meta_t *m, const uint8_t peer[ST_ADDR_LEN], const uint8_t *p,
                          size_t n);
/* A holder says its copy of a slice is lost (ST_RES_LOST: the root). */
void st_meta__audit_lost(st_meta_t *m, const uint8_t peer[ST_ADDR_LEN], const uint8_t *p,
                         size_t n);
/* Submits an AuditResult for holder (a failure starts a repair). */
int st_meta__audit_report(st_meta_t *m, const uint8_t holder[ST_ADDR_LEN],
                          const uint8_t root[ST_HASH_LEN], uint32_t block, bool passed,
                          const char *why);

/* ---- Proof-of-Traffic (traffic.c) ---- */

struct Stratos__Traffic__ReceiptSubmit;
struct Stratos__Traffic__ReceiptBatch;

/* A ReceiptSubmit carries at most this many receipts in this many bytes. */
#define ST_META__RCPT_MAX 1024
#define ST_META__RCPT_TX_MAX (512u << 10)
/* The receipt pool: at most this many txs; each waits at most
 * ST_META__POOL_TTL_MS for a block. */
#define ST_META__RCPT_POOL 256
/* The earnings log keeps the last this many counted receipts. */
#define ST_META__EARN_LOG 4096
/* Volume reports committed by one block at most (a chain that stood
 * still for many epochs catches up over several blocks). */
#define ST_META__REPORTS_PER_BLOCK 16

/* The epoch of a block time (0 before genesis). */
uint64_t st_meta__epoch_of(const st_meta_t *m, int64_t time_ms);

/* What the receipts of a block did, for counters. */
typedef struct st_meta__tstat {
  uint64_t counted, refused;
} st_meta__tstat_t;

/* A ReceiptSubmit in a block. Validating (b->time_ms 0): the submitter's
 * signature over the batch and the batch's bounds; their failure fails
 * the block. Applying: each receipt is checked (signer a known node,
 * signature under the meta chain id, server the submitter, kind known,
 * epoch the block's or the one before, the session's server and epoch
 * unchanged) and counted: the growth of its session's bytes debits the
 * payer (as far as its balance goes) and credits the server's volume of
 * the epoch. A receipt failing a check is skipped as refused. Returns
 * non-zero only for a block refused or the node's own failure. */
int st_meta__rcpt_block(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                        const struct Stratos__Traffic__ReceiptSubmit *s, st_meta__tstat_t *st,
                        char *log, size_t cap);

/* The end of a block's traffic work: when the block's epoch is past the
 * first unreported one, the finished epochs' volume reports are written
 * (ST_META__K_REPORT), their volumes and sessions deleted. *reported
 * receives how many reports were written. */
int st_meta__traffic_end_block(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                               size_t *reported);

/* A ReceiptSubmit MetaTx from a peer (frame ST_META__FRAME_RCPT) or from
 * this node's resource module: checked, pooled, passed on (peer NULL:
 * from here). */
int st_meta__rcpt_receive(st_meta_t *m, const uint8_t *tx, size_t len, const uint8_t *peer,
                          char *log, size_t cap);
int st_meta__traffic_propose(st_meta_t *m, size_t max_bytes, size_t max_txs, size_t *bytes,
                             st_cons_txlist_t *out);
bool st_meta__traffic_pending(st_meta_t *m);
/* After a commit: applied receipt txs leave the pool, counted receipts
 * join the earnings log, authorities sign new reports. */
void st_meta__traffic_committed(st_meta_t *m, int64_t height);
/* Decodes a ReceiptSubmit: the submitter's signature over the batch,
 * the batch's bounds. *batch: the caller frees it (NULL on failure). */
int st_meta__rcpt_decode(st_meta_t *m, const struct Stratos__Traffic__ReceiptSubmit *s,
                         uint8_t server[ST_ADDR_LEN],
                         struct Stratos__Traffic__ReceiptBatch **batch, char *log, size_t cap);
/* Finalize's bookkeeping: begin empties the block's lists; done records
 * a receipt tx the block carried; stat: the block's counters. */
void st_meta__traffic_begin(st_meta_t *m);
int st_meta__traffic_done(st_meta_t *m, const uint8_t *tx, size_t len);
st_meta__tstat_t *st_meta__traffic_stat(st_meta_t *m);
/* An epoch's committed report (ST_ENOENT: none), borrowed from ov. */
int st_meta__report_get(st_chain__overlay_t *ov, uint64_t epoch, const uint8_t **p, size_t *n);
/* A report as JSON: {meta_chain_id, epoch, meta_height, entries: [{node,
 * wallet, volume}], total}. */
int st_meta__report_json(const uint8_t *p, size_t n, json_t **out);
void st_meta__traffic_rpc(st_meta_t *m, st_rpc_t *rpc);

/* ---- slashing (slash.c) ---- */

/* After a failed audit counted in *r (not yet written back): when
 * r->audits_failed minus its count at the node's last slash reaches
 * params.meta.slash_audit_failures, a SlashReport with the next seq is
 * written (ST_META__K_SLASH), the count remembered and r->suspended set;
 * *slashed tells. The caller writes r. */
int st_meta__slash_check(st_meta_t *m, st_chain__overlay_t *ov, const st_meta__blk_t *b,
                         st_meta__rnode_t *r, bool *slashed);
/* The last slash seq committed (0: none yet). */
int st_meta__slash_last(st_chain__overlay_t *ov, uint64_t *seq);
/* A committed SlashReport (ST_ENOENT: none), borrowed from ov. */
int st_meta__slash_get(st_chain__overlay_t *ov, uint64_t seq, const uint8_t **p, size_t *n);

/* ---- volume reports to the value chain (report.c) ---- */

/* The block being finalized committed the reports of epochs from ..
 * from + n - 1 (for the commit that follows). */
void st_meta__reports_made(st_meta_t *m, uint64_t from, size_t n);
/* After a commit: an authority signs the new reports and gossips its
 * signatures; a node holding a quorum relays. */
void st_meta__reports_committed(st_meta_t *m);
/* A ReportSig frame (ST_META__FRAME_RSIG): epoch (8, BE) || ReportSig.
 * ST_EPARSE for an undecodable one, ST_EPERM / ST_EBADSIG for a signer
 * that is no authority or a bad signature. */
int st_meta__rsig_frame(st_meta_t *m, const uint8_t *p, size_t n);
/* Signatures held for an epoch's report; *relayed: tried (may be NULL). */
size_t st_meta__report_nsigs(st_meta_t *m, uint64_t epoch, bool *relayed);
/* The same for slash reports (ST_META__FRAME_SSIG: seq (8, BE) ||
 * ReportSig under ST_DOM_SLASH) and the signatures held for a seq. */
int st_meta__ssig_frame(st_meta_t *m, const uint8_t *p, size_t n);
size_t st_meta__slash_nsigs(st_meta_t *m, uint64_t seq, bool *relayed);
void st_meta__reports_free(st_meta_t *m);
void st_meta__traffic_free(st_meta_t *m);

/* JSON-RPC file_info. */
void st_meta__rpc_file_info(st_rpc_call_t *call, json_t *params, void *ud);

#endif
