/*
** cancel_latency: time from brake_cancel on the bench thread to the call's
** completion callback on a worker.
**
**   cancel_latency FILE MODE SAMPLES [WAIT_US]
**
** MODE "sleep" calls sleep_ms(600000); MODE "compute" calls spin() (a
** `while (true)` loop). For each sample: start the call, wait WAIT_US
** (default 3000) so it is sleeping or running, take t0, brake_cancel, and
** the callback takes t1 (on the worker, before anything else). The engine
** has two workers. Prints one JSON line with every latency in microseconds,
** sorted: {"mode": M, "us": [...]}.
*/
#include "bench_util.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: cancel_latency FILE sleep|compute SAMPLES [WAIT_US]\n");
    return 2;
  }
  int sleeping = strcmp(argv[2], "sleep") == 0;
  int samples = atoi(argv[3]);
  unsigned wait_us = argc > 4 ? (unsigned)atoi(argv[4]) : 3000;
  brake_engine* e = bench_engine(argv[1], 2, NULL, NULL);
  brake_value* ms = brake_value_int(600000);
  const brake_value* args[1] = {ms};
  uint64_t* lat = (uint64_t*)calloc((size_t)samples, sizeof(uint64_t));
  BenchLatch latch;
  latch_init(&latch);
  for (int i = 0; i < samples; i++) {
    latch_reset(&latch);
    int rc = sleeping ? brake_call_start(e, (brake_call_id)(i + 1), "sleep_ms", args, 1, NULL, latch_on_done, &latch)
                      : brake_call_start(e, (brake_call_id)(i + 1), "spin", NULL, 0, NULL, latch_on_done, &latch);
    if (rc != BRAKE_OK) {
      fprintf(stderr, "start: %s\n", brake_last_error());
      return 2;
    }
    bench_sleep_us(wait_us);
    uint64_t t0 = bench_now_ns();
    brake_cancel(e, (brake_call_id)(i + 1));
    latch_wait(&latch);
    if (latch.status != BRAKE_CANCELLED) {
      fprintf(stderr, "sample %d: status %s, expected CANCELLED\n", i, brake_status_name(latch.status));
      return 1;
    }
    lat[i] = latch.t_done > t0 ? latch.t_done - t0 : 0;
  }
  qsort(lat, (size_t)samples, sizeof(uint64_t), bench_cmp_u64);
  printf("{\"mode\": \"%s\", \"us\": [", argv[2]);
  for (int i = 0; i < samples; i++) printf("%s%.1f", i ? "," : "", (double)lat[i] / 1e3);
  printf("]}\n");
  free(lat);
  brake_value_free(ms);
  brake_engine_free(e);
  return 0;
}
