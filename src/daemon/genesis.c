/* Writing genesis files for new networks: `stratosd dev` (one validator,
 * a funded dev wallet) and `stratosd testnet` (N validators that peer with
 * each other). Parameters default to values fit for a localnet on one
 * machine: blocks every few hundred milliseconds. The format is in
 * docs/genesis.md; the chain module validates it when the node starts. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <stratos/st_chain.h>
#include <stratos/st_err.h>
#include <stratos/st_meta.h>
#include "daemon/daemon_private.h"

static int64_t now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

json_t *st_daemon__genesis_params(void) {
  /* Every parameter at its default, but blocks come faster than on the
   * real network: a new network is for development. */
  json_t *p = st_chain_default_params();
  if (p)
    json_object_set_new(json_object_get(p, "consensus"), "timeout_commit_ms",
                        json_integer(200));
  /* The meta chain's, storage included, written out so that they can be
   * edited in place. */
  if (p && json_object_set_new(p, "meta", st_meta_default_params()) != 0) {
    json_decref(p);
    return NULL;
  }
  return p;
}

int st_daemon__genesis_new(const char *chain_id, json_t **out) {
  json_t *g = json_pack("{s:s,s:I,s:o,s:[],s:[]}", "chain_id", chain_id,
                        "genesis_time_ms", (json_int_t)now_ms(), "params",
                        st_daemon__genesis_params(), "accounts", "validators");
  if (!g)
    return ST_ENOMEM;
  *out = g;
  return 0;
}

int st_daemon__genesis_set_replicas(json_t *g, unsigned replicas) {
  json_t *mp = json_object_get(json_object_get(g, "params"), "meta");
  return mp && json_object_set_new(mp, "replicas_default", json_integer(replicas)) == 0
           ? 0
           : ST_ENOMEM;
}

int st_daemon__genesis_add_validator(json_t *g, const char *name,
                                     const uint8_t pk[ST_PUBKEY_LEN], int64_t power,
                                     const char *operator_) {
  char hex[2 * ST_PUBKEY_LEN + 1];
  st_hex_encode(pk, ST_PUBKEY_LEN, hex, sizeof(hex));
  return json_array_append_new(json_object_get(g, "validators"),
                               json_pack("{s:s,s:s,s:I,s:s}", "name", name, "pub_key", hex,
                                         "power", (json_int_t)power, "operator", operator_))
           ? ST_ENOMEM
           : 0;
}

/* 1,000 STOS: the deposit of each node a new network registers. */
#define NODE_DEPOSIT "1000000000000000000000"
/* 1 TiB offered by each storage node of a new network. */
#define NODE_CAPACITY 1099511627776LL

int st_daemon__genesis_add_node(json_t *g, const char *list, const char *name,
                                const uint8_t pk[ST_PUBKEY_LEN], const char *owner,
                                const char *network_address) {
  char hex[2 * ST_PUBKEY_LEN + 1];
  st_hex_encode(pk, ST_PUBKEY_LEN, hex, sizeof(hex));
  json_t *arr = json_object_get(g, list);
  if (!arr) {
    arr = json_array();
    if (!arr || json_object_set_new(g, list, arr) != 0)
      return ST_ENOMEM;
  }
  json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s}", "pub_key", hex, "owner", owner, "deposit",
                        NODE_DEPOSIT, "network_address", network_address, "moniker", name);
  if (e && strcmp(list, "resource_nodes") == 0) {
    json_object_set_new(e, "node_type", json_integer(4));
    json_object_set_new(e, "capacity", json_integer(NODE_CAPACITY));
  }
  return !e || json_array_append_new(arr, e) ? ST_ENOMEM : 0;
}

int st_daemon__genesis_add_account(json_t *g, const char *address, const char *balance) {
  return json_array_append_new(json_object_get(g, "accounts"),
                               json_pack("{s:s,s:s}", "address", address, "balance",
                                         balance))
           ? ST_ENOMEM
           : 0;
}

int st_daemon__json_write(const char *path, json_t *j) {
  char tmp[ST_PATH_MAX];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
    return ST_E2BIG;
  if (json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
    return ST_EIO;
  int fd = open(tmp, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    if (fd >= 0)
      close(fd);
    unlink(tmp);
    return ST_EIO;
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    unlink(tmp);
    return ST_EIO;
  }
  return 0;
}

int st_daemon__wallet_address(const char *home, const char *name, char *out, size_t cap) {
  char p[ST_PATH_MAX];
  if (snprintf(p, sizeof(p), "%s/keyring/%s.json", home, name) >= (int)sizeof(p))
    return ST_E2BIG;
  st_keypair_t kp;
  int rc = st_keyfile_read(p, &kp);
  if (rc != 0)
    return rc;
  uint8_t addr[ST_ADDR_LEN];
  st_addr_from_pubkey(kp.pk, addr);
  st_key_wipe(&kp);
  return st_addr_encode(ST_HRP_WALLET, addr, out, cap);
}

int st_daemon__node_pubkey(const char *home, uint8_t pk[ST_PUBKEY_LEN]) {
  char p[ST_PATH_MAX];
  int rc = st_daemon__path(p, sizeof(p), home, "config/node_key.json");
  if (rc != 0)
    return rc;
  st_keypair_t kp;
  if ((rc = st_keyfile_read(p, &kp)) != 0)
    return rc;
  memcpy(pk, kp.pk, ST_PUBKEY_LEN);
  st_key_wipe(&kp);
  return 0;
}

/* 1,000,000,000 STOS in wei: the dev wallet's and each localnet wallet's
 * opening balance. */
#define FUNDED_BALANCE "1000000000000000000000000000"

int st_daemon__dev_genesis(const char *home) {
  char p[ST_PATH_MAX], addr[ST_ADDR_STR_MAX];
  uint8_t pk[ST_PUBKEY_LEN];
  json_t *g = NULL;
  int rc = st_daemon__node_pubkey(home, pk);
  if (rc == 0)
    rc = st_daemon__wallet_address(home, "dev", addr, sizeof(addr));
  if (rc == 0)
    rc = st_daemon__genesis_new("stratos-dev", &g);
  if (rc == 0)
    rc = st_daemon__genesis_add_validator(g, "dev", pk, 10, addr);
  /* The one node is also the meta chain's authority and a storage node:
   * files are kept once. */
  if (rc == 0)
    rc = st_daemon__genesis_set_replicas(g, 1);
  /* Traffic epochs of a minute: volume reports come while one watches. */
  json_t *mp = g ? json_object_get(json_object_get(g, "params"), "meta") : NULL;
  if (rc == 0 && (!mp || json_object_set_new(mp, "epoch_ms", json_integer(60000)) != 0))
    rc = ST_ENOMEM;
  if (rc == 0)
    rc = st_daemon__genesis_add_node(g, "meta_nodes", "dev", pk, addr, "127.0.0.1:26656");
  if (rc == 0)
    rc = st_daemon__genesis_add_node(g, "resource_nodes", "dev", pk, addr, "127.0.0.1:26656");
  if (rc == 0)
    rc = st_daemon__genesis_add_account(g, addr, FUNDED_BALANCE);
  /* 1 TiB of uploads' worth of ozone, so that the dev wallet stores files
   * from the first minute. */
  json_t *oz = json_pack("[{s:s,s:s}]", "address", addr, "noz", "1099511627776");
  if (rc == 0 && (!oz || json_object_set_new(g, "ozone", oz) != 0))
    rc = ST_ENOMEM;
  else if (rc != 0)
    json_decref(oz);
  if (rc == 0)
    rc = st_daemon__path(p, sizeof(p), home, "config/genesis.json");
  if (rc == 0)
    rc = st_daemon__json_write(p, g);
  json_decref(g);
  return rc;
}
