// values_fuzz: values a host builds through brake.h, from arbitrary bytes,
// crossing into calls. The bytes drive a small stack machine that makes
// brake_values of every kind (ints and floats of any bits, strings of any
// bytes, arrays, maps, instances and enums of real and made-up types, nested
// and shared), formats, clones and frees them, and starts a call of a
// function the bytes pick, with the values on the stack as its arguments,
// against parameters of every type the language has (classes, enums,
// optionals, unions, literals, maps keyed by enums, recursive aliases).
// It must never crash or leak; a call that starts must complete exactly
// once, and one that is refused must never call back.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "brake.h"

namespace {

const char* kProgram = R"(
enum Color { RED GREEN @alias("vert") }
class P {
  x int
  y string?
  tags string[]
}
class Q {
  p P?
  colors map<Color, int>
  next Q?
}
type Json = int | float | string | bool | null | Json[] | map<string, Json>
function f_int(a: int, b: float) -> float { b + 1.0 }
function f_str(s: string, t: string?) -> string { if (t == null) { s } else { s + "!" } }
function f_p(p: P) -> P { p }
function f_q(q: Q) -> int { q.colors.length() }
function f_color(c: Color, cs: Color[]) -> Color { c }
function f_union(u: int | string | P | Color[] | null) -> string { "ok" }
function f_literal(l: "a" | 1 | true) -> string { "ok" }
function f_map(m: map<string, P[]>) -> int { m.length() }
function f_json(j: Json) -> Json { j }
function f_none() -> int { 1 }
)";

const char* const kFunctions[] = {"f_int", "f_str",   "f_p",   "f_q",    "f_color",
                                  "f_union", "f_literal", "f_map", "f_json", "f_none", "nope"};
const char* const kTypeNames[] = {"P", "Q", "Color", "Json", "", "p", "Nope"};
const char* const kNames[] = {"x", "y", "tags", "p", "colors", "next", "RED", "GREEN", "vert", "red", ""};

brake_engine* engine() {
  static brake_engine* e = [] {
    brake_program* p = nullptr;
    if (brake_program_compile(kProgram, std::strlen(kProgram), "values.baml", &p) != BRAKE_OK) abort();
    brake_engine_options o;
    brake_engine_options_init(&o);
    o.worker_threads = 1;
    brake_engine* out = nullptr;
    if (brake_engine_create(p, &o, &out) != BRAKE_OK) abort();
    brake_program_free(p);
    return out;
  }();
  return e;
}

// Reads the fuzzer's bytes.
struct Reader {
  const uint8_t* p;
  size_t n;
  bool more() const { return n > 0; }
  uint8_t byte() {
    if (!n) return 0;
    n--;
    return *p++;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | byte();
    return v;
  }
  std::string text() {
    size_t len = byte() % 40;
    std::string s;
    while (len-- && n) s += char(byte());
    return s;
  }
  template <size_t N> const char* pick(const char* const (&names)[N]) { return names[byte() % N]; }
};

struct Done {
  std::mutex m;
  std::condition_variable cv;
  int completions = 0;
};

void on_done(void* data, const brake_result* r) {
  // Everything a host reads from a result.
  char* shown = nullptr;
  if (brake_value_format(brake_result_value(r), &shown) == BRAKE_OK) brake_string_free(shown);
  (void)brake_result_message(r);
  (void)brake_result_error_kind(r);
  auto* d = static_cast<Done*>(data);
  std::lock_guard<std::mutex> lock(d->m);
  d->completions++;
  d->cv.notify_all();
}

void free_all(std::vector<brake_value*>& stack) {
  for (brake_value* v : stack) brake_value_free(v);
  stack.clear();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in{data, size};
  std::vector<brake_value*> stack;
  std::vector<size_t> sizes; // nodes in each value on the stack (copies could grow them exponentially)
  size_t popped = 0;         // nodes taken by the value being made
  auto pop = [&]() -> brake_value* {
    if (stack.empty()) {
      popped++;
      return brake_value_null();
    }
    brake_value* v = stack.back();
    popped += sizes.back();
    stack.pop_back();
    sizes.pop_back();
    return v;
  };
  size_t total = 0;
  for (int steps = 0; in.more() && steps < 256 && stack.size() < 64; steps++) {
    uint8_t op = in.byte() % 12;
    brake_value* v = nullptr;
    popped = 0;
    size_t copied = 0;
    switch (op) {
    case 0: v = brake_value_null(); break;
    case 1: v = brake_value_bool(in.byte() & 1); break;
    case 2: v = brake_value_int(int64_t(in.u64())); break;
    case 3: {
      uint64_t bits = in.u64();
      double d;
      std::memcpy(&d, &bits, sizeof d);
      v = brake_value_float(d);
      break;
    }
    case 4: {
      std::string s = in.text();
      if (brake_value_string(s.data(), s.size(), &v) != BRAKE_OK) v = nullptr; // not UTF-8: refused
      break;
    }
    case 5: { // an array of the top items
      v = brake_value_array();
      for (size_t k = in.byte() % 5; k > 0; k--) {
        brake_value_array_push(v, pop()); // takes the item even when it fails
      }
      break;
    }
    case 6:   // a map, or
    case 7: { // an instance, of the top items under picked or made-up names
      if (op == 6) v = brake_value_map();
      else if (brake_value_instance(in.pick(kTypeNames), &v) != BRAKE_OK) break;
      for (size_t k = in.byte() % 5; k > 0; k--) {
        std::string key = in.byte() & 1 ? in.pick(kNames) : in.text();
        brake_value_map_set(v, key.data(), key.size(), pop()); // takes the item even when it fails
      }
      break;
    }
    case 8: {
      const char* type = in.pick(kTypeNames);
      if (brake_value_enum(type, in.pick(kNames), &v) != BRAKE_OK) v = nullptr;
      break;
    }
    case 9: { // the same value again (a copy: the tree owns its items), while values stay small
      if (stack.empty()) break;
      size_t k = in.byte() % stack.size();
      if (total + sizes[k] > 4096) break;
      v = brake_value_clone(stack[k]);
      copied = sizes[k];
      break;
    }
    case 10: { // format one
      if (stack.empty()) break;
      char* shown = nullptr;
      if (brake_value_format(stack[in.byte() % stack.size()], &shown) == BRAKE_OK) brake_string_free(shown);
      break;
    }
    case 11: { // a call with the stack as its arguments
      Done done;
      brake_call_options o;
      brake_call_options_init(&o);
      o.timeout_ms = 200;
      static std::atomic<brake_call_id> next_id{1};
      size_t nargs = std::min<size_t>(stack.size(), in.byte() % 4);
      const brake_value* const* args = stack.data() + (stack.size() - nargs);
      int rc = brake_call_start(engine(), next_id++, in.pick(kFunctions), nargs ? args : nullptr, nargs, &o, on_done,
                                &done);
      std::unique_lock<std::mutex> lock(done.m);
      if (rc == BRAKE_OK &&
          !done.cv.wait_for(lock, std::chrono::seconds(10), [&] { return done.completions > 0; }))
        abort(); // hung
      if (done.completions != (rc == BRAKE_OK ? 1 : 0)) abort(); // exactly once, or never when refused
      break;
    }
    }
    total -= popped;
    if (v) {
      size_t nodes = 1 + popped + copied - (copied ? 1 : 0);
      stack.push_back(v);
      sizes.push_back(nodes);
      total += nodes;
    }
  }
  free_all(stack);
  return 0;
}
