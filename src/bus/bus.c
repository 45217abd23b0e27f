/* The bus: one bounded ring per module, filled from any thread and emptied
 * on the loop thread.
 *
 * A single mutex guards every inbox. Senders hold it only to copy a small
 * struct into a ring, so contention stays low, and one lock makes the count
 * of queued messages over the whole bus exact: the sender that moves it
 * from zero to one is the only one that calls uv_async_send. The loop side
 * takes messages out one at a time under the lock and calls the module with
 * the lock released, so a module may send (even to itself) from on_msg.
 *
 * One wake-up delivers at most ST_BUS__BATCH messages, taking them round
 * robin from the inboxes (each inbox stays FIFO), and re-arms the async
 * handle when more remain, so a flood on the bus cannot starve sockets and
 * timers. Pending requests live in a small hash table keyed by correlation
 * id that only the loop thread touches. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stratos/st_bus.h>
#include <stratos/st_err.h>

#include "bus/bus_private.h"

typedef struct bus_inbox {
  st_msg_t *ring;     /* cap slots, allocated on first attach */
  size_t head;        /* next slot to take; head and tail only grow */
  size_t tail;        /* next slot to fill */
  bool attached;
  st_module_t mod;    /* a copy of the hooks */
  void *state;
  uint64_t sent;
  uint64_t delivered;
  uint64_t dropped;
  size_t max_depth;
} bus_inbox_t;

typedef struct bus_pending {
  uint64_t corr; /* 0 marks a free slot */
  st_bus_reply_cb cb;
  void *ud;
} bus_pending_t;

struct st_bus {
  uv_loop_t *loop;
  uv_async_t async;
  uv_mutex_t lock;
  size_t cap;  /* slots per inbox, a power of two */
  size_t mask; /* cap - 1 */

  /* Guarded by lock. */
  size_t queued; /* messages in all inboxes */
  uint64_t wakeups;
  bool closing;
  unsigned next_inbox; /* where the next round-robin take starts */
  bus_inbox_t in[ST_MOD_MAX];

  /* Loop thread only. */
  uint64_t next_corr;
  bus_pending_t *pend; /* open addressing, linear probing */
  size_t pend_cap;     /* a power of two */
  size_t pend_n;
};

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);

  if (!p) {
    fputs("stratosd: out of memory in the bus\n", stderr);
    abort();
  }
  return p;
}

static void free_payload(st_msg_t *m) {
  if (m->data && m->free_fn)
    m->free_fn(m->data);
  m->data = NULL;
}

/* ---- pending requests ---- */

static size_t pend_home(const st_bus_t *bus, uint64_t corr) {
  return (size_t)((corr * UINT64_C(0x9E3779B97F4A7C15)) >> 32) &
         (bus->pend_cap - 1);
}

static void pend_insert(st_bus_t *bus, const bus_pending_t *p);

static void pend_grow(st_bus_t *bus) {
  bus_pending_t *old = bus->pend;
  size_t oldcap = bus->pend_cap;

  bus->pend_cap = oldcap ? oldcap * 2 : 16;
  bus->pend = xcalloc(bus->pend_cap, sizeof(*bus->pend));
  bus->pend_n = 0;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i].corr)
      pend_insert(bus, &old[i]);
  free(old);
}

static void pend_insert(st_bus_t *bus, const bus_pending_t *p) {
  size_t i;

  /* The table is kept at most half full, so probes stay short. */
  if ((bus->pend_n + 1) * 2 > bus->pend_cap)
    pend_grow(bus);
  i = pend_home(bus, p->corr);
  while (bus->pend[i].corr)
    i = (i + 1) & (bus->pend_cap - 1);
  bus->pend[i] = *p;
  bus->pend_n++;
}

/* Removes corr from the table, copying its entry to out if out is not
 * NULL. Returns false if corr is not pending. */
static bool pend_take(st_bus_t *bus, uint64_t corr, bus_pending_t *out) {
  size_t mask = bus->pend_cap - 1, i, j, k;

  if (!bus->pend_n || !corr)
    return false;
  i = pend_home(bus, corr);
  while (bus->pend[i].corr != corr) {
    if (!bus->pend[i].corr)
      return false;
    i = (i + 1) & mask;
  }
  if (out)
    *out = bus->pend[i];
  /* Backward-shift deletion: move later entries of the probe run into the
   * hole when their home slot does not lie between the hole and them. */
  j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (!bus->pend[j].corr)
      break;
    k = pend_home(bus, bus->pend[j].corr);
    if (((j - k) & mask) >= ((j - i) & mask)) {
      bus->pend[i] = bus->pend[j];
      i = j;
    }
  }
  bus->pend[i].corr = 0;
  bus->pend_n--;
  return true;
}

/* ---- queues ---- */

/* Must be called with the lock held. */
static int enqueue_locked(st_bus_t *bus, const st_msg_t *msg) {
  bus_inbox_t *ib;
  size_t depth;

  if (bus->closing)
    return ST_ECLOSED;
  if (msg->to >= ST_MOD_MAX || !bus->in[msg->to].attached)
    return ST_ENOENT;
  ib = &bus->in[msg->to];
  if (ib->tail - ib->head == bus->cap) {
    ib->dropped++;
    return ST_EFULL;
  }
  ib->ring[ib->tail & bus->mask] = *msg;
  ib->tail++;
  ib->sent++;
  depth = ib->tail - ib->head;
  if (depth > ib->max_depth)
    ib->max_depth = depth;
  if (bus->queued++ == 0) {
    /* Sent under the lock, so st_bus_close cannot close the handle in
     * between. uv_async_send only fails on a closing handle. */
    bus->wakeups++;
    (void)uv_async_send(&bus->async);
  }
  return 0;
}

/* Takes the next message round robin over the inboxes, with the hooks of
 * its receiver. Returns false when nothing is queued or the bus closes. */
static bool take(st_bus_t *bus, st_msg_t *msg, st_module_t *mod,
                 void **state) {
  bool found = false;

  uv_mutex_lock(&bus->lock);
  if (!bus->closing && bus->queued > 0) {
    for (unsigned n = 0; n < ST_MOD_MAX; n++) {
      unsigned id = (bus->next_inbox + n) % ST_MOD_MAX;
      bus_inbox_t *ib = &bus->in[id];

      if (ib->head == ib->tail)
        continue;
      *msg = ib->ring[ib->head & bus->mask];
      ib->head++;
      ib->delivered++;
      bus->queued--;
      *mod = ib->mod;
      *state = ib->state;
      bus->next_inbox = (id + 1) % ST_MOD_MAX;
      found = true;
      break;
    }
  }
  uv_mutex_unlock(&bus->lock);
  return found;
}

/* Hands one message to its reply callback or to its module, then frees the
 * payload unless the receiver took it. A reply whose request was cancelled
 * (or never made) is freed without being seen. A reply with corr 0 answers
 * a plain send and goes to on_msg like any message. The delivered counter
 * counts all three kinds: it was bumped when the message left the inbox. */
static void deliver(st_bus_t *bus, st_msg_t *msg, const st_module_t *mod,
                    void *state) {
  bus_pending_t p;

  if ((msg->flags & ST_MSG_F_REPLY) && msg->corr != 0) {
    if (pend_take(bus, msg->corr, &p))
      p.cb(msg, p.ud);
  } else if (mod->on_msg) {
    mod->on_msg(state, msg);
  }
  free_payload(msg);
}

/* Delivers up to budget messages, then re-arms the async handle if any
 * remain, since no sender will see an empty->non-empty transition to do
 * it. */
static size_t drain(st_bus_t *bus, size_t budget) {
  st_module_t mod;
  st_msg_t msg;
  void *state;
  size_t n = 0;

  while (n < budget && take(bus, &msg, &mod, &state)) {
    deliver(bus, &msg, &mod, state);
    n++;
  }
  uv_mutex_lock(&bus->lock);
  if (!bus->closing && bus->queued > 0)
    (void)uv_async_send(&bus->async);
  uv_mutex_unlock(&bus->lock);
  return n;
}

static void on_async(uv_async_t *h) {
  drain(h->data, ST_BUS__BATCH);
}

/* ---- public API ---- */

int st_bus_init(uv_loop_t *loop, size_t queue_cap, st_bus_t **out) {
  st_bus_t *bus;
  size_t cap = 1;
  int rc;

  if (!loop || !out || queue_cap == 0 || queue_cap > ST_BUS__MAX_CAP)
    return ST_EINVAL;
  *out = NULL;
  while (cap < queue_cap)
    cap <<= 1;

  bus = xcalloc(1, sizeof(*bus));
  bus->loop = loop;
  bus->cap = cap;
  bus->mask = cap - 1;
  bus->next_corr = 1;
  rc = uv_mutex_init(&bus->lock);
  if (rc != 0)
    goto fail;
  rc = uv_async_init(loop, &bus->async, on_async);
  if (rc != 0)
    goto fail_mutex;
  bus->async.data = bus;
  *out = bus;
  return 0;

fail_mutex:
  uv_mutex_destroy(&bus->lock);
fail:
  free(bus);
  return st_err_from_errno(rc);
}

static void on_close(uv_handle_t *h) {
  st_bus_t *bus = h->data;

  for (unsigned i = 0; i < ST_MOD_MAX; i++)
    free(bus->in[i].ring);
  free(bus->pend);
  uv_mutex_destroy(&bus->lock);
  free(bus);
}

/* Frees every message queued for inbox id. Messages are taken one at a
 * time so that free_fn runs without the lock. */
static void discard_inbox(st_bus_t *bus, unsigned id) {
  bus_inbox_t *ib = &bus->in[id];
  st_msg_t msg;

  for (;;) {
    uv_mutex_lock(&bus->lock);
    if (ib->head == ib->tail) {
      uv_mutex_unlock(&bus->lock);
      return;
    }
    msg = ib->ring[ib->head & bus->mask];
    ib->head++;
    bus->queued--;
    uv_mutex_unlock(&bus->lock);
    free_payload(&msg);
  }
}

void st_bus_close(st_bus_t *bus) {
  if (!bus)
    return;
  uv_mutex_lock(&bus->lock);
  if (bus->closing) {
    uv_mutex_unlock(&bus->lock);
    return;
  }
  bus->closing = true;
  uv_mutex_unlock(&bus->lock);

  /* From here every send fails with ST_ECLOSED, so the inboxes only
   * shrink. Pending requests are forgotten when the memory goes. */
  for (unsigned i = 0; i < ST_MOD_MAX; i++)
    discard_inbox(bus, i);
  uv_close((uv_handle_t *)&bus->async, on_close);
}

int st_bus_attach(st_bus_t *bus, const st_module_t *mod, void *state) {
  bus_inbox_t *ib;
  int rc = 0;

  if (!bus || !mod || (unsigned)mod->id >= ST_MOD_MAX)
    return ST_EINVAL;
  ib = &bus->in[mod->id];
  uv_mutex_lock(&bus->lock);
  if (bus->closing) {
    rc = ST_ECLOSED;
  } else if (ib->attached && (ib->mod.on_msg != mod->on_msg ||
                              ib->mod.name != mod->name)) {
    /* Attaching the same module again only updates its state (so that it
     * can be attached before init gives it one); another module with the
     * same id is refused. */
    rc = ST_EEXIST;
  } else {
    if (!ib->ring)
      ib->ring = xcalloc(bus->cap, sizeof(*ib->ring));
    ib->mod = *mod;
    ib->state = state;
    ib->attached = true;
  }
  uv_mutex_unlock(&bus->lock);
  return rc;
}

void st_bus_detach(st_bus_t *bus, st_mod_id id) {
  if (!bus || (unsigned)id >= ST_MOD_MAX)
    return;
  uv_mutex_lock(&bus->lock);
  bus->in[id].attached = false;
  uv_mutex_unlock(&bus->lock);
  /* Nothing can be added now; what is queued will never be delivered. */
  discard_inbox(bus, id);
}

int st_bus_send(st_bus_t *bus, const st_msg_t *msg) {
  int rc;

  if (!bus || !msg)
    return ST_EINVAL;
  uv_mutex_lock(&bus->lock);
  rc = enqueue_locked(bus, msg);
  uv_mutex_unlock(&bus->lock);
  return rc;
}

int st_bus_request(st_bus_t *bus, const st_msg_t *msg, st_bus_reply_cb cb,
                   void *ud, uint64_t *corr) {
  bus_pending_t p;
  st_msg_t m;
  int rc;

  if (!bus || !msg || !cb)
    return ST_EINVAL;
  m = *msg;
  m.flags &= ~(uint32_t)ST_MSG_F_REPLY;
  /* Ids are never reused in the life of a bus; 0 means "no request". */
  m.corr = bus->next_corr++;
  if (m.corr == 0)
    m.corr = bus->next_corr++;
  p.corr = m.corr;
  p.cb = cb;
  p.ud = ud;
  pend_insert(bus, &p);
  rc = st_bus_send(bus, &m);
  if (rc != 0) {
    pend_take(bus, m.corr, NULL);
    return rc;
  }
  if (corr)
    *corr = m.corr;
  return 0;
}

int st_bus_reply(st_bus_t *bus, const st_msg_t *req, st_msg_t *reply) {
  if (!bus || !req || !reply)
    return ST_EINVAL;
  reply->to = req->from;
  reply->from = req->to;
  reply->corr = req->corr;
  reply->flags |= ST_MSG_F_REPLY;
  return st_bus_send(bus, reply);
}

void st_bus_cancel(st_bus_t *bus, uint64_t corr) {
  if (bus)
    pend_take(bus, corr, NULL);
}

size_t st_bus_drain(st_bus_t *bus) {
  if (!bus)
    return 0;
  /* Until the bus is empty, but no more than every inbox filled once, so
   * that modules that keep answering each other cannot hold the loop. */
  return drain(bus, bus->cap * ST_MOD_MAX);
}

int st_bus_stats(st_bus_t *bus, st_mod_id id, st_bus_stats_t *out) {
  bus_inbox_t *ib;

  if (!bus || !out || (unsigned)id >= ST_MOD_MAX)
    return ST_EINVAL;
  ib = &bus->in[id];
  uv_mutex_lock(&bus->lock);
  out->sent = ib->sent;
  out->delivered = ib->delivered;
  out->dropped = ib->dropped;
  out->depth = ib->tail - ib->head;
  out->max_depth = ib->max_depth;
  out->capacity = bus->cap;
  uv_mutex_unlock(&bus->lock);
  return 0;
}

uint64_t st_bus_wakeups(st_bus_t *bus) {
  uint64_t n;

  if (!bus)
    return 0;
  uv_mutex_lock(&bus->lock);
  n = bus->wakeups;
  uv_mutex_unlock(&bus->lock);
  return n;
}

const char *st_bus_mod_name(st_mod_id id) {
  static const char *const names[ST_MOD_MAX] = {
    [ST_MOD_DAEMON] = "daemon",     [ST_MOD_RPC] = "rpc",
    [ST_MOD_GATEWAY] = "gateway",   [ST_MOD_NET] = "net",
    [ST_MOD_CHAIN] = "chain",       [ST_MOD_META] = "meta",
    [ST_MOD_RESOURCE] = "resource", [ST_MOD_KV] = "kv",
    [ST_MOD_TASK] = "task",         [ST_MOD_TEST] = "test",
  };

  if ((unsigned)id >= ST_MOD_MAX)
    return "unknown";
  return names[id];
}
