// output_format_test.cpp: {{ ctx.output_format }} (schema/output_format.h):
// the text for each shape of return type, each attribute that changes it,
// each keyword argument, hoisting of recursive classes and of enums, the
// errors for wrong options, and the guard against exponential expansion.
// Each case compiles a program whose LLM function returns the type and
// renders its prompt the way a call does (the template passes the keyword
// arguments), so the Jinja side of the options is covered too.
#include <string>

#include "llm/template.h"
#include "schema/output_format.h"
#include "test_util.h"
#include "vm/chunk.h"

namespace vm = brake::vm;
namespace llm = brake::llm;

namespace {

// The prompt `{{ <call> }}` of `function F() -> <ret>` after `decls`,
// rendered: the text, "error: <message>" when it does not render, or
// "compile error: ..." when the program does not compile.
std::string render(const std::string& decls, const std::string& ret, const std::string& call = "ctx.output_format") {
  std::string source = decls + "\nfunction F() -> " + ret + " {\n  client \"openai/gpt-4o\"\n  prompt #\"{{ " + call +
                       " }}\"#\n}\n";
  auto program = vm::compile_program(source, "t.baml");
  if (!program->diagnostics.items().empty()) {
    std::string all;
    for (const auto& d : program->diagnostics.items())
      all += " " + std::to_string(d.loc.line) + ":" + std::to_string(d.loc.column) + " " + d.message;
    return "compile error:" + all;
  }
  const vm::FunctionInfo& fn = program->functions[program->function_index.at("F")];
  vm::Heap heap(nullptr);
  llm::RenderInput in;
  in.program = program.get();
  in.heap = &heap;
  in.template_strings = program->template_strings.get();
  brake::lang::TypeId target = fn.return_type;
  const vm::CompiledProgram& p = *program;
  in.output_format = [&p, target](const std::vector<std::pair<std::string, vm::Value>>& kwargs, std::string& out,
                                  std::string& error) { return brake::schema::render_output_format(p, target, kwargs, out, error); };
  try {
    llm::RenderedPrompt r = llm::render_template(*program->llm_functions[size_t(fn.llm)].prompt, in);
    return r.messages.empty() || r.messages[0].parts.empty() ? "" : r.messages[0].parts[0].text;
  } catch (const llm::RenderError& e) {
    return std::string("error: ") + e.what();
  }
}

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

const char* kNode = "class Node {\n  data int\n  next Node?\n}\n";
const char* kNodeText = "Node {\n  data: int,\n  next: Node or null,\n}";

} // namespace

// ---------------------------------------------------------------- type shapes

// A string needs no instructions: nothing, unless a prefix is given (then the
// prefix and the type, as for any other type); prefix=null still nothing.
BRAKE_TEST(string_renders_nothing_unless_a_prefix_asks) {
  EXPECT_EQ(render("", "string"), "");
  EXPECT_EQ(render("", "string", "ctx.output_format(prefix='Reply with ')"), "Reply with string");
  EXPECT_EQ(render("", "string", "ctx.output_format(prefix=null)"), "");
}

BRAKE_TEST(int_float_bool_are_one_sentence) {
  EXPECT_EQ(render("", "int"), "Answer as an int");
  EXPECT_EQ(render("", "float"), "Answer as a float");
  EXPECT_EQ(render("", "bool"), "Answer as a bool");
  // A given prefix replaces the sentence and the type follows it.
  EXPECT_EQ(render("", "int", "ctx.output_format(prefix='Number: ')"), "Number: int");
  EXPECT_EQ(render("", "bool", "ctx.output_format(prefix=null)"), "bool");
}

// Fields by their @alias, a field's @description after its comma, the
// class's @@description as comment lines and a blank line at the top.
BRAKE_TEST(class_fields_aliases_and_descriptions) {
  const char* decls =
      "class User {\n  first_name string @alias(\"firstName\")\n  age int @description(\"In years\")\n"
      "  tags string[]\n  @@description(#\"  A user\n  of the system  \"#)\n}\n";
  EXPECT_EQ(render(decls, "User"),
            "Answer in JSON using this schema:\n{\n  // A user\n  //   of the system\n\n"
            "  firstName: string,\n  age: int, // In years\n  tags: string[],\n}");
}

BRAKE_TEST(skipped_fields_are_left_out) {
  EXPECT_EQ(render("class Example {\n  keep string\n  drop string? @skip\n}\n", "Example"),
            "Answer in JSON using this schema:\n{\n  keep: string,\n}");
}

// A class inside a class is written inline, indented two more spaces.
BRAKE_TEST(nested_classes_are_inline_and_indented) {
  const char* decls = "class City {\n  name string\n  zip string?\n}\nclass Address {\n  city City\n  line string\n}\n"
                      "class Person {\n  name string\n  address Address\n}\n";
  EXPECT_EQ(render(decls, "Person"),
            "Answer in JSON using this schema:\n{\n  name: string,\n  address: {\n    city: {\n      name: string,\n"
            "      zip: string or null,\n    },\n    line: string,\n  },\n}");
}

// The target enum: its block under "Answer with any of the categories:";
// values by @alias with their @description, @skip values left out, the
// enum's name by its @@alias.
BRAKE_TEST(enum_target_is_a_block_of_values) {
  const char* decls = "enum Color {\n  Red @alias(\"r\")\n  Green @description(\"Like grass\")\n  Blue\n"
                      "  Gone @skip\n  @@alias(\"Colour\")\n}\n";
  EXPECT_EQ(render(decls, "Color"), "Answer with any of the categories:\nColour\n----\n- r\n- Green: Like grass\n- Blue");
  // A description's further lines line up under the value's text.
  EXPECT_EQ(render("enum E {\n  A @description(#\"one\ntwo\"#)\n}\n", "E"),
            "Answer with any of the categories:\nE\n----\n- A: one\n  two");
}

// Inside a schema a plain enum is written inline ('A' or 'B'); one with more
// than 6 values, a described value or a @@description is hoisted: its block
// comes first and the schema names it. Several hoisted enums come in the
// order BAML's walk meets them (a class's last field first).
BRAKE_TEST(enums_inside_a_schema_inline_or_hoisted) {
  EXPECT_EQ(render("enum Mood {\n  HAPPY\n  SAD @alias(\"sad\")\n}\nclass R {\n  mood Mood\n}\n", "R"),
            "Answer in JSON using this schema:\n{\n  mood: 'HAPPY' or 'sad',\n}");
  const char* big = "enum Day {\n  Mon\n  Tue\n  Wed\n  Thu\n  Fri\n  Sat\n  Sun\n}\n"
                    "enum Kind {\n  A @description(\"first\")\n  B\n}\n"
                    "enum Doc {\n  X\n  @@description(\"documented\")\n}\n"
                    "class R {\n  day Day\n  kind Kind[]\n  doc Doc?\n}\n";
  EXPECT_EQ(render(big, "R"),
            "Doc\n----\n- X\n\nKind\n----\n- A: first\n- B\n\nDay\n----\n- Mon\n- Tue\n- Wed\n- Thu\n- Fri\n- Sat\n- Sun\n\n"
            "Answer in JSON using this schema:\n{\n  day: Day,\n  kind: Kind[],\n  doc: Doc or null,\n}");
  // Six values still fit inline.
  EXPECT_EQ(render("enum Six {\n  A\n  B\n  C\n  D\n  E\n  F\n}\nclass R {\n  s Six\n}\n", "R"),
            "Answer in JSON using this schema:\n{\n  s: 'A' or 'B' or 'C' or 'D' or 'E' or 'F',\n}");
}

// An array: its own sentence; a class element is written inline before `[]`,
// a union element in parentheses.
BRAKE_TEST(arrays) {
  EXPECT_EQ(render("", "int[]"), "Answer with a JSON Array using this schema:\nint[]");
  EXPECT_EQ(render("class Item {\n  name string\n  price float\n}\n", "Item[]"),
            "Answer with a JSON Array using this schema:\n{\n  name: string,\n  price: float,\n}[]");
  EXPECT_EQ(render("class A {\n  x int\n}\nclass B {\n  y int\n}\nclass R {\n  items (A | B)[]\n  maybe int?[]\n}\n", "R"),
            "Answer in JSON using this schema:\n{\n  items: ({\n    x: int,\n  } or {\n    y: int,\n  })[],\n"
            "  maybe: (int or null)[],\n}");
  EXPECT_EQ(render("", "string[][]"), "Answer with a JSON Array using this schema:\nstring[][]");
}

BRAKE_TEST(maps) {
  EXPECT_EQ(render("", "map<string, int>"), "Answer in JSON using this schema:\nmap<string, int>");
  EXPECT_EQ(render("class P {\n  x int\n}\n", "map<string, P[]>"),
            "Answer in JSON using this schema:\nmap<string, {\n  x: int,\n}[]>");
}

// An optional has no sentence; null is always the last member.
BRAKE_TEST(optionals) {
  EXPECT_EQ(render("", "int?"), "int or null");
  EXPECT_EQ(render("class R {\n  name string\n  value int?\n}\n", "R?"), "{\n  name: string,\n  value: int or null,\n} or null");
}

// A union: "any of these schemas" and its members joined by " or ".
BRAKE_TEST(unions) {
  const char* decls = "class Bug {\n  severity string\n}\nclass Feature {\n  title string\n}\n";
  EXPECT_EQ(render(decls, "Bug | Feature"),
            "Answer in JSON using any of these schemas:\n{\n  severity: string,\n} or {\n  title: string,\n}");
  EXPECT_EQ(render(decls, "Bug | Feature | null"),
            "Answer in JSON using any of these schemas:\n{\n  severity: string,\n} or {\n  title: string,\n} or null");
  EXPECT_EQ(render("class Issue {\n  kind Bug | Feature\n}\n" + std::string(decls), "Issue"),
            "Answer in JSON using this schema:\n{\n  kind: {\n    severity: string,\n  } or {\n    title: string,\n  },\n}");
}

// A literal type is its value: a string in double quotes, an int or a bool
// as written; a single literal has its own sentence.
BRAKE_TEST(literals) {
  EXPECT_EQ(render("", "\"TWO\""), "Answer using this specific value:\n\"TWO\"");
  EXPECT_EQ(render("", "5"), "Answer using this specific value:\n5");
  EXPECT_EQ(render("", "-1"), "Answer using this specific value:\n-1");
  EXPECT_EQ(render("", "true"), "Answer using this specific value:\ntrue");
  EXPECT_EQ(render("", "\"a\" | \"b\""), "Answer in JSON using any of these schemas:\n\"a\" or \"b\"");
  EXPECT_EQ(render("class Date {\n  day int\n}\nclass Job {\n  to Date | \"current\"\n  level 1 | 2 | 3\n}\n", "Job"),
            "Answer in JSON using this schema:\n{\n  to: {\n    day: int,\n  } or \"current\",\n  level: 1 or 2 or 3,\n}");
}

// A type alias is its type.
BRAKE_TEST(type_aliases_render_as_their_type) {
  EXPECT_EQ(render("type Graph = map<string, string[]>\n", "Graph"), "Answer in JSON using this schema:\nmap<string, string[]>");
  EXPECT_EQ(render(std::string(kNode) + "type List = Node\n", "List"), std::string(kNodeText) + "\n\nAnswer in JSON using this schema: Node");
}

// ---------------------------------------------------------------- recursion

// A recursive class is defined once above the sentence, which names it.
BRAKE_TEST(recursive_class_is_hoisted) {
  EXPECT_EQ(render(kNode, "Node"), std::string(kNodeText) + "\n\nAnswer in JSON using this schema: Node");
  EXPECT_EQ(render(std::string(kNode) + "class LinkedList {\n  head Node?\n  len int\n}\n", "LinkedList"),
            std::string(kNodeText) + "\n\nAnswer in JSON using this schema:\n{\n  head: Node or null,\n  len: int,\n}");
  EXPECT_EQ(render(kNode, "Node[]"), std::string(kNodeText) + "\n\nAnswer with a JSON Array using this schema:\nNode[]");
  EXPECT_EQ(render(kNode, "map<string, Node?>"),
            std::string(kNodeText) + "\n\nAnswer in JSON using this schema:\nmap<string, Node or null>");
  EXPECT_EQ(render("class M {\n  data map<string, M>\n}\n", "M"),
            "M {\n  data: map<string, M>,\n}\n\nAnswer in JSON using this schema: M");
}

// Classes on one cycle are all hoisted, in name order; a class they hold that
// is not on the cycle stays inline in their definitions.
BRAKE_TEST(cycles_hoist_every_member_in_name_order) {
  EXPECT_EQ(render("class Tree {\n  data int\n  children Forest\n}\nclass Forest {\n  trees Tree[]\n}\n", "Tree"),
            "Forest {\n  trees: Tree[],\n}\n\nTree {\n  data: int,\n  children: Forest,\n}\n\n"
            "Answer in JSON using this schema: Tree");
  const char* decls = "class C {\n  pointer A?\n}\nclass B {\n  pointer C\n}\nclass A {\n  pointer B\n  nested Leaf\n}\n"
                      "class Leaf {\n  x int\n}\nclass Top {\n  pointer A\n  data int\n}\n";
  EXPECT_EQ(render(decls, "Top"),
            "A {\n  pointer: B,\n  nested: {\n    x: int,\n  },\n}\n\nB {\n  pointer: C,\n}\n\nC {\n  pointer: A or null,\n}\n\n"
            "Answer in JSON using this schema:\n{\n  pointer: A,\n  data: int,\n}");
}

// A hoisted class shows its @@alias everywhere; its @@description stays
// inside its body.
BRAKE_TEST(hoisted_class_alias_and_description) {
  EXPECT_EQ(render("class Node {\n  data int\n  next Node?\n  @@alias(\"GraphNode\")\n  @@description(\"A node\")\n}\n", "Node"),
            "GraphNode {\n  // A node\n\n  data: int,\n  next: GraphNode or null,\n}\n\nAnswer in JSON using this schema: GraphNode");
}

// A union of recursive classes and others: the recursive ones by name.
BRAKE_TEST(unions_with_recursive_members) {
  const char* decls = "class Node {\n  data int\n  next Node?\n}\nclass Tree {\n  data int\n  children Tree[]\n}\n"
                      "class Leaf {\n  tag string\n}\n";
  EXPECT_EQ(render(decls, "Node | Tree | Leaf"),
            std::string(kNodeText) + "\n\nTree {\n  data: int,\n  children: Tree[],\n}\n\n"
                                     "Answer in JSON using any of these schemas:\nNode or Tree or {\n  tag: string,\n}");
}

// ---------------------------------------------------------------- options

BRAKE_TEST(option_or_splitter) {
  EXPECT_EQ(render("enum E {\n  A\n  B\n}\nclass R {\n  e E\n  n int?\n}\n", "R", "ctx.output_format(or_splitter=' | ')"),
            "Answer in JSON using this schema:\n{\n  e: 'A' | 'B',\n  n: int | null,\n}");
}

BRAKE_TEST(option_enum_value_prefix) {
  const char* decls = "enum E {\n  A\n  B @description(\"bee\")\n}\n";
  EXPECT_EQ(render(decls, "E", "ctx.output_format(enum_value_prefix='* ')"),
            "Answer with any of the categories:\nE\n----\n* A\n* B: bee");
  EXPECT_EQ(render(decls, "E", "ctx.output_format(enum_value_prefix=null, prefix=null)"), "E\n----\nA\nB: bee");
  // A described value's further lines line up under the value (the prefix's width in characters).
  EXPECT_EQ(render("enum E {\n  A @description(#\"one\ntwo\"#)\n}\n", "E", "ctx.output_format(enum_value_prefix='\u2022 ')"),
            "Answer with any of the categories:\nE\n----\n\u2022 A: one\n  two");
}

BRAKE_TEST(option_always_hoist_enums) {
  EXPECT_EQ(render("enum E {\n  A\n  B\n}\nclass R {\n  e E\n}\n", "R", "ctx.output_format(always_hoist_enums=true)"),
            "E\n----\n- A\n- B\n\nAnswer in JSON using this schema:\n{\n  e: E,\n}");
  EXPECT_EQ(render("enum E {\n  A\n  B\n}\nclass R {\n  e E\n}\n", "R", "ctx.output_format(always_hoist_enums=false)"),
            "Answer in JSON using this schema:\n{\n  e: 'A' or 'B',\n}");
}

BRAKE_TEST(option_map_style) {
  EXPECT_EQ(render("", "map<string, int>", "ctx.output_format(map_style='object')"),
            "Answer in JSON using this schema:\n{ [key: string]: int }");
  EXPECT_EQ(render("", "map<string, int>", "ctx.output_format(map_style='object_literal')"),
            "Answer in JSON using this schema:\n{ [key: string]: int }");
  EXPECT_EQ(render("", "map<string, int>", "ctx.output_format(map_style='angle')"),
            "Answer in JSON using this schema:\nmap<string, int>");
  EXPECT_EQ(render("", "map<string, int>", "ctx.output_format(map_style='type_parameters')"),
            "Answer in JSON using this schema:\nmap<string, int>");
}

// hoist_classes: true hoists every class the schema reaches, a list hoists
// those (recursive classes are hoisted in any case), false and "auto" only
// the recursive ones.
BRAKE_TEST(option_hoist_classes) {
  const char* decls = "class A {\n  prop int\n}\nclass B {\n  prop string\n}\nclass C {\n  prop float\n}\n"
                      "class Ret {\n  a A\n  b B\n  c C\n}\n";
  EXPECT_EQ(render(decls, "Ret", "ctx.output_format(hoist_classes=['A', 'B'])"),
            "A {\n  prop: int,\n}\n\nB {\n  prop: string,\n}\n\n"
            "Answer in JSON using this schema:\n{\n  a: A,\n  b: B,\n  c: {\n    prop: float,\n  },\n}");
  // true: in the order BAML's walk meets them (the target, then its fields' classes last to first).
  EXPECT_EQ(render(decls, "Ret", "ctx.output_format(hoist_classes=true)"),
            "Ret {\n  a: A,\n  b: B,\n  c: C,\n}\n\nC {\n  prop: float,\n}\n\nB {\n  prop: string,\n}\n\nA {\n  prop: int,\n}\n\n"
            "Answer in JSON using this schema: Ret");
  std::string plain = "Answer in JSON using this schema:\n{\n  a: {\n    prop: int,\n  },\n  b: {\n    prop: string,\n  },\n"
                      "  c: {\n    prop: float,\n  },\n}";
  EXPECT_EQ(render(decls, "Ret", "ctx.output_format(hoist_classes=false)"), plain);
  EXPECT_EQ(render(decls, "Ret", "ctx.output_format(hoist_classes='auto')"), plain);
  // A listed class the schema does not reach changes nothing.
  EXPECT_EQ(render(std::string(decls) + "class Other {\n  x int\n}\n", "Ret", "ctx.output_format(hoist_classes=['Other'])"), plain);
}

BRAKE_TEST(option_hoisted_class_prefix) {
  const char* decls = "class A {\n  pointer B\n}\nclass B {\n  pointer A?\n}\nclass Top {\n  pointer A\n}\n";
  EXPECT_EQ(render(decls, "Top", "ctx.output_format(hoisted_class_prefix='interface')"),
            "interface A {\n  pointer: B,\n}\n\ninterface B {\n  pointer: A or null,\n}\n\n"
            "Answer in JSON using this interface:\n{\n  pointer: A,\n}");
  EXPECT_EQ(render(kNode, "Node", "ctx.output_format(hoisted_class_prefix='type')"),
            "type " + std::string(kNodeText) + "\n\nAnswer in JSON using this type: Node");
  std::string tree = "class Tree {\n  data int\n  children Tree[]\n}\n";
  EXPECT_EQ(render(kNode + tree, "Node | Tree", "ctx.output_format(hoisted_class_prefix='type')"),
            "type " + std::string(kNodeText) + "\n\ntype Tree {\n  data: int,\n  children: Tree[],\n}\n\n"
            "Answer in JSON using any of these types:\nNode or Tree");
  // null (or "") is the default: no word before the name, "schema" in the sentence.
  EXPECT_EQ(render(kNode, "Node", "ctx.output_format(hoisted_class_prefix=null)"),
            std::string(kNodeText) + "\n\nAnswer in JSON using this schema: Node");
}

BRAKE_TEST(option_quote_class_fields) {
  EXPECT_EQ(render("class P {\n  name string @alias(\"full name\")\n  age int @description(\"years\")\n}\n", "P",
                   "ctx.output_format(quote_class_fields=true)"),
            "Answer in JSON using this schema:\n{\n  \"full name\": string,\n  \"age\": int, // years\n}");
}

BRAKE_TEST(option_prefix_replaces_the_sentence) {
  EXPECT_EQ(render("class P {\n  x int\n}\n", "P", "ctx.output_format(prefix='Schema:\\n')"), "Schema:\n{\n  x: int,\n}");
  EXPECT_EQ(render("enum E {\n  A\n}\n", "E", "ctx.output_format(prefix=null)"), "E\n----\n- A");
  EXPECT_EQ(render(kNode, "Node", "ctx.output_format(prefix=null)"), std::string(kNodeText) + "\n\nNode");
  // ctx.output_format with no arguments and called with none are the same.
  EXPECT_EQ(render("", "int", "ctx.output_format()"), "Answer as an int");
}

// A wrong name or value type is an error naming the option (the template
// adds where it was called).
BRAKE_TEST(option_errors) {
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(prefx='a')"),
                  "error: ctx.output_format: unknown option 'prefx' (the options are prefix, or_splitter,");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(prefix=3)"), "'prefix' must be a string or null, not an int");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(or_splitter=true)"), "'or_splitter' must be a string, not a bool");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(enum_value_prefix=[])"),
                  "'enum_value_prefix' must be a string or null, not a list");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(always_hoist_enums='yes')"),
                  "'always_hoist_enums' must be true or false, not a string");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(quote_class_fields=1)"), "'quote_class_fields' must be true or false, not an int");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(map_style='round')"), "'map_style' must be \"angle\" or \"object\", not \"round\"");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(map_style=null)"), "'map_style' must be \"angle\" or \"object\", not null");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(hoist_classes='all')"),
                  "'hoist_classes' must be true, false, \"auto\" or a list of class names, not a string");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(hoist_classes=[1])"),
                  "'hoist_classes' must be true, false, \"auto\" or a list of class names, not an int");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(hoist_classes=['Nope'])"), "hoist_classes: there is no class named 'Nope'");
  EXPECT_CONTAINS(render("", "int", "ctx.output_format(hoisted_class_prefix=false)"),
                  "'hoisted_class_prefix' must be a string or null, not a bool");
}

// Media cannot be an answer's type.
// Recursive type aliases are listed by name, one a line, in the order the
// schema reaches them, with hoisted_class_prefix before each; an alias that
// is not recursive is what it stands for.
BRAKE_TEST(recursive_aliases_are_listed_by_name) {
  EXPECT_EQ(render("type J = int | string | J[] | map<string, J>", "J"),
            "J = int or string or J[] or map<string, J>\n\nAnswer in JSON using this schema: J");
  EXPECT_EQ(render("type A = B\ntype B = C\ntype C = A[]", "A"),
            "A = B\nB = C\nC = A[]\n\nAnswer in JSON using this schema: A");
  EXPECT_EQ(render("type A = B[]\ntype B = C\ntype C = A[]", "A", "ctx.output_format(hoisted_class_prefix='type')"),
            "type A = B[]\ntype B = C\ntype C = A[]\n\nAnswer in JSON using this type: A");
  EXPECT_EQ(render("type V = int | (V | string)[]", "V[]"),
            "V = int or (V or string)[]\n\nAnswer with a JSON Array using this schema:\nV[]");
  EXPECT_EQ(render("type Id = int", "Id"), "Answer as an int");
  // Streaming attributes on a type do not show.
  EXPECT_EQ(render("", "((int | string) @stream.done)[]"), render("", "(int | string)[]"));
  EXPECT_EQ(render("", "string @stream.not_null"), "");
}

BRAKE_TEST(media_outputs_are_refused) {
  EXPECT_CONTAINS(render("class R {\n  picture image\n}\n", "R"), "error: ctx.output_format: the type image cannot be an LLM function's output");
}

// ---------------------------------------------------------------- guards

// Classes that share parts: each level doubles the inline text. Past
// kMaxClassBodies bodies the format is refused (naming the way out);
// hoisting every class writes each once.
BRAKE_TEST(exponential_expansion_is_refused) {
  std::string decls;
  for (int i = 0; i < 20; i++)
    decls += "class C" + std::to_string(i) + " {\n  a C" + std::to_string(i + 1) + "\n  b C" + std::to_string(i + 1) + "\n}\n";
  decls += "class C20 {\n  x int\n}\n";
  EXPECT_CONTAINS(render(decls, "C0"), "error: ctx.output_format: the schema expands to more than 10000 class bodies");
  std::string hoisted = render(decls, "C0", "ctx.output_format(hoist_classes=true)");
  EXPECT_CONTAINS(hoisted, "C19 {\n  a: C20,\n  b: C20,\n}");
  EXPECT_CONTAINS(hoisted, "Answer in JSON using this schema: C0");
}

BRAKE_TEST(deep_nesting_is_refused) {
  std::string decls;
  for (int i = 0; i < 150; i++) decls += "class D" + std::to_string(i) + " {\n  d D" + std::to_string(i + 1) + "\n}\n";
  decls += "class D150 {\n  x int\n}\n";
  EXPECT_CONTAINS(render(decls, "D0"), "error: ctx.output_format: the schema nests classes more than 100 deep");
  EXPECT_CONTAINS(render(decls, "D60"), "Answer in JSON using this schema:\n{\n  d: {\n");
}

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(string_renders_nothing_unless_a_prefix_asks),
      TEST_ENTRY(recursive_aliases_are_listed_by_name),
      TEST_ENTRY(int_float_bool_are_one_sentence),
      TEST_ENTRY(class_fields_aliases_and_descriptions),
      TEST_ENTRY(skipped_fields_are_left_out),
      TEST_ENTRY(nested_classes_are_inline_and_indented),
      TEST_ENTRY(enum_target_is_a_block_of_values),
      TEST_ENTRY(enums_inside_a_schema_inline_or_hoisted),
      TEST_ENTRY(arrays),
      TEST_ENTRY(maps),
      TEST_ENTRY(optionals),
      TEST_ENTRY(unions),
      TEST_ENTRY(literals),
      TEST_ENTRY(type_aliases_render_as_their_type),
      TEST_ENTRY(recursive_class_is_hoisted),
      TEST_ENTRY(cycles_hoist_every_member_in_name_order),
      TEST_ENTRY(hoisted_class_alias_and_description),
      TEST_ENTRY(unions_with_recursive_members),
      TEST_ENTRY(option_or_splitter),
      TEST_ENTRY(option_enum_value_prefix),
      TEST_ENTRY(option_always_hoist_enums),
      TEST_ENTRY(option_map_style),
      TEST_ENTRY(option_hoist_classes),
      TEST_ENTRY(option_hoisted_class_prefix),
      TEST_ENTRY(option_quote_class_fields),
      TEST_ENTRY(option_prefix_replaces_the_sentence),
      TEST_ENTRY(option_errors),
      TEST_ENTRY(media_outputs_are_refused),
      TEST_ENTRY(exponential_expansion_is_refused),
      TEST_ENTRY(deep_nesting_is_refused),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
