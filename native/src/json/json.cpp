#include "json/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "common/utf8.h"
#include "simdjson.h"

namespace brake::json {

namespace {

// One parser per thread, reused (it keeps its buffers between documents);
// after a document over 64 KiB its buffers (about 14 bytes per byte of
// capacity) are dropped rather than kept for good.
constexpr size_t kKeepParserBytes = size_t(64) << 10;
// What parsing costs beyond the values it makes, per byte of text, charged
// to the call while it runs: the padded copy (1), and of the parser's
// buffers what a dense document touches (structural indexes and tape for
// `[0,0,...]`: about 6, the string buffer 1). Buffers it allocates but
// never touches are not resident, and not charged.
constexpr size_t kParseBytesPerByte = 8;

struct Builder {
  vm::Heap& heap;
  vm::CancelCheck cc;

  // (simdjson refused documents nested deeper than kMaxDepth: this recursion is bounded.)
  vm::Value build(simdjson::dom::element e) {
    cc.items();
    switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object fields;
      if (e.get_object().get(fields)) throw Error("invalid JSON object");
      vm::MapObj* m = heap.new_map(fields.size()); // (saturated for huge objects: a hint)
      vm::Value out = vm::Value::object(vm::Tag::Map, m);
      // The map is reachable from nothing yet: no collection runs while a
      // builtin builds (collections run between instructions).
      for (simdjson::dom::key_value_pair field : fields) heap.map_set(m, field.key, build(field.value));
      return out;
    }
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array a;
      if (e.get_array().get(a)) throw Error("invalid JSON array");
      vm::ArrayObj* arr = heap.new_array(0);
      vm::Value out = vm::Value::object(vm::Tag::Array, arr);
      heap.array_reserve(arr, a.size());
      for (simdjson::dom::element item : a) heap.array_push(arr, build(item));
      return out;
    }
    case simdjson::dom::element_type::STRING: {
      std::string_view s = e.get_string().value_unsafe();
      cc.bytes(s.size());
      return heap.string_value(s);
    }
    case simdjson::dom::element_type::INT64: return vm::Value::integer(e.get_int64().value_unsafe());
    case simdjson::dom::element_type::UINT64: return vm::Value::number(double(e.get_uint64().value_unsafe()));
    case simdjson::dom::element_type::DOUBLE: return vm::Value::number(e.get_double().value_unsafe());
    case simdjson::dom::element_type::BOOL: return vm::Value::boolean(e.get_bool().value_unsafe());
    case simdjson::dom::element_type::NULL_VALUE: return vm::Value::null();
    }
    return vm::Value::null();
  }
};

} // namespace

vm::Value parse(std::string_view text, vm::Heap& heap, const std::atomic<uint32_t>* cancel_state) {
  size_t working = text.size() > (SIZE_MAX - (size_t(64) << 10)) / kParseBytesPerByte
                       ? SIZE_MAX
                       : text.size() * kParseBytesPerByte + (size_t(64) << 10);
  heap.charge(working); // throws vm::MemoryLimitExceeded: nothing allocated yet
  struct Uncharge {
    vm::Heap& heap;
    size_t bytes;
    ~Uncharge() { heap.uncharge(bytes); }
  } uncharge{heap, working};
  thread_local std::unique_ptr<simdjson::dom::parser> parser;
  if (!parser) {
    // Any size (capacity grows with the document); nesting up to kMaxDepth.
    auto p = std::make_unique<simdjson::dom::parser>();
    if (p->allocate(simdjson::SIMDJSON_PADDING * 64, kMaxDepth)) throw std::bad_alloc();
    parser = std::move(p);
  }
  struct Trim {
    std::unique_ptr<simdjson::dom::parser>& p;
    ~Trim() {
      if (p->capacity() > kKeepParserBytes) p.reset();
    }
  } trim{parser};
  // simdjson reads past the end of its input in blocks: it needs a padded
  // copy unless the bytes after the text are readable (not known here).
  simdjson::padded_string padded(text.data(), text.size());
  if (!padded.data()) throw std::bad_alloc(); // its constructor does not throw
  simdjson::dom::element root;
  simdjson::error_code err = parser->parse(padded).get(root);
  if (err == simdjson::MEMALLOC) throw std::bad_alloc();
  if (err == simdjson::BIGINT_ERROR) throw Error("JSON with an integer beyond 64 bits is not supported");
  if (err == simdjson::DEPTH_ERROR) throw Error("JSON nested more than " + std::to_string(kMaxDepth) + " levels deep");
  if (err) throw Error(std::string("invalid JSON: ") + simdjson::error_message(err));
  Builder b{heap, vm::CancelCheck(cancel_state)};
  return b.build(root);
}

void append_string(std::string& out, std::string_view s, bool html_safe) {
  if (is_valid_utf8(s)) return append_valid_string(out, s, html_safe);
  std::string valid;
  append_lossy_utf8(valid, s);
  append_valid_string(out, valid, html_safe);
}

namespace {
// The bytes a JSON string must escape: control characters, '"' and '\\';
// with html_safe also < > & ' (as Jinja's tojson).
struct EscapeTable {
  bool plain[256] = {}, html[256] = {};
  EscapeTable() {
    for (int c = 0; c < 0x20; c++) plain[c] = html[c] = true;
    plain[int('"')] = html[int('"')] = plain[int('\\')] = html[int('\\')] = true;
    html[int('<')] = html[int('>')] = html[int('&')] = html[int('\'')] = true;
  }
};
const EscapeTable kEscapes;
} // namespace

void append_valid_string(std::string& out, std::string_view s, bool html_safe) {
  static const char kHex[] = "0123456789abcdef";
  const bool* escaped = html_safe ? kEscapes.html : kEscapes.plain;
  out += '"';
  size_t i = 0, n = s.size();
  for (;;) {
    size_t run = i;
    while (i < n && !escaped[static_cast<unsigned char>(s[i])]) i++;
    out.append(s.data() + run, i - run);
    if (i == n) break;
    unsigned char c = static_cast<unsigned char>(s[i++]);
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    default:
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += '"';
}

namespace {

struct Writer {
  const vm::CompiledProgram& program;
  std::string& out;
  size_t max_bytes;
  vm::CancelCheck cc;
  std::vector<const vm::Object*> path; // objects being written (a cycle has no JSON)

  void write(vm::Value v, int depth) {
    cc.items();
    // Shared parts are written each time they are met: a small value can
    // stand for a huge text, so the text is bounded as it grows.
    if (out.size() > max_bytes) throw Error("the JSON text would be longer than " + std::to_string(max_bytes) + " bytes");
    switch (v.tag) {
    case vm::Tag::Null: out += "null"; return;
    case vm::Tag::Bool: out += v.b ? "true" : "false"; return;
    case vm::Tag::Int: out += std::to_string(v.i); return;
    case vm::Tag::Float: {
      if (!std::isfinite(v.f)) throw Error("JSON has no " + std::string(std::isnan(v.f) ? "NaN" : "Infinity"));
      // The shortest text that reads back the same value, whatever the
      // process's locale.
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, v.f);
      out.append(buf, r.ptr);
      // A float stays a float for whoever reads it back ("2.0", not "2").
      if (std::string_view(buf, size_t(r.ptr - buf)).find_first_of(".e") == std::string_view::npos) out += ".0";
      return;
    }
    case vm::Tag::Enum: {
      const auto& e = program.enums[v.enum_id()];
      append_string(out, e.variants[v.variant()]);
      return;
    }
    case vm::Tag::String:
      cc.bytes(v.as_string()->text.size());
      append_string(out, v.as_string()->text);
      return;
    case vm::Tag::Function:
    case vm::Tag::Future:
    case vm::Tag::TaskGroup:
    case vm::Tag::CancelToken:
    case vm::Tag::Cell: throw Error(v.is_handle() ? "a future, task group or cancel token has no JSON" : "a function value has no JSON");
    default: break;
    }
    if (depth >= kMaxDepth) throw Error("value nested more than " + std::to_string(kMaxDepth) + " levels deep");
    for (const vm::Object* o : path)
      if (o == v.obj) throw Error("a value that contains itself has no JSON");
    path.push_back(v.obj);
    switch (v.tag) {
    case vm::Tag::Array: {
      out += '[';
      const auto& items = v.as_array()->items;
      for (size_t i = 0; i < items.size(); i++) {
        if (i) out += ',';
        write(items[i], depth + 1);
      }
      out += ']';
      break;
    }
    case vm::Tag::Map: {
      out += '{';
      const vm::MapObj* m = v.as_map();
      for (size_t i = 0; i < m->size(); i++) {
        if (i) out += ',';
        append_string(out, m->keys[i]);
        out += ':';
        write(m->values[i], depth + 1);
      }
      out += '}';
      break;
    }
    case vm::Tag::Instance: {
      out += '{';
      const vm::InstanceObj* o = v.as_instance();
      const vm::ClassInfo& cls = program.classes[o->class_id];
      bool first = true;
      for (size_t i = 0; i < cls.field_names.size(); i++) {
        if (cls.field_names[i][0] == '#') continue;
        if (!first) out += ',';
        first = false;
        append_string(out, cls.field_names[i]);
        out += ':';
        write(o->fields[i], depth + 1);
      }
      out += '}';
      break;
    }
    default: out += "null"; break;
    }
    path.pop_back();
  }
};

} // namespace

void serialize(vm::Value v, const vm::CompiledProgram& program, std::string& out, size_t max_bytes,
               const std::atomic<uint32_t>* cancel_state) {
  Writer w{program, out, max_bytes, vm::CancelCheck(cancel_state), {}};
  w.write(v, 0);
  if (out.size() > max_bytes) throw Error("the JSON text would be longer than " + std::to_string(max_bytes) + " bytes");
}

} // namespace brake::json
