// fairness_test.cpp: calls that compute forever (`while (true) {}`) do not
// delay other calls on the same engine by more than about one time slice
// (2 ms), and calls that compute share their workers evenly:
//  - a trivial call started beside 1, 2 or 8 spinners on a 2-worker engine,
//    or beside 2 on a 1-worker engine, completes promptly;
//  - two computing calls on one worker take turns (they finish together);
//  - the cancel of one computing call among eight on one worker settles at
//    once, not when its turn comes;
//  - two computing calls started at once on a 2-worker engine run on both
//    workers (calls are placed by load: an idle worker never sits beside
//    one that computes two of them).
#include <algorithm>
#include <cmath>
#include <vector>

#include "test_util.h"

namespace {

const char* kSource =
    "function spin() -> int { let n = 0; while (true) { n += 1; } n }\n"
    "function quick() -> int { 42 }\n"
    "function work(n: int) -> int { let s = 0; for (let i = 0; i < n; i += 1) { s += 1; } s }\n";

// Instrumented builds run everything slower: bounds scale with this.
double scale() { return brake_test_sanitized() ? 5 : 1; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void start_spinners(brake_engine* e, std::vector<Waiter>& spin, brake_call_id first) {
  for (size_t i = 0; i < spin.size(); i++) {
    waiter_init(&spin[i]);
    CHECK_EQ_INT(start0(e, first + brake_call_id(i), "spin", &spin[i]), BRAKE_OK);
  }
}

// Start-to-completion latencies (ms) of `samples` trivial calls, one after
// another, beside `spinners` endless ones on `workers` workers.
std::vector<double> trivial_latency_beside(int spinners, int samples, uint32_t workers) {
  brake_engine* e = engine_from(kSource, workers);
  std::vector<double> ms;
  CHECK(e != nullptr);
  if (!e) return ms;
  std::vector<Waiter> spin(static_cast<size_t>(spinners));
  start_spinners(e, spin, 1000);
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
  for (Waiter& s : spin) CHECK_EQ_INT(s.status, BRAKE_CANCELLED);
  std::sort(ms.begin(), ms.end());
  return ms;
}

void check_beside(int spinners, uint32_t workers) {
  std::vector<double> ms = trivial_latency_beside(spinners, 60, workers);
  if (ms.empty()) return;
  double med = ms[ms.size() / 2], worst = ms.back();
  fprintf(stderr, "beside %d spinners on %u worker(s): trivial call median %.2f ms, worst %.2f ms\n", spinners,
          workers, med, worst);
  // One slice is 2 ms; the bounds are generous (a shared CI machine). The
  // call is not held back a slice: it runs, and is delivered, at once.
  CHECK(med <= 1 * scale());
  CHECK(worst <= 25 * scale());
}

// Starts `calls` work(n) calls `gap_ms` apart; fills `done` with each one's
// completion time (ms after the first start) and returns the last.
double run_work(brake_engine* e, int64_t n, int calls, double gap_ms, brake_call_id first_id,
                std::vector<double>* done = nullptr) {
  std::vector<Waiter> w(static_cast<size_t>(calls));
  double t0 = now_ms();
  for (int i = 0; i < calls; i++) {
    waiter_init(&w[size_t(i)]);
    CHECK_EQ_INT(start_int(e, first_id + brake_call_id(i), "work", n, &w[size_t(i)]), BRAKE_OK);
    if (i + 1 < calls && gap_ms > 0) sleep_ms(gap_ms);
  }
  double end = 0;
  for (int i = 0; i < calls; i++) {
    CHECK(waiter_wait(&w[size_t(i)], 60000));
    CHECK_EQ_INT(w[size_t(i)].int_value, n);
    double at = w[size_t(i)].done_at_ms - t0;
    if (done) done->push_back(at);
    end = std::max(end, at);
  }
  return end;
}

// A work(n) size that takes about `ms` alone; ids from *id on (ids are
// never reused: one is live until just after its callback).
int64_t calibrate(brake_engine* e, double ms, brake_call_id* id) {
  int64_t n = 100000;
  while (run_work(e, n, 1, 0, (*id)++) < ms) n *= 2;
  return n;
}

} // namespace

BRAKE_TEST(beside_one_spinner) { check_beside(1, 2); }
BRAKE_TEST(beside_two_spinners) { check_beside(2, 2); }
BRAKE_TEST(beside_eight_spinners) { check_beside(8, 2); }
BRAKE_TEST(beside_two_spinners_on_one_worker) { check_beside(2, 1); }

BRAKE_TEST(computing_calls_on_one_worker_take_turns) {
  // Each gets a 2 ms slice in turn, so both finish at about the same time
  // (the second to start must not wait for the first to finish, nor crawl
  // one loop iteration per slice of the other).
  brake_engine* e = engine_from(kSource, 1);
  CHECK(e != nullptr);
  if (!e) return;
  brake_call_id id = 1;
  int64_t n = calibrate(e, 80, &id);
  std::vector<double> gaps;
  for (int i = 0; i < 3; i++) {
    std::vector<double> done;
    run_work(e, n, 2, 0, id, &done);
    id += 2;
    if (done.size() == 2) gaps.push_back(std::fabs(done[0] - done[1]) / std::max(done[0], done[1]));
  }
  fprintf(stderr, "two computing calls on one worker: they finish %.0f %% of the longer one's time apart (median)\n",
          100 * median(gaps));
  CHECK(median(gaps) < 0.25);
  brake_engine_free(e);
}

BRAKE_TEST(cancel_among_computing_calls_is_prompt) {
  // Eight spinners share one worker; each cancel settles its call at once,
  // not when the call's turn in the ready queue comes (up to 8 slices).
  brake_engine* e = engine_from(kSource, 1);
  CHECK(e != nullptr);
  if (!e) return;
  std::vector<Waiter> spin(8);
  start_spinners(e, spin, 1);
  sleep_ms(30);
  std::vector<double> ms;
  for (size_t i = 0; i < spin.size(); i++) {
    double t0 = now_ms();
    CHECK_EQ_INT(brake_cancel(e, brake_call_id(1 + i)), BRAKE_OK);
    CHECK(waiter_wait(&spin[i], 5000));
    CHECK_EQ_INT(spin[i].status, BRAKE_CANCELLED);
    ms.push_back(spin[i].done_at_ms - t0);
    sleep_ms(3);
  }
  fprintf(stderr, "cancel among computing calls on one worker: median %.2f ms, worst %.2f ms\n", median(ms),
          *std::max_element(ms.begin(), ms.end()));
  CHECK(median(ms) <= 1.5 * scale());
  brake_engine_free(e);
}

BRAKE_TEST(computing_calls_spread_over_workers) {
  brake_engine* e = engine_from(kSource, 2);
  CHECK(e != nullptr);
  if (!e) return;
  // About 150 ms of work for one call alone.
  brake_call_id id = 1;
  int64_t n = calibrate(e, 150, &id);
  std::vector<double> one, two;
  for (int i = 0; i < 3; i++) {
    one.push_back(run_work(e, n, 1, 0, id));
    two.push_back(run_work(e, n, 2, 0, id + 1)); // started back to back
    id += 3;
  }
  fprintf(stderr, "one call alone %.0f ms; two started at once, both done in %.0f ms (medians)\n", median(one),
          median(two));
  // On one worker the pair would take twice as long as one call; on two,
  // about as long. Instrumented builds do not run two threads of
  // computation in parallel reliably (ThreadSanitizer's runtime often
  // serialises them: the pair takes twice as long though the calls were
  // placed on both workers), so there the figure is only printed.
  if (!brake_test_sanitized()) CHECK(median(two) < 1.5 * median(one));
  brake_engine_free(e);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(beside_one_spinner),
      TEST_ENTRY(beside_two_spinners),
      TEST_ENTRY(beside_eight_spinners),
      TEST_ENTRY(beside_two_spinners_on_one_worker),
      TEST_ENTRY(computing_calls_on_one_worker_take_turns),
      TEST_ENTRY(cancel_among_computing_calls_is_prompt),
      TEST_ENTRY(computing_calls_spread_over_workers),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
