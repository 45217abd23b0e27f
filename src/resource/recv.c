/* Slices a gateway sends this holder (the upload half of the protocol in
 * include/stratos/st_resource.h).
 *
 * SliceOffer opens a transfer keyed by (peer, xfer) with a slice writer;
 * each ST_RES_DATA block must be the transfer's next one and is checked
 * and written at once on the loop thread (one hash and one write into
 * the page cache); every ST_RES_ACK_EVERY blocks the holder says how many
 * it has. After the last block the writer's flush (fsync, rename,
 * directory fsync) runs on the thread pool, the index record is written
 * back on the loop thread, and the final SliceAck carries the Stored
 * receipt.
 *
 * Decisions:
 * - A slice already stored and healthy is answered at once, in reply to
 *   the offer: SliceAck{stored, received = all its blocks, signature}.
 *   The offer has added a reference; the gateway sends no block.
 * - An offer repeating the id of a transfer still receiving restarts it
 *   (the gateway lost our answer and asked again); one repeating a
 *   transfer that is committing is ignored, its final answer follows.
 * - Any refused block ends the transfer with a SliceAck carrying the
 *   code; blocks of it still on their way are then dropped without an
 *   answer (the last ST_RES__CLOSED_RING ended transfers are
 *   remembered), while blocks of a transfer never seen get ST_ENOENT.
 * - A transfer whose peer leaves ends without an answer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_log.h>
#include "storage.pb-c.h"
#include "resource/engine.h"

#define LOG_MOD "resource"
/* The largest SliceOffer: a 1 GiB slice's block hashes and a little. */
#define OFFER_MAX ((size_t)ST_HASH_LEN * (ST_FILE_SLICE_MAX / ST_FILE_BLOCK) + 256)
#define ACK_LOG_MAX 160

#define XFER_OF(j) ((st_res__xfer_t *)((char *)(j) - offsetof(st_res__xfer_t, job)))

/* ---- answers ---- */

static void send_ack(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN], uint64_t xfer, int code,
                     uint32_t received, const uint8_t *sig, const char *log) {
  Stratos__Storage__SliceAck a;
  uint8_t buf[ACK_LOG_MAX + ST_SIG_LEN + 64];
  char msg[ACK_LOG_MAX];
  size_t n;

  stratos__storage__slice_ack__init(&a);
  a.xfer = xfer;
  a.code = code;
  a.received = received;
  if (sig) {
    a.stored = true;
    a.signature.data = (uint8_t *)(uintptr_t)sig;
    a.signature.len = ST_SIG_LEN;
  }
  if (log && *log) {
    snprintf(msg, sizeof(msg), "%s", log);
    a.log = msg;
  }
  n = stratos__storage__slice_ack__get_packed_size(&a);
  if (n > sizeof(buf))
    return;
  stratos__storage__slice_ack__pack(&a, buf);
  st_res__send(e, peer, ST_CH_GATEWAY, ST_RES_ACK, buf, n, NULL, 0);
}

/* The final answer for a stored slice: its receipt. */
static int send_stored(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN], uint64_t xfer,
                       const uint8_t root[ST_HASH_LEN], uint64_t size, uint32_t nblocks) {
  uint8_t sig[ST_SIG_LEN];
  int rc = st_res_stored_sign(e->cfg.key, e->chain_id, root, size, sig);

  if (rc != 0)
    return rc;
  send_ack(e, peer, xfer, 0, nblocks, sig, NULL);
  return 0;
}

/* ---- the transfer table ---- */

static void remember_closed(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN], uint64_t id) {
  st_res__closed_t *c = &e->closed[e->closed_at];

  memcpy(c->peer, peer, ST_ADDR_LEN);
  c->id = id;
  e->closed_at = (e->closed_at + 1) % ST_RES__CLOSED_RING;
  if (e->nclosed < ST_RES__CLOSED_RING)
    e->nclosed++;
}

static bool recently_closed(const st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN],
                            uint64_t id) {
  for (size_t i = 0; i < e->nclosed; i++)
    if (e->closed[i].id == id && memcmp(e->closed[i].peer, peer, ST_ADDR_LEN) == 0)
      return true;
  return false;
}

static st_res__xfer_t *xfer_find(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN],
                                 uint64_t id) {
  for (st_res__xfer_t *x = e->xfers; x; x = x->next)
    if (x->id == id && memcmp(x->peer, peer, ST_ADDR_LEN) == 0)
      return x;
  return NULL;
}

static void xfer_count(const st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN], size_t *all,
                       size_t *mine) {
  *all = *mine = 0;
  for (const st_res__xfer_t *x = e->xfers; x; x = x->next) {
    (*all)++;
    if (memcmp(x->peer, peer, ST_ADDR_LEN) == 0)
      (*mine)++;
  }
}

/* Unlinks and frees x; its writer must be gone. */
static void xfer_remove(st_res__eng_t *e, st_res__xfer_t *x) {
  for (st_res__xfer_t **pp = &e->xfers; *pp; pp = &(*pp)->next) {
    if (*pp == x) {
      *pp = x->next;
      break;
    }
  }
  free(x);
}

/* Ends a receiving transfer: the writer goes, and the gateway hears why
 * unless answer is false. */
static void xfer_fail(st_res__eng_t *e, st_res__xfer_t *x, int code, bool answer,
                      const char *why) {
  char hex[2 * ST_HASH_LEN + 1];

  st_res__hex(x->root, ST_HASH_LEN, hex, sizeof(hex));
  if (answer)
    ST_INFO(LOG_MOD, "transfer of slice %s ended after %u of %u blocks: %s", hex, x->got,
            x->nblocks, why);
  else
    ST_DEBUG(LOG_MOD, "transfer of slice %s ended after %u of %u blocks: %s", hex, x->got,
             x->nblocks, why);
  st_slice_write_abort(x->w);
  x->w = NULL;
  if (answer)
    send_ack(e, x->peer, x->id, code, x->got, NULL, why);
  remember_closed(e, x->peer, x->id);
  e->st.xfer_failed++;
  xfer_remove(e, x);
}

/* ---- the offer ---- */

/* Checks what the offer asks for; fills *n with its block count. */
static int offer_check(const Stratos__Storage__SliceOffer *o, uint32_t *n, char *log,
                       size_t cap) {
  if (o->root.len != ST_HASH_LEN) {
    snprintf(log, cap, "the root must be %d bytes", ST_HASH_LEN);
    return ST_EINVAL;
  }
  if (o->size == 0) {
    snprintf(log, cap, "a slice has at least one byte");
    return ST_EINVAL;
  }
  if (o->size > ST_FILE_SLICE_MAX) {
    snprintf(log, cap, "a slice has at most %u bytes", (unsigned)ST_FILE_SLICE_MAX);
    return ST_E2BIG;
  }
  *n = st_file_blocks(o->size);
  if (*n == 0 || o->blocks.len != (size_t)*n * ST_HASH_LEN) {
    snprintf(log, cap, "a slice of %llu bytes has %u block hashes (%zu bytes), not %zu bytes",
             (unsigned long long)o->size, *n, (size_t)*n * ST_HASH_LEN, o->blocks.len);
    return ST_EINVAL;
  }
  return 0;
}

static void refuse(st_res__eng_t *e, const st_net_frame_t *f, uint64_t xfer, int code,
                   const char *log) {
  char who[2 * ST_ADDR_LEN + 1];

  st_res__hex(f->peer, ST_ADDR_LEN, who, sizeof(who));
  ST_INFO(LOG_MOD, "offer %llu from %s refused: %s", (unsigned long long)xfer, who, log);
  send_ack(e, f->peer, xfer, code, 0, NULL, log);
}

/* The slice is here already: the offer's reference is recorded now and
 * answered with the receipt. */
static void offer_shortcut(st_res__eng_t *e, const st_net_frame_t *f, uint64_t xfer,
                           st_slice_writer_t *w, const uint8_t root[ST_HASH_LEN], uint64_t size,
                           uint32_t n) {
  char log[ACK_LOG_MAX];
  int rc = st_slice_write_commit(w);

  if (rc == 0)
    rc = send_stored(e, f->peer, xfer, root, size, n);
  if (rc != 0) {
    snprintf(log, sizeof(log), "cannot record the slice: %s", st_strerror(rc));
    refuse(e, f, xfer, rc, log);
    return;
  }
  e->st.received++;
}

void st_res__on_offer(st_res__eng_t *e, const st_net_frame_t *f) {
  Stratos__Storage__SliceOffer *o;
  st_slice_writer_t *w = NULL;
  st_res__xfer_t *x;
  char log[ACK_LOG_MAX];
  size_t all, mine;
  uint32_t n = 0;
  int rc;

  if (f->len > OFFER_MAX) {
    st_res__ban(e, f->peer, "an oversized SliceOffer");
    return;
  }
  o = stratos__storage__slice_offer__unpack(NULL, f->len, f->data);
  if (!o) {
    st_res__ban(e, f->peer, "a SliceOffer that does not decode");
    return;
  }
  x = xfer_find(e, f->peer, o->xfer);
  if (x && x->state == ST_RES__COMMIT)
    goto out;
  if (x)
    xfer_fail(e, x, 0, false, "offered again");
  rc = offer_check(o, &n, log, sizeof(log));
  if (rc == 0 && !e->chain_id[0]) {
    rc = ST_ECONFIG;
    snprintf(log, sizeof(log), "this node knows no meta chain id to sign receipts with");
  }
  if (rc == 0) {
    rc = st_slice_write_begin(e->cfg.store, o->root.data, o->size,
                              (const uint8_t(*)[ST_HASH_LEN])o->blocks.data, n, &w);
    if (rc == ST_ELOCKED)
      snprintf(log, sizeof(log), "this slice is being written here now; offer it again later");
    else if (rc == ST_EBADPROOF)
      snprintf(log, sizeof(log), "the block hashes do not give the root");
    else if (rc == ST_EEXIST)
      snprintf(log, sizeof(log), "a slice with this root and other block hashes is stored here");
    else if (rc != 0)
      snprintf(log, sizeof(log), "cannot store the slice: %s", st_strerror(rc));
  }
  if (rc != 0) {
    refuse(e, f, o->xfer, rc, log);
    goto out;
  }
  if (st_slice_write_ref_only(w)) {
    offer_shortcut(e, f, o->xfer, w, o->root.data, o->size, n);
    goto out;
  }
  xfer_count(e, f->peer, &all, &mine);
  if (all >= ST_RES__XFER_MAX || mine >= ST_RES__XFER_PEER_MAX) {
    st_slice_write_abort(w);
    snprintf(log, sizeof(log), "too many transfers open (%zu here, %zu from this peer); offer "
                               "again later", all, mine);
    refuse(e, f, o->xfer, ST_EAGAIN, log);
    goto out;
  }
  if ((rc = st_res__room(e, o->size, log, sizeof(log))) != 0) {
    st_slice_write_abort(w);
    refuse(e, f, o->xfer, rc, log);
    goto out;
  }
  x = calloc(1, sizeof(*x));
  if (!x) {
    st_slice_write_abort(w);
    refuse(e, f, o->xfer, ST_ENOMEM, "out of memory");
    goto out;
  }
  memcpy(x->peer, f->peer, ST_ADDR_LEN);
  x->id = o->xfer;
  memcpy(x->root, o->root.data, ST_HASH_LEN);
  x->size = o->size;
  x->nblocks = n;
  x->state = ST_RES__RECV;
  x->last_ms = st_res__mono(e);
  x->w = w;
  x->next = e->xfers;
  e->xfers = x;
  send_ack(e, f->peer, o->xfer, 0, 0, NULL, NULL);
out:
  stratos__storage__slice_offer__free_unpacked(o, NULL);
}

/* ---- blocks ---- */

static void xfer_committed(st_res__job_t *j) {
  st_res__xfer_t *x = XFER_OF(j);
  st_res__eng_t *e = j->e;
  char hex[2 * ST_HASH_LEN + 1], log[ACK_LOG_MAX];
  int rc = j->rc;

  if (rc == 0)
    rc = st_slice_write_commit(x->w);
  else
    st_slice_write_abort(x->w);
  x->w = NULL;
  if (rc == 0)
    rc = send_stored(e, x->peer, x->id, x->root, x->size, x->nblocks);
  st_res__hex(x->root, ST_HASH_LEN, hex, sizeof(hex));
  if (rc == 0) {
    ST_INFO(LOG_MOD, "stored slice %s (%llu bytes)", hex, (unsigned long long)x->size);
    e->st.received++;
  } else {
    snprintf(log, sizeof(log), "cannot make the slice durable: %s", st_strerror(rc));
    ST_WARN(LOG_MOD, "slice %s: %s", hex, log);
    send_ack(e, x->peer, x->id, rc, x->got, NULL, log);
    e->st.xfer_failed++;
  }
  remember_closed(e, x->peer, x->id);
  xfer_remove(e, x);
  st_res__job_end(e);
}

void st_res__on_data(st_res__eng_t *e, const st_net_frame_t *f) {
  char why[ACK_LOG_MAX];
  st_res__xfer_t *x;
  uint64_t id;
  uint32_t index;
  int rc;

  if (f->len < ST_RES_DATA_HDR || f->len > ST_RES_DATA_HDR + ST_FILE_BLOCK) {
    st_res__ban(e, f->peer, "a data frame of impossible length");
    return;
  }
  id = st_res__get64(f->data);
  index = st_res__get32(f->data + 8);
  x = xfer_find(e, f->peer, id);
  if (!x) {
    if (!recently_closed(e, f->peer, id)) {
      remember_closed(e, f->peer, id);
      send_ack(e, f->peer, id, ST_ENOENT, 0, NULL, "no such transfer here");
    }
    return;
  }
  if (x->state != ST_RES__RECV)
    return;
  if (index != x->got) {
    snprintf(why, sizeof(why), "block %u arrived where %u was expected", index, x->got);
    xfer_fail(e, x, ST_EPROTO, true, why);
    return;
  }
  rc = st_slice_write_block(x->w, f->data + ST_RES_DATA_HDR, f->len - ST_RES_DATA_HDR);
  if (rc != 0) {
    snprintf(why, sizeof(why), "block %u refused: %s", index,
             rc == ST_ECORRUPT ? "its hash does not match"
             : rc == ST_EINVAL ? "wrong length"
                               : st_strerror(rc));
    xfer_fail(e, x, rc, true, why);
    return;
  }
  x->got++;
  x->last_ms = st_res__mono(e);
  if (x->got == x->nblocks) {
    x->state = ST_RES__COMMIT;
    st_res__job_start(e, &x->job, x->w, xfer_committed);
  } else if (x->got % ST_RES_ACK_EVERY == 0) {
    send_ack(e, x->peer, x->id, 0, x->got, NULL, NULL);
  }
}

/* ---- time-outs, peers, close ---- */

void st_res__xfer_tick(st_res__eng_t *e, int64_t now) {
  char why[ACK_LOG_MAX];

  for (st_res__xfer_t *x = e->xfers, *next; x; x = next) {
    next = x->next;
    if (x->state == ST_RES__RECV && now - x->last_ms >= ST_RES_IDLE_MS) {
      snprintf(why, sizeof(why), "no block for %d s", ST_RES_IDLE_MS / 1000);
      xfer_fail(e, x, ST_ETIMEDOUT, true, why);
    }
  }
}

void st_res__xfer_peer_down(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN]) {
  for (st_res__xfer_t *x = e->xfers, *next; x; x = next) {
    next = x->next;
    if (x->state == ST_RES__RECV && memcmp(x->peer, peer, ST_ADDR_LEN) == 0)
      xfer_fail(e, x, ST_ECLOSED, false, "the peer left");
  }
}

/* Closing: receiving transfers end; committing ones finish in their
 * job. */
void st_res__xfer_close_all(st_res__eng_t *e) {
  for (st_res__xfer_t *x = e->xfers, *next; x; x = next) {
    next = x->next;
    if (x->state == ST_RES__RECV)
      xfer_fail(e, x, ST_ECLOSED, false, "the node is stopping");
  }
}
