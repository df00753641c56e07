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
    m_fn = &fn;
    m_depth = 0;
    m_max_depth = 0;
    m_loops.clear();
    m_tries = 0;
    m_watched_slots.clear();
    m_watch_scopes.clear();
    m_constant_index.clear();
    m_too_many_constants = false;
    m_line = 0;
    if (fn.llm >= 0) {
      // The arguments, as they are, to the runtime (which runs the client).
      for (size_t i = 0; i < decl.params.size(); i++) emit_with(OpCode::GET_LOCAL, uint32_t(i), decl.loc);
      emit_with(OpCode::CALL_LLM, uint32_t(fn.llm), decl.loc);
      emit_byte(uint8_t(decl.params.size()));
      adjust(1 - int(decl.params.size()));
    } else {
      compile_block(*decl.body);
    }
    emit(OpCode::RETURN, decl.body->loc);
    if (m_max_depth > 65535) m_diags.error(decl.loc, "function '" + decl.name + "' is too large");
    fn.max_stack = uint16_t(std::min(m_max_depth, 65535)); // exact: the ASan suites fail if one short
  }

private:
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
      emit_with(OpCode::SET_LOCAL, uint32_t(s.slot), s.loc);
      if (s.watched) {
        m_watched_slots.insert(s.slot); // (slots are never reused in a function)
        emit_with(OpCode::WATCH, uint32_t(s.slot), s.loc);
        emit_u16(add_string(s.text, s.loc));
        m_watch_scopes.back().push_back(here());
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
      emit(OpCode::ITER_NEXT, s.loc);
      emit_u16(uint32_t(seq));
      emit_u16(uint32_t(idx));
      size_t exit = here();
      emit_u16(0xFFFF);
      adjust(1); // pushes the item when it does not jump
      emit_with(OpCode::SET_LOCAL, uint32_t(s.slot), s.loc);
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
      if (m_watched_slots.count(target.slot)) { // reported when it changes
        if (compound) emit_with(OpCode::GET_LOCAL, uint32_t(target.slot), target.loc);
        compile_expr(*e.kids[1]);
        if (compound) emit(arith_op(e.op), e.loc);
        emit_with(OpCode::WATCH_SET, uint32_t(target.slot), e.loc);
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
    case ExprKind::Ident: emit_with(OpCode::GET_LOCAL, uint32_t(std::max(e.slot, 0)), e.loc); break;
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
  void emit_field(OpCode op, const Expr& field, SourceLoc loc) {
    if (field.aux >= 0) {
      emit_with(op, uint32_t(field.aux), loc);
      return;
    }
    OpCode named = op == OpCode::FIELD_GET ? OpCode::FIELD_GET_NAMED : OpCode::FIELD_SET_NAMED;
    emit_with(named, add_string(field.text, loc), loc);
  }

  void emit_call(uint32_t fn, size_t argc, SourceLoc loc) {
    emit_with(OpCode::CALL, fn, loc);
    emit_byte(uint8_t(argc));
    adjust(1 - int(argc));
  }

  void compile_method(const Expr& e) {
    if (e.slot >= 0) { // user method: receiver is the first argument
      for (auto& k : e.kids) compile_expr(*k);
      emit_call(uint32_t(e.slot), e.kids.size(), e.loc);
      return;
    }
    auto id = BuiltinId(std::max(e.aux, 0));
    bool has_receiver = kBuiltins[size_t(id)].is_method();
    size_t first = has_receiver ? 0 : 1;
    for (size_t i = first; i < e.kids.size(); i++) compile_expr(*e.kids[i]);
    size_t argc = e.kids.size() - first;
    emit_with(OpCode::BUILTIN, uint32_t(id), e.loc);
    emit_byte(uint8_t(argc));
    adjust(1 - int(argc));
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
          emit_with(OpCode::FIELD_GET, uint32_t(f), value.loc);
          emit_with(OpCode::FIELD_SET, uint32_t(f), value.loc);
        }
        continue;
      }
      int64_t f = cls.find_field(e.keys[i]);
      if (f < 0) continue; // (reported by the checker)
      emit_with(OpCode::GET_LOCAL, built, value.loc);
      compile_expr(value);
      emit_with(OpCode::FIELD_SET, uint32_t(f), value.loc);
    }
    emit_with(OpCode::GET_LOCAL, built, e.loc);
  }

  // Pushes whether the scrutinee in `slot` matches `p` (bindings not yet set).
  void compile_pattern_test(const Pattern& p, int slot) {
    switch (p.kind) {
    case PatternKind::Wildcard:
    case PatternKind::Binding: emit(OpCode::PUSH_TRUE, p.loc); break;
    case PatternKind::Literal:
      emit_with(OpCode::GET_LOCAL, uint32_t(slot), p.loc);
      compile_expr(*p.literal);
      emit(OpCode::EQ, p.loc);
      break;
    case PatternKind::EnumValue:
      emit_with(OpCode::GET_LOCAL, uint32_t(slot), p.loc);
      if (p.literal) compile_expr(*p.literal);
      else emit(OpCode::PUSH_NULL, p.loc);
      emit(OpCode::EQ, p.loc);
      break;
    case PatternKind::Type:
      emit_with(OpCode::GET_LOCAL, uint32_t(slot), p.loc);
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
    emit_with(OpCode::SET_LOCAL, uint32_t(e.slot), e.loc);
    compile_arms(e, end, [&] {
      emit_with(OpCode::GET_LOCAL, uint32_t(e.slot), e.loc);
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
        emit_with(OpCode::GET_LOCAL, uint32_t(e.slot), arm.loc);
        emit_with(OpCode::SET_LOCAL, uint32_t(arm.pattern->slot), arm.loc);
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
  std::set<int> m_watched_slots;                // the function's `watch let` variables
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
  return program;
}

} // namespace brake::vm
