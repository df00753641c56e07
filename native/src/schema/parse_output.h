// parse_output.h: a model's reply text -> a value of an LLM function's
// return type, on the call's heap.
//
// The schema-aligned parser (BAML's behaviour): a `string` return type
// takes the text unchanged; any other type is fitted from the candidates
// schema/jsonish.h finds in the text (the whole text as JSON, repaired
// when it needs to be; each markdown code fence; each object or array in
// the prose, and all of them as a list; the text itself), each fitted by
// schema/coerce.h with a score, and the best (lowest) score wins, the
// earlier candidate on a tie. See those two headers for the rules.
//
// Costs: time linear in the text (about 25 MB/s on replies of millions of
// values), the cancel state looked at well under every millisecond, the
// parser's own trees charged to `heap` while the parse runs (and given back
// when it returns), nesting deeper than jsonish::kMaxDepth refused with an
// error. Only the value returned is allocated on the heap.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "vm/chunk.h"
#include "vm/value.h"

namespace brake::schema {

struct ParseOptions {
  // The text is a prefix of a reply still arriving (streaming): the result
  // is the best partial value so far rather than a failure: fields not yet
  // arrived are null (lists and maps empty), unfinished strings are kept as
  // they are, an unfinished trailing number is left out, @stream.done
  // values are withheld until complete, a class whose @stream.not_null
  // field is still null is withheld, and a text with nothing yet is null.
  bool partial = false;
};

// Returns false with `error` (what did not fit, and where: "$.people[1].age:
// expected int, got string") when the text is not a `t`. Throws what the
// heap throws (vm::MemoryLimitExceeded, std::bad_alloc) and vm::Interrupted
// on a cancel.
bool parse_output(std::string_view text, lang::TypeId t, const vm::CompiledProgram& program, vm::Heap& heap,
                  const std::atomic<uint32_t>* cancel_state, vm::Value& out, std::string& error,
                  const ParseOptions& options = {});

// The value written as JSON for a host (schema/coerce.h: write_host_json).
struct HostJson {
  bool exact = true;         // false: the value is in `value` instead
  std::string text;          // the JSON
  std::string classes;       // each object's class name ("" for a map) and '\n', in pre-order
  bool any_instance = false; // whether `classes` names a class
  vm::Value value;           // when !exact: the value, built on the heap
};

// As parse_output, with the value written as JSON (`out.exact`) or, when
// JSON cannot carry it exactly, built on the heap (`out.value`).
bool parse_output_json(std::string_view text, lang::TypeId t, const vm::CompiledProgram& program, vm::Heap& heap,
                       const std::atomic<uint32_t>* cancel_state, HostJson& out, std::string& error,
                       const ParseOptions& options = {});

} // namespace brake::schema
