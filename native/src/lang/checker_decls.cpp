// checker_decls.cpp: declarations (types, classes, enums, aliases,
// functions and host functions) and type expressions.
#include "lang/checker_internal.h"

namespace brake::lang::checking {

void Checker::declare_types() {
  for (size_t i = 0; i < m_ast.classes.size(); i++) {
    auto& c = m_ast.classes[i];
    if (!m_type_names.emplace(c.name, m_types.class_type(int32_t(i))).second)
      error(c.loc, "duplicate type name '" + c.name + "'");
    m_out.classes.push_back(vm::ClassInfo{c.name, {}, {}, {}, {}, {}});
  }
  for (size_t i = 0; i < m_ast.enums.size(); i++) {
    auto& e = m_ast.enums[i];
    if (!m_type_names.emplace(e.name, m_types.enum_type(int32_t(i))).second)
      error(e.loc, "duplicate type name '" + e.name + "'");
    vm::EnumInfo info{e.name, {}, e.variant_attrs, e.attrs};
    for (auto& v : e.variants) {
      for (auto& seen : info.variants)
        if (seen == v) error(e.loc, "duplicate variant '" + v + "' in enum '" + e.name + "'");
      info.variants.push_back(v);
    }
    m_out.enums.push_back(std::move(info));
  }
  // Aliases may refer to each other in any order: resolve lazily.
  for (auto& a : m_ast.type_aliases) {
    if (m_type_names.count(a.name) || m_aliases.count(a.name))
      error(a.loc, "duplicate type name '" + a.name + "'");
    else
      m_aliases.emplace(a.name, &a);
  }
  // baml.http.Response and the media types (after the program's classes,
  // whose ids stay as written) before any field type is resolved: a field
  // may be an image.
  declare_response_class();
  declare_recursive_aliases();
  for (size_t i = 0; i < m_ast.classes.size(); i++) {
    auto& c = m_ast.classes[i];
    auto& info = m_out.classes[i];
    info.attrs = c.attrs;
    if (i == kMaxClasses) error(c.loc, "too many classes (at most " + std::to_string(kMaxClasses) + ")");
    for (auto& f : c.fields) {
      if (info.field_names.size() == kMaxFields)
        error(f.loc, "class '" + c.name + "' has too many fields (at most " + std::to_string(kMaxFields) + ")");
      if (!info.field_index.emplace(f.name, uint32_t(info.field_names.size())).second)
        error(f.loc, "duplicate field '" + f.name + "' in class '" + c.name + "'");
      info.field_names.push_back(f.name);
      info.field_types.push_back(resolve(f.type.get()));
      info.field_attrs.push_back(f.attrs);
    }
  }
  resolve_recursive_aliases();
}

void Checker::declare_response_class() {
  int32_t decl = int32_t(m_out.classes.size());
  vm::ClassInfo info{vm::kResponseClassName, {}, {}, {}, {}, {}};
  const std::pair<const char*, TypeId> fields[] = {
      {"status_code", T::INT},
      {"url", T::STRING},
      {"headers", m_types.map_of(T::STRING, T::STRING)},
      {"error", m_types.optional_of(T::STRING)},
      {"#body", T::STRING}, // null once read
  };
  static_assert(sizeof fields / sizeof fields[0] == vm::kResponseFieldCount, "one entry per ResponseField");
  for (const auto& [name, type] : fields) {
    info.field_index.emplace(name, uint32_t(info.field_names.size()));
    info.field_names.push_back(name);
    info.field_types.push_back(type);
  }
  m_out.classes.push_back(std::move(info));
  m_out.response_class = uint32_t(decl);
  m_response_type = m_types.class_type(decl);
  m_type_names.emplace(vm::kResponseClassName, m_response_type);
  declare_media_classes();
}

void Checker::declare_media_classes() {
  m_out.media_class = uint32_t(m_out.classes.size());
  for (const char* name : vm::kMediaClassNames) {
    vm::ClassInfo info{name, {}, {}, {}, {}, {}};
    const char* fields[] = {"url", "base64", "media_type"};
    static_assert(sizeof fields / sizeof fields[0] == vm::kMediaFieldCount, "one entry per MediaField");
    for (const char* f : fields) {
      info.field_index.emplace(f, uint32_t(info.field_names.size()));
      info.field_names.push_back(f);
      info.field_types.push_back(m_types.optional_of(T::STRING));
    }
    int32_t decl = int32_t(m_out.classes.size());
    m_out.classes.push_back(std::move(info));
    m_type_names.emplace(name, m_types.class_type(decl));
  }
}

void Checker::declare_function(FunctionDecl& f, const std::string& qualified, TypeId self_type) {
  if (m_out.functions.size() == kMaxFunctions)
    error(f.loc, "too many functions and methods (at most " + std::to_string(kMaxFunctions) + ")");
  vm::FunctionInfo info;
  info.name = qualified;
  info.line = f.loc.line;
  for (auto& p : f.params) {
    info.param_names.push_back(p.name);
    if (!p.type) {
      if (p.name == "self" && self_type != T::ANY && &p == &f.params[0]) {
        info.param_types.push_back(self_type);
      } else {
        error(p.loc, "parameter '" + p.name + "' needs a type");
        info.param_types.push_back(T::ANY);
      }
    } else {
      info.param_types.push_back(resolve(p.type.get()));
    }
  }
  for (size_t i = 0; i < f.params.size(); i++)
    for (size_t j = 0; j < i; j++)
      if (f.params[i].name == f.params[j].name)
        error(f.params[i].loc, "duplicate parameter '" + f.params[i].name + "'");
  info.return_type = f.return_type ? resolve(f.return_type.get()) : T::NUL;
  if (f.throws) info.throws = resolve(f.throws.get());
  info.arity = uint16_t(f.params.size());
  if (!m_out.function_index.emplace(qualified, uint32_t(m_out.functions.size())).second)
    error(f.loc, "duplicate function '" + qualified + "'");
  m_out.functions.push_back(std::move(info));
}

void Checker::declare_functions() {
  for (auto& f : m_ast.functions) {
    if (f.params.size() > 255) error(f.loc, "too many parameters (at most 255)");
    declare_function(f, f.name, T::ANY);
  }
  m_out.declared_functions = m_out.functions.size();
  m_method_index.resize(m_ast.classes.size());
  for (size_t c = 0; c < m_ast.classes.size(); c++) {
    auto& cls = m_ast.classes[c];
    for (auto& m : cls.methods) {
      m_method_index[c].push_back(uint32_t(m_out.functions.size()));
      declare_function(m, cls.name + "." + m.name, m_types.class_type(int32_t(c)));
    }
  }
}

void Checker::declare_host_functions() {
  for (HostDecl& h : m_ast.host_functions) {
    vm::HostFunctionInfo info;
    info.name = h.name;
    info.signature = h.signature;
    m_error_file = &h.file;
    for (auto& p : h.params) {
      info.param_names.push_back(p.name);
      info.param_types.push_back(p.type ? resolve(p.type.get()) : T::ANY);
      if (!p.type) error(p.loc, "parameter '" + p.name + "' needs a type");
    }
    for (size_t i = 0; i < h.params.size(); i++)
      for (size_t j = 0; j < i; j++)
        if (h.params[i].name == h.params[j].name) error(h.params[i].loc, "duplicate parameter '" + h.params[i].name + "'");
    if (h.params.size() > 255) error(SourceLoc{1, 1}, "too many parameters (at most 255)");
    info.return_type = h.return_type ? resolve(h.return_type.get()) : T::ANY;
    m_error_file = nullptr;
    if (m_host_index.count(h.name)) {
      m_out.diagnostics.error_in(h.file, SourceLoc{1, 1}, "host function '" + h.name + "' is declared twice");
    } else if (auto it = m_out.function_index.find(h.name); it != m_out.function_index.end()) {
      error(m_ast.functions[it->second].loc, "function '" + h.name + "' is also declared as a host function");
    }
    m_host_index.emplace(h.name, uint32_t(m_out.host_functions.size()));
    m_out.host_functions.push_back(std::move(info));
  }
  if (m_out.host_functions.size() > 65535) error(SourceLoc{1, 1}, "too many host functions (at most 65535)");
}

TypeId Checker::resolve(const TypeExpr* t) {
  if (!t) return T::ANY;
  if (t->stream) return m_types.streamed(resolve_unstreamed(t), t->stream);
  return resolve_unstreamed(t);
}

TypeId Checker::named_type(const std::string& name) {
  static const std::unordered_map<std::string, TypeId> builtin = {
      {"int", T::INT}, {"float", T::FLOAT}, {"bool", T::BOOL}, {"string", T::STRING}, {"null", T::NUL}};
  if (auto it = builtin.find(name); it != builtin.end()) return it->second;
  if (auto it = m_type_names.find(name); it != m_type_names.end()) return it->second;
  if (name == "TaskGroup" || name == "baml.spawn.TaskGroup") return m_types.task_group();
  if (name == "CancelToken" || name == "baml.spawn.CancelToken") return m_types.cancel_token();
  return -1;
}

TypeId Checker::resolve_unstreamed(const TypeExpr* t) {
  switch (t->kind) {
  case TypeExprKind::Named: {
    if (t->name == "Future" && t->args.size() == 1) return m_types.future_of(resolve(t->args[0].get()));
    if (TypeId named = named_type(t->name); named >= 0) return named;
    if (auto it = m_aliases.find(t->name); it != m_aliases.end()) return resolve_alias(*it->second);
    error(t->loc, "unknown type '" + t->name + "'");
    return T::ANY;
  }
  case TypeExprKind::Array: return m_types.array_of(resolve(t->args[0].get()));
  case TypeExprKind::Map: {
    // Keys are strings at run time; an enum's or string literals' key
    // type says which strings (checked where values enter: host
    // arguments, parsed replies).
    TypeId k = resolve(t->args[0].get());
    if (!string_like(k)) {
      error(t->loc, "map keys must be string, an enum or string literals");
      k = T::STRING;
    }
    return m_types.map_of(k == T::ANY ? T::STRING : k, resolve(t->args[1].get()));
  }
  case TypeExprKind::Optional: return m_types.optional_of(resolve(t->args[0].get()));
  case TypeExprKind::Union: {
    std::vector<TypeId> members;
    for (auto& a : t->args) members.push_back(resolve(a.get()));
    return m_types.union_of(members);
  }
  case TypeExprKind::Literal: return literal(t);
  case TypeExprKind::Function: {
    std::vector<TypeId> params;
    for (size_t i = 0; i + 1 < t->args.size(); i++) params.push_back(resolve(t->args[i].get()));
    if (params.size() > 255) error(t->loc, "too many parameters (at most 255)");
    return m_types.function_of(std::move(params), resolve(t->args.back().get()));
  }
  }
  return T::ANY;
}

TypeId Checker::resolve_alias(const TypeAliasDecl& a) {
  if (auto it = m_recursive_aliases.find(a.name); it != m_recursive_aliases.end()) return it->second;
  return resolve(a.type.get());
}

void Checker::alias_refs(const TypeExpr* t, std::vector<const TypeAliasDecl*>& out) const {
  if (!t) return;
  if (t->kind == TypeExprKind::Named)
    if (auto it = m_aliases.find(t->name); it != m_aliases.end()) out.push_back(it->second);
  for (auto& arg : t->args) alias_refs(arg.get(), out);
}

void Checker::declare_recursive_aliases() {
  for (auto& a : m_ast.type_aliases) {
    if (!m_aliases.count(a.name) || m_aliases.at(a.name) != &a) continue; // a duplicate
    std::vector<const TypeAliasDecl*> todo;
    std::unordered_set<const TypeAliasDecl*> seen;
    alias_refs(a.type.get(), todo);
    bool cyclic = false;
    while (!todo.empty() && !cyclic) {
      const TypeAliasDecl* b = todo.back();
      todo.pop_back();
      if (b == &a) cyclic = true;
      else if (seen.insert(b).second) alias_refs(b->type.get(), todo);
    }
    if (!cyclic) continue;
    TypeId alias = m_types.alias_type(int32_t(m_recursive.size()), a.name);
    m_recursive_aliases.emplace(a.name, alias);
    m_recursive.emplace_back(&a, alias);
  }
}

void Checker::resolve_recursive_aliases() {
  for (auto& [decl, alias] : m_recursive) m_types.set_alias_target(alias, resolve(decl->type.get()));
  std::vector<TypeId> bad;
  for (auto& [decl, alias] : m_recursive)
    if (reaches_without_container(alias)) {
      error(decl->type ? decl->type->loc : decl->loc, "type alias '" + decl->name + "' refers to itself");
      bad.push_back(alias);
    }
  for (TypeId alias : bad) m_types.set_alias_target(alias, T::ANY);
}

bool Checker::reaches_without_container(TypeId alias) const {
  std::vector<TypeId> todo{m_types.alias_target(alias)};
  std::unordered_set<TypeId> seen;
  while (!todo.empty()) {
    TypeId t = todo.back();
    todo.pop_back();
    if (t == alias) return true;
    if (!seen.insert(t).second) continue;
    TypeKind k = m_types.raw_kind(t);
    if (k == TypeKind::Alias) todo.push_back(m_types.alias_target(t));
    else if (k == TypeKind::Stream) todo.push_back(m_types.without_stream(t));
    else if (k == TypeKind::Union)
      for (TypeId m : m_types.get(t).args) todo.push_back(m);
  }
  return false;
}

bool Checker::string_like(TypeId k) const {
  if (k == T::STRING) return true;
  const lang::Type& ty = m_types.get(k);
  if (ty.kind == TypeKind::Any) return true; // unknown already (an error said why)
  if (ty.kind == TypeKind::Enum) return true;
  if (ty.kind == TypeKind::Literal) return ty.args[0] == T::STRING;
  if (ty.kind != TypeKind::Union) return false;
  for (TypeId m : ty.args)
    if (m == T::STRING || m == T::NUL || !string_like(m)) return false;
  return true;
}

TypeId Checker::literal(const TypeExpr* t) {
  TypeId base = t->literal_base == 's' ? T::STRING : t->literal_base == 'i' ? T::INT : T::BOOL;
  return m_types.literal_of(base, t->name);
}

} // namespace brake::lang::checking
