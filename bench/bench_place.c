/* Placement cost: st_place_pick for 3 replicas among 1,000 storage nodes
 * (mixed deposits, scores and hosts), beside the reference of ordering
 * the same 1,000 candidates by address with qsort — the least any
 * placement that must not depend on input order does. Prints both and
 * RATIO place_vs_sort (time per pick / time per sort). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_crypto.h>
#include "meta/place.h"

#define N 1000
#define REPLICAS 3

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_addr(const void *a, const void *b) {
  return memcmp(((const st_place_node_t *)a)->addr, ((const st_place_node_t *)b)->addr,
                ST_ADDR_LEN);
}

int main(void) {
  static st_place_node_t nodes[N], copy[N];
  if (st_crypto_init() != 0)
    return 1;
  for (int i = 0; i < N; i++) {
    uint8_t h[ST_HASH_LEN];
    st_hash(ST_DOM_STATE, &i, sizeof(i), h);
    memcpy(nodes[i].addr, h, ST_ADDR_LEN);
    nodes[i].deposit = (st_u128)(1 + h[20] % 50) * 1000000000000000000ULL;
    nodes[i].score = 5000 + (uint32_t)(h[21] % 5000);
    nodes[i].node_type = 4;
    nodes[i].online = h[22] % 10 != 0;
    snprintf(nodes[i].host, sizeof(nodes[i].host), "10.0.%d.%d", i / 250, i % 250);
  }
  size_t out[REPLICAS], got = 0;
  long picks = 0;
  double t0 = now(), t;
  do {
    for (int k = 0; k < 100; k++) {
      uint8_t seed[ST_HASH_LEN];
      long s = picks + k;
      st_hash(ST_DOM_FILE, &s, sizeof(s), seed);
      if (st_place_pick(nodes, N, seed, REPLICAS, out, &got) != 0 || got != REPLICAS)
        return 2;
    }
    picks += 100;
    t = now();
  } while (t - t0 < 2.0);
  double pick_us = (t - t0) / (double)picks * 1e6;
  long sorts = 0;
  t0 = now();
  do {
    for (int k = 0; k < 100; k++) {
      memcpy(copy, nodes, sizeof(copy));
      qsort(copy, N, sizeof(copy[0]), by_addr);
    }
    sorts += 100;
    t = now();
  } while (t - t0 < 2.0);
  double sort_us = (t - t0) / (double)sorts * 1e6;
  printf("placement: %.1f us per pick of %d among %d nodes (%.0f picks/s)\n", pick_us,
         REPLICAS, N, 1e6 / pick_us);
  printf("reference: %.1f us to copy and sort the %d candidates by address\n", sort_us, N);
  printf("RATIO place_vs_sort=%.2f\n", pick_us / sort_us);
  return 0;
}
