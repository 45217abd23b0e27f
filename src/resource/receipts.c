/* The traffic receipts a holder keeps (docs/traffic.md): receivers of
 * its blocks send it signed receipts (ST_RES_RECEIPT) with the bytes
 * of their session so far; it keeps the latest per session and hands
 * the new ones to the meta chain in batches (st_res__rcpt_take).
 *
 * Bounds: at most the table's cap of sessions (65536 in the module); a
 * new session beyond it pushes out the one updated longest ago. A
 * receipt that does not name this node as its server, or does not
 * decode, is refused; its signature is the meta chain's to check.
 * A session is submitted when it grew, and once more a retry interval
 * later (a lost frame or a full pool on the meta side costs nothing:
 * the chain counts a session's growth once). It is forgotten once it
 * is submitted and has not changed for two epochs: the meta chain no
 * longer counts it by then. Loop thread only. */
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_meta.h>
#include "resource/receipts.h"

typedef struct sess {
  uint8_t id[16];
  uint64_t bytes;        /* of the receipt kept */
  uint64_t sent_bytes;   /* of the last one submitted */
  int64_t updated_ms;    /* when the receipt kept arrived */
  int64_t sent_ms;       /* when it was last submitted; 0: never */
  bool retried;          /* submitted twice at these bytes */
  uint8_t *rcpt;
  size_t len;
} sess_t;

struct st_res__rcpt {
  uint8_t me[ST_ADDR_LEN];
  size_t cap;
  sess_t *v;
  size_t n, vcap;
};

int st_res__rcpt_new(const uint8_t me[ST_ADDR_LEN], size_t cap, st_res__rcpt_t **out) {
  st_res__rcpt_t *t = calloc(1, sizeof(*t));
  if (!t || cap == 0) {
    free(t);
    return t ? ST_EINVAL : ST_ENOMEM;
  }
  memcpy(t->me, me, ST_ADDR_LEN);
  t->cap = cap;
  *out = t;
  return 0;
}

void st_res__rcpt_free(st_res__rcpt_t *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->n; i++)
    free(t->v[i].rcpt);
  free(t->v);
  free(t);
}

size_t st_res__rcpt_count(const st_res__rcpt_t *t) {
  return t ? t->n : 0;
}

static void drop(st_res__rcpt_t *t, size_t i) {
  free(t->v[i].rcpt);
  t->v[i] = t->v[--t->n];
}

int st_res__rcpt_add(st_res__rcpt_t *t, const uint8_t *p, size_t n, int64_t now_ms) {
  st_meta_receipt_t r;
  int rc = st_meta_receipt_read(p, n, &r);
  if (rc != 0)
    return rc;
  if (memcmp(r.server, t->me, ST_ADDR_LEN) != 0)
    return ST_EPERM;
  size_t i = 0;
  while (i < t->n && memcmp(t->v[i].id, r.session, 16) != 0)
    i++;
  if (i < t->n && t->v[i].bytes >= r.bytes)
    return ST_EEXIST;
  uint8_t *copy = malloc(n);
  if (!copy)
    return ST_ENOMEM;
  memcpy(copy, p, n);
  if (i == t->n) {
    if (t->n == t->cap) {
      /* Full: the session updated longest ago goes. */
      size_t old = 0;
      for (size_t j = 1; j < t->n; j++)
        if (t->v[j].updated_ms < t->v[old].updated_ms)
          old = j;
      drop(t, old);
      i = t->n;
    }
    if (t->n == t->vcap) {
      size_t nc = t->vcap ? 2 * t->vcap : 16;
      if (nc > t->cap)
        nc = t->cap;
      sess_t *v = realloc(t->v, nc * sizeof(*v));
      if (!v) {
        free(copy);
        return ST_ENOMEM;
      }
      t->v = v;
      t->vcap = nc;
    }
    memset(&t->v[i], 0, sizeof(t->v[i]));
    memcpy(t->v[i].id, r.session, 16);
    t->n++;
  }
  sess_t *s = &t->v[i];
  free(s->rcpt);
  s->rcpt = copy;
  s->len = n;
  s->bytes = r.bytes;
  s->updated_ms = now_ms;
  s->retried = false;
  return 0;
}

size_t st_res__rcpt_due(const st_res__rcpt_t *t) {
  size_t d = 0;
  for (size_t i = 0; t && i < t->n; i++)
    d += t->v[i].bytes > t->v[i].sent_bytes;
  return d;
}

size_t st_res__rcpt_take(st_res__rcpt_t *t, int64_t now_ms, int64_t retry_ms, size_t max,
                         const uint8_t **rcpts, size_t *lens) {
  size_t k = 0;
  for (size_t i = 0; i < t->n && k < max; i++) {
    sess_t *s = &t->v[i];
    bool grew = s->bytes > s->sent_bytes;
    bool retry = !grew && !s->retried && s->sent_ms && now_ms - s->sent_ms >= retry_ms;
    if (!grew && !retry)
      continue;
    if (retry)
      s->retried = true;
    s->sent_bytes = s->bytes;
    s->sent_ms = now_ms;
    rcpts[k] = s->rcpt;
    lens[k] = s->len;
    k++;
  }
  return k;
}

size_t st_res__rcpt_expire(st_res__rcpt_t *t, int64_t now_ms, int64_t keep_ms) {
  size_t gone = 0;
  for (size_t i = 0; i < t->n;) {
    sess_t *s = &t->v[i];
    if (s->sent_bytes == s->bytes && s->retried && now_ms - s->updated_ms > keep_ms) {
      drop(t, i);
      gone++;
    } else {
      i++;
    }
  }
  return gone;
}
