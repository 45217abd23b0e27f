/* The value chain's part of genesis.json: chain id, genesis time, the
 * consensus, mempool and auth parameters, the initial accounts and the
 * validators.
 *
 * Every field is checked here once, at start, so that the rest of the
 * module can trust what it holds; any error names the field it is about
 * ("accounts[3].balance: ...") and stops the node. Parameters left out
 * take the documented defaults; unknown keys inside the sections this
 * module owns are errors (a typo must not silently become a default),
 * while unknown top-level sections belong to later layers and are left
 * alone. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_net.h>
#include "chain/chain_private.h"

#define MAX_ACCOUNTS 100000
#define MAX_VALIDATORS 1000
#define MAX_POWER ((int64_t)1 << 50)
#define MAX_TIMEOUT_MS 600000
#define MAX_NAME 64
/* A proposal carries its header and commit beside the txs and must fit
 * one P2P frame; the engine allows txs half a frame. */
#define MAX_BLOCK_BYTES (ST_NET_MAX_PAYLOAD / 2)
#define MIN_BLOCK_BYTES 1024u
#define MAX_BLOCK_TXS 100000
#define MAX_TX_BYTES (1u << 20)
#define MIN_TX_BYTES 256u
#define MAX_MEMPOOL_TXS 1000000
#define MAX_MEMPOOL_BYTES ((size_t)4 << 30)
#define MAX_CACHE 1000000
#define MAX_MEMO 65536
/* 9999-12-31T23:59:59.999Z */
#define MAX_TIME_MS 253402300799999LL

static int fail(char *err, size_t cap, const char *field, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t cap, const char *field, const char *fmt, ...) {
  if (err && cap) {
    int n = snprintf(err, cap, "%s: ", field);
    if (n >= 0 && (size_t)n < cap) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + n, cap - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return ST_ECONFIG;
}

void st_chain__params_defaults(st_chain__params_t *p) {
  memset(p, 0, sizeof(*p));
  p->cons.timeout_propose = 1000;
  p->cons.timeout_propose_delta = 500;
  p->cons.timeout_prevote = 500;
  p->cons.timeout_prevote_delta = 250;
  p->cons.timeout_precommit = 500;
  p->cons.timeout_precommit_delta = 250;
  p->cons.timeout_commit = 500;
  p->cons.create_empty_blocks = true;
  p->cons.empty_blocks_interval = 0;
  p->cons.max_block_bytes = 4194304;
  p->cons.max_block_txs = 10000;
  p->max_txs = 20000;
  p->max_bytes = 67108864;
  p->max_tx_bytes = 65536;
  p->cache_size = 100000;
  p->min_fee_per_byte = 1000000000;
  p->max_memo_bytes = 256;
}

/* Refuses keys of obj that are not in allowed (NULL-terminated). */
static int only_keys(json_t *obj, const char *path, const char *const *allowed,
                     char *err, size_t cap) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    int ok = 0;
    for (size_t i = 0; allowed[i]; i++)
      if (strcmp(key, allowed[i]) == 0)
        ok = 1;
    if (!ok) {
      char f[160], k[65];
      st_chain__safe_str(key, strlen(key), k, sizeof(k));
      snprintf(f, sizeof(f), "%s%s%s", path, *path ? "." : "", k);
      return fail(err, cap, f, "unknown field");
    }
  }
  return 0;
}

/* Reads an optional integer field in [min, max]; *present tells whether
 * it was there. */
static int get_int(json_t *obj, const char *path, const char *key, long long min,
                   long long max, long long *out, char *err, size_t cap) {
  json_t *v = json_object_get(obj, key);
  char f[160];
  snprintf(f, sizeof(f), "%s%s%s", path, *path ? "." : "", key);
  if (!v)
    return 1;
  if (!json_is_integer(v))
    return fail(err, cap, f, "must be an integer from %lld to %lld", min, max);
  long long x = json_integer_value(v);
  if (x < min || x > max)
    return fail(err, cap, f, "%lld is out of range (%lld to %lld)", x, min, max);
  *out = x;
  return 0;
}

static int opt_u32(json_t *obj, const char *path, const char *key, long long min,
                   long long max, uint32_t *out, char *err, size_t cap) {
  long long x;
  int rc = get_int(obj, path, key, min, max, &x, err, cap);
  if (rc == 0)
    *out = (uint32_t)x;
  return rc < 0 ? rc : 0;
}

static int opt_size(json_t *obj, const char *path, const char *key, long long min,
                    long long max, size_t *out, char *err, size_t cap) {
  long long x;
  int rc = get_int(obj, path, key, min, max, &x, err, cap);
  if (rc == 0)
    *out = (size_t)x;
  return rc < 0 ? rc : 0;
}

/* Returns the section object at key, NULL when absent; a non-object is an
 * error. */
static int section(json_t *parent, const char *path, const char *key,
                   json_t **out, char *err, size_t cap) {
  json_t *v = json_object_get(parent, key);
  *out = NULL;
  if (!v)
    return 0;
  if (!json_is_object(v)) {
    char f[96];
    snprintf(f, sizeof(f), "%s%s%s", path, *path ? "." : "", key);
    return fail(err, cap, f, "must be an object");
  }
  *out = v;
  return 0;
}

static int parse_consensus(json_t *c, st_cons_params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {
    "timeout_propose_ms", "timeout_propose_delta_ms", "timeout_prevote_ms",
    "timeout_prevote_delta_ms", "timeout_precommit_ms", "timeout_precommit_delta_ms",
    "timeout_commit_ms", "create_empty_blocks", "empty_blocks_interval_ms",
    "max_block_bytes", "max_block_txs", NULL};
  const char *path = "params.consensus";
  int rc;
  if ((rc = only_keys(c, path, keys, err, cap)) != 0)
    return rc;
  struct {
    const char *key;
    long long min;
    uint32_t *dst;
  } t[] = {
    {"timeout_propose_ms", 1, &p->timeout_propose},
    {"timeout_propose_delta_ms", 0, &p->timeout_propose_delta},
    {"timeout_prevote_ms", 1, &p->timeout_prevote},
    {"timeout_prevote_delta_ms", 0, &p->timeout_prevote_delta},
    {"timeout_precommit_ms", 1, &p->timeout_precommit},
    {"timeout_precommit_delta_ms", 0, &p->timeout_precommit_delta},
    {"timeout_commit_ms", 1, &p->timeout_commit},
    {"empty_blocks_interval_ms", 0, &p->empty_blocks_interval},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    if ((rc = opt_u32(c, path, t[i].key, t[i].min, MAX_TIMEOUT_MS, t[i].dst, err, cap)) != 0)
      return rc;
  if ((rc = opt_u32(c, path, "max_block_bytes", MIN_BLOCK_BYTES, MAX_BLOCK_BYTES,
                    &p->max_block_bytes, err, cap)) != 0)
    return rc;
  if ((rc = opt_u32(c, path, "max_block_txs", 1, MAX_BLOCK_TXS, &p->max_block_txs, err,
                    cap)) != 0)
    return rc;
  json_t *b = json_object_get(c, "create_empty_blocks");
  if (b) {
    if (!json_is_boolean(b))
      return fail(err, cap, "params.consensus.create_empty_blocks", "must be true or false");
    p->create_empty_blocks = json_is_true(b);
  }
  return 0;
}

static int parse_mempool(json_t *m, st_chain__params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {"max_txs", "max_bytes", "max_tx_bytes", "cache_size",
                                     NULL};
  const char *path = "params.mempool";
  int rc;
  if ((rc = only_keys(m, path, keys, err, cap)) != 0 ||
      (rc = opt_size(m, path, "max_txs", 1, MAX_MEMPOOL_TXS, &p->max_txs, err, cap)) != 0 ||
      (rc = opt_size(m, path, "max_bytes", 1024, (long long)MAX_MEMPOOL_BYTES,
                     &p->max_bytes, err, cap)) != 0 ||
      (rc = opt_size(m, path, "max_tx_bytes", MIN_TX_BYTES, MAX_TX_BYTES, &p->max_tx_bytes,
                     err, cap)) != 0 ||
      (rc = opt_size(m, path, "cache_size", 1, MAX_CACHE, &p->cache_size, err, cap)) != 0)
    return rc;
  return 0;
}

static int parse_auth(json_t *a, st_chain__params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {"min_fee_per_byte", "max_memo_bytes", NULL};
  int rc;
  if ((rc = only_keys(a, "params.auth", keys, err, cap)) != 0 ||
      (rc = opt_size(a, "params.auth", "max_memo_bytes", 0, MAX_MEMO, &p->max_memo_bytes,
                     err, cap)) != 0)
    return rc;
  json_t *f = json_object_get(a, "min_fee_per_byte");
  if (f) {
    if (!json_is_string(f) || st_u128_parse(json_string_value(f), &p->min_fee_per_byte) != 0)
      return fail(err, cap, "params.auth.min_fee_per_byte",
                  "must be a decimal string of wei (u128, no leading zeros)");
  }
  return 0;
}

static int parse_params(json_t *g, st_chain__params_t *p, char *err, size_t cap) {
  json_t *params, *s;
  int rc;
  if ((rc = section(g, "", "params", &params, err, cap)) != 0 || !params)
    return rc;
  if ((rc = section(params, "params", "consensus", &s, err, cap)) != 0)
    return rc;
  if (s && (rc = parse_consensus(s, &p->cons, err, cap)) != 0)
    return rc;
  if ((rc = section(params, "params", "mempool", &s, err, cap)) != 0)
    return rc;
  if (s && (rc = parse_mempool(s, p, err, cap)) != 0)
    return rc;
  if ((rc = section(params, "params", "auth", &s, err, cap)) != 0)
    return rc;
  if (s && (rc = parse_auth(s, p, err, cap)) != 0)
    return rc;
  /* Bounds that tie fields together. */
  if (p->max_tx_bytes > p->cons.max_block_bytes)
    return fail(err, cap, "params.mempool.max_tx_bytes",
                "%zu is larger than params.consensus.max_block_bytes (%u)", p->max_tx_bytes,
                (unsigned)p->cons.max_block_bytes);
  if (p->max_tx_bytes > p->max_bytes)
    return fail(err, cap, "params.mempool.max_bytes",
                "%zu is smaller than params.mempool.max_tx_bytes (%zu)", p->max_bytes,
                p->max_tx_bytes);
  if (p->max_memo_bytes > p->max_tx_bytes)
    return fail(err, cap, "params.auth.max_memo_bytes",
                "%zu is larger than params.mempool.max_tx_bytes (%zu)", p->max_memo_bytes,
                p->max_tx_bytes);
  return 0;
}

static int addr_cmp(const void *a, const void *b) {
  return memcmp(a, b, ST_ADDR_LEN);
}

static int parse_accounts(json_t *g, st_chain__genesis_t *out, char *err, size_t cap) {
  static const char *const keys[] = {"address", "balance", NULL};
  json_t *arr = json_object_get(g, "accounts");
  if (!arr)
    return 0;
  if (!json_is_array(arr))
    return fail(err, cap, "accounts", "must be an array");
  size_t n = json_array_size(arr);
  if (n > MAX_ACCOUNTS)
    return fail(err, cap, "accounts", "%zu accounts, at most %d allowed", n, MAX_ACCOUNTS);
  if (n == 0)
    return 0;
  out->accts = calloc(n, sizeof(*out->accts));
  if (!out->accts)
    return ST_ENOMEM;
  st_u128 total = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i);
    char path[48], f[80];
    snprintf(path, sizeof(path), "accounts[%zu]", i);
    if (!json_is_object(e))
      return fail(err, cap, path, "must be an object");
    int rc = only_keys(e, path, keys, err, cap);
    if (rc != 0)
      return rc;
    json_t *a = json_object_get(e, "address"), *b = json_object_get(e, "balance");
    snprintf(f, sizeof(f), "%s.address", path);
    if (!json_is_string(a))
      return fail(err, cap, f, "must be an st1... address string");
    if (st_addr_decode(json_string_value(a), ST_HRP_WALLET, out->accts[i].addr) != 0)
      return fail(err, cap, f, "not a valid st1... address");
    snprintf(f, sizeof(f), "%s.balance", path);
    if (!json_is_string(b))
      return fail(err, cap, f, "must be a decimal string of wei");
    rc = st_u128_parse(json_string_value(b), &out->accts[i].balance);
    if (rc == ST_ERANGE)
      return fail(err, cap, f, "does not fit in 128 bits");
    if (rc != 0)
      return fail(err, cap, f, "must be a decimal string of wei (no sign, no leading zeros)");
    if (out->accts[i].balance > ~(st_u128)0 - total)
      return fail(err, cap, f, "the total of all balances does not fit in 128 bits");
    total += out->accts[i].balance;
    out->naccts = i + 1;
  }
  qsort(out->accts, n, sizeof(*out->accts), addr_cmp);
  for (size_t i = 1; i < n; i++) {
    if (memcmp(out->accts[i - 1].addr, out->accts[i].addr, ST_ADDR_LEN) == 0) {
      char s[ST_ADDR_STR_MAX];
      st_addr_encode(ST_HRP_WALLET, out->accts[i].addr, s, sizeof(s));
      return fail(err, cap, "accounts", "address %s appears more than once", s);
    }
  }
  return 0;
}

static int val_cmp(const void *a, const void *b) {
  const st_cons_validator_t *x = a, *y = b;
  return memcmp(x->addr, y->addr, ST_ADDR_LEN);
}

static int parse_validators(json_t *g, st_chain__genesis_t *out, char *err,
                            size_t cap) {
  static const char *const keys[] = {"name", "pub_key", "power", NULL};
  json_t *arr = json_object_get(g, "validators");
  if (!arr)
    return fail(err, cap, "validators", "is missing");
  if (!json_is_array(arr))
    return fail(err, cap, "validators", "must be an array");
  size_t n = json_array_size(arr);
  if (n == 0 || n > MAX_VALIDATORS)
    return fail(err, cap, "validators", "%zu validators, 1 to %d allowed", n, MAX_VALIDATORS);
  out->valset.v = calloc(n, sizeof(*out->valset.v));
  if (!out->valset.v)
    return ST_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i);
    st_cons_validator_t *v = &out->valset.v[i];
    char path[48], f[80];
    snprintf(path, sizeof(path), "validators[%zu]", i);
    if (!json_is_object(e))
      return fail(err, cap, path, "must be an object");
    int rc = only_keys(e, path, keys, err, cap);
    if (rc != 0)
      return rc;
    json_t *name = json_object_get(e, "name"), *pk = json_object_get(e, "pub_key");
    snprintf(f, sizeof(f), "%s.name", path);
    if (name && (!json_is_string(name) || json_string_length(name) > MAX_NAME))
      return fail(err, cap, f, "must be a string of at most %d bytes", MAX_NAME);
    snprintf(f, sizeof(f), "%s.pub_key", path);
    size_t got = 0;
    if (!json_is_string(pk) || json_string_length(pk) != 2 * ST_PUBKEY_LEN ||
        st_hex_decode(json_string_value(pk), 2 * ST_PUBKEY_LEN, v->pubkey, ST_PUBKEY_LEN,
                      &got) != 0 || got != ST_PUBKEY_LEN)
      return fail(err, cap, f, "must be %d hex digits (an ed25519 node key)",
                  2 * ST_PUBKEY_LEN);
    long long power = 0;
    rc = get_int(e, path, "power", 1, MAX_POWER, &power, err, cap);
    if (rc < 0)
      return rc;
    if (rc > 0) {
      snprintf(f, sizeof(f), "%s.power", path);
      return fail(err, cap, f, "is missing");
    }
    v->power = power;
    st_addr_from_pubkey(v->pubkey, v->addr);
    out->valset.n = i + 1;
  }
  qsort(out->valset.v, n, sizeof(*out->valset.v), val_cmp);
  for (size_t i = 1; i < n; i++)
    if (memcmp(out->valset.v[i - 1].pubkey, out->valset.v[i].pubkey, ST_PUBKEY_LEN) == 0 ||
        memcmp(out->valset.v[i - 1].addr, out->valset.v[i].addr, ST_ADDR_LEN) == 0) {
      char hex[2 * ST_PUBKEY_LEN + 1];
      st_hex_encode(out->valset.v[i].pubkey, ST_PUBKEY_LEN, hex, sizeof(hex));
      return fail(err, cap, "validators", "pub_key %s appears more than once", hex);
    }
  return 0;
}

static int parse_chain_id(json_t *g, char *out, char *err, size_t cap) {
  json_t *c = json_object_get(g, "chain_id");
  if (!c)
    return fail(err, cap, "chain_id", "is missing");
  if (!json_is_string(c))
    return fail(err, cap, "chain_id", "must be a string");
  const char *s = json_string_value(c);
  size_t n = json_string_length(c);
  if (n < 1 || n > ST_CHAIN_ID_MAX)
    return fail(err, cap, "chain_id", "must be 1 to %d characters", ST_CHAIN_ID_MAX);
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '.' || ch == '_' || ch == '-'))
      return fail(err, cap, "chain_id", "may hold only A-Z a-z 0-9 . _ -");
  }
  memcpy(out, s, n + 1);
  return 0;
}

int st_chain__genesis_parse(json_t *g, st_chain__genesis_t *out, char *err,
                            size_t errcap) {
  int rc;
  memset(out, 0, sizeof(*out));
  if (err && errcap)
    err[0] = '\0';
  st_chain__params_defaults(&out->p);
  if (!json_is_object(g)) {
    rc = fail(err, errcap, "genesis", "must be a JSON object");
    goto fail;
  }
  if ((rc = parse_chain_id(g, out->p.chain_id, err, errcap)) != 0)
    goto fail;
  long long t = 0;
  rc = get_int(g, "", "genesis_time_ms", 0, MAX_TIME_MS, &t, err, errcap);
  if (rc > 0)
    rc = fail(err, errcap, "genesis_time_ms", "is missing");
  if (rc != 0)
    goto fail;
  out->p.genesis_time_ms = t;
  if ((rc = parse_params(g, &out->p, err, errcap)) != 0 ||
      (rc = parse_accounts(g, out, err, errcap)) != 0 ||
      (rc = parse_validators(g, out, err, errcap)) != 0)
    goto fail;
  return 0;
fail:
  if (rc == ST_ENOMEM && err && errcap)
    snprintf(err, errcap, "genesis: out of memory");
  st_chain__genesis_free(out);
  return rc == ST_ENOMEM ? rc : ST_ECONFIG;
}

void st_chain__genesis_free(st_chain__genesis_t *g) {
  if (!g)
    return;
  free(g->accts);
  free(g->valset.v);
  g->accts = NULL;
  g->naccts = 0;
  g->valset.v = NULL;
  g->valset.n = 0;
}

void st_chain__safe_str(const char *in, size_t inlen, char *out, size_t cap) {
  size_t j = 0;
  if (cap == 0)
    return;
  for (size_t i = 0; i < inlen && j + 1 < cap; i++) {
    unsigned char c = (unsigned char)in[i];
    out[j++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
  }
  out[j] = '\0';
}
