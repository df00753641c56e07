#include "slice.h"

#include <cmath>
#include <string_view>

namespace brake_addon {

namespace {

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

// lib's slot for a call: the user_data its start passed.
int32_t slot_of(void* user_data) { return static_cast<int32_t>(reinterpret_cast<uintptr_t>(user_data)); }

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

}  // namespace

bool Slice::attach(napi_env env, napi_value meta, napi_value nums) {
  m_meta = typed_data<int32_t>(env, meta, napi_int32_array, 2 * kCapacity);
  m_nums = typed_data<double>(env, nums, napi_float64_array, kCapacity);
  return m_meta && m_nums;
}

napi_value Slice::values(napi_env env) const {
  if (m_values.empty()) return nullptr;
  napi_value values;
  napi_create_array_with_length(env, m_values.size(), &values);
  for (size_t i = 0; i < m_values.size(); i++) napi_set_element(env, values, static_cast<uint32_t>(i), m_values[i]);
  return values;
}

void Slice::completion(napi_env env, AddonData* data, void* user_data, const brake_result* r) {
  int32_t slot = slot_of(user_data);
  int32_t status = brake_result_status(r);
  if (status != BRAKE_OK) {
    // An unhandled throw carries the value thrown (none when it cannot become a JS value).
    napi_value thrown = nullptr;
    if (const brake_value* t = brake_result_value(r)) {
      std::string too_large;
      thrown = value_to_js(env, data, t, &too_large);
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      napi_value ignored;
      if (pending) napi_get_and_clear_last_exception(env, &ignored);
    }
    put_failure(env, slot, r, status, brake_result_error_kind(r), brake_result_message(r), true, thrown);
    return;
  }
  const brake_value* v = brake_result_value(r);
  switch (brake_value_kind(v)) {
    case BRAKE_KIND_NULL: put(slot, status | kRepNull << 16); return;
    case BRAKE_KIND_BOOL: put(slot, status | (brake_value_get_bool(v) ? kRepTrue : kRepFalse) << 16); return;
    case BRAKE_KIND_FLOAT:
      m_nums[m_count] = brake_value_get_float(v);
      put(slot, status | kRepNumber << 16);
      return;
    case BRAKE_KIND_INT: {
      int64_t i = brake_value_get_int(v);
      if (i >= -kMaxSafeInteger && i <= kMaxSafeInteger) {
        m_nums[m_count] = static_cast<double>(i);
        put(slot, status | kRepNumber << 16);
        return;
      }
      break;  // a bigint
    }
    default: break;
  }
  std::string too_large;
  napi_value js = value_to_js(env, data, v, &too_large);
  if (!js) {
    // No JS value for the result: the call fails instead of resolving with a
    // silently wrong value.
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    napi_value ignored;
    if (pending) napi_get_and_clear_last_exception(env, &ignored);
    if (too_large.empty())
      put_failure(env, slot, r, BRAKE_SCRIPT_ERROR, "internal", "the result could not be converted to a JS value", false);
    else
      put_failure(env, slot, r, BRAKE_SCRIPT_ERROR, "value_too_large", too_large.c_str(), false);
    return;
  }
  m_values.push_back(js);
  put(slot, status | kRepValue << 16);
}

// Failures carry the call id (for the error's callId): nums[k] when it is
// a safe integer, else NaN there and a bigint in `values` before the
// payload. `with_frames`: the script stack of `r` (a failure of the call
// itself, not of converting its value).
void Slice::put_failure(napi_env env, int32_t slot, const brake_result* r, int32_t status, const char* kind,
                        const char* message, bool with_frames, napi_value thrown) {
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
  const char* code = with_frames ? brake_result_error_code(r) : "";
  const char* http_url = with_frames ? brake_result_http_url(r) : nullptr;
  size_t attempts = with_frames ? brake_result_llm_attempt_count(r) : 0;
  napi_value failure, item;
  napi_create_array_with_length(env, thrown ? 7 : attempts ? 6 : http_url ? 5 : *code ? 4 : 3, &failure);
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
  if (*code || http_url || attempts) {
    napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &item);
    napi_set_element(env, failure, 3, item);
  }
  if (http_url) {
    napi_value http;
    napi_create_array_with_length(env, 3, &http);
    napi_create_int32(env, brake_result_http_status(r), &item);
    napi_set_element(env, http, 0, item);
    napi_set_element(env, http, 1, message_to_js(env, http_url));
    napi_set_element(env, http, 2, message_to_js(env, brake_result_http_body(r)));
    napi_set_element(env, failure, 4, http);
  }
  if (attempts) {
    if (!http_url) {
      napi_get_null(env, &item);
      napi_set_element(env, failure, 4, item);
    }
    napi_value list;
    napi_create_array_with_length(env, attempts, &list);
    for (size_t i = 0; i < attempts; i++) {
      napi_value a;
      napi_create_array_with_length(env, 6, &a);
      napi_set_element(env, a, 0, message_to_js(env, brake_result_llm_attempt_client(r, i)));
      napi_set_element(env, a, 1, message_to_js(env, brake_result_llm_attempt_provider(r, i)));
      napi_create_int32(env, brake_result_llm_attempt_status(r, i), &item);
      napi_set_element(env, a, 2, item);
      napi_set_element(env, a, 3, message_to_js(env, brake_result_llm_attempt_error(r, i)));
      napi_create_double(env, static_cast<double>(brake_result_llm_attempt_duration_us(r, i)) / 1000.0, &item);
      napi_set_element(env, a, 4, item);
      napi_set_element(env, a, 5, message_to_js(env, brake_result_llm_attempt_body(r, i)));
      napi_set_element(env, list, static_cast<uint32_t>(i), a);
    }
    napi_set_element(env, failure, 5, list);
  }
  if (thrown) napi_set_element(env, failure, 6, thrown); // (holes before it read as undefined)
  m_values.push_back(failure);
  put(slot, status | origin << 8 | kRepValue << 16);
}

bool Slice::host_call(napi_env env, AddonData* data, const brake_host_call* c, std::string* why) {
  size_t n = brake_host_call_arg_count(c);
  size_t first = m_values.size();
  for (size_t i = 0; i < n; i++) {
    std::string too_large;
    napi_value v = value_to_js(env, data, brake_host_call_arg(c, i), &too_large);
    if (!v) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      napi_value ignored;
      if (pending) napi_get_and_clear_last_exception(env, &ignored);
      m_values.resize(first);
      *why = "argument " + std::to_string(i + 1) + " of host function '" + brake_host_call_function(c) +
             "' has no JS value: " + (too_large.empty() ? std::string("the conversion failed") : too_large);
      return false;
    }
    m_values.push_back(v);
  }
  m_nums[m_count] = static_cast<double>(brake_host_call_op(c));
  put(slot_of(brake_host_call_user_data(c)), kHostCall << 24 | static_cast<int32_t>(n) << 16 |
                                                 static_cast<int32_t>(brake_host_call_function_index(c) & 0xFFFF));
  return true;
}

void Slice::host_cancel(brake_op_id op, brake_origin origin) {
  m_nums[m_count] = static_cast<double>(op);
  put(-1, kHostCancel << 24 | static_cast<int32_t>(origin) << 8);
}

void Slice::stream(napi_env env, AddonData* data, void* user_data, const brake_stream_event* ev) {
  int32_t slot = slot_of(user_data);
  // A new entry unless the last one is this call's stream entry (m_stream is
  // the last stream entry's array).
  if (!m_stream || m_count == 0 || (m_meta[2 * m_count - 1] >> 24) != kStream || m_meta[2 * m_count - 2] != slot) {
    napi_create_array(env, &m_stream);
    m_stream_length = 0;
    m_values.push_back(m_stream);
    put(slot, kStream << 24);
  }
  napi_value items[4];
  size_t n = 0;
  brake_stream_kind kind = brake_stream_event_kind(ev);
  napi_create_int32(env, kind, &items[n++]);
  if (kind == BRAKE_STREAM_ATTEMPT) {
    napi_create_string_utf8(env, brake_stream_event_function(ev), NAPI_AUTO_LENGTH, &items[n++]);
    napi_create_string_utf8(env, brake_stream_event_client(ev), NAPI_AUTO_LENGTH, &items[n++]);
    napi_create_uint32(env, brake_stream_event_attempt(ev), &items[n++]);
  } else if (kind == BRAKE_STREAM_DELTA) {
    size_t len = 0;
    const char* text = brake_stream_event_text(ev, &len);
    if (napi_create_string_utf8(env, text, len, &items[n++]) != napi_ok) return;  // past V8's limit: not deliverable
  } else {
    if (kind == BRAKE_STREAM_WATCH) {
      napi_create_string_utf8(env, brake_stream_event_function(ev), NAPI_AUTO_LENGTH, &items[n++]);
      napi_create_string_utf8(env, brake_stream_event_name(ev), NAPI_AUTO_LENGTH, &items[n++]);
    }
    std::string too_large;
    items[n] = value_to_js(env, data, brake_stream_event_value(ev), &too_large);
    if (!items[n++]) {  // no JS value for this partial or watch: the next one (or the final value) will do
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      napi_value ignored;
      if (pending) napi_get_and_clear_last_exception(env, &ignored);
      return;
    }
  }
  for (size_t i = 0; i < n; i++) napi_set_element(env, m_stream, m_stream_length++, items[i]);
}

}  // namespace brake_addon
