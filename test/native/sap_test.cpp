// sap_test.cpp: the schema-aligned parser (schema/parse_output.h over
// schema/jsonish.h and schema/coerce.h): where JSON is found in a reply,
// each repair of the fixing parser, each coercion, enum and literal
// matching, unions, aliases, @skip, @assert, partial (streaming) parses,
// and the limits: hostile inputs in bounded time, bounded depth,
// cancellation of a big parse, the heap's memory limit.
//
// Set BRAKE_SAP_CORPUS to the path of sap-corpus.jsonl to also print the
// pass rate over it (informative: it never fails the test).
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "json/json.h"
#include "schema/coerce.h"
#include "schema/jsonish.h"
#include "schema/parse_output.h"
#include "test_util.h"
#include "jsonish_dump.h"
#include "vm/chunk.h"

namespace vm = brake::vm;
namespace schema = brake::schema;
namespace jsonish = brake::schema::jsonish;

namespace {

#define EXPECT_EQ(a, b)                                                                                  \
  do {                                                                                                   \
    std::string a_ = (a), b_ = (b);                                                                      \
    if (a_ != b_) {                                                                                      \
      fprintf(stderr, "%s:%d: %s\n    got:      %s\n    expected: %s\n", __FILE__, __LINE__, #a, a_.c_str(), \
              b_.c_str());                                                                               \
      g_failures++;                                                                                      \
    }                                                                                                    \
  } while (0)

#define EXPECT_FAILS(expr, fragment)                                                                   \
  do {                                                                                                 \
    std::string r_ = (expr);                                                                           \
    if (r_.rfind("ERROR: ", 0) != 0 || r_.find(fragment) == std::string::npos) {                       \
      fprintf(stderr, "%s:%d: %s\n    got:      %s\n    expected an error with: %s\n", __FILE__, __LINE__, \
              #expr, r_.c_str(), fragment);                                                            \
      g_failures++;                                                                                    \
    }                                                                                                  \
  } while (0)

// A program with `decls` and `function F(t: string) -> <target>`, and a
// heap to parse replies onto.
struct Sap {
  std::shared_ptr<vm::CompiledProgram> program;
  brake::lang::TypeId type = 0;
  std::unique_ptr<vm::Heap> heap;
  std::atomic<uint32_t> cancel{0};

  Sap(const std::string& target, const std::string& decls = "", vm::MemoryPool* pool = nullptr) {
    std::string src = decls + "\nfunction F(t: string) -> " + target +
                      " {\n  client \"openai/gpt-4o\"\n  prompt #\"{{ t }}\"#\n}\n";
    program = vm::compile_program(src, "sap.baml");
    for (const auto& d : program->diagnostics.items())
      fprintf(stderr, "test program: %u:%u %s\n", d.loc.line, d.loc.column, d.message.c_str());
    if (!program->diagnostics.empty()) abort();
    type = program->functions[program->function_index.at("F")].return_type;
    heap = std::make_unique<vm::Heap>(pool);
  }

  // The parsed value as compact JSON, or "ERROR: <message>".
  std::string parse(const std::string& text, bool partial = false) {
    vm::Value out;
    std::string error;
    schema::ParseOptions options;
    options.partial = partial;
    if (!schema::parse_output(text, type, *program, *heap, &cancel, out, error, options)) return "ERROR: " + error;
    std::string js;
    brake::json::serialize(out, *program, js, 1 << 26, &cancel);
    return js;
  }
  std::string partial(const std::string& text) { return parse(text, true); }
};

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

// ---------------------------------------------------------------- where JSON is

BRAKE_TEST(string_target_takes_the_text_unchanged) {
  Sap s("string");
  EXPECT_EQ(s.parse("\"hello\""), "\"\\\"hello\\\"\"");
  EXPECT_EQ(s.parse("[\"a\", 1]"), "\"[\\\"a\\\", 1]\"");
  EXPECT_EQ(s.parse("  spaced  \n"), "\"  spaced  \\n\"");
  Sap opt("string?");
  EXPECT_EQ(opt.parse("null"), "\"null\"");
}

BRAKE_TEST(whole_text_as_json) {
  Sap s("int[]");
  EXPECT_EQ(s.parse("[1, 2, 3]"), "[1,2,3]");
  EXPECT_EQ(s.parse("  \n[4]\n "), "[4]");
  Sap f("float");
  EXPECT_EQ(f.parse("12111.123"), "12111.123");
  Sap n("null");
  EXPECT_EQ(n.parse("null"), "null");
}

BRAKE_TEST(map_keys_that_differ_only_in_bytes_not_utf8_are_one_key) {
  // A host's JSON reads each such byte as U+FFFD: the two keys are one
  // there, so they are one here too, the last value kept.
  Sap s("map<string, int>");
  EXPECT_EQ(s.parse("{\"k\xff\": 1, \"k\xfe\": 2, \"ok\": 3}"), "{\"k\uFFFD\":2,\"ok\":3}");
}

BRAKE_TEST(markdown_fences) {
  const char* decls = "class Foo {\n  a int\n  b string\n}";
  Sap s("Foo", decls);
  EXPECT_EQ(s.parse("Here you go:\n```json\n{\"a\": 1, \"b\": \"x\"}\n```\nDone."), "{\"a\":1,\"b\":\"x\"}");
  // Several fences: the one that fits wins; the first on a tie.
  EXPECT_EQ(s.parse("```json\n[\"no\"]\n```\n\n```json\n{\"a\": 2, \"b\": \"y\"}\n```"), "{\"a\":2,\"b\":\"y\"}");
  EXPECT_EQ(s.parse("```\n{\"a\": 3, \"b\": \"z\"}\n```\n```\n{\"a\": 4, \"b\": \"w\"}\n```"), "{\"a\":3,\"b\":\"z\"}");
  // An unclosed fence runs to the end.
  Sap l("string[]");
  EXPECT_EQ(l.parse("```json\n[\"a\", \"b\"]"), "[\"a\",\"b\"]");
}

BRAKE_TEST(json_in_prose) {
  Sap s("map<string, string>");
  EXPECT_EQ(s.parse("{\"a\": \"b\"} is the output."), "{\"a\":\"b\"}");
  const char* decls = "class Foo {\n  hi string[]\n}";
  Sap c("Foo", decls);
  EXPECT_EQ(c.parse("This is a test. The output is: {\"hi\": [\"a\", \"b\"]} and more"), "{\"hi\":[\"a\",\"b\"]}");
  EXPECT_EQ(c.parse("]\n{\"hi\": [\"c\"]}"), "{\"hi\":[\"c\"]}"); // a stray close first
  // A list target takes every object in the prose.
  Sap l("Foo[]", decls);
  EXPECT_EQ(l.parse("First {\"hi\": [\"a\"]} then {\"hi\": [\"b\"]} end"), "[{\"hi\":[\"a\"]},{\"hi\":[\"b\"]}]");
  // A single value takes the first that fits.
  EXPECT_EQ(c.parse("First {\"hi\": [\"a\"]} then {\"hi\": [\"b\"]} end"), "{\"hi\":[\"a\"]}");
  std::string many, want = "[";
  for (int i = 0; i < 300; i++) {
    many += "Item " + std::to_string(i) + ": {\"hi\": [\"" + std::to_string(i) + "\"]}\n";
    want += std::string(i ? "," : "") + "{\"hi\":[\"" + std::to_string(i) + "\"]}";
  }
  EXPECT_EQ(l.parse(many), want + "]");
}

BRAKE_TEST(xml_and_toon_replies) {
  const char* decls =
      "class Address {\n  city string\n  zip int\n}\nclass Person {\n  name string\n  tags string[]\n"
      "  address Address?\n  metadata map<string, int>\n  verified int | bool\n}";
  Sap s("Person", decls);
  EXPECT_EQ(s.parse("Result:\n<Person>\n  <name>Ada</name>\n  <tags><item>a</item><item>b</item></tags>\n"
                    "  <address><city>London</city><zip>123</zip></address>\n"
                    "  <metadata><entry><key>score</key><value>10</value></entry></metadata>\n"
                    "  <verified>true</verified>\n</Person>"),
            "{\"name\":\"Ada\",\"tags\":[\"a\",\"b\"],\"address\":{\"city\":\"London\",\"zip\":123},"
            "\"metadata\":{\"score\":10},\"verified\":true}");
  EXPECT_EQ(s.parse("<Person><name>Bo</name><tags></tags><metadata></metadata><verified>1</verified>"),
            "{\"name\":\"Bo\",\"tags\":[],\"address\":null,\"metadata\":{},\"verified\":1}");
  EXPECT_EQ(s.parse("Here:\nname: Ada\ntags[2]: x,y\naddress:\n  city: Paris\n  zip: 75\nmetadata:\n  a: 1\n"
                    "verified: false"),
            "{\"name\":\"Ada\",\"tags\":[\"x\",\"y\"],\"address\":{\"city\":\"Paris\",\"zip\":75},"
            "\"metadata\":{\"a\":1},\"verified\":false}");
  Sap list("string[]");
  EXPECT_EQ(list.parse("<items><item>one</item><item>two</item></items>"), "[\"one\",\"two\"]");
}

// ---------------------------------------------------------------- repairs

BRAKE_TEST(repair_trailing_commas) {
  Sap s("int[]");
  EXPECT_EQ(s.parse("[1, 2, 3,]"), "[1,2,3]");
  Sap m("map<string, int>");
  EXPECT_EQ(m.parse("{\"a\": 1, \"b\": 2,}"), "{\"a\":1,\"b\":2}");
}

BRAKE_TEST(repair_single_quotes_and_backticks) {
  Sap m("map<string, string>");
  EXPECT_EQ(m.parse("{'a': 'it\\'s', \"b\": `print(\"x\")`}"), "{\"a\":\"it's\",\"b\":\"print(\\\"x\\\")\"}");
}

BRAKE_TEST(repair_unquoted_keys_and_values) {
  Sap m("map<string, string>");
  EXPECT_EQ(m.parse("{key: value, other: two words}"), "{\"key\":\"value\",\"other\":\"two words\"}");
  // A bare value runs over commas that do not start a new key.
  EXPECT_EQ(m.parse("{\n  a: Fetch posts, with sorting,\n  b: fn(x: number, y: string): Promise<T>\n}"),
            "{\"a\":\"Fetch posts, with sorting\",\"b\":\"fn(x: number, y: string): Promise<T>\"}");
  Sap l("string[]");
  EXPECT_EQ(l.parse("[k1, \"k2\", k 3]"), "[\"k1\",\"k2\",\"k 3\"]");
}

BRAKE_TEST(repair_comments) {
  Sap m("map<string, int>");
  EXPECT_EQ(m.parse("{\n  // a comment\n  \"a\": 1, /* another */ \"b\": 2\n}"), "{\"a\":1,\"b\":2}");
}

BRAKE_TEST(repair_unclosed_brackets_and_strings) {
  Sap l("int[]");
  EXPECT_EQ(l.parse("[1234, 5678"), "[1234,5678]");
  Sap m("map<string, string>");
  EXPECT_EQ(m.parse("\n{\n    \"a\": \"b\n"), "{\"a\":\"b\\n\"}");
  EXPECT_EQ(m.parse("{\"a\": {\"x\": 1"), "{\"a\":\"{\\\"x\\\": 1\"}");
}

BRAKE_TEST(repair_unescaped_quotes) {
  Sap m("map<string, string>");
  EXPECT_EQ(m.parse("{\"code\": \"print(\"Hello, world!\")\"}"), "{\"code\":\"print(\\\"Hello, world!\\\")\"}");
  EXPECT_EQ(m.parse("{\"a\": \"said \"hi\", and \"bye\"\", \"b\": \"ok\"}"),
            "{\"a\":\"said \\\"hi\\\", and \\\"bye\\\"\",\"b\":\"ok\"}");
}

BRAKE_TEST(repair_triple_quoted_strings) {
  Sap m("map<string, string>");
  EXPECT_EQ(m.parse("{\"code\": \"\"\"\n    def f():\n      return 1\n    \"\"\", \"t\": \"x\"}"),
            "{\"code\":\"def f():\\n  return 1\",\"t\":\"x\"}");
  EXPECT_EQ(m.parse("{\"code\": ```python main.py\n  a = {}}]]\n```,\n \"t\": \"y\"}"),
            "{\"code\":\"a = {}}]]\",\"t\":\"y\"}");
}

BRAKE_TEST(jsonish_records_fixes_and_completeness) {
  std::atomic<uint32_t> cancel{0};
  vm::Heap heap;
  jsonish::ParseBudget budget(heap);
  jsonish::Document doc(budget);
  vm::CancelCheck cc(&cancel);
  jsonish::Node strict = jsonish::parse_value("{\"a\": [1, 2]}", doc, cc);
  CHECK(strict.fixes == jsonish::kFixNone && strict.complete && doc.child(strict, 0).complete);
  CHECK(doc.child(strict, 0).key == "a" && doc.child(strict, 0).count == 2);
  jsonish::Node fixed = jsonish::parse_value("{a: [1, 2,]}", doc, cc);
  CHECK(fixed.fixes & jsonish::kFixUnquoted);
  CHECK(doc.child(fixed, 0).fixes & jsonish::kFixTrailingComma);
  jsonish::Node open = jsonish::parse_value("{\"a\": [1, 2", doc, cc);
  const jsonish::Node& list = doc.child(open, 0);
  CHECK(!open.complete && !list.complete);
  CHECK(!doc.child(list, 1).complete); // the text ended in the number
  CHECK(doc.child(list, 0).complete);
  jsonish::Node esc = jsonish::parse_value("\"a\\n\\u00e9\\ud83e\\udd84\"", doc, cc);
  CHECK(esc.text == "a\n\xC3\xA9\xF0\x9F\xA6\x84");
  CHECK(heap.used() > 0); // the trees are charged while they live
}

// The strict-JSON fast path makes exactly the nodes the fixing parser makes,
// and leaves everything that is not one strict JSON container to it.
BRAKE_TEST(strict_json_reads_as_the_fixing_parser_does) {
  std::atomic<uint32_t> cancel{0};
  vm::Heap heap;
  jsonish::ParseBudget budget(heap);
  jsonish::Document doc(budget);
  vm::CancelCheck cc(&cancel);
  std::string deep(200, '[');
  deep += std::string(200, ']');
  const char* same[] = {
      "{}", "[]", "{\"a\": 1}", "[1, -2.5e-3, 0, 1E+2, true, false, null, \"x\"]",
      "{\"name\": \"Ada\", \"tags\": [\"a\", \"b\"], \"nested\": {\"deep\": {\"x\": [[], {}]}}}",
      "{\"esc\": \"a\\\"b\\\\c\\n\\u00e9\\ud83e\\udd84\", \"k\\u0065y\": \"plain\"}",
      "{\"dup\": 1, \"dup\": 2}",
      "{ \"spaced\" :\n  [ 1 ,\t2 , true , null ]\n , \"obj\" : { \"a\" : \"b\" }  }",
      "[\"caf\xC3\xA9\", {\"\xE2\x9C\x93\": \"\xF0\x9F\xA6\x84\"}]",
  };
  std::vector<std::string> texts(std::begin(same), std::end(same));
  texts.push_back(deep);
  for (const std::string& text : texts) {
    jsonish::Node fast;
    CHECK(jsonish::read_strict(text, doc, cc, fast));
    jsonish::Node fixed = jsonish::parse_value(text, doc, cc);
    EXPECT_EQ(jsonish_dump(doc, fast), jsonish_dump(doc, fixed));
  }
  std::string too_deep(jsonish::kMaxDepth + 1, '[');
  too_deep += std::string(jsonish::kMaxDepth + 1, ']');
  std::string big = "[" + std::string(70000, ' ') + "1]";
  const char* not_strict[] = {"{\"a\": 1,}", "{a: 1}", "{'a': 1}", "[1, 2", "{\"a\": 1} tail", "\"text\"", "12",
                              "[1] [2]", "{\"a\" 1}", "[01]", "[1.]", "[NaN]", "[99999999999999999999999]", ""};
  std::vector<std::string> refused(std::begin(not_strict), std::end(not_strict));
  refused.push_back(too_deep);
  refused.push_back(big);
  refused.push_back(std::string("[\"\xFF\"]"));
  for (const std::string& text : refused) {
    jsonish::Node n;
    if (jsonish::read_strict(text, doc, cc, n)) {
      fprintf(stderr, "%s:%d: read_strict took %s\n", __FILE__, __LINE__, text.substr(0, 40).c_str());
      g_failures++;
    }
  }
}

// The value written as JSON for a host is the value parse_output builds.
BRAKE_TEST(host_json_is_the_built_value) {
  struct Case {
    const char* target;
    const char* text;
  } cases[] = {
      {"Order", "Here:\n```json\n{\"id\": \"A1\", \"items\": [{\"sku\": \"x\", \"qty\": 2, \"price\": 1.5}], "
                "\"status\": \"shipped\", \"notes\": null, \"meta\": {\"k\": \"v\"}}\n```"},
      {"Order", "{id: A2, items: [{sku: y, qty: '3', price: 2}], status: Pending, meta: {}}"},
      {"Order[]", "{\"id\": \"A3\", \"items\": [], \"status\": \"PENDING\", \"meta\": {\"\\u00e9\": \"\\n\"}}"},
      {"map<string, float>", "{\"a\": 1, \"b\": -0.25, \"c\": 1e300}"},
      {"int | string", "\"7\""},
      {"Status?", "null"},
      {"Status?", "It is **Shipped**."},
      {"string", "just \"text\"\n"},
  };
  const char* decls =
      "enum Status { Pending Shipped }\n"
      "class Item { sku string qty int price float }\n"
      "class Order { id string items Item[] status Status notes string? meta map<string, string> }\n";
  for (const Case& c : cases) {
    Sap sap(c.target, decls);
    vm::Value built;
    std::string error;
    CHECK(schema::parse_output(c.text, sap.type, *sap.program, *sap.heap, &sap.cancel, built, error));
    schema::HostJson written;
    CHECK(schema::parse_output_json(c.text, sap.type, *sap.program, *sap.heap, &sap.cancel, written, error));
    CHECK(written.exact);
    // The same value: each read back by the JSON reader and written the same way.
    std::string a, b;
    brake::json::serialize(built, *sap.program, a, 1 << 20, &sap.cancel);
    brake::json::serialize(brake::json::parse(written.text, *sap.heap, &sap.cancel), *sap.program, b, 1 << 20,
                           &sap.cancel);
    EXPECT_EQ(b, a);
  }
  Sap order("Order", decls);
  schema::HostJson written;
  std::string error;
  CHECK(schema::parse_output_json(cases[0].text, order.type, *order.program, *order.heap, &order.cancel, written,
                                  error));
  EXPECT_EQ(written.classes, "Order\nItem\n\n");
  CHECK(written.any_instance);
  // A key given twice in a list of entries: one entry, as in the built map,
  // so the classes still line up with the objects a JSON reader keeps.
  Sap entries("map<string, Order>", decls);
  const char* twice = "[{\"key\": \"k\", \"value\": {\"id\": \"1\", \"items\": [{\"sku\": \"a\", \"qty\": 1, "
                      "\"price\": 1}], \"status\": \"Pending\", \"meta\": {}}}, {\"key\": \"k\", \"value\": {\"id\": "
                      "\"2\", \"items\": [], \"status\": \"Shipped\", \"meta\": {}}}]";
  CHECK(schema::parse_output_json(twice, entries.type, *entries.program, *entries.heap, &entries.cancel, written,
                                  error));
  EXPECT_EQ(written.text, "{\"k\":{\"id\":\"2\",\"items\":[],\"status\":\"Shipped\",\"notes\":null,\"meta\":{}}}");
  EXPECT_EQ(written.classes, "\nOrder\n\n");
  // What JSON cannot carry exactly is built instead.
  Sap big("int");
  CHECK(schema::parse_output_json("9007199254740993", big.type, *big.program, *big.heap, &big.cancel, written, error));
  CHECK(!written.exact && written.value.tag == vm::Tag::Int && written.value.i == 9007199254740993LL);
  Sap keyed("map<string, int>");
  CHECK(schema::parse_output_json("{\"1\": 1}", keyed.type, *keyed.program, *keyed.heap, &keyed.cancel, written,
                                  error));
  CHECK(!written.exact && written.value.tag == vm::Tag::Map);
  // A reply that is not valid UTF-8 gives valid JSON (U+FFFD).
  Sap text("string[]");
  CHECK(schema::parse_output_json("[\"a\xFF\"]", text.type, *text.program, *text.heap, &text.cancel, written, error));
  EXPECT_EQ(written.text, "[\"a\xEF\xBF\xBD\"]");
}

// ---------------------------------------------------------------- coercions

BRAKE_TEST(numbers_from_strings) {
  Sap i("int");
  EXPECT_EQ(i.parse("\"1,234\""), "1234");
  EXPECT_EQ(i.parse("12 apples"), "12");
  EXPECT_EQ(i.parse("$1,234"), "1234");
  EXPECT_EQ(i.parse("3.7"), "4");
  EXPECT_FAILS(i.parse("no number here"), "expected int");
  EXPECT_FAILS(i.parse("10 and 20"), "expected int");
  Sap f("float");
  EXPECT_EQ(f.parse("1/5"), "0.2");
  EXPECT_EQ(f.parse("$12.50"), "12.5");
  EXPECT_EQ(f.parse("1 cup unsalted butter, room temperature"), "1.0");
  EXPECT_EQ(f.parse("50%"), "50.0");
  EXPECT_EQ(f.parse("7"), "7.0");
  Sap fl("float[]");
  EXPECT_EQ(fl.parse("[1, 2.5, \"3\"]"), "[1.0,2.5,3.0]");
}

BRAKE_TEST(bools_from_text) {
  Sap b("bool");
  EXPECT_EQ(b.parse("True"), "true");
  EXPECT_EQ(b.parse("FALSE"), "false");
  EXPECT_EQ(b.parse("The answer is true."), "true");
  EXPECT_FAILS(b.parse("The answer is true or false"), "both true and false");
  EXPECT_FAILS(b.parse("maybe"), "expected bool");
}

BRAKE_TEST(nulls_and_optionals) {
  const char* decls = "class Foo {\n  a string?\n  b int\n}";
  Sap s("Foo", decls);
  EXPECT_EQ(s.parse("{\"b\": 1}"), "{\"a\":null,\"b\":1}");
  EXPECT_FAILS(s.parse("{\"a\": \"x\"}"), "$.b: missing");
  Sap o("int?");
  EXPECT_EQ(o.parse("null"), "null");
  EXPECT_EQ(o.parse("```json\nnull\n```"), "null");
  EXPECT_EQ(o.parse("5"), "5");
}

BRAKE_TEST(arrays_wrap_single_values_and_drop_bad_items) {
  Sap s("int[]");
  EXPECT_EQ(s.parse("5"), "[5]");
  EXPECT_EQ(s.parse("[1, \"x\", 3]"), "[1,3]");
  Sap strs("string[]");
  EXPECT_EQ(strs.parse("[1, 2, 3,]"), "[\"1\",\"2\",\"3\"]");
  const char* decls = "class Foo {\n  a int\n  b int\n}";
  Sap one("Foo", decls);
  EXPECT_EQ(one.parse("[{\"a\": 1, \"b\": 2}]"), "{\"a\":1,\"b\":2}"); // a one-item list as its item
}

BRAKE_TEST(maps) {
  Sap m("map<string, int>");
  EXPECT_EQ(m.parse("{\"a\": 1, \"b\": \"2\", \"c\": \"nope\"}"), "{\"a\":1,\"b\":2}");
  EXPECT_EQ(m.parse("{\"a\n  \": 1}"), "{\"a\\n  \":1}");
  EXPECT_FAILS(m.parse("[1, 2]"), "expected a map");
}

BRAKE_TEST(classes_match_keys_by_alias_and_loosely) {
  const char* decls =
      "class C {\n  key string @alias(\"key-dash\")\n  key3 string @alias(\"key with space\")\n"
      "  first_name string @alias(\"prénom\")\n  Plain int\n}";
  Sap s("C", decls);
  EXPECT_EQ(s.parse("{\"key-dash\": \"a\", \"key with space\": \"b\", \"prénom\": \"c\", \"Plain\": 1, \"extra\": 0}"),
            "{\"key\":\"a\",\"key3\":\"b\",\"first_name\":\"c\",\"Plain\":1}");
  // Case, accents and punctuation are ignored when nothing matches exactly.
  EXPECT_EQ(s.parse("{\"KEY_DASH\": \"a\", \"key-with-space\": \"b\", \"prenom\": \"c\", \"plain\": 2}"),
            "{\"key\":\"a\",\"key3\":\"b\",\"first_name\":\"c\",\"Plain\":2}");
  // With an alias, the field's own name is not a key for it.
  EXPECT_FAILS(s.parse("{\"key\": \"a\", \"key3\": \"b\", \"first_name\": \"c\", \"Plain\": 1}"), "missing");
}

BRAKE_TEST(a_repeated_key_gives_a_class_its_first_value) {
  Sap s("C", "class C {\n  a string\n  b int?\n}");
  EXPECT_EQ(s.parse("{\"a\": \"first\", \"b\": 1, \"a\": \"second\"}"), "{\"a\":\"first\",\"b\":1}");
  // A bare word runs on over braces up to `, "key":`.
  EXPECT_EQ(s.parse("{\"a\": null{\n\"x\": {\n\"y\": \"z\",\n\"b\": 2}"), "{\"a\":\"null{\\n\\\"x\\\": {\\n\\\"y\\\": \\\"z\\\"\",\"b\":2}");
}

BRAKE_TEST(class_of_one_field_takes_a_bare_value) {
  Sap s("Wrap", "class Wrap {\n  value int\n}");
  EXPECT_EQ(s.parse("42"), "{\"value\":42}");
  EXPECT_EQ(s.parse("{\"value\": 7}"), "{\"value\":7}");
}

BRAKE_TEST(string_field_given_an_object_keeps_its_text) {
  Sap s("C", "class C {\n  props string\n}");
  EXPECT_EQ(s.parse("{props: {title: string, onClick: () => void}}"),
            "{\"props\":\"{title: string, onClick: () => void}\"}");
}

BRAKE_TEST(skip_fields_and_variants) {
  Sap s("C", "class C {\n  a int\n  hidden int @skip\n}");
  EXPECT_EQ(s.parse("{\"a\": 1, \"hidden\": 2}"), "{\"a\":1,\"hidden\":null}");
  Sap e("E", "enum E {\n  ONE\n  TWO @skip\n}");
  EXPECT_EQ(e.parse("ONE"), "\"ONE\"");
  EXPECT_FAILS(e.parse("TWO"), "not a variant");
}

// ---------------------------------------------------------------- enums and literals

BRAKE_TEST(enum_matching) {
  Sap s("Category", "enum Category {\n  ONE\n  TWO\n}");
  EXPECT_EQ(s.parse("TWO"), "\"TWO\"");
  EXPECT_EQ(s.parse("two"), "\"TWO\"");
  EXPECT_EQ(s.parse("\"TWO\""), "\"TWO\"");
  EXPECT_EQ(s.parse("The answer is TWO"), "\"TWO\"");
  EXPECT_EQ(s.parse("**one** is the answer"), "\"ONE\"");
  EXPECT_EQ(s.parse("\"ONE: The description of k1\""), "\"ONE\"");
  EXPECT_EQ(s.parse("[\"TWO\", \"THREE\"]"), "\"TWO\"");
  EXPECT_EQ(s.parse("TWO\" is one of the correct answers."), "\"TWO\""); // case-sensitive first
}

BRAKE_TEST(enum_ambiguity_fails) {
  Sap s("Category", "enum Category {\n  ONE\n  TWO\n}");
  EXPECT_FAILS(s.parse("\"ONE. is the answer, not TWO\""), "more than one variant");
  EXPECT_FAILS(s.parse("Two\" is one of the correct answers."), "more than one variant");
  Sap car("Car", "enum Car {\n  A @alias(\"car\")\n  B @alias(\"car-2\")\n}");
  EXPECT_FAILS(car.parse("The answer is not car or car-2!"), "more than one variant");
  EXPECT_FAILS(s.parse("THREE"), "not a variant");
}

BRAKE_TEST(enum_aliases_accents_and_punctuation) {
  Sap s("C", "enum C {\n  ONE @alias(k1)\n  TWO @alias(\"k-2-3.1_1\")\n  THREE @alias(\"NUMBER THREE\")\n}");
  EXPECT_EQ(s.parse("number three"), "\"THREE\"");
  EXPECT_EQ(s.parse("I would think k-2-3.1_1 is the best"), "\"TWO\"");
  EXPECT_EQ(s.parse("k1 is the best! k-2-3.1_1 is bad. k1!"), "\"ONE\""); // named most often
  EXPECT_FAILS(s.parse("ONE"), "not a variant");                          // an alias hides the name
  Sap fr("F", "enum F {\n  COFFEE @alias(\"café\")\n  NAIVE @alias(\"Naïve\")\n  DOC @alias(\"résumé.doc\")\n}");
  EXPECT_EQ(fr.parse("cafe"), "\"COFFEE\"");
  EXPECT_EQ(fr.parse("NAIVE"), "\"NAIVE\"");
  EXPECT_EQ(fr.parse("resume doc"), "\"DOC\"");
  EXPECT_EQ(fr.parse("We serve café here"), "\"COFFEE\"");
}

BRAKE_TEST(literal_types) {
  Sap s("\"TWO\"");
  EXPECT_EQ(s.parse("Two"), "\"TWO\"");
  EXPECT_EQ(s.parse("The answer is \"TWO\""), "\"TWO\"");
  EXPECT_EQ(s.parse("\"  TWO  \""), "\"TWO\"");
  EXPECT_FAILS(s.parse("THREE"), "expected \"TWO\"");
  Sap acc("\"señor\"");
  EXPECT_EQ(acc.parse("SENOR"), "\"señor\"");
  Sap i("2 | 3");
  EXPECT_EQ(i.parse("3"), "3");
  EXPECT_FAILS(i.parse("2 or 3"), "");
  Sap mixed("1 | true | \"THREE\"");
  EXPECT_EQ(mixed.parse("{\n  \"status\": 1\n}"), "1");
  EXPECT_EQ(mixed.parse("{\"result\": true}"), "true");
  EXPECT_EQ(mixed.parse("{\"value\": \"The answer is THREE\"}"), "\"THREE\"");
  EXPECT_FAILS(mixed.parse("{\"values\": [1]}"), "");
}

// ---------------------------------------------------------------- unions

BRAKE_TEST(unions_pick_the_best_member) {
  Sap s("float | string");
  EXPECT_EQ(s.parse("1 cup unsalted butter"), "\"1 cup unsalted butter\"");
  EXPECT_EQ(s.parse("2.5"), "2.5");
  const char* decls =
      "class A {\n  type \"a\"\n  name string\n}\nclass B {\n  type \"b\"\n  name string\n  extra int\n}";
  Sap u("(A | B)[]", decls);
  EXPECT_EQ(u.parse("[{type: b, name: x, extra: 1}, {type: a, name: y}]"),
            "[{\"type\":\"b\",\"name\":\"x\",\"extra\":1},{\"type\":\"a\",\"name\":\"y\"}]");
  const char* objs = "class Small {\n  id string\n}\nclass Big {\n  id string\n  more int[]\n}";
  Sap pick("Small | Big", objs);
  EXPECT_EQ(pick.parse("{\"id\": \"1\", \"more\": [1]}"), "{\"id\":\"1\",\"more\":[1]}"); // fewer unused keys
  EXPECT_EQ(pick.parse("{\"id\": \"1\"}"), "{\"id\":\"1\"}");
}

BRAKE_TEST(union_ties_go_to_the_first_member) {
  Sap s("Foo | map<string, string>", "class Foo {\n  a string\n  b string\n}");
  EXPECT_EQ(s.parse("{\"a\": 1, \"b\": \"hello\"}"), "{\"a\":\"1\",\"b\":\"hello\"}");
  Sap opt("Foo?", "class Foo {\n  a int\n}");
  EXPECT_EQ(opt.parse("null"), "null");
  EXPECT_EQ(opt.parse("{\"a\": 2}"), "{\"a\":2}");
  EXPECT_EQ(opt.partial("{\"a\": 2"), "{\"a\":null}"); // 2 may be the start of 25
}

BRAKE_TEST(deep_recursive_unions_stay_linear) {
  Sap s("Tree", "class Tree {\n  name string\n  kids (Tree | Tree[])?\n}");
  std::string text, close;
  for (int i = 0; i < 200; i++) {
    text += "{\"name\": \"n" + std::to_string(i) + "\", \"kids\": ";
    close += "}";
  }
  text += "null" + close;
  auto t0 = std::chrono::steady_clock::now();
  std::string r = s.parse(text);
  double ms = elapsed_ms(t0);
  fprintf(stderr, "200 levels of Tree | Tree[]: %.1f ms\n", ms);
  CHECK(r.rfind("{\"name\":\"n0\",\"kids\":{\"name\":\"n1\"", 0) == 0);
  CHECK(ms < 2000);
}

BRAKE_TEST(recursive_classes) {
  Sap s("Foo", "class Foo {\n  pointer Foo | int\n}");
  EXPECT_EQ(s.parse("The answer is\n{\n  \"pointer\": {\n    pointer: 1\n},\n\nAnything else?"),
            "{\"pointer\":{\"pointer\":1}}");
}

// ---------------------------------------------------------------- constraints

BRAKE_TEST(asserts_fail_values) {
  const char* decls =
      "class Foo {\n  age int @check(age_lt_10, {{this < 10}}) @assert(nonnegative, {{this >= 0}})\n"
      "  name string @assert(nonempty, {{this|length > 0}})\n}";
  Sap s("Foo", decls);
  EXPECT_EQ(s.parse("{\"age\": 12, \"name\": \"Sam\"}"), "{\"age\":12,\"name\":\"Sam\"}"); // @check only reports
  EXPECT_FAILS(s.parse("{\"age\": -1, \"name\": \"Sam\"}"), "constraint");
  EXPECT_FAILS(s.parse("{\"age\": 1, \"name\": \"\"}"), "constraint");
  Sap block("Foo", "class Foo {\n  foo int\n  @@assert(pos, {{ this.foo > 0 }})\n}");
  EXPECT_EQ(block.parse("{\"foo\": 1}"), "{\"foo\":1}");
  EXPECT_FAILS(block.parse("{\"foo\": 0}"), "constraint");
  Sap e("E", "enum E {\n  ONE\n  TWO\n  @@assert(two, {{ this == \"TWO\" }})\n}");
  EXPECT_EQ(e.parse("TWO"), "\"TWO\"");
  EXPECT_FAILS(e.parse("ONE"), "constraint");
}

// ---------------------------------------------------------------- partial

BRAKE_TEST(partial_fills_what_has_arrived) {
  const char* decls = "class Foo {\n  a string\n  b int\n  c string[]\n}";
  Sap s("Foo", decls);
  EXPECT_EQ(s.partial("{\"a\": \"hel"), "{\"a\":\"hel\",\"b\":null,\"c\":[]}");
  EXPECT_EQ(s.partial("```json\n{\"a\": \"x\", \"c\": [\"p\", \"q"), "{\"a\":\"x\",\"b\":null,\"c\":[\"p\",\"q\"]}");
  EXPECT_EQ(s.partial(" \n"), "null"); // nothing yet
  EXPECT_FAILS(s.parse("{\"a\": \"hel"), "missing"); // complete mode: b is required
}

BRAKE_TEST(partial_drops_an_unfinished_number) {
  Sap s("int[]");
  EXPECT_EQ(s.partial("[1, 22, 33"), "[1,22]");
  EXPECT_EQ(s.partial("[1, 22, 33,"), "[1,22,33]");
  Sap c("Foo", "class Foo {\n  n int\n  m int\n}");
  EXPECT_EQ(c.partial("{\"n\": 12, \"m\": 3"), "{\"n\":12,\"m\":null}");
  EXPECT_EQ(c.partial("{\"n\": 12, \"m\": 3}"), "{\"n\":12,\"m\":3}");
}

BRAKE_TEST(partial_literal_still_ambiguous) {
  Sap s("\"pay\" | \"pay_without_credit_card\"");
  EXPECT_FAILS(s.partial("\n  \"pay"), "may still become");
  EXPECT_EQ(s.partial("\"pay\""), "\"pay\"");
  EXPECT_EQ(s.partial("\"pay_with"), "\"pay_without_credit_card\"");
}

BRAKE_TEST(partial_union_prefers_the_class_the_keys_are_about) {
  const char* decls =
      "class Error {\n  code int\n  message string\n}\nclass Graph {\n  vertices Vertex[]\n  edges string[]\n}\n"
      "class Vertex {\n  id string\n  metadata map<string, string>\n}";
  Sap s("Graph | Graph[] | Error", decls);
  EXPECT_EQ(s.partial("```json\n{\n  \"vertices\": [\n    {\"id\": \"a\", \"metadata\": {\"k\": \"v\"}},\n    {\"id\": "),
            "{\"vertices\":[{\"id\":\"a\",\"metadata\":{\"k\":\"v\"}},{\"id\":null,\"metadata\":{}}],\"edges\":[]}");
}

BRAKE_TEST(partial_stream_done_and_not_null) {
  Sap done("Bar", "class Foo {\n  nums int[]\n  @@stream.done\n}\nclass Bar {\n  foos Foo[]\n}");
  EXPECT_EQ(done.partial("{'foos': [{'nums': [1, 2]}, {'nums': [3, 4]\n"), "{\"foos\":[{\"nums\":[1,2]}]}");
  Sap field("Foo", "class Foo {\n  foo string @stream.done\n  bar string\n}");
  EXPECT_EQ(field.partial("{\"foo\": \"unfini"), "{\"foo\":null,\"bar\":null}");
  EXPECT_EQ(field.partial("{\"foo\": \"done\", \"bar\": \"x"), "{\"foo\":\"done\",\"bar\":\"x\"}");
  Sap nn("C", "class Small {\n  id int @stream.not_null\n  other int\n}\nclass C {\n  things Small[]\n}");
  EXPECT_EQ(nn.partial("{\"things\": [{\"id\": 123"), "{\"things\":[]}");
  EXPECT_EQ(nn.partial("{\"things\": [{\"id\": 123,\n"), "{\"things\":[{\"id\":123,\"other\":null}]}");
}

// Streaming attributes written on a type: an item of `(A | B) @stream.done`
// is withheld until complete; a return type's @stream.not_null holds the
// whole value back (a failure) while it has none.
BRAKE_TEST(partial_stream_attributes_on_types) {
  const char* decls = "class A {\n  name string\n  args string\n}\nclass B {\n  role string\n  text string\n}";
  Sap list("((A | B) @stream.done)[]", decls);
  EXPECT_EQ(list.partial("[{\"name\": \"f\", \"args\": \"{}\"}, {\"name\": \"g\", \"ar"), "[{\"name\":\"f\",\"args\":\"{}\"}]");
  EXPECT_EQ(list.partial("[{\"name\": \"f\", \"ar"), "[]");
  EXPECT_EQ(list.parse("[{\"name\": \"f\", \"args\": \"{}\"}]"), "[{\"name\":\"f\",\"args\":\"{}\"}]");
  Sap top("Foo @stream.not_null", "class Foo {\n  nums int[]\n  @@stream.done\n}");
  EXPECT_FAILS(top.partial("{'nums': [1,2]"), "needs one");
  EXPECT_EQ(top.partial("{'nums': [1,2]}"), "{\"nums\":[1,2]}");
}

// Maps keyed by an enum or string literals: keys matched to the key type.
BRAKE_TEST(enum_and_literal_map_keys) {
  Sap e("map<Key, string>", "enum Key {\n  A\n  B\n}");
  EXPECT_EQ(e.parse("{\"A\": \"one\", \"B\": \"two\"}"), "{\"A\":\"one\",\"B\":\"two\"}");
  Sap l("map<\"x\" | \"y\", int>");
  EXPECT_EQ(l.parse("{\"x\": 1, \"y\": 2}"), "{\"x\":1,\"y\":2}");
}

// ---------------------------------------------------------------- helpers

BRAKE_TEST(float_from_comma_separated_table) {
  struct Row {
    const char* in;
    bool ok;
    double v;
  } rows[] = {
      {"3,14", true, 314},           {"1.234,56", false, 0},        {"€1.234", true, 1.234},
      {"€1,234.56", true, 1234.56},  {"$1,234.56", true, 1234.56},  {"-$1,234.56", true, -1234.56},
      {"+$1,234.56", true, 1234.56}, {"$1,23,456", true, 123456},   {"$1.23.456", false, 0},
      {"50%", true, 50},             {".009%", true, 0.009},        {"1,234$", true, 1234},
      {"12,111,123.", true, 12111123}, {"12,111,123,", true, 12111123},
      {"You owe $3,000 for it", true, 3000}, {"The answer is 10,000 and $3,000", false, 0},
      {"Profit is -€1.234,56 today", false, 0}, {"$9,999,999,999", true, 9999999999.0},
  };
  for (const Row& r : rows) {
    double v = 0;
    bool ok = jsonish::float_from_comma_separated(r.in, v);
    if (ok != r.ok || (ok && std::fabs(v - r.v) > 1e-9)) {
      fprintf(stderr, "float_from_comma_separated(%s) = %d %g, expected %d %g\n", r.in, ok, v, r.ok, r.v);
      g_failures++;
    }
  }
}

BRAKE_TEST(remove_accents_table) {
  EXPECT_EQ(jsonish::remove_accents("étude"), "etude");
  EXPECT_EQ(jsonish::remove_accents("Español"), "Espanol");
  EXPECT_EQ(jsonish::remove_accents("Über Grün"), "Uber Grun");
  EXPECT_EQ(jsonish::remove_accents("Straße"), "Strasse");
  EXPECT_EQ(jsonish::remove_accents("æ Æ ø Ø œ Œ"), "ae AE o O oe OE");
  EXPECT_EQ(jsonish::remove_accents("København cœur"), "Kobenhavn coeur");
  EXPECT_EQ(jsonish::remove_accents("ß, こんにちは, 🦄"), "ss, こんにちは, 🦄");
  EXPECT_EQ(jsonish::remove_accents("e\xCC\x81"), "e"); // a combining acute accent
}

// ---------------------------------------------------------------- limits

BRAKE_TEST(hostile_inputs_in_bounded_time) {
  double scale = brake_test_sanitized() ? 0.1 : 1.0;
  size_t big = size_t(10e6 * scale);
  Sap s("map<string, int>");
  struct Input {
    const char* name;
    std::string text;
  } inputs[] = {
      {"opening brackets", std::string(big, '[')},
      {"opening braces", std::string(big, '{')},
      {"quotes", std::string(size_t(100000), '"')},
      {"single quotes", std::string(big / 10, '\'')},
      {"commas and comments", [&] {
         std::string t = "{\"a\": 1";
         while (t.size() < big / 2) t += ",/*";
         return t;
       }()},
      {"quote spaces", [&] {
         std::string t = "{\"a\": \"";
         while (t.size() < big / 2) t += "\" , x";
         return t;
       }()},
      {"many small objects", [&] {
         std::string t;
         while (t.size() < big / 2) t += "{\"a\": 1} ";
         return t;
       }()},
      {"nested balanced", std::string(100000, '[') + std::string(100000, ']')},
      {"long bare words", "{a: " + std::string(big / 2, 'x')},
  };
  for (auto& in : inputs) {
    auto t0 = std::chrono::steady_clock::now();
    std::string r = s.parse(in.text);
    std::string p = s.partial(in.text);
    double ms = elapsed_ms(t0);
    fprintf(stderr, "%-20s %8zu bytes: %7.1f ms (%s)\n", in.name, in.text.size(), ms, r.substr(0, 60).c_str());
    CHECK(ms < 10000);
  }
  // An object of many keys against a class of many fields.
  std::string decls = "class Wide {\n";
  for (int i = 0; i < 100; i++) decls += "  f" + std::to_string(i) + " int?\n";
  decls += "}";
  Sap wide("Wide", decls);
  std::string keys = "{";
  for (size_t i = 0; keys.size() < big / 10; i++) keys += "\"k" + std::to_string(i) + "\": 1, ";
  keys += "\"f7\": 7}";
  auto t0 = std::chrono::steady_clock::now();
  std::string r = wide.parse(keys);
  double ms = elapsed_ms(t0);
  fprintf(stderr, "%-20s %8zu bytes: %7.1f ms\n", "wide object", keys.size(), ms);
  CHECK(r.find("\"f7\":7") != std::string::npos);
  CHECK(ms < 10000);
  // Deep nesting is refused with a clear error.
  EXPECT_FAILS(s.parse(std::string(1000, '[')), "deeper than");
  EXPECT_FAILS(s.parse("{\"a\": " + std::string(300, '{')), "deeper than");
}

// Starts parsing `text` as `target` on a thread, cancels it after 20 ms,
// and returns how long the parse took to stop (-1: it was not interrupted).
double cancel_after_20ms(const std::string& target, const std::string& decls, const std::string& text) {
  Sap s(target, decls);
  std::atomic<bool> started{false};
  bool interrupted = false;
  std::thread worker([&] {
    started = true;
    try {
      s.parse(text);
    } catch (const vm::Interrupted&) {
      interrupted = true;
    }
  });
  while (!started) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto t1 = std::chrono::steady_clock::now();
  s.cancel.store(1);
  worker.join();
  double after = elapsed_ms(t1);
  // Already cancelled: nothing runs.
  bool thrown = false;
  try {
    s.parse("[1]");
  } catch (const vm::Interrupted&) {
    thrown = true;
  }
  CHECK(thrown);
  return interrupted ? after : -1;
}

BRAKE_TEST(cancel_interrupts_a_big_parse) {
  double bound = brake_test_sanitized() ? 100 : 10;
  std::string json = "[";
  while (json.size() < 20000000) json += "1234, \"x\", {a: b}, ";
  std::string prose;
  while (prose.size() < 40000000) prose += "Caf\xC3\xA9 au lait, s'il vous pla\xC3\xAEt; ";
  struct Case {
    const char* name;
    std::string target, decls;
    const std::string* text;
  } cases[] = {
      {"a big list", "int[]", "", &json},
      {"an enum in a long text", "E", "enum E {\n  ONE\n  TWO\n}", &prose},
  };
  for (const Case& c : cases) {
    double after = cancel_after_20ms(c.target, c.decls, *c.text);
    fprintf(stderr, "%s: stopped %.2f ms after the cancel\n", c.name, after);
    CHECK(after >= 0 && after < bound);
  }
}

BRAKE_TEST(memory_limit_applies) {
  vm::MemoryPool pool(size_t(4) << 20, size_t(64) << 20);
  Sap s("int[]", "", &pool);
  std::string text = "[";
  while (text.size() < 8000000) text += "1, ";
  bool limited = false;
  try {
    s.parse(text);
  } catch (const vm::MemoryLimitExceeded&) {
    limited = true;
  }
  CHECK(limited);
  size_t before = s.heap->used();
  CHECK(s.parse("[1, 2]") == "[1,2]");
  CHECK(s.heap->used() > before); // the result lives on the heap; the parse's own trees were given back
  CHECK(s.heap->used() - before < 4096);
  // A small reply fits a small limit.
  vm::MemoryPool small(size_t(64) << 10, size_t(1) << 20);
  Sap tiny("map<string, string>", "", &small);
  EXPECT_EQ(tiny.parse("{'a': \"x\\ny\", b: `z`}"), "{\"a\":\"x\\ny\",\"b\":\"z\"}");
}

BRAKE_TEST(error_paths_name_the_place) {
  const char* decls = "class P {\n  name string\n  age int\n}\nclass R {\n  people P[]\n  best P\n}";
  Sap s("R", decls);
  EXPECT_FAILS(s.parse("{\"people\": [], \"best\": {\"name\": \"a\", \"age\": \"old\"}}"), "$.best.age: expected int");
  EXPECT_FAILS(s.parse("{\"people\": []}"), "$.best: missing");
  EXPECT_FAILS(s.parse("I am not JSON"), "$: expected R, got a string (the reply is not JSON)");
}

// ---------------------------------------------------------------- corpus (informative)

// BRAKE_SAP_CORPUS=path/to/sap-corpus.jsonl prints the pass rate per macro.
BRAKE_TEST(corpus_pass_rate) {
  const char* path = getenv("BRAKE_SAP_CORPUS");
  if (!path) return;
  std::ifstream in(path);
  std::string line;
  std::map<std::string, std::pair<int, int>> stats;
  vm::Heap heap;
  while (std::getline(in, line)) {
    vm::Value rec;
    try {
      rec = brake::json::parse(line, heap, nullptr);
    } catch (...) {
      continue;
    }
    auto get = [&](const char* k) -> const vm::Value* { return rec.as_map()->find(k); };
    std::string macro = get("macro")->as_string()->text;
    if (macro == "test_deserializer_with_expected_score") continue;
    std::string src = get("baml")->as_string()->text + "\nfunction F(t: string) -> " +
                      get("target")->as_string()->text + " {\n client \"openai/gpt-4o\"\n prompt #\"{{ t }}\"#\n}\n";
    auto program = vm::compile_program(src, "c.baml");
    bool fails = get("fails")->b;
    bool pass = false;
    if (program->diagnostics.empty()) {
      vm::Value out;
      std::string error;
      schema::ParseOptions o;
      o.partial = macro.rfind("test_partial", 0) == 0;
      bool ok = schema::parse_output(get("raw")->as_string()->text,
                                     program->functions[program->function_index.at("F")].return_type, *program,
                                     heap, nullptr, out, error, o);
      if (fails) {
        pass = !ok;
      } else if (ok) {
        std::string first, got, want;
        brake::json::serialize(out, *program, first, 1 << 26, nullptr);
        vm::Heap h2;
        brake::json::serialize(brake::json::parse(first, h2, nullptr), *program, got, 1 << 26, nullptr);
        brake::json::serialize(*get("expected"), *program, want, 1 << 26, nullptr);
        pass = got == want;
      }
    }
    if (!pass) fprintf(stderr, "corpus miss: %s\n", get("id")->as_string()->text.c_str());
    stats[macro].first += pass;
    stats[macro].second++;
  }
  for (auto& [m, s] : stats) fprintf(stderr, "corpus %s: %d/%d\n", m.c_str(), s.first, s.second);
}

} // namespace

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(string_target_takes_the_text_unchanged),
      TEST_ENTRY(whole_text_as_json),
      TEST_ENTRY(map_keys_that_differ_only_in_bytes_not_utf8_are_one_key),
      TEST_ENTRY(markdown_fences),
      TEST_ENTRY(json_in_prose),
      TEST_ENTRY(xml_and_toon_replies),
      TEST_ENTRY(strict_json_reads_as_the_fixing_parser_does),
      TEST_ENTRY(host_json_is_the_built_value),
      TEST_ENTRY(repair_trailing_commas),
      TEST_ENTRY(repair_single_quotes_and_backticks),
      TEST_ENTRY(repair_unquoted_keys_and_values),
      TEST_ENTRY(repair_comments),
      TEST_ENTRY(repair_unclosed_brackets_and_strings),
      TEST_ENTRY(repair_unescaped_quotes),
      TEST_ENTRY(repair_triple_quoted_strings),
      TEST_ENTRY(jsonish_records_fixes_and_completeness),
      TEST_ENTRY(numbers_from_strings),
      TEST_ENTRY(bools_from_text),
      TEST_ENTRY(nulls_and_optionals),
      TEST_ENTRY(arrays_wrap_single_values_and_drop_bad_items),
      TEST_ENTRY(maps),
      TEST_ENTRY(classes_match_keys_by_alias_and_loosely),
      TEST_ENTRY(a_repeated_key_gives_a_class_its_first_value),
      TEST_ENTRY(class_of_one_field_takes_a_bare_value),
      TEST_ENTRY(string_field_given_an_object_keeps_its_text),
      TEST_ENTRY(skip_fields_and_variants),
      TEST_ENTRY(enum_matching),
      TEST_ENTRY(enum_ambiguity_fails),
      TEST_ENTRY(enum_aliases_accents_and_punctuation),
      TEST_ENTRY(literal_types),
      TEST_ENTRY(unions_pick_the_best_member),
      TEST_ENTRY(union_ties_go_to_the_first_member),
      TEST_ENTRY(deep_recursive_unions_stay_linear),
      TEST_ENTRY(recursive_classes),
      TEST_ENTRY(asserts_fail_values),
      TEST_ENTRY(partial_fills_what_has_arrived),
      TEST_ENTRY(partial_drops_an_unfinished_number),
      TEST_ENTRY(partial_literal_still_ambiguous),
      TEST_ENTRY(partial_union_prefers_the_class_the_keys_are_about),
      TEST_ENTRY(partial_stream_done_and_not_null),
      TEST_ENTRY(partial_stream_attributes_on_types),
      TEST_ENTRY(enum_and_literal_map_keys),
      TEST_ENTRY(float_from_comma_separated_table),
      TEST_ENTRY(remove_accents_table),
      TEST_ENTRY(hostile_inputs_in_bounded_time),
      TEST_ENTRY(cancel_interrupts_a_big_parse),
      TEST_ENTRY(memory_limit_applies),
      TEST_ENTRY(error_paths_name_the_place),
      TEST_ENTRY(corpus_pass_rate),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
