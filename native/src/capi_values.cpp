// capi_values.cpp: brake_value constructors, accessors and the display format.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "abi_value.h"
#include "common/utf8.h"

namespace brake {

void set_last_error(const std::string& message); // capi.cpp

ValuePtr clone_value(const brake_value& v) {
  auto out = std::make_unique<brake_value>(v.kind);
  out->i = v.i;
  out->text = v.text;
  out->type_name = v.type_name;
  out->keys = v.keys;
  out->items.reserve(v.items.size());
  for (auto& item : v.items) out->items.push_back(clone_value(*item));
  return out;
}

} // namespace brake

using brake::set_last_error;

namespace {

brake_value* make(brake_kind k) { return new (std::nothrow) brake_value(k); }

int fail(int status, const char* message) {
  set_last_error(message);
  return status;
}

// Shortest text that reads back as the same double, written like Python's
// repr: positional between 1e-4 and 1e16 (100000.0, 0.001), else with an
// exponent (1e+16, 1e-05); always with '.', 'e', "inf" or "nan".
void format_float(double f, std::string& out) {
  if (std::isnan(f)) { out += "nan"; return; }
  if (std::isinf(f)) { out += f < 0 ? "-inf" : "inf"; return; }
  char buf[64];
  int digits = 1;
  for (; digits <= 17; digits++) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, f);
    if (std::strtod(buf, nullptr) == f) break;
  }
  int exponent = std::atoi(std::strchr(buf, 'e') + 1);
  if (f != 0 && (exponent < -4 || exponent >= 16)) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, f);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", std::max(digits - 1 - exponent, 1), f);
  }
  out += buf;
  if (!std::strpbrk(buf, ".e")) out += ".0";
}

void format_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\t': out += "\\t"; break;
    case '\r': out += "\\r"; break;
    default:
      if (c < 0x20 || c == 0x7F) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += char(c);
      }
    }
  }
  out += '"';
}

void format(const brake_value* v, std::string& out) {
  if (!v) { out += "null"; return; }
  switch (v->kind) {
  case BRAKE_KIND_NULL: out += "null"; break;
  case BRAKE_KIND_BOOL: out += v->b ? "true" : "false"; break;
  case BRAKE_KIND_INT: out += std::to_string(v->i); break;
  case BRAKE_KIND_FLOAT: format_float(v->f, out); break;
  case BRAKE_KIND_STRING: format_string(v->text, out); break;
  case BRAKE_KIND_ENUM: out += v->type_name + "." + v->text; break;
  case BRAKE_KIND_ARRAY:
    out += '[';
    for (size_t i = 0; i < v->items.size(); i++) {
      if (i) out += ", ";
      format(v->items[i].get(), out);
    }
    out += ']';
    break;
  case BRAKE_KIND_MAP:
  case BRAKE_KIND_INSTANCE:
    if (v->kind == BRAKE_KIND_INSTANCE) out += v->type_name + " ";
    out += '{';
    for (size_t i = 0; i < v->items.size(); i++) {
      if (i) out += ", ";
      if (v->kind == BRAKE_KIND_MAP) format_string(v->keys[i], out);
      else out += v->keys[i];
      out += ": ";
      format(v->items[i].get(), out);
    }
    out += '}';
    break;
  }
}

char* dup_string(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

} // namespace

char* brake_internal_dup_string(const std::string& s) { return dup_string(s); }

extern "C" {

brake_value* brake_value_null(void) { return make(BRAKE_KIND_NULL); }
brake_value* brake_value_bool(int b) {
  brake_value* v = make(BRAKE_KIND_BOOL);
  if (v) v->b = b ? 1 : 0;
  return v;
}
brake_value* brake_value_int(int64_t i) {
  brake_value* v = make(BRAKE_KIND_INT);
  if (v) v->i = i;
  return v;
}
brake_value* brake_value_float(double f) {
  brake_value* v = make(BRAKE_KIND_FLOAT);
  if (v) v->f = f;
  return v;
}
int brake_value_string(const char* s, size_t len, brake_value** out) {
  if (!out) return fail(BRAKE_MISUSE, "out is NULL");
  *out = nullptr;
  if (!s && len > 0) return fail(BRAKE_MISUSE, "string is NULL");
  std::string_view view(s ? s : "", len);
  if (!brake::is_valid_utf8(view)) return fail(BRAKE_INVALID_ARGUMENT, "string is not valid UTF-8");
  try {
    brake_value* v = new brake_value(BRAKE_KIND_STRING);
    v->text.assign(view);
    *out = v;
    return BRAKE_OK;
  } catch (const std::bad_alloc&) {
    return fail(BRAKE_NO_MEMORY, "out of memory");
  }
}
brake_value* brake_value_array(void) { return make(BRAKE_KIND_ARRAY); }
brake_value* brake_value_map(void) { return make(BRAKE_KIND_MAP); }

int brake_value_instance(const char* type_name, brake_value** out) {
  if (!out || !type_name) return fail(BRAKE_MISUSE, "NULL argument");
  *out = nullptr;
  if (!brake::is_valid_utf8(type_name)) return fail(BRAKE_INVALID_ARGUMENT, "type name is not valid UTF-8");
  brake_value* v = make(BRAKE_KIND_INSTANCE);
  if (!v) return fail(BRAKE_NO_MEMORY, "out of memory");
  v->type_name = type_name;
  *out = v;
  return BRAKE_OK;
}

int brake_value_enum(const char* type_name, const char* variant, brake_value** out) {
  if (!out || !type_name || !variant) return fail(BRAKE_MISUSE, "NULL argument");
  *out = nullptr;
  if (!brake::is_valid_utf8(type_name) || !brake::is_valid_utf8(variant))
    return fail(BRAKE_INVALID_ARGUMENT, "name is not valid UTF-8");
  brake_value* v = make(BRAKE_KIND_ENUM);
  if (!v) return fail(BRAKE_NO_MEMORY, "out of memory");
  v->type_name = type_name;
  v->text = variant;
  *out = v;
  return BRAKE_OK;
}

int brake_value_array_push(brake_value* arr, brake_value* item) {
  brake::ValuePtr owned(item);
  if (!arr || !item || arr->kind != BRAKE_KIND_ARRAY) return fail(BRAKE_MISUSE, "not an array, or NULL item");
  try {
    arr->items.push_back(std::move(owned));
    return BRAKE_OK;
  } catch (const std::bad_alloc&) {
    return fail(BRAKE_NO_MEMORY, "out of memory");
  }
}

int brake_value_map_set(brake_value* map, const char* key, size_t key_len, brake_value* item) {
  brake::ValuePtr owned(item);
  if (!map || !item || (!key && key_len) || (map->kind != BRAKE_KIND_MAP && map->kind != BRAKE_KIND_INSTANCE))
    return fail(BRAKE_MISUSE, "not a map or instance, or NULL argument");
  std::string_view k(key ? key : "", key_len);
  if (!brake::is_valid_utf8(k)) return fail(BRAKE_INVALID_ARGUMENT, "key is not valid UTF-8");
  try {
    for (size_t i = 0; i < map->keys.size(); i++)
      if (map->keys[i] == k) {
        map->items[i] = std::move(owned);
        return BRAKE_OK;
      }
    map->keys.emplace_back(k);
    map->items.push_back(std::move(owned));
    return BRAKE_OK;
  } catch (const std::bad_alloc&) {
    return fail(BRAKE_NO_MEMORY, "out of memory");
  }
}

void brake_value_free(brake_value* v) { delete v; }

brake_value* brake_value_clone(const brake_value* v) {
  if (!v) return nullptr;
  try {
    return brake::clone_value(*v).release();
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

brake_kind brake_value_kind(const brake_value* v) { return v ? v->kind : BRAKE_KIND_NULL; }
int brake_value_get_bool(const brake_value* v) { return v && v->kind == BRAKE_KIND_BOOL ? v->b : 0; }
int64_t brake_value_get_int(const brake_value* v) { return v && v->kind == BRAKE_KIND_INT ? v->i : 0; }
double brake_value_get_float(const brake_value* v) { return v && v->kind == BRAKE_KIND_FLOAT ? v->f : 0.0; }

const char* brake_value_get_string(const brake_value* v, size_t* len) {
  if (!v || (v->kind != BRAKE_KIND_STRING && v->kind != BRAKE_KIND_ENUM)) {
    if (len) *len = 0;
    return nullptr;
  }
  if (len) *len = v->text.size();
  return v->text.c_str();
}

const char* brake_value_type_name(const brake_value* v) {
  return v && (v->kind == BRAKE_KIND_INSTANCE || v->kind == BRAKE_KIND_ENUM) ? v->type_name.c_str() : nullptr;
}

size_t brake_value_length(const brake_value* v) {
  return v && (v->kind == BRAKE_KIND_ARRAY || v->kind == BRAKE_KIND_MAP || v->kind == BRAKE_KIND_INSTANCE) ? v->items.size() : 0;
}

const brake_value* brake_value_array_get(const brake_value* v, size_t i) {
  return v && v->kind == BRAKE_KIND_ARRAY && i < v->items.size() ? v->items[i].get() : nullptr;
}

const char* brake_value_map_key(const brake_value* v, size_t i, size_t* len) {
  if (!v || (v->kind != BRAKE_KIND_MAP && v->kind != BRAKE_KIND_INSTANCE) || i >= v->keys.size()) {
    if (len) *len = 0;
    return nullptr;
  }
  if (len) *len = v->keys[i].size();
  return v->keys[i].c_str();
}

const brake_value* brake_value_map_value(const brake_value* v, size_t i) {
  if (!v || (v->kind != BRAKE_KIND_MAP && v->kind != BRAKE_KIND_INSTANCE) || i >= v->items.size()) return nullptr;
  return v->items[i].get();
}

const brake_value* brake_value_map_find(const brake_value* v, const char* key, size_t key_len) {
  if (!v || (v->kind != BRAKE_KIND_MAP && v->kind != BRAKE_KIND_INSTANCE) || (!key && key_len)) return nullptr;
  std::string_view k(key ? key : "", key_len);
  for (size_t i = 0; i < v->keys.size(); i++)
    if (v->keys[i] == k) return v->items[i].get();
  return nullptr;
}

int brake_value_format(const brake_value* v, char** out) {
  if (!out) return fail(BRAKE_MISUSE, "out is NULL");
  try {
    std::string s;
    format(v, s);
    *out = dup_string(s);
    return *out ? BRAKE_OK : fail(BRAKE_NO_MEMORY, "out of memory");
  } catch (const std::bad_alloc&) {
    *out = nullptr;
    return fail(BRAKE_NO_MEMORY, "out of memory");
  }
}

void brake_string_free(char* s) { std::free(s); }

} // extern "C"
