#include "llm/template_regex.h"

#include <algorithm>
#include <memory>

namespace brake::llm::tmpl {

namespace {

constexpr uint32_t kEnd = 0xFFFFFFFF; // past the text
constexpr int kMaxGroupDepth = 100;

// Decodes the code point at `i` (invalid bytes read as U+FFFD, one byte each).
uint32_t decode(std::string_view s, size_t i, size_t& next) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    next = i + 1;
    return c < 0x80 ? c : 0xFFFD;
  }
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; k++) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      next = i + 1;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  next = i + len;
  return cp;
}

uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
uint32_t ascii_upper(uint32_t c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }
bool is_word(uint32_t c) {
  return c != kEnd && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
}

using Ranges = std::vector<Regex::Range>;

void normalize(Ranges& r) {
  std::sort(r.begin(), r.end(), [](const Regex::Range& a, const Regex::Range& b) { return a.lo < b.lo; });
  Ranges out;
  for (auto x : r) {
    if (!out.empty() && x.lo <= out.back().hi + 1)
      out.back().hi = std::max(out.back().hi, x.hi);
    else
      out.push_back(x);
  }
  r = std::move(out);
}

Ranges complement(Ranges r) {
  normalize(r);
  Ranges out;
  uint32_t at = 0;
  for (auto x : r) {
    if (x.lo > at) out.push_back({at, x.lo - 1});
    at = x.hi + 1;
  }
  if (at <= 0x10FFFF) out.push_back({at, 0x10FFFF});
  return out;
}

Ranges builtin_class(char c) {
  Ranges r;
  switch (c) {
  case 'd': case 'D': r = {{'0', '9'}}; break;
  case 'w': case 'W': r = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; break;
  case 's': case 'S': r = {{'\t', '\r'}, {' ', ' '}}; break;
  }
  if (c == 'D' || c == 'W' || c == 'S') r = complement(r);
  return r;
}

struct Node {
  enum class K : uint8_t { Empty, Char, Any, Class, Begin, End, WordB, NotWordB, Concat, Alt, Repeat } k = K::Empty;
  uint32_t c = 0;
  int min = 0, max = 0; // Repeat; max -1: unbounded
  std::vector<Node> kids;
};

} // namespace

class RegexCompiler {
public:
  RegexCompiler(Regex& re, std::string_view p, std::string& error) : m_re(re), m_p(p), m_error(error) {}

  bool run() {
    Node root;
    if (!alternation(root, 0)) return false;
    if (m_i < m_p.size()) return fail("unmatched ')'");
    m_re.m_prog.clear();
    if (!gen(root)) return false;
    emit({Regex::Op::Match});
    return m_re.m_prog.size() <= Regex::kMaxProgram || fail("pattern too large");
  }

private:
  bool fail(const std::string& msg) {
    if (m_error.empty()) m_error = msg;
    return false;
  }
  bool more() const { return m_i < m_p.size(); }
  char peek() const { return m_p[m_i]; }

  uint32_t next_cp() {
    size_t next;
    uint32_t cp = decode(m_p, m_i, next);
    m_i = next;
    return cp;
  }

  // alternation := concat ('|' concat)*
  bool alternation(Node& out, int depth) {
    if (depth > kMaxGroupDepth) return fail("pattern nested too deeply");
    Node alt;
    alt.k = Node::K::Alt;
    while (true) {
      Node seq;
      seq.k = Node::K::Concat;
      if (!concat(seq, depth)) return false;
      alt.kids.push_back(std::move(seq));
      if (more() && peek() == '|') {
        m_i++;
        continue;
      }
      break;
    }
    out = alt.kids.size() == 1 ? std::move(alt.kids[0]) : std::move(alt);
    return true;
  }

  // concat := repeat*
  bool concat(Node& seq, int depth) {
    while (more() && peek() != '|' && peek() != ')') {
      Node atom;
      bool is_flag_group = false;
      if (!this->atom(atom, depth, is_flag_group)) return false;
      if (is_flag_group) continue;
      if (!quantifiers(atom)) return false;
      seq.kids.push_back(std::move(atom));
    }
    return true;
  }

  bool number(int& out) {
    if (!more() || peek() < '0' || peek() > '9') return false;
    out = 0;
    while (more() && peek() >= '0' && peek() <= '9') {
      out = out * 10 + (peek() - '0');
      if (out > 100000) out = 100000;
      m_i++;
    }
    return true;
  }

  // quant := ('*' | '+' | '?' | '{n}' | '{n,}' | '{n,m}') '?'?
  bool quantifiers(Node& atom) {
    while (more()) {
      int min, max;
      char c = peek();
      if (c == '*') min = 0, max = -1, m_i++;
      else if (c == '+') min = 1, max = -1, m_i++;
      else if (c == '?') min = 0, max = 1, m_i++;
      else if (c == '{') {
        size_t save = m_i;
        m_i++;
        if (!number(min)) {
          m_i = save;
          return true; // a literal '{' (Rust refuses it; being lenient costs nothing)
        }
        max = min;
        if (more() && peek() == ',') {
          m_i++;
          if (!number(max)) max = -1;
        }
        if (!more() || peek() != '}') return fail("unclosed counted repetition");
        m_i++;
        if (max != -1 && max < min) return fail("invalid repetition range");
      } else {
        return true;
      }
      if (more() && (peek() == '?' || peek() == '+')) m_i++; // lazy/possessive: same matches
      if (atom.k == Node::K::Begin || atom.k == Node::K::End) return fail("repetition of an anchor");
      Node rep;
      rep.k = Node::K::Repeat;
      rep.min = min;
      rep.max = max;
      rep.kids.push_back(std::move(atom));
      atom = std::move(rep);
    }
    return true;
  }

  bool hex_escape(uint32_t& cp) {
    // \xHH, \x{H...}, \u{H...}, \uHHHH
    cp = 0;
    auto hexval = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (more() && peek() == '{') {
      m_i++;
      int n = 0;
      while (more() && peek() != '}') {
        int h = hexval(peek());
        if (h < 0 || ++n > 6) return fail("invalid hex escape");
        cp = cp * 16 + uint32_t(h);
        m_i++;
      }
      if (!more() || n == 0) return fail("invalid hex escape");
      m_i++;
    } else {
      for (int k = 0; k < 2; k++) {
        if (!more() || hexval(peek()) < 0) return fail("invalid hex escape");
        cp = cp * 16 + uint32_t(hexval(peek()));
        m_i++;
      }
    }
    return cp <= 0x10FFFF || fail("invalid hex escape");
  }

  // An escape after '\': a single code point (`cp`) or a class (`cls` filled).
  bool escape(uint32_t& cp, Ranges& cls, bool& is_class, Node::K& assertion, bool in_class) {
    is_class = false;
    assertion = Node::K::Empty;
    if (!more()) return fail("pattern ends with a backslash");
    char c = peek();
    m_i++;
    switch (c) {
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
      cls = builtin_class(c);
      is_class = true;
      return true;
    case 'n': cp = '\n'; return true;
    case 't': cp = '\t'; return true;
    case 'r': cp = '\r'; return true;
    case 'f': cp = '\f'; return true;
    case 'v': cp = '\v'; return true;
    case 'a': cp = 7; return true;
    case 'e': cp = 27; return true;
    case '0': cp = 0; return true;
    case 'x': case 'u': return hex_escape(cp);
    case 'b':
      if (in_class) {
        cp = 8;
        return true;
      }
      assertion = Node::K::WordB;
      return true;
    case 'B': assertion = Node::K::NotWordB; return !in_class || fail("\\B in a class");
    case 'A': assertion = Node::K::Begin; return !in_class || fail("\\A in a class");
    case 'z': assertion = Node::K::End; return !in_class || fail("\\z in a class");
    default:
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return fail(std::string("unsupported escape \\") + c);
      m_i--;
      cp = next_cp();
      return true;
    }
  }

  bool char_class(Node& out) {
    // after '['
    Regex::Class cls;
    if (more() && peek() == '^') {
      cls.negated = true;
      m_i++;
    }
    bool first = true;
    while (true) {
      if (!more()) return fail("unclosed character class");
      if (peek() == ']' && !first) {
        m_i++;
        break;
      }
      first = false;
      uint32_t lo;
      if (peek() == '\\') {
        m_i++;
        Ranges r;
        bool is_class;
        Node::K assertion;
        if (!escape(lo, r, is_class, assertion, true)) return false;
        if (is_class) {
          cls.ranges.insert(cls.ranges.end(), r.begin(), r.end());
          continue;
        }
      } else if (peek() == '[' && m_i + 1 < m_p.size() && m_p[m_i + 1] == ':') {
        return fail("POSIX character classes are not supported");
      } else {
        lo = next_cp();
      }
      uint32_t hi = lo;
      if (more() && peek() == '-' && m_i + 1 < m_p.size() && m_p[m_i + 1] != ']') {
        m_i++;
        if (peek() == '\\') {
          m_i++;
          Ranges r;
          bool is_class;
          Node::K assertion;
          if (!escape(hi, r, is_class, assertion, true)) return false;
          if (is_class) return fail("a class cannot end a range");
        } else {
          hi = next_cp();
        }
        if (hi < lo) return fail("invalid class range");
      }
      cls.ranges.push_back({lo, hi});
    }
    normalize(cls.ranges);
    out.k = Node::K::Class;
    out.c = uint32_t(m_re.m_classes.size());
    m_re.m_classes.push_back(std::move(cls));
    return true;
  }

  bool atom(Node& out, int depth, bool& is_flag_group) {
    is_flag_group = false;
    char c = peek();
    switch (c) {
    case '(': {
      m_i++;
      if (more() && peek() == '?') {
        m_i++;
        // (?:...), (?flags) or (?flags:...)
        bool scoped = false;
        while (more() && peek() != ')' && peek() != ':') {
          char f = peek();
          if (f == 'i') m_re.m_icase = true;
          else if (f == 's') m_re.m_dotall = true;
          else if (f == 'm') m_re.m_multiline = true;
          else if (f == 'x' || f == 'U' || f == '-' || f == 'u') {
            // ignored
          } else if (f == 'P' || f == '<') {
            // a named group: skip the name
            while (more() && peek() != '>') m_i++;
            if (!more()) return fail("unclosed group name");
            m_i++;
            scoped = true;
            break;
          } else {
            return fail(std::string("unsupported group flag '") + f + "'");
          }
          m_i++;
        }
        if (!scoped) {
          if (!more()) return fail("unclosed group");
          if (peek() == ')') {
            m_i++;
            is_flag_group = true;
            return true;
          }
          m_i++; // ':'
        }
      }
      if (!alternation(out, depth + 1)) return false;
      if (!more() || peek() != ')') return fail("unclosed group");
      m_i++;
      return true;
    }
    case ')': return fail("unmatched ')'");
    case '[': m_i++; return char_class(out);
    case '.': m_i++; out.k = Node::K::Any; return true;
    case '^': m_i++; out.k = Node::K::Begin; return true;
    case '$': m_i++; out.k = Node::K::End; return true;
    case '*': case '+': case '?': return fail("repetition with nothing to repeat");
    case '\\': {
      m_i++;
      uint32_t cp;
      Ranges r;
      bool is_class;
      Node::K assertion;
      if (!escape(cp, r, is_class, assertion, false)) return false;
      if (assertion != Node::K::Empty) {
        out.k = assertion;
        if (assertion == Node::K::Begin) out.c = 1; // \A: the text's start even in multiline mode
        if (assertion == Node::K::End) out.c = 1;
        return true;
      }
      if (is_class) {
        Regex::Class cls;
        cls.ranges = std::move(r);
        out.k = Node::K::Class;
        out.c = uint32_t(m_re.m_classes.size());
        m_re.m_classes.push_back(std::move(cls));
        return true;
      }
      out.k = Node::K::Char;
      out.c = cp;
      return true;
    }
    default:
      out.k = Node::K::Char;
      out.c = next_cp();
      return true;
    }
  }

  uint32_t emit(Regex::Inst inst) {
    m_re.m_prog.push_back(inst);
    return uint32_t(m_re.m_prog.size() - 1);
  }
  uint32_t here() const { return uint32_t(m_re.m_prog.size()); }

  bool gen(const Node& n) {
    if (m_re.m_prog.size() > Regex::kMaxProgram) return fail("pattern too large");
    using Op = Regex::Op;
    switch (n.k) {
    case Node::K::Empty: return true;
    case Node::K::Char: emit({Op::Char, n.c}); return true;
    case Node::K::Any: emit({m_re.m_dotall ? Op::Any : Op::AnyNoNewline}); return true;
    case Node::K::Class: emit({Op::Class, n.c}); return true;
    case Node::K::Begin: emit({m_re.m_multiline && !n.c ? Op::LineBegin : Op::Begin}); return true;
    case Node::K::End: emit({m_re.m_multiline && !n.c ? Op::LineEnd : Op::End}); return true;
    case Node::K::WordB: emit({Op::WordB}); return true;
    case Node::K::NotWordB: emit({Op::NotWordB}); return true;
    case Node::K::Concat:
      for (const Node& k : n.kids)
        if (!gen(k)) return false;
      return true;
    case Node::K::Alt: {
      std::vector<uint32_t> jumps;
      for (size_t i = 0; i < n.kids.size(); i++) {
        if (i + 1 < n.kids.size()) {
          uint32_t split = emit({Op::Split});
          m_re.m_prog[split].x = here();
          if (!gen(n.kids[i])) return false;
          jumps.push_back(emit({Op::Jmp}));
          m_re.m_prog[split].y = here();
        } else if (!gen(n.kids[i])) {
          return false;
        }
      }
      for (uint32_t j : jumps) m_re.m_prog[j].x = here();
      return true;
    }
    case Node::K::Repeat: {
      const Node& k = n.kids[0];
      for (int i = 0; i < n.min; i++)
        if (!gen(k)) return false;
      if (n.max == -1) {
        uint32_t split = emit({Op::Split});
        m_re.m_prog[split].x = here();
        if (!gen(k)) return false;
        emit({Op::Jmp, split});
        m_re.m_prog[split].y = here();
      } else {
        std::vector<uint32_t> splits;
        for (int i = n.min; i < n.max; i++) {
          uint32_t split = emit({Op::Split});
          m_re.m_prog[split].x = here();
          splits.push_back(split);
          if (!gen(k)) return false;
        }
        for (uint32_t s : splits) m_re.m_prog[s].y = here();
      }
      return true;
    }
    }
    return true;
  }

  Regex& m_re;
  std::string_view m_p;
  size_t m_i = 0;
  std::string& m_error;
};

bool Regex::compile(std::string_view pattern, std::string& error) {
  m_prog.clear();
  m_classes.clear();
  m_icase = m_dotall = m_multiline = false;
  error.clear();
  RegexCompiler c(*this, pattern, error);
  return c.run();
}

namespace {

struct ThreadList {
  std::vector<uint32_t> pcs;
  std::vector<uint32_t> mark;
  uint32_t gen = 1;

  explicit ThreadList(size_t n) : mark(n, 0) {}
  void clear() {
    pcs.clear();
    if (++gen == 0) {
      std::fill(mark.begin(), mark.end(), 0);
      gen = 1;
    }
  }
};

} // namespace

bool Regex::search(std::string_view text, vm::CancelCheck& cc) const {
  const size_t n = m_prog.size();
  ThreadList clist(n), nlist(n);
  std::vector<uint32_t> stack;

  auto in_class = [&](const Class& cls, uint32_t c) {
    auto has = [&](uint32_t x) {
      auto it = std::upper_bound(cls.ranges.begin(), cls.ranges.end(), x,
                                 [](uint32_t v, const Range& r) { return v < r.lo; });
      return it != cls.ranges.begin() && x <= (it - 1)->hi;
    };
    bool hit = has(c) || (m_icase && (has(ascii_lower(c)) || has(ascii_upper(c))));
    return hit != cls.negated;
  };

  // Adds the threads reachable from `pc0` without reading, at a position
  // between `prev` and `cur` (kEnd at either edge).
  auto add = [&](ThreadList& list, uint32_t pc0, uint32_t prev, uint32_t cur) {
    stack.push_back(pc0);
    while (!stack.empty()) {
      uint32_t pc = stack.back();
      stack.pop_back();
      if (list.mark[pc] == list.gen) continue;
      list.mark[pc] = list.gen;
      const Inst& in = m_prog[pc];
      switch (in.op) {
      case Op::Jmp: stack.push_back(in.x); break;
      case Op::Split:
        stack.push_back(in.y);
        stack.push_back(in.x);
        break;
      case Op::Begin:
        if (prev == kEnd) stack.push_back(pc + 1);
        break;
      case Op::End:
        if (cur == kEnd) stack.push_back(pc + 1);
        break;
      case Op::LineBegin:
        if (prev == kEnd || prev == '\n') stack.push_back(pc + 1);
        break;
      case Op::LineEnd:
        if (cur == kEnd || cur == '\n') stack.push_back(pc + 1);
        break;
      case Op::WordB:
        if (is_word(prev) != is_word(cur)) stack.push_back(pc + 1);
        break;
      case Op::NotWordB:
        if (is_word(prev) == is_word(cur)) stack.push_back(pc + 1);
        break;
      default: list.pcs.push_back(pc); break;
      }
    }
  };

  size_t pos = 0, next = 0;
  uint32_t prev = kEnd;
  uint32_t cur = text.empty() ? kEnd : decode(text, 0, next);
  while (true) {
    add(clist, 0, prev, cur);
    size_t next2 = next;
    uint32_t after = next < text.size() ? decode(text, next, next2) : kEnd;
    for (uint32_t pc : clist.pcs) {
      const Inst& in = m_prog[pc];
      bool ok = false;
      switch (in.op) {
      case Op::Match: return true;
      case Op::Char:
        ok = cur != kEnd && (cur == in.x || (m_icase && ascii_lower(cur) == ascii_lower(in.x)));
        break;
      case Op::Any: ok = cur != kEnd; break;
      case Op::AnyNoNewline: ok = cur != kEnd && cur != '\n'; break;
      case Op::Class: ok = cur != kEnd && in_class(m_classes[in.x], cur); break;
      default: break;
      }
      if (ok) add(nlist, pc + 1, cur, after);
    }
    if (cur == kEnd) return false;
    std::swap(clist, nlist);
    nlist.clear();
    cc.bytes(next - pos + n / 8);
    pos = next;
    next = next2;
    prev = cur;
    cur = after;
  }
}

} // namespace brake::llm::tmpl
