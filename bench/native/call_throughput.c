/*
** call_throughput: trivial calls (add(1, 2)) started from one host thread,
** start to completion, with at most WINDOW in flight.
**
**   call_throughput FILE MODE CALLS [WINDOW] [WORKERS]
**
** MODE "worker": completion callbacks run on the worker threads.
** MODE "drain":  the engine has a notify hook; the host thread drains the
**                completion queue itself (how the Node addon works).
** Defaults: WINDOW 1000, WORKERS 2. Prints one JSON line:
** {"mode": M, "calls": N, "ms": T, "calls_per_s": R}.
*/
#include <stdatomic.h>

#include "bench_util.h"

static atomic_ulong g_completed;
static BenchWake g_wake = BENCH_WAKE_INIT; /* drain mode: the queue went non-empty */
static atomic_int g_waiting;                /* the host thread sleeps until completions arrive */
static int g_failed;

static void on_done(void* user_data, const brake_result* r) {
  (void)user_data;
  if (brake_result_status(r) != BRAKE_OK) g_failed = 1;
  atomic_fetch_add(&g_completed, 1);
  if (atomic_load(&g_waiting)) bench_wake_raise(&g_wake);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: call_throughput FILE worker|drain CALLS [WINDOW] [WORKERS]\n");
    return 2;
  }
  int drain = strcmp(argv[2], "drain") == 0;
  unsigned long calls = strtoul(argv[3], NULL, 10);
  unsigned long window = argc > 4 ? strtoul(argv[4], NULL, 10) : 1000;
  uint32_t workers = argc > 5 ? (uint32_t)atoi(argv[5]) : 2;
  brake_engine* e = bench_engine(argv[1], workers, drain ? bench_wake_notify : NULL, &g_wake);
  brake_value* a = brake_value_int(1);
  brake_value* b = brake_value_int(2);
  const brake_value* args[2] = {a, b};

  uint64_t t0 = bench_now_ns();
  unsigned long started = 0;
  while (atomic_load(&g_completed) < calls) {
    unsigned long done = atomic_load(&g_completed);
    while (started < calls && started - done < window) {
      if (brake_call_start(e, (brake_call_id)(started + 1), "add", args, 2, NULL, on_done, NULL) != BRAKE_OK) {
        fprintf(stderr, "start: %s\n", brake_last_error());
        return 2;
      }
      started++;
    }
    if (drain) {
      /* Drain whatever is queued; sleep until notified when nothing is. */
      if (brake_engine_drain(e) == 0) {
        bench_wake_wait(&g_wake);
      }
    } else if (started - atomic_load(&g_completed) >= window || started == calls) {
      /* Window full (or all started): sleep until half the window (or all)
      ** has completed. Sequentially consistent atomics: the callback's
      ** increment-then-check and this store-then-read cannot both miss. */
      unsigned long target = started == calls ? calls : started - window / 2;
      pthread_mutex_lock(&g_wake.mu);
      atomic_store(&g_waiting, 1);
      while (atomic_load(&g_completed) < target) pthread_cond_wait(&g_wake.cv, &g_wake.mu);
      atomic_store(&g_waiting, 0);
      pthread_mutex_unlock(&g_wake.mu);
    }
  }
  uint64_t t1 = bench_now_ns();
  double ms = (double)(t1 - t0) / 1e6;
  printf("{\"mode\": \"%s\", \"calls\": %lu, \"window\": %lu, \"workers\": %u, \"ms\": %.3f, \"calls_per_s\": %.0f}\n",
         argv[2], calls, window, workers, ms, (double)calls / (ms / 1e3));
  brake_value_free(a);
  brake_value_free(b);
  brake_engine_free(e);
  return g_failed ? 1 : 0;
}
