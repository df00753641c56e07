#include "schema/coerce.h"

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <unordered_map>

#include "common/utf8.h"
#include "json/json.h"
#include "lang/ast.h"
#include "llm/template.h"

namespace brake::schema {

namespace {

using jsonish::Kind;
using jsonish::Node;
using lang::TypeId;
using lang::TypeKind;
using T = lang::TypeTable;
using vm::Tag;

constexpr int kMaxCoerceDepth = jsonish::kMaxDepth + 16;
// Fitting steps one parse may take (unions try every member, so a hostile
// reply against a wide, deep type could otherwise multiply the work).
constexpr uint64_t kMaxWork = uint64_t(1) << 26;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) b++;
  while (e > b && is_space(s[e - 1])) e--;
  return s.substr(b, e - b);
}

// The text without what models wrap a word in: spaces, quotes, `*`, and a
// trailing period or colon.
std::string_view strip_wrapping(std::string_view s) {
  for (;;) {
    std::string_view t = trim(s);
    while (!t.empty() && (t.front() == '"' || t.front() == '\'' || t.front() == '*' || t.front() == '`'))
      t.remove_prefix(1);
    while (!t.empty() && (t.back() == '"' || t.back() == '\'' || t.back() == '*' || t.back() == '`' ||
                          t.back() == '.' || t.back() == ':'))
      t.remove_suffix(1);
    t = trim(t);
    if (t.size() == s.size()) return t;
    s = t;
  }
}

const char* kind_name(const Node& n) {
  switch (n.kind) {
  case Kind::Null: return "null";
  case Kind::Bool: return "a boolean";
  case Kind::Number: return "a number";
  case Kind::String: return "a string";
  case Kind::Array: return "an array";
  case Kind::Object: return "an object";
  }
  return "a value";
}


// A string holding one number: the number, as an int when it is one.
bool number_in_text(std::string_view text, double& value, bool& integer, int& score) {
  std::string_view s = trim(text);
  while (!s.empty() && (s.back() == '.' || s.back() == ',')) s.remove_suffix(1);
  std::string t(s);
  if (!t.empty()) {
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(t.c_str(), &end, 10);
    if (errno == 0 && end == t.c_str() + t.size()) {
      value = double(i);
      integer = true;
      score += 1;
      return true;
    }
    double d = std::strtod(t.c_str(), &end);
    if (end == t.c_str() + t.size() && std::isfinite(d) && t.find_first_of("xXnN") == std::string::npos) {
      value = d;
      integer = false;
      score += 1;
      return true;
    }
    // a/b
    size_t slash = t.find('/');
    if (slash != std::string::npos) {
      std::string a(trim(std::string_view(t).substr(0, slash))), b(trim(std::string_view(t).substr(slash + 1)));
      char *ea = nullptr, *eb = nullptr;
      double x = std::strtod(a.c_str(), &ea), y = std::strtod(b.c_str(), &eb);
      if (!a.empty() && !b.empty() && ea == a.c_str() + a.size() && eb == b.c_str() + b.size() && y != 0 &&
          a.find_first_of("xXnN") == std::string::npos && b.find_first_of("xXnN") == std::string::npos) {
        value = x / y;
        integer = false;
        score += 2;
        return true;
      }
    }
  }
  double d = 0;
  if (jsonish::float_from_comma_separated(text, d)) {
    value = d;
    integer = std::floor(d) == d;
    score += 2;
    return true;
  }
  return false;
}

// Occurrences of each name in `text` (names as given), longer names first
// and non-overlapping, each standing as a word (not inside letters or digits).
std::vector<int> count_occurrences(std::string_view text, const std::vector<std::string>& names,
                                   vm::CancelCheck& cc) {
  std::vector<size_t> order(names.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return names[a].size() > names[b].size(); });
  std::vector<bool> used(text.size(), false);
  std::vector<int> counts(names.size(), 0);
  for (size_t k : order) {
    const std::string& name = names[k];
    if (name.empty()) continue;
    for (size_t at = text.find(name); at != std::string_view::npos; at = text.find(name, at + 1)) {
      cc.bytes(name.size());
      size_t end = at + name.size();
      if (at > 0 && is_alnum(text[at - 1]) && is_alnum(name.front())) continue;
      if (end < text.size() && is_alnum(text[end]) && is_alnum(name.back())) continue;
      bool free = true;
      for (size_t i = at; i < end && free; i++) free = !used[i];
      if (!free) continue;
      for (size_t i = at; i < end; i++) used[i] = true;
      counts[k]++;
    }
  }
  return counts;
}

// The index whose count is the one highest, -1 when none; `tie` when two share it.
int unique_max(const std::vector<int>& counts, bool& tie) {
  int best = -1, best_count = 0;
  tie = false;
  for (size_t i = 0; i < counts.size(); i++) {
    if (counts[i] > best_count) {
      best = int(i);
      best_count = counts[i];
      tie = false;
    } else if (counts[i] == best_count && best_count > 0) {
      tie = true;
    }
  }
  return tie ? -1 : best;
}

} // namespace

std::string normalize_name(std::string_view s, vm::CancelCheck* cc) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  // In slices (never splitting a UTF-8 sequence), looking at the cancel
  // state between them: a long reply is folded in well under a millisecond
  // a slice.
  constexpr size_t kSlice = 16 * 1024;
  for (size_t at = 0; at < s.size();) {
    size_t end = std::min(s.size(), at + kSlice);
    while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) end++;
    if (cc) cc->bytes(16 * (end - at));
    std::string folded = jsonish::remove_accents(s.substr(at, end - at));
    for (char c : folded) {
      if (is_alnum(c) || static_cast<unsigned char>(c) >= 0x80) {
        if (space && !out.empty()) out += ' ';
        space = false;
        out += lower(c);
      } else {
        space = true;
      }
    }
    at = end;
  }
  return out;
}

namespace {

// Matches `text` against `names` (see coerce.h: enums and literal strings).
int match_names(const std::vector<std::string>& names, std::string_view text, int& score, bool& ambiguous,
                vm::CancelCheck& cc) {
  ambiguous = false;
  std::string_view stripped = strip_wrapping(text);
  for (size_t i = 0; i < names.size(); i++)
    if (stripped == names[i]) return int(i);
  std::string norm_text = normalize_name(stripped, &cc);
  std::vector<std::string> norm(names.size());
  for (size_t i = 0; i < names.size(); i++) norm[i] = normalize_name(names[i]);
  for (size_t i = 0; i < names.size(); i++)
    if (!norm[i].empty() && norm_text == norm[i]) {
      score += 1;
      return int(i);
    }
  bool tie = false;
  int found = unique_max(count_occurrences(text, names, cc), tie);
  if (tie) {
    ambiguous = true;
    return -1;
  }
  if (found >= 0) {
    score += 2;
    return found;
  }
  found = unique_max(count_occurrences(normalize_name(text, &cc), norm, cc), tie);
  if (tie) {
    ambiguous = true;
    return -1;
  }
  if (found >= 0) score += 3;
  return found;
}

} // namespace

namespace {
// The variant of `e` that `text` names (match_names over the variants that
// are not @skip, a name as written first), or -1.
int match_variant(const vm::EnumInfo& e, std::string_view text, int& score, bool& ambiguous, vm::CancelCheck& cc) {
  ambiguous = false;
  auto skipped = [&](size_t i) { return i < e.variant_attrs.size() && e.variant_attrs[i].skip; };
  for (size_t i = 0; i < e.variants.size(); i++)
    if (!skipped(i) && e.shown_name(i) == text) return int(i);
  std::vector<std::string> names;
  std::vector<int> index;
  for (size_t i = 0; i < e.variants.size(); i++) {
    if (skipped(i)) continue;
    names.push_back(e.shown_name(i));
    index.push_back(int(i));
  }
  int k = match_names(names, text, score, ambiguous, cc);
  return k < 0 ? -1 : index[size_t(k)];
}
} // namespace

int match_enum(const vm::EnumInfo& e, std::string_view text, int& score, bool& ambiguous) {
  vm::CancelCheck cc(nullptr);
  return match_variant(e, text, score, ambiguous, cc);
}

Coercer::Coercer(const jsonish::Document& doc, const vm::CompiledProgram& program, vm::Heap& heap,
                 jsonish::ParseBudget& budget, vm::CancelCheck& cc, bool partial)
    : m_doc(doc), m_p(program), m_heap(heap), m_budget(budget), m_cc(cc), m_partial(partial), m_pool(budget) {}

Coercer::~Coercer() = default;

void Coercer::commit(Coerced& c, size_t base) {
  c.count = uint32_t(m_stack.size() - base);
  c.first = m_arena.size();
  m_budget.charge(c.count * sizeof(Coerced));
  for (size_t i = base; i < m_stack.size(); i++) {
    m_arena.push_back(m_stack[i]);
    m_cc.items();
  }
  m_stack.shrink(base);
}

namespace {

// Gives the stack back to `base` on every way out of a fitting step.
// Where the value being fitted is, for as long as it is fitted there.
struct PathScope {
  Path& path;
  template <typename Part> PathScope(Path& p, const Part& part) : path(p) { path.push(part); }
  ~PathScope() { path.pop(); }
  PathScope(const PathScope&) = delete;
  PathScope& operator=(const PathScope&) = delete;
};

// An integer's text ([+-]digits) as an int64; false when it does not fit.
bool integer_text(std::string_view text, int64_t& out) {
  std::string_view t = !text.empty() && text.front() == '+' ? text.substr(1) : text;
  auto r = std::from_chars(t.data(), t.data() + t.size(), out);
  return r.ec == std::errc() && r.ptr == t.data() + t.size();
}

struct StackMark {
  jsonish::Arena<Coerced>& stack;
  size_t base;
  explicit StackMark(jsonish::Arena<Coerced>& s) : stack(s), base(s.size()) {}
  ~StackMark() { stack.shrink(base); }
};

} // namespace

bool Coercer::deep_complete(const Node& n) const {
  if (!n.complete) return false;
  for (size_t i = 0; i < n.count; i++)
    if (!deep_complete(child(n, i))) return false;
  return true;
}

// The JSON text of a node (a string field given an object it has no source for).
void Coercer::write_json(const Node& n, std::string& out) {
  m_cc.items();
  switch (n.kind) {
  case Kind::Null: out += "null"; return;
  case Kind::Bool: out += n.boolean ? "true" : "false"; return;
  case Kind::Number: out += n.text; return;
  case Kind::String: json::append_string(out, n.text); return;
  case Kind::Array:
    out += '[';
    for (size_t i = 0; i < n.count; i++) {
      if (i) out += ", ";
      write_json(child(n, i), out);
    }
    out += ']';
    return;
  case Kind::Object:
    out += '{';
    for (size_t i = 0; i < n.count; i++) {
      if (i) out += ", ";
      json::append_string(out, child(n, i).key);
      out += ": ";
      write_json(child(n, i), out);
    }
    out += '}';
    return;
  }
}

namespace {
constexpr int64_t kMaxExactInt = (int64_t(1) << 53) - 1;

bool is_array_index(std::string_view k) {
  if (k.empty() || k.size() > 10) return false;
  for (char c : k)
    if (c < '0' || c > '9') return false;
  return k.size() == 1 || k[0] != '0';
}
} // namespace

bool Coercer::write_host_json(const Coerced& c, bool valid_utf8, std::string& out, std::string& classes,
                              bool& any_instance) {
  auto string = [&](std::string_view s) {
    if (valid_utf8) json::append_valid_string(out, s);
    else json::append_string(out, s);
  };
  m_cc.items();
  switch (c.tag) {
  case Tag::Null: out += "null"; return true;
  case Tag::Bool: out += c.boolean ? "true" : "false"; return true;
  case Tag::Int: {
    if (c.integer < -kMaxExactInt || c.integer > kMaxExactInt) return false;
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, c.integer);
    out.append(buf, r.ptr);
    return true;
  }
  case Tag::Float: {
    if (!std::isfinite(c.number)) return false;
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, c.number);
    out.append(buf, r.ptr);
    // A float stays one for a reader that tells 2 from 2.0.
    if (std::find_if(buf, r.ptr, [](char ch) { return ch == '.' || ch == 'e'; }) == r.ptr) out += ".0";
    return true;
  }
  case Tag::Enum: string(m_p.enums[c.decl].variants[c.variant]); return true;
  case Tag::String: string(c.text); return true;
  case Tag::Array:
    out += '[';
    for (size_t i = 0; i < c.count; i++) {
      if (i) out += ',';
      if (!write_host_json(item(c, i), valid_utf8, out, classes, any_instance)) return false;
    }
    out += ']';
    return true;
  case Tag::Map:
  case Tag::Instance: {
    const vm::ClassInfo* cls = c.tag == Tag::Instance ? &m_p.classes[c.decl] : nullptr;
    if (cls && c.decl == m_p.response_class) return false; // its hidden fields stay behind
    if (cls) {
      classes += cls->name;
      any_instance = true;
    }
    classes += '\n';
    out += '{';
    for (size_t i = 0; i < c.count; i++) {
      std::string_view key = cls ? std::string_view(cls->field_names[i]) : item(c, i).key;
      if (!cls && is_array_index(key)) return false;
      if (i) out += ',';
      string(key);
      out += ':';
      if (!write_host_json(item(c, i), valid_utf8, out, classes, any_instance)) return false;
    }
    out += '}';
    return true;
  }
  default: return false;
  }
}

std::string Path::str() const {
  std::string out = "$";
  for (const Part& part : m_parts) {
    if (part.index_plus_one) {
      out += '[';
      out += std::to_string(part.index_plus_one - 1);
      out += ']';
    } else {
      out += '.';
      out += part.key;
    }
  }
  return out;
}

bool Coercer::fail(const std::string& what) {
  m_error = m_path.str() + ": " + what;
  return false;
}

bool Coercer::expected(const char* type, const Node& n) {
  return fail(std::string("expected ") + type + ", got " + kind_name(n));
}

bool Coercer::coerce(const Node& n, TypeId t, Coerced& out, int& score) {
  if (m_choices == 0 || (n.kind != Kind::Object && n.kind != Kind::Array)) return coerce_uncached(n, t, out, score);
  // Below a union of several members, a container fitted to a type once is
  // not fitted again: unions that can reach the same value twice (Node |
  // Node[] wraps it as a list and fits it again, recursive aliases) would
  // otherwise double the work at every level of nesting.
  MemoKey key{&n, (int64_t(t) << 1) | (m_wrapping == &n ? 1 : 0)};
  auto it = m_memo.find(key);
  if (it != m_memo.end()) {
    m_cc.items();
    if (!it->second.ok) {
      m_error = it->second.error;
      return false;
    }
    out = it->second.out;
    score += it->second.score;
    return true;
  }
  int s = 0;
  bool ok = coerce_uncached(n, t, out, s);
  m_budget.charge(sizeof(Memo) + 32 + (ok ? 0 : m_error.size()));
  m_memo.emplace(key, Memo{ok, s, out, ok ? std::string() : m_error});
  if (ok) score += s;
  return ok;
}

bool Coercer::coerce_uncached(const Node& n, TypeId t, Coerced& out, int& score) {
  // Streaming attributes written on the type itself ((A | B) @stream.done,
  // a return type's @stream.not_null) apply to a partial reply only.
  uint8_t flags = m_partial ? m_p.types.stream_flags(t) : 0;
  if (!flags) return coerce_type(n, t, out, score);
  if (!coerce_type(n, t, out, score)) return false;
  if ((flags & lang::kStreamDone) && !out.absent && !deep_complete(n)) {
    out = Coerced();
    out.absent = true; // withheld until complete
  }
  if ((flags & lang::kStreamNotNull) && (out.absent || out.tag == Tag::Null))
    return fail("no value yet where " + m_p.type_name(t) + " needs one");
  return true;
}

bool Coercer::coerce_type(const Node& n, TypeId t, Coerced& out, int& score) {
  m_cc.bytes(256); // a fitting step costs about as much as copying 256 bytes
  if (m_depth >= kMaxCoerceDepth) return fail("nested too deeply");
  if (++m_work > kMaxWork) return fail("the reply takes too much work to fit its type");
  struct Depth {
    int& d;
    explicit Depth(int& x) : d(x) { d++; }
    ~Depth() { d--; }
  } depth(m_depth);
  out = Coerced();
  // Not arrived yet: an unfinished number may still grow, a value whose
  // text has not started yet is missing.
  if (m_partial && !n.complete && (n.kind == Kind::Number || n.kind == Kind::Null || n.kind == Kind::Bool)) {
    out.absent = true;
    return true;
  }
  const lang::Type& type = m_p.types.get(t);
  switch (type.kind) {
  case TypeKind::Any: return coerce_any(n, out);
  case TypeKind::Alias:
  case TypeKind::Stream: break; // get() sees through them
  case TypeKind::Never: return fail("no value fits never");
  case TypeKind::Function: return fail("no value of a reply fits a function type");
  case TypeKind::Future:
  case TypeKind::TaskGroup:
  case TypeKind::CancelToken: return fail("no value of a reply fits a task's type");
  case TypeKind::Null:
    if (n.kind == Kind::Null) return true;
    if (n.kind == Kind::String && (strip_wrapping(n.text) == "null" || strip_wrapping(n.text) == "None")) {
      score += 1;
      return true;
    }
    return expected("null", n);
  case TypeKind::Bool: return coerce_bool(n, out, score);
  case TypeKind::Int: return coerce_int(n, out, score);
  case TypeKind::Float: return coerce_float(n, out, score);
  case TypeKind::String: return coerce_string(n, out, score);
  case TypeKind::Array: return coerce_array(n, type.args[0], out, score);
  case TypeKind::Map: return coerce_map(n, type.args[0], type.args[1], out, score);
  case TypeKind::Class: return coerce_class(n, uint32_t(type.decl), out, score);
  case TypeKind::Enum: return coerce_enum(n, uint32_t(type.decl), out, score);
  case TypeKind::Union: return coerce_union(n, t, out, score);
  case TypeKind::Literal: return coerce_literal(n, type.args[0], type.literal, out, score);
  }
  return fail("unknown type");
}

bool Coercer::coerce_any(const Node& n, Coerced& out) {
  m_cc.items();
  out = Coerced();
  switch (n.kind) {
  case Kind::Null: return true;
  case Kind::Bool: out.tag = Tag::Bool; out.boolean = n.boolean; return true;
  case Kind::Number: {
    int64_t i = 0;
    if (n.is_integer_text() && integer_text(n.text, i)) {
      out.tag = Tag::Int;
      out.integer = i;
      return true;
    }
    out.tag = Tag::Float;
    out.number = n.number();
    return true;
  }
  case Kind::String: out.tag = Tag::String; out.text = n.text; return true;
  case Kind::Array: {
    StackMark mark(m_stack);
    for (size_t i = 0; i < n.count; i++) {
      Coerced v;
      coerce_any(child(n, i), v);
      m_stack.push_back(v);
    }
    out.tag = Tag::Array;
    commit(out, mark.base);
    return true;
  }
  case Kind::Object: {
    StackMark mark(m_stack);
    std::unordered_map<std::string_view, size_t> seen;
    for (size_t i = 0; i < n.count; i++) {
      const Node& c = child(n, i);
      Coerced v;
      coerce_any(c, v);
      v.key = c.key;
      auto [it, fresh] = seen.emplace(c.key, m_stack.size());
      if (fresh) m_stack.push_back(v);
      else m_stack[it->second] = v; // a repeated key keeps its last value
    }
    out.tag = Tag::Map;
    commit(out, mark.base);
    return true;
  }
  }
  return false;
}

bool Coercer::from_first_item(const Node& n, TypeId t, Coerced& out, int& score) {
  // A list where one value is wanted: its first item that fits.
  for (size_t i = 0; i < n.count; i++) {
    int s = 0;
    if (coerce(child(n, i), t, out, s)) {
      score += s + 1 + (n.count > 1 ? 1 : 0);
      return true;
    }
  }
  return false;
}

bool Coercer::coerce_string(const Node& n, Coerced& out, int& score) {
  out.tag = Tag::String;
  switch (n.kind) {
  case Kind::String: out.text = n.text; return true;
  case Kind::Number: out.text = n.text; score += 1; return true;
  case Kind::Bool: out.text = n.boolean ? std::string_view("true") : std::string_view("false"); score += 1; return true;
  case Kind::Null:
    out = Coerced();
    if (m_partial) {
      out.absent = true;
      return true;
    }
    return expected("string", n);
  case Kind::Array:
  case Kind::Object:
    if (!n.source.empty()) {
      out.text = n.source;
    } else {
      std::string js;
      write_json(n, js);
      out.text = m_pool.keep(js);
    }
    score += 2;
    return true;
  }
  return false;
}

bool Coercer::coerce_int(const Node& n, Coerced& out, int& score) {
  out.tag = Tag::Int;
  if (n.kind == Kind::Number) {
    if (n.is_integer_text() && integer_text(n.text, out.integer)) return true;
    double d = n.number();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18)
      return fail("the number " + std::string(n.text) + " does not fit an int");
    out.integer = int64_t(std::llround(d));
    score += 1;
    return true;
  }
  if (n.kind == Kind::String) {
    double d = 0;
    bool integer = false;
    if (number_in_text(n.text, d, integer, score) && std::isfinite(d) && std::fabs(d) < 9.2e18) {
      out.integer = int64_t(std::llround(d));
      if (!integer) score += 1;
      return true;
    }
    return fail("expected int, got a string (\"" + std::string(n.text.substr(0, 40)) + "\")");
  }
  if (n.kind == Kind::Array && from_first_item(n, T::INT, out, score)) return true;
  return expected("int", n);
}

bool Coercer::coerce_float(const Node& n, Coerced& out, int& score) {
  out.tag = Tag::Float;
  if (n.kind == Kind::Number) {
    out.number = n.number();
    return true;
  }
  if (n.kind == Kind::String) {
    bool integer = false;
    if (number_in_text(n.text, out.number, integer, score)) return true;
    return fail("expected float, got a string (\"" + std::string(n.text.substr(0, 40)) + "\")");
  }
  if (n.kind == Kind::Array && from_first_item(n, T::FLOAT, out, score)) return true;
  return expected("float", n);
}

bool Coercer::coerce_bool(const Node& n, Coerced& out, int& score) {
  out.tag = Tag::Bool;
  if (n.kind == Kind::Bool) {
    out.boolean = n.boolean;
    return true;
  }
  if (n.kind == Kind::String) {
    std::string w = normalize_name(strip_wrapping(n.text), &m_cc);
    if (w == "true" || w == "false") {
      out.boolean = w == "true";
      score += 1;
      return true;
    }
    std::vector<std::string> names{"true", "false"};
    auto counts = count_occurrences(normalize_name(n.text, &m_cc), names, m_cc);
    if (counts[0] > 0 && counts[1] > 0) return fail("the text says both true and false");
    if (counts[0] > 0 || counts[1] > 0) {
      out.boolean = counts[0] > 0;
      score += 2;
      return true;
    }
    return fail("expected bool, got a string (\"" + std::string(n.text.substr(0, 40)) + "\")");
  }
  if (n.kind == Kind::Array && from_first_item(n, T::BOOL, out, score)) return true;
  return expected("bool", n);
}

bool Coercer::coerce_enum(const Node& n, uint32_t e, Coerced& out, int& score) {
  const vm::EnumInfo& info = m_p.enums[e];
  std::string_view text;
  if (n.kind == Kind::String || n.kind == Kind::Number) {
    text = n.text;
  } else if (n.kind == Kind::Array) {
    for (size_t i = 0; i < n.count; i++) {
      int s = 0;
      if (coerce_enum(child(n, i), e, out, s)) {
        score += s + 1 + (n.count > 1 ? 1 : 0);
        return true;
      }
    }
    return expected(info.name.c_str(), n);
  } else {
    return expected(info.name.c_str(), n);
  }
  out.tag = Tag::Enum;
  out.decl = e;
  bool ambiguous = false;
  int k = match_variant(info, text, score, ambiguous, m_cc);
  if (k < 0) {
    std::string shown(strip_wrapping(text).substr(0, 60));
    if (ambiguous) return fail("\"" + shown + "\" names more than one variant of " + info.name);
    return fail("\"" + shown + "\" is not a variant of " + info.name);
  }
  out.variant = uint32_t(k);
  if (!asserts_hold(info.attrs, out)) return fail("a constraint of " + info.name + " does not hold");
  return true;
}

bool Coercer::coerce_literal(const Node& n, TypeId base, const std::string& literal, Coerced& out, int& score) {
  std::string shown = base == T::STRING ? "\"" + literal + "\"" : literal;
  if (n.kind == Kind::Object) {
    // {"status": 1}: an object of one scalar stands for its value.
    if (n.count == 1 && child(n, 0).kind != Kind::Object && child(n, 0).kind != Kind::Array &&
        coerce_literal(child(n, 0), base, literal, out, score)) {
      score += 2;
      return true;
    }
    return expected(shown.c_str(), n);
  }
  if (n.kind == Kind::Array) {
    for (size_t i = 0; i < n.count; i++) {
      int s = 0;
      if (coerce_literal(child(n, i), base, literal, out, s)) {
        score += s + 1 + (n.count > 1 ? 1 : 0);
        return true;
      }
    }
    return expected(shown.c_str(), n);
  }
  if (base == T::STRING) {
    if (n.kind == Kind::Null) return expected(shown.c_str(), n);
    std::string_view text = n.kind == Kind::Bool ? (n.boolean ? "true" : "false") : std::string_view(n.text);
    bool ambiguous = false;
    std::vector<std::string> names{literal};
    if (match_names(names, text, score, ambiguous, m_cc) != 0)
      return fail("expected " + shown + ", got \"" + std::string(strip_wrapping(text).substr(0, 40)) + "\"");
    out.tag = Tag::String;
    out.text = m_pool.keep(literal);
    return true;
  }
  if (base == T::INT) {
    int64_t v = 0;
    if (n.kind == Kind::Number && n.is_integer_text()) {
      if (!integer_text(n.text, v)) return fail("expected " + shown + ", got " + std::string(n.text));
    } else if (n.kind == Kind::String) {
      if (!integer_text(strip_wrapping(n.text), v)) return expected(shown.c_str(), n);
      score += 1;
    } else {
      return expected(shown.c_str(), n);
    }
    if (std::to_string(v) != literal) return fail("expected " + shown + ", got " + std::to_string(v));
    out.tag = Tag::Int;
    out.integer = v;
    return true;
  }
  Coerced b;
  if (!coerce_bool(n, b, score)) return false;
  if ((b.boolean ? "true" : "false") != literal) return fail("expected " + shown);
  out = b;
  return true;
}

bool Coercer::coerce_array(const Node& n, TypeId elem, Coerced& out, int& score) {
  out.tag = Tag::Array;
  StackMark mark(m_stack);
  if (n.kind != Kind::Array) {
    if (n.kind == Kind::Null && !m_partial) return expected((m_p.type_name(elem) + "[]").c_str(), n);
    if (n.kind == Kind::Null) {
      out.absent = true;
      return true;
    }
    // One value as a one-item list, but never the same value wrapped twice
    // (T[][] from a scalar, or a recursive alias, would go round forever).
    if (m_wrapping == &n) return expected((m_p.type_name(elem) + "[]").c_str(), n);
    const Node* saved = m_wrapping;
    m_wrapping = &n;
    Coerced item;
    int s = 0;
    bool ok = coerce(n, elem, item, s);
    m_wrapping = saved;
    if (!ok) return false;
    score += s + 1;
    if (!item.absent) m_stack.push_back(item);
    commit(out, mark.base);
    return true;
  }
  for (size_t i = 0; i < n.count; i++) {
    PathScope at(m_path, i);
    Coerced item;
    int s = 0;
    if (coerce(child(n, i), elem, item, s)) {
      if (!item.absent) m_stack.push_back(item);
      score += s;
    } else {
      score += 3; // an item that does not fit is dropped
    }
  }
  commit(out, mark.base);
  return true;
}

namespace {
// A map's keys as a host's JSON reads them back: keys that differ only in
// bytes that are not UTF-8 (each read as U+FFFD) are one key, whose last
// value is kept, as for any repeated key (a reply that is not UTF-8 made
// two entries the host's JSON then merged: sap_fuzz).
class MapKeys {
public:
  // `key`'s entry: its index and false, or `next` and true when new.
  std::pair<size_t, bool> find_or_add(std::string_view key, size_t next) {
    std::string_view k = key;
    if (!is_valid_utf8(key)) {
      m_owned.emplace_back();
      append_lossy_utf8(m_owned.back(), key);
      k = m_owned.back();
    }
    auto [it, fresh] = m_seen.emplace(k, next);
    return {it->second, fresh};
  }

private:
  std::unordered_map<std::string_view, size_t> m_seen;
  std::deque<std::string> m_owned;
};
} // namespace

bool Coercer::coerce_map(const Node& n, TypeId key, TypeId value, Coerced& out, int& score) {
  if (n.kind == Kind::Array) {
    // [{key: k, value: v}, ...] (XML's <entry><key/><value/></entry>), or [] for nothing.
    StackMark mark(m_stack);
    out.tag = Tag::Map;
    MapKeys seen;
    for (size_t i = 0; i < n.count; i++) {
      const Node& e = child(n, i);
      if (e.kind != Kind::Object || e.count != 2 || child(e, 0).key != "key" || child(e, 1).key != "value" ||
          child(e, 0).kind == Kind::Object || child(e, 0).kind == Kind::Array)
        return expected("a map (an object)", n);
      Coerced v;
      int s = 0;
      if (!coerce(child(e, 1), value, v, s)) return false;
      score += s + 1;
      const Node& k = child(e, 0);
      v.key = k.kind == Kind::String || k.kind == Kind::Number ? k.text : k.source;
      auto [at, fresh] = seen.find_or_add(v.key, m_stack.size());
      if (fresh) m_stack.push_back(v);
      else m_stack[at] = v; // a repeated key keeps its last value (as the built map does)
    }
    commit(out, mark.base);
    return true;
  }
  if (n.kind != Kind::Object) {
    if (n.kind == Kind::Null && m_partial) {
      out.absent = true;
      return true;
    }
    return expected("a map (an object)", n);
  }
  out.tag = Tag::Map;
  StackMark mark(m_stack);
  MapKeys seen;
  for (size_t i = 0; i < n.count; i++) {
    const Node& c = child(n, i);
    PathScope at(m_path, c.key);
    std::string_view k = c.key;
    bool key_ok = true;
    if (m_p.types.kind(key) == TypeKind::Enum || m_p.types.kind(key) == TypeKind::Literal ||
        m_p.types.kind(key) == TypeKind::Union) {
      Node kn;
      kn.kind = Kind::String;
      kn.text = c.key;
      Coerced kc;
      int s = 0;
      key_ok = coerce(kn, key, kc, s);
      if (key_ok && kc.tag == Tag::Enum) k = m_p.enums[kc.decl].variants[kc.variant];
      else if (key_ok && kc.tag == Tag::String) k = kc.text;
    }
    Coerced v;
    int s = 0;
    if (key_ok && coerce(c, value, v, s)) {
      score += s;
      if (!v.absent) {
        v.key = k;
        auto [index, fresh] = seen.find_or_add(k, m_stack.size());
        if (fresh) m_stack.push_back(v);
        else m_stack[index] = v; // a repeated key keeps its last value
      }
    } else {
      score += 2;
    }
  }
  commit(out, mark.base);
  return true;
}

bool Coercer::coerce_class(const Node& n, uint32_t cls, Coerced& out, int& score) {
  const vm::ClassInfo& info = m_p.classes[cls];
  if (n.kind == Kind::Object) {
    if (!fields_of_object(n, cls, out, score)) return false;
    if (out.absent) return true;
  } else {
    std::vector<size_t> shown;
    for (size_t f = 0; f < info.field_names.size(); f++)
      if (!(f < info.field_attrs.size() && info.field_attrs[f].skip)) shown.push_back(f);
    if (n.kind == Kind::Array && n.count > 0) {
      for (size_t i = 0; i < n.count; i++) {
        int s = 0;
        if (child(n, i).kind == Kind::Object && coerce_class(child(n, i), cls, out, s)) {
          score += s + 1 + (n.count > 1 ? 1 : 0);
          return true;
        }
      }
    }
    if (n.kind == Kind::Null && m_partial) {
      out.absent = true;
      return true;
    }
    if (shown.size() != 1) return expected(info.name.c_str(), n);
    // A class of one field: the value is that field's.
    size_t f = shown[0];
    Coerced v;
    int s = 0;
    bool ok;
    {
      PathScope at(m_path, info.shown_name(f));
      ok = coerce(n, info.field_types[f], v, s);
    }
    if (!ok) return false;
    if (v.absent) v = Coerced();
    StackMark mark(m_stack);
    for (size_t i = 0; i < info.field_names.size(); i++) m_stack.push_back(i == f ? v : Coerced());
    out = Coerced();
    out.tag = Tag::Instance;
    out.decl = cls;
    commit(out, mark.base);
    score += s + 3;
  }
  if (m_partial && (info.attrs.stream & lang::kStreamDone) && !deep_complete(n)) {
    out = Coerced();
    out.absent = true;
    return true;
  }
  if (!asserts_hold(info.attrs, out)) return fail("a constraint of " + info.name + " does not hold");
  return true;
}

bool Coercer::fields_of_object(const Node& n, uint32_t cls, Coerced& out, int& score) {
  const vm::ClassInfo& info = m_p.classes[cls];
  out = Coerced();
  out.tag = Tag::Instance;
  out.decl = cls;
  StackMark mark(m_stack);
  for (size_t f = 0; f < info.field_names.size(); f++) m_stack.push_back(Coerced());
  std::vector<std::string> norm_keys;
  std::unordered_map<std::string_view, size_t> key_index; // a big object's keys, first occurrence
  size_t matched = 0;
  for (size_t f = 0; f < info.field_names.size(); f++) {
    const lang::Attributes* attrs = f < info.field_attrs.size() ? &info.field_attrs[f] : nullptr;
    if (attrs && attrs->skip) continue;
    const std::string& name = info.shown_name(f);
    TypeId ft = info.field_types[f];
    // A key given twice: the first (as BAML reads a reply that went on
    // into a second copy of itself).
    int64_t found = -1;
    if (n.count <= 16) {
      for (size_t k = 0; k < n.count; k++)
        if (child(n, k).key == name) {
          found = int64_t(k);
          break;
        }
    } else {
      if (key_index.empty())
        for (size_t k = n.count; k-- > 0;) {
          m_cc.items();
          key_index[child(n, k).key] = k;
        }
      auto it = key_index.find(name);
      if (it != key_index.end()) found = int64_t(it->second);
    }
    if (found < 0) {
      if (norm_keys.empty())
        for (size_t k = 0; k < n.count; k++) {
          m_cc.bytes(child(n, k).key.size());
          norm_keys.push_back(normalize_name(child(n, k).key));
        }
      std::string want = normalize_name(name);
      for (size_t k = 0; k < norm_keys.size(); k++) {
        if (!want.empty() && norm_keys[k] == want) {
          found = int64_t(k);
          score += 1;
          break;
        }
        if ((k & 1023) == 0) m_cc.items(16);
      }
    }
    PathScope at(m_path, name);
    Coerced v;
    bool nullable = m_p.types.contains_null(ft) || m_p.types.kind(ft) == TypeKind::Any;
    if (found < 0) {
      if (!nullable && !m_partial) {
        fail("missing (a " + m_p.type_name(ft) + " is required)");
        return false;
      }
      score += 1;
      if (m_partial && !nullable) {
        // Streamed lists and maps show as empty until they arrive.
        TypeKind k = m_p.types.kind(ft);
        if (k == TypeKind::Array) v.tag = Tag::Array;
        if (k == TypeKind::Map) v.tag = Tag::Map;
      }
    } else {
      matched++;
      const Node& fv = child(n, size_t(found));
      int s = 0;
      if (coerce(fv, ft, v, s)) {
        score += s;
      } else if (nullable || m_partial) {
        v = Coerced();
        score += 5;
      } else {
        return false;
      }
      if (m_partial && attrs && (attrs->stream & lang::kStreamDone) && !deep_complete(fv)) v = Coerced();
      if (!v.absent && attrs && !attrs->constraints.empty() && !asserts_hold(*attrs, v)) {
        fail("the constraint of field " + name + " does not hold");
        return false;
      }
    }
    if (v.absent) v = Coerced();
    if (m_partial && attrs && (attrs->stream & lang::kStreamNotNull) && v.tag == Tag::Null &&
        (found < 0 || !deep_complete(child(n, size_t(found))))) {
      out = Coerced();
      out.absent = true; // held back until the field has a value
      return true;
    }
    m_stack[mark.base + f] = v;
  }
  score += int(n.count - std::min<size_t>(n.count, matched)); // keys no field took
  // While streaming every field may be missing: an object none of whose keys
  // a class has is about something else.
  if (m_partial && n.count > 0 && matched == 0) score += 10;
  commit(out, mark.base);
  return true;
}

bool Coercer::coerce_union(const Node& n, TypeId t, Coerced& out, int& score) {
  const lang::Type& type = m_p.types.get(t);
  bool nullable = m_p.types.contains_null(t);
  if (n.kind == Kind::Null && nullable) {
    out = Coerced();
    return true;
  }
  if (m_partial && n.kind == Kind::String && !n.complete) {
    // "pay (still arriving) may yet be "pay" or "pay_without_credit_card".
    std::string sofar = normalize_name(n.text, &m_cc);
    int could_be = 0;
    const std::string* only = nullptr;
    for (TypeId member : type.args) {
      const lang::Type& mt = m_p.types.get(member);
      if (mt.kind == TypeKind::Literal && mt.args[0] == T::STRING &&
          normalize_name(mt.literal).compare(0, sofar.size(), sofar) == 0) {
        could_be++;
        only = &mt.literal;
      }
    }
    if (could_be > 1) return fail("\"" + std::string(n.text.substr(0, 40)) + "\" may still become more than one of " +
                                  m_p.type_name(t));
    if (could_be == 1 && !sofar.empty()) { // only one literal starts so
      out = Coerced();
      out.tag = Tag::String;
      out.text = m_pool.keep(*only);
      score += 1;
      return true;
    }
  }
  int best_score = 0;
  bool found = false;
  std::string first_error;
  Coerced best;
  // In the order the members were written: the first wins a tie.
  const std::vector<TypeId>& written = m_p.types.shown_members(m_p.types.unalias(t));
  size_t choices = 0;
  for (TypeId member : type.args) choices += member != T::NUL ? 1 : 0;
  struct Choosing {
    int& count;
    bool on;
    Choosing(int& c, bool o) : count(c), on(o) { count += on; }
    ~Choosing() { count -= on; }
  } choosing(m_choices, choices > 1);
  for (TypeId member : written.empty() ? type.args : written) {
    if (member == T::NUL) continue;
    Coerced c;
    int s = 0;
    if (coerce(n, member, c, s)) {
      if (!found || s < best_score) {
        best = std::move(c);
        best_score = s;
        found = true;
      }
    } else if (first_error.empty()) {
      first_error = m_error;
    }
  }
  if (!found && nullable && n.kind == Kind::String) {
    std::string_view w = strip_wrapping(n.text);
    if (w == "null" || w == "None" || w.empty()) {
      out = Coerced();
      score += 1;
      return true;
    }
  }
  if (!found) {
    m_error = first_error.empty() ? m_path.str() + ": fits none of " + m_p.type_name(t) : first_error;
    return false;
  }
  out = std::move(best);
  score += best_score;
  return true;
}

bool Coercer::asserts_hold(const lang::Attributes& attrs, const Coerced& value) {
  bool any = false;
  for (const lang::Constraint& c : attrs.constraints) any = any || c.is_assert;
  if (!any) return true;
  vm::Value v = build(value);
  for (const lang::Constraint& c : attrs.constraints) {
    if (!c.is_assert) continue;
    auto it = m_templates.find(c.expression);
    if (it == m_templates.end()) {
      llm::TemplateScope scope;
      scope.variables = {"this"};
      scope.unknown_names = llm::TemplateScope::UnknownNames::Undefined;
      lang::Diagnostics diags("assert");
      auto tpl = llm::compile_template("{{ (" + c.expression + ") }}", lang::SourceLoc{}, scope, diags,
                                       llm::TemplateWhitespace::Keep);
      it = m_templates.emplace(c.expression, tpl).first;
    }
    if (!it->second) continue; // an expression the template engine cannot read is not enforced
    std::string name = "this";
    llm::RenderInput in;
    in.program = &m_p;
    in.heap = &m_heap;
    in.names = &name;
    in.values = &v;
    in.count = 1;
    std::string result;
    try {
      result = llm::render_template_text(*it->second, in);
    } catch (const llm::RenderError&) {
      return false; // an expression that fails to evaluate does not hold
    }
    std::string_view r = trim(result);
    if (r != "true" && r != "True") return false;
  }
  return true;
}

vm::Value Coercer::build(const Coerced& c) {
  m_cc.items();
  switch (c.tag) {
  case Tag::Null: return vm::Value::null();
  case Tag::Bool: return vm::Value::boolean(c.boolean);
  case Tag::Int: return vm::Value::integer(c.integer);
  case Tag::Float: return vm::Value::number(c.number);
  case Tag::Enum: return vm::Value::enum_variant(c.decl, c.variant);
  case Tag::String: return m_heap.string_value(c.text);
  case Tag::Array: {
    vm::ArrayObj* a = m_heap.new_array(c.count);
    vm::Value out = vm::Value::object(Tag::Array, a);
    for (size_t i = 0; i < c.count; i++) m_heap.array_push(a, build(item(c, i)));
    return out;
  }
  case Tag::Map: {
    vm::MapObj* m = m_heap.new_map(c.count);
    vm::Value out = vm::Value::object(Tag::Map, m);
    for (size_t i = 0; i < c.count; i++) m_heap.map_set(m, item(c, i).key, build(item(c, i)));
    return out;
  }
  case Tag::Instance: {
    vm::InstanceObj* o = m_heap.new_instance(c.decl, c.count);
    vm::Value out = vm::Value::object(Tag::Instance, o);
    for (size_t i = 0; i < c.count; i++) o->fields[i] = build(item(c, i));
    return out;
  }
  default: return vm::Value::null();
  }
}

} // namespace brake::schema
