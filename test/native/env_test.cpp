// env_test.cpp: the environment scripts read (env.NAME, env.get,
// env.get_or_panic) comes only from brake_engine_options' env_names and
// env_values: set names are read, unset ones are null (env.get) or a
// "missing_env" script error naming them, the process environment is never
// read, and malformed options are refused.
#include <cstdlib>
#include <string>

#include "test_outcome.h"

namespace {

const char* kSource = R"(
function sugar() -> string { env.BRAKE_TEST_KEY }
function get(name: string) -> string? { env.get(name) }
function must(name: string) -> string { env.get_or_panic(name) }
function shadowed() -> int { let env = { "BRAKE_TEST_KEY": 7 }; env["BRAKE_TEST_KEY"] }
)";

brake_engine* engine_with_env(const char* const* names, const char* const* values, size_t n, int* rc = nullptr) {
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = 1;
  o.env_names = names;
  o.env_values = values;
  o.env_count = n;
  brake_program* p = nullptr;
  CHECK_EQ_INT(brake_program_compile(kSource, strlen(kSource), "env.baml", &p), BRAKE_OK);
  brake_engine* e = nullptr;
  int status = brake_engine_create(p, &o, &e);
  brake_program_free(p);
  if (rc) *rc = status;
  return e;
}

// What a call of `fn` settled with: the value, or "kind: message".
struct Result {
  std::string value, kind, message;
  int status = -1;
};

Result run(brake_engine* e, const char* fn, const char* arg = nullptr) {
  brake_value* v = nullptr;
  if (arg) brake_value_string(arg, strlen(arg), &v);
  const brake_value* args[] = {v};
  Outcome o;
  static brake_call_id id = 1;
  CHECK_EQ_INT(brake_call_start(e, id++, fn, args, arg ? 1 : 0, nullptr, outcome_done, &o), BRAKE_OK);
  brake_value_free(v);
  CHECK(wait_for(o));
  return Result{o.value, o.kind, o.message, o.status};
}

} // namespace

BRAKE_TEST(set_names_are_read_unset_ones_are_null_or_an_error) {
  const char* names[] = {"BRAKE_TEST_KEY", "OTHER", "UNSET"};
  const char* values[] = {"s3cret", "é", nullptr};
  brake_engine* e = engine_with_env(names, values, 3);
  CHECK(e != nullptr);
  CHECK(run(e, "sugar").value == "\"s3cret\"");
  CHECK(run(e, "get", "OTHER").value == "\"\xC3\xA9\"");
  CHECK(run(e, "must", "BRAKE_TEST_KEY").value == "\"s3cret\"");
  CHECK(run(e, "get", "UNSET").value == "null");
  Result missing = run(e, "must", "UNSET");
  CHECK_EQ_INT(missing.status, BRAKE_SCRIPT_ERROR);
  CHECK(missing.kind == "missing_env");
  CHECK(missing.message.find("'UNSET'") != std::string::npos);
  CHECK(run(e, "shadowed").value == "7"); // a variable named env is just a variable
  brake_engine_free(e);
}

BRAKE_TEST(the_process_environment_is_not_read) {
  setenv("BRAKE_TEST_KEY", "from the process", 1);
  brake_engine* e = engine_with_env(nullptr, nullptr, 0);
  CHECK(e != nullptr);
  CHECK(run(e, "get", "BRAKE_TEST_KEY").value == "null");
  Result sugar = run(e, "sugar");
  CHECK(sugar.kind == "missing_env");
  CHECK(sugar.message.find("'BRAKE_TEST_KEY'") != std::string::npos);
  brake_engine_free(e);
  unsetenv("BRAKE_TEST_KEY");
}

BRAKE_TEST(malformed_env_options_are_refused) {
  int rc = 0;
  const char* twice[] = {"A", "A"};
  const char* values[] = {"1", "2"};
  CHECK(engine_with_env(twice, values, 2, &rc) == nullptr);
  CHECK_EQ_INT(rc, BRAKE_INVALID_ARGUMENT);
  const char* null_name[] = {nullptr};
  CHECK(engine_with_env(null_name, values, 1, &rc) == nullptr);
  CHECK_EQ_INT(rc, BRAKE_INVALID_ARGUMENT);
  CHECK(engine_with_env(nullptr, nullptr, 1, &rc) == nullptr);
  CHECK_EQ_INT(rc, BRAKE_INVALID_ARGUMENT);
  const char* bad[] = {"B"};
  const char* not_utf8[] = {"\xff"};
  CHECK(engine_with_env(bad, not_utf8, 1, &rc) == nullptr);
  CHECK_EQ_INT(rc, BRAKE_INVALID_ARGUMENT);
}

BRAKE_TEST(env_cannot_be_assigned) {
  const char* src = "function f() -> int { env.X = \"y\"; 1 }";
  brake_program* p = nullptr;
  CHECK(brake_program_compile(src, strlen(src), "t.baml", &p) != BRAKE_OK);
  CHECK(std::string(brake_last_error()).find("cannot assign to an environment variable") != std::string::npos);
  brake_program_free(p);
}

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(set_names_are_read_unset_ones_are_null_or_an_error),
      TEST_ENTRY(the_process_environment_is_not_read),
      TEST_ENTRY(malformed_env_options_are_refused),
      TEST_ENTRY(env_cannot_be_assigned),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
