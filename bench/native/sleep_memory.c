/*
** sleep_memory: native bytes per in-flight sleeping call.
**
**   sleep_memory FILE CALLS [WORKERS] [TOKEN] [WARM]
**
** Starts an engine (WORKERS, default 2, with a notify hook as the Node addon
** uses). With WARM 1 (the default) it first runs a round of CALLS sleeping
** calls that are cancelled and drained, as in a long-running process; WARM 0
** measures a fresh engine, as the Node memory scenario does (a fresh
** process), so capacities grown by the burst count too. Then it measures
** malloc's bytes in use (mallinfo2: every arena, chunk headers included,
** plus mmapped blocks) and RSS, starts CALLS calls of sleep_ms(600000),
** waits until all are live and the workers idle, measures again and prints
** the growth divided by CALLS. TOKEN 1 (default 0) starts every call with
** one shared brake_token, as a shared AbortSignal does. Prints one JSON
** line {"calls", ..., "heap_b_per_call", "rss_b_per_call"}.
*/
#include <malloc.h>
#include <stdatomic.h>

#include "bench_util.h"

static atomic_ulong g_completed;
static void on_notify(void* data) { (void)data; }
static void on_done(void* user_data, const brake_result* r) {
  (void)user_data;
  (void)r;
  atomic_fetch_add(&g_completed, 1);
}

static long rss_bytes(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  return rss * 4096L;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: sleep_memory FILE CALLS [WORKERS] [TOKEN] [WARM]\n");
    return 2;
  }
  unsigned long calls = strtoul(argv[2], NULL, 10);
  uint32_t workers = argc > 3 ? (uint32_t)atoi(argv[3]) : 2;
  int use_token = argc > 4 ? atoi(argv[4]) : 0;
  int warm_up = argc > 5 ? atoi(argv[5]) : 1;
  brake_engine* e = bench_engine(argv[1], workers, on_notify, NULL);

  /* Warm-up round: the same calls, cancelled and drained. Without it, one
  ** call that sleeps 0 ms, so the workers' threads and arenas exist. */
  brake_token* warm = brake_token_new();
  unsigned long warm_calls = warm_up ? calls : 1;
  bench_start_sleeps(e, warm_calls, 1, warm, on_done);
  bench_wait_idle(e, warm_calls);
  brake_token_cancel(warm);
  while (atomic_load(&g_completed) < warm_calls) {
    brake_engine_drain(e);
    bench_sleep_us(1000);
  }
  brake_engine_drain(e);
  brake_token_free(warm);
  while (brake_engine_live_calls(e) > 0) bench_sleep_us(1000);
  bench_wait_idle(e, 0);
  malloc_trim(0);

  brake_token* t = use_token ? brake_token_new() : NULL;
  struct mallinfo2 m0 = mallinfo2();
  long rss0 = rss_bytes();
  bench_start_sleeps(e, calls, calls + 1, t, on_done);
  bench_wait_idle(e, calls);
  struct mallinfo2 m1 = mallinfo2();
  long rss1 = rss_bytes();
  printf("{\"calls\": %lu, \"workers\": %u, \"token\": %d, \"warm\": %d, \"heap_b_per_call\": %.1f, \"rss_b_per_call\": %.1f}\n", calls,
         workers, use_token, warm_up, (double)((long)(m1.uordblks + m1.hblkhd) - (long)(m0.uordblks + m0.hblkhd)) / (double)calls,
         (double)(rss1 - rss0) / (double)calls);
  if (t) {
    brake_token_cancel(t);
    brake_token_free(t);
  }
  brake_engine_close(e);
  brake_engine_free(e);
  return 0;
}
