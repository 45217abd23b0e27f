/* Proposer selection by weighted round robin, the priority algorithm of
 * CometBFT: at each step every validator's priority grows by its power,
 * the highest priority proposes (ties go to the lowest address) and pays
 * the total power back. Over any window a validator proposes in
 * proportion to its power.
 *
 * Before stepping, priorities are rescaled so that their spread stays
 * within twice the total power, and centred on zero, so that they stay
 * bounded forever. The state at the start of every height is stored with
 * the height's validator set, so every node computes the same proposer
 * for every (height, round): round r is r further steps from the start
 * state, and the next height starts one step after this one, whichever
 * round decided it. All arithmetic is integer and saturating. */
#include <stdlib.h>
#include <string.h>

#include "consensus/consensus_private.h"

static int64_t clip(__int128 v) {
  if (v > INT64_MAX)
    return INT64_MAX;
  if (v < INT64_MIN)
    return INT64_MIN;
  return (int64_t)v;
}

static void rescale(int64_t *prio, size_t n, int64_t total) {
  __int128 window = (__int128)2 * total;
  if (n == 0 || window <= 0)
    return;
  int64_t mx = prio[0], mn = prio[0];
  for (size_t i = 1; i < n; i++) {
    if (prio[i] > mx)
      mx = prio[i];
    if (prio[i] < mn)
      mn = prio[i];
  }
  __int128 diff = (__int128)mx - mn;
  if (diff <= window)
    return;
  __int128 ratio = (diff + window - 1) / window;
  for (size_t i = 0; i < n; i++)
    prio[i] = (int64_t)(prio[i] / ratio);
}

static void center(int64_t *prio, size_t n) {
  if (n == 0)
    return;
  __int128 sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += prio[i];
  /* Floor division, so that the result does not depend on the sign. */
  __int128 avg = sum / (__int128)n;
  if (sum % (__int128)n != 0 && sum < 0)
    avg -= 1;
  for (size_t i = 0; i < n; i++)
    prio[i] = clip((__int128)prio[i] - avg);
}

static size_t step(const st_cons_valset_t *vs, int64_t *prio, int64_t total) {
  size_t best = 0;
  for (size_t i = 0; i < vs->n; i++) {
    prio[i] = clip((__int128)prio[i] + vs->v[i].power);
    /* The set is sorted by address, so the first maximum has the lowest. */
    if (prio[i] > prio[best])
      best = i;
  }
  prio[best] = clip((__int128)prio[best] - total);
  return best;
}

size_t st_cons__proposer(const st_cons__vset_t *v, int32_t round) {
  size_t n = v->vs.n, who = 0;
  int64_t *prio = malloc(n * sizeof(*prio));
  if (!prio)
    abort();
  memcpy(prio, v->prio, n * sizeof(*prio));
  rescale(prio, n, v->total);
  center(prio, n);
  for (int64_t i = 0; i <= (int64_t)round; i++)
    who = step(&v->vs, prio, v->total);
  free(prio);
  return who;
}

st_cons__vset_t *st_cons__vset_advance(const st_cons__vset_t *v,
                                       const st_cons_valset_t *next) {
  size_t n = v->vs.n;
  int64_t *prio = malloc(n * sizeof(*prio));
  if (!prio)
    abort();
  memcpy(prio, v->prio, n * sizeof(*prio));
  rescale(prio, n, v->total);
  center(prio, n);
  step(&v->vs, prio, v->total);
  if (!next) {
    st_cons__vset_t *out = st_cons__vset_new(&v->vs, prio);
    free(prio);
    return out;
  }
  /* A validator that stays keeps its priority; a newcomer starts well
   * behind (minus 1.125 times the total power, as CometBFT does), so that
   * joining never makes it propose at once. */
  int64_t total = st_cons__valset_total(next);
  int64_t *np = malloc(next->n * sizeof(*np));
  if (!np)
    abort();
  for (size_t i = 0; i < next->n; i++) {
    int idx = st_cons__valset_index(&v->vs, next->v[i].addr);
    np[i] = idx >= 0 ? prio[idx] : clip(-((__int128)total + (total >> 3)));
  }
  rescale(np, next->n, total);
  center(np, next->n);
  st_cons__vset_t *out = st_cons__vset_new(next, np);
  free(prio);
  free(np);
  return out;
}
