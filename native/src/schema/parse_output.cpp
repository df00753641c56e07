#include "schema/parse_output.h"

#include <cctype>

#include "json/json.h"

namespace brake::schema {

namespace {

using lang::TypeId;
using lang::TypeKind;
using T = lang::TypeTable;
using vm::Tag;
using vm::Value;

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) b++;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) e--;
  return s.substr(b, e - b);
}

// The inside of the first ``` fence (its info word, such as json, dropped),
// or the text itself when it has none.
std::string_view unfence(std::string_view s) {
  size_t open = s.find("```");
  if (open == std::string_view::npos) return s;
  size_t line = s.find('\n', open + 3);
  if (line == std::string_view::npos) return s;
  size_t close = s.find("```", line + 1);
  if (close == std::string_view::npos) return s.substr(line + 1);
  return s.substr(line + 1, close - line - 1);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

const char* json_kind(const Value& v) {
  switch (v.tag) {
  case Tag::Null: return "null";
  case Tag::Bool: return "a boolean";
  case Tag::Int: return "an integer";
  case Tag::Float: return "a number";
  case Tag::String: return "a string";
  case Tag::Array: return "an array";
  case Tag::Map: return "an object";
  default: return "a value";
  }
}

class Fitter {
public:
  Fitter(const vm::CompiledProgram& p, vm::Heap& heap) : m_p(p), m_heap(heap) {}
  std::string error;

  // Fits JSON value `v` to `t`; on false, `error` says where and why.
  bool fit(const Value& v, TypeId t, std::string& path, Value& out) {
    const lang::Type& type = m_p.types.get(t);
    switch (type.kind) {
    case TypeKind::Any: out = v; return true;
    case TypeKind::Alias: break; // get() sees through aliases
    case TypeKind::Never: return fail(path, "no value fits never", v);
    case TypeKind::Null: return v.tag == Tag::Null ? (out = v, true) : expected(path, "null", v);
    case TypeKind::Bool: return v.tag == Tag::Bool ? (out = v, true) : expected(path, "bool", v);
    case TypeKind::Int: return v.tag == Tag::Int ? (out = v, true) : expected(path, "int", v);
    case TypeKind::Float:
      if (v.tag == Tag::Int) out = Value::number(double(v.i));
      else if (v.tag == Tag::Float) out = v;
      else return expected(path, "float", v);
      return true;
    case TypeKind::String: return v.tag == Tag::String ? (out = v, true) : expected(path, "string", v);
    case TypeKind::Array: return fit_array(v, type.args[0], path, out);
    case TypeKind::Map: return fit_map(v, type.args[1], path, out);
    case TypeKind::Class: return fit_class(v, uint32_t(type.decl), path, out);
    case TypeKind::Enum: return fit_enum(v, uint32_t(type.decl), path, out);
    case TypeKind::Union: return fit_union(v, t, type, path, out);
    case TypeKind::Literal: {
      bool same = type.args[0] == T::STRING ? v.tag == Tag::String && v.as_string()->text == type.literal
                  : type.args[0] == T::INT  ? v.tag == Tag::Int && std::to_string(v.i) == type.literal
                                            : v.tag == Tag::Bool && (v.b ? "true" : "false") == type.literal;
      return same ? (out = v, true) : expected(path, m_p.type_name(t).c_str(), v);
    }
    }
    return fail(path, "unknown type", v);
  }

private:
  bool fail(const std::string& path, const std::string& what, const Value&) {
    error = (path.empty() ? "$" : path) + ": " + what;
    return false;
  }
  bool expected(const std::string& path, const char* type, const Value& v) {
    return fail(path, std::string("expected ") + type + ", got " + json_kind(v), v);
  }

  bool fit_array(const Value& v, TypeId elem, std::string& path, Value& out) {
    if (v.tag != Tag::Array) return expected(path, (m_p.type_name(elem) + "[]").c_str(), v);
    const auto& items = v.as_array()->items;
    vm::ArrayObj* a = m_heap.new_array(items.size());
    out = Value::object(Tag::Array, a);
    for (size_t i = 0; i < items.size(); i++) {
      size_t mark = path.size();
      path += "[" + std::to_string(i) + "]";
      Value item;
      if (!fit(items[i], elem, path, item)) return false;
      path.resize(mark);
      m_heap.array_push(a, item);
    }
    return true;
  }

  bool fit_map(const Value& v, TypeId value_type, std::string& path, Value& out) {
    if (v.tag != Tag::Map) return expected(path, "a map (an object)", v);
    const vm::MapObj* in = v.as_map();
    vm::MapObj* m = m_heap.new_map(in->size());
    out = Value::object(Tag::Map, m);
    for (size_t i = 0; i < in->size(); i++) {
      size_t mark = path.size();
      path += "." + in->keys[i];
      Value item;
      if (!fit(in->values[i], value_type, path, item)) return false;
      path.resize(mark);
      m_heap.map_set(m, in->keys[i], item);
    }
    return true;
  }

  bool fit_class(const Value& v, uint32_t cls, std::string& path, Value& out) {
    const vm::ClassInfo& info = m_p.classes[cls];
    if (v.tag != Tag::Map) return expected(path, info.name.c_str(), v);
    const vm::MapObj* in = v.as_map();
    vm::InstanceObj* o = m_heap.new_instance(cls, info.field_names.size());
    out = Value::object(Tag::Instance, o);
    for (size_t f = 0; f < info.field_names.size(); f++) {
      const Value* found = in->find(info.shown_name(f));
      if (!found) found = in->find(info.field_names[f]);
      size_t mark = path.size();
      path += "." + info.shown_name(f);
      if (!found) {
        if (!m_p.types.contains_null(info.field_types[f]) && m_p.types.kind(info.field_types[f]) != TypeKind::Any)
          return fail(path, "missing (a " + m_p.type_name(info.field_types[f]) + " is required)", v);
        o->fields[f] = Value::null();
      } else if (!fit(*found, info.field_types[f], path, o->fields[f])) {
        return false;
      }
      path.resize(mark);
    }
    return true;
  }

  bool fit_enum(const Value& v, uint32_t e, std::string& path, Value& out) {
    const vm::EnumInfo& info = m_p.enums[e];
    if (v.tag != Tag::String) return expected(path, info.name.c_str(), v);
    std::string_view s = trim(v.as_string()->text);
    for (int pass = 0; pass < 2; pass++)
      for (size_t i = 0; i < info.variants.size(); i++) {
        const std::string& shown = info.shown_name(i);
        if (pass == 0 ? (s == shown || s == info.variants[i]) : (iequals(s, shown) || iequals(s, info.variants[i]))) {
          out = Value::enum_variant(e, uint32_t(i));
          return true;
        }
      }
    return fail(path, "\"" + std::string(s) + "\" is not a variant of " + info.name, v);
  }

  bool fit_union(const Value& v, TypeId t, const lang::Type& type, std::string& path, Value& out) {
    if (v.tag == Tag::Null && m_p.types.contains_null(t)) {
      out = v;
      return true;
    }
    std::string first_error;
    size_t mark = path.size();
    for (TypeId member : type.args) {
      if (member == T::NUL) continue;
      if (fit(v, member, path, out)) return true;
      path.resize(mark); // a failed member leaves its own path behind
      if (first_error.empty()) first_error = error;
    }
    return fail(path, "fits none of " + m_p.type_name(t) + " (" + first_error + ")", v);
  }

  const vm::CompiledProgram& m_p;
  vm::Heap& m_heap;
};

bool takes_text(const vm::CompiledProgram& p, TypeId t) {
  if (t == T::STRING) return true;
  if (p.types.kind(t) != TypeKind::Union) return false;
  const auto& members = p.types.get(t).args;
  for (TypeId m : members)
    if (m != T::STRING && m != T::NUL) return false;
  return true; // string? : the text itself
}

} // namespace

bool parse_output(std::string_view text, lang::TypeId t, const vm::CompiledProgram& program, vm::Heap& heap,
                  const std::atomic<uint32_t>* cancel_state, vm::Value& out, std::string& error,
                  const ParseOptions& /*options*/) {
  if (takes_text(program, t) || program.types.kind(t) == TypeKind::Any) {
    out = heap.string_value(text);
    return true;
  }
  std::string_view json_text = trim(unfence(trim(text)));
  Value parsed;
  Fitter fitter(program, heap);
  std::string path = "$";
  try {
    parsed = json::parse(json_text, heap, cancel_state);
  } catch (const json::Error& e) {
    // Text that is not JSON may still be an enum's variant ("Happy"): the
    // trimmed text is tried as a string before giving up.
    if (fitter.fit(heap.string_value(json_text), t, path, out)) return true;
    error = "the reply is not JSON (" + std::string(e.what()) + ")";
    return false;
  }
  if (!fitter.fit(parsed, t, path, out)) {
    error = fitter.error;
    return false;
  }
  return true;
}

} // namespace brake::schema
