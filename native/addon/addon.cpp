// Module entry: per-environment instance data, the error table handed over by
// lib/, compile(), and the Program and Token wrapper classes.
#include "addon.h"
#include "channel.h"

namespace brake_addon {

const napi_type_tag kProgramTag = {0x6272616b6570726fULL, 0x6772616d00000001ULL};
const napi_type_tag kEngineTag = {0x6272616b65656e67ULL, 0x696e650000000001ULL};
const napi_type_tag kTokenTag = {0x6272616b65746f6bULL, 0x656e000000000001ULL};

AddonData* addon_data(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<AddonData*>(data);
}

napi_value make_status_error(napi_env env, int status, const std::string& message, napi_value cause) {
  AddonData* data = addon_data(env);
  napi_value msg;
  napi_create_string_utf8(env, message.data(), message.size(), &msg);
  napi_value error = nullptr;
  if (data && status > 0 && static_cast<size_t>(status) < data->error_classes.size() &&
      !data->error_classes[status].IsEmpty()) {
    napi_value ctor = data->error_classes[status].Value();
    if (napi_new_instance(env, ctor, 1, &msg, &error) != napi_ok) return nullptr;  // the constructor threw
    if (static_cast<size_t>(status) < data->error_codes.size()) {
      napi_value code;
      const std::string& c = data->error_codes[status];
      napi_create_string_utf8(env, c.data(), c.size(), &code);
      napi_set_named_property(env, error, "code", code);
    }
  } else {
    napi_create_error(env, nullptr, msg, &error);
  }
  if (cause) {
    // Like an Error's own `cause`: writable, configurable, not enumerable.
    napi_property_descriptor d = {"cause", nullptr, nullptr, nullptr, nullptr, cause,
                                  static_cast<napi_property_attributes>(napi_writable | napi_configurable), nullptr};
    napi_define_properties(env, error, 1, &d);
  }
  return error;
}

void throw_status(napi_env env, int status, const std::string& message, napi_value cause) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  if (napi_value error = make_status_error(env, status, message, cause)) napi_throw(env, error);
}

void throw_last_error(napi_env env, int status) {
  const char* text = brake_last_error();
  if (!text || !*text) text = brake_status_message(status);
  throw_status(env, status, text);
}

void throw_type_error(napi_env env, const char* message) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, nullptr, message);
}

// ---------------------------------------------------------------- Program

namespace {

class ProgramWrap : public Napi::ObjectWrap<ProgramWrap> {
 public:
  explicit ProgramWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProgramWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw_type_error(info.Env(), "Program cannot be constructed directly; use Engine.fromSource");
      return;
    }
    m_program = info[0].As<Napi::External<brake_program>>().Data();
    napi_type_tag_object(info.Env(), info.This(), &kProgramTag);
  }
  ~ProgramWrap() override { brake_program_free(m_program); }

  const brake_program* program() const { return m_program; }

  // brake_program_describe's JSON text.
  Napi::Value describe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    char* text = nullptr;
    int rc = brake_program_describe(m_program, &text);
    if (rc != BRAKE_OK) {
      throw_last_error(env, rc);
      return env.Undefined();
    }
    Napi::String out = Napi::String::New(env, text);
    brake_string_free(text);
    return out;
  }

  // [[name, [param, ...], signature, isLlm], ...] in source order.
  Napi::Value signatures(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t n = brake_program_function_count(m_program);
    Napi::Array out = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; i++) {
      const char* name = brake_program_function_name(m_program, i);
      size_t np = brake_program_function_param_count(m_program, i);
      Napi::Array params = Napi::Array::New(env, np);
      for (size_t p = 0; p < np; p++) {
        const char* pn = brake_program_function_param_name(m_program, i, p);
        params.Set(static_cast<uint32_t>(p), Napi::String::New(env, pn ? pn : ""));
      }
      const char* text = brake_program_function_signature(m_program, i);
      Napi::Array sig = Napi::Array::New(env, 4);
      sig.Set(0u, Napi::String::New(env, name ? name : ""));
      sig.Set(1u, params);
      sig.Set(2u, Napi::String::New(env, text ? text : ""));
      sig.Set(3u, Napi::Boolean::New(env, brake_program_function_is_llm(m_program, i) != 0));
      out.Set(static_cast<uint32_t>(i), sig);
    }
    return out;
  }

 private:
  brake_program* m_program = nullptr;
};

// ---------------------------------------------------------------- Token

class TokenWrap : public Napi::ObjectWrap<TokenWrap> {
 public:
  explicit TokenWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenWrap>(info) {
    m_token = brake_token_new();
    if (!m_token) {
      throw_status(info.Env(), BRAKE_NO_MEMORY, brake_status_message(BRAKE_NO_MEMORY));
      return;
    }
    napi_type_tag_object(info.Env(), info.This(), &kTokenTag);
  }
  ~TokenWrap() override { brake_token_free(m_token); }

  brake_token* token() const { return m_token; }

  // Returns how many live calls were cancelled; those finished in place are
  // settled by the time it returns (InlineDelivery).
  Napi::Value cancel(const Napi::CallbackInfo& info) {
    InlineDelivery delivery;
    size_t n = brake_token_cancel(m_token);
    delivery.deliver(info.Env());
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }
  Napi::Value cancelled(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), brake_token_is_cancelled(m_token) != 0);
  }

 private:
  brake_token* m_token = nullptr;
};

template <typename T>
T* unwrap_tagged(napi_env env, napi_value v, const napi_type_tag* tag) {
  napi_valuetype type;
  if (!v || napi_typeof(env, v, &type) != napi_ok || type != napi_object) return nullptr;
  bool ok = false;
  if (napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok) return nullptr;
  void* native = nullptr;
  if (napi_unwrap(env, v, &native) != napi_ok) return nullptr;
  return static_cast<T*>(native);
}

}  // namespace

Napi::Function define_program_class(Napi::Env env) {
  return ProgramWrap::DefineClass(env, "Program",
                                  {ProgramWrap::InstanceMethod("signatures", &ProgramWrap::signatures),
                                   ProgramWrap::InstanceMethod("describe", &ProgramWrap::describe)});
}

Napi::Function define_token_class(Napi::Env env) {
  return TokenWrap::DefineClass(env, "Token",
                                {TokenWrap::InstanceMethod("cancel", &TokenWrap::cancel),
                                 TokenWrap::InstanceAccessor("cancelled", &TokenWrap::cancelled, nullptr)});
}

const brake_program* unwrap_program(napi_env env, napi_value v) {
  ProgramWrap* w = unwrap_tagged<ProgramWrap>(env, v, &kProgramTag);
  return w ? w->program() : nullptr;
}

brake_token* unwrap_token(napi_env env, napi_value v) {
  TokenWrap* w = unwrap_tagged<TokenWrap>(env, v, &kTokenTag);
  return w ? w->token() : nullptr;
}

// ---------------------------------------------------------------- module functions

namespace {

// setup(errorClasses[], codes[], FloatClass, isProxy): called once by lib/native.ts.
Napi::Value setup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonData* data = addon_data(env);
  if (info.Length() < 5 || !info[0].IsArray() || !info[1].IsArray() || !info[2].IsFunction() ||
      !info[3].IsFunction() || !info[4].IsFunction()) {
    throw_type_error(env, "setup(errorClasses, codes, Float, isProxy, fromJson)");
    return env.Undefined();
  }
  Napi::Array classes = info[0].As<Napi::Array>();
  Napi::Array codes = info[1].As<Napi::Array>();
  data->error_classes.clear();
  data->error_codes.clear();
  for (uint32_t i = 0; i < classes.Length(); i++) {
    Napi::Value c = classes.Get(i);
    data->error_classes.emplace_back(c.IsFunction() ? Napi::Persistent(c.As<Napi::Function>())
                                                    : Napi::FunctionReference());
  }
  for (uint32_t i = 0; i < codes.Length(); i++) {
    Napi::Value c = codes.Get(i);
    data->error_codes.push_back(c.IsString() ? c.As<Napi::String>().Utf8Value() : std::string());
  }
  data->float_class = Napi::Persistent(info[2].As<Napi::Function>());
  data->is_proxy = Napi::Persistent(info[3].As<Napi::Function>());
  data->from_json = Napi::Persistent(info[4].As<Napi::Function>());
  return env.Undefined();
}

// What compile() and compileAsync() are given: the source, the file name
// for diagnostics, and the host functions' [name, signature] pairs.
struct CompileInput {
  std::string source, file;
  std::vector<std::string> strings;  // name, signature, name, signature, ...
};

bool read_compile_input(const Napi::CallbackInfo& info, const char* usage, CompileInput& in) {
  Napi::Env env = info.Env();
  bool host_ok = info.Length() < 3 || info[2].IsUndefined() || info[2].IsArray();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString() || !host_ok) {
    throw_type_error(env, usage);
    return false;
  }
  in.source = info[0].As<Napi::String>().Utf8Value();
  in.file = info[1].As<Napi::String>().Utf8Value();
  if (info.Length() >= 3 && info[2].IsArray()) {
    Napi::Array host = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < host.Length(); i++) {
      Napi::Value pair = host.Get(i);
      if (!pair.IsArray() || !pair.As<Napi::Array>().Get(0u).IsString() || !pair.As<Napi::Array>().Get(1u).IsString()) {
        throw_type_error(env, "compile: host must be an array of [name: string, signature: string]");
        return false;
      }
      in.strings.push_back(pair.As<Napi::Array>().Get(0u).As<Napi::String>().Utf8Value());
      in.strings.push_back(pair.As<Napi::Array>().Get(1u).As<Napi::String>().Utf8Value());
    }
  }
  return true;
}

// Compiles `in` (any thread): the status, and the program (with its
// diagnostics when it has errors; null only when memory ran out).
int compile_input(const CompileInput& in, brake_program** program) {
  std::vector<brake_host_decl> decls;
  for (size_t i = 0; i + 1 < in.strings.size(); i += 2) decls.push_back({in.strings[i].c_str(), in.strings[i + 1].c_str()});
  brake_compile_options co;
  brake_compile_options_init(&co);
  co.host_functions = decls.data();
  co.host_function_count = decls.size();
  return brake_program_compile_with(in.source.data(), in.source.size(), in.file.c_str(), &co, program);
}

// A Program for a compiled program, or [[file, line, column, message], ...]
// for one with errors; null with an exception pending for any other status.
// Takes `program`.
napi_value compile_result(Napi::Env env, int rc, brake_program* program, const std::string& file) {
  if (rc != BRAKE_OK && rc != BRAKE_COMPILE_ERROR) {
    brake_program_free(program);
    throw_last_error(env, rc);
    return nullptr;
  }
  size_t n = program ? brake_program_diagnostic_count(program) : 0;
  if (rc == BRAKE_COMPILE_ERROR || n > 0) {
    Napi::Array out = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; i++) {
      const char* f = nullptr;
      const char* message = nullptr;
      uint32_t line = 0, column = 0;
      brake_program_diagnostic(program, i, &f, &line, &column, &message);
      Napi::Array d = Napi::Array::New(env, 4);
      d.Set(0u, Napi::String::New(env, f ? f : file.c_str()));
      d.Set(1u, Napi::Number::New(env, line));
      d.Set(2u, Napi::Number::New(env, column));
      d.Set(3u, Napi::String::New(env, message ? message : ""));
      out.Set(static_cast<uint32_t>(i), d);
    }
    brake_program_free(program);
    return out;
  }
  AddonData* data = addon_data(env);
  return data->program_ctor.New({Napi::External<brake_program>::New(env, program)});
}

// compile(source, fileName, host?: [name, signature][]): a Program, or
// [[file, line, column, message], ...]. On the calling (JS) thread.
Napi::Value compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CompileInput in;
  if (!read_compile_input(info, "compile(source: string, fileName: string, host?: [name, signature][])", in))
    return env.Undefined();
  brake_program* program = nullptr;
  int rc = compile_input(in, &program);
  napi_value out = compile_result(env, rc, program, in.file);
  return out ? Napi::Value(env, out) : env.Undefined();
}

// compileAsync(source, fileName, host?): a promise of what compile() gives,
// compiled off the JS thread (on libuv's thread pool: a compile is one piece
// of work per program, not per call, so it does not take one of the
// engine's own threads; a big program no longer stalls the event loop).
class CompileWorker : public Napi::AsyncWorker {
 public:
  CompileWorker(Napi::Env env, CompileInput in)
      : Napi::AsyncWorker(env, "brake.compile"), m_in(std::move(in)), m_deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() const { return m_deferred.Promise(); }

  void Execute() override { m_rc = compile_input(m_in, &m_program); }

  void OnOK() override {
    Napi::Env env = Env();
    napi_value out = compile_result(env, m_rc, m_program, m_in.file);
    m_program = nullptr;
    if (out) {
      m_deferred.Resolve(Napi::Value(env, out));
      return;
    }
    napi_value error = nullptr;
    napi_get_and_clear_last_exception(env, &error);
    m_deferred.Reject(error ? Napi::Value(env, error) : env.Undefined());
  }

  ~CompileWorker() override { brake_program_free(m_program); }  // (OnOK takes it; never ran: freed here)

 private:
  CompileInput m_in;
  Napi::Promise::Deferred m_deferred;
  brake_program* m_program = nullptr;
  int m_rc = BRAKE_INTERNAL;
};

Napi::Value compile_async(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CompileInput in;
  if (!read_compile_input(info, "compileAsync(source: string, fileName: string, host?: [name, signature][])", in))
    return env.Undefined();
  auto* worker = new CompileWorker(env, std::move(in));  // deletes itself once done
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  // Loading the same addon file twice in one environment (e.g. through two
  // module caches) reuses the first instance instead of replacing its data.
  if (AddonData* existing = addon_data(env)) return existing->exports.Value();

  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);

  data->program_ctor = Napi::Persistent(define_program_class(env));
  data->engine_ctor = Napi::Persistent(define_engine_class(env));
  data->token_ctor = Napi::Persistent(define_token_class(env));
  Napi::Object global = env.Global();
  Napi::Object object_ctor = global.Get("Object").As<Napi::Object>();
  data->object_prototype = Napi::Persistent(object_ctor.Get("prototype").As<Napi::Object>());
  Napi::Function symbol_for = global.Get("Symbol").As<Napi::Object>().Get("for").As<Napi::Function>();
  data->class_symbol =
      Napi::Persistent(symbol_for.Call({Napi::String::New(env, "brake.class")}).As<Napi::Symbol>());

  Napi::Array names = Napi::Array::New(env);
  for (int i = 0; i < BRAKE_STATUS_COUNT_; i++) names.Set(static_cast<uint32_t>(i), brake_status_name(i));

  // brake.h's limits, so lib can check that its own copies agree.
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("maxWorkerThreads", Napi::Number::New(env, BRAKE_MAX_WORKER_THREADS));
  limits.Set("maxCallDepth", Napi::Number::New(env, BRAKE_MAX_CALL_DEPTH));
  limits.Set("maxTimeoutMs", Napi::Number::New(env, static_cast<double>(BRAKE_MAX_TIMEOUT_MS)));

  exports.Set("version", Napi::String::New(env, brake_version()));
  exports.Set("httpNative", Napi::Boolean::New(env, brake_http_native_available() != 0));
  exports.Set("limits", limits);
  exports.Set("statusNames", names);
  exports.Set("setup", Napi::Function::New(env, setup, "setup"));
  exports.Set("compile", Napi::Function::New(env, compile, "compile"));
  exports.Set("compileAsync", Napi::Function::New(env, compile_async, "compileAsync"));
  exports.Set("Engine", data->engine_ctor.Value());
  exports.Set("Token", data->token_ctor.Value());
  data->exports = Napi::Persistent(exports);
  return exports;
}

}  // namespace brake_addon

static Napi::Object module_init(Napi::Env env, Napi::Object exports) { return brake_addon::init(env, exports); }

NODE_API_MODULE(brake, module_init)
