// llm_native_test.cpp: LLM functions through the C ABI against a real
// OpenAI-shaped server on 127.0.0.1 in this process (a thread per
// connection, plain sockets): answers, retries, fallback, LlmError's
// attempts as data, and cancellation at each step of a plan, seen from the
// server (no attempt after a cancel; an in-flight attempt's socket closed).
// The stress case mixes them with cancels at random moments on several
// workers; CI runs it under ASan+UBSan and TSan. Built only with libcurl
// (the native transport).
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
client<llm> Spread { provider round-robin options { strategy [Ok, Late] } }
function ok(t: string) -> Person { client Ok prompt #"{{ t }}"# }
function fail(t: string) -> Person { client Fail prompt #"{{ t }}"# }
function fail_slow(t: string) -> Person { client FailSlow prompt #"{{ t }}"# }
function hang(t: string) -> Person { client Hang prompt #"{{ t }}"# }
function fallback(t: string) -> Person { client FailThenOk prompt #"{{ t }}"# }
function spread(t: string) -> Person { client Spread prompt #"{{ t }}"# }
function two(t: string) -> int { ok(t).age + spread(t).age }
)";

brake_engine* make_engine(LlmServer& s, unsigned workers) {
  std::string base = s.base();
  const char* names[] = {"BASE"};
  const char* values[] = {base.c_str()};
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = workers;
  o.env_names = names;
  o.env_values = values;
  o.env_count = 1;
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
template <typename Body> void with_server(unsigned workers, Body body) {
  LlmServer s;
  s.start();
  brake_engine* e = make_engine(s, workers);
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

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(answers_retries_fallback_and_attempts_as_data),
      TEST_ENTRY(a_cancel_in_a_backoff_settles_at_once_and_sends_nothing_more),
      TEST_ENTRY(a_cancel_in_flight_closes_the_socket_and_a_deadline_is_a_timeout),
      TEST_ENTRY(stress_llm_calls_with_random_cancels),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
