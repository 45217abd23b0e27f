/* `stratosd heartbeat`: prints a signed resource-node heartbeat in base64,
 * for an operator to hand to a meta node's broadcast_heartbeat by hand
 * (checking a node's registration) — the running node sends its own. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_err.h>
#include <stratos/st_meta.h>
#include "daemon/daemon_private.h"

static int usage(void) {
  fprintf(stderr, "usage: stratosd heartbeat --home DIR [--key FILE] [--time-ms T]\n");
  return ST_EXIT_USAGE;
}

int st_daemon__cmd_heartbeat(int argc, char **argv) {
  const char *home = NULL, *key = NULL, *tms = NULL;
  for (int i = 2; i < argc; i++) {
    const char **slot = strcmp(argv[i], "--home") == 0      ? &home
                        : strcmp(argv[i], "--key") == 0     ? &key
                        : strcmp(argv[i], "--time-ms") == 0 ? &tms
                                                            : NULL;
    if (!slot || i + 1 >= argc)
      return usage();
    *slot = argv[++i];
  }
  if (!home)
    return usage();
  char p[ST_PATH_MAX], chain[ST_CHAIN_ID_MAX + 8];
  json_t *g = NULL;
  st_keypair_t kp;
  int rc = st_daemon__path(p, sizeof(p), home, "config/genesis.json");
  if (rc == 0 && !(g = json_load_file(p, 0, NULL)))
    rc = ST_ENOENT;
  if (rc != 0 || !json_is_string(json_object_get(g, "chain_id"))) {
    fprintf(stderr, "stratosd: cannot read %s/config/genesis.json\n", home);
    json_decref(g);
    return ST_EXIT_FAIL;
  }
  snprintf(chain, sizeof(chain), "%s-meta", json_string_value(json_object_get(g, "chain_id")));
  json_decref(g);
  if (!key && (rc = st_daemon__path(p, sizeof(p), home, "config/node_key.json")) != 0)
    return ST_EXIT_FAIL;
  if ((rc = st_keyfile_read(key ? key : p, &kp)) != 0) {
    fprintf(stderr, "stratosd: cannot read the key %s: %s\n", key ? key : p, st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  int64_t t;
  if (tms) {
    char *end;
    long long v = strtoll(tms, &end, 10);
    if (*end || v <= 0)
      return usage();
    t = v;
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  }
  st_buf_t b;
  st_buf_init(&b, 4096);
  rc = st_meta_heartbeat(&kp, chain, t, &b);
  st_key_wipe(&kp);
  if (rc == 0) {
    char out[2048];
    sodium_bin2base64(out, sizeof(out), b.data, b.len, sodium_base64_VARIANT_ORIGINAL);
    printf("%s\n", out);
  }
  st_buf_free(&b);
  return rc == 0 ? ST_EXIT_OK : ST_EXIT_FAIL;
}
