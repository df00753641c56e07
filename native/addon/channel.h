// channel.h: how an engine's events reach the JS thread.
//
// The engine is created with brake_engine_options.notify = channel_notify. A
// worker calls it when the engine's event queue goes from empty to
// non-empty (coalesced); it makes one call on the engine's single
// thread-safe function, whose JS-thread callback drains the queue into a
// slice for lib (EngineWrap::drain). No per-call or per-operation
// thread-safe function, async work or persistent reference.
//
// A cancel made on the JS thread (brake_cancel, brake_token_cancel) may
// finish waiting calls of an idle worker right there (the stand-in rule in
// native/src/runtime/worker.h), and then notifies on this thread. While an
// InlineDelivery is open on the thread, such a notify is recorded instead of
// signalled through the thread-safe function (no eventfd write, no extra
// event-loop turn); deliver() then drains each recorded engine, so the
// promises settle before the cancel returns to JS (inside abort() or
// engine.cancel()). Whatever cannot be drained at that moment (an engine
// already delivering a slice), and everything recorded when deliver() is
// never reached, is signalled as usual: nothing recorded is ever dropped.
//
// Lifetime: a Channel outlives both its engine and its thread-safe function
// (refcount, JS thread only), so a late notify never reaches freed memory.
// `tsfn` is read by workers under `mu` and cleared under it when Node
// finalizes the thread-safe function.
#pragma once

#include <mutex>
#include <vector>

#include "addon.h"

namespace brake_addon {

class EngineWrap;

struct Channel {
  std::mutex mu;
  napi_threadsafe_function tsfn = nullptr;  // nullptr once Node finalized it
  EngineWrap* wrap = nullptr;               // nullptr once the engine is freed
  int refs = 2;                             // engine side + thread-safe function side
};

// JS thread only (refs counts owners that all live on it).
void release_channel(Channel* c);
// Schedules a drain on a later turn. Any thread.
void signal_channel(Channel* c);
// brake_engine_options.notify (notify_data: the Channel). A worker, or the
// JS thread finishing calls in place during a cancel; no engine lock held.
void channel_notify(void* arg);
// The thread-safe function's finalizer (finalize_data: the Channel).
void channel_finalize(napi_env env, void* finalize_data, void* hint);

class InlineDelivery {
 public:
  InlineDelivery();
  ~InlineDelivery();
  InlineDelivery(const InlineDelivery&) = delete;
  InlineDelivery& operator=(const InlineDelivery&) = delete;

  // Drains the recorded engines (once; the destructor, with no env, only
  // signals them).
  void deliver(napi_env env);
  // Called by channel_notify on this thread; false when no delivery is open here.
  static bool record(Channel* c);

 private:
  InlineDelivery* m_outer;
  std::vector<Channel*> m_channels;  // each holds a reference
};

}  // namespace brake_addon
