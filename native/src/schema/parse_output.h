// parse_output.h: a model's reply text -> a value of an LLM function's
// return type, on the call's heap.
//
// This is the strict parser that stands until the schema-aligned parser
// (typed outputs) replaces it behind the same function:
//   - a `string` return type takes the text unchanged;
//   - any other type reads the text as JSON: the whole text, trimmed, or
//     the inside of one markdown code fence (```json ... ```); text that is
//     not JSON is taken as a string (an enum's variant written bare);
//   - the JSON is then fitted to the type: objects to classes (by each
//     field's @alias or name; a missing field is null when its type allows
//     it, else an error; other keys are ignored), strings to enums (by
//     @alias or name, then ignoring case), ints to floats, each member of
//     a union in turn (the first that fits wins).
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "vm/chunk.h"
#include "vm/value.h"

namespace brake::schema {

struct ParseOptions {
  // The text is a prefix of a reply still arriving (streaming): the result
  // is the best partial value so far rather than a failure.
  bool partial = false;
};

// Returns false with `error` (what did not fit, and where: "$.people[1].age:
// expected int, got string") when the text is not a `t`. Throws what the
// heap throws (vm::MemoryLimitExceeded, std::bad_alloc) and vm::Interrupted
// on a cancel.
bool parse_output(std::string_view text, lang::TypeId t, const vm::CompiledProgram& program, vm::Heap& heap,
                  const std::atomic<uint32_t>* cancel_state, vm::Value& out, std::string& error,
                  const ParseOptions& options = {});

} // namespace brake::schema
