// compiler.cpp: checked AST -> bytecode, and the compile_program driver.
//
// A function's frame is [locals (params first)] [operand stack]. The
// compiler tracks the operand stack depth to size each frame (max_stack) and
// to pop temporaries when `break`/`continue` leave an expression early.
#include <cctype>
#include <cstring>
#include <map>
#include <set>

#include "common/utf8.h"
#include "lang/checker.h"
#include "lang/lexer.h"
#include "lang/parser.h"
#include "vm/builtins.h"
#include "vm/chunk.h"

namespace brake::vm {

const OpInfo kOpInfo[] = {
#define OPCODE(name, operands, effect, desc) {#name, operands},
#include "vm/opcodes.def"
#undef OPCODE
};

uint32_t Chunk::line_at(size_t offset) const {
  uint32_t line = lines.empty() ? 0 : lines[0].second;
  for (auto& [start, l] : lines) {
    if (start > offset) break;
    line = l;
  }
  return line;
}

CompiledProgram::~CompiledProgram() {
  for (StringObj* s : static_strings) delete s;
  for (FunctionObj* f : static_functions) delete f;
}

std::vector<std::string> CompiledProgram::class_names() const {
  std::vector<std::string> r;
  for (auto& c : classes) r.push_back(c.name);
  return r;
}
std::vector<std::string> CompiledProgram::enum_names() const {
  std::vector<std::string> r;
  for (auto& e : enums) r.push_back(e.name);
  return r;
}

namespace {

using namespace brake::lang;

struct LoopContext {
  size_t continue_target = SIZE_MAX; // known (backward) target, or SIZE_MAX
  std::vector<size_t> break_patches;
  std::vector<size_t> continue_patches; // forward continues (C-style for)
  int depth = 0;                         // operand stack depth at loop entry
  int tries = 0;                         // TRYs open at loop entry
};

class Compiler {
public:
  Compiler(CompiledProgram& program, Diagnostics& diags) : m_program(program), m_diags(diags) {}

  void compile_function(const FunctionDecl& decl, FunctionInfo& fn) {
    begin_function(fn);
    if (fn.llm >= 0) {
      // The arguments, as they are, to the runtime (which runs the client).
      for (size_t i = 0; i < decl.params.size(); i++) emit_with(OpCode::GET_LOCAL, uint32_t(i), decl.loc);
      emit_with(OpCode::CALL_LLM, uint32_t(fn.llm), decl.loc);
      emit_byte(uint8_t(decl.params.size()));
      adjust(1 - int(decl.params.size()));
    } else {
      box_parameters(fn, decl.loc);
      compile_block(*decl.body);
    }
    end_function(fn, decl.body->loc, decl.loc, decl.name);
  }

  void compile_lambda(const Expr& e, FunctionInfo& fn) {
    begin_function(fn);
    box_parameters(fn, e.loc);
    compile_block(*e.lambda->body);
    end_function(fn, e.lambda->body->loc, e.loc, fn.name);
  }

private:
  void begin_function(FunctionInfo& fn) {
    m_fn = &fn;
    m_cells.assign(fn.num_locals, false);
    for (uint16_t slot : fn.cell_slots) m_cells[slot] = true;
    m_depth = 0;
    m_max_depth = 0;
    m_loops.clear();
    m_tries = 0;
    m_watched_slots.clear();
    m_watch_scopes.clear();
    m_constant_index.clear();
    m_too_many_constants = false;
    m_line = 0;
  }

  void end_function(FunctionInfo& fn, SourceLoc end, SourceLoc loc, const std::string& name) {
    emit(OpCode::RETURN, end);
    if (m_max_depth > 65535) m_diags.error(loc, "function '" + name + "' is too large");
    fn.max_stack = uint16_t(std::min(m_max_depth, 65535)); // exact: the ASan suites fail if one short
  }

  // A parameter a lambda captures moves into a cell on entry.
  void box_parameters(const FunctionInfo& fn, SourceLoc loc) {
    for (uint16_t slot : fn.cell_slots)
      if (slot < fn.arity) {
        emit_with(OpCode::GET_LOCAL, slot, loc);
        emit_with(OpCode::CELL_NEW, slot, loc);
      }
  }

  // ---------------------------------------------------------------- variables
  // A variable a lambda captures lives in a cell in its slot (m_cells).

  bool is_cell(int slot) const { return slot >= 0 && size_t(slot) < m_cells.size() && m_cells[size_t(slot)]; }
  // Pushes the variable's value.
  void emit_load(int slot, SourceLoc loc) { emit_with(is_cell(slot) ? OpCode::CELL_GET : OpCode::GET_LOCAL, uint32_t(std::max(slot, 0)), loc); }
  // Assigns the existing variable (a captured one: its cell, seen by the lambdas).
  void emit_store(int slot, SourceLoc loc) { emit_with(is_cell(slot) ? OpCode::CELL_SET : OpCode::SET_LOCAL, uint32_t(slot), loc); }
  // Starts a variable (let, a loop's variable, a pattern's binding): a
  // captured one gets a new cell, so each loop turn's lambdas have their own.
  void emit_define(int slot, SourceLoc loc) { emit_with(is_cell(slot) ? OpCode::CELL_NEW : OpCode::SET_LOCAL, uint32_t(slot), loc); }

  // ---------------------------------------------------------------- emitting

  Chunk& chunk() { return m_fn->chunk; }
  size_t here() { return chunk().code.size(); }

  void set_line(SourceLoc loc) {
    if (loc.line != m_line) {
      m_line = loc.line;
      chunk().lines.emplace_back(uint32_t(here()), loc.line);
    }
  }
  void adjust(int delta) {
    m_depth += delta;
    if (m_depth > m_max_depth) m_max_depth = m_depth;
  }
  void emit_byte(uint8_t b) { chunk().code.push_back(b); }
  void emit_u16(uint32_t v) {
    emit_byte(uint8_t(v & 0xFF));
    emit_byte(uint8_t((v >> 8) & 0xFF));
  }
  // Emits an opcode with the stack effect from opcodes.def.
  void emit(OpCode op, SourceLoc loc) {
    static const int effects[] = {
#define OPCODE(name, operands, effect, desc) effect,
#include "vm/opcodes.def"
#undef OPCODE
    };
    set_line(loc);
    emit_byte(uint8_t(op));
    adjust(effects[size_t(op)]);
  }
  void emit_with(OpCode op, uint32_t operand, SourceLoc loc) {
    emit(op, loc);
    emit_u16(operand);
  }
  // Index of constant `v` in the current chunk (ints, floats and enum
  // variants are shared; each string gets its own static object).
  uint32_t add_constant(Value v, SourceLoc loc) {
    auto& k = chunk().constants;
    size_t index = k.size();
    if (v.tag != Tag::String) {
      auto key = std::make_pair(uint8_t(v.tag), v.i);
      auto [it, inserted] = m_constant_index.emplace(key, k.size());
      index = it->second;
      if (inserted) k.push_back(v);
    } else {
      k.push_back(v);
    }
    if (index > 65535) {
      if (!m_too_many_constants) m_diags.error(loc, "too many constants in one function (at most 65536)");
      m_too_many_constants = true;
      index = 0;
    }
    return uint32_t(index);
  }
  uint32_t add_string(const std::string& s, SourceLoc loc) {
    auto* obj = new StringObj(s);
    obj->is_static = true;
    m_program.static_strings.push_back(obj);
    return add_constant(Value::object(Tag::String, obj), loc);
  }
  void emit_constant(Value v, SourceLoc loc) { emit_with(OpCode::CONST, add_constant(v, loc), loc); }
  void emit_string(const std::string& s, SourceLoc loc) { emit_with(OpCode::CONST, add_string(s, loc), loc); }
  size_t emit_jump(OpCode op, SourceLoc loc) {
    emit(op, loc);
    emit_u16(0xFFFF);
    return here() - 2;
  }
  void patch_jump(size_t at) {
    size_t distance = here() - (at + 2);
    if (distance > 65535) {
      m_diags.error(SourceLoc{m_line, 1}, "jump too long (function too large)");
      distance = 0;
    }
    chunk().code[at] = uint8_t(distance & 0xFF);
    chunk().code[at + 1] = uint8_t(distance >> 8);
  }
  void emit_loop(size_t target, SourceLoc loc) {
    emit(OpCode::LOOP, loc);
    size_t distance = here() + 2 - target;
    if (distance > 65535) {
      m_diags.error(loc, "loop body too large");
      distance = 0;
    }
    emit_u16(uint32_t(distance));
  }
  void emit_pops(int n, SourceLoc loc) {
    for (int i = 0; i < n; i++) {
      emit(OpCode::POP, loc);
      adjust(1); // the code after a jump is unreachable: keep the depth
    }
  }

  // ---------------------------------------------------------------- statements

  // Leaves the block's value on the stack.
  void compile_block(const Block& b) {
    m_watch_scopes.emplace_back();
    for (auto& s : b.stmts) compile_stmt(*s);
    if (b.tail) compile_expr(*b.tail);
    else emit(OpCode::PUSH_NULL, b.loc);
    end_watch_scope();
  }

  // Compiles a block for its effects only (loop bodies): no value is pushed.
  void compile_block_stmt(const Block& b) {
    m_watch_scopes.emplace_back();
    for (auto& s : b.stmts) compile_stmt(*s);
    if (b.tail) compile_effect(*b.tail);
    end_watch_scope();
  }

  // A `watch let`'s variable is watched from its WATCH instruction to the
  // end of its block: the instruction's last operand is that length in
  // bytes, patched here. (break, continue and return leave the range; a
  // block's code is contiguous, so nothing enters it but through WATCH.)
  void end_watch_scope() {
    for (size_t at : m_watch_scopes.back()) patch_jump(at);
    m_watch_scopes.pop_back();
  }

  void compile_stmt(const Stmt& s) {
    switch (s.kind) {
    case StmtKind::Let:
      if (s.expr) compile_expr(*s.expr);
      else emit(OpCode::PUSH_NULL, s.loc);
      emit_define(s.slot, s.loc);
      if (s.watched) {
        m_watched_slots[s.slot] = s.seq_slot; // (slots are never reused in a function)
        emit(OpCode::PUSH_NULL, s.loc); // options: none yet
        emit_with(OpCode::SET_LOCAL, uint32_t(s.seq_slot), s.loc);
        emit_with(OpCode::WATCH, uint32_t(s.slot), s.loc);
        emit_u16(add_string(s.text, s.loc));
        emit_u16(uint32_t(s.seq_slot));
        m_watch_scopes.back().push_back(here()); // (the last operand: patched as a jump from the instruction's end)
        emit_u16(0xFFFF);
      }
      break;
    case StmtKind::Expr: compile_effect(*s.expr); break;
    case StmtKind::While: {
      LoopContext loop;
      loop.depth = m_depth;
      loop.tries = m_tries;
      size_t start = here();
      loop.continue_target = start;
      size_t exit = compile_condition_jump(*s.expr);
      compile_loop_body(std::move(loop), *s.body, start, exit, s.loc);
      break;
    }
    case StmtKind::ForIn: {
      int seq = s.seq_slot, idx = seq + 1;
      compile_expr(*s.expr);
      emit_with(OpCode::SET_LOCAL, uint32_t(seq), s.loc);
      emit_constant(Value::integer(0), s.loc);
      emit_with(OpCode::SET_LOCAL, uint32_t(idx), s.loc);
      LoopContext loop;
      loop.depth = m_depth;
      loop.tries = m_tries;
      size_t start = here();
      loop.continue_target = start;
      size_t exit = emit_iter_next(uint32_t(seq), uint32_t(idx), s.loc);
      emit_define(s.slot, s.loc);
      compile_loop_body(std::move(loop), *s.body, start, exit, s.loc);
      break;
    }
    case StmtKind::ForC: {
      if (s.init) compile_stmt(*s.init);
      LoopContext loop;
      loop.depth = m_depth;
      loop.tries = m_tries;
      size_t start = here();
      size_t exit = SIZE_MAX;
      if (s.expr) exit = compile_condition_jump(*s.expr);
      m_loops.push_back(std::move(loop));
      compile_block_stmt(*s.body);
      for (size_t p : m_loops.back().continue_patches) patch_jump(p);
      m_loops.back().continue_patches.clear();
      if (s.init && s.init->kind == StmtKind::Let && is_cell(s.init->slot)) {
        // Each turn's lambdas keep that turn's value: the next turn's variable is a new cell.
        emit_load(s.init->slot, s.loc);
        emit_define(s.init->slot, s.loc);
      }
      if (s.step) compile_effect(*s.step);
      emit_loop(start, s.loc);
      if (exit != SIZE_MAX) patch_jump(exit);
      finish_loop();
      break;
    }
    case StmtKind::Break: {
      LoopContext& loop = m_loops.back();
      for (int i = loop.tries; i < m_tries; i++) emit(OpCode::END_TRY, s.loc); // leaving guarded code
      emit_pops(m_depth - loop.depth, s.loc);
      loop.break_patches.push_back(emit_jump(OpCode::JUMP, s.loc));
      break;
    }
    case StmtKind::Continue: {
      LoopContext& loop = m_loops.back();
      for (int i = loop.tries; i < m_tries; i++) emit(OpCode::END_TRY, s.loc);
      emit_pops(m_depth - loop.depth, s.loc);
      if (loop.continue_target != SIZE_MAX) emit_loop(loop.continue_target, s.loc);
      else loop.continue_patches.push_back(emit_jump(OpCode::JUMP, s.loc));
      break;
    }
    case StmtKind::Return:
      if (s.expr) compile_expr(*s.expr);
      else emit(OpCode::PUSH_NULL, s.loc);
      emit(OpCode::RETURN, s.loc);
      adjust(-1);
      break;
    case StmtKind::Assert:
      compile_expr(*s.expr);
      emit(OpCode::ASSERT, s.loc);
      break;
    }
  }

  // Compiles a condition and a jump taken when it is false; returns the
  // jump's patch position. `a < b` (and <=, >, >=) becomes one fused
  // compare-and-jump instruction.
  size_t compile_condition_jump(const Expr& cond) {
    if (cond.kind == ExprKind::Binary) {
      OpCode fused = cond.op == Op::Lt ? OpCode::JUMP_IF_NOT_LT : cond.op == Op::Le ? OpCode::JUMP_IF_NOT_LE
                   : cond.op == Op::Gt ? OpCode::JUMP_IF_NOT_GT : cond.op == Op::Ge ? OpCode::JUMP_IF_NOT_GE
                   : OpCode::COUNT_;
      if (fused != OpCode::COUNT_) {
        compile_expr(*cond.kids[0]);
        compile_expr(*cond.kids[1]);
        return emit_jump(fused, cond.loc);
      }
    }
    compile_expr(cond);
    return emit_jump(OpCode::JUMP_IF_FALSE, cond.loc);
  }

  // The shared tail of while and for-in: body, back-edge to `start`, exit.
  void compile_loop_body(LoopContext loop, const Block& body, size_t start, size_t exit, SourceLoc loc) {
    m_loops.push_back(std::move(loop));
    compile_block_stmt(body);
    emit_loop(start, loc);
    patch_jump(exit);
    finish_loop();
  }

  void finish_loop() {
    for (size_t p : m_loops.back().break_patches) patch_jump(p);
    m_loops.pop_back();
  }

  // An expression evaluated for its effect (statements, for-steps).
  void compile_effect(const Expr& e) {
    if (e.kind == ExprKind::Assign) {
      compile_assign(e);
      return;
    }
    compile_expr(e);
    emit(OpCode::POP, e.loc);
  }

  static OpCode arith_op(Op op) {
    switch (op) {
    case Op::Add: case Op::AddAssign: return OpCode::ADD;
    case Op::Sub: case Op::SubAssign: return OpCode::SUB;
    case Op::Mul: case Op::MulAssign: return OpCode::MUL;
    case Op::Div: case Op::DivAssign: return OpCode::DIV;
    case Op::Mod: case Op::ModAssign: return OpCode::MOD;
    case Op::Eq: return OpCode::EQ;
    case Op::Ne: return OpCode::NE;
    case Op::Lt: return OpCode::LT;
    case Op::Le: return OpCode::LE;
    case Op::Gt: return OpCode::GT;
    case Op::Ge: return OpCode::GE;
    case Op::BitAnd: return OpCode::BIT_AND;
    case Op::BitOr: return OpCode::BIT_OR;
    case Op::BitXor: return OpCode::BIT_XOR;
    case Op::Shl: return OpCode::SHL;
    case Op::Shr: return OpCode::SHR;
    default: return OpCode::ADD;
    }
  }

  void compile_assign(const Expr& e) {
    const Expr& target = *e.kids[0];
    bool compound = e.op != Op::Assign;
    switch (target.kind) {
    case ExprKind::Ident:
      if (auto watched = m_watched_slots.find(target.slot); watched != m_watched_slots.end()) { // reported when it changes
        if (compound) emit_with(OpCode::GET_LOCAL, uint32_t(target.slot), target.loc);
        compile_expr(*e.kids[1]);
        if (compound) emit(arith_op(e.op), e.loc);
        // WATCH_SET; CALL_CHECKED 1; WATCH_REPORT: the last two run only for a
        // `when` function (WATCH_SET pushed it and the value), else skipped.
        emit_with(OpCode::WATCH_SET, uint32_t(target.slot), e.loc);
        emit_u16(uint32_t(watched->second));
        size_t skip = here();
        emit_u16(0xFFFF);
        adjust(2);
        emit_call_value(1, true, e.loc); // (checked: the function was stored where this call could not type it)
        emit_with(OpCode::WATCH_REPORT, uint32_t(target.slot), e.loc);
        patch_jump(skip);
        break;
      }
      if (is_cell(target.slot)) {
        if (compound) emit_load(target.slot, target.loc);
        compile_expr(*e.kids[1]);
        if (compound) emit(arith_op(e.op), e.loc);
        emit_store(target.slot, e.loc);
        break;
      }
      if (e.op == Op::AddAssign || e.op == Op::SubAssign) { // in place: one instruction
        compile_expr(*e.kids[1]);
        emit_with(e.op == Op::AddAssign ? OpCode::ADD_TO_LOCAL : OpCode::SUB_FROM_LOCAL, uint32_t(target.slot), e.loc);
        break;
      }
      if (compound) emit_with(OpCode::GET_LOCAL, uint32_t(target.slot), target.loc);
      compile_expr(*e.kids[1]);
      if (compound) emit(arith_op(e.op), e.loc);
      emit_with(OpCode::SET_LOCAL, uint32_t(target.slot), e.loc);
      break;
    case ExprKind::Field:
      compile_expr(*target.kids[0]);
      if (compound) {
        emit(OpCode::DUP, e.loc);
        emit_field(OpCode::FIELD_GET, target, e.loc);
      }
      compile_expr(*e.kids[1]);
      if (compound) emit(arith_op(e.op), e.loc);
      emit_field(OpCode::FIELD_SET, target, e.loc);
      break;
    case ExprKind::Index:
      compile_expr(*target.kids[0]);
      compile_expr(*target.kids[1]);
      if (compound) {
        emit(OpCode::DUP2, e.loc);
        emit(OpCode::INDEX_GET, e.loc);
      }
      compile_expr(*e.kids[1]);
      if (compound) emit(arith_op(e.op), e.loc);
      emit(OpCode::INDEX_SET, e.loc);
      break;
    default: break; // reported by the checker
    }
  }

  // ---------------------------------------------------------------- expressions

  void compile_expr(const Expr& e) {
    switch (e.kind) {
    case ExprKind::IntLit: emit_constant(Value::integer(e.int_value), e.loc); break;
    case ExprKind::FloatLit: emit_constant(Value::number(e.float_value), e.loc); break;
    case ExprKind::BoolLit: emit(e.bool_value ? OpCode::PUSH_TRUE : OpCode::PUSH_FALSE, e.loc); break;
    case ExprKind::StringLit: emit_string(e.text, e.loc); break;
    case ExprKind::NullLit: emit(OpCode::PUSH_NULL, e.loc); break;
    case ExprKind::Ident:
      if (e.aux == kFunctionRef) emit_function(uint32_t(e.slot), e.loc);
      else emit_load(e.slot, e.loc);
      break;
    case ExprKind::Lambda:
      for (int slot : e.lambda->captures) emit_with(OpCode::GET_LOCAL, uint32_t(slot), e.loc); // the cells themselves
      emit_closure(uint32_t(e.slot), e.lambda->captures.size(), e.loc);
      break;
    case ExprKind::Spawn: // the body's closure, the token (or null), whether the future is dropped
      compile_expr(*e.kids[0]);
      if (e.kids.size() > 1) compile_expr(*e.kids[1]);
      else emit(OpCode::PUSH_NULL, e.loc);
      emit(e.bool_value ? OpCode::PUSH_TRUE : OpCode::PUSH_FALSE, e.loc);
      emit_builtin(BuiltinId::TASK_SPAWN, 3, e.loc);
      break;
    case ExprKind::Await:
      compile_expr(*e.kids[0]);
      emit_builtin(BuiltinId::TASK_AWAIT, 1, e.loc);
      break;
    case ExprKind::Unary:
      compile_expr(*e.kids[0]);
      emit(e.op == Op::Minus ? OpCode::NEG : e.op == Op::Not ? OpCode::NOT : OpCode::BIT_NOT, e.loc);
      break;
    case ExprKind::Binary:
      if (e.op == Op::And || e.op == Op::Or) {
        compile_expr(*e.kids[0]);
        size_t end = emit_jump(e.op == Op::And ? OpCode::JUMP_IF_FALSE_OR_POP : OpCode::JUMP_IF_TRUE_OR_POP, e.loc);
        compile_expr(*e.kids[1]);
        patch_jump(end);
      } else {
        compile_expr(*e.kids[0]);
        compile_expr(*e.kids[1]);
        emit(arith_op(e.op), e.loc);
      }
      break;
    case ExprKind::Assign:
      compile_assign(e);
      emit(OpCode::PUSH_NULL, e.loc);
      break;
    case ExprKind::Call:
      if (e.aux == kValueCall) {
        for (auto& k : e.kids) compile_expr(*k); // the function value, then the arguments
        emit_call_value(e.kids.size() - 1, e.int_value != 0, e.loc); // (int_value: its type is unknown)
        break;
      }
      for (size_t i = 1; i < e.kids.size(); i++) compile_expr(*e.kids[i]);
      if (e.aux == kHostCall) {
        emit_with(OpCode::CALL_HOST, uint32_t(e.slot), e.loc);
        emit_byte(uint8_t(e.kids.size() - 1));
        adjust(1 - int(e.kids.size() - 1));
      } else {
        emit_call(uint32_t(std::max(e.slot, 0)), e.kids.size() - 1, e.loc);
      }
      break;
    case ExprKind::MethodCall: compile_method(e); break;
    case ExprKind::Field:
      if (e.aux == -2) {
        emit_constant(Value::enum_variant(uint32_t(e.slot), uint32_t(e.int_value)), e.loc);
      } else if (e.aux == kFunctionRef) {
        emit_function(uint32_t(e.slot), e.loc);
      } else if (e.aux == kBoundMethod) {
        compile_expr(*e.kids[0]);
        emit_with(OpCode::BIND, uint32_t(e.slot), e.loc);
      } else {
        compile_expr(*e.kids[0]);
        emit_field(OpCode::FIELD_GET, e, e.loc);
      }
      break;
    case ExprKind::Index:
      compile_expr(*e.kids[0]);
      compile_expr(*e.kids[1]);
      emit(OpCode::INDEX_GET, e.loc);
      break;
    case ExprKind::ArrayLit:
      for (auto& k : e.kids) compile_expr(*k);
      emit_with(OpCode::ARRAY, uint32_t(e.kids.size()), e.loc);
      adjust(1 - int(e.kids.size()));
      break;
    case ExprKind::MapLit:
      for (size_t i = 0; i < e.kids.size(); i++) {
        emit_string(e.keys[i], e.loc);
        compile_expr(*e.kids[i]);
      }
      emit_with(OpCode::MAP, uint32_t(e.kids.size()), e.loc);
      adjust(1 - 2 * int(e.kids.size()));
      break;
    case ExprKind::ClassLit: compile_class_lit(e); break;
    case ExprKind::Block: compile_block(*e.block); break;
    case ExprKind::If: {
      size_t else_jump = compile_condition_jump(*e.kids[0]);
      compile_block(*e.block);
      size_t end = emit_jump(OpCode::JUMP, e.loc);
      adjust(-1); // only one branch's value is on the stack
      patch_jump(else_jump);
      if (e.else_expr) compile_expr(*e.else_expr);
      else emit(OpCode::PUSH_NULL, e.loc);
      patch_jump(end);
      break;
    }
    case ExprKind::Match: compile_match(e); break;
    case ExprKind::Throw:
      compile_expr(*e.kids[0]);
      emit(OpCode::THROW, e.loc);
      adjust(1); // (never returns: the expression's "value" keeps the depth even)
      break;
    case ExprKind::Catch: compile_catch(e); break;
    }
  }

  // FIELD_GET / FIELD_SET of field expression `field`: by index when the
  // checker resolved the class (aux), else by name at run time (a value of
  // unknown static type, such as an element of `[]`).
  // The class travels with the index: a value whose static type came from
  // `any` may be an instance of another class, which must not be read by
  // this class's layout.
  void emit_field(OpCode op, const Expr& field, SourceLoc loc) {
    if (field.aux >= 0) {
      emit_field_of(op, uint32_t(m_program.types.get(field.kids[0]->type_id).decl), uint32_t(field.aux), loc);
      return;
    }
    OpCode named = op == OpCode::FIELD_GET ? OpCode::FIELD_GET_NAMED : OpCode::FIELD_SET_NAMED;
    emit_with(named, add_string(field.text, loc), loc);
  }

  void emit_field_of(OpCode op, uint32_t cls, uint32_t index, SourceLoc loc) {
    emit_with(op, cls, loc);
    emit_u16(index);
  }

  // ITER_NEXT over the locals `seq` and `idx`: pushes seq[idx++], or jumps
  // to the returned patch position once done.
  size_t emit_iter_next(uint32_t seq, uint32_t idx, SourceLoc loc) {
    emit(OpCode::ITER_NEXT, loc);
    emit_u16(seq);
    emit_u16(idx);
    size_t exit = here();
    emit_u16(0xFFFF);
    adjust(1); // pushes the item when it does not jump
    return exit;
  }

  // Calls the function value below its `argc` arguments; `checked` when its
  // type was not known here (CALL_CHECKED checks the arguments).
  void emit_call_value(size_t argc, bool checked, SourceLoc loc) {
    emit(checked ? OpCode::CALL_CHECKED : OpCode::CALL_VALUE, loc);
    emit_byte(uint8_t(argc));
    adjust(-int(argc));
  }

  // Function `fn` as a value: the program's one constant for it.
  void emit_function(uint32_t fn, SourceLoc loc) {
    auto& statics = m_program.static_functions;
    if (statics.size() <= fn) statics.resize(fn + 1, nullptr);
    if (!statics[fn]) {
      statics[fn] = new FunctionObj(fn, 0);
      statics[fn]->is_static = true;
    }
    emit_constant(Value::object(Tag::Function, statics[fn]), loc);
  }

  // A function value of function `fn` and the `n` cells on the stack.
  void emit_closure(uint32_t fn, size_t n, SourceLoc loc) {
    emit_with(OpCode::CLOSURE, fn, loc);
    emit_byte(uint8_t(n));
    adjust(1 - int(n));
  }

  void emit_call(uint32_t fn, size_t argc, SourceLoc loc) {
    emit_with(OpCode::CALL, fn, loc);
    emit_byte(uint8_t(argc));
    adjust(1 - int(argc));
  }

  void compile_method(const Expr& e) {
    if (e.aux == kWatchOptions) { // its options slot = the `when` value (null: none given)
      const Expr& opts = *e.kids[1];
      const Expr* when = nullptr;
      for (size_t i = 0; i < opts.keys.size(); i++)
        if (opts.keys[i] == "when") when = opts.kids[i].get();
      if (when) compile_expr(*when);
      else emit(OpCode::PUSH_NULL, e.loc);
      emit_with(OpCode::SET_LOCAL, uint32_t(e.int_value), e.loc);
      emit(OpCode::PUSH_NULL, e.loc);
      return;
    }
    if (e.aux == kWatchNotify) {
      emit_with(OpCode::WATCH_NOTIFY, uint32_t(e.slot), e.loc);
      emit(OpCode::PUSH_NULL, e.loc);
      return;
    }
    if (e.aux >= kArrayCallback && e.aux < kArrayCallback + int(ArrayCallback::COUNT_)) {
      compile_array_callback(e, ArrayCallback(e.aux - kArrayCallback));
      return;
    }
    if (e.slot >= 0) { // user method: receiver is the first argument
      for (auto& k : e.kids) compile_expr(*k);
      emit_call(uint32_t(e.slot), e.kids.size(), e.loc);
      return;
    }
    auto id = BuiltinId(std::max(e.aux, 0));
    bool has_receiver = kBuiltins[size_t(id)].is_method();
    size_t first = has_receiver ? 0 : 1;
    for (size_t i = first; i < e.kids.size(); i++) compile_expr(*e.kids[i]);
    emit_builtin(id, e.kids.size() - first, e.loc);
  }

  // BUILTIN id argc, its `argc` arguments pushed.
  void emit_builtin(BuiltinId id, size_t argc, SourceLoc loc) {
    emit_with(OpCode::BUILTIN, uint32_t(id), loc);
    emit_byte(uint8_t(argc));
    adjust(1 - int(argc));
  }

  // xs.map(f) and the other array methods taking a function: a loop in the
  // calling function (so a callback may sleep, call out, throw or be
  // cancelled like any other code), over the hidden locals the checker gave
  // it from e.slot: the array, the function, the result so far, the index,
  // the item, and flat_map's inner array and index. An element the callback
  // adds is visited; find_last and find_last_index go from the end.
  void compile_array_callback(const Expr& e, ArrayCallback which) {
    using A = ArrayCallback;
    const uint32_t arr = uint32_t(e.slot), fn = arr + 1, acc = arr + 2, idx = arr + 3, item = arr + 4, inner = arr + 5;
    SourceLoc loc = e.loc;
    compile_expr(*e.kids[0]);
    emit_with(OpCode::SET_LOCAL, arr, loc);
    compile_expr(*e.kids[1]);
    emit_with(OpCode::SET_LOCAL, fn, loc);
    switch (which) {
    case A::Map: case A::Filter: case A::FlatMap:
      emit_with(OpCode::ARRAY, 0, loc);
      adjust(1);
      break;
    case A::Reduce: compile_expr(*e.kids[2]); break;
    case A::Some: emit(OpCode::PUSH_FALSE, loc); break;
    case A::Every: emit(OpCode::PUSH_TRUE, loc); break;
    default: emit(OpCode::PUSH_NULL, loc); break;
    }
    emit_with(OpCode::SET_LOCAL, acc, loc);
    auto call_with_item = [&] { // f(item), or f(acc, item) for reduce
      emit_with(OpCode::GET_LOCAL, fn, loc);
      if (which == A::Reduce) emit_with(OpCode::GET_LOCAL, acc, loc);
      emit_with(OpCode::GET_LOCAL, item, loc);
      emit_call_value(which == A::Reduce ? 2 : 1, e.int_value != 0, loc); // (int_value: a callback of unknown type)
    };
    auto push_to_acc = [&](uint32_t slot) { // acc.push(locals[slot])
      emit_with(OpCode::GET_LOCAL, acc, loc);
      emit_with(OpCode::GET_LOCAL, slot, loc);
      emit_with(OpCode::BUILTIN, uint32_t(BuiltinId::ARRAY_PUSH), loc);
      emit_byte(2);
      adjust(-1);
      emit(OpCode::POP, loc);
    };
    std::vector<size_t> done; // jumps out once the answer is known
    size_t start, exit;
    if (which == A::FindLast || which == A::FindLastIndex) {
      // idx = arr.length(); while (idx > 0) { idx -= 1; item = arr[idx]; ... }
      emit_with(OpCode::GET_LOCAL, arr, loc);
      emit_with(OpCode::BUILTIN, uint32_t(BuiltinId::ARRAY_LENGTH), loc);
      emit_byte(1);
      emit_with(OpCode::SET_LOCAL, idx, loc);
      start = here();
      emit_with(OpCode::GET_LOCAL, idx, loc);
      emit_constant(Value::integer(0), loc);
      exit = emit_jump(OpCode::JUMP_IF_NOT_GT, loc);
      emit_constant(Value::integer(1), loc);
      emit_with(OpCode::SUB_FROM_LOCAL, idx, loc);
      emit_with(OpCode::GET_LOCAL, arr, loc);
      emit_with(OpCode::GET_LOCAL, idx, loc);
      emit(OpCode::INDEX_GET, loc);
      emit_with(OpCode::SET_LOCAL, item, loc);
    } else {
      emit_constant(Value::integer(0), loc);
      emit_with(OpCode::SET_LOCAL, idx, loc);
      start = here();
      exit = emit_iter_next(arr, idx, loc);
      emit_with(OpCode::SET_LOCAL, item, loc);
    }
    call_with_item();
    switch (which) {
    case A::Map:
      emit_with(OpCode::SET_LOCAL, item, loc);
      push_to_acc(item);
      break;
    case A::Filter: {
      size_t skip = emit_jump(OpCode::JUMP_IF_FALSE, loc);
      push_to_acc(item);
      patch_jump(skip);
      break;
    }
    case A::FlatMap: {
      emit_with(OpCode::SET_LOCAL, inner, loc);
      emit_constant(Value::integer(0), loc);
      emit_with(OpCode::SET_LOCAL, inner + 1, loc);
      size_t inner_start = here();
      size_t inner_exit = emit_iter_next(inner, inner + 1, loc);
      emit_with(OpCode::SET_LOCAL, item, loc);
      push_to_acc(item);
      emit_loop(inner_start, loc);
      patch_jump(inner_exit);
      break;
    }
    case A::Reduce: emit_with(OpCode::SET_LOCAL, acc, loc); break;
    default: { // some, every, the finds: stop at the first match (for every, of the negation)
      if (which == A::Every) emit(OpCode::NOT, loc);
      size_t next = emit_jump(OpCode::JUMP_IF_FALSE, loc);
      if (which == A::Some || which == A::Every) {
        emit(which == A::Some ? OpCode::PUSH_TRUE : OpCode::PUSH_FALSE, loc);
      } else if (which == A::Find || which == A::FindLast) {
        emit_with(OpCode::GET_LOCAL, item, loc);
      } else if (which == A::FindIndex) { // (ITER_NEXT has moved idx past the item)
        emit_with(OpCode::GET_LOCAL, idx, loc);
        emit_constant(Value::integer(1), loc);
        emit(OpCode::SUB, loc);
      } else {
        emit_with(OpCode::GET_LOCAL, idx, loc);
      }
      emit_with(OpCode::SET_LOCAL, acc, loc);
      done.push_back(emit_jump(OpCode::JUMP, loc));
      patch_jump(next);
      break;
    }
    }
    emit_loop(start, loc);
    patch_jump(exit);
    for (size_t at : done) patch_jump(at);
    emit_with(OpCode::GET_LOCAL, acc, loc);
  }

  void compile_class_lit(const Expr& e) {
    if (e.slot < 0) {
      emit(OpCode::PUSH_NULL, e.loc);
      return;
    }
    const ClassInfo& cls = m_program.classes[size_t(e.slot)];
    if (e.aux >= 0) {
      compile_class_lit_with_spreads(e, cls);
      return;
    }
    std::vector<const Expr*> values(cls.field_names.size(), nullptr);
    for (size_t i = 0; i < e.keys.size(); i++) {
      int64_t f = cls.find_field(e.keys[i]);
      if (f >= 0) values[size_t(f)] = e.kids[i].get();
    }
    for (const Expr* value : values) {
      if (value) compile_expr(*value);
      else emit(OpCode::PUSH_NULL, e.loc);
    }
    emit_with(OpCode::INSTANCE, uint32_t(e.slot), e.loc);
    emit_u16(uint32_t(cls.field_names.size()));
    adjust(1 - int(cls.field_names.size()));
  }

  // `C { a: 1, ...base, b: 2 }`: the entries in their written order, each
  // overwriting what came before, into an instance made with every field
  // null (in the hidden local e.aux; a spread's value in e.aux + 1).
  void compile_class_lit_with_spreads(const Expr& e, const ClassInfo& cls) {
    uint32_t built = uint32_t(e.aux), spread = built + 1;
    for (size_t f = 0; f < cls.field_names.size(); f++) emit(OpCode::PUSH_NULL, e.loc);
    emit_with(OpCode::INSTANCE, uint32_t(e.slot), e.loc);
    emit_u16(uint32_t(cls.field_names.size()));
    adjust(1 - int(cls.field_names.size()));
    emit_with(OpCode::SET_LOCAL, built, e.loc);
    for (size_t i = 0; i < e.keys.size(); i++) {
      const Expr& value = *e.kids[i];
      if (e.keys[i] == "...") {
        compile_expr(value);
        emit_with(OpCode::SET_LOCAL, spread, value.loc);
        for (size_t f = 0; f < cls.field_names.size(); f++) {
          emit_with(OpCode::GET_LOCAL, built, value.loc);
          emit_with(OpCode::GET_LOCAL, spread, value.loc);
          emit_field_of(OpCode::FIELD_GET, uint32_t(e.slot), uint32_t(f), value.loc);
          emit_field_of(OpCode::FIELD_SET, uint32_t(e.slot), uint32_t(f), value.loc);
        }
        continue;
      }
      int64_t f = cls.find_field(e.keys[i]);
      if (f < 0) continue; // (reported by the checker)
      emit_with(OpCode::GET_LOCAL, built, value.loc);
      compile_expr(value);
      emit_field_of(OpCode::FIELD_SET, uint32_t(e.slot), uint32_t(f), value.loc);
    }
    emit_with(OpCode::GET_LOCAL, built, e.loc);
  }

  // Pushes whether the scrutinee in `slot` matches `p` (bindings not yet set).
  void compile_pattern_test(const Pattern& p, int slot) {
    switch (p.kind) {
    case PatternKind::Wildcard:
    case PatternKind::Binding: emit(OpCode::PUSH_TRUE, p.loc); break;
    case PatternKind::Literal:
      emit_load(slot, p.loc);
      compile_expr(*p.literal);
      emit(OpCode::EQ, p.loc);
      break;
    case PatternKind::EnumValue:
      emit_load(slot, p.loc);
      if (p.literal) compile_expr(*p.literal);
      else emit(OpCode::PUSH_NULL, p.loc);
      emit(OpCode::EQ, p.loc);
      break;
    case PatternKind::Type:
      emit_load(slot, p.loc);
      if (p.type_id > 65535) m_diags.error(p.loc, "too many distinct types in the program (a type pattern needs a type numbered below 65536)");
      emit_with(OpCode::TYPE_TEST, uint32_t(std::max(p.type_id, 0)), p.loc);
      break;
    case PatternKind::Or: {
      std::vector<size_t> done;
      for (size_t i = 0; i < p.alternatives.size(); i++) {
        compile_pattern_test(*p.alternatives[i], slot);
        if (i + 1 < p.alternatives.size()) done.push_back(emit_jump(OpCode::JUMP_IF_TRUE_OR_POP, p.loc));
      }
      for (size_t d : done) patch_jump(d);
      break;
    }
    }
  }

  // guarded catch (e) { arms }: TRY; guarded; END_TRY; JUMP end; handler:
  // the thrown value in e's slot, the arms as a match's; none matching
  // throws it on (to an outer catch, chained or enclosing).
  void compile_catch(const Expr& e) {
    size_t handler = emit_jump(OpCode::TRY, e.loc);
    m_tries++;
    compile_expr(*e.kids[0]);
    m_tries--;
    emit(OpCode::END_TRY, e.loc);
    size_t end = emit_jump(OpCode::JUMP, e.loc);
    patch_jump(handler); // the VM cut the stack back and pushed the thrown value: the same depth
    emit_define(e.slot, e.loc);
    compile_arms(e, end, [&] {
      emit_load(e.slot, e.loc);
      emit(OpCode::THROW, e.loc);
      adjust(1); // (as if it left a value, like the arms)
    });
  }

  void compile_match(const Expr& e) {
    compile_expr(*e.kids[0]);
    emit_with(OpCode::SET_LOCAL, uint32_t(e.slot), e.loc);
    compile_arms(e, SIZE_MAX, [&] {
      emit_string("no match arm matched the value", e.loc);
      emit_with(OpCode::BUILTIN, uint32_t(BuiltinId::SYS_PANIC), e.loc);
      emit_byte(1);
    });
  }

  // The arms of a match or catch whose value is in e.slot: each leaves its
  // body's value and jumps to the end; `none` runs when no arm matched (it
  // must not return). `end` (or SIZE_MAX) is a jump to patch at the end too.
  template <typename None> void compile_arms(const Expr& e, size_t end, None none) {
    std::vector<size_t> ends;
    if (end != SIZE_MAX) ends.push_back(end);
    for (auto& arm : e.arms) {
      compile_pattern_test(*arm.pattern, e.slot);
      size_t next = emit_jump(OpCode::JUMP_IF_FALSE, arm.loc);
      if (arm.pattern->slot >= 0) {
        emit_load(e.slot, arm.loc);
        emit_define(arm.pattern->slot, arm.loc);
      }
      size_t guard_fail = SIZE_MAX;
      if (arm.guard) {
        compile_expr(*arm.guard);
        guard_fail = emit_jump(OpCode::JUMP_IF_FALSE, arm.loc);
      }
      compile_expr(*arm.body);
      ends.push_back(emit_jump(OpCode::JUMP, arm.loc));
      adjust(-1);
      patch_jump(next);
      if (guard_fail != SIZE_MAX) patch_jump(guard_fail);
    }
    none();
    for (size_t at : ends) patch_jump(at);
  }

  CompiledProgram& m_program;
  Diagnostics& m_diags;
  FunctionInfo* m_fn = nullptr;
  int m_depth = 0;
  int m_max_depth = 0;
  uint32_t m_line = 0;
  std::vector<LoopContext> m_loops;
  int m_tries = 0; // TRYs open (guarded code being compiled)
  std::vector<bool> m_cells;                       // per local: holds a cell (FunctionInfo::cell_slots)
  std::map<int, int> m_watched_slots;           // the function's `watch let` variables -> their options slots
  std::vector<std::vector<size_t>> m_watch_scopes; // per open block: its WATCH lengths to patch
  // The current chunk's non-string constants by (tag, payload bits).
  std::map<std::pair<uint8_t, int64_t>, size_t> m_constant_index;
  bool m_too_many_constants = false; // reported once per function
};

} // namespace

namespace {
// Whether `name` is one identifier token (not a keyword, no other text).
bool is_identifier(const std::string& name) {
  if (!is_valid_utf8(name)) return false;
  Diagnostics ignored("");
  std::vector<Token> tokens = tokenize(name, ignored);
  return ignored.empty() && tokens.size() == 2 && tokens[0].kind == TokenKind::Identifier &&
         tokens[0].lexeme.size() == name.size();
}
} // namespace

std::shared_ptr<CompiledProgram> compile_program(std::string_view source, std::string file,
                                                 const std::vector<HostDeclaration>& host) {
  auto program = std::make_shared<CompiledProgram>(std::move(file));
  Diagnostics& diags = program->diagnostics;
  if (source.size() > kMaxSourceBytes) {
    diags.error(SourceLoc{1, 1}, "source is " + std::to_string(source.size()) + " bytes, more than the maximum of " +
                                     std::to_string(kMaxSourceBytes) + " (16 MiB)");
    return program;
  }
  if (!is_valid_utf8(source)) {
    diags.error(SourceLoc{1, 1}, "source is not valid UTF-8");
    return program;
  }
  Program ast = parse_program(source, diags);
  for (const HostDeclaration& h : host) {
    HostDecl decl;
    decl.name = h.name;
    decl.signature = h.signature;
    decl.file = "<host function " + h.name + ">";
    if (!is_identifier(h.name)) {
      diags.error_in(decl.file, SourceLoc{1, 1}, "host function name '" + h.name + "' is not an identifier");
    } else if (!is_valid_utf8(h.signature)) {
      diags.error_in(decl.file, SourceLoc{1, 1}, "the signature is not valid UTF-8");
    } else {
      Diagnostics sig_diags(decl.file);
      HostSignature sig = parse_host_signature(h.signature, sig_diags);
      for (const Diagnostic& d : sig_diags.items()) diags.error_in(d.file, d.loc, d.message);
      if (sig_diags.empty()) {
        decl.params = std::move(sig.params);
        decl.return_type = std::move(sig.return_type);
      }
    }
    ast.host_functions.push_back(std::move(decl));
  }
  if (ast.functions.empty() && ast.classes.empty() && ast.enums.empty() && diags.empty())
    diags.error(SourceLoc{1, 1}, "source declares no functions");
  if (!diags.empty()) return program; // type errors on a broken tree only add noise
  lang::check_program(ast, *program);
  if (!diags.empty()) return program;
  Compiler compiler(*program, diags);
  for (size_t i = 0; i < ast.functions.size(); i++) compiler.compile_function(ast.functions[i], program->functions[i]);
  size_t next = ast.functions.size();
  for (auto& cls : ast.classes)
    for (auto& m : cls.methods) compiler.compile_function(m, program->functions[next++]);
  for (const Expr* lambda : ast.lambdas) compiler.compile_lambda(*lambda, program->functions[next++]);
  return program;
}

} // namespace brake::vm
