// checker.h: name resolution and static types.
//
// Fills the program's declarations (functions, classes, enums) and
// annotates the AST (types, local slots, resolved calls and builtins) for
// the compiler. Every error found is reported; the checker recovers by
// giving the offending expression the type Any.
#pragma once

#include "lang/ast.h"
#include "vm/chunk.h"

namespace brake::lang {

void check_program(Program& ast, vm::CompiledProgram& out);

} // namespace brake::lang
