#include "schema/output_format.h"

#include <algorithm>

namespace brake::schema {

namespace {

using lang::TypeId;
using lang::TypeKind;
using T = lang::TypeTable;

class Renderer {
public:
  explicit Renderer(const vm::CompiledProgram& p) : m_p(p) {}
  std::vector<uint32_t> hoisted; // enums named inside the schema, in first-use order
  // A program's classes can share parts (A holds two Bs, each two Cs, ...),
  // and inlining each use grows the text exponentially: past
  // kMaxExpansions class bodies the format is refused.
  static constexpr size_t kMaxExpansions = 10000;
  bool too_large = false;

  // `t` as the schema shows it, nested `indent` spaces deep.
  std::string type(TypeId t, size_t indent, bool top) {
    const lang::Type& ty = m_p.types.get(t);
    switch (ty.kind) {
    case TypeKind::Class: return klass(uint32_t(ty.decl), indent);
    case TypeKind::Enum:
      if (!top && std::find(hoisted.begin(), hoisted.end(), uint32_t(ty.decl)) == hoisted.end())
        hoisted.push_back(uint32_t(ty.decl));
      return top ? enum_block(uint32_t(ty.decl)) : m_p.enums[size_t(ty.decl)].name;
    case TypeKind::Array: {
      TypeId elem = ty.args[0];
      TypeKind k = m_p.types.kind(elem);
      if (k == TypeKind::Class) return "[\n" + pad(indent + 2) + type(elem, indent + 2, false) + ",\n" + pad(indent) + "]";
      std::string inner = type(elem, indent, false);
      return k == TypeKind::Union ? "(" + inner + ")[]" : inner + "[]";
    }
    case TypeKind::Map: return "map<" + type(ty.args[0], indent, false) + ", " + type(ty.args[1], indent, false) + ">";
    case TypeKind::Union: {
      std::string s;
      for (TypeId m : ty.args) {
        if (!s.empty()) s += " or ";
        s += type(m, indent, false);
      }
      return s;
    }
    default: return m_p.type_name(t);
    }
  }

  std::string enum_block(uint32_t e) {
    const vm::EnumInfo& info = m_p.enums[e];
    std::string s = info.name + "\n----";
    for (size_t i = 0; i < info.variants.size(); i++) {
      s += "\n- " + info.shown_name(i);
      if (i < info.variant_attrs.size() && !info.variant_attrs[i].description.empty())
        s += ": " + info.variant_attrs[i].description;
    }
    return s;
  }

private:
  static std::string pad(size_t n) { return std::string(n, ' '); }

  std::string klass(uint32_t c, size_t indent) {
    const vm::ClassInfo& info = m_p.classes[c];
    if (std::find(m_open.begin(), m_open.end(), c) != m_open.end()) return info.name; // recursive: by name
    if (++m_expansions > kMaxExpansions) {
      too_large = true;
      return info.name;
    }
    m_open.push_back(c);
    std::string s = "{\n";
    for (size_t f = 0; f < info.field_names.size(); f++) {
      if (!info.field_names[f].empty() && info.field_names[f][0] == '#') continue;
      s += pad(indent + 2) + info.shown_name(f) + ": " + type(info.field_types[f], indent + 2, false) + ",";
      if (f < info.field_attrs.size() && !info.field_attrs[f].description.empty()) s += " // " + info.field_attrs[f].description;
      s += "\n";
    }
    m_open.pop_back();
    return s + pad(indent) + "}";
  }

  const vm::CompiledProgram& m_p;
  std::vector<uint32_t> m_open; // classes being rendered (a recursive one is named, not expanded)
  size_t m_expansions = 0;
};

// BAML's sentence before the schema, by the type's kind.
std::string default_prefix(const vm::CompiledProgram& p, TypeId t) {
  switch (p.types.kind(t)) {
  case TypeKind::Int: return "Answer as an ";
  case TypeKind::Float: return "Answer as a ";
  case TypeKind::Bool: return "Answer as a ";
  case TypeKind::Enum: return "Answer with any of the categories:\n";
  case TypeKind::Array: return "Answer with a JSON Array using this schema:\n";
  case TypeKind::Union: return "Answer in JSON using any of these schemas:\n";
  default: return "Answer in JSON using this schema:\n";
  }
}

} // namespace

bool render_output_format(const vm::CompiledProgram& program, TypeId t,
                          const std::vector<std::pair<std::string, vm::Value>>& kwargs, std::string& out, std::string& error) {
  bool has_prefix = false;
  std::string prefix;
  for (const auto& [name, value] : kwargs) {
    if (name != "prefix") {
      error = "ctx.output_format: the option '" + name + "' is not supported (brake supports prefix)";
      return false;
    }
    if (value.tag == vm::Tag::String) prefix = value.as_string()->text;
    else if (value.tag != vm::Tag::Null) {
      error = "ctx.output_format: prefix must be a string or null";
      return false;
    }
    has_prefix = true;
  }
  // A string needs no instructions: nothing unless a prefix asks for them.
  if (t == T::STRING && (!has_prefix || (kwargs.size() == 1 && kwargs[0].second.tag == vm::Tag::Null))) return true;
  Renderer r(program);
  std::string schema = r.type(t, 0, true);
  if (r.too_large) {
    error = "ctx.output_format: the schema of " + program.type_name(t) + " expands to more than " +
            std::to_string(Renderer::kMaxExpansions) + " class bodies";
    return false;
  }
  std::string hoisted;
  for (uint32_t e : r.hoisted) hoisted += r.enum_block(e) + "\n\n";
  out += hoisted;
  out += has_prefix ? prefix : default_prefix(program, t);
  out += schema;
  return true;
}

} // namespace brake::schema
