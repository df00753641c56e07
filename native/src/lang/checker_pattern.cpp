// checker_pattern.cpp: null narrowing, if, match, catch and patterns.
#include "lang/checker_internal.h"

namespace brake::lang::checking {

void Checker::narrow_condition(const Expr& cond, bool when_true) {
  if (cond.kind == ExprKind::Binary && (cond.op == Op::Ne || cond.op == Op::Eq)) {
    const Expr* var = nullptr;
    if (cond.kids[1]->kind == ExprKind::NullLit && cond.kids[0]->kind == ExprKind::Ident) var = cond.kids[0].get();
    if (cond.kids[0]->kind == ExprKind::NullLit && cond.kids[1]->kind == ExprKind::Ident) var = cond.kids[1].get();
    if (!var) return;
    std::optional<Local> l = variable(var->loc, var->text);
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

TypeId Checker::infer_if(Expr& e, TypeId expected) {
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

TypeId Checker::infer_match(Expr& e, TypeId expected) {
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

TypeId Checker::infer_catch(Expr& e, TypeId expected) {
  // What its unguarded arms take, for the throws clauses: anything (`_`, a
  // bare name that is not a type), or a type (`s: string`, `Oops`).
  std::vector<TypeId> taken;
  for (auto& arm : e.arms) {
    const Pattern& p = *arm.pattern;
    if (arm.guard) continue;
    const TypeExpr* named = p.kind == PatternKind::Type && p.type && p.type->kind == TypeExprKind::Named ? p.type.get() : nullptr;
    if (p.kind == PatternKind::Wildcard) {
      taken.push_back(T::ANY);
    } else if (p.kind == PatternKind::Binding) {
      if (auto it = m_type_names.find(p.text); it != m_type_names.end()) taken.push_back(it->second);
      else if (!m_aliases.count(p.text)) taken.push_back(T::ANY);
    } else if (named) {
      if (TypeId t = named_type(named->name); t >= 0) taken.push_back(t);
    }
  }
  bool catches = !taken.empty();
  if (catches) m_fn.caught.push_back(m_types.union_of(taken));
  TypeId guarded = check_expr(*e.kids[0], expected);
  if (catches) m_fn.caught.pop_back();
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

bool Checker::is_caught(TypeId what) {
  for (TypeId taken : m_fn.caught)
    if (taken == T::ANY || m_types.assignable(what, taken)) return true;
  return false;
}

void Checker::check_thrown(SourceLoc loc, TypeId what) {
  if (m_fn.throws < 0 || is_caught(what) || m_types.assignable(what, m_fn.throws)) return;
  const std::string& name = m_out.functions[m_fn.function].name;
  error(loc, "'" + name + "' throws " + name_of(m_fn.throws) + ", not " + name_of(what) +
                 " (add it to its throws clause, or catch it)");
}

void Checker::check_callee_throws(SourceLoc loc, uint32_t callee) {
  TypeId thrown = m_out.functions[callee].throws;
  if (thrown < 0 || m_fn.throws < 0 || is_caught(thrown) || m_types.assignable(thrown, m_fn.throws)) return;
  const std::string& name = m_out.functions[m_fn.function].name;
  error(loc, "'" + m_out.functions[callee].name + "' throws " + name_of(thrown) + ", which '" + name + "' (throws " +
                 name_of(m_fn.throws) + ") does not declare (add it to its throws clause, or catch it)");
}

void Checker::check_pattern(Pattern& p, TypeId scrutinee) {
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

} // namespace brake::lang::checking
