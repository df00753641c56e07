// json.h: JSON for scripts, over simdjson (parsing) and a small writer
// (serialising values for request bodies). Used by baml.http's
// Response.json() and by fetch bodies built from values.
#pragma once

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "vm/chunk.h"
#include "vm/value.h"

namespace brake::json {

// Nesting deeper than this is refused (as the host boundary refuses values
// deeper than runtime::kMaxValueDepth, which is the same).
constexpr int kMaxDepth = 512;

// Invalid JSON, or JSON brake cannot represent; what() says where and why.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Parses `text` into values on `heap` (charged like any allocation, and
// while it parses, 8 bytes per byte of text for the parser's own buffers:
// throws vm::MemoryLimitExceeded past a limit, vm::Interrupted on a cancel,
// std::bad_alloc when memory runs out). An integer beyond 64 bits is an
// Error (simdjson's DOM does not read it).
// Objects become maps in key order (a repeated key keeps its last value),
// integers that fit 64 bits ints, other numbers floats, null null.
vm::Value parse(std::string_view text, vm::Heap& heap, const std::atomic<uint32_t>* cancel_state);

// Appends `v` as JSON. Maps and instances become objects (an instance by its
// field names, without hidden `#` fields), enums their variant's name.
// Throws Error for values JSON cannot hold (a non-finite float, nesting
// past kMaxDepth, a cycle, a text past `max_bytes`: shared parts are written
// out each time) and vm::Interrupted on a cancel.
void serialize(vm::Value v, const vm::CompiledProgram& program, std::string& out, size_t max_bytes,
               const std::atomic<uint32_t>* cancel_state);

// Appends `s` as a JSON string literal (quotes and escapes; invalid UTF-8
// becomes U+FFFD). `html_safe` also escapes < > & ' (as Jinja's tojson).
void append_string(std::string& out, std::string_view s, bool html_safe = false);
// The same for `s` known to be valid UTF-8 (a part of a text checked once).
void append_valid_string(std::string& out, std::string_view s, bool html_safe = false);

} // namespace brake::json
