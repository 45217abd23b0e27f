/* The client subcommands: `stratosd tx ...` signs locally with a key of
 * the home's keyring and broadcasts over JSON-RPC; `stratosd query ...`
 * reads over JSON-RPC. They speak to a node like any other client would,
 * with libcurl, so nothing here reaches into a running node's state.
 *
 * Every tx command shares one path: check its flags (a bad value is a
 * usage error, exit 2, before anything is read or sent), read the key,
 * the chain id (the home's genesis) and the nonce (the `account` query
 * unless --nonce), build a TxBody with the one message, sign it paying
 * the chain's minimum fee (its `params` query, else the genesis value)
 * or --fee, and broadcast it or, with --generate-only, print it. */
#include <curl/curl.h>
#include <sodium.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_chain.h>
#include <stratos/st_err.h>
#include "daemon/daemon_private.h"
#include "tx.pb-c.h"

#define RESPONSE_MAX (16u << 20)

/* The chain's limits, checked here too so that a mistake is a usage
 * error rather than a refused tx. */
#define CHANGES_MAX 16
#define MONIKER_MAX 64
#define TITLE_MAX 140
#define DESCRIPTION_MAX 4096
#define NETADDR_MAX 128

typedef struct cflags {
  const char *home, *from, *to, *amount, *fee, *memo, *rpc, *nonce, *mode, *key, *count;
  const char *validator, *delegator, *src, *dst, *pubkey, *node_home, *moniker;
  const char *commission_rate, *max_rate, *max_change_rate, *min_self_delegation;
  const char *title, *description, *deposit, *proposal, *option, *status, *page, *per_page;
  const char *node, *candidate, *voter, *target, *beneficiary, *type, *capacity;
  const char *network_address;
  const char *changes[CHANGES_MAX]; /* --change, repeatable */
  size_t nchanges;
  /* flags without a value */
  int generate_only, decrease, approve, reject, kick, keep;
  const char *pos[4];
  size_t npos;
} cflags_t;

/* Every flag that takes a value, and where it goes. */
static const struct {
  const char *name;
  size_t off;
} flag_slots[] = {
  {"home", offsetof(cflags_t, home)},
  {"from", offsetof(cflags_t, from)},
  {"to", offsetof(cflags_t, to)},
  {"amount", offsetof(cflags_t, amount)},
  {"fee", offsetof(cflags_t, fee)},
  {"memo", offsetof(cflags_t, memo)},
  {"rpc", offsetof(cflags_t, rpc)},
  {"nonce", offsetof(cflags_t, nonce)},
  {"mode", offsetof(cflags_t, mode)},
  {"key", offsetof(cflags_t, key)},
  {"count", offsetof(cflags_t, count)},
  {"validator", offsetof(cflags_t, validator)},
  {"delegator", offsetof(cflags_t, delegator)},
  {"src", offsetof(cflags_t, src)},
  {"dst", offsetof(cflags_t, dst)},
  {"pubkey", offsetof(cflags_t, pubkey)},
  {"node-home", offsetof(cflags_t, node_home)},
  {"moniker", offsetof(cflags_t, moniker)},
  {"commission-rate", offsetof(cflags_t, commission_rate)},
  {"max-rate", offsetof(cflags_t, max_rate)},
  {"max-change-rate", offsetof(cflags_t, max_change_rate)},
  {"min-self-delegation", offsetof(cflags_t, min_self_delegation)},
  {"title", offsetof(cflags_t, title)},
  {"description", offsetof(cflags_t, description)},
  {"deposit", offsetof(cflags_t, deposit)},
  {"proposal", offsetof(cflags_t, proposal)},
  {"option", offsetof(cflags_t, option)},
  {"status", offsetof(cflags_t, status)},
  {"page", offsetof(cflags_t, page)},
  {"per-page", offsetof(cflags_t, per_page)},
  {"node", offsetof(cflags_t, node)},
  {"candidate", offsetof(cflags_t, candidate)},
  {"voter", offsetof(cflags_t, voter)},
  {"target", offsetof(cflags_t, target)},
  {"beneficiary", offsetof(cflags_t, beneficiary)},
  {"type", offsetof(cflags_t, type)},
  {"capacity", offsetof(cflags_t, capacity)},
  {"network-address", offsetof(cflags_t, network_address)},
};

/* The flags that take no value: given means set. */
static const struct {
  const char *name;
  size_t off;
} switch_slots[] = {
  {"generate-only", offsetof(cflags_t, generate_only)},
  {"decrease", offsetof(cflags_t, decrease)},
  {"approve", offsetof(cflags_t, approve)},
  {"reject", offsetof(cflags_t, reject)},
  {"kick", offsetof(cflags_t, kick)},
  {"keep", offsetof(cflags_t, keep)},
};

static int *switch_slot(cflags_t *f, const char *name, size_t nl) {
  for (size_t j = 0; j < sizeof(switch_slots) / sizeof(switch_slots[0]); j++)
    if (strlen(switch_slots[j].name) == nl && memcmp(switch_slots[j].name, name, nl) == 0)
      return (int *)(void *)((char *)f + switch_slots[j].off);
  return NULL;
}

static const char **flag_slot(cflags_t *f, const char *name, size_t nl) {
  for (size_t j = 0; j < sizeof(flag_slots) / sizeof(flag_slots[0]); j++)
    if (strlen(flag_slots[j].name) == nl && memcmp(flag_slots[j].name, name, nl) == 0)
      return (const char **)(void *)((char *)f + flag_slots[j].off);
  return NULL;
}

static bool named(const char *const *names, const char *name, size_t nl) {
  for (size_t k = 0; names[k]; k++)
    if (strlen(names[k]) == nl && memcmp(names[k], name, nl) == 0)
      return true;
  return false;
}

/* --name value / --name=value parsing over the flags each command names
 * (NULL-terminated). The switch_slots flags ("generate-only", ...) take
 * no value; "change" may be given up to CHANGES_MAX times. */
static int parse_flags(int argc, char **argv, int first, const char *const *names,
                       cflags_t *f) {
  memset(f, 0, sizeof(*f));
  for (int i = first; i < argc; i++) {
    const char *w = argv[i];
    if (strncmp(w, "--", 2) != 0) {
      if (f->npos == 4) {
        fprintf(stderr, "stratosd: unexpected argument %s\n", w);
        return ST_EXIT_USAGE;
      }
      f->pos[f->npos++] = w;
      continue;
    }
    const char *eq = strchr(w, '=');
    size_t nl = eq ? (size_t)(eq - w - 2) : strlen(w + 2);
    if (!named(names, w + 2, nl)) {
      fprintf(stderr, "stratosd: unknown flag %.*s (see stratosd help)\n", (int)(nl + 2), w);
      return ST_EXIT_USAGE;
    }
    int *sw = switch_slot(f, w + 2, nl);
    if (sw) {
      if (eq) {
        fprintf(stderr, "stratosd: flag --%.*s takes no value\n", (int)nl, w + 2);
        return ST_EXIT_USAGE;
      }
      *sw = 1;
      continue;
    }
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v || !*v) {
      fprintf(stderr, "stratosd: flag %.*s needs a value\n", (int)(nl + 2), w);
      return ST_EXIT_USAGE;
    }
    if (nl == 6 && memcmp(w + 2, "change", 6) == 0) {
      if (f->nchanges == CHANGES_MAX) {
        fprintf(stderr, "stratosd: at most %d --change flags\n", CHANGES_MAX);
        return ST_EXIT_USAGE;
      }
      f->changes[f->nchanges++] = v;
      continue;
    }
    const char **slot = flag_slot(f, w + 2, nl);
    if (!slot) {
      fprintf(stderr, "stratosd: unknown flag %.*s (see stratosd help)\n", (int)(nl + 2), w);
      return ST_EXIT_USAGE;
    }
    *slot = v;
  }
  return ST_EXIT_OK;
}

/* Refuses any flag of f that cmd does not take (for commands that parse
 * the flags of several subcommands at once). */
static int only_flags(const cflags_t *f, const char *const *names, const char *cmd) {
  for (size_t j = 0; j < sizeof(flag_slots) / sizeof(flag_slots[0]); j++) {
    const char *const *slot = (const char *const *)(const void *)((const char *)f +
                                                                 flag_slots[j].off);
    if (*slot && !named(names, flag_slots[j].name, strlen(flag_slots[j].name))) {
      fprintf(stderr, "stratosd: %s takes no --%s\n", cmd, flag_slots[j].name);
      return ST_EXIT_USAGE;
    }
  }
  return ST_EXIT_OK;
}

/* ---- JSON-RPC over libcurl ---- */

typedef struct resp_buf {
  st_buf_t b;
  int too_big;
} resp_buf_t;

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
  resp_buf_t *r = ud;
  if (st_buf_append(&r->b, p, sz * n) != 0) {
    r->too_big = 1;
    return 0;
  }
  return sz * n;
}

/* Calls method with params (stolen) and returns the whole response object
 * in *out. Prints the reason on failure unless quiet. */
static int rpc_call(const char *url, const char *method, json_t *params, bool quiet,
                    json_t **out) {
  json_t *req = json_pack("{s:s,s:i,s:s,s:o}", "jsonrpc", "2.0", "id", 1, "method",
                          method, "params", params ? params : json_object());
  char *body = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  CURL *c = curl_easy_init();
  if (!c || !body) {
    free(body);
    return ST_ENOMEM;
  }
  resp_buf_t r = {.too_big = 0};
  st_buf_init(&r.b, RESPONSE_MAX);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode cc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  free(body);
  int rc = 0;
  if (cc != CURLE_OK) {
    if (!quiet)
      fprintf(stderr, "stratosd: cannot reach JSON-RPC at %s: %s\n", url,
              r.too_big ? "response too large" : curl_easy_strerror(cc));
    rc = ST_EIO;
  } else {
    json_error_t je;
    json_t *j = json_loadb((const char *)r.b.data, r.b.len, 0, &je);
    if (!json_is_object(j)) {
      if (!quiet)
        fprintf(stderr, "stratosd: JSON-RPC at %s answered HTTP %ld with no JSON-RPC body\n",
                url, status);
      json_decref(j);
      rc = ST_EPROTO;
    } else {
      *out = j;
    }
  }
  st_buf_free(&r.b);
  return rc;
}

/* Like rpc_call but returns only the result, printing a JSON-RPC error
 * unless quiet. */
static int rpc_result_q(const char *url, const char *method, json_t *params, bool quiet,
                        json_t **out) {
  json_t *resp;
  int rc = rpc_call(url, method, params, quiet, &resp);
  if (rc != 0)
    return rc;
  json_t *err = json_object_get(resp, "error");
  if (err) {
    if (!quiet)
      fprintf(stderr, "stratosd: %s failed: %s (code %lld)\n", method,
              json_string_value(json_object_get(err, "message")),
              (long long)json_integer_value(json_object_get(err, "code")));
    json_decref(resp);
    return ST_EPROTO;
  }
  *out = json_incref(json_object_get(resp, "result"));
  json_decref(resp);
  return 0;
}

static int rpc_result(const char *url, const char *method, json_t *params, json_t **out) {
  return rpc_result_q(url, method, params, false, out);
}

/* ---- helpers ---- */

/* The RPC URL: --rpc, else the home's rpc.laddr, else the default port. */
static void rpc_url(const cflags_t *f, char *out, size_t cap) {
  if (f->rpc) {
    snprintf(out, cap, "%s", f->rpc);
    return;
  }
  st_config_t c;
  st_config_defaults(&c);
  char p[ST_PATH_MAX], err[256];
  if (f->home && st_daemon__path(p, sizeof(p), f->home, "config/stratosd.conf") == 0)
    (void)st_config_load(&c, p, err, sizeof(err));
  const char *host = strcmp(c.rpc_laddr.host, "0.0.0.0") == 0 ? "127.0.0.1" : c.rpc_laddr.host;
  snprintf(out, cap, "http://%s:%u/", host, (unsigned)c.rpc_laddr.port);
}

/* Parses an amount: plain digits are wei; "<decimal>stos" is STOS with up
 * to 18 decimals. */
static int parse_amount(const char *s, st_u128 *out) {
  size_t n = strlen(s);
  if (n > 4 && strcmp(s + n - 4, "stos") == 0) {
    char whole[40] = "", frac[19] = "";
    const char *dot = memchr(s, '.', n - 4);
    size_t wl = dot ? (size_t)(dot - s) : n - 4;
    size_t fl = dot ? n - 4 - wl - 1 : 0;
    if (wl == 0 || wl > 20 || fl > 18 || (dot && fl == 0))
      return ST_EINVAL;
    memcpy(whole, s, wl);
    if (dot)
      memcpy(frac, dot + 1, fl);
    for (size_t i = fl; i < 18; i++)
      frac[i] = '0';
    frac[18] = '\0';
    st_u128 w, fr;
    if (st_u128_parse(whole, &w) != 0)
      return ST_EINVAL;
    /* Leading zeros are fine in the fraction. */
    fr = 0;
    for (size_t i = 0; i < 18; i++) {
      if (frac[i] < '0' || frac[i] > '9')
        return ST_EINVAL;
      fr = fr * 10 + (st_u128)(frac[i] - '0');
    }
    st_u128 e18 = (st_u128)1000000000000000000ull;
    if (w > (~(st_u128)0 - fr) / e18)
      return ST_ERANGE;
    *out = w * e18 + fr;
    return 0;
  }
  return st_u128_parse(s, out);
}

/* An amount flag as a decimal string of wei in out; positive unless
 * zero_ok. Prints the usage error. */
static int amount_flag(const char *flag, const char *v, bool zero_ok,
                       char out[ST_U128_STR_MAX]) {
  st_u128 x;
  if (parse_amount(v, &x) != 0 || (x == 0 && !zero_ok)) {
    fprintf(stderr, "stratosd: bad --%s %s (%swei, or e.g. 1.5stos)\n", flag, v,
            zero_ok ? "" : "a positive amount: ");
    return ST_EXIT_USAGE;
  }
  st_u128_format(x, out);
  return ST_EXIT_OK;
}

/* An st1... address flag. */
static int addr_flag(const char *flag, const char *v, uint8_t out[ST_ADDR_LEN]) {
  if (st_addr_decode(v, ST_HRP_WALLET, out) != 0) {
    fprintf(stderr, "stratosd: --%s %s is not an st1... address\n", flag, v);
    return ST_EXIT_USAGE;
  }
  return ST_EXIT_OK;
}

/* A fraction flag from 0 to 1 with at most 18 decimals. */
static int rate_flag(const char *flag, const char *v) {
  st_u128 x;
  if (st_dec_parse(v, &x) != 0 || x > ST_DEC_ONE) {
    fprintf(stderr, "stratosd: bad --%s %s (a fraction from 0 to 1 such as 0.05, at most 18 "
                    "decimals)\n", flag, v);
    return ST_EXIT_USAGE;
  }
  return ST_EXIT_OK;
}

/* A positive decimal integer below 2^63 (proposal ids, pages); what names
 * it in the message ("--page"). */
static int count_flag(const char *what, const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || *end || v[0] < '0' || v[0] > '9' || x == 0 || x > INT64_MAX) {
    fprintf(stderr, "stratosd: bad %s %s (a positive integer)\n", what, v);
    return ST_EXIT_USAGE;
  }
  *out = x;
  return ST_EXIT_OK;
}

/* Printable ASCII of min..max bytes. */
static int text_flag(const char *flag, const char *v, size_t min, size_t max) {
  size_t n = strlen(v);
  bool ok = n >= min && n <= max;
  for (size_t i = 0; ok && i < n; i++)
    ok = (unsigned char)v[i] >= 0x20 && (unsigned char)v[i] < 0x7f;
  if (!ok) {
    fprintf(stderr, "stratosd: bad --%s (%zu to %zu printable ASCII characters)\n", flag, min,
            max);
    return ST_EXIT_USAGE;
  }
  return ST_EXIT_OK;
}

/* Reads the chain id and, when present, params.auth.min_fee_per_byte
 * (*has_fee) from the home's genesis. */
static int load_genesis_params(const char *home, char *chain_id, size_t cap,
                               st_u128 *min_fee, bool *has_fee) {
  char p[ST_PATH_MAX];
  *has_fee = false;
  if (!home || st_daemon__path(p, sizeof(p), home, "config/genesis.json") != 0)
    return ST_ENOENT;
  json_error_t je;
  json_t *g = json_load_file(p, 0, &je);
  if (!g)
    return ST_ENOENT;
  const char *id = json_string_value(json_object_get(g, "chain_id"));
  const char *mf = json_string_value(
    json_object_get(json_object_get(json_object_get(g, "params"), "auth"), "min_fee_per_byte"));
  int rc = id && strlen(id) < cap ? 0 : ST_EPARSE;
  if (rc == 0) {
    snprintf(chain_id, cap, "%s", id);
    *has_fee = mf && st_u128_parse(mf, min_fee) == 0;
  }
  json_decref(g);
  return rc;
}

static void print_json(json_t *j) {
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s)
    printf("%s\n", s);
  free(s);
}

/* The standard base64 of p[0..n) (caller frees). */
static char *base64_of(const uint8_t *p, size_t n) {
  size_t bl = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
  char *b = malloc(bl);
  if (!b)
    abort();
  sodium_bin2base64(b, bl, p, n, sodium_base64_VARIANT_ORIGINAL);
  return b;
}

/* ---- signing and broadcasting ---- */

/* What every tx command needs once its own flags are checked. */
typedef struct txenv {
  const cflags_t *f;
  char chain_id[ST_CHAIN_ID_MAX + 1];
  char url[512];
  st_keypair_t kp;
  uint8_t from[ST_ADDR_LEN];
  uint64_t nonce;
  st_u128 fee;     /* --fee */
  st_u128 min_fee; /* per byte, when no --fee */
  char mode[8];
} txenv_t;

/* Checks the flags every tx command shares; prints and returns the usage
 * exit code on a bad one. */
static int tx_common_flags(const cflags_t *f, const char *cmd, txenv_t *e) {
  if (!f->home || !f->from == !f->key) {
    fprintf(stderr, "stratosd: tx %s needs --home DIR and --from NAME or --key FILE\n", cmd);
    return ST_EXIT_USAGE;
  }
  if (f->npos) {
    fprintf(stderr, "stratosd: unexpected argument %s\n", f->pos[0]);
    return ST_EXIT_USAGE;
  }
  const char *mode = f->mode ? f->mode : "commit";
  if (strcmp(mode, "commit") && strcmp(mode, "sync") && strcmp(mode, "async")) {
    fprintf(stderr, "stratosd: --mode is commit, sync or async\n");
    return ST_EXIT_USAGE;
  }
  snprintf(e->mode, sizeof(e->mode), "%s", mode);
  if (f->fee && parse_amount(f->fee, &e->fee) != 0) {
    fprintf(stderr, "stratosd: bad --fee %s\n", f->fee);
    return ST_EXIT_USAGE;
  }
  if (f->nonce) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(f->nonce, &end, 10);
    if (errno || *end || f->nonce[0] < '0' || f->nonce[0] > '9') {
      fprintf(stderr, "stratosd: bad --nonce %s\n", f->nonce);
      return ST_EXIT_USAGE;
    }
    e->nonce = v;
  }
  return ST_EXIT_OK;
}

/* Reads the chain id, the key, the nonce and the minimum fee. The node is
 * asked for the nonce unless --nonce is given, and for the minimum fee
 * (which governance may change) unless --fee is given or the tx is
 * signed offline (--generate-only with --nonce); the genesis value is the
 * fallback. On failure prints why and returns the exit code. */
static int tx_open(const cflags_t *f, txenv_t *e) {
  bool have_fee;
  int rc;
  e->f = f;
  rpc_url(f, e->url, sizeof(e->url));
  if (load_genesis_params(f->home, e->chain_id, sizeof(e->chain_id), &e->min_fee,
                          &have_fee) != 0) {
    fprintf(stderr, "stratosd: no readable genesis in %s/config\n", f->home);
    return ST_EXIT_FAIL;
  }
  char p[ST_PATH_MAX];
  if (f->key)
    snprintf(p, sizeof(p), "%s", f->key);
  else if (snprintf(p, sizeof(p), "%s/keyring/%s.json", f->home, f->from) >= (int)sizeof(p))
    return ST_EXIT_USAGE;
  if ((rc = st_keyfile_read(p, &e->kp)) != 0) {
    fprintf(stderr, "stratosd: cannot read key %s: %s\n", p, st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  st_addr_from_pubkey(e->kp.pk, e->from);
  if (!f->nonce) {
    char from_s[ST_ADDR_STR_MAX];
    json_t *acct;
    st_addr_encode(ST_HRP_WALLET, e->from, from_s, sizeof(from_s));
    if (rpc_result(e->url, "account", json_pack("{s:s}", "address", from_s), &acct) != 0) {
      st_key_wipe(&e->kp);
      return ST_EXIT_FAIL;
    }
    e->nonce = (uint64_t)json_integer_value(json_object_get(acct, "nonce"));
    json_decref(acct);
  }
  if (!f->fee && !(f->generate_only && f->nonce)) {
    json_t *params;
    if (rpc_result_q(e->url, "params", NULL, true, &params) == 0) {
      const char *mf = json_string_value(
        json_object_get(json_object_get(params, "auth"), "min_fee_per_byte"));
      st_u128 v;
      if (mf && st_u128_parse(mf, &v) == 0) {
        e->min_fee = v;
        have_fee = true;
      }
      json_decref(params);
    }
  }
  if (!f->fee && !have_fee) {
    fprintf(stderr, "stratosd: cannot learn the minimum fee (no params.auth.min_fee_per_byte "
                    "from the node or in %s/config/genesis.json); give --fee\n", f->home);
    st_key_wipe(&e->kp);
    return ST_EXIT_FAIL;
  }
  return ST_EXIT_OK;
}

/* Prints a signed tx in base64 (--generate-only) or broadcasts it in the
 * chosen mode and prints the answer. */
static int tx_emit(const txenv_t *e, const st_buf_t *tx) {
  char *b64 = base64_of(tx->data, tx->len);
  if (e->f->generate_only) {
    puts(b64);
    free(b64);
    return ST_EXIT_OK;
  }
  uint8_t hash[ST_HASH_LEN];
  char hash_hex[2 * ST_HASH_LEN + 1];
  st_chain_tx_hash(tx->data, tx->len, hash);
  st_hex_encode(hash, ST_HASH_LEN, hash_hex, sizeof(hash_hex));
  char method[32];
  snprintf(method, sizeof(method), "broadcast_tx_%s", e->mode);
  json_t *res;
  int rc = rpc_result(e->url, method, json_pack("{s:s}", "tx", b64), &res);
  free(b64);
  if (rc != 0)
    return ST_EXIT_FAIL;
  printf("tx hash: %s\n", hash_hex);
  print_json(res);
  json_t *check = json_object_get(res, "check_tx");
  json_t *result = json_object_get(res, "tx_result");
  long long code = (long long)json_integer_value(
    json_object_get(check ? check : res, "code"));
  if (code == 0 && result)
    code = (long long)json_integer_value(json_object_get(result, "code"));
  json_decref(res);
  return code == 0 ? ST_EXIT_OK : ST_EXIT_FAIL;
}

/* Signs body (its message set) for e and emits it; wipes the key. */
static int tx_sign_emit(txenv_t *e, Stratos__Tx__TxBody *body) {
  st_buf_t tx;
  body->chain_id = e->chain_id;
  body->nonce = e->nonce;
  body->memo = (char *)(uintptr_t)(e->f->memo ? e->f->memo : "");
  st_buf_init(&tx, 1u << 20);
  int rc = e->f->fee ? st_chain_tx_sign(&e->kp, body, e->fee, 0, &tx)
                     : st_chain_tx_sign(&e->kp, body, 0, e->min_fee, &tx);
  st_key_wipe(&e->kp);
  if (rc != 0) {
    fprintf(stderr, "stratosd: cannot build the tx: %s\n", st_strerror(rc));
    st_buf_free(&tx);
    return ST_EXIT_FAIL;
  }
  rc = tx_emit(e, &tx);
  st_buf_free(&tx);
  return rc;
}

/* ---- tx ---- */

#define TX_FLAGS "home", "from", "key", "fee", "memo", "rpc", "nonce", "mode", "generate-only"

static int tx_send(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "to", "amount", "count", NULL};
  cflags_t f;
  txenv_t e = {0};
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0)
    return rc;
  if (!f.home || (!f.from == !f.key) || !f.to || !f.amount || f.npos) {
    fprintf(stderr, "stratosd: tx send needs --home DIR, --from NAME or --key FILE, "
                    "--to ADDR and --amount AMT\n");
    return ST_EXIT_USAGE;
  }
  unsigned long count = 1;
  if (f.count) {
    char *end;
    errno = 0;
    count = strtoul(f.count, &end, 10);
    if (errno || *end || count == 0 || count > 1000000 || !f.generate_only) {
      fprintf(stderr, "stratosd: --count is 1 to 1000000 and goes with --generate-only\n");
      return ST_EXIT_USAGE;
    }
  }
  if ((rc = tx_common_flags(&f, "send", &e)) != 0)
    return rc;
  uint8_t to[ST_ADDR_LEN];
  if (st_addr_decode(f.to, ST_HRP_WALLET, to) != 0) {
    fprintf(stderr, "stratosd: --to %s is not an st1... address\n", f.to);
    return ST_EXIT_USAGE;
  }
  st_u128 amount;
  if (parse_amount(f.amount, &amount) != 0 || amount == 0) {
    fprintf(stderr, "stratosd: bad --amount %s (wei, or e.g. 1.5stos)\n", f.amount);
    return ST_EXIT_USAGE;
  }
  if ((rc = tx_open(&f, &e)) != 0)
    return rc;
  /* Signed txs of consecutive nonces, one base64 line each with
   * --generate-only, for scripts and load generators to broadcast
   * themselves. */
  st_buf_t tx;
  st_buf_init(&tx, 1u << 20);
  for (unsigned long k = 0; k < count && rc == 0; k++) {
    st_buf_reset(&tx);
    rc = f.fee ? st_chain_tx_send(&e.kp, e.chain_id, e.nonce + k, e.fee, to, amount, f.memo,
                                  &tx)
               : st_chain_tx_send_min_fee(&e.kp, e.chain_id, e.nonce + k, e.min_fee, to,
                                          amount, f.memo, &tx);
    if (rc == 0 && f.generate_only)
      rc = tx_emit(&e, &tx);
  }
  st_key_wipe(&e.kp);
  if (rc != 0) {
    fprintf(stderr, "stratosd: cannot build the tx: %s\n", st_strerror(rc));
    st_buf_free(&tx);
    return ST_EXIT_FAIL;
  }
  rc = f.generate_only ? ST_EXIT_OK : tx_emit(&e, &tx);
  st_buf_free(&tx);
  return rc;
}

/* stake, unstake: MsgDelegate and MsgUndelegate. */
static int tx_delegate(int argc, char **argv, bool undelegate) {
  static const char *const names[] = {TX_FLAGS, "validator", "amount", NULL};
  const char *cmd = undelegate ? "unstake" : "stake";
  cflags_t f;
  txenv_t e = {0};
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, cmd, &e)) != 0)
    return rc;
  if (!f.validator || !f.amount) {
    fprintf(stderr, "stratosd: tx %s needs --validator ADDR and --amount AMT\n", cmd);
    return ST_EXIT_USAGE;
  }
  uint8_t val[ST_ADDR_LEN];
  char amount[ST_U128_STR_MAX];
  if ((rc = addr_flag("validator", f.validator, val)) != 0 ||
      (rc = amount_flag("amount", f.amount, false, amount)) != 0 ||
      (rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgDelegate d;
  stratos__tx__msg_delegate__init(&d);
  Stratos__Tx__MsgUndelegate u;
  stratos__tx__msg_undelegate__init(&u);
  if (undelegate) {
    u.validator.data = val;
    u.validator.len = ST_ADDR_LEN;
    u.amount = amount;
    b.msg_case = STRATOS__TX__TX_BODY__MSG_UNDELEGATE;
    b.undelegate = &u;
  } else {
    d.validator.data = val;
    d.validator.len = ST_ADDR_LEN;
    d.amount = amount;
    b.msg_case = STRATOS__TX__TX_BODY__MSG_DELEGATE;
    b.delegate = &d;
  }
  return tx_sign_emit(&e, &b);
}

static int tx_redelegate(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "src", "dst", "amount", NULL};
  cflags_t f;
  txenv_t e = {0};
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "redelegate", &e)) != 0)
    return rc;
  if (!f.src || !f.dst || !f.amount) {
    fprintf(stderr, "stratosd: tx redelegate needs --src ADDR, --dst ADDR and --amount AMT\n");
    return ST_EXIT_USAGE;
  }
  uint8_t src[ST_ADDR_LEN], dst[ST_ADDR_LEN];
  char amount[ST_U128_STR_MAX];
  if ((rc = addr_flag("src", f.src, src)) != 0 || (rc = addr_flag("dst", f.dst, dst)) != 0 ||
      (rc = amount_flag("amount", f.amount, false, amount)) != 0)
    return rc;
  if (memcmp(src, dst, ST_ADDR_LEN) == 0) {
    fprintf(stderr, "stratosd: --src and --dst are the same validator\n");
    return ST_EXIT_USAGE;
  }
  if ((rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgRedelegate m;
  stratos__tx__msg_redelegate__init(&m);
  m.src.data = src;
  m.src.len = ST_ADDR_LEN;
  m.dst.data = dst;
  m.dst.len = ST_ADDR_LEN;
  m.amount = amount;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_REDELEGATE;
  b.redelegate = &m;
  return tx_sign_emit(&e, &b);
}

static int tx_create_validator(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "pubkey", "node-home", "moniker", "amount",
                                      "commission-rate", "max-rate", "max-change-rate",
                                      "min-self-delegation", NULL};
  cflags_t f;
  txenv_t e = {0};
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "create-validator", &e)) != 0)
    return rc;
  if (f.pubkey && f.node_home) {
    fprintf(stderr, "stratosd: give --pubkey HEX or --node-home DIR, not both\n");
    return ST_EXIT_USAGE;
  }
  if ((!f.pubkey && !f.node_home) || !f.moniker || !f.amount) {
    fprintf(stderr, "stratosd: tx create-validator needs --pubkey HEX or --node-home DIR, "
                    "--moniker NAME and --amount AMT\n");
    return ST_EXIT_USAGE;
  }
  const char *rate = f.commission_rate ? f.commission_rate : "0.10";
  const char *max_rate = f.max_rate ? f.max_rate : "0.20";
  const char *max_change = f.max_change_rate ? f.max_change_rate : "0.01";
  uint8_t pk[ST_PUBKEY_LEN];
  char amount[ST_U128_STR_MAX], min_self[ST_U128_STR_MAX];
  size_t got = 0;
  if (f.pubkey && (strlen(f.pubkey) != 2 * ST_PUBKEY_LEN ||
                   st_hex_decode(f.pubkey, 2 * ST_PUBKEY_LEN, pk, sizeof(pk), &got) != 0)) {
    fprintf(stderr, "stratosd: bad --pubkey (the node's ed25519 public key, %d hex digits)\n",
            2 * ST_PUBKEY_LEN);
    return ST_EXIT_USAGE;
  }
  if ((rc = text_flag("moniker", f.moniker, 1, MONIKER_MAX)) != 0 ||
      (rc = amount_flag("amount", f.amount, false, amount)) != 0 ||
      (rc = rate_flag("commission-rate", rate)) != 0 ||
      (rc = rate_flag("max-rate", max_rate)) != 0 ||
      (rc = rate_flag("max-change-rate", max_change)) != 0 ||
      (rc = amount_flag("min-self-delegation",
                        f.min_self_delegation ? f.min_self_delegation : "1stos", false,
                        min_self)) != 0)
    return rc;
  if (f.node_home && (rc = st_daemon__node_pubkey(f.node_home, pk)) != 0) {
    fprintf(stderr, "stratosd: cannot read the node key %s/config/node_key.json: %s\n",
            f.node_home, st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  if ((rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgCreateValidator m;
  stratos__tx__msg_create_validator__init(&m);
  m.pubkey.data = pk;
  m.pubkey.len = ST_PUBKEY_LEN;
  m.moniker = (char *)(uintptr_t)f.moniker;
  m.self_delegation = amount;
  m.commission_rate = (char *)(uintptr_t)rate;
  m.max_rate = (char *)(uintptr_t)max_rate;
  m.max_change_rate = (char *)(uintptr_t)max_change;
  m.min_self_delegation = min_self;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_CREATE_VALIDATOR;
  b.create_validator = &m;
  return tx_sign_emit(&e, &b);
}

static int tx_edit_validator(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "moniker", "commission-rate",
                                      "min-self-delegation", NULL};
  cflags_t f;
  txenv_t e = {0};
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "edit-validator", &e)) != 0)
    return rc;
  if (!f.moniker && !f.commission_rate && !f.min_self_delegation) {
    fprintf(stderr, "stratosd: tx edit-validator needs --moniker, --commission-rate or "
                    "--min-self-delegation\n");
    return ST_EXIT_USAGE;
  }
  char min_self[ST_U128_STR_MAX] = "";
  if ((f.moniker && (rc = text_flag("moniker", f.moniker, 1, MONIKER_MAX)) != 0) ||
      (f.commission_rate && (rc = rate_flag("commission-rate", f.commission_rate)) != 0) ||
      (f.min_self_delegation &&
       (rc = amount_flag("min-self-delegation", f.min_self_delegation, false, min_self)) != 0))
    return rc;
  if ((rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgEditValidator m;
  stratos__tx__msg_edit_validator__init(&m);
  m.moniker = (char *)(uintptr_t)(f.moniker ? f.moniker : "");
  m.commission_rate = (char *)(uintptr_t)(f.commission_rate ? f.commission_rate : "");
  m.min_self_delegation = min_self;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_EDIT_VALIDATOR;
  b.edit_validator = &m;
  return tx_sign_emit(&e, &b);
}

static int tx_unjail(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, NULL};
  cflags_t f;
  txenv_t e = {0};
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "unjail", &e)) != 0 || (rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgUnjail m;
  stratos__tx__msg_unjail__init(&m);
  b.msg_case = STRATOS__TX__TX_BODY__MSG_UNJAIL;
  b.unjail = &m;
  return tx_sign_emit(&e, &b);
}

static int tx_withdraw_rewards(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "validator", NULL};
  cflags_t f;
  txenv_t e = {0};
  uint8_t val[ST_ADDR_LEN];
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "withdraw-rewards", &e)) != 0 ||
      (f.validator && (rc = addr_flag("validator", f.validator, val)) != 0) ||
      (rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgWithdrawRewards m;
  stratos__tx__msg_withdraw_rewards__init(&m);
  if (f.validator) {
    m.validator.data = val;
    m.validator.len = ST_ADDR_LEN;
  }
  b.msg_case = STRATOS__TX__TX_BODY__MSG_WITHDRAW_REWARDS;
  b.withdraw_rewards = &m;
  return tx_sign_emit(&e, &b);
}

/* tx gov submit: one MsgSubmitProposal with the --change key=value list. */
static int gov_submit(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "title", "description", "change", "deposit",
                                      NULL};
  cflags_t f;
  txenv_t e = {0};
  int rc = parse_flags(argc, argv, 4, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "gov submit", &e)) != 0)
    return rc;
  if (!f.title || f.nchanges == 0) {
    fprintf(stderr, "stratosd: tx gov submit needs --title TEXT and at least one --change "
                    "KEY=JSON\n");
    return ST_EXIT_USAGE;
  }
  char deposit[ST_U128_STR_MAX] = "0";
  if ((rc = text_flag("title", f.title, 1, TITLE_MAX)) != 0 ||
      (f.deposit && (rc = amount_flag("deposit", f.deposit, true, deposit)) != 0))
    return rc;
  if (f.description && strlen(f.description) > DESCRIPTION_MAX) {
    fprintf(stderr, "stratosd: --description exceeds %d bytes\n", DESCRIPTION_MAX);
    return ST_EXIT_USAGE;
  }
  /* key=value, the key a "<section>.<name>" and the value JSON text. */
  char keys[CHANGES_MAX][65];
  Stratos__Tx__ParamChange ch[CHANGES_MAX], *chp[CHANGES_MAX];
  for (size_t i = 0; i < f.nchanges; i++) {
    const char *c = f.changes[i], *eq = strchr(c, '=');
    size_t kl = eq ? (size_t)(eq - c) : 0;
    const char *dot = eq ? memchr(c, '.', kl) : NULL;
    if (!eq || !dot || dot == c || dot == eq - 1 || kl >= sizeof(keys[0])) {
      fprintf(stderr, "stratosd: bad --change %s (KEY=JSON with KEY <section>.<name>, "
                      "e.g. auth.min_fee_per_byte='\"2000000000\"')\n", c);
      return ST_EXIT_USAGE;
    }
    json_error_t je;
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, &je);
    if (!v) {
      fprintf(stderr, "stratosd: --change %.*s: the value is not JSON (%s); strings need "
                      "their quotes, e.g. '\"2000000000\"'\n", (int)kl, c, je.text);
      return ST_EXIT_USAGE;
    }
    json_decref(v);
    memcpy(keys[i], c, kl);
    keys[i][kl] = '\0';
    stratos__tx__param_change__init(&ch[i]);
    ch[i].key = keys[i];
    ch[i].value = (char *)(uintptr_t)(eq + 1);
    chp[i] = &ch[i];
  }
  if ((rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgSubmitProposal m;
  stratos__tx__msg_submit_proposal__init(&m);
  m.title = (char *)(uintptr_t)f.title;
  m.description = (char *)(uintptr_t)(f.description ? f.description : "");
  m.n_changes = f.nchanges;
  m.changes = chp;
  m.deposit = deposit;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_SUBMIT_PROPOSAL;
  b.submit_proposal = &m;
  return tx_sign_emit(&e, &b);
}

static int gov_deposit(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "proposal", "amount", NULL};
  cflags_t f;
  txenv_t e = {0};
  int rc = parse_flags(argc, argv, 4, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "gov deposit", &e)) != 0)
    return rc;
  if (!f.proposal || !f.amount) {
    fprintf(stderr, "stratosd: tx gov deposit needs --proposal ID and --amount AMT\n");
    return ST_EXIT_USAGE;
  }
  uint64_t id;
  char amount[ST_U128_STR_MAX];
  if ((rc = count_flag("--proposal", f.proposal, &id)) != 0 ||
      (rc = amount_flag("amount", f.amount, false, amount)) != 0 ||
      (rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgDeposit m;
  stratos__tx__msg_deposit__init(&m);
  m.proposal_id = id;
  m.amount = amount;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_DEPOSIT;
  b.deposit = &m;
  return tx_sign_emit(&e, &b);
}

static int gov_vote(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "proposal", "option", NULL};
  /* proto/tx.proto numbers the options from 1. */
  static const struct {
    const char *name;
    uint32_t option;
  } options[] = {{"yes", 1}, {"abstain", 2}, {"no", 3}, {"veto", 4}, {"no_with_veto", 4}};
  cflags_t f;
  txenv_t e = {0};
  int rc = parse_flags(argc, argv, 4, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "gov vote", &e)) != 0)
    return rc;
  if (!f.proposal || !f.option) {
    fprintf(stderr, "stratosd: tx gov vote needs --proposal ID and --option "
                    "yes|no|abstain|veto\n");
    return ST_EXIT_USAGE;
  }
  uint64_t id;
  uint32_t option = 0;
  if ((rc = count_flag("--proposal", f.proposal, &id)) != 0)
    return rc;
  for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
    if (strcmp(f.option, options[i].name) == 0)
      option = options[i].option;
  if (!option) {
    fprintf(stderr, "stratosd: bad --option %s (yes, no, abstain or veto)\n", f.option);
    return ST_EXIT_USAGE;
  }
  if ((rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgVote m;
  stratos__tx__msg_vote__init(&m);
  m.proposal_id = id;
  m.option = option;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_VOTE;
  b.vote = &m;
  return tx_sign_emit(&e, &b);
}

/* ---- register and sds ---- */

/* An stsds1... node address flag. */
static int node_flag(const char *flag, const char *v, uint8_t out[ST_ADDR_LEN]) {
  if (st_addr_decode(v, ST_HRP_NODE, out) != 0) {
    fprintf(stderr, "stratosd: --%s %s is not an stsds1... node address\n", flag, v);
    return ST_EXIT_USAGE;
  }
  return ST_EXIT_OK;
}

/* The node key of create-resource-node and create-meta-node: --pubkey
 * HEX is checked here; --node-home DIR is read by node_key_read once
 * every flag has passed, so that a usage error never waits on a file. */
static int node_key_flag(const cflags_t *f, const char *cmd, uint8_t pk[ST_PUBKEY_LEN]) {
  size_t got = 0;
  if (!f->pubkey == !f->node_home) {
    fprintf(stderr, "stratosd: tx %s needs --pubkey HEX or --node-home DIR (one of them)\n",
            cmd);
    return ST_EXIT_USAGE;
  }
  if (f->pubkey && (strlen(f->pubkey) != 2 * ST_PUBKEY_LEN ||
                    st_hex_decode(f->pubkey, 2 * ST_PUBKEY_LEN, pk, ST_PUBKEY_LEN, &got) != 0 ||
                    got != ST_PUBKEY_LEN)) {
    fprintf(stderr, "stratosd: bad --pubkey (the node's ed25519 public key, %d hex digits)\n",
            2 * ST_PUBKEY_LEN);
    return ST_EXIT_USAGE;
  }
  return ST_EXIT_OK;
}

static int node_key_read(const cflags_t *f, uint8_t pk[ST_PUBKEY_LEN]) {
  int rc;
  if (f->node_home && (rc = st_daemon__node_pubkey(f->node_home, pk)) != 0) {
    fprintf(stderr, "stratosd: cannot read the node key %s/config/node_key.json: %s\n",
            f->node_home, st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  return ST_EXIT_OK;
}

/* A decimal integer from min to max (node type, capacity). */
static int int_flag(const char *flag, const char *v, uint64_t min, uint64_t max,
                    uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || *end || v[0] < '0' || v[0] > '9' || x < min || x > max) {
    fprintf(stderr, "stratosd: bad --%s %s (an integer from %llu to %llu)\n", flag, v,
            (unsigned long long)min, (unsigned long long)max);
    return ST_EXIT_USAGE;
  }
  *out = x;
  return ST_EXIT_OK;
}

static int tx_create_resource_node(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "pubkey", "node-home", "deposit", "type",
                                      "capacity", "network-address", "moniker", NULL};
  const char *cmd = "create-resource-node";
  cflags_t f;
  txenv_t e = {0};
  uint8_t pk[ST_PUBKEY_LEN];
  char deposit[ST_U128_STR_MAX];
  uint64_t type = 4, capacity;
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, cmd, &e)) != 0)
    return rc;
  if (!f.deposit || !f.capacity || !f.network_address || !f.moniker) {
    fprintf(stderr, "stratosd: tx %s needs --pubkey HEX or --node-home DIR, --deposit AMT, "
                    "--capacity BYTES, --network-address HOST:PORT and --moniker NAME\n", cmd);
    return ST_EXIT_USAGE;
  }
  if ((rc = node_key_flag(&f, cmd, pk)) != 0 ||
      (rc = amount_flag("deposit", f.deposit, false, deposit)) != 0 ||
      (f.type && (rc = int_flag("type", f.type, 1, 7, &type)) != 0) ||
      (rc = int_flag("capacity", f.capacity, 1, UINT64_MAX, &capacity)) != 0 ||
      (rc = text_flag("network-address", f.network_address, 3, NETADDR_MAX)) != 0 ||
      (rc = text_flag("moniker", f.moniker, 1, MONIKER_MAX)) != 0 ||
      (rc = node_key_read(&f, pk)) != 0 || (rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgCreateResourceNode m;
  stratos__tx__msg_create_resource_node__init(&m);
  m.pubkey.data = pk;
  m.pubkey.len = ST_PUBKEY_LEN;
  m.deposit = deposit;
  m.node_type = (uint32_t)type;
  m.capacity = capacity;
  m.network_address = (char *)(uintptr_t)f.network_address;
  m.moniker = (char *)(uintptr_t)f.moniker;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_CREATE_RESOURCE_NODE;
  b.create_resource_node = &m;
  return tx_sign_emit(&e, &b);
}

static int tx_update_resource_deposit(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "node", "amount", "decrease", NULL};
  cflags_t f;
  txenv_t e = {0};
  uint8_t node[ST_ADDR_LEN];
  char amount[ST_U128_STR_MAX];
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "update-resource-deposit", &e)) != 0)
    return rc;
  if (!f.node || !f.amount) {
    fprintf(stderr, "stratosd: tx update-resource-deposit needs --node ADDR and --amount AMT "
                    "[--decrease]\n");
    return ST_EXIT_USAGE;
  }
  if ((rc = node_flag("node", f.node, node)) != 0 ||
      (rc = amount_flag("amount", f.amount, false, amount)) != 0 ||
      (rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgUpdateResourceNodeDeposit m;
  stratos__tx__msg_update_resource_node_deposit__init(&m);
  m.node.data = node;
  m.node.len = ST_ADDR_LEN;
  m.amount = amount;
  m.decrease = f.decrease != 0;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_UPDATE_RESOURCE_NODE_DEPOSIT;
  b.update_resource_node_deposit = &m;
  return tx_sign_emit(&e, &b);
}

/* remove-resource-node, remove-meta-node: one --node. */
static int tx_remove_node(int argc, char **argv, bool meta) {
  static const char *const names[] = {TX_FLAGS, "node", NULL};
  const char *cmd = meta ? "remove-meta-node" : "remove-resource-node";
  cflags_t f;
  txenv_t e = {0};
  uint8_t node[ST_ADDR_LEN];
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, cmd, &e)) != 0)
    return rc;
  if (!f.node) {
    fprintf(stderr, "stratosd: tx %s needs --node ADDR\n", cmd);
    return ST_EXIT_USAGE;
  }
  if ((rc = node_flag("node", f.node, node)) != 0 || (rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgRemoveResourceNode r;
  stratos__tx__msg_remove_resource_node__init(&r);
  Stratos__Tx__MsgRemoveMetaNode m;
  stratos__tx__msg_remove_meta_node__init(&m);
  if (meta) {
    m.node.data = node;
    m.node.len = ST_ADDR_LEN;
    b.msg_case = STRATOS__TX__TX_BODY__MSG_REMOVE_META_NODE;
    b.remove_meta_node = &m;
  } else {
    r.node.data = node;
    r.node.len = ST_ADDR_LEN;
    b.msg_case = STRATOS__TX__TX_BODY__MSG_REMOVE_RESOURCE_NODE;
    b.remove_resource_node = &r;
  }
  return tx_sign_emit(&e, &b);
}

static int tx_create_meta_node(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "pubkey", "node-home", "deposit",
                                      "network-address", "moniker", NULL};
  const char *cmd = "create-meta-node";
  cflags_t f;
  txenv_t e = {0};
  uint8_t pk[ST_PUBKEY_LEN];
  char deposit[ST_U128_STR_MAX];
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, cmd, &e)) != 0)
    return rc;
  if (!f.deposit || !f.network_address || !f.moniker) {
    fprintf(stderr, "stratosd: tx %s needs --pubkey HEX or --node-home DIR, --deposit AMT, "
                    "--network-address HOST:PORT and --moniker NAME\n", cmd);
    return ST_EXIT_USAGE;
  }
  if ((rc = node_key_flag(&f, cmd, pk)) != 0 ||
      (rc = amount_flag("deposit", f.deposit, false, deposit)) != 0 ||
      (rc = text_flag("network-address", f.network_address, 3, NETADDR_MAX)) != 0 ||
      (rc = text_flag("moniker", f.moniker, 1, MONIKER_MAX)) != 0 ||
      (rc = node_key_read(&f, pk)) != 0 || (rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgCreateMetaNode m;
  stratos__tx__msg_create_meta_node__init(&m);
  m.pubkey.data = pk;
  m.pubkey.len = ST_PUBKEY_LEN;
  m.deposit = deposit;
  m.network_address = (char *)(uintptr_t)f.network_address;
  m.moniker = (char *)(uintptr_t)f.moniker;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_CREATE_META_NODE;
  b.create_meta_node = &m;
  return tx_sign_emit(&e, &b);
}

/* meta-vote (--candidate, --approve|--reject) and kick-meta (--target,
 * --kick|--keep): the vote of the sender's active meta node --voter. */
static int tx_meta_vote(int argc, char **argv, bool kick) {
  static const char *const vnames[] = {TX_FLAGS, "candidate", "voter", "approve", "reject",
                                       NULL};
  static const char *const knames[] = {TX_FLAGS, "target", "voter", "kick", "keep", NULL};
  const char *cmd = kick ? "kick-meta" : "meta-vote";
  cflags_t f;
  txenv_t e = {0};
  uint8_t node[ST_ADDR_LEN], voter[ST_ADDR_LEN];
  int rc = parse_flags(argc, argv, 3, kick ? knames : vnames, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, cmd, &e)) != 0)
    return rc;
  const char *who = kick ? f.target : f.candidate;
  int yes = kick ? f.kick : f.approve, no = kick ? f.keep : f.reject;
  if (!who || !f.voter || yes == no) {
    fprintf(stderr, kick ? "stratosd: tx kick-meta needs --target ADDR, --voter ADDR and "
                           "one of --kick or --keep\n"
                         : "stratosd: tx meta-vote needs --candidate ADDR, --voter ADDR and "
                           "one of --approve or --reject\n");
    return ST_EXIT_USAGE;
  }
  if ((rc = node_flag(kick ? "target" : "candidate", who, node)) != 0 ||
      (rc = node_flag("voter", f.voter, voter)) != 0 || (rc = tx_open(&f, &e)) != 0)
    return rc;
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgMetaNodeRegistrationVote v;
  stratos__tx__msg_meta_node_registration_vote__init(&v);
  Stratos__Tx__MsgKickMetaNodeVote k;
  stratos__tx__msg_kick_meta_node_vote__init(&k);
  if (kick) {
    k.target.data = node;
    k.target.len = ST_ADDR_LEN;
    k.voter.data = voter;
    k.voter.len = ST_ADDR_LEN;
    k.kick = yes != 0;
    b.msg_case = STRATOS__TX__TX_BODY__MSG_KICK_META_NODE_VOTE;
    b.kick_meta_node_vote = &k;
  } else {
    v.candidate.data = node;
    v.candidate.len = ST_ADDR_LEN;
    v.voter.data = voter;
    v.voter.len = ST_ADDR_LEN;
    v.approve = yes != 0;
    b.msg_case = STRATOS__TX__TX_BODY__MSG_META_NODE_REGISTRATION_VOTE;
    b.meta_node_registration_vote = &v;
  }
  return tx_sign_emit(&e, &b);
}

static int tx_prepay(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "amount", "beneficiary", NULL};
  cflags_t f;
  txenv_t e = {0};
  uint8_t ben[ST_ADDR_LEN];
  char amount[ST_U128_STR_MAX];
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0 || (rc = tx_common_flags(&f, "prepay", &e)) != 0)
    return rc;
  if (!f.amount) {
    fprintf(stderr, "stratosd: tx prepay needs --amount AMT [--beneficiary ADDR]\n");
    return ST_EXIT_USAGE;
  }
  if ((rc = amount_flag("amount", f.amount, false, amount)) != 0 ||
      (f.beneficiary && (rc = addr_flag("beneficiary", f.beneficiary, ben)) != 0) ||
      (rc = tx_open(&f, &e)) != 0)
    return rc;
  /* The noz go to the sender unless someone else is named. */
  if (!f.beneficiary)
    memcpy(ben, e.from, ST_ADDR_LEN);
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgPrepay m;
  stratos__tx__msg_prepay__init(&m);
  m.beneficiary.data = ben;
  m.beneficiary.len = ST_ADDR_LEN;
  m.amount = amount;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_PREPAY;
  b.prepay = &m;
  return tx_sign_emit(&e, &b);
}

#define TX_COMMANDS                                                                   \
  "send, stake, unstake, redelegate, create-validator, edit-validator, unjail, "      \
  "withdraw-rewards, gov, create-resource-node, update-resource-deposit, "            \
  "remove-resource-node, create-meta-node, meta-vote, kick-meta, remove-meta-node "   \
  "or prepay"

int st_daemon__cmd_tx(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "stratosd: tx needs a command: " TX_COMMANDS "\n");
    return ST_EXIT_USAGE;
  }
  const char *c = argv[2];
  if (strcmp(c, "send") == 0)
    return tx_send(argc, argv);
  if (strcmp(c, "stake") == 0)
    return tx_delegate(argc, argv, false);
  if (strcmp(c, "unstake") == 0)
    return tx_delegate(argc, argv, true);
  if (strcmp(c, "redelegate") == 0)
    return tx_redelegate(argc, argv);
  if (strcmp(c, "create-validator") == 0)
    return tx_create_validator(argc, argv);
  if (strcmp(c, "edit-validator") == 0)
    return tx_edit_validator(argc, argv);
  if (strcmp(c, "unjail") == 0)
    return tx_unjail(argc, argv);
  if (strcmp(c, "withdraw-rewards") == 0)
    return tx_withdraw_rewards(argc, argv);
  if (strcmp(c, "create-resource-node") == 0)
    return tx_create_resource_node(argc, argv);
  if (strcmp(c, "update-resource-deposit") == 0)
    return tx_update_resource_deposit(argc, argv);
  if (strcmp(c, "remove-resource-node") == 0)
    return tx_remove_node(argc, argv, false);
  if (strcmp(c, "create-meta-node") == 0)
    return tx_create_meta_node(argc, argv);
  if (strcmp(c, "meta-vote") == 0)
    return tx_meta_vote(argc, argv, false);
  if (strcmp(c, "kick-meta") == 0)
    return tx_meta_vote(argc, argv, true);
  if (strcmp(c, "remove-meta-node") == 0)
    return tx_remove_node(argc, argv, true);
  if (strcmp(c, "prepay") == 0)
    return tx_prepay(argc, argv);
  if (strcmp(c, "gov") == 0) {
    const char *g = argc > 3 ? argv[3] : "";
    if (strcmp(g, "submit") == 0)
      return gov_submit(argc, argv);
    if (strcmp(g, "deposit") == 0)
      return gov_deposit(argc, argv);
    if (strcmp(g, "vote") == 0)
      return gov_vote(argc, argv);
    fprintf(stderr, "stratosd: tx gov needs a command: submit, deposit or vote\n");
    return ST_EXIT_USAGE;
  }
  fprintf(stderr, "stratosd: unknown tx command %s (" TX_COMMANDS ")\n", c);
  return ST_EXIT_USAGE;
}

/* ---- query ---- */

/* The queries: the JSON-RPC method each calls, the positional words it
 * takes after its name, the flags it takes, and its usage line. */
typedef enum { Q_ACCOUNT, Q_TX, Q_BLOCK, Q_VALIDATORS, Q_VALIDATOR, Q_DELEGATIONS,
               Q_UNBONDING, Q_REDELEGATIONS, Q_REWARDS, Q_PROPOSALS, Q_PROPOSAL, Q_PARAMS,
               Q_POOLS, Q_RES_NODES, Q_RES_NODE, Q_META_NODES, Q_META_NODE, Q_OZONE_PRICE,
               Q_PREPAY_POOL } qkind_t;

#define QF_BASE "home", "rpc"
#define QF_PAGED QF_BASE, "page", "per-page"

static const struct {
  const char *name;
  qkind_t kind;
  size_t minpos, maxpos;
  const char *flags[7];
  const char *usage;
} queries[] = {
  {"account", Q_ACCOUNT, 1, 1, {QF_BASE, NULL}, "account ADDR"},
  {"tx", Q_TX, 1, 1, {QF_BASE, NULL}, "tx HASH"},
  {"block", Q_BLOCK, 0, 1, {QF_BASE, NULL}, "block [HEIGHT]"},
  {"validators", Q_VALIDATORS, 0, 0, {QF_PAGED, "status", NULL},
   "validators [--status bonded|unbonding|unbonded]"},
  {"validator", Q_VALIDATOR, 1, 1, {QF_BASE, NULL}, "validator ADDR"},
  {"delegations", Q_DELEGATIONS, 0, 0, {QF_PAGED, "delegator", "validator", NULL},
   "delegations (--delegator ADDR | --validator ADDR)"},
  {"unbonding", Q_UNBONDING, 0, 0, {QF_PAGED, "delegator", "validator", NULL},
   "unbonding (--delegator ADDR | --validator ADDR)"},
  {"redelegations", Q_REDELEGATIONS, 0, 0, {QF_PAGED, "delegator", NULL},
   "redelegations --delegator ADDR"},
  {"rewards", Q_REWARDS, 1, 1, {QF_BASE, "validator", NULL},
   "rewards DELEGATOR [--validator ADDR]"},
  {"proposals", Q_PROPOSALS, 0, 0, {QF_PAGED, "status", NULL},
   "proposals [--status deposit|voting|passed|rejected|failed|expired]"},
  {"proposal", Q_PROPOSAL, 1, 1, {QF_BASE, NULL}, "proposal ID"},
  {"params", Q_PARAMS, 0, 0, {QF_BASE, NULL}, "params"},
  {"pools", Q_POOLS, 0, 0, {QF_BASE, NULL}, "pools"},
  {"resource-nodes", Q_RES_NODES, 0, 0, {QF_PAGED, "status", NULL},
   "resource-nodes [--status active|removed]"},
  {"resource-node", Q_RES_NODE, 1, 1, {QF_BASE, NULL}, "resource-node ADDR"},
  {"meta-nodes", Q_META_NODES, 0, 0, {QF_PAGED, "status", NULL},
   "meta-nodes [--status active|pending|removed|rejected|kicked]"},
  {"meta-node", Q_META_NODE, 1, 1, {QF_BASE, NULL}, "meta-node ADDR"},
  {"ozone-price", Q_OZONE_PRICE, 0, 0, {QF_BASE, "amount", NULL},
   "ozone-price [--amount AMT]"},
  {"prepay-pool", Q_PREPAY_POOL, 0, 0, {QF_BASE, NULL}, "prepay-pool"},
};

static void query_usage(void) {
  fprintf(stderr, "stratosd: query needs one of:\n");
  for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
    fprintf(stderr, "  %s\n", queries[i].usage);
  fprintf(stderr, "lists take [--page N] [--per-page N]; every query takes [--rpc URL]\n");
}

/* Adds an st1... address to params as name; what names it in a message. */
static int q_addr(json_t *params, const char *what, const char *v, const char *name) {
  uint8_t a[ST_ADDR_LEN];
  if (st_addr_decode(v, ST_HRP_WALLET, a) != 0) {
    fprintf(stderr, "stratosd: %s %s is not an st1... address\n", what, v);
    return ST_EXIT_USAGE;
  }
  json_object_set_new(params, name, json_string(v));
  return ST_EXIT_OK;
}

/* Adds an stsds1... node address to params as "address". */
static int q_node(json_t *params, const char *v) {
  uint8_t a[ST_ADDR_LEN];
  if (st_addr_decode(v, ST_HRP_NODE, a) != 0) {
    fprintf(stderr, "stratosd: node %s is not an stsds1... node address\n", v);
    return ST_EXIT_USAGE;
  }
  json_object_set_new(params, "address", json_string(v));
  return ST_EXIT_OK;
}

/* Adds --page and --per-page to params. */
static int q_page(json_t *params, const cflags_t *f) {
  uint64_t n;
  int rc;
  if (f->page) {
    if ((rc = count_flag("--page", f->page, &n)) != 0)
      return rc;
    json_object_set_new(params, "page", json_integer((json_int_t)n));
  }
  if (f->per_page) {
    if ((rc = count_flag("--per-page", f->per_page, &n)) != 0)
      return rc;
    if (n > 100) {
      fprintf(stderr, "stratosd: bad --per-page %s (1 to 100)\n", f->per_page);
      return ST_EXIT_USAGE;
    }
    json_object_set_new(params, "per_page", json_integer((json_int_t)n));
  }
  return ST_EXIT_OK;
}

/* --status of validators, proposals or nodes, one of names. */
static int q_status(json_t *params, const cflags_t *f, const char *const *names) {
  if (!f->status)
    return ST_EXIT_OK;
  for (size_t i = 0; names[i]; i++)
    if (strcmp(f->status, names[i]) == 0) {
      json_object_set_new(params, "status", json_string(f->status));
      return ST_EXIT_OK;
    }
  fprintf(stderr, "stratosd: bad --status %s (", f->status);
  for (size_t i = 0; names[i]; i++)
    fprintf(stderr, "%s%s", i ? ", " : "", names[i]);
  fprintf(stderr, ")\n");
  return ST_EXIT_USAGE;
}

/* Fills *method and params for the query in f; prints a usage error. */
static int query_request(const cflags_t *f, const char **method, json_t *params) {
  static const char *const val_status[] = {"bonded", "unbonding", "unbonded", NULL};
  static const char *const prop_status[] = {"deposit", "voting", "passed", "rejected",
                                            "failed", "expired", NULL};
  static const char *const res_status[] = {"active", "removed", NULL};
  static const char *const meta_status[] = {"active", "pending", "removed", "rejected",
                                            "kicked", NULL};
  /* The JSON-RPC names of the queries whose CLI name has a dash. */
  static const char *const methods[] = {
    [Q_RES_NODES] = "resource_nodes", [Q_RES_NODE] = "resource_node",
    [Q_META_NODES] = "meta_nodes",    [Q_META_NODE] = "meta_node",
    [Q_OZONE_PRICE] = "ozone_price",  [Q_PREPAY_POOL] = "prepay_pool"};
  size_t q, nq = sizeof(queries) / sizeof(queries[0]);
  for (q = 0; q < nq; q++)
    if (f->npos && strcmp(f->pos[0], queries[q].name) == 0)
      break;
  if (q == nq) {
    if (f->npos)
      fprintf(stderr, "stratosd: unknown query %s\n", f->pos[0]);
    query_usage();
    return ST_EXIT_USAGE;
  }
  char cmd[32];
  snprintf(cmd, sizeof(cmd), "query %s", queries[q].name);
  size_t np = f->npos - 1;
  if (np < queries[q].minpos || np > queries[q].maxpos) {
    fprintf(stderr, "stratosd: usage: stratosd query %s\n", queries[q].usage);
    return ST_EXIT_USAGE;
  }
  int rc = only_flags(f, queries[q].flags, cmd);
  if (rc != 0)
    return rc;
  const char *arg = np ? f->pos[1] : NULL;
  uint64_t id;
  char amount[ST_U128_STR_MAX];
  *method = queries[q].name;
  if (queries[q].kind < sizeof(methods) / sizeof(methods[0]) && methods[queries[q].kind])
    *method = methods[queries[q].kind];
  switch (queries[q].kind) {
  case Q_ACCOUNT:
    json_object_set_new(params, "address", json_string(arg));
    break;
  case Q_TX:
    json_object_set_new(params, "hash", json_string(arg));
    break;
  case Q_BLOCK:
    if (arg)
      json_object_set_new(params, "height", json_string(arg));
    break;
  case Q_VALIDATORS:
    rc = q_status(params, f, val_status);
    break;
  case Q_VALIDATOR:
    rc = q_addr(params, "validator", arg, "address");
    break;
  case Q_DELEGATIONS:
  case Q_UNBONDING:
  case Q_REDELEGATIONS:
    if (!f->delegator && (!f->validator || queries[q].kind == Q_REDELEGATIONS)) {
      fprintf(stderr, "stratosd: usage: stratosd query %s\n", queries[q].usage);
      return ST_EXIT_USAGE;
    }
    if (f->delegator)
      rc = q_addr(params, "--delegator", f->delegator, "delegator");
    if (rc == 0 && f->validator)
      rc = q_addr(params, "--validator", f->validator, "validator");
    break;
  case Q_REWARDS:
    rc = q_addr(params, "delegator", arg, "delegator");
    if (rc == 0 && f->validator)
      rc = q_addr(params, "--validator", f->validator, "validator");
    break;
  case Q_PROPOSALS:
    rc = q_status(params, f, prop_status);
    break;
  case Q_PROPOSAL:
    if ((rc = count_flag("proposal id", arg, &id)) == 0)
      json_object_set_new(params, "id", json_integer((json_int_t)id));
    break;
  case Q_RES_NODES:
    rc = q_status(params, f, res_status);
    break;
  case Q_META_NODES:
    rc = q_status(params, f, meta_status);
    break;
  case Q_RES_NODE:
  case Q_META_NODE:
    rc = q_node(params, arg);
    break;
  case Q_OZONE_PRICE:
    if (f->amount && (rc = amount_flag("amount", f->amount, false, amount)) == 0)
      json_object_set_new(params, "amount", json_string(amount));
    break;
  case Q_PARAMS:
  case Q_POOLS:
  case Q_PREPAY_POOL:
    break;
  }
  if (rc == 0)
    rc = q_page(params, f);
  return rc;
}

int st_daemon__cmd_query(int argc, char **argv) {
  static const char *const names[] = {"home", "rpc", "delegator", "validator", "status",
                                      "page", "per-page", "amount", NULL};
  cflags_t f;
  int rc = parse_flags(argc, argv, 2, names, &f);
  if (rc != 0)
    return rc;
  const char *method;
  json_t *params = json_object();
  if ((rc = query_request(&f, &method, params)) != 0) {
    json_decref(params);
    return rc;
  }
  char url[512];
  rpc_url(&f, url, sizeof(url));
  json_t *res;
  if (rpc_result(url, method, params, &res) != 0)
    return ST_EXIT_FAIL;
  print_json(res);
  json_decref(res);
  return ST_EXIT_OK;
}
