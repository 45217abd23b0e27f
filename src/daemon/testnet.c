/* `stratosd testnet`: writes the homes of a localnet on 127.0.0.1 — each
 * node initialized with its keys and a config whose ports and persistent
 * peers point at the others — one shared genesis, and DIR/nodes.json that
 * scripts and tests read to start and drive the network.
 *
 * Ports: node i listens on base+3i (P2P), base+3i+1 (JSON-RPC) and
 * base+3i+2 (gateway). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stratos/st_err.h>
#include "daemon/daemon_private.h"

#define MAX_NODES 64
#define MAX_ACCOUNTS 10000
#define FUNDED_BALANCE "1000000000000000000000000000"
#define ACCOUNT_BALANCE "1000000000000000000000000"

typedef struct tn_node {
  char name[32];
  char home[ST_PATH_MAX];
  char node_id[ST_ADDR_STR_MAX];
  char wallet[ST_ADDR_STR_MAX];
  uint8_t pk[ST_PUBKEY_LEN];
  unsigned roles;
  unsigned p2p, rpc, gw;
} tn_node_t;

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out) {
  char *end;
  if (!s || !*s || *s == '-')
    return ST_EINVAL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return ST_ERANGE;
  *out = v;
  return 0;
}

static int write_conf(const tn_node_t *n, const tn_node_t *all, size_t count) {
  char p[ST_PATH_MAX], peers[ST_PEERS_MAX] = "";
  size_t len = 0;
  for (size_t i = 0; i < count; i++) {
    if (&all[i] == n)
      continue;
    /* One peer per line: config lines are at most 199 bytes. */
    int w = snprintf(peers + len, sizeof(peers) - len, "%s%s@127.0.0.1:%u",
                     len ? ",\n    " : "", all[i].node_id, all[i].p2p);
    if (w < 0 || (size_t)w >= sizeof(peers) - len)
      return ST_E2BIG; /* only this many peers fit; MAX_NODES keeps under it */
    len += (size_t)w;
  }
  char roles[64];
  st_config_roles_str(n->roles, roles, sizeof(roles));
  if (st_daemon__path(p, sizeof(p), n->home, "config/stratosd.conf") != 0)
    return ST_E2BIG;
  FILE *f = fopen(p, "w");
  if (!f)
    return st_err_from_errno(errno);
  fprintf(f,
          "# Written by stratosd testnet; every key is documented in the default\n"
          "# config/stratosd.conf of the source tree.\n\n"
          "[node]\nmoniker = %s\nroles = %s\nlog_level = info\nlog_format = text\n\n"
          "[rpc]\nladdr = 127.0.0.1:%u\n\n"
          "[gateway]\nladdr = 127.0.0.1:%u\n\n"
          "[p2p]\nladdr = 127.0.0.1:%u\npersistent_peers = %s\n",
          n->name, roles, n->rpc, n->gw, n->p2p, peers);
  int bad = ferror(f);
  if (fclose(f) != 0 || bad)
    return ST_EIO;
  return 0;
}

static json_t *roles_array(unsigned roles) {
  static const char *const names[] = {"value", "meta", "resource"};
  json_t *a = json_array();
  for (unsigned i = 0; i < 3; i++)
    if (roles & (1u << i))
      json_array_append_new(a, json_string(names[i]));
  return a;
}

int st_daemon__cmd_testnet(int argc, char **argv) {
  const char *out = NULL, *chain_id = "stratos-localnet";
  unsigned long nval = 0, nfull = 0, nmeta = 0, nres = 0, base = 26600, naccounts = 0;
  for (int i = 2; i < argc; i++) {
    const char *w = argv[i], *v = NULL;
    const char *eq = strchr(w, '=');
    char name[32];
    size_t nl = eq ? (size_t)(eq - w) : strlen(w);
    if (nl >= sizeof(name) || strncmp(w, "--", 2) != 0) {
      fprintf(stderr, "stratosd: unknown flag %s (see stratosd help)\n", w);
      return ST_EXIT_USAGE;
    }
    memcpy(name, w, nl);
    name[nl] = '\0';
    if (eq)
      v = eq + 1;
    else if (i + 1 < argc)
      v = argv[++i];
    if (!v) {
      fprintf(stderr, "stratosd: flag %s needs a value\n", name);
      return ST_EXIT_USAGE;
    }
    int rc = 0;
    if (strcmp(name, "--out") == 0)
      out = v;
    else if (strcmp(name, "--chain-id") == 0)
      chain_id = v;
    else if (strcmp(name, "--validators") == 0)
      rc = parse_uint(v, 1, MAX_NODES, &nval);
    else if (strcmp(name, "--full") == 0)
      rc = parse_uint(v, 0, MAX_NODES, &nfull);
    else if (strcmp(name, "--meta") == 0)
      rc = parse_uint(v, 0, MAX_NODES, &nmeta);
    else if (strcmp(name, "--resource") == 0)
      rc = parse_uint(v, 0, MAX_NODES, &nres);
    else if (strcmp(name, "--base-port") == 0)
      rc = parse_uint(v, 1024, 65535 - 3 * 3 * MAX_NODES, &base);
    else if (strcmp(name, "--accounts") == 0)
      rc = parse_uint(v, 0, MAX_ACCOUNTS, &naccounts);
    else {
      fprintf(stderr, "stratosd: unknown flag %s (see stratosd help)\n", name);
      return ST_EXIT_USAGE;
    }
    if (rc != 0) {
      fprintf(stderr, "stratosd: bad value for %s: %s\n", name, v);
      return ST_EXIT_USAGE;
    }
  }
  if (!out || nval == 0) {
    fprintf(stderr, "stratosd: testnet needs --out DIR and --validators N (1 to %d)\n",
            MAX_NODES);
    return ST_EXIT_USAGE;
  }
  size_t count = nval + nfull + nmeta + nres;
  if (count > MAX_NODES) {
    fprintf(stderr, "stratosd: at most %d nodes in a testnet\n", MAX_NODES);
    return ST_EXIT_USAGE;
  }
  if (mkdir(out, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "stratosd: cannot create %s: %s\n", out, strerror(errno));
    return ST_EXIT_FAIL;
  }
  char outabs[ST_PATH_MAX];
  if (!realpath(out, outabs)) {
    fprintf(stderr, "stratosd: cannot resolve %s: %s\n", out, strerror(errno));
    return ST_EXIT_FAIL;
  }
  tn_node_t *nodes = calloc(count, sizeof(*nodes));
  json_t *g = NULL, *list = json_array();
  int rc = nodes ? st_daemon__genesis_new(chain_id, &g) : ST_ENOMEM;
  for (size_t i = 0; rc == 0 && i < count; i++) {
    tn_node_t *n = &nodes[i];
    snprintf(n->name, sizeof(n->name), "node%zu", i);
    if ((rc = st_daemon__path(n->home, sizeof(n->home), outabs, n->name)) != 0)
      break;
    /* validators, then value-chain full nodes, meta nodes, resource nodes */
    n->roles = i < nval + nfull          ? ST_ROLE_VALUE
               : i < nval + nfull + nmeta ? ST_ROLE_META
                                          : ST_ROLE_RESOURCE;
    n->p2p = (unsigned)(base + 3 * i);
    n->rpc = n->p2p + 1;
    n->gw = n->p2p + 2;
    if (st_daemon__home_initialized(n->home)) {
      fprintf(stderr, "stratosd: %s is already initialized; use an empty --out\n", n->home);
      rc = ST_EEXIST;
      break;
    }
    rc = st_daemon__home_init(n->home, n->name, false);
    if (rc == 0)
      rc = st_daemon__key_add(n->home, "wallet", false);
    if (rc == 0)
      rc = st_daemon__node_pubkey(n->home, n->pk);
    if (rc == 0)
      rc = st_daemon__wallet_address(n->home, "wallet", n->wallet, sizeof(n->wallet));
    if (rc == 0) {
      uint8_t addr[ST_ADDR_LEN];
      st_addr_from_pubkey(n->pk, addr);
      rc = st_addr_encode(ST_HRP_NODE, addr, n->node_id, sizeof(n->node_id));
    }
    if (rc == 0 && i < nval)
      rc = st_daemon__genesis_add_validator(g, n->name, n->pk, 10, n->wallet);
    char netaddr[32];
    snprintf(netaddr, sizeof(netaddr), "127.0.0.1:%u", n->p2p);
    if (rc == 0 && n->roles == ST_ROLE_META)
      rc = st_daemon__genesis_add_node(g, "meta_nodes", n->name, n->pk, n->wallet, netaddr);
    if (rc == 0 && n->roles == ST_ROLE_RESOURCE)
      rc = st_daemon__genesis_add_node(g, "resource_nodes", n->name, n->pk, n->wallet,
                                       netaddr);
    if (rc == 0)
      rc = st_daemon__genesis_add_account(g, n->wallet, FUNDED_BALANCE);
  }
  /* Fewer storage nodes than the default replica target: every file on
   * all of them. */
  if (rc == 0 && nres > 0 && nres < 3)
    rc = st_daemon__genesis_set_replicas(g, (unsigned)nres);
  /* Extra funded accounts for load and tests: DIR/accounts/accK.json. */
  if (rc == 0 && naccounts > 0) {
    char dir[ST_PATH_MAX];
    rc = st_daemon__path(dir, sizeof(dir), outabs, "accounts");
    if (rc == 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
      rc = st_err_from_errno(errno);
    for (unsigned long k = 0; rc == 0 && k < naccounts; k++) {
      char p[ST_PATH_MAX], addr_s[ST_ADDR_STR_MAX], file[32];
      st_keypair_t kp;
      snprintf(file, sizeof(file), "acc%lu.json", k);
      if ((rc = st_daemon__path(p, sizeof(p), dir, file)) != 0)
        break;
      rc = st_key_generate(&kp);
      if (rc == 0)
        rc = st_keyfile_write(p, &kp, ST_HRP_WALLET);
      uint8_t addr[ST_ADDR_LEN];
      st_addr_from_pubkey(kp.pk, addr);
      st_key_wipe(&kp);
      if (rc == 0)
        rc = st_addr_encode(ST_HRP_WALLET, addr, addr_s, sizeof(addr_s));
      if (rc == 0)
        rc = st_daemon__genesis_add_account(g, addr_s, ACCOUNT_BALANCE);
    }
  }
  for (size_t i = 0; rc == 0 && i < count; i++) {
    tn_node_t *n = &nodes[i];
    char p[ST_PATH_MAX];
    rc = write_conf(n, nodes, count);
    if (rc == 0)
      rc = st_daemon__path(p, sizeof(p), n->home, "config/genesis.json");
    if (rc == 0)
      rc = st_daemon__json_write(p, g);
    char url_rpc[64], url_gw[64];
    snprintf(url_rpc, sizeof(url_rpc), "http://127.0.0.1:%u/", n->rpc);
    snprintf(url_gw, sizeof(url_gw), "http://127.0.0.1:%u/", n->gw);
    json_array_append_new(
      list, json_pack("{s:s,s:s,s:o,s:s,s:s,s:{s:s,s:s},s:{s:i,s:i,s:i},s:s,s:s,s:b}",
                      "name", n->name, "home", n->home, "roles", roles_array(n->roles),
                      "node_id", n->node_id, "pub_key", "", "wallet", "name", "wallet",
                      "address", n->wallet, "ports", "p2p", (int)n->p2p, "rpc", (int)n->rpc,
                      "gateway", (int)n->gw, "rpc_url", url_rpc, "gateway_url", url_gw,
                      "validator", i < nval));
    char hex[2 * ST_PUBKEY_LEN + 1];
    st_hex_encode(n->pk, ST_PUBKEY_LEN, hex, sizeof(hex));
    json_object_set_new(json_array_get(list, i), "pub_key", json_string(hex));
  }
  if (rc == 0) {
    char p[ST_PATH_MAX];
    json_t *doc = json_pack("{s:s,s:O}", "chain_id", chain_id, "nodes", list);
    rc = st_daemon__path(p, sizeof(p), outabs, "nodes.json");
    if (rc == 0)
      rc = st_daemon__json_write(p, doc);
    json_decref(doc);
    if (rc == 0)
      rc = st_daemon__path(p, sizeof(p), outabs, "genesis.json");
    if (rc == 0)
      rc = st_daemon__json_write(p, g);
  }
  json_decref(list);
  json_decref(g);
  free(nodes);
  if (rc != 0) {
    if (rc != ST_EEXIST)
      fprintf(stderr, "stratosd: testnet failed: %s\n", st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  printf("wrote %zu node homes, genesis and nodes.json to %s\n", count, outabs);
  return ST_EXIT_OK;
}
