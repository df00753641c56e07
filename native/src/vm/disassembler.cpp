// disassembler.cpp: a readable listing of compiled bytecode, for debugging
// the compiler (brake_program_disassemble, brake-run --disassemble).
#include <cstdio>

#include "vm/builtins.h"
#include "vm/chunk.h"

namespace brake::vm {

namespace {

std::string constant_text(Value v) {
  switch (v.tag) {
  case Tag::Int: return std::to_string(v.i);
  case Tag::Float: {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v.f);
    return buf;
  }
  case Tag::String: return "\"" + v.as_string()->text + "\"";
  case Tag::Enum: return "enum " + std::to_string(v.enum_id()) + "." + std::to_string(v.variant());
  case Tag::Function: return "function " + std::to_string(v.as_function()->function);
  default: return "?";
  }
}

} // namespace

std::string disassemble(const CompiledProgram& program) {
  std::string out;
  char buf[160];
  for (const FunctionInfo& fn : program.functions) {
    std::snprintf(buf, sizeof buf, "function %s (arity %u, locals %u, stack %u)\n", fn.name.c_str(), fn.arity,
                  fn.num_locals, fn.max_stack);
    out += buf;
    const auto& code = fn.chunk.code;
    uint32_t last_line = 0;
    for (size_t at = 0; at < code.size();) {
      auto op = OpCode(code[at]);
      const OpInfo& info = kOpInfo[size_t(op)];
      uint32_t line = fn.chunk.line_at(at);
      std::string line_text = line == last_line ? "   |" : std::to_string(line);
      last_line = line;
      std::snprintf(buf, sizeof buf, "  %04zu %4s  %-20s", at, line_text.c_str(), info.name);
      out += buf;
      auto u16 = [&](size_t i) { return unsigned(code[at + 1 + i] | (code[at + 2 + i] << 8)); };
      switch (op) {
      case OpCode::CONST:
      case OpCode::FIELD_GET_NAMED:
      case OpCode::FIELD_SET_NAMED: out += constant_text(fn.chunk.constants[u16(0)]); break;
      case OpCode::JUMP:
      case OpCode::JUMP_IF_FALSE:
      case OpCode::JUMP_IF_FALSE_OR_POP:
      case OpCode::JUMP_IF_TRUE_OR_POP:
      case OpCode::JUMP_IF_NOT_LT:
      case OpCode::JUMP_IF_NOT_LE:
      case OpCode::JUMP_IF_NOT_GT:
      case OpCode::JUMP_IF_NOT_GE: out += "-> " + std::to_string(at + 3 + u16(0)); break;
      case OpCode::LOOP: out += "-> " + std::to_string(at + 3 - u16(0)); break;
      case OpCode::CALL:
        out += program.functions[u16(0)].name + " argc " + std::to_string(code[at + 3]);
        break;
      case OpCode::CALL_LLM:
        out += "llm " + program.functions[program.llm_functions[u16(0)].function].name + " argc " +
               std::to_string(code[at + 3]);
        break;
      case OpCode::CALL_HOST:
        out += "host " + program.host_functions[u16(0)].name + " argc " + std::to_string(code[at + 3]);
        break;
      case OpCode::BUILTIN: {
        const BuiltinInfo& b = kBuiltins[u16(0)];
        out += std::string(b.receiver) + "." + b.name + " argc " + std::to_string(code[at + 3]);
        break;
      }
      case OpCode::ITER_NEXT:
        out += "seq " + std::to_string(u16(0)) + " index " + std::to_string(u16(2)) + " exit -> " +
               std::to_string(at + 7 + u16(4));
        break;
      case OpCode::FIELD_GET:
      case OpCode::FIELD_SET:
        out += program.classes[u16(0)].name + "." + program.classes[u16(0)].field_names[u16(2)];
        break;
      case OpCode::CLOSURE:
      case OpCode::BIND:
        out += program.functions[u16(0)].name;
        if (op == OpCode::CLOSURE) out += " captures " + std::to_string(code[at + 3]);
        break;
      case OpCode::CALL_VALUE:
      case OpCode::CALL_CHECKED: out += "argc " + std::to_string(code[at + 1]); break;
      case OpCode::INSTANCE:
        out += program.classes[u16(0)].name + " fields " + std::to_string(u16(2));
        break;
      case OpCode::WATCH:
        out += "slot " + std::to_string(u16(0)) + " name " + std::to_string(u16(2)) + " options " + std::to_string(u16(4)) +
               " until " + std::to_string(at + 9 + u16(6));
        break;
      case OpCode::WATCH_SET:
        out += "slot " + std::to_string(u16(0)) + " options " + std::to_string(u16(2)) + " skip -> " +
               std::to_string(at + 7 + u16(4));
        break;
      case OpCode::TYPE_TEST: out += program.type_name(lang::TypeId(u16(0))); break;
      default:
        if (info.operand_bytes == 2) out += std::to_string(u16(0));
        break;
      }
      out += "\n";
      at += 1 + info.operand_bytes;
    }
  }
  return out;
}

} // namespace brake::vm
