/*
** mass_cancel: the native part of "mass cancel (100k in flight, one shared
** signal)": N calls of sleep_ms(600000) share one brake_token; once all are
** admitted and sleeping, the bench thread cancels the token and times how
** long it takes until every completion has been delivered.
**
**   mass_cancel FILE MODE CALLS [REPS] [WORKERS]
**
** MODE "drain":  the engine has a notify hook and the bench thread drains the
**                completion queue itself, as an event-loop host (the Node
**                addon) does; the figure includes running the callbacks.
** MODE "worker": completion callbacks run on the worker threads; the figure
**                ends when the last callback runs.
** Defaults: REPS 3, WORKERS 2. Each rep uses a fresh engine. "Sleeping" is
** established by waiting until brake_engine_live_calls reports every call
** and the process has then used no CPU for 100 ms (the workers have taken
** every start message, run every call to its sleep and gone idle).
** Prints one JSON line per rep: cancel_ms is the brake_token_cancel call
** alone (the host thread's stall), total_ms is cancel to last completion.
**
** Profiling the cancel phase alone: with MASS_CANCEL_PERF_FIFO set to perf's
** control fifo, the bench writes "enable" just before the cancel and
** "disable" after the last completion:
**   mkfifo /tmp/ctl; MASS_CANCEL_PERF_FIFO=/tmp/ctl \
**     perf record -g -D -1 --control fifo:/tmp/ctl -- mass_cancel FILE drain 100000 1
** With MASS_CANCEL_PERF_SCOPE=cancel it disables right after
** brake_token_cancel returns (the host thread's part alone).
*/
#include <stdatomic.h>

#include "bench_util.h"

static atomic_ulong g_completed;
static atomic_ulong g_bad;
static unsigned long g_target;
static uint64_t g_t_last;
static BenchWake g_wake = BENCH_WAKE_INIT; /* its mutex also guards g_t_last */

static void on_done(void* user_data, const brake_result* r) {
  (void)user_data;
  if (brake_result_status(r) != BRAKE_CANCELLED || brake_result_origin(r) != BRAKE_ORIGIN_TOKEN) atomic_fetch_add(&g_bad, 1);
  if (atomic_fetch_add(&g_completed, 1) + 1 == g_target) {
    uint64_t t = bench_now_ns();
    pthread_mutex_lock(&g_wake.mu);
    g_t_last = t;
    pthread_cond_signal(&g_wake.cv);
    pthread_mutex_unlock(&g_wake.mu);
  }
}

/* perf's control fifo (see above), or NULL. */
static FILE* g_perf;
static void perf_control(const char* cmd) {
  if (!g_perf) return;
  fprintf(g_perf, "%s\n", cmd);
  fflush(g_perf);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: mass_cancel FILE drain|worker CALLS [REPS] [WORKERS]\n");
    return 2;
  }
  int drain = strcmp(argv[2], "drain") == 0;
  unsigned long calls = strtoul(argv[3], NULL, 10);
  int reps = argc > 4 ? atoi(argv[4]) : 3;
  uint32_t workers = argc > 5 ? (uint32_t)atoi(argv[5]) : 2;
  const char* fifo = getenv("MASS_CANCEL_PERF_FIFO");
  if (fifo) g_perf = fopen(fifo, "w");
  const char* scope = getenv("MASS_CANCEL_PERF_SCOPE");
  int cancel_only = scope && strcmp(scope, "cancel") == 0;
  for (int rep = 0; rep < reps; rep++) {
    brake_engine* e = bench_engine(argv[1], workers, drain ? bench_wake_notify : NULL, &g_wake);
    brake_token* t = brake_token_new();
    atomic_store(&g_completed, 0);
    g_target = calls;
    g_t_last = 0;
    g_wake.raised = 0;
    bench_start_sleeps(e, calls, 1, t, on_done);
    bench_wait_idle(e, calls);

    perf_control("enable");
    uint64_t t0 = bench_now_ns();
    size_t flagged = brake_token_cancel(t);
    uint64_t t1 = bench_now_ns();
    if (cancel_only) perf_control("disable");
    uint64_t t_end;
    if (drain) {
      while (atomic_load(&g_completed) < calls) {
        bench_wake_wait(&g_wake);
        brake_engine_drain(e);
      }
      t_end = bench_now_ns();
    } else {
      pthread_mutex_lock(&g_wake.mu);
      while (g_t_last == 0) pthread_cond_wait(&g_wake.cv, &g_wake.mu);
      t_end = g_t_last;
      pthread_mutex_unlock(&g_wake.mu);
    }
    if (!cancel_only) perf_control("disable");
    if (flagged != calls || atomic_load(&g_bad) != 0) {
      fprintf(stderr, "flagged %zu of %lu, %lu bad completions\n", flagged, calls, atomic_load(&g_bad));
      return 1;
    }
    printf("{\"mode\": \"%s\", \"calls\": %lu, \"workers\": %u, \"cancel_ms\": %.3f, \"total_ms\": %.3f}\n", argv[2], calls,
           workers, (double)(t1 - t0) / 1e6, (double)(t_end - t0) / 1e6);
    fflush(stdout);
    brake_token_free(t);
    brake_engine_free(e);
  }
  return 0;
}
