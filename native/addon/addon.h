// Shared declarations of the Node addon (native/addon). The addon uses only
// brake.h; everything it keeps lives in per-environment instance data
// (AddonData) so the module works in worker_threads and when the main thread
// and several workers load it at once. No static mutable state.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "brake.h"

namespace brake_addon {

// 2^53 - 1: the largest integer a JS number holds exactly.
constexpr int64_t kMaxSafeInteger = 9007199254740991;

// Per-environment state, owned by the env (napi_set_instance_data).
struct AddonData {
  Napi::FunctionReference program_ctor;
  Napi::FunctionReference engine_ctor;
  Napi::FunctionReference token_ctor;
  // Error classes and `code` strings handed over by lib/native.ts, index = status.
  std::vector<Napi::FunctionReference> error_classes;
  std::vector<std::string> error_codes;
  // lib's Float marker class: `new Float(2)` crosses as a FLOAT.
  Napi::FunctionReference float_class;
  // util.types.isProxy (N-API cannot tell a Proxy from its target).
  Napi::FunctionReference is_proxy;
  Napi::ObjectReference object_prototype;
  // Symbol.for('brake.class'): non-enumerable class name on instance results.
  Napi::Reference<Napi::Symbol> class_symbol;
  // lib's fromJson(text, marks?): JSON.parse, then the class marks (see
  // value_to_js's JSON path). Empty before setup.
  Napi::FunctionReference from_json;
  Napi::ObjectReference exports;
};

// Type tags for the wrapped objects (napi_type_tag_object), so an object of
// one wrapper class can never be unwrapped as another.
extern const napi_type_tag kProgramTag;
extern const napi_type_tag kEngineTag;
extern const napi_type_tag kTokenTag;

AddonData* addon_data(napi_env env);

// Throws the JS class registered for `status` (falls back to Error before
// setup) with `message`, and sets its `code` (and `cause`, when given).
// Never parses message text.
void throw_status(napi_env env, int status, const std::string& message, napi_value cause = nullptr);
// The JS error throw_status would throw (nullptr when its constructor threw:
// that exception is then pending).
napi_value make_status_error(napi_env env, int status, const std::string& message, napi_value cause = nullptr);
// Throws the status with brake_last_error() (or the status message) as text.
void throw_last_error(napi_env env, int status);
void throw_type_error(napi_env env, const char* message);

// ---- values (values.cpp)

// Converts a JS value to a new brake_value owned by the caller. On failure
// returns nullptr and sets *error to why (the caller throws
// InvalidArgumentError); when JS code run by the conversion (a getter)
// threw, *cause gets the exception, which is no longer pending.
brake_value* js_to_value(napi_env env, AddonData* data, napi_value v, std::string* error, napi_value* cause);

// Reads JS string `v` into *out as UTF-8; false when `v` is not a string.
bool read_string(napi_env env, napi_value v, std::string* out);
// Converts a brake_value to JS. Returns nullptr on failure: with *too_large
// saying why when the value cannot be a JS value at all (a string longer
// than V8's limit), else an N-API call failed (an exception may be pending).
napi_value value_to_js(napi_env env, AddonData* data, const brake_value* v, std::string* too_large);
// JSON text (and its objects' class names, `classes` NULL when none is an
// instance: brake_json_classes) through lib's fromJson. nullptr when it
// cannot (a text past V8's string limit, or an exception pending).
napi_value json_to_js(napi_env env, AddonData* data, const char* text, size_t len, const char* classes,
                      size_t classes_len);
// A call id: number when it is a safe integer, else bigint.
napi_value call_id_to_js(napi_env env, brake_call_id id);
// Reads a call id (safe-integer number or bigint, non-zero, < 2^64).
bool js_to_call_id(napi_env env, napi_value v, brake_call_id* out);

// Module initialisation (once per environment).
Napi::Object init(Napi::Env env, Napi::Object exports);

// ---- wrapper classes

Napi::Function define_program_class(Napi::Env env);
Napi::Function define_engine_class(Napi::Env env);
Napi::Function define_token_class(Napi::Env env);
// Unwraps a Program / Token after checking its type tag; nullptr otherwise.
const brake_program* unwrap_program(napi_env env, napi_value v);
brake_token* unwrap_token(napi_env env, napi_value v);

}  // namespace brake_addon
