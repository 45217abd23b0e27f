/* Placement: which resource nodes hold the replicas of a slice.
 *
 * A pure, deterministic function of the meta chain's view of the
 * resource nodes and a seed (a meta block hash mixed with the slice's
 * identity), so that every meta node computes the same answer and anyone
 * can check it. Integer arithmetic only: no floating point, whose
 * results could differ between builds.
 *
 * Candidates are online, unsuspended storage nodes (node_type & 4) with a
 * positive weight = deposit in whole STOS (floor, at least 1 when the
 * deposit is positive) times score (0..10000). Replicas are drawn one at
 * a time without replacement: draw r = H(seed || round)[0..16) as a
 * big-endian u128, take it modulo the remaining total weight, and walk
 * the candidates in address order to the one whose cumulative weight
 * passes r. Round i (from 0, one draw per replica) hashes
 * H(ST_DOM_FILE, seed || i as 4 bytes big-endian). A first pass skips
 * candidates whose host is already among the chosen ones; only when no
 * such candidate is left does a second pass allow a host twice. A node is
 * never chosen twice; two candidates with one address are refused
 * (ST_EINVAL). Scores above ST_PLACE_SCORE_MAX count as the maximum,
 * stake above 2^64-1 STOS as that; want 0 picks nothing. Hosts are told
 * apart by their bytes: one machine under several names counts as
 * several hosts. */
#ifndef STRATOS_META_PLACE_H
#define STRATOS_META_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stratos/st_bytes.h>
#include <stratos/st_crypto.h>

#define ST_PLACE_HOST_MAX 64
#define ST_PLACE_SCORE_MAX 10000
#define ST_PLACE_NODE_STORAGE 4u

typedef struct st_place_node {
  uint8_t addr[ST_ADDR_LEN];       /* node address */
  st_u128 deposit;                 /* effective deposit, wei */
  uint32_t score;                  /* 0..ST_PLACE_SCORE_MAX */
  uint32_t node_type;              /* bitmask: storage 4, database 2, computation 1 */
  bool online;
  bool suspended;
  char host[ST_PLACE_HOST_MAX + 1]; /* host part of the network address */
} st_place_node_t;

/* Picks up to want distinct nodes from nodes[0..n) for seed; writes their
 * indices into out (in draw order) and their number into *got (fewer
 * than want only when there are not enough candidates). nodes may be in
 * any order: the function sorts a private index by address. Returns 0,
 * ST_EINVAL for bad arguments or ST_ENOMEM. */
int st_place_pick(const st_place_node_t *nodes, size_t n, const uint8_t seed[ST_HASH_LEN],
                  size_t want, size_t *out, size_t *got);

/* The seed of a slice: H(ST_DOM_FILE, block_hash || slice_id). */
void st_place_seed(const uint8_t block_hash[ST_HASH_LEN], const uint8_t *slice_id,
                   size_t slice_len, uint8_t seed[ST_HASH_LEN]);

/* The host part of "host:port" or "[v6]:port" (the whole string when it
 * has no port), at most ST_PLACE_HOST_MAX bytes; used to tell hosts
 * apart. */
void st_place_host(const char *network_address, char out[ST_PLACE_HOST_MAX + 1]);

#endif
