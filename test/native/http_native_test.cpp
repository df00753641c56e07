// http_native_test.cpp: baml.http.fetch through the native transport (its
// own HTTP/1.1 client for these plain-HTTP requests, and in the *_libcurl
// cases libcurl, driven by the engine's workers; built only with libcurl) against
// a real server on 127.0.0.1 in this process (its own thread, plain
// sockets): responses, keep-alive, bodies and limits, and cancellation and
// timeouts closing the connection at once, seen from the server's side.
// Stress cases run under TSan in CI.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_outcome.h"
#include "test_socket.h"

// A resolver that stalls for one name: getaddrinfo is interposed in this
// test binary (libcurl's resolver thread calls it through the dynamic
// linker, so this definition wins); every other name goes to the real one.
// "loopback.brake.test" resolves to 127.0.0.1 and "nowhere.brake.test" to
// nothing, each lookup counted.
static std::atomic<int> g_resolving_stalled{0};
static std::atomic<bool> g_release_resolver{false};
static std::atomic<int> g_lookups{0};
static const char kStalledName[] = "stalled-dns.brake.test";

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  if (node && strcmp(node, kStalledName) == 0) {
    g_resolving_stalled++;
    while (!g_release_resolver.load()) usleep(1000);
    return EAI_NONAME;
  }
  if (node && strcmp(node, "loopback.brake.test") == 0) {
    g_lookups++;
    return real("127.0.0.1", service, hints, res);
  }
  if (node && strcmp(node, "nowhere.brake.test") == 0) {
    g_lookups++;
    return EAI_NONAME;
  }
  if (node && strcmp(node, "two.brake.test") == 0) { // 127.0.0.2, then 127.0.0.1
    addrinfo* first = nullptr;
    addrinfo* second = nullptr;
    int rc = real("127.0.0.2", service, hints, &first);
    if (rc) return rc;
    rc = real("127.0.0.1", service, hints, &second);
    if (rc) {
      freeaddrinfo(first);
      return rc;
    }
    addrinfo* last = first;
    while (last->ai_next) last = last->ai_next;
    last->ai_next = second;
    *res = first;
    return 0;
  }
  return real(node, service, hints, res);
}

namespace {


// ---- the server: one thread, poll() over its connections.
struct Server {
  int listener = -1;
  uint16_t port = 0;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> closed_at; // when a client closed a connection that had a /slow or /drip request
  std::atomic<int> requests{0};
  std::atomic<int> proxied{0};
  std::atomic<int> connections{0};
  std::atomic<int> open{0};
  std::atomic<int> resets{0}; // connections the client reset (RST) rather than closed

  struct Conn {
    int fd;
    std::string in;
    bool hanging = false; // /slow or /drip: never completes
    bool drip = false;
    double next_drip = 0;
    bool stalled = false; // /stall: its body is not read while `stall_reads` is set
  };
  std::atomic<bool> stall_reads{true};
  std::atomic<int> stalls{0};

  void start() {
    sockaddr_in a;
    listener = loopback_listener(1024, &a);
    port = ntohs(a.sin_port);
    thread = std::thread([this] { run(); });
  }

  void shutdown() {
    stop = true;
    thread.join();
    close(listener);
  }

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }

  void respond(Conn& c, const std::string& request_line, const std::string& body_in) {
    requests++;
    std::string path = request_line.substr(request_line.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    if (path.rfind("http://", 0) == 0) { // absolute form: a request sent to us as a proxy
      proxied++;
      size_t slash = path.find('/', 7);
      path = slash == std::string::npos ? "/" : path.substr(slash);
    }
    auto reply = [&](int status, const std::string& body, const std::string& extra = "") {
      send_all(c.fd, "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nContent-Type: text/plain\r\nX-Path: " + path + "\r\n" + extra + "\r\n" + body);
    };
    if (path == "/ok") return reply(200, "hello");
    if (path == "/echo") return reply(200, request_line.substr(0, request_line.find(' ')) + " " + body_in);
    if (path.rfind("/big", 0) == 0) return reply(200, std::string(size_t(std::stoul(path.substr(7))), 'x')); // /big?n=N
    if (path == "/latin1") return reply(200, "caf\xe9");
    if (path == "/not-json") return reply(200, "{\"name\": " + std::string(1014, 'j') + "\xc3\xa9" + std::string(2000, 'j'));
    if (path == "/missing") return reply(404, "no");
    if (path == "/slow") {
      c.hanging = true;
      return;
    }
    if (path == "/drip") {
      c.hanging = true;
      c.drip = true;
      send_all(c.fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nd");
      c.next_drip = now_ms() + 20;
      return;
    }
    reply(404, "unknown");
  }

  void run() {
    std::vector<Conn> conns;
    while (!stop) {
      std::vector<pollfd> fds;
      fds.push_back({listener, POLLIN, 0});
      for (auto& c : conns) fds.push_back({c.fd, short(c.stalled && stall_reads ? 0 : POLLIN), 0});
      poll(fds.data(), fds.size(), 5);
      if (fds[0].revents & POLLIN) {
        int fd = accept(listener, nullptr, nullptr);
        if (fd >= 0) {
          conns.push_back(Conn{fd, "", false, false, 0});
          connections++;
          open++;
        }
      }
      for (size_t i = 1; i < fds.size(); i++) {
        Conn& c = conns[i - 1];
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        if (c.stalled && stall_reads) continue;
        char buf[65536];
        ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n < 0 && errno == ECONNRESET) resets++;
        if (n <= 0) {
          if (c.hanging) {
            std::lock_guard<std::mutex> lock(mu);
            closed_at.push_back(now_ms());
          }
          close(c.fd);
          c.fd = -1;
          open--;
          continue;
        }
        c.in.append(buf, size_t(n));
        for (;;) {
          size_t end = c.in.find("\r\n\r\n");
          if (end == std::string::npos) break;
          std::string head = c.in.substr(0, end);
          size_t length = 0;
          size_t cl = head.find("Content-Length: ");
          if (cl == std::string::npos) cl = head.find("content-length: ");
          if (cl != std::string::npos) length = std::stoul(head.substr(cl + 16));
          if (c.in.size() < end + 4 + length) {
            if (!c.stalled && head.find(" /stall ") != std::string::npos) {
              c.stalled = c.hanging = true;
              stalls++;
            }
            break;
          }
          std::string body = c.in.substr(end + 4, length);
          c.in.erase(0, end + 4 + length);
          respond(c, head.substr(0, head.find("\r\n")), body);
        }
      }
      double t = now_ms();
      for (auto& c : conns)
        if (c.fd >= 0 && c.drip && t >= c.next_drip) {
          send_all(c.fd, "d");
          c.next_drip = t + 20;
        }
      conns.erase(std::remove_if(conns.begin(), conns.end(), [](const Conn& c) { return c.fd < 0; }), conns.end());
    }
    for (auto& c : conns) close(c.fd);
  }

  // Waits until no client connection is open; returns whether that happened.
  bool all_closed(double ms = 3000) {
    double deadline = now_ms() + ms;
    while (open.load() > 0 && now_ms() < deadline) sleep_ms(1);
    return open.load() == 0;
  }

  size_t closes() {
    std::lock_guard<std::mutex> lock(mu);
    return closed_at.size();
  }
  double last_close() {
    std::lock_guard<std::mutex> lock(mu);
    return closed_at.empty() ? 0 : closed_at.back();
  }
};

const char* kSource = R"(
function text(url: string) -> string { baml.http.fetch(url).text() }
function status(url: string) -> int { baml.http.fetch(url).status_code }
function error_of(url: string) -> string {
  let e = baml.http.fetch(url).error;
  if (e != null) { e } else { "none" }
}
function timed(url: string, ms: int) -> string {
  let e = baml.http.fetch(url, { timeout_ms: ms }).error;
  if (e != null) { e } else { "none" }
}
function post(url: string) -> string {
  baml.http.fetch(url, { method: "POST", headers: { "x-a": "1" }, body: { a: [1, 2] } }).text()
}
function header(url: string) -> string { baml.http.fetch(url).headers["x-path"] }
function spin_and_fetch(url: string) -> string { baml.http.fetch(url).text() }
function spin() -> int { let n = 0; while (true) { n += 1; } n }
function json_name(url: string) -> string {
  match (baml.http.fetch(url).json()["name"]) {
    s: string => s,
    _ => "none",
  }
}
function text_twice(url: string) -> string { let r = baml.http.fetch(url); let a = r.text(); r.text() }
function missing_field() -> int { let m = { "a": 1 }; m["b"] }
function upload(url: string, body: string) -> int { baml.http.fetch(url, { method: "POST", body: body }).status_code }
function connect_timed(url: string, ms: int) -> string {
  let e = baml.http.fetch(url, { connect_timeout_ms: ms }).error;
  if (e != null) { e } else { "none" }
}
)";

// Whether engines send every request through libcurl (the *_libcurl cases)
// rather than these plain-HTTP ones through the own HTTP/1.1 client.
bool g_libcurl_only = false;

brake_engine* make_engine(unsigned workers, uint64_t max_response = 0) {
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = workers;
  o.http_libcurl_only = g_libcurl_only ? 1 : 0;
  if (max_response) o.http_max_response_bytes = max_response;
  return engine_with(kSource, &o);
}

void with_libcurl(void (*test)()) {
  g_libcurl_only = true;
  test();
  g_libcurl_only = false;
}

std::atomic<brake_call_id> g_id{1};

brake_call_id start(brake_engine* e, const char* fn, const std::string& url, Outcome& o, int64_t extra = -1) {
  brake_value* u = nullptr;
  brake_value_string(url.data(), url.size(), &u);
  brake_value* x = extra >= 0 ? brake_value_int(extra) : nullptr;
  const brake_value* args[] = {u, x};
  brake_call_id id = g_id++;
  CHECK_EQ_INT(brake_call_start(e, id, fn, args, x ? 2 : 1, nullptr, outcome_done, &o), BRAKE_OK);
  brake_value_free(u);
  brake_value_free(x);
  return id;
}

std::string value_of(brake_engine* e, const char* fn, const std::string& url) {
  Outcome o;
  start(e, fn, url, o);
  CHECK(wait_for(o));
  if (o.status != BRAKE_OK) fprintf(stderr, "%s(%s): %s %s\n", fn, url.c_str(), o.kind.c_str(), o.message.c_str());
  return o.value;
}

void finish(brake_engine* e) {
  double deadline = now_ms() + 2000;
  while (brake_engine_http_transfers(e) > 0 && now_ms() < deadline) sleep_ms(1);
  CHECK_EQ_INT(brake_engine_http_transfers(e), 0);
  CHECK_EQ_INT(live_after(e, 2000), 0);
  CHECK_EQ_INT(memory_after(e, 2000), 0);
  brake_engine_free(e);
}

// A cancelled call settles first; its worker closes the socket right after
// delivering the completion. True when the engine has no socket open soon
// after (a generous bound: this is about behaviour, not speed).
bool sockets_closed(brake_engine* e) {
  double deadline = now_ms() + 2000;
  while (brake_engine_http_sockets(e) > 0 && now_ms() < deadline) sleep_ms(0.1);
  if (brake_engine_http_sockets(e) > 0) fprintf(stderr, "%zu sockets still open\n", brake_engine_http_sockets(e));
  return brake_engine_http_sockets(e) == 0;
}

// Cancels call `id` (its outcome goes to `o`): it settles as cancelled at
// once, and its socket is closed right after.
void cancel_promptly(brake_engine* e, brake_call_id id, Outcome& o) {
  double t0 = now_ms();
  CHECK_EQ_INT(brake_cancel(e, id), BRAKE_OK);
  CHECK(wait_for(o));
  CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
  CHECK(now_ms() - t0 < 100 * (brake_test_sanitized() ? 5 : 1));
  CHECK(sockets_closed(e));
}

// Waits until the server holds `n` hanging requests more than `before`.
bool wait_requests(Server& s, int n, double ms = 5000) {
  double deadline = now_ms() + ms;
  while (s.requests.load() < n && now_ms() < deadline) sleep_ms(1);
  return s.requests.load() >= n;
}

// Runs `body(server, engine)` against a fresh server and engine; afterwards
// every transfer has ended, nothing is live, the engine's memory is back,
// and once the engine is freed the server has no connection left open (its
// keep-alive connections went with it).
template <typename Body> void with_server(unsigned workers, Body body, uint64_t max_response = 0) {
  Server s;
  s.start();
  brake_engine* e = make_engine(workers, max_response);
  CHECK(e != nullptr);
  if (e) {
    body(s, e);
    finish(e);
    CHECK(s.all_closed());
  }
  s.shutdown();
}

} // namespace

BRAKE_TEST(responses_over_keep_alive_connections) {
  CHECK(brake_http_native_available());
  with_server(1, [&](Server& s, brake_engine* e) {
    CHECK(value_of(e, "text", s.url("/ok")) == "\"hello\"");
    CHECK(value_of(e, "status", s.url("/missing")) == "404");
    CHECK(value_of(e, "header", s.url("/ok")) == "\"/ok\"");
    CHECK(value_of(e, "post", s.url("/echo")) == "\"POST {\\\"a\\\":[1,2]}\"");
    CHECK(value_of(e, "text", s.url("/latin1")) == "\"caf\xEF\xBF\xBD\""); // U+FFFD
    std::string big = value_of(e, "text", s.url("/big?n=3000000"));
    if (big.size() != 3000002) fprintf(stderr, "big: %zu bytes: %.200s\n", big.size(), big.c_str());
    CHECK(big.size() == 3000002);
    // One worker, requests one after another: one connection, reused.
    for (int i = 0; i < 20; i++) CHECK(value_of(e, "status", s.url("/ok")) == "200");
    CHECK_EQ_INT(s.connections.load(), 1);
    CHECK_EQ_INT(brake_engine_http_sockets(e), 1); // kept for the next request
  });
}

BRAKE_TEST(a_body_over_the_limit_fails_the_request) {
  with_server(1, [&](Server& s, brake_engine* e) {
    CHECK(value_of(e, "status", s.url("/big?n=1000")) == "200");
    std::string over = value_of(e, "error_of", s.url("/big?n=1001"));
    if (over != "\"the response body is larger than the limit of 1000 bytes\"") fprintf(stderr, "over: %s\n", over.c_str());
    CHECK(over == "\"the response body is larger than the limit of 1000 bytes\"");
  }, 1000);
}

// A call failed by an HTTP exchange carries its details as data: the
// response's status, the URL and an excerpt of the body (1024 bytes at most,
// never a split character); a failure that is not about HTTP carries none.
BRAKE_TEST(http_failures_carry_status_url_and_body_as_data) {
  Server s;
  s.start();
  brake_engine* e = make_engine(1);
  CHECK(e != nullptr);
  if (e) {
    Outcome bad;
    start(e, "json_name", s.url("/not-json"), bad);
    CHECK(wait_for(bad));
    CHECK_EQ_INT(bad.status, BRAKE_HTTP_ERROR);
    CHECK(bad.kind == "json_parse_error");
    CHECK(bad.http);
    CHECK_EQ_INT(bad.http_status, 200);
    CHECK(bad.http_url == s.url("/not-json"));
    CHECK_EQ_INT(bad.http_body.size(), BRAKE_HTTP_BODY_EXCERPT - 1); // "é" would straddle byte 1024
    CHECK(bad.http_body.rfind("{\"name\": jjj", 0) == 0);
    Outcome twice;
    start(e, "text_twice", s.url("/missing"), twice);
    CHECK(wait_for(twice));
    CHECK_EQ_INT(twice.status, BRAKE_HTTP_ERROR);
    CHECK(twice.kind == "body_consumed");
    CHECK_EQ_INT(twice.http_status, 404);
    CHECK(twice.http_url == s.url("/missing"));
    CHECK(twice.http_body.empty());
    Outcome other;
    CHECK_EQ_INT(brake_call_start(e, g_id++, "missing_field", nullptr, 0, nullptr, outcome_done, &other), BRAKE_OK);
    CHECK(wait_for(other));
    CHECK_EQ_INT(other.status, BRAKE_SCRIPT_ERROR);
    CHECK(!other.http);
    finish(e);
  }
  s.shutdown();
}

// A cancel while waiting for headers, or mid-body, ends the call at once and
// the server sees the connection close at once (not at a progress poll).
BRAKE_TEST(a_cancel_closes_the_connection_at_once) {
  with_server(2, [&](Server& s, brake_engine* e) {
    int requests = 0;
    for (const char* path : {"/slow", "/drip"}) {
      for (int i = 0; i < 5; i++) {
        Outcome o;
        size_t closes = s.closes();
        brake_call_id id = start(e, "text", s.url(path), o);
        CHECK(wait_requests(s, ++requests + 0));
        sleep_ms(30);
        double t0 = now_ms();
        CHECK_EQ_INT(brake_cancel(e, id), BRAKE_OK);
        CHECK(wait_for(o));
        double settled = now_ms() - t0;
        CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
        CHECK(sockets_closed(e)); // by the worker, right after the call settled
        double deadline = now_ms() + 2000;
        while (s.closes() == closes && now_ms() < deadline) sleep_ms(0.2);
        CHECK(s.closes() == closes + 1);
        double closed = s.last_close() - t0;
        if (getenv("SHOW") || settled > 100 * (brake_test_sanitized() ? 5 : 1) || closed > 100 * (brake_test_sanitized() ? 5 : 1))
          fprintf(stderr, "%s: settled %.2f ms, closed %.2f ms\n", path, settled, closed);
        CHECK(settled < 100 * (brake_test_sanitized() ? 5 : 1));
        CHECK(closed < 100 * (brake_test_sanitized() ? 5 : 1));
      }
    }
    // Each cancelled connection was reset, not closed (no TIME_WAIT left here).
    CHECK_EQ_INT(s.resets.load(), requests);
  });
}

BRAKE_TEST(a_timeout_answers_the_script_and_closes_the_connection) {
  with_server(1, [&](Server& s, brake_engine* e) {
    Outcome o;
    double t0 = now_ms();
    start(e, "timed", s.url("/slow"), o, 60);
    CHECK(wait_for(o));
    CHECK(o.value == "\"timed out after 60 ms\"");
    CHECK(now_ms() - t0 >= 58);
    double deadline = now_ms() + 2000;
    while (s.closes() == 0 && now_ms() < deadline) sleep_ms(1);
    CHECK_EQ_INT(s.closes(), 1);
    CHECK(sockets_closed(e));
  });
}

// A worker busy computing still moves its transfers along (it looks at
// their sockets every turn), and a transfer's call takes its turn.
BRAKE_TEST(a_computing_call_does_not_stall_transfers_on_its_worker) {
  with_server(1, [&](Server& s, brake_engine* e) {
    Outcome spin;
    brake_call_id spinner = g_id++;
    CHECK_EQ_INT(brake_call_start(e, spinner, "spin", nullptr, 0, nullptr, outcome_done, &spin), BRAKE_OK);
    sleep_ms(20);
    double t0 = now_ms();
    for (int i = 0; i < 5; i++) CHECK(value_of(e, "text", s.url("/ok")) == "\"hello\"");
    double took = now_ms() - t0;
    if (took > 500) fprintf(stderr, "5 requests beside a spinner: %.1f ms\n", took);
    CHECK(took < 500 * (brake_test_sanitized() ? 5 : 1));
    brake_cancel(e, spinner);
    CHECK(wait_for(spin));
  });
}

// Many requests in flight on a 2-worker engine, a third of them cancelled
// at random moments: every call settles once, nothing stays open.
BRAKE_TEST(many_requests_with_random_cancels) {
  with_server(2, [&](Server& s, brake_engine* e) {
    const int n = brake_test_sanitized() ? 200 : 1000;
    std::vector<Outcome> out(static_cast<size_t>(n));
    std::vector<brake_call_id> ids, slow;
    std::mt19937 rng(5);
    for (int i = 0; i < n; i++) {
      bool hangs = rng() % 4 == 0;
      ids.push_back(start(e, "text", s.url(hangs ? "/slow" : "/ok"), out[size_t(i)]));
      if (hangs) slow.push_back(ids.back());
      if (rng() % 3 == 0) brake_cancel(e, ids[rng() % ids.size()]);
    }
    // The /ok ones finish; then the /slow ones that are left are cancelled.
    double deadline = now_ms() + 20000;
    for (size_t i = 0; i < out.size() && now_ms() < deadline; i++) {
      if (std::find(slow.begin(), slow.end(), ids[i]) != slow.end()) continue;
      wait_for(out[i], 20000);
    }
    for (brake_call_id id : slow) brake_cancel(e, id);
    int ok = 0, cancelled = 0;
    for (auto& o : out) {
      CHECK(wait_for(o, 30000));
      if (o.status == BRAKE_OK) ok++;
      else if (o.status == BRAKE_CANCELLED) cancelled++;
    }
    CHECK_EQ_INT(ok + cancelled, n);
    CHECK(ok > n / 3);
    fprintf(stderr, "%d answered, %d cancelled\n", ok, cancelled);
  });
}

// A cancel while connecting (a listener whose accept queue is full, so the
// handshake never completes) and while sending a body the server does not
// read (the socket's buffers are full): the call settles at once and its
// worker closes the socket right after.
BRAKE_TEST(a_cancel_while_connecting_or_sending_closes_the_socket) {
  // The listener: backlog 0 and never accepted; one connection fills its queue.
  sockaddr_in a;
  int listener = loopback_listener(0, &a);
  int filler = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_EQ_INT(connect(filler, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  Server s;
  s.start();
  brake_engine* e = make_engine(1);
  CHECK(e != nullptr);
  if (e) {
    std::string stuck = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/x";
    for (int i = 0; i < 3; i++) {
      Outcome o;
      brake_call_id id = start(e, "text", stuck, o);
      double until = now_ms() + 2000;
      while (brake_engine_http_sockets(e) == 0 && now_ms() < until) sleep_ms(1);
      sleep_ms(20);
      CHECK_EQ_INT(brake_engine_http_sockets(e), 1); // connecting
      cancel_promptly(e, id, o);
    }
    // Sending: 64 MB, far more than the loopback socket buffers hold.
    std::string body(64u << 20, 'u');
    brake_value* u = nullptr;
    std::string url = s.url("/stall");
    brake_value_string(url.data(), url.size(), &u);
    brake_value* b = nullptr;
    brake_value_string(body.data(), body.size(), &b);
    const brake_value* args[] = {u, b};
    Outcome o;
    brake_call_id id = g_id++;
    CHECK_EQ_INT(brake_call_start(e, id, "upload", args, 2, nullptr, outcome_done, &o), BRAKE_OK);
    brake_value_free(u);
    brake_value_free(b);
    double deadline = now_ms() + 5000;
    while (s.stalls.load() == 0 && now_ms() < deadline) sleep_ms(1);
    CHECK_EQ_INT(s.stalls.load(), 1);
    sleep_ms(20);
    CHECK_EQ_INT(brake_engine_http_sockets(e), 1);
    cancel_promptly(e, id, o);
    // The server, reading again, gets what was sent and then the end.
    s.stall_reads = false;
    CHECK(s.all_closed(10000));
    finish(e);
  }
  s.shutdown();
  close(filler);
  close(listener);
}

// A cancel while the host name is being resolved (a lookup that does not
// come back) settles the call at once and leaves no transfer; the engine is
// freed without waiting for the lookup.
BRAKE_TEST(a_cancel_while_resolving_settles_at_once) {
  brake_engine* e = make_engine(1);
  CHECK(e != nullptr);
  if (e) {
    Outcome o;
    int before = g_resolving_stalled.load();
    brake_call_id id = start(e, "text", std::string("http://") + kStalledName + ":8080/x", o);
    double deadline = now_ms() + 5000;
    while (g_resolving_stalled.load() == before && now_ms() < deadline) sleep_ms(1);
    CHECK_EQ_INT(g_resolving_stalled.load(), before + 1);
    CHECK_EQ_INT(brake_engine_http_transfers(e), 1);
    cancel_promptly(e, id, o);
    double t0 = now_ms();
    finish(e); // every transfer gone, the engine freed
    CHECK(now_ms() - t0 < 2000);
  }
}

// Host names are looked up off the worker and the answer is kept a while:
// a second request to the name looks nothing up; an unknown name is a
// failed response saying so.
BRAKE_TEST(host_names_are_looked_up_and_cached) {
  with_server(1, [&](Server& s, brake_engine* e) {
    std::string url = "http://loopback.brake.test:" + std::to_string(s.port) + "/ok";
    int before = g_lookups.load();
    CHECK(value_of(e, "text", url) == "\"hello\"");
    CHECK(value_of(e, "text", url) == "\"hello\"");
    CHECK_EQ_INT(g_lookups.load(), before + 1);
    std::string why = value_of(e, "error_of", "http://nowhere.brake.test:1/x");
    if (why.find("resolve") == std::string::npos) fprintf(stderr, "nowhere: %s\n", why.c_str());
    CHECK(why.find("resolve") != std::string::npos);
  });
}

// connect_timeout_ms covers the host name's lookup too (as libcurl's
// connect timeout does): a lookup that does not come back fails the
// request with a timeout, and the engine goes on.
BRAKE_TEST(a_lookup_slower_than_the_connect_timeout_times_out) {
  brake_engine* e = make_engine(1);
  CHECK(e != nullptr);
  if (e) {
    Outcome o;
    double t0 = now_ms();
    start(e, "connect_timed", std::string("http://") + kStalledName + ":8080/x", o, 100);
    CHECK(wait_for(o));
    double took = now_ms() - t0;
    if (o.value.find("imeout") == std::string::npos || took > 2000) fprintf(stderr, "lookup timeout: %s after %.1f ms\n", o.value.c_str(), took);
    CHECK(o.value.find("imeout") != std::string::npos);
    CHECK(took >= 95 && took < 2000);
    finish(e);
  }
}

// A host name with two addresses whose first never answers (its listener's
// accept queue is full): the first attempt gets its share of the connect
// timeout, then the second address is tried and the request succeeds.
// The own client only: libcurl 7.88 spends the whole connect timeout on the
// first of two IPv4 addresses.
BRAKE_TEST(a_dead_first_address_leaves_time_for_the_next) {
  Server s;
  s.start();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(s.port);
  inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
  int stuck = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_EQ_INT(bind(stuck, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  listen(stuck, 0);
  int filler = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_EQ_INT(connect(filler, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  brake_engine* e = make_engine(1);
  CHECK(e != nullptr);
  if (e) {
    Outcome o;
    double t0 = now_ms();
    start(e, "connect_timed", "http://two.brake.test:" + std::to_string(s.port) + "/ok", o, 2000);
    CHECK(wait_for(o));
    double took = now_ms() - t0;
    if (o.value != "\"none\"" || took > 1900) fprintf(stderr, "two addresses: %s after %.1f ms\n", o.value.c_str(), took);
    CHECK(o.value == "\"none\"");
    CHECK(took < 1900);
    finish(e);
    CHECK(s.all_closed());
  }
  s.shutdown();
  close(filler);
  close(stuck);
}

// connect_timeout_ms bounds the connection phase (against a listener whose
// accept queue is full, so the handshake never completes): the script gets
// status_code 0 and a timeout, and the socket is closed.
BRAKE_TEST(a_connect_timeout_bounds_the_connection_phase) {
  sockaddr_in a;
  int listener = loopback_listener(0, &a);
  int filler = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_EQ_INT(connect(filler, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  brake_engine* e = make_engine(1);
  CHECK(e != nullptr);
  if (e) {
    std::string stuck = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/x";
    Outcome o;
    double t0 = now_ms();
    start(e, "connect_timed", stuck, o, 100);
    CHECK(wait_for(o));
    double took = now_ms() - t0;
    if (o.value.find("imeout") == std::string::npos || took < 95 || took > 2000)
      fprintf(stderr, "connect timeout: %s after %.1f ms\n", o.value.c_str(), took);
    CHECK(o.value.find("imeout") != std::string::npos);
    CHECK(took >= 95 && took < 2000);
    CHECK(sockets_closed(e));
    finish(e);
  }
  close(filler);
  close(listener);
}

// The standard proxy variable is honoured (libcurl reads it per request):
// a request for another host goes to the proxy in absolute form. The
// variable is set before the engine exists and removed after it is freed.
BRAKE_TEST(the_proxy_variable_is_honoured) {
  Server s;
  s.start();
  setenv("http_proxy", s.url("").c_str(), 1);
  brake_engine* e = make_engine(1);
  CHECK(e != nullptr);
  if (e) {
    CHECK(value_of(e, "text", "http://brake-proxy.test/ok") == "\"hello\"");
    CHECK_EQ_INT(s.proxied.load(), 1);
    // An IP literal too: with a proxy set, plain HTTP goes through libcurl.
    CHECK(value_of(e, "text", "http://192.0.2.1:9/ok") == "\"hello\"");
    CHECK_EQ_INT(s.proxied.load(), 2);
    finish(e);
    CHECK(s.all_closed());
  }
  unsetenv("http_proxy");
  s.shutdown();
}

// The same cases with libcurl for every request.
BRAKE_TEST(responses_over_keep_alive_connections_libcurl) { with_libcurl(responses_over_keep_alive_connections); }
BRAKE_TEST(a_body_over_the_limit_fails_the_request_libcurl) { with_libcurl(a_body_over_the_limit_fails_the_request); }
BRAKE_TEST(http_failures_carry_status_url_and_body_as_data_libcurl) { with_libcurl(http_failures_carry_status_url_and_body_as_data); }
BRAKE_TEST(a_cancel_closes_the_connection_at_once_libcurl) { with_libcurl(a_cancel_closes_the_connection_at_once); }
BRAKE_TEST(a_timeout_answers_the_script_and_closes_the_connection_libcurl) { with_libcurl(a_timeout_answers_the_script_and_closes_the_connection); }
BRAKE_TEST(a_computing_call_does_not_stall_transfers_on_its_worker_libcurl) { with_libcurl(a_computing_call_does_not_stall_transfers_on_its_worker); }
BRAKE_TEST(many_requests_with_random_cancels_libcurl) { with_libcurl(many_requests_with_random_cancels); }
BRAKE_TEST(a_cancel_while_connecting_or_sending_closes_the_socket_libcurl) { with_libcurl(a_cancel_while_connecting_or_sending_closes_the_socket); }
BRAKE_TEST(a_connect_timeout_bounds_the_connection_phase_libcurl) { with_libcurl(a_connect_timeout_bounds_the_connection_phase); }
BRAKE_TEST(a_cancel_while_resolving_settles_at_once_libcurl) { with_libcurl(a_cancel_while_resolving_settles_at_once); }
BRAKE_TEST(host_names_are_looked_up_and_cached_libcurl) { with_libcurl(host_names_are_looked_up_and_cached); }
BRAKE_TEST(a_lookup_slower_than_the_connect_timeout_times_out_libcurl) { with_libcurl(a_lookup_slower_than_the_connect_timeout_times_out); }

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(responses_over_keep_alive_connections),
      TEST_ENTRY(a_body_over_the_limit_fails_the_request),
      TEST_ENTRY(http_failures_carry_status_url_and_body_as_data),
      TEST_ENTRY(a_cancel_closes_the_connection_at_once),
      TEST_ENTRY(a_timeout_answers_the_script_and_closes_the_connection),
      TEST_ENTRY(a_computing_call_does_not_stall_transfers_on_its_worker),
      TEST_ENTRY(many_requests_with_random_cancels),
      TEST_ENTRY(a_cancel_while_connecting_or_sending_closes_the_socket),
      TEST_ENTRY(a_connect_timeout_bounds_the_connection_phase),
      TEST_ENTRY(a_cancel_while_resolving_settles_at_once),
      TEST_ENTRY(host_names_are_looked_up_and_cached),
      TEST_ENTRY(a_lookup_slower_than_the_connect_timeout_times_out),
      TEST_ENTRY(a_dead_first_address_leaves_time_for_the_next),
      TEST_ENTRY(the_proxy_variable_is_honoured),
      TEST_ENTRY(responses_over_keep_alive_connections_libcurl),
      TEST_ENTRY(a_body_over_the_limit_fails_the_request_libcurl),
      TEST_ENTRY(http_failures_carry_status_url_and_body_as_data_libcurl),
      TEST_ENTRY(a_cancel_closes_the_connection_at_once_libcurl),
      TEST_ENTRY(a_timeout_answers_the_script_and_closes_the_connection_libcurl),
      TEST_ENTRY(a_computing_call_does_not_stall_transfers_on_its_worker_libcurl),
      TEST_ENTRY(many_requests_with_random_cancels_libcurl),
      TEST_ENTRY(a_cancel_while_connecting_or_sending_closes_the_socket_libcurl),
      TEST_ENTRY(a_connect_timeout_bounds_the_connection_phase_libcurl),
      TEST_ENTRY(a_cancel_while_resolving_settles_at_once_libcurl),
      TEST_ENTRY(host_names_are_looked_up_and_cached_libcurl),
      TEST_ENTRY(a_lookup_slower_than_the_connect_timeout_times_out_libcurl),
  };
  int rc = run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
  g_release_resolver = true; // stalled lookups (abandoned by their engines) end
  return rc;
}
