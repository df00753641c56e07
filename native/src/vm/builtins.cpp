#include "vm/builtins.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "common/flat_map.h"
#include "common/utf8.h"
#include "json/json.h"
#include "llm/template_format.h"
#include "schema/parse_output.h"
#include "lang/parser.h"
#include "vm/interpreter.h"

namespace brake::vm {

const BuiltinInfo kBuiltins[] = {
#define BRAKE_BUILTIN_INFO_(id, recv, name, min, sig, flags) {recv, name, min, sig, flags},
    BRAKE_BUILTINS(BRAKE_BUILTIN_INFO_)
#undef BRAKE_BUILTIN_INFO_
};

BuiltinId find_builtin(const std::string& receiver, const std::string& name) {
  for (size_t i = 0; i < size_t(BuiltinId::COUNT_); i++)
    if (receiver == kBuiltins[i].receiver && name == kBuiltins[i].name) return BuiltinId(i);
  return BuiltinId::COUNT_;
}

namespace {
std::vector<BuiltinSignature> parse_signatures() {
  std::vector<BuiltinSignature> out(static_cast<size_t>(BuiltinId::COUNT_));
  for (size_t i = 0; i < out.size(); i++) {
    lang::Diagnostics diags("<builtin>");
    lang::HostSignature sig = lang::parse_host_signature(kBuiltins[i].signature, diags);
    if (!diags.empty() || !sig.return_type) std::abort(); // the table is wrong: a bug in brake itself
    BuiltinSignature& b = out[i];
    size_t first = 0;
    if (kBuiltins[i].is_method()) {
      b.self = std::move(sig.params[0].type);
      first = 1;
      std::string_view receiver = kBuiltins[i].receiver;
      b.self_tag = int(receiver == "array"      ? Tag::Array
                       : receiver == "map"      ? Tag::Map
                       : receiver == "Response" ? Tag::Instance
                       : receiver == "int"      ? Tag::Int
                       : receiver == "float"    ? Tag::Float
                       : receiver == "bool"     ? Tag::Bool
                       : receiver == "Future"   ? Tag::Future
                       : receiver == "TaskGroup" ? Tag::TaskGroup
                       : receiver == "CancelToken" ? Tag::CancelToken
                                                : Tag::String);
    }
    for (size_t p = first; p < sig.params.size(); p++) {
      const lang::TypeExpr* t = sig.params[p].type.get();
      int tag = -1;
      if (t->kind == lang::TypeExprKind::Named && t->name == "int") tag = int(Tag::Int);
      if (t->kind == lang::TypeExprKind::Named && t->name == "string") tag = int(Tag::String);
      b.arg_tags.push_back(tag);
      b.params.push_back(std::move(sig.params[p]));
    }
    b.result = std::move(sig.return_type);
  }
  return out;
}
} // namespace

const BuiltinSignature& builtin_signature(BuiltinId id) {
  static const std::vector<BuiltinSignature> signatures = parse_signatures();
  return signatures[size_t(id)];
}

namespace {

using Kind = BuiltinResult::Kind;

BuiltinResult ok(Value v) {
  BuiltinResult r;
  r.out = v;
  return r;
}
BuiltinResult error(std::string kind, std::string message) {
  BuiltinResult r;
  r.kind = Kind::Error;
  r.error_kind = std::move(kind);
  r.message = std::move(message);
  return r;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Deep copy keeping shared structure and cycles (each object copied once).
// Iterative, like the collector's mark phase: an object is copied as an empty
// shell when first reached and filled later from a work list, so no nesting
// can exhaust the native stack (frames are big in sanitizer builds, and
// threads get small stacks on some platforms). Structures nested deeper
// than kMaxCopyDepth fail, as documented.
constexpr int kMaxCopyDepth = 10000;
struct CopyTooDeep {};

class DeepCopy {
public:
  DeepCopy(Heap& heap, CancelCheck& cc) : m_heap(heap), m_cc(cc) {}

  Value copy(Value v) {
    Value root = reach(v, 0);
    while (!m_unfilled.empty()) {
      Unfilled u = m_unfilled.back();
      m_unfilled.pop_back();
      fill(u);
    }
    return root;
  }

private:
  struct Unfilled {
    Object* from;
    Object* to;
    int depth;
  };

  // The copy of `v`, reached at `depth`: `v` itself unless it is a mutable
  // object (strings are immutable), the existing copy of an object reached
  // before, or a new shell that fill() completes later.
  Value reach(Value v, int depth) {
    // Strings are immutable; a function value is shared too (its captures are
    // the variables it shares with the function that made it), and so are
    // futures, task groups and tokens (a copy would be a second handle on
    // the same tasks).
    if (!v.is_object() || v.tag == Tag::String || v.tag == Tag::Function || v.tag == Tag::Cell || v.is_handle()) return v;
    m_cc.items();
    if (depth > kMaxCopyDepth) throw CopyTooDeep{};
    if (Object** copy = m_seen.find(v.obj)) return Value::object(v.tag, *copy);
    Object* copy = shell(v);
    m_seen.insert(v.obj, copy);
    m_unfilled.push_back(Unfilled{v.obj, copy, depth});
    return Value::object(v.tag, copy);
  }

  Object* shell(Value v) {
    switch (v.tag) {
    case Tag::Array: return m_heap.new_array(v.as_array()->items.size());
    case Tag::Map: return m_heap.new_map();
    default: return m_heap.new_instance(v.as_instance()->class_id, v.as_instance()->fields.size());
    }
  }

  void fill(const Unfilled& u) {
    switch (u.from->tag) {
    case Tag::Array: {
      const auto& from = static_cast<ArrayObj*>(u.from)->items;
      auto* to = static_cast<ArrayObj*>(u.to);
      for (Value x : from) m_heap.array_push(to, reach(x, u.depth + 1));
      break;
    }
    case Tag::Map: {
      auto* from = static_cast<MapObj*>(u.from);
      auto* to = static_cast<MapObj*>(u.to);
      for (size_t i = 0; i < from->size(); i++) m_heap.map_set(to, from->keys[i], reach(from->values[i], u.depth + 1));
      break;
    }
    default: {
      auto* from = static_cast<InstanceObj*>(u.from);
      auto* to = static_cast<InstanceObj*>(u.to);
      for (size_t i = 0; i < from->fields.size(); i++) to->fields[i] = reach(from->fields[i], u.depth + 1);
      break;
    }
    }
  }

  Heap& m_heap;
  CancelCheck& m_cc;
  FlatMap<Object*, Object*, PointerPairHash> m_seen{nullptr}; // original -> copy
  std::vector<Unfilled> m_unfilled;
};

const std::string& str(Value v) { return v.as_string()->text; }

// Work on large strings in slices, looking at the call's state between
// them (CancelCheck): a builtin on a 100 MB string stops within about a
// millisecond of a cancel.
constexpr size_t kSlice = size_t(CancelCheck::kBudget);

// A new string of `text` (copied in slices when large).
Value copy_string(Heap& heap, std::string_view text, CancelCheck& cc) {
  if (text.size() <= kSlice) return heap.string_value(text);
  return Value::object(Tag::String, heap.build_string(text.size(), [&](std::string& out) { append_checked(out, text, cc); }));
}

// The first `needle` in `hay` at or after `from` (npos when none): searched
// window by window (memmem, linear), each window overlapping the last by the
// needle's length, so each takes a bounded time however long `hay` is. The
// windows start small and double, so finding many near matches in a row
// (split) never hands memmem more than a few times the text it consumes
// (instrumented builds check every byte of the range handed over).
size_t find_checked(std::string_view hay, std::string_view needle, size_t from, CancelCheck& cc) {
  if (needle.empty()) return from <= hay.size() ? from : std::string_view::npos;
  if (needle.size() > hay.size()) return std::string_view::npos;
  const size_t widest = std::max(kSlice, 4 * needle.size());
  size_t window = std::max(size_t(4096), 4 * needle.size());
  for (size_t at = from; at + needle.size() <= hay.size();) {
    size_t len = std::min(window, hay.size() - at);
    const void* hit = memmem(hay.data() + at, len, needle.data(), needle.size());
    if (hit) {
      size_t pos = size_t(static_cast<const char*>(hit) - hay.data());
      cc.bytes(pos - at);
      return pos;
    }
    cc.bytes(len);
    if (len < window) break;
    at += window - needle.size() + 1; // the next window overlaps this one
    window = std::min(widest, 2 * window);
  }
  return std::string_view::npos;
}

// Code points in `s`, counted in slices (a UTF-8 code point is a byte that
// is not a continuation byte, so slices can be cut anywhere).
size_t length_checked(std::string_view s, CancelCheck& cc) {
  size_t n = 0;
  for (size_t at = 0; at < s.size(); at += kSlice) {
    std::string_view part = s.substr(at, kSlice);
    for (char c : part) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    cc.bytes(part.size());
  }
  return n;
}

// Byte offset of code point `index` (clamped), found in slices.
size_t offset_checked(std::string_view s, size_t index, CancelCheck& cc) {
  size_t seen = 0;
  for (size_t at = 0; at < s.size(); at++) {
    if ((static_cast<unsigned char>(s[at]) & 0xC0) != 0x80) {
      if (seen == index) return at;
      seen++;
    }
    if ((at & (kSlice - 1)) == kSlice - 1) cc.bytes(kSlice);
  }
  return s.size();
}

} // namespace

BuiltinResult call_builtin(uint16_t raw_id, Value* args, size_t argc, Heap& heap, const RunContext& ctx,
                           const CompiledProgram& program) {
  switch (BuiltinId(raw_id)) {
  case BuiltinId::SYS_SLEEP: {
    if (args[0].tag != Tag::Int) return error("type_error", "sleep needs an int");
    if (args[0].i < 0) return error("invalid_argument", "sleep duration must not be negative");
    BuiltinResult r;
    r.kind = Kind::Suspend;
    r.request.kind = Request::Kind::Sleep;
    r.request.sleep_ms = args[0].i;
    return r;
  }
  case BuiltinId::SYS_PANIC:
    return error("panic", args[0].tag == Tag::String ? str(args[0]) : std::string("panic"));
  case BuiltinId::ENV_GET:
  case BuiltinId::ENV_GET_OR_PANIC: {
    const std::string& name = str(args[0]);
    const std::string* value = nullptr;
    if (ctx.env) {
      auto it = ctx.env->find(name);
      if (it != ctx.env->end()) value = &it->second;
    }
    if (value) return ok(heap.string_value(*value));
    if (BuiltinId(raw_id) == BuiltinId::ENV_GET) return ok(Value::null());
    return error("missing_env", "environment variable '" + name + "' is not set (the engine's env option gives scripts their variables)");
  }
  case BuiltinId::LLM_PARSE: {
    // F.parse(text): the text as F's LLM calls parse a model's reply (a
    // synchronous step of the call: interrupted by a cancel like any).
    const FunctionInfo& fn = program.functions[size_t(args[0].i)];
    Value out;
    std::string why;
    if (!schema::parse_output(str(args[1]), fn.return_type, program, heap, ctx.cancel_state, out, why))
      return error("parse_error", "the text does not parse as the return type of '" + fn.name + "': " + why);
    return ok(out);
  }
  case BuiltinId::SYS_CANCELLATION_REQUESTED:
    return ok(Value::boolean(ctx.cancel_state && (ctx.cancel_state->load(std::memory_order_acquire) & kCancelOriginMask) != 0));
  case BuiltinId::DEEP_COPY: {
    try {
      CancelCheck cc(ctx.cancel_state);
      return ok(DeepCopy(heap, cc).copy(args[0]));
    } catch (const CopyTooDeep&) {
      // The partial copy is unreachable garbage; the next collection frees it.
      return error("value_too_deep", "deep_copy: value nested more than " + std::to_string(kMaxCopyDepth) + " levels deep");
    }
  }
  case BuiltinId::DEEP_EQUALS: return ok(Value::boolean(values_equal(args[0], args[1], ctx.cancel_state)));
  case BuiltinId::UNSTABLE_STRING: { // BAML's pretty printer (llm/template_format.h append_pretty)
    CancelCheck cc(ctx.cancel_state);
    std::string out;
    try {
      llm::tmpl::append_pretty(out, program, args[0], cc, heap);
    } catch (const llm::tmpl::FormatError& e) {
      return error("value_too_deep", e.what());
    }
    return ok(heap.string_value(out));
  }
  case BuiltinId::SYS_SHELL: {
    // The runtime runs the command (request_args()) when the engine allows
    // it; the call resumes with its output.
    if (args[0].tag != Tag::String) return error("type_error", "baml.sys.shell needs a string command");
    BuiltinResult r;
    r.kind = Kind::Suspend;
    r.request.kind = Request::Kind::Shell;
    r.request.argc = 1;
    return r;
  }
  case BuiltinId::HTTP_FETCH: {
    // The runtime reads the url and options (request_args()), checks them
    // and performs the request; the call resumes with a Response.
    if (args[0].tag != Tag::String) return error("type_error", "baml.http.fetch needs a string url");
    BuiltinResult r;
    r.kind = Kind::Suspend;
    r.request.kind = Request::Kind::Http;
    r.request.argc = uint8_t(argc);
    return r;
  }
  default: break;
  }

  // The checker types these calls, but values of unknown static type (the
  // elements of `[]`, say) can reach them: check tags before dereferencing.
  const BuiltinInfo& info = kBuiltins[raw_id];
  Value self = args[0];
  Value* a = args + 1;
  const BuiltinSignature& sig = builtin_signature(BuiltinId(raw_id));
  Tag want = Tag(sig.self_tag);
  if (self.tag != want || (want == Tag::Instance && self.as_instance()->class_id != program.response_class))
    return error("type_error", std::string(info.name) + " called on a value of the wrong type");
  const std::vector<int>& tags = sig.arg_tags;
  for (size_t i = 1; i < argc; i++)
    if (tags[i - 1] >= 0 && int(args[i].tag) != tags[i - 1])
      return error("type_error", std::string("wrong argument type for ") + info.name);
  CancelCheck cc(ctx.cancel_state);
  switch (BuiltinId(raw_id)) {
  case BuiltinId::RESPONSE_OK: {
    int64_t status = self.as_instance()->fields[kResponseStatus].i;
    return ok(Value::boolean(status >= 200 && status <= 299));
  }
  case BuiltinId::RESPONSE_TEXT:
  case BuiltinId::RESPONSE_JSON: {
    // The body is read once (as in BAML); the response lets go of it then.
    auto& fields = self.as_instance()->fields;
    std::string what = std::string("failed to call baml.http.Response.") + info.name + ": ";
    Value body = fields[kResponseBody];
    if (body.tag == Tag::Null) return error("body_consumed", what + "Response body has already been consumed");
    fields[kResponseBody] = Value::null();
    if (BuiltinId(raw_id) == BuiltinId::RESPONSE_TEXT) return ok(body);
    try {
      return ok(json::parse(str(body), heap, ctx.cancel_state));
    } catch (const json::Error& e) {
      BuiltinResult r = error("json_parse_error", what + e.what());
      r.out = body; // for the failure's details (Fiber::builtin)
      return r;
    }
  }
  case BuiltinId::ARRAY_LENGTH: return ok(Value::integer(int64_t(self.as_array()->items.size())));
  case BuiltinId::ARRAY_PUSH: heap.array_push(self.as_array(), a[0]); return ok(Value::null());
  case BuiltinId::ARRAY_AT: {
    auto& items = self.as_array()->items;
    if (a[0].i < 0 || uint64_t(a[0].i) >= items.size()) return ok(Value::null());
    return ok(items[size_t(a[0].i)]);
  }
  case BuiltinId::ARRAY_POP: {
    auto& items = self.as_array()->items;
    if (items.empty()) return ok(Value::null());
    Value v = items.back();
    items.pop_back();
    return ok(v);
  }
  case BuiltinId::ARRAY_INCLUDES:
    for (Value x : self.as_array()->items) {
      cc.items();
      if (values_equal(x, a[0], ctx.cancel_state)) return ok(Value::boolean(true));
    }
    return ok(Value::boolean(false));
  case BuiltinId::ARRAY_JOIN: {
    auto& items = self.as_array()->items;
    const std::string& sep = str(a[0]);
    size_t len = 0;
    for (size_t i = 0; i < items.size(); i++) {
      if (items[i].tag != Tag::String) return error("type_error", "join needs an array of strings");
      len += (i ? sep.size() : 0) + str(items[i]).size();
      cc.items();
    }
    return ok(Value::object(Tag::String, heap.build_string(len, [&](std::string& out) {
      for (size_t i = 0; i < items.size(); i++) {
        if (i) append_checked(out, sep, cc);
        append_checked(out, str(items[i]), cc);
        cc.items();
      }
    })));
  }
  case BuiltinId::MAP_LENGTH: return ok(Value::integer(int64_t(self.as_map()->size())));
  case BuiltinId::MAP_HAS: return ok(Value::boolean(self.as_map()->find(str(a[0])) != nullptr));
  case BuiltinId::MAP_KEYS: {
    auto& keys = self.as_map()->keys;
    ArrayObj* arr = heap.new_array(keys.size());
    for (auto& k : keys) {
      heap.array_push(arr, copy_string(heap, k, cc));
      cc.items();
    }
    return ok(Value::object(Tag::Array, arr));
  }
  case BuiltinId::MAP_VALUES: {
    auto& values = self.as_map()->values;
    ArrayObj* arr = heap.new_array(values.size());
    for (size_t at = 0; at < values.size(); at += kSlice / sizeof(Value)) {
      size_t end = std::min(values.size(), at + kSlice / sizeof(Value));
      arr->items.insert(arr->items.end(), values.begin() + std::ptrdiff_t(at), values.begin() + std::ptrdiff_t(end));
      cc.bytes(kSlice);
    }
    return ok(Value::object(Tag::Array, arr));
  }
  case BuiltinId::STRING_LENGTH: return ok(Value::integer(int64_t(length_checked(str(self), cc))));
  case BuiltinId::INT_TO_STRING: return ok(heap.string_value(std::to_string(self.i)));
  case BuiltinId::FLOAT_TO_STRING: { // as a prompt shows it: 1.5, 2.0, 1e+300 as digits, inf, nan
    std::string out;
    llm::tmpl::append_float_display(out, self.f);
    return ok(heap.string_value(out));
  }
  case BuiltinId::BOOL_TO_STRING: return ok(heap.string_value(self.b ? "true" : "false"));
  case BuiltinId::STRING_TO_LOWER:
  case BuiltinId::STRING_TO_UPPER: {
    const std::string& s = str(self);
    bool lower = BuiltinId(raw_id) == BuiltinId::STRING_TO_LOWER;
    char from = lower ? 'A' : 'a', to = lower ? 'a' : 'A';
    return ok(Value::object(Tag::String, heap.build_string(s.size(), [&](std::string& out) {
      append_checked(out, s, cc);
      for (size_t at = 0; at < out.size(); at++) {
        char& c = out[at];
        if (c >= from && c <= from + 25) c = char(c - from + to);
        if ((at & (kSlice - 1)) == kSlice - 1) cc.bytes(kSlice);
      }
    })));
  }
  case BuiltinId::STRING_TRIM: {
    const std::string& s = str(self);
    size_t b = 0, e = s.size();
    while (b < e && is_space(s[b]))
      if ((++b & (kSlice - 1)) == 0) cc.bytes(kSlice);
    while (e > b && is_space(s[e - 1]))
      if ((--e & (kSlice - 1)) == 0) cc.bytes(kSlice);
    return ok(copy_string(heap, std::string_view(s).substr(b, e - b), cc));
  }
  case BuiltinId::STRING_INCLUDES: return ok(Value::boolean(find_checked(str(self), str(a[0]), 0, cc) != std::string::npos));
  case BuiltinId::STRING_STARTS_WITH:
  case BuiltinId::STRING_ENDS_WITH: {
    const std::string &s = str(self), &p = str(a[0]);
    if (s.size() < p.size()) return ok(Value::boolean(false));
    size_t at = BuiltinId(raw_id) == BuiltinId::STRING_STARTS_WITH ? 0 : s.size() - p.size();
    for (size_t done = 0; done < p.size(); done += kSlice) {
      size_t n = std::min(kSlice, p.size() - done);
      if (std::memcmp(s.data() + at + done, p.data() + done, n) != 0) return ok(Value::boolean(false));
      cc.bytes(n);
    }
    return ok(Value::boolean(true));
  }
  case BuiltinId::STRING_SPLIT: {
    const std::string &s = str(self), &sep = str(a[0]);
    std::string_view text(s);
    ArrayObj* arr = heap.new_array();
    if (sep.empty()) { // split into code points
      for (size_t i = 0; i < s.size();) {
        size_t j = utf8_offset(text.substr(i), 1) + i;
        heap.array_push(arr, heap.string_value(text.substr(i, j - i)));
        cc.items();
        i = j;
      }
    } else {
      size_t start = 0;
      for (size_t pos; (pos = find_checked(text, sep, start, cc)) != std::string::npos; start = pos + sep.size()) {
        heap.array_push(arr, copy_string(heap, text.substr(start, pos - start), cc));
        cc.items();
      }
      heap.array_push(arr, copy_string(heap, text.substr(start), cc));
    }
    return ok(Value::object(Tag::Array, arr));
  }
  case BuiltinId::STRING_REPLACE: {
    // Replaces the first occurrence, as BAML (and JavaScript) do.
    const std::string &s = str(self), &from = str(a[0]), &to = str(a[1]);
    size_t pos = find_checked(s, from, 0, cc);
    if (pos == std::string::npos) return ok(self);
    std::string_view text(s);
    return ok(Value::object(Tag::String, heap.build_string(s.size() - from.size() + to.size(), [&](std::string& out) {
      append_checked(out, text.substr(0, pos), cc);
      append_checked(out, to, cc);
      append_checked(out, text.substr(pos + from.size()), cc);
    })));
  }
  case BuiltinId::STRING_SUBSTRING: {
    // JavaScript semantics on code points: clamp to [0, length], swap if start > end.
    const std::string& s = str(self);
    int64_t len = int64_t(length_checked(s, cc));
    int64_t start = std::clamp<int64_t>(a[0].i, 0, len);
    int64_t end = argc > 2 ? std::clamp<int64_t>(a[1].i, 0, len) : len;
    if (start > end) std::swap(start, end);
    size_t b = offset_checked(s, size_t(start), cc), e = offset_checked(s, size_t(end), cc);
    return ok(copy_string(heap, std::string_view(s).substr(b, e - b), cc));
  }
  case BuiltinId::STRING_INDEX_OF: {
    const std::string& s = str(self);
    size_t pos = find_checked(s, str(a[0]), 0, cc);
    if (pos == std::string::npos) return ok(Value::integer(-1));
    return ok(Value::integer(int64_t(length_checked(std::string_view(s).substr(0, pos), cc))));
  }
  default: break;
  }
  return error("internal", "unknown builtin");
}

} // namespace brake::vm
