/* The meta chain's part of genesis.json: the initial authorities
 * (meta_nodes), the resource nodes registered from the start, params.meta
 * and the consensus parameters the value chain's parser reads.
 *
 * The value chain checks the registry entries themselves (owners,
 * deposits, bounds); this reads what the meta chain needs and refuses
 * what it cannot use, naming the field. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_meta.h>
#include "meta/meta_private.h"

#define MAX_META_NODES 1000
#define MAX_RES_NODES 100000

static int fail(char *err, size_t cap, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t cap, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return ST_ECONFIG;
}

static int pubkey(json_t *e, const char *path, uint8_t out[ST_PUBKEY_LEN], char *err,
                  size_t cap) {
  json_t *pk = json_object_get(e, "pub_key");
  size_t got = 0;
  if (!json_is_string(pk) || json_string_length(pk) != 2 * ST_PUBKEY_LEN ||
      st_hex_decode(json_string_value(pk), 2 * ST_PUBKEY_LEN, out, ST_PUBKEY_LEN, &got) != 0 ||
      got != ST_PUBKEY_LEN)
    return fail(err, cap, "%s.pub_key: must be %d hex digits (a node key)", path,
                2 * ST_PUBKEY_LEN);
  return 0;
}

static int vcmp(const void *a, const void *b) {
  return memcmp(((const st_cons_validator_t *)a)->addr, ((const st_cons_validator_t *)b)->addr,
                ST_ADDR_LEN);
}

static int parse_auth(json_t *g, st_meta__genesis_t *out, char *err, size_t cap) {
  json_t *arr = json_object_get(g, "meta_nodes");
  if (!arr || (json_is_array(arr) && json_array_size(arr) == 0))
    return ST_ENOENT;
  if (!json_is_array(arr) || json_array_size(arr) > MAX_META_NODES)
    return fail(err, cap, "meta_nodes: must be an array of at most %d nodes", MAX_META_NODES);
  size_t n = json_array_size(arr);
  out->auth.v = calloc(n, sizeof(*out->auth.v));
  if (!out->auth.v)
    return ST_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    char path[40];
    snprintf(path, sizeof(path), "meta_nodes[%zu]", i);
    st_cons_validator_t *v = &out->auth.v[i];
    int rc = pubkey(json_array_get(arr, i), path, v->pubkey, err, cap);
    if (rc != 0)
      return rc;
    st_addr_from_pubkey(v->pubkey, v->addr);
    v->power = 1;
    out->auth.n = i + 1;
  }
  qsort(out->auth.v, n, sizeof(*out->auth.v), vcmp);
  for (size_t i = 1; i < n; i++)
    if (memcmp(out->auth.v[i - 1].addr, out->auth.v[i].addr, ST_ADDR_LEN) == 0)
      return fail(err, cap, "meta_nodes: a node key appears twice");
  return 0;
}

static int parse_res(json_t *g, st_meta__genesis_t *out, char *err, size_t cap) {
  json_t *arr = json_object_get(g, "resource_nodes");
  if (!arr)
    return 0;
  if (!json_is_array(arr) || json_array_size(arr) > MAX_RES_NODES)
    return fail(err, cap, "resource_nodes: must be an array of at most %d nodes",
                MAX_RES_NODES);
  size_t n = json_array_size(arr);
  if (n == 0)
    return 0;
  out->res = calloc(n, sizeof(*out->res));
  if (!out->res)
    return ST_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i);
    st_meta__rnode_t *r = &out->res[i];
    char path[48];
    snprintf(path, sizeof(path), "resource_nodes[%zu]", i);
    int rc = pubkey(e, path, r->pubkey, err, cap);
    if (rc != 0)
      return rc;
    st_addr_from_pubkey(r->pubkey, r->addr);
    json_t *owner = json_object_get(e, "owner"), *dep = json_object_get(e, "deposit"),
           *type = json_object_get(e, "node_type"), *capy = json_object_get(e, "capacity"),
           *na = json_object_get(e, "network_address");
    if (!json_is_string(owner) ||
        st_addr_decode(json_string_value(owner), ST_HRP_WALLET, r->owner) != 0)
      return fail(err, cap, "%s.owner: must be an st1... address", path);
    if (!json_is_string(dep) || st_u128_parse(json_string_value(dep), &r->deposit) != 0)
      return fail(err, cap, "%s.deposit: must be a decimal string of wei", path);
    if (type && (!json_is_integer(type) || json_integer_value(type) < 1 ||
                 json_integer_value(type) > 7))
      return fail(err, cap, "%s.node_type: must be a bitmask from 1 to 7", path);
    r->node_type = type ? (uint8_t)json_integer_value(type) : 4;
    if (!json_is_integer(capy) || json_integer_value(capy) < 1)
      return fail(err, cap, "%s.capacity: must be a positive number of bytes", path);
    r->capacity = (uint64_t)json_integer_value(capy);
    if (!json_is_string(na) || json_string_length(na) < 3 ||
        json_string_length(na) > ST_META__NETADDR_MAX)
      return fail(err, cap, "%s.network_address: must be host:port, 3 to %d characters", path,
                  ST_META__NETADDR_MAX);
    memcpy(r->netaddr, json_string_value(na), json_string_length(na) + 1);
    r->status = ST_NODE_ACTIVE;
    r->score = ST_META__SCORE_START;
    out->nres = i + 1;
  }
  return 0;
}

void st_meta__params_defaults(st_meta__params_t *p) {
  memset(p, 0, sizeof(*p));
  p->offline_after_ms = 120000;
  p->heartbeat_interval_ms = 30000;
  p->max_sync_heights = 100;
  p->slice_size = ST_FILE_SLICE_DEFAULT;
  p->replicas_default = 3;
  p->replicas_min = 1;
  p->replicas_max = 8;
  p->upload_noz_per_byte = 1;
  p->max_file_bytes = 68719476736ULL; /* 64 GiB */
  p->gc_grace_ms = 3600000;
  p->audit_interval_ms = 60000;
  p->epoch_ms = 600000;
  p->download_noz_per_byte = 1;
  p->slash_audit_failures = 3;
  p->slash_noz = 1000000000;
}

json_t *st_meta_default_params(void) {
  st_meta__params_t p;
  st_meta__params_defaults(&p);
  return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                   "offline_after_ms",
                   (json_int_t)p.offline_after_ms, "heartbeat_interval_ms",
                   (json_int_t)p.heartbeat_interval_ms, "max_sync_heights",
                   (json_int_t)p.max_sync_heights, "slice_size", (json_int_t)p.slice_size,
                   "replicas_default", (json_int_t)p.replicas_default, "replicas_min",
                   (json_int_t)p.replicas_min, "replicas_max", (json_int_t)p.replicas_max,
                   "upload_noz_per_byte", (json_int_t)p.upload_noz_per_byte, "max_file_bytes",
                   (json_int_t)p.max_file_bytes, "gc_grace_ms", (json_int_t)p.gc_grace_ms,
                   "audit_interval_ms", (json_int_t)p.audit_interval_ms, "epoch_ms",
                   (json_int_t)p.epoch_ms, "download_noz_per_byte",
                   (json_int_t)p.download_noz_per_byte, "slash_audit_failures",
                   (json_int_t)p.slash_audit_failures, "slash_noz", (json_int_t)p.slash_noz);
}

/* The fields of params.meta with their ranges. */
typedef struct pfield {
  const char *name;
  long long min, max;
} pfield_t;

/* 2^53: the largest integer every JSON reader keeps exactly. */
#define JSON_INT_MAX 9007199254740992LL

static const pfield_t PFIELDS[] = {
  {"offline_after_ms", 1000, 86400000},
  {"heartbeat_interval_ms", 100, 3600000},
  {"max_sync_heights", 1, 10000},
  {"slice_size", ST_FILE_SLICE_MIN, ST_FILE_SLICE_MAX},
  {"replicas_default", 1, ST_META__HOLDERS_MAX},
  {"replicas_min", 1, ST_META__HOLDERS_MAX},
  {"replicas_max", 1, ST_META__HOLDERS_MAX},
  {"upload_noz_per_byte", 0, 1000000000000LL},
  {"max_file_bytes", 0, JSON_INT_MAX},
  {"gc_grace_ms", 1000, 30LL * 86400000},
  {"audit_interval_ms", 1000, 86400000},
  {"epoch_ms", 1000, 86400000},
  {"download_noz_per_byte", 0, 1000000000000LL},
  {"slash_audit_failures", 1, 1000000},
  {"slash_noz", 1, JSON_INT_MAX},
};

static int parse_params(json_t *g, st_meta__genesis_t *out, char *err, size_t cap) {
  json_t *params = json_object_get(g, "params");
  json_t *mp = params ? json_object_get(params, "meta") : NULL;
  st_meta__params_t *p = &out->p;
  st_meta__params_defaults(p);
  if (!mp)
    return 0;
  if (!json_is_object(mp))
    return fail(err, cap, "params.meta: must be an object");
  long long v[sizeof(PFIELDS) / sizeof(PFIELDS[0])];
  const char *key;
  json_t *x;
  json_object_foreach(mp, key, x) {
    size_t i = 0;
    while (i < sizeof(PFIELDS) / sizeof(PFIELDS[0]) && strcmp(PFIELDS[i].name, key) != 0)
      i++;
    if (i == sizeof(PFIELDS) / sizeof(PFIELDS[0]))
      return fail(err, cap, "params.meta.%.40s: unknown field", key);
  }
  for (size_t i = 0; i < sizeof(PFIELDS) / sizeof(PFIELDS[0]); i++) {
    const pfield_t *f = &PFIELDS[i];
    x = json_object_get(mp, f->name);
    v[i] = -1;
    if (!x)
      continue;
    if (!json_is_integer(x) || json_integer_value(x) < f->min ||
        json_integer_value(x) > f->max)
      return fail(err, cap, "params.meta.%s: must be an integer from %lld to %lld", f->name,
                  f->min, f->max);
    v[i] = json_integer_value(x);
  }
  if (v[0] >= 0)
    p->offline_after_ms = v[0];
  if (v[1] >= 0)
    p->heartbeat_interval_ms = v[1];
  if (v[2] >= 0)
    p->max_sync_heights = (uint32_t)v[2];
  if (v[3] >= 0)
    p->slice_size = (uint32_t)v[3];
  if (v[4] >= 0)
    p->replicas_default = (uint32_t)v[4];
  if (v[5] >= 0)
    p->replicas_min = (uint32_t)v[5];
  if (v[6] >= 0)
    p->replicas_max = (uint32_t)v[6];
  if (v[7] >= 0)
    p->upload_noz_per_byte = (uint64_t)v[7];
  if (v[8] >= 0)
    p->max_file_bytes = (uint64_t)v[8];
  if (v[9] >= 0)
    p->gc_grace_ms = v[9];
  if (v[10] >= 0)
    p->audit_interval_ms = v[10];
  if (v[11] >= 0)
    p->epoch_ms = v[11];
  if (v[12] >= 0)
    p->download_noz_per_byte = (uint64_t)v[12];
  if (v[13] >= 0)
    p->slash_audit_failures = (uint64_t)v[13];
  if (v[14] >= 0)
    p->slash_noz = (uint64_t)v[14];
  if (p->heartbeat_interval_ms >= p->offline_after_ms)
    return fail(err, cap, "params.meta.heartbeat_interval_ms: must be shorter than "
                          "offline_after_ms");
  if (p->slice_size % ST_FILE_BLOCK != 0)
    return fail(err, cap, "params.meta.slice_size: must be a whole number of %u-byte blocks",
                ST_FILE_BLOCK);
  if (p->replicas_min > p->replicas_max)
    return fail(err, cap, "params.meta.replicas_min: must not exceed replicas_max");
  if (p->replicas_default < p->replicas_min || p->replicas_default > p->replicas_max)
    return fail(err, cap, "params.meta.replicas_default: must lie within replicas_min (%u) "
                          "and replicas_max (%u)", p->replicas_min, p->replicas_max);
  return 0;
}

/* "ozone": [{"address": "st1...", "noz": "decimal"}]: noz a wallet holds
 * from the start (the one-node devnet grants its wallet some, so that it
 * uploads at once). */
static int parse_ozone(json_t *g, st_meta__genesis_t *out, char *err, size_t cap) {
  json_t *arr = json_object_get(g, "ozone");
  if (!arr)
    return 0;
  if (!json_is_array(arr) || json_array_size(arr) > MAX_RES_NODES)
    return fail(err, cap, "ozone: must be an array of at most %d grants", MAX_RES_NODES);
  size_t n = json_array_size(arr);
  if (n == 0)
    return 0;
  if (!(out->oz = calloc(n, sizeof(*out->oz))))
    return ST_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i), *a = json_object_get(e, "address"),
           *v = json_object_get(e, "noz");
    if (!json_is_string(a) || st_addr_decode(json_string_value(a), ST_HRP_WALLET,
                                             out->oz[i].addr) != 0)
      return fail(err, cap, "ozone[%zu].address: must be an st1... address", i);
    if (!json_is_string(v) || st_u128_parse(json_string_value(v), &out->oz[i].noz) != 0)
      return fail(err, cap, "ozone[%zu].noz: must be a decimal string", i);
    for (size_t k = 0; k < i; k++)
      if (memcmp(out->oz[k].addr, out->oz[i].addr, ST_ADDR_LEN) == 0)
        return fail(err, cap, "ozone[%zu].address: granted twice", i);
    out->noz = i + 1;
  }
  return 0;
}

int st_meta__genesis_parse(json_t *g, st_meta__genesis_t *out, char *err, size_t cap) {
  memset(out, 0, sizeof(*out));
  json_t *id = json_object_get(g, "chain_id"), *t = json_object_get(g, "genesis_time_ms");
  if (!json_is_string(id) || json_string_length(id) + 5 > ST_CHAIN_ID_MAX)
    return fail(err, cap, "chain_id: needs room for the meta chain's \"-meta\" suffix");
  snprintf(out->chain_id, sizeof(out->chain_id), "%s-meta", json_string_value(id));
  out->genesis_time_ms = json_is_integer(t) ? json_integer_value(t) : 0;
  /* The consensus parameters, through the value chain's one parser. */
  st_chain__params_t base, cp;
  st_chain__params_defaults(&base);
  json_t *params = json_object_get(g, "params");
  if (params && st_chain__params_parse(params, &base, &cp, err, cap) != 0)
    return ST_ECONFIG;
  out->cons = params ? cp.cons : base.cons;
  int rc = parse_auth(g, out, err, cap);
  if (rc == 0)
    rc = parse_res(g, out, err, cap);
  if (rc == 0)
    rc = parse_params(g, out, err, cap);
  if (rc == 0)
    rc = parse_ozone(g, out, err, cap);
  if (rc != 0 && rc != ST_ENOENT)
    st_meta__genesis_free(out);
  return rc;
}

void st_meta__genesis_free(st_meta__genesis_t *g) {
  free(g->auth.v);
  free(g->res);
  free(g->oz);
  g->oz = NULL;
  g->noz = 0;
  g->auth.v = NULL;
  g->auth.n = 0;
  g->res = NULL;
  g->nres = 0;
}
