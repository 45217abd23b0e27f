/* The reference of bench/chain: how many ed25519 signature verifications
 * one core does per second with libsodium, on this machine, now. Prints
 * the figure as "verify_per_core=N". */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  enum { N = 256 };
  static unsigned char pk[N][32], sk[N][64], msg[N][200], sig[N][64];
  for (int i = 0; i < N; i++) {
    crypto_sign_keypair(pk[i], sk[i]);
    randombytes_buf(msg[i], sizeof(msg[i]));
    crypto_sign_detached(sig[i], NULL, msg[i], sizeof(msg[i]), sk[i]);
  }
  long done = 0;
  double t0 = now(), t;
  do {
    for (int i = 0; i < N; i++)
      if (crypto_sign_verify_detached(sig[i], msg[i], sizeof(msg[i]), pk[i]) != 0)
        return 2;
    done += N;
    t = now();
  } while (t - t0 < 2.0);
  printf("verify_per_core=%.0f\n", (double)done / (t - t0));
  return 0;
}
