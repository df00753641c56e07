// checker.cpp: the checker's driver, functions, blocks and statements
// (checker_internal.h says where the rest is).
#include "lang/checker.h"
#include "lang/llm_decls.h"
#include "lang/checker_internal.h"

namespace brake::lang::checking {

void Checker::run() {
  declare_types();
  declare_functions();
  declare_host_functions();
  for (size_t i = 0; i < m_ast.functions.size(); i++) check_function(m_ast.functions[i], uint32_t(i));
  for (size_t c = 0; c < m_ast.classes.size(); c++)
    for (size_t m = 0; m < m_ast.classes[c].methods.size(); m++)
      check_function(m_ast.classes[c].methods[m], m_method_index[c][m]);
  check_llm_declarations(m_ast, m_out);
}

void Checker::check_function(FunctionDecl& f, uint32_t index) {
  // (by index: a lambda in the body appends to m_out.functions)
  TypeId return_type = m_out.functions[index].return_type;
  m_fn = FunctionContext{};
  m_fn.function = index;
  m_fn.return_type = return_type;
  m_fn.throws = m_out.functions[index].throws;
  m_scopes.clear();
  push_scope();
  for (size_t i = 0; i < f.params.size(); i++) declare_local(f.params[i].loc, f.params[i].name, m_out.functions[index].param_types[i]);
  if (f.llm) { // its client and prompt: llm_decls.cpp
    pop_scope();
    finish_function(m_out.functions[index], f.loc);
    return;
  }
  TypeId body = check_block(*f.body, return_type);
  if (!m_types.assignable(body, return_type)) {
    SourceLoc loc = f.body->tail ? f.body->tail->loc : f.body->loc;
    if (!f.body->tail && body == T::NUL)
      error(loc, "function '" + f.name + "' must return " + name_of(return_type) + " but its body has no value");
    else
      error(loc, "function '" + f.name + "' returns " + name_of(return_type) + " but its body has type " + name_of(body));
  }
  pop_scope();
  finish_function(m_out.functions[index], f.loc);
}

void Checker::finish_function(vm::FunctionInfo& info, SourceLoc loc) {
  if (m_fn.max_slots > 65535) error(loc, "too many local variables");
  info.num_locals = uint16_t(m_fn.max_slots);
  info.cell_slots.assign(m_fn.cells.begin(), m_fn.cells.end());
}

TypeId Checker::check_block(Block& b, TypeId expected) {
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

bool Checker::check_stmt(Stmt& s) {
  switch (s.kind) {
  case StmtKind::Let: {
    TypeId declared = s.type ? resolve(s.type.get()) : -1;
    if (s.expr && s.expr->kind == ExprKind::Spawn && s.text == "_") s.expr->bool_value = true; // fire and forget
    TypeId value = s.expr ? check_expr(*s.expr, declared) : T::NUL;
    if (declared >= 0 && !m_types.assignable(value, declared))
      error(s.expr ? s.expr->loc : s.loc, "cannot assign " + name_of(value) + " to '" + s.text + "' of type " + name_of(declared));
    TypeId type = declared >= 0 ? declared : (value == T::NEVER ? T::ANY : value);
    if (s.watched) s.seq_slot = new_slot(); // its options
    s.slot = declare_local(s.loc, s.text, type, s.watched ? s.seq_slot : -1);
    return value == T::NEVER;
  }
  case StmtKind::Expr:
    if (s.expr->kind == ExprKind::Spawn) s.expr->bool_value = true; // fire and forget
    return check_expr(*s.expr, -1) == T::NEVER;
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
    TypeId t = s.expr ? check_expr(*s.expr, m_fn.infer_return ? -1 : m_fn.return_type) : T::NUL;
    if (m_fn.infer_return) m_fn.returns.push_back(t);
    else if (!m_types.assignable(t, m_fn.return_type))
      error(s.expr ? s.expr->loc : s.loc, "cannot return " + name_of(t) + " from a function returning " + name_of(m_fn.return_type));
    return true;
  }
  case StmtKind::Assert:
    expect_bool(*s.expr, "assert");
    return false;
  }
  return false;
}

const Local* Checker::find_in(const std::vector<Scope>& scopes, const std::string& name) {
  for (auto s = scopes.rbegin(); s != scopes.rend(); ++s)
    for (auto l = s->rbegin(); l != s->rend(); ++l)
      if (l->local.name == name) return &l->local;
  return nullptr;
}

std::optional<Local> Checker::variable_at(size_t level, SourceLoc loc, const std::string& name) {
  std::vector<Scope>& scopes = level == m_levels.size() ? m_scopes : m_levels[level].scopes;
  if (const Local* l = find_in(scopes, name)) return *l;
  if (level == 0) return std::nullopt;
  std::optional<Local> outer = variable_at(level - 1, loc, name);
  if (!outer) return std::nullopt;
  if (outer->watch_options >= 0) error(loc, "a lambda cannot capture the watched variable '" + name + "'");
  FunctionContext& fn = level == m_levels.size() ? m_fn : m_levels[level].fn;
  FunctionContext& enclosing = m_levels[level - 1].fn;
  enclosing.cells.insert(outer->slot);
  int slot = fn.next_slot++;
  fn.max_slots = std::max(fn.max_slots, fn.next_slot);
  fn.cells.insert(slot);
  fn.captures.emplace_back(outer->slot, slot);
  // Seen as declared (the enclosing function may assign it after a narrowing).
  Local captured{name, slot, outer->declared, outer->declared, -1};
  scopes.front().push_back(ScopedLocal{captured, false});
  return captured;
}

void Checker::expect_bool(Expr& e, const char* what) {
  TypeId t = check_expr(e, T::BOOL);
  if (!m_types.assignable(t, T::BOOL)) error(e.loc, std::string(what) + " must be bool, not " + name_of(t));
}

} // namespace brake::lang::checking

namespace brake::lang {

void check_program(Program& ast, vm::CompiledProgram& out) { checking::Checker(ast, out).run(); }

} // namespace brake::lang
