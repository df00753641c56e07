// watch_stream_test.cpp: `watch let` variables reported as WATCH stream
// events through the C ABI (brake.h "streams"): what each event carries, the
// first value and each change, nothing after the variable left its block,
// and a stress of streamed tight loops on two workers cancelled at random
// moments from another thread (every call completes once, no event after
// its completion, nothing left live). Also run under ASan+UBSan and TSan.
#include <random>
#include <thread>

#include "test_outcome.h"

namespace {

const char* kSource = R"(
class Box {
  n int
}
function changes() -> int {
  watch let x = 1;
  x = 1;
  x = 2;
  let b = Box { n: 0 };
  if (true) {
    watch let box = b;
    b.n = 5;
  }
  b.n = 6;
  x
}
function spin(n: int) -> int {
  watch let i = 0;
  while (i < n) { i += 1; }
  i
}
)";

brake_engine* make_engine() {
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = 2;
  return engine_with(kSource, &o);
}

int start_streamed(brake_engine* e, brake_call_id id, const char* fn, int64_t arg, bool has_arg, Outcome* out,
                   StreamLog* log) {
  log->outcome = out;
  brake_call_options o;
  brake_call_options_init(&o);
  o.stream = on_stream;
  o.stream_user_data = log;
  brake_value* v = nullptr;
  const brake_value* args[1];
  if (has_arg) {
    v = brake_value_int(arg);
    args[0] = v;
  }
  int rc = brake_call_start(e, id, fn, args, has_arg ? 1 : 0, &o, outcome_done, out);
  brake_value_free(v);
  return rc;
}

// What a WATCH event carries, seen by a C host.
struct Seen {
  std::mutex mu;
  std::vector<std::string> events;
};
void on_watch(void* user_data, const brake_stream_event* ev) {
  auto* s = static_cast<Seen*>(user_data);
  std::lock_guard<std::mutex> lock(s->mu);
  size_t len = 99;
  const char* text = brake_stream_event_text(ev, &len);
  s->events.push_back(std::to_string(int(brake_stream_event_kind(ev))) + " " + brake_stream_event_function(ev) + " " +
                      brake_stream_event_name(ev) + " " + format_value(brake_stream_event_value(ev)) + " client=\"" +
                      brake_stream_event_client(ev) + "\" text=\"" + text + "\" len=" + std::to_string(len) +
                      " attempt=" + std::to_string(brake_stream_event_attempt(ev)));
}

} // namespace

BRAKE_TEST(watch_events_carry_function_name_and_value) {
  brake_engine* e = make_engine();
  CHECK(e != nullptr);
  if (!e) return;
  Seen seen;
  Outcome out;
  brake_call_options o;
  brake_call_options_init(&o);
  o.stream = on_watch;
  o.stream_user_data = &seen;
  CHECK_EQ_INT(brake_call_start(e, 1, "changes", nullptr, 0, &o, outcome_done, &out), BRAKE_OK);
  CHECK(wait_for(out));
  CHECK_EQ_INT(out.status, BRAKE_OK);
  CHECK(out.value == "2");
  std::vector<std::string> want = {
      "4 changes x 1 client=\"\" text=\"\" len=0 attempt=0",
      "4 changes x 2 client=\"\" text=\"\" len=0 attempt=0",
      "4 changes box Box {n: 0} client=\"\" text=\"\" len=0 attempt=0",
      "4 changes box Box {n: 5} client=\"\" text=\"\" len=0 attempt=0",
  };
  std::lock_guard<std::mutex> lock(seen.mu);
  if (seen.events != want)
    for (auto& s : seen.events) fprintf(stderr, "  got: %s\n", s.c_str());
  CHECK(seen.events == want);
  // Not streamed: the same value, no events anywhere.
  Outcome plain;
  CHECK_EQ_INT(brake_call_start(e, 2, "changes", nullptr, 0, nullptr, outcome_done, &plain), BRAKE_OK);
  CHECK(wait_for(plain));
  CHECK(plain.value == "2");
  brake_engine_free(e);
}

// Streamed tight loops on two workers, each cancelled (or not) at a random
// moment from this thread: each completes once, with its value or
// CANCELLED; its events are increasing values of i, none after completion.
BRAKE_TEST(stress_streamed_watch_loops_with_random_cancels) {
  brake_engine* e = make_engine();
  CHECK(e != nullptr);
  if (!e) return;
  const int kCalls = brake_test_sanitized() ? 40 : 200;
  std::vector<Outcome> outs(kCalls);
  std::vector<StreamLog> logs(kCalls);
  std::mt19937 rng(12345);
  const int64_t n = brake_test_sanitized() ? 20000 : 200000;
  for (int i = 0; i < kCalls; i++)
    CHECK_EQ_INT(start_streamed(e, brake_call_id(i + 1), "spin", n, true, &outs[i], &logs[i]), BRAKE_OK);
  for (int i = 0; i < kCalls; i++) {
    if (rng() % 3 == 0) continue; // left to finish
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
    int rc = brake_cancel(e, brake_call_id(i + 1));
    CHECK(rc == BRAKE_OK || rc == BRAKE_NOT_FOUND);
  }
  int finished = 0, cancelled = 0;
  for (int i = 0; i < kCalls; i++) {
    CHECK(wait_for(outs[i], 60000));
    std::lock_guard<std::mutex> lock(outs[i].mu);
    CHECK_EQ_INT(outs[i].completions, 1);
    if (outs[i].status == BRAKE_OK) {
      finished++;
      CHECK(outs[i].value == std::to_string(n));
    } else {
      CHECK_EQ_INT(outs[i].status, BRAKE_CANCELLED);
      cancelled++;
    }
  }
  for (int i = 0; i < kCalls; i++) {
    std::lock_guard<std::mutex> lock(logs[i].mu);
    CHECK(!logs[i].late);
    if (outs[i].status == BRAKE_OK) CHECK(!logs[i].events.empty());
    int64_t last = -1;
    for (const std::string& ev : logs[i].events) {
      CHECK(ev.rfind("watch spin i ", 0) == 0);
      int64_t v = std::stoll(ev.substr(13));
      CHECK(v > last);
      last = v;
    }
    if (outs[i].status == BRAKE_OK) CHECK_EQ_INT(last, n); // the last change is never coalesced away
  }
  fprintf(stderr, "%d finished, %d cancelled\n", finished, cancelled);
  CHECK(finished > 0);
  CHECK_EQ_INT(live_after(e, 5000), 0);
  brake_engine_free(e);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(watch_events_carry_function_name_and_value),
      TEST_ENTRY(stress_streamed_watch_loops_with_random_cancels),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
