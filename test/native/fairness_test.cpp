// fairness_test.cpp: calls that compute forever (`while (true) {}`) do not
// delay other calls on the same engine by more than about one time slice
// (2 ms): a trivial call started beside 1, 2 or 8 of them on a 2-worker
// engine completes promptly; and two computing calls started one after the
// other on a 2-worker engine run on both workers (calls are placed by load:
// an idle worker never sits beside one that computes two of them).
#include <algorithm>
#include <vector>

#include "test_util.h"

namespace {

const char* kSource =
    "function spin() -> int { let n = 0; while (true) { n += 1; } n }\n"
    "function quick() -> int { 42 }\n"
    "function work(n: int) -> int { let s = 0; for (let i = 0; i < n; i += 1) { s += 1; } s }\n";

// Start-to-completion latencies (ms) of `samples` trivial calls, one after
// another, beside `spinners` endless ones.
std::vector<double> trivial_latency_beside(int spinners, int samples) {
  brake_engine* e = engine_from(kSource, 2);
  std::vector<double> ms;
  CHECK(e != nullptr);
  if (!e) return ms;
  std::vector<Waiter> spin(size_t(spinners) + 1);
  for (int i = 0; i < spinners; i++) {
    waiter_init(&spin[size_t(i)]);
    CHECK_EQ_INT(start0(e, brake_call_id(1000 + i), "spin", &spin[size_t(i)]), BRAKE_OK);
  }
  sleep_ms(30); // all spinning
  for (int i = 0; i < samples; i++) {
    Waiter w;
    waiter_init(&w);
    double t0 = now_ms();
    CHECK_EQ_INT(start0(e, brake_call_id(1 + i), "quick", &w), BRAKE_OK);
    CHECK(waiter_wait(&w, 10000));
    CHECK_EQ_INT(w.int_value, 42);
    ms.push_back(w.done_at_ms - t0);
    sleep_ms(1);
  }
  brake_engine_free(e); // cancels the spinners
  for (int i = 0; i < spinners; i++) CHECK_EQ_INT(spin[size_t(i)].status, BRAKE_CANCELLED);
  std::sort(ms.begin(), ms.end());
  return ms;
}

void check_beside(int spinners) {
  std::vector<double> ms = trivial_latency_beside(spinners, 60);
  if (ms.empty()) return;
  double median = ms[ms.size() / 2], worst = ms.back();
  fprintf(stderr, "beside %d spinners: trivial call median %.2f ms, worst %.2f ms\n", spinners, median, worst);
  // One slice is 2 ms; the bounds are generous (a shared CI machine).
  double scale = brake_test_sanitized() ? 5 : 1;
  CHECK(median <= 1 * scale); // not held back a slice: it runs, and is delivered, at once
  CHECK(worst <= 25 * scale);
}

// Milliseconds from the first start until both of `calls` work(n) calls
// settled, started `gap_ms` apart.
double run_work(brake_engine* e, int64_t n, int calls, double gap_ms, brake_call_id first_id) {
  std::vector<Waiter> w(static_cast<size_t>(calls));
  double t0 = now_ms();
  for (int i = 0; i < calls; i++) {
    waiter_init(&w[size_t(i)]);
    CHECK_EQ_INT(start_int(e, first_id + brake_call_id(i), "work", n, &w[size_t(i)]), BRAKE_OK);
    if (i + 1 < calls) sleep_ms(gap_ms);
  }
  double end = t0;
  for (int i = 0; i < calls; i++) {
    CHECK(waiter_wait(&w[size_t(i)], 60000));
    CHECK_EQ_INT(w[size_t(i)].int_value, n);
    end = std::max(end, w[size_t(i)].done_at_ms);
  }
  return end - t0;
}

} // namespace

BRAKE_TEST(computing_calls_spread_over_workers) {
  brake_engine* e = engine_from(kSource, 2);
  CHECK(e != nullptr);
  if (!e) return;
  // About 150 ms of work for one call alone.
  // (Ids are never reused: one is live until just after its callback.)
  int64_t n = 100000;
  brake_call_id id = 1;
  while (run_work(e, n, 1, 0, id++) < 150) n *= 2;
  std::vector<double> one, two;
  for (int i = 0; i < 3; i++) {
    one.push_back(run_work(e, n, 1, 0, id));
    two.push_back(run_work(e, n, 2, 20, id + 1));
    id += 3;
  }
  std::sort(one.begin(), one.end());
  std::sort(two.begin(), two.end());
  fprintf(stderr, "one call alone %.0f ms; two started 20 ms apart, both done in %.0f ms (medians)\n", one[1], two[1]);
  // On one worker the pair would take twice as long as one call; on two,
  // about as long (plus the 20 ms gap). Instrumented builds do not run two
  // threads of computation in parallel reliably (ThreadSanitizer's runtime
  // often serialises them: the pair takes twice as long though the calls
  // were placed on both workers), so there the figure is only printed.
  if (!brake_test_sanitized()) CHECK(two[1] < 1.5 * one[1] + 20);
  brake_engine_free(e);
}

BRAKE_TEST(beside_one_spinner) { check_beside(1); }
BRAKE_TEST(beside_two_spinners) { check_beside(2); }
BRAKE_TEST(beside_eight_spinners) { check_beside(8); }

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(beside_one_spinner),
      TEST_ENTRY(beside_two_spinners),
      TEST_ENTRY(beside_eight_spinners),
      TEST_ENTRY(computing_calls_spread_over_workers),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
