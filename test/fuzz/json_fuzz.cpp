// json_fuzz: arbitrary bytes as a response body through json() (simdjson
// into script values), and each value that parses written back out and
// parsed again: the second parse must succeed and write the same text.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "json/json.h"
#include "vm/chunk.h"
#include "vm/value.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const brake::vm::CompiledProgram program("fuzz.json");
  std::atomic<uint32_t> cancel{0};
  brake::vm::Heap heap;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  brake::vm::Value v;
  try {
    v = brake::json::parse(text, heap, &cancel);
  } catch (const brake::json::Error&) {
    return 0;
  }
  std::string once, twice;
  try {
    brake::json::serialize(v, program, once, 1 << 24, &cancel);
  } catch (const brake::json::Error&) {
    return 0; // a value JSON cannot hold back (a float beyond double, say)
  }
  brake::vm::Heap again;
  brake::json::serialize(brake::json::parse(once, again, &cancel), program, twice, 1 << 24, &cancel);
  if (once != twice) abort();
  return 0;
}
