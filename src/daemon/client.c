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
#include <stdarg.h>
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

/* Prints "stratosd: " and the sentence, and returns the usage exit code:
 * every mistake on the command line ends this way. */
static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_err(const char *fmt, ...) {
  va_list ap;
  fputs("stratosd: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return ST_EXIT_USAGE;
}

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
      if (f->npos == 4)
        return usage_err("unexpected argument %s", w);
      f->pos[f->npos++] = w;
      continue;
    }
    const char *eq = strchr(w, '=');
    size_t nl = eq ? (size_t)(eq - w - 2) : strlen(w + 2);
    if (!named(names, w + 2, nl))
      return usage_err("unknown flag %.*s (see stratosd help)", (int)(nl + 2), w);
    int *sw = switch_slot(f, w + 2, nl);
    if (sw) {
      if (eq)
        return usage_err("flag --%.*s takes no value", (int)nl, w + 2);
      *sw = 1;
      continue;
    }
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v || !*v)
      return usage_err("flag %.*s needs a value", (int)(nl + 2), w);
    if (nl == 6 && memcmp(w + 2, "change", 6) == 0) {
      if (f->nchanges == CHANGES_MAX)
        return usage_err("at most %d --change flags", CHANGES_MAX);
      f->changes[f->nchanges++] = v;
      continue;
    }
    const char **slot = flag_slot(f, w + 2, nl);
    if (!slot)
      return usage_err("unknown flag %.*s (see stratosd help)", (int)(nl + 2), w);
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
    if (*slot && !named(names, flag_slots[j].name, strlen(flag_slots[j].name)))
      return usage_err("%s takes no --%s", cmd, flag_slots[j].name);
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
 * zero_ok. */
static int amount_flag(const char *flag, const char *v, bool zero_ok,
                       char out[ST_U128_STR_MAX]) {
  st_u128 x;
  if (parse_amount(v, &x) != 0 || (x == 0 && !zero_ok))
    return usage_err("bad --%s %s (%swei, or e.g. 1.5stos)", flag, v,
                     zero_ok ? "" : "a positive amount: ");
  st_u128_format(x, out);
  return ST_EXIT_OK;
}

/* An address of hrp: st1... (ST_HRP_WALLET) or stsds1... (ST_HRP_NODE);
 * what names it in the message ("--validator"). */
static int addr_arg(const char *what, const char *v, const char *hrp,
                    uint8_t out[ST_ADDR_LEN]) {
  if (st_addr_decode(v, hrp, out) == 0)
    return ST_EXIT_OK;
  return usage_err("%s %s is not an %s", what, v,
                   strcmp(hrp, ST_HRP_NODE) == 0 ? "stsds1... node address" : "st1... address");
}

/* A fraction flag from 0 to 1 with at most 18 decimals. */
static int rate_flag(const char *flag, const char *v) {
  st_u128 x;
  if (st_dec_parse(v, &x) != 0 || x > ST_DEC_ONE)
    return usage_err("bad --%s %s (a fraction from 0 to 1 such as 0.05, at most 18 decimals)",
                     flag, v);
  return ST_EXIT_OK;
}

/* Digits only (no sign or space), below 2^64. */
static bool decimal(const char *v, unsigned long long *out) {
  char *end;
  errno = 0;
  *out = strtoull(v, &end, 10);
  return !errno && !*end && v[0] >= '0' && v[0] <= '9';
}

/* A positive decimal integer below 2^63 (proposal ids, pages); what names
 * it in the message ("--page"). */
static int count_flag(const char *what, const char *v, uint64_t *out) {
  unsigned long long x;
  if (!decimal(v, &x) || x == 0 || x > INT64_MAX)
    return usage_err("bad %s %s (a positive integer)", what, v);
  *out = x;
  return ST_EXIT_OK;
}

/* A decimal integer from min to max (node type, capacity). */
static int int_flag(const char *flag, const char *v, uint64_t min, uint64_t max,
                    uint64_t *out) {
  unsigned long long x;
  if (!decimal(v, &x) || x < min || x > max)
    return usage_err("bad --%s %s (an integer from %llu to %llu)", flag, v,
                     (unsigned long long)min, (unsigned long long)max);
  *out = x;
  return ST_EXIT_OK;
}

/* Printable ASCII of min..max bytes. */
static int text_flag(const char *flag, const char *v, size_t min, size_t max) {
  size_t n = strlen(v);
  bool ok = n >= min && n <= max;
  for (size_t i = 0; ok && i < n; i++)
    ok = (unsigned char)v[i] >= 0x20 && (unsigned char)v[i] < 0x7f;
  if (!ok)
    return usage_err("bad --%s (%zu to %zu printable ASCII characters)", flag, min, max);
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
  const char *cmd; /* as messages name it: "stake", "gov vote" */
  char chain_id[ST_CHAIN_ID_MAX + 1];
  char url[512];
  st_keypair_t kp;
  uint8_t from[ST_ADDR_LEN];
  uint64_t nonce;
  st_u128 fee;     /* --fee */
  st_u128 min_fee; /* per byte, when no --fee */
  char mode[8];
  Stratos__Tx__TxBody body; /* the command points its message member at its message */
} txenv_t;

/* Checks the flags every tx command shares; prints and returns the usage
 * exit code on a bad one. */
static int tx_common_flags(txenv_t *e) {
  const cflags_t *f = e->f;
  if (!f->home || !f->from == !f->key)
    return usage_err("tx %s needs --home DIR and --from NAME or --key FILE", e->cmd);
  if (f->npos)
    return usage_err("unexpected argument %s", f->pos[0]);
  const char *mode = f->mode ? f->mode : "commit";
  if (strcmp(mode, "commit") && strcmp(mode, "sync") && strcmp(mode, "async"))
    return usage_err("--mode is commit, sync or async");
  snprintf(e->mode, sizeof(e->mode), "%s", mode);
  if (f->fee && parse_amount(f->fee, &e->fee) != 0)
    return usage_err("bad --fee %s", f->fee);
  unsigned long long nonce;
  if (f->nonce && !decimal(f->nonce, &nonce))
    return usage_err("bad --nonce %s", f->nonce);
  if (f->nonce)
    e->nonce = nonce;
  return ST_EXIT_OK;
}

/* Reads the chain id, the key, the nonce and the minimum fee. The node is
 * asked for the nonce unless --nonce is given, and for the minimum fee
 * (which governance may change) unless --fee is given or the tx is
 * signed offline (--generate-only with --nonce); the genesis value is the
 * fallback. On failure prints why and returns the exit code. */
static int tx_open(txenv_t *e) {
  const cflags_t *f = e->f;
  bool have_fee;
  int rc;
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

/* Message fields: protobuf-c takes char * for strings it only reads, and
 * bytes over memory that outlives the message. */
static char *pb_str(const char *s) {
  return (char *)(uintptr_t)s;
}

static ProtobufCBinaryData pb_bytes(uint8_t *p, size_t n) {
  return (ProtobufCBinaryData){.len = n, .data = p};
}

/* Signs e's body, whose message member of case msg the command has set,
 * and emits it; wipes the key. */
static int tx_sign_emit(txenv_t *e, Stratos__Tx__TxBody__MsgCase msg) {
  st_buf_t tx;
  Stratos__Tx__TxBody *body = &e->body;
  body->msg_case = msg;
  body->chain_id = e->chain_id;
  body->nonce = e->nonce;
  body->memo = pb_str(e->f->memo ? e->f->memo : "");
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

/* send checks its own flags first, and signs with st_chain_tx_send, which
 * can sign --count txs of consecutive nonces. */
static int tx_send(int argc, char **argv) {
  static const char *const names[] = {TX_FLAGS, "to", "amount", "count", NULL};
  cflags_t f;
  txenv_t e = {.f = &f, .cmd = "send"};
  int rc = parse_flags(argc, argv, 3, names, &f);
  if (rc != 0)
    return rc;
  if (!f.home || (!f.from == !f.key) || !f.to || !f.amount || f.npos)
    return usage_err("tx send needs --home DIR, --from NAME or --key FILE, --to ADDR and "
                     "--amount AMT");
  unsigned long count = 1;
  if (f.count) {
    char *end;
    errno = 0;
    count = strtoul(f.count, &end, 10);
    if (errno || *end || count == 0 || count > 1000000 || !f.generate_only)
      return usage_err("--count is 1 to 1000000 and goes with --generate-only");
  }
  uint8_t to[ST_ADDR_LEN];
  st_u128 amount;
  if ((rc = tx_common_flags(&e)) != 0 ||
      (rc = addr_arg("--to", f.to, ST_HRP_WALLET, to)) != 0)
    return rc;
  if (parse_amount(f.amount, &amount) != 0 || amount == 0)
    return usage_err("bad --amount %s (wei, or e.g. 1.5stos)", f.amount);
  if ((rc = tx_open(&e)) != 0)
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

/* The other tx commands run once their flags are parsed and the shared
 * ones checked: each checks its own (a usage error before anything is
 * read), opens e with tx_open, points its message member of e->body at
 * its message and signs it with tx_sign_emit. alt picks the second
 * message of the commands that have two. */

/* stake, unstake (alt): MsgDelegate and MsgUndelegate. */
static int tx_delegate(txenv_t *e, const cflags_t *f, bool undelegate) {
  uint8_t val[ST_ADDR_LEN];
  char amount[ST_U128_STR_MAX];
  int rc;
  if (!f->validator || !f->amount)
    return usage_err("tx %s needs --validator ADDR and --amount AMT", e->cmd);
  if ((rc = addr_arg("--validator", f->validator, ST_HRP_WALLET, val)) != 0 ||
      (rc = amount_flag("amount", f->amount, false, amount)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  if (undelegate) {
    Stratos__Tx__MsgUndelegate u;
    stratos__tx__msg_undelegate__init(&u);
    u.validator = pb_bytes(val, ST_ADDR_LEN);
    u.amount = amount;
    e->body.undelegate = &u;
    return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_UNDELEGATE);
  }
  Stratos__Tx__MsgDelegate d;
  stratos__tx__msg_delegate__init(&d);
  d.validator = pb_bytes(val, ST_ADDR_LEN);
  d.amount = amount;
  e->body.delegate = &d;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_DELEGATE);
}

static int tx_redelegate(txenv_t *e, const cflags_t *f, bool alt) {
  uint8_t src[ST_ADDR_LEN], dst[ST_ADDR_LEN];
  char amount[ST_U128_STR_MAX];
  int rc;
  if (!f->src || !f->dst || !f->amount)
    return usage_err("tx redelegate needs --src ADDR, --dst ADDR and --amount AMT");
  if ((rc = addr_arg("--src", f->src, ST_HRP_WALLET, src)) != 0 ||
      (rc = addr_arg("--dst", f->dst, ST_HRP_WALLET, dst)) != 0 ||
      (rc = amount_flag("amount", f->amount, false, amount)) != 0)
    return rc;
  if (memcmp(src, dst, ST_ADDR_LEN) == 0)
    return usage_err("--src and --dst are the same validator");
  if ((rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgRedelegate m;
  stratos__tx__msg_redelegate__init(&m);
  m.src = pb_bytes(src, ST_ADDR_LEN);
  m.dst = pb_bytes(dst, ST_ADDR_LEN);
  m.amount = amount;
  e->body.redelegate = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_REDELEGATE);
}

/* --pubkey HEX: the node's ed25519 public key. */
static int pubkey_flag(const char *v, uint8_t pk[ST_PUBKEY_LEN]) {
  size_t got = 0;
  if (strlen(v) != 2 * ST_PUBKEY_LEN ||
      st_hex_decode(v, 2 * ST_PUBKEY_LEN, pk, ST_PUBKEY_LEN, &got) != 0 || got != ST_PUBKEY_LEN)
    return usage_err("bad --pubkey (the node's ed25519 public key, %d hex digits)",
                     2 * ST_PUBKEY_LEN);
  return ST_EXIT_OK;
}

/* --node-home DIR: the node key read from that home, once every flag has
 * passed, so that a usage error never waits on a file. */
static int node_key_read(const cflags_t *f, uint8_t pk[ST_PUBKEY_LEN]) {
  int rc;
  if (f->node_home && (rc = st_daemon__node_pubkey(f->node_home, pk)) != 0) {
    fprintf(stderr, "stratosd: cannot read the node key %s/config/node_key.json: %s\n",
            f->node_home, st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  return ST_EXIT_OK;
}

static int tx_create_validator(txenv_t *e, const cflags_t *f, bool alt) {
  if (f->pubkey && f->node_home)
    return usage_err("give --pubkey HEX or --node-home DIR, not both");
  if ((!f->pubkey && !f->node_home) || !f->moniker || !f->amount)
    return usage_err("tx create-validator needs --pubkey HEX or --node-home DIR, "
                     "--moniker NAME and --amount AMT");
  const char *rate = f->commission_rate ? f->commission_rate : "0.10";
  const char *max_rate = f->max_rate ? f->max_rate : "0.20";
  const char *max_change = f->max_change_rate ? f->max_change_rate : "0.01";
  const char *min_self = f->min_self_delegation ? f->min_self_delegation : "1stos";
  uint8_t pk[ST_PUBKEY_LEN];
  char amount[ST_U128_STR_MAX], min_self_wei[ST_U128_STR_MAX];
  int rc;
  if ((f->pubkey && (rc = pubkey_flag(f->pubkey, pk)) != 0) ||
      (rc = text_flag("moniker", f->moniker, 1, MONIKER_MAX)) != 0 ||
      (rc = amount_flag("amount", f->amount, false, amount)) != 0 ||
      (rc = rate_flag("commission-rate", rate)) != 0 ||
      (rc = rate_flag("max-rate", max_rate)) != 0 ||
      (rc = rate_flag("max-change-rate", max_change)) != 0 ||
      (rc = amount_flag("min-self-delegation", min_self, false, min_self_wei)) != 0 ||
      (rc = node_key_read(f, pk)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgCreateValidator m;
  stratos__tx__msg_create_validator__init(&m);
  m.pubkey = pb_bytes(pk, ST_PUBKEY_LEN);
  m.moniker = pb_str(f->moniker);
  m.self_delegation = amount;
  m.commission_rate = pb_str(rate);
  m.max_rate = pb_str(max_rate);
  m.max_change_rate = pb_str(max_change);
  m.min_self_delegation = min_self_wei;
  e->body.create_validator = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_CREATE_VALIDATOR);
}

static int tx_edit_validator(txenv_t *e, const cflags_t *f, bool alt) {
  const char *msd = f->min_self_delegation;
  char min_self[ST_U128_STR_MAX] = "";
  int rc;
  if (!f->moniker && !f->commission_rate && !msd)
    return usage_err("tx edit-validator needs --moniker, --commission-rate or "
                     "--min-self-delegation");
  if ((f->moniker && (rc = text_flag("moniker", f->moniker, 1, MONIKER_MAX)) != 0) ||
      (f->commission_rate && (rc = rate_flag("commission-rate", f->commission_rate)) != 0) ||
      (msd && (rc = amount_flag("min-self-delegation", msd, false, min_self)) != 0) ||
      (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgEditValidator m;
  stratos__tx__msg_edit_validator__init(&m);
  m.moniker = pb_str(f->moniker ? f->moniker : "");
  m.commission_rate = pb_str(f->commission_rate ? f->commission_rate : "");
  m.min_self_delegation = min_self;
  e->body.edit_validator = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_EDIT_VALIDATOR);
}

static int tx_unjail(txenv_t *e, const cflags_t *f, bool alt) {
  int rc = tx_open(e);
  if (rc != 0)
    return rc;
  Stratos__Tx__MsgUnjail m;
  stratos__tx__msg_unjail__init(&m);
  e->body.unjail = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_UNJAIL);
}

static int tx_withdraw_rewards(txenv_t *e, const cflags_t *f, bool alt) {
  uint8_t val[ST_ADDR_LEN];
  int rc;
  if ((f->validator && (rc = addr_arg("--validator", f->validator, ST_HRP_WALLET, val)) != 0) ||
      (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgWithdrawRewards m;
  stratos__tx__msg_withdraw_rewards__init(&m);
  if (f->validator)
    m.validator = pb_bytes(val, ST_ADDR_LEN);
  e->body.withdraw_rewards = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_WITHDRAW_REWARDS);
}

/* Longer than any parameter's "<section>.<name>". */
#define CHANGE_KEY_MAX 64

/* The --change KEY=JSON flags of gov submit, the key a "<section>.<name>"
 * and the value JSON text, as ParamChanges over keys and the flags. */
static int param_changes(const cflags_t *f, char keys[][CHANGE_KEY_MAX + 1],
                         Stratos__Tx__ParamChange *ch, Stratos__Tx__ParamChange **chp) {
  for (size_t i = 0; i < f->nchanges; i++) {
    const char *c = f->changes[i], *eq = strchr(c, '=');
    size_t kl = eq ? (size_t)(eq - c) : 0;
    const char *dot = eq ? memchr(c, '.', kl) : NULL;
    if (!eq || !dot || dot == c || dot == eq - 1 || kl > CHANGE_KEY_MAX)
      return usage_err("bad --change %s (KEY=JSON with KEY <section>.<name>, "
                       "e.g. auth.min_fee_per_byte='\"2000000000\"')", c);
    json_error_t je;
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, &je);
    if (!v)
      return usage_err("--change %.*s: the value is not JSON (%s); strings need their "
                       "quotes, e.g. '\"2000000000\"'", (int)kl, c, je.text);
    json_decref(v);
    memcpy(keys[i], c, kl);
    keys[i][kl] = '\0';
    stratos__tx__param_change__init(&ch[i]);
    ch[i].key = keys[i];
    ch[i].value = pb_str(eq + 1);
    chp[i] = &ch[i];
  }
  return ST_EXIT_OK;
}

/* gov submit: one MsgSubmitProposal with the --change key=value list. */
static int gov_submit(txenv_t *e, const cflags_t *f, bool alt) {
  char deposit[ST_U128_STR_MAX] = "0";
  char keys[CHANGES_MAX][CHANGE_KEY_MAX + 1];
  Stratos__Tx__ParamChange ch[CHANGES_MAX], *chp[CHANGES_MAX];
  int rc;
  if (!f->title || f->nchanges == 0)
    return usage_err("tx gov submit needs --title TEXT and at least one --change KEY=JSON");
  if ((rc = text_flag("title", f->title, 1, TITLE_MAX)) != 0 ||
      (f->deposit && (rc = amount_flag("deposit", f->deposit, true, deposit)) != 0))
    return rc;
  if (f->description && strlen(f->description) > DESCRIPTION_MAX)
    return usage_err("--description exceeds %d bytes", DESCRIPTION_MAX);
  if ((rc = param_changes(f, keys, ch, chp)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgSubmitProposal m;
  stratos__tx__msg_submit_proposal__init(&m);
  m.title = pb_str(f->title);
  m.description = pb_str(f->description ? f->description : "");
  m.n_changes = f->nchanges;
  m.changes = chp;
  m.deposit = deposit;
  e->body.submit_proposal = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_SUBMIT_PROPOSAL);
}

static int gov_deposit(txenv_t *e, const cflags_t *f, bool alt) {
  uint64_t id = 0;
  char amount[ST_U128_STR_MAX];
  int rc;
  if (!f->proposal || !f->amount)
    return usage_err("tx gov deposit needs --proposal ID and --amount AMT");
  if ((rc = count_flag("--proposal", f->proposal, &id)) != 0 ||
      (rc = amount_flag("amount", f->amount, false, amount)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgDeposit m;
  stratos__tx__msg_deposit__init(&m);
  m.proposal_id = id;
  m.amount = amount;
  e->body.deposit = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_DEPOSIT);
}

static int gov_vote(txenv_t *e, const cflags_t *f, bool alt) {
  /* proto/tx.proto numbers the options from 1. */
  static const struct {
    const char *name;
    uint32_t option;
  } options[] = {{"yes", 1}, {"abstain", 2}, {"no", 3}, {"veto", 4}, {"no_with_veto", 4}};
  uint64_t id = 0;
  uint32_t option = 0;
  int rc;
  if (!f->proposal || !f->option)
    return usage_err("tx gov vote needs --proposal ID and --option yes|no|abstain|veto");
  if ((rc = count_flag("--proposal", f->proposal, &id)) != 0)
    return rc;
  for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
    if (strcmp(f->option, options[i].name) == 0)
      option = options[i].option;
  if (!option)
    return usage_err("bad --option %s (yes, no, abstain or veto)", f->option);
  if ((rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgVote m;
  stratos__tx__msg_vote__init(&m);
  m.proposal_id = id;
  m.option = option;
  e->body.vote = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_VOTE);
}

/* ---- register and sds ---- */

/* The node key of create-resource-node and create-meta-node: --pubkey
 * HEX is checked here, --node-home DIR read by node_key_read. */
static int node_key_flag(const txenv_t *e, const cflags_t *f, uint8_t pk[ST_PUBKEY_LEN]) {
  if (!f->pubkey == !f->node_home)
    return usage_err("tx %s needs --pubkey HEX or --node-home DIR (one of them)", e->cmd);
  return f->pubkey ? pubkey_flag(f->pubkey, pk) : ST_EXIT_OK;
}

static int tx_create_resource_node(txenv_t *e, const cflags_t *f, bool alt) {
  uint8_t pk[ST_PUBKEY_LEN];
  char deposit[ST_U128_STR_MAX];
  uint64_t type = 4, capacity = 0;
  int rc;
  if (!f->deposit || !f->capacity || !f->network_address || !f->moniker)
    return usage_err("tx %s needs --pubkey HEX or --node-home DIR, --deposit AMT, "
                     "--capacity BYTES, --network-address HOST:PORT and --moniker NAME",
                     e->cmd);
  if ((rc = node_key_flag(e, f, pk)) != 0 ||
      (rc = amount_flag("deposit", f->deposit, false, deposit)) != 0 ||
      (f->type && (rc = int_flag("type", f->type, 1, 7, &type)) != 0) ||
      (rc = int_flag("capacity", f->capacity, 1, UINT64_MAX, &capacity)) != 0 ||
      (rc = text_flag("network-address", f->network_address, 3, NETADDR_MAX)) != 0 ||
      (rc = text_flag("moniker", f->moniker, 1, MONIKER_MAX)) != 0 ||
      (rc = node_key_read(f, pk)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgCreateResourceNode m;
  stratos__tx__msg_create_resource_node__init(&m);
  m.pubkey = pb_bytes(pk, ST_PUBKEY_LEN);
  m.deposit = deposit;
  m.node_type = (uint32_t)type;
  m.capacity = capacity;
  m.network_address = pb_str(f->network_address);
  m.moniker = pb_str(f->moniker);
  e->body.create_resource_node = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_CREATE_RESOURCE_NODE);
}

static int tx_update_resource_deposit(txenv_t *e, const cflags_t *f, bool alt) {
  uint8_t node[ST_ADDR_LEN];
  char amount[ST_U128_STR_MAX];
  int rc;
  if (!f->node || !f->amount)
    return usage_err("tx update-resource-deposit needs --node ADDR and --amount AMT "
                     "[--decrease]");
  if ((rc = addr_arg("--node", f->node, ST_HRP_NODE, node)) != 0 ||
      (rc = amount_flag("amount", f->amount, false, amount)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgUpdateResourceNodeDeposit m;
  stratos__tx__msg_update_resource_node_deposit__init(&m);
  m.node = pb_bytes(node, ST_ADDR_LEN);
  m.amount = amount;
  m.decrease = f->decrease != 0;
  e->body.update_resource_node_deposit = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_UPDATE_RESOURCE_NODE_DEPOSIT);
}

/* remove-resource-node, remove-meta-node (alt): one --node. */
static int tx_remove_node(txenv_t *e, const cflags_t *f, bool meta) {
  uint8_t node[ST_ADDR_LEN];
  int rc;
  if (!f->node)
    return usage_err("tx %s needs --node ADDR", e->cmd);
  if ((rc = addr_arg("--node", f->node, ST_HRP_NODE, node)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  if (meta) {
    Stratos__Tx__MsgRemoveMetaNode m;
    stratos__tx__msg_remove_meta_node__init(&m);
    m.node = pb_bytes(node, ST_ADDR_LEN);
    e->body.remove_meta_node = &m;
    return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_REMOVE_META_NODE);
  }
  Stratos__Tx__MsgRemoveResourceNode r;
  stratos__tx__msg_remove_resource_node__init(&r);
  r.node = pb_bytes(node, ST_ADDR_LEN);
  e->body.remove_resource_node = &r;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_REMOVE_RESOURCE_NODE);
}

static int tx_create_meta_node(txenv_t *e, const cflags_t *f, bool alt) {
  uint8_t pk[ST_PUBKEY_LEN];
  char deposit[ST_U128_STR_MAX];
  int rc;
  if (!f->deposit || !f->network_address || !f->moniker)
    return usage_err("tx %s needs --pubkey HEX or --node-home DIR, --deposit AMT, "
                     "--network-address HOST:PORT and --moniker NAME", e->cmd);
  if ((rc = node_key_flag(e, f, pk)) != 0 ||
      (rc = amount_flag("deposit", f->deposit, false, deposit)) != 0 ||
      (rc = text_flag("network-address", f->network_address, 3, NETADDR_MAX)) != 0 ||
      (rc = text_flag("moniker", f->moniker, 1, MONIKER_MAX)) != 0 ||
      (rc = node_key_read(f, pk)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgCreateMetaNode m;
  stratos__tx__msg_create_meta_node__init(&m);
  m.pubkey = pb_bytes(pk, ST_PUBKEY_LEN);
  m.deposit = deposit;
  m.network_address = pb_str(f->network_address);
  m.moniker = pb_str(f->moniker);
  e->body.create_meta_node = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_CREATE_META_NODE);
}

/* meta-vote (--candidate, --approve|--reject) and kick-meta (alt:
 * --target, --kick|--keep): the vote of the sender's active meta node
 * --voter. */
static int tx_meta_vote(txenv_t *e, const cflags_t *f, bool kick) {
  uint8_t node[ST_ADDR_LEN], voter[ST_ADDR_LEN];
  const char *who = kick ? f->target : f->candidate;
  int yes = kick ? f->kick : f->approve, no = kick ? f->keep : f->reject;
  int rc;
  if (!who || !f->voter || yes == no)
    return usage_err(kick ? "tx kick-meta needs --target ADDR, --voter ADDR and one of --kick "
                            "or --keep"
                          : "tx meta-vote needs --candidate ADDR, --voter ADDR and one of "
                            "--approve or --reject");
  if ((rc = addr_arg(kick ? "--target" : "--candidate", who, ST_HRP_NODE, node)) != 0 ||
      (rc = addr_arg("--voter", f->voter, ST_HRP_NODE, voter)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  if (kick) {
    Stratos__Tx__MsgKickMetaNodeVote k;
    stratos__tx__msg_kick_meta_node_vote__init(&k);
    k.target = pb_bytes(node, ST_ADDR_LEN);
    k.voter = pb_bytes(voter, ST_ADDR_LEN);
    k.kick = yes != 0;
    e->body.kick_meta_node_vote = &k;
    return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_KICK_META_NODE_VOTE);
  }
  Stratos__Tx__MsgMetaNodeRegistrationVote v;
  stratos__tx__msg_meta_node_registration_vote__init(&v);
  v.candidate = pb_bytes(node, ST_ADDR_LEN);
  v.voter = pb_bytes(voter, ST_ADDR_LEN);
  v.approve = yes != 0;
  e->body.meta_node_registration_vote = &v;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_META_NODE_REGISTRATION_VOTE);
}

static int tx_prepay(txenv_t *e, const cflags_t *f, bool alt) {
  uint8_t ben[ST_ADDR_LEN];
  char amount[ST_U128_STR_MAX];
  int rc;
  if (!f->amount)
    return usage_err("tx prepay needs --amount AMT [--beneficiary ADDR]");
  if ((rc = amount_flag("amount", f->amount, false, amount)) != 0 ||
      (f->beneficiary &&
       (rc = addr_arg("--beneficiary", f->beneficiary, ST_HRP_WALLET, ben)) != 0) ||
      (rc = tx_open(e)) != 0)
    return rc;
  /* The noz go to the sender unless someone else is named. */
  if (!f->beneficiary)
    memcpy(ben, e->from, ST_ADDR_LEN);
  Stratos__Tx__MsgPrepay m;
  stratos__tx__msg_prepay__init(&m);
  m.beneficiary = pb_bytes(ben, ST_ADDR_LEN);
  m.amount = amount;
  e->body.prepay = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_PREPAY);
}

static int tx_foundation_deposit(txenv_t *e, const cflags_t *f, bool alt) {
  char amount[ST_U128_STR_MAX];
  int rc;
  (void)alt;
  if (!f->amount)
    return usage_err("tx foundation-deposit needs --amount AMT");
  if ((rc = amount_flag("amount", f->amount, false, amount)) != 0 || (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgFoundationDeposit m;
  stratos__tx__msg_foundation_deposit__init(&m);
  m.amount = amount;
  e->body.foundation_deposit = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_FOUNDATION_DEPOSIT);
}

/* Without --amount, every matured reward. */
static int tx_withdraw_traffic(txenv_t *e, const cflags_t *f, bool alt) {
  char amount[ST_U128_STR_MAX] = "";
  int rc;
  (void)alt;
  if ((f->amount && (rc = amount_flag("amount", f->amount, false, amount)) != 0) ||
      (rc = tx_open(e)) != 0)
    return rc;
  Stratos__Tx__MsgWithdrawTraffic m;
  stratos__tx__msg_withdraw_traffic__init(&m);
  m.amount = amount;
  e->body.withdraw_traffic = &m;
  return tx_sign_emit(e, STRATOS__TX__TX_BODY__MSG_WITHDRAW_TRAFFIC);
}

/* The tx commands but send: the words that name one after "tx", the
 * flags it takes, what runs it and its alt. */
static const struct txcmd {
  const char *name;
  const char *flags[18];
  int (*run)(txenv_t *e, const cflags_t *f, bool alt);
  bool alt;
} tx_cmds[] = {
  {"stake", {TX_FLAGS, "validator", "amount"}, tx_delegate, false},
  {"unstake", {TX_FLAGS, "validator", "amount"}, tx_delegate, true},
  {"redelegate", {TX_FLAGS, "src", "dst", "amount"}, tx_redelegate, false},
  {"create-validator",
   {TX_FLAGS, "pubkey", "node-home", "moniker", "amount", "commission-rate", "max-rate",
    "max-change-rate", "min-self-delegation"},
   tx_create_validator, false},
  {"edit-validator", {TX_FLAGS, "moniker", "commission-rate", "min-self-delegation"},
   tx_edit_validator, false},
  {"unjail", {TX_FLAGS}, tx_unjail, false},
  {"withdraw-rewards", {TX_FLAGS, "validator"}, tx_withdraw_rewards, false},
  {"gov submit", {TX_FLAGS, "title", "description", "change", "deposit"}, gov_submit, false},
  {"gov deposit", {TX_FLAGS, "proposal", "amount"}, gov_deposit, false},
  {"gov vote", {TX_FLAGS, "proposal", "option"}, gov_vote, false},
  {"create-resource-node",
   {TX_FLAGS, "pubkey", "node-home", "deposit", "type", "capacity", "network-address",
    "moniker"},
   tx_create_resource_node, false},
  {"update-resource-deposit", {TX_FLAGS, "node", "amount", "decrease"},
   tx_update_resource_deposit, false},
  {"remove-resource-node", {TX_FLAGS, "node"}, tx_remove_node, false},
  {"create-meta-node", {TX_FLAGS, "pubkey", "node-home", "deposit", "network-address", "moniker"},
   tx_create_meta_node, false},
  {"meta-vote", {TX_FLAGS, "candidate", "voter", "approve", "reject"}, tx_meta_vote, false},
  {"kick-meta", {TX_FLAGS, "target", "voter", "kick", "keep"}, tx_meta_vote, true},
  {"remove-meta-node", {TX_FLAGS, "node"}, tx_remove_node, true},
  {"prepay", {TX_FLAGS, "amount", "beneficiary"}, tx_prepay, false},
  {"foundation-deposit", {TX_FLAGS, "amount"}, tx_foundation_deposit, false},
  {"withdraw-traffic", {TX_FLAGS, "amount"}, tx_withdraw_traffic, false},
};

/* Whether argv names the command name: argv[2], or argv[2] and argv[3]
 * for the two words of "gov submit". */
static bool names_cmd(const char *name, int argc, char **argv) {
  const char *sp = strchr(name, ' ');
  if (!sp)
    return strcmp(argv[2], name) == 0;
  size_t n = (size_t)(sp - name);
  return argc > 3 && strlen(argv[2]) == n && strncmp(argv[2], name, n) == 0 &&
         strcmp(argv[3], sp + 1) == 0;
}

/* Parses c's flags (after its one or two words), checks the shared ones
 * and runs it. */
static int tx_run(const struct txcmd *c, int argc, char **argv) {
  cflags_t f;
  txenv_t e = {.f = &f, .cmd = c->name};
  int rc = parse_flags(argc, argv, strchr(c->name, ' ') ? 4 : 3, c->flags, &f);
  if (rc != 0 || (rc = tx_common_flags(&e)) != 0)
    return rc;
  stratos__tx__tx_body__init(&e.body);
  return c->run(&e, &f, c->alt);
}

#define TX_COMMANDS                                                                   \
  "send, stake, unstake, redelegate, create-validator, edit-validator, unjail, "      \
  "withdraw-rewards, gov, create-resource-node, update-resource-deposit, "            \
  "remove-resource-node, create-meta-node, meta-vote, kick-meta, remove-meta-node, "  \
  "prepay, foundation-deposit or withdraw-traffic"

int st_daemon__cmd_tx(int argc, char **argv) {
  if (argc < 3)
    return usage_err("tx needs a command: " TX_COMMANDS);
  const char *c = argv[2];
  if (strcmp(c, "send") == 0)
    return tx_send(argc, argv);
  for (size_t i = 0; i < sizeof(tx_cmds) / sizeof(tx_cmds[0]); i++)
    if (names_cmd(tx_cmds[i].name, argc, argv))
      return tx_run(&tx_cmds[i], argc, argv);
  if (strcmp(c, "gov") == 0)
    return usage_err("tx gov needs a command: submit, deposit or vote");
  return usage_err("unknown tx command %s (" TX_COMMANDS ")", c);
}

/* ---- query ---- */

/* How a query turns its positional word and its own flags into params:
 * the lists that filter by --status need nothing beyond the table. */
typedef enum { Q_PLAIN, Q_ACCOUNT, Q_TX, Q_BLOCK, Q_VALIDATOR, Q_DELEGATIONS, Q_UNBONDING,
               Q_REDELEGATIONS, Q_REWARDS, Q_PROPOSAL, Q_NODE, Q_OZONE_PRICE,
               Q_TRAFFIC_REWARDS, Q_TRAFFIC_REPORT } qkind_t;

#define QF_BASE "home", "rpc"
#define QF_PAGED QF_BASE, "page", "per-page"

static const char *const val_status[] = {"bonded", "unbonding", "unbonded", NULL};
static const char *const prop_status[] = {"deposit", "voting", "passed", "rejected",
                                          "failed", "expired", NULL};
static const char *const res_status[] = {"active", "removed", NULL};
static const char *const meta_status[] = {"active", "pending", "removed", "rejected",
                                          "kicked", NULL};

/* The queries: the JSON-RPC method each calls, the positional words it
 * takes after its name, the flags it takes, the values of its --status,
 * and its usage line. */
static const struct query {
  const char *name, *method;
  qkind_t kind;
  size_t minpos, maxpos;
  const char *flags[7];
  const char *const *statuses;
  const char *usage;
} queries[] = {
  {"account", "account", Q_ACCOUNT, 1, 1, {QF_BASE}, NULL, "account ADDR"},
  {"tx", "tx", Q_TX, 1, 1, {QF_BASE}, NULL, "tx HASH"},
  {"block", "block", Q_BLOCK, 0, 1, {QF_BASE}, NULL, "block [HEIGHT]"},
  {"validators", "validators", Q_PLAIN, 0, 0, {QF_PAGED, "status"}, val_status,
   "validators [--status bonded|unbonding|unbonded]"},
  {"validator", "validator", Q_VALIDATOR, 1, 1, {QF_BASE}, NULL, "validator ADDR"},
  {"delegations", "delegations", Q_DELEGATIONS, 0, 0, {QF_PAGED, "delegator", "validator"},
   NULL, "delegations (--delegator ADDR | --validator ADDR)"},
  {"unbonding", "unbonding", Q_UNBONDING, 0, 0, {QF_PAGED, "delegator", "validator"}, NULL,
   "unbonding (--delegator ADDR | --validator ADDR)"},
  {"redelegations", "redelegations", Q_REDELEGATIONS, 0, 0, {QF_PAGED, "delegator"}, NULL,
   "redelegations --delegator ADDR"},
  {"rewards", "rewards", Q_REWARDS, 1, 1, {QF_BASE, "validator"}, NULL,
   "rewards DELEGATOR [--validator ADDR]"},
  {"proposals", "proposals", Q_PLAIN, 0, 0, {QF_PAGED, "status"}, prop_status,
   "proposals [--status deposit|voting|passed|rejected|failed|expired]"},
  {"proposal", "proposal", Q_PROPOSAL, 1, 1, {QF_BASE}, NULL, "proposal ID"},
  {"params", "params", Q_PLAIN, 0, 0, {QF_BASE}, NULL, "params"},
  {"pools", "pools", Q_PLAIN, 0, 0, {QF_BASE}, NULL, "pools"},
  {"resource-nodes", "resource_nodes", Q_PLAIN, 0, 0, {QF_PAGED, "status"}, res_status,
   "resource-nodes [--status active|removed]"},
  {"resource-node", "resource_node", Q_NODE, 1, 1, {QF_BASE}, NULL, "resource-node ADDR"},
  {"meta-nodes", "meta_nodes", Q_PLAIN, 0, 0, {QF_PAGED, "status"}, meta_status,
   "meta-nodes [--status active|pending|removed|rejected|kicked]"},
  {"meta-node", "meta_node", Q_NODE, 1, 1, {QF_BASE}, NULL, "meta-node ADDR"},
  {"ozone-price", "ozone_price", Q_OZONE_PRICE, 0, 0, {QF_BASE, "amount"}, NULL,
   "ozone-price [--amount AMT]"},
  {"prepay-pool", "prepay_pool", Q_PLAIN, 0, 0, {QF_BASE}, NULL, "prepay-pool"},
  {"traffic-rewards", "traffic_rewards", Q_TRAFFIC_REWARDS, 1, 1, {QF_BASE}, NULL,
   "traffic-rewards ADDR"},
  {"traffic-report", "traffic_report", Q_TRAFFIC_REPORT, 0, 1, {QF_BASE}, NULL,
   "traffic-report [EPOCH]"},
  {"foundation", "foundation", Q_PLAIN, 0, 0, {QF_BASE}, NULL, "foundation"},
};

static void query_usage(void) {
  fprintf(stderr, "stratosd: query needs one of:\n");
  for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
    fprintf(stderr, "  %s\n", queries[i].usage);
  fprintf(stderr, "lists take [--page N] [--per-page N]; every query takes [--rpc URL]\n");
}

/* Adds an address of hrp to params as name; what names it in a message. */
static int q_addr(json_t *params, const char *name, const char *what, const char *v,
                  const char *hrp) {
  uint8_t a[ST_ADDR_LEN];
  int rc = addr_arg(what, v, hrp, a);
  if (rc == 0)
    json_object_set_new(params, name, json_string(v));
  return rc;
}

/* Adds --page and --per-page to params. */
static int q_page(json_t *params, const cflags_t *f) {
  uint64_t n = 0;
  int rc;
  if (f->page) {
    if ((rc = count_flag("--page", f->page, &n)) != 0)
      return rc;
    json_object_set_new(params, "page", json_integer((json_int_t)n));
  }
  if (f->per_page) {
    if ((rc = count_flag("--per-page", f->per_page, &n)) != 0)
      return rc;
    if (n > 100)
      return usage_err("bad --per-page %s (1 to 100)", f->per_page);
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

/* Adds to params what is q's own: arg is its positional word (or NULL). */
static int q_own(const struct query *q, const cflags_t *f, const char *arg, json_t *params) {
  uint64_t id = 0;
  char amount[ST_U128_STR_MAX];
  int rc = ST_EXIT_OK;
  switch (q->kind) {
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
  case Q_VALIDATOR:
    rc = q_addr(params, "address", "validator", arg, ST_HRP_WALLET);
    break;
  case Q_DELEGATIONS:
  case Q_UNBONDING:
  case Q_REDELEGATIONS:
    if (!f->delegator && (!f->validator || q->kind == Q_REDELEGATIONS))
      return usage_err("usage: stratosd query %s", q->usage);
    if (f->delegator)
      rc = q_addr(params, "delegator", "--delegator", f->delegator, ST_HRP_WALLET);
    if (rc == 0 && f->validator)
      rc = q_addr(params, "validator", "--validator", f->validator, ST_HRP_WALLET);
    break;
  case Q_REWARDS:
    rc = q_addr(params, "delegator", "delegator", arg, ST_HRP_WALLET);
    if (rc == 0 && f->validator)
      rc = q_addr(params, "validator", "--validator", f->validator, ST_HRP_WALLET);
    break;
  case Q_PROPOSAL:
    if ((rc = count_flag("proposal id", arg, &id)) == 0)
      json_object_set_new(params, "id", json_integer((json_int_t)id));
    break;
  case Q_NODE:
    rc = q_addr(params, "address", "node", arg, ST_HRP_NODE);
    break;
  case Q_OZONE_PRICE:
    if (f->amount && (rc = amount_flag("amount", f->amount, false, amount)) == 0)
      json_object_set_new(params, "amount", json_string(amount));
    break;
  case Q_TRAFFIC_REWARDS:
    rc = q_addr(params, "address", "address", arg, ST_HRP_WALLET);
    break;
  case Q_TRAFFIC_REPORT: {
    unsigned long long ep;
    if (!arg)
      break;
    if (!decimal(arg, &ep) || ep > INT64_MAX)
      return usage_err("bad epoch %s (an integer from 0)", arg);
    json_object_set_new(params, "epoch", json_integer((json_int_t)ep));
    break;
  }
  case Q_PLAIN:
    break;
  }
  if (rc == 0 && q->statuses)
    rc = q_status(params, f, q->statuses);
  return rc;
}

/* Fills *method and params for the query in f; prints a usage error. */
static int query_request(const cflags_t *f, const char **method, json_t *params) {
  size_t i, nq = sizeof(queries) / sizeof(queries[0]);
  for (i = 0; i < nq; i++)
    if (f->npos && strcmp(f->pos[0], queries[i].name) == 0)
      break;
  if (i == nq) {
    if (f->npos)
      fprintf(stderr, "stratosd: unknown query %s\n", f->pos[0]);
    query_usage();
    return ST_EXIT_USAGE;
  }
  const struct query *q = &queries[i];
  char cmd[32];
  snprintf(cmd, sizeof(cmd), "query %s", q->name);
  size_t np = f->npos - 1;
  if (np < q->minpos || np > q->maxpos)
    return usage_err("usage: stratosd query %s", q->usage);
  int rc = only_flags(f, q->flags, cmd);
  if (rc != 0 || (rc = q_own(q, f, np ? f->pos[1] : NULL, params)) != 0)
    return rc;
  *method = q->method;
  return q_page(params, f);
}

int st_daemon__cmd_query(int argc, char **argv) {
  static const char *const names[] = {"home", "rpc", "delegator", "validator", "status",
                                      "page", "per-page", "amount", NULL};
  cflags_t f;
  int rc = parse_flags(argc, argv, 2, names, &f);
  if (rc != 0)
    return rc;
  const char *method = NULL;
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
