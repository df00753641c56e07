#include "lang/llm_decls.h"
#include "lang/checker.h"

#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "vm/builtins.h"

namespace brake::lang {
namespace {

using vm::BuiltinId;
using T = TypeTable;

// Limits of the bytecode's 16-bit operands (CALL's function, INSTANCE's
// class and field count, FIELD_GET's index): a program beyond them is a
// compile error, never a truncated index.
constexpr size_t kMaxClasses = 65535;
constexpr size_t kMaxFields = 65535;
constexpr size_t kMaxFunctions = 65535;

struct Local {
  std::string name;
  int slot;
  TypeId type;     // type as seen here (may be narrowed)
  TypeId declared; // type assignments must respect
};

struct FunctionContext {
  TypeId return_type = T::ANY;
  int next_slot = 0;
  int max_slots = 0;
  int loop_depth = 0;
};

class Checker {
public:
  Checker(Program& ast, vm::CompiledProgram& out) : m_ast(ast), m_out(out), m_types(out.types) {}

  void run() {
    declare_types();
    declare_functions();
    declare_host_functions();
    for (size_t i = 0; i < m_ast.functions.size(); i++) check_function(m_ast.functions[i], uint32_t(i));
    for (size_t c = 0; c < m_ast.classes.size(); c++)
      for (size_t m = 0; m < m_ast.classes[c].methods.size(); m++)
        check_function(m_ast.classes[c].methods[m], m_method_index[c][m]);
    check_llm_declarations(m_ast, m_out);
  }

private:
  void error(SourceLoc loc, std::string message) {
    if (m_error_file) m_out.diagnostics.error_in(*m_error_file, loc, std::move(message));
    else m_out.diagnostics.error(loc, std::move(message));
  }
  std::string name_of(TypeId t) { return m_out.type_name(t); }

  // ---------------------------------------------------------------- declarations

  void declare_types() {
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

  // baml.http.Response, the class of what baml.http.fetch returns: after the
  // program's classes (their ids stay as written), in every program. Its
  // body is a field scripts cannot name ('#'), null once it has been read.
  void declare_response_class() {
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

  // image, audio, pdf and video: classes after baml.http.Response, with a
  // URL or base64 data and a MIME type (what prompts send to a model).
  void declare_media_classes() {
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

  void declare_function(FunctionDecl& f, const std::string& qualified, TypeId self_type) {
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
    info.arity = uint16_t(f.params.size());
    if (!m_out.function_index.emplace(qualified, uint32_t(m_out.functions.size())).second)
      error(f.loc, "duplicate function '" + qualified + "'");
    m_out.functions.push_back(std::move(info));
  }

  void declare_functions() {
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

  // Host functions live in the same namespace as the program's functions.
  // Their signatures are resolved against the program's types, and errors in
  // them are reported in the signature's own "file".
  void declare_host_functions() {
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

  // TypeExpr -> TypeId
  TypeId resolve(const TypeExpr* t) {
    if (!t) return T::ANY;
    if (t->stream) return m_types.streamed(resolve_unstreamed(t), t->stream);
    return resolve_unstreamed(t);
  }

  TypeId resolve_unstreamed(const TypeExpr* t) {
    switch (t->kind) {
    case TypeExprKind::Named: {
      static const std::unordered_map<std::string, TypeId> builtin = {
          {"int", T::INT}, {"float", T::FLOAT}, {"bool", T::BOOL}, {"string", T::STRING}, {"null", T::NUL}};
      if (auto it = builtin.find(t->name); it != builtin.end()) return it->second;
      if (auto it = m_type_names.find(t->name); it != m_type_names.end()) return it->second;
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
    }
    return T::ANY;
  }

  // A type alias's type. An alias on a cycle of aliases (`type Json = int |
  // Json[] | map<string, Json>`, or A = B, B = C, C = A[]) is recursive: a
  // named TypeKind::Alias (declare_recursive_aliases); any other alias is
  // replaced by what it stands for, resolved where it is used.
  TypeId resolve_alias(const TypeAliasDecl& a) {
    if (auto it = m_recursive_aliases.find(a.name); it != m_recursive_aliases.end()) return it->second;
    return resolve(a.type.get());
  }

  // The names of aliases `t` mentions.
  void alias_refs(const TypeExpr* t, std::vector<const TypeAliasDecl*>& out) const {
    if (!t) return;
    if (t->kind == TypeExprKind::Named)
      if (auto it = m_aliases.find(t->name); it != m_aliases.end()) out.push_back(it->second);
    for (auto& arg : t->args) alias_refs(arg.get(), out);
  }

  // Finds the aliases that reach themselves through other aliases and
  // declares each a TypeKind::Alias, in declaration order (before any type
  // is resolved: a field may name one).
  void declare_recursive_aliases() {
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

  // Sets each recursive alias's target, once the classes are declared. A
  // cycle must pass through a list or a map (`type A = A`, `type A = A |
  // int` stand for nothing finite): otherwise it is an error, and the alias
  // stands for unknown (set only once every target is known: the walk reads
  // them).
  void resolve_recursive_aliases() {
    for (auto& [decl, alias] : m_recursive) m_types.set_alias_target(alias, resolve(decl->type.get()));
    std::vector<TypeId> bad;
    for (auto& [decl, alias] : m_recursive)
      if (reaches_without_container(alias)) {
        error(decl->type ? decl->type->loc : decl->loc, "type alias '" + decl->name + "' refers to itself");
        bad.push_back(alias);
      }
    for (TypeId alias : bad) m_types.set_alias_target(alias, T::ANY);
  }

  // Whether `alias` meets itself through unions, aliases and stream
  // attributes alone.
  bool reaches_without_container(TypeId alias) const {
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

  // A map key type: string, an enum, a string literal or a union of those.
  bool string_like(TypeId k) const {
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

  TypeId literal(const TypeExpr* t) {
    TypeId base = t->literal_base == 's' ? T::STRING : t->literal_base == 'i' ? T::INT : T::BOOL;
    return m_types.literal_of(base, t->name);
  }

  // ---------------------------------------------------------------- scopes

  void push_scope() { m_scopes.emplace_back(); }
  void pop_scope() { m_scopes.pop_back(); }
  int new_slot() {
    int s = m_fn.next_slot++;
    if (m_fn.next_slot > m_fn.max_slots) m_fn.max_slots = m_fn.next_slot;
    return s;
  }
  int declare_local(SourceLoc loc, const std::string& name, TypeId type) {
    int slot = new_slot();
    // Re-declaring a name shadows the earlier one (as in Rust and BAML).
    if (name != "_") {
      m_scopes.back().push_back(ScopedLocal{{name, slot, type, type}, false});
    }
    return slot;
  }
  const Local* find_local(const std::string& name) const {
    for (auto s = m_scopes.rbegin(); s != m_scopes.rend(); ++s)
      for (auto l = s->rbegin(); l != s->rend(); ++l)
        if (l->local.name == name) return &l->local;
    return nullptr;
  }
  // Narrows `name` to `type` in the current (fresh) scope.
  void narrow(const Local& l, TypeId type) {
    m_scopes.back().push_back(ScopedLocal{{l.name, l.slot, type, l.declared}, true});
  }

  // ---------------------------------------------------------------- functions

  void check_function(FunctionDecl& f, uint32_t index) {
    auto& info = m_out.functions[index];
    m_fn = FunctionContext{};
    m_fn.return_type = info.return_type;
    m_scopes.clear();
    push_scope();
    for (size_t i = 0; i < f.params.size(); i++) declare_local(f.params[i].loc, f.params[i].name, info.param_types[i]);
    if (f.llm) { // its client and prompt: llm_decls.cpp
      pop_scope();
      info.num_locals = uint16_t(m_fn.max_slots);
      return;
    }
    TypeId body = check_block(*f.body, info.return_type);
    if (!m_types.assignable(body, info.return_type)) {
      SourceLoc loc = f.body->tail ? f.body->tail->loc : f.body->loc;
      if (!f.body->tail && body == T::NUL)
        error(loc, "function '" + f.name + "' must return " + name_of(info.return_type) + " but its body has no value");
      else
        error(loc, "function '" + f.name + "' returns " + name_of(info.return_type) + " but its body has type " + name_of(body));
    }
    pop_scope();
    if (m_fn.max_slots > 65535) error(f.loc, "too many local variables");
    info.num_locals = uint16_t(m_fn.max_slots);
  }

  // Returns the block's type: Never when it always diverges.
  TypeId check_block(Block& b, TypeId expected) {
    push_scope();
    int saved_slot = m_fn.next_slot;
    bool diverges = false;
    for (auto& s : b.stmts)
      if (check_stmt(*s)) diverges = true;
    TypeId t = T::NUL;
    if (b.tail) t = check_expr(*b.tail, expected);
    if (diverges) t = T::NEVER;
    pop_scope();
    (void)saved_slot; // slots are not reused: closures/frames stay simple
    return t;
  }

  // Returns true when the statement always diverges (return, break, ...).
  bool check_stmt(Stmt& s) {
    switch (s.kind) {
    case StmtKind::Let: {
      TypeId declared = s.type ? resolve(s.type.get()) : -1;
      TypeId value = s.expr ? check_expr(*s.expr, declared) : T::NUL;
      if (declared >= 0 && !m_types.assignable(value, declared))
        error(s.expr ? s.expr->loc : s.loc, "cannot assign " + name_of(value) + " to '" + s.text + "' of type " + name_of(declared));
      TypeId type = declared >= 0 ? declared : (value == T::NEVER ? T::ANY : value);
      s.slot = declare_local(s.loc, s.text, type);
      return value == T::NEVER;
    }
    case StmtKind::Expr: return check_expr(*s.expr, -1) == T::NEVER;
    case StmtKind::While: {
      expect_bool(*s.expr, "while condition");
      m_fn.loop_depth++;
      push_scope();
      check_block(*s.body, -1);
      pop_scope();
      m_fn.loop_depth--;
      return false;
    }
    case StmtKind::ForIn: {
      TypeId seq = check_expr(*s.expr, -1);
      TypeId elem = T::ANY;
      if (m_types.kind(seq) == TypeKind::Array) elem = m_types.get(seq).args[0];
      else if (m_types.kind(seq) == TypeKind::Map) elem = T::STRING; // iterates keys
      else if (seq != T::ANY) error(s.expr->loc, "cannot iterate over " + name_of(seq));
      push_scope();
      int seq_slot = new_slot();
      int idx_slot = new_slot();
      (void)idx_slot;
      s.slot = declare_local(s.loc, s.text, elem);
      s.seq_slot = seq_slot;
      m_fn.loop_depth++;
      check_block(*s.body, -1);
      m_fn.loop_depth--;
      pop_scope();
      return false;
    }
    case StmtKind::ForC: {
      push_scope();
      if (s.init) check_stmt(*s.init);
      if (s.expr) expect_bool(*s.expr, "for condition");
      if (s.step) check_expr(*s.step, -1);
      m_fn.loop_depth++;
      check_block(*s.body, -1);
      m_fn.loop_depth--;
      pop_scope();
      return false;
    }
    case StmtKind::Break:
    case StmtKind::Continue:
      if (m_fn.loop_depth == 0)
        error(s.loc, std::string("'") + (s.kind == StmtKind::Break ? "break" : "continue") + "' outside of a loop");
      return true;
    case StmtKind::Return: {
      TypeId t = s.expr ? check_expr(*s.expr, m_fn.return_type) : T::NUL;
      if (!m_types.assignable(t, m_fn.return_type))
        error(s.expr ? s.expr->loc : s.loc, "cannot return " + name_of(t) + " from a function returning " + name_of(m_fn.return_type));
      return true;
    }
    case StmtKind::Assert:
      expect_bool(*s.expr, "assert");
      return false;
    }
    return false;
  }

  void expect_bool(Expr& e, const char* what) {
    TypeId t = check_expr(e, T::BOOL);
    if (!m_types.assignable(t, T::BOOL)) error(e.loc, std::string(what) + " must be bool, not " + name_of(t));
  }

  // ---------------------------------------------------------------- expressions

  TypeId check_expr(Expr& e, TypeId expected) {
    TypeId t = infer(e, expected);
    e.type_id = t;
    return t;
  }

  bool is_numeric(TypeId t) { return t == T::INT || t == T::FLOAT; }

  TypeId infer(Expr& e, TypeId expected) {
    switch (e.kind) {
    case ExprKind::IntLit: return T::INT;
    case ExprKind::FloatLit: return T::FLOAT;
    case ExprKind::BoolLit: return T::BOOL;
    case ExprKind::StringLit: return T::STRING;
    case ExprKind::NullLit: return T::NUL;
    case ExprKind::Ident: {
      const Local* l = find_local(e.text);
      if (!l) {
        error(e.loc, "undefined variable '" + e.text + "'");
        return T::ANY;
      }
      e.slot = l->slot;
      return l->type;
    }
    case ExprKind::Unary: return infer_unary(e);
    case ExprKind::Binary: return infer_binary(e);
    case ExprKind::Assign: return infer_assign(e);
    case ExprKind::Call: return infer_call(e);
    case ExprKind::MethodCall: return infer_method(e);
    case ExprKind::Field:
      if (namespace_of(*e.kids[0]) == "env") return infer_env_field(e);
      return infer_field(e);
    case ExprKind::Index: return infer_index(e);
    case ExprKind::ArrayLit: {
      TypeId elem_expected = -1;
      if (expected >= 0 && m_types.kind(expected) == TypeKind::Array) elem_expected = m_types.get(expected).args[0];
      if (e.kids.size() > 65535) error(e.loc, "array literal too long");
      std::vector<TypeId> elems;
      for (auto& k : e.kids) {
        TypeId t = check_expr(*k, elem_expected);
        if (elem_expected >= 0 && !m_types.assignable(t, elem_expected))
          error(k->loc, "array element of type " + name_of(t) + " where " + name_of(elem_expected) + " is expected");
        elems.push_back(t);
      }
      if (elem_expected >= 0) return m_types.array_of(elem_expected);
      if (elems.empty()) return m_types.array_of(T::ANY);
      return m_types.array_of(m_types.union_of(elems));
    }
    case ExprKind::MapLit: {
      TypeId val_expected = -1;
      if (expected >= 0 && m_types.kind(expected) == TypeKind::Map) val_expected = m_types.get(expected).args[1];
      if (e.kids.size() > 65535) error(e.loc, "map literal too long");
      std::vector<TypeId> vals;
      std::unordered_set<std::string_view> keys;
      for (size_t i = 0; i < e.kids.size(); i++) {
        if (!keys.insert(e.keys[i]).second) error(e.kids[i]->loc, "duplicate key \"" + e.keys[i] + "\" in map literal");
        TypeId t = check_expr(*e.kids[i], val_expected);
        if (val_expected >= 0 && !m_types.assignable(t, val_expected))
          error(e.kids[i]->loc, "map value of type " + name_of(t) + " where " + name_of(val_expected) + " is expected");
        vals.push_back(t);
      }
      if (val_expected >= 0) return m_types.map_of(T::STRING, val_expected);
      if (vals.empty()) return m_types.map_of(T::STRING, T::ANY);
      return m_types.map_of(T::STRING, m_types.union_of(vals));
    }
    case ExprKind::ClassLit: return infer_class_lit(e);
    case ExprKind::Block: return check_block(*e.block, expected);
    case ExprKind::If: return infer_if(e, expected);
    case ExprKind::Match: return infer_match(e, expected);
    case ExprKind::Throw:
      check_expr(*e.kids[0], -1);
      return T::NEVER;
    case ExprKind::Catch: return infer_catch(e, expected);
    }
    return T::ANY;
  }

  TypeId infer_unary(Expr& e) {
    TypeId t = m_types.widen_literals(check_expr(*e.kids[0], -1));
    if (t == T::ANY) return T::ANY;
    switch (e.op) {
    case Op::Minus:
      if (is_numeric(t)) return t;
      error(e.loc, "unary '-' needs int or float, not " + name_of(t));
      return T::ANY;
    case Op::Not:
      if (t == T::BOOL) return T::BOOL;
      error(e.loc, "'!' needs bool, not " + name_of(t));
      return T::BOOL;
    case Op::BitNot:
      if (t == T::INT) return T::INT;
      error(e.loc, "'~' needs int, not " + name_of(t));
      return T::INT;
    default: return T::ANY;
    }
  }

  static const char* op_text(Op op) {
    switch (op) {
    case Op::Add: case Op::AddAssign: return "+";
    case Op::Sub: case Op::SubAssign: return "-";
    case Op::Mul: case Op::MulAssign: return "*";
    case Op::Div: case Op::DivAssign: return "/";
    case Op::Mod: case Op::ModAssign: return "%";
    case Op::Eq: return "==";
    case Op::Ne: return "!=";
    case Op::Lt: return "<";
    case Op::Le: return "<=";
    case Op::Gt: return ">";
    case Op::Ge: return ">=";
    case Op::And: return "&&";
    case Op::Or: return "||";
    case Op::BitAnd: return "&";
    case Op::BitOr: return "|";
    case Op::BitXor: return "^";
    case Op::Shl: return "<<";
    case Op::Shr: return ">>";
    default: return "?";
    }
  }

  // Result type of `l op r` for arithmetic/bitwise ops, reporting mismatches.
  TypeId arithmetic(SourceLoc loc, Op op, TypeId l, TypeId r) {
    l = m_types.widen_literals(l);
    r = m_types.widen_literals(r);
    if (l == T::ANY || r == T::ANY) return (l == T::ANY) ? r == T::ANY ? T::ANY : r : l;
    bool bitwise = op == Op::BitAnd || op == Op::BitOr || op == Op::BitXor || op == Op::Shl || op == Op::Shr;
    if (bitwise) {
      if (l == T::INT && r == T::INT) return T::INT;
    } else if (op == Op::Add && l == T::STRING && r == T::STRING) {
      return T::STRING;
    } else if (l == r && is_numeric(l)) {
      return l;
    }
    error(loc, std::string("operator '") + op_text(op) + "' cannot be applied to " + name_of(l) + " and " + name_of(r));
    return T::ANY;
  }

  TypeId infer_binary(Expr& e) {
    Op op = e.op;
    if (op == Op::And || op == Op::Or) {
      expect_bool(*e.kids[0], op == Op::And ? "operand of '&&'" : "operand of '||'");
      push_scope();
      narrow_condition(*e.kids[0], op == Op::And);
      expect_bool(*e.kids[1], op == Op::And ? "operand of '&&'" : "operand of '||'");
      pop_scope();
      return T::BOOL;
    }
    TypeId l = check_expr(*e.kids[0], -1);
    TypeId r = check_expr(*e.kids[1], -1);
    switch (op) {
    case Op::Eq:
    case Op::Ne: return T::BOOL;
    case Op::Lt:
    case Op::Le:
    case Op::Gt:
    case Op::Ge:
      if (l != T::ANY && r != T::ANY && !(l == r && (is_numeric(l) || l == T::STRING)))
        error(e.loc, std::string("operator '") + op_text(op) + "' cannot compare " + name_of(l) + " and " + name_of(r));
      return T::BOOL;
    default: return arithmetic(e.loc, op, l, r);
    }
  }

  // Type a target expression (Ident, Field, Index) for assignment; returns the
  // type a stored value must have.
  TypeId assign_target(Expr& target) {
    switch (target.kind) {
    case ExprKind::Ident: {
      const Local* l = find_local(target.text);
      if (!l) {
        error(target.loc, "undefined variable '" + target.text + "'");
        return T::ANY;
      }
      target.slot = l->slot;
      target.type_id = l->type;
      return l->declared;
    }
    case ExprKind::Field:
      if (namespace_of(*target.kids[0]) == "env") {
        error(target.loc, "cannot assign to an environment variable");
        return T::ANY;
      }
      return check_expr(target, -1);
    case ExprKind::Index: return check_expr(target, -1);
    default:
      error(target.loc, "invalid assignment target");
      return T::ANY;
    }
  }

  TypeId infer_assign(Expr& e) {
    TypeId target = assign_target(*e.kids[0]);
    if (e.kids[0]->kind == ExprKind::Field && e.kids[0]->aux < 0 && e.kids[0]->type_id != T::ANY)
      error(e.kids[0]->loc, "cannot assign to this field");
    TypeId value = check_expr(*e.kids[1], target);
    if (e.op == Op::Assign) {
      if (!m_types.assignable(value, target))
        error(e.kids[1]->loc, "cannot assign " + name_of(value) + " to a target of type " + name_of(target));
    } else {
      Op arith = e.op == Op::AddAssign ? Op::Add : e.op == Op::SubAssign ? Op::Sub : e.op == Op::MulAssign ? Op::Mul
                 : e.op == Op::DivAssign ? Op::Div : Op::Mod;
      TypeId cur = e.kids[0]->type_id >= 0 ? e.kids[0]->type_id : target;
      TypeId r = arithmetic(e.loc, arith, cur, value);
      if (!m_types.assignable(r, target))
        error(e.loc, "cannot assign " + name_of(r) + " to a target of type " + name_of(target));
    }
    return T::NUL;
  }

  void check_args(Expr& e, size_t first, const std::vector<TypeId>& params, const std::string& what) {
    size_t n = e.kids.size() - first;
    if (n != params.size()) {
      error(e.loc, what + " expects " + std::to_string(params.size()) + " argument" + (params.size() == 1 ? "" : "s") +
                       ", got " + std::to_string(n));
    }
    for (size_t i = 0; i < n; i++) {
      TypeId want = i < params.size() ? params[i] : -1;
      TypeId got = check_expr(*e.kids[first + i], want);
      if (want >= 0 && !m_types.assignable(got, want))
        error(e.kids[first + i]->loc, "argument " + std::to_string(i + 1) + " of " + what + " must be " + name_of(want) +
                                          ", not " + name_of(got));
    }
  }

  TypeId infer_call(Expr& e) {
    Expr& callee = *e.kids[0];
    if (callee.kind != ExprKind::Ident) {
      error(callee.loc, "only named functions can be called");
      for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
      return T::ANY;
    }
    auto it = m_out.function_index.find(callee.text);
    if (it == m_out.function_index.end() || it->second >= m_out.declared_functions) {
      if (auto host = m_host_index.find(callee.text); host != m_host_index.end()) {
        e.slot = int(host->second);
        e.aux = kHostCall;
        const auto& fn = m_out.host_functions[host->second];
        if (e.kids.size() - 1 > 255) error(e.loc, "too many arguments");
        check_args(e, 1, fn.param_types, "host function '" + fn.name + "'");
        return fn.return_type;
      }
      error(callee.loc, "undefined function '" + callee.text + "'");
      for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
      return T::ANY;
    }
    e.slot = int(it->second);
    const auto& fn = m_out.functions[it->second];
    if (e.kids.size() - 1 > 255) error(e.loc, "too many arguments");
    check_args(e, 1, fn.param_types, "function '" + fn.name + "'");
    return fn.return_type;
  }

  // `baml.sys` / `baml` receivers name builtin namespaces unless shadowed.
  std::string namespace_of(const Expr& r) {
    if (r.kind == ExprKind::Ident && r.text == "baml" && !find_local("baml")) return "baml";
    if (r.kind == ExprKind::Ident && r.text == "env" && !find_local("env")) return "env";
    if (r.kind == ExprKind::Field && (r.text == "sys" || r.text == "http" || r.text == "unstable") && r.kids[0]->kind == ExprKind::Ident &&
        r.kids[0]->text == "baml" && !find_local("baml"))
      return "baml." + r.text;
    return "";
  }

  // F.parse(text) on a function F (not a local): the text parsed as F's
  // LLM calls parse a reply, typed as F's return type. Compiled as
  // baml.llm.parse(<F's index>, text).
  static constexpr TypeId kNotFunctionParse = -1;
  TypeId infer_function_parse(Expr& e) {
    Expr& recv = *e.kids[0];
    if (e.text != "parse" || recv.kind != ExprKind::Ident || find_local(recv.text)) return kNotFunctionParse;
    auto it = m_out.function_index.find(recv.text);
    if (it == m_out.function_index.end()) return kNotFunctionParse;
    const auto& fn = m_out.functions[it->second];
    check_args(e, 1, {T::STRING}, "'" + fn.name + ".parse'");
    auto index = std::make_unique<Expr>(ExprKind::IntLit, recv.loc);
    index->int_value = int64_t(it->second);
    index->type_id = T::INT;
    e.kids.insert(e.kids.begin() + 1, std::move(index));
    e.aux = int(BuiltinId::LLM_PARSE);
    return fn.return_type;
  }

  // env.NAME: sugar for env.get_or_panic("NAME") (a typed error when the
  // engine's env option does not give it).
  TypeId infer_env_field(Expr& e) {
    auto name = std::make_unique<Expr>(ExprKind::StringLit, e.loc);
    name->text = e.text;
    e.kind = ExprKind::MethodCall;
    e.text = "get_or_panic";
    e.kids.push_back(std::move(name));
    return infer_method(e);
  }

  TypeId infer_method(Expr& e) {
    Expr& recv = *e.kids[0];
    if (TypeId t = infer_function_parse(e); t != kNotFunctionParse) return t;
    std::string ns = namespace_of(recv);
    if (!ns.empty()) {
      BuiltinId id = vm::find_builtin(ns, e.text);
      if (id == BuiltinId::COUNT_) {
        error(e.loc, "unknown builtin '" + ns + "." + e.text + "'");
        for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
        return T::ANY;
      }
      e.aux = int(id);
      return builtin_call(e, id, T::ANY, 1);
    }
    TypeId rt = m_types.widen_literals(check_expr(recv, -1));
    if (rt == T::ANY) {
      error(e.loc, "cannot call '" + e.text + "' on a value of unknown type (annotate its type)");
      for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
      return T::ANY;
    }
    TypeKind k = m_types.kind(rt);
    if (rt == m_response_type) {
      BuiltinId id = vm::find_builtin("Response", e.text);
      if (id == BuiltinId::COUNT_) {
        error(e.loc, std::string("class '") + vm::kResponseClassName + "' has no method '" + e.text + "'");
        for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
        return T::ANY;
      }
      e.aux = int(id);
      return builtin_call(e, id, rt, 1);
    }
    if (k == TypeKind::Class) {
      int32_t cls = m_types.get(rt).decl;
      auto it = m_out.function_index.find(m_out.classes[size_t(cls)].name + "." + e.text);
      if (it == m_out.function_index.end()) {
        error(e.loc, "class '" + m_out.classes[size_t(cls)].name + "' has no method '" + e.text + "'");
        for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
        return T::ANY;
      }
      e.slot = int(it->second);
      const auto& fn = m_out.functions[it->second];
      std::vector<TypeId> rest(fn.param_types.begin() + (fn.param_types.empty() ? 0 : 1), fn.param_types.end());
      check_args(e, 1, rest, "method '" + fn.name + "'");
      return fn.return_type;
    }
    const char* kind_name = k == TypeKind::Array ? "array" : k == TypeKind::Map ? "map" : rt == T::STRING ? "string"
                          : rt == T::INT ? "int" : rt == T::FLOAT ? "float" : rt == T::BOOL ? "bool" : nullptr;
    BuiltinId id = kind_name ? vm::find_builtin(kind_name, e.text) : BuiltinId::COUNT_;
    if (id == BuiltinId::COUNT_) {
      error(e.loc, "type " + name_of(rt) + " has no method '" + e.text + "'");
      for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
      return T::ANY;
    }
    e.aux = int(id);
    return builtin_call(e, id, rt, 1);
  }

  // Type variables of a builtin's signature (vm/builtins.h): T and V, -1
  // while unbound.
  struct TypeVars {
    TypeId t = -1, v = -1;
  };

  // Binds the type variables of `pattern` against `actual` (T[] against
  // int[] binds T = int).
  void bind(const TypeExpr* pattern, TypeId actual, TypeVars& vars) {
    if (!pattern || actual == T::ANY) return;
    switch (pattern->kind) {
    case TypeExprKind::Named:
      if (pattern->name == "T" && vars.t < 0) vars.t = actual == T::NEVER ? T::ANY : actual;
      if (pattern->name == "V" && vars.v < 0) vars.v = actual == T::NEVER ? T::ANY : actual;
      return;
    case TypeExprKind::Array:
      if (m_types.kind(actual) == TypeKind::Array) bind(pattern->args[0].get(), m_types.get(actual).args[0], vars);
      return;
    case TypeExprKind::Map:
      if (m_types.kind(actual) == TypeKind::Map) bind(pattern->args[1].get(), m_types.get(actual).args[1], vars);
      return;
    default: return;
    }
  }

  // A builtin signature's type, with its variables (unbound: any).
  TypeId resolve_builtin(const TypeExpr* t, const TypeVars& vars) {
    switch (t->kind) {
    case TypeExprKind::Named:
      if (t->name == "T") return vars.t >= 0 ? vars.t : T::ANY;
      if (t->name == "V") return vars.v >= 0 ? vars.v : T::ANY;
      if (t->name == "any") return T::ANY;
      if (t->name == "never") return T::NEVER;
      if (t->name == "Response") return m_response_type;
      return resolve(t);
    case TypeExprKind::Array: return m_types.array_of(resolve_builtin(t->args[0].get(), vars));
    case TypeExprKind::Map: return m_types.map_of(T::STRING, resolve_builtin(t->args[1].get(), vars));
    case TypeExprKind::Optional: return m_types.optional_of(resolve_builtin(t->args[0].get(), vars));
    case TypeExprKind::Union: {
      std::vector<TypeId> members;
      for (auto& a : t->args) members.push_back(resolve_builtin(a.get(), vars));
      return m_types.union_of(members);
    }
    case TypeExprKind::Literal: return literal(t);
    }
    return T::ANY;
  }

  static bool mentions_variable(const TypeExpr* t) {
    if (t->kind == TypeExprKind::Named) return t->name == "T" || t->name == "V";
    for (auto& a : t->args)
      if (mentions_variable(a.get())) return true;
    return false;
  }

  // Checks a builtin's arguments (kids[first..]) against its signature in
  // the one table (vm/builtins.h) and returns its result type.
  TypeId builtin_call(Expr& e, BuiltinId id, TypeId recv, size_t first) {
    const auto& info = vm::kBuiltins[size_t(id)];
    const vm::BuiltinSignature& sig = vm::builtin_signature(id);
    size_t n = e.kids.size() - first, max = sig.params.size();
    if (n < info.min_args || n > max) {
      error(e.loc, "'" + std::string(info.name) + "' expects " +
                       (info.min_args == max ? std::to_string(max) : std::to_string(info.min_args) + " to " + std::to_string(max)) +
                       " argument" + (max == 1 ? "" : "s") + ", got " + std::to_string(n));
      for (size_t i = first; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
      return T::ANY;
    }
    TypeVars vars;
    if (sig.self) {
      bind(sig.self.get(), recv, vars);
      TypeId want = resolve_builtin(sig.self.get(), vars);
      if (!m_types.assignable(recv, want))
        error(e.loc, "'" + std::string(info.name) + "' needs a " + name_of(want) + ", not " + name_of(recv));
    }
    for (size_t i = 0; i < n; i++) {
      const TypeExpr* param = sig.params[i].type.get();
      bool open = mentions_variable(param);
      TypeId got = check_expr(*e.kids[first + i], open ? -1 : resolve_builtin(param, vars));
      if (open) bind(param, got, vars);
      TypeId want = resolve_builtin(param, vars);
      if (!m_types.assignable(got, want))
        error(e.kids[first + i]->loc, "argument " + std::to_string(i + 1) + " of '" + info.name + "' must be " +
                                          name_of(want) + ", not " + name_of(got));
    }
    return resolve_builtin(sig.result.get(), vars);
  }

  TypeId infer_field(Expr& e) {
    Expr& obj = *e.kids[0];
    // Enum.Variant
    if (obj.kind == ExprKind::Ident && !find_local(obj.text)) {
      auto it = m_type_names.find(obj.text);
      if (it != m_type_names.end() && m_types.kind(it->second) == TypeKind::Enum) {
        int32_t decl = m_types.get(it->second).decl;
        const auto& variants = m_out.enums[size_t(decl)].variants;
        for (size_t v = 0; v < variants.size(); v++)
          if (variants[v] == e.text) {
            e.aux = -2;
            e.slot = decl;
            e.int_value = int64_t(v);
            return it->second;
          }
        error(e.loc, "enum '" + obj.text + "' has no variant '" + e.text + "'");
        return T::ANY;
      }
    }
    TypeId t = check_expr(obj, -1);
    if (t == T::ANY) return T::ANY;
    if (m_types.kind(t) == TypeKind::Class) {
      const auto& cls = m_out.classes[size_t(m_types.get(t).decl)];
      for (size_t i = 0; i < cls.field_names.size(); i++)
        if (cls.field_names[i] == e.text) {
          e.aux = int(i);
          return cls.field_types[i];
        }
      error(e.loc, "class '" + cls.name + "' has no field '" + e.text + "'");
      return T::ANY;
    }
    error(e.loc, "type " + name_of(t) + " has no field '" + e.text + "'");
    return T::ANY;
  }

  TypeId infer_index(Expr& e) {
    TypeId t = check_expr(*e.kids[0], -1);
    TypeId i = check_expr(*e.kids[1], -1);
    if (t == T::ANY) return T::ANY;
    if (m_types.kind(t) == TypeKind::Array) {
      if (i != T::INT && i != T::ANY) error(e.kids[1]->loc, "array index must be int, not " + name_of(i));
      return m_types.get(t).args[0];
    }
    if (m_types.kind(t) == TypeKind::Map) {
      if (!m_types.assignable(i, T::STRING)) error(e.kids[1]->loc, "map key must be string, not " + name_of(i));
      return m_types.get(t).args[1];
    }
    error(e.loc, "type " + name_of(t) + " cannot be indexed");
    return T::ANY;
  }

  TypeId infer_class_lit(Expr& e) {
    auto it = m_type_names.find(e.text);
    if (it == m_type_names.end() || m_types.kind(it->second) != TypeKind::Class) {
      error(e.loc, "unknown class '" + e.text + "'");
      for (auto& k : e.kids) check_expr(*k, -1);
      return T::ANY;
    }
    int32_t decl = m_types.get(it->second).decl;
    const auto& cls = m_out.classes[size_t(decl)];
    e.slot = decl;
    std::vector<bool> given(cls.field_names.size(), false);
    std::vector<bool> named(cls.field_names.size(), false);
    bool spreads = false;
    for (size_t i = 0; i < e.kids.size(); i++) {
      if (e.keys[i] == "...") { // a spread: every field of a value of this class, in its place in the order
        // (Its fields are read by position: a value of unknown type could be any class.)
        TypeId t = check_expr(*e.kids[i], it->second);
        if (t == T::ANY)
          error(e.kids[i]->loc, "a spread into '" + cls.name + "' needs a value known to be a " + cls.name +
                                    " (this one's type is unknown: narrow it with a match first)");
        else if (t != T::NEVER && !m_types.assignable(t, it->second))
          error(e.kids[i]->loc, "a spread into '" + cls.name + "' needs a " + cls.name + ", not " + name_of(t));
        given.assign(given.size(), true);
        spreads = true;
        continue;
      }
      int64_t found = cls.find_field(e.keys[i]);
      size_t f = found < 0 ? cls.field_names.size() : size_t(found);
      if (f == cls.field_names.size()) {
        error(e.kids[i]->loc, "class '" + cls.name + "' has no field '" + e.keys[i] + "'");
        check_expr(*e.kids[i], -1);
        continue;
      }
      if (named[f]) error(e.kids[i]->loc, "field '" + e.keys[i] + "' given twice");
      named[f] = given[f] = true;
      TypeId t = check_expr(*e.kids[i], cls.field_types[f]);
      if (!m_types.assignable(t, cls.field_types[f]))
        error(e.kids[i]->loc, "field '" + e.keys[i] + "' of '" + cls.name + "' is " + name_of(cls.field_types[f]) + ", not " + name_of(t));
    }
    if (spreads) { // two hidden locals: the instance being built, then a spread's value
      e.aux = new_slot();
      new_slot();
    }
    for (size_t f = 0; f < given.size(); f++)
      if (!given[f] && !m_types.contains_null(cls.field_types[f]))
        error(e.loc, "missing field '" + cls.field_names[f] + "' in '" + cls.name + "'");
    return it->second;
  }

  // Narrowing for `x != null` / `x == null` conditions: `when_true` says
  // which outcome of the condition the current scope runs under.
  void narrow_condition(const Expr& cond, bool when_true) {
    if (cond.kind == ExprKind::Binary && (cond.op == Op::Ne || cond.op == Op::Eq)) {
      const Expr* var = nullptr;
      if (cond.kids[1]->kind == ExprKind::NullLit && cond.kids[0]->kind == ExprKind::Ident) var = cond.kids[0].get();
      if (cond.kids[0]->kind == ExprKind::NullLit && cond.kids[1]->kind == ExprKind::Ident) var = cond.kids[1].get();
      if (!var) return;
      const Local* l = find_local(var->text);
      if (!l) return;
      bool non_null = (cond.op == Op::Ne) == when_true;
      narrow(*l, non_null ? m_types.without_null(l->type) : T::NUL);
    } else if (cond.kind == ExprKind::Binary && cond.op == Op::And && when_true) {
      narrow_condition(*cond.kids[0], true);
      narrow_condition(*cond.kids[1], true);
    } else if (cond.kind == ExprKind::Binary && cond.op == Op::Or && !when_true) {
      narrow_condition(*cond.kids[0], false);
      narrow_condition(*cond.kids[1], false);
    } else if (cond.kind == ExprKind::Unary && cond.op == Op::Not) {
      narrow_condition(*cond.kids[0], !when_true);
    }
  }

  TypeId infer_if(Expr& e, TypeId expected) {
    expect_bool(*e.kids[0], "if condition");
    push_scope();
    narrow_condition(*e.kids[0], true);
    TypeId then_t = check_block(*e.block, expected);
    pop_scope();
    TypeId else_t = T::NUL;
    if (e.else_expr) {
      push_scope();
      narrow_condition(*e.kids[0], false);
      else_t = check_expr(*e.else_expr, expected);
      pop_scope();
    }
    return m_types.union_of({then_t, else_t});
  }

  // ---------------------------------------------------------------- match

  TypeId infer_match(Expr& e, TypeId expected) {
    TypeId scrutinee = check_expr(*e.kids[0], -1);
    if (e.type_annotation) {
      TypeId ann = resolve(e.type_annotation.get());
      if (!m_types.assignable(scrutinee, ann))
        error(e.kids[0]->loc, "match value of type " + name_of(scrutinee) + " is not a " + name_of(ann));
      scrutinee = ann;
    }
    push_scope();
    e.slot = new_slot();
    std::vector<TypeId> results;
    for (auto& arm : e.arms) {
      push_scope();
      check_pattern(*arm.pattern, scrutinee);
      if (arm.guard) expect_bool(*arm.guard, "match guard");
      results.push_back(check_expr(*arm.body, expected));
      pop_scope();
    }
    pop_scope();
    return m_types.union_of(results);
  }

  // guarded catch (name) { arms }: the guarded expression's value, or an
  // arm's for what it threw (any value: the arms' patterns test it as a
  // match's do; none matching throws it on).
  TypeId infer_catch(Expr& e, TypeId expected) {
    TypeId guarded = check_expr(*e.kids[0], expected);
    push_scope();
    e.slot = declare_local(e.loc, e.text, T::ANY);
    std::vector<TypeId> results{guarded};
    for (auto& arm : e.arms) {
      push_scope();
      check_pattern(*arm.pattern, T::ANY);
      if (arm.guard) expect_bool(*arm.guard, "catch guard");
      results.push_back(check_expr(*arm.body, expected));
      pop_scope();
    }
    pop_scope();
    return m_types.union_of(results);
  }

  void check_pattern(Pattern& p, TypeId scrutinee) {
    switch (p.kind) {
    case PatternKind::Wildcard: return;
    case PatternKind::Literal: check_expr(*p.literal, -1); return;
    case PatternKind::Binding: {
      // A bare name that names a type is a type pattern (`Point => ...`).
      if (m_type_names.count(p.text) || m_aliases.count(p.text)) {
        TypeExpr te;
        te.name = p.text;
        te.loc = p.loc;
        p.type_id = resolve(&te);
        p.kind = PatternKind::Type;
        p.text.clear();
        return;
      }
      p.slot = declare_local(p.loc, p.text, scrutinee);
      return;
    }
    case PatternKind::Type: {
      p.type_id = resolve(p.type.get());
      if (!p.text.empty() && p.text != "_") p.slot = declare_local(p.loc, p.text, p.type_id);
      return;
    }
    case PatternKind::EnumValue: {
      auto it = m_type_names.find(p.text);
      if (it == m_type_names.end() || m_types.kind(it->second) != TypeKind::Enum) {
        error(p.loc, "unknown enum '" + p.text + "'");
        return;
      }
      int32_t decl = m_types.get(it->second).decl;
      const auto& variants = m_out.enums[size_t(decl)].variants;
      for (size_t v = 0; v < variants.size(); v++)
        if (variants[v] == p.variant) {
          p.type_id = decl;
          p.slot = -1;
          p.literal = std::make_unique<Expr>(ExprKind::Field, p.loc);
          p.literal->aux = -2;
          p.literal->slot = decl;
          p.literal->int_value = int64_t(v);
          return;
        }
      error(p.loc, "enum '" + p.text + "' has no variant '" + p.variant + "'");
      return;
    }
    case PatternKind::Or:
      for (auto& alt : p.alternatives) {
        if (alt->kind == PatternKind::Binding && !m_type_names.count(alt->text) && !m_aliases.count(alt->text))
          error(alt->loc, "alternatives in an or-pattern cannot bind names");
        else if (alt->kind == PatternKind::Type && !alt->text.empty() && alt->text != "_")
          error(alt->loc, "alternatives in an or-pattern cannot bind names");
        check_pattern(*alt, scrutinee);
      }
      return;
    }
  }

  // Locals with a flag: narrowing entries re-declare a name with a new type.
  struct ScopedLocal {
    Local local;
    bool narrowing;
  };
  using Scope = std::vector<ScopedLocal>;

  Program& m_ast;
  vm::CompiledProgram& m_out;
  TypeTable& m_types;
  std::unordered_map<std::string, TypeId> m_type_names;
  TypeId m_response_type = T::ANY;
  std::unordered_map<std::string, const TypeAliasDecl*> m_aliases;
  std::unordered_map<std::string, TypeId> m_recursive_aliases;          // name -> its TypeKind::Alias
  std::vector<std::pair<const TypeAliasDecl*, TypeId>> m_recursive; // the same, in declaration order
  std::vector<std::vector<uint32_t>> m_method_index;
  std::unordered_map<std::string, uint32_t> m_host_index;
  const std::string* m_error_file = nullptr; // set while resolving a host signature
  std::vector<Scope> m_scopes;
  FunctionContext m_fn;
};

} // namespace

void check_program(Program& ast, vm::CompiledProgram& out) { Checker(ast, out).run(); }

} // namespace brake::lang
