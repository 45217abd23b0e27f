/* One P2P connection on the loop: dialing (with a name lookup when the
 * host is not a literal address), the handshake, reading frames through
 * the decoder of frame.c, and writing sealed frames.
 *
 * A connection owns two handles (the socket and the handshake deadline)
 * and, while a lookup runs, one request; it counts them in refs and frees
 * itself when the last has come back, so that no callback ever sees freed
 * memory. Closing is idempotent and tells net.c at once, so the peer
 * table never lists a connection that is going away. The send queue is
 * libuv's own write queue; its size is checked against the cap before
 * every frame, and a frame that would pass it is dropped and counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "net/net_private.h"

typedef struct wreq {
  uv_write_t req;
  st_net__conn_t *c;
  size_t len;
  uint8_t data[];
} wreq_t;

static void on_handle_closed(uv_handle_t *h);

static void release(st_net__conn_t *c) {
  if (--c->refs > 0)
    return;
  st_net__state_t *net = c->net;
  st_net__dec_free(&c->dec);
  sodium_memzero(c->tx_key, sizeof(c->tx_key));
  sodium_memzero(c->eph_sk, sizeof(c->eph_sk));
  free(c);
  st_net__conn_released(net);
}

static void on_handle_closed(uv_handle_t *h) { release(h->data); }

st_net__conn_t *st_net__conn_new(st_net__state_t *net, int outbound) {
  st_net__conn_t *c = calloc(1, sizeof(*c));
  if (!c)
    abort();
  c->net = net;
  c->outbound = outbound;
  c->state = outbound ? ST_NET__C_RESOLVE : ST_NET__C_HELLO;
  uv_tcp_init(net->loop, &c->tcp);
  uv_timer_init(net->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->connect.data = c;
  c->gai.data = c;
  c->refs = 2;
  c->q_cap = net->sendq_cap;
  st_net__dec_init(&c->dec, ST_NET__HS_MAX_CT);
  c->next = net->conns;
  if (net->conns)
    net->conns->prev = c;
  net->conns = c;
  net->live++;
  if (outbound)
    net->n_out++;
  else
    net->n_in_hs++;
  return c;
}

void st_net__conn_id_str(const st_net__conn_t *c, char *out, size_t outcap) {
  char id[ST_ADDR_STR_MAX];
  if (c->state == ST_NET__C_UP || c->announced) {
    st_addr_encode(ST_HRP_NODE, c->info.id, id, sizeof(id));
    snprintf(out, outcap, "%s (%s)", id, c->remote_ip);
  } else {
    snprintf(out, outcap, "%s", c->remote_ip[0] ? c->remote_ip : "?");
  }
}

void st_net__conn_close(st_net__conn_t *c, int err, const char *why) {
  if (c->state == ST_NET__C_CLOSED)
    return;
  char who[160];
  st_net__conn_id_str(c, who, sizeof(who));
  if (c->announced)
    ST_INFO("net", "peer %s disconnected: %s", who, why ? why : st_strerror(err));
  else
    ST_DEBUG("net", "connection %s closed: %s", who, why ? why : st_strerror(err));
  c->state = ST_NET__C_CLOSED;
  st_net__conn_gone(c->net, c, err);
  if (c->gai_pending)
    uv_cancel((uv_req_t *)&c->gai);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

void st_net__conn_fault(st_net__conn_t *c, int err, const char *why) {
  st_net__state_t *net = c->net;
  char who[160];
  if (c->state == ST_NET__C_CLOSED)
    return;
  st_net__count_refused(net);
  st_net__conn_id_str(c, who, sizeof(who));
  ST_WARN("net", "peer %s: %s (%s)", who, why, st_strerror(err));
  if (c->state == ST_NET__C_UP)
    st_net__ban_peer(net, c->info.id, NULL, ST_NET__BAN_SECONDS, why);
  st_net__conn_close(c, err, why);
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  st_net__conn_t *c = w->c;
  if (status == 0) {
    c->bytes_sent += w->len;
    st_net__count_bytes(c->net, w->len, 0);
  } else if (status != UV_ECANCELED && c->state != ST_NET__C_CLOSED) {
    st_net__conn_close(c, st_err_from_errno(status), "write failed");
  }
  free(w);
}

static int write_bytes(st_net__conn_t *c, wreq_t *w) {
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
  w->c = c;
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc != 0) {
    free(w);
    st_net__conn_close(c, st_err_from_errno(rc), "write failed");
    return st_err_from_errno(rc);
  }
  return 0;
}

static wreq_t *wreq_new(size_t len) {
  wreq_t *w = malloc(sizeof(*w) + len);
  if (!w)
    abort();
  w->len = len;
  return w;
}

static int send_sealed(st_net__conn_t *c, const uint8_t *pt, size_t len) {
  size_t n = st_net__sealed_len(len);
  wreq_t *w = wreq_new(n);
  int rc = st_net__seal(c->tx_key, &c->tx_ctr, pt, len, w->data);
  if (rc != 0) {
    free(w);
    if (rc == ST_ERANGE)
      st_net__conn_close(c, rc, "send counter exhausted");
    return rc;
  }
  return write_bytes(c, w);
}

int st_net__conn_send(st_net__conn_t *c, const uint8_t *pt, size_t len) {
  if (c->state != ST_NET__C_UP)
    return ST_ECLOSED;
  size_t n = st_net__sealed_len(len);
  size_t queued = c->tcp.write_queue_size;
  /* An empty queue always takes one frame, so that a frame larger than
   * the cap can still be sent to a peer that keeps up. */
  if (queued > 0 && (queued > c->q_cap || n > c->q_cap - queued)) {
    c->dropped++;
    return ST_EFULL;
  }
  return send_sealed(c, pt, len);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  st_net__conn_t *c = h->data;
  /* One buffer serves every connection of the node: on_read consumes it
   * before the loop reads from any other socket. */
  (void)suggested;
  *buf = uv_buf_init((char *)c->net->rbuf, sizeof(c->net->rbuf));
}

static void info_of_self(st_net__state_t *net, st_net__info_t *in) {
  const st_node_t *node = net->node;
  memset(in, 0, sizeof(*in));
  memcpy(in->pubkey, node->node_key.pk, ST_PUBKEY_LEN);
  snprintf(in->chain_id, sizeof(in->chain_id), "%s", net->chain_id);
  snprintf(in->moniker, sizeof(in->moniker), "%s", node->cfg.moniker);
  snprintf(in->version, sizeof(in->version), "%s", ST_VERSION);
  in->roles = node->roles;
  snprintf(in->listen_addr, sizeof(in->listen_addr), "%s", net->listen_addr);
}

static void on_hello(st_net__conn_t *c, const uint8_t *peer_eph) {
  st_net__state_t *net = c->net;
  uint8_t rx[ST_NET__KEY_LEN];
  if (st_net__session_keys(c->outbound, c->eph_pk, c->eph_sk, peer_eph, rx, c->tx_key,
                           c->transcript) != 0) {
    st_net__count_refused(net);
    net->st.handshakes_failed++;
    st_net__conn_close(c, ST_EPROTO, "unusable ephemeral key");
    return;
  }
  sodium_memzero(c->eph_sk, sizeof(c->eph_sk));
  st_net__dec_set_key(&c->dec, rx);
  sodium_memzero(rx, sizeof(rx));
  st_net__info_t me;
  uint8_t *auth;
  size_t alen;
  info_of_self(net, &me);
  if (st_net__auth_build(&net->node->node_key, net->chain_id, c->transcript, &me, &auth,
                         &alen) != 0) {
    st_net__conn_close(c, ST_EINVAL, "cannot sign the handshake");
    return;
  }
  c->state = ST_NET__C_AUTH;
  send_sealed(c, auth, alen);
  free(auth);
}

static void on_auth(st_net__conn_t *c, const uint8_t *pt, size_t len) {
  st_net__state_t *net = c->net;
  char id[ST_ADDR_STR_MAX];
  int rc = st_net__auth_check(pt, len, net->chain_id, c->transcript, &c->info);
  if (rc == 0) {
    uv_timer_stop(&c->timer);
    st_net__dec_set_max(&c->dec, ST_NET__MAX_CT);
    st_net__peer_ready(net, c);
    return;
  }
  net->st.handshakes_failed++;
  st_net__count_refused(net);
  st_addr_encode(ST_HRP_NODE, c->info.id, id, sizeof(id));
  if (rc == ST_EPERM) {
    /* The key is proven: refuse that node, wherever it connects from. */
    ST_WARN("net", "peer %s (%s) is on chain \"%s\", not \"%s\"", id, c->remote_ip,
            c->info.chain_id, net->chain_id);
    st_net__ban_peer(net, c->info.id, NULL, ST_NET__BAN_SECONDS, "wrong chain id");
  } else if (rc == ST_EBADSIG) {
    /* The identity is only claimed: ban the claim from this address, so
     * that a stranger cannot lock an honest node out. */
    ST_WARN("net", "peer claiming %s (%s): handshake signature does not verify", id,
            c->remote_ip);
    st_net__ban_peer(net, c->info.id, c->remote_ip, ST_NET__BAN_SECONDS, "bad signature");
  } else {
    ST_WARN("net", "connection %s: malformed handshake", c->remote_ip);
  }
  st_net__conn_close(c, rc, "handshake refused");
}

static void on_plain(st_net__conn_t *c, const uint8_t *pt, size_t len) {
  if (c->state == ST_NET__C_AUTH) {
    on_auth(c, pt, len);
    return;
  }
  Stratos__P2p__Envelope *env;
  int rc = st_net__env_unpack(pt, len, &env);
  if (rc != 0) {
    st_net__conn_fault(c, rc, rc == ST_EPROTO ? "frame on an unknown channel"
                                              : "malformed frame");
    return;
  }
  st_net__peer_frame(c->net, c, env);
  stratos__p2p__envelope__free_unpacked(env, NULL);
}

static void on_decode_error(st_net__conn_t *c, int rc) {
  const char *why = rc == ST_EPROTO       ? "bad magic or frame length"
                    : rc == ST_E2BIG      ? "oversized frame"
                    : rc == ST_EBADPROOF  ? "frame does not authenticate"
                    : rc == ST_ERANGE     ? "receive counter exhausted"
                                          : "cannot read frame";
  /* Running out of memory or of nonces is not the peer's fault. */
  if (rc == ST_ENOMEM || rc == ST_ERANGE) {
    st_net__conn_close(c, rc, why);
    return;
  }
  if (c->state != ST_NET__C_UP)
    c->net->st.handshakes_failed++;
  st_net__conn_fault(c, rc, why);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  st_net__conn_t *c = s->data;
  if (c->state == ST_NET__C_CLOSED)
    return;
  if (nread < 0) {
    st_net__conn_close(c, st_err_from_errno((int)nread),
                       nread == UV_EOF ? "closed by peer" : "read failed");
    return;
  }
  size_t n = (size_t)nread, pos = 0;
  const uint8_t *p = (const uint8_t *)buf->base;
  c->bytes_recv += n;
  st_net__count_bytes(c->net, 0, n);
  while (pos < n && c->state != ST_NET__C_CLOSED) {
    size_t used;
    const uint8_t *out;
    size_t outlen;
    int ev = st_net__dec_feed(&c->dec, p + pos, n - pos, &used, &out, &outlen);
    pos += used;
    if (ev < 0) {
      on_decode_error(c, ev);
      return;
    }
    if (ev == ST_NET__EV_HELLO)
      on_hello(c, out);
    else if (ev == ST_NET__EV_FRAME)
      on_plain(c, out, outlen);
  }
}

/* ---- starting ---- */

static void on_deadline(uv_timer_t *t) {
  st_net__conn_t *c = t->data;
  c->net->st.handshakes_failed++;
  st_net__conn_close(c, ST_ETIMEDOUT, "handshake timed out");
}

static void remote_name(st_net__conn_t *c, const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET6)
    uv_ip6_name((const struct sockaddr_in6 *)sa, c->remote_ip, sizeof(c->remote_ip));
  else
    uv_ip4_name((const struct sockaddr_in *)sa, c->remote_ip, sizeof(c->remote_ip));
}

void st_net__conn_start(st_net__conn_t *c) {
  if (!c->outbound) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
      remote_name(c, (struct sockaddr *)&ss);
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 30);
  c->state = ST_NET__C_HELLO;
  crypto_kx_keypair(c->eph_pk, c->eph_sk);
  wreq_t *w = wreq_new(ST_NET__HELLO_LEN);
  st_net__hello_encode(c->eph_pk, w->data);
  if (write_bytes(c, w) != 0)
    return;
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc != 0) {
    st_net__conn_close(c, st_err_from_errno(rc), "cannot read");
    return;
  }
  if (!uv_is_active((uv_handle_t *)&c->timer))
    uv_timer_start(&c->timer, on_deadline, c->net->hs_timeout_ms, 0);
}

static void on_connect(uv_connect_t *req, int status) {
  st_net__conn_t *c = req->data;
  if (c->state == ST_NET__C_CLOSED)
    return;
  if (status != 0) {
    st_net__conn_close(c, st_err_from_errno(status), "cannot connect");
    return;
  }
  st_net__conn_start(c);
}

static void connect_to(st_net__conn_t *c, const struct sockaddr *sa) {
  remote_name(c, sa);
  c->state = ST_NET__C_CONNECT;
  int rc = uv_tcp_connect(&c->connect, &c->tcp, sa, on_connect);
  if (rc != 0)
    st_net__conn_close(c, st_err_from_errno(rc), "cannot connect");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  st_net__conn_t *c = req->data;
  c->gai_pending = 0;
  if (c->state != ST_NET__C_CLOSED) {
    const struct addrinfo *use = NULL;
    for (const struct addrinfo *a = res; status == 0 && a; a = a->ai_next)
      if (a->ai_family == AF_INET || (a->ai_family == AF_INET6 && !use))
        use = a;
    if (!use) {
      st_net__conn_close(c, ST_ENOENT, "cannot resolve host");
    } else {
      struct sockaddr_storage ss;
      memcpy(&ss, use->ai_addr, use->ai_addrlen);
      if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(c->port);
      else
        ((struct sockaddr_in *)&ss)->sin_port = htons(c->port);
      connect_to(c, (struct sockaddr *)&ss);
    }
  }
  if (res)
    uv_freeaddrinfo(res);
  release(c);
}

void st_net__conn_dial(st_net__conn_t *c, st_net__book_t *b) {
  struct sockaddr_in s4;
  struct sockaddr_in6 s6;
  c->book = b;
  b->conn = c;
  c->port = b->a.port;
  snprintf(c->remote_ip, sizeof(c->remote_ip), "%s", b->a.host);
  /* The whole dial, connect included, must finish within the handshake
   * deadline. */
  uv_timer_start(&c->timer, on_deadline, c->net->hs_timeout_ms, 0);
  if (uv_ip4_addr(b->a.host, b->a.port, &s4) == 0) {
    connect_to(c, (const struct sockaddr *)&s4);
    return;
  }
  if (uv_ip6_addr(b->a.host, b->a.port, &s6) == 0) {
    connect_to(c, (const struct sockaddr *)&s6);
    return;
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  c->state = ST_NET__C_RESOLVE;
  c->refs++;
  c->gai_pending = 1;
  int rc = uv_getaddrinfo(c->net->loop, &c->gai, on_resolved, b->a.host, NULL, &hints);
  if (rc != 0) {
    c->gai_pending = 0;
    c->refs--;
    st_net__conn_close(c, st_err_from_errno(rc), "cannot resolve host");
  }
}
