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
//    thread (a call lives on one worker for its whole life).
//  - References: the call table holds one (dropped after the completion
//    callback has returned), every inbox message holds one. The worker's
//    ready queue and timer heap hold none: a call stays in the table, and so
//    alive, until the worker has finished it and removed it from both.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "abi_value.h"
#include "brake.h"
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
// Sleeps and deadlines longer than this are clamped (no time_point overflow).
constexpr std::chrono::milliseconds kMaxWait{int64_t(365) * 24 * 3600 * 1000};
inline std::chrono::milliseconds clamp_wait(uint64_t ms) {
  return ms >= uint64_t(kMaxWait.count()) ? kMaxWait : std::chrono::milliseconds(int64_t(ms));
}
constexpr uint32_t kCommitted = 0x100;

enum class Phase : uint8_t { Queued, Ready, Sleeping, Done };

struct Call {
  std::atomic<uint32_t> refs{1};
  std::atomic<uint32_t> state{0};
  brake_call_id id = 0;
  Worker* worker = nullptr;
  uint32_t function = UINT32_MAX; // UINT32_MAX: admitted pre-cancelled, never looked up
  brake_completion_fn done = nullptr;
  void* user_data = nullptr;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Token bookkeeping (guarded by the token's mutex).
  brake_token* token = nullptr;
  size_t token_index = 0;

  // ---- worker-owned (the fiber is built by the starting thread, before
  // the call is posted, then belongs to the worker)
  Phase phase = Phase::Queued;
  std::optional<vm::Fiber> fiber; // embedded: one allocation per call
  size_t sleep_timer = SIZE_MAX;    // position in the worker's timer heap
  size_t deadline_timer = SIZE_MAX; // position in the worker's timer heap
  brake_result result;

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
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

} // namespace brake::runtime
