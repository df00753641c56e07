// sap_fuzz: arbitrary bytes as a model's reply through the schema-aligned
// parser (schema/parse_output.h), complete and partial, against a program
// whose types cover every coercion: classes with aliases, optional and
// recursive fields, enums with aliases, unions, lists, maps, literals,
// @assert and @stream attributes. It must never crash, hang or leak; a
// parse that succeeds must build a value JSON can write.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "json/json.h"
#include "schema/parse_output.h"
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
        } catch (const brake::json::Error&) {
          // a float JSON cannot hold (inf from "1e999") is not the parser's fault
        }
      } else if (error.empty() || error[0] != '$') {
        abort(); // every failure says where
      }
    }
  }
  return 0;
}
