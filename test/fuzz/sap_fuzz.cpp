// sap_fuzz: arbitrary bytes as a model's reply through the schema-aligned
// parser (schema/parse_output.h), complete and partial, against a program
// whose types cover every coercion: classes with aliases, optional and
// recursive fields, enums with aliases, unions, lists, maps, literals,
// @assert and @stream attributes. It must never crash, hang or leak; a
// parse that succeeds must build a value JSON can write, and the JSON it
// writes for a host (parse_output_json) must be that value; where the
// strict-JSON fast path reads the bytes, it must make the fixing parser's
// nodes.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "json/json.h"
#include "schema/jsonish.h"
#include "schema/parse_output.h"
#include "jsonish_dump.h"
#include "vm/chunk.h"
#include "vm/value.h"

namespace {

const char* kProgram = R"(
enum Color {
  RED
  GREEN @alias("vert")
  BLUE @skip
}
class Inner {
  n int @assert(small, {{ this < 1000 }})
  tag "a" | "b"
  @@stream.done
}
class Outer {
  name string @alias("full name")
  color Color?
  items Inner[]
  scores map<string, float>
  next Outer?
  flag bool @stream.not_null
  either int | string | Inner
}
function F1(t: string) -> Outer { client "openai/gpt-4o" prompt #"{{ t }}"# }
function F2(t: string) -> (Color | int | bool)[] { client "openai/gpt-4o" prompt #"{{ t }}"# }
function F3(t: string) -> map<string, Inner[]> { client "openai/gpt-4o" prompt #"{{ t }}"# }
function F4(t: string) -> float { client "openai/gpt-4o" prompt #"{{ t }}"# }
)";

std::shared_ptr<brake::vm::CompiledProgram> program() {
  static std::shared_ptr<brake::vm::CompiledProgram> p = [] {
    auto c = brake::vm::compile_program(kProgram, "fuzz.baml");
    if (!c->diagnostics.empty()) abort();
    return c;
  }();
  return p;
}

namespace jsonish = brake::schema::jsonish;

void strict_matches_fixer(std::string_view text, std::atomic<uint32_t>& cancel) {
  brake::vm::Heap heap;
  jsonish::ParseBudget budget(heap);
  jsonish::Document doc(budget);
  brake::vm::CancelCheck cc(&cancel);
  jsonish::Node fast;
  if (!jsonish::read_strict(text, doc, cc, fast)) return;
  // (Where more than 256 spaces sit between values the fixing parser's
  // look-ahead gives up early: jsonish.h documents the difference.)
  size_t run = 0;
  for (char c : text) {
    run = c == ' ' || c == '\t' || c == '\n' || c == '\r' ? run + 1 : 0;
    if (run > 200) return;
  }
  size_t end = 0;
  jsonish::Node fixed = jsonish::parse_value(text, doc, cc, &end);
  if (text.find_first_not_of(" \t\n\r", end) != std::string_view::npos || jsonish_dump(doc, fast) != jsonish_dump(doc, fixed))
    abort();
}

// The host's JSON of the value, read back and written as the built value is.
void host_json_matches(const brake::vm::CompiledProgram& p, brake::lang::TypeId t, std::string_view text,
                       const brake::schema::ParseOptions& options, const std::string& built,
                       std::atomic<uint32_t>& cancel) {
  brake::vm::Heap heap;
  brake::schema::HostJson written;
  std::string error;
  if (!brake::schema::parse_output_json(text, t, p, heap, &cancel, written, error, options)) abort();
  if (!written.exact) return;
  std::string again;
  brake::json::serialize(brake::json::parse(written.text, heap, &cancel), p, again, 1 << 26, &cancel);
  if (again != built) abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = program();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::atomic<uint32_t> cancel{0};
  for (const char* fn : {"F1", "F2", "F3", "F4"}) {
    brake::lang::TypeId t = p->functions[p->function_index.at(fn)].return_type;
    for (bool partial : {false, true}) {
      brake::vm::Heap heap;
      brake::vm::Value out;
      std::string error;
      brake::schema::ParseOptions options;
      options.partial = partial;
      if (brake::schema::parse_output(text, t, *p, heap, &cancel, out, error, options)) {
        std::string js;
        try {
          brake::json::serialize(out, *p, js, 1 << 26, &cancel);
          host_json_matches(*p, t, text, options, js, cancel);
        } catch (const brake::json::Error&) {
          // a float JSON cannot hold (inf from "1e999") is not the parser's fault
        }
      } else if (error.empty() || error[0] != '$') {
        abort(); // every failure says where
      }
    }
  }
  strict_matches_fixer(text, cancel);
  return 0;
}
