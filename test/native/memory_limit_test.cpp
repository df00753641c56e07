// memory_limit_test.cpp: the per-call and per-engine memory limits
// (brake_engine_options.call_memory_limit / engine_memory_limit) through
// the C ABI. A script that allocates without bound fails alone, promptly,
// with an out_of_memory script error naming the limit; other calls and the
// process go on, and the engine's memory returns to zero.
#include <sys/resource.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

// The hostile scripts (test/support/hostile.baml, shared with the benchmark
// harness) and this test's own functions.
std::string hostile_source() {
  return support_text("hostile.baml") + R"(
function recursion(n: int) -> int { if (n == 0) { 0 } else { 1 + recursion(n - 1) } }
function shared_result() -> int[] {
  let cur = [];
  cur.push(1);
  let i = 0;
  while (i < 26) { let nx = []; nx.push(cur); nx.push(cur); cur = nx; i += 1; }
  cur
}
function small() -> int { let s = "abc" + "def"; s.length() }
function echo(s: string) -> int { s.length() }
function holds(s: string) -> int { let t = s + "!"; baml.sys.sleep(600000); t.length() }
)";
}

brake_engine* make_engine(uint64_t call_limit, uint64_t engine_limit, uint32_t workers = 2,
                          uint32_t max_depth = 0) {
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = workers;
  o.call_memory_limit = call_limit;
  o.engine_memory_limit = engine_limit;
  o.max_call_depth = max_depth;
  return engine_with(hostile_source().c_str(), &o);
}

size_t peak_rss_bytes() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return size_t(u.ru_maxrss) * 1024;
}

// Runs fn() to completion and checks that it failed with out_of_memory
// naming `limit_text`; returns how long it took (ms).
double expect_out_of_memory(brake_engine* e, brake_call_id id, const char* fn, const char* limit_text) {
  Waiter w;
  waiter_init(&w);
  double t0 = now_ms();
  CHECK_EQ_INT(start0(e, id, fn, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 30000));
  CHECK_EQ_INT(w.status, BRAKE_SCRIPT_ERROR);
  CHECK(strcmp(w.kind, "out_of_memory") == 0);
  if (!strstr(w.message, limit_text)) fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", fn, w.message, limit_text);
  CHECK(strstr(w.message, limit_text) != nullptr);
  return now_ms() - t0;
}

void expect_small_call_works(brake_engine* e, brake_call_id id) {
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start0(e, id, "small", &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 10000));
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 6);
}

} // namespace

BRAKE_TEST(options_default_to_the_documented_limits) {
  brake_engine_options o;
  brake_engine_options_init(&o);
  CHECK(o.call_memory_limit == BRAKE_DEFAULT_CALL_MEMORY_LIMIT);
  CHECK(o.engine_memory_limit == BRAKE_DEFAULT_ENGINE_MEMORY_LIMIT);
  CHECK(BRAKE_DEFAULT_CALL_MEMORY_LIMIT == uint64_t(256) << 20);
  CHECK(BRAKE_DEFAULT_ENGINE_MEMORY_LIMIT == uint64_t(1) << 30);
}

// Each way of allocating without bound fails alone with the call's limit.
BRAKE_TEST(each_hostile_pattern_fails_with_the_call_limit) {
  brake_engine* e = make_engine(32 << 20, 0);
  CHECK(e != nullptr);
  if (!e) return;
  const char* fns[] = {"doubling", "array_growth", "map_growth", "deep_copies", "split_chars", "shared_result"};
  brake_call_id id = 1;
  for (const char* fn : fns) {
    double ms = expect_out_of_memory(e, id++, fn, "the call's memory limit (33554432 bytes)");
    if (ms > 10000) fprintf(stderr, "%s took %.0f ms\n", fn, ms);
    CHECK(ms < 10000);
    expect_small_call_works(e, id++);
  }
  CHECK_EQ_INT(live_after(e, 2000), 0);
  CHECK_EQ_INT(memory_after(e, 2000), 0);
  brake_engine_free(e);
}

// Deep recursion grows the fiber's stack: that counts too.
BRAKE_TEST(stack_growth_counts) {
  brake_engine* e = make_engine(1 << 20, 0, 1, 100000);
  CHECK(e != nullptr);
  if (!e) return;
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start_int(e, 1, "recursion", 90000, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 10000));
  CHECK_EQ_INT(w.status, BRAKE_SCRIPT_ERROR);
  CHECK(strcmp(w.kind, "out_of_memory") == 0);
  brake_engine_free(e);
}

// Ten hostile calls at once on a 2-worker engine: the engine's total holds
// them (some fail on it rather than on their own limit), a small call
// beside them still completes, and the process's peak resident memory stays
// within the engine limit plus a documented overhead (README: "Memory
// limits").
//
// Each process measures one mix (the peak is the process's). Calls on a
// worker take turns, so all ten hold memory at once: the two single-pattern
// mixes below once peaked at 340 MiB (a map's keys stored twice left holes no
// longer key fits) and 418 MiB (memory freed in one worker's malloc arena
// serves no other worker).
void ten_hostile_calls(const char* const* fns, int nfns) {
  const uint64_t kCall = 96 << 20, kEngine = 256 << 20;
  brake_engine* e = make_engine(kCall, kEngine);
  CHECK(e != nullptr);
  if (!e) return;
  size_t rss_before = peak_rss_bytes();
  Waiter w[10];
  for (int i = 0; i < 10; i++) {
    waiter_init(&w[i]);
    CHECK_EQ_INT(start0(e, brake_call_id(100 + i), fns[i % nfns], &w[i]), BRAKE_OK);
  }
  expect_small_call_works(e, 1);
  for (int i = 0; i < 10; i++) {
    CHECK(waiter_wait(&w[i], 60000));
    CHECK_EQ_INT(w[i].status, BRAKE_SCRIPT_ERROR);
    CHECK(strcmp(w[i].kind, "out_of_memory") == 0);
    CHECK(strstr(w[i].message, "memory limit") != nullptr);
  }
  CHECK_EQ_INT(live_after(e, 2000), 0);
  CHECK_EQ_INT(memory_after(e, 2000), 0);
  size_t peak = peak_rss_bytes();
  fprintf(stderr, "peak RSS %zu MiB (before %zu MiB), engine limit %llu MiB\n", peak >> 20, rss_before >> 20,
          (unsigned long long)(kEngine >> 20));
  if (!brake_test_sanitized()) CHECK(peak < rss_before + kEngine + (64 << 20));
  expect_small_call_works(e, 2);
  brake_engine_free(e);
}

BRAKE_TEST(ten_hostile_calls_stay_within_the_engine_limit) {
  const char* fns[] = {"doubling", "array_growth", "map_growth", "deep_copies", "split_chars"};
  ten_hostile_calls(fns, 5);
}

BRAKE_TEST(ten_growing_maps_stay_within_the_engine_limit) {
  const char* fns[] = {"map_growth"};
  ten_hostile_calls(fns, 1);
}

BRAKE_TEST(ten_deep_copies_stay_within_the_engine_limit) {
  const char* fns[] = {"deep_copies"};
  ten_hostile_calls(fns, 1);
}

BRAKE_TEST(arguments_over_the_call_limit_are_refused) {
  brake_engine* e = make_engine(1 << 20, 0);
  CHECK(e != nullptr);
  if (!e) return;
  std::string big(2 << 20, 'x');
  brake_value* v = nullptr;
  CHECK_EQ_INT(brake_value_string(big.data(), big.size(), &v), BRAKE_OK);
  const brake_value* args[] = {v};
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(brake_call_start(e, 1, "echo", args, 1, nullptr, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
  CHECK(strstr(brake_last_error(), "memory limit") != nullptr);
  brake_value_free(v);
  CHECK_EQ_INT(brake_engine_live_calls(e), 0);
  CHECK_EQ_INT(memory_after(e, 2000), 0);
  // Within the limit it runs.
  std::string fits(1000, 'y');
  CHECK_EQ_INT(brake_value_string(fits.data(), fits.size(), &v), BRAKE_OK);
  args[0] = v;
  CHECK_EQ_INT(brake_call_start(e, 2, "echo", args, 1, nullptr, waiter_done, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 10000));
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 1000);
  brake_value_free(v);
  brake_engine_free(e);
}

// A call that allocates a little holds only a little of the engine's total
// (the steps a call draws in start at 1 KiB): 40,000 sleeping calls that
// each hold a string fit under the default limits. (With 64 KiB steps the
// engine refused calls past 16,384.)
BRAKE_TEST(many_small_calls_fit_under_the_engine_limit) {
  brake_engine* e = make_engine(BRAKE_DEFAULT_CALL_MEMORY_LIMIT, BRAKE_DEFAULT_ENGINE_MEMORY_LIMIT);
  CHECK(e != nullptr);
  if (!e) return;
  constexpr int kCalls = 40000;
  static Waiter w[kCalls];
  brake_value* v = nullptr;
  CHECK_EQ_INT(brake_value_string("some text", 9, &v), BRAKE_OK);
  const brake_value* args[] = {v};
  brake_token* t = brake_token_new();
  brake_call_options o;
  brake_call_options_init(&o);
  o.token = t;
  int refused = 0;
  for (int i = 0; i < kCalls; i++) {
    waiter_init(&w[i]);
    if (brake_call_start(e, brake_call_id(i + 1), "holds", args, 1, &o, waiter_done, &w[i]) != BRAKE_OK) refused++;
  }
  brake_value_free(v);
  CHECK_EQ_INT(refused, 0);
  CHECK(brake_engine_memory_in_use(e) <= size_t(kCalls) * 1024);
  CHECK_EQ_INT(brake_token_cancel(t), kCalls);
  for (int i = 0; i < kCalls; i++) CHECK(waiter_wait(&w[i], 20000));
  CHECK_EQ_INT(live_after(e, 5000), 0);
  CHECK_EQ_INT(memory_after(e, 2000), 0);
  brake_token_free(t);
  brake_engine_free(e);
}

// 0 means unlimited, only when asked for: 4M one-character strings (about
// 320 MB) pass the default limit, and fit when the limits are off.
BRAKE_TEST(zero_means_unlimited) {
  brake_engine* e = make_engine(BRAKE_DEFAULT_CALL_MEMORY_LIMIT, BRAKE_DEFAULT_ENGINE_MEMORY_LIMIT);
  CHECK(e != nullptr);
  if (!e) return;
  expect_out_of_memory(e, 1, "split_chars", "the call's memory limit (268435456 bytes)");
  brake_engine_free(e);
  e = make_engine(0, 0);
  CHECK(e != nullptr);
  if (!e) return;
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start0(e, 1, "split_chars", &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 30000));
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 1 << 22);
  brake_engine_free(e);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(options_default_to_the_documented_limits),
      TEST_ENTRY(each_hostile_pattern_fails_with_the_call_limit),
      TEST_ENTRY(stack_growth_counts),
      TEST_ENTRY(ten_hostile_calls_stay_within_the_engine_limit),
      TEST_ENTRY(ten_growing_maps_stay_within_the_engine_limit),
      TEST_ENTRY(ten_deep_copies_stay_within_the_engine_limit),
      TEST_ENTRY(arguments_over_the_call_limit_are_refused),
      TEST_ENTRY(many_small_calls_fit_under_the_engine_limit),
      TEST_ENTRY(zero_means_unlimited),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
