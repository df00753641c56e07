#include "schema/parse_output.h"

#include <algorithm>
#include <deque>

#include "schema/coerce.h"
#include "schema/jsonish.h"
#include "common/utf8.h"
#include "json/json.h"

namespace brake::schema {

namespace {

using lang::TypeId;
using lang::TypeKind;
using T = lang::TypeTable;

bool takes_text(const vm::CompiledProgram& p, TypeId t) {
  if (p.types.unalias(t) == T::STRING) return true;
  if (p.types.kind(t) != TypeKind::Union) return false;
  const auto& members = p.types.get(t).args;
  for (TypeId m : members)
    if (m != T::STRING && m != T::NUL) return false;
  return true; // string? : the text itself
}

// What choosing a candidate from where it was found costs.
int source_cost(jsonish::Source s) {
  switch (s) {
  case jsonish::Source::Whole: return 0;
  case jsonish::Source::Fence: return 0;
  case jsonish::Source::Prose: return 1;
  case jsonish::Source::ProseList: return 1;
  case jsonish::Source::Raw: return 3; // JSON found in the text is preferred to the text itself
  }
  return 0;
}

// Whether the fixing parser had to repair anything in `n`.
bool repaired(const jsonish::Document& doc, const jsonish::Node& n) {
  if (n.fixes != jsonish::kFixNone) return true;
  for (size_t i = 0; i < n.count; i++)
    if (repaired(doc, doc.child(n, i))) return true;
  return false;
}

} // namespace

namespace {

// Fits the text to `t` and hands the best value to `done(coercer, best)`.
template <typename Done>
bool fit(std::string_view text, lang::TypeId t, const vm::CompiledProgram& program, vm::Heap& heap,
         vm::CancelCheck& cc, std::string& error, const ParseOptions& options, Done done) {
  cc.check();
  jsonish::ParseBudget budget(heap);
  jsonish::Document doc(budget);
  Coercer coercer(doc, program, heap, budget, cc, options.partial);
  bool found = false;
  int best_score = 0;
  Coerced best;
  std::string first_error;
  size_t tried = 0;
  // The candidates' roots, where they stay put (the coercer remembers
  // values by their node's address).
  std::deque<jsonish::Node> roots;
  auto take = [&](const jsonish::Candidate& c) {
    const jsonish::Node& root = roots.emplace_back(c.value);
    int score = source_cost(c.source) + (c.source != jsonish::Source::Raw && repaired(doc, root) ? 1 : 0);
    // Fitting only adds to a score: a candidate that starts no better than
    // the best so far cannot win (a tie keeps the earlier one).
    if (found && score >= best_score) return true;
    Coerced value;
    if (coercer.coerce(root, t, value, score)) {
      if (!found || score < best_score) {
        best = std::move(value);
        best_score = score;
        found = true;
      }
    } else if (first_error.empty()) {
      first_error = coercer.error();
    }
    // Nothing can beat a perfect fit: the rest of the text is not searched.
    return !(found && best_score == 0);
  };
  try {
    tried = jsonish::parse(text, options.partial, doc, cc, take);
  } catch (const jsonish::DepthError& e) {
    // Too deep a candidate after one that fits: the one that fits.
    if (!found) {
      error = std::string("$: ") + e.what();
      return false;
    }
  }
  if (!found) {
    error = first_error.empty() ? "$: the reply holds no value" : first_error;
    if (tried == 1) error += " (the reply is not JSON)"; // only the text itself was tried
    return false;
  }
  done(coercer, best);
  return true;
}

// A reply that is the value itself: a string (or string?) or `any` type.
bool text_is_value(const vm::CompiledProgram& program, lang::TypeId t) {
  return takes_text(program, t) || program.types.kind(t) == TypeKind::Any;
}

// Nothing has arrived yet.
bool nothing_yet(std::string_view text, const ParseOptions& options) {
  return options.partial && text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

} // namespace

bool parse_output(std::string_view text, lang::TypeId t, const vm::CompiledProgram& program, vm::Heap& heap,
                  const std::atomic<uint32_t>* cancel_state, vm::Value& out, std::string& error,
                  const ParseOptions& options) {
  if (text_is_value(program, t)) {
    out = heap.string_value(text);
    return true;
  }
  vm::CancelCheck cc(cancel_state);
  if (nothing_yet(text, options)) {
    out = vm::Value::null();
    return true;
  }
  return fit(text, t, program, heap, cc, error, options,
             [&](Coercer& coercer, const Coerced& best) { out = coercer.build(best); });
}

bool parse_output_json(std::string_view text, lang::TypeId t, const vm::CompiledProgram& program, vm::Heap& heap,
                       const std::atomic<uint32_t>* cancel_state, HostJson& out, std::string& error,
                       const ParseOptions& options) {
  out = HostJson();
  if (text_is_value(program, t)) {
    json::append_string(out.text, text);
    return true;
  }
  vm::CancelCheck cc(cancel_state);
  if (nothing_yet(text, options)) {
    out.text = "null";
    return true;
  }
  return fit(text, t, program, heap, cc, error, options, [&](Coercer& coercer, const Coerced& best) {
    out.text.reserve(std::min(text.size(), size_t(1) << 20)); // most values are about as long as their reply
    out.exact = coercer.write_host_json(best, is_valid_utf8(text), out.text, out.classes, out.any_instance);
    if (!out.exact) out.value = coercer.build(best);
  });
}

} // namespace brake::schema
