#include "schema/output_format.h"

#include <algorithm>
#include <cstdint>

namespace brake::schema {

namespace {

using lang::TypeId;
using lang::TypeKind;
using T = lang::TypeTable;

// ---------------------------------------------------------------- options

// BAML's tri-state options: not given (Auto), given (Always), null (Never).
enum class Setting : uint8_t { Auto, Always, Never };

struct TextOption {
  Setting setting = Setting::Auto;
  std::string text;
};

enum class HoistClasses : uint8_t { Auto, All, Subset };
enum class MapStyle : uint8_t { Angle, Object };

struct Options {
  TextOption prefix, enum_value_prefix, hoisted_class_prefix;
  std::string or_splitter = " or ";
  bool always_hoist_enums = false;
  HoistClasses hoist_classes = HoistClasses::Auto;
  std::vector<std::string> hoist_names; // HoistClasses::Subset
  MapStyle map_style = MapStyle::Angle;
  bool quote_class_fields = false;
};

const char* const kOptionNames = "prefix, or_splitter, enum_value_prefix, always_hoist_enums, map_style, "
                                 "hoist_classes, hoisted_class_prefix, quote_class_fields";

const char* value_kind(const vm::Value& v) {
  switch (v.tag) {
  case vm::Tag::Null: return "null";
  case vm::Tag::Bool: return "a bool";
  case vm::Tag::Int: return "an int";
  case vm::Tag::Float: return "a float";
  case vm::Tag::Enum: return "an enum value";
  case vm::Tag::String: return "a string";
  case vm::Tag::Array: return "a list";
  case vm::Tag::Map: return "a map";
  case vm::Tag::Instance: return "a class instance";
  case vm::Tag::Function:
  case vm::Tag::Future:
  case vm::Tag::TaskGroup:
  case vm::Tag::CancelToken:
  case vm::Tag::Cell: return "a function";
  }
  return "a value";
}

bool wrong_type(const std::string& name, const char* expected, const vm::Value& v, std::string& error) {
  error = "'" + name + "' must be " + expected + ", not " + value_kind(v);
  return false;
}

// A string option that null switches off (prefix, enum_value_prefix, hoisted_class_prefix).
bool text_or_null(const std::string& name, const vm::Value& v, TextOption& o, std::string& error) {
  if (v.tag == vm::Tag::Null) {
    o.setting = Setting::Never;
    o.text.clear();
    return true;
  }
  if (v.tag != vm::Tag::String) return wrong_type(name, "a string or null", v, error);
  o.setting = Setting::Always;
  o.text = v.as_string()->text;
  return true;
}

bool parse_hoist_classes(const vm::CompiledProgram& p, const vm::Value& v, Options& o, std::string& error) {
  const char* expected = "true, false, \"auto\" or a list of class names";
  if (v.tag == vm::Tag::Bool) {
    o.hoist_classes = v.b ? HoistClasses::All : HoistClasses::Auto;
    return true;
  }
  if (v.tag == vm::Tag::String) {
    if (v.as_string()->text != "auto") return wrong_type("hoist_classes", expected, v, error);
    o.hoist_classes = HoistClasses::Auto;
    return true;
  }
  if (v.tag != vm::Tag::Array) return wrong_type("hoist_classes", expected, v, error);
  o.hoist_classes = HoistClasses::Subset;
  for (const vm::Value& item : v.as_array()->items) {
    if (item.tag != vm::Tag::String) return wrong_type("hoist_classes", expected, item, error);
    const std::string& name = item.as_string()->text;
    bool known = false;
    for (uint32_t c = 0; c < p.response_class && !known; c++) known = p.classes[c].name == name;
    if (!known) {
      error = "hoist_classes: there is no class named '" + name + "'";
      return false;
    }
    o.hoist_names.push_back(name);
  }
  return true;
}

bool parse_options(const vm::CompiledProgram& p, const std::vector<std::pair<std::string, vm::Value>>& kwargs, Options& o,
                   std::string& error) {
  for (const auto& [name, v] : kwargs) {
    if (name == "prefix") {
      if (!text_or_null(name, v, o.prefix, error)) return false;
    } else if (name == "enum_value_prefix") {
      if (!text_or_null(name, v, o.enum_value_prefix, error)) return false;
    } else if (name == "hoisted_class_prefix") {
      if (!text_or_null(name, v, o.hoisted_class_prefix, error)) return false;
    } else if (name == "or_splitter") {
      if (v.tag == vm::Tag::String) o.or_splitter = v.as_string()->text;
      else if (v.tag == vm::Tag::Null) o.or_splitter = " or ";
      else return wrong_type(name, "a string", v, error);
    } else if (name == "always_hoist_enums" || name == "quote_class_fields") {
      if (v.tag != vm::Tag::Bool) return wrong_type(name, "true or false", v, error);
      (name == "always_hoist_enums" ? o.always_hoist_enums : o.quote_class_fields) = v.b;
    } else if (name == "map_style") {
      const char* expected = "\"angle\" or \"object\"";
      if (v.tag != vm::Tag::String) return wrong_type(name, expected, v, error);
      const std::string& s = v.as_string()->text;
      if (s == "angle" || s == "type_parameters") o.map_style = MapStyle::Angle;
      else if (s == "object" || s == "object_literal") o.map_style = MapStyle::Object;
      else {
        error = "'map_style' must be " + std::string(expected) + ", not \"" + s + "\"";
        return false;
      }
    } else if (name == "hoist_classes") {
      if (!parse_hoist_classes(p, v, o, error)) return false;
    } else {
      error = "unknown option '" + name + "' (the options are " + kOptionNames + ")";
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- text helpers

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) b++;
  while (e > b && is_space(s[e - 1])) e--;
  return s.substr(b, e - b);
}

std::string replace_all(const std::string& s, char from, const std::string& to) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) {
    if (c == from) r += to;
    else r += c;
  }
  return r;
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Its lines (a trailing "\r" dropped from each, no empty last line).
std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    size_t end = nl == std::string::npos ? s.size() : nl;
    std::string line = s.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return lines;
}

// ---------------------------------------------------------------- schema

// Raised (and caught in render_output_format) when a schema cannot be written.
struct Refused {
  std::string why;
};

class Schema {
public:
  Schema(const vm::CompiledProgram& p, const Options& o)
      : m_p(p), m_o(o), m_class_hoisted(p.classes.size()), m_enum_hoisted(p.enums.size()) {}

  // The classes and enums `target` reaches, the recursive classes, and what is hoisted.
  void prepare(TypeId target) {
    collect(target);
    find_recursive_classes();
    choose_hoisted();
  }

  std::string render(TypeId target) {
    TypeKind kind = m_p.types.kind(target);
    // A string needs no instructions: only a prefix given as text asks for them
    // (prefix=null renders nothing, as BAML does).
    if (m_p.types.unalias(target) == T::STRING && m_o.prefix.setting != Setting::Always) return "";
    bool scalar = kind == TypeKind::Int || kind == TypeKind::Float || kind == TypeKind::Bool;
    if (scalar && m_o.prefix.setting == Setting::Auto) return sentence(target);

    bool target_enum_hoisted = kind == TypeKind::Enum && is_hoisted_enum(uint32_t(m_p.types.get(target).decl));
    std::string prefix = m_o.prefix.setting == Setting::Always ? m_o.prefix.text
                         : m_o.prefix.setting == Setting::Never ? ""
                                                                : sentence(target);
    std::string out;
    // Hoisted enums, then hoisted classes, each separated by a blank line.
    for (size_t i = 0; i < m_hoisted_enums.size(); i++) {
      if (i) out += "\n\n";
      uint32_t e = m_hoisted_enums[i];
      if (target_enum_hoisted && m_p.types.get(target).decl == int32_t(e)) out += prefix;
      out += enum_block(e);
    }
    if (!m_hoisted_enums.empty() && !target_enum_hoisted) out += "\n\n";
    for (size_t i = 0; i < m_hoisted_classes.size(); i++) {
      uint32_t c = m_hoisted_classes[i];
      if (m_o.hoisted_class_prefix.setting == Setting::Always && !m_o.hoisted_class_prefix.text.empty())
        out += m_o.hoisted_class_prefix.text + " ";
      out += m_p.classes[c].shown_class_name() + " " + class_body(c);
      out += "\n\n";
    }
    // Recursive type aliases, one a line ("Json = int or Json[]").
    for (size_t i = 0; i < m_aliases.size(); i++) {
      if (m_o.hoisted_class_prefix.setting == Setting::Always && !m_o.hoisted_class_prefix.text.empty())
        out += m_o.hoisted_class_prefix.text + " ";
      out += m_p.types.alias_name(m_aliases[i]) + " = " + type(m_p.types.alias_target(m_aliases[i]));
      out += i + 1 == m_aliases.size() ? "\n\n" : "\n";
    }
    if (!target_enum_hoisted) {
      out += prefix;
      if (kind == TypeKind::Class && is_hoisted_class(uint32_t(m_p.types.get(target).decl)))
        out += m_p.classes[size_t(m_p.types.get(target).decl)].shown_class_name();
      else if (kind == TypeKind::Enum)
        out += enum_block(uint32_t(m_p.types.get(target).decl));
      else
        out += type(target);
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

private:
  // ---- what the schema holds

  // Every class and enum `target` reaches, in the order BAML meets them: a
  // stack of types, the last pushed visited first (a class's last field
  // before its first). Hoisted enums, and the classes hoist_classes=true
  // hoists, are written in this order.
  void collect(TypeId target) {
    std::vector<TypeId> stack{target};
    std::vector<bool> seen_class(m_p.classes.size()), seen_enum(m_p.enums.size());
    while (!stack.empty()) {
      TypeId t = stack.back();
      stack.pop_back();
      if (m_p.types.raw_kind(t) == TypeKind::Alias) { // a recursive alias: listed by name, once
        if (std::find(m_aliases.begin(), m_aliases.end(), t) == m_aliases.end()) {
          m_aliases.push_back(t);
          stack.push_back(m_p.types.alias_target(t));
        }
        continue;
      }
      const lang::Type& ty = m_p.types.get(t);
      switch (ty.kind) {
      case TypeKind::Class: {
        uint32_t c = uint32_t(ty.decl);
        if (seen_class[c]) break;
        seen_class[c] = true;
        if (m_p.media_kind(c) >= 0)
          throw Refused{"the type " + m_p.classes[c].name + " cannot be an LLM function's output"};
        for (size_t f : shown_fields(c)) stack.push_back(m_p.classes[c].field_types[f]);
        m_classes.push_back(c);
        break;
      }
      case TypeKind::Enum:
        if (!seen_enum[size_t(ty.decl)]) {
          seen_enum[size_t(ty.decl)] = true;
          m_enums.push_back(uint32_t(ty.decl));
        }
        break;
      case TypeKind::Array: stack.push_back(ty.args[0]); break;
      case TypeKind::Map:
        stack.push_back(ty.args[0]);
        stack.push_back(ty.args[1]);
        break;
      case TypeKind::Union:
        for (TypeId m : members(t)) stack.push_back(m);
        break;
      default: break;
      }
    }
  }

  // The classes a type names (through arrays, maps and unions).
  void class_refs(TypeId t, std::vector<uint32_t>& out) const {
    if (m_p.types.raw_kind(t) == TypeKind::Alias) return; // named, not expanded
    const lang::Type& ty = m_p.types.get(t);
    switch (ty.kind) {
    case TypeKind::Class: out.push_back(uint32_t(ty.decl)); break;
    case TypeKind::Array:
    case TypeKind::Map:
    case TypeKind::Union:
      for (TypeId a : ty.args) class_refs(a, out);
      break;
    default: break;
    }
  }

  // The collected classes that lie on a cycle of references (Tarjan's
  // strongly connected components, iteratively: a component of more than one
  // class, or one class that names itself), sorted by name.
  void find_recursive_classes() {
    size_t n = m_classes.size();
    std::vector<int64_t> local(m_p.classes.size(), -1); // class id -> index in m_classes
    for (size_t i = 0; i < n; i++) local[m_classes[i]] = int64_t(i);
    std::vector<std::vector<size_t>> edges(n);
    std::vector<bool> self_edge(n);
    for (size_t i = 0; i < n; i++) {
      std::vector<uint32_t> refs;
      for (size_t f : shown_fields(m_classes[i])) class_refs(m_p.classes[m_classes[i]].field_types[f], refs);
      for (uint32_t r : refs) {
        if (local[r] < 0) continue;
        if (size_t(local[r]) == i) self_edge[i] = true;
        edges[i].push_back(size_t(local[r]));
      }
    }
    const size_t kUnvisited = SIZE_MAX;
    std::vector<size_t> index(n, kUnvisited), low(n, 0);
    std::vector<bool> on_stack(n);
    std::vector<size_t> scc_stack;
    std::vector<std::pair<size_t, size_t>> calls; // (node, next edge)
    size_t counter = 0;
    std::vector<uint32_t> recursive;
    for (size_t root = 0; root < n; root++) {
      if (index[root] != kUnvisited) continue;
      calls.push_back({root, 0});
      while (!calls.empty()) {
        auto& [v, next] = calls.back();
        if (next == 0 && index[v] == kUnvisited) {
          index[v] = low[v] = counter++;
          scc_stack.push_back(v);
          on_stack[v] = true;
        }
        if (next < edges[v].size()) {
          size_t w = edges[v][next++];
          if (index[w] == kUnvisited) calls.push_back({w, 0});
          else if (on_stack[w]) low[v] = std::min(low[v], index[w]);
          continue;
        }
        size_t done = v;
        calls.pop_back();
        if (!calls.empty()) low[calls.back().first] = std::min(low[calls.back().first], low[done]);
        if (low[done] != index[done]) continue;
        std::vector<size_t> component;
        size_t w;
        do {
          w = scc_stack.back();
          scc_stack.pop_back();
          on_stack[w] = false;
          component.push_back(w);
        } while (w != done);
        if (component.size() > 1 || self_edge[done])
          for (size_t x : component) recursive.push_back(m_classes[x]);
      }
    }
    std::sort(recursive.begin(), recursive.end(),
              [&](uint32_t a, uint32_t b) { return m_p.classes[a].name < m_p.classes[b].name; });
    for (uint32_t c : recursive) hoist_class(c);
  }

  // After the recursive classes: those hoist_classes asks for; the enums
  // that need it. Both in collect()'s order (BAML's engines agree on it).
  void choose_hoisted() {
    if (m_o.hoist_classes == HoistClasses::All)
      for (uint32_t c : m_classes) hoist_class(c);
    if (m_o.hoist_classes == HoistClasses::Subset)
      for (const std::string& name : m_o.hoist_names)
        for (uint32_t c : m_classes)
          if (m_p.classes[c].name == name) hoist_class(c);
    for (uint32_t e : m_enums) {
      if (!enum_needs_hoisting(e)) continue;
      m_enum_hoisted[e] = true;
      m_hoisted_enums.push_back(e);
    }
  }

  // BAML writes an enum inline ('A' or 'B') unless it has more than 6
  // values or any description, or always_hoist_enums asks.
  bool enum_needs_hoisting(uint32_t e) const {
    if (m_o.always_hoist_enums) return true;
    const vm::EnumInfo& info = m_p.enums[e];
    if (!trim(info.attrs.description).empty()) return true;
    std::vector<size_t> shown = shown_variants(e);
    if (shown.size() > 6) return true;
    for (size_t v : shown)
      if (!attrs_of(info.variant_attrs, v).description.empty()) return true;
    return false;
  }

  bool is_hoisted_class(uint32_t c) const { return m_class_hoisted[c]; }
  bool is_hoisted_enum(uint32_t e) const { return m_enum_hoisted[e]; }
  void hoist_class(uint32_t c) {
    if (m_class_hoisted[c]) return;
    m_class_hoisted[c] = true;
    m_hoisted_classes.push_back(c);
  }

  // A field's or a variant's attributes (none for a builtin class's fields).
  static const lang::Attributes& attrs_of(const std::vector<lang::Attributes>& all, size_t i) {
    static const lang::Attributes none;
    return i < all.size() ? all[i] : none;
  }

  // Fields an output shows: not @skip, not hidden ('#').
  std::vector<size_t> shown_fields(uint32_t c) const {
    const vm::ClassInfo& info = m_p.classes[c];
    std::vector<size_t> fields;
    for (size_t f = 0; f < info.field_names.size(); f++) {
      if (!info.field_names[f].empty() && info.field_names[f][0] == '#') continue;
      if (attrs_of(info.field_attrs, f).skip) continue;
      fields.push_back(f);
    }
    return fields;
  }

  std::vector<size_t> shown_variants(uint32_t e) const {
    const vm::EnumInfo& info = m_p.enums[e];
    std::vector<size_t> variants;
    for (size_t v = 0; v < info.variants.size(); v++)
      if (!attrs_of(info.variant_attrs, v).skip) variants.push_back(v);
    return variants;
  }

  // A union's members as BAML shows them: in the order they were first
  // written (TypeTable::shown_members), null last.
  std::vector<TypeId> members(TypeId t) const {
    std::vector<TypeId> shown;
    bool has_null = false;
    const std::vector<TypeId>& written = m_p.types.shown_members(t);
    for (TypeId m : written.empty() ? m_p.types.get(t).args : written) {
      if (m == T::NUL) has_null = true;
      else shown.push_back(m);
    }
    if (has_null) shown.push_back(T::NUL);
    return shown;
  }

  // ---- text

  // The sentence before the schema (prefix not given).
  std::string sentence(TypeId t) const {
    std::string word = m_o.hoisted_class_prefix.setting == Setting::Always && !m_o.hoisted_class_prefix.text.empty()
                           ? m_o.hoisted_class_prefix.text
                           : "schema";
    if (m_p.types.raw_kind(t) == TypeKind::Alias) return "Answer in JSON using this " + word + ": ";
    const lang::Type& ty = m_p.types.get(t);
    switch (ty.kind) {
    case TypeKind::Int: return "Answer as an int";
    case TypeKind::Float: return "Answer as a float";
    case TypeKind::Bool: return "Answer as a bool";
    case TypeKind::Array: return "Answer with a JSON Array using this schema:\n";
    case TypeKind::Class:
      return "Answer in JSON using this " + word + ":" + (is_hoisted_class(uint32_t(ty.decl)) ? " " : "\n");
    case TypeKind::Map: return "Answer in JSON using this " + word + ":\n";
    case TypeKind::Enum: return "Answer with any of the categories:\n";
    case TypeKind::Literal: return "Answer using this specific value:\n";
    case TypeKind::Union: {
      size_t values = 0;
      for (TypeId m : ty.args) values += m != T::NUL;
      bool optional = values < ty.args.size() && values == 1; // T?: no sentence
      if (optional) return "";
      return values > 1 ? "Answer in JSON using any of these " + word + "s:\n" : "Answer in JSON using this " + word + ":\n";
    }
    default: return ""; // string, null
    }
  }

  std::string enum_block(uint32_t e) const {
    const vm::EnumInfo& info = m_p.enums[e];
    std::string value_prefix = m_o.enum_value_prefix.setting == Setting::Always ? m_o.enum_value_prefix.text
                               : m_o.enum_value_prefix.setting == Setting::Never ? ""
                                                                                 : "- ";
    std::string s = info.shown_enum_name() + "\n----";
    for (size_t v : shown_variants(e)) {
      s += "\n" + value_prefix + info.shown_name(v);
      const std::string& d = attrs_of(info.variant_attrs, v).description;
      // A description's further lines line up under the value's text.
      if (!d.empty()) s += ": " + replace_all(d, '\n', "\n" + std::string(code_points(value_prefix), ' '));
    }
    return s;
  }

  std::string inline_enum(uint32_t e) const {
    const vm::EnumInfo& info = m_p.enums[e];
    std::string s;
    for (size_t v : shown_variants(e)) {
      if (!s.empty()) s += m_o.or_splitter;
      s += "'" + info.shown_name(v) + "'";
    }
    return s;
  }

  std::string class_body(uint32_t c) {
    const vm::ClassInfo& info = m_p.classes[c];
    if (++m_bodies > kMaxClassBodies)
      throw Refused{"the schema expands to more than " + std::to_string(kMaxClassBodies) +
                    " class bodies (classes share parts; hoist_classes=true names them instead)"};
    if (++m_depth > kMaxClassDepth)
      throw Refused{"the schema nests classes more than " + std::to_string(kMaxClassDepth) + " deep"};
    std::string s = "{\n";
    std::string description = trim(info.attrs.description);
    if (!description.empty()) {
      for (const std::string& line : lines_of(description)) s += "  // " + line + "\n";
      s += "\n";
    }
    bool first = true;
    for (size_t f : shown_fields(c)) {
      if (!first) s += "\n";
      first = false;
      const std::string& name = info.shown_name(f);
      s += m_o.quote_class_fields ? "  \"" + name + "\": " : "  " + name + ": ";
      s += replace_all(type(info.field_types[f]), '\n', "\n  ") + ",";
      const std::string& d = attrs_of(info.field_attrs, f).description;
      if (!d.empty()) s += " // " + d;
    }
    m_depth--;
    return s + "\n}";
  }

  // `t` inside a schema: hoisted classes and enums by name, other classes inline.
  std::string type(TypeId t) {
    if (m_p.types.raw_kind(t) == TypeKind::Alias) return m_p.types.alias_name(t);
    const lang::Type& ty = m_p.types.get(t);
    switch (ty.kind) {
    case TypeKind::Class: {
      uint32_t c = uint32_t(ty.decl);
      return is_hoisted_class(c) ? m_p.classes[c].shown_class_name() : class_body(c);
    }
    case TypeKind::Enum: {
      uint32_t e = uint32_t(ty.decl);
      return is_hoisted_enum(e) ? m_p.enums[e].shown_enum_name() : inline_enum(e);
    }
    case TypeKind::Array: {
      std::string inner = type(ty.args[0]);
      // A union is parenthesised (stream attributes do not show).
      return m_p.types.raw_kind(m_p.types.without_stream(ty.args[0])) == TypeKind::Union ? "(" + inner + ")[]" : inner + "[]";
    }
    case TypeKind::Map: {
      std::string k = type(ty.args[0]), v = type(ty.args[1]);
      return m_o.map_style == MapStyle::Angle ? "map<" + k + ", " + v + ">" : "{ [key: " + k + "]: " + v + " }";
    }
    case TypeKind::Union: {
      std::string s;
      for (TypeId m : members(t)) {
        if (!s.empty()) s += m_o.or_splitter;
        s += type(m);
      }
      return s;
    }
    case TypeKind::Literal: // "TWO" (as written, in double quotes), 3, true
      return ty.args[0] == T::STRING ? "\"" + ty.literal + "\"" : ty.literal;
    case TypeKind::Null: return "null";
    case TypeKind::Bool: return "bool";
    case TypeKind::Int: return "int";
    case TypeKind::Float: return "float";
    case TypeKind::String: return "string";
    default: throw Refused{"the type " + m_p.type_name(t) + " cannot be an LLM function's output"};
    }
  }

  const vm::CompiledProgram& m_p;
  const Options& m_o;
  std::vector<uint32_t> m_classes, m_enums;                 // reached, in collect()'s order
  std::vector<TypeId> m_aliases;                            // recursive aliases reached, in that order
  std::vector<uint32_t> m_hoisted_classes, m_hoisted_enums; // in the order they are written
  std::vector<bool> m_class_hoisted, m_enum_hoisted;        // by class / enum id
  size_t m_bodies = 0, m_depth = 0;                         // the expansion guard
};

} // namespace

bool render_output_format(const vm::CompiledProgram& program, TypeId t,
                          const std::vector<std::pair<std::string, vm::Value>>& kwargs, std::string& out, std::string& error) {
  Options options;
  if (!parse_options(program, kwargs, options, error)) return false;
  try {
    Schema schema(program, options);
    schema.prepare(t);
    out += schema.render(t);
  } catch (const Refused& r) {
    error = r.why;
    return false;
  }
  return true;
}

} // namespace brake::schema
