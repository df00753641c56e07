// coerce.h: fits one jsonish candidate (schema/jsonish.h) to a declared
// type, with a score for how much had to be bent to fit (lower is better),
// and builds the winner on the call's heap.
//
// The rules (BAML's schema-aligned parsing):
//   string   a string as is; a number or bool as its text; an object or
//            array as its JSON text
//   int      a number (a float rounds); a string holding one number
//            ("1,234", "$12.50", "12 apples", "1/5")
//   float    the same, ints widen
//   bool     true/false in any case, or the one of them a text holds
//   enum     by @alias or name: exact, then ignoring case, accents and
//            punctuation, then the variant a text names most often (two
//            named equally often: no match); @skip variants never match
//   T[]      an array, items that do not fit dropped; any other value as a
//            one-item list
//   map      an object's entries (keys fitted to enum keys; entries whose
//            value does not fit dropped)
//   class    an object's keys by @alias or name (also ignoring case, accents
//            and punctuation); a missing optional field is null, a missing
//            required one fails (null in a partial parse); a one-item list
//            as its item; a class of one field from that field's value
//   union    every member; the best score wins, on a tie the member
//            written first
//   literal  "TWO" like an enum of one value; 3 and true by value; an
//            object of one scalar key stands for its value
//   @assert  constraints ({{ expr }} with `this`) that do not hold fail the
//            value (evaluated with llm/template.h); @check is not evaluated
// Partial parses (a prefix of a reply): an unfinished trailing number is
// dropped, unfinished strings stay as they are, @stream.done values are
// withheld (null, or left out of a list) until complete, and a class with a
// @stream.not_null field that is still null is withheld.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "schema/jsonish.h"
#include "vm/chunk.h"
#include "vm/value.h"

namespace brake::llm {
class Template;
}

namespace brake::schema {

// A fitted value, before it is built on the heap (a union tries several
// members; only the winner is ever allocated there). Plain data, kept in
// the Coercer's arena like jsonish's nodes: children are `count`
// consecutive values from `first`.
struct Coerced {
  vm::Tag tag = vm::Tag::Null;
  bool boolean = false;
  bool absent = false;            // withheld or not arrived yet (partial): null, or left out of a list
  uint32_t decl = 0, variant = 0; // Enum: enum and variant; Instance: class
  uint32_t count = 0;             // Array, Map, Instance: the number of children
  size_t first = 0;               // Array, Map, Instance: the first child's index in the arena
  int64_t integer = 0;
  double number = 0;
  std::string_view text; // String
  std::string_view key;  // a child of a Map: its key
};

// Where in the reply a value is being fitted ("$.people[1].age"), kept as
// parts (views of keys and field names that outlive the fitting) and
// written out only for an error.
class Path {
public:
  void push(std::string_view key) { m_parts.push_back({key, 0}); }
  void push(size_t index) { m_parts.push_back({{}, index + 1}); }
  void pop() { m_parts.pop_back(); }
  std::string str() const;

private:
  struct Part {
    std::string_view key;
    size_t index_plus_one; // 0: a key
  };
  std::vector<Part> m_parts;
};

class Coercer {
public:
  Coercer(const jsonish::Document& doc, const vm::CompiledProgram& program, vm::Heap& heap,
          jsonish::ParseBudget& budget, vm::CancelCheck& cc, bool partial);
  ~Coercer();

  // Fits `n` to `t`, adding to `score`. On false, error() says where and why.
  bool coerce(const jsonish::Node& n, lang::TypeId t, Coerced& out, int& score);
  vm::Value build(const Coerced& c);
  // Writes `c` as JSON for a host (brake.h: brake_engine_parse_json), as
  // runtime/value_convert.h would hand the built value over: instances by
  // their field names, enums by variant name. `classes` gets, for each
  // object in pre-order, its class name ("" for a map) and a '\n';
  // `any_instance` is set when one is an instance. False (`out` then
  // unspecified) when a JSON parser that reads numbers as doubles would not
  // read it back exactly and in order: an int past +-(2^53-1), a float that
  // is not finite, a map key that is a decimal integer (JavaScript objects
  // move those first). `valid_utf8`: the reply was valid UTF-8, so every
  // text of the value is (else each is checked, and mended with U+FFFD).
  bool write_host_json(const Coerced& c, bool valid_utf8, std::string& out, std::string& classes, bool& any_instance);
  const std::string& error() const { return m_error; }

private:
  const jsonish::Node& child(const jsonish::Node& n, size_t i) const { return m_doc.child(n, i); }
  const Coerced& item(const Coerced& c, size_t i) const { return m_arena[c.first + i]; }
  // Moves the values above `base` on the stack into the arena as `c`'s children.
  void commit(Coerced& c, size_t base);

  bool coerce_uncached(const jsonish::Node& n, lang::TypeId t, Coerced& out, int& score);
  bool coerce_type(const jsonish::Node& n, lang::TypeId t, Coerced& out, int& score);
  bool fail(const std::string& what);
  bool expected(const char* type, const jsonish::Node& n);
  bool coerce_string(const jsonish::Node& n, Coerced& out, int& score);
  bool coerce_int(const jsonish::Node& n, Coerced& out, int& score);
  bool coerce_float(const jsonish::Node& n, Coerced& out, int& score);
  bool coerce_bool(const jsonish::Node& n, Coerced& out, int& score);
  bool coerce_array(const jsonish::Node& n, lang::TypeId elem, Coerced& out, int& score);
  bool coerce_map(const jsonish::Node& n, lang::TypeId key, lang::TypeId value, Coerced& out, int& score);
  bool coerce_class(const jsonish::Node& n, uint32_t cls, Coerced& out, int& score);
  bool coerce_enum(const jsonish::Node& n, uint32_t e, Coerced& out, int& score);
  bool coerce_literal(const jsonish::Node& n, lang::TypeId base, const std::string& literal, Coerced& out, int& score);
  bool coerce_union(const jsonish::Node& n, lang::TypeId t, Coerced& out, int& score);
  bool coerce_any(const jsonish::Node& n, Coerced& out);
  bool from_first_item(const jsonish::Node& n, lang::TypeId t, Coerced& out, int& score);
  bool asserts_hold(const lang::Attributes& attrs, const Coerced& value);
  bool fields_of_object(const jsonish::Node& n, uint32_t cls, Coerced& out, int& score);
  bool deep_complete(const jsonish::Node& n) const;
  void write_json(const jsonish::Node& n, std::string& out);

  const jsonish::Document& m_doc;
  const vm::CompiledProgram& m_p;
  vm::Heap& m_heap;
  jsonish::ParseBudget& m_budget;
  vm::CancelCheck& m_cc;
  bool m_partial;
  int m_depth = 0;
  uint64_t m_work = 0;
  const jsonish::Node* m_wrapping = nullptr; // the value being wrapped as a one-item list
  jsonish::Arena<Coerced> m_arena;
  jsonish::Arena<Coerced> m_stack; // children of the values being fitted
  jsonish::TextPool m_pool;
  struct MemoKey {
    const jsonish::Node* node;
    int64_t type_and_wrapping;
    bool operator==(const MemoKey& o) const { return node == o.node && type_and_wrapping == o.type_and_wrapping; }
  };
  struct MemoHash {
    size_t operator()(const MemoKey& k) const {
      return std::hash<const void*>()(k.node) * 31 + std::hash<int64_t>()(k.type_and_wrapping);
    }
  };
  struct Memo {
    bool ok;
    int score;
    Coerced out;
    std::string error;
  };
  std::unordered_map<MemoKey, Memo, MemoHash> m_memo; // containers already fitted, by type
  int m_choices = 0; // unions of several members being fitted
  Path m_path;
  std::string m_error;
  std::map<std::string, std::shared_ptr<const llm::Template>> m_templates;
};

// Text helpers (exposed for tests).
// Lower-case, accents folded, punctuation and spaces as single spaces, trimmed.
std::string normalize_name(std::string_view s, vm::CancelCheck* cc = nullptr);
// The variant of enum `e` that `text` names (see the top of this file), or -1;
// `ambiguous` is set when two variants tie.
int match_enum(const vm::EnumInfo& e, std::string_view text, int& score, bool& ambiguous);

} // namespace brake::schema
