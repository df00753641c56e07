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

// BAML dedents a prompt and trims it; blocks drop the newline after them
// (trim_blocks) and their line's indentation (lstrip_blocks); the text is
// not trimmed again after rendering.
BRAKE_TEST(prompt_whitespace_dedent_trim_and_block_rules) {
  Fixture f;
  f.arg("x", f.str("X"));
  f.arg("items", f.list({vm::Value::integer(1), vm::Value::integer(2)}));
  EXPECT_EQ(f.show("\n    Line one\n      indented {{ x }}\n    last\n  "), "Line one\n  indented X\nlast");
  EXPECT_EQ(f.show("\n    {% if x %}\n    {{ x }}\n    {% endif %}\n    "), "X\n");
  EXPECT_EQ(f.show("\n  {% for i in items %}\n    - {{ i }}\n  {% endfor %}\n  done"), "  - 1\n  - 2\ndone");
  // Whitespace control: '-' strips all whitespace on its side, '+' keeps what the block rules would take.
  EXPECT_EQ(f.show("a  {{- x -}}  b"), "aXb");
  EXPECT_EQ(f.show("a\n  {%- if x -%}\n  [{{ x }}]\n  {%- endif %}\nb"), "a[X]b");
  EXPECT_EQ(f.show("a\n  {%+ if x +%}\nb{% endif %}"), "a\n  \nb");
  // Comments disappear, with the block rules.
  EXPECT_EQ(f.show("a {# a comment {{ x }} #}b\n{# own line #}\nc"), "a b\nc");
  // raw keeps its text as written.
  EXPECT_EQ(f.show("{% raw %}{{ x }} {% if %}{% endraw %}!"), "{{ x }} {% if %}!");
  // Keep: the text as written.
  f.whitespace = llm::TemplateWhitespace::Keep;
  EXPECT_EQ(f.show("  \n  {{ x }}  \n"), "  \n  X  \n");
  // Variable tags do not drop the newline after them.
  EXPECT_EQ(f.show("{{ x }}\n{{ x }}"), "X\nX");
  // Tabs dedent like spaces; blank lines keep what is beyond the indentation.
  f.whitespace = llm::TemplateWhitespace::DedentAndTrim;
  EXPECT_EQ(f.show("\t\tA\n\n\t\t\tB"), "A\n\n\tB");
}

BRAKE_TEST(literals_and_operators) {
  Fixture f;
  f.arg("n", vm::Value::integer(7));
  f.arg("x", vm::Value::number(2.5));
  f.arg("s", f.str("abc"));
  EXPECT_EQ(f.show("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }}"),
            "7 9 3 -4 1 2 1024");
  EXPECT_EQ(f.show("{{ 7 / 2 }} {{ 6 / 2 }} {{ n * x }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e3 }} {{ 1_000 }}"),
            "3.5 3.0 17.5 1.0 0.30000000000000004 1000.0 1000");
  EXPECT_EQ(f.show("{{ 'single' }} {{ \"double\" }} {{ 'it\\'s' }} {{ \"a\\tb\\n\" | length }} {{ 'x' 'y' }}"),
            "single double it's 4 xy");
  EXPECT_EQ(f.show("{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}"), "true true false null null");
  EXPECT_EQ(f.show("{{ [1, 'a', none] }} {{ (1, 2) }} {{ {'k': 1, \"j\": [true]} }} {{ [] }} {{ {} }}"),
            "[1, \"a\", null] [1, 2] {\"k\": 1, \"j\": [true]} [] {}");
  EXPECT_EQ(f.show("{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'a' }} {{ [1, 2] == [1, 2] }}"),
            "true false true true false true");
  EXPECT_EQ(f.show("{{ 1 and 0 }} {{ 0 or 'x' }} {{ not 0 }} {{ not n > 5 }} {{ n > 5 and n < 10 }}"),
            "0 x true false true");
  EXPECT_EQ(f.show("{{ 'b' in s }} {{ 'z' not in s }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 in range(3) }}"),
            "true true true true false");
  EXPECT_EQ(f.show("{{ s ~ n ~ x ~ none }} {{ s + 'd' }} {{ [1] + [2] }} {{ 'ab' * 3 }}"), "abc72.5null abcd [1, 2] ababab");
  EXPECT_EQ(f.show("{{ 'big' if n > 5 else 'small' }} {{ 'yes' if false }}|{{ -n }} {{ +x }} {{ -(1 + 2) }}"),
            "big |-7 2.5 -3");
  // Precedence (Jinja's): a filter applies to the negated value; ~ binds tighter than + and looser than *.
  EXPECT_EQ(f.show("{{ -3|abs }} {{ 'a' ~ 2 * 3 }} {{ 2 ** 3 ** 2 }}"), "3 a6 64");
  EXPECT_CONTAINS(f.render_error("{{ 1 + 2 ~ 3 }}"), "unsupported operand types for +: int and string");
}

BRAKE_TEST(attribute_index_and_slice_access) {
  Fixture f("class Person {\n  name string\n  nick string @alias(\"handle\")\n  tags string[]\n}");
  f.arg("p", f.instance("Person", {{"name", f.str("Ada")}, {"nick", f.str("ad")},
                                   {"tags", f.list({f.str("x"), f.str("y"), f.str("z")})}}));
  f.arg("m", f.map({{"a", vm::Value::integer(1)}, {"b c", f.str("two")}}));
  f.arg("l", f.list({vm::Value::integer(10), vm::Value::integer(20), vm::Value::integer(30)}));
  f.arg("s", f.str("héllo"));
  f.arg("nothing", vm::Value::null());
  EXPECT_EQ(f.show("{{ p.name }} {{ p['name'] }} {{ p.nick }} [{{ p.handle }}] {{ p.tags[1] }} {{ p.tags.0 }}"),
            "Ada Ada ad [] y x");
  EXPECT_EQ(f.show("{{ m.a }} {{ m['b c'] }} [{{ m.missing }}] {{ l[-1] }} [{{ l[5] }}] {{ s[1] }} {{ s[-1] }}"),
            "1 two [] 30 [] é o");
  EXPECT_EQ(f.show("{{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[-2:] }} {{ s[1:3] }} {{ s[::-1] }}"),
            "[20, 30] [10, 20] [30, 20, 10] [20, 30] él olléh");
  EXPECT_EQ(f.show("[{{ nothing.attr }}] {{ m.missing is defined }} {{ p.name is defined }}"), "[] false true");
  EXPECT_CONTAINS(f.render_error("{{ m.missing.deeper }}"), "cannot read 'deeper' of an undefined value (template line 1, column 13)");
}

BRAKE_TEST(string_methods) {
  Fixture f;
  f.arg("s", f.str("  Hello, World  "));
  f.arg("csv", f.str("a,b,,c"));
  EXPECT_EQ(f.show("[{{ s.strip() }}] [{{ s.lstrip() }}] [{{ s.rstrip() }}] [{{ 'xxhixx'.strip('x') }}]"),
            "[Hello, World] [Hello, World  ] [  Hello, World] [hi]");
  EXPECT_EQ(f.show("{{ s.lower() }}|{{ s.upper() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}"),
            "  hello, world  |  HELLO, WORLD  |Hello World|Hello");
  EXPECT_EQ(f.show("{{ csv.split(',') }} {{ ' a  b '.split() }} {{ csv.split(',', 1) }} {{ 'l1\\nl2'.splitlines() }}"),
            "[\"a\", \"b\", \"\", \"c\"] [\"a\", \"b\"] [\"a\", \"b,,c\"] [\"l1\", \"l2\"]");
  EXPECT_EQ(f.show("{{ csv.replace(',', ';') }} {{ csv.replace(',', ';', 1) }} {{ 'abc'.startswith('ab') }} "
                   "{{ 'abc'.endswith(['x', 'bc']) }} {{ 'abcabc'.find('c') }} {{ 'abcabc'.count('bc') }}"),
            "a;b;;c a;b,,c true true 2 2");
  EXPECT_EQ(f.show("{{ '-'.join(['a', 'b']) }} {{ '123'.isdigit() }} {{ 'a1'.isalpha() }} {{ 'abc'.islower() }}"),
            "a-b true false true");
  EXPECT_CONTAINS(f.render_error("{{ s.nope() }}"), "string has no method 'nope'");
}

BRAKE_TEST(python_string_format) {
  Fixture f;
  EXPECT_EQ(f.show("{{ \"{:,}\".format(1234567) }}"), "1,234,567");
  EXPECT_EQ(f.show("{{ \"{:.2f}\".format(3.14159) }}"), "3.14");
  EXPECT_EQ(f.show("{{ \"{}, {}!\".format(\"Hello\", \"World\") }}"), "Hello, World!");
  EXPECT_EQ(f.show("[{{ \"{:<6}\".format('ab') }}][{{ \"{:>6}\".format('ab') }}][{{ \"{:^6}\".format('ab') }}]"),
            "[ab    ][    ab][  ab  ]");
  EXPECT_EQ(f.show("{{ '{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='x') }} {{ '{{}}{}'.format(1) }}"),
            "ba x! {}1");
  EXPECT_EQ(f.show("{{ '{:05d}'.format(42) }} {{ '{:+d}'.format(3) }} {{ '{:x}'.format(255) }} {{ '{:#b}'.format(5) }}"),
            "00042 +3 ff 0b101");
  EXPECT_EQ(f.show("{{ '{:.1%}'.format(0.256) }} {{ '{:,.2f}'.format(1234567.891) }} {{ '{:e}'.format(12345.0) }}"),
            "25.6% 1,234,567.89 1.234500e+04");
  EXPECT_EQ(f.show("{{ '{}'.format(2.0) }} {{ '{!r}'.format('q') }} {{ '{:*^7}'.format('mid') }} {{ '{:.3}'.format('abcdef') }}"),
            "2.0 \"q\" **mid** abc");
  EXPECT_CONTAINS(f.render_error("{{ '{} {}'.format(1) }}"), "replacement index 1 out of range");
  EXPECT_CONTAINS(f.render_error("{{ '{:d}'.format('x') }}"), "unknown format code 'd' for a string");
}

BRAKE_TEST(map_methods_and_items) {
  Fixture f("class Pt {\n  x int\n  y int @alias(\"why\")\n}");
  f.arg("m", f.map({{"a", vm::Value::integer(1)}, {"b", vm::Value::integer(2)}}));
  f.arg("p", f.instance("Pt", {{"x", vm::Value::integer(3)}, {"y", vm::Value::integer(4)}}));
  EXPECT_EQ(f.show("{{ m.keys() }} {{ m.values() }} {{ m.items() }} {{ m.get('a') }} {{ m.get('z', 9) }} {{ m.get('z') }}"),
            "[\"a\", \"b\"] [1, 2] [[\"a\", 1], [\"b\", 2]] 1 9 null");
  EXPECT_EQ(f.show("{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(f.show("{% for k in m %}{{ k }}{% endfor %} {% for k, v in p.items() %}{{ k }}={{ v }};{% endfor %}"),
            "ab x=3;y=4;");
  EXPECT_EQ(f.show("{% for pair in m|items %}{{ pair[0] }}{{ pair[1] }}{% endfor %} {{ m|length }} {{ p|length }}"),
            "a1b2 2 2");
  EXPECT_EQ(f.show("{{ m|dictsort(by='value', reverse=true) }} {{ p.keys() }}"), "[[\"b\", 2], [\"a\", 1]] [\"x\", \"y\"]");
  EXPECT_EQ(f.show("{{ m.length() }} {{ 'abc'.length() }} {{ [1, 2].length() }}"), "2 3 2");
}

BRAKE_TEST(filters_on_strings) {
  Fixture f;
  f.arg("s", f.str("  hello wORLD  "));
  f.arg("u", f.str("héllo"));
  EXPECT_EQ(f.show("[{{ s|trim }}] [{{ s|trim|upper }}] [{{ s|lower }}] [{{ s|trim|title }}] [{{ s|trim|capitalize }}]"),
            "[hello wORLD] [HELLO WORLD] [  hello world  ] [Hello World] [Hello world]");
  EXPECT_EQ(f.show("{{ u|length }} {{ u|count }} {{ u|reverse }} {{ u|first }} {{ u|last }} {{ u|list }}"),
            "5 5 olléh h o [\"h\", \"é\", \"l\", \"l\", \"o\"]");
  EXPECT_EQ(f.show("{{ 'a-b-c'|replace('-', '+') }} {{ 'a-b-c'|replace('-', '', 1) }} {{ 'x y  z'|wordcount }} "
                   "{{ 'a,b'|split(',') }} {{ '<a href=\"x\">'|escape }} {{ 'xx'|safe }}"),
            "a+b+c ab-c 3 [\"a\", \"b\"] &lt;a href=&quot;x&quot;&gt; xx");
  EXPECT_EQ(f.show("{{ 'l1\\nl2\\n\\nl3'|indent(2) }}|{{ 'a\\nb'|indent('> ', true) }}"), "l1\n  l2\n\n  l3|> a\n> b");
  EXPECT_EQ(f.show("{{ '(123)456-7890'|regex_match('123') }} {{ '555-123-4567'|regex_match('^\\\\d{3}-\\\\d{3}-\\\\d{4}$') }} "
                   "{{ 'abc'|regex_match('^b') }} {{ 'ABC'|regex_match('(?i)^abc$') }}"),
            "true true false true");
  EXPECT_EQ(f.show("{{ '42'|int + 1 }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '2.5'|float }} {{ 'ff'|int(base=16) }}"),
            "43 3 0 7 2.5 255");
  EXPECT_EQ(f.show("{{ 42|string ~ '!' }} {{ 2.5|round }} {{ 2.567|round(2) }} {{ 2.1|round(method='ceil') }} {{ -4|abs }} "
                   "{{ -1.5|abs }} {{ 7|float }}"),
            "42! 3.0 2.57 3.0 4 1.5 7.0");
}

BRAKE_TEST(filters_on_lists) {
  Fixture f("class Item {\n  name string\n  price int\n  tag string?\n}");
  f.arg("nums", f.list({vm::Value::integer(3), vm::Value::integer(1), vm::Value::integer(2), vm::Value::integer(3)}));
  f.arg("words", f.list({f.str("b"), f.str("A"), f.str("c"), f.str("a")}));
  f.arg("items", f.list({f.instance("Item", {{"name", f.str("pen")}, {"price", vm::Value::integer(3)}, {"tag", f.str("x")}}),
                         f.instance("Item", {{"name", f.str("ink")}, {"price", vm::Value::integer(1)}}),
                         f.instance("Item", {{"name", f.str("cap")}, {"price", vm::Value::integer(2)}, {"tag", f.str("y")}})}));
  f.arg("empty", f.list({}));
  f.param("missing");
  EXPECT_EQ(f.show("{{ nums|length }} {{ nums|first }} {{ nums|last }} {{ nums|sum }} {{ nums|min }} {{ nums|max }} "
                   "{{ nums|sort }} {{ nums|sort(reverse=true) }} {{ nums|unique }} {{ nums|reverse }}"),
            "4 3 3 9 1 3 [1, 2, 3, 3] [3, 3, 2, 1] [3, 1, 2] [3, 2, 1, 3]");
  EXPECT_EQ(f.show("{{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ words|unique }} {{ words|join }} {{ words|join(', ') }}"),
            "[\"A\", \"a\", \"b\", \"c\"] [\"A\", \"a\", \"b\", \"c\"] [\"b\", \"A\", \"c\"] bAca b, A, c, a");
  EXPECT_EQ(f.show("{{ items|map(attribute='name')|join(',') }} {{ items|sort(attribute='price')|map(attribute='name')|list }} "
                   "{{ items|sum(attribute='price') }} {{ items|join('/', attribute='name') }}"),
            "pen,ink,cap [\"ink\", \"cap\", \"pen\"] 6 pen/ink/cap");
  EXPECT_EQ(f.show("{{ items|selectattr('tag')|map(attribute='name')|list }} {{ items|rejectattr('tag')|map(attribute='name')|list }} "
                   "{{ items|selectattr('price', 'gt', 1)|length }} {{ items|selectattr('name', 'equalto', 'ink')|first|attr('price') }}"),
            "[\"pen\", \"cap\"] [\"ink\"] 2 1");
  EXPECT_EQ(f.show("{{ nums|select('odd')|list }} {{ nums|reject('odd')|list }} {{ nums|select('gt', 1)|list }} "
                   "{{ words|map('upper')|join }} {{ nums|map('string')|join('+') }}"),
            "[3, 1, 3] [2] [3, 2, 3] BACA 3+1+2+3");
  EXPECT_EQ(f.show("[{{ empty|first }}] {{ empty|length }} {{ empty|default('none') }} {{ missing|default('dflt') }} "
                   "{{ none|default('n') }} {{ ''|default('e', true) }} {{ 0|default(5) }}"),
            "[] 0 [] dflt n e 0");
  EXPECT_EQ(f.show("{{ nums|list|length }} {{ range(3)|list }} {{ range(1, 10, 4)|list }} {{ range(3, 0, -1)|list }}"),
            "4 [0, 1, 2] [1, 5, 9] [3, 2, 1]");
  EXPECT_EQ(f.show("{{ nums|bool }} {{ empty|bool }} {{ 0|bool }} {{ 'x'|bool }} {{ none|bool }}"), "true false false true false");
}

BRAKE_TEST(tests_with_is) {
  Fixture f("enum Color {\n  Red\n}");
  f.arg("n", vm::Value::integer(4));
  f.arg("x", vm::Value::number(1.5));
  f.arg("s", f.str("Abc"));
  f.arg("l", f.list({}));
  f.arg("m", f.map({}));
  f.arg("z", vm::Value::null());
  f.arg("c", f.enum_value("Color", "Red"));
  f.param("undefined_thing");
  EXPECT_EQ(f.show("{{ z is none }} {{ n is none }} {{ z is not none }} {{ undefined_thing is defined }}"), "true false false false");
  EXPECT_EQ(f.show("{{ n is number }} {{ x is number }} {{ n is integer }} {{ x is float }} {{ s is string }} {{ c is string }}"),
            "true true true true true false");
  EXPECT_EQ(f.show("{{ l is sequence }} {{ m is mapping }} {{ s is iterable }} {{ n is iterable }} {{ true is boolean }}"),
            "true true true false true");
  EXPECT_EQ(f.show("{{ n is even }} {{ n is odd }} {{ n is divisibleby 2 }} {{ n is divisibleby(3) }} {{ n is eq 4 }} "
                   "{{ n is gt(3) }} {{ n is in [1, 4] }}"),
            "true false true false true true true");
  EXPECT_EQ(f.show("{{ s is startingwith 'A' }} {{ s is endingwith('x') }} {{ s is containing 'b' }} {{ 'abc' is lower }} "
                   "{{ s is upper }} {{ true is true }} {{ 1 is true }} {{ l is sameas l }}"),
            "true false true true false true false true");
}

BRAKE_TEST(if_elif_else) {
  Fixture f;
  f.arg("n", vm::Value::integer(5));
  const char* t = "{% if n < 3 %}small{% elif n < 10 %}medium{% else %}large{% endif %}";
  EXPECT_EQ(f.show(t), "medium");
  EXPECT_EQ(f.show("{% if n > 100 %}a{% elif n > 50 %}b{% endif %}|{% if not n %}x{% else %}y{% endif %}"), "|y");
  EXPECT_EQ(f.show("{% if n %}{% if n == 5 %}five{% endif %}{% endif %}"), "five");
}

BRAKE_TEST(for_loops) {
  Fixture f;
  f.arg("xs", f.list({f.str("a"), f.str("b"), f.str("c")}));
  f.arg("pairs", f.list({f.list({vm::Value::integer(1), f.str("one")}), f.list({vm::Value::integer(2), f.str("two")})}));
  f.arg("empty", f.list({}));
  f.param("undefined_x");
  EXPECT_EQ(f.show("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }}:{{ x }} {% endfor %}"),
            "1032truefalse3:a 2121falsefalse3:b 3210falsetrue3:c ");
  EXPECT_EQ(f.show("{% for x in xs %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}|{% endfor %}"), "<a>b|a<b>c|b<c>|");
  EXPECT_EQ(f.show("{% for x in xs %}{{ loop.cycle('odd', 'even') }}{% if not loop.last %},{% endif %}{% endfor %}"),
            "odd,even,odd");
  EXPECT_EQ(f.show("{% for x in empty %}{{ x }}{% else %}nothing{% endfor %}|{% for x in xs %}{{ x }}{% else %}no{% endfor %}"),
            "nothing|abc");
  EXPECT_EQ(f.show("{% for x in xs if x != 'b' %}{{ loop.index }}{{ x }}/{{ loop.length }} {% endfor %}"), "1a/2 2c/2 ");
  EXPECT_EQ(f.show("{% for n, name in pairs %}{{ n }}={{ name }} {% endfor %}{% for (n, name) in pairs %}{{ name }}{% endfor %}"),
            "1=one 2=two onetwo");
  EXPECT_EQ(f.show("{% for x in xs %}{% for y in xs %}{% if y == x %}{% break %}{% endif %}{{ y }}{% endfor %};{% endfor %}"),
            ";a;ab;");
  EXPECT_EQ(f.show("{% for x in xs %}{% if loop.index is even %}{% continue %}{% endif %}{{ x }}{% endfor %}"), "ac");
  EXPECT_EQ(f.show("{% for x in xs %}{% for y in [1, 2] %}{{ loop.index }}{% endfor %}{{ loop.index }} {% endfor %}"),
            "121 122 123 ");
  EXPECT_EQ(f.show("{% for c in 'hé' %}[{{ c }}]{% endfor %}{% for i in range(2) %}{{ i }}{% endfor %}{% for u in undefined_x %}u{% endfor %}"),
            "[h][é]01");
  EXPECT_EQ(f.show("{% for i in range(-9223372036854775807, 9223372036854775807, 9223372036854775807) %}{{ i }},{% endfor %}"
                   "{{ range(9223372036854775807)|length }}"),
            "-9223372036854775807,0,9223372036854775807");
  EXPECT_CONTAINS(f.render_error("{% for x in 5 %}{% endfor %}"), "cannot iterate over int");
  EXPECT_CONTAINS(f.render_error("{% for a, b in xs %}{% endfor %}"), "cannot unpack string into 2 loop variables");
}

BRAKE_TEST(set_scoping_and_namespace) {
  Fixture f;
  f.arg("xs", f.list({vm::Value::integer(1), vm::Value::integer(2), vm::Value::integer(3)}));
  f.arg("name", f.str("ada"));
  EXPECT_EQ(f.show("{% set total = 0 %}{% for x in xs %}{% set total = total + x %}{{ total }}{% endfor %} {{ total }}"),
            "136 0");
  EXPECT_EQ(f.show("{% set ns = namespace(total=0) %}{% for x in xs %}{% set ns.total = ns.total + x %}{% endfor %}{{ ns.total }}"),
            "6");
  EXPECT_EQ(f.show("{% set name = name|upper %}{{ name }} {% set a = [1, 2] %}{{ a|length }}"), "ADA 2");
  EXPECT_EQ(f.show("{% if true %}{% set inner = 'in' %}{% endif %}{{ inner }}"), "in");
  EXPECT_EQ(f.show("{% set block %}\n  {{ name }} block\n{% endset %}[{{ block }}]"), "[  ada block\n]");
  EXPECT_EQ(f.show("{% set d = dict(a=1, b='x') %}{{ d }} {{ d.b }}"), "{\"a\": 1, \"b\": \"x\"} x");
  EXPECT_CONTAINS(f.render_error("{% set v = 1 %}{% set v.x = 2 %}"), "cannot set attribute 'x' of int (only of a namespace())");
}

// {{ v }}: strings as they are, null as null, lists and maps inline,
// class instances in BAML's multi-line form with @alias names.
BRAKE_TEST(display_forms) {
  Fixture f(R"(
class Inner {
  d int?
  tags string[]
}
class Outer {
  name string @alias("title")
  score float
  inner Inner
  empty string[]
  meta map<string, int>
}
enum Level {
  Low @alias("low")
  High
}
)");
  f.arg("o", f.instance("Outer", {{"name", f.str("q\"x\n")}, {"score", vm::Value::number(2)},
                                  {"inner", f.instance("Inner", {{"tags", f.list({f.str("a"), f.str("b")})}})},
                                  {"empty", f.list({})}, {"meta", f.map({{"k", vm::Value::integer(1)}})}}));
  f.arg("levels", f.list({f.enum_value("Level", "Low"), f.enum_value("Level", "High")}));
  f.arg("l", f.list({vm::Value::null(), vm::Value::integer(2), vm::Value::null()}));
  f.arg("floats", f.list({vm::Value::number(1), vm::Value::number(0.5), vm::Value::number(1e20), vm::Value::number(1e-7)}));
  f.arg("n", vm::Value::null());
  EXPECT_EQ(f.show("{{ o }}"),
            "{\n"
            "    \"title\": \"q\\\"x\\n\",\n"
            "    \"score\": 2.0,\n"
            "    \"inner\": {\n"
            "        \"d\": null,\n"
            "        \"tags\": [\n"
            "            \"a\",\n"
            "            \"b\",\n"
            "        ],\n"
            "    },\n"
            "    \"empty\": [],\n"
            "    \"meta\": {\n"
            "        \"k\": 1,\n"
            "    },\n"
            "}");
  EXPECT_EQ(f.show("{{ l }} {{ n }} {{ levels }} {{ levels[0] }} {{ levels[1] }} {{ floats }} {{ 1e20 }}"),
            "[null, 2, null] null [low, High] low High [1.0, 0.5, 1e20, 1e-7] 100000000000000000000.0");
  EXPECT_EQ(f.show("{{ [o.inner] }}"), "[{\n    \"d\": null,\n    \"tags\": [\n        \"a\",\n        \"b\",\n    ],\n}]");
  EXPECT_EQ(f.show("{{ {'a': [1, {'b': none}]} }} {{ o.inner.tags }} {{ o.score }}"),
            "{\"a\": [1, {\"b\": null}]} [\"a\", \"b\"] 2.0");
  EXPECT_EQ(llm::display_value(*f.program, f.values[0]).substr(0, 24), "{\n    \"title\": \"q\\\"x\\n\",");
  EXPECT_EQ(llm::display_value(*f.program, f.str("plain")), "plain");
}

BRAKE_TEST(enums_compare_by_name_show_by_alias) {
  Fixture f("enum Status {\n  InProgress @alias(\"in_progress\")\n  Done\n}");
  f.arg("status", f.enum_value("Status", "InProgress"));
  f.arg("done", f.enum_value("Status", "Done"));
  EXPECT_EQ(f.show("{{ status }} {{ status == 'InProgress' }} {{ status == 'in_progress' }} {{ 'InProgress' == status }} "
                   "{{ status != 'Done' }} {{ status < 'ZZZ' }} {{ status.value }}"),
            "in_progress true false true true true InProgress");
  EXPECT_EQ(f.show("{{ status == Status.InProgress }} {{ done == Status.InProgress }} {{ Status.Done }} "
                   "{{ status in ['InProgress'] }} {{ done < status }}"),
            "true false Done true true");
  EXPECT_CONTAINS(f.render_error("{{ Status.Nope }}"), "enum Status has no variant Nope");
}

// Media values become message parts; in text they are BAML's magic string.
BRAKE_TEST(media_parts_and_magic_strings) {
  Fixture f;
  f.arg("img", f.image_url("https://example.com/a.png"));
  f.arg("b64", f.image_base64("QUJD", "image/png"));
  EXPECT_EQ(f.show("{{ _.role('system') }}\nHere is an image: {{ img }}. Please help me."),
            "system: Here is an image:|<media https://example.com/a.png>|. Please help me.");
  // Media alone makes a chat prompt (a completion cannot carry media).
  llm::RenderedPrompt p = f.render("Look {{ b64 }}");
  CHECK(p.chat);
  CHECK_EQ_INT(p.messages.size(), 1);
  EXPECT_EQ(p.messages[0].role, "system");
  CHECK(p.messages[0].parts.size() == 2 && p.messages[0].parts[1].kind == llm::PromptPart::Kind::Media);
  if (p.messages[0].parts.size() == 2) {
    EXPECT_EQ(p.messages[0].parts[1].media.base64, "QUJD");
    EXPECT_EQ(p.messages[0].parts[1].media.mime_type, "image/png");
    CHECK(p.messages[0].parts[1].media.kind == llm::Media::Kind::Image);
  }
  EXPECT_EQ(f.text("{{ img }}"),
            "BAML_MEDIA_MAGIC_STRING_DELIMITER:baml-start-media:{\"media_type\":\"Image\",\"mime_type\":null,"
            "\"content\":{\"Url\":{\"url\":\"https://example.com/a.png\"}}}:baml-end-media:BAML_MEDIA_MAGIC_STRING_DELIMITER");
  EXPECT_EQ(f.text("{{ b64|bool }} {{ img.url }}|{{ b64 ~ '' == '' }}"), "true |false");
  EXPECT_CONTAINS(f.text("{{ b64 }}"), "\"mime_type\":\"image/png\",\"content\":{\"Base64\":{\"base64\":\"QUJD\"}}");
}

BRAKE_TEST(roles_split_messages) {
  Fixture f;
  f.arg("subject", f.str("sakura"));
  f.tags = {{"ROLE", "john doe"}};
  f.client.allowed_roles = {"system", "john doe"};
  const char* t = R"(
      You are an assistant: {{ subject }}

      {{ _.chat(role=ctx.tags.ROLE) }}

      Tell me a haiku about {{ subject }}.

      {{ _.role(ctx.tags.ROLE) }}
      End with {{ ctx.client.provider }}.
  )";
  EXPECT_EQ(f.show(t), "system: You are an assistant: sakura\njohn doe: Tell me a haiku about sakura.\njohn doe: End with openai.");
  // A role the client does not allow becomes its default; remap_roles renames last.
  f.client.allowed_roles = {"system", "user"};
  f.client.remap_roles = {{"user", "human"}};
  EXPECT_EQ(f.show("{{ _.role('user') }} hi {{ _.role('assistant') }} there {{ _.role('system') }} sys"),
            "human: hi\nsystem: there\nsystem: sys");
  // No allowed roles: any role.
  f.client.allowed_roles.clear();
  f.client.remap_roles.clear();
  EXPECT_EQ(f.show("{{ _.role('tool') }} t"), "tool: t");
  // Messages with nothing but whitespace are dropped; so is an empty start.
  EXPECT_EQ(f.show("{{ _.role('user') }}   {{ _.role('assistant') }}\n\n{{ _.role('user') }} last"), "user: last");
  // A completion: no role call, the text exactly (one message with the default role).
  llm::RenderedPrompt p = f.render("  just text  ");
  CHECK(!p.chat);
  CHECK_EQ_INT(p.messages.size(), 1);
  EXPECT_EQ(p.messages[0].role, "system");
  EXPECT_EQ(p.messages[0].parts[0].text, "just text");
  p = f.render("{{ '' }}");
  CHECK(!p.chat && p.messages.size() == 1 && p.messages[0].parts.size() == 1 && p.messages[0].parts[0].text.empty());
  // No client: the default role is user.
  f.with_client = false;
  EXPECT_EQ(f.show("a {{ _.role('assistant') }} b"), "user: a\nassistant: b");
}

BRAKE_TEST(role_options_and_errors) {
  Fixture f;
  f.client.allowed_roles = {"user"};
  f.client.remap_roles = {{"user", "participant"}};
  std::vector<llm::MessageOptions> options;
  llm::RenderedPrompt p = f.render(
      "{{ _.chat('user') }} first {{ _.chat('user', __baml_allow_dupe_role__=true) }} second "
      "{{ _.role('user', cache_control={'type': 'ephemeral'}) }} third",
      &options);
  CHECK_EQ_INT(p.messages.size(), 3);
  CHECK_EQ_INT(options.size(), 3);
  if (p.messages.size() == 3 && options.size() == 3) {
    EXPECT_EQ(p.messages[0].role, "participant");
    EXPECT_EQ(p.messages[1].role, "participant");
    CHECK(!options[0].allow_duplicate_role);
    CHECK(options[1].allow_duplicate_role);
    EXPECT_EQ(options[2].meta_json, "{\"cache_control\":{\"type\":\"ephemeral\"}}");
  }
  EXPECT_CONTAINS(f.render_error("{{ _.role('a', role='aa') }}"), "role() called with two roles: 'aa' and 'a'");
  EXPECT_CONTAINS(f.render_error("\n\n  {{ _.role() }}"), "role() called without role. Try role('role') or role(role='role'). (template line 3, column 6)");
  EXPECT_CONTAINS(f.render_error("{{ _.role(3) }}"), "role() needs a string role, not int");
  EXPECT_CONTAINS(f.render_error("{{ _.role('u', __baml_allow_dupe_role__='yes') }}"), "__baml_allow_dupe_role__ must be true or false");
  // In text, roles are BAML's magic strings.
  EXPECT_EQ(f.text("{{ _.role('user') }}x"),
            "BAML_CHAT_ROLE_MAGIC_STRING_DELIMITER:baml-start-baml:{\"role\":\"user\",\"__baml_allow_dupe_role__\":false}"
            ":baml-end-baml:BAML_CHAT_ROLE_MAGIC_STRING_DELIMITER" "x");
}

BRAKE_TEST(ctx_client_tags_and_output_format) {
  Fixture f;
  f.tags = {{"team", "core"}};
  EXPECT_EQ(f.show("{{ ctx.client.name }}/{{ ctx.client.provider }} {{ ctx.tags.team }} [{{ ctx.tags.missing }}] "
                   "{{ ctx.client.allowed_roles|length }}"),
            "gpt4/openai core [] 3");
  EXPECT_EQ(f.show("A {{ ctx.output_format }} B"), "A OUTPUT_FORMAT B");
  CHECK(f.last_output_format_kwargs.empty());
  EXPECT_EQ(f.show("{{ ctx.output_format(prefix='Answer: ', always_hoist_enums=true) }}"), "Answer: OUTPUT_FORMAT");
  CHECK_EQ_INT(f.last_output_format_kwargs.size(), 2);
  if (f.last_output_format_kwargs.size() == 2) {
    EXPECT_EQ(f.last_output_format_kwargs[0].first, "prefix");
    CHECK(f.last_output_format_kwargs[0].second.tag == vm::Tag::String);
    EXPECT_EQ(f.last_output_format_kwargs[1].first, "always_hoist_enums");
    CHECK(f.last_output_format_kwargs[1].second.tag == vm::Tag::Bool && f.last_output_format_kwargs[1].second.b);
  }
  EXPECT_EQ(f.show("{{ ctx.output_format(prefix=null) }}"), "OUTPUT_FORMAT");
  CHECK(f.last_output_format_kwargs.size() == 1 && f.last_output_format_kwargs[0].second.tag == vm::Tag::Null);
  EXPECT_EQ(f.show("{% set of = ctx.output_format %}{{ of|length }}"), "13");
  EXPECT_CONTAINS(f.render_error("{{ ctx.output_format(fail=true) }}"), "ctx.output_format: asked to fail (template line 1, column 4)");
  // Without a client ctx.client is undefined; without a callback output_format renders nothing.
  f.with_client = false;
  EXPECT_EQ(f.show("[{{ ctx.client }}]"), "[]");
  auto t = f.compile("[{{ ctx.output_format }}]");
  llm::RenderInput in = f.input();
  in.output_format = nullptr;
  EXPECT_EQ(llm::render_template(*t, in).messages[0].parts[0].text, "[]");
}

BRAKE_TEST(template_strings) {
  Fixture f("class User {\n  name string\n}");
  f.template_string("Greet", {"name"}, "Hello, {{ name }}!");
  f.template_string("Inner", {}, "INNER");
  f.template_string("Outer", {}, "before {{ Inner() }} after");
  f.template_string("Info", {"label", "user"}, "\n    {{ label }}\n    The user's name is: {{ user.name }}\n");
  f.template_string("SystemFirst", {"job"}, "{{ _.role('system') }} You are {{ job }}.\n{{ _.role('user') }}");
  f.arg("name", f.str("Alice"));
  f.arg("u", f.instance("User", {{"name", f.str("Bob")}}));
  EXPECT_EQ(f.show("{{ Greet(name) }}"), "Hello, Alice!");
  EXPECT_EQ(f.show("{{ Outer() }}"), "before INNER after");
  EXPECT_EQ(f.show("{{ Greet(name='Zed') }} {{ Greet('x')|upper }} {% set g = Greet(name) %}{{ g|length }}"),
            "Hello, Zed! HELLO, X! 13");
  EXPECT_EQ(f.show("Here:\n{{ Info('L', u) }}"), "Here:\nL\nThe user's name is: Bob");
  EXPECT_EQ(f.show("{{ SystemFirst('an editor') }}\n{{ name }}"), "system: You are an editor.\nuser: Alice");
  // A template_string that calls itself stops at the depth limit.
  f.template_string("Loop", {}, "x{{ Loop() }}");
  EXPECT_CONTAINS(f.render_error("{{ Loop() }}"), "template_string calls nested too deeply (does Loop call itself?)");
  // Missing from the render's list.
  auto t = f.compile("{{ Greet(name) }}");
  llm::RenderInput in = f.input();
  std::vector<llm::TemplateStringDef> none;
  in.template_strings = &none;
  try {
    llm::render_template(*t, in);
    CHECK(!"rendered");
  } catch (const llm::RenderError& e) {
    EXPECT_CONTAINS(e.what(), "template_string Greet is not available to this render");
  }
}

// format(type=...): JSON (minified), YAML (serde_yaml's block style) and
// TOON, all with @alias names and enum aliases.
BRAKE_TEST(format_filter_json_and_tojson) {
  Fixture f(R"(
enum Role {
  Admin @alias("admin")
  Guest
}
class Member {
  user_name string @alias("name")
  role Role
}
)");
  f.arg("m", f.instance("Member", {{"user_name", f.str("Al\"ice")}, {"role", f.enum_value("Role", "Admin")}}));
  f.arg("data", f.map({{"n", vm::Value::integer(30)}, {"f", vm::Value::number(1.5)}, {"w", vm::Value::number(2)},
                       {"l", f.list({f.str("a"), vm::Value::null(), vm::Value::boolean(true)})}, {"e", f.map({})}}));
  EXPECT_EQ(f.show("{{ m|format(type='json') }}"), "{\"name\":\"Al\\\"ice\",\"role\":\"admin\"}");
  EXPECT_EQ(f.show("{{ data|format(type=\"JSON\") }}"), "{\"n\":30,\"f\":1.5,\"w\":2.0,\"l\":[\"a\",null,true],\"e\":{}}");
  EXPECT_EQ(f.show("{{ {'a': '<b>&\\''}|tojson }} {{ [1]|tojson(indent=2) }} {{ 'x'|format(format='json') }}"),
            "{\"a\":\"\\u003cb\\u003e\\u0026\\u0027\"} [\n  1\n] \"x\"");
  EXPECT_EQ(f.show("{{ m|tojson(2) }}"), "{\n  \"name\": \"Al\\\"ice\",\n  \"role\": \"admin\"\n}");
  EXPECT_CONTAINS(f.render_error("{{ m|format }}"), "format filter requires 'type' keyword argument");
  EXPECT_CONTAINS(f.render_error("{{ m|format(type='xml') }}"), "Unsupported format type 'xml'. Supported types: 'yaml', 'json', 'toon'");
  EXPECT_CONTAINS(f.render_error("{{ (0.0 / 1 - 1e308 * 10)|format(type='json') }}"), "not finite");
}

BRAKE_TEST(format_filter_yaml) {
  Fixture f(R"(
enum Role {
  Admin @alias("admin")
  User @alias("user")
}
class Member {
  user_name string @alias("name")
  role Role
}
class Organization {
  org_name string @alias("name")
  members Member[]
}
)");
  f.arg("org", f.instance("Organization",
                          {{"org_name", f.str("Acme Corp")},
                           {"members", f.list({f.instance("Member", {{"user_name", f.str("Alice")}, {"role", f.enum_value("Role", "Admin")}}),
                                               f.instance("Member", {{"user_name", f.str("Bob")}, {"role", f.enum_value("Role", "User")}})})}}));
  f.arg("strings", f.list({f.str("true"), f.str("123"), f.str(""), f.str("a: b"), f.str("-x"), f.str("- x"),
                           f.str("plain text"), f.str("it's"), f.str("#tag"), f.str("1.5e3"), f.str("null"), f.str("tab\there")}));
  f.arg("nested", f.list({f.list({vm::Value::integer(1), vm::Value::integer(2)}), f.list({}),
                          f.map({{"a", f.map({{"b", vm::Value::integer(1)}})}}), f.map({{"c", f.list({vm::Value::integer(1)})}})}));
  f.arg("multi", f.map({{"text", f.str("line1\nline2")}, {"kept", f.str("end\n")}, {"f", vm::Value::number(1)}, {"z", vm::Value::null()}}));
  EXPECT_EQ(f.show("{{ org|format(type='yaml') }}"),
            "name: Acme Corp\nmembers:\n- name: Alice\n  role: admin\n- name: Bob\n  role: user\n");
  EXPECT_EQ(f.show("{{ strings|format(type='yaml') }}"),
            "- 'true'\n- '123'\n- ''\n- 'a: b'\n- -x\n- '- x'\n- plain text\n- it's\n- '#tag'\n- '1.5e3'\n- 'null'\n- \"tab\\there\"\n");
  EXPECT_EQ(f.show("{{ nested|format(type='yaml') }}"), "- - 1\n  - 2\n- []\n- a:\n    b: 1\n- c:\n  - 1\n");
  EXPECT_EQ(f.show("{{ multi|format(type='yaml') }}"), "text: |-\n  line1\n  line2\nkept: |\n  end\nf: 1.0\nz: null\n");
  EXPECT_EQ(f.show("{{ {}|format(type='yaml') }}|{{ 'hi'|format(type='yaml') }}|{{ none|format(type='yaml') }}"),
            "{}\n|hi\n|null\n");
}

BRAKE_TEST(format_filter_toon) {
  Fixture f(R"(
class Item {
  id int
  name string
}
enum Status {
  Active @alias("active")
  Pending
}
class User {
  name string
  status Status
}
)");
  f.arg("items", f.list({f.instance("Item", {{"id", vm::Value::integer(1)}, {"name", f.str("Widget")}}),
                         f.instance("Item", {{"id", vm::Value::integer(2)}, {"name", f.str("Gadget")}})}));
  f.arg("user", f.instance("User", {{"name", f.str("Alice")}, {"status", f.enum_value("Status", "Active")}}));
  f.arg("obj", f.map({{"tags", f.list({f.str("a"), f.str("b")})}, {"n", vm::Value::integer(1)},
                      {"inner", f.map({{"x", vm::Value::number(2)}, {"y", vm::Value::number(1.5)}})},
                      {"none", vm::Value::null()}, {"xs", f.list({})}, {"o", f.map({})}, {"my-key", f.str("v")}}));
  f.arg("quoting", f.map({{"s", f.str("a,b")}, {"t", f.str("true")}, {"e", f.str("")}, {"c", f.str("x: y")},
                          {"n", f.str("42")}, {"d", f.str("-5x")}, {"sp", f.str(" pad")}, {"u", f.str("héllo wörld")}}));
  f.arg("mixed", f.list({vm::Value::integer(1), f.map({{"a", vm::Value::integer(1)}, {"b", f.map({{"c", vm::Value::integer(2)}})}}),
                         f.list({vm::Value::integer(2), vm::Value::integer(3)}), f.map({})}));
  EXPECT_EQ(f.show("{{ items|format(type='toon') }}"), "[2]{id,name}:\n  1,Widget\n  2,Gadget");
  EXPECT_EQ(f.show("{{ items|format(type='toon', length_marker='🔥') }}"), "[🔥2]{id,name}:\n  1,Widget\n  2,Gadget");
  EXPECT_EQ(f.show("{{ items|format(type='toon', delimiter='pipe') }}"), "[2|]{id|name}:\n  1|Widget\n  2|Gadget");
  EXPECT_EQ(f.show("{{ user|format(type='toon') }}|{{ user.status|format(type='toon') }}"), "name: Alice\nstatus: active|active");
  EXPECT_EQ(f.show("{{ obj|format(type='toon') }}"),
            "tags[2]: a,b\nn: 1\ninner:\n  x: 2\n  y: 1.5\nnone: null\nxs[0]:\no:\n\"my-key\": v");
  EXPECT_EQ(f.show("{{ obj|format(type='toon', indent=4, delimiter='tab') }}"),
            "tags[2\t]: a\tb\nn: 1\ninner:\n    x: 2\n    y: 1.5\nnone: null\nxs[0\t]:\no:\n\"my-key\": v");
  EXPECT_EQ(f.show("{{ quoting|format(type='toon') }}"),
            "s: \"a,b\"\nt: \"true\"\ne: \"\"\nc: \"x: y\"\nn: \"42\"\nd: \"-5x\"\nsp: \" pad\"\nu: héllo wörld");
  EXPECT_EQ(f.show("{{ mixed|format(type='toon') }}"), "[4]:\n  - 1\n  - a: 1\n    b:\n      c: 2\n  - [2]: 2,3\n  -");
  EXPECT_EQ(f.show("{{ [[1, 2], []]|format(type='toon') }}|{{ 'a b'|format(type='toon') }}|{{ {}|format(type='toon') }}|"),
            "[2]:\n  - [2]: 1,2\n  - [0]:|a b||");
  EXPECT_CONTAINS(f.render_error("{{ items|format(type='toon', delimiter='semicolon') }}"),
                  "Invalid delimiter 'semicolon'. Use 'comma', 'tab', or 'pipe'");
  EXPECT_CONTAINS(f.render_error("{{ items|format(type='toon', length_marker='ab') }}"), "length_marker must be a single character, got 'ab'");
}

// Every compile error, at its line and column in the file.
BRAKE_TEST(compile_errors_at_their_positions) {
  Fixture f("enum Status {\n  A\n}");
  f.param("x");
  f.template_string("Greet", {"name"}, "hi {{ name }}");
  auto errors = [&](const std::string& text, brake::lang::SourceLoc at = {1, 1}) {
    std::string e;
    f.compile(text, &e, at);
    return e;
  };
  // Positions survive the dedent: the text starts at line 10, column 14 of the file.
  EXPECT_EQ(errors("\n    Hello {{ nme }}\n    {{ x|nofilter }} {% if x is notatest %}{% endif %}\n  ", {10, 14}),
            "11:14 unknown variable 'nme'\n12:10 unknown filter 'nofilter'\n12:33 unknown test 'notatest'");
  EXPECT_EQ(errors("{{ nme }}", {3, 20}), "3:23 unknown variable 'nme'");
  EXPECT_EQ(errors("{{ a }} {{ x + }} {{ c }}"),
            "1:4 unknown variable 'a'\n1:16 expected an expression, found '}}'\n1:22 unknown variable 'c'");
  EXPECT_EQ(errors("{% if x %}abc"), "1:4 {% if %} is never closed (missing {% endif %})");
  EXPECT_EQ(errors("{% for i in x %}{% if i %}{% endfor %}"), "1:20 {% if %} is never closed (missing {% endif %})");
  EXPECT_EQ(errors("{% endfor %}"), "1:4 unexpected {% endfor %}");
  EXPECT_EQ(errors("{% if x %}{% else %}{% elif x %}{% endif %}"), "1:24 unexpected {% elif %}");
  EXPECT_EQ(errors("ok {{ x"), "1:4 unclosed {{ (missing }})");
  EXPECT_EQ(errors("ok {% if x"), "1:4 unclosed {% (missing %})");
  EXPECT_EQ(errors("{# c"), "1:1 unclosed comment ({# without #})");
  EXPECT_EQ(errors("{% raw %}{{"), "1:1 unclosed {% raw %} (missing {% endraw %})");
  EXPECT_EQ(errors("{% frob %}"), "1:4 unknown statement 'frob'");
  EXPECT_EQ(errors("{% include 'x' %}"), "1:4 {% include %} is not supported in BAML prompts");
  EXPECT_EQ(errors("{% break %}"), "1:4 {% break %} outside a for loop");
  EXPECT_EQ(errors("{{ 'abc }}"), "1:4 unterminated string");
  EXPECT_EQ(errors("{{ x $ 1 }}"), "1:6 unexpected character '$' in a tag\n1:8 expected '}}', found a number");
  EXPECT_EQ(errors("{% for i in %}{% endfor %}"), "1:13 expected an expression, found '%}'");
  EXPECT_EQ(errors("{% for i x %}{% endfor %}"), "1:10 expected 'in', found 'x'");
  EXPECT_EQ(errors("{% set %}"), "1:8 expected a variable name, found '%}'");
  EXPECT_EQ(errors("{% set y = 1 %}{% set y, z = 1, 2 %}"), "1:24 assigning several variables at once is not supported");
  EXPECT_EQ(errors("{{ x(1) }}"), "1:5 only methods, template_strings and range(), namespace() and dict() can be called");
  EXPECT_EQ(errors("{{ x|default(a=1, 3) }}"), "1:19 a positional argument cannot follow keyword arguments");
  EXPECT_EQ(errors("{{ x|default(a=1, a=2) }}"), "1:19 keyword argument 'a' given twice");
  EXPECT_EQ(errors("{{ 12345678901234567890 }}"), "1:4 integer literal too large");
  EXPECT_EQ(errors("{{ '\\u12' }}"), "1:5 invalid \\u escape in a string");
  EXPECT_EQ(errors("{{ _.role('user') ~ 'x' }}"), "1:4 _.role() and _.chat() must be the whole of a {{ }} tag");
  EXPECT_EQ(errors("{% if _.chat('x') %}{% endif %}"), "1:4 _.role() and _.chat() must be the whole of a {{ }} tag");
  EXPECT_EQ(errors("{{ _.say('x') }}"), "1:4 _ has no function 'say' (only role and chat)");
  EXPECT_EQ(errors("{{ _ }}"), "1:4 _ can only be used as _.role(...) or _.chat(...)");
  EXPECT_EQ(errors("{{ ctx.nope }}"), "1:8 ctx has no attribute 'nope' (only client, tags and output_format)");
  EXPECT_EQ(errors("{{ ctx.output_format('p') }}"), "1:4 ctx.output_format() takes keyword arguments only (prefix=..., ...)");
  EXPECT_EQ(errors("{{ loop.index }}"), "1:4 loop is only defined inside a for loop");
  EXPECT_EQ(errors("{% for a in x %}{{ loop.nope }}{{ loop }}{% endfor %}"),
            "1:25 loop has no attribute 'nope'\n1:35 loop can only be used as loop.<attribute>");
  EXPECT_EQ(errors("{% for a in x if loop.index %}{% endfor %}"), "1:18 loop is only defined inside a for loop");
  EXPECT_EQ(errors("{{ Greet() }} {{ Greet(1, 2) }}"),
            "1:4 template_string Greet takes 1 argument, not 0\n1:18 template_string Greet takes 1 argument, not 2");
  EXPECT_EQ(errors("{{ Greet }}"), "1:4 template_string Greet must be called: Greet(...)");
  EXPECT_EQ(errors("{{ Status }}"), "1:4 enum Status can only be used as Status.<variant>");
  EXPECT_EQ(errors("{{ range }}"), "1:4 range must be called: range(...)");
  EXPECT_EQ(errors("{{ x is }}"), "1:9 expected a test name, found '}}'");
  EXPECT_EQ(errors("{{ x| }}"), "1:7 expected a filter name, found '}}'");
  EXPECT_EQ(errors("{{ x[] }}"), "1:6 expected an index");
  EXPECT_EQ(errors("{{ (1, }}"), "1:8 expected an expression, found '}}'");
  EXPECT_EQ(errors("{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}").substr(0, 35),
            "1:46 expression nested too deeply");
  std::string tall = "{{ 1";
  for (int i = 0; i < 300; i++) tall += " + 1";
  EXPECT_CONTAINS(errors(tall + " }}"), "expression nested too deeply");
  std::string chain = "{{ x";
  for (int i = 0; i < 300; i++) chain += "|string";
  EXPECT_CONTAINS(errors(chain + " }}"), "expression nested too deeply");
  std::string deep;
  for (int i = 0; i < 200; i++) deep += "{% if x %}";
  for (int i = 0; i < 200; i++) deep += "{% endif %}";
  EXPECT_CONTAINS(errors(deep), "blocks nested too deeply");
  // A name set only later in the template, or inside a loop that ended, is unknown where it is used.
  EXPECT_EQ(errors("{{ later }}{% set later = 1 %}{% for i in x %}{% set inner = 1 %}{% endfor %}{{ inner }}{{ i }}"),
            "1:4 unknown variable 'later'\n1:81 unknown variable 'inner'\n1:92 unknown variable 'i'");
}

// For hosts rendering ad-hoc templates: unknown names render as undefined.
BRAKE_TEST(unknown_names_may_be_undefined) {
  Fixture f;
  f.scope.unknown_names = llm::TemplateScope::UnknownNames::Undefined;
  EXPECT_EQ(f.show("[{{ nobody }}] {{ nobody is defined }} {{ nobody|default('d') }}"), "[] false d");
}

BRAKE_TEST(render_errors_say_what_and_where) {
  Fixture f("class Box {\n  v string?\n}");
  f.arg("n", vm::Value::integer(3));
  f.arg("s", f.str("str"));
  EXPECT_EQ(f.render_error("{{ 1 / 0 }}"), "division by zero (template line 1, column 6)");
  EXPECT_EQ(f.render_error("\n  line\n  {{ s - 1 }}"),
            "unsupported operand types for -: string and int (template line 3, column 8)");
  EXPECT_CONTAINS(f.render_error("{{ n|length }}"), "int has no length");
  EXPECT_CONTAINS(f.render_error("{{ s|abs }}"), "filter abs needs a number, not string");
  EXPECT_CONTAINS(f.render_error("{{ 9223372036854775807 + 1 }}"), "integer overflow");
  EXPECT_CONTAINS(f.render_error("{{ s|upper(1) }}"), "filter upper takes at most 0 positional arguments");
  EXPECT_CONTAINS(f.render_error("{{ 1.5|round(bogus=1) }}"), "filter round has no argument named 'bogus'");
  EXPECT_CONTAINS(f.render_error("{{ n[0] }}{{ s['k'] }}"), "list and string indexes must be integers, not string");
  EXPECT_CONTAINS(f.render_error("{{ {1: 2} }}"), "a dict's keys must be strings, not int");
  EXPECT_CONTAINS(f.render_error("{{ n.upper() }}"), "int has no method 'upper'");
  EXPECT_CONTAINS(f.render_error("{{ s|regex_match('(') }}"), "regex_match: invalid pattern: unclosed group");
  EXPECT_CONTAINS(f.render_error("{{ range(0, 5, 0)|list }}"), "range() step cannot be zero");
  // A cyclic value cannot be shown.
  vm::Value l = f.list({vm::Value::integer(1)});
  l.as_array()->items.push_back(l);
  f.arg("cyclic", l);
  EXPECT_CONTAINS(f.render_error("{{ cyclic }}"), "value nested too deeply (or cyclic) to write");
  EXPECT_CONTAINS(f.render_error("{{ cyclic|tojson }}"), "value nested too deeply (or cyclic) to write");
  // Errors in a template_string are at its own text's position.
  f.template_string("Bad", {"x"}, "ok\n {{ x + 'a' }}");
  EXPECT_EQ(f.render_error("{{ Bad(1) }}"), "unsupported operand types for +: int and string (template line 2, column 7)");
}

BRAKE_TEST(regex_match_patterns) {
  Fixture f;
  auto m = [&](const std::string& text, const std::string& pattern) {
    f.names.clear();
    f.values.clear();
    f.scope.variables.clear();
    f.arg("t", f.str(text));
    f.arg("p", f.str(pattern));
    return f.show("{{ t|regex_match(p) }}");
  };
  EXPECT_EQ(m("(123)456-7890", "\\(?\\d{3}\\)?[-.\\s]?\\d{3}[-.\\s]?\\d{4}"), "true");
  EXPECT_EQ(m("hello world", "^hello"), "true");
  EXPECT_EQ(m("say hello", "^hello"), "false");
  EXPECT_EQ(m("cat", "^(dog|cat|bird)$"), "true");
  EXPECT_EQ(m("cats", "^(dog|cat|bird)$"), "false");
  EXPECT_EQ(m("aaa", "^a{2,3}$"), "true");
  EXPECT_EQ(m("aaaa", "^a{2,3}$"), "false");
  EXPECT_EQ(m("ab12", "^[a-z]+[0-9]*$"), "true");
  EXPECT_EQ(m("AB12", "^[^a-z]+$"), "true");
  EXPECT_EQ(m("Hello", "(?i)^hello$"), "true");
  EXPECT_EQ(m("a word here", "\\bword\\b"), "true");
  EXPECT_EQ(m("swordfish", "\\bword\\b"), "false");
  EXPECT_EQ(m("x@y.com", "^[\\w.]+@\\w+\\.com$"), "true");
  EXPECT_EQ(m("line1\nline2", "^line2$"), "false");
  EXPECT_EQ(m("line1\nline2", "(?m)^line2$"), "true");
  EXPECT_EQ(m("a\nb", "a.b"), "false");
  EXPECT_EQ(m("a\nb", "(?s)a.b"), "true");
  EXPECT_EQ(m("héllo", "^h.llo$"), "true");
  EXPECT_EQ(m("", "^$"), "true");
  EXPECT_EQ(m("abc", "b*?"), "true");
  EXPECT_EQ(m("a{b", "a\\{b"), "true");
  // No backtracking: a pattern that is exponential for backtracking engines stays fast.
  double t0 = now_ms();
  EXPECT_EQ(m(std::string(20000, 'a'), "^(a*)*b$"), "false");
  EXPECT_EQ(m(std::string(20000, 'a'), "(a|aa)+c"), "false");
  CHECK(now_ms() - t0 < (brake_test_sanitized() ? 20000 : 2000));
  // Bad patterns are render errors.
  EXPECT_CONTAINS(f.render_error("{{ 'x'|regex_match('a{2,1}') }}"), "invalid repetition range");
  EXPECT_CONTAINS(f.render_error("{{ 'x'|regex_match('*a') }}"), "repetition with nothing to repeat");
  EXPECT_CONTAINS(f.render_error("{{ 'x'|regex_match('[a-') }}"), "unclosed character class");
  EXPECT_CONTAINS(f.render_error("{{ 'x'|regex_match('a{1000}{1000}') }}"), "pattern too large");
  EXPECT_CONTAINS(f.render_error("{{ 'x'|regex_match('\\\\p{L}') }}"), "unsupported escape \\p");
}

// A huge loop stops when its call is cancelled.
BRAKE_TEST(cancel_stops_a_long_loop) {
  Fixture f;
  auto t = f.compile("{% for i in range(1000000000000) %}{{ i }},{% endfor %}");
  llm::RenderInput in = f.input();
  std::atomic<int> outcome{0}; // 1: interrupted, 2: finished, 3: other
  double cancelled_at = 0, stopped_at = 0;
  std::thread worker([&] {
    try {
      llm::render_template(*t, in);
      outcome = 2;
    } catch (const vm::Interrupted&) {
      outcome = 1;
    } catch (...) {
      outcome = 3;
    }
    stopped_at = now_ms();
  });
  sleep_ms(30);
  cancelled_at = now_ms();
  f.cancel.store(1);
  worker.join();
  CHECK_EQ_INT(outcome.load(), 1);
  double ms = stopped_at - cancelled_at;
  fprintf(stderr, "stopped %.2f ms after the cancel\n", ms);
  // (Generous: the machine may be busy; the check itself runs every ~0.1-1 ms of work.)
  CHECK(ms < (brake_test_sanitized() ? 1000 : 100));
  // The text written so far was charged while rendering, and given back.
  CHECK(f.heap->used() < (size_t(1) << 20));
}

BRAKE_TEST(cancel_stops_long_filters_and_serialisations) {
  Fixture f;
  // A big list: join, sort and format(type=...) all look at the cancel state as they go.
  vm::ArrayObj* a = f.heap->new_array(0);
  for (int i = 0; i < 300000; i++) f.heap->array_push(a, f.str("item " + std::to_string(i % 1000)));
  f.arg("big", vm::Value::object(vm::Tag::Array, a));
  const char* templates[] = {
      "{% for i in range(100000) %}{{ big|join(',')|length }}{% endfor %}",
      "{% for i in range(100000) %}{{ big|sort|length }}{% endfor %}",
      "{% for i in range(100000) %}{{ big|format(type='yaml')|length }}{% endfor %}",
      "{% for i in range(100000) %}{{ big|unique|length }}{% endfor %}",
  };
  for (const char* text : templates) {
    auto t = f.compile(text);
    llm::RenderInput in = f.input();
    f.cancel.store(0);
    std::atomic<int> outcome{0};
    double stopped_at = 0;
    std::thread worker([&] {
      try {
        llm::render_template(*t, in);
        outcome = 2;
      } catch (const vm::Interrupted&) {
        outcome = 1;
      } catch (...) {
        outcome = 3;
      }
      stopped_at = now_ms();
    });
    sleep_ms(50);
    double cancelled_at = now_ms();
    f.cancel.store(1);
    worker.join();
    CHECK_EQ_INT(outcome.load(), 1);
    double ms = stopped_at - cancelled_at;
    if (ms > (brake_test_sanitized() ? 1000 : 200)) {
      fprintf(stderr, "%s: stopped %.2f ms after the cancel\n", text, ms);
      CHECK(!"slow to stop");
    }
  }
}

// Temporaries and the text being built are charged to the call's heap.
BRAKE_TEST(memory_limit) {
  vm::MemoryPool pool(size_t(1) << 20, 0);
  Fixture f("", &pool);
  EXPECT_EQ(f.show("{% set ns = namespace(s='x') %}{{ ns.s|length }}"), "1");
  const char* growing[] = {
      "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
      "{% for i in range(100000000) %}0123456789{% endfor %}",
      "{{ 'x' * 100000000 }}",
      "{% for i in range(100000000) %}{% set l = [i, i, i] %}{% endfor %}",
      "{{ range(100000000)|list|length }}",
  };
  for (const char* text : growing) {
    auto t = f.compile(text);
    bool limited = false;
    try {
      llm::render_template(*t, f.input());
    } catch (const vm::MemoryLimitExceeded& e) {
      limited = true;
      EXPECT_CONTAINS(e.what(), "memory limit");
    }
    if (!limited) fprintf(stderr, "not limited: %s\n", text);
    CHECK(limited);
  }
  // A render that fits gives the text's charge back when it returns.
  Fixture g("", &pool);
  size_t before = g.heap->used();
  auto t = g.compile("{% for i in range(50000) %}0123456789{% endfor %}");
  llm::RenderedPrompt p = llm::render_template(*t, g.input());
  CHECK_EQ_INT(p.messages[0].parts[0].text.size(), 500000);
  CHECK(g.heap->used() - before < 64 * 1024);
}

// One compiled template is shared by calls on several threads.
BRAKE_TEST(a_template_is_shared_across_threads) {
  Fixture a("class P {\n  name string\n}"), b("class P {\n  name string\n}");
  a.arg("p", a.instance("P", {{"name", a.str("A")}}));
  b.arg("p", b.instance("P", {{"name", b.str("B")}}));
  auto t = a.compile("{% for i in range(20) %}{{ p.name|lower }}{{ loop.index }}{% endfor %}{{ p }}");
  std::string outs[2];
  std::thread th[2];
  Fixture* fx[2] = {&a, &b};
  for (int k = 0; k < 2; k++)
    th[k] = std::thread([&, k] {
      for (int r = 0; r < 200; r++) outs[k] = llm::render_template(*t, fx[k]->input()).messages[0].parts[0].text;
    });
  for (auto& x : th) x.join();
  EXPECT_CONTAINS(outs[0], "a1a2a3");
  EXPECT_CONTAINS(outs[0], "\"name\": \"A\"");
  EXPECT_CONTAINS(outs[1], "b19b20{");
}

// Media inside a class instance splits the message where it sits.
BRAKE_TEST(media_inside_values) {
  // (The class's field is declared string? here; the renderer shows whatever value a field holds.)
  Fixture f("class A {\n  a_prop1 string\n  a_prop2 string? @alias(\"alias_a_prop2\")\n}");
  f.arg("class_arg", f.instance("A", {{"a_prop1", f.str("value_a")}, {"a_prop2", f.image_url("https://example.com/image.jpg")}}));
  f.arg("imgs", f.list({f.image_url("u1"), f.image_url("u2")}));
  EXPECT_EQ(f.show("{{ class_arg }}\n{{ class_arg.a_prop1 }} - {{ class_arg.alias_a_prop2 }}"),
            "system: {\n    \"a_prop1\": \"value_a\",\n    \"alias_a_prop2\":|<media https://example.com/image.jpg>|,\n}\nvalue_a -");
  EXPECT_EQ(f.show("{{ imgs }}"), "system: [|<media u1>|,|<media u2>|]");
  EXPECT_EQ(f.show("{% for i in imgs %}{{ _.role('user') }}{{ i }}{% endfor %}"), "user: <media u1>\nuser: <media u2>");
}

} // namespace

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(smoke),
      TEST_ENTRY(prompt_whitespace_dedent_trim_and_block_rules),
      TEST_ENTRY(literals_and_operators),
      TEST_ENTRY(attribute_index_and_slice_access),
      TEST_ENTRY(string_methods),
      TEST_ENTRY(python_string_format),
      TEST_ENTRY(map_methods_and_items),
      TEST_ENTRY(filters_on_strings),
      TEST_ENTRY(filters_on_lists),
      TEST_ENTRY(tests_with_is),
      TEST_ENTRY(if_elif_else),
      TEST_ENTRY(for_loops),
      TEST_ENTRY(set_scoping_and_namespace),
      TEST_ENTRY(display_forms),
      TEST_ENTRY(enums_compare_by_name_show_by_alias),
      TEST_ENTRY(media_parts_and_magic_strings),
      TEST_ENTRY(roles_split_messages),
      TEST_ENTRY(role_options_and_errors),
      TEST_ENTRY(ctx_client_tags_and_output_format),
      TEST_ENTRY(template_strings),
      TEST_ENTRY(format_filter_json_and_tojson),
      TEST_ENTRY(format_filter_yaml),
      TEST_ENTRY(format_filter_toon),
      TEST_ENTRY(compile_errors_at_their_positions),
      TEST_ENTRY(unknown_names_may_be_undefined),
      TEST_ENTRY(render_errors_say_what_and_where),
      TEST_ENTRY(regex_match_patterns),
      TEST_ENTRY(cancel_stops_a_long_loop),
      TEST_ENTRY(cancel_stops_long_filters_and_serialisations),
      TEST_ENTRY(memory_limit),
      TEST_ENTRY(a_template_is_shared_across_threads),
      TEST_ENTRY(media_inside_values),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
