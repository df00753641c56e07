// token.h: the tokens the lexer produces and the parser consumes.
//
// The token list is one X-macro (kind, spelling) so the enum and the names
// used in messages cannot drift apart.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ast.h"

namespace brake::lang {

// Keywords come first among the word tokens; `map`, `int`, `self`, `client`
// and friends are plain identifiers whose meaning the parser decides by
// position.
#define BRAKE_TOKENS(X)                                                        \
  /* punctuation */                                                            \
  X(LeftParen, "(")                                                            \
  X(RightParen, ")")                                                           \
  X(LeftBrace, "{")                                                            \
  X(RightBrace, "}")                                                           \
  X(LeftBracket, "[")                                                          \
  X(RightBracket, "]")                                                         \
  X(Comma, ",")                                                                \
  X(Semicolon, ";")                                                            \
  X(Colon, ":")                                                                \
  X(Dot, ".")                                                                  \
  X(FatArrow, "=>")                                                            \
  X(Arrow, "->")                                                               \
  X(Question, "?")                                                             \
  X(At, "@")                                                                   \
  X(AtAt, "@@")                                                                \
  X(Hash, "#")                                                                 \
  /* {{ expr }} as a constraint's argument (@check, @assert): text is expr */  \
  X(Jinja, "{{ expression }}")                                                 \
  /* operators */                                                              \
  X(Plus, "+")                                                                 \
  X(Minus, "-")                                                                \
  X(Star, "*")                                                                 \
  X(Slash, "/")                                                                \
  X(Percent, "%")                                                              \
  X(EqualEqual, "==")                                                          \
  X(BangEqual, "!=")                                                           \
  X(Less, "<")                                                                 \
  X(LessEqual, "<=")                                                           \
  X(Greater, ">")                                                              \
  X(GreaterEqual, ">=")                                                        \
  X(AmpAmp, "&&")                                                              \
  X(PipePipe, "||")                                                            \
  X(Bang, "!")                                                                 \
  X(Amp, "&")                                                                  \
  X(Pipe, "|")                                                                 \
  X(Caret, "^")                                                                \
  X(Tilde, "~")                                                                \
  X(LessLess, "<<")                                                            \
  X(GreaterGreater, ">>")                                                      \
  X(Equal, "=")                                                                \
  X(PlusEqual, "+=")                                                           \
  X(MinusEqual, "-=")                                                          \
  X(StarEqual, "*=")                                                           \
  X(SlashEqual, "/=")                                                          \
  X(PercentEqual, "%=")                                                        \
  X(AmpEqual, "&=")                                                            \
  X(PipeEqual, "|=")                                                           \
  X(CaretEqual, "^=")                                                          \
  X(LessLessEqual, "<<=")                                                      \
  X(GreaterGreaterEqual, ">>=")                                                \
  /* literals and names */                                                     \
  X(Int, "integer")                                                            \
  X(Float, "float")                                                            \
  X(String, "string")                                                          \
  X(Identifier, "identifier")                                                  \
  /* keywords */                                                               \
  X(Function, "function")                                                      \
  X(Let, "let")                                                                \
  X(If, "if")                                                                  \
  X(Else, "else")                                                              \
  X(While, "while")                                                            \
  X(For, "for")                                                                \
  X(In, "in")                                                                  \
  X(Break, "break")                                                            \
  X(Continue, "continue")                                                      \
  X(Return, "return")                                                          \
  X(True, "true")                                                              \
  X(False, "false")                                                            \
  X(Null, "null")                                                              \
  X(Match, "match")                                                            \
  X(Class, "class")                                                            \
  X(Enum, "enum")                                                              \
  X(Type, "type")                                                              \
  X(Throw, "throw")                                                            \
  X(Catch, "catch")                                                            \
  X(Assert, "assert")                                                          \
  /* end of input */                                                           \
  X(Eof, "end of file")

enum class TokenKind : uint8_t {
#define BRAKE_TOKEN_ENUM(name, spelling) name,
  BRAKE_TOKENS(BRAKE_TOKEN_ENUM)
#undef BRAKE_TOKEN_ENUM
};

// How a token is spelled in messages: "(" for punctuation, "integer" for a
// literal class, the keyword itself for keywords.
inline const char* token_spelling(TokenKind kind) {
  switch (kind) {
#define BRAKE_TOKEN_SPELLING(name, spelling)                                   \
  case TokenKind::name: return spelling;
    BRAKE_TOKENS(BRAKE_TOKEN_SPELLING)
#undef BRAKE_TOKEN_SPELLING
  }
  return "?";
}

inline bool is_keyword(TokenKind kind) {
  return kind >= TokenKind::Function && kind <= TokenKind::Assert;
}

struct Token {
  TokenKind kind = TokenKind::Eof;
  SourceLoc loc;
  std::string_view lexeme; // the source bytes (points into the source text)
  std::string text;        // String: the value with escapes resolved
  int64_t int_value = 0;   // Int (0 when the literal was out of range)
  double float_value = 0.0;
  bool malformed = false;  // the lexer reported an error inside this token
};

} // namespace brake::lang
