/*
** cancel_matrix_test.c: the cancellation contract (DESIGN §3-4) at the C
** level, through brake.h only. One ctest process per BRAKE_TEST.
*/
#include "test_util.h"

static const char* kSource =
    "function answer() -> int { 42 }\n"
    "function nap(ms: int) -> int { baml.sys.sleep(ms); 7 }\n"
    "function slow() -> int { baml.sys.sleep(5000); 1 }\n"
    "function fast() -> int { baml.sys.sleep(20); 2 }\n"
    "function long_sleep() -> int { baml.sys.sleep(10000); 42 }\n"
    "function sequential() -> int {\n"
    "  baml.sys.sleep(100);\n"
    "  baml.sys.sleep(100);\n"
    "  baml.sys.sleep(10000);\n"
    "  baml.sys.sleep(10000);\n"
    "  42\n"
    "}\n"
    "function spin() -> int { while (true) {} 1 }\n"
    "function spin_calls(n: int) -> int { if (n == 0) { 0 } else { spin_calls(n - 1) } }\n"
    "function forever() -> int { let x = 0; while (true) { x = spin_calls(10); } x }\n"
    "function tree(n: int) -> int { if (n == 0) { 1 } else { tree(n - 1) + tree(n - 1) } }\n"
    "function recursion() -> int { tree(60) }\n"
    "function asked() -> bool { baml.sys.cancellation_requested() }\n"
    "function poll_flag() -> bool { while (!baml.sys.cancellation_requested()) {} true }\n"
    "function fails() -> int { let z = 0; 1 / z }\n"
    "function quick(n: int) -> int { let s = 0; for (let i = 0; i < n; i += 1) { s += i; } s }\n";

BRAKE_TEST(cancel_before_start_token) {
  brake_engine* e = engine_from(kSource, 2);
  brake_token* t = brake_token_new();
  CHECK_EQ_INT(brake_token_cancel(t), 0);
  CHECK(brake_token_is_cancelled(t));
  brake_call_options o;
  brake_call_options_init(&o);
  o.token = t;
  Waiter w1, w2;
  waiter_init(&w1);
  waiter_init(&w2);
  /* A function with no await at all still does not run. */
  CHECK_EQ_INT(brake_call_start(e, 1, "answer", NULL, 0, &o, waiter_done, &w1), BRAKE_OK);
  /* Pre-cancelled calls are not even looked up. */
  CHECK_EQ_INT(brake_call_start(e, 2, "no_such_function", NULL, 0, &o, waiter_done, &w2), BRAKE_OK);
  CHECK(waiter_wait(&w1, 2000));
  CHECK(waiter_wait(&w2, 2000));
  CHECK_EQ_INT(w1.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(w1.origin, BRAKE_ORIGIN_TOKEN);
  CHECK(!w1.has_int);
  CHECK_EQ_INT(w2.status, BRAKE_CANCELLED);
  /* But id checks still apply. */
  CHECK_EQ_INT(brake_call_start(e, 0, "answer", NULL, 0, &o, waiter_done, &w1), BRAKE_INVALID_ARGUMENT);
  brake_token_free(t);
  brake_engine_free(e);
}

BRAKE_TEST(cancel_during_sleep) {
  brake_engine* e = engine_from(kSource, 2);
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start0(e, 1, "long_sleep", &w), BRAKE_OK);
  sleep_ms(50);
  double t0 = now_ms();
  CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_OK);
  CHECK(waiter_wait(&w, 2000));
  CHECK(w.done_at_ms - t0 < 2000);
  CHECK_EQ_INT(w.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(w.origin, BRAKE_ORIGIN_CANCEL);
  CHECK_EQ_INT(live_after(e, 1000), 0);
  brake_engine_free(e);
}

BRAKE_TEST(selective_cancel) {
  brake_engine* e = engine_from(kSource, 1); /* same worker: the sibling must still run */
  Waiter ws, wf;
  waiter_init(&ws);
  waiter_init(&wf);
  CHECK_EQ_INT(start0(e, 1, "slow", &ws), BRAKE_OK);
  CHECK_EQ_INT(start0(e, 2, "fast", &wf), BRAKE_OK);
  sleep_ms(5);
  CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_OK);
  CHECK(waiter_wait(&ws, 2000));
  CHECK(waiter_wait(&wf, 2000));
  CHECK_EQ_INT(ws.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(wf.status, BRAKE_OK);
  CHECK_EQ_INT(wf.int_value, 2);
  brake_engine_free(e);
}

BRAKE_TEST(cancel_between_sequential_sleeps) {
  brake_engine* e = engine_from(kSource, 2);
  Waiter w;
  waiter_init(&w);
  double t0 = now_ms();
  CHECK_EQ_INT(start0(e, 1, "sequential", &w), BRAKE_OK);
  sleep_ms(350);
  CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_OK);
  CHECK(waiter_wait(&w, 3000));
  CHECK(w.done_at_ms - t0 < 3000);
  CHECK_EQ_INT(w.status, BRAKE_CANCELLED);
  brake_engine_free(e);
}

BRAKE_TEST(never_cancelled_completes) {
  brake_engine* e = engine_from(kSource, 2);
  Waiter w;
  waiter_init(&w);
  brake_value* ms = brake_value_int(50);
  const brake_value* args[] = {ms};
  double t0 = now_ms();
  CHECK_EQ_INT(brake_call_start(e, 1, "nap", args, 1, NULL, waiter_done, &w), BRAKE_OK);
  brake_value_free(ms);
  CHECK(waiter_wait(&w, 2000));
  CHECK(w.done_at_ms - t0 >= 45);
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 7);
  CHECK_EQ_INT(w.origin, BRAKE_ORIGIN_NONE);
  brake_engine_free(e);
}

BRAKE_TEST(cancel_three_times) {
  brake_engine* e = engine_from(kSource, 2);
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start0(e, 1, "long_sleep", &w), BRAKE_OK);
  sleep_ms(50);
  for (int i = 0; i < 3; i++) {
    int rc = brake_cancel(e, 1);
    CHECK(rc == BRAKE_OK || rc == BRAKE_NOT_FOUND);
  }
  CHECK(waiter_wait(&w, 2000));
  sleep_ms(50);
  CHECK_EQ_INT(w.calls, 1);
  CHECK_EQ_INT(w.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_NOT_FOUND);
  brake_engine_free(e);
}

BRAKE_TEST(cancellation_requested_false) {
  brake_engine* e = engine_from(kSource, 2);
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start0(e, 1, "asked", &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 2000));
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 0);
  brake_engine_free(e);
}

BRAKE_TEST(cancellation_requested_true) {
  brake_engine* e = engine_from(kSource, 2);
  /* Pre-cancelled: the script never runs, the call is cancelled. */
  brake_token* t = brake_token_new();
  brake_token_cancel(t);
  brake_call_options o;
  brake_call_options_init(&o);
  o.token = t;
  Waiter w1, w2;
  waiter_init(&w1);
  waiter_init(&w2);
  CHECK_EQ_INT(brake_call_start(e, 1, "asked", NULL, 0, &o, waiter_done, &w1), BRAKE_OK);
  CHECK(waiter_wait(&w1, 2000));
  CHECK_EQ_INT(w1.status, BRAKE_CANCELLED);
  /* A script polling the flag in a loop sees it and stops. */
  CHECK_EQ_INT(start0(e, 2, "poll_flag", &w2), BRAKE_OK);
  sleep_ms(30);
  double t0 = now_ms();
  CHECK_EQ_INT(brake_cancel(e, 2), BRAKE_OK);
  CHECK(waiter_wait(&w2, 2000));
  CHECK(w2.done_at_ms - t0 < 1000);
  CHECK_EQ_INT(w2.status, BRAKE_CANCELLED);
  brake_token_free(t);
  brake_engine_free(e);
}

BRAKE_TEST(duplicate_live_id) {
  brake_engine* e = engine_from(kSource, 2);
  Waiter w1, w2, w3;
  waiter_init(&w1);
  waiter_init(&w2);
  waiter_init(&w3);
  brake_value* ms = brake_value_int(200);
  const brake_value* args[] = {ms};
  CHECK_EQ_INT(brake_call_start(e, 5, "nap", args, 1, NULL, waiter_done, &w1), BRAKE_OK);
  CHECK_EQ_INT(brake_call_start(e, 5, "answer", NULL, 0, NULL, waiter_done, &w2), BRAKE_DUPLICATE_CALL_ID);
  CHECK(strstr(brake_last_error(), "5") != NULL);
  CHECK(waiter_wait(&w1, 2000));
  CHECK_EQ_INT(w1.status, BRAKE_OK);
  CHECK_EQ_INT(w1.int_value, 7);
  sleep_ms(20);
  CHECK_EQ_INT(w2.calls, 0); /* the failed start's callback never runs */
  /* Once finished, the id may be reused. */
  CHECK_EQ_INT(brake_call_start(e, 5, "answer", NULL, 0, NULL, waiter_done, &w3), BRAKE_OK);
  CHECK(waiter_wait(&w3, 2000));
  CHECK_EQ_INT(w3.int_value, 42);
  brake_value_free(ms);
  brake_engine_free(e);
}

BRAKE_TEST(cancel_unknown_or_finished) {
  brake_engine* e = engine_from(kSource, 2);
  CHECK_EQ_INT(brake_cancel(e, 999), BRAKE_NOT_FOUND);
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start0(e, 1, "answer", &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 2000));
  sleep_ms(10);
  CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_NOT_FOUND);
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 42);
  brake_engine_free(e);
}

BRAKE_TEST(while_true_cancelled) {
  brake_engine* e = engine_from(kSource, 1);
  Waiter w1, w2, w3, w4;
  waiter_init(&w1);
  waiter_init(&w2);
  waiter_init(&w3);
  waiter_init(&w4);
  CHECK_EQ_INT(start0(e, 1, "spin", &w1), BRAKE_OK);
  CHECK_EQ_INT(start0(e, 2, "forever", &w2), BRAKE_OK);
  /* No loop at all: stopped at a call. */
  CHECK_EQ_INT(start0(e, 4, "recursion", &w4), BRAKE_OK);
  sleep_ms(50);
  /* The worker is shared with two compute loops; a sibling still runs. */
  CHECK_EQ_INT(start0(e, 3, "answer", &w3), BRAKE_OK);
  CHECK(waiter_wait(&w3, 2000));
  CHECK_EQ_INT(w3.int_value, 42);
  double t0 = now_ms();
  CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_OK);
  CHECK_EQ_INT(brake_cancel(e, 2), BRAKE_OK);
  CHECK_EQ_INT(brake_cancel(e, 4), BRAKE_OK);
  CHECK(waiter_wait(&w1, 2000));
  CHECK(waiter_wait(&w2, 2000));
  CHECK(waiter_wait(&w4, 2000));
  CHECK(w1.done_at_ms - t0 < 1000);
  CHECK(w4.done_at_ms - t0 < 1000);
  CHECK_EQ_INT(w1.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(w2.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(w4.status, BRAKE_CANCELLED);
  brake_engine_free(e);
}

BRAKE_TEST(loop_shares_a_busy_worker) {
  /* One worker, a `while (true) {}` on it, then a call with a loop of its
  ** own: time slices end with the worker's dispatch table interrupted, and
  ** the second call must still get through its loop. */
  brake_engine* e = engine_from(kSource, 1);
  Waiter spin, q;
  waiter_init(&spin);
  waiter_init(&q);
  CHECK_EQ_INT(start0(e, 1, "spin", &spin), BRAKE_OK);
  sleep_ms(20);
  CHECK_EQ_INT(start_int(e, 2, "quick", 20, &q), BRAKE_OK);
  CHECK(waiter_wait(&q, 5000));
  CHECK_EQ_INT(q.status, BRAKE_OK);
  CHECK_EQ_INT(q.int_value, 190);
  CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_OK);
  CHECK(waiter_wait(&spin, 2000));
  brake_engine_free(e);
}

BRAKE_TEST(sleeper_on_busy_worker_wakes_on_time) {
  brake_engine* e = engine_from(kSource, 1); /* one worker, shared with a compute loop */
  Waiter spin, nap;
  waiter_init(&spin);
  waiter_init(&nap);
  CHECK_EQ_INT(start0(e, 1, "spin", &spin), BRAKE_OK);
  sleep_ms(20);
  double t0 = now_ms();
  CHECK_EQ_INT(start_int(e, 2, "nap", 50, &nap), BRAKE_OK);
  CHECK(waiter_wait(&nap, 2000));
  CHECK(nap.done_at_ms - t0 >= 45);
  CHECK(nap.done_at_ms - t0 < 500); /* its timer fired though the worker was computing */
  CHECK_EQ_INT(nap.int_value, 7);
  CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_OK);
  CHECK(waiter_wait(&spin, 2000));
  CHECK_EQ_INT(spin.status, BRAKE_CANCELLED);
  brake_engine_free(e);
}

BRAKE_TEST(close_with_calls_in_flight) {
  brake_engine* e = engine_from(kSource, 2);
  enum { N = 20 };
  Waiter w[N];
  for (int i = 0; i < N; i++) {
    waiter_init(&w[i]);
    CHECK_EQ_INT(start0(e, (brake_call_id)(i + 1), i % 4 == 0 ? "spin" : "long_sleep", &w[i]), BRAKE_OK);
  }
  sleep_ms(30);
  double t0 = now_ms();
  CHECK_EQ_INT(brake_engine_close(e), BRAKE_OK);
  CHECK(now_ms() - t0 < 2000);
  for (int i = 0; i < N; i++) {
    CHECK_EQ_INT(w[i].calls, 1); /* without notify, callbacks ran before close returned */
    CHECK_EQ_INT(w[i].status, BRAKE_CANCELLED);
    CHECK_EQ_INT(w[i].origin, BRAKE_ORIGIN_CLOSE);
  }
  CHECK_EQ_INT(brake_engine_live_calls(e), 0);
  Waiter late;
  waiter_init(&late);
  CHECK_EQ_INT(start0(e, 100, "answer", &late), BRAKE_ENGINE_CLOSED);
  CHECK_EQ_INT(brake_engine_close(e), BRAKE_OK); /* idempotent */
  brake_engine_free(e);
  CHECK_EQ_INT(late.calls, 0);
}

BRAKE_TEST(timeout_deadline) {
  brake_engine* e = engine_from(kSource, 2);
  brake_call_options o;
  brake_call_options_init(&o);
  o.timeout_ms = 100;
  Waiter w1, w2;
  waiter_init(&w1);
  waiter_init(&w2);
  double t0 = now_ms();
  CHECK_EQ_INT(brake_call_start(e, 1, "long_sleep", NULL, 0, &o, waiter_done, &w1), BRAKE_OK);
  CHECK_EQ_INT(brake_call_start(e, 2, "spin", NULL, 0, &o, waiter_done, &w2), BRAKE_OK);
  CHECK(waiter_wait(&w1, 2000));
  CHECK(waiter_wait(&w2, 2000));
  CHECK(w1.done_at_ms - t0 >= 95);
  CHECK(w1.done_at_ms - t0 < 1000);
  CHECK_EQ_INT(w1.status, BRAKE_TIMEOUT);
  CHECK_EQ_INT(w1.origin, BRAKE_ORIGIN_TIMEOUT);
  CHECK_EQ_INT(w2.status, BRAKE_TIMEOUT);
  /* A call that finishes first is not affected by its deadline. */
  Waiter w3;
  waiter_init(&w3);
  CHECK_EQ_INT(brake_call_start(e, 3, "answer", NULL, 0, &o, waiter_done, &w3), BRAKE_OK);
  CHECK(waiter_wait(&w3, 2000));
  CHECK_EQ_INT(w3.status, BRAKE_OK);
  brake_engine_free(e);
}

BRAKE_TEST(error_is_not_rewritten_as_cancel) {
  brake_engine* e = engine_from(kSource, 2);
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start0(e, 1, "fails", &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 2000));
  brake_cancel(e, 1);
  CHECK_EQ_INT(w.status, BRAKE_SCRIPT_ERROR);
  CHECK_EQ_INT(w.origin, BRAKE_ORIGIN_NONE);
  CHECK(strcmp(w.kind, "division_by_zero") == 0);
  brake_engine_free(e);
}

BRAKE_TEST(token_cancels_many) {
  brake_engine* e = engine_from(kSource, 2);
  enum { N = 1000 };
  static Waiter w[N];
  brake_token* t = brake_token_new();
  brake_call_options o;
  brake_call_options_init(&o);
  o.token = t;
  for (int i = 0; i < N; i++) {
    waiter_init(&w[i]);
    CHECK_EQ_INT(brake_call_start(e, (brake_call_id)(i + 1), "long_sleep", NULL, 0, &o, waiter_done, &w[i]), BRAKE_OK);
  }
  sleep_ms(50);
  double t0 = now_ms();
  CHECK_EQ_INT(brake_token_cancel(t), N);
  CHECK_EQ_INT(brake_token_cancel(t), 0); /* idempotent */
  for (int i = 0; i < N; i++) {
    CHECK(waiter_wait(&w[i], 2000));
    CHECK_EQ_INT(w[i].status, BRAKE_CANCELLED);
    CHECK_EQ_INT(w[i].origin, BRAKE_ORIGIN_TOKEN);
  }
  CHECK(now_ms() - t0 < 2000);
  CHECK_EQ_INT(live_after(e, 1000), 0);
  brake_token_free(t);
  brake_engine_free(e);
}

/* ---- cancel racing completion from several threads */

enum { RACE_CALLS = 20000, RACE_THREADS = 3 };
static brake_engine* g_race_engine;
static volatile int g_race_started;
static int g_race_counts[RACE_CALLS + 1];
static int g_race_status[RACE_CALLS + 1];
static pthread_mutex_t g_race_mu = PTHREAD_MUTEX_INITIALIZER;

static void race_done(void* user_data, const brake_result* r) {
  (void)user_data;
  brake_call_id id = brake_result_call_id(r);
  pthread_mutex_lock(&g_race_mu);
  g_race_counts[id]++;
  g_race_status[id] = brake_result_status(r);
  if (brake_result_status(r) == BRAKE_OK && brake_value_get_int(brake_result_value(r)) != 4950)
    g_race_status[id] = -100;
  pthread_mutex_unlock(&g_race_mu);
}

static void* race_canceller(void* arg) {
  (void)arg;
  /* Cancel each call at a different distance behind its start, so some
  ** cancels land while it is queued, some while it runs, some after it
  ** finished, and three threads race on each one. */
  for (brake_call_id id = 1; id <= RACE_CALLS; id++) {
    int lag = (int)(id % 5) * 40;
    int target = (int)id + lag > RACE_CALLS ? RACE_CALLS : (int)id + lag;
    while (__atomic_load_n(&g_race_started, __ATOMIC_ACQUIRE) < target) {
    }
    brake_cancel(g_race_engine, id);
  }
  return NULL;
}

BRAKE_TEST(cancel_racing_completion) {
  g_race_engine = engine_from(kSource, 2);
  pthread_t threads[RACE_THREADS];
  for (int i = 0; i < RACE_THREADS; i++) pthread_create(&threads[i], NULL, race_canceller, NULL);
  brake_value* n = brake_value_int(100);
  const brake_value* args[] = {n};
  for (brake_call_id id = 1; id <= RACE_CALLS; id++) {
    CHECK_EQ_INT(brake_call_start(g_race_engine, id, "quick", args, 1, NULL, race_done, NULL), BRAKE_OK);
    __atomic_store_n(&g_race_started, (int)id, __ATOMIC_RELEASE);
  }
  for (int i = 0; i < RACE_THREADS; i++) pthread_join(threads[i], NULL);
  double deadline = now_ms() + 10000;
  while (brake_engine_live_calls(g_race_engine) > 0 && now_ms() < deadline) sleep_ms(5);
  CHECK_EQ_INT(brake_engine_live_calls(g_race_engine), 0);
  int ok = 0, cancelled = 0;
  pthread_mutex_lock(&g_race_mu);
  for (int id = 1; id <= RACE_CALLS; id++) {
    CHECK_EQ_INT(g_race_counts[id], 1);
    if (g_race_status[id] == BRAKE_OK) ok++;
    else if (g_race_status[id] == BRAKE_CANCELLED) cancelled++;
  }
  pthread_mutex_unlock(&g_race_mu);
  CHECK_EQ_INT(ok + cancelled, RACE_CALLS);
  printf("  race: %d completed, %d cancelled\n", ok, cancelled);
  brake_value_free(n);
  brake_engine_free(g_race_engine);
}

/* ---- completion through notify + drain (how the Node addon uses it) */

static int g_notified;
static void on_notify(void* data) { __atomic_add_fetch((int*)data, 1, __ATOMIC_SEQ_CST); }

BRAKE_TEST(notify_and_drain) {
  brake_program* p = NULL;
  CHECK_EQ_INT(brake_program_compile(kSource, strlen(kSource), "t.baml", &p), BRAKE_OK);
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = 2;
  o.notify = on_notify;
  o.notify_data = &g_notified;
  brake_engine* e = NULL;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_OK);
  brake_program_free(p);
  enum { N = 100 };
  Waiter w[N];
  for (int i = 0; i < N; i++) {
    waiter_init(&w[i]);
    CHECK_EQ_INT(start0(e, (brake_call_id)(i + 1), "answer", &w[i]), BRAKE_OK);
  }
  size_t drained = 0;
  double deadline = now_ms() + 5000;
  while (drained < N && now_ms() < deadline) {
    if (__atomic_load_n(&g_notified, __ATOMIC_SEQ_CST) == 0) {
      sleep_ms(1);
      continue;
    }
    __atomic_store_n(&g_notified, 0, __ATOMIC_SEQ_CST);
    drained += brake_engine_drain(e);
  }
  CHECK_EQ_INT(drained, N);
  for (int i = 0; i < N; i++) {
    CHECK_EQ_INT(w[i].calls, 1);
    CHECK_EQ_INT(w[i].int_value, 42);
  }
  CHECK_EQ_INT(brake_engine_live_calls(e), 0); /* drain returned: every callback has returned */
  /* close with calls in flight: completions stay queued for drain */
  Waiter s;
  waiter_init(&s);
  CHECK_EQ_INT(start0(e, 1000, "long_sleep", &s), BRAKE_OK);
  CHECK_EQ_INT(brake_engine_close(e), BRAKE_OK);
  CHECK_EQ_INT(s.calls, 0);
  CHECK_EQ_INT(brake_engine_live_calls(e), 1);
  CHECK_EQ_INT(brake_engine_drain(e), 1);
  CHECK_EQ_INT(s.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(s.origin, BRAKE_ORIGIN_CLOSE);
  CHECK_EQ_INT(brake_engine_live_calls(e), 0);
  brake_engine_free(e);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(cancel_before_start_token),
      TEST_ENTRY(cancel_during_sleep),
      TEST_ENTRY(selective_cancel),
      TEST_ENTRY(cancel_between_sequential_sleeps),
      TEST_ENTRY(never_cancelled_completes),
      TEST_ENTRY(cancel_three_times),
      TEST_ENTRY(cancellation_requested_false),
      TEST_ENTRY(cancellation_requested_true),
      TEST_ENTRY(duplicate_live_id),
      TEST_ENTRY(cancel_unknown_or_finished),
      TEST_ENTRY(while_true_cancelled),
      TEST_ENTRY(loop_shares_a_busy_worker),
      TEST_ENTRY(sleeper_on_busy_worker_wakes_on_time),
      TEST_ENTRY(close_with_calls_in_flight),
      TEST_ENTRY(timeout_deadline),
      TEST_ENTRY(error_is_not_rewritten_as_cancel),
      TEST_ENTRY(token_cancels_many),
      TEST_ENTRY(cancel_racing_completion),
      TEST_ENTRY(notify_and_drain),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
