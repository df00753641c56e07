// template_filters.cpp: the filters, tests and methods templates may use
// (the names are listed in template_names.h), over the evaluator's values.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <limits>

#include "common/utf8.h"
#include "llm/template_eval.h"
#include "llm/template_regex.h"

namespace brake::llm::tmpl {

namespace {

const char* filter_name(Filter f) {
  static const char* const kNames[] = {
#define BRAKE_FILTER_NAME(e, name) name,
      BRAKE_TEMPLATE_FILTERS(BRAKE_FILTER_NAME)
#undef BRAKE_FILTER_NAME
  };
  return kNames[size_t(f)];
}

const char* test_name(Test t) {
  static const char* const kNames[] = {
#define BRAKE_TEST_NAME(e, name) name,
      BRAKE_TEMPLATE_TESTS(BRAKE_TEST_NAME)
#undef BRAKE_TEST_NAME
  };
  return kNames[size_t(t)];
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; }
char upper(char c) { return c >= 'a' && c <= 'z' ? char(c - 32) : c; }

std::string_view strip(std::string_view s, std::string_view chars, bool left, bool right) {
  auto drop = [&](char c) { return chars.empty() ? is_space(c) : chars.find(c) != std::string_view::npos; };
  size_t b = 0, e = s.size();
  if (left)
    while (b < e && drop(s[b])) b++;
  if (right)
    while (e > b && drop(s[e - 1])) e--;
  return s.substr(b, e - b);
}

std::string title_case(std::string_view s) {
  std::string out(s);
  bool start = true;
  for (char& c : out) {
    if (is_alnum(c)) {
      c = start ? upper(c) : lower(c);
      start = false;
    } else {
      start = (static_cast<unsigned char>(c) & 0x80) == 0; // inside a multi-byte character: still in the word
    }
  }
  return out;
}

bool parse_int(std::string_view s, int base, int64_t& out) {
  s = strip(s, "", true, true);
  std::string digits;
  for (char c : s)
    if (c != '_') digits += c;
  if (digits.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(digits.c_str(), &end, base);
  if (errno || end != digits.c_str() + digits.size()) return false;
  out = v;
  return true;
}

bool parse_float(std::string_view s, double& out) {
  s = strip(s, "", true, true);
  if (s.empty()) return false;
  std::string t(s);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return false;
  out = v;
  return true;
}

// Python's str.split.
void split_words(std::string_view s, const std::string_view* sep, int64_t maxsplit,
                 std::vector<std::string_view>& out) {
  if (!sep) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && is_space(s[i])) i++;
      if (i >= s.size()) return;
      if (maxsplit >= 0 && int64_t(out.size()) == maxsplit) {
        out.push_back(strip(s.substr(i), "", false, true));
        return;
      }
      size_t j = i;
      while (j < s.size() && !is_space(s[j])) j++;
      out.push_back(s.substr(i, j - i));
      i = j;
    }
  }
  size_t at = 0;
  while (true) {
    size_t f = (maxsplit >= 0 && int64_t(out.size()) == maxsplit) ? std::string_view::npos : s.find(*sep, at);
    if (f == std::string_view::npos) {
      out.push_back(s.substr(at));
      return;
    }
    out.push_back(s.substr(at, f - at));
    at = f + sep->size();
  }
}

} // namespace

// ---------------------------------------------------------------- argument helpers

namespace {

struct ArgCheck {
  const Renderer& r;
  const Args& a;
  const lang::SourceLoc& loc;
  std::string what;

  // At most `max_pos` positional arguments, keywords only from `names`
  // (whose first max_pos entries name the positional ones).
  void limit(size_t max_pos, std::initializer_list<std::string_view> names) const {
    if (a.pos.size() > max_pos)
      r.fail(loc, what + " takes at most " + std::to_string(max_pos) + " positional argument" + (max_pos == 1 ? "" : "s"));
    for (auto& [k, v] : a.kw) {
      bool known = false;
      for (std::string_view n : names) known = known || n == k;
      if (!known) r.fail(loc, what + " has no argument named '" + std::string(k) + "'");
    }
  }
};

} // namespace

TVal Renderer::apply_filter(Filter f, const TVal& v, const Args& a, const lang::SourceLoc& loc) {
  ArgCheck check{*this, a, loc, std::string("filter ") + filter_name(f)};
  auto need_str = [&](const TVal& x) {
    std::string_view s;
    if (!get_str(x, s)) fail(loc, check.what + " needs a string, not " + type_name(x));
    return s;
  };
  auto opt_bool = [&](size_t i, std::string_view name, bool dflt) {
    const TVal* x = a.get(i, name);
    return x ? truthy(*x) : dflt;
  };
  auto opt_int = [&](size_t i, std::string_view name, int64_t dflt) {
    const TVal* x = a.get(i, name);
    if (!x || x->is_none()) return dflt;
    if (!x->is(vm::Tag::Int)) fail(loc, check.what + ": " + std::string(name) + " must be an integer");
    return x->v.i;
  };
  auto list_of = [&](const std::vector<TVal>& items) {
    vm::ArrayObj* arr = m_heap.new_array(0);
    m_heap.array_reserve(arr, items.size());
    for (const TVal& x : items) m_heap.array_push(arr, materialize(x));
    return TVal::of(vm::Value::object(vm::Tag::Array, arr));
  };
  auto iterate = [&](const TVal& x, Elements& out) {
    if (!elements(x, out)) fail(loc, check.what + " needs a sequence, not " + type_name(x));
  };
  // The value of `attribute` (dotted: "a.b") of x, for map/sort/join/...
  auto attribute_of = [&](const TVal& x, const TVal* attr) {
    if (!attr) return x;
    if (attr->is(vm::Tag::Int)) return get_item(x, *attr, loc);
    std::string_view path = need_str(*attr);
    TVal cur = x;
    size_t at = 0;
    while (true) {
      size_t dot = path.find('.', at);
      std::string_view part = path.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at);
      if (cur.is_undefined()) return cur;
      cur = get_attr(cur, part, loc);
      if (dot == std::string_view::npos) return cur;
      at = dot + 1;
    }
  };

  switch (f) {
  case Filter::Abs:
    check.limit(0, {});
    if (v.is(vm::Tag::Int)) {
      if (v.v.i == std::numeric_limits<int64_t>::min()) fail(loc, "integer overflow");
      return TVal::of(vm::Value::integer(v.v.i < 0 ? -v.v.i : v.v.i));
    }
    if (v.is(vm::Tag::Float)) return TVal::of(vm::Value::number(std::fabs(v.v.f)));
    fail(loc, check.what + " needs a number, not " + type_name(v));
  case Filter::Attr: {
    check.limit(1, {"name"});
    const TVal* name = a.get(0, "name");
    if (!name) fail(loc, check.what + " needs an attribute name");
    return get_attr(v, need_str(*name), loc);
  }
  case Filter::Bool: check.limit(0, {}); return TVal::of(vm::Value::boolean(truthy(v)));
  case Filter::Capitalize: {
    check.limit(0, {});
    std::string s(need_str(v));
    for (size_t i = 0; i < s.size(); i++) s[i] = i == 0 ? upper(s[i]) : lower(s[i]);
    return make_string(s);
  }
  case Filter::Count:
  case Filter::Length: check.limit(0, {}); return TVal::of(vm::Value::integer(int64_t(length(v, loc))));
  case Filter::Default:
  case Filter::D: {
    check.limit(2, {"default_value", "boolean"});
    const TVal* dflt = a.get(0, "default_value");
    bool boolean = opt_bool(1, "boolean", false);
    if (v.is_undefined() || v.is_none() || (boolean && !truthy(v))) return dflt ? *dflt : TVal::str("");
    return v;
  }
  case Filter::Dictsort: {
    check.limit(3, {"case_sensitive", "by", "reverse"});
    bool cs = opt_bool(0, "case_sensitive", false);
    const TVal* by = a.get(1, "by");
    bool by_value = by && need_str(*by) == "value";
    bool reverse = opt_bool(2, "reverse", false);
    TVal items = v;
    if (v.is(vm::Tag::Map) || v.k == TVal::K::Namespace || (v.is(vm::Tag::Instance) && !is_media(m_program, v.v))) {
      items.k = TVal::K::Items;
    } else if (v.k != TVal::K::Items) {
      fail(loc, check.what + " needs a map, not " + type_name(v));
    }
    Elements e(m_heap);
    elements(items, e, true);
    std::vector<size_t> order(e.items.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      int c = by_value ? compare(e.values[x], e.values[y], !cs) : compare(e.items[x], e.items[y], !cs);
      return reverse ? c > 0 : c < 0;
    });
    vm::ArrayObj* arr = m_heap.new_array(0);
    m_heap.array_reserve(arr, order.size());
    for (size_t i : order) {
      vm::ArrayObj* pair = m_heap.new_array(2);
      m_heap.array_push(pair, materialize(e.items[i]));
      m_heap.array_push(pair, materialize(e.values[i]));
      m_heap.array_push(arr, vm::Value::object(vm::Tag::Array, pair));
    }
    return TVal::of(vm::Value::object(vm::Tag::Array, arr));
  }
  case Filter::Escape:
  case Filter::E: {
    check.limit(0, {});
    std::string in = to_text(v), out;
    for (char c : in) {
      switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#x27;"; break;
      default: out += c;
      }
    }
    return make_string(out);
  }
  case Filter::First:
  case Filter::Last: {
    check.limit(0, {});
    Elements e(m_heap);
    iterate(v, e);
    if (e.items.empty()) return TVal::undefined();
    return f == Filter::First ? e.items.front() : e.items.back();
  }
  case Filter::Float: {
    check.limit(1, {"default"});
    const TVal* dflt = a.get(0, "default");
    TVal fallback = dflt ? *dflt : TVal::of(vm::Value::number(0));
    if (v.is(vm::Tag::Float)) return v;
    if (v.is(vm::Tag::Int)) return TVal::of(vm::Value::number(double(v.v.i)));
    if (v.is(vm::Tag::Bool)) return TVal::of(vm::Value::number(v.v.b ? 1 : 0));
    std::string_view s;
    double d;
    if (get_str(v, s) && parse_float(s, d)) return TVal::of(vm::Value::number(d));
    return fallback;
  }
  case Filter::Format: {
    check.limit(0, {"type", "format", "indent", "delimiter", "length_marker"});
    const TVal* type = a.get(SIZE_MAX, "type");
    if (!type) type = a.get(SIZE_MAX, "format");
    if (!type) fail(loc, "format filter requires 'type' keyword argument");
    std::string kind(need_str(*type));
    for (char& c : kind) c = lower(c);
    vm::Value value = materialize(v);
    std::string out;
    try {
      if (kind == "json") {
        append_json(out, m_program, value, m_cc);
      } else if (kind == "yaml") {
        append_yaml(out, m_program, value, m_cc);
      } else if (kind == "toon") {
        ToonOptions o;
        if (const TVal* indent = a.get(SIZE_MAX, "indent")) {
          if (!indent->is(vm::Tag::Int) || indent->v.i < 0 || indent->v.i > 64)
            fail(loc, "format(type=\"toon\"): indent must be an integer from 0 to 64");
          o.indent = size_t(indent->v.i);
        }
        if (const TVal* d = a.get(SIZE_MAX, "delimiter")) {
          std::string_view name = need_str(*d);
          if (name == "comma") o.delimiter = ',';
          else if (name == "tab") o.delimiter = '\t';
          else if (name == "pipe") o.delimiter = '|';
          else fail(loc, "Invalid delimiter '" + std::string(name) + "'. Use 'comma', 'tab', or 'pipe'");
        }
        if (const TVal* m = a.get(SIZE_MAX, "length_marker")) {
          std::string_view marker = need_str(*m);
          if (utf8_length(marker) != 1)
            fail(loc, "length_marker must be a single character, got '" + std::string(marker) + "'");
          o.length_marker = std::string(marker);
        }
        append_toon(out, m_program, value, m_cc, o);
      } else {
        fail(loc, "Unsupported format type '" + kind + "'. Supported types: 'yaml', 'json', 'toon'");
      }
    } catch (const FormatError& err) {
      fail(loc, check.what + ": " + err.what());
    }
    return make_string(out);
  }
  case Filter::Indent: {
    check.limit(3, {"width", "first", "blank"});
    std::string_view s = need_str(v);
    std::string pad;
    const TVal* width = a.get(0, "width");
    std::string_view ws;
    if (!width) pad = "    ";
    else if (width->is(vm::Tag::Int)) pad.assign(size_t(std::max<int64_t>(0, std::min<int64_t>(width->v.i, 1000))), ' ');
    else if (get_str(*width, ws)) pad = std::string(ws);
    else fail(loc, check.what + ": width must be an integer or a string");
    bool first = opt_bool(1, "first", false);
    bool blank = opt_bool(2, "blank", false);
    std::string out;
    size_t at = 0;
    bool is_first = true;
    while (true) {
      size_t nl = s.find('\n', at);
      std::string_view line = s.substr(at, nl == std::string_view::npos ? std::string_view::npos : nl - at);
      bool empty = strip(line, "", true, true).empty();
      if ((!is_first || first) && (!empty || blank)) out += pad;
      out += line;
      if (nl == std::string_view::npos) break;
      out += '\n';
      at = nl + 1;
      is_first = false;
      m_cc.bytes(line.size());
    }
    return make_string(out);
  }
  case Filter::Int: {
    check.limit(2, {"default", "base"});
    const TVal* dflt = a.get(0, "default");
    TVal fallback = dflt ? *dflt : TVal::of(vm::Value::integer(0));
    int64_t base = opt_int(1, "base", 10);
    if (base < 2 || base > 36) fail(loc, check.what + ": base must be from 2 to 36");
    if (v.is(vm::Tag::Int)) return v;
    if (v.is(vm::Tag::Bool)) return TVal::of(vm::Value::integer(v.v.b));
    if (v.is(vm::Tag::Float)) {
      if (!std::isfinite(v.v.f) || std::fabs(v.v.f) >= 9.2e18) return fallback;
      return TVal::of(vm::Value::integer(int64_t(v.v.f)));
    }
    std::string_view s;
    int64_t i;
    double d;
    if (get_str(v, s)) {
      if (parse_int(s, int(base), i)) return TVal::of(vm::Value::integer(i));
      if (base == 10 && parse_float(s, d) && std::isfinite(d) && std::fabs(d) < 9.2e18)
        return TVal::of(vm::Value::integer(int64_t(d)));
    }
    return fallback;
  }
  case Filter::Items: {
    check.limit(0, {});
    if (v.is_undefined()) return v;
    if (v.is(vm::Tag::Map) || v.k == TVal::K::Namespace || (v.is(vm::Tag::Instance) && !is_media(m_program, v.v))) {
      TVal r = v;
      r.k = TVal::K::Items;
      return r;
    }
    if (v.k == TVal::K::Items) return v;
    fail(loc, check.what + " needs a map, not " + type_name(v));
  }
  case Filter::Join: {
    check.limit(2, {"d", "attribute"});
    const TVal* sep = a.get(0, "d");
    std::string_view d = sep ? need_str(*sep) : std::string_view();
    const TVal* attr = a.get(1, "attribute");
    Elements e(m_heap);
    iterate(v, e);
    std::string out;
    for (size_t i = 0; i < e.items.size(); i++) {
      if (i) vm::append_checked(out, d, m_cc);
      append_text(out, attribute_of(e.items[i], attr));
    }
    return make_string(out);
  }
  case Filter::List: {
    check.limit(0, {});
    Elements e(m_heap);
    iterate(v, e);
    return list_of(e.items);
  }
  case Filter::Lower:
  case Filter::Upper: {
    check.limit(0, {});
    std::string s = to_text(v);
    for (char& c : s) c = f == Filter::Lower ? lower(c) : upper(c);
    return make_string(s);
  }
  case Filter::Map: {
    Elements e(m_heap);
    iterate(v, e);
    std::vector<TVal> out;
    const TVal* attr = a.get(SIZE_MAX, "attribute");
    if (attr) {
      check.limit(0, {"attribute", "default"});
      const TVal* dflt = a.get(SIZE_MAX, "default");
      for (const TVal& x : e.items) {
        m_cc.items();
        TVal r = attribute_of(x, attr);
        out.push_back(r.is_undefined() && dflt ? *dflt : r);
      }
    } else {
      if (a.pos.empty()) fail(loc, "filter map needs a filter name or attribute=");
      Filter inner;
      std::string_view name = need_str(a.pos[0]);
      if (!filter_from_name(name, inner)) fail(loc, "filter map: unknown filter '" + std::string(name) + "'");
      Args rest;
      rest.pos.assign(a.pos.begin() + 1, a.pos.end());
      rest.kw = a.kw;
      for (const TVal& x : e.items) {
        m_cc.items();
        out.push_back(apply_filter(inner, x, rest, loc));
      }
    }
    return list_of(out);
  }
  case Filter::Max:
  case Filter::Min: {
    check.limit(2, {"case_sensitive", "attribute"});
    bool cs = opt_bool(0, "case_sensitive", false);
    const TVal* attr = a.get(1, "attribute");
    Elements e(m_heap);
    iterate(v, e);
    if (e.items.empty()) return TVal::undefined();
    size_t best = 0;
    for (size_t i = 1; i < e.items.size(); i++) {
      m_cc.items();
      int c = compare(attribute_of(e.items[i], attr), attribute_of(e.items[best], attr), !cs);
      if (f == Filter::Max ? c > 0 : c < 0) best = i;
    }
    return e.items[best];
  }
  case Filter::RegexMatch: {
    check.limit(1, {"pattern"});
    const TVal* pattern = a.get(0, "pattern");
    if (!pattern) fail(loc, "filter regex_match needs a pattern");
    Regex re;
    std::string error;
    if (!re.compile(need_str(*pattern), error)) fail(loc, "regex_match: invalid pattern: " + error);
    std::string_view s;
    if (!get_str(v, s)) return TVal::of(vm::Value::boolean(false));
    return TVal::of(vm::Value::boolean(re.search(s, m_cc)));
  }
  case Filter::Reject:
  case Filter::Select:
  case Filter::Rejectattr:
  case Filter::Selectattr: {
    bool by_attr = f == Filter::Rejectattr || f == Filter::Selectattr;
    bool keep_if = f == Filter::Select || f == Filter::Selectattr;
    if (!a.kw.empty()) fail(loc, check.what + " takes no keyword arguments");
    size_t at = 0;
    const TVal* attr = nullptr;
    if (by_attr) {
      if (a.pos.empty()) fail(loc, check.what + " needs an attribute name");
      attr = &a.pos[0];
      at = 1;
    }
    bool have_test = a.pos.size() > at;
    Test test = Test::Defined;
    Args rest;
    if (have_test) {
      std::string_view name = need_str(a.pos[at]);
      if (!test_from_name(name, test)) fail(loc, check.what + ": unknown test '" + std::string(name) + "'");
      rest.pos.assign(a.pos.begin() + long(at) + 1, a.pos.end());
    }
    Elements e(m_heap);
    iterate(v, e);
    std::vector<TVal> out;
    for (const TVal& x : e.items) {
      m_cc.items();
      TVal subject = by_attr ? attribute_of(x, attr) : x;
      bool pass = have_test ? apply_test(test, subject, rest, loc) : truthy(subject);
      if (pass == keep_if) out.push_back(x);
    }
    return list_of(out);
  }
  case Filter::Replace: {
    check.limit(3, {"old", "new", "count"});
    std::string_view s = need_str(v);
    const TVal* from = a.get(0, "old");
    const TVal* to = a.get(1, "new");
    if (!from || !to) fail(loc, "filter replace needs the old and new strings");
    std::string_view x = need_str(*from), y = need_str(*to);
    int64_t count = opt_int(2, "count", -1);
    std::string out;
    size_t at = 0;
    int64_t done = 0;
    if (x.empty()) {
      // Python: the new string between every character.
      for (size_t i = 0; i <= s.size(); i++) {
        if (count < 0 || done < count) {
          out += y;
          done++;
        }
        if (i < s.size()) out += s[i];
      }
      return make_string(out);
    }
    while (count < 0 || done < count) {
      size_t f2 = s.find(x, at);
      if (f2 == std::string_view::npos) break;
      out.append(s.data() + at, f2 - at);
      out += y;
      at = f2 + x.size();
      done++;
      m_cc.bytes(y.size() + x.size());
    }
    out.append(s.data() + at, s.size() - at);
    return make_string(out);
  }
  case Filter::Reverse: {
    check.limit(0, {});
    Elements e(m_heap);
    iterate(v, e);
    std::reverse(e.items.begin(), e.items.end());
    std::string_view s;
    if (get_str(v, s)) {
      std::string out;
      for (const TVal& c : e.items) out += c.s;
      return make_string(out);
    }
    return list_of(e.items);
  }
  case Filter::Round: {
    check.limit(2, {"precision", "method"});
    int64_t precision = opt_int(0, "precision", 0);
    const TVal* m = a.get(1, "method");
    std::string_view method = m ? need_str(*m) : "common";
    if (v.is(vm::Tag::Int)) return v;
    if (!v.is(vm::Tag::Float)) fail(loc, check.what + " needs a number, not " + type_name(v));
    if (precision < 0 || precision > 15) fail(loc, check.what + ": precision must be from 0 to 15");
    double scale = std::pow(10.0, double(precision));
    double x = v.v.f * scale;
    if (method == "common") x = std::round(x);
    else if (method == "ceil") x = std::ceil(x);
    else if (method == "floor") x = std::floor(x);
    else fail(loc, check.what + ": method must be 'common', 'ceil' or 'floor'");
    return TVal::of(vm::Value::number(x / scale));
  }
  case Filter::Safe: check.limit(0, {}); return v;
  case Filter::Sort:
  case Filter::Unique: {
    if (f == Filter::Sort)
      check.limit(3, {"reverse", "case_sensitive", "attribute"});
    else
      check.limit(2, {"case_sensitive", "attribute"});
    bool reverse = f == Filter::Sort && opt_bool(0, "reverse", false);
    bool cs = opt_bool(f == Filter::Sort ? 1 : 0, "case_sensitive", false);
    const TVal* attr = a.get(f == Filter::Sort ? 2 : 1, "attribute");
    Elements e(m_heap);
    iterate(v, e);
    if (f == Filter::Sort) {
      std::stable_sort(e.items.begin(), e.items.end(), [&](const TVal& x, const TVal& y) {
        m_cc.items();
        int c = compare(attribute_of(x, attr), attribute_of(y, attr), !cs);
        return reverse ? c > 0 : c < 0;
      });
      return list_of(e.items);
    }
    std::vector<TVal> out;
    for (const TVal& x : e.items) {
      TVal key = attribute_of(x, attr);
      bool seen = false;
      for (const TVal& y : out) {
        m_cc.items();
        TVal other = attribute_of(y, attr);
        std::string_view s1, s2;
        if (!cs && get_str(key, s1) && get_str(other, s2))
          seen = compare(key, other, true) == 0;
        else
          seen = equal(key, other);
        if (seen) break;
      }
      if (!seen) out.push_back(x);
    }
    return list_of(out);
  }
  case Filter::Split: {
    check.limit(2, {"sep", "maxsplit"});
    std::string_view s = need_str(v);
    const TVal* sep = a.get(0, "sep");
    std::string_view sv;
    if (sep && !sep->is_none()) {
      sv = need_str(*sep);
      if (sv.empty()) fail(loc, "filter split: empty separator");
    }
    std::vector<std::string_view> parts;
    split_words(s, sep && !sep->is_none() ? &sv : nullptr, opt_int(1, "maxsplit", -1), parts);
    vm::ArrayObj* arr = m_heap.new_array(0);
    m_heap.array_reserve(arr, parts.size());
    for (std::string_view p : parts) m_heap.array_push(arr, m_heap.string_value(p));
    return TVal::of(vm::Value::object(vm::Tag::Array, arr));
  }
  case Filter::String: {
    check.limit(0, {});
    std::string_view s;
    if (get_str(v, s)) return v;
    return make_string(to_text(v));
  }
  case Filter::Sum: {
    check.limit(2, {"attribute", "start"});
    const TVal* attr = a.get(0, "attribute");
    const TVal* start = a.get(1, "start");
    Elements e(m_heap);
    iterate(v, e);
    TVal total = start ? *start : TVal::of(vm::Value::integer(0));
    for (const TVal& x : e.items) {
      m_cc.items();
      total = arith(BinOp::Add, total, attribute_of(x, attr), loc);
    }
    return total;
  }
  case Filter::Title: check.limit(0, {}); return make_string(title_case(need_str(v)));
  case Filter::Tojson: {
    check.limit(1, {"indent"});
    const TVal* indent = a.get(0, "indent");
    int n = -1;
    if (indent && !indent->is_none()) {
      if (!indent->is(vm::Tag::Int) || indent->v.i < 0 || indent->v.i > 64)
        fail(loc, "filter tojson: indent must be an integer from 0 to 64");
      n = int(indent->v.i);
    }
    std::string out;
    try {
      append_json(out, m_program, materialize(v), m_cc, n, true);
    } catch (const FormatError& err) {
      fail(loc, check.what + ": " + err.what());
    }
    return make_string(out);
  }
  case Filter::Trim: {
    check.limit(1, {"chars"});
    const TVal* chars = a.get(0, "chars");
    std::string_view s = need_str(v);
    std::string_view r = strip(s, chars && !chars->is_none() ? need_str(*chars) : std::string_view(), true, true);
    if (v.k == TVal::K::Str || v.is(vm::Tag::String)) return TVal::str(r);
    return make_string(r);
  }
  case Filter::Wordcount: {
    check.limit(0, {});
    std::vector<std::string_view> words;
    split_words(need_str(v), nullptr, -1, words);
    return TVal::of(vm::Value::integer(int64_t(words.size())));
  }
  case Filter::COUNT_: break;
  }
  fail(loc, "unknown filter");
}

bool Renderer::apply_test(Test t, const TVal& v, const Args& a, const lang::SourceLoc& loc) {
  ArgCheck check{*this, a, loc, std::string("test ") + test_name(t)};
  auto one = [&]() -> const TVal& {
    if (a.pos.size() != 1 || !a.kw.empty()) fail(loc, check.what + " takes one argument");
    return a.pos[0];
  };
  auto none = [&]() { check.limit(0, {}); };
  std::string_view s, x;
  switch (t) {
  case Test::Defined: none(); return !v.is_undefined();
  case Test::Undefined: none(); return v.is_undefined();
  case Test::None: none(); return v.is_none();
  case Test::True: none(); return v.is(vm::Tag::Bool) && v.v.b;
  case Test::False: none(); return v.is(vm::Tag::Bool) && !v.v.b;
  case Test::Boolean: none(); return v.is(vm::Tag::Bool);
  case Test::String: none(); return get_str(v, s);
  case Test::Number: none(); return v.is(vm::Tag::Int) || v.is(vm::Tag::Float);
  case Test::Integer: none(); return v.is(vm::Tag::Int);
  case Test::Float: none(); return v.is(vm::Tag::Float);
  case Test::Mapping:
    none();
    return v.is(vm::Tag::Map) || v.k == TVal::K::Namespace || (v.is(vm::Tag::Instance) && !is_media(m_program, v.v));
  case Test::Sequence: none(); return v.is(vm::Tag::Array) || v.k == TVal::K::Items || v.k == TVal::K::Range;
  case Test::Iterable: {
    none();
    if (v.is_undefined() || v.is_none()) return false;
    Elements e(m_heap);
    return elements(v, e);
  }
  case Test::Odd:
  case Test::Even:
    none();
    if (!v.is(vm::Tag::Int)) fail(loc, check.what + " needs an integer, not " + type_name(v));
    return (v.v.i % 2 != 0) == (t == Test::Odd);
  case Test::Divisibleby: {
    const TVal& n = one();
    if (!v.is(vm::Tag::Int) || !n.is(vm::Tag::Int)) fail(loc, check.what + " needs integers");
    if (n.v.i == 0) fail(loc, "division by zero");
    return n.v.i == -1 || v.v.i % n.v.i == 0;
  }
  case Test::Eq:
  case Test::Equalto:
  case Test::EqSym: return equal(v, one());
  case Test::Ne:
  case Test::NeSym: return !equal(v, one());
  case Test::Lt:
  case Test::Lessthan:
  case Test::LtSym: return compare(v, one()) < 0;
  case Test::Le:
  case Test::LeSym: return compare(v, one()) <= 0;
  case Test::Gt:
  case Test::Greaterthan:
  case Test::GtSym: return compare(v, one()) > 0;
  case Test::Ge:
  case Test::GeSym: return compare(v, one()) >= 0;
  case Test::In: return contains(one(), v, loc);
  case Test::Sameas: {
    const TVal& o = one();
    if (v.k != o.k) return false;
    if (v.k != TVal::K::Value) return equal(v, o);
    if (v.v.is_object() || o.v.is_object()) return v.v.tag == o.v.tag && v.v.obj == o.v.obj;
    return equal(v, o);
  }
  case Test::Startingwith:
  case Test::Endingwith:
  case Test::Containing: {
    const TVal& o = one();
    if (t == Test::Containing) return contains(v, o, loc);
    if (!get_str(v, s) || !get_str(o, x)) return false;
    if (x.size() > s.size()) return false;
    return t == Test::Startingwith ? s.substr(0, x.size()) == x : s.substr(s.size() - x.size()) == x;
  }
  case Test::Lower:
  case Test::Upper: {
    none();
    if (!get_str(v, s)) return false;
    bool any = false;
    for (char c : s) {
      if (t == Test::Lower ? (c >= 'A' && c <= 'Z') : (c >= 'a' && c <= 'z')) return false;
      any = any || std::isalpha(static_cast<unsigned char>(c));
    }
    return any;
  }
  case Test::COUNT_: break;
  }
  fail(loc, "unknown test");
}

// ---------------------------------------------------------------- methods

namespace {

// Python's str.format over already evaluated arguments.
class PyFormat {
public:
  PyFormat(Renderer& r, const Args& a, const lang::SourceLoc& loc) : m_r(r), m_a(a), m_loc(loc) {}

  std::string run(std::string_view fmt) {
    std::string out;
    size_t auto_index = 0;
    bool used_auto = false, used_manual = false;
    for (size_t i = 0; i < fmt.size();) {
      char c = fmt[i];
      if (c == '}') {
        if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
          out += '}';
          i += 2;
          continue;
        }
        m_r.fail(m_loc, "format(): single '}' encountered in format string");
      }
      if (c != '{') {
        out += c;
        i++;
        continue;
      }
      if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
        out += '{';
        i += 2;
        continue;
      }
      size_t close = fmt.find('}', i + 1);
      if (close == std::string_view::npos) m_r.fail(m_loc, "format(): single '{' encountered in format string");
      std::string_view field = fmt.substr(i + 1, close - i - 1);
      if (field.find('{') != std::string_view::npos)
        m_r.fail(m_loc, "format(): nested replacement fields are not supported");
      size_t colon = field.find(':');
      std::string_view head = field.substr(0, colon);
      std::string_view spec = colon == std::string_view::npos ? std::string_view() : field.substr(colon + 1);
      char conversion = 0;
      size_t bang = head.find('!');
      if (bang != std::string_view::npos) {
        if (bang + 2 != head.size() || (head[bang + 1] != 'r' && head[bang + 1] != 's' && head[bang + 1] != 'a'))
          m_r.fail(m_loc, "format(): invalid conversion in '{" + std::string(field) + "}'");
        conversion = head[bang + 1];
        head = head.substr(0, bang);
      }
      const TVal* value = nullptr;
      if (head.empty()) {
        if (used_manual) m_r.fail(m_loc, "format(): cannot switch from manual field numbering to automatic");
        used_auto = true;
        value = arg(auto_index++, head);
      } else if (std::isdigit(static_cast<unsigned char>(head[0]))) {
        if (used_auto) m_r.fail(m_loc, "format(): cannot switch from automatic field numbering to manual");
        used_manual = true;
        size_t n = 0;
        for (char d : head) {
          if (!std::isdigit(static_cast<unsigned char>(d))) m_r.fail(m_loc, "format(): invalid field '" + std::string(head) + "'");
          n = n * 10 + size_t(d - '0');
          if (n > 1000000) break;
        }
        value = arg(n, head);
      } else {
        for (auto& [k, v] : m_a.kw)
          if (k == head) value = &v;
        if (!value) m_r.fail(m_loc, "format(): no argument named '" + std::string(head) + "'");
      }
      append(out, *value, conversion, spec);
      i = close + 1;
    }
    return out;
  }

private:
  const TVal* arg(size_t i, std::string_view field) {
    if (i >= m_a.pos.size())
      m_r.fail(m_loc, "format(): replacement index " + std::to_string(i) + " out of range for positional args");
    (void)field;
    return &m_a.pos[i];
  }

  void append(std::string& out, const TVal& v, char conversion, std::string_view spec) {
    FormatArg fa;
    std::string text;
    std::string_view s;
    if (conversion == 'r' || conversion == 'a') {
      if (Renderer::get_str(v, s))
        append_quoted(text, s);
      else
        m_r.append_text(text, v);
      fa.text = text;
    } else if (conversion == 0 && v.is(vm::Tag::Int)) {
      fa.kind = FormatArg::Kind::Int;
      fa.i = v.v.i;
    } else if (conversion == 0 && v.is(vm::Tag::Float)) {
      fa.kind = FormatArg::Kind::Float;
      fa.f = v.v.f;
    } else if (conversion == 0 && v.is(vm::Tag::Bool)) {
      fa.kind = FormatArg::Kind::Bool;
      fa.b = v.v.b;
    } else {
      m_r.append_text(text, v);
      fa.text = text;
    }
    std::string error;
    if (!append_format_spec(out, fa, spec, error)) m_r.fail(m_loc, "format(): " + error);
  }

  Renderer& m_r;
  const Args& m_a;
  const lang::SourceLoc& m_loc;
};

} // namespace

TVal Renderer::call_method(const TVal& obj, std::string_view name, const Args& a, const lang::SourceLoc& loc) {
  ArgCheck check{*this, a, loc, std::string(name) + "()"};
  std::string_view s;
  auto need_str = [&](const TVal& x) {
    std::string_view r;
    if (!get_str(x, r)) fail(loc, check.what + " needs a string, not " + type_name(x));
    return r;
  };
  auto boolean = [](bool b) { return TVal::of(vm::Value::boolean(b)); };
  auto strings = [&](const std::vector<std::string_view>& parts) {
    vm::ArrayObj* arr = m_heap.new_array(0);
    m_heap.array_reserve(arr, parts.size());
    for (std::string_view p : parts) m_heap.array_push(arr, m_heap.string_value(p));
    return TVal::of(vm::Value::object(vm::Tag::Array, arr));
  };

  if (name == "length" && (get_str(obj, s) || obj.is(vm::Tag::Array) || obj.is(vm::Tag::Map) ||
                           obj.k == TVal::K::Namespace || obj.k == TVal::K::Items || obj.k == TVal::K::Range)) {
    // (Not Jinja's, but what BAML scripts write: xs.length() as xs|length.)
    check.limit(0, {});
    return TVal::of(vm::Value::integer(int64_t(length(obj, loc))));
  }
  if (get_str(obj, s)) {
    if (name == "format") return make_string(PyFormat(*this, a, loc).run(s));
    if (name == "lower" || name == "upper") {
      check.limit(0, {});
      std::string r(s);
      for (char& c : r) c = name == "lower" ? lower(c) : upper(c);
      return make_string(r);
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip" || name == "trim") {
      check.limit(1, {"chars"});
      const TVal* chars = a.get(0, "chars");
      std::string_view set = chars && !chars->is_none() ? need_str(*chars) : std::string_view();
      return TVal::str(strip(s, set, name != "rstrip", name != "lstrip"));
    }
    if (name == "split") {
      check.limit(2, {"sep", "maxsplit"});
      const TVal* sep = a.get(0, "sep");
      const TVal* max = a.get(1, "maxsplit");
      std::string_view sv;
      bool has_sep = sep && !sep->is_none();
      if (has_sep && (sv = need_str(*sep)).empty()) fail(loc, "split(): empty separator");
      int64_t maxsplit = max && max->is(vm::Tag::Int) ? max->v.i : -1;
      std::vector<std::string_view> parts;
      split_words(s, has_sep ? &sv : nullptr, maxsplit, parts);
      return strings(parts);
    }
    if (name == "splitlines") {
      check.limit(0, {});
      std::vector<std::string_view> parts;
      size_t at = 0;
      while (at < s.size()) {
        size_t nl = s.find_first_of("\r\n", at);
        if (nl == std::string_view::npos) {
          parts.push_back(s.substr(at));
          break;
        }
        parts.push_back(s.substr(at, nl - at));
        at = nl + (s[nl] == '\r' && nl + 1 < s.size() && s[nl + 1] == '\n' ? 2 : 1);
      }
      return strings(parts);
    }
    if (name == "replace") return apply_filter(Filter::Replace, obj, a, loc);
    if (name == "title") return apply_filter(Filter::Title, obj, a, loc);
    if (name == "capitalize") return apply_filter(Filter::Capitalize, obj, a, loc);
    if (name == "startswith" || name == "endswith") {
      check.limit(1, {});
      if (a.pos.empty()) fail(loc, check.what + " needs an argument");
      Elements options(m_heap);
      std::string_view one;
      if (get_str(a.pos[0], one))
        options.push(a.pos[0]);
      else if (!a.pos[0].is(vm::Tag::Array) || !elements(a.pos[0], options))
        fail(loc, check.what + " needs a string or a list of strings");
      for (const TVal& o : options.items) {
        std::string_view p = need_str(o);
        if (p.size() <= s.size() && (name == "startswith" ? s.substr(0, p.size()) == p : s.substr(s.size() - p.size()) == p))
          return boolean(true);
      }
      return boolean(false);
    }
    if (name == "find" || name == "rfind" || name == "count" || name == "index") {
      check.limit(1, {});
      if (a.pos.empty()) fail(loc, check.what + " needs an argument");
      std::string_view sub = need_str(a.pos[0]);
      if (name == "count") {
        if (sub.empty()) return TVal::of(vm::Value::integer(int64_t(utf8_length(s)) + 1));
        int64_t n = 0;
        for (size_t at = s.find(sub); at != std::string_view::npos; at = s.find(sub, at + sub.size())) n++;
        return TVal::of(vm::Value::integer(n));
      }
      size_t at = name == "rfind" ? s.rfind(sub) : s.find(sub);
      if (at == std::string_view::npos) {
        if (name == "index") fail(loc, "index(): substring not found");
        return TVal::of(vm::Value::integer(-1));
      }
      return TVal::of(vm::Value::integer(int64_t(utf8_length(s.substr(0, at)))));
    }
    if (name == "join") {
      check.limit(1, {});
      if (a.pos.empty()) fail(loc, "join() needs an argument");
      Args ja;
      ja.pos.push_back(obj);
      return apply_filter(Filter::Join, a.pos[0], ja, loc);
    }
    if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "islower" ||
        name == "isupper") {
      check.limit(0, {});
      if (s.empty()) return boolean(false);
      if (name == "islower") return TVal::of(vm::Value::boolean(apply_test(Test::Lower, obj, Args(), loc)));
      if (name == "isupper") return TVal::of(vm::Value::boolean(apply_test(Test::Upper, obj, Args(), loc)));
      for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        bool ok = name == "isdigit"   ? std::isdigit(u) != 0
                  : name == "isalpha" ? std::isalpha(u) != 0
                  : name == "isalnum" ? std::isalnum(u) != 0
                                      : is_space(c);
        if (!ok) return boolean(false);
      }
      return boolean(true);
    }
    fail(loc, "string has no method '" + std::string(name) + "'");
  }

  bool mapping = obj.is(vm::Tag::Map) || obj.k == TVal::K::Namespace ||
                 (obj.is(vm::Tag::Instance) && !is_media(m_program, obj.v));
  if (mapping) {
    if (name == "items") {
      check.limit(0, {});
      TVal r = obj;
      r.k = TVal::K::Items;
      return r;
    }
    if (name == "keys" || name == "values") {
      check.limit(0, {});
      TVal items = obj;
      items.k = TVal::K::Items;
      Elements e(m_heap);
      elements(items, e, true);
      vm::ArrayObj* arr = m_heap.new_array(0);
      const std::vector<TVal>& src = name == "keys" ? e.items : e.values;
      m_heap.array_reserve(arr, src.size());
      for (const TVal& x : src) m_heap.array_push(arr, materialize(x));
      return TVal::of(vm::Value::object(vm::Tag::Array, arr));
    }
    if (name == "get") {
      check.limit(2, {"key", "default"});
      const TVal* key = a.get(0, "key");
      if (!key) fail(loc, "get() needs a key");
      TVal r = get_attr(obj, need_str(*key), loc);
      if (r.is_undefined()) {
        const TVal* dflt = a.get(1, "default");
        return dflt ? *dflt : TVal::of(vm::Value::null());
      }
      return r;
    }
  }
  if (obj.is(vm::Tag::Array) && (name == "count" || name == "index")) {
    check.limit(1, {});
    if (a.pos.empty()) fail(loc, check.what + " needs an argument");
    const auto& items = obj.v.as_array()->items;
    int64_t n = 0;
    for (size_t i = 0; i < items.size(); i++) {
      m_cc.items();
      if (equal(TVal::of(items[i]), a.pos[0])) {
        if (name == "index") return TVal::of(vm::Value::integer(int64_t(i)));
        n++;
      }
    }
    if (name == "index") fail(loc, "index(): value not in list");
    return TVal::of(vm::Value::integer(n));
  }
  if (obj.is_undefined()) fail(loc, "cannot call " + std::string(name) + "() on an undefined value");
  fail(loc, type_name(obj) + " has no method '" + std::string(name) + "'");
}

} // namespace brake::llm::tmpl
