/* Unit tests of the bus: ordering, backpressure, payload ownership,
 * request/reply routing, wake-ups from other threads and sends made from
 * inside a handler. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include <stratos/st_bus.h>
#include <stratos/st_err.h>

#include "bus/bus_private.h"

enum {
  T_PLAIN = ST_MSG_TEST_BASE, /* len carries a sequence number */
  T_KEEP,                     /* the receiver takes the payload */
  T_ECHO,                     /* the receiver sends a T_PLAIN to itself */
  T_LOOP,                     /* the receiver sends T_LOOP again while told */
  T_REQ,                      /* the receiver keeps a copy for the test */
};

#define REC_MAX 20000

typedef struct rec {
  st_bus_t *bus;
  uv_loop_t *loop;
  size_t n;             /* messages seen by on_msg */
  uint16_t types[64];   /* types of the first 64 */
  size_t seq[REC_MAX];  /* len of each T_PLAIN */
  size_t nplain;
  bool order_broken;
  void *kept[16];
  size_t nkept;
  st_msg_t reqs[8];
  size_t nreqs;
  bool loop_on;
  size_t stop_at; /* uv_stop the loop after this many T_PLAIN */
} rec_t;

static int g_frees;

static void count_free(void *p) {
  g_frees++;
  free(p);
}

static void on_msg(void *state, st_msg_t *msg) {
  rec_t *r = state;
  st_msg_t m = {0};

  assert_int_equal(msg->to, ST_MOD_TEST);
  if (r->n < 64)
    r->types[r->n] = msg->type;
  r->n++;
  switch (msg->type) {
  case T_PLAIN:
    if (r->nplain < REC_MAX) {
      if (msg->len != r->nplain)
        r->order_broken = true;
      r->seq[r->nplain] = msg->len;
    }
    r->nplain++;
    if (r->stop_at && r->nplain == r->stop_at)
      uv_stop(r->loop);
    break;
  case T_KEEP:
    assert_true(r->nkept < 16);
    r->kept[r->nkept++] = msg->data;
    msg->data = NULL;
    break;
  case T_ECHO:
    m.type = T_PLAIN;
    m.to = ST_MOD_TEST;
    m.from = ST_MOD_TEST;
    m.len = r->nplain;
    assert_int_equal(st_bus_send(r->bus, &m), 0);
    break;
  case T_LOOP:
    if (r->loop_on) {
      m.type = T_LOOP;
      m.to = ST_MOD_TEST;
      assert_int_equal(st_bus_send(r->bus, &m), 0);
    }
    break;
  case T_REQ:
    assert_true(r->nreqs < 8);
    r->reqs[r->nreqs++] = *msg;
    break;
  default:
    break;
  }
}

static const st_module_t test_mod = {
  .name = "test",
  .id = ST_MOD_TEST,
  .on_msg = on_msg,
};

typedef struct fix {
  uv_loop_t loop;
  st_bus_t *bus;
  rec_t rec;
} fix_t;

static fix_t *fix_new(size_t cap) {
  fix_t *f = calloc(1, sizeof(*f));

  assert_non_null(f);
  g_frees = 0;
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(st_bus_init(&f->loop, cap, &f->bus), 0);
  f->rec.bus = f->bus;
  f->rec.loop = &f->loop;
  assert_int_equal(st_bus_attach(f->bus, &test_mod, &f->rec), 0);
  return f;
}

/* Closes the bus, lets the loop run its close callback and checks that
 * nothing is left on the loop. */
static void fix_free(fix_t *f) {
  if (f->bus)
    st_bus_close(f->bus);
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  for (size_t i = 0; i < f->rec.nkept; i++)
    free(f->rec.kept[i]);
  free(f);
}

static st_msg_t plain(size_t seq) {
  st_msg_t m = {0};

  m.type = T_PLAIN;
  m.from = ST_MOD_TEST;
  m.to = ST_MOD_TEST;
  m.len = seq;
  return m;
}

static st_msg_t with_payload(uint16_t type) {
  st_msg_t m = {0};

  m.type = type;
  m.to = ST_MOD_TEST;
  m.data = malloc(32);
  assert_non_null(m.data);
  memset(m.data, 0xab, 32);
  m.len = 32;
  m.free_fn = count_free;
  return m;
}

/* Runs the loop without blocking until cond holds, at most tries turns. */
static bool run_until(uv_loop_t *loop, const size_t *have, size_t want) {
  for (int i = 0; i < 100000 && *have < want; i++)
    uv_run(loop, UV_RUN_NOWAIT);
  return *have >= want;
}

static void test_names_and_caps(void **state) {
  static const char *const want[] = {"daemon", "rpc",      "gateway", "net",
                                     "chain",  "meta",     "resource", "kv",
                                     "task",   "test"};
  st_bus_stats_t st;
  fix_t *f;

  (void)state;
  for (int i = 0; i < ST_MOD_MAX; i++)
    assert_string_equal(st_bus_mod_name((st_mod_id)i), want[i]);
  assert_string_equal(st_bus_mod_name(ST_MOD_MAX), "unknown");

  f = fix_new(1000);
  assert_int_equal(st_bus_stats(f->bus, ST_MOD_TEST, &st), 0);
  assert_int_equal(st.capacity, 1024);
  fix_free(f);
  f = fix_new(5);
  assert_int_equal(st_bus_stats(f->bus, ST_MOD_TEST, &st), 0);
  assert_int_equal(st.capacity, 8);
  assert_int_equal(st_bus_stats(f->bus, ST_MOD_MAX, &st), ST_EINVAL);
  fix_free(f);
}

static void test_fifo_1000(void **state) {
  fix_t *f = fix_new(1000);
  st_bus_stats_t st;
  st_msg_t m;

  (void)state;
  for (size_t i = 0; i < 1000; i++) {
    m = plain(i);
    assert_int_equal(st_bus_send(f->bus, &m), 0);
  }
  assert_int_equal(st_bus_stats(f->bus, ST_MOD_TEST, &st), 0);
  assert_int_equal(st.sent, 1000);
  assert_int_equal(st.depth, 1000);
  assert_int_equal(st.delivered, 0);
  /* Nothing is delivered before the loop runs. */
  assert_int_equal(f->rec.n, 0);

  assert_true(run_until(&f->loop, &f->rec.nplain, 1000));
  assert_int_equal(f->rec.nplain, 1000);
  assert_false(f->rec.order_broken);
  assert_int_equal(f->rec.seq[999], 999);
  assert_int_equal(st_bus_stats(f->bus, ST_MOD_TEST, &st), 0);
  assert_int_equal(st.delivered, 1000);
  assert_int_equal(st.depth, 0);
  assert_int_equal(st.max_depth, 1000);
  assert_int_equal(st.dropped, 0);
  /* One empty->non-empty transition, one wake-up. */
  assert_int_equal(st_bus_wakeups(f->bus), 1);
  fix_free(f);
}

static void test_full_queue(void **state) {
  fix_t *f = fix_new(4);
  st_bus_stats_t st;
  st_msg_t m;

  (void)state;
  for (int i = 0; i < 4; i++) {
    m = with_payload(T_PLAIN);
    m.len = (size_t)i;
    assert_int_equal(st_bus_send(f->bus, &m), 0);
  }
  m = with_payload(T_PLAIN);
  assert_int_equal(st_bus_send(f->bus, &m), ST_EFULL);
  assert_int_equal(st_bus_send(f->bus, &m), ST_EFULL);
  assert_int_equal(st_bus_stats(f->bus, ST_MOD_TEST, &st), 0);
  assert_int_equal(st.dropped, 2);
  assert_int_equal(st.sent, 4);
  assert_int_equal(st.depth, 4);
  /* The refused payload is still ours. */
  assert_int_equal(g_frees, 0);
  count_free(m.data);
  assert_int_equal(g_frees, 1);

  assert_int_equal(st_bus_drain(f->bus), 4);
  assert_int_equal(f->rec.nplain, 4);
  assert_false(f->rec.order_broken);
  assert_int_equal(g_frees, 5);
  /* Room again. */
  m = plain(4);
  assert_int_equal(st_bus_send(f->bus, &m), 0);
  assert_int_equal(st_bus_drain(f->bus), 1);
  assert_int_equal(f->rec.nplain, 5);
  fix_free(f);
}

static void test_errors(void **state) {
  fix_t *f = fix_new(8);
  st_msg_t m = with_payload(T_PLAIN);
  st_module_t other = test_mod;

  (void)state;
  /* A module that is not attached. */
  m.to = ST_MOD_NET;
  assert_int_equal(st_bus_send(f->bus, &m), ST_ENOENT);
  m.to = ST_MOD_MAX;
  assert_int_equal(st_bus_send(f->bus, &m), ST_ENOENT);
  assert_int_equal(st_bus_send(f->bus, NULL), ST_EINVAL);

  /* Another module with a taken id is refused; the same one again only
   * updates its state. */
  other.name = "impostor";
  assert_int_equal(st_bus_attach(f->bus, &other, NULL), ST_EEXIST);
  assert_int_equal(st_bus_attach(f->bus, &test_mod, &f->rec), 0);

  /* After close starts, sends fail and the payload stays ours. */
  m.to = ST_MOD_TEST;
  st_bus_close(f->bus);
  assert_int_equal(st_bus_send(f->bus, &m), ST_ECLOSED);
  assert_int_equal(st_bus_attach(f->bus, &test_mod, &f->rec), ST_ECLOSED);
  assert_int_equal(g_frees, 0);
  count_free(m.data);
  f->bus = NULL;
  fix_free(f);
}

static void test_free_fn_once(void **state) {
  fix_t *f = fix_new(16);
  st_msg_t m;

  (void)state;
  /* Not kept: the bus frees it after on_msg. */
  m = with_payload(T_PLAIN);
  m.len = 0;
  assert_int_equal(st_bus_send(f->bus, &m), 0);
  /* Kept: the receiver owns it, the bus must not free it. */
  m = with_payload(T_KEEP);
  assert_int_equal(st_bus_send(f->bus, &m), 0);
  assert_int_equal(st_bus_drain(f->bus), 2);
  assert_int_equal(g_frees, 1);
  assert_int_equal(f->rec.nkept, 1);
  assert_ptr_equal(f->rec.kept[0], m.data);

  /* Queued at close: freed by the close, once. */
  for (int i = 0; i < 3; i++) {
    m = with_payload(T_PLAIN);
    assert_int_equal(st_bus_send(f->bus, &m), 0);
  }
  st_bus_close(f->bus);
  assert_int_equal(g_frees, 4);
  assert_int_equal(f->rec.nplain, 1);
  f->bus = NULL;
  fix_free(f);
  assert_int_equal(g_frees, 4);
}

static void test_detach(void **state) {
  fix_t *f = fix_new(16);
  st_bus_stats_t st;
  st_msg_t m;

  (void)state;
  for (int i = 0; i < 3; i++) {
    m = with_payload(T_PLAIN);
    assert_int_equal(st_bus_send(f->bus, &m), 0);
  }
  st_bus_detach(f->bus, ST_MOD_TEST);
  assert_int_equal(g_frees, 3);
  assert_int_equal(st_bus_stats(f->bus, ST_MOD_TEST, &st), 0);
  assert_int_equal(st.depth, 0);
  assert_int_equal(st_bus_drain(f->bus), 0);
  assert_int_equal(f->rec.n, 0);
  m = plain(0);
  assert_int_equal(st_bus_send(f->bus, &m), ST_ENOENT);
  /* Attached again, it works as before. */
  assert_int_equal(st_bus_attach(f->bus, &test_mod, &f->rec), 0);
  assert_int_equal(st_bus_send(f->bus, &m), 0);
  assert_int_equal(st_bus_drain(f->bus), 1);
  assert_int_equal(f->rec.nplain, 1);
  fix_free(f);
}

/* ---- request / reply ---- */

typedef struct reply_log {
  int n;
  uint64_t corr[4];
  int tag[4];
  int status[4];
  uint16_t type[4];
} reply_log_t;

static reply_log_t g_replies;
static int g_tags[4] = {0, 1, 2, 3};

static void on_reply(st_msg_t *reply, void *ud) {
  reply_log_t *l = &g_replies;

  assert_true(l->n < 4);
  assert_true(reply->flags & ST_MSG_F_REPLY);
  l->corr[l->n] = reply->corr;
  l->tag[l->n] = *(int *)ud;
  l->status[l->n] = reply->status;
  l->type[l->n] = reply->type;
  l->n++;
}

static void test_request_reply(void **state) {
  fix_t *f = fix_new(16);
  st_msg_t req = {0}, rep;
  uint64_t c1 = 0, c2 = 0;

  (void)state;
  memset(&g_replies, 0, sizeof(g_replies));
  req.type = T_REQ;
  req.from = ST_MOD_TEST;
  req.to = ST_MOD_TEST;
  assert_int_equal(st_bus_request(f->bus, &req, on_reply, &g_tags[1], &c1), 0);
  assert_int_equal(st_bus_request(f->bus, &req, on_reply, &g_tags[2], &c2), 0);
  assert_true(c1 != 0 && c2 != 0 && c1 != c2);

  assert_int_equal(st_bus_drain(f->bus), 2);
  assert_int_equal(f->rec.nreqs, 2);
  assert_int_equal(f->rec.reqs[0].corr, c1);
  assert_int_equal(f->rec.reqs[1].corr, c2);
  assert_false(f->rec.reqs[0].flags & ST_MSG_F_REPLY);

  /* Answered out of order, the second one with a payload. */
  rep = with_payload(T_PLAIN + 50);
  rep.status = ST_EIO;
  assert_int_equal(st_bus_reply(f->bus, &f->rec.reqs[1], &rep), 0);
  assert_int_equal(rep.to, ST_MOD_TEST);
  assert_int_equal(rep.corr, c2);
  memset(&rep, 0, sizeof(rep));
  rep.type = T_PLAIN + 51;
  assert_int_equal(st_bus_reply(f->bus, &f->rec.reqs[0], &rep), 0);

  assert_int_equal(st_bus_drain(f->bus), 2);
  assert_int_equal(g_replies.n, 2);
  assert_int_equal(g_replies.corr[0], c2);
  assert_int_equal(g_replies.tag[0], 2);
  assert_int_equal(g_replies.status[0], ST_EIO);
  assert_int_equal(g_replies.type[0], T_PLAIN + 50);
  assert_int_equal(g_replies.corr[1], c1);
  assert_int_equal(g_replies.tag[1], 1);
  assert_int_equal(g_replies.status[1], 0);
  /* Replies do not reach on_msg, and the reply payload was freed. */
  assert_int_equal(f->rec.n, 2);
  assert_int_equal(g_frees, 1);

  /* A second reply to an answered request is dropped. */
  rep = with_payload(T_PLAIN + 52);
  assert_int_equal(st_bus_reply(f->bus, &f->rec.reqs[0], &rep), 0);
  assert_int_equal(st_bus_drain(f->bus), 1);
  assert_int_equal(g_replies.n, 2);
  assert_int_equal(f->rec.n, 2);
  assert_int_equal(g_frees, 2);
  fix_free(f);
}

static void test_request_errors(void **state) {
  fix_t *f = fix_new(16);
  st_msg_t req = {0}, rep;

  (void)state;
  /* The request fails like a send; no id is left pending. */
  memset(&g_replies, 0, sizeof(g_replies));
  req.type = T_REQ;
  req.to = ST_MOD_NET;
  assert_int_equal(st_bus_request(f->bus, &req, on_reply, &g_tags[0], NULL),
                   ST_ENOENT);
  assert_int_equal(st_bus_request(f->bus, &req, NULL, NULL, NULL), ST_EINVAL);

  /* A reply to a plain send (corr 0) is an ordinary message. */
  req.to = ST_MOD_TEST;
  req.from = ST_MOD_TEST;
  assert_int_equal(st_bus_send(f->bus, &req), 0);
  assert_int_equal(st_bus_drain(f->bus), 1);
  assert_int_equal(f->rec.nreqs, 1);
  assert_int_equal(f->rec.reqs[0].corr, 0);
  rep = plain(0);
  assert_int_equal(st_bus_reply(f->bus, &f->rec.reqs[0], &rep), 0);
  assert_int_equal(st_bus_drain(f->bus), 1);
  assert_int_equal(f->rec.nplain, 1);
  assert_int_equal(g_replies.n, 0);
  fix_free(f);
}

static void test_cancel(void **state) {
  fix_t *f = fix_new(16);
  st_msg_t req = {0}, rep;
  uint64_t c1, c2;

  (void)state;
  memset(&g_replies, 0, sizeof(g_replies));
  req.type = T_REQ;
  req.from = ST_MOD_TEST;
  req.to = ST_MOD_TEST;
  assert_int_equal(st_bus_request(f->bus, &req, on_reply, &g_tags[1], &c1), 0);
  assert_int_equal(st_bus_request(f->bus, &req, on_reply, &g_tags[2], &c2), 0);
  assert_int_equal(st_bus_drain(f->bus), 2);
  st_bus_cancel(f->bus, c1);
  st_bus_cancel(f->bus, 12345); /* unknown: no effect */

  rep = with_payload(T_PLAIN + 60);
  assert_int_equal(st_bus_reply(f->bus, &f->rec.reqs[0], &rep), 0);
  rep = with_payload(T_PLAIN + 61);
  assert_int_equal(st_bus_reply(f->bus, &f->rec.reqs[1], &rep), 0);
  assert_int_equal(st_bus_drain(f->bus), 2);
  /* Only the request still pending got its answer; both payloads were
   * freed once, and on_msg saw neither. */
  assert_int_equal(g_replies.n, 1);
  assert_int_equal(g_replies.corr[0], c2);
  assert_int_equal(g_replies.tag[0], 2);
  assert_int_equal(g_frees, 2);
  assert_int_equal(f->rec.n, 2);
  fix_free(f);
}

static int g_got[1000];

static void on_reply_count(st_msg_t *reply, void *ud) {
  (void)reply;
  g_got[*(int *)ud]++;
}

static void test_many_pending(void **state) {
  fix_t *f = fix_new(2048);
  static uint64_t ids[1000];
  static int tags[1000];
  st_msg_t req = {0};

  (void)state;
  memset(g_got, 0, sizeof(g_got));
  req.type = T_PLAIN + 80; /* on_msg only counts it */
  req.from = ST_MOD_TEST;
  req.to = ST_MOD_TEST;
  /* Enough requests to grow the pending table several times; cancel every
   * other one, then answer all: exactly the others come back. */
  for (int i = 0; i < 1000; i++) {
    tags[i] = i;
    assert_int_equal(
      st_bus_request(f->bus, &req, on_reply_count, &tags[i], &ids[i]), 0);
    for (int j = 0; j < i; j++)
      assert_true(ids[j] != ids[i]);
  }
  assert_int_equal(st_bus_drain(f->bus), 1000);
  for (int i = 0; i < 1000; i += 2)
    st_bus_cancel(f->bus, ids[i]);
  for (int i = 999; i >= 0; i--) {
    st_msg_t r = req, rep = {0};

    r.corr = ids[i];
    rep.type = T_PLAIN + 81;
    assert_int_equal(st_bus_reply(f->bus, &r, &rep), 0);
  }
  assert_int_equal(st_bus_drain(f->bus), 1000);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(g_got[i], i % 2);
  assert_int_equal(f->rec.n, 1000);
  fix_free(f);
}

/* ---- threads and wake-ups ---- */

typedef struct sender {
  st_bus_t *bus;
  size_t n;
  uint64_t full;      /* times the inbox was full and the send retried */
  atomic_bool give_up; /* set by the watchdog if the loop stalls */
  int rc;             /* the first send error other than ST_EFULL */
} sender_t;

static void sender_main(void *arg) {
  sender_t *s = arg;

  for (size_t i = 0; i < s->n && s->rc == 0; i++) {
    st_msg_t m = plain(i);
    int rc;

    while ((rc = st_bus_send(s->bus, &m)) == ST_EFULL) {
      if (atomic_load(&s->give_up))
        return;
      s->full++;
      sched_yield();
    }
    s->rc = rc;
  }
}

/* Stops a loop that should have finished long ago, so that a lost
 * wake-up fails the test instead of hanging it. */
static void on_watchdog(uv_timer_t *t) {
  sender_t *s = t->data;

  atomic_store(&s->give_up, true);
  uv_stop(t->loop);
}

static void test_burst_one_wakeup(void **state) {
  fix_t *f = fix_new(128);
  sender_t s = {.bus = f->bus, .n = 100};
  uv_thread_t th;
  st_msg_t m;

  (void)state;
  /* The loop is not running: 100 sends from another thread are one
   * transition and one wake-up. */
  assert_int_equal(uv_thread_create(&th, sender_main, &s), 0);
  assert_int_equal(uv_thread_join(&th), 0);
  assert_int_equal(s.rc, 0);
  assert_int_equal(st_bus_wakeups(f->bus), 1);

  assert_true(run_until(&f->loop, &f->rec.nplain, 100));
  assert_false(f->rec.order_broken);
  assert_int_equal(st_bus_wakeups(f->bus), 1);

  /* Empty again, so the next send wakes the loop again. */
  m = plain(100);
  assert_int_equal(st_bus_send(f->bus, &m), 0);
  assert_int_equal(st_bus_wakeups(f->bus), 2);
  assert_true(run_until(&f->loop, &f->rec.nplain, 101));
  fix_free(f);
}

static void test_cross_thread(void **state) {
  fix_t *f = fix_new(256);
  sender_t s = {.bus = f->bus, .n = REC_MAX};
  st_bus_stats_t st;
  uv_timer_t watchdog;
  uv_thread_t th;
  uint64_t w;

  (void)state;
  f->rec.stop_at = REC_MAX;
  assert_int_equal(uv_timer_init(&f->loop, &watchdog), 0);
  watchdog.data = &s;
  assert_int_equal(uv_timer_start(&watchdog, on_watchdog, 30000, 0), 0);
  assert_int_equal(uv_thread_create(&th, sender_main, &s), 0);
  /* Runs until on_msg stops the loop at the last message. */
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_thread_join(&th), 0);
  uv_close((uv_handle_t *)&watchdog, NULL);

  assert_int_equal(s.rc, 0);
  assert_false(atomic_load(&s.give_up));
  assert_int_equal(f->rec.nplain, REC_MAX);
  assert_false(f->rec.order_broken);
  assert_int_equal(st_bus_stats(f->bus, ST_MOD_TEST, &st), 0);
  assert_int_equal(st.delivered, REC_MAX);
  assert_int_equal(st.sent, REC_MAX);
  assert_int_equal(st.dropped, s.full);
  assert_true(st.max_depth <= 256);
  w = st_bus_wakeups(f->bus);
  /* At least the first send woke the loop; never more than one per
   * message, and every wake-up came from an empty bus. */
  assert_true(w >= 1);
  assert_true(w <= REC_MAX);
  fix_free(f);
}

/* ---- re-entrancy ---- */

static void test_send_from_on_msg(void **state) {
  fix_t *f = fix_new(16);
  st_msg_t m = {0};

  (void)state;
  m.type = T_ECHO;
  m.to = ST_MOD_TEST;
  assert_int_equal(st_bus_send(f->bus, &m), 0);
  assert_true(run_until(&f->loop, &f->rec.nplain, 1));
  assert_int_equal(f->rec.n, 2);
  assert_int_equal(f->rec.types[0], T_ECHO);
  assert_int_equal(f->rec.types[1], T_PLAIN);
  assert_int_equal(f->rec.seq[0], 0);
  fix_free(f);
}

static void test_batch_rearm(void **state) {
  fix_t *f = fix_new(4096);
  st_msg_t m;

  (void)state;
  /* More than one batch queued by a single wake-up: each turn of the loop
   * delivers one batch, and the bus wakes itself for the rest. */
  for (size_t i = 0; i < 3000; i++) {
    m = plain(i);
    assert_int_equal(st_bus_send(f->bus, &m), 0);
  }
  uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_int_equal(f->rec.nplain, ST_BUS__BATCH);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_int_equal(f->rec.nplain, 2 * ST_BUS__BATCH);
  assert_true(run_until(&f->loop, &f->rec.nplain, 3000));
  assert_int_equal(f->rec.nplain, 3000);
  assert_false(f->rec.order_broken);
  assert_int_equal(st_bus_wakeups(f->bus), 1);
  fix_free(f);
}

static void test_batch_bound(void **state) {
  fix_t *f = fix_new(16);
  st_msg_t m = {0};
  size_t first;

  (void)state;
  /* A module that always sends itself another message: one turn of the
   * loop delivers at most one batch and comes back for more. */
  f->rec.loop_on = true;
  m.type = T_LOOP;
  m.to = ST_MOD_TEST;
  assert_int_equal(st_bus_send(f->bus, &m), 0);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  first = f->rec.n;
  assert_true(first > 0 && first <= ST_BUS__BATCH);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_true(f->rec.n > first);
  assert_true(f->rec.n <= 2 * ST_BUS__BATCH);

  /* st_bus_drain is bounded too. */
  first = f->rec.n;
  assert_int_equal(st_bus_drain(f->bus), 16 * ST_MOD_MAX);
  assert_true(f->rec.n > first);

  f->rec.loop_on = false;
  first = f->rec.n;
  assert_true(run_until(&f->loop, &f->rec.n, first + 1));
  fix_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_names_and_caps),
    cmocka_unit_test(test_fifo_1000),
    cmocka_unit_test(test_full_queue),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_free_fn_once),
    cmocka_unit_test(test_detach),
    cmocka_unit_test(test_request_reply),
    cmocka_unit_test(test_request_errors),
    cmocka_unit_test(test_cancel),
    cmocka_unit_test(test_many_pending),
    cmocka_unit_test(test_burst_one_wakeup),
    cmocka_unit_test(test_cross_thread),
    cmocka_unit_test(test_send_from_on_msg),
    cmocka_unit_test(test_batch_rearm),
    cmocka_unit_test(test_batch_bound),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
