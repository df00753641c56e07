// compile_fuzz: arbitrary bytes as a program, through brake.h's compiler
// (lexer, parser, checker, compiler). Any input must give a program or
// diagnostics: no crash, no sanitizer report, no hang.
#include <cstddef>
#include <cstdint>

#include "brake.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  brake_program* p = nullptr;
  brake_program_compile(reinterpret_cast<const char*>(data), size, "fuzz.baml", &p);
  brake_program_free(p);
  return 0;
}
