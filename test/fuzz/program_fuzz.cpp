// program_fuzz: programs that compile, generated from arbitrary bytes by a
// typed grammar (ints, floats, bools, strings, lists, maps, a class, an
// enum, optionals; let, assignment, if/else, while, for-in, C-style for,
// match, break/continue/return, recursion, string and list builtins,
// deep_copy/deep_equals, sleeps; lambdas that read and assign the variables
// around them, through the array methods and called as values; spawned
// tasks awaited, raced, cancelled or left running), then run
// through brake.h with a deadline,
// a memory limit, and a cancel from another thread at a moment the bytes
// pick. Every call must complete exactly once with a status a script can
// end in (a value, a script error, a timeout, a cancel, out of memory):
// no crash, no sanitizer report, no hang past the deadline. The compiler
// meets far more valid programs here than arbitrary bytes reach
// (compile_fuzz covers those).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "brake.h"

namespace {

struct Bytes {
  const uint8_t* p;
  size_t n;
  uint8_t next() {
    if (!n) return 0;
    n--;
    return *p++;
  }
  // One of `k` choices; 0 once the bytes run out (the simplest production).
  unsigned pick(unsigned k) { return next() % k; }
};

enum class Ty { Int, Float, Bool, Str, Ints, Map, Cls, Color };

const char* type_name(Ty t) {
  switch (t) {
  case Ty::Int: return "int";
  case Ty::Float: return "float";
  case Ty::Bool: return "bool";
  case Ty::Str: return "string";
  case Ty::Ints: return "int[]";
  case Ty::Map: return "map<string, int>";
  case Ty::Cls: return "Box";
  case Ty::Color: return "Color";
  }
  return "int";
}

class Gen {
public:
  explicit Gen(Bytes& b) : m_b(b) {}

  std::string program() {
    std::string out =
        "enum Color { Red Green Blue }\n"
        "class Box { n int label string items int[] next Box? }\n"
        "function helper(a: int, s: string) -> int {\n"
        "  if (a <= 0) { return s.length(); }\n"
        "  helper(a - 1, s + \"x\") + 1\n"
        "}\n"
        "function main() -> int {\n";
    m_depth = 1;
    m_vars.clear();
    m_vars.push_back({"seed", Ty::Int});
    out += "  let seed = " + std::to_string(m_b.next()) + ";\n";
    for (int i = 0; i < 12 && m_b.n; i++) out += stmt();
    out += "  " + expr(Ty::Int, 0) + "\n}\n";
    return out;
  }

private:
  struct Var {
    std::string name;
    Ty type;
  };

  std::string indent() const { return std::string(size_t(m_depth) * 2, ' '); }

  const Var* var_of(Ty t) {
    std::vector<const Var*> found;
    for (const Var& v : m_vars)
      if (v.type == t) found.push_back(&v);
    return found.empty() ? nullptr : found[m_b.pick(unsigned(found.size()))];
  }

  std::string stmt() {
    unsigned deep = m_depth < 4;
    switch (m_b.pick(deep ? 12 : 5)) {
    case 0:
    case 1: { // let
      Ty t = Ty(m_b.pick(8));
      std::string name = "v" + std::to_string(m_next++);
      std::string s = indent() + "let " + name + ": " + type_name(t) + " = " + expr(t, 0) + ";\n";
      m_vars.push_back({name, t});
      return s;
    }
    case 2: { // assignment
      Ty t = Ty(m_b.pick(8));
      const Var* v = var_of(t);
      if (!v) return indent() + expr(Ty::Int, 0) + ";\n";
      return indent() + v->name + " = " + expr(t, 0) + ";\n";
    }
    case 3: { // a change to a list, a map or a class
      if (const Var* v = var_of(Ty::Ints)) return indent() + v->name + ".push(" + expr(Ty::Int, 0) + ");\n";
      if (const Var* v = var_of(Ty::Map)) return indent() + v->name + "[" + expr(Ty::Str, 0) + "] = " + expr(Ty::Int, 0) + ";\n";
      if (const Var* v = var_of(Ty::Cls)) return indent() + v->name + ".n = " + expr(Ty::Int, 0) + ";\n";
      return indent() + "baml.sys.sleep(" + std::to_string(m_b.pick(3)) + ");\n";
    }
    case 4: // leave the loop or the function (or the lambda: its own type)
      if (m_loops && m_b.pick(2)) return indent() + (m_b.pick(2) ? "break;\n" : "continue;\n");
      return indent() + "if (" + expr(Ty::Bool, 0) + ") { return " + expr(m_returns, 0) + "; }\n";
    case 5: { // if / else
      std::string s = indent() + "if (" + expr(Ty::Bool, 0) + ") {\n" + block();
      if (m_b.pick(2)) s += indent() + "} else {\n" + block();
      return s + indent() + "}\n";
    }
    case 6: { // while (the deadline ends one that never stops)
      m_loops++;
      std::string s = indent() + "while (" + expr(Ty::Bool, 0) + ") {\n" + block() + indent() + "}\n";
      m_loops--;
      return s;
    }
    case 7: { // for-in over a list
      std::string name = "x" + std::to_string(m_next++);
      return loop("for (let " + name + " in " + expr(Ty::Ints, 0) + ")", name);
    }
    case 8: { // C-style for
      std::string name = "i" + std::to_string(m_next++);
      return loop("for (let " + name + " = 0; " + name + " < " + expr(Ty::Int, 0) + "; " + name + " += 1)", name);
    }
    case 9: { // a lambda as a value, assigning what it captures, called now and later
      std::string f = "f" + std::to_string(m_next++);
      std::string s = indent() + "let " + f + " = " + lambda(Ty::Int, "int", 0) + ";\n";
      const Var* v = var_of(Ty::Int);
      return s + indent() + (v ? v->name + " = " : "") + f + "(" + expr(Ty::Int, 0) + ") + " + f + "(1);\n";
    }
    case 10: { // a spawned task: awaited, raced, cancelled, or left running (cancelled when main returns)
      std::string f = "t" + std::to_string(m_next++);
      std::string s = indent() + "let " + f + " = " + spawned(0) + ";\n";
      const Var* v = var_of(Ty::Int);
      switch (m_b.pick(4)) {
      case 0: return s + indent() + (v ? v->name + " = " : "") + "await " + f + ";\n";
      case 1: return s + indent() + "let _ = " + f + ".cancel();\n";
      case 2: return s + indent() + (v ? v->name + " = " : "") + "baml.future.race([" + f + ", " + spawned(1) + "]);\n";
      default: return s;
      }
    }
    default: // an expression for its effects
      return indent() + expr(Ty::Int, 0) + ";\n";
    }
  }

  // `spawn { statements; value }` of an int: like a lambda of no parameters.
  std::string spawned(int d) {
    int loops = m_loops;
    Ty returns = m_returns;
    m_loops = 0;
    m_returns = Ty::Int;
    m_depth++;
    std::string s = "spawn {\n";
    size_t vars = m_vars.size();
    for (unsigned k = d < 2 ? m_b.pick(3) : 0; k > 0; k--) s += stmt();
    s += indent() + "(" + expr(Ty::Int, d + 1) + ")\n";
    m_vars.resize(vars);
    m_depth--;
    s += indent() + "}";
    m_loops = loops;
    m_returns = returns;
    return s;
  }

  // `(p: int) -> T { statements; value }`: its parameter in scope, no loop
  // around it (break and continue stay out), returns of its own type.
  std::string lambda(Ty result, const char* result_name, int d, const char* second = nullptr) {
    std::string p = "p" + std::to_string(m_next++);
    std::string q = second ? "q" + std::to_string(m_next++) : "";
    size_t vars = m_vars.size();
    int loops = m_loops;
    Ty returns = m_returns;
    m_loops = 0;
    m_returns = result;
    m_vars.push_back({p, Ty::Int});
    if (second) m_vars.push_back({q, Ty::Int});
    m_depth++;
    std::string s = "(" + p + ": int" + (second ? ", " + q + ": int" : "") + ") -> " + result_name + " {\n";
    for (unsigned k = d < 2 ? m_b.pick(3) : 0; k > 0; k--) s += stmt();
    s += indent() + "(" + expr(result, d + 1) + ")\n"; // (a line that starts with '{' would be a block)
    m_depth--;
    s += indent() + "}";
    m_vars.resize(vars);
    m_loops = loops;
    m_returns = returns;
    return s;
  }

  // A for loop with `head`, its int variable `name` in scope in its body.
  std::string loop(const std::string& head, const std::string& name) {
    m_loops++;
    m_vars.push_back({name, Ty::Int});
    std::string s = indent() + head + " {\n" + block();
    m_vars.pop_back();
    m_loops--;
    return s + indent() + "}\n";
  }

  // Statements in a new scope.
  std::string block() {
    size_t vars = m_vars.size();
    m_depth++;
    std::string s;
    for (unsigned k = m_b.pick(4); k > 0; k--) s += stmt();
    m_depth--;
    m_vars.resize(vars);
    return s;
  }

  std::string expr(Ty t, int d) {
    bool leaf = d > 3 || m_b.n == 0;
    if (!leaf && m_b.pick(3) == 0)
      if (const Var* v = var_of(t)) return v->name;
    switch (t) {
    case Ty::Int:
      switch (leaf ? 0 : m_b.pick(12)) {
      case 10: return "(await " + spawned(d) + ")";
      case 0: { // (negative literals in parentheses: `if (c) { } -8` reads as a subtraction)
        int k = int(m_b.next()) - 8;
        return k < 0 ? "(" + std::to_string(k) + ")" : std::to_string(k);
      }
      case 1: return "(" + expr(Ty::Int, d + 1) + " " + "+-*/%"[m_b.pick(5)] + " " + expr(Ty::Int, d + 1) + ")";
      case 2: return expr(Ty::Str, d + 1) + ".length()";
      case 3: return expr(Ty::Ints, d + 1) + ".length()";
      case 4: return "helper(" + expr(Ty::Int, d + 1) + " % 20, " + expr(Ty::Str, d + 1) + ")";
      case 5: return "(" + expr(Ty::Ints, d + 1) + ")[" + expr(Ty::Int, d + 1) + "]";
      case 6: return expr(Ty::Cls, d + 1) + ".n";
      case 7: return "(" + expr(Ty::Map, d + 1) + ".length() * 2)";
      case 8: return "(if (" + expr(Ty::Bool, d + 1) + ") { " + expr(Ty::Int, d + 1) + " } else { " + expr(Ty::Int, d + 1) + " })";
      case 9: return "(" + expr(Ty::Ints, d + 1) + ").reduce(" + lambda(Ty::Int, "int", d, "acc") + ", " + expr(Ty::Int, d + 1) + ")";
      default:
        return "match (" + expr(Ty::Color, d + 1) + ") { Color.Red => " + expr(Ty::Int, d + 1) + ", _ => " +
               expr(Ty::Int, d + 1) + " }";
      }
    case Ty::Float:
      switch (leaf ? 0 : m_b.pick(3)) {
      case 0: return std::to_string(m_b.next()) + ".5";
      case 1: return "(" + expr(Ty::Float, d + 1) + " " + "+-*/"[m_b.pick(4)] + " " + expr(Ty::Float, d + 1) + ")";
      default: return "(0.0 / 0.0)";
      }
    case Ty::Bool:
      switch (leaf ? 0 : m_b.pick(8)) {
      case 0: return m_b.pick(2) ? "true" : "false";
      case 1: return "(" + expr(Ty::Int, d + 1) + (m_b.pick(2) ? " < " : " == ") + expr(Ty::Int, d + 1) + ")";
      case 2: return "(" + expr(Ty::Bool, d + 1) + (m_b.pick(2) ? " && " : " || ") + expr(Ty::Bool, d + 1) + ")";
      case 3: return "!" + expr(Ty::Bool, d + 1);
      case 6: return "(" + expr(Ty::Ints, d + 1) + (m_b.pick(2) ? ").some(" : ").every(") + lambda(Ty::Bool, "bool", d) + ")";
      case 4: return expr(Ty::Map, d + 1) + ".has(" + expr(Ty::Str, d + 1) + ")";
      case 5: return "baml.deep_equals(" + expr(Ty::Cls, d + 1) + ", " + expr(Ty::Cls, d + 1) + ")";
      default: return "baml.sys.cancellation_requested()";
      }
    case Ty::Str:
      switch (leaf ? 0 : m_b.pick(6)) {
      case 0: return m_b.pick(2) ? "\"ab\"" : "\"\\u00e9\\n\"";
      case 1: return "(" + expr(Ty::Str, d + 1) + " + " + expr(Ty::Str, d + 1) + ")";
      case 2: return expr(Ty::Str, d + 1) + (m_b.pick(2) ? ".toUpperCase()" : ".trim()");
      case 3: return expr(Ty::Str, d + 1) + ".replace(\"a\", " + expr(Ty::Str, d + 1) + ")";
      case 4: return expr(Ty::Cls, d + 1) + ".label";
      default: return "(" + expr(Ty::Str, d + 1) + " + " + expr(Ty::Str, d + 1) + ").split(\"b\").join(" + expr(Ty::Str, d + 1) + ")";
      }
    case Ty::Ints:
      switch (leaf ? 0 : m_b.pick(7)) {
      case 0: return "[]";
      case 1: return "[" + expr(Ty::Int, d + 1) + ", " + expr(Ty::Int, d + 1) + "]";
      case 2: return expr(Ty::Cls, d + 1) + ".items";
      case 3: return "(" + expr(Ty::Ints, d + 1) + ").map(" + lambda(Ty::Int, "int", d) + ")";
      case 4: return "(" + expr(Ty::Ints, d + 1) + ").filter(" + lambda(Ty::Bool, "bool", d) + ")";
      case 5: return "(" + expr(Ty::Ints, d + 1) + ").flat_map(" + lambda(Ty::Ints, "int[]", d) + ")";
      default: return "baml.deep_copy(" + expr(Ty::Ints, d + 1) + ")";
      }
    case Ty::Map:
      if (leaf || m_b.pick(2)) return "{}";
      return std::string("{\"") + "abc"[m_b.pick(3)] + "\": " + expr(Ty::Int, d + 1) + ", \"k\": " + expr(Ty::Int, d + 1) + "}";
    case Ty::Cls:
      return "Box { n: " + expr(Ty::Int, d + 1) + ", label: " + expr(Ty::Str, d + 1) + ", items: " +
             expr(Ty::Ints, d + 1) + ", next: " + (leaf || m_b.pick(2) ? std::string("null") : expr(Ty::Cls, d + 1)) + " }";
    case Ty::Color: {
      static const char* const colors[] = {"Color.Red", "Color.Green", "Color.Blue"};
      return colors[m_b.pick(3)];
    }
    }
    return "0";
  }

  Bytes& m_b;
  std::vector<Var> m_vars;
  int m_depth = 1, m_loops = 0, m_next = 0;
  Ty m_returns = Ty::Int; // what `return` in the code being made returns
};

struct Done {
  std::mutex m;
  std::condition_variable cv;
  int completions = 0;
  int status = -1;
};

void on_done(void* data, const brake_result* r) {
  auto* d = static_cast<Done*>(data);
  std::lock_guard<std::mutex> lock(d->m);
  d->completions++;
  d->status = brake_result_status(r);
  d->cv.notify_all();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  unsigned cancel_after_us = unsigned(data[0]) * 40; // 0 .. ~10 ms
  bool cancel = data[1] & 1;
  Bytes b{data + 2, size - 2};
  std::string source = Gen(b).program();
  brake_program* program = nullptr;
  if (brake_program_compile(source.data(), source.size(), "gen.baml", &program) != BRAKE_OK) {
    // The generator writes well-typed programs: a refusal is a bug in it or
    // in the compiler, and either way the harness would test nothing.
    fprintf(stderr, "did not compile (%s):\n%s\n", brake_last_error(), source.c_str());
    abort();
  }
  brake_engine_options eo;
  brake_engine_options_init(&eo);
  eo.worker_threads = 1;
  eo.call_memory_limit = 16u << 20;
  brake_engine* e = nullptr;
  if (brake_engine_create(program, &eo, &e) != BRAKE_OK) abort();
  brake_program_free(program);
  Done done;
  brake_call_options co;
  brake_call_options_init(&co);
  co.timeout_ms = 50;
  if (brake_call_start(e, 1, "main", nullptr, 0, &co, on_done, &done) != BRAKE_OK) abort();
  if (cancel) {
    std::this_thread::sleep_for(std::chrono::microseconds(cancel_after_us));
    brake_cancel(e, 1);
  }
  {
    std::unique_lock<std::mutex> lock(done.m);
    if (!done.cv.wait_for(lock, std::chrono::seconds(10), [&] { return done.completions > 0; })) abort(); // hung
  }
  brake_engine_close(e);
  brake_engine_free(e);
  if (done.completions != 1) abort();
  switch (done.status) {
  case BRAKE_OK:
  case BRAKE_SCRIPT_ERROR:
  case BRAKE_TIMEOUT:
  case BRAKE_CANCELLED:
  case BRAKE_NO_MEMORY: break;
  default: abort();
  }
  return 0;
}
