/* Hashing a file into slices and a file root with the streaming hasher
 * (1 MiB pieces, 32 MiB slices), beside plain BLAKE2b over the same bytes
 * in one call — the reference of bench/upload's "ratio to hashing".
 * Prints both in MB/s and RATIO file_hasher_vs_blake2b. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_crypto.h>
#include <stratos/st_file.h>

#define SIZE (256u << 20)
#define PIECE (1u << 20)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run_hasher(const uint8_t *data) {
  st_file_hasher_t *h;
  uint8_t root[ST_HASH_LEN];
  uint64_t size, n;
  double t0 = now();
  if (st_file_hasher_new(ST_FILE_SLICE_DEFAULT, NULL, NULL, &h) != 0)
    exit(2);
  for (size_t off = 0; off < SIZE; off += PIECE)
    if (st_file_hasher_update(h, data + off, PIECE) != 0)
      exit(2);
  if (st_file_hasher_final(h, &size, root, &n) != 0 || size != SIZE)
    exit(2);
  st_file_hasher_free(h);
  return now() - t0;
}

static double run_plain(const uint8_t *data) {
  uint8_t out[ST_HASH_LEN];
  double t0 = now();
  st_hash(ST_DOM_FILE, data, SIZE, out);
  return now() - t0;
}

int main(void) {
  if (st_crypto_init() != 0)
    return 1;
  uint8_t *data = malloc(SIZE);
  if (!data)
    return 1;
  for (size_t i = 0; i < SIZE; i++)
    data[i] = (uint8_t)(i * 2654435761u >> 13);
  double best_h = 1e9, best_p = 1e9;
  for (int round = 0; round < 3; round++) {
    double h = run_hasher(data), p = run_plain(data);
    best_h = h < best_h ? h : best_h;
    best_p = p < best_p ? p : best_p;
  }
  double mb = (double)SIZE / 1e6;
  printf("file hasher: %.0f MB/s (256 MiB, 32 MiB slices, 1 MiB pieces, best of 3)\n",
         mb / best_h);
  printf("reference: BLAKE2b in one call: %.0f MB/s\n", mb / best_p);
  printf("RATIO file_hasher_vs_blake2b=%.2f\n", best_p / best_h);
  free(data);
  return 0;
}
