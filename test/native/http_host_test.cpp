// http_host_test.cpp: baml.http.fetch served by a host transport through
// the C ABI (brake_engine_options.http_transport): what the transport is
// handed, the Response a script gets (status_code, url, headers, error,
// ok(), text() once, json()), failures as status_code 0, typed errors for bad
// arguments and for hosts outside the network policy, the engine's own
// timeout, and cancellation reaching the transport. The transport here is
// the test's (canned answers by path); test/js/60-http.test.ts runs the same
// API over real sockets.
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

namespace {

const char* kSource = R"(
function status(url: string) -> int { baml.http.fetch(url).status_code }
function text(url: string) -> string { baml.http.fetch(url).text() }
function text_twice(url: string) -> string { let r = baml.http.fetch(url); let a = r.text(); r.text() }
function ok(url: string) -> bool { baml.http.fetch(url).ok() }
function url_of(url: string) -> string { baml.http.fetch(url).url }
function content_type(url: string) -> string { baml.http.fetch(url).headers["content-type"] }
function error_of(url: string) -> string {
  let e = baml.http.fetch(url).error;
  if (e != null) { e } else { "none" }
}
function name_of(url: string) -> string {
  let j = baml.http.fetch(url).json();
  match (j["name"]) {
    s: string => s,
    _ => "no name",
  }
}
function numbers(url: string) -> string {
  let j = baml.http.fetch(url).json();
  let out = "";
  for (let x in j["n"]) {
    let k = match (x) {
      i: int => "i",
      f: float => "f",
      b: bool => "b",
      _ => "n",
    };
    out = out + k;
  }
  out
}
function wide(url: string) -> int {
  match (baml.http.fetch(url).json()["s"]) {
    s: string => s.length(),
    _ => 0,
  }
}
function post(url: string) -> string {
  let r = baml.http.fetch(url, {
    method: "post",
    headers: { "X-Test": "yes" },
    body: { a: 1, b: [true, null, "x\n\"y\""], c: 2.5 },
  });
  r.text()
}
function post_text(url: string) -> string {
  baml.http.fetch(url, { method: "PUT", headers: { "content-type": "text/plain" }, body: "raw" }).text()
}
function with_options(url: string, options: map<string, string>) -> int { baml.http.fetch(url, options).status_code }
function timed(url: string, ms: int) -> string {
  let r = baml.http.fetch(url, { timeout_ms: ms });
  let e = r.error;
  if (r.status_code == 0 && e != null) { e } else { "no error" }
}
function whole(url: string) -> baml.http.Response { baml.http.fetch(url) }
client<llm> Model { provider openai-generic options { base_url "http://llm.example/v1" model "m" api_key "k" } }
function extract(t: string) -> string { client Model prompt #"{{ t }}"# }
client<llm> Late { provider openai-generic options { base_url "http://llm.example/late" model "m" api_key "k" } }
function extract_late(t: string) -> string { client Late prompt #"{{ t }}"# }
)";

struct Transport {
  brake_engine* engine = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<brake_op_id> pending; // "/never" requests, unanswered
  std::vector<std::pair<brake_op_id, int>> cancels;
  std::atomic<int> calls{0};
  std::vector<std::string> last_args; // formatted
  size_t last_index = 0;
  std::string last_function;
};


brake_value* str(const std::string& s) {
  brake_value* v = nullptr;
  brake_value_string(s.data(), s.size(), &v);
  return v;
}

// Bytes that are not UTF-8 cannot be a brake_value string: a body is
// UTF-8 here (the lossy decoding of other bytes is covered from JS, where a
// transport hands over bytes).
brake_value* answer(int64_t status, const std::string& body, const std::string& url = "",
                    std::map<std::string, std::string> headers = {{"Content-Type", "text/plain"}}) {
  brake_value* m = brake_value_map();
  brake_value_map_set(m, "status", 6, brake_value_int(status));
  brake_value_map_set(m, "url", 3, str(url));
  brake_value* h = brake_value_map();
  for (auto& [k, v] : headers) brake_value_map_set(h, k.data(), k.size(), str(v));
  brake_value_map_set(m, "headers", 7, h);
  brake_value_map_set(m, "body", 4, str(body));
  return m;
}

// Hands operation `op` an OpenAI event stream of "Hello there" in parts of
// `step` bytes (brake_host_part), cut inside events. The first status that
// is not BRAKE_OK, or BRAKE_OK.
int send_hello_stream(brake_engine* e, brake_op_id op, size_t step) {
  std::string sse;
  for (const char* piece : {"Hel", "lo ", "there"})
    sse += std::string(R"(data: {"choices":[{"index":0,"delta":{"content":")") + piece + "\"}}]}\n\n";
  sse += "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
  for (size_t i = 0; i < sse.size(); i += step)
    if (int rc = brake_host_part(e, op, sse.data() + i, std::min(step, sse.size() - i))) return rc;
  return BRAKE_OK;
}

void on_fetch(void* user_data, const brake_host_call* c) {
  Transport* t = static_cast<Transport*>(user_data);
  t->calls++;
  brake_op_id op = brake_host_call_op(c);
  std::vector<std::string> args;
  for (size_t i = 0; i < brake_host_call_arg_count(c); i++) args.push_back(format_value(brake_host_call_arg(c, i)));
  size_t len = 0;
  std::string url = brake_value_get_string(brake_host_call_arg(c, 0), &len);
  std::string path = url.substr(url.find('/', url.find("://") + 3));
  {
    std::lock_guard<std::mutex> lock(t->mu);
    t->last_args = args;
    t->last_index = brake_host_call_function_index(c);
    t->last_function = brake_host_call_function(c);
  }
  brake_value* v = nullptr;
  if (path == "/ok") {
    v = answer(200, "hello");
  } else if (path == "/json") {
    v = answer(200, R"({"name": "ada", "n": [1, 2.5, true, null, 18446744073709551615], "deep": {"x": {}}})");
  } else if (path == "/wide") {
    v = answer(200, "{\"s\": \"" + std::string(2 << 20, 'x') + "\"}");
  } else if (path == "/deep") {
    v = answer(200, std::string(600, '[') + std::string(600, ']'));
  } else if (path == "/unicode") {
    v = answer(200, R"({"name": "first", "name": "caf\u00e9 \ud83d\ude00 \"q\""})");
  } else if (path == "/bad-json") {
    v = answer(200, "{\"name\": ");
  } else if (path == "/redirected") {
    v = answer(200, "moved", "http://final.example/landing");
  } else if (path == "/missing") {
    v = answer(404, "not here");
  } else if (path == "/echo") {
    v = answer(201, args[1] + " " + args[2] + " " + args[3]);
  } else if (path == "/big") {
    v = answer(200, std::string(20000, 'b')); // past 3x the limit: a transport that ignored it
  } else if (path == "/malformed") {
    v = brake_value_int(5);
  } else if (path == "/v1/chat/completions") {
    // A streamed reply handed over in parts (brake_host_part), cut inside
    // events, then the answer with an empty body.
    CHECK(args.size() == 7 && args[6] == "true");
    CHECK_EQ_INT(send_hello_stream(t->engine, op, 7), BRAKE_OK);
    v = answer(200, "", "", {{"content-type", "text/event-stream"}});
  } else if (path == "/fail") {
    CHECK_EQ_INT(brake_host_fail(t->engine, op, "connect ECONNREFUSED 127.0.0.1:1", "ECONNREFUSED"), BRAKE_OK);
    return;
  } else {
    std::lock_guard<std::mutex> lock(t->mu);
    t->pending.push_back(op);
    t->cv.notify_all();
    return;
  }
  CHECK_EQ_INT(brake_host_complete(t->engine, op, v), BRAKE_OK);
  brake_value_free(v);
}

void on_fetch_cancel(void* user_data, brake_op_id op, brake_origin origin) {
  Transport* t = static_cast<Transport*>(user_data);
  std::lock_guard<std::mutex> lock(t->mu);
  t->cancels.emplace_back(op, int(origin));
  t->cv.notify_all();
}

struct Options {
  bool transport = true;
  uint64_t timeout_ms = 0;
  uint64_t max_response = 4096;
  uint64_t call_memory = 0; // 0: the default
  std::vector<const char*> allow;
  unsigned workers = 2;
};

brake_engine* make_engine(Transport* t, const Options& opt = Options()) {
  brake_program* p = nullptr;
  if (brake_program_compile(kSource, strlen(kSource), "http.baml", &p) != BRAKE_OK) {
    fprintf(stderr, "compile: %s\n", brake_last_error());
    char* listing = nullptr;
    brake_program_free(p);
    (void)listing;
    return nullptr;
  }
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = opt.workers;
  if (opt.transport) o.http_transport = brake_host_binding{"ignored", on_fetch, on_fetch_cancel, t};
  o.http_timeout_ms = opt.timeout_ms;
  o.http_max_response_bytes = opt.max_response;
  if (opt.call_memory) o.call_memory_limit = opt.call_memory;
  o.http_allowed_hosts = opt.allow.empty() ? nullptr : opt.allow.data();
  o.http_allowed_host_count = opt.allow.size();
  brake_engine* e = nullptr;
  int rc = brake_engine_create(p, &o, &e);
  brake_program_free(p);
  if (rc != BRAKE_OK) fprintf(stderr, "engine: %s\n", brake_last_error());
  t->engine = e;
  return e;
}

std::atomic<brake_call_id> g_id{1};

int start(brake_engine* e, const char* fn, std::vector<brake_value*> args, Outcome& o) {
  std::vector<const brake_value*> cargs(args.begin(), args.end());
  int rc = brake_call_start(e, g_id++, fn, cargs.data(), cargs.size(), nullptr, outcome_done, &o);
  for (brake_value* v : args) brake_value_free(v);
  return rc;
}

// fn(url) to completion.
void run(brake_engine* e, const char* fn, const std::string& url, Outcome& o) {
  CHECK_EQ_INT(start(e, fn, {str(url)}, o), BRAKE_OK);
  CHECK(wait_for(o));
}

std::string value_of(brake_engine* e, const char* fn, const std::string& url) {
  Outcome o;
  run(e, fn, url, o);
  if (o.status != BRAKE_OK) fprintf(stderr, "%s(%s): %s %s\n", fn, url.c_str(), o.kind.c_str(), o.message.c_str());
  CHECK_EQ_INT(o.status, BRAKE_OK);
  return o.value;
}

#define CHECK_STR(a, b)                                                                                              \
  do {                                                                                                               \
    std::string got_ = (a);                                                                                          \
    std::string want_ = (b);                                                                                         \
    if (got_ != want_) fprintf(stderr, "  got:  %s\n  want: %s\n", got_.c_str(), want_.c_str());                     \
    CHECK(got_ == want_);                                                                                            \
  } while (0)

// A thread answering the transport's pending requests ("/never" and
// friends), in a shuffled order (seeded), with `answer_one(op, rng)`, until
// `stop`.
template <typename Answer> std::thread answer_pending(Transport& t, std::atomic<bool>& stop, unsigned seed, Answer answer_one) {
  return std::thread([&t, &stop, seed, answer_one] {
    std::mt19937 rng(seed);
    while (!stop.load()) {
      std::vector<brake_op_id> ops;
      {
        std::unique_lock<std::mutex> lock(t.mu);
        t.cv.wait_for(lock, std::chrono::milliseconds(5), [&] { return !t.pending.empty(); });
        ops.swap(t.pending);
      }
      std::shuffle(ops.begin(), ops.end(), rng);
      for (brake_op_id op : ops) answer_one(op, rng);
    }
  });
}

void finish(brake_engine* e) {
  CHECK_EQ_INT(live_after(e, 2000), 0);
  CHECK_EQ_INT(brake_engine_pending_host_calls(e), 0);
  CHECK_EQ_INT(memory_after(e, 2000), 0);
  brake_engine_free(e);
}

} // namespace

BRAKE_TEST(a_response_has_status_url_headers_and_text) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  CHECK_STR(value_of(e, "status", "http://127.0.0.1:8080/ok"), "200");
  CHECK_STR(value_of(e, "text", "http://127.0.0.1:8080/ok"), "\"hello\"");
  CHECK_STR(value_of(e, "ok", "http://127.0.0.1:8080/ok"), "true");
  CHECK_STR(value_of(e, "ok", "http://127.0.0.1:8080/missing"), "false");
  CHECK_STR(value_of(e, "status", "http://127.0.0.1:8080/missing"), "404");
  CHECK_STR(value_of(e, "url_of", "http://127.0.0.1:8080/ok"), "\"http://127.0.0.1:8080/ok\"");
  CHECK_STR(value_of(e, "url_of", "http://127.0.0.1:8080/redirected"), "\"http://final.example/landing\"");
  // Header names arrive in lower case whatever the transport wrote.
  CHECK_STR(value_of(e, "content_type", "http://127.0.0.1:8080/ok"), "\"text/plain\"");
  CHECK_STR(value_of(e, "error_of", "http://127.0.0.1:8080/ok"), "\"none\"");
  // What the transport was handed: url, method, headers, body, timeout, limit.
  {
    std::lock_guard<std::mutex> lock(t.mu);
    CHECK_STR(t.last_function, "baml.http.fetch");
    CHECK_EQ_INT(t.last_index, 0); // brake_program_host_function_count: none declared
    CHECK_EQ_INT(t.last_args.size(), 7);
    CHECK_STR(t.last_args[0], "\"http://127.0.0.1:8080/ok\"");
    CHECK_STR(t.last_args[1], "\"GET\"");
    CHECK_STR(t.last_args[2], "{}");
    CHECK_STR(t.last_args[3], "null");
    CHECK_STR(t.last_args[4], "0");
    CHECK_STR(t.last_args[5], "4096");
    CHECK_STR(t.last_args[6], "false"); // not a streamed LLM request
  }
  finish(e);
}

BRAKE_TEST(the_body_is_read_once) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  Outcome o;
  run(e, "text_twice", "http://127.0.0.1:8080/ok", o);
  CHECK_EQ_INT(o.status, BRAKE_HTTP_ERROR);
  CHECK_STR(o.kind, "body_consumed");
  CHECK(o.http_url == "http://127.0.0.1:8080/ok");
  CHECK(o.message.find("failed to call baml.http.Response.text: Response body has already been consumed") !=
        std::string::npos);
  finish(e);
}

BRAKE_TEST(json_can_be_indexed_and_matched) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  CHECK_STR(value_of(e, "name_of", "http://127.0.0.1:8080/json"), "\"ada\"");
  // 1, 2.5, true, null, 2^64-1 (past int64: a float).
  CHECK_STR(value_of(e, "numbers", "http://127.0.0.1:8080/json"), "\"ifbnf\"");
  Outcome o;
  run(e, "name_of", "http://127.0.0.1:8080/bad-json", o);
  CHECK_EQ_INT(o.status, BRAKE_HTTP_ERROR);
  CHECK_STR(o.kind, "json_parse_error");
  CHECK(o.message.find("failed to call baml.http.Response.json: invalid JSON") != std::string::npos);
  // Escapes decode (a surrogate pair is one code point); a repeated key keeps its last value.
  CHECK_STR(value_of(e, "name_of", "http://127.0.0.1:8080/unicode"), "\"caf\u00e9 \U0001F600 \\\"q\\\"\"");
  // Nesting past 512 levels is refused, not recursed into.
  Outcome deep;
  run(e, "name_of", "http://127.0.0.1:8080/deep", deep);
  CHECK_STR(deep.kind, "json_parse_error");
  CHECK(deep.message.find("nested more than 512 levels deep") != std::string::npos);
  finish(e);
}

// Parsing is charged to the call (8 bytes per byte of text while it runs):
// a 2 MiB string in JSON, which alone (body and value) fits an 8 MiB call,
// does not fit with what parsing it takes, and fails as out_of_memory rather
// than growing the process unseen; with room it parses.
BRAKE_TEST(parsing_json_is_charged_to_the_call) {
  Transport t;
  Options opt;
  opt.max_response = 0;
  opt.call_memory = 8 << 20;
  brake_engine* e = make_engine(&t, opt);
  CHECK(e != nullptr);
  if (!e) return;
  Outcome o;
  run(e, "wide", "http://127.0.0.1:8080/wide", o);
  CHECK_EQ_INT(o.status, BRAKE_SCRIPT_ERROR);
  CHECK_STR(o.kind, "out_of_memory");
  finish(e);
  Transport t2;
  opt.call_memory = 64 << 20;
  e = make_engine(&t2, opt);
  CHECK(e != nullptr);
  if (!e) return;
  CHECK_STR(value_of(e, "wide", "http://127.0.0.1:8080/wide"), std::to_string(2 << 20));
  finish(e);
}

BRAKE_TEST(a_failed_request_is_status_zero_with_its_reason) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  CHECK_STR(value_of(e, "status", "http://127.0.0.1:1/fail"), "0");
  CHECK_STR(value_of(e, "ok", "http://127.0.0.1:1/fail"), "false");
  CHECK_STR(value_of(e, "error_of", "http://127.0.0.1:1/fail"), "\"connect ECONNREFUSED 127.0.0.1:1\"");
  CHECK_STR(value_of(e, "text", "http://127.0.0.1:1/fail"), "\"\"");
  // A body over the engine's limit, and an answer that is not a response.
  CHECK_STR(value_of(e, "error_of", "http://127.0.0.1:8080/big"),
            "\"the response body is larger than the limit of 4096 bytes\"");
  std::string malformed = value_of(e, "error_of", "http://127.0.0.1:8080/malformed");
  CHECK(malformed.find("the HTTP transport answered with something other than") != std::string::npos);
  finish(e);
}

BRAKE_TEST(method_headers_and_json_body_reach_the_transport) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  // The echo path answers "<method> <headers> <body>", each formatted.
  CHECK_STR(value_of(e, "post", "http://127.0.0.1:8080/echo"),
            "\"\\\"POST\\\" {\\\"X-Test\\\": \\\"yes\\\", \\\"content-type\\\": \\\"application/json\\\"} "
            "\\\"{\\\\\\\"a\\\\\\\":1,\\\\\\\"b\\\\\\\":[true,null,\\\\\\\"x\\\\\\\\n\\\\\\\\\\\\\\\"y\\\\\\\\\\\\\\\"\\\\\\\"],"
            "\\\\\\\"c\\\\\\\":2.5}\\\"\"");
  CHECK_STR(value_of(e, "post_text", "http://127.0.0.1:8080/echo"),
            "\"\\\"PUT\\\" {\\\"content-type\\\": \\\"text/plain\\\"} \\\"raw\\\"\"");
  finish(e);
}

BRAKE_TEST(bad_arguments_are_typed_errors_before_the_transport) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  struct Case {
    const char* url;
    const char* text; // in the message
  } urls[] = {
      {"ftp://example.com/x", "unsupported scheme 'ftp'"},
      {"example.com/x", "not an absolute URL"},
      {"http:///x", "the URL has no host"},
      {"http://exa mple.com/", "spaces or control characters"},
      {"http://example.com:99999/", "an invalid port"},
      {"http://[::1/", "closing ']'"},
  };
  for (const Case& c : urls) {
    Outcome o;
    run(e, "status", c.url, o);
    CHECK_EQ_INT(o.status, BRAKE_SCRIPT_ERROR);
    CHECK_STR(o.kind, "invalid_argument");
    if (o.message.find(c.text) == std::string::npos) fprintf(stderr, "%s: %s\n", c.url, o.message.c_str());
    CHECK(o.message.find(c.text) != std::string::npos);
  }
  struct OptionCase {
    const char* key;
    const char* value;
    const char* text;
  } options[] = {
      {"method", "GET X", "HTTP method name"},
      {"timeout_ms", "5", "timeout_ms must be an int"},
      {"retries", "3", "unknown option \"retries\""},
      {"headers", "x", "headers must be a map"},
  };
  for (const OptionCase& c : options) {
    brake_value* m = brake_value_map();
    brake_value_map_set(m, c.key, strlen(c.key), str(c.value));
    Outcome o;
    CHECK_EQ_INT(start(e, "with_options", {str("http://127.0.0.1:8080/ok"), m}, o), BRAKE_OK);
    CHECK(wait_for(o));
    CHECK_EQ_INT(o.status, BRAKE_SCRIPT_ERROR);
    CHECK_STR(o.kind, "invalid_argument");
    if (o.message.find(c.text) == std::string::npos) fprintf(stderr, "%s: %s\n", c.key, o.message.c_str());
    CHECK(o.message.find(c.text) != std::string::npos);
  }
  CHECK_EQ_INT(t.calls.load(), 0);
  finish(e);
}

BRAKE_TEST(header_injection_is_refused) {
  Transport t;
  brake_program* p = nullptr;
  const char* src = R"(function f() -> int { baml.http.fetch("http://a.test/", { headers: { "X": "1\r\nEvil: 2" } }).status_code })"
                    "\n"
                    R"(function g() -> int { baml.http.fetch("http://a.test/", { headers: { "Bad Name": "1" } }).status_code })";
  CHECK_EQ_INT(brake_program_compile(src, strlen(src), "h.baml", &p), BRAKE_OK);
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.http_transport = brake_host_binding{nullptr, on_fetch, on_fetch_cancel, &t};
  brake_engine* e = nullptr;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_OK);
  brake_program_free(p);
  t.engine = e;
  for (const char* fn : {"f", "g"}) {
    Outcome out;
    CHECK_EQ_INT(brake_call_start(e, g_id++, fn, nullptr, 0, nullptr, outcome_done, &out), BRAKE_OK);
    CHECK(wait_for(out));
    CHECK_STR(out.kind, "invalid_argument");
  }
  CHECK_EQ_INT(t.calls.load(), 0);
  finish(e);
}

BRAKE_TEST(the_network_policy_is_checked_first) {
  Transport t;
  Options opt;
  opt.allow = {"127.0.0.1:8080", "*.example.com", "[::1]"};
  brake_engine* e = make_engine(&t, opt);
  CHECK(e != nullptr);
  if (!e) return;
  CHECK_STR(value_of(e, "status", "http://127.0.0.1:8080/ok"), "200");
  CHECK_STR(value_of(e, "status", "https://api.Example.com/ok"), "200");
  CHECK_STR(value_of(e, "status", "http://[::1]:9999/ok"), "200");
  const char* denied[] = {"http://127.0.0.1:8081/ok", "http://example.com/ok", "http://evil.com/ok",
                          "http://evil.com\\@a.example.com/ok", "http://user@evil.com/ok", "http://localhost:8080/ok"};
  int before = t.calls.load();
  for (const char* url : denied) {
    Outcome o;
    run(e, "status", url, o);
    CHECK_EQ_INT(o.status, BRAKE_HTTP_ERROR);
    CHECK(o.http && o.http_status == 0);
    if (o.kind != "network_policy") fprintf(stderr, "%s: %s %s\n", url, o.kind.c_str(), o.message.c_str());
    CHECK_STR(o.kind, "network_policy");
    CHECK(o.message.find("is not among the engine's allowed hosts") != std::string::npos);
  }
  CHECK_EQ_INT(t.calls.load(), before);
  finish(e);
  // A malformed rule refuses the engine.
  Transport t2;
  Options bad;
  bad.allow = {"exa mple.com"};
  CHECK(make_engine(&t2, bad) == nullptr);
  CHECK(strstr(brake_last_error(), "network rule \"exa mple.com\"") != nullptr);
}

// Without a host transport, requests go to the native one when this build
// has it (a closed port: status_code 0, libcurl's reason), else fetch is a
// typed error.
BRAKE_TEST(without_a_host_transport_fetch_is_native_or_a_typed_error) {
  Transport t;
  Options opt;
  opt.transport = false;
  brake_engine* e = make_engine(&t, opt);
  CHECK(e != nullptr);
  if (!e) return;
  Outcome o;
  run(e, "error_of", "http://127.0.0.1:1/ok", o);
  if (brake_http_native_available()) {
    CHECK_EQ_INT(o.status, BRAKE_OK);
    if (o.value.find("onnect") == std::string::npos) fprintf(stderr, "native: %s\n", o.value.c_str());
    CHECK(o.value.find("onnect") != std::string::npos); // "Couldn't connect to server"
    CHECK_EQ_INT(brake_engine_http_transfers(e), 0);
  } else {
    CHECK_EQ_INT(o.status, BRAKE_HTTP_ERROR);
    CHECK_STR(o.kind, "http_unavailable");
  }
  CHECK_EQ_INT(t.calls.load(), 0);
  finish(e);
}

BRAKE_TEST(the_timeout_answers_the_script_and_cancels_the_transport) {
  Transport t;
  Options opt;
  opt.timeout_ms = 80; // the engine's; the request's own wins
  brake_engine* e = make_engine(&t, opt);
  CHECK(e != nullptr);
  if (!e) return;
  for (int64_t ms : {int64_t(30), int64_t(0)}) {
    Outcome o;
    double t0 = now_ms();
    if (ms) CHECK_EQ_INT(start(e, "timed", {str("http://127.0.0.1:8080/never"), brake_value_int(ms)}, o), BRAKE_OK);
    else CHECK_EQ_INT(start(e, "error_of", {str("http://127.0.0.1:8080/never")}, o), BRAKE_OK);
    CHECK(wait_for(o));
    double took = now_ms() - t0;
    CHECK_EQ_INT(o.status, BRAKE_OK);
    std::string want = ms ? "\"timed out after 30 ms\"" : "\"timed out after 80 ms\"";
    CHECK_STR(o.value, want);
    CHECK(took >= (ms ? 30 : 80) - 2);
    CHECK(took < 2000);
  }
  {
    std::lock_guard<std::mutex> lock(t.mu);
    CHECK_EQ_INT(t.cancels.size(), 2);
    for (auto& c : t.cancels) CHECK_EQ_INT(c.second, BRAKE_ORIGIN_TIMEOUT);
  }
  // A late answer for a timed-out request is refused and changes nothing.
  for (brake_op_id op : t.pending) {
    brake_value* v = answer(200, "late");
    CHECK_EQ_INT(brake_host_complete(e, op, v), BRAKE_NOT_FOUND);
    brake_value_free(v);
  }
  finish(e);
}

BRAKE_TEST(a_cancel_stops_the_request_at_once) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  Outcome o;
  brake_call_id id = g_id++;
  brake_value* url = str("http://127.0.0.1:8080/never");
  const brake_value* args[] = {url};
  CHECK_EQ_INT(brake_call_start(e, id, "text", args, 1, nullptr, outcome_done, &o), BRAKE_OK);
  brake_value_free(url);
  {
    std::unique_lock<std::mutex> lock(t.mu);
    CHECK(t.cv.wait_for(lock, std::chrono::seconds(5), [&] { return !t.pending.empty(); }));
  }
  double t0 = now_ms();
  CHECK_EQ_INT(brake_cancel(e, id), BRAKE_OK);
  CHECK(wait_for(o));
  CHECK(now_ms() - t0 < 1000);
  CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
  {
    std::unique_lock<std::mutex> lock(t.mu);
    CHECK(t.cv.wait_for(lock, std::chrono::seconds(5), [&] { return t.cancels.size() == 1; }));
    CHECK_EQ_INT(t.cancels[0].first, t.pending[0]);
    CHECK_EQ_INT(t.cancels[0].second, BRAKE_ORIGIN_CANCEL);
  }
  finish(e);
}

BRAKE_TEST(a_response_crosses_to_the_host_without_its_hidden_fields) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  std::string v = value_of(e, "whole", "http://127.0.0.1:8080/ok");
  CHECK_STR(v, "baml.http.Response {status_code: 200, url: \"http://127.0.0.1:8080/ok\", headers: {\"content-type\": "
               "\"text/plain\"}, error: null}");
  CHECK(v.find("hello") == std::string::npos);
  finish(e);
}

// Thousands of requests answered from another thread, in random order,
// while about a third of their calls are cancelled: each call settles once,
// the transport hears of each cancel of a request it was handed, and nothing
// is left behind (run under TSan in CI).
BRAKE_TEST(many_requests_answered_late_with_random_cancels) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  const int n = brake_test_sanitized() ? 500 : 3000;
  std::vector<Outcome> out(static_cast<size_t>(n));
  std::vector<brake_call_id> ids(static_cast<size_t>(n));
  std::atomic<bool> stop{false};
  std::thread answerer = answer_pending(t, stop, 7, [&](brake_op_id op, std::mt19937&) {
    brake_value* v = answer(200, "late");
    int rc = brake_host_complete(e, op, v);
    CHECK(rc == BRAKE_OK || rc == BRAKE_NOT_FOUND);
    brake_value_free(v);
  });
  std::mt19937 rng(11);
  int cancelled = 0;
  for (int i = 0; i < n; i++) {
    ids[size_t(i)] = g_id++;
    brake_value* url = str("http://127.0.0.1:8080/never");
    const brake_value* args[] = {url};
    CHECK_EQ_INT(brake_call_start(e, ids[size_t(i)], "text", args, 1, nullptr, outcome_done, &out[size_t(i)]), BRAKE_OK);
    brake_value_free(url);
    if (rng() % 3 == 0) cancelled += brake_cancel(e, ids[size_t(rng() % size_t(i + 1))]) == BRAKE_OK;
  }
  int ok = 0, cancels = 0;
  for (auto& o : out) {
    CHECK(wait_for(o, 30000));
    if (o.status == BRAKE_OK) {
      CHECK_STR(o.value, "\"late\"");
      ok++;
    } else {
      CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
      cancels++;
    }
  }
  stop = true;
  answerer.join();
  CHECK_EQ_INT(ok + cancels, n);
  CHECK(cancels > 0 && cancels <= cancelled);
  fprintf(stderr, "%d answered, %d cancelled\n", ok, cancels);
  finish(e);
}

// The host transport streams an LLM reply with brake_host_part: the call's
// events come as the parts do, and the answer ends it. A part for an
// unknown operation is refused; a plain fetch is not streamed.
BRAKE_TEST(a_host_transport_streams_a_reply_in_parts) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  Outcome o;
  StreamLog log;
  log.outcome = &o;
  brake_value* arg = str("x");
  const brake_value* args[] = {arg};
  brake_call_options co;
  brake_call_options_init(&co);
  co.stream = on_stream;
  co.stream_user_data = &log;
  CHECK_EQ_INT(brake_call_start(e, g_id++, "extract", args, 1, &co, outcome_done, &o), BRAKE_OK);
  brake_value_free(arg);
  CHECK(wait_for(o));
  if (o.status != BRAKE_OK) fprintf(stderr, "extract: %s %s\n", o.kind.c_str(), o.message.c_str());
  CHECK_EQ_INT(o.status, BRAKE_OK);
  CHECK_STR(o.value, "\"Hello there\"");
  {
    std::lock_guard<std::mutex> lock(log.mu);
    CHECK_STR(log.text, "Hello there");
    CHECK_EQ_INT(log.deltas.load(), 3);
    CHECK(!log.events.empty() && log.events[0] == "attempt extract Model 1");
    CHECK(!log.late);
  }
  CHECK_EQ_INT(brake_host_part(e, 12345, "x", 1), BRAKE_NOT_FOUND);
  CHECK_EQ_INT(brake_host_part(nullptr, 1, "x", 1), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_host_part(e, 1, nullptr, 1), BRAKE_MISUSE);
  CHECK_STR(value_of(e, "status", "http://h.example/ok"), "200");
  {
    std::lock_guard<std::mutex> lock(t.mu);
    CHECK(t.last_args.size() == 7 && t.last_args[6] == "false");
  }
  finish(e);
}

// Streamed calls whose replies come in parts from another thread while
// calls are cancelled at random: each settles once, a completed one with
// the whole text in its deltas; parts for a cancelled call are refused or
// dropped; nothing leaks.
BRAKE_TEST(many_streams_fed_in_parts_with_random_cancels) {
  Transport t;
  brake_engine* e = make_engine(&t);
  CHECK(e != nullptr);
  if (!e) return;
  const int n = brake_test_sanitized() ? 300 : 2000;
  std::vector<Outcome> out(static_cast<size_t>(n));
  std::vector<StreamLog> logs(static_cast<size_t>(n));
  std::vector<brake_call_id> ids(static_cast<size_t>(n));
  std::atomic<bool> stop{false};
  std::thread feeder = answer_pending(t, stop, 5, [&](brake_op_id op, std::mt19937& rng) {
    int rc = send_hello_stream(e, op, 1 + rng() % 16);
    CHECK(rc == BRAKE_OK || rc == BRAKE_NOT_FOUND);
    brake_value* v = answer(200, "");
    rc = brake_host_complete(e, op, v);
    CHECK(rc == BRAKE_OK || rc == BRAKE_NOT_FOUND);
    brake_value_free(v);
  });
  std::mt19937 rng(13);
  for (int i = 0; i < n; i++) {
    ids[size_t(i)] = g_id++;
    logs[size_t(i)].outcome = &out[size_t(i)];
    brake_value* arg = str("x");
    const brake_value* args[] = {arg};
    brake_call_options co;
    brake_call_options_init(&co);
    co.stream = on_stream;
    co.stream_user_data = &logs[size_t(i)];
    CHECK_EQ_INT(brake_call_start(e, ids[size_t(i)], "extract_late", args, 1, &co, outcome_done, &out[size_t(i)]), BRAKE_OK);
    brake_value_free(arg);
    if (rng() % 3 == 0) brake_cancel(e, ids[size_t(rng() % size_t(i + 1))]);
  }
  int ok = 0;
  for (int i = 0; i < n; i++) {
    Outcome& o = out[size_t(i)];
    CHECK(wait_for(o, 30000));
    std::lock_guard<std::mutex> lock(logs[size_t(i)].mu);
    if (o.status == BRAKE_OK) {
      CHECK_STR(o.value, "\"Hello there\"");
      CHECK_STR(logs[size_t(i)].text, "Hello there");
      ok++;
    } else {
      CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
    }
    CHECK(!logs[size_t(i)].late);
  }
  stop = true;
  feeder.join();
  CHECK(ok > 0 && ok < n);
  finish(e);
}

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(a_response_has_status_url_headers_and_text),
      TEST_ENTRY(the_body_is_read_once),
      TEST_ENTRY(json_can_be_indexed_and_matched),
      TEST_ENTRY(parsing_json_is_charged_to_the_call),
      TEST_ENTRY(a_failed_request_is_status_zero_with_its_reason),
      TEST_ENTRY(method_headers_and_json_body_reach_the_transport),
      TEST_ENTRY(bad_arguments_are_typed_errors_before_the_transport),
      TEST_ENTRY(header_injection_is_refused),
      TEST_ENTRY(the_network_policy_is_checked_first),
      TEST_ENTRY(without_a_host_transport_fetch_is_native_or_a_typed_error),
      TEST_ENTRY(the_timeout_answers_the_script_and_cancels_the_transport),
      TEST_ENTRY(a_cancel_stops_the_request_at_once),
      TEST_ENTRY(a_response_crosses_to_the_host_without_its_hidden_fields),
      TEST_ENTRY(many_requests_answered_late_with_random_cancels),
      TEST_ENTRY(a_host_transport_streams_a_reply_in_parts),
      TEST_ENTRY(many_streams_fed_in_parts_with_random_cancels),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
