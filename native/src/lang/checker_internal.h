// checker_internal.h: the checker's one class, whose parts are defined in
// checker.cpp (the driver, functions and statements), checker_decls.cpp
// (declarations and types), checker_expr.cpp (expressions, calls and
// builtins) and checker_pattern.cpp (narrowing, if, match, catch and
// patterns). Only those files include it.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lang/ast.h"
#include "vm/builtins.h"
#include "vm/chunk.h"

namespace brake::lang::checking {

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
  int watch_options = -1; // a `watch let`: the hidden local of its options (x.$watch.options)
};

struct FunctionContext {
  uint32_t function = 0; // its index in CompiledProgram::functions
  TypeId return_type = T::ANY;
  int next_slot = 0;
  int max_slots = 0;
  int loop_depth = 0;
  std::set<int> cells; // locals a lambda captures (FunctionInfo::cell_slots)
  // A lambda's captures: (the variable's slot in the enclosing function, its slot here).
  std::vector<std::pair<int, int>> captures;
  // Its `throws` clause (-1: none: what it throws is not checked), and, per
  // catch enclosing the code being checked, the type its unguarded arms
  // take (what is thrown there of that type is caught; unknown: anything).
  TypeId throws = -1;
  std::vector<TypeId> caught;
  // A lambda whose result type is not written: the types its returns give.
  bool infer_return = false;
  std::vector<TypeId> returns;
};

class Checker {
public:
  Checker(Program& ast, vm::CompiledProgram& out) : m_ast(ast), m_out(out), m_types(out.types) {}
  void run();

private:
  // Locals with a flag: narrowing entries re-declare a name with a new type.
  struct ScopedLocal {
    Local local;
    bool narrowing;
  };
  using Scope = std::vector<ScopedLocal>;
  // An enclosing function's context while a lambda in it is checked.
  struct Level {
    FunctionContext fn;
    std::vector<Scope> scopes;
  };

  void error(SourceLoc loc, std::string message) {
    if (m_error_file) m_out.diagnostics.error_in(*m_error_file, loc, std::move(message));
    else m_out.diagnostics.error(loc, std::move(message));
  }
  std::string name_of(TypeId t) { return m_out.type_name(t); }

  // ---------------------------------------------------------------- declarations

  void declare_types();

  // baml.http.Response, the class of what baml.http.fetch returns: after the
  // program's classes (their ids stay as written), in every program. Its
  // body is a field scripts cannot name ('#'), null once it has been read.
  void declare_response_class();

  // image, audio, pdf and video: classes after baml.http.Response, with a
  // URL or base64 data and a MIME type (what prompts send to a model).
  void declare_media_classes();

  void declare_function(FunctionDecl& f, const std::string& qualified, TypeId self_type);

  void declare_functions();

  // Host functions live in the same namespace as the program's functions.
  // Their signatures are resolved against the program's types, and errors in
  // them are reported in the signature's own "file".
  void declare_host_functions();

  // TypeExpr -> TypeId
  TypeId resolve(const TypeExpr* t);
  // A builtin type's, a class's or an enum's name: its type (-1: none;
  // aliases are resolve()'s).
  TypeId named_type(const std::string& name);

  TypeId resolve_unstreamed(const TypeExpr* t);

  // A type alias's type. An alias on a cycle of aliases (`type Json = int |
  // Json[] | map<string, Json>`, or A = B, B = C, C = A[]) is recursive: a
  // named TypeKind::Alias (declare_recursive_aliases); any other alias is
  // replaced by what it stands for, resolved where it is used.
  TypeId resolve_alias(const TypeAliasDecl& a);

  // The names of aliases `t` mentions.
  void alias_refs(const TypeExpr* t, std::vector<const TypeAliasDecl*>& out) const;

  // Finds the aliases that reach themselves through other aliases and
  // declares each a TypeKind::Alias, in declaration order (before any type
  // is resolved: a field may name one).
  void declare_recursive_aliases();

  // Sets each recursive alias's target, once the classes are declared. A
  // cycle must pass through a list or a map (`type A = A`, `type A = A |
  // int` stand for nothing finite): otherwise it is an error, and the alias
  // stands for unknown (set only once every target is known: the walk reads
  // them).
  void resolve_recursive_aliases();

  // Whether `alias` meets itself through unions, aliases and stream
  // attributes alone.
  bool reaches_without_container(TypeId alias) const;

  // A map key type: string, an enum, a string literal or a union of those.
  bool string_like(TypeId k) const;

  TypeId literal(const TypeExpr* t);

  // ---------------------------------------------------------------- scopes

  void push_scope() { m_scopes.emplace_back(); }
  void pop_scope() { m_scopes.pop_back(); }
  int new_slot() {
    int s = m_fn.next_slot++;
    if (m_fn.next_slot > m_fn.max_slots) m_fn.max_slots = m_fn.next_slot;
    return s;
  }
  int declare_local(SourceLoc loc, const std::string& name, TypeId type, int watch_options = -1) {
    int slot = new_slot();
    // Re-declaring a name shadows the earlier one (as in Rust and BAML).
    if (name != "_") {
      m_scopes.back().push_back(ScopedLocal{{name, slot, type, type, watch_options}, false});
    }
    return slot;
  }
  static const Local* find_in(const std::vector<Scope>& scopes, const std::string& name);
  // The local `name` of the current function or of one enclosing it (a
  // lambda's): whether a name is a variable. variable() gives one to use.
  const Local* find_local(const std::string& name) const {
    if (const Local* l = find_in(m_scopes, name)) return l;
    for (size_t i = m_levels.size(); i-- > 0;)
      if (const Local* l = find_in(m_levels[i].scopes, name)) return l;
    return nullptr;
  }
  // The variable `name` as the current function sees it: one of its own
  // locals, or a capture of an enclosing function's (made on first use, in
  // each lambda between: a local holding the variable's cell). nullopt: no
  // variable of that name.
  std::optional<Local> variable(SourceLoc loc, const std::string& name) { return variable_at(m_levels.size(), loc, name); }
  std::optional<Local> variable_at(size_t level, SourceLoc loc, const std::string& name);
  // Narrows `name` to `type` in the current (fresh) scope.
  void narrow(const Local& l, TypeId type) {
    m_scopes.back().push_back(ScopedLocal{{l.name, l.slot, type, l.declared, l.watch_options}, true});
  }

  // ---------------------------------------------------------------- functions

  void check_function(FunctionDecl& f, uint32_t index);
  // Its locals and cells, once its body is checked.
  void finish_function(vm::FunctionInfo& info, SourceLoc loc);

  // Returns the block's type: Never when it always diverges.
  TypeId check_block(Block& b, TypeId expected);

  // Returns true when the statement always diverges (return, break, ...).
  bool check_stmt(Stmt& s);

  void expect_bool(Expr& e, const char* what);

  // ---------------------------------------------------------------- expressions

  TypeId check_expr(Expr& e, TypeId expected);

  bool is_numeric(TypeId t) { return t == T::INT || t == T::FLOAT; }

  TypeId infer(Expr& e, TypeId expected);

  TypeId infer_unary(Expr& e);

  static const char* op_text(Op op);

  // Result type of `l op r` for arithmetic/bitwise ops, reporting mismatches.
  TypeId arithmetic(SourceLoc loc, Op op, TypeId l, TypeId r);

  TypeId infer_binary(Expr& e);

  // Type a target expression (Ident, Field, Index) for assignment; returns the
  // type a stored value must have.
  TypeId assign_target(Expr& target);

  TypeId infer_assign(Expr& e);

  void check_args(Expr& e, size_t first, const std::vector<TypeId>& params, const std::string& what);

  TypeId infer_call(Expr& e);

  // `baml.sys` / `baml` receivers name builtin namespaces unless shadowed.
  std::string namespace_of(const Expr& r);

  // F.parse(text) on a function F (not a local): the text parsed as F's
  // LLM calls parse a reply, typed as F's return type. Compiled as
  // baml.llm.parse(<F's index>, text).
  static constexpr TypeId kNotFunctionParse = -1;
  TypeId infer_function_parse(Expr& e);

  // env.NAME: sugar for env.get_or_panic("NAME") (a typed error when the
  // engine's env option does not give it).
  TypeId infer_env_field(Expr& e);

  TypeId infer_method(Expr& e);

  // Type variables of a builtin's signature (vm/builtins.h): T and V, -1
  // while unbound.
  struct TypeVars {
    TypeId t = -1, v = -1;
  };

  // Binds the type variables of `pattern` against `actual` (T[] against
  // int[] binds T = int).
  void bind(const TypeExpr* pattern, TypeId actual, TypeVars& vars);

  // A builtin signature's type, with its variables (unbound: any).
  TypeId resolve_builtin(const TypeExpr* t, const TypeVars& vars);

  static bool mentions_variable(const TypeExpr* t);

  // Checks a builtin's arguments (kids[first..]) against its signature in
  // the one table (vm/builtins.h) and returns its result type.
  TypeId builtin_call(Expr& e, BuiltinId id, TypeId recv, size_t first);

  TypeId infer_field(Expr& e);

  TypeId infer_index(Expr& e);

  TypeId infer_class_lit(Expr& e);

  // Narrowing for `x != null` / `x == null` conditions: `when_true` says
  // which outcome of the condition the current scope runs under.
  void narrow_condition(const Expr& cond, bool when_true);

  TypeId infer_if(Expr& e, TypeId expected);

  // ---------------------------------------------------------------- match

  TypeId infer_match(Expr& e, TypeId expected);

  // guarded catch (name) { arms }: the guarded expression's value, or an
  // arm's for what it threw (any value: the arms' patterns test it as a
  // match's do; none matching throws it on).
  TypeId infer_catch(Expr& e, TypeId expected);

  void check_pattern(Pattern& p, TypeId scrutinee);

  // A throw of a `what` from the current function, or a call of function
  // `callee` (which throws what its clause says): against the function's
  // own `throws` clause.
  void check_thrown(SourceLoc loc, TypeId what);
  bool is_caught(TypeId what);
  void check_callee_throws(SourceLoc loc, uint32_t callee);

  // ---------------------------------------------------------------- functions as values (checker_function.cpp)

  // A lambda: checked as a function of its own (numbered after the
  // methods), with the enclosing function's context saved in m_levels.
  TypeId infer_spawn(Expr& e);
  TypeId infer_await(Expr& e);
  TypeId infer_lambda(Expr& e, TypeId expected);
  // The type of function `index` as a value (without self when `bound`).
  TypeId function_type(uint32_t index, bool bound);
  // `add`, a function's name as a value; -1 when `e` names no function.
  TypeId infer_function_ref(Expr& e);
  // f(x) where f is a value of a function type (`callee`: its type when
  // already known, else -1: checked here).
  TypeId infer_value_call(Expr& e, TypeId callee = -1);
  // x.$watch.options(...) and x.$watch.notify() on a `watch let` x.
  TypeId infer_watch_method(Expr& e);
  // xs.map(f) and the other array methods that take a function; -1 when
  // `e.text` is not one of them.
  TypeId infer_array_callback(Expr& e, TypeId array);


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
  std::vector<Level> m_levels; // the functions enclosing the lambda being checked, outermost first
};

} // namespace brake::lang::checking
