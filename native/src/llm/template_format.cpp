#include "llm/template_format.h"

#include "json/json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

namespace brake::llm::tmpl {

namespace {

// ---------------------------------------------------------------- float digits

// x = d[0].d[1]d[2]... x 10^exp (x finite, non-zero): the shortest digits
// that read back as x.
struct Digits {
  char d[32];
  int n = 0;
  int exp = 0;
  bool negative = false;
};

Digits shortest_digits(double x) {
  Digits r;
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  const char* p = buf;
  const char* end = res.ptr;
  if (p < end && *p == '-') {
    r.negative = true;
    p++;
  }
  while (p < end && *p != 'e') {
    if (*p != '.' && r.n < int(sizeof r.d)) r.d[r.n++] = *p;
    p++;
  }
  if (p < end && *p == 'e') {
    p++;
    bool neg = false;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    int e = 0;
    while (p < end) e = e * 10 + (*p++ - '0');
    r.exp = neg ? -e : e;
  }
  // Trailing zeros of the mantissa say nothing (to_chars gives none, but be safe).
  while (r.n > 1 && r.d[r.n - 1] == '0') r.n--;
  return r;
}

// Plain decimal layout of digits (no exponent); `point_zero` adds ".0" to
// whole numbers.
void append_plain(std::string& out, const Digits& g, bool point_zero) {
  if (g.negative) out += '-';
  if (g.exp >= 0) {
    for (int i = 0; i <= g.exp; i++) out += i < g.n ? g.d[i] : '0';
    if (g.n > g.exp + 1) {
      out += '.';
      out.append(g.d + g.exp + 1, size_t(g.n - g.exp - 1));
    } else if (point_zero) {
      out += ".0";
    }
  } else {
    out += "0.";
    out.append(size_t(-g.exp - 1), '0');
    out.append(g.d, size_t(g.n));
  }
}

bool append_non_finite(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
    return true;
  }
  if (std::isinf(d)) {
    out += d < 0 ? "-inf" : "inf";
    return true;
  }
  return false;
}

} // namespace

void append_float_display(std::string& out, double d) {
  if (append_non_finite(out, d)) return;
  if (d == 0) {
    out += std::signbit(d) ? "-0.0" : "0.0";
    return;
  }
  append_plain(out, shortest_digits(d), true);
}

void append_float_repr(std::string& out, double d) {
  if (append_non_finite(out, d)) return;
  if (d == 0) {
    out += std::signbit(d) ? "-0.0" : "0.0";
    return;
  }
  double a = std::fabs(d);
  Digits g = shortest_digits(d);
  if (a < 1e-4 || a >= 1e16) {
    if (g.negative) out += '-';
    out += g.d[0];
    if (g.n > 1) {
      out += '.';
      out.append(g.d + 1, size_t(g.n - 1));
    }
    out += 'e';
    out += std::to_string(g.exp);
    return;
  }
  append_plain(out, g, true);
}

void append_float_canonical(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  if (d == 0) {
    out += '0';
    return;
  }
  append_plain(out, shortest_digits(d), false);
}

// ---------------------------------------------------------------- media

bool is_media(const vm::CompiledProgram& p, vm::Value v) {
  return v.tag == vm::Tag::Instance && p.media_kind(v.as_instance()->class_id) >= 0;
}

namespace {
std::string field_string(const vm::InstanceObj* m, uint32_t f) {
  if (f < m->fields.size() && m->fields[f].tag == vm::Tag::String) return m->fields[f].as_string()->text;
  return std::string();
}
bool field_is_string(const vm::InstanceObj* m, uint32_t f) {
  return f < m->fields.size() && m->fields[f].tag == vm::Tag::String;
}
} // namespace

Media media_of(const vm::CompiledProgram& p, const vm::InstanceObj* m) {
  Media media;
  int kind = p.media_kind(m->class_id);
  media.kind = Media::Kind(kind < 0 ? 0 : kind);
  media.url = field_string(m, vm::kMediaUrl);
  media.base64 = field_string(m, vm::kMediaBase64);
  media.mime_type = field_string(m, vm::kMediaMimeType);
  return media;
}

void append_media_magic(std::string& out, const vm::CompiledProgram& p, const vm::InstanceObj* m) {
  static const char* const kKinds[] = {"Image", "Audio", "Pdf", "Video"};
  int kind = p.media_kind(m->class_id);
  out += "BAML_MEDIA_MAGIC_STRING_DELIMITER:baml-start-media:{\"media_type\":\"";
  out += kKinds[kind < 0 ? 0 : kind];
  out += "\",\"mime_type\":";
  if (field_is_string(m, vm::kMediaMimeType))
    json::append_string(out, m->fields[vm::kMediaMimeType].as_string()->text);
  else
    out += "null";
  out += ",\"content\":{";
  if (field_is_string(m, vm::kMediaUrl)) {
    out += "\"Url\":{\"url\":";
    json::append_string(out, m->fields[vm::kMediaUrl].as_string()->text);
  } else {
    out += "\"Base64\":{\"base64\":";
    json::append_string(out, field_string(m, vm::kMediaBase64));
  }
  out += "}}}:baml-end-media:BAML_MEDIA_MAGIC_STRING_DELIMITER";
}

// ---------------------------------------------------------------- shared walking

namespace {

[[noreturn]] void too_deep() { throw FormatError("value nested too deeply (or cyclic) to write"); }

bool is_hidden_field(const std::string& name) { return !name.empty() && name[0] == '#'; }

// A map's entries or an instance's visible fields (by shown name), in order.
using Entries = std::vector<std::pair<std::string_view, vm::Value>>;

bool is_object(const vm::CompiledProgram& p, vm::Value v) {
  return v.tag == vm::Tag::Map || (v.tag == vm::Tag::Instance && !is_media(p, v));
}

void entries_of(const vm::CompiledProgram& p, vm::Value v, Entries& out) {
  out.clear();
  if (v.tag == vm::Tag::Map) {
    const vm::MapObj* m = v.as_map();
    out.reserve(m->size());
    for (size_t i = 0; i < m->size(); i++) out.emplace_back(m->keys[i], m->values[i]);
  } else if (v.tag == vm::Tag::Instance) {
    const vm::InstanceObj* o = v.as_instance();
    if (o->class_id >= p.classes.size()) return;
    const vm::ClassInfo& c = p.classes[o->class_id];
    for (size_t i = 0; i < o->fields.size() && i < c.field_names.size(); i++)
      if (!is_hidden_field(c.field_names[i])) out.emplace_back(c.shown_name(i), o->fields[i]);
  }
}

std::string_view enum_shown(const vm::CompiledProgram& p, vm::Value v) {
  if (v.enum_id() < p.enums.size() && v.variant() < p.enums[v.enum_id()].variants.size())
    return p.enums[v.enum_id()].shown_name(v.variant());
  return std::string_view();
}

void append_int(std::string& out, int64_t i) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, r.ptr);
}

// ---------------------------------------------------------------- display

// Null, bools, numbers, enums and strings (quoted) as BAML's values print
// (Rust's Debug), and function values as <function NAME>; false for a list,
// map or instance.
bool append_scalar(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc) {
  switch (v.tag) {
  case vm::Tag::Null: out += "null"; return true;
  case vm::Tag::Bool: out += v.b ? "true" : "false"; return true;
  case vm::Tag::Int: append_int(out, v.i); return true;
  case vm::Tag::Float: append_float_repr(out, v.f); return true;
  case vm::Tag::Enum: out += enum_shown(p, v); return true;
  case vm::Tag::String:
    cc.bytes(v.as_string()->text.size());
    append_quoted(out, v.as_string()->text);
    return true;
  case vm::Tag::Function:
  case vm::Tag::Future:
  case vm::Tag::TaskGroup:
  case vm::Tag::CancelToken:
  case vm::Tag::Cell:
    if (const char* shown = vm::handle_text(v.tag)) {
      out += shown;
      return true;
    }
    out += "<function ";
    if (v.tag == vm::Tag::Function && v.as_function()->function < p.functions.size()) out += p.functions[v.as_function()->function].name;
    out += '>';
    return true;
  default: return false;
  }
}

class DisplayWriter {
public:
  DisplayWriter(std::string& out, const vm::CompiledProgram& p, vm::CancelCheck& cc, MediaHook* hook)
      : m_out(out), m_p(p), m_cc(cc), m_hook(hook) {}

  void display(vm::Value v) {
    switch (v.tag) {
    case vm::Tag::String: vm::append_checked(m_out, v.as_string()->text, m_cc); return;
    case vm::Tag::Array:
    case vm::Tag::Map: debug(v, false, 0, 0); return;
    case vm::Tag::Instance:
      if (!media(v)) debug(v, true, 0, 0);
      return;
    case vm::Tag::Float: append_float_display(m_out, v.f); return;
    default: debug(v, false, 0, 0); return;
    }
  }

private:
  bool media(vm::Value v) {
    if (!is_media(m_p, v)) return false;
    if (m_hook)
      m_hook->media(v.as_instance());
    else
      append_media_magic(m_out, m_p, v.as_instance());
    return true;
  }

  void newline(int indent) {
    m_out += '\n';
    m_out.append(size_t(indent), ' ');
  }

  // Rust's Debug forms ({:?}, and {:#?} when `pretty`), as BAML's values print.
  void debug(vm::Value v, bool pretty, int indent, int depth) {
    if (depth > kMaxValueDepth) too_deep();
    m_cc.items();
    if (append_scalar(m_out, m_p, v, m_cc)) return;
    switch (v.tag) {
    case vm::Tag::Array: {
      const auto& items = v.as_array()->items;
      m_out += '[';
      for (size_t i = 0; i < items.size(); i++) {
        if (pretty) {
          newline(indent + 4);
        } else if (i) {
          m_out += ", ";
        }
        debug(items[i], pretty, pretty ? indent + 4 : indent, depth + 1);
        if (pretty) m_out += ',';
      }
      if (pretty && !items.empty()) newline(indent);
      m_out += ']';
      return;
    }
    case vm::Tag::Map:
    case vm::Tag::Instance: {
      if (media(v)) return;
      // A class instance always prints in the multi-line form.
      if (v.tag == vm::Tag::Instance) pretty = true;
      Entries entries;
      entries_of(m_p, v, entries);
      m_out += '{';
      for (size_t i = 0; i < entries.size(); i++) {
        if (pretty) {
          newline(indent + 4);
        } else if (i) {
          m_out += ", ";
        }
        append_quoted(m_out, entries[i].first);
        m_out += ": ";
        debug(entries[i].second, pretty, pretty ? indent + 4 : indent, depth + 1);
        if (pretty) m_out += ',';
      }
      if (pretty && !entries.empty()) newline(indent);
      m_out += '}';
      return;
    }
    default: return; // (scalars: above)
    }
  }

  std::string& m_out;
  const vm::CompiledProgram& m_p;
  vm::CancelCheck& m_cc;
  MediaHook* m_hook;
};

} // namespace

void append_display(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc, MediaHook* hook) {
  DisplayWriter(out, p, cc, hook).display(v);
}

namespace {
// baml.unstable.string's form (see template_format.h).
class PrettyWriter {
public:
  PrettyWriter(std::string& out, const vm::CompiledProgram& p, vm::CancelCheck& cc, vm::Heap& heap)
      : m_out(out), m_p(p), m_cc(cc), m_heap(heap) {}
  ~PrettyWriter() { m_heap.uncharge(m_charged); }

  void write(vm::Value v, int indent, int depth) {
    if (depth > kMaxValueDepth) too_deep();
    m_cc.items();
    charge_growth();
    if (v.tag == vm::Tag::String) { // (escaped, at most twice its size)
      m_heap.charge(2 * v.as_string()->text.size());
      m_charged += 2 * v.as_string()->text.size();
    }
    if (append_scalar(m_out, m_p, v, m_cc)) return;
    switch (v.tag) {
    case vm::Tag::Array: {
      const auto& items = v.as_array()->items;
      m_out += '[';
      for (size_t i = 0; i < items.size(); i++) {
        if (i) m_out += ", ";
        write(items[i], indent, depth + 1);
      }
      m_out += ']';
      return;
    }
    case vm::Tag::Map:
    case vm::Tag::Instance: {
      if (v.tag == vm::Tag::Instance && v.as_instance()->class_id < m_p.classes.size()) {
        m_out += m_p.classes[v.as_instance()->class_id].name;
        m_out += ' ';
      }
      Entries entries;
      entries_of(m_p, v, entries);
      m_out += '{';
      for (const auto& [name, value] : entries) {
        m_out += '\n';
        m_out.append(size_t(indent + 4), ' ');
        if (v.tag == vm::Tag::Map) append_quoted(m_out, name);
        else m_out += name;
        m_out += ": ";
        write(value, indent + 4, depth + 1);
      }
      if (!entries.empty()) {
        m_out += '\n';
        m_out.append(size_t(indent), ' ');
      }
      m_out += '}';
      return;
    }
    default: m_out += "null"; return;
    }
  }

private:
  // The text is charged to the call as it grows (in steps of 64 KiB ahead),
  // and given back when done: the caller charges the string it makes of it.
  void charge_growth() {
    if (m_out.size() + 4096 <= m_charged) return;
    size_t step = std::max<size_t>(size_t(64) << 10, m_out.size() + 4096 - m_charged);
    m_heap.charge(step);
    m_charged += step;
  }

  std::string& m_out;
  const vm::CompiledProgram& m_p;
  vm::CancelCheck& m_cc;
  vm::Heap& m_heap;
  size_t m_charged = 0;
};
} // namespace

void append_pretty(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc, vm::Heap& heap) {
  PrettyWriter(out, p, cc, heap).write(v, 0, 0);
}

namespace {
// A double-quoted string with \" \\ \n \r \t \0 escaped and the other
// control characters as `\u{1b}` (Rust's Debug, what BAML shows) or
// `\x1b` (YAML).
enum class ControlEscape : uint8_t { RustBraces, YamlHex };

void double_quoted(std::string& out, std::string_view s, ControlEscape control) {
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\0': out += "\\0"; break;
    default:
      if (c >= 0x20 && c != 0x7f) {
        out += ch;
      } else if (control == ControlEscape::RustBraces) {
        out += "\\u{";
        if (c >> 4) out += kHex[c >> 4];
        out += kHex[c & 15];
        out += '}';
      } else {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }
  out += '"';
}
} // namespace

void append_quoted(std::string& out, std::string_view s) { double_quoted(out, s, ControlEscape::RustBraces); }

// ---------------------------------------------------------------- JSON

namespace {

class JsonWriter {
public:
  JsonWriter(std::string& out, const vm::CompiledProgram& p, vm::CancelCheck& cc, int indent, bool html_safe)
      : m_out(out), m_p(p), m_cc(cc), m_indent(indent), m_html_safe(html_safe) {}

  void write(vm::Value v, int depth) {
    if (depth > kMaxValueDepth) too_deep();
    m_cc.items();
    switch (v.tag) {
    case vm::Tag::Null: m_out += "null"; return;
    case vm::Tag::Bool: m_out += v.b ? "true" : "false"; return;
    case vm::Tag::Int: append_int(m_out, v.i); return;
    case vm::Tag::Float:
      if (!std::isfinite(v.f)) throw FormatError("a float that is not finite cannot be written as JSON");
      append_float_repr(m_out, v.f);
      return;
    case vm::Tag::Enum: json::append_string(m_out, enum_shown(m_p, v), m_html_safe); return;
    case vm::Tag::Function:
    case vm::Tag::Future:
    case vm::Tag::TaskGroup:
    case vm::Tag::CancelToken:
    case vm::Tag::Cell: throw FormatError("a function value cannot be written as JSON");
    case vm::Tag::String:
      m_cc.bytes(v.as_string()->text.size());
      json::append_string(m_out, v.as_string()->text, m_html_safe);
      return;
    case vm::Tag::Array: {
      const auto& items = v.as_array()->items;
      m_out += '[';
      for (size_t i = 0; i < items.size(); i++) {
        if (i) m_out += ',';
        newline(depth + 1);
        write(items[i], depth + 1);
      }
      if (!items.empty()) newline(depth);
      m_out += ']';
      return;
    }
    case vm::Tag::Map:
    case vm::Tag::Instance: {
      if (is_media(m_p, v)) {
        std::string magic;
        append_media_magic(magic, m_p, v.as_instance());
        json::append_string(m_out, magic, m_html_safe);
        return;
      }
      Entries entries;
      entries_of(m_p, v, entries);
      m_out += '{';
      for (size_t i = 0; i < entries.size(); i++) {
        if (i) m_out += ',';
        newline(depth + 1);
        json::append_string(m_out, entries[i].first, m_html_safe);
        m_out += m_indent >= 0 ? ": " : ":";
        write(entries[i].second, depth + 1);
      }
      if (!entries.empty()) newline(depth);
      m_out += '}';
      return;
    }
    }
  }

private:
  void newline(int depth) {
    if (m_indent < 0) return;
    m_out += '\n';
    m_out.append(size_t(depth) * size_t(m_indent), ' ');
  }

  std::string& m_out;
  const vm::CompiledProgram& m_p;
  vm::CancelCheck& m_cc;
  int m_indent;
  bool m_html_safe;
};

} // namespace

void append_json(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc, int indent,
                 bool html_safe) {
  JsonWriter(out, p, cc, indent, html_safe).write(v, 0);
}

// ---------------------------------------------------------------- YAML

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Whether a plain scalar `s` would read back as something other than a
// string under YAML 1.2's core schema (null, a boolean, a number).
bool yaml_reads_as_non_string(std::string_view s) {
  static const char* const kWords[] = {"null", "Null", "NULL", "~",     "true",  "True",  "TRUE",  "false",
                                       "False", "FALSE", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                       "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"};
  for (const char* w : kWords)
    if (s == w) return true;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    bool all = true;
    for (size_t i = 2; i < s.size(); i++) {
      char c = s[i];
      bool ok = s[1] == 'x' ? (is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) : (c >= '0' && c <= '7');
      if (!ok) all = false;
    }
    if (all) return true;
  }
  // [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE][-+]?[0-9]+ )?
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) i++;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && is_digit(s[i])) i++, int_digits++;
  if (i < s.size() && s[i] == '.') {
    i++;
    while (i < s.size() && is_digit(s[i])) i++, frac_digits++;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) i++;
    size_t e = 0;
    while (i < s.size() && is_digit(s[i])) i++, e++;
    if (e == 0) return false;
  }
  return i == s.size();
}

bool has_control(std::string_view s, bool allow_newline) {
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && !(allow_newline && (c == '\n' || c == '\t'))) || c == 0x7f) return true;
  }
  return false;
}

// Whether `s` may be written as a plain (unquoted) scalar in block context.
bool yaml_plain_ok(std::string_view s) {
  if (s.empty() || has_control(s, false)) return false;
  if (s.front() == ' ' || s.back() == ' ' || s.front() == '\t' || s.back() == '\t') return false;
  if (std::strchr("#,[]{}&*!|>'\"%@`", s[0])) return false;
  if ((s[0] == '-' || s[0] == '?' || s[0] == ':') && (s.size() == 1 || s[1] == ' ')) return false;
  if (s.substr(0, 3) == "---" || s.substr(0, 3) == "...") return false;
  if (s.back() == ':') return false;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) return false;
  return !yaml_reads_as_non_string(s);
}

class YamlWriter {
public:
  YamlWriter(std::string& out, const vm::CompiledProgram& p, vm::CancelCheck& cc) : m_out(out), m_p(p), m_cc(cc) {}

  void document(vm::Value v) {
    if (is_container(v) && !is_empty(v)) {
      if (v.tag == vm::Tag::Array)
        seq(v, 0, false, 0);
      else
        map(v, 0, false, 0);
    } else {
      scalar(v, 2);
      m_out += '\n';
    }
  }

private:
  bool is_container(vm::Value v) const { return v.tag == vm::Tag::Array || is_object(m_p, v); }
  bool is_empty(vm::Value v) const {
    if (v.tag == vm::Tag::Array) return v.as_array()->items.empty();
    Entries e;
    entries_of(m_p, v, e);
    return e.empty();
  }

  void indent(int n) { m_out.append(size_t(n), ' '); }

  // A string scalar; `block_indent`: where a literal block's lines go.
  void string(std::string_view s, int block_indent) {
    m_cc.bytes(s.size());
    if (s.empty()) {
      m_out += "''";
    } else if (s.find('\n') != std::string_view::npos && !has_control(s, true) && s.front() != ' ' &&
               s.front() != '\n') {
      // A literal block: |- (no final newline), | (one), |+ (more).
      size_t trailing = 0;
      while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') trailing++;
      m_out += trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+";
      std::string_view body = s.substr(0, s.size() - trailing);
      size_t at = 0;
      while (true) {
        size_t nl = body.find('\n', at);
        std::string_view line = body.substr(at, nl == std::string_view::npos ? std::string_view::npos : nl - at);
        m_out += '\n';
        if (!line.empty()) {
          indent(block_indent);
          m_out += line;
        }
        if (nl == std::string_view::npos) break;
        at = nl + 1;
      }
      for (size_t i = 1; i < trailing; i++) m_out += '\n';
    } else if (yaml_plain_ok(s)) {
      m_out += s;
    } else if (has_control(s, false)) {
      double_quoted(m_out, s, ControlEscape::YamlHex);
    } else {
      m_out += '\'';
      for (char c : s) {
        if (c == '\'') m_out += '\'';
        m_out += c;
      }
      m_out += '\'';
    }
  }

  void scalar(vm::Value v, int block_indent) {
    switch (v.tag) {
    case vm::Tag::Null: m_out += "null"; return;
    case vm::Tag::Bool: m_out += v.b ? "true" : "false"; return;
    case vm::Tag::Int: append_int(m_out, v.i); return;
    case vm::Tag::Float:
      if (std::isnan(v.f))
        m_out += ".nan";
      else if (std::isinf(v.f))
        m_out += v.f < 0 ? "-.inf" : ".inf";
      else
        append_float_repr(m_out, v.f);
      return;
    case vm::Tag::Enum: string(enum_shown(m_p, v), block_indent); return;
    case vm::Tag::String: string(v.as_string()->text, block_indent); return;
    case vm::Tag::Function:
    case vm::Tag::Future:
    case vm::Tag::TaskGroup:
    case vm::Tag::CancelToken:
    case vm::Tag::Cell: throw FormatError("a function value cannot be written as YAML");
    case vm::Tag::Array: m_out += "[]"; return;
    case vm::Tag::Map:
    case vm::Tag::Instance:
      if (is_media(m_p, v)) {
        std::string magic;
        append_media_magic(magic, m_p, v.as_instance());
        string(magic, block_indent);
      } else {
        m_out += "{}";
      }
      return;
    }
  }

  // A value after "key:" or "- ": inline when it is a scalar or empty,
  // else on the next lines.
  void after_key(vm::Value v, int indent_for_map, int indent_for_seq, int depth) {
    if (!is_container(v) || is_empty(v)) {
      m_out += ' ';
      scalar(v, indent_for_map);
      m_out += '\n';
    } else if (v.tag == vm::Tag::Array) {
      m_out += '\n';
      seq(v, indent_for_seq, false, depth + 1);
    } else {
      m_out += '\n';
      map(v, indent_for_map, false, depth + 1);
    }
  }

  // Entries at `at` spaces; `first_inline`: the first goes on the current line.
  void map(vm::Value v, int at, bool first_inline, int depth) {
    if (depth > kMaxValueDepth) too_deep();
    Entries entries;
    entries_of(m_p, v, entries);
    for (size_t i = 0; i < entries.size(); i++) {
      m_cc.items();
      if (i || !first_inline) indent(at);
      string(entries[i].first, at + 2);
      m_out += ':';
      after_key(entries[i].second, at + 2, at, depth);
    }
  }

  void seq(vm::Value v, int at, bool first_inline, int depth) {
    if (depth > kMaxValueDepth) too_deep();
    const auto& items = v.as_array()->items;
    for (size_t i = 0; i < items.size(); i++) {
      m_cc.items();
      if (i || !first_inline) indent(at);
      m_out += '-';
      vm::Value item = items[i];
      if (!is_container(item) || is_empty(item)) {
        m_out += ' ';
        scalar(item, at + 2);
        m_out += '\n';
      } else if (item.tag == vm::Tag::Array) {
        m_out += ' ';
        seq(item, at + 2, true, depth + 1);
      } else {
        m_out += ' ';
        map(item, at + 2, true, depth + 1);
      }
    }
  }

  std::string& m_out;
  const vm::CompiledProgram& m_p;
  vm::CancelCheck& m_cc;
};

} // namespace

void append_yaml(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc) {
  YamlWriter(out, p, cc).document(v);
}

// ---------------------------------------------------------------- TOON

namespace {

bool toon_numeric_like(std::string_view s) {
  // /^-?\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i or /^0\d+$/
  size_t i = 0;
  if (i < s.size() && s[i] == '-') i++;
  size_t digits = 0;
  while (i < s.size() && is_digit(s[i])) i++, digits++;
  if (digits == 0) return false;
  if (i < s.size() && s[i] == '.') {
    i++;
    size_t f = 0;
    while (i < s.size() && is_digit(s[i])) i++, f++;
    if (f == 0) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) i++;
    size_t e = 0;
    while (i < s.size() && is_digit(s[i])) i++, e++;
    if (e == 0) return false;
  }
  return i == s.size();
}

void toon_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
    case '\\': out += "\\\\"; break;
    case '"': out += "\\\""; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default: out += c;
    }
  }
  out += '"';
}

void toon_string(std::string& out, std::string_view s, char delimiter) {
  bool quote = s.empty() || s.front() == ' ' || s.back() == ' ' || s.front() == '\t' || s.back() == '\t' ||
               s == "true" || s == "false" || s == "null" || toon_numeric_like(s) || s.front() == '-';
  if (!quote)
    for (char c : s)
      if (c == ':' || c == '"' || c == '\\' || c == '[' || c == ']' || c == '{' || c == '}' || c == '\n' || c == '\r' ||
          c == '\t' || c == delimiter) {
        quote = true;
        break;
      }
  if (quote)
    toon_quoted(out, s);
  else
    out += s;
}

void toon_key(std::string& out, std::string_view k) {
  bool plain = !k.empty() && (std::isalpha(static_cast<unsigned char>(k[0])) || k[0] == '_');
  for (size_t i = 1; plain && i < k.size(); i++) {
    unsigned char c = static_cast<unsigned char>(k[i]);
    plain = std::isalnum(c) || c == '_' || c == '.';
  }
  if (plain)
    out += k;
  else
    toon_quoted(out, k);
}

class ToonWriter {
public:
  ToonWriter(std::string& out, const vm::CompiledProgram& p, vm::CancelCheck& cc, const ToonOptions& o)
      : m_out(out), m_p(p), m_cc(cc), m_o(o) {}

  void root(vm::Value v) {
    if (is_object(m_p, v)) {
      fields(v, 0, 0);
    } else if (v.tag == vm::Tag::Array) {
      array("", v, 0, 0);
    } else {
      primitive(m_out, v, m_o.delimiter);
    }
  }

private:
  bool is_primitive(vm::Value v) const { return v.tag != vm::Tag::Array && !is_object(m_p, v); }

  void primitive(std::string& out, vm::Value v, char delimiter) {
    switch (v.tag) {
    case vm::Tag::Null: out += "null"; return;
    case vm::Tag::Bool: out += v.b ? "true" : "false"; return;
    case vm::Tag::Int: append_int(out, v.i); return;
    case vm::Tag::Float: append_float_canonical(out, v.f); return;
    case vm::Tag::Enum: toon_string(out, enum_shown(m_p, v), delimiter); return;
    case vm::Tag::String:
      m_cc.bytes(v.as_string()->text.size());
      toon_string(out, v.as_string()->text, delimiter);
      return;
    default:
      if (is_media(m_p, v)) {
        std::string magic;
        append_media_magic(magic, m_p, v.as_instance());
        toon_string(out, magic, delimiter);
      }
      return;
    }
  }

  // Starts a line at `depth`; the first line written is not preceded by a newline.
  void line(int depth) {
    if (m_lines++) m_out += '\n';
    m_out.append(size_t(depth) * m_o.indent, ' ');
  }

  void header(size_t n) {
    m_out += '[';
    m_out += m_o.length_marker;
    append_int(m_out, int64_t(n));
    if (m_o.delimiter != ',') m_out += m_o.delimiter;
    m_out += ']';
  }

  void fields(vm::Value obj, int depth, int nest) {
    if (nest > kMaxValueDepth) too_deep();
    Entries entries;
    entries_of(m_p, obj, entries);
    for (auto& [k, v] : entries) {
      line(depth);
      field(k, v, depth, nest);
    }
  }

  // Writes "key..." at the current position (the line already started at `depth`).
  void field(std::string_view k, vm::Value v, int depth, int nest) {
    m_cc.items();
    if (is_primitive(v)) {
      toon_key(m_out, k);
      m_out += ": ";
      primitive(m_out, v, ',');
    } else if (is_object(m_p, v)) {
      toon_key(m_out, k);
      m_out += ':';
      fields(v, depth + 1, nest + 1);
    } else {
      std::string key;
      toon_key(key, k);
      array_here(key, v, depth, nest + 1);
    }
  }

  void array(std::string_view key, vm::Value arr, int depth, int nest) {
    line(depth);
    array_here(key, arr, depth, nest);
  }

  bool tabular(const std::vector<vm::Value>& items, std::vector<std::string_view>& cols) {
    Entries first, e;
    for (size_t i = 0; i < items.size(); i++) {
      if (!is_object(m_p, items[i])) return false;
      entries_of(m_p, items[i], i ? e : first);
      Entries& cur = i ? e : first;
      if (cur.empty() || cur.size() != first.size()) return false;
      for (auto& [k, v] : cur) {
        if (!is_primitive(v)) return false;
        bool found = false;
        for (auto& [k0, v0] : first) found = found || k0 == k;
        if (!found) return false;
      }
    }
    for (auto& [k, v] : first) cols.push_back(k);
    return !items.empty();
  }

  static vm::Value lookup(const Entries& e, std::string_view k) {
    for (auto& [key, v] : e)
      if (key == k) return v;
    return vm::Value::null();
  }

  void array_here(std::string_view key, vm::Value arr, int depth, int nest) {
    if (nest > kMaxValueDepth) too_deep();
    const auto& items = arr.as_array()->items;
    m_out += key;
    header(items.size());
    bool all_primitive = true;
    for (vm::Value v : items) all_primitive = all_primitive && is_primitive(v);
    std::vector<std::string_view> cols;
    if (all_primitive) {
      m_out += ':';
      for (size_t i = 0; i < items.size(); i++) {
        m_cc.items();
        m_out += i ? m_o.delimiter : ' ';
        primitive(m_out, items[i], m_o.delimiter);
      }
    } else if (tabular(items, cols)) {
      m_out += '{';
      for (size_t i = 0; i < cols.size(); i++) {
        if (i) m_out += m_o.delimiter;
        toon_key(m_out, cols[i]);
      }
      m_out += "}:";
      Entries e;
      for (vm::Value item : items) {
        m_cc.items();
        entries_of(m_p, item, e);
        line(depth + 1);
        for (size_t i = 0; i < cols.size(); i++) {
          if (i) m_out += m_o.delimiter;
          primitive(m_out, lookup(e, cols[i]), m_o.delimiter);
        }
      }
    } else {
      m_out += ':';
      for (vm::Value item : items) list_item(item, depth + 1, nest + 1);
    }
  }

  void list_item(vm::Value item, int depth, int nest) {
    m_cc.items();
    line(depth);
    if (is_primitive(item)) {
      m_out += "- ";
      primitive(m_out, item, m_o.delimiter);
    } else if (item.tag == vm::Tag::Array) {
      m_out += "- ";
      array_here("", item, depth, nest);
    } else {
      Entries entries;
      entries_of(m_p, item, entries);
      if (entries.empty()) {
        m_out += '-';
        return;
      }
      // The first field on the hyphen line, the others one level in.
      m_out += "- ";
      field(entries[0].first, entries[0].second, depth + 1, nest);
      for (size_t i = 1; i < entries.size(); i++) {
        line(depth + 1);
        field(entries[i].first, entries[i].second, depth + 1, nest);
      }
    }
  }

  std::string& m_out;
  const vm::CompiledProgram& m_p;
  vm::CancelCheck& m_cc;
  const ToonOptions& m_o;
  size_t m_lines = 0;
};

} // namespace

void append_toon(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc,
                 const ToonOptions& options) {
  std::string text;
  ToonWriter(text, p, cc, options).root(v);
  out += text;
}

// ---------------------------------------------------------------- Python's format spec

namespace {

struct Spec {
  char fill = ' ';
  std::string fill_utf8; // a multi-byte fill character
  char align = 0;        // < > ^ = or 0
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  size_t width = 0;
  char grouping = 0;
  int precision = -1;
  char type = 0;
};

size_t utf8_char_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

bool parse_spec(std::string_view s, Spec& spec, std::string& error) {
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (!s.empty()) {
    size_t first = utf8_char_len(static_cast<unsigned char>(s[0]));
    if (first < s.size() && is_align(s[first])) {
      if (first == 1)
        spec.fill = s[0];
      else
        spec.fill_utf8 = std::string(s.substr(0, first));
      spec.align = s[first];
      i = first + 1;
    } else if (is_align(s[0])) {
      spec.align = s[0];
      i = 1;
    }
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) spec.sign = s[i++];
  if (i < s.size() && s[i] == '#') spec.alternate = true, i++;
  if (i < s.size() && s[i] == '0') spec.zero = true, i++;
  while (i < s.size() && is_digit(s[i])) {
    spec.width = spec.width * 10 + size_t(s[i++] - '0');
    if (spec.width > 10000) {
      error = "format width too large";
      return false;
    }
  }
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) spec.grouping = s[i++];
  if (i < s.size() && s[i] == '.') {
    i++;
    if (i >= s.size() || !is_digit(s[i])) {
      error = "format specifier missing precision";
      return false;
    }
    spec.precision = 0;
    while (i < s.size() && is_digit(s[i])) {
      spec.precision = spec.precision * 10 + (s[i++] - '0');
      if (spec.precision > 1000) {
        error = "format precision too large";
        return false;
      }
    }
  }
  if (i < s.size()) spec.type = s[i++];
  if (i != s.size()) {
    error = "invalid format specifier '" + std::string(s) + "'";
    return false;
  }
  return true;
}

void group_digits(std::string& digits, char sep) {
  if (!sep || digits.size() <= 3) return;
  std::string r;
  size_t lead = digits.size() % 3;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i && (i - lead) % 3 == 0 && i >= lead) r += sep;
    r += digits[i];
  }
  digits = std::move(r);
}

// Pads `body` (after `sign_prefix`) to the spec's width.
void pad(std::string& out, const Spec& spec, std::string_view sign_prefix, std::string_view body, char default_align,
         size_t body_chars) {
  size_t len = sign_prefix.size() + body_chars;
  char align = spec.align ? spec.align : (spec.zero ? '=' : default_align);
  std::string fill = spec.fill_utf8.empty() ? std::string(1, spec.zero && !spec.align ? '0' : spec.fill) : spec.fill_utf8;
  size_t missing = spec.width > len ? spec.width - len : 0;
  auto fill_n = [&](size_t n) {
    for (size_t k = 0; k < n; k++) out += fill;
  };
  switch (align) {
  case '<': out += sign_prefix; out += body; fill_n(missing); break;
  case '^': fill_n(missing / 2); out += sign_prefix; out += body; fill_n(missing - missing / 2); break;
  case '=': out += sign_prefix; fill_n(missing); out += body; break;
  default: fill_n(missing); out += sign_prefix; out += body; break;
  }
}

size_t utf8_chars(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string sign_of(bool negative, char sign) {
  if (negative) return "-";
  if (sign == '+') return "+";
  if (sign == ' ') return " ";
  return "";
}

// Python's repr of a float: shortest digits, exponent (e+XX) below 1e-4 and from 1e16 on.
std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  std::string out;
  append_float_repr(out, d);
  size_t e = out.find('e');
  if (e != std::string::npos) {
    std::string exp = out.substr(e + 1);
    bool neg = !exp.empty() && exp[0] == '-';
    if (neg) exp.erase(0, 1);
    if (exp.size() < 2) exp.insert(0, "0");
    out = out.substr(0, e) + "e" + (neg ? "-" : "+") + exp;
  }
  return out;
}

bool format_float(std::string& out, double d, const Spec& spec, std::string& error) {
  bool negative = std::signbit(d) && !std::isnan(d);
  double a = std::fabs(d);
  std::string body;
  char type = spec.type;
  if (!std::isfinite(d)) {
    body = std::isnan(d) ? "nan" : "inf";
    if (type == 'F' || type == 'E' || type == 'G') body = std::isnan(d) ? "NAN" : "INF";
    if (type == '%') body += '%';
  } else if (type == 0 && spec.precision < 0) {
    body = python_float_repr(a);
    if (spec.grouping) {
      size_t end = body.find_first_of(".e");
      std::string intpart = body.substr(0, end);
      group_digits(intpart, spec.grouping);
      body = intpart + (end == std::string::npos ? "" : body.substr(end));
    }
  } else {
    int prec = spec.precision < 0 ? 6 : spec.precision;
    double v = a;
    char fmt = type ? type : 'g';
    if (fmt == '%') {
      v = a * 100;
      fmt = 'f';
    }
    if (fmt == 'n') fmt = 'g';
    if (fmt != 'f' && fmt != 'F' && fmt != 'e' && fmt != 'E' && fmt != 'g' && fmt != 'G') {
      error = std::string("unknown format code '") + type + "' for a float";
      return false;
    }
    if ((fmt == 'g' || fmt == 'G') && prec == 0) prec = 1;
    char cfmt[16];
    std::snprintf(cfmt, sizeof cfmt, "%%%s.%d%c", spec.alternate ? "#" : "", prec, fmt);
    char buf[1400];
    std::snprintf(buf, sizeof buf, cfmt, v);
    body = buf;
    if (type == 0 && body.find_first_of(".e") == std::string::npos) body += ".0";
    if (spec.grouping) {
      size_t end = body.find_first_of(".eE");
      std::string intpart = body.substr(0, end);
      group_digits(intpart, spec.grouping);
      body = intpart + (end == std::string::npos ? "" : body.substr(end));
    }
    if (type == '%') body += '%';
  }
  pad(out, spec, sign_of(negative, spec.sign), body, '>', body.size());
  return true;
}

} // namespace

bool append_format_spec(std::string& out, const FormatArg& arg, std::string_view spec_text, std::string& error) {
  Spec spec;
  if (!parse_spec(spec_text, spec, error)) return false;
  switch (arg.kind) {
  case FormatArg::Kind::Text: {
    if (spec.type && spec.type != 's') {
      error = std::string("unknown format code '") + spec.type + "' for a string";
      return false;
    }
    if (spec.sign != '-' || spec.grouping || spec.align == '=') {
      error = "sign, grouping and '=' alignment are not allowed for a string";
      return false;
    }
    std::string_view s = arg.text;
    if (spec.precision >= 0) {
      size_t chars = 0, i = 0;
      while (i < s.size() && chars < size_t(spec.precision)) i += utf8_char_len(static_cast<unsigned char>(s[i])), chars++;
      s = s.substr(0, std::min(i, s.size()));
    }
    Spec sp = spec;
    sp.zero = false;
    pad(out, sp, "", s, '<', utf8_chars(s));
    return true;
  }
  case FormatArg::Kind::Float: return format_float(out, arg.f, spec, error);
  case FormatArg::Kind::Bool:
  case FormatArg::Kind::Int: {
    int64_t v = arg.kind == FormatArg::Kind::Bool ? int64_t(arg.b) : arg.i;
    char t = spec.type;
    if (arg.kind == FormatArg::Kind::Bool && t == 0) {
      Spec sp = spec;
      pad(out, sp, "", arg.b ? "true" : "false", '<', arg.b ? 4 : 5);
      return true;
    }
    if (t == 'e' || t == 'E' || t == 'f' || t == 'F' || t == 'g' || t == 'G' || t == '%')
      return format_float(out, double(v), spec, error);
    if (spec.precision >= 0) {
      error = "precision is not allowed in an integer format specifier";
      return false;
    }
    uint64_t mag = v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v);
    std::string body;
    std::string prefix = sign_of(v < 0, spec.sign);
    int base = 10;
    if (t == 'x' || t == 'X') base = 16;
    else if (t == 'o') base = 8;
    else if (t == 'b') base = 2;
    else if (t == 'c') {
      std::string ch;
      if (v < 0 || v > 0x10FFFF) {
        error = "%c arg not in range(0x110000)";
        return false;
      }
      // Encode the code point as UTF-8.
      uint32_t cp = uint32_t(v);
      if (cp < 0x80) ch += char(cp);
      else if (cp < 0x800) ch += char(0xC0 | (cp >> 6)), ch += char(0x80 | (cp & 0x3F));
      else if (cp < 0x10000) ch += char(0xE0 | (cp >> 12)), ch += char(0x80 | ((cp >> 6) & 0x3F)), ch += char(0x80 | (cp & 0x3F));
      else ch += char(0xF0 | (cp >> 18)), ch += char(0x80 | ((cp >> 12) & 0x3F)), ch += char(0x80 | ((cp >> 6) & 0x3F)), ch += char(0x80 | (cp & 0x3F));
      pad(out, spec, "", ch, '<', 1);
      return true;
    } else if (t != 0 && t != 'd' && t != 'n') {
      error = std::string("unknown format code '") + t + "' for an integer";
      return false;
    }
    const char* digits = t == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
      body.insert(body.begin(), digits[mag % uint64_t(base)]);
      mag /= uint64_t(base);
    } while (mag);
    if (spec.grouping) {
      if (base == 10) {
        group_digits(body, spec.grouping);
      } else if (spec.grouping == '_') {
        std::string r;
        size_t lead = body.size() % 4;
        for (size_t i = 0; i < body.size(); i++) {
          if (i && i >= lead && (i - lead) % 4 == 0) r += '_';
          r += body[i];
        }
        body = r;
      } else {
        error = "cannot specify ',' with that format code";
        return false;
      }
    }
    if (spec.alternate && base != 10) prefix += base == 16 ? (t == 'X' ? "0X" : "0x") : base == 8 ? "0o" : "0b";
    pad(out, spec, prefix, body, '>', body.size());
    return true;
  }
  }
  return true;
}

} // namespace brake::llm::tmpl
