// parser.cpp: tokens -> syntax tree (see parser.h for the contract).
//
// A recursive-descent parser for declarations, statements, types and
// patterns, and a Pratt parser for expressions: get_rule() maps each token to
// its prefix rule, infix rule and binding power, as in Wren's compiler.
//
// Errors: error_at() reports a diagnostic and throws SyntaxError; the
// statement loop of a block and the declaration loop catch it and skip to a
// likely boundary (`;`, `}`, a statement or declaration keyword), so every
// independent error in a file is reported (match and catch arms recover at
// their ',' as well). At most one diagnostic is kept per source location, and
// none next to a token the lexer already complained about, which stops
// cascades.
//
// Statements (following BAML and its test corpus): an if, match or `{ }`
// block at the start of a statement ends it without a ';' unless an operator
// follows (`match (x) { ... } + 1` continues; a '(' or '[' continues only on
// the same line). The last expression before '}' without a ';' is the
// block's tail. At statement start `{ KEY: ...` is a map literal, `{}` and
// every other `{` a block.
//
// Depth: every level of syntactic nesting (parentheses, blocks, brackets,
// unary operators, `else if`, operator and postfix chains, catch clauses,
// nested types) counts against kMaxDepth. Going deeper reports "nesting too
// deep" and abandons the declaration, so neither this parser nor any later
// stage that recurses over the tree can exhaust the stack: the depth of a
// tree this parser returns is bounded by about kMaxDepth.
//
// Locations: an operator node (Unary, Binary, Assign) carries its operator's
// location, Field and MethodCall their name's, Index its '[', Catch its
// `catch`, Call its callee's; every other node the location of its first token.
#include "lang/parser.h"

#include <algorithm>
#include <utility>

#include "lang/lexer.h"

namespace brake::lang {

namespace {

constexpr int kMaxDepth = 200;

// Thrown after an error has been reported; caught at statement and
// declaration boundaries, where parsing resynchronises.
struct SyntaxError {};
// Thrown when nesting exceeds kMaxDepth; caught only at declaration level.
struct NestingTooDeep {};

// Binding powers, lowest to highest. All binary operators are left-associative.
enum class Precedence : uint8_t {
  None,
  Or,         // ||
  And,        // &&
  Equality,   // == !=
  Comparison, // < <= > >=
  BitOr,      // |
  BitXor,     // ^
  BitAnd,     // &
  Shift,      // << >>
  Term,       // + -
  Factor,     // * / %
  Unary,      // - ! ~
  Postfix,    // () [] .
};

Precedence next_higher(Precedence p) {
  return static_cast<Precedence>(static_cast<uint8_t>(p) + 1);
}

enum class FunctionKind : uint8_t { Free, Method };

class Parser;
using PrefixFn = ExprPtr (Parser::*)();
using InfixFn = ExprPtr (Parser::*)(ExprPtr left);

struct ParseRule {
  PrefixFn prefix;
  InfixFn infix;
  Precedence precedence;
};

ExprPtr make_expr(ExprKind kind, SourceLoc loc) {
  return std::make_unique<Expr>(kind, loc);
}

bool is_assignment_op(TokenKind kind) {
  switch (kind) {
  case TokenKind::Equal:
  case TokenKind::PlusEqual:
  case TokenKind::MinusEqual:
  case TokenKind::StarEqual:
  case TokenKind::SlashEqual:
  case TokenKind::PercentEqual:
  case TokenKind::AmpEqual:
  case TokenKind::PipeEqual:
  case TokenKind::CaretEqual:
  case TokenKind::LessLessEqual:
  case TokenKind::GreaterGreaterEqual: return true;
  default: return false;
  }
}

// The binary operator of a compound bitwise assignment (`&=` -> BitAnd), or
// None. ast.h has no assignment ops for these, so `t &= v` is built as
// `t = t & v` (see finish_assignment).
Op bitwise_assignment_op(TokenKind kind) {
  switch (kind) {
  case TokenKind::AmpEqual: return Op::BitAnd;
  case TokenKind::PipeEqual: return Op::BitOr;
  case TokenKind::CaretEqual: return Op::BitXor;
  case TokenKind::LessLessEqual: return Op::Shl;
  case TokenKind::GreaterGreaterEqual: return Op::Shr;
  default: return Op::None;
  }
}

// A copy of an assignment target whose evaluation has no side effects
// (names, fields, and indexes by names or literals), or null.
ExprPtr clone_plain_target(const Expr& e) {
  switch (e.kind) {
  case ExprKind::Ident:
  case ExprKind::IntLit:
  case ExprKind::StringLit:
  case ExprKind::Field:
  case ExprKind::Index: break;
  default: return nullptr;
  }
  auto copy = std::make_unique<Expr>(e.kind, e.loc);
  copy->int_value = e.int_value;
  copy->text = e.text;
  for (const ExprPtr& kid : e.kids) {
    ExprPtr kid_copy = clone_plain_target(*kid);
    if (!kid_copy) return nullptr;
    copy->kids.push_back(std::move(kid_copy));
  }
  return copy;
}

Op assignment_op(TokenKind kind) {
  switch (kind) {
  case TokenKind::PlusEqual: return Op::AddAssign;
  case TokenKind::MinusEqual: return Op::SubAssign;
  case TokenKind::StarEqual: return Op::MulAssign;
  case TokenKind::SlashEqual: return Op::DivAssign;
  case TokenKind::PercentEqual: return Op::ModAssign;
  default: return Op::Assign;
  }
}

Op binary_op(TokenKind kind) {
  switch (kind) {
  case TokenKind::Plus: return Op::Add;
  case TokenKind::Minus: return Op::Sub;
  case TokenKind::Star: return Op::Mul;
  case TokenKind::Slash: return Op::Div;
  case TokenKind::Percent: return Op::Mod;
  case TokenKind::EqualEqual: return Op::Eq;
  case TokenKind::BangEqual: return Op::Ne;
  case TokenKind::Less: return Op::Lt;
  case TokenKind::LessEqual: return Op::Le;
  case TokenKind::Greater: return Op::Gt;
  case TokenKind::GreaterEqual: return Op::Ge;
  case TokenKind::AmpAmp: return Op::And;
  case TokenKind::PipePipe: return Op::Or;
  case TokenKind::Amp: return Op::BitAnd;
  case TokenKind::Pipe: return Op::BitOr;
  case TokenKind::Caret: return Op::BitXor;
  case TokenKind::LessLess: return Op::Shl;
  case TokenKind::GreaterGreater: return Op::Shr;
  default: return Op::None;
  }
}

bool is_statement_keyword(TokenKind kind) {
  switch (kind) {
  case TokenKind::Let:
  case TokenKind::While:
  case TokenKind::For:
  case TokenKind::Return:
  case TokenKind::Break:
  case TokenKind::Continue:
  case TokenKind::Assert: return true;
  default: return false;
  }
}

bool is_declaration_keyword(TokenKind kind) {
  return kind == TokenKind::Function || kind == TokenKind::Class ||
         kind == TokenKind::Enum || kind == TokenKind::Type;
}

// Top-level BAML declarations brake does not run yet; they are reported and
// skipped whole.
bool is_unsupported_declaration_word(std::string_view word) {
  return word == "client" || word == "retry_policy" || word == "test" ||
         word == "generator" || word == "template_string";
}

// Where the text of string token `t` starts: past `#...#"` for a raw
// string, past the quote for a plain one.
SourceLoc string_content_loc(const Token& t) {
  uint32_t skip = 1;
  while (skip - 1 < t.lexeme.size() && t.lexeme[skip - 1] == '#') skip++;
  return SourceLoc{t.loc.line, t.loc.column + skip};
}

bool is_builtin_type_name(std::string_view name) {
  return name == "int" || name == "float" || name == "bool" || name == "string";
}

class Parser {
public:
  Parser(std::vector<Token> tokens, Diagnostics& diags)
      : m_diags(diags), m_tokens(std::move(tokens)) {
    // Each '(' and the ')' that closes it, found once: whether an '->'
    // follows it is then one lookup (a scan per '(' would be quadratic in
    // a source of unclosed ones).
    m_close.assign(m_tokens.size(), SIZE_MAX);
    std::vector<size_t> open;
    for (size_t i = 0; i < m_tokens.size(); i++) {
      if (m_tokens[i].kind == TokenKind::LeftParen) open.push_back(i);
      if (m_tokens[i].kind == TokenKind::RightParen && !open.empty()) {
        m_close[open.back()] = i;
        open.pop_back();
      }
    }
  }

  Program parse_program();
  HostSignature parse_host_signature();

  // Pratt rules (public so get_rule can take their addresses).
  ExprPtr grouping();
  ExprPtr lambda();
  ExprPtr spawn_expression();
  bool parenthesis_then_arrow() const;
  ExprPtr array_literal();
  ExprPtr brace_expression();
  ExprPtr literal();
  ExprPtr identifier();
  ExprPtr unary();
  ExprPtr if_expression();
  ExprPtr match_expression();
  ExprPtr throw_expression();
  ExprPtr binary(ExprPtr left);
  ExprPtr call(ExprPtr left);
  ExprPtr index(ExprPtr left);
  ExprPtr dot(ExprPtr left);

private:
  // Counts nesting levels entered in one scope and gives them back when the
  // scope ends (also when a SyntaxError unwinds through it).
  class Nesting {
  public:
    explicit Nesting(Parser& parser) : m_parser(parser) {}
    ~Nesting() { m_parser.m_depth -= m_count; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;
    void enter(SourceLoc loc) {
      if (m_parser.m_depth >= kMaxDepth) {
        m_parser.report(loc, "nesting too deep");
        throw NestingTooDeep{};
      }
      m_parser.m_depth++;
      m_count++;
    }

  private:
    Parser& m_parser;
    int m_count = 0;
  };

  // ---- token cursor
  const Token& current() const { return m_tokens[m_pos]; }
  const Token& previous() const { return m_tokens[m_pos - 1]; }
  const Token& peek(size_t ahead) const {
    size_t at = m_pos + ahead;
    return at < m_tokens.size() ? m_tokens[at] : m_tokens.back();
  }
  bool check(TokenKind kind) const { return current().kind == kind; }
  const Token& advance() {
    if (!check(TokenKind::Eof)) m_pos++;
    return previous();
  }
  bool match(TokenKind kind) {
    if (!check(kind)) return false;
    advance();
    return true;
  }
  const Token& consume(TokenKind kind, const char* message) {
    if (!check(kind)) error_at_current(message);
    return advance();
  }
  // A name: an identifier, or a keyword where only a name can stand (field
  // names after '.', class fields, class literal keys).
  bool check_name() const {
    return check(TokenKind::Identifier) ||
           (is_keyword(current().kind) && !check(TokenKind::Function));
  }
  const Token& consume_name(const char* message) {
    if (!check_name()) error_at_current(message);
    return advance();
  }

  // ---- errors
  void report(SourceLoc loc, std::string message);
  [[noreturn]] void error_at(SourceLoc loc, std::string message);
  [[noreturn]] void error_at_current(std::string message) {
    error_at(current().loc, std::move(message));
  }
  SourceLoc after_previous() const;
  [[noreturn]] void error_expected_semicolon(const char* after);
  void synchronize_statement();
  void synchronize_declaration();
  void skip_balanced(TokenKind open, TokenKind close);

  // ---- declarations
  void parse_declaration(Program& program);
  FunctionDecl parse_function(FunctionKind kind);
  void parse_params(FunctionDecl& fn, FunctionKind kind);
  ClassDecl parse_class();
  void parse_class_member(ClassDecl& cls);
  void synchronize_class_member();
  EnumDecl parse_enum();
  TypeAliasDecl parse_type_alias();
  void parse_unsupported_declaration();
  ClientDecl parse_client();
  TemplateStringDecl parse_template_string();
  std::unique_ptr<LlmBody> parse_llm_body();
  RetryPolicyDecl parse_retry_policy();
  ConfigValue parse_config_block();
  ConfigValue parse_config_value();
  bool adjacent(const Token& a, const Token& b) const;
  void parse_attributes(Attributes& out, TokenKind at);
  void parse_one_attribute(Attributes& out);
  Constraint parse_constraint(bool is_assert);
  void parse_type_stream_attributes(TypeExpr& type);

  // ---- types and patterns
  TypeExprPtr parse_type();
  void close_angle(const char* message);
  TypeExprPtr parse_postfix_type();
  TypeExprPtr parse_primary_type();
  PatternPtr parse_pattern();
  PatternPtr parse_pattern_alternative();

  // ---- statements
  std::unique_ptr<Block> parse_block(const char* message);
  std::unique_ptr<Block> parse_block_body(SourceLoc open);
  void parse_statement(Block& block);
  StmtPtr parse_let();
  StmtPtr parse_while();
  StmtPtr parse_for();
  StmtPtr parse_simple_statement();
  void end_statement(const char* after);
  void parse_expression_statement(Block& block);
  ExprPtr parse_block_like(bool& block_like);
  ExprPtr finish_assignment(ExprPtr target);

  // ---- expressions
  ExprPtr parse_expression();
  ExprPtr parse_precedence(Precedence precedence);
  ExprPtr parse_infix_operators(ExprPtr left, Precedence precedence, Nesting& nesting);
  ExprPtr parse_catch_clauses(ExprPtr guarded, Nesting& nesting);
  std::unique_ptr<Block> parse_condition_and_block(ExprPtr& cond, const char* keyword);
  void parse_arms(std::vector<MatchArm>& arms, const char* what);
  ExprPtr parse_class_literal(const Token& name);
  ExprPtr parse_class_literal(std::string name, SourceLoc loc);
  ExprPtr parse_map_literal(SourceLoc open);
  void parse_arguments(Expr& call);
  bool looks_like_class_literal() const;
  bool looks_like_map_literal() const;
  bool looks_like_map_after_brace() const;
  bool synchronize_arm();

  Diagnostics& m_diags;
  std::vector<Token> m_tokens;
  std::vector<size_t> m_close; // per token: a '(''s matching ')' (SIZE_MAX: none, or not a '(')
  size_t m_pos = 0;
  int m_depth = 0;
  bool m_has_last_error = false;
  bool m_no_class_literal = false; // the next name is `spawn with`'s token: `tok {` begins the block
  SourceLoc m_last_error;
};

// The Pratt table: for each token, how it starts an expression, how it
// continues one, and how tightly it binds as an infix/postfix operator.
ParseRule get_rule(TokenKind kind) {
  using P = Parser;
  switch (kind) {
  case TokenKind::LeftParen: return {&P::grouping, &P::call, Precedence::Postfix};
  case TokenKind::LeftBracket: return {&P::array_literal, &P::index, Precedence::Postfix};
  case TokenKind::Dot: return {nullptr, &P::dot, Precedence::Postfix};
  case TokenKind::LeftBrace: return {&P::brace_expression, nullptr, Precedence::None};
  case TokenKind::Minus: return {&P::unary, &P::binary, Precedence::Term};
  case TokenKind::Plus: return {nullptr, &P::binary, Precedence::Term};
  case TokenKind::Star:
  case TokenKind::Slash:
  case TokenKind::Percent: return {nullptr, &P::binary, Precedence::Factor};
  case TokenKind::Bang:
  case TokenKind::Tilde: return {&P::unary, nullptr, Precedence::None};
  case TokenKind::EqualEqual:
  case TokenKind::BangEqual: return {nullptr, &P::binary, Precedence::Equality};
  case TokenKind::Less:
  case TokenKind::LessEqual:
  case TokenKind::Greater:
  case TokenKind::GreaterEqual: return {nullptr, &P::binary, Precedence::Comparison};
  case TokenKind::Pipe: return {nullptr, &P::binary, Precedence::BitOr};
  case TokenKind::Caret: return {nullptr, &P::binary, Precedence::BitXor};
  case TokenKind::Amp: return {nullptr, &P::binary, Precedence::BitAnd};
  case TokenKind::LessLess:
  case TokenKind::GreaterGreater: return {nullptr, &P::binary, Precedence::Shift};
  case TokenKind::AmpAmp: return {nullptr, &P::binary, Precedence::And};
  case TokenKind::PipePipe: return {nullptr, &P::binary, Precedence::Or};
  case TokenKind::Int:
  case TokenKind::Float:
  case TokenKind::String:
  case TokenKind::True:
  case TokenKind::False:
  case TokenKind::Null: return {&P::literal, nullptr, Precedence::None};
  case TokenKind::Identifier: return {&P::identifier, nullptr, Precedence::None};
  case TokenKind::If: return {&P::if_expression, nullptr, Precedence::None};
  case TokenKind::Match: return {&P::match_expression, nullptr, Precedence::None};
  case TokenKind::Throw: return {&P::throw_expression, nullptr, Precedence::None};
  default: return {nullptr, nullptr, Precedence::None};
  }
}

// ================================================================ errors

void Parser::report(SourceLoc loc, std::string message) {
  // Next to a token the lexer already complained about, a syntax error is
  // almost always a consequence of that one.
  if (current().malformed || (m_pos > 0 && previous().malformed)) return;
  if (m_has_last_error && m_last_error.line == loc.line &&
      m_last_error.column == loc.column) {
    return;
  }
  m_has_last_error = true;
  m_last_error = loc;
  m_diags.error(loc, std::move(message));
}

void Parser::error_at(SourceLoc loc, std::string message) {
  report(loc, std::move(message));
  throw SyntaxError{};
}

// Just past the previous token: where a missing ';' belongs.
SourceLoc Parser::after_previous() const {
  if (m_pos == 0) return current().loc;
  const Token& prev = previous();
  if (prev.lexeme.find('\n') != std::string_view::npos) return current().loc;
  return SourceLoc{prev.loc.line,
                   prev.loc.column + static_cast<uint32_t>(prev.lexeme.size())};
}

void Parser::error_expected_semicolon(const char* after) {
  error_at(after_previous(), std::string("expected ';' after ") + after);
}

// Skips to the end of the broken statement: past a ';', or up to a '}' or a
// statement or declaration keyword at the same brace depth.
void Parser::synchronize_statement() {
  int depth = 0;
  for (;;) {
    TokenKind kind = current().kind;
    if (kind == TokenKind::Eof || is_declaration_keyword(kind)) return;
    if (depth == 0 && (kind == TokenKind::RightBrace || is_statement_keyword(kind))) return;
    advance();
    if (kind == TokenKind::LeftBrace) depth++;
    else if (kind == TokenKind::RightBrace) depth--;
    else if (kind == TokenKind::Semicolon && depth == 0) return;
  }
}

// Skips to the next token that starts a declaration outside any braces.
void Parser::synchronize_declaration() {
  int depth = 0;
  for (;;) {
    TokenKind kind = current().kind;
    if (kind == TokenKind::Eof) return;
    if (depth <= 0) {
      if (is_declaration_keyword(kind)) return;
      if (kind == TokenKind::Identifier && is_unsupported_declaration_word(current().lexeme) &&
          (peek(1).kind == TokenKind::Identifier || peek(1).kind == TokenKind::Less)) {
        return;
      }
    }
    if (kind == TokenKind::LeftBrace) depth++;
    else if (kind == TokenKind::RightBrace) depth--;
    advance();
  }
}

// With `open` as the current token, skips through its matching `close`.
void Parser::skip_balanced(TokenKind open, TokenKind close) {
  int depth = 0;
  while (!check(TokenKind::Eof)) {
    TokenKind kind = advance().kind;
    if (kind == open) depth++;
    else if (kind == close && --depth <= 0) return;
  }
}

// ================================================================ declarations

// program := declaration* EOF
Program Parser::parse_program() {
  Program program;
  while (!check(TokenKind::Eof)) {
    size_t start = m_pos;
    try {
      parse_declaration(program);
      continue;
    } catch (const SyntaxError&) {
    } catch (const NestingTooDeep&) {
    }
    m_depth = 0;
    if (m_pos == start) advance();
    synchronize_declaration();
  }
  return program;
}

// host_signature := '(' params? ')' '->' type EOF
HostSignature Parser::parse_host_signature() {
  HostSignature sig;
  FunctionDecl fn;
  try {
    consume(TokenKind::LeftParen, "expected '(' to start the parameters");
    parse_params(fn, FunctionKind::Free);
    consume(TokenKind::Arrow, "expected '->' and a return type after the parameters");
    sig.return_type = parse_type();
    if (!check(TokenKind::Eof)) error_at_current("unexpected text after the return type");
  } catch (const SyntaxError&) {
  } catch (const NestingTooDeep&) {
  }
  sig.params = std::move(fn.params);
  return sig;
}

// declaration := function_decl | class_decl | enum_decl | type_alias | unsupported_decl
void Parser::parse_declaration(Program& program) {
  switch (current().kind) {
  case TokenKind::Function: program.functions.push_back(parse_function(FunctionKind::Free)); return;
  case TokenKind::Class: program.classes.push_back(parse_class()); return;
  case TokenKind::Enum: program.enums.push_back(parse_enum()); return;
  case TokenKind::Type: program.type_aliases.push_back(parse_type_alias()); return;
  default: break;
  }
  if (check(TokenKind::Identifier) && current().lexeme == "client" &&
      (peek(1).kind == TokenKind::Less || (peek(1).kind == TokenKind::Identifier && peek(2).kind == TokenKind::LeftBrace))) {
    program.clients.push_back(parse_client());
    return;
  }
  if (check(TokenKind::Identifier) && current().lexeme == "retry_policy" && peek(1).kind == TokenKind::Identifier) {
    program.retry_policies.push_back(parse_retry_policy());
    return;
  }
  if (check(TokenKind::Identifier) && current().lexeme == "template_string" && peek(1).kind == TokenKind::Identifier) {
    program.template_strings.push_back(parse_template_string());
    return;
  }
  if (check(TokenKind::Identifier) && is_unsupported_declaration_word(current().lexeme) &&
      (peek(1).kind == TokenKind::Identifier || peek(1).kind == TokenKind::Less)) {
    parse_unsupported_declaration();
    return;
  }
  error_at_current("expected a declaration ('function', 'class', 'enum' or 'type')");
}

// client_decl := 'client' ('<' 'llm' '>')? NAME config_block   (BAML's newer engine drops the <llm>)
ClientDecl Parser::parse_client() {
  ClientDecl decl;
  decl.loc = advance().loc;
  if (match(TokenKind::Less)) {
    const Token& kind = consume(TokenKind::Identifier, "expected 'llm' in 'client<llm>'");
    if (kind.lexeme != "llm") report(kind.loc, "only 'client<llm>' clients exist");
    consume(TokenKind::Greater, "expected '>' after 'client<llm'");
  }
  decl.name = std::string(consume(TokenKind::Identifier, "expected the client's name").lexeme);
  decl.body = parse_config_block();
  return decl;
}

// retry_policy_decl := 'retry_policy' NAME config_block
RetryPolicyDecl Parser::parse_retry_policy() {
  RetryPolicyDecl decl;
  decl.loc = advance().loc;
  decl.name = std::string(consume(TokenKind::Identifier, "expected the retry policy's name").lexeme);
  decl.body = parse_config_block();
  return decl;
}

// Whether `b` follows `a` with nothing between them (the parts of a bare
// word such as openai-generic).
bool Parser::adjacent(const Token& a, const Token& b) const {
  return a.loc.line == b.loc.line && b.loc.column == a.loc.column + a.lexeme.size();
}

// config_block := '{' (KEY config_value)* '}'    KEY := NAME | STRING
ConfigValue Parser::parse_config_block() {
  Nesting nesting(*this);
  nesting.enter(current().loc);
  ConfigValue block;
  block.kind = ConfigValue::Kind::Block;
  block.loc = consume(TokenKind::LeftBrace, "expected '{'").loc;
  while (!check(TokenKind::RightBrace) && !check(TokenKind::Eof)) {
    ConfigValue::Entry entry;
    entry.loc = current().loc;
    if (check(TokenKind::String)) entry.key = advance().text;
    else entry.key = std::string(consume_name("expected a key (a name or a string)").lexeme);
    entry.value = parse_config_value();
    block.entries.push_back(std::move(entry));
    match(TokenKind::Comma); // tolerated between entries
  }
  consume(TokenKind::RightBrace, "expected '}' to close the block");
  return block;
}

// config_value := STRING | '-'? INT | '-'? FLOAT | 'true' | 'false' | 'env' '.' NAME
//               | '[' (config_value (',' config_value)* ','?)? ']' | config_block | bare_word
// bare_word := NAME (('-' | '/' | '.') NAME)*   (no spaces between the parts)
ConfigValue Parser::parse_config_value() {
  ConfigValue v;
  v.loc = current().loc;
  if (check(TokenKind::String)) {
    v.text = advance().text;
    return v;
  }
  bool negative = false;
  if (check(TokenKind::Minus) && (peek(1).kind == TokenKind::Int || peek(1).kind == TokenKind::Float)) {
    advance();
    negative = true;
  }
  if (check(TokenKind::Int)) {
    v.kind = ConfigValue::Kind::Int;
    v.int_value = advance().int_value * (negative ? -1 : 1);
    return v;
  }
  if (check(TokenKind::Float)) {
    v.kind = ConfigValue::Kind::Float;
    v.float_value = advance().float_value * (negative ? -1 : 1);
    return v;
  }
  if (check(TokenKind::True) || check(TokenKind::False)) {
    v.kind = ConfigValue::Kind::Bool;
    v.bool_value = advance().kind == TokenKind::True;
    return v;
  }
  if (check(TokenKind::LeftBrace)) return parse_config_block();
  if (check(TokenKind::LeftBracket)) {
    Nesting nesting(*this);
    nesting.enter(current().loc);
    v.kind = ConfigValue::Kind::List;
    advance();
    while (!check(TokenKind::RightBracket) && !check(TokenKind::Eof)) {
      v.items.push_back(parse_config_value());
      if (!match(TokenKind::Comma)) break;
    }
    consume(TokenKind::RightBracket, "expected ']' to close the list");
    return v;
  }
  if (check(TokenKind::Identifier) && current().lexeme == "env" && peek(1).kind == TokenKind::Dot) {
    advance();
    advance();
    v.kind = ConfigValue::Kind::Env;
    v.text = std::string(consume(TokenKind::Identifier, "expected a variable's name after 'env.'").lexeme);
    return v;
  }
  if (!check_name()) error_at_current("expected a value (a string, number, true, false, env.NAME, a list, a block or a word)");
  v.kind = ConfigValue::Kind::Word;
  v.text = std::string(advance().lexeme);
  while ((check(TokenKind::Minus) || check(TokenKind::Slash) || check(TokenKind::Dot)) && adjacent(previous(), current()) &&
         (peek(1).kind == TokenKind::Identifier || peek(1).kind == TokenKind::Int) && adjacent(current(), peek(1))) {
    v.text += advance().lexeme;
    v.text += advance().lexeme;
  }
  return v;
}

// unsupported_decl := ('client' | 'retry_policy' | 'test' | 'generator' | 'template_string') ... ('{' balanced '}')?
void Parser::parse_unsupported_declaration() {
  const Token& word = advance();
  report(word.loc, "'" + std::string(word.lexeme) + "' declarations are not supported yet");
  while (!check(TokenKind::Eof) && !is_declaration_keyword(current().kind)) {
    if (check(TokenKind::LeftBrace)) {
      skip_balanced(TokenKind::LeftBrace, TokenKind::RightBrace);
      return;
    }
    if (check(TokenKind::Identifier) && is_unsupported_declaration_word(current().lexeme) &&
        (peek(1).kind == TokenKind::Identifier || peek(1).kind == TokenKind::Less)) {
      return;
    }
    advance();
  }
}

// function_decl := 'function' NAME '(' params? ')' '->' type ('throws' type)? block
FunctionDecl Parser::parse_function(FunctionKind kind) {
  FunctionDecl fn;
  fn.loc = consume(TokenKind::Function, "expected 'function'").loc;
  fn.name = std::string(consume(TokenKind::Identifier, "expected function name").lexeme);
  consume(TokenKind::LeftParen, "expected '(' after function name");
  parse_params(fn, kind);
  consume(TokenKind::Arrow, "expected '->' and a return type after parameters");
  fn.return_type = parse_type();
  parse_type_stream_attributes(*fn.return_type);
  if (check(TokenKind::Identifier) && current().lexeme == "throws") {
    advance();
    fn.throws = parse_type();
  }
  // An LLM body starts with `client` and a client (a name or a string) or
  // with `prompt` and a string: a variable named client or prompt used as
  // an expression is not one.
  if (check(TokenKind::LeftBrace) && peek(1).kind == TokenKind::Identifier &&
      ((peek(1).lexeme == "client" && (peek(2).kind == TokenKind::String ||
                                       (peek(2).kind == TokenKind::Identifier &&
                                        (peek(3).kind == TokenKind::RightBrace || peek(3).kind == TokenKind::Identifier)))) ||
       (peek(1).lexeme == "prompt" && peek(2).kind == TokenKind::String))) {
    fn.body = std::make_unique<Block>();
    fn.body->loc = current().loc;
    if (kind == FunctionKind::Method) report(peek(1).loc, "a method cannot be an LLM function: declare it at the top level");
    fn.llm = parse_llm_body();
    return fn;
  }
  fn.body = parse_block("expected '{' before function body");
  return fn;
}

// llm_body := '{' ('client' (NAME | STRING) | 'prompt' STRING)* '}'   (each once, both needed)
std::unique_ptr<LlmBody> Parser::parse_llm_body() {
  auto body = std::make_unique<LlmBody>();
  SourceLoc open = consume(TokenKind::LeftBrace, "expected '{'").loc;
  bool has_client = false, has_prompt = false;
  while (!check(TokenKind::RightBrace) && !check(TokenKind::Eof)) {
    const Token& word = consume(TokenKind::Identifier, "expected 'client' or 'prompt' in an LLM function");
    if (word.lexeme == "client") {
      if (has_client) report(word.loc, "an LLM function names one client");
      has_client = true;
      body->client_loc = current().loc;
      if (check(TokenKind::String)) {
        body->client = advance().text;
        body->shorthand = true;
      } else {
        body->client = std::string(consume_name("expected a client's name or \"provider/model\" after 'client'").lexeme);
      }
    } else if (word.lexeme == "prompt") {
      if (has_prompt) report(word.loc, "an LLM function has one prompt");
      has_prompt = true;
      if (!check(TokenKind::String)) error_at_current("expected the prompt, a string such as #\"...\"#, after 'prompt'");
      const Token& text = advance();
      body->prompt = text.text;
      body->prompt_loc = string_content_loc(text);
    } else {
      report(word.loc, "an LLM function's body holds 'client' and 'prompt', not '" + std::string(word.lexeme) + "'");
      while (!check(TokenKind::RightBrace) && !check(TokenKind::Eof) &&
             !(check(TokenKind::Identifier) && (current().lexeme == "client" || current().lexeme == "prompt"))) {
        if (check(TokenKind::LeftBrace)) skip_balanced(TokenKind::LeftBrace, TokenKind::RightBrace); // its value
        else advance();
      }
    }
  }
  consume(TokenKind::RightBrace, "expected '}' after the LLM function's body");
  if (!has_client) report(open, "an LLM function needs a client ('client Name' or 'client \"provider/model\"')");
  if (!has_prompt) report(open, "an LLM function needs a prompt ('prompt #\"...\"#')");
  return body;
}

// template_string := 'template_string' NAME ('(' params? ')')? STRING
TemplateStringDecl Parser::parse_template_string() {
  TemplateStringDecl decl;
  decl.loc = advance().loc;
  decl.name = std::string(consume(TokenKind::Identifier, "expected the template_string's name").lexeme);
  if (match(TokenKind::LeftParen)) {
    FunctionDecl fn;
    parse_params(fn, FunctionKind::Free);
    decl.params = std::move(fn.params);
  }
  if (!check(TokenKind::String)) error_at_current("expected the template, a string such as #\"...\"#");
  const Token& text = advance();
  decl.text = text.text;
  decl.text_loc = string_content_loc(text);
  return decl;
}

// params := param (',' param)* ','? ')'    param := 'self' | NAME ':' type
void Parser::parse_params(FunctionDecl& fn, FunctionKind kind) {
  while (!check(TokenKind::RightParen)) {
    Param param;
    const Token& name = consume(TokenKind::Identifier, "expected parameter name");
    param.loc = name.loc;
    param.name = std::string(name.lexeme);
    if (name.lexeme == "self" && !check(TokenKind::Colon)) {
      if (kind != FunctionKind::Method || !fn.params.empty()) {
        report(name.loc, "'self' is only allowed as the first parameter of a method");
      }
    } else {
      consume(TokenKind::Colon, "expected ':' and a type after parameter name");
      param.type = parse_type();
    }
    fn.params.push_back(std::move(param));
    if (!match(TokenKind::Comma)) break;
  }
  consume(TokenKind::RightParen, "expected ')' after parameters");
}

// class_decl := 'class' NAME '{' class_member* '}'
ClassDecl Parser::parse_class() {
  ClassDecl cls;
  cls.loc = advance().loc;
  cls.name = std::string(consume(TokenKind::Identifier, "expected class name").lexeme);
  consume(TokenKind::LeftBrace, "expected '{' after class name");
  while (!check(TokenKind::RightBrace) && !check(TokenKind::Eof)) {
    size_t start = m_pos;
    try {
      parse_class_member(cls);
    } catch (const SyntaxError&) {
      if (m_pos == start) advance();
      synchronize_class_member();
    }
  }
  consume(TokenKind::RightBrace, "expected '}' after class body");
  return cls;
}

// class_member := NAME type attribute* | function_decl | '@@' NAME ('(' ... ')')?
void Parser::parse_class_member(ClassDecl& cls) {
  if (check(TokenKind::Function)) {
    cls.methods.push_back(parse_function(FunctionKind::Method));
    return;
  }
  if (check(TokenKind::AtAt)) {
    parse_attributes(cls.attrs, TokenKind::AtAt);
    return;
  }
  FieldDecl field;
  const Token& name = consume_name("expected a field name or 'function'");
  field.loc = name.loc;
  field.name = std::string(name.lexeme);
  if (check(TokenKind::Colon)) error_at_current("class fields are written 'name Type', without ':'");
  field.type = parse_type();
  parse_attributes(field.attrs, TokenKind::At);
  cls.fields.push_back(std::move(field));
}

// Skips to the next member: a 'function', '@@', '}' or a name at the start
// of a line.
void Parser::synchronize_class_member() {
  int depth = 0;
  while (!check(TokenKind::Eof)) {
    if (depth == 0) {
      if (check(TokenKind::RightBrace) || check(TokenKind::Function) ||
          check(TokenKind::AtAt)) {
        return;
      }
      if (check_name() && current().loc.line != previous().loc.line) return;
    }
    if (check(TokenKind::LeftBrace)) depth++;
    else if (check(TokenKind::RightBrace)) depth--;
    advance();
  }
}

// attribute* on a field or an enum variant ('@') or in a class's or an
// enum's body ('@@'): the attributes lang/attributes.h lists are kept,
// every other one is parsed and discarded.
void Parser::parse_attributes(Attributes& out, TokenKind at) {
  while (check(at)) parse_one_attribute(out);
}

// attribute := ('@' | '@@') NAME ('.' NAME)* ('(' ... ')')?
void Parser::parse_one_attribute(Attributes& out) {
  advance();
  // Attribute names may be keywords (@assert).
  auto word = [this]() {
    if (current().lexeme.empty() || !std::isalpha(static_cast<unsigned char>(current().lexeme[0])))
      error_at_current("expected attribute name after '@'");
    return std::string(advance().lexeme);
  };
  std::string name = word();
  while (match(TokenKind::Dot)) name += "." + word();
  if (name == "alias" || name == "description") {
    consume(TokenKind::LeftParen, ("expected '(' after @" + name).c_str());
    std::string text;
    if (check(TokenKind::String)) {
      text = advance().text;
    } else {
      // BAML's unquoted string: the words up to ')', as written.
      if (check(TokenKind::RightParen) || check(TokenKind::Eof)) error_at_current("@" + name + " takes a string");
      const char* begin = current().lexeme.data();
      while (!check(TokenKind::RightParen) && !check(TokenKind::Eof)) advance();
      text.assign(begin, size_t(previous().lexeme.data() + previous().lexeme.size() - begin));
    }
    consume(TokenKind::RightParen, ("expected ')' after the text of @" + name).c_str());
    (name == "alias" ? out.alias : out.description) = std::move(text);
  } else if (name == "check" || name == "assert") {
    out.constraints.push_back(parse_constraint(name == "assert"));
  } else if (name == "skip") {
    out.skip = true;
  } else if (name == "stream.done") {
    out.stream |= kStreamDone;
  } else if (name == "stream.not_null") {
    out.stream |= kStreamNotNull;
  } else if (name == "stream.with_state") {
    out.stream |= kStreamWithState;
  } else if (check(TokenKind::LeftParen)) {
    skip_balanced(TokenKind::LeftParen, TokenKind::RightParen);
  }
}

// Streaming attributes written on a type (inside or after parentheses, and
// after a function's return type): `(A | B) @stream.done`. Only @stream.*
// attributes belong there; what follows a field's type is the field's.
void Parser::parse_type_stream_attributes(TypeExpr& type) {
  while (check(TokenKind::At) && peek(1).kind == TokenKind::Identifier && peek(1).lexeme == "stream" &&
         peek(2).kind == TokenKind::Dot) {
    Attributes attrs;
    parse_one_attribute(attrs);
    if (attrs.stream == 0) error_at(previous().loc, "unknown streaming attribute (@stream.done, @stream.not_null, @stream.with_state)");
    type.stream |= attrs.stream;
  }
}

// '(' (NAME ',')? '{{' expression '}}' ')': the expression is kept as its
// source text, for the template engine to evaluate against `this`.
Constraint Parser::parse_constraint(bool is_assert) {
  Constraint c;
  c.is_assert = is_assert;
  const char* what = is_assert ? "@assert" : "@check";
  consume(TokenKind::LeftParen, (std::string("expected '(' after ") + what).c_str());
  if (check(TokenKind::Identifier) && peek(1).kind == TokenKind::Comma) {
    c.name = std::string(advance().lexeme);
    advance();
  } else if (!is_assert) {
    error_at_current("@check takes a name first: @check(name, {{ expression }})");
  }
  if (!check(TokenKind::Jinja)) error_at_current(std::string(what) + "'s condition is written {{ expression }}");
  const Token& condition = advance();
  consume(TokenKind::RightParen, (std::string("expected ')' after the condition of ") + what).c_str());
  if (condition.text.empty() && !condition.malformed) error_at(condition.loc, std::string(what) + " has an empty condition");
  c.expression = condition.text;
  return c;
}

// enum_decl := 'enum' NAME '{' (NAME attribute* ','? | '@@' attribute)* '}'
EnumDecl Parser::parse_enum() {
  EnumDecl decl;
  decl.loc = advance().loc;
  decl.name = std::string(consume(TokenKind::Identifier, "expected enum name").lexeme);
  consume(TokenKind::LeftBrace, "expected '{' after enum name");
  while (!check(TokenKind::RightBrace) && !check(TokenKind::Eof)) {
    if (check(TokenKind::AtAt)) {
      parse_attributes(decl.attrs, TokenKind::AtAt);
      continue;
    }
    decl.variants.push_back(
        std::string(consume(TokenKind::Identifier, "expected enum variant name").lexeme));
    decl.variant_attrs.emplace_back();
    parse_attributes(decl.variant_attrs.back(), TokenKind::At);
    match(TokenKind::Comma);
  }
  consume(TokenKind::RightBrace, "expected '}' after enum variants");
  return decl;
}

// type_alias := 'type' NAME '=' type ';'?
TypeAliasDecl Parser::parse_type_alias() {
  TypeAliasDecl decl;
  decl.loc = advance().loc;
  decl.name = std::string(consume(TokenKind::Identifier, "expected type alias name").lexeme);
  consume(TokenKind::Equal, "expected '=' after type alias name");
  decl.type = parse_type();
  match(TokenKind::Semicolon);
  return decl;
}

// ================================================================ types

// type := postfix_type ('|' postfix_type)*
TypeExprPtr Parser::parse_type() {
  Nesting nesting(*this);
  nesting.enter(current().loc);
  TypeExprPtr first = parse_postfix_type();
  if (!check(TokenKind::Pipe)) return first;
  auto type = std::make_unique<TypeExpr>();
  type->kind = TypeExprKind::Union;
  type->loc = first->loc;
  type->args.push_back(std::move(first));
  while (match(TokenKind::Pipe)) type->args.push_back(parse_postfix_type());
  return type;
}

// postfix_type := primary_type ('[' ']' | '?')*
TypeExprPtr Parser::parse_postfix_type() {
  Nesting nesting(*this);
  TypeExprPtr type = parse_primary_type();
  for (;;) {
    TypeExprKind kind;
    if (check(TokenKind::LeftBracket) && peek(1).kind == TokenKind::RightBracket) {
      kind = TypeExprKind::Array;
      nesting.enter(current().loc);
      advance();
      advance();
    } else if (check(TokenKind::Question)) {
      kind = TypeExprKind::Optional;
      nesting.enter(current().loc);
      advance();
    } else {
      return type;
    }
    auto wrapped = std::make_unique<TypeExpr>();
    wrapped->kind = kind;
    wrapped->loc = type->loc;
    wrapped->args.push_back(std::move(type));
    type = std::move(wrapped);
  }
}

// primary_type := NAME | 'null' | 'map' '<' type ',' type '>' | '(' type ')'
//               | '(' (type (',' type)*)? ')' '->' type      (a function type)
TypeExprPtr Parser::parse_primary_type() {
  if (match(TokenKind::LeftParen)) {
    if (parenthesis_then_arrow()) {
      auto type = std::make_unique<TypeExpr>();
      type->kind = TypeExprKind::Function;
      type->loc = previous().loc;
      while (!check(TokenKind::RightParen)) {
        type->args.push_back(parse_type());
        if (!match(TokenKind::Comma)) break;
      }
      consume(TokenKind::RightParen, "expected ')' after the parameter types");
      consume(TokenKind::Arrow, "expected '->' and a result type");
      type->args.push_back(parse_postfix_type()); // (a union result is written in parentheses)
      return type;
    }
    TypeExprPtr inner = parse_type();
    parse_type_stream_attributes(*inner);
    consume(TokenKind::RightParen, "expected ')' after type");
    parse_type_stream_attributes(*inner);
    return inner;
  }
  auto type = std::make_unique<TypeExpr>();
  type->loc = current().loc;
  if (match(TokenKind::Null)) {
    type->name = "null";
    return type;
  }
  // Literal types: "TWO", 3, -1, true, false.
  if (check(TokenKind::String) || check(TokenKind::Int) || check(TokenKind::True) || check(TokenKind::False) ||
      (check(TokenKind::Minus) && peek(1).kind == TokenKind::Int)) {
    type->kind = TypeExprKind::Literal;
    bool negative = match(TokenKind::Minus);
    const Token& t = advance();
    if (t.kind == TokenKind::String) {
      type->literal_base = 's';
      type->name = t.text;
    } else if (t.kind == TokenKind::Int) {
      type->literal_base = 'i';
      // As the value prints (no leading zeros, no separators): the lexer's value.
      type->name = std::to_string(negative ? -t.int_value : t.int_value);
    } else {
      type->literal_base = 'b';
      type->name = t.kind == TokenKind::True ? "true" : "false";
    }
    return type;
  }
  const Token& name = consume(TokenKind::Identifier, "expected a type");
  type->name = std::string(name.lexeme);
  // A qualified name: baml.http.Response.
  while (check(TokenKind::Dot) && peek(1).kind == TokenKind::Identifier) {
    advance();
    type->name += "." + std::string(advance().lexeme);
  }
  if ((type->name == "Future" || type->name == "baml.future.Future") && match(TokenKind::Less)) {
    type->name = "Future";
    type->args.push_back(parse_type());
    close_angle("expected '>' after the future's type");
    return type;
  }
  if (name.lexeme == "map" && match(TokenKind::Less)) {
    type->kind = TypeExprKind::Map;
    type->name.clear();
    type->args.push_back(parse_type());
    consume(TokenKind::Comma, "expected ',' after map key type");
    type->args.push_back(parse_type());
    close_angle("expected '>' after map value type");
  }
  return type;
}

// The '>' that closes a type's arguments: `map<K, map<K2, V>>` takes the
// first '>' of a '>>' token.
void Parser::close_angle(const char* message) {
  if (check(TokenKind::GreaterGreater)) {
    Token& token = m_tokens[m_pos];
    token.kind = TokenKind::Greater;
    token.loc.column++;
    token.lexeme.remove_prefix(1);
  } else {
    consume(TokenKind::Greater, message);
  }
}

// ================================================================ patterns

// pattern := alternative ('|' alternative)*
PatternPtr Parser::parse_pattern() {
  PatternPtr first = parse_pattern_alternative();
  if (!check(TokenKind::Pipe)) return first;
  auto pattern = std::make_unique<Pattern>();
  pattern->kind = PatternKind::Or;
  pattern->loc = first->loc;
  pattern->alternatives.push_back(std::move(first));
  while (match(TokenKind::Pipe)) pattern->alternatives.push_back(parse_pattern_alternative());
  return pattern;
}

// alternative := '_' (':' type)? | literal | '-' number | NAME '.' NAME | NAME ':' type | NAME
PatternPtr Parser::parse_pattern_alternative() {
  auto pattern = std::make_unique<Pattern>();
  pattern->loc = current().loc;
  switch (current().kind) {
  case TokenKind::Int:
  case TokenKind::Float:
  case TokenKind::String:
  case TokenKind::True:
  case TokenKind::False:
  case TokenKind::Null:
    advance();
    pattern->kind = PatternKind::Literal;
    pattern->literal = literal();
    return pattern;
  case TokenKind::Minus: {
    const Token& minus = advance();
    if (!check(TokenKind::Int) && !check(TokenKind::Float)) {
      error_at_current("expected a number after '-' in pattern");
    }
    advance();
    pattern->kind = PatternKind::Literal;
    pattern->literal = make_expr(ExprKind::Unary, minus.loc);
    pattern->literal->op = Op::Minus;
    pattern->literal->kids.push_back(literal());
    return pattern;
  }
  case TokenKind::Identifier: break;
  default: error_at_current("expected a pattern");
  }

  const Token& name = advance();
  if (match(TokenKind::Colon)) {
    pattern->kind = PatternKind::Type;
    pattern->text = std::string(name.lexeme);
    pattern->type = parse_type();
  } else if (name.lexeme == "_") {
    pattern->kind = PatternKind::Wildcard;
  } else if (match(TokenKind::Dot)) {
    pattern->kind = PatternKind::EnumValue;
    pattern->text = std::string(name.lexeme);
    pattern->variant = std::string(consume(TokenKind::Identifier, "expected variant name after '.'").lexeme);
  } else if (is_builtin_type_name(name.lexeme)) {
    pattern->kind = PatternKind::Type;
    pattern->type = std::make_unique<TypeExpr>();
    pattern->type->loc = name.loc;
    pattern->type->name = std::string(name.lexeme);
  } else {
    pattern->kind = PatternKind::Binding;
    pattern->text = std::string(name.lexeme);
  }
  return pattern;
}

// ================================================================ statements

// block := '{' statement* expression? '}'
std::unique_ptr<Block> Parser::parse_block(const char* message) {
  SourceLoc open = consume(TokenKind::LeftBrace, message).loc;
  return parse_block_body(open);
}

// The rest of a block once its '{' (at `open`) is consumed. A statement that
// fails is reported and skipped; a missing '}' is reported at the token that
// cannot continue the block.
std::unique_ptr<Block> Parser::parse_block_body(SourceLoc open) {
  Nesting nesting(*this);
  nesting.enter(open);
  auto block = std::make_unique<Block>();
  block->loc = open;
  for (;;) {
    if (match(TokenKind::RightBrace)) return block;
    if (check(TokenKind::Eof) || is_declaration_keyword(current().kind)) {
      report(current().loc, "expected '}' to close the block");
      return block;
    }
    size_t start = m_pos;
    try {
      parse_statement(*block);
    } catch (const SyntaxError&) {
      synchronize_statement();
      if (m_pos == start && is_statement_keyword(current().kind)) advance();
    }
  }
}

// statement := 'watch'? let_stmt ';' | while_stmt | for_stmt | 'break' ';' | 'continue' ';'
//            | 'return' expression? ';' | 'assert' expression ';' | ';' | expression_stmt
// ('watch' is a word only in front of 'let': elsewhere it names a variable.)
void Parser::parse_statement(Block& block) {
  SourceLoc loc = current().loc;
  switch (current().kind) {
  case TokenKind::Identifier:
    if (current().lexeme == "watch" && peek(1).kind == TokenKind::Let) {
      advance();
      block.stmts.push_back(parse_let());
      block.stmts.back()->watched = true;
      if (!match(TokenKind::Semicolon)) error_expected_semicolon("watch let statement");
      return;
    }
    parse_expression_statement(block);
    return;
  case TokenKind::Let:
    block.stmts.push_back(parse_let());
    if (!match(TokenKind::Semicolon)) error_expected_semicolon("let statement");
    return;
  case TokenKind::While:
    block.stmts.push_back(parse_while());
    match(TokenKind::Semicolon);
    return;
  case TokenKind::For:
    block.stmts.push_back(parse_for());
    match(TokenKind::Semicolon);
    return;
  case TokenKind::Break:
  case TokenKind::Continue: {
    bool is_break = advance().kind == TokenKind::Break;
    block.stmts.push_back(std::make_unique<Stmt>(is_break ? StmtKind::Break : StmtKind::Continue, loc));
    end_statement(is_break ? "'break'" : "'continue'");
    return;
  }
  case TokenKind::Return: {
    advance();
    auto stmt = std::make_unique<Stmt>(StmtKind::Return, loc);
    if (!check(TokenKind::Semicolon) && !check(TokenKind::RightBrace)) stmt->expr = parse_expression();
    block.stmts.push_back(std::move(stmt));
    end_statement("return statement");
    return;
  }
  case TokenKind::Assert: {
    advance();
    auto stmt = std::make_unique<Stmt>(StmtKind::Assert, loc);
    stmt->expr = parse_expression();
    block.stmts.push_back(std::move(stmt));
    end_statement("assert statement");
    return;
  }
  case TokenKind::Semicolon: advance(); return;
  default: parse_expression_statement(block); return;
  }
}

// A statement's ';', which may be left out right before '}'.
void Parser::end_statement(const char* after) {
  if (match(TokenKind::Semicolon) || check(TokenKind::RightBrace)) return;
  error_expected_semicolon(after);
}

// let_stmt := 'let' NAME (':' type)? '=' expression
StmtPtr Parser::parse_let() {
  auto stmt = std::make_unique<Stmt>(StmtKind::Let, advance().loc);
  stmt->text = std::string(consume(TokenKind::Identifier, "expected variable name after 'let'").lexeme);
  if (match(TokenKind::Colon)) stmt->type = parse_type();
  consume(TokenKind::Equal, "expected '=' after variable name");
  stmt->expr = parse_expression();
  return stmt;
}

// while_stmt := 'while' '(' expression ')' block
StmtPtr Parser::parse_while() {
  auto stmt = std::make_unique<Stmt>(StmtKind::While, advance().loc);
  stmt->body = parse_condition_and_block(stmt->expr, "while");
  return stmt;
}

// for_stmt := 'for' '(' 'let' NAME 'in' expression ')' block
//           | 'for' '(' (let_stmt | simple_stmt)? ';' expression? ';' simple_stmt? ')' block
StmtPtr Parser::parse_for() {
  SourceLoc loc = advance().loc;
  consume(TokenKind::LeftParen, "expected '(' after 'for'");
  if (check(TokenKind::Let) && peek(1).kind == TokenKind::Identifier && peek(2).kind == TokenKind::In) {
    auto stmt = std::make_unique<Stmt>(StmtKind::ForIn, loc);
    advance();
    stmt->text = std::string(advance().lexeme);
    advance();
    stmt->expr = parse_expression();
    consume(TokenKind::RightParen, "expected ')' after for-in clause");
    stmt->body = parse_block("expected '{' before loop body");
    return stmt;
  }
  auto stmt = std::make_unique<Stmt>(StmtKind::ForC, loc);
  if (check(TokenKind::Let)) stmt->init = parse_let();
  else if (!check(TokenKind::Semicolon)) stmt->init = parse_simple_statement();
  consume(TokenKind::Semicolon, "expected ';' after for-loop initializer");
  if (!check(TokenKind::Semicolon)) stmt->expr = parse_expression();
  consume(TokenKind::Semicolon, "expected ';' after for-loop condition");
  if (!check(TokenKind::RightParen)) stmt->step = std::move(parse_simple_statement()->expr);
  consume(TokenKind::RightParen, "expected ')' after for-loop clauses");
  stmt->body = parse_block("expected '{' before loop body");
  return stmt;
}

// simple_stmt := expression | assignment
StmtPtr Parser::parse_simple_statement() {
  auto stmt = std::make_unique<Stmt>(StmtKind::Expr, current().loc);
  stmt->expr = parse_expression();
  if (is_assignment_op(current().kind)) stmt->expr = finish_assignment(std::move(stmt->expr));
  return stmt;
}

// assignment := (IDENT | field | index) ('=' | '+=' | '-=' | '*=' | '/=' | '%=' | '&=' | '|=' | '^=' | '<<=' | '>>=') expression
ExprPtr Parser::finish_assignment(ExprPtr target) {
  const Token& op = advance();
  if (target->kind != ExprKind::Ident && target->kind != ExprKind::Field &&
      target->kind != ExprKind::Index) {
    report(target->loc, "invalid assignment target");
  }
  auto assign = make_expr(ExprKind::Assign, op.loc);
  assign->op = assignment_op(op.kind);
  ExprPtr value = parse_expression();
  Op bitwise = bitwise_assignment_op(op.kind);
  if (bitwise != Op::None) {
    ExprPtr lhs = clone_plain_target(*target);
    if (!lhs) error_at(target->loc, "compound bitwise assignment needs a plain target");
    auto combined = make_expr(ExprKind::Binary, op.loc);
    combined->op = bitwise;
    combined->kids.push_back(std::move(lhs));
    combined->kids.push_back(std::move(value));
    value = std::move(combined);
  }
  assign->kids.push_back(std::move(target));
  assign->kids.push_back(std::move(value));
  return assign;
}

// expression_stmt := block_like ';'? | simple_stmt ';' | expression      (the last: the block's tail, before '}')
// block_like := (if_expr | match_expr | block) catch_clause*     (not followed by an operator)
void Parser::parse_expression_statement(Block& block) {
  SourceLoc loc = current().loc;
  bool block_like = check(TokenKind::If) || check(TokenKind::Match) ||
                    (check(TokenKind::LeftBrace) && !looks_like_map_after_brace());
  ExprPtr expr;
  if (block_like) {
    expr = parse_block_like(block_like);
  } else {
    expr = parse_expression();
  }
  bool is_assignment = !block_like && is_assignment_op(current().kind);
  if (is_assignment) expr = finish_assignment(std::move(expr));

  if (check(TokenKind::RightBrace) && !is_assignment) {
    block.tail = std::move(expr);
    return;
  }
  if (!match(TokenKind::Semicolon) && !block_like && !check(TokenKind::RightBrace)) {
    error_expected_semicolon("expression");
  }
  auto stmt = std::make_unique<Stmt>(StmtKind::Expr, loc);
  stmt->expr = std::move(expr);
  block.stmts.push_back(std::move(stmt));
}

// An if, match or block at the start of a statement. It ends the statement
// unless an operator follows (`match (x) { ... } + 1`, as BAML allows); a
// '(' or '[' continues it only on the same line, since on the next line it
// starts a new statement. `block_like` becomes false when it continued.
ExprPtr Parser::parse_block_like(bool& block_like) {
  Nesting nesting(*this);
  ExprPtr expr;
  if (check(TokenKind::LeftBrace)) {
    SourceLoc open = advance().loc;
    expr = make_expr(ExprKind::Block, open);
    expr->block = parse_block_body(open);
  } else if (match(TokenKind::If)) {
    expr = if_expression();
  } else {
    advance();
    expr = match_expression();
  }
  bool same_line = current().loc.line == previous().loc.line;
  bool continues = get_rule(current().kind).infix != nullptr;
  if ((check(TokenKind::LeftParen) || check(TokenKind::LeftBracket)) && !same_line) continues = false;
  if (continues) {
    block_like = false;
    expr = parse_infix_operators(std::move(expr), Precedence::Or, nesting);
  }
  return parse_catch_clauses(std::move(expr), nesting);
}

// ================================================================ expressions

// expression := binary_expression catch_clause*
ExprPtr Parser::parse_expression() {
  Nesting nesting(*this);
  ExprPtr expr = parse_precedence(Precedence::Or);
  return parse_catch_clauses(std::move(expr), nesting);
}

// catch_clause := 'catch' '(' NAME ')' '{' arms '}'
ExprPtr Parser::parse_catch_clauses(ExprPtr guarded, Nesting& nesting) {
  while (check(TokenKind::Catch)) {
    nesting.enter(current().loc);
    auto expr = make_expr(ExprKind::Catch, advance().loc);
    consume(TokenKind::LeftParen, "expected '(' after 'catch'");
    expr->text = std::string(consume(TokenKind::Identifier, "expected a name for the caught error").lexeme);
    consume(TokenKind::RightParen, "expected ')' after the caught error's name");
    expr->kids.push_back(std::move(guarded));
    parse_arms(expr->arms, "catch");
    guarded = std::move(expr);
  }
  return guarded;
}

// binary_expression := prefix_expression (infix_operator binary_expression)*   (by precedence)
ExprPtr Parser::parse_precedence(Precedence precedence) {
  Nesting nesting(*this);
  nesting.enter(current().loc);
  PrefixFn prefix = get_rule(current().kind).prefix;
  if (prefix == nullptr) error_at_current("expected expression");
  advance();
  return parse_infix_operators((this->*prefix)(), precedence, nesting);
}

// Applies infix and postfix operators binding at least as tightly as
// `precedence` to `left`.
ExprPtr Parser::parse_infix_operators(ExprPtr left, Precedence precedence, Nesting& nesting) {
  for (;;) {
    if (check(TokenKind::Identifier) && current().lexeme == "instanceof") {
      // Not BAML (as its compiler says too): one diagnostic, and parsing goes on.
      report(current().loc, "'instanceof' does not exist in BAML: test a value's type with match (x) { Foo => ..., _ => ... }");
      advance();
      if (check(TokenKind::Identifier)) advance();
      left = make_expr(ExprKind::BoolLit, left->loc);
      continue;
    }
    ParseRule rule = get_rule(current().kind);
    if (rule.infix == nullptr || precedence > rule.precedence) return left;
    nesting.enter(current().loc);
    advance();
    left = (this->*rule.infix)(std::move(left));
  }
}

// Whether the '(' just before the current token closes with a ')' that an
// '->' follows: a lambda or a function type, not a parenthesised expression
// or type (neither is ever followed by '->').
bool Parser::parenthesis_then_arrow() const {
  if (m_pos == 0) return false;
  size_t close = m_close[m_pos - 1];
  return close != SIZE_MAX && close + 1 < m_tokens.size() && m_tokens[close + 1].kind == TokenKind::Arrow;
}

// lambda := '(' (NAME (':' type)? (',' NAME (':' type)?)* ','?)? ')' '->' type? ('throws' type)? block
// (a parameter's type may be left out where the lambda is passed as a
// function of known type: the checker says where it cannot be known)
ExprPtr Parser::lambda() {
  auto expr = make_expr(ExprKind::Lambda, previous().loc);
  expr->lambda = std::make_unique<LambdaDecl>();
  LambdaDecl& decl = *expr->lambda;
  while (!check(TokenKind::RightParen)) {
    Param param;
    const Token& name = consume(TokenKind::Identifier, "expected a parameter name");
    param.loc = name.loc;
    param.name = std::string(name.lexeme);
    if (match(TokenKind::Colon)) param.type = parse_type();
    decl.params.push_back(std::move(param));
    if (!match(TokenKind::Comma)) break;
  }
  consume(TokenKind::RightParen, "expected ')' after the lambda's parameters");
  consume(TokenKind::Arrow, "expected '->' after the lambda's parameters");
  if (!check(TokenKind::LeftBrace)) decl.return_type = parse_type();
  if (check(TokenKind::Identifier) && current().lexeme == "throws") {
    advance();
    decl.throws = parse_type();
  }
  decl.body = parse_block("expected '{' and the lambda's body");
  return expr;
}

// spawn := 'spawn' ('with' expression)? block   (the block runs as a task: a lambda of no parameters)
ExprPtr Parser::spawn_expression() {
  auto expr = make_expr(ExprKind::Spawn, previous().loc);
  ExprPtr token;
  if (check(TokenKind::Identifier) && current().lexeme == "with") {
    advance();
    m_no_class_literal = true; // (its first name: `tok {` begins the block)
    token = parse_precedence(Precedence::Unary);
    m_no_class_literal = false;
  }
  auto body = make_expr(ExprKind::Lambda, expr->loc);
  body->lambda = std::make_unique<LambdaDecl>();
  body->lambda->body = parse_block("expected '{' and the spawned block");
  expr->kids.push_back(std::move(body));
  if (token) expr->kids.push_back(std::move(token));
  return expr;
}

// grouping := '(' expression ')' | lambda
ExprPtr Parser::grouping() {
  if (parenthesis_then_arrow()) return lambda();
  ExprPtr inner = parse_expression();
  consume(TokenKind::RightParen, "expected ')' after expression");
  return inner;
}

// array_literal := '[' (expression (',' expression)* ','?)? ']'
ExprPtr Parser::array_literal() {
  auto array = make_expr(ExprKind::ArrayLit, previous().loc);
  while (!check(TokenKind::RightBracket)) {
    array->kids.push_back(parse_expression());
    if (!match(TokenKind::Comma)) break;
  }
  consume(TokenKind::RightBracket, "expected ']' after array elements");
  return array;
}

// brace_expression := map_literal | block    (a map when '{' is followed by '}' or KEY ':')
ExprPtr Parser::brace_expression() {
  SourceLoc open = previous().loc;
  if (looks_like_map_literal()) return parse_map_literal(open);
  auto expr = make_expr(ExprKind::Block, open);
  expr->block = parse_block_body(open);
  return expr;
}

bool Parser::looks_like_map_literal() const {
  if (check(TokenKind::RightBrace)) return true;
  return (check(TokenKind::String) || check(TokenKind::Identifier)) &&
         peek(1).kind == TokenKind::Colon;
}

// With '{' current at the start of a statement: `{ KEY: ...` can only be a
// map (a block cannot start that way); `{}` there stays an empty block.
bool Parser::looks_like_map_after_brace() const {
  return (peek(1).kind == TokenKind::String || peek(1).kind == TokenKind::Identifier) &&
         peek(2).kind == TokenKind::Colon;
}

// map_literal := '{' (KEY ':' expression (',' KEY ':' expression)* ','?)? '}'    KEY := STRING | NAME
ExprPtr Parser::parse_map_literal(SourceLoc open) {
  auto map = make_expr(ExprKind::MapLit, open);
  while (!check(TokenKind::RightBrace)) {
    if (check(TokenKind::String)) map->keys.push_back(current().text);
    else if (check(TokenKind::Identifier)) map->keys.push_back(std::string(current().lexeme));
    else error_at_current("expected a map key (a string or a name)");
    advance();
    consume(TokenKind::Colon, "expected ':' after map key");
    map->kids.push_back(parse_expression());
    if (!match(TokenKind::Comma)) break;
  }
  consume(TokenKind::RightBrace, "expected '}' after map entries");
  return map;
}

// literal := INT | FLOAT | STRING | 'true' | 'false' | 'null'
ExprPtr Parser::literal() {
  const Token& token = previous();
  switch (token.kind) {
  case TokenKind::Int: {
    auto expr = make_expr(ExprKind::IntLit, token.loc);
    expr->int_value = token.int_value;
    return expr;
  }
  case TokenKind::Float: {
    auto expr = make_expr(ExprKind::FloatLit, token.loc);
    expr->float_value = token.float_value;
    return expr;
  }
  case TokenKind::String: {
    auto expr = make_expr(ExprKind::StringLit, token.loc);
    expr->text = token.text;
    return expr;
  }
  case TokenKind::True:
  case TokenKind::False: {
    auto expr = make_expr(ExprKind::BoolLit, token.loc);
    expr->bool_value = token.kind == TokenKind::True;
    return expr;
  }
  default: return make_expr(ExprKind::NullLit, token.loc);
  }
}

// identifier := NAME | class_literal
ExprPtr Parser::identifier() {
  const Token& name = previous();
  // `spawn` and `await` are keywords only where they begin their forms, so
  // older programs may still use them as names.
  if (name.lexeme == "spawn" && (check(TokenKind::LeftBrace) || (check(TokenKind::Identifier) && current().lexeme == "with")))
    return spawn_expression();
  if (name.lexeme == "await") {
    switch (current().kind) {
    case TokenKind::Identifier: case TokenKind::LeftParen: case TokenKind::LeftBracket: case TokenKind::Int:
    case TokenKind::Float: case TokenKind::String: case TokenKind::True: case TokenKind::False: case TokenKind::Null: {
      auto expr = make_expr(ExprKind::Await, name.loc);
      expr->kids.push_back(parse_precedence(Precedence::Unary));
      return expr;
    }
    default: break;
    }
  }
  bool no_literal = m_no_class_literal; // (for this name only: not inside its arguments or brackets)
  m_no_class_literal = false;
  if (check(TokenKind::LeftBrace) && !no_literal && looks_like_class_literal()) return parse_class_literal(name);
  auto expr = make_expr(ExprKind::Ident, name.loc);
  expr->text = std::string(name.lexeme);
  return expr;
}

// After NAME, with '{' current: a class literal when '{' is followed by '}',
// NAME ':' or a spread.
bool Parser::looks_like_class_literal() const {
  const Token& next = peek(1);
  if (next.kind == TokenKind::RightBrace || next.kind == TokenKind::Dot) return true;
  return (next.kind == TokenKind::Identifier || is_keyword(next.kind)) &&
         peek(2).kind == TokenKind::Colon;
}

// class_literal := NAME '{' (field_init (',' field_init)* ','?)? '}'
// field_init := NAME ':' expression | '...' expression     (a spread: key "...")
ExprPtr Parser::parse_class_literal(const Token& name) { return parse_class_literal(std::string(name.lexeme), name.loc); }

ExprPtr Parser::parse_class_literal(std::string name, SourceLoc loc) {
  auto lit = make_expr(ExprKind::ClassLit, loc);
  lit->text = std::move(name);
  advance(); // '{'
  while (!check(TokenKind::RightBrace)) {
    if (check(TokenKind::Dot)) {
      SourceLoc at = current().loc;
      int dots = 0;
      while (match(TokenKind::Dot)) dots++;
      if (dots != 3) report(at, "expected '...' before a spread");
      lit->keys.push_back("...");
      lit->kids.push_back(parse_expression());
    } else {
      lit->keys.push_back(std::string(consume_name("expected a field name").lexeme));
      consume(TokenKind::Colon, "expected ':' after field name");
      lit->kids.push_back(parse_expression());
    }
    if (!match(TokenKind::Comma)) break;
  }
  consume(TokenKind::RightBrace, "expected '}' after class literal fields");
  return lit;
}

// unary := ('-' | '!' | '~') unary_operand     (operand binds tighter than any binary operator)
ExprPtr Parser::unary() {
  const Token& op = previous();
  auto expr = make_expr(ExprKind::Unary, op.loc);
  expr->op = op.kind == TokenKind::Minus ? Op::Minus
           : op.kind == TokenKind::Bang  ? Op::Not
                                         : Op::BitNot;
  expr->kids.push_back(parse_precedence(Precedence::Unary));
  return expr;
}

// binary := expression OP expression
ExprPtr Parser::binary(ExprPtr left) {
  const Token& op = previous();
  auto expr = make_expr(ExprKind::Binary, op.loc);
  expr->op = binary_op(op.kind);
  Precedence precedence = get_rule(op.kind).precedence;
  expr->kids.push_back(std::move(left));
  expr->kids.push_back(parse_precedence(next_higher(precedence)));
  return expr;
}

// arguments := (expression (',' expression)* ','?)? ')'
void Parser::parse_arguments(Expr& call) {
  while (!check(TokenKind::RightParen)) {
    call.kids.push_back(parse_expression());
    if (!match(TokenKind::Comma)) break;
  }
  consume(TokenKind::RightParen, "expected ')' after arguments");
}

// call := expression '(' arguments
ExprPtr Parser::call(ExprPtr left) {
  auto expr = make_expr(ExprKind::Call, left->loc);
  expr->kids.push_back(std::move(left));
  parse_arguments(*expr);
  return expr;
}

// index := expression '[' expression ']'
ExprPtr Parser::index(ExprPtr left) {
  auto expr = make_expr(ExprKind::Index, previous().loc);
  expr->kids.push_back(std::move(left));
  expr->kids.push_back(parse_expression());
  consume(TokenKind::RightBracket, "expected ']' after index");
  return expr;
}

// dot := expression '.' NAME ('(' arguments)?     (a method call when arguments follow)
ExprPtr Parser::dot(ExprPtr left) {
  const Token& name = consume_name("expected a field or method name after '.'");
  // A class of BAML's own, by its qualified name: baml.WatchOptions { when: f }.
  if (left->kind == ExprKind::Ident && left->text == "baml" && check(TokenKind::LeftBrace) && looks_like_class_literal())
    return parse_class_literal("baml." + std::string(name.lexeme), left->loc);
  bool is_method = match(TokenKind::LeftParen);
  auto expr = make_expr(is_method ? ExprKind::MethodCall : ExprKind::Field, name.loc);
  expr->text = std::string(name.lexeme);
  expr->kids.push_back(std::move(left));
  if (is_method) parse_arguments(*expr);
  return expr;
}

// '(' expression ')' block, as in `if` and `while`.
std::unique_ptr<Block> Parser::parse_condition_and_block(ExprPtr& cond, const char* keyword) {
  consume(TokenKind::LeftParen, (std::string("expected '(' after '") + keyword + "'").c_str());
  cond = parse_expression();
  consume(TokenKind::RightParen, "expected ')' after condition");
  return parse_block((std::string("expected '{' after ") + keyword + " condition").c_str());
}

// if_expr := 'if' '(' expression ')' block ('else' (if_expr | block))?
ExprPtr Parser::if_expression() {
  Nesting nesting(*this);
  nesting.enter(previous().loc);
  auto expr = make_expr(ExprKind::If, previous().loc);
  ExprPtr cond;
  expr->block = parse_condition_and_block(cond, "if");
  expr->kids.push_back(std::move(cond));
  if (match(TokenKind::Else)) {
    if (match(TokenKind::If)) {
      expr->else_expr = if_expression();
    } else {
      SourceLoc open = current().loc;
      auto else_block = make_expr(ExprKind::Block, open);
      else_block->block = parse_block("expected '{' or 'if' after 'else'");
      expr->else_expr = std::move(else_block);
    }
  }
  return expr;
}

// match_expr := 'match' '(' expression (':' type)? ')' '{' arms '}'
ExprPtr Parser::match_expression() {
  auto expr = make_expr(ExprKind::Match, previous().loc);
  consume(TokenKind::LeftParen, "expected '(' after 'match'");
  expr->kids.push_back(parse_expression());
  if (match(TokenKind::Colon)) expr->type_annotation = parse_type();
  consume(TokenKind::RightParen, "expected ')' after match scrutinee");
  parse_arms(expr->arms, "match");
  return expr;
}

// arms := '{' (arm ','?)* '}'    arm := pattern ('if' expression)? '=>' expression
// (the ',' may be left out only after a braced body or before '}')
void Parser::parse_arms(std::vector<MatchArm>& arms, const char* what) {
  consume(TokenKind::LeftBrace, (std::string("expected '{' before ") + what + " arms").c_str());
  while (!check(TokenKind::RightBrace)) {
    try {
      MatchArm arm;
      arm.loc = current().loc;
      arm.pattern = parse_pattern();
      if (match(TokenKind::If)) arm.guard = parse_expression();
      consume(TokenKind::FatArrow, "expected '=>' after pattern");
      arm.body = parse_expression();
      bool braced = arm.body->kind == ExprKind::Block;
      arms.push_back(std::move(arm));
      if (!match(TokenKind::Comma) && !braced && !check(TokenKind::RightBrace)) {
        error_at(after_previous(), std::string("expected ',' after ") + what + " arm");
      }
    } catch (const SyntaxError&) {
      if (!synchronize_arm()) throw;
    }
  }
  advance(); // '}'
}

// Skips the rest of a broken arm: past its ',' or up to the arms' '}'.
// Returns false (leaving recovery to the statement level) when a statement
// or declaration keyword shows the arms are not closed.
bool Parser::synchronize_arm() {
  int depth = 0;
  for (;;) {
    TokenKind kind = current().kind;
    if (kind == TokenKind::Eof || is_declaration_keyword(kind)) return false;
    if (depth == 0) {
      if (kind == TokenKind::RightBrace) return true;
      if (is_statement_keyword(kind)) return false;
    }
    advance();
    if (kind == TokenKind::LeftBrace) depth++;
    else if (kind == TokenKind::RightBrace) depth--;
    else if (kind == TokenKind::Comma && depth == 0) return true;
  }
}

// throw_expr := 'throw' binary_expression
ExprPtr Parser::throw_expression() {
  auto expr = make_expr(ExprKind::Throw, previous().loc);
  expr->kids.push_back(parse_precedence(Precedence::Or));
  return expr;
}

} // namespace

// The whole file is lexed first (the parser looks up to three tokens ahead);
// lexical and syntax errors are then reported together in source order.
HostSignature parse_host_signature(std::string_view signature, Diagnostics& diags) {
  Parser parser(tokenize(signature, diags), diags);
  return parser.parse_host_signature();
}

Program parse_program(std::string_view source, Diagnostics& diags) {
  Diagnostics lex_diags(diags.file());
  Diagnostics parse_diags(diags.file());
  Parser parser(tokenize(source, lex_diags), parse_diags);
  Program program = parser.parse_program();

  std::vector<Diagnostic> all = lex_diags.items();
  all.insert(all.end(), parse_diags.items().begin(), parse_diags.items().end());
  std::stable_sort(all.begin(), all.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return a.loc.line != b.loc.line ? a.loc.line < b.loc.line : a.loc.column < b.loc.column;
  });
  for (Diagnostic& d : all) diags.error(d.loc, std::move(d.message));
  return program;
}

} // namespace brake::lang
