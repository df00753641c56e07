#include "llm/template_eval.h"

#include <cmath>
#include <limits>

#include "common/utf8.h"

namespace brake::llm::tmpl {

namespace {

// template_strings calling template_strings: deeper than this is a render
// error (a template_string that calls itself would never end).
constexpr int kMaxTemplateDepth = 64;
// Text is charged to the heap in steps of this many bytes.
constexpr size_t kChargeStep = 4096;

const char* const kRoleMagic = "BAML_CHAT_ROLE_MAGIC_STRING_DELIMITER";

bool is_number(const TVal& v) { return v.is(vm::Tag::Int) || v.is(vm::Tag::Float); }
double as_double(const TVal& v) { return v.v.tag == vm::Tag::Int ? double(v.v.i) : v.v.f; }

// (In unsigned arithmetic: a range may span more than int64_t holds.)
int64_t range_length(const TVal& r) {
  uint64_t span, step;
  if (r.step > 0 && r.start < r.stop) {
    span = uint64_t(r.stop) - uint64_t(r.start);
    step = uint64_t(r.step);
  } else if (r.step < 0 && r.start > r.stop) {
    span = uint64_t(r.start) - uint64_t(r.stop);
    step = uint64_t(0) - uint64_t(r.step);
  } else {
    return 0;
  }
  uint64_t n = (span - 1) / step + 1;
  return n > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max() : int64_t(n);
}

int64_t range_item(const TVal& r, uint64_t i) { return int64_t(uint64_t(r.start) + i * uint64_t(r.step)); }

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

} // namespace

void Elements::reserve(size_t n) {
  if (n <= items.capacity()) return;
  if (n > kMaxElements) throw RenderError("too many elements to hold at once (over " + std::to_string(kMaxElements) + ")");
  size_t cap = std::max(n, items.capacity() * 2);
  size_t more = (cap - items.capacity()) * sizeof(TVal);
  heap.charge(more);
  charged += more;
  items.reserve(cap);
}

const TVal* Args::get(size_t i, std::string_view name) const {
  if (i < pos.size()) return &pos[i];
  for (auto& [k, v] : kw)
    if (k == name) return &v;
  return nullptr;
}

// ---------------------------------------------------------------- setup

Renderer::Renderer(const RenderInput& in, Sink& sink)
    : m_in(in), m_program(*in.program), m_heap(*in.heap), m_cc(in.cancel_state), m_sink(&sink) {}

Renderer::~Renderer() { m_heap.uncharge(m_charged); }

void Renderer::run(const Template& t) {
  Scope scope;
  scope.t = &t;
  scope.params.assign(t.param_count, TVal::undefined());
  for (size_t i = 0; i < t.param_count; i++)
    for (size_t a = 0; a < m_in.count; a++)
      if (m_in.names[a] == t.names[i]) {
        scope.params[i] = TVal::of(m_in.values[a]);
        break;
      }
  scope.frames.emplace_back();
  m_scope = &scope;
  exec(t.body);
  m_scope = nullptr;
}

void Renderer::fail(const lang::SourceLoc& loc, const std::string& message) const {
  throw RenderError(message + " (template line " + std::to_string(loc.line) + ", column " + std::to_string(loc.column) +
                    ")");
}

void Renderer::written(size_t bytes) {
  m_cc.bytes(bytes);
  m_uncharged += bytes;
  if (m_uncharged >= kChargeStep) {
    m_heap.charge(m_uncharged);
    m_charged += m_uncharged;
    m_uncharged = 0;
  }
}

void Renderer::media(const vm::InstanceObj* m) {
  Sink::Event ev;
  ev.at = m_sink->text.size();
  ev.media = media_of(m_program, m);
  m_sink->events.push_back(std::move(ev));
}

// ---------------------------------------------------------------- statements

Renderer::Flow Renderer::exec(const std::vector<Stmt>& body) {
  for (const Stmt& s : body) {
    switch (s.kind) {
    case StmtKind::Text:
      m_sink->text += s.text;
      written(s.text.size());
      break;
    case StmtKind::Output: output(*s.expr); break;
    case StmtKind::If: {
      const std::vector<Stmt>* chosen = &s.else_body;
      for (const Branch& b : s.branches)
        if (truthy(eval(*b.cond))) {
          chosen = &b.body;
          break;
        }
      Flow f = exec(*chosen);
      if (f != Flow::Normal) return f;
      break;
    }
    case StmtKind::For: {
      Flow f = exec_for(s);
      if (f != Flow::Normal) return f;
      break;
    }
    case StmtKind::Set: assign(s.targets[0], eval(*s.expr)); break;
    case StmtKind::SetAttr: {
      TVal ns = lookup(s.targets[0]);
      if (ns.k != TVal::K::Namespace)
        fail(s.loc, "cannot set attribute '" + s.attr + "' of " + type_name(ns) + " (only of a namespace())");
      m_heap.map_set(ns.v.as_map(), s.attr, materialize(eval(*s.expr)));
      break;
    }
    case StmtKind::SetBlock: {
      Sink tmp(Sink::Mode::Text);
      Sink* saved = m_sink;
      m_sink = &tmp;
      Flow f = exec(s.body);
      m_sink = saved;
      assign(s.targets[0], make_string(tmp.text));
      if (f != Flow::Normal) return f;
      break;
    }
    case StmtKind::Break: return Flow::Break;
    case StmtKind::Continue: return Flow::Continue;
    }
  }
  return Flow::Normal;
}

// What a for loop walks: a list or a range where it is, anything else
// (strings, maps, items, a filtered loop) as Elements.
struct Renderer::LoopState {
  const Elements* items = nullptr; // or
  const vm::ArrayObj* array = nullptr; // or
  TVal range;
  bool is_range = false;
  bool split = false; // items: keys in items, values in values
  size_t index0 = 0;
  size_t length = 0;

  TVal at(size_t i) const {
    if (array) return TVal::of(array->items[i]);
    if (is_range) return TVal::of(vm::Value::integer(range_item(range, i)));
    return items->items[i];
  }
};

Renderer::Flow Renderer::exec_for(const Stmt& s) {
  TVal iterable = eval(*s.expr);
  LoopState all;
  all.split = s.targets.size() == 2 && iterable.k == TVal::K::Items;
  Elements held(m_heap);
  if (iterable.is(vm::Tag::Array)) {
    all.array = iterable.v.as_array();
    all.length = all.array->items.size();
  } else if (iterable.k == TVal::K::Range) {
    all.range = iterable;
    all.is_range = true;
    all.length = size_t(length(iterable, s.expr->loc));
  } else {
    if (!elements(iterable, held, all.split)) fail(s.expr->loc, "cannot iterate over " + type_name(iterable));
    all.items = &held;
    all.length = held.items.size();
  }

  auto bind = [&](const LoopState& from, size_t i) {
    if (from.split) {
      assign(s.targets[0], from.items->items[i]);
      assign(s.targets[1], from.items->values[i]);
      return;
    }
    TVal item = from.at(i);
    if (s.targets.size() == 1) {
      assign(s.targets[0], item);
      return;
    }
    if (!item.is(vm::Tag::Array) || item.v.as_array()->items.size() != s.targets.size())
      fail(s.loc, "cannot unpack " + type_name(item) + " into " + std::to_string(s.targets.size()) + " loop variables");
    const auto& parts = item.v.as_array()->items;
    for (size_t k = 0; k < s.targets.size(); k++) assign(s.targets[k], TVal::of(parts[k]));
  };

  m_scope->frames.emplace_back();
  LoopState loop = all;
  Elements filtered(m_heap);
  if (s.cond) {
    for (size_t i = 0; i < all.length; i++) {
      m_cc.items();
      bind(all, i);
      if (truthy(eval(*s.cond))) {
        filtered.push(all.at(i));
        if (all.split) filtered.values.push_back(all.items->values[i]);
      }
    }
    loop = LoopState();
    loop.items = &filtered;
    loop.split = all.split;
    loop.length = filtered.items.size();
  }

  m_scope->loops.push_back(&loop);
  for (size_t i = 0; i < loop.length; i++) {
    m_cc.items();
    loop.index0 = i;
    bind(loop, i);
    if (exec(s.body) == Flow::Break) break;
  }
  m_scope->loops.pop_back();
  m_scope->frames.pop_back();
  if (loop.length == 0) return exec(s.else_body);
  return Flow::Normal;
}

// ---------------------------------------------------------------- output

void Renderer::output(const Expr& e) {
  switch (e.kind) {
  case ExprKind::Role: role(e); return;
  case ExprKind::TemplateCall: call_template(e); return;
  case ExprKind::OutputFormat: {
    std::string text = output_format(e);
    m_sink->text += text;
    written(text.size());
    return;
  }
  default: write(eval(e)); return;
  }
}

void Renderer::write(const TVal& v) {
  size_t before = m_sink->text.size();
  switch (v.k) {
  case TVal::K::Undefined: return;
  case TVal::K::Str: vm::append_checked(m_sink->text, v.s, m_cc); break;
  case TVal::K::Value:
  case TVal::K::Namespace:
    append_display(m_sink->text, m_program, v.v, m_cc, m_sink->mode == Sink::Mode::Prompt ? this : nullptr);
    break;
  case TVal::K::Items:
  case TVal::K::Range: append_display(m_sink->text, m_program, materialize(v), m_cc, nullptr); break;
  }
  written(m_sink->text.size() - before);
}

void Renderer::role(const Expr& e) {
  Args a;
  eval_args(e.args, a);
  if (a.pos.size() > 1) fail(e.loc, "role() takes at most one positional argument");
  const TVal* positional = a.pos.empty() ? nullptr : &a.pos[0];
  const TVal* keyword = nullptr;
  for (auto& [k, v] : a.kw)
    if (k == "role") keyword = &v;
  if (positional && keyword)
    fail(e.loc, "role() called with two roles: '" + to_text(*keyword) + "' and '" + to_text(*positional) + "'");
  if (!positional && !keyword) fail(e.loc, "role() called without role. Try role('role') or role(role='role').");
  const TVal& rv = positional ? *positional : *keyword;
  std::string_view role;
  if (!get_str(rv, role)) fail(e.loc, "role() needs a string role, not " + type_name(rv));

  bool allow_dupe = false;
  std::string meta;
  for (auto& [k, v] : a.kw) {
    if (k == "role") continue;
    if (k == "__baml_allow_dupe_role__") {
      if (!v.is(vm::Tag::Bool)) fail(e.loc, "__baml_allow_dupe_role__ must be true or false, not " + type_name(v));
      allow_dupe = v.v.b;
      continue;
    }
    meta += meta.empty() ? "{" : ",";
    vm::Value key = m_heap.string_value(k);
    append_json(meta, m_program, key, m_cc);
    meta += ':';
    try {
      append_json(meta, m_program, materialize(v), m_cc);
    } catch (const FormatError& err) {
      fail(e.loc, std::string("role() argument '") + std::string(k) + "': " + err.what());
    }
  }
  if (!meta.empty()) meta += '}';

  if (m_sink->mode == Sink::Mode::Prompt) {
    Sink::Event ev;
    ev.at = m_sink->text.size();
    ev.is_role = true;
    ev.role = std::string(role);
    ev.allow_duplicate_role = allow_dupe;
    ev.meta_json = std::move(meta);
    m_sink->events.push_back(std::move(ev));
    return;
  }
  size_t before = m_sink->text.size();
  std::string& out = m_sink->text;
  out += kRoleMagic;
  out += ":baml-start-baml:{\"role\":";
  append_json(out, m_program, m_heap.string_value(role), m_cc);
  out += ",\"__baml_allow_dupe_role__\":";
  out += allow_dupe ? "true" : "false";
  if (!meta.empty()) {
    out += ',';
    out.append(meta, 1, meta.size() - 2);
  }
  out += "}:baml-end-baml:";
  out += kRoleMagic;
  written(out.size() - before);
}

std::string Renderer::output_format(const Expr& e) {
  std::vector<std::pair<std::string, vm::Value>> kwargs;
  for (const Arg& a : e.args) kwargs.emplace_back(a.name, materialize(eval(*a.value)));
  std::string text, error;
  if (!m_in.output_format) return text;
  if (!m_in.output_format(kwargs, text, error)) fail(e.loc, "ctx.output_format: " + error);
  return text;
}

void Renderer::call_template(const Expr& e) {
  const TemplateStringDef* def = nullptr;
  if (m_in.template_strings)
    for (const TemplateStringDef& d : *m_in.template_strings)
      if (d.name == e.s) def = &d;
  if (!def || !def->body) fail(e.loc, "template_string " + e.s + " is not available to this render");
  const Template& body = *def->body;
  if (m_depth >= kMaxTemplateDepth) fail(e.loc, "template_string calls nested too deeply (does " + e.s + " call itself?)");

  Args a;
  eval_args(e.args, a);
  Scope scope;
  scope.t = &body;
  scope.params.assign(body.param_count, TVal::undefined());
  std::vector<bool> given(body.param_count, false);
  if (a.pos.size() > body.param_count)
    fail(e.loc, e.s + "() takes " + std::to_string(body.param_count) + " arguments, not " + std::to_string(a.pos.size()));
  for (size_t i = 0; i < a.pos.size(); i++) {
    scope.params[i] = a.pos[i];
    given[i] = true;
  }
  for (auto& [k, v] : a.kw) {
    size_t i = 0;
    while (i < body.param_count && body.names[i] != k) i++;
    if (i == body.param_count) fail(e.loc, e.s + "() has no parameter named '" + std::string(k) + "'");
    if (given[i]) fail(e.loc, e.s + "() got parameter '" + std::string(k) + "' twice");
    scope.params[i] = v;
    given[i] = true;
  }
  for (size_t i = 0; i < body.param_count; i++)
    if (!given[i]) fail(e.loc, e.s + "() is missing its argument '" + body.names[i] + "'");
  scope.frames.emplace_back();

  Scope* saved = m_scope;
  m_scope = &scope;
  m_depth++;
  exec(body.body);
  m_depth--;
  m_scope = saved;
}

// ---------------------------------------------------------------- variables

TVal Renderer::lookup(uint32_t id) const {
  const Scope& s = *m_scope;
  for (auto f = s.frames.rbegin(); f != s.frames.rend(); ++f)
    for (auto& [vid, val] : f->vars)
      if (vid == id) return val;
  if (id < s.params.size()) return s.params[id];
  return TVal::undefined();
}

void Renderer::assign(uint32_t id, const TVal& v) {
  auto& vars = m_scope->frames.back().vars;
  for (auto& [vid, val] : vars)
    if (vid == id) {
      val = v;
      return;
    }
  vars.emplace_back(id, v);
}

// ---------------------------------------------------------------- expressions

void Renderer::eval_args(const std::vector<Arg>& in, Args& out) {
  for (const Arg& a : in) {
    TVal v = eval(*a.value);
    if (a.name.empty())
      out.pos.push_back(v);
    else
      out.kw.emplace_back(a.name, v);
  }
}

TVal Renderer::eval(const Expr& e) {
  switch (e.kind) {
  case ExprKind::Null: return TVal::of(vm::Value::null());
  case ExprKind::Bool: return TVal::of(vm::Value::boolean(e.b));
  case ExprKind::Int: return TVal::of(vm::Value::integer(e.i));
  case ExprKind::Float: return TVal::of(vm::Value::number(e.f));
  case ExprKind::String: return TVal::str(e.s);
  case ExprKind::Undefined: return TVal::undefined();
  case ExprKind::Name: return lookup(e.id);
  case ExprKind::List: {
    vm::ArrayObj* arr = m_heap.new_array(e.items.size());
    for (const ExprPtr& item : e.items) m_heap.array_push(arr, materialize(eval(*item)));
    return TVal::of(vm::Value::object(vm::Tag::Array, arr));
  }
  case ExprKind::Dict: {
    vm::MapObj* map = m_heap.new_map(e.items.size() / 2);
    for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
      TVal k = eval(*e.items[i]);
      std::string_view key;
      if (!get_str(k, key)) fail(e.items[i]->loc, "a dict's keys must be strings, not " + type_name(k));
      m_heap.map_set(map, key, materialize(eval(*e.items[i + 1])));
    }
    return TVal::of(vm::Value::object(vm::Tag::Map, map));
  }
  case ExprKind::Attr: return get_attr(eval(*e.a), e.s, e.loc);
  case ExprKind::Item: {
    TVal obj = eval(*e.a);
    return get_item(obj, eval(*e.b2), e.loc);
  }
  case ExprKind::Slice: {
    TVal obj = eval(*e.a);
    TVal bounds[3];
    bool given[3] = {false, false, false};
    for (size_t k = 0; k < 3 && k < e.items.size(); k++)
      if (e.items[k]) {
        bounds[k] = eval(*e.items[k]);
        if (!bounds[k].is_none() && !bounds[k].is_undefined()) {
          if (!bounds[k].is(vm::Tag::Int)) fail(e.loc, "slice bounds must be integers, not " + type_name(bounds[k]));
          given[k] = true;
        }
      }
    int64_t step = given[2] ? bounds[2].v.i : 1;
    if (step == 0) fail(e.loc, "a slice's step cannot be zero");
    Elements items(m_heap);
    std::string_view text;
    bool is_text = get_str(obj, text);
    if (!is_text && !obj.is(vm::Tag::Array)) fail(e.loc, "cannot slice " + type_name(obj));
    if (!elements(obj, items)) fail(e.loc, "cannot slice " + type_name(obj));
    int64_t n = int64_t(items.items.size());
    auto clamp = [&](bool has, int64_t v, int64_t dflt, int64_t lo, int64_t hi) {
      if (!has) return dflt;
      if (v < 0) v += n;
      return std::min(std::max(v, lo), hi);
    };
    int64_t start = step > 0 ? clamp(given[0], bounds[0].v.i, 0, 0, n) : clamp(given[0], bounds[0].v.i, n - 1, -1, n - 1);
    int64_t stop = step > 0 ? clamp(given[1], bounds[1].v.i, n, 0, n) : clamp(given[1], bounds[1].v.i, -1, -1, n - 1);
    if (is_text) {
      std::string out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out += items.items[size_t(i)].s;
      return make_string(out);
    }
    vm::ArrayObj* arr = m_heap.new_array(0);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      m_cc.items();
      m_heap.array_push(arr, items.items[size_t(i)].v);
    }
    return TVal::of(vm::Value::object(vm::Tag::Array, arr));
  }
  case ExprKind::MethodCall: {
    TVal obj = eval(*e.a);
    Args a;
    eval_args(e.args, a);
    return call_method(obj, e.s, a, e.loc);
  }
  case ExprKind::Filter: {
    TVal v = eval(*e.a);
    Args a;
    eval_args(e.args, a);
    return apply_filter(Filter(e.id), v, a, e.loc);
  }
  case ExprKind::Test: {
    TVal v = eval(*e.a);
    Args a;
    eval_args(e.args, a);
    return TVal::of(vm::Value::boolean(apply_test(Test(e.id), v, a, e.loc) != e.negated));
  }
  case ExprKind::Neg: {
    TVal v = eval(*e.a);
    if (v.is(vm::Tag::Int)) {
      if (v.v.i == std::numeric_limits<int64_t>::min()) fail(e.loc, "integer overflow");
      return TVal::of(vm::Value::integer(-v.v.i));
    }
    if (v.is(vm::Tag::Float)) return TVal::of(vm::Value::number(-v.v.f));
    fail(e.loc, "cannot negate " + type_name(v));
  }
  case ExprKind::Plus: {
    TVal v = eval(*e.a);
    if (!is_number(v)) fail(e.loc, "unary + needs a number, not " + type_name(v));
    return v;
  }
  case ExprKind::Not: return TVal::of(vm::Value::boolean(!truthy(eval(*e.a))));
  case ExprKind::Binary: return eval_binary(e);
  case ExprKind::And: {
    TVal l = eval(*e.a);
    return truthy(l) ? eval(*e.b2) : l;
  }
  case ExprKind::Or: {
    TVal l = eval(*e.a);
    return truthy(l) ? l : eval(*e.b2);
  }
  case ExprKind::Cond:
    if (truthy(eval(*e.b2))) return eval(*e.a);
    return e.c ? eval(*e.c) : TVal::undefined();
  case ExprKind::LoopAttr:
  case ExprKind::LoopCycle: return loop_attr(e);
  case ExprKind::OutputFormat: return make_string(output_format(e));
  case ExprKind::Ctx: return ctx_value();
  case ExprKind::Role: fail(e.loc, "_.role() can only be used as {{ _.role(...) }}");
  case ExprKind::TemplateCall: {
    Sink tmp(Sink::Mode::Text);
    Sink* saved = m_sink;
    m_sink = &tmp;
    call_template(e);
    m_sink = saved;
    return make_string(tmp.text);
  }
  case ExprKind::EnumVariant: return enum_variant(e);
  case ExprKind::GlobalCall: return global_call(e);
  }
  return TVal::undefined();
}

TVal Renderer::eval_binary(const Expr& e) {
  TVal a = eval(*e.a);
  TVal b = eval(*e.b2);
  switch (e.op) {
  case BinOp::Eq: return TVal::of(vm::Value::boolean(equal(a, b)));
  case BinOp::Ne: return TVal::of(vm::Value::boolean(!equal(a, b)));
  case BinOp::Lt: return TVal::of(vm::Value::boolean(compare(a, b) < 0));
  case BinOp::Le: return TVal::of(vm::Value::boolean(compare(a, b) <= 0));
  case BinOp::Gt: return TVal::of(vm::Value::boolean(compare(a, b) > 0));
  case BinOp::Ge: return TVal::of(vm::Value::boolean(compare(a, b) >= 0));
  case BinOp::In: return TVal::of(vm::Value::boolean(contains(b, a, e.loc)));
  case BinOp::NotIn: return TVal::of(vm::Value::boolean(!contains(b, a, e.loc)));
  case BinOp::Concat: {
    std::string s = to_text(a);
    append_text(s, b);
    return make_string(s);
  }
  default: return arith(e.op, a, b, e.loc);
  }
}

TVal Renderer::arith(BinOp op, const TVal& a, const TVal& b, const lang::SourceLoc& loc) {
  static const char* const kOps[] = {"+", "-", "*", "/", "//", "%", "**"};
  auto unsupported = [&]() {
    fail(loc, std::string("unsupported operand types for ") + kOps[int(op)] + ": " + type_name(a) + " and " +
                  type_name(b));
  };
  if (is_number(a) && is_number(b)) {
    bool ints = a.is(vm::Tag::Int) && b.is(vm::Tag::Int);
    if (ints) {
      int64_t x = a.v.i, y = b.v.i, r = 0;
      switch (op) {
      case BinOp::Add:
        if (__builtin_add_overflow(x, y, &r)) fail(loc, "integer overflow");
        return TVal::of(vm::Value::integer(r));
      case BinOp::Sub:
        if (__builtin_sub_overflow(x, y, &r)) fail(loc, "integer overflow");
        return TVal::of(vm::Value::integer(r));
      case BinOp::Mul:
        if (__builtin_mul_overflow(x, y, &r)) fail(loc, "integer overflow");
        return TVal::of(vm::Value::integer(r));
      case BinOp::Div:
        if (y == 0) fail(loc, "division by zero");
        return TVal::of(vm::Value::number(double(x) / double(y)));
      case BinOp::FloorDiv:
        if (y == 0) fail(loc, "division by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) fail(loc, "integer overflow");
        return TVal::of(vm::Value::integer(floor_div(x, y)));
      case BinOp::Mod:
        if (y == 0) fail(loc, "division by zero");
        if (y == -1) return TVal::of(vm::Value::integer(0));
        return TVal::of(vm::Value::integer(floor_mod(x, y)));
      case BinOp::Pow: {
        if (y < 0) return TVal::of(vm::Value::number(std::pow(double(x), double(y))));
        int64_t result = 1, base = x;
        for (int64_t e = y; e > 0; e >>= 1) {
          if ((e & 1) && __builtin_mul_overflow(result, base, &result)) fail(loc, "integer overflow");
          if (e > 1 && __builtin_mul_overflow(base, base, &base)) fail(loc, "integer overflow");
        }
        return TVal::of(vm::Value::integer(result));
      }
      default: break;
      }
    }
    double x = as_double(a), y = as_double(b);
    switch (op) {
    case BinOp::Add: return TVal::of(vm::Value::number(x + y));
    case BinOp::Sub: return TVal::of(vm::Value::number(x - y));
    case BinOp::Mul: return TVal::of(vm::Value::number(x * y));
    case BinOp::Div:
      if (y == 0) fail(loc, "division by zero");
      return TVal::of(vm::Value::number(x / y));
    case BinOp::FloorDiv:
      if (y == 0) fail(loc, "division by zero");
      return TVal::of(vm::Value::number(std::floor(x / y)));
    case BinOp::Mod: {
      if (y == 0) fail(loc, "division by zero");
      double r = std::fmod(x, y);
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return TVal::of(vm::Value::number(r));
    }
    case BinOp::Pow: return TVal::of(vm::Value::number(std::pow(x, y)));
    default: break;
    }
  }
  std::string_view sa, sb;
  bool a_str = get_str(a, sa), b_str = get_str(b, sb);
  if (op == BinOp::Add && a_str && b_str) {
    vm::StringObj* s = m_heap.build_string(sa.size() + sb.size(), [&](std::string& out) {
      vm::append_checked(out, sa, m_cc);
      vm::append_checked(out, sb, m_cc);
    });
    return TVal::of(vm::Value::object(vm::Tag::String, s));
  }
  if (op == BinOp::Add && a.is(vm::Tag::Array) && b.is(vm::Tag::Array)) {
    const auto& x = a.v.as_array()->items;
    const auto& y = b.v.as_array()->items;
    vm::ArrayObj* arr = m_heap.new_array(0);
    m_heap.array_reserve(arr, x.size() + y.size());
    for (vm::Value v : x) m_heap.array_push(arr, v);
    for (vm::Value v : y) m_heap.array_push(arr, v);
    m_cc.items(x.size() + y.size());
    return TVal::of(vm::Value::object(vm::Tag::Array, arr));
  }
  if (op == BinOp::Mul && ((a_str && b.is(vm::Tag::Int)) || (b_str && a.is(vm::Tag::Int)))) {
    std::string_view s = a_str ? sa : sb;
    int64_t n = a_str ? b.v.i : a.v.i;
    if (n <= 0 || s.empty()) return TVal::str("");
    if (uint64_t(n) > (uint64_t(1) << 40) / s.size()) fail(loc, "string repetition too large");
    vm::StringObj* r = m_heap.build_string(s.size() * size_t(n), [&](std::string& out) {
      for (int64_t i = 0; i < n; i++) vm::append_checked(out, s, m_cc);
    });
    return TVal::of(vm::Value::object(vm::Tag::String, r));
  }
  unsupported();
  return TVal::undefined();
}

TVal Renderer::loop_attr(const Expr& e) {
  if (m_scope->loops.empty()) fail(e.loc, "loop is only defined inside a for loop");
  const LoopState& l = *m_scope->loops.back();
  if (e.kind == ExprKind::LoopCycle) {
    Args a;
    eval_args(e.args, a);
    if (a.pos.empty()) fail(e.loc, "loop.cycle() needs at least one argument");
    return a.pos[l.index0 % a.pos.size()];
  }
  auto integer = [](size_t v) { return TVal::of(vm::Value::integer(int64_t(v))); };
  auto boolean = [](bool v) { return TVal::of(vm::Value::boolean(v)); };
  auto item = [&](size_t i) {
    if (!l.split) return l.at(i);
    vm::ArrayObj* pair = m_heap.new_array(2);
    m_heap.array_push(pair, materialize(l.items->items[i]));
    m_heap.array_push(pair, materialize(l.items->values[i]));
    return TVal::of(vm::Value::object(vm::Tag::Array, pair));
  };
  const std::string& a = e.s;
  if (a == "index") return integer(l.index0 + 1);
  if (a == "index0") return integer(l.index0);
  if (a == "revindex") return integer(l.length - l.index0);
  if (a == "revindex0") return integer(l.length - l.index0 - 1);
  if (a == "first") return boolean(l.index0 == 0);
  if (a == "last") return boolean(l.index0 + 1 == l.length);
  if (a == "length") return integer(l.length);
  if (a == "depth") return integer(1);
  if (a == "depth0") return integer(0);
  if (a == "previtem") return l.index0 > 0 ? item(l.index0 - 1) : TVal::undefined();
  if (a == "nextitem") return l.index0 + 1 < l.length ? item(l.index0 + 1) : TVal::undefined();
  fail(e.loc, "loop has no attribute '" + a + "'");
}

TVal Renderer::ctx_value() {
  if (m_have_ctx) return m_ctx;
  vm::MapObj* ctx = m_heap.new_map(2);
  if (m_in.client) {
    const ClientContext& c = *m_in.client;
    vm::MapObj* client = m_heap.new_map(4);
    m_heap.map_set(client, "name", m_heap.string_value(c.name));
    m_heap.map_set(client, "provider", m_heap.string_value(c.provider));
    m_heap.map_set(client, "default_role", m_heap.string_value(c.default_role));
    vm::ArrayObj* roles = m_heap.new_array(c.allowed_roles.size());
    for (const std::string& r : c.allowed_roles) m_heap.array_push(roles, m_heap.string_value(r));
    m_heap.map_set(client, "allowed_roles", vm::Value::object(vm::Tag::Array, roles));
    m_heap.map_set(ctx, "client", vm::Value::object(vm::Tag::Map, client));
  }
  vm::MapObj* tags = m_heap.new_map(m_in.tags ? m_in.tags->size() : 0);
  if (m_in.tags)
    for (auto& [k, v] : *m_in.tags) m_heap.map_set(tags, k, m_heap.string_value(v));
  m_heap.map_set(ctx, "tags", vm::Value::object(vm::Tag::Map, tags));
  m_ctx = TVal::of(vm::Value::object(vm::Tag::Map, ctx));
  m_have_ctx = true;
  return m_ctx;
}

TVal Renderer::global_call(const Expr& e) {
  Args a;
  eval_args(e.args, a);
  switch (GlobalFn(e.id)) {
  case GlobalFn::Range: {
    if (!a.kw.empty() || a.pos.empty() || a.pos.size() > 3) fail(e.loc, "range() takes 1 to 3 integer arguments");
    for (const TVal& v : a.pos)
      if (!v.is(vm::Tag::Int)) fail(e.loc, "range() takes integers, not " + type_name(v));
    TVal r;
    r.k = TVal::K::Range;
    if (a.pos.size() == 1) {
      r.start = 0;
      r.stop = a.pos[0].v.i;
    } else {
      r.start = a.pos[0].v.i;
      r.stop = a.pos[1].v.i;
      if (a.pos.size() == 3) r.step = a.pos[2].v.i;
    }
    if (r.step == 0) fail(e.loc, "range() step cannot be zero");
    return r;
  }
  case GlobalFn::Namespace:
  case GlobalFn::Dict: {
    vm::MapObj* map = m_heap.new_map(a.kw.size());
    if (a.pos.size() > 1) fail(e.loc, "too many positional arguments");
    if (!a.pos.empty()) {
      const TVal& init = a.pos[0];
      if (!init.is(vm::Tag::Map) && init.k != TVal::K::Namespace)
        fail(e.loc, "expected a dict argument, not " + type_name(init));
      const vm::MapObj* src = init.v.as_map();
      for (size_t i = 0; i < src->size(); i++) m_heap.map_set(map, src->keys[i], src->values[i]);
    }
    for (auto& [k, v] : a.kw) m_heap.map_set(map, k, materialize(v));
    TVal r = TVal::of(vm::Value::object(vm::Tag::Map, map));
    if (GlobalFn(e.id) == GlobalFn::Namespace) r.k = TVal::K::Namespace;
    return r;
  }
  }
  return TVal::undefined();
}

TVal Renderer::enum_variant(const Expr& e) {
  for (size_t i = 0; i < m_program.enums.size(); i++) {
    const vm::EnumInfo& en = m_program.enums[i];
    if (en.name != e.s) continue;
    for (size_t v = 0; v < en.variants.size(); v++)
      if (en.variants[v] == e.s2) return TVal::of(vm::Value::enum_variant(uint32_t(i), uint32_t(v)));
    fail(e.loc, "enum " + e.s + " has no variant " + e.s2);
  }
  fail(e.loc, "unknown enum " + e.s);
}

// ---------------------------------------------------------------- values

bool Renderer::get_str(const TVal& v, std::string_view& out) {
  if (v.k == TVal::K::Str) {
    out = v.s;
    return true;
  }
  if (v.is(vm::Tag::String)) {
    out = v.v.as_string()->text;
    return true;
  }
  return false;
}

namespace {
size_t visible_fields(const vm::CompiledProgram& p, const vm::InstanceObj* o) {
  if (o->class_id >= p.classes.size()) return 0;
  const auto& names = p.classes[o->class_id].field_names;
  size_t n = 0;
  for (size_t i = 0; i < o->fields.size() && i < names.size(); i++) n += names[i].empty() || names[i][0] != '#';
  return n;
}
} // namespace

bool Renderer::truthy(const TVal& v) const {
  switch (v.k) {
  case TVal::K::Undefined: return false;
  case TVal::K::Str: return !v.s.empty();
  case TVal::K::Items:
    return v.v.tag == vm::Tag::Map ? v.v.as_map()->size() > 0 : visible_fields(m_program, v.v.as_instance()) > 0;
  case TVal::K::Range: return range_length(v) > 0;
  case TVal::K::Namespace: return true;
  case TVal::K::Value: break;
  }
  switch (v.v.tag) {
  case vm::Tag::Null: return false;
  case vm::Tag::Bool: return v.v.b;
  case vm::Tag::Int: return v.v.i != 0;
  case vm::Tag::Float: return v.v.f != 0;
  case vm::Tag::Enum: return true;
  case vm::Tag::String: return !v.v.as_string()->text.empty();
  case vm::Tag::Array: return !v.v.as_array()->items.empty();
  case vm::Tag::Map: return v.v.as_map()->size() > 0;
  case vm::Tag::Instance:
    return is_media(m_program, v.v) || visible_fields(m_program, v.v.as_instance()) > 0;
  case vm::Tag::Function:
  case vm::Tag::Future:
  case vm::Tag::TaskGroup:
  case vm::Tag::CancelToken:
  case vm::Tag::Cell: return true;
  }
  return false;
}

vm::Value Renderer::materialize(const TVal& v) {
  switch (v.k) {
  case TVal::K::Value:
  case TVal::K::Namespace: return v.v;
  case TVal::K::Undefined: return vm::Value::null();
  case TVal::K::Str: return m_heap.string_value(v.s);
  case TVal::K::Items:
  case TVal::K::Range: {
    Elements e(m_heap);
    elements(v, e);
    vm::ArrayObj* arr = m_heap.new_array(0);
    m_heap.array_reserve(arr, e.items.size());
    for (const TVal& item : e.items) {
      m_cc.items();
      m_heap.array_push(arr, materialize(item));
    }
    return vm::Value::object(vm::Tag::Array, arr);
  }
  }
  return vm::Value::null();
}

void Renderer::append_text(std::string& out, const TVal& v) {
  switch (v.k) {
  case TVal::K::Undefined: return;
  case TVal::K::Str: vm::append_checked(out, v.s, m_cc); return;
  case TVal::K::Value:
  case TVal::K::Namespace: append_display(out, m_program, v.v, m_cc, nullptr); return;
  case TVal::K::Items:
  case TVal::K::Range: append_display(out, m_program, materialize(v), m_cc, nullptr); return;
  }
}

std::string Renderer::type_name(const TVal& v) const {
  switch (v.k) {
  case TVal::K::Undefined: return "an undefined value";
  case TVal::K::Str: return "string";
  case TVal::K::Items: return "items";
  case TVal::K::Range: return "range";
  case TVal::K::Namespace: return "namespace";
  case TVal::K::Value: break;
  }
  switch (v.v.tag) {
  case vm::Tag::Null: return "none";
  case vm::Tag::Bool: return "bool";
  case vm::Tag::Int: return "int";
  case vm::Tag::Float: return "float";
  case vm::Tag::String: return "string";
  case vm::Tag::Array: return "list";
  case vm::Tag::Map: return "map";
  case vm::Tag::Enum:
    return v.v.enum_id() < m_program.enums.size() ? "enum " + m_program.enums[v.v.enum_id()].name : "enum";
  case vm::Tag::Instance: {
    uint32_t c = v.v.as_instance()->class_id;
    return c < m_program.classes.size() ? m_program.classes[c].name : "instance";
  }
  case vm::Tag::Function:
  case vm::Tag::Future:
  case vm::Tag::TaskGroup:
  case vm::Tag::CancelToken:
  case vm::Tag::Cell: return "function";
  }
  return "value";
}

namespace {
const std::string* enum_name_of(const vm::CompiledProgram& p, vm::Value v) {
  if (v.enum_id() < p.enums.size() && v.variant() < p.enums[v.enum_id()].variants.size())
    return &p.enums[v.enum_id()].variants[v.variant()];
  return nullptr;
}

// Kinds in the order unlike values sort.
int kind_rank(const TVal& v) {
  switch (v.k) {
  case TVal::K::Undefined: return 0;
  case TVal::K::Str: return 4;
  case TVal::K::Items:
  case TVal::K::Range: return 5;
  case TVal::K::Namespace: return 6;
  case TVal::K::Value: break;
  }
  switch (v.v.tag) {
  case vm::Tag::Null: return 1;
  case vm::Tag::Bool: return 2;
  case vm::Tag::Int:
  case vm::Tag::Float: return 3;
  case vm::Tag::String:
  case vm::Tag::Enum: return 4;
  case vm::Tag::Array: return 5;
  case vm::Tag::Map:
  case vm::Tag::Instance: return 6;
  case vm::Tag::Function:
  case vm::Tag::Future:
  case vm::Tag::TaskGroup:
  case vm::Tag::CancelToken:
  case vm::Tag::Cell: return 7;
  }
  return 7;
}

int cmp_ci(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; i++) {
    unsigned char x = static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(a[i])));
    unsigned char y = static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(b[i])));
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}
} // namespace

bool Renderer::equal(const TVal& a, const TVal& b) {
  if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
  std::string_view sa, sb;
  bool as = get_str(a, sa), bs = get_str(b, sb);
  if (as && bs) return sa == sb;
  if (a.is(vm::Tag::Enum) && bs) {
    const std::string* n = enum_name_of(m_program, a.v);
    return n && *n == sb;
  }
  if (b.is(vm::Tag::Enum) && as) {
    const std::string* n = enum_name_of(m_program, b.v);
    return n && *n == sa;
  }
  if (as || bs) return false;
  if (is_number(a) && is_number(b)) {
    if (a.is(vm::Tag::Int) && b.is(vm::Tag::Int)) return a.v.i == b.v.i;
    return as_double(a) == as_double(b);
  }
  vm::Value x = materialize(a), y = materialize(b);
  return vm::values_equal(x, y, m_in.cancel_state);
}

int Renderer::compare(const TVal& a, const TVal& b, bool case_insensitive) {
  std::string_view sa, sb;
  bool as = get_str(a, sa), bs = get_str(b, sb);
  if (as && bs) {
    if (case_insensitive) return cmp_ci(sa, sb);
    return sa.compare(sb) < 0 ? -1 : sa.compare(sb) > 0 ? 1 : 0;
  }
  // Enums compare by variant name, with strings and with each other.
  if ((a.is(vm::Tag::Enum) || as) && (b.is(vm::Tag::Enum) || bs)) {
    const std::string* na = a.is(vm::Tag::Enum) ? enum_name_of(m_program, a.v) : nullptr;
    const std::string* nb = b.is(vm::Tag::Enum) ? enum_name_of(m_program, b.v) : nullptr;
    std::string_view x = na ? std::string_view(*na) : sa;
    std::string_view y = nb ? std::string_view(*nb) : sb;
    int c = case_insensitive ? cmp_ci(x, y) : (x < y ? -1 : x > y ? 1 : 0);
    return c;
  }
  if (is_number(a) && is_number(b)) {
    if (a.is(vm::Tag::Int) && b.is(vm::Tag::Int)) return a.v.i < b.v.i ? -1 : a.v.i > b.v.i ? 1 : 0;
    double x = as_double(a), y = as_double(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is(vm::Tag::Bool) && b.is(vm::Tag::Bool)) return int(a.v.b) - int(b.v.b);
  if ((a.is(vm::Tag::Array) || a.k == TVal::K::Range || a.k == TVal::K::Items) &&
      (b.is(vm::Tag::Array) || b.k == TVal::K::Range || b.k == TVal::K::Items)) {
    Elements x(m_heap), y(m_heap);
    elements(a, x);
    elements(b, y);
    for (size_t i = 0; i < x.items.size() && i < y.items.size(); i++) {
      m_cc.items();
      int c = compare(x.items[i], y.items[i], case_insensitive);
      if (c) return c;
    }
    return x.items.size() < y.items.size() ? -1 : x.items.size() > y.items.size() ? 1 : 0;
  }
  int ra = kind_rank(a), rb = kind_rank(b);
  return ra < rb ? -1 : ra > rb ? 1 : 0;
}

TVal Renderer::get_attr(const TVal& obj, std::string_view name, const lang::SourceLoc& loc) {
  switch (obj.k) {
  case TVal::K::Undefined: fail(loc, "cannot read '" + std::string(name) + "' of an undefined value");
  case TVal::K::Namespace: {
    const vm::Value* f = obj.v.as_map()->find(name);
    return f ? TVal::of(*f) : TVal::undefined();
  }
  case TVal::K::Value: break;
  default: return TVal::undefined();
  }
  switch (obj.v.tag) {
  case vm::Tag::Map: {
    const vm::Value* f = obj.v.as_map()->find(name);
    return f ? TVal::of(*f) : TVal::undefined();
  }
  case vm::Tag::Instance: {
    if (is_media(m_program, obj.v)) return TVal::undefined();
    const vm::InstanceObj* o = obj.v.as_instance();
    if (o->class_id >= m_program.classes.size()) return TVal::undefined();
    const vm::ClassInfo& c = m_program.classes[o->class_id];
    int64_t i = c.find_field(std::string(name));
    if (i < 0 || size_t(i) >= o->fields.size() || (!name.empty() && name[0] == '#')) return TVal::undefined();
    return TVal::of(o->fields[size_t(i)]);
  }
  case vm::Tag::Enum:
    if (name == "value") {
      const std::string* n = enum_name_of(m_program, obj.v);
      return n ? TVal::str(*n) : TVal::undefined();
    }
    return TVal::undefined();
  default: return TVal::undefined();
  }
}

TVal Renderer::get_item(const TVal& obj, const TVal& key, const lang::SourceLoc& loc) {
  if (obj.is_undefined()) fail(loc, "cannot index an undefined value");
  std::string_view name, text;
  bool indexable = obj.is(vm::Tag::Array) || get_str(obj, text) || obj.k == TVal::K::Items || obj.k == TVal::K::Range;
  if (!key.is(vm::Tag::Int)) {
    if (indexable) fail(loc, "list and string indexes must be integers, not " + type_name(key));
    if (get_str(key, name)) return get_attr(obj, name, loc);
    return TVal::undefined();
  }
  int64_t i = key.v.i;
  if (obj.is(vm::Tag::Array)) {
    const auto& items = obj.v.as_array()->items;
    if (i < 0) i += int64_t(items.size());
    if (i < 0 || size_t(i) >= items.size()) return TVal::undefined();
    return TVal::of(items[size_t(i)]);
  }
  if (get_str(obj, text)) {
    int64_t n = int64_t(utf8_length(text));
    if (i < 0) i += n;
    if (i < 0 || i >= n) return TVal::undefined();
    size_t at = utf8_offset(text, size_t(i));
    size_t end = utf8_offset(text, size_t(i) + 1);
    return TVal::str(text.substr(at, end - at));
  }
  if (obj.k == TVal::K::Items || obj.k == TVal::K::Range) {
    Elements e(m_heap);
    elements(obj, e);
    if (i < 0) i += int64_t(e.items.size());
    if (i < 0 || size_t(i) >= e.items.size()) return TVal::undefined();
    return e.items[size_t(i)];
  }
  return TVal::undefined();
}

bool Renderer::contains(const TVal& container, const TVal& item, const lang::SourceLoc& loc) {
  std::string_view hay, needle;
  if (get_str(container, hay)) {
    if (!get_str(item, needle)) fail(loc, "'in <string>' needs a string on its left, not " + type_name(item));
    m_cc.bytes(hay.size());
    return hay.find(needle) != std::string_view::npos;
  }
  if (container.is_undefined() || container.is_none()) return false;
  if (container.is(vm::Tag::Map) || container.k == TVal::K::Namespace) {
    if (!get_str(item, needle)) return false;
    return container.v.as_map()->find(needle) != nullptr;
  }
  if (container.is(vm::Tag::Instance) && !is_media(m_program, container.v)) {
    if (!get_str(item, needle)) return false;
    return !get_attr(container, needle, loc).is_undefined();
  }
  Elements e(m_heap);
  if (!elements(container, e)) fail(loc, "cannot look for a value in " + type_name(container));
  for (const TVal& x : e.items) {
    m_cc.items();
    if (equal(x, item)) return true;
  }
  return false;
}

size_t Renderer::length(const TVal& v, const lang::SourceLoc& loc) {
  std::string_view s;
  if (get_str(v, s)) return utf8_length(s);
  switch (v.k) {
  case TVal::K::Undefined: return 0;
  case TVal::K::Range: return size_t(range_length(v));
  case TVal::K::Items:
    return v.v.tag == vm::Tag::Map ? v.v.as_map()->size() : visible_fields(m_program, v.v.as_instance());
  case TVal::K::Namespace: return v.v.as_map()->size();
  default: break;
  }
  switch (v.v.tag) {
  case vm::Tag::Array: return v.v.as_array()->items.size();
  case vm::Tag::Map: return v.v.as_map()->size();
  case vm::Tag::Instance:
    if (!is_media(m_program, v.v)) return visible_fields(m_program, v.v.as_instance());
    break;
  default: break;
  }
  fail(loc, type_name(v) + " has no length");
}

bool Renderer::elements(const TVal& v, Elements& out, bool split_pairs) {
  std::string_view s;
  if (get_str(v, s)) {
    out.reserve(utf8_length(s));
    for (size_t i = 0; i < s.size();) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
      len = std::min(len, s.size() - i);
      out.push(TVal::str(s.substr(i, len)));
      i += len;
    }
    return true;
  }
  switch (v.k) {
  case TVal::K::Undefined: return true;
  case TVal::K::Range: {
    int64_t n = range_length(v);
    out.reserve(size_t(n));
    for (int64_t i = 0; i < n; i++) {
      m_cc.items();
      out.push(TVal::of(vm::Value::integer(range_item(v, uint64_t(i)))));
    }
    return true;
  }
  case TVal::K::Namespace: {
    const vm::MapObj* m = v.v.as_map();
    out.reserve(m->size());
    for (size_t i = 0; i < m->size(); i++) out.push(make_string(m->keys[i]));
    return true;
  }
  case TVal::K::Items: {
    std::vector<std::pair<std::string_view, vm::Value>> pairs;
    if (v.v.tag == vm::Tag::Map) {
      const vm::MapObj* m = v.v.as_map();
      for (size_t i = 0; i < m->size(); i++) pairs.emplace_back(m->keys[i], m->values[i]);
    } else {
      const vm::InstanceObj* o = v.v.as_instance();
      const vm::ClassInfo& c = m_program.classes[o->class_id];
      for (size_t i = 0; i < o->fields.size() && i < c.field_names.size(); i++)
        if (c.field_names[i].empty() || c.field_names[i][0] != '#') pairs.emplace_back(c.field_names[i], o->fields[i]);
    }
    out.reserve(pairs.size());
    for (auto& [k, val] : pairs) {
      m_cc.items();
      if (split_pairs) {
        out.push(TVal::str(k));
        out.values.push_back(TVal::of(val));
      } else {
        vm::ArrayObj* pair = m_heap.new_array(2);
        m_heap.array_push(pair, m_heap.string_value(k));
        m_heap.array_push(pair, val);
        out.push(TVal::of(vm::Value::object(vm::Tag::Array, pair)));
      }
    }
    if (split_pairs) {
      // values has the same length as items: charge it the same way.
      size_t more = out.values.capacity() * sizeof(TVal);
      m_heap.charge(more);
      out.charged += more;
    }
    return true;
  }
  case TVal::K::Value:
  case TVal::K::Str: break;
  }
  switch (v.v.tag) {
  case vm::Tag::Null: return true;
  case vm::Tag::Array: {
    const auto& items = v.v.as_array()->items;
    out.reserve(items.size());
    for (vm::Value x : items) out.push(TVal::of(x));
    m_cc.items(items.size());
    return true;
  }
  case vm::Tag::Map: {
    const vm::MapObj* m = v.v.as_map();
    out.reserve(m->size());
    for (size_t i = 0; i < m->size(); i++) out.push(TVal::str(m->keys[i]));
    m_cc.items(m->size());
    return true;
  }
  case vm::Tag::Instance: {
    if (is_media(m_program, v.v)) return false;
    const vm::InstanceObj* o = v.v.as_instance();
    if (o->class_id >= m_program.classes.size()) return false;
    const vm::ClassInfo& c = m_program.classes[o->class_id];
    for (size_t i = 0; i < o->fields.size() && i < c.field_names.size(); i++)
      if (c.field_names[i].empty() || c.field_names[i][0] != '#') out.push(TVal::str(c.field_names[i]));
    return true;
  }
  default: return false;
  }
}

} // namespace brake::llm::tmpl
