// output_format.h: the text of {{ ctx.output_format }}: how a prompt tells
// the model the shape of the answer (an LLM function's return type).
//
// The text is BAML's newer engine's (the "new" records of
// ../shared/conformance/prompt-render.jsonl; where BAML's older engine
// differs, the newer one wins):
//
//   string            nothing (unless a prefix is given)
//   int, float, bool  "Answer as an int" / "Answer as a float" / "Answer as a bool"
//   literal           "Answer using this specific value:\n" and the value ("TWO", 5, true)
//   enum              "Answer with any of the categories:\n" and its block:
//                     Name\n----\n- VALUE\n- VALUE: description
//   class             "Answer in JSON using this schema:\n" and its body:
//                     {\n  // class description\n\n  field: type, // field description\n}
//   T[]               "Answer with a JSON Array using this schema:\n" and `T[]`
//                     (`(A or B)[]` for a union element)
//   map<K, V>         "Answer in JSON using this schema:\n" and `map<K, V>`
//   A | B             "Answer in JSON using any of these schemas:\n" and `A or B`
//   T?                no sentence; `T or null` (null always last)
//
// Names are the shown ones: a field's or variant's @alias, a class's or
// enum's @@alias. @skip fields and variants are left out. Classes inside
// classes are written inline, indented two spaces per level.
//
// Hoisting: a class on a cycle of class references (recursive, directly or
// through others) cannot be written inline; it is defined once above the
// sentence (`Node {\n  ...\n}`, several in name order, separated by blank
// lines) and named wherever it is used, and the sentence of a hoisted target
// ends with a space and the name ("Answer in JSON using this schema: Node").
// An enum with more than 6 values, a @@description or a described value is
// hoisted too (its block first, then a blank line; used by name); other
// enums inside a schema are written inline as 'A' or 'B'.
//
// Keyword arguments (BAML's names; a wrong name or value type is an error):
//   prefix="..." | null     replaces the sentence (null: none at all)
//   or_splitter="..."       between union members (default " or ")
//   enum_value_prefix="..." | null   before each enum value (default "- ")
//   always_hoist_enums=bool every enum of the schema is hoisted
//   map_style="angle" | "object"     map<K, V> or { [key: K]: V }
//                           (also BAML's "type_parameters" / "object_literal")
//   hoist_classes=true | false | "auto" | ["A", ...]
//                           hoist every class / only recursive ones / these too
//   hoisted_class_prefix="..." | null  written before each hoisted definition
//                           ("interface A {"), and the sentence's "schema"
//                           becomes that word ("using this interface:")
//   quote_class_fields=bool field names in double quotes
//
// Not yet: a union's members show in lang::TypeTable's order (sorted by
// TypeId: declaration order for classes, enums and literals, not for
// builtins), not as written; a recursive type alias (`type J = J[]`, which
// BAML defines as `J = J[]` above the sentence) does not compile.
//
// A schema whose inline expansion passes kMaxClassBodies class bodies, or
// nests classes deeper than kMaxClassDepth, is refused (a program's classes
// can share parts, and writing each use out grows exponentially).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "vm/chunk.h"

namespace brake::schema {

constexpr size_t kMaxClassBodies = 10000;
constexpr size_t kMaxClassDepth = 100;

// Appends the text for return type `t` and the template's keyword
// arguments to `out` (nothing for a string without a prefix), or returns
// false with `error` (a sentence without the "ctx.output_format: " the
// template adds).
bool render_output_format(const vm::CompiledProgram& program, lang::TypeId t,
                          const std::vector<std::pair<std::string, vm::Value>>& kwargs, std::string& out, std::string& error);

} // namespace brake::schema
