/* stratosd: the daemon and its own client. The first word picks the
 * subcommand; with none, or with a flag first, it starts the node. */
#include <stdio.h>
#include <string.h>
#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include "daemon/daemon_private.h"

static void usage(FILE *f) {
  fprintf(f,
          "stratosd %s: a Stratos full node\n"
          "\n"
          "usage:\n"
          "  stratosd init --home DIR [--moniker NAME]\n"
          "  stratosd keys add|show NAME --home DIR\n"
          "  stratosd keys list --home DIR\n"
          "  stratosd [start] --home DIR [--role=value,meta,resource|all] [--config FILE]\n"
          "  stratosd dev [--home DIR] [--reset]\n"
          "  stratosd testnet --out DIR --validators N [--meta M] [--resource R]\n"
          "                   [--base-port P] [--chain-id ID] [--accounts K]\n"
          "  stratosd tx send --home DIR (--from NAME | --key FILE) --to ADDR --amount AMT\n"
          "                   [--fee F] [--memo M] [--nonce N] [--mode commit|sync|async]\n"
          "                   [--rpc URL] [--generate-only [--count N]]\n"
          "  stratosd query account ADDR | tx HASH | block [HEIGHT]  [--rpc URL]\n"
          "  stratosd version\n"
          "\n"
          "start and dev also take --section.key=value to override one key of\n"
          "config/stratosd.conf for this run, e.g. --rpc.laddr=127.0.0.1:0.\n",
          ST_VERSION);
}

int main(int argc, char **argv) {
  if (st_crypto_init() != 0) {
    fprintf(stderr, "stratosd: cannot initialize the crypto library\n");
    return ST_EXIT_FAIL;
  }
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (!cmd || cmd[0] == '-') {
    if (cmd && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)) {
      usage(stdout);
      return ST_EXIT_OK;
    }
    if (cmd && strcmp(cmd, "--version") == 0) {
      printf("stratosd %s\n", ST_VERSION);
      return ST_EXIT_OK;
    }
    return st_daemon__cmd_start(argc, argv, 1, false);
  }
  if (strcmp(cmd, "start") == 0)
    return st_daemon__cmd_start(argc, argv, 2, false);
  if (strcmp(cmd, "dev") == 0)
    return st_daemon__cmd_start(argc, argv, 2, true);
  if (strcmp(cmd, "init") == 0)
    return st_daemon__cmd_init(argc, argv);
  if (strcmp(cmd, "keys") == 0)
    return st_daemon__cmd_keys(argc, argv);
  if (strcmp(cmd, "testnet") == 0)
    return st_daemon__cmd_testnet(argc, argv);
  if (strcmp(cmd, "tx") == 0)
    return st_daemon__cmd_tx(argc, argv);
  if (strcmp(cmd, "query") == 0)
    return st_daemon__cmd_query(argc, argv);
  if (strcmp(cmd, "version") == 0) {
    if (argc > 2) {
      fprintf(stderr, "stratosd: version takes no arguments (got %s)\n", argv[2]);
      return ST_EXIT_USAGE;
    }
    printf("stratosd %s\n", ST_VERSION);
    return ST_EXIT_OK;
  }
  if (strcmp(cmd, "help") == 0) {
    usage(stdout);
    return ST_EXIT_OK;
  }
  fprintf(stderr, "stratosd: unknown command %s (see stratosd help)\n", cmd);
  return ST_EXIT_USAGE;
}
