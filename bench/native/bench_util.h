/*
** Helpers shared by the native benchmark programs: monotonic and CPU clocks,
** waiting for an engine to go idle, starting a batch of sleeps, the host's
** drain-mode wake-up, a one-shot latch (mutex + condvar), file reading and program compilation
** through brake.h. Header-only so each bench stays one executable.
*/
#ifndef BRAKE_BENCH_UTIL_H
#define BRAKE_BENCH_UTIL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brake.h"

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void bench_sleep_us(unsigned us) {
  struct timespec ts = {us / 1000000u, (long)(us % 1000000u) * 1000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static inline uint64_t bench_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waits until at least `n` calls are live and the process is then idle
** (< 2 ms of CPU in 100 ms): the workers have taken every start message,
** run every call to its sleep and gone to sleep themselves. */
static inline void bench_wait_idle(brake_engine* e, unsigned long n) {
  while (brake_engine_live_calls(e) < n) bench_sleep_us(1000);
  for (;;) {
    uint64_t c0 = bench_cpu_ns();
    bench_sleep_us(100000);
    if (bench_cpu_ns() - c0 < 2000000) return;
  }
}

/* Starts `calls` calls of sleep_ms(600000) (ids first, first+1, ...) with
** `token` (or none). Exits the process on a failed start. */
static inline void bench_start_sleeps(brake_engine* e, unsigned long calls, brake_call_id first, brake_token* token,
                                      brake_completion_fn done) {
  brake_value* ms = brake_value_int(600000);
  const brake_value* args[1] = {ms};
  brake_call_options o;
  brake_call_options_init(&o);
  o.token = token;
  for (unsigned long i = 0; i < calls; i++) {
    if (brake_call_start(e, first + i, "sleep_ms", args, 1, &o, done, NULL) != BRAKE_OK) {
      fprintf(stderr, "start: %s\n", brake_last_error());
      exit(2);
    }
  }
  brake_value_free(ms);
}

/* The host thread's wake-up in drain mode: `notify` (any thread) raises
** it, the host waits until it is raised and lowers it. Its mutex and
** condition also serve a bench's other waits. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int raised;
} BenchWake;
#define BENCH_WAKE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}

static inline void bench_wake_raise(BenchWake* w) {
  pthread_mutex_lock(&w->mu);
  w->raised = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static inline void bench_wake_wait(BenchWake* w) {
  pthread_mutex_lock(&w->mu);
  while (!w->raised) pthread_cond_wait(&w->cv, &w->mu);
  w->raised = 0;
  pthread_mutex_unlock(&w->mu);
}

/* A brake_engine_options.notify whose data is a BenchWake. */
static void bench_wake_notify(void* data) { bench_wake_raise((BenchWake*)data); }

/* Set once by a completion callback, awaited by the bench thread. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int status;
  uint64_t t_done;
  int64_t result;
} BenchLatch;

static inline void latch_init(BenchLatch* l) {
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  l->done = 0;
}

static inline void latch_reset(BenchLatch* l) {
  pthread_mutex_lock(&l->mu);
  l->done = 0;
  pthread_mutex_unlock(&l->mu);
}

/* A completion callback: records the time first, then wakes the waiter. */
static void latch_on_done(void* user_data, const brake_result* r) {
  uint64_t t = bench_now_ns();
  BenchLatch* l = (BenchLatch*)user_data;
  pthread_mutex_lock(&l->mu);
  l->t_done = t;
  l->status = brake_result_status(r);
  l->result = brake_value_get_int(brake_result_value(r));
  l->done = 1;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

static inline void latch_wait(BenchLatch* l) {
  pthread_mutex_lock(&l->mu);
  while (!l->done) pthread_cond_wait(&l->cv, &l->mu);
  pthread_mutex_unlock(&l->mu);
}

static inline char* bench_read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* buf = (char*)malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) buf[n] = 0;
  *len = (size_t)n;
  return buf;
}

/* Compiles `path` and starts an engine with `workers` threads and optional
** notify hook. Exits the process with a message on any failure. */
static inline brake_engine* bench_engine(const char* path, uint32_t workers, void (*notify)(void*),
                                         void* notify_data) {
  size_t len = 0;
  char* src = bench_read_file(path, &len);
  if (!src) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(2);
  }
  brake_program* prog = NULL;
  if (brake_program_compile(src, len, path, &prog) != BRAKE_OK) {
    for (size_t i = 0; i < brake_program_diagnostic_count(prog); i++) {
      const char* msg;
      uint32_t line, col;
      brake_program_diagnostic(prog, i, NULL, &line, &col, &msg);
      fprintf(stderr, "%s:%u:%u: %s\n", path, line, col, msg);
    }
    exit(2);
  }
  free(src);
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = workers;
  o.notify = notify;
  o.notify_data = notify_data;
  brake_engine* e = NULL;
  if (brake_engine_create(prog, &o, &e) != BRAKE_OK) {
    fprintf(stderr, "engine: %s\n", brake_last_error());
    exit(2);
  }
  brake_program_free(prog);
  return e;
}

static int bench_cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

#endif
