// lexer.cpp: source text -> tokens. See lexer.h for the contract.
#include "lang/lexer.h"

#include <charconv>
#include <cstring>

#include "common/utf8.h"

namespace brake::lang {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

struct Keyword {
  const char* word;
  TokenKind kind;
};

const Keyword kKeywords[] = {
    {"function", TokenKind::Function}, {"let", TokenKind::Let},
    {"if", TokenKind::If},             {"else", TokenKind::Else},
    {"while", TokenKind::While},       {"for", TokenKind::For},
    {"in", TokenKind::In},             {"break", TokenKind::Break},
    {"continue", TokenKind::Continue}, {"return", TokenKind::Return},
    {"true", TokenKind::True},         {"false", TokenKind::False},
    {"null", TokenKind::Null},         {"match", TokenKind::Match},
    {"class", TokenKind::Class},       {"enum", TokenKind::Enum},
    {"type", TokenKind::Type},         {"throw", TokenKind::Throw},
    {"catch", TokenKind::Catch},       {"assert", TokenKind::Assert},
};


bool is_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

} // namespace

Lexer::Lexer(std::string_view source, Diagnostics& diags)
    : m_source(source), m_diags(diags) {}

char Lexer::peek(size_t ahead) const {
  size_t at = m_pos + ahead;
  return at < m_source.size() ? m_source[at] : '\0';
}

char Lexer::advance() { return m_source[m_pos++]; }

bool Lexer::match(char expected) {
  if (m_pos >= m_source.size() || m_source[m_pos] != expected) return false;
  m_pos++;
  return true;
}

SourceLoc Lexer::loc_at(size_t offset) const {
  return SourceLoc{m_line, static_cast<uint32_t>(offset - m_line_start + 1)};
}

// Called after consuming the '\n' at `offset`.
void Lexer::newline_at(size_t offset) {
  m_line++;
  m_line_start = offset + 1;
}

Token Lexer::make(TokenKind kind, size_t start, SourceLoc loc) const {
  Token token;
  token.kind = kind;
  token.loc = loc;
  token.lexeme = m_source.substr(start, m_pos - start);
  return token;
}

void Lexer::skip_whitespace_and_comments() {
  while (m_pos < m_source.size()) {
    char c = peek();
    if (c == '\n') {
      advance();
      newline_at(m_pos - 1);
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      advance();
    } else if (c == '/' && peek(1) == '/') {
      while (m_pos < m_source.size() && peek() != '\n') advance();
    } else if (c == '/' && peek(1) == '*') {
      SourceLoc start = loc_at(m_pos);
      m_pos += 2;
      for (;;) {
        if (m_pos >= m_source.size()) {
          m_diags.error(start, "unterminated block comment");
          return;
        }
        char d = advance();
        if (d == '\n') newline_at(m_pos - 1);
        else if (d == '*' && match('/')) break;
      }
    } else {
      return;
    }
  }
}

Token Lexer::next_token() {
  size_t errors_before = m_diags.size();
  Token token = scan_token();
  token.malformed = m_diags.size() != errors_before;
  return token;
}

Token Lexer::scan_token() {
  for (;;) {
    skip_whitespace_and_comments();
    size_t start = m_pos;
    SourceLoc loc = loc_at(start);
    if (m_pos >= m_source.size()) return make(TokenKind::Eof, start, loc);

    char c = advance();
    if (is_ident_start(c)) return lex_identifier(start, loc);
    // `$watch` (x.$watch.options(...)): a name of BAML's own, never a variable's.
    if (c == '$' && is_ident_start(peek())) return lex_identifier(start, loc);
    if (is_digit(c)) return lex_number(start, loc);
    if (c == '"') return lex_string(start, loc);
    if (c == '#') {
      size_t hashes = 1;
      while (peek(hashes - 1) == '#') hashes++;
      if (peek(hashes - 1) == '"') {
        m_pos += hashes; // the remaining '#'s and the quote
        return lex_raw_string(start, loc, hashes);
      }
      return make(TokenKind::Hash, start, loc);
    }
    Token token = lex_punctuation(start, loc, c);
    if (token.kind != TokenKind::Eof) return token;

    // A stray character: report it once (a whole UTF-8 sequence at a time)
    // and keep lexing.
    if (static_cast<unsigned char>(c) >= 0x80) {
      while (m_pos < m_source.size() &&
             (static_cast<unsigned char>(peek()) & 0xC0) == 0x80) {
        advance();
      }
      m_diags.error(loc, "unexpected character");
    } else {
      m_diags.error(loc, std::string("unexpected character '") + c + "'");
    }
  }
}

Token Lexer::lex_identifier(size_t start, SourceLoc loc) {
  while (is_ident_char(peek())) advance();
  Token token = make(TokenKind::Identifier, start, loc);
  for (const Keyword& kw : kKeywords) {
    if (token.lexeme == kw.word) {
      token.kind = kw.kind;
      break;
    }
  }
  return token;
}

// int := digits | 0x hexdigits | 0b bindigits ; float := digits '.' digits? exponent? | digits exponent
// ('_' separators allowed after the first digit; a '.' must be followed by a digit)
Token Lexer::lex_number(size_t start, SourceLoc loc) {
  int base = 10;
  bool is_float = false;
  if (m_source[start] == '0' && (peek() == 'x' || peek() == 'X')) {
    base = 16;
    advance();
    while (is_hex_digit(peek()) || peek() == '_') advance();
  } else if (m_source[start] == '0' && (peek() == 'b' || peek() == 'B')) {
    base = 2;
    advance();
    while (peek() == '0' || peek() == '1' || peek() == '_') advance();
  } else {
    while (is_digit(peek()) || peek() == '_') advance();
    if (peek() == '.' && is_digit(peek(1))) {
      is_float = true;
      advance();
      while (is_digit(peek()) || peek() == '_') advance();
    }
    if ((peek() == 'e' || peek() == 'E') &&
        (is_digit(peek(1)) ||
         ((peek(1) == '+' || peek(1) == '-') && is_digit(peek(2))))) {
      is_float = true;
      advance();
      if (peek() == '+' || peek() == '-') advance();
      while (is_digit(peek()) || peek() == '_') advance();
    }
  }
  bool malformed = false;
  while (is_ident_char(peek())) { // `12abc`, `0b102`, `0xZ`
    advance();
    malformed = true;
  }

  Token token = make(is_float ? TokenKind::Float : TokenKind::Int, start, loc);
  std::string digits;
  for (char d : token.lexeme.substr(base == 10 ? 0 : 2)) {
    if (d != '_') digits += d;
  }
  if (malformed || digits.empty()) {
    m_diags.error(loc, "invalid number literal '" + std::string(token.lexeme) + "'");
    return token;
  }
  if (is_float) {
    auto result = std::from_chars(digits.data(), digits.data() + digits.size(),
                                  token.float_value);
    if (result.ec != std::errc()) {
      m_diags.error(loc, "float literal out of range");
      token.float_value = 0.0;
    }
    return token;
  }
  uint64_t value = 0;
  for (char d : digits) {
    uint64_t digit = static_cast<uint64_t>(hex_value(d));
    if (value > (UINT64_MAX - digit) / static_cast<uint64_t>(base)) {
      value = UINT64_MAX;
      break;
    }
    value = value * static_cast<uint64_t>(base) + digit;
  }
  if (value > static_cast<uint64_t>(INT64_MAX)) {
    m_diags.error(loc, "integer literal too large");
    value = 0;
  }
  token.int_value = static_cast<int64_t>(value);
  return token;
}

// string := '"' (char | escape)* '"'   (no raw newlines)
Token Lexer::lex_string(size_t start, SourceLoc loc) {
  std::string value;
  for (;;) {
    if (m_pos >= m_source.size() || peek() == '\n') {
      m_diags.error(loc, "unterminated string");
      break;
    }
    char c = advance();
    if (c == '"') break;
    if (c == '\\') {
      lex_escape(value);
    } else {
      value += c;
    }
  }
  Token token = make(TokenKind::String, start, loc);
  token.text = std::move(value);
  return token;
}

// escape := '\' ( n t r 0 \ " ' | u{hex+} | u hex hex hex hex )
void Lexer::lex_escape(std::string& out) {
  size_t escape_start = m_pos - 1;
  char c = peek();
  if (c == '\n' || c == '\0') return; // reported as an unterminated string
  advance();
  switch (c) {
  case 'n': out += '\n'; return;
  case 't': out += '\t'; return;
  case 'r': out += '\r'; return;
  case '0': out += '\0'; return;
  case '\\': out += '\\'; return;
  case '"': out += '"'; return;
  case '\'': out += '\''; return;
  case 'u': lex_unicode_escape(out, escape_start); return;
  default: break;
  }
  std::string shown(1, c);
  if (static_cast<unsigned char>(c) >= 0x80) {
    while ((static_cast<unsigned char>(peek()) & 0xC0) == 0x80) shown += advance();
  }
  m_diags.error(loc_at(escape_start), "unknown escape sequence '\\" + shown + "'");
}

// After `\u`: `{1F600}` (1-6 hex digits) or exactly four hex digits; a
// high surrogate written as \uXXXX may be followed by its low half.
void Lexer::lex_unicode_escape(std::string& out, size_t escape_start) {
  SourceLoc loc = loc_at(escape_start);
  uint32_t cp = 0;
  if (match('{')) {
    size_t count = 0;
    while (is_hex_digit(peek())) {
      if (count < 7) cp = cp * 16 + static_cast<uint32_t>(hex_value(peek()));
      advance();
      count++;
    }
    if (count == 0 || count > 6 || !match('}')) {
      m_diags.error(loc, "invalid unicode escape");
      return;
    }
  } else {
    for (int i = 0; i < 4; i++) {
      if (!is_hex_digit(peek())) {
        m_diags.error(loc, "invalid unicode escape");
        return;
      }
      cp = cp * 16 + static_cast<uint32_t>(hex_value(advance()));
    }
    if (cp >= 0xD800 && cp <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
      uint32_t low = 0;
      bool ok = true;
      for (size_t i = 2; i < 6; i++) {
        if (!is_hex_digit(peek(i))) ok = false;
        else low = low * 16 + static_cast<uint32_t>(hex_value(peek(i)));
      }
      if (ok && low >= 0xDC00 && low <= 0xDFFF) {
        m_pos += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
    }
  }
  if (cp > 0x10FFFF || is_surrogate(cp)) {
    m_diags.error(loc, "invalid unicode escape");
    return;
  }
  append_utf8(out, cp);
}

// raw_string := '#'{n} '"' anything '"' '#'{n}   (may span lines, no escapes)
Token Lexer::lex_raw_string(size_t start, SourceLoc loc, size_t hashes) {
  size_t content_start = m_pos;
  for (;;) {
    if (m_pos >= m_source.size()) {
      m_diags.error(loc, "unterminated raw string");
      Token token = make(TokenKind::String, start, loc);
      token.text = std::string(m_source.substr(content_start));
      return token;
    }
    char c = advance();
    if (c == '\n') {
      newline_at(m_pos - 1);
    } else if (c == '"') {
      size_t n = 0;
      while (n < hashes && peek(n) == '#') n++;
      if (n == hashes) {
        size_t content_end = m_pos - 1;
        m_pos += hashes;
        Token token = make(TokenKind::String, start, loc);
        token.text = std::string(m_source.substr(content_start, content_end - content_start));
        return token;
      }
    }
  }
}

// Returns an Eof token when `c` starts no punctuation or operator.
Token Lexer::lex_punctuation(size_t start, SourceLoc loc, char c) {
  TokenKind kind = TokenKind::Eof;
  switch (c) {
  case '(': kind = TokenKind::LeftParen; break;
  case ')': kind = TokenKind::RightParen; break;
  case '{': kind = TokenKind::LeftBrace; break;
  case '}': kind = TokenKind::RightBrace; break;
  case '[': kind = TokenKind::LeftBracket; break;
  case ']': kind = TokenKind::RightBracket; break;
  case ',': kind = TokenKind::Comma; break;
  case ';': kind = TokenKind::Semicolon; break;
  case ':': kind = TokenKind::Colon; break;
  case '.': kind = TokenKind::Dot; break;
  case '?': kind = TokenKind::Question; break;
  case '^': kind = match('=') ? TokenKind::CaretEqual : TokenKind::Caret; break;
  case '~': kind = TokenKind::Tilde; break;
  case '@': kind = match('@') ? TokenKind::AtAt : TokenKind::At; break;
  case '+': kind = match('=') ? TokenKind::PlusEqual : TokenKind::Plus; break;
  case '*': kind = match('=') ? TokenKind::StarEqual : TokenKind::Star; break;
  case '/': kind = match('=') ? TokenKind::SlashEqual : TokenKind::Slash; break;
  case '%': kind = match('=') ? TokenKind::PercentEqual : TokenKind::Percent; break;
  case '!': kind = match('=') ? TokenKind::BangEqual : TokenKind::Bang; break;
  case '-':
    kind = match('=') ? TokenKind::MinusEqual
         : match('>') ? TokenKind::Arrow
                      : TokenKind::Minus;
    break;
  case '=':
    kind = match('=') ? TokenKind::EqualEqual
         : match('>') ? TokenKind::FatArrow
                      : TokenKind::Equal;
    break;
  case '<':
    kind = match('=') ? TokenKind::LessEqual
         : match('<') ? (match('=') ? TokenKind::LessLessEqual : TokenKind::LessLess)
                      : TokenKind::Less;
    break;
  case '>':
    kind = match('=') ? TokenKind::GreaterEqual
         : match('>') ? (match('=') ? TokenKind::GreaterGreaterEqual : TokenKind::GreaterGreater)
                      : TokenKind::Greater;
    break;
  case '&':
    kind = match('&') ? TokenKind::AmpAmp : match('=') ? TokenKind::AmpEqual : TokenKind::Amp;
    break;
  case '|':
    kind = match('|') ? TokenKind::PipePipe : match('=') ? TokenKind::PipeEqual : TokenKind::Pipe;
    break;
  default: break;
  }
  return make(kind, start, loc);
}

namespace {
// Whether `tokens` end where a constraint's {{ expression }} may start:
// `@check(` / `@assert(`, or those and `name,`.
bool before_constraint(const std::vector<Token>& tokens) {
  size_t n = tokens.size();
  auto is = [&](size_t back, TokenKind kind) { return n >= back && tokens[n - back].kind == kind; };
  auto constraint = [&](size_t back) {
    return n >= back + 1 && (tokens[n - back].lexeme == "check" || tokens[n - back].lexeme == "assert") &&
           (tokens[n - back - 1].kind == TokenKind::At || tokens[n - back - 1].kind == TokenKind::AtAt);
  };
  if (is(1, TokenKind::LeftParen) && constraint(2)) return true;
  return is(1, TokenKind::Comma) && is(2, TokenKind::Identifier) && is(3, TokenKind::LeftParen) && constraint(4);
}
} // namespace

// The Jinja expression of {{ ... }} up to its closing }} (outside quotes),
// kept as written: BAML's escapes and Jinja's are not the same.
Token Lexer::lex_jinja() {
  skip_whitespace_and_comments();
  size_t start = m_pos;
  SourceLoc loc = loc_at(start);
  m_pos += 2;
  char quote = 0;
  while (m_pos < m_source.size()) {
    char c = m_source[m_pos];
    if (c == '\n') newline_at(m_pos); // inside quotes too: lines stay counted
    if (quote) {
      if (c == '\\' && m_pos + 1 < m_source.size() && m_source[m_pos + 1] != '\n') m_pos++; // an escaped character
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '}' && peek(1) == '}') {
      break;
    }
    m_pos++;
  }
  Token token = make(TokenKind::Jinja, start, loc);
  if (m_pos >= m_source.size()) {
    m_diags.error(loc, "unterminated {{ in a constraint (expected }})");
    return token;
  }
  std::string_view inner = m_source.substr(start + 2, m_pos - start - 2);
  m_pos += 2;
  token.lexeme = m_source.substr(start, m_pos - start);
  while (!inner.empty() && (inner.front() == ' ' || inner.front() == '\t' || inner.front() == '\n' || inner.front() == '\r'))
    inner.remove_prefix(1);
  while (!inner.empty() && (inner.back() == ' ' || inner.back() == '\t' || inner.back() == '\n' || inner.back() == '\r'))
    inner.remove_suffix(1);
  token.text = std::string(inner);
  return token;
}

bool Lexer::at_jinja() {
  skip_whitespace_and_comments();
  return peek() == '{' && peek(1) == '{';
}

std::vector<Token> tokenize(std::string_view source, Diagnostics& diags) {
  Lexer lexer(source, diags);
  std::vector<Token> tokens;
  for (;;) {
    if (before_constraint(tokens) && lexer.at_jinja()) tokens.push_back(lexer.lex_jinja());
    else tokens.push_back(lexer.next_token());
    if (tokens.back().kind == TokenKind::Eof) return tokens;
  }
}

} // namespace brake::lang
