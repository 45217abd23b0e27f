/* Inside the chain module only: the query kit, what the JSON-RPC query
 * files (query.c, query_nodes.c, rpc.c) share so that each states only
 * its own queries.
 *
 * A query takes its named parameters, checks them strictly and answers 0
 * with *result, or a JSON-RPC error code with a sentence in err: invalid
 * params for what the caller got wrong, internal error for a state that
 * cannot be read. Parameters set to JSON null count as absent. Lists are
 * paged like the engine's validator_set: page (from 1) and per_page (30,
 * at most 100), with the total count. */
#ifndef STRATOS_CHAIN_QKIT_H
#define STRATOS_CHAIN_QKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "chain/chain_private.h"

/* ---- errors ---- */

/* "invalid params: " and the sentence; returns ST_RPC_INVALID_PARAMS. */
int st_qk_perr(char *err, size_t cap, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* "cannot read <what>: <reason of rc>"; returns ST_RPC_INTERNAL_ERROR. */
int st_qk_cannot(char *err, size_t cap, const char *what, int rc);
/* st_qk_cannot of "the state", where the module records live. */
int st_qk_ierr(char *err, size_t cap, int rc);

/* ---- parameters ---- */

/* The parameter name of params, NULL when absent or null. */
json_t *st_qk_param(json_t *params, const char *name);
/* An optional non-negative integer given as a JSON integer or a decimal
 * string; *present tells whether it was given. */
int st_qk_num(json_t *params, const char *name, int64_t *out, bool *present, char *err,
              size_t cap);
/* An optional string that must be one of names (NULL-terminated); *idx
 * is -1 when absent. */
int st_qk_enum(json_t *params, const char *name, const char *const *names, int *idx,
               char *err, size_t cap);
/* An optional address of hrp (ST_HRP_WALLET: st1..., ST_HRP_NODE:
 * stsds1...); *present tells whether it was given. */
int st_qk_addr(json_t *params, const char *name, const char *hrp, uint8_t out[ST_ADDR_LEN],
               bool *present, char *err, size_t cap);
/* The same, required. */
int st_qk_addr_required(json_t *params, const char *name, const char *hrp,
                        uint8_t out[ST_ADDR_LEN], char *err, size_t cap);

/* ---- JSON values ---- */

/* Amounts as decimal strings of wei, fractions as 18-digit decimal
 * strings, addresses in the form of hrp ("" if they cannot be encoded),
 * bytes (up to 64) as lowercase hex. */
json_t *st_qk_u128_json(st_u128 v);
json_t *st_qk_dec_json(st_u128 v);
json_t *st_qk_addr_json(const char *hrp, const uint8_t a[ST_ADDR_LEN]);
json_t *st_qk_hex_json(const uint8_t *p, size_t n);

/* ---- reading ---- */

/* The committed state in one read transaction, through an overlay, so
 * that the modules' record getters serve the queries too and an answer
 * never mixes two heights. c is a context at the last committed height. */
typedef struct st_qk_reader {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_chain__ctx_t c;
  char log[ST_CHAIN__LOG_MAX];
} st_qk_reader_t;

int st_qk_open(st_chain_t *ch, st_qk_reader_t *r, char *err, size_t cap);
void st_qk_close(st_qk_reader_t *r);

/* ---- paged lists ---- */

/* Item i of a list as JSON, or NULL with *rc the state error. */
typedef json_t *(*st_qk_item_fn)(void *ud, size_t i, int *rc);

/* Answers the page that params ask for of total items:
 * {"<name>": [item(first) ...], "total": total}. */
int st_qk_list(json_t *params, size_t total, const char *name, st_qk_item_fn item, void *ud,
               json_t **result, char *err, size_t cap);

/* ---- methods ---- */

/* A synchronous query behind a JSON-RPC method. */
typedef int (*st_qk_fn)(st_chain_t *ch, json_t *params, json_t **result, char *err,
                        size_t cap);

/* Answers call with what fn says: its result or its error. */
void st_qk_answer(st_rpc_call_t *call, json_t *params, st_chain_t *ch, st_qk_fn fn);

/* Defines m_<name>, the method that answers with st_chain__q_<name>
 * (st_rpc passes the chain as the method's user data). */
#define ST_QK_METHOD(name)                                      \
  static void m_##name(st_rpc_call_t *c, json_t *p, void *ud) { \
    st_qk_answer(c, p, ud, st_chain__q_##name);                 \
  }

typedef struct st_qk_method {
  const char *name;
  st_rpc_method_fn fn;
} st_qk_method_t;

/* Registers the n methods m with ch as their user data; one that cannot
 * be registered is logged and skipped. */
void st_qk_register(st_rpc_t *rpc, st_chain_t *ch, const st_qk_method_t *m, size_t n);

#endif
