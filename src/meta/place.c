/* Placement of slice replicas on resource nodes (see place.h).
 *
 * Every meta node must reach the same answer from the same view, so the
 * only inputs are the node records and the seed: the order of the
 * records, the platform and the build must not matter. Hence a private
 * index sorted by address, integer weights, and one hash per draw.
 *
 * Choices the header leaves open, fixed here so that they are part of
 * the protocol:
 *  - draw k (k = 0 for the first replica) hashes seed || u32 k BE;
 *  - two candidates with the same address are bad arguments (ST_EINVAL):
 *    no order of them could be told apart, so the answer would depend on
 *    the input order;
 *  - a score above ST_PLACE_SCORE_MAX counts as ST_PLACE_SCORE_MAX;
 *  - hosts are equal when their bytes are (st_place_host lowercases). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stratos/st_err.h>

#include "meta/place.h"

/* One STOS in wei. */
#define WEI_PER_STOS ((st_u128)1000000000000000000ULL)

/* Keeps the total weight inside 128 bits: a weight is below
 * 2^64 * 10^4 < 2^78, so 2^32 candidates sum below 2^110. */
#define PLACE_N_MAX UINT32_MAX

/* Ordered: walk() takes every slot whose state is at most a bound. */
enum { SLOT_FREE, SLOT_HOST_TAKEN, SLOT_CHOSEN };

typedef struct slot {
  uint64_t key; /* the address's first 8 bytes, big-endian */
  const st_place_node_t *node;
  size_t idx;   /* index into the caller's array */
  st_u128 w;    /* weight, > 0 */
  int state;    /* SLOT_* */
} slot_t;

typedef struct pool {
  slot_t *s;        /* candidates in address order */
  size_t n;
  st_u128 w_free;   /* weight of SLOT_FREE slots */
  st_u128 w_left;   /* weight of slots not yet chosen */
} pool_t;

/* ---- weights ---- */

static st_u128 node_weight(const st_place_node_t *nd) {
  st_u128 stos = nd->deposit / WEI_PER_STOS;
  uint32_t score = nd->score;

  /* A deposit below one STOS still stakes something: it must not make
   * the node invisible. */
  if (stos == 0 && nd->deposit > 0)
    stos = 1;
  /* No supply reaches 2^64 STOS; clamping rather than refusing keeps
   * placement working for everyone whatever one record says. */
  if (stos > UINT64_MAX)
    stos = UINT64_MAX;
  if (score > ST_PLACE_SCORE_MAX)
    score = ST_PLACE_SCORE_MAX;
  return stos * score;
}

static bool is_candidate(const st_place_node_t *nd) {
  return nd->online && !nd->suspended && (nd->node_type & ST_PLACE_NODE_STORAGE) != 0;
}

/* ---- the sorted index ---- */

/* Address order. The sort dominates the cost of a pick, so most
 * comparisons are settled by one integer compare of a big-endian prefix,
 * which orders exactly as memcmp does; memcmp only breaks its ties. */
static int slot_cmp(const void *a, const void *b) {
  const slot_t *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return memcmp(x->node->addr, y->node->addr, ST_ADDR_LEN);
}

static uint64_t addr_key(const uint8_t addr[ST_ADDR_LEN]) {
  uint64_t k = 0;
  for (int i = 0; i < 8; i++)
    k = (k << 8) | addr[i];
  return k;
}

/* Fills p with the candidates of nodes[0..n) in address order. */
static int pool_build(pool_t *p, const st_place_node_t *nodes, size_t n) {
  memset(p, 0, sizeof *p);
  if (n == 0)
    return 0;
  if (n > SIZE_MAX / sizeof *p->s)
    return ST_ENOMEM;
  p->s = malloc(n * sizeof *p->s);
  if (p->s == NULL)
    return ST_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    st_u128 w = is_candidate(&nodes[i]) ? node_weight(&nodes[i]) : 0;
    if (w == 0)
      continue;
    p->s[p->n] = (slot_t){
      .key = addr_key(nodes[i].addr), .node = &nodes[i], .idx = i, .w = w, .state = SLOT_FREE};
    p->w_left += w;
    p->n++;
  }
  p->w_free = p->w_left;
  qsort(p->s, p->n, sizeof *p->s, slot_cmp);
  /* qsort is not stable and equal keys have no defined order. */
  for (size_t i = 1; i < p->n; i++)
    if (slot_cmp(&p->s[i - 1], &p->s[i]) == 0)
      return ST_EINVAL;
  return 0;
}

/* ---- draws ---- */

/* r = H(ST_DOM_FILE, seed || u32 round BE)[0..16) as a big-endian u128. */
static st_u128 draw(const uint8_t seed[ST_HASH_LEN], uint32_t round) {
  uint8_t msg[ST_HASH_LEN + 4], h[ST_HASH_LEN];
  st_u128 r = 0;

  memcpy(msg, seed, ST_HASH_LEN);
  msg[ST_HASH_LEN + 0] = (uint8_t)(round >> 24);
  msg[ST_HASH_LEN + 1] = (uint8_t)(round >> 16);
  msg[ST_HASH_LEN + 2] = (uint8_t)(round >> 8);
  msg[ST_HASH_LEN + 3] = (uint8_t)round;
  st_hash(ST_DOM_FILE, msg, sizeof msg, h);
  for (int i = 0; i < 16; i++)
    r = (r << 8) | h[i];
  return r;
}

/* The slot whose cumulative weight, over slots in a state up to max_state,
 * first passes r (r < that total, so one always does). */
static size_t walk(const pool_t *p, int max_state, st_u128 r) {
  st_u128 cum = 0;
  size_t last = 0;

  for (size_t i = 0; i < p->n; i++) {
    if (p->s[i].state > max_state)
      continue;
    cum += p->s[i].w;
    last = i;
    if (r < cum)
      break;
  }
  return last;
}

/* Marks slot k chosen and every free slot on its host as taken, keeping
 * both running totals exact. */
static void choose(pool_t *p, size_t k) {
  const char *host = p->s[k].node->host;

  for (size_t i = 0; i < p->n; i++) {
    slot_t *s = &p->s[i];
    if (s->state != SLOT_FREE)
      continue;
    /* Bounded: a host field not NUL-terminated is read no further than
     * its array. */
    if (strncmp(s->node->host, host, sizeof s->node->host) != 0)
      continue;
    s->state = SLOT_HOST_TAKEN;
    p->w_free -= s->w;
  }
  p->s[k].state = SLOT_CHOSEN;
  p->w_left -= p->s[k].w;
}

/* One replica: from the nodes on fresh hosts when there are any, else
 * from every node not yet chosen. The modulo bias is below
 * total / 2^128 < 2^-18 and does not matter. */
static size_t pick_one(pool_t *p, const uint8_t seed[ST_HASH_LEN], uint32_t round) {
  st_u128 r = draw(seed, round);
  size_t k;

  if (p->w_free > 0)
    k = walk(p, SLOT_FREE, r % p->w_free);
  else
    k = walk(p, SLOT_HOST_TAKEN, r % p->w_left);
  choose(p, k);
  return p->s[k].idx;
}

/* ---- public ---- */

int st_place_pick(const st_place_node_t *nodes, size_t n, const uint8_t seed[ST_HASH_LEN],
                  size_t want, size_t *out, size_t *got) {
  pool_t p;
  size_t k = 0;
  int rc;

  if (got != NULL)
    *got = 0;
  if (got == NULL || seed == NULL || (nodes == NULL && n > 0) ||
      (out == NULL && want > 0) || (uint64_t)n > PLACE_N_MAX)
    return ST_EINVAL;
  if (want == 0)
    return 0;
  rc = pool_build(&p, nodes, n);
  if (rc == 0) {
    /* k < n <= UINT32_MAX, so the round number never wraps. */
    for (; k < want && p.w_left > 0; k++)
      out[k] = pick_one(&p, seed, (uint32_t)k);
    *got = k;
  }
  free(p.s);
  return rc;
}

void st_place_seed(const uint8_t block_hash[ST_HASH_LEN], const uint8_t *slice_id,
                   size_t slice_len, uint8_t seed[ST_HASH_LEN]) {
  st_hash_ctx_t c;

  st_hash_init(&c, ST_DOM_FILE);
  st_hash_update(&c, block_hash, ST_HASH_LEN);
  st_hash_update(&c, slice_id, slice_len);
  st_hash_final(&c, seed);
}

/* Copies s[0..len), cut to ST_PLACE_HOST_MAX bytes and lowercased: DNS
 * names and IPv6 hex digits ignore case, and two spellings of one host
 * must compare equal. ASCII only, by hand: tolower() follows the locale,
 * and nodes must not disagree over their locales. */
static void host_copy(const char *s, size_t len, char out[ST_PLACE_HOST_MAX + 1]) {
  if (len > ST_PLACE_HOST_MAX)
    len = ST_PLACE_HOST_MAX;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  out[len] = '\0';
}

/* "[v6]:port" or "[v6]" gives v6; "host:port" gives host. A string with
 * two or more colons and no brackets is taken whole: it is either a bare
 * IPv6 address, which carries no port, or malformed ("host:port:extra"),
 * and cutting it at some colon would be a guess. */
void st_place_host(const char *network_address, char out[ST_PLACE_HOST_MAX + 1]) {
  const char *s = network_address, *colon, *end;

  if (s == NULL) {
    out[0] = '\0';
    return;
  }
  if (s[0] == '[' && (end = strchr(s, ']')) != NULL) {
    host_copy(s + 1, (size_t)(end - s - 1), out);
    return;
  }
  colon = strchr(s, ':');
  if (colon != NULL && strchr(colon + 1, ':') == NULL)
    host_copy(s, (size_t)(colon - s), out);
  else
    host_copy(s, strlen(s), out);
}
