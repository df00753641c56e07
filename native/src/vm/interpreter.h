// interpreter.h: runs the bytecode of one call.
//
// A Fiber is one call's VM state: its heap, value stack and frames. It never
// performs I/O and never blocks. run() returns when the call finishes, fails,
// needs something from the runtime (Suspended: a sleep, later HTTP/LLM/host
// operations), or is asked to yield (Yielded). The runtime resumes it later
// with resume(value).
//
// Cancellation polling: the interpreter dispatches most instructions through
// a fixed table, but at every loop back-edge and every call it reloads the
// table pointer from its worker (RunContext::dispatch): one load. To stop a
// running script, the worker (or anyone posting to it: a cancel, a new call,
// the engine's time-slice ticker) swaps that pointer to the interrupt table,
// whose every entry yields. So a `while (true) {}` stops within one loop
// iteration of a cancel, and the check costs one instruction per back-edge.
// Building with BRAKE_NO_CANCEL_CHECKS always uses the fixed table (only to
// measure the cost of the checks).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vm/chunk.h"
#include "vm/value.h"

namespace brake::vm {

enum class RunStatus : uint8_t {
  Finished,  // result() holds the return value
  Failed,    // error() holds the script error
  Suspended, // request() says what the call waits for
  Yielded,   // asked to give the worker back; call run() again to continue
};

struct Request {
  enum class Kind : uint8_t { None, Sleep } kind = Kind::None;
  int64_t sleep_ms = 0;
};

struct ScriptFrame {
  std::string function;
  uint32_t line;
};

struct ScriptError {
  std::string kind; // "panic", "overflow", "division_by_zero", ...
  std::string message;
  std::vector<ScriptFrame> frames; // innermost first
};

struct RunContext {
  // The dispatch table to use at the next back-edge or call: normally
  // normal_dispatch(), interrupt_dispatch() to make the VM yield.
  const std::atomic<const void* const*>* dispatch = nullptr;
  // The call's cancel state (non-zero once cancellation was requested); read
  // by baml.sys.cancellation_requested().
  const std::atomic<uint32_t>* cancel_state = nullptr;
};

// The interpreter's two dispatch tables, published once (thread-safely) by
// running the interpreter in describe mode on first use.
const void* const* normal_dispatch();
const void* const* interrupt_dispatch();

class Fiber {
public:
  Fiber(const CompiledProgram& program, uint32_t function, uint32_t max_depth);
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  Heap& heap() { return m_heap; }
  // Pushes the next argument (before the first run()).
  void push_arg(Value v) { m_stack.push_back(v); }

  RunStatus run(const RunContext& ctx);
  // Completes the pending request with `v` (pushed as the request's result).
  void resume(Value v);

  Value result() const { return m_result; }
  const Request& request() const { return m_request; }
  const ScriptError& error() const { return *m_error; } // after Failed

private:
  struct Frame {
    const FunctionInfo* fn;
    const uint8_t* ip;
    size_t base; // index of the first local in m_stack
  };

  RunStatus fail(const uint8_t* ip, std::string kind, std::string message);
  bool enter(uint32_t function, size_t argc, const uint8_t* return_ip);
  void grow(size_t needed);

  const CompiledProgram& m_program;
  uint32_t m_max_depth;
  Heap m_heap;
  std::vector<Value> m_stack; // [frame0 locals | operands | frame1 locals | ...]
  size_t m_sp = 0;            // number of live stack slots
  std::vector<Frame> m_frames;
  bool m_started = false;
  uint32_t m_entry;
  Value m_result;
  Request m_request;
  std::unique_ptr<ScriptError> m_error; // allocated only when the script fails
};

// True when `v` has type `t` (deep for arrays and maps).
bool value_has_type(const CompiledProgram& p, Value v, lang::TypeId t);

// Outcome of a builtin: Ok with `out` set, Error with kind/message, or Suspend
// with a request for the runtime.
struct BuiltinResult {
  enum class Kind : uint8_t { Ok, Error, Suspend } kind = Kind::Ok;
  Value out;
  std::string error_kind, message;
  Request request;
};
BuiltinResult call_builtin(uint16_t id, Value* args, size_t argc, Heap& heap, const RunContext& ctx,
                           const CompiledProgram& program);

} // namespace brake::vm
