#include "engine_wrap.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <new>

namespace brake_addon {

namespace {

// The wrap whose engine is being drained on this thread: events carry lib's
// slot (or nothing) as their user_data, so the callbacks find their wrap here.
thread_local EngineWrap* t_draining = nullptr;

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


// An operation id from JS (a positive safe integer); 0 when it is not one.
brake_op_id read_op_id(Napi::Value v) {
  if (!v.IsNumber()) return 0;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= static_cast<double>(kMaxSafeInteger)) || std::trunc(d) != d) return 0;
  return static_cast<brake_op_id>(d);
}

}  // namespace

// new Engine(program, { workerThreads, maxCallDepth, callMemoryLimit, engineMemoryLimit }, onBatch,
//            meta: Int32Array, nums: Float64Array)
EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  napi_env env = info.Env();
  m_env = env;
  m_data = addon_data(env);
  const brake_program* program = info.Length() > 0 ? unwrap_program(env, info[0]) : nullptr;
  bool arrays = info.Length() >= 5 && m_slice.attach(env, info[3], info[4]);
  if (!program || !info[1].IsObject() || !info[2].IsFunction() || !arrays) {
    throw_type_error(env, "Engine(program, options, onBatch, meta: Int32Array, nums: Float64Array) (arrays of a slice)");
    return;
  }
  Napi::Array kept = Napi::Array::New(env, 2);
  kept.Set(0u, info[3]);
  kept.Set(1u, info[4]);
  m_arrays = Napi::Persistent(kept);
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

  // env: [names, values] (lib/engine.ts checked them: strings).
  std::vector<std::string> env_strings;
  std::vector<const char*> env_names, env_values;
  Napi::Value env_v = opts.Get("env");
  if (env_v.IsArray()) {
    Napi::Array pair = env_v.As<Napi::Array>();
    Napi::Value names_v = pair.Get(0u), values_v = pair.Get(1u);
    if (!names_v.IsArray() || !values_v.IsArray() ||
        names_v.As<Napi::Array>().Length() != values_v.As<Napi::Array>().Length()) {
      throw_type_error(env, "options.env must be [names, values]");
      return;
    }
    Napi::Array names = names_v.As<Napi::Array>(), values = values_v.As<Napi::Array>();
    uint32_t n = names.Length();
    env_strings.reserve(2 * size_t(n)); // no reallocation: the pointers below stay valid
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value k = names.Get(i), v = values.Get(i);
      if (!k.IsString() || !v.IsString()) {
        throw_type_error(env, "options.env must map names to strings");
        return;
      }
      env_strings.push_back(k.As<Napi::String>().Utf8Value());
      env_strings.push_back(v.As<Napi::String>().Utf8Value());
    }
    for (uint32_t i = 0; i < n; i++) {
      env_names.push_back(env_strings[2 * size_t(i)].c_str());
      env_values.push_back(env_strings[2 * size_t(i) + 1].c_str());
    }
    o.env_names = env_names.data();
    o.env_values = env_values.data();
    o.env_count = n;
  }

  o.allow_shell = opts.Get("allowShell").ToBoolean().Value() ? 1 : 0;

  // Every host function the program declares goes to lib, by index.
  // (The program's own strings: they live as long as it, unlike copies in
  // a vector that may move them as it grows.)
  std::vector<brake_host_binding> bindings;
  for (size_t i = 0, n = brake_program_host_function_count(program); i < n; i++)
    bindings.push_back(brake_host_binding{brake_program_host_function_name(program, i), on_host_call, on_host_cancel, nullptr});
  o.host_functions = bindings.data();
  o.host_function_count = bindings.size();

  // HTTP: { transport: boolean, libcurlOnly: boolean, timeoutMs, maxResponseBytes, allowedHosts }
  // (lib/engine.ts checks them first). With a transport, fetch requests come
  // to lib as host calls with the index after the declared functions.
  std::vector<std::string> allowed;
  std::vector<const char*> allowed_ptrs;
  std::string ca_pem;
  Napi::Value http_v = opts.Get("http");
  if (http_v.IsObject()) {
    Napi::Object http = http_v.As<Napi::Object>();
    if (http.Get("transport").ToBoolean().Value())
      o.http_transport = brake_host_binding{"baml.http.fetch", on_host_call, on_host_cancel, nullptr};
    o.http_libcurl_only = http.Get("libcurlOnly").ToBoolean().Value() ? 1 : 0;
    uint64_t redirects = 0;
    if (!read_bytes_option(env, http.Get("timeoutMs"), &o.http_timeout_ms, "http.timeoutMs") ||
        !read_bytes_option(env, http.Get("connectTimeoutMs"), &o.http_connect_timeout_ms, "http.connectTimeoutMs") ||
        !read_bytes_option(env, http.Get("maxResponseBytes"), &o.http_max_response_bytes, "http.maxResponseBytes") ||
        !read_bytes_option(env, http.Get("maxRedirects"), &redirects, "http.maxRedirects"))
      return;
    o.http_max_redirects = static_cast<uint32_t>(std::min<uint64_t>(redirects, 1000));
    Napi::Value ca = http.Get("ca");
    if (ca.IsString()) {
      ca_pem = ca.As<Napi::String>().Utf8Value();
      o.http_ca_pem = ca_pem.c_str();
    }
    Napi::Value hosts = http.Get("allowedHosts");
    if (hosts.IsArray()) {
      Napi::Array a = hosts.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value h = a.Get(i);
        if (!h.IsString()) {
          throw_status(env, BRAKE_INVALID_ARGUMENT, "options.http.allowedHosts must be an array of strings");
          return;
        }
        allowed.push_back(h.As<Napi::String>().Utf8Value());
      }
      for (const std::string& h : allowed) allowed_ptrs.push_back(h.c_str());
      static const char* const kNoHosts[1] = {nullptr}; // [] allows no host (NULL would allow all)
      o.http_allowed_hosts = allowed_ptrs.empty() ? kNoHosts : allowed_ptrs.data();
      o.http_allowed_host_count = allowed_ptrs.size();
    }
  }

  m_channel = new Channel();
  napi_value name;
  napi_create_string_utf8(env, "brake.events", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, m_channel, channel_finalize, m_channel,
                                      call_js, &m_channel->tsfn) != napi_ok) {
    delete m_channel;
    m_channel = nullptr;
    throw_status(env, BRAKE_INTERNAL, "cannot create the event channel");
    return;
  }
  napi_unref_threadsafe_function(env, m_channel->tsfn);
  m_channel->wrap = this;
  o.notify = channel_notify;
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
    const char* fn = brake_program_function_name(program, i);
    m_functions.emplace_back(fn ? fn : "");
  }
  napi_value start_fn, start_stream_fn;
  napi_create_function(env, "start", NAPI_AUTO_LENGTH, start, this, &start_fn);
  napi_create_function(env, "startStream", NAPI_AUTO_LENGTH, start_stream, this, &start_stream_fn);
  napi_property_descriptor d[] = {
      {"start", nullptr, nullptr, nullptr, nullptr, start_fn, napi_default, nullptr},
      {"startStream", nullptr, nullptr, nullptr, nullptr, start_stream_fn, napi_default, nullptr},
  };
  napi_define_properties(env, info.This(), 2, d);
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
  if (m_closer.joinable()) m_closer.join();
  if (m_engine) {
    // Its remaining events go nowhere (the callbacks find no wrap).
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
  EngineWrap* w = c->wrap;
  if (w->m_closing) {
    if (!w->m_draining && w->m_closer_finished.load()) w->finish_close(env);
    return;
  }
  w->drain(env, false);
}

// Delivers at most Slice::kCapacity events per JS turn; when more remain,
// onBatch is told so and lib schedules the next slice with setImmediate, so
// a flood (100k calls cancelled by one abort) never stalls the event loop for
// longer than one slice. `all` (close) delivers every slice before returning.
bool EngineWrap::drain(napi_env env, bool all) {
  if (!m_engine || m_draining) return false;
  // Closing: everything is delivered at once by finish_close, as one
  // close() used to, so calls rejected by the close settle together.
  if (m_closing && !all) return true;
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

// One slice; returns whether events remain queued.
bool EngineWrap::drain_slice(napi_env env, bool all) {
  m_draining = true;
  m_slice.reset();
  int more = 0;
  EngineWrap* outer = t_draining;
  t_draining = this;
  brake_engine_drain_max(m_engine, Slice::kCapacity, &more);
  t_draining = outer;
  size_t n = m_slice.count();
  napi_value cb = nullptr;
  if (!m_on_batch.IsEmpty()) {
    Napi::Function f = m_on_batch.Value();
    if (!f.IsEmpty()) cb = f;
  }
  if (m_live == 0 && m_held && !m_closing) {
    m_held = false;
    if (m_channel && m_channel->tsfn) napi_unref_threadsafe_function(env, m_channel->tsfn);
    napi_reference_unref(env, m_on_batch, nullptr);
  }
  if ((n > 0 || more) && cb) {
    // onBatch(count, flags, ...values): the payloads as arguments (V8 builds
    // lib's rest array much faster than element-by-element N-API stores),
    // or, past kSpreadValues, as one array (flags & kValuesArray).
    // During close the remaining slices follow at once, not on a later turn.
    int32_t flags = (more != 0 && !all ? kMoreEvents : 0);
    std::vector<napi_value>& values = m_slice.payloads();
    bool spread = values.size() <= kSpreadValues;
    std::vector<napi_value> args(2);
    napi_create_uint32(env, static_cast<uint32_t>(n), &args[0]);
    if (spread) {
      args.insert(args.end(), values.begin(), values.end());
    } else {
      flags |= kValuesArray;
      args.push_back(m_slice.values(env));
    }
    napi_create_int32(env, flags, &args[1]);
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, cb, args.size(), args.data(), nullptr);
  }
  // Only now: lib reads the slice until onBatch returns.
  m_draining = false;
  return more != 0;
}

Napi::Value EngineWrap::drain_more(const Napi::CallbackInfo& info) {
  drain(info.Env(), false);
  return Napi::Value();
}

EngineWrap* EngineWrap::delivering() {
  EngineWrap* w = t_draining;
  return w && !w->m_tearing_down && w->m_draining ? w : nullptr;
}

// The event callbacks run inside brake_engine_drain_max (or
// brake_engine_free), on the JS thread.
void EngineWrap::on_complete(void* user_data, const brake_result* r) {
  EngineWrap* w = t_draining;
  if (!w) return;  // freed while tearing down: nobody to tell
  if (w->m_live > 0) w->m_live--;
  if (delivering()) w->m_slice.completion(w->m_env, w->m_data, user_data, r);
}

void EngineWrap::on_host_call(void*, const brake_host_call* call) {
  EngineWrap* w = delivering();
  if (!w) return;  // tearing down: the engine cancels the call anyway
  std::string why;
  if (!w->m_slice.host_call(w->m_env, w->m_data, call, &why))
    brake_host_fail(w->m_engine, brake_host_call_op(call), why.c_str(), "ERR_BRAKE_VALUE_TOO_LARGE");
}

void EngineWrap::on_host_cancel(void*, brake_op_id op, brake_origin origin) {
  if (EngineWrap* w = delivering()) w->m_slice.host_cancel(op, origin);
}

void EngineWrap::on_stream(void* user_data, const brake_stream_event* ev) {
  if (EngineWrap* w = delivering()) w->m_slice.stream(w->m_env, w->m_data, user_data, ev);
}

void EngineWrap::add_live() {
  if (m_live++ == 0) hold();
}

// Keeps the event loop alive and onBatch strong (see Liveness above).
void EngineWrap::hold() {
  if (m_held) return;
  m_held = true;
  if (m_channel && m_channel->tsfn) napi_ref_threadsafe_function(m_env, m_channel->tsfn);
  napi_reference_ref(m_env, m_on_batch, nullptr);
}

// start(id, slot, fn, timeoutMs, token | undefined, tags | undefined, ...args)
// (tags: [names, values] or undefined): `slot` is lib's index for the call,
// handed back with its completion (see drain_slice);
// `fn` is a function's name or its index in the program (lib resolves names
// it knows). The hottest entry point, so it is a plain N-API callback bound
// to this wrap (no unwrap, no argument copy), installed on each Engine object.
napi_value EngineWrap::start(napi_env env, napi_callback_info cbinfo) { return start_with(env, cbinfo, false); }

// startStream(...): as start, with the call's stream events (brake.h
// "streams") delivered to lib in the slice (kStream entries).
napi_value EngineWrap::start_stream(napi_env env, napi_callback_info cbinfo) { return start_with(env, cbinfo, true); }

napi_value EngineWrap::start_with(napi_env env, napi_callback_info cbinfo, bool stream) {
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
  static_cast<EngineWrap*>(data)->start_call(env, argv, argc, stream);
  return nullptr;
}

void EngineWrap::start_call(napi_env env, napi_value* argv, size_t argc, bool stream) {
  if (!m_engine || m_closing) return throw_status(env, BRAKE_ENGINE_CLOSED, "the engine is closed");
  brake_call_id id = 0;
  if (argc < 6 || !js_to_call_id(env, argv[0], &id))
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
  size_t nargs = argc - 6;
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
    args[built] = js_to_value(env, m_data, argv[6 + built], &error, &cause);
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
    Tags tags;
    if (error.empty() && !read_tags(env, argv[5], tags, error)) error = "options.tags: " + error;
    opts.tag_names = tags.names.data();
    opts.tag_values = tags.values.data();
    opts.tag_count = tags.names.size();
    if (stream) {
      opts.stream = on_stream;
      opts.stream_user_data = reinterpret_cast<void*>(static_cast<uintptr_t>(slot));
    }
    // A getter run by the conversion may have closed the engine.
    if (error.empty() && (!m_engine || m_closing)) rc = BRAKE_ENGINE_CLOSED;
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

// Tags as lib passes them: undefined, or [names, values] (two arrays of
// strings). Their text lives in `out` while the pointers are used.
bool EngineWrap::read_tags(napi_env env, napi_value v, Tags& out, std::string& error) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) return true;
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  uint32_t n = 0;
  napi_value names = nullptr, values = nullptr;
  if (is_array) {
    napi_get_element(env, v, 0, &names);
    napi_get_element(env, v, 1, &values);
  }
  uint32_t nv = 0;
  if (!is_array || napi_get_array_length(env, names, &n) != napi_ok || napi_get_array_length(env, values, &nv) != napi_ok ||
      n != nv) {
    error = "must be [names, values]";
    return false;
  }
  out.text.resize(size_t(n) * 2);
  for (uint32_t i = 0; i < n; i++) {
    napi_value name, value;
    napi_get_element(env, names, i, &name);
    napi_get_element(env, values, i, &value);
    if (!read_string(env, name, &out.text[2 * i]) || !read_string(env, value, &out.text[2 * i + 1])) {
      error = "names and values must be strings";
      return false;
    }
  }
  for (uint32_t i = 0; i < n; i++) {
    out.names.push_back(out.text[2 * i].c_str());
    out.values.push_back(out.text[2 * i + 1].c_str());
  }
  return true;
}

// renderPrompt's and parse's timeoutMs (a number: a fraction rounds up),
// and that the engine is open; throws and returns false otherwise.
bool EngineWrap::host_timeout_and_open(napi_env env, const Napi::Value& value, uint64_t* timeout_ms) {
  double timeout = value.As<Napi::Number>().DoubleValue();
  if (!(timeout >= 0 && timeout <= static_cast<double>(BRAKE_MAX_TIMEOUT_MS))) {
    throw_status(env, BRAKE_INVALID_ARGUMENT,
                 "options.timeoutMs must be a number from 0 (none) to " + std::to_string(BRAKE_MAX_TIMEOUT_MS));
    return false;
  }
  if (!m_engine || m_closing) {
    throw_status(env, BRAKE_ENGINE_CLOSED, "the engine is closed");
    return false;
  }
  *timeout_ms = static_cast<uint64_t>(std::ceil(timeout));
  return true;
}

// renderPrompt(function: string, args: unknown[], client: string | undefined, tags, timeoutMs: number):
// brake_engine_render_prompt's map as a JS object (throws its failure).
Napi::Value EngineWrap::render_prompt(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  std::string fn, client;
  Tags tags;
  std::string tag_error;
  if (info.Length() < 5 || !read_string(env, info[0], &fn) || !info[1].IsArray() ||
      (!info[2].IsUndefined() && !read_string(env, info[2], &client)) || !read_tags(env, info[3], tags, tag_error) ||
      !info[4].IsNumber()) {
    throw_type_error(env,
                     "renderPrompt(function: string, args: unknown[], client?: string, tags?: [string[], string[]], timeoutMs: number)");
    return Napi::Value();
  }
  uint64_t timeout_ms = 0;
  if (!host_timeout_and_open(env, info[4], &timeout_ms)) return Napi::Value();
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<brake_value*> args;
  std::string error;
  napi_value cause = nullptr;
  for (uint32_t i = 0; i < list.Length(); i++) {
    brake_value* v = js_to_value(env, m_data, list.Get(i), &error, &cause);
    if (!v) break;
    args.push_back(v);
  }
  brake_value* out = nullptr;
  int rc = BRAKE_OK;
  if (args.size() == list.Length()) {
    // A getter run by the conversion may have closed the engine.
    brake_render_options opts;
    brake_render_options_init(&opts);
    opts.client = client.c_str();
    opts.tag_names = tags.names.data();
    opts.tag_values = tags.values.data();
    opts.tag_count = tags.names.size();
    opts.timeout_ms = timeout_ms;
    rc = m_engine ? brake_engine_render_prompt(m_engine, fn.c_str(), args.data(), args.size(), &opts, &out)
                  : BRAKE_ENGINE_CLOSED;
    if (rc != BRAKE_OK) error = m_engine ? brake_last_error() : "the engine is closed";
  } else {
    error = "argument " + std::to_string(args.size() + 1) + ": " + error;
    rc = BRAKE_INVALID_ARGUMENT;
  }
  for (brake_value* v : args) brake_value_free(v);
  if (rc != BRAKE_OK) {
    throw_status(env, rc, error, cause);
    return Napi::Value();
  }
  std::string too_large;
  napi_value js = value_to_js(env, m_data, out, &too_large);
  brake_value_free(out);
  if (!js) {
    throw_status(env, BRAKE_INVALID_ARGUMENT, too_large.empty() ? "the prompt has no JS value" : too_large);
    return Napi::Value();
  }
  return Napi::Value(env, js);
}

// parse(function: string, text: string, partial: boolean, timeoutMs: number):
// brake_engine_parse's value as JS (throws its failure).
Napi::Value EngineWrap::parse(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  std::string fn, text;
  if (info.Length() < 4 || !read_string(env, info[0], &fn) || !read_string(env, info[1], &text) || !info[2].IsBoolean() ||
      !info[3].IsNumber()) {
    throw_type_error(env, "parse(function: string, text: string, partial: boolean, timeoutMs: number)");
    return Napi::Value();
  }
  uint64_t timeout_ms = 0;
  if (!host_timeout_and_open(env, info[3], &timeout_ms)) return Napi::Value();
  brake_parse_options opts;
  brake_parse_options_init(&opts);
  opts.partial = info[2].As<Napi::Boolean>().Value() ? 1 : 0;
  opts.timeout_ms = timeout_ms;
  // As JSON through V8's JSON.parse when it can carry the value exactly
  // (lib's fromJson is set up at load).
  brake_json* json = nullptr;
  brake_value* out = nullptr;
  auto started = std::chrono::steady_clock::now();
  int rc = m_data->from_json.IsEmpty()
               ? brake_engine_parse(m_engine, fn.c_str(), text.data(), text.size(), &opts, &out)
               : brake_engine_parse_json(m_engine, fn.c_str(), text.data(), text.size(), &opts, &json, &out);
  if (rc != BRAKE_OK) {
    throw_status(env, rc, brake_last_error());
    return Napi::Value();
  }
  if (json) {
    size_t len = 0, classes_len = 0;
    const char* json_text = brake_json_text(json, &len);
    const char* classes = brake_json_classes(json, &classes_len);
    napi_value js = json_to_js(env, m_data, json_text, len, classes, classes_len);
    brake_json_free(json);
    if (js) return Napi::Value(env, js);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) return Napi::Value();
    // Past V8's string limit as JSON: the tree says what is too large, in
    // what is left of the deadline.
    if (opts.timeout_ms) {
      auto spent = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
      if (spent >= opts.timeout_ms) {
        throw_status(env, BRAKE_TIMEOUT, "parsing the text took longer than " + std::to_string(opts.timeout_ms) + " ms");
        return Napi::Value();
      }
      opts.timeout_ms -= spent;
    }
    rc = brake_engine_parse(m_engine, fn.c_str(), text.data(), text.size(), &opts, &out);
    if (rc != BRAKE_OK) {
      throw_status(env, rc, brake_last_error());
      return Napi::Value();
    }
  }
  std::string too_large;
  napi_value js = value_to_js(env, m_data, out, &too_large);
  brake_value_free(out);
  if (!js) {
    throw_status(env, BRAKE_INVALID_ARGUMENT, too_large.empty() ? "the value has no JS form" : too_large);
    return Napi::Value();
  }
  return Napi::Value(env, js);
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

// Refuses new calls, cancels live calls and joins the workers on a thread of
// its own; the promise resolves once every remaining event (completions with
// origin close, host cancels) has been delivered through onBatch and the
// engine is freed. Idempotent: a second close() gets a promise for the same end.
Napi::Value EngineWrap::close(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (m_engine && !m_closing && m_draining) {
    throw_status(env, BRAKE_MISUSE, "close() cannot be called while events are being delivered");
    return Napi::Value();
  }
  napi_deferred deferred;
  napi_value promise;
  napi_create_promise(env, &deferred, &promise);
  if (!m_engine) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, deferred, undefined);
    return Napi::Value(env, promise);
  }
  if (m_closing) {
    m_close_waiters.push_back(deferred);
    return Napi::Value(env, promise);
  }
  try {
    m_close_waiters.push_back(deferred);
    m_closing = true;
    m_closer_finished.store(false);
    hold();
    napi_create_reference(env, info.This(), 1, &m_self);
    m_closer = std::thread([this, engine = m_engine, channel = m_channel] {
      int rc = brake_engine_close(engine);
      if (rc != BRAKE_OK) {
        m_close_status = rc;
        m_close_message = brake_last_error();
      }
      m_closer_finished.store(true);
      signal_channel(channel);
    });
  } catch (const std::exception&) {
    // No thread: close in place, as before.
    m_close_status = brake_engine_close(m_engine);
    if (m_close_status != BRAKE_OK) m_close_message = brake_last_error();
    m_closer_finished.store(true);
    finish_close(env);
  }
  return Napi::Value(env, promise);
}

// On the JS thread once the closer has joined the workers: delivers what is
// left, frees the engine and settles every close() promise.
void EngineWrap::finish_close(napi_env env) {
  if (m_closer.joinable()) m_closer.join();
  int status = m_close_status;
  std::string message = m_close_message;
  drain(env, true);
  // onBatch threw: the promises settle all the same, then the error goes on.
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  napi_value thrown = nullptr;
  if (pending) napi_get_and_clear_last_exception(env, &thrown);
  if (m_hook) napi_remove_env_cleanup_hook(m_env, env_cleanup, this);
  m_hook = false;
  release_engine();
  m_closing = false;
  if (m_held) {
    m_held = false;  // the thread-safe function went with the engine
    napi_reference_unref(env, m_on_batch, nullptr);
  }
  std::vector<napi_deferred> waiters;
  waiters.swap(m_close_waiters);
  for (napi_deferred d : waiters) {
    if (status == BRAKE_OK) {
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      napi_resolve_deferred(env, d, undefined);
    } else {
      napi_value error = make_status_error(env, status, message.empty() ? brake_status_message(status) : message);
      if (!error) {
        napi_get_and_clear_last_exception(env, &error);
      }
      napi_reject_deferred(env, d, error);
    }
  }
  if (thrown) napi_throw(env, thrown);
  if (m_self) {
    napi_ref self = m_self;
    m_self = nullptr;
    napi_delete_reference(env, self);  // may let this object be collected: last
  }
}

Napi::Value EngineWrap::live_tasks(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), m_engine ? static_cast<double>(brake_engine_live_tasks(m_engine)) : 0.0);
}

Napi::Value EngineWrap::live_calls(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), m_engine ? static_cast<double>(brake_engine_live_calls(m_engine)) : 0.0);
}

// { transfers, sockets } of the native HTTP transport (zeros once closed).
Napi::Value EngineWrap::http_stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("transfers", static_cast<double>(m_engine ? brake_engine_http_transfers(m_engine) : 0));
  o.Set("sockets", static_cast<double>(m_engine ? brake_engine_http_sockets(m_engine) : 0));
  return o;
}

Napi::Value EngineWrap::pending_host_calls(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           m_engine ? static_cast<double>(brake_engine_pending_host_calls(m_engine)) : 0.0);
}

// hostComplete(op, value): true when the operation was pending (the script
// goes on), false when it was not (answered, cancelled, or the engine is
// closed). A value that cannot cross throws InvalidArgumentError and leaves
// the operation pending (lib then fails it with its own words).
Napi::Value EngineWrap::host_complete(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  brake_op_id op = info.Length() >= 2 ? read_op_id(info[0]) : 0;
  if (!op) {
    throw_type_error(env, "hostComplete(op: number, value)");
    return Napi::Value();
  }
  if (!m_engine) return Napi::Boolean::New(env, false);
  std::string error;
  napi_value cause = nullptr;
  brake_value* v = js_to_value(env, m_data, info[1], &error, &cause);
  if (!v) {
    throw_status(env, BRAKE_INVALID_ARGUMENT, error, cause);
    return Napi::Value();
  }
  // A getter run by the conversion may have closed the engine.
  int rc = m_engine ? brake_host_complete(m_engine, op, v) : BRAKE_NOT_FOUND;
  brake_value_free(v);
  return Napi::Boolean::New(env, rc == BRAKE_OK);
}

// hostCompleteMany(ops: Float64Array, values: unknown[]): answers many
// operations in one brake_host_complete_all (one lock and one wake-up per
// worker). Returns undefined, or [[index, error], ...] for values that
// cannot cross (those operations stay pending; lib fails them).
Napi::Value EngineWrap::host_complete_many(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  const double* ops = nullptr;
  size_t nops = 0;
  bool typed = info.Length() >= 2 && info[0].IsTypedArray() &&
               info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
  if (typed) {
    Napi::Float64Array a = info[0].As<Napi::Float64Array>();
    ops = a.Data();
    nops = a.ElementLength();
  }
  if (!typed || !info[1].IsArray() || info[1].As<Napi::Array>().Length() < nops) {
    throw_type_error(env, "hostCompleteMany(ops: Float64Array, values: unknown[])");
    return Napi::Value();
  }
  Napi::Array values = info[1].As<Napi::Array>();
  uint32_t n = static_cast<uint32_t>(nops);
  std::vector<brake_op_id> ids;
  std::vector<brake_value*> converted;
  ids.reserve(n);
  converted.reserve(n);
  napi_value failures = nullptr;
  uint32_t nfailed = 0;
  for (uint32_t i = 0; i < n; i++) {
    double d = ops[i];
    if (!(d >= 1 && d <= static_cast<double>(kMaxSafeInteger)) || std::trunc(d) != d) continue;
    brake_op_id op = static_cast<brake_op_id>(d);
    std::string error;
    napi_value cause = nullptr;
    brake_value* v = js_to_value(env, m_data, values.Get(i), &error, &cause);
    if (!v) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) napi_get_and_clear_last_exception(env, &cause);
      if (!failures) napi_create_array(env, &failures);
      napi_value pair, index;
      napi_create_array_with_length(env, 2, &pair);
      napi_create_uint32(env, i, &index);
      napi_set_element(env, pair, 0, index);
      napi_set_element(env, pair, 1, make_status_error(env, BRAKE_INVALID_ARGUMENT, error, cause));
      napi_set_element(env, failures, nfailed++, pair);
      continue;
    }
    ids.push_back(op);
    converted.push_back(v);
  }
  // Hands the values over (a getter run by a conversion may have closed the
  // engine: then they are only freed).
  brake_host_complete_all(m_engine, ids.data(), converted.data(), ids.size(), nullptr);
  return failures ? Napi::Value(env, failures) : Napi::Value();
}

// hostFail(op, message, code?): true when the operation was pending.
Napi::Value EngineWrap::host_fail(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  brake_op_id op = info.Length() >= 2 ? read_op_id(info[0]) : 0;
  std::string message, code;
  if (!op || !read_string(env, info[1], &message) ||
      (info.Length() > 2 && !info[2].IsUndefined() && !read_string(env, info[2], &code))) {
    throw_type_error(env, "hostFail(op: number, message: string, code?: string)");
    return Napi::Value();
  }
  if (!m_engine) return Napi::Boolean::New(env, false);
  int rc = brake_host_fail(m_engine, op, message.c_str(), code.empty() ? nullptr : code.c_str());
  return Napi::Boolean::New(env, rc == BRAKE_OK);
}

// hostPart(op, bytes: Uint8Array): brake_host_part's status (a part of a
// streamed body, for the host transport).
Napi::Value EngineWrap::host_part(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  brake_op_id op = info.Length() >= 2 ? read_op_id(info[0]) : 0;
  if (!op || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw_type_error(env, "hostPart(op: number, bytes: Uint8Array)");
    return Napi::Value();
  }
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  int rc = m_engine ? brake_host_part(m_engine, op, reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength())
                    : BRAKE_NOT_FOUND;
  return Napi::Number::New(env, rc);
}

Napi::Function define_engine_class(Napi::Env env) {
  return EngineWrap::DefineClass(env, "Engine",
                                 {EngineWrap::InstanceMethod("cancel", &EngineWrap::cancel),
                                  EngineWrap::InstanceMethod("renderPrompt", &EngineWrap::render_prompt),
                                  EngineWrap::InstanceMethod("parse", &EngineWrap::parse),
                                  EngineWrap::InstanceMethod("close", &EngineWrap::close),
                                  EngineWrap::InstanceMethod("liveCalls", &EngineWrap::live_calls),
                                  EngineWrap::InstanceMethod("liveTasks", &EngineWrap::live_tasks),
                                  EngineWrap::InstanceMethod("pendingHostCalls", &EngineWrap::pending_host_calls),
                                  EngineWrap::InstanceMethod("httpStats", &EngineWrap::http_stats),
                                  EngineWrap::InstanceMethod("drain", &EngineWrap::drain_more),
                                  EngineWrap::InstanceMethod("hostComplete", &EngineWrap::host_complete),
                                  EngineWrap::InstanceMethod("hostCompleteMany", &EngineWrap::host_complete_many),
                                  EngineWrap::InstanceMethod("hostFail", &EngineWrap::host_fail),
                                  EngineWrap::InstanceMethod("hostPart", &EngineWrap::host_part)});
}

}  // namespace brake_addon
