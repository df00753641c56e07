// engine_wrap.h: the Engine wrapper, one brake_engine and one channel.
//
// Events. Everything the engine sends the host (completions, stream events, host-function
// calls and their cancels) comes through its one channel (channel.h):
// drain() runs brake_engine_drain_max, whose callbacks encode each event
// into the slice lib handed over (slice.h), and then calls lib's onBatch
// once for the slice. While onBatch runs (lib settles promises and runs host
// functions, which may call back into this engine), m_draining stays set:
// a nested drain (a cancel or close from inside) is refused and signalled
// for a later turn, so nothing overwrites the slice lib is still reading.
//
// Liveness. While live calls > 0 (counted on the JS thread: +1 per admitted
// start, -1 per drained completion) the thread-safe function is ref'd (keeps
// the event loop alive) and onBatch is held strongly (it closes over lib's
// Engine, which holds this object, so nothing with a pending promise can be
// collected). When idle, both are weak: an idle engine never delays exit and
// is collected (and its threads joined) when unreachable. A host function
// whose promise never settles does not keep the process alive once its call
// has settled.
//
// Closing. close() returns a promise and joins the workers on a thread of
// its own (brake_engine_close), so transfers, DNS lookups and TLS sessions
// shutting down never block the JS thread. The completions (origin close)
// stay queued meanwhile; the closer signals the channel when the join is
// done, and call_js then delivers them all in one go (so every call settles
// just before the close() promise, as when close joined in place), frees the
// engine and resolves the promise. While closing, the thread-safe function
// stays ref'd and the JS object is held, and start() is refused.
//
// Teardown. An env cleanup hook (registered after the thread-safe function,
// so it runs before Node tears that down) frees the engine: brake_engine_free
// cancels live calls, joins the workers and drains; the event callbacks see
// m_tearing_down and touch no JS.
//
// Invariants: m_engine, m_live, the slice and the Channel's refs are
// JS-thread only.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "addon.h"
#include "channel.h"
#include "slice.h"

namespace brake_addon {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

  // Delivers a slice (every slice when `all`: close); false when this
  // engine cannot now (freed, or already delivering).
  bool drain(napi_env env, bool all);

 private:
  static void call_js(napi_env env, napi_value, void* context, void*);
  static void on_complete(void* user_data, const brake_result* result);
  static void on_host_call(void* user_data, const brake_host_call* call);
  static void on_host_cancel(void* user_data, brake_op_id op, brake_origin origin);
  static void on_stream(void* user_data, const brake_stream_event* ev);
  static void env_cleanup(void* arg);
  static napi_value start(napi_env env, napi_callback_info info);
  static napi_value start_stream(napi_env env, napi_callback_info info);
  static napi_value start_with(napi_env env, napi_callback_info info, bool stream);

  void start_call(napi_env env, napi_value* argv, size_t argc, bool stream);
  Napi::Value cancel(const Napi::CallbackInfo& info);
  Napi::Value render_prompt(const Napi::CallbackInfo& info);
  Napi::Value parse(const Napi::CallbackInfo& info);
  bool host_timeout_and_open(napi_env env, const Napi::Value& value, uint64_t* timeout_ms);
  // A call's or a rendering's tags (brake_call_options.tag_*).
  struct Tags {
    std::vector<std::string> text; // name, value, name, value, ...
    std::vector<const char*> names, values;
  };
  static bool read_tags(napi_env env, napi_value v, Tags& out, std::string& error);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value live_calls(const Napi::CallbackInfo& info);
  Napi::Value live_tasks(const Napi::CallbackInfo& info);
  Napi::Value drain_more(const Napi::CallbackInfo& info);
  Napi::Value host_complete(const Napi::CallbackInfo& info);
  Napi::Value host_complete_many(const Napi::CallbackInfo& info);
  Napi::Value host_fail(const Napi::CallbackInfo& info);
  Napi::Value host_part(const Napi::CallbackInfo& info);
  Napi::Value pending_host_calls(const Napi::CallbackInfo& info);
  Napi::Value http_stats(const Napi::CallbackInfo& info);

  bool drain_slice(napi_env env, bool all);
  // onBatch's flags (the contract with lib/native-types.ts).
  static constexpr int32_t kMoreEvents = 1;  // more events queued: drain() on a later turn
  static constexpr int32_t kValuesArray = 2; // the payloads come as one array, not as arguments
  static constexpr size_t kSpreadValues = 1024;
  // The wrap draining on this thread, if it may touch JS now.
  static EngineWrap* delivering();
  void add_live();
  void hold();
  void release_engine();
  void finish_close(napi_env env);

  friend Napi::Function define_engine_class(Napi::Env env);

  napi_env m_env = nullptr;
  AddonData* m_data = nullptr;
  brake_engine* m_engine = nullptr;
  Channel* m_channel = nullptr;
  Napi::FunctionReference m_on_batch;  // weak while idle, strong while live > 0
  size_t m_live = 0;
  bool m_hook = false;
  bool m_held = false;  // tsfn ref'd and onBatch strong (live calls > 0)
  bool m_draining = false;
  bool m_tearing_down = false;
  std::vector<std::string> m_functions;       // the program's function names, by index
  Slice m_slice;
  Napi::Reference<Napi::Array> m_arrays;  // keeps lib's typed arrays (the slice's storage) alive
  // Closing (see above): JS thread only, except m_close_status and
  // m_close_message (set by the closer thread, read after it is joined) and
  // m_closer_finished.
  bool m_closing = false;
  std::thread m_closer;
  std::atomic<bool> m_closer_finished{false};
  int m_close_status = BRAKE_OK;
  std::string m_close_message;
  std::vector<napi_deferred> m_close_waiters;
  napi_ref m_self = nullptr;  // the JS object, held while closing
};

}  // namespace brake_addon
