/* Unit tests of the net module over real TCP on 127.0.0.1: several nodes,
 * each with its own bus, net module and a test module collecting frames
 * and peer events, share one libuv loop. Raw sockets stand in for broken
 * or hostile peers; some complete the real handshake (with the codec of
 * frame.c) and then misbehave. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include <stratos/st_bus.h>
#include <stratos/st_config.h>
#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_metrics.h>
#include <stratos/st_net.h>
#include <stratos/st_node.h>
#include <stratos/st_rpc.h>

#include "net/net_private.h"

#define MAX_NODES 6
#define REC_FRAMES 64

typedef struct frame_rec {
  uint8_t peer[ST_ADDR_LEN];
  uint32_t channel, type;
  size_t len;
  uint8_t data[64];
} frame_rec_t;

typedef struct tnode {
  st_node_t node;
  st_net__state_t *net;
  uint8_t id[ST_ADDR_LEN];
  void *rpc_state;
  size_t nframes;
  frame_rec_t frames[REC_FRAMES];
  size_t nup, ndown;
  uint8_t last_up[ST_ADDR_LEN], last_down[ST_ADDR_LEN];
} tnode_t;

typedef struct world {
  uv_loop_t loop;
  uv_timer_t ticker;
  tnode_t *nodes[MAX_NODES];
  size_t n;
} world_t;

/* Inbox size of the buses of the nodes made next. */
static size_t g_bus_cap = 1024;

/* ---- the test module ---- */

static void test_on_msg(void *state, st_msg_t *msg) {
  tnode_t *t = state;
  if (msg->type == ST_MSG_NET_FRAME) {
    const st_net_frame_t *f = msg->data;
    assert_int_equal(msg->len, sizeof(*f) + f->len);
    if (t->nframes < REC_FRAMES) {
      frame_rec_t *r = &t->frames[t->nframes];
      memcpy(r->peer, f->peer, ST_ADDR_LEN);
      r->channel = f->channel;
      r->type = f->type;
      r->len = f->len;
      memcpy(r->data, f->data, f->len < sizeof(r->data) ? f->len : sizeof(r->data));
    }
    t->nframes++;
  } else if (msg->type == ST_MSG_NET_PEER) {
    const st_net_peer_event_t *e = msg->data;
    if (e->up) {
      t->nup++;
      memcpy(t->last_up, e->peer, ST_ADDR_LEN);
    } else {
      t->ndown++;
      memcpy(t->last_down, e->peer, ST_ADDR_LEN);
    }
  }
}

static const st_module_t test_module = {
  .name = "test", .id = ST_MOD_TEST, .on_msg = test_on_msg,
};

/* ---- the world ---- */

static void on_ticker(uv_timer_t *t) { (void)t; }

static int setup(void **state) {
  world_t *w = calloc(1, sizeof(*w));
  assert_non_null(w);
  assert_int_equal(st_crypto_init(), 0);
  st_log_set_level(getenv("ST_TEST_VERBOSE") ? ST_LOG_DEBUG : ST_LOG_OFF);
  assert_int_equal(uv_loop_init(&w->loop), 0);
  /* Keeps UV_RUN_ONCE from sleeping long, so that waits notice their
   * deadline. */
  uv_timer_init(&w->loop, &w->ticker);
  uv_timer_start(&w->ticker, on_ticker, 5, 5);
  g_bus_cap = 1024;
  *state = w;
  return 0;
}

static void node_stop(tnode_t *t) {
  if (t->net) {
    st_bus_detach(t->node.bus, ST_MOD_NET);
    st_net_module.stop(t->net);
    t->net = NULL;
  }
  if (t->rpc_state) {
    st_bus_detach(t->node.bus, ST_MOD_RPC);
    st_rpc_module.stop(t->rpc_state);
    t->rpc_state = NULL;
    t->node.rpc = NULL;
  }
}

static int teardown(void **state) {
  world_t *w = *state;
  for (size_t i = 0; i < w->n; i++) {
    node_stop(w->nodes[i]);
    st_bus_detach(w->nodes[i]->node.bus, ST_MOD_TEST);
    st_bus_close(w->nodes[i]->node.bus);
  }
  uv_close((uv_handle_t *)&w->ticker, NULL);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < w->n; i++) {
    st_metrics_free(w->nodes[i]->node.metrics);
    free(w->nodes[i]);
  }
  /* Every handle of every module is closed and freed. */
  assert_int_equal(uv_loop_close(&w->loop), 0);
  free(w);
  return 0;
}

#define WAIT(w, cond, ms, ok)                                                                      \
  do {                                                                                             \
    uv_update_time(&(w)->loop);                                                                    \
    uint64_t end_ = uv_now(&(w)->loop) + (ms);                                                     \
    while (!((ok) = (cond)) && uv_now(&(w)->loop) < end_)                                          \
      uv_run(&(w)->loop, UV_RUN_ONCE);                                                             \
  } while (0)

#define ASSERT_SOON(w, cond, ms)                                                                   \
  do {                                                                                             \
    int ok_;                                                                                       \
    WAIT(w, cond, ms, ok_);                                                                        \
    assert_true(ok_);                                                                              \
  } while (0)

static void run_for(world_t *w, unsigned ms) {
  int ok;
  WAIT(w, 0, ms, ok);
  (void)ok;
}

static void id_string(const uint8_t id[ST_ADDR_LEN], char out[ST_ADDR_STR_MAX]) {
  assert_int_equal(st_addr_encode(ST_HRP_NODE, id, out, ST_ADDR_STR_MAX), 0);
}

/* Makes a node (not started). key may be NULL for a fresh one; peers is
 * the persistent_peers list or NULL. */
static tnode_t *node_new(world_t *w, const char *chain, const st_keypair_t *key, uint16_t port,
                         const char *peers, const char *moniker) {
  assert_true(w->n < MAX_NODES);
  tnode_t *t = calloc(1, sizeof(*t));
  assert_non_null(t);
  st_node_t *n = &t->node;
  n->loop = &w->loop;
  assert_int_equal(st_bus_init(&w->loop, g_bus_cap, &n->bus), 0);
  if (key)
    n->node_key = *key;
  else
    assert_int_equal(st_key_generate(&n->node_key), 0);
  st_addr_from_pubkey(n->node_key.pk, t->id);
  id_string(t->id, n->node_id);
  snprintf(n->chain_id, sizeof(n->chain_id), "%s", chain);
  st_config_defaults(&n->cfg);
  snprintf(n->cfg.p2p_laddr.host, sizeof(n->cfg.p2p_laddr.host), "127.0.0.1");
  n->cfg.p2p_laddr.port = port;
  snprintf(n->cfg.persistent_peers, sizeof(n->cfg.persistent_peers), "%s", peers ? peers : "");
  snprintf(n->cfg.moniker, sizeof(n->cfg.moniker), "%s", moniker);
  n->roles = ST_ROLE_ALL;
  assert_int_equal(st_metrics_new(&n->metrics), 0);
  assert_int_equal(st_bus_attach(n->bus, &test_module, t), 0);
  w->nodes[w->n++] = t;
  return t;
}

static int node_start(tnode_t *t) {
  void *state;
  int rc = st_net_module.init(&t->node, &state);
  if (rc != 0)
    return rc;
  t->net = state;
  assert_int_equal(st_bus_attach(t->node.bus, &st_net_module, t->net), 0);
  assert_int_equal(st_net_subscribe(t->node.bus, ST_MOD_TEST, ST_CH_CONSENSUS), 0);
  return st_net_module.start(t->net);
}

static tnode_t *start_node(world_t *w, const char *chain, const char *peers, const char *moniker) {
  tnode_t *t = node_new(w, chain, NULL, 0, peers, moniker);
  assert_int_equal(node_start(t), 0);
  assert_int_not_equal(st_net__port(t->net), 0);
  return t;
}

/* "stsds1...@127.0.0.1:port" of a started node. */
static void peer_of(const tnode_t *t, char *out, size_t cap) {
  char ids[ST_ADDR_STR_MAX];
  id_string(t->id, ids);
  snprintf(out, cap, "%s@127.0.0.1:%u", ids, (unsigned)st_net__port(t->net));
}

static st_net__stats_t stats_of(const tnode_t *t) {
  st_net__stats_t s;
  st_net__get_stats(t->net, &s);
  return s;
}

static void send_to(tnode_t *from, const uint8_t *to, const uint8_t *except, uint32_t channel,
                    uint32_t type, const char *text) {
  st_net_out_t *o = st_net_out_new(to, channel, type, text, strlen(text));
  assert_non_null(o);
  if (except)
    memcpy(o->except, except, ST_ADDR_LEN);
  assert_int_equal(st_net_send(from->node.bus, ST_MOD_TEST, o), 0);
}

static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(sa);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd);
  return ntohs(sa.sin_port);
}

static unsigned up_conns(const tnode_t *t) {
  unsigned n = 0;
  for (const st_net__conn_t *c = t->net->conns; c; c = c->next)
    n += c->state == ST_NET__C_UP;
  return n;
}

/* ---- raw peers ---- */

typedef struct raw {
  int fd;
  st_keypair_t key;
  uint8_t id[ST_ADDR_LEN];
  uint8_t tx[ST_NET__KEY_LEN];
  uint64_t tx_ctr;
  uint8_t transcript[ST_HASH_LEN];
  st_net__dec_t dec;
  uint8_t in[65536];
  size_t in_pos, in_len;
  st_net__info_t peer;
} raw_t;

static void pump(world_t *w) {
  uv_run(&w->loop, UV_RUN_NOWAIT);
  usleep(500);
}

static int raw_connect(uint16_t port, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_true(fd >= 0);
  if (rcvbuf)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  /* On loopback the kernel completes the connection from the backlog. */
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static int raw_write(world_t *w, int fd, const void *buf, size_t len) {
  size_t off = 0;
  uint64_t end = uv_now(&w->loop) + 2000;
  while (off < len) {
    ssize_t n = send(fd, (const uint8_t *)buf + off, len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return -1;
    if (uv_now(&w->loop) > end)
      return -1;
    pump(w);
  }
  return 0;
}

/* Reads until the peer closes; returns 1 when it did within ms. */
static int raw_wait_closed(world_t *w, int fd, unsigned ms) {
  uint8_t buf[4096];
  uv_update_time(&w->loop);
  uint64_t end = uv_now(&w->loop) + ms;
  while (uv_now(&w->loop) < end) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
      return 1;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return 1;
    pump(w);
  }
  return 0;
}

/* Returns the next decoder event's plaintext, reading as needed. */
static int raw_next(world_t *w, raw_t *r, const uint8_t **out, size_t *outlen) {
  uv_update_time(&w->loop);
  uint64_t end = uv_now(&w->loop) + 2000;
  for (;;) {
    while (r->in_pos < r->in_len) {
      size_t used;
      int ev = st_net__dec_feed(&r->dec, r->in + r->in_pos, r->in_len - r->in_pos, &used, out,
                                outlen);
      r->in_pos += used;
      if (ev != ST_NET__EV_NONE)
        return ev;
    }
    ssize_t n = recv(r->fd, r->in, sizeof(r->in), 0);
    if (n == 0)
      return ST_ECLOSED;
    if (n > 0) {
      r->in_pos = 0;
      r->in_len = (size_t)n;
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return ST_ECLOSED;
    if (uv_now(&w->loop) > end)
      return ST_ETIMEDOUT;
    pump(w);
  }
}

static void raw_send_env(world_t *w, raw_t *r, uint32_t channel, uint32_t type, const void *data,
                         size_t len, int tamper) {
  uint8_t *pt;
  size_t n;
  assert_int_equal(st_net__env_pack(channel, type, data, len, &pt, &n), 0);
  uint8_t *wire = malloc(st_net__sealed_len(n));
  assert_non_null(wire);
  assert_int_equal(st_net__seal(r->tx, &r->tx_ctr, pt, n, wire), 0);
  if (tamper)
    wire[st_net__sealed_len(n) - 1] ^= 0x80;
  assert_int_equal(raw_write(w, r->fd, wire, st_net__sealed_len(n)), 0);
  free(wire);
  free(pt);
}

/* Connects to node t and completes the handshake as a dialer, with key
 * (NULL: a fresh one). */
static void raw_handshake_key(world_t *w, raw_t *r, const tnode_t *t, int rcvbuf,
                              const st_keypair_t *key) {
  uint8_t epk[32], esk[32], hello[ST_NET__HELLO_LEN], rx[32];
  const uint8_t *out;
  size_t outlen;
  memset(r, 0, sizeof(*r));
  if (key)
    r->key = *key;
  else
    assert_int_equal(st_key_generate(&r->key), 0);
  st_addr_from_pubkey(r->key.pk, r->id);
  st_net__dec_init(&r->dec, ST_NET__MAX_CT);
  r->fd = raw_connect(st_net__port(t->net), rcvbuf);
  crypto_kx_keypair(epk, esk);
  st_net__hello_encode(epk, hello);
  assert_int_equal(raw_write(w, r->fd, hello, sizeof(hello)), 0);
  assert_int_equal(raw_next(w, r, &out, &outlen), ST_NET__EV_HELLO);
  assert_int_equal(st_net__session_keys(1, epk, esk, out, rx, r->tx, r->transcript), 0);
  assert_int_equal(st_net__dec_set_key(&r->dec, rx), 0);
  st_net__info_t me;
  memset(&me, 0, sizeof(me));
  memcpy(me.pubkey, r->key.pk, 32);
  snprintf(me.moniker, sizeof(me.moniker), "raw");
  uint8_t *auth;
  size_t alen;
  assert_int_equal(st_net__auth_build(&r->key, t->node.chain_id, r->transcript, &me, &auth, &alen),
                   0);
  uint8_t wire[1024];
  assert_true(st_net__sealed_len(alen) <= sizeof(wire));
  assert_int_equal(st_net__seal(r->tx, &r->tx_ctr, auth, alen, wire), 0);
  free(auth);
  assert_int_equal(raw_write(w, r->fd, wire, st_net__sealed_len(alen)), 0);
  assert_int_equal(raw_next(w, r, &out, &outlen), ST_NET__EV_FRAME);
  assert_int_equal(st_net__auth_check(out, outlen, t->node.chain_id, r->transcript, &r->peer), 0);
  assert_memory_equal(r->peer.id, t->id, ST_ADDR_LEN);
}

static void raw_handshake(world_t *w, raw_t *r, const tnode_t *t, int rcvbuf) {
  raw_handshake_key(w, r, t, rcvbuf, NULL);
}

static void raw_close(raw_t *r) {
  close(r->fd);
  st_net__dec_free(&r->dec);
}

/* ---- tests ---- */

static void test_two_nodes_exchange(void **state) {
  world_t *w = *state;
  char pa[160];
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  peer_of(a, pa, sizeof(pa));
  tnode_t *b = start_node(w, "stratos-t", pa, "b");
  ASSERT_SOON(w, st_net__peer_count(a->net) == 1 && st_net__peer_count(b->net) == 1 &&
                   a->nup == 1 && b->nup == 1, 2000);
  /* The peers are known by their node addresses. */
  assert_memory_equal(a->last_up, b->id, ST_ADDR_LEN);
  assert_memory_equal(b->last_up, a->id, ST_ADDR_LEN);
  assert_true(st_net__has_peer(a->net, b->id));
  assert_true(st_net__has_peer(b->net, a->id));

  send_to(a, b->id, NULL, ST_CH_CONSENSUS, 7, "ping from a");
  ASSERT_SOON(w, b->nframes == 1, 2000);
  assert_memory_equal(b->frames[0].peer, a->id, ST_ADDR_LEN);
  assert_int_equal(b->frames[0].channel, ST_CH_CONSENSUS);
  assert_int_equal(b->frames[0].type, 7);
  assert_int_equal(b->frames[0].len, 11);
  assert_memory_equal(b->frames[0].data, "ping from a", 11);

  send_to(b, NULL, NULL, ST_CH_CONSENSUS, 8, "pong");
  ASSERT_SOON(w, a->nframes == 1, 2000);
  assert_memory_equal(a->frames[0].peer, b->id, ST_ADDR_LEN);
  assert_int_equal(a->frames[0].type, 8);
  assert_memory_equal(a->frames[0].data, "pong", 4);

  /* A channel nobody subscribed to is not delivered: the frame sent after
   * it arrives alone. */
  send_to(a, b->id, NULL, ST_CH_MEMPOOL, 1, "nobody listens");
  send_to(a, b->id, NULL, ST_CH_CONSENSUS, 2, "after");
  ASSERT_SOON(w, b->nframes == 2, 2000);
  assert_memory_equal(b->frames[1].data, "after", 5);
  run_for(w, 50);
  assert_int_equal(b->nframes, 2);

  /* A module that subscribes late hears of the peers already up, once. */
  static const st_module_t late_module = {.name = "late", .id = ST_MOD_KV,
                                          .on_msg = test_on_msg};
  tnode_t *late = calloc(1, sizeof(*late));
  assert_non_null(late);
  assert_int_equal(st_bus_attach(a->node.bus, &late_module, late), 0);
  assert_int_equal(st_net_subscribe(a->node.bus, ST_MOD_KV, ST_CH_META), 0);
  ASSERT_SOON(w, late->nup == 1, 1000);
  assert_memory_equal(late->last_up, b->id, ST_ADDR_LEN);
  assert_int_equal(st_net_subscribe(a->node.bus, ST_MOD_KV, ST_CH_RESOURCE), 0);
  send_to(b, a->id, NULL, ST_CH_RESOURCE, 4, "late frame");
  ASSERT_SOON(w, late->nframes == 1, 1000);
  assert_int_equal(late->nup, 1);
  assert_int_equal(late->frames[0].channel, ST_CH_RESOURCE);
  assert_int_equal(a->nframes, 1); /* the test module did not subscribe to it */
  st_bus_detach(a->node.bus, ST_MOD_KV);
  free(late);

  /* Counters and metrics. */
  st_net__stats_t sa = stats_of(a), sb = stats_of(b);
  assert_true(sa.bytes_sent > 0 && sa.bytes_recv > 0);
  assert_true(sb.bytes_sent > 0 && sb.bytes_recv > 0);
  assert_int_equal(sa.frames_refused, 0);
  assert_int_equal(sa.bans, 0);
  assert_true(st_metric_value(a->net->m_peers) == 1.0);
  assert_true(st_metric_value(a->net->m_sent) == (double)sa.bytes_sent);
}

static void test_dial_by_name(void **state) {
  world_t *w = *state;
  char peers[160], ids[ST_ADDR_STR_MAX];
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  id_string(a->id, ids);
  snprintf(peers, sizeof(peers), "%s@localhost:%u", ids, (unsigned)st_net__port(a->net));
  tnode_t *b = start_node(w, "stratos-t", peers, "b");
  ASSERT_SOON(w, st_net__has_peer(b->net, a->id) && st_net__has_peer(a->net, b->id), 3000);
}

static void test_full_inbox_counts_drops(void **state) {
  world_t *w = *state;
  char pa[160];
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  peer_of(a, pa, sizeof(pa));
  g_bus_cap = 8;
  tnode_t *b = start_node(w, "stratos-t", pa, "b");
  ASSERT_SOON(w, st_net__has_peer(a->net, b->id) && b->nup == 1, 2000);
  /* 50 frames reach b's net in a burst; its test inbox holds 8. */
  for (int i = 0; i < 50; i++)
    send_to(a, b->id, NULL, ST_CH_CONSENSUS, 1, "burst");
  ASSERT_SOON(w, b->nframes + stats_of(b).deliver_dropped == 50, 2000);
  assert_true(stats_of(b).deliver_dropped > 0);
  assert_true(b->nframes >= 8);
  assert_true(st_metric_value(b->net->m_deliver_dropped) == (double)stats_of(b).deliver_dropped);
  /* The peer is not blamed for it. */
  assert_true(st_net__has_peer(b->net, a->id));
  assert_int_equal(stats_of(b).bans, 0);
}

static void test_broadcast_three(void **state) {
  world_t *w = *state;
  char pa[160];
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  peer_of(a, pa, sizeof(pa));
  tnode_t *p[3];
  for (int i = 0; i < 3; i++)
    p[i] = start_node(w, "stratos-t", pa, "p");
  ASSERT_SOON(w, st_net__peer_count(a->net) == 3, 3000);

  send_to(a, NULL, NULL, ST_CH_CONSENSUS, 1, "to all");
  ASSERT_SOON(w, p[0]->nframes == 1 && p[1]->nframes == 1 && p[2]->nframes == 1, 2000);
  for (int i = 0; i < 3; i++) {
    assert_memory_equal(p[i]->frames[0].peer, a->id, ST_ADDR_LEN);
    assert_memory_equal(p[i]->frames[0].data, "to all", 6);
  }
  /* Everyone but p[1]. */
  send_to(a, NULL, p[1]->id, ST_CH_CONSENSUS, 2, "not p1");
  ASSERT_SOON(w, p[0]->nframes == 2 && p[2]->nframes == 2, 2000);
  /* Then only p[2]; by the time it arrives p[1] would have had the
   * previous one. */
  send_to(a, p[2]->id, NULL, ST_CH_CONSENSUS, 3, "p2 only");
  ASSERT_SOON(w, p[2]->nframes == 3, 2000);
  run_for(w, 50);
  assert_int_equal(p[0]->nframes, 2);
  assert_int_equal(p[1]->nframes, 1);
  assert_int_equal(p[2]->nframes, 3);
  assert_memory_equal(p[2]->frames[2].data, "p2 only", 7);
}

static void test_wrong_chain_banned(void **state) {
  world_t *w = *state;
  char pa[160];
  tnode_t *a = start_node(w, "chain-a", NULL, "a");
  peer_of(a, pa, sizeof(pa));
  tnode_t *b = start_node(w, "chain-b", pa, "b");
  ASSERT_SOON(w, stats_of(a).bans >= 1 && stats_of(b).bans >= 1, 2000);
  run_for(w, 600);
  assert_int_equal(st_net__peer_count(a->net), 0);
  assert_int_equal(st_net__peer_count(b->net), 0);
  assert_int_equal(a->nup, 0);
  assert_int_equal(b->nup, 0);
  /* Each proved its key, so each bans the other's node id outright. */
  assert_true(st_net__is_banned(a->net, b->id, NULL));
  assert_true(st_net__is_banned(b->net, a->id, NULL));
  assert_true(stats_of(a).handshakes_failed >= 1);
  /* b does not keep dialing a banned persistent peer. */
  assert_int_equal(stats_of(b).bans, 1);
}

static void test_raw_garbage_disconnected(void **state) {
  world_t *w = *state;
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  st_net__set_hs_timeout(a->net, 300);
  uint16_t port = st_net__port(a->net);

  /* Another protocol. */
  int fd = raw_connect(port, 0);
  const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  raw_write(w, fd, http, strlen(http));
  assert_true(raw_wait_closed(w, fd, 1000));
  close(fd);
  assert_int_equal(stats_of(a).frames_refused, 1);

  /* A hello with the wrong magic. */
  uint8_t hello[ST_NET__HELLO_LEN];
  memset(hello, 7, sizeof(hello));
  memcpy(hello, "STN2", 4);
  fd = raw_connect(port, 0);
  raw_write(w, fd, hello, sizeof(hello));
  assert_true(raw_wait_closed(w, fd, 1000));
  close(fd);
  assert_int_equal(stats_of(a).frames_refused, 2);

  /* A good hello, then a length of 0xFFFFFFFF: closed, not allocated. */
  uint8_t epk[32], esk[32];
  crypto_kx_keypair(epk, esk);
  st_net__hello_encode(epk, hello);
  fd = raw_connect(port, 0);
  raw_write(w, fd, hello, sizeof(hello));
  raw_write(w, fd, "\xff\xff\xff\xff", 4);
  assert_true(raw_wait_closed(w, fd, 1000));
  close(fd);
  assert_int_equal(stats_of(a).frames_refused, 3);

  /* Silence: closed at the handshake deadline. */
  fd = raw_connect(port, 0);
  assert_true(raw_wait_closed(w, fd, 1500));
  close(fd);
  assert_true(stats_of(a).handshakes_failed >= 4);

  /* None of them became a peer; no identity was proven, so no ban. */
  assert_int_equal(a->nup, 0);
  assert_int_equal(stats_of(a).bans, 0);
  assert_null(a->net->conns);
}

static void test_oversized_after_auth_banned(void **state) {
  world_t *w = *state;
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  raw_t r;
  raw_handshake(w, &r, a, 0);
  ASSERT_SOON(w, a->nup == 1, 1000);
  assert_memory_equal(a->last_up, r.id, ST_ADDR_LEN);
  raw_write(w, r.fd, "\xff\xff\xff\xff", 4);
  assert_true(raw_wait_closed(w, r.fd, 1000));
  ASSERT_SOON(w, a->ndown == 1, 1000);
  assert_true(st_net__is_banned(a->net, r.id, NULL));
  assert_int_equal(stats_of(a).frames_refused, 1);
  raw_close(&r);

  /* A banned node that comes back is refused after its handshake. */
  raw_t r2;
  raw_handshake_key(w, &r2, a, 0, &r.key);
  assert_true(raw_wait_closed(w, r2.fd, 1000));
  assert_int_equal(a->nup, 1);
  assert_int_equal(st_net__peer_count(a->net), 0);
  raw_close(&r2);
}

static void test_tampered_frame_banned(void **state) {
  world_t *w = *state;
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  raw_t r;
  raw_handshake(w, &r, a, 0);
  raw_send_env(w, &r, ST_CH_CONSENSUS, 5, "genuine", 7, 0);
  ASSERT_SOON(w, a->nframes == 1, 1000);
  assert_memory_equal(a->frames[0].peer, r.id, ST_ADDR_LEN);
  assert_memory_equal(a->frames[0].data, "genuine", 7);
  raw_send_env(w, &r, ST_CH_CONSENSUS, 5, "forged!", 7, 1);
  assert_true(raw_wait_closed(w, r.fd, 1000));
  run_for(w, 20);
  assert_int_equal(a->nframes, 1);
  assert_true(st_net__is_banned(a->net, r.id, NULL));
  assert_int_equal(stats_of(a).frames_refused, 1);
  assert_int_equal(st_net__peer_count(a->net), 0);
  raw_close(&r);
}

static void test_bad_envelopes_banned(void **state) {
  world_t *w = *state;
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  raw_t r;

  /* A channel past ST_CH_MAX. */
  raw_handshake(w, &r, a, 0);
  raw_send_env(w, &r, ST_CH_MAX + 1, 1, "x", 1, 0);
  assert_true(raw_wait_closed(w, r.fd, 1000));
  assert_true(st_net__is_banned(a->net, r.id, NULL));
  raw_close(&r);

  /* Bytes that are no Envelope, sealed correctly. */
  raw_handshake(w, &r, a, 0);
  const uint8_t junk[] = {0x1a, 0xff, 0xff, 0xff, 0x0f};
  uint8_t wire[64];
  assert_int_equal(st_net__seal(r.tx, &r.tx_ctr, junk, sizeof(junk), wire), 0);
  raw_write(w, r.fd, wire, st_net__sealed_len(sizeof(junk)));
  assert_true(raw_wait_closed(w, r.fd, 1000));
  assert_true(st_net__is_banned(a->net, r.id, NULL));
  raw_close(&r);

  /* PexAddrs with 65 addresses. */
  raw_handshake(w, &r, a, 0);
  char *addrs[65];
  char one[] = "stsds1x@1.2.3.4:5";
  for (int i = 0; i < 65; i++)
    addrs[i] = one;
  Stratos__P2p__PexAddrs pa;
  stratos__p2p__pex_addrs__init(&pa);
  pa.addrs = addrs;
  pa.n_addrs = 65;
  uint8_t buf[4096];
  size_t n = stratos__p2p__pex_addrs__pack(&pa, buf);
  raw_send_env(w, &r, ST_CH_PEX, ST_NET__PEX_ADDRS, buf, n, 0);
  assert_true(raw_wait_closed(w, r.fd, 1000));
  assert_true(st_net__is_banned(a->net, r.id, NULL));
  raw_close(&r);

  /* A second Auth after the handshake. */
  raw_handshake(w, &r, a, 0);
  raw_send_env(w, &r, ST_CH_HANDSHAKE, ST_NET__HS_AUTH, "x", 1, 0);
  assert_true(raw_wait_closed(w, r.fd, 1000));
  assert_true(st_net__is_banned(a->net, r.id, NULL));
  raw_close(&r);

  assert_int_equal(stats_of(a).bans, 4);
  assert_int_equal(stats_of(a).frames_refused, 4);
}

static void test_persistent_reconnects(void **state) {
  world_t *w = *state;
  char pa[160];
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  uint16_t port = st_net__port(a->net);
  st_keypair_t key = a->node.node_key;
  peer_of(a, pa, sizeof(pa));
  tnode_t *b = start_node(w, "stratos-t", pa, "b");
  ASSERT_SOON(w, b->nup == 1 && a->nup == 1, 2000);

  node_stop(a);
  ASSERT_SOON(w, b->ndown == 1 && st_net__peer_count(b->net) == 0, 2000);
  run_for(w, 300); /* b fails a dial or two meanwhile */

  tnode_t *a2 = node_new(w, "stratos-t", &key, port, NULL, "a2");
  assert_int_equal(node_start(a2), 0);
  ASSERT_SOON(w, b->nup == 2 && a2->nup == 1, 3000);
  assert_memory_equal(b->last_up, a2->id, ST_ADDR_LEN);
  assert_memory_equal(a2->id, a->id, ST_ADDR_LEN);
  send_to(b, a2->id, NULL, ST_CH_CONSENSUS, 1, "back");
  ASSERT_SOON(w, a2->nframes == 1, 2000);
}

static void test_send_queue_capped(void **state) {
  world_t *w = *state;
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  const size_t cap = 256u << 10;
  st_net__set_sendq_cap(a->net, cap);
  raw_t r;
  raw_handshake(w, &r, a, 4096);
  ASSERT_SOON(w, st_net__peer_count(a->net) == 1, 1000);
  /* A fixed, small kernel buffer, so that the queue is ours to see. */
  int sndbuf = 16384;
  assert_int_equal(uv_send_buffer_size((uv_handle_t *)&a->net->conns->tcp, &sndbuf), 0);
  /* 32 MiB at a peer that reads nothing. */
  static uint8_t chunk[64u << 10];
  memset(chunk, 0x5a, sizeof(chunk));
  size_t max_seen = 0;
  for (int round = 0; round < 8; round++) {
    for (int i = 0; i < 64; i++) {
      st_net_out_t *o = st_net_out_new(r.id, ST_CH_CONSENSUS, 1, chunk, sizeof(chunk));
      assert_int_equal(st_net_send(a->node.bus, ST_MOD_TEST, o), 0);
    }
    run_for(w, 30);
    for (st_net__conn_t *c = a->net->conns; c; c = c->next)
      if (c->tcp.write_queue_size > max_seen)
        max_seen = c->tcp.write_queue_size;
  }
  st_net__stats_t s = stats_of(a);
  /* Most were dropped and counted; the queue never passed its cap by more
   * than one frame. */
  assert_true(s.send_dropped > 400);
  assert_true(s.send_dropped < 512);
  assert_true(max_seen <= cap + st_net__sealed_len(sizeof(chunk) + ST_NET__ENV_OVERHEAD));
  assert_true(st_metric_value(a->net->m_dropped) == (double)s.send_dropped);
  /* The peer stays connected: slowness is not misbehaviour. */
  assert_int_equal(st_net__peer_count(a->net), 1);
  raw_close(&r);
}

static void test_pex_learns_and_dials(void **state) {
  world_t *w = *state;
  char pa[160];
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  peer_of(a, pa, sizeof(pa));
  tnode_t *b = start_node(w, "stratos-t", pa, "b");
  ASSERT_SOON(w, st_net__has_peer(a->net, b->id), 2000);
  tnode_t *c = start_node(w, "stratos-t", pa, "c");
  /* c knows only a; it learns b through a and dials it. */
  ASSERT_SOON(w, st_net__has_peer(c->net, b->id) && st_net__has_peer(b->net, c->id), 3000);
  int outbound = 0;
  for (st_net__conn_t *x = c->net->conns; x; x = x->next)
    if (x->state == ST_NET__C_UP && memcmp(x->info.id, b->id, ST_ADDR_LEN) == 0)
      outbound = x->outbound;
  assert_true(outbound);
  int learned = 0;
  for (st_net__book_t *e = c->net->book; e; e = e->next)
    if (memcmp(e->a.id, b->id, ST_ADDR_LEN) == 0)
      learned = e->flags == ST_NET__BOOK_LEARNED && e->a.port == st_net__port(b->net);
  assert_true(learned);
}

static void test_duplicates_settle(void **state) {
  world_t *w = *state;
  uint16_t pa = free_port(), pb = free_port();
  st_keypair_t ka, kb;
  uint8_t ia[ST_ADDR_LEN], ib[ST_ADDR_LEN];
  char sa[ST_ADDR_STR_MAX], sb[ST_ADDR_STR_MAX], la[160], lb[160];
  assert_int_equal(st_key_generate(&ka), 0);
  assert_int_equal(st_key_generate(&kb), 0);
  st_addr_from_pubkey(ka.pk, ia);
  st_addr_from_pubkey(kb.pk, ib);
  id_string(ia, sa);
  id_string(ib, sb);
  snprintf(la, sizeof(la), "%s@127.0.0.1:%u", sa, (unsigned)pa);
  snprintf(lb, sizeof(lb), "%s@127.0.0.1:%u", sb, (unsigned)pb);
  /* Each dials the other at the same time. */
  tnode_t *a = node_new(w, "stratos-t", &ka, pa, lb, "a");
  tnode_t *b = node_new(w, "stratos-t", &kb, pb, la, "b");
  assert_int_equal(node_start(a), 0);
  assert_int_equal(node_start(b), 0);
  ASSERT_SOON(w, up_conns(a) == 1 && up_conns(b) == 1 && a->net->conns && b->net->conns &&
                   !a->net->conns->next && !b->net->conns->next, 3000);
  size_t nup_a = a->nup, nup_b = b->nup;
  run_for(w, 800);
  /* One connection each, and it stays. */
  assert_int_equal(up_conns(a), 1);
  assert_int_equal(up_conns(b), 1);
  assert_int_equal(a->nup, nup_a);
  assert_int_equal(b->nup, nup_b);
  assert_int_equal(a->nup - a->ndown, 1);
  assert_int_equal(b->nup - b->ndown, 1);
  /* Settled without a redial: at most one connection was replaced. */
  assert_true(a->ndown <= 1 && b->ndown <= 1);
  /* Both ends kept the same one. */
  assert_int_not_equal(a->net->conns->outbound, b->net->conns->outbound);
  send_to(a, b->id, NULL, ST_CH_CONSENSUS, 1, "one link");
  ASSERT_SOON(w, b->nframes == 1, 1000);
}

static void test_self_and_wrong_id(void **state) {
  world_t *w = *state;
  uint16_t port = free_port();
  st_keypair_t other;
  uint8_t oid[ST_ADDR_LEN];
  char os[ST_ADDR_STR_MAX], list[160];
  assert_int_equal(st_key_generate(&other), 0);
  st_addr_from_pubkey(other.pk, oid);
  id_string(oid, os);
  /* a's own address under another id: a reaches itself and stops. */
  snprintf(list, sizeof(list), "%s@127.0.0.1:%u", os, (unsigned)port);
  tnode_t *a = node_new(w, "stratos-t", NULL, port, list, "a");
  assert_int_equal(node_start(a), 0);
  ASSERT_SOON(w, a->net->book && (a->net->book->flags & ST_NET__BOOK_SELF), 2000);
  run_for(w, 600);
  assert_int_equal(a->nup, 0);
  assert_null(a->net->conns);
  assert_int_equal(stats_of(a).bans, 0);

  /* b expects oid at a's address: a answers as itself, b hangs up. */
  tnode_t *b = node_new(w, "stratos-t", NULL, 0, list, "b");
  assert_int_equal(node_start(b), 0);
  ASSERT_SOON(w, b->net->book->failures >= 2, 2000);
  assert_int_equal(b->nup, 0);
  assert_int_equal(st_net__peer_count(b->net), 0);
  /* Our own id in the configuration is skipped. */
  char self[160];
  peer_of(b, self, sizeof(self));
  tnode_t *c = node_new(w, "stratos-t", &b->node.node_key, 0, self, "c");
  assert_int_equal(node_start(c), 0);
  assert_null(c->net->book);
}

static void test_module_ban(void **state) {
  world_t *w = *state;
  char pa[160];
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  peer_of(a, pa, sizeof(pa));
  tnode_t *b = start_node(w, "stratos-t", pa, "b");
  ASSERT_SOON(w, b->nup == 1 && a->nup == 1, 2000);
  assert_int_equal(st_net_ban(b->node.bus, ST_MOD_TEST, a->id, 5, "sent a bad block"), 0);
  ASSERT_SOON(w, b->ndown == 1 && a->ndown == 1, 1000);
  assert_memory_equal(b->last_down, a->id, ST_ADDR_LEN);
  run_for(w, 700);
  /* b does not redial its persistent peer while the ban lasts. */
  assert_int_equal(b->nup, 1);
  assert_int_equal(st_net__peer_count(b->net), 0);
  assert_true(st_net__is_banned(b->net, a->id, NULL));
  assert_int_equal(stats_of(b).bans, 1);
}

static void test_listen_busy(void **state) {
  world_t *w = *state;
  tnode_t *a = start_node(w, "stratos-t", NULL, "a");
  tnode_t *x = node_new(w, "stratos-t", NULL, st_net__port(a->net), NULL, "x");
  assert_int_equal(node_start(x), ST_EADDRINUSE);
  /* Bad persistent peers fail init. */
  tnode_t *y = node_new(w, "stratos-t", NULL, 0, "127.0.0.1:1", "y");
  void *st = NULL;
  assert_int_equal(st_net_module.init(&y->node, &st), ST_ECONFIG);
  assert_null(st);
}

/* Sends one JSON-RPC request over HTTP and returns the parsed body. */
static json_t *rpc_call(world_t *w, uint16_t port, const char *body) {
  int fd = raw_connect(port, 0);
  char req[512];
  int n = snprintf(req, sizeof(req),
                   "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   strlen(body), body);
  assert_int_equal(raw_write(w, fd, req, (size_t)n), 0);
  char resp[16384];
  size_t len = 0;
  uv_update_time(&w->loop);
  uint64_t end = uv_now(&w->loop) + 2000;
  for (;;) {
    ssize_t r = recv(fd, resp + len, sizeof(resp) - 1 - len, 0);
    if (r == 0)
      break;
    if (r > 0) {
      len += (size_t)r;
      continue;
    }
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    assert_true(uv_now(&w->loop) < end);
    pump(w);
  }
  close(fd);
  resp[len] = '\0';
  const char *b = strstr(resp, "\r\n\r\n");
  assert_non_null(b);
  json_t *j = json_loads(b + 4, 0, NULL);
  assert_non_null(j);
  return j;
}

static void test_net_info(void **state) {
  world_t *w = *state;
  tnode_t *a = node_new(w, "stratos-t", NULL, 0, NULL, "alpha");
  a->node.cfg.rpc_laddr.port = 0;
  assert_int_equal(st_rpc_module.init(&a->node, &a->rpc_state), 0);
  assert_int_equal(st_bus_attach(a->node.bus, &st_rpc_module, a->rpc_state), 0);
  assert_int_equal(st_rpc_module.start(a->rpc_state), 0);
  assert_int_equal(node_start(a), 0);
  char pa[160];
  peer_of(a, pa, sizeof(pa));
  tnode_t *b = start_node(w, "stratos-t", pa, "beta");
  ASSERT_SOON(w, a->nup == 1, 2000);

  json_t *j =
    rpc_call(w, a->node.rpc_port, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net_info\"}");
  json_t *res = json_object_get(j, "result");
  assert_non_null(res);
  assert_true(json_is_true(json_object_get(res, "listening")));
  char want[64];
  snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)st_net__port(a->net));
  assert_string_equal(json_string_value(json_array_get(json_object_get(res, "listeners"), 0)),
                      want);
  assert_int_equal(json_integer_value(json_object_get(res, "n_peers")), 1);
  json_t *p = json_array_get(json_object_get(res, "peers"), 0);
  assert_string_equal(json_string_value(json_object_get(p, "node_id")), b->node.node_id);
  assert_string_equal(json_string_value(json_object_get(p, "moniker")), "beta");
  assert_string_equal(json_string_value(json_object_get(p, "remote_ip")), "127.0.0.1");
  assert_true(json_is_false(json_object_get(p, "is_outbound")));
  snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)st_net__port(b->net));
  assert_string_equal(json_string_value(json_object_get(p, "listen_addr")), want);
  assert_true(json_integer_value(json_object_get(p, "bytes_sent")) > 0);
  assert_true(json_integer_value(json_object_get(p, "bytes_recv")) > 0);
  assert_true(json_is_integer(json_object_get(p, "send_queue_bytes")));
  assert_int_equal(json_integer_value(json_object_get(p, "send_dropped")), 0);
  assert_true(json_is_integer(json_object_get(p, "connected_seconds")));
  json_decref(j);

  j = rpc_call(w, a->node.rpc_port,
               "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"net_info\",\"params\":{}}");
  assert_non_null(json_object_get(j, "result"));
  json_decref(j);
  j = rpc_call(w, a->node.rpc_port,
               "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"net_info\",\"params\":{\"x\":1}}");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")),
                   ST_RPC_INVALID_PARAMS);
  json_decref(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_two_nodes_exchange, setup, teardown),
    cmocka_unit_test_setup_teardown(test_dial_by_name, setup, teardown),
    cmocka_unit_test_setup_teardown(test_full_inbox_counts_drops, setup, teardown),
    cmocka_unit_test_setup_teardown(test_broadcast_three, setup, teardown),
    cmocka_unit_test_setup_teardown(test_wrong_chain_banned, setup, teardown),
    cmocka_unit_test_setup_teardown(test_raw_garbage_disconnected, setup, teardown),
    cmocka_unit_test_setup_teardown(test_oversized_after_auth_banned, setup, teardown),
    cmocka_unit_test_setup_teardown(test_tampered_frame_banned, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_envelopes_banned, setup, teardown),
    cmocka_unit_test_setup_teardown(test_persistent_reconnects, setup, teardown),
    cmocka_unit_test_setup_teardown(test_send_queue_capped, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pex_learns_and_dials, setup, teardown),
    cmocka_unit_test_setup_teardown(test_duplicates_settle, setup, teardown),
    cmocka_unit_test_setup_teardown(test_self_and_wrong_id, setup, teardown),
    cmocka_unit_test_setup_teardown(test_module_ban, setup, teardown),
    cmocka_unit_test_setup_teardown(test_listen_busy, setup, teardown),
    cmocka_unit_test_setup_teardown(test_net_info, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
