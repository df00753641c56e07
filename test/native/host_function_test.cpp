// host_function_test.cpp: host functions through the C ABI (brake.h only):
// declaring them with the program, binding them per engine, answering from
// the callback or from the host's own threads, failures and wrong types,
// and cancellation flowing into the host's work (DESIGN §4 point 4).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

const char* kSource = R"(
class User {
  name string
  age int
}
function one(x: int) -> int { add_one(x) }
function twice(x: int) -> int { add_one(add_one(x)) }
function user(id: int) -> string { let u = lookup(id, ["a", "b"]); if (u == null) { "none" } else { u.name } }
function nap() -> int { baml.sys.sleep(10000); 1 }
function sum(n: int) -> int {
  let s = 0;
  for (let i = 0; i < n; i += 1) { s += add_one(i); }
  s
}
)";

const brake_host_decl kDecls[] = {
    {"add_one", "(x: int) -> int"},
    {"lookup", "(id: int, tags: string[]) -> User?"},
};

// How the test host answers.
enum class Mode { Inline, Later, Fail, WrongType, Never };

struct Host {
  Mode mode = Mode::Inline;
  brake_engine* engine = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<brake_op_id> pending; // Later / Never: ops to answer from elsewhere
  std::vector<int64_t> pending_args;
  std::vector<std::pair<brake_op_id, int>> cancels; // (op, origin)
  std::atomic<int> calls{0};
  std::string last_function;
  size_t last_arg_count = 0;
  brake_call_id last_call_id = 0;
  void* last_user_data = nullptr;
};

void host_call(void* user_data, const brake_host_call* c) {
  Host* h = static_cast<Host*>(user_data);
  h->calls++;
  brake_op_id op = brake_host_call_op(c);
  CHECK(op != 0);
  const brake_value* arg = brake_host_call_arg(c, 0);
  int64_t x = brake_value_get_int(arg);
  const std::string function = brake_host_call_function(c);
  {
    std::lock_guard<std::mutex> lock(h->mu);
    h->last_function = function;
    h->last_arg_count = brake_host_call_arg_count(c);
    h->last_call_id = brake_host_call_call_id(c);
    h->last_user_data = brake_host_call_user_data(c);
  }
  if (function == "lookup") {
    // lookup(id, tags): a User for even ids, null for odd ones.
    CHECK_EQ_INT(brake_value_length(brake_host_call_arg(c, 1)), 2);
    brake_value* u = nullptr;
    if (x % 2 == 0) {
      brake_value_instance("User", &u);
      brake_value* name = nullptr;
      brake_value_string("ada", 3, &name);
      brake_value_map_set(u, "name", 4, name);
      brake_value_map_set(u, "age", 3, brake_value_int(36));
    } else {
      u = brake_value_null();
    }
    CHECK_EQ_INT(brake_host_complete(h->engine, op, u), BRAKE_OK);
    brake_value_free(u);
    return;
  }
  switch (h->mode) {
  case Mode::Inline: {
    brake_value* v = brake_value_int(x + 1);
    CHECK_EQ_INT(brake_host_complete(h->engine, op, v), BRAKE_OK);
    brake_value_free(v);
    return;
  }
  case Mode::Fail: CHECK_EQ_INT(brake_host_fail(h->engine, op, "no such row", "E_ROW"), BRAKE_OK); return;
  case Mode::WrongType: {
    brake_value* v = nullptr;
    brake_value_string("seven", 5, &v);
    CHECK_EQ_INT(brake_host_complete(h->engine, op, v), BRAKE_OK);
    brake_value_free(v);
    return;
  }
  case Mode::Later:
  case Mode::Never: {
    std::lock_guard<std::mutex> lock(h->mu);
    h->pending.push_back(op);
    h->pending_args.push_back(x);
    h->cv.notify_all();
    return;
  }
  }
}

void host_cancel(void* user_data, brake_op_id op, brake_origin origin) {
  Host* h = static_cast<Host*>(user_data);
  std::lock_guard<std::mutex> lock(h->mu);
  h->cancels.emplace_back(op, int(origin));
  h->cv.notify_all();
}

brake_program* compile(const char* src = kSource, const brake_host_decl* decls = kDecls, size_t n = 2) {
  brake_compile_options co;
  brake_compile_options_init(&co);
  co.host_functions = decls;
  co.host_function_count = n;
  brake_program* p = nullptr;
  int rc = brake_program_compile_with(src, strlen(src), "host.baml", &co, &p);
  if (rc != BRAKE_OK) fprintf(stderr, "compile: %s\n", brake_last_error());
  return p;
}

brake_engine* make_engine(Host* h, unsigned workers = 2, void (*notify)(void*) = nullptr, void* notify_data = nullptr) {
  brake_program* p = compile();
  if (!p) return nullptr;
  brake_host_binding b[2] = {{"add_one", host_call, host_cancel, h}, {"lookup", host_call, host_cancel, h}};
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = workers;
  o.host_functions = b;
  o.host_function_count = 2;
  o.notify = notify;
  o.notify_data = notify_data;
  brake_engine* e = nullptr;
  int rc = brake_engine_create(p, &o, &e);
  brake_program_free(p);
  if (rc != BRAKE_OK) fprintf(stderr, "engine: %s\n", brake_last_error());
  h->engine = e;
  return e;
}

// Waits until h->pending has at least n ops.
bool wait_pending(Host* h, size_t n, int ms = 5000) {
  std::unique_lock<std::mutex> lock(h->mu);
  return h->cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return h->pending.size() >= n; });
}

bool wait_cancels(Host* h, size_t n, int ms = 5000) {
  std::unique_lock<std::mutex> lock(h->mu);
  return h->cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return h->cancels.size() >= n; });
}

int diagnostics_containing(const brake_program* p, const char* needle, const char* file = nullptr) {
  int n = 0;
  for (size_t i = 0; i < brake_program_diagnostic_count(p); i++) {
    const char* f = nullptr;
    const char* m = nullptr;
    brake_program_diagnostic(p, i, &f, nullptr, nullptr, &m);
    if (strstr(m, needle) && (!file || strcmp(f, file) == 0)) n++;
  }
  return n;
}

} // namespace

BRAKE_TEST(host_answers_inside_the_callback) {
  Host h;
  brake_engine* e = make_engine(&h);
  CHECK(e != nullptr);
  if (!e) return;
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start_int(e, 7, "twice", 40, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 5000));
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 42);
  CHECK_EQ_INT(h.calls.load(), 2);
  CHECK(h.last_function == "add_one");
  CHECK_EQ_INT(h.last_arg_count, 1);
  CHECK_EQ_INT(h.last_call_id, 7);
  CHECK(h.last_user_data == &w);
  // A loop of host calls, and a class result (an INSTANCE, or null).
  waiter_init(&w);
  CHECK_EQ_INT(start_int(e, 8, "sum", 1000, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 5000));
  CHECK_EQ_INT(w.int_value, 500500);
  Waiter u1, u2;
  waiter_init(&u1);
  waiter_init(&u2);
  CHECK_EQ_INT(start_int(e, 9, "user", 2, &u1), BRAKE_OK);
  CHECK_EQ_INT(start_int(e, 10, "user", 3, &u2), BRAKE_OK);
  CHECK(waiter_wait(&u1, 5000) && waiter_wait(&u2, 5000));
  CHECK_EQ_INT(u1.status, BRAKE_OK);
  CHECK_EQ_INT(u2.status, BRAKE_OK);
  CHECK_EQ_INT(live_after(e, 2000), 0);
  CHECK_EQ_INT(brake_engine_pending_host_calls(e), 0);
  brake_engine_free(e);
}

// A C test host that answers from its own thread, long after the callback.
BRAKE_TEST(host_answers_from_its_own_thread) {
  Host h;
  h.mode = Mode::Later;
  brake_engine* e = make_engine(&h);
  CHECK(e != nullptr);
  if (!e) return;
  std::atomic<bool> stop{false};
  std::thread answerer([&] {
    size_t next = 0;
    while (!stop) {
      std::unique_lock<std::mutex> lock(h.mu);
      h.cv.wait_for(lock, std::chrono::milliseconds(5), [&] { return h.pending.size() > next; });
      while (next < h.pending.size()) {
        brake_op_id op = h.pending[next];
        int64_t x = h.pending_args[next++];
        lock.unlock();
        brake_value* v = brake_value_int(x + 1);
        CHECK_EQ_INT(brake_host_complete(e, op, v), BRAKE_OK);
        // Answering twice is a harmless status.
        CHECK_EQ_INT(brake_host_complete(e, op, v), BRAKE_NOT_FOUND);
        CHECK_EQ_INT(brake_host_call_finished(e, op), 1);
        brake_value_free(v);
        lock.lock();
      }
    }
  });
  Waiter w[20];
  for (int i = 0; i < 20; i++) {
    waiter_init(&w[i]);
    CHECK_EQ_INT(start_int(e, brake_call_id(i + 1), "twice", i, &w[i]), BRAKE_OK);
  }
  for (int i = 0; i < 20; i++) {
    CHECK(waiter_wait(&w[i], 5000));
    CHECK_EQ_INT(w[i].status, BRAKE_OK);
    CHECK_EQ_INT(w[i].int_value, i + 2);
  }
  stop = true;
  answerer.join();
  CHECK_EQ_INT(brake_engine_pending_host_calls(e), 0);
  brake_engine_free(e);
}

// brake_host_complete_all: with statuses (each looked up here) and without
// (handed to the workers, which drop what is no longer pending).
BRAKE_TEST(host_answers_many_at_once) {
  Host h;
  h.mode = Mode::Later;
  brake_engine* e = make_engine(&h);
  CHECK(e != nullptr);
  if (!e) return;
  for (int with_statuses = 0; with_statuses < 2; with_statuses++) {
    constexpr int kCalls = 200;
    static Waiter w[kCalls];
    h.pending.clear();
    h.pending_args.clear();
    for (int i = 0; i < kCalls; i++) {
      waiter_init(&w[i]);
      CHECK_EQ_INT(start_int(e, brake_call_id(i + 1), "one", i, &w[i]), BRAKE_OK);
    }
    CHECK(wait_pending(&h, kCalls));
    CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_OK); // its operation is no longer pending
    CHECK(wait_cancels(&h, size_t(with_statuses) + 1));
    std::vector<brake_op_id> ops;
    std::vector<brake_value*> values;
    {
      std::lock_guard<std::mutex> lock(h.mu);
      for (size_t i = 0; i < h.pending.size(); i++) {
        ops.push_back(h.pending[i]);
        values.push_back(brake_value_int(h.pending_args[i] + 1));
      }
    }
    ops.push_back(987654321); // unknown
    values.push_back(brake_value_int(0));
    std::vector<int> statuses(ops.size(), -1);
    size_t taken = brake_host_complete_all(e, ops.data(), values.data(), ops.size(), with_statuses ? statuses.data() : nullptr);
    if (with_statuses) {
      CHECK_EQ_INT(taken, kCalls - 1);
      int ok = 0, not_found = 0;
      for (int s : statuses) (s == BRAKE_OK ? ok : not_found)++;
      CHECK_EQ_INT(ok, kCalls - 1);
      CHECK_EQ_INT(not_found, 2);
    } else {
      CHECK_EQ_INT(taken, ops.size()); // handed over, checked by the workers
      CHECK_EQ_INT(statuses[0], -1);
    }
    for (int i = 0; i < kCalls; i++) {
      CHECK(waiter_wait(&w[i], 5000));
      if (i == 0) {
        CHECK_EQ_INT(w[i].status, BRAKE_CANCELLED);
      } else {
        CHECK_EQ_INT(w[i].status, BRAKE_OK);
        CHECK_EQ_INT(w[i].int_value, i + 1);
      }
    }
    CHECK_EQ_INT(live_after(e, 2000), 0);
    CHECK_EQ_INT(brake_engine_pending_host_calls(e), 0);
  }
  // A NULL engine frees the values it was given.
  brake_value* v = brake_value_int(1);
  brake_op_id op = 1;
  CHECK_EQ_INT(brake_host_complete_all(nullptr, &op, &v, 1, nullptr), 0);
  brake_engine_free(e);
}

BRAKE_TEST(host_failure_is_a_script_error_with_its_code) {
  Host h;
  h.mode = Mode::Fail;
  brake_engine* e = make_engine(&h);
  CHECK(e != nullptr);
  if (!e) return;
  struct Result {
    Waiter w;
    char code[64];
    char frame[64];
  };
  static Result r;
  waiter_init(&r.w);
  auto done = [](void* data, const brake_result* res) {
    Result* out = static_cast<Result*>(data);
    snprintf(out->code, sizeof out->code, "%s", brake_result_error_code(res));
    snprintf(out->frame, sizeof out->frame, "%s",
             brake_result_frame_count(res) ? brake_result_frame_function(res, 0) : "");
    waiter_done(&out->w, res);
  };
  brake_value* v = brake_value_int(1);
  const brake_value* args[] = {v};
  CHECK_EQ_INT(brake_call_start(e, 1, "one", args, 1, nullptr, done, &r), BRAKE_OK);
  brake_value_free(v);
  CHECK(waiter_wait(&r.w, 5000));
  CHECK_EQ_INT(r.w.status, BRAKE_SCRIPT_ERROR);
  CHECK(strcmp(r.w.kind, "host_error") == 0);
  CHECK(strcmp(r.w.message, "no such row") == 0);
  CHECK(strcmp(r.code, "E_ROW") == 0);
  CHECK(strcmp(r.frame, "one") == 0);
  brake_engine_free(e);
}

BRAKE_TEST(wrong_result_type_is_a_type_error_naming_the_function) {
  Host h;
  h.mode = Mode::WrongType;
  brake_engine* e = make_engine(&h);
  CHECK(e != nullptr);
  if (!e) return;
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start_int(e, 1, "one", 1, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 5000));
  CHECK_EQ_INT(w.status, BRAKE_SCRIPT_ERROR);
  CHECK(strcmp(w.kind, "type_error") == 0);
  CHECK(strstr(w.message, "host function 'add_one' returned a value that is not int") != nullptr);
  CHECK_EQ_INT(live_after(e, 2000), 0);
  brake_engine_free(e);
}

// Cancelled while waiting: the call settles at once (not waiting for the
// host), the host's cancel callback hears it with the origin, and a late
// answer is a harmless NOT_FOUND that leaks nothing.
BRAKE_TEST(cancel_while_waiting_reaches_the_host) {
  Host h;
  h.mode = Mode::Never;
  brake_engine* e = make_engine(&h);
  CHECK(e != nullptr);
  if (!e) return;
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start_int(e, 5, "one", 1, &w), BRAKE_OK);
  CHECK(wait_pending(&h, 1));
  brake_op_id op = h.pending[0];
  CHECK_EQ_INT(brake_host_call_finished(e, op), 0);
  CHECK_EQ_INT(brake_engine_pending_host_calls(e), 1);
  double t0 = now_ms();
  CHECK_EQ_INT(brake_cancel(e, 5), BRAKE_OK);
  CHECK(waiter_wait(&w, 2000));
  CHECK(now_ms() - t0 < 1000);
  CHECK_EQ_INT(w.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(w.origin, BRAKE_ORIGIN_CANCEL);
  CHECK(wait_cancels(&h, 1));
  CHECK_EQ_INT(h.cancels[0].first, op);
  CHECK_EQ_INT(h.cancels[0].second, BRAKE_ORIGIN_CANCEL);
  CHECK_EQ_INT(brake_host_call_finished(e, op), 1);
  brake_value* v = brake_value_int(9);
  CHECK_EQ_INT(brake_host_complete(e, op, v), BRAKE_NOT_FOUND);
  CHECK_EQ_INT(brake_host_fail(e, op, "late", nullptr), BRAKE_NOT_FOUND);
  CHECK_EQ_INT(brake_host_complete(e, 123456789, v), BRAKE_NOT_FOUND);
  brake_value_free(v);
  CHECK_EQ_INT(live_after(e, 2000), 0);
  CHECK_EQ_INT(brake_engine_pending_host_calls(e), 0);
  CHECK_EQ_INT(w.calls, 1);
  brake_engine_free(e);
}

BRAKE_TEST(timeout_and_close_while_waiting_reach_the_host) {
  Host h;
  h.mode = Mode::Never;
  brake_engine* e = make_engine(&h);
  CHECK(e != nullptr);
  if (!e) return;
  brake_call_options co;
  brake_call_options_init(&co);
  co.timeout_ms = 30;
  Waiter t, c;
  waiter_init(&t);
  waiter_init(&c);
  brake_value* v = brake_value_int(1);
  const brake_value* args[] = {v};
  CHECK_EQ_INT(brake_call_start(e, 1, "one", args, 1, &co, waiter_done, &t), BRAKE_OK);
  CHECK_EQ_INT(brake_call_start(e, 2, "one", args, 1, nullptr, waiter_done, &c), BRAKE_OK);
  brake_value_free(v);
  CHECK(waiter_wait(&t, 2000));
  CHECK_EQ_INT(t.status, BRAKE_TIMEOUT);
  CHECK(wait_pending(&h, 2));
  CHECK_EQ_INT(brake_engine_close(e), BRAKE_OK);
  CHECK(waiter_wait(&c, 2000));
  CHECK_EQ_INT(c.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(c.origin, BRAKE_ORIGIN_CLOSE);
  CHECK(wait_cancels(&h, 2));
  int origins = 0;
  for (auto& [op, origin] : h.cancels) origins |= 1 << origin;
  CHECK_EQ_INT(origins, (1 << BRAKE_ORIGIN_TIMEOUT) | (1 << BRAKE_ORIGIN_CLOSE));
  CHECK_EQ_INT(brake_engine_pending_host_calls(e), 0);
  brake_engine_free(e);
}

// A call started with a cancelled token never reaches the host.
BRAKE_TEST(pre_cancelled_call_never_calls_the_host) {
  Host h;
  brake_engine* e = make_engine(&h);
  CHECK(e != nullptr);
  if (!e) return;
  brake_token* tok = brake_token_new();
  brake_token_cancel(tok);
  brake_call_options co;
  brake_call_options_init(&co);
  co.token = tok;
  Waiter w;
  waiter_init(&w);
  brake_value* v = brake_value_int(1);
  const brake_value* args[] = {v};
  CHECK_EQ_INT(brake_call_start(e, 1, "one", args, 1, &co, waiter_done, &w), BRAKE_OK);
  brake_value_free(v);
  CHECK(waiter_wait(&w, 2000));
  CHECK_EQ_INT(w.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(h.calls.load(), 0);
  brake_token_free(tok);
  brake_engine_free(e);
}

// Drain mode: host calls reach the host inside brake_engine_drain, in order
// with the call's other events; a cancel of a waiting call on an idle
// worker is finished by the cancelling thread (the stand-in rule), so its
// completion is queued before brake_cancel returns. (The stand-in used to
// report such cancels as done without stopping anything but sleeps.)
BRAKE_TEST(drain_mode_delivers_host_calls_and_finishes_cancels_in_place) {
  Host h;
  h.mode = Mode::Never;
  std::atomic<int> notified{0};
  brake_engine* e = make_engine(&h, 1, [](void* d) { static_cast<std::atomic<int>*>(d)->fetch_add(1); }, &notified);
  CHECK(e != nullptr);
  if (!e) return;
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start_int(e, 3, "one", 1, &w), BRAKE_OK);
  double deadline = now_ms() + 5000;
  while (h.calls.load() == 0 && now_ms() < deadline) {
    brake_engine_drain(e);
    sleep_ms(1);
  }
  CHECK_EQ_INT(h.calls.load(), 1);
  sleep_ms(20); // the worker is idle, waiting
  CHECK_EQ_INT(brake_cancel(e, 3), BRAKE_OK);
  // Queued already: one drain runs the host's cancel, then the completion.
  CHECK_EQ_INT(brake_engine_drain(e), 2);
  CHECK_EQ_INT(w.calls, 1);
  CHECK_EQ_INT(w.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(h.cancels.size(), 1);
  CHECK_EQ_INT(brake_engine_pending_host_calls(e), 0);
  // A call cancelled before its host call was drained: the host never
  // hears of either.
  waiter_init(&w);
  CHECK_EQ_INT(start_int(e, 4, "one", 2, &w), BRAKE_OK);
  deadline = now_ms() + 5000;
  while (brake_engine_pending_host_calls(e) == 0 && now_ms() < deadline) sleep_ms(1);
  CHECK_EQ_INT(brake_cancel(e, 4), BRAKE_OK);
  deadline = now_ms() + 5000;
  while (w.calls == 0 && now_ms() < deadline) {
    brake_engine_drain(e);
    sleep_ms(1);
  }
  CHECK_EQ_INT(w.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(h.calls.load(), 1);
  CHECK_EQ_INT(h.cancels.size(), 1);
  brake_engine_free(e);
}

// A host that drains inside `notify` and starts a call from a completion
// callback: `notify` must run with no engine lock held (it used to run with
// the worker's mutex held when a cancel finished a call in place, and this
// host then deadlocked on that mutex).
BRAKE_TEST(notify_may_drain_and_start_calls) {
  struct Ctx {
    brake_engine* e = nullptr;
    Waiter second;
    std::atomic<int> started{0};
  };
  static Ctx ctx;
  waiter_init(&ctx.second);
  Host h;
  brake_engine* e = make_engine(&h, 1, [](void* d) { brake_engine_drain(static_cast<Ctx*>(d)->e); }, &ctx);
  CHECK(e != nullptr);
  if (!e) return;
  ctx.e = e;
  auto restart = [](void* data, const brake_result* r) {
    Ctx* c = static_cast<Ctx*>(data);
    CHECK_EQ_INT(brake_result_status(r), BRAKE_CANCELLED);
    c->started++;
    CHECK_EQ_INT(start_int(c->e, 99, "one", 41, &c->second), BRAKE_OK);
  };
  CHECK_EQ_INT(brake_call_start(e, 1, "nap", nullptr, 0, nullptr, restart, &ctx), BRAKE_OK);
  sleep_ms(50); // asleep, the worker idle
  CHECK_EQ_INT(brake_cancel(e, 1), BRAKE_OK);
  CHECK_EQ_INT(ctx.started.load(), 1);
  CHECK(waiter_wait(&ctx.second, 5000));
  CHECK_EQ_INT(ctx.second.status, BRAKE_OK);
  CHECK_EQ_INT(ctx.second.int_value, 42);
  brake_engine_free(e);
}

// A host function that calls into the same engine from its callback.
BRAKE_TEST(host_function_may_start_calls_on_the_same_engine) {
  struct Reentrant {
    brake_engine* e = nullptr;
    Waiter inner;
  };
  static Reentrant r;
  waiter_init(&r.inner);
  brake_program* p = compile();
  auto call = [](void* d, const brake_host_call* c) {
    Reentrant* rr = static_cast<Reentrant*>(d);
    int64_t x = brake_value_get_int(brake_host_call_arg(c, 0));
    if (x < 100) CHECK_EQ_INT(start_int(rr->e, brake_call_id(1000 + x), "user", 4, &rr->inner), BRAKE_OK);
    brake_value* v = brake_value_int(x + 1);
    CHECK_EQ_INT(brake_host_complete(rr->e, brake_host_call_op(c), v), BRAKE_OK);
    brake_value_free(v);
  };
  auto lookup = [](void* d, const brake_host_call* c) {
    brake_host_complete(static_cast<Reentrant*>(d)->e, brake_host_call_op(c), nullptr);
  };
  brake_host_binding b[2] = {{"add_one", call, nullptr, &r}, {"lookup", lookup, nullptr, &r}};
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = 1;
  o.host_functions = b;
  o.host_function_count = 2;
  brake_engine* e = nullptr;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_OK);
  brake_program_free(p);
  r.e = e;
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start_int(e, 1, "one", 5, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 5000) && waiter_wait(&r.inner, 5000));
  CHECK_EQ_INT(w.int_value, 6);
  CHECK_EQ_INT(r.inner.status, BRAKE_OK);
  brake_engine_free(e);
}

BRAKE_TEST(declarations_and_bindings_are_checked) {
  // Signature errors are diagnostics in the signature's own "file"; calls
  // are checked statically against the signature.
  const char* src = "function answer() -> int { 1 }\nfunction uses() -> string { h(\"x\") }\n";
  struct Case {
    brake_host_decl decls[2];
    size_t n;
    const char* needle;
    const char* file;
  } cases[] = {
      {{{"h", "(x: int -> int"}}, 1, "expected ')'", "<host function h>"},
      {{{"h", "(x: Nope) -> int"}}, 1, "unknown type 'Nope'", "<host function h>"},
      {{{"h", "(x: int) -> int"}, {"h", "(y: int) -> int"}}, 2, "declared twice", "<host function h>"},
      {{{"not a name", "() -> int"}}, 1, "'not a name' is not an identifier", "<host function not a name>"},
      {{{"if", "() -> int"}}, 1, "'if' is not an identifier", "<host function if>"},
      {{{"h", "(x: int) -> int extra"}}, 1, "unexpected text after the return type", "<host function h>"},
      {{{"h", "(x: int) -> int"}}, 1, "argument 1 of host function 'h' must be int, not string", "host.baml"},
      {{{"h", "(x: string) -> int"}}, 1, "function 'uses' returns string but its body has type int", "host.baml"},
      {{{"h", "(x: string) -> string"}, {"answer", "() -> int"}}, 2,
       "function 'answer' is also declared as a host function", "host.baml"},
  };
  for (const Case& c : cases) {
    brake_program* p = compile(src, c.decls, c.n);
    CHECK(p != nullptr);
    if (diagnostics_containing(p, c.needle, c.file) != 1) fprintf(stderr, "missing: %s in %s\n", c.needle, c.file);
    CHECK_EQ_INT(diagnostics_containing(p, c.needle, c.file), 1);
    brake_program_free(p);
  }
  brake_host_decl fine = {"h", "(x: string) -> string"};
  brake_program* ok = compile(src, &fine, 1);
  CHECK_EQ_INT(brake_program_diagnostic_count(ok), 0);
  brake_program_free(ok);

  // Binding: every declared function exactly once, nothing undeclared.
  brake_program* p = compile();
  CHECK_EQ_INT(brake_program_host_function_count(p), 2);
  CHECK(strcmp(brake_program_host_function_name(p, 1), "lookup") == 0);
  CHECK(strcmp(brake_program_host_function_signature(p, 1), "(id: int, tags: string[]) -> User?") == 0);
  Host h;
  brake_host_binding b[3] = {{"add_one", host_call, nullptr, &h}, {"lookup", host_call, nullptr, &h},
                             {"other", host_call, nullptr, &h}};
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.host_functions = b;
  brake_engine* e = nullptr;
  o.host_function_count = 1;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_INVALID_ARGUMENT);
  CHECK(strstr(brake_last_error(), "'lookup' is declared but not bound") != nullptr);
  o.host_function_count = 3;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_INVALID_ARGUMENT);
  CHECK(strstr(brake_last_error(), "'other' is not declared") != nullptr);
  b[1].name = "add_one";
  o.host_function_count = 2;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_INVALID_ARGUMENT);
  CHECK(strstr(brake_last_error(), "bound twice") != nullptr);
  CHECK(e == nullptr);
  brake_program_free(p);
}

// 10,000 concurrent host calls answered by two host threads in random
// order while a third cancels at random: every call settles exactly once,
// the host hears every cancel it must, and nothing is left pending.
BRAKE_TEST(ten_thousand_host_calls_with_random_cancels) {
  constexpr int kCalls = 10000;
  Host h;
  h.mode = Mode::Later;
  brake_engine* e = make_engine(&h);
  CHECK(e != nullptr);
  if (!e) return;
  static Waiter w[kCalls];
  for (int i = 0; i < kCalls; i++) {
    waiter_init(&w[i]);
    CHECK_EQ_INT(start_int(e, brake_call_id(i + 1), "one", i, &w[i]), BRAKE_OK);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, refused{0};
  auto answerer = [&](unsigned seed) {
    std::mt19937 rng(seed);
    while (!stop) {
      brake_op_id op = 0;
      int64_t x = 0;
      {
        std::unique_lock<std::mutex> lock(h.mu);
        h.cv.wait_for(lock, std::chrono::milliseconds(2), [&] { return !h.pending.empty(); });
        if (h.pending.empty()) continue;
        size_t i = rng() % h.pending.size();
        op = h.pending[i];
        x = h.pending_args[i];
        h.pending[i] = h.pending.back();
        h.pending_args[i] = h.pending_args.back();
        h.pending.pop_back();
        h.pending_args.pop_back();
      }
      brake_value* v = brake_value_int(x + 1);
      int rc = rng() % 5 == 0 ? brake_host_fail(e, op, "nope", "E") : brake_host_complete(e, op, v);
      brake_value_free(v);
      (rc == BRAKE_OK ? answered : refused)++;
    }
  };
  std::thread a1(answerer, 1), a2(answerer, 2);
  std::thread canceller([&] {
    std::mt19937 rng(3);
    for (int i = 0; i < kCalls / 3; i++) brake_cancel(e, brake_call_id(rng() % kCalls + 1));
  });
  canceller.join();
  double deadline = now_ms() + 30000;
  while (brake_engine_live_calls(e) > 0 && now_ms() < deadline) sleep_ms(5);
  stop = true;
  a1.join();
  a2.join();
  int ok = 0, cancelled = 0, failed = 0;
  for (int i = 0; i < kCalls; i++) {
    CHECK_EQ_INT(w[i].calls, 1);
    if (w[i].status == BRAKE_OK) {
      ok++;
      CHECK_EQ_INT(w[i].int_value, i + 1);
    } else if (w[i].status == BRAKE_CANCELLED) {
      cancelled++;
    } else {
      CHECK_EQ_INT(w[i].status, BRAKE_SCRIPT_ERROR);
      failed++;
    }
  }
  fprintf(stderr, "ok %d, cancelled %d, failed %d; answers taken %d, refused %d, host cancels %zu\n", ok, cancelled,
          failed, answered.load(), refused.load(), h.cancels.size());
  CHECK_EQ_INT(ok + cancelled + failed, kCalls);
  CHECK(cancelled > 0 && ok > 0 && failed > 0);
  // An accepted answer may still lose to a cancel that reached the call
  // first; a refused one was refused because the host was told to stop.
  CHECK(answered.load() >= ok + failed);
  CHECK(size_t(refused.load()) <= h.cancels.size());
  CHECK(h.cancels.size() <= size_t(cancelled));
  CHECK_EQ_INT(brake_engine_live_calls(e), 0);
  CHECK_EQ_INT(brake_engine_pending_host_calls(e), 0);
  brake_engine_free(e);
}

// The host values an operation's arguments were converted into are charged
// to the call only while it waits: 1,000 host calls with a 64 KiB argument
// fit in an 8 MiB call limit (the charge used to stay until the call ended).
BRAKE_TEST(host_call_arguments_are_charged_only_while_waiting) {
  const char* src = "function many(n: int) -> int {\n"
                    "  let s = \"x\";\n"
                    "  while (s.length() < 65536) { s = s + s; }\n"
                    "  let total = 0;\n"
                    "  for (let i = 0; i < n; i += 1) { total += size(s); }\n"
                    "  total\n"
                    "}\n";
  brake_host_decl decl = {"size", "(s: string) -> int"};
  brake_program* p = compile(src, &decl, 1);
  CHECK(p != nullptr);
  if (!p) return;
  struct Ctx {
    brake_engine* e = nullptr;
  };
  static Ctx ctx;
  auto size = [](void* d, const brake_host_call* c) {
    size_t n = 0;
    brake_value_get_string(brake_host_call_arg(c, 0), &n);
    brake_value* v = brake_value_int(int64_t(n));
    brake_host_complete(static_cast<Ctx*>(d)->e, brake_host_call_op(c), v);
    brake_value_free(v);
  };
  brake_host_binding b = {"size", size, nullptr, &ctx};
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = 1;
  o.host_functions = &b;
  o.host_function_count = 1;
  o.call_memory_limit = 8 << 20;
  brake_engine* e = nullptr;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_OK);
  brake_program_free(p);
  ctx.e = e;
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(start_int(e, 1, "many", 1000, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 20000));
  if (w.status != BRAKE_OK) fprintf(stderr, "%s: %s\n", w.kind, w.message);
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 1000LL * 65536);
  CHECK_EQ_INT(memory_after(e, 2000), 0);
  brake_engine_free(e);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(host_answers_inside_the_callback),
      TEST_ENTRY(host_answers_from_its_own_thread),
      TEST_ENTRY(host_answers_many_at_once),
      TEST_ENTRY(host_failure_is_a_script_error_with_its_code),
      TEST_ENTRY(wrong_result_type_is_a_type_error_naming_the_function),
      TEST_ENTRY(cancel_while_waiting_reaches_the_host),
      TEST_ENTRY(timeout_and_close_while_waiting_reach_the_host),
      TEST_ENTRY(pre_cancelled_call_never_calls_the_host),
      TEST_ENTRY(drain_mode_delivers_host_calls_and_finishes_cancels_in_place),
      TEST_ENTRY(notify_may_drain_and_start_calls),
      TEST_ENTRY(host_function_may_start_calls_on_the_same_engine),
      TEST_ENTRY(declarations_and_bindings_are_checked),
      TEST_ENTRY(ten_thousand_host_calls_with_random_cancels),
      TEST_ENTRY(host_call_arguments_are_charged_only_while_waiting),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
