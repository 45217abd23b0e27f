/* JSON-RPC 2.0 over HTTP POST. Modules register methods; a method answers
 * now or later (after a bus round trip) through its call handle. Batches
 * are answered once every call in them has answered. */
#ifndef STRATOS_ST_RPC_H
#define STRATOS_ST_RPC_H

#include <jansson.h>
#include <stratos/st_bus.h>

typedef struct st_rpc st_rpc_t;
typedef struct st_rpc_call st_rpc_call_t;

/* Standard JSON-RPC 2.0 error codes. */
enum {
  ST_RPC_PARSE_ERROR = -32700,
  ST_RPC_INVALID_REQUEST = -32600,
  ST_RPC_METHOD_NOT_FOUND = -32601,
  ST_RPC_INVALID_PARAMS = -32602,
  ST_RPC_INTERNAL_ERROR = -32603,
};

/* A method. params is borrowed until the call is answered (an object, an
 * array, or NULL when absent). */
typedef void (*st_rpc_method_fn)(st_rpc_call_t *call, json_t *params, void *ud);

int st_rpc_register(st_rpc_t *rpc, const char *name, st_rpc_method_fn fn, void *ud);

/* Answers the call with result (the reference is stolen). */
void st_rpc_result(st_rpc_call_t *call, json_t *result);
/* Answers the call with an error; data may be NULL (stolen otherwise). */
void st_rpc_error(st_rpc_call_t *call, int code, const char *message, json_t *data);

/* Decodes one JSON-RPC request body: validates the envelope and returns
 * either the list of calls (a single call is a list of one) in *calls or
 * a ready error response in *err_resp. Exposed for tests and fuzzing.
 * is_batch tells whether the body was an array. Caller decrefs both. */
int st_rpc_decode(const char *body, size_t len, json_t **calls, int *is_batch,
                  json_t **err_resp);

/* Checks named parameters: params may be absent, an empty array, or an
 * object whose keys are all in allowed (NULL-terminated; NULL allows
 * none). Returns 0, or ST_RPC_INVALID_PARAMS with a sentence in err that
 * begins "invalid params: " and names the offending key. */
int st_rpc_check_params(json_t *params, const char *const *allowed, char *err, size_t cap);

/* A JSON string holding the standard base64 of p[0..n) (for tx bytes and
 * signatures in results). */
json_t *st_rpc_base64(const void *p, size_t n);

/* Publishes an event to WebSocket subscribers through the bus. type is
 * the event name ("NewBlock", "Tx", ...); attrs (stolen) is an object of
 * string attributes that queries match, e.g. {"tx.hash": "ab12..."};
 * data (stolen) is what subscribers receive. Thread-safe. */
int st_rpc_publish(st_bus_t *bus, st_mod_id from, const char *type, json_t *attrs,
                   json_t *data);

/* Builds one event for st_rpc_publish_many (attrs and data stolen). */
json_t *st_rpc_event(const char *type, json_t *attrs, json_t *data);

/* Whether some WebSocket subscription now could match an event of type
 * (its query has no tm.event condition, or tm.event=type): publishers skip
 * building events nobody would receive. */
int st_rpc_wants(const st_rpc_t *rpc, const char *type);

/* Publishes an array of events (stolen) in one bus message, so that a
 * block's thousands of tx events cost one queue slot. */
int st_rpc_publish_many(st_bus_t *bus, st_mod_id from, json_t *events);

/* The module's hooks: init creates the server and sets node->rpc, start
 * listens on rpc.laddr. */
extern const st_module_t st_rpc_module;

#endif
