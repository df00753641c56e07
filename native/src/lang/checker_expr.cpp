// checker_expr.cpp: expressions: operators, assignments, calls, methods,
// builtins, fields, indexing and class literals.
#include "lang/checker_internal.h"

namespace brake::lang::checking {

TypeId Checker::check_expr(Expr& e, TypeId expected) {
  TypeId t = infer(e, expected);
  e.type_id = t;
  return t;
}

TypeId Checker::infer(Expr& e, TypeId expected) {
  switch (e.kind) {
  case ExprKind::IntLit: return T::INT;
  case ExprKind::FloatLit: return T::FLOAT;
  case ExprKind::BoolLit: return T::BOOL;
  case ExprKind::StringLit: return T::STRING;
  case ExprKind::NullLit: return T::NUL;
  case ExprKind::Ident: {
    std::optional<Local> l = variable(e.loc, e.text);
    if (!l) {
      if (TypeId t = infer_function_ref(e); t >= 0) return t;
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
    check_thrown(e.loc, check_expr(*e.kids[0], -1));
    return T::NEVER;
  case ExprKind::Catch: return infer_catch(e, expected);
  case ExprKind::Lambda: return infer_lambda(e, expected);
  case ExprKind::Spawn: return infer_spawn(e);
  case ExprKind::Await: return infer_await(e);
  }
  return T::ANY;
}

// spawn { body } / spawn with tok { body }: Future<the body's type>.
TypeId Checker::infer_spawn(Expr& e) {
  if (e.kids.size() > 1) {
    TypeId tok = check_expr(*e.kids[1], -1);
    if (tok != T::ANY && tok != m_types.cancel_token())
      error(e.kids[1]->loc, "'spawn with' needs a CancelToken, not " + name_of(tok));
  }
  TypeId fn = check_expr(*e.kids[0], -1);
  return m_types.future_of(m_types.kind(fn) == TypeKind::Function ? m_types.get(fn).args.back() : T::ANY);
}

TypeId Checker::infer_await(Expr& e) {
  TypeId t = check_expr(*e.kids[0], -1);
  if (t == T::ANY) return T::ANY;
  if (m_types.kind(t) != TypeKind::Future) {
    error(e.kids[0]->loc, "await needs a Future, not " + name_of(t));
    return T::ANY;
  }
  return m_types.get(t).args[0];
}

TypeId Checker::infer_unary(Expr& e) {
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

const char* Checker::op_text(Op op) {
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

TypeId Checker::arithmetic(SourceLoc loc, Op op, TypeId l, TypeId r) {
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

TypeId Checker::infer_binary(Expr& e) {
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

TypeId Checker::assign_target(Expr& target) {
  switch (target.kind) {
  case ExprKind::Ident: {
    std::optional<Local> l = variable(target.loc, target.text);
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

TypeId Checker::infer_assign(Expr& e) {
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

void Checker::check_args(Expr& e, size_t first, const std::vector<TypeId>& params, const std::string& what) {
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

TypeId Checker::infer_call(Expr& e) {
  Expr& callee = *e.kids[0];
  if (callee.kind != ExprKind::Ident || find_local(callee.text)) return infer_value_call(e); // a function value
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
  const vm::FunctionInfo fn = m_out.functions[it->second]; // (a copy: a lambda argument appends to m_out.functions)
  if (e.kids.size() - 1 > 255) error(e.loc, "too many arguments");
  check_args(e, 1, fn.param_types, "function '" + fn.name + "'");
  check_callee_throws(e.loc, it->second);
  return fn.return_type;
}

std::string Checker::namespace_of(const Expr& r) {
  if (r.kind == ExprKind::Ident && r.text == "baml" && !find_local("baml")) return "baml";
  if (r.kind == ExprKind::Ident && r.text == "env" && !find_local("env")) return "env";
  if (r.kind == ExprKind::Field && (r.text == "sys" || r.text == "http" || r.text == "unstable" || r.text == "future") &&
      r.kids[0]->kind == ExprKind::Ident && r.kids[0]->text == "baml" && !find_local("baml"))
    return "baml." + r.text;
  // baml.spawn.TaskGroup, baml.spawn.CancelToken (and the bare names, unless a local or a type takes them)
  if (r.kind == ExprKind::Field && (r.text == "TaskGroup" || r.text == "CancelToken") && r.kids[0]->kind == ExprKind::Field &&
      r.kids[0]->text == "spawn" && r.kids[0]->kids[0]->kind == ExprKind::Ident && r.kids[0]->kids[0]->text == "baml" &&
      !find_local("baml"))
    return "baml.spawn." + r.text;
  if (r.kind == ExprKind::Ident && (r.text == "TaskGroup" || r.text == "CancelToken") && !find_local(r.text) &&
      !m_type_names.count(r.text))
    return "baml.spawn." + r.text;
  return "";
}

TypeId Checker::infer_function_parse(Expr& e) {
  Expr& recv = *e.kids[0];
  if (e.text != "parse" || recv.kind != ExprKind::Ident || find_local(recv.text)) return kNotFunctionParse;
  auto it = m_out.function_index.find(recv.text);
  if (it == m_out.function_index.end()) return kNotFunctionParse;
  std::string name = m_out.functions[it->second].name;
  TypeId result = m_out.functions[it->second].return_type;
  check_args(e, 1, {T::STRING}, "'" + name + ".parse'");
  auto index = std::make_unique<Expr>(ExprKind::IntLit, recv.loc);
  index->int_value = int64_t(it->second);
  index->type_id = T::INT;
  e.kids.insert(e.kids.begin() + 1, std::move(index));
  e.aux = int(BuiltinId::LLM_PARSE);
  return result;
}

TypeId Checker::infer_env_field(Expr& e) {
  auto name = std::make_unique<Expr>(ExprKind::StringLit, e.loc);
  name->text = e.text;
  e.kind = ExprKind::MethodCall;
  e.text = "get_or_panic";
  e.kids.push_back(std::move(name));
  return infer_method(e);
}

TypeId Checker::infer_method(Expr& e) {
  Expr& recv = *e.kids[0];
  if (TypeId t = infer_function_parse(e); t != kNotFunctionParse) return t;
  if (recv.kind == ExprKind::Field && recv.text == "$watch") return infer_watch_method(e);
  // Class.method(receiver, args): the method called with its receiver first.
  if (recv.kind == ExprKind::Ident && !find_local(recv.text)) {
    auto type = m_type_names.find(recv.text);
    if (type != m_type_names.end() && m_types.kind(type->second) == TypeKind::Class) {
      auto method = m_out.function_index.find(recv.text + "." + e.text);
      if (method != m_out.function_index.end()) {
        const vm::FunctionInfo fn = m_out.functions[method->second]; // (a copy: see infer_call)
        e.kind = ExprKind::Call;
        e.slot = int(method->second);
        check_args(e, 1, fn.param_types, "method '" + fn.name + "'");
        check_callee_throws(e.loc, method->second);
        return fn.return_type;
      }
    }
  }
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
    if (int64_t f = m_out.classes[size_t(cls)].find_field(e.text); it == m_out.function_index.end() && f >= 0) {
      // p.f(x) on a field holding a function: a call of the field's value
      // (the receiver, already checked, is not checked again).
      auto field = std::make_unique<Expr>(ExprKind::Field, e.loc);
      field->text = e.text;
      field->aux = int(f);
      field->type_id = m_out.classes[size_t(cls)].field_types[size_t(f)];
      field->kids.push_back(std::move(e.kids[0]));
      e.kids[0] = std::move(field);
      e.kind = ExprKind::Call;
      e.text.clear();
      return infer_value_call(e, e.kids[0]->type_id);
    }
    if (it == m_out.function_index.end()) {
      error(e.loc, "class '" + m_out.classes[size_t(cls)].name + "' has no method '" + e.text + "'");
      for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
      return T::ANY;
    }
    e.slot = int(it->second);
    const vm::FunctionInfo& fn = m_out.functions[it->second];
    std::vector<TypeId> rest(fn.param_types.begin() + (fn.param_types.empty() ? 0 : 1), fn.param_types.end());
    std::string what = "method '" + fn.name + "'";
    TypeId result = fn.return_type; // (before the arguments: a lambda among them appends to m_out.functions)
    check_args(e, 1, rest, what);
    check_callee_throws(e.loc, it->second);
    return result;
  }
  if (k == TypeKind::Array)
    if (TypeId t = infer_array_callback(e, rt); t >= 0) return t;
  const char* kind_name = k == TypeKind::Array ? "array" : k == TypeKind::Map ? "map" : k == TypeKind::Future ? "Future"
                        : k == TypeKind::TaskGroup ? "TaskGroup" : k == TypeKind::CancelToken ? "CancelToken" : rt == T::STRING ? "string"
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

void Checker::bind(const TypeExpr* pattern, TypeId actual, TypeVars& vars) {
  if (!pattern || actual == T::ANY) return;
  switch (pattern->kind) {
  case TypeExprKind::Named:
    if (pattern->name == "T" && vars.t < 0) vars.t = actual == T::NEVER ? T::ANY : actual;
    if (pattern->name == "V" && vars.v < 0) vars.v = actual == T::NEVER ? T::ANY : actual;
    if (pattern->name == "Future" && m_types.kind(actual) == TypeKind::Future) bind(pattern->args[0].get(), m_types.get(actual).args[0], vars);
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

TypeId Checker::resolve_builtin(const TypeExpr* t, const TypeVars& vars) {
  switch (t->kind) {
  case TypeExprKind::Named:
    if (t->name == "T") return vars.t >= 0 ? vars.t : T::ANY;
    if (t->name == "V") return vars.v >= 0 ? vars.v : T::ANY;
    if (t->name == "any") return T::ANY;
    if (t->name == "never") return T::NEVER;
    if (t->name == "Response") return m_response_type;
    if (t->name == "Future") return m_types.future_of(resolve_builtin(t->args[0].get(), vars));
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
  case TypeExprKind::Function: return resolve(t); // (no builtin's signature has one)
  }
  return T::ANY;
}

bool Checker::mentions_variable(const TypeExpr* t) {
  if (t->kind == TypeExprKind::Named && (t->name == "T" || t->name == "V")) return true;
  for (auto& a : t->args)
    if (mentions_variable(a.get())) return true;
  return false;
}

TypeId Checker::builtin_call(Expr& e, BuiltinId id, TypeId recv, size_t first) {
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
  // A function that runs a function as a task: typed by that function's result.
  if (id == BuiltinId::FUTURE_WITH_TIMEOUT || id == BuiltinId::TASK_GROUP_SPAWN) {
    TypeId fn = e.kids.back()->type_id;
    TypeId result = T::ANY;
    if (fn != T::ANY && (m_types.kind(fn) != TypeKind::Function || m_types.get(fn).args.size() != 1))
      error(e.kids.back()->loc, "'" + std::string(info.name) + "' needs a function of no parameters, not " + name_of(fn));
    else if (fn != T::ANY)
      result = m_types.get(fn).args[0];
    return id == BuiltinId::TASK_GROUP_SPAWN ? m_types.future_of(result) : result;
  }
  return resolve_builtin(sig.result.get(), vars);
}

TypeId Checker::infer_field(Expr& e) {
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
    // Class.method: the method as a function (its receiver the first argument).
    if (it != m_type_names.end() && m_types.kind(it->second) == TypeKind::Class) {
      auto method = m_out.function_index.find(m_out.classes[size_t(m_types.get(it->second).decl)].name + "." + e.text);
      if (method != m_out.function_index.end()) {
        e.aux = kFunctionRef;
        e.slot = int(method->second);
        return function_type(method->second, false);
      }
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
    // p.method: the method bound to p, as a function.
    if (auto method = m_out.function_index.find(cls.name + "." + e.text); method != m_out.function_index.end()) {
      e.aux = kBoundMethod;
      e.slot = int(method->second);
      return function_type(method->second, true);
    }
    error(e.loc, "class '" + cls.name + "' has no field '" + e.text + "'");
    return T::ANY;
  }
  error(e.loc, "type " + name_of(t) + " has no field '" + e.text + "'");
  return T::ANY;
}

TypeId Checker::infer_index(Expr& e) {
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

TypeId Checker::infer_class_lit(Expr& e) {
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

} // namespace brake::lang::checking
