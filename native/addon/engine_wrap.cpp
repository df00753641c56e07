// The Engine wrapper: one brake_engine, one completion channel.
//
// Completion delivery. The engine is created with brake_engine_options.notify.
// A worker calls notify() when the engine's completion queue goes from empty
// to non-empty (coalesced); notify() makes one call on the engine's single
// thread-safe function; its JS-thread callback runs brake_engine_drain_max,
// whose completion callback (on_complete) writes each result into two typed
// arrays lib handed over at construction, and then calls lib's onBatch once
// for the whole slice. Nothing per call but the converted arguments and
// result: no per-call thread-safe function, async work or persistent
// reference, and for results that are numbers, booleans or null (and for
// cancellations) not even a JS value: only stores into the typed arrays.
// Calls that a cancel on the JS thread finished in place notify on that
// thread; InlineDelivery (addon.h) drains them before the cancel returns.
//
// The slice layout (the contract with lib/engine.ts, see native-types.ts):
// for completion k, meta[2k] = lib's slot for the call (the call's
// user_data), meta[2k+1] = status | origin << 8 | rep << 16, where rep says
// where the payload is: kRepValue = the next element of the `values` array,
// kRepNumber = nums[k], kRepTrue/kRepFalse/kRepNull = that constant. A
// failure's nums[k] is its call id (NaN: the id is a bigint in `values`,
// before the payload).
//
// Liveness. While live calls > 0 (counted on the JS thread: +1 per admitted
// start, -1 per drained completion) the thread-safe function is ref'd (keeps
// the event loop alive) and onBatch is held strongly (it closes over lib's
// Engine, which holds this object, so nothing with a pending promise can be
// collected). When idle, both are weak: an idle engine never delays exit and
// is collected (and its threads joined) when unreachable.
//
// Teardown. An env cleanup hook (registered after the thread-safe function,
// so it runs before Node tears that down) frees the engine: brake_engine_free
// cancels live calls, joins the workers and drains; on_complete sees
// m_tearing_down and touches no JS. Channel outlives both the engine and the
// thread-safe function (refcount), so a late notify never reaches freed memory.
//
// Invariants: m_engine, m_live, the slice state and the Channel's refs are JS-thread
// only. Channel::tsfn is read by workers under Channel::mu and cleared under
// it when Node finalizes the thread-safe function.
#include <cmath>
#include <mutex>
#include <new>
#include <string_view>

#include "addon.h"

namespace brake_addon {
namespace {

class EngineWrap;

// Where a completion's payload is (meta[2k+1] >> 16).
enum Rep : int32_t { kRepValue = 0, kRepNumber = 1, kRepTrue = 2, kRepFalse = 3, kRepNull = 4 };

// The wrap whose engine is being drained on this thread: completions carry
// lib's slot as their user_data, so on_complete finds its wrap here.
thread_local EngineWrap* t_draining = nullptr;

}  // namespace

struct Channel {
  std::mutex mu;
  napi_threadsafe_function tsfn = nullptr;  // nullptr once Node finalized it
  EngineWrap* wrap = nullptr;               // nullptr once the engine is freed
  int refs = 2;                             // engine side + thread-safe function side
};

namespace {

// JS thread only (refs counts owners that all live on it).
void release_channel(Channel* c) {
  if (--c->refs == 0) delete c;
}

void signal_channel(Channel* c) {
  std::lock_guard<std::mutex> lock(c->mu);
  if (c->tsfn) napi_call_threadsafe_function(c->tsfn, nullptr, napi_tsfn_nonblocking);
}

// A worker thread, or the JS thread finishing calls in place during a
// cancel; no engine lock held.
void notify(void* arg) {
  Channel* c = static_cast<Channel*>(arg);
  if (!InlineDelivery::record(c)) signal_channel(c);
}

void tsfn_finalize(napi_env, void* finalize_data, void*) {
  Channel* c = static_cast<Channel*>(finalize_data);
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->tsfn = nullptr;
  }
  release_channel(c);
}

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

  static void call_js(napi_env env, napi_value, void* context, void*);
  static void on_complete(void* user_data, const brake_result* result);
  static void env_cleanup(void* arg);

  // Delivers a slice (every slice when `all`: close); false when this
  // engine cannot now (freed, or already delivering).
  bool drain(napi_env env, bool all);
  static napi_value start(napi_env env, napi_callback_info info);
  void start_call(napi_env env, napi_value* argv, size_t argc);
  Napi::Value cancel(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value live_calls(const Napi::CallbackInfo& info);
  Napi::Value drain_more(const Napi::CallbackInfo& info);

 private:
  static constexpr size_t kDrainSlice = 2048;
  bool drain_slice(napi_env env, bool all);
  void add_live();
  void release_engine();
  void put_failure(napi_env env, int32_t slot, const brake_result* r, int32_t status, const char* kind,
                   const char* message, bool with_frames);
  void put(int32_t slot, int32_t code) {
    m_meta[2 * m_count] = slot;
    m_meta[2 * m_count + 1] = code;
    m_count++;
  }

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
  std::vector<std::string> m_functions;  // the program's function names, by index
  // The slice being drained (valid only inside drain_slice): lib's typed
  // arrays (held by m_arrays) and the payloads that need a JS value.
  int32_t* m_meta = nullptr;  // 2 * kDrainSlice
  double* m_nums = nullptr;   // kDrainSlice
  size_t m_count = 0;
  Napi::Reference<Napi::Array> m_arrays;
  std::vector<napi_value> m_values;
};

// Reads the data pointer of typed array `v` of `type` holding at least `n` elements.
template <typename T>
T* typed_data(napi_env env, napi_value v, napi_typedarray_type type, size_t n) {
  bool ok = false;
  if (napi_is_typedarray(env, v, &ok) != napi_ok || !ok) return nullptr;
  napi_typedarray_type t;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &t, &length, &data, nullptr, nullptr) != napi_ok) return nullptr;
  return t == type && length >= n ? static_cast<T*>(data) : nullptr;
}

// Reads an optional integer option in [0, max] into *out; throws
// InvalidArgumentError (`words` + max) and returns false otherwise.
bool read_option(napi_env env, Napi::Value v, uint32_t max, uint32_t* out, const char* words) {
  if (v.IsUndefined()) return true;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= max) || std::trunc(d) != d) {
    throw_status(env, BRAKE_INVALID_ARGUMENT, words + std::to_string(max));
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

// Reads an optional byte count (a safe integer >= 0; 0 = unlimited) into
// *out, which keeps its default when the option is undefined.
bool read_bytes_option(napi_env env, Napi::Value v, uint64_t* out, const char* name) {
  if (v.IsUndefined()) return true;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= static_cast<double>(kMaxSafeInteger)) || std::trunc(d) != d) {
    throw_status(env, BRAKE_INVALID_ARGUMENT,
                 std::string("options.") + name + " must be a whole number of bytes >= 0 (0 = unlimited)");
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

// new Engine(program, { workerThreads, maxCallDepth, callMemoryLimit, engineMemoryLimit }, onBatch,
//            meta: Int32Array, nums: Float64Array)
EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  napi_env env = info.Env();
  m_env = env;
  m_data = addon_data(env);
  const brake_program* program = info.Length() > 0 ? unwrap_program(env, info[0]) : nullptr;
  if (info.Length() >= 5) {
    m_meta = typed_data<int32_t>(env, info[3], napi_int32_array, 2 * kDrainSlice);
    m_nums = typed_data<double>(env, info[4], napi_float64_array, kDrainSlice);
  }
  if (!program || !info[1].IsObject() || !info[2].IsFunction() || !m_meta || !m_nums) {
    throw_type_error(env, "Engine(program, options, onBatch, meta: Int32Array, nums: Float64Array) (arrays of a slice)");
    return;
  }
  Napi::Array arrays = Napi::Array::New(env, 2);
  arrays.Set(0u, info[3]);
  arrays.Set(1u, info[4]);
  m_arrays = Napi::Persistent(arrays);
  Napi::Object opts = info[1].As<Napi::Object>();
  brake_engine_options o;
  brake_engine_options_init(&o);
  // The limits and words of brake.h and lib/engine.ts; never a wrapped uint32.
  if (!read_option(env, opts.Get("workerThreads"), BRAKE_MAX_WORKER_THREADS, &o.worker_threads,
                   "options.workerThreads must be an integer from 0 (one per core) to ") ||
      !read_option(env, opts.Get("maxCallDepth"), BRAKE_MAX_CALL_DEPTH, &o.max_call_depth,
                   "options.maxCallDepth must be an integer from 0 (default 1000) to ") ||
      !read_bytes_option(env, opts.Get("callMemoryLimit"), &o.call_memory_limit, "callMemoryLimit") ||
      !read_bytes_option(env, opts.Get("engineMemoryLimit"), &o.engine_memory_limit, "engineMemoryLimit"))
    return;

  m_channel = new Channel();
  napi_value name;
  napi_create_string_utf8(env, "brake.completions", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, m_channel, tsfn_finalize, m_channel,
                                      call_js, &m_channel->tsfn) != napi_ok) {
    delete m_channel;
    m_channel = nullptr;
    throw_status(env, BRAKE_INTERNAL, "cannot create the completion channel");
    return;
  }
  napi_unref_threadsafe_function(env, m_channel->tsfn);
  m_channel->wrap = this;
  o.notify = notify;
  o.notify_data = m_channel;

  int rc = brake_engine_create(program, &o, &m_engine);
  if (rc != BRAKE_OK) {
    m_engine = nullptr;
    std::string msg = brake_last_error();
    release_engine();
    throw_status(env, rc, msg.empty() ? brake_status_message(rc) : msg);
    return;
  }
  m_on_batch = Napi::Weak(info[2].As<Napi::Function>());
  for (size_t i = 0, n = brake_program_function_count(program); i < n; i++) {
    const char* name = brake_program_function_name(program, i);
    m_functions.emplace_back(name ? name : "");
  }
  napi_value start_fn;
  napi_create_function(env, "start", NAPI_AUTO_LENGTH, start, this, &start_fn);
  napi_property_descriptor d = {"start", nullptr, nullptr, nullptr, nullptr, start_fn, napi_default, nullptr};
  napi_define_properties(env, info.This(), 1, &d);
  napi_type_tag_object(env, info.This(), &kEngineTag);
  napi_add_env_cleanup_hook(env, env_cleanup, this);
  m_hook = true;
}

EngineWrap::~EngineWrap() {
  // Collected: idle by construction (a live call holds onBatch strongly).
  if (m_hook) napi_remove_env_cleanup_hook(m_env, env_cleanup, this);
  m_hook = false;
  m_tearing_down = true;
  release_engine();
}

// Frees the engine (cancel + join + drain into nothing when tearing down),
// then lets go of the channel and the thread-safe function.
void EngineWrap::release_engine() {
  if (m_engine) {
    // Its remaining completions go nowhere (on_complete ignores them).
    EngineWrap* outer = t_draining;
    t_draining = nullptr;
    brake_engine_free(m_engine);
    t_draining = outer;
    m_engine = nullptr;
  }
  if (m_channel) {
    Channel* c = m_channel;
    m_channel = nullptr;
    c->wrap = nullptr;
    napi_threadsafe_function tsfn;
    {
      std::lock_guard<std::mutex> lock(c->mu);
      tsfn = c->tsfn;
    }
    if (tsfn) napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
    release_channel(c);
  }
}

void EngineWrap::env_cleanup(void* arg) {
  EngineWrap* w = static_cast<EngineWrap*>(arg);
  w->m_hook = false;
  w->m_tearing_down = true;
  w->release_engine();
}

void EngineWrap::call_js(napi_env env, napi_value, void* context, void*) {
  Channel* c = static_cast<Channel*>(context);
  if (!env || !c->wrap) return;
  c->wrap->drain(env, false);
}

// Delivers at most kDrainSlice completions per JS turn; when more remain,
// onBatch is told so and lib schedules the next slice with setImmediate, so
// a flood (100k calls cancelled by one abort) never stalls the event loop for
// longer than one slice. `all` (close) delivers every slice before returning.
bool EngineWrap::drain(napi_env env, bool all) {
  if (!m_engine || m_draining) return false;
  bool more;
  do {
    // onBatch threw (its exception is still pending): a slice taken now
    // could not be handed to JS, so the rest stays queued for a later turn.
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      if (m_channel) signal_channel(m_channel);
      return true;
    }
    more = drain_slice(env, all);
  } while (all && more && m_engine);
  return true;
}

// One slice; returns whether completions remain queued.
bool EngineWrap::drain_slice(napi_env env, bool all) {
  m_draining = true;
  m_count = 0;
  m_values.clear();
  int more = 0;
  EngineWrap* outer = t_draining;
  t_draining = this;
  brake_engine_drain_max(m_engine, kDrainSlice, &more);
  t_draining = outer;
  m_draining = false;
  size_t n = m_count;
  napi_value values = nullptr;
  if (!m_values.empty()) {
    napi_create_array_with_length(env, m_values.size(), &values);
    for (size_t i = 0; i < m_values.size(); i++) napi_set_element(env, values, static_cast<uint32_t>(i), m_values[i]);
  }
  m_values.clear();
  napi_value cb = nullptr;
  if (!m_on_batch.IsEmpty()) {
    Napi::Function f = m_on_batch.Value();
    if (!f.IsEmpty()) cb = f;
  }
  if (m_live == 0 && m_held) {
    m_held = false;
    if (m_channel && m_channel->tsfn) napi_unref_threadsafe_function(env, m_channel->tsfn);
    napi_reference_unref(env, m_on_batch, nullptr);
  }
  if ((n > 0 || more) && cb) {
    napi_value args[3];
    napi_create_uint32(env, static_cast<uint32_t>(n), &args[0]);
    if (values) args[1] = values;
    else napi_get_undefined(env, &args[1]);
    // During close the remaining slices follow at once, not on a later turn.
    napi_get_boolean(env, more != 0 && !all, &args[2]);
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, cb, 3, args, nullptr);
  }
  return more != 0;
}

Napi::Value EngineWrap::drain_more(const Napi::CallbackInfo& info) {
  drain(info.Env(), false);
  return Napi::Value();
}

// Runs inside brake_engine_drain_max (or brake_engine_free), on the JS thread.
void EngineWrap::on_complete(void* user_data, const brake_result* r) {
  EngineWrap* w = t_draining;
  if (!w) return;  // freed while tearing down: nobody to tell
  if (w->m_live > 0) w->m_live--;
  if (w->m_tearing_down || !w->m_draining) return;
  napi_env env = w->m_env;
  int32_t slot = static_cast<int32_t>(reinterpret_cast<uintptr_t>(user_data));
  int32_t status = brake_result_status(r);
  if (status == BRAKE_OK) {
    const brake_value* v = brake_result_value(r);
    switch (brake_value_kind(v)) {
      case BRAKE_KIND_NULL: w->put(slot, status | kRepNull << 16); return;
      case BRAKE_KIND_BOOL: w->put(slot, status | (brake_value_get_bool(v) ? kRepTrue : kRepFalse) << 16); return;
      case BRAKE_KIND_FLOAT:
        w->m_nums[w->m_count] = brake_value_get_float(v);
        w->put(slot, status | kRepNumber << 16);
        return;
      case BRAKE_KIND_INT: {
        int64_t i = brake_value_get_int(v);
        if (i >= -kMaxSafeInteger && i <= kMaxSafeInteger) {
          w->m_nums[w->m_count] = static_cast<double>(i);
          w->put(slot, status | kRepNumber << 16);
          return;
        }
        break;  // a bigint
      }
      default: break;
    }
    std::string too_large;
    napi_value js = value_to_js(env, w->m_data, v, &too_large);
    if (!js) {
      // No JS value for the result: the call fails instead of resolving
      // with a silently wrong value.
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      napi_value ignored;
      if (pending) napi_get_and_clear_last_exception(env, &ignored);
      if (too_large.empty())
        w->put_failure(env, slot, r, BRAKE_SCRIPT_ERROR, "internal", "the result could not be converted to a JS value",
                       false);
      else
        w->put_failure(env, slot, r, BRAKE_SCRIPT_ERROR, "value_too_large", too_large.c_str(), false);
      return;
    }
    w->m_values.push_back(js);
    w->put(slot, status | kRepValue << 16);
    return;
  }
  w->put_failure(env, slot, r, status, brake_result_error_kind(r), brake_result_message(r), true);
}

// Failure messages are for people: a longer one (a script that panics with
// a huge string) is cut at a character boundary, which also keeps it far
// below V8's string limit.
constexpr size_t kMaxMessageBytes = size_t(1) << 20;

napi_value message_to_js(napi_env env, const char* message) {
  std::string_view m(message ? message : "");
  std::string cut;
  if (m.size() > kMaxMessageBytes) {
    size_t end = kMaxMessageBytes;
    while (end > 0 && (static_cast<unsigned char>(m[end]) & 0xC0) == 0x80) end--;
    cut.assign(m.substr(0, end));
    cut += "... (cut; " + std::to_string(m.size()) + " bytes in all)";
    m = cut;
  }
  napi_value out = nullptr;
  napi_create_string_utf8(env, m.data(), m.size(), &out);
  return out;
}

// Failures carry the call id (for the error's callId): nums[k] when it is
// a safe integer, else NaN there and a bigint in `values` before the
// payload. `with_frames`: the script stack of `r` (a failure of the call
// itself, not of converting its value).
void EngineWrap::put_failure(napi_env env, int32_t slot, const brake_result* r, int32_t status, const char* kind,
                             const char* message, bool with_frames) {
  brake_call_id id = brake_result_call_id(r);
  if (id <= static_cast<brake_call_id>(kMaxSafeInteger)) {
    m_nums[m_count] = static_cast<double>(id);
  } else {
    m_nums[m_count] = std::nan("");
    m_values.push_back(call_id_to_js(env, id));
  }
  int32_t origin = static_cast<int32_t>(brake_result_origin(r));
  if (status == BRAKE_CANCELLED || status == BRAKE_TIMEOUT) {
    // The common failure: just the origin (lib supplies the message).
    put(slot, status | origin << 8 | kRepNull << 16);
    return;
  }
  napi_value failure, item;
  napi_create_array_with_length(env, 3, &failure);
  napi_set_element(env, failure, 0, message_to_js(env, message));
  napi_create_string_utf8(env, kind ? kind : "", NAPI_AUTO_LENGTH, &item);
  napi_set_element(env, failure, 1, item);
  size_t nf = with_frames ? brake_result_frame_count(r) : 0;
  napi_value frames;
  napi_create_array_with_length(env, nf * 2, &frames);
  for (size_t i = 0; i < nf; i++) {
    const char* fn = brake_result_frame_function(r, i);
    napi_create_string_utf8(env, fn ? fn : "", NAPI_AUTO_LENGTH, &item);
    napi_set_element(env, frames, static_cast<uint32_t>(2 * i), item);
    napi_create_uint32(env, brake_result_frame_line(r, i), &item);
    napi_set_element(env, frames, static_cast<uint32_t>(2 * i + 1), item);
  }
  napi_set_element(env, failure, 2, frames);
  m_values.push_back(failure);
  put(slot, status | origin << 8 | kRepValue << 16);
}

void EngineWrap::add_live() {
  if (m_live++ == 0 && !m_held) {
    m_held = true;
    if (m_channel && m_channel->tsfn) napi_ref_threadsafe_function(m_env, m_channel->tsfn);
    napi_reference_ref(m_env, m_on_batch, nullptr);
  }
}

// start(id, slot, fn, timeoutMs, token | undefined, ...args): `slot` is lib's
// index for the call, handed back with its completion (see drain_slice);
// `fn` is a function's name or its index in the program (lib resolves names
// it knows). The hottest entry point, so it is a plain N-API callback bound
// to this wrap (no unwrap, no argument copy), installed on each Engine object.
napi_value EngineWrap::start(napi_env env, napi_callback_info cbinfo) {
  napi_value small[16];
  size_t argc = 16;
  void* data = nullptr;
  napi_get_cb_info(env, cbinfo, &argc, small, nullptr, &data);
  napi_value* argv = small;
  std::vector<napi_value> large;
  if (argc > 16) {
    large.resize(argc);
    napi_get_cb_info(env, cbinfo, &argc, large.data(), nullptr, nullptr);
    argv = large.data();
  }
  static_cast<EngineWrap*>(data)->start_call(env, argv, argc);
  return nullptr;
}

void EngineWrap::start_call(napi_env env, napi_value* argv, size_t argc) {
  if (!m_engine) return throw_status(env, BRAKE_ENGINE_CLOSED, "the engine is closed");
  brake_call_id id = 0;
  if (argc < 5 || !js_to_call_id(env, argv[0], &id))
    return throw_status(env, BRAKE_INVALID_ARGUMENT,
                        "call id must be a non-zero safe-integer number or a bigint below 2^64");
  int32_t slot = -1;
  if (napi_get_value_int32(env, argv[1], &slot) != napi_ok || slot < 0)
    return throw_type_error(env, "slot must be a non-negative int32");
  std::string name;
  const char* fn = nullptr;
  uint32_t index = 0;
  napi_valuetype fn_type;
  napi_typeof(env, argv[2], &fn_type);
  if (fn_type == napi_number) {
    if (napi_get_value_uint32(env, argv[2], &index) == napi_ok && index < m_functions.size())
      fn = m_functions[index].c_str();
  } else if (read_string(env, argv[2], &name)) {
    fn = name.c_str();
  }
  if (!fn) return throw_type_error(env, "function must be a name or a function index");
  size_t nargs = argc - 5;
  brake_value* small[8];
  std::vector<brake_value*> large;
  brake_value** args = small;
  if (nargs > 8) {
    large.resize(nargs);
    args = large.data();
  }
  std::string error;
  napi_value cause = nullptr;
  size_t built = 0;
  for (; built < nargs; built++) {
    args[built] = js_to_value(env, m_data, argv[5 + built], &error, &cause);
    if (!args[built]) break;
  }
  int rc = BRAKE_OK;
  if (built == nargs) {
    brake_call_options opts;
    brake_call_options_init(&opts);
    double timeout = 0;
    napi_get_value_double(env, argv[3], &timeout);
    if (!(timeout >= 0 && timeout <= static_cast<double>(BRAKE_MAX_TIMEOUT_MS)))
      error = "options.timeoutMs must be a number from 0 (no deadline) to " + std::to_string(BRAKE_MAX_TIMEOUT_MS) +
              " (365 days)";
    else if (timeout > 0)  // rounded up: 0.5 ms must not become 0 (= no deadline)
      opts.timeout_ms = static_cast<uint64_t>(std::ceil(timeout));
    napi_valuetype token_type;
    napi_typeof(env, argv[4], &token_type);
    if (token_type != napi_undefined && token_type != napi_null) {
      opts.token = unwrap_token(env, argv[4]);
      if (!opts.token) error = "token must be a Token";
    }
    // A getter run by the conversion may have closed the engine.
    if (error.empty() && !m_engine) rc = BRAKE_ENGINE_CLOSED;
    else if (error.empty())
      rc = brake_call_start(m_engine, id, fn, args, nargs, &opts, on_complete,
                            reinterpret_cast<void*>(static_cast<uintptr_t>(slot)));
  }
  if (rc == BRAKE_ENGINE_CLOSED && !m_engine) error = "the engine is closed";
  else if (rc != BRAKE_OK) error = brake_last_error();
  for (size_t i = 0; i < built; i++) brake_value_free(args[i]);
  if (rc != BRAKE_OK) return throw_status(env, rc, error.empty() ? brake_status_message(rc) : error);
  if (!error.empty()) {
    if (built < nargs) error = "argument " + std::to_string(built) + ": " + error;
    return throw_status(env, BRAKE_INVALID_ARGUMENT, error, cause);
  }
  add_live();
}

Napi::Value EngineWrap::cancel(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  brake_call_id id = 0;
  if (info.Length() < 1 || !js_to_call_id(env, info[0], &id)) {
    throw_status(env, BRAKE_INVALID_ARGUMENT,
                 "call id must be a non-zero safe-integer number or a bigint below 2^64");
    return Napi::Value();
  }
  if (!m_engine) return Napi::Boolean::New(env, false);
  InlineDelivery delivery;
  int rc = brake_cancel(m_engine, id);
  delivery.deliver(env);
  if (rc != BRAKE_OK && rc != BRAKE_NOT_FOUND) {
    throw_last_error(env, rc);
    return Napi::Value();
  }
  return Napi::Boolean::New(env, rc == BRAKE_OK);
}

// Cancels live calls, joins the workers, delivers the remaining completions
// (origin close) through onBatch, then frees the engine. Idempotent.
Napi::Value EngineWrap::close(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (!m_engine) return Napi::Value();
  if (m_draining) {
    throw_status(env, BRAKE_MISUSE, "close() cannot be called while completions are being delivered");
    return Napi::Value();
  }
  int rc = brake_engine_close(m_engine);
  if (rc != BRAKE_OK) {
    throw_last_error(env, rc);
    return Napi::Value();
  }
  drain(env, true);
  if (m_hook) napi_remove_env_cleanup_hook(m_env, env_cleanup, this);
  m_hook = false;
  release_engine();
  return Napi::Value();
}

Napi::Value EngineWrap::live_calls(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), m_engine ? static_cast<double>(brake_engine_live_calls(m_engine)) : 0.0);
}

thread_local InlineDelivery* t_delivery = nullptr;

}  // namespace

InlineDelivery::InlineDelivery() : m_outer(t_delivery) { t_delivery = this; }

InlineDelivery::~InlineDelivery() { deliver(nullptr); }

bool InlineDelivery::record(Channel* c) {
  InlineDelivery* d = t_delivery;
  if (!d) return false;
  for (Channel* seen : d->m_channels)
    if (seen == c) return true;
  try {
    d->m_channels.push_back(c);
  } catch (const std::bad_alloc&) {
    return false;  // signalled instead
  }
  c->refs++;
  return true;
}

// Closes the delivery (once) and drains each recorded engine; with no env
// (or an engine that cannot drain now) it signals the channel instead.
void InlineDelivery::deliver(napi_env env) {
  if (t_delivery != this) return;  // delivered already
  t_delivery = m_outer;
  for (Channel* c : m_channels) {
    if (!env || !c->wrap || !c->wrap->drain(env, false)) signal_channel(c);
    release_channel(c);
  }
  m_channels.clear();
}

Napi::Function define_engine_class(Napi::Env env) {
  return EngineWrap::DefineClass(env, "Engine",
                                 {EngineWrap::InstanceMethod("cancel", &EngineWrap::cancel),
                                  EngineWrap::InstanceMethod("close", &EngineWrap::close),
                                  EngineWrap::InstanceMethod("liveCalls", &EngineWrap::live_calls),
                                  EngineWrap::InstanceMethod("drain", &EngineWrap::drain_more)});
}

}  // namespace brake_addon
