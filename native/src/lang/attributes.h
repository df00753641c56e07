// attributes.h: what BAML's attributes on a declaration say to prompts and
// to the parser of a model's reply. `@name(...)` on a field or an enum
// variant, `@@name(...)` on a class or an enum as a whole:
//   @alias("x")           the name prompts show and replies use
//   @description("...")   text the output format adds
//   @skip                 left out of output formats and replies
//   @check(name, {{e}})   a constraint whose result is reported
//   @assert(name?, {{e}}) a constraint a parsed value must meet
//   @stream.done / @stream.not_null / @stream.with_state
//                         how a streamed (partial) value shows the field
// Other attributes (@@dynamic, ...) are parsed and ignored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace brake::lang {

struct Constraint {
  std::string name;       // "" for an unnamed @assert
  std::string expression; // the Jinja expression between {{ and }}, trimmed
  bool is_assert = false; // @assert (must hold) rather than @check (reported)
};

enum StreamFlag : uint8_t {
  kStreamDone = 1,      // shown only once complete
  kStreamNotNull = 2,   // its parent is held back until it has a value
  kStreamWithState = 4, // shown as {value, state}
};

struct Attributes {
  std::string alias;       // "" when none
  std::string description; // "" when none
  bool skip = false;
  uint8_t stream = 0; // StreamFlag bits
  std::vector<Constraint> constraints;
};

} // namespace brake::lang
