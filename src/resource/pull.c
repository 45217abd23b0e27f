/* Repair pulls: a meta node asks this holder (SlicePull) to fetch a slice
 * from another holder; this holder asks that one for the block hash list
 * and then for every block (BlockGet with reply_channel
 * ST_CH_RESOURCE_REPLY), ST_RES__PULL_INFLIGHT blocks ahead of the one it
 * writes, stores the slice through the same writer and worker commit as
 * an upload, and sends the meta node SliceRepair{root, old_holder =
 * replaces, added = its Stored receipt} on ST_CH_META.
 *
 * Decisions:
 * - The hash list is checked by the writer against the root the meta
 *   node named, and every block against the list, so the other holder
 *   is trusted for nothing.
 * - Blocks that arrive out of order wait in a slot of the window (at most
 *   ST_RES__PULL_INFLIGHT blocks per pull are held); duplicates and
 *   answers to nothing asked are dropped.
 * - A slice already stored and healthy here is only given a reference
 *   and reported at once; one stored but corrupt or missing is fetched
 *   again with the hash list this holder already has.
 * - A pull that fails (an error answer, a bad hash list or block, the
 *   other holder leaving, ST_RES_IDLE_MS of silence) is given up with a
 *   log line and nothing is sent: the meta node assigns the slice again
 *   when its own wait runs out.
 * - Any node may ask for a pull (a resource node does not follow the
 *   meta authority set); what it costs is bounded by ST_RES__PULL_MAX,
 *   and what it produces is verified data and a receipt that only the
 *   meta chain can act on. */
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
#define PULL_FRAME_MAX 256
#define PULL_OF(j) ((st_res__pull_t *)((char *)(j) - offsetof(st_res__pull_t, job)))

static size_t block_len(uint64_t size, uint32_t nblocks, uint32_t index) {
  if (index + 1 < nblocks)
    return ST_FILE_BLOCK;
  return (size_t)(size - (uint64_t)(nblocks - 1) * ST_FILE_BLOCK);
}

static void pull_remove(st_res__eng_t *e, st_res__pull_t *p) {
  for (st_res__pull_t **pp = &e->pulls; *pp; pp = &(*pp)->next) {
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  }
  for (size_t i = 0; i < ST_RES__PULL_INFLIGHT; i++)
    free(p->slot[i]);
  free(p);
}

static void pull_fail(st_res__eng_t *e, st_res__pull_t *p, const char *why) {
  char hex[2 * ST_HASH_LEN + 1], from[2 * ST_ADDR_LEN + 1];

  st_res__hex(p->root, ST_HASH_LEN, hex, sizeof(hex));
  st_res__hex(p->from, ST_ADDR_LEN, from, sizeof(from));
  ST_WARN(LOG_MOD, "gave up pulling slice %s from %s after %u of %u blocks: %s", hex, from,
          p->written, p->nblocks, why);
  st_slice_write_abort(p->w);
  p->w = NULL;
  e->st.pull_failed++;
  pull_remove(e, p);
}

static void pull_get(st_res__eng_t *e, st_res__pull_t *p, uint64_t req, uint32_t index,
                     bool hashes) {
  Stratos__Storage__BlockGet g = STRATOS__STORAGE__BLOCK_GET__INIT;
  uint8_t buf[PULL_FRAME_MAX];
  size_t n;

  g.req = req;
  g.root.data = p->root;
  g.root.len = ST_HASH_LEN;
  g.index = index;
  g.hashes = hashes;
  g.reply_channel = ST_CH_RESOURCE_REPLY;
  n = stratos__storage__block_get__get_packed_size(&g);
  if (n > sizeof(buf))
    return;
  stratos__storage__block_get__pack(&g, buf);
  st_res__send(e, p->from, ST_CH_RESOURCE, ST_RES_GET, buf, n, NULL, 0);
}

static void pull_ask(st_res__eng_t *e, st_res__pull_t *p) {
  while (p->asked < p->nblocks && p->asked - p->written < ST_RES__PULL_INFLIGHT) {
    pull_get(e, p, p->req + 1 + p->asked, p->asked, false);
    p->asked++;
  }
}

/* ---- the end: receipt to the meta node ---- */

static int send_repaired(st_res__eng_t *e, const st_res__pull_t *p) {
  Stratos__Storage__SliceRepair r = STRATOS__STORAGE__SLICE_REPAIR__INIT;
  Stratos__Storage__Stored s = STRATOS__STORAGE__STORED__INIT;
  uint8_t sig[ST_SIG_LEN], buf[256];
  size_t n;
  int rc = st_res_stored_sign(e->cfg.key, e->chain_id, p->root, p->size, sig);

  if (rc != 0)
    return rc;
  s.node.data = (uint8_t *)(uintptr_t)e->self;
  s.node.len = ST_ADDR_LEN;
  s.signature.data = sig;
  s.signature.len = ST_SIG_LEN;
  r.root.data = (uint8_t *)(uintptr_t)p->root;
  r.root.len = ST_HASH_LEN;
  if (p->has_replaces) {
    r.old_holder.data = (uint8_t *)(uintptr_t)p->replaces;
    r.old_holder.len = ST_ADDR_LEN;
  }
  r.added = &s;
  n = stratos__storage__slice_repair__get_packed_size(&r);
  if (n > sizeof(buf))
    return ST_E2BIG;
  stratos__storage__slice_repair__pack(&r, buf);
  st_res__send(e, p->asker, ST_CH_META, ST_RES_REPAIRED, buf, n, NULL, 0);
  return 0;
}

/* The slice is stored (or was already): report it, and the pull ends. */
static void pull_done(st_res__eng_t *e, st_res__pull_t *p, int rc) {
  char hex[2 * ST_HASH_LEN + 1], from[2 * ST_ADDR_LEN + 1];

  if (rc == 0)
    rc = send_repaired(e, p);
  st_res__hex(p->root, ST_HASH_LEN, hex, sizeof(hex));
  st_res__hex(p->from, ST_ADDR_LEN, from, sizeof(from));
  if (rc == 0) {
    ST_INFO(LOG_MOD, "pulled slice %s (%llu bytes) from %s", hex, (unsigned long long)p->size,
            from);
    e->st.pulled++;
  } else {
    ST_WARN(LOG_MOD, "pull of slice %s from %s failed at the end: %s", hex, from,
            st_strerror(rc));
    e->st.pull_failed++;
  }
  pull_remove(e, p);
}

static void pull_committed(st_res__job_t *j) {
  st_res__pull_t *p = PULL_OF(j);
  st_res__eng_t *e = j->e;
  int rc = j->rc;

  if (rc == 0)
    rc = st_slice_write_commit(p->w);
  else
    st_slice_write_abort(p->w);
  p->w = NULL;
  pull_done(e, p, rc);
  st_res__job_end(e);
}

/* A writer exists: a reference-only one ends here, any other fetches
 * blocks. Returns false when the pull is over. */
static bool pull_with_writer(st_res__eng_t *e, st_res__pull_t *p) {
  if (st_slice_write_ref_only(p->w)) {
    int rc = st_slice_write_commit(p->w);
    p->w = NULL;
    pull_done(e, p, rc);
    return false;
  }
  p->state = ST_RES__BLOCKS;
  pull_ask(e, p);
  return true;
}

static const char *begin_why(int rc, char *buf, size_t cap) {
  if (rc == ST_EBADPROOF)
    return "the block hashes do not give the root";
  if (rc == ST_ELOCKED)
    return "the slice is being written here already";
  if (rc == ST_EEXIST)
    return "a slice with this root and other block hashes is stored here";
  snprintf(buf, cap, "cannot store it: %s", st_strerror(rc));
  return buf;
}

/* ---- SlicePull ---- */

static int pull_check(const st_res__eng_t *e, const Stratos__Storage__SlicePull *q,
                      const char **why) {
  if (q->root.len != ST_HASH_LEN)
    *why = "the root must be 32 bytes";
  else if (q->size == 0 || q->size > ST_FILE_SLICE_MAX)
    *why = "the size is not that of a slice";
  else if (q->from.len != ST_ADDR_LEN)
    *why = "the holder to pull from must be a 20-byte address";
  else if (st_res__is_self(e, q->from.data))
    *why = "it names this node as the holder to pull from";
  else if (q->replaces.len != 0 && q->replaces.len != ST_ADDR_LEN)
    *why = "the holder replaced must be empty or a 20-byte address";
  else if (!e->chain_id[0])
    *why = "this node knows no meta chain id to sign receipts with";
  else
    return 0;
  return ST_EINVAL;
}

static size_t pull_count(const st_res__eng_t *e) {
  size_t n = 0;

  for (const st_res__pull_t *p = e->pulls; p; p = p->next)
    n++;
  return n;
}

/* Starts from what this store has: ST_ENOENT when nothing, else the
 * pull has a writer (or has ended). */
static int pull_from_store(st_res__eng_t *e, st_res__pull_t *p, bool *over) {
  uint8_t(*blocks)[ST_HASH_LEN] = NULL;
  st_slice_info_t info;
  char buf[96];
  int rc = st_slice_info(e->cfg.store, p->root, &info, &blocks);

  *over = false;
  if (rc != 0)
    return rc;
  if (info.size != p->size) {
    free(blocks);
    pull_fail(e, p, "the slice is stored here with another size");
    *over = true;
    return 0;
  }
  rc = st_slice_write_begin(e->cfg.store, p->root, p->size,
                            (const uint8_t(*)[ST_HASH_LEN])blocks, info.nblocks, &p->w);
  free(blocks);
  if (rc != 0) {
    pull_fail(e, p, begin_why(rc, buf, sizeof(buf)));
    *over = true;
    return 0;
  }
  *over = !pull_with_writer(e, p);
  return 0;
}

void st_res__on_pull(st_res__eng_t *e, const st_net_frame_t *f) {
  char who[2 * ST_ADDR_LEN + 1], hex[2 * ST_HASH_LEN + 1];
  Stratos__Storage__SlicePull *q;
  const char *why = NULL;
  st_res__pull_t *p;
  bool over;
  int rc;

  if (f->len > PULL_FRAME_MAX) {
    st_res__ban(e, f->peer, "an oversized SlicePull");
    return;
  }
  q = stratos__storage__slice_pull__unpack(NULL, f->len, f->data);
  if (!q) {
    st_res__ban(e, f->peer, "a SlicePull that does not decode");
    return;
  }
  st_res__hex(f->peer, ST_ADDR_LEN, who, sizeof(who));
  if (pull_check(e, q, &why) != 0) {
    ST_WARN(LOG_MOD, "SlicePull from %s refused: %s", who, why);
    goto out;
  }
  st_res__hex(q->root.data, ST_HASH_LEN, hex, sizeof(hex));
  for (p = e->pulls; p; p = p->next) {
    if (memcmp(p->root, q->root.data, ST_HASH_LEN) == 0) {
      ST_DEBUG(LOG_MOD, "slice %s is being pulled already", hex);
      goto out;
    }
  }
  if (pull_count(e) >= ST_RES__PULL_MAX) {
    ST_WARN(LOG_MOD, "SlicePull of %s from %s refused: %d pulls are running", hex, who,
            ST_RES__PULL_MAX);
    goto out;
  }
  /* A slice not here needs its size of disk (the repair then goes
   * stale and the meta chain picks another node). */
  char room[160];
  st_slice_info_t have;
  if (st_slice_info(e->cfg.store, q->root.data, &have, NULL) == ST_ENOENT &&
      st_res__room(e, q->size, room, sizeof(room)) != 0) {
    ST_WARN(LOG_MOD, "SlicePull of %s from %s refused: %s", hex, who, room);
    goto out;
  }
  p = calloc(1, sizeof(*p));
  if (!p)
    goto out;
  memcpy(p->asker, f->peer, ST_ADDR_LEN);
  memcpy(p->from, q->from.data, ST_ADDR_LEN);
  if (q->replaces.len == ST_ADDR_LEN) {
    memcpy(p->replaces, q->replaces.data, ST_ADDR_LEN);
    p->has_replaces = true;
  }
  memcpy(p->root, q->root.data, ST_HASH_LEN);
  p->size = q->size;
  p->nblocks = st_file_blocks(q->size);
  /* Room above for one request per block without wrapping. */
  p->req = st_res__rand64() >> 1;
  p->state = ST_RES__HASHES;
  p->last_ms = st_res__mono(e);
  p->next = e->pulls;
  e->pulls = p;
  ST_INFO(LOG_MOD, "pulling slice %s (%llu bytes) for %s", hex, (unsigned long long)q->size,
          who);
  rc = pull_from_store(e, p, &over);
  if (rc == ST_ENOENT)
    pull_get(e, p, p->req, 0, true);
  else if (rc != 0)
    pull_fail(e, p, st_strerror(rc));
out:
  stratos__storage__slice_pull__free_unpacked(q, NULL);
}

/* ---- answers from the other holder ---- */

static st_res__pull_t *pull_find(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN],
                                 uint64_t req) {
  for (st_res__pull_t *p = e->pulls; p; p = p->next)
    if (memcmp(p->from, peer, ST_ADDR_LEN) == 0 && req - p->req <= p->nblocks)
      return p;
  return NULL;
}

static void on_hashes(st_res__eng_t *e, st_res__pull_t *p, const uint8_t *body, size_t len) {
  char buf[96];
  int rc;

  if (p->state != ST_RES__HASHES)
    return;
  if (len != (size_t)p->nblocks * ST_HASH_LEN) {
    pull_fail(e, p, "the block hash list has the wrong length");
    return;
  }
  rc = st_slice_write_begin(e->cfg.store, p->root, p->size,
                            (const void *)body, p->nblocks, &p->w);
  if (rc != 0) {
    pull_fail(e, p, begin_why(rc, buf, sizeof(buf)));
    return;
  }
  (void)pull_with_writer(e, p);
}

/* Hands block `written` to the writer. */
static bool pull_write(st_res__eng_t *e, st_res__pull_t *p, const uint8_t *data, size_t len) {
  char why[96];
  int rc = st_slice_write_block(p->w, data, len);

  if (rc != 0) {
    snprintf(why, sizeof(why), "block %u refused: %s", p->written,
             rc == ST_ECORRUPT ? "its hash does not match" : st_strerror(rc));
    pull_fail(e, p, why);
    return false;
  }
  p->written++;
  return true;
}

static void on_pulled_block(st_res__eng_t *e, st_res__pull_t *p, uint32_t index,
                            const uint8_t *body, size_t len) {
  size_t k = index % ST_RES__PULL_INFLIGHT;

  if (p->state != ST_RES__BLOCKS || index < p->written || index >= p->asked)
    return;
  if (len != block_len(p->size, p->nblocks, index)) {
    pull_fail(e, p, "a block has the wrong length");
    return;
  }
  if (index > p->written) {
    if (!p->slot[k]) {
      p->slot[k] = malloc(len);
      if (!p->slot[k]) {
        pull_fail(e, p, "out of memory");
        return;
      }
      memcpy(p->slot[k], body, len);
      p->slot_len[k] = len;
    }
    return;
  }
  if (!pull_write(e, p, body, len))
    return;
  for (k = p->written % ST_RES__PULL_INFLIGHT; p->slot[k];
       k = p->written % ST_RES__PULL_INFLIGHT) {
    uint8_t *b = p->slot[k];
    p->slot[k] = NULL;
    bool ok = pull_write(e, p, b, p->slot_len[k]);
    free(b);
    if (!ok)
      return;
  }
  if (p->written == p->nblocks) {
    p->state = ST_RES__COMMIT;
    st_res__job_start(e, &p->job, p->w, pull_committed);
    return;
  }
  pull_ask(e, p);
}

void st_res__on_block(st_res__eng_t *e, const st_net_frame_t *f) {
  st_res__pull_t *p;
  uint64_t req;
  int32_t code;
  char why[96];

  if (f->len < ST_RES_BLOCK_HDR || f->len > ST_RES_BLOCK_HDR + ST_FILE_BLOCK) {
    st_res__ban(e, f->peer, "a block frame of impossible length");
    return;
  }
  req = st_res__get64(f->data);
  code = (int32_t)st_res__get32(f->data + 8);
  p = pull_find(e, f->peer, req);
  if (!p || p->state == ST_RES__COMMIT)
    return;
  p->last_ms = st_res__mono(e);
  if (code != 0) {
    snprintf(why, sizeof(why), "the holder answered %s", st_errname(code));
    pull_fail(e, p, why);
    return;
  }
  if (req == p->req)
    on_hashes(e, p, f->data + ST_RES_BLOCK_HDR, f->len - ST_RES_BLOCK_HDR);
  else
    on_pulled_block(e, p, (uint32_t)(req - p->req - 1), f->data + ST_RES_BLOCK_HDR,
                    f->len - ST_RES_BLOCK_HDR);
}

/* ---- time-outs, peers, close ---- */

void st_res__pull_tick(st_res__eng_t *e, int64_t now) {
  char why[64];

  for (st_res__pull_t *p = e->pulls, *next; p; p = next) {
    next = p->next;
    if (p->state != ST_RES__COMMIT && now - p->last_ms >= ST_RES_IDLE_MS) {
      snprintf(why, sizeof(why), "no answer for %d s", ST_RES_IDLE_MS / 1000);
      pull_fail(e, p, why);
    }
  }
}

void st_res__pull_peer_down(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN]) {
  for (st_res__pull_t *p = e->pulls, *next; p; p = next) {
    next = p->next;
    if (p->state != ST_RES__COMMIT && memcmp(p->from, peer, ST_ADDR_LEN) == 0)
      pull_fail(e, p, "the holder left");
  }
}

void st_res__pull_close_all(st_res__eng_t *e) {
  for (st_res__pull_t *p = e->pulls, *next; p; p = next) {
    next = p->next;
    if (p->state != ST_RES__COMMIT) {
      st_slice_write_abort(p->w);
      p->w = NULL;
      pull_remove(e, p);
    }
  }
}
