// template_regex.h: the regular expressions of the regex_match filter. A
// small engine of our own: a pattern compiles to an NFA program run as a
// Pike VM (every thread in lock step), so a search takes time linear in
// the text times the pattern, whatever the pattern (no backtracking, no
// native recursion), and looks at the call's cancel state as it goes.
//
// Syntax (Rust regex's common subset): literals, `.`, `[...]` and `[^...]`
// with ranges and \d \w \s inside, \d \D \w \W \s \S (ASCII), \b \B, `^`
// `$` \A \z, groups `(...)` `(?:...)`, `|`, `*` `+` `?` `{n}` `{n,}`
// `{n,m}` (lazy `?` accepted), flags (?i) (?s) (?m) for the whole pattern,
// escapes \n \t \r \f \v \xHH \x{H...} \u{H...} and any escaped punctuation.
// Matching is by code point (text is UTF-8); case folding is ASCII.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vm/value.h"

namespace brake::llm::tmpl {

class Regex {
public:
  // Compiles `pattern`; false with `error` on bad syntax or a pattern that
  // compiles to more than kMaxProgram instructions.
  bool compile(std::string_view pattern, std::string& error);
  // Whether the pattern matches anywhere in `text` (Rust's is_match).
  bool search(std::string_view text, vm::CancelCheck& cc) const;

  static constexpr size_t kMaxProgram = 20000;

  enum class Op : uint8_t { Char, Any, AnyNoNewline, Class, Split, Jmp, Match, Begin, End, LineBegin, LineEnd, WordB, NotWordB };
  struct Inst {
    Op op;
    uint32_t x = 0, y = 0; // Char: code point in x; Class: index in x; Split: x, y; Jmp: x
  };
  struct Range {
    uint32_t lo, hi;
  };

private:
  friend class RegexCompiler;
  std::vector<Inst> m_prog;
  struct Class {
    std::vector<Range> ranges; // sorted, merged
    bool negated = false;
  };
  std::vector<Class> m_classes;
  bool m_icase = false;
  bool m_dotall = false;
  bool m_multiline = false;
};

} // namespace brake::llm::tmpl
