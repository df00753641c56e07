// template_eval.h: the evaluator of compiled templates (internal to
// llm/template*). One Renderer renders one template for one call, on the
// call's thread, into one Sink.
//
// Values: a TVal is a vm::Value, or one of the few things templates have
// that scripts do not (undefined, a string borrowed from the template or
// from a heap string, a map's items view, a range, a namespace). Borrowed
// strings stay valid for the whole render: the template outlives it, and
// heap strings are neither freed (no collection runs) nor changed.
// Everything else a template makes lives on the call's heap.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "llm/template.h"
#include "llm/template_ast.h"
#include "llm/template_format.h"
#include "llm/template_names.h"

namespace brake::llm::tmpl {

struct TVal {
  enum class K : uint8_t {
    Value,     // v
    Undefined, // a missing name, attribute or item
    Str,       // s (borrowed)
    Items,     // v: a map's or instance's (key, value) pairs
    Range,     // start, stop, step
    Namespace, // v: the map namespace() made
  };
  K k = K::Value;
  vm::Value v;
  std::string_view s;
  int64_t start = 0, stop = 0, step = 1;

  static TVal of(vm::Value v) {
    TVal t;
    t.v = v;
    return t;
  }
  static TVal undefined() {
    TVal t;
    t.k = K::Undefined;
    return t;
  }
  static TVal str(std::string_view s) {
    TVal t;
    t.k = K::Str;
    t.s = s;
    return t;
  }
  bool is_undefined() const { return k == K::Undefined; }
  bool is_none() const { return k == K::Value && v.tag == vm::Tag::Null; }
  bool is(vm::Tag tag) const { return k == K::Value && v.tag == tag; }
};

// The rendered text, and where media and role calls fall in it.
struct Sink {
  enum class Mode : uint8_t {
    Prompt, // media and roles become events
    Text,   // media and roles are written as BAML's magic strings
  };
  explicit Sink(Mode m) : mode(m) {}
  struct Event {
    size_t at = 0; // offset in text
    bool is_role = false;
    Media media;
    std::string role;
    bool allow_duplicate_role = false;
    std::string meta_json;
  };
  Mode mode;
  std::string text;
  std::vector<Event> events;
};

// What a value iterates over, charged to the call's heap while held.
struct Elements {
  explicit Elements(vm::Heap& h) : heap(h) {}
  ~Elements() { heap.uncharge(charged); }
  Elements(const Elements&) = delete;
  Elements& operator=(const Elements&) = delete;
  static constexpr size_t kMaxElements = size_t(1) << 28;
  // Charges room for `n` elements, then reserves it (more than kMaxElements: a RenderError).
  void reserve(size_t n);
  void push(const TVal& v) {
    if (items.size() == items.capacity()) reserve(items.size() + 1);
    items.push_back(v);
  }
  vm::Heap& heap;
  std::vector<TVal> items;
  std::vector<TVal> values; // the values of split pairs
  size_t charged = 0;
};

// Arguments of a filter, test, method or call, evaluated.
struct Args {
  std::vector<TVal> pos;
  std::vector<std::pair<std::string_view, TVal>> kw;

  // The argument at position `i`, or the keyword `name`; null when neither was given.
  const TVal* get(size_t i, std::string_view name) const;
};

class Renderer final : public MediaHook {
public:
  Renderer(const RenderInput& in, Sink& sink);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Renders `t`'s body with the input's arguments.
  void run(const Template& t);

  // MediaHook: a media value displayed into the prompt.
  void media(const vm::InstanceObj* m) override;

  // ---- shared with the filters (template_filters.cpp)
  [[noreturn]] void fail(const lang::SourceLoc& loc, const std::string& message) const;
  vm::Heap& heap() { return m_heap; }
  const vm::CompiledProgram& program() const { return m_program; }
  vm::CancelCheck& cancel() { return m_cc; }

  bool truthy(const TVal& v) const;
  static bool get_str(const TVal& v, std::string_view& out);
  // The value as a vm::Value (allocating for borrowed strings, items, ranges).
  vm::Value materialize(const TVal& v);
  TVal make_string(std::string_view s) { return TVal::of(m_heap.string_value(s)); }
  // How `{{ v }}` shows it (media as the magic string).
  void append_text(std::string& out, const TVal& v);
  std::string to_text(const TVal& v) {
    std::string s;
    append_text(s, v);
    return s;
  }
  std::string type_name(const TVal& v) const;
  bool equal(const TVal& a, const TVal& b);
  // <0, 0, >0; `case_insensitive` for sorting strings.
  int compare(const TVal& a, const TVal& b, bool case_insensitive = false);
  TVal get_attr(const TVal& obj, std::string_view name, const lang::SourceLoc& loc);
  TVal get_item(const TVal& obj, const TVal& key, const lang::SourceLoc& loc);
  bool contains(const TVal& container, const TVal& item, const lang::SourceLoc& loc);
  // The elements a value iterates over (lists, strings by code point, maps
  // and instances by key, items as [key, value] lists or, with
  // `split_pairs`, keys in items and values in values; ranges; none and
  // undefined as nothing); false when it is not iterable.
  bool elements(const TVal& v, Elements& out, bool split_pairs = false);
  size_t length(const TVal& v, const lang::SourceLoc& loc);

  TVal apply_filter(Filter f, const TVal& v, const Args& args, const lang::SourceLoc& loc);
  bool apply_test(Test t, const TVal& v, const Args& args, const lang::SourceLoc& loc);
  TVal call_method(const TVal& obj, std::string_view name, const Args& args, const lang::SourceLoc& loc);

private:
  struct LoopState;
  struct Frame {
    std::vector<std::pair<uint32_t, TVal>> vars;
  };
  struct Scope {
    const Template* t = nullptr;
    std::vector<TVal> params;
    std::vector<Frame> frames;
    std::vector<LoopState*> loops;
  };
  enum class Flow : uint8_t { Normal, Break, Continue };

  Flow exec(const std::vector<Stmt>& body);
  Flow exec_for(const Stmt& s);
  void output(const Expr& e);
  void write(const TVal& v);
  void written(size_t bytes);

  TVal eval(const Expr& e);
  TVal eval_binary(const Expr& e);
  TVal arith(BinOp op, const TVal& a, const TVal& b, const lang::SourceLoc& loc);
  void eval_args(const std::vector<Arg>& in, Args& out);
  TVal lookup(uint32_t id) const;
  void assign(uint32_t id, const TVal& v);
  TVal loop_attr(const Expr& e);
  TVal ctx_value();
  TVal global_call(const Expr& e);
  TVal enum_variant(const Expr& e);
  void role(const Expr& e);
  std::string output_format(const Expr& e);
  // Renders template_string call `e` into the current sink.
  void call_template(const Expr& e);

  const RenderInput& m_in;
  const vm::CompiledProgram& m_program;
  vm::Heap& m_heap;
  vm::CancelCheck m_cc;
  Sink* m_sink;
  Scope* m_scope = nullptr;
  int m_depth = 0;        // template_string calls in progress
  size_t m_charged = 0;   // text bytes charged to the heap
  size_t m_uncharged = 0; // text bytes written since the last charge
  TVal m_ctx;             // built on first use
  bool m_have_ctx = false;
};

} // namespace brake::llm::tmpl
