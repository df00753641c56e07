// call_stream.h: the stream events of one call (brake.h "streams"), on
// their way from the call's worker to the host.
//
// The worker pushes events as its LLM calls receive them; the first one
// not yet delivered puts one Event (Kind::Stream) in the engine's queue,
// behind the call's earlier events and before its completion; delivering
// that Event hands the host every event pending by then. So a call costs the
// queue one entry per delivery, however many deltas arrived meanwhile.
//
// Coalescing (a host that drains late): a pending PARTIAL is replaced by a
// newer one, which goes to the end (after the deltas it covers); past
// kMaxPendingDeltas pending deltas, a delta is appended to the last pending
// delta of the same attempt, and a PARTIAL pending after that delta is
// dropped (it no longer covers the text before it; the next one will).
// Attempts are never merged. Past kMaxPendingWatches pending WATCH events,
// or kMaxPendingWatchBytes of their values, a variable's pending WATCH is
// replaced by its newer one (at the end): what waits is bounded by that
// plus one value per variable.
//
// Invariants: m_pending and m_queued are guarded by m_mu (the worker pushes,
// the delivering thread takes); m_queued is true exactly while an Event for
// this stream is in the engine's queue or a worker's list on its way there.
// References: the call holds one, and so does each queued Event.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "abi_value.h"
#include "brake.h"

struct brake_stream_event {
  brake_stream_kind kind = BRAKE_STREAM_DELTA;
  uint32_t attempt = 0;
  const std::string* function = nullptr; // the program's (outlives every call)
  const std::string* client = nullptr;   // likewise; null for PARTIAL and WATCH
  std::string text;                      // DELTA; WATCH: the variable's name
  brake::ValuePtr value;                 // PARTIAL, WATCH (null: a null value)
  size_t bytes = 0;                      // WATCH: what building its value took
};

namespace brake::runtime {

class CallStream {
public:
  static constexpr size_t kMaxPendingDeltas = 256;
  static constexpr size_t kMaxPendingWatches = 256;
  static constexpr size_t kMaxPendingWatchBytes = size_t(1) << 20;

  CallStream(brake_stream_fn fn, void* user_data) : m_fn(fn), m_user_data(user_data) {}

  // Worker: adds `ev` (coalescing as above). Returns true when the caller
  // must queue an Event for this stream (it holds a new reference then).
  // Throws std::bad_alloc (nothing changed).
  bool push(brake_stream_event&& ev);
  // Delivering thread: hands the host every pending event, in order.
  void deliver();
  // Whether a PARTIAL is pending (the host has not taken it yet: a newer one
  // would replace it). Worker.
  bool partial_pending();

  void retain() { m_refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (m_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

private:
  std::atomic<uint32_t> m_refs{1};
  brake_stream_fn m_fn;
  void* m_user_data;
  std::mutex m_mu;
  std::vector<brake_stream_event> m_pending;
  size_t m_deltas = 0;  // DELTAs in m_pending
  size_t m_watches = 0;      // WATCHes in m_pending
  size_t m_watch_bytes = 0;  // their values' bytes
  bool m_queued = false;
};

} // namespace brake::runtime
