// compile_limits_test.cpp: programs beyond the bytecode's limits are compile
// errors with a position (never a truncated index that reads or writes the
// wrong object), and large but legal programs compile in linear-ish time.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "test_util.h"

namespace {

struct Compiled {
  int rc = -1;
  brake_program* program = nullptr;
  ~Compiled() { brake_program_free(program); }
};

void compile(Compiled& c, const std::string& src) {
  c.rc = brake_program_compile(src.data(), src.size(), "limits.baml", &c.program);
}

// Whether some diagnostic contains `needle`; its line goes to *line.
bool has_diagnostic(const brake_program* p, const char* needle, uint32_t* line = nullptr) {
  for (size_t i = 0; i < brake_program_diagnostic_count(p); i++) {
    const char* msg = nullptr;
    uint32_t l = 0, col = 0;
    brake_program_diagnostic(p, i, nullptr, &l, &col, &msg);
    if (msg && std::strstr(msg, needle)) {
      if (line) *line = l;
      return true;
    }
  }
  return false;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs `fn` of an engine for `src` and returns the waiter's outcome.
void run(const std::string& src, const char* fn, Waiter* w) {
  brake_engine* e = engine_from(src.c_str(), 1);
  CHECK(e != nullptr);
  if (!e) return;
  waiter_init(w);
  CHECK_EQ_INT(start0(e, 1, fn, w), BRAKE_OK);
  CHECK(waiter_wait(w, 30000));
  brake_engine_free(e);
}

} // namespace

// 65,536 classes: class ids are 16-bit operands, so the 65,536th is refused
// (it used to wrap to class 0 and write past instances: heap corruption).
BRAKE_TEST(too_many_classes_is_a_compile_error) {
  std::string src;
  for (int i = 0; i < 65536; i++) src += "class C" + std::to_string(i) + " {\n  x int\n}\n";
  src += "function main() -> int { let c = C65535 { x: 1 }; c.x }\n";
  Compiled c;
  compile(c, src);
  CHECK_EQ_INT(c.rc, BRAKE_COMPILE_ERROR);
  uint32_t line = 0;
  CHECK(has_diagnostic(c.program, "too many classes (at most 65535)", &line));
  CHECK_EQ_INT(line, 65535 * 3 + 1);
}

// A class with 65,536 fields: the field index is a 16-bit operand (reading
// field 69,999 used to return field 4,463).
BRAKE_TEST(too_many_fields_is_a_compile_error) {
  std::string src = "class Wide {\n";
  for (int i = 0; i < 65536; i++) src += "  f" + std::to_string(i) + " int?\n";
  src += "}\nfunction main() -> int? { let w = Wide { f65535: 7 }; w.f65535 }\n";
  Compiled c;
  compile(c, src);
  CHECK_EQ_INT(c.rc, BRAKE_COMPILE_ERROR);
  uint32_t line = 0;
  CHECK(has_diagnostic(c.program, "too many fields (at most 65535)", &line));
  CHECK_EQ_INT(line, 65536 + 1);
}

// The largest class still works, field by field, and compiles promptly.
BRAKE_TEST(widest_class_reads_the_right_field) {
  std::string src = "class Wide {\n";
  for (int i = 0; i < 65535; i++) src += "  f" + std::to_string(i) + " int?\n";
  src += "}\nfunction main() -> int {\n  let w = Wide { f4463: 1, f65534: 2 };\n  let v = w.f65534;\n"
         "  if (v != null) { v } else { 0 }\n}\n";
  auto t0 = std::chrono::steady_clock::now();
  Waiter w;
  run(src, "main", &w);
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 2);
  CHECK(seconds_since(t0) < 10);
}

BRAKE_TEST(too_many_functions_is_a_compile_error) {
  std::string src;
  for (int i = 0; i < 65536; i++) src += "function f" + std::to_string(i) + "() -> int { " + std::to_string(i) + " }\n";
  Compiled c;
  compile(c, src);
  CHECK_EQ_INT(c.rc, BRAKE_COMPILE_ERROR);
  uint32_t line = 0;
  CHECK(has_diagnostic(c.program, "too many functions and methods (at most 65535)", &line));
  CHECK_EQ_INT(line, 65536);
}

// A type pattern needs a type numbered below 65,536 (TYPE_TEST's operand).
BRAKE_TEST(type_pattern_beyond_the_type_table_limit_is_a_compile_error) {
  std::string src;
  for (int i = 0; i < 65530; i++) src += "class C" + std::to_string(i) + " {\n}\n";
  src += "function main() -> int {\n  let a = [];\n  match (a) {\n"
         "    x: C1[][][][][][][][][][][][] => 1,\n    _ => 0,\n  }\n}\n";
  Compiled c;
  compile(c, src);
  CHECK_EQ_INT(c.rc, BRAKE_COMPILE_ERROR);
  uint32_t line = 0;
  CHECK(has_diagnostic(c.program, "too many distinct types", &line));
  CHECK_EQ_INT(line, 65530 * 2 + 4);
}

// Map literals (duplicate keys are checked) and their constants compile in
// linear-ish time: four times the entries take well under eight times as
// long (a quadratic check takes sixteen; 30,000 entries took seconds).
// Compared as a ratio, so it holds on slow machines and sanitizer builds.
double best_compile_seconds(int entries) {
  std::string src = "function main() -> int {\n  let m = {";
  for (int i = 0; i < entries; i++)
    src += (i ? ", " : "") + std::string("\"k") + std::to_string(i) + "\": " + std::to_string(i % 7);
  src += "};\n  m.length()\n}\n";
  double best = 1e9;
  for (int run = 0; run < 3; run++) {
    auto t0 = std::chrono::steady_clock::now();
    Compiled c;
    compile(c, src);
    CHECK_EQ_INT(c.rc, BRAKE_OK);
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

BRAKE_TEST(large_map_literal_compiles_in_linear_time) {
  double small = best_compile_seconds(7500), large = best_compile_seconds(30000);
  fprintf(stderr, "7,500 entries %.1f ms, 30,000 entries %.1f ms\n", small * 1e3, large * 1e3);
  CHECK(large < 8 * small + 0.05);
  std::string src = "function main() -> int {\n  let m = {\"a\": 1, \"b\": 2};\n  m.length()\n}\n";
  Waiter w;
  run(src, "main", &w);
  CHECK_EQ_INT(w.int_value, 2);
}

// Unclosed parentheses: whether each '(' starts a lambda (an '->' after its
// ')') is one lookup, not a scan to the end of the source per '('.
static double unclosed_parens_seconds(int lines) {
  std::string src = "function main() -> int {\n";
  for (int i = 0; i < lines; i++) src += "  let a = (1;\n";
  src += "  1\n}\n";
  auto t0 = std::chrono::steady_clock::now();
  Compiled c;
  compile(c, src);
  CHECK_EQ_INT(c.rc, BRAKE_COMPILE_ERROR);
  return seconds_since(t0);
}

BRAKE_TEST(unclosed_parentheses_parse_in_linear_time) {
  double small = std::min(unclosed_parens_seconds(10000), unclosed_parens_seconds(10000));
  double large = std::min(unclosed_parens_seconds(40000), unclosed_parens_seconds(40000));
  fprintf(stderr, "10,000 lines %.1f ms, 40,000 lines %.1f ms\n", small * 1e3, large * 1e3);
  CHECK(large < 8 * small + 0.05);
}

BRAKE_TEST(too_many_constants_is_one_compile_error) {
  std::string src = "function main() -> int {\n  let a = [";
  for (int i = 0; i < 40000; i++) src += (i ? ", " : "") + std::to_string(i);
  src += "];\n  let b = [";
  for (int i = 0; i < 40000; i++) src += (i ? ", " : "") + std::to_string(40000 + i);
  src += "];\n  a.length() + b.length()\n}\n";
  Compiled c;
  compile(c, src);
  CHECK_EQ_INT(c.rc, BRAKE_COMPILE_ERROR);
  CHECK(has_diagnostic(c.program, "too many constants in one function"));
  size_t constant_errors = 0;
  for (size_t i = 0; i < brake_program_diagnostic_count(c.program); i++) {
    const char* msg = nullptr;
    brake_program_diagnostic(c.program, i, nullptr, nullptr, nullptr, &msg);
    if (std::strstr(msg, "too many constants")) constant_errors++;
  }
  CHECK_EQ_INT(constant_errors, 1);
}

BRAKE_TEST(source_over_16_mib_is_a_compile_error) {
  std::string src = "function main() -> int { 1 }\n";
  src.append((size_t(16) << 20) + 1 - src.size(), ' ');
  Compiled c;
  auto t0 = std::chrono::steady_clock::now();
  compile(c, src);
  CHECK_EQ_INT(c.rc, BRAKE_COMPILE_ERROR);
  uint32_t line = 0;
  CHECK(has_diagnostic(c.program, "more than the maximum of 16777216", &line));
  CHECK_EQ_INT(line, 1);
  CHECK(seconds_since(t0) < 1);
  // Exactly 16 MiB is accepted.
  src.pop_back();
  Compiled ok;
  compile(ok, src);
  CHECK_EQ_INT(ok.rc, BRAKE_OK);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(too_many_classes_is_a_compile_error),
      TEST_ENTRY(too_many_fields_is_a_compile_error),
      TEST_ENTRY(widest_class_reads_the_right_field),
      TEST_ENTRY(too_many_functions_is_a_compile_error),
      TEST_ENTRY(type_pattern_beyond_the_type_table_limit_is_a_compile_error),
      TEST_ENTRY(large_map_literal_compiles_in_linear_time),
      TEST_ENTRY(unclosed_parentheses_parse_in_linear_time),
      TEST_ENTRY(too_many_constants_is_one_compile_error),
      TEST_ENTRY(source_over_16_mib_is_a_compile_error),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
