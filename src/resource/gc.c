/* Garbage collection: a holder keeps a slice for as long as the meta chain
 * assigns it to the holder, and asks when in doubt.
 *
 * Every round (st_res__gc_interval_ms of the genesis gc_grace_ms) the
 * engine lists the slices no file has claimed here for gc_grace_ms (the
 * store's added_ms), ST_RES_CHECK_MAX roots per SliceCheck, and sends each
 * frame to every connected peer and to this node's own meta module on
 * ST_CH_META. A meta node answers ST_RES_CHECKED with keep[], one flag
 * per root; every slice one said keep=false for is dropped, whatever its
 * reference count.
 *
 * Decisions:
 * - No answer, a late answer, an answer whose roots or flag count do not
 *   match the question, or one from a node that is not a meta node keeps
 *   everything: a slice is only ever dropped on a meta node's word.
 * - A meta node is one of genesis meta_nodes, or this node when it runs
 *   the meta role: a resource node does not follow the authority set as
 *   it changes, and a word from any other peer could delete data.
 * - The drop re-checks that no file claimed the slice since the question
 *   was asked (st_slice_drop's added_before), so an upload of the same
 *   bytes that lands meanwhile is kept; a slice being written is skipped.
 * - A round sends at most ST_RES__CHECK_MAX_OPEN frames and the next
 *   round goes on where it stopped, so a large store is walked a few
 *   thousand slices a round and a question stays open ST_RES_IDLE_MS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "storage.pb-c.h"
#include "resource/engine.h"

#define LOG_MOD "resource"
/* A SliceCheck answer: the roots (34 bytes each on the wire), the flags
 * (at most 2 bytes each), the id, with room to spare. */
#define CHECKED_MAX ((size_t)ST_RES_CHECK_MAX * 40 + 256)

static void check_free(st_res__check_t *c) {
  free(c->roots);
  free(c);
}

static size_t check_count(const st_res__eng_t *e) {
  size_t n = 0;

  for (const st_res__check_t *c = e->checks; c; c = c->next)
    n++;
  return n;
}

/* Sends one SliceCheck for roots (ownership moves to the check). */
static void check_send(st_res__eng_t *e, uint8_t (*roots)[ST_HASH_LEN], size_t n,
                       int64_t cutoff) {
  Stratos__Storage__SliceCheck q = STRATOS__STORAGE__SLICE_CHECK__INIT;
  ProtobufCBinaryData *v = calloc(n, sizeof(*v));
  st_res__check_t *c = calloc(1, sizeof(*c));
  uint8_t *buf = NULL;
  size_t len;

  if (!v || !c)
    goto fail;
  c->req = st_res__rand64();
  c->cutoff_ms = cutoff;
  c->sent_ms = st_res__mono(e);
  c->n = n;
  c->roots = roots;
  for (size_t i = 0; i < n; i++) {
    v[i].data = roots[i];
    v[i].len = ST_HASH_LEN;
  }
  q.req = c->req;
  q.n_roots = n;
  q.roots = v;
  len = stratos__storage__slice_check__get_packed_size(&q);
  buf = malloc(len);
  if (!buf)
    goto fail;
  stratos__storage__slice_check__pack(&q, buf);
  st_res__send(e, NULL, ST_CH_META, ST_RES_CHECK, buf, len, NULL, 0);
  c->next = e->checks;
  e->checks = c;
  ST_DEBUG(LOG_MOD, "asked the meta nodes about %zu slices", n);
  free(buf);
  free(v);
  return;
fail:
  ST_WARN(LOG_MOD, "garbage collection: out of memory");
  free(buf);
  free(v);
  free(c);
  free(roots);
}

void st_res__gc_round(st_res__eng_t *e) {
  int64_t cutoff;
  size_t open;

  if (!e || e->closing)
    return;
  cutoff = st_res__wall(e) - e->cfg.gc_grace_ms;
  for (open = check_count(e); open < ST_RES__CHECK_MAX_OPEN; open++) {
    uint8_t(*roots)[ST_HASH_LEN] = malloc((size_t)ST_RES_CHECK_MAX * ST_HASH_LEN);
    size_t n = 0;
    bool more = false;
    int rc;

    if (!roots) {
      ST_WARN(LOG_MOD, "garbage collection: out of memory");
      return;
    }
    rc = st_slice_list_idle(e->cfg.store, e->gc_has_after ? e->gc_after : NULL, cutoff, roots,
                            ST_RES_CHECK_MAX, &n, &more);
    if (rc != 0 || n == 0) {
      if (rc != 0)
        ST_WARN(LOG_MOD, "garbage collection cannot list the slices: %s", st_strerror(rc));
      free(roots);
      e->gc_has_after = false;
      return;
    }
    memcpy(e->gc_after, roots[n - 1], ST_HASH_LEN);
    e->gc_has_after = more;
    check_send(e, roots, n, cutoff);
    if (!more)
      return;
  }
}

static bool is_meta(const st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN]) {
  if (e->cfg.self_meta && st_res__is_self(e, peer))
    return true;
  for (size_t i = 0; i < e->nmeta; i++)
    if (memcmp(e->meta[i], peer, ST_ADDR_LEN) == 0)
      return true;
  return false;
}

/* The answer names our roots in our order, or none (then ours are
 * meant), and one flag per root. */
static bool answer_fits(const st_res__check_t *c, const Stratos__Storage__SliceCheck *a) {
  if (a->n_keep != c->n)
    return false;
  if (a->n_roots == 0)
    return true;
  if (a->n_roots != c->n)
    return false;
  for (size_t i = 0; i < c->n; i++)
    if (a->roots[i].len != ST_HASH_LEN || memcmp(a->roots[i].data, c->roots[i], ST_HASH_LEN))
      return false;
  return true;
}

static void drop_one(st_res__eng_t *e, const st_res__check_t *c, const uint8_t root[ST_HASH_LEN],
                     const char *who) {
  char hex[2 * ST_HASH_LEN + 1];
  int rc;

  if (st_res__busy(e, root))
    return;
  rc = st_slice_drop(e->cfg.store, root, c->cutoff_ms);
  st_res__hex(root, ST_HASH_LEN, hex, sizeof(hex));
  if (rc == 0) {
    ST_INFO(LOG_MOD, "dropped slice %s: meta node %s says it is no longer assigned here", hex,
            who);
    e->st.dropped++;
  } else if (rc != ST_ENOENT && rc != ST_EAGAIN && rc != ST_ELOCKED) {
    ST_WARN(LOG_MOD, "cannot drop slice %s: %s", hex, st_strerror(rc));
  }
}

void st_res__on_checked(st_res__eng_t *e, const st_net_frame_t *f) {
  char who[2 * ST_ADDR_LEN + 1];
  Stratos__Storage__SliceCheck *a;
  st_res__check_t *c;

  if (f->len > CHECKED_MAX) {
    st_res__ban(e, f->peer, "an oversized SliceCheck answer");
    return;
  }
  a = stratos__storage__slice_check__unpack(NULL, f->len, f->data);
  if (!a) {
    st_res__ban(e, f->peer, "a SliceCheck answer that does not decode");
    return;
  }
  st_res__hex(f->peer, ST_ADDR_LEN, who, sizeof(who));
  if (!is_meta(e, f->peer)) {
    ST_DEBUG(LOG_MOD, "SliceCheck answer from %s ignored: not a meta node", who);
    goto out;
  }
  for (c = e->checks; c && c->req != a->req; c = c->next)
    ;
  if (!c) {
    ST_DEBUG(LOG_MOD, "SliceCheck answer %llu from %s ignored: no such question open",
             (unsigned long long)a->req, who);
    goto out;
  }
  if (!answer_fits(c, a)) {
    ST_WARN(LOG_MOD, "SliceCheck answer from %s ignored: it does not match the %zu roots asked",
            who, c->n);
    goto out;
  }
  for (size_t i = 0; i < c->n; i++)
    if (!a->keep[i])
      drop_one(e, c, c->roots[i], who);
out:
  stratos__storage__slice_check__free_unpacked(a, NULL);
}

void st_res__check_tick(st_res__eng_t *e, int64_t now) {
  for (st_res__check_t **pp = &e->checks; *pp;) {
    st_res__check_t *c = *pp;
    if (now - c->sent_ms >= ST_RES_IDLE_MS) {
      *pp = c->next;
      check_free(c);
    } else {
      pp = &c->next;
    }
  }
}

void st_res__check_close_all(st_res__eng_t *e) {
  while (e->checks) {
    st_res__check_t *c = e->checks;
    e->checks = c->next;
    check_free(c);
  }
}
