// jsonish.h: a model's reply text -> candidate JSON-like values, with no
// knowledge of the type they will be fitted to (schema/coerce.h does that).
//
// What the candidates are, in the order coercion prefers them on a tie:
//   1. the whole text as one value (strict JSON, or JSON the fixing parser
//      repaired), when it is an object or an array, or a scalar with no fix;
//   2. the inside of each markdown code fence (```json ... ```);
//   3. each object or array embedded in prose ({...} / [...]), and, when
//      there are several, all of them as one array (at most kMaxCandidates);
//      an XML element (<Person><name>Ada</name></Person>) or TOON/YAML-like
//      `key: value` lines, read as objects and lists, when the text holds
//      no JSON container as a whole;
//   4. the raw text itself, as a string.
//
// The fixing parser repairs what models get wrong: trailing commas, single-
// quoted and backtick strings, triple-quoted ("""...""", ```...```) strings
// (dedented), unquoted keys and values (bare words up to `,` `}` `]`, or a
// new key), `//` and `/* */` comments, unescaped quotes inside strings (a
// quote closes a string only when what follows can end a value), a missing
// colon, and brackets and strings left open at the end (closed implicitly
// and marked incomplete).
//
// Limits: containers nested deeper than kMaxDepth throw DepthError; at most
// kMaxCandidates candidates are made. The memory the trees take is charged
// to the call's heap while they live (ParseBudget), and the scan looks at
// the call's cancel state as it goes (vm::Interrupted).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vm/value.h"

namespace brake::schema::jsonish {

constexpr int kMaxDepth = 256;
constexpr size_t kMaxCandidates = 1024;

class DepthError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };

// Fix flags: what the fixing parser did to read a value (scored by coerce).
enum Fix : uint16_t {
  kFixNone = 0,
  kFixUnquoted = 1,       // an unquoted string (key or value)
  kFixQuotes = 2,         // single, backtick or triple quotes
  kFixTrailingComma = 4,  // a trailing or doubled comma
  kFixComment = 8,        // a comment skipped
  kFixUnclosed = 16,      // a bracket or string closed implicitly at the end
  kFixMissingColon = 32,  // a key with no colon
  kFixStrayQuote = 64,    // a quote inside a string kept as text
};

// A growable array of plain values in chunks of 256: growing it never
// moves what it holds, and freeing it takes one free per chunk (no long
// pause after a cancel). A chunk's slots are left unwritten until used (a
// small reply touches little of it). Shrinks keep the chunks for reuse.
template <typename T> class Arena {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

public:
  static constexpr size_t kChunk = 256;
  size_t size() const { return m_size; }
  T& operator[](size_t i) { return m_chunks[i / kChunk].get()[i % kChunk]; }
  const T& operator[](size_t i) const { return m_chunks[i / kChunk].get()[i % kChunk]; }
  T& back() { return (*this)[m_size - 1]; }
  void push_back(const T& v) {
    if (m_size == m_chunks.size() * kChunk) m_chunks.emplace_back(static_cast<T*>(::operator new(sizeof(T) * kChunk)));
    new (&m_chunks[m_size / kChunk].get()[m_size % kChunk]) T(v);
    m_size++;
  }
  void shrink(size_t n) {
    if (n < m_size) m_size = n;
  }

private:
  struct Free {
    void operator()(T* p) const { ::operator delete(p); }
  };
  std::vector<std::unique_ptr<T, Free>> m_chunks;
  size_t m_size = 0;
};

// Charges the call's heap for the trees while they live, and gives it back.
class ParseBudget {
public:
  explicit ParseBudget(vm::Heap& heap) : m_heap(heap) {}
  ~ParseBudget() { m_heap.uncharge(m_charged); }
  ParseBudget(const ParseBudget&) = delete;
  ParseBudget& operator=(const ParseBudget&) = delete;
  void charge(size_t bytes) {
    m_heap.charge(bytes);
    m_charged += bytes;
  }

private:
  vm::Heap& m_heap;
  size_t m_charged = 0;
};

// A value the parser read. Plain data: it lives in a Document's arena, its
// children are `count` consecutive nodes from `first` there, and its texts
// are views into the reply or into the document's own text pool. (A tree
// of millions of nodes is freed in a few blocks, so a cancel or a failure
// never waits for a big tree to be taken apart node by node.)
struct Node {
  Kind kind = Kind::Null;
  bool boolean = false;
  // False when the text ended inside this value (an unclosed string,
  // container, or a number or bare word the text ended in).
  bool complete = true;
  uint16_t fixes = kFixNone; // Fix bits of this value (not of its children)
  uint32_t count = 0;        // Array, Object: the number of children
  size_t first = 0;          // Array, Object: the first child's index in the document
  std::string_view text;     // String: the characters; Number: its source text
  std::string_view key;      // a child of an object: its key
  // The text the value was read from: a string field given an object
  // takes it as written.
  std::string_view source;

  double number() const;        // Number: its value
  bool is_integer_text() const; // Number: written as an integer
};

// Texts that outlive the parse that made them (unescaped strings, dedented
// blocks), in large chunks.
class TextPool {
public:
  explicit TextPool(ParseBudget& budget) : m_budget(budget) {}
  std::string_view keep(std::string_view s);
  // A copy of `s` followed by `padding` zero bytes (in a chunk of its own).
  std::string_view keep_padded(std::string_view s, size_t padding);

private:
  ParseBudget& m_budget;
  std::vector<std::unique_ptr<char[]>> m_chunks;
  char* m_next = nullptr;
  size_t m_left = 0;
};

// The arena of one parse's nodes.
class Document {
public:
  explicit Document(ParseBudget& budget) : m_budget(budget), m_pool(budget) {}
  const Node& child(const Node& n, size_t i) const { return m_nodes[n.first + i]; }
  // Appends src[from, to) as one node's children; returns the first's index.
  template <typename C> size_t commit(const C& src, size_t from, size_t to, vm::CancelCheck& cc) {
    size_t first = m_nodes.size();
    m_budget.charge((to - from) * sizeof(Node));
    for (size_t i = from; i < to; i++) {
      m_nodes.push_back(src[i]);
      cc.items();
    }
    return first;
  }
  TextPool& pool() { return m_pool; }
  ParseBudget& budget() { return m_budget; }

private:
  ParseBudget& m_budget;
  Arena<Node> m_nodes;
  TextPool m_pool;
};

enum class Source : uint8_t { Whole, Fence, Prose, ProseList, Raw };

struct Candidate {
  Source source;
  Node value;
};

// Hands the candidates for `text` (see the top of this file), in order, to
// `take`, which returns false when it needs no more (the rest are then
// never read); returns how many it handed over. Their nodes live in `doc`.
// `partial`: the text is a prefix of a reply still arriving. The nodes view
// `text`, which must outlive them, or copies kept in `doc`. Throws DepthError, vm::Interrupted, and
// what the heap's charge throws.
size_t parse(std::string_view text, bool partial, Document& doc, vm::CancelCheck& cc,
             const std::function<bool(const Candidate&)>& take);

// Parses one value with the fixing parser (tests and the fuzzer use it).
// `end` receives where the value ended.
Node parse_value(std::string_view text, Document& doc, vm::CancelCheck& cc, size_t* end = nullptr);

// Reads `text` when it is one strict JSON object or array, with nothing but
// spaces after it, into the nodes the fixing parser would make of it
// (faster: see jsonish_strict.cpp), viewing a copy kept in `doc`. (One
// difference: the fixing parser looks at most 256 bytes ahead to decide
// whether a quote or comma ends a value, so a run of more spaces than that
// between values can mislead it; this reads such text as JSON.) False when
// it is not, or is not read so (the fixing parser then reads it); nodes it
// made stay unused in `doc`.
bool read_strict(std::string_view text, Document& doc, vm::CancelCheck& cc, Node& out);

// Text helpers shared with coerce.
// Folds accents: é -> e, ß -> ss, æ -> ae, ø -> o, œ -> oe (and upper-case
// forms); other characters unchanged.
std::string remove_accents(std::string_view s);
// The number in `s` when it holds exactly one ("$1,234.56", "50%",
// "The answer is 10,000"); commas are thousands separators; false when it
// holds none or several, or a European "1.234,56".
bool float_from_comma_separated(std::string_view s, double& out);

} // namespace brake::schema::jsonish
