// call.h: one call's shared state.
//
// Invariants (the cancellation contract of DESIGN §4):
//  - `state` is the call's one atomic outcome word. Its low byte is the
//    cancel origin (a brake_origin, 0 = none); kCommitted marks that the
//    call's own outcome (value or error) won. Cancel and completion race with
//    compare-and-swap; whichever sets its bit first wins, and the other never
//    overwrites it. So a call settles exactly once, a cancel requested before
//    the commit wins, and a committed error is never turned into a cancel.
//  - Everything below "worker-owned" is touched only by the call's worker
//    thread (a call lives on one worker for its whole life), or by a thread
//    that has claimed that worker while it waited (worker.h, stand-in rule).
//  - References: the call table holds one (dropped after the completion
//    callback has returned), every inbox message holds one, and so does an
//    operation the call waits or waited on (until its last event is gone). The worker's
//    ready queue and timer heap hold none: a call stays in the table, and so
//    alive, until the worker has finished it and removed it from both.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "abi_value.h"
#include "brake.h"
#include "runtime/call_stream.h"
#include "vm/interpreter.h"

struct brake_token;

struct brake_result {
  brake_call_id id = 0;
  int status = BRAKE_OK;
  brake_origin origin = BRAKE_ORIGIN_NONE;
  brake::ValuePtr value;
  const char* fixed_message = nullptr;        // static text (cancellations)
  std::unique_ptr<brake::vm::ScriptError> error; // message, kind and frames of a failure
};

namespace brake::runtime {

class Engine;
class Worker;

constexpr uint32_t kOriginMask = 0xFF;
static_assert(kOriginMask == vm::kCancelOriginMask, "the VM reads the same origin bits");
// Sleeps longer than this are clamped (no time_point overflow); deadlines
// longer than this are refused by brake_call_start.
constexpr std::chrono::milliseconds kMaxWait{int64_t(BRAKE_MAX_TIMEOUT_MS)};
inline std::chrono::milliseconds clamp_wait(uint64_t ms) {
  return ms >= uint64_t(kMaxWait.count()) ? kMaxWait : std::chrono::milliseconds(int64_t(ms));
}
constexpr uint32_t kCommitted = 0x100;

// Awaiting: a spawned task's outcome (await, a combinator) or room in a
// task group.
enum class Phase : uint8_t { Queued, Ready, Sleeping, Waiting, Awaiting, Done };

struct Call;
// A call's spawned tasks (each a Call of its own on the same worker, with no
// id of its own in the call table) and, for a task, its place in the tree.
// Allocated by a call's first spawn; every task has one. Owned by the
// call's (or task's) fiber: they go together.
struct TaskLinks final : vm::TaskLinksBase {
  Call* parent = nullptr;      // a task's spawner (null: the call itself)
  Call* root = nullptr;        // a task's call, whose heap it uses
  size_t index = 0;            // a task's place in parent->tasks->children
  size_t charged = 0;          // what the task's own memory charged to the call's heap
  std::vector<Call*> children; // live tasks it spawned (each holds a reference)
  std::vector<Call*> waiters;  // calls awaiting its future (each holds a reference)
};

// No timer (Call::sleep_timer, Call::deadline_timer).
constexpr uint32_t kNoTimer = UINT32_MAX;
// No pending operation (Call::operation).
constexpr uint32_t kNoOperation = UINT32_MAX;

// A call's tags (brake_call_options): name, value.
using CallTags = std::vector<std::pair<std::string, std::string>>;

// One allocation per call: the Call, then (when the call runs code) the
// storage of its fiber's first frame and value stack (Fiber::inline_bytes),
// so a call that sleeps holds no other heap block of its own.
struct alignas(16) Call {
  // A call with `storage` bytes after it for its fiber (0: none). The
  // storage is 16-byte aligned: operator new aligns the call so, and the
  // call's size is a multiple of its alignment.
  static Call* create(size_t storage) {
    return new (::operator new(sizeof(Call) + storage)) Call();
  }
  void* storage() { return this + 1; }

  Call() {}
  ~Call() {
    if (stream) stream->release();
    if (has_fiber) fiber.~Fiber();
    if (has_result) result.~brake_result();
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  std::atomic<uint32_t> refs{1};
  std::atomic<uint32_t> state{0};
  brake_call_id id = 0;
  Worker* worker = nullptr;
  brake_completion_fn done = nullptr;
  void* user_data = nullptr;
  // The call table's bucket chain, guarded by its shard mutex: the next
  // call, and the link that points at this one. Atomic (always relaxed)
  // only so that CallTable::prefetch may read them without the lock.
  std::atomic<Call*> table_next{nullptr};
  std::atomic<std::atomic<Call*>*> table_pprev{nullptr};
  // Token bookkeeping (guarded by the token's mutex).
  brake_token* token = nullptr;
  uint32_t token_index = 0;
  uint32_t function = UINT32_MAX; // UINT32_MAX: admitted pre-cancelled, never looked up
  std::unique_ptr<const CallTags> tags; // null: none (set before the call is posted)
  CallStream* stream = nullptr;         // null: not streamed (holds a reference; call_stream.h)

  // ---- worker-owned (the fiber and the deadline are set by the starting
  // thread, before the call is posted, then belong to the worker)
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  uint32_t sleep_timer = kNoTimer;    // handle in the worker's timer heap
  uint32_t deadline_timer = kNoTimer; // handle in the worker's timer heap
  Phase phase = Phase::Queued;
  bool has_fiber = false;
  bool has_result = false;
  bool task = false; // a spawned task (not in the call table; no completion of its own)
  // While Waiting: the operation's slot in the worker's operation slots
  // (in what would otherwise be padding: a call's block does not grow).
  uint32_t operation = kNoOperation;
  // The fiber while the call runs, then its result: the two are never
  // needed at once, so they share storage. settle() ends the one and begins
  // the other; the result is read only after the call is Done.
  union {
    vm::Fiber fiber;
    brake_result result;
  };

  bool is_task() const { return task; }
  // Its place among the call's tasks while its fiber lives (null: it never spawned).
  TaskLinks* links() const { return has_fiber ? static_cast<TaskLinks*>(fiber.task_links()) : nullptr; }

  void start_fiber(const vm::CompiledProgram& program, uint32_t max_depth, vm::MemoryPool* memory) {
    new (&fiber) vm::Fiber(program, function, max_depth, storage(), memory);
    has_fiber = true;
  }
  // Ends the fiber (freeing its heap) and returns the call's (new) result.
  brake_result& settle() {
    if (has_fiber) {
      fiber.~Fiber();
      has_fiber = false;
    }
    if (!has_result) {
      new (&result) brake_result();
      has_result = true;
    }
    return result;
  }

  // Requests cancellation with `origin`. True when this request won (no
  // earlier cancel and no committed outcome). Any thread.
  bool request_cancel(brake_origin origin) {
    uint32_t s = state.load(std::memory_order_acquire);
    while ((s & (kOriginMask | kCommitted)) == 0)
      if (state.compare_exchange_weak(s, s | uint32_t(origin), std::memory_order_acq_rel)) return true;
    return false;
  }
  // Commits the call's own outcome. Returns 0 when it won, else the cancel
  // origin that got there first. Worker thread.
  brake_origin commit() {
    uint32_t s = state.load(std::memory_order_acquire);
    while ((s & kOriginMask) == 0)
      if (state.compare_exchange_weak(s, s | kCommitted, std::memory_order_acq_rel)) return BRAKE_ORIGIN_NONE;
    return brake_origin(s & kOriginMask);
  }
  brake_origin cancel_origin() const { return brake_origin(state.load(std::memory_order_acquire) & kOriginMask); }

  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->~Call();
      ::operator delete(this);
    }
  }
};

static_assert(alignof(Call) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "Call::create relies on operator new's alignment");

// Starts fetching the call's own cache lines (not its fiber's inline stack),
// for loops over many calls scattered over memory (a mass cancel).
inline void prefetch_call(const Call* call) {
  const char* p = reinterpret_cast<const char*>(call);
  for (size_t offset = 0; offset < sizeof(Call); offset += 64) __builtin_prefetch(p + offset, 1);
}

} // namespace brake::runtime
