/* Vote sets: the prevotes or precommits of one height and round, one slot
 * per validator, with running sums by value so that every quorum question
 * ("more than 2/3 for anything", "more than 2/3 for this block or for
 * nil") is answered without a scan of the votes.
 *
 * A validator's first vote counts. A second vote for the same value is a
 * duplicate; one for a different value is a conflict that the caller
 * turns into evidence. Powers are bounded (ST_CONS__MAX_TOTAL_POWER) so
 * 3 * power never overflows. */
#include <stdlib.h>
#include <string.h>

#include <stratos/st_err.h>

#include "consensus/consensus_private.h"

int st_cons__voteset_init(st_cons__voteset_t *s, int type, int64_t height, int32_t round,
                          const st_cons__vset_t *vs) {
  memset(s, 0, sizeof(*s));
  s->type = type;
  s->height = height;
  s->round = round;
  s->vs = vs;
  s->votes = calloc(vs->vs.n, sizeof(*s->votes));
  s->captallies = vs->vs.n + 1;
  s->tallies = calloc(s->captallies, sizeof(*s->tallies));
  if (!s->votes || !s->tallies)
    abort();
  return 0;
}

void st_cons__voteset_free(st_cons__voteset_t *s) {
  if (!s || !s->vs)
    return;
  for (size_t i = 0; i < s->vs->vs.n; i++)
    st_cons__vote_free(s->votes[i]);
  for (size_t i = 0; i < s->nextra; i++)
    st_cons__vote_free(s->extra[i]);
  free(s->extra);
  free(s->votes);
  free(s->tallies);
  memset(s, 0, sizeof(*s));
}

static bool same_value(bool nil_a, const uint8_t *a, bool nil_b, const uint8_t *b) {
  if (nil_a || nil_b)
    return nil_a == nil_b;
  return memcmp(a, b, ST_HASH_LEN) == 0;
}

/* Adds pw to the tally of v's value. */
static void tally(st_cons__voteset_t *s, const st_cons__vote_t *v, int64_t pw) {
  for (size_t i = 0; i < s->ntallies; i++) {
    st_cons__tally_t *t = &s->tallies[i];
    if (same_value(t->nil, t->hash, v->nil, v->hash)) {
      t->power += pw;
      return;
    }
  }
  if (s->ntallies == s->captallies) {
    size_t cap = s->captallies * 2;
    st_cons__tally_t *t = realloc(s->tallies, cap * sizeof(*t));
    if (!t)
      abort();
    s->tallies = t;
    s->captallies = cap;
  }
  st_cons__tally_t *t = &s->tallies[s->ntallies++];
  t->nil = v->nil;
  memcpy(t->hash, v->hash, ST_HASH_LEN);
  t->power = pw;
}

int st_cons__voteset_add(st_cons__voteset_t *s, st_cons__vote_t *v,
                         const st_cons__vote_t **conflict) {
  if (v->vindex < 0 || (size_t)v->vindex >= s->vs->vs.n || v->type != s->type ||
      v->height != s->height || v->round != s->round)
    return ST_EINVAL;
  st_cons__vote_t *old = s->votes[v->vindex];
  if (old) {
    if (same_value(old->nil, old->hash, v->nil, v->hash))
      return ST_EEXIST;
    if (conflict)
      *conflict = old;
    return ST_EPERM;
  }
  s->votes[v->vindex] = v;
  int64_t pw = s->vs->vs.v[v->vindex].power;
  s->sum += pw;
  tally(s, v, pw);
  return 0;
}

int st_cons__voteset_add_extra(st_cons__voteset_t *s, st_cons__vote_t *v) {
  if (v->vindex < 0 || (size_t)v->vindex >= s->vs->vs.n || v->type != s->type ||
      v->height != s->height || v->round != s->round || !s->votes[v->vindex])
    return ST_EINVAL;
  const st_cons__vote_t *first = s->votes[v->vindex];
  if (same_value(first->nil, first->hash, v->nil, v->hash))
    return ST_EEXIST;
  for (size_t i = 0; i < s->nextra; i++)
    if (s->extra[i]->vindex == v->vindex &&
        same_value(s->extra[i]->nil, s->extra[i]->hash, v->nil, v->hash))
      return ST_EEXIST;
  if (s->nextra == s->capextra) {
    size_t cap = s->capextra ? s->capextra * 2 : 4;
    st_cons__vote_t **e = realloc(s->extra, cap * sizeof(*e));
    if (!e)
      abort();
    s->extra = e;
    s->capextra = cap;
  }
  s->extra[s->nextra++] = v;
  tally(s, v, s->vs->vs.v[v->vindex].power);
  return 0;
}

bool st_cons__voteset_two_thirds_any(const st_cons__voteset_t *s) {
  return 3 * s->sum > 2 * s->vs->total;
}

bool st_cons__voteset_majority(const st_cons__voteset_t *s, bool *nil,
                               uint8_t hash[ST_HASH_LEN]) {
  for (size_t i = 0; i < s->ntallies; i++) {
    const st_cons__tally_t *t = &s->tallies[i];
    if (3 * t->power > 2 * s->vs->total) {
      *nil = t->nil;
      memcpy(hash, t->hash, ST_HASH_LEN);
      return true;
    }
  }
  return false;
}

int64_t st_cons__voteset_power_for(const st_cons__voteset_t *s, bool nil,
                                   const uint8_t *hash) {
  for (size_t i = 0; i < s->ntallies; i++)
    if (same_value(s->tallies[i].nil, s->tallies[i].hash, nil, hash))
      return s->tallies[i].power;
  return 0;
}

Stratos__Cons__Commit *st_cons__voteset_commit(const st_cons__voteset_t *s,
                                               const uint8_t hash[ST_HASH_LEN]) {
  Stratos__Cons__Commit *cm = calloc(1, sizeof(*cm));
  if (!cm)
    abort();
  stratos__cons__commit__init(cm);
  cm->height = s->height;
  cm->round = s->round;
  cm->block_hash.data = malloc(ST_HASH_LEN);
  if (!cm->block_hash.data)
    abort();
  memcpy(cm->block_hash.data, hash, ST_HASH_LEN);
  cm->block_hash.len = ST_HASH_LEN;
  cm->sigs = calloc(s->vs->vs.n, sizeof(*cm->sigs));
  if (!cm->sigs)
    abort();
  for (size_t i = 0; i < s->vs->vs.n; i++) {
    const st_cons__vote_t *v = s->votes[i];
    if (v && (v->nil || memcmp(v->hash, hash, ST_HASH_LEN) != 0))
      v = NULL;
    /* A validator whose first precommit was for something else may have
     * a kept one for this block. */
    for (size_t k = 0; !v && k < s->nextra; k++)
      if (s->extra[k]->vindex == (int)i && !s->extra[k]->nil &&
          memcmp(s->extra[k]->hash, hash, ST_HASH_LEN) == 0)
        v = s->extra[k];
    if (!v)
      continue;
    Stratos__Cons__CommitSig *cs = calloc(1, sizeof(*cs));
    if (!cs)
      abort();
    stratos__cons__commit_sig__init(cs);
    cs->vote_body.data = malloc(v->body_len);
    cs->signature.data = malloc(ST_SIG_LEN);
    if (!cs->vote_body.data || !cs->signature.data)
      abort();
    memcpy(cs->vote_body.data, v->body, v->body_len);
    cs->vote_body.len = v->body_len;
    memcpy(cs->signature.data, v->sig, ST_SIG_LEN);
    cs->signature.len = ST_SIG_LEN;
    cm->sigs[cm->n_sigs++] = cs;
  }
  return cm;
}

void st_cons__commit_free(Stratos__Cons__Commit *cm) {
  if (!cm)
    return;
  for (size_t i = 0; i < cm->n_sigs; i++) {
    free(cm->sigs[i]->vote_body.data);
    free(cm->sigs[i]->signature.data);
    free(cm->sigs[i]);
  }
  free(cm->sigs);
  free(cm->block_hash.data);
  free(cm);
}
