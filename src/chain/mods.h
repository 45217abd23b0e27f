/* Inside the chain module only: the value chain's economic modules —
 * staking, distribution, slashing and governance — their records in the
 * state's module key space, and the calls the application makes into
 * them. docs/staking.md explains the rules; this header fixes the
 * encodings.
 *
 * Every record lives in ST_CHAIN__SP_STATE under a key that starts with
 * one kind byte (ST_K_*), followed by fixed-width big-endian fields, so
 * that prefix scans walk a kind in a useful order. Amounts are u128 (16
 * bytes BE), fractions u128 scaled by ST_DEC_ONE, heights and times
 * (ms) 8 bytes BE. */
#ifndef STRATOS_CHAIN_MODS_H
#define STRATOS_CHAIN_MODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stratos/st_bytes.h>
#include "chain/chain_private.h"

/* One unit of consensus power per STOS bonded. */
#define ST_POWER_REDUCTION ((st_u128)1000000000000000000ULL)

#define ST_MONIKER_MAX 64
#define ST_TITLE_MAX 140
#define ST_DESCRIPTION_MAX 4096
#define ST_PROPOSAL_CHANGES_MAX 16

/* ---- record kinds (first key byte) ---- */
enum {
  ST_K_PARAMS = 0x01,     /* "P" -> canonical JSON of every parameter */
  ST_K_COUNTER = 0x02,    /* 0x02 name -> u64: "seq", "proposal" */
  ST_K_VAL = 0x10,        /* operator(20) -> st_val_t */
  ST_K_VAL_CONS = 0x11,   /* consensus address(20) -> operator(20) */
  ST_K_VAL_POWER = 0x12,  /* ~power(8) operator(20) -> "" : candidates, highest first */
  ST_K_VAL_LAST = 0x13,   /* operator(20) -> power(8): the bonded set */
  ST_K_VAL_QUEUE = 0x14,  /* time(8) operator(20) -> "" : unbonding validators */
  ST_K_DEL = 0x20,        /* delegator(20) operator(20) -> shares(16) */
  ST_K_DEL_BY_VAL = 0x21, /* operator(20) delegator(20) -> "" */
  ST_K_UBD = 0x22,        /* delegator(20) operator(20) height(8) seq(8) -> st_ubd_t */
  ST_K_UBD_BY_VAL = 0x23, /* operator(20) delegator(20) height(8) seq(8) -> "" */
  ST_K_UBD_QUEUE = 0x24,  /* time(8) delegator(20) operator(20) height(8) seq(8) -> "" */
  ST_K_RED = 0x25,        /* delegator(20) src(20) dst(20) height(8) seq(8) -> st_red_t */
  ST_K_RED_BY_SRC = 0x26, /* src(20) delegator(20) dst(20) height(8) seq(8) -> "" */
  ST_K_RED_QUEUE = 0x27,  /* time(8) delegator(20) src(20) dst(20) height(8) seq(8) -> "" */
  ST_K_SIGN_INFO = 0x30,  /* consensus address(20) -> st_sign_info_t */
  ST_K_MISSED = 0x31,     /* consensus address(20) chunk(4) -> 128-byte bitmap */
  ST_K_D_CUR = 0x40,      /* operator(20) -> period(8) rewards(16) */
  ST_K_D_HIST = 0x41,     /* operator(20) period(8) -> cumulative ratio(16) refs(4) */
  ST_K_D_COMM = 0x42,     /* operator(20) -> accumulated commission(16) */
  ST_K_D_START = 0x43,    /* delegator(20) operator(20) -> period(8) stake(16) height(8) */
  ST_K_D_SLASH = 0x44,    /* operator(20) height(8) period(8) -> fraction(16) */
  ST_K_D_OUT = 0x45,      /* operator(20) -> rewards owed, commission included(16) */
  ST_K_GOV_PROP = 0x50,   /* id(8) -> canonical JSON of the proposal */
  ST_K_GOV_DEP = 0x51,    /* id(8) depositor(20) -> amount(16) */
  ST_K_GOV_VOTE = 0x52,   /* id(8) voter(20) -> option(1) */
  ST_K_GOV_QDEP = 0x53,   /* deposit end time(8) id(8) -> "" */
  ST_K_GOV_QVOTE = 0x54,  /* voting end time(8) id(8) -> "" */
  ST_K_RES_NODE = 0x60,   /* node address(20) -> st_res_node_t (register.c) */
  ST_K_META_NODE = 0x61,  /* node address(20) -> st_meta_node_t (register.c) */
  ST_K_META_VOTE = 0x62,  /* candidate(20) voter(20) -> approve(1) */
  ST_K_META_KICK = 0x63,  /* target(20) voter(20) -> kick(1) */
  ST_K_NODE_UBD = 0x64,   /* time(8) node(20) seq(8) -> owner(20) amount(16) */
  ST_K_SDS_POOL = 0x70,   /* "" -> S(16) Pt(16) Lt(16) (sds.c) */
  ST_K_EVENT = 0x80,      /* height(8) seq(4) -> st_event encoding: the meta chain's feed */
  ST_K_TRAFFIC = 0x90,    /* 'e' -> last accepted epoch(8); 'm' -> total mined(16);
                           * 's' -> last accepted slash seq(8) */
  ST_K_TR_REPORT = 0x91,  /* epoch(8) -> what the report paid, then its bytes (traffic.c) */
  ST_K_TR_IMM = 0x92,     /* wallet(20) epoch(8) -> immature reward(16) */
  ST_K_TR_DUE = 0x93,     /* epoch(8) wallet(20) -> "" : immature rewards by epoch */
  ST_K_TR_ACCT = 0x94,    /* wallet(20) -> matured(16) withdrawn(16) */
};

/* ---- events for the meta chain ----
 * What the value chain tells the meta chain happened at a height, in
 * order: one record per event under ST_K_EVENT|height|seq, written by the
 * messages and block steps that cause them, covered by the app hash like
 * every record. A meta block names the value height up to which it has
 * applied them. Encoding: kind(1) then the kind's fixed fields. */
enum {
  ST_EV_PREPAY = 1,       /* tx hash(32) beneficiary(20) noz(16) */
  ST_EV_RES_NODE = 2,     /* node(20) pubkey(32) owner(20) type(1) capacity(8)
                             deposit(16) status(1) suspended(1) addr_len(1)
                             network_address: created or changed */
  ST_EV_META_NODE = 3,    /* node(20) pubkey(32) owner(20) deposit(16) status(1) */
};
/* Node statuses in events and records. */
enum { ST_NODE_ACTIVE = 1, ST_NODE_PENDING = 2, ST_NODE_REMOVED = 3, ST_NODE_REJECTED = 4,
       ST_NODE_KICKED = 5 };
/* Appends an event of the block being applied (c->height). */
int st_chain__event_add(st_chain__ctx_t *c, uint8_t kind, const void *payload, size_t len);

/* ---- module accounts ----
 * Tokens that belong to no one yet sit in ordinary accounts whose
 * addresses are st_hash(ST_DOM_MODULE, name)[0..20): "bonded_pool",
 * "not_bonded_pool", "distribution" (fees and rewards not yet paid),
 * "community_pool", "gov" (deposits). Their balances show in `account`
 * like any other. */
enum { ST_MACC_BONDED, ST_MACC_NOT_BONDED, ST_MACC_DISTR, ST_MACC_COMMUNITY, ST_MACC_GOV,
       ST_MACC_N };
const uint8_t *st_chain__macc(int which);
const char *st_chain__macc_name(int which);
/* Whether addr is a module account (sends to one are refused: the wei
 * would be outside every module's books). */
bool st_chain__is_macc(const uint8_t addr[ST_ADDR_LEN]);

/* ---- validators ---- */

enum { ST_VAL_UNBONDED = 0, ST_VAL_UNBONDING = 1, ST_VAL_BONDED = 2 };

typedef struct st_val {
  uint8_t operator_[ST_ADDR_LEN];
  uint8_t pubkey[ST_PUBKEY_LEN];  /* consensus key */
  uint8_t cons_addr[ST_ADDR_LEN]; /* address of pubkey (not stored) */
  uint8_t status;
  bool jailed;
  st_u128 tokens;
  st_u128 shares;                 /* delegator shares issued */
  st_u128 rate, max_rate, max_change_rate;
  int64_t rate_updated_ms;
  st_u128 min_self_delegation;
  int64_t unbonding_height;
  int64_t unbonding_time_ms;      /* when an unbonding validator becomes unbonded */
  int64_t created_height;
  char moniker[ST_MONIKER_MAX + 1];
} st_val_t;

typedef struct st_ubd {
  int64_t completion_ms;
  st_u128 initial;
  st_u128 balance;
} st_ubd_t;

typedef struct st_red {
  int64_t completion_ms;
  st_u128 initial;     /* tokens moved */
  st_u128 shares_dst;  /* shares received at dst */
} st_red_t;

typedef struct st_sign_info {
  int64_t start_height;
  int64_t index;         /* blocks counted since start (bitmap position) */
  int64_t missed;        /* set bits in the bitmap */
  int64_t jailed_until_ms;
  bool tombstoned;
} st_sign_info_t;

/* Writes a refusal into ctx->log and returns code. */
int st_chain__refuse(st_chain__ctx_t *c, int code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

/* Moves amount between accounts; ST_EPERM with a log line when from
 * holds less. */
int st_chain__xfer(st_chain__ctx_t *c, const uint8_t from[ST_ADDR_LEN],
                   const uint8_t to[ST_ADDR_LEN], st_u128 amount);
/* Burns amount from an account (slashing). */
int st_chain__burn(st_chain__ctx_t *c, const uint8_t from[ST_ADDR_LEN], st_u128 amount);

/* Key builders: write the key into k and return its length. */
size_t st_chain__k1(uint8_t *k, uint8_t kind, const uint8_t a[ST_ADDR_LEN]);
size_t st_chain__k2(uint8_t *k, uint8_t kind, const uint8_t a[ST_ADDR_LEN],
                    const uint8_t b[ST_ADDR_LEN]);

/* Fixed-width field helpers over a cursor. */
void st_chain__put128(uint8_t *p, st_u128 v);
st_u128 st_chain__get128(const uint8_t *p);

/* Records. get gives ST_ENOENT for a missing record. */
int st_chain__val_get(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN], st_val_t *v);
int st_chain__val_put(st_chain__ctx_t *c, const st_val_t *v);
int st_chain__val_by_cons(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN],
                          st_val_t *v);
int st_chain__del_get(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                      const uint8_t op[ST_ADDR_LEN], st_u128 *shares);
int st_chain__sign_info_get(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN],
                            st_sign_info_t *s);
int st_chain__sign_info_put(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN],
                            const st_sign_info_t *s);
#define ST_UBD_LEN 40 /* completion(8) initial(16) balance(16) */
#define ST_RED_LEN 40 /* completion(8) initial(16) shares_dst(16) */
void st_chain__ubd_decode(const uint8_t *v, st_ubd_t *u);
void st_chain__ubd_encode(const st_ubd_t *u, uint8_t v[ST_UBD_LEN]);
void st_chain__red_decode(const uint8_t *v, st_red_t *r);
void st_chain__red_encode(const st_red_t *r, uint8_t v[ST_RED_LEN]);
/* Returns the counter's value and stores value + 1 ("seq", "proposal"). */
int st_chain__counter_next(st_chain__ctx_t *c, const char *name, uint64_t *out);

/* tokens of a number of shares of v (rounded down). */
st_u128 st_chain__val_tokens_of(const st_val_t *v, st_u128 shares);
/* Consensus power of v: tokens / ST_POWER_REDUCTION (0 when jailed). */
int64_t st_chain__val_power(const st_val_t *v);

/* ---- the messages (staking.c, distr.c, gov.c) ----
 * Each runs one decoded message of sender against c->ov; on refusal it
 * returns an ST_E* code with a sentence in c->log, and the caller rolls
 * the overlay back. body is the decoded Stratos__Tx__TxBody. */
struct Stratos__Tx__TxBody;
int st_chain__staking_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                           const struct Stratos__Tx__TxBody *body);
int st_chain__gov_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                       const struct Stratos__Tx__TxBody *body);
int st_chain__register_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                            const struct Stratos__Tx__TxBody *body);
int st_chain__sds_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                       const struct Stratos__Tx__TxBody *body);
int st_chain__traffic_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                           const struct Stratos__Tx__TxBody *body);

/* ---- traffic (traffic.c, docs/traffic.md) ---- */

#define ST_TRAFFIC_MAX_ENTRIES 4096 /* entries of one volume report */
#define ST_TRAFFIC_MAX_SIGS 1024    /* signatures carried by one MsgVolumeReport */
#define ST_TRAFFIC_BPS 10000        /* basis points of a whole */

/* A row of the mining schedule: while the total mined is below upto,
 * each epoch mines reward, split res/meta/val basis points. Past the
 * last row nothing is mined and the last row's split holds. */
typedef struct st_traffic_tier {
  int index;          /* 0-based row; 6 past the table */
  st_u128 upto;       /* wei */
  st_u128 reward;     /* wei per epoch */
  uint32_t res_bps, meta_bps, val_bps;
} st_traffic_tier_t;
void st_chain__traffic_tier(st_u128 mined, st_traffic_tier_t *t);

/* What an accepted report paid (ST_K_TR_REPORT): r out of the prepay
 * pool, m out of the foundation pool; r + m = tax + resource + meta +
 * validators, to the wei. r_formula is (S + Pt) * Y / (Lt + Y) before
 * the caps and the rounding remainders. */
typedef struct st_traffic_paid {
  int64_t height;
  uint32_t signers, active;
  st_u128 volume, r_formula, r, m, tax, resource, meta, validators;
} st_traffic_paid_t;

/* The last accepted epoch (*any false before the first) and the total
 * mined so far. */
int st_chain__traffic_state(st_chain__ctx_t *c, bool *any, uint64_t *last, st_u128 *mined);
/* The seq of the last MsgSlashResourceNode accepted (0: none). */
int st_chain__traffic_slash_last(st_chain__ctx_t *c, uint64_t *seq);
/* The record of an accepted report: what it paid and the report's bytes
 * (borrowed until the overlay changes). ST_ENOENT if none. */
int st_chain__traffic_report_get(st_chain__ctx_t *c, uint64_t epoch, st_traffic_paid_t *paid,
                                 const uint8_t **report, size_t *len);
/* A wallet's matured (withdrawable) rewards and its withdrawn total. */
int st_chain__traffic_acct_get(st_chain__ctx_t *c, const uint8_t wallet[ST_ADDR_LEN],
                               st_u128 *matured, st_u128 *withdrawn);

/* ---- staking (staking.c) ---- */

/* Delegates amount of del's balance to v (already read): issues shares,
 * moves tokens into the pool of v's status, settles del's rewards first.
 * Writes v back. */
int st_chain__delegate(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN], st_val_t *v,
                       st_u128 amount);

/* End of block: matures unbonding delegations, redelegations and
 * validators whose time has come (c->time_ms is the block's time), then
 * picks the bonded set (top max_validators by power, never jailed, never
 * empty) and, when it differs from the last one, fills next and sets
 * *changed. */
int st_chain__staking_end_block(st_chain__ctx_t *c, st_cons_valset_t *next, bool *changed);

/* Slashes validator v for an infraction at infraction_height with the
 * given power then: amount = power * ST_POWER_REDUCTION * fraction (the
 * fraction being ST_DEC_ONE-scaled, this is power * fraction exactly).
 * Unbonding delegations and redelegations away from v that started at
 * or after infraction_height pay their share first; the rest comes from
 * v's tokens. Burns what it takes. Writes v back. */
int st_chain__slash(st_chain__ctx_t *c, st_val_t *v, int64_t infraction_height,
                    int64_t power, st_u128 fraction);

/* Jails v: out of the candidates, out of the bonded set at the next end
 * block. Writes v back. */
int st_chain__jail(st_chain__ctx_t *c, st_val_t *v);

/* ---- slashing (slashing.c) ---- */

/* Start of block: downtime from b->last_valset/last_signed, double signs
 * from b->evidence. */
int st_chain__slashing_begin_block(st_chain__ctx_t *c, const st_cons_block_t *b);
/* A new validator's signing info (called by CreateValidator). */
int st_chain__slashing_init(st_chain__ctx_t *c, const uint8_t cons[ST_ADDR_LEN]);

/* ---- distribution (distr.c) ---- */

/* Sets up the reward records of a new validator. */
int st_chain__distr_val_init(st_chain__ctx_t *c, const uint8_t op[ST_ADDR_LEN]);
/* Settles the rewards of (del, v) — pays them to del — and closes v's
 * period; call before changing the delegation's shares or v's tokens
 * per share. */
int st_chain__distr_settle(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                           const st_val_t *v);
/* Opens a new starting record for (del, v) after its shares changed
 * (removes it when the delegation is gone). */
int st_chain__distr_restart(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                            const st_val_t *v);
/* Records a slash of v by fraction (closing v's period first). */
int st_chain__distr_on_slash(st_chain__ctx_t *c, const st_val_t *v, st_u128 fraction);
/* Pays v's operator its accumulated commission. */
int st_chain__distr_withdraw_commission(st_chain__ctx_t *c, const st_val_t *v,
                                        st_u128 *paid);
/* End of block: hands the fees collected in the distribution account
 * during this block (fees) to the bonded validators by power. */
int st_chain__distr_end_block(st_chain__ctx_t *c, st_u128 fees);
/* What (del, v) would withdraw now, without changing anything. */
int st_chain__distr_pending(st_chain__ctx_t *c, const uint8_t del[ST_ADDR_LEN],
                            const st_val_t *v, st_u128 *rewards);

/* ---- governance (gov.c) ---- */

/* End of block: closes deposit periods and voting periods that ended by
 * c->time_ms; a passed proposal's changes are applied to the params
 * record; *params_changed tells the caller to reload them. */
int st_chain__gov_end_block(st_chain__ctx_t *c, bool *params_changed);

/* The proposal record as JSON (caller decrefs); ST_ENOENT if missing. */
int st_chain__gov_get(st_chain__ctx_t *c, uint64_t id, json_t **prop);
/* The live tally of a proposal: out = {yes, abstain, no, no_with_veto}
 * in tokens, and the bonded tokens it is measured against. */
int st_chain__gov_tally(st_chain__ctx_t *c, uint64_t id, st_u128 out[4], st_u128 *bonded);

/* ---- queries (query.c): the JSON-RPC methods of the modules ---- */

void st_chain__query_register(st_chain_t *ch, st_rpc_t *rpc);
#define ST_CHAIN__Q(name)                                                           \
  int st_chain__q_##name(st_chain_t *ch, json_t *params, json_t **result, char *err, \
                         size_t errcap)
ST_CHAIN__Q(validators);
ST_CHAIN__Q(validator);
ST_CHAIN__Q(delegations);
ST_CHAIN__Q(unbonding);
ST_CHAIN__Q(redelegations);
ST_CHAIN__Q(rewards);
ST_CHAIN__Q(proposals);
ST_CHAIN__Q(proposal);
ST_CHAIN__Q(params);
ST_CHAIN__Q(pools);
ST_CHAIN__Q(traffic_report);
ST_CHAIN__Q(traffic_rewards);
ST_CHAIN__Q(foundation);
#undef ST_CHAIN__Q

/* ---- params ---- */

/* The params record as a JSON object with every field (caller decrefs). */
json_t *st_chain__params_json(const st_chain__params_t *p);
/* Parses a full params object (the shape of genesis "params") over the
 * defaults, keeping chain id and genesis time from base. */
int st_chain__params_parse(json_t *params, const st_chain__params_t *base,
                           st_chain__params_t *out, char *err, size_t errcap);
/* Reads the params record (ST_ENOENT before genesis wrote it). */
int st_chain__params_load(st_chain__ctx_t *c, const st_chain__params_t *base,
                          st_chain__params_t *out);
int st_chain__params_store(st_chain__ctx_t *c, const st_chain__params_t *p);

#endif
