// lexer.h: source text -> tokens.
//
// The lexer reports malformed tokens (unterminated strings and comments, bad
// escapes, out-of-range integers, stray characters) into the Diagnostics and
// keeps going, so the parser still sees the rest of the file. Tokens point
// into the source text, which must outlive them.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "diagnostics.h"
#include "token.h"

namespace brake::lang {

class Lexer {
public:
  Lexer(std::string_view source, Diagnostics& diags);

  // The next token; Eof forever once the input is exhausted. A token is
  // marked malformed when an error was reported while lexing it (or just
  // before it), so the parser can stay quiet about the consequences.
  Token next_token();
  // A constraint's {{ expression }} (tokenize knows when one may start).
  bool at_jinja();
  Token lex_jinja();

private:
  Token scan_token();
  char peek(size_t ahead = 0) const;
  char advance();
  bool match(char expected);
  // Location of `offset`, which must lie on the current line.
  SourceLoc loc_at(size_t offset) const;
  void newline_at(size_t offset);

  void skip_whitespace_and_comments();
  Token make(TokenKind kind, size_t start, SourceLoc loc) const;
  Token lex_identifier(size_t start, SourceLoc loc);
  Token lex_number(size_t start, SourceLoc loc);
  Token lex_string(size_t start, SourceLoc loc);
  Token lex_raw_string(size_t start, SourceLoc loc, size_t hashes);
  void lex_escape(std::string& out);
  void lex_unicode_escape(std::string& out, size_t escape_start);
  Token lex_punctuation(size_t start, SourceLoc loc, char c);

  std::string_view m_source;
  Diagnostics& m_diags;
  size_t m_pos = 0;
  size_t m_line_start = 0; // offset of the first byte of the current line
  uint32_t m_line = 1;
};

// Lexes the whole source; the last token is always Eof.
std::vector<Token> tokenize(std::string_view source, Diagnostics& diags);

} // namespace brake::lang
