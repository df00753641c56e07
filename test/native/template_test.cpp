// template_test.cpp: prompt templates (llm/template.h): every construct of
// the Jinja subset, BAML's display forms and whitespace rules, roles and
// messages, ctx, template_strings, the format filter's serialisations,
// every compile error at its line and column, render errors, and the
// limits (cancellation of a long loop, the memory limit, deep nesting).
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "llm/template.h"
#include "test_util.h"
#include "vm/chunk.h"

namespace vm = brake::vm;
namespace llm = brake::llm;

namespace {

// A program's classes and enums, a heap, arguments and a client: what a
// render needs.
struct Fixture {
  std::shared_ptr<vm::CompiledProgram> program;
  vm::MemoryPool* pool = nullptr;
  std::unique_ptr<vm::Heap> heap;
  std::vector<std::string> names;
  std::vector<vm::Value> values;
  llm::ClientContext client;
  bool with_client = true;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<llm::TemplateStringDef> template_strings;
  llm::TemplateScope scope;
  std::string output_format_text = "OUTPUT_FORMAT";
  std::vector<std::pair<std::string, vm::Value>> last_output_format_kwargs;
  std::atomic<uint32_t> cancel{0};
  llm::TemplateWhitespace whitespace = llm::TemplateWhitespace::DedentAndTrim;

  explicit Fixture(const std::string& baml = "", vm::MemoryPool* p = nullptr) : pool(p) {
    program = vm::compile_program(baml + "\nfunction __unused() -> int { 1 }\n", "t.baml");
    for (const auto& d : program->diagnostics.items())
      fprintf(stderr, "fixture program: %u:%u %s\n", d.loc.line, d.loc.column, d.message.c_str());
    heap = std::make_unique<vm::Heap>(pool);
    client.name = "gpt4";
    client.provider = "openai";
    client.default_role = "system";
    client.allowed_roles = {"system", "user", "assistant"};
    for (const auto& e : program->enums) scope.enums.push_back(e.name);
  }

  vm::Value str(const std::string& s) { return heap->string_value(s); }
  vm::Value list(std::initializer_list<vm::Value> items) {
    vm::ArrayObj* a = heap->new_array(items.size());
    for (vm::Value v : items) heap->array_push(a, v);
    return vm::Value::object(vm::Tag::Array, a);
  }
  vm::Value map(std::initializer_list<std::pair<const char*, vm::Value>> entries) {
    vm::MapObj* m = heap->new_map(entries.size());
    for (auto& [k, v] : entries) heap->map_set(m, k, v);
    return vm::Value::object(vm::Tag::Map, m);
  }
  uint32_t class_id(const std::string& name) {
    for (uint32_t i = 0; i < program->classes.size(); i++)
      if (program->classes[i].name == name) return i;
    fprintf(stderr, "no class %s\n", name.c_str());
    abort();
  }
  vm::Value instance(const std::string& cls, std::initializer_list<std::pair<const char*, vm::Value>> fields) {
    uint32_t id = class_id(cls);
    const vm::ClassInfo& c = program->classes[id];
    vm::InstanceObj* o = heap->new_instance(id, c.field_names.size());
    for (auto& [k, v] : fields) {
      int64_t i = c.find_field(k);
      if (i < 0) {
        fprintf(stderr, "no field %s.%s\n", cls.c_str(), k);
        abort();
      }
      o->fields[size_t(i)] = v;
    }
    return vm::Value::object(vm::Tag::Instance, o);
  }
  vm::Value enum_value(const std::string& e, const std::string& variant) {
    for (uint32_t i = 0; i < program->enums.size(); i++)
      if (program->enums[i].name == e)
        for (uint32_t v = 0; v < program->enums[i].variants.size(); v++)
          if (program->enums[i].variants[v] == variant) return vm::Value::enum_variant(i, v);
    fprintf(stderr, "no enum value %s.%s\n", e.c_str(), variant.c_str());
    abort();
  }
  vm::Value image_url(const std::string& url) {
    return instance("image", {{"url", str(url)}});
  }
  vm::Value image_base64(const std::string& data, const std::string& type) {
    return instance("image", {{"base64", str(data)}, {"media_type", str(type)}});
  }

  void arg(const std::string& name, vm::Value v) {
    names.push_back(name);
    values.push_back(v);
    scope.variables.push_back(name);
  }
  // A variable the template may name, without an argument (undefined).
  void param(const std::string& name) { scope.variables.push_back(name); }

  void template_string(const std::string& name, std::vector<std::string> params, const std::string& body) {
    scope.template_strings.emplace_back(name, params.size());
    llm::TemplateScope ts;
    ts.variables = params;
    for (const auto& t : template_strings) ts.template_strings.emplace_back(t.name, t.params.size());
    ts.template_strings.emplace_back(name, params.size());
    ts.enums = scope.enums;
    brake::lang::Diagnostics d("t.baml");
    auto body_t = llm::compile_template(body, {1, 1}, ts, d);
    for (const auto& e : d.items()) fprintf(stderr, "template_string %s: %u:%u %s\n", name.c_str(), e.loc.line, e.loc.column, e.message.c_str());
    template_strings.push_back({name, std::move(params), body_t});
  }

  std::shared_ptr<const llm::Template> compile(const std::string& text, std::string* errors = nullptr,
                                               brake::lang::SourceLoc at = {1, 1}) {
    brake::lang::Diagnostics d("t.baml");
    auto t = llm::compile_template(text, at, scope, d, whitespace);
    std::string all;
    for (const auto& e : d.items())
      all += (all.empty() ? "" : "\n") + std::to_string(e.loc.line) + ":" + std::to_string(e.loc.column) + " " + e.message;
    if (errors) *errors = all;
    else if (!all.empty()) fprintf(stderr, "compile errors:\n%s\n", all.c_str());
    CHECK((t != nullptr) == all.empty());
    return t;
  }

  llm::RenderInput input() {
    llm::RenderInput in;
    in.program = program.get();
    in.heap = heap.get();
    in.cancel_state = &cancel;
    in.names = names.data();
    in.values = values.data();
    in.count = names.size();
    in.client = with_client ? &client : nullptr;
    in.output_format = [this](const std::vector<std::pair<std::string, vm::Value>>& kwargs, std::string& out,
                              std::string& error) {
      last_output_format_kwargs = kwargs;
      for (auto& [k, v] : kwargs)
        if (k == "fail") {
          error = "asked to fail";
          return false;
        }
      std::string prefix;
      for (auto& [k, v] : kwargs)
        if (k == "prefix" && v.tag == vm::Tag::String) prefix = v.as_string()->text;
      out += prefix + output_format_text;
      return true;
    };
    in.template_strings = &template_strings;
    in.tags = &tags;
    return in;
  }

  llm::RenderedPrompt render(const std::string& text, std::vector<llm::MessageOptions>* options = nullptr) {
    auto t = compile(text);
    if (!t) return {};
    return llm::render_template(*t, input(), options);
  }

  // A completion's text, or the messages as "role: part|part" lines.
  std::string show(const std::string& text) {
    llm::RenderedPrompt p = render(text);
    return describe(p);
  }

  static std::string describe(const llm::RenderedPrompt& p) {
    if (!p.chat) return p.messages.empty() ? "<none>" : p.messages[0].parts[0].text;
    std::string out;
    for (const auto& m : p.messages) {
      out += out.empty() ? "" : "\n";
      out += m.role + ":";
      for (size_t i = 0; i < m.parts.size(); i++) {
        out += i ? "|" : " ";
        if (m.parts[i].kind == llm::PromptPart::Kind::Media)
          out += "<media " + (m.parts[i].media.url.empty() ? m.parts[i].media.base64 : m.parts[i].media.url) + ">";
        else
          out += m.parts[i].text;
      }
    }
    return out;
  }

  std::string text(const std::string& t) {
    auto c = compile(t);
    if (!c) return "<compile error>";
    return llm::render_template_text(*c, input());
  }

  // The render error's message, or "" when it rendered.
  std::string render_error(const std::string& t) {
    auto c = compile(t);
    if (!c) return "<compile error>";
    try {
      llm::render_template(*c, input());
    } catch (const llm::RenderError& e) {
      return e.what();
    }
    return "";
  }
};

bool expect_eq(const std::string& got, const std::string& want, const char* expr, int line) {
  if (got == want) return true;
  fprintf(stderr, "%s:%d: %s\n  want: [%s]\n  got:  [%s]\n", __FILE__, line, expr, want.c_str(), got.c_str());
  g_failures++;
  return false;
}
#define EXPECT_EQ(got, want) expect_eq((got), (want), #got, __LINE__)

bool expect_contains(const std::string& got, const std::string& part, int line) {
  if (got.find(part) != std::string::npos) return true;
  fprintf(stderr, "%s:%d: expected to contain [%s]\n  got: [%s]\n", __FILE__, line, part.c_str(), got.c_str());
  g_failures++;
  return false;
}
#define EXPECT_CONTAINS(got, part) expect_contains((got), (part), __LINE__)

// ---------------------------------------------------------------- tests

BRAKE_TEST(smoke) {
  Fixture f;
  f.arg("name", f.str("Alice"));
  f.arg("age", vm::Value::integer(30));
  EXPECT_EQ(f.show("Hello, {{ name }}! You are {{ age }} years old."), "Hello, Alice! You are 30 years old.");
}

} // namespace

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(smoke),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
