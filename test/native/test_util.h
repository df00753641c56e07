/*
** test_util.h: a tiny harness for the native tests (C and C++).
**
** Each test file lists its tests with BRAKE_TEST(name); CMake registers
** every one as its own ctest test (one process per test, so a crash cannot
** take the others down): `file_test name` runs one, no argument runs all.
** Prints "N passed, M failed" and exits non-zero on failure.
*/
#ifndef BRAKE_TEST_UTIL_H
#define BRAKE_TEST_UTIL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brake.h"

static int g_failures = 0;

#ifndef BRAKE_SOURCE_DIR
#define BRAKE_SOURCE_DIR "."
#endif

/* The text of test/support/<name> (malloc'd, NUL-terminated; the caller
   frees it), or NULL if it cannot be read. */
static char* support_file(const char* name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/test/support/%s", BRAKE_SOURCE_DIR, name);
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, len = 0;
  char* text = (char*)malloc(cap);
  size_t n;
  while (text && (n = fread(text + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len - 1 == 0) text = (char*)realloc(text, cap *= 2);
  }
  fclose(f);
  if (text) text[len] = 0;
  return text;
}

#ifdef __cplusplus
#include <string>
/* The same as a string; a failed check if it cannot be read. */
static std::string support_text(const char* name) {
  char* text = support_file(name);
  if (!text) fprintf(stderr, "cannot read test/support/%s\n", name), g_failures++;
  std::string s = text ? text : "";
  free(text);
  return s;
}
#endif


#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      g_failures++;                                                        \
    }                                                                      \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                    \
  do {                                                                                        \
    long long a_ = (long long)(a), b_ = (long long)(b);                                       \
    if (a_ != b_) {                                                                           \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, a_, b_); \
      g_failures++;                                                                           \
    }                                                                                         \
  } while (0)

typedef struct {
  const char* name;
  void (*fn)(void);
} TestCase;

#define BRAKE_TEST(name) static void name(void)
#define TEST_ENTRY(name) {#name, name}

/* Whether this build runs under AddressSanitizer or ThreadSanitizer: they
** slow every byte down, so time bounds are scaled and some inputs shrunk. */
static int brake_test_sanitized(void) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return 1;
#else
  return 0;
#endif
#else
  return 0;
#endif
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

static void sleep_ms(double ms) {
  struct timespec t;
  t.tv_sec = (time_t)(ms / 1000);
  t.tv_nsec = (long)((ms - (double)t.tv_sec * 1000) * 1e6);
  nanosleep(&t, NULL);
}

static int run_tests(const TestCase* cases, size_t n, int argc, char** argv) {
  int passed = 0, failed = 0, ran = 0;
  for (size_t i = 0; i < n; i++) {
    if (argc > 1 && strcmp(argv[1], cases[i].name) != 0) continue;
    ran++;
    int before = g_failures;
    double t0 = now_ms();
    cases[i].fn();
    if (g_failures == before) {
      passed++;
      printf("ok   %s (%.0f ms)\n", cases[i].name, now_ms() - t0);
    } else {
      failed++;
      printf("FAIL %s\n", cases[i].name);
    }
  }
  if (ran == 0) {
    fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "(any)");
    return 2;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

/* ---- a completion waiter */

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls;         /* how many times the callback ran */
  int status;
  int origin;
  int64_t int_value;
  int has_int;
  char message[256];
  char kind[64];
  double done_at_ms;
} Waiter;

static void waiter_init(Waiter* w) {
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  w->status = -1;
}

static void waiter_done(void* user_data, const brake_result* r) {
  Waiter* w = (Waiter*)user_data;
  pthread_mutex_lock(&w->mu);
  w->calls++;
  w->status = brake_result_status(r);
  w->origin = (int)brake_result_origin(r);
  const brake_value* v = brake_result_value(r);
  w->has_int = brake_value_kind(v) == BRAKE_KIND_INT;
  w->int_value = brake_value_get_int(v);
  if (brake_value_kind(v) == BRAKE_KIND_BOOL) w->int_value = brake_value_get_bool(v);
  snprintf(w->message, sizeof w->message, "%s", brake_result_message(r));
  snprintf(w->kind, sizeof w->kind, "%s", brake_result_error_kind(r));
  w->done_at_ms = now_ms();
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Waits until the callback ran (returns 1) or timeout_ms passed (0). */
static int waiter_wait(Waiter* w, double timeout_ms) {
  double deadline = now_ms() + timeout_ms;
  pthread_mutex_lock(&w->mu);
  while (w->calls == 0) {
    double left = deadline - now_ms();
    if (left <= 0) break;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    long long ns = (long long)t.tv_nsec + (long long)((left < 50 ? left : 50) * 1e6);
    t.tv_sec += (time_t)(ns / 1000000000LL);
    t.tv_nsec = (long)(ns % 1000000000LL);
    pthread_cond_timedwait(&w->cv, &w->mu, &t);
  }
  int done = w->calls > 0;
  pthread_mutex_unlock(&w->mu);
  return done;
}

/* Live calls drop to zero once every callback has returned (shortly after
** the waiters saw them run). Returns the final count. */
static size_t live_after(brake_engine* e, double timeout_ms) {
  double deadline = now_ms() + timeout_ms;
  while (brake_engine_live_calls(e) > 0 && now_ms() < deadline) sleep_ms(1);
  return brake_engine_live_calls(e);
}

/* A finished call's large heap is freed just after its completion is
** delivered: the memory it drew returns a moment later. Waits for the
** engine's memory in use to reach zero; returns the final figure. */
static size_t memory_after(brake_engine* e, double timeout_ms) {
  double deadline = now_ms() + timeout_ms;
  while (brake_engine_memory_in_use(e) > 0 && now_ms() < deadline) sleep_ms(1);
  return brake_engine_memory_in_use(e);
}

/* An engine running `source` with options `o`; NULL (and why, on stderr)
** when it does not compile or the engine is refused. */
static brake_engine* engine_with(const char* source, const brake_engine_options* o) {
  brake_program* p = NULL;
  int rc = brake_program_compile(source, strlen(source), "test.baml", &p);
  if (rc != BRAKE_OK) {
    fprintf(stderr, "compile failed: %s\n", brake_last_error());
    brake_program_free(p);
    return NULL;
  }
  brake_engine* e = NULL;
  rc = brake_engine_create(p, o, &e);
  brake_program_free(p);
  if (rc != BRAKE_OK) fprintf(stderr, "engine_create failed: %s\n", brake_last_error());
  return e;
}

static brake_engine* engine_from(const char* source, unsigned workers) {
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = workers;
  return engine_with(source, &o);
}

static int start0(brake_engine* e, brake_call_id id, const char* fn, Waiter* w) {
  return brake_call_start(e, id, fn, NULL, 0, NULL, waiter_done, w);
}

/* Starts `fn(arg)` with one int argument. */
static int start_int(brake_engine* e, brake_call_id id, const char* fn, int64_t arg, Waiter* w) {
  brake_value* v = brake_value_int(arg);
  const brake_value* args[] = {v};
  int rc = brake_call_start(e, id, fn, args, 1, NULL, waiter_done, w);
  brake_value_free(v);
  return rc;
}

#endif
