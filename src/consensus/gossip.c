/* Gossip on the consensus channel: what the engine sends, and what it
 * does with frames from peers.
 *
 * The engine broadcasts its own proposals and votes, relays what it
 * accepts to every peer but the sender, and tells everyone where it is
 * (RoundStep) on every step change and every second. A peer's RoundStep
 * is also a request: when the peer works on our height and has moved
 * since we last served it, it gets our proposal and the votes of its
 * round (and of ours, when we are ahead), so that a node that restarted
 * or was cut off catches up without any retransmission protocol. A peer
 * at a greater height is a source for block sync.
 *
 * A frame that does not decode or check (bad signature, wrong chain id,
 * signer not a validator, forged block) gets its sender banned. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stratos/st_err.h>
#include <stratos/st_log.h>

#include "consensus/consensus_private.h"

static const uint8_t zero_addr[ST_ADDR_LEN];

void st_cons__send(st_cons_t *c, const uint8_t *to, const uint8_t *except, uint32_t channel,
                   uint32_t type, const void *data, size_t len) {
  if (c->closing || len > ST_NET_MAX_PAYLOAD)
    return;
  st_net_out_t *out = st_net_out_new(to ? to : zero_addr, channel, type, data, len);
  if (!out)
    return;
  if (except)
    memcpy(out->except, except, ST_ADDR_LEN);
  int rc = st_net_send(c->node->bus, c->owner, out);
  if (rc != 0)
    ST_DEBUG(c->tag, "send of type %u on channel %u failed: %s", type, channel,
             st_strerror(rc));
}

void st_cons__ban(st_cons_t *c, const uint8_t peer[ST_ADDR_LEN], const char *fmt, ...) {
  char reason[96], addr[ST_ADDR_STR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof(reason), fmt, ap);
  va_end(ap);
  st_addr_encode(ST_HRP_NODE, peer, addr, sizeof(addr));
  ST_WARN(c->tag, "banning peer %s: %s", addr, reason);
  st_net_ban(c->node->bus, c->owner, peer, ST_CONS__BAN_SECONDS, reason);
  st_cons__peer_t *p = st_cons__peer_get(c, peer, false);
  if (p)
    memset(p, 0, sizeof(*p));
}

st_cons__peer_t *st_cons__peer_get(st_cons_t *c, const uint8_t addr[ST_ADDR_LEN], bool create) {
  st_cons__peer_t *free_slot = NULL;
  for (size_t i = 0; i < ST_CONS__MAX_PEERS; i++) {
    st_cons__peer_t *p = &c->peers[i];
    if (p->used && memcmp(p->addr, addr, ST_ADDR_LEN) == 0)
      return p;
    if (!p->used && !free_slot)
      free_slot = p;
  }
  if (!create || !free_slot)
    return NULL;
  memset(free_slot, 0, sizeof(*free_slot));
  free_slot->used = true;
  memcpy(free_slot->addr, addr, ST_ADDR_LEN);
  free_slot->served_h = -1;
  return free_slot;
}

/* Sends where we are to one peer (to: NULL broadcasts). */
static void send_roundstep(st_cons_t *c, const uint8_t *to) {
  if (!c->started || c->closing || c->halted)
    return;
  Stratos__Cons__RoundStep m = STRATOS__CONS__ROUND_STEP__INIT;
  m.height = c->h;
  m.round = c->r;
  m.step = (uint32_t)c->step;
  m.lowest = c->latest > 0 ? 1 : 0;
  uint8_t buf[64];
  size_t n = stratos__cons__round_step__pack(&m, buf);
  st_cons__send(c, to, NULL, c->ch_cons, ST_CONS__MSG_ROUND_STEP, buf, n);
}

void st_cons__broadcast_roundstep(st_cons_t *c) {
  send_roundstep(c, NULL);
  c->last_roundstep_ms = uv_now(c->node->loop);
}

static void send_votes(st_cons_t *c, const uint8_t *to, const st_cons__voteset_t *s) {
  for (size_t i = 0; i < s->vs->vs.n; i++)
    if (s->votes[i])
      st_cons__send(c, to, NULL, c->ch_cons, ST_CONS__MSG_VOTE, s->votes[i]->msg,
                    s->votes[i]->msg_len);
  for (size_t i = 0; i < s->nextra; i++)
    st_cons__send(c, to, NULL, c->ch_cons, ST_CONS__MSG_VOTE, s->extra[i]->msg,
                  s->extra[i]->msg_len);
}

/* Sends a peer that works on our height what it may lack. */
static void serve(st_cons_t *c, st_cons__peer_t *pe) {
  pe->served_h = pe->height;
  pe->served_r = pe->round;
  pe->served_step = pe->step;
  int32_t rounds[2] = {pe->round, c->r};
  size_t nr = c->r > pe->round ? 2 : 1;
  for (size_t k = 0; k < nr; k++) {
    int32_t rr = rounds[k];
    st_cons__round_t *rs = st_cons__round_get(c, rr, false);
    if (!rs)
      continue;
    bool behind = pe->step <= ST_CONS__STEP_PREVOTE || rr > pe->round;
    if (rs->proposal && behind) {
      st_cons__send(c, pe->addr, NULL, c->ch_cons, ST_CONS__MSG_PROPOSAL, rs->proposal->msg,
                    rs->proposal->msg_len);
      /* A re-proposal is prevoted only by a node that has seen the polka
       * of its pol_round (line 28), which that node may have missed: it
       * gets those prevotes too. */
      st_cons__round_t *pol =
        rs->proposal->pol_round >= 0 ? st_cons__round_get(c, rs->proposal->pol_round, false)
                                     : NULL;
      if (pol)
        send_votes(c, pe->addr, &pol->prevotes);
    }
    if (behind)
      send_votes(c, pe->addr, &rs->prevotes);
    send_votes(c, pe->addr, &rs->precommits);
  }
}

static void on_roundstep(st_cons_t *c, const uint8_t *peer, const uint8_t *data, size_t len) {
  if (len > 64) {
    st_cons__ban(c, peer, "consensus: oversized RoundStep");
    return;
  }
  Stratos__Cons__RoundStep *m = stratos__cons__round_step__unpack(NULL, len, data);
  if (!m) {
    st_cons__ban(c, peer, "consensus: undecodable RoundStep");
    return;
  }
  bool ok = m->height >= 0 && m->height < INT64_MAX / 2 && m->round >= 0 &&
            m->round <= ST_CONS__ROUND_MAX && m->step <= ST_CONS__STEP_HALTED &&
            m->lowest >= 0 && m->lowest <= m->height;
  int64_t h = m->height, lowest = m->lowest;
  int32_t r = m->round;
  int step = (int)m->step;
  stratos__cons__round_step__free_unpacked(m, NULL);
  if (!ok) {
    st_cons__ban(c, peer, "consensus: RoundStep out of range");
    return;
  }
  st_cons__peer_t *pe = st_cons__peer_get(c, peer, true);
  if (!pe)
    return;
  /* A peer heard for the first time learns where we are at once, rather
   * than at our next periodic RoundStep. */
  if (!pe->known)
    send_roundstep(c, peer);
  pe->known = true;
  pe->height = h;
  pe->round = r;
  pe->step = step;
  pe->lowest = lowest;
  pe->seen_ms = uv_now(c->node->loop);
  if (h == c->h && (pe->served_h != h || pe->served_r != r || pe->served_step != step))
    serve(c, pe);
  if (h > c->h)
    st_cons__sync_tick(c);
}

void st_cons__on_cons_frame(st_cons_t *c, const st_net_frame_t *f) {
  const char *why = "invalid message";
  int rc = 0;
  switch (f->type) {
  case ST_CONS__MSG_PROPOSAL:
    rc = st_cons__handle_proposal(c, f->peer, f->data, f->len, &why);
    break;
  case ST_CONS__MSG_VOTE:
    rc = st_cons__handle_vote(c, f->peer, f->data, f->len, &why);
    break;
  case ST_CONS__MSG_ROUND_STEP:
    on_roundstep(c, f->peer, f->data, f->len);
    break;
  case ST_CONS__MSG_EVIDENCE:
    st_cons__evidence_on_msg(c, f->peer, f->data, f->len);
    break;
  default:
    rc = ST_EPROTO;
    why = "unknown message type";
    break;
  }
  if (rc != 0)
    st_cons__ban(c, f->peer, "consensus: %s", why);
}

void st_cons_on_frame(st_cons_t *c, const st_net_frame_t *f) {
  if (!c || !f || !c->started || c->closing || c->halted)
    return;
  if (memcmp(f->peer, c->self, ST_ADDR_LEN) == 0)
    return;
  if (f->channel == c->ch_cons)
    st_cons__on_cons_frame(c, f);
  else if (f->channel == c->ch_sync)
    st_cons__on_sync_frame(c, f);
}

void st_cons_on_peer(st_cons_t *c, const uint8_t peer[ST_ADDR_LEN], int up) {
  if (!c || !peer || c->closing)
    return;
  if (up) {
    st_cons__peer_t *p = st_cons__peer_get(c, peer, true);
    if (p) {
      /* A (re)connected peer is served afresh and told where we are. */
      p->served_h = -1;
      send_roundstep(c, peer);
    }
    return;
  }
  st_cons__peer_t *p = st_cons__peer_get(c, peer, false);
  if (p)
    memset(p, 0, sizeof(*p));
  for (size_t i = 0; i < ST_CONS__SYNC_WINDOW; i++) {
    st_cons__syncreq_t *q = &c->sync[i];
    if (q->height && !q->blk && memcmp(q->peer, peer, ST_ADDR_LEN) == 0)
      q->sent = false;
  }
}
