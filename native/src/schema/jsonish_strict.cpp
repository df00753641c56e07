// jsonish_strict.cpp: the fast path of schema/jsonish.h for a candidate that
// is strict JSON, as most replies are. simdjson's on-demand parser reads it
// and its values become exactly the nodes the fixing parser would make for
// the same text (no fixes, complete, texts viewing the text where nothing
// was escaped), several times faster. Anything else (a repair needed, a
// scalar, an integer past 64 bits, nesting past kMaxDepth, a text over
// kMaxStrictBytes) is left to the fixing parser.
#include <cstring>

#include "schema/jsonish.h"
#include "simdjson.h"

namespace brake::schema::jsonish {

namespace {

namespace od = simdjson::ondemand;

// Texts up to this size only (larger replies take the fixing parser): the
// parser each worker and host thread keeps for good (its buffers, about
// 1 MB at this capacity, are the thread's, not charged to any call) never
// grows past it.
constexpr size_t kMaxStrictBytes = size_t(64) << 10;
// What the parser's buffers touch per byte of text, charged while the
// document lives (json/json.cpp measures the same for simdjson's DOM).
constexpr size_t kParseBytesPerByte = 8;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_end(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

class StrictReader {
public:
  StrictReader(od::document& json, std::string_view text, Document& doc, vm::CancelCheck& cc)
      : m_json(json), m_text(text), m_doc(doc), m_cc(cc) {}

  bool value(od::value v, Node& out, int depth) {
    m_cc.items();
    od::json_type type;
    if (v.type().get(type)) return false;
    std::string_view raw = v.raw_json_token(); // from the token's first character to the next token
    switch (type) {
    case od::json_type::object: return object(v, raw.data(), out, depth + 1);
    case od::json_type::array: return array(v, raw.data(), out, depth + 1);
    case od::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s)) return false;
      out.kind = Kind::String;
      // Nothing escaped: the text itself (the parser's copy does not last).
      bool plain = raw.size() >= s.size() + 2 && std::memchr(raw.data() + 1, '\\', s.size()) == nullptr;
      out.text = plain ? raw.substr(1, s.size()) : m_doc.pool().keep(s);
      out.source = plain ? raw.substr(0, s.size() + 2) : trim_end(raw);
      return true;
    }
    case od::json_type::number: {
      od::number n;
      if (v.get_number().get(n)) return false; // (an integer past 64 bits, too)
      out.kind = Kind::Number;
      out.text = out.source = trim_end(raw);
      return true;
    }
    case od::json_type::boolean: {
      bool b = false;
      if (v.get_bool().get(b)) return false;
      out.kind = Kind::Bool;
      out.boolean = b;
      out.source = trim_end(raw);
      return true;
    }
    case od::json_type::null: {
      bool null = false;
      if (v.is_null().get(null) || !null) return false;
      out.source = trim_end(raw);
      return true;
    }
    default: return false;
    }
  }

private:
  bool object(od::value v, const char* start, Node& out, int depth) {
    if (depth > kMaxDepth) return false; // the fixing parser says so
    od::object fields;
    if (v.get_object().get(fields)) return false;
    out.kind = Kind::Object;
    size_t base = m_stack.size();
    for (auto entry : fields) {
      od::field field;
      if (std::move(entry).get(field)) return false;
      std::string_view key = field.escaped_key();
      if (key.find('\\') != std::string_view::npos) {
        std::string_view unescaped;
        if (field.unescaped_key(false).get(unescaped)) return false;
        key = m_doc.pool().keep(unescaped);
      }
      Node child;
      if (!value(field.value(), child, depth)) return false;
      child.key = key;
      m_stack.push_back(child);
    }
    return close(out, base, start, '}');
  }

  bool array(od::value v, const char* start, Node& out, int depth) {
    if (depth > kMaxDepth) return false;
    od::array items;
    if (v.get_array().get(items)) return false;
    out.kind = Kind::Array;
    size_t base = m_stack.size();
    for (auto entry : items) {
      od::value item;
      if (std::move(entry).get(item)) return false;
      Node child;
      if (!value(item, child, depth)) return false;
      m_stack.push_back(child);
    }
    return close(out, base, start, ']');
  }

  // Moves the children above `base` into the document; the container's
  // source runs from `start` to its closing bracket.
  bool close(Node& out, size_t base, const char* start, char bracket) {
    out.count = uint32_t(m_stack.size() - base);
    out.first = m_doc.commit(m_stack, base, m_stack.size(), m_cc);
    m_stack.resize(base);
    const char* end = m_text.data() + m_text.size();
    const char* next = nullptr;
    if (!m_json.current_location().get(next) && next > start && next <= end) end = next;
    out.source = trim_end(std::string_view(start, size_t(end - start)));
    return !out.source.empty() && out.source.back() == bracket;
  }

  od::document& m_json;
  std::string_view m_text;
  Document& m_doc;
  vm::CancelCheck& m_cc;
  std::vector<Node> m_stack; // children of the containers being read
};

} // namespace

bool read_strict(std::string_view text, Document& doc, vm::CancelCheck& cc, Node& out) {
  if (text.empty() || text.size() > kMaxStrictBytes || (text.front() != '{' && text.front() != '[')) return false;
  thread_local od::parser parser(kMaxStrictBytes);
  doc.budget().charge(text.size() * kParseBytesPerByte);
  cc.bytes(text.size());
  // A copy with the padding simdjson reads past the end into; the nodes view it.
  std::string_view copy = doc.pool().keep_padded(text, simdjson::SIMDJSON_PADDING);
  od::document json;
  if (parser.iterate(simdjson::padded_string_view(copy.data(), copy.size(), copy.size() + simdjson::SIMDJSON_PADDING))
          .get(json))
    return false;
  od::value root;
  if (json.get_value().get(root)) return false;
  Node n;
  StrictReader reader(json, copy, doc, cc);
  if (!reader.value(root, n, 0) || !json.at_end()) return false;
  out = n;
  return true;
}

} // namespace brake::schema::jsonish
