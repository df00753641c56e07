/* test_outcome.h: for the C++ suites (after test_util.h): a call's whole
** outcome with its value formatted (brake_value_format), a completion
** callback that fills it, and a wait for it; a streamed call's events
** (StreamLog, on_stream). */
#ifndef BRAKE_TEST_OUTCOME_H
#define BRAKE_TEST_OUTCOME_H

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "test_util.h"

inline std::string format_value(const brake_value* v) {
  char* s = nullptr;
  if (brake_value_format(v, &s) != BRAKE_OK) return "<unformattable>";
  std::string out = s;
  brake_string_free(s);
  return out;
}

struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int completions = 0; // callbacks received: exactly one is the contract
  int status = -1;
  int origin = 0;
  std::string value, kind, message;
  int http_status = -1;                 // brake_result_http_status, when http_url is set
  std::string http_url, http_body;      // brake_result_http_url ("" when NULL) and _body
  bool http = false;                    // brake_result_http_url was not NULL
  // brake_result_llm_attempt_*: "client provider status" per attempt, and each one's error.
  std::vector<std::string> attempts, attempt_errors;
};

inline void outcome_done(void* user_data, const brake_result* r) {
  Outcome* o = static_cast<Outcome*>(user_data);
  std::lock_guard<std::mutex> lock(o->mu);
  o->status = brake_result_status(r);
  o->origin = int(brake_result_origin(r));
  o->value = format_value(brake_result_value(r));
  o->kind = brake_result_error_kind(r);
  o->message = brake_result_message(r);
  if (const char* url = brake_result_http_url(r)) {
    o->http = true;
    o->http_url = url;
    o->http_body = brake_result_http_body(r);
    o->http_status = brake_result_http_status(r);
  }
  o->attempts.clear();
  o->attempt_errors.clear();
  for (size_t i = 0; i < brake_result_llm_attempt_count(r); i++) {
    o->attempts.push_back(std::string(brake_result_llm_attempt_client(r, i)) + " " + brake_result_llm_attempt_provider(r, i) +
                          " " + std::to_string(brake_result_llm_attempt_status(r, i)));
    o->attempt_errors.push_back(brake_result_llm_attempt_error(r, i));
  }
  o->done = true;
  o->completions++;
  o->cv.notify_all();
}

inline bool wait_for(Outcome& o, int ms = 10000) {
  std::unique_lock<std::mutex> lock(o.mu);
  return o.cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return o.done; });
}

// A streamed call's events (brake.h "streams") as its callback saw them.
struct StreamLog {
  std::mutex mu;
  Outcome* outcome = nullptr;
  std::vector<std::string> events; // "attempt <fn> <client> <n>", "delta <text>", "partial <value>"
  std::string text;                // the deltas since the last attempt
  bool late = false;               // an event came after the call's completion
  std::atomic<int> deltas{0};
};

inline void on_stream(void* user_data, const brake_stream_event* ev) {
  auto* log = static_cast<StreamLog*>(user_data);
  {
    std::lock_guard<std::mutex> lock(log->outcome->mu);
    if (log->outcome->done) log->late = true;
  }
  std::lock_guard<std::mutex> lock(log->mu);
  switch (brake_stream_event_kind(ev)) {
  case BRAKE_STREAM_ATTEMPT:
    log->text.clear();
    log->events.push_back(std::string("attempt ") + brake_stream_event_function(ev) + " " + brake_stream_event_client(ev) +
                          " " + std::to_string(brake_stream_event_attempt(ev)));
    break;
  case BRAKE_STREAM_DELTA: {
    size_t n = 0;
    const char* t = brake_stream_event_text(ev, &n);
    log->text.append(t, n);
    log->events.push_back("delta " + std::string(t, n));
    log->deltas++;
    break;
  }
  case BRAKE_STREAM_PARTIAL:
    log->events.push_back("partial " + format_value(brake_stream_event_value(ev)));
    break;
  case BRAKE_STREAM_WATCH:
    log->events.push_back(std::string("watch ") + brake_stream_event_function(ev) + " " + brake_stream_event_name(ev) + " " +
                          format_value(brake_stream_event_value(ev)));
    break;
  }
}

#endif
