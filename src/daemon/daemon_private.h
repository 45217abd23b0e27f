/* Inside the daemon module only: the subcommands, the home directory and
 * the node's run loop. */
#ifndef STRATOS_DAEMON_DAEMON_PRIVATE_H
#define STRATOS_DAEMON_DAEMON_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <stratos/st_config.h>
#include <stratos/st_crypto.h>
#include <stratos/st_node.h>

/* Exit codes of every subcommand. */
#define ST_EXIT_OK 0
#define ST_EXIT_FAIL 1  /* the command could not do its work */
#define ST_EXIT_USAGE 2 /* the command line is wrong */

/* ---- command-line flags ---- */

#define ST_MAX_OVERRIDES 32

/* Flags shared by the subcommands. Strings are borrowed from argv. */
typedef struct st_args {
  const char *home;
  const char *config;
  const char *moniker;
  const char *role;
  bool reset;
  const char *positional[4];
  size_t npositional;
  /* --section.key=value overrides of the config file */
  const char *ov_section[ST_MAX_OVERRIDES];
  const char *ov_key[ST_MAX_OVERRIDES];
  const char *ov_value[ST_MAX_OVERRIDES];
  char ov_store[ST_MAX_OVERRIDES][128];
  size_t noverrides;
} st_args_t;

/* Flags a subcommand accepts, as a bitmask. */
enum {
  ST_FLAG_HOME = 1 << 0,
  ST_FLAG_CONFIG = 1 << 1,
  ST_FLAG_MONIKER = 1 << 2,
  ST_FLAG_ROLE = 1 << 3,
  ST_FLAG_RESET = 1 << 4,
  ST_FLAG_OVERRIDE = 1 << 5,
};

/* Parses argv[first..argc). Prints a message and returns ST_EXIT_USAGE on
 * an unknown or malformed flag, or more than maxpos positional words. */
int st_daemon__parse_args(int argc, char **argv, int first, unsigned accepted,
                          size_t maxpos, st_args_t *a);

/* ---- home ---- */

/* Resolves the home directory: --home, else $HOME/.stratos (or
 * $HOME/.stratos-dev for dev). */
int st_daemon__home_path(const char *flag, bool dev, char *out, size_t outcap);

/* Creates the home layout and the node key. ST_EEXIST if the home already
 * has a node key. Prints the node id when verbose. */
int st_daemon__home_init(const char *home, const char *moniker, bool verbose);

bool st_daemon__home_initialized(const char *home);

/* Takes the home's lock file (flock). On ST_ELOCKED *pid receives the
 * holder's pid when known. The fd stays open for the process's life. */
int st_daemon__home_lock(const char *home, int *fd, long *pid);

/* Removes what a home holds (config, keyring, data), keeping the lock. */
int st_daemon__home_wipe(const char *home);

int st_daemon__path(char *out, size_t cap, const char *home, const char *rel);

/* ---- subcommands ---- */

int st_daemon__cmd_init(int argc, char **argv);
int st_daemon__cmd_keys(int argc, char **argv);
int st_daemon__cmd_start(int argc, char **argv, int first, bool dev);

/* Creates keyring/NAME.json; prints its address when verbose. */
int st_daemon__key_add(const char *home, const char *name, bool verbose);

int st_daemon__cmd_testnet(int argc, char **argv);
int st_daemon__cmd_tx(int argc, char **argv);
int st_daemon__cmd_query(int argc, char **argv);
int st_daemon__cmd_heartbeat(int argc, char **argv);

/* ---- the file client (files_cli.c) ---- */

/* The file commands' command line once checked. Strings are borrowed
 * from argv. */
typedef struct st_files_args {
  const char *cmd;    /* "put", "get", "ls", "rm" or "share" */
  const char *target; /* put: FILE; get, rm and share: the file id */
  char id[65];        /* get, rm and share: the id in lowercase */
  const char *gateway, *home, *from;
  const char *name, *content_type; /* put */
  const char *out;                 /* get: -o OUT; NULL or "-" for stdout */
  const char *owner;               /* ls */
  const char *password;            /* share */
  uint64_t expire_s;               /* share: 0 when not given */
  uint32_t replicas;               /* put: 0 leaves it to the gateway */
  bool encrypt;                    /* put */
  bool help;                       /* -h or --help: print the usage line */
} st_files_args_t;

/* Parses and checks argv[2..argc) for the command argv[1]. Prints the
 * reason and returns ST_EXIT_USAGE on a mistake; reads no file. */
int st_daemon__files_parse(int argc, char **argv, st_files_args_t *a);

/* The media type guessed from the extension of name, for a handful of
 * common types; else "application/octet-stream". Static storage. */
const char *st_daemon__content_type(const char *name);

/* Whether name is a file name the gateway stores: 1 to 255 bytes of
 * UTF-8 without '/', a backslash or control characters, neither "." nor
 * "..". */
bool st_daemon__file_name_ok(const char *name);

/* One progress line: bytes done of total (negative: unknown), percent,
 * MB/s and time left after secs seconds. Always NUL-terminated. */
void st_daemon__progress_line(uint64_t done, int64_t total, double secs, char *out,
                              size_t cap);

/* The message of a gateway error body {"error":{"code":N,"message":...}}
 * with control characters replaced, in msg; ST_EPARSE when body is not
 * one. */
int st_daemon__gateway_error(const void *body, size_t len, char *msg, size_t cap);

/* put, get, ls, rm and share: argv[1] names the command. */
int st_daemon__cmd_files(int argc, char **argv);

/* ---- genesis (genesis.c) ---- */

/* The default parameters of a new network, as JSON (caller decrefs). */
json_t *st_daemon__genesis_params(void);
/* A genesis with no accounts or validators yet. */
int st_daemon__genesis_new(const char *chain_id, json_t **out);
/* A validator of power STOS self-delegated by operator_ (an st1 address:
 * the node's wallet, which signs its staking txs). */
int st_daemon__genesis_add_validator(json_t *g, const char *name,
                                     const uint8_t pk[ST_PUBKEY_LEN], int64_t power,
                                     const char *operator_);
int st_daemon__genesis_add_account(json_t *g, const char *address, const char *balance);
/* Sets params.meta.replicas_default: how many holders a file gets unless
 * its upload asks otherwise. */
int st_daemon__genesis_set_replicas(json_t *g, unsigned replicas);
/* A meta node (list "meta_nodes") or a storage resource node (list
 * "resource_nodes") registered from the start, with the default deposit,
 * owned by owner (its wallet). */
int st_daemon__genesis_add_node(json_t *g, const char *list, const char *name,
                                const uint8_t pk[ST_PUBKEY_LEN], const char *owner,
                                const char *network_address);
/* Writes the dev network's genesis into home: its node the one validator,
 * keyring/dev.json funded. */
int st_daemon__dev_genesis(const char *home);
/* Writes j to path atomically (tmp, fsync, rename). */
int st_daemon__json_write(const char *path, json_t *j);
int st_daemon__wallet_address(const char *home, const char *name, char *out, size_t cap);
int st_daemon__node_pubkey(const char *home, uint8_t pk[ST_PUBKEY_LEN]);

#endif
