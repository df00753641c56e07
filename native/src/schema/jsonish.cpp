#include "schema/jsonish.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace brake::schema::jsonish {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-' || c == '$' ||
         (static_cast<unsigned char>(c) >= 0x80);
}

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) b++;
  while (e > b && is_space(s[e - 1])) e--;
  return s.substr(b, e - b);
}

// A JSON-like number: [+-]? (digits [. digits?] | . digits) ([eE][+-]?digits)?
bool is_number_text(std::string_view t) {
  size_t i = 0, n = t.size();
  if (i < n && (t[i] == '-' || t[i] == '+')) i++;
  size_t digits = 0;
  while (i < n && is_digit(t[i])) i++, digits++;
  if (i < n && t[i] == '.') {
    i++;
    while (i < n && is_digit(t[i])) i++, digits++;
  }
  if (digits == 0) return false;
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    i++;
    if (i < n && (t[i] == '-' || t[i] == '+')) i++;
    size_t exp = 0;
    while (i < n && is_digit(t[i])) i++, exp++;
    if (exp == 0) return false;
  }
  return i == n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Removes the first line when blank, a last line of only spaces, and the
// indentation common to the remaining non-blank lines.
std::string dedent(std::string_view s) {
  size_t nl = s.find('\n');
  if (nl != std::string_view::npos && trim(s.substr(0, nl)).empty()) s.remove_prefix(nl + 1);
  size_t last = s.rfind('\n');
  if (last != std::string_view::npos && trim(s.substr(last + 1)).empty()) s = s.substr(0, last);
  else if (last == std::string_view::npos && trim(s).empty()) return std::string();
  size_t common = std::string_view::npos;
  for (size_t b = 0; b <= s.size();) {
    size_t e = s.find('\n', b);
    if (e == std::string_view::npos) e = s.size();
    std::string_view line = s.substr(b, e - b);
    size_t ind = 0;
    while (ind < line.size() && (line[ind] == ' ' || line[ind] == '\t')) ind++;
    if (ind < line.size() && ind < common) common = ind;
    b = e + 1;
  }
  if (common == std::string_view::npos) common = 0;
  std::string out;
  out.reserve(s.size());
  for (size_t b = 0; b <= s.size();) {
    size_t e = s.find('\n', b);
    if (e == std::string_view::npos) e = s.size();
    std::string_view line = s.substr(b, e - b);
    if (!trim(line).empty()) out.append(line.substr(common)); // blank lines become empty
    if (e < s.size()) out += '\n';
    b = e + 1;
  }
  return out;
}

// How far the parser looks ahead to decide whether a quote closes a string
// or a comma ends a bare value.
constexpr size_t kLookahead = 256;

// A bare word as a value: true, false, null, a number, or a string.
Node classify(std::string_view word) {
  Node n;
  if (word == "true" || word == "false") {
    n.kind = Kind::Bool;
    n.boolean = word == "true";
  } else if (word == "null") {
    n.kind = Kind::Null;
  } else if (is_number_text(word)) {
    n.kind = Kind::Number;
    n.text = word;
  } else {
    n.kind = Kind::String;
    n.fixes |= kFixUnquoted;
    n.text = word;
  }
  return n;
}

// Where an unquoted word is read, which decides what ends it.
enum class Ctx : uint8_t { Top, Key, ArrayItem, ObjectValue };

class Fixer {
public:
  Fixer(std::string_view s, Document& doc, vm::CancelCheck& cc) : m_s(s), m_doc(doc), m_cc(cc) {}

  size_t pos() const { return m_p; }
  void set_pos(size_t p) { m_p = p; }

  // value := object | array | string | bare word
  Node value(Ctx ctx) {
    uint16_t comment = skip_ws() ? kFixComment : kFixNone;
    Node n;
    if (m_p >= m_s.size()) {
      n.complete = false;
      return n;
    }
    size_t start = m_p;
    char c = m_s[m_p];
    if (c == '{') n = object();
    else if (c == '[') n = array();
    else if (c == '"' && m_s.compare(m_p, 3, "\"\"\"") == 0) n = triple('"');
    else if (c == '`' && m_s.compare(m_p, 3, "```") == 0) n = triple('`');
    else if (c == '"' || c == '\'' || c == '`') n = quoted(c);
    else n = bare(ctx);
    n.source = trim(m_s.substr(start, m_p - start)); // a bare word's ends at the next delimiter
    n.fixes |= comment;
    return n;
  }

  // Skips whitespace and comments; true when it skipped a comment.
  bool skip_ws() {
    bool comment = false;
    while (m_p < m_s.size()) {
      char c = m_s[m_p];
      if (is_space(c)) {
        m_p++;
        tick();
      } else if (c == '/' && m_p + 1 < m_s.size() && m_s[m_p + 1] == '/') {
        size_t e = m_s.find('\n', m_p);
        m_cc.bytes(e == std::string_view::npos ? m_s.size() - m_p : e - m_p);
        m_p = e == std::string_view::npos ? m_s.size() : e;
        comment = true;
      } else if (c == '/' && m_p + 1 < m_s.size() && m_s[m_p + 1] == '*') {
        size_t e = m_s.find("*/", m_p + 2);
        m_cc.bytes(e == std::string_view::npos ? m_s.size() - m_p : e - m_p);
        m_p = e == std::string_view::npos ? m_s.size() : e + 2;
        comment = true;
      } else {
        break;
      }
    }
    return comment;
  }

private:
  // A character read costs about as much as copying 32 bytes: the cancel
  // state is looked at every 8 KiB of text (well under a millisecond).
  void tick() { m_cc.bytes(32); }

  void enter() {
    if (++m_depth > kMaxDepth)
      throw DepthError("the reply nests objects and arrays deeper than " + std::to_string(kMaxDepth) + " levels");
  }

  // object := '{' (key ':' value ','?)* '}'
  Node object() {
    enter();
    Node n;
    n.kind = Kind::Object;
    m_p++;
    bool after_comma = false;
    size_t base = m_stack.size();
    for (;;) {
      if (skip_ws()) n.fixes |= kFixComment;
      if (m_p >= m_s.size()) {
        unfinished(n, base, after_comma);
        break;
      }
      char c = m_s[m_p];
      if (c == '}') {
        m_p++;
        break;
      }
      if (c == ']') { // a mismatched close ends the object; the array above takes it
        n.fixes |= kFixUnclosed;
        break;
      }
      if (c == ',') {
        m_p++;
        after_comma = true;
        if (m_stack.size() == base || next_is_close()) n.fixes |= kFixTrailingComma;
        continue;
      }
      after_comma = false;
      size_t start = m_p;
      std::string_view key;
      bool key_complete = true;
      if (c == '"' || c == '\'' || c == '`') {
        Node k = quoted(c);
        key = k.text;
        key_complete = k.complete;
        if (c != '"') n.fixes |= kFixQuotes;
      } else if (c == '{' || c == '[') {
        // A value where a key belongs: read it and drop it.
        value(Ctx::ObjectValue);
        if (m_p == start) m_p++;
        continue;
      } else {
        Node k = bare(Ctx::Key);
        key = k.text;
        n.fixes |= kFixUnquoted;
        if (m_p == start) { // a character no key can start with
          m_p++;
          continue;
        }
      }
      if (!key_complete) {
        n.complete = false;
        n.fixes |= kFixUnclosed;
        break;
      }
      if (skip_ws()) n.fixes |= kFixComment;
      if (m_p < m_s.size() && m_s[m_p] == ':') {
        m_p++;
      } else {
        n.fixes |= kFixMissingColon;
      }
      if (skip_ws()) n.fixes |= kFixComment;
      if (m_p >= m_s.size()) { // the key's value has not arrived yet
        n.complete = false;
        n.fixes |= kFixUnclosed;
        break;
      }
      c = m_s[m_p];
      Node v;
      if (c == ',' || c == '}' || c == ']') {
        v.fixes = kFixUnquoted; // "key": , -> null
      } else {
        size_t before = m_p;
        v = value(Ctx::ObjectValue);
        if (m_p == before) m_p++;
      }
      v.key = key;
      m_stack.push_back(v);
    }
    close(n, base);
    return n;
  }

  // Moves the children of `n` (the stack above `base`) into the document.
  void close(Node& n, size_t base) {
    n.count = uint32_t(m_stack.size() - base);
    n.first = m_doc.commit(m_stack, base, m_stack.size(), m_cc);
    m_stack.shrink(base);
    m_depth--;
  }

  // array := '[' (value ','?)* ']'
  Node array() {
    enter();
    Node n;
    n.kind = Kind::Array;
    m_p++;
    bool after_comma = false;
    size_t base = m_stack.size();
    for (;;) {
      if (skip_ws()) n.fixes |= kFixComment;
      if (m_p >= m_s.size()) {
        unfinished(n, base, after_comma);
        break;
      }
      char c = m_s[m_p];
      if (c == ']') {
        m_p++;
        break;
      }
      if (c == '}') {
        n.fixes |= kFixUnclosed;
        break;
      }
      if (c == ',') {
        m_p++;
        after_comma = true;
        if (m_stack.size() == base || next_is_close()) n.fixes |= kFixTrailingComma;
        continue;
      }
      after_comma = false;
      size_t before = m_p;
      m_stack.push_back(value(Ctx::ArrayItem));
      if (m_p == before) m_p++;
    }
    close(n, base);
    return n;
  }

  // The text ended inside container `n`: it, and a bare value it ended
  // with (a number may have more digits coming), are unfinished.
  void unfinished(Node& n, size_t base, bool after_comma) {
    n.complete = false;
    n.fixes |= kFixUnclosed;
    if (m_stack.size() > base && !after_comma) {
      Node& last = m_stack.back();
      if (last.kind == Kind::Number || last.kind == Kind::Bool || last.kind == Kind::Null ||
          (last.kind == Kind::String && (last.fixes & kFixUnquoted)))
        last.complete = false;
    }
  }

  bool next_is_close() const {
    size_t i = skip_ws_at(m_p);
    return i >= m_s.size() || m_s[i] == '}' || m_s[i] == ']' || m_s[i] == ',';
  }

  // The index of the first character at or after `i` that is not a space
  // or inside a comment.
  // Looks ahead at most kLookahead bytes (a decision about a quote or a
  // comma must not rescan the rest of a large text each time).
  size_t skip_ws_at(size_t i) const {
    size_t stop = m_s.size() - i > kLookahead ? i + kLookahead : m_s.size();
    while (i < stop) {
      if (is_space(m_s[i])) {
        i++;
      } else if (m_s[i] == '/' && i + 1 < m_s.size() && m_s[i + 1] == '/') {
        size_t e = m_s.substr(0, stop).find('\n', i);
        i = e == std::string_view::npos ? stop : e;
      } else if (m_s[i] == '/' && i + 1 < m_s.size() && m_s[i + 1] == '*') {
        size_t e = m_s.substr(0, stop).find("*/", i + 2);
        i = e == std::string_view::npos ? stop : e + 2;
      } else {
        break;
      }
    }
    return i;
  }

  // Whether a quote at m_p (already passed) ends its string: what follows
  // must be able to end a value (`,` `:` `}` `]`, a comment, the end, or a
  // new line).
  bool closes_here(size_t after) const {
    m_cc.bytes(kLookahead); // what the look-ahead may scan
    size_t i = after;
    bool newline = false;
    size_t stop = m_s.size() - i > kLookahead ? i + kLookahead : m_s.size();
    while (i < stop && is_space(m_s[i])) {
      if (m_s[i] == '\n') newline = true;
      i++;
    }
    if (i >= m_s.size() || newline) return true;
    char c = m_s[i];
    if (c == ':' || c == '}' || c == ']') return true;
    if (c == ',') { // `"hi", and also` goes on; `"hi", "next": ` or `"hi", next: ` ends
      size_t j = skip_ws_at(i + 1);
      if (j >= m_s.size()) return true;
      char d = m_s[j];
      if (d == '"' || d == '\'' || d == '`' || d == '{' || d == '[' || d == '}' || d == ']' || d == '-' ||
          is_digit(d))
        return true;
      // Bare words up to the next `,` `:` `]` `}` or line end: the string
      // ended (`"k2", k 3]`, `"x", key: 1`); up to a quote: the quote was
      // inside the string (`"said "hi", and "bye""`).
      size_t stop2 = m_s.size() - j > kLookahead ? j + kLookahead : m_s.size();
      for (; j < stop2; j++) {
        char e = m_s[j];
        if (e == '"' || e == '\'' || e == '`') return false;
        if (e == ',' || e == ':' || e == ']' || e == '}' || e == '\n') return true;
      }
      return j >= m_s.size();
    }
    if (c == '/' && i + 1 < m_s.size() && (m_s[i + 1] == '/' || m_s[i + 1] == '*')) return true;
    return false;
  }

  // string := '"' chars '"' | '\'' chars '\'' | '`' chars '`'
  Node quoted(char q) {
    Node n;
    n.kind = Kind::String;
    if (q != '"') n.fixes |= kFixQuotes;
    m_p++;
    std::string out;
    size_t from = m_p;
    bool escaped = false;
    for (;;) {
      if (m_p >= m_s.size()) {
        n.complete = false;
        n.fixes |= kFixUnclosed;
        break;
      }
      char c = m_s[m_p];
      tick();
      if (c == '\\' && q != '`' && m_p + 1 < m_s.size()) {
        if (!escaped) out.assign(m_s.substr(from, m_p - from));
        escaped = true;
        escape(out);
        continue;
      }
      if (c == q) {
        if (closes_here(m_p + 1)) {
          m_p++;
          n.text = escaped ? m_doc.pool().keep(out) : m_s.substr(from, m_p - 1 - from);
          return n;
        }
        n.fixes |= kFixStrayQuote;
      }
      if (escaped) out += c;
      m_p++;
    }
    n.text = escaped ? m_doc.pool().keep(out) : m_s.substr(from, m_p - from);
    return n;
  }

  void escape(std::string& out) {
    char e = m_s[m_p + 1];
    m_p += 2;
    switch (e) {
    case 'n': out += '\n'; return;
    case 't': out += '\t'; return;
    case 'r': out += '\r'; return;
    case 'b': out += '\b'; return;
    case 'f': out += '\f'; return;
    case 'u': {
      uint32_t cp = 0;
      if (!read_hex4(m_p, cp)) {
        out += "\\u";
        return;
      }
      m_p += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && m_p + 1 < m_s.size() && m_s[m_p] == '\\' && m_s[m_p + 1] == 'u') {
        uint32_t lo = 0;
        if (read_hex4(m_p + 2, lo) && lo >= 0xDC00 && lo < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          m_p += 6;
        }
      }
      if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
      append_utf8(out, cp);
      return;
    }
    default: out += e; return; // \" \' \\ \/ and anything else: the character
    }
  }

  bool read_hex4(size_t at, uint32_t& cp) const {
    if (at + 4 > m_s.size()) return false;
    cp = 0;
    for (size_t i = 0; i < 4; i++) {
      int h = hex_value(m_s[at + i]);
      if (h < 0) return false;
      cp = cp * 16 + uint32_t(h);
    }
    return true;
  }

  // triple := '"""' chars '"""' | '```' info-line chars '```' (dedented)
  Node triple(char q) {
    Node n;
    n.kind = Kind::String;
    n.fixes |= kFixQuotes;
    m_p += 3;
    if (q == '`') { // the info string (```typescript main.ts) is dropped
      size_t nl = m_s.find('\n', m_p);
      m_p = nl == std::string_view::npos ? m_s.size() : nl + 1;
    }
    const char close[4] = {q, q, q, 0};
    size_t e = m_s.find(close, m_p);
    std::string_view body;
    if (e == std::string_view::npos) {
      body = m_s.substr(m_p);
      m_p = m_s.size();
      n.complete = false;
      n.fixes |= kFixUnclosed;
    } else {
      while (e + 3 < m_s.size() && m_s[e + 3] == q) e++; // """" : the last three close
      body = m_s.substr(m_p, e - m_p);
      m_p = e + 3;
    }
    m_cc.bytes(body.size());
    n.text = m_doc.pool().keep(dedent(body));
    return n;
  }

  // After a comma (or a new line) in an object: does a new key, or the end
  // of the object, follow?
  bool key_follows(size_t i) const {
    m_cc.bytes(kLookahead);
    i = skip_ws_at(i);
    if (i >= m_s.size()) return true;
    char c = m_s[i];
    if (c == '}' || c == ']' || c == '"' || c == '\'') return true;
    size_t b = i, stop = m_s.size() - i > kLookahead ? i + kLookahead : m_s.size();
    while (i < stop && is_ident(m_s[i])) i++;
    if (i == b) return false;
    while (i < stop && (m_s[i] == ' ' || m_s[i] == '\t')) i++;
    return i < stop && m_s[i] == ':';
  }

  // bare := characters up to what ends a value in `ctx`
  Node bare(Ctx ctx) {
    size_t start = m_p;
    int nest = 0;
    bool at_end = false;
    for (;;) {
      if (m_p >= m_s.size()) {
        at_end = true;
        break;
      }
      char c = m_s[m_p];
      if (ctx == Ctx::Key) {
        if (c == ':' || c == ',' || c == '{' || c == '}' || c == '[' || c == ']' || c == '\n') break;
      } else if (ctx == Ctx::ArrayItem) {
        if (nest == 0 && (c == ',' || c == ']' || c == '}' || c == '\n')) break;
      } else if (ctx == Ctx::ObjectValue) {
        if (nest == 0 && (c == '}' || c == ']')) break;
        if (nest == 0 && c == ',' && key_follows(m_p + 1)) break;
      }
      // Parentheses and brackets nest (`f(a: int, b: string)`); braces do
      // not: a bare word that runs into `{` still ends at `, "key":`.
      if (ctx != Ctx::Key) {
        if (c == '(' || c == '[') nest++;
        else if ((c == ')' || c == ']') && nest > 0) nest--;
      }
      m_p++;
      tick();
    }
    std::string_view word = trim(m_s.substr(start, m_p - start));
    Node n;
    if (ctx == Ctx::Key) {
      n.kind = Kind::String;
      n.fixes |= kFixUnquoted;
      n.text = word;
    } else {
      n = classify(word);
    }
    n.complete = !at_end;
    return n;
  }

  std::string_view m_s;
  size_t m_p = 0;
  int m_depth = 0;
  Document& m_doc;
  vm::CancelCheck& m_cc;
  Arena<Node> m_stack; // children of the containers being read
};

bool line_start_before(std::string_view s, size_t at) {
  while (at > 0) {
    char c = s[at - 1];
    if (c == '\n') return true;
    if (c != ' ' && c != '\t' && c != '\r') return false;
    at--;
  }
  return true;
}

struct Fence {
  size_t open, body, body_end, close_end;
};

// Markdown code fences: ``` at the start of a line, an info word, the body,
// and ``` at the start of a line (or the end of the text).
std::vector<Fence> find_fences(std::string_view s, vm::CancelCheck& cc) {
  std::vector<Fence> out;
  size_t at = 0;
  while (out.size() < kMaxCandidates) {
    size_t o = s.find("```", at);
    if (o == std::string_view::npos) break;
    cc.bytes(o - at + 3);
    if (!line_start_before(s, o)) {
      at = o + 3;
      continue;
    }
    size_t nl = s.find('\n', o + 3);
    if (nl == std::string_view::npos) break; // "```json" and nothing more
    Fence f{o, nl + 1, s.size(), s.size()};
    size_t c = nl + 1;
    for (;;) {
      size_t x = s.find("```", c);
      if (x == std::string_view::npos) break;
      if (line_start_before(s, x)) {
        f.body_end = x;
        f.close_end = x + 3;
        break;
      }
      c = x + 3;
    }
    cc.bytes(f.close_end - f.body);
    out.push_back(f);
    at = f.close_end;
  }
  return out;
}


bool is_name_char(char c) { return is_ident(c) || c == '.' || c == ':'; }

// XML a model wrote instead of JSON: an element with child elements is an
// object of them (by tag), or a list when its children all share one tag
// (several, or one <item>); an element of text is that text as a bare word;
// an empty element an empty list (an empty map or list to coerce); tags
// left open at the end are closed.
class XmlReader {
public:
  XmlReader(std::string_view s, Document& doc, vm::CancelCheck& cc) : m_s(s), m_doc(doc), m_cc(cc) {}

  // element := '<' name attrs '>' (text | element)* '</' name '>'
  // At '<' of a start tag; `name` receives its tag.
  Node element(std::string_view& name) {
    if (++m_depth > kMaxDepth)
      throw DepthError("the reply nests XML elements deeper than " + std::to_string(kMaxDepth) + " levels");
    size_t b = ++m_p;
    while (m_p < m_s.size() && is_name_char(m_s[m_p])) m_p++;
    name = m_s.substr(b, m_p - b);
    size_t gt = m_s.find('>', m_p);
    m_cc.bytes(gt == std::string_view::npos ? m_s.size() - m_p : gt - m_p);
    bool self_closing = gt != std::string_view::npos && gt > 0 && m_s[gt - 1] == '/';
    m_p = gt == std::string_view::npos ? m_s.size() : gt + 1;
    Node n;
    size_t content = m_p, content_end = m_p;
    size_t base = m_stack.size();
    std::vector<std::string_view> tags;
    bool complete = gt != std::string_view::npos;
    if (!self_closing && complete) {
      complete = false;
      while (m_p < m_s.size()) {
        size_t lt = m_s.find('<', m_p);
        m_cc.bytes(lt == std::string_view::npos ? m_s.size() - m_p : lt - m_p);
        if (lt == std::string_view::npos) {
          m_p = m_s.size();
          break;
        }
        m_p = lt;
        if (lt + 1 < m_s.size() && m_s[lt + 1] == '/') { // an end tag ends this element (whichever it names)
          content_end = lt;
          size_t e = m_s.find('>', lt);
          m_p = e == std::string_view::npos ? m_s.size() : e + 1;
          complete = true;
          break;
        }
        if (lt + 1 < m_s.size() && is_ident(m_s[lt + 1])) {
          std::string_view child_name;
          Node c = element(child_name);
          c.key = child_name;
          tags.push_back(child_name);
          m_stack.push_back(c);
          continue;
        }
        m_p = lt + 1; // a '<' that starts no tag is text
      }
      if (!complete) content_end = m_s.size();
    }
    if (m_stack.size() > base) {
      bool same = true;
      for (std::string_view t : tags) same = same && t == tags[0];
      n.kind = same && (tags.size() > 1 || tags[0] == "item" || tags[0] == "li" || tags[0] == "entry") ? Kind::Array : Kind::Object;
      n.count = uint32_t(m_stack.size() - base);
      n.first = m_doc.commit(m_stack, base, m_stack.size(), m_cc);
      m_stack.shrink(base);
    } else {
      std::string_view text = trim(m_s.substr(content, content_end - content));
      if (text.empty()) {
        n.kind = Kind::Array; // <tags></tags>: nothing
      } else {
        n = classify(text);
        n.fixes &= uint16_t(~kFixUnquoted);
      }
    }
    n.complete = complete;
    n.source = trim(m_s.substr(content, content_end - content));
    m_depth--;
    return n;
  }

  size_t pos() const { return m_p; }
  void set_pos(size_t p) { m_p = p; }

private:
  std::string_view m_s;
  size_t m_p = 0;
  int m_depth = 0;
  Document& m_doc;
  vm::CancelCheck& m_cc;
  Arena<Node> m_stack;
};

// The first XML element in `text` whose tag is closed somewhere after it.
bool find_xml(std::string_view text, Document& doc, vm::CancelCheck& cc, Node& out) {
  for (size_t at = text.find('<'); at != std::string_view::npos && at + 1 < text.size(); at = text.find('<', at + 1)) {
    cc.bytes(8);
    if (!is_ident(text[at + 1])) continue;
    size_t e = at + 1;
    while (e < text.size() && is_name_char(text[e])) e++;
    std::string close = "</" + std::string(text.substr(at + 1, e - at - 1));
    if (text.find(close, e) == std::string_view::npos && text.find("</", e) == std::string_view::npos) continue;
    XmlReader r(text, doc, cc);
    r.set_pos(at);
    std::string_view name;
    out = r.element(name);
    out.fixes |= kFixUnquoted;
    return true;
  }
  return false;
}

// TOON / YAML-like lines a model wrote instead of JSON: `key: value`,
// `key[N]: a,b,c` (a list), and `key:` followed by more-indented lines (an
// object). Lines before the first key are prose.
class ToonReader {
public:
  ToonReader(std::string_view s, Document& doc, vm::CancelCheck& cc) : m_doc(doc), m_cc(cc) {
    for (size_t b = 0; b < s.size();) {
      size_t e = s.find('\n', b);
      if (e == std::string_view::npos) e = s.size();
      std::string_view line = s.substr(b, e - b);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      m_cc.bytes(line.size() + 1);
      Line l;
      if (parse_line(line, l)) m_lines.push_back(l);
      else if (!trim(line).empty()) m_lines.push_back(Line{});
      b = e + 1;
    }
  }

  // The object of the keys at the first key line's indentation; false
  // when there are fewer than two keys there.
  bool read(Node& out) {
    size_t i = 0;
    while (i < m_lines.size() && !m_lines[i].key_line) i++;
    if (i >= m_lines.size()) return false;
    size_t keys = 0;
    out = block(i, m_lines[i].indent, keys);
    out.fixes |= kFixUnquoted;
    return keys >= 2;
  }

private:
  struct Line {
    bool key_line = false;
    bool list = false;
    size_t indent = 0;
    std::string_view key, value;
  };

  static bool parse_line(std::string_view line, Line& l) {
    size_t i = 0;
    while (i < line.size() && line[i] == ' ') i++;
    size_t b = i;
    while (i < line.size() && (is_ident(line[i]) || line[i] == '.')) i++;
    if (i == b) return false;
    l.key = line.substr(b, i - b);
    if (i < line.size() && line[i] == '[') {
      size_t close = line.find(']', i);
      if (close == std::string_view::npos) return false;
      l.list = true;
      i = close + 1;
    }
    if (i >= line.size() || line[i] != ':') return false;
    l.key_line = true;
    l.indent = b;
    l.value = trim(line.substr(i + 1));
    return true;
  }

  Node block(size_t& i, size_t indent, size_t& keys) {
    if (++m_depth > kMaxDepth) throw DepthError("the reply nests keys deeper than " + std::to_string(kMaxDepth) + " levels");
    Node n;
    n.kind = Kind::Object;
    size_t base = m_stack.size();
    while (i < m_lines.size() && m_lines[i].key_line && m_lines[i].indent == indent) {
      const Line& l = m_lines[i++];
      keys++;
      Node v;
      if (l.list) {
        v.kind = Kind::Array;
        size_t vbase = m_stack.size();
        std::string_view rest = l.value;
        while (!rest.empty()) {
          size_t comma = rest.find(',');
          std::string_view item = trim(rest.substr(0, comma));
          if (!item.empty()) m_stack.push_back(classify(item));
          rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
        v.count = uint32_t(m_stack.size() - vbase);
        v.first = m_doc.commit(m_stack, vbase, m_stack.size(), m_cc);
        m_stack.shrink(vbase);
      } else if (!l.value.empty()) {
        v = classify(l.value);
      } else if (i < m_lines.size() && m_lines[i].key_line && m_lines[i].indent > indent) {
        size_t inner = 0;
        v = block(i, m_lines[i].indent, inner);
      }
      v.key = l.key;
      m_stack.push_back(v);
    }
    n.count = uint32_t(m_stack.size() - base);
    n.first = m_doc.commit(m_stack, base, m_stack.size(), m_cc);
    m_stack.shrink(base);
    m_depth--;
    return n;
  }

  Document& m_doc;
  vm::CancelCheck& m_cc;
  std::vector<Line> m_lines;
  Arena<Node> m_stack;
  int m_depth = 0;
};

} // namespace

double Node::number() const {
  // Number texts are [+-]digits[.digits][e[+-]digits] (is_number_text);
  // from_chars takes no '+', and rounds as strtod does.
  std::string_view t = !text.empty() && text.front() == '+' ? text.substr(1) : text;
  double d = 0;
  auto r = std::from_chars(t.data(), t.data() + t.size(), d);
  if (r.ec == std::errc::result_out_of_range) return std::strtod(std::string(t).c_str(), nullptr); // +-inf or 0
  return d;
}

bool Node::is_integer_text() const { return text.find_first_of(".eE") == std::string_view::npos; }

std::string_view TextPool::keep(std::string_view s) {
  // Chunks grow from 1 KiB to 64 KiB: a small reply is charged little.
  size_t kChunk = std::min<size_t>(size_t(1024) << std::min<size_t>(m_chunks.size(), 6), 64 * 1024);
  if (s.empty()) return std::string_view();
  if (s.size() > kChunk / 4) { // a big text gets a chunk of its own
    m_budget.charge(s.size());
    m_chunks.emplace_back(new char[s.size()]);
    std::memcpy(m_chunks.back().get(), s.data(), s.size());
    return std::string_view(m_chunks.back().get(), s.size());
  }
  if (m_left < s.size()) {
    m_budget.charge(kChunk);
    m_chunks.emplace_back(new char[kChunk]);
    m_next = m_chunks.back().get();
    m_left = kChunk;
  }
  std::memcpy(m_next, s.data(), s.size());
  std::string_view kept(m_next, s.size());
  m_next += s.size();
  m_left -= s.size();
  return kept;
}

std::string_view TextPool::keep_padded(std::string_view s, size_t padding) {
  m_budget.charge(s.size() + padding);
  m_chunks.emplace_back(new char[s.size() + padding]);
  char* p = m_chunks.back().get();
  std::memcpy(p, s.data(), s.size());
  std::memset(p + s.size(), 0, padding);
  return std::string_view(p, s.size());
}

Node parse_value(std::string_view text, Document& doc, vm::CancelCheck& cc, size_t* end) {
  Fixer f(text, doc, cc);
  Node n = f.value(Ctx::Top);
  if (end) *end = f.pos();
  return n;
}

size_t parse(std::string_view text, bool partial, Document& doc, vm::CancelCheck& cc,
             const std::function<bool(const Candidate&)>& take) {
  size_t handed = 0;
  auto hand = [&](Source source, const Node& n) { // false: no more are wanted
    handed++;
    return take(Candidate{source, n});
  };
  std::string_view t = trim(text);

  // 1. The whole text (its trailing spaces kept: they may be inside an
  // unclosed string).
  bool whole_container = false;
  if (!t.empty()) {
    std::string_view from = text.substr(size_t(t.data() - text.data()));
    char first = t.front();
    Node strict;
    if ((first == '{' || first == '[') && read_strict(t, doc, cc, strict)) {
      whole_container = true;
      if (!hand(Source::Whole, strict)) return handed;
    } else if (first == '{' || first == '[' || first == '"' || first == '\'' || first == '`' || first == '/') {
      Fixer f(from, doc, cc);
      Node n = f.value(Ctx::Top);
      f.skip_ws();
      bool all = f.pos() >= from.size();
      if (all && (n.kind == Kind::Object || n.kind == Kind::Array)) {
        whole_container = true;
        if (!hand(Source::Whole, n)) return handed;
      } else if (all && n.fixes == kFixNone && n.kind != Kind::Object && n.kind != Kind::Array &&
                 (n.kind != Kind::String || first == '"')) {
        if (!hand(Source::Whole, n)) return handed;
      }
    } else {
      // A bare word runs to the end of the text: what the fixing parser
      // would read, without reading it character by character.
      cc.bytes(t.size());
      Node n = classify(t);
      n.complete = false;
      n.source = t;
      if (n.fixes == kFixNone && !hand(Source::Whole, n)) return handed;
    }
  }

  // 2. Code fences; 3. objects and arrays in the prose around them.
  std::vector<Fence> fences = find_fences(text, cc);
  for (const Fence& fence : fences) {
    std::string_view body = trim(text.substr(fence.body, fence.body_end - fence.body));
    if (body.empty()) continue;
    Node n;
    if (!read_strict(body, doc, cc, n)) n = Fixer(body, doc, cc).value(Ctx::Top);
    if (fence.close_end == text.size() && fence.body_end == text.size() && !partial) n.fixes |= kFixUnclosed;
    if (!hand(Source::Fence, n)) return handed;
  }
  if (!whole_container) {
    std::vector<Node> prose;
    size_t fi = 0, i = 0;
    while (i < text.size() && handed < kMaxCandidates) {
      while (fi < fences.size() && fences[fi].close_end <= i) fi++;
      if (fi < fences.size() && i >= fences[fi].open) {
        i = fences[fi].close_end;
        continue;
      }
      char c = text[i];
      cc.bytes(8);
      if (c != '{' && c != '[') {
        i++;
        continue;
      }
      // An object that starts in the prose may hold what looks like a fence
      // (a ``` string): it runs on past it.
      Fixer f(text, doc, cc);
      f.set_pos(i);
      Node n = f.value(Ctx::Top);
      size_t end = f.pos() > i ? f.pos() : i + 1;
      bool empty_noise = n.count == 0 && !n.complete;
      if (!empty_noise || partial) {
        prose.push_back(n);
        if (!hand(Source::Prose, n)) return handed;
      }
      i = end;
    }
    if (prose.size() > 1 && handed < kMaxCandidates) {
      Node list;
      list.kind = Kind::Array;
      list.count = uint32_t(prose.size());
      list.first = doc.commit(prose, 0, prose.size(), cc);
      if (!hand(Source::ProseList, list)) return handed;
    }
  }

  // XML or TOON instead of JSON.
  if (!whole_container && handed < kMaxCandidates) {
    Node xml;
    if (text.find("</") != std::string_view::npos && find_xml(text, doc, cc, xml) && !hand(Source::Prose, xml))
      return handed;
    Node toon;
    if (handed < kMaxCandidates && ToonReader(text, doc, cc).read(toon) && !hand(Source::Prose, toon)) return handed;
  }

  // 4. The text itself.
  Node raw;
  raw.kind = Kind::String;
  raw.text = t;
  raw.complete = !partial;
  hand(Source::Raw, raw);
  return handed;
}

// ---------------------------------------------------------------- helpers

namespace {

// The folded form of code point `cp` (U+00C0..U+017F), or null.
const char* fold_latin(uint32_t cp) {
  static const char* const k00C0[64] = {
      "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",  // C0-CF
      "D", "N", "O", "O", "O", "O", "O", nullptr, "O", "U", "U", "U", "U", "Y", "TH", "ss", // D0-DF
      "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i", // E0-EF
      "d", "n", "o", "o", "o", "o", "o", nullptr, "o", "u", "u", "u", "u", "y", "th", "y", // F0-FF
  };
  static const char* const k0100[128] = {
      "A", "a", "A", "a", "A", "a", "C", "c", "C", "c", "C", "c", "C", "c", "D", "d", // 100
      "D", "d", "E", "e", "E", "e", "E", "e", "E", "e", "E", "e", "G", "g", "G", "g", // 110
      "G", "g", "G", "g", "H", "h", "H", "h", "I", "i", "I", "i", "I", "i", "I", "i", // 120
      "I", "i", "IJ", "ij", "J", "j", "K", "k", "k", "L", "l", "L", "l", "L", "l", "L", // 130
      "l", "L", "l", "N", "n", "N", "n", "N", "n", "n", "N", "n", "O", "o", "O", "o", // 140
      "O", "o", "OE", "oe", "R", "r", "R", "r", "R", "r", "S", "s", "S", "s", "S", "s", // 150
      "S", "s", "T", "t", "T", "t", "T", "t", "U", "u", "U", "u", "U", "u", "U", "u", // 160
      "U", "u", "U", "u", "W", "w", "Y", "y", "Y", "Z", "z", "Z", "z", "Z", "z", "s", // 170
  };
  if (cp >= 0xC0 && cp < 0x100) return k00C0[cp - 0xC0];
  if (cp >= 0x100 && cp < 0x180) return k0100[cp - 0x100];
  return nullptr;
}

// Decodes one UTF-8 sequence at s[i]; returns its length (1 for a stray byte).
size_t decode_utf8(std::string_view s, size_t i, uint32_t& cp) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + len > s.size()) len = 1;
  if (len == 1) {
    cp = c;
    return 1;
  }
  cp = c & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; k++) {
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d >> 6) != 2) {
      cp = c;
      return 1;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  return len;
}

} // namespace

std::string remove_accents(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t len = decode_utf8(s, i, cp);
    if (len > 1) {
      if (cp >= 0x300 && cp < 0x370) { // combining marks
        i += len;
        continue;
      }
      if (const char* f = fold_latin(cp)) {
        out += f;
        i += len;
        continue;
      }
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

namespace {

bool currency_at(std::string_view s, size_t i, size_t& len) {
  if (s[i] == '$') {
    len = 1;
    return true;
  }
  static const char* const kSigns[] = {"\xE2\x82\xAC" /* € */, "\xC2\xA3" /* £ */, "\xC2\xA5" /* ¥ */};
  for (const char* sign : kSigns) {
    size_t n = std::strlen(sign);
    if (s.compare(i, n, sign) == 0) {
      len = n;
      return true;
    }
  }
  return false;
}

} // namespace

bool float_from_comma_separated(std::string_view s, double& out) {
  // number := [+-]? currency? (digits (',' digits)* ('.' digits?)? | '.' digits)
  int found = 0;
  std::string best;
  for (size_t i = 0; i < s.size();) {
    size_t j = i;
    bool neg = false;
    if (s[j] == '+' || s[j] == '-') neg = s[j++] == '-';
    size_t clen = 0;
    if (j < s.size() && currency_at(s, j, clen)) j += clen;
    std::string num;
    if (j < s.size() && is_digit(s[j])) {
      while (j < s.size()) {
        if (is_digit(s[j])) {
          num += s[j++];
        } else if (s[j] == ',' && j + 1 < s.size() && is_digit(s[j + 1])) {
          j++;
        } else {
          break;
        }
      }
      if (j < s.size() && s[j] == '.' && j + 1 < s.size() && is_digit(s[j + 1])) {
        num += s[j++];
        while (j < s.size() && is_digit(s[j])) num += s[j++];
      }
    } else if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
      num += "0.";
      j++;
      while (j < s.size() && is_digit(s[j])) num += s[j++];
    }
    if (num.empty()) {
      uint32_t cp;
      i += decode_utf8(s, i, cp);
      continue;
    }
    found++;
    best = (neg ? "-" : "") + num;
    i = j;
  }
  if (found != 1) return false;
  out = std::strtod(best.c_str(), nullptr);
  return true;
}

} // namespace brake::schema::jsonish
