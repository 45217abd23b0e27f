/* stratosd: the daemon and its own client. The first word picks the
 * subcommand; with none, or with a flag first, it starts the node. */
#include <malloc.h>
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
          "  stratosd testnet --out DIR --validators N [--full F] [--meta M] [--resource R]\n"
          "                   [--base-port P] [--chain-id ID] [--accounts K]\n"
          "  stratosd tx COMMAND --home DIR (--from NAME | --key FILE) [--fee F] [--memo M]\n"
          "                   [--nonce N] [--mode commit|sync|async] [--rpc URL]\n"
          "                   [--generate-only]\n"
          "    tx commands:\n"
          "      send --to ADDR --amount AMT [--count N (with --generate-only)]\n"
          "      stake --validator ADDR --amount AMT\n"
          "      unstake --validator ADDR --amount AMT\n"
          "      redelegate --src ADDR --dst ADDR --amount AMT\n"
          "      create-validator (--pubkey HEX | --node-home DIR) --moniker NAME\n"
          "                       --amount AMT [--commission-rate 0.10] [--max-rate 0.20]\n"
          "                       [--max-change-rate 0.01] [--min-self-delegation 1stos]\n"
          "      edit-validator [--moniker NAME] [--commission-rate R]\n"
          "                     [--min-self-delegation AMT]\n"
          "      unjail\n"
          "      withdraw-rewards [--validator ADDR]\n"
          "      gov submit --title T [--description D] --change KEY=JSON... [--deposit AMT]\n"
          "      gov deposit --proposal ID --amount AMT\n"
          "      gov vote --proposal ID --option yes|no|abstain|veto\n"
          "      create-resource-node (--pubkey HEX | --node-home DIR) --deposit AMT\n"
          "                           [--type 4] --capacity BYTES\n"
          "                           --network-address HOST:PORT --moniker NAME\n"
          "      update-resource-deposit --node NODE --amount AMT [--decrease]\n"
          "      remove-resource-node --node NODE\n"
          "      create-meta-node (--pubkey HEX | --node-home DIR) --deposit AMT\n"
          "                       --network-address HOST:PORT --moniker NAME\n"
          "      meta-vote --candidate NODE --voter NODE (--approve | --reject)\n"
          "      kick-meta --target NODE --voter NODE (--kick | --keep)\n"
          "      remove-meta-node --node NODE\n"
          "      prepay --amount AMT [--beneficiary ADDR] (default: the sender)\n"
          "    AMT is wei or STOS with a suffix (1.5stos); addresses are st1..., nodes\n"
          "    stsds1... (the address of the node key); --type is a bitmask of storage 4,\n"
          "    database 2, computation 1; the fee is the chain's minimum unless --fee;\n"
          "    --generate-only prints the signed tx in base64 instead of broadcasting it.\n"
          "  stratosd query QUERY [--rpc URL | --home DIR]\n"
          "    queries (printed as JSON):\n"
          "      account ADDR | tx HASH | block [HEIGHT]\n"
          "      validators [--status bonded|unbonding|unbonded] | validator ADDR\n"
          "      delegations (--delegator ADDR | --validator ADDR)\n"
          "      unbonding (--delegator ADDR | --validator ADDR)\n"
          "      redelegations --delegator ADDR\n"
          "      rewards ADDR [--validator ADDR]\n"
          "      proposals [--status S] | proposal ID | params | pools\n"
          "      resource-nodes [--status active|removed] | resource-node NODE\n"
          "      meta-nodes [--status active|pending|removed|rejected|kicked]\n"
          "      meta-node NODE | ozone-price [--amount AMT (1stos)] | prepay-pool\n"
          "    lists take [--page N] [--per-page N] (30, at most 100).\n"
          "  stratosd put FILE [--encrypt] [--replicas N] [--name NAME] [--content-type T]\n"
          "  stratosd get ID [-o OUT]\n"
          "  stratosd ls [--owner ADDR]\n"
          "  stratosd rm ID\n"
          "  stratosd share ID [--expire S] [--password P]\n"
          "    files through a gateway's file API; each also takes [--gateway URL]\n"
          "    (default: the home's gateway.laddr) [--home DIR] [--from NAME]. Requests\n"
          "    carry the home's API token (config/api_token), or with --from are signed\n"
          "    by the keyring wallet NAME. put prints the file id, get writes the file to\n"
          "    OUT (or stdout), ls prints id, size, name and time created, one file a line,\n"
          "    share prints the link's URL.\n"
          "  stratosd heartbeat --home DIR [--key FILE] [--time-ms T]\n"
          "    prints a signed resource-node heartbeat (base64) for broadcast_heartbeat\n"
          "  stratosd version\n"
          "\n"
          "start and dev also take --section.key=value to override one key of\n"
          "config/stratosd.conf for this run, e.g. --rpc.laddr=127.0.0.1:0.\n",
          ST_VERSION);
}

int main(int argc, char **argv) {
  /* Blocks (256 KiB) and frames come and go by the thousand a second:
   * kept on the heap rather than mapped and unmapped each time (each
   * fresh mapping costs page faults and zeroing). */
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
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
  if (strcmp(cmd, "put") == 0 || strcmp(cmd, "get") == 0 || strcmp(cmd, "ls") == 0 ||
      strcmp(cmd, "rm") == 0 || strcmp(cmd, "share") == 0)
    return st_daemon__cmd_files(argc, argv);
  if (strcmp(cmd, "heartbeat") == 0)
    return st_daemon__cmd_heartbeat(argc, argv);
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
