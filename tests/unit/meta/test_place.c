/* Placement: deterministic whatever the input order, never two replicas
 * on one node, only eligible nodes, distinct hosts first, picks in
 * proportion to weight, and the exact draw the header specifies (checked
 * against a slow reference written from the header's text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meta/place.h"
#include "stratos/st_crypto.h"
#include "stratos/st_err.h"

#define STOS ((st_u128)1000000000000000000ULL)
#define MAXN 32

static int setup(void **state) {
  (void)state;
  return st_crypto_init();
}

/* ---- helpers ---- */

/* An eligible storage node. The address is a hash of id, so that address
 * order is unrelated to array order. */
static void node_init(st_place_node_t *nd, uint32_t id, const char *host, st_u128 deposit,
                      uint32_t score) {
  uint8_t idb[4] = {(uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
  uint8_t h[ST_HASH_LEN];

  memset(nd, 0, sizeof *nd);
  st_hash(ST_DOM_STATE, idb, sizeof idb, h);
  memcpy(nd->addr, h, ST_ADDR_LEN);
  nd->deposit = deposit;
  nd->score = score;
  nd->node_type = ST_PLACE_NODE_STORAGE;
  nd->online = true;
  snprintf(nd->host, sizeof nd->host, "%s", host);
}

/* Seed number i: a real slice seed under a fixed block hash. */
static void seed_of(uint32_t i, uint8_t seed[ST_HASH_LEN]) {
  uint8_t block[ST_HASH_LEN] = {0};
  uint8_t id[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
  st_place_seed(block, id, sizeof id, seed);
}

static size_t pick(const st_place_node_t *nodes, size_t n, uint32_t seed_no, size_t want,
                   size_t *out) {
  uint8_t seed[ST_HASH_LEN];
  size_t got = 99;
  seed_of(seed_no, seed);
  assert_int_equal(st_place_pick(nodes, n, seed, want, out, &got), 0);
  assert_true(got <= want);
  return got;
}

/* Fails unless out[0..got) are distinct indices below n. */
static void assert_distinct(const size_t *out, size_t got, size_t n) {
  for (size_t i = 0; i < got; i++) {
    assert_true(out[i] < n);
    for (size_t j = 0; j < i; j++)
      assert_true(out[i] != out[j]);
  }
}

/* ---- determinism ---- */

static void mixed_set(st_place_node_t *nodes, size_t n) {
  static const char *hosts[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "a.example", "b.example"};
  for (size_t i = 0; i < n; i++)
    node_init(&nodes[i], (uint32_t)i, hosts[i % 5], (st_u128)(i + 1) * STOS * 7,
              (uint32_t)(1000 + 700 * i));
}

static void test_order_does_not_matter(void **state) {
  (void)state;
  enum { N = 12 };
  st_place_node_t a[N], b[N];
  size_t perm[N], oa[N], ob[N];

  mixed_set(a, N);
  /* b is a shuffled by a fixed permutation (multiplication by 5 mod 12
   * is a bijection since gcd(5, 12) = 1). */
  for (size_t i = 0; i < N; i++) {
    perm[i] = (i * 5 + 3) % N;
    b[perm[i]] = a[i];
  }
  for (uint32_t s = 0; s < 500; s++) {
    size_t ga = pick(a, N, s, 7, oa), gb = pick(b, N, s, 7, ob);
    assert_int_equal(ga, 7);
    assert_int_equal(gb, 7);
    for (size_t k = 0; k < ga; k++)
      assert_int_equal(perm[oa[k]], ob[k]);
  }
}

static void test_same_seed_same_picks(void **state) {
  (void)state;
  enum { N = 12 };
  st_place_node_t a[N];
  size_t o1[N], o2[N];
  mixed_set(a, N);
  for (uint32_t s = 0; s < 100; s++) {
    pick(a, N, s, 5, o1);
    pick(a, N, s, 5, o2);
    assert_memory_equal(o1, o2, 5 * sizeof o1[0]);
  }
}

static void test_seeds_differ(void **state) {
  (void)state;
  enum { N = 12, SEEDS = 200 };
  st_place_node_t a[N];
  static size_t outs[SEEDS][3];
  size_t distinct = 0;

  mixed_set(a, N);
  for (uint32_t s = 0; s < SEEDS; s++)
    pick(a, N, s, 3, outs[s]);
  for (size_t s = 0; s < SEEDS; s++) {
    bool seen = false;
    for (size_t t = 0; t < s && !seen; t++)
      seen = memcmp(outs[s], outs[t], sizeof outs[s]) == 0;
    distinct += !seen;
  }
  /* 12 * 11 * 10 ordered triples exist; 200 seeds repeat few of them. */
  assert_true(distinct > SEEDS / 2);
}

/* ---- no node twice ---- */

static void test_every_node_once(void **state) {
  (void)state;
  enum { N = 9 };
  st_place_node_t a[N];
  size_t out[N + 5];
  mixed_set(a, N);
  for (uint32_t s = 0; s < 1000; s++) {
    assert_int_equal(pick(a, N, s, N, out), N);
    assert_distinct(out, N, N);
    /* Asking for more gives every node once and says so. */
    assert_int_equal(pick(a, N, s, N + 5, out), N);
    assert_distinct(out, N, N);
  }
}

/* ---- eligibility ---- */

static void test_ineligible_never_picked(void **state) {
  (void)state;
  enum { N = 8 };
  st_place_node_t a[N];
  size_t out[N];
  /* Every ineligible node would outweigh the eligible ones many times. */
  st_u128 big = (st_u128)1000000 * STOS;

  for (size_t i = 0; i < N; i++)
    node_init(&a[i], (uint32_t)i, "", big, ST_PLACE_SCORE_MAX);
  snprintf(a[0].host, sizeof a[0].host, "ok0");
  a[0].deposit = STOS;
  a[0].score = 1;
  snprintf(a[1].host, sizeof a[1].host, "ok1");
  a[1].deposit = 1; /* one wei: counts as one STOS */
  a[1].score = 1;
  a[1].node_type = ST_PLACE_NODE_STORAGE | 3u;
  a[2].online = false;
  a[3].suspended = true;
  a[4].node_type = 3u; /* database and computation, no storage */
  a[5].deposit = 0;
  a[6].score = 0;
  a[7].node_type = 0;
  for (uint32_t s = 0; s < 1000; s++) {
    assert_int_equal(pick(a, N, s, 4, out), 2);
    assert_true(out[0] <= 1 && out[1] <= 1 && out[0] != out[1]);
  }
  /* With no candidate at all the answer is empty, not an error. */
  a[0].online = false;
  a[1].suspended = true;
  assert_int_equal(pick(a, N, 1, 3, out), 0);
  assert_int_equal(pick(NULL, 0, 1, 3, out), 0);
}

/* ---- hosts ---- */

static void test_distinct_hosts_first(void **state) {
  (void)state;
  enum { N = 6 };
  static const char *hosts[N] = {"h0", "h0", "h1", "h1", "h2", "h2"};
  st_place_node_t a[N];
  size_t out[N];

  /* Host h0 carries most of the weight, so without the first pass it
   * would often get two replicas. */
  for (size_t i = 0; i < N; i++)
    node_init(&a[i], (uint32_t)i, hosts[i], (i < 2 ? 1000 : 1) * STOS, 5000);
  for (uint32_t s = 0; s < 1000; s++) {
    assert_int_equal(pick(a, N, s, 3, out), 3);
    assert_distinct(out, 3, N);
    assert_string_not_equal(a[out[0]].host, a[out[1]].host);
    assert_string_not_equal(a[out[0]].host, a[out[2]].host);
    assert_string_not_equal(a[out[1]].host, a[out[2]].host);

    assert_int_equal(pick(a, N, s, 4, out), 4);
    assert_distinct(out, 4, N);
    /* Three hosts are used up: the fourth must share one. */
    assert_true(strcmp(a[out[3]].host, a[out[0]].host) == 0 ||
                strcmp(a[out[3]].host, a[out[1]].host) == 0 ||
                strcmp(a[out[3]].host, a[out[2]].host) == 0);
  }
}

/* ---- distribution ---- */

/* Over seeds [0, seeds), the share of each node as the single pick
 * must be within 1.5 points of weight / total. Integer arithmetic:
 * |hits * 1000 * total - weight * 1000 * seeds| <= 15 * seeds * total. */
static void check_shares(const st_place_node_t *a, size_t n, const uint64_t *w,
                         uint32_t seeds) {
  uint64_t hits[MAXN] = {0}, total = 0;
  size_t out[1];

  for (size_t i = 0; i < n; i++)
    total += w[i];
  for (uint32_t s = 0; s < seeds; s++) {
    assert_int_equal(pick(a, n, s, 1, out), 1);
    hits[out[0]]++;
  }
  for (size_t i = 0; i < n; i++) {
    int64_t got = (int64_t)(hits[i] * 1000 * total);
    int64_t exp = (int64_t)(w[i] * 1000 * seeds);
    int64_t diff = got > exp ? got - exp : exp - got;
    print_message("node %zu: weight %llu/%llu, share %.4f\n", i, (unsigned long long)w[i],
                  (unsigned long long)total, (double)hits[i] / seeds);
    assert_true(diff <= (int64_t)(15 * (uint64_t)seeds * total));
  }
}

static void test_distribution_by_deposit(void **state) {
  (void)state;
  static const char *hosts[4] = {"a", "b", "c", "d"};
  const uint64_t w[4] = {1, 2, 3, 4};
  st_place_node_t a[4];
  for (size_t i = 0; i < 4; i++)
    node_init(&a[i], (uint32_t)i, hosts[i], (st_u128)w[i] * 1000 * STOS, 7000);
  check_shares(a, 4, w, 200000);
}

static void test_distribution_by_score(void **state) {
  (void)state;
  static const char *hosts[4] = {"a", "b", "c", "d"};
  const uint64_t w[4] = {1, 2, 3, 4};
  st_place_node_t a[4];
  /* Fractions of a STOS above one whole STOS are floored away. */
  for (size_t i = 0; i < 4; i++)
    node_init(&a[i], (uint32_t)(i + 100), hosts[i], 5 * STOS + STOS / 2,
              (uint32_t)w[i] * 2500);
  check_shares(a, 4, w, 200000);
}

static void test_distribution_three_of_ten(void **state) {
  (void)state;
  enum { N = 10, SEEDS = 100000 };
  st_place_node_t a[N];
  uint64_t hits[N] = {0};
  size_t out[3];
  char host[16];

  for (size_t i = 0; i < N; i++) {
    snprintf(host, sizeof host, "10.1.0.%zu", i);
    node_init(&a[i], (uint32_t)(i + 200), host, 10 * STOS, 10000);
  }
  for (uint32_t s = 0; s < SEEDS; s++) {
    assert_int_equal(pick(a, N, s, 3, out), 3);
    assert_distinct(out, 3, N);
    for (size_t k = 0; k < 3; k++)
      hits[out[k]]++;
  }
  for (size_t i = 0; i < N; i++) {
    print_message("node %zu: in %.4f of the draws\n", i, (double)hits[i] / SEEDS);
    /* 28% .. 32% */
    assert_true(hits[i] * 100 >= 28 * (uint64_t)SEEDS);
    assert_true(hits[i] * 100 <= 32 * (uint64_t)SEEDS);
  }
}

/* ---- weight edges ---- */

/* Two nodes whose weights the header makes equal must split about 50/50. */
static void check_even(const st_place_node_t *x, const st_place_node_t *y) {
  st_place_node_t a[2] = {*x, *y};
  const uint64_t w[2] = {1, 1};
  snprintf(a[0].host, sizeof a[0].host, "x");
  snprintf(a[1].host, sizeof a[1].host, "y");
  check_shares(a, 2, w, 20000);
}

static void test_weight_edges(void **state) {
  (void)state;
  st_place_node_t x, y;
  /* One wei counts as one STOS. */
  node_init(&x, 1, "", 1, 10000);
  node_init(&y, 2, "", STOS, 10000);
  check_even(&x, &y);
  /* 1.999 STOS is one STOS. */
  node_init(&x, 1, "", 2 * STOS - 1, 10000);
  check_even(&x, &y);
  /* The STOS part is clamped to 2^64 - 1, without overflow. */
  node_init(&x, 1, "", ~(st_u128)0, 10000);
  node_init(&y, 2, "", (st_u128)UINT64_MAX * STOS, 10000);
  check_even(&x, &y);
  /* A score above the maximum counts as the maximum. */
  node_init(&x, 1, "", 3 * STOS, 0xffffffffu);
  node_init(&y, 2, "", 3 * STOS, ST_PLACE_SCORE_MAX);
  check_even(&x, &y);
}

/* ---- the exact draw ---- */

/* The header's algorithm, written out plainly and slowly: weights,
 * address order, r = H(seed || u32 k BE)[0..16) mod the remaining
 * total, first pass on fresh hosts, second pass on the rest. */
static st_u128 ref_weight(const st_place_node_t *nd) {
  st_u128 stos = nd->deposit / STOS;
  if (!nd->online || nd->suspended || !(nd->node_type & 4u))
    return 0;
  if (stos == 0 && nd->deposit != 0)
    stos = 1;
  if (stos > UINT64_MAX)
    stos = UINT64_MAX;
  return stos * (nd->score > 10000 ? 10000 : nd->score);
}

static size_t ref_pick(const st_place_node_t *a, size_t n, const uint8_t seed[32],
                       size_t want, size_t *out) {
  size_t ord[MAXN], got = 0;
  bool taken[MAXN] = {false};

  for (size_t i = 0; i < n; i++)
    ord[i] = i;
  for (size_t i = 1; i < n; i++) /* insertion sort by address */
    for (size_t j = i; j > 0 && memcmp(a[ord[j - 1]].addr, a[ord[j]].addr, 20) > 0; j--) {
      size_t t = ord[j];
      ord[j] = ord[j - 1];
      ord[j - 1] = t;
    }
  while (got < want) {
    uint8_t msg[36], h[32];
    st_u128 r = 0, tot[2] = {0, 0}, cum = 0;
    int pass;
    memcpy(msg, seed, 32);
    msg[32] = 0, msg[33] = 0, msg[34] = (uint8_t)(got >> 8), msg[35] = (uint8_t)got;
    st_hash(ST_DOM_FILE, msg, 36, h);
    for (int i = 0; i < 16; i++)
      r = r << 8 | h[i];
    for (int p = 0; p < 2; p++)
      for (size_t i = 0; i < n; i++) {
        bool fresh = true;
        for (size_t c = 0; c < got; c++)
          fresh = fresh && strcmp(a[i].host, a[out[c]].host) != 0;
        if (!taken[i] && (p == 1 || fresh))
          tot[p] += ref_weight(&a[i]);
      }
    pass = tot[0] > 0 ? 0 : 1;
    if (tot[pass] == 0)
      break;
    r %= tot[pass];
    for (size_t k = 0; k < n; k++) {
      size_t i = ord[k];
      bool fresh = true;
      for (size_t c = 0; c < got; c++)
        fresh = fresh && strcmp(a[i].host, a[out[c]].host) != 0;
      if (taken[i] || (pass == 0 && !fresh) || ref_weight(&a[i]) == 0)
        continue;
      cum += ref_weight(&a[i]);
      if (r < cum) {
        taken[i] = true;
        out[got++] = i;
        break;
      }
    }
  }
  return got;
}

static void test_matches_reference(void **state) {
  (void)state;
  static const char *hosts[] = {"h0", "h1", "h2", "h3", ""};
  st_place_node_t a[MAXN];
  size_t want_out[MAXN + 2], got_out[MAXN + 2];

  for (uint32_t s = 0; s < 3000; s++) {
    uint8_t seed[32], h[32];
    size_t n, want, got;
    seed_of(s, seed);
    /* A random-looking node set derived from the seed itself. */
    st_hash(ST_DOM_KV, seed, 32, h);
    n = 1 + h[0] % 20;
    want = 1 + h[1] % (n + 2);
    for (size_t i = 0; i < n; i++) {
      uint8_t r[32], ib[2] = {(uint8_t)i, h[2]};
      st_hash(ST_DOM_KV, ib, 2, r);
      node_init(&a[i], (uint32_t)(s * 64 + i), hosts[r[0] % 5], 0, 0);
      a[i].deposit = (r[1] % 4 == 0) ? (st_u128)r[2] * 1000 : (st_u128)r[2] << (r[3] % 120);
      a[i].score = (uint32_t)(r[4] | r[5] << 8) % 10001 + (r[6] == 0 ? 50000 : 0);
      /* Half of the sets have weights of a few units, so that r often
       * lands exactly on a cumulative boundary. */
      if (h[3] % 2 == 0) {
        a[i].deposit = (st_u128)(r[2] % 3 + 1) * STOS;
        a[i].score = r[4] % 4;
      }
      /* A third of the sets share the first 12 address bytes, so that
       * only the later bytes order them. */
      if (h[4] % 3 == 0)
        memset(a[i].addr, 0xab, 12);
      a[i].online = r[7] % 8 != 0;
      a[i].suspended = r[8] % 8 == 0;
      a[i].node_type = r[9] % 8;
    }
    assert_int_equal(st_place_pick(a, n, seed, want, got_out, &got), 0);
    assert_int_equal(got, ref_pick(a, n, seed, want, want_out));
    assert_memory_equal(got_out, want_out, got * sizeof got_out[0]);
  }
}

/* ---- hosts from network addresses ---- */

static void assert_host(const char *in, const char *want) {
  char out[ST_PLACE_HOST_MAX + 1];
  memset(out, 'z', sizeof out);
  st_place_host(in, out);
  assert_string_equal(out, want);
}

static void test_host(void **state) {
  (void)state;
  char longer[200];

  assert_host("1.2.3.4:5", "1.2.3.4");
  assert_host("1.2.3.4", "1.2.3.4");
  assert_host("[::1]:80", "::1");
  assert_host("[::1]", "::1");
  assert_host("[2001:DB8::1]:26656", "2001:db8::1");
  assert_host("example.org", "example.org");
  assert_host("Example.ORG:443", "example.org");
  assert_host("host:", "host");
  assert_host(":80", "");
  /* Two colons and no brackets: a bare IPv6 address has no port, and a
   * malformed string is not guessed at, so both are taken whole. */
  assert_host("host:port:extra", "host:port:extra");
  assert_host("::1", "::1");
  /* An unclosed bracket is no IPv6 literal either. */
  assert_host("[::1", "[::1");
  assert_host("", "");
  assert_host(NULL, "");
  /* Cut to ST_PLACE_HOST_MAX bytes, always terminated. */
  memset(longer, 'a', sizeof longer);
  memcpy(longer + 150, ".org:1", 7);
  {
    char want[ST_PLACE_HOST_MAX + 1];
    memset(want, 'a', ST_PLACE_HOST_MAX);
    want[ST_PLACE_HOST_MAX] = '\0';
    assert_host(longer, want);
  }
}

/* ---- the seed ---- */

static void test_seed(void **state) {
  (void)state;
  uint8_t block[ST_HASH_LEN], buf[ST_HASH_LEN + 40], want[ST_HASH_LEN], got[ST_HASH_LEN];
  const char *slice = "slice-0001:sha256-of-something";
  size_t sl = strlen(slice);

  for (size_t i = 0; i < sizeof block; i++)
    block[i] = (uint8_t)(i * 7 + 1);
  memcpy(buf, block, sizeof block);
  memcpy(buf + sizeof block, slice, sl);
  st_hash(ST_DOM_FILE, buf, sizeof block + sl, want);
  st_place_seed(block, (const uint8_t *)slice, sl, got);
  assert_memory_equal(got, want, ST_HASH_LEN);

  /* An empty slice id hashes the block hash alone. */
  st_hash(ST_DOM_FILE, block, sizeof block, want);
  st_place_seed(block, NULL, 0, got);
  assert_memory_equal(got, want, ST_HASH_LEN);
}

/* ---- bad arguments ---- */

static void test_bad_args(void **state) {
  (void)state;
  st_place_node_t a[3];
  uint8_t seed[ST_HASH_LEN] = {1};
  size_t out[3], got = 77;

  mixed_set(a, 3);
  assert_int_equal(st_place_pick(NULL, 3, seed, 1, out, &got), ST_EINVAL);
  assert_int_equal(got, 0);
  got = 77;
  assert_int_equal(st_place_pick(a, 3, NULL, 1, out, &got), ST_EINVAL);
  assert_int_equal(got, 0);
  assert_int_equal(st_place_pick(a, 3, seed, 1, NULL, &got), ST_EINVAL);
  assert_int_equal(st_place_pick(a, 3, seed, 1, out, NULL), ST_EINVAL);
  /* want 0 is a valid, empty request; out is not needed for it. */
  got = 77;
  assert_int_equal(st_place_pick(a, 3, seed, 0, NULL, &got), 0);
  assert_int_equal(got, 0);
  /* Two candidates with one address cannot be ordered. */
  a[2] = a[0];
  got = 77;
  assert_int_equal(st_place_pick(a, 3, seed, 2, out, &got), ST_EINVAL);
  assert_int_equal(got, 0);
  /* ...but a duplicate that is no candidate changes nothing. */
  a[2].online = false;
  assert_int_equal(st_place_pick(a, 3, seed, 2, out, &got), 0);
  assert_int_equal(got, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_order_does_not_matter),
    cmocka_unit_test(test_same_seed_same_picks),
    cmocka_unit_test(test_seeds_differ),
    cmocka_unit_test(test_every_node_once),
    cmocka_unit_test(test_ineligible_never_picked),
    cmocka_unit_test(test_distinct_hosts_first),
    cmocka_unit_test(test_distribution_by_deposit),
    cmocka_unit_test(test_distribution_by_score),
    cmocka_unit_test(test_distribution_three_of_ten),
    cmocka_unit_test(test_weight_edges),
    cmocka_unit_test(test_matches_reference),
    cmocka_unit_test(test_host),
    cmocka_unit_test(test_seed),
    cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
