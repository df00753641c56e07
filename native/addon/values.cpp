// Value conversion between JS and brake_value (see lib/values.ts for the
// documented mapping).
//
// JS -> brake: null/undefined -> NULL; boolean -> BOOL; a number that is an
// integer in int64 range -> INT, any other number (fractions, NaN, +-inf,
// -0, which an INT would lose the sign of) -> FLOAT; bigint -> INT (must fit
// int64); string -> STRING (lone surrogates become U+FFFD, as in every V8
// UTF-8 conversion); Float instance -> FLOAT; array -> ARRAY (frozen or
// not; holes and more than kMaxArrayLength elements are refused); plain
// object (prototype Object.prototype or null) -> MAP of its own enumerable
// string keys. Refused with a message: Proxies (before any trap runs),
// typed arrays, ArrayBuffers, DataViews, functions, symbols, class
// instances, Date, Map, cycles, nesting deeper than kMaxDepth, two keys
// that are the same in UTF-8. A getter that throws (or any exception while
// reading) is refused too, with the exception as the error's cause; it
// never escapes as a pending exception.
//
// brake -> JS: INT -> number when a safe integer, else bigint; FLOAT ->
// number; MAP -> plain object; INSTANCE -> plain object with the class name
// under the non-enumerable Symbol.for('brake.class'); ENUM -> variant name.
// A string longer than V8's limit (2^29-24 UTF-16 units) cannot be a JS
// string: the conversion fails and says so (the call then fails with
// ScriptError kind 'value_too_large').
#include <charconv>
#include <cmath>
#include <cstring>
#include <new>

#include "addon.h"

namespace brake_addon {
namespace {

constexpr int kMaxDepth = 512;
constexpr double kMaxSafe = static_cast<double>(kMaxSafeInteger);
// Arrays longer than this are refused before any element is read or
// anything allocated: a sparse array's length (up to 2^32-1) costs JS
// nothing, while converting 2^24 elements already takes about 3 GB and 4 s
// (a brake_value each).
constexpr uint32_t kMaxArrayLength = uint32_t(1) << 24;

struct ToValue {
  napi_env env;
  AddonData* data;
  std::string* error;
  napi_value* cause;
  std::vector<napi_value> path;  // objects being converted, for cycle detection
};

// Records why the conversion failed (the innermost reason wins). When user
// code (a getter) threw, its exception becomes the error's cause instead of
// staying pending: start() then throws InvalidArgumentError, and nothing is
// left pending for the next call.
brake_value* fail(ToValue& cx, const char* what) {
  if (cx.error->empty()) {
    *cx.error = what;
    bool pending = false;
    napi_is_exception_pending(cx.env, &pending);
    if (pending) napi_get_and_clear_last_exception(cx.env, cx.cause);
  }
  return nullptr;
}

// A child failed: say where, outermost first ("element 2: key \"a\": ...").
brake_value* nested(ToValue& cx, const std::string& where) {
  cx.error->insert(0, where + ": ");
  return nullptr;
}

bool has_own_index(ToValue& cx, napi_value arr, uint32_t i) {
  std::string name = std::to_string(i);
  napi_value key;
  bool has = false;
  if (napi_create_string_utf8(cx.env, name.data(), name.size(), &key) != napi_ok) return false;
  napi_has_own_property(cx.env, arr, key, &has);
  return has;
}

brake_value* convert(ToValue& cx, napi_value v, int depth);

brake_value* convert_array(ToValue& cx, napi_value v, int depth) {
  uint32_t n = 0;
  napi_get_array_length(cx.env, v, &n);
  if (n > kMaxArrayLength) {
    std::string what = "an array of length " + std::to_string(n) + " is longer than the maximum of " +
                       std::to_string(kMaxArrayLength) + " elements";
    return fail(cx, what.c_str());
  }
  brake_value* arr = brake_value_array();
  if (!arr) return fail(cx, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_valuetype type;
    if (napi_get_element(cx.env, v, i, &item) != napi_ok || napi_typeof(cx.env, item, &type) != napi_ok) {
      brake_value_free(arr);
      fail(cx, "reading it threw (the exception is this error's cause)");
      return nested(cx, "element " + std::to_string(i));
    }
    // A hole reads as undefined. Refusing it at the first one keeps a huge
    // sparse array from costing more than its real elements.
    if (type == napi_undefined && !has_own_index(cx, v, i)) {
      brake_value_free(arr);
      fail(cx, "sparse arrays cannot be passed (fill the hole with null)");
      return nested(cx, "element " + std::to_string(i) + " is a hole");
    }
    brake_value* c = convert(cx, item, depth + 1);
    if (!c) {
      brake_value_free(arr);
      return nested(cx, "element " + std::to_string(i));
    }
    if (brake_value_array_push(arr, c) != BRAKE_OK) {
      brake_value_free(arr);
      return fail(cx, "out of memory");
    }
  }
  return arr;
}

brake_value* convert_map(ToValue& cx, napi_value v, int depth) {
  napi_value keys;
  if (napi_get_all_property_names(cx.env, v, napi_key_own_only,
                                  static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
                                  napi_key_numbers_to_strings, &keys) != napi_ok)
    return fail(cx, "cannot list the object's keys");
  uint32_t n = 0;
  napi_get_array_length(cx.env, keys, &n);
  brake_value* map = brake_value_map();
  if (!map) return fail(cx, "out of memory");
  std::string key;
  for (uint32_t i = 0; i < n; i++) {
    napi_value k, item;
    if (napi_get_element(cx.env, keys, i, &k) != napi_ok || !read_string(cx.env, k, &key)) {
      brake_value_free(map);
      return fail(cx, "cannot read an object's key");
    }
    if (napi_get_property(cx.env, v, k, &item) != napi_ok) {
      brake_value_free(map);
      fail(cx, "reading it threw (the exception is this error's cause)");
      return nested(cx, "key \"" + key + "\"");
    }
    brake_value* c = convert(cx, item, depth + 1);
    if (!c) {
      brake_value_free(map);
      return nested(cx, "key \"" + key + "\"");
    }
    if (brake_value_map_set(map, key.data(), key.size(), c) != BRAKE_OK) {
      brake_value_free(map);
      return fail(cx, "out of memory");
    }
    // Distinct JS keys, one UTF-8 key: they differed only in lone surrogates.
    if (brake_value_length(map) != size_t(i) + 1) {
      brake_value_free(map);
      fail(cx, "two keys are the same once their lone surrogates become U+FFFD");
      return nested(cx, "key \"" + key + "\"");
    }
  }
  return map;
}

brake_value* convert_object(ToValue& cx, napi_value v, int depth) {
  if (depth > kMaxDepth) return fail(cx, "value is nested too deeply");
  for (napi_value seen : cx.path) {
    bool same = false;
    napi_strict_equals(cx.env, seen, v, &same);
    if (same) return fail(cx, "value contains a cycle");
  }
  bool is_array = false;
  napi_is_array(cx.env, v, &is_array);  // true only for a real array, never a Proxy
  if (is_array) {
    cx.path.push_back(v);
    brake_value* r = convert_array(cx, v, depth);
    cx.path.pop_back();
    return r;
  }
  // Before anything that could run a trap (instanceof, reading keys): a
  // Proxy is refused whatever it wraps, so no trap ever runs here.
  if (!cx.data->is_proxy.IsEmpty()) {
    napi_value undefined, result;
    bool proxy = false;
    napi_get_undefined(cx.env, &undefined);
    if (napi_call_function(cx.env, undefined, cx.data->is_proxy.Value(), 1, &v, &result) != napi_ok ||
        napi_get_value_bool(cx.env, result, &proxy) != napi_ok)
      return fail(cx, "cannot tell whether an object is a Proxy");
    if (proxy) return fail(cx, "a Proxy cannot be passed to a script (pass a plain copy of it)");
  }
  if (!cx.data->float_class.IsEmpty()) {
    bool is_float = false;
    napi_instanceof(cx.env, v, cx.data->float_class.Value(), &is_float);
    if (is_float) {
      napi_value inner;
      double d = 0;
      if (napi_get_named_property(cx.env, v, "value", &inner) != napi_ok ||
          napi_get_value_double(cx.env, inner, &d) != napi_ok)
        return fail(cx, "Float.value must be a number");
      brake_value* f = brake_value_float(d);
      return f ? f : fail(cx, "out of memory");
    }
  }
  napi_value proto;
  napi_get_prototype(cx.env, v, &proto);
  napi_valuetype proto_type;
  napi_typeof(cx.env, proto, &proto_type);
  bool plain = proto_type == napi_null;
  if (!plain) napi_strict_equals(cx.env, proto, cx.data->object_prototype.Value(), &plain);
  if (!plain) {
    bool binary = false;
    if (napi_is_typedarray(cx.env, v, &binary) == napi_ok && !binary) napi_is_arraybuffer(cx.env, v, &binary);
    if (!binary) napi_is_dataview(cx.env, v, &binary);
    if (binary)
      return fail(cx, "typed arrays, ArrayBuffers and DataViews cannot be passed to a script (pass Array.from(x))");
    return fail(cx, "only plain objects, arrays and primitives can be passed (got a class instance)");
  }
  cx.path.push_back(v);
  brake_value* r = convert_map(cx, v, depth);
  cx.path.pop_back();
  return r;
}

brake_value* convert(ToValue& cx, napi_value v, int depth) {
  napi_valuetype type;
  if (napi_typeof(cx.env, v, &type) != napi_ok) return fail(cx, "cannot read a value");
  brake_value* out = nullptr;
  switch (type) {
    case napi_undefined:
    case napi_null:
      out = brake_value_null();
      break;
    case napi_boolean: {
      bool b = false;
      napi_get_value_bool(cx.env, v, &b);
      out = brake_value_bool(b ? 1 : 0);
      break;
    }
    case napi_number: {
      double d = 0;
      napi_get_value_double(cx.env, v, &d);
      // Integers exactly representable in int64 cross as INT. 2^63 itself
      // is not representable, hence the strict bound. -0 crosses as FLOAT
      // -0.0 so a float parameter keeps its sign; the core takes it as 0
      // where an int is declared.
      if (std::trunc(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
          !(d == 0 && std::signbit(d)))
        out = brake_value_int(static_cast<int64_t>(d));
      else
        out = brake_value_float(d);
      break;
    }
    case napi_bigint: {
      int64_t i = 0;
      bool lossless = false;
      napi_get_value_bigint_int64(cx.env, v, &i, &lossless);
      if (!lossless) return fail(cx, "bigint does not fit in a 64-bit signed integer");
      out = brake_value_int(i);
      break;
    }
    case napi_string: {
      std::string s;
      if (!read_string(cx.env, v, &s)) return fail(cx, "cannot read a string");
      if (brake_value_string(s.data(), s.size(), &out) != BRAKE_OK) return fail(cx, "invalid string");
      break;
    }
    case napi_object:
      return convert_object(cx, v, depth);
    case napi_function:
      return fail(cx, "functions cannot be passed to a script");
    case napi_symbol:
      return fail(cx, "symbols cannot be passed to a script");
    default:
      return fail(cx, "this value cannot be passed to a script");
  }
  return out ? out : fail(cx, "out of memory");
}

// V8's String::kMaxLength on 64-bit hosts, in UTF-16 code units.
constexpr size_t kMaxJsStringLength = (size_t(1) << 29) - 24;

// UTF-16 code units of valid UTF-8 text (a 4-byte sequence is a surrogate pair).
size_t utf16_length(const char* s, size_t len) {
  size_t units = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) units += c >= 0xF0 ? 2 : 1;
  }
  return units;
}

// Text too long for napi_create_string_utf8, which refuses more than
// kMaxJsStringLength *bytes*, though the string may still fit in as many
// UTF-16 units: decoded here and created from UTF-16.
napi_value make_long_string(napi_env env, const char* s, size_t len, size_t units) {
  std::u16string text;
  try {
    text.resize(units);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  size_t out = 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = c;
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (extra) cp = c & (0x3F >> extra);
    for (int k = 1; k <= extra && i + k < len; k++) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += extra + 1;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      text[out++] = static_cast<char16_t>(0xD800 + (cp >> 10));
      text[out++] = static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      text[out++] = static_cast<char16_t>(cp);
    }
  }
  napi_value result = nullptr;
  if (napi_create_string_utf16(env, text.data(), out, &result) != napi_ok) return nullptr;
  return result;
}

// A JS string for `len` bytes of UTF-8; nullptr with *too_large set when it
// is longer than any JS string can be.
napi_value make_string(napi_env env, const char* s, size_t len, std::string* too_large) {
  napi_value out = nullptr;
  if (!s) len = 0;
  if (len <= kMaxJsStringLength) {
    napi_create_string_utf8(env, s ? s : "", len, &out);
    return out;
  }
  size_t units = utf16_length(s, len);
  if (units > kMaxJsStringLength) {
    *too_large = "the result holds a string of " + std::to_string(units) +
                 " characters (UTF-16 units), longer than V8's string limit of 2^29-24 (" +
                 std::to_string(kMaxJsStringLength) + ")";
    return nullptr;
  }
  return make_long_string(env, s, len, units);
}

napi_value to_js_napi(napi_env env, AddonData* data, const brake_value* v, std::string* too_large);

bool set_entries(napi_env env, AddonData* data, napi_value obj, const brake_value* v, std::string* too_large) {
  size_t n = brake_value_length(v);
  for (size_t i = 0; i < n; i++) {
    size_t klen = 0;
    const char* k = brake_value_map_key(v, i, &klen);
    napi_value key = make_string(env, k, klen, too_large);
    if (!key) return false;
    napi_value item = to_js_napi(env, data, brake_value_map_value(v, i), too_large);
    if (!item) return false;
    if (klen == 9 && std::memcmp(k, "__proto__", 9) == 0) {
      // defineProperty, so the key is data and never the prototype setter.
      napi_property_descriptor d = {nullptr, key, nullptr, nullptr, nullptr, item, napi_default_jsproperty, nullptr};
      if (napi_define_properties(env, obj, 1, &d) != napi_ok) return false;
    } else if (napi_set_property(env, obj, key, item) != napi_ok) {
      return false;
    }
  }
  return true;
}

// The N-API path, node by node.
napi_value to_js_napi(napi_env env, AddonData* data, const brake_value* v, std::string* too_large) {
  napi_value out = nullptr;
  switch (brake_value_kind(v)) {
    case BRAKE_KIND_NULL:
      napi_get_null(env, &out);
      break;
    case BRAKE_KIND_BOOL:
      napi_get_boolean(env, brake_value_get_bool(v) != 0, &out);
      break;
    case BRAKE_KIND_INT: {
      int64_t i = brake_value_get_int(v);
      if (i >= -kMaxSafeInteger && i <= kMaxSafeInteger)
        napi_create_int64(env, i, &out);
      else
        napi_create_bigint_int64(env, i, &out);
      break;
    }
    case BRAKE_KIND_FLOAT:
      napi_create_double(env, brake_value_get_float(v), &out);
      break;
    case BRAKE_KIND_STRING:
    case BRAKE_KIND_ENUM: {
      size_t len = 0;
      const char* s = brake_value_get_string(v, &len);
      out = make_string(env, s, len, too_large);
      break;
    }
    case BRAKE_KIND_ARRAY: {
      size_t n = brake_value_length(v);
      if (napi_create_array_with_length(env, n, &out) != napi_ok) return nullptr;
      for (size_t i = 0; i < n; i++) {
        napi_value item = to_js_napi(env, data, brake_value_array_get(v, i), too_large);
        if (!item || napi_set_element(env, out, static_cast<uint32_t>(i), item) != napi_ok) return nullptr;
      }
      break;
    }
    case BRAKE_KIND_MAP:
      if (napi_create_object(env, &out) != napi_ok || !set_entries(env, data, out, v, too_large)) return nullptr;
      break;
    case BRAKE_KIND_INSTANCE: {
      if (napi_create_object(env, &out) != napi_ok || !set_entries(env, data, out, v, too_large)) return nullptr;
      const char* t = brake_value_type_name(v);
      napi_value name = make_string(env, t, t ? std::strlen(t) : 0, too_large);
      if (!name) return nullptr;
      napi_property_descriptor d = {nullptr, data->class_symbol.Value(), nullptr, nullptr, nullptr, name,
                                    napi_default, nullptr};
      if (napi_define_properties(env, out, 1, &d) != napi_ok) return nullptr;
      break;
    }
  }
  return out;
}


}  // namespace

// Reads a JS string as UTF-8 (short strings without a second N-API call).
bool read_string(napi_env env, napi_value v, std::string* out) {
  char buf[256];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) != napi_ok) return false;
  // Only whole characters are written: a cut string may end up to 3 bytes
  // short of the room, so a string that long may be cut.
  if (len + 4 < sizeof buf) {
    out->assign(buf, len);
    return true;
  }
  // A UTF-16 unit takes at most 3 bytes of UTF-8: up to a megabyte, one
  // pass into room for the worst case (the length is known without a scan);
  // beyond, the exact length first.
  size_t units = 0;
  if (napi_get_value_string_utf16(env, v, nullptr, 0, &units) != napi_ok) return false;
  if (units <= (size_t(1) << 20) / 3) {
    out->resize(units * 3 + 1);
  } else {
    if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) return false;
    out->resize(len + 1);
  }
  if (napi_get_value_string_utf8(env, v, &(*out)[0], out->size(), &len) != napi_ok) return false;
  out->resize(len);
  return true;
}

brake_value* js_to_value(napi_env env, AddonData* data, napi_value v, std::string* error, napi_value* cause) {
  ToValue cx{env, data, error, cause, {}};
  return convert(cx, v, 0);
}

namespace {

// ---- the JSON path: a container built by V8's JSON.parse
//
// Building a tree of objects through N-API costs a call per key, per value
// and per property set, each interning its key again; V8's JSON.parse does
// the same work in one pass. So a container is written as JSON here, parsed
// by lib's fromJson (lib/values.ts), and its instances get their class mark
// there: `marks` lists, for each object in pre-order, its class name or ""
// for a map. Values JSON cannot carry as the N-API path gives them (an int
// past 2^53, a BigInt there; a float that is not finite) and maps with a key
// JSON.parse would move to the front (an array index) take the N-API path.

bool is_array_index(const char* k, size_t len) {
  if (len == 0 || len > 10) return false;
  for (size_t i = 0; i < len; i++)
    if (k[i] < '0' || k[i] > '9') return false;
  return len == 1 || k[0] != '0';
}

void json_string(std::string& out, const char* s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0; // bytes copied as they are, in runs
  for (size_t i = 0; i < len; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s + run, i - run);
    run = i + 1;
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\n': out += 'n'; break;
      case '\r': out += 'r'; break;
      case '\t': out += 't'; break;
      default: out += "u00"; out += hex[c >> 4]; out += hex[c & 15];
    }
  }
  out.append(s + run, len - run);
  out += '"';
}

bool to_json(const brake_value* v, std::string& out, std::string& marks, bool& any_instance) {
  switch (brake_value_kind(v)) {
    case BRAKE_KIND_NULL: out += "null"; return true;
    case BRAKE_KIND_BOOL: out += brake_value_get_bool(v) ? "true" : "false"; return true;
    case BRAKE_KIND_INT: {
      int64_t i = brake_value_get_int(v);
      if (i < -kMaxSafeInteger || i > kMaxSafeInteger) return false;
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, i);
      out.append(buf, r.ptr);
      return true;
    }
    case BRAKE_KIND_FLOAT: {
      double d = brake_value_get_float(v);
      if (!std::isfinite(d)) return false;
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      return true;
    }
    case BRAKE_KIND_STRING:
    case BRAKE_KIND_ENUM: {
      size_t len = 0;
      const char* s = brake_value_get_string(v, &len);
      json_string(out, s ? s : "", s ? len : 0);
      return true;
    }
    case BRAKE_KIND_ARRAY: {
      size_t n = brake_value_length(v);
      out += '[';
      for (size_t i = 0; i < n; i++) {
        if (i) out += ',';
        if (!to_json(brake_value_array_get(v, i), out, marks, any_instance)) return false;
      }
      out += ']';
      return true;
    }
    case BRAKE_KIND_MAP:
    case BRAKE_KIND_INSTANCE: {
      bool instance = brake_value_kind(v) == BRAKE_KIND_INSTANCE;
      if (instance) {
        const char* t = brake_value_type_name(v);
        marks += t ? t : "";
        any_instance = true;
      }
      marks += '\n';
      size_t n = brake_value_length(v);
      out += '{';
      for (size_t i = 0; i < n; i++) {
        size_t klen = 0;
        const char* k = brake_value_map_key(v, i, &klen);
        if (!instance && is_array_index(k, klen)) return false;
        if (i) out += ',';
        json_string(out, k ? k : "", k ? klen : 0);
        out += ':';
        if (!to_json(brake_value_map_value(v, i), out, marks, any_instance)) return false;
      }
      out += '}';
      return true;
    }
  }
  return false;
}

// The container `v` through lib's fromJson; nullptr (nothing pending) when
// it must take the N-API path.
napi_value container_from_json(napi_env env, AddonData* data, const brake_value* v) {
  if (data->from_json.IsEmpty()) return nullptr;
  std::string text, marks;
  bool any_instance = false;
  try {
    if (!to_json(v, text, marks, any_instance)) return nullptr;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  return json_to_js(env, data, text.data(), text.size(), any_instance ? marks.data() : nullptr, marks.size());
}

}  // namespace

napi_value json_to_js(napi_env env, AddonData* data, const char* text, size_t len, const char* classes,
                      size_t classes_len) {
  if (data->from_json.IsEmpty() || len > kMaxJsStringLength) return nullptr;
  napi_value args[2];
  if (napi_create_string_utf8(env, text, len, &args[0]) != napi_ok) return nullptr;
  if (classes) {
    if (napi_create_string_utf8(env, classes, classes_len, &args[1]) != napi_ok) return nullptr;
  } else {
    napi_get_undefined(env, &args[1]);
  }
  napi_value undefined, out = nullptr;
  napi_get_undefined(env, &undefined);
  if (napi_call_function(env, undefined, data->from_json.Value(), 2, args, &out) != napi_ok) return nullptr;
  return out;
}

napi_value value_to_js(napi_env env, AddonData* data, const brake_value* v, std::string* too_large) {
  brake_kind kind = brake_value_kind(v);
  if (kind == BRAKE_KIND_ARRAY || kind == BRAKE_KIND_MAP || kind == BRAKE_KIND_INSTANCE) {
    if (napi_value fast = container_from_json(env, data, v)) return fast;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) return nullptr;
  }
  return to_js_napi(env, data, v, too_large);
}

napi_value call_id_to_js(napi_env env, brake_call_id id) {
  napi_value out = nullptr;
  if (id <= static_cast<brake_call_id>(kMaxSafe))
    napi_create_double(env, static_cast<double>(id), &out);
  else
    napi_create_bigint_uint64(env, id, &out);
  return out;
}

bool js_to_call_id(napi_env env, napi_value v, brake_call_id* out) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return false;
  if (type == napi_number) {
    double d = 0;
    napi_get_value_double(env, v, &d);
    if (!(d >= 1 && d <= kMaxSafe) || std::trunc(d) != d) return false;
    *out = static_cast<brake_call_id>(d);
    return true;
  }
  if (type == napi_bigint) {
    uint64_t u = 0;
    bool lossless = false;
    if (napi_get_value_bigint_uint64(env, v, &u, &lossless) != napi_ok || !lossless || u == 0) return false;
    *out = u;
    return true;
  }
  return false;
}

}  // namespace brake_addon
