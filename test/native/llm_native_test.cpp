// llm_native_test.cpp: LLM functions through the C ABI against a real
// OpenAI-shaped server on 127.0.0.1 in this process (a thread per
// connection, plain sockets): answers, retries, fallback, LlmError's
// attempts as data, and cancellation at each step of a plan, seen from the
// server (no attempt after a cancel; an in-flight attempt's socket closed).
// The stress case mixes them with cancels at random moments on several
// workers; CI runs it under ASan+UBSan and TSan. Built only with libcurl
// (the native transport). Streamed calls (brake.h "streams") get the same
// treatment: events, the first-delta rule, a cancel mid-stream (through
// brake's own HTTP/1.1 client and through libcurl), stress.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_outcome.h"
#include "test_socket.h"

namespace {

// The server. What a request gets depends on its model:
//   "ok"    200 with the content {"name": "Ada", "age": 36}
//   "fail"  500 with an OpenAI error body
//   "hang"  nothing, until the client closes the connection
//   "late"  the "ok" answer after 5 ms
struct LlmServer {
  int listener = -1;
  uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::atomic<int> requests{0};
  std::atomic<int> open{0};
  std::mutex mu;
  std::vector<std::thread> threads;
  std::vector<int> fds;
  std::thread acceptor;

  void start() {
    sockaddr_in a;
    listener = loopback_listener(1024, &a);
    port = ntohs(a.sin_port);
    acceptor = std::thread([this] {
      for (;;) {
        int fd = accept(listener, nullptr, nullptr);
        if (fd < 0 || stop) {
          if (fd >= 0) close(fd);
          return;
        }
        open++;
        std::lock_guard<std::mutex> lock(mu);
        fds.push_back(fd);
        threads.emplace_back([this, fd] { serve(fd); });
      }
    });
  }

  void shutdown() {
    stop = true;
    ::shutdown(listener, SHUT_RDWR);
    close(listener);
    acceptor.join();
    {
      std::lock_guard<std::mutex> lock(mu);
      for (int fd : fds) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads) t.join();
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }

  void serve(int fd) {
    std::string in;
    char buf[16384];
    bool hanging = false;
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (hanging) continue;
      in.append(buf, size_t(n));
      for (;;) {
        size_t end = in.find("\r\n\r\n");
        if (end == std::string::npos) break;
        size_t cl = in.find("content-length: ");
        if (cl == std::string::npos || cl > end) cl = in.find("Content-Length: ");
        size_t length = cl != std::string::npos && cl < end ? std::stoul(in.substr(cl + 16)) : 0;
        if (in.size() < end + 4 + length) break;
        std::string body = in.substr(end + 4, length);
        in.erase(0, end + 4 + length);
        requests++;
        if (body.find("\"model\":\"hang\"") != std::string::npos) {
          hanging = true;
          break;
        }
        if (body.find("\"model\":\"late\"") != std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        bool fail = body.find("\"model\":\"fail\"") != std::string::npos;
        if (!fail && body.find("\"stream\":true") != std::string::npos) {
          if (!stream(fd, body)) hanging = true;
          continue;
        }
        std::string reply =
            fail ? R"({"error":{"message":"mock failure","type":"server_error"}})"
                 : R"({"id":"x","object":"chat.completion","created":1,"model":"ok","choices":[{"index":0,"message":{"role":"assistant","content":"{\"name\": \"Ada\", \"age\": 36}"},"finish_reason":"stop"}]})";
        send_all(fd, std::string(fail ? "HTTP/1.1 500 Internal Server Error" : "HTTP/1.1 200 OK") +
                         "\r\ncontent-type: application/json\r\ncontent-length: " + std::to_string(reply.size()) + "\r\n\r\n" +
                         reply);
      }
    }
    close(fd);
    open--;
  }

  // A streamed reply (the request asked for one), as OpenAI sends it: SSE
  // in chunked encoding, one event per chunk, 2 ms apart: the content in
  // four deltas, a finish reason, [DONE]. Models "drip" (one delta, then
  // nothing: returns false), "broken_early" (an event that is not JSON
  // first) and "broken_late" (one delta, then one that is not JSON).
  bool stream(int fd, const std::string& body) {
    auto has = [&](const char* model) { return body.find(std::string("\"model\":\"") + model + "\"") != std::string::npos; };
    auto chunk = [&](const std::string& data) {
      char size[32];
      snprintf(size, sizeof size, "%zx\r\n", data.size());
      send_all(fd, size + data + "\r\n");
    };
    auto event = [&](const std::string& data) { chunk("data: " + data + "\n\n"); };
    auto delta = [&](const char* escaped) {
      event(std::string(R"({"choices":[{"index":0,"delta":{"content":")") + escaped + R"("},"finish_reason":null}]})");
    };
    send_all(fd, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
    if (has("broken_early")) {
      event("not json");
      chunk("");
      return true;
    }
    const char* pieces[] = {R"({\"name\": \"A)", R"(da\", )", R"(\"age\": 3)", R"(6})"};
    for (const char* piece : pieces) {
      delta(piece);
      if (has("drip")) return false;
      if (has("broken_late")) {
        event("not json");
        chunk("");
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    event(R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})");
    event("[DONE]");
    chunk("");
    return true;
  }

  bool all_closed(double ms = 3000) {
    double deadline = now_ms() + ms;
    while (open.load() > 0 && now_ms() < deadline) sleep_ms(1);
    return open.load() == 0;
  }
};

const char* kSource = R"(
class Person {
  name string
  age int
}
retry_policy Twice {
  max_retries 2
  strategy { type constant_delay delay_ms 1 }
}
retry_policy Slow {
  max_retries 1
  strategy { type constant_delay delay_ms 60000 }
}
client<llm> Ok { provider openai-generic options { base_url env.BASE model "ok" api_key "k" } }
client<llm> Late { provider openai-generic options { base_url env.BASE model "late" api_key "k" } }
client<llm> Fail { provider openai-generic retry_policy Twice options { base_url env.BASE model "fail" api_key "k" } }
client<llm> FailSlow { provider openai-generic retry_policy Slow options { base_url env.BASE model "fail" api_key "k" } }
client<llm> Hang { provider openai-generic options { base_url env.BASE model "hang" api_key "k" } }
client<llm> FailThenOk { provider fallback options { strategy [Fail, Late] } }
client<llm> Drip { provider openai-generic options { base_url env.BASE model "drip" api_key "k" } }
client<llm> BrokenEarly { provider openai-generic options { base_url env.BASE model "broken_early" api_key "k" } }
client<llm> BrokenLate { provider openai-generic retry_policy Twice options { base_url env.BASE model "broken_late" api_key "k" } }
client<llm> BrokenThenOk { provider fallback options { strategy [BrokenEarly, Ok] } }
client<llm> Whole { provider openai-generic options { base_url env.BASE model "ok" api_key "k" supports_streaming false } }
client<llm> Spread { provider round-robin options { strategy [Ok, Late] } }
function ok(t: string) -> Person { client Ok prompt #"{{ t }}"# }
function fail(t: string) -> Person { client Fail prompt #"{{ t }}"# }
function fail_slow(t: string) -> Person { client FailSlow prompt #"{{ t }}"# }
function hang(t: string) -> Person { client Hang prompt #"{{ t }}"# }
function fallback(t: string) -> Person { client FailThenOk prompt #"{{ t }}"# }
function spread(t: string) -> Person { client Spread prompt #"{{ t }}"# }
function two(t: string) -> int { ok(t).age + spread(t).age }
function drip(t: string) -> Person { client Drip prompt #"{{ t }}"# }
function broken_then_ok(t: string) -> Person { client BrokenThenOk prompt #"{{ t }}"# }
function broken_late(t: string) -> Person { client BrokenLate prompt #"{{ t }}"# }
function whole(t: string) -> Person { client Whole prompt #"{{ t }}"# }
)";

enum class Client { Own, Libcurl }; // brake_engine_options.http_libcurl_only

brake_engine* make_engine(LlmServer& s, unsigned workers, Client client) {
  std::string base = s.base();
  const char* names[] = {"BASE"};
  const char* values[] = {base.c_str()};
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = workers;
  o.env_names = names;
  o.env_values = values;
  o.env_count = 1;
  o.http_libcurl_only = client == Client::Libcurl;
  return engine_with(kSource, &o);
}

std::atomic<brake_call_id> g_id{1};

brake_call_id start(brake_engine* e, const char* fn, Outcome& o) {
  brake_value* t = nullptr;
  brake_value_string("x", 1, &t);
  const brake_value* args[] = {t};
  brake_call_id id = g_id++;
  CHECK_EQ_INT(brake_call_start(e, id, fn, args, 1, nullptr, outcome_done, &o), BRAKE_OK);
  brake_value_free(t);
  return id;
}

void finish(LlmServer& s, brake_engine* e) {
  double deadline = now_ms() + 3000;
  while (brake_engine_http_transfers(e) > 0 && now_ms() < deadline) sleep_ms(1);
  CHECK_EQ_INT(brake_engine_http_transfers(e), 0);
  CHECK_EQ_INT(live_after(e, 3000), 0);
  CHECK_EQ_INT(memory_after(e, 3000), 0);
  brake_engine_free(e);
  CHECK(s.all_closed());
  s.shutdown();
}

// Runs `body(server, engine)` against a fresh server and engine; after it,
// nothing is in flight or live, the engine's memory is back, and once it is
// freed the server has no connection open.
template <typename Body> void with_server(unsigned workers, Body body, Client client = Client::Own) {
  LlmServer s;
  s.start();
  brake_engine* e = make_engine(s, workers, client);
  CHECK(e != nullptr);
  if (!e) return s.shutdown();
  body(s, e);
  finish(s, e);
}

bool wait_requests(LlmServer& s, int n, double ms = 5000) {
  double deadline = now_ms() + ms;
  while (s.requests.load() < n && now_ms() < deadline) sleep_ms(0.5);
  return s.requests.load() >= n;
}

} // namespace

BRAKE_TEST(answers_retries_fallback_and_attempts_as_data) {
  with_server(2, [&](LlmServer& s, brake_engine* e) {
    Outcome a, b, c, d;
    start(e, "ok", a);
    CHECK(wait_for(a));
    CHECK_EQ_INT(a.status, BRAKE_OK);
    if (a.value.find("\"Ada\"") == std::string::npos || a.value.find("36") == std::string::npos)
      fprintf(stderr, "ok: %s\n", a.value.c_str());
    CHECK(a.value.find("\"Ada\"") != std::string::npos && a.value.find("36") != std::string::npos);

    start(e, "fail", b);
    CHECK(wait_for(b));
    CHECK_EQ_INT(b.status, BRAKE_LLM_ERROR);
    CHECK(b.kind == "llm_failed");
    CHECK_EQ_INT(b.attempts.size(), 3);
    for (const auto& x : b.attempts) CHECK(x == "Fail openai-generic 500");
    CHECK(b.attempt_errors.size() == 3 && b.attempt_errors[0].find("mock failure") != std::string::npos);

    int before = s.requests.load();
    start(e, "fallback", c);
    CHECK(wait_for(c));
    CHECK_EQ_INT(c.status, BRAKE_OK);
    CHECK_EQ_INT(s.requests.load() - before, 4); // three failures, then the fallback

    start(e, "two", d); // an expression function calling LLM functions
    CHECK(wait_for(d));
    CHECK(d.value == "72");
  });
}

// No attempt starts after a cancel: during the 60 s backoff the call
// settles at once and the server sees no second request.
BRAKE_TEST(a_cancel_in_a_backoff_settles_at_once_and_sends_nothing_more) {
  with_server(1, [&](LlmServer& s, brake_engine* e) {
    Outcome o;
    brake_call_id id = start(e, "fail_slow", o);
    CHECK(wait_requests(s, 1));
    sleep_ms(20); // the 500 is in; the backoff runs
    double t0 = now_ms();
    CHECK_EQ_INT(brake_cancel(e, id), BRAKE_OK);
    CHECK(wait_for(o));
    CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
    CHECK(now_ms() - t0 < 100 * (brake_test_sanitized() ? 5 : 1));
    CHECK(o.attempts.empty()); // a cancellation carries no LLM error
    sleep_ms(50);
    CHECK_EQ_INT(s.requests.load(), 1);
  });
}

// An in-flight attempt's socket is closed when its call is cancelled, and
// the deadline of a call that retries is a timeout, not an LLM error.
BRAKE_TEST(a_cancel_in_flight_closes_the_socket_and_a_deadline_is_a_timeout) {
  with_server(1, [&](LlmServer& s, brake_engine* e) {
    Outcome o;
    brake_call_id id = start(e, "hang", o);
    CHECK(wait_requests(s, 1));
    CHECK_EQ_INT(s.open.load(), 1);
    CHECK_EQ_INT(brake_cancel(e, id), BRAKE_OK);
    CHECK(wait_for(o));
    CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
    CHECK(s.all_closed(2000));

    Outcome t;
    brake_value* x = nullptr;
    brake_value_string("x", 1, &x);
    const brake_value* args[] = {x};
    brake_call_options co;
    brake_call_options_init(&co);
    co.timeout_ms = 100;
    CHECK_EQ_INT(brake_call_start(e, g_id++, "fail_slow", args, 1, &co, outcome_done, &t), BRAKE_OK);
    brake_value_free(x);
    CHECK(wait_for(t));
    CHECK_EQ_INT(t.status, BRAKE_TIMEOUT);
    CHECK(t.attempts.empty());
  });
}

// Many LLM calls on four workers, each cancelled at a random moment (or
// not): every call settles once, with its own outcome; nothing leaks.
BRAKE_TEST(stress_llm_calls_with_random_cancels) {
  with_server(4, [&](LlmServer& s, brake_engine* e) {
    const int n = brake_test_sanitized() ? 300 : 2000;
    const char* fns[] = {"ok", "fail", "hang", "fallback", "spread", "fail_slow", "two"};
    std::vector<Outcome> outcomes(static_cast<size_t>(n));
    std::vector<brake_call_id> ids(static_cast<size_t>(n));
    std::mt19937 rng(12345);
    std::vector<int> which(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) {
      which[size_t(i)] = int(rng() % 7);
      ids[size_t(i)] = start(e, fns[which[size_t(i)]], outcomes[size_t(i)]);
      if (rng() % 3 == 0) brake_cancel(e, ids[size_t(rng() % size_t(i + 1))]);
    }
    sleep_ms(30);
    for (int i = 0; i < n; i++) brake_cancel(e, ids[size_t(i)]); // whatever is still live (hang, fail_slow)
    for (int i = 0; i < n; i++) {
      Outcome& o = outcomes[size_t(i)];
      CHECK(wait_for(o));
      const char* fn = fns[which[size_t(i)]];
      bool ok = o.status == BRAKE_CANCELLED || (o.status == BRAKE_OK && (strcmp(fn, "ok") == 0 || strcmp(fn, "fallback") == 0 ||
                                                                        strcmp(fn, "spread") == 0 || strcmp(fn, "two") == 0)) ||
                (o.status == BRAKE_LLM_ERROR && strcmp(fn, "fail") == 0 && o.attempts.size() == 3);
      if (!ok) fprintf(stderr, "call %d (%s): status %d %s %s\n", i, fn, o.status, o.kind.c_str(), o.message.c_str());
      CHECK(ok);
    }
    sleep_ms(20); // a second completion, if there were one, would have arrived
    for (int i = 0; i < n; i++) {
      std::lock_guard<std::mutex> lock(outcomes[size_t(i)].mu);
      CHECK_EQ_INT(outcomes[size_t(i)].completions, 1);
    }
  });
}

namespace {

brake_call_id start_stream(brake_engine* e, const char* fn, Outcome& o, StreamLog& log, uint64_t timeout_ms = 0) {
  log.outcome = &o;
  brake_value* t = nullptr;
  brake_value_string("x", 1, &t);
  const brake_value* args[] = {t};
  brake_call_options co;
  brake_call_options_init(&co);
  co.stream = on_stream;
  co.stream_user_data = &log;
  co.timeout_ms = timeout_ms;
  brake_call_id id = g_id++;
  CHECK_EQ_INT(brake_call_start(e, id, fn, args, 1, &co, outcome_done, &o), BRAKE_OK);
  brake_value_free(t);
  return id;
}

const char* kReply = R"({"name": "Ada", "age": 36})";

bool has_event(StreamLog& log, const std::string& prefix) {
  std::lock_guard<std::mutex> lock(log.mu);
  for (const auto& ev : log.events)
    if (ev.rfind(prefix, 0) == 0) return true;
  return false;
}

} // namespace

// The events of a streamed call: an attempt, the reply's deltas (joined,
// the whole text), partial values as it grows, all before the completion;
// an expression function streams the LLM calls inside it; a client that
// does not stream gives its whole reply as one delta.
BRAKE_TEST(streams_report_attempts_deltas_and_partials_before_the_completion) {
  for (Client client : {Client::Own, Client::Libcurl})
  with_server(2, [&](LlmServer&, brake_engine* e) {
    Outcome a;
    StreamLog la;
    start_stream(e, "ok", a, la);
    CHECK(wait_for(a));
    CHECK_EQ_INT(a.status, BRAKE_OK);
    CHECK(a.value.find("\"Ada\"") != std::string::npos);
    {
      std::lock_guard<std::mutex> lock(la.mu);
      CHECK(!la.events.empty() && la.events[0] == "attempt ok Ok 1");
      CHECK(la.text == kReply);
      CHECK_EQ_INT(la.deltas.load(), 4);
      CHECK(!la.late);
      std::string last = la.events.back();
      if (last.find("partial") != 0 || last.find("36") == std::string::npos) fprintf(stderr, "last event: %s\n", last.c_str());
      CHECK(last.rfind("partial ", 0) == 0 && last.find("\"Ada\"") != std::string::npos && last.find("36") != std::string::npos);
      // The first partial holds the unfinished name, and no age yet.
      std::string first;
      for (const auto& ev : la.events)
        if (ev.rfind("partial ", 0) == 0) {
          first = ev;
          break;
        }
      if (first.find("\"A\"") == std::string::npos) fprintf(stderr, "first partial: %s\n", first.c_str());
      CHECK(first.find("\"A\"") != std::string::npos && first.find("36") == std::string::npos);
    }

    Outcome b;
    StreamLog lb;
    start_stream(e, "two", b, lb);
    CHECK(wait_for(b));
    CHECK(b.value == "72");
    CHECK(has_event(lb, "attempt ok Ok 1"));
    CHECK(has_event(lb, "attempt spread "));
    CHECK_EQ_INT(lb.deltas.load(), 8);

    Outcome c;
    StreamLog lc;
    start_stream(e, "whole", c, lc);
    CHECK(wait_for(c));
    CHECK_EQ_INT(c.status, BRAKE_OK);
    CHECK_EQ_INT(lc.deltas.load(), 1);
    CHECK(lc.text.find("\"Ada\"") != std::string::npos);
  }, client);
}

// Retry and fallback apply only before the first delta: a stream broken
// at once falls back; one broken after a delta fails the call at once
// (BRAKE_LLM_ERROR with that one attempt), its retry policy unused.
BRAKE_TEST(a_stream_broken_before_its_first_delta_falls_back_and_after_it_fails_the_call) {
  for (Client client : {Client::Own, Client::Libcurl})
  with_server(1, [&](LlmServer& s, brake_engine* e) {
    Outcome a;
    StreamLog la;
    start_stream(e, "broken_then_ok", a, la);
    CHECK(wait_for(a));
    CHECK_EQ_INT(a.status, BRAKE_OK);
    {
      std::lock_guard<std::mutex> lock(la.mu);
      CHECK(la.events.size() > 2 && la.events[0] == "attempt broken_then_ok BrokenEarly 1" &&
            la.events[1] == "attempt broken_then_ok Ok 2");
      CHECK(la.text == kReply);
    }

    int before = s.requests.load();
    Outcome b;
    StreamLog lb;
    start_stream(e, "broken_late", b, lb);
    CHECK(wait_for(b));
    CHECK_EQ_INT(b.status, BRAKE_LLM_ERROR);
    CHECK_EQ_INT(b.attempts.size(), 1);
    CHECK(b.attempt_errors.size() == 1 && b.attempt_errors[0].find("not valid JSON") != std::string::npos);
    CHECK_EQ_INT(lb.deltas.load(), 1);
    sleep_ms(20);
    CHECK_EQ_INT(s.requests.load() - before, 1);
  }, client);
}

// A cancel between two events settles the call at once and closes the
// socket; a deadline mid-stream is a timeout. Nothing is reported after
// the completion.
BRAKE_TEST(a_cancel_mid_stream_settles_at_once_and_closes_the_socket) {
  for (Client client : {Client::Own, Client::Libcurl})
  with_server(1, [&](LlmServer& s, brake_engine* e) {
    Outcome o;
    StreamLog log;
    brake_call_id id = start_stream(e, "drip", o, log);
    double deadline = now_ms() + 5000;
    while (log.deltas.load() < 1 && now_ms() < deadline) sleep_ms(0.5);
    CHECK_EQ_INT(log.deltas.load(), 1);
    double t0 = now_ms();
    CHECK_EQ_INT(brake_cancel(e, id), BRAKE_OK);
    CHECK(wait_for(o));
    CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
    CHECK(now_ms() - t0 < 100 * (brake_test_sanitized() ? 5 : 1));
    CHECK(s.all_closed(2000));
    CHECK(!log.late);

    Outcome t;
    StreamLog lt;
    start_stream(e, "drip", t, lt, 100);
    CHECK(wait_for(t));
    CHECK_EQ_INT(t.status, BRAKE_TIMEOUT);
    CHECK_EQ_INT(lt.deltas.load(), 1);
    CHECK(s.all_closed(2000));
  }, client);
}

// Many streamed calls on four workers, cancelled at random moments (or
// not): each settles once with its own outcome and no event after it; a
// stream that completed delivered the whole reply; nothing leaks.
BRAKE_TEST(stress_streams_with_random_cancels) {
  for (Client client : {Client::Own, Client::Libcurl})
  with_server(4, [&](LlmServer&, brake_engine* e) {
    const int n = brake_test_sanitized() ? 200 : 1000;
    const char* fns[] = {"ok", "drip", "broken_then_ok", "broken_late", "two"};
    std::vector<Outcome> outcomes(static_cast<size_t>(n));
    std::vector<StreamLog> logs(static_cast<size_t>(n));
    std::vector<brake_call_id> ids(static_cast<size_t>(n));
    std::vector<int> which(static_cast<size_t>(n));
    std::mt19937 rng(777);
    for (int i = 0; i < n; i++) {
      which[size_t(i)] = int(rng() % 5);
      ids[size_t(i)] = start_stream(e, fns[which[size_t(i)]], outcomes[size_t(i)], logs[size_t(i)]);
      if (rng() % 3 == 0) brake_cancel(e, ids[size_t(rng() % size_t(i + 1))]);
    }
    sleep_ms(50);
    for (int i = 0; i < n; i++) brake_cancel(e, ids[size_t(i)]); // the drips, and whatever is still going
    for (int i = 0; i < n; i++) {
      Outcome& o = outcomes[size_t(i)];
      StreamLog& log = logs[size_t(i)];
      CHECK(wait_for(o));
      const char* fn = fns[which[size_t(i)]];
      bool ok = o.status == BRAKE_CANCELLED || (o.status == BRAKE_OK && strcmp(fn, "drip") != 0 && strcmp(fn, "broken_late") != 0) ||
                (o.status == BRAKE_LLM_ERROR && strcmp(fn, "broken_late") == 0 && o.attempts.size() == 1);
      if (!ok) fprintf(stderr, "stream %d (%s): status %d %s %s\n", i, fn, o.status, o.kind.c_str(), o.message.c_str());
      CHECK(ok);
      std::lock_guard<std::mutex> lock(log.mu);
      if (o.status == BRAKE_OK && strcmp(fn, "two") != 0) CHECK(log.text == kReply);
      CHECK(!log.late);
    }
    sleep_ms(20);
    for (int i = 0; i < n; i++) {
      std::lock_guard<std::mutex> lock(outcomes[size_t(i)].mu);
      CHECK_EQ_INT(outcomes[size_t(i)].completions, 1);
    }
  }, client);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(answers_retries_fallback_and_attempts_as_data),
      TEST_ENTRY(a_cancel_in_a_backoff_settles_at_once_and_sends_nothing_more),
      TEST_ENTRY(a_cancel_in_flight_closes_the_socket_and_a_deadline_is_a_timeout),
      TEST_ENTRY(stress_llm_calls_with_random_cancels),
      TEST_ENTRY(streams_report_attempts_deltas_and_partials_before_the_completion),
      TEST_ENTRY(a_stream_broken_before_its_first_delta_falls_back_and_after_it_fails_the_call),
      TEST_ENTRY(a_cancel_mid_stream_settles_at_once_and_closes_the_socket),
      TEST_ENTRY(stress_streams_with_random_cancels),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
