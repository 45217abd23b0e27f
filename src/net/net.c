/* The net module: the listener, the peer table, dialing with backoff,
 * bans, peer exchange, the bus contract of st_net.h, net_info and the
 * p2p metrics.
 *
 * Peers are known by the 20-byte address of their node key, proven in the
 * handshake (conn.c). The address book holds what we may dial: persistent
 * peers and seeds from the configuration, and addresses learned through
 * peer exchange. One timer drives every dial: it fires when the earliest
 * entry is due, and any change that may free a slot re-arms it at once
 * (never dialing from inside a close, so the book is never changed while
 * it is walked). Bans live in a small fixed table. Everything runs on the
 * loop thread; the state is freed in the last close callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <jansson.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_net.h>
#include <stratos/st_node.h>
#include <stratos/st_rpc.h>
#include "net/net_private.h"

static const uint8_t zero_id[ST_ADDR_LEN];

/* Subscriptions are bit masks of module ids. */
_Static_assert(ST_MOD_MAX <= 32, "module ids must fit a uint32_t mask");

uint64_t st_net__now(const st_net__state_t *net) { return uv_now(net->loop); }

static int id_eq(const uint8_t *a, const uint8_t *b) { return memcmp(a, b, ST_ADDR_LEN) == 0; }

static void id_str(const uint8_t id[ST_ADDR_LEN], char out[ST_ADDR_STR_MAX]) {
  if (st_addr_encode(ST_HRP_NODE, id, out, ST_ADDR_STR_MAX) != 0)
    snprintf(out, ST_ADDR_STR_MAX, "?");
}

/* ---- counters ---- */

void st_net__count_bytes(st_net__state_t *net, size_t sent, size_t recv) {
  net->st.bytes_sent += sent;
  net->st.bytes_recv += recv;
  if (sent)
    st_metric_add(net->m_sent, (double)sent);
  if (recv)
    st_metric_add(net->m_recv, (double)recv);
}

void st_net__count_refused(st_net__state_t *net) {
  net->st.frames_refused++;
  st_metric_inc(net->m_refused);
}

static void set_peer_gauge(st_net__state_t *net) { st_metric_set(net->m_peers, net->n_up); }

/* ---- events to modules ---- */

/* Sends a peer event to every module in mask. */
static void emit_peer_to(st_net__state_t *net, uint32_t mask, const uint8_t id[ST_ADDR_LEN],
                         int up) {
  for (unsigned m = 0; m < ST_MOD_MAX; m++) {
    if (!(mask & (1u << m)))
      continue;
    st_net_peer_event_t *ev = malloc(sizeof(*ev));
    if (!ev)
      abort();
    memcpy(ev->peer, id, ST_ADDR_LEN);
    ev->up = up;
    st_msg_t msg = {.type = ST_MSG_NET_PEER, .from = ST_MOD_NET, .to = (uint8_t)m,
                    .data = ev, .len = sizeof(*ev), .free_fn = free};
    if (st_bus_send(net->node->bus, &msg) != 0) {
      free(ev);
      net->st.deliver_dropped++;
      st_metric_inc(net->m_deliver_dropped);
    }
  }
}

static void emit_peer(st_net__state_t *net, const uint8_t id[ST_ADDR_LEN], int up) {
  emit_peer_to(net, net->sub_any, id, up);
}

static void deliver(st_net__state_t *net, st_net__conn_t *c,
                    const Stratos__P2p__Envelope *env) {
  uint32_t ch = (uint32_t)env->channel;
  for (unsigned m = 0; m < ST_MOD_MAX; m++) {
    if (!(net->subs[ch] & (1u << m)))
      continue;
    size_t len = env->payload.len;
    st_net_frame_t *f = malloc(sizeof(*f) + len);
    if (!f)
      abort();
    memcpy(f->peer, c->info.id, ST_ADDR_LEN);
    f->channel = ch;
    f->type = env->type;
    f->len = len;
    if (len)
      memcpy(f->data, env->payload.data, len);
    st_msg_t msg = {.type = ST_MSG_NET_FRAME, .from = ST_MOD_NET, .to = (uint8_t)m,
                    .data = f, .len = sizeof(*f) + len, .free_fn = free};
    if (st_bus_send(net->node->bus, &msg) != 0) {
      free(f);
      net->st.deliver_dropped++;
      st_metric_inc(net->m_deliver_dropped);
    }
  }
}

/* ---- bans ---- */

static int ban_matches(const st_net__ban_t *b, const uint8_t id[ST_ADDR_LEN], const char *ip,
                       uint64_t now) {
  if (b->until_ms <= now || !id_eq(b->id, id))
    return 0;
  return b->ip[0] == '\0' || (ip && strcmp(b->ip, ip) == 0);
}

int st_net__is_banned(st_net__state_t *net, const uint8_t id[ST_ADDR_LEN], const char *ip) {
  uint64_t now = st_net__now(net);
  for (size_t i = 0; i < ST_NET__BANS_MAX; i++)
    if (ban_matches(&net->bans[i], id, ip, now))
      return 1;
  return 0;
}

/* When an id-wide ban on id ends (0 if none). */
static uint64_t ban_until(st_net__state_t *net, const uint8_t id[ST_ADDR_LEN]) {
  uint64_t now = st_net__now(net), until = 0;
  for (size_t i = 0; i < ST_NET__BANS_MAX; i++) {
    const st_net__ban_t *b = &net->bans[i];
    if (b->until_ms > now && b->ip[0] == '\0' && id_eq(b->id, id) && b->until_ms > until)
      until = b->until_ms;
  }
  return until;
}

static void kick_dials(st_net__state_t *net);

void st_net__ban_peer(st_net__state_t *net, const uint8_t id[ST_ADDR_LEN], const char *ip,
                      uint32_t seconds, const char *reason) {
  uint64_t now = st_net__now(net);
  char ids[ST_ADDR_STR_MAX];
  if (id_eq(id, zero_id) || id_eq(id, net->self_id))
    return;
  if (seconds == 0)
    seconds = ST_NET__BAN_SECONDS;
  if (seconds > ST_NET__BAN_MAX_SECONDS)
    seconds = ST_NET__BAN_MAX_SECONDS;
  /* Reuse the entry of the same ban, else a free or expired one, else the
   * one that ends first. */
  st_net__ban_t *slot = NULL;
  for (size_t i = 0; i < ST_NET__BANS_MAX && !slot; i++) {
    st_net__ban_t *b = &net->bans[i];
    if (id_eq(b->id, id) && strcmp(b->ip, ip ? ip : "") == 0)
      slot = b;
  }
  for (size_t i = 0; i < ST_NET__BANS_MAX && !slot; i++)
    if (net->bans[i].until_ms <= now)
      slot = &net->bans[i];
  if (!slot) {
    slot = &net->bans[0];
    for (size_t i = 1; i < ST_NET__BANS_MAX; i++)
      if (net->bans[i].until_ms < slot->until_ms)
        slot = &net->bans[i];
  }
  memcpy(slot->id, id, ST_ADDR_LEN);
  snprintf(slot->ip, sizeof(slot->ip), "%s", ip ? ip : "");
  if (slot->until_ms < now + (uint64_t)seconds * 1000u)
    slot->until_ms = now + (uint64_t)seconds * 1000u;
  net->st.bans++;
  st_metric_inc(net->m_bans);
  id_str(id, ids);
  ST_WARN("net", "banned %s%s%s for %u s: %s", ids, ip ? " from " : "", ip ? ip : "",
          (unsigned)seconds, reason && reason[0] ? reason : "no reason given");
  for (st_net__conn_t *c = net->conns, *next; c; c = next) {
    next = c->next;
    if (c->state == ST_NET__C_UP && id_eq(c->info.id, id) &&
        (!ip || strcmp(c->remote_ip, ip) == 0))
      st_net__conn_close(c, ST_EPERM, "banned");
  }
  kick_dials(net);
}

/* ---- the address book and dialing ---- */

static st_net__book_t *book_find(st_net__state_t *net, const uint8_t id[ST_ADDR_LEN]) {
  for (st_net__book_t *b = net->book; b; b = b->next)
    if (id_eq(b->a.id, id))
      return b;
  return NULL;
}

static st_net__book_t *book_add(st_net__state_t *net, const st_net__paddr_t *a, unsigned flags) {
  st_net__book_t *b = book_find(net, a->id);
  if (b) {
    b->flags |= flags;
    return b;
  }
  b = calloc(1, sizeof(*b));
  if (!b)
    abort();
  b->a = *a;
  b->flags = flags;
  /* Appended, so that configured peers are dialed before learned ones. */
  st_net__book_t **pp = &net->book;
  while (*pp)
    pp = &(*pp)->next;
  *pp = b;
  net->n_book++;
  return b;
}

static int is_persistent(st_net__state_t *net, const uint8_t id[ST_ADDR_LEN]) {
  st_net__book_t *b = book_find(net, id);
  return b && (b->flags & ST_NET__BOOK_PERSISTENT);
}

static st_net__conn_t *find_up(st_net__state_t *net, const uint8_t id[ST_ADDR_LEN],
                               const st_net__conn_t *except) {
  for (st_net__conn_t *c = net->conns; c; c = c->next)
    if (c != except && c->state == ST_NET__C_UP && id_eq(c->info.id, id))
      return c;
  return NULL;
}

static uint64_t backoff_ms(unsigned failures) {
  uint64_t d = ST_NET__BACKOFF_MIN_MS;
  for (unsigned i = 1; i < failures && d < ST_NET__BACKOFF_MAX_MS; i++)
    d *= 2;
  if (d > ST_NET__BACKOFF_MAX_MS)
    d = ST_NET__BACKOFF_MAX_MS;
  /* Jitter of +-25 %, so that peers that lost each other at the same time
   * do not redial in step. */
  return d * 3 / 4 + randombytes_uniform((uint32_t)(d / 2) + 1);
}

static void on_dial_timer(uv_timer_t *t);

static void kick_dials(st_net__state_t *net) {
  if (net->started && !net->stopping)
    uv_timer_start(&net->dial_timer, on_dial_timer, 0, 0);
}

static int dialable(st_net__state_t *net, const st_net__book_t *b) {
  return !b->conn && !(b->flags & ST_NET__BOOK_SELF) && !find_up(net, b->a.id, NULL);
}

static void schedule_dials(st_net__state_t *net) {
  uint64_t now = st_net__now(net), next = UINT64_MAX;
  if (!net->started || net->stopping)
    return;
  /* Learned addresses that keep failing are forgotten. */
  for (st_net__book_t **pp = &net->book; *pp;) {
    st_net__book_t *b = *pp;
    if (b->flags == ST_NET__BOOK_LEARNED && !b->conn &&
        b->failures >= ST_NET__LEARNED_MAX_FAILS) {
      *pp = b->next;
      net->n_book--;
      free(b);
      continue;
    }
    pp = &b->next;
  }
  for (st_net__book_t *b = net->book; b; b = b->next) {
    if (!dialable(net, b) || b->next_dial_ms > now || ban_until(net, b->a.id))
      continue;
    if (!(b->flags & ST_NET__BOOK_PERSISTENT) && net->n_out >= net->node->cfg.max_outbound)
      continue;
    char ids[ST_ADDR_STR_MAX];
    id_str(b->a.id, ids);
    ST_DEBUG("net", "dialing %s@%s:%u", ids, b->a.host, (unsigned)b->a.port);
    st_net__conn_dial(st_net__conn_new(net, 1), b);
  }
  /* A second pass, since a dial may have failed at once and set its
   * entry's next time. */
  for (st_net__book_t *b = net->book; b; b = b->next) {
    if (!dialable(net, b))
      continue;
    if (!(b->flags & ST_NET__BOOK_PERSISTENT) && net->n_out >= net->node->cfg.max_outbound)
      continue;
    uint64_t at = b->next_dial_ms, until = ban_until(net, b->a.id);
    if (until > at)
      at = until;
    if (at < next)
      next = at;
  }
  if (next != UINT64_MAX)
    uv_timer_start(&net->dial_timer, on_dial_timer, next > now ? next - now : 0, 0);
}

static void on_dial_timer(uv_timer_t *t) { schedule_dials(t->data); }

/* ---- peer exchange ---- */

static void send_env(st_net__conn_t *c, uint32_t channel, uint32_t type, const void *data,
                     size_t len) {
  uint8_t *pt;
  size_t n;
  if (st_net__env_pack(channel, type, data, len, &pt, &n) != 0)
    return;
  if (st_net__conn_send(c, pt, n) == ST_EFULL) {
    c->net->st.send_dropped++;
    st_metric_inc(c->net->m_dropped);
  }
  free(pt);
}

static void pex_ask(st_net__conn_t *c) {
  c->pex_asked = 1;
  send_env(c, ST_CH_PEX, ST_NET__PEX_REQUEST, NULL, 0);
}

static int is_loopback(const char *host) {
  return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
         strcmp(host, "localhost") == 0;
}

static void pex_answer(st_net__state_t *net, st_net__conn_t *to) {
  char bufs[ST_NET__PEX_MAX][ST_NET__ADDR_MAX + 1];
  char *ptrs[ST_NET__PEX_MAX];
  size_t n = 0;
  for (st_net__conn_t *c = net->conns; c && n < ST_NET__PEX_MAX; c = c->next) {
    char host[ST_NET__HOST_MAX];
    uint16_t port;
    if (c == to || c->state != ST_NET__C_UP || !c->info.listen_addr[0])
      continue;
    if (st_net__parse_hostport(c->info.listen_addr, strlen(c->info.listen_addr), host,
                               &port) != 0)
      continue;
    /* A node listening on every interface is reachable where we see it;
     * so is one that names a loopback address but reached us from
     * elsewhere. */
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
        (is_loopback(host) && !is_loopback(c->remote_ip)))
      snprintf(host, sizeof(host), "%s", c->remote_ip);
    if (st_net__format_peer(c->info.id, host, port, bufs[n], sizeof(bufs[n])) != 0)
      continue;
    ptrs[n] = bufs[n];
    n++;
  }
  Stratos__P2p__PexAddrs pa = STRATOS__P2P__PEX_ADDRS__INIT;
  pa.n_addrs = n;
  pa.addrs = ptrs;
  size_t len = stratos__p2p__pex_addrs__get_packed_size(&pa);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf)
    abort();
  stratos__p2p__pex_addrs__pack(&pa, buf);
  send_env(to, ST_CH_PEX, ST_NET__PEX_ADDRS, buf, len);
  free(buf);
}

static void on_pex(st_net__state_t *net, st_net__conn_t *c, const Stratos__P2p__Envelope *env) {
  uint64_t now = st_net__now(net);
  if (env->type == ST_NET__PEX_REQUEST) {
    /* Answered at most once per interval; more often is ignored. */
    if (c->pex_answered_any && now - c->pex_answered_ms < ST_NET__PEX_ANSWER_MS)
      return;
    c->pex_answered_any = 1;
    c->pex_answered_ms = now;
    pex_answer(net, c);
    return;
  }
  if (env->type != ST_NET__PEX_ADDRS) {
    st_net__conn_fault(c, ST_EPROTO, "unknown peer-exchange message");
    return;
  }
  Stratos__P2p__PexAddrs *pa;
  int rc = st_net__pex_decode(env->payload.data, env->payload.len, &pa);
  if (rc != 0) {
    st_net__conn_fault(c, rc, "malformed peer-exchange addresses");
    return;
  }
  if (!c->pex_asked) {
    stratos__p2p__pex_addrs__free_unpacked(pa, NULL);
    return; /* unsolicited: not believed */
  }
  c->pex_asked = 0;
  size_t added = 0;
  for (size_t i = 0; i < pa->n_addrs && net->n_book < ST_NET__BOOK_MAX; i++) {
    st_net__paddr_t a;
    if (st_net__parse_peer(pa->addrs[i], strlen(pa->addrs[i]), &a) != 0)
      continue;
    if (id_eq(a.id, net->self_id))
      continue;
    st_net__book_t *b = book_find(net, a.id);
    if (!b) {
      book_add(net, &a, ST_NET__BOOK_LEARNED);
      added++;
    } else if ((b->flags & ~(unsigned)ST_NET__BOOK_SELF) == ST_NET__BOOK_LEARNED && !b->conn &&
               (b->failures > 0 || (b->flags & ST_NET__BOOK_SELF)) &&
               (b->a.port != a.port || strcmp(b->a.host, a.host) != 0)) {
      /* A learned address that did not work gives way to a new one;
       * configured addresses are never overwritten by hearsay. */
      b->a = a;
      b->flags = ST_NET__BOOK_LEARNED;
      b->failures = 0;
      b->next_dial_ms = 0;
      added++;
    }
  }
  stratos__p2p__pex_addrs__free_unpacked(pa, NULL);
  if (added) {
    ST_DEBUG("net", "learned %zu addresses", added);
    kick_dials(net);
  }
}

/* ---- connection events (from conn.c) ---- */

/* Which of two connections to the same node stays. Both ends must pick
 * the same one without talking, so when they cross (one dialed by each
 * side) the one dialed by the lower node id wins. Two inbound ones mean
 * the peer dialed again: the newer wins. Two outbound ones cannot both be
 * ours for long: the older wins. */
static int keep_new(st_net__state_t *net, const st_net__conn_t *old, const st_net__conn_t *c) {
  if (old->outbound != c->outbound) {
    const uint8_t *d_old = old->outbound ? net->self_id : old->info.id;
    const uint8_t *d_new = c->outbound ? net->self_id : c->info.id;
    return memcmp(d_new, d_old, ST_ADDR_LEN) < 0;
  }
  return !c->outbound;
}

int st_net__peer_ready(st_net__state_t *net, st_net__conn_t *c) {
  char ids[ST_ADDR_STR_MAX];
  id_str(c->info.id, ids);
  if (id_eq(c->info.id, net->self_id)) {
    if (c->book)
      c->book->flags |= ST_NET__BOOK_SELF;
    st_net__conn_close(c, ST_EEXIST, "connected to ourselves");
    return ST_EEXIST;
  }
  if (c->book && !id_eq(c->book->a.id, c->info.id)) {
    char want[ST_ADDR_STR_MAX];
    id_str(c->book->a.id, want);
    ST_WARN("net", "%s:%u answered as %s, expected %s", c->book->a.host,
            (unsigned)c->book->a.port, ids, want);
    st_net__conn_close(c, ST_EPERM, "unexpected node id");
    return ST_EPERM;
  }
  if (st_net__is_banned(net, c->info.id, c->remote_ip)) {
    st_net__conn_close(c, ST_EPERM, "banned");
    return ST_EPERM;
  }
  if (!c->outbound && net->n_in_up >= net->node->cfg.max_inbound &&
      !is_persistent(net, c->info.id)) {
    st_net__conn_close(c, ST_EFULL, "too many inbound peers");
    return ST_EFULL;
  }
  st_net__conn_t *old = find_up(net, c->info.id, c);
  if (old) {
    if (!keep_new(net, old, c)) {
      st_net__conn_close(c, ST_EEXIST, "duplicate connection");
      return ST_EEXIST;
    }
    st_net__conn_close(old, ST_EEXIST, "replaced by another connection");
  }
  c->state = ST_NET__C_UP;
  c->up_ms = st_net__now(net);
  if (!c->outbound) {
    net->n_in_hs--;
    net->n_in_up++;
  }
  net->n_up++;
  set_peer_gauge(net);
  if (c->book)
    c->book->failures = 0;
  c->announced = 1;
  ST_INFO("net", "peer %s (%s) connected, %s, %s", ids, c->info.moniker,
          c->outbound ? "outbound" : "inbound", c->remote_ip);
  emit_peer(net, c->info.id, 1);
  if (c->state == ST_NET__C_UP)
    pex_ask(c);
  return 0;
}

void st_net__peer_frame(st_net__state_t *net, st_net__conn_t *c,
                        const Stratos__P2p__Envelope *env) {
  uint32_t ch = (uint32_t)env->channel;
  if (ch == ST_CH_HANDSHAKE) {
    st_net__conn_fault(c, ST_EPROTO, "handshake frame after the handshake");
    return;
  }
  if (ch == ST_CH_PEX) {
    on_pex(net, c, env);
    return;
  }
  deliver(net, c, env);
}

void st_net__conn_gone(st_net__state_t *net, st_net__conn_t *c, int err) {
  if (c->prev)
    c->prev->next = c->next;
  else
    net->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  if (c->outbound)
    net->n_out--;
  if (c->announced) {
    net->n_up--;
    if (!c->outbound)
      net->n_in_up--;
    set_peer_gauge(net);
    if (!net->stopping)
      emit_peer(net, c->info.id, 0);
  } else if (!c->outbound) {
    net->n_in_hs--;
  }
  if (c->book) {
    st_net__book_t *b = c->book;
    b->conn = NULL;
    c->book = NULL;
    b->failures++;
    b->next_dial_ms = st_net__now(net) + backoff_ms(b->failures);
  }
  kick_dials(net);
  (void)err;
}

static void free_state(st_net__state_t *net) {
  while (net->book) {
    st_net__book_t *b = net->book;
    net->book = b->next;
    free(b);
  }
  free(net);
}

void st_net__conn_released(st_net__state_t *net) {
  if (--net->live == 0 && net->stopping)
    free_state(net);
}

static void on_net_handle_closed(uv_handle_t *h) { st_net__conn_released(h->data); }

/* ---- the listener ---- */

static void on_connection(uv_stream_t *server, int status) {
  st_net__state_t *net = server->data;
  if (status != 0 || net->stopping)
    return;
  st_net__conn_t *c = st_net__conn_new(net, 0);
  int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
  if (rc != 0) {
    st_net__conn_close(c, st_err_from_errno(rc), "accept failed");
    return;
  }
  /* Handshakes in flight are bounded too, so that strangers cannot hold
   * every slot. */
  unsigned hs_max = net->node->cfg.max_inbound > 16 ? net->node->cfg.max_inbound : 16;
  if (net->n_in_hs > hs_max) {
    st_net__conn_close(c, ST_EFULL, "too many handshakes in flight");
    return;
  }
  st_net__conn_start(c);
}

/* ---- periodic work ---- */

static void on_tick(uv_timer_t *t) {
  st_net__state_t *net = t->data;
  uint64_t now = st_net__now(net);
  if (net->n_up == 0 || net->n_out >= net->node->cfg.max_outbound ||
      now - net->last_pex_ms < ST_NET__PEX_INTERVAL_MS)
    return;
  /* Below the outbound target: ask one peer, chosen at random, for more
   * addresses. */
  uint32_t pick = randombytes_uniform(net->n_up), i = 0;
  for (st_net__conn_t *c = net->conns; c; c = c->next) {
    if (c->state != ST_NET__C_UP)
      continue;
    if (i++ == pick) {
      pex_ask(c);
      break;
    }
  }
  net->last_pex_ms = now;
}

/* ---- the bus ---- */

static void on_send(st_net__state_t *net, const st_msg_t *msg) {
  const st_net_out_t *out = msg->data;
  if (!out || msg->len < sizeof(*out) || out->len > msg->len - sizeof(*out) ||
      out->len > ST_NET_MAX_PAYLOAD || out->channel <= ST_CH_PEX || out->channel > ST_CH_MAX) {
    ST_WARN("net", "module %s sent a bad ST_MSG_NET_SEND; dropped",
            st_bus_mod_name((st_mod_id)msg->from));
    return;
  }
  uint8_t *pt;
  size_t n;
  if (st_net__env_pack(out->channel, out->type, out->data, out->len, &pt, &n) != 0)
    return;
  int bcast = id_eq(out->to, zero_id), except = !id_eq(out->except, zero_id);
  for (st_net__conn_t *c = net->conns, *next; c; c = next) {
    next = c->next;
    if (c->state != ST_NET__C_UP)
      continue;
    if (bcast ? (except && id_eq(c->info.id, out->except)) : !id_eq(c->info.id, out->to))
      continue;
    if (st_net__conn_send(c, pt, n) == ST_EFULL) {
      net->st.send_dropped++;
      st_metric_inc(net->m_dropped);
    }
  }
  free(pt);
}

static void on_subscribe(st_net__state_t *net, const st_msg_t *msg) {
  const st_net_sub_t *s = msg->data;
  if (!s || msg->len < sizeof(*s) || s->channel <= ST_CH_PEX || s->channel > ST_CH_MAX ||
      s->module >= ST_MOD_MAX) {
    ST_WARN("net", "module %s sent a bad subscription; ignored",
            st_bus_mod_name((st_mod_id)msg->from));
    return;
  }
  uint32_t bit = 1u << s->module;
  net->subs[s->channel] |= bit;
  if (net->sub_any & bit)
    return;
  net->sub_any |= bit;
  /* A module that subscribes late still learns of the peers it missed. */
  for (st_net__conn_t *c = net->conns; c; c = c->next)
    if (c->state == ST_NET__C_UP)
      emit_peer_to(net, bit, c->info.id, 1);
}

static void on_ban_msg(st_net__state_t *net, const st_msg_t *msg) {
  const st_net_ban_t *b = msg->data;
  if (!b || msg->len < sizeof(*b))
    return;
  char reason[sizeof(b->reason) + 1];
  memcpy(reason, b->reason, sizeof(b->reason));
  reason[sizeof(b->reason)] = '\0';
  st_net__ban_peer(net, b->peer, NULL, b->seconds, reason);
}

static void net_on_msg(void *state, st_msg_t *msg) {
  st_net__state_t *net = state;
  if (net->stopping || (msg->flags & ST_MSG_F_REPLY))
    return;
  switch (msg->type) {
  case ST_MSG_NET_SEND:
    on_send(net, msg);
    break;
  case ST_MSG_NET_SUBSCRIBE:
    on_subscribe(net, msg);
    break;
  case ST_MSG_NET_BAN:
    on_ban_msg(net, msg);
    break;
  default:
    break;
  }
}

st_net_out_t *st_net_out_new(const uint8_t *to, uint32_t channel, uint32_t type,
                             const void *data, size_t len) {
  if (len > ST_NET_MAX_PAYLOAD)
    return NULL;
  st_net_out_t *o = calloc(1, sizeof(*o) + len);
  if (!o)
    abort();
  if (to)
    memcpy(o->to, to, ST_ADDR_LEN);
  o->channel = channel;
  o->type = type;
  o->len = len;
  if (data && len)
    memcpy(o->data, data, len);
  return o;
}

int st_net_send(st_bus_t *bus, st_mod_id from, st_net_out_t *out) {
  if (!out)
    return ST_EINVAL;
  st_msg_t msg = {.type = ST_MSG_NET_SEND, .from = (uint8_t)from, .to = ST_MOD_NET,
                  .data = out, .len = sizeof(*out) + out->len, .free_fn = free};
  int rc = st_bus_send(bus, &msg);
  if (rc != 0)
    free(out);
  return rc;
}

int st_net_subscribe(st_bus_t *bus, st_mod_id module, uint32_t channel) {
  st_net_sub_t *s = calloc(1, sizeof(*s));
  if (!s)
    abort();
  s->channel = channel;
  s->module = (uint8_t)module;
  st_msg_t msg = {.type = ST_MSG_NET_SUBSCRIBE, .from = (uint8_t)module, .to = ST_MOD_NET,
                  .data = s, .len = sizeof(*s), .free_fn = free};
  int rc = st_bus_send(bus, &msg);
  if (rc != 0)
    free(s);
  return rc;
}

int st_net_ban(st_bus_t *bus, st_mod_id from, const uint8_t peer[ST_ADDR_LEN],
               uint32_t seconds, const char *reason) {
  st_net_ban_t *b = calloc(1, sizeof(*b));
  if (!b)
    abort();
  memcpy(b->peer, peer, ST_ADDR_LEN);
  b->seconds = seconds;
  if (reason)
    snprintf(b->reason, sizeof(b->reason), "%s", reason);
  st_msg_t msg = {.type = ST_MSG_NET_BAN, .from = (uint8_t)from, .to = ST_MOD_NET,
                  .data = b, .len = sizeof(*b), .free_fn = free};
  int rc = st_bus_send(bus, &msg);
  if (rc != 0)
    free(b);
  return rc;
}

/* ---- net_info ---- */

static void m_net_info(st_rpc_call_t *call, json_t *params, void *ud) {
  st_net__state_t *net = ud;
  if (params && !(json_is_object(params) && json_object_size(params) == 0) &&
      !(json_is_array(params) && json_array_size(params) == 0)) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, "invalid params: net_info takes no parameters",
                 NULL);
    return;
  }
  json_t *peers = json_array();
  for (st_net__conn_t *c = net->conns; c; c = c->next) {
    if (c->state != ST_NET__C_UP)
      continue;
    char ids[ST_ADDR_STR_MAX];
    id_str(c->info.id, ids);
    json_array_append_new(
      peers, json_pack("{s:s,s:s,s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:I}", "node_id", ids, "moniker",
                       c->info.moniker, "remote_ip", c->remote_ip, "is_outbound", c->outbound,
                       "listen_addr", c->info.listen_addr, "send_queue_bytes",
                       (json_int_t)c->tcp.write_queue_size, "send_dropped",
                       (json_int_t)c->dropped, "bytes_sent", (json_int_t)c->bytes_sent,
                       "bytes_recv", (json_int_t)c->bytes_recv, "connected_seconds",
                       (json_int_t)((st_net__now(net) - c->up_ms) / 1000u)));
  }
  json_t *listeners = json_array();
  if (net->listening)
    json_array_append_new(listeners, json_string(net->listen_addr));
  st_rpc_result(call, json_pack("{s:b,s:o,s:I,s:o}", "listening", net->listening, "listeners",
                                listeners, "n_peers", (json_int_t)net->n_up, "peers", peers));
}

/* ---- module hooks ---- */

static int parse_list(st_net__state_t *net, const char *list, unsigned flags, const char *key) {
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    if (!*p)
      break;
    const char *e = p;
    while (*e && *e != ',')
      e++;
    size_t n = (size_t)(e - p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
      n--;
    st_net__paddr_t a;
    if (st_net__parse_peer(p, n, &a) != 0) {
      ST_ERROR("net", "p2p.%s: bad entry \"%.*s\" (expected stsds1...@host:port)", key,
               (int)(n > 120 ? 120 : n), p);
      return ST_ECONFIG;
    }
    if (id_eq(a.id, net->self_id))
      ST_WARN("net", "p2p.%s: skipping our own node id", key);
    else if (net->n_book >= ST_NET__BOOK_MAX)
      ST_WARN("net", "p2p.%s: too many entries; ignoring the rest", key);
    else
      book_add(net, &a, flags);
    p = e;
  }
  return 0;
}

static int net_init(st_node_t *node, void **state) {
  st_net__state_t *net = calloc(1, sizeof(*net));
  if (!net)
    abort();
  net->node = node;
  net->loop = node->loop;
  snprintf(net->chain_id, sizeof(net->chain_id), "%s",
           node->chain_id[0] ? node->chain_id : "stratos-none");
  st_addr_from_pubkey(node->node_key.pk, net->self_id);
  net->sendq_cap = ST_NET__SENDQ_MAX;
  net->hs_timeout_ms = ST_NET__HS_TIMEOUT_MS;
  snprintf(net->listen_host, sizeof(net->listen_host), "%s", node->cfg.p2p_laddr.host);
  int rc = parse_list(net, node->cfg.persistent_peers, ST_NET__BOOK_PERSISTENT,
                      "persistent_peers");
  if (rc == 0)
    rc = parse_list(net, node->cfg.seeds, ST_NET__BOOK_SEED, "seeds");
  if (rc != 0) {
    free_state(net);
    return rc;
  }
  uv_timer_init(net->loop, &net->tick);
  uv_timer_init(net->loop, &net->dial_timer);
  net->tick.data = net;
  net->dial_timer.data = net;
  net->live = 2;
  if (node->metrics) {
    st_metrics_t *m = node->metrics;
    net->m_peers =
      st_metrics_gauge(m, "stratos_p2p_peers", "Authenticated peers connected now.", "");
    net->m_sent = st_metrics_counter(m, "stratos_p2p_bytes_sent_total",
                                     "Bytes written to peers, frames and handshakes.", "");
    net->m_recv = st_metrics_counter(m, "stratos_p2p_bytes_received_total",
                                     "Bytes read from peers, frames and handshakes.", "");
    net->m_refused = st_metrics_counter(
      m, "stratos_p2p_frames_refused_total",
      "Frames and handshakes refused as malformed, oversized or unauthenticated.", "");
    net->m_dropped = st_metrics_counter(
      m, "stratos_p2p_send_dropped_total",
      "Frames not sent because the peer's send queue was over its cap.", "");
    net->m_deliver_dropped = st_metrics_counter(
      m, "stratos_p2p_deliver_dropped_total",
      "Frames and peer events not delivered because a module's inbox was full.", "");
    net->m_bans = st_metrics_counter(m, "stratos_p2p_bans_total", "Peers banned.", "");
  }
  /* The method stays registered for the life of the rpc module, which the
   * daemon stops after this one, within the same turn of the loop. */
  if (node->rpc)
    st_rpc_register(node->rpc, "net_info", m_net_info, net);
  *state = net;
  return 0;
}

static int net_start(void *state) {
  st_net__state_t *net = state;
  const st_laddr_t *l = &net->node->cfg.p2p_laddr;
  struct sockaddr_storage ss;
  int rc;
  if (uv_ip4_addr(l->host, l->port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(l->host, l->port, (struct sockaddr_in6 *)&ss) != 0) {
    ST_ERROR("net", "cannot listen on %s:%u: not an IP address", l->host, (unsigned)l->port);
    return ST_EINVAL;
  }
  uv_tcp_init(net->loop, &net->listener);
  net->listener.data = net;
  net->listener_open = 1;
  net->live++;
  rc = uv_tcp_bind(&net->listener, (const struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&net->listener, 128, on_connection);
  if (rc != 0) {
    rc = st_err_from_errno(rc);
    ST_ERROR("net", "cannot listen on %s:%u: %s", l->host, (unsigned)l->port, st_strerror(rc));
    return rc;
  }
  int len = sizeof(ss);
  if (uv_tcp_getsockname(&net->listener, (struct sockaddr *)&ss, &len) == 0)
    net->listen_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                       : ((struct sockaddr_in *)&ss)->sin_port);
  snprintf(net->listen_addr, sizeof(net->listen_addr), strchr(l->host, ':') ? "[%s]:%u" : "%s:%u",
           l->host, (unsigned)net->listen_port);
  net->listening = 1;
  net->started = 1;
  char ids[ST_ADDR_STR_MAX];
  id_str(net->self_id, ids);
  ST_INFO("net", "listening on %s as %s, chain %s", net->listen_addr, ids, net->chain_id);
  uv_timer_start(&net->tick, on_tick, ST_NET__TICK_MS, ST_NET__TICK_MS);
  kick_dials(net);
  return 0;
}

static void net_stop(void *state) {
  st_net__state_t *net = state;
  if (!net || net->stopping)
    return;
  net->stopping = 1;
  net->listening = 0;
  while (net->conns)
    st_net__conn_close(net->conns, ST_ECLOSED, "shutting down");
  if (net->listener_open)
    uv_close((uv_handle_t *)&net->listener, on_net_handle_closed);
  uv_close((uv_handle_t *)&net->tick, on_net_handle_closed);
  uv_close((uv_handle_t *)&net->dial_timer, on_net_handle_closed);
}

/* ---- for tests ---- */

uint16_t st_net__port(const st_net__state_t *net) { return net->listen_port; }

void st_net__get_stats(const st_net__state_t *net, st_net__stats_t *out) { *out = net->st; }

unsigned st_net__peer_count(const st_net__state_t *net) { return net->n_up; }

int st_net__has_peer(const st_net__state_t *net, const uint8_t id[ST_ADDR_LEN]) {
  for (const st_net__conn_t *c = net->conns; c; c = c->next)
    if (c->state == ST_NET__C_UP && id_eq(c->info.id, id))
      return 1;
  return 0;
}

void st_net__set_sendq_cap(st_net__state_t *net, size_t cap) { net->sendq_cap = cap; }

void st_net__set_hs_timeout(st_net__state_t *net, unsigned ms) { net->hs_timeout_ms = ms; }

const st_module_t st_net_module = {
  .name = "net",
  .id = ST_MOD_NET,
  .init = net_init,
  .start = net_start,
  .on_msg = net_on_msg,
  .stop = net_stop,
};
