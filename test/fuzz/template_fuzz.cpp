// template_fuzz: arbitrary bytes as an LLM function's prompt template
// (Jinja-style: expressions, filters, tests, if/for/set/macro blocks, role
// and media calls, ctx.output_format with options), compiled with a
// program through brake.h and, when it compiles, rendered for arguments of
// several types (a class instance with a list and a map, an enum, a list
// of ints, a string) with a deadline, as brake_engine_render_prompt does
// for a host. Any input must give diagnostics, a prompt, a script error or
// a timeout: no crash, no sanitizer report, no hang past the deadline.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "brake.h"

namespace {

const char* kPrefix = R"(
enum Mood { Happy @alias("glad") @description("in a good mood") Sad }
class Pet {
  name string @description("the pet's name")
  age int?
}
class Person {
  name string
  pets Pet[]
  scores map<string, float>
  mood Mood
}
client<llm> Model {
  provider openai
  options { model "gpt-4o" api_key "k" }
}
template_string Greet(p: Person) #"Hello {{ p.name }}"#
function F(p: Person, m: Mood, xs: int[], s: string) -> Person[] {
  client Model
  prompt #")";
const char* kSuffix = "\"#\n}\n";

brake_value* text(const char* s) {
  brake_value* v = nullptr;
  brake_value_string(s, std::strlen(s), &v);
  return v;
}

brake_value* person() {
  brake_value* pet = nullptr;
  brake_value_instance("Pet", &pet);
  brake_value_map_set(pet, "name", 4, text("Rex <b>\"&'"));
  brake_value_map_set(pet, "age", 3, brake_value_int(3));
  brake_value* pets = brake_value_array();
  brake_value_array_push(pets, pet);
  brake_value* scores = brake_value_map();
  brake_value_map_set(scores, "math", 4, brake_value_float(9.5));
  brake_value_map_set(scores, "x y", 3, brake_value_float(-0.0));
  brake_value* mood = nullptr;
  brake_value_enum("Mood", "Happy", &mood);
  brake_value* p = nullptr;
  brake_value_instance("Person", &p);
  brake_value_map_set(p, "name", 4, text("Ada\n{{ not a template }}"));
  brake_value_map_set(p, "pets", 4, pets);
  brake_value_map_set(p, "scores", 6, scores);
  brake_value_map_set(p, "mood", 4, mood);
  return p;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string source = kPrefix;
  source.append(reinterpret_cast<const char*>(data), size);
  source += kSuffix;
  brake_program* program = nullptr;
  int rc = brake_program_compile(source.data(), source.size(), "template.baml", &program);
  if (rc != BRAKE_OK) {
    brake_program_free(program);
    return 0;
  }
  brake_engine_options eo;
  brake_engine_options_init(&eo);
  eo.worker_threads = 1;
  brake_engine* e = nullptr;
  if (brake_engine_create(program, &eo, &e) != BRAKE_OK) abort();
  brake_program_free(program);
  brake_value* mood = nullptr;
  brake_value_enum("Mood", "Sad", &mood);
  brake_value* xs = brake_value_array();
  for (int i = 0; i < 3; i++) brake_value_array_push(xs, brake_value_int(i - 1));
  brake_value* args[4] = {person(), mood, xs, text("say \"hi\"")};
  brake_render_options ro;
  brake_render_options_init(&ro);
  ro.timeout_ms = 200;
  brake_value* out = nullptr;
  rc = brake_engine_render_prompt(e, "F", args, 4, &ro, &out);
  if (rc != BRAKE_OK && rc != BRAKE_SCRIPT_ERROR && rc != BRAKE_TIMEOUT && rc != BRAKE_NO_MEMORY) abort();
  if ((rc == BRAKE_OK) != (out != nullptr)) abort();
  brake_value_free(out);
  for (brake_value* a : args) brake_value_free(a);
  brake_engine_close(e);
  brake_engine_free(e);
  return 0;
}
