/* Running a node: `stratosd start` and `stratosd dev`.
 *
 * The order is fixed: configuration, home lock, node key, the loop, the
 * bus, the store, then every module of the node's roles is initialized
 * and only then started, so that modules can register RPC methods and
 * gateway routes on each other before any port is open. Shutdown runs the
 * other way: SIGINT or SIGTERM stops the modules in reverse order (the
 * HTTP servers stop accepting and drain), closes the bus, lets the loop
 * finish its handles, then closes LMDB and releases the lock. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <stratos/st_chain.h>
#include <stratos/st_meta.h>
#include <stratos/st_resource.h>
#include <stratos/st_err.h>
#include <stratos/st_gateway.h>
#include <stratos/st_log.h>
#include <stratos/st_net.h>
#include <stratos/st_node.h>
#include <stratos/st_rpc.h>
#include "daemon/daemon_private.h"

#define SHUTDOWN_GRACE_MS 5000

/* The daemon's own inbox answers pings, so that the bus can be checked end
 * to end. */
static void daemon_on_msg(void *state, st_msg_t *msg) {
  st_node_t *node = state;
  if (msg->type == ST_MSG_PING && !(msg->flags & ST_MSG_F_REPLY)) {
    st_msg_t r = {.type = ST_MSG_PONG};
    st_bus_reply(node->bus, msg, &r);
  }
}

static const st_module_t daemon_module = {
  .name = "daemon", .id = ST_MOD_DAEMON, .on_msg = daemon_on_msg,
};

/* The modules a node may run, in start order. */
typedef struct slot {
  const st_module_t *mod;
  unsigned roles; /* 0: every node */
  void *state;
  int inited, started;
} slot_t;

typedef struct runner {
  st_node_t node;
  slot_t slots[8];
  size_t nslots;
  uv_signal_t sigint, sigterm;
  uv_timer_t grace;
  int stopping;
  int lock_fd;
} runner_t;

static uint64_t wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static void on_grace(uv_timer_t *t) {
  ST_WARN("daemon", "shutdown took longer than %d ms; stopping the loop", SHUTDOWN_GRACE_MS);
  uv_stop(t->loop);
}

static void stop_node(runner_t *r) {
  if (r->stopping)
    return;
  r->stopping = 1;
  ST_INFO("daemon", "shutting down");
  for (size_t i = r->nslots; i-- > 0;) {
    slot_t *s = &r->slots[i];
    if (s->inited) {
      st_bus_detach(r->node.bus, s->mod->id);
      if (s->mod->stop)
        s->mod->stop(s->state);
      s->inited = s->started = 0;
    }
  }
  st_bus_detach(r->node.bus, ST_MOD_DAEMON);
  st_bus_close(r->node.bus);
  r->node.bus = NULL;
  uv_close((uv_handle_t *)&r->sigint, NULL);
  uv_close((uv_handle_t *)&r->sigterm, NULL);
  uv_timer_start(&r->grace, on_grace, SHUTDOWN_GRACE_MS, 0);
  uv_unref((uv_handle_t *)&r->grace);
}

static void on_signal(uv_signal_t *h, int signum) {
  runner_t *r = h->data;
  ST_INFO("daemon", "received %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
  stop_node(r);
}

static int apply_config(runner_t *r, const st_args_t *a, const char *home, bool dev) {
  st_config_t *c = &r->node.cfg;
  char path[ST_PATH_MAX], err[512];
  st_config_defaults(c);
  if (a->config)
    snprintf(path, sizeof(path), "%s", a->config);
  else if (st_daemon__path(path, sizeof(path), home, "config/stratosd.conf") != 0)
    return ST_EXIT_FAIL;
  int rc = st_config_load(c, path, err, sizeof(err));
  if (rc == ST_ENOENT && !a->config) {
    rc = 0; /* a home without a config file runs on the defaults */
  } else if (rc != 0) {
    fprintf(stderr, "stratosd: %s\n", err);
    return ST_EXIT_FAIL;
  }
  for (size_t i = 0; i < a->noverrides; i++) {
    rc = st_config_set(c, a->ov_section[i], a->ov_key[i], a->ov_value[i], err, sizeof(err));
    if (rc != 0) {
      fprintf(stderr, "stratosd: --%s.%s: %s\n", a->ov_section[i], a->ov_key[i], err);
      return ST_EXIT_USAGE;
    }
  }
  r->node.roles = c->roles;
  if (dev)
    r->node.roles = ST_ROLE_ALL;
  if (a->role && st_config_parse_roles(a->role, &r->node.roles) != 0) {
    fprintf(stderr, "stratosd: bad --role=%s (value, meta, resource, a comma-separated "
                    "mix, or all)\n", a->role);
    return ST_EXIT_USAGE;
  }
  if (c->moniker[0] == '\0') {
    const char *base = strrchr(home, '/');
    snprintf(c->moniker, sizeof(c->moniker), "%.63s", base ? base + 1 : home);
  }
  st_log_set_level(c->log_level);
  st_log_set_json(c->log_json);
  return ST_EXIT_OK;
}

static const char *shown_host(const char *h) {
  return strcmp(h, "0.0.0.0") == 0 ? "127.0.0.1" : h;
}

/* Tells the user (and test harnesses) where the node answers. The last
 * line, "ready ...", is printed once every port is open. */
static void print_ready(runner_t *r, bool dev) {
  st_node_t *n = &r->node;
  char rpc[96], gw[96];
  snprintf(rpc, sizeof(rpc), "http://%s:%u/", shown_host(n->cfg.rpc_laddr.host),
           (unsigned)n->rpc_port);
  snprintf(gw, sizeof(gw), "http://%s:%u/", shown_host(n->cfg.gw_laddr.host),
           (unsigned)n->gw_port);
  if (dev) {
    printf("stratosd dev: a one-node network with every role\n");
    printf("  home:       %s\n", n->home);
    printf("  node id:    %s\n", n->node_id);
    printf("  JSON-RPC:   %s\n", rpc);
    printf("  gateway:    %s\n", gw);
    printf("  metrics:    %smetrics\n", gw);
    printf("Press Ctrl-C to stop.\n");
  }
  printf("ready rpc=%s gateway=%s\n", rpc, gw);
  fflush(stdout);
}

#define GENESIS_MAX_BYTES (64u << 20)

/* Reads config/genesis.json when the home has one. Only its shape and the
 * chain id are checked here; each module validates its own part. */
static int load_genesis(st_node_t *n, const char *home) {
  char p[ST_PATH_MAX];
  if (st_daemon__path(p, sizeof(p), home, "config/genesis.json") != 0)
    return ST_E2BIG;
  struct stat st;
  if (stat(p, &st) != 0)
    return errno == ENOENT ? 0 : st_err_from_errno(errno);
  if (!S_ISREG(st.st_mode) || (size_t)st.st_size > GENESIS_MAX_BYTES) {
    fprintf(stderr, "stratosd: genesis %s: not a regular file of at most %u MiB\n", p,
            GENESIS_MAX_BYTES >> 20);
    return ST_E2BIG;
  }
  json_error_t je;
  json_t *g = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
  if (!g) {
    fprintf(stderr, "stratosd: genesis %s line %d: %s\n", p, je.line, je.text);
    return ST_EPARSE;
  }
  const char *id = json_string_value(json_object_get(g, "chain_id"));
  size_t idlen = id ? strlen(id) : 0;
  int ok = json_is_object(g) && idlen > 0 && idlen <= ST_CHAIN_ID_MAX;
  for (size_t i = 0; ok && i < idlen; i++) {
    char c = id[i];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
  }
  if (!ok) {
    fprintf(stderr, "stratosd: genesis %s: chain_id must be 1 to %d characters of "
                    "A-Z a-z 0-9 . _ -\n", p, ST_CHAIN_ID_MAX);
    json_decref(g);
    return ST_EINVAL;
  }
  memcpy(n->chain_id, id, idlen + 1);
  n->genesis = g;
  return 0;
}

static int open_node(runner_t *r, const char *home) {
  st_node_t *n = &r->node;
  char p[ST_PATH_MAX];
  int rc;
  if (st_daemon__path(p, sizeof(p), home, "config/node_key.json") != 0)
    return ST_E2BIG;
  if ((rc = st_keyfile_read(p, &n->node_key)) != 0) {
    fprintf(stderr, "stratosd: cannot read node key %s: %s\n", p, st_strerror(rc));
    return rc;
  }
  uint8_t addr[ST_ADDR_LEN];
  st_addr_from_pubkey(n->node_key.pk, addr);
  st_addr_encode(ST_HRP_NODE, addr, n->node_id, sizeof(n->node_id));
  if ((rc = load_genesis(n, home)) != 0)
    return rc;
  if (st_daemon__path(p, sizeof(p), home, "data") != 0)
    return ST_E2BIG;
  st_store_opts_t so = {.map_size = n->cfg.map_size};
  if ((rc = st_store_open(p, &so, &n->store)) != 0) {
    fprintf(stderr, "stratosd: cannot open the store in %s: %s\n", p, st_strerror(rc));
    return rc;
  }
  return 0;
}

int st_daemon__cmd_start(int argc, char **argv, int first, bool dev) {
  unsigned accepted = ST_FLAG_HOME | ST_FLAG_CONFIG | ST_FLAG_ROLE | ST_FLAG_OVERRIDE;
  if (dev)
    accepted |= ST_FLAG_RESET;
  static runner_t runner; /* static: reachable for leak checkers at exit */
  runner_t *r = &runner;
  st_args_t a;
  int rc = st_daemon__parse_args(argc, argv, first, accepted, 0, &a);
  if (rc != 0)
    return rc;
  st_node_t *n = &r->node;
  memset(r, 0, sizeof(*r));
  r->lock_fd = -1;
  if (st_daemon__home_path(a.home, dev, n->home, sizeof(n->home)) != 0) {
    fprintf(stderr, "stratosd: no --home given and $HOME is not set\n");
    return ST_EXIT_USAGE;
  }
  const char *home = n->home;
  if (!dev && !st_daemon__home_initialized(home)) {
    fprintf(stderr, "stratosd: home %s is not initialized (run: stratosd init --home %s)\n",
            home, home);
    return ST_EXIT_FAIL;
  }
  if (dev) {
    /* dev makes its home on first use; the lock is taken before a reset
     * so that a running devnet is never wiped under its feet. */
    if (!st_daemon__home_initialized(home)) {
      rc = st_daemon__home_init(home, "dev", false);
      if (rc == 0)
        rc = st_daemon__key_add(home, "dev", false);
      if (rc == 0)
        rc = st_daemon__dev_genesis(home);
      if (rc != 0) {
        fprintf(stderr, "stratosd: cannot create dev home %s: %s\n", home, st_strerror(rc));
        return ST_EXIT_FAIL;
      }
      a.reset = false;
    }
  }
  long pid = 0;
  rc = st_daemon__home_lock(home, &r->lock_fd, &pid);
  if (rc == ST_ELOCKED) {
    fprintf(stderr, "stratosd: home %s is locked by another stratosd (pid %ld)\n", home, pid);
    return ST_EXIT_FAIL;
  }
  if (rc != 0) {
    fprintf(stderr, "stratosd: cannot lock home %s: %s\n", home, st_strerror(rc));
    return ST_EXIT_FAIL;
  }
  if (dev && a.reset) {
    if ((rc = st_daemon__home_wipe(home)) != 0 ||
        (rc = st_daemon__home_init(home, "dev", false)) != 0 ||
        (rc = st_daemon__key_add(home, "dev", false)) != 0 ||
        (rc = st_daemon__dev_genesis(home)) != 0) {
      fprintf(stderr, "stratosd: cannot reset dev home %s: %s\n", home, st_strerror(rc));
      close(r->lock_fd);
      return ST_EXIT_FAIL;
    }
  }
  int status = apply_config(r, &a, home, dev);
  if (status != ST_EXIT_OK) {
    close(r->lock_fd);
    return status;
  }
  signal(SIGPIPE, SIG_IGN);
  n->dev = dev;
  n->start_ms = wall_ms();
  n->loop = uv_default_loop();
  if (open_node(r, home) != 0) {
    close(r->lock_fd);
    return ST_EXIT_FAIL;
  }
  st_metrics_new(&n->metrics);
  st_bus_init(n->loop, n->cfg.queue_len, &n->bus);
  st_bus_attach(n->bus, &daemon_module, n);

  /* rpc and gateway first: the others register methods and routes on
   * them during their init. */
  static const st_module_t *const table[] = {&st_rpc_module, &st_gateway_module,
                                             &st_net_module, &st_chain_module,
                                             &st_resource_module, &st_meta_module};
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    /* The value chain runs on validators and full nodes, and on meta nodes,
     * which follow it; the meta module on meta nodes (the meta chain) and
     * resource nodes (their heartbeats). */
    unsigned roles = table[i] == &st_chain_module      ? ST_ROLE_VALUE | ST_ROLE_META
                     : table[i] == &st_meta_module     ? ST_ROLE_META | ST_ROLE_RESOURCE
                     : table[i] == &st_resource_module ? ST_ROLE_RESOURCE
                                                       : 0;
    r->slots[r->nslots++] = (slot_t){.mod = table[i], .roles = roles};
  }

  status = ST_EXIT_OK;
  for (size_t i = 0; i < r->nslots && status == ST_EXIT_OK; i++) {
    slot_t *s = &r->slots[i];
    if (s->roles && !(s->roles & n->roles))
      continue;
    rc = s->mod->init(n, &s->state);
    if (rc != 0) {
      fprintf(stderr, "stratosd: module %s failed to initialize: %s\n", s->mod->name,
              st_strerror(rc));
      status = ST_EXIT_FAIL;
      break;
    }
    s->inited = 1;
    st_bus_attach(n->bus, s->mod, s->state);
  }
  for (size_t i = 0; i < r->nslots && status == ST_EXIT_OK; i++) {
    slot_t *s = &r->slots[i];
    if (!s->inited)
      continue;
    rc = s->mod->start ? s->mod->start(s->state) : 0;
    if (rc != 0) {
      fprintf(stderr, "stratosd: module %s failed to start: %s\n", s->mod->name,
              st_strerror(rc));
      status = ST_EXIT_FAIL;
      break;
    }
    s->started = 1;
  }

  uv_signal_init(n->loop, &r->sigint);
  uv_signal_init(n->loop, &r->sigterm);
  r->sigint.data = r->sigterm.data = r;
  uv_timer_init(n->loop, &r->grace);
  uv_unref((uv_handle_t *)&r->grace);
  if (status == ST_EXIT_OK) {
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    char roles[64];
    st_config_roles_str(n->roles, roles, sizeof(roles));
    ST_INFO("daemon", "node %s (%s) started, roles %s", n->node_id, n->cfg.moniker, roles);
    print_ready(r, dev);
    uv_run(n->loop, UV_RUN_DEFAULT);
  } else {
    stop_node(r);
    uv_run(n->loop, UV_RUN_DEFAULT);
  }
  uv_close((uv_handle_t *)&r->grace, NULL);
  uv_run(n->loop, UV_RUN_DEFAULT);
  int lrc = uv_loop_close(n->loop);
  if (lrc != 0)
    ST_WARN("daemon", "loop closed with handles still open");
  st_store_close(n->store);
  st_metrics_free(n->metrics);
  json_decref(n->genesis);
  st_key_wipe(&n->node_key);
  close(r->lock_fd);
  if (status == ST_EXIT_OK)
    ST_INFO("daemon", "stopped");
  return status;
}
