// output_format.h: the text of {{ ctx.output_format }}: how a prompt tells
// the model the shape of the answer (an LLM function's return type).
//
// The forms follow BAML's newer engine (../shared/conformance's
// prompt-render records): "Answer as an int", "Answer in JSON using this
// schema:" and the class's fields (by @alias, each @description after its
// comma as `// ...`), "Answer with any of the categories:" and the enum's
// variants, "Answer with a JSON Array using this schema:", nothing for a
// string; enums used inside classes are listed first. Keyword arguments:
// `prefix` (a string replaces the sentence before the schema; null drops
// it). The other options of BAML's output_format (or_splitter,
// always_hoist_enums, map_style, ...) are refused with a clear error until
// the typed-outputs work brings them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "vm/chunk.h"

namespace brake::schema {

bool render_output_format(const vm::CompiledProgram& program, lang::TypeId t,
                          const std::vector<std::pair<std::string, vm::Value>>& kwargs, std::string& out, std::string& error);

} // namespace brake::schema
