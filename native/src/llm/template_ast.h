// template_ast.h: a compiled prompt template (what template_parse.cpp
// builds and template_eval.cpp runs). Internal to llm/template*.
//
// A Template is a tree of statements over expressions, immutable once
// built. Every node keeps its position in the file (line and column, after
// mapping back through the dedent), so render errors can say where.
// Variables are numbered per template: 0..param_count-1 are the parameters
// (in TemplateScope::variables' order), the rest are names given by
// {% set %} and {% for %}.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lang/ast.h"
#include "llm/template.h"

namespace brake::llm {

namespace tmpl {

enum class ExprKind : uint8_t {
  Null,
  Bool,      // b
  Int,       // i
  Float,     // f
  String,    // s
  Undefined, // what an unknown name compiles to (after its error)
  Name,      // variable `id`
  List,      // items
  Dict,      // items: key, value, key, value, ...
  Attr,      // a.s
  Item,      // a[b]
  Slice,     // a[b:c:d] (b, c, d may be null)
  MethodCall,  // a.s(args)
  Filter,    // a | filter `id` (args)
  Test,      // a is [not: negated] test `id` (args)
  Neg,       // -a
  Plus,      // +a
  Not,       // not a
  Binary,    // a op b
  And,       // a and b
  Or,        // a or b
  Cond,      // a if b else c (c may be null: undefined)
  LoopAttr,  // loop.s
  LoopCycle, // loop.cycle(args)
  OutputFormat, // ctx.output_format / ctx.output_format(args): kwargs only
  Ctx,       // ctx (a map of client and tags)
  Role,      // _.role(args) / _.chat(args)
  TemplateCall, // s(args): a template_string
  EnumVariant,  // s.s2: Enum.Variant
  GlobalCall,   // range / namespace / dict (id: GlobalFn)
};

enum class BinOp : uint8_t { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Concat, Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

enum class GlobalFn : uint8_t { Range, Namespace, Dict };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Arg {
  std::string name; // "" for a positional argument
  ExprPtr value;
};

struct Expr {
  ExprKind kind = ExprKind::Null;
  BinOp op = BinOp::Add;
  bool negated = false;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  uint32_t id = 0;
  uint32_t height = 1; // of this expression's tree (bounded: evaluating and freeing it recurse)
  lang::SourceLoc loc;
  std::string s, s2;
  ExprPtr a, b2, c;
  std::vector<ExprPtr> items;
  std::vector<Arg> args;
};

enum class StmtKind : uint8_t {
  Text,     // text
  Output,   // {{ expr }}
  If,       // branches (cond, body); else_body
  For,      // targets, expr (iterable), cond (filter, may be null), body, else_body
  Set,      // targets[0] = expr
  SetAttr,  // targets[0].attr = expr (a namespace)
  SetBlock, // targets[0] = rendered body
  Break,
  Continue,
};

struct Stmt;
struct Branch {
  ExprPtr cond;
  std::vector<Stmt> body;
};

struct Stmt {
  StmtKind kind = StmtKind::Text;
  lang::SourceLoc loc;
  std::string text;
  std::string attr;
  ExprPtr expr;
  ExprPtr cond;
  std::vector<Branch> branches;
  std::vector<Stmt> body, else_body;
  std::vector<uint32_t> targets;
};

} // namespace tmpl

class Template {
public:
  std::vector<tmpl::Stmt> body;
  std::vector<std::string> names; // by variable id
  size_t param_count = 0;
  lang::SourceLoc start; // where the text began in the file
};

} // namespace brake::llm
