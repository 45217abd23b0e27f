/* Inside the holder engine (resource_private.h): its state and what its
 * four files share. engine.c owns the state, the dispatch of frames, the
 * worker commits and block serving; recv.c the transfers from gateways;
 * pull.c the repair pulls; gc.c the garbage collection. */
#ifndef STRATOS_RESOURCE_ENGINE_H
#define STRATOS_RESOURCE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <stratos/st_crypto.h>
#include <stratos/st_resource.h>
#include "resource/resource_private.h"

/* Transfers that ended recently, so that the blocks still on their way
 * are dropped quietly instead of each drawing an answer. */
#define ST_RES__CLOSED_RING 64

typedef struct st_res__job st_res__job_t;
typedef void (*st_res__job_done_fn)(st_res__job_t *j);

/* A commit: flush on a worker, then done on the loop thread with rc. */
struct st_res__job {
  uv_work_t req;
  st_res__eng_t *e;
  st_slice_writer_t *w;
  int rc;
  st_res__job_done_fn done;
};

enum { ST_RES__RECV, ST_RES__HASHES, ST_RES__BLOCKS, ST_RES__COMMIT };

typedef struct st_res__xfer {
  struct st_res__xfer *next;
  uint8_t peer[ST_ADDR_LEN];
  uint64_t id;
  uint8_t root[ST_HASH_LEN];
  uint64_t size;
  uint32_t nblocks;
  uint32_t got;          /* blocks received and checked */
  int state;             /* RECV or COMMIT */
  int64_t last_ms;       /* mono clock of the last frame */
  st_slice_writer_t *w;
  st_res__job_t job;
} st_res__xfer_t;

typedef struct st_res__pull {
  struct st_res__pull *next;
  uint8_t asker[ST_ADDR_LEN];  /* the meta node that asked */
  uint8_t from[ST_ADDR_LEN];   /* the holder we fetch from */
  uint8_t replaces[ST_ADDR_LEN];
  bool has_replaces;
  uint8_t root[ST_HASH_LEN];
  uint64_t size;
  uint32_t nblocks;
  uint64_t req;          /* the hash list's request; block i is req + 1 + i */
  int state;             /* HASHES, BLOCKS or COMMIT */
  uint32_t written;      /* blocks handed to the writer */
  uint32_t asked;        /* blocks asked for */
  uint8_t *slot[ST_RES__PULL_INFLIGHT]; /* blocks that came early */
  size_t slot_len[ST_RES__PULL_INFLIGHT];
  int64_t last_ms;
  st_slice_writer_t *w;
  st_res__job_t job;
} st_res__pull_t;

typedef struct st_res__check {
  struct st_res__check *next;
  uint64_t req;
  int64_t cutoff_ms;     /* wall clock: slices claimed before this */
  int64_t sent_ms;       /* mono clock */
  size_t n;
  uint8_t (*roots)[ST_HASH_LEN];
} st_res__check_t;

typedef struct st_res__closed {
  uint8_t peer[ST_ADDR_LEN];
  uint64_t id;
} st_res__closed_t;

struct st_res__eng {
  st_res__cfg_t cfg;
  char chain_id[ST_CHAIN_ID_MAX + 1]; /* "" when unknown */
  uint8_t self[ST_ADDR_LEN];
  uint8_t (*meta)[ST_ADDR_LEN];
  size_t nmeta;
  uint8_t *buf;          /* one block, for serving */
  st_res__xfer_t *xfers;
  st_res__pull_t *pulls;
  st_res__check_t *checks;
  st_res__closed_t closed[ST_RES__CLOSED_RING];
  size_t nclosed, closed_at;
  uint8_t gc_after[ST_HASH_LEN];
  bool gc_has_after;
  bool closing;
  void (*on_closed)(void *ud);
  void *closed_ud;
  st_res__stats_t st;
};

/* engine.c */
int64_t st_res__mono(const st_res__eng_t *e);
int64_t st_res__wall(const st_res__eng_t *e);
uint64_t st_res__rand64(void);
bool st_res__is_self(const st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN]);
void st_res__ban(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN], const char *reason);
/* Sends unless closing; a failure is logged, not returned. */
void st_res__send(st_res__eng_t *e, const uint8_t *to, uint32_t channel, uint32_t type,
                  const void *head, size_t hlen, const void *body, size_t blen);
/* Queues w's flush on the thread pool; done runs on the loop thread. */
void st_res__job_start(st_res__eng_t *e, st_res__job_t *j, st_slice_writer_t *w,
                       st_res__job_done_fn done);
/* The job finished: counts it and completes a pending close. */
void st_res__job_end(st_res__eng_t *e);
/* A slice root in hex, for logs. */
void st_res__hex(const uint8_t *p, size_t n, char *out, size_t cap);
/* 0 when size more bytes leave cfg.reserve_bytes free on the store's
 * disk beside what open transfers and pulls will still write; else
 * ST_EFULL (or the error of asking) and why in log. */
int st_res__room(st_res__eng_t *e, uint64_t size, char *log, size_t cap);
/* Whether a transfer or a pull is writing this slice now. */
bool st_res__busy(const st_res__eng_t *e, const uint8_t root[ST_HASH_LEN]);
uint32_t st_res__get32(const uint8_t *p);
uint64_t st_res__get64(const uint8_t *p);
void st_res__put32(uint8_t *p, uint32_t v);
void st_res__put64(uint8_t *p, uint64_t v);

/* recv.c */
void st_res__on_offer(st_res__eng_t *e, const st_net_frame_t *f);
void st_res__on_data(st_res__eng_t *e, const st_net_frame_t *f);
void st_res__xfer_peer_down(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN]);
void st_res__xfer_tick(st_res__eng_t *e, int64_t now);
void st_res__xfer_close_all(st_res__eng_t *e);

/* pull.c */
void st_res__on_pull(st_res__eng_t *e, const st_net_frame_t *f);
void st_res__on_block(st_res__eng_t *e, const st_net_frame_t *f);
void st_res__pull_peer_down(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN]);
void st_res__pull_tick(st_res__eng_t *e, int64_t now);
void st_res__pull_close_all(st_res__eng_t *e);

/* gc.c */
void st_res__on_checked(st_res__eng_t *e, const st_net_frame_t *f);
void st_res__check_tick(st_res__eng_t *e, int64_t now);
void st_res__check_close_all(st_res__eng_t *e);

#endif
