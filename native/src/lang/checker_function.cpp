// checker_function.cpp: functions as values: lambdas and what they capture,
// functions and methods named as values, calls of function values, and the
// array methods that take a function (map, filter, find, reduce, ...).
//
// A lambda is checked as a function of its own, numbered after the methods
// (Program::lambdas). A variable it uses from an enclosing function is
// captured by reference: that variable lives in a cell (its slot is in the
// enclosing function's cell_slots), and the lambda gets a local of its own
// holding the same cell (capture_slots), so an assignment on either side is
// seen by both. A variable declared inside a loop's body, and a for-in
// loop's variable, are new each turn, so each turn's lambdas capture that
// turn's.
#include "lang/checker_internal.h"

namespace brake::lang::checking {

TypeId Checker::function_type(uint32_t index, bool bound) {
  const vm::FunctionInfo& fn = m_out.functions[index];
  std::vector<TypeId> params(fn.param_types.begin() + (bound && !fn.param_types.empty() ? 1 : 0), fn.param_types.end());
  return m_types.function_of(std::move(params), fn.return_type);
}

TypeId Checker::infer_function_ref(Expr& e) {
  auto it = m_out.function_index.find(e.text);
  if (it != m_out.function_index.end() && it->second < m_out.declared_functions) {
    e.aux = kFunctionRef;
    e.slot = int(it->second);
    return function_type(it->second, false);
  }
  if (m_host_index.count(e.text)) {
    error(e.loc, "host function '" + e.text + "' cannot be used as a value (call it: " + e.text + "(...))");
    return T::ANY;
  }
  return -1;
}

TypeId Checker::infer_lambda(Expr& e, TypeId expected) {
  LambdaDecl& lambda = *e.lambda;
  // Where a function type is expected (an argument, an annotated let), it
  // gives the parameter types left out.
  std::vector<TypeId> wanted;
  if (expected >= 0 && m_types.kind(expected) == TypeKind::Function &&
      m_types.get(expected).args.size() == lambda.params.size() + 1)
    wanted = m_types.get(expected).args;
  uint32_t index = uint32_t(m_out.functions.size());
  if (index >= kMaxFunctions) error(e.loc, "too many functions, methods and lambdas (at most " + std::to_string(kMaxFunctions) + ")");
  if (lambda.params.size() > 255) error(e.loc, "too many parameters (at most 255)");
  vm::FunctionInfo info;
  info.name = m_out.functions[m_fn.function].name + ".lambda@" + std::to_string(e.loc.line) + ":" + std::to_string(e.loc.column);
  info.line = e.loc.line;
  info.arity = uint16_t(lambda.params.size());
  for (size_t i = 0; i < lambda.params.size(); i++) {
    const Param& p = lambda.params[i];
    for (size_t j = 0; j < i; j++)
      if (lambda.params[j].name == p.name) error(p.loc, "duplicate parameter '" + p.name + "'");
    info.param_names.push_back(p.name);
    if (p.type) {
      info.param_types.push_back(resolve(p.type.get()));
    } else if (!wanted.empty()) {
      info.param_types.push_back(wanted[i]);
    } else {
      error(p.loc, "parameter '" + p.name + "' needs a type (it can be left out only where a function type is expected)");
      info.param_types.push_back(T::ANY);
    }
  }
  TypeId declared = lambda.return_type ? resolve(lambda.return_type.get()) : -1;
  TypeId throws = lambda.throws ? resolve(lambda.throws.get()) : -1;
  std::vector<TypeId> params = info.param_types;
  info.throws = throws;
  m_out.functions.push_back(std::move(info));
  e.slot = int(index);
  m_ast.lambdas.push_back(&e);

  m_levels.push_back(Level{std::move(m_fn), std::move(m_scopes)});
  m_fn = FunctionContext{};
  m_fn.function = index;
  m_fn.return_type = declared >= 0 ? declared : T::ANY;
  m_fn.infer_return = declared < 0;
  m_fn.throws = throws;
  m_scopes.clear();
  push_scope();
  for (size_t i = 0; i < lambda.params.size(); i++) declare_local(lambda.params[i].loc, lambda.params[i].name, params[i]);
  TypeId body = check_block(*lambda.body, declared >= 0 ? declared : !wanted.empty() ? wanted.back() : -1);
  TypeId result = declared;
  if (declared >= 0) {
    if (!m_types.assignable(body, declared)) {
      SourceLoc loc = lambda.body->tail ? lambda.body->tail->loc : lambda.body->loc;
      error(loc, "the lambda returns " + name_of(declared) + " but its body has type " + name_of(body));
    }
  } else {
    m_fn.returns.push_back(body);
    result = m_types.union_of(m_fn.returns);
  }
  pop_scope();
  vm::FunctionInfo& fn = m_out.functions[index]; // (after the body: a lambda in it appended its own)
  fn.return_type = result;
  finish_function(fn, e.loc);
  lambda.captures.clear();
  for (auto [outer, inner] : m_fn.captures) {
    lambda.captures.push_back(outer);
    fn.capture_slots.push_back(uint16_t(inner));
  }
  if (lambda.captures.size() > 255) error(e.loc, "a lambda may capture at most 255 variables");
  m_fn = std::move(m_levels.back().fn);
  m_scopes = std::move(m_levels.back().scopes);
  m_levels.pop_back();
  return m_types.function_of(std::move(params), result);
}

TypeId Checker::infer_value_call(Expr& e, TypeId known) {
  Expr& callee = *e.kids[0];
  TypeId t = known >= 0 ? known : check_expr(callee, -1);
  auto rest_unknown = [&](std::string message) {
    error(callee.loc, std::move(message));
    for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
    return T::ANY;
  };
  if (t == T::ANY) { // (an element of `[]`): what it is, and its arguments, are checked when called
    e.aux = kValueCall;
    e.int_value = 1;
    for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
    if (e.kids.size() - 1 > 255) error(e.loc, "too many arguments");
    return T::ANY;
  }
  if (m_types.kind(t) != TypeKind::Function) return rest_unknown("cannot call a value of type " + name_of(t));
  if (e.kids.size() - 1 > 255) error(e.loc, "too many arguments");
  std::vector<TypeId> args = m_types.get(t).args;
  TypeId result = args.back();
  args.pop_back();
  e.aux = kValueCall;
  check_args(e, 1, args, callee.kind == ExprKind::Ident ? "'" + callee.text + "'" : "the function value");
  return result;
}

TypeId Checker::infer_array_callback(Expr& e, TypeId array) {
  using A = ArrayCallback;
  static const std::pair<const char*, A> kNames[] = {
      {"map", A::Map},           {"filter", A::Filter},       {"flat_map", A::FlatMap},
      {"some", A::Some},         {"every", A::Every},         {"find", A::Find},
      {"find_index", A::FindIndex}, {"find_last", A::FindLast}, {"find_last_index", A::FindLastIndex},
      {"reduce", A::Reduce}};
  A which = A::COUNT_;
  for (auto& [name, w] : kNames)
    if (e.text == name) which = w;
  if (which == A::COUNT_) return -1;
  size_t argc = e.kids.size() - 1, wanted = which == A::Reduce ? 2 : 1;
  if (argc != wanted) {
    error(e.loc, "'" + e.text + "' expects " + std::to_string(wanted) + " argument" + (wanted == 1 ? "" : "s") + ", got " +
                     std::to_string(argc));
    for (size_t i = 1; i < e.kids.size(); i++) check_expr(*e.kids[i], -1);
    return T::ANY;
  }
  TypeId elem = m_types.get(array).args[0];
  Expr& callback = *e.kids[1];
  // The callback's type, checked against (params) -> result.
  // (Its result: ANY when it is not a function of those parameters, reported.)
  auto check_callback = [&](std::vector<TypeId> params, TypeId result) {
    TypeId want = m_types.function_of(params, result);
    TypeId got = check_expr(callback, want);
    if (got == T::ANY) e.int_value = 1; // (its calls check their arguments: CALL_CHECKED)
    if (got != T::ANY && !m_types.assignable(got, want)) {
      std::string shape;
      for (size_t i = 0; i < params.size(); i++) shape += (i ? ", " : "") + name_of(params[i]);
      error(callback.loc, "'" + e.text + "' needs a function taking (" + shape + ")" +
                              (result == T::ANY ? "" : " and returning " + name_of(result)) + ", not " + name_of(got));
      return T::ANY;
    }
    return m_types.kind(got) == TypeKind::Function ? m_types.get(got).args.back() : T::ANY;
  };
  TypeId type = T::ANY;
  switch (which) {
  case A::Map: type = m_types.array_of(check_callback({elem}, T::ANY)); break;
  case A::Filter: check_callback({elem}, T::BOOL); type = array; break;
  case A::FlatMap: {
    TypeId each = check_callback({elem}, T::ANY);
    if (m_types.kind(each) == TypeKind::Array) type = each;
    else if (each != T::ANY) error(callback.loc, "'flat_map' needs a function that returns an array, not " + name_of(each));
    break;
  }
  case A::Some:
  case A::Every: check_callback({elem}, T::BOOL); type = T::BOOL; break;
  case A::Find:
  case A::FindLast: check_callback({elem}, T::BOOL); type = m_types.optional_of(elem); break;
  case A::FindIndex:
  case A::FindLastIndex: check_callback({elem}, T::BOOL); type = m_types.optional_of(T::INT); break;
  case A::Reduce: {
    // reduce(f, initial): the accumulator's type is the initial value's.
    TypeId initial = check_expr(*e.kids[2], -1);
    TypeId acc = initial == T::NEVER ? T::ANY : initial;
    TypeId result = check_callback({acc, elem}, T::ANY);
    if (!m_types.assignable(result, acc))
      error(callback.loc, "'reduce' needs a function that returns " + name_of(acc) + " (the initial value's type), not " + name_of(result));
    type = acc;
    break;
  }
  case A::COUNT_: break;
  }
  // Its hidden locals (the compiler's loop): the array, the function, the
  // result so far, the index, the item, and flat_map's inner array and index.
  e.aux = kArrayCallback + int(which);
  e.slot = new_slot();
  for (int i = 1; i < 7; i++) new_slot();
  return type;
}

// x.$watch.options(baml.WatchOptions { when: f }) with f a function of x's
// value returning whether to report it, or "manual" (only notify() reports)
// or "auto" (every change: the default); x.$watch.notify() reports x now.
TypeId Checker::infer_watch_method(Expr& e) {
  Expr& var = *e.kids[0]->kids[0];
  std::optional<Local> l = var.kind == ExprKind::Ident ? variable(var.loc, var.text) : std::nullopt;
  for (size_t i = 1; i < e.kids.size(); i++)
    if (e.text != "options") check_expr(*e.kids[i], -1);
  if (!l || l->watch_options < 0) {
    error(e.kids[0]->loc, "'$watch' belongs to `watch let` variables");
    return T::ANY;
  }
  e.slot = l->slot;
  e.int_value = l->watch_options;
  if (e.text == "notify") {
    if (e.kids.size() != 1) error(e.loc, "'notify' expects 0 arguments, got " + std::to_string(e.kids.size() - 1));
    e.aux = kWatchNotify;
    return T::NUL;
  }
  if (e.text != "options") {
    error(e.loc, "'$watch' has 'options' and 'notify', not '" + e.text + "'");
    return T::ANY;
  }
  e.aux = kWatchOptions;
  Expr* opts = e.kids.size() == 2 ? e.kids[1].get() : nullptr;
  if (!opts || opts->kind != ExprKind::ClassLit || opts->text != "baml.WatchOptions") {
    error(opts ? opts->loc : e.loc, "'options' takes one baml.WatchOptions { when: ... }");
    if (opts) check_expr(*opts, -1);
    return T::NUL;
  }
  opts->type_id = T::ANY;
  for (size_t i = 0; i < opts->kids.size(); i++) {
    Expr& value = *opts->kids[i];
    if (opts->keys[i] != "when") {
      error(value.loc, "baml.WatchOptions has the field 'when', not '" + opts->keys[i] + "'");
      check_expr(value, -1);
      continue;
    }
    TypeId want = m_types.function_of({l->declared}, T::BOOL);
    TypeId got = check_expr(value, want);
    bool word = value.kind == ExprKind::StringLit && (value.text == "manual" || value.text == "auto");
    if (!word && got != T::ANY && !m_types.assignable(got, want))
      error(value.loc, "'when' is \"manual\", \"auto\" or a function " + name_of(want) + ", not " +
                           (value.kind == ExprKind::StringLit ? "\"" + value.text + "\"" : name_of(got)));
  }
  return T::NUL;
}

} // namespace brake::lang::checking
