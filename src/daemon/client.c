/* The client subcommands: `stratosd tx ...` signs locally with a key of
 * the home's keyring and broadcasts over JSON-RPC; `stratosd query ...`
 * reads over JSON-RPC. They speak to a node like any other client would,
 * with libcurl, so nothing here reaches into a running node's state. */
#include <curl/curl.h>
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_chain.h>
#include <stratos/st_err.h>
#include "daemon/daemon_private.h"

#define RESPONSE_MAX (16u << 20)

typedef struct cflags {
  const char *home, *from, *to, *amount, *fee, *memo, *rpc, *nonce, *mode, *key, *count;
  int generate_only;
  const char *pos[4];
  size_t npos;
} cflags_t;

/* --name value / --name=value parsing over the flags each command names. */
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
    const char **slot = NULL;
    int boolean = 0;
    for (size_t k = 0; names[k]; k++)
      if (strcmp(names[k], "generate-only") == 0 && strcmp(w + 2, "generate-only") == 0)
        boolean = 1;
    if (boolean) {
      f->generate_only = 1;
      continue;
    }
    static const char *const all[] = {"home", "from", "to", "amount", "fee", "memo",
                                      "rpc", "nonce", "mode", "key", "count"};
    const char **slots[] = {&f->home, &f->from, &f->to, &f->amount, &f->fee, &f->memo,
                            &f->rpc, &f->nonce, &f->mode, &f->key, &f->count};
    for (size_t k = 0; names[k]; k++) {
      if (strlen(names[k]) != nl || memcmp(names[k], w + 2, nl) != 0)
        continue;
      for (size_t j = 0; j < sizeof(all) / sizeof(all[0]); j++)
        if (strcmp(all[j], names[k]) == 0)
          slot = slots[j];
    }
    if (!slot) {
      fprintf(stderr, "stratosd: unknown flag %.*s (see stratosd help)\n", (int)(nl + 2), w);
      return ST_EXIT_USAGE;
    }
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v || !*v) {
      fprintf(stderr, "stratosd: flag %.*s needs a value\n", (int)(nl + 2), w);
      return ST_EXIT_USAGE;
    }
    *slot = v;
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
 * in *out. Prints the reason on failure. */
static int rpc_call(const char *url, const char *method, json_t *params, json_t **out) {
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
    fprintf(stderr, "stratosd: cannot reach JSON-RPC at %s: %s\n", url,
            r.too_big ? "response too large" : curl_easy_strerror(cc));
    rc = ST_EIO;
  } else {
    json_error_t je;
    json_t *j = json_loadb((const char *)r.b.data, r.b.len, 0, &je);
    if (!json_is_object(j)) {
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

/* Like rpc_call but returns only the result, printing a JSON-RPC error. */
static int rpc_result(const char *url, const char *method, json_t *params, json_t **out) {
  json_t *resp;
  int rc = rpc_call(url, method, params, &resp);
  if (rc != 0)
    return rc;
  json_t *err = json_object_get(resp, "error");
  if (err) {
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

static int load_genesis_params(const char *home, char *chain_id, size_t cap,
                               st_u128 *min_fee) {
  char p[ST_PATH_MAX];
  if (!home || st_daemon__path(p, sizeof(p), home, "config/genesis.json") != 0)
    return ST_ENOENT;
  json_error_t je;
  json_t *g = json_load_file(p, 0, &je);
  if (!g)
    return ST_ENOENT;
  const char *id = json_string_value(json_object_get(g, "chain_id"));
  const char *mf = json_string_value(
    json_object_get(json_object_get(json_object_get(g, "params"), "auth"), "min_fee_per_byte"));
  int rc = id && mf && strlen(id) < cap && st_u128_parse(mf, min_fee) == 0 ? 0 : ST_EPARSE;
  if (rc == 0)
    snprintf(chain_id, cap, "%s", id);
  json_decref(g);
  return rc;
}

static void print_json(json_t *j) {
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s)
    printf("%s\n", s);
  free(s);
}

/* ---- tx ---- */

static int tx_send(int argc, char **argv) {
  static const char *const names[] = {"home", "from", "to", "amount", "fee", "memo", "rpc",
                                      "nonce", "mode", "key", "count", "generate-only",
                                      NULL};
  cflags_t f;
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
  const char *mode = f.mode ? f.mode : "commit";
  if (strcmp(mode, "commit") && strcmp(mode, "sync") && strcmp(mode, "async")) {
    fprintf(stderr, "stratosd: --mode is commit, sync or async\n");
    return ST_EXIT_USAGE;
  }
  uint8_t to[ST_ADDR_LEN];
  if (st_addr_decode(f.to, ST_HRP_WALLET, to) != 0) {
    fprintf(stderr, "stratosd: --to %s is not an st1... address\n", f.to);
    return ST_EXIT_USAGE;
  }
  st_u128 amount, fee = 0, min_fee = 0;
  if (parse_amount(f.amount, &amount) != 0 || amount == 0) {
    fprintf(stderr, "stratosd: bad --amount %s (wei, or e.g. 1.5stos)\n", f.amount);
    return ST_EXIT_USAGE;
  }
  if (f.fee && parse_amount(f.fee, &fee) != 0) {
    fprintf(stderr, "stratosd: bad --fee %s\n", f.fee);
    return ST_EXIT_USAGE;
  }
  char chain_id[ST_CHAIN_ID_MAX + 1], p[ST_PATH_MAX], url[512];
  if (load_genesis_params(f.home, chain_id, sizeof(chain_id), &min_fee) != 0) {
    fprintf(stderr, "stratosd: no readable genesis in %s/config\n", f.home);
    return ST_EXIT_FAIL;
  }
  if (f.key)
    snprintf(p, sizeof(p), "%s", f.key);
  else if (snprintf(p, sizeof(p), "%s/keyring/%s.json", f.home, f.from) >= (int)sizeof(p))
    return ST_EXIT_USAGE;
  st_keypair_t kp;
  if ((rc = st_keyfile_read(p, &kp)) != 0) {
    fprintf(stderr, "stratosd: cannot read key %s: %s\n", p, st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  rpc_url(&f, url, sizeof(url));
  uint8_t from[ST_ADDR_LEN];
  char from_s[ST_ADDR_STR_MAX];
  st_addr_from_pubkey(kp.pk, from);
  st_addr_encode(ST_HRP_WALLET, from, from_s, sizeof(from_s));
  uint64_t nonce = 0;
  if (f.nonce) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(f.nonce, &end, 10);
    if (errno || *end || f.nonce[0] == '-') {
      fprintf(stderr, "stratosd: bad --nonce %s\n", f.nonce);
      st_key_wipe(&kp);
      return ST_EXIT_USAGE;
    }
    nonce = v;
  } else {
    json_t *acct;
    if (rpc_result(url, "account", json_pack("{s:s}", "address", from_s), &acct) != 0) {
      st_key_wipe(&kp);
      return ST_EXIT_FAIL;
    }
    nonce = (uint64_t)json_integer_value(json_object_get(acct, "nonce"));
    json_decref(acct);
  }
  st_buf_t tx;
  st_buf_init(&tx, 1u << 20);
  if (f.generate_only) {
    /* Signed txs of consecutive nonces, one base64 line each, for scripts
     * and load generators to broadcast themselves. */
    for (unsigned long k = 0; k < count && rc == 0; k++) {
      st_buf_reset(&tx);
      rc = f.fee ? st_chain_tx_send(&kp, chain_id, nonce + k, fee, to, amount, f.memo, &tx)
                 : st_chain_tx_send_min_fee(&kp, chain_id, nonce + k, min_fee, to, amount,
                                            f.memo, &tx);
      if (rc == 0) {
        size_t bl = sodium_base64_ENCODED_LEN(tx.len, sodium_base64_VARIANT_ORIGINAL);
        char *b = malloc(bl);
        if (!b)
          abort();
        sodium_bin2base64(b, bl, tx.data, tx.len, sodium_base64_VARIANT_ORIGINAL);
        puts(b);
        free(b);
      }
    }
    st_key_wipe(&kp);
    st_buf_free(&tx);
    if (rc != 0) {
      fprintf(stderr, "stratosd: cannot build the tx: %s\n", st_strerror(rc));
      return ST_EXIT_FAIL;
    }
    return ST_EXIT_OK;
  }
  rc = f.fee ? st_chain_tx_send(&kp, chain_id, nonce, fee, to, amount, f.memo, &tx)
             : st_chain_tx_send_min_fee(&kp, chain_id, nonce, min_fee, to, amount, f.memo,
                                        &tx);
  st_key_wipe(&kp);
  if (rc != 0) {
    fprintf(stderr, "stratosd: cannot build the tx: %s\n", st_strerror(rc));
    st_buf_free(&tx);
    return ST_EXIT_FAIL;
  }
  /* base64 of the tx for the JSON-RPC body */
  size_t b64len = sodium_base64_ENCODED_LEN(tx.len, sodium_base64_VARIANT_ORIGINAL);
  char *b64 = malloc(b64len);
  if (!b64)
    abort();
  sodium_bin2base64(b64, b64len, tx.data, tx.len, sodium_base64_VARIANT_ORIGINAL);
  uint8_t hash[ST_HASH_LEN];
  char hash_hex[2 * ST_HASH_LEN + 1];
  st_chain_tx_hash(tx.data, tx.len, hash);
  st_hex_encode(hash, ST_HASH_LEN, hash_hex, sizeof(hash_hex));
  st_buf_free(&tx);
  char method[32];
  snprintf(method, sizeof(method), "broadcast_tx_%s", mode);
  json_t *res;
  rc = rpc_result(url, method, json_pack("{s:s}", "tx", b64), &res);
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

int st_daemon__cmd_tx(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "stratosd: tx needs a command: send\n");
    return ST_EXIT_USAGE;
  }
  if (strcmp(argv[2], "send") == 0)
    return tx_send(argc, argv);
  fprintf(stderr, "stratosd: unknown tx command %s (send)\n", argv[2]);
  return ST_EXIT_USAGE;
}

/* ---- query ---- */

int st_daemon__cmd_query(int argc, char **argv) {
  static const char *const names[] = {"home", "rpc", NULL};
  cflags_t f;
  int rc = parse_flags(argc, argv, 2, names, &f);
  if (rc != 0)
    return rc;
  char url[512];
  rpc_url(&f, url, sizeof(url));
  json_t *params = NULL;
  const char *method = NULL;
  if (f.npos == 2 && strcmp(f.pos[0], "account") == 0) {
    method = "account";
    params = json_pack("{s:s}", "address", f.pos[1]);
  } else if (f.npos == 2 && strcmp(f.pos[0], "tx") == 0) {
    method = "tx";
    params = json_pack("{s:s}", "hash", f.pos[1]);
  } else if (f.npos >= 1 && f.npos <= 2 && strcmp(f.pos[0], "block") == 0) {
    method = "block";
    params = f.npos == 2 ? json_pack("{s:s}", "height", f.pos[1]) : NULL;
  } else {
    fprintf(stderr, "stratosd: query account ADDR | tx HASH | block [HEIGHT]\n");
    return ST_EXIT_USAGE;
  }
  json_t *res;
  if (rpc_result(url, method, params, &res) != 0)
    return ST_EXIT_FAIL;
  print_json(res);
  json_decref(res);
  return ST_EXIT_OK;
}
