/*
** vm_bench: time one function of a .baml file in brake's VM.
**
**   vm_bench FILE FUNCTION INT_ARG [RUNS]
**
** Compiles FILE, starts an engine with one worker, then runs FUNCTION(INT_ARG)
** RUNS times (default 1), one after another. Each run is timed in-process
** from brake_call_start to its completion callback (compile and engine
** start-up excluded), the same way bench/programs/compute.py times Python.
** Prints one JSON line: {"result": R, "ms": [run1, run2, ...]}.
** RUNS 0 compiles and starts the engine but runs nothing: the baseline the
** harness subtracts from callgrind's instruction counts.
*/
#include "bench_util.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: vm_bench FILE FUNCTION INT_ARG [RUNS]\n");
    return 2;
  }
  long long arg = atoll(argv[3]);
  int runs = argc > 4 ? atoi(argv[4]) : 1;
  brake_engine* e = bench_engine(argv[1], 1, NULL, NULL);
  brake_value* v = brake_value_int(arg);
  const brake_value* args[1] = {v};
  BenchLatch latch;
  latch_init(&latch);
  printf("{\"ms\": [");
  int64_t result = 0;
  for (int r = 0; r < runs; r++) {
    latch_reset(&latch);
    uint64_t t0 = bench_now_ns();
    if (brake_call_start(e, (brake_call_id)(r + 1), argv[2], args, 1, NULL, latch_on_done, &latch) != BRAKE_OK) {
      fprintf(stderr, "start: %s\n", brake_last_error());
      return 2;
    }
    latch_wait(&latch);
    if (latch.status != BRAKE_OK) {
      fprintf(stderr, "call failed: %s\n", brake_status_name(latch.status));
      return 1;
    }
    result = latch.result;
    printf("%s%.3f", r ? ", " : "", (double)(latch.t_done - t0) / 1e6);
  }
  printf("], \"result\": %lld}\n", (long long)result);
  brake_value_free(v);
  brake_engine_free(e);
  return 0;
}
