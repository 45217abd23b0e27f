/* Inside the consensus module only: the engine's state and the functions
 * its files share. Nothing here is a contract with other modules; the
 * unit tests and the fuzz target include it to reach the decoders. */
#ifndef STRATOS_CONSENSUS_CONSENSUS_PRIVATE_H
#define STRATOS_CONSENSUS_CONSENSUS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <stratos/st_consensus.h>
#include <stratos/st_node.h>

#include "consensus.pb-c.h"

/* ---- limits ---- */

#define ST_CONS__ROUND_MAX (1 << 20)     /* largest round a message may name */
#define ST_CONS__ROUND_AHEAD 64          /* rounds past ours whose votes we keep */
#define ST_CONS__MAX_VALIDATORS 4096     /* largest validator set */
#define ST_CONS__MAX_TOTAL_POWER (INT64_MAX / 8)
#define ST_CONS__BODY_MAX 512            /* largest VoteBody / ProposalBody */
#define ST_CONS__HEADER_MAX 2048         /* largest encoded Header */
#define ST_CONS__EVIDENCE_MAX_BYTES 4096 /* largest encoded Evidence */
#define ST_CONS__EVIDENCE_PER_BLOCK 32
#define ST_CONS__EVIDENCE_POOL 256
#define ST_CONS__EVIDENCE_MAX_AGE 100000 /* heights */
#define ST_CONS__CLOCK_DRIFT_MS 10000    /* how far ahead of us a block may be */
#define ST_CONS__MAX_PEERS 256
#define ST_CONS__SYNC_WINDOW 16          /* block requests in flight */
#define ST_CONS__SYNC_TIMEOUT_MS 2000
#define ST_CONS__TICK_MS 200
#define ST_CONS__ROUNDSTEP_MS 1000
#define ST_CONS__BAN_SECONDS 600
#define ST_CONS__DEFAULT_BLOCK_BYTES (4u << 20)
#define ST_CONS__DEFAULT_BLOCK_TXS 10000u
#define ST_CONS__WAL_RECORD_MAX (ST_NET_MAX_PAYLOAD + 1024u)
#define ST_CONS__WAL_KEEP 2              /* WAL files (heights) kept */

/* Steps, as carried in RoundStep and shown by consensus_state. */
enum {
  ST_CONS__STEP_NEWHEIGHT = 0, /* waiting timeout_commit (or txs) */
  ST_CONS__STEP_PROPOSE = 1,
  ST_CONS__STEP_PREVOTE = 2,
  ST_CONS__STEP_PRECOMMIT = 3,
  ST_CONS__STEP_HALTED = 9,
};

/* Message types on the consensus channel. */
enum {
  ST_CONS__MSG_PROPOSAL = 1,   /* Proposal */
  ST_CONS__MSG_VOTE = 2,       /* Vote */
  ST_CONS__MSG_ROUND_STEP = 3, /* RoundStep */
  ST_CONS__MSG_EVIDENCE = 4,   /* Evidence */
};

/* Message types on the block-sync channel. */
enum {
  ST_CONS__MSG_BLOCK_REQUEST = 1,  /* BlockRequest */
  ST_CONS__MSG_BLOCK_RESPONSE = 2, /* BlockResponse */
  ST_CONS__MSG_NO_BLOCK = 3,       /* NoBlock */
};

/* WAL record types. */
enum {
  ST_CONS__WAL_PROPOSAL = 1,     /* a received Proposal, as accepted */
  ST_CONS__WAL_VOTE = 2,         /* a received Vote, as accepted */
  ST_CONS__WAL_OWN_PROPOSAL = 3, /* a Proposal we signed */
  ST_CONS__WAL_OWN_VOTE = 4,     /* a Vote we signed */
  ST_CONS__WAL_TIMEOUT = 5,      /* height BE8, round BE4, step u8 */
  ST_CONS__WAL_END_HEIGHT = 6,   /* height BE8 */
};

/* Sign-state steps: the order in which one round signs. */
enum {
  ST_CONS__SIGN_PROPOSAL = 1,
  ST_CONS__SIGN_PREVOTE = 2,
  ST_CONS__SIGN_PRECOMMIT = 3,
};

/* ---- small helpers (codec.c) ---- */

void st_cons__be64(uint8_t out[8], uint64_t v);
void st_cons__be32(uint8_t out[4], uint32_t v);
uint64_t st_cons__rd64(const uint8_t in[8]);
uint32_t st_cons__rd32(const uint8_t in[4]);
int64_t st_cons__now_ms(void);

/* Index of addr in the (address-sorted) set, or -1. */
int st_cons__valset_index(const st_cons_valset_t *vs, const uint8_t addr[ST_ADDR_LEN]);
int64_t st_cons__valset_total(const st_cons_valset_t *vs);
/* Checks a set (sorted, unique, addresses match keys, powers positive,
 * total bounded). */
int st_cons__valset_check(const st_cons_valset_t *vs);
/* Copies src into dst (dst->v malloc'd, sorted by address). */
int st_cons__valset_copy(st_cons_valset_t *dst, const st_cons_valset_t *src);

/* A validator set with the proposer priorities at the start of a height. */
typedef struct st_cons__vset {
  st_cons_valset_t vs;
  int64_t *prio;
  int64_t total;
  uint8_t hash[ST_HASH_LEN];
} st_cons__vset_t;

st_cons__vset_t *st_cons__vset_new(const st_cons_valset_t *vs, const int64_t *prio);
st_cons__vset_t *st_cons__vset_dup(const st_cons__vset_t *v);
void st_cons__vset_free(st_cons__vset_t *v);
/* Serialized form in the state database: n BE4, then per validator
 * addr(20) pubkey(32) power BE8 priority BE8. */
int st_cons__vset_encode(const st_cons__vset_t *v, uint8_t **out, size_t *len);
int st_cons__vset_decode(const uint8_t *p, size_t len, st_cons__vset_t **out);

/* ---- proposer priorities (proposer.c) ---- */

/* The proposer of round at a height whose start state is v. */
size_t st_cons__proposer(const st_cons__vset_t *v, int32_t round);
/* The start state of the next height: one step from v, then, when next
 * is not NULL (the set changes), v's priorities carried over to next. */
st_cons__vset_t *st_cons__vset_advance(const st_cons__vset_t *v,
                                       const st_cons_valset_t *next);

/* ---- decoded objects (codec.c) ---- */

/* A vote checked for form; after st_cons__vote_verify also for origin. */
typedef struct st_cons__vote {
  uint8_t *msg;   /* canonical Vote bytes (what we relay and log) */
  size_t msg_len;
  uint8_t *body;  /* the exact signed VoteBody bytes */
  size_t body_len;
  uint8_t sig[ST_SIG_LEN];
  int type;       /* 1 prevote, 2 precommit */
  int64_t height;
  int32_t round;
  bool nil;
  uint8_t hash[ST_HASH_LEN];
  int64_t time_ms;
  uint8_t validator[ST_ADDR_LEN];
  int vindex;     /* index in the set it was verified against */
} st_cons__vote_t;

/* Builds a vote from a body and a signature, checking the body's form
 * under chain_id. why gets a static reason on failure (ST_EPROTO). */
int st_cons__vote_from_parts(const char *chain_id, const uint8_t *body, size_t blen,
                             const uint8_t *sig, size_t siglen, st_cons__vote_t **out,
                             const char **why);
/* Decodes a Vote message from the network. */
int st_cons__vote_decode(const char *chain_id, const uint8_t *msg, size_t len,
                         st_cons__vote_t **out, const char **why);
/* Checks that the signer is in vs and that the signature verifies. */
int st_cons__vote_verify(const char *chain_id, const st_cons_valset_t *vs,
                         st_cons__vote_t *v, const char **why);
st_cons__vote_t *st_cons__vote_dup(const st_cons__vote_t *v);
void st_cons__vote_free(st_cons__vote_t *v);
/* Encodes a VoteBody (hash NULL: nil). Caller frees *out. */
int st_cons__vote_body_encode(const char *chain_id, int type, int64_t height, int32_t round,
                              const uint8_t *hash, int64_t time_ms,
                              const uint8_t validator[ST_ADDR_LEN], uint8_t **out,
                              size_t *len);

/* Limits a decoded block must respect. */
typedef struct st_cons__limits {
  size_t max_txs;
  size_t max_bytes;
  size_t max_sigs;
} st_cons__limits_t;

/* A block checked for form (st_cons__block_decode) and, by the engine, in
 * its chain context. */
typedef struct st_cons__block {
  Stratos__Cons__Block *pb;
  Stratos__Cons__Header *hdr;
  uint8_t hash[ST_HASH_LEN];
  uint8_t *bytes;  /* canonical Block bytes (what the store keeps) */
  size_t len;
  int valid;       /* engine cache: 0 unchecked, 1 valid, else the error */
  bool app_hash_bad;
  char why[128];   /* why it is invalid */
} st_cons__block_t;

/* Decodes and checks a block's form: header fields and lengths, chain id,
 * tx and evidence caps, data_hash, evidence_hash, last_commit_hash. */
int st_cons__block_decode(const char *chain_id, const uint8_t *bytes, size_t len,
                          const st_cons__limits_t *lim, st_cons__block_t **out,
                          const char **why);
void st_cons__block_free(st_cons__block_t *b);

/* Encodes a Commit; the empty Commit (height 0) encodes to no bytes. */
int st_cons__commit_encode(const Stratos__Cons__Commit *cm, uint8_t **out, size_t *len);
void st_cons__commit_hash(const Stratos__Cons__Commit *cm, uint8_t out[ST_HASH_LEN]);

/* Verifies a commit: height, block hash, every signature a precommit of
 * that block at the commit's round by a distinct member of vs, and more
 * than 2/3 of vs's power. signers (vs->n entries) may be NULL. */
int st_cons__commit_verify(const char *chain_id, const st_cons_valset_t *vs,
                           int64_t height, const uint8_t hash[ST_HASH_LEN],
                           const Stratos__Cons__Commit *cm, bool *signers,
                           const char **why);

/* A proposal checked for form, with its block. */
typedef struct st_cons__proposal {
  int64_t height;
  int32_t round;
  int32_t pol_round;
  uint8_t hash[ST_HASH_LEN];
  int64_t time_ms;
  uint8_t proposer[ST_ADDR_LEN];
  uint8_t *body;
  size_t body_len;
  uint8_t sig[ST_SIG_LEN];
  uint8_t *msg;    /* canonical Proposal bytes */
  size_t msg_len;
  st_cons__block_t *block; /* owned until the engine takes it */
} st_cons__proposal_t;

/* Decodes a Proposal: body fields, signature length, and its block's form
 * (whose hash must be the body's). The signature is not checked here. */
int st_cons__proposal_decode(const char *chain_id, const uint8_t *msg, size_t len,
                             const st_cons__limits_t *lim, st_cons__proposal_t **out,
                             const char **why);
int st_cons__proposal_verify(const char *chain_id, const uint8_t pk[ST_PUBKEY_LEN],
                             const st_cons__proposal_t *p);
void st_cons__proposal_free(st_cons__proposal_t *p);

/* Duplicate-vote evidence, its votes in canonical order (a's block hash
 * sorts before b's, nil first). */
typedef struct st_cons__evidence {
  st_cons__vote_t *a, *b;
  uint8_t key[ST_ADDR_LEN + 13]; /* validator, height BE8, round BE4, type */
  uint8_t *bytes;                /* encoded Evidence */
  size_t len;
  int64_t power;                 /* at its height, once verified */
} st_cons__evidence_t;

int st_cons__evidence_from_pb(const char *chain_id, const Stratos__Cons__Evidence *pb,
                              st_cons__evidence_t **out, const char **why);
int st_cons__evidence_decode(const char *chain_id, const uint8_t *msg, size_t len,
                             st_cons__evidence_t **out, const char **why);
/* Builds evidence from two conflicting votes (copied). */
int st_cons__evidence_build(const st_cons__vote_t *x, const st_cons__vote_t *y,
                            st_cons__evidence_t **out);
/* Checks the signer is in vs (the set of the evidence's height) and both
 * signatures. Sets ev->power. */
int st_cons__evidence_verify(const char *chain_id, const st_cons_valset_t *vs,
                             st_cons__evidence_t *ev, const char **why);
void st_cons__evidence_free(st_cons__evidence_t *ev);
void st_cons__evidence_root(const Stratos__Cons__Block *b, uint8_t out[ST_HASH_LEN]);

/* ---- vote sets (votes.c) ---- */

typedef struct st_cons__tally {
  bool nil;
  uint8_t hash[ST_HASH_LEN];
  int64_t power;
} st_cons__tally_t;

/* The votes of one type at one height and round, one slot per
 * validator. A validator's first vote fills its slot and counts for "any
 * value"; a different second one is reported as a conflict. As in the
 * algorithm, where 2f+1 messages for a value are counted per value, the
 * caller may also keep conflicting votes for values that matter (blocks
 * it knows): they count for their value, never twice for "any". */
typedef struct st_cons__voteset {
  int type;
  int64_t height;
  int32_t round;
  const st_cons__vset_t *vs; /* borrowed: lives as long as the height */
  st_cons__vote_t **votes;
  int64_t sum;
  st_cons__tally_t *tallies;
  size_t ntallies, captallies;
  st_cons__vote_t **extra;   /* kept conflicting votes */
  size_t nextra, capextra;
} st_cons__voteset_t;

int st_cons__voteset_init(st_cons__voteset_t *s, int type, int64_t height, int32_t round,
                          const st_cons__vset_t *vs);
void st_cons__voteset_free(st_cons__voteset_t *s);
/* Adds a verified vote (ownership moves on 0). ST_EEXIST: the validator
 * already voted the same way (v untouched). ST_EPERM: a conflicting
 * vote; *conflict points at the stored one (v untouched). */
int st_cons__voteset_add(st_cons__voteset_t *s, st_cons__vote_t *v,
                         const st_cons__vote_t **conflict);
/* Keeps a vote that conflicts with its validator's first one, counting it
 * for its value (ownership moves on 0; ST_EEXIST when already kept). */
int st_cons__voteset_add_extra(st_cons__voteset_t *s, st_cons__vote_t *v);
/* More than 2/3 of the power voted (for anything). */
bool st_cons__voteset_two_thirds_any(const st_cons__voteset_t *s);
/* Whether some value (nil or a hash) has more than 2/3; fills it. */
bool st_cons__voteset_majority(const st_cons__voteset_t *s, bool *nil,
                               uint8_t hash[ST_HASH_LEN]);
int64_t st_cons__voteset_power_for(const st_cons__voteset_t *s, bool nil,
                                   const uint8_t *hash);
/* Builds the Commit of the precommits for hash (validator order). The
 * caller frees it with st_cons__commit_free. */
Stratos__Cons__Commit *st_cons__voteset_commit(const st_cons__voteset_t *s,
                                               const uint8_t hash[ST_HASH_LEN]);
void st_cons__commit_free(Stratos__Cons__Commit *cm);

/* ---- sign state (signstate.c) ---- */

typedef struct st_cons__ss {
  char path[ST_PATH_MAX];
  char dir[ST_PATH_MAX];
  int64_t height;
  int32_t round;
  int step;
  bool nil;
  uint8_t hash[ST_HASH_LEN];
  uint8_t sig[ST_SIG_LEN];
  uint8_t *bytes; /* the exact signed bytes */
  size_t len;
} st_cons__ss_t;

/* Loads HOME/data/<name>/sign_state (absent: nothing signed yet). A file
 * that fails its checksum is ST_ECORRUPT: the node must not sign. */
int st_cons__ss_load(st_cons__ss_t *ss, const char *dir);
void st_cons__ss_free(st_cons__ss_t *ss);
/* 0: (h, r, step, value) may be signed fresh. 1: exactly this was signed
 * already (ss->bytes and ss->sig hold it). ST_EPERM: refused (a different
 * value at the same step, or an earlier step). */
int st_cons__ss_check(const st_cons__ss_t *ss, int64_t h, int32_t r, int step, bool nil,
                      const uint8_t *hash);
/* Records a signature durably (tmp file, fsync, rename, fsync dir). */
int st_cons__ss_save(st_cons__ss_t *ss, int64_t h, int32_t r, int step, bool nil,
                     const uint8_t *hash, const uint8_t *bytes, size_t len,
                     const uint8_t sig[ST_SIG_LEN]);

/* ---- WAL (wal.c) ---- */

typedef struct st_cons__wal {
  char dir[ST_PATH_MAX];
  int fd;
  int64_t height; /* the height whose file is open */
} st_cons__wal_t;

typedef int (*st_cons__wal_cb)(void *ud, int type, const uint8_t *p, size_t len);

/* Opens the WAL directory and the file of height: its valid records are
 * passed to cb in order (a torn or corrupt tail is cut off), then new
 * records are appended to it. */
int st_cons__wal_open(st_cons__wal_t *w, const char *dir, int64_t height,
                      st_cons__wal_cb cb, void *ud);
int st_cons__wal_append(st_cons__wal_t *w, int type, const void *p, size_t len, bool sync);
/* Writes END_HEIGHT(h) (synced), starts the file of h+1 and removes the
 * files of heights before h+1-ST_CONS__WAL_KEEP+1. */
int st_cons__wal_end_height(st_cons__wal_t *w, int64_t h);
void st_cons__wal_close(st_cons__wal_t *w);
/* Reads the records of one file (tests and tools). */
int st_cons__wal_read_file(const char *path, st_cons__wal_cb cb, void *ud, off_t *good_end);

/* ---- engine state ---- */

typedef struct st_cons__round {
  int32_t round;
  st_cons__voteset_t prevotes;
  st_cons__voteset_t precommits;
  uint8_t *seen;       /* validators with any vote in this round */
  int64_t seen_power;
  st_cons__proposal_t *proposal; /* first valid proposal of the round */
  bool polka_done;     /* line 36 of the algorithm ran */
  bool prevote_timer;  /* line 34 ran */
  bool precommit_timer; /* line 47 ran */
  st_cons__block_t *pblock;      /* the proposal's block (in the cache) */
  int proposer;        /* index of the round's proposer in vs_cur */
} st_cons__round_t;

typedef struct st_cons__peer {
  uint8_t addr[ST_ADDR_LEN];
  bool used;
  bool known;          /* sent a RoundStep */
  int64_t height, lowest;
  int32_t round;
  int step;
  int64_t served_h;    /* the (h, r, step) we last caught it up for */
  int32_t served_r;
  int served_step;
  uint64_t seen_ms;
} st_cons__peer_t;

typedef struct st_cons__syncreq {
  int64_t height;      /* 0: free slot */
  uint8_t peer[ST_ADDR_LEN];
  uint8_t avoid[ST_ADDR_LEN]; /* a peer that failed this height */
  bool sent;
  uint64_t sent_ms;
  st_cons__block_t *blk; /* the response, once received */
  uint8_t *commit;
  size_t commit_len;
} st_cons__syncreq_t;

/* A message this node signed at the current height (from this run, the
 * WAL, or the sign state): asked to sign the same step again, the engine
 * re-sends it rather than signing anew. */
typedef struct st_cons__own {
  int32_t round;
  int step;       /* ST_CONS__SIGN_* */
  bool nil;
  uint8_t hash[ST_HASH_LEN];
  uint8_t *msg;   /* Vote or Proposal bytes */
  size_t len;
} st_cons__own_t;

typedef struct st_cons__evpool {
  st_cons__evidence_t *ev[ST_CONS__EVIDENCE_POOL];
  size_t n;
} st_cons__evpool_t;

struct st_cons {
  st_node_t *node;
  char name[32];
  char prefix[32];
  char tag[48];       /* log tag */
  char chain_id[ST_CHAIN_ID_MAX + 1];
  st_mod_id owner;
  uint32_t ch_cons, ch_sync;
  st_cons_params_t p;
  st_cons_app_t app;
  void *app_ud;
  st_cons_valset_t genesis;
  int64_t genesis_time_ms;
  uint8_t genesis_app_hash[ST_HASH_LEN];
  uint8_t self[ST_ADDR_LEN];
  char dir[ST_PATH_MAX]; /* HOME/data/<name> */
  st_cons__limits_t lim;
  size_t max_proposal_bytes;

  /* store (store.c) */
  st_db_t db_blocks, db_commits, db_hash, db_state;

  /* the committed chain */
  int64_t latest;
  uint8_t last_hash[ST_HASH_LEN];
  int64_t last_time_ms;
  uint8_t app_hash[ST_HASH_LEN];     /* after block latest */
  uint8_t results_hash[ST_HASH_LEN]; /* of block latest */
  st_cons__vset_t *vs_last, *vs_cur, *vs_next; /* h-1 (NULL at 1), h, h+1 */
  st_cons__voteset_t *last_commit;   /* precommits deciding block latest */
  int32_t last_round;

  /* the height being decided */
  int64_t h;
  int32_t r;
  int step;
  int self_idx;                      /* in vs_cur, -1 when not a validator */
  st_cons__round_t **rounds;
  size_t nrounds, caprounds;
  st_cons__block_t **blocks;         /* every block seen at h */
  size_t nblocks, capblocks;
  st_cons__block_t *locked, *validb;
  int32_t locked_round, valid_round;
  st_cons__own_t *own;               /* what we signed at h */
  size_t nown, capown;
  bool waiting_txs, txs_avail;
  bool in_eval, eval_again;
  bool app_wait;  /* the application answered ST_EAGAIN: evaluate again on the tick */
  bool replaying, halted, started, closing;
  int32_t decided_round;

  /* timers: each remembers the (h, r) it was armed for */
  uv_timer_t t_propose, t_prevote, t_precommit, t_commit, t_tick, t_empty;
  int64_t tp_h, tpv_h, tpc_h;
  int32_t tp_r, tpv_r, tpc_r;
  int open_handles;
  uint64_t last_roundstep_ms;

  st_cons__wal_t wal;
  st_cons__ss_t ss;
  st_cons__evpool_t pool;
  st_cons__peer_t peers[ST_CONS__MAX_PEERS];
  st_cons__syncreq_t sync[ST_CONS__SYNC_WINDOW];
  bool catching_up;
  uint64_t h_started_ms;             /* loop time we entered h */
  uint64_t synced_blocks;

  st_cons__vset_t *vs_query; /* st_cons_valset_at's answer */
  char why[160];             /* a reason that outlives the object it came from */
  st_metric_t *m_height, *m_rounds, *m_byz, *m_synced;
};

/* engine.c */
void st_cons__evaluate(st_cons_t *c);
st_cons__round_t *st_cons__round_get(st_cons_t *c, int32_t round, bool create);
void st_cons__add_vote(st_cons_t *c, st_cons__vote_t *v, const uint8_t *from, bool own);
void st_cons__add_proposal(st_cons_t *c, st_cons__proposal_t *p, const uint8_t *from,
                           bool own);
/* Decode, check and take in a vote or a proposal from a peer (from, or
 * NULL for the WAL). A nonzero result means the sender misbehaved (why
 * says how); messages that are merely stale are dropped with 0. */
int st_cons__handle_vote(st_cons_t *c, const uint8_t *from, const uint8_t *data, size_t len,
                         const char **why);
int st_cons__handle_proposal(st_cons_t *c, const uint8_t *from, const uint8_t *data,
                             size_t len, const char **why);
int st_cons__check_block(st_cons_t *c, st_cons__block_t *b, int64_t height,
                         const char **why);
int st_cons__apply_block(st_cons_t *c, st_cons__block_t *b, const uint8_t *commit,
                         size_t commit_len, int32_t round);
/* Rebuilds the precommits of block latest from its encoded commit, to be
 * carried in our next proposal (and extended by late precommits). */
void st_cons__set_last_commit(st_cons_t *c, const uint8_t *p, size_t n);
void st_cons__halt(st_cons_t *c);
void st_cons__halt_app_hash(st_cons_t *c, int64_t h, const uint8_t *theirs);
st_cons__vset_t *st_cons__vset_for(st_cons_t *c, int64_t height);

/* gossip.c */
void st_cons__send(st_cons_t *c, const uint8_t *to, const uint8_t *except, uint32_t channel,
                   uint32_t type, const void *data, size_t len);
void st_cons__ban(st_cons_t *c, const uint8_t peer[ST_ADDR_LEN], const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
void st_cons__broadcast_roundstep(st_cons_t *c);
void st_cons__on_cons_frame(st_cons_t *c, const st_net_frame_t *f);
st_cons__peer_t *st_cons__peer_get(st_cons_t *c, const uint8_t addr[ST_ADDR_LEN], bool create);

/* blocksync.c */
void st_cons__on_sync_frame(st_cons_t *c, const st_net_frame_t *f);
void st_cons__sync_tick(st_cons_t *c);
/* Drops the requests below our height (all of them: sync_free). */
void st_cons__sync_reset(st_cons_t *c);
void st_cons__sync_free(st_cons_t *c);

/* evidence.c */
void st_cons__evidence_found(st_cons_t *c, const st_cons__vote_t *x, const st_cons__vote_t *y);
void st_cons__evidence_on_msg(st_cons_t *c, const uint8_t *peer, const uint8_t *data,
                              size_t len);
/* Checks the evidence of a block at height (form was checked by decode):
 * ST_EPROTO for forged evidence, ST_EINVAL for evidence that is merely not
 * admissible now (old, already committed, repeated). */
int st_cons__evidence_check_block(st_cons_t *c, const Stratos__Cons__Block *b,
                                  int64_t height, const char **why);
/* Fills the block's evidence for the application (malloc'd array). */
int st_cons__evidence_for_app(st_cons_t *c, const Stratos__Cons__Block *b,
                              st_cons_evidence_t **out, size_t *n);
int st_cons__evidence_committed(st_cons_t *c, st_txn_t *txn, const uint8_t *key);
int st_cons__evidence_record(st_cons_t *c, st_txn_t *txn, const Stratos__Cons__Block *b,
                             const st_cons_evidence_t *apps, int64_t height);
void st_cons__evidence_pool_prune(st_cons_t *c);
void st_cons__evidence_pool_free(st_cons_t *c);
/* Picks pool evidence for a block at height. */
size_t st_cons__evidence_pick(st_cons_t *c, int64_t height, Stratos__Cons__Evidence **out,
                              size_t max);

/* store.c */
int st_cons__store_open(st_cons_t *c);
int st_cons__store_load(st_cons_t *c);
int st_cons__store_block(st_cons_t *c, st_txn_t *txn, int64_t h, const void **p, size_t *len);
int st_cons__store_commit(st_cons_t *c, st_txn_t *txn, int64_t h, const void **p, size_t *len);
int st_cons__store_vset(st_cons_t *c, st_txn_t *txn, int64_t h, st_cons__vset_t **out);
int st_cons__store_put_vset(st_cons_t *c, st_txn_t *txn, int64_t h, const st_cons__vset_t *v);
int st_cons__store_put_height(st_cons_t *c, st_txn_t *txn, st_cons__block_t *b,
                              const uint8_t *commit, size_t commit_len,
                              const uint8_t app_hash[ST_HASH_LEN],
                              const uint8_t results[ST_HASH_LEN]);
int st_cons__store_height_of(st_cons_t *c, st_txn_t *txn, const uint8_t hash[ST_HASH_LEN],
                             int64_t *h);
int st_cons__store_block_time(st_cons_t *c, st_txn_t *txn, int64_t h, int64_t *time_ms);

/* rpc.c: each query answers one method. It fills *res (the caller owns
 * it) and returns 0, or writes a sentence into err and returns a JSON-RPC
 * error code (-32602 for bad params). */
void st_cons__rpc_register(st_cons_t *c);
int st_cons__q_block(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap);
int st_cons__q_blockchain(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap);
int st_cons__q_commit(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap);
int st_cons__q_validators(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap);
int st_cons__q_consensus_state(st_cons_t *c, json_t *params, json_t **res, char *err,
                               size_t cap);
int st_cons__q_evidence(st_cons_t *c, json_t *params, json_t **res, char *err, size_t cap);

#endif
