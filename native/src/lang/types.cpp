#include "lang/types.h"

#include "lang/attributes.h"

#include <algorithm>

namespace brake::lang {

namespace {
// A string literal type as written: double quotes, with \ and " escaped.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}
} // namespace

TypeTable::TypeTable() {
  for (TypeKind k : {TypeKind::Any, TypeKind::Never, TypeKind::Null, TypeKind::Bool, TypeKind::Int,
                     TypeKind::Float, TypeKind::String})
    intern(Type{k, {}, -1, {}});
}

TypeId TypeTable::intern(Type t) {
  std::vector<int32_t> key = t.args;
  key.push_back(t.decl);
  auto k = std::make_tuple(int(t.kind), key, t.literal);
  auto it = m_index.find(k);
  if (it != m_index.end()) return it->second;
  TypeId id = TypeId(m_types.size());
  m_types.push_back(std::move(t));
  m_index.emplace(std::move(k), id);
  return id;
}

TypeId TypeTable::array_of(TypeId elem) { return intern(Type{TypeKind::Array, {elem}, -1, {}}); }
TypeId TypeTable::map_of(TypeId key, TypeId value) { return intern(Type{TypeKind::Map, {key, value}, -1, {}}); }
TypeId TypeTable::function_of(std::vector<TypeId> params, TypeId result) {
  params.push_back(result);
  return intern(Type{TypeKind::Function, std::move(params), -1, {}});
}
TypeId TypeTable::future_of(TypeId result) { return intern(Type{TypeKind::Future, {result}, -1, {}}); }
TypeId TypeTable::task_group() { return intern(Type{TypeKind::TaskGroup, {}, -1, {}}); }
TypeId TypeTable::cancel_token() { return intern(Type{TypeKind::CancelToken, {}, -1, {}}); }
TypeId TypeTable::class_type(int32_t decl) { return intern(Type{TypeKind::Class, {}, decl, {}}); }
TypeId TypeTable::enum_type(int32_t decl) { return intern(Type{TypeKind::Enum, {}, decl, {}}); }
TypeId TypeTable::alias_type(int32_t decl, const std::string& name) {
  if (size_t(decl) >= m_alias_names.size()) {
    m_alias_names.resize(size_t(decl) + 1);
    m_alias_targets.resize(size_t(decl) + 1, ANY);
  }
  m_alias_names[size_t(decl)] = name;
  return intern(Type{TypeKind::Alias, {}, decl, {}});
}

TypeId TypeTable::streamed(TypeId t, uint8_t flags) {
  if (!flags) return t;
  flags |= stream_flags(t);
  return intern(Type{TypeKind::Stream, {without_stream(t)}, int32_t(flags), {}});
}

TypeId TypeTable::literal_of(TypeId base, std::string text) {
  return intern(Type{TypeKind::Literal, {base}, -1, std::move(text)});
}

TypeId TypeTable::union_of(std::vector<TypeId> members) {
  std::vector<TypeId> flat;
  for (TypeId m : members) {
    if (raw_kind(m) == TypeKind::Any) return ANY;
    if (raw_kind(m) == TypeKind::Never) continue;
    if (raw_kind(m) == TypeKind::Union) {
      for (TypeId x : shown_members(m)) flat.push_back(x);
    } else {
      flat.push_back(m);
    }
  }
  // Futures are read-only: Future<A> | Future<B> is Future<A | B> (so an
  // array of futures of different types is still an array of futures).
  std::vector<TypeId> results;
  for (TypeId m : flat)
    if (raw_kind(m) == TypeKind::Future) results.push_back(get(m).args[0]);
  if (results.size() > 1) {
    TypeId merged = future_of(union_of(results));
    for (TypeId& m : flat)
      if (raw_kind(m) == TypeKind::Future) m = merged; // (the copies go below)
  }
  std::vector<TypeId> written;
  for (TypeId m : flat)
    if (std::find(written.begin(), written.end(), m) == written.end()) written.push_back(m);
  std::sort(flat.begin(), flat.end());
  flat.erase(std::unique(flat.begin(), flat.end()), flat.end());
  if (flat.empty()) return NEVER;
  if (flat.size() == 1) return flat[0];
  TypeId id = intern(Type{TypeKind::Union, flat, -1, {}});
  m_shown.emplace(id, std::move(written)); // the first writing stays
  return id;
}

const std::vector<TypeId>& TypeTable::shown_members(TypeId t) const {
  static const std::vector<TypeId> none;
  auto it = m_shown.find(unalias(t));
  return it == m_shown.end() ? none : it->second;
}

TypeId TypeTable::widen_literals(TypeId t) {
  t = without_stream(t); // only the reply parser reads them
  if (kind(t) == TypeKind::Literal) return get(t).args[0];
  if (kind(t) != TypeKind::Union) return t;
  std::vector<TypeId> members = get(t).args;
  for (TypeId& m : members)
    if (kind(m) == TypeKind::Literal) m = get(m).args[0];
  return union_of(std::move(members));
}

TypeId TypeTable::without_null(TypeId t) {
  if (kind(t) != TypeKind::Union) return t == NUL ? NEVER : t;
  std::vector<TypeId> rest;
  for (TypeId m : get(t).args)
    if (m != NUL) rest.push_back(m);
  return union_of(rest);
}

bool TypeTable::contains_null(TypeId t) const {
  if (t == NUL) return true;
  if (kind(t) != TypeKind::Union) return false;
  for (TypeId m : get(t).args)
    if (m == NUL) return true;
  return false;
}

bool TypeTable::assignable(TypeId from, TypeId to) const {
  std::vector<std::pair<TypeId, TypeId>> assumed;
  return assignable(from, to, assumed);
}

// `assumed`: the pairs being compared further up. Recursive aliases bring a
// pair back while it is being compared: it is taken to hold (what the
// comparison up there decides), which keeps the walk finite and linear in
// the pairs there are.
bool TypeTable::assignable(TypeId from, TypeId to, std::vector<std::pair<TypeId, TypeId>>& assumed) const {
  // Streaming attributes change how a partial value shows, not the type.
  from = without_stream(from);
  to = without_stream(to);
  if (from == to) return true;
  bool recursive = raw_kind(from) == TypeKind::Alias || raw_kind(to) == TypeKind::Alias;
  if (recursive) {
    for (const auto& pair : assumed)
      if (pair.first == from && pair.second == to) return true;
    assumed.emplace_back(from, to);
  }
  bool r = assignable_now(from, to, assumed);
  if (recursive) assumed.pop_back();
  return r;
}

bool TypeTable::assignable_now(TypeId from, TypeId to, std::vector<std::pair<TypeId, TypeId>>& assumed) const {
  TypeKind fk = kind(from), tk = kind(to);
  if (fk == TypeKind::Any || tk == TypeKind::Any || fk == TypeKind::Never) return true;
  if (fk == TypeKind::Union) {
    for (TypeId m : get(from).args)
      if (!assignable(m, to, assumed)) return false;
    return true;
  }
  if (tk == TypeKind::Union) {
    for (TypeId m : get(to).args)
      if (assignable(from, m, assumed)) return true;
    return false;
  }
  if (fk == TypeKind::Literal && tk == TypeKind::Literal) return unalias(from) == unalias(to);
  if (fk == TypeKind::Literal) return assignable(get(from).args[0], to, assumed);
  if (tk == TypeKind::Literal) return unalias(from) == get(to).args[0];
  if (fk != tk) return false;
  if (fk == TypeKind::Array || fk == TypeKind::Map) {
    size_t at = fk == TypeKind::Array ? 0 : 1;
    TypeId a = get(from).args[at], b = get(to).args[at];
    // Element types must agree (arrays are mutable and shared), except that an
    // element type the checker could not pin down (Any/Never: `[]`) fits,
    // and a recursive alias (or a type with stream attributes) agrees with
    // what it stands for.
    if (a == b || kind(a) == TypeKind::Any || kind(a) == TypeKind::Never || kind(b) == TypeKind::Any) return true;
    auto wrapped = [this](TypeId t) { return raw_kind(t) == TypeKind::Alias || raw_kind(t) == TypeKind::Stream; };
    if (wrapped(a) || wrapped(b)) return assignable(a, b, assumed);
    return false;
  }
  if (fk == TypeKind::Future) { // read-only: covariant
    TypeId a = get(from).args[0], b = get(to).args[0];
    return kind(a) == TypeKind::Never || assignable(a, b, assumed);
  }
  if (fk == TypeKind::Function) {
    // The same arity; each parameter takes what the target's would be
    // given, and the result fits the target's.
    const auto &f = get(from).args, &g = get(to).args;
    if (f.size() != g.size()) return false;
    for (size_t i = 0; i + 1 < f.size(); i++)
      if (!assignable(g[i], f[i], assumed)) return false;
    return assignable(f.back(), g.back(), assumed);
  }
  // Scalars, classes and enums: the same type once aliases and stream
  // attributes are seen through.
  return unalias(from) == unalias(to);
}

std::string TypeTable::name(TypeId t, const std::vector<std::string>& class_names,
                            const std::vector<std::string>& enum_names, NameStyle style) const {
  auto name = [&](TypeId u, const std::vector<std::string>& c, const std::vector<std::string>& e) {
    return this->name(u, c, e, style);
  };
  if (raw_kind(t) == TypeKind::Alias) return alias_name(t);
  if (raw_kind(t) == TypeKind::Stream) {
    std::string s = name(without_stream(t), class_names, enum_names);
    uint8_t f = stream_flags(t);
    if (f & kStreamDone) s += " @stream.done";
    if (f & kStreamNotNull) s += " @stream.not_null";
    if (f & kStreamWithState) s += " @stream.with_state";
    return s;
  }
  const Type& ty = get(t);
  switch (ty.kind) {
  case TypeKind::Any: return "unknown";
  case TypeKind::Never: return "never";
  case TypeKind::Null: return "null";
  case TypeKind::Bool: return "bool";
  case TypeKind::Int: return "int";
  case TypeKind::Float: return "float";
  case TypeKind::String: return "string";
  case TypeKind::Array: {
    std::string inner = name(ty.args[0], class_names, enum_names);
    if (kind(ty.args[0]) == TypeKind::Union || kind(ty.args[0]) == TypeKind::Function) inner = "(" + inner + ")";
    return inner + "[]";
  }
  case TypeKind::Map:
    return "map<" + name(ty.args[0], class_names, enum_names) + ", " +
           name(ty.args[1], class_names, enum_names) + ">";
  case TypeKind::Union: {
    if (style == NameStyle::Source) {
      const std::vector<TypeId>& written = shown_members(unalias(t));
      std::vector<TypeId> others;
      for (TypeId m : written.empty() ? ty.args : written)
        if (m != NUL) others.push_back(m);
      std::string s;
      for (size_t i = 0; i < others.size(); i++) s += (i ? " | " : "") + name(others[i], class_names, enum_names);
      if (others.size() == ty.args.size()) return s;                 // no null
      if (others.size() == 1 && raw_kind(others[0]) != TypeKind::Union && raw_kind(others[0]) != TypeKind::Function) return s + "?";
      return "(" + s + ")?";
    }
    std::string s;
    for (size_t i = 0; i < ty.args.size(); i++) {
      if (i) s += " | ";
      s += name(ty.args[i], class_names, enum_names);
    }
    return s;
  }
  case TypeKind::Class: return class_names[size_t(ty.decl)];
  case TypeKind::Enum: return enum_names[size_t(ty.decl)];
  case TypeKind::Literal: return ty.args[0] == STRING ? quoted(ty.literal) : ty.literal;
  case TypeKind::Function: {
    std::string s = "(";
    for (size_t i = 0; i + 1 < ty.args.size(); i++) s += (i ? ", " : "") + name(ty.args[i], class_names, enum_names);
    std::string result = name(ty.args.back(), class_names, enum_names);
    if (kind(ty.args.back()) == TypeKind::Union || kind(ty.args.back()) == TypeKind::Function) result = "(" + result + ")";
    return s + ") -> " + result;
  }
  case TypeKind::Future: return "Future<" + name(ty.args[0], class_names, enum_names) + ">";
  case TypeKind::TaskGroup: return "TaskGroup";
  case TypeKind::CancelToken: return "CancelToken";
  case TypeKind::Alias:
  case TypeKind::Stream: break; // seen above
  }
  return "?";
}

} // namespace brake::lang
