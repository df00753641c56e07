// template_parse.cpp: compile_template: the text (dedented and trimmed for
// prompts), the lexer (tags, whitespace control, trim_blocks and
// lstrip_blocks as BAML's minijinja environment sets them), and a
// recursive-descent parser with Jinja's precedence, which also checks every
// name against the scope.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/utf8.h"
#include "llm/template_ast.h"
#include "llm/template_names.h"

namespace brake::llm {

using namespace tmpl;

namespace {

// Expressions and blocks nested deeper than these are compile errors, so
// parsing, evaluating and freeing a template never overflow the native
// stack: blocks, nested sub-expressions (parentheses, arguments, list
// items), and the height of an expression's tree.
constexpr int kMaxNesting = 64;
constexpr int kMaxExprNesting = 128;
constexpr uint32_t kMaxExprHeight = 256;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// ---------------------------------------------------------------- source

// The text parsed, and where each of its bytes is in the file.
struct Source {
  std::string text;
  std::vector<uint32_t> origin; // per byte of text (+1 for its end): offset in `original`
  std::vector<size_t> line_starts; // offsets in `original`
  lang::SourceLoc at;

  lang::SourceLoc loc(size_t off) const {
    size_t o = origin[std::min(off, origin.size() - 1)];
    size_t line = size_t(std::upper_bound(line_starts.begin(), line_starts.end(), o) - line_starts.begin()) - 1;
    lang::SourceLoc r;
    r.line = uint32_t(at.line + line);
    r.column = uint32_t(o - line_starts[line] + 1 + (line == 0 ? at.column - 1 : 0));
    return r;
  }
};

void build_source(std::string_view original, lang::SourceLoc at, TemplateWhitespace ws, Source& src) {
  src.at = at;
  src.line_starts.push_back(0);
  for (size_t i = 0; i < original.size(); i++)
    if (original[i] == '\n') src.line_starts.push_back(i + 1);
  if (ws == TemplateWhitespace::Keep) {
    src.text = std::string(original);
    src.origin.resize(original.size() + 1);
    for (size_t i = 0; i <= original.size(); i++) src.origin[i] = uint32_t(i);
    return;
  }
  // Dedent: the smallest indentation of the non-blank lines comes off every line.
  size_t indent = SIZE_MAX;
  for (size_t b = 0; b <= original.size();) {
    size_t e = original.find('\n', b);
    if (e == std::string_view::npos) e = original.size();
    size_t k = b;
    while (k < e && is_space(original[k])) k++;
    if (k < e) indent = std::min(indent, k - b);
    b = e + 1;
  }
  if (indent == SIZE_MAX) indent = 0;
  std::string text;
  std::vector<uint32_t> origin;
  text.reserve(original.size());
  origin.reserve(original.size() + 1);
  for (size_t b = 0; b <= original.size();) {
    size_t e = original.find('\n', b);
    if (e == std::string_view::npos) e = original.size();
    size_t k = b + std::min(indent, e - b);
    for (; k < e; k++) {
      text += original[k];
      origin.push_back(uint32_t(k));
    }
    if (e < original.size()) {
      text += '\n';
      origin.push_back(uint32_t(e));
    }
    b = e + 1;
  }
  // Trim.
  size_t first = 0, last = text.size();
  while (first < last && is_space(text[first])) first++;
  while (last > first && is_space(text[last - 1])) last--;
  src.text = text.substr(first, last - first);
  src.origin.assign(origin.begin() + long(first), origin.begin() + long(last));
  src.origin.push_back(last > first ? origin[last - 1] + 1 : uint32_t(original.size()));
}

// ---------------------------------------------------------------- tokens

enum class Tok : uint8_t { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, Int, Float, String, Op, Eof };

struct Token {
  Tok kind = Tok::Eof;
  uint32_t pos = 0;
  std::string text; // Text, Name, String (unescaped), Op
  int64_t i = 0;
  double f = 0;
};

class Lexer {
public:
  Lexer(const Source& src, lang::Diagnostics& diags) : m_s(src.text), m_src(src), m_diags(diags) {}

  std::vector<Token> run() {
    size_t i = 0;
    const size_t n = m_s.size();
    while (i < n) {
      size_t j = next_tag(i);
      if (j == std::string::npos) {
        text(i, n);
        break;
      }
      char kind = m_s[j + 1];
      char left = j + 2 < n ? m_s[j + 2] : 0;
      bool minus = left == '-', plus = left == '+';
      size_t text_end = j;
      if (minus) {
        while (text_end > i && is_space(m_s[text_end - 1])) text_end--;
      } else if (kind != '{' && !plus) {
        // lstrip_blocks: a block or comment tag alone on its line takes the line's indentation away.
        size_t k = j;
        while (k > i && (m_s[k - 1] == ' ' || m_s[k - 1] == '\t')) k--;
        if (k == 0 || m_s[k - 1] == '\n') text_end = k;
      }
      text(i, text_end);
      size_t body = j + 2 + ((minus || plus) ? 1 : 0);
      if (kind == '#') {
        size_t end = m_s.find("#}", body);
        if (end == std::string::npos) {
          error(j, "unclosed comment ({# without #})");
          break;
        }
        bool rminus = end > body && m_s[end - 1] == '-';
        bool rplus = end > body && m_s[end - 1] == '+';
        i = end + 2;
        after_tag(rminus, !rplus);
        continue;
      }
      if (kind == '%' && raw_block(j, body, i)) continue;
      size_t after;
      bool rminus = false, rplus = false;
      if (!tag(kind == '{', j, body, after, rminus, rplus)) break;
      i = after;
      after_tag(rminus, kind == '%' && !rplus);
    }
    push(Tok::Eof, uint32_t(n));
    return std::move(m_out);
  }

private:
  size_t next_tag(size_t from) const {
    for (size_t j = m_s.find('{', from); j != std::string::npos; j = m_s.find('{', j + 1))
      if (j + 1 < m_s.size() && (m_s[j + 1] == '{' || m_s[j + 1] == '%' || m_s[j + 1] == '#')) return j;
    return std::string::npos;
  }

  void error(size_t pos, const std::string& msg) { m_diags.error(m_src.loc(pos), msg); }

  void push(Tok kind, uint32_t pos, std::string text = std::string()) {
    Token t;
    t.kind = kind;
    t.pos = pos;
    t.text = std::move(text);
    m_out.push_back(std::move(t));
  }

  // Whitespace control after a tag: `-` strips all whitespace that follows;
  // trim_blocks (block and comment tags without `+`) drops one newline.
  void after_tag(bool strip_all, bool trim_newline) {
    m_strip_next = strip_all;
    m_trim_newline = !strip_all && trim_newline;
  }

  void text(size_t b, size_t e) {
    if (m_strip_next)
      while (b < e && is_space(m_s[b])) b++;
    else if (m_trim_newline && b < e && m_s[b] == '\n')
      b++;
    else if (m_trim_newline && b + 1 < e && m_s[b] == '\r' && m_s[b + 1] == '\n')
      b += 2;
    m_strip_next = m_trim_newline = false;
    if (b < e) push(Tok::Text, uint32_t(b), m_s.substr(b, e - b));
  }

  // {% raw %}...{% endraw %}: the text between, as it is.
  bool raw_block(size_t tag_start, size_t body, size_t& next) {
    size_t k = body;
    while (k < m_s.size() && is_space(m_s[k])) k++;
    if (m_s.compare(k, 3, "raw") != 0 || (k + 3 < m_s.size() && is_name_char(m_s[k + 3]))) return false;
    k += 3;
    while (k < m_s.size() && is_space(m_s[k])) k++;
    bool rminus = false;
    if (k < m_s.size() && (m_s[k] == '-' || m_s[k] == '+')) rminus = m_s[k++] == '-';
    if (m_s.compare(k, 2, "%}") != 0) return false;
    size_t content = k + 2;
    // Find {%[-+]? endraw [-+]?%}
    for (size_t j = m_s.find("{%", content); j != std::string::npos; j = m_s.find("{%", j + 2)) {
      size_t p = j + 2;
      bool lminus = p < m_s.size() && m_s[p] == '-';
      if (p < m_s.size() && (m_s[p] == '-' || m_s[p] == '+')) p++;
      while (p < m_s.size() && is_space(m_s[p])) p++;
      if (m_s.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      while (p < m_s.size() && is_space(m_s[p])) p++;
      bool eminus = false, eplus = false;
      if (p < m_s.size() && (m_s[p] == '-' || m_s[p] == '+')) {
        eminus = m_s[p] == '-';
        eplus = m_s[p] == '+';
        p++;
      }
      if (m_s.compare(p, 2, "%}") != 0) continue;
      after_tag(rminus, true);
      size_t end = j;
      if (lminus)
        while (end > content && is_space(m_s[end - 1])) end--;
      text(content, std::max(content, end));
      next = p + 2;
      after_tag(eminus, !eplus);
      return true;
    }
    error(tag_start, "unclosed {% raw %} (missing {% endraw %})");
    next = m_s.size();
    return true;
  }

  // The tokens of one {{ }} or {% %} tag.
  bool tag(bool var, size_t start, size_t body, size_t& after, bool& rminus, bool& rplus) {
    size_t first = m_out.size();
    bool ok = tag_tokens(var, start, body, after, rminus, rplus);
    if (!ok) m_out.resize(first); // an unfinished tag leaves no tokens (its error is reported)
    return ok;
  }

  bool tag_tokens(bool var, size_t start, size_t body, size_t& after, bool& rminus, bool& rplus) {
    push(var ? Tok::VarBegin : Tok::BlockBegin, uint32_t(start));
    int depth = 0; // open braces: inside a dict literal "}}" closes braces, not the tag
    size_t i = body;
    const size_t n = m_s.size();
    while (true) {
      while (i < n && is_space(m_s[i])) i++;
      if (i >= n) {
        error(start, var ? "unclosed {{ (missing }})" : "unclosed {% (missing %})");
        return false;
      }
      if (depth == 0) {
        const char* end = var ? "}}" : "%}";
        if ((m_s[i] == '-' || (!var && m_s[i] == '+')) && m_s.compare(i + 1, 2, end) == 0) {
          rminus = m_s[i] == '-';
          rplus = m_s[i] == '+';
          push(var ? Tok::VarEnd : Tok::BlockEnd, uint32_t(i));
          after = i + 3;
          return true;
        }
        if (m_s.compare(i, 2, end) == 0) {
          push(var ? Tok::VarEnd : Tok::BlockEnd, uint32_t(i));
          after = i + 2;
          return true;
        }
      }
      char c = m_s[i];
      if (is_name_start(c)) {
        size_t b = i;
        while (i < n && is_name_char(m_s[i])) i++;
        push(Tok::Name, uint32_t(b), m_s.substr(b, i - b));
      } else if (is_digit(c)) {
        number(i);
      } else if (c == '"' || c == '\'') {
        if (!string(i)) return false;
      } else {
        static const char* const kTwo[] = {"**", "//", "==", "!=", "<=", ">="};
        std::string op;
        for (const char* t : kTwo)
          if (m_s.compare(i, 2, t) == 0) op = t;
        if (op.empty() && std::strchr("+-*/%~<>=()[]{},.:|?", c)) op = std::string(1, c);
        if (op.empty()) {
          error(i, std::string("unexpected character '") + c + "' in a tag");
          i++;
          continue;
        }
        if (op == "{") depth++;
        if (op == "}" && depth > 0) depth--;
        push(Tok::Op, uint32_t(i), op);
        i += op.size();
      }
    }
  }

  void number(size_t& i) {
    size_t b = i;
    std::string digits;
    bool is_float = false;
    auto read_digits = [&]() {
      while (i < m_s.size() && (is_digit(m_s[i]) || (m_s[i] == '_' && i + 1 < m_s.size() && is_digit(m_s[i + 1])))) {
        if (m_s[i] != '_') digits += m_s[i];
        i++;
      }
    };
    read_digits();
    if (i + 1 < m_s.size() && m_s[i] == '.' && is_digit(m_s[i + 1])) {
      is_float = true;
      digits += m_s[i++];
      read_digits();
    }
    if (i < m_s.size() && (m_s[i] == 'e' || m_s[i] == 'E')) {
      size_t k = i + 1;
      if (k < m_s.size() && (m_s[k] == '+' || m_s[k] == '-')) k++;
      if (k < m_s.size() && is_digit(m_s[k])) {
        is_float = true;
        digits += 'e';
        digits.append(m_s, i + 1, k - i - 1);
        i = k;
        read_digits();
      }
    }
    Token t;
    t.pos = uint32_t(b);
    if (is_float) {
      t.kind = Tok::Float;
      t.f = std::strtod(digits.c_str(), nullptr);
    } else {
      t.kind = Tok::Int;
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(digits.c_str(), &end, 10);
      if (errno == ERANGE) {
        error(b, "integer literal too large");
        v = 0;
      }
      t.i = v;
    }
    m_out.push_back(std::move(t));
  }

  bool string(size_t& i) {
    size_t b = i;
    char q = m_s[i++];
    std::string out;
    while (true) {
      if (i >= m_s.size()) {
        error(b, "unterminated string");
        return false;
      }
      char c = m_s[i];
      if (c == q) {
        i++;
        break;
      }
      if (c != '\\') {
        out += c;
        i++;
        continue;
      }
      if (i + 1 >= m_s.size()) {
        error(b, "unterminated string");
        return false;
      }
      char e = m_s[i + 1];
      i += 2;
      switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '0': out += '\0'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case '/': out += '/'; break;
      case 'u': {
        uint32_t cp = 0;
        size_t k = i;
        bool braced = k < m_s.size() && m_s[k] == '{';
        if (braced) k++;
        size_t digits = 0;
        while (k < m_s.size() && digits < (braced ? 6u : 4u) && std::isxdigit(static_cast<unsigned char>(m_s[k]))) {
          char h = m_s[k++];
          cp = cp * 16 + uint32_t(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
          digits++;
        }
        if (braced && (k >= m_s.size() || m_s[k] != '}')) digits = 0;
        if (braced) k++;
        if (digits == 0 || (!braced && digits != 4) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          error(i - 2, "invalid \\u escape in a string");
          i = k;
          break;
        }
        append_utf8(out, cp);
        i = k;
        break;
      }
      default:
        // Unknown escapes stay as written (Python's rule).
        out += '\\';
        out += e;
        break;
      }
    }
    Token t;
    t.kind = Tok::String;
    t.pos = uint32_t(b);
    t.text = std::move(out);
    m_out.push_back(std::move(t));
    return true;
  }

  const std::string& m_s;
  const Source& m_src;
  lang::Diagnostics& m_diags;
  std::vector<Token> m_out;
  bool m_strip_next = false;
  bool m_trim_newline = false;
};

// ---------------------------------------------------------------- parser

// Thrown inside one tag to abandon it (its error is already reported).
struct TagError {};

class Parser {
public:
  Parser(const Source& src, std::vector<Token> tokens, const TemplateScope& scope, lang::Diagnostics& diags,
         Template& out)
      : m_src(src), m_toks(std::move(tokens)), m_scope(scope), m_diags(diags), m_t(out) {
    for (const std::string& v : scope.variables) {
      m_t.names.push_back(v);
    }
    m_t.param_count = scope.variables.size();
    m_visible.emplace_back();
    for (uint32_t i = 0; i < m_t.param_count; i++) m_visible.back().push_back(i);
  }

  void run() {
    std::string stop;
    m_t.body = body({}, stop);
  }

private:
  // ---- tokens

  const Token& cur() const { return m_toks[m_p]; }
  const Token& peek(size_t k = 1) const { return m_toks[std::min(m_p + k, m_toks.size() - 1)]; }
  lang::SourceLoc loc_of(const Token& t) const { return m_src.loc(t.pos); }
  lang::SourceLoc here() const { return loc_of(cur()); }
  void advance() {
    if (m_p + 1 < m_toks.size()) m_p++;
  }
  bool is_op(const char* op) const { return cur().kind == Tok::Op && cur().text == op; }
  bool is_name(const char* name) const { return cur().kind == Tok::Name && cur().text == name; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool accept_name(const char* name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
    case Tok::Text: return "text";
    case Tok::VarBegin: return "'{{'";
    case Tok::VarEnd: return "'}}'";
    case Tok::BlockBegin: return "'{%'";
    case Tok::BlockEnd: return "'%}'";
    case Tok::Name: return "'" + t.text + "'";
    case Tok::Int: return "a number";
    case Tok::Float: return "a number";
    case Tok::String: return "a string";
    case Tok::Op: return "'" + t.text + "'";
    case Tok::Eof: return "the end of the template";
    }
    return "a token";
  }

  [[noreturn]] void fail_at(const Token& t, const std::string& msg) {
    m_diags.error(loc_of(t), msg);
    throw TagError{};
  }
  [[noreturn]] void fail(const std::string& msg) { fail_at(cur(), msg); }
  void report(const lang::SourceLoc& at, const std::string& msg) { m_diags.error(at, msg); }

  void expect_op(const char* op) {
    if (!accept_op(op)) fail(std::string("expected '") + op + "', found " + describe(cur()));
  }
  std::string expect_name(const char* what) {
    if (cur().kind != Tok::Name) fail(std::string("expected ") + what + ", found " + describe(cur()));
    std::string n = cur().text;
    advance();
    return n;
  }
  void expect_block_end() {
    if (cur().kind != Tok::BlockEnd) fail("expected '%}', found " + describe(cur()));
    advance();
  }

  // Skips to just past the end of the current tag (after an error).
  void recover() {
    while (cur().kind != Tok::Eof && cur().kind != Tok::VarEnd && cur().kind != Tok::BlockEnd) advance();
    if (cur().kind != Tok::Eof) advance();
  }

  // ---- names

  uint32_t declare(const std::string& name) {
    for (uint32_t i = uint32_t(m_t.param_count); i < m_t.names.size(); i++)
      if (m_t.names[i] == name) {
        m_visible.back().push_back(i);
        return i;
      }
    m_t.names.push_back(name);
    uint32_t id = uint32_t(m_t.names.size() - 1);
    m_visible.back().push_back(id);
    return id;
  }

  bool find_variable(const std::string& name, uint32_t& id) const {
    // Innermost block first; in a block, the latest {% set %} first.
    for (auto s = m_visible.rbegin(); s != m_visible.rend(); ++s)
      for (auto v = s->rbegin(); v != s->rend(); ++v)
        if (m_t.names[*v] == name) {
          id = *v;
          return true;
        }
    return false;
  }

  const std::pair<std::string, size_t>* find_template_string(const std::string& name) const {
    for (const auto& ts : m_scope.template_strings)
      if (ts.first == name) return &ts;
    return nullptr;
  }

  bool is_enum(const std::string& name) const {
    return std::find(m_scope.enums.begin(), m_scope.enums.end(), name) != m_scope.enums.end();
  }

  // ---- statements

  // body := (text | '{{' expr '}}' | '{%' statement '%}')*, up to a tag
  // whose keyword is in `stops` (left unconsumed, its keyword in `stopped`).
  // At `{% else`: the tag's end, then the branch's body up to `end`.
  std::vector<Stmt> else_branch(const char* end, std::string& stopped) {
    advance();
    advance();
    try {
      expect_block_end();
    } catch (const TagError&) {
      recover();
    }
    return body({end}, stopped);
  }

  std::vector<Stmt> body(std::initializer_list<const char*> stops, std::string& stopped) {
    std::vector<Stmt> out;
    stopped.clear();
    size_t enclosing = m_enclosing_ends.size();
    struct Restore {
      std::vector<std::string>& ends;
      size_t size;
      ~Restore() { ends.resize(size); }
    } restore{m_enclosing_ends, enclosing};
    // Blocks inside this one end where it ends, too.
    for (const char* s : stops)
      if (std::strncmp(s, "end", 3) == 0) m_enclosing_ends.push_back(s);
    while (cur().kind != Tok::Eof) {
      const Token& t = cur();
      if (t.kind == Tok::Text) {
        Stmt s;
        s.kind = StmtKind::Text;
        s.loc = loc_of(t);
        s.text = t.text;
        out.push_back(std::move(s));
        advance();
        continue;
      }
      if (t.kind == Tok::VarBegin) {
        size_t at = m_p;
        try {
          advance();
          Stmt s;
          s.kind = StmtKind::Output;
          s.loc = here();
          m_roles = 0;
          s.expr = expr();
          if (m_roles > (s.expr->kind == ExprKind::Role ? 1 : 0))
            report(s.loc, "_.role() and _.chat() must be the whole of a {{ }} tag");
          if (cur().kind != Tok::VarEnd) fail("expected '}}', found " + describe(cur()));
          advance();
          out.push_back(std::move(s));
        } catch (const TagError&) {
          if (m_p == at) advance();
          recover();
        }
        continue;
      }
      if (t.kind == Tok::BlockBegin) {
        const Token& kw = peek();
        if (kw.kind == Tok::Name) {
          for (const char* s : stops)
            if (kw.text == s) {
              stopped = s;
              return out;
            }
          // The end of an enclosing block ends this one too (which is then unclosed).
          for (const std::string& s : m_enclosing_ends)
            if (kw.text == s) {
              stopped = s;
              return out;
            }
        }
        try {
          advance();
          statement(out);
        } catch (const TagError&) {
          recover();
        }
        continue;
      }
      // A stray end token (after an earlier error): skip it.
      advance();
    }
    return out;
  }

  void statement(std::vector<Stmt>& out) {
    if (m_nesting > kMaxNesting) fail("blocks nested too deeply");
    if (cur().kind != Tok::Name) fail("expected a statement, found " + describe(cur()));
    const Token kw = cur();
    const std::string& k = kw.text;
    m_roles = 0;
    if (k == "if") return statement_if(out);
    if (k == "for") return statement_for(out);
    if (k == "set") return statement_set(out);
    if (k == "break" || k == "continue") {
      advance();
      if (m_loops == 0) fail_at(kw, "{% " + k + " %} outside a for loop");
      expect_block_end();
      Stmt s;
      s.kind = k == "break" ? StmtKind::Break : StmtKind::Continue;
      s.loc = loc_of(kw);
      out.push_back(std::move(s));
      return;
    }
    static const char* const kClosers[] = {"elif", "else", "endif", "endfor", "endset", "endraw"};
    for (const char* c : kClosers)
      if (k == c) fail("unexpected {% " + k + " %}");
    static const char* const kUnsupported[] = {"macro", "call", "filter", "block", "extends", "include", "import",
                                               "from", "with", "autoescape", "do"};
    for (const char* c : kUnsupported)
      if (k == c) fail("{% " + k + " %} is not supported in BAML prompts");
    fail("unknown statement '" + k + "'");
  }

  void check_roles(const lang::SourceLoc& at) {
    if (m_roles) report(at, "_.role() and _.chat() must be the whole of a {{ }} tag");
    m_roles = 0;
  }

  // The closing {% end... %} of a block opened at `open`.
  // When the block ends at another block's closing tag (or at the end of
  // the template), that is left for whoever opened it.
  void close_block(const std::string& stopped, const char* expected, const Token& open, const char* what) {
    if (stopped != expected) {
      report(loc_of(open), std::string("{% ") + what + " %} is never closed (missing {% " + expected + " %})");
      return;
    }
    advance(); // {%
    advance(); // keyword
    if (cur().kind != Tok::BlockEnd) {
      try {
        fail("expected '%}', found " + describe(cur()));
      } catch (const TagError&) {
        recover();
        return;
      }
    }
    advance();
  }

  // if := 'if' expr '%}' body ('{%' 'elif' expr '%}' body)* ('{%' 'else' '%}' body)? '{%' 'endif' '%}'
  void statement_if(std::vector<Stmt>& out) {
    const Token open = cur();
    advance();
    Stmt s;
    s.kind = StmtKind::If;
    s.loc = loc_of(open);
    Branch b;
    try {
      b.cond = expr();
      check_roles(s.loc);
      expect_block_end();
    } catch (const TagError&) {
      // The block's body is still parsed (its own errors reported, its end found).
      recover();
      if (!b.cond) b.cond = node(ExprKind::Bool, s.loc);
    }
    m_nesting++;
    std::string stopped;
    b.body = body({"elif", "else", "endif"}, stopped);
    s.branches.push_back(std::move(b));
    while (stopped == "elif") {
      advance();
      advance();
      Branch e;
      try {
        e.cond = expr();
        check_roles(s.loc);
        expect_block_end();
      } catch (const TagError&) {
        recover();
        if (!e.cond) e.cond = node(ExprKind::Bool, s.loc);
      }
      e.body = body({"elif", "else", "endif"}, stopped);
      s.branches.push_back(std::move(e));
    }
    if (stopped == "else") s.else_body = else_branch("endif", stopped);
    m_nesting--;
    close_block(stopped, "endif", open, "if");
    out.push_back(std::move(s));
  }

  // for := 'for' target (',' target)* 'in' or_expr ('if' expr)? '%}' body ('{%' 'else' '%}' body)? '{%' 'endfor' '%}'
  void statement_for(std::vector<Stmt>& out) {
    const Token open = cur();
    advance();
    Stmt s;
    s.kind = StmtKind::For;
    s.loc = loc_of(open);
    std::vector<std::string> targets;
    size_t visible = m_visible.size();
    try {
      bool paren = accept_op("(");
      do {
        targets.push_back(expect_name("a loop variable"));
      } while (accept_op(","));
      if (paren) expect_op(")");
      if (!accept_name("in")) fail("expected 'in', found " + describe(cur()));
      s.expr = or_expr();
      if (accept_name("if")) {
        // The filter sees the loop variables (declared below, before it is checked).
        m_visible.emplace_back();
        for (const std::string& t : targets) s.targets.push_back(declare(t));
        s.cond = expr();
        m_visible.pop_back();
        s.targets.clear();
      }
      if (is_name("recursive")) fail("recursive loops are not supported");
      check_roles(s.loc);
      expect_block_end();
    } catch (const TagError&) {
      // The block's body is still parsed (its own errors reported, its end found).
      recover();
      m_visible.resize(visible);
      s.targets.clear();
      if (!s.expr) s.expr = node(ExprKind::Undefined, s.loc);
    }

    m_visible.emplace_back();
    for (const std::string& t : targets) s.targets.push_back(declare(t));
    m_loops++;
    m_nesting++;
    std::string stopped;
    s.body = body({"else", "endfor"}, stopped);
    m_loops--;
    m_visible.pop_back();
    if (stopped == "else") s.else_body = else_branch("endfor", stopped);
    m_nesting--;
    close_block(stopped, "endfor", open, "for");
    out.push_back(std::move(s));
  }

  // set := 'set' name '=' expr | 'set' name '.' name '=' expr | 'set' name '%}' body '{%' 'endset' '%}'
  void statement_set(std::vector<Stmt>& out) {
    const Token open = cur();
    advance();
    Stmt s;
    s.loc = loc_of(open);
    const Token name_tok = cur();
    std::string name = expect_name("a variable name");
    if (accept_op(".")) {
      s.kind = StmtKind::SetAttr;
      s.attr = expect_name("an attribute name");
      uint32_t id;
      if (!find_variable(name, id)) fail_at(name_tok, "unknown variable '" + name + "'");
      s.targets.push_back(id);
      expect_op("=");
      s.expr = expr();
      check_roles(s.loc);
      expect_block_end();
      out.push_back(std::move(s));
      return;
    }
    if (is_op(",")) fail("assigning several variables at once is not supported");
    if (accept_op("=")) {
      s.kind = StmtKind::Set;
      s.expr = expr();
      check_roles(s.loc);
      expect_block_end();
      s.targets.push_back(declare(name));
      out.push_back(std::move(s));
      return;
    }
    if (cur().kind != Tok::BlockEnd) fail("expected '=' or '%}', found " + describe(cur()));
    advance();
    s.kind = StmtKind::SetBlock;
    m_nesting++;
    std::string stopped;
    s.body = body({"endset"}, stopped);
    m_nesting--;
    s.targets.push_back(declare(name));
    close_block(stopped, "endset", open, "set");
    out.push_back(std::move(s));
  }

  // ---- expressions

  struct Depth {
    Parser& p;
    explicit Depth(Parser& parser) : p(parser) {
      if (++p.m_depth > kMaxExprNesting) p.fail("expression nested too deeply");
    }
    ~Depth() { p.m_depth--; }
  };

  ExprPtr node(ExprKind k, const lang::SourceLoc& at) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->loc = at;
    return e;
  }

  // A composite expression, finished: its height from its parts (too tall: an error).
  ExprPtr seal(ExprPtr e) {
    uint32_t h = 0;
    auto see = [&](const ExprPtr& x) {
      if (x) h = std::max(h, x->height);
    };
    see(e->a);
    see(e->b2);
    see(e->c);
    for (const ExprPtr& x : e->items) see(x);
    for (const Arg& x : e->args) see(x.value);
    e->height = h + 1;
    if (e->height > kMaxExprHeight) {
      report(e->loc, "expression nested too deeply");
      throw TagError{};
    }
    return e;
  }

  // expr := or_expr ('if' or_expr ('else' expr)?)?
  ExprPtr expr() {
    Depth d(*this);
    ExprPtr x = or_expr();
    while (is_name("if")) {
      lang::SourceLoc at = here();
      advance();
      auto c = node(ExprKind::Cond, at);
      c->a = std::move(x);
      c->b2 = or_expr();
      if (accept_name("else")) c->c = expr();
      x = seal(std::move(c));
    }
    return x;
  }

  // or_expr := and_expr ('or' and_expr)*
  ExprPtr or_expr() {
    ExprPtr x = and_expr();
    while (is_name("or")) {
      auto e = node(ExprKind::Or, here());
      advance();
      e->a = std::move(x);
      e->b2 = and_expr();
      x = seal(std::move(e));
    }
    return x;
  }

  // and_expr := not_expr ('and' not_expr)*
  ExprPtr and_expr() {
    ExprPtr x = not_expr();
    while (is_name("and")) {
      auto e = node(ExprKind::And, here());
      advance();
      e->a = std::move(x);
      e->b2 = not_expr();
      x = seal(std::move(e));
    }
    return x;
  }

  // not_expr := 'not' not_expr | compare
  ExprPtr not_expr() {
    Depth d(*this);
    if (is_name("not")) {
      auto e = node(ExprKind::Not, here());
      advance();
      e->a = not_expr();
      return seal(std::move(e));
    }
    return compare();
  }

  // compare := math1 (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not' 'in') math1)*
  ExprPtr compare() {
    ExprPtr x = math1();
    while (true) {
      BinOp op;
      lang::SourceLoc at = here();
      if (accept_op("==")) op = BinOp::Eq;
      else if (accept_op("!=")) op = BinOp::Ne;
      else if (accept_op("<")) op = BinOp::Lt;
      else if (accept_op("<=")) op = BinOp::Le;
      else if (accept_op(">")) op = BinOp::Gt;
      else if (accept_op(">=")) op = BinOp::Ge;
      else if (accept_name("in")) op = BinOp::In;
      else if (is_name("not") && peek().kind == Tok::Name && peek().text == "in") {
        advance();
        advance();
        op = BinOp::NotIn;
      } else {
        return x;
      }
      auto e = node(ExprKind::Binary, at);
      e->op = op;
      e->a = std::move(x);
      e->b2 = math1();
      x = seal(std::move(e));
    }
  }

  ExprPtr binary_level(ExprPtr (Parser::*next)(), std::initializer_list<std::pair<const char*, BinOp>> ops) {
    ExprPtr x = (this->*next)();
    while (true) {
      bool matched = false;
      for (auto& [text, op] : ops)
        if (is_op(text)) {
          auto e = node(ExprKind::Binary, here());
          advance();
          e->op = op;
          e->a = std::move(x);
          e->b2 = (this->*next)();
          x = seal(std::move(e));
          matched = true;
          break;
        }
      if (!matched) return x;
    }
  }

  // math1 := concat (('+' | '-') concat)*
  ExprPtr math1() { return binary_level(&Parser::concat, {{"+", BinOp::Add}, {"-", BinOp::Sub}}); }
  // concat := math2 ('~' math2)*
  ExprPtr concat() { return binary_level(&Parser::math2, {{"~", BinOp::Concat}}); }
  // math2 := pow (('*' | '/' | '//' | '%') pow)*
  ExprPtr math2() {
    return binary_level(&Parser::pow,
                        {{"*", BinOp::Mul}, {"/", BinOp::Div}, {"//", BinOp::FloorDiv}, {"%", BinOp::Mod}});
  }
  // pow := unary ('**' unary)*
  ExprPtr pow() { return binary_level(&Parser::unary, {{"**", BinOp::Pow}}); }

  // unary := ('-' | '+') unary_nofilter filters | primary postfix filters
  ExprPtr unary() {
    Depth d(*this);
    ExprPtr x;
    if (is_op("-") || is_op("+")) {
      auto e = node(is_op("-") ? ExprKind::Neg : ExprKind::Plus, here());
      advance();
      e->a = unary_no_filter();
      x = seal(std::move(e));
    } else {
      x = postfix(primary());
    }
    return filters(std::move(x));
  }

  ExprPtr unary_no_filter() {
    Depth d(*this);
    if (is_op("-") || is_op("+")) {
      auto e = node(is_op("-") ? ExprKind::Neg : ExprKind::Plus, here());
      advance();
      e->a = unary_no_filter();
      return seal(std::move(e));
    }
    return postfix(primary());
  }

  // filters := ('|' name args? | 'is' 'not'? name (args | primary)?)*
  ExprPtr filters(ExprPtr x) {
    while (true) {
      if (is_op("|")) {
        advance();
        const Token name = cur();
        std::string fname = expect_name("a filter name");
        auto e = node(ExprKind::Filter, loc_of(name));
        Filter f = Filter::COUNT_;
        if (!filter_from_name(fname, f)) report(loc_of(name), "unknown filter '" + fname + "'");
        e->id = uint32_t(f);
        e->s = fname;
        e->a = std::move(x);
        if (is_op("(")) call_args(e->args);
        x = seal(std::move(e));
        continue;
      }
      if (is_name("is")) {
        advance();
        bool negated = accept_name("not");
        const Token name = cur();
        std::string tname;
        if (cur().kind == Tok::Name) {
          tname = cur().text;
          advance();
        } else if (cur().kind == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                             cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
          tname = cur().text;
          advance();
        } else {
          fail("expected a test name, found " + describe(cur()));
        }
        auto e = node(ExprKind::Test, loc_of(name));
        Test t = Test::COUNT_;
        if (!test_from_name(tname, t)) report(loc_of(name), "unknown test '" + tname + "'");
        e->id = uint32_t(t);
        e->s = tname;
        e->negated = negated;
        e->a = std::move(x);
        if (is_op("(")) {
          call_args(e->args);
        } else if (starts_primary()) {
          Arg arg;
          arg.value = postfix(primary());
          e->args.push_back(std::move(arg));
        }
        x = seal(std::move(e));
        continue;
      }
      return x;
    }
  }

  bool starts_primary() const {
    const Token& t = cur();
    if (t.kind == Tok::Int || t.kind == Tok::Float || t.kind == Tok::String) return true;
    if (t.kind == Tok::Op) return t.text == "(" || t.text == "[" || t.text == "{";
    if (t.kind != Tok::Name) return false;
    static const char* const kStops[] = {"and", "or", "else", "if", "in", "is", "not"};
    for (const char* s : kStops)
      if (t.text == s) return false;
    return true;
  }

  // args := '(' (arg (',' arg)* ','?)? ')'; arg := name '=' expr | expr
  void call_args(std::vector<Arg>& out) {
    expect_op("(");
    bool keywords = false;
    while (!is_op(")")) {
      Arg a;
      if (cur().kind == Tok::Name && peek().kind == Tok::Op && peek().text == "=") {
        const Token name = cur();
        a.name = name.text;
        for (const Arg& other : out)
          if (other.name == a.name) fail_at(name, "keyword argument '" + a.name + "' given twice");
        advance();
        advance();
        keywords = true;
      } else if (keywords) {
        fail("a positional argument cannot follow keyword arguments");
      }
      a.value = expr();
      out.push_back(std::move(a));
      if (!accept_op(",")) break;
    }
    expect_op(")");
  }

  // postfix := ('.' name | '.' int | '[' subscript ']' | '(' args ')')*
  ExprPtr postfix(ExprPtr x) {
    while (true) {
      if (is_op(".")) {
        lang::SourceLoc at = here();
        advance();
        if (cur().kind == Tok::Int) {
          auto e = node(ExprKind::Item, at);
          auto idx = node(ExprKind::Int, here());
          idx->i = cur().i;
          advance();
          e->a = std::move(x);
          e->b2 = std::move(idx);
          x = seal(std::move(e));
          continue;
        }
        std::string name = expect_name("an attribute name");
        if (is_op("(")) {
          auto e = node(ExprKind::MethodCall, at);
          e->a = std::move(x);
          e->s = name;
          call_args(e->args);
          x = seal(std::move(e));
        } else {
          auto e = node(ExprKind::Attr, at);
          e->a = std::move(x);
          e->s = name;
          x = seal(std::move(e));
        }
        continue;
      }
      if (is_op("[")) {
        lang::SourceLoc at = here();
        advance();
        ExprPtr parts[3];
        bool slice = false;
        for (int k = 0; k < 3; k++) {
          if (!is_op(":") && !is_op("]")) parts[k] = expr();
          if (k < 2 && accept_op(":")) {
            slice = true;
            continue;
          }
          break;
        }
        expect_op("]");
        if (!slice) {
          if (!parts[0]) fail_at(m_toks[m_p - 1], "expected an index");
          auto e = node(ExprKind::Item, at);
          e->a = std::move(x);
          e->b2 = std::move(parts[0]);
          x = seal(std::move(e));
        } else {
          auto e = node(ExprKind::Slice, at);
          e->a = std::move(x);
          for (auto& p : parts) e->items.push_back(std::move(p));
          x = seal(std::move(e));
        }
        continue;
      }
      if (is_op("(")) fail("only methods, template_strings and range(), namespace() and dict() can be called");
      return x;
    }
  }

  // primary := literal | name | '(' expr (',' expr)* ')' | '[' list ']' | '{' dict '}'
  ExprPtr primary() {
    const Token t = cur();
    lang::SourceLoc at = loc_of(t);
    switch (t.kind) {
    case Tok::Int: {
      advance();
      auto e = node(ExprKind::Int, at);
      e->i = t.i;
      return e;
    }
    case Tok::Float: {
      advance();
      auto e = node(ExprKind::Float, at);
      e->f = t.f;
      return e;
    }
    case Tok::String: {
      auto e = node(ExprKind::String, at);
      while (cur().kind == Tok::String) {
        e->s += cur().text;
        advance();
      }
      return e;
    }
    case Tok::Name: return name();
    case Tok::Op:
      if (t.text == "(") {
        advance();
        ExprPtr first = expr();
        if (accept_op(")")) return first;
        auto list = node(ExprKind::List, at);
        list->items.push_back(std::move(first));
        while (accept_op(",")) {
          if (is_op(")")) break;
          list->items.push_back(expr());
        }
        expect_op(")");
        return seal(std::move(list));
      }
      if (t.text == "[") {
        advance();
        auto list = node(ExprKind::List, at);
        while (!is_op("]")) {
          list->items.push_back(expr());
          if (!accept_op(",")) break;
        }
        expect_op("]");
        return seal(std::move(list));
      }
      if (t.text == "{") {
        advance();
        auto dict = node(ExprKind::Dict, at);
        while (!is_op("}")) {
          dict->items.push_back(expr());
          expect_op(":");
          dict->items.push_back(expr());
          if (!accept_op(",")) break;
        }
        expect_op("}");
        return seal(std::move(dict));
      }
      break;
    default: break;
    }
    fail("expected an expression, found " + describe(t));
  }

  ExprPtr name() {
    const Token t = cur();
    lang::SourceLoc at = loc_of(t);
    const std::string& n = t.text;
    advance();
    if (n == "true" || n == "True" || n == "false" || n == "False") {
      auto e = node(ExprKind::Bool, at);
      e->b = n[0] == 't' || n[0] == 'T';
      return e;
    }
    if (n == "none" || n == "None" || n == "null") return node(ExprKind::Null, at);
    uint32_t id;
    if (find_variable(n, id)) {
      auto e = node(ExprKind::Name, at);
      e->id = id;
      e->s = n;
      return e;
    }
    if (n == "loop" && m_loops > 0) {
      if (!accept_op(".")) fail_at(t, "loop can only be used as loop.<attribute>");
      const Token attr_tok = cur();
      std::string attr = expect_name("a loop attribute");
      if (attr == "cycle") {
        auto e = node(ExprKind::LoopCycle, at);
        call_args(e->args);
        return seal(std::move(e));
      }
      static const char* const kAttrs[] = {"index",  "index0", "revindex", "revindex0", "first", "last",
                                           "length", "previtem", "nextitem", "depth", "depth0"};
      bool known = false;
      for (const char* a : kAttrs) known = known || attr == a;
      if (!known) report(loc_of(attr_tok), "loop has no attribute '" + attr + "'");
      auto e = node(ExprKind::LoopAttr, at);
      e->s = attr;
      return e;
    }
    if (n == "_") {
      if (!accept_op(".")) fail_at(t, "_ can only be used as _.role(...) or _.chat(...)");
      std::string fn = expect_name("role or chat");
      if (fn != "role" && fn != "chat") fail_at(t, "_ has no function '" + fn + "' (only role and chat)");
      auto e = node(ExprKind::Role, at);
      if (!is_op("(")) fail("_." + fn + " must be called: _." + fn + "(\"user\")");
      call_args(e->args);
      m_roles++;
      return seal(std::move(e));
    }
    if (n == "ctx") {
      if (is_op(".") && peek().kind == Tok::Name) {
        const std::string& attr = peek().text;
        if (attr == "output_format") {
          advance();
          advance();
          auto e = node(ExprKind::OutputFormat, at);
          if (is_op("(")) {
            call_args(e->args);
            for (const Arg& a : e->args)
              if (a.name.empty()) fail_at(t, "ctx.output_format() takes keyword arguments only (prefix=..., ...)");
          }
          return seal(std::move(e));
        }
        if (attr != "client" && attr != "tags")
          fail_at(peek(), "ctx has no attribute '" + attr + "' (only client, tags and output_format)");
      }
      return node(ExprKind::Ctx, at);
    }
    if (const auto* ts = find_template_string(n)) {
      auto e = node(ExprKind::TemplateCall, at);
      e->s = n;
      if (!is_op("(")) fail_at(t, "template_string " + n + " must be called: " + n + "(...)");
      call_args(e->args);
      if (e->args.size() != ts->second)
        report(at, "template_string " + n + " takes " + std::to_string(ts->second) + " argument" +
                       (ts->second == 1 ? "" : "s") + ", not " + std::to_string(e->args.size()));
      return seal(std::move(e));
    }
    if (is_enum(n)) {
      if (!accept_op(".")) fail_at(t, "enum " + n + " can only be used as " + n + ".<variant>");
      auto e = node(ExprKind::EnumVariant, at);
      e->s = n;
      e->s2 = expect_name("a variant name");
      return e;
    }
    if (n == "range" || n == "namespace" || n == "dict") {
      auto e = node(ExprKind::GlobalCall, at);
      e->id = uint32_t(n == "range" ? GlobalFn::Range : n == "namespace" ? GlobalFn::Namespace : GlobalFn::Dict);
      if (!is_op("(")) fail_at(t, n + " must be called: " + n + "(...)");
      call_args(e->args);
      return seal(std::move(e));
    }
    if (n == "loop") report(at, "loop is only defined inside a for loop");
    else if (m_scope.unknown_names == TemplateScope::UnknownNames::Error) report(at, "unknown variable '" + n + "'");
    return node(ExprKind::Undefined, at);
  }

  const Source& m_src;
  std::vector<Token> m_toks;
  size_t m_p = 0;
  const TemplateScope& m_scope;
  lang::Diagnostics& m_diags;
  Template& m_t;
  std::vector<std::vector<uint32_t>> m_visible; // names visible, per block scope
  int m_loops = 0;   // for loops open
  int m_depth = 0;   // expression nesting
  int m_nesting = 0; // block nesting
  int m_roles = 0;   // role calls in the current tag
  std::vector<std::string> m_enclosing_ends; // the end tags of the blocks open around this point
};

} // namespace

std::shared_ptr<const Template> compile_template(std::string_view text, lang::SourceLoc at, const TemplateScope& scope,
                                                 lang::Diagnostics& diags, TemplateWhitespace whitespace) {
  size_t errors_before = diags.size();
  if (text.size() >= UINT32_MAX) {
    diags.error(at, "template too large");
    return nullptr;
  }
  Source src;
  build_source(text, at, whitespace, src);
  Lexer lexer(src, diags);
  std::vector<Token> tokens = lexer.run();
  auto t = std::make_shared<Template>();
  t->start = at;
  Parser parser(src, std::move(tokens), scope, diags, *t);
  parser.run();
  if (diags.size() != errors_before) return nullptr;
  return t;
}

} // namespace brake::llm
