/* Decoding and checking of the consensus objects that come from outside:
 * votes, proposals, blocks, commits and evidence.
 *
 * Everything here is stateless: an object is checked against a chain id,
 * caps, and, where a signature is involved, a validator set handed in by
 * the caller. The engine adds what depends on its height (parent hash,
 * validator sets, app hash); the fuzz target drives these functions
 * directly. Sizes are capped before protobuf-c allocates anything, signed
 * bodies must be in canonical encoding (so one vote has one byte string),
 * and unknown fields are refused anywhere in a message. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stratos/st_err.h>

#include "consensus/consensus_private.h"

/* ---- small helpers ---- */

void st_cons__be64(uint8_t out[8], uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    out[i] = (uint8_t)v;
    v >>= 8;
  }
}

void st_cons__be32(uint8_t out[4], uint32_t v) {
  for (int i = 3; i >= 0; i--) {
    out[i] = (uint8_t)v;
    v >>= 8;
  }
}

uint64_t st_cons__rd64(const uint8_t in[8]) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | in[i];
  return v;
}

uint32_t st_cons__rd32(const uint8_t in[4]) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v = (v << 8) | in[i];
  return v;
}

int64_t st_cons__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    abort();
  return p;
}

static void *xmemdup(const void *p, size_t n) {
  void *q = xmalloc(n);
  if (n)
    memcpy(q, p, n);
  return q;
}

/* Whether m or any message inside it carries fields this version does
 * not know. The schema has no recursion, so the walk is shallow. */
static bool has_unknown(const ProtobufCMessage *m) {
  if (m->n_unknown_fields)
    return true;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
      continue;
    const char *base = (const char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
      ProtobufCMessage *const *arr =
        *(ProtobufCMessage *const *const *)(const void *)(base + f->offset);
      for (size_t j = 0; j < n; j++)
        if (arr[j] && has_unknown(arr[j]))
          return true;
    } else {
      const ProtobufCMessage *sub =
        *(const ProtobufCMessage *const *)(const void *)(base + f->offset);
      if (sub && has_unknown(sub))
        return true;
    }
  }
  return false;
}

/* Packs m into a fresh buffer. */
static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *p = xmalloc(n);
  *len = protobuf_c_message_pack(m, p);
  return p;
}

/* Whether bytes are exactly the canonical encoding of m. */
static bool canonical(const ProtobufCMessage *m, const uint8_t *bytes, size_t len) {
  size_t n = protobuf_c_message_get_packed_size(m);
  if (n != len)
    return false;
  uint8_t *p = xmalloc(n);
  protobuf_c_message_pack(m, p);
  bool same = n == 0 || memcmp(p, bytes, n) == 0;
  free(p);
  return same;
}

static bool chain_is(const char *field, const char *chain_id) {
  return field && strcmp(field, chain_id) == 0;
}

/* ---- validator sets ---- */

int st_cons__valset_index(const st_cons_valset_t *vs, const uint8_t addr[ST_ADDR_LEN]) {
  size_t lo = 0, hi = vs ? vs->n : 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = memcmp(vs->v[mid].addr, addr, ST_ADDR_LEN);
    if (c == 0)
      return (int)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

int64_t st_cons__valset_total(const st_cons_valset_t *vs) {
  int64_t t = 0;
  for (size_t i = 0; i < vs->n; i++)
    t += vs->v[i].power;
  return t;
}

int st_cons__valset_check(const st_cons_valset_t *vs) {
  if (!vs || vs->n == 0 || vs->n > ST_CONS__MAX_VALIDATORS || !vs->v)
    return ST_EINVAL;
  int64_t total = 0;
  for (size_t i = 0; i < vs->n; i++) {
    uint8_t a[ST_ADDR_LEN];
    if (vs->v[i].power <= 0 || vs->v[i].power > ST_CONS__MAX_TOTAL_POWER)
      return ST_ERANGE;
    total += vs->v[i].power;
    if (total > ST_CONS__MAX_TOTAL_POWER)
      return ST_ERANGE;
    st_addr_from_pubkey(vs->v[i].pubkey, a);
    if (memcmp(a, vs->v[i].addr, ST_ADDR_LEN) != 0)
      return ST_EINVAL;
    if (i > 0 && memcmp(vs->v[i - 1].addr, vs->v[i].addr, ST_ADDR_LEN) >= 0)
      return ST_EINVAL;
  }
  return 0;
}

static int val_cmp(const void *a, const void *b) {
  const st_cons_validator_t *x = a, *y = b;
  return memcmp(x->addr, y->addr, ST_ADDR_LEN);
}

int st_cons__valset_copy(st_cons_valset_t *dst, const st_cons_valset_t *src) {
  if (!src || src->n == 0 || src->n > ST_CONS__MAX_VALIDATORS || !src->v)
    return ST_EINVAL;
  dst->n = src->n;
  dst->v = xmemdup(src->v, src->n * sizeof(*src->v));
  qsort(dst->v, dst->n, sizeof(*dst->v), val_cmp);
  int rc = st_cons__valset_check(dst);
  if (rc != 0) {
    free(dst->v);
    dst->v = NULL;
    dst->n = 0;
  }
  return rc;
}

void st_cons_valset_hash(const st_cons_valset_t *vs, uint8_t out[ST_HASH_LEN]) {
  st_hash_ctx_t h;
  st_hash_init(&h, ST_DOM_VALSET);
  for (size_t i = 0; vs && i < vs->n; i++) {
    uint8_t pw[8];
    st_cons__be64(pw, (uint64_t)vs->v[i].power);
    st_hash_update(&h, vs->v[i].addr, ST_ADDR_LEN);
    st_hash_update(&h, vs->v[i].pubkey, ST_PUBKEY_LEN);
    st_hash_update(&h, pw, sizeof(pw));
  }
  st_hash_final(&h, out);
}

st_cons__vset_t *st_cons__vset_new(const st_cons_valset_t *vs, const int64_t *prio) {
  st_cons__vset_t *v = calloc(1, sizeof(*v));
  if (!v)
    abort();
  v->vs.n = vs->n;
  v->vs.v = xmemdup(vs->v, vs->n * sizeof(*vs->v));
  v->prio = calloc(vs->n, sizeof(*v->prio));
  if (!v->prio)
    abort();
  if (prio)
    memcpy(v->prio, prio, vs->n * sizeof(*prio));
  v->total = st_cons__valset_total(vs);
  st_cons_valset_hash(vs, v->hash);
  return v;
}

st_cons__vset_t *st_cons__vset_dup(const st_cons__vset_t *v) {
  return v ? st_cons__vset_new(&v->vs, v->prio) : NULL;
}

void st_cons__vset_free(st_cons__vset_t *v) {
  if (!v)
    return;
  free(v->vs.v);
  free(v->prio);
  free(v);
}

#define VSET_REC (ST_ADDR_LEN + ST_PUBKEY_LEN + 16)

int st_cons__vset_encode(const st_cons__vset_t *v, uint8_t **out, size_t *len) {
  size_t n = 4 + v->vs.n * VSET_REC;
  uint8_t *p = xmalloc(n), *q = p;
  st_cons__be32(q, (uint32_t)v->vs.n);
  q += 4;
  for (size_t i = 0; i < v->vs.n; i++) {
    memcpy(q, v->vs.v[i].addr, ST_ADDR_LEN);
    q += ST_ADDR_LEN;
    memcpy(q, v->vs.v[i].pubkey, ST_PUBKEY_LEN);
    q += ST_PUBKEY_LEN;
    st_cons__be64(q, (uint64_t)v->vs.v[i].power);
    st_cons__be64(q + 8, (uint64_t)v->prio[i]);
    q += 16;
  }
  *out = p;
  *len = n;
  return 0;
}

int st_cons__vset_decode(const uint8_t *p, size_t len, st_cons__vset_t **out) {
  if (len < 4)
    return ST_ECORRUPT;
  size_t n = st_cons__rd32(p);
  if (n == 0 || n > ST_CONS__MAX_VALIDATORS || len != 4 + n * VSET_REC)
    return ST_ECORRUPT;
  st_cons_valset_t vs = {.n = n, .v = calloc(n, sizeof(st_cons_validator_t))};
  int64_t *prio = calloc(n, sizeof(*prio));
  if (!vs.v || !prio)
    abort();
  const uint8_t *q = p + 4;
  for (size_t i = 0; i < n; i++) {
    memcpy(vs.v[i].addr, q, ST_ADDR_LEN);
    q += ST_ADDR_LEN;
    memcpy(vs.v[i].pubkey, q, ST_PUBKEY_LEN);
    q += ST_PUBKEY_LEN;
    vs.v[i].power = (int64_t)st_cons__rd64(q);
    prio[i] = (int64_t)st_cons__rd64(q + 8);
    q += 16;
  }
  int rc = st_cons__valset_check(&vs);
  if (rc == 0)
    *out = st_cons__vset_new(&vs, prio);
  free(vs.v);
  free(prio);
  return rc == 0 ? 0 : ST_ECORRUPT;
}

/* ---- votes ---- */

/* Parses and checks a VoteBody, filling v's fields (not its buffers). */
static int body_parse(const char *chain_id, const uint8_t *body, size_t blen,
                      st_cons__vote_t *v, const char **why) {
  if (blen == 0 || blen > ST_CONS__BODY_MAX) {
    *why = "vote body size out of range";
    return ST_EPROTO;
  }
  Stratos__Cons__VoteBody *b = stratos__cons__vote_body__unpack(NULL, blen, body);
  if (!b) {
    *why = "undecodable vote body";
    return ST_EPROTO;
  }
  int rc = ST_EPROTO;
  if (has_unknown(&b->base))
    *why = "unknown fields in vote body";
  else if (!canonical(&b->base, body, blen))
    *why = "vote body not in canonical encoding";
  else if (!chain_is(b->chain_id, chain_id))
    *why = "vote for another chain id";
  else if (b->type != STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE &&
           b->type != STRATOS__CONS__VOTE_TYPE__VOTE_PRECOMMIT)
    *why = "bad vote type";
  else if (b->height < 1)
    *why = "vote height out of range";
  else if (b->round < 0 || b->round > ST_CONS__ROUND_MAX)
    *why = "vote round out of range";
  else if (b->block_hash.len != 0 && b->block_hash.len != ST_HASH_LEN)
    *why = "bad vote block hash length";
  else if (b->validator.len != ST_ADDR_LEN)
    *why = "bad vote validator length";
  else if (b->time_ms < 0)
    *why = "negative vote time";
  else
    rc = 0;
  if (rc == 0) {
    v->type = (int)b->type;
    v->height = b->height;
    v->round = b->round;
    v->nil = b->block_hash.len == 0;
    memset(v->hash, 0, ST_HASH_LEN);
    if (!v->nil)
      memcpy(v->hash, b->block_hash.data, ST_HASH_LEN);
    v->time_ms = b->time_ms;
    memcpy(v->validator, b->validator.data, ST_ADDR_LEN);
    v->vindex = -1;
  }
  stratos__cons__vote_body__free_unpacked(b, NULL);
  return rc;
}

int st_cons__vote_from_parts(const char *chain_id, const uint8_t *body, size_t blen,
                             const uint8_t *sig, size_t siglen, st_cons__vote_t **out,
                             const char **why) {
  st_cons__vote_t tmp;
  *out = NULL;
  if (siglen != ST_SIG_LEN || !sig) {
    *why = "bad vote signature length";
    return ST_EPROTO;
  }
  int rc = body_parse(chain_id, body, blen, &tmp, why);
  if (rc != 0)
    return rc;
  st_cons__vote_t *v = xmalloc(sizeof(*v));
  *v = tmp;
  v->body = xmemdup(body, blen);
  v->body_len = blen;
  memcpy(v->sig, sig, ST_SIG_LEN);
  Stratos__Cons__Vote m = STRATOS__CONS__VOTE__INIT;
  m.body.data = v->body;
  m.body.len = blen;
  m.signature.data = v->sig;
  m.signature.len = ST_SIG_LEN;
  v->msg = pack_msg(&m.base, &v->msg_len);
  *out = v;
  return 0;
}

int st_cons__vote_decode(const char *chain_id, const uint8_t *msg, size_t len,
                         st_cons__vote_t **out, const char **why) {
  *out = NULL;
  if (len == 0 || len > ST_CONS__BODY_MAX + 128) {
    *why = "vote size out of range";
    return ST_EPROTO;
  }
  Stratos__Cons__Vote *m = stratos__cons__vote__unpack(NULL, len, msg);
  if (!m) {
    *why = "undecodable vote";
    return ST_EPROTO;
  }
  int rc;
  if (has_unknown(&m->base)) {
    *why = "unknown fields in vote";
    rc = ST_EPROTO;
  } else {
    rc = st_cons__vote_from_parts(chain_id, m->body.data, m->body.len, m->signature.data,
                                  m->signature.len, out, why);
  }
  stratos__cons__vote__free_unpacked(m, NULL);
  return rc;
}

int st_cons__vote_verify(const char *chain_id, const st_cons_valset_t *vs,
                         st_cons__vote_t *v, const char **why) {
  int idx = st_cons__valset_index(vs, v->validator);
  if (idx < 0) {
    *why = "vote from a validator not in the set";
    return ST_EPROTO;
  }
  if (st_verify(vs->v[idx].pubkey, ST_DOM_VOTE, chain_id, v->body, v->body_len, v->sig) != 0) {
    *why = "bad vote signature";
    return ST_EBADSIG;
  }
  v->vindex = idx;
  return 0;
}

st_cons__vote_t *st_cons__vote_dup(const st_cons__vote_t *v) {
  st_cons__vote_t *d = xmalloc(sizeof(*d));
  *d = *v;
  d->body = xmemdup(v->body, v->body_len);
  d->msg = xmemdup(v->msg, v->msg_len);
  return d;
}

void st_cons__vote_free(st_cons__vote_t *v) {
  if (!v)
    return;
  free(v->body);
  free(v->msg);
  free(v);
}

int st_cons__vote_body_encode(const char *chain_id, int type, int64_t height, int32_t round,
                              const uint8_t *hash, int64_t time_ms,
                              const uint8_t validator[ST_ADDR_LEN], uint8_t **out,
                              size_t *len) {
  Stratos__Cons__VoteBody b;
  stratos__cons__vote_body__init(&b);
  b.chain_id = (char *)(uintptr_t)chain_id;
  b.type = (Stratos__Cons__VoteType)type;
  b.height = height;
  b.round = round;
  if (hash) {
    b.block_hash.data = (uint8_t *)(uintptr_t)hash;
    b.block_hash.len = ST_HASH_LEN;
  }
  b.time_ms = time_ms;
  b.validator.data = (uint8_t *)(uintptr_t)validator;
  b.validator.len = ST_ADDR_LEN;
  *out = pack_msg(&b.base, len);
  return 0;
}

/* ---- commits ---- */

int st_cons__commit_encode(const Stratos__Cons__Commit *cm, uint8_t **out, size_t *len) {
  if (!cm) {
    *out = xmalloc(1);
    *len = 0;
    return 0;
  }
  *out = pack_msg(&cm->base, len);
  return 0;
}

void st_cons__commit_hash(const Stratos__Cons__Commit *cm, uint8_t out[ST_HASH_LEN]) {
  uint8_t *p;
  size_t n;
  st_cons__commit_encode(cm, &p, &n);
  st_hash(ST_DOM_COMMIT, p, n, out);
  free(p);
}

int st_cons__commit_verify(const char *chain_id, const st_cons_valset_t *vs,
                           int64_t height, const uint8_t hash[ST_HASH_LEN],
                           const Stratos__Cons__Commit *cm, bool *signers,
                           const char **why) {
  if (!cm) {
    *why = "missing commit";
    return ST_EPROTO;
  }
  if (cm->height != height) {
    *why = "commit for another height";
    return ST_EPROTO;
  }
  if (cm->block_hash.len != ST_HASH_LEN || memcmp(cm->block_hash.data, hash, ST_HASH_LEN) != 0) {
    *why = "commit for another block";
    return ST_EPROTO;
  }
  if (cm->round < 0 || cm->round > ST_CONS__ROUND_MAX) {
    *why = "commit round out of range";
    return ST_EPROTO;
  }
  if (cm->n_sigs == 0 || cm->n_sigs > vs->n) {
    *why = "commit signature count out of range";
    return ST_EPROTO;
  }
  bool *seen = calloc(vs->n, sizeof(bool));
  if (!seen)
    abort();
  int64_t power = 0, total = st_cons__valset_total(vs);
  int rc = 0;
  for (size_t i = 0; i < cm->n_sigs && rc == 0; i++) {
    const Stratos__Cons__CommitSig *s = cm->sigs[i];
    st_cons__vote_t v;
    rc = ST_EPROTO;
    if (!s || s->signature.len != ST_SIG_LEN) {
      *why = "bad commit signature length";
      break;
    }
    if (body_parse(chain_id, s->vote_body.data, s->vote_body.len, &v, why) != 0)
      break;
    int idx = st_cons__valset_index(vs, v.validator);
    if (v.type != STRATOS__CONS__VOTE_TYPE__VOTE_PRECOMMIT)
      *why = "commit signature is not a precommit";
    else if (v.height != height || v.round != cm->round)
      *why = "commit signature for another height or round";
    else if (v.nil || memcmp(v.hash, hash, ST_HASH_LEN) != 0)
      *why = "commit signature for another block";
    else if (idx < 0)
      *why = "commit signature from a validator not in the set";
    else if (seen[idx])
      *why = "commit has two signatures of one validator";
    else if (st_verify(vs->v[idx].pubkey, ST_DOM_VOTE, chain_id, s->vote_body.data,
                       s->vote_body.len, s->signature.data) != 0)
      *why = "bad commit signature";
    else {
      seen[idx] = true;
      power += vs->v[idx].power;
      rc = 0;
    }
  }
  if (rc == 0 && !(3 * power > 2 * total)) {
    *why = "commit lacks +2/3 of the voting power";
    rc = ST_EPROTO;
  }
  if (rc == 0 && signers)
    memcpy(signers, seen, vs->n * sizeof(bool));
  free(seen);
  return rc;
}

/* ---- evidence ---- */

static int vote_order(const st_cons__vote_t *a, const st_cons__vote_t *b) {
  if (a->nil != b->nil)
    return a->nil ? -1 : 1;
  if (a->nil)
    return 0;
  return memcmp(a->hash, b->hash, ST_HASH_LEN);
}

static void evidence_key(st_cons__evidence_t *ev) {
  uint8_t *k = ev->key;
  memcpy(k, ev->a->validator, ST_ADDR_LEN);
  st_cons__be64(k + ST_ADDR_LEN, (uint64_t)ev->a->height);
  st_cons__be32(k + ST_ADDR_LEN + 8, (uint32_t)ev->a->round);
  k[ST_ADDR_LEN + 12] = (uint8_t)ev->a->type;
}

int st_cons__evidence_from_pb(const char *chain_id, const Stratos__Cons__Evidence *pb,
                              st_cons__evidence_t **out, const char **why) {
  *out = NULL;
  const Stratos__Cons__DuplicateVoteEvidence *d = pb ? pb->duplicate_vote : NULL;
  if (!d || !d->vote_a || !d->vote_b) {
    *why = "evidence without two votes";
    return ST_EPROTO;
  }
  st_cons__vote_t *a, *b;
  int rc = st_cons__vote_from_parts(chain_id, d->vote_a->body.data, d->vote_a->body.len,
                                    d->vote_a->signature.data, d->vote_a->signature.len,
                                    &a, why);
  if (rc != 0)
    return rc;
  rc = st_cons__vote_from_parts(chain_id, d->vote_b->body.data, d->vote_b->body.len,
                                d->vote_b->signature.data, d->vote_b->signature.len, &b,
                                why);
  if (rc != 0) {
    st_cons__vote_free(a);
    return rc;
  }
  rc = ST_EPROTO;
  if (memcmp(a->validator, b->validator, ST_ADDR_LEN) != 0)
    *why = "evidence votes from two validators";
  else if (a->height != b->height || a->round != b->round || a->type != b->type)
    *why = "evidence votes for different steps";
  else if (vote_order(a, b) >= 0)
    *why = "evidence votes not conflicting or not in canonical order";
  else
    rc = 0;
  if (rc != 0) {
    st_cons__vote_free(a);
    st_cons__vote_free(b);
    return rc;
  }
  st_cons__evidence_t *ev = calloc(1, sizeof(*ev));
  if (!ev)
    abort();
  ev->a = a;
  ev->b = b;
  evidence_key(ev);
  ev->bytes = pack_msg(&pb->base, &ev->len);
  *out = ev;
  return 0;
}

int st_cons__evidence_decode(const char *chain_id, const uint8_t *msg, size_t len,
                             st_cons__evidence_t **out, const char **why) {
  *out = NULL;
  if (len == 0 || len > ST_CONS__EVIDENCE_MAX_BYTES) {
    *why = "evidence size out of range";
    return ST_EPROTO;
  }
  Stratos__Cons__Evidence *pb = stratos__cons__evidence__unpack(NULL, len, msg);
  if (!pb) {
    *why = "undecodable evidence";
    return ST_EPROTO;
  }
  int rc;
  if (has_unknown(&pb->base)) {
    *why = "unknown fields in evidence";
    rc = ST_EPROTO;
  } else {
    rc = st_cons__evidence_from_pb(chain_id, pb, out, why);
  }
  stratos__cons__evidence__free_unpacked(pb, NULL);
  return rc;
}

int st_cons__evidence_build(const st_cons__vote_t *x, const st_cons__vote_t *y,
                            st_cons__evidence_t **out) {
  int o = vote_order(x, y);
  if (o == 0)
    return ST_EINVAL;
  const st_cons__vote_t *a = o < 0 ? x : y, *b = o < 0 ? y : x;
  st_cons__evidence_t *ev = calloc(1, sizeof(*ev));
  if (!ev)
    abort();
  ev->a = st_cons__vote_dup(a);
  ev->b = st_cons__vote_dup(b);
  evidence_key(ev);
  Stratos__Cons__Vote va = STRATOS__CONS__VOTE__INIT, vb = STRATOS__CONS__VOTE__INIT;
  va.body.data = ev->a->body;
  va.body.len = ev->a->body_len;
  va.signature.data = ev->a->sig;
  va.signature.len = ST_SIG_LEN;
  vb.body.data = ev->b->body;
  vb.body.len = ev->b->body_len;
  vb.signature.data = ev->b->sig;
  vb.signature.len = ST_SIG_LEN;
  Stratos__Cons__DuplicateVoteEvidence d = STRATOS__CONS__DUPLICATE_VOTE_EVIDENCE__INIT;
  d.vote_a = &va;
  d.vote_b = &vb;
  Stratos__Cons__Evidence e = STRATOS__CONS__EVIDENCE__INIT;
  e.duplicate_vote = &d;
  ev->bytes = pack_msg(&e.base, &ev->len);
  ev->power = 0;
  *out = ev;
  return 0;
}

int st_cons__evidence_verify(const char *chain_id, const st_cons_valset_t *vs,
                             st_cons__evidence_t *ev, const char **why) {
  int rc = st_cons__vote_verify(chain_id, vs, ev->a, why);
  if (rc == 0)
    rc = st_cons__vote_verify(chain_id, vs, ev->b, why);
  if (rc != 0)
    return ST_EPROTO;
  ev->power = vs->v[ev->a->vindex].power;
  return 0;
}

void st_cons__evidence_free(st_cons__evidence_t *ev) {
  if (!ev)
    return;
  st_cons__vote_free(ev->a);
  st_cons__vote_free(ev->b);
  free(ev->bytes);
  free(ev);
}

void st_cons__evidence_root(const Stratos__Cons__Block *b, uint8_t out[ST_HASH_LEN]) {
  size_t n = b ? b->n_evidence : 0;
  uint8_t(*leaves)[ST_HASH_LEN] = xmalloc(n * ST_HASH_LEN);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    uint8_t *p = pack_msg(&b->evidence[i]->base, &len);
    st_merkle_leaf(p, len, leaves[i]);
    free(p);
  }
  st_merkle_root((const uint8_t(*)[ST_HASH_LEN])leaves, n, out);
  free(leaves);
}

/* ---- blocks ---- */

static bool len_is(const ProtobufCBinaryData *d, size_t n) {
  return d->len == n;
}

/* Checks the header's fields for form. */
static int header_check(const char *chain_id, const Stratos__Cons__Header *h,
                        const char **why) {
  *why = NULL;
  if (!chain_is(h->chain_id, chain_id))
    *why = "block for another chain id";
  else if (h->height < 1)
    *why = "block height out of range";
  else if (h->time_ms < 0)
    *why = "negative block time";
  else if (!len_is(&h->last_block_hash, h->height == 1 ? 0 : ST_HASH_LEN))
    *why = "bad last_block_hash length";
  else if (!len_is(&h->last_commit_hash, ST_HASH_LEN) || !len_is(&h->data_hash, ST_HASH_LEN) ||
           !len_is(&h->validators_hash, ST_HASH_LEN) ||
           !len_is(&h->next_validators_hash, ST_HASH_LEN) ||
           !len_is(&h->app_hash, ST_HASH_LEN) || !len_is(&h->evidence_hash, ST_HASH_LEN) ||
           !len_is(&h->last_results_hash, ST_HASH_LEN))
    *why = "bad header hash length";
  else if (!len_is(&h->proposer, ST_ADDR_LEN))
    *why = "bad proposer address length";
  return *why ? ST_EPROTO : 0;
}

static bool commit_is_empty(const Stratos__Cons__Commit *cm) {
  return !cm || (cm->height == 0 && cm->round == 0 && cm->block_hash.len == 0 && cm->n_sigs == 0);
}

int st_cons__block_decode(const char *chain_id, const uint8_t *bytes, size_t len,
                          const st_cons__limits_t *lim, st_cons__block_t **out,
                          const char **why) {
  *out = NULL;
  if (len == 0 || len > lim->max_bytes + (size_t)ST_CONS__HEADER_MAX +
                          lim->max_sigs * (ST_CONS__BODY_MAX + 80) +
                          (size_t)ST_CONS__EVIDENCE_PER_BLOCK * ST_CONS__EVIDENCE_MAX_BYTES +
                          lim->max_txs * 8 + 64) {
    *why = "block size out of range";
    return ST_EPROTO;
  }
  Stratos__Cons__Block *pb = stratos__cons__block__unpack(NULL, len, bytes);
  if (!pb) {
    *why = "undecodable block";
    return ST_EPROTO;
  }
  st_cons__block_t *b = calloc(1, sizeof(*b));
  if (!b)
    abort();
  b->pb = pb;
  int rc = ST_EPROTO;
  if (has_unknown(&pb->base)) {
    *why = "unknown fields in block";
    goto fail;
  }
  if (pb->header.len == 0 || pb->header.len > ST_CONS__HEADER_MAX) {
    *why = "block header size out of range";
    goto fail;
  }
  b->hdr = stratos__cons__header__unpack(NULL, pb->header.len, pb->header.data);
  if (!b->hdr) {
    *why = "undecodable block header";
    goto fail;
  }
  if (has_unknown(&b->hdr->base)) {
    *why = "unknown fields in block header";
    goto fail;
  }
  if (!canonical(&b->hdr->base, pb->header.data, pb->header.len)) {
    *why = "block header not in canonical encoding";
    goto fail;
  }
  if (header_check(chain_id, b->hdr, why) != 0)
    goto fail;
  const Stratos__Cons__Header *h = b->hdr;

  /* Transactions: caps first, then the Merkle root. */
  if (pb->n_txs > lim->max_txs) {
    *why = "too many txs in block";
    goto fail;
  }
  size_t total = 0;
  for (size_t i = 0; i < pb->n_txs; i++) {
    if (pb->txs[i].len == 0) {
      *why = "empty tx in block";
      goto fail;
    }
    total += pb->txs[i].len;
  }
  if (total > lim->max_bytes) {
    *why = "block txs exceed max_block_bytes";
    goto fail;
  }
  uint8_t root[ST_HASH_LEN];
  uint8_t(*leaves)[ST_HASH_LEN] = xmalloc(pb->n_txs * ST_HASH_LEN);
  for (size_t i = 0; i < pb->n_txs; i++)
    st_merkle_leaf(pb->txs[i].data, pb->txs[i].len, leaves[i]);
  st_merkle_root((const uint8_t(*)[ST_HASH_LEN])leaves, pb->n_txs, root);
  free(leaves);
  if (memcmp(root, h->data_hash.data, ST_HASH_LEN) != 0) {
    *why = "data_hash does not match the txs";
    goto fail;
  }

  /* Evidence: form of each, then the root. */
  if (pb->n_evidence > ST_CONS__EVIDENCE_PER_BLOCK) {
    *why = "too much evidence in block";
    goto fail;
  }
  for (size_t i = 0; i < pb->n_evidence; i++) {
    st_cons__evidence_t *ev;
    if (st_cons__evidence_from_pb(chain_id, pb->evidence[i], &ev, why) != 0)
      goto fail;
    bool big = ev->len > ST_CONS__EVIDENCE_MAX_BYTES;
    bool late = ev->a->height >= h->height;
    st_cons__evidence_free(ev);
    if (big) {
      *why = "evidence too large";
      goto fail;
    }
    if (late) {
      *why = "evidence from the block's own height or later";
      goto fail;
    }
  }
  st_cons__evidence_root(pb, root);
  if (memcmp(root, h->evidence_hash.data, ST_HASH_LEN) != 0) {
    *why = "evidence_hash does not match the evidence";
    goto fail;
  }

  /* The parent's commit: empty at height 1, for the parent otherwise. */
  const Stratos__Cons__Commit *lc = pb->last_commit;
  if (h->height == 1) {
    if (!commit_is_empty(lc)) {
      *why = "block at height 1 carries a last commit";
      goto fail;
    }
  } else {
    if (!lc || lc->n_sigs == 0) {
      *why = "block without the commit of its parent";
      goto fail;
    }
    if (lc->n_sigs > lim->max_sigs) {
      *why = "last commit has too many signatures";
      goto fail;
    }
    if (lc->height != h->height - 1 || lc->block_hash.len != ST_HASH_LEN ||
        memcmp(lc->block_hash.data, h->last_block_hash.data, ST_HASH_LEN) != 0) {
      *why = "last commit is not for the parent block";
      goto fail;
    }
  }
  st_cons__commit_hash(commit_is_empty(lc) ? NULL : lc, root);
  if (memcmp(root, h->last_commit_hash.data, ST_HASH_LEN) != 0) {
    *why = "last_commit_hash does not match the last commit";
    goto fail;
  }

  st_hash(ST_DOM_BLOCK_HEADER, pb->header.data, pb->header.len, b->hash);
  b->bytes = pack_msg(&pb->base, &b->len);
  *out = b;
  return 0;

fail:
  st_cons__block_free(b);
  return rc;
}

void st_cons__block_free(st_cons__block_t *b) {
  if (!b)
    return;
  if (b->hdr)
    stratos__cons__header__free_unpacked(b->hdr, NULL);
  if (b->pb)
    stratos__cons__block__free_unpacked(b->pb, NULL);
  free(b->bytes);
  free(b);
}

/* ---- proposals ---- */

int st_cons__proposal_decode(const char *chain_id, const uint8_t *msg, size_t len,
                             const st_cons__limits_t *lim, st_cons__proposal_t **out,
                             const char **why) {
  *out = NULL;
  if (len == 0) {
    *why = "empty proposal";
    return ST_EPROTO;
  }
  Stratos__Cons__Proposal *m = stratos__cons__proposal__unpack(NULL, len, msg);
  if (!m) {
    *why = "undecodable proposal";
    return ST_EPROTO;
  }
  st_cons__proposal_t *p = NULL;
  Stratos__Cons__ProposalBody *b = NULL;
  int rc = ST_EPROTO;
  if (has_unknown(&m->base)) {
    *why = "unknown fields in proposal";
    goto out;
  }
  if (m->body.len == 0 || m->body.len > ST_CONS__BODY_MAX) {
    *why = "proposal body size out of range";
    goto out;
  }
  if (m->signature.len != ST_SIG_LEN) {
    *why = "bad proposal signature length";
    goto out;
  }
  if (!m->block) {
    *why = "proposal without a block";
    goto out;
  }
  b = stratos__cons__proposal_body__unpack(NULL, m->body.len, m->body.data);
  if (!b) {
    *why = "undecodable proposal body";
    goto out;
  }
  if (has_unknown(&b->base))
    *why = "unknown fields in proposal body";
  else if (!canonical(&b->base, m->body.data, m->body.len))
    *why = "proposal body not in canonical encoding";
  else if (!chain_is(b->chain_id, chain_id))
    *why = "proposal for another chain id";
  else if (b->height < 1)
    *why = "proposal height out of range";
  else if (b->round < 0 || b->round > ST_CONS__ROUND_MAX)
    *why = "proposal round out of range";
  else if (b->pol_round < -1 || b->pol_round >= b->round)
    *why = "proposal pol_round out of range";
  else if (b->block_hash.len != ST_HASH_LEN)
    *why = "bad proposal block hash length";
  else if (b->proposer.len != ST_ADDR_LEN)
    *why = "bad proposer address length";
  else if (b->time_ms < 0)
    *why = "negative proposal time";
  else
    rc = 0;
  if (rc != 0)
    goto out;
  p = calloc(1, sizeof(*p));
  if (!p)
    abort();
  p->height = b->height;
  p->round = b->round;
  p->pol_round = b->pol_round;
  memcpy(p->hash, b->block_hash.data, ST_HASH_LEN);
  p->time_ms = b->time_ms;
  memcpy(p->proposer, b->proposer.data, ST_ADDR_LEN);
  p->body = xmemdup(m->body.data, m->body.len);
  p->body_len = m->body.len;
  memcpy(p->sig, m->signature.data, ST_SIG_LEN);
  {
    size_t blen;
    uint8_t *bb = pack_msg(&m->block->base, &blen);
    rc = st_cons__block_decode(chain_id, bb, blen, lim, &p->block, why);
    free(bb);
  }
  if (rc != 0)
    goto out;
  if (memcmp(p->block->hash, p->hash, ST_HASH_LEN) != 0) {
    *why = "proposal block hash does not match its block";
    rc = ST_EPROTO;
    goto out;
  }
  if (p->block->hdr->height != p->height) {
    *why = "proposal block for another height";
    rc = ST_EPROTO;
    goto out;
  }
  p->msg = pack_msg(&m->base, &p->msg_len);
  *out = p;
  p = NULL;
out:
  if (b)
    stratos__cons__proposal_body__free_unpacked(b, NULL);
  stratos__cons__proposal__free_unpacked(m, NULL);
  st_cons__proposal_free(p);
  return rc;
}

int st_cons__proposal_verify(const char *chain_id, const uint8_t pk[ST_PUBKEY_LEN],
                             const st_cons__proposal_t *p) {
  return st_verify(pk, ST_DOM_PROPOSAL, chain_id, p->body, p->body_len, p->sig);
}

void st_cons__proposal_free(st_cons__proposal_t *p) {
  if (!p)
    return;
  free(p->body);
  free(p->msg);
  st_cons__block_free(p->block);
  free(p);
}
