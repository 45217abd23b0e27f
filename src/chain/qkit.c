/* The query kit (qkit.h): errors, parameters, JSON values, the reader,
 * paged lists and method tables of the chain's JSON-RPC queries. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "chain/qkit.h"

#define PER_PAGE_DEFAULT 30
#define PER_PAGE_MAX 100

/* ---- errors ---- */

int st_qk_perr(char *err, size_t cap, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(err, cap, "invalid params: ");
  if (n > 0 && (size_t)n < cap) {
    va_start(ap, fmt);
    vsnprintf(err + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return ST_RPC_INVALID_PARAMS;
}

int st_qk_cannot(char *err, size_t cap, const char *what, int rc) {
  snprintf(err, cap, "cannot read %s: %s", what, st_strerror(rc));
  return ST_RPC_INTERNAL_ERROR;
}

int st_qk_ierr(char *err, size_t cap, int rc) {
  return st_qk_cannot(err, cap, "the state", rc);
}

/* ---- parameters ---- */

json_t *st_qk_param(json_t *params, const char *name) {
  json_t *v = json_is_object(params) ? json_object_get(params, name) : NULL;
  return json_is_null(v) ? NULL : v;
}

/* Up to 18 digits, so that the value fits an int64_t. */
static bool decimal(const char *s, size_t n, int64_t *out) {
  bool ok = n > 0 && n <= 18;
  int64_t x = 0;
  for (size_t i = 0; ok && i < n; i++) {
    ok = s[i] >= '0' && s[i] <= '9';
    x = x * 10 + (s[i] - '0');
  }
  if (ok)
    *out = x;
  return ok;
}

int st_qk_num(json_t *params, const char *name, int64_t *out, bool *present, char *err,
              size_t cap) {
  json_t *v = st_qk_param(params, name);
  *present = v != NULL;
  if (!v)
    return 0;
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (int64_t)json_integer_value(v);
    return 0;
  }
  if (json_is_string(v) && decimal(json_string_value(v), json_string_length(v), out))
    return 0;
  return st_qk_perr(err, cap, "%s must be a non-negative integer or a decimal string", name);
}

int st_qk_enum(json_t *params, const char *name, const char *const *names, int *idx,
               char *err, size_t cap) {
  json_t *v = st_qk_param(params, name);
  *idx = -1;
  if (!v)
    return 0;
  for (int i = 0; json_is_string(v) && names[i]; i++)
    if (strcmp(json_string_value(v), names[i]) == 0) {
      *idx = i;
      return 0;
    }
  /* "a", "b" or "c" */
  char list[160] = "";
  size_t off = 0;
  for (int i = 0; names[i] && off < sizeof(list); i++)
    off += (size_t)snprintf(list + off, sizeof(list) - off, "%s\"%s\"",
                            i == 0 ? "" : names[i + 1] ? ", " : " or ", names[i]);
  return st_qk_perr(err, cap, "%s must be %s", name, list);
}

int st_qk_addr(json_t *params, const char *name, const char *hrp, uint8_t out[ST_ADDR_LEN],
               bool *present, char *err, size_t cap) {
  json_t *a = st_qk_param(params, name);
  *present = a != NULL;
  if (!a || (json_is_string(a) && st_addr_decode(json_string_value(a), hrp, out) == 0))
    return 0;
  if (strcmp(hrp, ST_HRP_NODE) == 0)
    return st_qk_perr(err, cap, "%s must be an stsds1... node address", name);
  return st_qk_perr(err, cap, "%s must be an st1... address", name);
}

int st_qk_addr_required(json_t *params, const char *name, const char *hrp,
                        uint8_t out[ST_ADDR_LEN], char *err, size_t cap) {
  bool present;
  int rc = st_qk_addr(params, name, hrp, out, &present, err, cap);
  if (rc == 0 && !present)
    return st_qk_perr(err, cap, "%s is required", name);
  return rc;
}

/* ---- JSON values ---- */

json_t *st_qk_u128_json(st_u128 v) {
  char s[ST_U128_STR_MAX];
  st_u128_format(v, s);
  return json_string(s);
}

json_t *st_qk_dec_json(st_u128 v) {
  char s[ST_DEC_STR_MAX];
  st_dec_format(v, s);
  return json_string(s);
}

json_t *st_qk_addr_json(const char *hrp, const uint8_t a[ST_ADDR_LEN]) {
  char s[ST_ADDR_STR_MAX];
  if (st_addr_encode(hrp, a, s, sizeof(s)) != 0)
    return json_string("");
  return json_string(s);
}

json_t *st_qk_hex_json(const uint8_t *p, size_t n) {
  char hex[2 * 64 + 1];
  if (st_hex_encode(p, n, hex, sizeof(hex)) != 0)
    return json_string("");
  return json_string(hex);
}

/* ---- reading ---- */

int st_qk_open(st_chain_t *ch, st_qk_reader_t *r, char *err, size_t cap) {
  int64_t height = 0;
  memset(r, 0, sizeof(*r));
  int rc = st_txn_begin(ch->st.store, false, &r->txn);
  if (rc != 0)
    return st_qk_ierr(err, cap, rc);
  if ((rc = st_chain__meta_get(&ch->st, r->txn, &height, NULL)) != 0) {
    st_txn_abort(r->txn);
    return st_qk_ierr(err, cap, rc);
  }
  st_chain__ov_init(&r->ov, &ch->st, r->txn);
  r->c.ov = &r->ov;
  r->c.p = &ch->gen.p;
  r->c.height = height;
  r->c.time_ms = 0;
  r->c.log = r->log;
  r->c.logcap = sizeof(r->log);
  return 0;
}

void st_qk_close(st_qk_reader_t *r) {
  st_chain__ov_free(&r->ov);
  st_txn_abort(r->txn);
}

/* ---- paged lists ---- */

/* Reads page and per_page against total items: [*first, *first + *count). */
static int page_params(json_t *params, size_t total, size_t *first, size_t *count,
                       char *err, size_t cap) {
  int64_t page = 1, per = PER_PAGE_DEFAULT;
  bool hp, hpp;
  int rc;
  if ((rc = st_qk_num(params, "page", &page, &hp, err, cap)) != 0 ||
      (rc = st_qk_num(params, "per_page", &per, &hpp, err, cap)) != 0)
    return rc;
  if (per < 1 || per > PER_PAGE_MAX)
    return st_qk_perr(err, cap, "per_page must be between 1 and %d", PER_PAGE_MAX);
  int64_t pages = total == 0 ? 1 : (int64_t)((total + (size_t)per - 1) / (size_t)per);
  if (page < 1 || page > pages)
    return st_qk_perr(err, cap,
                      "page %" PRId64 " is out of range; there %s %" PRId64 " page%s", page,
                      pages == 1 ? "is" : "are", pages, pages == 1 ? "" : "s");
  *first = (size_t)((page - 1) * per);
  *count = total - *first < (size_t)per ? total - *first : (size_t)per;
  return 0;
}

int st_qk_list(json_t *params, size_t total, const char *name, st_qk_item_fn item, void *ud,
               json_t **result, char *err, size_t cap) {
  size_t first = 0, count = 0;
  int rc = page_params(params, total, &first, &count, err, cap);
  if (rc != 0)
    return rc;
  json_t *list = json_array();
  for (size_t i = first; i < first + count; i++) {
    json_t *j = item(ud, i, &rc);
    if (!j) {
      json_decref(list);
      return st_qk_ierr(err, cap, rc);
    }
    json_array_append_new(list, j);
  }
  *result = json_pack("{s:o,s:I}", name, list, "total", (json_int_t)total);
  return 0;
}

/* ---- methods ---- */

void st_qk_answer(st_rpc_call_t *call, json_t *params, st_chain_t *ch, st_qk_fn fn) {
  char err[256];
  json_t *res = NULL;
  err[0] = '\0';
  int code = fn(ch, params, &res, err, sizeof(err));
  if (code != 0)
    st_rpc_error(call, code, err, NULL);
  else
    st_rpc_result(call, res);
}

void st_qk_register(st_rpc_t *rpc, st_chain_t *ch, const st_qk_method_t *m, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int rc = st_rpc_register(rpc, m[i].name, m[i].fn, ch);
    if (rc != 0)
      ST_WARN("chain", "cannot register JSON-RPC method %s: %s", m[i].name, st_strerror(rc));
  }
}
