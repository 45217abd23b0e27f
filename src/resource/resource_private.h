/* The holder side of the storage protocol (include/stratos/st_resource.h,
 * proto/storage.proto), as an engine the resource module feeds: frames of
 * ST_CH_RESOURCE and ST_CH_RESOURCE_REPLY, peers that leave, a tick for
 * time-outs and a garbage-collection round. Everything it says goes out
 * through the send hook, so the engine runs without a network (the unit
 * tests drive it with a loop of their own).
 *
 * It keeps three kinds of work, all bounded:
 * - transfers: slices a gateway sends (SliceOffer, then ST_RES_DATA),
 *   keyed by (peer, xfer), at most ST_RES__XFER_MAX open and
 *   ST_RES__XFER_PEER_MAX per peer;
 * - pulls: slices a meta node asks this node to fetch from another
 *   holder (SlicePull), at most ST_RES__PULL_MAX at a time;
 * - checks: SliceCheck questions to meta nodes about slices nobody has
 *   claimed for gc_grace_ms, at most ST_RES__CHECK_MAX_OPEN open.
 * Both kinds of writing end in a commit whose fsync runs on the libuv
 * thread pool (st_slice_write_flush); the index record is then written on
 * the loop thread. Loop thread only, except that worker. */
#ifndef STRATOS_RESOURCE_RESOURCE_PRIVATE_H
#define STRATOS_RESOURCE_RESOURCE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <stratos/st_crypto.h>
#include <stratos/st_metrics.h>
#include <stratos/st_net.h>
#include "resource/store.h"

#define ST_RES__XFER_MAX 64
#define ST_RES__XFER_PEER_MAX 8
#define ST_RES__PULL_MAX 4
/* Blocks a pull asks for ahead of the one it writes next. */
#define ST_RES__PULL_INFLIGHT 4
#define ST_RES__CHECK_MAX_OPEN 4
/* A peer that sends a frame that does not decode is banned this long. */
#define ST_RES__BAN_SECONDS 600

/* Sends a frame: to a node (this one included), or, with to == NULL, to
 * every connected peer and to this node's own meta module if it runs
 * one. head and body are copied (either may be empty). */
typedef int (*st_res__send_fn)(void *ud, const uint8_t *to, uint32_t channel, uint32_t type,
                               const void *head, size_t hlen, const void *body, size_t blen);
/* Bans a peer that sent an undecodable frame (never called for this
 * node itself). */
typedef void (*st_res__ban_fn)(void *ud, const uint8_t peer[ST_ADDR_LEN], const char *reason);
typedef int64_t (*st_res__clock_fn)(void *ud);

typedef struct st_res__cfg {
  uv_loop_t *loop;
  st_slice_store_t *store;     /* borrowed; must outlive the engine */
  const st_keypair_t *key;     /* the node key, borrowed likewise */
  /* The meta chain's id, copied; NULL or "" when unknown: offers and
   * pulls are then refused (ST_ECONFIG), since no receipt can be
   * signed. */
  const char *meta_chain_id;
  /* The meta nodes whose SliceCheck answers may drop slices here,
   * copied. This node counts when self_meta. */
  const uint8_t (*meta)[ST_ADDR_LEN];
  size_t nmeta;
  bool self_meta;
  int64_t gc_grace_ms;         /* > 0 */
  /* Free disk the node keeps: offers and pulls that would leave less
   * (with what transfers and pulls still write) are refused. */
  uint64_t reserve_bytes;
  st_res__send_fn send;
  st_res__ban_fn ban;          /* may be NULL */
  void *ud;                    /* for send and ban */
  st_metric_t *m_served;       /* counter of block bytes served; may be NULL */
  /* Clocks in ms, for tests; NULL: uv_now (time-outs) and the wall clock
   * (the garbage collection's age). */
  st_res__clock_fn mono_ms, wall_ms;
  void *clock_ud;
} st_res__cfg_t;

typedef struct st_res__stats {
  uint64_t served_bytes;       /* block bytes answered to BlockGet */
  uint64_t served_blocks;
  uint64_t received;           /* slices stored from transfers (shortcut included) */
  uint64_t pulled;             /* slices stored from pulls */
  uint64_t dropped;            /* slices the garbage collection removed */
  uint64_t xfer_failed, pull_failed;
  size_t xfers, pulls, checks, jobs; /* open now */
} st_res__stats_t;

typedef struct st_res__eng st_res__eng_t;

int st_res__new(const st_res__cfg_t *cfg, st_res__eng_t **out);
/* Handles one frame (borrowed for the call). Frames of other channels
 * and unknown types are ignored. */
void st_res__frame(st_res__eng_t *e, const st_net_frame_t *f);
/* A peer left: its transfers end (no answer is sent), pulls from it give
 * up. */
void st_res__peer_down(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN]);
/* Ends transfers and pulls silent for ST_RES_IDLE_MS and forgets checks
 * that old. Call about once a second. */
void st_res__tick(st_res__eng_t *e);
/* One garbage-collection round: asks the meta nodes about up to
 * ST_RES__CHECK_MAX_OPEN frames of candidates, continuing where the last
 * round stopped. */
void st_res__gc_round(st_res__eng_t *e);
void st_res__stats(const st_res__eng_t *e, st_res__stats_t *out);
/* Stops: open transfers and pulls end, nothing more is sent. Commits on
 * a worker finish (and are recorded); then the engine frees itself and
 * calls done(ud) (at once when none is running). */
void st_res__close(st_res__eng_t *e, void (*done)(void *ud), void *ud);

/* The garbage collection's period for a grace: a quarter of it, at most
 * 60 s, at least 1 s. */
uint64_t st_res__gc_interval_ms(int64_t grace_ms);

#endif
