// parser.h: source text -> Program (syntax only; types are the checker's).
#pragma once

#include <string_view>

#include "ast.h"
#include "diagnostics.h"

namespace brake::lang {

// Parses a whole file. Reports every syntax error it can find into `diags`
// (recovering at statement and declaration boundaries) and returns what it
// could build. The source must already be valid UTF-8.
Program parse_program(std::string_view source, Diagnostics& diags);

// A host function's signature, `(id: int, tags: string[]) -> User?`: its
// parameters and return type (null after a syntax error, reported).
struct HostSignature {
  std::vector<Param> params;
  TypeExprPtr return_type;
};
HostSignature parse_host_signature(std::string_view signature, Diagnostics& diags);

} // namespace brake::lang
