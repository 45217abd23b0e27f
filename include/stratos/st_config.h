/* Node configuration: config/stratosd.conf in INI syntax. Every key has a
 * default; an unknown section or key, or a bad value, is an error that
 * names the file, line and key. */
#ifndef STRATOS_ST_CONFIG_H
#define STRATOS_ST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_ROLE_VALUE 1u
#define ST_ROLE_META 2u
#define ST_ROLE_RESOURCE 4u
#define ST_ROLE_ALL (ST_ROLE_VALUE | ST_ROLE_META | ST_ROLE_RESOURCE)

#define ST_HOST_MAX 64
#define ST_MONIKER_MAX 64
#define ST_PEERS_MAX 8192

typedef struct st_laddr {
  char host[ST_HOST_MAX];
  uint16_t port;
} st_laddr_t;

typedef struct st_config {
  /* [node] */
  char moniker[ST_MONIKER_MAX];
  unsigned roles;
  int log_level;
  bool log_json;
  /* [rpc] */
  st_laddr_t rpc_laddr;
  size_t rpc_max_body;
  size_t rpc_max_batch;
  /* [gateway] */
  st_laddr_t gw_laddr;
  size_t gw_max_body;
  size_t gw_cache_bytes;
  uint64_t res_reserve_bytes; /* resource.reserve_mb: free disk kept */
  size_t gw_request_timeout_s;   /* a request, body included, must arrive in it */         /* verified blocks kept for later requests */
  char gw_wallet[64];            /* keyring name; "" = "wallet", else "dev" */
  /* [p2p] */
  st_laddr_t p2p_laddr;
  char persistent_peers[ST_PEERS_MAX];
  char seeds[ST_PEERS_MAX];
  unsigned max_inbound;
  unsigned max_outbound;
  /* [store] */
  size_t map_size;
  /* [bus] */
  size_t queue_len;
  /* [debug] */
  bool byzantine_double_prevote; /* tests only: sign conflicting prevotes */
  int64_t byzantine_from_height;  /* ... from this height on (0: always) */
} st_config_t;

/* Fills c with the defaults of config/stratosd.conf. */
void st_config_defaults(st_config_t *c);

/* Reads path over the values already in c. On error returns ST_ECONFIG
 * (or ST_ENOENT/ST_EIO for the file) and writes a sentence naming the
 * line and key into err. */
int st_config_load(st_config_t *c, const char *path, char *err, size_t errcap);

/* Applies one key: section "rpc", key "laddr", value "127.0.0.1:1". */
int st_config_set(st_config_t *c, const char *section, const char *key,
                  const char *value, char *err, size_t errcap);

/* Parses "value,meta,resource" or "all" into a role mask. */
int st_config_parse_roles(const char *s, unsigned *roles);
/* Writes the role names, comma-separated. */
void st_config_roles_str(unsigned roles, char *out, size_t outcap);

/* Parses "host:port" (port 0..65535). */
int st_config_parse_laddr(const char *s, st_laddr_t *out);

#endif
