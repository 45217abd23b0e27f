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
#include <stratos/st_log.h>
#include <stratos/st_net.h>
#include "chain/nodes.h"

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
/* A hundred years, in ms: the ceiling of every period parameter. */
#define MAX_PERIOD_MS 3155760000000LL
#define MAX_WINDOW 1000000
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
  /* The economic parameters default to what the real network runs. */
  p->unbonding_time_ms = 21LL * 24 * 3600 * 1000;
  p->max_validators = 100;
  p->max_entries = 7;
  p->signed_blocks_window = 10000;
  p->min_signed_per_window = ST_DEC_ONE / 20;            /* 0.05 */
  p->downtime_jail_duration_ms = 6LL * 3600 * 1000;
  p->slash_fraction_double_sign = ST_DEC_ONE / 20;       /* 0.05 */
  p->slash_fraction_downtime = ST_DEC_ONE / 10000 * 2;   /* 0.0002 */
  p->community_tax = ST_DEC_ONE / 100;                   /* 0.01 */
  p->min_deposit = ST_DEC_ONE * 1000;                    /* 1000 STOS */
  p->max_deposit_period_ms = 2LL * 24 * 3600 * 1000;
  p->voting_period_ms = 2LL * 24 * 3600 * 1000;
  p->quorum = ST_DEC_ONE / 1000 * 334;                   /* 0.334 */
  p->threshold = ST_DEC_ONE / 2;                         /* 0.5 */
  p->veto_threshold = ST_DEC_ONE / 1000 * 334;           /* 0.334 */
  p->resource_node_min_deposit = ST_DEC_ONE;             /* 1 STOS */
  p->meta_node_min_deposit = ST_DEC_ONE;                 /* 1 STOS */
  p->node_unbonding_time_ms = 180LL * 24 * 3600 * 1000;
  p->deposit_noz_rate = 1000000;                         /* wei per noz */
  p->initial_ozone_limit = 0;
  p->traffic_mature_epoch = 2;
  p->traffic_tax_bps = 100;                              /* 1% */
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

static int opt_i64(json_t *obj, const char *path, const char *key, long long min,
                   long long max, int64_t *out, char *err, size_t cap) {
  long long x;
  int rc = get_int(obj, path, key, min, max, &x, err, cap);
  if (rc == 0)
    *out = x;
  return rc < 0 ? rc : 0;
}

/* An optional decimal string of wei. */
static int opt_wei(json_t *obj, const char *path, const char *key, st_u128 *out, char *err,
                   size_t cap) {
  json_t *v = json_object_get(obj, key);
  char f[96];
  if (!v)
    return 0;
  snprintf(f, sizeof(f), "%s.%s", path, key);
  if (!json_is_string(v) || st_u128_parse(json_string_value(v), out) != 0)
    return fail(err, cap, f, "must be a decimal string of wei (u128, no leading zeros)");
  return 0;
}

/* An optional fraction from 0 to 1, as a decimal string ("0.05"). */
static int opt_frac(json_t *obj, const char *path, const char *key, st_u128 *out, char *err,
                    size_t cap) {
  json_t *v = json_object_get(obj, key);
  char f[96];
  st_u128 x;
  if (!v)
    return 0;
  snprintf(f, sizeof(f), "%s.%s", path, key);
  if (!json_is_string(v) || st_dec_parse(json_string_value(v), &x) != 0 || x > ST_DEC_ONE)
    return fail(err, cap, f, "must be a decimal fraction from \"0\" to \"1\" as a string "
                             "(at most 18 digits after the point)");
  *out = x;
  return 0;
}

static int parse_staking(json_t *o, st_chain__params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {"unbonding_time_ms", "max_validators", "max_entries",
                                     NULL};
  const char *path = "params.staking";
  int rc;
  if ((rc = only_keys(o, path, keys, err, cap)) != 0 ||
      (rc = opt_i64(o, path, "unbonding_time_ms", 1, MAX_PERIOD_MS, &p->unbonding_time_ms,
                    err, cap)) != 0 ||
      (rc = opt_u32(o, path, "max_validators", 1, MAX_VALIDATORS, &p->max_validators, err,
                    cap)) != 0 ||
      (rc = opt_u32(o, path, "max_entries", 1, 100, &p->max_entries, err, cap)) != 0)
    return rc;
  return 0;
}

static int parse_slashing(json_t *o, st_chain__params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {"signed_blocks_window", "min_signed_per_window",
                                     "downtime_jail_duration_ms", "slash_fraction_double_sign",
                                     "slash_fraction_downtime", NULL};
  const char *path = "params.slashing";
  int rc;
  if ((rc = only_keys(o, path, keys, err, cap)) != 0 ||
      (rc = opt_i64(o, path, "signed_blocks_window", 1, MAX_WINDOW, &p->signed_blocks_window,
                    err, cap)) != 0 ||
      (rc = opt_frac(o, path, "min_signed_per_window", &p->min_signed_per_window, err, cap)) !=
        0 ||
      (rc = opt_i64(o, path, "downtime_jail_duration_ms", 0, MAX_PERIOD_MS,
                    &p->downtime_jail_duration_ms, err, cap)) != 0 ||
      (rc = opt_frac(o, path, "slash_fraction_double_sign", &p->slash_fraction_double_sign,
                     err, cap)) != 0 ||
      (rc = opt_frac(o, path, "slash_fraction_downtime", &p->slash_fraction_downtime, err,
                     cap)) != 0)
    return rc;
  return 0;
}

static int parse_distribution(json_t *o, st_chain__params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {"community_tax", NULL};
  int rc = only_keys(o, "params.distribution", keys, err, cap);
  if (rc == 0)
    rc = opt_frac(o, "params.distribution", "community_tax", &p->community_tax, err, cap);
  return rc;
}

static int parse_gov(json_t *o, st_chain__params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {"min_deposit", "max_deposit_period_ms",
                                     "voting_period_ms", "quorum", "threshold",
                                     "veto_threshold", NULL};
  const char *path = "params.gov";
  int rc;
  if ((rc = only_keys(o, path, keys, err, cap)) != 0 ||
      (rc = opt_wei(o, path, "min_deposit", &p->min_deposit, err, cap)) != 0 ||
      (rc = opt_i64(o, path, "max_deposit_period_ms", 1, MAX_PERIOD_MS,
                    &p->max_deposit_period_ms, err, cap)) != 0 ||
      (rc = opt_i64(o, path, "voting_period_ms", 1, MAX_PERIOD_MS, &p->voting_period_ms, err,
                    cap)) != 0 ||
      (rc = opt_frac(o, path, "quorum", &p->quorum, err, cap)) != 0 ||
      (rc = opt_frac(o, path, "threshold", &p->threshold, err, cap)) != 0 ||
      (rc = opt_frac(o, path, "veto_threshold", &p->veto_threshold, err, cap)) != 0)
    return rc;
  return 0;
}

static int parse_register(json_t *o, st_chain__params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {"resource_node_min_deposit", "meta_node_min_deposit",
                                     "unbonding_time_ms", "deposit_noz_rate", NULL};
  const char *path = "params.register";
  int rc;
  if ((rc = only_keys(o, path, keys, err, cap)) != 0 ||
      (rc = opt_wei(o, path, "resource_node_min_deposit", &p->resource_node_min_deposit, err,
                    cap)) != 0 ||
      (rc = opt_wei(o, path, "meta_node_min_deposit", &p->meta_node_min_deposit, err, cap)) !=
        0 ||
      (rc = opt_i64(o, path, "unbonding_time_ms", 1, MAX_PERIOD_MS, &p->node_unbonding_time_ms,
                    err, cap)) != 0 ||
      (rc = opt_wei(o, path, "deposit_noz_rate", &p->deposit_noz_rate, err, cap)) != 0)
    return rc;
  if (p->deposit_noz_rate == 0)
    return fail(err, cap, "params.register.deposit_noz_rate", "must be greater than zero");
  return 0;
}

static int parse_sds(json_t *o, st_chain__params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {"initial_ozone_limit", NULL};
  int rc = only_keys(o, "params.sds", keys, err, cap);
  if (rc == 0)
    rc = opt_wei(o, "params.sds", "initial_ozone_limit", &p->initial_ozone_limit, err, cap);
  return rc;
}

/* A reward matures after at most a million epochs (about nineteen years
 * of ten-minute epochs). */
#define MAX_MATURE_EPOCH 1000000

static int parse_traffic(json_t *o, st_chain__params_t *p, char *err, size_t cap) {
  static const char *const keys[] = {"mature_epoch", "community_tax_bps", NULL};
  const char *path = "params.traffic";
  int64_t mature = (int64_t)p->traffic_mature_epoch;
  int rc;
  if ((rc = only_keys(o, path, keys, err, cap)) != 0 ||
      (rc = opt_i64(o, path, "mature_epoch", 0, MAX_MATURE_EPOCH, &mature, err, cap)) != 0 ||
      (rc = opt_u32(o, path, "community_tax_bps", 0, 10000, &p->traffic_tax_bps, err, cap)) !=
        0)
    return rc;
  p->traffic_mature_epoch = (uint64_t)mature;
  return 0;
}

/* Parses a params object (genesis "params") into p, over what p holds. */
static int parse_params_obj(json_t *params, st_chain__params_t *p, char *err, size_t cap) {
  static const struct {
    const char *name;
    int (*fn)(json_t *, st_chain__params_t *, char *, size_t);
  } secs[] = {{"mempool", parse_mempool},         {"auth", parse_auth},
              {"staking", parse_staking},         {"slashing", parse_slashing},
              {"distribution", parse_distribution}, {"gov", parse_gov},
              {"register", parse_register},         {"sds", parse_sds},
              {"traffic", parse_traffic}};
  /* "meta" belongs to the meta module, which reads it itself. */
  static const char *const keys[] = {"consensus", "mempool", "auth",    "staking",
                                     "slashing",  "distribution", "gov", "register",
                                     "sds",       "traffic", "meta",    NULL};
  json_t *s;
  int rc;
  if (!json_is_object(params))
    return fail(err, cap, "params", "must be an object");
  if ((rc = only_keys(params, "params", keys, err, cap)) != 0)
    return rc;
  if ((rc = section(params, "params", "consensus", &s, err, cap)) != 0)
    return rc;
  if (s && (rc = parse_consensus(s, &p->cons, err, cap)) != 0)
    return rc;
  for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
    if ((rc = section(params, "params", secs[i].name, &s, err, cap)) != 0)
      return rc;
    if (s && (rc = secs[i].fn(s, p, err, cap)) != 0)
      return rc;
  }
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

static int parse_params(json_t *g, st_chain__params_t *p, char *err, size_t cap) {
  json_t *params;
  int rc;
  if ((rc = section(g, "", "params", &params, err, cap)) != 0 || !params)
    return rc;
  return parse_params_obj(params, p, err, cap);
}

int st_chain__params_parse(json_t *params, const st_chain__params_t *base,
                           st_chain__params_t *out, char *err, size_t errcap) {
  st_chain__params_t p;
  st_chain__params_defaults(&p);
  memcpy(p.chain_id, base->chain_id, sizeof(p.chain_id));
  p.genesis_time_ms = base->genesis_time_ms;
  p.cons.byzantine_double_prevote = base->cons.byzantine_double_prevote;
  if (err && errcap)
    err[0] = '\0';
  int rc = parse_params_obj(params, &p, err, errcap);
  if (rc == 0)
    *out = p;
  return rc;
}

static json_t *jwei(st_u128 v) {
  char b[ST_U128_STR_MAX];
  st_u128_format(v, b);
  return json_string(b);
}

static json_t *jdec(st_u128 v) {
  char b[ST_DEC_STR_MAX];
  st_dec_format(v, b);
  return json_string(b);
}

json_t *st_chain__params_json(const st_chain__params_t *p) {
  const st_cons_params_t *c = &p->cons;
  json_t *j = json_pack(
    "{s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I},"
    "s:{s:I,s:I,s:I,s:I},s:{s:o,s:I},s:{s:I,s:I,s:I},"
    "s:{s:I,s:o,s:I,s:o,s:o},s:{s:o},s:{s:o,s:I,s:I,s:o,s:o,s:o}}",
    "consensus", "timeout_propose_ms", (json_int_t)c->timeout_propose,
    "timeout_propose_delta_ms", (json_int_t)c->timeout_propose_delta, "timeout_prevote_ms",
    (json_int_t)c->timeout_prevote, "timeout_prevote_delta_ms",
    (json_int_t)c->timeout_prevote_delta, "timeout_precommit_ms",
    (json_int_t)c->timeout_precommit, "timeout_precommit_delta_ms",
    (json_int_t)c->timeout_precommit_delta, "timeout_commit_ms", (json_int_t)c->timeout_commit,
    "create_empty_blocks", (int)c->create_empty_blocks, "empty_blocks_interval_ms",
    (json_int_t)c->empty_blocks_interval, "max_block_bytes", (json_int_t)c->max_block_bytes,
    "max_block_txs", (json_int_t)c->max_block_txs,
    "mempool", "max_txs", (json_int_t)p->max_txs, "max_bytes", (json_int_t)p->max_bytes,
    "max_tx_bytes", (json_int_t)p->max_tx_bytes, "cache_size", (json_int_t)p->cache_size,
    "auth", "min_fee_per_byte", jwei(p->min_fee_per_byte), "max_memo_bytes",
    (json_int_t)p->max_memo_bytes,
    "staking", "unbonding_time_ms", (json_int_t)p->unbonding_time_ms, "max_validators",
    (json_int_t)p->max_validators, "max_entries", (json_int_t)p->max_entries,
    "slashing", "signed_blocks_window", (json_int_t)p->signed_blocks_window,
    "min_signed_per_window", jdec(p->min_signed_per_window), "downtime_jail_duration_ms",
    (json_int_t)p->downtime_jail_duration_ms, "slash_fraction_double_sign",
    jdec(p->slash_fraction_double_sign), "slash_fraction_downtime",
    jdec(p->slash_fraction_downtime),
    "distribution", "community_tax", jdec(p->community_tax),
    "gov", "min_deposit", jwei(p->min_deposit), "max_deposit_period_ms",
    (json_int_t)p->max_deposit_period_ms, "voting_period_ms", (json_int_t)p->voting_period_ms,
    "quorum", jdec(p->quorum), "threshold", jdec(p->threshold), "veto_threshold",
    jdec(p->veto_threshold));
  if (j &&
      (json_object_set_new(j, "register",
                           json_pack("{s:o,s:o,s:I,s:o}", "resource_node_min_deposit",
                                     jwei(p->resource_node_min_deposit),
                                     "meta_node_min_deposit", jwei(p->meta_node_min_deposit),
                                     "unbonding_time_ms", (json_int_t)p->node_unbonding_time_ms,
                                     "deposit_noz_rate", jwei(p->deposit_noz_rate))) != 0 ||
       json_object_set_new(j, "sds",
                           json_pack("{s:o}", "initial_ozone_limit",
                                     jwei(p->initial_ozone_limit))) != 0 ||
       json_object_set_new(j, "traffic",
                           json_pack("{s:I,s:I}", "mature_epoch",
                                     (json_int_t)p->traffic_mature_epoch, "community_tax_bps",
                                     (json_int_t)p->traffic_tax_bps)) != 0)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

json_t *st_chain_default_params(void) {
  st_chain__params_t p;
  st_chain__params_defaults(&p);
  return st_chain__params_json(&p);
}

static const uint8_t K_PARAMS[] = {ST_K_PARAMS, 'P'};

int st_chain__params_store(st_chain__ctx_t *c, const st_chain__params_t *p) {
  json_t *j = st_chain__params_json(p);
  if (!j)
    return ST_ENOMEM;
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(j);
  if (!s)
    return ST_ENOMEM;
  int rc = st_chain__ov_write(c->ov, ST_CHAIN__SP_STATE, K_PARAMS, sizeof(K_PARAMS), s,
                              strlen(s));
  free(s);
  return rc;
}

int st_chain__params_load(st_chain__ctx_t *c, const st_chain__params_t *base,
                          st_chain__params_t *out) {
  const uint8_t *v;
  size_t n;
  char err[256];
  int rc = st_chain__ov_read(c->ov, ST_CHAIN__SP_STATE, K_PARAMS, sizeof(K_PARAMS), &v, &n);
  if (rc != 0)
    return rc;
  json_t *j = json_loadb((const char *)v, n, 0, NULL);
  if (!j)
    return ST_ECORRUPT;
  rc = st_chain__params_parse(j, base, out, err, sizeof(err));
  json_decref(j);
  if (rc != 0) {
    ST_ERROR("chain", "the stored parameters do not parse: %s", err);
    return ST_ECORRUPT;
  }
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

typedef struct gv_pair {
  st_cons_validator_t v;
  st_chain__gval_t g;
} gv_pair_t;

static int val_cmp(const void *a, const void *b) {
  const gv_pair_t *x = a, *y = b;
  return memcmp(x->v.addr, y->v.addr, ST_ADDR_LEN);
}

/* The staking side of a genesis validator: operator and commission. */
static int parse_gval(json_t *e, const char *path, const st_cons_validator_t *v,
                      st_chain__gval_t *g, char *err, size_t cap) {
  json_t *name = json_object_get(e, "name"), *op = json_object_get(e, "operator");
  char f[96];
  memcpy(g->operator_, v->addr, ST_ADDR_LEN);
  if (op) {
    snprintf(f, sizeof(f), "%s.operator", path);
    if (!json_is_string(op) ||
        st_addr_decode(json_string_value(op), ST_HRP_WALLET, g->operator_) != 0)
      return fail(err, cap, f, "must be an st1... address");
  }
  snprintf(g->moniker, sizeof(g->moniker), "%s", name ? json_string_value(name) : "");
  if (!g->moniker[0])
    snprintf(g->moniker, sizeof(g->moniker), "validator");
  g->rate = ST_DEC_ONE / 10;
  g->max_rate = ST_DEC_ONE / 5;
  g->max_change_rate = ST_DEC_ONE / 100;
  g->min_self_delegation = ST_POWER_REDUCTION;
  int rc;
  if ((rc = opt_frac(e, path, "commission_rate", &g->rate, err, cap)) != 0 ||
      (rc = opt_frac(e, path, "max_rate", &g->max_rate, err, cap)) != 0 ||
      (rc = opt_frac(e, path, "max_change_rate", &g->max_change_rate, err, cap)) != 0 ||
      (rc = opt_wei(e, path, "min_self_delegation", &g->min_self_delegation, err, cap)) != 0)
    return rc;
  snprintf(f, sizeof(f), "%s.commission_rate", path);
  if (g->rate > g->max_rate)
    return fail(err, cap, f, "exceeds max_rate");
  snprintf(f, sizeof(f), "%s.max_change_rate", path);
  if (g->max_change_rate > g->max_rate)
    return fail(err, cap, f, "exceeds max_rate");
  snprintf(f, sizeof(f), "%s.min_self_delegation", path);
  if (g->min_self_delegation > (st_u128)v->power * ST_POWER_REDUCTION)
    return fail(err, cap, f, "exceeds the self-delegation (power STOS)");
  return 0;
}

static int parse_validator(json_t *e, size_t i, gv_pair_t *out, char *err, size_t cap) {
  static const char *const keys[] = {"name", "pub_key", "power", "operator",
                                     "commission_rate", "max_rate", "max_change_rate",
                                     "min_self_delegation", NULL};
  st_cons_validator_t *v = &out->v;
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
    return fail(err, cap, f, "must be %d hex digits (an ed25519 node key)", 2 * ST_PUBKEY_LEN);
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
  return parse_gval(e, path, v, &out->g, err, cap);
}

static int parse_validators(json_t *g, st_chain__genesis_t *out, char *err, size_t cap) {
  json_t *arr = json_object_get(g, "validators");
  if (!arr)
    return fail(err, cap, "validators", "is missing");
  if (!json_is_array(arr))
    return fail(err, cap, "validators", "must be an array");
  size_t n = json_array_size(arr);
  if (n == 0 || n > MAX_VALIDATORS)
    return fail(err, cap, "validators", "%zu validators, 1 to %d allowed", n, MAX_VALIDATORS);
  gv_pair_t *pairs = calloc(n, sizeof(*pairs));
  out->valset.v = calloc(n, sizeof(*out->valset.v));
  out->gvals = calloc(n, sizeof(*out->gvals));
  int rc = (!pairs || !out->valset.v || !out->gvals) ? ST_ENOMEM : 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = parse_validator(json_array_get(arr, i), i, &pairs[i], err, cap);
  if (rc == 0) {
    qsort(pairs, n, sizeof(*pairs), val_cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
      out->valset.v[i] = pairs[i].v;
      out->gvals[i] = pairs[i].g;
      out->valset.n = i + 1;
      for (size_t j = 0; j < i && rc == 0; j++) {
        char hex[2 * ST_PUBKEY_LEN + 1], a[ST_ADDR_STR_MAX];
        if (memcmp(pairs[j].v.pubkey, pairs[i].v.pubkey, ST_PUBKEY_LEN) == 0 ||
            memcmp(pairs[j].v.addr, pairs[i].v.addr, ST_ADDR_LEN) == 0) {
          st_hex_encode(pairs[i].v.pubkey, ST_PUBKEY_LEN, hex, sizeof(hex));
          rc = fail(err, cap, "validators", "pub_key %s appears more than once", hex);
        } else if (memcmp(pairs[j].g.operator_, pairs[i].g.operator_, ST_ADDR_LEN) == 0) {
          st_addr_encode(ST_HRP_WALLET, pairs[i].g.operator_, a, sizeof(a));
          rc = fail(err, cap, "validators", "operator %s appears more than once", a);
        }
      }
    }
  }
  free(pairs);
  return rc;
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
  if (!(out->nodes = calloc(1, sizeof(*out->nodes)))) {
    rc = ST_ENOMEM;
    goto fail;
  }
  if ((rc = st_chain__register_genesis_parse(g, &out->p, out->nodes, err, errcap)) != 0)
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
  free(g->gvals);
  g->gvals = NULL;
  if (g->nodes) {
    st_chain__register_genesis_free(g->nodes);
    free(g->nodes);
    g->nodes = NULL;
  }
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
