// operation.h: what a call waits for besides a sleep. A host function's
// answer today; HTTP transfers, LLM attempts and child tasks plug into the
// same shape: the worker starts an operation when the VM asks for it
// (vm::Request), anyone may complete it from any thread, and a cancel of the
// call cancels it through its hook.
//
// Invariants:
//  - `state` moves once, from Pending to Completed (the completer won: its
//    outcome is on its way to the worker in an OperationDone message) or to
//    Cancelled (the call stopped waiting: whatever arrives later is
//    dropped). Both sides use compare-and-swap, so an operation is
//    completed or cancelled, never both, and completed at most once.
//  - The outcome fields are written by the completer before it posts the
//    message and read by the worker after it received it (the inbox mutex
//    orders them).
//  - References: the engine's operation table holds one while the
//    operation is listed there (from its start until whoever moved its state
//    removes it); every message and queued event holds one; the waiting
//    call's worker holds one in its operation slots. An operation holds a
//    reference to its call (so a call, and its result, live until the last
//    event about its operation has been delivered).
//  - `delivered` is touched only by the thread that delivers events (the
//    drain thread, or the worker in callback mode): a host never hears of
//    an operation that was cancelled before it was handed over, so it never
//    hears of that cancel either.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "abi_value.h"
#include "brake.h"
#include "http/request.h"

namespace brake::http {
struct Transfer;
} // namespace brake::http

namespace brake::runtime {

struct Call;
class Worker;

enum class OperationState : uint8_t { Pending, Completed, Cancelled };

// An HTTP request that may be followed by redirects: what was sent, when
// the whole chain must be done, and how many more hops it may take.
struct HttpChain {
  http::Request request;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  uint32_t redirects_left = 0;
};

// How an operation ended: a value, or a failure with a message and an
// optional code.
struct OperationOutcome {
  ValuePtr value;
  bool failed = false;
  std::string error_message;
  std::string error_code;
};

struct Operation {
  explicit Operation(uint64_t operation_id) : id(operation_id) {}
  virtual ~Operation();
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  std::atomic<uint32_t> refs{1};
  std::atomic<OperationState> state{OperationState::Pending};
  const uint64_t id;
  bool native_http = false; // a NativeHttpOperation
  bool shell = false;       // a ShellOperation (neither: a HostOperation)
  // HTTP requests: the request's whole timeout (for the message when it
  // passes), and what a redirect needs (only when the engine follows them).
  uint64_t http_timeout_ms = 0;
  std::unique_ptr<HttpChain> chain;
  Call* call = nullptr; // holds a reference
  Worker* worker = nullptr;
  bool delivered = false;
  brake_origin cancel_origin = BRAKE_ORIGIN_NONE; // set with Cancelled, by the worker
  // Bytes the call's heap was charged for this operation's own data (its
  // arguments as host values), given back when the call stops waiting.
  size_t charged = 0;

  OperationOutcome outcome; // Completed: written by the completer (see the invariants)

  bool try_complete() { return transition(OperationState::Completed); }
  bool try_cancel() { return transition(OperationState::Cancelled); }

  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

private:
  bool transition(OperationState to) {
    OperationState expected = OperationState::Pending;
    return state.compare_exchange_strong(expected, to, std::memory_order_acq_rel);
  }
};

// A call of a host function: which one, and its arguments as host values.
struct HostOperation final : Operation {
  using Operation::Operation;
  uint32_t function = 0;                     // index into CompiledProgram::host_functions
  const std::string* function_name = nullptr; // the program's, which outlives the engine
  brake_call_id call_id = 0;
  void* call_user_data = nullptr; // the calling call's (brake_call_start)
  std::vector<ValuePtr> args;
};

// An HTTP request performed by the worker's own transport (libcurl): never
// in the engine's operation table (nobody outside the worker completes it).
struct NativeHttpOperation final : Operation {
  explicit NativeHttpOperation(uint64_t operation_id) : Operation(operation_id) { native_http = true; }
  http::Transfer* transfer = nullptr; // the worker's driver's, until it finishes or is cancelled
  std::string url;
};

// A command of baml.sys.shell (runtime/worker_shell.cpp): never in the
// engine's operation table (its own thread completes it).
struct ShellOperation final : Operation {
  explicit ShellOperation(uint64_t operation_id) : Operation(operation_id) { shell = true; }
  ~ShellOperation() override;
  // The call stopped waiting: the process group is killed and the thread
  // stops reading.
  void stop();

  int pid = -1;     // the shell: leader of its own process group
  int wake_fd = -1; // eventfd the thread polls beside the pipes
  std::mutex mu;    // kill() against reaping the shell
  bool reaped = false;
  std::shared_ptr<std::atomic<bool>> thread_done = std::make_shared<std::atomic<bool>>(false);
};

// Operation id -> Pending operation, for completions from any thread.
// Sharded like the call table; each shard's lock is held only briefly and
// nothing else is locked inside it.
class OperationTable {
public:
  // Adds `op` (taking a reference). Any thread.
  void insert(Operation* op);
  // The operation with a new reference, or nullptr. Any thread.
  Operation* find(uint64_t id);
  // Removes `op` if present and drops the table's reference. Any thread.
  void remove(Operation* op);
  size_t size() const;

private:
  static constexpr size_t kShards = 16;
  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::unordered_map<uint64_t, Operation*> ops;
  };
  Shard& shard(uint64_t id) { return m_shards[(id * 0x9E3779B97F4A7C15ull) >> 60]; }
  Shard m_shards[kShards];
};

} // namespace brake::runtime
