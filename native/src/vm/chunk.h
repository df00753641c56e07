// chunk.h: compiled functions and programs (what the compiler produces and
// the interpreter runs). Immutable once compiled; shared by every call on
// every worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "llm/client.h"
#include "lang/attributes.h"
#include "lang/diagnostics.h"
#include "lang/types.h"
#include "vm/value.h"

namespace brake::llm {
class Template;           // llm/template.h
struct TemplateStringDef; // llm/template.h
} // namespace brake::llm

namespace brake::vm {

enum class OpCode : uint8_t {
#define OPCODE(name, operands, effect, desc) name,
#include "vm/opcodes.def"
#undef OPCODE
  COUNT_
};

struct OpInfo {
  const char* name;
  uint8_t operand_bytes;
};
extern const OpInfo kOpInfo[];

struct Chunk {
  std::vector<uint8_t> code;
  std::vector<Value> constants;
  // (first code offset, line) pairs in increasing offset order.
  std::vector<std::pair<uint32_t, uint32_t>> lines;

  uint32_t line_at(size_t offset) const;
};

struct FunctionInfo {
  std::string name;
  std::vector<std::string> param_names;
  std::vector<lang::TypeId> param_types;
  lang::TypeId return_type = lang::TypeTable::ANY;
  lang::TypeId throws = -1; // its `throws` clause's type (-1: none written: unchecked)
  uint32_t line = 1;
  uint16_t arity = 0;
  uint16_t num_locals = 0; // including parameters
  uint16_t max_stack = 0;  // operand stack needed beyond the locals
  int32_t llm = -1;        // an LLM function: index into CompiledProgram::llm_functions
  // Locals that hold cells (variables a lambda captures; CELL_GET/SET), in
  // increasing order; and, for a lambda, where each of its captures goes
  // when it is called (FunctionObj::captures[i] -> locals[capture_slots[i]]).
  std::vector<uint16_t> cell_slots;
  std::vector<uint16_t> capture_slots;
  Chunk chunk;
};

// An LLM function: its client and its prompt (compiled), what CALL_LLM
// asks the runtime to run.
struct LlmFunctionInfo {
  uint32_t function = 0; // index into CompiledProgram::functions
  uint32_t client = 0;   // index into CompiledProgram::clients
  std::shared_ptr<const llm::Template> prompt; // null until compiled (a program with errors)
};


struct ClassInfo {
  std::string name;
  std::vector<std::string> field_names;
  std::vector<lang::TypeId> field_types;
  // Field name -> index, for fields of values whose class the checker could
  // not know (FIELD_GET_NAMED / FIELD_SET_NAMED resolve them by name).
  std::unordered_map<std::string, uint32_t> field_index;
  // Per field, its attributes (@alias: the name prompts, output formats
  // and replies use; @description, @skip, constraints, @stream.*), and the
  // class's own @@ attributes.
  std::vector<lang::Attributes> field_attrs;
  lang::Attributes attrs;

  // The name a prompt shows for field `i`.
  const std::string& shown_name(size_t i) const {
    return i < field_attrs.size() && !field_attrs[i].alias.empty() ? field_attrs[i].alias : field_names[i];
  }
  // The name a prompt shows for the class (@@alias).
  const std::string& shown_class_name() const { return attrs.alias.empty() ? name : attrs.alias; }

  // Index of field `name`, or -1.
  int64_t find_field(const std::string& name) const {
    auto it = field_index.find(name);
    return it == field_index.end() ? -1 : int64_t(it->second);
  }
};

// A function the host provides (declared with the program, bound to an
// implementation by each engine).
struct HostFunctionInfo {
  std::string name;
  std::string signature; // as the host declared it
  std::vector<std::string> param_names;
  std::vector<lang::TypeId> param_types;
  lang::TypeId return_type = lang::TypeTable::ANY;
};

// What the host declares: a name and a BAML signature.
struct HostDeclaration {
  std::string name;
  std::string signature;
};

struct EnumInfo {
  std::string name;
  std::vector<std::string> variants;
  std::vector<lang::Attributes> variant_attrs; // per variant (@alias, @description, @skip)
  lang::Attributes attrs;                      // the enum's @@ attributes

  const std::string& shown_name(size_t i) const {
    return i < variant_attrs.size() && !variant_attrs[i].alias.empty() ? variant_attrs[i].alias : variants[i];
  }
  const std::string& shown_enum_name() const { return attrs.alias.empty() ? name : attrs.alias; }
};

// baml.http.Response (declared by the checker in every program): its
// fields, in order. Fields whose name starts with '#' are hidden: scripts
// cannot name them, and they are left out when the value crosses to the host.
constexpr const char* kResponseClassName = "baml.http.Response";
enum ResponseField : uint32_t {
  kResponseStatus,   // status_code: int (0: the request failed; see error)
  kResponseUrl,      // url: string
  kResponseHeaders,  // headers: map<string, string> (names in lower case)
  kResponseError,    // error: string? (why the request failed)
  kResponseBody,     // #body: string; null once text() or json() has read it
  kResponseFieldCount
};

// The media types (image, audio, pdf, video; declared by the checker in
// every program after baml.http.Response, in this order): instances of
// these classes, with these fields. A host passes one as a map with `url`,
// or `base64` and `media_type` (its MIME type).
constexpr const char* kMediaClassNames[] = {"image", "audio", "pdf", "video"};
constexpr uint32_t kMediaKinds = 4;
enum MediaField : uint32_t {
  kMediaUrl,       // url: string?
  kMediaBase64,    // base64: string?
  kMediaMimeType,  // media_type: string?
  kMediaFieldCount
};

struct CompiledProgram {
  explicit CompiledProgram(std::string file) : diagnostics(std::move(file)) {}
  ~CompiledProgram();

  lang::Diagnostics diagnostics;
  lang::TypeTable types;
  std::vector<FunctionInfo> functions; // declared functions first, in source order
  size_t declared_functions = 0;       // functions visible to hosts (methods follow)
  std::unordered_map<std::string, uint32_t> function_index;
  std::vector<ClassInfo> classes;
  std::vector<EnumInfo> enums;
  std::vector<HostFunctionInfo> host_functions; // in the order the host declared them
  std::vector<llm::ClientInfo> clients;             // client<llm> declarations, in source order
  std::vector<llm::RetryPolicyInfo> retry_policies; // retry_policy declarations, in source order
  std::vector<LlmFunctionInfo> llm_functions;       // in source order
  // template_string declarations, in source order (prompts call them).
  std::shared_ptr<const std::vector<llm::TemplateStringDef>> template_strings;
  // The class of baml.http.fetch's responses (after the program's own).
  uint32_t response_class = 0;
  // The media classes, in kMediaClassNames' order (consecutive ids).
  uint32_t media_class = 0;
  // Which media kind (0..3, kMediaClassNames' order) class `id` is, or -1.
  int media_kind(uint32_t class_id) const {
    return class_id >= media_class && class_id < media_class + kMediaKinds ? int(class_id - media_class) : -1;
  }
  // Constant strings shared read-only by all calls (Object::is_static).
  std::vector<StringObj*> static_strings;
  // A function named as a value (`add`, `Person.name`): one constant per
  // function, shared read-only like the strings (so `add == add`), by index
  // (null: never named so).
  std::vector<FunctionObj*> static_functions;

  std::vector<std::string> class_names() const;
  std::vector<std::string> enum_names() const;
  std::string type_name(lang::TypeId t) const { return types.name(t, class_names(), enum_names()); }
  // As a source would write it (lang::TypeTable::NameStyle::Source).
  std::string source_type_name(lang::TypeId t) const {
    return types.name(t, class_names(), enum_names(), lang::TypeTable::NameStyle::Source);
  }
};

// Sources longer than this are refused (a compile error at 1:1): compiling
// takes memory in proportion to the source (about 55 bytes of syntax tree and
// tokens per source byte at worst), so a limit on the one keeps the other
// bounded.
constexpr size_t kMaxSourceBytes = size_t(16) << 20;

// Compiles source text (any stage's errors end up in `diagnostics`).
std::shared_ptr<CompiledProgram> compile_program(std::string_view source, std::string file,
                                                 const std::vector<HostDeclaration>& host = {});

// Human-readable listing of every function's bytecode.
std::string disassemble(const CompiledProgram& program);

} // namespace brake::vm
