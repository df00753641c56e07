// diagnostics.h: compile errors with file, line and column. Every stage
// appends to one Diagnostics list and keeps going, so a file's errors are
// all reported, not just the first.
#pragma once

#include <string>
#include <vector>

#include "ast.h"

namespace brake::lang {

struct Diagnostic {
  std::string file;
  SourceLoc loc;
  std::string message;
};

class Diagnostics {
public:
  explicit Diagnostics(std::string file) : m_file(std::move(file)) {}

  void error(SourceLoc loc, std::string message) {
    m_items.push_back(Diagnostic{m_file, loc, std::move(message)});
  }
  // An error in another text than the file (a host function's signature).
  void error_in(std::string file, SourceLoc loc, std::string message) {
    m_items.push_back(Diagnostic{std::move(file), loc, std::move(message)});
  }
  bool empty() const { return m_items.empty(); }
  size_t size() const { return m_items.size(); }
  const std::vector<Diagnostic>& items() const { return m_items; }
  const std::string& file() const { return m_file; }

private:
  std::string m_file;
  std::vector<Diagnostic> m_items;
};

} // namespace brake::lang
