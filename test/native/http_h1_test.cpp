// http_h1_test.cpp: brake's own HTTP/1.1 client (the native transport's
// client for plain HTTP) on the wire, against a
// scripted server on 127.0.0.1 that answers each path with exact bytes:
// chunked bodies with extensions and trailers, interim 1xx responses,
// HTTP/1.0 and bodies that end with the connection, folded and repeated
// headers, LF-only lines, answers split into single bytes, malformed
// answers, keep-alive reuse and a server closing a kept connection, and the
// requests it writes. Each case also runs with libcurl for every request
// (http_libcurl_only), so both clients are held to the same answers.
// Built only with libcurl (the native transport).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_outcome.h"
#include "test_socket.h"

namespace {

struct Scripted {
  int listener = -1;
  uint16_t port = 0;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<int> connections{0};
  std::atomic<int> open{0};
  std::mutex mu;
  std::vector<std::string> heads; // every request's head, as received
  std::vector<std::thread> handlers;

  void start() {
    sockaddr_in a;
    listener = loopback_listener(64, &a);
    port = ntohs(a.sin_port);
    thread = std::thread([this] {
      while (!stop) {
        pollfd p{listener, POLLIN, 0};
        if (poll(&p, 1, 5) <= 0) continue;
        int fd = accept(listener, nullptr, nullptr);
        if (fd < 0) continue;
        connections++;
        open++;
        std::lock_guard<std::mutex> lock(mu);
        handlers.emplace_back([this, fd] { serve(fd); });
      }
    });
  }

  void shutdown() {
    stop = true;
    thread.join();
    for (auto& t : handlers) t.join();
    close(listener);
  }

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }

  // One connection: requests in turn (head, then a content-length body).
  void serve(int fd) {
    std::string in;
    bool drop_next = false;
    for (;;) {
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (stop) return finish(fd);
        if (poll(&p, 1, 5) <= 0) continue;
        char buf[65536];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return finish(fd);
        in.append(buf, size_t(n));
      }
      std::string head = in.substr(0, end + 4);
      size_t length = 0;
      size_t cl = head.find("Content-Length: ");
      if (cl != std::string::npos) length = std::stoul(head.substr(cl + 16));
      while (in.size() < end + 4 + length) {
        char buf[65536];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return finish(fd);
        in.append(buf, size_t(n));
      }
      std::string body = in.substr(end + 4, length);
      in.erase(0, end + 4 + length);
      {
        std::lock_guard<std::mutex> lock(mu);
        heads.push_back(head);
      }
      if (drop_next) return finish(fd); // closes instead of answering (a kept connection's race)
      std::string path = head.substr(head.find(' ') + 1);
      path = path.substr(0, path.find_first_of(" ?"));
      bool head_only = head.rfind("HEAD ", 0) == 0;
      if (!answer(fd, path, head, head_only ? "" : body, head_only, drop_next)) return finish(fd);
    }
  }

  void finish(int fd) {
    close(fd);
    open--;
  }

  // Sends the answer for `path`; false to close the connection after it.
  bool answer(int fd, const std::string& path, const std::string& head, const std::string& body, bool head_only,
              bool& drop_next) {
    auto fixed = [&](const std::string& b) {
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + (head_only ? "" : b));
      return true;
    };
    if (path == "/ok") return fixed("hello");
    if (path == "/echo-head") return fixed(head + body);
    if (path == "/chunked") {
      send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
      return true;
    }
    if (path == "/interim") {
      send_all(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
      return true;
    }
    if (path == "/http10") {
      send_all(fd, "HTTP/1.0 200 OK\r\nX-V: 1.0\r\n\r\nuntil the end");
      return false;
    }
    if (path == "/headers") {
      send_all(fd, "HTTP/1.1 201 Created\r\nX-A: 1\r\nx-a: 2\r\nX-Folded: a\r\n  b\r\nX-Space:   padded  \r\nContent-Length: 0\r\n\r\n");
      return true;
    }
    if (path == "/lf") {
      send_all(fd, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
      return true;
    }
    if (path == "/bytewise") { // every byte its own segment
      std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
      for (char c : r) {
        send_all(fd, std::string(1, c));
        usleep(200);
      }
      return true;
    }
    if (path == "/no-content") {
      send_all(fd, "HTTP/1.1 204 No Content\r\n\r\n");
      return true;
    }
    if (path == "/close") {
      send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye");
      return false;
    }
    if (path == "/garbage") {
      send_all(fd, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
      return false;
    }
    if (path == "/bad-length") {
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
      return false;
    }
    if (path == "/bad-chunk") {
      send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
      return false;
    }
    if (path == "/huge-head") {
      std::string r = "HTTP/1.1 200 OK\r\n";
      for (int i = 0; i < 4000; i++) r += "X-Filler-" + std::to_string(i) + ": " + std::string(80, 'f') + "\r\n";
      send_all(fd, r + "Content-Length: 0\r\n\r\n");
      return false;
    }
    if (path == "/cut") {
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
      return false;
    }
    if (path == "/empty") return false; // closes without a byte
    if (path == "/then-408") { // answers, then (idle) sends a 408 and closes, as servers do on idle timeouts
      fixed("first");
      usleep(20000);
      send_all(fd, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return false;
    }
    if (path == "/then-close") { // answers, then closes the kept connection while it is idle
      fixed("first");
      usleep(20000);
      return false;
    }
    if (path == "/then-drop") { // answers, then closes the kept connection when the next request arrives
      drop_next = true;
      return fixed("first");
    }
    send_all(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    return true;
  }

  bool all_closed(double ms = 3000) {
    double deadline = now_ms() + ms;
    while (open.load() > 0 && now_ms() < deadline) sleep_ms(1);
    return open.load() == 0;
  }
  std::string last_head() {
    std::lock_guard<std::mutex> lock(mu);
    return heads.empty() ? "" : heads.back();
  }
};

const char* kSource = R"(
function text(url: string) -> string { baml.http.fetch(url).text() }
function status(url: string) -> int { baml.http.fetch(url).status_code }
function error_of(url: string) -> string {
  let e = baml.http.fetch(url).error;
  if (e != null) { e } else { "none" }
}
function head_status(url: string) -> int { baml.http.fetch(url, { method: "HEAD" }).status_code }
function headers_of(url: string) -> map<string, string> { baml.http.fetch(url).headers }
function post(url: string, body: string) -> string {
  baml.http.fetch(url, { method: "POST", headers: { "X-Mixed-Case": "v", "empty": "" }, body: body }).text()
}
function post_nobody(url: string) -> string { baml.http.fetch(url, { method: "POST" }).text() }
)";

bool g_libcurl_only = false;
std::atomic<brake_call_id> g_id{1};

std::string call(brake_engine* e, const char* fn, const std::string& url, const char* extra = nullptr) {
  brake_value* u = nullptr;
  brake_value_string(url.data(), url.size(), &u);
  brake_value* x = nullptr;
  if (extra) brake_value_string(extra, strlen(extra), &x);
  const brake_value* args[] = {u, x};
  Outcome o;
  CHECK_EQ_INT(brake_call_start(e, g_id++, fn, args, extra ? 2 : 1, nullptr, outcome_done, &o), BRAKE_OK);
  brake_value_free(u);
  brake_value_free(x);
  CHECK(wait_for(o));
  if (o.status != BRAKE_OK) return "<" + o.kind + ": " + o.message + ">";
  return o.value;
}

// Runs `body(server, engine)` with a fresh scripted server and a one-worker
// engine; afterwards no transfer is left, and once the engine is freed the
// server has no connection open.
template <typename Body> void with_scripted(Body body) {
  Scripted s;
  s.start();
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = 1;
  o.http_libcurl_only = g_libcurl_only ? 1 : 0;
  brake_engine* e = engine_with(kSource, &o);
  CHECK(e != nullptr);
  if (e) {
    body(s, e);
    double deadline = now_ms() + 2000;
    while (brake_engine_http_transfers(e) > 0 && now_ms() < deadline) sleep_ms(1);
    CHECK_EQ_INT(brake_engine_http_transfers(e), 0);
    brake_engine_free(e);
    CHECK(s.all_closed());
  }
  s.shutdown();
}

void with_libcurl(void (*test)()) {
  g_libcurl_only = true;
  test();
  g_libcurl_only = false;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

} // namespace

// Bodies however they are framed, and the connection kept when HTTP allows.
BRAKE_TEST(bodies_by_length_chunks_and_connection_end) {
  with_scripted([](Scripted& s, brake_engine* e) {
    CHECK(call(e, "text", s.url("/ok")) == "\"hello\"");
    CHECK(call(e, "text", s.url("/chunked")) == "\"hello world\"");
    CHECK(call(e, "text", s.url("/interim")) == "\"hi\"");
    CHECK(call(e, "text", s.url("/bytewise")) == "\"abcde\"");
    CHECK(call(e, "status", s.url("/no-content")) == "204");
    CHECK(call(e, "head_status", s.url("/ok")) == "200"); // a content-length, and no body after it
    CHECK(call(e, "text", s.url("/lf")) == "\"ok\"");
    CHECK_EQ_INT(s.connections.load(), 1); // all of them on one kept connection
    CHECK(call(e, "text", s.url("/http10")) == "\"until the end\""); // then the server closes it
    CHECK(call(e, "text", s.url("/close")) == "\"bye\"");
    CHECK_EQ_INT(s.connections.load(), 2);
    CHECK(s.all_closed()); // both closed as HTTP said
    CHECK_EQ_INT(brake_engine_http_sockets(e), 0);
  });
}

BRAKE_TEST(headers_repeated_folded_and_padded) {
  with_scripted([](Scripted& s, brake_engine* e) {
    std::string h = call(e, "headers_of", s.url("/headers"));
    if (!contains(h, "\"x-a\": \"1, 2\"") || !contains(h, "\"x-folded\": \"a b\"") || !contains(h, "\"x-space\": \"padded\""))
      fprintf(stderr, "headers: %s\n", h.c_str());
    CHECK(contains(h, "\"x-a\": \"1, 2\""));
    CHECK(contains(h, "\"x-folded\": \"a b\""));
    CHECK(contains(h, "\"x-space\": \"padded\""));
    CHECK(call(e, "status", s.url("/headers")) == "201");
  });
}

// Answers that are not HTTP, or break its framing, are failed responses
// (status_code 0, a reason); the engine goes on serving.
BRAKE_TEST(malformed_answers_are_failed_responses) {
  with_scripted([](Scripted& s, brake_engine* e) {
    std::vector<const char*> paths = {"/garbage", "/bad-chunk", "/huge-head", "/cut", "/empty"};
    // Conflicting content-lengths (RFC 9112 6.3: an unrecoverable error);
    // libcurl 7.88 takes one of them.
    if (!g_libcurl_only) paths.push_back("/bad-length");
    for (const char* path : paths) {
      std::string st = call(e, "status", s.url(path));
      std::string why = call(e, "error_of", s.url(path));
      if (st != "0" || why == "\"none\"") fprintf(stderr, "%s: status %s, error %s\n", path, st.c_str(), why.c_str());
      CHECK(st == "0");
      CHECK(why != "\"none\"");
    }
    CHECK(call(e, "text", s.url("/ok")) == "\"hello\"");
  });
}

// A server may close a kept connection just as the next request goes out
// on it: that request is sent again on a new connection (once), as libcurl
// does. A fresh connection closed without an answer is a failed response, with
// libcurl's words for it.
BRAKE_TEST(a_kept_connection_closed_by_the_server_is_replaced) {
  with_scripted([](Scripted& s, brake_engine* e) {
    CHECK(call(e, "text", s.url("/then-drop")) == "\"first\"");
    CHECK(call(e, "text", s.url("/ok")) == "\"hello\"");
    CHECK_EQ_INT(s.connections.load(), 2);
    // Closed while idle (the worker had no transfer, so it was not watching),
    // or told off with a 408 first: the next request goes on a new connection
    // and gets its own answer.
    // (libcurl 7.88 takes the 408 as the next request's answer: the own client only.)
    std::vector<const char*> paths = {"/then-close"};
    if (!g_libcurl_only) paths.push_back("/then-408");
    for (const char* path : paths) {
      int before = s.connections.load();
      CHECK(call(e, "text", s.url(path)) == "\"first\"");
      sleep_ms(80);
      std::string next = call(e, "text", s.url("/ok"));
      if (next != "\"hello\"") fprintf(stderr, "after %s: %s\n", path, next.c_str());
      CHECK(next == "\"hello\"");
      CHECK_EQ_INT(s.connections.load(), before + 1); // the one the server closed, then a new one
    }
    std::string empty = call(e, "error_of", s.url("/empty"));
    if (!contains(empty, "Server returned nothing")) fprintf(stderr, "/empty: %s\n", empty.c_str());
    CHECK(contains(empty, "Server returned nothing"));
  });
}

// What goes on the wire: the request line with the path and query, Host
// with the port, the script's headers as written, a content-length for a
// body (and 0 for a POST without one), no form content-type, no Expect.
BRAKE_TEST(the_request_on_the_wire) {
  with_scripted([](Scripted& s, brake_engine* e) {
    std::string echoed = call(e, "post", s.url("/echo-head?q=1#frag"), "payload");
    std::string head = s.last_head();
    if (!contains(head, "POST /echo-head?q=1 HTTP/1.1\r\n")) fprintf(stderr, "head: %s\n", head.c_str());
    CHECK(head.rfind("POST /echo-head?q=1 HTTP/1.1\r\n", 0) == 0);
    CHECK(contains(head, "\r\nHost: 127.0.0.1:" + std::to_string(s.port) + "\r\n"));
    CHECK(contains(head, "\r\nX-Mixed-Case: v\r\n"));
    CHECK(contains(head, "\r\nContent-Length: 7\r\n"));
    CHECK(!contains(head, "ontent-Type"));
    CHECK(!contains(head, "Expect"));
    CHECK(contains(echoed, "payload"));
    call(e, "post_nobody", s.url("/echo-head"));
    CHECK(contains(s.last_head(), "\r\nContent-Length: 0\r\n"));
    // localhost: the loopback, by its IPv4 address first.
    std::string local = "http://localhost:" + std::to_string(s.port) + "/ok";
    CHECK(call(e, "text", local) == "\"hello\"");
    CHECK(contains(s.last_head(), "\r\nHost: localhost:" + std::to_string(s.port) + "\r\n"));
  });
}

BRAKE_TEST(bodies_by_length_chunks_and_connection_end_libcurl) { with_libcurl(bodies_by_length_chunks_and_connection_end); }
BRAKE_TEST(headers_repeated_folded_and_padded_libcurl) { with_libcurl(headers_repeated_folded_and_padded); }
BRAKE_TEST(malformed_answers_are_failed_responses_libcurl) { with_libcurl(malformed_answers_are_failed_responses); }
BRAKE_TEST(a_kept_connection_closed_by_the_server_is_replaced_libcurl) { with_libcurl(a_kept_connection_closed_by_the_server_is_replaced); }
BRAKE_TEST(the_request_on_the_wire_libcurl) { with_libcurl(the_request_on_the_wire); }

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(bodies_by_length_chunks_and_connection_end),
      TEST_ENTRY(headers_repeated_folded_and_padded),
      TEST_ENTRY(malformed_answers_are_failed_responses),
      TEST_ENTRY(a_kept_connection_closed_by_the_server_is_replaced),
      TEST_ENTRY(the_request_on_the_wire),
      TEST_ENTRY(bodies_by_length_chunks_and_connection_end_libcurl),
      TEST_ENTRY(headers_repeated_folded_and_padded_libcurl),
      TEST_ENTRY(malformed_answers_are_failed_responses_libcurl),
      TEST_ENTRY(a_kept_connection_closed_by_the_server_is_replaced_libcurl),
      TEST_ENTRY(the_request_on_the_wire_libcurl),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
