// ast.h: the syntax tree the parser builds and the checker annotates.
//
// One Expr struct and one Stmt struct, each with a kind and the fields its
// kind uses (listed per kind below). Children are owned by unique_ptr. The
// checker fills in the "annotations" fields; the parser leaves them default.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lang/attributes.h"

namespace brake::lang {

struct SourceLoc {
  uint32_t line = 1;   // 1-based
  uint32_t column = 1; // 1-based, in bytes
};

// ---------------------------------------------------------------- types

enum class TypeExprKind : uint8_t {
  Named,    // name: "int" "float" "bool" "string" "null" or a class/enum name
  Array,    // args[0][]
  Map,      // map<args[0], args[1]>
  Optional, // args[0]?
  Union,    // args[0] | args[1] | ...
  Literal,  // a literal type: name is its value as text, literal_base says of what
  Function, // (args[0], ..., args[n-1]) -> args[n]: a function's parameters, then its result
};

struct TypeExpr {
  TypeExprKind kind = TypeExprKind::Named;
  SourceLoc loc;
  std::string name;
  std::vector<std::unique_ptr<TypeExpr>> args;
  char literal_base = 0; // Literal: 's' string, 'i' int, 'b' bool
  uint8_t stream = 0;    // StreamFlag bits written on the type: `(A | B) @stream.done`
};
using TypeExprPtr = std::unique_ptr<TypeExpr>;

// ---------------------------------------------------------------- expressions

enum class ExprKind : uint8_t {
  IntLit,    // int_value (already negated? no: literals are non-negative; `-5` is Unary)
  FloatLit,  // float_value
  BoolLit,   // bool_value
  StringLit, // text (escapes already resolved)
  NullLit,
  Ident,     // text = name
  Unary,     // op (Minus, Not, BitNot), kids[0]
  Binary,    // op, kids[0] lhs, kids[1] rhs  (includes And/Or)
  Assign,    // op (Assign, AddAssign, SubAssign, MulAssign, DivAssign, ModAssign),
             // kids[0] target (Ident, Field or Index), kids[1] value
  Call,      // kids[0] callee (Ident `f`, or Field chain like baml.sys.sleep), kids[1..] args
  MethodCall,// text = method name, kids[0] receiver, kids[1..] args   (x.push(1))
  Field,     // text = field name, kids[0] object                     (p.x)
  Index,     // kids[0] object, kids[1] index                         (a[i], m["k"])
  ArrayLit,  // kids = elements
  MapLit,    // keys[i] (string literal keys, or identifier keys as text) -> kids[i]
  ClassLit,  // text = class name, keys[i] field name -> kids[i]
  Block,     // block
  If,        // kids[0] cond, block = then, else_expr = else (null, an If, or a Block expr)
  Match,     // kids[0] scrutinee, arms; type_annotation for `match (x: A | B)` (or null)
  Throw,     // kids[0] the thrown value                              (throw expr)
  Catch,     // kids[0] the guarded expression, text = binding name, arms
             // (`f() catch (e) { arms } catch (e2) { arms }` nests: the outer
             // Catch's kids[0] is the inner Catch)
  Lambda,    // lambda: `(x: int) -> int { ... }`, `() -> { ... }`; slot = its function's index
  Spawn,     // `spawn { ... }` / `spawn with tok { ... }`: kids[0] the body as a lambda of no
             // parameters, kids[1] the token (if written); bool_value: its future is dropped
             // (a statement, or `let _ =`), so its error surfaces at the spawner's next await
  Await,     // `await f`: kids[0]
};

enum class Op : uint8_t {
  None,
  // arithmetic
  Add, Sub, Mul, Div, Mod,
  // comparison
  Eq, Ne, Lt, Le, Gt, Ge,
  // logical
  And, Or, Not,
  // bitwise
  BitAnd, BitOr, BitXor, Shl, Shr, BitNot,
  // unary minus
  Minus,
  // assignment
  Assign, AddAssign, SubAssign, MulAssign, DivAssign, ModAssign,
};

struct Expr;
struct Stmt;
struct LambdaDecl;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;

// { stmts... tail }: `tail` is the final expression without a semicolon (the
// block's value); null when the block ends with a statement (value null).
struct Block {
  SourceLoc loc;
  std::vector<StmtPtr> stmts;
  ExprPtr tail;
};

enum class PatternKind : uint8_t {
  Wildcard,  // _
  Literal,   // literal (an IntLit/FloatLit/BoolLit/StringLit/NullLit expr, possibly Unary minus)
  Binding,   // text = name (binds the value; matches anything)
  Type,      // `name: Type` binds with a type test; or a bare type name (`int`, `Point`)
             // with text empty. type = the type
  EnumValue, // text = enum name, variant = variant name   (Color.Red)
  Or,        // alternatives
};

struct Pattern {
  PatternKind kind = PatternKind::Wildcard;
  SourceLoc loc;
  std::string text;
  std::string variant;
  ExprPtr literal;
  TypeExprPtr type;
  std::vector<std::unique_ptr<Pattern>> alternatives;

  // ---- annotations (filled by the checker)
  int slot = -1;    // local slot the pattern binds, or -1
  int type_id = -1; // Type pattern: the type tested
};
using PatternPtr = std::unique_ptr<Pattern>;

struct MatchArm {
  SourceLoc loc;
  PatternPtr pattern;
  ExprPtr guard; // `if cond` after the pattern, or null
  ExprPtr body;  // an expression (a Block expr when written with braces)
};

// Expr::aux of a Call whose callee is a host function (slot: its index).
constexpr int kHostCall = -3;
// Expr::aux of a Call whose callee is a value (a function value: CALL_VALUE).
constexpr int kValueCall = -4;
// Expr::aux of an Ident or Field naming a function or a class's method as a
// value (`add`, `Person.name`; slot: the function's index).
constexpr int kFunctionRef = -5;
// Expr::aux of a Field naming a method of an instance (`p.name`: a function
// with p bound as self; slot: the method's index).
constexpr int kBoundMethod = -6;
// Expr::aux of x.$watch.options(baml.WatchOptions { when: ... }) and
// x.$watch.notify() (slot: x's; int_value: x's options slot).
constexpr int kWatchOptions = -7;
constexpr int kWatchNotify = -8;
// Expr::aux of a MethodCall of an array method taking a function
// (`xs.map(f)`), plus which (ArrayCallback); slot: its first hidden local.
constexpr int kArrayCallback = -100;
enum class ArrayCallback : uint8_t { Map, Filter, FlatMap, Some, Every, Find, FindIndex, FindLast, FindLastIndex, Reduce, COUNT_ };

struct Expr {
  ExprKind kind;
  SourceLoc loc;
  Op op = Op::None;
  int64_t int_value = 0;
  double float_value = 0.0;
  bool bool_value = false;
  std::string text;
  std::vector<ExprPtr> kids;
  std::vector<std::string> keys;
  std::unique_ptr<Block> block;
  ExprPtr else_expr;
  std::vector<MatchArm> arms;
  std::unique_ptr<TypeExpr> type_annotation;
  std::unique_ptr<LambdaDecl> lambda; // Lambda

  // ---- annotations (filled by the checker)
  int type_id = -1; // index into the checker's type table
  int slot = -1;    // local slot for Ident, function index for calls, etc.
  int aux = -1;     // checker-defined extra (builtin id, field index, kHostCall, ...)

  explicit Expr(ExprKind k, SourceLoc l) : kind(k), loc(l) {}
  ~Expr();
};

// ---------------------------------------------------------------- statements

enum class StmtKind : uint8_t {
  Let,      // text = name, type (optional annotation, may be null), expr = initializer
  Expr,     // expr (an expression statement)
  While,    // expr = condition, body
  ForIn,    // text = loop variable, expr = iterable, body     for (let x in xs) { }
  ForC,     // init (a Let or Expr stmt, may be null), expr = condition (may be null),
            // step (an expression, may be null), body       for (let i = 0; i < n; i += 1) { }
  Break,
  Continue,
  Return,   // expr (may be null)
  Assert,   // expr                                      assert cond;
};

struct Stmt {
  StmtKind kind;
  SourceLoc loc;
  std::string text;
  TypeExprPtr type;
  ExprPtr expr;
  std::unique_ptr<Block> body;
  StmtPtr init;
  ExprPtr step;

  bool watched = false; // Let: `watch let` (its changes are reported to a streaming host)

  int slot = -1;     // annotation: local slot of Let / loop variable
  int seq_slot = -1; // annotation: ForIn's hidden slots (sequence, then index at +1);
                     // a `watch let`'s options (x.$watch.options(...); null: every change)

  explicit Stmt(StmtKind k, SourceLoc l) : kind(k), loc(l) {}
};

// ---------------------------------------------------------------- declarations

struct Param {
  SourceLoc loc;
  std::string name;
  TypeExprPtr type;
};

// A lambda: its parameters (a type may be left out where the lambda is
// passed as a function of known type), its result type (null: its body's),
// and its body. The checker fills `captures`: per captured variable, its
// slot in the enclosing function (a cell, which the closure shares).
struct LambdaDecl {
  std::vector<Param> params;
  TypeExprPtr return_type;
  TypeExprPtr throws; // `throws T` (null: not written)
  std::unique_ptr<Block> body;
  std::vector<int> captures;
};
inline Expr::~Expr() = default;

// An LLM function's body: `client C prompt #"..."#`.
struct LlmBody {
  SourceLoc client_loc;
  std::string client;     // a client's name, or "provider/model" (the shorthand)
  bool shorthand = false; // the client was written as a string
  std::string prompt;
  SourceLoc prompt_loc;   // where the prompt's first character is
};

struct FunctionDecl {
  SourceLoc loc;
  std::string name;
  std::vector<Param> params;
  TypeExprPtr return_type; // never null after a successful parse
  TypeExprPtr throws;      // `throws T` (null: not written)
  std::unique_ptr<Block> body; // an empty block for an LLM function
  std::unique_ptr<LlmBody> llm; // set for an LLM function
};

// template_string NAME(params) #"..."#: a piece of prompt that prompts call.
struct TemplateStringDecl {
  SourceLoc loc;
  std::string name;
  std::vector<Param> params;
  std::string text;
  SourceLoc text_loc; // where the text's first character is
};

struct FieldDecl {
  SourceLoc loc;
  std::string name;
  TypeExprPtr type;
  Attributes attrs; // @alias, @description, @skip, @check, @assert, @stream.*
};

struct ClassDecl {
  SourceLoc loc;
  std::string name;
  std::vector<FieldDecl> fields;
  std::vector<FunctionDecl> methods; // `function m(self, ...)` inside the class body
  Attributes attrs;                  // the class's @@ attributes
};

struct EnumDecl {
  SourceLoc loc;
  std::string name;
  std::vector<std::string> variants;
  std::vector<Attributes> variant_attrs; // per variant
  Attributes attrs;                      // the enum's @@ attributes
};

struct TypeAliasDecl {
  SourceLoc loc;
  std::string name;
  TypeExprPtr type; // type Name = A | B
};

// A function the host provides: declared by the host (not the source) with
// a name and a signature, which the checker resolves against the program's
// types.
struct HostDecl {
  std::string name;
  std::string signature; // as the host gave it
  std::string file; // for diagnostics: "<host function NAME>"
  std::vector<Param> params;
  TypeExprPtr return_type; // null: the signature did not parse (already reported)
};

// A value of a config block (a client's or retry policy's body): BAML's
// `key value` syntax, checked by the LLM declarations' checker.
struct ConfigValue {
  enum class Kind : uint8_t { String, Int, Float, Bool, Env, Word, List, Block };
  Kind kind = Kind::String;
  SourceLoc loc;
  std::string text;   // String; Env: the variable's name; Word: a bare word (openai, openai-generic, A)
  int64_t int_value = 0;
  double float_value = 0.0;
  bool bool_value = false;
  std::vector<ConfigValue> items; // List
  struct Entry;
  std::vector<Entry> entries; // Block, in source order
};
struct ConfigValue::Entry {
  SourceLoc loc; // the key's
  std::string key;
  ConfigValue value;
};

// client<llm> NAME { provider ... retry_policy ... options { ... } }
struct ClientDecl {
  SourceLoc loc;
  std::string name;
  ConfigValue body; // a Block
};

// retry_policy NAME { max_retries N strategy { type ... } }
struct RetryPolicyDecl {
  SourceLoc loc;
  std::string name;
  ConfigValue body; // a Block
};

struct Program {
  std::vector<FunctionDecl> functions;
  std::vector<ClientDecl> clients;
  std::vector<RetryPolicyDecl> retry_policies;
  std::vector<TemplateStringDecl> template_strings;
  std::vector<HostDecl> host_functions;
  std::vector<TypeAliasDecl> type_aliases;
  std::vector<ClassDecl> classes;
  std::vector<EnumDecl> enums;
  // The lambdas, in the order of their functions' indexes (filled by the
  // checker, which numbers them after the methods).
  std::vector<const Expr*> lambdas;
};

} // namespace brake::lang
