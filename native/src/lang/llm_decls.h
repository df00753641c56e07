// llm_decls.h: the checker of client<llm> and retry_policy declarations
// (lang/llm_decls.cpp); fills CompiledProgram::clients and ::retry_policies.
#pragma once

#include "lang/ast.h"
#include "vm/chunk.h"

namespace brake::lang {

void check_llm_declarations(const Program& ast, vm::CompiledProgram& out);

} // namespace brake::lang
