// parser_test.cpp: the lexer and parser on their own (no checker, no VM).
//
// Trees are compared through a compact S-expression dump (dump_expr and
// friends below), so each case states the whole shape it expects. The last
// part parses every program of the BAML conformance corpus (if the shared
// directory is present) as a smoke test and prints how many parse cleanly;
// it only fails if the parser crashes or a program it should fully support
// reports an error. Set BRAKE_PARSER_TEST_VERBOSE=1 to list the corpus
// programs that produce diagnostics.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/utf8.h"
#include "lang/lexer.h"
#include "lang/parser.h"

using namespace brake::lang;

#ifndef BRAKE_SOURCE_DIR
#define BRAKE_SOURCE_DIR "."
#endif

static int g_passed = 0;
static int g_failed = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      g_passed++;                                                              \
    } else {                                                                   \
      g_failed++;                                                              \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,    \
                   #cond);                                                     \
    }                                                                          \
  } while (0)

static void check_equal(const std::string& actual, const std::string& expected,
                        const std::string& context, int line) {
  if (actual == expected) {
    g_passed++;
    return;
  }
  g_failed++;
  std::fprintf(stderr, "%s:%d: mismatch for: %s\n  expected: %s\n  actual:   %s\n",
               __FILE__, line, context.c_str(), expected.c_str(), actual.c_str());
}

// ---------------------------------------------------------------- dumping

static std::string dump_expr(const Expr* e);
static std::string dump_block(const Block* b);

static std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

static std::string dump_type(const TypeExpr* t) {
  if (t == nullptr) return "_";
  switch (t->kind) {
  case TypeExprKind::Named: return t->name;
  case TypeExprKind::Array: return dump_type(t->args[0].get()) + "[]";
  case TypeExprKind::Optional: return dump_type(t->args[0].get()) + "?";
  case TypeExprKind::Map:
    return "map<" + dump_type(t->args[0].get()) + "," + dump_type(t->args[1].get()) + ">";
  case TypeExprKind::Union: {
    std::string out = "(";
    for (size_t i = 0; i < t->args.size(); i++) {
      if (i) out += " | ";
      out += dump_type(t->args[i].get());
    }
    return out + ")";
  }
  }
  return "?";
}

static std::string dump_pattern(const Pattern* p) {
  switch (p->kind) {
  case PatternKind::Wildcard: return "_";
  case PatternKind::Literal: return dump_expr(p->literal.get());
  case PatternKind::Binding: return "$" + p->text;
  case PatternKind::Type:
    return p->text.empty() ? "(: " + dump_type(p->type.get()) + ")"
                           : "(: " + p->text + " " + dump_type(p->type.get()) + ")";
  case PatternKind::EnumValue: return p->text + "." + p->variant;
  case PatternKind::Or: {
    std::string out = "(|";
    for (auto& alt : p->alternatives) out += " " + dump_pattern(alt.get());
    return out + ")";
  }
  }
  return "?";
}

static const char* op_name(Op op) {
  switch (op) {
  case Op::None: return "none";
  case Op::Add: return "+";
  case Op::Sub: return "-";
  case Op::Mul: return "*";
  case Op::Div: return "/";
  case Op::Mod: return "%";
  case Op::Eq: return "==";
  case Op::Ne: return "!=";
  case Op::Lt: return "<";
  case Op::Le: return "<=";
  case Op::Gt: return ">";
  case Op::Ge: return ">=";
  case Op::And: return "&&";
  case Op::Or: return "||";
  case Op::Not: return "!";
  case Op::BitAnd: return "&";
  case Op::BitOr: return "|";
  case Op::BitXor: return "^";
  case Op::Shl: return "<<";
  case Op::Shr: return ">>";
  case Op::BitNot: return "~";
  case Op::Minus: return "neg";
  case Op::Assign: return "=";
  case Op::AddAssign: return "+=";
  case Op::SubAssign: return "-=";
  case Op::MulAssign: return "*=";
  case Op::DivAssign: return "/=";
  case Op::ModAssign: return "%=";
  }
  return "?";
}

static std::string dump_kids(const Expr* e, size_t from) {
  std::string out;
  for (size_t i = from; i < e->kids.size(); i++) out += " " + dump_expr(e->kids[i].get());
  return out;
}

static std::string dump_arms(const std::vector<MatchArm>& arms) {
  std::string out;
  for (auto& arm : arms) {
    out += " (arm " + dump_pattern(arm.pattern.get());
    if (arm.guard) out += " if " + dump_expr(arm.guard.get());
    out += " " + dump_expr(arm.body.get()) + ")";
  }
  return out;
}

static std::string dump_expr(const Expr* e) {
  if (e == nullptr) return "_";
  switch (e->kind) {
  case ExprKind::IntLit: return std::to_string(e->int_value);
  case ExprKind::FloatLit: {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%gf", e->float_value);
    return buf;
  }
  case ExprKind::BoolLit: return e->bool_value ? "true" : "false";
  case ExprKind::StringLit: return quote(e->text);
  case ExprKind::NullLit: return "null";
  case ExprKind::Ident: return e->text;
  case ExprKind::Unary:
  case ExprKind::Binary:
  case ExprKind::Assign: return std::string("(") + op_name(e->op) + dump_kids(e, 0) + ")";
  case ExprKind::Call: return "(call" + dump_kids(e, 0) + ")";
  case ExprKind::MethodCall: return "(mcall " + e->text + dump_kids(e, 0) + ")";
  case ExprKind::Field: return "(. " + dump_expr(e->kids[0].get()) + " " + e->text + ")";
  case ExprKind::Index: return "([]" + dump_kids(e, 0) + ")";
  case ExprKind::ArrayLit: return "[" + (e->kids.empty() ? "" : dump_kids(e, 0).substr(1)) + "]";
  case ExprKind::MapLit:
  case ExprKind::ClassLit: {
    std::string out = e->kind == ExprKind::MapLit ? "(map" : "(new " + e->text;
    for (size_t i = 0; i < e->kids.size(); i++) {
      out += " " + e->keys[i] + ":" + dump_expr(e->kids[i].get());
    }
    return out + ")";
  }
  case ExprKind::Block: return dump_block(e->block.get());
  case ExprKind::If: {
    std::string out = "(if " + dump_expr(e->kids[0].get()) + " " + dump_block(e->block.get());
    if (e->else_expr) out += " " + dump_expr(e->else_expr.get());
    return out + ")";
  }
  case ExprKind::Match: {
    std::string out = "(match " + dump_expr(e->kids[0].get());
    if (e->type_annotation) out += " : " + dump_type(e->type_annotation.get());
    return out + dump_arms(e->arms) + ")";
  }
  case ExprKind::Throw: return "(throw " + dump_expr(e->kids[0].get()) + ")";
  case ExprKind::Catch:
    return "(catch " + dump_expr(e->kids[0].get()) + " " + e->text + dump_arms(e->arms) + ")";
  }
  return "?";
}

static std::string dump_stmt(const Stmt* s) {
  if (s == nullptr) return "_";
  switch (s->kind) {
  case StmtKind::Let:
    return "(let " + s->text + (s->type ? " : " + dump_type(s->type.get()) : "") + " " +
           dump_expr(s->expr.get()) + ")";
  case StmtKind::Expr: return dump_expr(s->expr.get()) + ";";
  case StmtKind::While:
    return "(while " + dump_expr(s->expr.get()) + " " + dump_block(s->body.get()) + ")";
  case StmtKind::ForIn:
    return "(for " + s->text + " in " + dump_expr(s->expr.get()) + " " + dump_block(s->body.get()) + ")";
  case StmtKind::ForC:
    return "(for " + dump_stmt(s->init.get()) + " " + dump_expr(s->expr.get()) + " " +
           dump_expr(s->step.get()) + " " + dump_block(s->body.get()) + ")";
  case StmtKind::Break: return "(break)";
  case StmtKind::Continue: return "(continue)";
  case StmtKind::Return: return s->expr ? "(return " + dump_expr(s->expr.get()) + ")" : "(return)";
  case StmtKind::Assert: return "(assert " + dump_expr(s->expr.get()) + ")";
  }
  return "?";
}

static std::string dump_block(const Block* b) {
  if (b == nullptr) return "_";
  std::string out = "{";
  for (auto& s : b->stmts) out += " " + dump_stmt(s.get());
  if (b->tail) out += " => " + dump_expr(b->tail.get());
  return out + " }";
}

static std::string dump_diags(const Diagnostics& diags) {
  std::string out;
  for (auto& d : diags.items()) {
    if (!out.empty()) out += "\n";
    out += std::to_string(d.loc.line) + ":" + std::to_string(d.loc.column) + " " + d.message;
  }
  return out;
}

// ---------------------------------------------------------------- helpers

static Program parse_clean(const std::string& source, int line) {
  Diagnostics diags("test.baml");
  Program program = parse_program(source, diags);
  if (!diags.empty()) {
    g_failed++;
    std::fprintf(stderr, "%s:%d: unexpected diagnostics for:\n%s\n%s\n", __FILE__, line,
                 source.c_str(), dump_diags(diags).c_str());
  }
  return program;
}

// The body of `function f() -> int { <body> }`.
static void check_body(const std::string& body, const std::string& expected, int line) {
  Program program = parse_clean("function f() -> int {\n" + body + "\n}", line);
  if (program.functions.size() != 1) {
    check_equal("<no function>", expected, body, line);
    return;
  }
  check_equal(dump_block(program.functions[0].body.get()), expected, body, line);
}

// The initializer of `let v = <expr>;`.
static void check_expr(const std::string& expr, const std::string& expected, int line) {
  Program program = parse_clean("function f() -> int { let v = " + expr + "; }", line);
  const Block* body = program.functions.empty() ? nullptr : program.functions[0].body.get();
  if (body == nullptr || body->stmts.size() != 1 || body->stmts[0]->kind != StmtKind::Let) {
    check_equal("<not one let>", expected, expr, line);
    return;
  }
  check_equal(dump_expr(body->stmts[0]->expr.get()), expected, expr, line);
}

// The diagnostics ("line:col message", one per line) for a whole source.
static void check_diags(const std::string& source, const std::string& expected, int line) {
  Diagnostics diags("test.baml");
  parse_program(source, diags);
  check_equal(dump_diags(diags), expected, source, line);
}

#define BODY(body, expected) check_body(body, expected, __LINE__)
#define EXPR(expr, expected) check_expr(expr, expected, __LINE__)
#define DIAGS(source, expected) check_diags(source, expected, __LINE__)

// ---------------------------------------------------------------- lexer

static void test_lexer() {
  Diagnostics diags("t");
  auto tokens = tokenize("let x = 0x1F + 0b101 + 1_000; // c\n/* b\n */ y >>= #", diags);
  CHECK(diags.empty());
  const TokenKind kinds[] = {TokenKind::Let, TokenKind::Identifier, TokenKind::Equal,
                             TokenKind::Int, TokenKind::Plus, TokenKind::Int,
                             TokenKind::Plus, TokenKind::Int, TokenKind::Semicolon,
                             TokenKind::Identifier, TokenKind::GreaterGreaterEqual,
                             TokenKind::Hash, TokenKind::Eof};
  CHECK(tokens.size() == sizeof kinds / sizeof kinds[0]);
  for (size_t i = 0; i < tokens.size() && i < sizeof kinds / sizeof kinds[0]; i++) {
    CHECK(tokens[i].kind == kinds[i]);
  }
  CHECK(tokens[3].int_value == 31);
  CHECK(tokens[5].int_value == 5);
  CHECK(tokens[7].int_value == 1000);
  CHECK(tokens[9].loc.line == 3 && tokens[9].loc.column == 5); // y
  CHECK(tokens[0].loc.line == 1 && tokens[0].loc.column == 1);
  CHECK(tokens[1].loc.column == 5);

  // Numbers: `1.` and `.5` are not floats; `1.method` lexes as Int Dot Identifier.
  Diagnostics d2("t");
  auto nums = tokenize("1.5 1e3 1.5e-3 2E+2 1.foo 9223372036854775807", d2);
  CHECK(d2.empty());
  CHECK(nums[0].kind == TokenKind::Float && nums[0].float_value == 1.5);
  CHECK(nums[1].kind == TokenKind::Float && nums[1].float_value == 1000.0);
  CHECK(nums[2].kind == TokenKind::Float && nums[2].float_value == 0.0015);
  CHECK(nums[3].kind == TokenKind::Float && nums[3].float_value == 200.0);
  CHECK(nums[4].kind == TokenKind::Int && nums[5].kind == TokenKind::Dot &&
        nums[6].kind == TokenKind::Identifier);
  CHECK(nums[7].kind == TokenKind::Int && nums[7].int_value == INT64_MAX);

  // Keywords versus identifiers in keyword-like positions.
  Diagnostics d3("t");
  auto words = tokenize("map int self client spawn match catch _x", d3);
  CHECK(words[0].kind == TokenKind::Identifier && words[3].kind == TokenKind::Identifier);
  CHECK(words[5].kind == TokenKind::Match && words[6].kind == TokenKind::Catch);
  CHECK(words[7].kind == TokenKind::Identifier);

  // Operators, longest match first.
  Diagnostics d4("t");
  auto ops = tokenize("== != <= >= && || << >> += -= *= /= %= => -> @@ @ ! & | ^ ~ ? &= |= ^= <<= >>=", d4);
  const TokenKind op_kinds[] = {
      TokenKind::EqualEqual, TokenKind::BangEqual, TokenKind::LessEqual, TokenKind::GreaterEqual,
      TokenKind::AmpAmp, TokenKind::PipePipe, TokenKind::LessLess, TokenKind::GreaterGreater,
      TokenKind::PlusEqual, TokenKind::MinusEqual, TokenKind::StarEqual, TokenKind::SlashEqual,
      TokenKind::PercentEqual, TokenKind::FatArrow, TokenKind::Arrow, TokenKind::AtAt,
      TokenKind::At, TokenKind::Bang, TokenKind::Amp, TokenKind::Pipe, TokenKind::Caret,
      TokenKind::Tilde, TokenKind::Question, TokenKind::AmpEqual, TokenKind::PipeEqual,
      TokenKind::CaretEqual, TokenKind::LessLessEqual, TokenKind::GreaterGreaterEqual,
      TokenKind::Eof};
  CHECK(ops.size() == sizeof op_kinds / sizeof op_kinds[0]);
  for (size_t i = 0; i < ops.size() && i < sizeof op_kinds / sizeof op_kinds[0]; i++) {
    CHECK(ops[i].kind == op_kinds[i]);
  }
  CHECK(d4.empty());
}

static void test_lexer_errors() {
  auto errors_of = [](const std::string& src) {
    Diagnostics diags("t");
    tokenize(src, diags);
    return dump_diags(diags);
  };
  check_equal(errors_of("x /* never closed"), "1:3 unterminated block comment", "comment", __LINE__);
  check_equal(errors_of("\"abc"), "1:1 unterminated string", "string eof", __LINE__);
  check_equal(errors_of("  \"abc\nx"), "1:3 unterminated string", "string newline", __LINE__);
  check_equal(errors_of("\"a\\qb\""), "1:3 unknown escape sequence '\\q'", "escape", __LINE__);
  check_equal(errors_of("\"\\u{110000}\" \"\\uZZ\""),
              "1:2 invalid unicode escape\n1:15 invalid unicode escape", "unicode", __LINE__);
  check_equal(errors_of("9223372036854775808"), "1:1 integer literal too large", "int", __LINE__);
  check_equal(errors_of("99999999999999999999999"), "1:1 integer literal too large", "int", __LINE__);
  check_equal(errors_of("12ab 0x 0b12"),
              "1:1 invalid number literal '12ab'\n1:6 invalid number literal '0x'\n"
              "1:9 invalid number literal '0b12'",
              "bad numbers", __LINE__);
  check_equal(errors_of("a $ b"), "1:3 unexpected character '$'", "stray", __LINE__);
  check_equal(errors_of("#\"never closed\n"), "1:1 unterminated raw string", "raw", __LINE__);
}

static void test_literals() {
  EXPR("42", "42");
  EXPR("1_000_000", "1000000");
  EXPR("0xff", "255");
  EXPR("0b1010", "10");
  EXPR("2.5", "2.5f");
  EXPR("1e3", "1000f");
  EXPR("true", "true");
  EXPR("false", "false");
  EXPR("null", "null");
  EXPR("\"a\\n\\t\\r\\\\\\\"\\'b\"", "\"a\\x0a\\x09\\x0d\\\\\\\"'b\"");
  EXPR("\"\\0\"", "\"\\x00\"");
  EXPR("\"\\u{1F600}\"", "\"\\xf0\\x9f\\x98\\x80\"");
  EXPR("\"\\u00e9\"", "\"\\xc3\\xa9\"");
  EXPR("\"\\uD83D\\uDE00\"", "\"\\xf0\\x9f\\x98\\x80\"");
  EXPR("\"h\xc3\xa9llo\"", "\"h\\xc3\\xa9llo\"");
  EXPR("#\"raw \\n \"quoted\" {{ x }}\"#", "\"raw \\\\n \\\"quoted\\\" {{ x }}\"");
  EXPR("##\"has \"# inside\"##", "\"has \\\"# inside\"");
  EXPR("#\"line1\nline2\"#", "\"line1\\x0aline2\"");
  EXPR("-9223372036854775807 - 1", "(- (neg 9223372036854775807) 1)");
  EXPR("[1, 2, 3,]", "[1 2 3]");
  EXPR("[]", "[]");
  EXPR("[[1], []]", "[[1] []]");
}

static void test_raw_string_locations() {
  // A raw string spanning lines keeps later tokens' lines right.
  Diagnostics diags("t");
  auto tokens = tokenize("#\"a\nb\nc\"# x", diags);
  CHECK(tokens[0].kind == TokenKind::String && tokens[0].text == "a\nb\nc");
  CHECK(tokens[1].loc.line == 3 && tokens[1].loc.column == 5);
}

static void test_precedence() {
  EXPR("1 + 2 * 3", "(+ 1 (* 2 3))");
  EXPR("1 * 2 + 3", "(+ (* 1 2) 3)");
  EXPR("1 - 2 - 3", "(- (- 1 2) 3)");
  EXPR("8 / 4 / 2 % 3", "(% (/ (/ 8 4) 2) 3)");
  EXPR("a || b && c", "(|| a (&& b c))");
  EXPR("a && b || c", "(|| (&& a b) c)");
  EXPR("-x.y", "(neg (. x y))");
  EXPR("1 < 2 == true", "(== (< 1 2) true)");
  EXPR("a == b != c", "(!= (== a b) c)");
  EXPR("--5", "(neg (neg 5))");
  EXPR("!a && !b", "(&& (! a) (! b))");
  EXPR("~a & b", "(& (~ a) b)");
  EXPR("a | b ^ c & d", "(| a (^ b (& c d)))");
  EXPR("1 << 2 + 3", "(<< 1 (+ 2 3))");
  EXPR("a & b == c", "(== (& a b) c)");
  EXPR("a < b | c", "(< a (| b c))");
  EXPR("a >> 1 >= 2", "(>= (>> a 1) 2)");
  EXPR("(1 + 2) * 3", "(* (+ 1 2) 3)");
  EXPR("-2 * 3", "(* (neg 2) 3)");
  EXPR("a.b.c[0].d(1)(2)", "(call (mcall d ([] (. (. a b) c) 0) 1) 2)");
  EXPR("x[i][j]", "([] ([] x i) j)");
  EXPR("1.5.floor()", "(mcall floor 1.5f)");
  EXPR("\"a\" + s.length()", "(+ \"a\" (mcall length s))");
}

static void test_calls() {
  EXPR("f()", "(call f)");
  EXPR("f(1, g(2),)", "(call f 1 (call g 2))");
  EXPR("baml.sys.sleep(10)", "(mcall sleep (. baml sys) 10)");
  EXPR("xs.push(1)", "(mcall push xs 1)");
  EXPR("env.HOME", "(. env HOME)");
  EXPR("x.type", "(. x type)"); // keywords are fine as field names
}

static void test_literal_disambiguation() {
  EXPR("{}", "(map)");
  EXPR("{ \"a\": 1, \"b\": 2, }", "(map a:1 b:2)");
  EXPR("{ k: 1, \"k2\": [2] }", "(map k:1 k2:[2])");
  EXPR("{ 1 }", "{ => 1 }");
  EXPR("{ let a = 1; a + 1 }", "{ (let a 1) => (+ a 1) }");
  EXPR("Point { x: 1, y: 2 }", "(new Point x:1 y:2)");
  EXPR("Point { x: 1, y: 2, }", "(new Point x:1 y:2)");
  EXPR("Empty {}", "(new Empty)");
  EXPR("Outer { inner: Inner { v: 1 }, m: { \"k\": 2 } }",
       "(new Outer inner:(new Inner v:1) m:(map k:2))");
  // At statement start '{' is a block, unless `KEY:` follows (a block
  // cannot start that way).
  BODY("{ 1 }", "{ => { => 1 } }");
  BODY("{}", "{ => { } }");
  BODY("{ \"hello\": \"world\" }", "{ => (map hello:\"world\") }");
  BODY("{ k: 1 }.length()", "{ => (mcall length (map k:1)) }");
  BODY("{ let a = 1; };\n2", "{ { (let a 1) }; => 2 }");
  // `if (x) { ... }`: the identifier before '{' is inside parentheses, no ambiguity.
  BODY("if (x) { y }", "{ => (if x { => y }) }");
  BODY("let m = {};\nm", "{ (let m (map)) => m }");
}

static void test_statements() {
  BODY("let x = 1;\nlet y: int? = null;\nx", "{ (let x 1) (let y : int? null) => x }");
  BODY("let map = create_map();\nmap[\"k\"]", "{ (let map (call create_map)) => ([] map \"k\") }");
  BODY("x = 1;\nx += 2;\nx -= 3;\nx *= 4;\nx /= 5;\nx %= 6;",
       "{ (= x 1); (+= x 2); (-= x 3); (*= x 4); (/= x 5); (%= x 6); }");
  BODY("p.x = 1;\na[0] = 2;\no.i.v += 3;", "{ (= (. p x) 1); (= ([] a 0) 2); (+= (. (. o i) v) 3); }");
  BODY("while (i < 10) { i += 1; }", "{ (while (< i 10) { (+= i 1); }) }");
  BODY("while (true) { break; continue; };", "{ (while true { (break) (continue) }) }");
  BODY("for (let x in xs) { t += x; }", "{ (for x in xs { (+= t x); }) }");
  BODY("for (let i = 0; i < n; i += 1) { }", "{ (for (let i 0) (< i n) (+= i 1) { }) }");
  BODY("for (;;) { break }", "{ (for _ _ _ { (break) }) }");
  BODY("for (; false;) { }", "{ (for _ false _ { }) }");
  BODY("for (i = 0; ; s += i) { }", "{ (for (= i 0); _ (+= s i) { }) }");
  BODY("return;", "{ (return) }");
  BODY("return 1;", "{ (return 1) }");
  BODY("return 1", "{ (return 1) }");
  BODY("return", "{ (return) }");
  BODY("assert x == 1;", "{ (assert (== x 1)) }");
  BODY("f();\ng()", "{ (call f); => (call g) }");
  BODY("f();", "{ (call f); }");
  BODY(";;", "{ }");
  BODY("x = 1", "{ (= x 1); }");
  // Bitwise compound assignments become `t = t OP v` (ast.h has no ops for them).
  BODY("x &= 3;\nx |= 1;\nx ^= 2;\nx <<= 1;\nx >>= 1;",
       "{ (= x (& x 3)); (= x (| x 1)); (= x (^ x 2)); (= x (<< x 1)); (= x (>> x 1)); }");
  BODY("p.a[0] |= 4;", "{ (= ([] (. p a) 0) (| ([] (. p a) 0) 4)); }");
  // Tail versus statement for block-like expressions.
  BODY("if (a) { 1 } else { 2 }", "{ => (if a { => 1 } { => 2 }) }");
  BODY("if (a) { 1 } else { 2 };", "{ (if a { => 1 } { => 2 }); }");
  BODY("if (a) { f(); }\n3", "{ (if a { (call f); }); => 3 }");
  BODY("match (a) { _ => 1 }\nreturn 2", "{ (match a (arm _ 1)); (return 2) }");
  BODY("match (a) { _ => 1 }", "{ => (match a (arm _ 1)) }");
  BODY("{ f(); }\n{ 2 }", "{ { (call f); }; => { => 2 } }");
  // ...but an operator after one continues the expression, as in BAML.
  BODY("match (x) { 1 => 10, _ => 0 } + 1", "{ => (+ (match x (arm 1 10) (arm _ 0)) 1) }");
  BODY("if (a) { 1 } else { 2 } + if (b) { 3 } else { 4 }",
       "{ => (+ (if a { => 1 } { => 2 }) (if b { => 3 } { => 4 })) }");
  BODY("if (a) { 1 } else { 2 } * 3;\n4", "{ (* (if a { => 1 } { => 2 }) 3); => 4 }");
  BODY("if (a) { f(); }\n(g)()", "{ (if a { (call f); }); => (call g) }");
  BODY("if (a) { f(); }\n[1][0]", "{ (if a { (call f); }); => ([] [1] 0) }");
  BODY("throw 1", "{ => (throw 1) }");
  BODY("throw 1;\n0", "{ (throw 1); => 0 }");
  // else-if chains and if as an expression.
  BODY("if (a) { 1 } else if (b) { 2 } else { 3 }",
       "{ => (if a { => 1 } (if b { => 2 } { => 3 })) }");
  EXPR("if (a) { 1 } else { 2 } + 1", "(+ (if a { => 1 } { => 2 }) 1)");
}

static void test_match_and_patterns() {
  EXPR("match (x) { 1 => \"one\", 2 | 3 => \"few\", _ => \"many\", }",
       "(match x (arm 1 \"one\") (arm (| 2 3) \"few\") (arm _ \"many\"))");
  EXPR("match (x) { -1 => 0, 1.5 => 1, \"s\" => 2, true => 3, null => 4 }",
       "(match x (arm (neg 1) 0) (arm 1.5f 1) (arm \"s\" 2) (arm true 3) (arm null 4))");
  EXPR("match (c) { Color.Red => 1, Color.Blue | Color.Green => 2 }",
       "(match c (arm Color.Red 1) (arm (| Color.Blue Color.Green) 2))");
  EXPR("match (v) { n: int => n, _: string => 0, int => 1, Point => 2, other => 3 }",
       "(match v (arm (: n int) n) (arm (: _ string) 0) (arm (: int) 1) (arm $Point 2) "
       "(arm $other 3))");
  EXPR("match (v) { s: Success if s.code > 200 => 1, 1 if flag => 2, _ => 3 }",
       "(match v (arm (: s Success) if (> (. s code) 200) 1) (arm 1 if flag 2) (arm _ 3))");
  EXPR("match (r: Success | Failure) { s: Success => 1, f: Failure => 2 }",
       "(match r : (Success | Failure) (arm (: s Success) 1) (arm (: f Failure) 2))");
  EXPR("match (x) { 1 => { f(); 2 } 2 => { 3 }, _ => 4 }",
       "(match x (arm 1 { (call f); => 2 }) (arm 2 { => 3 }) (arm _ 4))");
  EXPR("match (x) { _: int[] | null => 1 }", "(match x (arm (: _ (int[] | null)) 1))");
  EXPR("match (x) { _ => {} }", "(match x (arm _ (map)))");
}

static void test_throw_and_catch() {
  EXPR("f() catch (e) { _ => 1 }", "(catch (call f) e (arm _ 1))");
  EXPR("throw 1 catch (e) { _ => 2 }", "(catch (throw 1) e (arm _ 2))");
  EXPR("throw a + b", "(throw (+ a b))");
  EXPR("f() catch (e) { \"boom\" => 1 } catch (e2) { _ => 2 }",
       "(catch (catch (call f) e (arm \"boom\" 1)) e2 (arm _ 2))");
  EXPR("a + f() catch (e) { string => 1, _ => 2 }",
       "(catch (+ a (call f)) e (arm (: string) 1) (arm _ 2))");
  BODY("f() catch (e) {\n _ => \"recovered\"\n}", "{ => (catch (call f) e (arm _ \"recovered\")) }");
  BODY("return throw 1 catch (e) { _ => 2 };", "{ (return (catch (throw 1) e (arm _ 2))) }");
  BODY("match (a) { int => { throw \"x\" }, }", "{ => (match a (arm (: int) { => (throw \"x\") })) }");
}

static void test_declarations() {
  Program p = parse_clean(R"(
    // A comment, and a //# header
    //# header
    class Point {
      x int @description("the x")
      y int?
      tags string[] @alias(t)
      meta map<string, map<string, int>>
      any (int | string)[] | null
      @@dynamic
      function norm(self, scale: int) -> int { self.x * scale }
    }
    enum Color { Red Green @alias("g") Blue }
    type Shape = Point | Circle
    function main(a: int, b: string[]) -> int | string {
      a
    }
  )",
                          __LINE__);
  CHECK(p.classes.size() == 1 && p.enums.size() == 1 && p.type_aliases.size() == 1 &&
        p.functions.size() == 1);
  if (p.classes.size() == 1) {
    const ClassDecl& c = p.classes[0];
    CHECK(c.name == "Point" && c.fields.size() == 5 && c.methods.size() == 1);
    if (c.fields.size() == 5) {
      check_equal(c.fields[0].name + " " + dump_type(c.fields[0].type.get()), "x int", "field", __LINE__);
      check_equal(dump_type(c.fields[1].type.get()), "int?", "field", __LINE__);
      check_equal(dump_type(c.fields[2].type.get()), "string[]", "field", __LINE__);
      check_equal(dump_type(c.fields[3].type.get()), "map<string,map<string,int>>", "field", __LINE__);
      check_equal(dump_type(c.fields[4].type.get()), "((int | string)[] | null)", "field", __LINE__);
      CHECK(c.fields[0].loc.line == 5 && c.fields[0].loc.column == 7);
    }
    if (c.methods.size() == 1) {
      const FunctionDecl& m = c.methods[0];
      CHECK(m.name == "norm" && m.params.size() == 2);
      CHECK(m.params.size() == 2 && m.params[0].name == "self" && !m.params[0].type);
      CHECK(m.params.size() == 2 && dump_type(m.params[1].type.get()) == "int");
      check_equal(dump_block(m.body.get()), "{ => (* (. self x) scale) }", "method", __LINE__);
    }
  }
  if (p.enums.size() == 1) {
    CHECK(p.enums[0].name == "Color" && p.enums[0].variants.size() == 3);
    CHECK(p.enums[0].variants.size() == 3 && p.enums[0].variants[2] == "Blue");
  }
  if (p.type_aliases.size() == 1) {
    CHECK(p.type_aliases[0].name == "Shape");
    check_equal(dump_type(p.type_aliases[0].type.get()), "(Point | Circle)", "alias", __LINE__);
  }
  if (p.functions.size() == 1) {
    const FunctionDecl& f = p.functions[0];
    CHECK(f.name == "main" && f.params.size() == 2 && f.loc.line == 15 && f.loc.column == 5);
    check_equal(dump_type(f.return_type.get()), "(int | string)", "return type", __LINE__);
    check_equal(dump_type(f.params[1].type.get()), "string[]", "param", __LINE__);
  }
}

static void test_throws_clause() {
  Program p = parse_clean("function f() -> int throws string | Err { 1 }", __LINE__);
  CHECK(p.functions.size() == 1 && dump_type(p.functions[0].return_type.get()) == "int");
}

static void test_locations() {
  Program p = parse_clean("function f() -> int {\n  let x = a +\n    b;\n  x\n}", __LINE__);
  if (p.functions.size() == 1) {
    const Block& b = *p.functions[0].body;
    CHECK(b.loc.line == 1 && b.loc.column == 21);
    CHECK(b.stmts[0]->loc.line == 2 && b.stmts[0]->loc.column == 3);
    const Expr& plus = *b.stmts[0]->expr;
    CHECK(plus.loc.line == 2 && plus.loc.column == 13);                       // the operator
    CHECK(plus.kids[1]->loc.line == 3 && plus.kids[1]->loc.column == 5);     // b
    CHECK(b.tail && b.tail->loc.line == 4 && b.tail->loc.column == 3);
  }
}

// Attributes prompts and the reply parser read: kept on fields, variants,
// classes and enums; others parsed and dropped; malformed ones reported.
static void test_attributes() {
  Program p = parse_clean(R"(
    class Foo {
      age int @check(age_lt_10, {{this < 10}}) @assert(nonneg, {{ this >= 0 }}) @alias("AGE") @description(#"years"#)
      name string @skip @stream.done @stream.not_null @stream.with_state
      m map<string, int> @check(hello, {{ this["hello"] == {"a": 1}["a"] }}) @alias(  two words )
      @@assert(hi, {{ this.foo > 0 }})
      @@description("A foo")
      @@alias("FOO")
      @@dynamic
    }
    enum E {
      A @alias("a") @description("the a")
      B @skip
      @@assert({{ this == "A" }})
      @@alias(Ee)
    }
  )",
                          __LINE__);
  CHECK(p.classes.size() == 1 && p.enums.size() == 1);
  if (p.classes.size() != 1 || p.classes[0].fields.size() != 3 || p.enums.size() != 1) return;
  const ClassDecl& c = p.classes[0];
  const Attributes& age = c.fields[0].attrs;
  CHECK(age.alias == "AGE" && age.description == "years" && !age.skip && age.stream == 0);
  CHECK(age.constraints.size() == 2);
  if (age.constraints.size() == 2) {
    check_equal(age.constraints[0].name + "|" + age.constraints[0].expression, "age_lt_10|this < 10", "check", __LINE__);
    CHECK(!age.constraints[0].is_assert && age.constraints[1].is_assert);
    check_equal(age.constraints[1].name + "|" + age.constraints[1].expression, "nonneg|this >= 0", "assert", __LINE__);
  }
  const Attributes& name = c.fields[1].attrs;
  CHECK(name.skip && name.stream == (kStreamDone | kStreamNotNull | kStreamWithState));
  const Attributes& m = c.fields[2].attrs;
  CHECK(m.alias == "two words" && m.constraints.size() == 1);
  if (m.constraints.size() == 1) check_equal(m.constraints[0].expression, R"(this["hello"] == {"a": 1}["a"])", "nested braces", __LINE__);
  CHECK(c.attrs.description == "A foo" && c.attrs.alias == "FOO" && c.attrs.constraints.size() == 1);
  const EnumDecl& e = p.enums[0];
  CHECK(e.variant_attrs.size() == 2 && e.attrs.alias == "Ee" && e.attrs.constraints.size() == 1);
  if (e.variant_attrs.size() == 2) CHECK(e.variant_attrs[0].alias == "a" && e.variant_attrs[0].description == "the a" && e.variant_attrs[1].skip);
  if (e.attrs.constraints.size() == 1) CHECK(e.attrs.constraints[0].is_assert && e.attrs.constraints[0].name.empty() && e.attrs.constraints[0].expression == R"(this == "A")");

  DIAGS("class C {\n  x int @check({{ this > 1 }})\n}\n", "2:16 @check takes a name first: @check(name, {{ expression }})");
  DIAGS("class C {\n  x int @assert(a, this > 1)\n}\n", "2:20 @assert's condition is written {{ expression }}");
  DIAGS("class C {\n  x int @assert(a, {{ }})\n}\n", "2:20 @assert has an empty condition");
  DIAGS("class C {\n  x int @alias()\n}\n", "2:16 @alias takes a string");
  DIAGS("class C {\n  x int @assert(a, {{ this > 1 )\n}\n", "2:20 unterminated {{ in a constraint (expected }})\n4:1 expected ')' after the condition of @assert");
  // Lines inside a condition's strings are counted; a backslash at the very end is no crash.
  DIAGS("class C {\n  x int @assert(a, {{ \"a\n b\" == this }})\n  y int @alias()\n}\n", "4:16 @alias takes a string");
  DIAGS("class C {\n  x int @assert(a, {{ \"abc\\", "2:20 unterminated {{ in a constraint (expected }})\n2:28 expected ')' after the condition of @assert");
  // The expression is Jinja, kept as written: BAML's string escapes do not apply.
  Program q = parse_clean(R"(class P { v string @check(phone, {{ this|regex_match("\(?\d{3}\)?") and "}}" != this }}) })", __LINE__);
  if (q.classes.size() == 1 && q.classes[0].fields.size() == 1 && q.classes[0].fields[0].attrs.constraints.size() == 1)
    check_equal(q.classes[0].fields[0].attrs.constraints[0].expression, R"(this|regex_match("\(?\d{3}\)?") and "}}" != this)", "jinja", __LINE__);
  else
    CHECK(false);
}

static void test_errors() {
  // Three independent errors, each reported where it happens.
  DIAGS("function f() -> int {\n"
        "  let a = ;\n"
        "  let b = 1 +;\n"
        "  let c = (2;\n"
        "  a\n"
        "}\n",
        "2:11 expected expression\n3:14 expected expression\n4:13 expected ')' after expression");
  // Errors in different declarations, and recovery at the declaration level.
  DIAGS("function f(a int) -> int { a }\n"
        "function g() -> int { 1 }\n"
        "class C { x: int }\n"
        "garbage here\n"
        "enum E { A B }\n",
        "1:14 expected ':' and a type after parameter name\n"
        "3:12 class fields are written 'name Type', without ':'\n"
        "4:1 expected a declaration ('function', 'class', 'enum' or 'type')");
  DIAGS("function f() -> int {\n  let x = 1\n  x\n}", "2:12 expected ';' after let statement");
  DIAGS("function f() -> int {\n  f()\n  g()\n}", "2:6 expected ';' after expression");
  DIAGS("function f() -> int {\n  1 = 2;\n  f() += 1;\n}",
        "2:3 invalid assignment target\n3:3 invalid assignment target");
  DIAGS("function f() -> int { if x { 1 } }", "1:26 expected '(' after 'if'");
  DIAGS("function f() -> int { while (x { 1 } }", "1:32 expected ')' after condition");
  DIAGS("function f() -> int { match (x) { 1 => 2 3 => 4 } }", "1:41 expected ',' after match arm");
  DIAGS("function f() -> int {\n  match (x) {\n    1 => ,\n    2 => 3 +,\n    _ => 0\n  }\n}",
        "3:10 expected expression\n4:13 expected expression");
  DIAGS("function f() -> int { let p.x = 1; a &= 2; a[g()] &= 1; g() |= 1; a }",
        "1:28 expected '=' after variable name\n1:45 compound bitwise assignment needs a plain target\n"
        "1:57 invalid assignment target");
  // Lexical and syntax errors come out in source order.
  DIAGS("function f() -> int {\n  let a = ;\n  let b = \"\\q\";\n  $\n}",
        "2:11 expected expression\n3:12 unknown escape sequence '\\q'\n4:3 unexpected character '$'");
  DIAGS("function f() -> int { let p = P { x: 1, ...q }; p }", "");
  DIAGS("function f() -> int { let p = P { x: 1, ..q }; p }", "1:41 expected '...' before a spread");
  DIAGS("function f() -> bool { let t = 1; t instanceof T }",
        "1:37 'instanceof' does not exist in BAML: test a value's type with match (x) { Foo => ..., _ => ... }");
  DIAGS("function f() -> int {\n  let x = 1;\n", "3:1 expected '}' to close the block");
  DIAGS("function f(self) -> int { 1 }", "1:12 'self' is only allowed as the first parameter of a method");
  DIAGS("class C { function m(x: int, self) -> int { 1 } }",
        "1:30 'self' is only allowed as the first parameter of a method");
  DIAGS("function f() { 1 }", "1:14 expected '->' and a return type after parameters");
  DIAGS("type T = \"a\" | 1.5", "1:16 expected a type");
  DIAGS("function f() -> int { -9223372036854775808 }", "1:24 integer literal too large");
  DIAGS("function f() -> int { let s = \"abc; 1 }\nfunction g() -> int { 2 }",
        "1:31 unterminated string");
  DIAGS("function f() -> int { let a = 1 $ 2; a }", "1:33 unexpected character '$'");
  // Unsupported top-level declarations are reported once and skipped whole
  // (client<llm>, retry_policy and template_string are parsed: llm_decl_test
  // checks them).
  DIAGS("client<llm> GPT {\n  provider openai\n  options { model \"x\" }\n}\n"
        "retry_policy R { max_retries 3 }\n"
        "test T { functions [f] }\n"
        "template_string Tpl(x: int) #\"{{ x }}\"#\n"
        "function f() -> int { 1 }\n",
        "6:1 'test' declarations are not supported yet");
  DIAGS("client<chat> C { provider openai }", "1:8 only 'client<llm>' clients exist");
  DIAGS("client<llm> C { provider openai options { model } }", "1:49 expected a value (a string, number, true, false, env.NAME, a list, a block or a word)");
  // LLM function bodies: a client and a prompt, once each.
  DIAGS("function F(x: string) -> string {\n  client \"openai/gpt-4o\"\n  prompt #\"hi\"#\n}\n"
        "function g() -> int { 1 }",
        "");
  DIAGS("function F() -> string {\n  client A\n  client B\n  prompt #\"hi\"#\n  temperature 1\n}",
        "3:3 an LLM function names one client\n5:3 an LLM function's body holds 'client' and 'prompt', not 'temperature'");
  DIAGS("function F() -> string { client A }", "1:24 an LLM function needs a prompt ('prompt #\"...\"#')");
  DIAGS("template_string T(x: int) 42", "1:27 expected the template, a string such as #\"...\"#");
  // Lambdas and function types; a parenthesis that no '->' follows is a grouping.
  DIAGS("function f(g: (int, string) -> int[], h: () -> (int | null)) -> int {\n"
        "  let a = (x) -> { x };\n  let b = (x: int, y: int,) -> int throws string { x + y };\n"
        "  let c = () -> { };\n  let d: (() -> int)[] = [];\n  (1 + 2) * 3\n}", "");
  DIAGS("function f() -> int {\n  let g = (x: int) -> int 1;\n  1\n}", "2:27 expected '{' and the lambda's body");
  DIAGS("function f() -> int {\n  let g = (x + 1) -> { x };\n  1\n}", "2:14 expected ')' after the lambda's parameters");
  DIAGS("function f(g: (int) -> ) -> int { 1 }", "1:24 expected a type");
  // `watch let`; `watch` is a word only in front of `let`.
  DIAGS("function f() -> int {\n  watch let y = 1;\n  let watch = 2;\n  y + watch\n}", "");
  DIAGS("function f() -> int {\n  watch y = 1;\n  1\n}", "2:8 expected ';' after expression");
}

static void test_error_recovery_keeps_going() {
  // After errors, the well-formed declarations are still all there.
  Diagnostics diags("t");
  Program p = parse_program("function a() -> int { let = 1; 2 }\n"
                            "function b() -> int { 3 }\n"
                            "class C { x int  y  z int }\n"
                            "function c() -> int { ) }\n"
                            "function d() -> int { 4 }\n",
                            diags);
  CHECK(diags.size() == 3);
  CHECK(p.functions.size() == 4);
  CHECK(p.classes.size() == 1 && p.classes[0].fields.size() >= 2);
  if (p.functions.size() == 4) {
    check_equal(dump_block(p.functions[0].body.get()), "{ => 2 }", "recovered body", __LINE__);
    check_equal(dump_block(p.functions[3].body.get()), "{ => 4 }", "later function", __LINE__);
  }
}

static void test_nesting_guard() {
  const size_t n = 100000;
  std::string parens = "function f() -> int { " + std::string(n, '(') + "1" +
                       std::string(n, ')') + " }\nfunction g() -> int { 2 }";
  Diagnostics d1("t");
  Program p1 = parse_program(parens, d1);
  CHECK(d1.size() == 1 && d1.items()[0].message == "nesting too deep");
  CHECK(p1.functions.size() == 1 && p1.functions[0].name == "g");

  std::string blocks = "function f() -> int { " + std::string(n, '{') + std::string(n, '}') + " }";
  Diagnostics d2("t");
  parse_program(blocks, d2);
  CHECK(d2.size() == 1 && d2.items()[0].message == "nesting too deep");

  std::string mixed = "function f() -> int { let x = ";
  for (size_t i = 0; i < n / 10; i++) mixed += "[-!if (";
  Diagnostics d3("t");
  parse_program(mixed, d3);
  CHECK(!d3.empty() && d3.items()[0].message == "nesting too deep");

  std::string chain = "function f() -> int { 1";
  for (size_t i = 0; i < n; i++) chain += " + 1";
  chain += " }";
  Diagnostics d4("t");
  parse_program(chain, d4);
  CHECK(d4.size() == 1 && d4.items()[0].message == "nesting too deep");

  std::string types = "function f(x: " + std::string(n, '(') + "int" + std::string(n, ')') + ") -> int { 1 }";
  Diagnostics d5("t");
  parse_program(types, d5);
  CHECK(d5.size() == 1 && d5.items()[0].message == "nesting too deep");

  // Modest nesting is fine.
  Diagnostics d6("t");
  parse_program("function f() -> int { " + std::string(50, '(') + "1" + std::string(50, ')') + " }", d6);
  CHECK(d6.empty());
}

// ---------------------------------------------------------------- corpus smoke test

// Decodes the JSON string starting at s[pos] (just after the opening quote).
static std::string json_string(const std::string& s, size_t pos) {
  std::string out;
  while (pos < s.size() && s[pos] != '"') {
    char c = s[pos++];
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = s[pos++];
    switch (e) {
    case 'n': out += '\n'; break;
    case 't': out += '\t'; break;
    case 'r': out += '\r'; break;
    case 'b': out += '\b'; break;
    case 'f': out += '\f'; break;
    case 'u': {
      unsigned cp = static_cast<unsigned>(std::stoul(s.substr(pos, 4), nullptr, 16));
      pos += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF && s.compare(pos, 2, "\\u") == 0) {
        unsigned low = static_cast<unsigned>(std::stoul(s.substr(pos + 2, 4), nullptr, 16));
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        pos += 6;
      }
      brake::append_utf8(out, cp);
      break;
    }
    default: out += e; break; // \" \\ \/
    }
  }
  return out;
}

static std::string json_field(const std::string& line, const char* name) {
  std::string key = std::string("\"") + name + "\": \"";
  size_t at = line.find(key);
  if (at == std::string::npos) {
    key = std::string("\"") + name + "\":\"";
    at = line.find(key);
  }
  return at == std::string::npos ? std::string() : json_string(line, at + key.size());
}

// Constructs the parser does not support; programs using them may fail.
static bool uses_unsupported(const std::string& line) {
  const char* unsupported[] = {"\"watch\"", "\"spread\"", "\"instanceof\"", "\"closure\"",
                               "\"function_value\"", "\"concurrent\"", "\"compile_error\""};
  size_t at = line.find("\"constructs\"");
  if (at == std::string::npos) return false;
  for (const char* c : unsupported) {
    if (line.find(c, at) != std::string::npos) return true;
  }
  return false;
}

static void test_corpus() {
  std::string path = BRAKE_SOURCE_DIR "/../shared/conformance/baml-corpus.jsonl";
  std::ifstream in(path);
  if (!in) {
    std::printf("note: %s not found, corpus smoke test skipped\n", path.c_str());
    return;
  }
  bool verbose = std::getenv("BRAKE_PARSER_TEST_VERBOSE") != nullptr;
  int total = 0, clean = 0, unexpected = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    total++;
    std::string source = json_field(line, "source");
    Diagnostics diags(json_field(line, "id"));
    parse_program(source, diags);
    if (diags.empty()) {
      clean++;
      continue;
    }
    bool expected_failure = uses_unsupported(line);
    if (!expected_failure) unexpected++;
    if (verbose || !expected_failure) {
      std::fprintf(stderr, "%s %s:\n%s\n", expected_failure ? "corpus (unsupported)" : "CORPUS FAILURE",
                   diags.file().c_str(), dump_diags(diags).c_str());
    }
  }
  std::printf("corpus: %d of %d programs parse without diagnostics\n", clean, total);
  CHECK(total > 0);
  CHECK(unexpected == 0);
}

int main() {
  auto start = std::chrono::steady_clock::now();
  test_lexer();
  test_lexer_errors();
  test_literals();
  test_raw_string_locations();
  test_precedence();
  test_calls();
  test_literal_disambiguation();
  test_statements();
  test_match_and_patterns();
  test_throw_and_catch();
  test_declarations();
  test_attributes();
  test_throws_clause();
  test_locations();
  test_errors();
  test_error_recovery_keeps_going();
  test_nesting_guard();
  test_corpus();
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d passed, %d failed (%.0f ms)\n", g_passed, g_failed, ms);
  return g_failed == 0 ? 0 : 1;
}
